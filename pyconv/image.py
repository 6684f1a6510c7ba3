"""Arrays to pictures: torchvision's ``to_pil_image``, a safe ``save_image`` and feature-map grids.

Three functions, for two different needs:

:func:`to_pil_image`
    **Parity.** Exactly what ``torchvision.transforms.functional.to_pil_image`` (and so
    ``transforms.ToPILImage()``) does, quirks included: floats are multiplied by 255 and
    cast to ``uint8`` with truncation and *no clamping*, so values outside [0, 1] wrap
    around (on x86-64: 1.5 becomes 126).  Use it to reproduce what a PyTorch script saves.
:func:`save_image`
    **Looking at data.** Scales [0, 1] to [0, 255] with rounding and clipping (and warns
    about values it had to clip), or stretches each channel to the full grey range
    (``normalize=True``), and can enlarge tiny maps (``scale=``).
:func:`make_grid`
    Many feature maps (a ``(C, H, W)`` conv output, a list of maps of any sizes) tiled into
    one grey picture, each map normalised on its own, with optional text labels.

Pillow is needed to build or save images; it is an optional dependency
(``pip install 'pyconv[image]'``) imported only when one of these functions needs it, so
``import pyconv`` never imports it.  :func:`make_grid` without labels needs only NumPy.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, TypeGuard

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:  # pragma: no cover - typing only
    from PIL import Image as _PILImage

__all__ = ["make_grid", "save_image", "to_pil_image", "x86_uint8"]

#: A ``torch.Tensor``; not imported for typing either (torch is optional and heavy).
_Tensor = Any

_INSTALL_HINT = "pip install 'pyconv[image]'"


def _pil():
    """Import Pillow's ``Image`` module, or explain how to install it."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(
            f"pyconv.image needs Pillow to build and save images: {_INSTALL_HINT} "
            "(or pip install pillow)"
        ) from exc
    return Image


def _is_torch_tensor(obj: Any) -> TypeGuard[_Tensor]:
    # Never import torch here: if the caller has a tensor, torch is already imported.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def _pil_from_array(npimg: np.ndarray, mode: str) -> _PILImage.Image:
    """``Image.frombytes`` with ``mode`` as both the image and the raw mode.

    This is how torchvision builds the image since Pillow 11.3 deprecated the ``mode``
    argument of ``Image.fromarray`` (torchvision's ``_Image_fromarray``): the bytes are
    read *as* ``mode``, whatever the dtype, so the pixels are those of the old
    ``Image.fromarray(npimg, mode=mode)``.
    """
    Image = _pil()
    data = np.ascontiguousarray(npimg)
    size = (data.shape[1], data.shape[0])  # (width, height)
    return Image.frombytes(mode, size, data.tobytes(), "raw", mode, 0, 1)


def x86_uint8(values: np.ndarray) -> np.ndarray:
    """``values.astype(np.uint8)`` as NumPy does it on x86-64, on every platform.

    torchvision's ``ToPILImage`` casts ``pic * 255`` to uint8 with NumPy, which leaves
    out-of-range float-to-integer casts to the C compiler: x86-64 truncates to a 32-bit
    integer (NaN, inf and anything beyond become 0x80000000) and keeps the low byte, so
    values wrap modulo 256; aarch64 saturates instead (0 and 255).  pyconv writes the
    x86-64 rule out, so that an image looks the same on a Raspberry Pi as on a PC, and
    warns as NumPy does on x86-64 when a value is not finite.

    Parameters
    ----------
    values : ndarray of floats

    Returns
    -------
    ndarray of uint8, the same shape
    """
    t = np.trunc(np.asarray(values, dtype=np.float64))
    finite = np.isfinite(t)
    if not finite.all():
        warnings.warn("invalid value encountered in cast", RuntimeWarning, stacklevel=3)
    keep = finite & (t >= -(2.0**31)) & (t < 2.0**31)
    out = np.zeros(t.shape, dtype=np.uint8)
    out[keep] = (t[keep].astype(np.int64) & 255).astype(np.uint8)
    return out


def to_pil_image(
    pic: np.ndarray | _Tensor, mode: str | None = None, *, chw: bool | None = None
) -> _PILImage.Image:
    """Convert an array to a PIL image exactly as torchvision's ``to_pil_image`` does.

    This is the modern torchvision behaviour (0.17 and later; ``ToPILImage()(pic)`` calls
    it), reproduced without torch or torchvision.  It is meant for *parity*: to get the
    very pixels a PyTorch script saves.  To look at data, :func:`save_image` is safer.

    Parameters
    ----------
    pic : ndarray, shape (H, W), (H, W, C) or, with ``chw=True``, (C, H, W); or a torch tensor
        The image, C <= 4.  As in torchvision, a NumPy 3-D array is **HWC** and a 3-D torch
        tensor is **CHW**.  pyconv's conv outputs are CHW arrays: pass ``chw=True`` to treat
        them the way the same data as a torch tensor would be treated.
    mode : str, optional
        PIL mode.  By default it follows from the channel count and the dtype (after the
        float conversion below): 1 channel gives ``'L'`` (uint8), ``'I;16'`` (int16),
        ``'I'`` (int32) or ``'F'`` (float32 with ``mode='F'``); 2 channels ``'LA'``;
        3 ``'RGB'`` (or ``'YCbCr'``, ``'HSV'`` if asked for); 4 ``'RGBA'`` (or ``'CMYK'``,
        ``'RGBX'``).
    chw : bool, optional, keyword-only
        Channel-first input: ``True`` moves the first axis of a 3-D input last, ``False``
        takes a 3-D input as HWC, and ``None`` (default) does what torchvision does
        (tensors CHW, arrays HWC).  2-D input is always (H, W).

    Returns
    -------
    PIL.Image.Image
        Of size ``(W, H)``.

    Raises
    ------
    TypeError
        ``pic`` is neither an ndarray nor a tensor ("pic should be Tensor or ndarray. Got
        <type>."), or no mode exists for its dtype ("Input type {dtype} is not supported").
    ValueError
        Not 2-D or 3-D, more than 4 channels, or a ``mode`` that does not fit (torchvision's
        messages, verbatim).
    ImportError
        Pillow is not installed.

    Notes
    -----
    Floating-point input (any float dtype) with ``mode != 'F'`` becomes
    ``(npimg * 255).astype(np.uint8)``, computed in the array's own dtype (float16 stays
    float16):

    - **truncation, not rounding**: 0.5 -> 127, 0.999 -> 254, 1.0 -> 255;
    - **no clamping**: out-of-range values are cast as the platform's NumPy casts them.
      On x86-64 they wrap modulo 256 after truncation (1.5 -> 126, 2.0 -> 254,
      -0.5 -> 129, -1.0 -> 1); NaN and infinities become 0 with NumPy's
      ``RuntimeWarning: invalid value encountered in cast`` (so do values beyond the
      int32 range once multiplied).  Other CPUs may saturate instead.

    So a float image must hold values in [0, 1] to come out as expected; an image in
    [0, 255] (like the article's examples) comes out as wrap-around noise, exactly as with
    torchvision.  ``mode='F'`` keeps float32 values as they are (no scaling); it is
    accepted for float32 single-channel input only.

    Examples
    --------
    >>> import numpy as np
    >>> from pyconv.image import to_pil_image
    >>> img = to_pil_image(np.array([[0.5, 0.999], [1.0, 1.5]], dtype=np.float32))
    >>> img.mode, np.asarray(img).tolist()
    ('L', [[127, 254], [255, 126]])
    """
    if _is_torch_tensor(pic):
        if pic.ndim == 3 and chw is not False:
            pic = pic.permute((1, 2, 0))
        pic = pic.numpy(force=True)
    elif not isinstance(pic, np.ndarray):
        raise TypeError(f"pic should be Tensor or ndarray. Got {type(pic)}.")
    elif chw and pic.ndim == 3:
        pic = np.transpose(pic, (1, 2, 0))

    if pic.ndim == 2:
        # if 2D image, add channel dimension (HWC)
        pic = np.expand_dims(pic, 2)
    if pic.ndim != 3:
        raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")

    if pic.shape[-1] > 4:
        raise ValueError(f"pic should not have > 4 channels. Got {pic.shape[-1]} channels.")

    npimg = pic

    if np.issubdtype(npimg.dtype, np.floating) and mode != "F":
        # torchvision's cast: no rounding, no clipping (see Notes)
        npimg = x86_uint8(npimg * 255)

    if npimg.shape[2] == 1:
        expected_mode = None
        npimg = npimg[:, :, 0]
        if npimg.dtype == np.uint8:
            expected_mode = "L"
        elif npimg.dtype == np.int16:
            expected_mode = "I;16" if sys.byteorder == "little" else "I;16B"
        elif npimg.dtype == np.int32:
            expected_mode = "I"
        elif npimg.dtype == np.float32:
            expected_mode = "F"
        if mode is not None and mode != expected_mode:
            # torchvision prints the np.dtype class here, not the array's dtype
            raise ValueError(
                f"Incorrect mode ({mode}) supplied for input type {np.dtype}. "
                f"Should be {expected_mode}"
            )
        mode = expected_mode

    elif npimg.shape[2] == 2:
        permitted_2_channel_modes = ["LA"]
        if mode is not None and mode not in permitted_2_channel_modes:
            raise ValueError(f"Only modes {permitted_2_channel_modes} are supported for 2D inputs")
        if mode is None and npimg.dtype == np.uint8:
            mode = "LA"

    elif npimg.shape[2] == 4:
        permitted_4_channel_modes = ["RGBA", "CMYK", "RGBX"]
        if mode is not None and mode not in permitted_4_channel_modes:
            raise ValueError(f"Only modes {permitted_4_channel_modes} are supported for 4D inputs")
        if mode is None and npimg.dtype == np.uint8:
            mode = "RGBA"

    else:
        permitted_3_channel_modes = ["RGB", "YCbCr", "HSV"]
        if mode is not None and mode not in permitted_3_channel_modes:
            raise ValueError(f"Only modes {permitted_3_channel_modes} are supported for 3D inputs")
        if mode is None and npimg.dtype == np.uint8:
            mode = "RGB"

    if mode is None:
        raise TypeError(f"Input type {npimg.dtype} is not supported")

    return _pil_from_array(npimg, mode)


# --------------------------------------------------------------------------- safe path


def _check_scale(scale: int, who: str) -> int:
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, np.integer)):
        raise TypeError(f"{who}(): scale must be a positive int, but got {scale!r}")
    if scale < 1:
        raise ValueError(f"{who}(): scale must be >= 1, but got {scale}")
    return int(scale)


def _check_range(value_range, who: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise TypeError(
            f"{who}(): value_range must be a pair of numbers (lo, hi), but got {value_range!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"{who}(): value_range must be finite with lo < hi, but got ({lo}, {hi})")
    return lo, hi


def _as_numeric(array: ArrayLike, who: str) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype == np.bool_:
        return a.astype(np.float64)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{who}(): expected a real numeric array, but got dtype {a.dtype}")
    return a


def _to_unit(a: np.ndarray, normalize: bool, window: tuple[float, float] | None, who: str):
    """Map maps ``a`` (shape (M, H, W)) to [0, 1] floats, one map at a time.

    Returns the float64 array (NaN kept) and the number of finite-or-infinite values that
    lie outside [0, 1] before clipping (only counted when neither normalisation applies).
    """
    v = a.astype(np.float64)
    outside = 0
    if window is not None:
        lo, hi = window
        v = (v - lo) / (hi - lo)
    elif normalize:
        for m in range(v.shape[0]):
            plane = v[m]
            finite = plane[np.isfinite(plane)]
            if finite.size == 0:
                plane[np.isfinite(plane)] = 0.5
                continue
            lo, hi = float(finite.min()), float(finite.max())
            if hi > lo:
                plane -= lo
                plane /= hi - lo
            else:  # a constant map has no contrast to show: mid-grey, never 0/0
                plane[np.isfinite(plane)] = 0.5
    else:
        outside = int(np.count_nonzero((v < 0) | (v > 1)))
    return v, outside


def _to_bytes(v: np.ndarray) -> np.ndarray:
    """[0, 1] floats to bytes: ``rint(v * 255)`` clipped to [0, 255]; NaN becomes 0."""
    scaled = np.rint(v * 255.0)
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _maps_to_bytes(
    maps: np.ndarray,
    normalize: bool,
    value_range,
    who: str,
    stacklevel: int,
) -> np.ndarray:
    """Bytes for maps of shape (M, H, W), warning about clipped values and NaNs."""
    window = None if value_range is None else _check_range(value_range, who)
    if maps.dtype == np.uint8 and not normalize and window is None:
        return maps.copy()
    v, outside = _to_unit(maps, normalize, window, who)
    if outside:
        finite = v[~np.isnan(v)]
        warnings.warn(
            f"{who}(): {outside} of {v.size} values lie outside [0, 1] "
            f"(min {finite.min():.6g}, max {finite.max():.6g}); they were clipped to black "
            "or white. Pass normalize=True to stretch each map to the full grey range, "
            "or value_range=(lo, hi).",
            UserWarning,
            stacklevel=stacklevel + 1,
        )
    n_nan = int(np.count_nonzero(np.isnan(v)))
    if n_nan:
        warnings.warn(
            f"{who}(): {n_nan} NaN values were drawn as 0 (black)",
            UserWarning,
            stacklevel=stacklevel + 1,
        )
    return _to_bytes(v)


def _upscale(b: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement of the last two axes by an integer factor."""
    if scale == 1:
        return b
    return np.repeat(np.repeat(b, scale, axis=-2), scale, axis=-1)


_SAVE_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def save_image(
    array: ArrayLike,
    path: str | os.PathLike | BinaryIO,
    *,
    normalize: bool = False,
    value_range: tuple[float, float] | None = None,
    scale: int = 1,
    format: str | None = None,
) -> _PILImage.Image:
    """Save an image or a feature map to a file, safely scaled to bytes.

    Unlike :func:`to_pil_image` nothing wraps around: values are rounded and clipped.

    Parameters
    ----------
    array : array_like, shape (H, W) or (C, H, W) with C in {1, 3, 4}
        Channel-first, as conv outputs are.  Float (or integer, or bool) values are read as
        intensities in [0, 1]; a ``uint8`` array is taken as bytes already, unchanged
        (unless ``normalize`` or ``value_range`` is given).  For more channels, or a
        batch, tile the maps with :func:`make_grid` first.
    path : str, os.PathLike or binary file object
        Where to write; the format follows the file name's extension unless ``format``
        is given.
    normalize : bool, default False, keyword-only
        Stretch **each channel separately** so that its smallest finite value becomes 0
        (black) and its largest 255 (white).  A constant channel has no contrast and is
        drawn mid-grey (128), without dividing by zero.
    value_range : (lo, hi), optional, keyword-only
        A fixed window instead: ``lo`` becomes 0 and ``hi`` 255, the same for every
        channel, and values outside it are clipped silently.  It applies whether or not
        ``normalize`` is set (torchvision ignores it without ``normalize=True``).
    scale : int, default 1, keyword-only
        Enlarge by this factor with nearest-neighbour (every value becomes a
        ``scale x scale`` block), so that a 5x5 feature map can be seen.
    format : str, optional, keyword-only
        Pillow format name (``'PNG'``), needed when ``path`` is a file object.

    Returns
    -------
    PIL.Image.Image
        The saved image: mode ``'L'``, ``'RGB'`` or ``'RGBA'`` (1, 3, 4 channels), size
        ``(W * scale, H * scale)``.

    Raises
    ------
    ValueError
        A shape other than (H, W) or (C, H, W) with C in {1, 3, 4}, a bad ``scale`` or
        ``value_range``.
    TypeError
        A non-numeric array.
    ImportError
        Pillow is not installed.

    Warns
    -----
    UserWarning
        Without ``normalize`` or ``value_range``, when values lie outside [0, 1] (they are
        clipped: black below 0, white above 1); and when NaN values are drawn (as 0).

    Notes
    -----
    Bytes are ``clip(rint(v * 255), 0, 255)``: round half to even (``numpy.rint``), then
    clip.  ``torchvision.utils.save_image`` computes ``v * 255 + 0.5`` truncated and
    clamped, which is round half *up*; the two differ only on exact ties ``v * 255 = k + 0.5``
    with ``k`` even (0.5 gives 128 with both).

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> from pyconv.image import save_image
    >>> x, w = pyconv.examples.dark_line()
    >>> out = pyconv.conv2d(x, w)                      # (1, 3, 3), values 16..224
    >>> img = save_image(out, "out.png", normalize=True, scale=32)  # doctest: +SKIP
    """
    who = "save_image"
    a = _as_numeric(array, who)
    scale = _check_scale(scale, who)
    if a.ndim == 2:
        a = a[np.newaxis]
    if a.ndim != 3 or a.shape[0] not in _SAVE_MODES:
        raise ValueError(
            f"{who}(): expected an image of shape (H, W) or (C, H, W) with C = 1, 3 or 4, "
            f"but got shape {tuple(np.shape(array))}; to look at many feature maps, tile "
            "them first: save_image(make_grid(maps), path)"
        )
    if a.shape[1] == 0 or a.shape[2] == 0:
        raise ValueError(f"{who}(): the image is empty (shape {tuple(np.shape(array))})")
    Image = _pil()
    b = _upscale(_maps_to_bytes(a, normalize, value_range, who, stacklevel=2), scale)
    hwc = b[0] if b.shape[0] == 1 else np.ascontiguousarray(np.moveaxis(b, 0, -1))
    img = Image.frombytes(
        _SAVE_MODES[b.shape[0]], (hwc.shape[1], hwc.shape[0]), np.ascontiguousarray(hwc).tobytes()
    )
    img.save(path, format=format)
    return img


# --------------------------------------------------------------------------- grids


def _collect_maps(maps) -> tuple[list[np.ndarray | None], int | None]:
    """Split ``maps`` into 2-D arrays (or None for blank cells); suggest a column count."""
    if isinstance(maps, np.ndarray) or _is_torch_tensor(maps):
        a = np.asarray(maps.numpy(force=True) if _is_torch_tensor(maps) else maps)
        if a.ndim == 2:
            return [a], None
        if a.ndim == 3:
            return list(a), None
        if a.ndim == 4:  # (N, C, H, W): one row per sample
            return list(a.reshape(-1, *a.shape[2:])), a.shape[1]
        raise ValueError(
            "make_grid(): expected maps of shape (H, W), (C, H, W) or (N, C, H, W), or a "
            f"sequence of 2-D maps, but got shape {a.shape}"
        )
    if not isinstance(maps, Sequence) or isinstance(maps, (str, bytes)):
        raise TypeError(
            "make_grid(): expected an array of maps or a sequence of 2-D arrays, but got "
            f"{type(maps).__name__}"
        )
    out: list[np.ndarray | None] = []
    for i, m in enumerate(maps):
        if m is None:
            out.append(None)
            continue
        arr = np.asarray(m.numpy(force=True) if _is_torch_tensor(m) else m)
        if arr.ndim != 2:
            raise ValueError(f"make_grid(): map {i} must be 2-D (H, W), but has shape {arr.shape}")
        out.append(arr)
    return out, None


def make_grid(
    maps: ArrayLike | Sequence[ArrayLike | None],
    *,
    ncol: int | None = None,
    padding: int = 2,
    pad_value: float = 0.25,
    normalize: bool = True,
    value_range: tuple[float, float] | None = None,
    labels: Sequence[str | None] | None = None,
    scale: int | None = None,
) -> np.ndarray:
    """Tile feature maps into one grey picture, optionally with a label above each map.

    Parameters
    ----------
    maps : array_like or sequence of array_like
        ``(H, W)`` (one map), ``(C, H, W)`` or ``(N, H, W)`` (a stack: the channels of a
        conv output), ``(N, C, H, W)`` (a batch: one row per sample), or a sequence of 2-D
        maps of any sizes, where ``None`` leaves a cell blank.  Maps smaller than the
        largest are centred in their cell, at the same pixel scale.
    ncol : int, optional, keyword-only
        Maps per row.  Default: ``C`` for 4-D input, else ``min(number of maps, 8)``.
    padding : int, default 2, keyword-only
        Pixels between cells and around the grid.
    pad_value : float, default 0.25, keyword-only
        Grey level in [0, 1] of the background (padding, label strips, blank cells).
    normalize : bool, default True, keyword-only
        Stretch **each map separately** to the full grey range (its smallest finite value
        black, its largest white; a constant map mid-grey).  With ``False`` the values are
        read as intensities in [0, 1] (clipped, with a warning if any fall outside).
    value_range : (lo, hi), optional, keyword-only
        One fixed window for all maps instead (``lo`` black, ``hi`` white, clipped
        silently), so that grey levels can be compared across maps.
    labels : sequence of str or None, optional, keyword-only
        One text per cell (``None`` for none), drawn above its map with Pillow's default
        font (``ImageFont.load_default()``).  Needs Pillow.
    scale : int, optional, keyword-only
        Nearest-neighbour enlargement of every map.  Default: the smallest factor that
        makes the largest map at least 64 pixels tall and wide (1 for large maps).

    Returns
    -------
    ndarray, shape (H_grid, W_grid), uint8
        The picture; save it with :func:`save_image` (``uint8`` is written unchanged) or
        turn it into a PIL image with :func:`to_pil_image`.

    Raises
    ------
    ValueError
        Badly shaped maps, no maps, a label count that is not the cell count, a bad
        ``ncol``, ``padding``, ``pad_value``, ``scale`` or ``value_range``.
    TypeError
        Maps that are not arrays, non-numeric maps, labels that are not strings.
    ImportError
        ``labels`` given and Pillow not installed.

    Warns
    -----
    UserWarning
        With ``normalize=False`` and no ``value_range``, when values fall outside [0, 1].

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> from pyconv.image import make_grid
    >>> layer = pyconv.Conv2d(3, 8, 3, rng=0)
    >>> fmaps = layer(pyconv.examples.layer_input())   # (8, 3, 3)
    >>> make_grid(fmaps, ncol=4, scale=10).shape
    (66, 130)
    """
    who = "make_grid"
    cells, default_ncol = _collect_maps(maps)
    n = len(cells)
    present = [m for m in cells if m is not None]
    if not present:
        raise ValueError(f"{who}(): no maps to draw")
    present = [_as_numeric(m, who) for m in present]
    if any(m.size == 0 for m in present):
        raise ValueError(f"{who}(): every map must have H >= 1 and W >= 1")
    if ncol is None:
        ncol = default_ncol if default_ncol else min(n, 8)
    if isinstance(ncol, bool) or not isinstance(ncol, (int, np.integer)) or ncol < 1:
        raise ValueError(f"{who}(): ncol must be a positive int, but got {ncol!r}")
    if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
        raise ValueError(f"{who}(): padding must be an int >= 0, but got {padding!r}")
    if not 0.0 <= float(pad_value) <= 1.0:
        raise ValueError(f"{who}(): pad_value must lie in [0, 1], but got {pad_value!r}")
    max_h = max(m.shape[0] for m in present)
    max_w = max(m.shape[1] for m in present)
    if scale is None:
        scale = max(1, math.ceil(64 / min(max_h, max_w)))
    scale = _check_scale(scale, who)

    # bytes per map, each normalised on its own (one call per map keeps ragged sizes)
    window = None if value_range is None else _check_range(value_range, who)
    tiles: list[np.ndarray | None] = []
    outside = 0
    n_nan = 0
    for m in cells:
        if m is None:
            tiles.append(None)
            continue
        v, out_m = _to_unit(_as_numeric(m, who)[np.newaxis], normalize, window, who)
        outside += out_m
        n_nan += int(np.count_nonzero(np.isnan(v)))
        tiles.append(_upscale(_to_bytes(v)[0], scale))
    if outside:
        warnings.warn(
            f"{who}(): {outside} values lie outside [0, 1]; they were clipped to black or "
            "white. Use normalize=True (the default) or value_range=(lo, hi).",
            UserWarning,
            stacklevel=2,
        )
    if n_nan:
        warnings.warn(
            f"{who}(): {n_nan} NaN values were drawn as 0 (black)", UserWarning, stacklevel=2
        )

    # label metrics
    font = None
    label_h = 0
    label_w = 0
    if labels is not None:
        labels = list(labels)
        if len(labels) != n:
            raise ValueError(f"{who}(): got {len(labels)} labels for {n} maps (cells)")
        if any(t is not None and not isinstance(t, str) for t in labels):
            raise TypeError(f"{who}(): labels must be strings (or None)")
        _pil()
        from PIL import ImageFont

        font = ImageFont.load_default()
        boxes = [font.getbbox(t) for t in labels if t]
        if boxes:
            label_h = math.ceil(max(b[3] for b in boxes)) + 3
            label_w = math.ceil(max(b[2] for b in boxes)) + 2

    tile_h, tile_w = max_h * scale, max_w * scale
    cell_h, cell_w = tile_h + label_h, max(tile_w, label_w)
    nrow = math.ceil(n / ncol)
    bg = int(np.rint(float(pad_value) * 255))
    grid = np.full(
        (nrow * (cell_h + padding) + padding, ncol * (cell_w + padding) + padding),
        bg,
        dtype=np.uint8,
    )
    origins = []
    for i, t in enumerate(tiles):
        r, c = divmod(i, ncol)
        y0 = padding + r * (cell_h + padding)
        x0 = padding + c * (cell_w + padding)
        origins.append((x0, y0))
        if t is None:
            continue
        ty = y0 + label_h + (tile_h - t.shape[0]) // 2
        tx = x0 + (cell_w - t.shape[1]) // 2
        grid[ty : ty + t.shape[0], tx : tx + t.shape[1]] = t

    if labels is not None and font is not None and label_h:
        from PIL import Image, ImageDraw

        img = Image.frombytes("L", (grid.shape[1], grid.shape[0]), grid.tobytes())
        draw = ImageDraw.Draw(img)
        ink = 0 if bg >= 128 else 255
        for (x0, y0), text in zip(origins, labels, strict=True):
            if text:
                width = font.getbbox(text)[2]
                draw.text((x0 + (cell_w - width) // 2, y0), text, fill=ink, font=font)
        grid = np.array(img, dtype=np.uint8)
    return grid
