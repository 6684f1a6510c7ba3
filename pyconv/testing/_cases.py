"""The conformance cases: what each one calls and what it checks, before it meets a backend.

A case definition (:class:`CaseDef`) holds the calls it makes (so the runner can tell
whether the backend declares what they need, the operation first) and a check that takes
the backend under test (:class:`Target`) and raises :class:`ConformanceFailure` if the
backend gets it wrong.  :func:`definitions` lists them all: torch's golden results (every
operation), the error cases, then the properties (output shape, decomposition, groups,
bias, dtype, inputs unmodified, memory layouts, determinism, and for the rest of the
family: layouts, dtype, adjointness of the transposed convolution, determinism).
:mod:`._runner` binds them to a backend, runs them and reports.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .. import functional, grad
from .._registry import BackendUnavailableError, Capabilities, UnsupportedCallError
from .._threads import get_num_threads, set_num_threads
from .._validation import (
    ConvSpec,
    prepare_conv,
    prepare_conv2d,
    prepare_conv_input,
    prepare_conv_transpose,
    prepare_conv_weight,
    split_operation,
)
from ..functional import conv2d
from ._accuracy import accuracy_bound, compare_to_exact, exact_conv2d, exact_op
from ._golden import ErrorCase, GoldenCase, GoldenData

__all__ = ["Call", "CaseDef", "ConformanceFailure", "Target", "definitions"]


class ConformanceFailure(AssertionError):  # noqa: N818 - a failed check, as pytest shows it
    """A backend failed a conformance case it declares it supports."""


@dataclass(frozen=True)
class Target:
    """The backend under test, with the declaration that picks and judges its cases."""

    obj: Any
    name: str
    caps: Capabilities

    @property
    def contract(self) -> str:
        return self.caps.accuracy

    @property
    def c(self) -> float:
        return float(self.caps.accuracy_c)

    def conv(self, x, w, b=None, stride=1, padding=0, dilation=1, groups=1) -> Any:
        """Call through pyconv's front end, as users do (validation happens there)."""
        return conv2d(x, w, b, stride, padding, dilation, groups, backend=self.obj)

    def call(self, op: str, *args: Any, **params: Any) -> Any:
        """Call any operation through pyconv's front end (its public function)."""
        fn = getattr(grad if op.endswith(("_input", "_weight")) else functional, op)
        return fn(*args, **params, backend=self.obj)

    def applies(self, spec: ConvSpec) -> Literal[True] | str:
        ok = self.caps.check(spec)
        if ok is not True:
            return f"not declared: {ok}"
        supports = getattr(self.obj, "supports", None)
        if supports is not None:
            ok = supports(spec)
            if ok is not True:
                return f"the backend's supports() declines: {ok or 'returned False'}"
        return True


@dataclass(frozen=True)
class Call:
    """A conv2d call a case makes, for deciding whether the backend declares it."""

    x: Any
    w: Any
    b: Any = None
    stride: Any = 1
    padding: Any = 0
    dilation: Any = 1
    groups: int = 1

    def spec(self) -> ConvSpec:
        return prepare_conv2d(
            self.x, self.w, self.b, self.stride, self.padding, self.dilation, self.groups
        )[3]


_PREPARE: dict[str, Callable[..., tuple]] = {
    "conv": prepare_conv,
    "conv_transpose": prepare_conv_transpose,
    "conv_input": prepare_conv_input,
    "conv_weight": prepare_conv_weight,
}


@dataclass(frozen=True)
class OpCall:
    """A call of any operation (its function's positional arguments and parameters)."""

    op: str
    args: tuple
    params: dict

    def spec(self) -> ConvSpec:
        kind, n = split_operation(self.op)
        return _PREPARE[kind](*self.args, **self.params, ndim=n)[-1]


@dataclass(frozen=True)
class CaseDef:
    """A case before it is bound to a backend."""

    id: str
    kind: str  # 'golden', 'error' or 'property'
    description: str
    calls: tuple[Call | OpCall, ...]
    check: Callable[[Target], float | None]
    deterministic: bool = False  # applies only to backends that declare determinism


# --------------------------------------------------------------------------- checks


def _fmt(v: float) -> str:
    return f"{v:.9g}"


def _result(got: Any, dtype: np.dtype, shape: tuple[int, ...], what: str = "output") -> None:
    """Check the basics: a NumPy array of the input's dtype and the expected shape."""
    if not isinstance(got, np.ndarray):
        raise ConformanceFailure(f"the {what} is a {type(got).__name__}, not a numpy.ndarray")
    if got.dtype != dtype:
        raise ConformanceFailure(
            f"the {what} has dtype {got.dtype}, expected {dtype} (the input's dtype)"
        )
    if got.shape != tuple(shape):
        raise ConformanceFailure(f"the {what} has shape {got.shape}, expected {tuple(shape)}")


def _unmodified(arrays, originals, what=("input", "weight", "bias")) -> None:
    for name, a, o in zip(what, arrays, originals, strict=True):
        if a is None:
            continue
        if a.shape != o.shape or a.tobytes() != np.ascontiguousarray(o).tobytes():
            raise ConformanceFailure(f"the backend modified its {name} array")


def _against_golden(got: Any, case: GoldenCase, t: Target) -> float:
    _result(got, case.dtype, case.expected.shape)
    r = compare_to_exact(
        got, case.expected, case.magnitude, case.K, case.dtype, contract=t.contract, c=t.c
    )
    if not r["ok"]:
        if not r["nan_ok"] or not r["inf_ok"]:
            raise ConformanceFailure("NaN or inf where torch's result has none (or the reverse)")
        i = r["worst_index"]
        raise ConformanceFailure(
            f"{r['violations']} of {got.size} elements exceed the {t.contract} accuracy bound "
            f"(c={t.c:g}, K={case.K}); worst at index {i}: got {_fmt(r['got_at_worst'])}, "
            f"torch (float64) {_fmt(r['exact_at_worst'])}, |error| "
            f"{abs(r['got_at_worst'] - r['exact_at_worst']):.3g} > bound "
            f"{r['bound_at_worst']:.3g} ({r['worst']:.3g} times the bound)"
        )
    if case.article_output is not None and not np.array_equal(np.rint(got), case.article_output):
        raise ConformanceFailure(
            f"rounded to integers the result is {np.rint(got).astype(int).tolist()}, but the "
            f"article prints {case.article_output.astype(int).tolist()}"
        )
    return r["worst"]


def _golden_def(case: GoldenCase) -> CaseDef:
    if case.op != "conv2d":
        return _family_golden_def(case)

    def check(t: Target) -> float:
        x, w = np.array(case.x), np.array(case.w)  # writeable copies
        b = None if case.b is None else np.array(case.b)
        got = t.conv(x, w, b, **case.params)
        _unmodified((x, w, b), (case.x, case.w, case.b))
        return _against_golden(got, case, t)

    return CaseDef(
        case.id,
        "golden",
        f"{case.description}: torch's result, within the contract",
        (Call(case.x, case.w, case.b, **case.params),),
        check,
    )


def _family_golden_def(case: GoldenCase) -> CaseDef:
    def check(t: Target) -> float:
        arrays = tuple(None if a is None else np.array(a) for a in case.arrays)  # writeable
        got = t.call(case.op, *case.args(arrays), **case.params)
        _unmodified(arrays, case.arrays, _ARRAY_NAMES[split_operation(case.op)[0]])
        return _against_golden(got, case, t)

    return CaseDef(
        case.id,
        "golden",
        f"{case.description}: torch's result, within the contract",
        (OpCall(case.op, case.args(), case.params),),
        check,
    )


_ARRAY_NAMES = {
    "conv": ("input", "weight", "bias"),
    "conv_transpose": ("input", "weight", "bias"),
    "conv_input": ("weight", "grad_output"),
    "conv_weight": ("input", "grad_output"),
}


def _error_def(case: ErrorCase) -> CaseDef:
    def check(t: Target) -> None:
        args = case.args()
        expected = case.error.__name__
        try:
            t.call(case.op, *args, **case.params)
        except (UnsupportedCallError, BackendUnavailableError) as exc:
            raise ConformanceFailure(
                f"expected the front end's {expected}, but the call reached the backend "
                f"selection: {type(exc).__name__}: {exc}"
            ) from exc
        except case.error:
            return None
        except Exception as exc:
            raise ConformanceFailure(
                f"expected {expected}, got {type(exc).__name__}: {exc}"
            ) from exc
        raise ConformanceFailure(f"expected {expected}, but the call returned a result")

    if case.arguments is None:
        named = (("input", case.input), ("weight", case.weight), ("bias", case.bias))
        args = ", ".join(f"{n}={a[0]}:{a[1]}" for n, a in named if a is not None)
    else:
        args = ", ".join(
            "None" if a is None else f"{a[1]}" if a[0] == "size" else f"{a[0]}:{a[1]}"
            for a in case.arguments
        )
    return CaseDef(
        case.id,
        "error",
        f"{case.op}: {case.description} ({args}, {case.params}) raises {case.error.__name__}",
        (),
        check,
    )


# -- memory layouts (same values, odd strides, flags or alignment)


def _strided(a: np.ndarray) -> np.ndarray:
    big = np.zeros(tuple(2 * s for s in a.shape), dtype=a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    return view


def _negative(a: np.ndarray) -> np.ndarray:
    return np.flip(np.flip(a).copy())


def _read_only(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


def _channels_last(a: np.ndarray) -> np.ndarray:
    if a.ndim < 3:
        return a
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1)


def _unaligned(a: np.ndarray) -> np.ndarray:
    buf = np.zeros(a.nbytes + 1, dtype=np.uint8)
    out = buf[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


_LAYOUTS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "noncontiguous": ("every other element of a larger array", _strided),
    "fortran": ("Fortran order", np.asfortranarray),
    "negative-strides": ("negative strides on every axis", _negative),
    "read-only": ("read-only arrays", _read_only),
    "channels-last": ("channels-last memory (NHWC input, OHWI weight)", _channels_last),
    "unaligned": ("arrays not aligned to their itemsize", _unaligned),
}


def _layout_def(case: GoldenCase, name: str) -> CaseDef:
    text, make = _LAYOUTS[name]
    if case.op != "conv2d":

        def check_family(t: Target) -> float:
            arrays = tuple(None if a is None else make(np.array(a)) for a in case.arrays)
            got = t.call(case.op, *case.args(arrays), **case.params)
            _unmodified(arrays, case.arrays, _ARRAY_NAMES[split_operation(case.op)[0]])
            return _against_golden(got, case, t)

        return CaseDef(
            f"prop-layout-{name}-{case.id.removeprefix('golden-')}",
            "property",
            f"{text}: same result as {case.id}",
            (OpCall(case.op, case.args(), case.params),),
            check_family,
        )

    def check(t: Target) -> float:
        x, w = make(np.array(case.x)), make(np.array(case.w))
        b = None if case.b is None else make(np.array(case.b))
        got = t.conv(x, w, b, **case.params)
        _unmodified((x, w, b), (case.x, case.w, case.b))
        return _against_golden(got, case, t)

    return CaseDef(
        f"prop-layout-{name}-{case.dtype.name}",
        "property",
        f"{text}: same result as {case.id}",
        (Call(case.x, case.w, case.b, **case.params),),
        check,
    )


# -- properties checked against the backend itself


def _rng(key: str) -> np.random.Generator:
    """Return a generator seeded by the case: the data never depends on case order."""
    return np.random.default_rng([20260501, zlib.crc32(key.encode())])


def _normal(rng: np.random.Generator, shape, dtype) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def _close(what: str, a: np.ndarray, b: np.ndarray, tol: np.ndarray) -> None:
    """Assert two backend results agree within ``tol`` (element by element)."""
    work = np.longdouble if tol.dtype == np.longdouble else np.float64
    diff = np.abs(a.astype(work) - b.astype(work))
    bad = ~(diff <= tol)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, diff, -1)), diff.shape)
        raise ConformanceFailure(
            f"{what}: they differ by {float(diff[i]):.3g} at index {tuple(map(int, i))} "
            f"({_fmt(float(a[i]))} vs {_fmt(float(b[i]))}), more than the contract allows "
            f"({float(tol[i]):.3g}); {int(bad.sum())} of {a.size} elements differ too much"
        )


def _scale(t: Target, A: np.ndarray) -> np.ndarray:
    """Return what one extra rounding is measured against under the declared contract."""
    if t.contract == "normwise":
        return np.full_like(A, A.max() if A.size else 0)
    return A


def _expected_shape(xs, ws, stride, padding, dilation) -> tuple[int, ...]:
    """Apply torch's output-size formula, written out apart from pyconv's front end."""

    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    *lead, H, W = xs
    co, _, kh, kw = ws
    if padding == "same":
        ho, wo = H, W
    else:
        ph, pw = (0, 0) if padding == "valid" else pair(padding)
        ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    batch = tuple(lead[:1]) if len(xs) == 4 else ()
    return (*batch, co, ho, wo)


_SHAPES = [
    # id, input shape, weight shape, stride, padding, dilation, groups, dtype
    ("basic", (2, 3, 9, 7), (4, 3, 3, 2), 1, 0, 1, 1, "float32"),
    ("stride", (1, 2, 11, 10), (3, 2, 3, 3), (2, 3), (1, 0), 1, 1, "float32"),
    ("dilation", (1, 2, 12, 9), (2, 2, 3, 2), 1, (2, 1), (2, 3), 1, "float64"),
    ("stride-dilation-padding", (2, 1, 13, 13), (2, 1, 3, 3), 3, 2, 2, 1, "float32"),
    ("same-even", (1, 2, 7, 6), (2, 2, 4, 2), 1, "same", (1, 3), 1, "float64"),
    ("valid", (1, 2, 6, 8), (2, 2, 5, 3), 1, "valid", 1, 1, "float32"),
    ("groups", (2, 6, 8, 9), (9, 2, 2, 3), 2, 1, 1, 3, "float32"),
    ("unbatched", (3, 10, 7), (5, 3, 3, 3), (1, 2), (0, 1), (2, 1), 1, "float64"),
]


def _shape_def(spec) -> CaseDef:
    sid, xs, ws, stride, padding, dilation, groups, dtype = spec
    rng = _rng(f"shape-{sid}")
    x, w = _normal(rng, xs, dtype), _normal(rng, ws, dtype)
    want = _expected_shape(xs, ws, stride, padding, dilation)

    def check(t: Target) -> None:
        got = t.conv(x, w, None, stride, padding, dilation, groups)
        _result(got, np.dtype(dtype), want)

    return CaseDef(
        f"prop-shape-{sid}",
        "property",
        f"output shape {want} by torch's formula for input {xs}, weight {ws}, stride "
        f"{stride}, padding {padding!r}, dilation {dilation}, groups {groups}",
        (Call(x, w, None, stride, padding, dilation, groups),),
        check,
    )


def _decomposition_def(sid: str, x, w, b, stride=1, padding=0, dilation=1, source="") -> CaseDef:
    params = {"stride": stride, "padding": padding, "dilation": dilation}
    cin = x.shape[-3]
    slices = [(x[..., c : c + 1, :, :], w[:, c : c + 1]) for c in range(cin)]

    def check(t: Target) -> None:
        full = t.conv(x, w, b, **params)
        parts = [t.conv(xc, wc, None, **params) for xc, wc in slices]
        _, A, K, dtype = exact_conv2d(x, w, b, **params)
        _result(full, dtype, A.shape)
        for p in parts:
            _result(p, dtype, A.shape, "per-channel output")
        total = np.sum([p.astype(A.dtype) for p in parts], axis=0)
        if b is not None:
            total = total + b.astype(A.dtype).reshape(-1, 1, 1)
        # each side within its contract (K + cin covers the parts' normwise bounds), plus
        # the roundings of adding the cin parts and the bias
        extra = (cin + 1) * float(np.finfo(dtype).eps) * _scale(t, A)
        tol = 2 * accuracy_bound(A, K + cin, dtype, t.contract, t.c) + extra
        _close(
            "the convolution and the sum of its per-input-channel convolutions", full, total, tol
        )

    what = "the sum over input channels c of conv2d(x[:, c:c+1], w[:, c:c+1])"
    return CaseDef(
        f"prop-decomposition-{sid}",
        "property",
        f"{source}conv2d(x, w{', b' if b is not None else ''}) equals {what}"
        + (" + b" if b is not None else ""),
        (Call(x, w, b, **params), *(Call(xc, wc, None, **params) for xc, wc in slices)),
        check,
    )


def _groups_def(sid, xs, ws, groups, dtype, stride=1, padding=0, dilation=1) -> CaseDef:
    rng = _rng(f"groups-{sid}")
    x, w = _normal(rng, xs, dtype), _normal(rng, ws, dtype)
    b = _normal(rng, ws[:1], dtype)
    params = {"stride": stride, "padding": padding, "dilation": dilation}
    cig, cog = ws[1], ws[0] // groups
    pieces = [
        (x[:, g * cig : (g + 1) * cig], w[g * cog : (g + 1) * cog], b[g * cog : (g + 1) * cog])
        for g in range(groups)
    ]

    def check(t: Target) -> None:
        full = t.conv(x, w, b, groups=groups, **params)
        parts = [t.conv(xg, wg, bg, **params) for xg, wg, bg in pieces]
        _, A, K, dt = exact_conv2d(x, w, b, groups=groups, **params)
        _result(full, dt, A.shape)
        joined = np.concatenate(parts, axis=1)
        _result(joined, dt, A.shape, "concatenated per-group output")
        tol = 2 * accuracy_bound(A, K, dt, t.contract, t.c)
        _close(
            f"groups={groups} and the {groups} groups convolved apart, concatenated",
            full,
            joined,
            tol,
        )

    return CaseDef(
        f"prop-groups-split-{sid}",
        "property",
        f"groups={groups} on input {xs}, weight {ws} equals splitting the channels into "
        f"{groups} groups, convolving each with groups=1 and concatenating",
        (
            Call(x, w, b, groups=groups, **params),
            *(Call(xg, wg, bg, **params) for xg, wg, bg in pieces),
        ),
        check,
    )


def _bias_def(dtype: str) -> CaseDef:
    rng = _rng(f"bias-{dtype}")
    x, w = _normal(rng, (2, 3, 7, 8), dtype), _normal(rng, (4, 3, 3, 3), dtype)
    b = _normal(rng, (4,), dtype) * np.array(10, dtype)

    def check(t: Target) -> None:
        with_b = t.conv(x, w, b, padding=1)
        without = t.conv(x, w, None, padding=1)
        _, A, K, dt = exact_conv2d(x, w, b, padding=1)
        _result(with_b, dt, A.shape)
        _result(without, dt, A.shape, "output without bias")
        added = without.astype(A.dtype) + b.astype(A.dtype).reshape(-1, 1, 1)
        extra = float(np.finfo(dt).eps) * _scale(t, A)  # rounding of the addition
        tol = 2 * accuracy_bound(A, K, dt, t.contract, t.c) + extra
        _close("conv2d(x, w, b) and conv2d(x, w) + b", with_b, added, tol)

    return CaseDef(
        f"prop-bias-additive-{dtype}",
        "property",
        f"conv2d(x, w, b) equals conv2d(x, w) + b ({dtype}, padding 1)",
        (Call(x, w, b, padding=1), Call(x, w, None, padding=1)),
        check,
    )


def _dtype_def(dtype: str) -> CaseDef:
    rng = _rng(f"dtype-{dtype}")
    x, w, b = (
        _normal(rng, (2, 2, 6, 5), dtype),
        _normal(rng, (3, 2, 3, 3), dtype),
        _normal(rng, (3,), dtype),
    )

    def check(t: Target) -> None:
        dt = np.dtype(dtype)
        for label, xi in (("batched", x), ("unbatched", x[0])):
            got = t.conv(xi, w, b)
            _result(got, dt, (*xi.shape[:-3], 3, 4, 3), f"{label} output")
            if any(np.shares_memory(got, a) for a in (xi, w, b)):
                raise ConformanceFailure(f"the {label} output shares memory with an input")
            if not got.flags.writeable:
                raise ConformanceFailure(f"the {label} output is read-only, not a new array")

    return CaseDef(
        f"prop-dtype-{dtype}",
        "property",
        f"{dtype} in, {dtype} out: a new, writeable numpy.ndarray (batched and unbatched)",
        (Call(x, w, b), Call(x[0], w, b)),
        check,
    )


def _unmodified_def(dtype: str) -> CaseDef:
    rng = _rng(f"unmodified-{dtype}")
    xbig = _normal(rng, (2, 3, 9, 10), dtype)
    w, b = _normal(rng, (4, 3, 3, 2), dtype), _normal(rng, (4,), dtype)
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))

    def check(t: Target) -> None:
        big, wc, bc = xbig.copy(), w.copy(), b.copy()
        x = big[inner]  # a writeable view: writes beyond it would show in `big`
        t.conv(x, wc, bc, 2, 1, 1, 1)
        _unmodified(
            (big, wc, bc), (xbig, w, b), ("input (or the array around it)", "weight", "bias")
        )

    return CaseDef(
        f"prop-inputs-unmodified-{dtype}",
        "property",
        f"the input (a view into a larger array), weight and bias are left unchanged "
        f"({dtype}, stride 2, padding 1)",
        (Call(xbig[inner], w, b, 2, 1),),
        check,
    )


def _deterministic_def(dtype: str) -> CaseDef:
    rng = _rng(f"deterministic-{dtype}")
    c = 16 if dtype == "float32" else 8
    x = _normal(rng, (2, c, 32, 32), dtype)
    w, b = _normal(rng, (c, c, 3, 3), dtype), _normal(rng, (c,), dtype)

    def check(t: Target) -> None:
        first = t.conv(x, w, b, padding=1)
        _result(first, np.dtype(dtype), (2, c, 32, 32))
        runs = [("a second identical call", lambda: t.conv(x, w, b, padding=1))]
        threads = get_num_threads()
        if threads > 1:

            def one_thread():
                set_num_threads(1)
                try:
                    return t.conv(x, w, b, padding=1)
                finally:
                    set_num_threads(threads)

            runs.append(("a call with pyconv.set_num_threads(1)", one_thread))
        runs.append(("a third identical call", lambda: t.conv(x, w, b, padding=1)))
        for what, run in runs:
            again = run()
            if again.shape != first.shape or again.tobytes() != first.tobytes():
                n = int(np.sum(again != first)) if again.shape == first.shape else again.size
                raise ConformanceFailure(
                    f"not deterministic: {what} gave a different result ({n} elements differ)"
                )

    return CaseDef(
        f"prop-deterministic-{dtype}",
        "property",
        f"identical calls give bitwise identical results, whatever the thread count ({dtype})",
        (Call(x, w, b, padding=1),),
        check,
        deterministic=True,
    )


# -- the rest of the family


def _family_dtype_def(case: GoldenCase) -> CaseDef:
    """Check the dtype is kept and the output a new writeable array sharing no memory."""

    def check(t: Target) -> None:
        arrays = tuple(None if a is None else np.array(a) for a in case.arrays)
        got = t.call(case.op, *case.args(arrays), **case.params)
        _result(got, case.dtype, case.expected.shape)
        if any(a is not None and np.shares_memory(got, a) for a in arrays):
            raise ConformanceFailure("the output shares memory with an argument")
        if not got.flags.writeable:
            raise ConformanceFailure("the output is read-only, not a new array")

    return CaseDef(
        f"prop-dtype-{case.id.removeprefix('golden-')}",
        "property",
        f"{case.op}: {case.dtype.name} in, {case.dtype.name} out, a new writeable array",
        (OpCall(case.op, case.args(), case.params),),
        check,
    )


def _adjoint_def(n: int, dtype: str) -> CaseDef:
    """<conv(x, w), y> == <x, conv_transpose(y, w)>: the transposed convolution's definition."""
    rng = _rng(f"adjoint-{n}-{dtype}")
    size = (9, 8, 7)[:n] if n < 3 else (5, 6, 7)
    stride, padding, dilation, groups = (2,) * n, (1,) * n, (1, 2, 1)[:n], 2
    x = _normal(rng, (2, 4, *size), dtype)
    w = _normal(rng, (6, 2, *(3,) * n), dtype)
    fwd = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    out = tuple(
        (L + 2 * p - d * 2 - 1) // s + 1
        for L, s, p, d in zip(size, stride, padding, dilation, strict=True)
    )
    y = _normal(rng, (2, 6, *out), dtype)
    full = tuple(
        (o - 1) * s + d * 2 + 1 - 2 * p
        for o, s, p, d in zip(out, stride, padding, dilation, strict=True)
    )
    tr = {**fwd, "output_padding": tuple(L - f for L, f in zip(size, full, strict=True))}
    conv_op, tr_op = f"conv{n}d", f"conv_transpose{n}d"

    def check(t: Target) -> None:
        cx = t.call(conv_op, x, w, None, **fwd)
        ty = t.call(tr_op, y, w, None, **tr)
        _result(cx, np.dtype(dtype), y.shape, f"{conv_op} output")
        _result(ty, np.dtype(dtype), x.shape, f"{tr_op} output")
        work = np.longdouble
        lhs = np.sum(cx.astype(work) * y.astype(work))
        rhs = np.sum(x.astype(work) * ty.astype(work))
        # each side's elements are within their contracts: bound the two inner products
        _, a_conv, k_conv, _ = exact_op(conv_op, x, w, None, **fwd)
        _, a_tr, k_tr, _ = exact_op(tr_op, y, w, None, **tr)
        tol = np.sum(accuracy_bound(a_conv, k_conv, dtype, t.contract, t.c) * np.abs(y)) + np.sum(
            accuracy_bound(a_tr, k_tr, dtype, t.contract, t.c) * np.abs(x)
        )
        # plus the exact inner products' own difference: zero, and the long double sums
        tol += 4 * float(np.finfo(work).eps) * x.size * float(np.sum(np.abs(a_conv) * np.abs(y)))
        if not abs(lhs - rhs) <= tol:
            raise ConformanceFailure(
                f"<{conv_op}(x, w), y> = {_fmt(float(lhs))} but <x, {tr_op}(y, w)> = "
                f"{_fmt(float(rhs))}: they differ by {float(abs(lhs - rhs)):.3g}, more than "
                f"the contracts allow ({float(tol):.3g})"
            )

    return CaseDef(
        f"prop-adjoint-{tr_op}-{dtype}",
        "property",
        f"{tr_op} is the adjoint of {conv_op} (stride 2, padding 1, groups 2): "
        f"<{conv_op}(x, w), y> == <x, {tr_op}(y, w)> ({dtype})",
        (OpCall(conv_op, (x, w, None), fwd), OpCall(tr_op, (y, w, None), tr)),
        check,
    )


def _family_deterministic_def(case: GoldenCase) -> CaseDef:
    def check(t: Target) -> None:
        first = t.call(case.op, *case.args(), **case.params)
        threads = get_num_threads()
        runs = [t.call(case.op, *case.args(), **case.params)]
        if threads > 1:
            set_num_threads(1)
            try:
                runs.append(t.call(case.op, *case.args(), **case.params))
            finally:
                set_num_threads(threads)
        for again in runs:
            if again.tobytes() != first.tobytes():
                raise ConformanceFailure(
                    f"not deterministic: {case.op} gave a different result on a repeated call "
                    "or with pyconv.set_num_threads(1)"
                )

    return CaseDef(
        f"prop-deterministic-{case.id.removeprefix('golden-')}",
        "property",
        f"{case.op}: identical calls give bitwise identical results, whatever the thread count",
        (OpCall(case.op, case.args(), case.params),),
        check,
        deterministic=True,
    )


#: One golden case per kind of operation, for the layout, dtype and determinism properties.
_FAMILY_REPRESENTATIVES = (
    "golden-conv1d-stride2-pad1",
    "golden-conv3d-k3",
    "golden-ct2d-s2-p1",
    "golden-ct3d-f64",
    "golden-gi2d-s2",
    "golden-gw2d-s2",
)


def definitions(data: GoldenData) -> list[CaseDef]:
    defs: list[CaseDef] = [_golden_def(c) for c in data.cases]
    defs += [_error_def(e) for e in data.errors]
    defs += [_shape_def(s) for s in _SHAPES]
    art = data.case("golden-article-decomposition")
    defs.append(_decomposition_def("article", art.x, art.w, None, source="the article's "))
    rng = _rng("decomposition-strided-float64")
    x, w = _normal(rng, (2, 3, 9, 8), "float64"), _normal(rng, (2, 3, 3, 2), "float64")
    defs.append(
        _decomposition_def(
            "strided-float64",
            x,
            w,
            _normal(rng, (2,), "float64"),
            stride=2,
            padding=1,
            dilation=(2, 1),
        )
    )
    defs += [
        _groups_def("groups2", (2, 4, 7, 8), (6, 2, 3, 3), 2, "float32", padding=1),
        _groups_def("depthwise", (1, 4, 9, 9), (4, 1, 3, 3), 4, "float64", stride=2, padding=1),
        _groups_def("multiplier", (2, 3, 8, 7), (6, 1, 2, 3), 3, "float32", dilation=2),
    ]
    for dtype in ("float32", "float64"):
        defs += [_bias_def(dtype), _dtype_def(dtype), _unmodified_def(dtype)]
    for base in ("golden-k3x3", "golden-k3x3-f64"):
        defs += [_layout_def(data.case(base), name) for name in _LAYOUTS]
    defs += [_deterministic_def("float32"), _deterministic_def("float64")]
    for cid in _FAMILY_REPRESENTATIVES:
        case = data.case(cid)
        defs += [_layout_def(case, name) for name in _LAYOUTS]
        defs += [_family_dtype_def(case), _family_deterministic_def(case)]
    defs += [_adjoint_def(n, dtype) for n in (1, 2, 3) for dtype in ("float32", "float64")]
    return defs
