/* One register-blocked micro-kernel, instantiated several times by _kernels.h.
 *
 * Included with these macros defined (and undefined again afterwards):
 *   TILE_NAME  function name            TILE_T    element type (float / double)
 *   TILE_VEC   GCC vector type          TILE_VL   lanes in TILE_VEC
 *   TILE_OCB   output channels per tile TILE_NV   vectors of wide positions per tile
 *   TILE_ATTR  function attributes (target ISA)
 *   TILE_TAIL  optional: TILE_TAIL(dst, src, n) copies n < TILE_VL elements
 *
 * The tile computes TILE_OCB output channels x (TILE_NV * TILE_VL) consecutive "wide"
 * positions p = oh * Wq + ow of one (image, group) problem:
 *
 *     acc[j][q] = sum_t w[j * wstride + t] * xb[off[t] + q]
 *
 * where t runs over the (in-channel, kh, kw) taps and off[t] already encodes channel,
 * stride phase, dilation and kernel offset (see _core.pyx).  The weights are read in
 * their own (C_out, C_in/groups * kH * kW) layout, one row pointer per channel, so no
 * packing pass is needed.  The accumulators live in vector registers for the whole
 * reduction; each tap costs TILE_NV loads, TILE_OCB broadcasts and TILE_OCB * TILE_NV
 * fused multiply-adds.  Wide positions whose column ow >= Wo are computed, never stored.
 */

TILE_ATTR static void
TILE_NAME(const TILE_T *restrict xb,         /* IN: problem base + p0 */
          const int64_t *restrict off,       /* IN: ntaps offsets into xb */
          int64_t ntaps,
          const TILE_T *restrict w,          /* IN: weight row of the first channel */
          int64_t wstride,                   /* elements between weight rows */
          const TILE_T *restrict bias,       /* IN: TILE_OCB values or NULL */
          TILE_T *restrict out,              /* OUT: plane of the first channel */
          int64_t out_plane,                 /* elements between channel planes */
          int64_t p0, int64_t np,            /* first wide position, how many to store */
          int64_t Wq, int64_t Wo)
{
    enum { PX = TILE_NV * TILE_VL };
    TILE_VEC acc[TILE_OCB][TILE_NV];
    TILE_T buf[TILE_OCB][PX];
    const TILE_T *wr[TILE_OCB];

#pragma GCC unroll 16
    for (int j = 0; j < TILE_OCB; ++j) {
        wr[j] = w + j * wstride;
#pragma GCC unroll 16
        for (int v = 0; v < TILE_NV; ++v)
            acc[j][v] = (TILE_VEC){0};
    }

    for (int64_t t = 0; t < ntaps; ++t) {
        const TILE_T *xp = xb + off[t];
        TILE_VEC xv[TILE_NV];
#pragma GCC unroll 16
        for (int v = 0; v < TILE_NV; ++v)
            memcpy(&xv[v], xp + v * TILE_VL, sizeof(TILE_VEC));  /* unaligned load */
#pragma GCC unroll 16
        for (int j = 0; j < TILE_OCB; ++j) {
            const TILE_VEC wb = (TILE_VEC){0} + wr[j][t];          /* broadcast */
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

    /* Copy the valid columns of each wide row segment into the NCHW output; whole
     * vectors first (fixed-size copies compile to single moves, not memcpy calls). */
    int64_t row = p0 / Wq, col = p0 - row * Wq, q = 0;
    while (q < np) {
        int64_t seg = Wq - col;
        if (seg > np - q) seg = np - q;
        if (col < Wo) {
            const int64_t n = col + seg > Wo ? Wo - col : seg;
            for (int j = 0; j < TILE_OCB; ++j) {
                TILE_T *dst = out + j * out_plane + row * Wo + col;
                const TILE_T *src = &buf[j][q];
                int64_t k = 0;
                for (; k + TILE_VL <= n; k += TILE_VL)
                    memcpy(dst + k, src + k, sizeof(TILE_VEC));
#ifdef TILE_TAIL
                if (k < n)
                    TILE_TAIL(dst + k, src + k, n - k);  /* one masked move */
#else
                for (; k < n; ++k)
                    dst[k] = src[k];
#endif
            }
        }
        q += seg;
        ++row;
        col = 0;
    }
}

#undef TILE_NAME
#undef TILE_T
#undef TILE_VEC
#undef TILE_VL
#undef TILE_OCB
#undef TILE_NV
#undef TILE_ATTR
#undef TILE_TAIL
