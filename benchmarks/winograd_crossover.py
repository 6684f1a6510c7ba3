"""Where Winograd beats the direct kernels: the measurements behind ``winograd_pays``.

Times the ``cython`` backend (direct) and ``_core.winograd_forward`` (F(4x4, 3x3)) on 3x3,
stride-1, padding-1 float32 layers over a grid of channel counts (C_in = C_out), plane
sizes and batches, interleaved, in the same process, at one thread (CPU time of the
calling thread, which other processes on a shared machine disturb less than wall time),
and prints ``t_direct / t_winograd`` per shape (above 1: Winograd is faster) with the
rule ``pyconv._backends.winograd.winograd_pays`` applies, so that the two can be compared.

Run::

    python benchmarks/winograd_crossover.py [--rounds 5] [--isa avx2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import pyconv
from pyconv import _core
from pyconv._backends.winograd import winograd_pays
from pyconv._validation import prepare_conv2d

CHANNELS = [2, 4, 8, 16, 32, 64, 128]
PLANES = [4, 7, 14, 28, 56]
BATCHES = [1, 8]


def _time(fn, rounds: int) -> float:
    fn()  # warm-up
    best = []
    for _ in range(rounds):
        t0 = time.thread_time()
        n = 0
        while time.thread_time() - t0 < 0.02 or n < 2:
            fn()
            n += 1
        best.append((time.thread_time() - t0) / n)
    return statistics.median(best)


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--isa", default=None, help="a micro-kernel variant (default: the best)")
    args = ap.parse_args()
    _core.set_isa(args.isa)
    pyconv.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"ISA {_core.isa()}; t_direct / t_winograd, float32, 3x3, padding 1, 1 thread\n")
    print("| batch | plane | " + " | ".join(f"C={c}" for c in CHANNELS) + " |")
    print("|---|---|" + "---:|" * len(CHANNELS))
    for n in BATCHES:
        for hw in PLANES:
            cells = []
            for c in CHANNELS:
                x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
                w = rng.standard_normal((c, c, 3, 3)).astype(np.float32)
                *_, spec = prepare_conv2d(x, w, None, 1, 1, 1, 1)
                t_direct = _time(lambda x=x, w=w: pyconv.conv2d(x, w, padding=1), args.rounds)
                t_wino = _time(
                    lambda x=x, w=w: _core.winograd_forward(x, w, None, (1, 1, 1, 1), 1),
                    args.rounds,
                )
                mark = "*" if winograd_pays(spec) else ""
                cells.append(f"{t_direct / t_wino:.2f}{mark}")
            print(f"| {n} | {hw}x{hw} | " + " | ".join(cells) + " |", flush=True)
    print("\n*: winograd_pays() is True (with fallback='direct', Winograd runs)")


if __name__ == "__main__":
    main()
