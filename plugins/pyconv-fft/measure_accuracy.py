"""Measure the fft backend's error against pyconv's norm-wise accuracy contract.

For many random calls (shapes, every parameter, both dtypes, forced and automatic tile
sizes, several data distributions) it computes::

    ratio = max |got - exact| / ((K + 1) * eps(dtype) * max(A))

with ``exact`` and ``A = conv(|x|, |w|) + |b|`` from :func:`pyconv.testing.exact_conv2d`
(float64 reference for float32 calls, long double for float64 calls).  The declared
``accuracy_c`` must exceed the largest ratio with a margin.  Run::

    python plugins/pyconv-fft/measure_accuracy.py [--cases 3000] [--seed 0] [--no-stress]

The random calls are followed by the stress calls (:func:`stress_calls`) that produced
the largest ratios seen.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
from pyconv._validation import prepare_conv2d
from pyconv.testing import exact_conv2d

from pyconv_fft.backend import conv2d as fft_conv2d

KINDS = ("normal", "positive", "wide", "outliers", "channel-scales", "border", "spiky")


def sample(rng: np.random.Generator, kind: str, shape, dtype) -> np.ndarray:
    """Draw an array of one of the test distributions.

    Returns
    -------
    ndarray, shape ``shape``, dtype ``dtype``
    """
    if kind == "normal":
        a = rng.standard_normal(shape)
    elif kind == "positive":  # all-positive images: a large DC component in every tile
        a = rng.random(shape)
    elif kind == "wide":  # 12 decades of dynamic range, random signs
        a = rng.choice([-1.0, 1.0], shape) * 10.0 ** rng.uniform(-6, 6, shape)
    elif kind == "outliers":  # a dark positive image with a few very bright pixels
        a = rng.random(shape) * 1e-3
        a[rng.random(shape) < 0.002] = 1e4
    elif kind == "border" and len(shape) == 4:  # an image with brighter outer rows, columns
        a = rng.random(shape)
        b = int(rng.integers(1, 9))
        scale = 10.0 ** rng.uniform(0, 2)
        a[..., :b, :] *= scale
        a[..., -b:, :] *= scale
        a[..., :, :b] *= scale
        a[..., :, -b:] *= scale
    elif kind == "spiky":  # tiny values and one large one (a kernel with one big tap)
        a = rng.random(shape) * 1e-3
        if a.size:
            a.flat[rng.integers(a.size)] = 1.0
    elif kind == "border":  # (a bias: plain positive)
        a = rng.random(shape)
    else:  # channels (axis 1) scaled by up to 8 decades
        a = rng.standard_normal(shape)
        if len(shape) > 1 and shape[1] > 0:
            a *= 10.0 ** rng.uniform(-4, 4, (1, shape[1]) + (1,) * (len(shape) - 2))
    return a.astype(dtype)


def random_call(rng: np.random.Generator):
    """Draw the arguments of one conv2d call and the tile size to force (or None)."""
    dtype = rng.choice([np.float32, np.float64])
    G = int(rng.choice([1, 1, 1, 2, 3, 4]))
    cig = int(rng.integers(1, 9)) if rng.random() < 0.7 else 1
    og = int(rng.integers(1, 5))
    N = int(rng.integers(1, 4))
    kH, kW = (int(v) for v in rng.integers(1, 12, 2))
    if rng.random() < 0.15:
        kH, kW = (int(v) for v in rng.integers(12, 42, 2))
    stride = tuple(int(v) for v in rng.choice([1, 1, 1, 2, 3], 2))
    dilation = tuple(int(v) for v in rng.choice([1, 1, 1, 2, 3], 2))
    ekH, ekW = dilation[0] * (kH - 1) + 1, dilation[1] * (kW - 1) + 1
    if rng.random() < 0.2 and stride == (1, 1):
        padding = "same"
        H, W = (int(v) for v in rng.integers(1, 90, 2))
    else:
        padding = tuple(int(v) for v in rng.integers(0, 4, 2))
        H = max(1, ekH - 2 * padding[0]) + int(rng.integers(0, 90))
        W = max(1, ekW - 2 * padding[1]) + int(rng.integers(0, 90))
    if rng.random() < 0.1:  # a large plane: long transforms
        H, W = H + 400, W + 400
        N, G, cig, og = 1, 1, 1, 1
    xk, wk = rng.choice(KINDS), rng.choice(KINDS)
    x = sample(rng, xk, (N, G * cig, H, W), dtype)
    w = sample(rng, wk, (G * og, cig, kH, kW), dtype)
    b = sample(rng, rng.choice(KINDS), (G * og,), dtype) if rng.random() < 0.5 else None
    tile = None
    if rng.random() < 0.4:
        tile = tuple(int(v) for v in rng.integers(2, 80, 2))
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=G)
    return x, w, b, kw, tile, f"x:{xk} w:{wk}"


def ratio(x, w, b, kw, tile) -> tuple[float, float]:
    """Worst norm-wise and element-wise error ratios (contract bound with c = 1)."""
    xx, ww, bb, spec = prepare_conv2d(
        x, w, b, kw["stride"], kw["padding"], kw["dilation"], kw["groups"]
    )
    got = fft_conv2d(xx, ww, bb, spec, workers=1, tile=tile)
    exact, A, K, dtype = exact_conv2d(x, w, b, **kw)
    eps = np.finfo(dtype).eps
    err = np.abs(got.astype(exact.dtype) - exact)
    norm = float(err.max() / ((K + 1) * eps * A.max())) if A.max() > 0 else float(err.max())
    with np.errstate(divide="ignore", invalid="ignore"):
        elem = np.where(A > 0, err / ((K + 1) * eps * A), np.where(err > 0, np.inf, 0.0))
    return norm, float(elem.max())


def stress_calls(rng: np.random.Generator):
    """Yield the measured worst cases: few products per output over long transforms.

    FFT rounding grows with log2 of the tile's size and is compared here with
    ``(K + 1) max(A)``, so 1x2 and 2x1 kernels on large planes with forced full-size tiles
    and all-positive data (a large DC term in every transform) come closest to the bound.
    """
    shapes = [
        ((1024, 1024), (1, 2), (1024, 1024), 1),
        ((1024, 1024), (2, 1), (1024, 1024), 1),
        ((2048, 512), (2, 1), (2048, 512), 1),
        ((2048, 2048), (1, 2), None, 1),
        ((2048, 2048), (2, 1), (2048, 2048), 1),
        ((1024, 1024), (1, 3), (1024, 1024), 1),
        ((1024, 1024), (2, 2), (1024, 1024), 2),
        ((2048, 2048), (1, 1), None, 1),
        ((512, 512), (2, 2), (512, 512), 1),
    ]
    for dtype in (np.float32, np.float64):
        # a bright border band (up to the guard's factor 4) next to a kernel whose one
        # large tap never meets it
        for (H, W), k, tile in (
            ((1024, 1024), (1, 2), (1024, 1024)),
            ((1024, 1024), (2, 1), (1024, 1024)),
            ((2048, 2048), (1, 2), None),
            ((1024, 1024), (2, 2), (1024, 1024)),
            ((256, 256), (5, 5), None),
        ):
            for f in (1.0, 2.0, 3.9):
                x = rng.random((1, 1, H, W)).astype(dtype)
                b1, b2 = k[0] - 1, k[1] - 1
                for sl in (np.s_[..., :b1, :], np.s_[..., H - b1 :, :]):
                    if b1:
                        x[sl] = np.maximum(x[sl] * f, 0.99 * f)
                for sl in (np.s_[..., :, :b2], np.s_[..., :, W - b2 :]):
                    if b2:
                        x[sl] = np.maximum(x[sl] * f, 0.99 * f)
                w = (rng.random((1, 1, *k)) * 1e-3).astype(dtype)
                w[..., -1, -1] = 1.0
                kw = dict(stride=1, padding=0, dilation=1, groups=1)
                yield x, w, None, kw, tile, f"x:border x{f} w:spiky"
        for (H, W), k, tile, s in shapes:
            for xk in ("positive", "wide", "normal"):
                for wk in ("positive", "normal"):
                    x = sample(rng, xk, (1, 1, H, W), dtype)
                    w = sample(rng, wk, (1, 1, *k), dtype)
                    kw = dict(stride=s, padding=0, dilation=1, groups=1)
                    yield x, w, None, kw, tile, f"x:{xk} w:{wk}"


def main() -> None:
    """Run the measurement and print the worst cases."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-stress", action="store_true", help="random calls only")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    worst = {np.dtype(np.float32): [], np.dtype(np.float64): []}
    t0 = time.perf_counter()
    calls = (("random", *random_call(rng)) for _ in range(args.cases))
    if not args.no_stress:
        calls = itertools.chain(calls, (("stress", *c) for c in stress_calls(rng)))
    by_set: dict[str, float] = {}
    for which, x, w, b, kw, tile, kinds in calls:
        norm, elem = ratio(x, w, b, kw, tile)
        worst[x.dtype].append((norm, elem, x.shape, w.shape, kw, tile, kinds))
        by_set[which] = max(by_set.get(which, 0.0), norm)
    for dt, rows in worst.items():
        rows.sort(key=lambda r: -r[0])
        norms = np.array([r[0] for r in rows])
        print(
            f"{dt}: {len(rows)} calls; norm-wise ratio: max {norms.max():.3g}, "
            f"99th percentile {np.percentile(norms, 99):.3g}, median {np.median(norms):.3g}; "
            f"element-wise ratio max {max(r[1] for r in rows):.3g}"
        )
        for r in rows[:5]:
            print(f"   {r[0]:.3g}  x{r[2]} w{r[3]} {r[4]} tile={r[5]} {r[6]}")
    print("worst norm-wise ratio by set: " + ", ".join(f"{k} {v:.3g}" for k, v in by_set.items()))
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
