"""The compiled core beyond 2-D forward: 1-D and 3-D calls, and the weight gradient.

Checked against plain NumPy loops written here (independent of pyconv's reference
backend and of torch), in float64, under the accuracy contract's bound
``2 (K + 1) eps A``, for every kernel variant this CPU runs; and bitwise equal across
thread counts.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import pyconv
from pyconv import _core


def _padded(x, padding):
    sp = x.ndim - 2
    return np.pad(x, [(0, 0), (0, 0)] + [(padding[2 * i], padding[2 * i + 1]) for i in range(sp)])


def _windows(xp, kernel, stride, dilation, out):
    """xp[n, c, o * s + k * d] for every output position o and tap k: (N, C, *out, *k)."""
    sp = len(kernel)
    idx = []
    for i in range(sp):
        o = np.arange(out[i])[:, None] * stride[i] + np.arange(kernel[i])[None, :] * dilation[i]
        shape = [1] * (2 * sp)
        shape[i], shape[sp + i] = out[i], kernel[i]
        idx.append(
            o.reshape(shape[:sp] + shape[sp:]).reshape(
                [out[i] if j == i else 1 for j in range(sp)]
                + [kernel[i] if j == i else 1 for j in range(sp)]
            )
        )
    return xp[(slice(None), slice(None), *idx)]


def _out_size(x, kernel, stride, padding, dilation):
    return tuple(
        (x.shape[2 + i] + padding[2 * i] + padding[2 * i + 1] - dilation[i] * (kernel[i] - 1) - 1)
        // stride[i]
        + 1
        for i in range(len(kernel))
    )


def reference_forward(x, w, b, stride, padding, dilation, groups):
    """(exact, A): the convolution in float64, and the same of |x| and |w| plus |b|."""
    kernel = w.shape[2:]
    out = _out_size(x, kernel, stride, padding, dilation)
    win = _windows(_padded(x.astype(np.float64), padding), kernel, stride, dilation, out)
    N, _C = x.shape[:2]
    Co, Cig = w.shape[:2]
    sp = len(kernel)
    win = win.reshape((N, groups, Cig, *win.shape[2:]))
    wg = w.astype(np.float64).reshape((groups, Co // groups, Cig, *kernel))
    letters = "defghi"[:sp], "jklmno"[:sp]
    spec = f"nxc{letters[0]}{letters[1]},xyc{letters[1]}->nxy{letters[0]}"
    exact = np.einsum(spec, win, wg).reshape((N, Co, *out))
    absum = np.einsum(spec, np.abs(win), np.abs(wg)).reshape((N, Co, *out))
    if b is not None:
        exact += b.reshape((-1,) + (1,) * sp)
        absum += np.abs(b).reshape((-1,) + (1,) * sp)
    return exact, absum


def reference_weight_grad(x, gy, kernel, stride, padding, dilation, groups):
    """(exact, A) of the weight gradient, in float64."""
    out = gy.shape[2:]
    win = _windows(_padded(x.astype(np.float64), padding), kernel, stride, dilation, out)
    N, C = x.shape[:2]
    Co = gy.shape[1]
    sp = len(kernel)
    win = win.reshape((N, groups, C // groups, *win.shape[2:]))
    g = gy.astype(np.float64).reshape((N, groups, Co // groups, *out))
    letters = "defghi"[:sp], "jklmno"[:sp]
    spec = f"nxc{letters[0]}{letters[1]},nxy{letters[0]}->xyc{letters[1]}"
    exact = np.einsum(spec, win, g).reshape((Co, C // groups, *tuple(kernel)))
    absum = np.einsum(spec, np.abs(win), np.abs(g)).reshape(exact.shape)
    return exact, absum


def assert_within_contract(got, exact, absum, K, dtype):
    bound = 2 * (K + 1) * np.finfo(dtype).eps * absum
    err = np.abs(got.astype(np.float64) - exact)
    bad = ~(err <= bound)
    assert not bad.any(), f"{bad.sum()} elements outside the bound, worst {np.max(err - bound)}"


# (input shape, weight shape, stride, padding (before, after per dim), dilation, groups)
FORWARD = {
    "1d": ((2, 4, 37), (6, 4, 5), (1,), (2, 2), (1,), 1),
    "1d-strided-dilated-groups": ((3, 6, 40), (4, 3, 3), (3,), (4, 1), (2,), 2),
    "1d-unpadded-inplace": ((2, 3, 33), (5, 3, 4), (1,), (0, 0), (1,), 1),
    "3d": ((2, 3, 6, 7, 8), (5, 3, 3, 3, 3), (1, 1, 1), (1, 1, 1, 1, 1, 1), (1, 1, 1), 1),
    "3d-strided": ((1, 4, 9, 8, 10), (6, 2, 3, 2, 3), (2, 1, 2), (1, 0, 0, 1, 2, 1), (1, 2, 1), 2),
    "3d-inplace": ((2, 2, 5, 6, 7), (3, 2, 2, 3, 2), (1, 1, 1), (0,) * 6, (2, 1, 1), 1),
    "3d-depthwise-dilated": ((1, 4, 7, 7, 7), (4, 1, 3, 3, 3), (1, 1, 1), (2,) * 6, (2, 2, 2), 4),
    "3d-pointwise": ((2, 8, 3, 5, 5), (16, 8, 1, 1, 1), (1, 1, 1), (0,) * 6, (1, 1, 1), 1),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(FORWARD))
def test_forward_nd_against_loops(variant, name, dtype):
    xs, ws, stride, padding, dilation, groups = FORWARD[name]
    rng = np.random.default_rng(len(name))
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    got = _core.conv_forward(x, w, b, stride, padding, dilation, groups)
    exact, absum = reference_forward(x, w, b, stride, padding, dilation, groups)
    assert got.dtype == dtype
    assert got.shape == exact.shape
    assert_within_contract(got, exact, absum, int(np.prod(ws[1:])), dtype)
    # unbatched: the same numbers without the batch axis
    one = _core.conv_forward(x[0], w, b, stride, padding, dilation, groups, unbatched=True)
    np.testing.assert_array_equal(one, got[0])


@pytest.mark.parametrize("name", list(FORWARD))
def test_forward_nd_is_bitwise_the_same_for_any_thread_count(name):
    xs, ws, stride, padding, dilation, groups = FORWARD[name]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((8, *xs[1:])).astype(np.float32)  # enough work for threads
    w = rng.standard_normal(ws).astype(np.float32)
    before = pyconv.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            pyconv.set_num_threads(n)
            outs.append(_core.conv_forward(x, w, None, stride, padding, dilation, groups))
    finally:
        pyconv.set_num_threads(before)
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


# (input shape, kernel, stride, padding, dilation, groups, C_out)
WGRAD = {
    "2d-3x3": ((2, 4, 9, 11), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, 6),
    "2d-strided-groups": ((2, 4, 9, 11), (3, 3), (2, 1), (1, 1, 2, 0), (1, 2), 2, 6),
    "2d-5x3-dilated": ((1, 3, 17, 13), (5, 3), (2, 2), (2, 2, 1, 1), (2, 1), 1, 5),
    "2d-1x1": ((3, 8, 7, 7), (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, 16),
    "2d-depthwise": ((2, 6, 10, 10), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 6, 6),
    "2d-wide-rows": ((1, 2, 5, 70), (3, 7), (1, 1), (1, 1, 3, 3), (1, 1), 1, 9),
    "1d": ((2, 3, 40), (5,), (3,), (2, 2), (2,), 1, 4),
    "3d": ((2, 3, 5, 6, 7), (3, 2, 3), (1, 2, 1), (1, 1, 0, 0, 1, 1), (2, 1, 1), 1, 4),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(WGRAD))
def test_weight_grad_against_loops(variant, name, dtype):
    xs, kernel, stride, padding, dilation, groups, co = WGRAD[name]
    rng = np.random.default_rng(len(name) + 3)
    x = rng.standard_normal(xs).astype(dtype)
    out = _out_size(x, kernel, stride, padding, dilation)
    gy = rng.standard_normal((xs[0], co, *out)).astype(dtype)
    got = _core.conv_weight_grad(x, gy, kernel, stride, padding, dilation, groups)
    exact, absum = reference_weight_grad(x, gy, kernel, stride, padding, dilation, groups)
    assert got.dtype == dtype
    assert got.shape == (co, xs[1] // groups, *kernel)
    assert_within_contract(got, exact, absum, xs[0] * int(np.prod(out)), dtype)


def test_weight_grad_never_multiplies_values_no_output_reads():
    # stride 2 never reads column 5; an inf there must not become inf * 0 = NaN
    x = np.ones((1, 1, 5, 6))
    x[..., 5] = np.inf
    got = _core.conv_weight_grad(x, np.ones((1, 1, 2, 2)), (3, 3), (2, 2), (0,) * 4, (1, 1), 1)
    np.testing.assert_array_equal(got, np.full((1, 1, 3, 3), 4.0))


def test_weight_grad_propagates_nan_exactly_where_it_is_read():
    x = np.ones((1, 1, 4, 6))
    x[..., 0] = np.nan
    got = _core.conv_weight_grad(x, np.ones((1, 1, 4, 6)), (3, 3), (1, 1), (1,) * 4, (1, 1), 1)
    # column 0 is read by kernel columns 0 (at output column 1) and 1 (output column 0)
    np.testing.assert_array_equal(np.isnan(got[0, 0]), np.tile([True, True, False], (3, 1)))


def test_weight_grad_of_empty_calls_is_zero():
    x = np.ones((0, 2, 5, 5), np.float32)
    got = _core.conv_weight_grad(
        x, np.ones((0, 3, 3, 3), np.float32), (3, 3), (1, 1), (0,) * 4, (1, 1), 1
    )
    np.testing.assert_array_equal(got, np.zeros((3, 2, 3, 3), np.float32))


def test_weight_grad_is_bitwise_the_same_for_any_thread_count():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 16, 20, 20)).astype(np.float32)
    gy = rng.standard_normal((4, 24, 20, 20)).astype(np.float32)
    before = pyconv.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            pyconv.set_num_threads(n)
            outs.append(_core.conv_weight_grad(x, gy, (3, 3), (1, 1), (1,) * 4, (1, 1), 1))
    finally:
        pyconv.set_num_threads(before)
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


def test_weight_grad_reads_any_layout():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 12, 10))
    gy = rng.standard_normal((3, 5, 10, 8))
    want = _core.conv_weight_grad(x, gy, (3, 3), (1, 1), (0,) * 4, (1, 1), 1)
    for xv, gv in itertools.product(
        (
            np.asfortranarray(x),
            x[:, :, ::-1][:, :, ::-1],
            x.transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2),
        ),
        (np.asfortranarray(gy), gy.copy()),
    ):
        np.testing.assert_allclose(
            _core.conv_weight_grad(xv, gv, (3, 3), (1, 1), (0,) * 4, (1, 1), 1), want, rtol=1e-13
        )


@pytest.mark.parametrize("name", ["3d", "2d-strided-groups", "2d-5x3-dilated"])
def test_weight_grad_reads_no_uninitialised_memory(variant, name):
    # Freed NaNs are what a fresh workspace then holds (glibc hands the block back): a
    # read of a byte the packing did not write shows up as a NaN in the result.
    xs, kernel, stride, padding, dilation, groups, co = WGRAD[name]
    rng = np.random.default_rng(11)
    x = rng.standard_normal(xs).astype(np.float32)
    out = _out_size(x, kernel, stride, padding, dilation)
    gy = rng.standard_normal((xs[0], co, *out)).astype(np.float32)
    for size in (1 << 12, 1 << 16, 1 << 20):
        junk = np.full(size, np.nan, np.float32)
        del junk
        got = _core.conv_weight_grad(x, gy, kernel, stride, padding, dilation, groups)
        assert np.isfinite(got).all()
