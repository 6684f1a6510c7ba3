"""The ``torch`` backend: ``torch.nn.functional.conv2d`` behind pyconv's front end.

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

    def conv2d(self, x, w, b, spec: ConvSpec):
        """Convolve NumPy arrays (returns NumPy) or tensors (returns a tensor).

        Parameters
        ----------
        x : ndarray or torch.Tensor, shape (N, C_in, H, W)
        w : ndarray or torch.Tensor, shape (C_out, C_in / groups, kH, kW)
        b : ndarray or torch.Tensor, shape (C_out,), or None
        spec : ConvSpec

        Returns
        -------
        ndarray or torch.Tensor, shape (N, C_out, H_out, W_out)
        """
        tensor_in = isinstance(x, torch.Tensor)
        device = x.device if tensor_in else self.device
        tx = x if tensor_in else _tensor(x, device)
        tw = _tensor(w, device)
        tb = None if b is None else _tensor(b, device)
        if spec.in_channels == 0:
            # torch returns (N, 0, H_out, W_out) here; pyconv's semantics (docs/semantics.md)
            # are the empty sum: the bias, or zeros, in the spec's output shape
            out = tx.new_zeros((spec.batch, spec.out_channels, *spec.output_size))
            if tb is not None:
                out += tb.reshape(1, -1, 1, 1)
            return out if tensor_in else out.detach().cpu().numpy()
        top, bottom, left, right = spec.padding
        if top == bottom and left == right:
            padding = (top, left)
        else:  # padding='same' with an even kernel: pad explicitly (torch's 'same' warns)
            tx = F.pad(tx, (left, right, top, bottom))
            padding = (0, 0)
        try:
            out = F.conv2d(tx, tw, tb, spec.stride, padding, spec.dilation, spec.groups)
        except RuntimeError as exc:
            # torch reports a failed CPU allocation as a RuntimeError; pyconv's backends
            # raise MemoryError for it, as NumPy does (torch's text names the size)
            if isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in str(exc):
                raise MemoryError(f"torch backend: {exc}") from exc
            raise
        if tensor_in:
            return out
        # NumPy in, NumPy out: a weight that requires grad must not leak autograd state
        return out.detach().cpu().numpy()


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
    if (
        t.dim() == 4
        and not t.is_contiguous()
        and t.is_contiguous(memory_format=torch.channels_last)
    ):
        # torch 2.13 crashes (SIGSEGV) on some channels-last inputs, e.g. x (2, 2, 21, 1),
        # weight (1, 2, 5, 1), a bias, stride (1, 3), padding (0, 2), dilation (3, 2)
        # (found by tests/test_fuzz.py): hand it those in C order
        t = t.contiguous()
    return t if device.type == "cpu" else t.to(device)
