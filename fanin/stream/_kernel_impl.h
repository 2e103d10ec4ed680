/*
 * fanin._kernel: the element loops, compiled once per instruction set.
 *
 * _kernel.c includes this file several times, each time with FK_SUFFIX set (and, on
 * x86-64 with GCC, under a `#pragma GCC target`), so every function here exists once
 * per ISA and the fastest supported copy is picked at import time. Everything is
 * written as plain loops over small fixed-size arrays so the compiler vectorizes it;
 * the element functions (in _kernel.c) mirror fanin/stream.py (the reference)
 * operation for operation.
 * The file must be compiled with -ffp-contract=off and without -ffast-math.
 */

#define FK_CAT2(a, b) a##_##b
#define FK_CAT(a, b) FK_CAT2(a, b)
#define FK(name) FK_CAT(name, FK_SUFFIX)

/* Philox4x32-10 on FK_BLOCKS consecutive blocks b0, b0+1, ...; word 4*i + l of W is
 * lane l of block b0 + i. */
#if defined(FK_ISA_AVX512)
/* FK_BLOCKS / 8 groups of 8 blocks (4 groups keep both 512-bit multiply ports busy),
 * one block per 64-bit lane: a word lives in the low 32 bits of its lane (the high
 * 32 bits are don't-care: vpmuludq reads only the low half, and XOR keeps halves
 * apart). A round is then 2 vpmuludq, 2 shifts, 2 ternary XORs per group: the full
 * 64-bit product is (hi << 32 | lo), lo needs no extraction. */
#define FK_GROUPS (FK_BLOCKS / 8)
static FK_INLINE void
FK(philox)(const fk_params *P, uint64_t b0, uint32_t *restrict W)
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
    for (int g = 0; g < FK_GROUPS; g++) {
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
    for (int r = 1; r < 10; r++) {
        __m512i K0 = _mm512_set1_epi32((int)k0), K1 = _mm512_set1_epi32((int)k1);
        for (int g = 0; g < FK_GROUPS; g++) {
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
    for (int g = 0; g < FK_GROUPS; g++) {
        __m512i w01 = _mm512_mask_shuffle_epi32(v0[g], (__mmask16)0xAAAA, v1[g], (_MM_PERM_ENUM)0xA0);
        __m512i w23 = _mm512_mask_shuffle_epi32(v2[g], (__mmask16)0xAAAA, v3[g], (_MM_PERM_ENUM)0xA0);
        _mm512_storeu_si512((void *)(W + 32 * g), _mm512_permutex2var_epi64(w01, lo4, w23));
        _mm512_storeu_si512((void *)(W + 32 * g + 16), _mm512_permutex2var_epi64(w01, hi4, w23));
    }
}
#undef FK_GROUPS
#elif defined(FK_ISA_AVX2)
static inline void
FK(mulhilo)(__m256i a, __m256i m, __m256i *hi, __m256i *lo)
{
    __m256i even = _mm256_mul_epu32(a, m);
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
    *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

static FK_INLINE void
FK(philox)(const fk_params *P, uint64_t b0, uint32_t *restrict W)
{
    /* FK_BLOCKS / 8 vectors of 8 blocks per counter word */
    const __m256i m0 = _mm256_set1_epi64x(FK_PHILOX_M0), m1 = _mm256_set1_epi64x(FK_PHILOX_M1);
    for (int h = 0; h < FK_BLOCKS / 8; h++) {
        uint32_t c0s[8], c1s[8];
        for (int i = 0; i < 8; i++) {
            uint64_t b = b0 + (uint64_t)(8 * h + i);
            c0s[i] = (uint32_t)b;
            c1s[i] = (uint32_t)(b >> 32);
        }
        __m256i c0 = _mm256_loadu_si256((const __m256i *)c0s);
        __m256i c1 = _mm256_loadu_si256((const __m256i *)c1s);
        __m256i c2 = _mm256_set1_epi32((int)P->call_lo);
        __m256i c3 = _mm256_set1_epi32((int)P->call_hi);
        uint32_t k0 = P->key_lo, k1 = P->key_hi;
        for (int r = 0; r < 10; r++) {
            __m256i hi0, lo0, hi1, lo1;
            FK(mulhilo)(c0, m0, &hi0, &lo0);
            FK(mulhilo)(c2, m1, &hi1, &lo1);
            __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
            __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
            c0 = n0;
            c1 = lo1;
            c2 = n2;
            c3 = lo0;
            k0 += FK_PHILOX_W0;
            k1 += FK_PHILOX_W1;
        }
        __m256i a01lo = _mm256_unpacklo_epi32(c0, c1);
        __m256i a01hi = _mm256_unpackhi_epi32(c0, c1);
        __m256i a23lo = _mm256_unpacklo_epi32(c2, c3);
        __m256i a23hi = _mm256_unpackhi_epi32(c2, c3);
        __m256i q0 = _mm256_unpacklo_epi64(a01lo, a23lo); /* blocks 0, 4 */
        __m256i q1 = _mm256_unpackhi_epi64(a01lo, a23lo); /* blocks 1, 5 */
        __m256i q2 = _mm256_unpacklo_epi64(a01hi, a23hi); /* blocks 2, 6 */
        __m256i q3 = _mm256_unpackhi_epi64(a01hi, a23hi); /* blocks 3, 7 */
        uint32_t *o = W + 32 * h;
        _mm256_storeu_si256((__m256i *)(o + 0), _mm256_permute2x128_si256(q0, q1, 0x20));
        _mm256_storeu_si256((__m256i *)(o + 8), _mm256_permute2x128_si256(q2, q3, 0x20));
        _mm256_storeu_si256((__m256i *)(o + 16), _mm256_permute2x128_si256(q0, q1, 0x31));
        _mm256_storeu_si256((__m256i *)(o + 24), _mm256_permute2x128_si256(q2, q3, 0x31));
    }
}
#else
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
#endif

/* ---------------------------------------------------------------------------- */
/* Transforms of a batch: n elements (n <= FK_WORDS / words per element) from W.  */
/* Each loop calls one element function of _kernel.c (always inlined), so the     */
/* compiler vectorizes it for this ISA; table lookups become gathers.             */
/* ---------------------------------------------------------------------------- */

#if defined(FK_ISA_AVX512)
/* The Keras truncated normal, 16 words at a time: each coefficient's 32 intervals sit
 * in two vectors and vpermt2ps picks them by the word's low 5 bits. The same
 * operations as fk_tn2_32, in the same order. */
static FK_INLINE size_t
FK(tn2_32_vec)(const fk_params *P, const uint32_t *restrict W, size_t n, float *restrict V)
{
    const __m512 one = _mm512_set1_ps(1.0f), loc = _mm512_set1_ps(P->loc32);
    const __m512i sign = _mm512_set1_epi32(INT32_MIN);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) { /* two independent Horner chains side by side */
        __m512i w0 = _mm512_loadu_si512((const void *)(W + i));
        __m512i w1 = _mm512_loadu_si512((const void *)(W + i + 16));
        __m512i f0 = _mm512_slli_epi32(_mm512_srli_epi32(w0, 5), 14);
        __m512i f1 = _mm512_slli_epi32(_mm512_srli_epi32(w1, 5), 14);
        __m512 t0 = _mm512_sub_ps(_mm512_castsi512_ps(_mm512_or_si512(_mm512_srli_epi32(f0, 9),
                                                      _mm512_castps_si512(one))), one);
        __m512 t1 = _mm512_sub_ps(_mm512_castsi512_ps(_mm512_or_si512(_mm512_srli_epi32(f1, 9),
                                                      _mm512_castps_si512(one))), one);
        __m512 a0 = _mm512_permutex2var_ps(_mm512_loadu_ps(P->tn2t_32[0]), w0,
                                           _mm512_loadu_ps(P->tn2t_32[0] + 16));
        __m512 a1 = _mm512_permutex2var_ps(_mm512_loadu_ps(P->tn2t_32[0]), w1,
                                           _mm512_loadu_ps(P->tn2t_32[0] + 16));
        for (int k = 1; k < FK_TN2_32_DEG1; k++) {
            __m512 lo = _mm512_loadu_ps(P->tn2t_32[k]), hi = _mm512_loadu_ps(P->tn2t_32[k] + 16);
            a0 = _mm512_add_ps(_mm512_mul_ps(a0, t0), _mm512_permutex2var_ps(lo, w0, hi));
            a1 = _mm512_add_ps(_mm512_mul_ps(a1, t1), _mm512_permutex2var_ps(lo, w1, hi));
        }
        a0 = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a0), _mm512_and_si512(w0, sign)));
        a1 = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a1), _mm512_and_si512(w1, sign)));
        _mm512_storeu_ps(V + i, _mm512_add_ps(loc, a0));
        _mm512_storeu_ps(V + i + 16, _mm512_add_ps(loc, a1));
    }
    return i;
}
#endif

#if defined(FK_ISA_AVX512)
/* fk_dyadic32 on 16 lanes: y's polynomial from fk_dyadic32_t, rows + off (0: tail,
 * FK_DYADIC_COUNT: center), by gathers */
static FK_INLINE __m512
FK(dyadic32_vec)(__m512 y, __m512i off)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512i b = _mm512_castps_si512(y);
    __m512i idx = _mm512_sub_epi32(_mm512_srli_epi32(b, 23 - FK_DYADIC_SUB_BITS),
                                   _mm512_set1_epi32((127 + FK_DYADIC_EXP_MIN) << FK_DYADIC_SUB_BITS));
    idx = _mm512_min_epi32(_mm512_max_epi32(idx, _mm512_setzero_si512()),
                           _mm512_set1_epi32(FK_DYADIC_COUNT - 1));
    idx = _mm512_add_epi32(idx, off);
    __m512i f = _mm512_and_si512(_mm512_slli_epi32(b, FK_DYADIC_SUB_BITS), _mm512_set1_epi32(0x7FFFFF));
    __m512 tau = _mm512_sub_ps(_mm512_castsi512_ps(_mm512_or_si512(f, _mm512_castps_si512(one))), one);
    __m512 acc = _mm512_i32gather_ps(idx, fk_dyadic32_t[0], 4);
    for (int k = 1; k < FK_DY32_DEG1; k++)
        acc = _mm512_add_ps(_mm512_mul_ps(acc, tau), _mm512_i32gather_ps(idx, fk_dyadic32_t[k], 4));
    return acc;
}

/* half_unit on 16 lanes */
static FK_INLINE __m512
FK(half_unit32_vec)(__m512i w)
{
    __m512i c = _mm512_and_si512(w, _mm512_set1_epi32(0x3FFFFFFF));
    __m512i d = _mm512_add_epi32(_mm512_add_epi32(c, c), _mm512_set1_epi32(1));
    __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(d), _mm512_set1_ps(0x1p-32f));
    return _mm512_min_ps(t, _mm512_set1_ps(FK_PRED_HALF32));
}

/* The normal and the general truncated normal on 16 lanes: each lane evaluates one
 * dyadic polynomial, the one its region needs, with fk_normal32's / fk_tn_general32's
 * operations. */
static FK_INLINE size_t
FK(dyadic_kinds32_vec)(const fk_params *P, const uint32_t *restrict W, size_t n, float *restrict V)
{
    const __m512 loc = _mm512_set1_ps(P->loc32), scale = _mm512_set1_ps(P->scale32);
    const __m512 one = _mm512_set1_ps(1.0f), ph = _mm512_set1_ps(FK_PRED_HALF32);
    const __m512i sign = _mm512_set1_epi32(INT32_MIN), center = _mm512_set1_epi32(FK_DYADIC_COUNT);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i w = _mm512_loadu_si512((const void *)(W + i));
        __m512 t = FK(half_unit32_vec)(w);
        __m512 z;
        if (P->kind == FK_NORMAL) {
            __mmask16 tail = _mm512_test_epi32_mask(w, _mm512_set1_epi32(1 << 30));
            __m512 p = FK(dyadic32_vec)(t, _mm512_maskz_mov_epi32((__mmask16)~tail, center));
            z = _mm512_mask_blend_ps(tail, _mm512_mul_ps(t, p), p);
            z = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(z), _mm512_and_si512(w, sign)));
        }
        else {
            const float *g = P->g32;
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
            __m512 ac = _mm512_abs_ps(c);
            __m512 y = _mm512_mask_blend_ps(mid, _mm512_mask_blend_ps(high, yl, yh), ac);
            __m512 p = FK(dyadic32_vec)(_mm512_min_ps(y, ph), _mm512_maskz_mov_epi32(mid, center));
            __m512 neg = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(p), sign));
            z = _mm512_mask_blend_ps(mid, _mm512_mask_blend_ps(low, p, neg), _mm512_mul_ps(c, p));
        }
        _mm512_storeu_ps(V + i, _mm512_add_ps(loc, _mm512_mul_ps(z, scale)));
    }
    return i;
}
#endif

#if defined(FK_ISA_AVX2)
/* One coefficient of 8 lanes' intervals (the word's low 5 bits) from the 32 in
 * row: vpermps within each quarter, blends by bits 3 and 4. */
static FK_INLINE __m256
FK(pick32)(const float *row, __m256i w, __m256 bit3, __m256 bit4)
{
    __m256 a = _mm256_permutevar8x32_ps(_mm256_loadu_ps(row), w);
    __m256 b = _mm256_permutevar8x32_ps(_mm256_loadu_ps(row + 8), w);
    __m256 c = _mm256_permutevar8x32_ps(_mm256_loadu_ps(row + 16), w);
    __m256 d = _mm256_permutevar8x32_ps(_mm256_loadu_ps(row + 24), w);
    return _mm256_blendv_ps(_mm256_blendv_ps(a, b, bit3), _mm256_blendv_ps(c, d, bit3), bit4);
}

/* The Keras truncated normal, 8 words at a time, two chains (see the AVX-512 one) */
static FK_INLINE size_t
FK(tn2_32_vec)(const fk_params *P, const uint32_t *restrict W, size_t n, float *restrict V)
{
    const __m256 one = _mm256_set1_ps(1.0f), loc = _mm256_set1_ps(P->loc32);
    const __m256i sign = _mm256_set1_epi32(INT32_MIN);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i w[2];
        __m256 t[2], b3[2], b4[2], a[2];
        for (int u = 0; u < 2; u++) {
            w[u] = _mm256_loadu_si256((const __m256i *)(const void *)(W + i + 8 * u));
            __m256i f = _mm256_srli_epi32(_mm256_slli_epi32(_mm256_srli_epi32(w[u], 5), 14), 9);
            t[u] = _mm256_sub_ps(_mm256_castsi256_ps(_mm256_or_si256(f, _mm256_castps_si256(one))), one);
            b3[u] = _mm256_castsi256_ps(_mm256_slli_epi32(w[u], 28));
            b4[u] = _mm256_castsi256_ps(_mm256_slli_epi32(w[u], 27));
            a[u] = FK(pick32)(P->tn2t_32[0], w[u], b3[u], b4[u]);
        }
        for (int k = 1; k < FK_TN2_32_DEG1; k++)
            for (int u = 0; u < 2; u++)
                a[u] = _mm256_add_ps(_mm256_mul_ps(a[u], t[u]),
                                     FK(pick32)(P->tn2t_32[k], w[u], b3[u], b4[u]));
        for (int u = 0; u < 2; u++) {
            __m256 z = _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(a[u]),
                                                            _mm256_and_si256(w[u], sign)));
            _mm256_storeu_ps(V + i + 8 * u, _mm256_add_ps(loc, z));
        }
    }
    return i;
}
#endif

static FK_INLINE void
FK(transform32)(const fk_params *P, const uint32_t *restrict W, size_t n, float *restrict V)
{
#if defined(FK_ISA_AVX2)
    if (P->kind == FK_TRUNCATED) {
        size_t i = FK(tn2_32_vec)(P, W, n, V);
        for (; i < n; i++) V[i] = fk_tn2_32(P, W[i]);
        return;
    }
#endif
#if defined(FK_ISA_AVX512)
    if (P->kind == FK_NORMAL || P->kind == FK_TN_GENERAL) {
        size_t i = FK(dyadic_kinds32_vec)(P, W, n, V);
        for (; i < n; i++)
            V[i] = P->kind == FK_NORMAL ? fk_normal32(P, W[i]) : fk_tn_general32(P, W[i]);
        return;
    }
#endif
#if defined(FK_ISA_AVX512)
    if (P->kind == FK_TRUNCATED) {
        size_t i = FK(tn2_32_vec)(P, W, n, V);
        for (; i < n; i++) V[i] = fk_tn2_32(P, W[i]);
        return;
    }
#endif
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

/* Round float32 values to the output format and clamp; results into T (bytes). */
static FK_INLINE void
FK(store32)(const fk_params *P, const float *restrict V, size_t n, void *restrict T)
{
    if (P->fmt == FK_F32) {
        float *o = (float *)T;
        const float lo = P->lo32, hi = P->hi32;
        for (size_t i = 0; i < n; i++) {
            float x = V[i];
            x = x < lo ? lo : x;
            o[i] = x > hi ? hi : x;
        }
        return;
    }
    uint16_t *o = (uint16_t *)T;
    if (P->fmt == FK_BF16) {
        size_t i0 = 0;
#if defined(FK_ISA_AVX512)
        /* round on the bits, clamp as floats (a bfloat16 is an exact float32: the same
         * comparisons as the order keys), narrow to 16 bits */
        const __m512 lo = _mm512_set1_ps(fk_i2f((int32_t)((uint32_t)P->lo16 << 16)));
        const __m512 hi = _mm512_set1_ps(fk_i2f((int32_t)((uint32_t)P->hi16 << 16)));
        const __m512i round = _mm512_set1_epi32(0x7FFF), bit = _mm512_set1_epi32(1);
        for (; i0 + 16 <= n; i0 += 16) {
            __m512i b = _mm512_loadu_si512((const void *)(V + i0));
            __m512i odd = _mm512_and_si512(_mm512_srli_epi32(b, 16), bit);
            __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, round), odd), 16);
            __m512 x = _mm512_castsi512_ps(_mm512_slli_epi32(r, 16));
            x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), x, lo);
            x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), x, hi);
            __m256i h = _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(x), 16));
            _mm256_storeu_si256((__m256i *)(void *)(o + i0), h);
        }
#endif
        for (size_t i = i0; i < n; i++) {
            uint32_t b = (uint32_t)fk_f2i(V[i]);
            o[i] = fk_clamp16(P, (int32_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16));
        }
        return;
    }
    /* float16: round to nearest even, subnormals included (as numpy's astype). */
#if defined(FK_ISA_AVX2) || defined(FK_ISA_AVX512)
    /* F16C's vcvtps2ph with round-to-nearest-even gives the same bits */
    uint16_t H[FK_WORDS];
    float Vp[FK_WORDS];
    memcpy(Vp, V, n * sizeof(float));
    for (size_t i = n; i < FK_WORDS; i++) Vp[i] = 0.0f;
    for (size_t i = 0; i < n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(Vp + i),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(void *)(H + i), h);
    }
    for (size_t i = 0; i < n; i++) o[i] = fk_clamp16(P, H[i]);
#else
    for (size_t i = 0; i < n; i++) o[i] = fk_clamp16(P, (int32_t)fk_f32_to_f16(V[i]));
#endif
}

#if defined(FK_ISA_AVX512)
/* The float64 Keras truncated normal, 8 elements per vector (one word pair per 64-bit
 * lane: r itself), 4 vectors side by side: the 15 main intervals by r's low 4 bits,
 * the last interval's 16 pieces by bits 4-7, both with vpermt2pd. */
static FK_INLINE size_t
FK(tn2_64_vec)(const fk_params *P, const uint32_t *restrict W, size_t n, double *restrict T)
{
    const __m512d one = _mm512_set1_pd(1.0), loc = _mm512_set1_pd(P->loc64);
    const __m512i low4 = _mm512_set1_epi64(15), frac = _mm512_set1_epi64(INT64_C(0xFFFFFFFFFFFFF));
    const __m512i sign = _mm512_set1_epi64(INT64_MIN);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512i r[4], k[4];
        __m512d t[4], a[4];
        __mmask8 last[4];
        for (int u = 0; u < 4; u++) {
            r[u] = _mm512_loadu_si512((const void *)(W + 2 * i + 16 * u));
            k[u] = _mm512_srli_epi64(r[u], 4);
            last[u] = _mm512_cmpeq_epi64_mask(_mm512_and_si512(r[u], low4), low4);
            __m512i f = _mm512_and_si512(_mm512_srli_epi64(r[u], 8), frac);
            t[u] = _mm512_sub_pd(_mm512_castsi512_pd(_mm512_or_si512(f, _mm512_castpd_si512(one))), one);
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
        for (int u = 0; u < 4; u++) {
            __m512d z = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(a[u]),
                                                             _mm512_and_si512(r[u], sign)));
            _mm512_storeu_pd(T + i + 8 * u, _mm512_add_pd(loc, z));
        }
    }
    return i;
}
#endif

#if defined(FK_ISA_AVX512)
/* fk_dyadic64 on 8 lanes (see FK(dyadic32_vec)) */
static FK_INLINE __m512d
FK(dyadic64_vec)(__m512d y, __m512i off)
{
    const __m512d one = _mm512_set1_pd(1.0);
    __m512i b = _mm512_castpd_si512(y);
    __m512i idx = _mm512_sub_epi64(_mm512_srli_epi64(b, 52 - FK_DYADIC_SUB_BITS),
                                   _mm512_set1_epi64((int64_t)(1023 + FK_DYADIC_EXP_MIN) << FK_DYADIC_SUB_BITS));
    idx = _mm512_min_epi64(_mm512_max_epi64(idx, _mm512_setzero_si512()),
                           _mm512_set1_epi64(FK_DYADIC_COUNT - 1));
    idx = _mm512_add_epi64(idx, off);
    __m512i f = _mm512_and_si512(_mm512_slli_epi64(b, FK_DYADIC_SUB_BITS),
                                 _mm512_set1_epi64(INT64_C(0xFFFFFFFFFFFFF)));
    __m512d tau = _mm512_sub_pd(_mm512_castsi512_pd(_mm512_or_si512(f, _mm512_castpd_si512(one))), one);
    __m512d acc = _mm512_i64gather_pd(idx, fk_dyadic64_t[0], 8);
    for (int k = 1; k < FK_DY64_DEG1; k++)
        acc = _mm512_add_pd(_mm512_mul_pd(acc, tau), _mm512_i64gather_pd(idx, fk_dyadic64_t[k], 8));
    return acc;
}

/* The float64 normal and general truncated normal on 8 lanes (see the float32 one) */
static FK_INLINE size_t
FK(dyadic_kinds64_vec)(const fk_params *P, const uint32_t *restrict W, size_t n, double *restrict T)
{
    const __m512d loc = _mm512_set1_pd(P->loc64), scale = _mm512_set1_pd(P->scale64);
    const __m512d one = _mm512_set1_pd(1.0), ph = _mm512_set1_pd(FK_PRED_HALF64);
    const __m512i sign = _mm512_set1_epi64(INT64_MIN), center = _mm512_set1_epi64(FK_DYADIC_COUNT);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512i r = _mm512_loadu_si512((const void *)(W + 2 * i));
        __m512i c62 = _mm512_and_si512(r, _mm512_set1_epi64(INT64_C(0x3FFFFFFFFFFFFFFF)));
        __m512i d = _mm512_add_epi64(_mm512_add_epi64(c62, c62), _mm512_set1_epi64(1));
        __m512d t = _mm512_min_pd(_mm512_mul_pd(_mm512_cvtepi64_pd(d), _mm512_set1_pd(0x1p-64)), ph);
        __m512d z;
        if (P->kind == FK_NORMAL) {
            __mmask8 tail = _mm512_test_epi64_mask(r, _mm512_set1_epi64(INT64_C(1) << 62));
            __m512d p = FK(dyadic64_vec)(t, _mm512_maskz_mov_epi64((__mmask8)~tail, center));
            z = _mm512_mask_blend_pd(tail, _mm512_mul_pd(t, p), p);
            z = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(z), _mm512_and_si512(r, sign)));
        }
        else {
            const double *g = P->g64;
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
            __m512d ac = _mm512_abs_pd(c);
            __m512d y = _mm512_mask_blend_pd(mid, _mm512_mask_blend_pd(high, yl, yh), ac);
            __m512d p = FK(dyadic64_vec)(_mm512_min_pd(y, ph), _mm512_maskz_mov_epi64(mid, center));
            __m512d neg = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(p), sign));
            z = _mm512_mask_blend_pd(mid, _mm512_mask_blend_pd(low, p, neg), _mm512_mul_pd(c, p));
        }
        _mm512_storeu_pd(T + i, _mm512_add_pd(loc, _mm512_mul_pd(z, scale)));
    }
    return i;
}
#endif

static FK_INLINE void
FK(transform64)(const fk_params *P, const uint32_t *restrict W, size_t n, double *restrict T)
{
    const double lo = P->lo64, hi = P->hi64;
#if defined(FK_ISA_AVX512)
    if (P->kind == FK_NORMAL || P->kind == FK_TN_GENERAL) {
        size_t i = FK(dyadic_kinds64_vec)(P, W, n, T);
        for (; i < n; i++)
            T[i] = P->kind == FK_NORMAL ? fk_normal64(P, fk_pair(W + 2 * i))
                                        : fk_tn_general64(P, fk_pair(W + 2 * i));
        for (i = 0; i < n; i++) {
            double x = T[i];
            x = x < lo ? lo : x;
            T[i] = x > hi ? hi : x;
        }
        return;
    }
    if (P->kind == FK_TRUNCATED) {
        size_t i = FK(tn2_64_vec)(P, W, n, T);
        for (; i < n; i++) T[i] = fk_tn2_64(P, fk_pair(W + 2 * i));
        for (i = 0; i < n; i++) {
            double x = T[i];
            x = x < lo ? lo : x;
            T[i] = x > hi ? hi : x;
        }
        return;
    }
#endif
    switch (P->kind) {
    case FK_UNIFORM:
        for (size_t i = 0; i < n; i++) T[i] = fk_uniform64(P, W[2 * i], W[2 * i + 1]);
        break;
    case FK_NORMAL:
        for (size_t i = 0; i < n; i++) T[i] = fk_normal64(P, fk_pair(W + 2 * i));
        break;
    case FK_TRUNCATED:
        for (size_t i = 0; i < n; i++) T[i] = fk_tn2_64(P, fk_pair(W + 2 * i));
        break;
    default:
        for (size_t i = 0; i < n; i++) T[i] = fk_tn_general64(P, fk_pair(W + 2 * i));
        break;
    }
    for (size_t i = 0; i < n; i++) {
        double x = T[i];
        x = x < lo ? lo : x;
        T[i] = x > hi ? hi : x;
    }
}

/* n elements of the output format from the words W, into T. */
static FK_INLINE void
FK(batch)(const fk_params *P, const uint32_t *restrict W, size_t n, void *restrict T)
{
    if (P->fmt == FK_F64) {
        FK(transform64)(P, W, n, (double *)T);
    }
    else if (P->fmt >= FK_I8) {
        fk_uniform_int(P, W, n, T);
    }
    else {
        float V[FK_WORDS];
        FK(transform32)(P, W, n, V);
        FK(store32)(P, V, n, T);
    }
}

/* ---------------------------------------------------------------------------- */
/* A run of `count` consecutive elements whose first word is lane `lane` of       */
/* Philox block b.                                                                */
/* ---------------------------------------------------------------------------- */

static void
FK(segment)(const fk_params *P, uint64_t b, unsigned lane, size_t count, char *out)
{
    uint32_t W[FK_WORDS];
    union { double d[FK_WORDS]; char c[FK_WORDS * 8]; } T;
    const size_t per = (size_t)P->per, isz = (size_t)P->itemsize;
    const size_t full = FK_WORDS / per; /* elements per batch */
    size_t skip = lane / per;           /* elements before the first, in block b */
    while (count) {
        size_t take = full - skip;
        if (take > count) take = count;
        size_t nwords = (skip + take) * per;
        if (nwords < FK_SHORT_WORDS) {
            for (size_t k = 0; 4 * k < nwords; k++) fk_philox_block(P, b + k, W + 4 * k);
            FK(batch)(P, W, skip + take, &T);
            memcpy(out, T.c + skip * isz, take * isz);
            return; /* a short run ends here */
        }
        FK(philox)(P, b, W);
        if (skip == 0 && take == full && ((uintptr_t)out & (isz - 1u)) == 0) {
            FK(batch)(P, W, full, out); /* straight into out */
        }
        else {
            FK(batch)(P, W, full, &T);
            memcpy(out, T.c + skip * isz, take * isz);
        }
        out += take * isz;
        count -= take;
        b += FK_BLOCKS;
        skip = 0;
    }
}

/* Test hook: transform given words (not Philox output) into out; nwords is a
 * multiple of the words per element. */
static void
FK(words)(const fk_params *P, const uint32_t *Win, size_t nwords, char *out)
{
    uint32_t W[FK_WORDS];
    union { double d[FK_WORDS]; char c[FK_WORDS * 8]; } T;
    const size_t per = (size_t)P->per, isz = (size_t)P->itemsize;
    for (size_t a = 0; a < nwords; a += FK_WORDS) {
        size_t m = nwords - a < FK_WORDS ? nwords - a : FK_WORDS;
        memset(W, 0, sizeof(W));
        memcpy(W, Win + a, m * 4u);
        FK(batch)(P, W, m / per, &T);
        memcpy(out + (a / per) * isz, T.c, (m / per) * isz);
    }
}

#undef FK
#undef FK_CAT
#undef FK_CAT2
