/*
 * fanin._kernel: the compiled stream kernel.
 *
 * Computes exactly the bits of fanin.stream.fill_reference (stream version 1):
 * Philox4x32-10 words, then the float transforms of stream.py done operation for
 * operation in IEEE float32 / float64 arithmetic. Build without floating-point
 * contraction (-ffp-contract=off) and without -ffast-math, or the bits change.
 *
 * fill(out, fmt, key, call, kind, loc, scale, clamp_lo, clamp_hi, starts, row_len,
 *      threads=None)
 *     Element t of row r of out (viewed as len(starts) rows of row_len) gets the
 *     stream value of flat element index starts[r] + t. Releases the GIL, runs on
 *     `threads` threads (default: set_num_threads / FANIN_NUM_THREADS / the CPUs
 *     this process may use), and stops with KeyboardInterrupt on Ctrl-C.
 *     Like the reference, a row's first word index is starts[r] * (words per
 *     element) mod 2**64; blocks then count on within the row without wrapping.
 * set_num_threads(n), get_num_threads()   (n=None: FANIN_NUM_THREADS or all CPUs)
 * isa() -> the instruction-set variant in use ("avx512", "avx2" or "generic");
 *     FANIN_KERNEL_ISA=generic|avx2 at import forces a lower one (for tests).
 * _transform_words(words, out, fmt, kind, loc, scale, lo, hi): test hook running
 *     the transform and rounding on given uint32 words instead of Philox output.
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

/* ---------------------------------------------------------------------------- */
/* Constants, rounded exactly like the reference: Python floats (doubles) cast    */
/* to float32 with round to nearest.                                              */
/* ---------------------------------------------------------------------------- */

#define FK_PHILOX_M0 0xD2511F53u
#define FK_PHILOX_M1 0xCD9E8D57u
#define FK_PHILOX_W0 0x9E3779B9u
#define FK_PHILOX_W1 0xBB67AE85u

#define FK_BLOCKS 16            /* Philox blocks per batch */
#define FK_WORDS (4 * FK_BLOCKS) /* words per batch */

enum { FK_UNIFORM = 0, FK_NORMAL = 1, FK_TRUNCATED = 2 };
enum { FK_F16 = 0, FK_BF16 = 1, FK_F32 = 2, FK_F64 = 3 };

#define FK_ERF_SQRT2 0.9544997361036415855994347256669331250564475525
#define FK_SQRT2 1.4142135623730950488016887242096980785696718753
#define FK_LN2 0.6931471805599453094172321214581765680755001343

static const float fk_erf_sqrt2_32 = (float)FK_ERF_SQRT2;
static const float fk_sqrt2_32 = (float)FK_SQRT2;
static const float fk_ln2_32 = (float)FK_LN2;
static const double fk_erf_sqrt2_64 = FK_ERF_SQRT2;
static const double fk_sqrt2_64 = FK_SQRT2;
static const double fk_ln2_64 = FK_LN2;

/* 2 / (2k + 1), highest degree first */
static const float fk_log32[6] = {
    (float)(2.0 / 11), (float)(2.0 / 9), (float)(2.0 / 7),
    (float)(2.0 / 5), (float)(2.0 / 3), (float)(2.0 / 1),
};
static const double fk_log64[12] = {
    2.0 / 23, 2.0 / 21, 2.0 / 19, 2.0 / 17, 2.0 / 15, 2.0 / 13,
    2.0 / 11, 2.0 / 9, 2.0 / 7, 2.0 / 5, 2.0 / 3, 2.0 / 1,
};

/* Giles, "Approximating the erfinv function" (2011); highest degree first. */
static const float fk_g32_central[9] = {
    (float)2.81022636e-08, (float)3.43273939e-07, (float)-3.5233877e-06,
    (float)-4.39150654e-06, (float)0.00021858087, (float)-0.00125372503,
    (float)-0.00417768164, (float)0.246640727, (float)1.50140941,
};
static const float fk_g32_tail[9] = {
    (float)-0.000200214257, (float)0.000100950558, (float)0.00134934322,
    (float)-0.00367342844, (float)0.00573950773, (float)-0.0076224613,
    (float)0.00943887047, (float)1.00167406, (float)2.83297682,
};
static const double fk_g64_central[23] = {
    -3.6444120640178196996e-21, -1.685059138182016589e-19,
    1.2858480715256400167e-18, 1.115787767802518096e-17,
    -1.333171662854620906e-16, 2.0972767875968561637e-17,
    6.6376381343583238325e-15, -4.0545662729752068639e-14,
    -8.1519341976054721522e-14, 2.6335093153082322977e-12,
    -1.2975133253453532498e-11, -5.4154120542946279317e-11,
    1.051212273321532285e-09, -4.1126339803469836976e-09,
    -2.9070369957882005086e-08, 4.2347877827932403518e-07,
    -1.3654692000834678645e-06, -1.3882523362786468719e-05,
    0.0001867342080340571352, -0.00074070253416626697512,
    -0.0060336708714301490533, 0.24015818242558961693,
    1.6536545626831027356,
};
static const double fk_g64_middle[19] = {
    2.2137376921775787049e-09, 9.0756561938885390979e-08,
    -2.7517406297064545428e-07, 1.8239629214389227755e-08,
    1.5027403968909827627e-06, -4.013867526981545969e-06,
    2.9234449089955446044e-06, 1.2475304481671778723e-05,
    -4.7318229009055733981e-05, 6.8284851459573175448e-05,
    2.4031110387097893999e-05, -0.0003550375203628474796,
    0.00095328937973738049703, -0.0016882755560235047313,
    0.0024914420961078508066, -0.0037512085075692412107,
    0.005370914553590063617, 1.0052589676941592334,
    3.0838856104922207635,
};
static const double fk_g64_tail[17] = {
    -2.7109920616438573243e-11, -2.5556418169965252055e-10,
    1.5076572693500548083e-09, -3.7894654401267369937e-09,
    7.6157012080783393804e-09, -1.4960026627149240478e-08,
    2.9147953450901080826e-08, -6.7711997758452339498e-08,
    2.2900482228026654717e-07, -9.9298272942317002539e-07,
    4.5260625972231537039e-06, -1.9681778105531670567e-05,
    7.5995277030017761139e-05, -0.00021503011930044477347,
    -0.00013871931833623122026, 1.0103004648645343977,
    4.8499064014085844221,
};

typedef struct {
    uint32_t key_lo, key_hi, call_lo, call_hi;
    int kind, fmt, itemsize;
    float loc32, scale32, lo32, hi32;
    double loc64, scale64, lo64, hi64;
    int32_t lo16, hi16;   /* bounds as float16 / bfloat16 bits */
    int32_t klo16, khi16; /* their order keys (fk_key16) */
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

/* Batch stages inlined into their callers: the Philox, transform and store of a
 * batch then overlap in the pipeline (about 5% in the fill loop). */
#if defined(__GNUC__)
#define FK_INLINE inline __attribute__((always_inline))
#else
#define FK_INLINE inline
#endif

typedef void (*fk_segment_fn)(const fk_params *, uint64_t, unsigned, size_t, char *);
typedef void (*fk_words_fn)(const fk_params *, const uint32_t *, size_t, char *);

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
        fk_isa = "avx512";
    }
    else if (has2) {
        fk_segment = segment_avx2;
        fk_words = words_avx2;
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
    const uint64_t *starts;
    size_t nrows, row_len, n;
} fk_job;

/* Does row r + 1 start at the word right after row r's last word? */
static inline int
fk_continues(const fk_job *J, size_t r)
{
    const uint64_t per = J->p.fmt == FK_F64 ? 2u : 1u;
    const uint64_t w0 = J->starts[r] * per, w1 = J->starts[r + 1] * per;
    const uint64_t len = (uint64_t)J->row_len * per;
    return w0 <= UINT64_MAX - len && w1 == w0 + len;
}

/* Fill flat output positions [a, b). Consecutive rows whose stream indices
 * continue each other are done as one run. */
static void
fk_fill_range(const fk_job *J, size_t a, size_t b)
{
    const size_t L = J->row_len;
    const size_t isz = (size_t)J->p.itemsize;
    while (a < b) {
        size_t r = a / L, t = a - r * L;
        /* the reference: row r's first word mod 2**64, then blocks counted on */
        const uint64_t per = J->p.fmt == FK_F64 ? 2u : 1u;
        uint64_t w0 = J->starts[r] * per;
        uint64_t off = (w0 & 3u) + (uint64_t)t * per;
        uint64_t blk = (w0 >> 2) + (off >> 2);
        unsigned lane = (unsigned)(off & 3u);
        size_t end = (r + 1) * L; /* end of row r, flat */
        if (end > b) end = b;
        /* extend through following rows that continue the stream's words (the
         * reference computes each row's first word mod 2**64, the rest unwrapped) */
        while (end < b && end == (r + 1) * L && fk_continues(J, r)) {
            r++;
            end = (r + 1) * L;
            if (end > b) end = b;
        }
        fk_segment(&J->p, blk, lane, end - a, J->out + a * isz);
        a = end;
    }
}

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
        if (b > S->job->n) b = S->job->n;
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
    size_t n = J->n;
    if (n < FK_MIN_PARALLEL / 4) { /* tiny: keep the GIL, no overhead */
        fk_fill_range(J, 0, n);
        return 0;
    }
    size_t maxt = (n + FK_MIN_PARALLEL / 2 - 1) / (FK_MIN_PARALLEL / 2);
    if (nthreads < 1) nthreads = 1;
    if ((size_t)nthreads > maxt) nthreads = (int)maxt;
    if (n < FK_MIN_PARALLEL) nthreads = 1;
    if (nthreads == 1) {
        for (size_t a = 0; a < n; a += FK_SLAB) {
            size_t b = a + FK_SLAB < n ? a + FK_SLAB : n;
            Py_BEGIN_ALLOW_THREADS
            fk_fill_range(J, a, b);
            Py_END_ALLOW_THREADS
            if (b < n && PyErr_CheckSignals() < 0) return -1;
        }
        return 0;
    }
    fk_shared S;
    S.job = J;
    S.next = 0;
    S.stop = 0;
    /* about 8 chunks per thread for mid sizes (balance), FK_CHUNK_BYTES at most; whole
     * batches of FK_WORDS elements */
    size_t chunk = n / ((size_t)nthreads * 8u);
    size_t maxchunk = FK_CHUNK_BYTES / (size_t)J->p.itemsize;
    chunk = chunk < 4096u ? 4096u : chunk > maxchunk ? maxchunk : chunk;
    chunk = (chunk + FK_WORDS - 1) / FK_WORDS * FK_WORDS;
    S.chunk = chunk;
    S.shift = 0;
    if (chunk == maxchunk) {
        /* whole chunks start on FK_CHUNK_BYTES boundaries of the address space: a
         * (transparent huge) page is then faulted in by one thread only */
        size_t mis = (size_t)((uintptr_t)J->out % FK_CHUNK_BYTES);
        if (mis % (size_t)J->p.itemsize == 0) S.shift = mis / (size_t)J->p.itemsize;
    }
    S.nchunks = (n + S.shift + chunk - 1) / chunk;
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
        int more = fk_work(&S, FK_SLAB / chunk + 1); /* about FK_SLAB elements */
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

static int
fk_parse_fmt(PyObject *o, int *fmt, int *itemsize)
{
    const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
    if (s == NULL) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "fmt must be a str");
        return -1;
    }
    if (strcmp(s, "float32") == 0) { *fmt = FK_F32; *itemsize = 4; }
    else if (strcmp(s, "float64") == 0) { *fmt = FK_F64; *itemsize = 8; }
    else if (strcmp(s, "float16") == 0) { *fmt = FK_F16; *itemsize = 2; }
    else if (strcmp(s, "bfloat16") == 0) { *fmt = FK_BF16; *itemsize = 2; }
    else {
        PyErr_Format(PyExc_ValueError, "unknown stream format %R", o);
        return -1;
    }
    return 0;
}

/* A bound, exactly representable in the 16-bit format, to its bits. */
static int32_t
fk_bound16(double v, int fmt)
{
    if (fmt == FK_BF16) {
        float f = (float)v;
        return (int32_t)((uint32_t)fk_f2i(f) >> 16);
    }
    /* float16: exact conversion of a representable value (or +-inf) */
    if (isinf(v)) return v > 0 ? 0x7C00 : 0xFC00;
    int32_t sign = signbit(v) ? 0x8000 : 0;
    double a = fabs(v);
    if (a == 0.0) return sign;
    int ex;
    double m = frexp(a, &ex); /* a = m * 2**ex, m in [0.5, 1) */
    int e = ex - 1;           /* a = (2m) * 2**e */
    if (e < -14) {            /* subnormal: a = k * 2**-24 */
        return sign | (int32_t)ldexp(a, 24);
    }
    int32_t mant = (int32_t)ldexp(2.0 * m - 1.0, 10);
    if (e > 15) return sign | 0x7C00;
    return sign | ((e + 15) << 10) | mant;
}

static void
fk_set_params(fk_params *P, uint64_t key, uint64_t call, int kind, int fmt, int itemsize,
              double loc, double scale, double lo, double hi)
{
    P->key_lo = (uint32_t)key;
    P->key_hi = (uint32_t)(key >> 32);
    P->call_lo = (uint32_t)call;
    P->call_hi = (uint32_t)(call >> 32);
    P->kind = kind;
    P->fmt = fmt;
    P->itemsize = itemsize;
    P->loc32 = (float)loc;
    P->scale32 = (float)scale;
    P->lo32 = (float)lo;
    P->hi32 = (float)hi;
    P->loc64 = loc;
    P->scale64 = scale;
    P->lo64 = lo;
    P->hi64 = hi;
    P->lo16 = P->hi16 = P->klo16 = P->khi16 = 0;
    if (fmt == FK_F16 || fmt == FK_BF16) {
        P->lo16 = fk_bound16(lo, fmt);
        P->hi16 = fk_bound16(hi, fmt);
        P->klo16 = fk_key16(P->lo16);
        P->khi16 = fk_key16(P->hi16);
    }
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

static PyObject *
fk_fill(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)self;
    static const char *usage = "fill(out, fmt, key, call, kind, loc, scale, clamp_lo, "
                               "clamp_hi, starts, row_len, threads=None)";
    PyObject *threads_obj = NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs == 12 && nkw == 0) {
        threads_obj = args[11];
    }
    else if (nargs != 11 || nkw > 1) {
        PyErr_Format(PyExc_TypeError, "%s: wrong number of arguments", usage);
        return NULL;
    }
    else if (nkw == 1) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, 0);
        if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, "threads") != 0) {
            PyErr_Format(PyExc_TypeError, "%s: unexpected keyword %R", usage, name);
            return NULL;
        }
        threads_obj = args[11];
    }

    PyObject *out_obj = args[0], *starts_obj = args[9];
    if (!PyArray_Check(out_obj)) {
        PyErr_SetString(PyExc_TypeError, "out must be a numpy.ndarray");
        return NULL;
    }
    PyArrayObject *out = (PyArrayObject *)out_obj;
    if (!PyArray_IS_C_CONTIGUOUS(out) || !PyArray_ISWRITEABLE(out)) {
        PyErr_SetString(PyExc_ValueError, "out must be a writable C-contiguous array");
        return NULL;
    }
    int fmt, itemsize;
    if (fk_parse_fmt(args[1], &fmt, &itemsize) < 0) return NULL;
    if ((int)PyArray_ITEMSIZE(out) != itemsize) {
        PyErr_Format(PyExc_TypeError, "out's itemsize %d does not fit format %R",
                     (int)PyArray_ITEMSIZE(out), args[1]);
        return NULL;
    }
    uint64_t key, call;
    if (fk_get_u64(args[2], "key", &key) < 0) return NULL;
    if (fk_get_u64(args[3], "call", &call) < 0) return NULL;
    long kind = PyLong_AsLong(args[4]);
    if (kind == -1 && PyErr_Occurred()) return NULL;
    if (kind < 0 || kind > 2) {
        PyErr_SetString(PyExc_ValueError, "kind must be 0 (uniform), 1 (normal) or 2 "
                        "(truncated_normal)");
        return NULL;
    }
    double loc = PyFloat_AsDouble(args[5]);
    if (loc == -1.0 && PyErr_Occurred()) return NULL;
    double scale = PyFloat_AsDouble(args[6]);
    if (scale == -1.0 && PyErr_Occurred()) return NULL;
    double lo = PyFloat_AsDouble(args[7]);
    if (lo == -1.0 && PyErr_Occurred()) return NULL;
    double hi = PyFloat_AsDouble(args[8]);
    if (hi == -1.0 && PyErr_Occurred()) return NULL;
    if (!PyArray_Check(starts_obj)) {
        PyErr_SetString(PyExc_TypeError, "starts must be a numpy uint64 array");
        return NULL;
    }
    PyArrayObject *starts = (PyArrayObject *)starts_obj;
    if (PyArray_TYPE(starts) != NPY_UINT64 || !PyArray_IS_C_CONTIGUOUS(starts) ||
        !PyArray_ISALIGNED(starts)) {
        PyErr_SetString(PyExc_TypeError, "starts must be a C-contiguous numpy uint64 array");
        return NULL;
    }
    Py_ssize_t row_len = PyLong_AsSsize_t(args[10]);
    if (row_len == -1 && PyErr_Occurred()) return NULL;
    if (row_len < 0) {
        PyErr_SetString(PyExc_ValueError, "row_len must be >= 0");
        return NULL;
    }
    int nthreads = fk_num_threads;
    if (threads_obj != NULL && threads_obj != Py_None &&
        fk_thread_count(threads_obj, &nthreads) < 0)
        return NULL;
    npy_intp n = PyArray_SIZE(out);
    npy_intp nrows = PyArray_SIZE(starts);
    if (row_len != 0 && nrows > n / row_len) goto size_mismatch;
    if ((npy_intp)(nrows * row_len) != n) goto size_mismatch;
    if (n == 0) Py_RETURN_NONE;

    fk_job J;
    fk_set_params(&J.p, key, call, (int)kind, fmt, itemsize, loc, scale, lo, hi);
    J.out = (char *)PyArray_DATA(out);
    J.starts = (const uint64_t *)PyArray_DATA(starts);
    J.nrows = (size_t)nrows;
    J.row_len = (size_t)row_len;
    J.n = (size_t)n;
    if (fk_run(&J, nthreads) < 0) return NULL;
    Py_RETURN_NONE;

size_mismatch:
    PyErr_Format(PyExc_ValueError, "%zd rows of %zd elements do not fill an array of "
                 "%zd elements", (Py_ssize_t)nrows, row_len, (Py_ssize_t)n);
    return NULL;
}

/* _transform_words(words, out, fmt, kind, loc, scale, lo, hi): test hook that runs
 * the transform and store on given uint32 words (element i of a 32-bit format uses
 * word i; float64 element i uses words 2i, 2i+1). */
static PyObject *
fk_transform_words(PyObject *self, PyObject *args)
{
    (void)self;
    PyArrayObject *words, *out;
    const char *fmts;
    int kind;
    double loc, scale, lo, hi;
    if (!PyArg_ParseTuple(args, "O!O!sidddd", &PyArray_Type, &words, &PyArray_Type, &out,
                          &fmts, &kind, &loc, &scale, &lo, &hi))
        return NULL;
    PyObject *fo = PyUnicode_FromString(fmts);
    if (fo == NULL) return NULL;
    int fmt, itemsize;
    int rc = fk_parse_fmt(fo, &fmt, &itemsize);
    Py_DECREF(fo);
    if (rc < 0) return NULL;
    if (kind < 0 || kind > 2) {
        PyErr_SetString(PyExc_ValueError, "bad kind");
        return NULL;
    }
    npy_intp nw = PyArray_SIZE(words);
    npy_intp per = fmt == FK_F64 ? 2 : 1;
    if (PyArray_TYPE(words) != NPY_UINT32 || !PyArray_IS_C_CONTIGUOUS(words) ||
        !PyArray_IS_C_CONTIGUOUS(out) || !PyArray_ISWRITEABLE(out) ||
        (int)PyArray_ITEMSIZE(out) != itemsize || nw % per != 0 ||
        PyArray_SIZE(out) != nw / per) {
        PyErr_SetString(PyExc_ValueError, "words must be contiguous uint32 and out must "
                        "hold one element per word (two words for float64)");
        return NULL;
    }
    fk_params P;
    fk_set_params(&P, 0, 0, kind, fmt, itemsize, loc, scale, lo, hi);
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
     "fill(out, fmt, key, call, kind, loc, scale, clamp_lo, clamp_hi, starts, row_len, "
     "threads=None)\n\nFill out with stream values (see fanin.stream.fill_reference)."},
    {"set_num_threads", fk_set_num_threads, METH_O,
     "set_num_threads(n): threads used by fill (None: FANIN_NUM_THREADS or all CPUs)."},
    {"get_num_threads", fk_get_num_threads, METH_NOARGS,
     "get_num_threads() -> threads used by fill."},
    {"isa", fk_get_isa, METH_NOARGS,
     "isa() -> the instruction-set variant in use: 'avx512', 'avx2' or 'generic'."},
    {"_transform_words", fk_transform_words, METH_VARARGS,
     "_transform_words(words, out, fmt, kind, loc, scale, lo, hi): test hook."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fk_module = {
    PyModuleDef_HEAD_INIT, "fanin._kernel",
    "Compiled fanin stream kernel: same bits as fanin.stream.fill_reference.", -1,
    fk_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__kernel(void)
{
    import_array();
    fk_pick_isa();
    fk_num_threads = fk_default_threads();
    PyObject *m = PyModule_Create(&fk_module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "STREAM_VERSION", 1) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
