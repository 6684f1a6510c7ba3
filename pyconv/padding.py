"""``pad``: ``torch.nn.functional.pad`` on NumPy arrays, for the modes convolution needs.

Modes and their names elsewhere (the same words mean different things across libraries):

============  =====================  ==================  ==============
pyconv/torch  numpy.pad              scipy.ndimage       OpenCV
============  =====================  ==================  ==============
constant      constant               constant            BORDER_CONSTANT
reflect       reflect                mirror              BORDER_REFLECT_101
replicate     edge                   nearest             BORDER_REPLICATE
circular      wrap                   wrap                BORDER_WRAP
============  =====================  ==================  ==============
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from ._validation import _check_int64, _check_nbytes, _size, refuse_masked

__all__ = ["PAD_MODES", "pad"]

#: torch mode name -> numpy.pad mode name.
PAD_MODES: dict[str, Literal["constant", "reflect", "edge", "wrap"]] = {
    "constant": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
}


def _pad_ints(pad) -> tuple[int, ...]:
    if isinstance(pad, (str, bytes)) or not isinstance(pad, (Sequence, np.ndarray)):
        raise TypeError(
            f"pad(): argument 'pad' (position 2) must be tuple of ints, not {type(pad).__name__}"
        )
    out = []
    for i, v in enumerate(pad):
        try:
            if isinstance(v, (bool, np.bool_)):
                raise TypeError
            out.append(operator.index(v))
        except TypeError:
            raise TypeError(
                f"pad(): argument 'pad' (position 2) must be tuple of ints, but found element "
                f"of type {type(v).__name__} at pos {i}"
            ) from None
        _check_int64(out[-1], "pad", who="pad")
    return tuple(out)


def pad(
    input: ArrayLike, pad: Sequence[int], mode: str = "constant", value: float | None = None
) -> np.ndarray:
    """Pad an array as ``torch.nn.functional.pad`` does.

    Parameters
    ----------
    input : array_like
        Any dtype.  ``constant`` accepts any number of dimensions; ``reflect``,
        ``replicate`` and ``circular`` pad the last 1 (``len(pad) == 2``) or 2
        (``len(pad) == 4``) dimensions of a 2-D/3-D or 3-D/4-D array respectively
        (``len(pad) == 6``: the last 3 of a 4-D/5-D array), as torch does.
    pad : sequence of int
        ``(left, right)`` for the last dimension, then ``(top, bottom)`` for the one before,
        and so on; an even number of values.  Negative values crop.
    mode : {'constant', 'reflect', 'replicate', 'circular'}, default 'constant'
        ``reflect`` mirrors without repeating the edge (``dcb|abcd|cba``), ``replicate``
        repeats the edge (``aaa|abcd|ddd``), ``circular`` wraps (``bcd|abcd|abc``).
    value : float, optional
        Fill value for ``constant`` (default 0).  Other modes reject it, as torch does.

    Returns
    -------
    ndarray
        A new array of the input's dtype; each padded dimension grows by the sum of its
        two pad values.

    Raises
    ------
    ValueError
        torch's errors: odd ``pad`` length, too many pad values for the input, a
        ``reflect`` pad not smaller than the dimension, a ``circular`` pad larger than the
        dimension, an unsupported rank for the mode, an unknown mode, ``value`` with a
        mode other than constant, or a crop that leaves a negative size.
    TypeError
        Non-integer pad values; a ``numpy.ma.MaskedArray`` input (its mask would be
        ignored).

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    >>> pyconv.pad(x, (2, 1), mode="reflect")[0, 0]
    array([3., 2., 1., 2., 3., 4., 3.])
    >>> pyconv.pad(x, (2, 1), mode="replicate")[0, 0]
    array([1., 1., 1., 2., 3., 4., 4.])
    >>> pyconv.pad(x, (2, 1), mode="circular")[0, 0]
    array([3., 4., 1., 2., 3., 4., 1.])
    """
    refuse_masked(input, "input", "pad")
    x = np.asarray(input)
    widths, out_shape = pad_plan(x.shape, pad, mode, value, itemsize=x.dtype.itemsize)
    k = len(pad) // 2  # number of padded (trailing) axes; pad_plan checked the values
    if not k or 0 in out_shape:
        return np.zeros(out_shape, dtype=x.dtype) if 0 in out_shape else x.copy()

    grow = [(max(b, 0), max(e, 0)) for b, e in widths]
    if mode == "circular":
        # torch crops first and wraps what is left
        crop = tuple(
            slice(max(-b, 0), max(max(-b, 0), n - max(-e, 0)))
            for n, (b, e) in zip(x.shape, widths, strict=True)
        )
        kept = x[crop]
        return np.pad(kept, grow, mode="wrap")

    # Pad the positive amounts, then crop the negative ones: for reflect and replicate a
    # crop on one side does not move the edge the other side mirrors (torch's semantics).
    if mode == "constant":
        fill = 0 if value is None else value
        out = np.pad(x, grow, mode="constant", constant_values=np.asarray(fill, dtype=x.dtype))
    elif any(g != (0, 0) for g in grow):
        out = np.pad(x, grow, mode=PAD_MODES[mode])
    else:
        out = x
    out = out[
        tuple(
            slice(max(-b, 0), n - max(-e, 0)) for n, (b, e) in zip(out.shape, widths, strict=True)
        )
    ]
    return np.array(out, copy=True) if np.shares_memory(out, x) else out


def pad_plan(
    shape: tuple[int, ...],
    pad: Sequence[int],
    mode: str = "constant",
    value: float | None = None,
    *,
    itemsize: int = 1,
) -> tuple[list[tuple[int, int]], tuple[int, ...]]:
    """Check a :func:`pad` call from the input's shape alone, with torch's errors.

    Parameters
    ----------
    shape : tuple of int
        The input's shape.
    pad, mode, value
        As for :func:`pad`.
    itemsize : int, default 1
        Bytes per element, for the check that the output's byte count fits 64 bits.

    Returns
    -------
    widths : list of (int, int)
        ``(before, after)`` for every axis of the input (negative values crop).
    out_shape : tuple of int
        The shape :func:`pad` returns.

    Raises
    ------
    ValueError, TypeError
        Exactly what :func:`pad` raises for an input of this shape; used to validate a
        padding that is applied lazily (Dask arrays) without touching any data.
    """
    shape = tuple(shape)
    ndim = len(shape)
    p = _pad_ints(pad)
    if mode not in PAD_MODES:
        raise ValueError(
            f"Unrecognised padding mode {mode} (expected one of {', '.join(PAD_MODES)})"
        )
    if len(p) % 2:
        raise ValueError("Padding length must be divisible by 2")
    if len(p) // 2 > ndim:
        raise ValueError(
            f"Padding length should be less than or equal to two times the input dimension "
            f"but got padding length {len(p)} and input of dimension {ndim}"
        )
    k = len(p) // 2  # number of padded (trailing) axes
    if mode != "constant":
        if value is not None and value != 0:  # torch refuses only a non-zero value
            raise ValueError(f'Padding mode "{mode}" doesn\'t take in value argument')
        if k not in (1, 2, 3) or ndim not in (k + 1, k + 2):
            raise ValueError(f"Padding size {len(p)} is not supported for {ndim}D input tensor.")

    # before/after amounts per axis, last axis first in ``p``
    widths = [(0, 0)] * ndim
    for i in range(k):
        widths[ndim - 1 - i] = (p[2 * i], p[2 * i + 1])
    padded_axes = range(ndim - 1, ndim - 1 - k, -1)  # last axis first, as torch checks
    out_shape = tuple(n + b + e for n, (b, e) in zip(shape, widths, strict=True))
    _check_nbytes("pad(): the output", out_shape, itemsize, "the padding")

    if mode in ("reflect", "replicate"):
        batch_axes = 1 if ndim == k + 2 else 0  # only an extra leading axis is a batch
        if any(shape[a] == 0 for a in range(batch_axes, ndim)):
            raise ValueError(
                f"Expected {k + 1}D or {k + 2}D (batch mode) tensor with possibly 0 batch "
                f"size and other non-zero dimensions for input, but got: {_size(shape)}"
            )
    for a in padded_axes:
        before, after = widths[a]
        if mode == "reflect" and (before >= shape[a] or after >= shape[a]):
            raise ValueError(
                f"Argument #{4 + 2 * (ndim - 1 - a)}: Padding size should be less than the "
                f"corresponding input dimension, but got: padding ({before}, {after}) at "
                f"dimension {a} of input {_size(shape)}"
            )
    if mode == "circular":
        for a in reversed(padded_axes):  # torch checks the outer axis first here
            before, after = widths[a]
            if before > shape[a] or after > shape[a]:
                raise ValueError("Padding value causes wrapping around more than once.")
            if out_shape[a] < 0:
                raise ValueError("Negative padding value is resulting in an empty dimension")
    if mode in ("reflect", "replicate") and all(out_shape[a] < 1 for a in padded_axes):
        # torch refuses only when every padded axis would be empty
        axes = list(reversed(padded_axes))
        labels = ["DHW"[3 - k + i] for i in range(k)]
        sizes = ", ".join(f"{lab}: {shape[a]}" for lab, a in zip(labels, axes, strict=True))
        outs = " ".join(f"{lab}: {out_shape[a]}" for lab, a in zip(labels, axes, strict=True))
        raise ValueError(f"input ({sizes}) is too small. Calculated output {outs}")
    for a in padded_axes:
        before, after = widths[a]
        size = shape[a]
        # constant crops before it pads (torch's narrow)
        kept = size + min(before, 0) + min(after, 0) if mode == "constant" else 0
        if out_shape[a] < 0 or kept < 0:
            raise ValueError(
                f"narrow(): length must be non-negative. (pad(): padding ({before}, {after}) "
                f"crops dimension {a} of size {size} to a negative size "
                f"{min(out_shape[a], kept)})"
            )
    if mode == "circular":
        for a in padded_axes:
            if out_shape[a] == 0 and max(widths[a]) > 0:
                raise ValueError(
                    f"pad(): circular padding {widths[a]} of dimension {a} (size "
                    f"{shape[a]}) leaves nothing to wrap"
                )
    if mode == "circular" and k and 0 not in out_shape:
        for a in padded_axes:
            before, after = widths[a]
            kept = max(0, shape[a] - max(-before, 0) - max(-after, 0))
            # torch reads memory it has not written yet when a pad exceeds what is left
            # after the crop; refuse rather than invent an answer
            if max(before, after) > kept:
                raise ValueError(
                    f"pad(): circular padding {widths[a]} of dimension {a} (size "
                    f"{shape[a]}) wraps more than once around the {kept} "
                    f"elements left after cropping"
                )
    return widths, out_shape
