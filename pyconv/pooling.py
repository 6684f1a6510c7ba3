"""Pooling with ``torch.nn.functional``'s semantics: max, average and adaptive, 1-D and 2-D.

Each function checks its arguments with torch's rules, in torch's order and with torch's
messages (``ValueError`` where torch raises ``RuntimeError``), then hands a C-contiguous
(N, C, H, W) array to the compiled kernels of ``pyconv._pool``.  The results are torch's
element for element (same window order, same NaN rule, same divisors); only the 1x1
adaptive average, which torch computes with ``mean()``, is summed in another order
(within the accuracy contract of :mod:`pyconv.testing`).

The output-size rule (torch's ``pooling_output_shape``)::

    out = floor((L + 2 * padding - dilation * (kernel_size - 1) - 1 + (stride - 1 if ceil_mode else 0)) / stride) + 1

and with ``ceil_mode`` the last window must start inside the input or the left padding
(else ``out`` is one less).
"""  # noqa: E501 - the formula reads best on one line

from __future__ import annotations

import operator

import numpy as np
from numpy.typing import ArrayLike

from . import _pool
from ._threads import get_num_threads

__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "max_pool1d",
    "max_pool2d",
]

_SUPPORTED = (np.dtype(np.float32), np.dtype(np.float64))
# Sizes are int64 in the kernels; a window or padded size beyond this is refused up front.
_MAX_EXTENT = 1 << 62


def _size(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _as_input(input, fn: str) -> np.ndarray:
    """Convert like ``numpy.asarray``; refuse dtypes the kernels do not compute in."""
    if isinstance(input, (str, bytes)) or input is None:
        raise TypeError(f"{fn}(): argument 'input' must be an array, not {type(input).__name__}")
    x = np.asarray(input)
    if x.dtype.kind == "f" and x.dtype.itemsize in (4, 8) and not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    if x.dtype not in _SUPPORTED:
        raise TypeError(
            f"{fn}(): argument 'input' has dtype {x.dtype}, but pyconv computes in float32 or "
            "float64 only; convert it first, e.g. input.astype(numpy.float32)"
        )
    return x


def _ints(value, name: str, fn: str, position: int) -> tuple[int, ...]:
    """Read an int or a sequence of ints, as torch's argument parser reads ``int[]``."""
    is_seq = isinstance(value, (tuple, list))
    out = []
    for i, v in enumerate(value if is_seq else (value,)):
        try:
            if isinstance(v, (bool, np.bool_)):
                raise TypeError  # torch refuses bools where it wants ints
            out.append(operator.index(v))
        except TypeError:
            where = (
                f"but found element of type {type(v).__name__} at pos {i}"
                if is_seq
                else (f"not {type(v).__name__}")
            )
            raise TypeError(
                f"{fn}(): argument '{name}' (position {position}) must be tuple of ints, {where}"
            ) from None
    for v in out:
        if abs(v) > _MAX_EXTENT:
            raise ValueError(f"{fn}(): argument '{name}' is {v}, larger than pyconv supports")
    return tuple(out)


def _optional_int(value, name: str, fn: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, (bool, np.bool_)):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise TypeError(
        # torch's text for a keyword argument, the way this one is usually given
        f"{fn}(): argument '{name}' must be int, not {type(value).__name__}"
    )


def _two(items: tuple[int, ...]) -> tuple[int, int]:
    return (items[0], items[0]) if len(items) == 1 else (items[0], items[1])


def _trunc_div(a: int, b: int) -> int:
    """C's integer division (towards zero), as torch's checks compute it."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _output_size(size: int, k: int, pad: int, stride: int, dilation: int, ceil: bool) -> int:
    """Compute torch's ``pooling_output_shape``, with its checks and messages."""
    if stride == 0:
        raise ValueError("stride should not be zero")
    if pad < 0:
        raise ValueError(f"pad must be non-negative, but got pad: {pad}")
    if pad > _trunc_div((k - 1) * dilation + 1, 2):
        raise ValueError(
            f"pad should be at most half of effective kernel size, but got pad={pad}, "
            f"kernel_size={k} and dilation={dilation}"
        )
    out = (size + 2 * pad - dilation * (k - 1) - 1 + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1  # the last window must start inside the input or the left padding
    return out


def _rank_message(shape) -> str:
    return (
        "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, "
        f"but got:{_size(shape)}"
    )


def _shape_check(x, kernel, stride, pad, dilation, out_hw) -> None:
    """Make torch's ``pool2d_shape_check`` for a contiguous input."""
    (kH, kW), (sH, sW), (pH, pW), (dH, dW) = kernel, stride, pad, dilation
    if kH <= 0 or kW <= 0:
        raise ValueError(f"kernel size should be greater than zero, but got kH: {kH} kW: {kW}")
    if sH <= 0 or sW <= 0:
        raise ValueError(f"stride should be greater than zero, but got dH: {sH} dW: {sW}")
    if dH <= 0 or dW <= 0:
        raise ValueError(
            f"dilation should be greater than zero, but got dilationH: {dH} dilationW: {dW}"
        )
    s = x.shape
    ok = x.ndim in (3, 4) and s[1] != 0 and s[2] != 0 and (s[0] != 0 if x.ndim == 3 else s[3] != 0)
    if not ok:
        raise ValueError(_rank_message(s))
    if kW // 2 < pW or kH // 2 < pH:
        raise ValueError(
            "pad should be smaller than or equal to half of kernel size, but got "
            f"padW = {pW}, padH = {pH}, kW = {kW}, kH = {kH}"
        )
    C, H, W = s[-3:]
    Ho, Wo = out_hw
    if Ho < 1 or Wo < 1:
        raise ValueError(
            f"Given input size: ({C}x{H}x{W}). Calculated output size: ({C}x{Ho}x{Wo}). "
            "Output size is too small"
        )
    for k, p, d, size in ((kH, pH, dH, H), (kW, pW, dW, W)):
        if (k - 1) * d + 1 > _MAX_EXTENT or size + 2 * p > _MAX_EXTENT:
            raise ValueError(
                "the pooling window or the padded input is larger than pyconv supports"
            )


def _batched(x: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (1, C, H, W); then C-contiguous and aligned, as the kernels read it."""
    if x.ndim == 3:
        x = x[np.newaxis]
    if not (x.flags.c_contiguous and x.flags.aligned):
        x = np.ascontiguousarray(x) if x.flags.aligned else x.copy(order="C")
    return x


def _pool_args(
    fn: str, kernel_size: object, stride: object, padding: object, dilation: object = None
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Read kernel_size, stride (default: the kernel), padding, dilation with torch's checks."""
    k = _ints(kernel_size, "kernel_size", fn, 2)
    s = () if stride is None else _ints(stride, "stride", fn, 3)
    p = _ints(padding, "padding", fn, 4)
    d = (1,) if dilation is None else _ints(dilation, "dilation", fn, 5)
    if len(k) not in (1, 2):
        raise ValueError(f"{fn}: kernel_size must either be a single int, or a tuple of two ints")
    if len(s) not in (0, 1, 2):
        raise ValueError(
            f"{fn}: stride must either be omitted, a single int, or a tuple of two ints"
        )
    if len(p) not in (1, 2):
        raise ValueError(f"{fn}: padding must either be a single int, or a tuple of two ints")
    if len(d) not in (1, 2):
        raise ValueError(f"{fn}: dilation must be either a single int, or a tuple of two ints")
    k2 = _two(k)
    return k2, (_two(s) if s else k2), _two(p), _two(d)


def max_pool2d(
    input: ArrayLike,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """2-D max pooling: ``torch.nn.functional.max_pool2d`` on NumPy arrays.

    Parameters
    ----------
    input : array_like, shape (N, C, H, W) or (C, H, W)
        float32 or float64.
    kernel_size : int or (int, int)
    stride : int or (int, int), default ``kernel_size``
    padding : int or (int, int), default 0
        Implicit -inf on both sides, at most half of ``kernel_size``.
    dilation : int or (int, int), default 1
    ceil_mode : bool, default False
        Round the output size up (the last window must still start inside the input or
        the left padding).
    return_indices : bool, default False
        Also return, for every output, the flat index ``h * W + w`` of the maximum within
        its (H, W) plane (torch's indices, for ``max_unpool2d``).

    Returns
    -------
    output : ndarray, shape (N, C, H_out, W_out) or (C, H_out, W_out)
        The input's dtype.  A NaN in a window gives NaN.
    indices : ndarray of int64, same shape, only if ``return_indices``
        Ties give the first position in row-major order, NaNs the last NaN.

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    >>> pyconv.max_pool2d(x, 2)
    array([[[ 5.,  7.],
            [13., 15.]]], dtype=float32)
    >>> pyconv.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)[1]
    array([[[ 5,  7],
            [13, 15]]])
    """
    fn = "max_pool2d"
    x = _as_input(input, fn)
    kernel, strides, pads, dils = _pool_args(fn, kernel_size, stride, padding, dilation)
    if x.ndim not in (3, 4):
        raise ValueError("non-empty 3D or 4D (batch mode) tensor expected for input")
    ceil = bool(ceil_mode)
    out_hw = (
        _output_size(x.shape[-2], kernel[0], pads[0], strides[0], dils[0], ceil),
        _output_size(x.shape[-1], kernel[1], pads[1], strides[1], dils[1], ceil),
    )
    _shape_check(x, kernel, strides, pads, dils, out_hw)
    unbatched = x.ndim == 3
    y, idx = _pool.max_pool2d(
        _batched(x), *kernel, *strides, *pads, *dils, *out_hw, bool(return_indices),
        get_num_threads(),
    )  # fmt: skip
    if unbatched:
        y = y[0]
    if idx is None:  # the kernel returns indices exactly when asked to
        return y
    return (y, idx[0] if unbatched else idx)


def avg_pool2d(
    input: ArrayLike,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """2-D average pooling: ``torch.nn.functional.avg_pool2d`` on NumPy arrays.

    Parameters
    ----------
    input : array_like, shape (N, C, H, W) or (C, H, W)
        float32 or float64.
    kernel_size : int or (int, int)
    stride : int or (int, int), default ``kernel_size``
    padding : int or (int, int), default 0
        Implicit zeros on both sides, at most half of ``kernel_size``.
    ceil_mode : bool, default False
        Round the output size up (see :func:`max_pool2d`).
    count_include_pad : bool, default True
        Divide by the window's size including the zero padding (but not the part of a
        ``ceil_mode`` window beyond the padding), else by the number of input elements.
    divisor_override : int, optional
        Divide every sum by this (non-zero) number instead.

    Returns
    -------
    ndarray, shape (N, C, H_out, W_out) or (C, H_out, W_out)
        The input's dtype; each window summed in row-major order in that dtype, as torch.

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    >>> pyconv.avg_pool2d(x, 2)
    array([[[ 2.5,  4.5],
            [10.5, 12.5]]], dtype=float32)
    >>> pyconv.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    array([[[ 2.5,  4. ],
            [ 8.5, 10. ]]], dtype=float32)
    """
    fn = "avg_pool2d"
    x = _as_input(input, fn)
    kernel, strides, pads, _ = _pool_args(fn, kernel_size, stride, padding)
    divisor = _optional_int(divisor_override, "divisor_override", fn)
    if divisor == 0:
        raise ValueError("divisor must be not zero")
    if x.ndim < 3:  # torch: an IndexError from size(-3); its shape check's words instead
        raise ValueError(_rank_message(x.shape))
    ceil = bool(ceil_mode)
    out_hw = (
        _output_size(x.shape[-2], kernel[0], pads[0], strides[0], 1, ceil),
        _output_size(x.shape[-1], kernel[1], pads[1], strides[1], 1, ceil),
    )
    _shape_check(x, kernel, strides, pads, (1, 1), out_hw)
    y = _pool.avg_pool2d(
        _batched(x), *kernel, *strides, *pads, *out_hw, bool(count_include_pad), divisor or 0,
        get_num_threads(),
    )  # fmt: skip
    return y[0] if x.ndim == 3 else y


def _adaptive_output_size(fn: str, output_size, x: np.ndarray) -> tuple[int, ...]:
    """Read output_size as torch's ``_list_with_default``: None entries mean 'as is'."""
    if isinstance(output_size, (tuple, list)):
        if x.ndim <= len(output_size):
            raise ValueError(f"Input dimension should be at least {len(output_size) + 1}")
        sizes = x.shape[-len(output_size) :] if output_size else ()
        items = [s if v is None else v for v, s in zip(output_size, sizes, strict=True)]
        return _ints(items, "output_size", fn, 2)
    return _ints(output_size, "output_size", fn, 2) * 2  # an int: square


def _adaptive_input(x: np.ndarray, fn: str, first_checked_dim: int) -> None:
    """Make the rank and non-empty checks of torch's adaptive pooling, with its messages."""
    if x.ndim not in (3, 4):
        sep = ": " if fn == "adaptive_max_pool2d" else " "
        raise ValueError(f"{fn}(): Expected 3D or 4D tensor, but got{sep}{_size(x.shape)}")
    dims = range(1, x.ndim) if first_checked_dim == 1 else (x.ndim - 2, x.ndim - 1)
    for d in dims:
        if x.shape[d] <= 0:
            raise ValueError(
                f"{fn}(): Expected input to have non-zero size for non-batch dimensions, but "
                f"input has sizes {_size(x.shape)} with dimension {d} being empty"
            )


def adaptive_avg_pool2d(input: ArrayLike, output_size: int | tuple) -> np.ndarray:
    """2-D adaptive average pooling: ``torch.nn.functional.adaptive_avg_pool2d``.

    Output element ``(i, j)`` averages rows ``floor(i H / H_out)`` to
    ``ceil((i + 1) H / H_out)`` (exclusive) and the columns likewise.

    Parameters
    ----------
    input : array_like, shape (N, C, H, W) or (C, H, W)
        float32 or float64, H and W not zero.
    output_size : int or (int or None, int or None)
        ``(H_out, W_out)``; None keeps the input's size in that dimension.

    Returns
    -------
    ndarray, shape (N, C, H_out, W_out) or (C, H_out, W_out)

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    >>> pyconv.adaptive_avg_pool2d(x, (1, 2))
    array([[[4.5, 6.5]]], dtype=float32)
    """
    fn = "adaptive_avg_pool2d"
    x = _as_input(input, fn)
    out = _adaptive_output_size(fn, output_size, x)
    if len(out) != 2:
        raise ValueError("adaptive_avg_pool2d: output_size must be 2")
    if out[0] < 0 or out[1] < 0:
        raise ValueError(
            "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 "
            f"but received {{{out[0]}, {out[1]}}}"
        )
    _adaptive_input(x, fn, first_checked_dim=-2)
    y = _pool.adaptive_pool2d(_batched(x), out[0], out[1], False, get_num_threads())
    return y[0] if x.ndim == 3 else y


def adaptive_max_pool2d(
    input: ArrayLike, output_size: int | tuple, return_indices: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """2-D adaptive max pooling: ``torch.nn.functional.adaptive_max_pool2d``.

    The windows are those of :func:`adaptive_avg_pool2d`; the maximum follows
    :func:`max_pool2d`'s rules (NaN propagates, first of ties).

    Parameters
    ----------
    input : array_like, shape (N, C, H, W) or (C, H, W)
        float32 or float64; C (for 4-D input), H and W not zero.
    output_size : int or (int or None, int or None)
    return_indices : bool, default False
        Also return the flat per-plane indices (int64) of the maxima.

    Returns
    -------
    output : ndarray, shape (N, C, H_out, W_out) or (C, H_out, W_out)
    indices : ndarray of int64, only if ``return_indices``

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    >>> pyconv.adaptive_max_pool2d(x, (1, 2), return_indices=True)
    (array([[[ 9., 11.]]], dtype=float32), array([[[ 9, 11]]]))
    """
    fn = "adaptive_max_pool2d"
    x = _as_input(input, fn)
    out = _adaptive_output_size(fn, output_size, x)
    _adaptive_input(x, fn, first_checked_dim=1)
    if len(out) != 2:
        raise ValueError("adaptive_max_pool2d(): internal error: output_size.size() must be 2")
    if out[0] < 0 or out[1] < 0:
        neg = out[0] if out[0] < 0 else out[1]
        raise ValueError(
            f"Trying to create tensor with negative dimension {neg}: {_size((*x.shape[:-2], *out))}"
        )
    y, idx = _pool.adaptive_pool2d(_batched(x), out[0], out[1], True, get_num_threads())
    if x.ndim == 3:
        y, idx = y[0], idx[0]
    return (y, idx) if return_indices else y


def _check_1d(fn: str, name: str, items: tuple[int, ...], what: str) -> None:
    if len(items) != 1:
        raise ValueError(f"{fn}() {name} must be {what} of size 1 but got size {len(items)}")


def max_pool1d(
    input: ArrayLike,
    kernel_size: int | tuple[int],
    stride: int | tuple[int] | None = None,
    padding: int | tuple[int] = 0,
    dilation: int | tuple[int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """1-D max pooling: ``torch.nn.functional.max_pool1d`` on NumPy arrays.

    Parameters
    ----------
    input : array_like, shape (N, C, L) or (C, L)
    kernel_size, stride, padding, dilation : int or (int,)
        As for :func:`max_pool2d`; ``stride`` defaults to ``kernel_size``.
    ceil_mode, return_indices : bool
        As for :func:`max_pool2d`; the indices are positions along L.

    Returns
    -------
    output : ndarray, shape (N, C, L_out) or (C, L_out)
    indices : ndarray of int64, only if ``return_indices``

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> pyconv.max_pool1d(np.array([[1.0, 3.0, 2.0, 5.0, 4.0]]), 2)
    array([[3., 5.]])
    """
    fn = "max_pool1d"
    x = _as_input(input, fn)
    ks = _ints(kernel_size, "kernel_size", fn, 2)
    ss = () if stride is None else _ints(stride, "stride", fn, 3)
    ps = _ints(padding, "padding", fn, 4)
    ds = _ints(dilation, "dilation", fn, 5)
    s0 = x.shape
    if not (
        (x.ndim == 2 and s0[0] != 0 and s0[1] != 0) or (x.ndim == 3 and s0[1] != 0 and s0[2] != 0)
    ):
        raise ValueError(
            "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size "
            f"for input, but got:{_size(s0)}"
        )
    _check_1d(fn, "kernel_size", ks, "an int, list of ints or tuple of ints")
    if len(ss) > 1:
        _check_1d(fn, "stride", ss, "None, an int, list of ints, or tuple of ints")
    _check_1d(fn, "padding", ps, "an int, list of ints, or tuple of ints")
    _check_1d(fn, "dilation", ds, "an int, list of ints or tuple of ints")
    (k,), (p,), (d,) = ks, ps, ds
    s = ss[0] if ss else k
    if k <= 0:
        raise ValueError(f"max_pool1d() kernel_size must be greater than zero, but got {k}")
    if s <= 0:
        raise ValueError(f"max_pool1d() stride must be greater than zero, but got {s}")
    if p < 0:
        raise ValueError(f"max_pool1d() padding must be non-negative, but got {p}")
    if p > k // 2:
        raise ValueError(
            "max_pool1d() padding should be at most half of kernel size, but got "
            f"padding={p} and kernel_size={k}"
        )
    if d <= 0:
        raise ValueError(f"max_pool1d() dilation must be greater than zero, but got {d}")
    out = _output_size(x.shape[-1], k, p, s, d, bool(ceil_mode))
    if out <= 0:
        raise ValueError(f"max_pool1d() Invalid computed output size: {out}")
    if (k - 1) * d + 1 > _MAX_EXTENT or x.shape[-1] + 2 * p > _MAX_EXTENT:
        raise ValueError("the pooling window or the padded input is larger than pyconv supports")
    x4 = _batched(x[..., np.newaxis, :] if x.ndim == 3 else x[np.newaxis, :, np.newaxis, :])
    y, idx = _pool.max_pool2d(
        x4, 1, k, 1, s, 0, p, 1, d, 1, out, bool(return_indices), get_num_threads()
    )
    shape = (*x.shape[:-1], out)
    y = y.reshape(shape)
    if idx is None:  # the kernel returns indices exactly when asked to
        return y
    return (y, idx.reshape(shape))


def avg_pool1d(
    input: ArrayLike,
    kernel_size: int | tuple[int],
    stride: int | tuple[int] | None = None,
    padding: int | tuple[int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """1-D average pooling: ``torch.nn.functional.avg_pool1d`` on NumPy arrays.

    Computed, as torch does, as :func:`avg_pool2d` with a (1, kernel_size) window.

    Parameters
    ----------
    input : array_like, shape (N, C, L) or (C, L)
    kernel_size, stride, padding : int or (int,)
    ceil_mode, count_include_pad : bool
        As for :func:`avg_pool2d`.

    Returns
    -------
    ndarray, shape (N, C, L_out) or (C, L_out)

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> pyconv.avg_pool1d(np.array([[1.0, 3.0, 2.0, 5.0, 4.0]]), 2)
    array([[2. , 3.5]])
    """
    fn = "avg_pool1d"
    x = _as_input(input, fn)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"Expected 2 to 3 dimensions, but got {x.ndim}-dimensional tensor for argument #1 "
            "'self' (while checking arguments for avg_pool1d)"
        )
    k = _ints(kernel_size, "kernel_size", fn, 2)
    s = () if stride is None else _ints(stride, "stride", fn, 3)
    s = s or k  # omitted or empty: the kernel size
    p = _ints(padding, "padding", fn, 4)
    for name, items in (("kernel_size", k), ("stride", s), ("padding", p)):
        if len(items) != 1:
            raise ValueError(f"{fn}() argument '{name}' should contain one int (got {len(items)})")
    y = avg_pool2d(
        x[..., np.newaxis, :], (1, k[0]), (1, s[0]), (0, p[0]), ceil_mode, count_include_pad
    )
    return y[..., 0, :]
