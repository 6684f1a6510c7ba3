"""Light specs of pyconv's own backends, named by its ``pyconv.backends`` entry points.

This module imports nothing: listing backends must stay cheap (no torch import).
"""

API_VERSION = 1

CYTHON = {
    "name": "cython",
    "api_version": API_VERSION,
    "description": "compiled direct convolution (Cython + OpenMP, AVX-512/AVX2/portable kernels)",
    "implementation": "pyconv._backends.cython:CythonBackend",
    "requires": [],
    "install_hint": "reinstall pyconv with a C compiler available",
    "capabilities": {
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
        "dtypes": ["float32", "float64"],
        "devices": ["cpu"],
        "accuracy": "elementwise",
        "deterministic": True,
    },
}

TORCH = {
    "name": "torch",
    "api_version": API_VERSION,
    "description": "delegates to torch.nn.functional.conv2d (CPU or CUDA)",
    "implementation": "pyconv._backends.torch:TorchBackend",
    "requires": ["torch"],
    "install_hint": "pip install 'pyconv[torch]'",
    "capabilities": {
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
