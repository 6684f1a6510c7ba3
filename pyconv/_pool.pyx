"""Compiled pooling kernels for pyconv (float32 and float64): max, average, adaptive; ReLU.

Every function here takes a C-contiguous (N, C, H, W) array whose arguments the Python
front end (``pyconv/pooling.py``) has already checked with torch's rules, and returns a new
array.  The work is split over the N * C planes with ``prange`` (the GIL released), but
only when the call is big enough to pay for opening a parallel region.

Results are those of torch's CPU kernels for contiguous tensors, element for element:

- max: the window is scanned row by row, a value replaces the running maximum when it is
  larger or NaN (so NaN propagates, ties keep the first position and the index of the
  last NaN is returned), starting from -inf at the window's first position inside the
  input;
- average: the window is summed in the input's dtype in the same row-major order, from
  0, and divided by torch's divisor;
- adaptive: torch's window bounds ``floor(i * H / Ho)`` to ``ceil((i + 1) * H / Ho)``.

ReLU, the elementwise step between convolutions and pooling, is here too: NumPy has no
branch-free way to compute torch's ``x < 0 ? 0 : x`` (``np.maximum`` turns -0.0 into
+0.0, and a masked ``np.copyto`` mispredicts a branch on every other element).

How it is fast: for an output row, the columns whose window lies inside the input are
computed one kernel tap at a time, each tap a pass over the whole output row (which stays
in L1) with a unit or constant stride, so the compiler vectorises it; every output element
still sees the taps in torch's order.  The few border columns use torch's scalar loop.
"""

cimport numpy as cnp
from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

import numpy as np

cnp.import_array()

cdef extern from *:
    """
    #ifdef _OPENMP
    #define PYCONV_POOL_OPENMP 1
    #else
    #define PYCONV_POOL_OPENMP 0
    #endif
    """
    const int PYCONV_POOL_OPENMP

ctypedef fused real:
    float
    double

cdef enum:
    # Below this many window reads a call runs on the calling thread: opening an OpenMP
    # region costs about 2 us with two threads, as much as pooling a 64x64 plane.
    PARALLEL_MIN_READS = 1 << 16

# How many calls took the parallel path (read by the tests: tiny calls must not).
cdef Py_ssize_t _parallel_calls = 0


cdef struct Geometry:
    int64_t H, W, Ho, Wo        # input and output plane
    int64_t kH, kW, sH, sW      # kernel, stride
    int64_t pH, pW, dH, dW      # padding (both sides), dilation
    int64_t ow_lo, ow_hi        # columns whose whole window lies inside the input
    int64_t divisor             # avg: divisor_override, or 0 for torch's own divisor
    bint count_include_pad      # avg


cdef inline int64_t _ceil_div(int64_t a, int64_t b) noexcept nogil:
    """ceil(a / b) for b > 0 and any a (C division truncates towards zero)."""
    if a >= 0:
        return (a + b - 1) // b
    return -((-a) // b)


cdef inline int64_t _floor_div(int64_t a, int64_t b) noexcept nogil:
    """floor(a / b) for b > 0 and any a."""
    if a >= 0:
        return a // b
    return -((-a + b - 1) // b)


cdef void _interior_columns(Geometry *g) noexcept nogil:
    """Set g.ow_lo, g.ow_hi: ow in [ow_lo, ow_hi) has every tap column inside [0, W)."""
    cdef int64_t span = (g.kW - 1) * g.dW
    g.ow_lo = min(_ceil_div(g.pW, g.sW), g.Wo)
    g.ow_hi = min(_floor_div(g.W - 1 - span + g.pW, g.sW) + 1, g.Wo)
    if g.ow_hi < g.ow_lo:
        g.ow_hi = g.ow_lo


cdef inline bint _replaces(real v, real m) noexcept nogil:
    # torch's test: larger, or NaN.  Bitwise | so that no branch stops vectorisation.
    return (v > m) | (v != v)


# ----------------------------------------------------------------------------------------
# max pooling
# ----------------------------------------------------------------------------------------

cdef inline void _max_tap(const real *xr, real *yr, int64_t n, int64_t s,
                          bint first) noexcept nogil:
    """One tap over an output row: yr[j] = torch_max(yr[j], xr[j * s]).

    Called with literal strides 1 and 2 so that, inlined, the loop has a constant stride
    the compiler vectorises (a run-time stride defeats it).
    """
    cdef int64_t j
    cdef real v, m
    if first:
        for j in range(n):
            yr[j] = xr[j * s]
    else:
        for j in range(n):
            v = xr[j * s]
            m = yr[j]
            yr[j] = v if _replaces(v, m) else m


cdef inline void _max_tap_idx(const real *xr, real *yr, void *lanes, int64_t n, int64_t s,
                              int64_t base, bint first) noexcept nogil:
    """As _max_tap, also keeping the flat index (base + j * s) of the maximum in ``lanes``.

    The indices are kept as wide as the values (int32 for float32, int64 for float64), so
    that the comparison's mask selects both in the same vector lanes; the caller widens
    the int32 ones (and only uses them when a plane has fewer than 2**31 elements).
    """
    cdef int j
    cdef real v, m
    cdef bint take
    cdef int32_t *i32 = <int32_t *> lanes
    cdef int64_t *i64 = <int64_t *> lanes
    cdef int32_t b32 = <int32_t> base
    cdef int32_t s32 = <int32_t> s
    if real is float:
        if first:
            for j in range(<int> n):
                yr[j] = xr[j * s]
                i32[j] = b32 + j * s32
        else:
            for j in range(<int> n):
                v = xr[j * s]
                m = yr[j]
                take = _replaces(v, m)
                yr[j] = v if take else m
                i32[j] = b32 + j * s32 if take else i32[j]
    else:
        if first:
            for j in range(<int> n):
                yr[j] = xr[j * s]
                i64[j] = base + j * s
        else:
            for j in range(<int> n):
                v = xr[j * s]
                m = yr[j]
                take = _replaces(v, m)
                yr[j] = v if take else m
                i64[j] = base + j * s if take else i64[j]


cdef void _max_one(const real *x, real *y, int64_t *idx, const Geometry *g,
                   int64_t oh, int64_t ow) noexcept nogil:
    """One output element, exactly as torch's CPU kernel computes it (border columns)."""
    cdef int64_t ih0 = oh * g.sH - g.pH
    cdef int64_t iw0 = ow * g.sW - g.pW
    cdef int64_t ih1 = min(ih0 + (g.kH - 1) * g.dH + 1, g.H)
    cdef int64_t iw1 = min(iw0 + (g.kW - 1) * g.dW + 1, g.W)
    cdef int64_t ih, iw, index
    cdef real v
    cdef bint take
    while ih0 < 0:
        ih0 += g.dH
    while iw0 < 0:
        iw0 += g.dW
    cdef int64_t best_index = ih0 * g.W + iw0
    cdef real best = -INFINITY
    ih = ih0
    while ih < ih1:
        iw = iw0
        while iw < iw1:
            index = ih * g.W + iw
            v = x[index]
            take = _replaces(v, best)  # selects, not branches: random data mispredicts
            best_index = index if take else best_index
            best = v if take else best
            iw += g.dW
        ih += g.dH
    y[oh * g.Wo + ow] = best
    if idx != NULL:
        idx[oh * g.Wo + ow] = best_index


cdef void _max_plane(const real *x, real *y, int64_t *idx, const Geometry *g) noexcept nogil:
    """Max-pool one (H, W) plane into y (Ho, Wo) and, if idx is not NULL, its indices."""
    cdef int64_t oh, ow, kh, kw, kh_lo, kh_hi, h0, w0, n, base, j
    cdef const real *xr
    cdef real *yr
    cdef int64_t *ir
    cdef bint first
    cdef void *lanes = NULL
    n = g.ow_hi - g.ow_lo
    cdef bint vector_rows = n > 0
    if idx != NULL and n > 0:
        # index lanes as wide as the values; int32 ones must hold every index of the plane
        if sizeof(real) == 8 or g.H * g.W < 2147483647:
            lanes = malloc(n * sizeof(real))
        vector_rows = lanes != NULL
    for oh in range(g.Ho):
        h0 = oh * g.sH - g.pH
        # the kernel rows inside the input: kh_lo <= kh < kh_hi
        kh_lo = _ceil_div(-h0, g.dH) if h0 < 0 else 0
        kh_hi = min(g.kH, _ceil_div(g.H - h0, g.dH))
        if vector_rows and kh_lo < kh_hi:
            yr = y + oh * g.Wo + g.ow_lo
            w0 = g.ow_lo * g.sW - g.pW
            first = True
            for kh in range(kh_lo, kh_hi):
                for kw in range(g.kW):
                    base = (h0 + kh * g.dH) * g.W + w0 + kw * g.dW
                    xr = x + base
                    if lanes != NULL:
                        if g.sW == 1:
                            _max_tap_idx(xr, yr, lanes, n, 1, base, first)
                        elif g.sW == 2:
                            _max_tap_idx(xr, yr, lanes, n, 2, base, first)
                        else:
                            _max_tap_idx(xr, yr, lanes, n, g.sW, base, first)
                    elif g.sW == 1:
                        _max_tap(xr, yr, n, 1, first)
                    elif g.sW == 2:
                        _max_tap(xr, yr, n, 2, first)
                    else:
                        _max_tap(xr, yr, n, g.sW, first)
                    first = False
            if lanes != NULL:
                ir = idx + oh * g.Wo + g.ow_lo
                if real is float:
                    for j in range(n):
                        ir[j] = (<int32_t *> lanes)[j]
                else:
                    memcpy(ir, lanes, n * sizeof(int64_t))
            for ow in range(g.ow_lo):
                _max_one(x, y, idx, g, oh, ow)
            for ow in range(g.ow_hi, g.Wo):
                _max_one(x, y, idx, g, oh, ow)
        else:
            for ow in range(g.Wo):
                _max_one(x, y, idx, g, oh, ow)
    free(lanes)


cdef void _max_planes(const real *x, real *y, int64_t *idx, const Geometry *g,
                      int64_t planes, int nthreads) noexcept nogil:
    cdef int64_t p
    cdef int64_t in_plane = g.H * g.W
    cdef int64_t out_plane = g.Ho * g.Wo
    if nthreads > 1:
        for p in prange(planes, num_threads=nthreads, schedule="static"):
            _max_plane(x + p * in_plane, y + p * out_plane,
                       idx + p * out_plane if idx != NULL else NULL, g)
    else:
        for p in range(planes):
            _max_plane(x + p * in_plane, y + p * out_plane,
                       idx + p * out_plane if idx != NULL else NULL, g)


# ----------------------------------------------------------------------------------------
# average pooling
# ----------------------------------------------------------------------------------------

cdef inline void _sum_tap(const real *xr, real *yr, int64_t n, int64_t s,
                          bint first) noexcept nogil:
    """One tap over an output row: yr[j] += xr[j * s] (the first tap starts from 0)."""
    cdef int64_t j
    if first:
        for j in range(n):
            # 0 + x, not x: torch's sum starts from +0, which turns -0.0 into +0.0
            yr[j] = <real> 0 + xr[j * s]
    else:
        for j in range(n):
            yr[j] = yr[j] + xr[j * s]


cdef void _avg_one(const real *x, real *y, const Geometry *g,
                   int64_t oh, int64_t ow) noexcept nogil:
    """One output element, exactly as torch's CPU kernel computes it (border columns)."""
    cdef int64_t ih0 = oh * g.sH - g.pH
    cdef int64_t iw0 = ow * g.sW - g.pW
    cdef int64_t ih1 = min(ih0 + g.kH, g.H + g.pH)
    cdef int64_t iw1 = min(iw0 + g.kW, g.W + g.pW)
    cdef int64_t pool_size = (ih1 - ih0) * (iw1 - iw0)
    cdef int64_t ih, iw, divisor
    cdef real total = 0
    ih0 = max(ih0, 0)
    iw0 = max(iw0, 0)
    ih1 = min(ih1, g.H)
    iw1 = min(iw1, g.W)
    if ih0 >= ih1 or iw0 >= iw1:
        y[oh * g.Wo + ow] = 0
        return
    if g.divisor != 0:
        divisor = g.divisor
    elif g.count_include_pad:
        divisor = pool_size
    else:
        divisor = (ih1 - ih0) * (iw1 - iw0)
    for ih in range(ih0, ih1):
        for iw in range(iw0, iw1):
            total = total + x[ih * g.W + iw]
    y[oh * g.Wo + ow] = total / <real> divisor


cdef void _avg_plane(const real *x, real *y, const Geometry *g) noexcept nogil:
    """Average-pool one (H, W) plane into y (Ho, Wo)."""
    cdef int64_t oh, ow, kh, kw, h0, h1, w0, n, rows, divisor, j
    cdef real *yr
    cdef real d
    n = g.ow_hi - g.ow_lo
    for oh in range(g.Ho):
        h0 = oh * g.sH - g.pH
        h1 = min(h0 + g.kH, g.H)
        if n > 0 and max(h0, 0) < h1:
            yr = y + oh * g.Wo + g.ow_lo
            w0 = g.ow_lo * g.sW - g.pW
            for kh in range(max(h0, 0), h1):
                for kw in range(g.kW):
                    if g.sW == 1:
                        _sum_tap(x + kh * g.W + w0 + kw, yr, n, 1, kh == max(h0, 0) and kw == 0)
                    elif g.sW == 2:
                        _sum_tap(x + kh * g.W + w0 + kw, yr, n, 2, kh == max(h0, 0) and kw == 0)
                    else:
                        _sum_tap(x + kh * g.W + w0 + kw, yr, n, g.sW,
                                 kh == max(h0, 0) and kw == 0)
            # these columns lie inside the input: only the rows can be cut by the border
            if g.divisor != 0:
                divisor = g.divisor
            elif g.count_include_pad:
                rows = min(h0 + g.kH, g.H + g.pH) - h0
                divisor = rows * g.kW
            else:
                divisor = (h1 - max(h0, 0)) * g.kW
            d = <real> divisor
            for j in range(n):
                yr[j] = yr[j] / d
            for ow in range(g.ow_lo):
                _avg_one(x, y, g, oh, ow)
            for ow in range(g.ow_hi, g.Wo):
                _avg_one(x, y, g, oh, ow)
        else:
            for ow in range(g.Wo):
                _avg_one(x, y, g, oh, ow)


cdef void _avg_planes(const real *x, real *y, const Geometry *g,
                      int64_t planes, int nthreads) noexcept nogil:
    cdef int64_t p
    cdef int64_t in_plane = g.H * g.W
    cdef int64_t out_plane = g.Ho * g.Wo
    if nthreads > 1:
        for p in prange(planes, num_threads=nthreads, schedule="static"):
            _avg_plane(x + p * in_plane, y + p * out_plane, g)
    else:
        for p in range(planes):
            _avg_plane(x + p * in_plane, y + p * out_plane, g)


# ----------------------------------------------------------------------------------------
# adaptive pooling
# ----------------------------------------------------------------------------------------

cdef inline int64_t _start(int64_t a, int64_t b, int64_t c) noexcept nogil:
    """torch's start_index: floor(a * c / b) without overflow."""
    return (a // b) * c + ((a % b) * c) // b


cdef inline int64_t _end(int64_t a, int64_t b, int64_t c) noexcept nogil:
    """torch's end_index: ceil((a + 1) * c / b)."""
    return 1 + ((a + 1) * c - 1) // b


cdef real _plane_mean(const real *x, int64_t n) noexcept nogil:
    """Mean of x[0:n] with eight running sums (independent lanes the compiler vectorises).

    torch computes a 1x1 adaptive average as ``mean()``, whose blocked summation order
    cannot be matched; eight sums are as fast and at least as accurate as one.
    """
    cdef real acc[8]
    cdef real total
    cdef int64_t i, j = 0
    for i in range(8):
        acc[i] = 0
    while j + 8 <= n:
        for i in range(8):
            acc[i] = acc[i] + x[j + i]
        j += 8
    total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
    while j < n:
        total = total + x[j]
        j += 1
    return total / <real> n


cdef void _adaptive_avg_plane(const real *x, real *y, const Geometry *g) noexcept nogil:
    cdef int64_t oh, ow, ih, iw, ih0, ih1, iw0, iw1
    cdef real total
    if g.Ho == 1 and g.Wo == 1:  # global average pooling, as at the end of a ResNet
        y[0] = _plane_mean(x, g.H * g.W)
        return
    for oh in range(g.Ho):
        ih0 = _start(oh, g.Ho, g.H)
        ih1 = _end(oh, g.Ho, g.H)
        for ow in range(g.Wo):
            iw0 = _start(ow, g.Wo, g.W)
            iw1 = _end(ow, g.Wo, g.W)
            total = 0
            for ih in range(ih0, ih1):
                for iw in range(iw0, iw1):
                    total = total + x[ih * g.W + iw]
            # torch divides twice, by the window's height and then its width
            y[oh * g.Wo + ow] = total / <real> (ih1 - ih0) / <real> (iw1 - iw0)


cdef void _adaptive_max_plane(const real *x, real *y, int64_t *idx,
                              const Geometry *g) noexcept nogil:
    cdef int64_t oh, ow, ih, iw, ih0, ih1, iw0, iw1, index, best_index
    cdef real v, best
    for oh in range(g.Ho):
        ih0 = _start(oh, g.Ho, g.H)
        ih1 = _end(oh, g.Ho, g.H)
        for ow in range(g.Wo):
            iw0 = _start(ow, g.Wo, g.W)
            iw1 = _end(ow, g.Wo, g.W)
            best = -INFINITY
            best_index = ih0 * g.W + iw0
            for ih in range(ih0, ih1):
                for iw in range(iw0, iw1):
                    index = ih * g.W + iw
                    v = x[index]
                    if _replaces(v, best):
                        best = v
                        best_index = index
            y[oh * g.Wo + ow] = best
            idx[oh * g.Wo + ow] = best_index


cdef void _adaptive_planes(const real *x, real *y, int64_t *idx, const Geometry *g,
                           int64_t planes, int nthreads) noexcept nogil:
    """Adaptive max (idx not NULL) or average (idx NULL) pooling of every plane."""
    cdef int64_t p
    cdef int64_t in_plane = g.H * g.W
    cdef int64_t out_plane = g.Ho * g.Wo
    if nthreads > 1:
        for p in prange(planes, num_threads=nthreads, schedule="static"):
            if idx != NULL:
                _adaptive_max_plane(x + p * in_plane, y + p * out_plane, idx + p * out_plane, g)
            else:
                _adaptive_avg_plane(x + p * in_plane, y + p * out_plane, g)
    else:
        for p in range(planes):
            if idx != NULL:
                _adaptive_max_plane(x + p * in_plane, y + p * out_plane, idx + p * out_plane, g)
            else:
                _adaptive_avg_plane(x + p * in_plane, y + p * out_plane, g)


# ----------------------------------------------------------------------------------------
# entry points
# ----------------------------------------------------------------------------------------

cdef int _threads_for(int64_t reads, int64_t planes, int num_threads):
    """Threads worth using: 1 for small calls, else at most one per plane."""
    global _parallel_calls
    if num_threads <= 1 or reads < PARALLEL_MIN_READS or planes < 2:
        return 1
    _parallel_calls += 1
    return <int> min(<int64_t> num_threads, planes)


cdef Geometry _geometry(cnp.ndarray x, int64_t Ho, int64_t Wo):
    cdef Geometry g
    g.H = x.shape[2]
    g.W = x.shape[3]
    g.Ho = Ho
    g.Wo = Wo
    g.kH = g.kW = g.sH = g.sW = g.dH = g.dW = 1
    g.pH = g.pW = 0
    g.ow_lo = g.ow_hi = 0
    g.divisor = 0
    g.count_include_pad = True
    return g


cdef cnp.ndarray _check_input(object x):
    """The front end's promise, checked cheaply: a C-contiguous 4-D float32/64 array."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"expected a numpy.ndarray, got {type(x).__name__}")
    cdef cnp.ndarray a = <cnp.ndarray> x
    if a.ndim != 4 or not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError("expected a C-contiguous 4-D array")
    if cnp.PyArray_TYPE(a) != cnp.NPY_FLOAT32 and cnp.PyArray_TYPE(a) != cnp.NPY_FLOAT64:
        raise TypeError(f"expected float32 or float64, got {a.dtype}")
    return a


def max_pool2d(x, int64_t kH, int64_t kW, int64_t sH, int64_t sW, int64_t pH, int64_t pW,
               int64_t dH, int64_t dW, int64_t Ho, int64_t Wo, bint return_indices,
               int num_threads=1):
    """Max-pool a C-contiguous (N, C, H, W) float array; see pyconv.max_pool2d.

    Returns ``(output, indices)``, ``indices`` (int64, flat per plane) being None unless
    ``return_indices``.
    """
    cdef cnp.ndarray a = _check_input(x)
    cdef Geometry g = _geometry(a, Ho, Wo)
    g.kH, g.kW, g.sH, g.sW, g.pH, g.pW, g.dH, g.dW = kH, kW, sH, sW, pH, pW, dH, dW
    _interior_columns(&g)
    cdef int64_t planes = a.shape[0] * a.shape[1]
    cdef cnp.ndarray y = np.empty((a.shape[0], a.shape[1], Ho, Wo), dtype=a.dtype)
    cdef cnp.ndarray idx = None
    cdef int64_t *ip = NULL
    if return_indices:
        idx = np.empty((a.shape[0], a.shape[1], Ho, Wo), dtype=np.int64)
        ip = <int64_t *> cnp.PyArray_DATA(idx)
    if planes * Ho * Wo == 0:
        return y, idx
    cdef int nt = _threads_for(planes * Ho * Wo * kH * kW, planes, num_threads)
    cdef void *xp = cnp.PyArray_DATA(a)
    cdef void *yp = cnp.PyArray_DATA(y)
    if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32:
        with nogil:
            _max_planes(<const float *> xp, <float *> yp, ip, &g, planes, nt)
    else:
        with nogil:
            _max_planes(<const double *> xp, <double *> yp, ip, &g, planes, nt)
    return y, idx


def avg_pool2d(x, int64_t kH, int64_t kW, int64_t sH, int64_t sW, int64_t pH, int64_t pW,
               int64_t Ho, int64_t Wo, bint count_include_pad, int64_t divisor,
               int num_threads=1):
    """Average-pool a C-contiguous (N, C, H, W) float array; see pyconv.avg_pool2d.

    ``divisor`` is ``divisor_override``, or 0 for torch's own divisor.
    """
    cdef cnp.ndarray a = _check_input(x)
    cdef Geometry g = _geometry(a, Ho, Wo)
    g.kH, g.kW, g.sH, g.sW, g.pH, g.pW = kH, kW, sH, sW, pH, pW
    g.divisor = divisor
    g.count_include_pad = count_include_pad
    _interior_columns(&g)
    cdef int64_t planes = a.shape[0] * a.shape[1]
    cdef cnp.ndarray y = np.empty((a.shape[0], a.shape[1], Ho, Wo), dtype=a.dtype)
    if planes * Ho * Wo == 0:
        return y
    cdef int nt = _threads_for(planes * Ho * Wo * kH * kW, planes, num_threads)
    cdef void *xp = cnp.PyArray_DATA(a)
    cdef void *yp = cnp.PyArray_DATA(y)
    if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32:
        with nogil:
            _avg_planes(<const float *> xp, <float *> yp, &g, planes, nt)
    else:
        with nogil:
            _avg_planes(<const double *> xp, <double *> yp, &g, planes, nt)
    return y


def adaptive_pool2d(x, int64_t Ho, int64_t Wo, bint is_max, int num_threads=1):
    """Adaptive average or max pooling of a C-contiguous (N, C, H, W) float array.

    Returns the output, or ``(output, indices)`` for max.  H and W must be positive.
    """
    cdef cnp.ndarray a = _check_input(x)
    cdef Geometry g = _geometry(a, Ho, Wo)
    cdef int64_t planes = a.shape[0] * a.shape[1]
    cdef cnp.ndarray y = np.empty((a.shape[0], a.shape[1], Ho, Wo), dtype=a.dtype)
    cdef cnp.ndarray idx = None
    cdef int64_t *ip = NULL
    cdef int nt
    cdef void *xp
    cdef void *yp
    if is_max:
        idx = np.empty((a.shape[0], a.shape[1], Ho, Wo), dtype=np.int64)
        ip = <int64_t *> cnp.PyArray_DATA(idx)
    if planes * Ho * Wo > 0:
        # each output reads about (H / Ho + 1) x (W / Wo + 1) inputs
        nt = _threads_for(planes * (g.H + Ho) * (g.W + Wo), planes, num_threads)
        xp = cnp.PyArray_DATA(a)
        yp = cnp.PyArray_DATA(y)
        if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32:
            with nogil:
                _adaptive_planes(<const float *> xp, <float *> yp, ip, &g, planes, nt)
        else:
            with nogil:
                _adaptive_planes(<const double *> xp, <double *> yp, ip, &g, planes, nt)
    return (y, idx) if is_max else y


cdef enum:
    RELU_CHUNK = 1 << 16  # elements per work item of a threaded ReLU


cdef void _relu(const real *x, real *y, int64_t n, int nthreads) noexcept nogil:
    """y = x < 0 ? +0 : x (NaN and -0.0 pass through, as in torch); y may be x."""
    cdef int64_t c, i, lo, hi
    cdef int64_t chunks = (n + RELU_CHUNK - 1) // RELU_CHUNK
    if nthreads > 1:
        for c in prange(chunks, num_threads=nthreads, schedule="static"):
            lo = c * RELU_CHUNK
            hi = min(lo + RELU_CHUNK, n)
            for i in range(lo, hi):
                y[i] = 0 if x[i] < 0 else x[i]
    else:
        for i in range(n):
            y[i] = 0 if x[i] < 0 else x[i]


def relu(x, out, int num_threads=1):
    """Write torch's ReLU of ``x`` into ``out``: C-contiguous float arrays of one shape.

    ``out`` may be ``x`` (in place).  Returns ``out``.
    """
    if not isinstance(x, np.ndarray) or not isinstance(out, np.ndarray):
        raise TypeError("expected numpy.ndarray arguments")
    cdef cnp.ndarray a = <cnp.ndarray> x
    cdef cnp.ndarray b = <cnp.ndarray> out
    if not (cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_IS_C_CONTIGUOUS(b)):
        raise ValueError("expected C-contiguous arrays")
    if a.dtype != b.dtype or a.size != b.size:
        raise ValueError("x and out must have the same dtype and size")
    if not b.flags.writeable:
        raise ValueError("out is read-only")
    cdef int typ = cnp.PyArray_TYPE(a)
    if typ != cnp.NPY_FLOAT32 and typ != cnp.NPY_FLOAT64:
        raise TypeError(f"expected float32 or float64, got {a.dtype}")
    cdef int64_t n = a.size
    cdef int nt = _threads_for(n, (n + RELU_CHUNK - 1) // RELU_CHUNK, num_threads)
    cdef void *xp = cnp.PyArray_DATA(a)
    cdef void *yp = cnp.PyArray_DATA(b)
    if typ == cnp.NPY_FLOAT32:
        with nogil:
            _relu(<const float *> xp, <float *> yp, n, nt)
    else:
        with nogil:
            _relu(<const double *> xp, <double *> yp, n, nt)
    return out


def parallel_calls():
    """Number of calls so far that ran on more than one thread."""
    return _parallel_calls


def openmp_enabled():
    """True if this module was compiled with OpenMP (else prange runs serially)."""
    return bool(PYCONV_POOL_OPENMP)
