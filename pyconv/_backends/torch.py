"""The ``torch`` backend: ``torch.nn.functional`` and ``torch.nn.grad`` behind pyconv's front end.

Every operation of the family runs here: ``conv1d/2d/3d``, ``conv_transpose1d/2d/3d`` and the
gradients ``conv{1,2,3}d_input`` / ``conv{1,2,3}d_weight``.

NumPy in gives NumPy out (``torch.from_numpy`` shares the memory where it can); a torch
tensor in stays a tensor on its own device, with no copy.  Option ``device``: ``'cpu'``
(default) or ``'cuda'`` (``pyconv.use_backend('torch', device='cuda')``): NumPy inputs
are then copied to the GPU and the result back, which costs more than the convolution for
most shapes; pass tensors already on the GPU to avoid it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - torch's own convention
import torch.nn.grad

from .._validation import ConvSpec

__all__ = ["TorchBackend"]


class TorchBackend:
    """Backend object for ``'torch'``.

    Parameters
    ----------
    device : str or torch.device, default 'cpu'
        Where NumPy inputs are computed.  Tensor inputs are computed on their own device.
    """

    name = "torch"
    capabilities = None  # filled from the entry point's spec by the registry
    accepts_tensors = True

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                "device='cuda' was asked for, but torch.cuda.is_available() is False "
                f"(torch {torch.__version__}, built with CUDA {torch.version.cuda})"
            )

    def supports(self, spec: ConvSpec) -> bool:
        """Every call pyconv validates runs here."""
        return True

    def _inputs(self, *arrays):
        """Tensors on the call's device, and whether the call came with tensors."""
        tensor_in = isinstance(arrays[0], torch.Tensor)
        device = arrays[0].device if tensor_in else self.device
        return tensor_in, [None if a is None else _tensor(a, device) for a in arrays]

    def conv(self, x, w, b, spec: ConvSpec):
        """Convolve NumPy arrays (returns NumPy) or tensors (returns a tensor).

        Serves ``conv1d``, ``conv2d`` and ``conv3d``.

        Parameters
        ----------
        x : ndarray or torch.Tensor, shape (N, C_in, *spatial)
        w : ndarray or torch.Tensor, shape (C_out, C_in / groups, *kernel)
        b : ndarray or torch.Tensor, shape (C_out,), or None
        spec : ConvSpec

        Returns
        -------
        ndarray or torch.Tensor, shape (N, C_out, *output_size)
        """
        tensor_in, (tx, tw, tb) = self._inputs(x, w, b)
        if spec.in_channels == 0:
            # torch returns (N, 0, *out) here; pyconv's semantics (docs/semantics.md) are
            # the empty sum: the bias, or zeros, in the spec's output shape
            out = tx.new_zeros((spec.batch, spec.out_channels, *spec.output_size))
            if tb is not None:
                out += tb.reshape(1, -1, *(1,) * spec.ndim)
            return _result(out, tensor_in)
        before, after = spec.padding[::2], spec.padding[1::2]
        if before == after:
            padding = before
        else:  # padding='same' with an even kernel: pad explicitly (torch's 'same' warns)
            tx = F.pad(tx, [p for i in reversed(range(spec.ndim)) for p in (before[i], after[i])])
            padding = (0,) * spec.ndim
        f = getattr(F, spec.op)
        out = _run(f, tx, tw, tb, spec.stride, padding, spec.dilation, spec.groups)
        return _result(out, tensor_in)

    conv1d = conv2d = conv3d = conv

    def conv_transpose(self, x, w, b, spec: ConvSpec):
        """Transposed convolution (``conv_transpose1d/2d/3d``) of arrays or tensors.

        Parameters
        ----------
        x : ndarray or torch.Tensor, shape (N, C_in, *spatial)
        w : ndarray or torch.Tensor, shape (C_in, C_out / groups, *kernel)
        b : ndarray or torch.Tensor, shape (C_out,), or None
        spec : ConvSpec

        Returns
        -------
        ndarray or torch.Tensor, shape (N, C_out, *output_size)
        """
        tensor_in, (tx, tw, tb) = self._inputs(x, w, b)
        f = getattr(F, spec.op)
        out = _run(
            f, tx, tw, tb, spec.stride, spec.padding[::2], spec.output_padding, spec.groups,
            spec.dilation,
        )  # fmt: skip
        return _result(out, tensor_in)

    conv_transpose1d = conv_transpose2d = conv_transpose3d = conv_transpose

    def conv_input(self, w, grad_output, spec: ConvSpec):
        """Compute the input gradient (``torch.nn.grad.conv{n}d_input``) of arrays or tensors.

        Parameters
        ----------
        w : ndarray or torch.Tensor, shape (C_out, C_in / groups, *kernel)
        grad_output : ndarray or torch.Tensor, shape (N, C_out, *output_size)
        spec : ConvSpec

        Returns
        -------
        ndarray or torch.Tensor, shape (N, C_in, *input_size)
        """
        tensor_in, (tgo, tw) = self._inputs(grad_output, w)
        size = (spec.batch, spec.in_channels, *spec.input_size)
        f = getattr(torch.nn.grad, spec.op)
        out = _run(f, size, tw, tgo, spec.stride, spec.padding[::2], spec.dilation, spec.groups)
        return _result(out, tensor_in)

    conv1d_input = conv2d_input = conv3d_input = conv_input

    def conv_weight(self, x, grad_output, spec: ConvSpec):
        """Compute the weight gradient (``torch.nn.grad.conv{n}d_weight``) of arrays or tensors.

        Parameters
        ----------
        x : ndarray or torch.Tensor, shape (N, C_in, *input_size)
        grad_output : ndarray or torch.Tensor, shape (N, C_out, *output_size)
        spec : ConvSpec

        Returns
        -------
        ndarray or torch.Tensor, shape (C_out, C_in / groups, *kernel_size)
        """
        tensor_in, (tx, tgo) = self._inputs(x, grad_output)
        size = (spec.out_channels, spec.in_channels // spec.groups, *spec.kernel_size)
        f = getattr(torch.nn.grad, spec.op)
        out = _run(f, tx, size, tgo, spec.stride, spec.padding[::2], spec.dilation, spec.groups)
        return _result(out, tensor_in)

    conv1d_weight = conv2d_weight = conv3d_weight = conv_weight


def _run(f, *args):
    """Call a torch function; a failed CPU allocation becomes a MemoryError, as in NumPy."""
    try:
        return f(*args)
    except RuntimeError as exc:
        # torch reports a failed CPU allocation as a RuntimeError; pyconv's backends
        # raise MemoryError for it, as NumPy does (torch's text names the size)
        if isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in str(exc):
            raise MemoryError(f"torch backend: {exc}") from exc
        raise


def _result(out, tensor_in: bool):
    # NumPy in, NumPy out: a weight that requires grad must not leak autograd state
    return out if tensor_in else out.detach().cpu().numpy()


def _tensor(a, device):
    if isinstance(a, torch.Tensor):
        return a if a.device == device else a.to(device)
    a = np.asarray(a)
    if (
        not a.flags.writeable
        or not a.flags.aligned
        or any(s < 0 for s in a.strides)
        or any(s % a.itemsize for s in a.strides)
    ):
        # from_numpy refuses these layouts and warns on read-only arrays: copy (to a
        # writable array; ascontiguousarray would return a contiguous read-only one as is)
        a = a.copy(order="C")
    t = torch.from_numpy(a)
    if not t.is_contiguous() and (
        (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last))
        or (t.dim() == 5 and t.is_contiguous(memory_format=torch.channels_last_3d))
    ):
        # torch 2.13 crashes (SIGSEGV) on some channels-last inputs, e.g. x (2, 2, 21, 1),
        # weight (1, 2, 5, 1), a bias, stride (1, 3), padding (0, 2), dilation (3, 2)
        # (found by tests/test_fuzz.py): hand it those in C order
        t = t.contiguous()
    return t if device.type == "cpu" else t.to(device)
