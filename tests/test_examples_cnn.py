"""The two CNN examples: the digits classifier (torch-trained, run without torch) and ResNet-18.

The digits test needs neither torch nor scikit-learn: the weights, the test images and
torch's logits are committed beside the example.  With torch installed, the stored logits
are recomputed from the stored weights (they are torch's, not made up), and retraining
from scratch is checked to give files that pass the same test.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(relative: str):
    path = EXAMPLES / relative
    if not path.exists():
        pytest.skip("examples/ is not next to the tests (installed test run)")
    spec = importlib.util.spec_from_file_location(path.stem + "_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits():
    return _load("digits/infer.py")


def test_digits_inference_without_torch_matches_torchs_logits(digits):
    test = digits.load_test_set()
    n = len(test["labels"])
    assert test["images"].shape == (n, 1, 8, 8)
    assert n >= 300
    for model in (digits.load_model(), digits.fold_batchnorms(digits.load_model())):
        result = digits.evaluate(model, test)
        assert result["same_as_torch"] == n  # the same prediction on every test image
        assert result["max_logit_diff"] <= 1e-4
        assert result["accuracy"] >= 0.95  # a trained network, not a random one


def test_digits_folding_removes_the_batch_norms(digits):
    model = digits.load_model()
    folded = digits.fold_batchnorms(model)
    kinds = [type(layer).__name__ for layer in folded]
    assert "BatchNorm2d" not in kinds
    assert kinds.count("Conv2d") == 2
    assert len(folded) == len(model) - 2


def test_digits_script_prints_and_succeeds(digits, capsys):
    assert digits.main([]) == 0
    out = capsys.readouterr().out
    assert "predictions equal to torch's 360/360" in out
    assert out.count("accuracy") == 2


def test_digits_script_fails_on_a_wrong_reference(digits, tmp_path, capsys):
    test = digits.load_test_set()
    test["torch_logits"] = test["torch_logits"] + 1e-3  # as if pyconv were that far off
    np.savez(tmp_path / "test.npz", **test)
    assert digits.main(["--test-set", str(tmp_path / "test.npz")]) == 1


def test_stored_logits_are_torchs(torch, digits):
    pytest.importorskip("sklearn")  # train.py imports it at the top
    train = _load("digits/train.py")
    model = train.torch_model()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in np.load(
        EXAMPLES / "digits" / "digits_cnn.npz", allow_pickle=False
    ).items()})  # fmt: skip
    model.eval()
    test = digits.load_test_set()
    with torch.no_grad():
        logits = model(torch.from_numpy(test["images"])).numpy()
    # torch on another CPU may round differently in the last bits
    np.testing.assert_allclose(logits, test["torch_logits"], rtol=0, atol=1e-5)


@pytest.mark.spawns_python
def test_retraining_writes_files_that_pass(torch, tmp_path):
    pytest.importorskip("sklearn")
    script = EXAMPLES / "digits" / "train.py"
    if not script.exists():
        pytest.skip("examples/ is not next to the tests (installed test run)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYCONV_")}
    # a fresh process: training sets torch's global thread count and determinism flags
    proc = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path), "--epochs", "15"],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    infer = EXAMPLES / "digits" / "infer.py"
    proc = subprocess.run(
        [sys.executable, str(infer), "--weights", str(tmp_path / "digits_cnn.npz"),
         "--test-set", str(tmp_path / "digits_test.npz")],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------
# ResNet-18
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet(torch):
    return _load("resnet18.py")


def test_resnet18_end_to_end_within_1e4_relative(resnet, torch, tmp_path):
    tmodel = resnet.torch_resnet18(seed=1, calibration_size=32)
    assert sum(p.numel() for p in tmodel.parameters()) == 11_689_512  # torchvision's count
    model = resnet.convert(tmodel, str(tmp_path))
    # the file holds the torch model's names, and every batch norm was folded away
    assert list(np.load(tmp_path / "resnet18.npz").keys()) == list(tmodel.state_dict())
    assert "BatchNorm2d" not in repr(model)
    x = np.random.default_rng(1).standard_normal((2, 3, 64, 64), dtype=np.float32)
    with torch.no_grad():
        want = tmodel(torch.from_numpy(x)).numpy()
    got = model(x)
    assert got.shape == (2, 1000)
    assert got.dtype == np.float32
    assert resnet.relative_error(got, want) <= 1e-4
    np.testing.assert_array_equal(got.argmax(1), want.argmax(1))


def test_resnet18_unfolded_pyconv_model_loads_strictly(resnet, torch, tmp_path):
    tmodel = resnet.torch_resnet18(seed=2, calibration_size=32)
    path = tmp_path / "r18.safetensors"
    pytest.importorskip("safetensors")
    import pyconv.export

    pyconv.export.save_state_dict(tmodel, path)
    model = resnet.ResNet18()
    keys = model.load_state_dict(path)
    assert keys.missing_keys == []
    assert keys.unexpected_keys == []
    x = np.random.default_rng(2).standard_normal((1, 3, 48, 48), dtype=np.float32)
    with torch.no_grad():
        want = tmodel(torch.from_numpy(x)).numpy()
    assert resnet.relative_error(model(x), want) <= 1e-4  # with BatchNorm2d layers


def test_resnet18_script_runs(resnet, capsys):
    assert resnet.main(["--size", "64", "--rounds", "0"]) == 0
    out = capsys.readouterr().out
    assert "relative error" in out
    assert "top-1 equal 1/1" in out
