"""Stride phases: a transposed convolution as plain stride-1 correlations, no zeros inserted.

Per spatial dimension (stride ``s``, padding ``p``, dilation ``d``, kernel ``k``), the
transposed convolution is ``out[y] = sum over (i, t) with i s - p + t d = y of x[i] w[t]``.
Write ``y + p = Z s + phi`` with ``0 <= phi < s``.  Only the taps with ``t d % s == phi``
reach a slot of phase ``phi``; with ``K_t = (t d - phi) / s`` the slot is
``sum over those t of x[Z - K_t] w[t]``.  Consecutive taps of a phase are ``s / g`` apart
(``g = gcd(s, d)``) and their ``K`` differ by ``d / g``, so the slots of one phase are a
stride-1 correlation of ``x`` with the phase's taps in reverse order, dilated by
``d / g``, read from ``x`` shifted by the largest ``K`` (zero padding where it reads
outside ``x``).  In several dimensions the phases are the products of the per-dimension
ones.  Each phase costs one direct convolution on ``1 / s`` of the taps per dimension:
the same multiply-adds as the transposed convolution, none on inserted zeros.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator
from typing import NamedTuple

from .._validation import ConvSpec

__all__ = ["DimPhase", "Phase", "dim_phases", "transposed_phases"]


class DimPhase(NamedTuple):
    """One phase of one spatial dimension.

    Attributes
    ----------
    slots : slice
        The output positions of the phase: ``r, r + s, ...``.
    taps : tuple of int, or None
        Kernel indices in correlation order (reversed); None when no tap reaches the
        slots, or the taps read only the zero padding around ``x``.
    window : slice
        The part of ``x`` the correlation reads.
    before, after : int
        Zero padding of ``window`` for the correlation.
    dilation : int
        Spacing of the sub-kernel's taps in ``x``: ``d / gcd(s, d)``.
    """

    slots: slice
    taps: tuple[int, ...] | None
    window: slice = slice(0, 0)
    before: int = 0
    after: int = 0
    dilation: int = 1


def dim_phases(
    size: int, out_size: int, stride: int, padding: int, dilation: int, kernel: int
) -> Iterator[DimPhase]:
    """Yield the phases of one dimension that have output slots.

    Parameters
    ----------
    size : int
        Length of the transposed convolution's input ``x`` in this dimension.
    out_size : int
        Length of its result (``output_padding`` included).
    stride, padding, dilation, kernel : int
        The call's values in this dimension (``padding`` the one cropped before).
    """
    s, d = stride, dilation
    sub_dilation = d // math.gcd(s, d)
    for phi in range(s):
        r = (phi - padding) % s  # first output slot of the phase
        if r >= out_size:
            continue
        count = (out_size - r + s - 1) // s
        slots = slice(r, r + s * (count - 1) + 1, s)
        taps = [t for t in range(kernel) if (t * d) % s == phi]
        if not taps:
            yield DimPhase(slots, None)
            continue
        shift = (taps[-1] * d - phi) // s  # the largest K: x is read from Z - shift on
        first = (r + padding - phi) // s - shift  # x index the first slot's correlation starts at
        end = first + count + sub_dilation * (len(taps) - 1)  # one past the last x index read
        lo, hi = max(first, 0), min(size, end)
        if hi <= lo:  # every tap of every slot lands in the zero padding
            yield DimPhase(slots, None)
            continue
        yield DimPhase(
            slots,
            tuple(taps[::-1]),
            slice(lo, hi),
            before=lo - first,
            after=end - hi,
            dilation=sub_dilation,
        )


class Phase(NamedTuple):
    """One phase of a whole call: a stride-1 correlation, or bias-only slots.

    ``slots`` index the output's spatial axes; ``taps`` (per dimension, or None for
    bias-only slots) index the kernel's; ``window`` the input's; ``padding`` is
    ``(before, after)`` per dimension and ``dilation`` one value per dimension.
    """

    slots: tuple[slice, ...]
    taps: tuple[tuple[int, ...], ...] | None
    window: tuple[slice, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]


def transposed_phases(spec: ConvSpec) -> tuple[Phase, ...]:
    """Return the phases of a ``conv_transpose{n}d`` spec; together they cover every output.

    Parameters
    ----------
    spec : ConvSpec
        A transposed convolution's spec (``spec.kind == 'conv_transpose'``).

    Returns
    -------
    tuple of Phase
        Immutable, and shared by every call of the same geometry.
    """
    return _plan(
        spec.input_size,
        spec.output_size,
        spec.stride,
        spec.padding[::2],
        spec.dilation,
        spec.kernel_size,
    )


@functools.lru_cache(maxsize=256)
def _plan(
    input_size: tuple[int, ...],
    output_size: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    kernel_size: tuple[int, ...],
) -> tuple[Phase, ...]:
    """Plan the phases of one geometry.

    The plan is immutable, so it is kept for the next call: a layer repeats its
    geometry, and planning cost as much as a small call's arithmetic.
    """
    per_dim = [
        list(dim_phases(*dims))
        for dims in zip(
            input_size, output_size, stride, padding, dilation, kernel_size, strict=True
        )
    ]
    phases = []
    for combo in itertools.product(*per_dim):
        slots = tuple(p.slots for p in combo)
        if any(p.taps is None for p in combo):
            phases.append(Phase(slots, None, (), (), ()))
            continue
        phases.append(
            Phase(
                slots,
                tuple(p.taps for p in combo if p.taps is not None),
                tuple(p.window for p in combo),
                tuple(v for p in combo for v in (p.before, p.after)),
                tuple(p.dilation for p in combo),
            )
        )
    return tuple(phases)
