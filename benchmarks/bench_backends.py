"""Every registered backend (plugins included) against torch on the shape zoo, every operation.

pytest-benchmark; not collected by the normal test run.  Run, for example::

    pytest benchmarks/bench_backends.py --benchmark-only --benchmark-group-by=param:shape
    pytest benchmarks/bench_backends.py --benchmark-only --benchmark-save=base   # then
    pytest benchmarks/bench_backends.py --benchmark-only --benchmark-compare

Backends are discovered with ``pyconv.backends()``, so an installed plugin (``fft``, a
third party's) appears automatically; ``torch-direct`` is ``torch.nn.functional.conv2d``
called directly (or the row's operation: ``conv_transpose2d``,
``torch.nn.grad.conv2d_input``, ...), the reference column; a backend that does not
implement a row's operation, or refuses the row's call (``winograd`` on a 1x1 kernel), is
skipped with its reason.  The reference backend ``numpy`` is slow on big
shapes and is only timed on shapes under ``NUMPY_MAX_MFLOP``.  Threads: whatever
``PYCONV_NUM_THREADS`` / ``torch.get_num_threads()`` say (both are saved in each
result's ``extra_info``); pin them for comparable runs.  ``PYCONV_BENCH_QUICK=1`` times
each case once (CI uses it so that the suite cannot rot, without judging speed).
"""

from __future__ import annotations

import os
import sys

import pytest

import pyconv

sys.path.insert(0, os.path.dirname(__file__))
from shapes import NAMES, flops, make_call

NUMPY_MAX_MFLOP = 300
QUICK = os.environ.get("PYCONV_BENCH_QUICK") == "1"
BACKENDS = [b.name for b in pyconv.backends() if b.available]

try:
    import torch
except ImportError:
    torch = None


def _gradient(op: str) -> bool:
    return op.endswith(("_input", "_weight"))


@pytest.mark.parametrize("shape", list(NAMES))
@pytest.mark.parametrize("backend", [*BACKENDS, "torch-direct"])
def test_conv2d(benchmark, backend, shape):
    """Time one backend on one zoo shape (thread counts go into the saved JSON)."""
    op, args, kw = make_call(shape)
    if backend == "numpy" and flops(shape) / 1e6 > NUMPY_MAX_MFLOP:
        pytest.skip(f"the reference backend is too slow above {NUMPY_MAX_MFLOP} MFLOP")
    if backend == "torch-direct":
        if torch is None:
            pytest.skip("torch is not installed")
        args = tuple(torch.from_numpy(a) if hasattr(a, "dtype") else a for a in args)
        fn = getattr(torch.nn.grad if _gradient(op) else torch.nn.functional, op)
        kwargs = kw
    else:
        info = next(b for b in pyconv.backends() if b.name == backend)
        if op not in info.capabilities.operations:
            pytest.skip(f"{backend} does not implement {op}")
        fn = getattr(pyconv.grad if _gradient(op) else pyconv, op)
        kwargs = {**kw, "backend": backend}
        try:  # a backend may refuse a call it implements (winograd: 3x3 only, say)
            fn(*args, **kwargs)
        except pyconv.UnsupportedCallError as e:
            pytest.skip(str(e))
    benchmark.extra_info["mflop"] = flops(shape) / 1e6
    benchmark.extra_info["pyconv_threads"] = pyconv.get_num_threads()
    benchmark.extra_info["torch_threads"] = torch.get_num_threads() if torch else None
    if QUICK:
        benchmark.pedantic(fn, args=args, kwargs=kwargs, rounds=1, iterations=1)
    else:
        benchmark(fn, *args, **kwargs)
