"""``pyconv bench``: PyTorch and pyconv's backends timed side by side on the shape zoo.

Modules: :mod:`.zoo` (the shapes), :mod:`.machine` (threads, external load, the machine's
description), :mod:`.runner` (the measurement, :func:`run_bench`), :mod:`.report` (the
table, the progress bar) and :mod:`.command` (the command once its arguments are parsed).
"""

from .runner import Bench, Result, Row, Settings, run_bench
from .zoo import FAMILY, NAMES, ZOO, flops, make_call, make_case

__all__ = [
    "FAMILY",
    "NAMES",
    "ZOO",
    "Bench",
    "Result",
    "Row",
    "Settings",
    "flops",
    "make_call",
    "make_case",
    "run_bench",
]
