"""pyconv: PyTorch's conv2d on NumPy arrays, exactly, fast, without PyTorch.

Public names
------------
conv2d
    ``torch.nn.functional.conv2d`` on NumPy arrays.
Conv2d
    ``torch.nn.Conv2d``: the layer, with torch's init, checks, ``repr`` and state dict.
pad
    ``torch.nn.functional.pad`` (constant, reflect, replicate, circular).
backends, use_backend, set_backend, refresh_backends
    The backend registry (entry-point group ``pyconv.backends``).
set_num_threads, get_num_threads
    Threads used by the compiled kernels (default: ``PYCONV_NUM_THREADS``, else
    ``OMP_NUM_THREADS``, else the cores available to the process).
show_config
    Version, build flags, OpenMP, threads and backends, and any environment variable whose
    value was ignored.
ConfigWarning
    Warned (once) at import for an environment variable with a value pyconv cannot use.

Submodules
----------
image
    Not imported by ``import pyconv`` (``import pyconv.image``): ``to_pil_image``
    (torchvision's exact semantics), ``save_image`` (safe scaling) and ``make_grid``
    (feature-map grids).  Needs Pillow: ``pip install 'pyconv[image]'``.
cli
    The ``pyconv`` command line (``pyconv demo``, ``pyconv show-config``; also
    ``python -m pyconv``).

Examples
--------
    The arrays of the article pyconv started from.
"""

from . import (
    _check_build,  # noqa: F401  (first: a clear error for an unbuilt tree)
    examples,
)
from ._config import show_config
from ._environment import ConfigWarning
from ._environment import apply_isa as _apply_isa
from ._registry import (
    BackendInfo,
    BackendUnavailableError,
    BackendWarning,
    Capabilities,
    UnsupportedCallError,
    backends,
    refresh_backends,
    set_backend,
    use_backend,
)
from ._threads import get_num_threads, set_num_threads
from ._validation import ConvSpec
from ._version import __version__
from .functional import conv2d
from .nn import Conv2d
from .padding import pad

_apply_isa()

__all__ = [
    "BackendInfo",
    "BackendUnavailableError",
    "BackendWarning",
    "Capabilities",
    "ConfigWarning",
    "Conv2d",
    "ConvSpec",
    "UnsupportedCallError",
    "__version__",
    "backends",
    "conv2d",
    "examples",
    "get_num_threads",
    "pad",
    "refresh_backends",
    "set_backend",
    "set_num_threads",
    "show_config",
    "use_backend",
]
