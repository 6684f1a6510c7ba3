"""Timing: PyTorch and pyconv's backends side by side on the shape zoo, in one process.

For each shape and thread count: every method is called once (warm-up, and the output
that is checked against the exact result), then ``rounds`` interleaved rounds; in each
round every method records the median of as many calls as fit ``budget`` seconds
(``min_calls`` to ``max_calls``).  The result is the median over the rounds.  The load of
other processes is measured over the whole row.
"""

from __future__ import annotations

import fnmatch
import functools
import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from .. import _registry, functional, grad
from .._validation import split_operation
from ..testing._cases import OpCall
from . import machine
from .zoo import NAMES, describe, flops, make_call

__all__ = [
    "TORCH",
    "Bench",
    "Result",
    "Row",
    "Settings",
    "default_backends",
    "parse_list",
    "parse_threads",
    "run_bench",
    "select_cases",
]

#: Label of the reference column: ``torch.nn.functional.conv2d`` called directly.
TORCH = "torch"
#: Label of pyconv's own ``torch`` backend (torch behind pyconv's front end).
TORCH_BACKEND_LABEL = "pyconv-torch"
#: Backends left out unless named: why.
NOT_BY_DEFAULT = {
    "numpy": "the reference, written for clarity, not speed",
    "torch": "pyconv's wrapper around the torch column",
}
#: At most this many calls per round for the slow reference backend.
NUMPY_MAX_CALLS = 3
#: Rows with more external load than this (in cores) are flagged.
LOAD_LIMIT = 0.25
#: ``--quick`` checks the outputs of the shapes up to this many MFLOP: the seed and
#: depthwise shapes, whose exact result costs milliseconds (the ResNet layers' cost
#: seconds each, and took two thirds of a full quick run).
QUICK_CHECK_MFLOP = 10.0


class _Progress(Protocol):
    def row(self, index: int, total: int, label: str) -> None: ...
    def step(self, detail: str) -> None: ...


# ---- arguments -----------------------------------------------------------------------


def parse_list(values: Sequence[str] | str) -> list[str]:
    """Split comma lists (from repeatable options) into one list, in order, without repeats."""
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values:
        for item in v.split(","):
            item = item.strip()
            if item and item not in out:
                out.append(item)
    return out


def parse_threads(text: str) -> list[int]:
    """Parse ``'1,2'`` into ``[1, 2]`` (order kept, repeats dropped).

    Raises
    ------
    ValueError
        An item that is not a positive integer, or an empty list.
    """
    out: list[int] = []
    for item in text.split(","):
        item = item.strip()
        try:
            n = int(item)
        except ValueError:
            raise ValueError(f"{item!r} is not a positive integer") from None
        if n < 1:
            raise ValueError(f"thread counts must be >= 1, got {n}")
        if n not in out:
            out.append(n)
    if not out:
        raise ValueError("no thread count given")
    return out


def select_cases(patterns: Sequence[str] = ()) -> list[str]:
    """Zoo names matching any pattern (a substring, or a glob with ``* ? [``), in zoo order.

    Raises
    ------
    ValueError
        A pattern that matches no shape (the message lists the names).
    """
    if not patterns:
        return list(NAMES)

    def hit(pattern: str, name: str) -> bool:
        if any(ch in pattern for ch in "*?["):
            return fnmatch.fnmatchcase(name, pattern)
        return pattern in name

    for p in patterns:
        if not any(hit(p, name) for name in NAMES):
            raise ValueError(f"--filter {p!r} matches no shape; the shapes are: {', '.join(NAMES)}")
    return [name for name in NAMES if any(hit(p, name) for p in patterns)]


def default_backends() -> tuple[list[str], dict[str, str]]:
    """Return the backends run when none are named, and the others with the reason.

    Returns
    -------
    run : list of str
        Every available registered backend except those of :data:`NOT_BY_DEFAULT`.
    left_out : dict
        Name -> why it is not run (not by default, or unavailable and why).
    """
    run, left_out = [], {}
    for b in _registry.backends():
        if not b.available:
            left_out[b.name] = f"unavailable: {b.reason}"
        elif b.name in NOT_BY_DEFAULT:
            left_out[b.name] = NOT_BY_DEFAULT[b.name]
        else:
            run.append(b.name)
    return run, left_out


# ---- results -------------------------------------------------------------------------


@dataclass
class Settings:
    """How a run measures (saved with the results).

    Attributes
    ----------
    rounds : int
        Interleaved rounds per shape and thread count.
    budget : float
        Seconds of calls per method and round.
    min_calls, max_calls : int
        Bounds on the calls per method and round (``max_calls`` is
        :data:`NUMPY_MAX_CALLS` for the numpy reference).
    check : bool
        Whether outputs are checked against the exact result.
    check_mflop : float or None
        Check only the shapes of at most this many MFLOP (None: every shape).  The exact
        result is computed in NumPy in higher precision, which takes seconds on the large
        shapes: ``--quick`` checks the small ones only (:data:`QUICK_CHECK_MFLOP`).
    peak_f32, peak_f64 : float, optional
        GFLOP/s per core that "% of peak" divides by (times the thread count); one not
        given is :func:`.machine.peak_per_core`'s.
    peak_source : str
        Where the peaks come from (filled in for those not given).
    """

    rounds: int = 3
    budget: float = 0.1
    min_calls: int = 3
    max_calls: int = 5000
    check: bool = True
    check_mflop: float | None = None
    peak_f32: float | None = None
    peak_f64: float | None = None
    peak_source: str = "given"

    def __post_init__(self) -> None:
        if self.peak_f32 is not None and self.peak_f64 is not None:
            return
        default = machine.peak_per_core()
        if self.peak_f32 is None and self.peak_f64 is None:
            self.peak_source = f"{default.source}; --peak-f32/--peak-f64 override it"
        else:
            given, other = (
                ("float32", "float64") if self.peak_f32 is not None else ("float64", "float32")
            )
            self.peak_source = f"{given} given, {other} the default, {default.source}"
        if self.peak_f32 is None:
            self.peak_f32 = default.float32
        if self.peak_f64 is None:
            self.peak_f64 = default.float64

    @classmethod
    def quick(cls, **kw: Any) -> Settings:
        """One round of one call per method: proves every method runs on every shape.

        It measures nothing (one call is no timing), and checks the outputs of the small
        shapes only (up to :data:`QUICK_CHECK_MFLOP`): the exact result of the large ones
        would take most of the run.
        """
        quick = {"rounds": 1, "budget": 0.0, "min_calls": 1, "max_calls": 1}
        return cls(**{**quick, "check_mflop": QUICK_CHECK_MFLOP, **kw})

    def checks(self, mflop: float) -> bool:
        """Whether the outputs of a shape of ``mflop`` MFLOP are checked."""
        return self.check and (self.check_mflop is None or mflop <= self.check_mflop)

    def peak(self, dtype: str) -> float:
        """Peak GFLOP/s per core for ``dtype``."""
        peak = self.peak_f64 if dtype == "float64" else self.peak_f32
        assert peak is not None  # filled in by __post_init__
        return peak


@dataclass
class Result:
    """One method on one shape at one thread count.

    Attributes
    ----------
    method : str
        The column label (:data:`TORCH`, a backend name, or ``'pyconv-torch'``).
    seconds : float or None
        Median over the rounds of the per-round medians; None if it did not run.
    rounds : list of float
        The per-round medians, seconds.
    calls : list of int
        Calls timed in each round.
    gflops, pct_peak : float or None
        ``flops / seconds / 1e9`` and its share of ``peak per core x threads``, in percent.
    vs_torch : float or None
        ``t_torch / t_method`` from the same row (> 1: faster than torch).
    skipped : str or None
        Why it did not run (the backend does not support the case).
    error : str or None
        The exception its call raised.
    check : dict or None
        The output against the exact result: ``ok``, ``contract``, ``c``, ``worst``
        (largest error / bound; <= 1 passes), ``max_abs_err``.
    """

    method: str
    seconds: float | None = None
    rounds: list[float] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    gflops: float | None = None
    pct_peak: float | None = None
    vs_torch: float | None = None
    skipped: str | None = None
    error: str | None = None
    check: dict | None = None

    @property
    def wrong(self) -> bool:
        """The call raised, or its output failed the accuracy check."""
        return self.error is not None or (self.check is not None and not self.check["ok"])


@dataclass
class Row:
    """One shape at one thread count: every method's :class:`Result`."""

    shape: str
    description: str
    dtype: str
    mflop: float
    threads: int
    load: float | None
    wall: float
    results: dict[str, Result]

    @property
    def loaded(self) -> bool:
        """Other processes used more than :data:`LOAD_LIMIT` cores during the row."""
        return self.load is not None and self.load > LOAD_LIMIT


@dataclass
class Bench:
    """A whole ``pyconv bench`` run."""

    rows: list[Row]
    methods: list[str]
    threads: list[int]
    settings: Settings
    machine: dict
    torch_missing: str | None = None
    left_out: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: method label -> the call that is timed
    calls: dict[str, str] = field(default_factory=dict)

    @property
    def failures(self) -> list[tuple[Row, Result]]:
        """Results that raised or failed the accuracy check."""
        return [(row, r) for row in self.rows for r in row.results.values() if r.wrong]

    def to_json(self) -> dict:
        """Everything, as plain JSON types (format ``pyconv-bench/1``)."""
        return {
            "format": "pyconv-bench/1",
            "machine": self.machine,
            "settings": asdict(self.settings),
            "threads": self.threads,
            "methods": self.methods,
            "calls": self.calls,
            "reference": None if self.torch_missing else TORCH,
            "torch_missing": self.torch_missing,
            "left_out": self.left_out,
            "notes": self.notes,
            "rows": [
                {
                    **{k: v for k, v in asdict(row).items() if k != "results"},
                    "loaded": row.loaded,
                    "results": {m: asdict(r) for m, r in row.results.items()},
                }
                for row in self.rows
            ],
        }


# ---- the run -------------------------------------------------------------------------


def _time(fn: Callable[[], Any], budget: float, min_calls: int, max_calls: int) -> tuple:
    """Median wall time of ``fn()`` over as many calls as fit ``budget`` (bounded)."""
    times: list[float] = []
    clock = time.perf_counter
    start = clock()
    while len(times) < min_calls or (len(times) < max_calls and clock() - start < budget):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times), len(times)


def _label(backend: Any) -> str:
    name = backend if isinstance(backend, str) else _registry.backend_name(backend)
    return TORCH_BACKEND_LABEL if name == "torch" else name


def _contract(obj: Any) -> tuple[str, float]:
    caps = getattr(obj, "capabilities", None)
    if caps is None:
        return "elementwise", 2.0
    return caps.accuracy, caps.accuracy_c


class _Method:
    """A callable to time on one case, or the reason it cannot run."""

    def __init__(
        self,
        label: str,
        fn: Callable | None,
        contract=("elementwise", 2.0),
        skipped: str | None = None,
        max_calls: int | None = None,
    ) -> None:
        self.label, self.fn, self.contract = label, fn, contract
        self.skipped, self.max_calls = skipped, max_calls


def _is_gradient(op: str) -> bool:
    return split_operation(op)[0] in ("conv_input", "conv_weight")


def _methods(name: str, torch: Any, objs: dict[str, tuple]) -> tuple[list[_Method], tuple]:
    op, args, kw = make_call(name)
    methods = []
    if torch is not None:
        targs = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
        f = getattr(torch.nn.grad if _is_gradient(op) else torch.nn.functional, op)

        def call_torch() -> np.ndarray:
            return f(*targs, **kw)

        methods.append(_Method(TORCH, call_torch))
    spec = OpCall(op, args, kw).spec()
    fn = getattr(grad if _is_gradient(op) else functional, op)
    for label, (obj, plain) in objs.items():
        ok = _registry.supports(obj, spec)
        if ok is not True:
            methods.append(_Method(label, None, skipped=str(ok)))
            continue
        call: Callable[[], np.ndarray]
        if plain:  # the default backend: the call users make (conv2d: its fast path)

            def call() -> np.ndarray:
                return fn(*args, **kw)

        else:
            call = functools.partial(fn, *args, **kw, backend=obj)
        slow = getattr(obj, "name", None) == "numpy"
        methods.append(
            _Method(label, call, _contract(obj), max_calls=NUMPY_MAX_CALLS if slow else None)
        )
    return methods, (op, args, kw, spec.dtype.name)


def _check(out: Any, exact: tuple, contract: tuple[str, float]) -> dict:
    from ..testing import compare_to_exact

    ref, magnitude, K, dtype = exact
    got = out.numpy() if hasattr(out, "numpy") else out
    r = compare_to_exact(got, ref, magnitude, K, dtype, contract=contract[0], c=contract[1])
    keep = ("ok", "contract", "c", "worst", "max_abs_err", "violations")
    return {k: r.get(k) for k in keep}


def _measure(
    methods: list[_Method], settings: Settings, progress: _Progress | None
) -> tuple[dict[str, Result], dict[str, Any]]:
    """Warm up, then interleaved rounds; return label -> Result, and the warm-up outputs."""
    results = {m.label: Result(m.label, skipped=m.skipped) for m in methods}
    live = [(m, m.fn) for m in methods if m.fn is not None]
    outputs: dict[str, Any] = {}

    def failed(m: _Method, exc: Exception) -> None:  # a broken backend is reported, not fatal
        results[m.label].error = f"{type(exc).__name__}: {exc}"
        results[m.label].rounds.clear()
        results[m.label].calls.clear()
        live[:] = [(lm, fn) for lm, fn in live if lm is not m]

    for m, fn in list(live):
        try:
            outputs[m.label] = fn()
        except Exception as exc:
            failed(m, exc)
    for r in range(settings.rounds):
        k = r % len(live) if live else 0
        for m, fn in live[k:] + live[:k]:  # rotate the order: no method is always first
            if progress is not None:
                progress.step(f"round {r + 1}/{settings.rounds} {m.label}")
            cap = (
                settings.max_calls if m.max_calls is None else min(m.max_calls, settings.max_calls)
            )
            try:
                med, n = _time(fn, settings.budget, min(settings.min_calls, cap), cap)
            except Exception as exc:
                failed(m, exc)
                continue
            results[m.label].rounds.append(med)
            results[m.label].calls.append(n)
    return results, outputs


def run_bench(
    cases: Sequence[str],
    threads: Sequence[int],
    backends: Sequence[Any] | None = None,
    *,
    settings: Settings | None = None,
    use_torch: bool = True,
    progress: _Progress | None = None,
) -> Bench:
    """Time torch and pyconv's backends on zoo shapes; check every output.

    Parameters
    ----------
    cases : sequence of str
        Zoo names (see :func:`select_cases`).
    threads : sequence of int
        Thread counts; each is set for pyconv, torch and the BLAS in turn, and restored
        afterwards.
    backends : sequence of str or backend objects, optional
        Default: :func:`default_backends`.  Names are loaded through the registry.
    settings : Settings, optional
        Rounds, time budget, call bounds, peaks, whether to check outputs.
    use_torch : bool, default True
        Time ``torch.nn.functional.conv2d`` as the reference (skipped, with a note, when
        torch cannot be imported).
    progress : object with ``row(index, total, label)`` and ``step(detail)``, optional
        Told what is being measured.

    Returns
    -------
    Bench
        The rows (shape-major, then threads), the settings and the machine description.

    Raises
    ------
    ValueError
        An unknown shape or backend name.
    pyconv.BackendUnavailableError
        A named backend that cannot be loaded.
    """
    settings = settings or Settings()
    unknown = [c for c in cases if c not in NAMES]
    if unknown:
        raise ValueError(f"unknown shapes {unknown}; the shapes are: {', '.join(NAMES)}")
    left_out: dict[str, str] = {}
    if backends is None:
        backends, left_out = default_backends()
    objs: dict[str, tuple] = {}
    calls = {
        TORCH: "torch.nn.functional.conv2d (or the row's operation, torch.nn.grad's for the "
        "gradients) on tensors sharing the arrays"
    }
    default = _registry.current_backend_name()
    for b in backends:
        obj = _registry.load_backend(b) if isinstance(b, str) else b
        plain = isinstance(b, str) and b == default
        objs[_label(b)] = (obj, plain)
        if plain:
            calls[_label(b)] = (
                "pyconv.conv2d(...) (or the row's operation) with no backend= (the default)"
            )
        else:
            what = repr(b) if isinstance(b, str) else f"<{_registry.backend_name(b)} object>"
            calls[_label(b)] = f"pyconv.conv2d(..., backend={what})"
    torch, missing = machine.import_torch() if use_torch else (None, "not requested")
    methods = ([TORCH] if torch is not None else []) + list(objs)
    bench = Bench(
        [],
        methods,
        list(threads),
        settings,
        machine.machine_info(torch),
        torch_missing=missing,
        calls={m: calls[m] for m in methods},
        left_out=left_out,
    )
    total, index = len(cases) * len(threads), 0
    for name in cases:
        ms, (op, args, kw, dtype) = _methods(name, torch, objs)
        exact = None
        for n in threads:
            if progress is not None:
                progress.row(index, total, f"{name}, {n} thread{'s' if n > 1 else ''}")
            index += 1
            gc_was = gc.isenabled()
            gc.disable()
            try:
                with machine.pinned_threads(n, torch) as note, machine.LoadMeter() as load:
                    results, outputs = _measure(ms, settings, progress)
            finally:
                if gc_was:
                    gc.enable()
            if note and note not in bench.notes:
                bench.notes.append(note)
            if settings.checks(flops(name) / 1e6):
                if exact is None:  # once per shape, after its first row (seconds on big ones)
                    if progress is not None:
                        progress.step("checking against the exact result")
                    exact = _exact(op, args, kw)
                contracts = {m.label: m.contract for m in ms}
                for label, out in outputs.items():
                    results[label].check = _check(out, exact, contracts[label])
            row = Row(
                name, describe(name), dtype, flops(name) / 1e6, n, load.cores, load.wall, results
            )
            _derive(row, settings.peak(dtype) * n)
            bench.rows.append(row)
    return bench


def _exact(op: str, args: tuple, kw: dict) -> tuple:
    from ..testing import exact_op

    return exact_op(op, *args, **kw)


def _derive(row: Row, peak: float) -> None:
    """Fill each result's median, GFLOP/s, % of peak and ratio to torch."""
    for r in row.results.values():
        if r.rounds:
            r.seconds = statistics.median(r.rounds)
            r.gflops = row.mflop / 1e3 / r.seconds
            r.pct_peak = 100.0 * r.gflops / peak
    ref = row.results.get(TORCH)
    if ref is None or ref.seconds is None:
        return
    for label, r in row.results.items():
        if label != TORCH and r.seconds is not None:
            r.vs_torch = ref.seconds / r.seconds
