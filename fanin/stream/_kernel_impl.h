/*
 * fanin.stream._kernel: the element loops, compiled once per instruction set.
 *
 * _kernel.c includes this file several times, each time with FK_SUFFIX set (and, on
 * x86-64 with GCC, under a `#pragma GCC target`), so every function here exists once
 * per ISA and the fastest supported copy is picked at import time. The scalar loops
 * below call the element functions of _kernel.c, which mirror the transforms of
 * fanin/stream/transforms.py (the reference) operation for operation; the AVX2 and
 * AVX-512 loops (_kernel_avx2.h, _kernel_avx512.h) do the same operations on vectors.
 * The file must be compiled with -ffp-contract=off and without -ffast-math.
 */

#define FK_CAT2(a, b) a##_##b
#define FK_CAT(a, b) FK_CAT2(a, b)
#define FK(name) FK_CAT(name, FK_SUFFIX)

/* ---------------------------------------------------------------------------- */
/* Scalar loops: n elements of the output format from the words W into T, which  */
/* is aligned for the format. The generic variant, short runs, float64 on AVX2    */
/* and the integer formats use them; the compiler vectorizes what it can.        */
/* ---------------------------------------------------------------------------- */

static FK_INLINE void
FK(scalar32)(const fk_params *P, const uint32_t *restrict W, size_t n, float *restrict V)
{
    switch (P->kind) {
    case FK_UNIFORM:
        for (size_t i = 0; i < n; i++) V[i] = fk_uniform32(P, W[i]);
        break;
    case FK_NORMAL:
        for (size_t i = 0; i < n; i++) V[i] = fk_normal32(P, W[i]);
        break;
    case FK_TRUNCATED:
        for (size_t i = 0; i < n; i++) V[i] = fk_tn2_32(P, W[i]);
        break;
    default:
        for (size_t i = 0; i < n; i++) V[i] = fk_tn_general32(P, W[i]);
        break;
    }
}

static FK_INLINE void
FK(scalar64)(const fk_params *P, const uint32_t *restrict W, size_t n, double *restrict T)
{
    const double lo = P->lo64, hi = P->hi64;
    switch (P->kind) {
    case FK_UNIFORM:
        for (size_t i = 0; i < n; i++)
            T[i] = fk_clamp64(fk_uniform64(P, W[2 * i], W[2 * i + 1]), lo, hi);
        break;
    case FK_NORMAL:
        for (size_t i = 0; i < n; i++) T[i] = fk_clamp64(fk_normal64(P, fk_pair(W + 2 * i)), lo, hi);
        break;
    case FK_TRUNCATED:
        for (size_t i = 0; i < n; i++) T[i] = fk_clamp64(fk_tn2_64(P, fk_pair(W + 2 * i)), lo, hi);
        break;
    default:
        for (size_t i = 0; i < n; i++)
            T[i] = fk_clamp64(fk_tn_general64(P, fk_pair(W + 2 * i)), lo, hi);
        break;
    }
}

/* float32 values to the 16-bit formats: round, then clamp the 16-bit bits */
static FK_INLINE void
FK(scalar16)(const fk_params *P, const float *restrict V, size_t n, uint16_t *restrict o)
{
    if (P->fmt == FK_BF16) {
        for (size_t i = 0; i < n; i++) {
            uint32_t b = (uint32_t)fk_f2i(V[i]);
            o[i] = fk_clamp16(P, (int32_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16));
        }
        return;
    }
    /* float16: round to nearest even, subnormals included (as numpy's astype) */
    for (size_t i = 0; i < n; i++) o[i] = fk_clamp16(P, (int32_t)fk_f32_to_f16(V[i]));
}

static void
FK(scalar_batch)(const fk_params *P, const uint32_t *restrict W, size_t n, void *restrict T)
{
    if (P->fmt == FK_F64) {
        FK(scalar64)(P, W, n, (double *)T);
    }
    else if (P->fmt >= FK_I8) {
        fk_uniform_int(P, W, n, T);
    }
    else if (P->fmt == FK_F32) {
        float *o = (float *)T;
        FK(scalar32)(P, W, n, o);
        for (size_t i = 0; i < n; i++) o[i] = fk_clamp32(o[i], P->lo32, P->hi32);
    }
    else {
        float V[FK_WORDS];
        FK(scalar32)(P, W, n, V);
        FK(scalar16)(P, V, n, (uint16_t *)T);
    }
}

/* scalar_batch into out of any alignment */
static void
FK(scalar_to)(const fk_params *P, const uint32_t *W, size_t n, char *out)
{
    const size_t isz = (size_t)P->itemsize;
    if (((uintptr_t)out & (isz - 1u)) == 0) {
        FK(scalar_batch)(P, W, n, out);
        return;
    }
    union { double d[FK_WORDS]; char c[FK_WORDS * 8]; } T;
    FK(scalar_batch)(P, W, n, T.c);
    memcpy(out, T.c, n * isz);
}

/* ---------------------------------------------------------------------------- */
/* FK(run)(P, b, Win, nb, out): nb batches of FK_WORDS words, from the Philox     */
/* blocks b, b + FK_BLOCKS, ... or (Win not NULL: test hook, short runs) from     */
/* Win, into nb * FK_WORDS / per elements at out (any alignment).                  */
/* ---------------------------------------------------------------------------- */

/* The vector loops' dispatch: CALL(K, F) for P's kind and format, each a constant
 * of its own instance of the loop (P in scope; the call returns) */
#define FK_FMT32(CALL, K)                                                                   \
    switch (P->fmt) {                                                                       \
    case FK_F32: CALL(K, FK_F32); return;                                                   \
    case FK_BF16: CALL(K, FK_BF16); return;                                                 \
    default: CALL(K, FK_F16); return;                                                       \
    }
#define FK_EACH32(CALL)                                                                     \
    switch (P->kind) {                                                                      \
    case FK_UNIFORM: FK_FMT32(CALL, FK_UNIFORM)                                             \
    case FK_NORMAL: FK_FMT32(CALL, FK_NORMAL)                                               \
    case FK_TRUNCATED: FK_FMT32(CALL, FK_TRUNCATED)                                         \
    default: FK_FMT32(CALL, FK_TN_GENERAL)                                                  \
    }

#if defined(FK_ISA_AVX512)
#include "_kernel_avx512.h"
#elif defined(FK_ISA_AVX2)
#include "_kernel_avx2.h"
#else
/* Philox4x32-10 on FK_BLOCKS consecutive blocks b0, b0+1, ...; word 4*i + l of W is
 * lane l of block b0 + i. */
static FK_INLINE void
FK(philox)(const fk_params *P, uint64_t b0, uint32_t *restrict W)
{
    uint32_t c0[FK_BLOCKS], c1[FK_BLOCKS], c2[FK_BLOCKS], c3[FK_BLOCKS];
    for (int i = 0; i < FK_BLOCKS; i++) {
        uint64_t b = b0 + (uint64_t)i;
        c0[i] = (uint32_t)b;
        c1[i] = (uint32_t)(b >> 32);
        c2[i] = P->call_lo;
        c3[i] = P->call_hi;
    }
    uint32_t k0 = P->key_lo, k1 = P->key_hi;
    /* Not unrolled: complete unrolling would keep GCC from vectorizing. */
    FK_NO_UNROLL
    for (int r = 0; r < 10; r++) {
        FK_NO_UNROLL
        for (int i = 0; i < FK_BLOCKS; i++) {
            uint32_t a = c0[i], b = c2[i];
            uint32_t hi0 = (uint32_t)(((uint64_t)a * FK_PHILOX_M0) >> 32);
            uint32_t hi1 = (uint32_t)(((uint64_t)b * FK_PHILOX_M1) >> 32);
            uint32_t n0 = hi1 ^ c1[i] ^ k0;
            uint32_t n2 = hi0 ^ c3[i] ^ k1;
            c1[i] = b * FK_PHILOX_M1;
            c3[i] = a * FK_PHILOX_M0;
            c0[i] = n0;
            c2[i] = n2;
        }
        k0 += FK_PHILOX_W0;
        k1 += FK_PHILOX_W1;
    }
    for (int i = 0; i < FK_BLOCKS; i++) {
        W[4 * i + 0] = c0[i];
        W[4 * i + 1] = c1[i];
        W[4 * i + 2] = c2[i];
        W[4 * i + 3] = c3[i];
    }
}

static void
FK(run)(const fk_params *P, uint64_t b, const uint32_t *Win, size_t nb, char *out)
{
    uint32_t W[FK_WORDS];
    const size_t n = FK_WORDS / (size_t)P->per, step = n * (size_t)P->itemsize;
    for (size_t j = 0; j < nb; j++) {
        const uint32_t *src = W;
        if (Win) src = Win + j * FK_WORDS;
        else FK(philox)(P, b + (uint64_t)j * FK_BLOCKS, W);
        FK(scalar_to)(P, src, n, out + j * step);
    }
}
#endif

/* ---------------------------------------------------------------------------- */
/* A run of `count` consecutive elements whose first word is lane `lane` of       */
/* Philox block b.                                                                */
/* ---------------------------------------------------------------------------- */

/* Elements skip .. skip + take - 1 of the batch at block b, into out: a batch run
 * into a buffer, or for a few words only the blocks they need (scalar). */
static void
FK(part)(const fk_params *P, uint64_t b, size_t skip, size_t take, char *out)
{
    union { double d[FK_WORDS]; char c[FK_WORDS * 8]; } T;
    const size_t per = (size_t)P->per, isz = (size_t)P->itemsize;
    const size_t nwords = (skip + take) * per;
    if (nwords < FK_SHORT_WORDS) {
        uint32_t W[FK_SHORT_WORDS + 3];
        for (size_t k = 0; 4 * k < nwords; k++) fk_philox_block(P, b + k, W + 4 * k);
        FK(scalar_batch)(P, W, skip + take, T.c);
    }
#if defined(FK_ISA_AVX512) || defined(FK_ISA_AVX2)
    else if (P->fmt <= FK_F32 && nwords <= FK_WORDS - 32) { /* the groups it needs */
        FK(head32)(P, b, (int)((nwords + 31) / 32), T.c);
    }
#endif
    else {
        FK(run)(P, b, NULL, 1, T.c);
    }
    memcpy(out, T.c + skip * isz, take * isz);
}

static void
FK(segment)(const fk_params *P, uint64_t b, unsigned lane, size_t count, char *out)
{
    const size_t per = (size_t)P->per, isz = (size_t)P->itemsize;
    const size_t full = FK_WORDS / per; /* elements per batch */
    const size_t skip = lane / per;     /* elements before the first, in block b */
    if (skip || count < full) {         /* the first batch, partly */
        size_t take = full - skip < count ? full - skip : count;
        FK(part)(P, b, skip, take, out);
        out += take * isz;
        count -= take;
        b += FK_BLOCKS;
    }
    size_t nb = count / full;
    if (nb) {
        FK(run)(P, b, NULL, nb, out);
        out += nb * full * isz;
        count -= nb * full;
        b += (uint64_t)nb * FK_BLOCKS;
    }
    if (count) FK(part)(P, b, 0, count, out);
}

/* Test hook: transform given words (not Philox output) into out; nwords is a
 * multiple of the words per element. Whole batches straight from Win. */
static void
FK(words)(const fk_params *P, const uint32_t *Win, size_t nwords, char *out)
{
    FK_ALIGN(64) uint32_t W[FK_WORDS];
    union { double d[FK_WORDS]; char c[FK_WORDS * 8]; } T;
    const size_t per = (size_t)P->per, isz = (size_t)P->itemsize;
    const size_t nb = nwords / FK_WORDS, m = nwords - nb * FK_WORDS;
    if (nb) FK(run)(P, 0, Win, nb, out);
    if (m == 0) return;
    memset(W, 0, sizeof(W));
    memcpy(W, Win + nb * FK_WORDS, m * 4u);
    FK(run)(P, 0, W, 1, T.c);
    memcpy(out + nb * (FK_WORDS / per) * isz, T.c, (m / per) * isz);
}

/* Benchmark hook: the Philox words of nb batches from block b into W */
static void
FK(philox_words)(const fk_params *P, uint64_t b, size_t nb, uint32_t *W)
{
    for (size_t j = 0; j < nb; j++) {
#if defined(FK_ISA_AVX512)
        __m512i w[FK_WORDS / 16];
        FK(philox)(P, b + (uint64_t)j * FK_BLOCKS, w);
        for (int q = 0; q < FK_WORDS / 16; q++) _mm512_storeu_si512((void *)(W + j * FK_WORDS + 16 * q), w[q]);
#else
        FK(philox)(P, b + (uint64_t)j * FK_BLOCKS, W + j * FK_WORDS);
#endif
    }
}

#if defined(FK_ISA_AVX512)
/* fill_columns' register tiles (other ISAs copy element by element) */

/* 16 vectors of 16 32-bit lanes transposed in registers: a[c] gets lane c of each.
 * 32-bit then 64-bit unpacks within 128-bit lanes leave vector 4m + k holding, in
 * lane j, column 4j + k of rows 4m .. 4m + 3; two rounds of 128-bit lane shuffles
 * gather each column's four lanes. 64 shuffles per 256 elements. */
static FK_INLINE void
FK(transpose16)(__m512i a[16])
{
    __m512i b[16];
    FK_UNROLL
    for (int i = 0; i < 8; i++) {
        b[2 * i] = _mm512_unpacklo_epi32(a[2 * i], a[2 * i + 1]);
        b[2 * i + 1] = _mm512_unpackhi_epi32(a[2 * i], a[2 * i + 1]);
    }
    FK_UNROLL
    for (int m = 0; m < 4; m++) {
        a[4 * m] = _mm512_unpacklo_epi64(b[4 * m], b[4 * m + 2]);
        a[4 * m + 1] = _mm512_unpackhi_epi64(b[4 * m], b[4 * m + 2]);
        a[4 * m + 2] = _mm512_unpacklo_epi64(b[4 * m + 1], b[4 * m + 3]);
        a[4 * m + 3] = _mm512_unpackhi_epi64(b[4 * m + 1], b[4 * m + 3]);
    }
    FK_UNROLL
    for (int k = 0; k < 4; k++) {
        __m512i x0 = _mm512_shuffle_i32x4(a[k], a[4 + k], 0x88);   /* lanes 0, 2 | 0, 2 */
        __m512i x1 = _mm512_shuffle_i32x4(a[k], a[4 + k], 0xDD);   /* lanes 1, 3 | 1, 3 */
        __m512i y0 = _mm512_shuffle_i32x4(a[8 + k], a[12 + k], 0x88);
        __m512i y1 = _mm512_shuffle_i32x4(a[8 + k], a[12 + k], 0xDD);
        b[k] = _mm512_shuffle_i32x4(x0, y0, 0x88);
        b[4 + k] = _mm512_shuffle_i32x4(x1, y1, 0x88);
        b[8 + k] = _mm512_shuffle_i32x4(x0, y0, 0xDD);
        b[12 + k] = _mm512_shuffle_i32x4(x1, y1, 0xDD);
    }
    FK_UNROLL
    for (int c = 0; c < 16; c++) a[c] = b[c];
}

/* A 16x16 tile of 32-bit elements transposed: dst[c * dstride + r] = src[r * sstride + c]
 * (strides in elements). fill_columns' transposed writes. */
static void
FK(tile32)(const uint32_t *src, size_t sstride, uint32_t *dst, size_t dstride)
{
    __m512i a[16];
    FK_UNROLL
    for (int r = 0; r < 16; r++) a[r] = _mm512_loadu_si512((const void *)(src + r * sstride));
    FK(transpose16)(a);
    FK_UNROLL
    for (int c = 0; c < 16; c++) _mm512_storeu_si512((void *)(dst + c * dstride), a[c]);
}

/* The same for 16-bit elements (bfloat16, float16): widened to 32 bits, transposed,
 * narrowed back (16 + 64 + 16 shuffles per 256 elements). */
static void
FK(tile16)(const uint16_t *src, size_t sstride, uint16_t *dst, size_t dstride)
{
    __m512i a[16];
    FK_UNROLL
    for (int r = 0; r < 16; r++)
        a[r] = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(src + r * sstride)));
    FK(transpose16)(a);
    FK_UNROLL
    for (int c = 0; c < 16; c++)
        _mm256_storeu_si256((__m256i *)(void *)(dst + c * dstride), _mm512_cvtepi32_epi16(a[c]));
}

/* An 8x8 tile of 64-bit elements transposed: dst[c * dstride + r] = src[r * sstride + c]
 * (strides in elements). fill_columns' float64 (and 64-bit integer) writes. */
static void
FK(tile64)(const uint64_t *src, size_t sstride, uint64_t *dst, size_t dstride)
{
    __m512d a[8], c[8];
    FK_UNROLL
    for (int r = 0; r < 8; r++) a[r] = _mm512_loadu_pd((const void *)(src + r * sstride));
    FK(transpose8_pd)(a, c);
    FK_UNROLL
    for (int k = 0; k < 8; k++) _mm512_storeu_pd((void *)(dst + k * dstride), c[k]);
}
#endif /* FK_ISA_AVX512 */

/* Short rows transposed: g rows of tl < 16 elements of isz bytes, back to back in
 * src; element t of row c goes to dst[t * ld + c] (ld in elements). fill_columns'
 * writes of short rows: each row of dst in one sweep, gathered 16 (AVX-512) or 8
 * (AVX2) elements at a time. src must stay readable 2 bytes past its end (a 16-bit
 * gather reads 32 bits). */
static void
FK(narrow)(const char *src, size_t tl, size_t g, char *dst, size_t ld, size_t isz)
{
    size_t done = 0; /* rows of src already written, in every row of dst */
    if (tl == 1) { /* a column: the same elements in the same order */
        memcpy(dst, src, g * isz);
        return;
    }
#if defined(FK_ISA_AVX512)
    if (tl == 2 && (isz == 4 || isz == 2)) {
        /* a row is one lane of twice the size: its low half to dst's row 0, high to row 1 */
        const size_t per = 32 / isz; /* pairs in a vector */
        done = g / per * per;
        for (size_t c = 0; c < done; c += per) {
            __m512i v = _mm512_loadu_si512((const void *)(src + c * 2 * isz));
            void *d0 = dst + c * isz, *d1 = dst + (ld + c) * isz;
            if (isz == 4) {
                _mm256_storeu_si256((__m256i *)d0, _mm512_cvtepi64_epi32(v));
                _mm256_storeu_si256((__m256i *)d1, _mm512_cvtepi64_epi32(_mm512_srli_epi64(v, 32)));
            }
            else {
                _mm256_storeu_si256((__m256i *)d0, _mm512_cvtepi32_epi16(v));
                _mm256_storeu_si256((__m256i *)d1, _mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16)));
            }
        }
    }
    else if (isz == 4 || isz == 2) {
        const __m512i at = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                                11, 12, 13, 14, 15),
                                              _mm512_set1_epi32((int)(tl * isz)));
        done = g / 16 * 16;
        for (size_t t = 0; t < tl; t++)
            for (size_t c = 0; c < done; c += 16) {
                __m512i v = _mm512_i32gather_epi32(at, (const void *)(src + (c * tl + t) * isz), 1);
                char *d = dst + (t * ld + c) * isz;
                if (isz == 4) _mm512_storeu_si512((void *)d, v);
                else _mm256_storeu_si256((__m256i *)(void *)d, _mm512_cvtepi32_epi16(v));
            }
    }
#elif defined(FK_ISA_AVX2)
    if (isz == 4) {
        const __m256i at = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                              _mm256_set1_epi32((int)(tl * 4)));
        done = g / 8 * 8;
        for (size_t t = 0; t < tl; t++)
            for (size_t c = 0; c < done; c += 8)
                _mm256_storeu_si256((__m256i *)(void *)(dst + (t * ld + c) * 4),
                                    _mm256_i32gather_epi32((const int *)(const void *)(src + (c * tl + t) * 4), at, 1));
    }
#endif
    for (size_t t = 0; t < tl; t++)
        for (size_t c = done; c < g; c++) memcpy(dst + (t * ld + c) * isz, src + (c * tl + t) * isz, isz);
}

#undef FK
#undef FK_CAT
#undef FK_CAT2
#undef FK_EACH32
#undef FK_FMT32
