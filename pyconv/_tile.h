/* The register-blocked micro-kernel, as a macro that defines one instance of it.
 *
 *     PYCONV_DEFINE_TILE(ISA, T, OCB, NV)
 *
 * defines pyconv_tile_<ISA>_<T>_<OCB>x<NV>, for the vector type pv_<ISA>_<T>, the
 * attributes PV_ATTR_<ISA> and the partial-row store pv_tail_<ISA>_<T> (all in
 * _isa.h); T is f32 or f64.  The tile computes OCB output channels x NV vectors of
 * consecutive "wide" positions p = oh * Wq + ow of one (image, group) problem:
 *
 *     acc[j][q] = sum_t w[j * wstride + t] * xb[off[t] + q]
 *
 * where t runs over the (in-channel, kh, kw) taps and off[t] already encodes channel,
 * stride phase, dilation and kernel offset (see _core.pyx).  The weights are read in
 * their own (C_out, C_in/groups * kH * kW) layout, one row pointer per channel, so no
 * packing pass is needed.  The accumulators stay in vector registers for the whole
 * reduction; each tap costs NV loads, OCB broadcasts and OCB * NV fused multiply-adds,
 * so OCB * NV + NV + 1 registers must fit the register file.  Wide positions whose
 * column ow >= Wo are computed, never stored.
 *
 * The weight is broadcast by the vector * scalar product, not by (vec){0} + w: adding
 * +0.0 is not an identity for -0.0, so the compiler kept a vaddss and a zero register
 * for it, and the AVX2 4x3 tile spilled an accumulator (46 instead of 102 GFLOP/s).
 * Check the disassembly after changing this (docs/development.md says how).
 */
#ifndef PYCONV_TILE_H
#define PYCONV_TILE_H

#include <stdint.h>
#include <string.h>

/* Scalar types by suffix. */
typedef float PV_T_f32;
typedef double PV_T_f64;

/* The same vector type for unaligned loads and stores: pvu_<ISA>_<T>.  (memcpy into a
 * vector was split into 16-byte moves for stores; a dereference is one instruction.) */
#define PV_UNALIGNED(ISA, T)                                                           \
    typedef PV_T_##T pvu_##ISA##_##T                                                   \
        __attribute__((vector_size(sizeof(pv_##ISA##_##T)), aligned(sizeof(PV_T_##T)), \
                       may_alias));

/* Lanes of an ISA's vector of T, and wide positions per tile: constant expressions. */
#define PV_LANES(ISA, T) ((int64_t)(sizeof(pv_##ISA##_##T) / sizeof(PV_T_##T)))

#define PYCONV_TILE_NAME(ISA, T, OCB, NV) pyconv_tile_##ISA##_##T##_##OCB##x##NV

/* Keep the tiles' short copies (a row segment of the output) inline: GCC turns the
 * copy loops into memcpy calls otherwise, a libc call per output row segment. */
#if defined(__GNUC__) && !defined(__clang__)
#define PV_INLINE_COPIES __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define PV_INLINE_COPIES
#endif

/* A tile's results out: buf holds NCH rows (output channels), BUF_STRIDE apart, of the
 * tile's wide positions p0 .. p0 + np - 1; position p is column p % Wq of row p / Wq,
 * stored in the NCHW plane of its channel (out_plane apart) when that column is below
 * Wo.  Whole vectors first (fixed-size copies compile to single moves), then the ISA's
 * tail store.  Expects the tile's names in scope: out, out_plane, p0, np, Wq, Wo and the
 * types real, uvec and the constant VL.  (A 32-bit division where it fits: a 64-bit one
 * costs as much as a small tile's arithmetic, e.g. a depthwise 3x3 tile's 72
 * multiply-adds.) */
#define PV_STORE_WIDE(ISA, T, NCH, BUF, BUF_STRIDE)                                      \
    {                                                                                    \
        int64_t row = (p0 | Wq) >> 31 ? p0 / Wq : (int64_t)((uint32_t)p0 / (uint32_t)Wq); \
        int64_t col = p0 - row * Wq, q = 0;                                              \
        while (q < np) {                                                                 \
            int64_t seg = Wq - col;                                                      \
            if (seg > np - q) seg = np - q;                                              \
            if (col < Wo) {                                                              \
                const int64_t n = col + seg > Wo ? Wo - col : seg;                       \
                for (int64_t j = 0; j < (NCH); ++j) {                                    \
                    real *dst = out + j * out_plane + row * Wo + col;                    \
                    const real *src = (BUF) + j * (BUF_STRIDE) + q;                      \
                    int64_t k = 0;                                                       \
                    for (; k + VL <= n; k += VL) *(uvec *)(dst + k) = *(const uvec *)(src + k); \
                    if (k < n) pv_tail_##ISA##_##T(dst + k, src + k, n - k);             \
                }                                                                        \
            }                                                                            \
            q += seg;                                                                    \
            ++row;                                                                       \
            col = 0;                                                                     \
        }                                                                                \
    }

#define PYCONV_DEFINE_TILE(ISA, T, OCB, NV)                                              \
    PV_ATTR_##ISA PV_INLINE_COPIES static void PYCONV_TILE_NAME(ISA, T, OCB, NV)(        \
        const PV_T_##T *restrict xb,   /* IN: problem base + p0 */                       \
        const int64_t *restrict off,   /* IN: ntaps offsets into xb */                   \
        int64_t ntaps,                                                                   \
        const PV_T_##T *restrict w,    /* IN: weight row of the first channel */         \
        int64_t wstride,               /* elements between weight rows */                \
        const PV_T_##T *restrict bias, /* IN: OCB values or NULL */                      \
        PV_T_##T *restrict out,        /* OUT: plane of the first channel */             \
        int64_t out_plane,             /* elements between channel planes */             \
        int64_t p0, int64_t np,        /* first wide position, how many to store */      \
        int64_t Wq, int64_t Wo)                                                          \
    {                                                                                    \
        typedef pv_##ISA##_##T vec;                                                      \
        typedef pvu_##ISA##_##T uvec;                                                    \
        typedef PV_T_##T real;                                                           \
        enum { VL = sizeof(vec) / sizeof(real), PX = (NV) * VL };                        \
        vec acc[OCB][NV];                                                                \
        real buf[OCB][PX];                                                               \
        const real *wr[OCB];                                                             \
        _Pragma("GCC unroll 16") for (int j = 0; j < (OCB); ++j)                         \
        {                                                                                \
            wr[j] = w + j * wstride;                                                     \
            _Pragma("GCC unroll 16") for (int v = 0; v < (NV); ++v) acc[j][v] = (vec){0}; \
        }                                                                                \
        for (int64_t t = 0; t < ntaps; ++t) {                                            \
            const real *xp = xb + off[t];                                                \
            vec xv[NV];                                                                  \
            _Pragma("GCC unroll 16") for (int v = 0; v < (NV); ++v)                      \
                xv[v] = *(const uvec *)(xp + v * VL); /* unaligned load */               \
            _Pragma("GCC unroll 16") for (int j = 0; j < (OCB); ++j)                     \
            {                                                                            \
                const real wj = wr[j][t];                                                \
                _Pragma("GCC unroll 16") for (int v = 0; v < (NV); ++v)                  \
                    acc[j][v] += xv[v] * wj;                                             \
            }                                                                            \
        }                                                                                \
        _Pragma("GCC unroll 16") for (int j = 0; j < (OCB); ++j)                         \
        {                                                                                \
            const real bj = bias ? bias[j] : (real)0;                                    \
            _Pragma("GCC unroll 16") for (int v = 0; v < (NV); ++v)                      \
            {                                                                            \
                *(uvec *)&buf[j][v * VL] = bias ? acc[j][v] + bj : acc[j][v];            \
            }                                                                            \
        }                                                                                \
        PV_STORE_WIDE(ISA, T, (OCB), &buf[0][0], PX)                                     \
    }

#endif /* PYCONV_TILE_H */

#ifndef PYCONV_DOT_H
#define PYCONV_DOT_H

/* The weight-gradient micro-kernel, as a macro that defines one instance of it.
 *
 *     PYCONV_DEFINE_DOT(ISA, T, MI, NJ)
 *
 * defines pyconv_dot_<ISA>_<T>_<MI>x<NJ>: MI x NJ dot products, each over the same
 * R rows of Wo positions (a row: one output row, or a whole wide slice),
 *
 *     dw[i * dw_stride + j] = sum_r sum_{q < Wo} gy[i * gy_stride + gyr[r] + q]
 *                                                * x[off[j] + xr[r] + q]
 *
 * for i < ni <= MI (output channels) and j < nj <= NJ (taps).  The accumulators, MI x
 * NJ vectors along q, stay in registers over the whole reduction and are summed across
 * lanes (in double) once at the end, so each result has one fixed summation order.
 * gy rows are padded with zeros to a whole number of vectors; the last, partial vector
 * of each x row is masked, so that x values past Wo (other columns of the packed input,
 * possibly inf or NaN) never enter a product.  Registers: MI * NJ + MI + 1.
 */
typedef int32_t PV_I_f32;
typedef int64_t PV_I_f64;

#define PYCONV_DOT_NAME(ISA, T, MI, NJ) pyconv_dot_##ISA##_##T##_##MI##x##NJ

/* One vector step of the dot tile at column q (MASKED: the row's partial last vector). */
#define PV_DOT_STEP(MI, NJ, q, MASKED)                                                   \
    {                                                                                    \
        vec gv[MI];                                                                      \
        _Pragma("GCC unroll 16") for (int i = 0; i < (MI); ++i)                          \
            gv[i] = *(const uvec *)(gi[i] + g0 + (q));                                   \
        _Pragma("GCC unroll 16") for (int j = 0; j < (NJ); ++j)                          \
        {                                                                                \
            vec xv = *(const uvec *)(xrow + oj[j] + (q));                                \
            if (MASKED) xv = (vec)((ivec)xv & mask);                                     \
            _Pragma("GCC unroll 16") for (int i = 0; i < (MI); ++i)                      \
                acc[i][j] += gv[i] * xv;                                                 \
        }                                                                                \
    }

#define PYCONV_DEFINE_DOT(ISA, T, MI, NJ)                                                \
    PV_ATTR_##ISA static void PYCONV_DOT_NAME(ISA, T, MI, NJ)(                           \
        const PV_T_##T *restrict gy,  /* IN: first channel's packed gradient rows */     \
        int64_t gy_stride,            /* elements between channels of gy */              \
        const int64_t *restrict gyr,  /* IN: R row offsets into a channel of gy */       \
        const PV_T_##T *restrict x,   /* IN: packed input */                             \
        const int64_t *restrict off,  /* IN: nj tap offsets into x */                    \
        const int64_t *restrict xr,   /* IN: R row offsets into x */                     \
        int64_t R, int64_t Wo,                                                           \
        PV_T_##T *restrict dw,        /* OUT: ni rows of nj results */                   \
        int64_t dw_stride, int64_t ni, int64_t nj)                                       \
    {                                                                                    \
        typedef pv_##ISA##_##T vec;                                                      \
        typedef pvu_##ISA##_##T uvec;                                                    \
        typedef PV_T_##T real;                                                           \
        typedef PV_I_##T ireal;                                                          \
        typedef ireal ivec __attribute__((vector_size(sizeof(vec))));                    \
        enum { VL = sizeof(vec) / sizeof(real) };                                        \
        const int64_t nv = Wo / VL, tail = Wo - nv * VL;                                 \
        ivec mask;                                                                       \
        for (int k = 0; k < VL; ++k) mask[k] = k < tail ? (ireal)-1 : 0;                 \
        const real *gi[MI];                                                              \
        int64_t oj[NJ];                                                                  \
        /* short blocks repeat their last row / tap; those results are not stored */    \
        for (int i = 0; i < (MI); ++i) gi[i] = gy + (i < ni ? i : ni - 1) * gy_stride;   \
        for (int j = 0; j < (NJ); ++j) oj[j] = off[j < nj ? j : nj - 1];                 \
        vec acc[MI][NJ];                                                                 \
        _Pragma("GCC unroll 16") for (int i = 0; i < (MI); ++i)                          \
            _Pragma("GCC unroll 16") for (int j = 0; j < (NJ); ++j) acc[i][j] = (vec){0}; \
        for (int64_t r = 0; r < R; ++r) {                                                \
            const real *xrow = x + xr[r];                                                \
            const int64_t g0 = gyr[r];                                                   \
            for (int64_t v = 0; v < nv; ++v) PV_DOT_STEP(MI, NJ, v * VL, 0)              \
            if (tail) PV_DOT_STEP(MI, NJ, nv * VL, 1)                                    \
        }                                                                                \
        /* the lanes summed: halves added as vectors down to 16 bytes (the vector     \
         * adds of a tree), the last 4 (float) or 2 (double) in double; one scalar add  \
         * per lane cost as much as a short reduction (a 28x28 layer at batch 1) */     \
        for (int i = 0; i < ni; ++i)                                                     \
            for (int j = 0; j < nj; ++j) {                                               \
                real lane[VL];                                                           \
                *(uvec *)lane = acc[i][j];                                               \
                _Pragma("GCC unroll 4") for (int w = VL / 2; w * sizeof(real) >= 16; w /= 2) \
                    _Pragma("GCC unroll 16") for (int k = 0; k < w; ++k) lane[k] += lane[k + w]; \
                double s = 0;                                                            \
                for (int k = 0; k < (int)(16 / sizeof(real)) && k < VL; ++k) s += lane[k]; \
                dw[i * dw_stride + j] = (real)s;                                         \
            }                                                                            \
    }

#endif /* PYCONV_DOT_H */

#ifndef PYCONV_DW3_H
#define PYCONV_DW3_H

/* The depthwise 3x3 stride-1 micro-kernel, as a macro that defines one instance of it.
 *
 *     PYCONV_DEFINE_DW3(ISA, T, R)
 *
 * defines pyconv_dw3_<ISA>_<T>: one channel's output rows [0, Ho) x columns [0, Wo)
 * from its packed plane x (row length Wq, rows Ho + 2, zero padding included):
 *
 *     out[r * Wo + c] = b + sum_{kh, kw} w[kh * 3 + kw] * x[(r + kh) * Wq + c + kw]
 *
 * summed in (kh, kw) order, as the generic tile sums its taps, so the results are the
 * same bit for bit.  A depthwise channel has 9 taps: the generic tile spends as much on
 * its fixed costs as on them, and makes 9 loads per 8 multiply-adds.  Here the 9
 * weights stay in registers and R output rows are computed together, so each input
 * vector is loaded once and used for up to 3 rows: (R + 2) * 3 loads per 9 R
 * multiply-adds.  Registers: 9 + R + 1.  Reads up to VL + 1 elements past the last row's
 * Wo: the packed workspace's margin.
 */
#define PYCONV_DW3_NAME(ISA, T) pyconv_dw3_##ISA##_##T

/* The depthwise kernels' common parts: the bias and store of RR rows of accumulators at
 * column q (NCOL of them valid), and the walk over the plane in blocks of R rows (then
 * 2, then 1) and whole vectors of columns (then the last, partial one). */
#define PV_DW_STORE(RR, q, NCOL)                                                         \
    _Pragma("GCC unroll 16") for (int r = 0; r < (RR); ++r)                              \
    {                                                                                    \
        real *dst = out + (r0 + r) * Wo + (q);                                           \
        const vec res = bias ? acc[r] + b : acc[r]; /* as the generic tile adds it */    \
        if ((NCOL) == VL)                                                                \
            *(uvec *)dst = res;                                                          \
        else {                                                                           \
            real tmp[VL];                                                                \
            *(uvec *)tmp = res;                                                          \
            tail_store(dst, tmp, (NCOL));                                                \
        }                                                                                \
    }

#define PV_DW_WALK(ROWS, R)                                                              \
    const int64_t nv = Wo / VL, tail = Wo - nv * VL;                                     \
    int64_t r0 = 0;                                                                      \
    for (; r0 + (R) <= Ho; r0 += (R)) {                                                  \
        for (int64_t v = 0; v < nv; ++v) ROWS(R, v * VL, VL)                             \
        if (tail) ROWS(R, nv * VL, tail)                                                 \
    }                                                                                    \
    for (; r0 + 2 <= Ho; r0 += 2) {                                                      \
        for (int64_t v = 0; v < nv; ++v) ROWS(2, v * VL, VL)                             \
        if (tail) ROWS(2, nv * VL, tail)                                                 \
    }                                                                                    \
    for (; r0 < Ho; ++r0) {                                                              \
        for (int64_t v = 0; v < nv; ++v) ROWS(1, v * VL, VL)                             \
        if (tail) ROWS(1, nv * VL, tail)                                                 \
    }

#define PV_DW3_ROWS(RR, q, NCOL)                                                         \
    {                                                                                    \
        vec acc[RR];                                                                     \
        _Pragma("GCC unroll 16") for (int r = 0; r < (RR); ++r) acc[r] = (vec){0};       \
        _Pragma("GCC unroll 16") for (int i = 0; i < (RR) + 2; ++i)                      \
            _Pragma("GCC unroll 3") for (int kw = 0; kw < 3; ++kw)                       \
            {                                                                            \
                const vec xv = *(const uvec *)(x + (r0 + i) * Wq + (q) + kw);            \
                _Pragma("GCC unroll 3") for (int kh = 0; kh < 3; ++kh)                   \
                    if (i - kh >= 0 && i - kh < (RR)) acc[i - kh] += xv * wv[kh * 3 + kw]; \
            }                                                                            \
        PV_DW_STORE(RR, q, NCOL)                                                         \
    }

#define PYCONV_DEFINE_DW3(ISA, T, R)                                                     \
    PV_ATTR_##ISA PV_INLINE_COPIES static void PYCONV_DW3_NAME(ISA, T)(                  \
        const PV_T_##T *restrict x,   /* IN: the packed plane */                         \
        int64_t Wq,                   /* its row length */                               \
        const PV_T_##T *restrict w,   /* IN: the 9 weights */                            \
        const PV_T_##T *restrict bias, /* IN: 1 value or NULL */                         \
        PV_T_##T *restrict out,       /* OUT: the Ho x Wo plane */                       \
        int64_t Ho, int64_t Wo)                                                          \
    {                                                                                    \
        typedef pv_##ISA##_##T vec;                                                      \
        typedef pvu_##ISA##_##T uvec;                                                    \
        typedef PV_T_##T real;                                                           \
        enum { VL = sizeof(vec) / sizeof(real) };                                        \
        const real b = bias ? bias[0] : (real)0;                                         \
        void (*const tail_store)(real *, const real *, int64_t) = pv_tail_##ISA##_##T;   \
        vec wv[9];                                                                       \
        for (int k = 0; k < 9; ++k) wv[k] = (vec){0} + w[k];                             \
        PV_DW_WALK(PV_DW3_ROWS, R)                                                       \
    }

#endif /* PYCONV_DW3_H */

#ifndef PYCONV_DWT_H
#define PYCONV_DWT_H

/* The depthwise 3x3 kernel for any stride and dilation: pyconv_dwt_<ISA>_<T>.
 *
 * The same sums as the generic tile, off[t] the 9 tap offsets into the packed,
 * phase-split plane (wide row length Wq): out[r * Wo + c] = b + sum_t w[t] *
 * x[r * Wq + c + off[t]].  No input is shared between output rows here (stride 2 reads
 * other phase rows), but the 9 weights stay in registers, R rows run side by side, and
 * the results go straight to the output: the generic tile's per-call costs were half
 * of a depthwise layer's time.  Registers: 9 + R + 1.
 */
#define PYCONV_DWT_NAME(ISA, T) pyconv_dwt_##ISA##_##T

#define PV_DWT_ROWS(RR, q, NCOL)                                                         \
    {                                                                                    \
        vec acc[RR];                                                                     \
        _Pragma("GCC unroll 16") for (int r = 0; r < (RR); ++r) acc[r] = (vec){0};       \
        _Pragma("GCC unroll 9") for (int t = 0; t < 9; ++t)                              \
            _Pragma("GCC unroll 16") for (int r = 0; r < (RR); ++r)                      \
                acc[r] += *(const uvec *)(x + (r0 + r) * Wq + (q) + off[t]) * wv[t];     \
        PV_DW_STORE(RR, q, NCOL)                                                         \
    }

#define PYCONV_DEFINE_DWT(ISA, T, R)                                                     \
    PV_ATTR_##ISA PV_INLINE_COPIES static void PYCONV_DWT_NAME(ISA, T)(                  \
        const PV_T_##T *restrict x,   /* IN: the packed plane */                         \
        int64_t Wq,                   /* its wide row length */                          \
        const int64_t *restrict off,  /* IN: the 9 tap offsets */                        \
        const PV_T_##T *restrict w,   /* IN: the 9 weights */                            \
        const PV_T_##T *restrict bias, /* IN: 1 value or NULL */                         \
        PV_T_##T *restrict out,       /* OUT: the Ho x Wo plane */                       \
        int64_t Ho, int64_t Wo)                                                          \
    {                                                                                    \
        typedef pv_##ISA##_##T vec;                                                      \
        typedef pvu_##ISA##_##T uvec;                                                    \
        typedef PV_T_##T real;                                                           \
        enum { VL = sizeof(vec) / sizeof(real) };                                        \
        const real b = bias ? bias[0] : (real)0;                                         \
        void (*const tail_store)(real *, const real *, int64_t) = pv_tail_##ISA##_##T;   \
        vec wv[9];                                                                       \
        for (int k = 0; k < 9; ++k) wv[k] = (vec){0} + w[k];                             \
        PV_DW_WALK(PV_DWT_ROWS, R)                                                       \
    }

#endif /* PYCONV_DWT_H */
