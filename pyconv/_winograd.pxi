# Winograd F(m x m, 3 x 3) convolution: the driver of the kernels in _winograd.h.
# Included at the end of _core.pyx, so that it shares the module's ISA dispatch, thread
# setting, workspace accounting and Ctrl-C handling.

cdef extern from "_kernels.h" nogil:
    ctypedef struct pyconv_wino_plan:
        int64_t N, C, H, W, Co, G, Cig, Cog, pt, pl, Ho, Wo, m, alpha, th, tw
        int64_t R, nblocks, npanels, ppr, nranges, vl, cols, mr_big, mr_small
        int64_t cig_pad, tb_pad, kc, wp, yw
        int64_t off_s, off_v, off_u, off_wt, off_m, off_y, off_tmp, ws_each
    ctypedef void (*pyconv_wino_item_f)(const pyconv_wino_plan *, const void *,
                                        const void *, const void *, void *, void *,
                                        int64_t)
    ctypedef struct pyconv_wino_kernels:
        pyconv_wino_item_f f2
        pyconv_wino_item_f f4
        int64_t vl, cols, mr_big, mr_small
    ctypedef struct pyconv_wino_isa:
        const char *name
        pyconv_wino_kernels f32
        pyconv_wino_kernels f64
    const pyconv_wino_isa *pyconv_wino_active()
    void pyconv_wino_stats_f32(const float *xp, int64_t H, int64_t W, int64_t pt,
                               int64_t pl, int64_t Ho, int64_t Wo, const int64_t *dh,
                               const int64_t *dw, double *core, double *band)
    void pyconv_wino_stats_f64(const double *xp, int64_t H, int64_t W, int64_t pt,
                               int64_t pl, int64_t Ho, int64_t Wo, const int64_t *dh,
                               const int64_t *dw, double *core, double *band)


# Per-thread blocks (bytes): the transformed input of a block of tiles (read once per
# panel of output channels: L2, or L3 for wide layers), the panel's products and one
# block of transformed weights (both L2).
cdef int64_t WINO_V_BYTES = 4 << 20
cdef int64_t WINO_M_BYTES = 512 << 10
cdef int64_t WINO_U_BYTES = 512 << 10


def _set_wino_blocks(int64_t v, int64_t m, int64_t u):
    """Set the block budgets (bytes); returns the old ones (for tuning measurements)."""
    global WINO_V_BYTES, WINO_M_BYTES, WINO_U_BYTES
    old = (WINO_V_BYTES, WINO_M_BYTES, WINO_U_BYTES)
    WINO_V_BYTES, WINO_M_BYTES, WINO_U_BYTES = v, m, u
    return old


# The border check (see _wino_border): a pixel that a tile mixes with taps that never
# meet it may be WINO_BORDER * (K + 1) times the mean magnitude of its channel (K = 9
# C_in / groups) before the outputs of its tiles are computed by the direct kernels
# instead.  Its rounding error is about a constant times that ratio while the bound grows
# with K + 1, so the largest error found at the limit does not depend on the channel
# count: with the factor 1, up to 7.1 (K + 1) eps max(A) for F(4x4) (one input channel),
# more than the worst found inside images (5.9); with 0.5, about half; with a fixed 32
# instead of (K + 1) / 2, 17.5 with one input channel.  A ResNet layer (K + 1 = 577 and
# more) still takes border pixels hundreds of times their channel's mean.
cdef double WINO_BORDER = 0.5


def _wino_border_factor():
    """The border check's factor, per (K + 1) (for measurements and tests)."""
    return WINO_BORDER


def _set_wino_border(double factor):
    """Set the border check's factor; returns the old one (for measurements and tests)."""
    global WINO_BORDER
    old, WINO_BORDER = WINO_BORDER, factor
    return old


cdef int64_t _wino_roundup(int64_t a, int64_t b) noexcept nogil:
    return ceil_div(a, b) * b


cdef void _wino_positions(int64_t n, int64_t lo, int64_t out_n, int64_t m,
                          int64_t *d) noexcept nogil:
    """The input indices (or -1) of the "dangerous" positions along one axis.

    In padded coordinates q, a pixel meets tap t at output q - t, so it meets all three
    taps iff 2 <= q <= out_n - 1.  Tile k reads q in [k m, k m + m + 2); at its first
    index (q = k m) B^T and G mix the pixel with tap 0 only, at its last with tap 2 only,
    in between with all three.  A pixel outside [2, out_n - 1] met at a middle index is
    therefore mixed with a tap that never meets it: q = 1 (always a middle index of tile
    0), q = out_n (a middle index of the last tile) and q = out_n + 1 (middle unless out_n
    is a multiple of m).  d[0]: the low side's, d[2], d[3]: the high side's (-1: none, or
    not a pixel of the input).
    """
    cdef int64_t q
    d[0] = 1 - lo if 0 <= 1 - lo < n else -1
    d[1] = -1
    q = out_n
    d[2] = q - lo if 0 <= q - lo < n else -1
    q = out_n + 1
    d[3] = q - lo if (out_n % m != 0 and 0 <= q - lo < n) else -1


cdef int _wino_border(const void *x, bint f32, const pyconv_wino_plan *p, int nt,
                      int64_t *dh, int64_t *dw) except -1:
    """Which sides' tiles may break the norm-wise bound: a bit per side (top, bottom,
    left, right).

    The rounding errors of a tile are bounded by sums of |x| |w| over the pixels and taps
    the transforms mix.  Where the tap meets the pixel at some output, that product is
    part of A = conv(|x|, |w|) there, so the error is covered by max(A).  A "dangerous"
    pixel (see _wino_positions) is also mixed with taps that never meet it, and
    sum_c |w[o, c, t]| |x[c, p]| is then bounded by sum_c max_t |w[o, c, t]| band_c
    (band_c: the largest |x| of channel c on the dangerous rows or columns of a side).
    If band_c <= beta * mean_c for every channel, where mean_c is the sum of |x| over the
    pixels every tap meets divided by the N Ho Wo outputs, that sum is at most
    beta * sum_c sum_t |w[o, c, t]| mean_c, which is at most beta times the mean of A
    over the outputs of channel o, so at most beta * max(A); with beta = WINO_BORDER *
    (K + 1) the error stays within a constant times the norm-wise bound, (K + 1) eps
    max(A).  Otherwise the side is unsafe.
    (A NaN makes a side unsafe; an infinity makes A infinite, and the check passes.)
    """
    cdef int64_t planes = p.N * p.C, i, c, s
    cdef double *core = <double *> pyconv_alloc(planes * 5 * sizeof(double))
    if core == NULL:
        raise MemoryError("pyconv: cannot allocate the Winograd border statistics")
    cdef double *band = core + planes
    cdef int64_t plane = p.H * p.W
    cdef bint par = nt > 1 and planes * plane >= (1 << 16)
    with nogil:
        if par:
            for i in prange(planes, num_threads=nt, schedule="static"):
                if f32:
                    pyconv_wino_stats_f32(<const float *> x + i * plane, p.H, p.W, p.pt,
                                          p.pl, p.Ho, p.Wo, dh, dw, core + i,
                                          band + 4 * i)
                else:
                    pyconv_wino_stats_f64(<const double *> x + i * plane, p.H, p.W, p.pt,
                                          p.pl, p.Ho, p.Wo, dh, dw, core + i,
                                          band + 4 * i)
        else:
            for i in range(planes):
                if f32:
                    pyconv_wino_stats_f32(<const float *> x + i * plane, p.H, p.W, p.pt,
                                          p.pl, p.Ho, p.Wo, dh, dw, core + i,
                                          band + 4 * i)
                else:
                    pyconv_wino_stats_f64(<const double *> x + i * plane, p.H, p.W, p.pt,
                                          p.pl, p.Ho, p.Wo, dh, dw, core + i,
                                          band + 4 * i)
    cdef double outs = <double> p.N * p.Ho * p.Wo, mean
    cdef double beta = WINO_BORDER * (9 * p.Cig + 1)
    cdef int unsafe = 0
    for c in range(p.C):
        mean = 0.0
        for i in range(p.N):
            mean += core[i * p.C + c]
        mean /= outs
        for s in range(4):
            for i in range(p.N):
                # (written so that a NaN makes the side unsafe)
                if not band[4 * (i * p.C + c) + s] <= beta * mean:
                    unsafe |= 1 << s
    free(core)
    return unsafe


cdef object _wino_strip(cnp.ndarray x, cnp.ndarray w, object bias, object out,
                        const pyconv_wino_plan *p, int64_t groups, bint rows, int64_t a,
                        int64_t b):
    """Recompute output rows (rows=True) or columns [a, b) with the direct kernels.

    They read padded positions [a, b + 2): the input's [a - pad, b + 2 - pad), clipped,
    with the zeros that fall outside as the sub-call's own padding.
    """
    cdef int64_t n = p.H if rows else p.W
    cdef int64_t lo = p.pt if rows else p.pl
    cdef int64_t i0 = max(a - lo, 0), i1 = min(b + 2 - lo, n)
    pads = [max(lo - a, 0), max(b + 2 - lo - n, 0)]
    if rows:
        pads += [p.pl, p.Wo + 2 - p.pl - p.W]
        out[:, :, a:b, :] = conv_forward(x[:, :, i0:i1, :], w, bias, (1, 1), pads, (1, 1),
                                         groups)
    else:
        pads = [p.pt, p.Ho + 2 - p.pt - p.H] + pads
        out[:, :, :, a:b] = conv_forward(x[:, :, :, i0:i1], w, bias, (1, 1), pads, (1, 1),
                                         groups)


def winograd_forward(x, w, bias, padding, int64_t groups, int64_t tile=4,
                     bint border_check=True):
    """Winograd F(tile x tile, 3 x 3) cross-correlation, stride 1, dilation 1.

    The caller (the ``winograd`` backend) has validated the call; this function only
    guards memory.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W), float32 or float64
    w : ndarray, shape (C_out, C_in / groups, 3, 3), same dtype
    bias : ndarray, shape (C_out,), same dtype, or None
    padding : sequence of 4 int
        Zero padding (top, bottom, left, right), each >= 0.
    groups : int
    tile : {2, 4}
        Output tile side m: F(2x2, 3x3) or F(4x4, 3x3).
    border_check : bool
        Check the input near the border (see the backend's documentation) and compute the
        tiles there with the direct kernels when the transforms' error could exceed the
        norm-wise bound; False only for tests that show why the check exists.

    Returns
    -------
    out : ndarray, shape (N, C_out, H + top + bottom - 2, W + left + right - 2)
    """
    global _workspace_bytes
    cdef cnp.ndarray xa = x, wa = w
    if tile != 2 and tile != 4:
        raise ValueError(f"tile must be 2 or 4, not {tile!r}")
    if xa.ndim != 4 or wa.ndim != 4 or wa.shape[2] != 3 or wa.shape[3] != 3:
        raise ValueError("pyconv._core.winograd_forward: a 4-d input and a 3x3 weight")
    if xa.dtype != wa.dtype or xa.dtype not in (np.float32, np.float64):
        raise TypeError("pyconv._core.winograd_forward: float32 or float64 arrays of one dtype")
    _workspace_bytes = 0
    if not (cnp.PyArray_IS_C_CONTIGUOUS(xa) and cnp.PyArray_ISALIGNED(xa)):
        xa = xa.copy(order="C")
        _workspace_bytes += xa.nbytes
    if not (cnp.PyArray_IS_C_CONTIGUOUS(wa) and cnp.PyArray_ISALIGNED(wa)):
        wa = wa.copy(order="C")
        _workspace_bytes += wa.nbytes
    cdef bint f32 = xa.dtype == np.float32
    cdef int64_t esize = xa.itemsize
    cdef pyconv_wino_plan p
    p.N, p.C, p.H, p.W = xa.shape[0], xa.shape[1], xa.shape[2], xa.shape[3]
    p.Co, p.G = wa.shape[0], groups
    p.Cig, p.Cog = wa.shape[1], wa.shape[0] // groups
    cdef int64_t pt = padding[0], pb = padding[1], pl = padding[2], pr = padding[3]
    p.pt, p.pl = pt, pl
    p.Ho, p.Wo = p.H + pt + pb - 2, p.W + pl + pr - 2
    if p.Cig * groups != p.C or p.Cog * groups != p.Co or p.Ho < 1 or p.Wo < 1:
        raise ValueError("pyconv._core.winograd_forward: inconsistent shapes")
    out = np.empty((p.N, p.Co, p.Ho, p.Wo), dtype=xa.dtype)
    if out.size == 0:
        return out
    if p.Cig == 0:
        out[...] = 0 if bias is None else np.reshape(bias, (-1, 1, 1))
        return out
    cdef const void *bptr = NULL
    if bias is not None:
        bias = np.ascontiguousarray(bias)
        bptr = cnp.PyArray_DATA(bias)

    cdef const pyconv_wino_isa *wi = pyconv_wino_active()
    cdef const pyconv_wino_kernels *k = &wi.f32 if f32 else &wi.f64
    cdef pyconv_wino_item_f item_fn = k.f2 if tile == 2 else k.f4
    p.m, p.alpha = tile, tile + 2
    p.th, p.tw = ceil_div(p.Ho, tile), ceil_div(p.Wo, tile)
    p.vl, p.cols, p.mr_big, p.mr_small = k.vl, k.cols, k.mr_big, k.mr_small
    cdef int64_t a2 = p.alpha * p.alpha
    p.cig_pad = _wino_roundup(p.Cig, p.vl)
    # input channels per weight block: whole vectors (the taps are transposed VL channels
    # at a time), blocks of about equal size
    p.kc = max(p.vl, WINO_U_BYTES // (a2 * p.cols * esize) // p.vl * p.vl)
    p.kc = min(_wino_roundup(ceil_div(p.Cig, ceil_div(p.Cig, p.kc)), p.vl), p.Cig)
    cdef int64_t tb_max = min(WINO_V_BYTES // (a2 * p.cig_pad * esize),
                              WINO_M_BYTES // (a2 * p.cols * esize))
    # blocks of whole tile rows, as few as the budgets allow, of equal size
    p.R = min(max(tb_max // p.tw, 1), p.N * p.th)
    p.nblocks = ceil_div(p.N * p.th, p.R)
    p.R = ceil_div(p.N * p.th, p.nblocks)
    p.npanels = ceil_div(p.Cog, p.cols)
    cdef double flops = 2.0 * p.N * p.Co * p.Ho * p.Wo * p.Cig * 9
    cdef int nt = _num_threads
    cdef bint par = nt > 1 and flops >= PARALLEL_MIN_FLOPS
    if not par:
        nt = 1
    # Fewer (group, block) items than threads: split the work in as many equal parts as
    # threads.  Splitting the tiles makes each part transform the weights again (work per
    # input x output channel), splitting the output channels makes each transform the
    # block's input again (work per input channel x tile): split whichever is larger.
    # (Measured on 2 threads: three ranges per thread, each transforming the input
    # again, scaled 1.2x from 1 thread on ResNet l1; one per thread, 1.6-1.9x.)
    p.nranges = 1
    if par and p.G * p.nblocks < nt:
        if p.R * p.tw > p.Cog and p.N * p.th >= nt:
            p.nblocks = ceil_div(nt, p.G)
            p.R = ceil_div(p.N * p.th, p.nblocks)
            p.nblocks = ceil_div(p.N * p.th, p.R)
        else:
            p.nranges = min(p.npanels, ceil_div(nt, p.G * p.nblocks))
    p.ppr = ceil_div(p.npanels, p.nranges)
    p.nranges = ceil_div(p.npanels, p.ppr)
    p.tb_pad = p.R * p.tw + p.mr_small  # rows the micro-kernels may take past the tiles
    p.wp = p.tw * tile + 2
    p.yw = _wino_roundup(p.tw * tile, p.vl)
    cdef int64_t al = 64 // esize, off = 0
    p.off_s = off
    off += _wino_roundup(p.alpha * p.wp * p.cig_pad, al)
    p.off_v = off
    off += _wino_roundup(a2 * p.tb_pad * p.cig_pad, al)
    p.off_u = off
    off += _wino_roundup(a2 * p.kc * p.cols, al)
    p.off_wt = off
    off += _wino_roundup(9 * p.vl * p.cols, al)
    p.off_m = off
    off += _wino_roundup(a2 * p.tb_pad * p.cols, al)
    p.off_y = off
    off += _wino_roundup(tile * p.yw * p.cols, al)
    p.off_tmp = off  # the bias of a panel, then this thread's non-finite flag
    off += _wino_roundup(p.cols + 1, al)
    p.ws_each = off

    cdef int64_t dh[4]
    cdef int64_t dw[4]
    _wino_positions(p.H, pt, p.Ho, tile, dh)
    _wino_positions(p.W, pl, p.Wo, tile, dw)
    cdef int unsafe = 0
    if border_check:
        unsafe = _wino_border(cnp.PyArray_DATA(xa), f32, &p, nt, dh, dw)

    cdef int64_t nitems = p.G * p.nblocks * p.nranges, item
    cdef void *ws = pyconv_alloc(nt * p.ws_each * esize)
    if ws == NULL:
        raise MemoryError(
            f"pyconv: cannot allocate the {nt * p.ws_each * esize} bytes of Winograd "
            "workspace this convolution needs"
        )
    _workspace_bytes += nt * p.ws_each * esize
    cdef const void *xp = cnp.PyArray_DATA(xa)
    cdef const void *wp = cnp.PyArray_DATA(wa)
    cdef void *op = cnp.PyArray_DATA(out)
    cdef Ctl ctl
    _start(&ctl, flops, par)
    cdef int64_t item_flops = <int64_t> (flops / nitems)
    cdef int t
    for t in range(nt):
        if f32:
            (<float *> ws)[t * p.ws_each + p.off_tmp + p.cols] = 0
        else:
            (<double *> ws)[t * p.ws_each + p.off_tmp + p.cols] = 0
    with nogil:
        if par:
            for item in prange(nitems, num_threads=nt, schedule="dynamic"):
                if not pyconv_flag_get(&ctl.abort):
                    item_fn(&p, xp, wp, bptr, op,
                            <char *> ws + pyconv_thread_num() * p.ws_each * esize, item)
                    _account(&ctl, item_flops)
        else:
            for item in range(nitems):
                if not pyconv_flag_get(&ctl.abort):
                    item_fn(&p, xp, wp, bptr, op, ws, item)
                    _account(&ctl, item_flops)
    cdef double nonfinite = 0
    for t in range(nt):
        if f32:
            nonfinite += (<float *> ws)[t * p.ws_each + p.off_tmp + p.cols]
        else:
            nonfinite += (<double *> ws)[t * p.ws_each + p.off_tmp + p.cols]
    free(ws)
    if ctl.abort:
        _reraise(&ctl)
    if nonfinite != 0:
        # An infinity or NaN in the output: from one in the input, which the transforms
        # spread over whole tiles, or from their intermediate values overflowing (they
        # exceed the inputs by up to 100x).  The direct kernels put them where IEEE
        # arithmetic on the padded input does.
        return conv_forward(xa, wa, bias, (1, 1), (pt, pb, pl, pr), (1, 1), groups)

    # Sides whose border pixels are too large for the transforms: those tiles' outputs
    # come from the direct kernels instead (elementwise-accurate, so within the bound).
    cdef int64_t last_h = (p.th - 1) * tile, last_w = (p.tw - 1) * tile
    if unsafe & 1 and dh[0] >= 0:
        _wino_strip(xa, wa, bias, out, &p, groups, True, 0, min(tile, p.Ho))
    if unsafe & 2 and (dh[2] >= 0 or dh[3] >= 0):
        _wino_strip(xa, wa, bias, out, &p, groups, True, last_h, p.Ho)
    if unsafe & 4 and dw[0] >= 0:
        _wino_strip(xa, wa, bias, out, &p, groups, False, 0, min(tile, p.Wo))
    if unsafe & 8 and (dw[2] >= 0 or dw[3] >= 0):
        _wino_strip(xa, wa, bias, out, &p, groups, False, last_w, p.Wo)
    return out


def winograd_border_sides(x, padding, int64_t tile=4, int64_t groups=1):
    """The sides (top, bottom, left, right) whose border tiles the Winograd path would
    compute with the direct kernels for this input (tests and docs)."""
    cdef cnp.ndarray xa = np.ascontiguousarray(x)
    cdef pyconv_wino_plan p
    p.N, p.C, p.H, p.W = xa.shape[0], xa.shape[1], xa.shape[2], xa.shape[3]
    p.Cig = p.C // groups
    p.pt, p.pl = padding[0], padding[2]
    p.Ho = p.H + padding[0] + padding[1] - 2
    p.Wo = p.W + padding[2] + padding[3] - 2
    cdef int64_t dh[4]
    cdef int64_t dw[4]
    _wino_positions(p.H, p.pt, p.Ho, tile, dh)
    _wino_positions(p.W, p.pl, p.Wo, tile, dw)
    cdef int unsafe = _wino_border(cnp.PyArray_DATA(xa), xa.dtype == np.float32, &p, 1,
                                   dh, dw)
    names = ("top", "bottom", "left", "right")
    return tuple(names[s] for s in range(4) if unsafe & (1 << s))
