"""The convolution layers, as ``torch.nn`` has them; and the layers to build a CNN around them.

``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d``: one base class holds what they share with
torch (argument checks and their messages, the initial distribution, ``repr``, checked
``weight`` / ``bias`` assignment, ``state_dict`` / ``load_state_dict`` from arrays,
``.npz`` or ``.safetensors`` files); each layer fixes the number of spatial dimensions and
which function of :mod:`pyconv.functional` it calls.

The other layers (pooling, ``ReLU``, ``Flatten``, ``Linear``, ``BatchNorm2d``) live in
:mod:`pyconv.layers`, ``Module`` and ``Sequential`` in ``pyconv._module``; they are
re-exported here, so that ``pyconv.nn`` reads like ``torch.nn``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import functional
from ._foreign import is_dask_array, torch_if_tensor
from ._module import Identity, Module, Sequential
from ._state import IncompatibleKeys, load_state
from ._validation import _int, _torch_size, refuse_masked
from .layers import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    BatchNorm2d,
    Flatten,
    Linear,
    MaxPool1d,
    MaxPool2d,
    ReLU,
)
from .padding import pad

__all__ = [
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "BatchNorm2d",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "Flatten",
    "Identity",
    "IncompatibleKeys",
    "Linear",
    "MaxPool1d",
    "MaxPool2d",
    "Module",
    "ReLU",
    "Sequential",
]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_PADDING_STRINGS = ("valid", "same")


def _ntuple(value, name: str, n: int, who: str) -> tuple:
    """Torch's ``_single`` / ``_pair`` / ``_triple``: an int repeated; a sequence kept (ints)."""
    if isinstance(value, (tuple, list)):
        items = tuple(_int(v, name, who) for v in value)
        if len(items) == 1:  # torch keeps (k,) and fails later; broadcast as the function does
            return items * n
        return items
    v = _int(value, name, who)
    return (v,) * n


class _ConvNd:
    """What every layer shares; subclasses set ``_ndim`` and ``_transposed``."""

    _ndim = 2
    _transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride,
        padding,
        dilation,
        groups: int,
        bias: bool,
        padding_mode: str,
        output_padding=0,
        *,
        dtype=np.float32,
        rng: np.random.Generator | int | None = None,
        backend: Any = None,
    ) -> None:
        who = type(self).__name__
        n = self._ndim
        in_channels = _int(in_channels, "in_channels", who)
        out_channels = _int(out_channels, "out_channels", who)
        groups = _int(groups, "groups", who)
        self._check_transposed(padding_mode, padding)
        # torch's checks, in torch's order and words
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        stride_t = _ntuple(stride, "stride", n, who)
        if isinstance(padding, str):
            if padding not in _PADDING_STRINGS:
                raise ValueError(
                    f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}"
                )
            if padding == "same" and any(s != 1 for s in stride_t):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                "padding_mode must be one of {'zeros', 'reflect', 'replicate', 'circular'}, "
                f"but got padding_mode={padding_mode!r}"
            )
        if in_channels < 0 or out_channels < 0:
            raise ValueError(
                f"{who}(): channel counts must be >= 0, but got in_channels={in_channels}, "
                f"out_channels={out_channels}"
            )
        kernel_t = _ntuple(kernel_size, "kernel_size", n, who)
        dilation_t = _ntuple(dilation, "dilation", n, who)
        padding_v = padding if isinstance(padding, str) else _ntuple(padding, "padding", n, who)
        output_padding_t = _ntuple(output_padding, "output_padding", n, who)
        lengths = [("kernel_size", kernel_t), ("stride", stride_t), ("dilation", dilation_t)]
        if not isinstance(padding_v, str):
            lengths.append(("padding", padding_v))
        if self._transposed:
            lengths.append(("output_padding", output_padding_t))
        for name, v in lengths:
            if len(v) != n:
                ints = "an int" if n == 1 else f"an int or {n} ints"
                raise ValueError(f"{who}(): {name} must be {ints}, but got {v}")
        if any(k < 0 for k in kernel_t):
            raise ValueError(f"{who}(): kernel_size must be >= 0, but got {kernel_t}")
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"{who}(): dtype must be float32 or float64, but got {dtype}")

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_t
        self.stride = stride_t
        self.padding = padding_v
        self.dilation = dilation_t
        if self._transposed:
            self.output_padding = output_padding_t
        self.groups = groups
        self.padding_mode = padding_mode
        self.dtype = dtype
        self.backend = backend
        # F.pad's argument for non-zeros modes: (before, after) per dimension, last first
        pads: list[int] = []
        for i in reversed(range(n)):
            if isinstance(padding_v, tuple):
                pads += [padding_v[i], padding_v[i]]
            elif padding_v == "same":
                total = dilation_t[i] * (kernel_t[i] - 1)
                pads += [total // 2, total - total // 2]
            else:  # 'valid'
                pads += [0, 0]
        self._reversed_padding_repeated_twice = tuple(pads)

        if self._transposed:
            self._weight_shape = (in_channels, out_channels // groups, *kernel_t)
        else:
            self._weight_shape = (out_channels, in_channels // groups, *kernel_t)
        self.weight = np.empty(self._weight_shape, dtype=dtype)
        self.bias = np.empty(out_channels, dtype=dtype) if bias else None
        self.reset_parameters(rng)

    def _check_transposed(self, padding_mode: str, padding) -> None:
        """Make the checks of the transposed layers only (none here)."""

    def _checked(self, name: str, value, shape: tuple[int, ...]) -> np.ndarray:
        """Refuse, at assignment, a parameter the layer could not convolve with."""
        who = type(self).__name__
        refuse_masked(value, name, who)
        want = f"a numpy.ndarray of dtype {self.dtype} and shape {shape}"
        if type(value) is not np.ndarray:
            hint = ""
            if torch_if_tensor(value) is not None:
                hint = (
                    f"; convert it with .detach().cpu().numpy(), or use "
                    f"load_state_dict({{'{name}': tensor}}), which converts"
                )
            kind = type(value)
            given = kind.__name__ if kind.__module__ == "builtins" else kind.__qualname__
            if kind.__module__ not in ("builtins", "numpy"):
                given = f"{kind.__module__.partition('.')[0]}.{given}"  # torch.Tensor
            raise TypeError(f"cannot assign {given} as {who}.{name}: expected {want}{hint}")
        if value.dtype != self.dtype:
            raise TypeError(
                f"cannot assign an array of dtype {value.dtype} as {who}.{name}: expected "
                f"{want}; convert it with .astype(numpy.{self.dtype}), or build the layer "
                f"with dtype=numpy.{value.dtype}"
            )
        if value.shape != shape:
            raise ValueError(
                f"cannot assign an array of shape {value.shape} as {who}.{name}: expected {want}"
            )
        return value

    @property
    def weight(self) -> np.ndarray:
        """The kernels (the shape is given in the class's documentation)."""
        return self._weight

    @weight.setter
    def weight(self, value: np.ndarray) -> None:
        self._weight = self._checked("weight", value, self._weight_shape)

    @property
    def bias(self) -> np.ndarray | None:
        """The bias, shape ``(out_channels,)``, or None."""
        return self._bias

    @bias.setter
    def bias(self, value: np.ndarray | None) -> None:
        self._bias = None if value is None else self._checked("bias", value, (self.out_channels,))

    def reset_parameters(self, rng: np.random.Generator | int | None = None) -> None:
        """Draw new weights (and bias) from torch's initial distribution.

        ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for both, with torch's ``fan_in`` =
        ``weight.shape[1] * prod(kernel_size)`` (``in_channels / groups * ...`` for a
        convolution, ``out_channels / groups * ...`` for a transposed one).

        Parameters
        ----------
        rng : numpy.random.Generator, int or None
        """
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        fan_in = math.prod(self.weight.shape[1:])
        # kaiming_uniform_(a=sqrt(5)): gain sqrt(2 / (1 + 5)) * sqrt(3 / fan_in) = 1/sqrt(fan_in)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        self.weight[...] = gen.uniform(-bound, bound, self.weight.shape)
        if self.bias is not None:
            self.bias[...] = gen.uniform(-bound, bound, self.bias.shape)

    def _conv(self, input, padding):
        f = getattr(functional, f"conv{self._ndim}d")
        return f(
            input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups,
            backend=self.backend,
        )  # fmt: skip

    def forward(self, input: ArrayLike) -> np.ndarray:
        """Convolve ``input``.

        Parameters
        ----------
        input : array_like, shape (N, in_channels, ...) or (in_channels, ...)
            Same dtype as the layer.

        Returns
        -------
        ndarray, shape (N, out_channels, ...) or (out_channels, ...)
        """
        if self.padding_mode == "zeros":
            return self._conv(input, self.padding)
        torch = torch_if_tensor(input)
        if torch is not None:  # a tensor stays on its device
            x = torch.nn.functional.pad(
                input, self._reversed_padding_repeated_twice, mode=self.padding_mode
            )
        elif is_dask_array(input) and self._ndim == 2:  # lazy: padded at the image's border
            from ._dask import conv2d as dask_conv2d

            left, right, top, bottom = self._reversed_padding_repeated_twice
            return dask_conv2d(
                input, self.weight, self.bias, self.stride, 0, self.dilation, self.groups,
                backend=self.backend, pad=(left, right, top, bottom),
                padding_mode=self.padding_mode,
            )  # fmt: skip
        elif is_dask_array(input):
            return self._conv(input, 0)  # refused by the function, with its message
        else:
            x = pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
        return self._conv(x, 0)

    def __call__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        """Return torch's description of the layer's settings, and the backend if one was set.

        The backend comes last and only when given, so the repr of a layer built as in
        torch is torch's, character for character.
        """
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if isinstance(self.padding, str) or any(self.padding):
            s += f", padding={self.padding}"
        if any(d != 1 for d in self.dilation):
            s += f", dilation={self.dilation}"
        if self._transposed and any(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        if self.backend is not None:
            s += f", backend={self.backend!r}"
        return s

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def state_dict(self) -> dict[str, np.ndarray]:
        """Return the parameters under torch's keys: ``weight`` and (if any) ``bias``.

        The arrays are the layer's own (not copies), as torch's tensors share storage.
        """
        out = {"weight": self.weight}
        if self.bias is not None:
            out["bias"] = self.bias
        return out

    def load_state_dict(self, state_dict, strict: bool = True, *, prefix: str = ""):
        """Copy parameters in, from a mapping of arrays or a ``.npz`` / ``.safetensors`` file.

        Parameters
        ----------
        state_dict : mapping of str to array_like, or str / os.PathLike
            Values may be NumPy arrays, array-likes or torch tensors (on any device).  A path
            ending in ``.npz`` is read with ``numpy.load(allow_pickle=False)``, one ending in
            ``.safetensors`` with the optional ``safetensors`` package.  Nothing is unpickled.
        strict : bool, default True
            Raise if keys are missing or unexpected (shape mismatches always raise).
        prefix : str, default ''
            Only keys starting with ``prefix`` are read, without it: load one layer out of a
            whole model's state dict, e.g. ``prefix='features.0.'``.

        Returns
        -------
        IncompatibleKeys
            ``missing_keys`` and ``unexpected_keys``, as torch returns them.

        Raises
        ------
        ValueError
            torch's "Error(s) in loading state_dict for Conv2d" text (with the layer's
            class name); a malformed, truncated or pickle-needing file (naming it); a value
            that is not an array of real numbers (strings, complex, objects; naming the key
            and the file).
        OSError
            The file cannot be opened (``FileNotFoundError``, ``PermissionError``, ...).
        ImportError
            A ``.safetensors`` file without the ``safetensors`` package.
        """
        return load_state(self, state_dict, strict, prefix=prefix)


def _layer_doc(n: int) -> str:
    sp = {1: "L", 2: "H, W", 3: "D, H, W"}[n]
    k = {1: "kL", 2: "kH, kW", 3: "kD, kH, kW"}[n]
    tup = {1: "(int,)", 2: "(int, int)", 3: "(int, int, int)"}[n]
    return f"""A {n}-D convolution layer with ``torch.nn.Conv{n}d``'s arguments, checks and init.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output; both divisible by ``groups``.
    kernel_size : int or {tup}
    stride : int or {tup}, default 1
    padding : int, {tup}, 'valid' or 'same', default 0
        With ``padding_mode != 'zeros'`` the input is padded by :func:`pyconv.pad` with that
        mode first (for ``'same'`` asymmetrically, the extra after).
    dilation : int or {tup}, default 1
    groups : int, default 1
    bias : bool, default True
    padding_mode : {{'zeros', 'reflect', 'replicate', 'circular'}}, default 'zeros'
    dtype : numpy dtype, default float32
        float32 or float64, the dtype of ``weight`` and ``bias``.
    rng : numpy.random.Generator, int or None
        Source of the initial weights (``numpy.random.default_rng(rng)``).
    backend : str or backend object, optional
        Backend for every call of this layer (see :func:`pyconv.conv2d`); shown in the
        ``repr`` when given.

    Attributes
    ----------
    weight : ndarray, shape (out_channels, in_channels / groups, {k})
        Initialised from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
        ``fan_in = in_channels / groups * prod(kernel_size)``: the distribution of torch's
        ``kaiming_uniform_(a=sqrt(5))`` (the values differ: NumPy's generator is not torch's).
        May be assigned a NumPy array of that shape and the layer's dtype, which the
        layer then uses (no copy, as torch's parameters share their tensor); anything
        else (a torch tensor, a list, another shape or dtype, a masked array) is refused
        at the assignment, where torch would accept a wrong shape and fail at the call.
    bias : ndarray, shape (out_channels,), or None
        Same bound; zeros if ``fan_in == 0``.  Assigned like ``weight``, or ``None`` (no
        bias, as torch allows).

    Notes
    -----
    Checks made at construction, with torch's messages (``ValueError``): ``groups``
    positive, channels divisible by ``groups``, the padding string, ``'same'`` only with
    stride 1, ``padding_mode``.  As in torch, a zero or negative stride, a negative padding
    or a zero-size kernel are reported when the layer is called.  Unlike torch, a
    ``kernel_size``, ``stride``, ``padding`` or ``dilation`` with more than {n} values is
    rejected at construction, and negative channel counts are a ``ValueError``; and an
    assignment to ``weight`` or ``bias`` is checked when it is made (see Attributes).
    Calling the layer on ``(N, in_channels, {sp})`` or ``(in_channels, {sp})`` arrays gives
    :func:`pyconv.conv{n}d`'s result.
    """


class Conv1d(_ConvNd):
    """``torch.nn.Conv1d`` (the full docstring is generated below)."""

    _ndim = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] | str = 0,
        dilation: int | tuple[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        dtype=np.float32,
        rng: np.random.Generator | int | None = None,
        backend: Any = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            padding_mode, dtype=dtype, rng=rng, backend=backend,
        )  # fmt: skip


class Conv2d(_ConvNd):
    """``torch.nn.Conv2d`` (the full docstring is generated below)."""

    _ndim = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        dtype=np.float32,
        rng: np.random.Generator | int | None = None,
        backend: Any = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            padding_mode, dtype=dtype, rng=rng, backend=backend,
        )  # fmt: skip


class Conv3d(_ConvNd):
    """``torch.nn.Conv3d`` (the full docstring is generated below)."""

    _ndim = 3

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int, int],
        stride: int | tuple[int, int, int] = 1,
        padding: int | tuple[int, int, int] | str = 0,
        dilation: int | tuple[int, int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        dtype=np.float32,
        rng: np.random.Generator | int | None = None,
        backend: Any = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            padding_mode, dtype=dtype, rng=rng, backend=backend,
        )  # fmt: skip


Conv1d.__doc__ = (
    _layer_doc(1)
    + """
    Examples
    --------
    >>> import numpy as np, pyconv
    >>> layer = pyconv.Conv1d(16, 32, kernel_size=5, stride=2, padding=2, rng=0)
    >>> layer
    Conv1d(16, 32, kernel_size=(5,), stride=(2,), padding=(2,))
    >>> layer(np.zeros((4, 16, 100), np.float32)).shape
    (4, 32, 50)
    """
)
Conv2d.__doc__ = (
    _layer_doc(2)
    + """
    Examples
    --------
    >>> import numpy as np, pyconv
    >>> layer = pyconv.Conv2d(3, 4, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2),
    ...                       dilation=2, bias=False, padding_mode="reflect", rng=0)
    >>> layer
    Conv2d(3, 4, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 2), bias=False, padding_mode=reflect)
    >>> layer(np.zeros((3, 16, 16), dtype=np.float32)).shape
    (4, 7, 12)
    """  # noqa: E501 - the repr line is torch's, verbatim
)
Conv3d.__doc__ = (
    _layer_doc(3)
    + """
    Examples
    --------
    >>> import numpy as np, pyconv
    >>> layer = pyconv.Conv3d(3, 8, kernel_size=(3, 3, 3), padding=1, rng=0)
    >>> layer(np.zeros((1, 3, 8, 32, 32), np.float32)).shape
    (1, 8, 8, 32, 32)
    """
)


class _ConvTransposeNd(_ConvNd):
    """What the transposed layers add: ``output_padding`` and ``output_size=``."""

    _transposed = True
    output_padding: tuple[int, ...]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        padding_mode: str = "zeros",
        *,
        dtype=np.float32,
        rng: np.random.Generator | int | None = None,
        backend: Any = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            padding_mode, output_padding, dtype=dtype, rng=rng, backend=backend,
        )  # fmt: skip

    def _check_transposed(self, padding_mode: str, padding) -> None:
        """Refuse what only a transposed layer refuses, first, as torch does."""
        who = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {who}')
        if isinstance(padding, str):
            # torch accepts it here and fails in forward (pytorch/pytorch#95123)
            raise ValueError(
                f"{who}(): padding must be an int or {self._ndim} ints; the padding strings "
                f"'valid' and 'same' are not supported for transposed convolutions "
                f"(torch accepts {padding!r} here and fails when the layer is called), "
                f"but got padding={padding!r}"
            )

    def _output_padding(self, input_shape: tuple[int, ...], output_size) -> tuple[int, ...]:
        """Torch's ``_output_padding``: the output padding that gives ``output_size``."""
        n = self._ndim
        if output_size is None:
            return self.output_padding
        who = type(self).__name__
        if isinstance(output_size, np.ndarray):
            output_size = output_size.tolist()
        if not isinstance(output_size, (tuple, list)):
            raise TypeError(
                f"{who}(): output_size must be a sequence of ints, but got "
                f"{type(output_size).__name__} ({output_size!r})"
            )
        sizes = [_int(v, "output_size", who) for v in output_size]
        given = output_size  # torch prints the requested size as it was given
        batched = len(input_shape) == n + 2
        non_spatial = 2 if batched else 1
        if len(sizes) == non_spatial + n:
            sizes, given = sizes[non_spatial:], given[non_spatial:]
        if len(sizes) != n:
            raise ValueError(
                f"ConvTranspose{n}D: for {len(input_shape)}D input, output_size must have {n} "
                f"or {non_spatial + n} elements (got {len(sizes)})"
            )
        spatial = input_shape[non_spatial:] if len(input_shape) >= non_spatial + n else ()
        if len(spatial) != n:  # a wrong rank: let the function report it, with its text
            return self.output_padding
        mins = [
            (spatial[d] - 1) * self.stride[d] - 2 * self.padding[d]
            + self.dilation[d] * (self.kernel_size[d] - 1) + 1
            for d in range(n)
        ]  # fmt: skip
        maxs = [m + s - 1 for m, s in zip(mins, self.stride, strict=True)]
        for size, lo, hi in zip(sizes, mins, maxs, strict=True):
            if size < lo or size > hi:
                raise ValueError(
                    f"requested an output size of {given}, but valid sizes range from {mins} "
                    f"to {maxs} (for an input of {_torch_size(input_shape[2:])})"
                )
        return tuple(s - m for s, m in zip(sizes, mins, strict=True))

    def forward(self, input: ArrayLike, output_size=None) -> np.ndarray:
        """Convolve ``input`` transposed.

        Parameters
        ----------
        input : array_like, shape (N, in_channels, ...) or (in_channels, ...)
            Same dtype as the layer.
        output_size : sequence of int, optional
            The wanted spatial size (or the whole shape): picks the output padding among
            the sizes the stride allows, as torch does (the layer's ``output_padding`` is
            then ignored).

        Returns
        -------
        ndarray, shape (N, out_channels, ...) or (out_channels, ...)
        """
        shape = tuple(input.shape) if hasattr(input, "shape") else np.shape(input)
        output_padding = self._output_padding(shape, output_size)
        f = getattr(functional, f"conv_transpose{self._ndim}d")
        return f(
            input, self.weight, self.bias, self.stride, self.padding, output_padding,
            self.groups, self.dilation, backend=self.backend,
        )  # fmt: skip


def _transpose_layer_doc(n: int) -> str:
    sp = {1: "L", 2: "H, W", 3: "D, H, W"}[n]
    k = {1: "kL", 2: "kH, kW", 3: "kD, kH, kW"}[n]
    tup = {1: "(int,)", 2: "(int, int)", 3: "(int, int, int)"}[n]
    return f"""A {n}-D transposed convolution layer: ``torch.nn.ConvTranspose{n}d``.

    Parameters
    ----------
    in_channels, out_channels : int
        Both divisible by ``groups``.
    kernel_size : int or {tup}
    stride : int or {tup}, default 1
    padding : int or {tup}, default 0
        Cropped from both sides of the full result (no padding strings: torch accepts
        them here and fails when called; pyconv refuses them at construction).
    output_padding : int or {tup}, default 0
        Added to one side of each output dimension; smaller than the stride or the
        dilation (checked when called, as torch does).
    groups : int, default 1
    bias : bool, default True
    dilation : int or {tup}, default 1
    padding_mode : {{'zeros'}}, default 'zeros'
        Anything else raises torch's ``ValueError``.
    dtype : numpy dtype, default float32
    rng : numpy.random.Generator, int or None
    backend : str or backend object, optional
        Shown in the ``repr`` when given.

    Attributes
    ----------
    weight : ndarray, shape (in_channels, out_channels / groups, {k})
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with torch's ``fan_in = out_channels / groups
        * prod(kernel_size)`` (the weight's second axis: torch computes it the same way
        for both kinds of layer).  Assignments are checked as ``Conv2d``'s are.
    bias : ndarray, shape (out_channels,), or None
        Same bound.

    Notes
    -----
    Call it as ``layer(x)`` or ``layer(x, output_size=...)`` with ``x`` of shape
    ``(N, in_channels, {sp})`` or unbatched; the result is
    :func:`pyconv.conv_transpose{n}d`'s.  ``output_size`` out of range raises torch's
    ``requested an output size of [...], but valid sizes range from [...] to [...]``.
    """


class ConvTranspose1d(_ConvTransposeNd):
    """``torch.nn.ConvTranspose1d`` (the full docstring is generated below)."""

    _ndim = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] = 0,
        output_padding: int | tuple[int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int] = 1,
        padding_mode: str = "zeros",
        *,
        dtype=np.float32,
        rng: np.random.Generator | int | None = None,
        backend: Any = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, output_padding, groups,
            bias, dilation, padding_mode, dtype=dtype, rng=rng, backend=backend,
        )  # fmt: skip


class ConvTranspose2d(_ConvTransposeNd):
    """``torch.nn.ConvTranspose2d`` (the full docstring is generated below)."""

    _ndim = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, int] = 1,
        padding_mode: str = "zeros",
        *,
        dtype=np.float32,
        rng: np.random.Generator | int | None = None,
        backend: Any = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, output_padding, groups,
            bias, dilation, padding_mode, dtype=dtype, rng=rng, backend=backend,
        )  # fmt: skip


class ConvTranspose3d(_ConvTransposeNd):
    """``torch.nn.ConvTranspose3d`` (the full docstring is generated below)."""

    _ndim = 3

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int, int],
        stride: int | tuple[int, int, int] = 1,
        padding: int | tuple[int, int, int] = 0,
        output_padding: int | tuple[int, int, int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, int, int] = 1,
        padding_mode: str = "zeros",
        *,
        dtype=np.float32,
        rng: np.random.Generator | int | None = None,
        backend: Any = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, output_padding, groups,
            bias, dilation, padding_mode, dtype=dtype, rng=rng, backend=backend,
        )  # fmt: skip


ConvTranspose1d.__doc__ = _transpose_layer_doc(1)
ConvTranspose2d.__doc__ = (
    _transpose_layer_doc(2)
    + """
    Examples
    --------
    >>> import numpy as np, pyconv
    >>> up = pyconv.ConvTranspose2d(16, 8, kernel_size=3, stride=2, padding=1, rng=0)
    >>> up
    ConvTranspose2d(16, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))
    >>> x = np.zeros((1, 16, 14, 14), np.float32)
    >>> up(x).shape, up(x, output_size=(28, 28)).shape
    ((1, 8, 27, 27), (1, 8, 28, 28))
    """
)
ConvTranspose3d.__doc__ = _transpose_layer_doc(3)
