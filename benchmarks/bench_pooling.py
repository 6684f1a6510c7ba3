"""Pooling and ReLU (pyconv._pool) against torch, on the shapes a CNN feeds them.

pytest-benchmark; not collected by the normal test run.  Run, for example::

    pytest benchmarks/bench_pooling.py --benchmark-only --benchmark-group-by=param:case

Each case is timed for pyconv and for torch (``torch.nn.functional``, skipped without
torch) at 1 and 2 threads; the thread count is set for both (and saved in
``extra_info``) and restored afterwards.  ``PYCONV_BENCH_QUICK=1`` times each case once
(CI uses it so that the suite cannot rot, without judging speed).  Every pyconv result is
checked against torch's once, so a fast wrong kernel cannot pass.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import pyconv

QUICK = os.environ.get("PYCONV_BENCH_QUICK") == "1"

try:
    import torch
except ImportError:
    torch = None

ADAPTIVE = pyconv.adaptive_avg_pool2d

# name -> (input shape, pyconv function, torch function name, arguments)
CASES = {
    "maxpool_3x3s2_stem_b1": ((1, 64, 112, 112), pyconv.max_pool2d, "max_pool2d", (3, 2, 1)),
    "maxpool_3x3s2_stem_b8": ((8, 64, 112, 112), pyconv.max_pool2d, "max_pool2d", (3, 2, 1)),
    "maxpool_2x2s2": ((1, 128, 56, 56), pyconv.max_pool2d, "max_pool2d", (2,)),
    "maxpool_3x3s1": ((1, 192, 28, 28), pyconv.max_pool2d, "max_pool2d", (3, 1, 1)),
    "maxpool_indices": (
        (1, 64, 112, 112), pyconv.max_pool2d, "max_pool2d", (3, 2, 1, 1, False, True),
    ),
    "avgpool_3x3s2": ((1, 64, 112, 112), pyconv.avg_pool2d, "avg_pool2d", (3, 2, 1)),
    "avgpool_2x2s2": ((1, 128, 56, 56), pyconv.avg_pool2d, "avg_pool2d", (2,)),
    "adaptive_avg_1x1_b8": ((8, 512, 7, 7), ADAPTIVE, "adaptive_avg_pool2d", (1,)),
    "adaptive_avg_7x7": ((1, 256, 13, 13), ADAPTIVE, "adaptive_avg_pool2d", (7,)),
    "relu_stem": ((1, 64, 112, 112), pyconv.nn.ReLU(), "relu", ()),
}  # fmt: skip


@pytest.fixture
def threads(request):
    """Set pyconv's and torch's thread counts to the parameter; restore them after."""
    n = request.param
    saved = (pyconv.get_num_threads(), torch.get_num_threads() if torch else None)
    pyconv.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    yield n
    pyconv.set_num_threads(saved[0])
    if torch is not None:
        torch.set_num_threads(saved[1])


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("impl", ["pyconv", "torch"])
@pytest.mark.parametrize("case", list(CASES))
def test_pool(benchmark, case, impl, threads):
    """Time one implementation on one case."""
    shape, ours, torch_name, args = CASES[case]
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    if torch is None:
        if impl == "torch":
            pytest.skip("torch is not installed")
    else:
        want = getattr(torch.nn.functional, torch_name)(torch.from_numpy(x), *args)
        got = ours(x, *args)
        for g, t in zip(got if isinstance(got, tuple) else (got,),
                        want if isinstance(want, tuple) else (want,), strict=True):  # fmt: skip
            np.testing.assert_allclose(g, t.numpy(), rtol=1e-6, atol=1e-6)
    if impl == "torch":
        fn, arg0 = getattr(torch.nn.functional, torch_name), torch.from_numpy(x)
    else:
        fn, arg0 = ours, x
    benchmark.extra_info["threads"] = threads
    if QUICK:
        benchmark.pedantic(fn, args=(arg0, *args), rounds=1, iterations=1)
    else:
        benchmark(fn, arg0, *args)
