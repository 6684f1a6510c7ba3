"""pyconv.conv2d against ``torch.nn.functional.conv2d`` over a generated parameter grid.

Tolerance policy
----------------
Neither float32 nor float64 results are compared bit for bit with torch: torch picks its
algorithm (oneDNN direct, im2col + GEMM, depthwise kernels, the slow float64 path ...) per
shape, dtype and thread count, and each sums the products in a different order, so no
implementation can be bitwise equal to torch everywhere.  Instead every output element of
both dtypes is checked against the **elementwise accuracy contract** of DESIGN.md
section 4 (``pyconv.testing.assert_conv_close``)::

    |got - exact| <= 2 (K + 1) eps(dtype) A

with ``exact`` the convolution in higher precision (float64 for float32 calls, long double
for float64 calls), ``K = C_in / groups * kH * kW`` and ``A = conv(|x|, |w|) + |b|``.  Any
summation order in the working precision satisfies it (the classical bound is about
``K eps / 2 A``), so it tests semantics, not one order.  For each case:

* pyconv's output has torch's shape and dtype;
* pyconv's output satisfies the contract;
* torch's output satisfies the same contract, which proves that the reference the contract
  is computed from (``pyconv.testing.exact_conv2d``) has torch's semantics;
* pyconv's output equals the numpy reference backend within the sum of both backends'
  contracts (bit for bit when the backend under test *is* the numpy backend).

The grid: every kernel size x stride x padding x dilation combination ('same' only with
stride 1), with channels / groups, bias, dtype, batch size, unbatched input and the kind of
data (normal, all-positive "image" data, magnitudes spread over twelve decades) drawn
from a seeded generator (part 1), plus the full product of the channel configurations
(groups 1 and 2, depthwise, depthwise with channel multiplier 2, 19 and 2 x 9 output
channels for the compiled kernels' 8-channel blocks) x bias x dtype x dilation x batch
size x unbatched (part 2).  Spatial sizes include the exact fit, where the dilated kernel
is as large as the padded input.  Part 3: 24 seeded medium problems (>= 1 MFLOP) that
run the compiled kernels threaded.  Part 4: random calls drawn by hypothesis from a wider
space (new ones every run).  Then edge cases (N = 0, C_in = 0, 1x1 inputs) and a few large
shapes (marked slow).  Bitwise equality across thread counts is ``tests/test_threads.py``'s.
"""

from __future__ import annotations

import itertools
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyconv
from pyconv._validation import prepare_conv2d
from pyconv.testing import assert_conv_close, exact_conv2d

try:
    import torch
except ImportError:  # every test here is marked `torch`: tests/conftest.py skips and counts them
    torch = None

pytestmark = pytest.mark.torch

KERNELS = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (1, 3), (3, 1), (2, 5), (7, 4)]
STRIDES = [1, 2, 3, (1, 2), (2, 1)]
PADDINGS = [0, 1, 2, (0, 1), (2, 1), "valid", "same"]
DILATIONS = [1, 2, (1, 3)]
# name -> (C_in, C_out, groups)
CHANNELS = {
    "g1": (3, 4, 1),
    "g2": (4, 6, 2),
    "dw": (4, 4, 4),
    "dwx2": (3, 6, 3),
    # wide enough for the compiled kernels' 8-output-channel blocks, plus a tail
    "g1x19": (5, 19, 1),
    "g2x9": (4, 18, 2),
}
DTYPES = {"f32": np.float32, "f64": np.float64}


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _fmt(v):
    if isinstance(v, str):
        return v
    a, b = _pair(v)
    return f"{a}" if a == b else f"{a}x{b}"


@dataclass(frozen=True)
class Case:
    """One conv2d call: shapes, parameters and dtype, with a readable id."""

    n: int
    cin: int
    cout: int
    groups: int
    h: int
    w: int
    kernel: tuple[int, int]
    stride: int | tuple[int, int]
    padding: int | tuple[int, int] | str
    dilation: int | tuple[int, int]
    bias: bool
    dtype: str
    unbatched: bool = False
    data: str = "normal"

    @property
    def id(self) -> str:
        batch = "unb" if self.unbatched else f"n{self.n}"
        return (
            f"{batch}-c{self.cin}to{self.cout}g{self.groups}-{self.h}x{self.w}"
            f"-k{self.kernel[0]}x{self.kernel[1]}-s{_fmt(self.stride)}-p{_fmt(self.padding)}"
            f"-d{_fmt(self.dilation)}-{'bias' if self.bias else 'nobias'}-{self.dtype}"
            + ("" if self.data == "normal" else f"-{self.data}")
        )

    def arrays(self):
        """Random normal data, seeded by the case id so a failure reproduces alone."""
        rng = np.random.default_rng(zlib.crc32(self.id.encode()))
        dt = DTYPES[self.dtype]
        xshape = (self.n, self.cin, self.h, self.w)[self.unbatched :]
        wshape = (self.cout, self.cin // self.groups, *self.kernel)
        if self.data == "normal":
            x = rng.standard_normal(xshape)
            w = rng.standard_normal(wshape)
            b = rng.standard_normal(self.cout)
        elif self.data == "image":  # all-positive pixels 0..255, small positive weights
            x = rng.integers(0, 256, xshape).astype(np.float64)
            w = rng.uniform(0, 1 / np.prod(wshape[1:]), wshape)
            b = rng.uniform(0, 1, self.cout)
        else:  # "wide": magnitudes spread over 10**-6 .. 10**6, mixed signs
            x = rng.standard_normal(xshape) * 10.0 ** rng.uniform(-6, 6, xshape)
            w = rng.standard_normal(wshape) * 10.0 ** rng.uniform(-3, 3, wshape)
            b = rng.standard_normal(self.cout) * 10.0 ** rng.uniform(-3, 3, self.cout)
        return x.astype(dt), w.astype(dt), (b.astype(dt) if self.bias else None)

    @property
    def params(self):
        return self.stride, self.padding, self.dilation, self.groups


def _min_size(k, d, pad_total):
    """Smallest input extent >= 1 for which the dilated kernel fits the padded input."""
    return max(1, d * (k - 1) + 1 - pad_total)


def _exact_fit(kernel, padding, dilation):
    """(H, W) of the exact fit: the smallest input, where the output is 1 pixel."""
    (kh, kw), (dh, dw) = kernel, _pair(dilation)
    if padding == "same":
        tot = (dh * (kh - 1), dw * (kw - 1))
    elif padding == "valid":
        tot = (0, 0)
    else:
        ph, pw = _pair(padding)
        tot = (2 * ph, 2 * pw)
    return _min_size(kh, dh, tot[0]), _min_size(kw, dw, tot[1])


def _spatial(rng, kernel, padding, dilation):
    """(H, W): the exact fit (output 1 pixel) in about 1 case in 4, else a bit larger."""
    hmin, wmin = _exact_fit(kernel, padding, dilation)
    if rng.random() < 0.25:
        return hmin, wmin
    return hmin + int(rng.integers(0, 7)), wmin + int(rng.integers(0, 7))


def _geometry_cases():
    """Part 1: kernel x stride x padding x dilation, the rest drawn from a seeded rng."""
    rng = np.random.default_rng(1234)
    cases = []
    for kernel, stride, padding, dilation in itertools.product(
        KERNELS, STRIDES, PADDINGS, DILATIONS
    ):
        if padding == "same" and stride != 1:
            continue  # torch refuses 'same' with strides
        cin, cout, groups = list(CHANNELS.values())[int(rng.integers(len(CHANNELS)))]
        unbatched = bool(rng.random() < 0.15)
        n = 1 if unbatched else int(rng.choice([0, 1, 1, 3, 3]))
        h, w = _spatial(rng, kernel, padding, dilation)
        cases.append(
            Case(
                n,
                cin,
                cout,
                groups,
                h,
                w,
                kernel,
                stride,
                padding,
                dilation,
                bias=bool(rng.random() < 0.5),
                dtype=str(rng.choice(["f32", "f64"])),
                unbatched=unbatched,
                data=str(rng.choice(["normal", "normal", "image", "wide"])),
            )
        )
    return cases


def _channel_cases():
    """Part 2: every channel configuration x bias x dtype x dilation x batch x unbatched."""
    rng = np.random.default_rng(5678)
    cases = []
    for (cin, cout, groups), bias, dtype, dilation, batch in itertools.product(
        CHANNELS.values(), [False, True], DTYPES, DILATIONS, [0, 1, 3, "unbatched"]
    ):
        kernel = KERNELS[int(rng.integers(len(KERNELS)))]
        stride = STRIDES[int(rng.integers(len(STRIDES)))]
        paddings = PADDINGS if stride == 1 else PADDINGS[:-1]
        padding = paddings[int(rng.integers(len(paddings)))]
        h, w = _spatial(rng, kernel, padding, dilation)
        cases.append(
            Case(
                1 if batch == "unbatched" else batch,
                cin,
                cout,
                groups,
                h,
                w,
                kernel,
                stride,
                padding,
                dilation,
                bias,
                dtype,
                unbatched=batch == "unbatched",
            )
        )
    return cases


GEOMETRY_CASES = _geometry_cases()
CHANNEL_CASES = _channel_cases()


def _torch_conv(x, w, b, stride, padding, dilation, groups):
    with warnings.catch_warnings():
        # "Using padding='same' with even kernel lengths and odd dilation may require a
        # zero-padded copy of the input be created"
        warnings.simplefilter("ignore")
        out = torch.nn.functional.conv2d(
            torch.from_numpy(np.ascontiguousarray(x)),
            torch.from_numpy(np.ascontiguousarray(w)),
            None if b is None else torch.from_numpy(b),
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
        )
    return out.numpy()


def _assert_close_to_reference(got, ref, x, w, b, stride, padding, dilation, groups):
    """got and ref each within the contract: they differ by at most twice its bound."""
    _, magnitude, K, dtype = exact_conv2d(x, w, b, stride, padding, dilation, groups)
    bound = 2 * 2 * (K + 1) * np.finfo(dtype).eps * magnitude.astype(np.float64)
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    bad = err > bound
    assert not bad.any(), (
        f"{int(bad.sum())} of {bad.size} outputs differ from the numpy backend by more than "
        f"both contracts allow; worst {err.max()} vs bound {bound.ravel()[np.argmax(err)]}"
    )


def check_case(case: Case, backend: str) -> None:
    x, w, b = case.arrays()
    stride, padding, dilation, groups = case.params
    expected = _torch_conv(x, w, b, stride, padding, dilation, groups)
    got = pyconv.conv2d(x, w, b, stride, padding, dilation, groups, backend=backend)

    assert isinstance(got, np.ndarray)
    assert got.shape == expected.shape, f"shape {got.shape} != torch {expected.shape}"
    assert got.dtype == expected.dtype == x.dtype
    assert_conv_close(got, x, w, b, stride, padding, dilation, groups)
    assert_conv_close(expected, x, w, b, stride, padding, dilation, groups)

    ref = pyconv.conv2d(x, w, b, stride, padding, dilation, groups, backend="numpy")
    if backend == "numpy":
        np.testing.assert_array_equal(got, ref)  # deterministic
    else:
        _assert_close_to_reference(got, ref, x, w, b, stride, padding, dilation, groups)


@pytest.mark.parametrize("case", GEOMETRY_CASES, ids=[c.id for c in GEOMETRY_CASES])
def test_geometry_grid(case, backend):
    check_case(case, backend)


@pytest.mark.parametrize("case", CHANNEL_CASES, ids=[c.id for c in CHANNEL_CASES])
def test_channel_grid(case, backend):
    check_case(case, backend)


def test_grid_covers_what_it_claims():
    cases = GEOMETRY_CASES + CHANNEL_CASES
    assert {c.kernel for c in cases} == set(KERNELS)
    assert {_fmt(c.stride) for c in cases} == {_fmt(s) for s in STRIDES}
    assert {_fmt(c.padding) for c in cases} == {_fmt(p) for p in PADDINGS}
    assert {_fmt(c.dilation) for c in cases} == {_fmt(d) for d in DILATIONS}
    assert {(c.cin, c.cout, c.groups) for c in cases} == set(CHANNELS.values())
    assert {c.n for c in cases if not c.unbatched} == {0, 1, 3}
    assert any(c.unbatched for c in cases)
    assert {c.dtype for c in cases} == set(DTYPES)
    assert {c.bias for c in cases} == {False, True}

    # some cases are an exact fit: the output is a single pixel in both dimensions
    def out_size(c):
        # an exact fit: the dilated kernel covers the whole padded input
        (kh, kw), (dh, dw) = c.kernel, _pair(c.dilation)
        if c.padding == "same":
            return c.h, c.w
        ph, pw = (0, 0) if c.padding == "valid" else _pair(c.padding)
        sh, sw = _pair(c.stride)
        return (
            (c.h + 2 * ph - dh * (kh - 1) - 1) // sh + 1,
            (c.w + 2 * pw - dw * (kw - 1) - 1) // sw + 1,
        )

    exact_fits = [c for c in GEOMETRY_CASES if out_size(c) == (1, 1)]
    assert len(exact_fits) >= 50
    assert any(c.kernel == (7, 4) and c.dilation != 1 and c.padding != 0 for c in exact_fits)
    assert {c.data for c in cases} == {"normal", "image", "wide"}


# Random calls (hypothesis), from a wider space than the grids': any kernel up to 5x5,
# stride and dilation up to 3 per axis, padding ints, pairs, 'valid' or 'same', groups up
# to 3, up to 11 output channels per group, planes several of the kernels' pixel tiles
# wide.  New examples every run; a failure is shrunk and printed as a Case.


@st.composite
def random_cases(draw):
    groups, cig = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    # mostly few channels; sometimes enough for the kernels' 8-channel blocks and a tail
    cog = draw(st.one_of(st.integers(1, 3), st.integers(8, 11)))
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(
        st.one_of(
            st.integers(0, 3),
            st.tuples(st.integers(0, 3), st.integers(0, 3)),
            st.sampled_from(["valid", "same"]),
        )
    )
    # torch refuses 'same' with strides
    stride = (1, 1) if padding == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    hmin, wmin = _exact_fit(kernel, padding, dilation)
    unbatched = draw(st.booleans())
    return Case(
        1 if unbatched else draw(st.integers(0, 3)),
        groups * cig,
        groups * cog,
        groups,
        hmin + draw(st.one_of(st.integers(0, 6), st.integers(7, 30))),
        wmin + draw(st.one_of(st.integers(0, 6), st.integers(7, 40))),
        kernel,
        stride,
        padding,
        dilation,
        draw(st.booleans()),
        draw(st.sampled_from(list(DTYPES))),
        unbatched=unbatched,
        data=draw(st.sampled_from(["normal", "image", "wide"])),
    )


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=random_cases())
def test_random_calls(backend, case):
    check_case(case, backend)


# ---------------------------------------------------------------------------------------
# Edge cases


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("with_bias", [False, True])
def test_empty_batch(backend, rng, dtype, groups, with_bias):
    x = np.zeros((0, 4, 6, 5), dtype)
    w = rng.standard_normal((6, 4 // groups, 3, 2)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype) if with_bias else None
    for padding in (0, 1, "same"):
        expected = _torch_conv(x, w, b, 1, padding, 1, groups)
        got = pyconv.conv2d(x, w, b, padding=padding, groups=groups, backend=backend)
        assert got.shape == expected.shape
        assert got.dtype == expected.dtype
        assert got.size == 0


@pytest.mark.parametrize("with_bias", [False, True])
def test_zero_input_channels(backend, with_bias):
    # pyconv's documented choice (docs/semantics.md): the sum over no products is 0, so
    # the output is (N, C_out, H_out, W_out) filled with the bias (or zeros).
    x = np.zeros((2, 0, 5, 5), np.float32)
    w = np.zeros((3, 0, 3, 3), np.float32)
    b = np.array([1.5, -2.0, 0.25], np.float32) if with_bias else None
    got = pyconv.conv2d(x, w, b, backend=backend)
    assert got.shape == (2, 3, 3, 3)
    assert got.dtype == np.float32
    want = np.zeros((2, 3, 3, 3), np.float32)
    if with_bias:
        want += b.reshape(1, 3, 1, 1)
    np.testing.assert_array_equal(got, want)


def test_zero_input_channels_is_a_documented_difference(backend, torch):
    # torch 2.13 returns (N, 0, H_out, W_out) for C_in = 0, ignoring C_out and the bias;
    # pyconv returns the mathematically defined (N, C_out, H_out, W_out) = bias (see
    # docs/semantics.md). This test notices if torch changes, so the docs can follow.
    x = np.zeros((2, 0, 5, 5), np.float32)
    w = np.zeros((3, 0, 3, 3), np.float32)
    b = np.ones(3, np.float32)
    assert _torch_conv(x, w, b, 1, 0, 1, 1).shape == (2, 0, 3, 3)
    got = pyconv.conv2d(x, w, b, backend=backend)
    assert got.shape == (2, 3, 3, 3)
    assert np.array_equal(got, np.ones((2, 3, 3, 3), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_batch_and_zero_channels(backend, dtype):
    x = np.zeros((0, 0, 4, 4), dtype)
    w = np.zeros((2, 0, 3, 3), dtype)
    got = pyconv.conv2d(x, w, backend=backend)
    assert got.size == 0
    assert got.shape[0] == 0
    assert got.shape[2:] == _torch_conv(x, w, None, 1, 0, 1, 1).shape[2:]
    assert got.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("kernel", "padding", "dilation"),
    [
        ((1, 1), 0, 1),
        ((3, 3), 1, 1),
        ((3, 3), "same", 1),
        ((2, 2), "same", 1),
        ((3, 3), 2, 2),
        ((5, 5), 2, 1),
        ((1, 3), (0, 1), 1),
    ],
    ids=["k1", "k3-p1", "k3-same", "k2-same", "k3-p2-d2", "k5-p2", "k1x3-p0x1"],
)
@pytest.mark.parametrize("stride", [1, 2])
def test_one_pixel_input(backend, rng, dtype, kernel, padding, dilation, stride):
    if padding == "same":
        stride = 1  # torch refuses 'same' with strides
    x = rng.standard_normal((2, 3, 1, 1)).astype(dtype)
    w = rng.standard_normal((4, 3, *kernel)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    expected = _torch_conv(x, w, b, stride, padding, dilation, 1)
    got = pyconv.conv2d(x, w, b, stride, padding, dilation, backend=backend)
    assert got.shape == expected.shape
    assert_conv_close(got, x, w, b, stride, padding, dilation)
    assert_conv_close(expected, x, w, b, stride, padding, dilation)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_equals_padded_input(backend, rng, dtype):
    # 7x4 kernel, dilation (2, 1) -> 13x4 footprint on a 9x2 input padded by (2, 1)
    x = rng.standard_normal((2, 2, 9, 2)).astype(dtype)
    w = rng.standard_normal((3, 2, 7, 4)).astype(dtype)
    expected = _torch_conv(x, w, None, 1, (2, 1), (2, 1), 1)
    got = pyconv.conv2d(x, w, None, 1, (2, 1), (2, 1), backend=backend)
    assert got.shape == expected.shape == (2, 3, 1, 1)
    assert_conv_close(got, x, w, None, 1, (2, 1), (2, 1))
    # the single output is the plain dot product over the unpadded taps
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (2, 2), (1, 1)))[:, :, ::2, :]
    hand = np.einsum("nchw,ochw->no", xp, w.astype(np.float64))
    np.testing.assert_allclose(got[:, :, 0, 0], hand, rtol=1e-5 if dtype == np.float32 else 1e-12)


def _parallel_cases():
    """Medium problems (>= 1 MFLOP, so the compiled kernels run threaded), seeded."""
    rng = np.random.default_rng(2468)
    cases = []
    while len(cases) < 24:
        groups = int(rng.choice([1, 1, 2, 3]))
        cig, cog = int(rng.integers(1, 7)), int(rng.integers(1, 20))
        if len(cases) % 6 == 5:  # depthwise, many channels
            cig, cog, groups = 1, int(rng.integers(1, 3)), int(rng.integers(8, 33))
        kernel = KERNELS[int(rng.integers(len(KERNELS)))]
        stride = STRIDES[int(rng.integers(len(STRIDES)))]
        paddings = PADDINGS if stride == 1 else PADDINGS[:-1]
        padding = paddings[int(rng.integers(len(paddings)))]
        dilation = DILATIONS[int(rng.integers(len(DILATIONS)))]
        h, w = (v + int(rng.integers(20, 70)) for v in _spatial(rng, kernel, padding, dilation))
        case = Case(
            int(rng.integers(1, 4)),
            groups * cig,
            groups * cog,
            groups,
            h,
            w,
            kernel,
            stride,
            padding,
            dilation,
            bool(rng.random() < 0.5),
            str(rng.choice(["f32", "f64"])),
            data="normal",
        )
        x, wt, _ = case.arrays()
        # the output size by pyconv's own validation: collected without torch too
        ho, wo = prepare_conv2d(x[:1], wt, None, *case.params)[3].output_size
        if 2 * case.n * case.cout * ho * wo * cig * kernel[0] * kernel[1] >= 1 << 20:
            cases.append(case)
    return cases


PARALLEL_CASES = _parallel_cases()


@pytest.mark.parametrize("case", PARALLEL_CASES, ids=[c.id for c in PARALLEL_CASES])
def test_parallel_grid(case, backend):
    pyconv.set_num_threads(2)
    check_case(case, backend)


# ---------------------------------------------------------------------------------------
# Larger shapes: the blocked, parallel code paths of the compiled kernels


LARGE = {
    # name: (x shape, w shape, stride, padding, dilation, groups, dtype)
    "resnet-1x64x56x56-k3": ((1, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1, 1, np.float32),
    "image-1x1x512x512-k15": ((1, 1, 512, 512), (1, 1, 15, 15), 1, 0, 1, 1, np.float32),
    "resnet-down-2x32x28x28-s2": ((2, 32, 28, 28), (64, 32, 3, 3), 2, 1, 1, 1, np.float32),
    "pointwise-2x96x20x20": ((2, 96, 20, 20), (48, 96, 1, 1), 1, 0, 1, 1, np.float32),
    "depthwise-1x64x40x40-k5": ((1, 64, 40, 40), (64, 1, 5, 5), 1, "same", 1, 64, np.float32),
    "dilated-f64-1x16x48x48": ((1, 16, 48, 48), (24, 16, 3, 3), 1, 2, 2, 1, np.float64),
    "grouped-f64-2x24x30x30-g4": (
        (2, 24, 30, 30),
        (32, 6, 3, 3),
        (2, 1),
        (1, 2),
        (1, 2),
        4,
        np.float64,
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LARGE))
def test_large_shapes(backend, name):
    xs, ws, stride, padding, dilation, groups, dtype = LARGE[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    expected = _torch_conv(x, w, b, stride, padding, dilation, groups)
    got = pyconv.conv2d(x, w, b, stride, padding, dilation, groups, backend=backend)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    assert got.flags.c_contiguous
    assert_conv_close(got, x, w, b, stride, padding, dilation, groups)
    assert_conv_close(expected, x, w, b, stride, padding, dilation, groups)
