"""pyconv finds the installed plugin through its entry point, lazily."""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import json
import subprocess
import sys

import numpy as np
import pyconv
import pytest

import pyconv_fft
from pyconv_fft import entry_point


def _info():
    infos = {i.name: i for i in pyconv.backends()}
    assert "fft" in infos, f"'fft' not among {sorted(infos)}: is pyconv-fft installed?"
    return infos["fft"]


def test_entry_point_is_declared():
    eps = importlib.metadata.entry_points(group="pyconv.backends")
    (ep,) = [e for e in eps if e.name == "fft"]
    assert ep.value == "pyconv_fft.entry_point:SPEC"
    assert ep.dist.name == "pyconv-fft"
    assert ep.dist.version == pyconv_fft.__version__


def test_listed_with_its_distribution_and_capabilities():
    info = _info()
    assert info.available, info.reason
    assert info.distribution == "pyconv-fft"
    assert info.version == pyconv_fft.__version__
    assert not info.builtin
    assert info.implementation == "pyconv_fft.backend:FFTBackend"
    assert info.api_version == 1
    caps = info.capabilities
    assert set(caps.dtypes) == {"float32", "float64"}
    assert caps.stride
    assert caps.dilation
    assert caps.groups
    assert set(caps.padding) == {"none", "symmetric", "asymmetric"}
    assert caps.universal
    assert caps.devices == ("cpu",)
    assert caps.accuracy == "normwise"
    assert caps.accuracy_c == entry_point.SPEC["capabilities"]["accuracy_c"]
    assert not caps.deterministic  # BLAS thread counts change the last bits
    assert caps.operations == ("conv2d",)


@pytest.mark.parametrize(
    ("op", "args"),
    [
        ("conv1d", (np.ones((1, 2, 8)), np.ones((3, 2, 3)))),
        ("conv_transpose2d", (np.ones((1, 2, 5, 5)), np.ones((2, 3, 3, 3)))),
    ],
)
def test_conv2d_only_and_says_so(op, args):
    with pytest.raises(pyconv.UnsupportedCallError, match=f"'fft' cannot run this call: it does "
                       f"not implement {op} \\(it implements conv2d\\)"):  # fmt: skip
        getattr(pyconv, op)(*args, backend="fft")
    with pyconv.use_backend("fft"), pytest.raises(pyconv.UnsupportedCallError):
        getattr(pyconv, op)(*args)
    go = np.ones((1, 3, 3, 3))
    with pytest.raises(pyconv.UnsupportedCallError, match="does not implement conv2d_input"):
        pyconv.grad.conv2d_input((1, 2, 5, 5), np.ones((3, 2, 3, 3)), go, backend="fft")


def test_conv2d_by_name():
    x = np.arange(2 * 3 * 9 * 8, dtype=np.float64).reshape(2, 3, 9, 8) / 100
    w = np.ones((4, 3, 3, 3))
    got = pyconv.conv2d(x, w, np.ones(4), padding=1, backend="fft")
    ref = pyconv.conv2d(x, w, np.ones(4), padding=1, backend="numpy")
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    with pyconv.use_backend("fft"):
        np.testing.assert_array_equal(pyconv.conv2d(x, w, np.ones(4), padding=1), got)


def test_spec_module_imports_nothing():
    tree = ast.parse(inspect.getsource(entry_point))
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert imports == []


_PROBE = """
import json, sys
import pyconv
names = [b.name for b in pyconv.backends()]
before = {m: m in sys.modules for m in ("scipy", "numpy.fft", "pyconv_fft.backend", "torch")}
x = pyconv.conv2d([[[[1.0, 2.0], [3.0, 4.0]]]], [[[[1.0]]]], backend="fft")
after = {m: m in sys.modules for m in ("scipy", "pyconv_fft.backend")}
print(json.dumps({"names": names, "before": before, "after": after, "x": x.tolist()}))
"""


def test_listing_is_lazy():
    """Listing backends imports neither SciPy nor the implementation; selecting does."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
    ).stdout
    r = json.loads(out)
    assert "fft" in r["names"]
    assert r["before"] == {
        "scipy": False,
        "numpy.fft": r["before"]["numpy.fft"],  # numpy's own business
        "pyconv_fft.backend": False,
        "torch": False,
    }
    assert r["after"] == {"scipy": True, "pyconv_fft.backend": True}
    assert r["x"] == [[[[1.0, 2.0], [3.0, 4.0]]]]


def test_conformance_suite():
    testing = pytest.importorskip("pyconv.testing")
    check_backend = getattr(testing, "check_backend", None)
    if check_backend is None:
        pytest.skip("this pyconv has no pyconv.testing.check_backend")
    report = check_backend("fft")
    assert report.ok, str(report)
