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
    List the backends, their status and capabilities.
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
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["main"]

PROG = "pyconv"
DEFAULT_OUT = "pyconv-demo"
_NORMALIZED_SCALE = 32  # 5x5 -> 160x160 pixels
_FIGURE_SCALE = 24  # the decomposition figure: 4x4 input -> 96 pixels, 2x2 map -> 48
_SUBDIRS = ("1_dark_line", "2_conv2d_layer", "3_decomposition")

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

_DEMO_DESCRIPTION = """\
Reproduce the three experiments of the article "[Pytorch] conv2d" with pyconv:

  1. F.conv2d finds the dark line: a (3, 5, 5) image whose row 2 holds large values,
     convolved with a kernel whose middle row is ones, gives
     [[[27, 28, 23], [220, 220, 224], [16, 16, 28]]].
  2. nn.Conv2d(3, 3, kernel_size=3) on a second (3, 5, 5) image: output, weight shape
     and bias (pyconv.Conv2d with rng=0, so the random numbers are NumPy's, not torch's).
  3. How in_channels become out_channels: Conv2d(2, 3, 3, bias=False) on a random
     (1, 2, 4, 4) input equals the sum of the per-input-channel convolutions.

Each experiment writes its images into its own folder under --out.  original.png and
convoluted.png are what torchvision's ToPILImage saves for the same tensors, pixel for
pixel: floats times 255, truncated, NOT clipped, so values outside [0, 1] wrap around
modulo 256 (the article's "dark line" is dark only because of that).  The
*_normalized.png files stretch each channel to black..white and are enlarged so you can
actually see the values.
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

    demo = sub.add_parser(
        "demo",
        help="run the article's three experiments: print the arrays, write the images",
        description=_DEMO_DESCRIPTION,
        epilog="example:\n  pyconv demo --out /tmp/demo --backend numpy",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--out",
        metavar="DIR",
        default=DEFAULT_OUT,
        help=f"folder for the images, created if needed (default: ./{DEFAULT_OUT})",
    )
    demo.add_argument(
        "--backend",
        metavar="NAME",
        default=None,
        help="conv2d backend: 'cython' (default, compiled), 'numpy' (the reference), "
        "'torch', or an installed plugin (see `pyconv backends`)",
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the random layer weights and of experiment 3's input (default: 0)",
    )
    demo.set_defaults(func=_cmd_demo)

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
    _add_bench_parser(sub)
    return parser


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
status is 1.

Backends: by default every available backend except 'numpy' (the slow reference) and
'torch' (pyconv's wrapper of the torch column, shown as pyconv-torch); name them with
--backends, or --backends all.  The default backend is called as users call it,
pyconv.conv2d(x, w, ...) without backend=; the others with backend=NAME.  Without torch
installed there is no torch column and no ratio (the header says why).
"""


def _add_bench_parser(sub) -> None:
    from ._bench.command import positive_float, thread_list

    def rounds(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
        return int(text)

    bp = sub.add_parser(
        "bench",
        help="time the backends against torch on the shape zoo, print a table",
        description=_BENCH_DESCRIPTION,
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
        help=f"thread counts (default: 1 and the cores available, here {_cores()})",
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
        type=rounds,
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
        help="one round of one call per method: checks that everything runs (CI), measures nothing",
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
    bp.add_argument(
        "--peak-f32",
        metavar="GFLOPS",
        type=positive_float,
        default=270.0,
        help="float32 peak GFLOP/s per core for '%%peak' (default: 270, "
        "measured on pyconv's development machine, a Zen 5 with AVX-512; give "
        "yours)",
    )
    bp.add_argument(
        "--peak-f64",
        metavar="GFLOPS",
        type=positive_float,
        default=135.0,
        help="float64 peak GFLOP/s per core (default: 135, same machine)",
    )
    bp.add_argument(
        "--no-check", action="store_true", help="skip checking the outputs against the exact result"
    )
    bp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    bp.add_argument("--list", action="store_true", help="list the shapes and exit")
    bp.set_defaults(func=_cmd_bench)


def _cores() -> int:
    from ._threads import _available_cores

    return _available_cores()


def _cmd_bench(args: argparse.Namespace) -> int:
    from ._bench.command import BenchError, BenchUsageError, bench_command

    try:
        return bench_command(args)
    except BenchUsageError as exc:
        raise CLIError(str(exc), status=2) from None
    except BenchError as exc:
        raise CLIError(str(exc), status=1) from None


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

    default = current_backend_name()
    rows = [("name", "status", "distribution", "dtypes", "features", "devices", "accuracy")]
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
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print("* = used when no backend is named")
    for b in backends():
        if not b.available:
            print(f"{b.name}: {b.reason}")
    return 0


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


def _resolve_backend(name: str | None) -> str | None:
    """Load the named backend now, so that a bad name fails before any output."""
    if name is None:
        return None
    from ._registry import load_backend

    try:
        load_backend(name)
    except ValueError as exc:
        raise CLIError(str(exc), status=2) from None
    except ImportError as exc:
        raise CLIError(f"backend {name!r} cannot be loaded: {exc}", status=1) from None
    return name


def _have_pillow() -> bool:
    try:
        import PIL.Image  # noqa: F401 - only asking whether it imports
    except ImportError:
        return False
    return True


def _prepare_out(root: Path) -> dict[str, Path]:
    """Create ``root`` and one folder per experiment, or fail with one line."""
    dirs = {name: root / name for name in _SUBDIRS}
    for d in dirs.values():
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CLIError(
                f"cannot create the output folder {str(d)!r}: {exc.strerror or exc}"
            ) from None
        if not os.access(d, os.W_OK):
            raise CLIError(f"cannot write into the output folder {str(d)!r}: permission denied")
    return dirs


class _Writer:
    """Writes the demo's images (or skips them without Pillow) and lists what it wrote."""

    def __init__(self, dirs: dict[str, Path] | None) -> None:
        self.dirs = dirs
        self.written: list[Path] = []

    @property
    def enabled(self) -> bool:
        return self.dirs is not None

    def save(self, folder: str, name: str, make_image) -> str:
        """Call ``make_image(path)`` (it saves and returns the PIL image); describe it."""
        assert self.dirs is not None
        path = self.dirs[folder] / name
        try:
            img = make_image(path)
        except OSError as exc:
            raise CLIError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
        self.written.append(path)
        return f"{img.size[0]}x{img.size[1]} {img.mode}"


def _show(name: str, a: np.ndarray, comment: str = "") -> None:
    tail = f"   # {comment}" if comment else ""
    print(f"{name}{tail}")
    print(np.array2string(np.asarray(a), precision=4, suppress_small=True))


def _files(writer: _Writer, folder: str, rows: list[tuple[str, str, str]]) -> None:
    assert writer.dirs is not None
    print(f"images in {writer.dirs[folder]}{os.sep}:")
    width = max(len(r[0]) for r in rows)
    for name, size, what in rows:
        print(f"  {name:<{width}}  {size:<12} {what}")


def _cmd_demo(args: argparse.Namespace) -> int:
    import pyconv
    from pyconv.image import save_image, to_pil_image

    backend = _resolve_backend(args.backend)
    have_pil = _have_pillow()
    root = Path(args.out)
    writer = _Writer(_prepare_out(root) if have_pil else None)
    with np.printoptions(precision=4, suppress=True):
        print(
            'pyconv demo: the three experiments of the article "[Pytorch] conv2d", '
            f"with pyconv {pyconv.__version__} (backend: {backend or 'cython, the default'})"
        )
        _dark_line(pyconv, backend, writer, to_pil_image, save_image)
        _layer(pyconv, backend, writer, to_pil_image, save_image, args.seed)
        ok = _decomposition(pyconv, backend, writer, args.seed)
    print()
    if writer.enabled:
        print(f"wrote {len(writer.written)} images under {root}{os.sep}")
    else:
        print(
            f"{PROG}: warning: Pillow is not installed, so the images were skipped "
            "(pip install 'pyconv[image]')",
            file=sys.stderr,
        )
    return 0 if ok else 1


def _wrapped(v: float) -> str:
    """``v * 255`` and the byte ToPILImage makes of it (float32, as the demo's arrays)."""
    prod = np.float32(v) * np.float32(255)
    byte = int(prod.astype(np.uint8))
    fmt = np.format_float_positional
    return f"{fmt(np.float32(v), trim='-')} * 255 = {fmt(prod, trim='-')} -> {byte}"


def _parity_note(lines: str) -> None:
    print(
        "note: ToPILImage multiplies floats by 255 and casts to uint8 without clipping, so\n"
        "  values outside [0, 1] wrap around modulo 256 (on this machine's NumPy, as with\n"
        f"  torchvision): {lines}"
    )


def _dark_line(pyconv, backend, writer: _Writer, to_pil_image, save_image) -> None:
    print("\n== 1. F.conv2d: the dark-line demo ==")
    x, weight = pyconv.examples.dark_line()
    out = pyconv.conv2d(x, weight, bias=None, stride=1, padding=0, backend=backend)
    _show("x = pyconv.examples.dark_line()[0]", x, f"shape {x.shape}, {x.dtype}")
    print(f"weight: shape {weight.shape}, a row of ones across the middle of each 3x3 kernel")
    _show("out = pyconv.conv2d(x, weight, bias=None, stride=1, padding=0)", out, f"{out.shape}")
    print(
        "Each output pixel sums the middle row of its 3x3 window over the 3 channels: the\n"
        "input's row 2 (values 21..28) makes the output's middle row large (220, 220, 224)."
    )
    if not writer.enabled:
        return
    d = "1_dark_line"
    s = _NORMALIZED_SCALE

    def topil(a):
        return lambda p: _saved(to_pil_image(a, chw=True), p)

    rows = [
        (
            "original.png",
            writer.save(d, "original.png", topil(x)),
            "ToPILImage()(x), as torchvision",
        ),
        ("convoluted.png", writer.save(d, "convoluted.png", topil(out)), "ToPILImage()(out)"),
        (
            "original_normalized.png",
            writer.save(
                d,
                "original_normalized.png",
                lambda p: save_image(x, p, normalize=True, scale=s),
            ),
            f"save_image(x, normalize=True, scale={s})",
        ),
        (
            "convoluted_normalized.png",
            writer.save(
                d,
                "convoluted_normalized.png",
                lambda p: save_image(out, p, normalize=True, scale=s),
            ),
            f"save_image(out, normalize=True, scale={s}): the line",
        ),
    ]
    _files(writer, d, rows)
    _parity_note(
        f"{_wrapped(28)}, {_wrapped(220)}.\n"
        "  So in convoluted.png the middle row (220, 220, 224), the largest values, comes\n"
        "  out nearly black (36, 36, 32): the line looks dark only because of the\n"
        "  wrap-around. The *_normalized.png files show the values as they are: there\n"
        "  the line is the brightest row."
    )


def _saved(img, path):
    img.save(path)
    return img


def _layer(pyconv, backend, writer: _Writer, to_pil_image, save_image, seed: int) -> None:
    print("\n== 2. nn.Conv2d(3, 3, kernel_size=3) ==")
    layer = pyconv.Conv2d(3, 3, kernel_size=3, stride=1, padding=0, rng=seed, backend=backend)
    x = pyconv.examples.layer_input()
    out = layer(x)
    print(f"layer = pyconv.Conv2d(3, 3, kernel_size=3, stride=1, padding=0, rng={seed})")
    print(f"  -> {layer!r}")
    _show("x = pyconv.examples.layer_input()", x, f"shape {x.shape}, values 0..231")
    _show("out = layer(x)", out, f"shape {out.shape}")
    print(f"layer.weight.shape: {layer.weight.shape}")
    _show("layer.bias:", layer.bias)
    print(
        "(the weights are random, drawn from torch's distribution U(-1/sqrt(27), 1/sqrt(27))\n"
        " with NumPy's generator, so the numbers differ from the article's)"
    )
    if not writer.enabled:
        return
    d = "2_conv2d_layer"
    s = _NORMALIZED_SCALE
    rows = [
        (
            "original.png",
            writer.save(d, "original.png", lambda p: _saved(to_pil_image(x, chw=True), p)),
            "ToPILImage()(x), as torchvision",
        ),
        (
            "convoluted.png",
            writer.save(d, "convoluted.png", lambda p: _saved(to_pil_image(out, chw=True), p)),
            "ToPILImage()(out)",
        ),
        (
            "original_normalized.png",
            writer.save(
                d, "original_normalized.png", lambda p: save_image(x, p, normalize=True, scale=s)
            ),
            f"save_image(x, normalize=True, scale={s})",
        ),
        (
            "convoluted_normalized.png",
            writer.save(
                d,
                "convoluted_normalized.png",
                lambda p: save_image(out, p, normalize=True, scale=s),
            ),
            f"save_image(out, normalize=True, scale={s})",
        ),
    ]
    _files(writer, d, rows)
    neg = float(out.min())
    _parity_note(
        f"{_wrapped(231)}, {_wrapped(neg)}.\n"
        "  So original.png and convoluted.png are noise, as torchvision's are; the\n"
        "  *_normalized.png files stretch each channel to black..white."
    )


def _window(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map [lo, hi] to [0, 1] (a shared grey scale for several maps)."""
    if hi <= lo:
        return np.full(a.shape, 0.5)
    return np.clip((a.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)


def _decomposition(pyconv, backend, writer: _Writer, seed: int) -> bool:
    print("\n== 3. How in_channels become out_channels ==")
    layer = pyconv.Conv2d(2, 3, 3, 1, bias=False, rng=seed, backend=backend)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 2, 4, 4), dtype=np.float32)
    output = layer(x)
    w = layer.weight
    out_1 = pyconv.conv2d(x[:, 0:1], w[:, 0:1], bias=None, stride=1, padding=0, backend=backend)
    out_2 = pyconv.conv2d(x[:, 1:2], w[:, 1:2], bias=None, stride=1, padding=0, backend=backend)
    summed = out_1 + out_2
    print(f"layer = pyconv.Conv2d(2, 3, 3, 1, bias=False, rng={seed})   # weight {w.shape}")
    print(f"x = numpy.random.default_rng({seed}).standard_normal((1, 2, 4, 4), dtype=float32)")
    print("out_1 = pyconv.conv2d(x[:, 0:1], layer.weight[:, 0:1])   # input channel 0 only")
    print("out_2 = pyconv.conv2d(x[:, 1:2], layer.weight[:, 1:2])   # input channel 1 only")
    _show("output = layer(x):", output)
    print("-" * 65)
    _show("out_1 + out_2:", summed)
    diff = float(np.max(np.abs(output - summed)))
    ok = bool(np.allclose(output, summed, rtol=1e-5, atol=1e-6))
    verdict = (
        "they agree (up to float32 rounding)" if ok else "they DISAGREE: this is a bug in pyconv"
    )
    print(f"max |output - (out_1 + out_2)| = {diff:.3g}: {verdict}")
    print(
        "Each of the 3 output channels has its own 2 kernels (3 x 2 = 6 in all): output[o] =\n"
        "x[0] * w[o, 0] + x[1] * w[o, 1], where * is the 2-D cross-correlation."
    )
    if writer.enabled:
        from pyconv.image import make_grid, save_image

        xin, o1, o2, s, out = x[0], out_1[0], out_2[0], summed[0], output[0]
        x_lo, x_hi = float(xin.min()), float(xin.max())
        wm = float(np.abs(w).max())
        mm = float(max(np.abs(o1).max(), np.abs(o2).max(), np.abs(s).max(), np.abs(out).max()))
        cells: list = [_window(xin[0], x_lo, x_hi), _window(xin[1], x_lo, x_hi)] + [None] * 4
        labels: list = ["x[0]", "x[1]"] + [None] * 4
        for o in range(w.shape[0]):
            cells += [
                _window(w[o, 0], -wm, wm),
                _window(w[o, 1], -wm, wm),
                _window(o1[o], -mm, mm),
                _window(o2[o], -mm, mm),
                _window(s[o], -mm, mm),
                _window(out[o], -mm, mm),
            ]
            labels += [
                f"w[{o},0]",
                f"w[{o},1]",
                f"out_1[{o}]",
                f"out_2[{o}]",
                f"sum[{o}]",
                f"output[{o}]",
            ]
        grid = make_grid(
            cells, ncol=6, padding=6, normalize=False, labels=labels, scale=_FIGURE_SCALE
        )
        d = "3_decomposition"
        size = writer.save(d, "decomposition.png", lambda p: save_image(grid, p))
        _files(
            writer,
            d,
            [("decomposition.png", size, "inputs, kernels, partial maps, their sum, output")],
        )
        print(
            "  row 1: the input's 2 channels (black = min, white = max of x);\n"
            "  rows 2-4: for output channel o = 0, 1, 2: its kernels w[o,0] and w[o,1], the\n"
            "  partial maps out_1[o] and out_2[o], their sum, and the layer's output[o].\n"
            f"  Kernels share one grey scale (black -{wm:.3g}, mid-grey 0, white +{wm:.3g}),\n"
            f"  the maps another (black -{mm:.3g}, mid-grey 0, white +{mm:.3g}), so sum[o] and\n"
            "  output[o] look the same."
        )
    return ok
