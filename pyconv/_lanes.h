/* The channel-lanes micro-kernel: output channels in the vector lanes, positions in
 * registers, over a channels-last copy of the input.
 *
 *     PYCONV_DEFINE_LANES(ISA, T, NR, NP)
 *
 * defines pyconv_lanes_<ISA>_<T>_<NR>x<NP>: NR vectors of output channels (OC = NR *
 * lanes) x NP consecutive positions of one (image, group, output slice):
 *
 *     acc[p][oc] = sum_t sum_c w[(t * cig + c) * OC + oc] * xb[off[t] + p * xstep + c]
 *
 * t runs over the kernel's taps (off[t]: depth, row and column offset of the tap in
 * the channels-last copy), c over the group's input channels, which lie next to each
 * other there.  Each (t, c) step loads NR weight vectors and broadcasts NP inputs for
 * NR * NP multiply-adds; registers NR * NP + NR + 1.
 *
 * Why a second tile: the channel-plane tile (_tile.h) reads, per tap, a run of one
 * input plane, so a 3x3x3 layer of 64 channels touches 576 plane rows per tile, more
 * than the L1 holds (82-86 GFLOP/s of a 100 peak on Zen 3 at best).  Here a tile's
 * inputs are NP positions x all channels of each tap's row: a few KiB, in L1, and the
 * weights stream from L2 in order.  (oneDNN's 3-D kernels are laid out the same way.)
 *
 * Positions are "wide" as in the plane tile: p0 + q, q < np are stored, at row p / Wq,
 * column p % Wq, when that column is below Wo.  Positions np .. NP - 1 are computed
 * and dropped (their reads stay inside the copy's zeroed margin).  Only the first noc
 * channels are stored; the packed weights and bias hold zeros past them.  Each output
 * sums its taps in one fixed order: results do not depend on threads or tiling.
 */
#ifndef PYCONV_LANES_H
#define PYCONV_LANES_H

#include <stdint.h>

#define PYCONV_LANES_NAME(ISA, T, NR, NP) pyconv_lanes_##ISA##_##T##_##NR##x##NP

#define PYCONV_DEFINE_LANES(ISA, T, NR, NP)                                             \
    PV_ATTR_##ISA PV_INLINE_COPIES static void PYCONV_LANES_NAME(ISA, T, NR, NP)(       \
        const PV_T_##T *restrict xb,   /* IN: channels-last copy at position p0 */      \
        const int64_t *restrict off,   /* IN: ntaps offsets into xb */                  \
        int64_t ntaps, int64_t cig,    /* taps, input channels read at each */          \
        int64_t xstep,                 /* elements between two positions */             \
        const PV_T_##T *restrict w,    /* IN: packed [ntaps][cig][OC], aligned */       \
        const PV_T_##T *restrict bias, /* IN: OC values, aligned, or NULL */            \
        PV_T_##T *restrict out,        /* OUT: plane of the first channel */            \
        int64_t out_plane, int64_t noc, /* elements between planes; channels stored */  \
        int64_t p0, int64_t np, int64_t Wq, int64_t Wo)                                 \
    {                                                                                   \
        typedef pv_##ISA##_##T vec;                                                     \
        typedef pvu_##ISA##_##T uvec;                                                   \
        typedef PV_T_##T real;                                                          \
        enum { VL = sizeof(vec) / sizeof(real), OC = (NR) * VL };                       \
        vec acc[NP][NR];                                                                \
        _Pragma("GCC unroll 32") for (int p = 0; p < (NP); ++p)                         \
            _Pragma("GCC unroll 8") for (int r = 0; r < (NR); ++r) acc[p][r] = (vec){0}; \
        for (int64_t t = 0; t < ntaps; ++t) {                                           \
            const real *xp = xb + off[t];                                               \
            for (int64_t c = 0; c < cig; ++c, w += OC) {                                \
                vec wv[NR];                                                             \
                _Pragma("GCC unroll 8") for (int r = 0; r < (NR); ++r)                  \
                    wv[r] = *(const vec *)(w + r * VL);                                 \
                _Pragma("GCC unroll 32") for (int p = 0; p < (NP); ++p)                 \
                {                                                                       \
                    const real xv = xp[p * xstep + c];                                  \
                    _Pragma("GCC unroll 8") for (int r = 0; r < (NR); ++r)              \
                        acc[p][r] += wv[r] * xv; /* vector * scalar: see _tile.h */     \
                }                                                                       \
            }                                                                           \
        }                                                                               \
        /* channels to rows of a small buffer, then each row's valid positions out */   \
        real buf[OC][NP];                                                               \
        _Pragma("GCC unroll 8") for (int r = 0; r < (NR); ++r)                          \
        {                                                                               \
            const vec b = bias ? *(const vec *)(bias + r * VL) : (vec){0};              \
            for (int p = 0; p < (NP); ++p) {                                            \
                const vec v = bias ? acc[p][r] + b : acc[p][r];                         \
                for (int l = 0; l < VL; ++l) buf[r * VL + l][p] = v[l];                 \
            }                                                                           \
        }                                                                               \
        PV_STORE_WIDE(ISA, T, noc, &buf[0][0], NP)                                      \
    }

/* The channels-last copy of one zero-padded row (dz, y) of an image x (channel 0 of
 * image n; strides xs1 channel, xsd slice, xs2 row, xs3 column, in elements):
 *
 *     dst[j * C + c] = x[c, dz - pf, y - pt, j - pl]   (0 outside the image)
 *
 * for j < Wp.  Reads go along rows of the input, writes scatter with stride C; a row
 * of the copy (Wp * C elements) is small enough to stay in L1 meanwhile. */
#define PYCONV_PACK_LANES(T, SUFFIX)                                                    \
    PYCONV_NO_LIBCALLS static void pyconv_pack_lanes_##SUFFIX(                          \
        const T *restrict x, T *restrict dst, int64_t C, int64_t xs1, int64_t xsd,      \
        int64_t xs2, int64_t xs3, int64_t D, int64_t H, int64_t W, int64_t pf,          \
        int64_t pt, int64_t pl, int64_t Wp, int64_t dz, int64_t y)                      \
    {                                                                                   \
        const int64_t z = dz - pf, r = y - pt;                                          \
        if (z < 0 || z >= D || r < 0 || r >= H) {                                       \
            memset(dst, 0, (size_t)(Wp * C) * sizeof(T));                               \
            return;                                                                     \
        }                                                                               \
        memset(dst, 0, (size_t)(pl * C) * sizeof(T));                                   \
        memset(dst + (pl + W) * C, 0, (size_t)((Wp - pl - W) * C) * sizeof(T));         \
        const T *restrict src = x + z * xsd + r * xs2;                                  \
        T *restrict d = dst + pl * C;                                                   \
        for (int64_t c = 0; c < C; ++c) {                                               \
            const T *restrict s = src + c * xs1;                                        \
            if (xs3 == 1)                                                               \
                for (int64_t j = 0; j < W; ++j) d[j * C + c] = s[j];                    \
            else                                                                        \
                for (int64_t j = 0; j < W; ++j) d[j * C + c] = s[j * xs3];              \
        }                                                                               \
    }

#endif /* PYCONV_LANES_H */
