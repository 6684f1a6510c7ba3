"""The gradients of convolution, as ``torch.nn.grad`` has them, on NumPy arrays.

For a forward call ``out = conv{n}d(input, weight, bias, stride, padding, dilation,
groups)`` and the gradient ``grad_output`` of a loss with respect to ``out``:

- :func:`conv1d_input`, :func:`conv2d_input`, :func:`conv3d_input` give the gradient
  with respect to ``input`` (the transposed convolution of ``grad_output``);
- :func:`conv1d_weight`, :func:`conv2d_weight`, :func:`conv3d_weight` the gradient with
  respect to ``weight`` (a correlation of ``input`` with ``grad_output``, summed over the
  batch);
- :func:`conv_bias_grad` the gradient with respect to ``bias``: torch has no function for
  it (autograd sums ``grad_output`` over the batch and the positions); pyconv provides one
  so that a whole backward step needs nothing else, computed by NumPy in float64 and
  rounded once (it does not go through a backend: there is nothing to accelerate).

As in torch 2.13 the inputs are batched (torch rejects unbatched ones here, and so does
pyconv, with torch's message and a hint), ``padding`` is numeric (no ``'same'`` /
``'valid'``: torch's schema refuses strings), and ``grad_output`` must have exactly the
forward output's shape.  Unlike torch, pyconv also checks ``grad_output``'s batch size
against ``input_size`` (torch 2.13 accepts a mismatch and returns a wrong-sized
gradient).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ._validation import _as_array, _int, prepare_conv_input, prepare_conv_weight
from .functional import call

__all__ = [
    "conv1d_input",
    "conv1d_weight",
    "conv2d_input",
    "conv2d_weight",
    "conv3d_input",
    "conv3d_weight",
    "conv_bias_grad",
]

_IntN = int | tuple[int, ...]


def _input_nd(n, input_size, weight, grad_output, stride, padding, dilation, groups, backend):
    def prepare(w, go):
        return prepare_conv_input(input_size, w, go, stride, padding, dilation, groups, ndim=n)

    return call(f"conv{n}d_input", prepare, (weight, grad_output), backend)


def _weight_nd(n, input, weight_size, grad_output, stride, padding, dilation, groups, backend):
    def prepare(x, go):
        return prepare_conv_weight(x, weight_size, go, stride, padding, dilation, groups, ndim=n)

    return call(f"conv{n}d_weight", prepare, (input, grad_output), backend)


def _input_doc(n: int) -> str:
    sp = {1: "L", 2: "H, W", 3: "D, H, W"}[n]
    out = {1: "L_out", 2: "H_out, W_out", 3: "D_out, H_out, W_out"}[n]
    k = {1: "kL", 2: "kH, kW", 3: "kD, kH, kW"}[n]
    return f"""Gradient of :func:`pyconv.conv{n}d` with respect to its input.

    ``torch.nn.grad.conv{n}d_input``: the transposed convolution of ``grad_output`` with
    ``weight``, with the output padding that gives back ``input_size`` (a strided
    convolution maps several input sizes to one output size).

    Parameters
    ----------
    input_size : sequence of int, (N, C_in, {sp})
        The shape of the forward call's input (a tuple, list or ``x.shape``).
    weight : array_like, shape (C_out, C_in / groups, {k})
        The forward call's weight.
    grad_output : array_like, shape (N, C_out, {out})
        The gradient with respect to the forward output; exactly its shape, and the
        weight's dtype.
    stride, padding, dilation : int or tuple of {n} ints
        The forward call's (numeric padding only, as torch).
    groups : int, default 1
    backend : str or backend object, optional
        See :func:`pyconv.conv2d`.

    Returns
    -------
    ndarray, shape ``input_size``
        The gradient, in ``grad_output``'s dtype.

    Raises
    ------
    TypeError, ValueError
        torch's checks and messages (``Expected a tensor of dimension {n + 2} and
        tensor.size[2] == ...`` for a ``grad_output`` of the wrong shape, ...).
    """


def _weight_doc(n: int) -> str:
    sp = {1: "L", 2: "H, W", 3: "D, H, W"}[n]
    out = {1: "L_out", 2: "H_out, W_out", 3: "D_out, H_out, W_out"}[n]
    k = {1: "kL", 2: "kH, kW", 3: "kD, kH, kW"}[n]
    return f"""Gradient of :func:`pyconv.conv{n}d` with respect to its weight.

    ``torch.nn.grad.conv{n}d_weight``: for each tap, the products of ``grad_output`` with
    the window of the padded input that the tap met, summed over the batch and the
    output positions.

    Parameters
    ----------
    input : array_like, shape (N, C_in, {sp})
        The forward call's input.
    weight_size : sequence of int, (C_out, C_in / groups, {k})
        The shape of the forward call's weight.
    grad_output : array_like, shape (N, C_out, {out})
        The gradient with respect to the forward output (its exact shape, the input's
        dtype).
    stride, padding, dilation : int or tuple of {n} ints
        The forward call's (numeric padding only, as torch).
    groups : int, default 1
    backend : str or backend object, optional
        See :func:`pyconv.conv2d`.

    Returns
    -------
    ndarray, shape ``weight_size``
        The gradient, in the input's dtype.

    Raises
    ------
    TypeError, ValueError
        torch's checks and messages.
    """


def conv1d_input(
    input_size: Sequence[int],
    weight: ArrayLike,
    grad_output: ArrayLike,
    stride: _IntN = 1,
    padding: _IntN = 0,
    dilation: _IntN = 1,
    groups: int = 1,
    *,
    backend=None,
) -> np.ndarray:
    """Gradient of conv1d with respect to its input (``torch.nn.grad.conv1d_input``)."""
    return _input_nd(1, input_size, weight, grad_output, stride, padding, dilation, groups,
                     backend)  # fmt: skip


def conv2d_input(
    input_size: Sequence[int],
    weight: ArrayLike,
    grad_output: ArrayLike,
    stride: _IntN = 1,
    padding: _IntN = 0,
    dilation: _IntN = 1,
    groups: int = 1,
    *,
    backend=None,
) -> np.ndarray:
    """Gradient of conv2d with respect to its input (``torch.nn.grad.conv2d_input``)."""
    return _input_nd(2, input_size, weight, grad_output, stride, padding, dilation, groups,
                     backend)  # fmt: skip


def conv3d_input(
    input_size: Sequence[int],
    weight: ArrayLike,
    grad_output: ArrayLike,
    stride: _IntN = 1,
    padding: _IntN = 0,
    dilation: _IntN = 1,
    groups: int = 1,
    *,
    backend=None,
) -> np.ndarray:
    """Gradient of conv3d with respect to its input (``torch.nn.grad.conv3d_input``)."""
    return _input_nd(3, input_size, weight, grad_output, stride, padding, dilation, groups,
                     backend)  # fmt: skip


def conv1d_weight(
    input: ArrayLike,
    weight_size: Sequence[int],
    grad_output: ArrayLike,
    stride: _IntN = 1,
    padding: _IntN = 0,
    dilation: _IntN = 1,
    groups: int = 1,
    *,
    backend=None,
) -> np.ndarray:
    """Gradient of conv1d with respect to its weight (``torch.nn.grad.conv1d_weight``)."""
    return _weight_nd(1, input, weight_size, grad_output, stride, padding, dilation, groups,
                      backend)  # fmt: skip


def conv2d_weight(
    input: ArrayLike,
    weight_size: Sequence[int],
    grad_output: ArrayLike,
    stride: _IntN = 1,
    padding: _IntN = 0,
    dilation: _IntN = 1,
    groups: int = 1,
    *,
    backend=None,
) -> np.ndarray:
    """Gradient of conv2d with respect to its weight (``torch.nn.grad.conv2d_weight``)."""
    return _weight_nd(2, input, weight_size, grad_output, stride, padding, dilation, groups,
                      backend)  # fmt: skip


def conv3d_weight(
    input: ArrayLike,
    weight_size: Sequence[int],
    grad_output: ArrayLike,
    stride: _IntN = 1,
    padding: _IntN = 0,
    dilation: _IntN = 1,
    groups: int = 1,
    *,
    backend=None,
) -> np.ndarray:
    """Gradient of conv3d with respect to its weight (``torch.nn.grad.conv3d_weight``)."""
    return _weight_nd(3, input, weight_size, grad_output, stride, padding, dilation, groups,
                      backend)  # fmt: skip


for _n, (_fi, _fw) in enumerate(
    ((conv1d_input, conv1d_weight), (conv2d_input, conv2d_weight), (conv3d_input, conv3d_weight)),
    start=1,
):
    _fi.__doc__, _fw.__doc__ = _input_doc(_n), _weight_doc(_n)
del _n, _fi, _fw

conv2d_input.__doc__ = (
    (conv2d_input.__doc__ or "")
    + """
    Examples
    --------
    >>> import numpy as np, pyconv
    >>> x = np.ones((1, 1, 4, 4), np.float32)
    >>> w = np.ones((1, 1, 3, 3), np.float32)
    >>> g = np.ones((1, 1, 2, 2), np.float32)        # d loss / d conv2d(x, w)
    >>> pyconv.grad.conv2d_input(x.shape, w, g)[0, 0]
    array([[1., 2., 2., 1.],
           [2., 4., 4., 2.],
           [2., 4., 4., 2.],
           [1., 2., 2., 1.]], dtype=float32)
    """
)


def conv_bias_grad(grad_output: ArrayLike, ndim: int = 2) -> np.ndarray:
    """Gradient of a convolution with respect to its bias: ``grad_output`` summed.

    torch has no function for it in ``torch.nn.grad`` (autograd computes
    ``grad_output.sum((0, 2, 3))`` for conv2d); this is that sum, accumulated in float64
    and rounded once to ``grad_output``'s dtype.  It serves every operation whose bias is
    added to each output channel: ``conv{n}d`` and ``conv_transpose{n}d``.

    Parameters
    ----------
    grad_output : array_like, shape (N, C_out, ...) or (C_out, ...)
        float32 or float64; ``ndim`` spatial dimensions, with or without the batch axis.
    ndim : {1, 2, 3}, default 2
        Spatial dimensions of the convolution (2 for conv2d).

    Returns
    -------
    ndarray, shape (C_out,)

    Raises
    ------
    ValueError
        ``grad_output`` does not have ``ndim + 1`` or ``ndim + 2`` dimensions, or ``ndim``
        is not 1, 2 or 3.
    TypeError
        An unsupported dtype.

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> pyconv.grad.conv_bias_grad(np.ones((2, 3, 4, 4), np.float32))
    array([32., 32., 32.], dtype=float32)
    """
    n = _int(ndim, "ndim", who="conv_bias_grad")
    if n not in (1, 2, 3):
        raise ValueError(f"conv_bias_grad(): ndim must be 1, 2 or 3, but got {n}")
    go = _as_array(grad_output, "grad_output", who="conv_bias_grad")
    assert go is not None
    if go.ndim not in (n + 1, n + 2):
        raise ValueError(
            f"conv_bias_grad(): expected grad_output of {n + 1} (unbatched) or {n + 2} "
            f"(batched) dimensions for ndim={n}, but got grad_output of size "
            f"[{', '.join(map(str, go.shape))}]"
        )
    channel = go.ndim - n - 1
    axes = tuple(a for a in range(go.ndim) if a != channel)
    with np.errstate(over="ignore", invalid="ignore"):
        return go.sum(axis=axes, dtype=np.float64).astype(go.dtype)
