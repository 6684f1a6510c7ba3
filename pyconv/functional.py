"""The functional interface: :func:`conv2d` and the rest of the family.

``conv1d``, ``conv2d``, ``conv3d`` and ``conv_transpose1d/2d/3d`` here; the gradients of
``torch.nn.grad`` in :mod:`pyconv.grad`.  Every function validates once (``_validation``)
and hands a :class:`~pyconv.ConvSpec` to the backend the registry picks for its operation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._foreign import is_dask_array, torch_if_tensor
from ._registry import fast_path, resolve
from ._validation import prepare_conv, prepare_conv2d, prepare_conv_transpose

__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
]


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


def _meta(torch, a, who: str = "conv2d"):
    """Return a zero-memory NumPy stand-in with a tensor's shape and dtype (validation)."""
    if not isinstance(a, torch.Tensor):
        return a
    try:
        dtype = torch.empty((), dtype=a.dtype).numpy().dtype
    except TypeError:  # bfloat16 and other dtypes NumPy lacks
        raise TypeError(
            f"{who}(): tensor dtype {a.dtype} is not supported; pyconv computes in float32 "
            "or float64"
        ) from None
    return np.broadcast_to(np.zeros((), dtype=dtype), tuple(a.shape))


def _conv2d_tensor(torch, input, weight, bias, stride, padding, dilation, groups, backend):
    """Torch tensors in: validate like arrays, run on a backend that takes tensors."""
    return _tensor_call(
        torch, "conv2d", lambda x, w, b: prepare_conv2d(x, w, b, stride, padding, dilation, groups),
        (input, weight, bias), backend,
    )  # fmt: skip


def _tensor_call(torch, who: str, prepare, arrays: tuple, backend, batched=(0,)):
    """Run a call whose arrays include torch tensors on a backend that takes tensors.

    ``prepare(*arrays)`` validates (tensors replaced by zero-memory stand-ins) and returns
    the normalised arrays (in the order of ``arrays``) and the spec; the tensors are
    handed on as they are (the positions in ``batched`` get the batch axis an unbatched
    call lacks).
    """
    *prepared, spec = prepare(*[_meta(torch, a, who) for a in arrays])
    impl = resolve(backend, spec)
    if not getattr(impl, "accepts_tensors", False):
        raise TypeError(
            f"{who}(): got a torch.Tensor, but the {getattr(impl, 'name', impl)!r} backend "
            "computes on NumPy arrays; select the torch backend (backend='torch' or "
            "pyconv.use_backend('torch')) to keep tensors on their device, or pass "
            "tensor.numpy()"
        )
    # tensors as given; arrays as the front end normalised them (batched, native byte order)
    args = [a if isinstance(a, torch.Tensor) else p for a, p in zip(arrays, prepared, strict=True)]
    if spec.unbatched:
        for i in batched:
            if isinstance(args[i], torch.Tensor):
                args[i] = args[i].unsqueeze(0)
    out = getattr(impl, spec.op)(*args, spec)
    return out[0] if spec.unbatched else out


def call(who: str, prepare, arrays: tuple, backend) -> Any:
    """Validate and run one call of any operation but conv2d's fast path.

    Parameters
    ----------
    who : str
        The function's name, for messages.
    prepare : callable
        ``prepare(*arrays)`` validates and returns the normalised arrays and the spec.
    arrays : tuple
        The call's array arguments (ndarrays, array-likes, tensors or None), in the order
        of the backend method's arguments.
    backend : str, backend object or None
        The call's ``backend=``.
    """
    if any(is_dask_array(a) for a in arrays):
        raise TypeError(
            f"{who}(): got a dask.array.Array; pyconv computes Dask arrays with conv2d (and "
            "Conv2d) only. Compute the array first (array.compute()) or use conv2d"
        )
    torch = torch_if_tensor(*arrays)
    if torch is not None:
        return _tensor_call(torch, who, prepare, arrays, backend)
    *prepared, spec = prepare(*arrays)
    out = getattr(resolve(backend, spec), spec.op)(*prepared, spec)
    return out[0] if spec.unbatched else out


def _conv_nd(n: int, input, weight, bias, stride, padding, dilation, groups, backend):
    def prepare(x, w, b):
        return prepare_conv(x, w, b, stride, padding, dilation, groups, ndim=n)

    return call(f"conv{n}d", prepare, (input, weight, bias), backend)


def _transpose_nd(n, input, weight, bias, stride, padding, output_padding, groups, dilation,
                  backend):  # fmt: skip
    def prepare(x, w, b):
        return prepare_conv_transpose(
            x, w, b, stride, padding, output_padding, groups, dilation, ndim=n
        )

    return call(f"conv_transpose{n}d", prepare, (input, weight, bias), backend)


_IntN = int | tuple[int, ...]


def conv1d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: _IntN = 1,
    padding: _IntN | str = 0,
    dilation: _IntN = 1,
    groups: int = 1,
    *,
    backend=None,
) -> np.ndarray:
    r"""1-D cross-correlation with the semantics of ``torch.nn.functional.conv1d``.

    .. math::

        \text{out}[n, o, x] = \text{bias}[o] + \sum_{c, j}
            \text{weight}[o, c, j] \cdot
            \text{padded}[n, g \cdot C_{in}/G + c, x s + j d]

    Parameters
    ----------
    input : array_like, shape (N, C_in, L) or (C_in, L)
        float32 or float64, any memory layout, never modified.  A ``torch.Tensor`` is
        accepted with the ``torch`` backend (the result is then a tensor).
    weight : array_like, shape (C_out, C_in / groups, kL)
    bias : array_like, shape (C_out,), optional
    stride, dilation : int or (int,), default 1
    padding : int, (int,), 'valid' or 'same', default 0
        ``'same'`` (stride 1 only) puts the extra zero after when the total is odd.
    groups : int, default 1
    backend : str or backend object, optional
        See :func:`conv2d`.

    Returns
    -------
    ndarray, shape (N, C_out, L_out) or (C_out, L_out)
        ``L_out = floor((L + pad_before + pad_after - dilation (kL - 1) - 1) / stride) + 1``.

    Raises
    ------
    TypeError, ValueError
        As :func:`conv2d`, with torch's conv1d messages.

    Examples
    --------
    A moving sum of three samples:

    >>> import numpy as np, pyconv
    >>> x = np.arange(6, dtype=np.float32).reshape(1, 6)
    >>> pyconv.conv1d(x, np.ones((1, 1, 3), np.float32))
    array([[ 3.,  6.,  9., 12.]], dtype=float32)
    """
    return _conv_nd(1, input, weight, bias, stride, padding, dilation, groups, backend)


def conv3d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: _IntN = 1,
    padding: _IntN | str = 0,
    dilation: _IntN = 1,
    groups: int = 1,
    *,
    backend=None,
) -> np.ndarray:
    r"""3-D cross-correlation with the semantics of ``torch.nn.functional.conv3d``.

    Parameters
    ----------
    input : array_like, shape (N, C_in, D, H, W) or (C_in, D, H, W)
        float32 or float64, any memory layout, never modified.
    weight : array_like, shape (C_out, C_in / groups, kD, kH, kW)
    bias : array_like, shape (C_out,), optional
    stride, dilation : int or (int, int, int), default 1
    padding : int, (int, int, int), 'valid' or 'same', default 0
    groups : int, default 1
    backend : str or backend object, optional
        See :func:`conv2d`.

    Returns
    -------
    ndarray, shape (N, C_out, D_out, H_out, W_out) or (C_out, D_out, H_out, W_out)
        Each spatial size by the formula of :func:`conv1d`.

    Raises
    ------
    TypeError, ValueError
        As :func:`conv2d`, with torch's conv3d messages.

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> video = np.ones((3, 4, 8, 8), np.float32)           # (C, T, H, W), unbatched
    >>> w = np.ones((2, 3, 3, 3, 3), np.float32) / 81
    >>> pyconv.conv3d(video, w, padding=(0, 1, 1)).shape
    (2, 2, 8, 8)
    """
    return _conv_nd(3, input, weight, bias, stride, padding, dilation, groups, backend)


def _transpose_doc(n: int) -> str:
    sp = {1: "L", 2: "H, W", 3: "D, H, W"}[n]
    k = {1: "kL", 2: "kH, kW", 3: "kD, kH, kW"}[n]
    tup = {1: "(int,)", 2: "(int, int)", 3: "(int, int, int)"}[n]
    return f"""Transposed {n}-D convolution: ``torch.nn.functional.conv_transpose{n}d``.

    The adjoint of :func:`conv{n}d` with the same weight (the gradient of conv{n}d with
    respect to its input): each input element scatters ``x * weight[c, :, *tap]`` to
    ``i * stride - padding + tap * dilation`` of the result.  Note torch's argument order:
    ``groups`` before ``dilation``.

    Parameters
    ----------
    input : array_like, shape (N, C_in, {sp}) or (C_in, {sp})
        float32 or float64, any memory layout, never modified.  A ``torch.Tensor`` is
        accepted with the ``torch`` backend.
    weight : array_like, shape (C_in, C_out / groups, {k})
        Same dtype as ``input``.
    bias : array_like, shape (C_out,), optional
    stride : int or {tup}, default 1
    padding : int or {tup}, default 0
        ``dilation * (k - 1) - padding`` zeros are implicitly added on both sides of the
        input: the full result is cropped by ``padding`` on both sides.  Strings are
        refused, as torch refuses them.
    output_padding : int or {tup}, default 0
        Extra size added on one side of each output dimension (it only chooses among the
        sizes a strided conv{n}d maps to the same shape); each must be smaller than the
        stride or the dilation of its dimension.
    groups : int, default 1
    dilation : int or {tup}, default 1
    backend : str or backend object, optional
        See :func:`conv2d`.

    Returns
    -------
    ndarray, shape (N, C_out, {
        sp.replace("D", "D_out").replace("H", "H_out").replace("W", "W_out").replace("L", "L_out")
    }) or unbatched
        ``out = (in - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1`` per
        dimension.

    Raises
    ------
    TypeError, ValueError
        torch's checks and messages (``output padding must be smaller than either stride
        or dilation ...``, ``... Output size is too small``, ...).
    """


def conv_transpose1d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: _IntN = 1,
    padding: _IntN = 0,
    output_padding: _IntN = 0,
    groups: int = 1,
    dilation: _IntN = 1,
    *,
    backend=None,
) -> np.ndarray:
    """Transposed 1-D convolution: ``torch.nn.functional.conv_transpose1d``."""
    return _transpose_nd(
        1, input, weight, bias, stride, padding, output_padding, groups, dilation, backend
    )


def conv_transpose2d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: _IntN = 1,
    padding: _IntN = 0,
    output_padding: _IntN = 0,
    groups: int = 1,
    dilation: _IntN = 1,
    *,
    backend=None,
) -> np.ndarray:
    """Transposed 2-D convolution: ``torch.nn.functional.conv_transpose2d``."""
    return _transpose_nd(
        2, input, weight, bias, stride, padding, output_padding, groups, dilation, backend
    )


def conv_transpose3d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: _IntN = 1,
    padding: _IntN = 0,
    output_padding: _IntN = 0,
    groups: int = 1,
    dilation: _IntN = 1,
    *,
    backend=None,
) -> np.ndarray:
    """Transposed 3-D convolution: ``torch.nn.functional.conv_transpose3d``."""
    return _transpose_nd(
        3, input, weight, bias, stride, padding, output_padding, groups, dilation, backend
    )


conv_transpose1d.__doc__ = _transpose_doc(1)
conv_transpose2d.__doc__ = (
    _transpose_doc(2)
    + """
    Examples
    --------
    A stride-2 decoder step doubles the size (``output_padding=1`` picks the even size):

    >>> import numpy as np, pyconv
    >>> x = np.ones((1, 8, 14, 14), np.float32)
    >>> w = np.ones((8, 4, 3, 3), np.float32)
    >>> pyconv.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1).shape
    (1, 4, 28, 28)
    """
)
conv_transpose3d.__doc__ = _transpose_doc(3)
