"""Measure the winograd backend's error against pyconv's accuracy contracts.

Two parts, printed as Markdown tables (docs/performance.md, "Winograd"):

1. The ResNet-50 3x3 layers at batch 1 (``pyconv bench``'s shapes), F(4x4) and F(2x2),
   float32 and float64, on standard-normal data and on an extreme-magnitude input
   (all-positive, magnitudes spread over 10^-4 .. 10^4), with the largest error as a
   fraction of the element-wise bound ``2 (K + 1) eps A`` and of the norm-wise bound
   ``2 (K + 1) eps max(A)`` (the same constant, so the two compare), and of the bound the
   backend declares (``c (K + 1) eps max(A)``, c = 16 for F(4x4), 2 for F(2x2)).
2. An adversarial search: random small calls built to make the transforms' rounding as
   large as possible against ``max(A)`` (one huge pixel per image at every position of a
   tile, border pixels at the border check's limit with the taps that meet them zero,
   all-positive data, wide dynamic ranges, per-channel scales, zero taps, 1 to 16
   channels, every padding), with the largest ``|got - exact| / ((K + 1) eps max(A))``:
   the declared ``c`` must exceed it with a margin.

Run::

    python tools/winograd_accuracy.py [--cases 2000] [--seed 0] [--skip-layers]

Exact results and ``A`` come from :func:`pyconv.testing.exact_conv2d` (float64 for
float32 calls, long double for float64 ones).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pyconv import _core
from pyconv._backends.winograd import ACCURACY_C
from pyconv._bench.zoo import ZOO
from pyconv.testing import exact_conv2d

LAYERS = ["r50_l1_3x3_b1", "r50_l2_3x3_b1", "r50_l3_3x3_b1", "r50_l4_3x3_b1"]
BORDER = _core._wino_border_factor()  # the border check's factor, per (K + 1)


def _ratios(x, w, pads, tile):
    """(worst / element-wise bound, worst / norm-wise bound), both with c = 1."""
    y = _core.winograd_forward(x, w, None, pads, 1, tile)
    t, b, left, r = pads
    exact, A, K, dtype = exact_conv2d(np.pad(x, ((0, 0), (0, 0), (t, b), (left, r))), w)
    err = np.abs(y.astype(exact.dtype) - exact)
    unit = (K + 1) * float(np.finfo(dtype).eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        ew = np.where(A > 0, err / (unit * A), np.where(err > 0, np.inf, 0.0)).max()
    if A.max() == 0:  # all zero: exact, or infinitely wrong
        return float(ew), 0.0 if err.max() == 0 else np.inf
    return float(ew), float(err.max() / (unit * A.max()))


def layer_table(rng: np.random.Generator) -> list[str]:
    """Part 1: the ResNet layers."""
    rows = [
        "| layer | dtype | tile | data | worst / elementwise bound | worst / normwise bound "
        "| worst / declared bound |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for name in LAYERS:
        xs, ws, _s, p, _d, _g, _dt = ZOO[name]
        for dtype in (np.float32, np.float64):
            data = {
                "normal": (rng.standard_normal(xs), rng.standard_normal(ws)),
                "extreme": (10.0 ** rng.uniform(-4, 4, xs), rng.standard_normal(ws)),
            }
            for tile in (4, 2):
                for kind, (x, w) in data.items():
                    ew, nw = _ratios(x.astype(dtype), w.astype(dtype), (p,) * 4, tile)
                    rows.append(
                        f"| {name[4:6]} {ws[1]}x{xs[2]}x{xs[3]} | {np.dtype(dtype).name} | "
                        f"F({tile}x{tile}) | {kind} | {ew / 2:.3g} | {nw / 2:.3g} | "
                        f"{nw / ACCURACY_C[tile]:.3g} |"
                    )
    return rows


def _adversarial_call(rng: np.random.Generator, tile: int, dtype) -> tuple:
    C = int(rng.choice([1, 1, 2, 3, 4, 16, 64]))
    H, W = (int(v) for v in rng.integers(3, 3 * tile + 6, 2))
    pad = [0, 1, 2][int(rng.integers(0, 3))]
    kind = rng.choice(["spike", "border", "positive", "wide", "channel-scales", "zero-taps"])
    x = np.abs(rng.standard_normal((1, C, H, W)))
    w = rng.standard_normal((int(rng.integers(1, 5)), C, 3, 3))
    if kind == "spike":  # one huge pixel with random mantissa, tiny values elsewhere
        x *= 1e-6
        x[0, int(rng.integers(C)), int(rng.integers(H)), int(rng.integers(W))] = 1e3 * (
            1 + rng.random()
        )
        w = rng.choice([-1.0, 1.0], w.shape) * (1 + rng.random(w.shape))
    elif kind == "border":  # border pixels at the check's limit, their taps zero
        Ho, Wo = H + 2 * pad - 2, W + 2 * pad - 2
        core = x[:, :, max(2 - pad, 0) : min(Ho - pad, H), max(2 - pad, 0) : min(Wo - pad, W)]
        mean = core.sum(axis=(0, 2, 3)) / (Ho * Wo)
        rows = [q - pad for q in (1, Ho, Ho + 1) if 0 <= q - pad < H]
        if rows:
            for c in range(C):
                limit = BORDER * (9 * C + 1) * mean[c]
                x[0, c, rng.choice(rows), int(rng.integers(W))] = 0.99 * limit
        w[:, :, int(rng.integers(3))] = 0
    elif kind == "wide":
        x = np.sign(rng.standard_normal(x.shape)) * 10.0 ** rng.uniform(-6, 6, x.shape)
    elif kind == "channel-scales":
        x *= 10.0 ** rng.uniform(-5, 5, (1, C, 1, 1))
    elif kind == "zero-taps":
        w[rng.random(w.shape) < 0.5] = 0
    return str(kind), x.astype(dtype), w.astype(dtype), (pad,) * 4


def adversarial_table(rng: np.random.Generator, cases: int) -> list[str]:
    """Part 2: the largest norm-wise ratio (c = 1) found per tile and dtype."""
    rows = [
        "| tile | dtype | calls | largest worst / ((K+1) eps max(A)) | where | declared c |",
        "|---|---|---:|---:|---|---:|",
    ]
    for tile in (4, 2):
        for dtype in (np.float32, np.float64):
            best, where = 0.0, ""
            for _ in range(cases):
                kind, x, w, pads = _adversarial_call(rng, tile, dtype)
                _, nw = _ratios(x, w, pads, tile)
                if nw > best:
                    best, where = nw, f"{kind}, C_in={x.shape[1]}, {x.shape[2]}x{x.shape[3]}"
                    where += f", padding {pads[0]}"
            rows.append(
                f"| F({tile}x{tile}) | {np.dtype(dtype).name} | {cases} | {best:.3g} | {where} "
                f"| {ACCURACY_C[tile]:g} |"
            )
    return rows


def main() -> None:
    """Print both tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=2000, help="adversarial calls per column")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-layers", action="store_true", help="only the adversarial search")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    print(f"pyconv winograd accuracy, ISA {_core.isa()}, seed {args.seed}\n")
    if not args.skip_layers:
        print("\n".join(layer_table(rng)) + "\n")
    print("\n".join(adversarial_table(rng, args.cases)))
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
