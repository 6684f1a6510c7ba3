"""The light spec that the ``pyconv.backends`` entry point ``fft`` names.

pyconv reads this dict to list the backend and its capabilities without importing NumPy
or SciPy; it imports :mod:`pyconv_fft.backend` only when the backend is first selected.
This module must therefore import nothing.
"""

SPEC = {
    "name": "fft",
    "api_version": 1,
    "description": (
        "FFT overlap-save convolution (scipy.fft); wins on large kernels, norm-wise accurate"
    ),
    "implementation": "pyconv_fft.backend:FFTBackend",
    "requires": ["numpy", "scipy"],
    "install_hint": "pip install pyconv-fft (it depends on numpy and scipy)",
    "capabilities": {
        # conv2d only: the transposed convolutions and the gradients of pyconv's family are
        # not implemented here (selecting 'fft' for them is an error that says so).
        "operations": ["conv2d"],
        "dtypes": ["float32", "float64"],
        "stride": True,
        "dilation": True,
        "groups": True,
        "padding": ["none", "symmetric", "asymmetric"],
        "devices": ["cpu"],
        # Transform rounding errors spread over a whole tile, so small outputs next to
        # large ones are not accurate elementwise; the bound holds relative to the
        # largest |output| magnitude A.  c is measured (README, "Accuracy").
        "accuracy": "normwise",
        "accuracy_c": 5.0,
        # Not across thread counts: the channel sums are complex matrix products in
        # NumPy's BLAS, and OpenBLAS with 2 threads rounds differently from 1 thread (the
        # last bits of multi-channel calls).  scipy.fft's workers do not change results,
        # and repeated calls with the same thread settings are bitwise identical.
        "deterministic": False,
    },
}
