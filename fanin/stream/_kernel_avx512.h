/*
 * fanin.stream._kernel's AVX-512 loops (included by _kernel_impl.h with FK_SUFFIX avx512).
 *
 * One fused loop per (kind, format): the Philox words of a batch are transformed,
 * rounded, clamped and stored straight to the output, with no value buffer and no
 * second pass. The 32- and 16-bit formats keep the words in registers; float64 passes
 * them through one L1 buffer (measured 3 % faster for its four-chain truncated normal,
 * which needs the registers). Every operation is the one the element functions of
 * _kernel.c do, in the same order, so the bits are the reference's.
 */

#define FK_NV (FK_WORDS / 16) /* 16-word vectors per batch */

/* Philox4x32-10 on FK_BLOCKS consecutive blocks b0, b0+1, ...: w[q] gets words
 * 16q .. 16q+15 of the batch (word 4*i + l is lane l of block b0 + i).
 * FK_BLOCKS / 8 groups of 8 blocks (4 groups keep both 512-bit multiply ports busy),
 * one block per 64-bit lane: a word lives in the low 32 bits of its lane (the high
 * 32 bits are don't-care: vpmuludq reads only the low half, and XOR keeps halves
 * apart). A round is then 2 vpmuludq, 2 shifts, 2 ternary XORs per group: the full
 * 64-bit product is (hi << 32 | lo), lo needs no extraction. */
#define FK_GROUPS (FK_BLOCKS / 8)
/* The first ng groups (8 blocks, 32 words each: w[0 .. 2 ng)); a whole batch is
 * FK_GROUPS, a constant the loops unroll for */
static FK_INLINE void
FK(philox_groups)(const fk_params *P, uint64_t b0, __m512i w[FK_NV], int ng)
{
    const __m512i idx = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    const __m512i m0 = _mm512_set1_epi64(FK_PHILOX_M0), m1 = _mm512_set1_epi64(FK_PHILOX_M1);
    uint32_t k0 = P->key_lo, k1 = P->key_hi;
    /* round 1: words 2 and 3 (the call) are the same in every block */
    uint64_t q1 = (uint64_t)P->call_lo * FK_PHILOX_M1;
    const __m512i x0 = _mm512_set1_epi32((int)((uint32_t)(q1 >> 32) ^ k0));
    const __m512i lo1 = _mm512_set1_epi32((int)(uint32_t)q1);
    const __m512i c3 = _mm512_set1_epi32((int)(P->call_hi ^ k1));
    __m512i v0[FK_GROUPS], v1[FK_GROUPS], v2[FK_GROUPS], v3[FK_GROUPS];
    FK_UNROLL
    for (int g = 0; g < ng; g++) {
        /* 64-bit block numbers mod 2**64: low word c0, high word c1 */
        __m512i a0 = _mm512_add_epi64(_mm512_set1_epi64((long long)(b0 + 8u * (uint64_t)g)), idx);
        __m512i pa = _mm512_mul_epu32(a0, m0);
        v0[g] = _mm512_xor_si512(_mm512_srli_epi64(a0, 32), x0);
        v1[g] = lo1;
        v2[g] = _mm512_xor_si512(_mm512_srli_epi64(pa, 32), c3);
        v3[g] = pa;
    }
    k0 += FK_PHILOX_W0;
    k1 += FK_PHILOX_W1;
    FK_UNROLL
    for (int r = 1; r < 10; r++) {
        __m512i K0 = _mm512_set1_epi32((int)k0), K1 = _mm512_set1_epi32((int)k1);
        FK_UNROLL
        for (int g = 0; g < ng; g++) {
            __m512i p0 = _mm512_mul_epu32(v0[g], m0), p2 = _mm512_mul_epu32(v2[g], m1);
            /* 0x96: a ^ b ^ c */
            v0[g] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p2, 32), v1[g], K0, 0x96);
            v2[g] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0, 32), v3[g], K1, 0x96);
            v1[g] = p2;
            v3[g] = p0;
        }
        k0 += FK_PHILOX_W0;
        k1 += FK_PHILOX_W1;
    }
    /* to block-major words: (w0, w1) and (w2, w3) pairs per 64-bit lane, then
     * interleave the pairs of 4 blocks at a time */
    const __m512i lo4 = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
    const __m512i hi4 = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
    FK_UNROLL
    for (int g = 0; g < ng; g++) {
        __m512i w01 = _mm512_mask_shuffle_epi32(v0[g], (__mmask16)0xAAAA, v1[g], (_MM_PERM_ENUM)0xA0);
        __m512i w23 = _mm512_mask_shuffle_epi32(v2[g], (__mmask16)0xAAAA, v3[g], (_MM_PERM_ENUM)0xA0);
        w[2 * g] = _mm512_permutex2var_epi64(w01, lo4, w23);
        w[2 * g + 1] = _mm512_permutex2var_epi64(w01, hi4, w23);
    }
}

static FK_INLINE void
FK(philox)(const fk_params *P, uint64_t b0, __m512i w[FK_NV])
{
    FK(philox_groups)(P, b0, w, FK_GROUPS);
}

/* A batch's words: Philox's for block b, or the given Win (test hook) */
static FK_INLINE void
FK(words_in)(const fk_params *P, uint64_t b, const uint32_t *Win, __m512i w[FK_NV])
{
    if (Win == NULL) {
        FK(philox)(P, b, w);
        return;
    }
    FK_UNROLL
    for (int q = 0; q < FK_NV; q++) w[q] = _mm512_loadu_si512((const void *)(Win + 16 * q));
}

/* ---------------------------------------------------------------------------- */
/* float32 transforms: 16 words to 16 values                                      */
/* ---------------------------------------------------------------------------- */

/* 1.f - 1 where f = the bits of w under mask, already in fraction position; one
 * ternary-logic op: (w & mask) | bits of 1.0 (0xEA) */
static FK_INLINE __m512
FK(unit32)(__m512i w, int mask)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512i f = _mm512_ternarylogic_epi32(w, _mm512_set1_epi32(mask), _mm512_castps_si512(one), 0xEA);
    return _mm512_sub_ps(_mm512_castsi512_ps(f), one);
}

/* x with its sign flipped where w's top bit is set: x ^ (w & sign) (0x78) */
static FK_INLINE __m512
FK(signed32)(__m512 x, __m512i w)
{
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(x), w,
                                                         _mm512_set1_epi32(INT32_MIN), 0x78));
}

static FK_INLINE __m512
FK(uniform32)(const fk_params *P, __m512i w)
{
    __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(w, 8)), _mm512_set1_ps(0x1p-24f));
    return _mm512_add_ps(_mm512_set1_ps(P->loc32), _mm512_mul_ps(u, _mm512_set1_ps(P->scale32)));
}

/* The Keras truncated normal: each coefficient's 32 intervals sit in two vectors
 * and vpermt2ps picks them by the word's low 5 bits. */
static FK_INLINE __m512
FK(tn2_32)(const fk_params *P, __m512i w)
{
    __m512 t = FK(unit32)(w, 0x3FFFF << 5);
    __m512 a = _mm512_permutex2var_ps(_mm512_loadu_ps(P->tn2t_32[0]), w,
                                      _mm512_loadu_ps(P->tn2t_32[0] + 16));
    FK_UNROLL
    for (int k = 1; k < FK_TN2_32_DEG1; k++) {
        __m512 c = _mm512_permutex2var_ps(_mm512_loadu_ps(P->tn2t_32[k]), w,
                                          _mm512_loadu_ps(P->tn2t_32[k] + 16));
        a = _mm512_add_ps(_mm512_mul_ps(a, t), c);
    }
    return _mm512_add_ps(_mm512_set1_ps(P->loc32), FK(signed32)(a, w));
}

/* The 7 coefficients of 16 dyadic rows (lane l's at byte ix[l] of fk_rows32): 16 row loads,
 * then an in-register transpose (rows l and l + 8 share a vector; 4x4 transposes
 * inside each 128-bit lane; one two-source permute per coefficient). */
static FK_INLINE void
FK(rows32)(const volatile uint32_t *ix, __m512 c[FK_DY32_DEG1])
{
    const char *base = (const char *)fk_rows32;
    __m512 a[8], t[8], s[8];
    FK_UNROLL
    for (int i = 0; i < 8; i++)
        a[i] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_load_ps((const float *)(const void *)(base + ix[i]))),
                                  _mm256_load_ps((const float *)(const void *)(base + ix[i + 8])), 1);
    FK_UNROLL
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_ps(a[i], a[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(a[i], a[i + 1]);
    }
    FK_UNROLL
    for (int h = 0; h < 8; h += 4) { /* rows h..h+3 (and h+8..h+11) */
        s[h + 0] = _mm512_shuffle_ps(t[h], t[h + 2], 0x44);
        s[h + 1] = _mm512_shuffle_ps(t[h], t[h + 2], 0xEE);
        s[h + 2] = _mm512_shuffle_ps(t[h + 1], t[h + 3], 0x44);
        s[h + 3] = _mm512_shuffle_ps(t[h + 1], t[h + 3], 0xEE);
    }
    /* s[k]: rows 0-3 | coefficient k+4 | rows 8-11, k | k+4; s[k+4]: rows 4-7, 12-15 */
    const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
    const __m512i hi = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    FK_UNROLL
    for (int k = 0; k < 4; k++) {
        c[k] = _mm512_permutex2var_ps(s[k], lo, s[k + 4]);
        if (k + 4 < FK_DY32_DEG1) c[k + 4] = _mm512_permutex2var_ps(s[k], hi, s[k + 4]);
    }
}

/* fk_dyadic32 on 16 lanes: y's polynomial from the rows + off (0: tail,
 * FK_DYADIC_COUNT: center) */
static FK_INLINE __m512
FK(dyadic32)(__m512 y, __m512i off)
{
    __m512i b = _mm512_castps_si512(y);
    __m512i idx = _mm512_sub_epi32(_mm512_srli_epi32(b, 23 - FK_DYADIC_SUB_BITS),
                                   _mm512_set1_epi32((127 + FK_DYADIC_EXP_MIN) << FK_DYADIC_SUB_BITS));
    idx = _mm512_min_epi32(_mm512_max_epi32(idx, _mm512_setzero_si512()),
                           _mm512_set1_epi32(FK_DYADIC_COUNT - 1));
    /* byte offsets of the rows, read back one by one: volatile keeps the compiler from
     * turning the reads into lane extractions, which cost vector ops, not loads */
    FK_ALIGN(64) volatile uint32_t ix[16];
    _mm512_store_si512((void *)ix, _mm512_slli_epi32(_mm512_add_epi32(idx, off), 5));
    __m512 tau = FK(unit32)(_mm512_slli_epi32(b, FK_DYADIC_SUB_BITS), 0x7FFFFF);
    __m512 c[FK_DY32_DEG1];
    FK(rows32)(ix, c);
    __m512 acc = c[0];
    FK_UNROLL
    for (int k = 1; k < FK_DY32_DEG1; k++) acc = _mm512_add_ps(_mm512_mul_ps(acc, tau), c[k]);
    return acc;
}

/* half_unit on 16 lanes */
static FK_INLINE __m512
FK(half_unit32)(__m512i w)
{
    __m512i c = _mm512_and_si512(w, _mm512_set1_epi32(0x3FFFFFFF));
    __m512i d = _mm512_add_epi32(_mm512_add_epi32(c, c), _mm512_set1_epi32(1));
    __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(d), _mm512_set1_ps(0x1p-32f));
    return _mm512_min_ps(t, _mm512_set1_ps(FK_PRED_HALF32));
}

static FK_INLINE __m512
FK(normal32)(const fk_params *P, __m512i w)
{
    __m512 t = FK(half_unit32)(w);
    __mmask16 tail = _mm512_test_epi32_mask(w, _mm512_set1_epi32(1 << 30));
    __m512 p = FK(dyadic32)(t, _mm512_maskz_mov_epi32((__mmask16)~tail, _mm512_set1_epi32(FK_DYADIC_COUNT)));
    __m512 z = FK(signed32)(_mm512_mask_blend_ps(tail, _mm512_mul_ps(t, p), p), w);
    return _mm512_add_ps(_mm512_set1_ps(P->loc32), _mm512_mul_ps(z, _mm512_set1_ps(P->scale32)));
}

/* The general truncated normal: each lane evaluates the one polynomial its region
 * needs (fk_tn_general32) */
static FK_INLINE __m512
FK(tn_general32)(const fk_params *P, __m512i w)
{
    const float *g = P->g32;
    const __m512 one = _mm512_set1_ps(1.0f), ph = _mm512_set1_ps(FK_PRED_HALF32);
    const __m512i sign = _mm512_set1_epi32(INT32_MIN);
    __m512 t = FK(half_unit32)(w);
    __mmask16 right = _mm512_test_epi32_mask(w, sign);
    __m512 omt = _mm512_sub_ps(one, t);
    __m512 u = _mm512_mask_blend_ps(right, t, omt), v = _mm512_mask_blend_ps(right, omt, t);
    __mmask16 low = _mm512_cmp_ps_mask(u, _mm512_set1_ps(g[4]), _CMP_LT_OQ);
    __mmask16 mid = _mm512_kandn(low, _mm512_cmp_ps_mask(u, _mm512_set1_ps(g[5]), _CMP_LT_OQ));
    __mmask16 high = _mm512_knot(_mm512_kor(low, mid));
    __m512 m2 = _mm512_set1_ps(g[3]);
    __m512 yl = _mm512_add_ps(_mm512_set1_ps(g[0]), _mm512_mul_ps(u, m2));
    __m512 c = _mm512_add_ps(_mm512_set1_ps(g[2]), _mm512_mul_ps(u, m2));
    __m512 yh = _mm512_add_ps(_mm512_set1_ps(g[1]), _mm512_mul_ps(v, m2));
    __m512 y = _mm512_mask_blend_ps(mid, _mm512_mask_blend_ps(high, yl, yh), _mm512_abs_ps(c));
    __m512 p = FK(dyadic32)(_mm512_min_ps(y, ph),
                            _mm512_maskz_mov_epi32(mid, _mm512_set1_epi32(FK_DYADIC_COUNT)));
    __m512 neg = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(p), sign));
    __m512 z = _mm512_mask_blend_ps(mid, _mm512_mask_blend_ps(low, p, neg), _mm512_mul_ps(c, p));
    return _mm512_add_ps(_mm512_set1_ps(P->loc32), _mm512_mul_ps(z, _mm512_set1_ps(P->scale32)));
}

static FK_INLINE __m512
FK(value32)(const fk_params *P, int kind, __m512i w)
{
    switch (kind) {
    case FK_UNIFORM: return FK(uniform32)(P, w);
    case FK_NORMAL: return FK(normal32)(P, w);
    case FK_TRUNCATED: return FK(tn2_32)(P, w);
    default: return FK(tn_general32)(P, w);
    }
}

/* ---------------------------------------------------------------------------- */
/* float32 family stores: 32 values (two vectors) at element 32 * p of out        */
/* ---------------------------------------------------------------------------- */

/* Clamp: max(lo, x) is x < lo ? lo : x and min(hi, x) is x > hi ? hi : x, the
 * reference's comparisons (a -0 on a +0 bound stays -0). */
static FK_INLINE __m512
FK(clamp32)(__m512 x, __m512 lo, __m512 hi)
{
    return _mm512_min_ps(hi, _mm512_max_ps(lo, x));
}

/* bfloat16: round to nearest even on the bits, clamp as floats (a bfloat16 is an
 * exact float32, compared as the order keys are), keep the high halves */
static FK_INLINE __m512
FK(bf16_round)(__m512 x, __m512 lo, __m512 hi)
{
    __m512i b = _mm512_castps_si512(x);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7FFF)), odd);
    r = _mm512_and_si512(r, _mm512_set1_epi32((int)0xFFFF0000u));
    return FK(clamp32)(_mm512_castsi512_ps(r), lo, hi);
}

/* float16: F16C's round to nearest even (numpy's astype bits, subnormals kept); the
 * clamp on the exact float16 values widened back, compared as floats */
static FK_INLINE __m256i
FK(f16_round)(__m512 x, __m512 lo, __m512 hi)
{
    const int rne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    __m512 y = _mm512_cvtph_ps(_mm512_cvtps_ph(x, rne));
    return _mm512_cvtps_ph(FK(clamp32)(y, lo, hi), rne);
}

static FK_INLINE void
FK(put32)(const fk_params *P, int fmt, __m512 x0, __m512 x1, char *out, int p)
{
    if (fmt == FK_F32) {
        const __m512 lo = _mm512_set1_ps(P->lo32), hi = _mm512_set1_ps(P->hi32);
        float *o = (float *)(void *)out + 32 * p;
        _mm512_storeu_ps(o, FK(clamp32)(x0, lo, hi));
        _mm512_storeu_ps(o + 16, FK(clamp32)(x1, lo, hi));
        return;
    }
    const __m512 lo = _mm512_set1_ps(P->lo16f), hi = _mm512_set1_ps(P->hi16f);
    uint16_t *o = (uint16_t *)(void *)out + 32 * p;
    if (fmt == FK_BF16) {
        /* the high 16 bits of every 32-bit lane, x0's then x1's */
        const __m512i odd = _mm512_setr_epi32(
            0x00030001, 0x00070005, 0x000B0009, 0x000F000D, 0x00130011, 0x00170015,
            0x001B0019, 0x001F001D, 0x00230021, 0x00270025, 0x002B0029, 0x002F002D,
            0x00330031, 0x00370035, 0x003B0039, 0x003F003D);
        __m512i h = _mm512_permutex2var_epi16(_mm512_castps_si512(FK(bf16_round)(x0, lo, hi)), odd,
                                              _mm512_castps_si512(FK(bf16_round)(x1, lo, hi)));
        _mm512_storeu_si512((void *)o, h);
        return;
    }
    _mm256_storeu_si256((__m256i *)(void *)o, FK(f16_round)(x0, lo, hi));
    _mm256_storeu_si256((__m256i *)(void *)(o + 16), FK(f16_round)(x1, lo, hi));
}

/* nb batches of a float32-family format */
static FK_INLINE void
FK(loop32)(const fk_params *P, int kind, int fmt, uint64_t b, const uint32_t *Win, size_t nb,
           char *out)
{
    const size_t bytes = (size_t)FK_WORDS * (fmt == FK_F32 ? 4u : 2u);
    for (size_t j = 0; j < nb; j++) {
        __m512i w[FK_NV];
        FK(words_in)(P, b + (uint64_t)j * FK_BLOCKS, Win ? Win + j * FK_WORDS : NULL, w);
        FK_UNROLL
        for (int p = 0; p < FK_NV / 2; p++)
            FK(put32)(P, fmt, FK(value32)(P, kind, w[2 * p]), FK(value32)(P, kind, w[2 * p + 1]),
                      out + j * bytes, p);
    }
}

static FK_NOINLINE void
FK(run32)(const fk_params *P, uint64_t b, const uint32_t *Win, size_t nb, char *out)
{
#define FK_LOOP(K, F) FK(loop32)(P, K, F, b, Win, nb, out)
    FK_EACH32(FK_LOOP)
#undef FK_LOOP
}

/* The head of the batch at block b: its first ng < FK_GROUPS groups (32 ng values of
 * a float32-family format) into out. A row that needs part of a batch (short rows at
 * scattered starts: fill_columns of a conv kernel with few output channels, a column
 * shard) computes that part only: a 64-word row took a whole 128-word batch. */
static FK_INLINE void
FK(head_values32)(const fk_params *P, int kind, int fmt, const __m512i w[FK_NV], int ng,
                  char *out)
{
    for (int p = 0; p < ng; p++)
        FK(put32)(P, fmt, FK(value32)(P, kind, w[2 * p]), FK(value32)(P, kind, w[2 * p + 1]),
                  out, p);
}

static FK_NOINLINE void
FK(head32)(const fk_params *P, uint64_t b, int ng, char *out)
{
    __m512i w[FK_NV];
    FK(philox_groups)(P, b, w, ng);
#define FK_HEAD(K, F) FK(head_values32)(P, K, F, w, ng, out)
    FK_EACH32(FK_HEAD)
#undef FK_HEAD
}

/* ---------------------------------------------------------------------------- */
/* float64 transforms: 16 words (8 pairs r = w[2i+1] << 32 | w[2i]) to 8 values   */
/* ---------------------------------------------------------------------------- */

static FK_INLINE __m512d
FK(signed64)(__m512d x, __m512i r)
{
    return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(_mm512_castpd_si512(x), r,
                                                         _mm512_set1_epi64(INT64_MIN), 0x78));
}

/* the 52 fraction bits of r >> shift as 1.f - 1 */
static FK_INLINE __m512d
FK(unit64)(__m512i r, int shift)
{
    const __m512d one = _mm512_set1_pd(1.0);
    __m512i f = _mm512_ternarylogic_epi64(_mm512_srli_epi64(r, (unsigned)shift),
                                          _mm512_set1_epi64(INT64_C(0xFFFFFFFFFFFFF)),
                                          _mm512_castpd_si512(one), 0xEA);
    return _mm512_sub_pd(_mm512_castsi512_pd(f), one);
}

/* j = r >> 11 (53 bits) is exact as a double: hi * 2**21 + (lo >> 11) */
static FK_INLINE __m512d
FK(uniform64)(const fk_params *P, __m512i r)
{
    __m512d u = _mm512_mul_pd(_mm512_cvtepi64_pd(_mm512_srli_epi64(r, 11)), _mm512_set1_pd(0x1p-53));
    return _mm512_add_pd(_mm512_set1_pd(P->loc64), _mm512_mul_pd(u, _mm512_set1_pd(P->scale64)));
}

/* The float64 Keras truncated normal on 4 vectors side by side (four Horner chains
 * in flight, each coefficient's table vectors loaded once): the 15 main intervals by
 * r's low 4 bits, the last interval's 16 pieces by bits 4-7, both with vpermt2pd. */
static FK_INLINE void
FK(tn2_64x4)(const fk_params *P, const __m512i r[4], __m512d z[4])
{
    const __m512i low4 = _mm512_set1_epi64(15);
    __m512i k[4];
    __m512d t[4], a[4];
    __mmask8 last[4];
    for (int u = 0; u < 4; u++) {
        k[u] = _mm512_srli_epi64(r[u], 4);
        last[u] = _mm512_cmpeq_epi64_mask(_mm512_and_si512(r[u], low4), low4);
        t[u] = FK(unit64)(r[u], 8);
        a[u] = _mm512_setzero_pd();
    }
    for (int c = 0; c < FK_TN2_64_DEG1; c++) {
        const double *row = P->tn2t_64[c];
        __m512d m0 = _mm512_loadu_pd(row), m1 = _mm512_loadu_pd(row + 8);
        __m512d s0 = _mm512_loadu_pd(row + 16), s1 = _mm512_loadu_pd(row + 24);
            for (int u = 0; u < 4; u++) {
            __m512d cm = _mm512_permutex2var_pd(m0, r[u], m1);
            __m512d cs = _mm512_permutex2var_pd(s0, k[u], s1);
            __m512d cc = _mm512_mask_blend_pd(last[u], cm, cs);
            a[u] = c == 0 ? cc : _mm512_add_pd(_mm512_mul_pd(a[u], t[u]), cc);
        }
    }
    for (int u = 0; u < 4; u++) z[u] = _mm512_add_pd(_mm512_set1_pd(P->loc64), FK(signed64)(a[u], r[u]));
}

/* 8x8 transpose of doubles: c[k] = (a[0][k], ..., a[7][k]) */
static FK_INLINE void
FK(transpose8_pd)(const __m512d a[8], __m512d c[8])
{
    __m512d t[8];
    FK_UNROLL
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_pd(a[i], a[i + 1]);     /* k = 0, 2, 4, 6 */
        t[i + 1] = _mm512_unpackhi_pd(a[i], a[i + 1]); /* k = 1, 3, 5, 7 */
    }
    FK_UNROLL
    for (int o = 0; o < 2; o++) { /* even, then odd coefficients */
        __m512d x0 = _mm512_shuffle_f64x2(t[o], t[o + 2], 0x88);
        __m512d y0 = _mm512_shuffle_f64x2(t[o], t[o + 2], 0xDD);
        __m512d x1 = _mm512_shuffle_f64x2(t[o + 4], t[o + 6], 0x88);
        __m512d y1 = _mm512_shuffle_f64x2(t[o + 4], t[o + 6], 0xDD);
        c[o] = _mm512_shuffle_f64x2(x0, x1, 0x88);
        c[o + 4] = _mm512_shuffle_f64x2(x0, x1, 0xDD);
        c[o + 2] = _mm512_shuffle_f64x2(y0, y1, 0x88);
        c[o + 6] = _mm512_shuffle_f64x2(y0, y1, 0xDD);
    }
}

/* fk_dyadic64 on 8 lanes (see FK(dyadic32)): rows of 16 (13 used), two transposes */
static FK_INLINE __m512d
FK(dyadic64)(__m512d y, __m512i off)
{
    __m512i b = _mm512_castpd_si512(y);
    __m512i idx = _mm512_sub_epi64(_mm512_srli_epi64(b, 52 - FK_DYADIC_SUB_BITS),
                                   _mm512_set1_epi64((int64_t)(1023 + FK_DYADIC_EXP_MIN) << FK_DYADIC_SUB_BITS));
    idx = _mm512_min_epi64(_mm512_max_epi64(idx, _mm512_setzero_si512()),
                           _mm512_set1_epi64(FK_DYADIC_COUNT - 1));
    FK_ALIGN(64) uint64_t ix[8]; /* byte offsets of the rows (lane extractions: faster here) */
    _mm512_store_si512((void *)ix, _mm512_slli_epi64(_mm512_add_epi64(idx, off), 7));
    __m512d tau = FK(unit64)(_mm512_slli_epi64(b, FK_DYADIC_SUB_BITS), 0);
    __m512d a[8], c[16];
    const char *base = (const char *)fk_rows64;
    FK_UNROLL
    for (int i = 0; i < 8; i++) a[i] = _mm512_load_pd((const void *)(base + ix[i]));
    FK(transpose8_pd)(a, c);
    FK_UNROLL
    for (int i = 0; i < 8; i++) a[i] = _mm512_load_pd((const void *)(base + ix[i] + 64));
    FK(transpose8_pd)(a, c + 8);
    __m512d acc = c[0];
    FK_UNROLL
    for (int k = 1; k < FK_DY64_DEG1; k++) acc = _mm512_add_pd(_mm512_mul_pd(acc, tau), c[k]);
    return acc;
}

static FK_INLINE __m512d
FK(half_unit64)(__m512i r)
{
    __m512i c = _mm512_and_si512(r, _mm512_set1_epi64(INT64_C(0x3FFFFFFFFFFFFFFF)));
    __m512i d = _mm512_add_epi64(_mm512_add_epi64(c, c), _mm512_set1_epi64(1));
    __m512d t = _mm512_mul_pd(_mm512_cvtepi64_pd(d), _mm512_set1_pd(0x1p-64));
    return _mm512_min_pd(t, _mm512_set1_pd(FK_PRED_HALF64));
}

static FK_INLINE __m512d
FK(normal64)(const fk_params *P, __m512i r)
{
    __m512d t = FK(half_unit64)(r);
    __mmask8 tail = _mm512_test_epi64_mask(r, _mm512_set1_epi64(INT64_C(1) << 62));
    __m512d p = FK(dyadic64)(t, _mm512_maskz_mov_epi64((__mmask8)~tail, _mm512_set1_epi64(FK_DYADIC_COUNT)));
    __m512d z = FK(signed64)(_mm512_mask_blend_pd(tail, _mm512_mul_pd(t, p), p), r);
    return _mm512_add_pd(_mm512_set1_pd(P->loc64), _mm512_mul_pd(z, _mm512_set1_pd(P->scale64)));
}

static FK_INLINE __m512d
FK(tn_general64)(const fk_params *P, __m512i r)
{
    const double *g = P->g64;
    const __m512d one = _mm512_set1_pd(1.0), ph = _mm512_set1_pd(FK_PRED_HALF64);
    const __m512i sign = _mm512_set1_epi64(INT64_MIN);
    __m512d t = FK(half_unit64)(r);
    __mmask8 right = _mm512_test_epi64_mask(r, sign);
    __m512d omt = _mm512_sub_pd(one, t);
    __m512d u = _mm512_mask_blend_pd(right, t, omt), v = _mm512_mask_blend_pd(right, omt, t);
    __mmask8 low = _mm512_cmp_pd_mask(u, _mm512_set1_pd(g[4]), _CMP_LT_OQ);
    __mmask8 mid = (__mmask8)(~low & _mm512_cmp_pd_mask(u, _mm512_set1_pd(g[5]), _CMP_LT_OQ));
    __mmask8 high = (__mmask8)~(low | mid);
    __m512d m2 = _mm512_set1_pd(g[3]);
    __m512d yl = _mm512_add_pd(_mm512_set1_pd(g[0]), _mm512_mul_pd(u, m2));
    __m512d c = _mm512_add_pd(_mm512_set1_pd(g[2]), _mm512_mul_pd(u, m2));
    __m512d yh = _mm512_add_pd(_mm512_set1_pd(g[1]), _mm512_mul_pd(v, m2));
    __m512d y = _mm512_mask_blend_pd(mid, _mm512_mask_blend_pd(high, yl, yh), _mm512_abs_pd(c));
    __m512d p = FK(dyadic64)(_mm512_min_pd(y, ph),
                             _mm512_maskz_mov_epi64(mid, _mm512_set1_epi64(FK_DYADIC_COUNT)));
    __m512d neg = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(p), sign));
    __m512d z = _mm512_mask_blend_pd(mid, _mm512_mask_blend_pd(low, p, neg), _mm512_mul_pd(c, p));
    return _mm512_add_pd(_mm512_set1_pd(P->loc64), _mm512_mul_pd(z, _mm512_set1_pd(P->scale64)));
}

/* 4 vectors of values */
static FK_INLINE void
FK(values64)(const fk_params *P, int kind, const __m512i r[4], __m512d z[4])
{
    if (kind == FK_TRUNCATED) {
        FK(tn2_64x4)(P, r, z);
        return;
    }
    FK_UNROLL
    for (int u = 0; u < 4; u++)
        z[u] = kind == FK_UNIFORM ? FK(uniform64)(P, r[u])
             : kind == FK_NORMAL  ? FK(normal64)(P, r[u])
                                  : FK(tn_general64)(P, r[u]);
}

/* nb batches of float64: the words through W (see the top of this file) */
static FK_INLINE void
FK(loop64)(const fk_params *P, int kind, uint64_t b, const uint32_t *Win, size_t nb, char *out)
{
    const __m512d lo = _mm512_set1_pd(P->lo64), hi = _mm512_set1_pd(P->hi64);
    FK_ALIGN(64) uint32_t W[FK_WORDS];
    for (size_t j = 0; j < nb; j++) {
        const uint32_t *src = W;
        if (Win) {
            src = Win + j * FK_WORDS;
        }
        else {
            __m512i w[FK_NV];
            FK(philox)(P, b + (uint64_t)j * FK_BLOCKS, w);
            FK_UNROLL
            for (int q = 0; q < FK_NV; q++) _mm512_store_si512((void *)(W + 16 * q), w[q]);
        }
        double *o = (double *)(void *)(out + j * (size_t)FK_WORDS * 4u);
        for (int q = 0; q < FK_NV; q += 4) {
            __m512i r[4];
            __m512d z[4];
            FK_UNROLL
            for (int u = 0; u < 4; u++) r[u] = _mm512_loadu_si512((const void *)(src + 16 * (q + u)));
            FK(values64)(P, kind, r, z);
            FK_UNROLL
            for (int u = 0; u < 4; u++) /* max/min: the reference's clamp (see clamp32) */
                _mm512_storeu_pd(o + 8 * (q + u), _mm512_min_pd(hi, _mm512_max_pd(lo, z[u])));
        }
    }
}

static FK_NOINLINE void
FK(run64)(const fk_params *P, uint64_t b, const uint32_t *Win, size_t nb, char *out)
{
    switch (P->kind) {
    case FK_UNIFORM: FK(loop64)(P, FK_UNIFORM, b, Win, nb, out); return;
    case FK_NORMAL: FK(loop64)(P, FK_NORMAL, b, Win, nb, out); return;
    case FK_TRUNCATED: FK(loop64)(P, FK_TRUNCATED, b, Win, nb, out); return;
    default: FK(loop64)(P, FK_TN_GENERAL, b, Win, nb, out); return;
    }
}

/* nb batches of FK_WORDS words (Philox blocks from b, or Win) into out */
static void
FK(run)(const fk_params *P, uint64_t b, const uint32_t *Win, size_t nb, char *out)
{
    if (P->fmt == FK_F64) {
        FK(run64)(P, b, Win, nb, out);
    }
    else if (P->fmt >= FK_I8) { /* integers: the scalar transform on stored words */
        FK_ALIGN(64) uint32_t W[FK_WORDS];
        const size_t n = FK_WORDS / (size_t)P->per;
        for (size_t j = 0; j < nb; j++) {
            __m512i w[FK_NV];
            FK(words_in)(P, b + (uint64_t)j * FK_BLOCKS, Win ? Win + j * FK_WORDS : NULL, w);
            FK_UNROLL
            for (int q = 0; q < FK_NV; q++) _mm512_store_si512((void *)(W + 16 * q), w[q]);
            FK(scalar_to)(P, W, n, out + j * n * (size_t)P->itemsize);
        }
    }
    else {
        FK(run32)(P, b, Win, nb, out);
    }
}

#undef FK_GROUPS
#undef FK_NV
