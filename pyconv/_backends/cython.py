"""The ``cython`` backend: pyconv's compiled direct-convolution kernels (float32, float64).

``conv1d``, ``conv2d`` and ``conv3d`` are direct calls of ``_core.conv_forward``.  The
transposed convolution is built on the same kernels without inserting zeros
(:mod:`._phases`); the input gradient is a transposed convolution; the weight gradient
is ``_core.conv_weight_grad``, declared only once the compiled core has it.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from .._validation import ConvSpec
from ._phases import transposed_phases

__all__ = [
    "HAS_WEIGHT_GRAD",
    "CythonBackend",
    "conv",
    "conv2d",
    "conv_input",
    "conv_transpose",
    "conv_weight",
]

#: Whether the compiled core has the weight-gradient kernel (the entry point's spec
#: declares the ``conv{n}d_weight`` operations exactly then; a test keeps the two in step).
HAS_WEIGHT_GRAD = hasattr(_core, "conv_weight_grad")


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: ConvSpec) -> np.ndarray:
    """Convolve with the compiled kernels; see :func:`pyconv.conv2d` for the semantics.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, *spatial), any strides
    w : ndarray, shape (C_out, C_in / groups, *kernel), any strides
    b : ndarray, shape (C_out,), C-contiguous, or None
    spec : ConvSpec

    Returns
    -------
    ndarray, shape (N, C_out, *output_size), C-contiguous, dtype ``spec.dtype``
    """
    return _core.conv_forward(x, w, b, spec.stride, spec.padding, spec.dilation, spec.groups)


conv2d = conv


def conv_transpose(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: ConvSpec
) -> np.ndarray:
    """Transposed convolution as stride-phase correlations on the compiled kernels.

    Each output slot ``y`` with ``(y + padding) % stride == phi`` (per dimension) is
    reached by the taps ``k`` with ``k * dilation % stride == phi`` only: the slots of one
    phase are a stride-1 correlation of ``x`` with that sub-kernel, flipped.  Each phase
    is one ``_core.conv_forward`` call, written into the strided output slots; a phase
    that no tap reaches gets the bias.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, *spatial), any strides
    w : ndarray, shape (C_in, C_out / groups, *kernel), any strides
    b : ndarray, shape (C_out,), C-contiguous, or None
    spec : ConvSpec

    Returns
    -------
    ndarray, shape (N, C_out, *output_size), C-contiguous, dtype ``spec.dtype``
    """
    N, G = spec.batch, spec.groups
    Co = spec.out_channels
    ones = (1,) * spec.ndim
    every = (slice(None), slice(None))  # the batch and channel axes
    phases = transposed_phases(spec)
    only = phases[0] if len(phases) == 1 else None
    if only is not None and only.taps is not None and N * Co:
        # stride 1 (an input gradient): one correlation makes the whole output, so its
        # result is returned as it is, not copied into a separate array
        phase = only
        sub = _sub_kernel(w, G, only.taps, spec.kernel_size)
        return _core.conv_forward(x[every + phase.window], sub, b, ones, phase.padding,
                                  phase.dilation, G)  # fmt: skip
    out = np.empty((N, Co, *spec.output_size), dtype=spec.dtype)
    if out.size == 0:
        return out
    for phase in phases:
        slots = out[every + phase.slots]
        if phase.taps is None:  # no tap reaches these slots, or only the zero padding
            slots[...] = 0 if b is None else b.reshape((Co, *ones))
            continue
        sub = _sub_kernel(w, G, phase.taps, spec.kernel_size)
        xs = x[every + phase.window]
        slots[...] = _core.conv_forward(xs, sub, b, ones, phase.padding, phase.dilation, G)
    return out


def _sub_kernel(
    w: np.ndarray, groups: int, taps: tuple[tuple[int, ...], ...], kernel_size: tuple[int, ...]
) -> np.ndarray:
    """Select a phase's sub-kernel in forward form, (C_out, C_in / groups, *taps), C-contiguous.

    ``w`` is the transposed convolution's weight, (C_in, C_out / groups, *kernel); the
    phase keeps the taps ``taps[d]`` of each dimension, in that (reversed) order.  One
    compiled pass transposes the channels and gathers the taps: in NumPy the two cost a
    tenth of a stride-2 decoder layer.
    """
    flat, step = [0], 1  # the taps' flat kernel indices, in C order (a few: plain Python)
    for t, k in zip(taps[::-1], kernel_size[::-1], strict=True):
        flat = [i * step + f for i in t for f in flat]
        step *= k
    sub = _core.gather_taps(w, groups, flat)
    return sub.reshape(sub.shape[:2] + tuple(len(t) for t in taps))


def conv_input(w: np.ndarray, grad_output: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """Compute the input gradient: ``grad_output`` convolved transposed with ``w``.

    Parameters
    ----------
    w : ndarray, shape (C_out, C_in / groups, *kernel)
    grad_output : ndarray, shape (N, C_out, *output_size)
    spec : ConvSpec

    Returns
    -------
    ndarray, shape (N, C_in, *input_size), C-contiguous, dtype ``spec.dtype``
    """
    return conv_transpose(grad_output, w, None, spec.transposed())


def conv_weight(x: np.ndarray, grad_output: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """Compute the weight gradient with the compiled kernel ``_core.conv_weight_grad``.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, *input_size), any strides
    grad_output : ndarray, shape (N, C_out, *output_size), any strides
    spec : ConvSpec

    Returns
    -------
    ndarray, shape (C_out, C_in / groups, *kernel_size), dtype ``spec.dtype``
    """
    return _core.conv_weight_grad(
        x, grad_output, spec.kernel_size, spec.stride, spec.padding, spec.dilation, spec.groups
    )


class CythonBackend:
    """The backend object the registry loads for ``'cython'`` (no options)."""

    name = "cython"
    capabilities = None  # filled from the entry point's spec by the registry

    def supports(self, spec: ConvSpec) -> bool:
        """Every call pyconv validates runs here."""
        return True

    conv1d = conv2d = conv3d = staticmethod(conv)
    conv_transpose1d = conv_transpose2d = conv_transpose3d = staticmethod(conv_transpose)
    conv1d_input = conv2d_input = conv3d_input = staticmethod(conv_input)
    conv1d_weight = conv2d_weight = conv3d_weight = staticmethod(conv_weight)
    #: validation and the kernels in one compiled call (None when the arguments need the
    #: full front end); see ``pyconv._registry.fast_path`` and ``_core.conv2d_fast``.
    _fast_conv2d = staticmethod(_core.conv2d_fast)
