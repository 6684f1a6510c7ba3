"""When does the fft backend beat pyconv's direct kernels (and torch)?  A crossover table.

Times ``pyconv.conv2d(..., backend='fft')``, ``backend='cython'`` and
``torch.nn.functional.conv2d`` side by side in one process on

* the perf-anchor image, 1 x 1 x 2048 x 2048 float32, 'valid', kernels 5 ... 41;
* a multi-channel layer, 1 x 16 x 256 x 256 -> 16 float32, 'same', kernels 3, 7, 15;

at 1 and 2 threads (``pyconv.set_num_threads``, ``torch.set_num_threads``, scipy.fft
``workers``, and NumPy's BLAS through threadpoolctl when it is installed).  Rules of the
project (DESIGN.md section 5): interleaved rounds (every method and thread count once per
round, in turn), the median of several calls per round, the minimum of those medians over
rounds; before each measurement it waits (up to ``--quiet-wait`` seconds) until the other
processes on the machine use less than 0.15 cores, and it prints the external load seen
during the measurements and ``os.getloadavg()``.

Run::

    python plugins/pyconv-fft/bench_crossover.py [--rounds 3] [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import statistics
import time

import numpy as np
import pyconv
from pyconv.testing import exact_conv2d

from pyconv_fft.backend import FFTBackend

try:
    import torch
except ImportError:  # the table then has no torch column
    torch = None
try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

IMAGE = [((1, 1, 2048, 2048), (1, 1, k, k), 0) for k in (5, 9, 15, 21, 25, 31, 41)]
LAYER = [((1, 16, 256, 256), (16, 16, k, k), k // 2) for k in (3, 7, 15)]


# ---- external load -------------------------------------------------------------------


def _busy_jiffies() -> int:
    with open("/proc/stat") as f:
        v = [int(a) for a in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]  # user nice system irq softirq steal


def _own_jiffies() -> int:
    with open(f"/proc/{os.getpid()}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return int(v[11]) + int(v[12])  # utime + stime (all threads)


class LoadMeter:
    """CPU used by other processes, in cores, between ``start()`` and ``stop()``."""

    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def start(self) -> None:
        """Remember the counters."""
        self.t, self.busy, self.own = time.monotonic(), _busy_jiffies(), _own_jiffies()

    def stop(self) -> float:
        """External load since ``start()``, in cores."""
        dt = max(time.monotonic() - self.t, 1e-3)
        ext = (_busy_jiffies() - self.busy) - (_own_jiffies() - self.own)
        return max(0.0, ext / self.hz / dt)


def wait_quiet(limit_s: float, threshold: float = 0.15) -> float:
    """Wait until the external load over 0.5 s is below ``threshold`` cores (or give up)."""
    if not os.path.exists("/proc/stat"):
        return float("nan")
    meter, t0 = LoadMeter(), time.monotonic()
    while True:
        meter.start()
        time.sleep(0.5)
        load = meter.stop()
        if load < threshold or time.monotonic() - t0 > limit_s:
            return load


# ---- timing --------------------------------------------------------------------------


@contextlib.contextmanager
def threads(n: int):
    """Pin every thread pool involved to ``n`` threads."""
    pyconv.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    cm = threadpool_limits(n) if threadpool_limits is not None else contextlib.nullcontext()
    with cm:
        yield


def time_call(f, min_calls: int, budget_s: float) -> float:
    """Median seconds per call of ``f`` over at least ``min_calls`` calls (after a warm-up)."""
    f()
    ts: list[float] = []
    t_end = time.perf_counter() + budget_s
    while len(ts) < min_calls or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
        if len(ts) >= 50:
            break
    return statistics.median(ts)


def methods(x, w, pad, n):
    """Return the callables to compare, by name, at ``n`` threads."""
    fft = FFTBackend(workers=n)
    out = {
        "fft": lambda: pyconv.conv2d(x, w, padding=pad, backend=fft),
        "cython": lambda: pyconv.conv2d(x, w, padding=pad, backend="cython"),
    }
    if torch is not None:
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        out["torch"] = lambda: torch.nn.functional.conv2d(tx, tw, padding=pad)
    return out


def check(x, w, pad) -> float:
    """Return the fft result's worst error as a fraction of its declared norm-wise bound."""
    got = pyconv.conv2d(x, w, padding=pad, backend="fft")
    exact, A, K, dtype = exact_conv2d(x, w, padding=pad)
    c = next(b for b in pyconv.backends() if b.name == "fft").capabilities.accuracy_c
    return float(np.abs(got - exact).max() / (c * (K + 1) * np.finfo(dtype).eps * A.max()))


def run(cases, thread_counts, rounds, min_calls, budget_s, quiet_s):
    """Time every case; returns rows of results and the external loads seen."""
    rng = np.random.default_rng(0)
    rows, loads = [], []
    for xs, ws, pad in cases:
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
        accuracy = check(x, w, pad)
        per = {}  # (method, n) -> medians over rounds
        for _ in range(rounds):
            for n in thread_counts:
                with threads(n):
                    for name, f in methods(x, w, pad, n).items():
                        wait_quiet(quiet_s)
                        meter = LoadMeter()
                        meter.start()
                        t = time_call(f, min_calls, budget_s)
                        loads.append(meter.stop())
                        per.setdefault((name, n), []).append(t)
        row = {
            "x": list(xs),
            "w": list(ws),
            "padding": pad,
            "k": ws[-1],
            "accuracy_of_bound": accuracy,
            "times_ms": {f"{m}@{n}T": 1e3 * min(v) for (m, n), v in per.items()},
            "rounds_ms": {f"{m}@{n}T": [1e3 * t for t in v] for (m, n), v in per.items()},
        }
        rows.append(row)
        print(_line(row, thread_counts), flush=True)
    return rows, loads


def _line(row, thread_counts) -> str:
    t = row["times_ms"]
    parts = [f"{'x'.join(map(str, row['x']))} k={row['k']:>2}"]
    for n in thread_counts:
        fft, cy, to = t[f"fft@{n}T"], t[f"cython@{n}T"], t.get(f"torch@{n}T")
        s = f"{n}T fft {fft:8.2f} ms  cython {cy:8.2f} ms ({cy / fft:5.2f}x)"
        if to is not None:
            s += f"  torch {to:8.2f} ms ({to / fft:5.2f}x)"
        parts.append(s)
    return " | ".join(parts)


def crossover(rows, n) -> str:
    """Find the kernel size from which fft beats cython (interpolated in log time)."""
    pts = [(r["k"], r["times_ms"][f"cython@{n}T"] / r["times_ms"][f"fft@{n}T"]) for r in rows]
    if pts[0][1] >= 1:
        return f"fft already faster at k = {pts[0][0]}"
    for (k0, r0), (k1, r1) in itertools.pairwise(pts):
        if r0 < 1 <= r1:
            k = k0 + (k1 - k0) * (0 - np.log(r0)) / (np.log(r1) - np.log(r0))
            return f"k ~ {k:.0f} (fft slower at k = {k0}, faster at k = {k1})"
    return f"fft never faster up to k = {pts[-1][0]}"


def markdown(rows, thread_counts) -> str:
    """Format the results as a Markdown table (ratios > 1: fft is faster)."""
    head = "| shape | k |"
    sep = "|---|---:|"
    for n in thread_counts:
        head += f" fft {n}T | cython {n}T | torch {n}T | cython/fft {n}T | torch/fft {n}T |"
        sep += "---:|---:|---:|---:|---:|"
    lines = [head, sep]
    for r in rows:
        t = r["times_ms"]
        line = f"| {'x'.join(map(str, r['x']))} -> {r['w'][0]} | {r['k']} |"
        for n in thread_counts:
            fft, cy, to = t[f"fft@{n}T"], t[f"cython@{n}T"], t.get(f"torch@{n}T", np.nan)
            line += f" {fft:.1f} | {cy:.1f} | {to:.1f} | {cy / fft:.2f} | {to / fft:.2f} |"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    """Parse the options, run, print the tables and the crossovers."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=3, help="at least this many calls per median")
    ap.add_argument("--budget", type=float, default=0.3, help="seconds per median, at least")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--quiet-wait", type=float, default=20.0)
    ap.add_argument("--quick", action="store_true", help="one round, fewer kernel sizes")
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args()
    image, layer = IMAGE, LAYER
    if args.quick:
        args.rounds, image, layer = 1, IMAGE[::3], LAYER[::2]

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pyconv "
        f"{pyconv.__version__}, torch {getattr(torch, '__version__', 'absent')}, "
        f"{os.cpu_count()} CPUs; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}, "
        f"threadpoolctl {'yes' if threadpool_limits else 'no'}"
    )
    print(f"load average before: {os.getloadavg()}")
    t0 = time.time()
    all_rows, all_loads = {}, []
    for name, cases in (("image", image), ("layer", layer)):
        rows, loads = run(
            cases, args.threads, args.rounds, args.calls, args.budget, args.quiet_wait
        )
        all_rows[name] = rows
        all_loads += loads
    print(f"load average after: {os.getloadavg()}")
    print(
        f"external load during the measurements (cores): median "
        f"{statistics.median(all_loads):.2f}, max {max(all_loads):.2f}; "
        f"{time.time() - t0:.0f} s in all"
    )
    for name, rows in all_rows.items():
        print(f"\n{name} (times: min over rounds of per-round medians, ms)\n")
        print(markdown(rows, args.threads))
        for n in args.threads:
            print(f"\ncrossover vs cython at {n}T: {crossover(rows, n)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"rows": all_rows, "loads": all_loads, "loadavg": os.getloadavg()}, f, indent=1
            )


if __name__ == "__main__":
    main()
