"""The ``numpy`` backend: a reference conv2d written for clarity, not speed.

It is the ground truth that the tests and the conformance suite compare the other
backends with.  Every product is accumulated in float64 and the result is rounded once to
the input's dtype, so for float32 it is at least as accurate as any float32 kernel.

How it works: pad the input, then for each kernel tap (i, j) take the strided view of the
input pixels that this tap meets for every output position, and add
``weight[:, :, i, j] @ pixels`` (a matrix product over the input channels of each group)
to the output.
"""

from __future__ import annotations

import numpy as np

from .._validation import ConvSpec

__all__ = ["NumpyBackend", "accumulate", "conv2d"]


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: ConvSpec) -> np.ndarray:
    """Compute the reference cross-correlation with PyTorch's conv2d semantics.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W)
    w : ndarray, shape (C_out, C_in / groups, kH, kW)
    b : ndarray, shape (C_out,), or None
    spec : ConvSpec

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out), dtype ``spec.dtype``
    """
    out = accumulate(x, w, b, spec, np.float64)
    with np.errstate(over="ignore"):  # beyond float32's range rounds to inf, silently
        return out.astype(spec.dtype)


def accumulate(x, w, b, spec: ConvSpec, acc_dtype) -> np.ndarray:
    """Compute the convolution entirely in ``acc_dtype`` (float64 or longdouble).

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out), dtype ``acc_dtype``
    """
    # IEEE arithmetic, silently, as the compiled kernels and torch compute it: NaN and
    # infinities in the data (inf * 0, inf - inf) are values, not errors
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        return _accumulate(x, w, b, spec, acc_dtype)


def _accumulate(x, w, b, spec: ConvSpec, acc_dtype) -> np.ndarray:
    N = x.shape[0]
    Co, Cig, kH, kW = w.shape
    G = spec.groups
    Ho, Wo = spec.output_size
    sh, sw = spec.stride
    dh, dw = spec.dilation
    top, bottom, left, right = spec.padding

    xp = np.pad(x.astype(acc_dtype), ((0, 0), (0, 0), (top, bottom), (left, right)))
    xg = xp.reshape(N, G, Cig, xp.shape[2], xp.shape[3])  # split channels into groups
    wg = w.astype(acc_dtype).reshape(G, Co // G, Cig, kH, kW)

    out = np.zeros((N, G, Co // G, Ho * Wo), dtype=acc_dtype)
    for i in range(kH):
        for j in range(kW):
            r0, c0 = i * dh, j * dw
            # pixels[n, g, c, oh, ow] = padded input at (r0 + oh * sh, c0 + ow * sw)
            pixels = xg[:, :, :, r0 : r0 + sh * (Ho - 1) + 1 : sh, c0 : c0 + sw * (Wo - 1) + 1 : sw]
            # (G, Cout/G, Cin/G) @ (N, G, Cin/G, Ho*Wo) -> (N, G, Cout/G, Ho*Wo)
            out += wg[:, :, :, i, j] @ pixels.reshape(N, G, Cig, Ho * Wo)

    out = out.reshape(N, Co, Ho, Wo)
    if b is not None:
        out += b.astype(acc_dtype).reshape(1, Co, 1, 1)
    return out


class NumpyBackend:
    """The backend object the registry loads for ``'numpy'`` (no options)."""

    name = "numpy"
    capabilities = None  # filled from the entry point's spec by the registry

    def supports(self, spec: ConvSpec) -> bool:
        """Every call pyconv validates runs here."""
        return True

    conv2d = staticmethod(conv2d)
