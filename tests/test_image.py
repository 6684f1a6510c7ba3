"""pyconv.image: torchvision's to_pil_image exactly, the safe save_image, make_grid.

The expected bytes are worked out by hand (``v * 255``, truncated, modulo 256) or from
NumPy's own cast, never from torchvision (not installed beside torch 2.13 here).
"""

from __future__ import annotations

import platform
import re
import sys

import numpy as np
import pytest

import pyconv
from pyconv.image import make_grid, save_image, to_pil_image

X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
needs_x86 = pytest.mark.skipif(
    not X86, reason="out-of-range float->uint8 casts are platform-dependent; measured on x86-64"
)


@pytest.fixture
def pil():
    return pytest.importorskip("PIL.Image")


def pixels(img) -> np.ndarray:
    return np.asarray(img)


def exact(exc_info) -> str:
    return str(exc_info.value)


# --------------------------------------------------------------------- to_pil_image


@pytest.mark.usefixtures("pil")
def test_floats_are_truncated_not_rounded():
    a = np.array([[0.5, 0.999, 0.9999, 1.0, 1 / 256, 0.0]], dtype=np.float32)
    img = to_pil_image(a)
    assert img.mode == "L"
    assert img.size == (6, 1)
    # 127.5 -> 127, 254.745 -> 254, 254.97 -> 254, 255, 0.996 -> 0, 0
    assert pixels(img).tolist() == [[127, 254, 254, 255, 0, 0]]


@needs_x86
@pytest.mark.usefixtures("pil")
def test_out_of_range_wraps_modulo_256_on_x86():
    a = np.array([[1.5, 2.0, -0.5, -1.0, 1.001, 10.0, -0.004]], dtype=np.float32)
    # 382.5 -> 382 -> 126; 510 -> 254; -127.5 -> -127 -> 129; -255 -> 1;
    # 255.255 -> 255; 2550 -> 246; -1.02 -> -1 -> 255
    assert pixels(to_pil_image(a)).tolist() == [[126, 254, 129, 1, 255, 246, 255]]


@needs_x86
@pytest.mark.usefixtures("pil")
def test_dark_line_input_wraps_as_computed_by_hand():
    x, _ = pyconv.examples.dark_line()
    img = to_pil_image(x, chw=True)
    assert (img.mode, img.size) == ("RGB", (5, 5))
    px = pixels(img)  # (H, W, C)
    assert px[0, 0].tolist() == [255, 254, 254]  # 1 -> 255, 2 -> 510 -> 254
    assert px[1, 0].tolist() == [0, 0, 249]  # 0 -> 0, 7 -> 1785 -> 249
    assert px[2, 2].tolist() == [231, 231, 228]  # 25 -> 6375 -> 231, 28 -> 7140 -> 228
    assert px[2, 0].tolist() == [235, 232, 232]  # 21 -> 5355 -> 235, 24 -> 6120 -> 232


@pytest.mark.usefixtures("pil")
def test_nan_and_inf_become_zero_with_numpys_warning():
    a = np.array([[np.nan, np.inf, -np.inf, 0.5]], dtype=np.float32)
    with pytest.warns(RuntimeWarning, match="invalid value encountered in cast"):
        img = to_pil_image(a)
    assert pixels(img).tolist() == [[0, 0, 0, 127]]


@pytest.mark.usefixtures("pil")
def test_float16_is_multiplied_in_float16():
    a = np.array([[0.062744]], dtype=np.float16)
    # float16: 0.06274 * 255 rounds to 16.0 in half precision; through float32 it is 15.99
    assert pixels(to_pil_image(a)).tolist() == [[16]]
    assert pixels(to_pil_image(a.astype(np.float32))).tolist() == [[15]]


@pytest.mark.usefixtures("pil")
def test_float64_is_scaled_too():
    a = np.array([[0.2, 0.6]], dtype=np.float64)  # 51.0, 153.0 (just below: 152.99...)
    assert pixels(to_pil_image(a)).tolist() == (a * 255).astype(np.uint8).tolist()


@pytest.mark.usefixtures("pil")
@pytest.mark.parametrize(
    ("channels", "mode"), [(None, "L"), (1, "L"), (2, "LA"), (3, "RGB"), (4, "RGBA")]
)
def test_modes_by_channel_count(channels, mode):
    rng = np.random.default_rng(0)
    shape = (3, 4) if channels is None else (3, 4, channels)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    img = to_pil_image(a)
    assert img.mode == mode
    assert img.size == (4, 3)
    assert np.array_equal(pixels(img), a.reshape(3, 4) if channels in (None, 1) else a)


@pytest.mark.usefixtures("pil")
def test_float_rgb_is_scaled_and_interleaved():
    a = np.zeros((2, 2, 3), dtype=np.float32)
    a[0, 1] = [1.0, 0.5, 0.0]
    img = to_pil_image(a)
    assert img.mode == "RGB"
    assert pixels(img)[0, 1].tolist() == [255, 127, 0]


@pytest.mark.usefixtures("pil")
def test_mode_f_keeps_float32_values_unscaled():
    a = np.array([[28.5, -3.25], [0.5, 1e6]], dtype=np.float32)
    img = to_pil_image(a, mode="F")
    assert img.mode == "F"
    assert np.array_equal(pixels(img), a)
    # without mode='F' a float32 single channel becomes 8-bit 'L'
    assert to_pil_image(np.full((2, 2), 0.5, np.float32)).mode == "L"


@pytest.mark.usefixtures("pil")
@pytest.mark.parametrize(
    ("dtype", "mode"),
    [(np.int16, "I;16" if sys.byteorder == "little" else "I;16B"), (np.int32, "I")],
)
def test_integer_single_channel_modes(dtype, mode):
    a = np.array([[0, 1, 300], [1000, 7, 2]], dtype=dtype)
    img = to_pil_image(a)
    assert img.mode == mode
    assert np.array_equal(pixels(img).astype(np.int64), a.astype(np.int64))


@pytest.mark.usefixtures("pil")
@pytest.mark.parametrize(("channels", "mode"), [(3, "YCbCr"), (3, "HSV"), (4, "CMYK"), (4, "RGBX")])
def test_other_permitted_modes(channels, mode):
    a = np.arange(2 * 3 * channels, dtype=np.uint8).reshape(2, 3, channels)
    img = to_pil_image(a, mode=mode)
    assert img.mode == mode
    assert img.tobytes() == a.tobytes()


def test_chw_moves_the_channel_axis(pil):
    a = np.random.default_rng(1).random((3, 2, 4)).astype(np.float32)  # C, H, W
    img = to_pil_image(a, chw=True)
    assert (img.mode, img.size) == ("RGB", (4, 2))
    expected = (a * 255).astype(np.uint8).transpose(1, 2, 0)
    assert np.array_equal(pixels(img), expected)
    # the same array read as HWC (the default for arrays): H=3, W=2, 4 channels
    hwc = to_pil_image(a)
    assert (hwc.mode, hwc.size) == ("RGBA", (2, 3))
    assert np.array_equal(pixels(to_pil_image(a, chw=False)), pixels(hwc))
    # 2-D input is (H, W) whatever chw says
    flat = a[0]
    assert np.array_equal(pixels(to_pil_image(flat, chw=True)), pixels(to_pil_image(flat)))


def test_conv_output_chw_single_channel_is_l(pil):
    x, w = pyconv.examples.dark_line()
    img = to_pil_image(pyconv.conv2d(x, w), chw=True)
    assert (img.mode, img.size) == ("L", (3, 3))


def test_input_is_not_modified(pil):
    a = np.array([[0.5, 2.0]], dtype=np.float32)
    before = a.copy()
    to_pil_image(a)
    assert np.array_equal(a, before)


def test_torch_tensors_are_chw_like_torchvision(pil, torch):
    a = np.random.default_rng(2).random((3, 2, 4)).astype(np.float32)
    img = to_pil_image(torch.from_numpy(a))
    assert np.array_equal(pixels(img), pixels(to_pil_image(a, chw=True)))


@pytest.mark.parametrize(
    ("pic", "mode", "exc", "message"),
    [
        ([[0.5]], None, TypeError, "pic should be Tensor or ndarray. Got <class 'list'>."),
        (np.zeros(4), None, ValueError, "pic should be 2/3 dimensional. Got 1 dimensions."),
        (
            np.zeros((1, 2, 2, 3)),
            None,
            ValueError,
            "pic should be 2/3 dimensional. Got 4 dimensions.",
        ),
        (
            np.zeros((2, 2, 5)),
            None,
            ValueError,
            "pic should not have > 4 channels. Got 5 channels.",
        ),
        (
            np.zeros((2, 2), np.float64),
            "F",
            ValueError,
            "Incorrect mode (F) supplied for input type <class 'numpy.dtype'>. Should be None",
        ),
        (
            np.zeros((2, 2), np.float16),
            "F",
            ValueError,
            "Incorrect mode (F) supplied for input type <class 'numpy.dtype'>. Should be None",
        ),
        (
            np.zeros((2, 2), np.uint8),
            "RGB",
            ValueError,
            "Incorrect mode (RGB) supplied for input type <class 'numpy.dtype'>. Should be L",
        ),
        (
            np.zeros((2, 2, 2), np.uint8),
            "RGB",
            ValueError,
            "Only modes ['LA'] are supported for 2D inputs",
        ),
        (
            np.zeros((2, 2, 3), np.float32),
            "F",
            ValueError,
            "Only modes ['RGB', 'YCbCr', 'HSV'] are supported for 3D inputs",
        ),
        (
            np.zeros((2, 2, 4), np.uint8),
            "RGB",
            ValueError,
            "Only modes ['RGBA', 'CMYK', 'RGBX'] are supported for 4D inputs",
        ),
        (np.zeros((2, 2), np.int64), None, TypeError, "Input type int64 is not supported"),
        (np.zeros((2, 2), np.bool_), None, TypeError, "Input type bool is not supported"),
        (np.zeros((2, 2, 3), np.int32), None, TypeError, "Input type int32 is not supported"),
        (np.zeros((2, 2, 2), np.int16), None, TypeError, "Input type int16 is not supported"),
    ],
)
def test_errors_have_torchvisions_types_and_texts(pic, mode, exc, message):
    with pytest.raises(exc) as info:
        to_pil_image(pic, mode=mode)
    assert exact(info) == message


def test_missing_pillow_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'pyconv[image]'")):
        to_pil_image(np.zeros((2, 2), np.uint8))
    with pytest.raises(ImportError, match=re.escape("pip install 'pyconv[image]'")):
        save_image(np.zeros((2, 2)), "never-written.png")
    with pytest.raises(ImportError, match=re.escape("pip install 'pyconv[image]'")):
        make_grid(np.zeros((2, 3, 3)), labels=["a", "b"])
    assert make_grid(np.zeros((2, 3, 3)), scale=1).shape == (7, 12)  # no labels: NumPy only


@pytest.mark.spawns_python
def test_import_pyconv_does_not_import_pillow():
    import subprocess

    code = "import sys, pyconv; print('PIL' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------- save_image


def saved(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img).copy()


def test_save_image_rounds_instead_of_truncating(pil, tmp_path):
    a = np.array([[0.0, 0.001, 0.25, 0.5, 0.999, 1.0]])
    img = save_image(a, tmp_path / "a.png")
    assert img.mode == "L"
    # 0.255 -> 0, 63.75 -> 64, 127.5 -> 128 (half to even), 254.745 -> 255
    assert saved(tmp_path / "a.png").tolist() == [[0, 0, 64, 128, 255, 255]]


def test_save_image_clips_and_warns_outside_unit_range(pil, tmp_path):
    a = np.array([[-0.5, 0.5, 1.5, 28.0]], dtype=np.float32)
    with pytest.warns(UserWarning, match=r"3 of 4 values lie outside \[0, 1\]") as rec:
        save_image(a, tmp_path / "a.png")
    assert "normalize=True" in str(rec[0].message)
    assert rec[0].filename == __file__  # points at the caller
    assert saved(tmp_path / "a.png").tolist() == [[0, 128, 255, 255]]


def test_save_image_in_range_does_not_warn(pil, tmp_path):
    save_image(np.linspace(0, 1, 12).reshape(3, 4), tmp_path / "a.png")  # warnings are errors


def test_save_image_normalizes_each_channel_separately(pil, tmp_path):
    a = np.empty((3, 2, 2))
    a[0] = [[0, 5], [10, 2.5]]
    a[1] = [[-1, 1], [0, 0.5]]
    a[2] = 7.0  # constant: mid-grey, no division by zero
    img = save_image(a, tmp_path / "a.png", normalize=True)
    assert (img.mode, img.size) == ("RGB", (2, 2))
    px = saved(tmp_path / "a.png")
    assert px[..., 0].tolist() == [[0, 128], [255, 64]]  # 127.5 -> 128, 63.75 -> 64
    assert px[..., 1].tolist() == [[0, 255], [128, 191]]  # 191.25 -> 191
    assert px[..., 2].tolist() == [[128, 128], [128, 128]]


def test_save_image_constant_map_is_mid_grey(pil, tmp_path):
    save_image(np.zeros((1, 3, 3)), tmp_path / "a.png", normalize=True)
    assert np.all(saved(tmp_path / "a.png") == 128)


def test_save_image_value_range_is_a_fixed_window(pil, tmp_path):
    a = np.array([[-1.0, 0.0, 14.0, 28.0, 30.0]])
    save_image(a, tmp_path / "a.png", value_range=(0, 28))  # clipped without a warning
    assert saved(tmp_path / "a.png").tolist() == [[0, 0, 128, 255, 255]]


def test_save_image_scale_is_nearest_neighbour(pil, tmp_path):
    a = np.array([[0.0, 1.0], [1.0, 0.0]])
    img = save_image(a, tmp_path / "a.png", scale=3)
    assert img.size == (6, 6)
    assert np.array_equal(saved(tmp_path / "a.png"), np.kron(a, np.ones((3, 3))) * 255)


def test_save_image_uint8_is_written_unchanged(pil, tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    save_image(a, tmp_path / "a.png")
    assert np.array_equal(saved(tmp_path / "a.png"), a)


def test_save_image_nan_is_black_with_a_warning(pil, tmp_path):
    a = np.array([[np.nan, 0.5]])
    with pytest.warns(UserWarning, match="1 NaN values were drawn as 0"):
        save_image(a, tmp_path / "a.png")
    assert saved(tmp_path / "a.png").tolist() == [[0, 128]]


def test_save_image_to_file_object(pil, tmp_path):
    import io

    buf = io.BytesIO()
    save_image(np.ones((2, 2)), buf, format="PNG")
    assert buf.getvalue().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("array", "kwargs", "exc", "match"),
    [
        (np.zeros((5, 3, 3)), {}, ValueError, "make_grid"),
        (np.zeros((2, 3, 3)), {}, ValueError, r"C = 1, 3 or 4"),
        (np.zeros((1, 1, 3, 3)), {}, ValueError, r"got shape \(1, 1, 3, 3\)"),
        (np.zeros((3, 3)), {"scale": 0}, ValueError, "scale must be >= 1"),
        (np.zeros((3, 3)), {"scale": 1.5}, TypeError, "scale must be a positive int"),
        (np.zeros((3, 3)), {"value_range": (1, 1)}, ValueError, "lo < hi"),
        (np.zeros((3, 3)), {"value_range": 3}, TypeError, "pair of numbers"),
        (np.zeros((3, 3), complex), {}, TypeError, "real numeric"),
    ],
)
def test_save_image_errors(pil, tmp_path, array, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        save_image(array, tmp_path / "a.png", **kwargs)
    assert not (tmp_path / "a.png").exists()


# --------------------------------------------------------------------- make_grid


def test_make_grid_shape_and_placement():
    maps = np.arange(8 * 3 * 3, dtype=np.float64).reshape(8, 3, 3)
    grid = make_grid(maps, ncol=4, scale=10)
    assert grid.dtype == np.uint8
    assert grid.shape == (2 * (30 + 2) + 2, 4 * (30 + 2) + 2)
    bg = 64  # pad_value 0.25
    assert np.all(grid[:2] == bg)
    assert np.all(grid[:, :2] == bg)
    # map 5 is row 1, column 1; each map is stretched to 0..255 on its own
    tile = grid[2 + 32 : 2 + 32 + 30, 2 + 32 : 2 + 32 + 30]
    assert tile[0, 0] == 0
    assert tile[-1, -1] == 255
    assert np.all(tile[:10, :10] == 0)  # nearest-neighbour blocks


def test_make_grid_default_scale_makes_small_maps_visible():
    grid = make_grid(np.random.default_rng(0).random((3, 5, 5)), padding=0)
    assert grid.shape == (65, 3 * 65)  # ceil(64 / 5) = 13


def test_make_grid_batch_puts_one_sample_per_row():
    grid = make_grid(np.zeros((2, 3, 4, 4)), scale=1, padding=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1)
    assert np.all(grid[1:5, 1:5] == 128)  # constant maps: mid-grey


def test_make_grid_ragged_maps_and_blank_cells():
    big = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]]).repeat(2, axis=1)  # 4x4
    small = np.array([[0.0, 1.0], [1.0, 0.0]])
    grid = make_grid([big, small, None], scale=2, padding=1, pad_value=0.0)
    assert grid.shape == (1 + 8 + 1, 3 * (8 + 1) + 1)
    cell2 = grid[1:9, 10:18]
    assert np.all(cell2[:2] == 0)
    assert np.all(cell2[:, :2] == 0)
    assert cell2[2:6, 2:6].tolist() == (np.kron(small, np.ones((2, 2))) * 255).tolist()
    assert np.all(grid[1:9, 19:27] == 0)  # blank cell


def test_make_grid_value_range_is_shared():
    maps = np.array([np.zeros((2, 2)), np.ones((2, 2)) * 2])
    grid = make_grid(maps, value_range=(0, 2), scale=1, padding=0)
    assert grid.tolist() == [[0, 0, 255, 255], [0, 0, 255, 255]]


def test_make_grid_without_normalize_warns_outside_unit_range():
    with pytest.warns(UserWarning, match=r"outside \[0, 1\]"):
        make_grid(np.full((1, 2, 2), 3.0), normalize=False, scale=1)


def test_make_grid_labels_add_a_strip_with_text(pil):
    maps = np.random.default_rng(3).random((2, 4, 4))
    plain = make_grid(maps, scale=8, padding=2)
    labelled = make_grid(maps, scale=8, padding=2, labels=["x[0]", "x[1]"])
    assert labelled.shape[0] > plain.shape[0]
    strip = labelled[2 : labelled.shape[0] - 2 - 32, 2:-2]
    assert strip.size
    assert strip.max() > 200
    # the maps themselves sit under the strip, unchanged
    assert np.array_equal(labelled[-2 - 32 : -2, 2 : 2 + 32], plain[2:-2, 2 : 2 + 32])


def test_make_grid_wide_labels_widen_the_cells(pil):
    grid = make_grid(np.zeros((1, 2, 2)), scale=1, labels=["a rather long label"])
    assert grid.shape[1] > 40


@pytest.mark.parametrize(
    ("maps", "kwargs", "exc", "match"),
    [
        ([], {}, ValueError, "no maps"),
        ([None], {}, ValueError, "no maps"),
        (np.zeros(3), {}, ValueError, r"got shape \(3,\)"),
        ([np.zeros(3)], {}, ValueError, "map 0 must be 2-D"),
        ("maps", {}, TypeError, "expected an array of maps"),
        (np.zeros((2, 2, 2)), {"labels": ["a"]}, ValueError, "got 1 labels for 2 maps"),
        (np.zeros((2, 2, 2)), {"ncol": 0}, ValueError, "ncol"),
        (np.zeros((2, 2, 2)), {"padding": -1}, ValueError, "padding"),
        (np.zeros((2, 2, 2)), {"pad_value": 2}, ValueError, "pad_value"),
        (np.zeros((2, 0, 2)), {}, ValueError, "H >= 1"),
    ],
)
def test_make_grid_errors(maps, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_grid(maps, **kwargs)


def test_the_uint8_cast_is_x86_64s_on_every_platform():
    # written out by pyconv (aarch64's NumPy saturates instead of wrapping): truncation to
    # a 32-bit integer, the low byte kept; NaN, inf and values beyond 32 bits give 0
    v = np.array([300.7, -1.5, -27030.996, 255.9, 2**31 - 128, 3e9, -3e9, 2.0**32 + 5, 1e20])
    want = [44, 255, 106, 255, 128, 0, 0, 0, 0]
    from pyconv.image import x86_uint8

    assert x86_uint8(v).tolist() == want
    assert x86_uint8(v.astype(np.float32)).tolist() == want
    with pytest.warns(RuntimeWarning, match="invalid value encountered in cast"):
        assert x86_uint8(np.array([np.nan, np.inf, -np.inf, 1.0])).tolist() == [0, 0, 0, 1]
