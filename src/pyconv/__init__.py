"""pyconv: PyTorch's conv2d on NumPy arrays, exactly, fast, without PyTorch.

Public names
------------
conv2d
    ``torch.nn.functional.conv2d`` on NumPy arrays.
set_num_threads, get_num_threads
    Threads used by the compiled kernels (default: ``PYCONV_NUM_THREADS`` or the cores
    available to the process).
show_config
    Version, build flags, OpenMP, threads and backends.

Examples
--------
    The arrays of the article pyconv started from.
"""

from . import examples
from ._config import show_config
from ._threads import get_num_threads, set_num_threads
from ._version import __version__
from .functional import conv2d

__all__ = [
    "__version__",
    "conv2d",
    "examples",
    "get_num_threads",
    "set_num_threads",
    "show_config",
]
