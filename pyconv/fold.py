"""Batch-norm folding: a convolution followed by batch norm (eval mode) as one convolution.

In inference a ``BatchNorm2d`` after a convolution is an affine map per output channel,
so it can be folded into the convolution's weight and bias::

    s = bn_weight / sqrt(running_var + eps)
    weight' = weight * s[:, None, None, None]
    bias'   = (bias - running_mean) * s + bn_bias

The folded network computes the same function with one pass over the activations fewer.
The folded values are computed in higher precision (float64 for float32 weights, long
double for float64 ones) and rounded once, so the folded convolution stays within the
accuracy contract of :mod:`pyconv.testing` against the exact conv + batch norm.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._state import to_numpy
from .nn import Conv2d

__all__ = ["fold_batchnorm", "fuse_conv_bn_eval"]

_WORK = {np.dtype(np.float32): np.float64, np.dtype(np.float64): np.longdouble}


def _per_channel(value, name: str, channels: int, work, default: float) -> np.ndarray:
    if value is None:
        return np.full(channels, default, dtype=work)
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"fold_batchnorm(): {name} must be real numbers, but has dtype {arr.dtype}")
    if arr.shape != (channels,):
        raise ValueError(
            f"fold_batchnorm(): {name} must have shape ({channels},) (one value per output "
            f"channel of the convolution), but has shape {arr.shape}"
        )
    return arr.astype(work)


def fold_batchnorm(
    conv_weight: ArrayLike,
    conv_bias: ArrayLike | None,
    bn_weight: ArrayLike | None,
    bn_bias: ArrayLike | None,
    running_mean: ArrayLike,
    running_var: ArrayLike,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold a batch norm's statistics into the convolution before it (inference only).

    Parameters
    ----------
    conv_weight : array_like, shape (C_out, C_in / groups, kH, kW)
        float32 or float64; the result has its dtype.
    conv_bias : array_like, shape (C_out,), or None
        None: the convolution has no bias (zeros).
    bn_weight, bn_bias : array_like, shape (C_out,), or None
        The batch norm's affine parameters (``gamma``, ``beta``); None for a batch norm
        without them (``affine=False``: ones and zeros).
    running_mean, running_var : array_like, shape (C_out,)
        The batch norm's running statistics.
    eps : float, default 1e-5
        The batch norm's ``eps``.

    Returns
    -------
    weight : ndarray, shape (C_out, C_in / groups, kH, kW)
    bias : ndarray, shape (C_out,)
        ``conv2d(x, weight, bias)`` equals ``batch_norm(conv2d(x, conv_weight, conv_bias))``
        in eval mode, within the accuracy contract.

    Raises
    ------
    TypeError
        A weight that is not float32 or float64, or statistics that are not real numbers.
    ValueError
        Statistics whose shape is not (C_out,), or ``running_var + eps`` not positive.

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> w = np.ones((2, 1, 1, 1), dtype=np.float32)
    >>> fw, fb = pyconv.fold_batchnorm(w, None, [2.0, 1.0], [0.0, 1.0],
    ...                                running_mean=[1.0, 0.0], running_var=[4.0, 1.0], eps=0.0)
    >>> fw.ravel(), fb
    (array([1., 1.], dtype=float32), array([-1.,  1.], dtype=float32))
    """
    w = np.asarray(conv_weight)
    if w.dtype not in _WORK:
        raise TypeError(
            f"fold_batchnorm(): conv_weight must be float32 or float64, but has dtype {w.dtype}"
        )
    if w.ndim != 4:
        raise ValueError(
            "fold_batchnorm(): conv_weight must have shape (C_out, C_in / groups, kH, kW), but "
            f"has shape {w.shape}"
        )
    work = _WORK[w.dtype]
    c = w.shape[0]
    var = _per_channel(running_var, "running_var", c, work, 1.0)
    mean = _per_channel(running_mean, "running_mean", c, work, 0.0)
    gamma = _per_channel(bn_weight, "bn_weight", c, work, 1.0)
    beta = _per_channel(bn_bias, "bn_bias", c, work, 0.0)
    b = _per_channel(conv_bias, "conv_bias", c, work, 0.0)
    denom = var + work(eps)
    if not np.all(denom > 0):
        bad = int(np.flatnonzero(~(denom > 0))[0])
        raise ValueError(
            f"fold_batchnorm(): running_var + eps must be positive, but is {float(denom[bad])} "
            f"for channel {bad}"
        )
    scale = gamma / np.sqrt(denom)
    weight = (w.astype(work) * scale[:, None, None, None]).astype(w.dtype)
    bias = ((b - mean) * scale + beta).astype(w.dtype)
    return weight, bias


def fuse_conv_bn_eval(conv: Conv2d, bn) -> Conv2d:
    """Return a new :class:`~pyconv.Conv2d` computing ``bn(conv(x))`` (torch's name for it).

    Parameters
    ----------
    conv : Conv2d
        Left unchanged; the result copies its settings (stride, padding, padding mode, ...).
    bn : pyconv.nn.BatchNorm2d
        Or anything with torch's attribute names: ``weight``, ``bias`` (or None),
        ``running_mean``, ``running_var`` and ``eps``, for example a torch
        ``BatchNorm2d``.

    Returns
    -------
    Conv2d
        With the folded weight and a bias.

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> conv, bn = pyconv.Conv2d(3, 8, 3, bias=False, rng=0), pyconv.nn.BatchNorm2d(8)
    >>> x = np.random.default_rng(1).standard_normal((1, 3, 8, 8), dtype=np.float32)
    >>> fused = pyconv.fuse_conv_bn_eval(conv, bn)
    >>> fused
    Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))
    >>> bool(np.allclose(fused(x), bn(conv(x)), atol=1e-6))
    True
    """

    def arr(name):
        value = getattr(bn, name, None)
        return None if value is None else to_numpy(value)

    weight, bias = fold_batchnorm(
        conv.weight, conv.bias, arr("weight"), arr("bias"), arr("running_mean"),
        arr("running_var"), float(bn.eps),
    )  # fmt: skip
    fused = Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
        conv.dilation, conv.groups, True, conv.padding_mode, dtype=conv.dtype,
        backend=conv.backend,
    )  # fmt: skip
    fused.weight[...] = weight
    # a new array in place of the one Conv2d(bias=True) made: same shape (C_out,) and dtype
    fused.bias = bias.astype(fused.weight.dtype, copy=False)
    return fused
