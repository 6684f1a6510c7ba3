"""Pooling (pyconv.pooling, compiled in pyconv._pool) against torch and a NumPy reference.

Max pooling does no arithmetic, so its values and indices must equal torch's exactly
(NaN propagation, ties and -inf windows included).  Average pooling is compared under the
accuracy contract (``|got - exact| <= 2 (K + 1) eps A`` with ``K`` the window size and
``A`` the mean of ``|x|`` over the window): it sums in torch's order and matches torch bit
for bit in practice, but the tests do not hold torch to one summation order.

The parameter space is explored with hypothesis; invalid combinations must fail with
torch's message.  Without torch, the same properties run against the small NumPy
reference below, on valid parameters.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyconv
from pyconv import _pool

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = (np.float32, np.float64)


# --------------------------------------------------------------------------------------
# The NumPy reference: one window at a time, straight from torch's documentation
# --------------------------------------------------------------------------------------


def ref_out_size(L, k, s, p, d, ceil):
    span = L + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil else math.floor(span / s)) + 1
    if ceil and (out - 1) * s >= L + p:  # the last window must start inside
        out -= 1
    return out


def ref_max_pool2d(x, k, s, p, d, ceil):
    """Return (values, flat indices) of max pooling, scanning each window row by row."""
    N, C, H, W = x.shape
    Ho = ref_out_size(H, k[0], s[0], p[0], d[0], ceil)
    Wo = ref_out_size(W, k[1], s[1], p[1], d[1], ceil)
    y = np.empty((N, C, Ho, Wo), x.dtype)
    idx = np.empty((N, C, Ho, Wo), np.int64)
    for n, c, i, j in np.ndindex(N, C, Ho, Wo):
        rows = [i * s[0] - p[0] + a * d[0] for a in range(k[0])]
        cols = [j * s[1] - p[1] + b * d[1] for b in range(k[1])]
        taps = [(r, q) for r in rows if 0 <= r < H for q in cols if 0 <= q < W]
        best, where = -np.inf, taps[0][0] * W + taps[0][1]
        for r, q in taps:
            v = x[n, c, r, q]
            if v > best or np.isnan(v):  # NaN wins, so the last NaN's index is kept
                best, where = v, r * W + q
        y[n, c, i, j], idx[n, c, i, j] = best, where
    return y, idx


def ref_avg_pool2d(x, k, s, p, ceil, count_include_pad, divisor):
    """Return (exact mean, mean of |x|) in float64 for each window."""
    N, C, H, W = x.shape
    Ho = ref_out_size(H, k[0], s[0], p[0], 1, ceil)
    Wo = ref_out_size(W, k[1], s[1], p[1], 1, ceil)
    y = np.empty((N, C, Ho, Wo))
    mag = np.empty((N, C, Ho, Wo))
    for n, c, i, j in np.ndindex(N, C, Ho, Wo):
        r0, q0 = i * s[0] - p[0], j * s[1] - p[1]
        # the padded window is cut at the padding's far edge (ceil_mode windows)
        r1, q1 = min(r0 + k[0], H + p[0]), min(q0 + k[1], W + p[1])
        win = x[n, c, max(r0, 0) : min(r1, H), max(q0, 0) : min(q1, W)].astype(np.float64)
        if divisor:
            count = divisor
        elif count_include_pad:
            count = (r1 - r0) * (q1 - q0)
        else:
            count = win.size
        y[n, c, i, j] = win.sum() / count
        mag[n, c, i, j] = np.abs(win).sum() / abs(count)
    return y, mag


def ref_adaptive(x, out, op):
    N, C, H, W = x.shape
    y = np.empty((N, C, *out))
    for n, c, i, j in np.ndindex(N, C, *out):
        r0, r1 = (i * H) // out[0], -((-(i + 1) * H) // out[0])
        q0, q1 = (j * W) // out[1], -((-(j + 1) * W) // out[1])
        y[n, c, i, j] = op(x[n, c, r0:r1, q0:q1].astype(np.float64))
    return y


def has_empty_window(sizes, k, s, p, d, outs):
    """Whether some window (with dilation) has no tap inside the input."""
    for L, kk, ss, pp, dd, n in zip(sizes, k, s, p, d, outs, strict=True):
        for i in range(n):
            if all(not 0 <= i * ss - pp + a * dd < L for a in range(kk)):
                return True
    return False


def assert_within_contract(got, exact, magnitude, K, dtype):
    eps = np.finfo(dtype).eps
    bound = 2 * (K + 1) * eps * magnitude
    err = np.abs(got.astype(np.float64) - exact)
    assert got.dtype == dtype
    assert np.array_equal(np.isnan(got), np.isnan(exact))
    finite = np.isfinite(exact)
    assert np.all(err[finite] <= bound[finite]), float(np.max(err[finite] - bound[finite]))


def sample(rng, shape, dtype, special):
    """Random data; with ``special``, sprinkle NaN, +-inf, -0.0 and repeated values."""
    x = rng.standard_normal(shape).astype(dtype)
    if special and x.size:
        flat = x.reshape(-1)
        picks = rng.integers(0, flat.size, size=max(1, flat.size // 6))
        flat[picks] = rng.choice(np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0], dtype))
    return x


# --------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------

pair = st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4)))


@st.composite
def pool_calls(draw, dilation=True, valid_only=False):
    k = draw(pair)
    k2 = (k, k) if isinstance(k, int) else k
    stride = draw(st.one_of(st.none(), pair))
    if valid_only:
        padding = (draw(st.integers(0, k2[0] // 2)), draw(st.integers(0, k2[1] // 2)))
    else:
        padding = draw(
            st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2)))
        )
    dil = draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    shape = (
        draw(st.integers(0 if not valid_only else 1, 2)),
        draw(st.integers(1, 3)),
        draw(st.integers(1, 11)),
        draw(st.integers(1, 11)),
    )
    return {
        "shape": shape,
        "kernel_size": k,
        "stride": stride,
        "padding": padding,
        "dilation": dil if dilation else 1,
        "ceil_mode": draw(st.booleans()),
        "unbatched": draw(st.booleans()),
        "dtype": draw(st.sampled_from(DTYPES)),
        "special": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def _two(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _outcome(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs), None
    except Exception as exc:  # any exception: its text is compared
        return None, str(exc).splitlines()[0]


# --------------------------------------------------------------------------------------
# Against torch
# --------------------------------------------------------------------------------------


@SETTINGS
@given(call=pool_calls(), return_indices=st.booleans())
def test_max_pool2d_equals_torch(torch, call, return_indices):
    x = sample(np.random.default_rng(call["seed"]), call["shape"], call["dtype"], call["special"])
    if call["unbatched"] and x.shape[0] == 1:
        x = x[0]
    args = (call["kernel_size"], call["stride"], call["padding"], call["dilation"])
    kw = {"ceil_mode": call["ceil_mode"], "return_indices": return_indices}
    want, want_err = _outcome(torch.nn.functional.max_pool2d, torch.from_numpy(x), *args, **kw)
    got, got_err = _outcome(pyconv.max_pool2d, x, *args, **kw)
    assert got_err == want_err
    if want is None:
        return
    want = [t.numpy() for t in want] if return_indices else [want.numpy()]
    got = list(got) if return_indices else [got]
    assert got[0].dtype == x.dtype
    assert got[0].shape == want[0].shape
    np.testing.assert_array_equal(got[0], want[0])  # NaNs in the same places
    assert np.array_equal(np.signbit(got[0]), np.signbit(want[0]))  # -0.0 too
    if return_indices:
        assert got[1].dtype == np.int64
        np.testing.assert_array_equal(got[1], want[1])


@SETTINGS
@given(
    call=pool_calls(dilation=False),
    count_include_pad=st.booleans(),
    divisor=st.sampled_from([None, 1, 3, -2]),
)
def test_avg_pool2d_matches_torch(torch, call, count_include_pad, divisor):
    x = sample(np.random.default_rng(call["seed"]), call["shape"], call["dtype"], False)
    if call["unbatched"] and x.shape[0] == 1:
        x = x[0]
    args = (call["kernel_size"], call["stride"], call["padding"], call["ceil_mode"])
    args += (count_include_pad, divisor)
    want, want_err = _outcome(torch.nn.functional.avg_pool2d, torch.from_numpy(x), *args)
    got, got_err = _outcome(pyconv.avg_pool2d, x, *args)
    if x.ndim < 3:  # torch: an IndexError from size(-3); pyconv says what it expects
        assert got_err.startswith("Expected 3D or 4D (batch mode) tensor")
        return
    assert got_err == want_err
    if want is None:
        return
    want = want.numpy()
    assert got.shape == want.shape
    K = math.prod(_two(call["kernel_size"]))
    # torch's result, measured on the magnitude of the window: both within the contract
    x4 = x if x.ndim == 4 else x[None]
    k, p = _two(call["kernel_size"]), _two(call["padding"])
    s = _two(call["stride"]) if call["stride"] is not None else k
    exact, mag = ref_avg_pool2d(x4, k, s, p, call["ceil_mode"], count_include_pad, divisor)
    exact, mag = exact.reshape(want.shape), mag.reshape(want.shape)
    assert_within_contract(got, exact, mag, K, x.dtype)
    assert_within_contract(want, exact, mag, K, x.dtype)


@SETTINGS
@given(
    shape=st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(0, 9), st.integers(0, 9)),
    out=st.one_of(
        st.integers(0, 10),
        st.tuples(
            st.one_of(st.none(), st.integers(0, 10)), st.one_of(st.none(), st.integers(0, 10))
        ),
    ),
    unbatched=st.booleans(),
    dtype=st.sampled_from(DTYPES),
    special=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_adaptive_pool2d_matches_torch(torch, shape, out, unbatched, dtype, special, seed):
    x = sample(np.random.default_rng(seed), shape, dtype, special)
    if unbatched and shape[0] == 1:
        x = x[0]
    tx = torch.from_numpy(x)
    F = torch.nn.functional
    # max: exact values and indices
    want, want_err = _outcome(F.adaptive_max_pool2d, tx, out, True)
    got, got_err = _outcome(pyconv.adaptive_max_pool2d, x, out, True)
    assert got_err == want_err
    if want is not None:
        np.testing.assert_array_equal(got[0], want[0].numpy())
        np.testing.assert_array_equal(got[1], want[1].numpy())
    # average: within the contract
    want, want_err = _outcome(F.adaptive_avg_pool2d, tx, out)
    got, got_err = _outcome(pyconv.adaptive_avg_pool2d, x, out)
    size = (
        (out, out)
        if isinstance(out, int)
        else tuple(x.shape[-2 + i] if v is None else v for i, v in enumerate(out))
    )
    if want_err is None and got_err is not None:
        # torch computes a 1x1 output as mean() before checking the input's rank or size
        assert size == (1, 1)
        return
    assert got_err == want_err
    if want is None or special:
        return
    want = want.numpy()
    assert got.shape == want.shape
    x4 = x if x.ndim == 4 else x[None]
    exact = ref_adaptive(x4, size, np.mean).reshape(want.shape)
    mag = ref_adaptive(np.abs(x4), size, np.mean).reshape(want.shape)
    K = x4.shape[2] * x4.shape[3]  # at least the largest window
    assert_within_contract(got, exact, mag, K, x.dtype)
    assert_within_contract(want, exact, mag, K, x.dtype)


@SETTINGS
@given(
    shape=st.tuples(st.integers(0, 2), st.integers(1, 3), st.integers(1, 12)),
    k=st.integers(1, 4),
    stride=st.one_of(st.none(), st.integers(1, 3)),
    padding=st.integers(0, 2),
    dilation=st.integers(1, 3),
    ceil=st.booleans(),
    unbatched=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_1d_pools_match_torch(torch, shape, k, stride, padding, dilation, ceil, unbatched, seed):
    x = sample(np.random.default_rng(seed), shape, np.float32, special=True)
    if unbatched and shape[0] == 1:
        x = x[0]
    tx = torch.from_numpy(x)
    F = torch.nn.functional
    want, want_err = _outcome(F.max_pool1d, tx, k, stride, padding, dilation, ceil)
    got, got_err = _outcome(pyconv.max_pool1d, x, k, stride, padding, dilation, ceil)
    assert got_err == want_err
    if want is not None:
        np.testing.assert_array_equal(got, want.numpy())
        _, idx = pyconv.max_pool1d(x, k, stride, padding, dilation, ceil, return_indices=True)
        want_idx = F.max_pool1d(tx, k, stride, padding, dilation, ceil, True)[1]
        np.testing.assert_array_equal(idx, want_idx.numpy())
    x = np.nan_to_num(x, nan=0.5, posinf=2.0, neginf=-2.0)
    want, want_err = _outcome(F.avg_pool1d, torch.from_numpy(x), k, stride, padding, ceil)
    got, got_err = _outcome(pyconv.avg_pool1d, x, k, stride, padding, ceil)
    assert got_err == want_err
    if want is not None:
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------------------
# Against the NumPy reference (no torch needed)
# --------------------------------------------------------------------------------------


@SETTINGS
@given(call=pool_calls(valid_only=True), threads=st.sampled_from([1, 2]))
def test_max_pool2d_equals_reference(call, threads):
    x = sample(np.random.default_rng(call["seed"]), call["shape"], call["dtype"], call["special"])
    k, p, d = _two(call["kernel_size"]), _two(call["padding"]), _two(call["dilation"])
    s = _two(call["stride"]) if call["stride"] is not None else k
    Ho = ref_out_size(x.shape[2], k[0], s[0], p[0], d[0], call["ceil_mode"])
    Wo = ref_out_size(x.shape[3], k[1], s[1], p[1], d[1], call["ceil_mode"])
    if Ho < 1 or Wo < 1:
        with pytest.raises(ValueError, match="Output size is too small"):
            pyconv.max_pool2d(x, k, s, p, d, call["ceil_mode"])
        return
    if has_empty_window(x.shape[2:], k, s, p, d, (Ho, Wo)):
        return  # a dilated window wholly in the padding: -inf, and an index off the plane
    want, want_idx = ref_max_pool2d(x, k, s, p, d, call["ceil_mode"])
    pyconv.set_num_threads(threads)
    got, idx = pyconv.max_pool2d(x, k, s, p, d, call["ceil_mode"], return_indices=True)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(idx, want_idx)


@SETTINGS
@given(
    call=pool_calls(dilation=False, valid_only=True),
    count_include_pad=st.booleans(),
    divisor=st.sampled_from([None, 1, 5, -3]),
)
def test_avg_pool2d_within_contract_of_reference(call, count_include_pad, divisor):
    x = sample(np.random.default_rng(call["seed"]), call["shape"], call["dtype"], False)
    k, p = _two(call["kernel_size"]), _two(call["padding"])
    s = _two(call["stride"]) if call["stride"] is not None else k
    if (
        min(ref_out_size(x.shape[2 + i], k[i], s[i], p[i], 1, call["ceil_mode"]) for i in (0, 1))
        < 1
    ):
        return
    got = pyconv.avg_pool2d(x, k, s, p, call["ceil_mode"], count_include_pad, divisor)
    exact, mag = ref_avg_pool2d(x, k, s, p, call["ceil_mode"], count_include_pad, divisor)
    assert_within_contract(got, exact, mag, k[0] * k[1], x.dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out", [(1, 1), (2, 3), (5, 7), (7, 7), (3, 1), (9, 4)])
def test_adaptive_within_contract_of_reference(dtype, out, rng):
    x = rng.standard_normal((2, 3, 7, 9)).astype(dtype)
    got = pyconv.adaptive_avg_pool2d(x, out)
    exact = ref_adaptive(x, out, np.mean)
    mag = ref_adaptive(np.abs(x), out, np.mean)
    assert_within_contract(got, exact, mag, 7 * 9, dtype)
    got, idx = pyconv.adaptive_max_pool2d(x, out, return_indices=True)
    want = ref_adaptive(x, out, np.max)
    np.testing.assert_array_equal(got, want.astype(dtype))
    planes = x.reshape(2, 3, -1)
    np.testing.assert_array_equal(
        np.take_along_axis(planes, idx.reshape(2, 3, -1), 2), got.reshape(2, 3, -1)
    )


# --------------------------------------------------------------------------------------
# Hand-computed cases: the rules, written out
# --------------------------------------------------------------------------------------


def test_max_pool_nan_ties_and_minus_inf():
    # one window, row-major: 1, NaN, 2, NaN -> NaN at the last NaN (index 3)
    y, i = pyconv.max_pool2d(
        np.array([[[[1.0, np.nan, 2.0, np.nan]]]]), (1, 4), return_indices=True
    )
    assert np.isnan(y).all()
    assert i.item() == 3
    # ties keep the first position; -0.0 before 0.0 stays -0.0
    y, i = pyconv.max_pool2d(np.array([[[-0.0, 0.0, 0.0]]]), (1, 3), return_indices=True)
    assert y.item() == 0
    assert np.signbit(y.item())
    assert i.item() == 0
    # all -inf: -inf at the window's first position inside the input
    x = np.full((1, 3, 3), -np.inf, dtype=np.float32)
    y, i = pyconv.max_pool2d(x, 3, 1, 1, return_indices=True)
    assert np.all(y == -np.inf)
    np.testing.assert_array_equal(i[0], [[0, 0, 1], [0, 0, 1], [3, 3, 4]])


def test_pool_hand_computed():
    x = np.arange(1.0, 26.0, dtype=np.float32).reshape(1, 5, 5)  # 1..25
    # 2x2 stride 2, ceil_mode: a third, partial window in each direction
    np.testing.assert_array_equal(
        pyconv.max_pool2d(x, 2, ceil_mode=True)[0], [[7, 9, 10], [17, 19, 20], [22, 24, 25]]
    )
    # 3x3 stride 2 padding 1, zeros counted: top-left window holds 1, 2, 6, 7 -> 16 / 9
    avg = pyconv.avg_pool2d(x, 3, 2, 1)[0]
    assert avg[0, 0] == np.float32(16 / 9)
    assert pyconv.avg_pool2d(x, 3, 2, 1, count_include_pad=False)[0, 0, 0] == np.float32(4.0)
    assert pyconv.avg_pool2d(x, 3, 2, 1, divisor_override=2)[0, 0, 0] == np.float32(8.0)
    # ceil_mode on 6x6 (values 1..36), 3x3 stride 2 padding 1: a fourth window starts at
    # row / column 5 and is cut at the padding's edge (6 + 1), so it counts 2 x 2 places
    x6 = np.arange(1.0, 37.0, dtype=np.float32).reshape(1, 6, 6)
    avg = pyconv.avg_pool2d(x6, 3, 2, 1, ceil_mode=True)[0]
    assert avg.shape == (4, 4)
    assert avg[3, 3] == np.float32(36 / 4)
    assert pyconv.avg_pool2d(x6, 3, 2, 1, True, count_include_pad=False)[0, 3, 3] == 36
    # adaptive: 5 -> 2 windows are rows [0, 3) and [2, 5)
    np.testing.assert_array_equal(pyconv.adaptive_max_pool2d(x, 2)[0], [[13, 15], [23, 25]])


def test_dilated_max_pool_indices():
    x = np.arange(36.0).reshape(1, 1, 6, 6)
    y, i = pyconv.max_pool2d(x, 2, stride=1, dilation=3, return_indices=True)
    # window at (0, 0) reads (0,0), (0,3), (3,0), (3,3): max 21 at index 21
    assert y.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(i[0, 0], [[21, 22, 23], [27, 28, 29], [33, 34, 35]])
    np.testing.assert_array_equal(y, i.astype(np.float64))


# --------------------------------------------------------------------------------------
# Errors: torch's messages
# --------------------------------------------------------------------------------------

X = np.zeros((1, 2, 5, 5), dtype=np.float32)
ERRORS = [
    (pyconv.max_pool2d, (X, 3), {"padding": 2}, ValueError,
     "pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and "
     "dilation=1"),
    (pyconv.max_pool2d, (X, 0), {}, ValueError, "stride should not be zero"),
    (pyconv.max_pool2d, (X, 0, 1), {}, ValueError,
     "kernel size should be greater than zero, but got kH: 0 kW: 0"),
    (pyconv.max_pool2d, (X, 2, (1, -1)), {}, ValueError,
     "stride should be greater than zero, but got dH: 1 dW: -1"),
    (pyconv.max_pool2d, (X, 2), {"padding": -1}, ValueError,
     "pad must be non-negative, but got pad: -1"),
    (pyconv.max_pool2d, (X, 2), {"dilation": 0}, ValueError,
     "dilation should be greater than zero, but got dilationH: 0 dilationW: 0"),
    (pyconv.max_pool2d, (X, 2, 1, 2, 3), {}, ValueError,
     "pad should be smaller than or equal to half of kernel size, but got "
     "padW = 2, padH = 2, kW = 2, kH = 2"),
    (pyconv.max_pool2d, (X, (2, 2, 2)), {}, ValueError,
     "max_pool2d: kernel_size must either be a single int, or a tuple of two ints"),
    (pyconv.max_pool2d, (X, 2, (1, 1, 1)), {}, ValueError,
     "max_pool2d: stride must either be omitted, a single int, or a tuple of two ints"),
    (pyconv.max_pool2d, (X, 7), {}, ValueError,
     "Given input size: (2x5x5). Calculated output size: (2x0x0). Output size is too small"),
    (pyconv.max_pool2d, (np.zeros((5, 5), np.float32), 2), {}, ValueError,
     "non-empty 3D or 4D (batch mode) tensor expected for input"),
    (pyconv.max_pool2d, (np.zeros((1, 0, 5, 5), np.float32), 2), {}, ValueError,
     "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but "
     "got:[1, 0, 5, 5]"),
    (pyconv.max_pool2d, (X, 2.0), {}, TypeError,
     "max_pool2d(): argument 'kernel_size' (position 2) must be tuple of ints, not float"),
    (pyconv.max_pool2d, (X, True), {}, TypeError,
     "max_pool2d(): argument 'kernel_size' (position 2) must be tuple of ints, not bool"),
    (pyconv.max_pool2d, (X, (2, 1.5)), {}, TypeError,
     "max_pool2d(): argument 'kernel_size' (position 2) must be tuple of ints, but found element "
     "of type float at pos 1"),
    (pyconv.max_pool2d, (X.astype(np.int32), 2), {}, TypeError,
     "max_pool2d(): argument 'input' has dtype int32, but pyconv computes in float32 or float64 "
     "only"),
    (pyconv.avg_pool2d, (X, 2), {"divisor_override": 0}, ValueError, "divisor must be not zero"),
    (pyconv.avg_pool2d, (X, 2), {"divisor_override": 2.0}, TypeError,
     "avg_pool2d(): argument 'divisor_override' must be int, not float"),
    (pyconv.avg_pool2d, (X, 2), {"padding": (1, 1, 1)}, ValueError,
     "avg_pool2d: padding must either be a single int, or a tuple of two ints"),
    (pyconv.avg_pool2d, (X, 7), {}, ValueError,
     "Given input size: (2x5x5). Calculated output size: (2x0x0). Output size is too small"),
    (pyconv.adaptive_avg_pool2d, (X, (2, 2, 2)), {}, ValueError,
     "adaptive_avg_pool2d: output_size must be 2"),
    (pyconv.adaptive_avg_pool2d, (X, -1), {}, ValueError,
     "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but "
     "received {-1, -1}"),
    (pyconv.adaptive_avg_pool2d, (np.zeros((5, 5), np.float32), 2), {}, ValueError,
     "adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got [5, 5]"),
    (pyconv.adaptive_avg_pool2d, (np.zeros((1, 2, 0, 5), np.float32), 2), {}, ValueError,
     "adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch dimensions, but "
     "input has sizes [1, 2, 0, 5] with dimension 2 being empty"),
    (pyconv.adaptive_max_pool2d, (np.zeros((1, 0, 5, 5), np.float32), 2), {}, ValueError,
     "adaptive_max_pool2d(): Expected input to have non-zero size for non-batch dimensions, but "
     "input has sizes [1, 0, 5, 5] with dimension 1 being empty"),
    (pyconv.adaptive_max_pool2d, (X, (2, 2, 2)), {}, ValueError,
     "adaptive_max_pool2d(): internal error: output_size.size() must be 2"),
    (pyconv.max_pool1d, (X[0], 0), {}, ValueError,
     "max_pool1d() kernel_size must be greater than zero, but got 0"),
    (pyconv.max_pool1d, (X[0], 2), {"padding": 2}, ValueError,
     "max_pool1d() padding should be at most half of kernel size, but got padding=2 and "
     "kernel_size=2"),
    (pyconv.max_pool1d, (X[0], 7), {}, ValueError, "max_pool1d() Invalid computed output size: 0"),
    (pyconv.max_pool1d, (X, 2), {}, ValueError,
     "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for "
     "input, but got:[1, 2, 5, 5]"),
    (pyconv.avg_pool1d, (X[0, 0, 0], 2), {}, ValueError,
     "Expected 2 to 3 dimensions, but got 1-dimensional tensor for argument #1 'self' (while "
     "checking arguments for avg_pool1d)"),
    (pyconv.avg_pool1d, (X[0], (2, 2)), {}, ValueError,
     "avg_pool1d() argument 'kernel_size' should contain one int (got 2)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fn", "args", "kwargs", "exc", "message"), ERRORS, ids=[str(i) for i in range(len(ERRORS))]
)
def test_errors_carry_torch_messages(fn, args, kwargs, exc, message):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("fn", "args", "kwargs", "exc", "message"), ERRORS, ids=[str(i) for i in range(len(ERRORS))]
)
def test_error_messages_are_torchs_own(torch, fn, args, kwargs, exc, message):
    if "pyconv computes" in message:
        pytest.skip("torch pools integers; pyconv refuses them with its own message")
    if "found element of type" in message:
        pytest.skip("torch's text names the argument's position as the element's")
    targs = (torch.from_numpy(args[0]), *args[1:])
    with pytest.raises(Exception) as info:  # noqa: PT011 - torch's type varies; the text is checked
        getattr(torch.nn.functional, fn.__name__)(*targs, **kwargs)
    assert str(info.value).splitlines()[0] == message


# --------------------------------------------------------------------------------------
# Layouts, dtypes, threads
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "view",
    [
        lambda a: np.asfortranarray(a),
        lambda a: a[:, :, ::-1, :],
        lambda a: a[:, :, :, ::2],
        lambda a: a.transpose(0, 1, 3, 2),
    ],
    ids=["fortran", "negative-stride", "step", "transposed"],
)
def test_any_layout_gives_the_contiguous_result(view, rng):
    base = rng.standard_normal((2, 3, 10, 12)).astype(np.float32)
    x = view(base)
    x.setflags(write=False)
    before = x.copy()
    c = np.ascontiguousarray(x)
    for fn, args in [
        (pyconv.max_pool2d, (3, 2, 1)),
        (pyconv.avg_pool2d, (3, 2, 1)),
        (pyconv.adaptive_avg_pool2d, ((2, 3),)),
        (pyconv.adaptive_max_pool2d, ((2, 3),)),
    ]:
        got = fn(x, *args)
        np.testing.assert_array_equal(got, fn(c, *args))
        assert got.flags.c_contiguous
    np.testing.assert_array_equal(x, before)


def test_dtype_kept_and_unbatched(rng):
    x = rng.standard_normal((3, 8, 8))
    for fn, args in [
        (pyconv.max_pool2d, (2,)),
        (pyconv.avg_pool2d, (2,)),
        (pyconv.adaptive_avg_pool2d, (3,)),
        (pyconv.adaptive_max_pool2d, (3,)),
    ]:
        y = fn(x, *args)
        assert y.dtype == np.float64
        assert y.ndim == 3
        np.testing.assert_array_equal(y, fn(x[None], *args)[0])
        assert fn(x.astype(np.float32), *args).dtype == np.float32
    # nested lists are converted like numpy.asarray
    assert pyconv.max_pool2d([[[1.0, 2.0], [3.0, 4.0]]], 2).tolist() == [[[4.0]]]


def test_empty_batch(rng):
    x = np.zeros((0, 2, 6, 6), np.float32)
    assert pyconv.max_pool2d(x, 2).shape == (0, 2, 3, 3)
    assert pyconv.max_pool2d(x, 2, return_indices=True)[1].shape == (0, 2, 3, 3)
    assert pyconv.avg_pool2d(x, 2).shape == (0, 2, 3, 3)
    assert pyconv.adaptive_avg_pool2d(x, 0).shape == (0, 2, 0, 0)


def test_threads_give_identical_results_and_small_calls_stay_serial(rng):
    x = rng.standard_normal((2, 16, 64, 64)).astype(np.float32)
    outs = {}
    for n in (1, 2):
        pyconv.set_num_threads(n)
        outs[n] = (
            pyconv.max_pool2d(x, 3, 2, 1, return_indices=True),
            pyconv.avg_pool2d(x, 3, 2, 1),
            pyconv.adaptive_avg_pool2d(x, 5),
        )
    for a, b in zip(outs[1], outs[2], strict=True):
        for u, v in zip(
            a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,), strict=True
        ):
            np.testing.assert_array_equal(u, v)
    pyconv.set_num_threads(2)
    before = _pool.parallel_calls()
    pyconv.max_pool2d(x, 3, 2, 1)
    assert _pool.parallel_calls() == before + 1
    pyconv.max_pool2d(np.ones((1, 4, 8, 8), np.float32), 2)  # 256 reads: not worth a thread
    assert _pool.parallel_calls() == before + 1


def test_compiled_entry_points_check_their_input():
    with pytest.raises(ValueError, match="C-contiguous 4-D"):
        _pool.max_pool2d(np.zeros((2, 2, 2)), 1, 1, 1, 1, 0, 0, 1, 1, 2, 2, False)
    with pytest.raises(TypeError, match="float32 or float64"):
        _pool.avg_pool2d(np.zeros((1, 1, 2, 2), np.int64), 1, 1, 1, 1, 0, 0, 2, 2, True, 0)
    with pytest.raises(TypeError, match=r"numpy\.ndarray"):
        _pool.adaptive_pool2d([[[[1.0]]]], 1, 1, False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="OpenMP is required on Linux")
def test_pool_module_built_with_openmp():
    assert _pool.openmp_enabled() is True


def test_pool_stub_lists_the_compiled_functions():
    stub = (Path(_pool.__file__).parent / "_pool.pyi").read_text()
    public = [n for n in dir(_pool) if not n.startswith("_") and callable(getattr(_pool, n))]
    assert public
    missing = [n for n in public if f"def {n}(" not in stub]
    assert not missing, f"_pool.pyi lacks {missing}"
