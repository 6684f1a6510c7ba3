/* The micro-kernel variants ("ISAs") and their run-time dispatch.
 *
 * One portable binary carries a tile set per instruction set: AVX-512 and AVX2 + FMA
 * on x86-64 next to a baseline of 16-byte vectors (SSE2 on x86-64, NEON on aarch64).
 * Nothing is compiled with -march=native; the variant is chosen once at import with
 * __builtin_cpu_supports, or named by PYCONV_ISA.  The tiles are written once
 * (_tile.h) with GCC vector types, because the auto-vectoriser vectorised a float64
 * tile along the wrong axis (8x slower) in prototypes.
 *
 * Each ISA picks its tile shapes for its own register file (OCB channels x NV vectors:
 * OCB * NV accumulators + NV input vectors + 1 broadcast must fit), measured with
 * `pyconv bench` (docs/performance.md).  Adding an ISA: its vector types, PV_ATTR_ and
 * tail stores, a PYCONV_DEFINE_TILE line per tile, a table, and a line in
 * pyconv_isas[].  Adding a tile shape: one PYCONV_DEFINE_TILE line and its place in
 * the table.
 */
#ifndef PYCONV_ISA_H
#define PYCONV_ISA_H

#include <stdint.h>
#include <string.h>

#include "_tile.h"
#include "_lanes.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define PYCONV_X86 1
#include <immintrin.h>
#else
#define PYCONV_X86 0
#endif

typedef void (*pyconv_tile_f32)(const float *, const int64_t *, int64_t, const float *,
                                int64_t, const float *, float *, int64_t, int64_t, int64_t,
                                int64_t, int64_t);
typedef void (*pyconv_tile_f64)(const double *, const int64_t *, int64_t, const double *,
                                int64_t, const double *, double *, int64_t, int64_t, int64_t,
                                int64_t, int64_t);

/* A tile and its shape: output channels, wide positions (vectors x lanes), and its
 * speed per position computed, relative to the block tile's (%, measured): the call's
 * tile is the one that computes its positions soonest, rounding included. */
typedef struct { pyconv_tile_f32 fn; int64_t ocb, px, speed; } pyconv_kernel_f32;
typedef struct { pyconv_tile_f64 fn; int64_t ocb, px, speed; } pyconv_kernel_f64;

/* A weight-gradient dot tile (_tile.h) and its shape: channels x taps. */
typedef void (*pyconv_dot_f32)(const float *, int64_t, const int64_t *, const float *,
                               const int64_t *, const int64_t *, int64_t, int64_t, float *,
                               int64_t, int64_t, int64_t);
typedef void (*pyconv_dot_f64)(const double *, int64_t, const int64_t *, const double *,
                               const int64_t *, const int64_t *, int64_t, int64_t, double *,
                               int64_t, int64_t, int64_t);
typedef struct { pyconv_dot_f32 fn; int64_t mi, nj; } pyconv_dotk_f32;
typedef struct { pyconv_dot_f64 fn; int64_t mi, nj; } pyconv_dotk_f64;

/* A channel-lanes tile (_lanes.h) and its shape: output channels x positions. */
typedef void (*pyconv_lanes_f32)(const float *, const int64_t *, int64_t, int64_t, int64_t,
                                 const float *, const float *, float *, int64_t, int64_t,
                                 int64_t, int64_t, int64_t, int64_t);
typedef void (*pyconv_lanes_f64)(const double *, const int64_t *, int64_t, int64_t, int64_t,
                                 const double *, const double *, double *, int64_t, int64_t,
                                 int64_t, int64_t, int64_t, int64_t);
typedef struct { pyconv_lanes_f32 fn; int64_t oc, np; } pyconv_lanesk_f32;
typedef struct { pyconv_lanes_f64 fn; int64_t oc, np; } pyconv_lanesk_f64;

/* The depthwise 3x3 stride-1 kernel (_tile.h): one channel's plane. */
typedef void (*pyconv_dw3_f32)(const float *, int64_t, const float *, const float *, float *,
                               int64_t, int64_t);
typedef void (*pyconv_dw3_f64)(const double *, int64_t, const double *, const double *,
                               double *, int64_t, int64_t);
/* ... and for any stride and dilation, with the 9 tap offsets */
typedef void (*pyconv_dwt_f32)(const float *, int64_t, const int64_t *, const float *,
                               const float *, float *, int64_t, int64_t);
typedef void (*pyconv_dwt_f64)(const double *, int64_t, const int64_t *, const double *,
                               const double *, double *, int64_t, int64_t);

/* The tiles of one dtype.  block and wide have the same ocb (wide holds more
 * positions: it wins on large planes and wastes work on small ones; the same tile as
 * block where an ISA has no wider one); alt, where there is one, has another channel
 * count and fewer positions (small planes: 7x7 layers); single and narrow compute one
 * channel (narrow: for problems smaller than half of single). */
typedef struct {
    pyconv_kernel_f32 block, wide, alt, single, narrow;
    pyconv_dotk_f32 dot;
    pyconv_lanesk_f32 lanes;
    pyconv_dw3_f32 dw3;
    pyconv_dwt_f32 dwt;
} pyconv_kernels_f32;
typedef struct {
    pyconv_kernel_f64 block, wide, alt, single, narrow;
    pyconv_dotk_f64 dot;
    pyconv_lanesk_f64 lanes;
    pyconv_dw3_f64 dw3;
    pyconv_dwt_f64 dwt;
} pyconv_kernels_f64;

typedef double (*pyconv_probe)(int64_t iters, double m, double c);

typedef struct {
    const char *name;
    const char *detail;        /* the instructions it uses, for show_config */
    int (*supported)(void);    /* does this CPU run it */
    pyconv_kernels_f32 f32;
    pyconv_kernels_f64 f64;
    pyconv_probe probe_f32, probe_f64;  /* the peak probe, and the lanes * chains */
    int64_t probe_flops_f32, probe_flops_f64;  /* flops per probe step */
} pyconv_isa;

#define PYCONV_PROBE(ISA, T, NACC) \
    .probe_##T = PYCONV_PROBE_NAME(ISA, T), .probe_flops_##T = 2 * (NACC) * PV_LANES(ISA, T)

#define PYCONV_KERNEL_AT(ISA, T, OCB, NV, SPEED) \
    { PYCONV_TILE_NAME(ISA, T, OCB, NV), (OCB), (NV) * PV_LANES(ISA, T), (SPEED) }
#define PYCONV_KERNEL(ISA, T, OCB, NV) PYCONV_KERNEL_AT(ISA, T, OCB, NV, 100)
#define PYCONV_DOT(ISA, T, MI, NJ) { PYCONV_DOT_NAME(ISA, T, MI, NJ), (MI), (NJ) }
#define PYCONV_LANES(ISA, T, NR, NP) \
    { PYCONV_LANES_NAME(ISA, T, NR, NP), (NR) * PV_LANES(ISA, T), (NP) }

/* Partial rows of a tile: an element loop, or one masked move where the ISA has it. */
#define PV_SCALAR_TAIL(ISA, T)                                                         \
    PV_ATTR_##ISA static inline void pv_tail_##ISA##_##T(PV_T_##T *dst, const PV_T_##T *src, \
                                                         int64_t n)                     \
    {                                                                                  \
        for (int64_t k = 0; k < n; ++k) dst[k] = src[k];                               \
    }

/* The peak probe: NACC independent chains of multiply-adds (enough to cover the
 * latency on every pipe), iters steps.  Returns a lane sum so nothing is optimised out;
 * m and c come from the caller so nothing is constant-folded.  The bench divides the
 * flops by the time to get the peak of the ISA in use (per core). */
#define PYCONV_PROBE_NAME(ISA, T) pyconv_probe_##ISA##_##T
#define PYCONV_DEFINE_PROBE(ISA, T, NACC)                                              \
    PV_ATTR_##ISA static double PYCONV_PROBE_NAME(ISA, T)(int64_t iters, double m,      \
                                                          double c)                     \
    {                                                                                  \
        typedef pv_##ISA##_##T vec;                                                    \
        typedef PV_T_##T real;                                                         \
        vec a[NACC];                                                                   \
        const vec mv = (vec){0} + (real)m, cv = (vec){0} + (real)c;                    \
        for (int i = 0; i < (NACC); ++i) a[i] = (vec){0} + (real)i;                    \
        for (int64_t k = 0; k < iters; ++k) {                                          \
            _Pragma("GCC unroll 32") for (int i = 0; i < (NACC); ++i) a[i] = a[i] * mv + cv; \
        }                                                                              \
        double s = 0;                                                                  \
        for (int i = 0; i < (NACC); ++i) s += (double)a[i][0];                         \
        return s;                                                                      \
    }

/* ---- baseline: 16-byte vectors (SSE2 on x86-64, NEON on aarch64) ----------------- */
typedef float pv_base_f32 __attribute__((vector_size(16)));
typedef double pv_base_f64 __attribute__((vector_size(16)));
PV_UNALIGNED(base, f32)
PV_UNALIGNED(base, f64)
#define PV_ATTR_base
PV_SCALAR_TAIL(base, f32)
PV_SCALAR_TAIL(base, f64)
static int pyconv_base_supported(void) { return 1; }

#if defined(__aarch64__)
/* NEON: 32 registers, fused multiply-add.  GCC broadcasts each weight from its own
 * scalar register (fmla by element), so a tile needs OCB + NV + OCB * NV registers:
 * 8 x 3 (35) spilled 3 accumulators in its hot loop, 7 x 3 (31) fits, with the fewest
 * loads per multiply-add (10 per 21) of the tiles that fit.  Dot tiles: 4 x 6 spilled,
 * 4 x 5 fits (tools/check_spills.py on the cross-built module, CI's AArch64 job). */
PYCONV_DEFINE_TILE(base, f32, 7, 3)
PYCONV_DEFINE_TILE(base, f64, 7, 3)
PYCONV_DEFINE_DOT(base, f32, 4, 5)
PYCONV_DEFINE_DOT(base, f64, 4, 5)
#define PV_BASE_BLOCK_F32 PYCONV_KERNEL(base, f32, 7, 3)
#define PV_BASE_BLOCK_F64 PYCONV_KERNEL(base, f64, 7, 3)
#define PV_BASE_DOT_F32 PYCONV_DOT(base, f32, 4, 5)
#define PV_BASE_DOT_F64 PYCONV_DOT(base, f64, 4, 5)
#define PV_BASE_DETAIL "NEON (aarch64), 16-byte vectors"
#else
/* SSE2: 16 registers and no FMA (a product needs a register of its own): 6 x 2, the
 * fastest of 4x2, 6x2, 4x3 and 8x1 measured (35.6 GFLOP/s float32, 17.1 float64 on Zen 4). */
PYCONV_DEFINE_TILE(base, f32, 6, 2)
PYCONV_DEFINE_TILE(base, f64, 6, 2)
PYCONV_DEFINE_DOT(base, f32, 2, 5)
PYCONV_DEFINE_DOT(base, f64, 2, 5)
#define PV_BASE_BLOCK_F32 PYCONV_KERNEL(base, f32, 6, 2)
#define PV_BASE_BLOCK_F64 PYCONV_KERNEL(base, f64, 6, 2)
#define PV_BASE_DOT_F32 PYCONV_DOT(base, f32, 2, 5)
#define PV_BASE_DOT_F64 PYCONV_DOT(base, f64, 2, 5)
#define PV_BASE_DETAIL "portable 16-byte vectors (SSE2 on x86-64)"
#endif
PYCONV_DEFINE_TILE(base, f32, 1, 8)
PYCONV_DEFINE_TILE(base, f32, 1, 2)
PYCONV_DEFINE_TILE(base, f64, 1, 8)
PYCONV_DEFINE_TILE(base, f64, 1, 2)
/* channel lanes 2 x 4: 8 accumulators, as few as both SSE2 (no FMA: a product
 * register each) and NEON (weights by element) hold with room */
PYCONV_DEFINE_LANES(base, f32, 2, 4)
PYCONV_DEFINE_LANES(base, f64, 2, 4)
PYCONV_DEFINE_PROBE(base, f32, 12)
PYCONV_DEFINE_PROBE(base, f64, 12)
PYCONV_DEFINE_DW3(base, f32, 4)
PYCONV_DEFINE_DW3(base, f64, 4)
PYCONV_DEFINE_DWT(base, f32, 4)
PYCONV_DEFINE_DWT(base, f64, 4)

static const pyconv_isa pyconv_isa_base = {
    .name = "baseline",
    .detail = PV_BASE_DETAIL,
    .supported = pyconv_base_supported,
    .f32 = {.block = PV_BASE_BLOCK_F32,
            .wide = PV_BASE_BLOCK_F32,
            .single = PYCONV_KERNEL(base, f32, 1, 8),
            .narrow = PYCONV_KERNEL(base, f32, 1, 2),
            .dot = PV_BASE_DOT_F32,
            .lanes = PYCONV_LANES(base, f32, 2, 4),
            .dw3 = PYCONV_DW3_NAME(base, f32),
            .dwt = PYCONV_DWT_NAME(base, f32)},
    .f64 = {.block = PV_BASE_BLOCK_F64,
            .wide = PV_BASE_BLOCK_F64,
            .single = PYCONV_KERNEL(base, f64, 1, 8),
            .narrow = PYCONV_KERNEL(base, f64, 1, 2),
            .dot = PV_BASE_DOT_F64,
            .lanes = PYCONV_LANES(base, f64, 2, 4),
            .dw3 = PYCONV_DW3_NAME(base, f64),
            .dwt = PYCONV_DWT_NAME(base, f64)},
    PYCONV_PROBE(base, f32, 12),
    PYCONV_PROBE(base, f64, 12),
};

#if PYCONV_X86
/* ---- AVX2 + FMA: 32-byte vectors, 16 registers ------------------------------------ */
typedef float pv_avx2_f32 __attribute__((vector_size(32)));
typedef double pv_avx2_f64 __attribute__((vector_size(32)));
PV_UNALIGNED(avx2, f32)
PV_UNALIGNED(avx2, f64)
#define PV_ATTR_avx2 __attribute__((target("avx2,fma")))
PV_SCALAR_TAIL(avx2, f32)
PV_SCALAR_TAIL(avx2, f64)
static int pyconv_avx2_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* 4 x 3: 12 accumulators + 3 input vectors + 1 broadcast = 16 registers; 7 loads per
 * 12 FMAs (the 8 x 1 tile this replaces made 9 loads per 8 FMAs).  Alternative 6 x 2
 * (12 + 2 + 1): as fast per position (float32 109.7 against 111.0 GFLOP/s on a 28x28
 * layer, float64 53.0 against 54.8, Zen 4), 16 positions instead of 24: a 7x7 plane
 * (56 wide positions) computes 64 instead of 72, and ran 12 % faster. */
PYCONV_DEFINE_TILE(avx2, f32, 4, 3)
PYCONV_DEFINE_TILE(avx2, f32, 6, 2)
PYCONV_DEFINE_TILE(avx2, f64, 6, 2)
PYCONV_DEFINE_TILE(avx2, f32, 1, 8)
PYCONV_DEFINE_TILE(avx2, f32, 1, 2)
PYCONV_DEFINE_TILE(avx2, f64, 4, 3)
PYCONV_DEFINE_TILE(avx2, f64, 1, 8)
PYCONV_DEFINE_TILE(avx2, f64, 1, 2)
/* 3 x 4 dot products: 12 accumulators + 3 gradient vectors + 1 input vector */
PYCONV_DEFINE_DOT(avx2, f32, 3, 4)
PYCONV_DEFINE_DOT(avx2, f64, 3, 4)
/* depthwise 3x3: 9 weights + 6 rows of accumulators + 1 input vector */
PYCONV_DEFINE_DW3(avx2, f32, 6)
PYCONV_DEFINE_DW3(avx2, f64, 6)
PYCONV_DEFINE_DWT(avx2, f32, 6)
PYCONV_DEFINE_DWT(avx2, f64, 6)
/* channel lanes 2 x 6: 12 accumulators + 2 weight vectors + 1 broadcast; 8 loads per
 * 12 FMAs.  94-99 GFLOP/s of the 100 peak on a 64-channel 3x3x3 layer (Zen 3, C
 * prototype), where 3 x 4 (7 loads) ran as fast but computes 72 of 64 channels. */
PYCONV_DEFINE_LANES(avx2, f32, 2, 6)
PYCONV_DEFINE_LANES(avx2, f64, 2, 6)
PYCONV_DEFINE_PROBE(avx2, f32, 12)
PYCONV_DEFINE_PROBE(avx2, f64, 12)

static const pyconv_isa pyconv_isa_avx2 = {
    .name = "avx2",
    .detail = "AVX2 + FMA, 32-byte vectors",
    .supported = pyconv_avx2_supported,
    .f32 = {.block = PYCONV_KERNEL(avx2, f32, 4, 3),
            .wide = PYCONV_KERNEL(avx2, f32, 4, 3),
            .alt = PYCONV_KERNEL_AT(avx2, f32, 6, 2, 99),
            .single = PYCONV_KERNEL_AT(avx2, f32, 1, 8, 76),  /* 85.4 against 111 */
            .narrow = PYCONV_KERNEL(avx2, f32, 1, 2),
            .dot = PYCONV_DOT(avx2, f32, 3, 4),
            .lanes = PYCONV_LANES(avx2, f32, 2, 6),
            .dw3 = PYCONV_DW3_NAME(avx2, f32),
            .dwt = PYCONV_DWT_NAME(avx2, f32)},
    .f64 = {.block = PYCONV_KERNEL(avx2, f64, 4, 3),
            .wide = PYCONV_KERNEL(avx2, f64, 4, 3),
            .alt = PYCONV_KERNEL_AT(avx2, f64, 6, 2, 97),
            .single = PYCONV_KERNEL(avx2, f64, 1, 8),
            .narrow = PYCONV_KERNEL(avx2, f64, 1, 2),
            .dot = PYCONV_DOT(avx2, f64, 3, 4),
            .lanes = PYCONV_LANES(avx2, f64, 2, 6),
            .dw3 = PYCONV_DW3_NAME(avx2, f64),
            .dwt = PYCONV_DWT_NAME(avx2, f64)},
    PYCONV_PROBE(avx2, f32, 12),
    PYCONV_PROBE(avx2, f64, 12),
};

/* ---- AVX-512F + FMA: 64-byte vectors, 32 registers -------------------------------- */
typedef float pv_avx512_f32 __attribute__((vector_size(64)));
typedef double pv_avx512_f64 __attribute__((vector_size(64)));
PV_UNALIGNED(avx512, f32)
PV_UNALIGNED(avx512, f64)
#define PV_ATTR_avx512 __attribute__((target("avx512f,fma")))

PV_ATTR_avx512 static inline void pv_tail_avx512_f32(float *dst, const float *src, int64_t n)
{
    const __mmask16 m = (__mmask16)((1u << n) - 1u);
    _mm512_mask_storeu_ps(dst, m, _mm512_maskz_loadu_ps(m, src));
}

PV_ATTR_avx512 static inline void pv_tail_avx512_f64(double *dst, const double *src, int64_t n)
{
    const __mmask8 m = (__mmask8)((1u << n) - 1u);
    _mm512_mask_storeu_pd(dst, m, _mm512_maskz_loadu_pd(m, src));
}

static int pyconv_avx512_supported(void)
{
    return pyconv_avx2_supported() && __builtin_cpu_supports("avx512f");
}

/* 8 x 2 and 8 x 3 (16 or 24 accumulators of the 32 registers): the wider tile was 7 %
 * faster per position on Zen 5 (2 % on Zen 4, whose 512-bit units are 256 bits wide) */
PYCONV_DEFINE_TILE(avx512, f32, 8, 2)
PYCONV_DEFINE_TILE(avx512, f32, 8, 3)
PYCONV_DEFINE_TILE(avx512, f32, 1, 8)
PYCONV_DEFINE_TILE(avx512, f32, 1, 2)
PYCONV_DEFINE_TILE(avx512, f64, 8, 2)
PYCONV_DEFINE_TILE(avx512, f64, 8, 3)
PYCONV_DEFINE_TILE(avx512, f64, 1, 8)
PYCONV_DEFINE_TILE(avx512, f64, 1, 2)
/* dot tiles 4 x 4: a 4 x 6 one needed 10 row pointers, and GCC, short of integer
 * registers, parked pointers in vector registers and spilled an input vector */
PYCONV_DEFINE_DOT(avx512, f32, 4, 4)
PYCONV_DEFINE_DOT(avx512, f64, 4, 4)
/* (no depthwise kernels of 64-byte vectors: their three unaligned loads per row, one
 * per kernel column, nearly all straddle two cache lines, and on Zen 4 the AVX2 ones ran
 * 1.3-1.6x faster: 139 against 180 us on dw32_112, 168 against 269 on dw128_56) */
/* channel lanes 2 x 12: 24 accumulators of the 32 registers (the AVX2 tile's loads
 * per multiply-add, twice the positions; not measured on an AVX-512 machine yet) */
PYCONV_DEFINE_LANES(avx512, f32, 2, 12)
PYCONV_DEFINE_LANES(avx512, f64, 2, 12)
PYCONV_DEFINE_PROBE(avx512, f32, 24)
PYCONV_DEFINE_PROBE(avx512, f64, 24)

static const pyconv_isa pyconv_isa_avx512 = {
    .name = "avx512",
    .detail = "AVX-512F + FMA, 64-byte vectors",
    .supported = pyconv_avx512_supported,
    .f32 = {.block = PYCONV_KERNEL(avx512, f32, 8, 2),
            .wide = PYCONV_KERNEL_AT(avx512, f32, 8, 3, 107),
            .single = PYCONV_KERNEL(avx512, f32, 1, 8),
            .narrow = PYCONV_KERNEL(avx512, f32, 1, 2),
            .dot = PYCONV_DOT(avx512, f32, 4, 4),
            .lanes = PYCONV_LANES(avx512, f32, 2, 12),
            .dw3 = PYCONV_DW3_NAME(avx2, f32),
            .dwt = PYCONV_DWT_NAME(avx2, f32)},
    .f64 = {.block = PYCONV_KERNEL(avx512, f64, 8, 2),
            .wide = PYCONV_KERNEL_AT(avx512, f64, 8, 3, 107),
            .single = PYCONV_KERNEL(avx512, f64, 1, 8),
            .narrow = PYCONV_KERNEL(avx512, f64, 1, 2),
            .dot = PYCONV_DOT(avx512, f64, 4, 4),
            .lanes = PYCONV_LANES(avx512, f64, 2, 12),
            .dw3 = PYCONV_DW3_NAME(avx2, f64),
            .dwt = PYCONV_DWT_NAME(avx2, f64)},
    PYCONV_PROBE(avx512, f32, 24),
    PYCONV_PROBE(avx512, f64, 24),
};
#endif /* PYCONV_X86 */

/* Every variant, best first: the default is the first this CPU supports. */
static const pyconv_isa *const pyconv_isas[] = {
#if PYCONV_X86
    &pyconv_isa_avx512,
    &pyconv_isa_avx2,
#endif
    &pyconv_isa_base,
};
#define PYCONV_NUM_ISAS ((int)(sizeof(pyconv_isas) / sizeof(pyconv_isas[0])))

/* The variant in use; chosen by pyconv_isa_select() at import. */
static const pyconv_isa *pyconv_active_isa = &pyconv_isa_base;

/* Select the best variant this CPU runs (name NULL or ""), or the one named.
 * Returns 0 on success, -1 if the name is unknown, -2 if this CPU cannot run it. */
static int pyconv_isa_select(const char *name)
{
    for (int i = 0; i < PYCONV_NUM_ISAS; ++i) {
        const pyconv_isa *isa = pyconv_isas[i];
        if (name && name[0] && strcmp(name, isa->name) != 0) continue;
        if (!isa->supported()) {
            if (name && name[0]) return -2;
            continue;
        }
        pyconv_active_isa = isa;
        return 0;
    }
    return -1;
}

#endif /* PYCONV_ISA_H */
