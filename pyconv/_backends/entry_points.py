"""Light specs of pyconv's own backends, named by its ``pyconv.backends`` entry points.

This module imports nothing: listing backends must stay cheap (no torch import).
"""

API_VERSION = 1

# The operations of the family (pyconv.OPERATIONS), written out: this module imports nothing.
_FORWARD = ["conv1d", "conv2d", "conv3d"]
_TRANSPOSED = ["conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
_INPUT_GRAD = ["conv1d_input", "conv2d_input", "conv3d_input"]
_WEIGHT_GRAD = ["conv1d_weight", "conv2d_weight", "conv3d_weight"]
ALL_OPERATIONS = _FORWARD + _TRANSPOSED + _INPUT_GRAD + _WEIGHT_GRAD

CYTHON = {
    "name": "cython",
    "api_version": API_VERSION,
    "description": "compiled direct convolution (Cython + OpenMP, AVX-512/AVX2/portable kernels)",
    "implementation": "pyconv._backends.cython:CythonBackend",
    "requires": [],
    "install_hint": "reinstall pyconv with a C compiler available",
    "capabilities": {
        # every operation: the weight gradients on _core.conv_weight_grad (tests/
        # test_registry.py checks that this list and pyconv._backends.cython.HAS_WEIGHT_GRAD,
        # whether the compiled core has that kernel, agree)
        "operations": ALL_OPERATIONS,
        "dtypes": ["float32", "float64"],
        "devices": ["cpu"],
        "accuracy": "elementwise",
        "deterministic": True,
    },
}

NUMPY = {
    "name": "numpy",
    "api_version": API_VERSION,
    "description": "the reference: NumPy, float64 accumulation, written for clarity",
    "implementation": "pyconv._backends.numpy:NumpyBackend",
    "requires": [],
    "install_hint": "",
    "capabilities": {
        "operations": ALL_OPERATIONS,
        "dtypes": ["float32", "float64"],
        "devices": ["cpu"],
        "accuracy": "elementwise",
        "deterministic": True,
    },
}

TORCH = {
    "name": "torch",
    "api_version": API_VERSION,
    "description": "delegates to torch.nn.functional and torch.nn.grad (CPU or CUDA)",
    "implementation": "pyconv._backends.torch:TorchBackend",
    "requires": ["torch"],
    "install_hint": "pip install 'pyconv[torch]'",
    "capabilities": {
        "operations": ALL_OPERATIONS,
        "dtypes": ["float32", "float64"],
        "devices": ["cpu", "cuda"],
        "accuracy": "elementwise",
        # oneDNN does not promise identical results across thread counts
        "deterministic": False,
    },
}

WINOGRAD = {
    "name": "winograd",
    "api_version": API_VERSION,
    "description": (
        "compiled Winograd F(4x4, 3x3) / F(2x2, 3x3) for 3x3 stride-1 layers; options "
        "tile=4|2, fallback='direct'"
    ),
    "implementation": "pyconv._backends.winograd:WinogradBackend",
    "requires": [],
    "install_hint": "reinstall pyconv with a C compiler available",
    "capabilities": {
        "dtypes": ["float32", "float64"],
        "devices": ["cpu"],
        "stride": False,
        "dilation": False,
        # the transforms' rounding is bounded relative to max(A), not element by element
        # (docs/performance.md, "Winograd"); the constant of the default tile, F(4x4, 3x3)
        "accuracy": "normwise",
        "accuracy_c": 16.0,
        "deterministic": True,
    },
}

SPECS = {"cython": CYTHON, "numpy": NUMPY, "torch": TORCH, "winograd": WINOGRAD}
