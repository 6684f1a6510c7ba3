"""The ``pyconv`` command line (also ``python -m pyconv``).

Commands
--------
demo
    The three experiments of the article pyconv started from, with pyconv instead of
    PyTorch: numbers printed as the article prints them, images written as torchvision's
    ``ToPILImage`` writes them (plus readable, normalised versions).
show-config
    :func:`pyconv.show_config`.
backends
    List the backends, their status and capabilities, and the operations each implements.
check NAME
    Run the conformance suite (:func:`pyconv.testing.check_backend`) on a backend and
    print the report; exit status 0 when every case it declares passes, 1 otherwise.
bench
    Time PyTorch and the backends side by side on the shape zoo (interleaved rounds,
    pinned thread counts, external load measured, every output checked) and print a
    table of time, GFLOP/s, % of peak and the ratio to torch; exit status 1 when a
    backend's result is wrong.

Exit status: 0 on success; 1 when the work failed (files that cannot be written, a
backend that cannot be loaded, results that disagree); 2 for a bad command line (unknown
command, option or backend name).  Errors are one line on stderr, ``pyconv: error: ...``,
without a traceback.  A missing Pillow is not an error for ``demo``: the numbers are
printed, a warning on stderr says that the images were skipped, and the status is 0.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from . import _demo
from ._bench import command as bench

__all__ = ["main"]

PROG = "pyconv"

_DESCRIPTION = """\
pyconv: PyTorch's conv2d on NumPy arrays, exactly, without PyTorch.
Run `pyconv COMMAND --help` for a command's options.
"""

_EPILOG = """\
examples:
  pyconv demo                         write the images under ./pyconv-demo
  pyconv demo --out /tmp/demo         ... somewhere else
  pyconv demo --backend numpy         use the pure-NumPy reference backend
  pyconv show-config
  pyconv check numpy                  run the conformance suite on a backend
  pyconv bench --filter r50 --threads 1   time the backends against torch
  python -m pyconv demo               the same, without the console script

exit status: 0 success, 1 failure (e.g. files cannot be written), 2 bad command line.
Images need Pillow (pip install 'pyconv[image]'); without it `demo` prints the numbers,
warns that the images were skipped and exits with status 0.
"""


class CLIError(Exception):
    """An error reported as one line on stderr, with an exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- parser


def _build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _demo.add_parser(sub).set_defaults(func=_cmd_demo)

    cfg = sub.add_parser(
        "show-config",
        help="print the version, build flags, OpenMP, threads and backends",
        description="Print pyconv.show_config(): the version, the compiled core's flags, "
        "OpenMP, the kernel ISA, the thread count and the backends.",
    )
    cfg.set_defaults(func=_cmd_show_config)

    bk = sub.add_parser(
        "backends",
        help="list the conv2d backends: status, distribution, capabilities",
        description="List every backend registered in the 'pyconv.backends' entry-point "
        "group (pyconv's own and installed plugins), whether it can be used (and why not), "
        "and what it declares it supports.",
    )
    bk.set_defaults(func=_cmd_backends)

    ck = sub.add_parser(
        "check",
        help="run the conformance suite on a backend and print the report",
        description="Run pyconv's conformance suite (pyconv.testing.check_backend) on an "
        "installed backend: torch's golden results within the accuracy contract the backend "
        "declares, the error cases, and the properties. Cases the backend does not declare "
        "are skipped with the reason. Exit status: 0 when every declared case passes, 1 when "
        "one fails (or the backend cannot be loaded), 2 for an unknown backend.",
        epilog="examples:\n  pyconv check numpy\n  pyconv check torch --option device=cuda"
        "\n  pyconv check fft --verbose",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ck.add_argument("name", metavar="NAME", help="the backend (see `pyconv backends`)")
    ck.add_argument(
        "--option",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="an option for the backend's constructor (repeatable); VALUE is read as a "
        "Python literal when it is one (2, 0.5, True, None), else as a string",
    )
    ck.add_argument("-v", "--verbose", action="store_true", help="also list the cases that passed")
    ck.set_defaults(func=_cmd_check)
    bench.add_parser(sub).set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pyconv`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status (0 success, 1 failure, 2 bad command line).  ``--help`` and
        ``--version`` return 0 after printing.
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        return args.func(args)
    except CLIError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `pyconv demo | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


# --------------------------------------------------------------------------- commands


def _cmd_show_config(args: argparse.Namespace) -> int:
    from ._config import show_config

    show_config()
    return 0


def _reporting(
    run: Callable[[argparse.Namespace], int],
    args: argparse.Namespace,
    usage: type[Exception],
    failure: type[Exception],
) -> int:
    """Run a command module's entry; its usage errors exit 2, its failures 1."""
    try:
        return run(args)
    except usage as exc:
        raise CLIError(str(exc), status=2) from None
    except failure as exc:
        raise CLIError(str(exc), status=1) from None


def _cmd_demo(args: argparse.Namespace) -> int:
    return _reporting(_demo.run_demo, args, _demo.DemoUsageError, _demo.DemoError)


def _cmd_bench(args: argparse.Namespace) -> int:
    return _reporting(bench.bench_command, args, bench.BenchUsageError, bench.BenchError)


def _option(text: str) -> tuple[str, object]:
    """Parse ``KEY=VALUE`` (VALUE a Python literal, or else a string)."""
    import ast

    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise CLIError(f"--option expects KEY=VALUE, got {text!r}", status=2)
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def _cmd_check(args: argparse.Namespace) -> int:
    from ._registry import load_backend
    from .testing import GoldenDataError, check_backend

    options = dict(_option(o) for o in args.option)
    try:
        obj = load_backend(args.name, **options)
    except ValueError as exc:
        raise CLIError(str(exc), status=2) from None
    except TypeError as exc:  # options the backend's constructor rejects
        raise CLIError(str(exc), status=2) from None
    except ImportError as exc:
        raise CLIError(f"backend {args.name!r} cannot be loaded: {exc}", status=1) from None
    try:
        report = check_backend(obj)
    except GoldenDataError as exc:
        raise CLIError(str(exc), status=1) from None
    print(report.summary(verbose=args.verbose))
    return 0 if report.ok else 1


def _cmd_backends(args: argparse.Namespace) -> int:
    from ._registry import backends, current_backend_name
    from ._registry.capabilities import operations_summary

    default = current_backend_name()
    rows = [
        (
            "name",
            "status",
            "distribution",
            "dtypes",
            "features",
            "devices",
            "accuracy",
            "operations",
        )
    ]
    for b in backends():
        caps = b.capabilities
        feats = "-"
        if caps is not None:
            flags = [f for f in ("stride", "dilation", "groups") if getattr(caps, f)]
            feats = ",".join([*flags, f"pad:{'/'.join(caps.padding)}"])
        rows.append(
            (
                b.name + (" *" if b.name == default else ""),
                "available" if b.available else "unavailable",
                f"{b.distribution} {b.version or ''}".strip(),
                ",".join(caps.dtypes) if caps else "-",
                feats,
                ",".join(caps.devices) if caps else "-",
                (f"{caps.accuracy} c={caps.accuracy_c:g}" if caps else "-")
                + ("" if caps is None or caps.deterministic else ", nondeterministic"),
                operations_summary(caps.operations, sep=",") if caps else "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print(
        "* = used when no backend is named; an operation it does not implement then runs on numpy"
    )
    for b in backends():
        if not b.available:
            print(f"{b.name}: {b.reason}")
    return 0
