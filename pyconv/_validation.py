"""Argument normalisation and validation for every operation, with PyTorch's rules and messages.

Everything a backend needs is decided here, once: the arrays are converted (never
modified), the parameters normalised to one value per spatial dimension, ``'same'`` /
``'valid'`` resolved to explicit (possibly asymmetric) padding and the output size
computed.  Backends receive a :class:`ConvSpec` and never see the caller's raw arguments.

One N-d normaliser serves the whole family: :func:`prepare_conv` (``conv1d``, ``conv2d``,
``conv3d``), :func:`prepare_conv_transpose` (``conv_transpose1d/2d/3d``),
:func:`prepare_conv_input` and :func:`prepare_conv_weight` (the gradients of
``torch.nn.grad``).  :func:`prepare_conv2d` is ``prepare_conv`` for two spatial
dimensions, kept under its name for the many callers that validate a conv2d call.

Error texts follow torch 2.13 (see ``reference/pytorch-semantics.md`` section a.4); torch
raises ``RuntimeError`` for most of them, pyconv raises ``ValueError`` for bad values and
shapes and ``TypeError`` for bad types and dtypes, and sometimes appends a hint after the
torch text.  Where torch's text depends on which of its CPU paths runs (oneDNN for a
batch of two or more, its slow path otherwise), pyconv has one text per mistake, the same
for every operation (:func:`_check_weight_dtype`, :func:`_check_dilation`).
"""

from __future__ import annotations

import math
import operator
from typing import NamedTuple

import numpy as np

__all__ = [
    "OPERATIONS",
    "SUPPORTED_DTYPES",
    "ConvSpec",
    "operation",
    "prepare_conv",
    "prepare_conv2d",
    "prepare_conv_input",
    "prepare_conv_transpose",
    "prepare_conv_weight",
    "refuse_masked",
    "split_operation",
]

#: dtypes the kernels compute in; the output has the input's dtype.
SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: The four kinds of operation, each for 1, 2 and 3 spatial dimensions.
KINDS = ("conv", "conv_transpose", "conv_input", "conv_weight")


def operation(kind: str, ndim: int) -> str:
    """Return the operation's name: ``operation('conv_input', 2) == 'conv2d_input'``."""
    if kind == "conv":
        return f"conv{ndim}d"
    if kind == "conv_transpose":
        return f"conv_transpose{ndim}d"
    return f"conv{ndim}d_{kind[len('conv_') :]}"


#: Every operation, in the order the registry and the docs list them.
OPERATIONS = tuple(operation(kind, n) for kind in KINDS for n in (1, 2, 3))
_KIND_OF = {operation(kind, n): (kind, n) for kind in KINDS for n in (1, 2, 3)}


def split_operation(op: str) -> tuple[str, int]:
    """Return ``(kind, ndim)``: ``split_operation('conv2d_input') == ('conv_input', 2)``."""
    try:
        return _KIND_OF[op]
    except KeyError:
        raise ValueError(
            f"unknown operation {op!r}; the operations are {', '.join(OPERATIONS)}"
        ) from None


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
    """A validated, normalised call of one operation: everything a backend needs but the arrays.

    All sizes are for the batched problem (an unbatched call has ``batch == 1`` and
    ``unbatched == True``); tuples have one entry per spatial dimension (``ndim`` of them,
    depth, height, width order), ``padding`` two.

    What the fields describe depends on ``op``:

    ``conv1d``, ``conv2d``, ``conv3d``
        The call ``x (batch, in_channels, *input_size) -> (batch, out_channels,
        *output_size)``; ``padding`` is the zero padding before and after each dimension
        (asymmetric only for ``padding='same'`` with an even effective kernel).
    ``conv_transpose{n}d``
        Also the call itself: ``in_channels`` and ``input_size`` are those of its input,
        ``out_channels`` and ``output_size`` of its result (``output_padding`` included);
        ``padding`` is torch's ``padding``, ``(p, p)`` per dimension, cropped from the
        full transposed result.
    ``conv{n}d_input``, ``conv{n}d_weight``
        The forward convolution whose gradient is taken: ``input_size`` and
        ``in_channels`` are its input's (the shape ``conv{n}d_input`` returns),
        ``output_size`` and ``out_channels`` those of ``grad_output``; ``has_bias`` is
        False.  ``conv{n}d_input`` is the transposed convolution of ``grad_output``
        (:meth:`transposed` gives its spec); ``conv{n}d_weight`` returns
        ``(out_channels, in_channels / groups, *kernel_size)``.

    For ``conv2d`` the 2-D names of earlier versions still work: ``height`` and
    ``width`` (``input_size``), ``kernel_size == (kH, kW)``, ``padding == (top, bottom,
    left, right)``, ``output_size == (H_out, W_out)``.
    """

    batch: int
    in_channels: int
    input_size: tuple[int, ...]
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    #: zero padding (before, after) per spatial dimension: (top, bottom, left, right) in 2-D.
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    output_size: tuple[int, ...]
    dtype: np.dtype
    has_bias: bool
    unbatched: bool
    #: the operation, one of :data:`OPERATIONS`.
    op: str = "conv2d"
    #: ``conv_transpose{n}d`` only: extra size on the after side (zeros otherwise).
    output_padding: tuple[int, ...] = ()

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions (1, 2 or 3)."""
        return len(self.kernel_size)

    @property
    def kind(self) -> str:
        """``'conv'``, ``'conv_transpose'``, ``'conv_input'`` or ``'conv_weight'``."""
        return _KIND_OF[self.op][0]

    def _axis(self, name: str, from_end: int):
        if self.ndim < from_end:
            raise AttributeError(f"a {self.ndim}-d {self.op} call has no {name}")
        return self.input_size[self.ndim - from_end]

    @property
    def depth(self) -> int:
        """The input's depth (3-D calls only)."""
        return self._axis("depth", 3)

    @property
    def height(self) -> int:
        """The input's height (2-D and 3-D calls)."""
        return self._axis("height", 2)

    @property
    def width(self) -> int:
        """The input's width (its last spatial dimension)."""
        return self._axis("width", 1)

    @property
    def flops(self) -> int:
        """Floating-point operations of the call (2 per multiply-add, bias not counted)."""
        cin, cout = self.in_channels, self.out_channels
        if self.kind == "conv_transpose":  # every input element meets every tap once
            return (
                2
                * self.batch
                * cin
                * math.prod(self.input_size)
                * (cout // self.groups)
                * (math.prod(self.kernel_size))
            )
        per_out = 2 * (cin // self.groups) * math.prod(self.kernel_size)
        return self.batch * cout * math.prod(self.output_size) * per_out

    def transposed(self) -> ConvSpec:
        """For ``conv{n}d_input``: the spec of the transposed convolution it computes.

        ``grad_output`` is its input and the gradient its result; the output padding is
        the one that gives back ``input_size`` (always below the stride).
        """
        if self.kind != "conv_input":
            raise ValueError(f"transposed() applies to conv{{n}}d_input specs, not {self.op}")
        full = tuple(
            (o - 1) * s + d * (k - 1) + 1 - self.padding[2 * i] - self.padding[2 * i + 1]
            for i, (o, s, d, k) in enumerate(
                zip(self.output_size, self.stride, self.dilation, self.kernel_size, strict=True)
            )
        )
        return self._replace(
            op=operation("conv_transpose", self.ndim),
            in_channels=self.out_channels,
            out_channels=self.in_channels,
            input_size=self.output_size,
            output_size=self.input_size,
            output_padding=tuple(i - f for i, f in zip(self.input_size, full, strict=True)),
        )


def _size(shape: tuple[int, ...]) -> str:
    """Format a shape as torch prints sizes in messages: [2, 5, 7, 9]."""
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _torch_size(shape) -> str:
    """Format a shape as torch prints a ``torch.Size``: torch.Size([5, 5])."""
    return f"torch.Size({_size(tuple(shape))})"


def refuse_masked(value, name: str, who: str) -> None:
    """Refuse a ``numpy.ma.MaskedArray``: converting it would silently drop its mask."""
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(
            f"{who}(): argument '{name}' is a numpy.ma.MaskedArray; pyconv computes on plain "
            f"arrays and would ignore its mask. Pass numpy.ma.filled({name}, 0) to treat the "
            f"masked elements as zeros, or {name}.data to use the values under the mask"
        )


def _as_array(value, name: str, allow_none: bool = False, who: str = "conv2d") -> np.ndarray | None:
    """Convert an array-like as numpy.asarray does and check its dtype is supported."""
    if value is None:
        if allow_none:
            return None
        raise TypeError(f"{who}(): argument '{name}' must be an array, not None")
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{who}(): argument '{name}' must be an array, not {type(value).__name__}")
    refuse_masked(value, name, who)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise TypeError(
            f"{who}(): argument '{name}' could not be converted to an array: {exc}"
        ) from exc
    dt = arr.dtype
    if dt.kind == "f" and dt.itemsize in (4, 8) and not dt.isnative:
        arr = arr.astype(dt.newbyteorder("="))  # byte-swapped data: same values, native order
        dt = arr.dtype
    if dt not in SUPPORTED_DTYPES:
        raise TypeError(
            f"{who}(): argument '{name}' has dtype {dt}, but pyconv computes in float32 or "
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


def _ints(value, name: str, who: str = "conv2d", n: int = 2) -> tuple[int, ...]:
    """Read an int or a sequence of ints (types only; the length is checked later)."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, (tuple, list)):
        items = tuple(_int(v, name, who) for v in value)
    else:
        try:
            items = (_int(value, name, who),)
        except TypeError:
            raise TypeError(
                f"{who}(): argument '{name}' must be an int or a tuple of {n} ints, "
                f"but got {type(value).__name__} ({value!r})"
            ) from None
    for v in items:
        _check_int64(v, name, who)
    return items


def _check_int64(value: int, name: str, who: str = "conv2d") -> None:
    """Refuse an int that a signed 64-bit integer cannot hold (torch: ValueError too)."""
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise ValueError(
            f"{who}(): argument '{name}' is {value}, which does not fit in a signed 64-bit "
            f"integer (torch: Overflow when unpacking long long)"
        )


def _ntuple(items: tuple[int, ...], name: str, n: int) -> tuple[int, ...]:
    """Broadcast 1 value to ``n``, with torch's message for any other length."""
    if len(items) == 1:
        return items * n
    if len(items) != n:
        raise ValueError(
            f"expected {name} to be a single integer value or a list of {n} values to match "
            f"the convolution dimensions, but got {name}={list(items)}"
        )
    return items


def _pair(items: tuple[int, ...], name: str) -> tuple[int, int]:
    """Broadcast 1 value to 2, with torch's message for any other length."""
    a, b = _ntuple(items, name, 2)
    return a, b


def _view2d(values: tuple[int, ...], fill: int) -> tuple[int, ...]:
    """Torch runs 1-d convolutions as 2-d ones: its messages show a leading ``fill``."""
    return (fill, *values) if len(values) == 1 else tuple(values)


def _named(prefix: str, values: tuple[int, ...], sep: str = " ") -> str:
    """Torch's ``kernel_height: 3 kernel_width: 3`` style (with depth for 3-d)."""
    names = ("depth", "height", "width")[3 - len(values) :]
    return sep.join(f"{prefix}_{nm}: {v}" for nm, v in zip(names, values, strict=True))


def _by(values) -> str:
    """Torch's ``(2 x 5 x 5)``."""
    return "(" + " x ".join(str(v) for v in values) + ")"


def _check_bias_dtype(x: np.ndarray, b: np.ndarray | None) -> None:
    if b is not None and b.dtype != x.dtype:
        raise TypeError(
            f"Input type ({_TORCH_SCALAR_TYPE[x.dtype]}) and bias type "
            f"({_TORCH_SCALAR_TYPE[b.dtype]}) should be the same"
        )


def _check_weight_dtype(x: np.ndarray, w: np.ndarray) -> None:
    """One text for an input / weight dtype mismatch, whatever the operation.

    The text of torch's own kernels; its oneDNN front end (float32, batch >= 2) says
    "Input type (torch.FloatTensor) and weight type (torch.DoubleTensor) should be ..."
    instead.
    """
    if w.dtype != x.dtype:
        raise TypeError(
            f"expected scalar type {_TORCH_SCALAR_NAME[x.dtype]} but found "
            f"{_TORCH_SCALAR_NAME[w.dtype]} (pyconv: input is {x.dtype}, weight is {w.dtype}; "
            "convert one with .astype())"
        )


def _check_scalar_types(first: np.ndarray, second: np.ndarray, names: tuple[str, str]) -> None:
    """Check the gradients' dtypes (torch: ``expected scalar type Float but found Double``)."""
    if first.dtype != second.dtype:
        raise TypeError(
            f"expected scalar type {_TORCH_SCALAR_NAME[first.dtype]} but found "
            f"{_TORCH_SCALAR_NAME[second.dtype]} (pyconv: {names[0]} is {first.dtype}, "
            f"{names[1]} is {second.dtype}; convert one with .astype())"
        )


def _check_dilation(dilation: tuple[int, ...], transposed: bool = False) -> None:
    """Torch's two dilation checks, with the texts of torch's own kernels.

    Its oneDNN front end (float32, batch >= 2) says "non-positive dilation is not
    supported" for a zero dilation instead; the transposed kernels name each dimension;
    1-d calls show the 2-d view torch computes them in.
    """
    if any(d < 0 for d in dilation):
        raise ValueError("dilation should be greater than zero")
    if any(d == 0 for d in dilation):
        got = (
            _named("dilation", _view2d(dilation, 1), sep=", ")
            if transposed
            else _size(_view2d(dilation, 1))
        )
        raise ValueError(f"dilation should be greater than zero, but got {got}")


def _check_rank(x: np.ndarray, n: int = 2, who: str = "conv2d") -> None:
    if x.ndim not in (n + 1, n + 2):
        raise ValueError(
            f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to {who}, but got "
            "input of size: " + _size(x.shape)
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


def _check_sizes(who: str, padded_shape, out_shape, itemsize: int) -> None:
    """Refuse a call whose padded input or output byte count overflows 64 bits.

    torch refuses these calls too (an allocation error, or a wrapped negative size in its
    message); pyconv says which size overflows.  The padded input counts because backends
    (the reference, the compiled kernels) materialise it or index into it.
    """
    _check_nbytes(f"{who}(): the padded input", tuple(padded_shape), itemsize, "the padding")
    _check_nbytes(
        f"{who}(): the output",
        tuple(out_shape),
        itemsize,
        "the padding, the batch or the channels, or use a larger stride",
    )


def _check_kernel_positive(kernel: tuple[int, ...], transposed: bool, w_shape) -> None:
    if all(k > 0 for k in kernel):
        return
    if len(kernel) == 3:
        if transposed:
            raise ValueError(
                "non-empty 5D (n_output_plane x n_input_plane x kernel_depth x kernel_height x "
                f"kernel_width) tensor expected for weight, but got: {_size(w_shape)}"
            )
        raise ValueError(
            f"kernel size should be greater than zero, but got: {' x '.join(map(str, kernel))} "
            "(TxHxW)"
        )
    raise ValueError(
        "kernel size should be greater than zero, but got " + _named("kernel", _view2d(kernel, 1))
    )


def _check_groups_weight(groups: int, w_shape: tuple[int, ...]) -> None:
    """Torch's checks of the weight's first dimension against ``groups``."""
    if w_shape[0] < groups:
        raise ValueError(
            f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, "
            f"but got weight of size {_size(w_shape)} instead"
        )
    if w_shape[0] % groups:
        raise ValueError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{_size(w_shape)}] instead"
        )


def _check_weight_rank(w: np.ndarray, n: int, who: str, name: str = "weight") -> None:
    if w.ndim != n + 2:
        # torch reports a misleading stride-length error here; say what is wrong instead.
        kernel = ", ".join(("kD", "kH", "kW")[3 - n :])
        raise ValueError(
            f"Expected {n + 2}-dimensional {name} (out_channels, in_channels/groups, {kernel}) "
            f"for {who}, but got {w.ndim}-dimensional {name} of size {_size(w.shape)}"
        )


def _read_common(who, n, stride, padding, dilation, groups, allow_strings=True):
    """Parameter types first, as torch's argument parser reads them."""
    pad_str = padding if isinstance(padding, str) else None
    if pad_str is not None and not allow_strings:
        raise TypeError(f"{who}(): argument 'padding' must be tuple of ints, not str")
    pad_ints = None if pad_str is not None else _ints(padding, "padding", who, n)
    stride_ints = _ints(stride, "stride", who, n)
    dil_ints = _ints(dilation, "dilation", who, n)
    groups = _int(groups, "groups", who)
    _check_int64(groups, "groups", who)
    return pad_str, pad_ints, stride_ints, dil_ints, groups


def _check_padding_values(padding: tuple[int, ...]) -> None:
    if any(p < 0 for p in padding):
        raise ValueError("negative padding is not supported")


def _check_padding_max(padding: tuple[int, ...]) -> None:
    for dim, p in enumerate(padding):
        if p > _MAX_PADDING:
            raise ValueError(
                f"Given padding={p} at dimension {dim} , expected padding to be at most "
                f"{_MAX_PADDING}"
            )


def _check_fits(padded: tuple[int, ...], effective: tuple[int, ...]) -> None:
    if any(p < e for p, e in zip(padded, effective, strict=True)):
        raise ValueError(
            f"Calculated padded input size per channel: {_by(padded)}. Kernel size: "
            f"{_by(effective)}. Kernel size can't be greater than actual input size"
        )


def _conv_output_size(size, pads, kernel, stride, dilation) -> tuple[int, ...]:
    """Torch's ``floor((L + pad_before + pad_after - d (k - 1) - 1) / s) + 1`` per dimension."""
    return tuple(
        (L + pads[2 * i] + pads[2 * i + 1] - d * (k - 1) - 1) // s + 1
        for i, (L, k, s, d) in enumerate(zip(size, kernel, stride, dilation, strict=True))
    )


def prepare_conv(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, ndim: int = 2
):
    """Validate and normalise a ``conv1d`` / ``conv2d`` / ``conv3d`` call.

    Parameters
    ----------
    input : array_like, shape (N, C_in, *spatial) or (C_in, *spatial)
        ``ndim`` spatial dimensions.
    weight : array_like, shape (C_out, C_in / groups, *kernel)
    bias : array_like, shape (C_out,), or None
    stride, dilation : int or tuple of ``ndim`` ints
    padding : int, tuple of ``ndim`` ints, 'valid' or 'same'
    groups : int
    ndim : {1, 2, 3}
        Spatial dimensions: which of conv1d, conv2d, conv3d is called.

    Returns
    -------
    x : ndarray, shape (N, C_in, *spatial)
        The input as a (possibly non-contiguous, read-only) view; never copied unless
        ``input`` was not an ndarray of a supported dtype and byte order, or its data
        was not aligned to its itemsize.
    w : ndarray, shape (C_out, C_in / groups, *kernel)
    b : ndarray, shape (C_out,), C-contiguous, or None
    spec : ConvSpec

    Raises
    ------
    TypeError
        Unsupported or mismatched dtypes, non-integer parameters.
    ValueError
        Any shape or value that torch rejects, with torch's message.
    """
    n = ndim
    who = operation("conv", n)
    x = _as_array(input, "input", who=who)
    w = _as_array(weight, "weight", who=who)
    b = _as_array(bias, "bias", allow_none=True, who=who)
    assert x is not None
    assert w is not None

    # Parameter types first, as torch's argument parser does; then the checks in the order
    # torch makes them, so that a call with several problems reports the same one.
    pad_str, pad_ints, stride_ints, dil_ints, groups = _read_common(
        who, n, stride, padding, dilation, groups
    )

    # With an int padding torch checks the bias dtype before anything else; with a padding
    # string (another code path) it checks the string after the input's rank and never
    # checks the bias dtype (it casts the bias).  pyconv refuses a mixed bias in both
    # cases, after every check torch makes, so that a call with several problems gets
    # the error type torch gives (tests/test_fuzz.py found the difference).
    if pad_str is None:
        _check_bias_dtype(x, b)
    _check_rank(x, n, who)
    if pad_str is not None:
        if pad_str not in _PADDING_STRINGS:
            raise ValueError(
                f"Invalid padding string: {pad_str!r} (expected 'valid' or 'same', lower-case)"
            )
        if pad_str == "same" and any(s != 1 for s in stride_ints):
            raise ValueError("padding='same' is not supported for strided convolutions")
    unbatched = x.ndim == n + 1
    if unbatched:
        x = x[np.newaxis]
    if groups <= 0:
        raise ValueError("non-positive groups is not supported")
    _check_weight_rank(w, n, who)
    st = _ntuple(stride_ints, "stride", n)
    if pad_ints is not None:
        pd = _ntuple(pad_ints, "padding", n)
    dl = _ntuple(dil_ints, "dilation", n)

    if pad_ints is not None:
        _check_padding_values(pd)
    if any(s <= 0 for s in st):
        raise ValueError("non-positive stride is not supported")
    if pad_ints is not None:
        _check_padding_max(pd)
    _check_dilation(dl)

    N, C, *size = x.shape
    Co, Cig, *kernel = w.shape
    _check_groups_weight(groups, w.shape)
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
    _check_kernel_positive(tuple(kernel), False, w.shape)

    pads: tuple[int, ...]
    if pad_str == "same":
        pads = ()
        for d, k in zip(dl, kernel, strict=True):
            total = d * (k - 1)
            pads += (total // 2, total - total // 2)  # the extra goes after (bottom / right)
    elif pad_str == "valid":
        pads = (0,) * (2 * n)
    else:
        pads = tuple(p for p in pd for _ in range(2))

    padded = tuple(L + pads[2 * i] + pads[2 * i + 1] for i, L in enumerate(size))
    effective = tuple(d * (k - 1) + 1 for d, k in zip(dl, kernel, strict=True))
    _check_fits(padded, effective)
    if 0 in size and N * C != 0:
        raise ValueError(
            "Only zero batch or zero channel inputs are supported, but got input shape: "
            + _size(x.shape)
        )
    _check_weight_dtype(x, w)
    if pad_str is not None:
        _check_bias_dtype(x, b)

    output_size = _conv_output_size(size, pads, kernel, st, dl)
    _check_sizes(who, (N, C, *padded), (N, Co, *output_size), x.dtype.itemsize)

    if b is not None and not b.flags.c_contiguous:
        b = np.ascontiguousarray(b)
    spec = ConvSpec(
        batch=N,
        in_channels=C,
        input_size=tuple(size),
        out_channels=Co,
        kernel_size=tuple(kernel),
        stride=st,
        padding=pads,
        dilation=dl,
        groups=groups,
        output_size=output_size,
        dtype=x.dtype,
        has_bias=b is not None,
        unbatched=unbatched,
        op=who,
        output_padding=(0,) * n,
    )
    return x, w, b, spec


def prepare_conv2d(input, weight, bias, stride, padding, dilation, groups):
    """Validate and normalise a conv2d call: :func:`prepare_conv` with ``ndim=2``.

    Returns
    -------
    x : ndarray, shape (N, C_in, H, W)
    w : ndarray, shape (C_out, C_in / groups, kH, kW)
    b : ndarray, shape (C_out,), C-contiguous, or None
    spec : ConvSpec
    """
    return prepare_conv(input, weight, bias, stride, padding, dilation, groups, ndim=2)


def _transpose_full_size(size, kernel, stride, dilation) -> tuple[int, ...]:
    """Length of the uncropped transposed result: ``(L - 1) s + d (k - 1) + 1``."""
    return tuple(
        (L - 1) * s + d * (k - 1) + 1
        for L, k, s, d in zip(size, kernel, stride, dilation, strict=True)
    )


def prepare_conv_transpose(
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    *,
    ndim: int = 2,
):
    """Validate and normalise a ``conv_transpose1d`` / ``2d`` / ``3d`` call.

    Parameters
    ----------
    input : array_like, shape (N, C_in, *spatial) or (C_in, *spatial)
    weight : array_like, shape (C_in, C_out / groups, *kernel)
    bias : array_like, shape (C_out,), or None
    stride, padding, output_padding, dilation : int or tuple of ``ndim`` ints
        As torch takes them; padding strings are refused, as torch does.
    groups : int
    ndim : {1, 2, 3}

    Returns
    -------
    x : ndarray, shape (N, C_in, *spatial)
    w : ndarray, shape (C_in, C_out / groups, *kernel)
    b : ndarray, shape (C_out,), C-contiguous, or None
    spec : ConvSpec
        ``output_size[i] = (L_i - 1) stride_i - 2 padding_i + dilation_i (k_i - 1) +
        output_padding_i + 1``.

    Raises
    ------
    TypeError, ValueError
        As torch, with its messages (see the module docstring).
    """
    n = ndim
    who = operation("conv_transpose", n)
    x = _as_array(input, "input", who=who)
    w = _as_array(weight, "weight", who=who)
    b = _as_array(bias, "bias", allow_none=True, who=who)
    assert x is not None
    assert w is not None
    _, pad_ints, stride_ints, dil_ints, groups = _read_common(
        who, n, stride, padding, dilation, groups, allow_strings=False
    )
    op_ints = _ints(output_padding, "output_padding", who, n)

    _check_rank(x, n, who)
    unbatched = x.ndim == n + 1
    if unbatched:
        x = x[np.newaxis]
    if groups <= 0:
        raise ValueError("non-positive groups is not supported")
    if w.ndim != n + 2:
        kernel_names = ", ".join(("kD", "kH", "kW")[3 - n :])
        raise ValueError(
            f"Expected {n + 2}-dimensional weight (in_channels, out_channels/groups, "
            f"{kernel_names}) for {who}, but got {w.ndim}-dimensional weight of size "
            f"{_size(w.shape)}"
        )
    st = _ntuple(stride_ints, "stride", n)
    pd = _ntuple(pad_ints, "padding", n)
    opd = _ntuple(op_ints, "output_padding", n)
    dl = _ntuple(dil_ints, "dilation", n)
    _check_padding_values(pd)
    if any(p < 0 for p in opd):
        raise ValueError("negative output_padding is not supported")
    if any(s <= 0 for s in st):
        raise ValueError("non-positive stride is not supported")
    _check_padding_max(pd)
    _check_dilation(dl, transposed=True)

    N, C, *size = x.shape
    Ci, Cog, *kernel = w.shape
    _check_groups_weight(groups, w.shape)
    if Ci != C:
        raise ValueError(
            f"Given transposed=1, weight of size {_size(w.shape)}, expected input"
            f"{_size(x.shape)} to have {Ci} channels, but got {C} channels instead"
        )
    Co = Cog * groups
    if b is not None and (b.ndim != 1 or b.shape[0] != Co):
        raise ValueError(
            f"Given transposed=1, weight of size {_size(w.shape)}, expected bias to be "
            f"1-dimensional with {Co} elements, but got bias of size {_size(b.shape)} instead"
        )
    if Cog == 0:
        if n == 3:
            _check_kernel_positive((0, 0, 0), True, w.shape)
        raise ValueError(
            "non-empty 2D or 4D weight tensor expected, but got: "
            + _size(_view2d_shape(w.shape, n))
        )
    _check_kernel_positive(tuple(kernel), True, w.shape)
    if any(o >= s and o >= d for o, s, d in zip(opd, st, dl, strict=True)):
        raise ValueError(
            "output padding must be smaller than either stride or dilation, but got "
            + " ".join(
                (
                    _named("output_padding", _view2d(opd, 0)),
                    _named("stride", _view2d(st, 1)),
                    _named("dilation", _view2d(dl, 1)),
                )
            )
        )
    full = _transpose_full_size(size, kernel, st, dl)
    output_size = tuple(f - 2 * p + o for f, p, o in zip(full, pd, opd, strict=True))
    # (torch lets an empty batch through with an empty output dimension)
    if any(o < 1 for o in output_size) and not (N == 0 and min(output_size) == 0):
        raise ValueError(
            f"Given input size per channel: {_by(_view2d(tuple(size), 1))}. Calculated output "
            f"size per channel: {_by(_view2d(output_size, 1))}. Output size is too small"
        )
    if 0 in size and N * C != 0:
        raise ValueError(
            "Only zero batch or zero channel inputs are supported, but got input shape: "
            + _size(_view2d_shape(x.shape, n))
        )
    _check_weight_dtype(x, w)
    # torch casts a bias of another dtype here; pyconv refuses it, after every check torch
    # makes, so that a call with several problems gets the error torch gives
    _check_bias_dtype(x, b)
    # the reference and the phase decomposition build the uncropped result
    _check_sizes(
        who,
        (N, Co, *(max(f, o + p) for f, o, p in zip(full, output_size, pd, strict=True))),
        (N, Co, *output_size),
        x.dtype.itemsize,
    )

    if b is not None and not b.flags.c_contiguous:
        b = np.ascontiguousarray(b)
    spec = ConvSpec(
        batch=N,
        in_channels=C,
        input_size=tuple(size),
        out_channels=Co,
        kernel_size=tuple(kernel),
        stride=st,
        padding=tuple(p for p in pd for _ in range(2)),
        dilation=dl,
        groups=groups,
        output_size=output_size,
        dtype=x.dtype,
        has_bias=b is not None,
        unbatched=unbatched,
        op=who,
        output_padding=opd,
    )
    return x, w, b, spec


def _view2d_shape(shape, n: int) -> tuple[int, ...]:
    """Return a 1-d call's array shape as torch's 2-d code prints it (a 1 inserted)."""
    shape = tuple(shape)
    return (*shape[:-1], 1, shape[-1]) if n == 1 else shape


def _read_size(value, name: str, who: str) -> tuple[int, ...]:
    """Read ``input_size`` / ``weight_size``: a sequence of non-negative ints."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(
            f"{who}(): argument '{name}' must be a sequence of ints (a shape), but got "
            f"{type(value).__name__} ({value!r})"
        )
    items = tuple(_int(v, name, who) for v in value)
    if any(v < 0 for v in items):
        raise ValueError(f"{who}(): argument '{name}' must hold sizes >= 0, but got {_size(items)}")
    for v in items:
        _check_int64(v, name, who)
    return items


def _check_grad_output(go: np.ndarray, expected: tuple[int, ...], fwd: str, what: str) -> None:
    """Torch's check that ``grad_output`` has the forward output's shape, dim by dim."""
    if go.ndim != len(expected):
        raise ValueError(
            f"Expected input and grad_output to have the same number of dimensions, but got: "
            f"{len(expected)} and {go.ndim}"
        )
    for dim, (got, want) in enumerate(zip(go.shape, expected, strict=True)):
        if got != want:
            raise ValueError(
                f"Expected a tensor of dimension {len(expected)} and tensor.size[{dim}] == "
                f"{want} but got: dimension {go.ndim} and tensor.size[{dim}] = {got} "
                f"(pyconv: grad_output has shape {_size(go.shape)}, but {fwd} of {what} "
                f"gives {_size(expected)})"
            )


def _grad_geometry(who, n, in_shape, w_shape, stride, padding, dilation, groups, names):
    """Make the checks the gradients share with the forward call (torch's order), no arrays.

    ``names``: what the caller calls the input's and the weight's shapes, for the hints.
    """
    _, pad_ints, stride_ints, dil_ints, groups = _read_common(
        who, n, stride, padding, dilation, groups, allow_strings=False
    )
    if len(w_shape) != n + 2:
        kernel = ", ".join(("kD", "kH", "kW")[3 - n :])
        raise ValueError(
            f"Expected {n + 2}-dimensional {names[1]} (out_channels, in_channels/groups, "
            f"{kernel}) for {who}, but got {len(w_shape)}-dimensional {names[1]} "
            f"{_size(w_shape)}"
        )
    if len(in_shape) != n + 2:
        hint = (
            f" (pyconv: {who} takes a batch, as torch does: add the batch axis to {names[0]})"
            if len(in_shape) == n + 1
            else ""
        )
        raise ValueError(
            f"Expected {n + 2}-dimensional input for {n + 2}-dimensional weight "
            f"{_size(w_shape)}, but got {len(in_shape)}-dimensional input of size "
            f"{_size(in_shape)} instead{hint}"
        )
    if groups <= 0:  # torch's convolution_backward words it so
        raise ValueError(f"expected groups to be greater than 0, but got groups={groups}")
    st = _ntuple(stride_ints, "stride", n)
    pd = _ntuple(pad_ints, "padding", n)
    dl = _ntuple(dil_ints, "dilation", n)
    _check_padding_values(pd)
    if any(s <= 0 for s in st):
        raise ValueError("non-positive stride is not supported")
    _check_padding_max(pd)
    _check_dilation(dl)
    N, C, *size = in_shape
    _Co, Cig, *kernel = w_shape
    _check_groups_weight(groups, tuple(w_shape))
    if Cig * groups != C:
        raise ValueError(
            f"Given groups={groups}, weight of size {_size(w_shape)}, expected "
            f"input{_size(in_shape)} to have {Cig * groups} channels, but got {C} channels "
            "instead"
        )
    _check_kernel_positive(tuple(kernel), False, w_shape)
    pads = tuple(p for p in pd for _ in range(2))
    padded = tuple(L + 2 * p for L, p in zip(size, pd, strict=True))
    _check_fits(padded, tuple(d * (k - 1) + 1 for d, k in zip(dl, kernel, strict=True)))
    if 0 in size and N * C != 0:
        raise ValueError(
            "Only zero batch or zero channel inputs are supported, but got input shape: "
            + _size(in_shape)
        )
    output_size = _conv_output_size(size, pads, kernel, st, dl)
    return st, pads, dl, groups, tuple(size), tuple(kernel), padded, output_size


def prepare_conv_input(
    input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1, *, ndim: int = 2
):
    """Validate and normalise a ``torch.nn.grad.conv{n}d_input`` call.

    Parameters
    ----------
    input_size : sequence of int, (N, C_in, *spatial)
        The shape of the forward call's input (batched, as torch requires).
    weight : array_like, shape (C_out, C_in / groups, *kernel)
    grad_output : array_like, shape (N, C_out, *out_spatial)
        The forward output's shape.
    stride, padding, dilation : int or tuple of ``ndim`` ints
    groups : int
    ndim : {1, 2, 3}

    Returns
    -------
    w : ndarray, shape (C_out, C_in / groups, *kernel)
    go : ndarray, shape (N, C_out, *out_spatial)
    spec : ConvSpec
        The forward convolution's geometry (``op == 'conv{n}d_input'``).
    """
    n = ndim
    who = operation("conv_input", n)
    fwd = operation("conv", n)
    sizes = _read_size(input_size, "input_size", who)
    w = _as_array(weight, "weight", who=who)
    go = _as_array(grad_output, "grad_output", who=who)
    assert w is not None
    assert go is not None
    st, pads, dl, groups, size, kernel, padded, output_size = _grad_geometry(
        who, n, sizes, w.shape, stride, padding, dilation, groups, ("input_size", "weight")
    )
    N, C = sizes[:2]
    Co = w.shape[0]
    expected = (N, Co, *output_size)
    _check_grad_output(go, expected, fwd, f"an input of size {_size(sizes)}")
    _check_scalar_types(go, w, ("grad_output", "weight"))
    _check_sizes(who, (N, C, *padded), sizes, go.dtype.itemsize)
    spec = ConvSpec(
        batch=N,
        in_channels=C,
        input_size=size,
        out_channels=Co,
        kernel_size=kernel,
        stride=st,
        padding=pads,
        dilation=dl,
        groups=groups,
        output_size=output_size,
        dtype=go.dtype,
        has_bias=False,
        unbatched=False,
        op=who,
        output_padding=(0,) * n,
    )
    return w, go, spec


def prepare_conv_weight(
    input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1, *, ndim: int = 2
):
    """Validate and normalise a ``torch.nn.grad.conv{n}d_weight`` call.

    Parameters
    ----------
    input : array_like, shape (N, C_in, *spatial)
        The forward call's input (batched, as torch requires).
    weight_size : sequence of int, (C_out, C_in / groups, *kernel)
    grad_output : array_like, shape (N, C_out, *out_spatial)
    stride, padding, dilation : int or tuple of ``ndim`` ints
    groups : int
    ndim : {1, 2, 3}

    Returns
    -------
    x : ndarray, shape (N, C_in, *spatial)
    go : ndarray, shape (N, C_out, *out_spatial)
    spec : ConvSpec
        The forward convolution's geometry (``op == 'conv{n}d_weight'``).
    """
    n = ndim
    who = operation("conv_weight", n)
    fwd = operation("conv", n)
    x = _as_array(input, "input", who=who)
    wsize = _read_size(weight_size, "weight_size", who)
    go = _as_array(grad_output, "grad_output", who=who)
    assert x is not None
    assert go is not None
    st, pads, dl, groups, size, kernel, padded, output_size = _grad_geometry(
        who, n, x.shape, wsize, stride, padding, dilation, groups, ("input", "weight_size")
    )
    N, C = x.shape[:2]
    Co = wsize[0]
    expected = (N, Co, *output_size)
    _check_grad_output(go, expected, fwd, f"an input of size {_size(x.shape)}")
    _check_scalar_types(x, go, ("input", "grad_output"))
    _check_sizes(who, (N, C, *padded), wsize, x.dtype.itemsize)
    spec = ConvSpec(
        batch=N,
        in_channels=C,
        input_size=size,
        out_channels=Co,
        kernel_size=kernel,
        stride=st,
        padding=pads,
        dilation=dl,
        groups=groups,
        output_size=output_size,
        dtype=x.dtype,
        has_bias=False,
        unbatched=False,
        op=who,
        output_padding=(0,) * n,
    )
    return x, go, spec
