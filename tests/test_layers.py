"""The torch.nn-style layers (pyconv.layers, pyconv._module) against torch and by hand.

Each layer must compute what its torch namesake computes in eval mode, print torch's
``repr``, and use torch's state-dict names, so that a torch state dict loads into a pyconv
model built the same way.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconv
from pyconv import nn

# --------------------------------------------------------------------------------------
# repr: torch's text
# --------------------------------------------------------------------------------------

LAYERS = [
    ("MaxPool2d(3, 2, 1)",
     "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)"),
    ("MaxPool2d((3, 2))",
     "MaxPool2d(kernel_size=(3, 2), stride=(3, 2), padding=0, dilation=1, ceil_mode=False)"),
    ("MaxPool2d(3, 2, 1, 2, True, True)",
     "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)"),
    ("MaxPool1d(3)", "MaxPool1d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)"),
    ("AvgPool2d(3, 2, 1)", "AvgPool2d(kernel_size=3, stride=2, padding=1)"),
    ("AvgPool2d((3, 2))", "AvgPool2d(kernel_size=(3, 2), stride=(3, 2), padding=0)"),
    ("AvgPool1d(3, 2, 1)", "AvgPool1d(kernel_size=(3,), stride=(2,), padding=(1,))"),
    ("AdaptiveAvgPool2d((1, 1))", "AdaptiveAvgPool2d(output_size=(1, 1))"),
    ("AdaptiveAvgPool2d((None, 7))", "AdaptiveAvgPool2d(output_size=(None, 7))"),
    ("AdaptiveMaxPool2d(3, True)", "AdaptiveMaxPool2d(output_size=3)"),
    ("ReLU()", "ReLU()"),
    ("ReLU(inplace=True)", "ReLU(inplace=True)"),
    ("Flatten()", "Flatten(start_dim=1, end_dim=-1)"),
    ("Flatten(2, 3)", "Flatten(start_dim=2, end_dim=3)"),
    ("Linear(3, 4)", "Linear(in_features=3, out_features=4, bias=True)"),
    ("Linear(3, 4, bias=False)", "Linear(in_features=3, out_features=4, bias=False)"),
    ("BatchNorm2d(8)",
     "BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"),
    ("BatchNorm2d(8, 1e-3, None, bias=False)",
     "BatchNorm2d(8, eps=0.001, momentum=None, affine=True, bias=False, "
     "track_running_stats=True)"),
    ("BatchNorm2d(8, affine=False)",
     "BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=False, bias=False, "
     "track_running_stats=True)"),
    ("Identity()", "Identity()"),
    ("Sequential(Conv2d(1, 2, 3), Sequential(ReLU(), Flatten()))",
     "Sequential(\n  (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))\n  (1): Sequential(\n"
     "    (0): ReLU()\n    (1): Flatten(start_dim=1, end_dim=-1)\n  )\n)"),
    ("Sequential()", "Sequential()"),
]  # fmt: skip


@pytest.mark.parametrize(("expr", "text"), LAYERS, ids=[e for e, _ in LAYERS])
def test_repr_is_torchs(expr, text):
    assert repr(eval(expr, {**vars(nn)})) == text


@pytest.mark.parametrize(("expr", "text"), LAYERS, ids=[e for e, _ in LAYERS])
def test_repr_text_is_what_torch_prints(torch, expr, text):
    assert repr(eval(expr, {**vars(torch.nn)})) == text


# --------------------------------------------------------------------------------------
# Forward passes against torch
# --------------------------------------------------------------------------------------


def test_pool_layers_call_the_functions(rng):
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    np.testing.assert_array_equal(nn.MaxPool2d(3, 2, 1)(x), pyconv.max_pool2d(x, 3, 2, 1))
    out, idx = nn.MaxPool2d(2, return_indices=True, ceil_mode=True)(x)
    want = pyconv.max_pool2d(x, 2, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(out, want[0])
    np.testing.assert_array_equal(idx, want[1])
    np.testing.assert_array_equal(
        nn.AvgPool2d(3, 2, 1, count_include_pad=False)(x),
        pyconv.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
    )
    np.testing.assert_array_equal(nn.AdaptiveAvgPool2d(2)(x), pyconv.adaptive_avg_pool2d(x, 2))
    np.testing.assert_array_equal(nn.AdaptiveMaxPool2d(2)(x), pyconv.adaptive_max_pool2d(x, 2))
    y = x[:, :, 0]
    np.testing.assert_array_equal(nn.MaxPool1d(2)(y), pyconv.max_pool1d(y, 2))
    np.testing.assert_array_equal(nn.AvgPool1d(3, 1, 1)(y), pyconv.avg_pool1d(y, 3, 1, 1))


def test_relu_keeps_nan_and_negative_zero_like_torch(torch):
    x = np.array([-2.0, -0.0, 0.0, 1.5, np.nan, -np.inf, np.inf], dtype=np.float32)
    want = torch.nn.functional.relu(torch.from_numpy(x)).numpy()
    got = nn.ReLU()(x)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_relu_by_hand_and_inplace():
    x = np.array([-2.0, -0.0, 3.0, np.nan])
    y = nn.ReLU()(x)
    np.testing.assert_array_equal(y, [0.0, -0.0, 3.0, np.nan])
    assert np.signbit(y[1])
    assert x[0] == -2.0  # not modified
    z = nn.ReLU(inplace=True)(x)
    assert z is x
    assert x[0] == 0.0
    assert nn.ReLU()([[-1, 2]]).tolist() == [[0, 2]]  # array-likes too


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_compiled_path_layouts_and_threads(rng, dtype):
    from pyconv import _pool

    x = rng.standard_normal((3, 64, 40, 40)).astype(dtype)  # 307200: threaded in chunks
    x.reshape(-1)[::97] = -0.0
    x.reshape(-1)[::101] = np.nan
    want = np.where(x < 0, dtype(0), x)  # the rule, spelled out in NumPy
    outs = []
    for n in (1, 2):
        pyconv.set_num_threads(n)
        before = _pool.parallel_calls()
        outs.append(nn.ReLU()(x))
        assert _pool.parallel_calls() == before + (n > 1)
    for got in outs:
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
        assert got.dtype == dtype
    # odd layouts, and in place on one: the caller's array is updated
    view = x.transpose(0, 2, 3, 1)[:, ::2]
    np.testing.assert_array_equal(nn.ReLU()(view), want.transpose(0, 2, 3, 1)[:, ::2])
    nn.ReLU(inplace=True)(view)
    np.testing.assert_array_equal(
        x.transpose(0, 2, 3, 1)[:, ::2], want.transpose(0, 2, 3, 1)[:, ::2]
    )
    ints = np.array([-3, 0, 4])
    np.testing.assert_array_equal(nn.ReLU()(ints), [0, 0, 4])
    read_only = np.empty_like(x)
    read_only.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        _pool.relu(x, read_only, 1)


@pytest.mark.parametrize(
    ("shape", "start", "end"),
    [((2, 3, 4, 5), 1, -1), ((2, 3, 4, 5), 0, -1), ((2, 3, 4, 5), 2, 3), ((2, 0, 3), 1, -1),
     ((2, 3), -1, -1), ((4,), 0, 0)],
)  # fmt: skip
def test_flatten_matches_torch(torch, shape, start, end):
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    want = torch.flatten(torch.from_numpy(x), start, end).numpy()
    got = nn.Flatten(start, end)(x)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_flatten_errors():
    with pytest.raises(IndexError, match=r"expected to be in range of \[-1, 0\], but got 1"):
        nn.Flatten()(np.zeros(3))
    with pytest.raises(ValueError, match="start_dim cannot come after end_dim"):
        nn.Flatten(2, 1)(np.zeros((2, 3, 4)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 7), (7,), (2, 3, 7)])
def test_linear_matches_torch(torch, rng, dtype, bias, shape):
    ref = torch.nn.Linear(7, 4, bias=bias).to(
        torch.float64 if dtype == np.float64 else torch.float32
    )
    layer = nn.Linear(7, 4, bias=bias, dtype=dtype)
    layer.load_state_dict(ref.state_dict())
    x = rng.standard_normal(shape).astype(dtype)
    got = layer(x)
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    assert got.dtype == dtype
    assert got.shape == want.shape
    # a dot product of length 7: both within 2 (K + 1) eps sum|x w| + |b| of the exact value
    exact = x.astype(np.float64) @ layer.weight.T.astype(np.float64)
    mag = np.abs(x.astype(np.float64)) @ np.abs(layer.weight.T.astype(np.float64))
    if bias:
        exact = exact + layer.bias
        mag = mag + np.abs(layer.bias)
    bound = 2 * 8 * np.finfo(dtype).eps * mag
    assert np.all(np.abs(got - exact) <= bound)
    assert np.all(np.abs(want - exact) <= bound)


def test_linear_by_hand_and_errors():
    fc = nn.Linear(2, 2)
    fc.weight[...] = [[1.0, 2.0], [3.0, 4.0]]
    fc.bias[...] = [0.5, -0.5]
    np.testing.assert_array_equal(fc(np.array([[1.0, 1.0]], np.float32)), [[3.5, 6.5]])
    with pytest.raises(
        ValueError, match=r"mat1 and mat2 shapes cannot be multiplied \(4x3 and 2x2\)"
    ):
        fc(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(
        TypeError, match="mat1 and mat2 must have the same dtype, but got Double and Float"
    ):
        fc(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="at least 1D"):
        fc(np.float32(1.0))
    with pytest.raises(TypeError, match="in_features must be an int"):
        nn.Linear(2.0, 3)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        nn.Linear(2, 3, dtype=np.int32)


def test_linear_init_distribution():
    fc = nn.Linear(100, 50, rng=0)
    bound = 1 / np.sqrt(100)
    assert np.abs(fc.weight).max() <= bound
    assert np.abs(fc.bias).max() <= bound
    assert fc.weight.std() > 0.8 * bound / np.sqrt(3)  # uniform: std = bound / sqrt(3)


class _FakeBlas:
    """A BLAS controller that records the thread counts set, as threadpoolctl's do."""

    def __init__(self, n):
        self.n, self.during = n, []

    def get_num_threads(self):
        return self.n

    def set_num_threads(self, n):
        self.n = n


def test_linear_runs_its_product_with_the_blas_on_one_thread(monkeypatch):
    from pyconv import _blas

    fake = _FakeBlas(4)
    monkeypatch.setattr(_blas, "_libs", [fake])
    fc = nn.Linear(6, 3, rng=0)
    x = np.random.default_rng(1).standard_normal((2, 6)).astype(np.float32)
    weight = fc.weight

    class Spy(np.ndarray):  # x @ weight.T reaches the subclass's reflected product first
        def __rmatmul__(self, other):
            fake.during.append(fake.n)
            return np.matmul(other, np.asarray(self))

    fc.weight = weight.view(Spy)
    y = fc(x)
    assert fake.during == [1], "the product ran with the BLAS's own thread count"
    assert fake.n == 4, "the BLAS thread count was not restored"
    np.testing.assert_allclose(np.asarray(y), x @ weight.T + fc.bias, rtol=1e-6)


def test_one_blas_thread_restores_the_count_after_nesting_threads_and_errors(monkeypatch):
    import threading

    from pyconv import _blas

    fake = _FakeBlas(3)
    monkeypatch.setattr(_blas, "_libs", [fake])
    inside = threading.Barrier(2)
    seen = []

    def worker():
        with _blas.one_blas_thread():
            inside.wait()  # both threads inside at once
            seen.append(fake.n)
            inside.wait()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [1, 1]
    assert fake.n == 3

    def fail():
        with _blas.one_blas_thread(), _blas.one_blas_thread():
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fail()
    assert fake.n == 3


def test_one_blas_thread_on_numpys_own_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from pyconv import _blas

    if not _blas._blas_libraries():
        pytest.skip("threadpoolctl finds no BLAS it can drive in this NumPy")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = [i["num_threads"] for i in threadpoolctl.threadpool_info()
                  if i["user_api"] == "blas"]  # fmt: skip
        with _blas.one_blas_thread():
            during = [i["num_threads"] for i in threadpoolctl.threadpool_info()
                      if i["user_api"] == "blas"]  # fmt: skip
        after = [i["num_threads"] for i in threadpoolctl.threadpool_info()
                 if i["user_api"] == "blas"]  # fmt: skip
    assert set(during) == {1}
    assert after == before


def _torch_bn(torch, c, dtype, rng, **kwargs):
    bn = torch.nn.BatchNorm2d(c, **kwargs).to(
        torch.float64 if dtype == np.float64 else torch.float32
    )
    with torch.no_grad():
        if bn.weight is not None:
            bn.weight.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, c)))
        if bn.bias is not None:
            bn.bias.copy_(torch.from_numpy(rng.standard_normal(c)))
        bn.running_mean.copy_(torch.from_numpy(rng.standard_normal(c)))
        bn.running_var.copy_(torch.from_numpy(rng.uniform(0.1, 3.0, c)))
        bn.num_batches_tracked.fill_(17)
    return bn.eval()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [{}, {"affine": False}, {"bias": False}, {"eps": 1e-3}])
def test_batchnorm_matches_torch_eval(torch, rng, dtype, kwargs):
    ref = _torch_bn(torch, 5, dtype, rng, **kwargs)
    bn = nn.BatchNorm2d(5, dtype=dtype, **kwargs)
    assert list(bn.state_dict()) == list(ref.state_dict())
    bn.load_state_dict(ref.state_dict())
    assert bn.num_batches_tracked == 17
    x = rng.standard_normal((2, 5, 4, 3)).astype(dtype)
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    got = bn(x)
    assert got.dtype == dtype
    # (x - mean) * s + b: a few roundings of values of size |x s| + |mean s| + |b|
    mag = (np.abs(x) + np.abs(bn.running_mean)[:, None, None]) / np.sqrt(
        bn.running_var[:, None, None] + bn.eps
    )
    if bn.weight is not None:
        mag = mag * np.abs(bn.weight)[:, None, None]
    if bn.bias is not None:
        mag = mag + np.abs(bn.bias)[:, None, None]
    np.testing.assert_array_less(np.abs(got - want), 8 * np.finfo(dtype).eps * mag + 1e-300)


def test_batchnorm_by_hand_and_errors():
    bn = nn.BatchNorm2d(2, eps=0.0, dtype=np.float64)
    bn.running_mean[...] = [1.0, -1.0]
    bn.running_var[...] = [4.0, 0.25]
    bn.weight[...] = [1.0, 2.0]
    bn.bias[...] = [0.0, 10.0]
    x = np.ones((1, 2, 1, 1))
    np.testing.assert_allclose(bn(x).ravel(), [0.0, 10.0 + 2.0 * 2.0 / 0.5])
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        bn(np.ones((2, 1, 1)))
    with pytest.raises(ValueError, match="running_mean should contain 3 elements not 2"):
        bn(np.ones((1, 3, 1, 1)))
    with pytest.raises(TypeError, match="convert one with"):
        bn(np.ones((1, 2, 1, 1), np.float32))
    with pytest.raises(ValueError, match="track_running_stats must be True"):
        nn.BatchNorm2d(2, track_running_stats=False)


# --------------------------------------------------------------------------------------
# Models: state-dict names, loading, containers
# --------------------------------------------------------------------------------------


class Block(nn.Module):
    def __init__(self):
        self.conv = pyconv.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.skip = None  # not a layer: ignored

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


def _torch_block(torch):
    class TorchBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)
            self.bn = torch.nn.BatchNorm2d(4)
            self.relu = torch.nn.ReLU()
            self.skip = None

        def forward(self, x):
            return self.relu(self.bn(self.conv(x)))

    return TorchBlock


def _models(torch):
    tblock = _torch_block(torch)
    ref = torch.nn.Sequential(
        tblock(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 3)
    )
    ours = nn.Sequential(Block(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    return ref, ours


def test_model_names_repr_and_outputs_match_torch(torch, rng):
    ref, ours = _models(torch)
    with torch.no_grad():  # non-trivial statistics
        ref[0].bn.running_mean.uniform_(-1, 1)
        ref[0].bn.running_var.uniform_(0.5, 2)
    ref.eval()
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert repr(ours).replace("Block", "TorchBlock") == repr(ref)
    result = ours.load_state_dict(ref.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []  # noqa: PT018
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(x), want, rtol=1e-5, atol=1e-5)


def test_load_state_dict_from_a_file_and_strictness(tmp_path, rng):
    model = nn.Sequential(Block(), nn.Flatten(), nn.Linear(4, 2))
    state = {k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in model.state_dict().items()}
    path = tmp_path / "weights.npz"
    np.savez(path, **state)
    model.load_state_dict(path)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, state[key])
    # the state dict holds the layers' own arrays: loading wrote into them
    assert model.state_dict()["0.conv.weight"] is model[0].conv.weight

    del state["2.bias"]
    state["extra"] = np.zeros(1)
    state["2.weight"] = np.zeros((3, 4))
    with pytest.raises(ValueError, match="Error") as info:
        model.load_state_dict(state)
    assert str(info.value) == (
        "Error(s) in loading state_dict for Sequential:\n"
        '\tMissing key(s) in state_dict: "2.bias". \n'
        '\tUnexpected key(s) in state_dict: "extra". \n'
        "\tsize mismatch for 2.weight: copying a param with shape torch.Size([3, 4]) from "
        "checkpoint, the shape in current model is torch.Size([2, 4])."
    )
    state["2.weight"] = np.zeros((2, 4))
    keys = model.load_state_dict(state, strict=False)
    assert keys.missing_keys == ["2.bias"]
    assert keys.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model[2].weight, 0)


def test_strict_loading_message_is_torchs(torch):
    ref, ours = _models(torch)
    state = dict(ref.state_dict())
    del state["3.bias"]
    state["3.weight"] = torch.zeros(2, 64)
    state["bogus"] = torch.zeros(1)
    with pytest.raises(RuntimeError) as want:
        ref.load_state_dict(state)
    with pytest.raises(ValueError, match="Error") as got:
        ours.load_state_dict(state)
    assert str(got.value) == str(want.value)


def test_sequential_container():
    layers = [nn.ReLU(), nn.Flatten(), nn.Identity()]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3
    assert list(seq) == layers
    assert seq[1] is layers[1]
    assert seq[-1] is layers[2]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential)
    assert [name for name, _ in sub.named_children()] == ["1", "2"]
    named = nn.Sequential({"act": nn.ReLU(), "flat": nn.Flatten()})
    assert list(dict(named.named_children())) == ["act", "flat"]
    np.testing.assert_array_equal(named(np.array([[[-1.0, 2.0]]])), [[0.0, 2.0]])
    with pytest.raises(TypeError, match="'1' is a function, not a layer"):
        nn.Sequential(nn.ReLU(), lambda x: x)
    assert nn.Sequential().eval()(5) == 5
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        nn.Module()(1)


def test_layers_are_exported_from_pyconv_and_nn():
    for name in ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "MaxPool1d",
                 "AvgPool1d", "ReLU", "Flatten", "Linear", "BatchNorm2d", "Sequential", "Module",
                 "Identity"]:  # fmt: skip
        assert getattr(pyconv, name) is getattr(nn, name)
        assert name in pyconv.__all__
        assert name in nn.__all__


@pytest.mark.parametrize(
    "name", ["pyconv.pooling", "pyconv.layers", "pyconv._module", "pyconv.fold", "pyconv.export"]
)
def test_docstring_examples(name, tmp_path, monkeypatch):
    import doctest
    import importlib

    monkeypatch.chdir(tmp_path)  # pyconv.export's example writes a file
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(importlib.import_module(name), optionflags=flags)
    assert result.attempted > 0
    assert result.failed == 0
