"""The shape zoo of reference/perf-anchors.md section 3, shared by the benchmarks.

It lives in the package (``pyconv._bench.zoo``) so that ``pyconv bench`` works from an
installed pyconv; this module re-exports it for the scripts in ``benchmarks/``.

``ZOO`` entry: name -> (input shape, weight shape, stride, padding, dilation, groups,
dtype); ``FAMILY``: the other operations' cases; ``NAMES``: both; ``make_call(name)`` gives
any case's ``(op, args, kwargs)``.
"""

from __future__ import annotations

from pyconv._bench.zoo import (
    FAMILY,
    NAMES,
    WITH_BIAS,
    ZOO,
    describe,
    flops,
    make_call,
    make_case,
)

__all__ = ["FAMILY", "NAMES", "WITH_BIAS", "ZOO", "describe", "flops", "make_call", "make_case"]
