"""The ``winograd`` backend: Winograd F(4x4, 3x3) / F(2x2, 3x3) for 3x3 layers.

A 3x3 convolution with stride 1 computed with Winograd's minimal filtering algorithm
(Lavin & Gray, 2016) in pyconv's compiled core (``_winograd.h``): 36 multiplications per
4x4 output tile and input channel instead of 144 (F(4x4, 3x3)), or 16 per 2x2 tile instead
of 36 (F(2x2, 3x3)), as matrix products on the same register-blocked micro-kernels as the
direct convolution, per ISA (AVX-512, AVX2, a 16-byte baseline).  Deterministic: bitwise
identical results for any thread count.

Accuracy
--------
Winograd's transforms mix every input of a tile with every tap of the kernel, so its
rounding errors are not bounded element by element: one input much larger than its
neighbours, met there only by a zero tap, spoils outputs whose exact value and magnitude
``A = conv(|x|, |w|)`` are tiny.  The backend therefore declares the *norm-wise*
contract of :mod:`pyconv.testing`, ``|got - exact| <= c (K + 1) eps max(A)``, with
``c = 16`` for F(4x4) and ``c = 2`` for F(2x2) (about 3x and 4x the largest errors an
adversarial search found, docs/performance.md: measured margins, not a proof).  Pixels at
the image border that a tile mixes with taps that never meet them could break even that
bound; the kernel checks them on each call (one pass over the input) and computes the
outputs of those tiles with the direct kernels when they are large (see
``_winograd.pxi``); an output that comes out infinite or NaN makes the call run the direct
kernels.

Options (``pyconv.use_backend('winograd', tile=2, fallback='direct')``)
-----------------------------------------------------------------------
tile : {4, 2}, default 4
    F(4x4, 3x3) (4x fewer multiplications, the faster on every ResNet layer measured) or
    F(2x2, 3x3) (2.25x fewer, about 10x more accurate).
fallback : {None, 'direct'}, default None
    ``None``: a call Winograd cannot compute (not 3x3, stride or dilation other than 1,
    depthwise) raises :class:`pyconv.UnsupportedCallError` with the reason, as for any
    backend named explicitly.  ``'direct'``: such calls, and those where Winograd measured no faster
    (:func:`winograd_pays`), run the direct kernels of the ``cython`` backend; the
    declared contract stays the norm-wise one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._registry.capabilities import Capabilities
from .._validation import ConvSpec
from . import cython

__all__ = ["ACCURACY_C", "WinogradBackend", "why_not", "winograd_pays"]

#: The norm-wise contract's constant per tile size (see the module docstring).
ACCURACY_C = {4: 16.0, 2: 2.0}


def why_not(spec: ConvSpec) -> str | None:
    """Return why Winograd cannot compute ``spec``, or None if it can."""
    if spec.kernel_size != (3, 3):
        return f"kernel {spec.kernel_size[0]}x{spec.kernel_size[1]} (Winograd here is 3x3 only)"
    if spec.stride != (1, 1):
        return f"stride {spec.stride} (Winograd needs stride 1)"
    if spec.dilation != (1, 1):
        return f"dilation {spec.dilation} (Winograd needs dilation 1)"
    if spec.groups > 1 and spec.in_channels == spec.groups:
        # one input channel per group: no matrix product shares the transforms' cost
        return (
            f"groups={spec.groups} with one input channel per group (depthwise): Winograd "
            "has nothing to share the transforms' cost; use backend='cython'"
        )
    return None


def winograd_pays(spec: ConvSpec) -> bool:
    """Whether Winograd measured faster than the direct kernels for ``spec``.

    ``benchmarks/winograd_crossover.py`` (docs/performance.md, "Winograd"): the transforms
    cost per input and per output channel, the savings per product of the two, so
    Winograd needs enough channels on both sides (it lost at 16 and fewer, won at 32 and
    more, on AVX-512 and AVX2), and enough outputs per call to amortise the work done once
    per call (it lost on a 4x4 plane at batch 1, won from 7x7 on).
    """
    cig = spec.in_channels // spec.groups
    cog = spec.out_channels // spec.groups
    ho, wo = spec.output_size
    return cig >= 32 and cog >= 32 and spec.batch * ho * wo >= 49


class WinogradBackend:
    """The backend object the registry loads for ``'winograd'``.

    Parameters
    ----------
    tile : {4, 2}, default 4
        Output tile side: F(4x4, 3x3) or F(2x2, 3x3).
    fallback : {None, 'direct'}, default None
        What to do with calls Winograd cannot compute or does not speed up (see the
        module docstring).
    """

    name = "winograd"

    def __init__(self, tile: Any = 4, fallback: str | None = None) -> None:
        if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile not in (2, 4):
            raise ValueError(f"tile must be 4 or 2 (F(4x4, 3x3) or F(2x2, 3x3)), not {tile!r}")
        t = int(tile)
        if fallback not in (None, "direct"):
            raise ValueError(f"fallback must be None or 'direct', not {fallback!r}")
        self.tile = t
        self.fallback = fallback
        # with a fallback every call runs (the direct kernels take what Winograd cannot)
        general = fallback is not None
        self.capabilities = Capabilities(
            stride=general,
            dilation=general,
            accuracy="normwise",
            accuracy_c=ACCURACY_C[t],
            deterministic=True,
        )

    def __repr__(self) -> str:
        return f"WinogradBackend(tile={self.tile}, fallback={self.fallback!r})"

    def supports(self, spec: ConvSpec) -> bool | str:
        """Return True if this backend runs ``spec``, else the reason (without a fallback)."""
        if self.fallback is not None:
            return True
        reason = why_not(spec)
        return True if reason is None else reason

    def conv2d(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: ConvSpec):
        """Convolve; see :func:`pyconv.conv2d` for the semantics.

        Parameters
        ----------
        x : ndarray, shape (N, C_in, H, W), any strides
        w : ndarray, shape (C_out, C_in / groups, 3, 3), any strides
        b : ndarray, shape (C_out,), C-contiguous, or None
        spec : ConvSpec

        Returns
        -------
        ndarray, shape (N, C_out, H_out, W_out), C-contiguous, dtype ``spec.dtype``
        """
        if why_not(spec) is None and (self.fallback is None or winograd_pays(spec)):
            return _core.winograd_forward(x, w, b, spec.padding, spec.groups, self.tile)
        return cython.conv2d(x, w, b, spec)
