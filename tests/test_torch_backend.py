"""The ``torch`` backend: ``torch.nn.functional.conv2d`` behind pyconv's front end.

NumPy in gives NumPy out, sharing the input's memory where ``torch.from_numpy`` can; a
tensor in stays a tensor on its device.  The CUDA test runs only where a GPU is present.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import pyconv
from pyconv import BackendUnavailableError

try:
    import torch
    import torch.nn.functional as F  # noqa: N812 - torch's own convention

    import pyconv._backends.torch as tb
except ImportError:  # every test here is marked `torch`: tests/conftest.py skips and counts them
    torch = F = tb = None
HAS_CUDA = torch is not None and torch.cuda.is_available()

pytestmark = pytest.mark.torch
needs_cuda = pytest.mark.skipif(
    not HAS_CUDA, reason="needs a CUDA GPU (torch.cuda.is_available() is False)"
)


@pytest.fixture(autouse=True)
def _fresh_registry():
    pyconv.set_backend(None)
    yield
    pyconv.set_backend(None)
    pyconv.refresh_backends()


def torch_ref(x, w, b=None, **kw):
    """F.conv2d on copies of NumPy arrays (torch's 'same' with an even kernel warns)."""
    t = [None if a is None else torch.from_numpy(np.array(a)) for a in (x, w, b)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return F.conv2d(*t, **kw).numpy()


CASES = [
    # (input shape, weight shape, kwargs)
    ((2, 3, 9, 8), (4, 3, 3, 3), {}),
    ((1, 4, 10, 11), (6, 2, 3, 2), {"stride": (2, 1), "padding": (1, 2), "groups": 2}),
    ((2, 3, 12, 12), (5, 3, 3, 3), {"dilation": 2, "padding": 2}),
    ((1, 4, 7, 7), (4, 1, 3, 3), {"groups": 4, "padding": "same"}),
    ((1, 2, 7, 6), (3, 2, 4, 2), {"padding": "same"}),  # asymmetric: padded explicitly
    ((1, 2, 7, 6), (3, 2, 2, 2), {"padding": "valid", "stride": 3}),
]


@pytest.mark.parametrize(("xs", "ws", "kw"), CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [False, True])
def test_numpy_in_numpy_out_equals_torch(rng, xs, ws, kw, dtype, bias):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if bias else None
    out = pyconv.conv2d(x, w, b, **kw, backend="torch")
    expected = torch_ref(x, w, b, **kw)
    assert type(out) is np.ndarray
    assert out.dtype == dtype
    assert out.shape == expected.shape
    if kw.get("padding") == "same" and (ws[2] % 2 == 0 or ws[3] % 2 == 0):
        # torch pads differently inside its 'same'; the sums are the same, the order may not be
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    else:
        assert_array_equal(out, expected)


def test_unbatched_numpy_and_use_backend(rng):
    x = rng.standard_normal((3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    with pyconv.use_backend("torch"):
        out = pyconv.conv2d(x, w, padding=1)
    assert type(out) is np.ndarray
    assert out.shape == (2, 6, 6)
    assert_array_equal(out, torch_ref(x[None], w, padding=1)[0])


@pytest.fixture
def seen(monkeypatch):
    """Capture the tensors the backend hands to F.conv2d."""
    calls = []
    real = F.conv2d

    def spy(x, w, b=None, *args):
        calls.append((x, w, b))
        return real(x, w, b, *args)

    monkeypatch.setattr(tb.F, "conv2d", spy)
    return calls


def test_numpy_inputs_are_shared_not_copied(rng, seen):
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    assert x.flags.c_contiguous
    assert w.flags.c_contiguous
    pyconv.conv2d(x, w, b, backend="torch")
    ((tx, tw, tbias),) = seen
    assert tx.data_ptr() == x.ctypes.data
    assert tw.data_ptr() == w.ctypes.data
    assert tbias.data_ptr() == b.ctypes.data


def test_strided_view_is_shared_too(rng, seen):
    base = rng.standard_normal((2, 3, 16, 16)).astype(np.float64)
    x = base[:, :, ::2, 1::3]  # positive strides: from_numpy takes the view as it is
    w = rng.standard_normal((2, 3, 3, 3))
    out = pyconv.conv2d(x, w, backend="torch")
    ((tx, _, _),) = seen
    assert tx.data_ptr() == x.ctypes.data
    assert_array_equal(out, torch_ref(x, w))


def test_read_only_and_negative_stride_arrays_are_copied(rng, seen):
    x = rng.standard_normal((1, 2, 7, 7)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    before = x.copy()
    ro = x.copy()
    ro.flags.writeable = False
    flipped = x[:, :, ::-1, ::-1]
    wro = w.copy()
    wro.flags.writeable = False
    # no "non-writable array" warning from torch (warnings are errors here)
    assert_array_equal(pyconv.conv2d(ro, wro, backend="torch"), torch_ref(x, w))
    assert_array_equal(pyconv.conv2d(flipped, w[..., ::-1], backend="torch"), torch_ref(
        flipped, w[..., ::-1]))  # fmt: skip
    bcast = np.broadcast_to(x[:, :1], x.shape)  # zero strides, read-only
    assert_array_equal(pyconv.conv2d(bcast, w, backend="torch"), torch_ref(bcast, w))
    assert seen[0][0].data_ptr() != ro.ctypes.data
    assert seen[1][0].data_ptr() != flipped.ctypes.data
    assert_array_equal(x, before)


# ---- tensors stay tensors -----------------------------------------------------------------


@pytest.fixture
def tensors():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, 8, generator=g)
    w = torch.randn(4, 3, 3, 3, generator=g)
    b = torch.randn(4, generator=g)
    return x, w, b


@pytest.mark.parametrize("weight_as", ["tensor", "numpy"])
@pytest.mark.parametrize("with_bias", [False, True])
def test_tensor_in_tensor_out(tensors, weight_as, with_bias):
    x, w, b = tensors
    b = b if with_bias else None
    ww = w if weight_as == "tensor" else w.numpy()
    bb = b if (b is None or weight_as == "tensor") else b.numpy()
    out = pyconv.conv2d(x, ww, bb, stride=2, padding=1, backend="torch")
    assert isinstance(out, torch.Tensor)
    assert out.device == x.device
    assert out.dtype == x.dtype
    assert torch.equal(out, F.conv2d(x, w, b, stride=2, padding=1))


def test_unbatched_tensor(tensors):
    x, w, b = tensors
    out = pyconv.conv2d(x[0], w, b, padding="same", backend="torch")
    assert isinstance(out, torch.Tensor)
    assert out.shape == (4, 8, 8)
    assert torch.equal(out, F.conv2d(x[:1], w, b, padding=1)[0])


def test_tensor_in_with_use_backend_and_float64(tensors):
    x, w, _ = tensors
    with pyconv.use_backend("torch", device="cpu"):
        out = pyconv.conv2d(x.double(), w.double())
    assert out.dtype == torch.float64
    assert torch.equal(out, F.conv2d(x.double(), w.double()))


def test_gradients_flow_through_tensor_inputs(tensors):
    x, w, _ = tensors
    x = x.clone().requires_grad_(True)
    w = w.clone().requires_grad_(True)
    pyconv.conv2d(x, w, backend="torch").sum().backward()
    assert x.grad is not None
    assert w.grad is not None
    assert x.grad.shape == x.shape


def test_numpy_input_with_a_tensor_weight_gives_numpy(tensors):
    x, w, b = tensors
    out = pyconv.conv2d(x.numpy(), w, b, backend="torch")
    assert type(out) is np.ndarray
    assert_array_equal(out, F.conv2d(x, w, b).numpy())


def test_arrays_mixed_with_tensors_are_normalised_as_arrays_are(tensors):
    x, w, b = tensors
    expected = F.conv2d(x, w, b).numpy()
    big_endian = x.numpy().astype(">f4")  # torch.from_numpy refuses this byte order
    assert_array_equal(pyconv.conv2d(big_endian, w, b, backend="torch"), expected)
    out = pyconv.conv2d(big_endian[0], w, b.numpy(), backend="torch")
    assert out.shape == expected.shape[1:]
    assert_array_equal(out, F.conv2d(x[:1], w, b)[0].numpy())  # batch 1: torch's own rounding
    nested = x.double().numpy()[0].tolist()  # a list is float64, as numpy.asarray makes it
    out = pyconv.conv2d(nested, w.double(), backend="torch")
    assert_array_equal(out, F.conv2d(x[:1].double(), w.double())[0].numpy())


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("unbatched", [False, True])
def test_conv2d_layer_on_tensors(tensors, padding_mode, unbatched):
    x, _, _ = tensors
    x = x[0] if unbatched else x
    layer = pyconv.Conv2d(3, 4, 3, padding=1, padding_mode=padding_mode, rng=0, backend="torch")
    ref = torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode=padding_mode)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(layer.weight))
        ref.bias.copy_(torch.from_numpy(layer.bias))
        expected = ref(x)
    out = layer(x)
    assert isinstance(out, torch.Tensor)
    assert out.shape == expected.shape
    assert torch.equal(out, expected)


# ---- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", [None, "numpy", "cython"])
def test_tensor_with_a_numpy_backend_says_to_select_torch(tensors, backend):
    x, w, _ = tensors
    for args in ((x, w), (x, w.numpy()), (x.numpy(), w)):
        with pytest.raises(TypeError, match="select the torch backend") as exc:
            pyconv.conv2d(*args, backend=backend)
        assert "got a torch.Tensor" in str(exc.value)
    with pytest.raises(TypeError, match="select the torch backend"):
        pyconv.Conv2d(3, 4, 3, backend=backend)(x)


BAD_CALLS = {
    "channel-mismatch": ((1, 3, 8, 8), (4, 2, 3, 3), {}),
    "rank": ((8, 8), (4, 3, 3, 3), {}),
    "weight-rank": ((1, 3, 8, 8), (4, 3, 3), {}),
    "groups": ((1, 4, 8, 8), (3, 2, 3, 3), {"groups": 2}),
    "kernel-too-large": ((1, 3, 2, 2), (4, 3, 3, 3), {}),
    "bias-size": ((1, 3, 8, 8), (4, 3, 3, 3), {"bias": 5}),
    "same-strided": ((1, 3, 8, 8), (4, 3, 3, 3), {"padding": "same", "stride": 2}),
    "negative-padding": ((1, 3, 8, 8), (4, 3, 3, 3), {"padding": -1}),
    "dtype-mismatch": ((1, 3, 8, 8), (4, 3, 3, 3), {"wdtype": np.float64}),
    "int-dtype": ((1, 3, 8, 8), (4, 3, 3, 3), {"xdtype": np.int64, "wdtype": np.int64}),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_tensor_validation_errors_match_array_errors(case):
    xs, ws, kw = BAD_CALLS[case]
    kw = dict(kw)
    x = np.ones(xs, dtype=kw.pop("xdtype", np.float32))
    w = np.ones(ws, dtype=kw.pop("wdtype", np.float32))
    nb = kw.pop("bias", None)
    b = None if nb is None else np.ones(nb, dtype=np.float32)
    with pytest.raises((TypeError, ValueError)) as from_arrays:
        pyconv.conv2d(x, w, b, **kw, backend="torch")
    t = [None if a is None else torch.from_numpy(a) for a in (x, w, b)]
    with pytest.raises(type(from_arrays.value)) as from_tensors:
        pyconv.conv2d(*t, **kw, backend="torch")
    assert str(from_tensors.value) == str(from_arrays.value)
    if case == "channel-mismatch":
        assert "expected input[1, 3, 8, 8] to have 2 channels, but got 3 channels" in str(
            from_tensors.value
        )


def test_bfloat16_tensor_is_a_type_error(tensors):
    x, w, _ = tensors
    with pytest.raises(TypeError, match=r"tensor dtype torch.bfloat16 is not supported"):
        pyconv.conv2d(x.bfloat16(), w.bfloat16(), backend="torch")


@pytest.mark.skipif(HAS_CUDA, reason="checks the error when CUDA is missing")
def test_cuda_device_without_cuda_is_a_clear_error():
    for select in (
        lambda: pyconv.use_backend("torch", device="cuda").__enter__(),
        lambda: pyconv.set_backend("torch", device="cuda"),
    ):
        with pytest.raises(BackendUnavailableError, match="device='cuda' was asked for") as exc:
            select()
        assert "torch.cuda.is_available() is False" in str(exc.value)
        assert isinstance(exc.value.__cause__, RuntimeError)
    assert pyconv._registry.current_backend_name() == "cython"


def test_bad_device_option():
    with pytest.raises(TypeError, match="rejected the options"):
        pyconv.use_backend("torch", devices="cpu").__enter__()
    with pytest.raises((BackendUnavailableError, ValueError), match="tpu9"):
        pyconv.use_backend("torch", device="tpu9").__enter__()


@needs_cuda
def test_cuda_matches_cpu(rng):
    x = rng.standard_normal((2, 3, 16, 16))
    w = rng.standard_normal((8, 3, 3, 3))
    b = rng.standard_normal(8)
    cpu = pyconv.conv2d(x, w, b, padding=1, backend="torch")
    with pyconv.use_backend("torch", device="cuda"):
        gpu = pyconv.conv2d(x, w, b, padding=1)  # NumPy in, computed on the GPU, NumPy out
    assert type(gpu) is np.ndarray
    np.testing.assert_allclose(gpu, cpu, rtol=1e-10, atol=1e-10)
    tx = torch.from_numpy(x).cuda()
    out = pyconv.conv2d(tx, w, torch.from_numpy(b).cuda(), padding=1, backend="torch")
    assert out.device.type == "cuda"  # tensors stay on their device
    np.testing.assert_allclose(out.cpu().numpy(), cpu, rtol=1e-10, atol=1e-10)
    layer = pyconv.Conv2d(
        3, 8, 3, padding=1, padding_mode="reflect", dtype=np.float64, rng=0, backend="torch"
    )
    out = layer(tx)
    assert out.device.type == "cuda"
    np.testing.assert_allclose(out.cpu().numpy(), layer(x), rtol=1e-10, atol=1e-10)


@pytest.mark.spawns_python
def test_without_torch_the_backend_is_unavailable_and_pyconv_works():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["torch"] = None  # as if torch were not installed
        import numpy as np
        import pyconv
        pyconv.refresh_backends()
        info = {b.name: b for b in pyconv.backends()}
        t = info["torch"]
        assert not t.available
        print("REASON:", t.reason)
        assert info["cython"].available and info["numpy"].available
        x = np.ones((1, 2, 5, 5), np.float32)
        w = np.ones((3, 2, 3, 3), np.float32)
        assert (pyconv.conv2d(x, w) == 18).all()
        assert (pyconv.conv2d(x, w, backend="numpy") == 18).all()
        assert (pyconv.Conv2d(2, 3, 3)(x)).shape == (1, 3, 3, 3)
        try:
            pyconv.conv2d(x, w, backend="torch")
        except pyconv.BackendUnavailableError as exc:
            print("ERROR:", exc)
        else:
            raise AssertionError("backend='torch' ran without torch")
        from pyconv.cli import main
        assert main(["backends"]) == 0
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYCONV_BACKEND"}
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    reason = "torch is not installed (pip install 'pyconv[torch]')"
    assert f"REASON: {reason}" in proc.stdout
    assert f"ERROR: backend 'torch' is unavailable: {reason}" in proc.stdout
    assert any(
        line.startswith("torch ") and "unavailable" in line for line in proc.stdout.splitlines()
    )


@pytest.mark.parametrize("with_bias", [False, True])
def test_zero_input_channels_follow_pyconv_not_torch(with_bias):
    """torch returns (N, 0, H_out, W_out) for C_in = 0; the torch *backend* gives pyconv's
    documented result, as every backend must (found by tests/test_fuzz.py)."""
    x = np.zeros((2, 0, 5, 5), np.float32)
    w = np.zeros((3, 0, 3, 3), np.float32)
    b = np.array([1.5, -2.0, 0.25], np.float32) if with_bias else None
    got = pyconv.conv2d(x, w, b, backend="torch")
    want = pyconv.conv2d(x, w, b, backend="numpy")
    assert got.shape == want.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(got, want)
    t = torch.zeros((2, 0, 5, 5))
    tw = torch.zeros((3, 0, 3, 3), requires_grad=True)
    out = pyconv.conv2d(t, tw, None if b is None else torch.from_numpy(b), backend="torch")
    assert isinstance(out, torch.Tensor)
    assert tuple(out.shape) == (2, 3, 3, 3)


@pytest.mark.spawns_python
def test_channels_last_numpy_input_does_not_crash_torch():
    """torch 2.13 segfaults on this channels-last input (found by tests/test_fuzz.py); the
    backend hands torch C-ordered copies of channels-last NumPy arrays.  Run in a
    subprocess, so that a regression fails this test instead of killing the run."""
    code = """
        import numpy as np, pyconv
        x = np.ones((2, 21, 1, 2), np.float32).transpose(0, 3, 1, 2)  # channels-last
        w, b = np.ones((1, 2, 5, 1), np.float32), np.ones(1, np.float32)
        out = pyconv.conv2d(x, w, b, stride=(1, 3), padding=(0, 2), dilation=(3, 2),
                            backend="torch")
        print(out.shape)
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["(2,", "1,", "9,", "2)"]


# ---- the rest of the family on tensors ------------------------------------------------


@pytest.mark.parametrize("unbatched", [False, True])
def test_family_tensor_in_tensor_out(tensors, unbatched):
    x, w, b = tensors
    x1 = x[:, :, 0] if not unbatched else x[0, :, 0]  # (N, C, L) / (C, L)
    out = pyconv.conv1d(x1, w[:, :, 0], b, padding=1, backend="torch")
    assert isinstance(out, torch.Tensor)
    assert torch.equal(out, F.conv1d(x1, w[:, :, 0], b, padding=1))
    wt = torch.randn(3, 2, 3, 3, generator=torch.Generator().manual_seed(1))
    xt = x[0] if unbatched else x
    out = pyconv.conv_transpose2d(xt, wt, None, 2, 1, 1, backend="torch")
    assert isinstance(out, torch.Tensor)
    assert out.shape == ((2, 16, 16) if unbatched else (2, 2, 16, 16))
    assert torch.equal(out, F.conv_transpose2d(xt, wt, None, 2, 1, 1))


def test_family_gradients_on_tensors_equal_torch_nn_grad(tensors):
    x, w, _ = tensors
    g = F.conv2d(x, w, stride=2, padding=1)
    with pyconv.use_backend("torch"):
        gi = pyconv.grad.conv2d_input(x.shape, w, g, stride=2, padding=1)
        gw = pyconv.grad.conv2d_weight(x, w.shape, g, stride=2, padding=1)
    assert isinstance(gi, torch.Tensor)
    assert isinstance(gw, torch.Tensor)
    assert torch.equal(gi, torch.nn.grad.conv2d_input(x.shape, w, g, 2, 1))
    assert torch.equal(gw, torch.nn.grad.conv2d_weight(x, w.shape, g, 2, 1))


def test_family_tensor_with_a_numpy_backend_says_to_select_torch(tensors):
    x, w, _ = tensors
    with pytest.raises(TypeError, match=r"conv_transpose2d\(\): got a torch.Tensor, but the "):
        pyconv.conv_transpose2d(x, w.transpose(0, 1), backend="cython")


@needs_cuda
def test_family_cuda_matches_cpu(rng):
    x = rng.standard_normal((2, 4, 9, 9))
    w = rng.standard_normal((4, 3, 3, 3))
    with pyconv.use_backend("torch", device="cuda"):
        gpu = pyconv.conv_transpose2d(x, w, None, 2, 1, 1)
        gw = pyconv.grad.conv2d_weight(x, (3, 4, 3, 3), rng.standard_normal((2, 3, 9, 9)),
                                       padding=1)  # fmt: skip
    assert type(gpu) is np.ndarray
    np.testing.assert_allclose(gpu, pyconv.conv_transpose2d(x, w, None, 2, 1, 1, backend="torch"),
                               rtol=1e-10, atol=1e-10)  # fmt: skip
    assert gw.shape == (3, 4, 3, 3)
    tx = torch.from_numpy(x).cuda()
    out = pyconv.conv_transpose2d(tx, torch.from_numpy(w).cuda(), None, 2, 1, 1, backend="torch")
    assert out.device.type == "cuda"
