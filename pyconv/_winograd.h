/* Winograd F(m x m, 3 x 3) convolution (m = 2 or 4), per ISA, for the `winograd` backend.
 *
 * For one group g, the output is cut into m x m tiles; tile t reads an alpha x alpha
 * window (alpha = m + 2) of the zero-padded input.  With Lavin's matrices B^T, G, A^T
 * (points 0, +-1 for m = 2; 0, +-1, +-2 for m = 4, and infinity):
 *
 *     V[xi][t][c]  = (B^T d_{t,c} B)[xi]         input transform, per tile and in-channel
 *     U[xi][c][o]  = (G g_{o,c} G^T)[xi]         weight transform, per in/out channel
 *     M[xi][t][o]  = sum_c V[xi][t][c] U[xi][c][o]   alpha^2 matrix products
 *     y_{t,o}      = A^T M[.][t][o] A + bias[o]  output transform
 *
 * The matrix products are most of the work (alpha^2 Cin Cout multiply-adds per tile
 * instead of m^2 9 Cin Cout); they run on a register-blocked micro-kernel of the same
 * kind as the direct tiles (_tile.h): MR tiles x NV vectors of output channels of
 * accumulators, the V value of a tile broadcast, a vector of U loaded per input channel.
 * Both transforms are vectorised over channels: the input rows a tile row reads are first
 * transposed to channels-last ("staged", with the zero padding), the weights of an
 * output-channel panel are transposed so that a vector holds one tap of VL output
 * channels, and the output tiles are transposed back into the NCHW output.  The
 * transposes are done in registers, VL x VL at a time (__builtin_shufflevector).
 *
 * A work item (pyconv_wino_item_*) is one (group, block of tile rows, range of
 * output-channel panels).  Its V block (alpha^2 x tiles x Cin) is computed once; for each
 * panel of output channels and each block of kc input channels the weights are
 * transformed into a cache-sized U block (never the whole transformed weight: for a
 * 512 x 512 layer that would be 4x the weights, 38 MB in float32, streamed from memory on
 * every call), multiplied into the panel's M block (accumulating over input-channel
 * blocks), and the panel's outputs are written.  Every output element is computed by one
 * item, in one fixed order whatever the blocking (the products over input channels are
 * one chain of multiply-adds, the partial sums stored and reloaded exactly), so results
 * are bitwise identical for any number of threads.
 */
#ifndef PYCONV_WINOGRAD_H
#define PYCONV_WINOGRAD_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* What one call computes and how it is cut; filled by _winograd.pxi. */
typedef struct {
    int64_t N, C, H, W;      /* input, C-contiguous */
    int64_t Co, G, Cig, Cog; /* output channels, groups, channels per group */
    int64_t pt, pl;          /* zero padding above and left (below / right: from Ho, Wo) */
    int64_t Ho, Wo;          /* output plane */
    int64_t m, alpha;        /* output tile side, input window side (m + 2) */
    int64_t th, tw;          /* tiles per output column / row */
    int64_t R;               /* tile rows per block (rows of all images, in order) */
    int64_t nblocks;         /* blocks of tile rows: ceil(N * th / R) */
    int64_t npanels;         /* panels of `cols` output channels per group */
    int64_t ppr, nranges;    /* panels per range of a work item, ranges */
    int64_t vl, cols;        /* lanes per vector; output channels per panel (NV * vl) */
    int64_t mr_big, mr_small;/* tiles per micro-kernel call */
    int64_t cig_pad;         /* V row length: Cig rounded up to whole vectors */
    int64_t tb_pad;          /* V / M rows per block: R * tw + mr_small (see below) */
    int64_t kc;              /* input channels per weight block */
    int64_t wp;              /* staged row length: tw * m + 2 */
    int64_t yw;              /* staged output row length: tw * m rounded up to vl */
    /* per-thread workspace, offsets in elements (each 64-byte aligned) */
    int64_t off_s, off_v, off_u, off_wt, off_m, off_y, off_tmp, ws_each; /* wt: 9 vl cols */
} pyconv_wino_plan;

/* ---- in-register VL x VL transposes ------------------------------------------------
 * log2(VL) stages; stage h swaps the off-diagonal h x h blocks of every 2h x 2h block
 * (rows i and i + h exchange lanes).  The index lists are generated (lane l of a row
 * pair: (l & h) ? b[l - h] : a[l], and (l & h) ? b[l] : a[l + h]). */
#define PV_UNPAREN(...) __VA_ARGS__
#define PV_TR_STAGE(vec, r, VL, H, LO, HI)                                              \
    for (int i_ = 0; i_ < (VL); ++i_)                                                   \
        if (!(i_ & (H))) {                                                              \
            const vec a_ = (r)[i_], b_ = (r)[i_ + (H)];                                 \
            (r)[i_] = __builtin_shufflevector(a_, b_, PV_UNPAREN LO);                   \
            (r)[i_ + (H)] = __builtin_shufflevector(a_, b_, PV_UNPAREN HI);             \
        }

#define PV_TRANSPOSE_2(vec, r) PV_TR_STAGE(vec, r, 2, 1, (0, 2), (1, 3))
#define PV_TRANSPOSE_4(vec, r)                                                          \
    PV_TR_STAGE(vec, r, 4, 2, (0, 1, 4, 5), (2, 3, 6, 7))                               \
    PV_TR_STAGE(vec, r, 4, 1, (0, 4, 2, 6), (1, 5, 3, 7))
#define PV_TRANSPOSE_8(vec, r)                                                          \
    PV_TR_STAGE(vec, r, 8, 4, (0, 1, 2, 3, 8, 9, 10, 11), (4, 5, 6, 7, 12, 13, 14, 15)) \
    PV_TR_STAGE(vec, r, 8, 2, (0, 1, 8, 9, 4, 5, 12, 13), (2, 3, 10, 11, 6, 7, 14, 15)) \
    PV_TR_STAGE(vec, r, 8, 1, (0, 8, 2, 10, 4, 12, 6, 14), (1, 9, 3, 11, 5, 13, 7, 15))
#define PV_TRANSPOSE_16(vec, r)                                                         \
    PV_TR_STAGE(vec, r, 16, 8,                                                          \
                (0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),               \
                (8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31))         \
    PV_TR_STAGE(vec, r, 16, 4,                                                          \
                (0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),             \
                (4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31))           \
    PV_TR_STAGE(vec, r, 16, 2,                                                          \
                (0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29),             \
                (2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31))           \
    PV_TR_STAGE(vec, r, 16, 1,                                                          \
                (0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),            \
                (1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31))

/* ---- the 1-D transforms, on vectors ------------------------------------------------
 * in: B^T (alpha -> alpha), out: A^T (alpha -> m), w: G (3 -> alpha), Lavin & Gray's
 * matrices with the rows of G scaled to small integers (F(4x4): by 4, -6, -6, 24, 24, 1;
 * F(2x2): by 1, 2, 2, 1) and the columns of A^T by the inverses: U = G g G^T is then
 * computed with 6 operations per column instead of 11, exactly for small-integer taps,
 * and the fractions are paid once per output instead of once per (output, input)
 * channel pair.  Each is applied to the columns, then to the rows, of a 2-D tile. */
#define PV_WIN_IN_2(d, o)                                                               \
    {                                                                                   \
        o[0] = d[0] - d[2];                                                             \
        o[1] = d[1] + d[2];                                                             \
        o[2] = d[2] - d[1];                                                             \
        o[3] = d[1] - d[3];                                                             \
    }
#define PV_WIN_OUT_2(s, y)                                                              \
    {                                                                                   \
        y[0] = s[0] + (s[1] + s[2]) * (real)0.5;                                        \
        y[1] = (s[1] - s[2]) * (real)0.5 - s[3];                                        \
    }
#define PV_WIN_W_2(g, u)                                                                \
    {                                                                                   \
        const vec s_ = g[0] + g[2];                                                     \
        u[0] = g[0];                                                                    \
        u[1] = s_ + g[1];                                                               \
        u[2] = s_ - g[1];                                                               \
        u[3] = g[2];                                                                    \
    }
#define PV_WIN_IN_4(d, o)                                                               \
    {                                                                                   \
        const vec t1_ = d[1] + d[2], t2_ = d[3] + d[4], t3_ = d[1] - d[2];              \
        const vec t4_ = d[4] - d[3], t5_ = d[1] - d[3], t6_ = d[4] - d[2];              \
        o[0] = d[0] * (real)4 + (d[4] - d[2] * (real)5);                                \
        o[1] = t2_ - t1_ * (real)4;                                                     \
        o[2] = t4_ + t3_ * (real)4;                                                     \
        o[3] = t6_ - t5_ * (real)2;                                                     \
        o[4] = t6_ + t5_ * (real)2;                                                     \
        o[5] = d[1] * (real)4 + (d[5] - d[3] * (real)5);                                \
    }
/* A^T with its columns divided by 4, -6, -6, 24, 24, 1 */
#define PV_WIN_OUT_4(s, y)                                                              \
    {                                                                                   \
        const vec a_ = s[1] + s[2], b_ = s[1] - s[2];                                   \
        const vec c_ = s[3] + s[4], d_ = s[3] - s[4];                                   \
        y[0] = s[0] * (real)0.25 + (c_ * (real)(1.0 / 24) - a_ * (real)(1.0 / 6));      \
        y[1] = d_ * (real)(1.0 / 12) - b_ * (real)(1.0 / 6);                            \
        y[2] = (c_ - a_) * (real)(1.0 / 6);                                             \
        y[3] = (d_ * (real)2 - b_) * (real)(1.0 / 6) + s[5];                            \
    }
#define PV_WIN_W_4(g, u)                                                                \
    {                                                                                   \
        const vec s_ = g[0] + g[2], t_ = g[0] + g[2] * (real)4;                         \
        u[0] = g[0];                                                                    \
        u[1] = s_ + g[1];                                                               \
        u[2] = s_ - g[1];                                                               \
        u[3] = t_ + g[1] * (real)2;                                                     \
        u[4] = t_ - g[1] * (real)2;                                                     \
        u[5] = g[2];                                                                    \
    }

/* ---- the matrix-product micro-kernel ------------------------------------------------
 *
 *     C[i][0 .. NV*VL) = (acc ? C[i] : 0) + sum_{k < K} A[i * lda + k] * B[k * ldb + ..]
 *
 * for i < MR: MR rows of V (tiles, broadcast), NV vectors of U (output channels).
 * MR * NV + NV + 1 registers. */
#define PYCONV_WGEMM_NAME(ISA, T, MR, NV) pyconv_wgemm_##ISA##_##T##_##MR##x##NV
#define PYCONV_DEFINE_WGEMM(ISA, T, MR, NV)                                             \
    PV_ATTR_##ISA static void PYCONV_WGEMM_NAME(ISA, T, MR, NV)(                        \
        const PV_T_##T *restrict A, int64_t lda, const PV_T_##T *restrict B,            \
        int64_t ldb, PV_T_##T *restrict C, int64_t ldc, int64_t K, int acc)             \
    {                                                                                   \
        typedef pv_##ISA##_##T vec;                                                     \
        typedef PV_T_##T real;                                                          \
        enum { VL = sizeof(vec) / sizeof(real) };                                       \
        vec c[MR][NV];                                                                  \
        _Pragma("GCC unroll 16") for (int i = 0; i < (MR); ++i)                         \
            _Pragma("GCC unroll 16") for (int v = 0; v < (NV); ++v)                     \
        {                                                                               \
            if (acc) memcpy(&c[i][v], C + i * ldc + v * VL, sizeof(vec));               \
            else c[i][v] = (vec){0};                                                    \
        }                                                                               \
        for (int64_t k = 0; k < K; ++k) {                                               \
            vec b[NV];                                                                  \
            _Pragma("GCC unroll 16") for (int v = 0; v < (NV); ++v)                     \
                memcpy(&b[v], B + k * ldb + v * VL, sizeof(vec));                       \
            _Pragma("GCC unroll 16") for (int i = 0; i < (MR); ++i)                     \
            {                                                                           \
                const real a = A[i * lda + k];                                          \
                _Pragma("GCC unroll 16") for (int v = 0; v < (NV); ++v)                 \
                    c[i][v] += b[v] * a;                                                \
            }                                                                           \
        }                                                                               \
        _Pragma("GCC unroll 16") for (int i = 0; i < (MR); ++i)                         \
            _Pragma("GCC unroll 16") for (int v = 0; v < (NV); ++v)                     \
                memcpy(C + i * ldc + v * VL, &c[i][v], sizeof(vec));                    \
    }

/* ---- one work item, for one ISA, dtype and tile size ---------------------------------
 *
 * PYCONV_DEFINE_WINO(ISA, T, VLN, MRB, MRS, NV) defines, for VLN lanes (a literal: it
 * picks the transpose), micro-kernels of MRB and MRS tiles x NV vectors, and
 * pyconv_wino_item_<ISA>_<T>_<m> for m = 2 and 4. */
#define PYCONV_WINO_ITEM_NAME(ISA, T, M) pyconv_wino_item_##ISA##_##T##_##M

#define PYCONV_DEFINE_WINO(ISA, T, VLN, MRB, MRS, NV)                                   \
    PYCONV_DEFINE_WGEMM(ISA, T, MRB, NV)                                                \
    PYCONV_DEFINE_WGEMM(ISA, T, MRS, NV)                                                \
    PYCONV_DEFINE_WINO_SHARED(ISA, T, VLN, MRB, MRS, NV)                                \
    PYCONV_DEFINE_WINO_M(ISA, T, 2)                                                     \
    PYCONV_DEFINE_WINO_M(ISA, T, 4)

/* Helpers shared by both tile sizes: staging, weight transposition, products, stores. */
#define PYCONV_DEFINE_WINO_SHARED(ISA, T, VLN, MRB, MRS, NV)                            \
    PV_ATTR_##ISA static inline void pv_wtr_##ISA##_##T(pv_##ISA##_##T *r)              \
    {                                                                                   \
        PV_TRANSPOSE_##VLN(pv_##ISA##_##T, r)                                           \
    }                                                                                   \
                                                                                        \
    /* Rows h0 .. h0 + alpha - 1 (padded coordinates) of the group's input planes xg,   \
     * channels-last and zero-padded: S[i][q][c], q < wp, c < cig_pad. */               \
    PV_ATTR_##ISA static void pv_wstage_##ISA##_##T(const pyconv_wino_plan *p,          \
                                                    const PV_T_##T *xg, int64_t h0,     \
                                                    PV_T_##T *S)                        \
    {                                                                                   \
        typedef pv_##ISA##_##T vec;                                                     \
        typedef PV_T_##T real;                                                          \
        enum { VL = sizeof(vec) / sizeof(real) };                                       \
        const int64_t cp = p->cig_pad, HW = p->H * p->W, W = p->W;                      \
        for (int64_t i = 0; i < p->alpha; ++i) {                                        \
            real *row = S + i * p->wp * cp;                                             \
            const int64_t ih = h0 + i - p->pt;                                          \
            if (ih < 0 || ih >= p->H) {                                                 \
                memset(row, 0, (size_t)(p->wp * cp) * sizeof(real));                    \
                continue;                                                               \
            }                                                                           \
            memset(row, 0, (size_t)(p->pl * cp) * sizeof(real));                        \
            memset(row + (p->pl + W) * cp, 0,                                           \
                   (size_t)((p->wp - p->pl - W) * cp) * sizeof(real));                  \
            for (int64_t c0 = 0; c0 < cp; c0 += VL) {                                   \
                const int64_t nch = p->Cig - c0 < VL ? p->Cig - c0 : VL;                \
                const real *src = xg + c0 * HW + ih * W;                                \
                for (int64_t w0 = 0; w0 < W; w0 += VL) {                                \
                    const int64_t nw = W - w0 < VL ? W - w0 : VL;                       \
                    vec r[VL];                                                          \
                    if (nch == VL && nw == VL) {                                        \
                        for (int j = 0; j < VL; ++j)                                    \
                            memcpy(&r[j], src + j * HW + w0, sizeof(vec));              \
                    } else {                                                            \
                        real t[VL][VL];                                                 \
                        memset(t, 0, sizeof(t));                                        \
                        for (int64_t j = 0; j < nch; ++j)                               \
                            pv_tail_##ISA##_##T(t[j], src + j * HW + w0, nw);           \
                        memcpy(r, t, sizeof(t));                                        \
                    }                                                                   \
                    pv_wtr_##ISA##_##T(r);                                              \
                    real *dst = row + (p->pl + w0) * cp + c0;                           \
                    for (int64_t l = 0; l < nw; ++l)                                    \
                        memcpy(dst + l * cp, &r[l], sizeof(vec));                       \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
                                                                                        \
    /* M[xi] (+)= V[xi] . U[xi] for every frequency xi, the block's `nt` tiles (rows    \
     * past nt are zeros in V and scratch in M), input channels c0 .. c0 + kn - 1. */   \
    PV_ATTR_##ISA static void pv_wprod_##ISA##_##T(const pyconv_wino_plan *p,           \
                                                   const PV_T_##T *V, const PV_T_##T *U, \
                                                   PV_T_##T *Mb, int64_t nt, int64_t c0, \
                                                   int64_t kn, int acc)                 \
    {                                                                                   \
        typedef pv_##ISA##_##T vec;                                                     \
        typedef PV_T_##T real;                                                          \
        enum { VL = sizeof(vec) / sizeof(real) };                                       \
        const int64_t a2 = p->alpha * p->alpha, cp = p->cig_pad, cols = p->cols;        \
        for (int64_t xi = 0; xi < a2; ++xi) {                                           \
            const real *Vx = V + xi * p->tb_pad * cp + c0;                              \
            const real *Ux = U + xi * cols; /* U[c][xi][j] */                           \
            real *Mx = Mb + xi * p->tb_pad * cols;                                      \
            for (int64_t j0 = 0; j0 < cols; j0 += (NV) * VL) {                          \
                int64_t t0 = 0;                                                         \
                for (; t0 + (MRB) <= nt; t0 += (MRB))                                   \
                    PYCONV_WGEMM_NAME(ISA, T, MRB, NV)(Vx + t0 * cp, cp, Ux + j0, a2 * cols, \
                                                       Mx + t0 * cols + j0, cols, kn,   \
                                                       acc);                            \
                for (; t0 < nt; t0 += (MRS))                                            \
                    PYCONV_WGEMM_NAME(ISA, T, MRS, NV)(Vx + t0 * cp, cp, Ux + j0, a2 * cols, \
                                                       Mx + t0 * cols + j0, cols, kn,   \
                                                       acc);                            \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
                                                                                        \
    /* Output rows oh0 .. oh0 + m - 1 of channels co0 .. co0 + cols - 1 from the       \
     * channels-last Y[oi][ow][j] into the group's NCHW output yg.  *flag becomes NaN   \
     * if a stored value is not finite (the sum of v - v, 0 for finite v). */           \
    PV_ATTR_##ISA static void pv_wstore_##ISA##_##T(const pyconv_wino_plan *p,          \
                                                    const PV_T_##T *Y, PV_T_##T *yg,    \
                                                    int64_t co0, int64_t oh0,           \
                                                    PV_T_##T *flag)                     \
    {                                                                                   \
        typedef pv_##ISA##_##T vec;                                                     \
        typedef PV_T_##T real;                                                          \
        enum { VL = sizeof(vec) / sizeof(real) };                                       \
        const int64_t plane = p->Ho * p->Wo, cols = p->cols;                            \
        vec bad = (vec){0};                                                             \
        real bad_tail = 0;                                                              \
        for (int64_t oi = 0; oi < p->m && oh0 + oi < p->Ho; ++oi) {                     \
            const real *yrow = Y + oi * p->yw * cols;                                   \
            for (int64_t j0 = 0; j0 < cols; j0 += VL) {                                 \
                int64_t nco = p->Cog - (co0 + j0);                                      \
                if (nco <= 0) break;                                                    \
                if (nco > VL) nco = VL;                                                 \
                real *dst = yg + (co0 + j0) * plane + (oh0 + oi) * p->Wo;               \
                for (int64_t w0 = 0; w0 < p->Wo; w0 += VL) {                            \
                    const int64_t nw = p->Wo - w0 < VL ? p->Wo - w0 : VL;               \
                    vec r[VL];                                                          \
                    for (int l = 0; l < VL; ++l)                                        \
                        memcpy(&r[l], yrow + (w0 + l) * cols + j0, sizeof(vec));        \
                    pv_wtr_##ISA##_##T(r);                                              \
                    if (nw == VL) {                                                     \
                        for (int64_t j = 0; j < nco; ++j) {                             \
                            memcpy(dst + j * plane + w0, &r[j], sizeof(vec));           \
                            bad += r[j] - r[j];                                         \
                        }                                                               \
                    } else {                                                            \
                        for (int64_t j = 0; j < nco; ++j) {                             \
                            const real *v = (const real *)&r[j];                        \
                            pv_tail_##ISA##_##T(dst + j * plane + w0, v, nw);           \
                            for (int64_t k = 0; k < nw; ++k) bad_tail += v[k] - v[k];   \
                        }                                                               \
                    }                                                                   \
                }                                                                       \
            }                                                                           \
        }                                                                               \
        for (int k = 0; k < VL; ++k) bad_tail += bad[k];                                \
        *flag += bad_tail;                                                              \
    }

/* The tile-size dependent parts: the transforms and the work item. */
#define PYCONV_DEFINE_WINO_M(ISA, T, M)                                                 \
    /* V rows t0 .. t0 + tw - 1 from the staged rows S of one tile row. */              \
    PV_ATTR_##ISA static void pv_win_##ISA##_##T##_##M(const pyconv_wino_plan *p,       \
                                                        const PV_T_##T *S, PV_T_##T *V, \
                                                        int64_t t0)                     \
    {                                                                                   \
        typedef pv_##ISA##_##T vec;                                                     \
        typedef PV_T_##T real;                                                          \
        enum { VL = sizeof(vec) / sizeof(real), A = (M) + 2 };                          \
        const int64_t cp = p->cig_pad, rs = p->wp * cp, vs = p->tb_pad * cp;            \
        for (int64_t k = 0; k < p->tw; ++k) {                                           \
            const real *s0 = S + k * (M) * cp;                                          \
            real *v0 = V + (t0 + k) * cp;                                               \
            for (int64_t c = 0; c < cp; c += VL) {                                      \
                vec e[A][A];                                                            \
                _Pragma("GCC unroll 8") for (int j = 0; j < A; ++j)                     \
                {                                                                       \
                    vec d[A], o[A];                                                     \
                    _Pragma("GCC unroll 8") for (int i = 0; i < A; ++i)                 \
                        memcpy(&d[i], s0 + i * rs + j * cp + c, sizeof(vec));          \
                    PV_WIN_IN_##M(d, o)                                                 \
                    _Pragma("GCC unroll 8") for (int i = 0; i < A; ++i) e[i][j] = o[i]; \
                }                                                                       \
                _Pragma("GCC unroll 8") for (int i = 0; i < A; ++i)                     \
                {                                                                       \
                    vec o[A];                                                           \
                    PV_WIN_IN_##M(e[i], o)                                              \
                    _Pragma("GCC unroll 8") for (int j = 0; j < A; ++j)                 \
                        memcpy(v0 + (i * A + j) * vs + c, &o[j], sizeof(vec));          \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
                                                                                        \
    /* U[c][xi][j] = (G g G^T)[xi] for the taps g of output channel co0 + j (zero past  \
     * Cog) and input channel c0 + c, c < kn, of the group's weights wg.  VL channels at \
     * a time, their taps for each vector of VL output channels are transposed (9 VL x   \
     * VL blocks) into the L1-sized scratch tw[((v * VL + c) * 9 + t) * VL + lane], then \
     * transformed, all vectors of a channel in a row so that each line of U is written  \
     * whole while it is in L1. */                                                      \
    PV_ATTR_##ISA static void pv_wwt_##ISA##_##T##_##M(const pyconv_wino_plan *p,       \
                                                        const PV_T_##T *wg, int64_t co0, \
                                                        int64_t c0, int64_t kn,         \
                                                        PV_T_##T *U, PV_T_##T *tw)      \
    {                                                                                   \
        typedef pv_##ISA##_##T vec;                                                     \
        typedef PV_T_##T real;                                                          \
        enum { VL = sizeof(vec) / sizeof(real), A = (M) + 2 };                          \
        const int64_t cols = p->cols, rowlen = p->Cig * 9;                              \
        for (int64_t cc = 0; cc < kn; cc += VL) {                                       \
            const int64_t nc = kn - cc < VL ? kn - cc : VL, ne = nc * 9;                \
            for (int64_t j0 = 0; j0 < cols; j0 += VL) {                                 \
                int64_t nco = p->Cog - (co0 + j0);                                      \
                nco = nco < 0 ? 0 : (nco > VL ? VL : nco);                              \
                const real *src = wg + (co0 + j0) * rowlen + (c0 + cc) * 9;             \
                real *tv = tw + j0 * 9 * VL;                                            \
                for (int64_t e0 = 0; e0 < ne; e0 += VL) {                               \
                    vec r[VL];                                                          \
                    if (nco == VL && e0 + VL <= ne) {                                   \
                        for (int j = 0; j < VL; ++j)                                    \
                            memcpy(&r[j], src + j * rowlen + e0, sizeof(vec));          \
                    } else {                                                            \
                        real t[VL][VL];                                                 \
                        const int64_t n = ne - e0 < VL ? ne - e0 : VL;                  \
                        memset(t, 0, sizeof(t));                                        \
                        for (int64_t j = 0; j < nco; ++j)                               \
                            pv_tail_##ISA##_##T(t[j], src + j * rowlen + e0, n);        \
                        memcpy(r, t, sizeof(t));                                        \
                    }                                                                   \
                    pv_wtr_##ISA##_##T(r);                                              \
                    for (int l = 0; l < VL; ++l)                                        \
                        memcpy(tv + (e0 + l) * VL, &r[l], sizeof(vec));                 \
                }                                                                       \
            }                                                                           \
            for (int64_t c = 0; c < nc; ++c)                                            \
                for (int64_t j0 = 0; j0 < cols; j0 += VL) {                             \
                    const real *tc = tw + (j0 * 9 + c * 9) * VL;                        \
                    vec h[A][3];                                                        \
                    _Pragma("GCC unroll 4") for (int s = 0; s < 3; ++s)                 \
                    {                                                                   \
                        vec g[3], u[A];                                                 \
                        _Pragma("GCC unroll 4") for (int r = 0; r < 3; ++r)             \
                            memcpy(&g[r], tc + (r * 3 + s) * VL, sizeof(vec));          \
                        PV_WIN_W_##M(g, u)                                              \
                        _Pragma("GCC unroll 8") for (int a = 0; a < A; ++a) h[a][s] = u[a]; \
                    }                                                                   \
                    real *uc = U + (cc + c) * (A * A) * cols + j0;                      \
                    _Pragma("GCC unroll 8") for (int a = 0; a < A; ++a)                 \
                    {                                                                   \
                        vec u[A];                                                       \
                        PV_WIN_W_##M(h[a], u)                                           \
                        _Pragma("GCC unroll 8") for (int b = 0; b < A; ++b)             \
                            memcpy(uc + (a * A + b) * cols, &u[b], sizeof(vec));        \
                    }                                                                   \
                }                                                                       \
        }                                                                               \
    }                                                                                   \
                                                                                        \
    /* The outputs of tiles t0 .. t0 + tw - 1 (one tile row) from M, plus the bias      \
     * (cols values), into the channels-last Y[oi][ow][j]. */                           \
    PV_ATTR_##ISA static void pv_wout_##ISA##_##T##_##M(const pyconv_wino_plan *p,      \
                                                         const PV_T_##T *Mb,            \
                                                         const PV_T_##T *bias,          \
                                                         int64_t t0, PV_T_##T *Y)       \
    {                                                                                   \
        typedef pv_##ISA##_##T vec;                                                     \
        typedef PV_T_##T real;                                                          \
        enum { VL = sizeof(vec) / sizeof(real), A = (M) + 2 };                          \
        const int64_t cols = p->cols, ms = p->tb_pad * cols, ys = p->yw * cols;         \
        for (int64_t k = 0; k < p->tw; ++k) {                                           \
            const real *m0 = Mb + (t0 + k) * cols;                                      \
            real *y0 = Y + k * (M) * cols;                                              \
            for (int64_t j = 0; j < cols; j += VL) {                                    \
                vec z[M][A], bv;                                                        \
                memcpy(&bv, bias + j, sizeof(vec));                                     \
                _Pragma("GCC unroll 8") for (int b = 0; b < A; ++b)                     \
                {                                                                       \
                    vec s[A], o[M];                                                     \
                    _Pragma("GCC unroll 8") for (int a = 0; a < A; ++a)                 \
                        memcpy(&s[a], m0 + (a * A + b) * ms + j, sizeof(vec));          \
                    PV_WIN_OUT_##M(s, o)                                                \
                    _Pragma("GCC unroll 4") for (int a = 0; a < (M); ++a) z[a][b] = o[a]; \
                }                                                                       \
                _Pragma("GCC unroll 4") for (int a = 0; a < (M); ++a)                   \
                {                                                                       \
                    vec o[M];                                                           \
                    PV_WIN_OUT_##M(z[a], o)                                             \
                    _Pragma("GCC unroll 4") for (int b = 0; b < (M); ++b)               \
                    {                                                                   \
                        const vec r = o[b] + bv;                                        \
                        memcpy(y0 + a * ys + b * cols + j, &r, sizeof(vec));            \
                    }                                                                   \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
                                                                                        \
    /* Work item `item` = (group, block of tile rows, range of panels); ws: this        \
     * thread's workspace (p->ws_each elements), whose element off_tmp + cols becomes   \
     * NaN if an output is not finite (the caller zeroes it). */                        \
    PV_ATTR_##ISA static void PYCONV_WINO_ITEM_NAME(ISA, T, M)(                         \
        const pyconv_wino_plan *p, const void *xv, const void *wv, const void *bv,      \
        void *yv, void *wsv, int64_t item)                                              \
    {                                                                                   \
        typedef PV_T_##T real;                                                          \
        const real *x = (const real *)xv, *w = (const real *)wv, *b = (const real *)bv; \
        real *y = (real *)yv, *ws = (real *)wsv;                                        \
        real *S = ws + p->off_s, *V = ws + p->off_v, *U = ws + p->off_u;                \
        real *wT = ws + p->off_wt, *Mb = ws + p->off_m, *Y = ws + p->off_y;             \
        real *bias = ws + p->off_tmp;                                                   \
        const int64_t rng = item % p->nranges;                                          \
        const int64_t blk = item / p->nranges % p->nblocks;                             \
        const int64_t g = item / p->nranges / p->nblocks;                               \
        const int64_t r0 = blk * p->R;                                                  \
        const int64_t nr = p->N * p->th - r0 < p->R ? p->N * p->th - r0 : p->R;         \
        const int64_t nt = nr * p->tw, a2 = p->alpha * p->alpha;                        \
        const int64_t plane = p->H * p->W, oplane = p->Ho * p->Wo;                      \
        /* V: the block's tiles; rows past nt stay zero for the short micro-kernels */  \
        for (int64_t r = 0; r < nr; ++r) {                                              \
            const int64_t n = (r0 + r) / p->th, tr = (r0 + r) % p->th;                  \
            pv_wstage_##ISA##_##T(p, x + (n * p->C + g * p->Cig) * plane, tr * (M), S); \
            pv_win_##ISA##_##T##_##M(p, S, V, r * p->tw);                               \
        }                                                                               \
        /* the micro-kernels take mr_big rows, then mr_small rows up to nt or past it */ \
        const int64_t rows = nt / p->mr_big * p->mr_big                                 \
                             + pyconv_ceil_div(nt % p->mr_big, p->mr_small) * p->mr_small;    \
        if (nt < rows)                                                                  \
            for (int64_t xi = 0; xi < a2; ++xi)                                         \
                memset(V + (xi * p->tb_pad + nt) * p->cig_pad, 0,                       \
                       (size_t)((rows - nt) * p->cig_pad) * sizeof(real));              \
        const int64_t pend = (rng + 1) * p->ppr < p->npanels ? (rng + 1) * p->ppr       \
                                                               : p->npanels;            \
        const real *wg = w + g * p->Cog * p->Cig * 9;                                   \
        for (int64_t pn = rng * p->ppr; pn < pend; ++pn) {                              \
            const int64_t co0 = pn * p->cols;                                           \
            for (int64_t c0 = 0; c0 < p->Cig; c0 += p->kc) {                            \
                const int64_t kn = p->Cig - c0 < p->kc ? p->Cig - c0 : p->kc;           \
                pv_wwt_##ISA##_##T##_##M(p, wg, co0, c0, kn, U, wT);                    \
                pv_wprod_##ISA##_##T(p, V, U, Mb, nt, c0, kn, c0 > 0);                  \
            }                                                                           \
            for (int64_t j = 0; j < p->cols; ++j)                                       \
                bias[j] = (b != NULL && co0 + j < p->Cog) ? b[g * p->Cog + co0 + j] : 0; \
            for (int64_t r = 0; r < nr; ++r) {                                          \
                const int64_t n = (r0 + r) / p->th, tr = (r0 + r) % p->th;              \
                pv_wout_##ISA##_##T##_##M(p, Mb, bias, r * p->tw, Y);                   \
                pv_wstore_##ISA##_##T(p, Y, y + (n * p->Co + g * p->Cog) * oplane, co0, \
                                      tr * (M), bias + p->cols);                        \
            }                                                                           \
        }                                                                               \
    }

/* ---- the variants ---------------------------------------------------------------- */
typedef void (*pyconv_wino_item_f)(const pyconv_wino_plan *, const void *, const void *,
                                   const void *, void *, void *, int64_t);
typedef struct {
    pyconv_wino_item_f f2, f4; /* F(2x2, 3x3), F(4x4, 3x3) */
    int64_t vl, cols, mr_big, mr_small;
} pyconv_wino_kernels;
typedef struct {
    const char *name; /* as in pyconv_isas[] */
    pyconv_wino_kernels f32, f64;
} pyconv_wino_isa;

#define PYCONV_WINO_KERNELS(ISA, T, VLN, MRB, MRS, NV)                                \
    {                                                                                   \
        PYCONV_WINO_ITEM_NAME(ISA, T, 2), PYCONV_WINO_ITEM_NAME(ISA, T, 4), (VLN),      \
            (NV) * (VLN), (MRB), (MRS)                                                  \
    }

/* Shapes: MRB x NV accumulators (+ NV + 1) fit the register file, as for the direct
 * tiles; MRS x NV serves the rest of a block, so that a block of few tiles (a 7x7 layer
 * at batch 1 has 4 of 4x4) wastes no rows; at least 8 accumulators hide the latency. */
#if defined(__aarch64__)
PYCONV_DEFINE_WINO(base, f32, 4, 8, 4, 2)
PYCONV_DEFINE_WINO(base, f64, 2, 8, 4, 2)
#define PV_WINO_BASE_F32 PYCONV_WINO_KERNELS(base, f32, 4, 8, 4, 2)
#define PV_WINO_BASE_F64 PYCONV_WINO_KERNELS(base, f64, 2, 8, 4, 2)
#else
PYCONV_DEFINE_WINO(base, f32, 4, 6, 4, 2)
PYCONV_DEFINE_WINO(base, f64, 2, 6, 4, 2)
#define PV_WINO_BASE_F32 PYCONV_WINO_KERNELS(base, f32, 4, 6, 4, 2)
#define PV_WINO_BASE_F64 PYCONV_WINO_KERNELS(base, f64, 2, 6, 4, 2)
#endif

#if PYCONV_X86
PYCONV_DEFINE_WINO(avx2, f32, 8, 6, 4, 2)
PYCONV_DEFINE_WINO(avx2, f64, 4, 6, 4, 2)
PYCONV_DEFINE_WINO(avx512, f32, 16, 8, 4, 2)
PYCONV_DEFINE_WINO(avx512, f64, 8, 8, 4, 2)
#endif

static const pyconv_wino_isa pyconv_wino_isas[] = {
#if PYCONV_X86
    {"avx512", PYCONV_WINO_KERNELS(avx512, f32, 16, 8, 4, 2),
     PYCONV_WINO_KERNELS(avx512, f64, 8, 8, 4, 2)},
    {"avx2", PYCONV_WINO_KERNELS(avx2, f32, 8, 6, 4, 2),
     PYCONV_WINO_KERNELS(avx2, f64, 4, 6, 4, 2)},
#endif
    {"baseline", PV_WINO_BASE_F32, PV_WINO_BASE_F64},
};

/* The kernels of the ISA in use (pyconv_active_isa). */
static const pyconv_wino_isa *pyconv_wino_active(void)
{
    const int n = (int)(sizeof(pyconv_wino_isas) / sizeof(pyconv_wino_isas[0]));
    for (int i = 0; i < n; ++i)
        if (strcmp(pyconv_wino_isas[i].name, pyconv_active_isa->name) == 0)
            return &pyconv_wino_isas[i];
    return &pyconv_wino_isas[n - 1];
}

/* ---- the border check's statistics, for one input plane ------------------------------
 *
 * core: sum of |x| over the pixels every tap meets at some output (padded rows and
 * columns 2 .. Ho-1 / Wo-1).  band[side] (top, bottom, left, right): the largest |x| in
 * the input rows (columns) at padded positions `dh` (`dw`), those a tile mixes with taps
 * that never meet them (see _winograd.pxi); -1 marks a position that is not a pixel. */
#define PYCONV_WINO_STATS(T, SUFFIX, FABS)                                              \
    static void pyconv_wino_stats_##SUFFIX(const T *xp, int64_t H, int64_t W,           \
                                           int64_t pt, int64_t pl, int64_t Ho,          \
                                           int64_t Wo, const int64_t *dh,               \
                                           const int64_t *dw, double *core,             \
                                           double *band)                                \
    {                                                                                   \
        int64_t r0 = 2 - pt, r1 = Ho - pt, c0 = 2 - pl, c1 = Wo - pl;                   \
        if (r0 < 0) r0 = 0;                                                             \
        if (c0 < 0) c0 = 0;                                                             \
        if (r1 > H) r1 = H;                                                             \
        if (c1 > W) c1 = W;                                                             \
        double s = 0;                                                                   \
        for (int64_t i = r0; i < r1; ++i) {                                             \
            /* a row in the input's precision, 16 lanes (vectorised; a float32 row sum  \
             * can only overflow where the exact one exceeds FLT_MAX, and then the      \
             * check passes as it should) */                                            \
            const T *row = xp + i * W;                                                  \
            T acc[16] = {0}, a = 0;                                                     \
            int64_t j = c0;                                                             \
            for (; j + 16 <= c1; j += 16)                                               \
                for (int k = 0; k < 16; ++k) acc[k] += FABS(row[j + k]);                \
            for (; j < c1; ++j) a += FABS(row[j]);                                      \
            for (int k = 0; k < 16; ++k) a += acc[k];                                   \
            s += (double)a;                                                             \
        }                                                                               \
        *core = s;                                                                      \
        for (int side = 0; side < 4; ++side) {                                          \
            double mx = 0;                                                              \
            for (int k = 0; k < 2; ++k) {                                               \
                const int64_t q = side < 2 ? dh[2 * side + k] : dw[2 * (side - 2) + k]; \
                if (q < 0) continue;                                                    \
                const int64_t n = side < 2 ? W : H, step = side < 2 ? 1 : W;            \
                const T *v = side < 2 ? xp + q * W : xp + q;                            \
                for (int64_t j = 0; j < n; ++j) {                                       \
                    const double a = FABS(v[j * step]);                                 \
                    mx = (a > mx || a != a) ? a : mx;                                   \
                }                                                                       \
            }                                                                           \
            band[side] = mx;                                                            \
        }                                                                               \
    }
PYCONV_WINO_STATS(float, f32, fabsf)
PYCONV_WINO_STATS(double, f64, fabs)

#endif /* PYCONV_WINOGRAD_H */
