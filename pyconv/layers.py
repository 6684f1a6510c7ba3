"""Layers beside ``Conv2d`` for running a trained CNN: pooling, activation, linear, batch norm.

Each mirrors its ``torch.nn`` namesake in inference ("eval") mode: the same arguments,
``repr`` and state-dict keys, so a model rebuilt from them loads torch's weights by name
(see :class:`pyconv.nn.Module` and docs/from-pytorch.md).  They are deliberately small:
the pooling layers call :mod:`pyconv.pooling`'s compiled kernels, ``Linear`` is a matrix
product plus bias, ``BatchNorm2d`` one multiply-add per element (or, better, folded into the
convolution before it with :func:`pyconv.fuse_conv_bn_eval`).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from . import _pool, pooling
from ._blas import one_blas_thread
from ._module import Module
from ._threads import get_num_threads

__all__ = [
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "BatchNorm2d",
    "Flatten",
    "Linear",
    "MaxPool1d",
    "MaxPool2d",
    "ReLU",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_TORCH_DTYPE = {np.dtype(np.float32): "Float", np.dtype(np.float64): "Double"}


def _float_dtype(dtype, who: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in _FLOATS:
        raise TypeError(f"{who}(): dtype must be float32 or float64, but got {dtype}")
    return dtype


def _positive_int(value, name: str, who: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{who}(): {name} must be an int, but got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{who}(): {name} must be >= 0, but got {value}")
    return int(value)


# ----------------------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------------------


class MaxPool2d(Module):
    """2-D max pooling layer (``torch.nn.MaxPool2d``); see :func:`pyconv.max_pool2d`.

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), default ``kernel_size``
    padding : int or (int, int), default 0
    dilation : int or (int, int), default 1
    return_indices : bool, default False
        Return ``(output, indices)``.
    ceil_mode : bool, default False

    Examples
    --------
    >>> import pyconv
    >>> pyconv.nn.MaxPool2d(3, stride=2, padding=1)
    MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)
    """

    def __init__(
        self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False
    ) -> None:
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: ArrayLike):
        """Pool ``input``, shape (N, C, H, W) or (C, H, W)."""
        return pooling.max_pool2d(
            input, self.kernel_size, self.stride, self.padding, self.dilation,
            self.ceil_mode, self.return_indices,
        )  # fmt: skip

    def extra_repr(self) -> str:
        """Return torch's description of the settings."""
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(MaxPool2d):
    """1-D max pooling layer (``torch.nn.MaxPool1d``); see :func:`pyconv.max_pool1d`.

    Examples
    --------
    >>> import pyconv
    >>> pyconv.nn.MaxPool1d(3)
    MaxPool1d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)
    """

    def forward(self, input: ArrayLike):
        """Pool ``input``, shape (N, C, L) or (C, L)."""
        return pooling.max_pool1d(
            input, self.kernel_size, self.stride, self.padding, self.dilation,
            self.ceil_mode, self.return_indices,
        )  # fmt: skip


class AvgPool2d(Module):
    """2-D average pooling layer (``torch.nn.AvgPool2d``); see :func:`pyconv.avg_pool2d`.

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), default ``kernel_size``
    padding : int or (int, int), default 0
    ceil_mode : bool, default False
    count_include_pad : bool, default True
    divisor_override : int, optional

    Examples
    --------
    >>> import pyconv
    >>> pyconv.nn.AvgPool2d((3, 2))
    AvgPool2d(kernel_size=(3, 2), stride=(3, 2), padding=0)
    """

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode=False,
        count_include_pad=True,
        divisor_override=None,
    ) -> None:
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: ArrayLike) -> np.ndarray:
        """Pool ``input``, shape (N, C, H, W) or (C, H, W)."""
        return pooling.avg_pool2d(
            input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad, self.divisor_override,
        )  # fmt: skip

    def extra_repr(self) -> str:
        """Return torch's description of the settings."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(Module):
    """1-D average pooling layer (``torch.nn.AvgPool1d``); see :func:`pyconv.avg_pool1d`.

    Examples
    --------
    >>> import pyconv
    >>> pyconv.nn.AvgPool1d(3, 2, 1)
    AvgPool1d(kernel_size=(3,), stride=(2,), padding=(1,))
    """

    def __init__(
        self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True
    ) -> None:
        # torch keeps these as 1-tuples (its _single), which shows in the repr
        def single(v):
            return tuple(v) if isinstance(v, (tuple, list)) else (v,)

        self.kernel_size = single(kernel_size)
        self.stride = single(stride if stride is not None else kernel_size)
        self.padding = single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: ArrayLike) -> np.ndarray:
        """Pool ``input``, shape (N, C, L) or (C, L)."""
        return pooling.avg_pool1d(
            input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad,
        )  # fmt: skip

    def extra_repr(self) -> str:
        """Return torch's description of the settings."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Adaptive average pooling layer (``torch.nn.AdaptiveAvgPool2d``).

    Parameters
    ----------
    output_size : int or (int or None, int or None)
        See :func:`pyconv.adaptive_avg_pool2d`.

    Examples
    --------
    >>> import pyconv
    >>> pyconv.nn.AdaptiveAvgPool2d((1, 1))
    AdaptiveAvgPool2d(output_size=(1, 1))
    """

    def __init__(self, output_size) -> None:
        self.output_size = output_size

    def forward(self, input: ArrayLike) -> np.ndarray:
        """Pool ``input``, shape (N, C, H, W) or (C, H, W)."""
        return pooling.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        """Return torch's description of the settings."""
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Adaptive max pooling layer (``torch.nn.AdaptiveMaxPool2d``).

    Parameters
    ----------
    output_size : int or (int or None, int or None)
    return_indices : bool, default False

    Examples
    --------
    >>> import pyconv
    >>> pyconv.nn.AdaptiveMaxPool2d(3)
    AdaptiveMaxPool2d(output_size=3)
    """

    def __init__(self, output_size, return_indices=False) -> None:
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input: ArrayLike):
        """Pool ``input``, shape (N, C, H, W) or (C, H, W)."""
        return pooling.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        """Return torch's description of the settings."""
        return f"output_size={self.output_size}"


# ----------------------------------------------------------------------------------------
# activation, reshaping, linear
# ----------------------------------------------------------------------------------------


class ReLU(Module):
    """``max(x, 0)`` elementwise (``torch.nn.ReLU``): NaN and -0.0 pass through, as in torch.

    float32 and float64 arrays are computed by a compiled, branch-free loop (threaded for
    large arrays); other dtypes by ``numpy.maximum``.

    Parameters
    ----------
    inplace : bool, default False
        Overwrite the input array (it must be a writable float ndarray) instead of
        returning a new one: saves memory when the input is a fresh intermediate result.

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> pyconv.nn.ReLU()(np.array([-1.0, 0.5, np.nan]))
    array([0. , 0.5, nan])
    """

    def __init__(self, inplace: bool = False) -> None:
        self.inplace = inplace

    def forward(self, input: ArrayLike) -> np.ndarray:
        """Return ``input`` with its negative elements set to zero."""
        x = np.asarray(input)
        if x.dtype not in _FLOATS:  # integers, bools: no signed zero, no NaN
            out = np.maximum(x, 0)
        else:
            src = x if x.flags.c_contiguous and x.flags.aligned else np.ascontiguousarray(x)
            in_place = self.inplace and src is input and x.flags.writeable
            out = src if in_place else np.empty_like(src, order="C")
            _pool.relu(src, out, get_num_threads())
        if self.inplace and isinstance(input, np.ndarray) and out is not input:
            np.copyto(input, out)  # an odd layout or dtype: still update the caller's array
            return input
        return out

    def extra_repr(self) -> str:
        """Return torch's description of the settings."""
        return "inplace=True" if self.inplace else ""


class Flatten(Module):
    """Merge dimensions ``start_dim`` to ``end_dim`` into one (``torch.nn.Flatten``).

    Parameters
    ----------
    start_dim : int, default 1
    end_dim : int, default -1

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> pyconv.nn.Flatten()(np.zeros((2, 3, 4, 5))).shape
    (2, 60)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: ArrayLike) -> np.ndarray:
        """Return ``input`` reshaped (a view where NumPy can make one)."""
        x = np.asarray(input)
        nd = max(x.ndim, 1)
        start, end = self.start_dim, self.end_dim
        for d in (start, end):
            if not -nd <= d < nd:
                raise IndexError(
                    f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], "
                    f"but got {d})"
                )
        start, end = start % nd, end % nd
        if x.ndim == 0:
            return x.reshape(1)
        if start > end:
            raise ValueError("flatten() has invalid args: start_dim cannot come after end_dim")
        merged = math.prod(x.shape[start : end + 1])
        return x.reshape((*x.shape[:start], merged, *x.shape[end + 1 :]))

    def extra_repr(self) -> str:
        """Return torch's description of the settings."""
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Linear(Module):
    """``y = x @ weight.T + bias`` (``torch.nn.Linear``).

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    dtype : numpy dtype, default float32
        float32 or float64.
    rng : numpy.random.Generator, int or None
        Source of the initial weights: U(-1/sqrt(in_features), 1/sqrt(in_features)), the
        distribution of torch's initialisation.

    Attributes
    ----------
    weight : ndarray, shape (out_features, in_features)
    bias : ndarray, shape (out_features,), or None

    Notes
    -----
    The product is NumPy's (BLAS), run with the BLAS on one thread for the call: a threaded
    BLAS call leaves its threads spinning for a while, on the cores the next convolution
    needs (``pyconv/_blas.py``).

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> fc = pyconv.nn.Linear(3, 2, rng=0)
    >>> fc
    Linear(in_features=3, out_features=2, bias=True)
    >>> fc(np.zeros((5, 3), dtype=np.float32)).shape
    (5, 2)
    """

    _param_names = ("weight", "bias")

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype=np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        dtype = _float_dtype(dtype, "Linear")
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        shape = (self.out_features, self.in_features)
        self.weight = gen.uniform(-bound, bound, shape).astype(dtype)
        self.bias = gen.uniform(-bound, bound, self.out_features).astype(dtype) if bias else None

    def forward(self, input: ArrayLike) -> np.ndarray:
        """Apply the layer to ``input``, shape (..., in_features); returns (..., out_features)."""
        x = np.asarray(input)
        if x.ndim == 0:
            raise ValueError(
                "both arguments to linear need to be at least 1D, but they are 0D and 2D"
            )
        if x.dtype != self.weight.dtype:
            raise TypeError(
                "mat1 and mat2 must have the same dtype, but got "
                f"{_TORCH_DTYPE.get(x.dtype, x.dtype)} and {_TORCH_DTYPE[self.weight.dtype]} "
                "(convert the input with .astype())"
            )
        if x.shape[-1] != self.in_features:
            rows = math.prod(x.shape[:-1])
            raise ValueError(
                f"mat1 and mat2 shapes cannot be multiplied ({rows}x{x.shape[-1]} and "
                f"{self.in_features}x{self.out_features})"
            )
        with one_blas_thread():  # see pyconv/_blas.py: a spinning BLAS pool slows the next conv
            y = x @ self.weight.T
        if self.bias is not None:
            y += self.bias
        return y

    def extra_repr(self) -> str:
        """Return torch's description of the settings."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


# ----------------------------------------------------------------------------------------
# batch norm (inference)
# ----------------------------------------------------------------------------------------


class BatchNorm2d(Module):
    """Batch normalisation with stored statistics (``torch.nn.BatchNorm2d`` in eval mode).

    ``y = (x - running_mean) / sqrt(running_var + eps) * weight + bias``, per channel,
    computed as torch does: ``x * alpha + beta`` with ``alpha = weight / sqrt(var + eps)``
    and ``beta = bias - mean * alpha``.  Inference only: batch statistics are never
    computed, so ``track_running_stats`` must be True.

    Parameters
    ----------
    num_features : int
        The channels, C.
    eps : float, default 1e-5
    momentum : float or None, default 0.1
        Kept for the ``repr`` (it only matters when training).
    affine : bool, default True
        Whether there are ``weight`` and ``bias``.
    track_running_stats : bool, default True
    bias : bool, default True
        Keyword-only, as in torch: with ``affine``, whether there is a ``bias``.
    dtype : numpy dtype, default float32

    Attributes
    ----------
    weight, bias : ndarray, shape (C,), or None
        Initially ones and zeros.
    running_mean, running_var : ndarray, shape (C,)
        Initially zeros and ones.
    num_batches_tracked : ndarray, shape (), int64
        Carried so that torch's state dicts load strictly; unused.

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> bn = pyconv.nn.BatchNorm2d(8)
    >>> bn
    BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    >>> list(bn.state_dict())
    ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    """

    _param_names = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        bias: bool = True,
        dtype=np.float32,
    ) -> None:
        if not track_running_stats:
            raise ValueError(
                "BatchNorm2d(): pyconv computes in inference mode only, which needs the "
                "running statistics: track_running_stats must be True"
            )
        n = _positive_int(num_features, "num_features", "BatchNorm2d")
        dtype = _float_dtype(dtype, "BatchNorm2d")
        self.num_features = n
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.weight = np.ones(n, dtype=dtype) if affine else None
        self.bias = np.zeros(n, dtype=dtype) if affine and bias else None
        self.running_mean = np.zeros(n, dtype=dtype)
        self.running_var = np.ones(n, dtype=dtype)
        self.num_batches_tracked = np.zeros((), dtype=np.int64)

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(alpha, beta)``, shape (C,) each, with ``y = x * alpha + beta``."""
        dtype = self.running_var.dtype
        alpha = 1.0 / np.sqrt(self.running_var.astype(np.float64) + self.eps)
        if self.weight is not None:
            alpha = alpha * self.weight
        beta = -self.running_mean * alpha
        if self.bias is not None:
            beta = beta + self.bias
        return alpha.astype(dtype), beta.astype(dtype)

    def forward(self, input: ArrayLike) -> np.ndarray:
        """Normalise ``input``, shape (N, C, H, W)."""
        x = np.asarray(input)
        if x.ndim != 4:
            raise ValueError(f"expected 4D input (got {x.ndim}D input)")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"running_mean should contain {x.shape[1]} elements not {self.num_features}"
            )
        if x.dtype != self.running_var.dtype:
            raise TypeError(
                f"BatchNorm2d(): the input is {x.dtype} but the layer is "
                f"{self.running_var.dtype}; convert one with .astype()"
            )
        alpha, beta = self.scale_shift()
        y = x * alpha[:, None, None]
        y += beta[:, None, None]
        return y

    def extra_repr(self) -> str:
        """Return torch's description of the settings."""
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )
