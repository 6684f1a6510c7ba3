"""The ``winograd`` backend: results, the declared accuracy contract, options, threads.

Every result is compared with the exact convolution of :mod:`pyconv.testing` (float64, or
long double for float64 calls: an independent reference) under the norm-wise contract the
backend declares.  The counterexample at the top is why it declares that contract and not
the element-wise one; the border tests show why its border check exists.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconv
from pyconv import UnsupportedCallError, _core
from pyconv._backends import winograd
from pyconv._registry import load_backend
from pyconv.testing import accuracy_report, check_backend, compare_to_exact, exact_conv2d

C_DECLARED = winograd.ACCURACY_C
ISAS = [name for name, _detail, ok in _core.isas() if ok]
EPS = {np.float32: np.finfo(np.float32).eps, np.float64: np.finfo(np.float64).eps}


@pytest.fixture(autouse=True)
def _restore_isa():
    """Tests that select an ISA variant must not leak it into others."""
    isa = _core.isa()
    yield
    _core.set_isa(isa)


def _exact(x, w, b, pads, groups=1):
    """The exact result, A and K of a call with explicit (top, bottom, left, right) pads.

    Padding is a border of zeros, so the call equals an unpadded one on the padded input.
    """
    t, bo, le, r = pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, bo), (le, r)))
    return exact_conv2d(xp, w, b, groups=groups)


def _check(got, x, w, b, pads, tile, groups=1, contract="normwise"):
    exact, A, K, dtype = _exact(x, w, b, pads, groups)
    return compare_to_exact(got, exact, A, K, dtype, contract=contract, c=C_DECLARED[tile])


# ---------------------------------------------------------------------------------------
# Why the contract is norm-wise


def _counterexample(dtype):
    """The lead's 1-D example in a row of an image: weight row (1, 0, 1), so with padding 1
    y[4, 4] = x[4, 3] + x[4, 5] = 0 + 1e-8, and A there is 1e-8 too, while the input
    between (met by the zero tap) is 1e6.  Output column 4 starts a tile (m = 2 and 4),
    where the transforms add 1e6 and 1e-8 and lose the latter.  Everything lies inside
    the image (every tap meets every pixel at some output): the border check passes."""
    x = np.zeros((1, 1, 8, 12), dtype)
    x[0, 0, 4, 4] = 1e6
    x[0, 0, 4, 5] = 1e-8
    w = np.zeros((1, 1, 3, 3), dtype)
    w[0, 0, 1] = (1, 0, 1)
    return x, w


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_breaks_the_elementwise_bound_where_direct_keeps_it(dtype, tile):
    x, w = _counterexample(dtype)
    exact_at = float(np.asarray(exact_conv2d(x, w, padding=1)[0])[0, 0, 4, 4])
    assert exact_at == pytest.approx(1e-8, rel=1e-6)
    assert _core.winograd_border_sides(x, (1, 1, 1, 1), tile) == ()
    got = pyconv.conv2d(x, w, padding=1, backend=load_backend("winograd", tile=tile))
    elementwise = accuracy_report(got, x, w, padding=1)
    assert not elementwise["ok"]
    assert elementwise["worst_index"][2] == 4  # in the spike's tile (F(4x4): also outputs
    assert 4 <= elementwise["worst_index"][3] < 4 + tile  # whose exact value and A are 0)
    assert elementwise["worst"] > 1e3  # not a rounding subtlety: orders of magnitude
    # the norm-wise bound (what the backend declares) holds
    assert accuracy_report(got, x, w, padding=1, contract="normwise", c=C_DECLARED[tile])["ok"]
    # and the direct kernels keep the element-wise one
    direct = pyconv.conv2d(x, w, padding=1, backend="cython")
    assert accuracy_report(direct, x, w, padding=1)["ok"]


def test_the_backend_declares_the_normwise_contract():
    info = next(b for b in pyconv.backends() if b.name == "winograd")
    assert info.available
    assert info.builtin
    assert info.capabilities.accuracy == "normwise"
    assert info.capabilities.accuracy_c == C_DECLARED[4]
    assert info.capabilities.deterministic
    assert load_backend("winograd", tile=2).capabilities.accuracy_c == C_DECLARED[2]
    assert C_DECLARED[2] < C_DECLARED[4]


# ---------------------------------------------------------------------------------------
# Results, on every ISA variant


SHAPES = [
    # (N, C_in, C_out, H, W, (top, bottom, left, right), groups)
    (1, 3, 5, 7, 9, (1, 1, 1, 1), 1),
    (2, 8, 16, 12, 13, (0, 0, 0, 0), 1),
    (1, 17, 33, 5, 6, (2, 0, 1, 2), 1),  # asymmetric
    (2, 64, 64, 14, 14, (1, 1, 1, 1), 1),
    (1, 20, 12, 9, 30, (1, 1, 0, 1), 2),
    (3, 6, 9, 3, 3, (0, 0, 0, 0), 3),  # a single output pixel per plane
    (1, 40, 70, 1, 1, (1, 1, 1, 1), 1),  # 1x1 input
    (1, 32, 48, 57, 3, (1, 2, 1, 1), 1),  # tall, 3 columns
    (1, 2, 1, 16, 16, (2, 2, 2, 2), 1),  # the fewest channels it takes
    (1, 160, 40, 6, 6, (1, 1, 1, 1), 1),  # several input-channel blocks
]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tile", [2, 4])
def test_matches_the_exact_result(isa, dtype, tile):
    _core.set_isa(isa)
    rng = np.random.default_rng(7)
    for N, C, Co, H, W, pads, g in SHAPES:
        x = rng.standard_normal((N, C, H, W)).astype(dtype)
        w = rng.standard_normal((Co, C // g, 3, 3)).astype(dtype)
        b = rng.standard_normal(Co).astype(dtype)
        got = _core.winograd_forward(x, w, b, pads, g, tile)
        assert got.dtype == dtype
        assert got.flags.c_contiguous
        r = _check(got, x, w, b, pads, tile, g)
        assert r["ok"], (isa, tile, (N, C, Co, H, W, pads, g), r)
        # random data stays far inside the bound (a wrong transform would not)
        assert r["worst"] < 0.05, (isa, tile, (N, C, Co, H, W, pads, g), r["worst"])


@pytest.mark.parametrize("isa", ISAS)
def test_isa_variants_agree(isa):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 24, 11, 10)).astype(np.float32)
    w = rng.standard_normal((20, 24, 3, 3)).astype(np.float32)
    ref = _core.winograd_forward(x, w, None, (1, 1, 1, 1), 1)
    _core.set_isa(isa)
    got = _core.winograd_forward(x, w, None, (1, 1, 1, 1), 1)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4 * np.abs(ref).max())


def test_odd_layouts_and_views_are_read_correctly():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 10, 9, 12)).astype(np.float32)
    w = rng.standard_normal((6, 10, 3, 3)).astype(np.float32)
    backend = load_backend("winograd")
    want = pyconv.conv2d(x, w, padding=1, backend=backend)
    for xv, wv in [
        (np.asfortranarray(x), w),
        (x[:, :, :, ::-1].copy()[:, :, :, ::-1], np.asfortranarray(w)),
        (np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2), w),
    ]:
        np.testing.assert_array_equal(pyconv.conv2d(xv, wv, padding=1, backend=backend), want)


def test_bias_groups_and_unbatched_through_the_front_end():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((12, 10, 10))
    w = rng.standard_normal((9, 4, 3, 3))
    b = rng.standard_normal(9)
    got = pyconv.conv2d(x, w, b, padding="same", groups=3, backend="winograd")
    assert got.shape == (9, 10, 10)
    r = accuracy_report(got, x, w, b, padding="same", groups=3, contract="normwise", c=16)
    assert r["ok"], r


def test_empty_batches_and_channels():
    w = np.ones((4, 2, 3, 3), np.float32)
    empty = _core.winograd_forward(np.ones((0, 2, 5, 5), np.float32), w, None, (1,) * 4, 1)
    assert empty.shape == (0, 4, 5, 5)
    out = _core.winograd_forward(
        np.ones((1, 0, 5, 5), np.float32),
        np.ones((3, 0, 3, 3), np.float32),
        np.arange(3, dtype=np.float32),
        (1,) * 4,
        1,
    )
    np.testing.assert_array_equal(out, np.arange(3).reshape(1, 3, 1, 1) * np.ones((1, 3, 5, 5)))


# ---------------------------------------------------------------------------------------
# The declared bound, on extreme magnitudes


def _extreme_cases(dtype):
    """(name, x, w, pads): data meant to make the transforms' rounding as large as
    possible relative to max(A)."""
    rng = np.random.default_rng(2026)
    big = 1e15 if dtype == np.float32 else 1e150
    out = []
    for C in (1, 3, 32):
        shape = (2, C, 13, 11)
        pos = np.abs(rng.standard_normal(shape))
        out.append((f"positive-C{C}", pos, np.abs(rng.standard_normal((8, C, 3, 3)))))
        wide = np.sign(rng.standard_normal(shape)) * 10.0 ** rng.uniform(-6, 6, shape)
        out.append((f"dynamic-range-C{C}", wide, rng.standard_normal((8, C, 3, 3))))
        out.append((f"positive-wide-C{C}", np.abs(wide), np.abs(rng.standard_normal((8, C, 3, 3)))))
        scales = 10.0 ** rng.uniform(-5, 5, (1, C, 1, 1))
        out.append((f"channel-scales-C{C}", pos * scales, rng.standard_normal((8, C, 3, 3))))
        normal, wn = rng.standard_normal(shape), rng.standard_normal((8, C, 3, 3))
        out.append((f"huge-C{C}", normal * big, wn * big))
        out.append((f"tiny-C{C}", normal / big, wn / big))
        zeros = rng.standard_normal((8, C, 3, 3))
        zeros[rng.random(zeros.shape) < 0.5] = 0  # zero taps, as in edge filters
        spikes = np.where(rng.random(shape) < 0.01, 1e5, 1)
        out.append((f"outliers-zero-taps-C{C}", pos * spikes, zeros))
    # one huge pixel at each position of the tiles, tiny values elsewhere
    for i in range(8):
        for j in range(8):
            x = np.abs(rng.standard_normal((1, 1, 12, 12))) * 1e-6
            x[0, 0, i + 2, j + 2] = 1e3 * (1 + rng.random())
            out.append((f"spike-{i}-{j}", x, rng.choice([-1.0, 1.0], (3, 1, 3, 3))))
    return [(name, x.astype(dtype), w.astype(dtype)) for name, x, w in out]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tile", [2, 4])
def test_the_declared_bound_holds_on_extreme_magnitudes(dtype, tile):
    worst = 0.0
    for name, x, w in _extreme_cases(dtype):
        for pads in [(1, 1, 1, 1), (0, 0, 0, 0), (2, 2, 2, 2)]:
            with np.errstate(over="ignore"):
                got = _core.winograd_forward(x, w, None, pads, 1, tile)
            r = _check(got, x, w, None, pads, tile)
            assert r["ok"], (name, pads, r)
            worst = max(worst, r["worst"])
    assert worst > 0.01  # the cases do push the transforms


def _border_case(dtype, factor):
    """A pixel on the top row (padding 1: the row a first tile mixes with the bottom taps,
    which never meet it) `factor` times its channel's mean magnitude; the taps that do
    meet it are zero, so A never sees it."""
    rng = np.random.default_rng(8)
    x = np.abs(rng.standard_normal((1, 2, 12, 12))) * 1e-3
    core = np.abs(x[:, :, 1:11, 1:11]).sum(axis=(0, 2, 3)) / (12 * 12)  # padded rows 2..11
    x[0, :, 0, 5] = factor * core
    w = rng.standard_normal((3, 2, 3, 3))
    w[:, :, :2] = 0  # only kh = 2: row 0 is met by kh = 0 and 1 only
    return x.astype(dtype), w.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tile", [2, 4])
def test_the_border_check_keeps_the_bound(dtype, tile):
    pads = (1, 1, 1, 1)
    x, w = _border_case(dtype, 1e6)
    assert _core.winograd_border_sides(x, pads, tile) == ("top",)
    unchecked = _core.winograd_forward(x, w, None, pads, 1, tile, border_check=False)
    assert not _check(unchecked, x, w, None, pads, tile)["ok"]  # why the check exists
    checked = _core.winograd_forward(x, w, None, pads, 1, tile)
    assert _check(checked, x, w, None, pads, tile)["ok"]
    # below the check's factor the transforms compute the border, within the bound
    x, w = _border_case(dtype, 0.95 * _core._wino_border_factor() * (2 * 9 + 1))
    assert _core.winograd_border_sides(x, pads, tile) == ()
    assert _check(_core.winograd_forward(x, w, None, pads, 1, tile), x, w, None, pads, tile)["ok"]


def test_border_sides_follow_the_padding_and_tile():
    x = np.ones((1, 1, 9, 9))
    x[0, 0, -1, 3:6] = 1e9  # the middle of the last row
    assert _core.winograd_border_sides(x, (1, 1, 1, 1), 4) == ("bottom",)
    # with two rows of padding every tap meets every pixel: nothing is dangerous
    assert _core.winograd_border_sides(x, (2, 2, 2, 2), 4) == ()
    x = np.ones((1, 1, 9, 9))
    x[0, 0, :, 0] = np.nan
    assert "left" in _core.winograd_border_sides(x, (1, 1, 1, 1), 2)


def test_unsafe_borders_are_computed_by_the_direct_kernels():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 11, 10))
    x[:, :, :, 0] *= 1e8  # the left column: every side but the right one is checked
    x[:, :, 0, :] *= 1e8
    w = rng.standard_normal((5, 6, 3, 3))
    b = rng.standard_normal(5)
    got = _core.winograd_forward(x, w, b, (1, 1, 1, 1), 1, 4)
    direct = pyconv.conv2d(x, w, b, padding=1, backend="cython")
    np.testing.assert_array_equal(got[:, :, :4, :], direct[:, :, :4, :])
    np.testing.assert_array_equal(got[:, :, :, :4], direct[:, :, :, :4])
    assert _check(got, x, w, b, (1, 1, 1, 1), 4)["ok"]


def test_non_finite_outputs_come_from_the_direct_kernels():
    rng = np.random.default_rng(6)
    w = rng.standard_normal((4, 8, 3, 3)).astype(np.float32)
    x = rng.standard_normal((2, 8, 12, 12)).astype(np.float32)
    x[0, 0, 5, 5], x[1, 1, 2, 2] = np.nan, np.inf  # spread over whole tiles otherwise
    direct = pyconv.conv2d(x, w, padding=1, backend="cython")
    got = _core.winograd_forward(x, w, None, (1, 1, 1, 1), 1)
    np.testing.assert_array_equal(got, direct)  # NaN and inf where IEEE puts them
    # inputs near the range limit: the transforms' intermediate values (up to 100x the
    # inputs) overflow, the direct sums do not
    x = (rng.standard_normal((1, 8, 12, 12)) * 1e37).astype(np.float32)
    w = (w * 1e-30).astype(np.float32)
    got = _core.winograd_forward(x, w, None, (1, 1, 1, 1), 1)
    assert np.isfinite(got).all()
    assert _check(got, x, w, None, (1, 1, 1, 1), 4)["ok"]


# ---------------------------------------------------------------------------------------
# Threads, determinism, memory


def test_bitwise_identical_for_any_thread_count():
    rng = np.random.default_rng(9)
    cases = [
        ((1, 64, 28, 28), (64, 64, 3, 3), 1),  # one image: channel ranges split
        ((1, 16, 56, 40), (16, 16, 3, 3), 1),  # more tiles than channels: tile rows split
        ((3, 24, 30, 17), (36, 8, 3, 3), 3),  # groups and several tile blocks
        ((1, 200, 7, 7), (96, 200, 3, 3), 1),  # several input-channel blocks
    ]
    for tile in (2, 4):
        for xs, ws, g in cases:
            x = rng.standard_normal(xs).astype(np.float32)
            w = rng.standard_normal(ws).astype(np.float32)
            b = rng.standard_normal(ws[0]).astype(np.float32)
            results = []
            for n in (1, 2, 3):
                pyconv.set_num_threads(n)
                results.append(_core.winograd_forward(x, w, b, (1, 1, 1, 1), g, tile))
            for r in results[1:]:
                np.testing.assert_array_equal(r, results[0])


@pytest.mark.skipif(not _core.openmp_enabled(), reason="built without OpenMP")
def test_large_calls_run_in_parallel():
    x = np.ones((1, 64, 28, 28), np.float32)
    w = np.ones((64, 64, 3, 3), np.float32)
    pyconv.set_num_threads(2)
    before = _core.parallel_calls()
    _core.winograd_forward(x, w, None, (1, 1, 1, 1), 1)
    assert _core.parallel_calls() == before + 1


def test_workspace_is_bounded_by_cache_sized_blocks():
    x = np.ones((1, 32, 256, 256), np.float32)  # 8 MiB of input
    w = np.ones((32, 32, 3, 3), np.float32)
    pyconv.set_num_threads(1)
    _core.winograd_forward(x, w, None, (1, 1, 1, 1), 1)
    assert _core.workspace_bytes() < 3 * 2**20  # no transformed copy of the image


# ---------------------------------------------------------------------------------------
# The backend: options, refusals, the measured choice


def test_conformance_suite_with_every_option():
    for options in ({}, {"tile": 2}, {"fallback": "direct"}, {"tile": 2, "fallback": "direct"}):
        r = check_backend("winograd", **options)
        assert r.ok, (options, r.summary())
        assert r.contract == "normwise"
        assert r.deterministic
        assert r.c == C_DECLARED[options.get("tile", 4)]
        conv2d_skipped = [why for _, why in r.skipped if "does not implement" not in why]
        if "fallback" in options:
            assert not conv2d_skipped  # every conv2d runs, the direct kernels take the rest
        else:
            assert any("stride" in why for why in conv2d_skipped)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tile": 3}, "tile must be 4 or 2"),
        ({"tile": True}, "tile must be 4 or 2"),
        ({"tile": "4"}, "tile must be 4 or 2"),
        ({"fallback": "fft"}, "fallback must be None or 'direct'"),
    ],
)
def test_option_errors(options, message):
    with pytest.raises(ValueError, match=message), pyconv.use_backend("winograd", **options):
        pass


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="rejected the options"):
        load_backend("winograd", tiles=4)


@pytest.mark.parametrize(
    ("kwargs", "wshape", "reason"),
    [
        ({"stride": 2}, (4, 4, 3, 3), "stride"),
        ({"dilation": 2}, (4, 4, 3, 3), "dilation"),
        ({}, (4, 4, 5, 5), "kernel 5x5"),
        ({"groups": 4}, (4, 1, 3, 3), "depthwise"),
    ],
)
def test_unsupported_calls_raise_unless_a_fallback_is_asked(kwargs, wshape, reason):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 4, 12, 12)).astype(np.float32)
    w = rng.standard_normal(wshape).astype(np.float32)
    with pytest.raises(UnsupportedCallError, match=f"backend 'winograd' cannot run.*{reason}"):
        pyconv.conv2d(x, w, padding=1, backend="winograd", **kwargs)
    with pyconv.use_backend("winograd", fallback="direct"):
        got = pyconv.conv2d(x, w, padding=1, **kwargs)
    np.testing.assert_array_equal(got, pyconv.conv2d(x, w, padding=1, backend="cython", **kwargs))


def test_fallback_uses_winograd_where_it_pays_and_direct_elsewhere():
    rng = np.random.default_rng(2)
    big = rng.standard_normal((1, 64, 28, 28)).astype(np.float32)
    wbig = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    small = rng.standard_normal((1, 4, 28, 28)).astype(np.float32)
    wsmall = rng.standard_normal((4, 4, 3, 3)).astype(np.float32)
    fb = load_backend("winograd", fallback="direct")
    for x, w, pays in ((big, wbig, True), (small, wsmall, False)):
        got = pyconv.conv2d(x, w, padding=1, backend=fb)
        want = (
            _core.winograd_forward(x, w, None, (1, 1, 1, 1), 1)
            if pays
            else pyconv.conv2d(x, w, padding=1, backend="cython")
        )
        np.testing.assert_array_equal(got, want)


def test_bench_shows_the_winograd_column():
    from pyconv._bench import runner

    run, _ = runner.default_backends()
    assert "winograd" in run
    quick = runner.Settings.quick()
    bench = runner.run_bench(["seed_k3"], [1], ["cython", "winograd"], settings=quick)
    (row,) = bench.rows
    result = row.results["winograd"]
    assert result.seconds is not None
    assert result.check["ok"]
    assert result.check["contract"] == "normwise"
