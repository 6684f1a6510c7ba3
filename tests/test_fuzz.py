"""Fuzzing conv2d over the whole argument space, against the reference and against torch.

Hypothesis draws calls, valid and invalid: batch 0-3 or unbatched, 0-3 input channels
per group, groups 1-4, kernels 1-6 per side and larger than the input, 1-pixel and empty
planes, every stride / padding (ints, pairs, 'same', 'valid') / dilation combination,
bias or not, float32 and float64, odd memory layouts (Fortran order, strided views,
negative strides, zero strides, read-only, byte-swapped, unaligned, channels-last), and
values that are normal, small integers, huge (products overflow), tiny (products
underflow to subnormals or zero), spread over the whole exponent range, or sprinkled
with NaN, +-inf and signed zeros.  Invalid calls come from mutations of valid ones (a
zero stride, a channel mismatch, a bad dtype, a 3-element padding, ...).

For every call:

- every registered backend that can run it (the registry, plugins included) must give
  the output the reference defines, under the accuracy contract it declares;
- NaN and infinities must sit exactly where IEEE arithmetic on the padded input puts
  them (computed independently, by counting the NaN / +inf / -inf products of every
  output element with convolutions of indicator arrays);
- torch (when installed) must accept exactly the calls pyconv accepts, and reject the
  others with the corresponding error type (``RuntimeError`` -> ``ValueError`` or
  ``TypeError``, as docs/semantics.md says), except for the differences documented
  there (``C_in = 0``; dtypes pyconv does not compute).

How the contract is evaluated on extreme values (docs/development.md): the contract's
derivation assumes no overflow and no underflow, so (1) where ``A`` (the convolution of
the magnitudes) exceeds half the dtype's largest value, partial sums may overflow in
the working precision and a backend may return +-inf or NaN there, but a finite result
must still be within the bound; (2) gradual underflow adds an absolute error of at most
one subnormal spacing per operation, so the bound gets ``c (K + 1) * tiny`` added.

The calls drawn above rarely have the only shape the ``winograd`` backend computes (3x3,
stride 1, dilation 1, several channels), so a fourth test draws those only, from small to
a few tiles per side, every padding, groups, and checks the backend with each of its
options besides every registered one.

Profiles (``PYCONV_FUZZ``): ``ci`` (the default: derandomized, 200 examples for each of
the four main tests and 20 for each of the 18 kinds of mutation, 1160 in all, seconds)
and ``long`` (random, 20,000 per main test and 1,000 per mutation, failures saved to the
local ``.hypothesis`` database and replayed).  ``PYCONV_FUZZ_EXAMPLES=n`` overrides the
count.
The numbers of cases, configurations and checks are printed at the end of the run.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import pyconv
from pyconv import UnsupportedCallError
from pyconv._backends.numpy import accumulate
from pyconv._registry import load_backend
from pyconv._validation import prepare_conv2d
from pyconv.testing import exact_conv2d

try:
    import torch
    import torch.nn.functional as F  # noqa: N812 - torch's own convention
except ImportError:  # the fuzzer still compares the backends with the reference
    torch = None

PROFILES = {
    "ci": {
        "max_examples": 200,
        "derandomize": True,
        "database": None,
        "phases": [Phase.explicit, Phase.generate, Phase.shrink],
    },
    "long": {"max_examples": 20_000, "derandomize": False},
}
PROFILE = os.environ.get("PYCONV_FUZZ", "ci")
if PROFILE not in PROFILES:
    raise ValueError(f"PYCONV_FUZZ={PROFILE!r}: expected one of {sorted(PROFILES)}")
_profile = dict(PROFILES[PROFILE])
if os.environ.get("PYCONV_FUZZ_EXAMPLES"):
    _profile["max_examples"] = int(os.environ["PYCONV_FUZZ_EXAMPLES"])
FUZZ = settings(
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    **_profile,
)

DTYPES = {"float32": np.float32, "float64": np.float64}
REGIMES = ["normal", "integers", "huge", "tiny", "mixed", "special"]
LAYOUTS = [
    "C", "F", "strided", "reversed", "readonly", "swapped", "broadcast", "channels_last",
    "unaligned",
]  # fmt: skip
MUTATIONS = [
    "stride0", "dilation0", "padneg", "groups", "channels", "cout", "bias_shape", "rank_x",
    "rank_w", "dtype_mix", "dtype_bad", "same_stride", "pad_string", "param_len",
    "param_type", "zero_hw", "kernel0", "kernel_big",
]  # fmt: skip

# A transform-based (normwise) backend may overflow when the largest output magnitude is
# within this factor of the dtype's range (FFT sizes up to 2**20 points).
NORMWISE_HEADROOM = 2.0**-20

COUNTS: Counter = Counter()
CONFIGS: set = set()


@pytest.fixture(scope="module", autouse=True)
def _report(request):
    """Hand the counts to tests/conftest.py, which prints them after the run."""
    yield
    counts = dict(COUNTS)
    counts["distinct configurations"] = len(CONFIGS)
    counts["profile"] = PROFILE
    request.config.pyconv_fuzz_counts = counts


def _available_backends() -> list[str]:
    return [b.name for b in pyconv.backends() if b.available]


# "default" is a call without ``backend=``: it may take a fast path of its own (the
# compiled core's conv2d_fast), which must agree with the full front end.
DEFAULT = "default"
BACKENDS = [*_available_backends(), DEFAULT]
CAPS = {b.name: b.capabilities for b in pyconv.backends() if b.available}
CAPS[DEFAULT] = CAPS.get("cython", CAPS["numpy"])  # the default backend
CAPS.setdefault("torch", pyconv.Capabilities())  # torch itself, when not registered


# --------------------------------------------------------------------------------------
# Drawing calls
# --------------------------------------------------------------------------------------


@dataclass
class Call:
    x: Any
    w: Any
    b: Any
    kwargs: dict
    regime: str
    layouts: tuple
    mutations: tuple
    notes: list = field(default_factory=list)

    def __repr__(self):  # what hypothesis prints for a failing example
        def desc(a):
            if a is None or not isinstance(a, np.ndarray):
                return repr(a)
            return f"array{a.shape} {a.dtype.str} strides={a.strides}"

        return (
            f"Call(x={desc(self.x)}, w={desc(self.w)}, b={desc(self.b)}, {self.kwargs}, "
            f"regime={self.regime}, layouts={self.layouts}, mutations={self.mutations})"
        )


def _values(rng, shape, dtype, regime, role):
    """Values of one array in a regime (dtype-aware magnitudes)."""
    big = dtype == np.float64
    if regime == "integers":
        return rng.integers(-3, 4, shape).astype(dtype)
    a = rng.standard_normal(shape)
    if regime == "huge":  # products beyond the dtype's range
        a *= 10.0 ** rng.uniform(*((150, 200) if big else (15, 25)))
    elif regime == "tiny":  # products in or below the subnormal range
        a *= 10.0 ** -rng.uniform(*((150, 175) if big else (18, 30)))
    elif regime == "mixed":  # magnitudes over the whole exponent range, subnormals too
        lo, hi = (-320, 300) if big else (-45, 36)
        a = np.sign(a) * 10.0 ** rng.uniform(lo, hi, shape)
    elif regime == "special":
        u = rng.random(shape)
        p = rng.choice([0.02, 0.1, 0.3])
        a = np.where(u < p, np.nan, a)
        a = np.where((u >= p) & (u < 2 * p), np.inf, a)
        a = np.where((u >= 2 * p) & (u < 3 * p), -np.inf, a)
        a = np.where((u >= 3 * p) & (u < 4 * p), 0.0, a)
        a = np.where((u >= 4 * p) & (u < 5 * p), -0.0, a)
    with np.errstate(over="ignore", under="ignore"):
        return a.astype(dtype)


def _layout(a, kind, rng):
    """The same values (or, for 'broadcast', values constant along the last axis) in an
    unusual memory layout."""
    if not isinstance(a, np.ndarray) or a.size == 0 or a.ndim == 0:
        return a
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "strided":
        big = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if kind == "reversed":
        return a[..., ::-1].copy()[..., ::-1]
    if kind == "readonly":
        r = a.copy()
        r.setflags(write=False)
        return r
    if kind == "swapped":
        return a.astype(a.dtype.newbyteorder())
    if kind == "broadcast":
        return np.broadcast_to(a[..., :1], a.shape)
    if kind == "channels_last" and a.ndim == 4:
        return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    if kind == "unaligned":
        buf = np.zeros(a.nbytes + 1, np.uint8)
        r = buf[1:].view(a.dtype).reshape(a.shape)
        r[...] = a
        return r
    return a


def _param(draw, values, name):
    """An int parameter in one of the forms torch accepts: int, (a, b), [a, b], (a,)."""
    a, b = values
    form = draw(st.sampled_from(["int", "tuple", "list", "one"] if a == b else ["tuple", "list"]))
    return {"int": a, "tuple": (a, b), "list": [a, b], "one": (a,)}[form]


@st.composite
def conv_calls(draw, invalid=True, regimes=REGIMES, mutation=None):
    """A conv2d call; with ``invalid``, about a third carry one or two mutations; with
    ``mutation``, every call carries that one."""
    dtype = DTYPES[draw(st.sampled_from(list(DTYPES)))]
    mutations = () if mutation is None else (mutation,)
    if invalid and mutation is None and draw(st.integers(0, 2)) == 0:
        mutations = tuple(draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=2)))
    unbatched = draw(st.integers(0, 4)) == 0
    n = draw(st.sampled_from([0, 1, 1, 2, 3]))
    groups = draw(st.integers(1, 4))
    cig = draw(st.sampled_from([0, 1, 1, 1, 2, 2, 2, 3, 3, 3]))  # C_in = 0 now and then
    cog = draw(st.sampled_from([1, 2, 3, 8, 9]))
    kh, kw = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    same = draw(st.integers(0, 5)) == 0
    if same:
        stride = (1, 1)
        pad_tot = (dil[0] * (kh - 1), dil[1] * (kw - 1))
        padding = draw(st.sampled_from(["same", "same", "valid"]))
        if padding == "valid":
            pad_tot = (0, 0)
    else:
        stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        pads = (draw(st.integers(0, 4)), draw(st.integers(0, 4)))
        padding = _param(draw, pads, "padding")
        pad_tot = (2 * pads[0], 2 * pads[1])
    # planes from a little too small (kernel larger than the padded input) to a few tiles
    ekh, ekw = dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1
    h = max(1, ekh - pad_tot[0] + draw(st.integers(-1 if invalid else 0, 9)))
    w_ = max(1, ekw - pad_tot[1] + draw(st.integers(-1 if invalid else 0, 12)))
    if draw(st.integers(0, 5)) == 0:  # 1-pixel planes, whatever the kernel
        h, w_ = (1, w_) if draw(st.booleans()) else (h, 1)
    has_bias = draw(st.booleans())
    regime = draw(st.sampled_from(regimes))
    layouts = tuple(draw(st.sampled_from(LAYOUTS)) for _ in range(3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)

    kwargs = {
        "stride": _param(draw, stride, "stride") if not same else 1,
        "padding": padding,
        "dilation": _param(draw, dil, "dilation"),
        "groups": groups,
    }
    cin, cout = groups * cig, groups * cog
    x_shape = [n, cin, h, w_]
    w_shape = [cout, cig, kh, kw]
    b_shape = [cout]
    xdt = wdt = bdt = dtype
    for m in mutations:
        v = draw(st.sampled_from([0, -1, -2]))
        if m == "stride0":
            kwargs["stride"] = (v, 1) if draw(st.booleans()) else v
        elif m == "dilation0":
            kwargs["dilation"] = (1, v) if draw(st.booleans()) else v
        elif m == "padneg":
            kwargs["padding"] = (-1, 0) if draw(st.booleans()) else -1
        elif m == "groups":
            kwargs["groups"] = draw(st.sampled_from([0, -1, groups + 1, 2 * groups + 1]))
        elif m == "channels":
            w_shape[1] += 1
        elif m == "cout":
            w_shape[0] += 1
        elif m == "bias_shape":
            b_shape = draw(st.sampled_from([[cout + 1], [cout, 1], [], [max(cout - 1, 0)]]))
            has_bias = True
        elif m == "rank_x":
            x_shape = draw(st.sampled_from([x_shape[2:], [1, *x_shape], x_shape[1:2]]))
            unbatched = False
        elif m == "rank_w":
            w_shape = draw(st.sampled_from([w_shape[1:], [1, *w_shape], w_shape[:2]]))
        elif m == "dtype_mix":
            other = np.float64 if dtype == np.float32 else np.float32
            if draw(st.booleans()):
                wdt = other
            else:
                bdt, has_bias = other, True
        elif m == "dtype_bad":
            xdt = wdt = bdt = draw(
                st.sampled_from([np.int32, np.int64, np.float16, np.complex64, np.bool_])
            )
        elif m == "same_stride":
            kwargs["padding"], kwargs["stride"] = "same", draw(st.sampled_from([2, (1, 2)]))
        elif m == "pad_string":
            kwargs["padding"] = draw(st.sampled_from(["SAME", "full", "", "Valid"]))
        elif m == "param_len":
            key = draw(st.sampled_from(["stride", "padding", "dilation"]))
            kwargs[key] = draw(st.sampled_from([(1, 1, 1), ()]))
        elif m == "param_type":
            key = draw(st.sampled_from(["stride", "padding", "dilation", "groups"]))
            kwargs[key] = draw(st.sampled_from([1.5, True, "2", None, (1, 1.0)]))
        elif m == "zero_hw":
            x_shape[-1 if draw(st.booleans()) else -2] = 0
        elif m == "kernel0":
            w_shape[-1 if draw(st.booleans()) else -2] = 0
        elif m == "kernel_big":
            w_shape[-2] = h + 2 * 4 + 1  # larger than any padded input drawn here
    if unbatched and len(x_shape) == 4:
        x_shape = x_shape[1:]

    def make(shape, dt, role, layout):
        shape = tuple(max(s, 0) for s in shape)
        if np.dtype(dt).kind in "fc":
            scale_dt = np.float32 if np.dtype(dt).itemsize <= 4 else np.float64
            a = _values(rng, shape, scale_dt, regime, role).astype(np.float64)
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                a = a.astype(dt)
        else:
            a = rng.integers(-3, 4, shape).astype(dt)
        return _layout(np.asarray(a), layout, rng)

    x = make(x_shape, xdt, "x", layouts[0])
    wt = make(w_shape, wdt, "w", layouts[1])
    b = make(b_shape, bdt, "b", layouts[2]) if has_bias else None
    return Call(x, wt, b, kwargs, regime, layouts, mutations)


# --------------------------------------------------------------------------------------
# What the result must be
# --------------------------------------------------------------------------------------


def _specials(x, w, b, spec):
    """Masks of the output elements that IEEE arithmetic on the padded input makes NaN,
    +inf or -inf, and of those where a NaN or infinite weight meets a padded zero.

    Each count is a convolution of indicator arrays (exact: small integers in float64).
    A padded pixel is a zero, so the products "inf weight x padded zero" are counted as
    (taps of the weight that are inf) - (those that land on a real pixel).
    """

    def conv(xi, wi):
        return accumulate(xi.astype(np.float64), wi.astype(np.float64), None, spec, np.float64)

    def per_out(wi):  # the number of taps of each output channel's weight in a class
        return wi.reshape(wi.shape[0], -1).sum(axis=1).reshape(1, -1, 1, 1).astype(np.float64)

    with np.errstate(invalid="ignore"):
        finite_x = np.isfinite(x)
        x_nan, w_nan = np.isnan(x), np.isnan(w)
        x_pinf, x_ninf = x == np.inf, x == -np.inf
        w_pinf, w_ninf = w == np.inf, w == -np.inf
        x_posf, x_negf = (x > 0) & finite_x, (x < 0) & finite_x
        w_pos, w_neg = w > 0, w < 0
        w_inf = w_pinf | w_ninf
        ones = np.ones(x.shape)
        pad_inf = per_out(w_inf) - conv(ones, w_inf)  # inf taps on padded zeros
        w_bad = ~np.isfinite(w)
        pad_nonfinite = per_out(w_bad) - conv(ones, w_bad)  # NaN or inf taps on padding
        zeros_x_inf_w = pad_inf + conv(x == 0, w_inf)
        nan = conv(x_nan, np.ones(w.shape)) + per_out(w_nan)
        nan = nan + conv(x_pinf | x_ninf, w == 0) + zeros_x_inf_w
        pinf = conv(x_pinf, w_pos) + conv(x_posf, w_pinf) + conv(x_ninf, w_neg)
        pinf = pinf + conv(x_negf, w_ninf)
        ninf = conv(x_pinf, w_neg) + conv(x_posf, w_ninf) + conv(x_ninf, w_pos)
        ninf = ninf + conv(x_negf, w_pinf)
        if b is not None:
            bb = b.reshape(1, -1, 1, 1)
            nan = nan + np.isnan(bb)
            pinf = pinf + (bb == np.inf)
            ninf = ninf + (bb == -np.inf)
    is_nan = (nan > 0) | ((pinf > 0) & (ninf > 0))
    return is_nan, (pinf > 0) & ~is_nan, (ninf > 0) & ~is_nan, pad_nonfinite > 0


@dataclass
class Expected:
    shape: tuple
    dtype: np.dtype
    exact: np.ndarray  # of the finite products only
    A: np.ndarray
    K: int
    nan: np.ndarray
    pinf: np.ndarray
    ninf: np.ndarray
    pad_nonfinite: np.ndarray  # a NaN or infinite weight meets a padded zero
    overflow: np.ndarray  # partial sums may overflow the dtype here
    has_special_input: bool


def _expected(call: Call) -> Expected:
    x, w, b, spec = prepare_conv2d(call.x, call.w, call.b, **call.kwargs)
    nan, pinf, ninf, pad_nonfinite = _specials(x, w, b, spec)

    def finite(a):
        return None if a is None else np.where(np.isfinite(a), a, 0).astype(a.dtype)

    # x is the batched view prepare_conv2d made, so exact and A are batched too
    exact, A, K, _ = exact_conv2d(finite(x), finite(w), finite(b), **call.kwargs)
    has_special = any(a is not None and not np.isfinite(a).all() for a in (x, w, b))
    return Expected(
        shape=(spec.batch, spec.out_channels, *spec.output_size),
        dtype=spec.dtype,
        exact=exact,
        A=A,
        K=K,
        nan=nan,
        pinf=pinf,
        ninf=ninf,
        pad_nonfinite=pad_nonfinite,
        overflow=np.finfo(spec.dtype).max / 2 < A,
        has_special_input=has_special,
    )


def _check(got, e: Expected, name: str, call: Call) -> None:
    """Assert ``got`` (batched) is what backend ``name`` must return for the call."""
    assert isinstance(got, np.ndarray), f"{name}: returned {type(got).__name__}"
    assert got.shape == e.shape, f"{name}: shape {got.shape}, expected {e.shape}"
    assert got.dtype == e.dtype, f"{name}: dtype {got.dtype}, expected {e.dtype}"
    for a in (call.x, call.w, call.b):
        assert not np.shares_memory(got, a), f"{name}: the output shares an input's memory"
    if got.size == 0:
        return
    caps = CAPS[name]
    contract, c = caps.accuracy, caps.accuracy_c
    fin = np.finfo(e.dtype)
    g = got.astype(e.exact.dtype)
    special = e.nan | e.pinf | e.ninf
    judged = np.ones(got.shape, bool)
    if name == "torch":
        # docs/semantics.md: torch's result where a NaN or infinite weight meets a padded
        # zero depends on the algorithm it picks (some skip the padding); IEEE (pyconv)
        # gives NaN there
        judged &= ~e.pad_nonfinite
    with np.errstate(invalid="ignore", over="ignore"):
        if contract == "normwise" and e.has_special_input:
            # a transform spreads a NaN or an infinity over its whole tile: only ask
            # that IEEE's non-finite elements are not finite
            bad = judged & special & np.isfinite(g)
            assert not bad.any(), f"{name}: finite where IEEE gives NaN/inf at {_where(bad)}"
            COUNTS[f"checked {name} (non-finite positions only)"] += 1
            return
        bad = judged & e.nan & ~np.isnan(g)
        assert not bad.any(), f"{name}: not NaN where IEEE gives NaN at {_where(bad, g)}"
        for mask, inf in ((e.pinf, np.inf), (e.ninf, -np.inf)):
            ok = (g == inf) | (e.overflow & np.isnan(g))  # +inf + -inf from overflow
            bad = judged & mask & ~ok
            assert not bad.any(), f"{name}: not {inf} where IEEE gives it at {_where(bad, g)}"
        scale = e.A if contract == "elementwise" else np.full_like(e.A, e.A.max())
        # the contract, plus one subnormal spacing per operation (gradual underflow)
        bound = c * (e.K + 1) * (float(fin.eps) * scale + float(fin.smallest_subnormal))
        err = np.abs(g - e.exact)
        finite_ok = np.isfinite(g) & (err <= bound)
        overflow = e.overflow
        if contract == "normwise" and e.A.max() > float(fin.max) * NORMWISE_HEADROOM:
            # a transform's intermediate values exceed the largest output magnitude by up
            # to the transform's size: it may overflow where a direct sum does not
            overflow = np.ones_like(overflow)
            COUNTS[f"{name}: near the range limit, non-finite allowed"] += 1
        ok = finite_ok | (overflow & ~np.isfinite(g))
        bad = judged & ~special & ~ok
        if bad.any():
            ratio = np.where(bad, err / np.maximum(bound, 1e-300), 0)
            i = np.unravel_index(np.argmax(ratio), g.shape)
            raise AssertionError(
                f"{name}: {int(bad.sum())} of {bad.size} elements violate the {contract} "
                f"contract (c={c}); worst at {i}: got {g[i]!r}, exact {e.exact[i]!r}, "
                f"bound {bound[i]!r}, A {e.A[i]!r}"
            )


def _where(mask, values=None):
    idx = tuple(int(i) for i in np.argwhere(mask)[0])
    return f"{idx}" + ("" if values is None else f" (got {values[idx]!r})")


# --------------------------------------------------------------------------------------
# torch
# --------------------------------------------------------------------------------------


def _tensor(a):
    if a is None or not isinstance(a, np.ndarray):
        return a
    return torch.from_numpy(np.array(a, dtype=a.dtype.newbyteorder("="), order="C"))


def _torch_call(call: Call):
    """torch's outcome for the same call: ("ok", result) or ("error", exception)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 'same' with an even kernel warns
            out = F.conv2d(_tensor(call.x), _tensor(call.w), _tensor(call.b), **call.kwargs)
    except Exception as exc:
        return "error", exc
    return "ok", out


def _pyconv_type_for(torch_exc: BaseException) -> type:
    """The error type pyconv raises where torch raises ``torch_exc``."""
    msg = str(torch_exc)
    if isinstance(torch_exc, TypeError):
        return TypeError
    if any(t in msg for t in ("should be the same", "not implemented for", "dtype", "scalar type")):
        return TypeError
    return ValueError


def _documented_difference(call: Call, exc: BaseException) -> str | None:
    """Why torch may accept a call pyconv refuses with ``exc`` (docs/semantics.md)."""
    dtypes = [a.dtype for a in (call.x, call.w, call.b) if isinstance(a, np.ndarray)]
    if any(dt.kind != "f" or dt.itemsize not in (4, 8) for dt in dtypes):
        return "dtypes pyconv does not compute"
    if isinstance(call.kwargs["padding"], str) and "bias type" in str(exc):
        return "torch casts a bias of another dtype when padding is a string"
    skipped = ("dilation", "expected scalar type", "kernel size should be")
    if np.size(call.x) == 0 and any(t in str(exc) for t in skipped):
        return "torch skips the dilation, kernel size and weight dtype checks on empty input"
    return None


# --------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------


BUILTIN = {b.name for b in pyconv.backends() if b.builtin} | {DEFAULT}


def _run_backends(call: Call) -> dict:
    """Each backend's outcome: ("ok", batched result), ("error", exc) or ("unsupported",).

    pyconv's own backends must not warn on any call (NaN and infinities are values, not
    errors); a plugin's warnings are counted and reported, not failed on.
    """
    out = {}
    for name in BACKENDS:  # every registered backend that loads, plugins included
        try:
            with warnings.catch_warnings(record=name not in BUILTIN) as caught:
                if name in BUILTIN:
                    warnings.simplefilter("error")
                else:
                    warnings.simplefilter("always")
                backend = None if name == DEFAULT else name
                got = pyconv.conv2d(call.x, call.w, call.b, backend=backend, **call.kwargs)
        except UnsupportedCallError as exc:
            out[name] = ("unsupported", exc)
        except Exception as exc:
            out[name] = ("error", exc)
        else:
            for w in caught or ():
                COUNTS[f"warnings from {name}: {w.category.__name__}: {w.message}"] += 1
            out[name] = ("ok", got[np.newaxis] if np.ndim(call.x) == 3 else got)
    return out


def _fuzz_one(call: Call) -> None:
    COUNTS["examples"] += 1
    outcomes = _run_backends(call)
    errors = {n: o[1] for n, o in outcomes.items() if o[0] == "error"}
    if errors:
        # the front end validates once, for every backend: the same error everywhere
        assert len(errors) == len(outcomes), f"only some backends refused: {outcomes}"
        types = {type(e) for e in errors.values()}
        assert len(types) == 1, f"different error types: {errors}"
        (etype,) = types
        assert etype in (ValueError, TypeError), f"{etype.__name__}: {errors}"
        COUNTS["invalid calls (refused by every backend)"] += 1
        COUNTS[f"refused with {etype.__name__}"] += 1
    else:
        COUNTS["valid calls"] += 1
        COUNTS[f"regime {call.regime}"] += 1
        e = _expected(call)
        CONFIGS.add(
            (
                str(e.dtype), np.ndim(call.x) == 3, e.shape[0] == 0, repr(call.kwargs),
                call.w.shape, call.b is not None,
            )
        )  # fmt: skip
        for name, outcome in outcomes.items():
            if outcome[0] == "unsupported":
                COUNTS[f"unsupported by {name}"] += 1
                continue
            _check(outcome[1], e, name, call)
            COUNTS[f"checked {name}"] += 1

    if torch is None:
        return
    kind, t = _torch_call(call)
    COUNTS["compared with torch"] += 1
    if errors:
        exc = next(iter(errors.values()))
        if kind == "ok":
            why = _documented_difference(call, exc)
            assert why is not None, (
                f"pyconv refused ({type(exc).__name__}: {exc}) a call torch accepts"
            )
            COUNTS[f"documented difference: {why}"] += 1
            return
        if _documented_difference(call, exc) == "dtypes pyconv does not compute":
            # pyconv refuses such arrays first, while converting them; torch checks the
            # dtype deep inside, after the shapes
            COUNTS["documented difference: dtype refused before other errors"] += 1
            return
        want = _pyconv_type_for(t)
        assert isinstance(exc, want), (
            f"torch raised {type(t).__name__}: {t}; pyconv raised {type(exc).__name__}: {exc}, "
            f"expected {want.__name__}"
        )
    else:
        if kind == "error":
            raise AssertionError(f"pyconv accepted a call torch refuses: {type(t).__name__}: {t}")
        if call.x.shape[-3] == 0:  # documented: torch returns (N, 0, H_out, W_out)
            COUNTS["documented difference: C_in = 0"] += 1
            return
        if "torch" not in outcomes:  # its values are checked as a backend when registered
            tb = t.numpy()
            _check(tb[np.newaxis] if call.x.ndim == 3 else tb, _expected(call), "torch", call)


@FUZZ
@given(conv_calls(invalid=True))
def test_fuzz_calls(call):
    """Valid and invalid calls: every backend vs the reference and IEEE; torch's verdict."""
    _fuzz_one(call)


# Each mutation on its own, so that every kind of invalid call is drawn in every run.
PER_MUTATION = settings(FUZZ, max_examples=max(5, min(FUZZ.max_examples // 10, 1000)))


@pytest.mark.parametrize("mutation", MUTATIONS)
@PER_MUTATION
@given(data=st.data())
def test_fuzz_each_mutation(mutation, data):
    """Every kind of invalid call (a mutation can leave a call valid: then values)."""
    _fuzz_one(data.draw(conv_calls(mutation=mutation), label="call"))


@FUZZ
@given(conv_calls(invalid=False))
def test_fuzz_valid_calls(call):
    """Valid calls only, so that every example checks values."""
    _fuzz_one(call)


@FUZZ
@given(conv_calls(invalid=False, regimes=["huge", "tiny", "mixed", "special"]))
def test_fuzz_extreme_values(call):
    """Overflow, underflow, subnormals, NaN and infinities."""
    _fuzz_one(call)


# --------------------------------------------------------------------------------------
# The Winograd path
# --------------------------------------------------------------------------------------

#: The winograd backend's other configurations, checked besides the registry's default.
WINOGRAD_OPTIONS = {
    "winograd[tile=2]": {"tile": 2},
    "winograd[fallback=direct]": {"fallback": "direct"},
}


@st.composite
def winograd_calls(draw):
    """A valid 3x3, stride-1, dilation-1 call: the calls the winograd backend computes."""
    dtype = DTYPES[draw(st.sampled_from(list(DTYPES)))]
    unbatched = draw(st.integers(0, 5)) == 0
    n = draw(st.sampled_from([0, 1, 1, 2, 3]))
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    cig = draw(st.sampled_from([1, 2, 3, 5, 8, 9, 17] if groups == 1 else [1, 2, 3, 4]))
    cog = draw(st.sampled_from([1, 2, 5, 8, 16, 17, 33]))
    padding = draw(st.sampled_from(["same", "valid", 0, 1, 2, (0, 1), (2, 1), [1, 0]]))
    pads = {"same": (1, 1), "valid": (0, 0)}[padding] if isinstance(padding, str) else padding
    ph, pw = (pads, pads) if isinstance(pads, int) else pads
    h = draw(st.integers(max(1, 3 - 2 * ph), 15))
    w_ = draw(st.integers(max(1, 3 - 2 * pw), 15))
    has_bias = draw(st.booleans())
    regime = draw(st.sampled_from(REGIMES))
    layouts = tuple(draw(st.sampled_from(LAYOUTS)) for _ in range(3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def make(shape, layout):
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            a = _values(rng, shape, dtype, regime, "").astype(dtype)
        return _layout(a, layout, rng)

    x_shape = (cig * groups, h, w_) if unbatched else (n, cig * groups, h, w_)
    x = make(x_shape, layouts[0])
    wt = make((cog * groups, cig, 3, 3), layouts[1])
    b = make((cog * groups,), layouts[2]) if has_bias else None
    kwargs = {"stride": 1, "padding": padding, "dilation": 1, "groups": groups}
    return Call(x, wt, b, kwargs, regime, layouts, ())


@FUZZ
@given(winograd_calls())
def test_fuzz_winograd(call):
    """Winograd-shaped calls: every backend (the registry's winograd among them) as in the
    tests above, and the winograd backend's other options, each under its contract."""
    _fuzz_one(call)
    e = _expected(call)
    for label, options in WINOGRAD_OPTIONS.items():
        backend = load_backend("winograd", **options)
        CAPS[label] = backend.capabilities
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                got = pyconv.conv2d(call.x, call.w, call.b, backend=backend, **call.kwargs)
        except UnsupportedCallError:
            COUNTS[f"unsupported by {label}"] += 1
            continue
        _check(got[np.newaxis] if np.ndim(call.x) == 3 else got, e, label, call)
        COUNTS[f"checked {label}"] += 1
