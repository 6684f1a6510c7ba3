"""The stride-phase plan of the compiled transposed convolution (``pyconv._backends._phases``).

The plan must cover every output slot exactly once, give each slot exactly the taps that
reach it (those with ``t * dilation % stride == (y + padding) % stride``), read no input
twice for one tap, and compute no product with an inserted zero.  Checked here by
replaying the plan in plain Python against the definition
``out[y] = sum over i s - p + t d = y of x[i] w[t]``, for every small 1-d geometry.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import pyconv
from pyconv import _core
from pyconv._backends._phases import dim_phases, transposed_phases
from pyconv._backends.cython import _sub_kernel
from pyconv._validation import prepare_conv_transpose


def _replay(phases, x, w, out_size):
    """Evaluate a 1-d plan with Python loops: each phase a correlation of its window."""
    out = np.full(out_size, np.nan)
    products = 0
    for p in phases:
        slots = range(out_size)[p.slots]
        if p.taps is None:
            out[list(slots)] = 0.0
            continue
        padded = np.concatenate([np.zeros(p.before), x[p.window], np.zeros(p.after)])
        for k, y in enumerate(slots):
            assert np.isnan(out[y]), f"slot {y} computed twice"
            total = 0.0
            for j, t in enumerate(p.taps):
                v = padded[k + j * p.dilation]
                total += v * w[t]
                products += 1
            out[y] = total
    return out, products


def _definition(x, w, s, p, d, out_size):
    out = np.zeros(out_size)
    for i, t in itertools.product(range(len(x)), range(len(w))):
        y = i * s - p + t * d
        if 0 <= y < out_size:
            out[y] += x[i] * w[t]
    return out


@pytest.mark.parametrize("stride", [1, 2, 3, 4])
@pytest.mark.parametrize("dilation", [1, 2, 3, 4])
@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
def test_every_small_geometry(stride, dilation, kernel):
    rng = np.random.default_rng(stride * 100 + dilation * 10 + kernel)
    for size in (1, 2, 5):
        full = (size - 1) * stride + dilation * (kernel - 1) + 1
        for padding in range(0, (full + 1) // 2 + 1):
            for extra in range(max(stride, dilation)):
                out_size = full - 2 * padding + extra
                if out_size < 1:
                    continue
                x, w = rng.integers(-9, 10, size) * 1.0, rng.integers(-9, 10, kernel) * 1.0
                phases = list(dim_phases(size, out_size, stride, padding, dilation, kernel))
                got, products = _replay(phases, x, w, out_size)
                assert not np.isnan(got).any(), "a slot no phase covers"
                np.testing.assert_array_equal(got, _definition(x, w, stride, padding, dilation,
                                                               out_size))  # fmt: skip
                # no product with an inserted zero: at most one per (input, tap) pair, and
                # at most the slot-tap pairs of the definition plus the zero-padded borders
                assert products <= out_size * kernel
                assert products <= size * kernel + sum(
                    (p.before + p.after) * len(p.taps) for p in phases if p.taps is not None
                )


def test_phases_of_a_whole_call_cover_the_output_once():
    x = np.zeros((1, 4, 5, 3))
    w = np.zeros((4, 2, 3, 4))
    *_, spec = prepare_conv_transpose(x, w, None, (2, 3), (1, 2), (1, 0), 2, (1, 2))
    seen = np.zeros(spec.output_size, int)
    for phase in transposed_phases(spec):
        seen[phase.slots] += 1
        if phase.taps is not None:
            assert len(phase.taps) == 2
            assert len(phase.padding) == 4
    assert (seen == 1).all()
    # 2 phases along the rows (stride 2) times 3 along the columns (stride 3): kernel
    # width 4 with dilation 2 puts taps 0..3 at 0, 2, 4, 6, i.e. phases 0, 2, 1, 0
    assert len(list(transposed_phases(spec))) == 2 * 3


def test_a_stride_beyond_the_kernel_leaves_bias_only_phases():
    # kernel 2, stride 4: phases 2 and 3 are reached by no tap
    phases = list(dim_phases(3, 10, 4, 0, 1, 2))
    assert [p.taps is None for p in phases] == [False, False, True, True]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", [(3,), (3, 4), (2, 3, 2)])
@pytest.mark.parametrize("groups", [1, 2])
def test_phase_sub_kernels_are_the_forward_weight_s_taps(dtype, kernel, groups):
    # _sub_kernel (one compiled pass) against NumPy: the transposed weight
    # (C_in, C_out / groups, *kernel) in forward form (C_out, C_in / groups, *kernel),
    # then the phase's taps selected per dimension, in the plan's (reversed) order
    rng = np.random.default_rng(len(kernel) * 10 + groups)
    c_in, c_og = 4, 3
    w = rng.standard_normal((c_in, c_og, *kernel)).astype(dtype)
    forward = np.swapaxes(w.reshape(groups, c_in // groups, c_og, *kernel), 1, 2)
    forward = forward.reshape(groups * c_og, c_in // groups, *kernel)
    for _ in range(5):
        taps = tuple(
            np.sort(rng.choice(k, size=rng.integers(1, k + 1), replace=False))[::-1] for k in kernel
        )
        sub = _sub_kernel(w, groups, taps, kernel)
        want = forward[(slice(None), slice(None), *np.ix_(*taps))]
        assert sub.dtype == dtype
        assert sub.flags.c_contiguous
        np.testing.assert_array_equal(sub, want)
    # a non-contiguous weight, or a contiguous one off its alignment, is read as its values
    sub = _sub_kernel(np.asfortranarray(w), groups, taps, kernel)
    np.testing.assert_array_equal(sub, want)
    raw = np.empty(w.nbytes + 1, np.uint8)
    misaligned = raw[1:].view(dtype).reshape(w.shape)
    misaligned[...] = w
    assert not misaligned.flags.aligned
    np.testing.assert_array_equal(_sub_kernel(misaligned, groups, taps, kernel), want)


def test_gather_taps_refuses_indices_outside_the_kernel():
    w = np.zeros((2, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"tap indices must be in \[0, 9\)"):
        _core.gather_taps(w, 1, [9])
    with pytest.raises(ValueError, match="groups dividing C_in"):
        _core.gather_taps(w, 3, [0])
    with pytest.raises(TypeError, match="unsupported dtype"):
        _core.gather_taps(w.astype(np.int32), 1, [0])


@pytest.mark.parametrize("num_threads", [1, 2])
def test_a_large_weight_is_gathered_the_same_on_any_thread_count(num_threads):
    # 128x128x3x3 float32 (576 KiB) is above the size gathered on every thread
    rng = np.random.default_rng(7)
    w = rng.standard_normal((128, 128, 3, 3)).astype(np.float32)
    idx = [8, 6, 2, 0]
    before = pyconv.get_num_threads()
    try:
        pyconv.set_num_threads(num_threads)
        got = _core.gather_taps(w, 2, idx)
    finally:
        pyconv.set_num_threads(before)
    forward = np.swapaxes(w.reshape(2, 64, 128, 9), 1, 2).reshape(256, 64, 9)
    np.testing.assert_array_equal(got, forward[:, :, idx])
