"""Generate the golden data of the conformance suite (``pyconv/testing/data/``).

Run from a source checkout with PyTorch installed::

    python tools/make_golden.py               # writes pyconv/testing/data/golden.{npz,json}
                                              # and family.{npz,json}
    python tools/make_golden.py --set family  # only the family's set (make_golden_family.py)
    python tools/make_golden.py --out DIR     # somewhere else (to compare before replacing)

It is kept in the repository but not shipped: the wheel carries only its output, and
``pyconv.testing`` never regenerates a missing file.

What it writes
--------------
``golden.npz``
    Four flat arrays, each the concatenation over the cases (in manifest order):
    ``inputs_float32`` and ``inputs_float64`` (each case's ``x``, ``w`` and ``b`` in its
    dtype), ``expected`` (float64: ``torch.nn.functional.conv2d`` of the inputs converted
    to float64) and ``magnitude`` (``A = conv(|x|, |w|) + |b|``, the scale of the accuracy
    contract, computed the same way and stored rounded up to float32).  Each case's
    ``offsets`` in the manifest say where its arrays start.  Few members keep the file
    small; the zip members carry a fixed date, so the same results give the same bytes.
``golden.json``
    The manifest: format version, ``torch.__version__``, NumPy's version, the date, the
    seed, the npz file's SHA-256, the parameters of every value case and every error
    case (arguments by shape and dtype, and the pyconv error type expected).

Why the expected outputs are (near) exact
------------------------------------------
float32 inputs are random normal numbers; torch's float64 convolution of them rounds
only at 2**-53 relative, far below the float32 contract.  float64 inputs are random
fixed-point numbers ``k * 2**-20`` with ``|k| < 2**20``: every product is a multiple of
2**-40 below 1 and every partial sum stays below 2**53 units of 2**-40, so torch's
float64 result is *exact*, whatever order it sums in.  Either way the check does not
depend on pyconv's own reference implementation.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import itertools
import json
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

FORMAT = 1
SEED = 20260501
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "pyconv" / "testing" / "data"
MANIFEST = "golden.json"
ARRAYS = "golden.npz"
FIXED_POINT_BITS = 20  # float64 inputs: k * 2**-20, |k| < 2**20 (see the module docstring)
ARTICLE_DARK_LINE_OUT = [[[27, 28, 23], [220, 220, 224], [16, 16, 28]]]


# --------------------------------------------------------------------------- the cases


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _effective(k, d) -> tuple[int, int]:
    (kh, kw), (dh, dw) = _pair(k), _pair(d)
    return dh * (kh - 1) + 1, dw * (kw - 1) + 1


class CaseList:
    """Collects value cases (by parameters) and error cases (by argument shapes)."""

    def __init__(self) -> None:
        self.values: list[dict] = []
        self.errors: list[dict] = []

    def value(
        self,
        id: str,
        description: str,
        *,
        n: int = 1,
        cin: int = 2,
        cout: int = 3,
        hw: tuple[int, int] | None = None,
        k=3,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        dtype: str = "float32",
        unbatched: bool = False,
        data: str = "normal",
        group: str = "",
    ) -> None:
        """Add a value case.

        ``hw`` defaults to an input a little larger than the effective kernel and not
        square, so that swapped height and width axes show up.
        """
        ekh, ekw = _effective(k, dilation)
        if hw is None:
            hw = (max(4, ekh + 1), max(5, ekw + 2))
        kh, kw = _pair(k)
        case = {
            "id": "golden-" + id,
            "group": group,
            "description": description,
            "dtype": dtype,
            "input_shape": [cin, *hw] if unbatched else [n, cin, *hw],
            "weight_shape": [cout, cin // groups, kh, kw],
            "bias": bias,
            "stride": stride if isinstance(stride, int) else list(stride),
            "padding": padding if isinstance(padding, (int, str)) else list(padding),
            "dilation": dilation if isinstance(dilation, int) else list(dilation),
            "groups": groups,
            "unbatched": unbatched,
            "data": data,
        }
        if any(c["id"] == case["id"] for c in self.values):
            raise ValueError(f"duplicate case id {case['id']!r}")
        self.values.append(case)

    def error(
        self,
        id: str,
        description: str,
        error: str,
        input,
        weight,
        bias=None,
        *,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
    ) -> None:
        """Add an error case; ``input`` / ``weight`` / ``bias`` are (shape, dtype) pairs."""

        def arg(a):
            if a is None:
                return None
            shape, dtype = a if isinstance(a[-1], str) else (a, "float32")
            return {"shape": list(shape), "dtype": dtype}

        self.errors.append(
            {
                "id": "error-" + id,
                "description": description,
                "error": error,
                "input": arg(input),
                "weight": arg(weight),
                "bias": arg(bias),
                "stride": stride,
                "padding": padding,
                "dilation": dilation,
                "groups": groups,
            }
        )


def build_cases() -> CaseList:
    """Every case of the suite, in a fixed order."""
    cl = CaseList()
    v = cl.value

    # -- kernel sizes 1..7, square, even and non-square
    g = "kernel"
    for k in range(1, 8):
        v(f"k{k}x{k}", f"{k}x{k} kernel", k=k, n=2 if k == 3 else 1, group=g)
    for kh, kw in [(1, 3), (3, 1), (2, 5), (5, 2), (1, 7), (7, 1), (4, 6), (6, 3), (3, 7)]:
        v(f"k{kh}x{kw}", f"non-square {kh}x{kw} kernel", k=(kh, kw), group=g)
    for k in [(1, 1), (3, 3), (5, 2), (7, 7)]:
        v(f"k{k[0]}x{k[1]}-f64", f"{k[0]}x{k[1]} kernel, float64", k=k, dtype="float64",
          n=2 if k == (3, 3) else 1, group=g)  # fmt: skip

    # -- stride
    g = "stride"
    v("stride2", "stride 2, batch 2", stride=2, hw=(9, 8), n=2, group=g)
    v("stride3", "stride 3", stride=3, hw=(10, 11), group=g)
    v("stride1x2", "stride (1, 2)", stride=(1, 2), hw=(7, 9), group=g)
    v("stride2x1", "stride (2, 1)", stride=(2, 1), hw=(9, 7), group=g)
    v("stride3x2", "stride (3, 2), sizes not multiples", stride=(3, 2), hw=(11, 10), group=g)
    v("stride2-k1", "1x1 kernel, stride 2 (subsampling)", k=1, stride=2, hw=(7, 6), group=g)
    v("stride4-k2", "2x2 kernel, stride 4 (gaps)", k=2, stride=4, hw=(11, 13), group=g)
    v("stride2-pad1", "stride 2, padding 1", stride=2, padding=1, hw=(8, 9), group=g)
    v("stride2-k4-pad2", "4x4 kernel, stride 2, padding 2", k=4, stride=2, padding=2, group=g)
    v("stride5", "stride larger than the kernel", stride=5, hw=(12, 14), group=g)
    v("stride2-f64", "stride 2, float64", stride=2, hw=(9, 8), dtype="float64", group=g)

    # -- symmetric padding
    g = "padding"
    v("pad1", "padding 1, batch 2", padding=1, n=2, group=g)
    v("pad2", "padding 2", padding=2, group=g)
    v("pad1x0", "padding (1, 0)", padding=(1, 0), group=g)
    v("pad0x2", "padding (0, 2)", padding=(0, 2), group=g)
    v("pad3-k3", "padding larger than half the kernel", padding=3, hw=(4, 5), group=g)
    v("pad2-k1", "1x1 kernel, padding 2: a border of bias only", k=1, padding=2, group=g)
    v("pad-valid", "padding='valid'", padding="valid", group=g)
    v("pad1-k4", "even kernel, symmetric padding 1", k=4, padding=1, group=g)
    v("pad3x1-k2x5", "padding (3, 1), 2x5 kernel", k=(2, 5), padding=(3, 1), group=g)
    v("pad1-f64", "padding 1, float64", padding=1, dtype="float64", group=g)

    # -- padding='same' (asymmetric for an even effective kernel: extra zero bottom/right)
    g = "same"
    v("same-k1", "'same', 1x1 kernel", k=1, padding="same", group=g)
    v("same-k3", "'same', 3x3 kernel (symmetric)", padding="same", group=g)
    v("same-k5x3", "'same', 5x3 kernel (symmetric)", k=(5, 3), padding="same", group=g)
    v("same-k2", "'same', 2x2 kernel (asymmetric)", k=2, padding="same", group=g)
    v("same-k4", "'same', 4x4 kernel (asymmetric)", k=4, padding="same", group=g)
    v("same-k2x3", "'same', 2x3 kernel (asymmetric in H)", k=(2, 3), padding="same", group=g)
    v("same-k3x4", "'same', 3x4 kernel (asymmetric in W)", k=(3, 4), padding="same", group=g)
    v("same-k6x1", "'same', 6x1 kernel", k=(6, 1), padding="same", group=g)
    v("same-k2-dil3", "'same', 2x2 kernel, dilation 3 (asymmetric)", k=2, dilation=3,
      padding="same", group=g)  # fmt: skip
    v("same-k3-dil2", "'same', 3x3 kernel, dilation 2", dilation=2, padding="same", group=g)
    v("same-k4-dil2", "'same', even kernel, dilation 2 (symmetric)", k=4, dilation=2,
      padding="same", group=g)  # fmt: skip
    v("same-k2-dil2", "'same', 2x2 kernel, dilation 2 (symmetric)", k=2, dilation=2,
      padding="same", group=g)  # fmt: skip
    v("same-k4-f64", "'same', 4x4 kernel, float64", k=4, padding="same", dtype="float64", group=g)

    # -- dilation
    g = "dilation"
    v("dil2-k3", "dilation 2, batch 2", dilation=2, n=2, group=g)
    v("dil3-k3", "dilation 3", dilation=3, group=g)
    v("dil1x2-k3", "dilation (1, 2)", dilation=(1, 2), group=g)
    v("dil2x1-k3", "dilation (2, 1)", dilation=(2, 1), group=g)
    v("dil2-pad2", "dilation 2, padding 2", dilation=2, padding=2, group=g)
    v("dil2-stride2", "dilation 2, stride 2", dilation=2, stride=2, hw=(11, 12), group=g)
    v("dil3-k2", "2x2 kernel, dilation 3", k=2, dilation=3, group=g)
    v("dil2-k5-pad4", "5x5 kernel, dilation 2, padding 4", k=5, dilation=2, padding=4, group=g)
    v("dil2x3-k3x2", "3x2 kernel, dilation (2, 3)", k=(3, 2), dilation=(2, 3), group=g)
    v("dil2-k3-f64", "dilation 2, float64", dilation=2, dtype="float64", group=g)

    # -- groups, depthwise, channel multipliers
    g = "groups"
    v("groups2", "groups 2", cin=4, cout=4, groups=2, group=g)
    v("groups2-mult", "groups 2, 3 outputs per group", cin=4, cout=6, groups=2, group=g)
    v("groups3", "groups 3, 1 output per group", cin=6, cout=3, groups=3, group=g)
    v("groups4-k1", "grouped 1x1 convolution", cin=8, cout=4, groups=4, k=1, group=g)
    v("depthwise", "depthwise (groups = C_in = C_out), batch 2", cin=4, cout=4, groups=4, n=2,
      group=g)  # fmt: skip
    v("depthwise-mult2", "depthwise, channel multiplier 2", cin=3, cout=6, groups=3, group=g)
    v("depthwise-mult3", "depthwise, channel multiplier 3", cin=2, cout=6, groups=2, group=g)
    v("depthwise-k5-pad2", "depthwise 5x5, padding 2", cin=4, cout=4, groups=4, k=5, padding=2,
      group=g)  # fmt: skip
    v("depthwise-stride2-pad1", "depthwise, stride 2, padding 1", cin=3, cout=3, groups=3,
      stride=2, padding=1, hw=(9, 8), group=g)  # fmt: skip
    v("depthwise-dil2-same", "depthwise, dilation 2, 'same'", cin=3, cout=3, groups=3,
      dilation=2, padding="same", group=g)  # fmt: skip
    v("groups2-nobias", "groups 2, no bias", cin=4, cout=4, groups=2, bias=False, group=g)
    v("depthwise-f64", "depthwise, float64", cin=4, cout=4, groups=4, dtype="float64", group=g)
    v("groups2-mult-f64", "groups 2, 2 outputs per group, float64", cin=4, cout=4, groups=2,
      dtype="float64", group=g)  # fmt: skip

    # -- bias
    g = "bias"
    v("nobias", "no bias", bias=False, group=g)
    v("nobias-f64", "no bias, float64", bias=False, dtype="float64", group=g)
    v("bias-large", "bias dominating the sum", data="large-bias", group=g)
    v("bias-only", "zero weight: the output is the bias", data="zero-weight", group=g)

    # -- unbatched (C, H, W) input
    g = "unbatched"
    v("unbatched", "unbatched input", unbatched=True, group=g)
    v("unbatched-same-k4", "unbatched, 'same', 4x4 kernel", unbatched=True, k=4,
      padding="same", group=g)  # fmt: skip
    v("unbatched-groups2", "unbatched, groups 2", unbatched=True, cin=4, cout=4, groups=2,
      group=g)  # fmt: skip
    v("unbatched-depthwise-stride2", "unbatched depthwise, stride 2", unbatched=True, cin=3,
      cout=3, groups=3, stride=2, hw=(9, 9), group=g)  # fmt: skip
    v("unbatched-f64", "unbatched, float64", unbatched=True, dtype="float64", group=g)
    v("unbatched-out1x1", "unbatched, 1x1 output", unbatched=True, hw=(3, 3), group=g)

    # -- edges: empty batch, 1x1 outputs, thin inputs, more channels
    g = "edge"
    v("batch0", "empty batch (N = 0)", n=0, group=g)
    v("batch0-groups2-f64", "empty batch, groups 2, float64", n=0, cin=4, cout=4, groups=2,
      dtype="float64", group=g)  # fmt: skip
    v("batch3", "batch of 3", n=3, group=g)
    v("out1x1", "input as large as the kernel: 1x1 output", k=5, hw=(5, 5), group=g)
    v("out1x1-dil2", "1x1 output through dilation", k=2, dilation=2, hw=(3, 3), group=g)
    v("out1x1-stride2", "1x1 output through stride", stride=2, hw=(4, 4), group=g)
    v("out1x1-pad1", "1x1 input, 3x3 kernel, padding 1", padding=1, hw=(1, 1), group=g)
    v("in1x1-k1", "1x1 input, 1x1 kernel", k=1, hw=(1, 1), group=g)
    v("row-k1x3", "a single row, 1x3 kernel", k=(1, 3), hw=(1, 9), group=g)
    v("column-k3x1", "a single column, 3x1 kernel", k=(3, 1), hw=(8, 1), group=g)
    v("one-channel", "one input and one output channel", cin=1, cout=1, hw=(12, 11), group=g)
    v("channels16", "16 input, 8 output channels", cin=16, cout=8, hw=(6, 5), n=1, group=g)
    v("out1x1-f64", "1x1 output, float64", k=5, hw=(5, 5), dtype="float64", group=g)

    # -- data that stresses the accuracy contract
    g = "data"
    v("dynamic-range", "inputs spanning 2**-20..2**20", data="dynamic-range", group=g)
    v("positive-image", "image-like data in [0, 1], positive kernel", data="positive", group=g)
    v("cancellation", "sums that cancel: exact result near 0, A large", data="cancel",
      cin=4, k=3, group=g)  # fmt: skip
    v("integers", "small integers (exact in float32)", data="integers", cin=4, group=g)

    # -- every combination of stride, padding, dilation, groups, bias and dtype
    kernels = [(3, 3), (2, 2), (3, 2), (1, 3), (4, 4)]
    combos = itertools.product(
        [1, 2], [0, 1, "same"], [1, 2], [1, 2], [True, False], ["float32", "float64"]
    )
    i = 0
    for stride, padding, dilation, groups, bias, dtype in combos:
        if padding == "same" and stride != 1:
            continue  # an error case, below
        k = kernels[i % len(kernels)]
        i += 1
        p = {0: "p0", 1: "p1", "same": "same"}[padding]
        cid = (
            f"grid-s{stride}-{p}-d{dilation}-g{groups}-k{k[0]}x{k[1]}"
            f"-{'bias' if bias else 'nobias'}-{'f64' if dtype == 'float64' else 'f32'}"
        )
        v(cid, f"stride {stride}, padding {padding!r}, dilation {dilation}, groups {groups}, "
          f"{k[0]}x{k[1]} kernel, {'bias' if bias else 'no bias'}, {dtype}",
          n=2 if i % 3 == 0 else 1, cin=4, cout=4, k=k, stride=stride, padding=padding,
          dilation=dilation, groups=groups, bias=bias, dtype=dtype, group="grid")  # fmt: skip

    # -- error cases: the front end must raise these types, whatever the backend
    e = cl.error
    x4, w4 = (1, 2, 6, 6), (3, 2, 3, 3)
    e("input-rank2", "2-D input", "ValueError", (6, 6), w4)
    e("input-rank5", "5-D input", "ValueError", (1, 1, 2, 6, 6), w4)
    e("input-rank1", "1-D input", "ValueError", (6,), w4)
    e("weight-rank3", "3-D weight", "ValueError", x4, (3, 2, 3))
    e("weight-rank5", "5-D weight", "ValueError", x4, (3, 2, 3, 3, 1))
    e("channel-mismatch", "weight expects 3 input channels, input has 2", "ValueError",
      x4, (3, 3, 3, 3))  # fmt: skip
    e("channel-mismatch-groups", "groups 2 with weight for 2 channels per group, C_in 2",
      "ValueError", x4, (4, 2, 3, 3), groups=2)  # fmt: skip
    e("groups0", "groups 0", "ValueError", x4, w4, groups=0)
    e("groups-negative", "groups -1", "ValueError", x4, w4, groups=-1)
    e("groups-not-dividing-out", "C_out 3 not divisible by groups 2", "ValueError",
      (1, 4, 6, 6), (3, 2, 3, 3), groups=2)  # fmt: skip
    e("groups-more-than-out", "groups 4 > C_out 2", "ValueError", (1, 4, 6, 6),
      (2, 1, 3, 3), groups=4)  # fmt: skip
    e("groups-float", "groups 2.0 (a float)", "TypeError", (1, 4, 6, 6), (4, 2, 3, 3),
      groups=2.0)  # fmt: skip
    e("kernel-larger-than-input", "5x5 kernel on a 3x3 input", "ValueError", (1, 2, 3, 3),
      (3, 2, 5, 5))  # fmt: skip
    e("kernel-larger-than-input-dilated", "3x3 kernel, dilation 3 (7x7) on 6x6", "ValueError",
      x4, w4, dilation=3)  # fmt: skip
    e("kernel-larger-than-input-w", "kernel wider than the input", "ValueError", (1, 2, 6, 2),
      w4)  # fmt: skip
    e("padding-negative", "padding -1", "ValueError", x4, w4, padding=-1)
    e("padding-negative-pair", "padding (0, -1)", "ValueError", x4, w4, padding=[0, -1])
    e("padding-bad-string", "padding='full'", "ValueError", x4, w4, padding="full")
    e("padding-three", "padding with 3 values", "ValueError", x4, w4, padding=[1, 1, 1])
    e("stride0", "stride 0", "ValueError", x4, w4, stride=0)
    e("stride-negative", "stride -1", "ValueError", x4, w4, stride=-1)
    e("stride0-pair", "stride (1, 0)", "ValueError", x4, w4, stride=[1, 0])
    e("stride-three", "stride with 3 values", "ValueError", x4, w4, stride=[1, 1, 1])
    e("stride-float", "stride 1.5", "TypeError", x4, w4, stride=1.5)
    e("dilation0", "dilation 0", "ValueError", x4, w4, dilation=0)
    e("dilation-negative", "dilation -2", "ValueError", x4, w4, dilation=-2)
    e("same-stride2", "padding='same' with stride 2", "ValueError", x4, w4, stride=2,
      padding="same")  # fmt: skip
    e("same-stride1x2", "padding='same' with stride (1, 2)", "ValueError", x4, w4,
      stride=[1, 2], padding="same")  # fmt: skip
    e("bias-shape", "bias of 2 elements for 3 outputs", "ValueError", x4, w4, (2,))
    e("bias-rank2", "2-D bias", "ValueError", x4, w4, (3, 1))
    e("mixed-input-weight", "float32 input, float64 weight", "TypeError", x4,
      (w4, "float64"))  # fmt: skip
    e("mixed-weight-input", "float64 input, float32 weight", "TypeError", (x4, "float64"), w4)
    e("mixed-bias", "float32 input and weight, float64 bias", "TypeError", x4, w4,
      ((3,), "float64"))  # fmt: skip
    e("dtype-int64", "int64 input and weight", "TypeError", (x4, "int64"), (w4, "int64"))
    e("dtype-int32", "int32 input and weight", "TypeError", (x4, "int32"), (w4, "int32"))
    e("dtype-float16", "float16 input and weight", "TypeError", (x4, "float16"),
      (w4, "float16"))  # fmt: skip
    e("dtype-complex64", "complex64 input and weight", "TypeError", (x4, "complex64"),
      (w4, "complex64"))  # fmt: skip
    e("dtype-bool", "bool input and weight", "TypeError", (x4, "bool"), (w4, "bool"))
    return cl


# --------------------------------------------------------------------------- the data


def _seed(case_id: str) -> np.random.Generator:
    """One generator per case, independent of the order of the cases."""
    return np.random.default_rng([SEED, zlib.crc32(case_id.encode())])


def _fixed_point(rng: np.random.Generator, shape, scale_bits: int = 0) -> np.ndarray:
    """float64 values ``k * 2**-20`` (|k| < 2**20), normal-ish, times ``2**-scale_bits``."""
    lim = 2**FIXED_POINT_BITS - 1
    k = np.clip(np.rint(rng.standard_normal(shape) * 2 ** (FIXED_POINT_BITS - 2)), -lim, lim)
    return k * 2.0 ** -(FIXED_POINT_BITS + scale_bits)


def make_arrays(case: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Draw the inputs of a value case, reproducibly from its id."""
    rng = _seed(case["id"])
    dtype = np.dtype(case["dtype"])
    xs, ws = tuple(case["input_shape"]), tuple(case["weight_shape"])
    bs = (ws[0],) if case["bias"] else None
    kind = case["data"]

    def draw(shape):
        if dtype == np.float64:
            return _fixed_point(rng, shape)
        return rng.standard_normal(shape).astype(np.float32)

    if kind == "normal":
        x, w = draw(xs), draw(ws)
        b = None if bs is None else draw(bs)
    elif kind == "large-bias":
        x, w = draw(xs), draw(ws)
        b = (draw(bs) * 1000).astype(dtype)
    elif kind == "zero-weight":
        x, w, b = draw(xs), np.zeros(ws, dtype), draw(bs)
    elif kind == "dynamic-range":
        ex = rng.integers(-20, 21, xs)
        x = (rng.standard_normal(xs) * 2.0**ex).astype(dtype)
        w = (rng.standard_normal(ws) * 2.0 ** rng.integers(-10, 11, ws)).astype(dtype)
        b = None if bs is None else (rng.standard_normal(bs) * 2.0**10).astype(dtype)
    elif kind == "positive":
        x = rng.uniform(0, 1, xs).astype(dtype)
        w = rng.uniform(0, 1, ws).astype(dtype)
        w /= w.sum(axis=(1, 2, 3), keepdims=True, dtype=dtype)
        b = None if bs is None else rng.uniform(0, 0.1, bs).astype(dtype)
    elif kind == "cancel":
        # x nearly constant, every kernel sums to ~0: large A, tiny results
        x = (1 + rng.standard_normal(xs) * 1e-3).astype(dtype)
        w = rng.standard_normal(ws)
        w -= w.mean(axis=(1, 2, 3), keepdims=True)
        w = w.astype(dtype)
        b = None if bs is None else (rng.standard_normal(bs) * 1e-3).astype(dtype)
    elif kind == "integers":
        x = rng.integers(-8, 9, xs).astype(dtype)
        w = rng.integers(-4, 5, ws).astype(dtype)
        b = None if bs is None else rng.integers(-8, 9, bs).astype(dtype)
    else:
        raise ValueError(f"unknown data kind {kind!r}")
    return np.ascontiguousarray(x), np.ascontiguousarray(w), b


def torch_conv(torch, x, w, b, case: dict) -> np.ndarray:
    """``F.conv2d`` in float64 of the (float32 or float64) inputs, with the case's params."""
    F = torch.nn.functional

    def t(a):
        return None if a is None else torch.from_numpy(np.asarray(a, dtype=np.float64))

    def p(v):
        return tuple(v) if isinstance(v, list) else v

    with warnings.catch_warnings():
        # torch warns that 'same' with an even kernel may copy the input
        warnings.simplefilter("ignore", UserWarning)
        out = F.conv2d(
            t(x), t(w), t(b), p(case["stride"]), p(case["padding"]), p(case["dilation"]),
            case["groups"],
        )  # fmt: skip
    return out.numpy()


def article_cases(torch) -> list[tuple[dict, np.ndarray, np.ndarray, np.ndarray | None]]:
    """Build the article's examples: the dark line verbatim, the layer, the decomposition."""
    from pyconv.examples import dark_line, layer_input

    out = []

    def case(id, description, x, w, b, **extra):
        c = {
            "id": "golden-" + id,
            "group": "article",
            "description": description,
            "dtype": str(x.dtype),
            "input_shape": list(x.shape),
            "weight_shape": list(w.shape),
            "bias": b is not None,
            "stride": 1,
            "padding": 0,
            "dilation": 1,
            "groups": 1,
            "unbatched": x.ndim == 3,
            "data": "article",
            **extra,
        }
        out.append((c, x, w, b))

    x, w = dark_line()
    case(
        "article-dark-line",
        "the article's dark-line demo, verbatim: F.conv2d(x, weight.unsqueeze(0))",
        x,
        w,
        None,
        article_output=ARTICLE_DARK_LINE_OUT,
    )
    # The article's nn.Conv2d(3, 3, kernel_size=3) on its second input, torch.manual_seed(0)
    torch.manual_seed(0)
    layer = torch.nn.Conv2d(3, 3, kernel_size=3, stride=1, padding=0)
    case(
        "article-layer",
        "the article's nn.Conv2d(3, 3, kernel_size=3) (torch.manual_seed(0)) on its input",
        layer_input(),
        layer.weight.detach().numpy().copy(),
        layer.bias.detach().numpy().copy(),
        torch_seed=0,
    )
    # The decomposition experiment, the article's code with torch.manual_seed(0)
    torch.manual_seed(0)
    convolutional_layer = torch.nn.Conv2d(2, 3, 3, 1, bias=None)
    inp = torch.randn(1, 2, 4, 4).numpy().copy()
    weight = convolutional_layer.weight.detach().numpy().copy()
    case(
        "article-decomposition",
        "the article's Conv2d(2, 3, 3, 1, bias=None) on randn(1, 2, 4, 4) (manual_seed(0))",
        inp,
        weight,
        None,
        torch_seed=0,
    )
    for c in range(2):
        case(
            f"article-decomposition-ch{c}",
            f"the article's out_{c + 1}: input[:, {c}] with weight[:, {c}] only",
            np.ascontiguousarray(inp[:, c : c + 1]),
            np.ascontiguousarray(weight[:, c : c + 1]),
            None,
            torch_seed=0,
        )
    return out


def torch_error(torch, case: dict) -> str | None:
    """Return the exception type torch raises for an error case (None if it accepts it)."""
    F = torch.nn.functional

    def t(a):
        if a is None:
            return None
        return torch.from_numpy(np.ones(a["shape"], dtype=a["dtype"]))

    def p(v):
        return tuple(v) if isinstance(v, list) else v

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            F.conv2d(
                t(case["input"]), t(case["weight"]), t(case["bias"]), p(case["stride"]),
                p(case["padding"]), p(case["dilation"]), case["groups"],
            )  # fmt: skip
    except Exception as exc:
        return type(exc).__name__
    return None


def _round_up_float32(a: np.ndarray) -> np.ndarray:
    """Store A in float32, rounded up: half the bytes, and the bound is never tightened.

    A only scales the bound of the accuracy contract; rounding it up changes the bound by
    less than one part in 2**23.
    """
    a32 = a.astype(np.float32)
    low = a32.astype(np.float64) < a
    a32[low] = np.nextafter(a32[low], np.float32(np.inf))
    if not np.all(np.isfinite(a32)):
        raise AssertionError("A does not fit in float32")
    return a32


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``numpy.savez_compressed``, with a fixed date in the zip (reproducible bytes)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, a in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def _dumps(manifest: dict) -> str:
    """JSON with one line per case: small, and a readable diff when a case changes."""
    lines = []
    for key, value in manifest.items():
        if isinstance(value, list):
            items = ",\n".join("  " + json.dumps(v) for v in value)
            lines.append(f" {json.dumps(key)}: [\n{items}\n ]")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _streams() -> tuple[dict[str, list[np.ndarray]], Callable[[str, np.ndarray], int]]:
    """Return the four concatenated streams of an npz file, and ``put`` (-> the offset)."""
    streams: dict[str, list[np.ndarray]] = {
        "inputs_float32": [],
        "inputs_float64": [],
        "expected": [],
        "magnitude": [],
    }
    sizes = dict.fromkeys(streams, 0)

    def put(stream: str, a: np.ndarray) -> int:
        offset = sizes[stream]
        streams[stream].append(a.ravel())
        sizes[stream] += a.size
        return offset

    return streams, put


def _write_set(out: Path, manifest_name: str, arrays_name: str, streams, cases, errors,
               torch) -> None:  # fmt: skip
    """Write one set (an npz of the streams and its manifest); print what was written."""
    dtypes = {"inputs_float32": np.float32, "inputs_float64": np.float64,
              "expected": np.float64, "magnitude": np.float32}  # fmt: skip
    arrays = {k: np.concatenate([np.empty(0, dtypes[k]), *v]) for k, v in streams.items()}
    assert all(a.dtype == dtypes[k] for k, a in arrays.items())
    out.mkdir(parents=True, exist_ok=True)
    npz = out / arrays_name
    _write_npz(npz, arrays)
    digest = hashlib.sha256(npz.read_bytes()).hexdigest()
    manifest = {
        "format": FORMAT,
        "generator": "tools/make_golden.py",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seed": SEED,
        "fixed_point_bits_float64": FIXED_POINT_BITS,
        "arrays": arrays_name,
        "arrays_sha256": digest,
        "cases": cases,
        "errors": errors,
    }
    (out / manifest_name).write_text(_dumps(manifest))
    by_dtype = {d: sum(c["dtype"] == d for c in cases) for d in ("float32", "float64")}
    print(
        f"wrote {npz} ({npz.stat().st_size / 1024:.1f} KiB, {len(arrays)} arrays, "
        f"sha256 {digest[:16]}...)"
    )
    print(
        f"wrote {out / manifest_name} ({(out / manifest_name).stat().st_size / 1024:.1f} KiB): "
        f"{len(cases)} value cases ({by_dtype['float32']} float32, "
        f"{by_dtype['float64']} float64), {len(errors)} error cases"
    )
    accepted = [c["id"] for c in errors if c["torch_error"] is None]
    if accepted:
        print(f"note: torch accepts {len(accepted)} call(s) pyconv rejects: {', '.join(accepted)}")


def conv2d_set(torch, out: Path) -> None:
    """Write the conv2d set: golden.json / golden.npz."""
    cl = build_cases()
    entries = [(c, *make_arrays(c)) for c in cl.values] + article_cases(torch)
    streams, put = _streams()
    manifest_cases = []
    for case, x, w, b in entries:
        expected = torch_conv(torch, x, w, b, case)
        magnitude = torch_conv(torch, np.abs(x), np.abs(w), None if b is None else np.abs(b), case)
        assert expected.dtype == magnitude.dtype == np.float64
        if "article_output" in case and not np.array_equal(expected, case["article_output"]):
            raise AssertionError(f"torch no longer prints the article's output: {expected}")
        inputs = f"inputs_{x.dtype}"
        offsets = {"x": put(inputs, x), "w": put(inputs, w)}
        if b is not None:
            offsets["b"] = put(inputs, b)
        offsets["expected"] = put("expected", expected)
        offsets["magnitude"] = put("magnitude", _round_up_float32(magnitude))
        manifest_cases.append({**case, "output_shape": list(expected.shape), "offsets": offsets})
    errors = [{**c, "torch_error": torch_error(torch, c)} for c in cl.errors]
    _write_set(out, MANIFEST, ARRAYS, streams, manifest_cases, errors, torch)


def family_set(torch, out: Path) -> None:
    """Write the rest of the family: family.json / family.npz (make_golden_family.py)."""
    import make_golden_family as fam

    fc = fam.build_family_cases()
    streams, put = _streams()
    manifest_cases = []
    for case in fc.values:
        arrays = fam.make_family_arrays(case)
        expected = fam.torch_family(torch, case, arrays)
        magnitude = fam.torch_family(torch, case, {k: np.abs(a) for k, a in arrays.items()})
        assert expected.dtype == magnitude.dtype == np.float64
        inputs = f"inputs_{case['dtype']}"
        offsets = {name: put(inputs, a) for name, a in arrays.items()}
        offsets["expected"] = put("expected", expected)
        offsets["magnitude"] = put("magnitude", _round_up_float32(magnitude))
        manifest_cases.append({**case, "output_shape": list(expected.shape), "offsets": offsets})
    errors = [{**c, "torch_error": fam.torch_family_error(torch, c)} for c in fc.errors]
    _write_set(out, fam.MANIFEST, fam.ARRAYS, streams, manifest_cases, errors, torch)


def main(argv: list[str] | None = None) -> int:
    """Generate the data; print what was written.  Returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument(
        "--set",
        choices=["all", "conv2d", "family"],
        default="all",
        help="which files: conv2d (golden.*), family (family.*: the other operations), all",
    )
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("make_golden: PyTorch is needed: pip install torch", file=sys.stderr)
        return 1
    torch.use_deterministic_algorithms(True)
    print(f"make_golden: torch {torch.__version__}, numpy {np.__version__}, seed {SEED}")
    if args.set in ("all", "conv2d"):
        conv2d_set(torch, args.out)
    if args.set in ("all", "family"):
        family_set(torch, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
