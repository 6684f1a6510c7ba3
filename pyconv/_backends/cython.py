"""The ``cython`` backend: pyconv's compiled direct-convolution kernels (float32, float64)."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._validation import ConvSpec

__all__ = ["CythonBackend", "conv2d"]


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: ConvSpec) -> np.ndarray:
    """Convolve with the compiled kernels; see :func:`pyconv.conv2d` for the semantics.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W), any strides
    w : ndarray, shape (C_out, C_in / groups, kH, kW), any strides
    b : ndarray, shape (C_out,), C-contiguous, or None
    spec : ConvSpec

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out), C-contiguous, dtype ``spec.dtype``
    """
    return _core.conv_forward(x, w, b, spec.stride, spec.padding, spec.dilation, spec.groups)


class CythonBackend:
    """The backend object the registry loads for ``'cython'`` (no options)."""

    name = "cython"
    capabilities = None  # filled from the entry point's spec by the registry

    def supports(self, spec: ConvSpec) -> bool:
        """Every call pyconv validates runs here."""
        return True

    conv2d = staticmethod(conv2d)
    #: validation and the kernels in one compiled call (None when the arguments need the
    #: full front end); see ``pyconv._registry.fast_path`` and ``_core.conv2d_fast``.
    _fast_conv2d = staticmethod(_core.conv2d_fast)
