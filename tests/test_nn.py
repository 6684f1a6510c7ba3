"""``pyconv.Conv2d`` against ``torch.nn.Conv2d``: forward, repr, init, checks, state dict.

Forward results are checked two ways: against the accuracy contract
(:func:`pyconv.testing.assert_conv_close`) on the input padded by torch's own ``F.pad``,
and against torch's output with twice the contract's bound (both results lie within the
bound of the exact value).  Exceptions: pyconv raises ``ValueError`` / ``TypeError`` where
torch raises ``RuntimeError``, with torch's text.
"""

from __future__ import annotations

import ast
import itertools
import math
import random
import sys
import warnings
import zlib
from typing import NamedTuple

import numpy as np
import pytest

import pyconv
import pyconv.nn
from pyconv.testing import assert_conv_close, exact_conv2d

PADDING_MODES = ["zeros", "reflect", "replicate", "circular"]
PADDINGS = [0, 1, 2, (1, 2), "same", "valid"]
STRIDES = [1, 2]
DILATIONS = [1, 2]
GROUPS = ["1", "2", "depthwise"]
KERNELS = [1, 2, 3, 4, (2, 3), 5]
C_IN = 4
H, W = 11, 10


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny convolutions: one thread each for torch and pyconv (threads are tested elsewhere).

    Two OpenMP runtimes spin-waiting on a loaded 2-core machine made this file 10x slower.
    """
    pyconv.set_num_threads(1)  # conftest restores it
    try:
        import torch
    except ImportError:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _quiet_torch(fn, *args, **kwargs):
    """Call into torch with its two harmless warnings silenced (only around torch)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors is a no-op")
        warnings.filterwarnings("ignore", message="Using padding='same' with even kernel")
        return fn(*args, **kwargs)


def _torch_layer(torch, *args, double=False, seed=0, **kwargs):
    torch.manual_seed(seed)
    layer = _quiet_torch(torch.nn.Conv2d, *args, **kwargs)
    return layer.double() if double else layer


def _torch_forward(torch, layer, x):
    with torch.no_grad():
        return _quiet_torch(layer, torch.from_numpy(x)).numpy()


def _explicit_pads(padding, kernel, dilation):
    """F.pad's (left, right, top, bottom) for the layer's padding argument."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        out = []
        for k, d in zip(reversed(kernel), reversed(dilation), strict=True):
            total = d * (k - 1)
            out += [total // 2, total - total // 2]
        return tuple(out)
    ph, pw = padding
    return (pw, pw, ph, ph)


def _check_forward(torch, layer, tlayer, x):
    """pyconv vs the contract on torch-padded input and vs torch's own output."""
    got = layer(x)
    want = _torch_forward(torch, tlayer, x)
    assert isinstance(got, np.ndarray)
    assert got.dtype == x.dtype == want.dtype
    assert got.shape == want.shape
    mode = "constant" if layer.padding_mode == "zeros" else layer.padding_mode
    pads = _explicit_pads(
        layer.padding if isinstance(layer.padding, str) else tuple(layer.padding),
        tuple(layer.kernel_size),
        tuple(layer.dilation),
    )
    xp = torch.nn.functional.pad(torch.from_numpy(x), pads, mode=mode).numpy()
    args = (layer.weight, layer.bias, layer.stride, 0, layer.dilation, layer.groups)
    assert_conv_close(got, xp, *args)
    exact, magnitude, K, dtype = exact_conv2d(xp, *args)
    bound = 2 * 2.0 * (K + 1) * np.finfo(dtype).eps * magnitude
    err = np.abs(got.astype(exact.dtype) - want.astype(exact.dtype))
    assert (err <= bound).all(), f"max |pyconv - torch| = {err.max()}, bound {bound.max()}"
    return got


# --------------------------------------------------------------------------------------
# Forward: every padding_mode x padding x stride x dilation x groups x kernel
# --------------------------------------------------------------------------------------


class _Case(NamedTuple):
    mode: str
    padding: object
    stride: int
    dilation: int
    groups: str
    kernel: object
    bias: bool
    source: str  # state dict of torch tensors or of NumPy arrays
    unbatched: bool
    dtype: type

    def id(self) -> str:
        return (
            f"{self.mode}-p{self.padding}-s{self.stride}-d{self.dilation}-g{self.groups}"
            f"-k{self.kernel}-{'bias' if self.bias else 'nobias'}-{self.source}"
            f"-{'unbatched' if self.unbatched else 'batched'}-{np.dtype(self.dtype).name}"
        ).replace(" ", "")


def _forward_cases():
    grid = [
        c
        for c in itertools.product(PADDING_MODES, PADDINGS, STRIDES, DILATIONS, GROUPS, KERNELS)
        if not (c[1] == "same" and c[2] != 1)  # torch refuses 'same' with a stride
    ]
    # bias, the state dict's source and batched / unbatched input rotate over the grid,
    # balanced and decorrelated from it; both dtypes and both backends run for every point
    extras = list(itertools.product([True, False], ["tensor", "numpy"], [False, True]))
    order = list(range(len(grid)))
    random.Random(1234).shuffle(order)
    cases = []
    for n, i in enumerate(order):
        for dtype in (np.float32, np.float64):
            case = _Case(*grid[i], *extras[n % len(extras)], dtype)
            cases.append(pytest.param(case, id=case.id()))
    return cases


@pytest.mark.parametrize("case", _forward_cases())
def test_forward_matches_torch(torch, rng, case):
    kwargs = dict(
        in_channels=C_IN,
        out_channels=2 * C_IN if case.groups == "depthwise" else 6,
        kernel_size=case.kernel,
        stride=case.stride,
        padding=case.padding,
        dilation=case.dilation,
        groups={"1": 1, "2": 2, "depthwise": C_IN}[case.groups],
        bias=case.bias,
        padding_mode=case.mode,
    )
    seed = zlib.crc32(case.id().encode())
    tlayer = _torch_layer(torch, double=case.dtype == np.float64, seed=seed, **kwargs)
    state = tlayer.state_dict()
    if case.source == "numpy":
        state = {k: v.numpy() for k, v in state.items()}
    for backend in ("cython", "numpy"):
        layer = pyconv.Conv2d(**kwargs, dtype=case.dtype, backend=backend, rng=0)
        result = layer.load_state_dict(state)
        assert result.missing_keys == []
        assert result.unexpected_keys == []
        np.testing.assert_array_equal(layer.weight, tlayer.weight.detach().numpy(), strict=True)
        if case.bias:
            np.testing.assert_array_equal(layer.bias, tlayer.bias.detach().numpy(), strict=True)
        else:
            assert layer.bias is None
        shape = (C_IN, H, W) if case.unbatched else (2, C_IN, H, W)
        x = rng.standard_normal(shape).astype(case.dtype)
        before = x.copy()
        _check_forward(torch, layer, tlayer, x)
        np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize(
    "padding", [-1, (-1, 0), (0, -2), (-1, 2)], ids=["m1", "m1-0", "0-m2", "m1-2"]
)
def test_negative_padding(torch, rng, mode, padding, backend):
    """zeros: refused at call time; the other modes crop silently, exactly like torch."""
    tlayer = _torch_layer(torch, C_IN, 3, 3, padding=padding, padding_mode=mode)
    layer = pyconv.Conv2d(C_IN, 3, 3, padding=padding, padding_mode=mode, backend=backend)
    layer.load_state_dict(tlayer.state_dict())
    x = rng.standard_normal((2, C_IN, 9, 8)).astype(np.float32)
    if mode == "zeros":
        with pytest.raises(RuntimeError, match=r"^negative padding is not supported"):
            _torch_forward(torch, tlayer, x)
        with pytest.raises(ValueError, match=r"^negative padding is not supported") as info:
            layer(x)
        assert type(info.value) is ValueError
    else:
        _check_forward(torch, layer, tlayer, x)


@pytest.mark.parametrize("backend_name", ["cython", "numpy"])
def test_kernel5_reflect_differs_from_replicate(torch, rng, backend_name):
    """Section a.2's trap: with 3x3 the modes can agree on a constant border, with 5x5 not."""
    x = rng.standard_normal((1, 2, 8, 9))
    outs = {}
    for mode in ("reflect", "replicate"):
        tlayer = _torch_layer(torch, 2, 3, 5, padding=2, padding_mode=mode, double=True)
        layer = pyconv.Conv2d(
            2, 3, 5, padding=2, padding_mode=mode, dtype=np.float64, backend=backend_name
        )
        layer.load_state_dict(tlayer.state_dict())
        outs[mode] = _check_forward(torch, layer, tlayer, x)
    assert not np.allclose(outs["reflect"], outs["replicate"])


def test_forward_is_call(rng):
    layer = pyconv.Conv2d(3, 2, 3, rng=0)
    x = rng.standard_normal((3, 6, 7)).astype(np.float32)
    np.testing.assert_array_equal(layer(x), layer.forward(x))


def test_float64_layer_output_dtype(rng):
    layer = pyconv.Conv2d(3, 2, 3, dtype=np.float64, rng=0)
    assert layer(rng.standard_normal((1, 3, 6, 7))).dtype == np.float64


# --------------------------------------------------------------------------------------
# repr
# --------------------------------------------------------------------------------------

REPR_CASES = [
    dict(in_channels=3, out_channels=4, kernel_size=3),
    dict(
        in_channels=3,
        out_channels=4,
        kernel_size=(3, 5),
        stride=(2, 1),
        padding=(1, 2),
        dilation=2,
        bias=False,
        padding_mode="reflect",
    ),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding="same"),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding="valid"),
    dict(
        in_channels=3,
        out_channels=4,
        kernel_size=4,
        padding="same",
        dilation=2,
        padding_mode="circular",
    ),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=0, padding_mode="replicate"),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=(0, 0)),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=(0, 1)),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=[1, 2]),
    dict(in_channels=3, out_channels=4, kernel_size=[3, 3], stride=[2, 2]),
    dict(in_channels=3, out_channels=4, kernel_size=1, bias=False),
    dict(in_channels=4, out_channels=8, kernel_size=3, groups=2),
    dict(
        in_channels=4,
        out_channels=4,
        kernel_size=3,
        groups=4,
        padding=1,
        padding_mode="circular",
        bias=False,
    ),
    dict(in_channels=4, out_channels=4, kernel_size=3, dilation=(1, 2)),
    dict(in_channels=4, out_channels=4, kernel_size=3, dilation=(1, 1)),
    dict(in_channels=4, out_channels=4, kernel_size=(1, 7), stride=(1, 3), padding=(0, 3)),
    dict(in_channels=0, out_channels=4, kernel_size=3),
    dict(in_channels=4, out_channels=0, kernel_size=3),
    dict(in_channels=4, out_channels=4, kernel_size=3, stride=0, padding=-1),
    dict(
        in_channels=16,
        out_channels=32,
        kernel_size=5,
        stride=2,
        padding=2,
        dilation=3,
        groups=8,
        bias=False,
        padding_mode="replicate",
    ),
]


@pytest.mark.parametrize(
    "kwargs", REPR_CASES, ids=[",".join(f"{k}={v}" for k, v in c.items()) for c in REPR_CASES]
)
def test_repr_matches_torch(torch, kwargs):
    want = repr(_torch_layer(torch, **kwargs))
    layer = pyconv.Conv2d(**kwargs, rng=0)
    assert repr(layer) == want
    assert str(layer) == want


def test_repr_examples():
    layer = pyconv.Conv2d(3, 4, (3, 5), (2, 1), (1, 2), 2, bias=False, padding_mode="reflect")
    assert repr(layer) == (
        "Conv2d(3, 4, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 2), "
        "bias=False, padding_mode=reflect)"
    )
    assert repr(pyconv.Conv2d(3, 4, 3, padding="same")) == (
        "Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=same)"
    )
    assert repr(pyconv.Conv2d(3, 4, 3, padding="valid")) == (
        "Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=valid)"
    )


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_repr_shows_a_chosen_backend_last(backend):
    layer = pyconv.Conv2d(3, 4, 3, padding=1, bias=False, backend=backend)
    assert repr(layer) == (
        "Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False, "
        f"backend='{backend}')"
    )


def test_repr_shows_a_backend_object():
    class Mine:
        name = "mine"

        def conv2d(self, x, w, b, spec):
            raise AssertionError("not called")

        def __repr__(self):
            return "Mine()"

    assert repr(pyconv.Conv2d(3, 4, 3, backend=Mine())).endswith(", backend=Mine())")


# --------------------------------------------------------------------------------------
# assigning weight and bias
# --------------------------------------------------------------------------------------


def test_assigned_arrays_are_used_as_they_are(rng):
    layer = pyconv.Conv2d(2, 3, 3, rng=0)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    layer.weight, layer.bias = w, b
    assert layer.weight is w  # not copied, as torch's parameters share their tensor
    assert layer.bias is b
    x = rng.standard_normal((2, 7, 6)).astype(np.float32)
    np.testing.assert_array_equal(layer(x), pyconv.conv2d(x, w, b))
    layer.bias = None  # torch allows it: a layer without bias
    assert repr(layer).endswith("bias=False)")
    np.testing.assert_array_equal(layer(x), pyconv.conv2d(x, w))
    assert list(layer.state_dict()) == ["weight"]


BAD_ASSIGNMENTS = [
    ("weight", lambda: [[0.0]], TypeError, "cannot assign list as Conv2d.weight"),
    ("weight", lambda: None, TypeError, "cannot assign NoneType as Conv2d.weight"),
    ("weight", lambda: np.zeros((3, 2, 3)), TypeError, "dtype float64"),  # dtype first
    (
        "weight",
        lambda: np.zeros((3, 2, 3), np.float32),
        ValueError,
        "cannot assign an array of shape (3, 2, 3) as Conv2d.weight: expected a numpy.ndarray "
        "of dtype float32 and shape (3, 2, 3, 3)",
    ),
    (
        "weight",
        lambda: np.zeros((3, 2, 3, 3)),
        TypeError,
        "cannot assign an array of dtype float64 as Conv2d.weight: expected a numpy.ndarray of "
        "dtype float32 and shape (3, 2, 3, 3); convert it with .astype(numpy.float32), or build "
        "the layer with dtype=numpy.float64",
    ),
    (
        "weight",
        lambda: np.ma.masked_array(np.zeros((3, 2, 3, 3), np.float32)),
        TypeError,
        "numpy.ma.filled(weight, 0)",
    ),
    ("bias", lambda: np.zeros(4, np.float32), ValueError, "shape (4,) as Conv2d.bias"),
    ("bias", lambda: 0.5, TypeError, "cannot assign float as Conv2d.bias"),
]


@pytest.mark.parametrize(
    ("name", "make", "exc", "text"), BAD_ASSIGNMENTS, ids=[c[3][:40] for c in BAD_ASSIGNMENTS]
)
def test_bad_assignments_are_refused_when_made(name, make, exc, text):
    layer = pyconv.Conv2d(2, 3, 3, rng=0)
    before = getattr(layer, name)
    with pytest.raises(exc) as info:
        setattr(layer, name, make())
    assert text in str(info.value)
    assert getattr(layer, name) is before  # the layer is unchanged


def test_assigning_a_torch_tensor_is_refused_with_how_to_convert(torch):
    # torch refuses a plain tensor too ("cannot assign 'torch.FloatTensor' as parameter
    # 'weight' (torch.nn.Parameter or None expected)"); pyconv's parameters are arrays
    layer = pyconv.Conv2d(2, 3, 3, rng=0)
    t = torch.zeros(3, 2, 3, 3)
    with pytest.raises(TypeError, match=r"cannot assign torch\.Tensor as Conv2d\.weight") as info:
        layer.weight = t
    assert ".detach().cpu().numpy()" in str(info.value)
    with pytest.raises(TypeError):
        torch.nn.Conv2d(2, 3, 3).weight = t
    layer.weight = t.numpy()  # the conversion the message names works
    layer.load_state_dict({"weight": t, "bias": torch.zeros(3)})  # and so does loading


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
def test_masked_input_is_refused(padding_mode):
    layer = pyconv.Conv2d(2, 3, 3, padding=1, padding_mode=padding_mode, rng=0)
    x = np.ma.masked_array(np.ones((2, 5, 5), np.float32), mask=False)
    with pytest.raises(TypeError, match=r"is a numpy\.ma\.MaskedArray"):
        layer(x)


# --------------------------------------------------------------------------------------
# init
# --------------------------------------------------------------------------------------


def _bound(layer) -> float:
    fan_in = layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
    return 1.0 / math.sqrt(fan_in)


def _assert_uniform(values, bound):
    """Within +-bound, reaching it, centred, and uniform (Kolmogorov-Smirnov and histogram)."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n = v.size
    limit = float(np.float32(bound)) if values.dtype == np.float32 else bound
    assert np.abs(v).max() <= limit
    assert np.abs(v).max() > 0.9 * bound
    assert v.min() < -0.8 * bound  # both tails used
    assert v.max() > 0.8 * bound
    assert abs(v.mean()) < 5 * bound / math.sqrt(3 * n)
    cdf = (v + bound) / (2 * bound)
    d = max((np.arange(1, n + 1) / n - cdf).max(), (cdf - np.arange(n) / n).max())
    assert d < 1.95 / math.sqrt(n), f"KS statistic {d} for n={n}"  # alpha = 0.001
    counts, _ = np.histogram(v, bins=10, range=(-bound, bound))
    expected = n / 10
    assert (np.abs(counts - expected) < 5 * math.sqrt(expected)).all(), counts


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((64, 128, 3), {}),
        ((64, 128, 3), {"dtype": np.float64}),
        ((32, 64, (3, 5)), {"groups": 4}),
        ((64, 64, 5), {"groups": 64}),  # depthwise: fan_in = 25
    ],
    ids=["f32", "f64", "groups4", "depthwise"],
)
def test_weight_init_is_uniform_over_the_bound(torch, args, kwargs):
    layer = pyconv.Conv2d(*args, **kwargs, rng=1)
    bound = _bound(layer)
    _assert_uniform(layer.weight, bound)
    # the same bound holds for torch's own layer, and torch reaches it too
    tw = _torch_layer(torch, *args, groups=kwargs.get("groups", 1)).weight.detach().numpy()
    assert np.abs(tw).max() <= np.float32(bound)
    assert np.abs(tw).max() > 0.9 * bound


def test_bias_init_is_uniform_over_the_bound():
    layer = pyconv.Conv2d(4, 4096, 1, rng=2)  # fan_in = 4: bound 0.5
    assert _bound(layer) == 0.5
    _assert_uniform(layer.bias, 0.5)


@pytest.mark.parametrize(
    ("c_in", "c_out", "kernel", "groups", "fan_in"),
    [(8, 16, 3, 4, 18), (8, 16, 3, 1, 72), (8, 8, (3, 5), 8, 15), (6, 60, (1, 2), 3, 4)],
)
def test_bound_uses_fan_in_with_groups(torch, c_in, c_out, kernel, groups, fan_in):
    bound = 1 / math.sqrt(fan_in)
    for seed in range(3):
        layer = pyconv.Conv2d(c_in, c_out, kernel, groups=groups, rng=seed)
        for v in (layer.weight, layer.bias):
            assert np.abs(v).max() <= np.float32(bound)
        assert np.abs(layer.weight).max() > 0.9 * bound  # so not the bound without groups
        t = _torch_layer(torch, c_in, c_out, kernel, groups=groups, seed=seed)
        assert np.abs(t.weight.detach().numpy()).max() <= np.float32(bound)
        assert np.abs(t.bias.detach().numpy()).max() <= np.float32(bound)


def test_zero_fan_in_gives_zero_bias(torch):
    layer = pyconv.Conv2d(0, 4, 3, rng=0)
    assert layer.weight.shape == (4, 0, 3, 3)
    np.testing.assert_array_equal(layer.bias, np.zeros(4, np.float32), strict=True)
    t = _torch_layer(torch, 0, 4, 3)
    np.testing.assert_array_equal(t.bias.detach().numpy(), layer.bias, strict=True)
    assert layer.state_dict()["weight"].shape == tuple(t.weight.shape)


def test_zero_out_channels():
    layer = pyconv.Conv2d(4, 0, 3, rng=0)
    assert layer.weight.shape == (0, 4, 3, 3)
    assert layer.bias.shape == (0,)


@pytest.mark.parametrize("bias", [True, False])
def test_default_dtype_float32_and_float64(bias):
    layer = pyconv.Conv2d(3, 4, 3, bias=bias)
    assert layer.weight.dtype == np.float32
    layer64 = pyconv.Conv2d(3, 4, 3, bias=bias, dtype=np.float64)
    assert layer64.weight.dtype == np.float64
    if bias:
        assert layer.bias.dtype == np.float32
        assert layer64.bias.dtype == np.float64


def test_float16_layer_refused():
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        pyconv.Conv2d(3, 4, 3, dtype=np.float16)


def test_rng_seed_reproducible():
    a = pyconv.Conv2d(3, 4, 3, rng=5)
    b = pyconv.Conv2d(3, 4, 3, rng=5)
    c = pyconv.Conv2d(3, 4, 3, rng=6)
    d = pyconv.Conv2d(3, 4, 3, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.weight, b.weight)
    np.testing.assert_array_equal(a.bias, b.bias)
    np.testing.assert_array_equal(a.weight, d.weight)
    assert not np.array_equal(a.weight, c.weight)
    assert not np.array_equal(a.bias, c.bias)
    # no seed: fresh entropy each time
    assert not np.array_equal(pyconv.Conv2d(3, 4, 3).weight, pyconv.Conv2d(3, 4, 3).weight)


def test_reset_parameters():
    layer = pyconv.Conv2d(3, 4, 3, rng=7)
    w, b = layer.weight, layer.bias
    old = w.copy(), b.copy()
    layer.reset_parameters(5)
    assert layer.weight is w  # in place: state_dict views stay valid
    assert layer.bias is b
    np.testing.assert_array_equal(w, pyconv.Conv2d(3, 4, 3, rng=5).weight)
    np.testing.assert_array_equal(b, pyconv.Conv2d(3, 4, 3, rng=5).bias)
    layer.reset_parameters()
    assert not np.array_equal(w, old[0])
    assert np.abs(w).max() <= np.float32(_bound(layer))
    assert w.dtype == np.float32


# --------------------------------------------------------------------------------------
# Construction errors (torch's texts) and the checks torch defers to forward
# --------------------------------------------------------------------------------------


def _both_raise_at_construction(torch, *args, **kwargs):
    with pytest.raises(ValueError) as tinfo:  # noqa: PT011 - text compared below
        _quiet_torch(torch.nn.Conv2d, *args, **kwargs)
    with pytest.raises(ValueError) as pinfo:  # noqa: PT011 - text compared below
        pyconv.Conv2d(*args, **kwargs)
    assert type(pinfo.value) is ValueError
    return str(tinfo.value), str(pinfo.value)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((4, 4, 3), {"groups": 0}),
        ((4, 4, 3), {"groups": -1}),
        ((3, 4, 3), {"groups": 2}),
        ((4, 6, 3), {"groups": 4}),
        ((4, 4, 3), {"padding": "same", "stride": 2}),
        ((4, 4, 3), {"padding": "same", "stride": (1, 2)}),
        ((4, 4, 3), {"padding": "same", "stride": (2, 1)}),
        ((3, 4, 3), {"groups": 2, "padding": "full"}),  # groups checked first
        ((4, 4, 3), {"padding": "same", "stride": 2, "padding_mode": "zero"}),
    ],
    ids=[
        "groups0",
        "groups-1",
        "in-not-divisible",
        "out-not-divisible",
        "same-stride2",
        "same-stride1x2",
        "same-stride2x1",
        "groups-before-padding",
        "same-before-mode",
    ],
)
def test_construction_errors_match_torch(torch, args, kwargs):
    want, got = _both_raise_at_construction(torch, *args, **kwargs)
    assert got == want


def test_construction_error_texts():
    for kwargs, text in [
        ({"groups": 0}, "groups must be a positive integer"),
        ({"groups": -1}, "groups must be a positive integer"),
        ({"groups": 3}, "in_channels must be divisible by groups"),
        (
            {"padding": "same", "stride": 2},
            "padding='same' is not supported for strided convolutions",
        ),
    ]:
        with pytest.raises(ValueError) as info:  # noqa: PT011
            pyconv.Conv2d(4, 6, 3, **kwargs)
        assert str(info.value) == text
    with pytest.raises(ValueError, match=r"^out_channels must be divisible by groups$"):
        pyconv.Conv2d(4, 6, 3, groups=4)


def _split_set(msg, prefix):
    """(text before the set, the set's elements, text after) of a message with a {...}."""
    assert msg.startswith(prefix), msg
    start, end = msg.index("{"), msg.index("}") + 1
    return msg[:start], ast.literal_eval(msg[start:end]), msg[end:]


@pytest.mark.parametrize("padding", ["full", "SAME", "", "Valid"])
def test_invalid_padding_string(torch, padding):
    want, got = _both_raise_at_construction(torch, 4, 4, 3, padding=padding)
    # torch prints a set, in hash-seed-dependent order: compare it as a set
    prefix = f"Invalid padding string {padding!r}, should be one of"
    assert _split_set(got, prefix) == _split_set(want, prefix)


@pytest.mark.parametrize("mode", ["zero", "constant", "reflection", "ZEROS", "symmetric"])
def test_invalid_padding_mode(torch, mode):
    want, got = _both_raise_at_construction(torch, 4, 4, 3, padding_mode=mode)
    before, members, after = _split_set(got, "padding_mode must be one of")
    assert (before, members, after) == _split_set(want, "padding_mode must be one of")
    assert after == f", but got padding_mode={mode!r}"


# --------------------------------------------------------------------------------------
# Every error the layer itself raises (construction, assignment, load_state_dict), one
# call each, compared with torch.nn.Conv2d's for the same call.  The last field: "same"
# (pyconv's message starts with torch's first line), "same set" (the same, comparing the
# {...} torch prints in hash order as a set), the exception type torch raises with other
# words, or None where torch accepts the call (pyconv is stricter: documented in
# Conv2d's docstring).  Reading weight files is tests/test_weight_files.py's: torch
# reads pickles, and has no message to compare with.
# --------------------------------------------------------------------------------------


def _assign(lib, name, value):
    layer = _quiet_torch(lib.nn.Conv2d, 2, 3, 3) if lib is not pyconv else pyconv.Conv2d(2, 3, 3)
    setattr(layer, name, value)


def _load(lib, state):
    layer = _quiet_torch(lib.nn.Conv2d, 2, 3, 3) if lib is not pyconv else pyconv.Conv2d(2, 3, 3)
    layer.load_state_dict(state)


def _param(torch, a):
    return torch.nn.Parameter(torch.from_numpy(a))


NN_ERROR_CASES = [
    ("groups-0", lambda m: m.nn.Conv2d(4, 4, 3, groups=0), ValueError, "same"),
    ("in-not-divisible", lambda m: m.nn.Conv2d(3, 4, 3, groups=2), ValueError, "same"),
    ("out-not-divisible", lambda m: m.nn.Conv2d(4, 6, 3, groups=4), ValueError, "same"),
    ("padding-string", lambda m: m.nn.Conv2d(4, 4, 3, padding="full"), ValueError, "same set"),
    (
        "same-strided",
        lambda m: m.nn.Conv2d(4, 4, 3, padding="same", stride=2),
        ValueError,
        "same",
    ),
    (
        "padding-mode",
        lambda m: m.nn.Conv2d(4, 4, 3, padding_mode="zero"),
        ValueError,
        "same set",
    ),
    # torch: "Trying to create tensor with negative dimension -1: [4, -1, 3, 3]"
    ("negative-channels", lambda m: m.nn.Conv2d(-1, 4, 3), ValueError, RuntimeError),
    ("negative-kernel", lambda m: m.nn.Conv2d(4, 4, -1), ValueError, RuntimeError),
    ("kernel-3-values", lambda m: m.nn.Conv2d(4, 4, (3, 3, 3)), ValueError, None),
    ("padding-3-values", lambda m: m.nn.Conv2d(4, 4, 3, padding=(1, 1, 1)), ValueError, None),
    (
        "integer-dtype",
        lambda m: m.nn.Conv2d(4, 4, 3, dtype=np.int64 if m is pyconv else m.int64),
        TypeError,
        RuntimeError,
    ),
    # torch: "cannot assign 'list' as parameter 'weight' (torch.nn.Parameter or None expected)"
    ("assign-list", lambda m: _assign(m, "weight", [1.0]), TypeError, TypeError),
    (
        "assign-float64",
        lambda m: _assign(
            m, "weight", _z((3, 2, 3, 3)) if m is pyconv else _param(m, _z((3, 2, 3, 3)))
        ),
        TypeError,
        None,
    ),
    (
        "assign-wrong-shape",
        lambda m: _assign(
            m, "bias", _z((4,), np.float32) if m is pyconv else _param(m, _z((4,), np.float32))
        ),
        ValueError,
        None,
    ),
    (
        "load-missing-key",
        lambda m: _load(m, {"bias": _z((3,), np.float32) if m is pyconv else m.zeros(3)}),
        ValueError,
        "same",
    ),
    ("load-not-a-mapping", lambda m: _load(m, [1.0]), TypeError, "same"),
    (
        "load-a-string",
        lambda m: _load(m, {"weight": "abc", "bias": _z((3,), np.float32)}),
        ValueError,
        RuntimeError,
    ),
]


def _z(shape, dtype=np.float64):
    return np.zeros(shape, dtype)


@pytest.mark.parametrize(
    ("call", "exc_type", "torch_does"),
    [pytest.param(*c[1:], id=c[0]) for c in NN_ERROR_CASES],
)
def test_every_error_compared_with_torch(torch, call, exc_type, torch_does):
    with pytest.raises(exc_type) as pinfo:
        call(pyconv)
    assert type(pinfo.value) is exc_type, repr(pinfo.value)
    got = str(pinfo.value)
    if torch_does is None:  # torch accepts it
        _quiet_torch(call, torch)
        return
    with pytest.raises(Exception) as tinfo:  # noqa: PT011 - torch's type checked below
        _quiet_torch(call, torch)
    want = str(tinfo.value).splitlines()[0]
    if isinstance(torch_does, type):
        assert isinstance(tinfo.value, torch_does), repr(tinfo.value)
    elif torch_does == "same set":
        prefix = want[: want.index("{")]
        assert _split_set(got, prefix) == _split_set(want, prefix)
    else:
        assert got.startswith(want), f"\npyconv: {got}\ntorch:  {want}"


def test_the_error_cases_reach_every_raise(raise_sites):
    raised = []
    for _, call, exc_type, _ in NN_ERROR_CASES:
        with pytest.raises(exc_type) as info:
            call(pyconv)
        raised.append(info.value)
    # the transposed layers' own checks are tests/test_family_nn.py's to reach
    unreached = raise_sites.unreached(
        pyconv.nn,
        raised,
        skip_functions=("_read_npz", "_read_safetensors", "_check_transposed", "_output_padding"),
    )
    assert not unreached, f"no case compared with torch reaches:\n{unreached}"


def _call_error(torch, tlayer, layer, x, exc_type=ValueError):
    with pytest.raises(RuntimeError) as tinfo:
        _torch_forward(torch, tlayer, x)
    with pytest.raises(exc_type) as pinfo:
        layer(x)
    assert type(pinfo.value) is exc_type, repr(pinfo.value)
    want = str(tinfo.value).splitlines()[0]
    assert str(pinfo.value).startswith(want), f"\npyconv: {pinfo.value}\ntorch:  {want}"
    return str(pinfo.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"stride": 0},
        {"stride": (1, 0)},
        {"stride": -1},
        {"stride": 0, "padding": 1, "padding_mode": "reflect"},
        {"padding": -1},
        {"padding": (0, -1)},
        {"kernel_size": 0},
        {"kernel_size": (0, 3)},
        {"kernel_size": (3, 0)},
    ],
    ids=str,
)
@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
def test_checks_deferred_to_forward(torch, backend, kwargs, unbatched):
    kwargs = {"kernel_size": 3, **kwargs}
    tlayer = _torch_layer(torch, 4, 4, **kwargs)
    layer = pyconv.Conv2d(4, 4, **kwargs, backend=backend)  # accepted, as by torch
    x = np.zeros((4, 8, 8) if unbatched else (1, 4, 8, 8), np.float32)
    _call_error(torch, tlayer, layer, x)


def test_deferred_messages():
    x = np.zeros((1, 4, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"^non-positive stride is not supported"):
        pyconv.Conv2d(4, 4, 3, stride=0)(x)
    with pytest.raises(ValueError, match=r"^negative padding is not supported"):
        pyconv.Conv2d(4, 4, 3, padding=-1)(x)
    with pytest.raises(ValueError, match=r"^kernel size should be greater than zero"):
        pyconv.Conv2d(4, 4, 0)(x)


@pytest.mark.parametrize(
    ("padding", "shape"),
    [(5, (1, 4, 5, 5)), ((1, 5), (1, 4, 6, 5)), ((6, 1), (1, 4, 6, 5)), (5, (4, 5, 5))],
    ids=["square", "width", "height", "unbatched"],
)
def test_reflect_padding_not_smaller_than_input(torch, padding, shape):
    tlayer = _torch_layer(torch, 4, 4, 3, padding=padding, padding_mode="reflect")
    layer = pyconv.Conv2d(4, 4, 3, padding=padding, padding_mode="reflect")
    msg = _call_error(torch, tlayer, layer, np.zeros(shape, np.float32))
    assert msg.startswith("Argument #")
    assert "Padding size should be less than the corresponding input dimension" in msg


@pytest.mark.parametrize(
    ("padding", "shape", "ok"),
    [(4, (1, 4, 4, 4), True), (5, (1, 4, 4, 4), False), ((1, 5), (1, 4, 6, 4), False)],
    ids=["pad-eq-size", "pad-gt-size", "width-gt"],
)
def test_circular_padding_limit(torch, rng, padding, shape, ok):
    tlayer = _torch_layer(torch, 4, 4, 3, padding=padding, padding_mode="circular")
    layer = pyconv.Conv2d(4, 4, 3, padding=padding, padding_mode="circular")
    layer.load_state_dict(tlayer.state_dict())
    x = rng.standard_normal(shape).astype(np.float32)
    if ok:
        _check_forward(torch, layer, tlayer, x)
    else:
        msg = _call_error(torch, tlayer, layer, x)
        assert msg == "Padding value causes wrapping around more than once."


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("bias", [True, False])
def test_dtype_mismatch_at_call(torch, mode, bias):
    x64 = np.zeros((2, 4, 8, 8), np.float64)
    layer = pyconv.Conv2d(4, 4, 3, padding=1, padding_mode=mode, bias=bias)
    with pytest.raises(TypeError) as info:
        layer(x64)
    assert type(info.value) is TypeError
    if bias:
        assert str(info.value).startswith(
            "Input type (double) and bias type (float) should be the same"
        )
        tlayer = _torch_layer(torch, 4, 4, 3, padding=1, padding_mode=mode)
        _call_error(torch, tlayer, layer, x64, TypeError)
    layer64 = pyconv.Conv2d(4, 4, 3, padding=1, padding_mode=mode, bias=bias, dtype=np.float64)
    with pytest.raises(TypeError) as info:
        layer64(x64.astype(np.float32))
    if bias:
        assert str(info.value).startswith(
            "Input type (float) and bias type (double) should be the same"
        )


# --------------------------------------------------------------------------------------
# state_dict / load_state_dict
# --------------------------------------------------------------------------------------

STATE_CASES = [
    ((3, 4, 3), {}),
    ((3, 4, 3), {"bias": False}),
    ((4, 8, (2, 5)), {"groups": 2}),
    ((4, 4, 1), {"groups": 4, "bias": False}),
    ((0, 4, 3), {}),
]


@pytest.mark.parametrize(("args", "kwargs"), STATE_CASES, ids=str)
def test_state_dict_keys_and_shapes_match_torch(torch, args, kwargs):
    t = _torch_layer(torch, *args, **kwargs).state_dict()
    p = pyconv.Conv2d(*args, **kwargs, rng=0).state_dict()
    assert list(p) == list(t)
    for k in t:
        assert p[k].shape == tuple(t[k].shape)
        assert p[k].dtype == np.float32


def test_state_dict_returns_the_layers_own_arrays(rng):
    layer = pyconv.Conv2d(3, 4, 3, rng=0)
    sd = layer.state_dict()
    assert sd["weight"] is layer.weight
    assert sd["bias"] is layer.bias
    x = rng.standard_normal((3, 6, 6)).astype(np.float32)
    sd["weight"][...] = 0
    sd["bias"][...] = 2
    np.testing.assert_array_equal(layer(x), np.full((4, 4, 4), 2, np.float32))


def test_state_dict_round_trip():
    a = pyconv.Conv2d(3, 4, 3, rng=0)
    b = pyconv.Conv2d(3, 4, 3, rng=1)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.weight, b.weight)
    assert b.weight is not a.weight  # copied, not shared
    a.weight[...] = 0
    assert np.abs(b.weight).max() > 0


@pytest.mark.parametrize("source", ["tensors", "parameters", "numpy", "float64-numpy", "lists"])
def test_load_from_torch(torch, rng, source):
    t = _torch_layer(torch, 3, 5, 3, padding=1)
    state = {
        "tensors": lambda: t.state_dict(),
        "parameters": lambda: {"weight": t.weight, "bias": t.bias},  # requires_grad
        "numpy": lambda: {k: v.numpy() for k, v in t.state_dict().items()},
        "float64-numpy": lambda: {k: v.double().numpy() for k, v in t.state_dict().items()},
        "lists": lambda: {k: v.tolist() for k, v in t.state_dict().items()},
    }[source]()
    layer = pyconv.Conv2d(3, 5, 3, padding=1, rng=0)
    w = layer.weight
    result = layer.load_state_dict(state)
    assert result == ([], [])
    assert layer.weight is w  # copied in place
    assert layer.weight.dtype == np.float32  # torch's copy_ keeps the parameter's dtype
    np.testing.assert_array_equal(layer.weight, t.weight.detach().numpy())
    np.testing.assert_array_equal(layer.bias, t.bias.detach().numpy())
    _check_forward(torch, layer, t, rng.standard_normal((2, 3, 7, 6)).astype(np.float32))


def test_loaded_arrays_are_copies(torch):
    t = _torch_layer(torch, 3, 5, 3)
    state = {k: v.numpy().copy() for k, v in t.state_dict().items()}
    layer = pyconv.Conv2d(3, 5, 3)
    layer.load_state_dict(state)
    state["weight"][...] = 0
    np.testing.assert_array_equal(layer.weight, t.weight.detach().numpy())


def test_load_npz(torch, tmp_path, rng):
    t = _torch_layer(torch, 3, 5, 3, padding=1, padding_mode="reflect")
    path = tmp_path / "conv.npz"
    np.savez(path, **{k: v.numpy() for k, v in t.state_dict().items()})
    for src in (path, str(path)):
        layer = pyconv.Conv2d(3, 5, 3, padding=1, padding_mode="reflect", rng=0)
        assert layer.load_state_dict(src) == ([], [])
        np.testing.assert_array_equal(layer.weight, t.weight.detach().numpy())
        _check_forward(torch, layer, t, rng.standard_normal((3, 7, 6)).astype(np.float32))


def test_load_safetensors(torch, tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    t = _torch_layer(torch, 3, 5, 3)
    path = tmp_path / "conv.safetensors"
    st.save_file({k: v.numpy() for k, v in t.state_dict().items()}, str(path))
    layer = pyconv.Conv2d(3, 5, 3, rng=0)
    assert layer.load_state_dict(path) == ([], [])
    np.testing.assert_array_equal(layer.weight, t.weight.detach().numpy())
    np.testing.assert_array_equal(layer.bias, t.bias.detach().numpy())


def test_corrupt_safetensors_names_the_file(tmp_path):
    pytest.importorskip("safetensors.numpy")
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(ValueError, match=r"broken\.safetensors"):
        pyconv.Conv2d(3, 5, 3).load_state_dict(bad)


def test_safetensors_without_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    path = tmp_path / "conv.safetensors"
    path.write_bytes(b"")
    with pytest.raises(ImportError, match="safetensors"):
        pyconv.Conv2d(3, 5, 3).load_state_dict(path)


def test_load_with_prefix_from_a_model(torch, rng):
    torch.manual_seed(3)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 5, 3, padding=1)
    )
    sd = model.state_dict()
    first = pyconv.Conv2d(3, 4, 3, rng=0)
    second = pyconv.Conv2d(4, 5, 3, padding=1, rng=0)
    assert first.load_state_dict(sd, prefix="0.") == ([], [])
    assert second.load_state_dict(sd, prefix="2.") == ([], [])
    np.testing.assert_array_equal(first.weight, model[0].weight.detach().numpy())
    np.testing.assert_array_equal(second.bias, model[2].bias.detach().numpy())
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    got = second(np.maximum(first(x), 0))
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_model_state_without_prefix_is_refused_like_torch(torch):
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    _assert_same_load_error(torch, 3, 4, 3, state=model.state_dict())


def test_prefix_npz(torch, tmp_path):
    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 2, 1))
    path = tmp_path / "model.npz"
    np.savez(path, **{k: v.numpy() for k, v in model.state_dict().items()})
    layer = pyconv.Conv2d(4, 2, 1, rng=0)
    assert layer.load_state_dict(path, prefix="1.") == ([], [])
    np.testing.assert_array_equal(layer.weight, model[1].weight.detach().numpy())


def _assert_same_load_error(torch, *args, state, strict=True, **kwargs):
    """torch's RuntimeError text, verbatim, as pyconv's ValueError."""
    t = _torch_layer(torch, *args, **kwargs)
    with pytest.raises(RuntimeError) as tinfo:
        t.load_state_dict(state, strict=strict)
    layer = pyconv.Conv2d(*args, **kwargs, rng=0)
    before = layer.weight.copy()
    with pytest.raises(ValueError) as pinfo:  # noqa: PT011 - text compared below
        layer.load_state_dict(state, strict=strict)
    assert type(pinfo.value) is ValueError
    assert str(pinfo.value) == str(tinfo.value)
    np.testing.assert_array_equal(layer.weight, before)  # nothing loaded


def _tensors(torch, **shapes):
    return {k: torch.zeros(s) for k, s in shapes.items()}


@pytest.mark.parametrize(
    ("case", "kwargs", "shapes"),
    [
        ("missing-bias", {}, {"weight": (6, 4, 3, 3)}),
        ("missing-both", {}, {}),
        ("unexpected", {}, {"weight": (6, 4, 3, 3), "bias": (6,), "extra": (1,), "x.y": (2,)}),
        ("bias-on-biasless", {"bias": False}, {"weight": (6, 4, 3, 3), "bias": (6,)}),
        ("missing-and-unexpected", {}, {"bias": (6,), "extra": (6,)}),
        ("size-weight", {}, {"weight": (6, 4, 3, 2), "bias": (6,)}),
        ("size-both", {}, {"weight": (6, 2, 3, 3), "bias": (5,)}),
        ("size-scalar", {}, {"weight": (6, 4, 3, 3), "bias": ()}),
        ("size-and-missing", {}, {"weight": (6, 4, 3, 2)}),
        ("everything", {}, {"weight": (6, 4, 3, 2), "extra": (5,)}),
    ],
)
def test_load_errors_match_torch(torch, case, kwargs, shapes):
    _assert_same_load_error(torch, 4, 6, 3, state=_tensors(torch, **shapes), **kwargs)


@pytest.mark.parametrize(
    ("case", "shapes"),
    [
        ("size-weight", {"weight": (6, 4, 3, 2), "bias": (6,)}),
        ("size-and-extra", {"weight": (6, 4, 3, 2), "extra": (5,)}),
    ],
)
def test_size_mismatch_raises_even_when_not_strict(torch, case, shapes):
    _assert_same_load_error(torch, 4, 6, 3, state=_tensors(torch, **shapes), strict=False)


@pytest.mark.parametrize(
    ("case", "kwargs", "shapes"),
    [
        ("all", {}, {"weight": (6, 4, 3, 3), "bias": (6,)}),
        ("missing-bias", {}, {"weight": (6, 4, 3, 3)}),
        ("extra", {}, {"weight": (6, 4, 3, 3), "bias": (6,), "extra": (1,), "more": (2,)}),
        ("both", {}, {"bias": (6,), "extra": (1,)}),
        ("biasless", {"bias": False}, {"weight": (6, 4, 3, 3), "bias": (6,)}),
        ("nothing", {}, {}),
    ],
)
def test_non_strict_returns_keys_like_torch(torch, case, kwargs, shapes):
    state = {k: torch.full(s, 0.25) for k, s in shapes.items()}
    t = _torch_layer(torch, 4, 6, 3, **kwargs)
    want = t.load_state_dict(state, strict=False)
    layer = pyconv.Conv2d(4, 6, 3, **kwargs, rng=0)
    before = {k: v.copy() for k, v in layer.state_dict().items()}
    got = layer.load_state_dict(state, strict=False)
    assert got.missing_keys == want.missing_keys
    assert got.unexpected_keys == want.unexpected_keys
    assert tuple(got) == (want.missing_keys, want.unexpected_keys)
    assert list(layer.state_dict()) == list(t.state_dict())
    for k, v in layer.state_dict().items():  # what was present is loaded, the rest kept
        np.testing.assert_array_equal(v, 0.25 if k in state else before[k])


def test_strict_true_result_is_empty(torch):
    t = _torch_layer(torch, 4, 6, 3)
    got = pyconv.Conv2d(4, 6, 3).load_state_dict(t.state_dict())
    assert isinstance(got, tuple)
    assert got.missing_keys == []
    assert got.unexpected_keys == []


def test_corrupt_npz_names_the_file(tmp_path):
    bad = tmp_path / "garbage.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a zip archive at all" * 10)
    with pytest.raises(ValueError, match=r"garbage\.npz"):
        pyconv.Conv2d(3, 4, 3).load_state_dict(bad)


def test_truncated_npz_names_the_file(tmp_path):
    layer = pyconv.Conv2d(3, 4, 3, rng=0)
    good = tmp_path / "full.npz"
    np.savez(good, **layer.state_dict())
    data = good.read_bytes()
    cut = tmp_path / "truncated.npz"
    cut.write_bytes(data[: len(data) // 2])
    target = pyconv.Conv2d(3, 4, 3, rng=1)
    before = target.weight.copy()
    with pytest.raises(ValueError, match=r"truncated\.npz"):
        target.load_state_dict(cut)
    np.testing.assert_array_equal(target.weight, before)


def test_npy_file_is_not_a_state_dict(tmp_path):
    path = tmp_path / "weight.npy"
    np.save(path, np.zeros((4, 3, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"weight\.npy"):
        pyconv.Conv2d(3, 4, 3).load_state_dict(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        pyconv.Conv2d(3, 4, 3).load_state_dict(tmp_path / "nope.npz")


_UNPICKLED = []


def _record_unpickle(tag):
    _UNPICKLED.append(tag)
    return tag


class _Booby:
    """Unpickling this object would call ``_record_unpickle``."""

    def __reduce__(self):
        return (_record_unpickle, ("unpickled!",))


def test_pickled_object_array_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    obj = np.empty((4, 3, 3, 3), dtype=object)
    obj[...] = _Booby()
    np.savez(path, weight=obj, bias=np.zeros(4, np.float32))
    _UNPICKLED.clear()
    with pytest.raises(ValueError, match=r"pickled\.npz"):
        pyconv.Conv2d(3, 4, 3).load_state_dict(path)
    assert _UNPICKLED == []


def test_unsupported_source_type():
    with pytest.raises(TypeError):
        pyconv.Conv2d(3, 4, 3).load_state_dict([("weight", np.zeros((4, 3, 3, 3)))])
