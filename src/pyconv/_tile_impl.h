/* One register-blocked micro-kernel, instantiated several times by _kernels.h.
 *
 * Included with these macros defined (and undefined again afterwards):
 *   TILE_NAME  function name            TILE_T    element type (float / double)
 *   TILE_VEC   GCC vector type          TILE_VL   lanes in TILE_VEC
 *   TILE_OCB   output channels per tile TILE_NV   vectors of wide positions per tile
 *   TILE_ATTR  function attributes (target ISA)
 *
 * The tile computes TILE_OCB output channels x (TILE_NV * TILE_VL) consecutive "wide"
 * positions p = oh * Wq + ow of one (image, group) problem:
 *
 *     acc[j][p] = sum_t wp[t * TILE_OCB + j] * x[off[t] + p]
 *
 * where t runs over the (in-channel, kh, kw) taps and off[t] already encodes channel,
 * stride phase, dilation and kernel offset (see _core.pyx).  The accumulators live in
 * vector registers for the whole reduction; each tap costs TILE_NV loads, TILE_OCB
 * broadcasts and TILE_OCB * TILE_NV fused multiply-adds.  Wide positions whose column
 * ow >= Wo (or p >= the end of the problem) are computed but never stored.
 */

TILE_ATTR static void
TILE_NAME(const TILE_T *restrict x,          /* IN: workspace of this (n, g) */
          const int64_t *restrict off,       /* IN: ntaps offsets into x */
          int64_t ntaps,
          const TILE_T *restrict wp,         /* IN: packed weights, ntaps x TILE_OCB */
          const TILE_T *restrict bias,       /* IN: TILE_OCB values or NULL */
          TILE_T *restrict out,              /* OUT: plane of the first channel */
          int64_t out_plane,                 /* elements between channel planes */
          int64_t p0, int64_t np,            /* first wide position, how many to store */
          int64_t Wq, int64_t Wo)
{
    enum { PX = TILE_NV * TILE_VL };
    TILE_VEC acc[TILE_OCB][TILE_NV];
    TILE_T buf[TILE_OCB][PX];

#pragma GCC unroll 16
    for (int j = 0; j < TILE_OCB; ++j)
#pragma GCC unroll 16
        for (int v = 0; v < TILE_NV; ++v)
            acc[j][v] = (TILE_VEC){0};

    const TILE_T *xb = x + p0;
    for (int64_t t = 0; t < ntaps; ++t) {
        const TILE_T *xp = xb + off[t];
        const TILE_T *w = wp + t * TILE_OCB;
        TILE_VEC xv[TILE_NV];
#pragma GCC unroll 16
        for (int v = 0; v < TILE_NV; ++v)
            memcpy(&xv[v], xp + v * TILE_VL, sizeof(TILE_VEC));  /* unaligned load */
#pragma GCC unroll 16
        for (int j = 0; j < TILE_OCB; ++j) {
            const TILE_VEC wb = (TILE_VEC){0} + w[j];             /* broadcast */
#pragma GCC unroll 16
            for (int v = 0; v < TILE_NV; ++v)
                acc[j][v] += wb * xv[v];
        }
    }

#pragma GCC unroll 16
    for (int j = 0; j < TILE_OCB; ++j) {
        const TILE_VEC bv = (TILE_VEC){0} + (bias ? bias[j] : (TILE_T)0);
#pragma GCC unroll 16
        for (int v = 0; v < TILE_NV; ++v) {
            TILE_VEC r = bias ? acc[j][v] + bv : acc[j][v];
            memcpy(&buf[j][v * TILE_VL], &r, sizeof(TILE_VEC));
        }
    }

    /* Scatter the valid columns of each wide row segment into the NCHW output. */
    int64_t p = p0;
    const int64_t p_end = p0 + np;
    while (p < p_end) {
        const int64_t row = p / Wq;
        const int64_t col = p - row * Wq;
        int64_t seg_end = (row + 1) * Wq;
        if (seg_end > p_end) seg_end = p_end;
        if (col < Wo) {
            int64_t n = seg_end - p;
            if (col + n > Wo) n = Wo - col;
            for (int j = 0; j < TILE_OCB; ++j)
                memcpy(out + j * out_plane + row * Wo + col, &buf[j][p - p0],
                       (size_t)n * sizeof(TILE_T));
        }
        p = seg_end;
    }
}

#undef TILE_NAME
#undef TILE_T
#undef TILE_VEC
#undef TILE_VL
#undef TILE_OCB
#undef TILE_NV
#undef TILE_ATTR
