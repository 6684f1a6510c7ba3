"""Argument normalisation and validation for conv2d, with PyTorch's rules and messages.

Everything a backend needs is decided here, once: the arrays are converted (never
modified), the parameters normalised to pairs, ``'same'`` / ``'valid'`` resolved to
explicit (possibly asymmetric) padding and the output size computed.  Backends receive a
:class:`ConvSpec` and never see the caller's raw arguments.

Error texts follow ``torch.nn.functional.conv2d`` (torch 2.13, see
``reference/pytorch-semantics.md`` section a.4); torch raises ``RuntimeError`` for most of
them, pyconv raises ``ValueError`` for bad values and shapes and ``TypeError`` for bad
types and dtypes, and sometimes appends a hint after the torch text.
"""

from __future__ import annotations

import math
import operator
from typing import NamedTuple

import numpy as np

__all__ = ["SUPPORTED_DTYPES", "ConvSpec", "prepare_conv2d", "refuse_masked"]

#: dtypes the kernels compute in; the output has the input's dtype.
SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# torch's names for the two dtypes, as its messages print them.
_TORCH_SCALAR_NAME = {np.dtype(np.float32): "Float", np.dtype(np.float64): "Double"}
_TORCH_SCALAR_TYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

_PADDING_STRINGS = ("valid", "same")

# Sizes are computed in signed 64-bit integers by the kernels (and by torch): every integer
# argument, padded size, element and byte count must fit, or the call is refused up front.
_INT64_MAX = (1 << 63) - 1
# torch's own limit, so that H + 2 * padding cannot overflow for any H torch can hold.
_MAX_PADDING = _INT64_MAX // 2


class ConvSpec(NamedTuple):
    """A validated, normalised conv2d call: everything a backend needs but the arrays.

    All sizes are for the batched problem (an unbatched call has ``batch == 1`` and
    ``unbatched == True``); the backend returns ``(batch, out_channels, *output_size)``.
    """

    batch: int
    in_channels: int
    height: int
    width: int
    out_channels: int
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    #: zero padding (top, bottom, left, right); asymmetric only for ``padding='same'``.
    padding: tuple[int, int, int, int]
    dilation: tuple[int, int]
    groups: int
    output_size: tuple[int, int]
    dtype: np.dtype
    has_bias: bool
    unbatched: bool

    @property
    def flops(self) -> int:
        """Floating-point operations of the call (2 per multiply-add, bias not counted)."""
        ho, wo = self.output_size
        kh, kw = self.kernel_size
        per_out = 2 * (self.in_channels // self.groups) * kh * kw
        return self.batch * self.out_channels * ho * wo * per_out


def _size(shape: tuple[int, ...]) -> str:
    """Format a shape as torch prints sizes in messages: [2, 5, 7, 9]."""
    return "[" + ", ".join(str(s) for s in shape) + "]"


def refuse_masked(value, name: str, who: str) -> None:
    """Refuse a ``numpy.ma.MaskedArray``: converting it would silently drop its mask."""
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(
            f"{who}(): argument '{name}' is a numpy.ma.MaskedArray; pyconv computes on plain "
            f"arrays and would ignore its mask. Pass numpy.ma.filled({name}, 0) to treat the "
            f"masked elements as zeros, or {name}.data to use the values under the mask"
        )


def _as_array(value, name: str, allow_none: bool = False) -> np.ndarray | None:
    """Convert an array-like as numpy.asarray does and check its dtype is supported."""
    if value is None:
        if allow_none:
            return None
        raise TypeError(f"conv2d(): argument '{name}' must be an array, not None")
    if isinstance(value, (str, bytes)):
        raise TypeError(f"conv2d(): argument '{name}' must be an array, not {type(value).__name__}")
    refuse_masked(value, name, "conv2d")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise TypeError(
            f"conv2d(): argument '{name}' could not be converted to an array: {exc}"
        ) from exc
    dt = arr.dtype
    if dt.kind == "f" and dt.itemsize in (4, 8) and not dt.isnative:
        arr = arr.astype(dt.newbyteorder("="))  # byte-swapped data: same values, native order
        dt = arr.dtype
    if dt not in SUPPORTED_DTYPES:
        raise TypeError(
            f"conv2d(): argument '{name}' has dtype {dt}, but pyconv computes in float32 or "
            f"float64 only; convert it first, e.g. {name}.astype(numpy.float32)"
        )
    if not arr.flags.aligned:
        # Data not aligned to its itemsize (a view into a raw byte buffer): copy it, as
        # byte-swapped data is converted.  Compiled kernels may read the caller's arrays
        # in place, and an unaligned float load is undefined behaviour in C (the sanitizer
        # build reports it; compilers' alignment peeling assumes it never happens).
        arr = arr.copy()
    return arr


def _int(value, name: str, who: str = "conv2d") -> int:
    """Read an int argument as torch's parser does: Python or NumPy integers, no bools."""
    if not isinstance(value, (bool, np.bool_)):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise TypeError(
        f"{who}(): argument '{name}' must be int, but got {type(value).__name__} ({value!r})"
    )


def _ints(value, name: str) -> tuple[int, ...]:
    """Read an int or a sequence of ints (types only; the length is checked later)."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, (tuple, list)):
        items = tuple(_int(v, name) for v in value)
    else:
        try:
            items = (_int(value, name),)
        except TypeError:
            raise TypeError(
                f"conv2d(): argument '{name}' must be an int or a tuple of 2 ints, "
                f"but got {type(value).__name__} ({value!r})"
            ) from None
    for v in items:
        _check_int64(v, name)
    return items


def _check_int64(value: int, name: str, who: str = "conv2d") -> None:
    """Refuse an int that a signed 64-bit integer cannot hold (torch: ValueError too)."""
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise ValueError(
            f"{who}(): argument '{name}' is {value}, which does not fit in a signed 64-bit "
            f"integer (torch: Overflow when unpacking long long)"
        )


def _pair(items: tuple[int, ...], name: str) -> tuple[int, int]:
    """Broadcast 1 value to 2, with torch's message for any other length."""
    if len(items) == 1:
        return items[0], items[0]
    if len(items) != 2:
        raise ValueError(
            f"expected {name} to be a single integer value or a list of 2 values to match "
            f"the convolution dimensions, but got {name}={list(items)}"
        )
    return items


def _check_bias_dtype(x: np.ndarray, b: np.ndarray | None) -> None:
    if b is not None and b.dtype != x.dtype:
        raise TypeError(
            f"Input type ({_TORCH_SCALAR_TYPE[x.dtype]}) and bias type "
            f"({_TORCH_SCALAR_TYPE[b.dtype]}) should be the same"
        )


def _check_rank(x: np.ndarray) -> None:
    if x.ndim not in (3, 4):
        raise ValueError(
            "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: "
            + _size(x.shape)
        )


def _check_nbytes(what: str, shape: tuple[int, ...], itemsize: int, hint: str) -> None:
    """Refuse an array whose size or byte count overflows a signed 64-bit integer.

    Python ints do not overflow, so this is exact.  Without it the kernels' int64 index
    arithmetic would wrap around (a huge padding could give a small, wrong output).  A
    size that fits but cannot be allocated is left to ``numpy.empty``'s ``MemoryError``,
    which names it.
    """
    count = math.prod(shape)
    if max(shape, default=0) > _INT64_MAX or count * itemsize > _INT64_MAX:
        raise ValueError(
            f"{what} would have shape {_size(shape)}: {count} elements of {itemsize} bytes = "
            f"{count * itemsize} bytes, more than a signed 64-bit byte count can hold "
            f"({_INT64_MAX}); reduce {hint}"
        )


def _check_sizes(in_shape, Hp: int, Wp: int, out_shape, itemsize: int) -> None:
    """Refuse a call whose padded input or output byte count overflows 64 bits.

    torch refuses these calls too (an allocation error, or a wrapped negative size in its
    message); pyconv says which size overflows.  The padded input counts because backends
    (the reference, the compiled kernels) materialise it or index into it.
    """
    N, C = in_shape[:2]
    _check_nbytes("conv2d(): the padded input", (N, C, Hp, Wp), itemsize, "the padding")
    _check_nbytes(
        "conv2d(): the output",
        tuple(out_shape),
        itemsize,
        "the padding, the batch or the channels, or use a larger stride",
    )


def prepare_conv2d(input, weight, bias, stride, padding, dilation, groups):
    """Validate and normalise a conv2d call.

    Parameters
    ----------
    input : array_like, shape (N, C_in, H, W) or (C_in, H, W)
    weight : array_like, shape (C_out, C_in / groups, kH, kW)
    bias : array_like, shape (C_out,), or None
    stride, dilation : int or (int, int)
    padding : int, (int, int), 'valid' or 'same'
    groups : int

    Returns
    -------
    x : ndarray, shape (N, C_in, H, W)
        The input as a (possibly non-contiguous, read-only) view; never copied unless
        ``input`` was not an ndarray of a supported dtype and byte order, or its data
        was not aligned to its itemsize.
    w : ndarray, shape (C_out, C_in / groups, kH, kW)
    b : ndarray, shape (C_out,), C-contiguous, or None
    spec : ConvSpec

    Raises
    ------
    TypeError
        Unsupported or mismatched dtypes, non-integer parameters.
    ValueError
        Any shape or value that torch rejects, with torch's message.
    """
    x = _as_array(input, "input")
    w = _as_array(weight, "weight")
    b = _as_array(bias, "bias", allow_none=True)

    # Parameter types first, as torch's argument parser does; then the checks in the order
    # torch makes them, so that a call with several problems reports the same one.
    pad_str = padding if isinstance(padding, str) else None
    pad_ints = None if pad_str is not None else _ints(padding, "padding")
    stride_ints = _ints(stride, "stride")
    dil_ints = _ints(dilation, "dilation")
    groups = _int(groups, "groups")
    _check_int64(groups, "groups")

    # With an int padding torch checks the bias dtype before anything else; with a padding
    # string (another code path) it checks the string after the input's rank and never
    # checks the bias dtype (it casts the bias).  pyconv refuses a mixed bias in both
    # cases, after every check torch makes, so that a call with several problems gets
    # the error type torch gives (tests/test_fuzz.py found the difference).
    if pad_str is None:
        _check_bias_dtype(x, b)
    _check_rank(x)
    if pad_str is not None:
        if pad_str not in _PADDING_STRINGS:
            raise ValueError(
                f"Invalid padding string: {pad_str!r} (expected 'valid' or 'same', lower-case)"
            )
        if pad_str == "same" and any(s != 1 for s in stride_ints):
            raise ValueError("padding='same' is not supported for strided convolutions")
    unbatched = x.ndim == 3
    if unbatched:
        x = x[np.newaxis]
    if groups <= 0:
        raise ValueError("non-positive groups is not supported")
    if w.ndim != 4:
        # torch reports a misleading stride-length error here; say what is wrong instead.
        raise ValueError(
            f"Expected 4-dimensional weight (out_channels, in_channels/groups, kH, kW) for "
            f"conv2d, but got {w.ndim}-dimensional weight of size {_size(w.shape)}"
        )
    sh, sw = _pair(stride_ints, "stride")
    if pad_str is None:
        ph, pw = _pair(pad_ints, "padding")
    dh, dw = _pair(dil_ints, "dilation")

    if pad_str is None and (ph < 0 or pw < 0):
        raise ValueError("negative padding is not supported")
    if sh <= 0 or sw <= 0:
        raise ValueError("non-positive stride is not supported")
    if pad_str is None:
        for dim, p in enumerate((ph, pw)):
            if p > _MAX_PADDING:
                raise ValueError(
                    f"Given padding={p} at dimension {dim} , expected padding to be at most "
                    f"{_MAX_PADDING}"
                )
    if dh < 0 or dw < 0:
        raise ValueError("dilation should be greater than zero")
    if dh == 0 or dw == 0:
        # the text of torch's own kernels; its oneDNN front end (float32, batch >= 2) says
        # "non-positive dilation is not supported" instead
        raise ValueError(f"dilation should be greater than zero, but got {_size((dh, dw))}")

    N, C, H, W = x.shape
    Co, Cig, kH, kW = w.shape
    if Co < groups:
        raise ValueError(
            f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, "
            f"but got weight of size {_size(w.shape)} instead"
        )
    if Co % groups:
        raise ValueError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{_size(w.shape)}] instead"
        )
    if Cig * groups != C:
        raise ValueError(
            f"Given groups={groups}, weight of size {_size(w.shape)}, expected "
            f"input{_size(x.shape)} to have {Cig * groups} channels, but got {C} channels instead"
        )
    if b is not None and (b.ndim != 1 or b.shape[0] != Co):
        raise ValueError(
            f"Given weight of size {_size(w.shape)}, expected bias to be 1-dimensional with "
            f"{Co} elements, but got bias of size {_size(b.shape)} instead"
        )
    if kH <= 0 or kW <= 0:
        raise ValueError(
            f"kernel size should be greater than zero, but got kernel_height: {kH} "
            f"kernel_width: {kW}"
        )

    if pad_str == "same":
        th, tw = dh * (kH - 1), dw * (kW - 1)
        pads = (th // 2, th - th // 2, tw // 2, tw - tw // 2)  # extra goes bottom / right
    elif pad_str == "valid":
        pads = (0, 0, 0, 0)
    else:
        pads = (ph, ph, pw, pw)

    Hp, Wp = H + pads[0] + pads[1], W + pads[2] + pads[3]
    ekH, ekW = dh * (kH - 1) + 1, dw * (kW - 1) + 1
    if Hp < ekH or Wp < ekW:
        raise ValueError(
            f"Calculated padded input size per channel: ({Hp} x {Wp}). Kernel size: "
            f"({ekH} x {ekW}). Kernel size can't be greater than actual input size"
        )
    if (H == 0 or W == 0) and N * C != 0:
        raise ValueError(
            "Only zero batch or zero channel inputs are supported, but got input shape: "
            + _size(x.shape)
        )
    if w.dtype != x.dtype:
        # the text of torch's own kernels; its oneDNN front end (float32, batch >= 2) says
        # "Input type (torch.FloatTensor) and weight type (torch.DoubleTensor) should be ..."
        raise TypeError(
            f"expected scalar type {_TORCH_SCALAR_NAME[x.dtype]} but found "
            f"{_TORCH_SCALAR_NAME[w.dtype]} (pyconv: input is {x.dtype}, weight is {w.dtype}; "
            "convert one with .astype())"
        )
    if pad_str is not None:
        _check_bias_dtype(x, b)

    output_size = ((Hp - ekH) // sh + 1, (Wp - ekW) // sw + 1)
    _check_sizes(x.shape, Hp, Wp, (N, Co, *output_size), x.dtype.itemsize)

    if b is not None and not b.flags.c_contiguous:
        b = np.ascontiguousarray(b)
    spec = ConvSpec(
        batch=N,
        in_channels=C,
        height=H,
        width=W,
        out_channels=Co,
        kernel_size=(kH, kW),
        stride=(sh, sw),
        padding=pads,
        dilation=(dh, dw),
        groups=groups,
        output_size=output_size,
        dtype=x.dtype,
        has_bias=b is not None,
        unbatched=unbatched,
    )
    return x, w, b, spec
