"""The channel-lanes path of 3-D convolutions (pyconv/_lanes.pxi, _lanes.h).

3-D layers whose groups have at least a tile's output channels run on a channels-last
copy of each image with output channels in the vector lanes.  The shapes here take that
path on every variant (up to 32 float32 lanes on AVX-512), which each test asserts.
Checked against the float64 loops of test_kernels_nd (independent of pyconv's other
paths and of torch) under the accuracy contract, for every kernel variant this CPU runs:
channel counts that leave a partial last block, strides (row by row) and stride 1
(positions across rows), dilation, groups, kernel rows read as one run, asymmetric
padding, kernels of more taps than the stack buffer, batches, views.  That results do
not depend on the thread count is tests/test_threads.py's (with these shapes).
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconv
from pyconv import _core
from tests.test_kernels_nd import _out_size, assert_within_contract, reference_forward

# (input shape, weight shape, stride, padding (before, after per dim), dilation, groups)
CASES = {
    # 36 channels: blocks of 32 + 4 (AVX-512 float32), 16 + 16 + 4 (AVX2 float32, AVX-512
    # float64), 8 x 4 + 4 (AVX2 float64, baseline float32)
    "3x3x3-partial-block": ((2, 8, 5, 6, 7), (36, 8, 3, 3, 3), (1, 1, 1), (1,) * 6, (1, 1, 1), 1),
    "strided-dilated-groups": (
        (2, 12, 7, 9, 11),
        (72, 6, 3, 2, 3),
        (1, 2, 3),
        (2, 1, 1, 0, 0, 2),
        (2, 1, 2),
        2,
    ),
    "depth-stride-asymmetric-padding": (
        (1, 8, 9, 6, 13),
        (36, 8, 2, 3, 4),
        (2, 1, 1),
        (0, 1, 2, 0, 1, 2),
        (1, 1, 1),
        1,
    ),
    # 294 taps (2 groups: not merged into kernel rows), more than the offsets' stack
    # buffer (256); 147 KiB of weights per block of 32 float32 lanes, under the limit
    "294-taps-groups": ((1, 8, 8, 9, 9), (64, 4, 7, 7, 6), (1, 1, 1), (3,) * 6, (1, 1, 1), 2),
    # a kernel row's taps read as one run (one group, columns not dilated), stride 1 in
    # depth and rows: positions across rows
    "rows-merged-dilated-depth": (
        (2, 8, 7, 5, 6),
        (36, 8, 2, 2, 3),
        (1, 1, 1),
        (2, 0, 1, 1, 1, 1),
        (3, 2, 1),
        1,
    ),
    # 2 slices of one band: too few items for the threads, the channel blocks split
    "small-volume-split-blocks": (
        (1, 32, 2, 6, 6),
        (64, 32, 3, 3, 3),
        (1, 1, 1),
        (1,) * 6,
        (1, 1, 1),
        1,
    ),
    "pointwise": ((3, 16, 3, 5, 5), (32, 16, 1, 1, 1), (1, 1, 1), (0,) * 6, (1, 1, 1), 1),
    "wide-rows-few-positions": (
        (1, 4, 2, 1, 70),
        (64, 4, 2, 1, 3),
        (1, 1, 2),
        (0,) * 6,
        (1, 1, 1),
        1,
    ),
}


def lanes_case(name, dtype, seed=0, batch=None):
    """The arguments of case ``name`` for ``_core.conv_forward``, random, with ``batch``
    images if given (also used by tests/test_threads.py)."""
    xs, ws, stride, padding, dilation, groups = CASES[name]
    if batch is not None:
        xs = (batch, *xs[1:])
    rng = np.random.default_rng(seed + len(name))
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    return x, w, b, stride, padding, dilation, groups


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CASES))
def test_lanes_against_loops(variant, name, dtype):
    x, w, b, stride, padding, dilation, groups = lanes_case(name, dtype)
    before = _core.lanes_calls()
    got = _core.conv_forward(x, w, b, stride, padding, dilation, groups)
    assert _core.lanes_calls() == before + 1  # the path under test ran
    exact, absum = reference_forward(x, w, b, stride, padding, dilation, groups)
    assert got.dtype == dtype
    assert got.shape == exact.shape
    assert_within_contract(got, exact, absum, int(np.prod(w.shape[1:])), dtype)
    # without bias, and unbatched: the same numbers less the bias / batch axis
    exact0, absum0 = reference_forward(x, w, None, stride, padding, dilation, groups)
    got0 = _core.conv_forward(x, w, None, stride, padding, dilation, groups)
    assert_within_contract(got0, exact0, absum0, int(np.prod(w.shape[1:])), dtype)
    one = _core.conv_forward(x[0], w, b, stride, padding, dilation, groups, unbatched=True)
    np.testing.assert_array_equal(one, got[0])


def test_lanes_reads_any_layout():
    x, w, b, stride, padding, dilation, groups = lanes_case("3x3x3-partial-block", np.float64)
    want = _core.conv_forward(x, w, b, stride, padding, dilation, groups)
    big = np.zeros((x.shape[0], x.shape[1] * 2, *(2 * n for n in x.shape[2:])))
    big[:, ::2, ::2, ::2, ::2] = x
    views = (
        np.asfortranarray(x),
        big[:, ::2, ::2, ::2, ::2],  # every axis strided
        x.transpose(0, 2, 3, 4, 1).copy().transpose(0, 4, 1, 2, 3),  # channels last
        x[:, :, ::-1][:, :, ::-1],  # negative depth stride
    )
    for xv in views:
        got = _core.conv_forward(xv, np.asfortranarray(w), b, stride, padding, dilation, groups)
        np.testing.assert_array_equal(got, want)


def test_lanes_propagates_non_finite_values_exactly_where_they_are_read():
    # positions past a row's end are computed and dropped: an inf or NaN there, or in
    # the next row, must reach exactly the outputs that read it
    x, w, b, stride, padding, dilation, groups = lanes_case("3x3x3-partial-block", np.float64)
    x[0, 3, 2, 1, 0] = np.inf
    x[0, 5, 4, 5, 6] = np.nan
    x[1, 0, 0, 0, 6] = -np.inf
    got = _core.conv_forward(x, w, b, stride, padding, dilation, groups)
    exact, _ = reference_forward(x, w, b, stride, padding, dilation, groups)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(exact))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(exact))
    finite = np.isfinite(exact)
    np.testing.assert_allclose(got[finite], exact[finite], rtol=1e-12, atol=1e-12)


def test_lanes_reads_no_uninitialised_memory():
    # freed NaNs are what a fresh workspace then holds: a read of anything the copy did
    # not write would show up as a NaN
    x, w, b, stride, padding, dilation, groups = lanes_case("strided-dilated-groups", np.float32)
    for size in (1 << 12, 1 << 16, 1 << 20):
        junk = np.full(size, np.nan, np.float32)
        del junk
        got = _core.conv_forward(x, w, b, stride, padding, dilation, groups)
        assert np.isfinite(got).all()


def test_lanes_workspace_is_one_image_and_the_weights():
    x, w, b, stride, padding, dilation, groups = lanes_case(
        "3x3x3-partial-block", np.float32, batch=3
    )
    _core.conv_forward(x, w, b, stride, padding, dilation, groups)
    one_image = np.prod([n + 2 for n in x.shape[2:]]) * x.shape[1] * 4
    assert one_image <= _core.workspace_bytes() < one_image + 64 * w.size + 8192


@pytest.mark.parametrize(
    ("ws", "groups"),
    [
        ((3, 8, 3, 3, 3), 1),  # fewer output channels than any tile's lanes
        ((32, 2, 3, 3, 3), 4),  # 2 input channels per group
        ((32, 8, 3, 3), 1),  # 2-D
        ((16, 256, 3, 3, 3), 1),  # a channel block's weights too large for L2
    ],
)
def test_calls_the_lanes_would_waste_take_the_plane_tiles(ws, groups):
    rng = np.random.default_rng(1)
    sp = len(ws) - 2
    x = rng.standard_normal((1, ws[1] * groups) + (6,) * sp).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    before = _core.lanes_calls()
    got = _core.conv_forward(x, w, None, (1,) * sp, (1,) * (2 * sp), (1,) * sp, groups)
    assert _core.lanes_calls() == before
    exact, absum = reference_forward(x, w, None, (1,) * sp, (1,) * (2 * sp), (1,) * sp, groups)
    assert_within_contract(got, exact, absum, int(np.prod(ws[1:])), np.float32)


def test_conv3d_layers_and_gradients_take_the_lanes():
    # the public functions reach the path: conv3d, and a transposed 3-D convolution
    # (its stride phases are plain 3-D convolutions)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 16, 4, 6, 6)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3, 3)).astype(np.float32)
    before = _core.lanes_calls()
    y = pyconv.conv3d(x, w, padding=1, backend="cython")
    assert _core.lanes_calls() > before
    exact, absum = reference_forward(x, w, None, (1, 1, 1), (1,) * 6, (1, 1, 1), 1)
    assert_within_contract(y, exact, absum, int(np.prod(w.shape[1:])), np.float32)
    assert _out_size(x, (3, 3, 3), (1, 1, 1), (1,) * 6, (1, 1, 1)) == y.shape[2:]
    # (C_in, C_out, ...): its phase is a 3-D convolution of 32 -> 32 channels
    wt = rng.standard_normal((32, 32, 3, 3, 3)).astype(np.float32)
    before = _core.lanes_calls()
    z = pyconv.conv_transpose3d(y, wt, padding=1, backend="cython")
    assert _core.lanes_calls() > before
    np.testing.assert_allclose(
        z, pyconv.conv_transpose3d(y, wt, padding=1, backend="numpy"), rtol=1e-4, atol=1e-2
    )
