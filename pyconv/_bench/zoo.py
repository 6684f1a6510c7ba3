"""The shape zoo: the conv2d cases ``pyconv bench`` and ``benchmarks/`` time.

From ``reference/perf-anchors.md`` section 3: the seed article's tiny cases, per-call
overhead, ResNet-50 layers at batch 1 and 8, MobileNet depthwise layers, a dilated layer, a
2048x2048 single-channel image, and float64 versions of some of them.

Each entry: name -> (input shape, weight shape, stride, padding, dilation, groups, dtype).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["WITH_BIAS", "ZOO", "describe", "flops", "make_case"]

f32, f64 = np.float32, np.float64

ZOO: dict[str, tuple] = {
    "seed_k1": ((1, 3, 5, 5), (1, 3, 3, 3), 1, 0, 1, 1, f32),
    "seed_k3": ((1, 3, 5, 5), (3, 3, 3, 3), 1, 0, 1, 1, f32),
    "overhead_8x8": ((1, 1, 8, 8), (1, 1, 3, 3), 1, 0, 1, 1, f32),
    "r50_stem7x7s2_b1": ((1, 3, 224, 224), (64, 3, 7, 7), 2, 3, 1, 1, f32),
    "r50_l1_3x3_b1": ((1, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1, 1, f32),
    "r50_l1_1x1_b1": ((1, 256, 56, 56), (64, 256, 1, 1), 1, 0, 1, 1, f32),
    "r50_l2_3x3_b1": ((1, 128, 28, 28), (128, 128, 3, 3), 1, 1, 1, 1, f32),
    "r50_l3_3x3_b1": ((1, 256, 14, 14), (256, 256, 3, 3), 1, 1, 1, 1, f32),
    "r50_l4_3x3_b1": ((1, 512, 7, 7), (512, 512, 3, 3), 1, 1, 1, 1, f32),
    "r50_stem7x7s2_b8": ((8, 3, 224, 224), (64, 3, 7, 7), 2, 3, 1, 1, f32),
    "r50_l1_3x3_b8": ((8, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1, 1, f32),
    "r50_l1_1x1_b8": ((8, 256, 56, 56), (64, 256, 1, 1), 1, 0, 1, 1, f32),
    "r50_l2_3x3_b8": ((8, 128, 28, 28), (128, 128, 3, 3), 1, 1, 1, 1, f32),
    "r50_l3_3x3_b8": ((8, 256, 14, 14), (256, 256, 3, 3), 1, 1, 1, 1, f32),
    "r50_l4_3x3_b8": ((8, 512, 7, 7), (512, 512, 3, 3), 1, 1, 1, 1, f32),
    "dw32_112": ((1, 32, 112, 112), (32, 1, 3, 3), 1, 1, 1, 32, f32),
    "dw64_112_s2": ((1, 64, 112, 112), (64, 1, 3, 3), 2, 1, 1, 64, f32),
    "dw128_56": ((1, 128, 56, 56), (128, 1, 3, 3), 1, 1, 1, 128, f32),
    "dw256_28": ((1, 256, 28, 28), (256, 1, 3, 3), 1, 1, 1, 256, f32),
    "dw512_14": ((1, 512, 14, 14), (512, 1, 3, 3), 1, 1, 1, 512, f32),
    "dw128_56_b8": ((8, 128, 56, 56), (128, 1, 3, 3), 1, 1, 1, 128, f32),
    "dil2_64_56": ((1, 64, 56, 56), (64, 64, 3, 3), 1, 2, 2, 1, f32),
    "img2048_k5": ((1, 1, 2048, 2048), (1, 1, 5, 5), 1, 0, 1, 1, f32),
    "img2048_k15": ((1, 1, 2048, 2048), (1, 1, 15, 15), 1, 0, 1, 1, f32),
    "seed_k3_f64": ((1, 3, 5, 5), (3, 3, 3, 3), 1, 0, 1, 1, f64),
    "r50_l2_3x3_b1_f64": ((1, 128, 28, 28), (128, 128, 3, 3), 1, 1, 1, 1, f64),
    "r50_l1_1x1_b1_f64": ((1, 256, 56, 56), (64, 256, 1, 1), 1, 0, 1, 1, f64),
    "dw128_56_f64": ((1, 128, 56, 56), (128, 1, 3, 3), 1, 1, 1, 128, f64),
    "img2048_k5_f64": ((1, 1, 2048, 2048), (1, 1, 5, 5), 1, 0, 1, 1, f64),
}

#: The seed article's tiny cases take a bias.
WITH_BIAS = {"seed_k1", "seed_k3", "overhead_8x8", "seed_k3_f64"}


def make_case(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, Any, dict]:
    """Return ``(x, w, b, kwargs)`` for a zoo entry, with standard-normal data.

    Parameters
    ----------
    name : str
        A key of :data:`ZOO`.
    seed : int, default 0
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    tuple
        Input, weight, bias (``None`` unless the entry is in :data:`WITH_BIAS`) and the
        keyword arguments (``stride``, ``padding``, ``dilation``, ``groups``) of
        :func:`pyconv.conv2d`.
    """
    xs, ws, stride, padding, dilation, groups, dtype = ZOO[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if name in WITH_BIAS else None
    kwargs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    return x, w, b, kwargs


def flops(name: str) -> int:
    """Floating-point operations of a zoo entry (2 per multiply-add, bias not counted)."""
    xs, ws, s, p, d, _, _ = ZOO[name]
    ho = (xs[2] + 2 * p - d * (ws[2] - 1) - 1) // s + 1
    wo = (xs[3] + 2 * p - d * (ws[3] - 1) - 1) // s + 1
    return 2 * xs[0] * ws[0] * ho * wo * ws[1] * ws[2] * ws[3]


def describe(name: str) -> str:
    """One line for a zoo entry, e.g. ``'1x3x224x224 * 64x3x7x7 s2 p3 float32'``."""
    xs, ws, s, p, d, g, dtype = ZOO[name]
    parts = ["x".join(map(str, xs)), "*", "x".join(map(str, ws))]
    defaults = (("s", s, 1), ("p", p, 0), ("d", d, 1), ("g", g, 1))
    parts += [f"{key}{value}" for key, value, default in defaults if value != default]
    if name in WITH_BIAS:
        parts.append("bias")
    parts.append(np.dtype(dtype).name)
    return " ".join(parts)
