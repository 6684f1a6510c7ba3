# The channel-lanes path of _forward: 3-D convolutions on a channels-last copy of each
# image, with output channels in the vector lanes (the tile: _lanes.h).
#
# Why: the plane tiles read one input plane row per tap, and a 3x3x3 layer's 27 taps x
# 64 channels are more rows than the L1 holds; here a tile's inputs are a few
# positions x all channels of each tap's row (in L1) and its weights stream from L2
# in order.  On the video bench layer (64 channels, 8x56x56, Zen 3 AVX2) the tile ran
# at 94-99 % of the core's peak in a C prototype, the plane tile at 65-75 %.
#
# Work items are (group, output slice, band of output rows), each computing every
# channel block of its group (or a share of them, when the bands are too few for the
# threads); one image at a time (its copy made by all threads first), so the copy is
# one image's size.

cdef enum:
    # Channels-last copies larger than this are not made (a volume too big for it goes
    # to the plane tiles, which pack bands of rows).
    LANES_MAX_BYTES = 256 << 20
    # Wide positions per work item, about: a few rows of a slice, whose input rows
    # (kD * (rows + kH - 1) of them, all channels) stay in L2 with the group's weights.
    # 128 (2 rows of the video layer) measured as fast as 256 and faster than 64.
    LANES_ITEM_POSITIONS = 128
    # Bytes of one channel block's weights at most: every tile streams them from L2.
    # (Tried on 2-D layers: 512 channels x 3x3 x 16 lanes, 295 KB, ran 1.7x slower
    # than the plane tiles; 64 channels x 3x3x3, 110 KB, is the video layer.)
    LANES_MAX_WBLOCK = 160 * 1024


# How many calls took this path (read by the tests).
cdef Py_ssize_t _lanes_calls = 0


cdef struct Lanes:
    pyconv_lanes_f32 fn_f32     # the ISA's tile
    pyconv_lanes_f64 fn_f64
    int64_t oc, np              # its output channels (lanes) and positions
    int64_t nb                  # channel blocks per group
    int64_t Dp, Hp, Wp          # the padded volume of the copy
    int64_t img                 # elements of one image's copy, with its zeroed margin
    int64_t xstep               # elements between two output positions' inputs (sw * C)
    int64_t taps, cig           # runs of inputs a tile reads per position, and their length
    int64_t wblock              # elements of one packed weight block: taps * cig * oc
    bint wide                   # positions run across rows (stride 1 in rows, columns)
    int64_t Wq                  # wide row length: Wp if wide, else Wo
    int64_t rows, nrc           # output rows per work item, row bands per output slice
    int64_t bper, nbs           # channel blocks per work item, block sets per band


cdef bint _lanes_suit(const Geometry *g, int sp, const int64_t *pad, int64_t esize,
                      int64_t oc) noexcept nogil:
    """Does a call go to the channel-lanes path: 3-D, groups with at least a tile's
    output channels (fewer would leave lanes idle) and a few input channels, a copy of
    one image that is not too large, and a channel block's weights that stay in L2."""
    # (in double: the products of a huge call's sizes may not fit in 64 bits)
    cdef double nbytes = (<double> (g.D + pad[0] + pad[1]) * (g.H + pad[2] + pad[3])
                          * (g.W + pad[4] + pad[5]) * g.C * esize)
    cdef double wbytes = <double> g.kD * g.kH * g.kW * g.Cig * oc * esize
    return (sp == 3 and g.Cog >= oc and g.Cig >= 4 and nbytes <= LANES_MAX_BYTES
            and wbytes <= LANES_MAX_WBLOCK)


cdef inline void _lanes_tile(const real *xb, const int64_t *off, const Geometry *g,
                             const Lanes *L, const real *wb, const real *bb, real *o,
                             int64_t noc, int64_t p0, int64_t cnt) noexcept nogil:
    if real is float:
        L.fn_f32(xb, off, L.taps, L.cig, L.xstep, wb, bb, o, g.out_plane, noc, p0, cnt,
                 L.Wq, g.Wo)
    else:
        L.fn_f64(xb, off, L.taps, L.cig, L.xstep, wb, bb, o, g.out_plane, noc, p0, cnt,
                 L.Wq, g.Wo)


cdef void _lanes_item(const real *xc, const real *wp, const real *bp, real *out_n,
                      const int64_t *off, const Geometry *g, const Lanes *L, int64_t item,
                      Ctl *ctl) noexcept nogil:
    """Work item (group, output slice, row band, set of channel blocks) of one image: xc
    is its copy, out_n its output."""
    cdef int64_t bs = item % L.nbs
    cdef int64_t r = item // L.nbs
    cdef int64_t rc = r % L.nrc
    r = r // L.nrc
    cdef int64_t od = r % g.Do
    cdef int64_t gi = r // g.Do
    cdef int64_t oh_lo = rc * L.rows
    cdef int64_t oh_hi = min(oh_lo + L.rows, g.Ho)
    cdef const real *xs = xc + od * g.sd * L.Hp * L.Wp * g.C + gi * g.Cig
    cdef real *os = out_n + gi * g.Cog * g.out_plane + od * g.Ho * g.Wo
    cdef int64_t ob, p, p_hi, oh, ow
    cdef const real *xr
    cdef const real *wb
    cdef const real *bb
    cdef real *o
    cdef int64_t noc
    # channel block by channel block: the band's input rows stay in L2 across them
    # (each tile's few KiB in L1), one block's weights stream from L2 per tile; every
    # block per tile instead measured 5-15 % slower
    for ob in range(bs * L.bper, min((bs + 1) * L.bper, L.nb)):
        if pyconv_flag_get(&ctl.abort):
            return
        noc = min(L.oc, g.Cog - ob * L.oc)
        wb = wp + (gi * L.nb + ob) * L.wblock
        bb = bp + (gi * L.nb + ob) * L.oc if bp != NULL else NULL
        o = os + ob * L.oc * g.out_plane
        if L.wide:  # one run of positions over the band's rows (their gaps dropped)
            p = oh_lo * L.Wq
            p_hi = (oh_hi - 1) * L.Wq + g.Wo
            while p < p_hi:
                _lanes_tile(xs + p * L.xstep, off, g, L, wb, bb, o, noc, p,
                            min(L.np, p_hi - p))
                p = p + L.np
        else:  # row by row: a strided row's positions are not one run
            for oh in range(oh_lo, oh_hi):
                xr = xs + oh * g.sh * L.Wp * g.C
                ow = 0
                while ow < g.Wo:
                    _lanes_tile(xr + ow * L.xstep, off, g, L, wb, bb, o, noc, oh * g.Wo + ow,
                                min(L.np, g.Wo - ow))
                    ow = ow + L.np
    _account(ctl, 2 * L.bper * L.oc * (oh_hi - oh_lo) * g.Wo * L.taps * L.cig)


cdef void _lanes_pack_weights(const real *w, const real *bias, real *wp, real *bp,
                              const Geometry *g, const Lanes *L) noexcept nogil:
    """w (Co, Cig, kD, kH, kW) -> wp[group][block][tap][ic][oc lanes], zeros past the
    group's channels; the bias the same way (bp: [group][block][oc lanes])."""
    cdef int64_t gi, ob, t, c, k, oc, taps = g.kD * g.kH * g.kW
    cdef real *dst
    for gi in range(g.G):
        for ob in range(L.nb):
            dst = wp + (gi * L.nb + ob) * L.wblock
            for t in range(taps):
                for c in range(g.Cig):
                    for k in range(L.oc):
                        oc = ob * L.oc + k
                        dst[(t * g.Cig + c) * L.oc + k] = (
                            w[((gi * g.Cog + oc) * g.Cig + c) * taps + t]
                            if oc < g.Cog else 0)
            if bias != NULL:
                for k in range(L.oc):
                    oc = ob * L.oc + k
                    bp[(gi * L.nb + ob) * L.oc + k] = (bias[gi * g.Cog + oc]
                                                       if oc < g.Cog else 0)


cdef inline void _lanes_pack_row(const real *x, real *xc, const Geometry *g,
                                 const Lanes *L, const int64_t *pad, int64_t n,
                                 int64_t row) noexcept nogil:
    """Row ``row`` (= slice * Hp + y) of image n's channels-last copy."""
    if real is float:
        pyconv_pack_lanes_f32(x + n * g.xs0, xc + row * L.Wp * g.C, g.C, g.xs1, g.xsd, g.xs2,
                              g.xs3, g.D, g.H, g.W, pad[0], pad[2], pad[4], L.Wp,
                              row // L.Hp, row % L.Hp)
    else:
        pyconv_pack_lanes_f64(x + n * g.xs0, xc + row * L.Wp * g.C, g.C, g.xs1, g.xsd, g.xs2,
                              g.xs3, g.D, g.H, g.W, pad[0], pad[2], pad[4], L.Wp,
                              row // L.Hp, row % L.Hp)


cdef object _lanes_conv(const real *x, const real *w, const real *bias, real *out,
                        Geometry g, const int64_t *pad, int nt):
    """Run a 3-D call on the channel-lanes path (see the top of this file)."""
    global _workspace_bytes, _lanes_calls
    cdef Lanes L
    cdef const pyconv_isa *isa = pyconv_active_isa
    cdef int64_t esize = sizeof(real), kd, kh, kw, t, n, i, nitems, wlen, blen
    if real is float:
        L.fn_f32, L.oc, L.np = isa.f32.lanes.fn, isa.f32.lanes.oc, isa.f32.lanes.np
    else:
        L.fn_f64, L.oc, L.np = isa.f64.lanes.fn, isa.f64.lanes.oc, isa.f64.lanes.np
    L.nb = ceil_div(g.Cog, L.oc)
    L.Dp, L.Hp, L.Wp = g.D + pad[0] + pad[1], g.H + pad[2] + pad[3], g.W + pad[4] + pad[5]
    # A tap reads its group's channels at one position.  With one group and columns
    # not dilated, a kernel row's kW taps read one run (kW positions x all channels,
    # next to each other in the copy, as are their weights): kD * kH runs of kW * C,
    # 3 times fewer loop starts on a 3x3x3 kernel.
    cdef bint rows = g.G == 1 and g.dw == 1
    L.taps = g.kD * g.kH * (1 if rows else g.kW)
    L.cig = g.Cig * (g.kW if rows else 1)
    L.wblock = L.taps * L.cig * L.oc
    L.xstep = g.sw * g.C
    L.wide = g.sh == 1 and g.sw == 1
    L.Wq = L.Wp if L.wide else g.Wo
    L.rows = min(max(LANES_ITEM_POSITIONS // L.Wq, 1), g.Ho)
    L.nrc = ceil_div(g.Ho, L.rows)
    # a tile reads up to np - 1 positions past a slice's last one: a zeroed margin
    L.img = ceil_div(L.Dp * L.Hp * L.Wp * g.C + L.np * L.xstep + g.C, 16) * 16
    wlen = g.G * L.nb * L.wblock
    blen = g.G * L.nb * L.oc
    cdef double flops = 2.0 * g.N * g.Co * g.out_plane * g.ntaps
    cdef bint par = nt > 1 and flops >= PARALLEL_MIN_FLOPS
    if not par:
        nt = 1

    cdef int64_t off[STACK_OFFSETS]
    cdef int64_t *offp = off
    if L.taps > STACK_OFFSETS:
        offp = <int64_t *> pyconv_alloc(L.taps * sizeof(int64_t))
    cdef real *xc = <real *> pyconv_alloc((L.img + wlen + blen) * esize)
    if xc == NULL or offp == NULL:
        free(xc)
        if offp != off:
            free(offp)
        raise MemoryError(
            f"pyconv: cannot allocate the {(L.img + wlen + blen) * esize} bytes "
            f"({<double> ((L.img + wlen + blen) * esize) / 2**30:.3g} GiB) of workspace this "
            f"convolution needs (a channels-last copy of one image and the packed weights)")
    _workspace_bytes += (L.img + wlen + blen) * esize + L.taps * sizeof(int64_t)
    _lanes_calls += 1
    # (img is a multiple of 16 elements, a block or a bias block a multiple of oc lanes,
    # so every vector the tile loads from them is aligned)
    cdef real *wp = xc + L.img
    cdef real *bp = wp + wlen if bias != NULL else NULL
    t = 0
    for kd in range(g.kD):
        for kh in range(g.kH):
            for kw in range(1 if rows else g.kW):
                offp[t] = ((kd * g.dd * L.Hp + kh * g.dh) * L.Wp + kw * g.dw) * g.C
                t += 1
    # few bands (small volumes) for the threads: split the channel blocks too
    L.nbs = 1
    if g.G * g.Do * L.nrc < 4 * nt:
        L.nbs = min(L.nb, ceil_div(4 * nt, g.G * g.Do * L.nrc))
    L.bper = ceil_div(L.nb, L.nbs)
    L.nbs = ceil_div(L.nb, L.bper)
    nitems = g.G * g.Do * L.nrc * L.nbs
    cdef int64_t nrows = L.Dp * L.Hp, m0 = L.Dp * L.Hp * L.Wp * g.C
    cdef Ctl ctl
    _start(&ctl, flops, par)
    with nogil:
        _lanes_pack_weights(w, bias, wp, bp, &g, &L)
        memset(xc + m0, 0, (L.img - m0) * esize)
        for n in range(g.N):
            if par:
                for i in prange(nrows, num_threads=nt, schedule="static"):
                    _lanes_pack_row(x, xc, &g, &L, pad, n, i)
                for i in prange(nitems, num_threads=nt, schedule="dynamic"):
                    _lanes_item(xc, wp, bp, out + n * g.Co * g.out_plane, offp, &g, &L, i,
                                &ctl)
            else:
                for i in range(nrows):
                    _lanes_pack_row(x, xc, &g, &L, pad, n, i)
                for i in range(nitems):
                    _lanes_item(xc, wp, bp, out + n * g.Co * g.out_plane, offp, &g, &L, i,
                                &ctl)
            if pyconv_flag_get(&ctl.abort):
                break
    free(xc)
    if offp != off:
        free(offp)
    if ctl.abort:
        _reraise(&ctl)
    return None
