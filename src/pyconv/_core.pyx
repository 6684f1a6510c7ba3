# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Compiled direct-convolution kernels for pyconv (float32 and float64).

The algorithm, for one (image n, group g) problem:

1. The input planes of the group are copied once into a workspace, zero-padded and,
   for stride s > 1, split into s_h * s_w "phase" planes, so that plane (a, b) holds
   padded[i * s_h + a, j * s_w + b].  Every kernel tap (ic, kh, kw) then reads a
   contiguous run of one phase plane, shifted by a constant offset ``off[t]``; stride
   and dilation are entirely folded into those offsets.
2. Outputs are computed on a "wide" grid p = oh * Wq + ow (Wq = phase-plane width), so a
   run of consecutive p is a run of consecutive workspace addresses for every tap.  A
   register-blocked micro-kernel (_tile_impl.h) keeps an 8-channel x (2 vectors) tile of
   accumulators in registers over all taps; columns ow >= W_out are dropped on store.
3. Work items are (n, g, chunk of wide positions, block of output channels); each output
   element is produced by exactly one item with a fixed summation order, so results are
   bitwise identical for any thread count.

The GIL is released for all of it; ``prange`` runs the packing and the work items on
OpenMP threads, but only when the call is big enough to pay for a parallel region.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.stdlib cimport free
from libc.string cimport memset

import os

import numpy as np

ctypedef fused real:
    float
    double

cdef extern from "_kernels.h" nogil:
    ctypedef void (*pyconv_tile_f32)(const float *, const int64_t *, int64_t, const float *,
                                     const float *, float *, int64_t, int64_t, int64_t,
                                     int64_t, int64_t)
    ctypedef void (*pyconv_tile_f64)(const double *, const int64_t *, int64_t, const double *,
                                     const double *, double *, int64_t, int64_t, int64_t,
                                     int64_t, int64_t)
    ctypedef struct pyconv_isa:
        const char *name
        pyconv_tile_f32 f32_block
        pyconv_tile_f32 f32_single
        pyconv_tile_f64 f64_block
        pyconv_tile_f64 f64_single
        int64_t f32_block_px
        int64_t f32_single_px
        int64_t f64_block_px
        int64_t f64_single_px
    const pyconv_isa *pyconv_active_isa
    int pyconv_isa_select(const char *name)
    void *pyconv_alloc(size_t nbytes)
    int pyconv_omp_max_threads()
    const int PYCONV_OCB
    const int PYCONV_HAVE_OPENMP
    const char *PYCONV_BUILD_CFLAGS


# Below this many floating-point operations a call runs on the calling thread: opening a
# 2-thread OpenMP region costs about 1.8 us here, more than a whole article-size conv.
cdef enum:
    PARALLEL_MIN_FLOPS = 1 << 20

cdef int _num_threads = 1
# How many calls took the parallel path (read by the tests: tiny calls must not).
cdef Py_ssize_t _parallel_calls = 0


cdef struct Geometry:
    int64_t N, C, H, W          # input
    int64_t Co, kH, kW          # weight (Co, Cig, kH, kW)
    int64_t G, Cig, Cog         # groups, in / out channels per group
    int64_t Ho, Wo              # output plane
    int64_t sh, sw, dh, dw      # stride, dilation
    int64_t pt, pl              # zero padding before the first row / column
    int64_t S, Hq, Wq, plane    # phases, phase-plane rows / columns, workspace per channel
    int64_t P                   # wide positions per (n, g) problem: Ho * Wq
    int64_t ntaps               # Cig * kH * kW
    int64_t nfull, nblocks      # full PYCONV_OCB blocks, all blocks, per group
    int64_t nchunks, chunk      # wide-position chunks per problem, and their length
    int64_t px_block, px_single  # wide positions per micro-kernel tile


cdef inline int64_t _ceil_div(int64_t a, int64_t b) noexcept nogil:
    return (a + b - 1) // b


cdef void _pack_plane(const real[:, :, :, :] x, real *ws, const Geometry *g,
                      int64_t n, int64_t c) noexcept nogil:
    """Write the zero-padded, phase-split copy of plane x[n, c] into ws (OUT)."""
    cdef int64_t a, b, i, j, r, col, j_lo, j_hi
    cdef real *dst
    for a in range(g.sh):
        for b in range(g.sw):
            dst = ws + ((a * g.sw + b) * g.Hq) * g.Wq
            # columns j with 0 <= j * sw + b - pl < W
            j_lo = _ceil_div(g.pl - b, g.sw) if g.pl > b else 0
            j_hi = _ceil_div(g.W + g.pl - b, g.sw) if g.W + g.pl > b else 0
            if j_hi > g.Wq:
                j_hi = g.Wq
            if j_lo > j_hi:
                j_lo = j_hi
            for i in range(g.Hq):
                r = i * g.sh + a - g.pt
                if r < 0 or r >= g.H or j_lo == j_hi:
                    memset(dst, 0, g.Wq * sizeof(real))
                else:
                    if j_lo > 0:
                        memset(dst, 0, j_lo * sizeof(real))
                    col = j_lo * g.sw + b - g.pl
                    for j in range(j_lo, j_hi):
                        dst[j] = x[n, c, r, col]
                        col = col + g.sw
                    if j_hi < g.Wq:
                        memset(dst + j_hi, 0, (g.Wq - j_hi) * sizeof(real))
                dst = dst + g.Wq


cdef void _pack_weight_block(const real[:, :, :, :] w, real *wp, const Geometry *g,
                             int64_t oc0, int64_t m) noexcept nogil:
    """Pack channels oc0 .. oc0+m-1 as wp[t * m + j] (OUT), t = (ic * kH + kh) * kW + kw."""
    cdef int64_t j, ic, kh, kw, t = 0
    for ic in range(g.Cig):
        for kh in range(g.kH):
            for kw in range(g.kW):
                for j in range(m):
                    wp[t * m + j] = w[oc0 + j, ic, kh, kw]
                t = t + 1


cdef inline void _block_of(const Geometry *g, int64_t kb, int64_t *oc_local,
                           int64_t *m) noexcept nogil:
    if kb < g.nfull:
        oc_local[0] = kb * PYCONV_OCB
        m[0] = PYCONV_OCB
    else:
        oc_local[0] = g.nfull * PYCONV_OCB + (kb - g.nfull)
        m[0] = 1


cdef void _run_item(const real *ws, const real *wp, const real *bias, real *out,
                    const int64_t *off, const Geometry *g, int64_t item) noexcept nogil:
    """Compute one work item: (image, group, chunk of wide positions, channel block)."""
    cdef int64_t kb = item % g.nblocks
    cdef int64_t r = item // g.nblocks
    cdef int64_t pc = r % g.nchunks
    r = r // g.nchunks
    cdef int64_t gi = r % g.G
    cdef int64_t n = r // g.G
    cdef int64_t oc_local, m, oc, p0, p_lo, p_hi, px, cnt
    _block_of(g, kb, &oc_local, &m)
    oc = gi * g.Cog + oc_local
    cdef const real *x = ws + (n * g.C + gi * g.Cig) * g.plane
    cdef const real *w = wp + oc * g.ntaps
    cdef const real *bb = NULL
    if bias != NULL:
        bb = bias + oc
    cdef real *o = out + (n * g.Co + oc) * g.Ho * g.Wo
    cdef int64_t out_plane = g.Ho * g.Wo
    p_lo = pc * g.chunk
    p_hi = p_lo + g.chunk
    if p_hi > g.P:
        p_hi = g.P
    px = g.px_block if m == PYCONV_OCB else g.px_single
    p0 = p_lo
    while p0 < p_hi:
        cnt = px if p0 + px <= p_hi else p_hi - p0
        if real is float:
            if m == PYCONV_OCB:
                pyconv_active_isa.f32_block(x, off, g.ntaps, w, bb, o, out_plane,
                                            p0, cnt, g.Wq, g.Wo)
            else:
                pyconv_active_isa.f32_single(x, off, g.ntaps, w, bb, o, out_plane,
                                             p0, cnt, g.Wq, g.Wo)
        else:
            if m == PYCONV_OCB:
                pyconv_active_isa.f64_block(x, off, g.ntaps, w, bb, o, out_plane,
                                            p0, cnt, g.Wq, g.Wo)
            else:
                pyconv_active_isa.f64_single(x, off, g.ntaps, w, bb, o, out_plane,
                                             p0, cnt, g.Wq, g.Wo)
        p0 = p0 + px


cdef object _conv(const real[:, :, :, :] x, const real[:, :, :, :] w,
                  const real[::1] bias, object out_arr, real[:, :, :, ::1] out,
                  Geometry g):
    global _parallel_calls
    cdef int nt = _num_threads
    cdef int64_t kh, kw, ic, t, a, b, qh, qw, off_max = 0
    cdef int64_t nplanes = g.N * g.C, i, item, nitems, blk
    cdef int64_t ws_len, need
    cdef real *ws = NULL
    cdef real *wp = NULL
    cdef int64_t *off = NULL
    cdef const real *bptr = NULL
    cdef bint par
    cdef double flops

    if real is float:
        g.px_block = pyconv_active_isa.f32_block_px
        g.px_single = pyconv_active_isa.f32_single_px
    else:
        g.px_block = pyconv_active_isa.f64_block_px
        g.px_single = pyconv_active_isa.f64_single_px

    g.nfull = g.Cog // PYCONV_OCB
    g.nblocks = g.nfull + g.Cog % PYCONV_OCB
    flops = 2.0 * g.N * g.Co * g.Ho * g.Wo * g.ntaps
    par = nt > 1 and flops >= PARALLEL_MIN_FLOPS

    # Split the wide positions of each problem when there are too few problems to keep
    # every thread busy (one big image, depthwise with few channels).
    g.nchunks = 1
    if par and g.N * g.G * g.nblocks < 4 * nt:
        g.nchunks = _ceil_div(4 * nt, g.N * g.G * g.nblocks)
    g.chunk = _ceil_div(_ceil_div(g.P, g.nchunks), g.px_single) * g.px_single
    g.nchunks = _ceil_div(g.P, g.chunk)
    nitems = g.N * g.G * g.nchunks * g.nblocks

    off = <int64_t *> pyconv_alloc(max(g.ntaps, 1) * sizeof(int64_t))
    if off == NULL:
        raise MemoryError(f"pyconv: cannot allocate {g.ntaps * 8} bytes for tap offsets")
    t = 0
    for ic in range(g.Cig):
        for kh in range(g.kH):
            a = (kh * g.dh) % g.sh
            qh = (kh * g.dh) // g.sh
            for kw in range(g.kW):
                b = (kw * g.dw) % g.sw
                qw = (kw * g.dw) // g.sw
                off[t] = ((ic * g.S + a * g.sw + b) * g.Hq + qh) * g.Wq + qw
                if off[t] > off_max:
                    off_max = off[t]
                t += 1

    # The micro-kernel reads whole tiles, past the last stored position of a problem:
    # size the workspace so that the last group of the last image stays in bounds.
    ws_len = nplanes * g.plane
    need = (nplanes - g.Cig) * g.plane + off_max + g.chunk * g.nchunks + g.px_single
    if need > ws_len:
        ws_len = need
    ws = <real *> pyconv_alloc(ws_len * sizeof(real))
    wp = <real *> pyconv_alloc(max(g.Co * g.ntaps, 1) * sizeof(real))
    if ws == NULL or wp == NULL:
        free(off)
        free(ws)
        free(wp)
        raise MemoryError(
            f"pyconv: cannot allocate {ws_len * sizeof(real)} bytes for the padded input "
            f"workspace and {g.Co * g.ntaps * sizeof(real)} bytes for packed weights"
        )
    if bias is not None:
        bptr = &bias[0]
    if par:
        _parallel_calls += 1

    with nogil:
        memset(ws + nplanes * g.plane, 0, (ws_len - nplanes * g.plane) * sizeof(real))
        if par:
            for i in prange(nplanes, num_threads=nt, schedule="static"):
                _pack_plane(x, ws + i * g.plane, &g, i // g.C, i % g.C)
            for blk in prange(g.G * g.nblocks, num_threads=nt, schedule="static"):
                _pack_one_block(w, wp, &g, blk)
            for item in prange(nitems, num_threads=nt, schedule="dynamic"):
                _run_item(ws, wp, bptr, &out[0, 0, 0, 0], off, &g, item)
        else:
            for i in range(nplanes):
                _pack_plane(x, ws + i * g.plane, &g, i // g.C, i % g.C)
            for blk in range(g.G * g.nblocks):
                _pack_one_block(w, wp, &g, blk)
            for item in range(nitems):
                _run_item(ws, wp, bptr, &out[0, 0, 0, 0], off, &g, item)

    free(off)
    free(ws)
    free(wp)
    return out_arr


cdef inline void _pack_one_block(const real[:, :, :, :] w, real *wp, const Geometry *g,
                                 int64_t blk) noexcept nogil:
    cdef int64_t oc_local, m
    cdef int64_t gi = blk // g.nblocks
    _block_of(g, blk % g.nblocks, &oc_local, &m)
    oc_local = gi * g.Cog + oc_local
    _pack_weight_block(w, wp + oc_local * g.ntaps, g, oc_local, m)


def conv2d_forward(x, w, bias, int64_t stride_h, int64_t stride_w,
                   int64_t pad_top, int64_t pad_bottom, int64_t pad_left, int64_t pad_right,
                   int64_t dil_h, int64_t dil_w, int64_t groups):
    """Direct 2-D cross-correlation, PyTorch's conv2d, on validated arguments.

    The caller (pyconv's front end) has validated everything; this function trusts its
    arguments and only guards memory.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W), float32 or float64, any strides
    w : ndarray, shape (C_out, C_in / groups, kH, kW), same dtype, any strides
    bias : ndarray, shape (C_out,), same dtype, C-contiguous, or None
    stride_h, stride_w, dil_h, dil_w, groups : int >= 1
    pad_top, pad_bottom, pad_left, pad_right : int >= 0
        Zero padding on each side (asymmetric padding serves ``padding='same'``).

    Returns
    -------
    out : ndarray, shape (N, C_out, H_out, W_out), the dtype of x, C-contiguous
    """
    cdef Geometry g
    g.N, g.C, g.H, g.W = x.shape
    g.Co, g.Cig, g.kH, g.kW = w.shape
    g.G = groups
    g.Cog = g.Co // groups
    g.sh, g.sw, g.dh, g.dw = stride_h, stride_w, dil_h, dil_w
    g.pt, g.pl = pad_top, pad_left
    cdef int64_t Hp = g.H + pad_top + pad_bottom
    cdef int64_t Wp = g.W + pad_left + pad_right
    g.Ho = (Hp - g.dh * (g.kH - 1) - 1) // g.sh + 1
    g.Wo = (Wp - g.dw * (g.kW - 1) - 1) // g.sw + 1
    g.S = g.sh * g.sw
    g.Hq = _ceil_div(Hp, g.sh)
    g.Wq = _ceil_div(Wp, g.sw)
    g.plane = g.S * g.Hq * g.Wq
    g.P = g.Ho * g.Wq
    g.ntaps = g.Cig * g.kH * g.kW

    dtype = x.dtype
    out_arr = np.empty((g.N, g.Co, g.Ho, g.Wo), dtype=dtype)
    if out_arr.size == 0:
        return out_arr
    if g.ntaps == 0:  # no input channels: the output is the bias (or zeros)
        out_arr[...] = 0 if bias is None else bias.reshape(1, -1, 1, 1)
        return out_arr
    if dtype == np.float32:
        return _conv[float](x, w, bias, out_arr, out_arr, g)
    if dtype == np.float64:
        return _conv[double](x, w, bias, out_arr, out_arr, g)
    raise TypeError(f"pyconv._core: unsupported dtype {dtype}")


def set_num_threads(int n):
    """Set the number of OpenMP threads the kernels use (n >= 1)."""
    global _num_threads
    if n < 1:
        raise ValueError(f"number of threads must be >= 1, but got {n}")
    _num_threads = n


def get_num_threads():
    """Number of OpenMP threads the kernels use."""
    return _num_threads


def parallel_calls():
    """Number of calls so far that opened an OpenMP parallel region."""
    return _parallel_calls


def openmp_enabled():
    """True if this build was compiled with OpenMP."""
    return bool(PYCONV_HAVE_OPENMP)


def openmp_max_threads():
    """``omp_get_max_threads()`` of the OpenMP runtime (1 without OpenMP)."""
    return pyconv_omp_max_threads()


def build_cflags():
    """Compiler flags the extension was built with (the ones setup.py added)."""
    return (<bytes> PYCONV_BUILD_CFLAGS).decode()


def isa():
    """Name of the micro-kernel variant in use: 'avx512', 'avx2' or 'baseline'."""
    return (<bytes> pyconv_active_isa.name).decode()


def set_isa(name=None):
    """Select a micro-kernel variant by name, or the best one for this CPU (None).

    Used by the tests to exercise the portable fallback on a machine with AVX-512.
    """
    cdef bytes b = (name or "").encode()
    if pyconv_isa_select(b) != 0:
        raise ValueError(f"ISA variant {name!r} is unknown or not supported by this CPU")
    return isa()


try:
    set_isa(os.environ.get("PYCONV_ISA") or None)
except ValueError as _exc:
    raise ValueError(
        f"environment variable PYCONV_ISA: {_exc} (use avx512, avx2 or baseline)"
    ) from None
