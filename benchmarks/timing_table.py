"""First timing table: pyconv's compiled core vs the NumPy reference vs torch's conv2d.

Usage::

    python benchmarks/timing_table.py --threads 1 [--filter r50] [--skip-numpy]

One process per thread count (the BLAS thread count must be fixed before NumPy loads).
For each shape, rounds interleave the methods; each round records the median of several
calls and the table shows the median over rounds.  This is a quick table for notes; the
pytest-benchmark suite is the tool for regressions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--filter", default="")
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--skip-numpy", action="store_true", help="omit the slow reference")
args = parser.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402

import pyconv  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from shapes import ZOO, flops, make_case  # noqa: E402

try:
    import torch
except ImportError:
    torch = None


def median_call(fn, budget=0.15, max_calls=200):
    """Return the median wall time of ``fn()`` over as many calls as fit in ``budget`` seconds."""
    fn()  # warm-up (page faults, caches)
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    n = int(min(max_calls, max(1, budget / max(once, 1e-7))))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def fmt(t):
    """Format seconds as us or ms."""
    if t is None:
        return "-"
    return f"{t * 1e6:.1f} us" if t < 1e-3 else f"{t * 1e3:.2f} ms"


def methods_for(name):
    """Return the calls to time for one zoo entry: cython, torch (if installed), numpy."""
    x, w, b, kw = make_case(name)
    methods = {"cython": partial(pyconv.conv2d, x, w, b, **kw, backend="cython")}
    if torch is not None:
        tb = None if b is None else torch.from_numpy(b)
        conv = torch.nn.functional.conv2d
        methods["torch"] = partial(conv, torch.from_numpy(x), torch.from_numpy(w), tb, **kw)
    if not args.skip_numpy:
        methods["numpy"] = partial(pyconv.conv2d, x, w, b, **kw, backend="numpy")
    return methods


def main():
    """Print the table."""
    pyconv.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(
        f"threads={args.threads} pyconv {pyconv.__version__} numpy {np.__version__} "
        f"torch {torch.__version__ if torch else 'absent'} "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')} "
        f"load={os.getloadavg()[0]:.2f}"
    )
    print("| shape | MFLOP | torch | cython | numpy ref | cython GFLOP/s | torch/cython "
          "| numpy/cython |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in ZOO:
        if args.filter and args.filter not in name:
            continue
        methods = methods_for(name)
        rounds = {m: [] for m in methods}
        for _ in range(args.rounds):
            for m, fn in methods.items():
                slow = m == "numpy"
                rounds[m].append(
                    median_call(fn, budget=0.05 if slow else 0.15, max_calls=5 if slow else 200)
                )
        med = {m: float(np.median(v)) for m, v in rounds.items()}
        tc, tt, tn = med["cython"], med.get("torch"), med.get("numpy")
        ratio_t = f"{tt / tc:.2f}" if tt else "-"
        ratio_n = f"{tn / tc:.1f}" if tn else "-"
        print(
            f"| {name} | {flops(name) / 1e6:.3g} | {fmt(tt)} | {fmt(tc)} | {fmt(tn)} | "
            f"{flops(name) / tc / 1e9:.1f} | {ratio_t} | {ratio_n} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
