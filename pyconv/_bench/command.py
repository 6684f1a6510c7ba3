"""``pyconv bench``: the command's work once its arguments are parsed (see ``pyconv.cli``)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

from .. import _registry
from . import report, runner
from .zoo import ZOO, describe, flops

__all__ = ["BenchError", "BenchUsageError", "bench_command", "positive_float", "thread_list"]


class BenchUsageError(ValueError):
    """A bad command line (exit status 2)."""


class BenchError(RuntimeError):
    """The run could not be done or found wrong results (exit status 1)."""


def thread_list(text: str) -> list[int]:
    """``argparse`` type of ``--threads``: ``'1,2'`` -> ``[1, 2]``."""
    try:
        return runner.parse_threads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid thread list {text!r}: {exc}") from None


def positive_float(text: str) -> float:
    """``argparse`` type of the peaks and the budget: a number > 0."""
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def _backends(values: list[str]) -> list[str] | None:
    """Return the backends named by ``--backends`` (None: the default set)."""
    names = runner.parse_list(values)
    if not names:
        return None
    if "all" in names:
        return [b.name for b in _registry.backends() if b.available]
    known = {b.name for b in _registry.backends()}
    for n in names:
        if n not in known:
            raise BenchUsageError(str(_registry.unknown_backend_error(n)))
    return names


def _list_shapes() -> int:
    width = max(map(len, ZOO))
    for name in ZOO:
        print(f"{name:<{width}}  {flops(name) / 1e6:>10.4g} MFLOP  {describe(name)}")
    return 0


def bench_command(args: argparse.Namespace) -> int:
    """Run ``pyconv bench`` with parsed arguments; print the table; return the exit status.

    Raises
    ------
    BenchUsageError
        A filter that matches nothing, an unknown backend.
    BenchError
        A backend that cannot be loaded, a JSON file that cannot be written, or results
        that raised or failed the accuracy check (after the table is printed).
    """
    if args.list:
        return _list_shapes()
    try:
        cases = runner.select_cases(runner.parse_list(args.filter))
    except ValueError as exc:
        raise BenchUsageError(str(exc)) from None
    names = _backends(args.backend_names)
    threads = args.threads or list(dict.fromkeys([1, runner.machine.available_cores()]))
    json_path = Path(args.json) if args.json else None
    if json_path is not None:
        folder = json_path.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise BenchError(
                f"cannot write the JSON file {str(json_path)!r}: no such folder, or not writable"
            )
    peaks = {"peak_f32": args.peak_f32, "peak_f64": args.peak_f64, "check": not args.no_check}
    settings = runner.Settings.quick(**peaks) if args.quick else runner.Settings(**peaks)
    if args.rounds is not None:
        settings.rounds = args.rounds
    if args.budget is not None:
        settings.budget = args.budget
    progress = report.Progress(sys.stderr, enabled=not args.no_progress)
    try:
        bench = runner.run_bench(cases, threads, names, settings=settings, progress=progress)
    except _registry.BackendUnavailableError as exc:
        raise BenchError(str(exc)) from None
    finally:
        progress.close()
    print("\n".join(report.header(bench)))
    print()
    print(report.table(bench, args.format))
    print()
    print("\n".join(report.footer(bench)))
    if json_path is not None:
        data = bench.to_json()
        data["options"] = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
        data["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        data["table"] = report.table_cells(bench)
        try:
            json_path.write_text(json.dumps(data, indent=1) + "\n")
        except OSError as exc:
            raise BenchError(
                f"cannot write the JSON file {str(json_path)!r}: {exc.strerror or exc}"
            ) from None
    bad = bench.failures
    if bad:
        which = ", ".join(f"{r.method} on {row.shape} ({row.threads}T)" for row, r in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise BenchError(f"wrong or failed results: {which}{more} (see the notes column)")
    return 0
