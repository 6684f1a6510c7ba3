"""The functional interface: :func:`conv2d`."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._foreign import is_dask_array, torch_if_tensor
from ._registry import fast_path, resolve
from ._validation import prepare_conv2d

__all__ = ["conv2d"]


def conv2d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    *,
    backend=None,
) -> np.ndarray:
    r"""2-D cross-correlation with the semantics of ``torch.nn.functional.conv2d``.

    .. math::

        \text{out}[n, o, y, x] = \text{bias}[o] + \sum_{c, i, j}
            \text{weight}[o, c, i, j] \cdot
            \text{padded}[n, g \cdot C_{in}/G + c, y s_h + i d_h, x s_w + j d_w]

    where ``g = o // (C_out / groups)`` is the group of output channel ``o``.  As in
    PyTorch the kernel is not flipped.

    Parameters
    ----------
    input : array_like, shape (N, C_in, H, W) or (C_in, H, W)
        float32 or float64.  Any memory layout; it is never modified.  Nested lists are
        converted as :func:`numpy.asarray` does (so a list of Python floats is float64).
        A ``torch.Tensor`` is accepted when the ``torch`` backend is selected, and the
        result is then a tensor on the input's device.  A ``dask.array.Array`` gives a lazy
        Dask array computed chunk by chunk (``pip install 'pyconv[dask]'``; chunking
        rules, clusters and larger-than-memory inputs: the *Dask* page of the docs).
    weight : array_like, shape (C_out, C_in / groups, kH, kW)
        Same dtype as ``input``.
    bias : array_like, shape (C_out,), optional
        Same dtype as ``input``.
    stride : int or (int, int), default 1
        Step of the kernel over the input, >= 1.
    padding : int, (int, int), 'valid' or 'same', default 0
        Implicit zeros on both sides of each spatial dimension, >= 0.  ``'valid'`` is 0;
        ``'same'`` (stride 1 only) makes the output as large as the input, putting the
        extra zero on the bottom / right when the total padding is odd, as PyTorch does.
    dilation : int or (int, int), default 1
        Spacing between kernel elements, >= 1.
    groups : int, default 1
        Number of blocked connections; must divide C_in and C_out.  ``groups == C_in``
        with ``weight.shape[1] == 1`` is a depthwise convolution.
    backend : str or backend object, optional
        ``'cython'`` (the default, compiled kernels), ``'numpy'`` (the reference),
        ``'torch'``, or any installed plugin; see :func:`pyconv.use_backend` for the
        other ways to choose.  A named backend is used or an error is raised; it never
        silently falls back.

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        A new array of the input's dtype (a lazy Dask array for a Dask input), unbatched
        if the input was, with
        ``H_out = floor((H + pad_top + pad_bottom - dilation[0] * (kH - 1) - 1) / stride[0]) + 1``
        and likewise for ``W_out``.

    Raises
    ------
    TypeError
        Unsupported dtype (only float32 and float64 are computed), mismatched dtypes,
        non-integer parameters, a ``numpy.ma.MaskedArray`` (its mask would be ignored).
    ValueError
        Any shape or parameter value PyTorch rejects, with PyTorch's message; an unknown
        backend name; :class:`pyconv.UnsupportedCallError` when the chosen backend cannot
        run this call (with its reason).
    ImportError
        :class:`pyconv.BackendUnavailableError` when the chosen backend cannot be loaded.

    Examples
    --------
    The dark-line demo of the article: a kernel whose middle row is ones sums the
    middle row of each 3x3 window over the three channels.

    >>> import numpy as np, pyconv
    >>> x = np.zeros((3, 5, 5), dtype=np.float32)
    >>> x[:, 2, :] = 1.0
    >>> w = np.zeros((1, 3, 3, 3), dtype=np.float32)
    >>> w[:, :, 1, :] = 1.0
    >>> pyconv.conv2d(x, w)[0]
    array([[0., 0., 0.],
           [9., 9., 9.],
           [0., 0., 0.]], dtype=float32)
    """
    # The common call (plain arrays and ints, the compiled backend) is validated and run
    # in one compiled function; None means "take the full path".
    fast = fast_path(backend)
    if fast is not None:
        out = fast(input, weight, bias, stride, padding, dilation, groups)
        if out is not None:
            return out
    if is_dask_array(input):  # lazy, tile by tile; imported only when a Dask array comes
        from ._dask import conv2d as dask_conv2d

        return dask_conv2d(input, weight, bias, stride, padding, dilation, groups, backend=backend)
    torch = torch_if_tensor(input, weight)
    if torch is not None:
        return _conv2d_tensor(
            torch, input, weight, bias, stride, padding, dilation, groups, backend
        )
    x, w, b, spec = prepare_conv2d(input, weight, bias, stride, padding, dilation, groups)
    out = resolve(backend, spec).conv2d(x, w, b, spec)
    return out[0] if spec.unbatched else out


def _meta(torch, a):
    """Return a zero-memory NumPy stand-in with a tensor's shape and dtype (validation)."""
    if not isinstance(a, torch.Tensor):
        return a
    try:
        dtype = torch.empty((), dtype=a.dtype).numpy().dtype
    except TypeError:  # bfloat16 and other dtypes NumPy lacks
        raise TypeError(
            f"conv2d(): tensor dtype {a.dtype} is not supported; pyconv computes in float32 "
            "or float64"
        ) from None
    return np.broadcast_to(np.zeros((), dtype=dtype), tuple(a.shape))


def _conv2d_tensor(torch, input, weight, bias, stride, padding, dilation, groups, backend):
    """Torch tensors in: validate like arrays, run on a backend that takes tensors."""
    args = (input, weight, bias)
    prepared = prepare_conv2d(*[_meta(torch, a) for a in args], stride, padding, dilation, groups)
    spec = prepared[3]
    impl = resolve(backend, spec)
    if not getattr(impl, "accepts_tensors", False):
        raise TypeError(
            f"conv2d(): got a torch.Tensor, but the {getattr(impl, 'name', impl)!r} backend "
            "computes on NumPy arrays; select the torch backend (backend='torch' or "
            "pyconv.use_backend('torch')) to keep tensors on their device, or pass "
            "tensor.numpy()"
        )
    # tensors as given; arrays as prepare_conv2d normalised them (batched, native byte order)
    arrays = zip(args, prepared[:3], strict=True)
    x, w, b = (a if isinstance(a, torch.Tensor) else p for a, p in arrays)
    if spec.unbatched and isinstance(x, torch.Tensor):
        x = x.unsqueeze(0)
    out = impl.conv2d(x, w, b, spec)
    return out[0] if spec.unbatched else out
