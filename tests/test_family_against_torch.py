"""The rest of the family against torch: conv1d, conv3d, conv_transpose1d/2d/3d, the gradients.

The policy of ``tests/test_against_torch.py`` (conv2d), for every other operation: no
bitwise comparison with torch (it picks its algorithm per shape); instead, for each call

* pyconv's output has torch's shape and dtype;
* pyconv's output satisfies the elementwise accuracy contract ``|got - exact| <= 2 (K + 1)
  eps A`` with the operation's ``K`` (``pyconv.testing.reduction_length``);
* torch's output satisfies the same contract: the reference the contract is computed from
  (``pyconv.testing.exact_op``, pyconv's NumPy reference in higher precision) has torch's
  semantics;
* every backend that declares the operation is checked (cython, numpy, torch); the numpy
  reference is also compared with itself (bitwise: it is deterministic).

The calls: a hypothesis strategy per kind of operation draws the whole parameter space
(1, 2 and 3 spatial dimensions, groups, channel multipliers, kernels, strides, dilations,
padding ints / tuples / strings where torch takes them, output_padding below stride or
dilation, empty and unbatched batches, bias, both dtypes, sizes down to the exact fit),
plus a seeded grid that pins the corners (stride > kernel, dilation sharing a factor with
the stride, phases no tap reaches, the output padding beyond the full result).  The
gradients are checked against ``torch.autograd`` in ``tests/test_grad.py``.
"""

from __future__ import annotations

import math
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyconv
import pyconv.grad
from pyconv.testing import assert_op_close, exact_op

torch = pytest.importorskip("torch")
F = torch.nn.functional

DTYPES = {"f32": np.float32, "f64": np.float64}
BACKENDS = [b.name for b in pyconv.backends() if b.builtin and b.available]


@dataclass(frozen=True)
class Call:
    """One call of an operation: its arrays (by shape) and parameters, seeded data."""

    op: str
    shapes: tuple  # the array arguments' shapes; None for an absent bias
    sizes: tuple = ()  # input_size / weight_size for the gradients
    params: dict = field(default_factory=dict)
    dtype: str = "f64"

    @property
    def id(self) -> str:
        shapes = "-".join("x".join(map(str, s)) if s is not None else "nobias" for s in self.shapes)
        params = "-".join(f"{k[0]}{v}" for k, v in self.params.items())
        return f"{self.op}-{shapes}-{params}-{self.dtype}".replace(" ", "")

    def args(self) -> tuple:
        """The positional arguments, as the pyconv / torch function takes them."""
        rng = np.random.default_rng(zlib.crc32(self.id.encode()))
        arrays = [
            None if s is None else rng.standard_normal(s).astype(DTYPES[self.dtype])
            for s in self.shapes
        ]
        if self.op.endswith("_input"):  # (input_size, weight, grad_output)
            return (self.sizes, *arrays)
        if self.op.endswith("_weight"):  # (input, weight_size, grad_output)
            return (arrays[0], self.sizes, arrays[1])
        return tuple(arrays)

    def _replace_dtype(self, dtype: str) -> Call:
        return Call(self.op, self.shapes, self.sizes, self.params, dtype)

    def pyconv(self, backend: str | None) -> np.ndarray:
        fn = getattr(pyconv.grad if "d_" in self.op else pyconv, self.op)
        return fn(*self.args(), **self.params, backend=backend)

    def torch(self) -> np.ndarray:
        def t(a):
            return torch.from_numpy(a) if isinstance(a, np.ndarray) else a

        fn = getattr(torch.nn.grad if "d_" in self.op else F, self.op)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 'same' with an even kernel warns
            return fn(*map(t, self.args()), **self.params).numpy()


def _implements(backend: str, op: str) -> bool:
    info = next(b for b in pyconv.backends() if b.name == backend)
    return op in info.capabilities.operations


def _backends_for(*ops: str) -> list[str]:
    """The built-in backends that implement every one of ``ops`` (``winograd``: conv2d)."""
    return [b for b in BACKENDS if all(_implements(b, op) for op in ops)]


def check(call: Call) -> None:
    """Every backend that declares the operation against torch and the contract."""
    args = call.args()
    expected = call.torch()
    exact = exact_op(call.op, *args, **call.params)
    assert_op_close(expected, call.op, *args, **call.params)  # torch's semantics = ours
    ran = 0
    for backend in BACKENDS:
        if not _implements(backend, call.op):
            with pytest.raises(pyconv.UnsupportedCallError, match=f"does not implement {call.op}"):
                call.pyconv(backend)
            continue
        got = call.pyconv(backend)
        assert isinstance(got, np.ndarray), backend
        assert got.shape == expected.shape, (backend, got.shape, expected.shape)
        assert got.dtype == expected.dtype == DTYPES[call.dtype], backend
        assert got.flags.writeable
        ran += 1
        assert_op_close(got, call.op, *args, **call.params)
        if backend == "numpy":
            np.testing.assert_array_equal(got, call.pyconv("numpy"))
    assert ran >= 2  # the numpy reference and torch at least
    assert exact[0].shape == expected.shape


# --------------------------------------------------------------------------- strategies


def _dims(draw, n: int, lo: int, hi: int) -> tuple[int, ...]:
    return tuple(draw(st.integers(lo, hi)) for _ in range(n))


def _one_or_all(draw, values: tuple[int, ...]):
    """An int when every dimension agrees (sometimes), else the tuple."""
    if len(set(values)) == 1 and draw(st.booleans()):
        return values[0]
    return values


@st.composite
def conv_calls(draw, ndims=(1, 3), lanes=False):
    """conv1d / conv3d (conv2d is tests/test_against_torch.py's) over the parameter space;
    ``lanes``: channel counts that fill the channel-lanes tile of 3-D layers (4-8 input,
    16-24 output channels per group: whole and partial blocks of 8 and 16)."""
    n = draw(st.sampled_from(ndims))
    if lanes:
        groups, cig, cog = (
            draw(st.integers(1, 2)),
            draw(st.integers(4, 8)),
            draw(st.integers(16, 24)),
        )
    else:
        groups, cig = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        cog = draw(st.one_of(st.integers(1, 3), st.integers(8, 10)))
    kmax = 4 if n == 3 else 6
    kernel = _dims(draw, n, 1, kmax)
    dilation = _dims(draw, n, 1, 3)
    padding: Any = draw(
        st.one_of(
            st.integers(0, 3).map(lambda p: (p,) * n),
            st.tuples(*[st.integers(0, 3)] * n),
            st.sampled_from(["valid", "same"]),
        )
    )
    stride = (1,) * n if padding == "same" else _dims(draw, n, 1, 3)
    if padding in ("valid", "same"):
        total = (
            [0] * n
            if padding == "valid"
            else [d * (k - 1) for d, k in zip(dilation, kernel, strict=False)]
        )
    else:
        total = [2 * p for p in padding]
    smax = 4 if n == 3 else 12
    size = tuple(
        max(1, d * (k - 1) + 1 - t) + draw(st.integers(0, smax))
        for d, k, t in zip(dilation, kernel, total, strict=False)
    )
    unbatched = draw(st.booleans())
    batch = () if unbatched else (draw(st.integers(0, 2)),)
    bias = draw(st.booleans())
    cin, cout = groups * cig, groups * cog
    params = {
        "stride": _one_or_all(draw, stride),
        "padding": padding if isinstance(padding, str) else _one_or_all(draw, padding),
        "dilation": _one_or_all(draw, dilation),
        "groups": groups,
    }
    shapes = ((*batch, cin, *size), (cout, cig, *kernel), (cout,) if bias else None)
    return Call(f"conv{n}d", shapes, params=params, dtype=draw(st.sampled_from(list(DTYPES))))


@st.composite
def transposed_calls(draw, ndims=(1, 2, 3)):
    """conv_transpose{n}d: output_padding below stride or dilation, sizes >= 1."""
    n = draw(st.sampled_from(ndims))
    groups, cig = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    cog = draw(st.one_of(st.integers(1, 3), st.integers(8, 10)))
    kernel = _dims(draw, n, 1, 3 if n == 3 else 5)
    stride = _dims(draw, n, 1, 4)
    dilation = _dims(draw, n, 1, 3)
    size = _dims(draw, n, 1, 4 if n == 3 else 9)
    # the full result has (L - 1) s + d (k - 1) + 1 >= 1 elements; padding crops both sides
    full = [
        (L - 1) * s + d * (k - 1) + 1
        for L, s, d, k in zip(size, stride, dilation, kernel, strict=False)
    ]
    output_padding = tuple(
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=False)
    )
    padding = tuple(
        draw(st.integers(0, (f + o - 1) // 2)) for f, o in zip(full, output_padding, strict=False)
    )
    unbatched = draw(st.booleans())
    batch = () if unbatched else (draw(st.integers(0, 2)),)
    bias = draw(st.booleans())
    cin, cout = groups * cig, groups * cog
    params = {
        "stride": _one_or_all(draw, stride),
        "padding": _one_or_all(draw, padding),
        "output_padding": _one_or_all(draw, output_padding),
        "groups": groups,
        "dilation": _one_or_all(draw, dilation),
    }
    shapes = ((*batch, cin, *size), (cin, cog, *kernel), (cout,) if bias else None)
    return Call(
        f"conv_transpose{n}d", shapes, params=params, dtype=draw(st.sampled_from(list(DTYPES)))
    )


def _conv_out(size, kernel, stride, padding, dilation):
    return tuple(
        (L + 2 * p - d * (k - 1) - 1) // s + 1
        for L, k, s, p, d in zip(size, kernel, stride, padding, dilation, strict=False)
    )


@st.composite
def gradient_calls(draw, kinds=("input", "weight"), ndims=(1, 2, 3)):
    """conv{n}d_input / conv{n}d_weight of a forward call drawn like conv_calls."""
    kind = draw(st.sampled_from(kinds))
    n = draw(st.sampled_from(ndims))
    groups, cig = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    cog = draw(st.one_of(st.integers(1, 3), st.integers(8, 10)))
    kernel = _dims(draw, n, 1, 3 if n == 3 else 5)
    dilation = _dims(draw, n, 1, 3)
    stride = _dims(draw, n, 1, 3)
    padding = _dims(draw, n, 0, 2)
    smax = 4 if n == 3 else 10
    size = tuple(
        max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, smax))
        for d, k, p in zip(dilation, kernel, padding, strict=False)
    )
    batch = draw(st.integers(0, 3))
    cin, cout = groups * cig, groups * cog
    out = _conv_out(size, kernel, stride, padding, dilation)
    params = {
        "stride": _one_or_all(draw, stride),
        "padding": _one_or_all(draw, padding),
        "dilation": _one_or_all(draw, dilation),
        "groups": groups,
    }
    dtype = draw(st.sampled_from(list(DTYPES)))
    x_shape, w_shape, go_shape = (batch, cin, *size), (cout, cig, *kernel), (batch, cout, *out)
    if kind == "input":
        return Call(f"conv{n}d_input", (w_shape, go_shape), x_shape, params, dtype)
    return Call(f"conv{n}d_weight", (x_shape, go_shape), w_shape, params, dtype)


SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(call=conv_calls())
def test_conv1d_conv3d_random_calls(call):
    check(call)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=conv_calls(ndims=(3,), lanes=True))
def test_conv3d_channel_lanes_random_calls(call):
    check(call)


@SETTINGS
@given(call=transposed_calls())
def test_conv_transpose_random_calls(call):
    check(call)


@SETTINGS
@given(call=gradient_calls())
def test_gradients_random_calls(call):
    check(call)


# --------------------------------------------------------------------------- corners


def _transposed(n, size, kernel, stride, padding=0, output_padding=0, dilation=1, groups=1,
                cig=2, cog=3, batch=2, bias=True, dtype="f32"):  # fmt: skip
    def nt(v):
        return (v,) * n if isinstance(v, int) else tuple(v)

    shapes = (
        (batch, groups * cig, *nt(size)),
        (groups * cig, cog, *nt(kernel)),
        (groups * cog,) if bias else None,
    )
    params = {
        "stride": stride, "padding": padding, "output_padding": output_padding,
        "groups": groups, "dilation": dilation,
    }  # fmt: skip
    return Call(f"conv_transpose{n}d", shapes, params=params, dtype=dtype)


CORNERS = [
    # stride larger than the kernel: phases no tap reaches get only the bias
    _transposed(1, 5, 2, stride=4),
    _transposed(2, (3, 4), (2, 1), stride=(3, 5), padding=(1, 0)),
    _transposed(3, 2, 1, stride=3, bias=True),
    # dilation sharing a factor with the stride (the sub-kernel's dilation is d / gcd)
    _transposed(1, 6, 4, stride=4, dilation=2, padding=1),
    _transposed(2, 5, 3, stride=(2, 6), dilation=(4, 3), output_padding=(1, 2)),
    # output_padding beyond the full result (slots no input reaches), output_padding < dilation
    _transposed(1, 3, 1, stride=1, dilation=3, output_padding=2),
    _transposed(2, 2, 2, stride=2, dilation=3, output_padding=(1, 2), padding=0),
    # padding cropping nearly everything
    _transposed(1, 4, 3, stride=2, padding=4),
    _transposed(2, 1, 3, stride=1, padding=1),
    # depthwise decoder step, float64, and the U-Net up-step shape
    _transposed(2, 7, 4, stride=2, padding=1, groups=4, cig=1, cog=1, dtype="f64"),
    _transposed(2, 14, 2, stride=2, cig=16, cog=8, batch=1),
    # unbatched-sized, batch 0
    _transposed(3, (2, 3, 2), (2, 2, 3), stride=(1, 2, 3), batch=0),
]


@pytest.mark.parametrize("call", CORNERS, ids=[c.id for c in CORNERS])
def test_transposed_corners(call):
    check(call)


def test_unbatched_transposed_matches_batched(rng):
    x = rng.standard_normal((3, 5, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    for backend in _backends_for("conv_transpose2d"):
        one = pyconv.conv_transpose2d(x, w, b, 2, 1, 1, backend=backend)
        many = pyconv.conv_transpose2d(x[None], w, b, 2, 1, 1, backend=backend)
        assert one.shape == (2, 10, 12)  # (5 - 1) 2 - 2 + 2 + 1 + 1, (6 - 1) 2 - 2 + 2 + 1 + 1
        np.testing.assert_array_equal(one, many[0])


def test_transposed_is_the_adjoint_of_the_convolution(rng):
    # <conv2d(x, w), y> == <x, conv_transpose2d(y, w)> for every stride / dilation /
    # padding, with output_padding chosen so that the shapes agree: an independent
    # definition of the transposed convolution, checked in float64
    for stride, dilation, padding, size in [(2, 1, 1, 9), (3, 2, 2, 11), ((2, 3), (3, 1), 0, 10)]:
        x = rng.standard_normal((2, 4, size, size))
        w = rng.standard_normal((6, 4, 3, 3))
        y_shape = pyconv.conv2d(x, w, None, stride, padding, dilation).shape
        y = rng.standard_normal(y_shape)
        s2 = (stride, stride) if isinstance(stride, int) else stride
        d2 = (dilation, dilation) if isinstance(dilation, int) else dilation
        full = [
            (o - 1) * s + d * 2 + 1 - 2 * padding
            for o, s, d in zip(y_shape[2:], s2, d2, strict=False)
        ]
        op = tuple(size - f for f in full)
        for backend in _backends_for("conv_transpose2d", "conv2d"):
            xt = pyconv.conv_transpose2d(y, w, None, stride, padding, op, 1, dilation,
                                         backend=backend)  # fmt: skip
            assert xt.shape == x.shape
            lhs = np.vdot(pyconv.conv2d(x, w, None, stride, padding, dilation), y)
            assert math.isclose(lhs, np.vdot(x, xt), rel_tol=1e-12), backend


def test_input_gradient_is_the_transposed_convolution(rng):
    # torch.nn.grad's docstring: "the same as the transposed convolution operator"
    x_shape = (2, 6, 11, 10)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    go = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    g = pyconv.grad.conv2d_input(x_shape, w, go, 2, 1, 1, 2)
    # full sizes (6 - 1) 2 + 3 - 2 = 11 and (6 - 1) 2 + 2 - 2 = 10: no output padding
    t = pyconv.conv_transpose2d(go, w, None, 2, 1, 0, 2)
    # a larger input_size with the same output (output padding 1): the same values, and
    # one more row and column
    big = pyconv.grad.conv2d_input((2, 6, 12, 11), w, go, 2, 1, 1, 2)
    assert big.shape == (2, 6, 12, 11)
    np.testing.assert_array_equal(big[:, :, :11, :10], g)
    assert g.shape == t.shape == x_shape
    np.testing.assert_array_equal(g, t)


def test_conv1d_is_conv2d_on_one_row(rng):
    # the same numbers through two operations: conv1d(x, w) == conv2d(x[:, :, None], w[:, :, None])
    x = rng.standard_normal((2, 4, 37)).astype(np.float32)
    w = rng.standard_normal((6, 2, 5)).astype(np.float32)
    for backend in _backends_for("conv1d", "conv2d"):
        one = pyconv.conv1d(x, w, None, 2, 3, 2, 2, backend=backend)
        two = pyconv.conv2d(x[:, :, None], w[:, :, None], None, (1, 2), (0, 3), (1, 2), 2,
                            backend=backend)  # fmt: skip
        np.testing.assert_allclose(one, two[:, :, 0], rtol=1e-6, atol=1e-6)


def test_conv3d_hand_computed():
    # a 2x2x2 box sum over a ramp: each output is the sum of 8 neighbours
    x = np.arange(27, dtype=np.float64).reshape(1, 1, 3, 3, 3)
    w = np.ones((1, 1, 2, 2, 2))
    for backend in _backends_for("conv3d"):
        out = pyconv.conv3d(x, w, backend=backend)
        # the corner block: 0+1+3+4+9+10+12+13 = 52; each step in z adds 8*9, y 8*3, x 8*1
        want = (
            52
            + 72 * np.arange(2)[:, None, None]
            + 24 * np.arange(2)[None, :, None]
            + 8 * (np.arange(2)[None, None, :])
        )
        np.testing.assert_array_equal(out[0, 0], want)


def test_conv_transpose1d_hand_computed():
    # stride 2, kernel [1, 10, 100]: input element i lands at 2i, 2i+1, 2i+2
    x = np.array([[[1.0, 2.0, 3.0]]])
    w = np.array([[[1.0, 10.0, 100.0]]])
    for backend in _backends_for("conv_transpose1d"):
        out = pyconv.conv_transpose1d(x, w, stride=2, backend=backend)
        np.testing.assert_array_equal(out[0, 0], [1, 10, 102, 20, 203, 30, 300])
        cropped = pyconv.conv_transpose1d(x, w, stride=2, padding=1, output_padding=1,
                                          backend=backend)  # fmt: skip
        np.testing.assert_array_equal(cropped[0, 0], [10, 102, 20, 203, 30, 300])


# --------------------------------------------------------------------------- invalid calls
# A valid call drawn above, mutated once: torch must reject exactly the calls pyconv
# rejects, pyconv with ValueError or TypeError (torch: RuntimeError, ValueError or
# TypeError).  Documented differences (docs/family.md, docs/semantics.md): torch accepts a
# grad_output whose batch differs from input_size's, casts a transposed convolution's bias
# of another dtype, computes a zero dilation on some transposed and gradient paths (a wrong
# result), and
# skips the dilation, kernel-size, dtype and (gradients) grad_output-shape checks on empty
# inputs, as tests/test_fuzz.py finds for conv2d.

MUTATIONS = [
    "stride0", "dilation0", "padneg", "groups0", "groups3", "channels", "bias", "rank",
    "param_len", "dtype", "kernel_big", "output_padding", "padding_str", "grad_shape",
]  # fmt: skip


def _mutate(call: Call, mutation: str) -> Call | None:
    """Return ``call`` with one mistake, or None if the mutation does not apply."""
    p = dict(call.params)
    shapes = list(call.shapes)
    n = int(next(ch for ch in call.op if ch.isdigit()))
    kind = "input" if call.op.endswith("_input") else "weight" if call.op.endswith("_weight") \
        else "transpose" if "transpose" in call.op else "conv"  # fmt: skip
    sizes = call.sizes
    if mutation == "stride0":
        p["stride"] = 0
    elif mutation == "dilation0":
        p["dilation"] = (0,) * n
    elif mutation == "padneg":
        if isinstance(p["padding"], str):
            return None
        p["padding"] = -1
    elif mutation == "groups0":
        p["groups"] = 0
    elif mutation == "groups3":
        p["groups"] = p["groups"] * 3 + 1
    elif mutation == "channels":
        i = 0 if kind in ("conv", "transpose", "weight") else None
        if i is None:
            sizes = (sizes[0], sizes[1] + 1, *sizes[2:])
        else:
            s = list(shapes[i])
            s[-n - 1] += 1
            shapes[i] = tuple(s)
    elif mutation == "bias":
        if kind not in ("conv", "transpose") or shapes[2] is None:
            return None
        shapes[2] = (shapes[2][0] + 1,)
    elif mutation == "rank":
        shapes[0] = (1, *shapes[0])
    elif mutation == "param_len":
        p["stride"] = (1,) * (n + 1)
    elif mutation == "dtype":
        return Call(call.op, tuple(shapes), sizes, p, "mixed")
    elif mutation == "kernel_big":
        if kind == "transpose":
            return None
        w = 1 if kind == "input" else None
        if w is None:  # the weight's size: weight_size
            sizes = (*sizes[:2], *(v + 40 for v in sizes[2:]))
        else:
            shapes[0] = (*shapes[0][:2], *(v + 40 for v in shapes[0][2:]))
    elif mutation == "output_padding":
        if kind != "transpose":
            return None
        s, d = p["stride"], p["dilation"]
        s = (s,) * n if isinstance(s, int) else s
        d = (d,) * n if isinstance(d, int) else d
        p["output_padding"] = tuple(max(a, b) for a, b in zip(s, d, strict=True))
    elif mutation == "padding_str":
        if kind == "conv":
            return None
        p["padding"] = "same"
    elif mutation == "grad_shape":
        if kind not in ("input", "weight"):
            return None
        s = list(shapes[1])
        s[-1] += 1
        shapes[1] = tuple(s)
    return Call(call.op, tuple(shapes), sizes, p, call.dtype)


def _mixed_args(call: Call) -> tuple:
    args = list(call.args())
    # the first array in float64, the others float32
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray):
            args[i] = a.astype(np.float64)
            break
    return tuple(args)


def _outcome(fn, args, kwargs) -> Exception | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(*args, **kwargs)
    except Exception as exc:
        return exc
    return None


def _documented(bad: Call, args: tuple, mutation: str, exc: Exception) -> bool:
    """A difference docs/family.md and docs/semantics.md describe."""
    if mutation == "rank" and bad.op.endswith("_input"):
        return True  # torch ignores grad_output's batch
    if "transpose" in bad.op and "bias type" in str(exc):
        return True  # torch casts a bias of another dtype (as conv2d with a padding string)
    if "dilation" in str(exc) and bad.op not in ("conv1d", "conv2d", "conv3d"):
        # some of torch's paths for the transposed convolution and the gradients (oneDNN,
        # unbatched grouped input) skip the check and compute a zero dilation as if every
        # tap were the first (a wrong result); its other paths refuse it
        return True
    empty = any(isinstance(a, np.ndarray) and a.size == 0 for a in args)
    skipped = ("dilation", "weight type", "kernel size should be", "scalar type", "tensor.size[")
    return empty and any(t in str(exc) for t in skipped)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    call=st.one_of(conv_calls(), transposed_calls(), gradient_calls()),
    mutation=st.sampled_from(MUTATIONS),
)
def test_invalid_calls_are_rejected_as_torch_rejects_them(call, mutation):
    bad = _mutate(call._replace_dtype("f32") if call.dtype == "f64" else call, mutation)
    if bad is None:
        return
    args = _mixed_args(Call(bad.op, bad.shapes, bad.sizes, bad.params, "f32")) \
        if bad.dtype == "mixed" else bad.args()  # fmt: skip

    def t(a):
        return torch.from_numpy(a) if isinstance(a, np.ndarray) else a

    torch_fn = getattr(torch.nn.grad if "d_" in bad.op else F, bad.op)
    ours_fn = getattr(pyconv.grad if "d_" in bad.op else pyconv, bad.op)
    theirs = _outcome(torch_fn, [t(a) for a in args], bad.params)
    ours = _outcome(ours_fn, args, {**bad.params, "backend": "numpy"})
    if ours is not None:
        assert type(ours) in (ValueError, TypeError), ours
    if theirs is None and ours is not None and _documented(bad, args, mutation, ours):
        return
    assert (theirs is None) == (ours is None), (bad, theirs, ours)
