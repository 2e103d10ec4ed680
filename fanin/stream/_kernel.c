/*
 * fanin.stream._kernel: the compiled stream kernel.
 *
 * Computes exactly the bits of fanin.stream.numpy.fill_reference_rows (stream
 * version FK_STREAM_VERSION, passed by setup.py from fanin/stream/spec.py):
 * Philox4x32-10 words, then the transforms of fanin/stream/transforms.py done
 * operation for operation in IEEE float32 / float64 arithmetic, with the coefficient
 * tables of _tables.h (generated with _tables.py by tools/make_tables.py). Build without floating-point
 * contraction (-ffp-contract=off) and without -ffast-math, or the bits change.
 *
 * fill(out, fmt, key, call, kind, params, ilow, nm1, starts, row_len, threads=None)
 *     kind, params, ilow, nm1: fanin.stream.kernel_args(dist, fmt).
 *     Element t of row r of out (viewed as len(starts) rows of row_len) gets the
 *     stream value of flat element index starts[r] + t. Releases the GIL, runs on
 *     `threads` threads (default: set_num_threads / FANIN_NUM_THREADS / the CPUs
 *     this process may use), and stops with KeyboardInterrupt on Ctrl-C.
 *     Like the reference, a row's first word index is starts[r] * (words per
 *     element) mod 2**64; blocks then count on within the row without wrapping.
 *     starts may be one int instead: row r starts at starts + r * row_len (rows that
 *     continue each other, e.g. a 2-d draw's), all indices below 2**62.
 * fill_columns(out, fmt, key, call, kind, params, ilow, nm1, starts, row_len, threads=None)
 *     fill with the rows written transposed: out, of shape (row_len, len(starts)) with
 *     contiguous rows (any distance apart), gets element t of row r at [t, r] (a
 *     torch-layout weight from its Keras draw), through a buffer in cache, so memory
 *     is written once.
 * set_num_threads(n), get_num_threads()   (n=None: FANIN_NUM_THREADS or all CPUs)
 * isa() -> the instruction-set variant in use ("avx512", "avx2" or "generic");
 *     FANIN_KERNEL_ISA=generic|avx2 at import forces a lower one (for tests).
 * new(shape, fmt, key, call, kind, params, ilow, nm1, *, threads=None, dtype=None): a
 *     new C-contiguous array of shape (dtype None: the format's type, bfloat16 as uint16
 *     bits; else a plain native dtype of that size) holding stream elements 0, 1, ...:
 *     the allocation and fill in one call, for small tensors.
 * philox_words(out, key, call, block): Philox words alone (benchmarks, tests).
 * transform_words(words, out, fmt, kind, params, ilow, nm1), alias _transform_words:
 *     the transform and rounding on given uint32 words instead of Philox output
 *     (benchmarks, tests).
 * MAX_THREADS: the most threads one fill uses.
 * STREAM_VERSION, TABLES_ID: what this build implements (fanin.stream refuses a
 *     kernel whose values differ from its own).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0 && FLT_EVAL_METHOD != -1
#error "fanin._kernel needs float arithmetic evaluated in its own type (SSE2 on x86)"
#endif

#ifdef _WIN32
#include <windows.h>
#else
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#endif

#if defined(_MSC_VER) && !defined(__clang__)
#define restrict __restrict
#endif

#include "_tables.h"

#ifndef FK_STREAM_VERSION
#error "build with -DFK_STREAM_VERSION=<fanin.stream.STREAM_VERSION> (setup.py does)"
#endif
#ifndef FK_MAX_INDEX_BITS
#error "build with -DFK_MAX_INDEX_BITS=<log2 of fanin.stream.spec.MAX_INDEX> (setup.py does)"
#endif
#define FK_MAX_INDEX ((uint64_t)1 << FK_MAX_INDEX_BITS)

/* ---------------------------------------------------------------------------- */
/* Constants and parameters                                                       */
/* ---------------------------------------------------------------------------- */

#define FK_PHILOX_M0 0xD2511F53u
#define FK_PHILOX_M1 0xCD9E8D57u
#define FK_PHILOX_W0 0x9E3779B9u
#define FK_PHILOX_W1 0xBB67AE85u

#define FK_BLOCKS 32            /* Philox blocks per batch (a multiple of 8) */
#define FK_WORDS (4 * FK_BLOCKS) /* words per batch */
#define FK_SHORT_WORDS 16        /* runs of fewer words: only the blocks they need */

/* kinds: the codes generated into _tables.h (fanin.stream.spec.KIND_CODES) */
enum { FK_UNIFORM = FK_KIND_UNIFORM, FK_NORMAL = FK_KIND_NORMAL,
       FK_TRUNCATED = FK_KIND_TRUNCATED_NORMAL, FK_TN_GENERAL = FK_KIND_TRUNCATED_GENERAL,
       FK_UNIFORM_INT = FK_KIND_UNIFORM_INT };
enum { FK_F16 = 0, FK_BF16 = 1, FK_F32 = 2, FK_F64 = 3,
       FK_I8, FK_I16, FK_I32, FK_I64, FK_U8, FK_U16, FK_U32, FK_U64 };

#define FK_TN2_32_DEG1 7  /* coefficients per polynomial */
#define FK_TN2_64_DEG1 15
#define FK_DY32_DEG1 7
#define FK_DY64_DEG1 13
#define FK_TN2_64_COUNT (FK_TN2_64_MAIN - 1 + FK_TN2_64_SUB)

typedef struct {
    uint32_t key_lo, key_hi, call_lo, call_hi;
    int kind, fmt, itemsize, per; /* per: words per element */
    float loc32, scale32, lo32, hi32;
    double loc64, scale64, lo64, hi64;
    int32_t lo16, hi16;   /* bounds as float16 / bfloat16 bits */
    int32_t klo16, khi16; /* their order keys (fk_key16) */
    float lo16f, hi16f;   /* and their values */
    /* general truncated normal (stream.py _tn_exact), in both precisions */
    float g32[6];
    double g64[6];
    /* uniform_int: low (mod 2**64) and n = n0 + n1 * 2**32 */
    uint64_t ilow, n0, n1;
    /* the Keras truncated normal's coefficients with the scale folded in */
    float tn2_32[FK_TN2_32_INTERVALS][FK_TN2_32_DEG1];
    double tn2_64[FK_TN2_64_COUNT][FK_TN2_64_DEG1];
    /* the same, by coefficient (vector lookups): [k][interval]; for float64, entries
     * 0..14 the main intervals, 15 unused, 16..31 the last interval's sixteenths */
    float tn2t_32[FK_TN2_32_DEG1][32];
    double tn2t_64[FK_TN2_64_DEG1][32];
} fk_params;

static inline int32_t fk_f2i(float x) { int32_t i; memcpy(&i, &x, 4); return i; }
static inline float fk_i2f(int32_t i) { float x; memcpy(&x, &i, 4); return x; }
static inline int64_t fk_d2i(double x) { int64_t i; memcpy(&i, &x, 8); return i; }
static inline double fk_i2d(int64_t i) { double x; memcpy(&x, &i, 8); return x; }

/* uint32 -> double, exact (2**52 trick, vectorizes without AVX-512) */
static inline double fk_u32_to_f64(uint32_t u)
{
    return fk_i2d(INT64_C(0x4330000000000000) | (int64_t)u) - 0x1p52;
}

/* Order key of a 16-bit float's bits (float16 or bfloat16): a < b as floats iff
 * key(a) < key(b); +0 and -0 share key 0, like IEEE comparisons. */
static inline int32_t fk_key16(int32_t h)
{
    int32_t mag = h & 0x7FFF;
    return (h & 0x8000) ? -mag : mag;
}

/* float32 -> float16 bits, round to nearest even, subnormals kept (numpy's astype). */
static inline uint32_t fk_f32_to_f16(float v)
{
    uint32_t f = (uint32_t)fk_f2i(v);
    uint32_t sign = (f >> 16) & 0x8000u;
    f &= 0x7FFFFFFFu;
    uint32_t o_inf = f > 0x7F800000u ? 0x7E00u : 0x7C00u;
    float sub = fk_i2f((int32_t)f) + 0.5f; /* 0.5f = bits 126 << 23 */
    uint32_t o_sub = (uint32_t)fk_f2i(sub) - (126u << 23);
    uint32_t odd = (f >> 13) & 1u;
    uint32_t o_nrm = (f + 0xC8000FFFu + odd) >> 13; /* (15-127)<<23 + 0xfff */
    uint32_t r = f >= 0x47800000u ? o_inf : (f < 0x38800000u ? o_sub : o_nrm);
    return r | sign;
}

#if defined(__GNUC__)
#define FK_INLINE inline __attribute__((always_inline))
#define FK_NOINLINE __attribute__((noinline))
#define FK_ALIGN(n) __attribute__((aligned(n)))
#elif defined(_MSC_VER)
#define FK_INLINE inline
#define FK_NOINLINE __declspec(noinline)
#define FK_ALIGN(n) __declspec(align(n))
#else
#define FK_INLINE inline
#define FK_NOINLINE
#define FK_ALIGN(n)
#endif

/* ---------------------------------------------------------------------------- */
/* Element functions: one element's value from its words, exactly as stream.py.   */
/* ---------------------------------------------------------------------------- */

/* 1.frac - 1: the fraction bits as a float in [0, 1), exact */
static FK_INLINE float fk_unit32(uint32_t frac) { return fk_i2f((int32_t)(frac | 0x3F800000u)) - 1.0f; }
static FK_INLINE double fk_unit64(uint64_t frac)
{
    return fk_i2d((int64_t)(frac | UINT64_C(0x3FF0000000000000))) - 1.0;
}

static FK_INLINE float fk_horner32(const float *c, int n, float x)
{
    float acc = c[0];
    for (int k = 1; k < n; k++) acc = acc * x + c[k];
    return acc;
}

static FK_INLINE double fk_horner64(const double *c, int n, double x)
{
    double acc = c[0];
    for (int k = 1; k < n; k++) acc = acc * x + c[k];
    return acc;
}

#define FK_PRED_HALF32 0x1.fffffep-2f
#define FK_PRED_HALF64 0x1.fffffffffffffp-2

/* A dyadic table at y in (0, 1/2): interval from the exponent and top sub bits */
static FK_INLINE float fk_dyadic32(const float (*tab)[FK_DY32_DEG1], float y)
{
    uint32_t b = (uint32_t)fk_f2i(y);
    int32_t idx = (int32_t)(b >> (23 - FK_DYADIC_SUB_BITS)) -
                  ((127 + FK_DYADIC_EXP_MIN) << FK_DYADIC_SUB_BITS);
    idx = idx < 0 ? 0 : idx > FK_DYADIC_COUNT - 1 ? FK_DYADIC_COUNT - 1 : idx;
    float tau = fk_unit32((b << FK_DYADIC_SUB_BITS) & 0x7FFFFFu);
    return fk_horner32(tab[idx], FK_DY32_DEG1, tau);
}

static FK_INLINE double fk_dyadic64(const double (*tab)[FK_DY64_DEG1], double y)
{
    uint64_t b = (uint64_t)fk_d2i(y);
    int64_t idx = (int64_t)(b >> (52 - FK_DYADIC_SUB_BITS)) -
                  ((int64_t)(1023 + FK_DYADIC_EXP_MIN) << FK_DYADIC_SUB_BITS);
    idx = idx < 0 ? 0 : idx > FK_DYADIC_COUNT - 1 ? FK_DYADIC_COUNT - 1 : idx;
    double tau = fk_unit64((b << FK_DYADIC_SUB_BITS) & UINT64_C(0xFFFFFFFFFFFFF));
    return fk_horner64(tab[idx], FK_DY64_DEG1, tau);
}

/* t = F(2c + 1) * 2**-32 in (0, 1/2), c the low 30 bits (conversion rounded) */
static FK_INLINE float fk_half_unit32(uint32_t w)
{
    int32_t c = (int32_t)(w & 0x3FFFFFFFu);
    float t = (float)(2 * c + 1) * 0x1p-32f;
    return t < FK_PRED_HALF32 ? t : FK_PRED_HALF32;
}

static FK_INLINE double fk_half_unit64(uint64_t r)
{
    int64_t c = (int64_t)(r & UINT64_C(0x3FFFFFFFFFFFFFFF));
    double t = (double)(2 * c + 1) * 0x1p-64;
    return t < FK_PRED_HALF64 ? t : FK_PRED_HALF64;
}

static FK_INLINE uint64_t fk_pair(const uint32_t *w) { return (uint64_t)w[1] << 32 | w[0]; }

static FK_INLINE float fk_uniform32(const fk_params *P, uint32_t w)
{
    float u = (float)(int32_t)(w >> 8) * 0x1p-24f;
    return P->loc32 + u * P->scale32;
}

static FK_INLINE double fk_uniform64(const fk_params *P, uint32_t lo, uint32_t hi)
{
    /* j = hi << 21 | lo >> 11 (53 bits), as a double: exact */
    double jd = fk_u32_to_f64(hi) * 0x1p21 + fk_u32_to_f64(lo >> 11);
    return P->loc64 + (jd * 0x1p-53) * P->scale64;
}

static FK_INLINE float fk_normal32(const fk_params *P, uint32_t w)
{
    float t = fk_half_unit32(w);
    float z = (w >> 30) & 1u ? fk_dyadic32(fk_tail_32_table, t) : t * fk_dyadic32(fk_center_32_table, t);
    z = w >> 31 ? -z : z;
    return P->loc32 + z * P->scale32;
}

static FK_INLINE double fk_normal64(const fk_params *P, uint64_t r)
{
    double t = fk_half_unit64(r);
    double z = (r >> 62) & 1u ? fk_dyadic64(fk_tail_64_table, t) : t * fk_dyadic64(fk_center_64_table, t);
    z = r >> 63 ? -z : z;
    return P->loc64 + z * P->scale64;
}

static FK_INLINE float fk_tn2_32(const fk_params *P, uint32_t w)
{
    float tau = fk_unit32(((w >> 5) & 0x3FFFFu) << 5);
    float z = fk_horner32(P->tn2_32[w & 31u], FK_TN2_32_DEG1, tau);
    z = w >> 31 ? -z : z;
    return P->loc32 + z;
}

static FK_INLINE double fk_tn2_64(const fk_params *P, uint64_t r)
{
    unsigned i = (unsigned)(r & 15u), k = (unsigned)((r >> 4) & 15u);
    unsigned idx = i < FK_TN2_64_MAIN - 1 ? i : FK_TN2_64_MAIN - 1 + k;
    double tau = fk_unit64((r >> 8) & UINT64_C(0xFFFFFFFFFFFFF));
    double z = fk_horner64(P->tn2_64[idx], FK_TN2_64_DEG1, tau);
    z = r >> 63 ? -z : z;
    return P->loc64 + z;
}

/* The general truncated normal: three regions (stream.py _truncated_general) */
static FK_INLINE float fk_tn_general32(const fk_params *P, uint32_t w)
{
    const float *g = P->g32; /* A, B, C2a, M2, U1, U2 */
    float t = fk_half_unit32(w);
    float u = w >> 31 ? 1.0f - t : t;
    float v = w >> 31 ? t : 1.0f - t;
    float z;
    if (u < g[4]) {
        float y = g[0] + u * g[3];
        z = -fk_dyadic32(fk_tail_32_table, y < FK_PRED_HALF32 ? y : FK_PRED_HALF32);
    }
    else if (u < g[5]) {
        float c = g[2] + u * g[3];
        float a = fabsf(c);
        z = c * fk_dyadic32(fk_center_32_table, a < FK_PRED_HALF32 ? a : FK_PRED_HALF32);
    }
    else {
        float y = g[1] + v * g[3];
        z = fk_dyadic32(fk_tail_32_table, y < FK_PRED_HALF32 ? y : FK_PRED_HALF32);
    }
    return P->loc32 + z * P->scale32;
}

static FK_INLINE double fk_tn_general64(const fk_params *P, uint64_t r)
{
    const double *g = P->g64;
    double t = fk_half_unit64(r);
    double u = r >> 63 ? 1.0 - t : t;
    double v = r >> 63 ? t : 1.0 - t;
    double z;
    if (u < g[4]) {
        double y = g[0] + u * g[3];
        z = -fk_dyadic64(fk_tail_64_table, y < FK_PRED_HALF64 ? y : FK_PRED_HALF64);
    }
    else if (u < g[5]) {
        double c = g[2] + u * g[3];
        double a = fabs(c);
        z = c * fk_dyadic64(fk_center_64_table, a < FK_PRED_HALF64 ? a : FK_PRED_HALF64);
    }
    else {
        double y = g[1] + v * g[3];
        z = fk_dyadic64(fk_tail_64_table, y < FK_PRED_HALF64 ? y : FK_PRED_HALF64);
    }
    return P->loc64 + z * P->scale64;
}

/* Clamp a 16-bit float's bits h into [lo, hi] (order keys klo <= khi): only values
 * strictly beyond a bound are replaced, so a -0 on a +-0 bound stays -0. */
static FK_INLINE uint16_t
fk_clamp16(const fk_params *P, int32_t h)
{
    int32_t k = fk_key16(h);
    h = k < P->klo16 ? P->lo16 : h;
    return (uint16_t)(k > P->khi16 ? P->hi16 : h);
}

/* The dyadic tables as padded rows, tail then center: rows 0..503 tail, 504..1007
 * center; one aligned vector load per row (the vector loops transpose them in
 * registers). Filled once at import. */
static FK_ALIGN(64) float fk_rows32[2 * FK_DYADIC_COUNT][8];
static FK_ALIGN(64) double fk_rows64[2 * FK_DYADIC_COUNT][16];

static void fk_init_tables(void)
{
    memset(fk_rows32, 0, sizeof(fk_rows32));
    memset(fk_rows64, 0, sizeof(fk_rows64));
    for (int i = 0; i < FK_DYADIC_COUNT; i++) {
        memcpy(fk_rows32[i], fk_tail_32_table[i], sizeof(fk_tail_32_table[i]));
        memcpy(fk_rows32[FK_DYADIC_COUNT + i], fk_center_32_table[i], sizeof(fk_center_32_table[i]));
        memcpy(fk_rows64[i], fk_tail_64_table[i], sizeof(fk_tail_64_table[i]));
        memcpy(fk_rows64[FK_DYADIC_COUNT + i], fk_center_64_table[i], sizeof(fk_center_64_table[i]));
    }
}

static FK_INLINE float fk_clamp32(float x, float lo, float hi)
{
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
}

static FK_INLINE double fk_clamp64(double x, double lo, double hi)
{
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
}

/* floor(R * n / 2**(32k)), R = sum r[t] << 32t: schoolbook columns, as stream.py */
static inline uint64_t fk_mulhi_limbs(const uint32_t *r, int k, uint64_t n0, uint64_t n1)
{
    uint64_t cols[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < k; i++) {
        uint64_t p0 = (uint64_t)r[i] * n0, p1 = (uint64_t)r[i] * n1;
        cols[i] += p0 & 0xFFFFFFFFu;
        cols[i + 1] += (p0 >> 32) + (p1 & 0xFFFFFFFFu);
        cols[i + 2] += p1 >> 32;
    }
    uint64_t carry = 0, limb[6];
    for (int c = 0; c < k + 2; c++) {
        uint64_t acc = cols[c] + carry;
        limb[c] = acc & 0xFFFFFFFFu;
        carry = acc >> 32;
    }
    return limb[k] | limb[k + 1] << 32;
}

static void fk_uniform_int(const fk_params *P, const uint32_t *W, size_t n, void *T)
{
    const int k = P->per;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = P->ilow + fk_mulhi_limbs(W + (size_t)k * i, k, P->n0, P->n1);
        switch (P->itemsize) {
        case 1: ((uint8_t *)T)[i] = (uint8_t)v; break;
        case 2: ((uint16_t *)T)[i] = (uint16_t)v; break;
        case 4: ((uint32_t *)T)[i] = (uint32_t)v; break;
        default: ((uint64_t *)T)[i] = v; break;
        }
    }
}

/* One Philox4x32-10 block, scalar (short runs) */
static void fk_philox_block(const fk_params *P, uint64_t b, uint32_t *out)
{
    uint32_t c0 = (uint32_t)b, c1 = (uint32_t)(b >> 32), c2 = P->call_lo, c3 = P->call_hi;
    uint32_t k0 = P->key_lo, k1 = P->key_hi;
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)c0 * FK_PHILOX_M0, p1 = (uint64_t)c2 * FK_PHILOX_M1;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += FK_PHILOX_W0;
        k1 += FK_PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* ---------------------------------------------------------------------------- */
/* The element loops, once per instruction set                                   */
/* ---------------------------------------------------------------------------- */

#if defined(__GNUC__) && !defined(__clang__)
#define FK_PRAGMA(x) _Pragma(#x)
#define FK_NO_UNROLL FK_PRAGMA(GCC unroll 1)
#define FK_UNROLL FK_PRAGMA(GCC unroll 32)
#else
#define FK_NO_UNROLL
#define FK_UNROLL
#endif


typedef void (*fk_segment_fn)(const fk_params *, uint64_t, unsigned, size_t, char *);
typedef void (*fk_words_fn)(const fk_params *, const uint32_t *, size_t, char *);
typedef void (*fk_philox_fn)(const fk_params *, uint64_t, size_t, uint32_t *);
typedef void (*fk_tile32_fn)(const uint32_t *, size_t, uint32_t *, size_t);
typedef void (*fk_tile64_fn)(const uint64_t *, size_t, uint64_t *, size_t);
typedef void (*fk_tile16_fn)(const uint16_t *, size_t, uint16_t *, size_t);
typedef void (*fk_narrow_fn)(const char *, size_t, size_t, char *, size_t, size_t);

#define FK_SUFFIX generic
#include "_kernel_impl.h"
#undef FK_SUFFIX

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FK_X86_DISPATCH 1
#include <immintrin.h>
#pragma GCC push_options
#pragma GCC target("avx2,f16c,bmi,bmi2,popcnt")
#define FK_SUFFIX avx2
#define FK_ISA_AVX2 1
#include "_kernel_impl.h"
#undef FK_ISA_AVX2
#undef FK_SUFFIX
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,f16c,bmi,bmi2,popcnt")
#define FK_SUFFIX avx512
#define FK_ISA_AVX512 1
#include "_kernel_impl.h"
#undef FK_ISA_AVX512
#undef FK_SUFFIX
#pragma GCC pop_options
#endif

static fk_segment_fn fk_segment = segment_generic;
static fk_words_fn fk_words = words_generic;
static fk_philox_fn fk_philox_words = philox_words_generic;
/* register tiles for fill_columns' transposes: AVX-512 only (NULL: scalar copies) */
static fk_tile32_fn fk_tile32 = NULL;
static fk_tile64_fn fk_tile64 = NULL;
static fk_tile16_fn fk_tile16 = NULL;
static fk_narrow_fn fk_narrow = narrow_generic;
static const char *fk_isa = "generic";

static void
fk_pick_isa(void)
{
    const char *force = getenv("FANIN_KERNEL_ISA");
#ifdef FK_X86_DISPATCH
    __builtin_cpu_init();
    int has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
    if (force && strcmp(force, "generic") == 0) {
        has512 = has2 = 0;
    }
    else if (force && strcmp(force, "avx2") == 0) {
        has512 = 0;
    }
    if (has512) {
        fk_segment = segment_avx512;
        fk_words = words_avx512;
        fk_philox_words = philox_words_avx512;
        fk_tile32 = tile32_avx512;
        fk_tile64 = tile64_avx512;
        fk_tile16 = tile16_avx512;
        fk_narrow = narrow_avx512;
        fk_isa = "avx512";
    }
    else if (has2) {
        fk_segment = segment_avx2;
        fk_words = words_avx2;
        fk_philox_words = philox_words_avx2;
        fk_narrow = narrow_avx2;
        fk_isa = "avx2";
    }
#else
    (void)force;
#endif
}

/* ---------------------------------------------------------------------------- */
/* Work split: the flat output [0, n) in chunks; rows mapped to stream indices    */
/* ---------------------------------------------------------------------------- */

typedef struct {
    fk_params p;
    char *out;
    const uint64_t *starts; /* NULL: row r starts at first + r * row_len (rows continue) */
    uint64_t first;
    size_t nrows, row_len, n;
    /* columns: out is the transpose, (row_len, nrows): element t of row r goes to
     * out[t * ld + r] (fill_columns), done in passes of `group` rows by `piece`
     * elements of each, ngroups passes per piece of the rows */
    int columns;
    size_t group, piece, ngroups, ld; /* ld: elements from one row of out to the next */
    /* what the threads share out: elements, or in columns mode passes (t-piece major,
     * so a run of passes writes whole rows of out: threads rarely share a cache line) */
    size_t positions;
} fk_job;

/* How many rows from r on (1 .. max) each start at the word right after the last
 * word of the row before (the reference computes each row's first word mod 2**64,
 * the rest unwrapped, so a row whose words wrap ends a run). Short rows make this
 * a hot loop: constants hoisted, one exit. */
static size_t
fk_continuing(const fk_job *J, size_t r, size_t max)
{
    if (!J->starts) return max; /* one int start: every row continues the last */
    const uint64_t per = (uint64_t)J->p.per, len = (uint64_t)J->row_len * per;
    const uint64_t *s = J->starts + r;
    size_t k = 1;
    while (k < max) {
        const uint64_t w0 = s[k - 1] * per;
        if (w0 > UINT64_MAX - len || s[k] * per != w0 + len) break;
        k++;
    }
    return k;
}

/* Elements t, t + 1, ..., t + count - 1 of row r (with the rows after it that
 * continue its words, when count runs past the row) into dst. */
static void
fk_run_row(const fk_job *J, size_t r, size_t t, size_t count, char *dst)
{
    /* the reference: row r's first word mod 2**64, then blocks counted on */
    const uint64_t per = (uint64_t)J->p.per;
    uint64_t w0 = (J->starts ? J->starts[r] : J->first + r * (uint64_t)J->row_len) * per;
    uint64_t off = (w0 & 3u) + (uint64_t)t * per;
    fk_segment(&J->p, (w0 >> 2) + (off >> 2), (unsigned)(off & 3u), count, dst);
}

static void fk_fill_columns(const fk_job *J, size_t a, size_t b);

/* Fill positions [a, b) of the job: flat output positions (or passes, in columns
 * mode). Consecutive rows whose stream indices continue each other are done as
 * one run. */
static void
fk_fill_range(const fk_job *J, size_t a, size_t b)
{
    const size_t L = J->row_len;
    const size_t isz = (size_t)J->p.itemsize;
    if (J->columns) {
        fk_fill_columns(J, a, b);
        return;
    }
    while (a < b) {
        const size_t first = a / L, t = a - first * L;
        size_t r = first, end = (r + 1) * L; /* end of row r, flat */
        if (end > b) end = b;
        /* extend through following rows that continue the stream's words (the
         * reference computes each row's first word mod 2**64, the rest unwrapped) */
        if (end < b && end == (r + 1) * L) {
            r += fk_continuing(J, r, (b - end + L - 1) / L + 1) - 1;
            end = (r + 1) * L;
            if (end > b) end = b;
        }
        fk_run_row(J, first, t, end - a, J->out + a * isz);
        a = end;
    }
}

/* Columns mode, a transposed write without a second pass over memory: a pass
 * puts J->group rows (whole short rows, or J->piece elements of each long one)
 * into a buffer that stays in cache, then out of it across the rows of out.
 * [a, b) are passes. Measured on 4096 x 4096 float32 (Zen 4): 16 rows a pass
 * cost 3.6x a plain fill (each row of out got 64 bytes at a time), 64 rows with
 * in-register tiles 1.5x. */
#define FK_COL_BYTES ((size_t)64 << 10)
#define FK_COL_MIN 64

/* A full 16x16 block of isz-byte elements (src rows sstride apart, dst rows dstride
 * apart) transposed in the ISA's register tiles; 0 when it has none for this size. */
static int
fk_tile_block(const char *src, size_t sstride, char *dst, size_t dstride, size_t isz)
{
    if (isz == 2 && fk_tile16) {
        fk_tile16((const uint16_t *)(const void *)src, sstride, (uint16_t *)(void *)dst, dstride);
        return 1;
    }
    if (isz == 4 && fk_tile32) {
        fk_tile32((const uint32_t *)(const void *)src, sstride, (uint32_t *)(void *)dst, dstride);
        return 1;
    }
    if (isz == 8 && fk_tile64) { /* four 8 x 8 */
        for (size_t q = 0; q < 4; q++)
            fk_tile64((const uint64_t *)(const void *)src + (q >> 1) * 8 * sstride + (q & 1) * 8,
                      sstride, (uint64_t *)(void *)dst + (q & 1) * 8 * dstride + (q >> 1) * 8,
                      dstride);
        return 1;
    }
    return 0;
}

/* buf holds g rows of tl elements; they go to out[(t0 + t) * ld + r0 + c], in 16x16
 * blocks (the buffer's reads stay in a few cache lines): register tiles where the
 * ISA has them, else, and for partial blocks, one element at a time. */
#define FK_TRANSPOSE(T)                                                                  \
    for (size_t tb = 0; tb < tl; tb += 16)                                               \
        for (size_t cb = 0; cb < g; cb += 16) {                                          \
            size_t ce = cb + 16 < g ? cb + 16 : g, te = tb + 16 < tl ? tb + 16 : tl;     \
            T *d = (T *)(void *)(J->out + ((t0 + tb) * J->ld + r0 + cb) * sizeof(T));     \
            const T *s = (const T *)(const void *)buf + cb * tl + tb;                    \
            if (ce - cb == 16 && te - tb == 16 &&                                        \
                fk_tile_block((const char *)s, tl, (char *)d, J->ld, sizeof(T)))         \
                continue;                                                                \
            for (size_t t = 0; t < te - tb; t++)                                         \
                for (size_t c = 0; c < ce - cb; c++) d[t * J->ld + c] = s[c * tl + t];    \
        }

/* The passes of a columns job: at least FK_COL_MIN rows each, more while short rows
 * fit the buffer; J->positions counts them */
static void
fk_plan_columns(fk_job *J)
{
    const size_t elements = FK_COL_BYTES / (size_t)J->p.itemsize;
    J->group = elements / J->row_len < FK_COL_MIN ? FK_COL_MIN : elements / J->row_len;
    J->piece = elements / J->group;
    J->ngroups = (J->nrows + J->group - 1) / J->group;
    J->positions = J->ngroups * ((J->row_len + J->piece - 1) / J->piece);
}

static void
fk_fill_columns(const fk_job *J, size_t a, size_t b)
{
    FK_ALIGN(64) char buf[FK_COL_BYTES + 64]; /* + 64: fk_narrow may read past the end */
    const size_t L = J->row_len, isz = (size_t)J->p.itemsize;
    for (size_t u = a; u < b; u++) {
        size_t t0 = u / J->ngroups * J->piece, r0 = u % J->ngroups * J->group;
        size_t g = J->nrows - r0 < J->group ? J->nrows - r0 : J->group;
        size_t tl = L - t0 < J->piece ? L - t0 : J->piece;
        for (size_t c = 0; c < g;) {
            /* whole rows that continue each other: one run */
            size_t c1 = c + (tl == L ? fk_continuing(J, r0 + c, g - c) : 1);
            fk_run_row(J, r0 + c, t0, (c1 - c) * tl, buf + c * tl * isz);
            c = c1;
        }
        if (tl < 16) {
            fk_narrow(buf, tl, g, J->out + (t0 * J->ld + r0) * isz, J->ld, isz);
            continue;
        }
        switch (isz) {
        case 1: FK_TRANSPOSE(uint8_t) break;
        case 2: FK_TRANSPOSE(uint16_t) break;
        case 4: FK_TRANSPOSE(uint32_t) break;
        default: FK_TRANSPOSE(uint64_t) break;
        }
    }
}
#undef FK_TRANSPOSE

/* ---------------------------------------------------------------------------- */
/* Threads                                                                         */
/* ---------------------------------------------------------------------------- */

#define FK_CHUNK_BYTES ((size_t)2 << 20)  /* bytes a thread takes at a time, at most */
#define FK_MIN_PARALLEL ((size_t)1 << 16) /* below this: one thread */
#define FK_SLAB ((size_t)1 << 20)         /* single thread: check signals this often */
#define FK_MAX_THREADS 1024

static int fk_num_threads = 1;

/* A Python int >= 1 as a thread count, capped at FK_MAX_THREADS: 0 on success,
   -1 with an exception set otherwise. */
static int
fk_thread_count(PyObject *obj, int *out)
{
    long t = PyLong_AsLong(obj);
    if (t == -1 && PyErr_Occurred()) return -1;
    if (t < 1) {
        PyErr_SetString(PyExc_ValueError, "number of threads must be >= 1");
        return -1;
    }
    *out = t > FK_MAX_THREADS ? FK_MAX_THREADS : (int)t;
    return 0;
}

#ifdef _WIN32
typedef volatile LONG64 fk_atomic;
#define FK_FETCH_ADD(p, v) ((size_t)InterlockedExchangeAdd64((p), (LONG64)(v)))
#define FK_LOAD(p) ((size_t)InterlockedCompareExchange64((p), 0, 0))
#define FK_STORE(p, v) InterlockedExchange64((p), (LONG64)(v))
typedef HANDLE fk_thread;
#else
typedef size_t fk_atomic;
#define FK_FETCH_ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define FK_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define FK_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
typedef pthread_t fk_thread;
#endif

typedef struct {
    const fk_job *job;
    fk_atomic next;  /* next chunk index */
    fk_atomic stop;  /* set on interrupt */
    size_t nchunks, chunk;
    size_t shift; /* chunk c is [c * chunk - shift, (c + 1) * chunk - shift) clipped */
} fk_shared;

/* Take chunks until none are left (or stop is set). Returns 0 when done. */
static int
fk_work(fk_shared *S, size_t max_chunks)
{
    for (size_t done = 0; done < max_chunks; done++) {
        if (FK_LOAD(&S->stop)) return 0;
        size_t c = FK_FETCH_ADD(&S->next, 1);
        if (c >= S->nchunks) return 0;
        size_t a = c * S->chunk, b = a + S->chunk - S->shift;
        a = a > S->shift ? a - S->shift : 0;
        if (b > S->job->positions) b = S->job->positions;
        fk_fill_range(S->job, a, b);
    }
    return 1;
}

#ifdef _WIN32
static DWORD WINAPI fk_worker(LPVOID arg) { fk_work((fk_shared *)arg, (size_t)-1); return 0; }
static int fk_spawn(fk_thread *t, fk_shared *S)
{
    *t = CreateThread(NULL, 0, fk_worker, S, 0, NULL);
    return *t == NULL ? -1 : 0;
}
static void fk_join(fk_thread t) { WaitForSingleObject(t, INFINITE); CloseHandle(t); }
#else
static void *fk_worker(void *arg) { fk_work((fk_shared *)arg, (size_t)-1); return NULL; }
static int fk_spawn(fk_thread *t, fk_shared *S) { return pthread_create(t, NULL, fk_worker, S); }
static void fk_join(fk_thread t) { pthread_join(t, NULL); }
#endif

/* Run the job on up to nthreads threads. Returns -1 with an exception set if a
 * signal handler raised (KeyboardInterrupt); called with the GIL held. */
static int
fk_run(const fk_job *J, int nthreads)
{
    size_t n = J->n, npos = J->positions;
    if (n < FK_MIN_PARALLEL / 4) { /* tiny: keep the GIL, no overhead */
        fk_fill_range(J, 0, npos);
        return 0;
    }
    size_t maxt = (n + FK_MIN_PARALLEL / 2 - 1) / (FK_MIN_PARALLEL / 2);
    if (nthreads < 1) nthreads = 1;
    if ((size_t)nthreads > maxt) nthreads = (int)maxt;
    if (n < FK_MIN_PARALLEL) nthreads = 1;
    /* positions come in units: whole batches of elements, or single passes */
    size_t unit = J->columns ? 1 : FK_WORDS;
    size_t slab = J->columns ? FK_SLAB / (J->group * J->piece) + 1 : FK_SLAB;
    if (nthreads == 1) {
        for (size_t a = 0; a < npos; a += slab) {
            size_t b = a + slab < npos ? a + slab : npos;
            Py_BEGIN_ALLOW_THREADS
            fk_fill_range(J, a, b);
            Py_END_ALLOW_THREADS
            if (b < npos && PyErr_CheckSignals() < 0) return -1;
        }
        return 0;
    }
    fk_shared S;
    S.job = J;
    S.next = 0;
    S.stop = 0;
    /* about 8 chunks per thread for mid sizes (balance); elements: FK_CHUNK_BYTES at
     * most, whole batches of FK_WORDS; passes: at least one */
    size_t chunk = npos / ((size_t)nthreads * 8u);
    size_t maxchunk = FK_CHUNK_BYTES / (size_t)J->p.itemsize;
    if (J->columns) chunk = chunk < 1u ? 1u : chunk;
    else chunk = chunk < 4096u ? 4096u : chunk > maxchunk ? maxchunk : chunk;
    chunk = (chunk + unit - 1) / unit * unit;
    S.chunk = chunk;
    S.shift = 0;
    if (chunk == maxchunk && !J->columns) {
        /* whole chunks start on FK_CHUNK_BYTES boundaries of the address space: a
         * (transparent huge) page is then faulted in by one thread only */
        size_t mis = (size_t)((uintptr_t)J->out % FK_CHUNK_BYTES);
        if (mis % (size_t)J->p.itemsize == 0) S.shift = mis / (size_t)J->p.itemsize;
    }
    S.nchunks = (npos + S.shift + chunk - 1) / chunk;
    fk_thread threads[FK_MAX_THREADS];
    int spawned = 0, interrupted = 0;
    Py_BEGIN_ALLOW_THREADS
    for (int i = 0; i < nthreads - 1; i++) {
        if (fk_spawn(&threads[spawned], &S) != 0) break; /* fewer threads: still correct */
        spawned++;
    }
    /* The calling thread works too, and every few chunks takes the GIL back
     * briefly to run Python's signal handlers (Ctrl-C). */
    for (;;) {
        int more = fk_work(&S, slab / chunk + 1); /* about FK_SLAB elements */
        if (!more) break;
        Py_BLOCK_THREADS
        if (PyErr_CheckSignals() < 0) interrupted = 1;
        Py_UNBLOCK_THREADS
        if (interrupted) {
            FK_STORE(&S.stop, 1);
            break;
        }
    }
    for (int i = 0; i < spawned; i++) fk_join(threads[i]);
    Py_END_ALLOW_THREADS
    return interrupted ? -1 : 0;
}

/* ---------------------------------------------------------------------------- */
/* Python interface                                                               */
/* ---------------------------------------------------------------------------- */

static const struct { const char *name; int fmt, itemsize, per; } fk_formats[] = {
    {"float16", FK_F16, 2, 1}, {"bfloat16", FK_BF16, 2, 1}, {"float32", FK_F32, 4, 1},
    {"float64", FK_F64, 8, 2}, {"int8", FK_I8, 1, 2}, {"int16", FK_I16, 2, 2},
    {"int32", FK_I32, 4, 2}, {"int64", FK_I64, 8, 4}, {"uint8", FK_U8, 1, 2},
    {"uint16", FK_U16, 2, 2}, {"uint32", FK_U32, 4, 2}, {"uint64", FK_U64, 8, 4},
};

static int
fk_parse_fmt(PyObject *o, fk_params *P)
{
    const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
    if (s == NULL) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "fmt must be a str");
        return -1;
    }
    for (size_t i = 0; i < sizeof(fk_formats) / sizeof(fk_formats[0]); i++) {
        if (strcmp(s, fk_formats[i].name) == 0) {
            P->fmt = fk_formats[i].fmt;
            P->itemsize = fk_formats[i].itemsize;
            P->per = fk_formats[i].per;
            return 0;
        }
    }
    PyErr_Format(PyExc_ValueError, "unknown stream format %R", o);
    return -1;
}

/* A bound, exactly representable in the 16-bit format, to its bits. */
static int32_t
fk_bound16(double v, int fmt)
{
    if (fmt == FK_BF16) {
        float f = (float)v;
        return (int32_t)((uint32_t)fk_f2i(f) >> 16);
    }
    return (int32_t)fk_f32_to_f16((float)v); /* exact: v is a float16 value or +-inf */
}

/* The kind and its parameters (fanin.stream.kernel_args): params = float64
 * (loc, scale, clamp_lo, clamp_hi, A, B, C2a, M2, U1, U2); ilow, nm1 = n - 1 for
 * uniform_int. Every float32 parameter is the double rounded to nearest, as the
 * reference rounds it. */
static int
fk_set_params(fk_params *P, long kind, const double *x, uint64_t ilow, uint64_t nm1)
{
    if (kind < 0 || kind > 4 || (kind == FK_UNIFORM_INT) != (P->fmt >= FK_I8)) {
        PyErr_SetString(PyExc_ValueError, "kind does not fit the format (integer formats "
                        "take kind 4, uniform_int, only)");
        return -1;
    }
    P->kind = (int)kind;
    P->loc32 = (float)x[0];
    P->scale32 = (float)x[1];
    P->lo32 = (float)x[2];
    P->hi32 = (float)x[3];
    P->loc64 = x[0];
    P->scale64 = x[1];
    P->lo64 = x[2];
    P->hi64 = x[3];
    for (int i = 0; i < 6; i++) {
        P->g64[i] = x[4 + i];
        P->g32[i] = (float)x[4 + i];
    }
    P->lo16 = P->hi16 = P->klo16 = P->khi16 = 0;
    P->lo16f = P->hi16f = 0.0f;
    if (P->fmt == FK_F16 || P->fmt == FK_BF16) {
        P->lo16 = fk_bound16(x[2], P->fmt);
        P->hi16 = fk_bound16(x[3], P->fmt);
        P->klo16 = fk_key16(P->lo16);
        P->khi16 = fk_key16(P->hi16);
        /* the bounds' values: bfloat16 from its bits; float16 exact as a float (the
         * bound is a float16 value or +-inf) */
        P->lo16f = P->fmt == FK_BF16 ? fk_i2f((int32_t)((uint32_t)P->lo16 << 16)) : (float)x[2];
        P->hi16f = P->fmt == FK_BF16 ? fk_i2f((int32_t)((uint32_t)P->hi16 << 16)) : (float)x[3];
    }
    P->ilow = ilow;
    P->n0 = nm1 == UINT64_MAX ? 0 : (nm1 + 1) & 0xFFFFFFFFu;
    P->n1 = nm1 == UINT64_MAX ? UINT64_C(1) << 32 : (nm1 + 1) >> 32;
    if (kind == FK_TRUNCATED && P->fmt != FK_F64) { /* F(c * scale): double, rounded */
        for (int i = 0; i < FK_TN2_32_INTERVALS; i++)
            for (int k = 0; k < FK_TN2_32_DEG1; k++) {
                float c = (float)((double)fk_tn2_32_table[i][k] * x[1]);
                P->tn2_32[i][k] = P->tn2t_32[k][i] = c;
            }
    }
    if (kind == FK_TRUNCATED && P->fmt == FK_F64) {
        for (int i = 0; i < FK_TN2_64_COUNT; i++)
            for (int k = 0; k < FK_TN2_64_DEG1; k++) {
                double c = fk_tn2_64_table[i][k] * x[1];
                P->tn2_64[i][k] = P->tn2t_64[k][i < FK_TN2_64_MAIN - 1 ? i : i + 1] = c;
            }
        for (int k = 0; k < FK_TN2_64_DEG1; k++) P->tn2t_64[k][FK_TN2_64_MAIN - 1] = 0.0;
    }
    return 0;
}

static int
fk_get_params(PyObject *o, const double **x)
{
    if (!PyArray_Check(o) || PyArray_TYPE((PyArrayObject *)o) != NPY_FLOAT64 ||
        !PyArray_IS_C_CONTIGUOUS((PyArrayObject *)o) ||
        PyArray_SIZE((PyArrayObject *)o) != 10) {
        PyErr_SetString(PyExc_TypeError, "params must be a contiguous float64 array of 10");
        return -1;
    }
    *x = (const double *)PyArray_DATA((PyArrayObject *)o);
    return 0;
}

static int
fk_get_u64(PyObject *o, const char *what, uint64_t *v)
{
    unsigned long long x = PyLong_AsUnsignedLongLong(o);
    if (x == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Format(PyExc_ValueError, "%s must be an integer in [0, 2**64)", what);
        return -1;
    }
    *v = (uint64_t)x;
    return 0;
}

/* fmt, key, call, kind, params, ilow, nm1 (args[0..6]) into P */
static int
fk_parse_stream(PyObject *const *args, fk_params *P)
{
    uint64_t key, call, ilow, nm1;
    const double *x;
    if (fk_parse_fmt(args[0], P) < 0) return -1;
    if (fk_get_u64(args[1], "key", &key) < 0 || fk_get_u64(args[2], "call", &call) < 0) return -1;
    long kind = PyLong_AsLong(args[3]);
    if (kind == -1 && PyErr_Occurred()) return -1;
    if (fk_get_params(args[4], &x) < 0) return -1;
    if (fk_get_u64(args[5], "ilow", &ilow) < 0 || fk_get_u64(args[6], "nm1", &nm1) < 0) return -1;
    P->key_lo = (uint32_t)key;
    P->key_hi = (uint32_t)(key >> 32);
    P->call_lo = (uint32_t)call;
    P->call_hi = (uint32_t)(call >> 32);
    return fk_set_params(P, kind, x, ilow, nm1);
}

/* The threads argument: absent or None gives the module's setting */
static int
fk_parse_threads(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, Py_ssize_t npos,
                 const char *usage, int *nthreads)
{
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *threads_obj = NULL;
    if (nargs + nkw == npos + 1 && nkw <= 1) {
        if (nkw == 1) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, 0);
            if (!PyUnicode_Check(name) ||
                PyUnicode_CompareWithASCIIString(name, "threads") != 0) {
                PyErr_Format(PyExc_TypeError, "%s: unexpected keyword %R", usage, name);
                return -1;
            }
        }
        threads_obj = args[npos];
    }
    else if (nargs != npos || nkw != 0) {
        PyErr_Format(PyExc_TypeError, "%s: wrong number of arguments", usage);
        return -1;
    }
    *nthreads = fk_num_threads;
    if (threads_obj != NULL && threads_obj != Py_None && fk_thread_count(threads_obj, nthreads) < 0)
        return -1;
    return 0;
}

/* fill_columns' out: 2-d (row_len, nrows), writable, aligned, its rows contiguous and
 * ld elements apart (ld >= nrows: a column block of a wider array) */
static int
fk_check_columns_out(PyArrayObject *out, Py_ssize_t row_len, npy_intp nrows, size_t *ld)
{
    npy_intp isz = PyArray_ITEMSIZE(out);
    if (PyArray_NDIM(out) != 2 || PyArray_DIM(out, 0) != row_len || PyArray_DIM(out, 1) != nrows) {
        PyErr_Format(PyExc_ValueError, "fill_columns: out must have shape (row_len, len(starts)) "
                     "= (%zd, %zd)", row_len, (Py_ssize_t)nrows);
        return -1;
    }
    npy_intp s0 = PyArray_STRIDE(out, 0), s1 = PyArray_STRIDE(out, 1);
    if (nrows == 0 || row_len == 0) return 0; /* nothing to write */
    if (!PyArray_ISWRITEABLE(out) || !PyArray_ISALIGNED(out) || (nrows > 1 && s1 != isz) ||
        (row_len > 1 && (s0 < nrows * isz || s0 % isz != 0))) {
        PyErr_SetString(PyExc_ValueError, "fill_columns: out must be writable and aligned, "
                        "with contiguous, non-overlapping rows");
        return -1;
    }
    if (row_len > 1) *ld = (size_t)(s0 / isz);
    return 0;
}

/* starts: a C-contiguous uint64 array (a row's first index each), or one int, the
 * first row's, the others continuing it; nrows then follows from out's shape */
static int
fk_parse_starts(PyObject *obj, PyArrayObject *out, Py_ssize_t row_len, int columns, fk_job *J,
                npy_intp *nrows)
{
    if (PyLong_Check(obj)) {
        J->starts = NULL;
        J->first = PyLong_AsUnsignedLongLong(obj);
        if (J->first == (uint64_t)-1 && PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "starts must be an int in [0, 2**62)");
            return -1;
        }
        if (columns) *nrows = PyArray_NDIM(out) == 2 ? PyArray_DIM(out, 1) : -1;
        else *nrows = row_len ? PyArray_SIZE(out) / row_len : 0;
        return 0;
    }
    if (!PyArray_Check(obj) || PyArray_TYPE((PyArrayObject *)obj) != NPY_UINT64 ||
        !PyArray_IS_C_CONTIGUOUS((PyArrayObject *)obj) ||
        !PyArray_ISALIGNED((PyArrayObject *)obj)) {
        PyErr_SetString(PyExc_TypeError, "starts must be a C-contiguous numpy uint64 array "
                        "or an int");
        return -1;
    }
    J->starts = (const uint64_t *)PyArray_DATA((PyArrayObject *)obj);
    *nrows = PyArray_SIZE((PyArrayObject *)obj);
    return 0;
}

/* fill and fill_columns: the same arguments; columns: out holds the rows transposed */
static PyObject *
fk_fill_any(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int columns)
{
    int nthreads;
    if (fk_parse_threads(args, nargs, kwnames, 10, columns ?
                         "fill_columns(out, fmt, key, call, kind, params, ilow, nm1, starts, "
                         "row_len, threads=None)" : "fill(out, fmt, key, call, kind, params, "
                         "ilow, nm1, starts, row_len, threads=None)", &nthreads) < 0)
        return NULL;
    PyObject *out_obj = args[0], *starts_obj = args[8];
    if (!PyArray_Check(out_obj)) {
        PyErr_SetString(PyExc_TypeError, "out must be a numpy.ndarray");
        return NULL;
    }
    PyArrayObject *out = (PyArrayObject *)out_obj;
    if (!columns && (!PyArray_IS_C_CONTIGUOUS(out) || !PyArray_ISWRITEABLE(out))) {
        PyErr_SetString(PyExc_ValueError, "out must be a writable C-contiguous array");
        return NULL;
    }
    fk_job J;
    if (fk_parse_stream(args + 1, &J.p) < 0) return NULL;
    if ((int)PyArray_ITEMSIZE(out) != J.p.itemsize) {
        PyErr_Format(PyExc_TypeError, "out's itemsize %d does not fit format %R",
                     (int)PyArray_ITEMSIZE(out), args[1]);
        return NULL;
    }
    Py_ssize_t row_len = PyLong_AsSsize_t(args[9]);
    if (row_len == -1 && PyErr_Occurred()) return NULL;
    if (row_len < 0) {
        PyErr_SetString(PyExc_ValueError, "row_len must be >= 0");
        return NULL;
    }
    npy_intp n = PyArray_SIZE(out), nrows;
    if (fk_parse_starts(starts_obj, out, row_len, columns, &J, &nrows) < 0) return NULL;
    if ((row_len != 0 && nrows > n / row_len) || (npy_intp)(nrows * row_len) != n) {
        PyErr_Format(PyExc_ValueError, "%zd rows of %zd elements do not fill an array of "
                     "%zd elements", (Py_ssize_t)nrows, row_len, (Py_ssize_t)n);
        return NULL;
    }
    if (!J.starts && J.first > FK_MAX_INDEX - (uint64_t)n) {
        PyErr_SetString(PyExc_ValueError, "element indices must stay below 2**62");
        return NULL;
    }
    J.ld = (size_t)nrows;
    if (columns && fk_check_columns_out(out, row_len, nrows, &J.ld) < 0) return NULL;
    if (n == 0) Py_RETURN_NONE;
    J.out = (char *)PyArray_DATA(out);
    J.nrows = (size_t)nrows;
    J.row_len = (size_t)row_len;
    J.n = (size_t)n;
    J.columns = columns;
    J.positions = J.n;
    if (columns) fk_plan_columns(&J);
    if (fk_run(&J, nthreads) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *
fk_fill(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)self;
    return fk_fill_any(args, nargs, kwnames, 0);
}

static PyObject *
fk_fill_columns_py(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)self;
    return fk_fill_any(args, nargs, kwnames, 1);
}

/* The numpy type of a format's array (bfloat16: its bits, as uint16) */
static int
fk_npy_type(int fmt)
{
    static const int types[] = {NPY_FLOAT16, NPY_UINT16, NPY_FLOAT32, NPY_FLOAT64,
                                NPY_INT8, NPY_INT16, NPY_INT32, NPY_INT64,
                                NPY_UINT8, NPY_UINT16, NPY_UINT32, NPY_UINT64};
    return types[fmt];
}

/* new's keywords: threads (None: the module's setting) and dtype (None: the
 * format's numpy type; else a native number or unstructured void dtype of the
 * format's itemsize, e.g. ml_dtypes.bfloat16). Returns a new reference to the descr, NULL with an error. */
static PyArray_Descr *
fk_new_keywords(PyObject *const *kwargs, PyObject *kwnames, const fk_params *P, int *nthreads)
{
    PyObject *threads = Py_None, *dtype = Py_None;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "threads") == 0)
            threads = kwargs[i];
        else if (PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "dtype") == 0)
            dtype = kwargs[i];
        else {
            PyErr_Format(PyExc_TypeError, "new(): unexpected keyword %R", name);
            return NULL;
        }
    }
    *nthreads = fk_num_threads;
    if (threads != Py_None && fk_thread_count(threads, nthreads) < 0) return NULL;
    if (dtype == Py_None) return PyArray_DescrFromType(fk_npy_type(P->fmt));
    PyArray_Descr *d = NULL;
    if (!PyArray_DescrConverter(dtype, &d)) return NULL;
    if (PyDataType_ELSIZE(d) != P->itemsize || PyDataType_REFCHK(d) ||
        !PyArray_ISNBO(d->byteorder) || PyDataType_HASSUBARRAY(d) || PyDataType_HASFIELDS(d) ||
        strchr("fiuV", d->kind) == NULL) {
        PyErr_Format(PyExc_TypeError, "new(): dtype %R is not a plain native type of the "
                     "format's %d bytes", (PyObject *)d, P->itemsize);
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* new(shape, fmt, key, call, kind, params, ilow, nm1, *, threads=None, dtype=None): a
 * new C-contiguous array of shape filled with elements 0, 1, ... of the stream (one
 * row): fill's allocation and call in one. */
static PyObject *
fk_new(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)self;
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "new(shape, fmt, key, call, kind, params, ilow, nm1, "
                        "*, threads=None, dtype=None): wrong number of arguments");
        return NULL;
    }
    fk_job J;
    int nthreads;
    if (fk_parse_stream(args + 1, &J.p) < 0) return NULL;
    PyArray_Descr *descr = fk_new_keywords(args + nargs, kwnames, &J.p, &nthreads);
    if (descr == NULL) return NULL;
    PyArray_Dims shape = {NULL, 0};
    if (!PyArray_IntpConverter(args[0], &shape)) {
        Py_DECREF(descr);
        return NULL;
    }
    /* steals the descr reference */
    PyObject *arr = PyArray_NewFromDescr(&PyArray_Type, descr, shape.len, shape.ptr, NULL, NULL,
                                         0, NULL);
    PyDimMem_FREE(shape.ptr);
    if (arr == NULL) return NULL;
    static const uint64_t zero = 0;
    J.out = (char *)PyArray_DATA((PyArrayObject *)arr);
    J.starts = &zero;
    J.columns = 0;
    J.nrows = 1;
    J.positions = J.n = J.row_len = (size_t)PyArray_SIZE((PyArrayObject *)arr);
    if (J.n != 0 && fk_run(&J, nthreads) < 0) {
        Py_DECREF(arr);
        return NULL;
    }
    return arr;
}

/* philox_words(out, key, call, block): benchmark and test hook writing the Philox words of
 * blocks block, block + 1, ... into the uint32 array out (a multiple of FK_WORDS) */
static PyObject *
fk_philox_words_py(PyObject *self, PyObject *args)
{
    (void)self;
    PyArrayObject *out;
    unsigned long long key, call, block;
    if (!PyArg_ParseTuple(args, "O!KKK", &PyArray_Type, &out, &key, &call, &block)) return NULL;
    if (PyArray_TYPE(out) != NPY_UINT32 || !PyArray_IS_C_CONTIGUOUS(out) ||
        !PyArray_ISWRITEABLE(out) || PyArray_SIZE(out) % FK_WORDS != 0) {
        PyErr_Format(PyExc_ValueError, "out must be a writable contiguous uint32 array of a "
                     "multiple of %d words", FK_WORDS);
        return NULL;
    }
    fk_params P;
    memset(&P, 0, sizeof(P));
    P.key_lo = (uint32_t)key;
    P.key_hi = (uint32_t)(key >> 32);
    P.call_lo = (uint32_t)call;
    P.call_hi = (uint32_t)(call >> 32);
    size_t nb = (size_t)PyArray_SIZE(out) / FK_WORDS;
    Py_BEGIN_ALLOW_THREADS
    fk_philox_words(&P, (uint64_t)block, nb, (uint32_t *)PyArray_DATA(out));
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* _transform_words(words, out, fmt, kind, params, ilow, nm1): test hook that runs
 * the transform and store on given uint32 words (element i uses words
 * per*i .. per*i + per - 1). */
static PyObject *
fk_transform_words(PyObject *self, PyObject *args)
{
    (void)self;
    PyArrayObject *words, *out;
    PyObject *fo, *po;
    long kind;
    unsigned long long ilow, nm1;
    if (!PyArg_ParseTuple(args, "O!O!UlOKK", &PyArray_Type, &words, &PyArray_Type, &out,
                          &fo, &kind, &po, &ilow, &nm1))
        return NULL;
    fk_params P;
    memset(&P, 0, sizeof(P));
    const double *x;
    if (fk_parse_fmt(fo, &P) < 0 || fk_get_params(po, &x) < 0) return NULL;
    if (fk_set_params(&P, kind, x, (uint64_t)ilow, (uint64_t)nm1) < 0) return NULL;
    npy_intp nw = PyArray_SIZE(words);
    if (PyArray_TYPE(words) != NPY_UINT32 || !PyArray_IS_C_CONTIGUOUS(words) ||
        !PyArray_IS_C_CONTIGUOUS(out) || !PyArray_ISWRITEABLE(out) ||
        (int)PyArray_ITEMSIZE(out) != P.itemsize || nw % P.per != 0 ||
        PyArray_SIZE(out) != nw / P.per) {
        PyErr_SetString(PyExc_ValueError, "words must be contiguous uint32 and out must "
                        "hold one element per `per` words");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    fk_words(&P, (const uint32_t *)PyArray_DATA(words), (size_t)nw, (char *)PyArray_DATA(out));
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static int
fk_default_threads(void)
{
    const char *env = getenv("FANIN_NUM_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\n') end++;
        if (*end == '\0' && v >= 1) return v > FK_MAX_THREADS ? FK_MAX_THREADS : (int)v;
    }
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int c = CPU_COUNT(&set);
        if (c >= 1) return c > FK_MAX_THREADS ? FK_MAX_THREADS : c;
    }
#endif
#ifdef _WIN32
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwNumberOfProcessors >= 1 ? (int)si.dwNumberOfProcessors : 1;
#else
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    if (c < 1) return 1;
    return c > FK_MAX_THREADS ? FK_MAX_THREADS : (int)c;
#endif
}

static PyObject *
fk_set_num_threads(PyObject *self, PyObject *arg)
{
    (void)self;
    if (arg == Py_None) {
        fk_num_threads = fk_default_threads();
        Py_RETURN_NONE;
    }
    if (fk_thread_count(arg, &fk_num_threads) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *
fk_get_num_threads(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromLong(fk_num_threads);
}

static PyObject *
fk_get_isa(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyUnicode_FromString(fk_isa);
}

static PyMethodDef fk_methods[] = {
    {"fill", (PyCFunction)(void (*)(void))fk_fill, METH_FASTCALL | METH_KEYWORDS,
     "fill(out, fmt, key, call, kind, params, ilow, nm1, starts, row_len, threads=None)"
     "\n\nFill out with stream values (see fanin.stream.fill_kernel_rows)."},
    {"fill_columns", (PyCFunction)(void (*)(void))fk_fill_columns_py,
     METH_FASTCALL | METH_KEYWORDS,
     "fill_columns(out, fmt, key, call, kind, params, ilow, nm1, starts, row_len, "
     "threads=None)\n\nfill's rows written transposed: out, of shape (row_len, "
     "len(starts)) with contiguous rows, gets element t of row r at [t, r]."},
    {"set_num_threads", fk_set_num_threads, METH_O,
     "set_num_threads(n): threads used by fill (None: FANIN_NUM_THREADS or all CPUs)."},
    {"get_num_threads", fk_get_num_threads, METH_NOARGS,
     "get_num_threads() -> threads used by fill."},
    {"isa", fk_get_isa, METH_NOARGS,
     "isa() -> the instruction-set variant in use: 'avx512', 'avx2' or 'generic'."},
    {"new", (PyCFunction)(void (*)(void))fk_new, METH_FASTCALL | METH_KEYWORDS,
     "new(shape, fmt, key, call, kind, params, ilow, nm1, *, threads=None, dtype=None)"
     " -> ndarray\n\nA new C-contiguous array of shape filled with stream elements 0, 1, "
     "... (dtype None: the format's numpy type, bfloat16 as uint16 bits)."},
    {"philox_words", fk_philox_words_py, METH_VARARGS,
     "philox_words(out, key, call, block): the Philox words of blocks block, block + 1, "
     "... alone (benchmarks)."},
    {"transform_words", fk_transform_words, METH_VARARGS,
     "transform_words(words, out, fmt, kind, params, ilow, nm1): the transform and store "
     "alone, on given words (benchmarks, tests)."},
    {"_transform_words", fk_transform_words, METH_VARARGS,
     "_transform_words(words, out, fmt, kind, params, ilow, nm1): test hook."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fk_module = {
    PyModuleDef_HEAD_INIT, "fanin.stream._kernel",
    "Compiled fanin stream kernel: same bits as fanin.stream.fill_reference.", -1,
    fk_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__kernel(void)
{
    import_array();
    fk_init_tables();
    fk_pick_isa();
    fk_num_threads = fk_default_threads();
    PyObject *m = PyModule_Create(&fk_module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "STREAM_VERSION", FK_STREAM_VERSION) < 0 ||
        PyModule_AddIntConstant(m, "MAX_THREADS", FK_MAX_THREADS) < 0 ||
        PyModule_AddStringConstant(m, "TABLES_ID", FK_TABLES_ID) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
