"""Batch-norm folding (pyconv.fold) and the weight files (pyconv.export).

Folding is checked against the exact conv + batch norm, computed in higher precision from
the unfolded parameters: the folded convolution must satisfy the accuracy contract
``|got - exact| <= 2 (K + 1) eps A`` with ``A = conv(|x|, |w'|) + |b'|`` for the folded
``w'``, ``b'``; and torch's own conv + batch norm (eval mode) must satisfy it too, which
shows the reference has torch's semantics.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

import pyconv
from pyconv import nn
from pyconv.export import load_state_dict, save_state_dict
from pyconv.testing import compare_to_exact, exact_conv2d

WORK = {np.float32: np.float64, np.float64: np.longdouble}


def _bn_params(rng, c, affine=True):
    return {
        "bn_weight": rng.uniform(0.3, 3.0, c) if affine else None,
        "bn_bias": rng.standard_normal(c) if affine else None,
        "running_mean": rng.standard_normal(c),
        "running_var": rng.uniform(0.05, 4.0, c),
        "eps": 1e-5,
    }


def _exact_conv_bn(x, w, b, bn, stride, padding, groups, dtype):
    """The unfolded computation, exactly: conv in high precision, then the batch norm."""
    exact, _, _, _ = exact_conv2d(x, w, b, stride, padding, 1, groups)
    work = WORK[dtype]
    c = w.shape[0]
    gamma = np.ones(c, work) if bn["bn_weight"] is None else bn["bn_weight"].astype(work)
    beta = np.zeros(c, work) if bn["bn_bias"] is None else bn["bn_bias"].astype(work)
    mean, var = bn["running_mean"].astype(work), bn["running_var"].astype(work)
    scale = gamma / np.sqrt(var + work(bn["eps"]))
    shape = (1, c, 1, 1) if exact.ndim == 4 else (c, 1, 1)
    return (exact - mean.reshape(shape)) * scale.reshape(shape) + beta.reshape(shape)


CASES = [
    # (N, C_in, H, W), C_out, k, stride, padding, groups, conv bias, affine
    ((2, 3, 9, 9), 8, 3, 1, 1, 1, False, True),
    ((1, 16, 12, 10), 32, 3, 2, 1, 1, True, True),
    ((2, 8, 7, 7), 8, 3, 1, 1, 8, False, True),  # depthwise
    ((1, 6, 8, 8), 12, 1, 1, 0, 2, True, False),  # 1x1, groups, BN without affine
    ((3, 5, 5), 4, 5, 1, 2, 1, True, True),  # unbatched
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_folded_conv_is_within_the_contract_of_conv_then_bn(rng, dtype, case):
    shape, cout, k, stride, padding, groups, has_bias, affine = case
    cin = shape[-3]
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((cout, cin // groups, k, k)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype) if has_bias else None
    bn = _bn_params(rng, cout, affine)
    fw, fb = pyconv.fold_batchnorm(w, b, **bn)
    assert fw.dtype == dtype
    assert fb.dtype == dtype
    got = pyconv.conv2d(x, fw, fb, stride, padding, 1, groups)
    exact = _exact_conv_bn(x, w, b, bn, stride, padding, groups, dtype)
    _, magnitude, K, _ = exact_conv2d(x, fw, fb, stride, padding, 1, groups)
    report = compare_to_exact(got, exact, magnitude, K, dtype)
    assert report["ok"], report


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_conv_bn_eval_meets_the_same_contract(torch, rng, dtype):
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    conv = torch.nn.Conv2d(16, 24, 3, stride=2, padding=1, bias=True).to(tdtype)
    bn = torch.nn.BatchNorm2d(24).to(tdtype)
    params = _bn_params(rng, 24)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(params["bn_weight"]))
        bn.bias.copy_(torch.from_numpy(params["bn_bias"]))
        bn.running_mean.copy_(torch.from_numpy(params["running_mean"]))
        bn.running_var.copy_(torch.from_numpy(params["running_var"]))
    bn.eval()
    x = rng.standard_normal((2, 16, 15, 15)).astype(dtype)
    with torch.no_grad():
        want = bn(conv(torch.from_numpy(x))).numpy()
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    # the layer form, fed torch's own modules
    layer = pyconv.Conv2d(16, 24, 3, stride=2, padding=1, dtype=dtype)
    layer.load_state_dict(conv.state_dict())
    fused = pyconv.fuse_conv_bn_eval(layer, bn)
    got = fused(x)
    exact = _exact_conv_bn(x, w, b, params, 2, 1, 1, dtype)
    _, magnitude, K, _ = exact_conv2d(x, fused.weight, fused.bias, 2, 1)
    assert compare_to_exact(got, exact, magnitude, K, dtype)["ok"]
    assert compare_to_exact(want, exact, magnitude, K, dtype)["ok"]


def test_fold_by_hand():
    w = np.array([[[[1.0, 2.0]]], [[[3.0, -1.0]]]])  # (2, 1, 1, 2)
    fw, fb = pyconv.fold_batchnorm(
        w, [1.0, 0.0], [2.0, 1.0], [0.5, 0.0], running_mean=[1.0, 2.0], running_var=[4.0, 1.0],
        eps=0.0,
    )  # fmt: skip
    # channel 0: s = 2 / 2 = 1, b' = (1 - 1) * 1 + 0.5; channel 1: s = 1, b' = (0 - 2) + 0
    np.testing.assert_array_equal(fw, w)
    np.testing.assert_array_equal(fb, [0.5, -2.0])
    fw, fb = pyconv.fold_batchnorm(w, None, None, None, [0.0, 0.0], [0.25, 0.25], eps=0.0)
    np.testing.assert_array_equal(fw, 2 * w)  # s = 1 / sqrt(0.25)
    np.testing.assert_array_equal(fb, [0.0, 0.0])


def test_fuse_with_a_pyconv_batchnorm_and_a_padding_mode(rng):
    conv = pyconv.Conv2d(3, 4, 3, padding=1, padding_mode="reflect", bias=False, rng=1)
    bn = nn.BatchNorm2d(4)
    for name, value in _bn_params(rng, 4).items():
        if name != "eps":
            getattr(bn, {"bn_weight": "weight", "bn_bias": "bias"}.get(name, name))[...] = value
    fused = pyconv.fuse_conv_bn_eval(conv, bn)
    assert repr(fused) == repr(conv).replace(", bias=False", "")
    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(fused(x), bn(conv(x)), rtol=1e-5, atol=1e-5)
    assert conv.bias is None  # the original is left alone


def test_fold_errors():
    w = np.ones((2, 1, 1, 1), np.float32)
    ok = {"running_mean": np.zeros(2), "running_var": np.ones(2)}
    with pytest.raises(ValueError, match=r"running_var must have shape \(2,\) .* has shape \(3,\)"):
        pyconv.fold_batchnorm(w, None, None, None, np.zeros(2), np.ones(3))
    with pytest.raises(ValueError, match=r"must be positive, but is -0\.5 for channel 1"):
        pyconv.fold_batchnorm(w, None, None, None, np.zeros(2), [1.0, -0.5], eps=0.0)
    with pytest.raises(TypeError, match="conv_weight must be float32 or float64"):
        pyconv.fold_batchnorm(w.astype(np.int64), None, None, None, **ok)
    with pytest.raises(ValueError, match=r"conv_weight must have shape \(C_out"):
        pyconv.fold_batchnorm(w[0], None, None, None, **ok)
    with pytest.raises(TypeError, match="bn_weight must be real numbers"):
        pyconv.fold_batchnorm(w, None, ["a", "b"], None, **ok)


# --------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------


def _torch_model(torch):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 4 * 4, 3),
    )
    model[1].num_batches_tracked.fill_(5)
    return model.eval()


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_torch_model_round_trip_without_torch_on_the_way_back(torch, tmp_path, suffix):
    pytest.importorskip("safetensors")
    model = _torch_model(torch)
    path = tmp_path / f"model{suffix}"
    names = save_state_dict(model, path)
    assert names == list(model.state_dict())
    loaded = load_state_dict(path)
    if suffix == ".npz":
        assert list(loaded) == names  # in order
    assert sorted(loaded) == sorted(names)  # safetensors orders by dtype and size
    for key, tensor in model.state_dict().items():
        assert loaded[key].dtype == tensor.numpy().dtype
        np.testing.assert_array_equal(loaded[key], tensor.numpy())
    assert loaded["1.num_batches_tracked"].shape == ()
    assert loaded["1.num_batches_tracked"] == 5
    ours = nn.Sequential(
        pyconv.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3)
    )
    ours.load_state_dict(path)  # strict: every name matches
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(x), want, rtol=1e-5, atol=1e-5)


def test_npz_holds_plain_arrays_only(tmp_path, rng):
    state = {"a.weight": rng.standard_normal((2, 3)), "a.count": np.array(3, np.int64)}
    path = tmp_path / "w.npz"
    save_state_dict(state, path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["a.count.npy", "a.weight.npy"]
    with np.load(path, allow_pickle=False) as data:  # nothing needs pickle
        np.testing.assert_array_equal(data["a.weight"], state["a.weight"])
    # a pyconv model saves and loads the same way
    model = nn.Sequential(nn.Linear(3, 2, rng=0))
    save_state_dict(model, tmp_path / "m.npz")
    assert list(load_state_dict(tmp_path / "m.npz")) == ["0.weight", "0.bias"]


def test_npz_keeps_names_that_are_savez_parameters(tmp_path):
    # np.savez(f, **arrays) took these as its own arguments: 'allow_pickle' vanished, 'file'
    # raised
    state = {"file": np.arange(3.0), "allow_pickle": np.ones(2), "args": np.zeros(1)}
    save_state_dict(state, tmp_path / "k.npz")
    got = load_state_dict(tmp_path / "k.npz")
    assert list(got) == list(state)
    for name, value in state.items():
        np.testing.assert_array_equal(got[name], value)


def test_bfloat16_is_widened_exactly(torch, tmp_path):
    t = torch.tensor([1.5, -2.25, 3.0e38], dtype=torch.bfloat16)
    save_state_dict({"w": t}, tmp_path / "b.npz")
    got = load_state_dict(tmp_path / "b.npz")["w"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, t.float().numpy())


def test_export_errors(tmp_path):
    with pytest.raises(ValueError, match=r"must end in \.npz or \.safetensors.*w\.pt'"):
        save_state_dict({"w": np.zeros(1)}, tmp_path / "w.pt")
    with pytest.raises(TypeError, match="'w' has dtype <U1"):
        save_state_dict({"w": np.array(["a"])}, tmp_path / "w.npz")
    with pytest.raises(TypeError, match="expected a model"):
        save_state_dict(42, tmp_path / "w.npz")
    with pytest.raises(ValueError, match=r"must end in \.npz"):
        load_state_dict(tmp_path / "w.bin")
    # an archive that would need pickle is refused, naming the file
    np.savez(tmp_path / "p.npz", w=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"could not read weights from .*p\.npz"):
        load_state_dict(tmp_path / "p.npz")
    with pytest.raises(FileNotFoundError):
        load_state_dict(tmp_path / "missing.npz")
