"""pyconv-fft: an FFT (overlap-save) backend for :func:`pyconv.conv2d`.

Install it and select it by name; pyconv finds it through the ``pyconv.backends``
entry point, so nothing needs to be imported by hand::

    import pyconv

    y = pyconv.conv2d(x, w, padding="same", backend="fft")
    with pyconv.use_backend("fft", workers=2):
        y = pyconv.conv2d(x, w)

This package module imports nothing heavy: the implementation (NumPy, SciPy) lives in
:mod:`pyconv_fft.backend` and is imported when the backend is first selected.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
