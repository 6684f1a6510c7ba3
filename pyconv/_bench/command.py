"""``pyconv bench``: its command line (:func:`add_parser`) and its run (:func:`bench_command`).

:mod:`pyconv.cli` adds the command and reports :class:`BenchUsageError` (exit status 2) and
:class:`BenchError` (1) as one line on stderr.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .. import _core, _registry
from . import machine, report, runner
from .zoo import NAMES, describe, flops

__all__ = [
    "BenchError",
    "BenchUsageError",
    "add_parser",
    "bench_command",
    "positive_float",
    "positive_int",
    "thread_list",
]


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


def positive_int(text: str) -> int:
    """``argparse`` type of ``--rounds``: an integer >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def positive_float(text: str) -> float:
    """``argparse`` type of the peaks and the budget: a number > 0."""
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


_BENCH_DESCRIPTION = """\
Time torch.nn.functional.conv2d and pyconv's backends side by side, in this process, on
the shape zoo (the article's tiny cases, per-call overhead, ResNet-50 layers at batch 1
and 8, depthwise, dilated, a 2048x2048 image, float64; `--list` shows them).

For each shape and thread count, pyconv, torch and the BLAS (through threadpoolctl) are
set to that many threads (restored afterwards); every method is called once (warm-up),
then the methods take turns for --rounds rounds; in each round a method records the
median of as many calls as fit --budget seconds (3 to 5000 calls; the numpy reference at
most 3).  The table shows the median over rounds: time, GFLOP/s, % of peak (peak per
core x threads) and t_torch / t (above 1: faster than torch).  The CPU load of other
processes during each row is measured (/proc/stat minus this process) and printed; rows
above 0.25 cores are flagged '!'.  Every output is checked once per row against the exact
result under the backend's accuracy contract: a wrong result shows WRONG and the exit
status is 1.  --quick calls each method once per shape (so its times measure nothing)
and checks only the shapes up to {quick_mflop:g} MFLOP (the seed, overhead and depthwise
ones): it proves that every backend runs on every shape, in seconds on the small ones.

Backends: by default every available backend except 'numpy' (the slow reference) and
'torch' (pyconv's wrapper of the torch column, shown as pyconv-torch); name them with
--backends, or --backends all.  The default backend is called as users call it,
pyconv.conv2d(x, w, ...) without backend=; the others with backend=NAME.  Without torch
installed there is no torch column and no ratio (the header says why).
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``bench`` command to ``sub`` (from ``ArgumentParser.add_subparsers``)."""
    bp: argparse.ArgumentParser = sub.add_parser(
        "bench",
        help="time the backends against torch on the shape zoo, print a table",
        description=_BENCH_DESCRIPTION.format(quick_mflop=runner.QUICK_CHECK_MFLOP),
        epilog="examples:\n  pyconv bench --filter r50 --threads 1,2\n"
        "  pyconv bench --filter 'dw*' --backends cython,numpy --json dw.json\n"
        "  pyconv bench --quick --filter seed,overhead --threads 1   (CI: runs, judges nothing)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bp.add_argument(
        "--threads",
        metavar="N,N",
        type=thread_list,
        default=None,
        help="thread counts (default: 1 and the cores available, here "
        f"{machine.available_cores()})",
    )
    bp.add_argument(
        "--filter",
        metavar="PATTERN",
        action="append",
        default=[],
        help="shapes whose name contains PATTERN, or matches it as a glob "
        "('r50_*_b1'); repeatable or comma-separated (default: all)",
    )
    bp.add_argument(
        "--backends",
        metavar="NAME,NAME",
        dest="backend_names",
        action="append",
        default=[],
        help="backends to time next to torch, or 'all' (default: "
        "every available one but numpy and torch); repeatable",
    )
    bp.add_argument(
        "--rounds",
        metavar="N",
        type=positive_int,
        default=None,
        help="interleaved rounds (default: 3; 1 with --quick)",
    )
    bp.add_argument(
        "--budget",
        metavar="SECONDS",
        type=positive_float,
        default=None,
        help="time of calls per method and round (default: 0.1)",
    )
    bp.add_argument(
        "--quick",
        action="store_true",
        help="one call per method and shape: checks that everything runs (CI), measures "
        "nothing; outputs checked on the shapes up to "
        f"{runner.QUICK_CHECK_MFLOP:g} MFLOP only",
    )
    bp.add_argument(
        "--json",
        metavar="FILE",
        default=None,
        help="also write everything to FILE: per-round medians, calls, the table, "
        "versions, CPU, ISA, build flags, BLAS, environment, load",
    )
    bp.add_argument(
        "--format",
        choices=("text", "markdown"),
        default="text",
        help="the table as aligned text (default) or a markdown pipe table",
    )
    for flag, dtype in (("--peak-f32", "float32"), ("--peak-f64", "float64")):
        bp.add_argument(
            flag,
            metavar="GFLOPS",
            type=positive_float,
            default=None,
            help=f"{dtype} peak GFLOP/s per core for '%%peak' (default: measured at the "
            "start of the run, a short multiply-add probe of the kernel variant in use)",
        )
    variants = [name for name, _detail, _ok in _core.isas()]
    bp.add_argument(
        "--isa",
        choices=variants,
        default=None,
        help="run pyconv's kernels of this variant and cap torch to the same instructions "
        "(ONEDNN_MAX_CPU_ISA, which torch reads when it is imported, so the bench runs in "
        "a child process); what a user with that CPU gets: e.g. --isa avx2 on an AVX-512 "
        "machine (default: the best this CPU runs, torch uncapped)",
    )
    bp.add_argument(
        "--no-check", action="store_true", help="skip checking the outputs against the exact result"
    )
    bp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    bp.add_argument("--list", action="store_true", help="list the shapes and exit")
    return bp


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
    width = max(map(len, NAMES))
    for name in NAMES:
        print(f"{name:<{width}}  {flops(name) / 1e6:>10.4g} MFLOP  {describe(name)}")
    return 0


def _child_argv(args: argparse.Namespace) -> list[str]:
    """Return the command line of ``args`` without ``--isa`` (for the capped child)."""
    argv = ["bench"]
    if args.threads:
        argv += ["--threads", ",".join(map(str, args.threads))]
    for flag, values in (("--filter", args.filter), ("--backends", args.backend_names)):
        for v in values:
            argv += [flag, v]
    for flag, value in (
        ("--rounds", args.rounds),
        ("--budget", args.budget),
        ("--json", args.json),
        ("--peak-f32", args.peak_f32),
        ("--peak-f64", args.peak_f64),
    ):
        if value is not None:
            argv += [flag, str(value)]
    argv += ["--format", args.format]
    for flag, on in (
        ("--quick", args.quick),
        ("--no-check", args.no_check),
        ("--no-progress", args.no_progress),
    ):
        if on:
            argv.append(flag)
    return argv


def _run_capped(args: argparse.Namespace) -> int:
    """``--isa NAME``: the same bench in a child process, pyconv and torch capped."""
    runs = [name for name, _detail, ok in _core.isas() if ok]
    if args.isa not in runs:
        raise BenchUsageError(
            f"this CPU cannot run the {args.isa} kernels (it runs: {', '.join(runs)})"
        )
    env = dict(os.environ)
    env["PYCONV_ISA"] = args.isa
    if args.isa in machine.ONEDNN_ISA:
        env["ONEDNN_MAX_CPU_ISA"] = machine.ONEDNN_ISA[args.isa]
    proc = subprocess.run(
        [sys.executable, "-m", "pyconv", *_child_argv(args)], env=env, check=False
    )
    return proc.returncode


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
    if args.isa is not None:
        return _run_capped(args)
    try:
        cases = runner.select_cases(runner.parse_list(args.filter))
    except ValueError as exc:
        raise BenchUsageError(str(exc)) from None
    names = _backends(args.backend_names)
    threads = args.threads or list(dict.fromkeys([1, machine.available_cores()]))
    json_path = Path(args.json) if args.json else None
    if json_path is not None:
        folder = json_path.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise BenchError(
                f"cannot write the JSON file {str(json_path)!r}: no such folder, or not writable"
            )
    peaks: dict[str, Any] = {"peak_f32": args.peak_f32, "peak_f64": args.peak_f64}
    if None not in peaks.values():
        peaks["peak_source"] = "given on the command line"
    kw = {**peaks, "check": not args.no_check}
    settings = runner.Settings.quick(**kw) if args.quick else runner.Settings(**kw)
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
