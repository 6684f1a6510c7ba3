"""Property tests (hypothesis): invariants of conv2d on random valid problems.

Every problem is drawn at random: batch (0 to 3, or unbatched), groups, channels per group,
kernel (1 to 5 per side), stride, dilation, padding (ints, pairs, 'valid', 'same'), spatial
size (from the exact fit up), bias or not, float32 or float64; the array values come from a
drawn seed.  Both built-in backends are checked.

Tolerances come from the elementwise accuracy contract (DESIGN.md section 4):
``|got - exact| <= 2 (K + 1) eps A`` with ``A = conv(|x|, |w|) + |b|``.  When an identity
compares two computed results (``a == b`` in exact arithmetic), each side is within its own
contract of the same exact value, so the check allows the sum of both bounds, plus the
rounding of any addition done in the working precision to form one side (half an ulp of
a value bounded by ``A``).

Agreement with torch on random calls is ``tests/test_against_torch.py``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyconv
from pyconv.testing import assert_conv_close, exact_conv2d

BACKENDS = ["cython", "numpy"]

# about 1 s per test at 200 examples; the whole file stays well under 30 s
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Problem:
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    stride: tuple[int, int]
    padding: tuple[int, int] | int | str
    dilation: tuple[int, int]
    groups: int

    @property
    def args(self):
        return self.x, self.w, self.b, self.stride, self.padding, self.dilation, self.groups

    @property
    def params(self):
        return self.stride, self.padding, self.dilation, self.groups

    def pad_totals(self):
        kh, kw = self.w.shape[2:]
        if self.padding == "same":
            return self.dilation[0] * (kh - 1), self.dilation[1] * (kw - 1)
        if self.padding == "valid":
            return 0, 0
        ph, pw = (self.padding, self.padding) if isinstance(self.padding, int) else self.padding
        return 2 * ph, 2 * pw

    def __repr__(self):  # what hypothesis prints for a failing example
        return (
            f"Problem(x{self.x.shape} {self.x.dtype}, w{self.w.shape}, "
            f"bias={None if self.b is None else self.b.shape}, stride={self.stride}, "
            f"padding={self.padding!r}, dilation={self.dilation}, groups={self.groups})"
        )


@st.composite
def problems(draw, *, min_batch=0, min_cig=1, max_groups=3, batched=None):
    """A random valid conv2d call (arrays included)."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    groups = draw(st.integers(1, max_groups))
    cig = draw(st.integers(min_cig, 3))
    # mostly few channels; sometimes enough for the kernels' 8-channel blocks and a tail
    cog = draw(st.one_of(st.integers(1, 3), st.integers(8, 11)))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(
        st.one_of(
            st.integers(0, 3),
            st.tuples(st.integers(0, 3), st.integers(0, 3)),
            st.sampled_from(["valid", "same"]),
        )
    )
    if padding == "same":
        stride = (1, 1)  # torch refuses 'same' with strides
        tot = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
    else:
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        p = (
            (0, 0)
            if padding == "valid"
            else (padding, padding)
            if isinstance(padding, int)
            else padding
        )
        tot = (2 * p[0], 2 * p[1])
    hmin = max(1, dilation[0] * (kh - 1) + 1 - tot[0])
    wmin = max(1, dilation[1] * (kw - 1) + 1 - tot[1])
    # mostly small planes; sometimes several of the kernels' pixel tiles wide
    h = hmin + draw(st.one_of(st.integers(0, 6), st.integers(7, 30)))
    w_ = wmin + draw(st.one_of(st.integers(0, 6), st.integers(7, 40)))
    unbatched = draw(st.booleans()) if batched is None else not batched
    n = draw(st.integers(min_batch, 3))
    has_bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))

    rng = np.random.default_rng(seed)
    cin, cout = groups * cig, groups * cog
    x = rng.standard_normal((cin, h, w_) if unbatched else (n, cin, h, w_)).astype(dtype)
    wt = rng.standard_normal((cout, cig, kh, kw)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype) if has_bias else None
    return Problem(x, wt, b, stride, padding, dilation, groups)


def _magnitude(x, w, b, params):
    """A = conv(|x|, |w|) + |b| in high precision, and K."""
    _, A, K, _ = exact_conv2d(np.abs(x), np.abs(w), None if b is None else np.abs(b), *params)
    return A.astype(np.float64), K


def assert_agree(a, b, x, w, bias, params, c):
    """|a - b| <= c (K + 1) eps A elementwise (a, b two results of the same exact value)."""
    assert a.shape == b.shape
    assert a.dtype == b.dtype
    A, K = _magnitude(x, w, bias, params)
    bound = c * (K + 1) * np.finfo(a.dtype).eps * A
    err = np.abs(a.astype(np.float64) - b.astype(np.float64))
    bad = err > bound
    assert not bad.any(), (
        f"{int(bad.sum())}/{bad.size} elements differ by more than {c} (K+1) eps A: "
        f"worst {err.max()} vs bound {bound.ravel()[np.argmax(err)]}"
    )


def _conv(p: Problem, backend, **over):
    kw = dict(
        zip(
            ["input", "weight", "bias", "stride", "padding", "dilation", "groups"],
            p.args,
            strict=True,
        )
    )
    kw.update(over)
    return pyconv.conv2d(**kw, backend=backend)


# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(p=problems())
def test_shape_dtype_and_contract(backend, p):
    out = _conv(p, backend)
    kh, kw = p.w.shape[2:]
    H, W = p.x.shape[-2:]
    th, tw = p.pad_totals()
    ho = (H + th - p.dilation[0] * (kh - 1) - 1) // p.stride[0] + 1
    wo = (W + tw - p.dilation[1] * (kw - 1) - 1) // p.stride[1] + 1
    lead = () if p.x.ndim == 3 else (p.x.shape[0],)
    assert out.shape == (*lead, p.w.shape[0], ho, wo)
    assert out.dtype == p.x.dtype
    assert isinstance(out, np.ndarray)
    assert out.flags.c_contiguous
    assert_conv_close(out, *p.args)


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(p=problems())
def test_inputs_never_modified(backend, p):
    copies = [None if a is None else a.copy() for a in (p.x, p.w, p.b)]
    out = _conv(p, backend)
    for before, after in zip(copies, (p.x, p.w, p.b), strict=True):
        if before is None:
            assert after is None
        else:
            np.testing.assert_array_equal(after, before)
            assert not np.shares_memory(out, after)


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(p=problems())
def test_bias_additivity(backend, p):
    if p.b is None:
        p.b = np.random.default_rng(p.x.size).standard_normal(p.w.shape[0]).astype(p.x.dtype)
    with_bias = _conv(p, backend)
    without = _conv(p, backend, bias=None)
    bshape = (-1, 1, 1) if p.x.ndim == 3 else (1, -1, 1, 1)
    summed = without + p.b.reshape(bshape)  # one more rounding, at most eps/2 * A
    assert summed.dtype == with_bias.dtype
    assert_agree(with_bias, summed, *p.args[:3], p.params, c=2 + 2 + 1)
    # a zero bias changes nothing, bit for bit
    np.testing.assert_array_equal(_conv(p, backend, bias=np.zeros_like(p.b)), without)


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(p=problems(), seed=st.integers(0, 2**32 - 1))
def test_linearity_in_the_input(backend, p, seed):
    x1 = p.x
    x2 = np.random.default_rng(seed).standard_normal(x1.shape).astype(x1.dtype)
    # x1 + x2 is rounded once (eps/2 of |x1| + |x2|), each of the three convolutions is
    # within 2 (K + 1) eps of its own magnitude (<= A1 + A2), and the sum of the two outputs
    # is rounded once more: 3 * 2 (K + 1) + 2 is generous and still tight.
    y12 = _conv(p, backend, input=x1 + x2, bias=None)
    y1 = _conv(p, backend, input=x1, bias=None)
    y2 = _conv(p, backend, input=x2, bias=None)
    A1, K = _magnitude(x1, p.w, None, p.params)
    A2, _ = _magnitude(x2, p.w, None, p.params)
    bound = (3 * 2 * (K + 1) + 2) * np.finfo(x1.dtype).eps * (A1 + A2)
    err = np.abs(y12.astype(np.float64) - (y1.astype(np.float64) + y2))
    assert np.all(err <= bound), f"worst {err.max()} vs {bound.ravel()[np.argmax(err)]}"
    # scaling by a power of two is exact in floating point: bitwise homogeneity
    np.testing.assert_array_equal(_conv(p, backend, input=x1 * 4, bias=None), y1 * 4)


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(p=problems(max_groups=4))
def test_groups_equal_split_and_concatenate(backend, p):
    G = p.groups
    cig = p.w.shape[1]
    cog = p.w.shape[0] // G
    out = _conv(p, backend)
    parts = []
    for g in range(G):
        xs = p.x[..., g * cig : (g + 1) * cig, :, :]
        ws = p.w[g * cog : (g + 1) * cog]
        bs = None if p.b is None else p.b[g * cog : (g + 1) * cog]
        parts.append(_conv(p, backend, input=xs, weight=ws, bias=bs, groups=1))
    cat = np.concatenate(parts, axis=-3)
    assert_agree(out, cat, *p.args[:3], p.params, c=4)
    if backend == "cython":
        # one fixed summation order per output element: the split changes nothing
        np.testing.assert_array_equal(out, cat)


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(p=problems(max_groups=1))
def test_per_channel_decomposition(backend, p):
    # The article's third experiment: sum over input channels of one-channel convs.
    out = _conv(p, backend, bias=None)
    cin = p.x.shape[-3]
    total = np.zeros(out.shape, np.float64)
    for c in range(cin):
        total += _conv(
            p, backend, input=p.x[..., c : c + 1, :, :], weight=p.w[:, c : c + 1], bias=None
        )
    kh, kw = p.w.shape[2:]
    # full conv: 2 (K + 1); the parts: 2 (kh kw + 1) on magnitudes that sum to A; the
    # float64 sum of cin parts: cin eps A.
    c = 2 + 2 * (kh * kw + 1) / (cin * kh * kw + 1) + cin / (cin * kh * kw + 1)
    assert_agree(out, total.astype(out.dtype), p.x, p.w, None, p.params, c=c + 1)


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(p=problems(min_batch=1, batched=True))
def test_unbatched_equals_batched(backend, p):
    out = _conv(p, backend)
    assert out.ndim == 4
    for i in range(p.x.shape[0]):
        single = _conv(p, backend, input=p.x[i])
        assert single.shape == out.shape[1:]
        assert single.dtype == out.dtype
        one = _conv(p, backend, input=p.x[i : i + 1])
        np.testing.assert_array_equal(single, one[0])
        if backend == "cython":
            np.testing.assert_array_equal(single, out[i])
        else:
            assert_agree(single, out[i], p.x[i], p.w, p.b, p.params, c=4)


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(p=problems())
def test_backends_agree(backend, p):
    out = _conv(p, backend)
    ref = _conv(p, "numpy")
    assert_agree(out, ref, *p.args[:3], p.params, c=4)
