"""The backend registry's dispatch overhead (pytest-benchmark).

Not collected by the normal test run (``testpaths = ["tests"]``); run it with::

    pytest benchmarks/bench_dispatch.py --benchmark-only -q

``resolve(None, spec)`` with nothing selected is the hot path of every ``pyconv.conv2d``
call: DESIGN.md section 3 asks for well under a microsecond.  The other cases give context:
a ``use_backend`` block, a named ``backend='numpy'`` and the whole ``pyconv.conv2d`` on a
tiny problem (1x1x8x8 input, 1x1x3x3 kernel), where dispatch is a visible share of the time.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconv
from pyconv._registry import resolve
from pyconv._validation import prepare_conv2d

X = np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype(np.float32)
W = np.random.default_rng(1).standard_normal((1, 1, 3, 3)).astype(np.float32)
SPEC = prepare_conv2d(X, W, None, 1, 0, 1, 1)[3]

# Sub-microsecond calls: calibrate enough iterations per round that the timer's own cost
# (tens of ns) does not show in the per-call figure.
pytestmark = pytest.mark.benchmark(calibration_precision=100, warmup=True)


@pytest.fixture(autouse=True)
def _default_selection():
    """Nothing selected; the default backend already loaded (its first load is not timed)."""
    pyconv.set_backend(None)
    pyconv.refresh_backends()
    resolve(None, SPEC)
    yield
    pyconv.set_backend(None)
    pyconv.refresh_backends()


def test_resolve_default(benchmark):
    """The hot path: no backend=, no use_backend, no set_backend, no PYCONV_BACKEND."""
    obj = benchmark(resolve, None, SPEC)
    assert obj.name == "cython"


def test_resolve_in_use_backend(benchmark):
    """Inside a ``use_backend('numpy')`` block: a context read, a cached load, a check."""
    with pyconv.use_backend("numpy"):
        obj = benchmark(resolve, None, SPEC)
    assert obj.name == "numpy"


def test_resolve_set_backend(benchmark):
    """After ``set_backend('numpy')``: the same path as a ``use_backend`` block."""
    pyconv.set_backend("numpy")
    obj = benchmark(resolve, None, SPEC)
    assert obj.name == "numpy"


def test_resolve_named(benchmark):
    """``backend='numpy'`` on the call: a cached load and the capability check."""
    obj = benchmark(resolve, "numpy", SPEC)
    assert obj.name == "numpy"


def test_conv2d_8x8_default(benchmark):
    """The whole call on the default backend: validation, dispatch, kernel, allocation."""
    out = benchmark(pyconv.conv2d, X, W)
    assert out.shape == (1, 1, 6, 6)


def test_conv2d_8x8_named_cython(benchmark):
    """The same with ``backend='cython'`` named: the difference is the named dispatch."""
    out = benchmark(pyconv.conv2d, X, W, backend="cython")
    assert out.shape == (1, 1, 6, 6)


def test_prepare_conv2d_8x8(benchmark):
    """Validation alone, for comparison with the whole call."""
    spec = benchmark(prepare_conv2d, X, W, None, 1, 0, 1, 1)[3]
    assert spec == SPEC
