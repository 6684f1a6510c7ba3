"""The shape zoo: the cases ``pyconv bench`` and ``benchmarks/`` time.

:data:`ZOO`, the conv2d cases of ``reference/perf-anchors.md`` section 3: the seed
article's tiny cases, per-call overhead, ResNet-50 layers at batch 1 and 8, MobileNet
depthwise layers, a dilated layer, a 2048x2048 single-channel image, and float64 versions
of some of them.  Each entry: name -> (input shape, weight shape, stride, padding,
dilation, groups, dtype).

:data:`FAMILY`, the other operations: a 1-D audio-like layer (conv1d), a 3-D video-like
layer (conv3d), a stride-2 transposed decoder layer (conv_transpose2d, batch 1 and 8),
and the input and weight gradients of ResNet-50's 3x3 layer 2 (128 channels, 28x28,
batch 1 and 8).  :data:`NAMES` lists both, in the order the bench runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "FAMILY",
    "NAMES",
    "WITH_BIAS",
    "ZOO",
    "FamilyShape",
    "describe",
    "flops",
    "make_call",
    "make_case",
]

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


@dataclass(frozen=True)
class FamilyShape:
    """A case of another operation than conv2d.

    Attributes
    ----------
    op : str
        The operation (``'conv1d'``, ``'conv_transpose2d'``, ``'conv2d_input'``, ...).
    arrays : tuple of shapes
        The array arguments, in the function's order (``None`` for an absent bias).
    params : dict
        The keyword arguments of the call.
    size : tuple of int, optional
        ``input_size`` / ``weight_size`` of the gradients.
    dtype : numpy dtype, default float32
    """

    op: str
    arrays: tuple[tuple[int, ...] | None, ...]
    params: dict = field(default_factory=dict)
    size: tuple[int, ...] | None = None
    dtype: Any = f32


_R50_L2_X = {1: (1, 128, 28, 28), 8: (8, 128, 28, 28)}
_R50_L2_W = (128, 128, 3, 3)

FAMILY: dict[str, FamilyShape] = {
    # speech / audio front end: 64 channels over half a second at 16 kHz, kernel 9
    "conv1d_audio_b4": FamilyShape("conv1d", ((4, 64, 8000), (64, 64, 9), None), {"padding": 4}),
    # video: a C3D / R3D 3x3x3 layer, 8 frames of 56x56
    "conv3d_video_b1": FamilyShape(
        "conv3d", ((1, 64, 8, 56, 56), (64, 64, 3, 3, 3), None), {"padding": 1}
    ),
    # a decoder's stride-2 up-sampling step, 28x28 -> 56x56
    **{
        f"convT2d_s2_decoder_b{n}": FamilyShape(
            "conv_transpose2d",
            ((n, 128, 28, 28), (128, 64, 3, 3), None),
            {"stride": 2, "padding": 1, "output_padding": 1},
        )
        for n in (1, 8)
    },
    # the backward pass of ResNet-50's layer-2 3x3 convolution
    **{
        f"r50_l2_3x3_dgrad_b{n}": FamilyShape(
            "conv2d_input", (_R50_L2_W, _R50_L2_X[n]), {"padding": 1}, size=_R50_L2_X[n]
        )
        for n in (1, 8)
    },
    **{
        f"r50_l2_3x3_wgrad_b{n}": FamilyShape(
            "conv2d_weight", (_R50_L2_X[n], _R50_L2_X[n]), {"padding": 1}, size=_R50_L2_W
        )
        for n in (1, 8)
    },
}

#: Every case, conv2d's first.
NAMES: tuple[str, ...] = (*ZOO, *FAMILY)


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


def make_call(name: str, seed: int = 0) -> tuple[str, tuple, dict]:
    """Return ``(op, args, kwargs)``: the call of any case, with standard-normal data.

    ``args`` are the positional arguments of the operation's function (``pyconv.conv2d``,
    ``pyconv.conv_transpose2d``, ``pyconv.grad.conv2d_input``, ...).
    """
    if name in ZOO:
        x, w, b, kwargs = make_case(name, seed)
        return "conv2d", (x, w, b), kwargs
    case = FAMILY[name]
    rng = np.random.default_rng(seed)
    arrays = [
        None if shape is None else rng.standard_normal(shape).astype(case.dtype)
        for shape in case.arrays
    ]
    if case.op.endswith("_input"):
        return case.op, (case.size, *arrays), dict(case.params)
    if case.op.endswith("_weight"):
        return case.op, (arrays[0], case.size, arrays[1]), dict(case.params)
    return case.op, tuple(arrays), dict(case.params)


def _family_spec(name: str):
    from ..testing._cases import OpCall

    case = FAMILY[name]
    shapes = [None if s is None else np.broadcast_to(np.zeros((), case.dtype), s)
              for s in case.arrays]  # fmt: skip
    if case.op.endswith("_input"):
        args: tuple = (case.size, *shapes)
    elif case.op.endswith("_weight"):
        args = (shapes[0], case.size, shapes[1])
    else:
        args = tuple(shapes)
    return OpCall(case.op, args, dict(case.params)).spec()


def flops(name: str) -> int:
    """Floating-point operations of a case (2 per multiply-add, bias not counted)."""
    if name in FAMILY:
        return _family_spec(name).flops
    xs, ws, s, p, d, _, _ = ZOO[name]
    ho = (xs[2] + 2 * p - d * (ws[2] - 1) - 1) // s + 1
    wo = (xs[3] + 2 * p - d * (ws[3] - 1) - 1) // s + 1
    return 2 * xs[0] * ws[0] * ho * wo * ws[1] * ws[2] * ws[3]


def describe(name: str) -> str:
    """One line for a case, e.g. ``'1x3x224x224 * 64x3x7x7 s2 p3 float32'``.

    Cases of other operations start with the operation's name and list the arrays in
    the function's order (``conv2d_input 128x128x3x3 * 1x128x28x28 -> 1x128x28x28 p1
    float32``).
    """
    if name in FAMILY:
        case = FAMILY[name]
        arrays = [x for x in case.arrays if x is not None]
        parts = [case.op, " * ".join("x".join(map(str, a)) for a in arrays)]
        if case.size is not None:
            parts.append("-> " + "x".join(map(str, case.size)))
        short = {"stride": "s", "padding": "p", "output_padding": "op", "dilation": "d",
                 "groups": "g"}  # fmt: skip
        parts += [f"{short[k]}{v}" for k, v in case.params.items()]
        parts.append(np.dtype(case.dtype).name)
        return " ".join(parts)
    xs, ws, s, p, d, g, dtype = ZOO[name]
    parts = ["x".join(map(str, xs)), "*", "x".join(map(str, ws))]
    defaults = (("s", s, 1), ("p", p, 0), ("d", d, 1), ("g", g, 1))
    parts += [f"{key}{value}" for key, value, default in defaults if value != default]
    if name in WITH_BIAS:
        parts.append("bias")
    parts.append(np.dtype(dtype).name)
    return " ".join(parts)
