"""``pyconv demo``: the three experiments of the article pyconv started from.

With pyconv instead of PyTorch: the numbers printed as the article prints them, the images
written as torchvision's ``ToPILImage`` writes them (plus readable, normalised versions).
:mod:`pyconv.cli` adds the command (:func:`add_parser`) and reports :class:`DemoError` as
one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DEFAULT_OUT", "DemoError", "DemoUsageError", "add_parser", "run_demo"]

DEFAULT_OUT = "pyconv-demo"
_NORMALIZED_SCALE = 32  # 5x5 -> 160x160 pixels
_FIGURE_SCALE = 24  # the decomposition figure: 4x4 input -> 96 pixels, 2x2 map -> 48
_SUBDIRS = ("1_dark_line", "2_conv2d_layer", "3_decomposition")

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


class DemoUsageError(ValueError):
    """A bad command line, e.g. an unknown backend (exit status 2)."""


class DemoError(RuntimeError):
    """The demo could not be done: a folder or file that cannot be written (exit status 1)."""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``demo`` command to ``sub`` (from ``ArgumentParser.add_subparsers``)."""
    demo: argparse.ArgumentParser = sub.add_parser(
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
    return demo


def _resolve_backend(name: str | None) -> str | None:
    """Load the named backend now, so that a bad name fails before any output."""
    if name is None:
        return None
    from ._registry import load_backend

    try:
        load_backend(name)
    except ValueError as exc:
        raise DemoUsageError(str(exc)) from None
    except ImportError as exc:
        raise DemoError(f"backend {name!r} cannot be loaded: {exc}") from None
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
            raise DemoError(
                f"cannot create the output folder {str(d)!r}: {exc.strerror or exc}"
            ) from None
        if not os.access(d, os.W_OK):
            raise DemoError(f"cannot write into the output folder {str(d)!r}: permission denied")
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
            raise DemoError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
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


def run_demo(args: argparse.Namespace) -> int:
    """Run ``pyconv demo`` with parsed arguments; return the exit status (1: a wrong result)."""
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
            "pyconv: warning: Pillow is not installed, so the images were skipped "
            "(pip install 'pyconv[image]')",
            file=sys.stderr,
        )
    return 0 if ok else 1


def _wrapped(v: float) -> str:
    """``v * 255`` and the byte ToPILImage makes of it (float32, as the demo's arrays)."""
    from .image import x86_uint8

    prod = np.float32(v) * np.float32(255)
    byte = int(x86_uint8(np.asarray(prod))[()])
    fmt = np.format_float_positional
    return f"{fmt(np.float32(v), trim='-')} * 255 = {fmt(prod, trim='-')} -> {byte}"


def _parity_note(lines: str) -> None:
    print(
        "note: ToPILImage multiplies floats by 255 and casts to uint8 without clipping, so\n"
        "  values outside [0, 1] wrap around modulo 256, as torchvision's do on x86-64\n"
        f"  (pyconv does the same on every CPU): {lines}"
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
