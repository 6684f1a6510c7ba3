/* The C side of pyconv's compiled core, declared to Cython in _kernels.pxd: the
 * micro-kernels and their ISA dispatch (_isa.h, _tile.h), the packing of padded,
 * phase-split input planes, aligned allocation, a monotonic clock and the flags the
 * OpenMP threads share.
 *
 * GCC and Clang only (vector types, __builtin_cpu_supports, posix_memalign,
 * clock_gettime): Linux and macOS; Windows/MSVC is not supported.
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

#include "_isa.h"

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

/* Columns [*lo, *hi) of phase b that hold input (0 <= j * sw + b - pl < W), in a row of
 * Wq. */
static inline void pyconv_phase_columns(int64_t W, int64_t Wq, int64_t sw, int64_t pl,
                                        int64_t b, int64_t *lo, int64_t *hi)
{
    int64_t j_lo = pl > b ? pyconv_ceil_div(pl - b, sw) : 0;
    int64_t j_hi = W + pl > b ? pyconv_ceil_div(W + pl - b, sw) : 0;
    if (j_hi > Wq) j_hi = Wq;
    if (j_lo > j_hi) j_lo = j_hi;
    *lo = j_lo;
    *hi = j_hi;
}

#define PYCONV_PACK_PHASES 16  /* column phases whose bounds are computed once */

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
        /* row by row, the column phases of a row one after the other: the input row  \
         * is read from memory once (a stride-2 depthwise layer spent half its time     \
         * here, reading every row twice) */                                            \
        /* columns j of phase b with 0 <= j * sw + b - pl < W: [jl[b], jh[b]) (computed \
         * once: a row's divisions cost more than its copy) */                          \
        int64_t jl[PYCONV_PACK_PHASES], jh[PYCONV_PACK_PHASES];                         \
        for (int64_t b = 0; b < Sw && b < PYCONV_PACK_PHASES; ++b)                      \
            pyconv_phase_columns(W, Wq, sw, pl, b, &jl[b], &jh[b]);                     \
        for (int64_t a = a_lo; a < a_hi; ++a)                                           \
            for (int64_t i = i0; i < i0 + Hq; ++i) {                                    \
                const int64_t r = i * sh + a - pt;                                      \
                for (int64_t b = 0; b < Sw; ++b) {                                      \
                    T *dst = ws + ((a * Sw + b) * Hq + (i - i0)) * Wq;                  \
                    int64_t j_lo, j_hi;                                                 \
                    if (b < PYCONV_PACK_PHASES)                                         \
                        j_lo = jl[b], j_hi = jh[b];                                     \
                    else                                                                \
                        pyconv_phase_columns(W, Wq, sw, pl, b, &j_lo, &j_hi);           \
                    const int64_t n = j_hi - j_lo;                                      \
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
PYCONV_PACK_LANES(float, f32)
PYCONV_PACK_LANES(double, f64)

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

#include "_winograd.h"

#endif /* PYCONV_KERNELS_H */
