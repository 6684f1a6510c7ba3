"""The family's golden data: torch's results for every operation but conv2d.

Run through ``python tools/make_golden.py`` (``--set family`` for this set alone); it writes
``pyconv/testing/data/family.json`` and ``family.npz`` in the format of the conv2d set
(``golden.json`` / ``golden.npz``, whose module docstring explains the streams and why the
expected results are exact), with, per case, the operation (``op``), its array arguments
by name (``input``, ``weight``, ``bias``, ``grad_output``), the shape argument of the
gradients (``size``: ``input_size`` or ``weight_size``), the parameters, and ``K``, the
reduction length of the accuracy contract, computed here independently of pyconv:

- ``conv{n}d``: ``C_in / groups * prod(kernel)``;
- ``conv_transpose{n}d`` and ``conv{n}d_input``: the (in-channel, tap) terms that reach
  one output, ``C / groups * prod(ceil(k_i / (s_i / gcd(s_i, d_i))))`` with ``C`` the
  channels of the array that is spread (the input, or ``grad_output``);
- ``conv{n}d_weight``: ``N * prod(output spatial size)``.

The expected results are ``torch.nn.functional.conv1d`` / ``conv3d`` /
``conv_transpose{n}d`` and ``torch.nn.grad.conv{n}d_input`` / ``conv{n}d_weight`` in
float64; the magnitudes ``A`` the same operation on the absolute values.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from make_golden import _fixed_point, _seed

MANIFEST = "family.json"
ARRAYS = "family.npz"


def _nt(v, n: int) -> tuple[int, ...]:
    return (v,) * n if isinstance(v, int) else tuple(v)


def _json(v):
    return list(v) if isinstance(v, tuple) else v


def reduction_length(op: str, arrays: dict, size, params: dict) -> int:
    """``K`` of the accuracy contract for a case (see the module docstring)."""
    if op.endswith("_weight"):
        go = arrays["grad_output"]
        return go[0] * math.prod(go[2:])
    weight = arrays["weight"]
    kernel = weight[2:]
    n, groups = len(kernel), params["groups"]
    if op.startswith("conv_transpose") or op.endswith("_input"):
        spread = arrays["input"][-n - 1] if "input" in arrays else arrays["grad_output"][1]
        s, d = _nt(params["stride"], n), _nt(params["dilation"], n)
        taps = math.prod(
            -(-k // (si // math.gcd(si, di))) for k, si, di in zip(kernel, s, d, strict=True)
        )
        return spread // groups * taps
    return weight[1] * math.prod(kernel)


class FamilyCases:
    """Collects the family's value cases and error cases."""

    def __init__(self) -> None:
        self.values: list[dict] = []
        self.errors: list[dict] = []

    def _add(self, id, description, op, arrays, params, dtype, size=None, data="normal"):
        case = {
            "id": "golden-" + id,
            "group": op,
            "description": description,
            "op": op,
            "dtype": dtype,
            "arrays": {k: list(v) for k, v in arrays.items() if v is not None},
            "size": None if size is None else list(size),
            "params": {k: _json(v) for k, v in params.items()},
            "data": data,
        }
        case["K"] = reduction_length(op, case["arrays"], size, params)
        if any(c["id"] == case["id"] for c in self.values):
            raise ValueError(f"duplicate case id {case['id']!r}")
        self.values.append(case)

    def conv(self, id, description, n, *, batch=1, cin=2, cout=3, size=None, k=3, stride=1,
             padding=0, dilation=1, groups=1, bias=True, dtype="float32", unbatched=False,
             data="normal"):  # fmt: skip
        """Add a conv1d / conv3d case; ``size`` defaults to a little more than the kernel."""
        kk, dd = _nt(k, n), _nt(dilation, n)
        if size is None:
            size = tuple(d * (kv - 1) + 2 + i for i, (kv, d) in enumerate(zip(kk, dd, strict=True)))
        lead = () if unbatched else (batch,)
        arrays = {
            "input": (*lead, cin, *_nt(size, n)),
            "weight": (cout, cin // groups, *kk),
            "bias": (cout,) if bias else None,
        }
        params = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        self._add(id, description, f"conv{n}d", arrays, params, dtype, data=data)

    def transpose(self, id, description, n, *, batch=1, cin=2, cout=3, size=4, k=3, stride=1,
                  padding=0, output_padding=0, groups=1, dilation=1, bias=True,
                  dtype="float32", unbatched=False):  # fmt: skip
        """Add a conv_transpose{n}d case."""
        lead = () if unbatched else (batch,)
        arrays = {
            "input": (*lead, cin, *_nt(size, n)),
            "weight": (cin, cout // groups, *_nt(k, n)),
            "bias": (cout,) if bias else None,
        }
        params = {
            "stride": stride, "padding": padding, "output_padding": output_padding,
            "groups": groups, "dilation": dilation,
        }  # fmt: skip
        self._add(id, description, f"conv_transpose{n}d", arrays, params, dtype)

    def gradient(self, id, description, kind, n, *, batch=2, cin=2, cout=3, size=None, k=3,
                 stride=1, padding=0, dilation=1, groups=1, dtype="float32"):  # fmt: skip
        """Add a conv{n}d_input or conv{n}d_weight case of a forward call."""
        kk, ss, pp, dd = _nt(k, n), _nt(stride, n), _nt(padding, n), _nt(dilation, n)
        if size is None:
            size = tuple(d * (kv - 1) + 3 + i for i, (kv, d) in enumerate(zip(kk, dd, strict=True)))
        size = _nt(size, n)
        out = tuple(
            (L + 2 * p - d * (kv - 1) - 1) // s + 1
            for L, kv, s, p, d in zip(size, kk, ss, pp, dd, strict=True)
        )
        x_shape, w_shape = (batch, cin, *size), (cout, cin // groups, *kk)
        go_shape = (batch, cout, *out)
        params = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        if kind == "input":
            arrays = {"weight": w_shape, "grad_output": go_shape}
            self._add(id, description, f"conv{n}d_input", arrays, params, dtype, size=x_shape)
        else:
            arrays = {"input": x_shape, "grad_output": go_shape}
            self._add(id, description, f"conv{n}d_weight", arrays, params, dtype, size=w_shape)

    def error(self, id, description, op, error, args, **params):
        """Add an invalid call.

        ``args`` are (shape, dtype) pairs, sizes marked as ``('size', shape)``, or None, in
        the function's order.
        """

        def arg(a):
            if a is None:
                return None
            if a[0] == "size":
                return {"size": list(a[1])}
            shape, dtype = a if isinstance(a[-1], str) else (a, "float32")
            return {"shape": list(shape), "dtype": dtype}

        self.errors.append(
            {
                "id": "error-" + id,
                "description": description,
                "op": op,
                "error": error,
                "args": [arg(a) for a in args],
                "params": {k: _json(v) for k, v in params.items()},
            }
        )


def build_family_cases() -> FamilyCases:
    """Every case of the family's set, in a fixed order."""
    fc = FamilyCases()

    # -- conv1d
    c = fc.conv
    c("conv1d-k3", "conv1d, kernel 3, batch 2", 1, batch=2)
    c("conv1d-k1", "conv1d, kernel 1", 1, k=1, size=6)
    c("conv1d-k7-pad3", "conv1d, kernel 7, padding 3", 1, k=7, padding=3, size=12)
    c("conv1d-stride2-pad1", "conv1d, stride 2, padding 1", 1, stride=2, padding=1, size=11)
    c("conv1d-stride4-k2", "conv1d, stride 4 > kernel 2", 1, stride=4, k=2, size=13)
    c("conv1d-dil3", "conv1d, dilation 3", 1, dilation=3, size=10)
    c("conv1d-same-k4", "conv1d, 'same', kernel 4 (asymmetric)", 1, k=4, padding="same")
    c("conv1d-same-k2-dil3", "conv1d, 'same', kernel 2, dilation 3", 1, k=2, dilation=3,
      padding="same")  # fmt: skip
    c("conv1d-valid", "conv1d, 'valid'", 1, padding="valid")
    c("conv1d-groups2", "conv1d, groups 2", 1, cin=4, cout=6, groups=2)
    c("conv1d-depthwise", "conv1d, depthwise", 1, cin=4, cout=4, groups=4, k=5, padding=2)
    c("conv1d-nobias", "conv1d, no bias", 1, bias=False)
    c("conv1d-unbatched", "conv1d, unbatched (C, L) input", 1, unbatched=True)
    c("conv1d-batch0", "conv1d, empty batch", 1, batch=0)
    c("conv1d-f64", "conv1d, float64, stride 2, dilation 2", 1, stride=2, dilation=2, size=13,
      dtype="float64")  # fmt: skip
    c("conv1d-channels16", "conv1d, 16 to 8 channels", 1, cin=16, cout=8, size=20)
    c("conv1d-cancel", "conv1d, sums that cancel", 1, cin=4, data="cancel")
    # -- conv3d
    c("conv3d-k3", "conv3d, 3x3x3 kernel, padding 1", 3, padding=1, size=(3, 4, 5))
    c("conv3d-k1x3x2", "conv3d, 1x3x2 kernel", 3, k=(1, 3, 2), size=(2, 5, 4))
    c("conv3d-stride", "conv3d, stride (1, 2, 2)", 3, stride=(1, 2, 2), size=(3, 7, 6))
    c("conv3d-dil", "conv3d, dilation (2, 1, 2)", 3, k=2, dilation=(2, 1, 2), size=(4, 3, 5))
    c("conv3d-same-k2", "conv3d, 'same', 2x2x2 kernel", 3, k=2, padding="same", size=(3, 3, 4))
    c("conv3d-groups", "conv3d, groups 2", 3, cin=4, cout=4, groups=2, k=2, size=(3, 3, 3))
    c("conv3d-unbatched", "conv3d, unbatched (C, D, H, W)", 3, unbatched=True, k=2,
      size=(3, 4, 3))  # fmt: skip
    c("conv3d-f64", "conv3d, float64, padding (0, 1, 2)", 3, padding=(0, 1, 2), k=(2, 3, 3),
      size=(3, 4, 4), dtype="float64", batch=2)  # fmt: skip
    c("conv3d-batch0", "conv3d, empty batch", 3, batch=0, k=2, size=(2, 3, 3))

    # -- transposed
    t = fc.transpose
    t("ct1d-s2-p1-op1", "conv_transpose1d, stride 2, padding 1, output_padding 1", 1, stride=2,
      padding=1, output_padding=1, size=6)  # fmt: skip
    t("ct1d-s3-k2", "conv_transpose1d, stride 3 > kernel 2 (phases only the bias reaches)", 1,
      stride=3, k=2, size=5)  # fmt: skip
    t("ct1d-s4-d2", "conv_transpose1d, stride 4, dilation 2 (gcd 2)", 1, stride=4, dilation=2,
      k=4, size=4, padding=1)  # fmt: skip
    t("ct1d-op-below-dilation", "conv_transpose1d, output_padding 2 < dilation 3", 1,
      dilation=3, output_padding=2, size=3)  # fmt: skip
    t("ct1d-groups", "conv_transpose1d, groups 2", 1, cin=4, cout=6, groups=2, stride=2)
    t("ct1d-unbatched", "conv_transpose1d, unbatched", 1, unbatched=True, stride=2)
    t("ct1d-f64", "conv_transpose1d, float64", 1, stride=3, padding=2, k=5, dtype="float64",
      batch=2)  # fmt: skip
    t("ct2d-s2-p1", "conv_transpose2d, stride 2, padding 1 (a decoder step)", 2, stride=2,
      padding=1, size=(4, 5), batch=2)  # fmt: skip
    t("ct2d-s2-k4-p1", "conv_transpose2d, 4x4 kernel, stride 2, padding 1 (DCGAN)", 2, k=4,
      stride=2, padding=1, size=(3, 4))  # fmt: skip
    t("ct2d-s2-k2", "conv_transpose2d, 2x2 kernel, stride 2 (U-Net up-convolution)", 2, k=2,
      stride=2, size=(3, 4), cin=4, cout=2)  # fmt: skip
    t("ct2d-mixed", "conv_transpose2d, stride (1, 3), dilation (2, 1), output_padding (1, 2)",
      2, stride=(1, 3), dilation=(2, 1), output_padding=(1, 2), padding=(1, 0), k=(3, 2),
      size=(4, 3))  # fmt: skip
    t("ct2d-depthwise", "conv_transpose2d, depthwise, stride 2", 2, cin=3, cout=3, groups=3,
      stride=2, padding=1, size=(4, 4))  # fmt: skip
    t("ct2d-pad-crop", "conv_transpose2d, padding cropping most of the result", 2, k=3,
      stride=2, padding=(3, 2), size=(3, 3))  # fmt: skip
    t("ct2d-nobias", "conv_transpose2d, no bias, 1x1 kernel, stride 2", 2, k=1, stride=2,
      bias=False, size=(3, 3), output_padding=1)  # fmt: skip
    t("ct2d-unbatched", "conv_transpose2d, unbatched", 2, unbatched=True, stride=2, size=(3, 4))
    t("ct2d-batch0", "conv_transpose2d, empty batch", 2, batch=0, stride=2)
    t("ct2d-f64", "conv_transpose2d, float64, groups 2, dilation 2", 2, cin=4, cout=4,
      groups=2, dilation=2, stride=2, output_padding=1, size=(3, 4), dtype="float64")  # fmt: skip
    t("ct3d-s2-p1-op1", "conv_transpose3d, stride 2, padding 1, output_padding 1", 3, stride=2,
      padding=1, output_padding=1, size=(2, 3, 2))  # fmt: skip
    t("ct3d-mixed", "conv_transpose3d, stride (1, 2, 3), kernel (2, 1, 3)", 3,
      stride=(1, 2, 3), k=(2, 1, 3), size=(2, 3, 2))  # fmt: skip
    t("ct3d-f64", "conv_transpose3d, float64, unbatched", 3, unbatched=True, stride=2, k=2,
      size=(2, 2, 3), dtype="float64")  # fmt: skip

    # -- gradients
    for kind in ("input", "weight"):
        g = fc.gradient
        short = "gi" if kind == "input" else "gw"
        g(f"{short}1d-s2-p1", f"conv1d_{kind}, stride 2, padding 1", kind, 1, stride=2, padding=1,
          size=12)  # fmt: skip
        g(f"{short}1d-groups-dil", f"conv1d_{kind}, groups 2, dilation 2", kind, 1, cin=4,
          cout=6, groups=2, dilation=2, size=11)  # fmt: skip
        g(f"{short}1d-f64", f"conv1d_{kind}, float64, batch 3", kind, 1, batch=3, k=5,
          padding=2, dtype="float64")  # fmt: skip
        g(f"{short}2d-k3-p1", f"conv2d_{kind}, 3x3 kernel, padding 1", kind, 2, padding=1,
          size=(6, 5))  # fmt: skip
        g(f"{short}2d-s2", f"conv2d_{kind}, stride 2 (an input size the output cannot tell)",
          kind, 2, stride=2, padding=1, size=(8, 7))  # fmt: skip
        g(f"{short}2d-s3-k2", f"conv2d_{kind}, stride 3 > kernel 2", kind, 2, stride=3, k=2,
          size=(8, 9))  # fmt: skip
        g(f"{short}2d-dil-groups", f"conv2d_{kind}, dilation (2, 1), groups 2", kind, 2, cin=4,
          cout=4, groups=2, dilation=(2, 1), size=(7, 6))  # fmt: skip
        g(f"{short}2d-depthwise", f"conv2d_{kind}, depthwise, stride 2", kind, 2, cin=3, cout=3,
          groups=3, stride=2, padding=1, size=(7, 7))  # fmt: skip
        g(f"{short}2d-f64", f"conv2d_{kind}, float64, stride (2, 1)", kind, 2, stride=(2, 1),
          padding=(1, 0), size=(7, 6), dtype="float64")  # fmt: skip
        g(f"{short}2d-batch0", f"conv2d_{kind}, empty batch", kind, 2, batch=0)
        g(f"{short}3d-k3-p1", f"conv3d_{kind}, 3x3x3, padding 1", kind, 3, padding=1,
          size=(3, 4, 4))  # fmt: skip
        g(f"{short}3d-mixed", f"conv3d_{kind}, stride (1, 2, 2), kernel (1, 3, 2)", kind, 3,
          stride=(1, 2, 2), k=(1, 3, 2), size=(2, 5, 5))  # fmt: skip
        g(f"{short}3d-f64", f"conv3d_{kind}, float64", kind, 3, k=2, dtype="float64",
          size=(3, 3, 4))  # fmt: skip

    # -- error cases: the front end raises these types for every backend
    e = fc.error
    w1, w3, wt2 = (3, 2, 3), (3, 2, 3, 3, 3), (2, 3, 3, 3)
    e("conv1d-rank4", "conv1d of a 4-D input", "conv1d", "ValueError", [(1, 2, 5, 5), w1])
    e("conv1d-channels", "conv1d, 3 input channels for a weight of 2", "conv1d", "ValueError",
      [(1, 3, 8), w1])  # fmt: skip
    e("conv1d-stride-pair", "conv1d with 2 strides", "conv1d", "ValueError", [(1, 2, 8), w1],
      stride=[1, 1])  # fmt: skip
    e("conv1d-same-stride", "conv1d, 'same' with stride 2", "conv1d", "ValueError",
      [(1, 2, 8), w1], padding="same", stride=2)  # fmt: skip
    e("conv1d-kernel-too-big", "conv1d, kernel 3 on a length 2", "conv1d", "ValueError",
      [(1, 2, 2), w1])  # fmt: skip
    e("conv1d-mixed", "conv1d, float32 input, float64 weight", "conv1d", "TypeError",
      [(1, 2, 8), (w1, "float64")])  # fmt: skip
    e("conv3d-rank3", "conv3d of a 3-D input", "conv3d", "ValueError", [(2, 5, 5), w3])
    e("conv3d-padding-pair", "conv3d with 2 paddings", "conv3d", "ValueError",
      [(1, 2, 4, 4, 4), w3], padding=[1, 1])  # fmt: skip
    e("conv3d-bias-shape", "conv3d, 2 bias values for 3 outputs", "conv3d", "ValueError",
      [(1, 2, 4, 4, 4), w3, (2,)])  # fmt: skip
    e("ct2d-rank5", "conv_transpose2d of a 5-D input", "conv_transpose2d", "ValueError",
      [(1, 1, 2, 5, 5), wt2])  # fmt: skip
    e("ct2d-channels", "conv_transpose2d, 3 channels for a weight of 2", "conv_transpose2d",
      "ValueError", [(1, 3, 5, 5), wt2])  # fmt: skip
    e(
        "ct2d-output-padding",
        "conv_transpose2d, output_padding 2 with stride 2",
        "conv_transpose2d",
        "ValueError",
        [(1, 2, 5, 5), wt2],
        stride=2,
        output_padding=2,
    )
    e(
        "ct1d-output-padding-negative",
        "conv_transpose1d, output_padding -1",
        "conv_transpose1d",
        "ValueError",
        [(1, 3, 5), (3, 2, 3)],
        stride=2,
        output_padding=-1,
    )
    e("ct2d-too-small", "conv_transpose2d, padding 3 crops everything", "conv_transpose2d",
      "ValueError", [(1, 2, 2, 2), wt2], padding=3)  # fmt: skip
    e("ct2d-padding-string", "conv_transpose2d, padding='same'", "conv_transpose2d",
      "TypeError", [(1, 2, 5, 5), wt2], padding="same")  # fmt: skip
    e(
        "ct3d-groups",
        "conv_transpose3d, groups 3 not dividing 2 input channels",
        "conv_transpose3d",
        "ValueError",
        [(1, 2, 3, 3, 3), (2, 3, 3, 3, 3)],
        groups=3,
    )
    e("ct2d-stride0", "conv_transpose2d, stride 0", "conv_transpose2d", "ValueError",
      [(1, 2, 5, 5), wt2], stride=0)  # fmt: skip
    e("gi2d-grad-shape", "conv2d_input, grad_output of the wrong size", "conv2d_input",
      "ValueError", [("size", (1, 2, 5, 5)), (3, 2, 3, 3), (1, 3, 4, 4)])  # fmt: skip
    e("gi2d-unbatched", "conv2d_input, an unbatched input_size", "conv2d_input", "ValueError",
      [("size", (2, 5, 5)), (3, 2, 3, 3), (3, 3, 3)])  # fmt: skip
    e(
        "gi2d-channels",
        "conv2d_input, input_size with 4 channels for a weight of 2",
        "conv2d_input",
        "ValueError",
        [("size", (1, 4, 5, 5)), (3, 2, 3, 3), (1, 3, 3, 3)],
    )
    e("gi1d-mixed", "conv1d_input, float64 weight, float32 grad_output", "conv1d_input",
      "TypeError", [("size", (1, 2, 8)), ((3, 2, 3), "float64"), (1, 3, 6)])  # fmt: skip
    e("gw2d-grad-shape", "conv2d_weight, grad_output of the wrong size", "conv2d_weight",
      "ValueError", [(1, 2, 5, 5), ("size", (3, 2, 3, 3)), (1, 3, 4, 4)])  # fmt: skip
    e("gw3d-weight-size", "conv3d_weight, weight_size with 3 input channels for 2",
      "conv3d_weight", "ValueError", [(1, 2, 4, 4, 4), ("size", (3, 3, 3, 3, 3)),
                                      (1, 3, 2, 2, 2)])  # fmt: skip
    e(
        "gw2d-mixed",
        "conv2d_weight, float64 input, float32 grad_output",
        "conv2d_weight",
        "TypeError",
        [((1, 2, 5, 5), "float64"), ("size", (3, 2, 3, 3)), (1, 3, 3, 3)],
    )
    e("gw2d-padding-string", "conv2d_weight, padding='valid'", "conv2d_weight", "TypeError",
      [(1, 2, 5, 5), ("size", (3, 2, 3, 3)), (1, 3, 3, 3)], padding="valid")  # fmt: skip
    return fc


# --------------------------------------------------------------------------- the data


def make_family_arrays(case: dict) -> dict[str, np.ndarray]:
    """Draw the arrays of a value case, reproducibly from its id (dict name -> array)."""
    rng = _seed(case["id"])
    dtype = np.dtype(case["dtype"])
    out = {}
    for name, shape in case["arrays"].items():
        if dtype == np.float64:
            a = _fixed_point(rng, shape)
        else:
            a = rng.standard_normal(shape).astype(np.float32)
        out[name] = a
    if case["data"] == "cancel":  # x nearly constant, every kernel sums to ~0
        x = out["input"]
        out["input"] = (1 + (x - x.mean()) * 1e-3).astype(dtype)
        w = out["weight"].astype(np.float64)
        out["weight"] = (w - w.mean(axis=tuple(range(1, w.ndim)), keepdims=True)).astype(dtype)
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def _params(case: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in case["params"].items()}


def torch_family(torch, case: dict, arrays: dict[str, np.ndarray | None]) -> np.ndarray:
    """Compute the case's operation in float64 with torch."""

    def t(name):
        a = arrays.get(name)
        return None if a is None else torch.from_numpy(np.asarray(a, dtype=np.float64))

    op, p = case["op"], _params(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 'same' with an even kernel
        if op.endswith("_input"):
            out = getattr(torch.nn.grad, op)(tuple(case["size"]), t("weight"), t("grad_output"),
                                             **p)  # fmt: skip
        elif op.endswith("_weight"):
            out = getattr(torch.nn.grad, op)(t("input"), tuple(case["size"]), t("grad_output"),
                                             **p)  # fmt: skip
        else:
            out = getattr(torch.nn.functional, op)(t("input"), t("weight"), t("bias"), **p)
    return out.numpy()


def torch_family_error(torch, case: dict) -> str | None:
    """Return the exception type torch raises for an error case (None if it accepts it)."""

    def arg(a):
        if a is None:
            return None
        if "size" in a:
            return tuple(a["size"])
        return torch.from_numpy(np.ones(a["shape"], dtype=a["dtype"]))

    op = case["op"]
    fn = getattr(torch.nn.grad if "d_" in op else torch.nn.functional, op)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(*[arg(a) for a in case["args"]], **_params(case))
    except Exception as exc:
        return type(exc).__name__
    return None
