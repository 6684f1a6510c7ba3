"""The fft backend against torch and pyconv's reference, under its declared contract."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pyconv
import pytest
from pyconv._validation import prepare_conv2d
from pyconv.testing import exact_conv2d

from pyconv_fft import entry_point
from pyconv_fft.backend import FFTBackend, conv2d, make_plan

torch = pytest.importorskip("torch")

C_DECLARED = entry_point.SPEC["capabilities"]["accuracy_c"]
DTYPES = [np.float32, np.float64]


def _torch_conv(x, w, b, **kw):
    t = torch.from_numpy
    with warnings.catch_warnings():
        # torch warns that padding='same' with an even kernel copies the input
        warnings.simplefilter("ignore", UserWarning)
        y = torch.nn.functional.conv2d(t(x), t(w), None if b is None else t(b), **kw)
    return y.numpy()


def _random(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def assert_contract(got, x, w, b=None, *, c=C_DECLARED, others=(), **kw):
    """``got`` within the norm-wise contract of the exact result; ``others`` (results of
    elementwise-accurate implementations) within the sum of both contracts of ``got``."""
    exact, A, K, dtype = exact_conv2d(x, w, b, **kw)
    assert got.shape == exact.shape
    assert got.dtype == dtype
    eps = np.finfo(dtype).eps
    amax = A.max() if A.size else 0.0
    norm_bound = c * (K + 1) * eps * amax
    err = np.abs(got.astype(exact.dtype) - exact)
    assert err.max(initial=0) <= norm_bound, (
        f"max error {err.max():.3g} > norm-wise bound {norm_bound:.3g} "
        f"(ratio {err.max() / norm_bound:.3g})"
    )
    for name, other in others:
        tol = norm_bound + 2 * (K + 1) * eps * A
        diff = np.abs(got.astype(np.float64) - other.astype(np.float64))
        assert (diff <= tol).all(), f"{name}: max difference {diff.max():.3g}"


# ---- a parameter grid --------------------------------------------------------------

GRID = [
    # (x shape, w shape, stride, padding, dilation, groups)
    ((2, 3, 11, 13), (4, 3, 3, 3), 1, 0, 1, 1),
    ((2, 3, 11, 13), (4, 3, 3, 3), 1, 1, 1, 1),
    ((2, 3, 11, 13), (4, 3, 2, 5), 1, (0, 2), 1, 1),
    ((1, 4, 16, 9), (6, 2, 3, 2), 2, 1, 1, 2),
    ((2, 3, 15, 17), (5, 3, 3, 3), (2, 3), (1, 2), (2, 1), 1),
    ((1, 6, 12, 12), (6, 1, 3, 3), 1, 1, 1, 6),  # depthwise
    ((1, 4, 12, 10), (12, 1, 5, 3), 2, 2, 1, 4),  # channel multiplier 3
    ((1, 4, 12, 10), (8, 2, 4, 4), 1, "same", 1, 2),  # asymmetric padding
    ((2, 2, 14, 13), (3, 2, 4, 2), 1, "same", (2, 3), 1),
    ((1, 2, 20, 20), (2, 2, 3, 3), 3, 0, 3, 1),  # stride and dilation share a factor
    ((1, 2, 20, 21), (2, 2, 2, 2), 4, 1, 1, 1),  # stride > kernel: unused phases
    ((3, 5, 9, 9), (7, 5, 1, 1), 1, 0, 1, 1),  # 1x1
    ((1, 4, 9, 9), (4, 2, 1, 1), 2, 1, 1, 2),  # strided 1x1 with padding
    ((1, 1, 40, 37), (1, 1, 15, 15), 1, 7, 1, 1),  # large kernel
    ((1, 1, 25, 30), (2, 1, 25, 1), 1, 0, 1, 1),  # kernel as tall as the image
    ((1, 1, 1, 1), (1, 1, 1, 1), 1, 0, 1, 1),
    ((1, 2, 3, 3), (1, 2, 3, 3), 1, 0, 1, 1),  # one output pixel
    ((1, 1, 2, 2), (1, 1, 3, 3), 1, 1, 1, 1),  # padding larger than the image
    ((1, 3, 8, 30), (2, 3, 3, 7), (1, 5), (1, 3), (1, 2), 1),
]


@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(
    ("xs", "ws", "stride", "padding", "dilation", "groups"),
    GRID,
    ids=[f"x{a}-w{b}-s{c}-p{d}-d{e}-g{f}".replace(" ", "") for a, b, c, d, e, f in GRID],
)
def test_grid_against_torch_and_reference(xs, ws, stride, padding, dilation, groups, dtype, bias):
    rng = np.random.default_rng(abs(hash((xs, ws))) % 2**32)
    x, w = _random(rng, xs, dtype), _random(rng, ws, dtype)
    b = _random(rng, ws[0], dtype) if bias else None
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    got = pyconv.conv2d(x, w, b, backend="fft", **kw)
    ref = pyconv.conv2d(x, w, b, backend="numpy", **kw)
    assert_contract(
        got, x, w, b, others=[("torch", _torch_conv(x, w, b, **kw)), ("numpy", ref)], **kw
    )
    assert got.flags.c_contiguous


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("tile", [(2, 2), (5, 3), (8, 8), (13, 29), (64, 64)])
def test_forced_tiles(tile, dtype):
    """Every tile size gives the same convolution (tiles cropped, stitched, partial ones)."""
    rng = np.random.default_rng(1)
    x, w, b = _random(rng, (2, 4, 23, 19), dtype), _random(rng, (6, 2, 3, 2), dtype), None
    b = _random(rng, 6, dtype)
    for kw in (
        dict(stride=1, padding=1, dilation=1, groups=2),
        dict(stride=(2, 3), padding=(0, 2), dilation=(1, 2), groups=2),
    ):
        xx, ww, bb, spec = prepare_conv2d(x, w, b, kw["stride"], kw["padding"], kw["dilation"], 2)
        got = conv2d(xx, ww, bb, spec, workers=1, tile=tile)
        assert_contract(got, x, w, b, **kw)


def test_chunks_over_images_and_tile_rows():
    """A tiny memory limit splits the work into many chunks, within the same contract.

    Not bit for bit: the channel sums are one BLAS matrix product per frequency over the
    chunk's tiles, and the BLAS's result for a column depends on how many columns the
    product has (OpenBLAS takes other kernels for other widths), as it depends on its
    thread count; so chunking changes the last bits of multi-channel calls (by about
    1e-14 here), which the backend's declared contract allows (norm-wise, and
    deterministic=False).  Both results are checked against the contract, and against
    each other within the sum of their bounds.
    """
    rng = np.random.default_rng(2)
    x, w = _random(rng, (5, 3, 40, 33), np.float64), _random(rng, (4, 3, 5, 5), np.float64)
    x_, w_, _, spec = prepare_conv2d(x, w, None, 1, 2, 1, 1)
    whole = conv2d(x_, w_, None, spec, workers=1, tile=(16, 16), memory_limit=2**30)
    plan = make_plan(spec, 2**30, (16, 16))
    assert plan.images_per_chunk == 2  # at least 4 chunks, for threads
    assert plan.tile_rows_per_chunk == plan.ntiles[0] > 1
    small = make_plan(spec, 1, (16, 16))
    assert small.images_per_chunk == 1
    assert small.tile_rows_per_chunk == 1
    chunked = conv2d(x_, w_, None, spec, workers=1, tile=(16, 16), memory_limit=1)
    assert_contract(whole, x, w, None, padding=2)
    assert_contract(chunked, x, w, None, padding=2)
    _, A, K, _ = exact_conv2d(x, w, None, padding=2)
    norm_bound = C_DECLARED * (K + 1) * np.finfo(np.float64).eps * A.max()
    assert np.abs(chunked - whole).max() <= 2 * norm_bound
    # the 1x1 path chunks over images only: one matrix product per image whatever the
    # chunk, so the same products in the same shapes, bit for bit
    w1 = _random(rng, (4, 3, 1, 1), np.float64)
    x_, w_, _, spec = prepare_conv2d(x, w1, None, 2, 1, 1, 1)
    np.testing.assert_array_equal(
        conv2d(x_, w_, None, spec, memory_limit=1), conv2d(x_, w_, None, spec)
    )


@pytest.mark.parametrize("k", [5, 9, 15, 21, 31])
def test_large_kernels_single_channel(k):
    rng = np.random.default_rng(k)
    x, w = _random(rng, (1, 1, 300, 280), np.float32), _random(rng, (1, 1, k, k), np.float32)
    got = pyconv.conv2d(x, w, padding="same", backend="fft")
    ref = pyconv.conv2d(x, w, padding="same", backend="numpy")
    assert_contract(got, x, w, padding="same", others=[("numpy", ref)])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(
    "kind", ["positive", "wide", "outliers"], ids=["all-positive", "12-decades", "outliers"]
)
def test_adversarial_data(kind, dtype):
    """All-positive images (large DC term) and wide dynamic range stay within the bound."""
    rng = np.random.default_rng(3)
    shape = (2, 3, 64, 70)
    if kind == "positive":
        x = rng.random(shape)
    elif kind == "wide":
        x = rng.choice([-1.0, 1.0], shape) * 10.0 ** rng.uniform(-6, 6, shape)
    else:
        x = rng.random(shape) * 1e-3
        x[rng.random(shape) < 0.002] = 1e4
    x = x.astype(dtype)
    w = rng.random((4, 3, 2, 5)).astype(dtype)
    got = pyconv.conv2d(x, w, padding=(1, 2), backend="fft")
    assert_contract(got, x, w, padding=(1, 2))


# ---- empty inputs, layouts, dtypes ---------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize(
    ("xs", "ws", "groups"),
    [
        ((0, 3, 8, 8), (4, 3, 3, 3), 1),  # no images
        ((2, 0, 8, 8), (4, 0, 3, 3), 1),  # no input channels: output = bias
        ((2, 0, 8, 8), (4, 0, 3, 3), 2),
        ((0, 0, 0, 0), (2, 0, 1, 1), 1),
        ((2, 0, 0, 5), (3, 0, 1, 2), 1),
    ],
)
def test_empty(xs, ws, groups, bias, dtype):
    x, w = np.zeros(xs, dtype), np.ones(ws, dtype)
    b = np.arange(ws[0], dtype=dtype) + 1 if bias else None
    kw = dict(padding=1 if xs[2] == 0 else 0, groups=groups)
    got = pyconv.conv2d(x, w, b, backend="fft", **kw)
    ref = pyconv.conv2d(x, w, b, backend="numpy", **kw)
    assert got.shape == ref.shape
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, ref)


def test_unbatched_layouts_and_inputs_unmodified():
    rng = np.random.default_rng(4)
    x = _random(rng, (3, 20, 17), np.float32)
    w = _random(rng, (5, 3, 4, 3), np.float32)
    b = _random(rng, 5, np.float32)
    x_nc = np.asfortranarray(x)[:, ::-1][:, ::-1]  # Fortran-ordered, negative strides
    w_nc = w.transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2)
    copies = [a.copy() for a in (x_nc, w_nc, b)]
    for a in (x_nc, w_nc, b):
        a.flags.writeable = False
    got = pyconv.conv2d(x_nc, w_nc, b, stride=(1, 2), padding=1, backend="fft")
    assert got.shape == (5, 19, 9)
    assert got.dtype == np.float32
    for a, c in zip((x_nc, w_nc, b), copies, strict=True):
        np.testing.assert_array_equal(a, c)
    assert_contract(got, x, w, b, stride=(1, 2), padding=1)


def test_float32_is_computed_in_single_precision():
    """float32 in, float32 out, and the error is float32-sized (not float64)."""
    rng = np.random.default_rng(5)
    x, w = _random(rng, (1, 2, 64, 64), np.float32), _random(rng, (2, 2, 9, 9), np.float32)
    got = pyconv.conv2d(x, w, backend="fft")
    assert got.dtype == np.float32
    exact = exact_conv2d(x, w)[0]
    rel = np.abs(got - exact).max() / np.abs(exact).max()
    assert 1e-9 < rel < 1e-5


# ---- determinism and options ---------------------------------------------------------


def test_deterministic_across_calls_and_fft_workers():
    """scipy.fft's thread count and repetition do not change a single bit.  (NumPy's BLAS
    thread count does, for multi-channel calls: the backend declares deterministic=False.)"""
    rng = np.random.default_rng(6)
    x, w = _random(rng, (2, 8, 96, 80), np.float32), _random(rng, (8, 4, 7, 7), np.float32)
    b = _random(rng, 8, np.float32)
    x1 = _random(rng, (1, 1, 300, 300), np.float32)
    w1 = _random(rng, (2, 1, 15, 15), np.float32)
    for xx, ww, bb, groups in ((x, w, b, 2), (x1, w1, None, 1)):
        results = [
            pyconv.conv2d(xx, ww, bb, groups=groups, backend=FFTBackend(workers=n))
            for n in (1, 2, 3, 4, 1)
        ]
        for r in results[1:]:
            np.testing.assert_array_equal(r, results[0])


def test_options():
    be = FFTBackend(workers=1, memory_limit=2**20)
    assert (be.workers, be.memory_limit) == (1, 2**20)
    assert "workers=1" in repr(be)
    with pytest.raises(ValueError, match="workers"):
        FFTBackend(workers=0)
    with pytest.raises(TypeError):
        FFTBackend(workers=True)
    with pytest.raises(TypeError):
        FFTBackend(workers=1.5)
    with pytest.raises(ValueError, match="memory_limit"):
        FFTBackend(memory_limit=0)
    x, w = np.ones((1, 1, 8, 8)), np.ones((1, 1, 3, 3))
    with pyconv.use_backend("fft", workers=1):
        np.testing.assert_allclose(pyconv.conv2d(x, w), 9.0)
    _, _, _, spec = prepare_conv2d(x, w, None, 1, 0, 1, 1)
    assert be.supports(spec) is True
    assert be.plan(spec).tile[0] >= 3


def test_plan_prefers_small_tiles_for_small_kernels_on_large_images():
    x = np.empty((1, 1, 2048, 2048), np.float32)
    for k in (5, 31):
        _, _, _, spec = prepare_conv2d(x, np.empty((1, 1, k, k), np.float32), None, 1, 0, 1, 1)
        plan = make_plan(spec)
        assert k < plan.tile[0] < 2048
        assert plan.tile[0] == plan.tile[1] or max(plan.tile) <= 2 * min(plan.tile)


def test_cost_model_candidates_are_fast_lengths():
    import scipy.fft

    x = np.empty((1, 3, 97, 211), np.float32)
    for k, s, d in itertools.product((1, 3, 8), (1, 2), (1, 3)):
        w = np.empty((2, 3, k, k), np.float32)
        _, _, _, spec = prepare_conv2d(x, w, None, s, 0, d, 1)
        plan = make_plan(spec)
        for T in plan.tile:
            assert scipy.fft.next_fast_len(T, real=True) == T
        assert plan.step[0] >= 1
        assert plan.step[1] >= 1


# ---- the border guard ----------------------------------------------------------------


def _border_adversary(dtype):
    """Bright pixels in the first rows meet only the kernel's tiny first rows; the kernel's
    one large tap (last row) never meets them, so max(A) does not see that product."""
    x = np.full((1, 2, 64, 60), 1e-3, dtype)
    x[:, :, :2, :] = 1e6
    w = np.full((3, 2, 5, 5), 1e-3, dtype)
    w[:, :, 4, 4] = 1e3
    return x, w


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_border_guard_keeps_the_contract(dtype, monkeypatch):
    from pyconv_fft import backend

    x, w = _border_adversary(dtype)
    x_, w_, _, spec = prepare_conv2d(x, w, None, 1, 0, 1, 1)
    plan = make_plan(spec)
    assert not backend._border_is_safe(x_, backend._phase_weights(w_, spec, plan), spec, plan)
    assert_contract(pyconv.conv2d(x, w, backend="fft"), x, w)
    # without the guard the transforms' rounding error breaks the bound by far
    monkeypatch.setattr(backend, "_border_is_safe", lambda *a: True)
    got = pyconv.conv2d(x, w, backend=FFTBackend())
    with pytest.raises(AssertionError, match="norm-wise bound"):
        assert_contract(got, x, w)


@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "groups"),
    [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 2), ((2, 3), (0, 1), (1, 2), 2), (1, "same", 1, 1)],
)
def test_border_guard_rims_with_every_parameter(stride, padding, dilation, groups):
    rng = np.random.default_rng(7)
    x = rng.random((2, 4, 41, 37)) * 1e-3
    x[:, :, :3] = 1e5
    x[:, :, :, -2:] = -1e5
    w = rng.random((4, 4 // groups, 4, 5)) * 1e-3
    w[:, :, -1, 0] = 1e3
    b = rng.standard_normal(4)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    got = pyconv.conv2d(x, w, b, backend="fft", **kw)
    assert_contract(
        got, x, w, b, others=[("numpy", pyconv.conv2d(x, w, b, backend="numpy", **kw))], **kw
    )


def test_border_guard_accepts_ordinary_images():
    from pyconv_fft import backend

    rng = np.random.default_rng(8)
    x = rng.random((1, 3, 128, 128))
    x[:, :, :4] *= 3.0  # a brighter top border is fine
    w = rng.standard_normal((2, 3, 7, 7))
    for kw in ({}, {"padding": "same"}, {"stride": 2}):
        x_, w_, _, spec = prepare_conv2d(
            x, w, None, kw.get("stride", 1), kw.get("padding", 0), 1, 1
        )
        plan = make_plan(spec)
        assert backend._border_is_safe(x_, backend._phase_weights(w_, spec, plan), spec, plan)


def test_kernel_as_large_as_the_image_is_computed_directly():
    rng = np.random.default_rng(9)
    x, w = rng.random((2, 2, 9, 9)), rng.random((3, 2, 9, 8))
    x[:, :, 0] = 1e8
    got = pyconv.conv2d(x, w, backend="fft")
    assert_contract(got, x, w, others=[("numpy", pyconv.conv2d(x, w, backend="numpy"))])


# ---- random calls ------------------------------------------------------------------


def test_random_calls_property():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @st.composite
    def calls(draw):
        dtype = draw(st.sampled_from(DTYPES))
        G = draw(st.integers(1, 3))
        cig, og = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        k = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
        s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        same = s == (1, 1) and draw(st.booleans())
        p = "same" if same else (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
        ek = [d[i] * (k[i] - 1) + 1 for i in range(2)]
        pad = (0, 0) if same else p
        H = max(1, ek[0] - 2 * pad[0]) + draw(st.integers(0, 30))
        W = max(1, ek[1] - 2 * pad[1]) + draw(st.integers(0, 30))
        N = draw(st.integers(1, 2))
        tile = draw(st.none() | st.tuples(st.integers(1, 40), st.integers(1, 40)))
        seed = draw(st.integers(0, 2**32 - 1))
        return dtype, (N, G * cig, H, W), (G * og, cig, *k), s, p, d, G, tile, seed

    @hypothesis.settings(max_examples=150, deadline=None, derandomize=True)
    @hypothesis.given(calls())
    def check(call):
        dtype, xs, ws, s, p, d, G, tile, seed = call
        rng = np.random.default_rng(seed)
        x, w, b = _random(rng, xs, dtype), _random(rng, ws, dtype), _random(rng, ws[0], dtype)
        x_, w_, b_, spec = prepare_conv2d(x, w, b, s, p, d, G)
        got = conv2d(x_, w_, b_, spec, workers=1, tile=tile)
        assert_contract(got, x, w, b, stride=s, padding=p, dilation=d, groups=G)

    check()
