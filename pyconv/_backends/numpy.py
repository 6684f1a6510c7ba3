"""The ``numpy`` backend: a reference for every operation, written for clarity, not speed.

It is the ground truth that the tests and the conformance suite compare the other
backends with.  Every product is accumulated in float64 and the result is rounded once to
the input's dtype, so for float32 it is at least as accurate as any float32 kernel.

How each operation works (``n`` spatial dimensions, one loop over the kernel taps):

convolution (``conv{n}d``)
    Pad the input; for each tap take the strided view of the input that this tap meets
    for every output position, and add ``weight[:, :, tap] @ pixels`` (a matrix product
    over the input channels of each group) to the output.
transposed convolution (``conv_transpose{n}d``)
    The adjoint of the above: for each tap, scatter-add ``weight[:, :, tap]^T @ x`` into
    the strided slots of the uncropped result that the tap reaches, then crop
    ``padding`` from both sides (``output_padding`` extends the after side).
input gradient (``conv{n}d_input``)
    The transposed convolution of ``grad_output`` with the same weight, with the output
    padding that gives back the input's size.
weight gradient (``conv{n}d_weight``)
    For each tap, the products of ``grad_output`` with the shifted window of the padded
    input that the tap met, summed over the batch and the output positions.
"""

from __future__ import annotations

import numpy as np

from .._validation import ConvSpec

__all__ = [
    "NumpyBackend",
    "accumulate",
    "accumulate_input",
    "accumulate_transpose",
    "accumulate_weight",
    "conv",
    "conv2d",
    "conv_input",
    "conv_transpose",
    "conv_weight",
]


def _rounded(out: np.ndarray, dtype: np.dtype) -> np.ndarray:
    with np.errstate(over="ignore"):  # beyond float32's range rounds to inf, silently
        return out.astype(dtype)


def _ieee(f):
    """Run ``f`` with IEEE arithmetic, silently, as the compiled kernels and torch do.

    NaN and infinities in the data (inf * 0, inf - inf) are values, not errors.
    """

    def run(*args):
        with np.errstate(invalid="ignore", over="ignore", under="ignore"):
            return f(*args)

    run.__name__, run.__doc__ = f.__name__, f.__doc__
    return run


def _window(tap, spec: ConvSpec, sizes) -> tuple:
    """Index the strided part of the padded input ``tap`` meets at every output position.

    Indexes the spatial axes (the last ones), whatever comes before them.
    """
    spatial = tuple(
        slice(t * d, t * d + s * (o - 1) + 1, s)
        for t, d, s, o in zip(tap, spec.dilation, spec.stride, sizes, strict=True)
    )
    return (Ellipsis, *spatial)


def _tap(tap) -> tuple:
    """Index ``weight[g, :, :, *tap]`` of a weight reshaped to (groups, a, b, *kernel)."""
    return (slice(None),) * 3 + tuple(tap)


def _padded(x: np.ndarray, spec: ConvSpec, acc_dtype) -> np.ndarray:
    pads = [(0, 0), (0, 0)] + [
        (spec.padding[2 * i], spec.padding[2 * i + 1]) for i in range(spec.ndim)
    ]
    return np.pad(x.astype(acc_dtype), pads)


# ------------------------------------------------------------------ convolution


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: ConvSpec) -> np.ndarray:
    """Compute the reference cross-correlation with PyTorch's conv1d/2d/3d semantics.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, *spatial)
    w : ndarray, shape (C_out, C_in / groups, *kernel)
    b : ndarray, shape (C_out,), or None
    spec : ConvSpec

    Returns
    -------
    ndarray, shape (N, C_out, *output_size), dtype ``spec.dtype``
    """
    return _rounded(accumulate(x, w, b, spec, np.float64), spec.dtype)


conv2d = conv


@_ieee
def accumulate(x, w, b, spec: ConvSpec, acc_dtype) -> np.ndarray:
    """Compute the convolution entirely in ``acc_dtype`` (float64 or longdouble).

    Returns
    -------
    ndarray, shape (N, C_out, *output_size), dtype ``acc_dtype``
    """
    N = x.shape[0]
    Co, Cig, *kernel = w.shape
    G = spec.groups
    positions = int(np.prod(spec.output_size))

    xp = _padded(x, spec, acc_dtype)
    xg = xp.reshape(N, G, Cig, *xp.shape[2:])  # split channels into groups
    wg = w.astype(acc_dtype).reshape(G, Co // G, Cig, *kernel)

    out = np.zeros((N, G, Co // G, positions), dtype=acc_dtype)
    for tap in np.ndindex(*kernel):
        # pixels[n, g, c, *o] = padded input at tap * dilation + o * stride
        pixels = xg[_window(tap, spec, spec.output_size)]
        # (G, Cout/G, Cin/G) @ (N, G, Cin/G, positions) -> (N, G, Cout/G, positions)
        out += wg[_tap(tap)] @ pixels.reshape(N, G, Cig, positions)

    out = out.reshape(N, Co, *spec.output_size)
    if b is not None:
        out += b.astype(acc_dtype).reshape(1, Co, *(1,) * spec.ndim)
    return out


# ------------------------------------------------------------------ transposed


def conv_transpose(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: ConvSpec
) -> np.ndarray:
    """Compute the reference transposed convolution (``conv_transpose{n}d``).

    Parameters
    ----------
    x : ndarray, shape (N, C_in, *spatial)
    w : ndarray, shape (C_in, C_out / groups, *kernel)
    b : ndarray, shape (C_out,), or None
    spec : ConvSpec

    Returns
    -------
    ndarray, shape (N, C_out, *output_size), dtype ``spec.dtype``
    """
    return _rounded(accumulate_transpose(x, w, b, spec, np.float64), spec.dtype)


@_ieee
def accumulate_transpose(x, w, b, spec: ConvSpec, acc_dtype) -> np.ndarray:
    """Compute the transposed convolution entirely in ``acc_dtype``.

    Returns
    -------
    ndarray, shape (N, C_out, *output_size), dtype ``acc_dtype``
    """
    N, Ci, *size = x.shape
    _, Cog, *kernel = w.shape
    G = spec.groups
    Cig = Ci // G
    before = spec.padding[::2]
    # The uncropped result: input position i, tap t lands on i * stride + t * dilation.
    # output_padding may reach past its end (then those slots stay zero).
    full = [
        max((L - 1) * s + d * (k - 1) + 1, o + p)
        for L, s, d, k, o, p in zip(
            size, spec.stride, spec.dilation, kernel, spec.output_size, before, strict=True
        )
    ]
    buf = np.zeros((N, G, Cog, *full), dtype=acc_dtype)
    xg = x.astype(acc_dtype).reshape(N, G, Cig, int(np.prod(size)))
    wg = w.astype(acc_dtype).reshape(G, Cig, Cog, *kernel)
    for tap in np.ndindex(*kernel):
        # (G, Cout/G, Cin/G) @ (N, G, Cin/G, positions) -> (N, G, Cout/G, positions)
        spread = np.swapaxes(wg[_tap(tap)], 1, 2) @ xg
        buf[_window(tap, spec, size)] += spread.reshape(N, G, Cog, *size)

    crop: tuple = (
        Ellipsis,
        *tuple(slice(p, p + o) for p, o in zip(before, spec.output_size, strict=True)),
    )
    out = buf[crop].reshape(N, G * Cog, *spec.output_size)
    if b is not None:
        out = out + b.astype(acc_dtype).reshape(1, G * Cog, *(1,) * spec.ndim)
    return np.ascontiguousarray(out)


# ------------------------------------------------------------------ gradients


def conv_input(w: np.ndarray, grad_output: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """Compute the reference input gradient (``conv{n}d_input``).

    Parameters
    ----------
    w : ndarray, shape (C_out, C_in / groups, *kernel)
    grad_output : ndarray, shape (N, C_out, *output_size)
    spec : ConvSpec

    Returns
    -------
    ndarray, shape (N, C_in, *input_size), dtype ``spec.dtype``
    """
    return _rounded(accumulate_input(w, grad_output, spec, np.float64), spec.dtype)


def accumulate_input(w, grad_output, spec: ConvSpec, acc_dtype) -> np.ndarray:
    """Compute the input gradient in ``acc_dtype``: ``grad_output`` transposed-convolved."""
    return accumulate_transpose(grad_output, w, None, spec.transposed(), acc_dtype)


def conv_weight(x: np.ndarray, grad_output: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """Compute the reference weight gradient (``conv{n}d_weight``).

    Parameters
    ----------
    x : ndarray, shape (N, C_in, *input_size)
    grad_output : ndarray, shape (N, C_out, *output_size)
    spec : ConvSpec

    Returns
    -------
    ndarray, shape (C_out, C_in / groups, *kernel_size), dtype ``spec.dtype``
    """
    return _rounded(accumulate_weight(x, grad_output, spec, np.float64), spec.dtype)


@_ieee
def accumulate_weight(x, grad_output, spec: ConvSpec, acc_dtype) -> np.ndarray:
    """Compute the weight gradient in ``acc_dtype``.

    Returns
    -------
    ndarray, shape (C_out, C_in / groups, *kernel_size), dtype ``acc_dtype``
    """
    N = x.shape[0]
    G = spec.groups
    Cig, Cog = spec.in_channels // G, spec.out_channels // G
    per_image = int(np.prod(spec.output_size))

    xg = _padded(x, spec, acc_dtype)
    xg = xg.reshape(N, G, Cig, *xg.shape[2:])
    # grad_output with the batch folded into the positions: (G, Cout/G, N * positions)
    go = grad_output.astype(acc_dtype).reshape(N, G, Cog, per_image)
    go = np.moveaxis(go, 0, 2).reshape(G, Cog, N * per_image)
    out = np.zeros((G, Cog, Cig, *spec.kernel_size), dtype=acc_dtype)
    for tap in np.ndindex(*spec.kernel_size):
        pixels = xg[_window(tap, spec, spec.output_size)].reshape(N, G, Cig, per_image)
        pixels = np.moveaxis(pixels, 0, 2).reshape(G, Cig, N * per_image)
        # (G, Cout/G, N * positions) @ (G, N * positions, Cin/G) -> (G, Cout/G, Cin/G)
        out[_tap(tap)] = go @ np.swapaxes(pixels, 1, 2)
    return out.reshape(G * Cog, Cig, *spec.kernel_size)


class NumpyBackend:
    """The backend object the registry loads for ``'numpy'`` (no options)."""

    name = "numpy"
    capabilities = None  # filled from the entry point's spec by the registry

    def supports(self, spec: ConvSpec) -> bool:
        """Every call pyconv validates runs here."""
        return True

    conv1d = conv2d = conv3d = staticmethod(conv)
    conv_transpose1d = conv_transpose2d = conv_transpose3d = staticmethod(conv_transpose)
    conv1d_input = conv2d_input = conv3d_input = staticmethod(conv_input)
    conv1d_weight = conv2d_weight = conv3d_weight = staticmethod(conv_weight)
