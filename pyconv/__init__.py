"""pyconv: PyTorch's convolutions on NumPy arrays, exactly, fast, without PyTorch.

Public names
------------
conv1d, conv2d, conv3d
    ``torch.nn.functional.conv1d`` / ``conv2d`` / ``conv3d`` on NumPy arrays.
conv_transpose1d, conv_transpose2d, conv_transpose3d
    ``torch.nn.functional.conv_transpose1d`` / ``2d`` / ``3d``.
grad
    ``torch.nn.grad``: ``conv{1,2,3}d_input``, ``conv{1,2,3}d_weight``, and
    ``conv_bias_grad``.
Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
    The ``torch.nn`` layers, with torch's init, checks, ``repr`` and state dict.
OPERATIONS
    The operations' names, as backends declare them.
pad
    ``torch.nn.functional.pad`` (constant, reflect, replicate, circular).
max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d, max_pool1d, avg_pool1d
    ``torch.nn.functional``'s pooling (compiled kernels, torch's results and errors).
MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, ..., ReLU, Flatten, Linear, BatchNorm2d, Sequential
    The ``torch.nn`` layers needed to run a trained CNN (inference), also in ``pyconv.nn``.
fold_batchnorm, fuse_conv_bn_eval
    Fold a batch norm's statistics into the convolution before it.
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
export
    ``save_state_dict`` (a torch model's weights to ``.npz`` / ``.safetensors``, no
    pickle) and ``load_state_dict``.
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
    export,
    grad,
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
from ._validation import OPERATIONS, ConvSpec
from ._version import __version__
from .fold import fold_batchnorm, fuse_conv_bn_eval
from .functional import (
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
)
from .nn import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    Flatten,
    Identity,
    Linear,
    MaxPool1d,
    MaxPool2d,
    Module,
    ReLU,
    Sequential,
)
from .padding import pad
from .pooling import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)

_apply_isa()

__all__ = [
    "OPERATIONS",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "BackendInfo",
    "BackendUnavailableError",
    "BackendWarning",
    "BatchNorm2d",
    "Capabilities",
    "ConfigWarning",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvSpec",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "Flatten",
    "Identity",
    "Linear",
    "MaxPool1d",
    "MaxPool2d",
    "Module",
    "ReLU",
    "Sequential",
    "UnsupportedCallError",
    "__version__",
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "backends",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "examples",
    "export",
    "fold_batchnorm",
    "fuse_conv_bn_eval",
    "get_num_threads",
    "grad",
    "max_pool1d",
    "max_pool2d",
    "pad",
    "refresh_backends",
    "set_backend",
    "set_num_threads",
    "show_config",
    "use_backend",
]
