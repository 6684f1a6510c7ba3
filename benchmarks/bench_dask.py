"""Dask: ``pyconv.conv2d`` on a Dask array against the in-memory call, and 1 vs 2 workers.

pytest-benchmark; not collected by the normal test run.  Run, for example::

    pytest benchmarks/bench_dask.py --benchmark-only --benchmark-group-by=param:case

``PYCONV_BENCH_QUICK=1`` times each case once (CI uses it so that the file cannot rot).
The table of ``docs/dask.md`` comes from running this file as a script::

    python benchmarks/bench_dask.py [--rounds 5] [--calls 3]

which interleaves the methods over rounds (each round records the median of ``--calls``
calls) and prints the median over rounds, the thread counts and the load average.

Methods (threads pinned; pyconv's kernels run 1 thread per task in every Dask method):

``memory-1t`` / ``memory-2t``
    ``pyconv.conv2d`` on the NumPy array, 1 and 2 pyconv threads.
``dask-threads``
    the same array as ``dask.array.from_array`` chunks, Dask's threaded scheduler with 2
    threads, the result gathered into one NumPy array (what ``.compute()`` returns).
``cluster-1w`` / ``cluster-2w``
    a ``LocalCluster`` of 1 or 2 worker processes (1 thread each); the input already
    persisted on the workers, the result persisted there too (``client.persist`` +
    ``wait``): the graph build, scheduling, halo transfers and the convolutions, but not
    moving the whole input or output through the client.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import statistics
import sys
import time

import numpy as np
import pytest

import pyconv

QUICK = os.environ.get("PYCONV_BENCH_QUICK") == "1"

# name -> (input shape, weight shape, conv2d keywords, input chunks)
CASES = {
    "image-1x16x2048x2048-k3": (
        (1, 16, 2048, 2048), (16, 16, 3, 3), {"padding": 1}, (1, 16, 512, 512),
    ),
    "batch-32x64x56x56-k3": ((32, 64, 56, 56), (64, 64, 3, 3), {"padding": 1}, (4, 64, 56, 56)),
    # 8 tiny tasks: the fixed cost of going through Dask
    "tiny-8x4x32x32-k3": ((8, 4, 32, 32), (4, 4, 3, 3), {"padding": 1}, (1, 4, 32, 32)),
}  # fmt: skip
QUICK_CASES = {
    "image-1x8x512x512-k3": ((1, 8, 512, 512), (8, 8, 3, 3), {"padding": 1}, (1, 8, 256, 256)),
}
METHODS = ["memory-1t", "memory-2t", "dask-threads", "cluster-1w", "cluster-2w"]


def make_case(name: str):
    """Return ``x, w, b, kwargs, chunks`` for a case (float32, fixed seed)."""
    shape, wshape, kw, chunks = {**CASES, **QUICK_CASES}[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal(wshape, dtype=np.float32)
    b = rng.standard_normal(wshape[0], dtype=np.float32)
    return x, w, b, kw, chunks


def start_cluster(n_workers: int):
    """Start a LocalCluster of ``n_workers`` processes x 1 thread, pyconv at 1 thread."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        env={"PYCONV_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    return cluster, Client(cluster, set_as_default=False)


def make_call(method: str, case: str, clients: dict):
    """Return a no-argument callable running ``case`` by ``method`` (setup done here)."""
    import dask.array as da

    x, w, b, kw, chunks = make_case(case)
    if method.startswith("memory"):
        threads = int(method[-2])

        def call():
            pyconv.set_num_threads(threads)
            return pyconv.conv2d(x, w, b, **kw)

        return call
    if method == "dask-threads":
        xd = da.from_array(x, chunks=chunks)

        def call():
            pyconv.set_num_threads(1)
            return pyconv.conv2d(xd, w, b, **kw).compute(scheduler="threads", num_workers=2)

        return call
    from distributed import wait

    client = clients[int(method[-2])]
    with client.as_current():  # wait() looks for the current client
        # the input made on the workers (same shape and distribution as x, other values):
        # shipping x through the client would not be the cluster's normal use
        rng = da.random.default_rng(0)
        xd = client.persist(rng.standard_normal(x.shape, chunks=chunks, dtype=x.dtype))
        wait(xd)

    calls = itertools.count()

    def call():
        # new keys for every call (an identity task per block, no copy): the scheduler
        # would otherwise hand back the result of the previous call, not yet released
        xi = xd.map_blocks(np.asarray, dtype=xd.dtype, name=f"bench-input-{next(calls)}")
        with client.as_current():
            y = client.persist(pyconv.conv2d(xi, w, b, **kw))
            wait(y)
        del y

    return call


# ---- pytest-benchmark ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def clients():
    """Start the two clusters once for the module; always close them."""
    pytest.importorskip("distributed")
    started = {n: start_cluster(n) for n in (1, 2)}
    try:
        yield {n: client for n, (_, client) in started.items()}
    finally:
        for cluster, client in started.values():
            client.close()
            cluster.close()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(QUICK_CASES if QUICK else CASES))
def test_dask(benchmark, clients, case, method):
    """Time one case by one method (threads go into the saved JSON)."""
    pytest.importorskip("dask.array")
    threads = pyconv.get_num_threads()
    call = make_call(method, case, clients)
    benchmark.extra_info["method"] = method
    benchmark.extra_info["gflop"] = _gflop(case)
    try:
        if QUICK:
            benchmark.pedantic(call, rounds=1, iterations=1)
        else:
            benchmark.pedantic(call, rounds=5, iterations=1, warmup_rounds=1)
    finally:
        pyconv.set_num_threads(threads)


def _gflop(case: str) -> float:
    x, w, b, kw, _ = make_case(case)
    from pyconv._validation import prepare_conv2d

    return prepare_conv2d(x, w, b, 1, kw["padding"], 1, 1)[3].flops / 1e9


# ---- the table of docs/dask.md ---------------------------------------------------------------


def _ms(seconds: float) -> str:
    """Three significant digits, in ms."""
    return f"{seconds * 1e3:.3g} ms"


def _busy_seconds() -> float:
    """CPU time the whole machine has spent busy, in seconds (Linux ``/proc/stat``)."""
    with open("/proc/stat") as f:
        v = [int(n) for n in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def _own_seconds() -> float:
    """CPU time of this process and its children (the clusters' workers)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):  # gone meanwhile
            total += sum(child.cpu_times()[:2])
    return total


#: a round counts when other processes used less than this many cores meanwhile
QUIET = 0.15


def table(rounds: int, calls: int, cases: dict) -> str:
    """Interleave the methods over rounds; return a markdown table of medians and ratios.

    The machine may be shared: for every round of every method the CPU used by other
    processes meanwhile is measured (``/proc/stat`` minus this process tree), and the
    medians are taken over the quiet rounds (others below ``QUIET`` cores).  A cell
    computed from all rounds, because fewer than 3 were quiet, is marked ``*``.
    """
    started = {n: start_cluster(n) for n in (1, 2)}
    clients = {n: client for n, (_, client) in started.items()}
    rows = []
    try:
        for case in cases:
            fns = {m: make_call(m, case, clients) for m in METHODS}
            for fn in fns.values():  # warm up: imports, first loads, worker caches
                fn()
            per = {m: [] for m in METHODS}  # (median time of the round, others' cores)
            for _ in range(rounds):
                for m, fn in fns.items():
                    times = []
                    wall0, busy0, own0 = time.perf_counter(), _busy_seconds(), _own_seconds()
                    for _ in range(calls):
                        t = time.perf_counter()
                        fn()
                        times.append(time.perf_counter() - t)
                    others = (_busy_seconds() - busy0) - (_own_seconds() - own0)
                    load = max(others, 0.0) / (time.perf_counter() - wall0)
                    per[m].append((statistics.median(times), load))
            med, mark, quiet = {}, {}, 0
            for m, results in per.items():
                kept = [t for t, load in results if load < QUIET]
                quiet += len(kept)
                mark[m] = "" if len(kept) >= 3 else "*"
                med[m] = statistics.median(kept if len(kept) >= 3 else [t for t, _ in results])
            gflop = _gflop(case)
            cells = [f"{_ms(med[m])} ({gflop / med[m]:.3g}){mark[m]}" for m in METHODS]
            cells.append(f"{med['cluster-1w'] / med['cluster-2w']:.2f}x")
            cells.append(f"{med['dask-threads'] / med['memory-2t']:.2f}x")
            cells.append(f"{quiet}/{rounds * len(METHODS)}")
            rows.append(f"| {case} | {gflop:.3g} | " + " | ".join(cells) + " |")
    finally:
        for cluster, client in started.values():
            client.close()
            cluster.close()
        pyconv.set_num_threads(pyconv._threads.default_num_threads())
    head = (
        "| case | GFLOP | "
        + " | ".join(METHODS)
        + " | 1 -> 2 workers | dask-threads / memory-2t | quiet rounds |"
    )
    sep = "|---" * (len(METHODS) + 5) + "|"
    return "\n".join([head, sep, *rows])


if __name__ == "__main__":
    import argparse
    import platform

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="the small case, 1 round")
    args = parser.parse_args()
    import dask
    import distributed

    cases = QUICK_CASES if args.quick else CASES
    rounds = 1 if args.quick else args.rounds
    load0 = os.getloadavg()[0]
    out = table(rounds, args.calls, cases)
    print(
        f"pyconv {pyconv.__version__}, dask {dask.__version__}, distributed "
        f"{distributed.__version__}, numpy {np.__version__}, Python {platform.python_version()}"
    )
    print(f"cores available: {len(os.sched_getaffinity(0))}; load average before/after: "
          f"{load0:.2f} / {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(
        f"rounds: {rounds} x median of {args.calls} calls, medians over the quiet rounds "
        f"(other processes < {QUIET} cores; '*': fewer than 3 quiet, all rounds used); "
        "cells: time (GFLOP/s)"
    )
    print(out)
    sys.exit(0)
