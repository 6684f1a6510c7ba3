"""FFT convolution for pyconv: overlap-save tiles, batched over images, groups and channels.

How a call is computed
----------------------
1. **Stride and dilation become a stride-1 problem** (polyphase / space-to-depth).  With
   stride ``s`` the output ``y[o] = sum_k xp[s*o + k] * wd[k]`` (``xp`` the padded input,
   ``wd`` the kernel with ``dilation - 1`` zeros inserted between taps) splits by the
   residue ``r = k mod s`` into ``sum_r (xp_r * wd_r)[o]`` with ``xp_r[m] = xp[s*m + r]``
   and ``wd_r[q] = wd[s*q + r]``: a stride-1 correlation with ``s_h * s_w`` times the
   input channels and a kernel ``s`` times smaller.  Phases that no kernel tap meets are
   dropped, so input pixels that no output uses are never transformed (they would add
   rounding error and work).
2. **Overlap-save tiles.**  The stride-1 output is cut into tiles of ``m1 x m2`` pixels;
   each reads a ``T1 x T2`` input window (``T = m + q - 1`` with ``q`` the phase kernel
   size) whose real FFT, multiplied by the conjugate FFT of the kernel, gives the tile's
   circular correlation, exact (alias-free) on its first ``m1 x m2`` pixels.  ``T1, T2``
   are chosen among :func:`scipy.fft.next_fast_len` sizes by a small cost model: one tile
   covering the whole image when that is cheapest, small tiles (cache-resident, cheap
   kernel transforms) for large images with small kernels or many channels.
3. **Channels.**  For each frequency the input channels of a group are summed by a
   complex matrix product ``(C_out/groups x C_in/groups) @ (C_in/groups x tiles)``
   (BLAS, through :func:`numpy.matmul`); depthwise and channel-multiplier layers
   (one input channel per group) use a broadcast product instead.
4. A 1x1 kernel needs no transform: it is computed as that matrix product directly, on
   the pixels the (strided) outputs meet.
5. The inverse FFT's tiles are cropped, stitched into the output and the bias is added in
   the same pass.  Work is chunked over images and rows of tiles so that the transform
   buffers of a chunk stay near 4 MiB (cache-friendly, and freed buffers are reused
   instead of page-faulting on fresh ones) and below ``memory_limit``.
6. Pixels near the border that meet only some kernel taps are checked first (see
   ``_border_is_safe``): if they are much larger than the interior, relative to the taps
   they never meet, they are kept out of the transforms and the outputs that read them
   are computed by pyconv's direct kernels, so the norm-wise contract still holds.

Everything is computed in the input's precision: float32 in ``complex64`` (SciPy keeps
single precision), float64 in ``complex128``; the output has the input's dtype.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import operator
import os

import numpy as np
import scipy.fft as sfft
from numpy.lib.stride_tricks import as_strided
from pyconv import ConvSpec

__all__ = ["FFTBackend", "Plan", "conv2d", "make_plan"]

_DEFAULT_MEMORY = 16 * 2**20
# Work is cut into chunks of about this many bytes of transforms (at least one row of
# tiles of one image): they stay in cache, and freed buffers are reused by the next chunk
# instead of page-faulting on fresh memory (measured: 4 MiB is 10-25 % faster than 16).
_CHUNK_BYTES = 4 * 2**20
_BIG_TILE_PENALTY = 1.3
# Pixels near the border that meet only some taps may be this many times larger (times the
# taps) than anything in the interior before that border is computed without transforms
# (see _border_is_safe); the measured accuracy constant covers it.
_BORDER_FACTOR = 4.0

# Cost model, in nanoseconds on one core, fitted (non-negative least squares on relative
# error) to 150 timings of 19 shapes x 9 tile sizes, float32, SciPy 1.17 pocketfft, Zen 5.
# float64 is about twice as slow everywhere, which does not change the choice.  Only the
# ratios matter: they pick the tile size, within 1.3x of the best measured one.
_NS_FFT = 0.03  # real 2-D FFT, per pixel per log2(pixels)
_NS_FFT_BIG = 0.05  # same for a tile that does not fit in L2 (> 128 Ki pixels)
_NS_PIXEL = 1.85  # per pixel of a tile and channel: gather, transforms' memory traffic, stitch
_NS_TILE = 26.0  # per tile and channel (loop and call overheads)
_NS_CMAC_GEMM = 0.10  # complex multiply-add inside a matrix product (C_in/groups > 1)
_NS_CMUL = 0.3  # complex multiply in a broadcast product (single channel, depthwise)
_NS_KERNEL = 0.4  # per butterfly-ish step of the separable kernel transform


class Plan:
    """How one convolution shape is computed (see the module docstring).

    Attributes
    ----------
    tile : (int, int)
        FFT size ``(T1, T2)`` of a tile.
    step : (int, int)
        Output pixels per tile ``(m1, m2)``; ``T = m + q - 1``.
    ntiles : (int, int)
        Tiles along the output height and width.
    kernel : (int, int)
        Size ``(q1, q2)`` of the stride-1 phase kernels.
    phases : tuple of (int, int)
        Residues ``(r1, r2)`` of the active input phases (``((0, 0),)`` at stride 1).
    images_per_chunk, tile_rows_per_chunk : int
        Work chunk: that many images, and rows of tiles of each image.
    cost_ns : float
        The cost model's estimate for the whole call (one thread).
    """

    __slots__ = (
        "cost_ns",
        "images_per_chunk",
        "kernel",
        "ntiles",
        "phases",
        "step",
        "tile",
        "tile_rows_per_chunk",
    )

    def __init__(self, tile, step, ntiles, kernel, phases, images, rows, cost):
        self.tile = tile
        self.step = step
        self.ntiles = ntiles
        self.kernel = kernel
        self.phases = phases
        self.images_per_chunk = images
        self.tile_rows_per_chunk = rows
        self.cost_ns = cost

    def __repr__(self) -> str:
        return (
            f"Plan(tile={self.tile}, step={self.step}, ntiles={self.ntiles}, "
            f"kernel={self.kernel}, phases={len(self.phases)}, "
            f"chunk=({self.images_per_chunk} images x {self.tile_rows_per_chunk} tile rows), "
            f"cost_ms={self.cost_ns / 1e6:.3g})"
        )


def _active_residues(k: int, d: int, s: int) -> tuple[int, ...]:
    """Residues mod ``s`` of the dilated tap positions ``0, d, ..., (k-1) d``."""
    return tuple(sorted({(i * d) % s for i in range(k)}))


def _candidates(q: int, full: int) -> np.ndarray:
    """FFT sizes worth trying along one axis: fast lengths from ``q`` up to ``full``."""
    sizes = {full}
    v = float(max(q, 2))
    while v < full:
        n = sfft.next_fast_len(math.ceil(v), real=True)
        if n >= full:
            break
        sizes.add(n)
        v *= 1.19  # about four sizes per octave
    return np.array(sorted(sizes), dtype=np.int64)


@functools.lru_cache(maxsize=256)
def make_plan(spec: ConvSpec, memory_limit: int = _DEFAULT_MEMORY, tile=None) -> Plan:
    """Choose tile sizes and work chunks for a convolution shape.

    Parameters
    ----------
    spec : ConvSpec
        The validated call (its arrays are not needed).
    memory_limit : int
        Bytes the transform buffers of one chunk of work may take: tile sizes whose
        single row of tiles would exceed it are avoided (a row of tiles of one image is
        the smallest chunk); chunks are at most ``min(memory_limit, 4 MiB)`` otherwise.
    tile : (int, int), optional
        Force the FFT tile size ``(T1, T2)`` (each at least the phase kernel's size);
        for tests and measurements.

    Returns
    -------
    Plan
    """
    N, C = spec.batch, spec.in_channels
    Co, G = spec.out_channels, spec.groups
    kH, kW = spec.kernel_size
    (s1, s2), (d1, d2) = spec.stride, spec.dilation
    Ho, Wo = spec.output_size
    r1s, r2s = _active_residues(kH, d1, s1), _active_residues(kW, d2, s2)
    P = len(r1s) * len(r2s)
    q1, q2 = (d1 * (kH - 1)) // s1 + 1, (d2 * (kW - 1)) // s2 + 1
    cig = C // G * P  # stride-1 input channels per group
    cpx = 8 if spec.dtype == np.float32 else 16

    full1 = sfft.next_fast_len(Ho + q1 - 1, real=True)
    full2 = sfft.next_fast_len(Wo + q2 - 1, real=True)
    if tile is not None:
        t1 = np.array([max(int(tile[0]), q1)])
        t2 = np.array([max(int(tile[1]), q2)])
    else:
        t1, t2 = _candidates(q1, full1), _candidates(q2, full2)
    T1, T2 = (a.astype(np.float64) for a in np.meshgrid(t1, t2, indexing="ij"))
    m1, m2 = T1 - q1 + 1, T2 - q2 + 1
    n1, n2 = np.ceil(Ho / m1), np.ceil(Wo / m2)
    pix = T1 * T2
    T2h = np.floor(T2 / 2) + 1
    F = T1 * T2h
    lg = np.log2(np.maximum(pix, 2))
    per_tile = np.where(pix > 2**17, _NS_FFT_BIG, _NS_FFT) * pix * lg + _NS_PIXEL * pix + _NS_TILE
    tiles = N * n1 * n2
    cost = tiles * (C * P + Co) * per_tile
    if cig > 1:
        cost = cost + tiles * Co * cig * F * _NS_CMAC_GEMM
    else:
        cost = cost + tiles * Co * F * _NS_CMUL
    # the kernel transforms: rows of q1 x T2, then T2h columns of T1
    kern = T2h * T1 * np.log2(np.maximum(T1, 2)) + q1 * T2 * np.log2(np.maximum(T2, 2))
    cost = cost + Co * cig * _NS_KERNEL * kern
    # bytes of one tile of one image: input and output spectra, inverse transform
    unit = (C * P + Co) * F * cpx + Co * pix * cpx / 2
    row_bytes = unit * n2
    # tiles whose buffers outgrow the cache-sized chunk run slower than the model says
    # (cache misses, page faults on fresh buffers): measured 25-40 %
    cost = np.where(unit > _CHUNK_BYTES, cost * _BIG_TILE_PENALTY, cost)
    too_big = row_bytes > memory_limit
    if not too_big.all():
        cost = np.where(too_big, np.inf, cost)
    # the model does not see the cache effects of the tile's shape: tall tiles (long
    # strided column transforms) are slow, wide ones up to 2:1 are fine (measured)
    thin = ((T1 > T2) & (full2 > T2)) | ((T2 > 2 * T1) & (full1 > T1))
    if not (thin | np.isinf(cost)).all():
        cost = np.where(thin, np.inf, cost)
    i = np.unravel_index(np.argmin(cost), cost.shape)
    T1i, T2i = int(T1[i]), int(T2[i])
    m1i, m2i = T1i - q1 + 1, T2i - q2 + 1
    nt1, nt2 = -(-Ho // m1i), -(-Wo // m2i)
    fit_rows = max(1, int(min(memory_limit, _CHUNK_BYTES) // row_bytes[i]))
    if fit_rows >= nt1:
        rows, images = nt1, max(1, min(N, fit_rows // nt1))
    else:
        rows, images = fit_rows, 1
    # at least 4 chunks where the work allows it, so that threads share it evenly (the
    # chunks do not depend on the thread count: results do not either)
    if -(-N // images) * -(-nt1 // rows) < 4:
        if N >= 4:
            rows, images = nt1, min(images, -(-N // 4))
        else:
            images = 1
            rows = max(1, min(rows, -(-nt1 // -(-4 // N))))
    phases = tuple((a, b) for a in r1s for b in r2s)
    return Plan((T1i, T2i), (m1i, m2i), (nt1, nt2), (q1, q2), phases, images, rows, float(cost[i]))


def _phase_weights(w: np.ndarray, spec: ConvSpec, plan: Plan) -> np.ndarray:
    """Rearrange the kernel into its stride-1 phase kernels (dilation zeros included).

    Returns
    -------
    ndarray, shape (q1, q2, groups, C_out / groups, C_in / groups * phases)
        ``wp[a, b, g, o, c * phases + p]``: tap ``(a, b)`` of phase ``p`` of the kernel of
        output channel ``o`` of group ``g`` and its input channel ``c``; ``w.dtype``.
    """
    Co, Cig, kH, kW = w.shape
    G = spec.groups
    (s1, s2), (d1, d2) = spec.stride, spec.dilation
    q1, q2 = plan.kernel
    r1s = sorted({r for r, _ in plan.phases})
    r2s = sorted({r for _, r in plan.phases})
    pos1, pos2 = np.arange(kH) * d1, np.arange(kW) * d2
    p1 = np.searchsorted(r1s, pos1 % s1)
    p2 = np.searchsorted(r2s, pos2 % s2)
    phase = p1[:, None] * len(r2s) + p2[None, :]
    P = len(plan.phases)
    wp = np.zeros((q1, q2, Co, Cig, P), dtype=w.dtype)
    wp[(pos1 // s1)[:, None], (pos2 // s2)[None, :], :, :, phase] = w.transpose(2, 3, 0, 1)
    return wp.reshape(q1, q2, G, Co // G, Cig * P)


def _kernel_spectrum(wp: np.ndarray, plan: Plan, workers: int) -> np.ndarray:
    """Conjugate spectra of the phase kernels, laid out for the channel product.

    Parameters
    ----------
    wp : ndarray, shape (q1, q2, groups, C_out / groups, C_in / groups * phases)

    Returns
    -------
    ndarray, shape (T1 * (T2 // 2 + 1), groups, C_out / groups, C_in / groups * phases)
        Complex, in the precision of ``wp``.
    """
    T1, T2 = plan.tile
    spectrum = sfft.rfft(wp, n=T2, axis=1, workers=workers)
    spectrum = sfft.fft(spectrum, n=T1, axis=0, overwrite_x=True, workers=workers)
    np.conjugate(spectrum, out=spectrum)  # correlation, not convolution
    return spectrum.reshape(T1 * (T2 // 2 + 1), *wp.shape[2:])


def _fill_phases(
    xe: np.ndarray,
    x: np.ndarray,
    spec: ConvSpec,
    plan: Plan,
    row0: int = 0,
    col0: int = 0,
    window: tuple[int, int, int, int] | None = None,
) -> None:
    """Write a window of the phase planes of the zero-padded images ``x`` into ``xe``.

    Parameters
    ----------
    xe : ndarray, shape (n, C_in * phases, He, We)
        Zeros on entry; channel ``c * phases + p`` receives rows ``row0 .. row0 + He - 1``
        and columns ``col0 .. col0 + We - 1`` of phase ``p`` of channel ``c``.
    x : ndarray, shape (n, C_in, H, W)
    window : (int, int, int, int), optional
        Only phase-plane pixels with ``window[0] <= row < window[1]`` and
        ``window[2] <= column < window[3]`` are written (the others stay zero).
    """
    H, W = spec.height, spec.width
    top, _, left, _ = spec.padding
    s1, s2 = spec.stride
    He, We = xe.shape[2:]
    P = len(plan.phases)
    lo1, hi1, lo2, hi2 = window if window is not None else (0, He + row0, 0, We + col0)

    def span(r, s, pad, size, first, ext, wlo, whi):
        # phase-plane index m holds padded index s*m + r, i.e. input index s*m + r - pad
        lo = max(first, wlo, -(-(pad - r) // s))
        hi = min(first + ext, whi, (size - 1 + pad - r) // s + 1)
        if hi <= lo:
            return None
        start = s * lo + r - pad
        return slice(lo - first, hi - first), slice(start, start + s * (hi - lo - 1) + 1, s)

    for p, (r1, r2) in enumerate(plan.phases):
        rows = span(r1, s1, top, H, row0, He, lo1, hi1)
        cols = span(r2, s2, left, W, col0, We, lo2, hi2)
        if rows is None or cols is None:
            continue
        xe[:, p::P, rows[0], cols[0]] = x[:, :, rows[1], cols[1]]


def _phase_max(x: np.ndarray, spec: ConvSpec, plan: Plan, rows, cols, step: int = 1):
    """Largest ``|x|`` of each phase-plane channel over a window of its phase planes.

    Parameters
    ----------
    rows, cols : (int, int)
        Half-open window in phase-plane coordinates.
    step : int
        Look at every ``step``-th row only (a cheaper lower bound).

    Returns
    -------
    ndarray, shape (C_in * phases,), float64
    """
    C, P = spec.in_channels, len(plan.phases)
    H, W = spec.height, spec.width
    top, _, left, _ = spec.padding
    s1, s2 = spec.stride
    out = np.zeros(C * P)
    for p, (r1, r2) in enumerate(plan.phases):
        # input rows s*m + r - pad for m in the window, clipped to the image
        m_lo = max(rows[0], -(-(top - r1) // s1))
        m_hi = min(rows[1], (H - 1 + top - r1) // s1 + 1)
        k_lo = max(cols[0], -(-(left - r2) // s2))
        k_hi = min(cols[1], (W - 1 + left - r2) // s2 + 1)
        if m_hi <= m_lo or k_hi <= k_lo:
            continue
        h0, w0 = s1 * m_lo + r1 - top, s2 * k_lo + r2 - left
        sub = x[
            :,
            :,
            h0 : s1 * (m_hi - 1) + r1 - top + 1 : s1 * step,
            w0 : s2 * (k_hi - 1) + r2 - left + 1 : s2,
        ]
        if sub.size:
            hi = sub.max(axis=(0, 2, 3)).astype(np.float64)
            lo = sub.min(axis=(0, 2, 3)).astype(np.float64)
            out[p::P] = np.maximum(hi, -lo)
    return out


def _border_is_safe(x: np.ndarray, wp: np.ndarray, spec: ConvSpec, plan: Plan) -> bool:
    """Whether the pixels near the border may share transforms with every kernel tap.

    A pixel of the "core" of its phase plane (rows ``q1 - 1 .. H_out - 1``, columns
    likewise) meets every tap of its phase at some output, so ``max(A)`` is at least
    ``|pixel| * |tap|`` for all of them, and the rounding errors of the transforms they
    share are covered by the norm-wise contract.  A pixel of the border band meets only
    some taps; where ``|pixel| * |tap|`` for a tap it never meets exceeds every product
    that does meet (``max(A)`` does not see it), the transforms' rounding error can exceed
    the bound by any factor.  This returns True when no band pixel times any tap of its
    phase exceeds ``_BORDER_FACTOR`` times a lower bound of ``max(A)`` (computed on a
    sample of core rows first, then on all of them); otherwise the outputs that read the
    band are computed without transforms.

    Returns
    -------
    bool
    """
    q1, q2 = plan.kernel
    Ho, Wo = spec.output_size
    G = spec.groups
    if Ho < q1 or Wo < q2:
        return False  # no core at all
    # wmax[g, o, c']: largest tap of the phase kernel of (output channel, phase channel)
    wmax = np.abs(wp).max(axis=(0, 1)).astype(np.float64)
    ext1, ext2 = Ho + q1 - 1, Wo + q2 - 1
    band = np.zeros(spec.in_channels * len(plan.phases))
    for rows, cols in (
        ((0, q1 - 1), (0, ext2)),
        ((Ho, ext1), (0, ext2)),
        ((q1 - 1, Ho), (0, q2 - 1)),
        ((q1 - 1, Ho), (Wo, ext2)),
    ):
        band = np.maximum(band, _phase_max(x, spec, plan, rows, cols))
    band_g = band.reshape(G, 1, -1)
    if not band.any():
        return True
    for step in (16, 1):
        core = _phase_max(x, spec, plan, (q1 - 1, Ho), (q2 - 1, Wo), step)
        floor = (core.reshape(G, 1, -1) * wmax).max()  # <= max(A)
        if (band_g * wmax <= _BORDER_FACTOR * floor).all():
            return True
    return False


def _direct_region(x, wp, b, spec: ConvSpec, plan: Plan, out, rows, cols) -> None:
    """Compute ``out[:, :, rows, cols]`` without transforms (pyconv's direct kernels).

    Parameters
    ----------
    wp : ndarray, shape (q1, q2, groups, C_out / groups, C_in / groups * phases)
    rows, cols : (int, int)
        Half-open output window.
    """
    import pyconv

    (a, b_), (c, d) = rows, cols
    if b_ <= a or d <= c:
        return
    q1, q2 = plan.kernel
    N, C, P = spec.batch, spec.in_channels, len(plan.phases)
    xe = np.zeros((N, C * P, b_ - a + q1 - 1, d - c + q2 - 1), dtype=spec.dtype)
    _fill_phases(xe, x, spec, plan, a, c)
    Co = spec.out_channels
    wk = np.ascontiguousarray(wp.reshape(q1, q2, Co, -1).transpose(2, 3, 0, 1))
    out[:, :, a:b_, c:d] = pyconv.conv2d(xe, wk, b, groups=spec.groups, backend=_direct_name())


@functools.lru_cache(maxsize=8)
def _executor(threads: int) -> concurrent.futures.ThreadPoolExecutor:
    """Return a pool of ``threads`` threads for chunks of work (created once, kept)."""
    return concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="pyconv-fft")


@functools.lru_cache(maxsize=1)
def _direct_name() -> str:
    """Return the name of pyconv's compiled backend if available, else its reference."""
    import pyconv

    ok = {i.name: i.available for i in pyconv.backends()}
    return "cython" if ok.get("cython") else "numpy"


def _tiles_view(xe: np.ndarray, plan: Plan, freq_major: bool) -> np.ndarray:
    """Overlapping tiles of ``xe`` as a view.

    Returns
    -------
    ndarray, shape (T1, T2, C, n, rows, nt2) if ``freq_major`` else (n, C, rows, nt2, T1, T2)
        ``view[..., a, b, ...] = xe[n, c, i * m1 + a, j * m2 + b]`` for tile ``(i, j)``.
    """
    (T1, T2), (m1, m2) = plan.tile, plan.step
    sn, sc, sh, sw = xe.strides
    n, C, He, We = xe.shape
    rows, nt2 = (He - T1) // m1 + 1, (We - T2) // m2 + 1
    if freq_major:
        shape = (T1, T2, C, n, rows, nt2)
        strides = (sh, sw, sc, sn, m1 * sh, m2 * sw)
    else:
        shape = (n, C, rows, nt2, T1, T2)
        strides = (sn, sc, m1 * sh, m2 * sw, sh, sw)
    return as_strided(xe, shape=shape, strides=strides, writeable=False)


def _stitch(out: np.ndarray, y: np.ndarray, plan: Plan, bias: np.ndarray | None) -> None:
    """Crop the tiles ``y`` into ``out`` and add the bias, in one pass.

    Parameters
    ----------
    out : ndarray, shape (n, C_out, R, W_out)
        The output rows of this chunk (``R <= rows * m1``).
    y : ndarray, shape (n, C_out, rows, nt2, T1, T2)
        Inverse transforms of the tiles (any strides).
    bias : ndarray, shape (C_out,), or None
    """
    m1, m2 = plan.step
    R, Wo = out.shape[2:]
    full_r, rem_r = divmod(R, m1)
    full_c, rem_c = divmod(Wo, m2)
    parts_r = [(0, full_r, m1)] + ([(full_r, 1, rem_r)] if rem_r else [])
    parts_c = [(0, full_c, m2)] + ([(full_c, 1, rem_c)] if rem_c else [])
    b6 = None if bias is None else bias.reshape(1, -1, 1, 1, 1, 1)
    for i0, ni, a in parts_r:
        for j0, nj, c in parts_c:
            if ni == 0 or nj == 0:
                continue
            # (n, C_out, tile row, row in tile, tile column, column in tile)
            src = y[:, :, i0 : i0 + ni, j0 : j0 + nj, :a, :c].transpose(0, 1, 2, 4, 3, 5)
            region = out[:, :, i0 * m1 : i0 * m1 + ni * a, j0 * m2 : j0 * m2 + nj * c]
            sn, sc, sh, sw = region.strides
            dst = as_strided(
                region,
                shape=(out.shape[0], out.shape[1], ni, a, nj, c),
                strides=(sn, sc, a * sh, sh, c * sw, sw),
            )
            if b6 is None:
                np.copyto(dst, src)
            else:
                np.add(src, b6, out=dst)


def _pointwise(x, w, b, spec: ConvSpec, plan: Plan, memory_limit: int) -> np.ndarray:
    """Convolve with a 1x1 kernel: no transform, a matrix product over each group's channels.

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out), dtype ``spec.dtype``
    """
    N, C, Co, G = spec.batch, spec.in_channels, spec.out_channels, spec.groups
    Ho, Wo = spec.output_size
    out = np.empty((N, Co, Ho, Wo), dtype=spec.dtype)
    wg = w.reshape(G, Co // G, C // G)
    per_image = (C + Co) * Ho * Wo * spec.dtype.itemsize
    nb = max(1, memory_limit // max(per_image, 1))
    for n0 in range(0, N, nb):
        n1 = min(N, n0 + nb)
        xe = np.zeros((n1 - n0, C, Ho, Wo), dtype=spec.dtype)  # the pixels the outputs meet
        _fill_phases(xe, x[n0:n1], spec, plan)
        y = out[n0:n1].reshape(n1 - n0, G, Co // G, Ho * Wo)
        np.matmul(wg, xe.reshape(n1 - n0, G, C // G, Ho * Wo), out=y)
    if b is not None:
        out += b.reshape(1, Co, 1, 1)
    return out


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    spec: ConvSpec,
    *,
    workers: int | None = None,
    memory_limit: int = _DEFAULT_MEMORY,
    tile: tuple[int, int] | None = None,
) -> np.ndarray:
    """Cross-correlate with PyTorch's conv2d semantics, by FFT.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W), any strides
    w : ndarray, shape (C_out, C_in / groups, kH, kW), any strides
    b : ndarray, shape (C_out,), or None
    spec : ConvSpec
        The validated call (pyconv validates and normalises the arguments).
    workers : int, optional
        Threads for :mod:`scipy.fft` (default: :func:`pyconv.get_num_threads`).
    memory_limit : int
        Limit, in bytes, on the transform buffers of one chunk of work (see
        :func:`make_plan`).
    tile : (int, int), optional
        Force the FFT tile size (for tests and measurements).

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out), C-contiguous, dtype ``spec.dtype``
    """
    N, Co = spec.batch, spec.out_channels
    Ho, Wo = spec.output_size
    dtype = spec.dtype
    if N == 0 or spec.in_channels == 0:
        # no products to sum: the output is the bias (pyconv's documented semantics)
        out = np.zeros((N, Co, Ho, Wo), dtype=dtype)
        if b is not None:
            out += b.reshape(1, Co, 1, 1)
        return out
    if workers is None:
        import pyconv

        workers = pyconv.get_num_threads()
    plan = make_plan(spec, memory_limit, tile)
    if spec.kernel_size == (1, 1):
        return _pointwise(x, w, b, spec, plan, memory_limit)
    (T1, T2), (m1, m2), (nt1, nt2) = plan.tile, plan.step, plan.ntiles
    G, P = spec.groups, len(plan.phases)
    cig = spec.in_channels // G * P
    F = T1 * (T2 // 2 + 1)
    # cig > 1: for each frequency a matrix product over channels, so frequencies go first;
    # cig == 1 (single-channel, depthwise): a broadcast product, tiles stay contiguous.
    freq_major = cig > 1

    wp = _phase_weights(w, spec, plan)
    bias = None if b is None else np.asarray(b, dtype=dtype)
    out = np.empty((N, Co, Ho, Wo), dtype=dtype)
    q1, q2 = plan.kernel
    window = None
    if not _border_is_safe(x, wp, spec, plan):
        # keep the border band out of the transforms; the outputs that read it (a rim of
        # q - 1 rows and columns) are computed directly below
        window = (q1 - 1, Ho, q2 - 1, Wo)
        rim_rows = (q1 - 1, max(q1 - 1, Ho - q1 + 1))  # the rows between the rims
        if rim_rows[0] >= rim_rows[1] or 2 * (q2 - 1) >= Wo:
            _direct_region(x, wp, bias, spec, plan, out, (0, Ho), (0, Wo))
            return out
    wf = _kernel_spectrum(wp, plan, workers)  # (F, G, O, cig)
    if not freq_major:
        wf = wf.reshape(T1, T2 // 2 + 1, G, Co // G).transpose(2, 3, 0, 1)
        wf = np.ascontiguousarray(wf).reshape(1, G, Co // G, 1, 1, T1, T2 // 2 + 1)
    We = (nt2 - 1) * m2 + T2
    nb, rows = plan.images_per_chunk, plan.tile_rows_per_chunk
    chunks = [(n0, i0) for n0 in range(0, N, nb) for i0 in range(0, nt1, rows)]

    def run(chunk: tuple[int, int], fft_workers: int) -> None:
        n0, i0 = chunk
        n1 = min(N, n0 + nb)
        n, nr = n1 - n0, min(rows, nt1 - i0)
        xe = np.zeros((n, spec.in_channels * P, (nr - 1) * m1 + T1, We), dtype=dtype)
        _fill_phases(xe, x[n0:n1], spec, plan, i0 * m1, 0, window)
        tiles = _tiles_view(xe, plan, freq_major)
        if freq_major:
            xf = sfft.rfft2(tiles, axes=(0, 1), workers=fft_workers)
            del xe, tiles
            yf = np.matmul(wf, xf.reshape(F, G, cig, n * nr * nt2))
            del xf
            yf = yf.reshape(T1, T2 // 2 + 1, Co, n, nr, nt2)
            y = sfft.irfft2(yf, s=(T1, T2), axes=(0, 1), workers=fft_workers)
            y = y.transpose(3, 2, 4, 5, 0, 1)  # (n, Co, nr, nt2, T1, T2)
        else:
            xf = sfft.rfft2(tiles, workers=fft_workers)  # (n, G, nr, nt2, T1, T2h)
            del xe, tiles
            yf = np.multiply(wf, xf[:, :, None])  # (n, G, O, nr, nt2, T1, T2h)
            del xf
            yf = yf.reshape(n, Co, nr, nt2, T1, T2 // 2 + 1)
            y = sfft.irfft2(yf, s=(T1, T2), workers=fft_workers)
        del yf
        r0 = i0 * m1
        _stitch(out[n0:n1, :, r0 : min(Ho, r0 + nr * m1), :], y, plan, bias)

    threads = min(workers if workers > 0 else (os.cpu_count() or 1) + 1 + workers, len(chunks))
    if threads > 1:
        # chunks in parallel (NumPy and SciPy release the GIL in their loops): it scales
        # better than scipy.fft's own threads, which only split each transform's batch
        # and leave the products, copies and stitching on one thread
        for f in [_executor(threads).submit(run, c, 1) for c in chunks]:
            f.result()
    else:
        for c in chunks:
            run(c, workers)
    if window is not None:
        top_rows, bottom_rows = (0, q1 - 1), (max(q1 - 1, Ho - q1 + 1), Ho)
        _direct_region(x, wp, bias, spec, plan, out, top_rows, (0, Wo))
        _direct_region(x, wp, bias, spec, plan, out, bottom_rows, (0, Wo))
        middle = (q1 - 1, bottom_rows[0])
        _direct_region(x, wp, bias, spec, plan, out, middle, (0, q2 - 1))
        _direct_region(x, wp, bias, spec, plan, out, middle, (max(q2 - 1, Wo - q2 + 1), Wo))
    return out


class FFTBackend:
    """The backend object that ``pyconv`` loads for ``'fft'``.

    Parameters
    ----------
    workers : int, optional
        Threads for :mod:`scipy.fft`.  Default: :func:`pyconv.get_num_threads` at each
        call (so ``pyconv.set_num_threads`` and ``PYCONV_NUM_THREADS`` apply).  The
        channel products run in NumPy's BLAS, with its own thread setting.
    memory_limit : int
        Soft limit in bytes on the transform buffers of one chunk of work (default
        16 MiB); it also bounds the tile size.  Calls are processed in chunks of images
        and rows of tiles of at most ``min(memory_limit, 4 MiB)`` where possible: small
        chunks stay in cache and reuse freed memory instead of page-faulting on fresh
        buffers.  A row of tiles of one image is the smallest chunk, so a huge kernel
        (tiles larger than the kernel) can exceed the limit.

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> x = np.ones((1, 1, 64, 64), np.float32)
    >>> w = np.ones((1, 1, 31, 31), np.float32)
    >>> y = pyconv.conv2d(x, w, padding="same", backend="fft")
    >>> y.shape, y.dtype, round(float(y[0, 0, 32, 32]))
    ((1, 1, 64, 64), dtype('float32'), 961)
    """

    name = "fft"
    capabilities = None  # filled from the entry point's spec by the registry

    def __init__(self, workers: int | None = None, memory_limit: int = _DEFAULT_MEMORY):
        if workers is not None:
            if isinstance(workers, bool):
                raise TypeError("workers must be an int or None, not bool")
            workers = operator.index(workers)
            if workers == 0:
                raise ValueError("workers must be a non-zero int (negative: cores + 1 + workers)")
        memory_limit = operator.index(memory_limit)
        if memory_limit <= 0:
            raise ValueError(f"memory_limit must be positive, got {memory_limit}")
        self.workers = workers
        self.memory_limit = memory_limit

    def __repr__(self) -> str:
        return f"FFTBackend(workers={self.workers!r}, memory_limit={self.memory_limit!r})"

    def supports(self, spec: ConvSpec) -> bool:
        """Every call pyconv validates runs here (stride, dilation, groups, padding)."""
        return True

    def plan(self, spec: ConvSpec) -> Plan:
        """Return the tiling this backend would use for ``spec`` (for inspection)."""
        return make_plan(spec, self.memory_limit)

    def conv2d(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: ConvSpec
    ) -> np.ndarray:
        """Convolve; see :func:`conv2d` for shapes and :func:`pyconv.conv2d` for semantics.

        Parameters
        ----------
        x : ndarray, shape (N, C_in, H, W)
        w : ndarray, shape (C_out, C_in / groups, kH, kW)
        b : ndarray, shape (C_out,), or None
        spec : ConvSpec

        Returns
        -------
        ndarray, shape (N, C_out, H_out, W_out), dtype ``spec.dtype``
        """
        return conv2d(x, w, b, spec, workers=self.workers, memory_limit=self.memory_limit)
