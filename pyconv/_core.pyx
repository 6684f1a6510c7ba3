"""Compiled direct-convolution kernels for pyconv (float32 and float64).

The algorithm, for one (image n, group g) "problem":

1. The problem's input planes are read in place when that is possible (stride 1, no
   padding, C-contiguous input) or copied, zero-padded and, for stride s > 1, split
   into s_h * s_w "phase" planes, so that plane (a, b) holds padded[i * s_h + a,
   j * s_w + b].  Every kernel tap (ic, kh, kw) then reads a contiguous run of one
   plane, shifted by a constant offset ``off[t]``; stride and dilation are entirely
   folded into those offsets.
2. Outputs are computed on a "wide" grid p = oh * Wq + ow (Wq = plane row length), so a
   run of consecutive p is a run of consecutive addresses for every tap.  A
   register-blocked micro-kernel (_tile_impl.h) keeps an 8-channel x (2 or 3 vectors)
   tile of accumulators in registers over all taps, reading the weights in their own
   layout; columns ow >= W_out are dropped on store.
3. Positions are processed in chunks sized for the L2 cache, all output-channel blocks
   of a chunk in a row, so the chunk's input is read from cache once per block.  Each
   output element is produced by exactly one tile with a fixed summation order, so
   results are bitwise identical for any thread count.

Three ways to feed the tiles ("modes"): DIRECT reads the caller's array; LOCAL packs one
problem, or one band of output rows of a large problem, at a time into a per-thread
workspace (batches, groups, large images); GLOBAL packs a small padded input once, in
parallel, and splits positions and channel blocks into work items (one problem, such as
a layer at batch 1).  The GIL is released throughout; ``prange`` runs
the work on OpenMP threads, but only when the call is big enough to pay for a parallel
region.  A long call polls for signals from the main thread, so Ctrl-C stops it.
"""

cimport numpy as cnp
from cpython.ref cimport PyObject
from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.stdlib cimport free
from libc.string cimport memcpy, memset

from ._kernels cimport (
    PYCONV_BUILD_CFLAGS,
    PYCONV_HAVE_OPENMP,
    PYCONV_NUM_ISAS,
    pyconv_active_isa,
    pyconv_alloc,
    ceil_div,
    pyconv_flag_get,
    pyconv_flag_set,
    pyconv_isa,
    pyconv_isa_select,
    pyconv_isas,
    pyconv_kernel_f32,
    pyconv_kernel_f64,
    pyconv_lanes_f32,
    pyconv_lanes_f64,
    pyconv_now_ns,
    pyconv_omp_max_threads,
    pyconv_pack_f32,
    pyconv_pack_f64,
    pyconv_pack_lanes_f32,
    pyconv_pack_lanes_f64,
    pyconv_probe,
    pyconv_thread_num,
    pyconv_tile_f32,
    pyconv_tile_f64,
)

import threading

import numpy as np

cnp.import_array()

ctypedef fused real:
    float
    double

cdef extern from "Python.h":
    # Declared without an exception clause: the kernels stash the error themselves.
    int PyErr_CheckSignals()
    void PyErr_Fetch(PyObject **, PyObject **, PyObject **)
    void PyErr_Restore(PyObject *, PyObject *, PyObject *)
    unsigned long PyThread_get_thread_ident()


cdef enum:
    # Below this many floating-point operations a call runs on the calling thread:
    # opening a 2-thread OpenMP region costs about 1.8 us here, more than a whole
    # article-size conv.
    PARALLEL_MIN_FLOPS = 1 << 20
    # Input bytes of one position chunk (all in-channels of a problem): half the L2.
    CHUNK_BYTES = 192 * 1024
    # A problem whose padded copy is larger is packed and computed in bands of rows.
    BAND_BYTES = 1024 * 1024
    # Stack buffers for small calls: tap offsets, and workspace (8 KiB).
    STACK_OFFSETS = 256
    STACK_WS_DOUBLES = 1024
    # Weights at least this large are gathered (gather_taps) on every thread.
    GATHER_PARALLEL_BYTES = 256 * 1024
    # Work between two looks at the clock, and time between two looks for Ctrl-C.
    POLL_FLOPS = 8 << 20
    MODE_DIRECT = 0
    MODE_LOCAL = 1
    MODE_GLOBAL = 2

cdef int64_t POLL_NS = 20 * 1000 * 1000

cdef int _num_threads = 1
# How many calls took the parallel path (read by the tests: tiny calls must not).
cdef Py_ssize_t _parallel_calls = 0
# Bytes of scratch memory (workspace, offsets, copies) the last call allocated.
cdef int64_t _workspace_bytes = 0
cdef unsigned long _main_thread = threading.main_thread().ident


cdef struct Geometry:
    # Every call is 3-D: a 2-D one has D = kD = Do = 1, a 1-D one also H = kH = Ho = 1.
    int64_t N, C, D, H, W       # input
    int64_t Co, kD, kH, kW      # weight (Co, Cig, kD, kH, kW)
    int64_t G, Cig, Cog         # groups, in / out channels per group
    int64_t Do, Ho, Wo          # output volume
    int64_t sd, sh, sw          # stride
    int64_t dd, dh, dw          # dilation
    int64_t pf, pt, pl          # zero padding before the first slice / row / column
    int64_t xs0, xs1, xsd, xs2, xs3  # input strides, in elements
    int64_t out_plane           # output elements per channel: Do * Ho * Wo
    int64_t Sh, Sw, S           # stride phases read by some tap (rows, columns, all)
    int64_t Hq, Wq              # phase-plane rows and row length
    int64_t band, nbands        # output rows per band of a problem, bands per problem
    int64_t Hb                  # phase rows a band reads: band + kernel extent (or Hq)
    int64_t plane               # workspace elements per packed slice: S * Hb * Wq, rounded
    int64_t P                   # wide positions per band: band * Wq
    int64_t ntaps               # Cig * kD * kH * kW
    int64_t off_max             # largest tap offset
    bint aligned_taps           # every tap offset a multiple of 64 bytes (1x1 convs)
    int64_t px_max              # widest tile, in positions
    int64_t ocb                 # output channels of the block tiles (per ISA and dtype)
    int64_t nfull, nblocks      # full ocb-channel blocks, all blocks, per group
    int64_t nchunks, chunk      # position chunks per problem, and their length
    int64_t head                # positions of a first, short chunk (aligned 1x1, DIRECT)
    int depthwise               # depthwise 3x3 (LOCAL): 1 stride 1 (dw3), 2 other (dwt)
    int64_t px_block, px_single  # wide positions per micro-kernel tile
    pyconv_tile_f32 block_f32   # the ocb-channel tile chosen for this call
    pyconv_tile_f64 block_f64
    pyconv_tile_f32 single_f32  # and the one-channel tile
    pyconv_tile_f64 single_f64
    int64_t x_len               # elements of a C-contiguous input (DIRECT mode)
    int64_t tail_len            # per-run length of a tail scratch (DIRECT mode)
    int mode


cdef struct Ctl:
    # Cooperative cancellation: the calling thread polls for signals, all threads stop.
    int abort
    int poll                    # 1 if this call may poll (main thread, long call)
    int64_t next_poll_ns
    int64_t flops_since
    PyObject *etype
    PyObject *evalue
    PyObject *etb


cdef inline int64_t _lcm(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t x = a, y = b, r
    while y:
        r = x % y
        x = y
        y = r
    return a // x * b


cdef void _poll_signals(Ctl *ctl) noexcept nogil:
    """Run Python's signal handlers (with the GIL); on an exception, stop every thread."""
    cdef int64_t now = pyconv_now_ns()
    if now < ctl.next_poll_ns:
        return
    ctl.next_poll_ns = now + POLL_NS
    with gil:
        if PyErr_CheckSignals() != 0:
            PyErr_Fetch(&ctl.etype, &ctl.evalue, &ctl.etb)
            pyconv_flag_set(&ctl.abort)


cdef inline void _account(Ctl *ctl, int64_t flops) noexcept nogil:
    """Count work done by the calling thread and poll for signals every so often."""
    if ctl.poll and pyconv_thread_num() == 0:
        ctl.flops_since += flops
        if ctl.flops_since >= POLL_FLOPS:
            ctl.flops_since = 0
            _poll_signals(ctl)


cdef void _start(Ctl *ctl, double flops, bint par):
    """Ready ``ctl`` for a call of ``flops``: a long call on the main thread polls for
    signals; count the calls that open a parallel region."""
    global _parallel_calls
    ctl.abort = 0
    ctl.etype = ctl.evalue = ctl.etb = NULL
    ctl.flops_since = 0
    ctl.poll = flops >= 2 * POLL_FLOPS and PyThread_get_thread_ident() == _main_thread
    if ctl.poll:
        ctl.next_poll_ns = pyconv_now_ns() + POLL_NS
    if par:
        _parallel_calls += 1


cdef int _reraise(Ctl *ctl) except -1:
    PyErr_Restore(ctl.etype, ctl.evalue, ctl.etb)
    return -1


cdef inline void _pack_rows(const real *xp, real *ws, const Geometry *g, int64_t i0,
                            int64_t a_lo, int64_t a_hi) noexcept nogil:
    """Write phases a_lo .. a_hi - 1, rows i0 .. i0 + Hb - 1, of the padded, phase-split
    plane at xp (OUT: ws)."""
    if real is float:
        pyconv_pack_f32(xp, ws, g.H, g.W, g.xs2, g.xs3, g.sh, g.sw, g.Sh, g.Sw, g.pt, g.pl,
                        g.Hb, g.Wq, i0, a_lo, a_hi)
    else:
        pyconv_pack_f64(xp, ws, g.H, g.W, g.xs2, g.xs3, g.sh, g.sw, g.Sh, g.Sw, g.pt, g.pl,
                        g.Hb, g.Wq, i0, a_lo, a_hi)


cdef inline void _pack_plane(const real *xp, real *ws, const Geometry *g,
                             int64_t i0) noexcept nogil:
    """Write the zero-padded, phase-split copy of the plane at xp into ws (OUT)."""
    _pack_rows(xp, ws, g, i0, 0, g.Sh)


cdef inline void _block_of(const Geometry *g, int64_t kb, int64_t *oc_local,
                           int64_t *m) noexcept nogil:
    if kb < g.nfull:
        oc_local[0] = kb * g.ocb
        m[0] = g.ocb
    else:
        oc_local[0] = g.nfull * g.ocb + (kb - g.nfull)
        m[0] = 1


cdef inline void _tile(const real *xb, const int64_t *off, const real *w,
                       const real *bias, real *o, const Geometry *g, int64_t m,
                       int64_t p0, int64_t cnt) noexcept nogil:
    cdef int64_t out_plane = g.out_plane
    if real is float:
        if m == g.ocb:
            g.block_f32(xb, off, g.ntaps, w, g.ntaps, bias, o, out_plane, p0, cnt, g.Wq, g.Wo)
        else:
            g.single_f32(xb, off, g.ntaps, w, g.ntaps, bias, o, out_plane, p0, cnt, g.Wq, g.Wo)
    else:
        if m == g.ocb:
            g.block_f64(xb, off, g.ntaps, w, g.ntaps, bias, o, out_plane, p0, cnt, g.Wq, g.Wo)
        else:
            g.single_f64(xb, off, g.ntaps, w, g.ntaps, bias, o, out_plane, p0, cnt, g.Wq, g.Wo)


cdef void _tail_tile(const real *pb, int64_t avail, const int64_t *off_tail,
                     real *scratch, const real *w, const real *bias, real *o,
                     const Geometry *g, int64_t m, int64_t p0, int64_t cnt) noexcept nogil:
    """A DIRECT-mode tile whose reads would pass the end of the input array.

    The runs it reads, one per (in-channel, depth tap), are copied (zero-filled past the
    end) into ``scratch``, laid out with ``off_tail`` offsets.  ``avail`` = elements
    from pb to the end of the array.
    """
    cdef int64_t r, start, k
    for r in range(g.Cig * g.kD):
        start = r // g.kD * g.xs1 + r % g.kD * g.dd * g.xsd + p0
        k = avail - start
        if k > g.tail_len:
            k = g.tail_len
        if k < 0:
            k = 0
        if k > 0:
            memcpy(scratch + r * g.tail_len, pb + start, k * sizeof(real))
        memset(scratch + r * g.tail_len + k, 0, (g.tail_len - k) * sizeof(real))
    _tile(scratch, off_tail, w, bias, o, g, m, p0, cnt)


cdef void _run_range(const real *pb, int64_t avail, const real *w, const real *bias,
                     real *ob, const int64_t *off, const int64_t *off_tail,
                     real *scratch, const Geometry *g, int64_t gi,
                     int64_t p_lo, int64_t p_hi, int64_t kb_lo, int64_t kb_hi,
                     Ctl *ctl) noexcept nogil:
    """Positions [p_lo, p_hi) of one problem of group gi for channel blocks [kb_lo, kb_hi).

    pb is the problem's base (workspace or input) and ob its output (channel 0 of the
    image, at the problem's first output row); in DIRECT mode ``avail`` bounds the reads
    (elements from pb to the end of the input), otherwise it is -1.
    """
    cdef int64_t kb, oc_local, m, oc, px, p0, cnt, p_safe
    cdef const real *bb
    cdef real *o
    for kb in range(kb_lo, kb_hi):
        if pyconv_flag_get(&ctl.abort):
            return
        _block_of(g, kb, &oc_local, &m)
        oc = gi * g.Cog + oc_local
        o = ob + oc * g.out_plane
        bb = bias + oc if bias != NULL else NULL
        px = g.px_block if m == g.ocb else g.px_single
        # tiles starting after p_safe would read past the input: they use the scratch
        p_safe = avail - g.off_max - px if avail >= 0 else p_hi
        p0 = p_lo
        while p0 < p_hi:
            cnt = px if p0 + px <= p_hi else p_hi - p0
            if p0 > p_safe:
                _tail_tile(pb, avail, off_tail, scratch, w + oc * g.ntaps, bb, o, g, m,
                           p0, cnt)
            else:
                _tile(pb + p0, off, w + oc * g.ntaps, bb, o, g, m, p0, cnt)
            p0 = p0 + px
        _account(ctl, 2 * m * (p_hi - p_lo) * g.ntaps)


cdef inline const real *_input_at(const real *x, const Geometry *g, int64_t n,
                                  int64_t c) noexcept nogil:
    return x + n * g.xs0 + c * g.xs1


cdef void _run_item(const real *x, real *ws, const real *w, const real *bias, real *out,
                    const int64_t *off, const int64_t *off_tail, real *scratch,
                    int64_t scratch_at, const Geometry *g, int64_t item,
                    Ctl *ctl) noexcept nogil:
    """DIRECT and GLOBAL modes: item = (image, group, output slice, position chunk,
    channel block); GLOBAL calls are 2-D (one slice)."""
    cdef int64_t kb = item % g.nblocks
    cdef int64_t r = item // g.nblocks
    cdef int64_t pc = r % g.nchunks
    r = r // g.nchunks
    cdef int64_t od = r % g.Do
    r = r // g.Do
    cdef int64_t gi = r % g.G
    cdef int64_t n = r // g.G
    cdef real *ob = out + n * g.Co * g.out_plane + od * g.Ho * g.Wo
    cdef int64_t p_lo, p_hi
    if g.head == 0:
        p_lo = pc * g.chunk
        p_hi = min(p_lo + g.chunk, g.P)
    elif pc == 0:  # the short first chunk
        p_lo, p_hi = 0, g.head
    else:
        p_lo = g.head + (pc - 1) * g.chunk
        p_hi = min(p_lo + g.chunk, g.P)
    cdef int64_t start
    if g.mode == MODE_DIRECT:
        start = n * g.xs0 + gi * g.Cig * g.xs1 + od * g.xsd
        _run_range(x + start, g.x_len - start, w, bias, ob, off, off_tail,
                   scratch + scratch_at, g, gi, p_lo, p_hi, kb, kb + 1, ctl)
    else:
        _run_range(ws + (n * g.C + gi * g.Cig) * g.plane, -1, w, bias, ob, off, NULL,
                   NULL, g, gi, p_lo, p_hi, kb, kb + 1, ctl)


cdef void _run_problem(const real *x, real *ws, const real *w, const real *bias,
                       real *out, const int64_t *off, const Geometry *g, int64_t item,
                       Ctl *ctl) noexcept nogil:
    """LOCAL mode: pack a band of problem (n, g, od) into this thread's workspace, and
    compute it.

    A band is ``g.band`` output rows (the whole plane unless it is large), for which the
    workspace holds phase rows oh0 .. oh0 + Hb - 1 of each (in-channel, depth tap): the
    kD input slices output slice od reads (zeros where they fall in the padding).
    """
    cdef int64_t nb = item % g.nbands
    cdef int64_t r = item // g.nbands
    cdef int64_t od = r % g.Do
    r = r // g.Do
    cdef int64_t gi = r % g.G
    cdef int64_t n = r // g.G
    cdef int64_t oh0 = nb * g.band
    cdef int64_t p_end = min(g.band, g.Ho - oh0) * g.Wq
    cdef int64_t ic, kd, dz, p_lo
    cdef real *slc
    if pyconv_flag_get(&ctl.abort):
        return
    for ic in range(g.Cig):
        for kd in range(g.kD):
            slc = ws + (ic * g.kD + kd) * g.plane
            dz = od * g.sd + kd * g.dd - g.pf
            if 0 <= dz < g.D:
                _pack_plane(_input_at(x, g, n, gi * g.Cig + ic) + dz * g.xsd, slc, g, oh0)
            else:
                memset(slc, 0, g.plane * sizeof(real))
    cdef real *ob = out + n * g.Co * g.out_plane + (od * g.Ho + oh0) * g.Wo
    cdef const real *bg = bias + gi if bias != NULL else NULL
    if g.depthwise:  # one channel, 9 taps: rows of it at once (see _tile.h)
        if real is float:
            if g.depthwise == 1:
                pyconv_active_isa.f32.dw3(ws, g.Wq, w + gi * 9, bg, ob + gi * g.out_plane,
                                          p_end // g.Wq, g.Wo)
            else:
                pyconv_active_isa.f32.dwt(ws, g.Wq, off, w + gi * 9, bg,
                                          ob + gi * g.out_plane, p_end // g.Wq, g.Wo)
        else:
            if g.depthwise == 1:
                pyconv_active_isa.f64.dw3(ws, g.Wq, w + gi * 9, bg, ob + gi * g.out_plane,
                                          p_end // g.Wq, g.Wo)
            else:
                pyconv_active_isa.f64.dwt(ws, g.Wq, off, w + gi * 9, bg,
                                          ob + gi * g.out_plane, p_end // g.Wq, g.Wo)
        _account(ctl, 18 * p_end)
        return
    p_lo = 0
    while p_lo < p_end:
        _run_range(ws, -1, w, bias, ob, off, NULL, NULL, g, gi, p_lo,
                   min(p_lo + g.chunk, p_end), 0, g.nblocks, ctl)
        p_lo = p_lo + g.chunk


cdef inline double _tile_cost(const Geometry *g, int64_t ocb, int64_t px, int64_t speed,
                              int64_t speed_single) noexcept nogil:
    """Time to compute a group's channels with a tile of ocb channels x px positions, in
    units of positions at the block tile's speed (the rest of the channels: one at a
    time)."""
    return (<double> (g.Cog // ocb * ocb) * ceil_div(g.P, px) * px * 100.0 / speed
            + <double> (g.Cog % ocb) * ceil_div(g.P, g.px_single) * g.px_single * 100.0
            / speed_single)


cdef object _conv(const real *x, const real *w, const real *bias, real *out, Geometry g,
                  int nt):
    global _workspace_bytes
    cdef int64_t kd, kh, kw, ic, t, a, b, qh, qw, base, i, item, nitems, nproblems
    cdef int64_t ws_len = 0, ws_each = 0, scratch_each = 0, need, esize = sizeof(real)
    cdef int64_t extent, noff, chunk_items
    cdef real *ws = NULL
    cdef real *scratch = NULL
    cdef int64_t *off = NULL
    cdef void *off_mem = NULL  # what to free (NULL: the stack buffers were used)
    cdef void *ws_mem = NULL
    cdef int64_t stack_off[STACK_OFFSETS]
    cdef double stack_ws[STACK_WS_DOUBLES]
    cdef int64_t *off_tail = NULL
    cdef bint par
    cdef double flops
    cdef Ctl ctl

    cdef const pyconv_isa *isa = pyconv_active_isa
    cdef int64_t k, px_narrow, speed_single
    cdef double cost, best = -1.0
    cdef const pyconv_kernel_f32 *c32[3]
    cdef const pyconv_kernel_f64 *c64[3]
    if real is float:
        g.px_single, g.single_f32 = isa.f32.single.px, isa.f32.single.fn
        px_narrow, speed_single = isa.f32.narrow.px, isa.f32.single.speed
    else:
        g.px_single, g.single_f64 = isa.f64.single.px, isa.f64.single.fn
        px_narrow, speed_single = isa.f64.narrow.px, isa.f64.single.speed
    # Problems smaller than half the one-channel tile (the article's 3x5 wide grid
    # against 128 positions) take a narrower one.  (For 14x14 depthwise planes, 224
    # positions, the narrow tile measured no faster.)
    if g.P <= g.px_single // 2:
        g.px_single = px_narrow
        g.single_f32 = isa.f32.narrow.fn
        g.single_f64 = isa.f64.narrow.fn
    # The channel-block tile: of the ISA's candidates (block, wide, alt), the one that
    # computes the problem soonest, counting the positions it rounds up to whole tiles
    # (a wider tile is faster per position but wastes more on 7x7 and 14x14 planes) and
    # the channels left to the one-channel tile.  Chosen by shape alone, so results do
    # not depend on the thread count.
    c32[0], c32[1], c32[2] = &isa.f32.block, &isa.f32.wide, &isa.f32.alt
    c64[0], c64[1], c64[2] = &isa.f64.block, &isa.f64.wide, &isa.f64.alt
    for k in range(3):
        if real is float:
            if c32[k].fn == NULL:
                continue
            cost = _tile_cost(&g, c32[k].ocb, c32[k].px, c32[k].speed, speed_single)
            if best < 0 or cost < best:
                best = cost
                g.ocb, g.px_block, g.block_f32 = c32[k].ocb, c32[k].px, c32[k].fn
        else:
            if c64[k].fn == NULL:
                continue
            cost = _tile_cost(&g, c64[k].ocb, c64[k].px, c64[k].speed, speed_single)
            if best < 0 or cost < best:
                best = cost
                g.ocb, g.px_block, g.block_f64 = c64[k].ocb, c64[k].px, c64[k].fn
    g.px_max = max(g.px_block, g.px_single)
    g.depthwise = 0
    if (g.mode == MODE_LOCAL and g.Cig == 1 and g.Cog == 1 and g.kD == 1 and g.kH == 3
            and g.kW == 3):
        g.depthwise = 1 if g.sh == 1 and g.sw == 1 and g.dh == 1 and g.dw == 1 else 2
    g.nfull = g.Cog // g.ocb
    g.nblocks = g.nfull + g.Cog % g.ocb
    flops = 2.0 * g.N * g.Co * g.out_plane * g.ntaps
    par = nt > 1 and flops >= PARALLEL_MIN_FLOPS
    if not par:
        nt = 1
    nproblems = g.N * g.G * g.Do

    # Positions per chunk: the chunk's input (all in-channels) fits half the L2.  Chunks
    # are whole tiles of both kinds, so only a problem's last tile is partial.
    cdef int64_t unit = _lcm(g.px_block, g.px_single)
    g.chunk = max(CHUNK_BYTES // (esize * g.Cig * g.kD) // unit, 1) * unit
    if g.mode != MODE_LOCAL and par and nproblems * g.nblocks * ceil_div(g.P, g.chunk) < 4 * nt:
        # one big problem: split positions finer so every thread gets work
        g.chunk = ceil_div(ceil_div(g.P, ceil_div(4 * nt, nproblems * g.nblocks)),
                           unit) * unit
    g.chunk = min(g.chunk, ceil_div(g.P, unit) * unit)
    g.nchunks = ceil_div(g.P, g.chunk)

    # Tap offsets: channel, depth, stride phase, dilation and kernel position in one
    # number (a problem is one output slice: its taps reach kD input slices).
    # (DIRECT mode also needs the offsets into a tail scratch, see _tail_tile)
    noff = g.ntaps * (2 if g.mode == MODE_DIRECT else 1)
    # (small calls use buffers on the stack: two allocations cost as much as the work)
    if noff <= STACK_OFFSETS:
        off = stack_off
    else:
        off = <int64_t *> pyconv_alloc(noff * sizeof(int64_t))
        if off == NULL:
            raise MemoryError(f"pyconv: cannot allocate {noff * 8} bytes for tap offsets")
        off_mem = off
    if g.mode == MODE_DIRECT:
        off_tail = off + g.ntaps
    g.off_max = 0
    g.aligned_taps = True
    extent = (g.kH - 1) * g.dh // g.sh * g.Wq + (g.kW - 1) * g.dw // g.sw
    g.tail_len = extent + g.px_max
    t = 0
    for ic in range(g.Cig):
        for kd in range(g.kD):
            if g.mode == MODE_DIRECT:  # the input itself (stride 1, no padding)
                base = ic * g.xs1 + kd * g.dd * g.xsd
            else:  # the workspace: slice kd of channel ic (LOCAL; GLOBAL is 2-D)
                base = (ic * g.kD + kd) * g.plane
            for kh in range(g.kH):
                a = (kh * g.dh) % g.sh
                qh = (kh * g.dh) // g.sh
                for kw in range(g.kW):
                    b = (kw * g.dw) % g.sw
                    qw = (kw * g.dw) // g.sw
                    off[t] = base + ((a * g.Sw + b) * g.Hb + qh) * g.Wq + qw
                    if off_tail != NULL:
                        off_tail[t] = (ic * g.kD + kd) * g.tail_len + qh * g.Wq + qw
                    g.off_max = max(g.off_max, off[t])
                    g.aligned_taps = g.aligned_taps and (off[t] * esize) % 64 == 0
                    t += 1

    # When every tap reads at the same alignment (1x1 in place), a short first chunk
    # ending on a cache line makes every other tile start on one, so no vector load
    # straddles two lines: an input 16 bytes off a line cost a 1x1 layer 15 %.  (Where
    # tiles start does not change the result: each element sums its taps in one order.)
    g.head = 0
    if (g.mode == MODE_DIRECT and g.aligned_taps and (g.xs0 * esize) % 64 == 0
            and (g.Cig * g.xs1 * esize) % 64 == 0 and (g.xsd * esize) % 64 == 0):
        g.head = min((64 - <size_t> x % 64) % 64 // esize, g.P)
        g.nchunks = 1 + ceil_div(g.P - g.head, g.chunk)

    # Workspaces.  The tiles read whole vectors past the last position of a problem,
    # so every packed workspace ends with a zeroed margin.
    if g.mode == MODE_DIRECT:
        scratch_each = g.Cig * g.kD * g.tail_len
        ws_len = nt * scratch_each
    elif g.mode == MODE_LOCAL:
        ws_each = max(g.Cig * g.kD * g.plane, g.off_max + g.P + g.px_max)
        ws_each = ceil_div(ws_each, 16) * 16  # keep each thread's part 64-byte aligned
        ws_len = nt * ws_each
    else:
        ws_len = g.N * g.C * g.plane
        need = (g.N * g.C - g.Cig) * g.plane + g.off_max + g.P + g.px_max
        ws_len = max(ws_len, need)
    if ws_len * esize <= sizeof(stack_ws):
        ws = <real *> stack_ws
    else:
        ws = <real *> pyconv_alloc(ws_len * esize)
        ws_mem = ws
    if ws == NULL:
        free(off_mem)
        raise MemoryError(
            f"pyconv: cannot allocate the {ws_len * esize} bytes "
            f"({<double> (ws_len * esize) / 2**30:.3g} GiB) of workspace this convolution needs"
        )
    _workspace_bytes += ws_len * esize + noff * sizeof(int64_t)
    if g.mode == MODE_DIRECT:
        scratch = ws
        ws = NULL

    _start(&ctl, flops, par)

    with nogil:
        if g.mode == MODE_LOCAL:
            for i in range(nt):
                memset(ws + i * ws_each + g.Cig * g.kD * g.plane, 0,
                       (ws_each - g.Cig * g.kD * g.plane) * esize)
            if par:
                for item in prange(nproblems * g.nbands, num_threads=nt, schedule="dynamic"):
                    _run_problem(x, ws + pyconv_thread_num() * ws_each, w, bias, out, off,
                                 &g, item, &ctl)
            else:
                for item in range(nproblems * g.nbands):
                    _run_problem(x, ws, w, bias, out, off, &g, item, &ctl)
        else:
            nitems = nproblems * g.nchunks * g.nblocks
            if g.mode == MODE_GLOBAL:
                memset(ws + g.N * g.C * g.plane, 0, (ws_len - g.N * g.C * g.plane) * esize)
                if par:
                    # (plane, phase row) pieces: the 3 planes of an RGB image split evenly
                    for i in prange(g.N * g.C * g.Sh, num_threads=nt, schedule="static"):
                        _pack_rows(_input_at(x, &g, i // g.Sh // g.C, i // g.Sh % g.C),
                                   ws + i // g.Sh * g.plane, &g, 0, i % g.Sh, i % g.Sh + 1)
                else:
                    for i in range(g.N * g.C):
                        _pack_plane(_input_at(x, &g, i // g.C, i % g.C), ws + i * g.plane, &g,
                                    0)
            # all channel blocks of a chunk on one thread (its L2 holds the chunk's input)
            # when there are enough chunks to go round
            chunk_items = g.nblocks if nproblems * g.nchunks >= 4 * nt else 1
            if par:
                for item in prange(nitems, num_threads=nt, schedule="dynamic",
                                   chunksize=chunk_items):
                    _run_item(x, ws, w, bias, out, off, off_tail, scratch,
                              pyconv_thread_num() * scratch_each, &g, item, &ctl)
            else:
                for item in range(nitems):
                    _run_item(x, ws, w, bias, out, off, off_tail, scratch, 0, &g, item, &ctl)

    free(off_mem)
    free(ws_mem)
    if ctl.abort:
        _reraise(&ctl)
    return None


cdef int64_t _shared_row_length(const Geometry *g) noexcept nogil:
    """Row length of the packed phase planes, with rows sharing their zero padding.

    Phase plane b holds columns j of padded input column j * sw + b; those before
    j_lo(b) and from j_hi(b) on are zeros.  A tap (qw, b) reads columns ow + qw for ow <
    Wo.  A read past the end of a row lands in the next row's column ow + qw - Wq, which
    is zero (as the padding it stands for) if it is below j_lo(b).  So a row needs
    max(j_hi(b), Wo + qw - j_lo(b)) columns, not the padded width: a 3x3 layer with
    padding 1 gets W + 1 instead of W + 2 (on 7x7 planes, 7 of 8 computed columns are
    kept instead of 7 of 9).
    """
    cdef int64_t kw, b, qw, j_lo, j_hi, Wq = g.Wo
    for kw in range(g.kW):
        b = (kw * g.dw) % g.sw
        qw = (kw * g.dw) // g.sw
        j_lo = ceil_div(g.pl - b, g.sw) if g.pl > b else 0
        j_hi = ceil_div(g.W + g.pl - b, g.sw) if g.W + g.pl > b else 0
        Wq = max(Wq, j_hi, g.Wo + qw - j_lo)
    return Wq


cdef void _set_shape(Geometry *g, cnp.ndarray x, int sp, bint unbatched, int64_t Co,
                     int64_t Cig, const int64_t *kvol, const int64_t *stride,
                     const int64_t *pad, const int64_t *dil, int64_t groups):
    """The sizes, strides and output volume of a call (see _forward for the arguments).

    ``kvol`` is the kernel's (depth, height, width), 1 where the call has no such axis.
    """
    cdef int nd = cnp.PyArray_NDIM(x), k
    cdef int64_t esize = cnp.PyArray_ITEMSIZE(x)
    cdef int64_t vol[3]
    cdef int64_t xsv[3]
    cdef cnp.npy_intp *xdim = cnp.PyArray_DIMS(x)
    cdef cnp.npy_intp *xst = cnp.PyArray_STRIDES(x)
    for k in range(3):
        vol[k], xsv[k] = 1, 0
    for k in range(sp):
        vol[3 - sp + k] = xdim[nd - sp + k]
        xsv[3 - sp + k] = xst[nd - sp + k] // esize
    g.N = 1 if unbatched else xdim[0]
    g.xs0 = 0 if unbatched else xst[0] // esize
    g.C, g.xs1 = xdim[nd - sp - 1], xst[nd - sp - 1] // esize
    g.D, g.H, g.W = vol[0], vol[1], vol[2]
    g.xsd, g.xs2, g.xs3 = xsv[0], xsv[1], xsv[2]
    if sp == 1:
        g.xs2 = g.W * g.xs3  # one row: as if contiguous (read by nothing)
    g.Co, g.Cig = Co, Cig
    g.kD, g.kH, g.kW = kvol[0], kvol[1], kvol[2]
    g.G = groups
    g.Cog = g.Co // groups
    g.sd, g.sh, g.sw = stride[0], stride[1], stride[2]
    g.dd, g.dh, g.dw = dil[0], dil[1], dil[2]
    g.pf, g.pt, g.pl = pad[0], pad[2], pad[4]
    g.Do = (g.D + pad[0] + pad[1] - g.dd * (g.kD - 1) - 1) // g.sd + 1
    g.Ho = (g.H + pad[2] + pad[3] - g.dh * (g.kH - 1) - 1) // g.sh + 1
    g.Wo = (g.W + pad[4] + pad[5] - g.dw * (g.kW - 1) - 1) // g.sw + 1
    g.out_plane = g.Do * g.Ho * g.Wo
    g.ntaps = g.Cig * g.kD * g.kH * g.kW


cdef void _set_phases(Geometry *g, const int64_t *pad, int64_t esize) noexcept nogil:
    """Phase-split planes for a packed input: the phases read, rows and row length."""
    cdef int64_t Hp = g.H + pad[2] + pad[3], Wp = g.W + pad[4] + pad[5], wq_shared
    # only the phases some tap reads: a = (kh * dh) % sh < min(sh, kernel extent)
    g.Sh = min(g.sh, g.dh * (g.kH - 1) + 1)
    g.Sw = min(g.sw, g.dw * (g.kW - 1) + 1)
    g.Hq = ceil_div(Hp, g.sh)
    g.Wq = ceil_div(Wp, g.sw)
    wq_shared = _shared_row_length(g)
    if wq_shared < g.Wq and (g.Hq + 1) * wq_shared <= g.Hq * g.Wq:
        # (never more memory: the last row's overflow needs one more row of zeros)
        g.Wq = wq_shared
        g.Hq += 1
    if (g.Wq * esize) % 4096 == 0:
        g.Wq += 64 // esize


cdef void _set_plane(Geometry *g, int64_t esize) noexcept nogil:
    """Elements per packed slice: they start on a cache line (so 1x1 taps read aligned
    vectors), but are never 4 KiB apart (L1 set aliasing across channels)."""
    g.plane = ceil_div(g.S * g.Hb * g.Wq * esize, 64) * 64 // esize
    if (g.plane * esize) % 4096 == 0:
        g.plane += 64 // esize


cdef object _forward(cnp.ndarray x, cnp.ndarray w, object bias, int sp,
                     const int64_t *stride, const int64_t *pad, const int64_t *dil,
                     int64_t groups, bint unbatched):
    """Run a validated call with ``sp`` (1, 2 or 3) spatial dimensions.

    ``x`` is (N, C, *spatial), or (C, *spatial) if ``unbatched``; ``w`` is (C_out,
    C_in / groups, *kernel).  ``stride`` and ``dil`` hold (depth, height, width) and
    ``pad`` (front, back, top, bottom, left, right); the entries of dimensions the call
    does not have are 1 and 0.
    """
    global _workspace_bytes
    cdef Geometry g
    cdef int typenum = cnp.PyArray_TYPE(x)
    cdef int64_t esize = cnp.PyArray_ITEMSIZE(x)
    cdef cnp.npy_intp *xst
    cdef cnp.npy_intp *wdim
    cdef cnp.npy_intp dims[5]
    cdef int k, odim = 0
    cdef int64_t row_bytes, extent
    cdef int64_t kvol[3]
    cdef const void *bptr = NULL

    # The kernels index in elements and read the weight rows in place: anything else
    # (byte strides that are not element multiples, misaligned data, a weight view) is
    # copied first.  An unbatched input is read as N = 1.
    cdef int nd = cnp.PyArray_NDIM(x)
    cdef bint copy = not cnp.PyArray_ISALIGNED(x)
    xst = cnp.PyArray_STRIDES(x)
    for k in range(nd):
        copy = copy or xst[k] % esize != 0
    _workspace_bytes = 0
    # (.copy, not ascontiguousarray: that returns a contiguous but misaligned array as is)
    if copy:
        x = x.copy(order="C")
        xst = cnp.PyArray_STRIDES(x)
        _workspace_bytes += x.nbytes
    if not (cnp.PyArray_IS_C_CONTIGUOUS(w) and cnp.PyArray_ISALIGNED(w)):
        w = w.copy(order="C")
        _workspace_bytes += w.nbytes
    wdim = cnp.PyArray_DIMS(w)

    for k in range(3):
        kvol[k] = 1
    for k in range(sp):
        kvol[3 - sp + k] = wdim[2 + k]
    _set_shape(&g, x, sp, unbatched, wdim[0], wdim[1], kvol, stride, pad, dil, groups)
    cdef int64_t Hp = g.H + pad[2] + pad[3]

    if not unbatched:
        dims[odim] = g.N
        odim += 1
    dims[odim] = g.Co
    odim += 1
    for k in range(sp):
        dims[odim] = (g.Do, g.Ho, g.Wo)[3 - sp + k]
        odim += 1
    out = cnp.PyArray_EMPTY(odim, dims, typenum, 0)
    if g.N * g.Co * g.out_plane == 0:
        return out
    if g.ntaps == 0:  # no input channels: the output is the bias (or zeros)
        out[...] = 0 if bias is None else np.reshape(bias, (-1,) + (1,) * sp)
        return out
    if bias is not None:
        bptr = cnp.PyArray_DATA(bias)

    # 3-D layers with channels to fill the vector lanes: the channel-lanes path
    cdef int64_t lanes_oc = (pyconv_active_isa.f32.lanes.oc if typenum == cnp.NPY_FLOAT
                             else pyconv_active_isa.f64.lanes.oc)
    if ((typenum == cnp.NPY_FLOAT or typenum == cnp.NPY_DOUBLE)
            and _lanes_suit(&g, sp, pad, esize, lanes_oc)):
        if typenum == cnp.NPY_FLOAT:
            _lanes_conv[float](<const float *> cnp.PyArray_DATA(x),
                               <const float *> cnp.PyArray_DATA(w), <const float *> bptr,
                               <float *> cnp.PyArray_DATA(out), g, pad, _num_threads)
        else:
            _lanes_conv[double](<const double *> cnp.PyArray_DATA(x),
                                <const double *> cnp.PyArray_DATA(w), <const double *> bptr,
                                <double *> cnp.PyArray_DATA(out), g, pad, _num_threads)
        return out

    # Rows, planes or slices a multiple of 4 KiB apart map the taps of a tile onto one
    # L1 set (a 2048-wide float32 image: 15 rows of a 15x15 kernel, or 16 channels, in
    # 12 ways); such inputs are packed, with their rows padded by a cache line.
    cdef bint aliased = ((g.H > 1 and (g.xs2 * esize) % 4096 == 0)
                         or (g.Cig > 1 and (g.xs1 * esize) % 4096 == 0)
                         or (g.D > 1 and (g.xsd * esize) % 4096 == 0))
    cdef bint unpadded = True
    for k in range(6):
        unpadded = unpadded and pad[k] == 0
    if (g.sd == 1 and g.sh == 1 and g.sw == 1 and unpadded
            and cnp.PyArray_IS_C_CONTIGUOUS(x) and not aliased):
        # read the input in place; the wide rows are the array's own rows
        g.mode = MODE_DIRECT
        g.Sh, g.Sw, g.Hq, g.Wq = 1, 1, g.H, g.W
        g.x_len = g.N * g.C * g.D * g.H * g.W
    else:
        g.mode = MODE_GLOBAL  # or LOCAL, decided below
        _set_phases(&g, pad, esize)
        g.x_len = -1
    g.S = g.Sh * g.Sw
    g.band, g.Hb = g.Ho, g.Hq
    cdef int64_t shared = g.Hq - ceil_div(Hp, g.sh) if g.mode != MODE_DIRECT else 0
    if g.mode != MODE_DIRECT:
        # A problem whose padded copy would not fit in cache is cut into bands of output
        # rows, each packed (with its halo rows) into the thread's workspace when it is
        # computed: no copy of a whole large image, and the copy is read from L2.
        row_bytes = g.Cig * g.kD * g.S * g.Wq * esize
        if row_bytes * g.Hq > BAND_BYTES:
            extent = g.dh * (g.kH - 1) // g.sh
            g.band = min(max(BAND_BYTES // row_bytes - extent, 1), g.Ho)
            if g.band < g.Ho:
                g.Hb = g.band + extent + shared
        # one packed copy of everything (GLOBAL) only for a few 2-D problems
        many = (g.N * g.G >= 2 * max(_num_threads, 1) or g.band < g.Ho or g.Do > 1
                or g.kD > 1)
        g.mode = MODE_LOCAL if many else MODE_GLOBAL
    g.nbands = ceil_div(g.Ho, g.band)
    _set_plane(&g, esize)
    g.P = g.band * g.Wq

    if typenum == cnp.NPY_FLOAT:
        _conv[float](<const float *> cnp.PyArray_DATA(x), <const float *> cnp.PyArray_DATA(w),
                     <const float *> bptr, <float *> cnp.PyArray_DATA(out), g, _num_threads)
    elif typenum == cnp.NPY_DOUBLE:
        _conv[double](<const double *> cnp.PyArray_DATA(x),
                      <const double *> cnp.PyArray_DATA(w), <const double *> bptr,
                      <double *> cnp.PyArray_DATA(out), g, _num_threads)
    else:
        raise TypeError(f"pyconv._core: unsupported dtype {x.dtype}")
    return out


def conv_forward(x, w, bias, stride, padding, dilation, int64_t groups, bint unbatched=False):
    """Direct 1-, 2- or 3-D cross-correlation (PyTorch's conv1d/2d/3d), validated input.

    The caller (pyconv's front end) has validated everything; this function trusts its
    arguments and only guards memory.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, *spatial), or (C_in, *spatial) if ``unbatched``
        float32 or float64, any strides; 1 to 3 spatial dimensions.
    w : ndarray, shape (C_out, C_in / groups, *kernel), same dtype, any strides
    bias : ndarray, shape (C_out,), same dtype, C-contiguous, or None
    stride, dilation : sequence of int >= 1, one per spatial dimension
    padding : sequence of int >= 0, two per spatial dimension
        Zero padding before and after, dimension by dimension (``(top, bottom, left,
        right)`` in 2-D; asymmetric padding serves ``padding='same'``).
    groups : int >= 1
    unbatched : bool
        ``x`` has no batch axis, and the result has none either.

    Returns
    -------
    out : ndarray, shape (N, C_out, *out_spatial), the dtype of x, C-contiguous
    """
    cdef int sp = cnp.PyArray_NDIM(w) - 2
    cdef int64_t st[3]
    cdef int64_t pd[6]
    cdef int64_t dl[3]
    cdef int k
    if not 1 <= sp <= 3 or len(stride) != sp or len(dilation) != sp or len(padding) != 2 * sp:
        raise ValueError(
            f"pyconv._core.conv_forward: a {cnp.PyArray_NDIM(w)}-d weight needs {sp} strides "
            f"and dilations and {2 * sp} paddings, got {stride!r}, {dilation!r}, {padding!r}"
        )
    for k in range(3):
        st[k], dl[k], pd[2 * k], pd[2 * k + 1] = 1, 1, 0, 0
    for k in range(sp):
        st[3 - sp + k] = stride[k]
        dl[3 - sp + k] = dilation[k]
        pd[2 * (3 - sp + k)] = padding[2 * k]
        pd[2 * (3 - sp + k) + 1] = padding[2 * k + 1]
    return _forward(x, w, bias, sp, st, pd, dl, groups, unbatched)


cdef void _wgrad_item(const real *ws, const real *gyp, real *dw, const int64_t *off,
                      const int64_t *xr, const int64_t *gyr, int64_t R, int64_t L,
                      const Geometry *g, int64_t Dp, int64_t gy_cstride, int64_t mi,
                      int64_t nj, int64_t nob, int64_t ntb, int64_t item,
                      Ctl *ctl) noexcept nogil:
    """One (group, channel block, tap block) of the weight gradient: its dot products
    over every row of every image, in one fixed order."""
    cdef int64_t tb = item % ntb
    cdef int64_t r = item // ntb
    cdef int64_t ob = r % nob
    cdef int64_t gi = r // nob
    cdef int64_t o0 = gi * g.Cog + ob * mi
    cdef int64_t ni = min(mi, g.Cog - ob * mi), nt = min(nj, g.ntaps - tb * nj)
    if pyconv_flag_get(&ctl.abort):
        return
    cdef const real *xg = ws + gi * g.Cig * Dp * g.plane
    if real is float:
        pyconv_active_isa.f32.dot.fn(gyp + o0 * gy_cstride, gy_cstride, gyr, xg, off + tb * nj,
                                     xr, R, L, dw + o0 * g.ntaps + tb * nj, g.ntaps, ni, nt)
    else:
        pyconv_active_isa.f64.dot.fn(gyp + o0 * gy_cstride, gy_cstride, gyr, xg, off + tb * nj,
                                     xr, R, L, dw + o0 * g.ntaps + tb * nj, g.ntaps, ni, nt)
    _account(ctl, 2 * ni * nt * R * L)


cdef object _weight_grad(const real *x, const real *gy, real *dw, Geometry g,
                         const int64_t *pad, bint wide, int nt):
    """dw = the weight gradient of the call g describes, for input x and output gradient
    gy (C-contiguous, (N, Co, Do, Ho, Wo)).

    The whole input is packed once, padded and phase-split like the forward's, with one
    slice per padded depth.  A work item is a block of output channels x a block of
    taps, whose dot products run over all images and rows (the dot tile in _tile.h).
    ``wide``: every value of x is finite, so the dot products can run over whole wide
    slices (Ho rows of Wq columns, no per-row overhead, 29 of every 28 columns on a
    28x28 layer instead of 32), gy copied onto that grid with zeros in the columns past
    Wo (a finite x times 0 adds nothing).  Otherwise they run row by row, the columns
    past Wo masked out, so an inf that no output reads never makes a NaN.
    """
    global _workspace_bytes
    cdef int64_t esize = sizeof(real), VL = 64 // esize, mi, nj
    cdef int64_t Dp = g.D + pad[0] + pad[1]
    cdef int64_t L = g.Ho * g.Wq if wide else g.Wo    # positions per reduction row
    cdef int64_t LV = ceil_div(L, VL) * VL            # and per row of the packed gy
    cdef int64_t R = g.N * g.Do * (1 if wide else g.Ho)
    cdef int64_t gy_cstride = R // g.N * LV
    cdef int64_t nplanes = g.N * g.C * Dp
    cdef int64_t i, n, z, od, oh, ic, kd, kh, kw, a, b, t, item, nob, ntb, nitems
    cdef int64_t ws_len, gy_len, off_max = 0
    if real is float:
        mi, nj = pyconv_active_isa.f32.dot.mi, pyconv_active_isa.f32.dot.nj
    else:
        mi, nj = pyconv_active_isa.f64.dot.mi, pyconv_active_isa.f64.dot.nj
    nob = ceil_div(g.Cog, mi)
    ntb = ceil_div(g.ntaps, nj)
    nitems = g.G * nob * ntb
    cdef double flops = 2.0 * g.Co * g.ntaps * R * L
    cdef bint par = nt > 1 and flops >= PARALLEL_MIN_FLOPS
    if not par:
        nt = 1

    cdef int64_t *off = <int64_t *> pyconv_alloc((g.ntaps + 2 * R) * sizeof(int64_t))
    if off == NULL:
        raise MemoryError(f"pyconv: cannot allocate {(g.ntaps + 2 * R) * 8} bytes of offsets")
    cdef int64_t *xr = off + g.ntaps
    cdef int64_t *gyr = xr + R
    t = 0
    for ic in range(g.Cig):
        for kd in range(g.kD):
            for kh in range(g.kH):
                a = (kh * g.dh) % g.sh
                for kw in range(g.kW):
                    b = (kw * g.dw) % g.sw
                    off[t] = ((ic * Dp + kd * g.dd) * g.plane
                              + ((a * g.Sw + b) * g.Hb + kh * g.dh // g.sh) * g.Wq
                              + kw * g.dw // g.sw)
                    off_max = max(off_max, off[t])
                    t += 1
    i = 0
    for n in range(g.N):
        for od in range(g.Do):
            for oh in range(1 if wide else g.Ho):
                xr[i] = (n * g.C * Dp + od * g.sd) * g.plane + oh * g.Wq
                gyr[i] = n * g.Co * gy_cstride + (i % (R // g.N)) * LV
                i += 1
    # the last row's last vector reads up to VL past it: a zeroed margin
    ws_len = nplanes * g.plane + g.Wq + VL
    gy_len = g.N * g.Co * gy_cstride
    cdef real *ws = <real *> pyconv_alloc((ws_len + gy_len) * esize)
    if ws == NULL:
        free(off)
        raise MemoryError(
            f"pyconv: cannot allocate the {(ws_len + gy_len) * esize} bytes "
            f"({<double> ((ws_len + gy_len) * esize) / 2**30:.3g} GiB) of workspace this "
            "weight gradient needs"
        )
    _workspace_bytes += (ws_len + gy_len) * esize + (g.ntaps + 2 * R) * 8
    cdef real *gyp = ws + ws_len

    cdef Ctl ctl
    _start(&ctl, flops, par)

    with nogil:
        memset(ws + nplanes * g.plane, 0, (g.Wq + VL) * esize)
        for i in prange(nplanes, num_threads=nt, schedule="static"):
            z = i % Dp - g.pf
            if 0 <= z < g.D:
                _pack_plane(x + i // Dp // g.C * g.xs0 + i // Dp % g.C * g.xs1 + z * g.xsd,
                            ws + i * g.plane, &g, 0)
                # (the wide path reads past a slice's last row into this gap, with gy 0:
                # it must hold finite values)
                memset(ws + i * g.plane + g.S * g.Hb * g.Wq, 0,
                       (g.plane - g.S * g.Hb * g.Wq) * esize)
            else:
                memset(ws + i * g.plane, 0, g.plane * esize)
        if wide:  # each (image, channel, slice): Ho rows of Wq, zeros past Wo and L
            for i in prange(g.N * g.Co * g.Do, num_threads=nt, schedule="static"):
                memset(gyp + i * LV, 0, LV * esize)
                for oh in range(g.Ho):
                    memcpy(gyp + i * LV + oh * g.Wq, gy + (i * g.Ho + oh) * g.Wo,
                           g.Wo * esize)
        else:  # each row of Wo, zeros to a whole vector
            for i in prange(g.N * g.Co * g.Do * g.Ho, num_threads=nt, schedule="static"):
                memcpy(gyp + i * LV, gy + i * g.Wo, g.Wo * esize)
                memset(gyp + i * LV + g.Wo, 0, (LV - g.Wo) * esize)
        # a thread takes whole channel blocks (every tap block of them): a batch-1
        # layer's items are short, and handed out one by one, two threads wrote the
        # same cache lines of dw and went no faster than one
        for item in prange(nitems, num_threads=nt, schedule="dynamic", chunksize=ntb):
            _wgrad_item(ws, gyp, dw, off, xr, gyr, R, L, &g, Dp, gy_cstride, mi, nj, nob,
                        ntb, item, &ctl)
    free(off)
    free(ws)
    if ctl.abort:
        _reraise(&ctl)
    return None


def conv_weight_grad(x, grad_output, kernel_size, stride, padding, dilation,
                     int64_t groups):
    """The gradient of a 1-, 2- or 3-D convolution with respect to its weight.

    ``torch.nn.grad.conv{n}d_weight`` on validated arguments: the caller (pyconv's
    front end) has checked shapes and dtypes; this function only guards memory.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, *spatial), float32 or float64, any strides
    grad_output : ndarray, shape (N, C_out, *out_spatial), same dtype
    kernel_size, stride, dilation : sequence of int, one per spatial dimension
    padding : sequence of int, two per spatial dimension (before, after)
    groups : int

    Returns
    -------
    ndarray, shape (C_out, C_in / groups, *kernel_size), the dtype of x, C-contiguous
    """
    cdef int sp = len(kernel_size), k
    cdef int64_t st[3]
    cdef int64_t pd[6]
    cdef int64_t dl[3]
    cdef int64_t kv[3]
    cdef cnp.ndarray xa = x, ga = grad_output
    if not (1 <= sp <= 3 and len(stride) == sp and len(dilation) == sp
            and len(padding) == 2 * sp and xa.ndim == sp + 2 and ga.ndim == sp + 2):
        raise ValueError("pyconv._core.conv_weight_grad: inconsistent numbers of dimensions")
    if xa.dtype != ga.dtype or xa.dtype not in (np.float32, np.float64):
        raise TypeError("pyconv._core.conv_weight_grad: x and grad_output must both be "
                        "float32 or both float64")
    for k in range(3):
        st[k], dl[k], kv[k], pd[2 * k], pd[2 * k + 1] = 1, 1, 1, 0, 0
    for k in range(sp):
        st[3 - sp + k], dl[3 - sp + k], kv[3 - sp + k] = stride[k], dilation[k], kernel_size[k]
        pd[2 * (3 - sp + k)], pd[2 * (3 - sp + k) + 1] = padding[2 * k], padding[2 * k + 1]
    cdef int64_t esize = xa.itemsize
    global _workspace_bytes
    _workspace_bytes = 0
    if not cnp.PyArray_ISALIGNED(xa) or any(s % esize for s in x.strides):
        xa = xa.copy(order="C")
    if not (cnp.PyArray_IS_C_CONTIGUOUS(ga) and cnp.PyArray_ISALIGNED(ga)):
        ga = ga.copy(order="C")
    cdef Geometry g
    _set_shape(&g, xa, sp, False, ga.shape[1], xa.shape[1] // groups, kv, st, pd, dl, groups)
    want = (g.N, g.Co) + (g.Do, g.Ho, g.Wo)[3 - sp:]
    if np.shape(ga) != want:
        raise ValueError(
            f"pyconv._core.conv_weight_grad: grad_output has shape {np.shape(ga)}, the "
            f"convolution gives {want}"
        )
    out = np.zeros((g.Co, g.Cig) + tuple(kernel_size), dtype=xa.dtype)
    if g.Co * g.ntaps == 0 or g.N * g.out_plane == 0:
        return out
    _set_phases(&g, pd, esize)
    g.S = g.Sh * g.Sw
    g.Hb = g.Hq
    _set_plane(&g, esize)
    # (a NaN or inf anywhere: the row-by-row path, which never multiplies what no
    # output reads)
    cdef bint wide = bool(np.isfinite(xa).all())
    if xa.dtype == np.float32:
        _weight_grad[float](<const float *> cnp.PyArray_DATA(xa),
                            <const float *> cnp.PyArray_DATA(ga),
                            <float *> cnp.PyArray_DATA(out), g, pd, wide, _num_threads)
    else:
        _weight_grad[double](<const double *> cnp.PyArray_DATA(xa),
                             <const double *> cnp.PyArray_DATA(ga),
                             <double *> cnp.PyArray_DATA(out), g, pd, wide, _num_threads)
    return out


cdef void _gather_taps(const real *w, real *out, int64_t G, int64_t Cig, int64_t Cog,
                       int64_t K, const int64_t *idx, int64_t T, int nt) noexcept nogil:
    # One output row (g, o) per iteration: its writes are contiguous, its reads one run
    # of K per input channel.  (A 128x128x3x3 weight: 0.1 ms on one thread, which is 5 %
    # of the input gradient that needs it at 2 threads, so large ones are split.)
    cdef int64_t r, gi, o, i, j
    cdef const real *src
    cdef real *dst
    for r in prange(G * Cog, num_threads=nt, schedule="static"):
        gi = r // Cog
        o = r % Cog
        for i in range(Cig):
            src = w + ((gi * Cig + i) * Cog + o) * K
            dst = out + (r * Cig + i) * T
            for j in range(T):
                dst[j] = src[idx[j]]


def gather_taps(w, int64_t groups, idx):
    """A transposed convolution's weight as a forward one, keeping only some taps.

    ``out[g * C_og + o, i, j] = w[g * C_ig + i, o, idx[j]]`` (kernel positions
    flattened in C order): the sub-kernel of one stride phase, C-contiguous, in one
    pass.  (In NumPy, a transpose and a gather of 1 to 4 taps from each run of 9 cost
    0.2 ms for a 128x64x3x3 weight: a tenth of the stride-2 decoder layer.)

    Parameters
    ----------
    w : ndarray, shape (C_in, C_out / groups, *kernel), float32 or float64
    groups : int, dividing C_in
    idx : sequence of int, each in [0, prod(kernel))

    Returns
    -------
    ndarray, shape (C_out, C_in / groups, len(idx)), dtype of w, C-contiguous
    """
    cdef cnp.ndarray wa = np.asarray(w)
    cdef cnp.ndarray ia = np.ascontiguousarray(idx, dtype=np.int64)
    if not (cnp.PyArray_IS_C_CONTIGUOUS(wa) and cnp.PyArray_ISALIGNED(wa)):
        wa = wa.copy(order="C")  # (ascontiguousarray keeps a misaligned array as it is)
    if wa.ndim < 2 or ia.ndim != 1 or groups < 1 or wa.shape[0] % groups:
        raise ValueError("pyconv._core.gather_taps: w must be (C_in, C_out / groups, "
                         "*kernel) with groups dividing C_in, idx one-dimensional")
    if wa.dtype not in (np.float32, np.float64):
        raise TypeError(f"pyconv._core.gather_taps: unsupported dtype {wa.dtype}")
    cdef int64_t Cig = wa.shape[0] // groups, Cog = wa.shape[1]
    cdef int64_t K = 1, T = ia.shape[0], k
    for k in range(2, wa.ndim):
        K *= wa.shape[k]
    cdef const int64_t *ip = <const int64_t *> cnp.PyArray_DATA(ia)
    for k in range(T):
        if not 0 <= ip[k] < K:
            raise ValueError(f"pyconv._core.gather_taps: tap indices must be in [0, {K})")
    cdef cnp.ndarray res = np.empty((groups * Cog, Cig, T), dtype=wa.dtype)
    cdef const void *src = cnp.PyArray_DATA(wa)
    cdef void *dst = cnp.PyArray_DATA(res)
    # (threads only where the copy is large enough to pay for a parallel region)
    cdef int nt = _num_threads if wa.nbytes >= GATHER_PARALLEL_BYTES else 1
    if wa.dtype == np.float32:
        with nogil:
            _gather_taps[float](<const float *> src, <float *> dst, groups, Cig, Cog, K, ip, T,
                                nt)
    else:
        with nogil:
            _gather_taps[double](<const double *> src, <double *> dst, groups, Cig, Cog, K,
                                 ip, T, nt)
    return res


cdef inline bint _small_int(object v, int64_t lo, int64_t *dst):
    """Read an exact Python int in [lo, 2**31) (anything else: let the front end decide)."""
    if type(v) is not int:
        return False
    if not (lo <= v < 2147483648):
        return False
    dst[0] = v
    return True


cdef inline bint _small_pair(object v, int64_t lo, int64_t *a, int64_t *b):
    if type(v) is int:
        if not _small_int(v, lo, a):
            return False
        b[0] = a[0]
        return True
    if type(v) is tuple and len(<tuple> v) == 2:
        return _small_int((<tuple> v)[0], lo, a) and _small_int((<tuple> v)[1], lo, b)
    return False


def conv2d_fast(input, weight, bias, stride, padding, dilation, groups):
    """The common call, validated and run with no Python-level overhead.

    Accepts only plain arguments whose validity is evident: ndarrays of one native
    float dtype, 3-D or 4-D input, non-empty shapes that agree, ints or 2-tuples of
    ints.  Returns None for anything else, and the caller then takes the full front end
    (which gives the errors and handles the rare cases).

    Returns
    -------
    out : ndarray or None
        The result of ``conv2d(input, weight, bias, stride, padding, dilation, groups)``.
    """
    cdef int64_t sh, sw, ph, pw, dh, dw, ng, k
    cdef int typenum
    cdef cnp.ndarray x, w
    cdef cnp.npy_intp *xs
    cdef cnp.npy_intp *ws
    cdef int nd
    if type(input) is not np.ndarray or type(weight) is not np.ndarray:
        return None
    x = input
    w = weight
    nd = cnp.PyArray_NDIM(x)
    if (nd != 3 and nd != 4) or cnp.PyArray_NDIM(w) != 4:
        return None
    typenum = cnp.PyArray_TYPE(x)
    if ((typenum != cnp.NPY_FLOAT and typenum != cnp.NPY_DOUBLE)
            or cnp.PyArray_TYPE(w) != typenum
            or not cnp.PyArray_ISNOTSWAPPED(x) or not cnp.PyArray_ISNOTSWAPPED(w)):
        return None
    if bias is not None:
        if (type(bias) is not np.ndarray or cnp.PyArray_NDIM(bias) != 1
                or cnp.PyArray_TYPE(bias) != typenum
                or not cnp.PyArray_ISNOTSWAPPED(bias)
                or not cnp.PyArray_IS_C_CONTIGUOUS(bias) or not cnp.PyArray_ISALIGNED(bias)
                or cnp.PyArray_DIMS(bias)[0] != cnp.PyArray_DIMS(w)[0]):
            return None
    if not (_small_pair(stride, 1, &sh, &sw) and _small_pair(padding, 0, &ph, &pw)
            and _small_pair(dilation, 1, &dh, &dw) and _small_int(groups, 1, &ng)):
        return None
    xs = cnp.PyArray_DIMS(x)
    ws = cnp.PyArray_DIMS(w)
    cdef int64_t N = xs[0] if nd == 4 else 1
    cdef int64_t C = xs[nd - 3], H = xs[nd - 2], W = xs[nd - 1]
    for k in range(4):
        if ws[k] <= 0:
            return None
    if N <= 0 or C <= 0 or H <= 0 or W <= 0:
        return None
    if ws[0] % ng or ws[1] * ng != C:
        return None
    cdef int64_t Ho = (H + 2 * ph - dh * (ws[2] - 1) - 1)
    cdef int64_t Wo = (W + 2 * pw - dw * (ws[3] - 1) - 1)
    if Ho < 0 or Wo < 0:
        return None
    # output elements beyond 2**50: let the front end report the size properly
    if <double> N * ws[0] * (Ho // sh + 1) * (Wo // sw + 1) > 1125899906842624.0:
        return None
    cdef int64_t st[3]
    cdef int64_t pd[6]
    cdef int64_t dl[3]
    st[0], st[1], st[2] = 1, sh, sw
    dl[0], dl[1], dl[2] = 1, dh, dw
    pd[0], pd[1], pd[2], pd[3], pd[4], pd[5] = 0, 0, ph, ph, pw, pw
    return _forward(x, w, bias, 2, st, pd, dl, ng, nd == 3)


def set_num_threads(int n):
    """Set the number of OpenMP threads the kernels use (n >= 1)."""
    global _num_threads
    if n < 1:
        raise ValueError(f"number of threads must be >= 1, but got {n}")
    _num_threads = n


def get_num_threads():
    """Number of OpenMP threads the kernels use."""
    return _num_threads


def workspace_bytes():
    """Bytes of scratch memory the last call allocated besides its output.

    The padded input copy or per-thread workspaces, tap offsets, and copies of inputs
    the kernels cannot read in place; freed when the call returns.  For the tests and
    the memory figures of docs/performance.md.
    """
    return _workspace_bytes


def parallel_calls():
    """Number of calls so far that opened an OpenMP parallel region."""
    return _parallel_calls


def lanes_calls():
    """Number of calls so far that took the channel-lanes path (_lanes.pxi)."""
    return _lanes_calls


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


def isas():
    """The micro-kernel variants this build carries, best first.

    Returns
    -------
    list of (name, detail, supported)
        ``detail`` names the instructions (for ``show_config``); ``supported`` says
        whether this CPU runs the variant.
    """
    cdef int i
    return [
        (
            (<bytes> pyconv_isas[i].name).decode(),
            (<bytes> pyconv_isas[i].detail).decode(),
            bool(pyconv_isas[i].supported()),
        )
        for i in range(PYCONV_NUM_ISAS)
    ]


cdef const pyconv_isa *_isa_named(name) except NULL:
    cdef int i
    if name is None:
        return pyconv_active_isa
    for i in range(PYCONV_NUM_ISAS):
        if (<bytes> pyconv_isas[i].name).decode() == name:
            return pyconv_isas[i]
    raise ValueError(f"unknown ISA variant {name!r}")


def peak_gflops(name=None, dtype="float32", double seconds=0.05):
    """Measure one core's peak multiply-add rate with a variant's vectors (GFLOP/s).

    Independent chains of vector multiply-adds, as many as the register file holds,
    timed over about ``seconds`` (best of three runs).  What the ``%peak`` column of
    ``pyconv bench`` divides by: a measurement on the machine at hand, for the ISA in
    use, not a constant.

    Parameters
    ----------
    name : str, optional
        A variant :func:`isas` lists and this CPU runs (default: the one in use).
    dtype : {"float32", "float64"}
    seconds : float
        Time of each of the three runs.
    """
    cdef const pyconv_isa *v = _isa_named(name)
    if not v.supported():
        raise ValueError(f"this CPU cannot run the ISA variant {name!r}")
    cdef pyconv_probe probe
    cdef int64_t per_step, iters = 1 << 12
    if dtype == "float32":
        probe, per_step = v.probe_f32, v.probe_flops_f32
    elif dtype == "float64":
        probe, per_step = v.probe_f64, v.probe_flops_f64
    else:
        raise ValueError(f"dtype must be 'float32' or 'float64', not {dtype!r}")
    cdef int64_t t0, dt, limit = (<int64_t> 1) << 40
    cdef double best = 0.0, sink = 0.0, ns = seconds * 1e9
    cdef int _r
    with nogil:
        while True:  # calibrate: iterations filling about `seconds`
            t0 = pyconv_now_ns()
            sink += probe(iters, 0.9999, 1e-7)
            dt = pyconv_now_ns() - t0
            if dt >= ns / 4 or iters >= limit:
                break
            iters *= 2
        iters = max(<int64_t> (iters * (ns / max(dt, 1))), 1)
        for _r in range(3):
            t0 = pyconv_now_ns()
            sink += probe(iters, 0.9999, 1e-7)
            dt = pyconv_now_ns() - t0
            best = max(best, <double> iters * per_step / max(dt, 1))
    if sink != sink:  # never: keeps the result used
        best = 0.0
    return best


def tile_shapes(name=None):
    """The tile shapes of a variant (default: the one in use), for the docs and tests.

    Returns
    -------
    dict
        ``{"float32": {"block": (ocb, px), "wide": ..., "single": ..., "narrow": ...,
        "lanes": ...}, "float64": {...}}``: output channels and wide positions per tile
        (``lanes``: the channel-lanes tile of 3-D layers); and ``"alt"`` where the
        variant has such a tile.
    """
    cdef const pyconv_isa *v = _isa_named(name)
    f32, f64 = v.f32, v.f64
    out = {
        "float32": {
            "block": (f32.block.ocb, f32.block.px), "wide": (f32.wide.ocb, f32.wide.px),
            "single": (f32.single.ocb, f32.single.px), "narrow": (f32.narrow.ocb, f32.narrow.px),
        },
        "float64": {
            "block": (f64.block.ocb, f64.block.px), "wide": (f64.wide.ocb, f64.wide.px),
            "single": (f64.single.ocb, f64.single.px), "narrow": (f64.narrow.ocb, f64.narrow.px),
        },
    }
    out["float32"]["lanes"] = (f32.lanes.oc, f32.lanes.np)
    out["float64"]["lanes"] = (f64.lanes.oc, f64.lanes.np)
    if f32.alt.fn != NULL:
        out["float32"]["alt"] = (f32.alt.ocb, f32.alt.px)
    if f64.alt.fn != NULL:
        out["float64"]["alt"] = (f64.alt.ocb, f64.alt.px)
    return out


def set_isa(name=None):
    """Select a micro-kernel variant by name (any case), or the best one for this CPU.

    Parameters
    ----------
    name : str or None
        One of the names :func:`isas` lists; None or "" for the best this CPU runs.

    Returns
    -------
    str
        The name of the variant now in use.

    Raises
    ------
    ValueError
        If the name is unknown, or this CPU cannot run the variant; the message lists
        the variants this CPU runs.
    """
    key = (name or "").strip().lower()
    cdef bytes b = key.encode()
    cdef int status = pyconv_isa_select(b)
    if status != 0:
        runs = ", ".join(n for n, _, ok in isas() if ok)
        if status == -2:
            raise ValueError(f"this CPU cannot run the ISA variant {name!r} (it runs: {runs})")
        raise ValueError(f"unknown ISA variant {name!r} (this CPU runs: {runs})")
    return isa()


set_isa(None)

include "_lanes.pxi"
include "_winograd.pxi"
