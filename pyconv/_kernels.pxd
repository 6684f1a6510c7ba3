# The C declarations of _kernels.h (and _isa.h), for the compiled modules.
from libc.stdint cimport int64_t


cdef extern from "_kernels.h" nogil:
    ctypedef void (*pyconv_tile_f32)(const float *, const int64_t *, int64_t, const float *,
                                     int64_t, const float *, float *, int64_t, int64_t,
                                     int64_t, int64_t, int64_t)
    ctypedef void (*pyconv_tile_f64)(const double *, const int64_t *, int64_t, const double *,
                                     int64_t, const double *, double *, int64_t, int64_t,
                                     int64_t, int64_t, int64_t)
    ctypedef struct pyconv_kernel_f32:
        pyconv_tile_f32 fn          # NULL: no such tile
        int64_t ocb                 # output channels per tile
        int64_t px                  # wide positions per tile
        int64_t speed               # per position computed, % of the block tile's
    ctypedef struct pyconv_kernel_f64:
        pyconv_tile_f64 fn
        int64_t ocb
        int64_t px
        int64_t speed
    ctypedef void (*pyconv_dot_f32)(const float *, int64_t, const int64_t *, const float *,
                                    const int64_t *, const int64_t *, int64_t, int64_t,
                                    float *, int64_t, int64_t, int64_t)
    ctypedef void (*pyconv_dot_f64)(const double *, int64_t, const int64_t *,
                                    const double *, const int64_t *, const int64_t *, int64_t,
                                    int64_t, double *, int64_t, int64_t, int64_t)
    ctypedef struct pyconv_dotk_f32:
        pyconv_dot_f32 fn
        int64_t mi                  # output channels per dot tile
        int64_t nj                  # taps per dot tile
    ctypedef struct pyconv_dotk_f64:
        pyconv_dot_f64 fn
        int64_t mi
        int64_t nj
    ctypedef void (*pyconv_lanes_f32)(const float *, const int64_t *, int64_t, int64_t,
                                      int64_t, const float *, const float *, float *,
                                      int64_t, int64_t, int64_t, int64_t, int64_t, int64_t)
    ctypedef void (*pyconv_lanes_f64)(const double *, const int64_t *, int64_t, int64_t,
                                      int64_t, const double *, const double *, double *,
                                      int64_t, int64_t, int64_t, int64_t, int64_t, int64_t)
    ctypedef struct pyconv_lanesk_f32:
        pyconv_lanes_f32 fn
        int64_t oc                  # output channels per tile (its lanes)
        int64_t np                  # positions per tile
    ctypedef struct pyconv_lanesk_f64:
        pyconv_lanes_f64 fn
        int64_t oc
        int64_t np
    ctypedef void (*pyconv_dw3_f32)(const float *, int64_t, const float *, const float *,
                                    float *, int64_t, int64_t)
    ctypedef void (*pyconv_dw3_f64)(const double *, int64_t, const double *, const double *,
                                    double *, int64_t, int64_t)
    ctypedef void (*pyconv_dwt_f32)(const float *, int64_t, const int64_t *, const float *,
                                    const float *, float *, int64_t, int64_t)
    ctypedef void (*pyconv_dwt_f64)(const double *, int64_t, const int64_t *,
                                    const double *, const double *, double *, int64_t,
                                    int64_t)
    ctypedef struct pyconv_kernels_f32:
        pyconv_kernel_f32 block, wide, alt, single, narrow
        pyconv_dotk_f32 dot
        pyconv_lanesk_f32 lanes     # channel lanes over a channels-last copy
        pyconv_dw3_f32 dw3          # depthwise 3x3, stride 1
        pyconv_dwt_f32 dwt          # depthwise 3x3, any stride and dilation
    ctypedef struct pyconv_kernels_f64:
        pyconv_kernel_f64 block, wide, alt, single, narrow
        pyconv_dotk_f64 dot
        pyconv_lanesk_f64 lanes
        pyconv_dw3_f64 dw3
        pyconv_dwt_f64 dwt
    ctypedef double (*pyconv_probe)(int64_t iters, double m, double c)
    ctypedef struct pyconv_isa:
        const char *name
        const char *detail
        int (*supported)()
        pyconv_kernels_f32 f32
        pyconv_kernels_f64 f64
        pyconv_probe probe_f32
        pyconv_probe probe_f64
        int64_t probe_flops_f32
        int64_t probe_flops_f64

    const pyconv_isa *const pyconv_isas[]
    const int PYCONV_NUM_ISAS
    const pyconv_isa *pyconv_active_isa
    int pyconv_isa_select(const char *name)

    void *pyconv_alloc(size_t nbytes)
    int pyconv_omp_max_threads()
    int64_t pyconv_now_ns()
    int pyconv_flag_get(const int *flag)
    void pyconv_flag_set(int *flag)
    int pyconv_thread_num()
    int64_t ceil_div "pyconv_ceil_div" (int64_t a, int64_t b)  # safe near 2**63
    void pyconv_pack_f32(const float *xp, float *ws, int64_t H, int64_t W, int64_t xs2,
                         int64_t xs3, int64_t sh, int64_t sw, int64_t Sh, int64_t Sw,
                         int64_t pt, int64_t pl, int64_t Hq, int64_t Wq, int64_t i0,
                         int64_t a_lo, int64_t a_hi)
    void pyconv_pack_f64(const double *xp, double *ws, int64_t H, int64_t W, int64_t xs2,
                         int64_t xs3, int64_t sh, int64_t sw, int64_t Sh, int64_t Sw,
                         int64_t pt, int64_t pl, int64_t Hq, int64_t Wq, int64_t i0,
                         int64_t a_lo, int64_t a_hi)
    void pyconv_pack_lanes_f32(const float *x, float *dst, int64_t C, int64_t xs1,
                               int64_t xsd, int64_t xs2, int64_t xs3, int64_t D, int64_t H,
                               int64_t W, int64_t pf, int64_t pt, int64_t pl, int64_t Wp,
                               int64_t dz, int64_t y)
    void pyconv_pack_lanes_f64(const double *x, double *dst, int64_t C, int64_t xs1,
                               int64_t xsd, int64_t xs2, int64_t xs3, int64_t D, int64_t H,
                               int64_t W, int64_t pf, int64_t pt, int64_t pl, int64_t Wp,
                               int64_t dz, int64_t y)
    const int PYCONV_HAVE_OPENMP
    const char *PYCONV_BUILD_CFLAGS
