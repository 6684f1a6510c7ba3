/* pyconv's micro-kernels and their run-time ISA dispatch.
 *
 * Every kernel is written once (_tile_impl.h) with GCC vector types and instantiated
 * per ISA, so one portable binary carries an AVX-512 and an AVX2 build of the hot loop
 * (x86-64) next to a baseline build (SSE2 on x86-64, NEON on aarch64).  The variant is
 * chosen once at import time with __builtin_cpu_supports; nothing here is compiled
 * with -march=native.  Why vector types and not the auto-vectoriser: GCC vectorised the
 * float64 tile along the wrong axis (8x slower) in prototypes; explicit vectors keep
 * every accumulator in a register (checked in the disassembly).
 */
#ifndef PYCONV_KERNELS_H
#define PYCONV_KERNELS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#define PYCONV_HAVE_OPENMP 1
#else
#define PYCONV_HAVE_OPENMP 0
#endif

#ifndef PYCONV_BUILD_CFLAGS
#define PYCONV_BUILD_CFLAGS ""
#endif

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define PYCONV_X86 1
#include <immintrin.h>
#else
#define PYCONV_X86 0
#endif

/* Output channels per tile of the blocked kernels; packing depends on it. */
#define PYCONV_OCB 8

typedef void (*pyconv_tile_f32)(const float *, const int64_t *, int64_t, const float *,
                                int64_t, const float *, float *, int64_t, int64_t, int64_t,
                                int64_t, int64_t);
typedef void (*pyconv_tile_f64)(const double *, const int64_t *, int64_t, const double *,
                                int64_t, const double *, double *, int64_t, int64_t, int64_t,
                                int64_t, int64_t);

typedef struct {
    const char *name;
    pyconv_tile_f32 f32_block, f32_single;   /* PYCONV_OCB channels / one channel */
    pyconv_tile_f64 f64_block, f64_single;
    int64_t f32_block_px, f32_single_px;     /* wide positions per tile */
    int64_t f64_block_px, f64_single_px;
    /* a wider PYCONV_OCB-channel tile (more accumulators per load; wins on large
     * planes, wastes work on small ones); the same as *_block where there is none */
    pyconv_tile_f32 f32_wide;
    pyconv_tile_f64 f64_wide;
    int64_t f32_wide_px, f64_wide_px;
    /* a one-channel tile of 2 vectors, for problems smaller than *_single covers */
    pyconv_tile_f32 f32_narrow;
    pyconv_tile_f64 f64_narrow;
    int64_t f32_narrow_px, f64_narrow_px;
} pyconv_isa;

/* ---- baseline: 16-byte vectors (SSE2 on x86-64, NEON on aarch64) ---------------- */
typedef float pv_f32x4 __attribute__((vector_size(16)));
typedef double pv_f64x2 __attribute__((vector_size(16)));

#define TILE_NAME tile_base_f32_block
#define TILE_T float
#define TILE_VEC pv_f32x4
#define TILE_VL 4
#define TILE_OCB PYCONV_OCB
#define TILE_NV 2
#define TILE_ATTR
#include "_tile_impl.h"

#define TILE_NAME tile_base_f32_single
#define TILE_T float
#define TILE_VEC pv_f32x4
#define TILE_VL 4
#define TILE_OCB 1
#define TILE_NV 8
#define TILE_ATTR
#include "_tile_impl.h"

#define TILE_NAME tile_base_f64_block
#define TILE_T double
#define TILE_VEC pv_f64x2
#define TILE_VL 2
#define TILE_OCB PYCONV_OCB
#define TILE_NV 2
#define TILE_ATTR
#include "_tile_impl.h"

#define TILE_NAME tile_base_f64_single
#define TILE_T double
#define TILE_VEC pv_f64x2
#define TILE_VL 2
#define TILE_OCB 1
#define TILE_NV 8
#define TILE_ATTR
#include "_tile_impl.h"

#define TILE_NAME tile_base_f32_narrow
#define TILE_T float
#define TILE_VEC pv_f32x4
#define TILE_VL 4
#define TILE_OCB 1
#define TILE_NV 2
#define TILE_ATTR 
#include "_tile_impl.h"

#define TILE_NAME tile_base_f64_narrow
#define TILE_T double
#define TILE_VEC pv_f64x2
#define TILE_VL 2
#define TILE_OCB 1
#define TILE_NV 2
#define TILE_ATTR 
#include "_tile_impl.h"

static const pyconv_isa pyconv_isa_base = {
    "baseline", tile_base_f32_block, tile_base_f32_single, tile_base_f64_block,
    tile_base_f64_single, 2 * 4, 8 * 4, 2 * 2, 8 * 2,
    tile_base_f32_block, tile_base_f64_block, 2 * 4, 2 * 2,
    tile_base_f32_narrow, tile_base_f64_narrow, 2 * 4, 2 * 2};

#if PYCONV_X86
/* ---- AVX2 + FMA: 32-byte vectors, 16 registers ----------------------------------- */
typedef float pv_f32x8 __attribute__((vector_size(32)));
typedef double pv_f64x4 __attribute__((vector_size(32)));

#define TILE_NAME tile_avx2_f32_block
#define TILE_T float
#define TILE_VEC pv_f32x8
#define TILE_VL 8
#define TILE_OCB PYCONV_OCB
#define TILE_NV 1
#define TILE_ATTR __attribute__((target("avx2,fma")))
#include "_tile_impl.h"

#define TILE_NAME tile_avx2_f32_single
#define TILE_T float
#define TILE_VEC pv_f32x8
#define TILE_VL 8
#define TILE_OCB 1
#define TILE_NV 8
#define TILE_ATTR __attribute__((target("avx2,fma")))
#include "_tile_impl.h"

#define TILE_NAME tile_avx2_f64_block
#define TILE_T double
#define TILE_VEC pv_f64x4
#define TILE_VL 4
#define TILE_OCB PYCONV_OCB
#define TILE_NV 1
#define TILE_ATTR __attribute__((target("avx2,fma")))
#include "_tile_impl.h"

#define TILE_NAME tile_avx2_f64_single
#define TILE_T double
#define TILE_VEC pv_f64x4
#define TILE_VL 4
#define TILE_OCB 1
#define TILE_NV 8
#define TILE_ATTR __attribute__((target("avx2,fma")))
#include "_tile_impl.h"

#define TILE_NAME tile_avx2_f32_narrow
#define TILE_T float
#define TILE_VEC pv_f32x8
#define TILE_VL 8
#define TILE_OCB 1
#define TILE_NV 2
#define TILE_ATTR __attribute__((target("avx2,fma")))
#include "_tile_impl.h"

#define TILE_NAME tile_avx2_f64_narrow
#define TILE_T double
#define TILE_VEC pv_f64x4
#define TILE_VL 4
#define TILE_OCB 1
#define TILE_NV 2
#define TILE_ATTR __attribute__((target("avx2,fma")))
#include "_tile_impl.h"

static const pyconv_isa pyconv_isa_avx2 = {
    "avx2", tile_avx2_f32_block, tile_avx2_f32_single, tile_avx2_f64_block,
    tile_avx2_f64_single, 1 * 8, 8 * 8, 1 * 4, 8 * 4,
    tile_avx2_f32_block, tile_avx2_f64_block, 1 * 8, 1 * 4,
    tile_avx2_f32_narrow, tile_avx2_f64_narrow, 2 * 8, 2 * 4};

/* ---- AVX-512F + FMA: 64-byte vectors, 32 registers ------------------------------- */
typedef float pv_f32x16 __attribute__((vector_size(64)));
typedef double pv_f64x8 __attribute__((vector_size(64)));

/* Partial rows of a tile are stored with one masked move, not an element loop. */
__attribute__((target("avx512f"))) static inline void
pv_tail_avx512_f32(float *dst, const float *src, int64_t n)
{
    const __mmask16 m = (__mmask16)((1u << n) - 1u);
    _mm512_mask_storeu_ps(dst, m, _mm512_maskz_loadu_ps(m, src));
}

__attribute__((target("avx512f"))) static inline void
pv_tail_avx512_f64(double *dst, const double *src, int64_t n)
{
    const __mmask8 m = (__mmask8)((1u << n) - 1u);
    _mm512_mask_storeu_pd(dst, m, _mm512_maskz_loadu_pd(m, src));
}

#define TILE_NAME tile_avx512_f32_block
#define TILE_TAIL pv_tail_avx512_f32
#define TILE_T float
#define TILE_VEC pv_f32x16
#define TILE_VL 16
#define TILE_OCB PYCONV_OCB
#define TILE_NV 2
#define TILE_ATTR __attribute__((target("avx512f,fma")))
#include "_tile_impl.h"

#define TILE_NAME tile_avx512_f32_single
#define TILE_TAIL pv_tail_avx512_f32
#define TILE_T float
#define TILE_VEC pv_f32x16
#define TILE_VL 16
#define TILE_OCB 1
#define TILE_NV 8
#define TILE_ATTR __attribute__((target("avx512f,fma")))
#include "_tile_impl.h"

#define TILE_NAME tile_avx512_f64_block
#define TILE_TAIL pv_tail_avx512_f64
#define TILE_T double
#define TILE_VEC pv_f64x8
#define TILE_VL 8
#define TILE_OCB PYCONV_OCB
#define TILE_NV 2
#define TILE_ATTR __attribute__((target("avx512f,fma")))
#include "_tile_impl.h"

#define TILE_NAME tile_avx512_f64_single
#define TILE_TAIL pv_tail_avx512_f64
#define TILE_T double
#define TILE_VEC pv_f64x8
#define TILE_VL 8
#define TILE_OCB 1
#define TILE_NV 8
#define TILE_ATTR __attribute__((target("avx512f,fma")))
#include "_tile_impl.h"

#define TILE_NAME tile_avx512_f32_wide
#define TILE_TAIL pv_tail_avx512_f32
#define TILE_T float
#define TILE_VEC pv_f32x16
#define TILE_VL 16
#define TILE_OCB PYCONV_OCB
#define TILE_NV 3
#define TILE_ATTR __attribute__((target("avx512f,fma")))
#include "_tile_impl.h"

#define TILE_NAME tile_avx512_f64_wide
#define TILE_TAIL pv_tail_avx512_f64
#define TILE_T double
#define TILE_VEC pv_f64x8
#define TILE_VL 8
#define TILE_OCB PYCONV_OCB
#define TILE_NV 3
#define TILE_ATTR __attribute__((target("avx512f,fma")))
#include "_tile_impl.h"

#define TILE_NAME tile_avx512_f32_narrow
#define TILE_TAIL pv_tail_avx512_f32
#define TILE_T float
#define TILE_VEC pv_f32x16
#define TILE_VL 16
#define TILE_OCB 1
#define TILE_NV 2
#define TILE_ATTR __attribute__((target("avx512f,fma")))
#include "_tile_impl.h"

#define TILE_NAME tile_avx512_f64_narrow
#define TILE_TAIL pv_tail_avx512_f64
#define TILE_T double
#define TILE_VEC pv_f64x8
#define TILE_VL 8
#define TILE_OCB 1
#define TILE_NV 2
#define TILE_ATTR __attribute__((target("avx512f,fma")))
#include "_tile_impl.h"

static const pyconv_isa pyconv_isa_avx512 = {
    "avx512", tile_avx512_f32_block, tile_avx512_f32_single, tile_avx512_f64_block,
    tile_avx512_f64_single, 2 * 16, 8 * 16, 2 * 8, 8 * 8,
    tile_avx512_f32_wide, tile_avx512_f64_wide, 3 * 16, 3 * 8,
    tile_avx512_f32_narrow, tile_avx512_f64_narrow, 2 * 16, 2 * 8};
#endif /* PYCONV_X86 */

/* The variant in use; chosen by pyconv_isa_select() at import. */
static const pyconv_isa *pyconv_active_isa = &pyconv_isa_base;

/* Best variant this CPU runs, or the one named ("avx512", "avx2", "baseline").
 * Returns 0 on success, -1 if the named variant is unknown or unsupported here. */
static int pyconv_isa_select(const char *name)
{
    const pyconv_isa *best = &pyconv_isa_base;
#if PYCONV_X86
    __builtin_cpu_init();
    int has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    int has_avx512 = has_avx2 && __builtin_cpu_supports("avx512f");
    if (has_avx512) best = &pyconv_isa_avx512;
    else if (has_avx2) best = &pyconv_isa_avx2;
    if (name && name[0]) {
        if (strcmp(name, "avx512") == 0 && has_avx512) best = &pyconv_isa_avx512;
        else if (strcmp(name, "avx2") == 0 && has_avx2) best = &pyconv_isa_avx2;
        else if (strcmp(name, "baseline") == 0) best = &pyconv_isa_base;
        else return -1;
    }
#else
    if (name && name[0] && strcmp(name, "baseline") != 0) return -1;
#endif
    pyconv_active_isa = best;
    return 0;
}

/* 64-byte aligned allocation (a cache line, and a whole zmm register). */
static void *pyconv_alloc(size_t nbytes)
{
    void *p = NULL;
    if (nbytes == 0) nbytes = 64;
    if (posix_memalign(&p, 64, nbytes) != 0) return NULL;
    return p;
}

static int pyconv_omp_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Packing: the zero-padded, phase-split copy of one input plane (see _core.pyx).
 *
 *     ws[((a * Sw + b) * Hq + i) * Wq + j] = x[i * sh + a - pt, j * sw + b - pl]  (or 0)
 *
 * for the phases a < Sh, b < Sw that some kernel tap reads (Sh = min(sh, extent of the
 * kernel), so a 1x1 stride-2 conv packs one phase, not four), and the Hq phase rows
 * from row i0 on (a band of a large image; rows past the image are zeros).
 *
 * Written in C with literal unit and stride-2 column steps so that the compiler
 * vectorises the copies; rows of small planes are short, and a libc call per row cost
 * more than the copy (a 14x14 depthwise channel made ~50 calls), so short runs are
 * copied inline and only long ones go to memcpy / memset. */
#if defined(__GNUC__) && !defined(__clang__)
#define PYCONV_NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define PYCONV_NO_LIBCALLS
#endif

/* for a >= 0, b > 0; not (a + b - 1) / b, which overflows for strides near 2**63 */
static inline int64_t pyconv_ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0); }

#define PYCONV_PACK(T, SUFFIX)                                                          \
    PYCONV_NO_LIBCALLS static inline void pyconv_zero_##SUFFIX(T *dst, int64_t n)       \
    {                                                                                   \
        if (n >= 64) { memset(dst, 0, (size_t)n * sizeof(T)); return; }                \
        for (int64_t j = 0; j < n; ++j) dst[j] = 0;                                     \
    }                                                                                   \
    PYCONV_NO_LIBCALLS static void                                                      \
    pyconv_pack_##SUFFIX(const T *restrict xp, T *restrict ws, int64_t H, int64_t W,    \
                         int64_t xs2, int64_t xs3, int64_t sh, int64_t sw, int64_t Sh,  \
                         int64_t Sw, int64_t pt, int64_t pl, int64_t Hq, int64_t Wq,    \
                         int64_t i0, int64_t a_lo, int64_t a_hi)                        \
    {                                                                                   \
        (void)Sh;  /* phase rows a_lo .. a_hi - 1 of the Sh (threads split a plane) */   \
        for (int64_t a = a_lo; a < a_hi; ++a)                                           \
            for (int64_t b = 0; b < Sw; ++b) {                                          \
                T *dst = ws + (a * Sw + b) * Hq * Wq;                                   \
                /* columns j with 0 <= j * sw + b - pl < W */                           \
                int64_t j_lo = pl > b ? pyconv_ceil_div(pl - b, sw) : 0;                \
                int64_t j_hi = W + pl > b ? pyconv_ceil_div(W + pl - b, sw) : 0;        \
                if (j_hi > Wq) j_hi = Wq;                                               \
                if (j_lo > j_hi) j_lo = j_hi;                                           \
                const int64_t n = j_hi - j_lo;                                          \
                for (int64_t i = i0; i < i0 + Hq; ++i, dst += Wq) {                     \
                    const int64_t r = i * sh + a - pt;                                  \
                    if (r < 0 || r >= H || n == 0) {                                    \
                        pyconv_zero_##SUFFIX(dst, Wq);                                  \
                        continue;                                                       \
                    }                                                                   \
                    pyconv_zero_##SUFFIX(dst, j_lo);                                    \
                    const T *restrict src = xp + r * xs2 + (j_lo * sw + b - pl) * xs3;  \
                    T *restrict d = dst + j_lo;                                         \
                    if (sw == 1 && xs3 == 1) {                                          \
                        if (n >= 64) memcpy(d, src, (size_t)n * sizeof(T));             \
                        else for (int64_t j = 0; j < n; ++j) d[j] = src[j];             \
                    } else if (sw == 2 && xs3 == 1) {                                   \
                        for (int64_t j = 0; j < n; ++j) d[j] = src[2 * j];              \
                    } else {                                                            \
                        const int64_t step = sw * xs3;                                  \
                        for (int64_t j = 0; j < n; ++j) d[j] = src[j * step];           \
                    }                                                                   \
                    pyconv_zero_##SUFFIX(dst + j_hi, Wq - j_hi);                        \
                }                                                                       \
            }                                                                           \
    }
PYCONV_PACK(float, f32)
PYCONV_PACK(double, f64)

/* Monotonic clock in nanoseconds (the kernels poll for Ctrl-C at most this often). */
static inline int64_t pyconv_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A flag one thread raises and the others read inside a parallel region. */
static inline int pyconv_flag_get(const int *flag)
{
    return __atomic_load_n(flag, __ATOMIC_RELAXED);
}

static inline void pyconv_flag_set(int *flag)
{
    __atomic_store_n(flag, 1, __ATOMIC_RELAXED);
}

static inline int pyconv_thread_num(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

#endif /* PYCONV_KERNELS_H */
