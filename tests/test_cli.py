"""The ``pyconv`` command line: ``demo`` (the article's three experiments) and ``show-config``.

The PNG files are checked against bytes computed here from the arrays, with the rule
torchvision's ToPILImage applies (``(a * 255).astype(uint8)`` after a CHW -> HWC
transpose) and, for the dark-line output, against values worked out by hand.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyconv
from pyconv.cli import main

X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
DARK_LINE_ROWS = ("[[[ 27.  28.  23.]", "[220. 220. 224.]", "[ 16.  16.  28.]]]")
FILES = [
    "1_dark_line/original.png",
    "1_dark_line/convoluted.png",
    "1_dark_line/original_normalized.png",
    "1_dark_line/convoluted_normalized.png",
    "2_conv2d_layer/original.png",
    "2_conv2d_layer/convoluted.png",
    "2_conv2d_layer/original_normalized.png",
    "2_conv2d_layer/convoluted_normalized.png",
    "3_decomposition/decomposition.png",
]


def read_png(path: Path):
    from PIL import Image

    with Image.open(path) as img:
        return img.mode, np.asarray(img).copy()


def topil_bytes(chw: np.ndarray) -> np.ndarray:
    """What ToPILImage stores for a float CHW tensor: HWC, times 255, cast to uint8.

    On x86-64 that is NumPy's own cast; elsewhere (aarch64 saturates out-of-range casts)
    the x86-64 rule written out by hand: truncate, keep the low byte.
    """
    hwc = np.transpose(chw, (1, 2, 0)) * np.float32(255)
    if X86:
        px = hwc.astype(np.uint8)
    else:
        px = np.mod(np.trunc(hwc).astype(np.int64), 256).astype(np.uint8)
    return px[:, :, 0] if px.shape[2] == 1 else px


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """One in-process run of the demo, shared by the file checks."""
    pytest.importorskip("PIL")
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out)]) == 0
    return out


def test_demo_in_process_prints_the_articles_numbers(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    for row in DARK_LINE_ROWS:
        assert row in out
    assert "layer.weight.shape: (3, 3, 3, 3)" in out
    assert "layer.bias:" in out
    assert "out_1 + out_2:" in out
    assert "they agree" in out
    if _have_pil():
        assert err == ""
        assert f"wrote {len(FILES)} images under {tmp_path}" in out


def _have_pil() -> bool:
    try:
        import PIL  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.spawns_python
def test_demo_as_a_module_in_a_subprocess(tmp_path):
    pytest.importorskip("PIL")
    proc = subprocess.run(
        [sys.executable, "-m", "pyconv", "demo", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    for row in DARK_LINE_ROWS:
        assert row in proc.stdout
    for name in FILES:
        assert (tmp_path / "o" / name).is_file(), name


def test_dark_line_pngs_are_what_topilimage_saves(demo_dir):
    x, w = pyconv.examples.dark_line()
    mode, px = read_png(demo_dir / "1_dark_line/original.png")
    assert mode == "RGB"
    assert px.shape == (5, 5, 3)
    assert np.array_equal(px, topil_bytes(x))
    mode, px = read_png(demo_dir / "1_dark_line/convoluted.png")
    assert mode == "L"
    # by hand: 27*255 = 6885 = 26*256 + 229, 220*255 = 56100 = 219*256 + 36, ...
    assert px.tolist() == [[229, 228, 233], [36, 36, 32], [240, 240, 228]]
    assert np.array_equal(px, topil_bytes(pyconv.conv2d(x, w)))


def test_dark_line_normalized_pngs_show_the_line(demo_dir):
    mode, px = read_png(demo_dir / "1_dark_line/convoluted_normalized.png")
    assert (mode, px.shape) == ("L", (96, 96))
    # out is [[27, 28, 23], [220, 220, 224], [16, 16, 28]]: min 16, max 224
    expected = np.rint((np.array([[27, 28, 23], [220, 220, 224], [16, 16, 28]]) - 16) / 208 * 255)
    assert np.array_equal(px[::32, ::32], expected)
    mode, px = read_png(demo_dir / "1_dark_line/original_normalized.png")
    assert (mode, px.shape) == ("RGB", (160, 160, 3))
    row2 = px[64:96].astype(int).mean()
    assert row2 > 200
    assert row2 > 2 * px[:64].astype(int).mean()


def test_layer_pngs_are_what_topilimage_saves(demo_dir):
    x = pyconv.examples.layer_input()
    out = pyconv.Conv2d(3, 3, kernel_size=3, rng=0)(x)
    mode, px = read_png(demo_dir / "2_conv2d_layer/original.png")
    assert mode == "RGB"
    assert np.array_equal(px, topil_bytes(x))
    mode, px = read_png(demo_dir / "2_conv2d_layer/convoluted.png")
    assert (mode, px.shape) == ("RGB", (3, 3, 3))
    assert np.array_equal(px, topil_bytes(out))
    for name, size in (("original_normalized.png", 160), ("convoluted_normalized.png", 96)):
        mode, px = read_png(demo_dir / "2_conv2d_layer" / name)
        assert (mode, px.shape) == ("RGB", (size, size, 3))
        assert px.min() == 0
        assert px.max() == 255


def test_decomposition_figure(demo_dir):
    mode, px = read_png(demo_dir / "3_decomposition/decomposition.png")
    assert mode == "L"
    assert px.shape[0] > 4 * 96
    assert px.shape[1] > 6 * 48


def test_backend_option(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "(backend: numpy)" in out
    for row in DARK_LINE_ROWS:
        assert row in out


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_unknown_backend_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "o"), "--backend", "nope"]) == 2
    out, err = capsys.readouterr()
    line = one_error_line(err)
    assert line.startswith("pyconv: error: unknown backend 'nope'")
    assert "cython" in line
    assert out == ""
    assert not (tmp_path / "o").exists()


@pytest.mark.spawns_python
def test_unknown_backend_in_a_subprocess(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pyconv", "demo", "--backend", "nope", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert one_error_line(proc.stderr).startswith("pyconv: error: unknown backend")


def test_unwritable_out_is_one_line_and_status_1(tmp_path, capsys):
    pytest.importorskip("PIL")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["demo", "--out", str(blocker)]) == 1
    out, err = capsys.readouterr()
    line = one_error_line(err)
    assert line.startswith("pyconv: error: cannot create the output folder")
    assert str(blocker) in line
    assert out == ""


def test_missing_pillow_prints_numbers_skips_images(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    assert main(["demo", "--out", str(tmp_path / "o")]) == 0
    out, err = capsys.readouterr()
    for row in DARK_LINE_ROWS:
        assert row in out
    assert "they agree" in out
    line = one_error_line(err)
    assert line.startswith("pyconv: warning: Pillow is not installed")
    assert "pip install 'pyconv[image]'" in line
    assert not (tmp_path / "o").exists()


def test_help(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "demo" in out
    assert "show-config" in out
    assert "examples:" in out
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--out DIR" in out
    assert "--backend NAME" in out
    assert "ToPILImage" in out


@pytest.mark.spawns_python
def test_help_in_a_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "pyconv", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: pyconv")


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pyconv {pyconv.__version__}"


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["demo", "--nope"]])
def test_bad_command_lines_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "error:" in capsys.readouterr().err


def test_show_config(capsys):
    assert main(["show-config"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"pyconv {pyconv.__version__}")
    assert "backend cython" in out


def test_console_script_is_declared():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not run from a source checkout")
    meta = tomllib.loads(pyproject.read_text())["project"]
    assert meta["scripts"]["pyconv"] == "pyconv.cli:main"
    assert any(req.startswith("pillow") for req in meta["optional-dependencies"]["image"])
