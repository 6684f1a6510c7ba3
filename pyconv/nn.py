"""``Conv2d``: the layer, mirroring ``torch.nn.Conv2d``; and the layers to build a CNN around it.

The other layers (pooling, ``ReLU``, ``Flatten``, ``Linear``, ``BatchNorm2d``) live in
:mod:`pyconv.layers`, ``Module`` and ``Sequential`` in ``pyconv._module``; they are
re-exported here, so that ``pyconv.nn`` reads like ``torch.nn``.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ._foreign import is_dask_array, torch_if_tensor
from ._module import Identity, Module, Sequential
from ._validation import _int, refuse_masked
from .functional import conv2d
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
    "Conv2d",
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


class IncompatibleKeys(NamedTuple):
    """What :meth:`Conv2d.load_state_dict` returns, as torch does."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _index(value, name: str) -> int:
    return _int(value, name, who="Conv2d")


def _pair(value, name: str) -> tuple:
    """Torch's ``_pair``: an int becomes (x, x); a sequence is kept (checked to be ints)."""
    if isinstance(value, (tuple, list)):
        items = tuple(_index(v, name) for v in value)
        if len(items) == 1:  # torch keeps (k,) and fails later; broadcast as conv2d does
            return items * 2
        return items
    v = _index(value, name)
    return (v, v)


def _shape(shape) -> str:
    return "torch.Size([" + ", ".join(str(s) for s in shape) + "])"


class Conv2d:
    r"""A 2-D convolution layer with ``torch.nn.Conv2d``'s arguments, checks and init.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output; both divisible by ``groups``.
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
    padding : int, (int, int), 'valid' or 'same', default 0
        With ``padding_mode != 'zeros'`` the input is padded by :func:`pyconv.pad` with that
        mode first (for ``'same'`` asymmetrically, the extra on the bottom / right).
    dilation : int or (int, int), default 1
    groups : int, default 1
    bias : bool, default True
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}, default 'zeros'
    dtype : numpy dtype, default float32
        float32 or float64, the dtype of ``weight`` and ``bias``.
    rng : numpy.random.Generator, int or None
        Source of the initial weights (``numpy.random.default_rng(rng)``).
    backend : str or backend object, optional
        Backend for every call of this layer (see :func:`pyconv.conv2d`); shown in the
        ``repr`` when given.

    Attributes
    ----------
    weight : ndarray, shape (out_channels, in_channels / groups, kH, kW)
        Initialised from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
        ``fan_in = in_channels / groups * kH * kW``: the distribution of torch's
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
    ``kernel_size``, ``stride``, ``padding`` or ``dilation`` with more than 2 values is
    rejected at construction, and negative channel counts are a ``ValueError``; and an
    assignment to ``weight`` or ``bias`` is checked when it is made (see Attributes).

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
        backend: str | None = None,
    ) -> None:
        in_channels = _index(in_channels, "in_channels")
        out_channels = _index(out_channels, "out_channels")
        groups = _index(groups, "groups")
        # torch's checks, in torch's order and words
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        stride_t = _pair(stride, "stride")
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
                f"Conv2d(): channel counts must be >= 0, but got in_channels={in_channels}, "
                f"out_channels={out_channels}"
            )
        kernel_t = _pair(kernel_size, "kernel_size")
        dilation_t = _pair(dilation, "dilation")
        padding_v = padding if isinstance(padding, str) else _pair(padding, "padding")
        for name, v in (("kernel_size", kernel_t), ("stride", stride_t), ("dilation", dilation_t)):
            if len(v) != 2:
                raise ValueError(f"Conv2d(): {name} must be an int or 2 ints, but got {v}")
        if not isinstance(padding_v, str) and len(padding_v) != 2:
            raise ValueError(f"Conv2d(): padding must be an int or 2 ints, but got {padding_v}")
        if any(k < 0 for k in kernel_t):
            raise ValueError(f"Conv2d(): kernel_size must be >= 0, but got {kernel_t}")
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"Conv2d(): dtype must be float32 or float64, but got {dtype}")

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_t
        self.stride = stride_t
        self.padding = padding_v
        self.dilation = dilation_t
        self.groups = groups
        self.padding_mode = padding_mode
        self.dtype = dtype
        self.backend = backend
        self._weight_shape = (out_channels, in_channels // groups, *kernel_t)
        # F.pad's argument for non-zeros modes: (left, right, top, bottom)
        if padding_v == "same":
            pads = []
            for d, k in zip(reversed(dilation_t), reversed(kernel_t), strict=True):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]
            self._reversed_padding_repeated_twice = tuple(pads)
        elif padding_v == "valid":
            self._reversed_padding_repeated_twice = (0, 0, 0, 0)
        else:
            self._reversed_padding_repeated_twice = (
                padding_v[1], padding_v[1], padding_v[0], padding_v[0],
            )  # fmt: skip

        self.weight = np.empty(self._weight_shape, dtype=dtype)
        self.bias = np.empty(out_channels, dtype=dtype) if bias else None
        self.reset_parameters(rng)

    def _checked(self, name: str, value, shape: tuple[int, ...]) -> np.ndarray:
        """Refuse, at assignment, a parameter the layer could not convolve with."""
        refuse_masked(value, name, "Conv2d")
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
            raise TypeError(f"cannot assign {given} as Conv2d.{name}: expected {want}{hint}")
        if value.dtype != self.dtype:
            raise TypeError(
                f"cannot assign an array of dtype {value.dtype} as Conv2d.{name}: expected "
                f"{want}; convert it with .astype(numpy.{self.dtype}), or build the layer "
                f"with dtype=numpy.{value.dtype}"
            )
        if value.shape != shape:
            raise ValueError(
                f"cannot assign an array of shape {value.shape} as Conv2d.{name}: expected {want}"
            )
        return value

    @property
    def weight(self) -> np.ndarray:
        """The kernels, shape ``(out_channels, in_channels / groups, kH, kW)``."""
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

        Parameters
        ----------
        rng : numpy.random.Generator, int or None
        """
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        fan_in = self.weight.shape[1] * self.weight.shape[2] * self.weight.shape[3]
        # kaiming_uniform_(a=sqrt(5)): gain sqrt(2 / (1 + 5)) * sqrt(3 / fan_in) = 1/sqrt(fan_in)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        self.weight[...] = gen.uniform(-bound, bound, self.weight.shape)
        if self.bias is not None:
            self.bias[...] = gen.uniform(-bound, bound, self.bias.shape)

    def forward(self, input: ArrayLike) -> np.ndarray:
        """Convolve ``input``.

        Parameters
        ----------
        input : array_like, shape (N, in_channels, H, W) or (in_channels, H, W)
            Same dtype as the layer.

        Returns
        -------
        ndarray, shape (N, out_channels, H_out, W_out) or (out_channels, H_out, W_out)
        """
        if self.padding_mode != "zeros":
            torch = torch_if_tensor(input)
            if torch is not None:  # a tensor stays on its device
                x = torch.nn.functional.pad(
                    input, self._reversed_padding_repeated_twice, mode=self.padding_mode
                )
            elif is_dask_array(input):  # lazy: padded at the image's border only
                from ._dask import conv2d as dask_conv2d

                return dask_conv2d(
                    input, self.weight, self.bias, self.stride, 0, self.dilation, self.groups,
                    backend=self.backend, pad=self._reversed_padding_repeated_twice,
                    padding_mode=self.padding_mode,
                )  # fmt: skip
            else:
                x = pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv2d(
                x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups,
                backend=self.backend,
            )  # fmt: skip
        return conv2d(
            input, self.weight, self.bias, self.stride, self.padding, self.dilation,
            self.groups, backend=self.backend,
        )  # fmt: skip

    __call__ = forward

    def extra_repr(self) -> str:
        """Return torch's description of the layer's settings, and the backend if one was set.

        The backend comes last and only when given, so the repr of a layer built as in
        torch is torch's, character for character.
        """
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
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
        return f"Conv2d({self.extra_repr()})"

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
            torch's "Error(s) in loading state_dict for Conv2d" text; a malformed,
            truncated or pickle-needing file (naming it); a value that is not an array of
            real numbers (strings, complex, objects; naming the key and the file).
        OSError
            The file cannot be opened (``FileNotFoundError``, ``PermissionError``, ...).
        ImportError
            A ``.safetensors`` file without the ``safetensors`` package.
        """
        items, origin = _read_state(state_dict)
        if prefix:
            items = {k[len(prefix) :]: v for k, v in items.items() if k.startswith(prefix)}
        own = self.state_dict()
        missing = [k for k in own if k not in items]
        unexpected = [k for k in items if k not in own]
        errors = []
        if strict:  # torch lists missing keys first, then unexpected ones
            if missing:
                errors.append(
                    "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". "
                )
            if unexpected:
                errors.append(
                    "Unexpected key(s) in state_dict: "
                    + ", ".join(f'"{k}"' for k in unexpected)
                    + ". "
                )
        arrays = {}
        for key, target in own.items():
            if key not in items:
                continue
            value = _to_numpy(items[key])
            _check_numeric(key, value, origin)
            if value.shape != target.shape:
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {_shape(value.shape)} "
                    f"from checkpoint, the shape in current model is {_shape(target.shape)}."
                )
            else:
                arrays[key] = value
        if errors:
            raise ValueError("Error(s) in loading state_dict for Conv2d:\n\t" + "\n\t".join(errors))
        for key, value in arrays.items():
            np.copyto(own[key], value, casting="unsafe")  # torch's copy_ casts too
        return IncompatibleKeys(missing, unexpected)


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, any device
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _check_numeric(key: str, value: np.ndarray, origin: str | None) -> None:
    """Refuse values that are not real numbers (strings, complex, records, objects).

    torch's ``copy_`` would cast ints and bools, and so does pyconv; anything else is not
    a weight, and ``numpy.copyto`` would fail with a message that names neither the key
    nor the file.
    """
    if value.dtype.kind not in "biuf":
        where = f"{origin!r}: " if origin else ""
        raise ValueError(
            f"{where}the value of {key!r} has dtype {value.dtype}, which is not a real number "
            "type: weights must be floating-point (or integer) arrays"
        )


def _read_state(source) -> tuple[dict, str | None]:
    """Return the items of a state dict and the file they came from (or None)."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return (_read_safetensors if path.endswith(".safetensors") else _read_npz)(path), path
    if hasattr(source, "items"):
        return dict(source.items()), None
    raise TypeError(
        f"Expected state_dict to be dict-like, got {type(source)}. (pyconv: a mapping of "
        "arrays, or a path to an .npz or .safetensors file)"
    )


def _read_npz(path: str) -> dict[str, np.ndarray]:
    """Read an ``.npz`` archive without unpickling anything; errors name the file.

    The file is opened first, so that a missing or unreadable file raises its own
    ``OSError`` (which names it); every parsing failure (not a zip archive, a truncated or
    corrupt member, an object array that would need pickle, a member that is not a
    ``.npy`` array) becomes a ``ValueError`` naming the file.
    """
    # open the file ourselves: np.load leaks it when the archive does not parse
    with open(path, "rb") as f:
        try:
            with np.load(f, allow_pickle=False) as data:
                if not isinstance(data, np.lib.npyio.NpzFile):
                    raise ValueError("it holds a single array (.npy), not an .npz archive")
                items = {}
                for key in data.files:
                    value = data[key]
                    if not isinstance(value, np.ndarray):  # np.load returns raw bytes then
                        raise ValueError(f"its member {key!r} is not a .npy array")
                    items[key] = value
                return items
        except Exception as exc:
            raise ValueError(f"could not read weights from {path!r}: {exc}") from exc


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
    """Read a ``.safetensors`` file (a JSON header and raw tensors: never pickle)."""
    try:
        from safetensors.numpy import load_file
    except ImportError as exc:
        raise ImportError(
            f"reading {path!r} needs the optional 'safetensors' package: "
            "pip install 'pyconv[safetensors]'"
        ) from exc
    with open(path, "rb"):  # a missing or unreadable file raises its own OSError
        pass
    try:
        return dict(load_file(path))
    except Exception as exc:  # truncated data, a bad header, a dtype NumPy lacks, ...
        raise ValueError(f"could not read weights from {path!r}: {exc}") from exc
