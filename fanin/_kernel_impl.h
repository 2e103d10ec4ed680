/*
 * fanin._kernel: the element loops, compiled once per instruction set.
 *
 * _kernel.c includes this file several times, each time with FK_SUFFIX set (and, on
 * x86-64 with GCC, under a `#pragma GCC target`), so every function here exists once
 * per ISA and the fastest supported copy is picked at import time. Everything is
 * written as plain loops over small fixed-size arrays so the compiler vectorizes it;
 * every floating-point operation mirrors fanin/stream.py (the reference) one for one.
 * The file must be compiled with -ffp-contract=off and without -ffast-math.
 */

#define FK_CAT2(a, b) a##_##b
#ifndef FK_IL
#define FK_IL 4                     /* independent elements per vector lane */
#define FK_LANES (FK_WORDS / FK_IL)
#endif
#define FK_CAT(a, b) FK_CAT2(a, b)
#define FK(name) FK_CAT(name, FK_SUFFIX)

/* Philox4x32-10 on FK_BLOCKS consecutive blocks b0, b0+1, ...; word 4*i + l of W is
 * lane l of block b0 + i. */
#if defined(FK_ISA_AVX512)
/* Two groups of 8 blocks, one block per 64-bit lane: a word lives in the low 32 bits
 * of its lane (the high 32 bits are don't-care: vpmuludq reads only the low half, and
 * XOR keeps halves apart). A round is then 2 vpmuludq, 2 shifts, 2 ternary XORs per
 * group: the full 64-bit product is (hi << 32 | lo), lo needs no extraction. */
static FK_INLINE void
FK(philox)(const fk_params *P, uint64_t b0, uint32_t *restrict W)
{
    const __m512i idx = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    /* 64-bit block numbers mod 2**64: low word c0, high word c1 */
    __m512i a0 = _mm512_add_epi64(_mm512_set1_epi64((long long)b0), idx);
    __m512i b0v = _mm512_add_epi64(_mm512_set1_epi64((long long)(b0 + 8u)), idx);
    __m512i a1 = _mm512_srli_epi64(a0, 32), b1 = _mm512_srli_epi64(b0v, 32);
    const __m512i m0 = _mm512_set1_epi64(FK_PHILOX_M0), m1 = _mm512_set1_epi64(FK_PHILOX_M1);
    uint32_t k0 = P->key_lo, k1 = P->key_hi;
    /* round 1: words 2 and 3 (the call) are the same in every block */
    uint64_t q1 = (uint64_t)P->call_lo * FK_PHILOX_M1;
    __m512i x0 = _mm512_set1_epi32((int)((uint32_t)(q1 >> 32) ^ k0));
    __m512i lo1 = _mm512_set1_epi32((int)(uint32_t)q1);
    __m512i c3 = _mm512_set1_epi32((int)(P->call_hi ^ k1));
    __m512i pa = _mm512_mul_epu32(a0, m0), pb = _mm512_mul_epu32(b0v, m0);
    __m512i a0n = _mm512_xor_si512(a1, x0), b0n = _mm512_xor_si512(b1, x0);
    __m512i a2 = _mm512_xor_si512(_mm512_srli_epi64(pa, 32), c3);
    __m512i b2 = _mm512_xor_si512(_mm512_srli_epi64(pb, 32), c3);
    __m512i a3 = pa, b3 = pb;
    a0 = a0n; b0v = b0n;
    a1 = lo1; b1 = lo1;
    k0 += FK_PHILOX_W0;
    k1 += FK_PHILOX_W1;
    for (int r = 1; r < 10; r++) {
        __m512i K0 = _mm512_set1_epi32((int)k0), K1 = _mm512_set1_epi32((int)k1);
        __m512i pa0 = _mm512_mul_epu32(a0, m0), pa2 = _mm512_mul_epu32(a2, m1);
        __m512i pb0 = _mm512_mul_epu32(b0v, m0), pb2 = _mm512_mul_epu32(b2, m1);
        /* 0x96: a ^ b ^ c */
        a0 = _mm512_ternarylogic_epi32(_mm512_srli_epi64(pa2, 32), a1, K0, 0x96);
        a2 = _mm512_ternarylogic_epi32(_mm512_srli_epi64(pa0, 32), a3, K1, 0x96);
        b0v = _mm512_ternarylogic_epi32(_mm512_srli_epi64(pb2, 32), b1, K0, 0x96);
        b2 = _mm512_ternarylogic_epi32(_mm512_srli_epi64(pb0, 32), b3, K1, 0x96);
        a1 = pa2;
        a3 = pa0;
        b1 = pb2;
        b3 = pb0;
        k0 += FK_PHILOX_W0;
        k1 += FK_PHILOX_W1;
    }
    /* to block-major words: (w0, w1) and (w2, w3) pairs per 64-bit lane, then
     * interleave the pairs of 4 blocks at a time */
    const __m512i lo4 = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
    const __m512i hi4 = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
    __m512i a01 = _mm512_mask_shuffle_epi32(a0, (__mmask16)0xAAAA, a1, (_MM_PERM_ENUM)0xA0);
    __m512i a23 = _mm512_mask_shuffle_epi32(a2, (__mmask16)0xAAAA, a3, (_MM_PERM_ENUM)0xA0);
    __m512i b01 = _mm512_mask_shuffle_epi32(b0v, (__mmask16)0xAAAA, b1, (_MM_PERM_ENUM)0xA0);
    __m512i b23 = _mm512_mask_shuffle_epi32(b2, (__mmask16)0xAAAA, b3, (_MM_PERM_ENUM)0xA0);
    _mm512_storeu_si512((void *)(W + 0), _mm512_permutex2var_epi64(a01, lo4, a23));
    _mm512_storeu_si512((void *)(W + 16), _mm512_permutex2var_epi64(a01, hi4, a23));
    _mm512_storeu_si512((void *)(W + 32), _mm512_permutex2var_epi64(b01, lo4, b23));
    _mm512_storeu_si512((void *)(W + 48), _mm512_permutex2var_epi64(b01, hi4, b23));
}
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
    /* FK_BLOCKS == 16: two vectors of 8 blocks per counter word */
    const __m256i m0 = _mm256_set1_epi64x(FK_PHILOX_M0), m1 = _mm256_set1_epi64x(FK_PHILOX_M1);
    for (int h = 0; h < 2; h++) {
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
/* float32 transforms (float16, bfloat16, float32 outputs)                       */
/* ---------------------------------------------------------------------------- */

static inline float
FK(tail32)(float w, float x)
{
    /* Giles' tail branch: w >= 5. Rarely taken; scalar. */
    float t = sqrtf(w) - 3.0f;
    float acc = fk_g32_tail[0];
    for (int k = 1; k < 9; k++) acc = acc * t + fk_g32_tail[k];
    return acc * x;
}

/* FK_WORDS words -> FK_WORDS float32 values V (value = loc + scale * sample). */
static FK_INLINE void
FK(transform32)(const fk_params *P, const uint32_t *restrict W, float *restrict V)
{
    const float loc = P->loc32, scale = P->scale32;
    if (P->kind == FK_UNIFORM) {
        for (int i = 0; i < FK_WORDS; i++) {
            int32_t j = (int32_t)(W[i] >> 8);
            float u = (float)j * 0x1p-24f;
            V[i] = loc + u * scale;
        }
        return;
    }
#if defined(FK_ISA_AVX512)
    {
        /* The same operations as the loops below, written out for 16 lanes and the
         * FK_WORDS / 16 vectors of a batch side by side, step by step, so their long
         * Horner chains can overlap. */
#define FK_NV (FK_WORDS / 16)
        const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
        const __m512 xm = _mm512_set1_ps((P->kind == FK_TRUNCATED) ? fk_erf_sqrt2_32 : 1.0f);
        __m512 x[FK_NV], s[FK_NV], s2[FK_NV], ef[FK_NV], h[FK_NV], w[FK_NV], acc[FK_NV];
        __mmask16 tail[FK_NV];
        int any_tail = 0;
        for (int u = 0; u < FK_NV; u++) {
            __m512i j = _mm512_srli_epi32(_mm512_loadu_si512((const void *)(W + 16 * u)), 8);
            __m512i jj = _mm512_add_epi32(_mm512_add_epi32(j, j), _mm512_set1_epi32(1 - (1 << 24)));
            __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(jj), _mm512_set1_ps(0x1p-24f));
            x[u] = _mm512_mul_ps(v, xm); /* v * 1 == v for the normal */
            __m512 y = _mm512_mul_ps(_mm512_sub_ps(one, x[u]), _mm512_add_ps(one, x[u]));
            __m512i bits = _mm512_castps_si512(y);
            __m512i e = _mm512_sub_epi32(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(127));
            __m512i mb = _mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32(0x7FFFFF)),
                                         _mm512_set1_epi32(127 << 23));
            __mmask16 big = _mm512_cmpgt_epi32_mask(mb, _mm512_set1_epi32(0x3FB504F3));
            mb = _mm512_mask_sub_epi32(mb, big, mb, _mm512_set1_epi32(1 << 23));
            e = _mm512_mask_add_epi32(e, big, e, _mm512_set1_epi32(1));
            __m512 f = _mm512_sub_ps(_mm512_castsi512_ps(mb), one);
            s[u] = _mm512_div_ps(f, _mm512_add_ps(two, f));
            s2[u] = _mm512_mul_ps(s[u], s[u]);
            ef[u] = _mm512_cvtepi32_ps(e);
            h[u] = _mm512_set1_ps(fk_log32[0]);
        }
        for (int k = 1; k < 6; k++) {
            for (int u = 0; u < FK_NV; u++)
                h[u] = _mm512_add_ps(_mm512_mul_ps(h[u], s2[u]), _mm512_set1_ps(fk_log32[k]));
        }
        for (int u = 0; u < FK_NV; u++) {
            __m512 lg = _mm512_add_ps(_mm512_mul_ps(ef[u], _mm512_set1_ps(fk_ln2_32)),
                                      _mm512_mul_ps(s[u], h[u]));
            w[u] = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(lg),
                                                        _mm512_set1_epi32(INT32_MIN)));
            tail[u] = _mm512_cmp_ps_mask(w[u], _mm512_set1_ps(5.0f), _CMP_GE_OQ);
            any_tail |= tail[u];
            s[u] = _mm512_sub_ps(w[u], _mm512_set1_ps(2.5f)); /* t */
            acc[u] = _mm512_set1_ps(fk_g32_central[0]);
        }
        for (int k = 1; k < 9; k++) {
            for (int u = 0; u < FK_NV; u++)
                acc[u] = _mm512_add_ps(_mm512_mul_ps(acc[u], s[u]),
                                       _mm512_set1_ps(fk_g32_central[k]));
        }
        for (int u = 0; u < FK_NV; u++) {
            __m512 z = _mm512_mul_ps(_mm512_mul_ps(acc[u], x[u]), _mm512_set1_ps(fk_sqrt2_32));
            _mm512_storeu_ps(V + 16 * u, _mm512_add_ps(_mm512_set1_ps(loc),
                                                       _mm512_mul_ps(z, _mm512_set1_ps(scale))));
        }
        if (any_tail) {
            for (int u = 0; u < FK_NV; u++) {
                float xs[16], ws[16];
                _mm512_storeu_ps(xs, x[u]);
                _mm512_storeu_ps(ws, w[u]);
                for (int l = 0; l < 16; l++) {
                    if ((tail[u] >> l) & 1) {
                        float z = FK(tail32)(ws[l], xs[l]) * fk_sqrt2_32;
                        V[16 * u + l] = loc + z * scale;
                    }
                }
            }
        }
        return;
#undef FK_NV
    }
#endif
    float X[FK_WORDS], Wl[FK_WORDS];
    const float xmul = (P->kind == FK_TRUNCATED) ? fk_erf_sqrt2_32 : 1.0f;
    const int trunc = (P->kind == FK_TRUNCATED);
    int any_tail = 0;
    /* Each vector lane runs FK_IL independent elements (i, i + FK_LANES, ...) side by
     * side, statement by statement, so the long Horner chains of different elements
     * overlap in the pipeline instead of waiting on each other. */
    for (int i = 0; i < FK_LANES; i++) {
        float x[FK_IL], s[FK_IL], s2[FK_IL], ef[FK_IL], h[FK_IL];
        for (int u = 0; u < FK_IL; u++) {
            int32_t j = (int32_t)(W[u * FK_LANES + i] >> 8);
            float v = (float)(2 * j + (1 - (1 << 24))) * 0x1p-24f;
            x[u] = trunc ? v * xmul : v;
            float y = (1.0f - x[u]) * (1.0f + x[u]);
            /* log(y) from bits: y = m * 2**e, m in [sqrt(1/2), sqrt(2)) */
            int32_t bits = fk_f2i(y);
            int32_t e = (int32_t)((uint32_t)bits >> 23) - 127;
            int32_t mb = (bits & 0x7FFFFF) | (127 << 23);
            int32_t big = mb > 0x3FB504F3;
            mb = big ? mb - (1 << 23) : mb;
            e = big ? e + 1 : e;
            float m = fk_i2f(mb);
            float f = m - 1.0f;
            s[u] = f / (2.0f + f);
            s2[u] = s[u] * s[u];
            ef[u] = (float)e;
            h[u] = fk_log32[0];
        }
        for (int k = 1; k < 6; k++)
            for (int u = 0; u < FK_IL; u++) h[u] = h[u] * s2[u] + fk_log32[k];
        float w[FK_IL], acc[FK_IL];
        for (int u = 0; u < FK_IL; u++) {
            float lg = ef[u] * fk_ln2_32 + s[u] * h[u];
            w[u] = -lg;
            X[u * FK_LANES + i] = x[u];
            Wl[u * FK_LANES + i] = w[u];
            any_tail |= (w[u] >= 5.0f);
            acc[u] = fk_g32_central[0];
        }
        for (int k = 1; k < 9; k++)
            for (int u = 0; u < FK_IL; u++) acc[u] = acc[u] * (w[u] - 2.5f) + fk_g32_central[k];
        for (int u = 0; u < FK_IL; u++) {
            float z = (acc[u] * x[u]) * fk_sqrt2_32;
            V[u * FK_LANES + i] = loc + z * scale;
        }
    }
    if (any_tail) {
        for (int i = 0; i < FK_WORDS; i++) {
            if (Wl[i] >= 5.0f) {
                float z = FK(tail32)(Wl[i], X[i]) * fk_sqrt2_32;
                V[i] = loc + z * scale;
            }
        }
    }
}

/* Round float32 values to the output format and clamp; results into T (bytes). */
static FK_INLINE void
FK(store32)(const fk_params *P, const float *restrict V, void *restrict T)
{
    if (P->fmt == FK_F32) {
        float *o = (float *)T;
        const float lo = P->lo32, hi = P->hi32;
        for (int i = 0; i < FK_WORDS; i++) {
            float x = V[i];
            float y = x > lo ? x : lo; /* numpy.clip: min(max(x, lo), hi) */
            o[i] = y < hi ? y : hi;
        }
        return;
    }
    uint16_t *o = (uint16_t *)T;
    const int32_t klo = P->klo16, khi = P->khi16;
    const int32_t blo = P->lo16, bhi = P->hi16;
    if (P->fmt == FK_BF16) {
        for (int i = 0; i < FK_WORDS; i++) {
            uint32_t b = (uint32_t)fk_f2i(V[i]);
            int32_t h = (int32_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
            int32_t k = fk_key16(h);
            int32_t gt = k > klo;
            h = gt ? h : blo;
            k = gt ? k : klo;
            o[i] = (uint16_t)(k < khi ? h : bhi);
        }
        return;
    }
    /* float16: round to nearest even, subnormals included (as numpy's astype). */
#if defined(FK_ISA_AVX2) || defined(FK_ISA_AVX512)
    /* F16C's vcvtps2ph with round-to-nearest-even gives the same bits */
    uint16_t H[FK_WORDS];
    for (int i = 0; i < FK_WORDS; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(V + i),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(void *)(H + i), h);
    }
    for (int i = 0; i < FK_WORDS; i++) {
        int32_t h = H[i];
        int32_t k = fk_key16(h);
        int32_t gt = k > klo;
        h = gt ? h : blo;
        k = gt ? k : klo;
        o[i] = (uint16_t)(k < khi ? h : bhi);
    }
#else
    for (int i = 0; i < FK_WORDS; i++) {
        uint32_t f = (uint32_t)fk_f2i(V[i]);
        uint32_t sign = (f >> 16) & 0x8000u;
        f &= 0x7FFFFFFFu;
        uint32_t o_inf = f > 0x7F800000u ? 0x7E00u : 0x7C00u;
        float sub = fk_i2f((int32_t)f) + 0.5f; /* 0.5f = bits 126 << 23 */
        uint32_t o_sub = (uint32_t)fk_f2i(sub) - (126u << 23);
        uint32_t odd = (f >> 13) & 1u;
        uint32_t o_nrm = (f + 0xC8000FFFu + odd) >> 13; /* (15-127)<<23 + 0xfff */
        uint32_t r = f >= 0x47800000u ? o_inf : (f < 0x38800000u ? o_sub : o_nrm);
        int32_t h = (int32_t)(r | sign);
        int32_t k = fk_key16(h);
        int32_t gt = k > klo;
        h = gt ? h : blo;
        k = gt ? k : klo;
        o[i] = (uint16_t)(k < khi ? h : bhi);
    }
#endif
}

/* ---------------------------------------------------------------------------- */
/* float64 transform                                                              */
/* ---------------------------------------------------------------------------- */

static double
FK(rare64)(double w, double x)
{
    double ws = sqrt(w);
    double acc;
    if (ws >= 4.0) {
        double t = ws - 5.0;
        acc = fk_g64_tail[0];
        for (int k = 1; k < 17; k++) acc = acc * t + fk_g64_tail[k];
    }
    else {
        double t = ws - 3.25;
        acc = fk_g64_middle[0];
        for (int k = 1; k < 19; k++) acc = acc * t + fk_g64_middle[k];
    }
    return acc * x;
}

#define FK_E64 (FK_WORDS / 2)

/* FK_WORDS words -> FK_E64 float64 values, clamped, into T. */
static FK_INLINE void
FK(transform64)(const fk_params *P, const uint32_t *restrict W, double *restrict T)
{
    const double loc = P->loc64, scale = P->scale64;
    const double lo = P->lo64, hi = P->hi64;
    double V[FK_E64];
    if (P->kind == FK_UNIFORM) {
        for (int i = 0; i < FK_E64; i++) {
            /* j = hi << 21 | lo >> 11 (53 bits), as a double: exact */
            double jd = fk_u32_to_f64(W[2 * i + 1]) * 0x1p21 + fk_u32_to_f64(W[2 * i] >> 11);
            double u = jd * 0x1p-53;
            V[i] = loc + u * scale;
        }
    }
    else {
        double X[FK_E64], Wl[FK_E64];
        const int trunc = (P->kind == FK_TRUNCATED);
        int any_rare = 0;
#if defined(FK_ISA_AVX512)
        /* The same operations written for 8 lanes, the 4 vectors of a batch side by
         * side (see transform32). j = (hi << 21 | lo >> 11) is the 64-bit word pair
         * shifted right by 11; 2j + 1 - 2**53 and e are exact integers, so their
         * conversions give the reference's values. */
        {
            const __m512d one = _mm512_set1_pd(1.0), two = _mm512_set1_pd(2.0);
            const __m512d xm = _mm512_set1_pd(trunc ? fk_erf_sqrt2_64 : 1.0);
            __m512d x[4], s[4], s2[4], ed[4], h[4], w[4], acc[4];
            __mmask8 rare[4];
            for (int u = 0; u < 4; u++) {
                __m512i q = _mm512_srli_epi64(_mm512_loadu_si512((const void *)(W + 16 * u)), 11);
                __m512i jj = _mm512_add_epi64(_mm512_add_epi64(q, q),
                                              _mm512_set1_epi64(1 - (INT64_C(1) << 53)));
                __m512d v = _mm512_mul_pd(_mm512_cvtepi64_pd(jj), _mm512_set1_pd(0x1p-53));
                x[u] = _mm512_mul_pd(v, xm);
                __m512d y = _mm512_mul_pd(_mm512_sub_pd(one, x[u]), _mm512_add_pd(one, x[u]));
                __m512i bits = _mm512_castpd_si512(y);
                __m512i e = _mm512_sub_epi64(_mm512_srli_epi64(bits, 52), _mm512_set1_epi64(1023));
                __m512i mb = _mm512_or_si512(
                    _mm512_and_si512(bits, _mm512_set1_epi64(INT64_C(0xFFFFFFFFFFFFF))),
                    _mm512_set1_epi64(INT64_C(1023) << 52));
                __mmask8 big = _mm512_cmpgt_epi64_mask(mb, _mm512_set1_epi64(INT64_C(0x3FF6A09E667F3BCC)));
                mb = _mm512_mask_sub_epi64(mb, big, mb, _mm512_set1_epi64(INT64_C(1) << 52));
                e = _mm512_mask_add_epi64(e, big, e, _mm512_set1_epi64(1));
                __m512d f = _mm512_sub_pd(_mm512_castsi512_pd(mb), one);
                s[u] = _mm512_div_pd(f, _mm512_add_pd(two, f));
                s2[u] = _mm512_mul_pd(s[u], s[u]);
                ed[u] = _mm512_cvtepi64_pd(e);
                h[u] = _mm512_set1_pd(fk_log64[0]);
            }
            for (int k = 1; k < 12; k++) {
                for (int u = 0; u < 4; u++)
                    h[u] = _mm512_add_pd(_mm512_mul_pd(h[u], s2[u]), _mm512_set1_pd(fk_log64[k]));
            }
            for (int u = 0; u < 4; u++) {
                __m512d lg = _mm512_add_pd(_mm512_mul_pd(ed[u], _mm512_set1_pd(fk_ln2_64)),
                                           _mm512_mul_pd(s[u], h[u]));
                w[u] = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(lg),
                                                            _mm512_set1_epi64(INT64_MIN)));
                rare[u] = _mm512_cmp_pd_mask(w[u], _mm512_set1_pd(6.25), _CMP_GE_OQ);
                any_rare |= rare[u];
                s[u] = _mm512_sub_pd(w[u], _mm512_set1_pd(3.125)); /* t */
                acc[u] = _mm512_set1_pd(fk_g64_central[0]);
            }
            for (int k = 1; k < 23; k++) {
                for (int u = 0; u < 4; u++)
                    acc[u] = _mm512_add_pd(_mm512_mul_pd(acc[u], s[u]),
                                           _mm512_set1_pd(fk_g64_central[k]));
            }
            for (int u = 0; u < 4; u++) {
                __m512d z = _mm512_mul_pd(_mm512_mul_pd(acc[u], x[u]), _mm512_set1_pd(fk_sqrt2_64));
                _mm512_storeu_pd(V + 8 * u, _mm512_add_pd(_mm512_set1_pd(loc),
                                                          _mm512_mul_pd(z, _mm512_set1_pd(scale))));
                if (any_rare) {
                    _mm512_storeu_pd(X + 8 * u, x[u]);
                    _mm512_storeu_pd(Wl + 8 * u, w[u]);
                }
            }
        }
#elif defined(FK_ISA_AVX2)
        /* FK_IL independent elements per vector lane, side by side (see transform32) */
        for (int i = 0; i < FK_E64 / FK_IL; i++) {
            double x[FK_IL], s[FK_IL], s2[FK_IL], ed[FK_IL], h[FK_IL], w[FK_IL], acc[FK_IL];
            for (int u = 0; u < FK_IL; u++) {
                const int n = u * (FK_E64 / FK_IL) + i;
                double jd = fk_u32_to_f64(W[2 * n + 1]) * 0x1p21 + fk_u32_to_f64(W[2 * n] >> 11);
                /* (2j + 1 - 2**53) is an integer below 2**53 in size: exact either way */
                double v = (2.0 * jd + (1.0 - 0x1p53)) * 0x1p-53;
                x[u] = trunc ? v * fk_erf_sqrt2_64 : v;
                double y = (1.0 - x[u]) * (1.0 + x[u]);
                int64_t bits = fk_d2i(y);
                int64_t e = (int64_t)((uint64_t)bits >> 52) - 1023;
                int64_t mb = (bits & INT64_C(0xFFFFFFFFFFFFF)) | (INT64_C(1023) << 52);
                int64_t big = mb > INT64_C(0x3FF6A09E667F3BCC);
                mb = big ? mb - (INT64_C(1) << 52) : mb;
                e = big ? e + 1 : e;
                double m = fk_i2d(mb);
                double f = m - 1.0;
                s[u] = f / (2.0 + f);
                s2[u] = s[u] * s[u];
                /* e is a small integer: exact as double via the 2**52 trick */
                ed[u] = fk_i2d(e + INT64_C(0x4338000000000000)) - 0x1.8p52;
                h[u] = fk_log64[0];
            }
            FK_UNROLL
            for (int k = 1; k < 12; k++)
                for (int u = 0; u < FK_IL; u++) h[u] = h[u] * s2[u] + fk_log64[k];
            for (int u = 0; u < FK_IL; u++) {
                const int n = u * (FK_E64 / FK_IL) + i;
                double lg = ed[u] * fk_ln2_64 + s[u] * h[u];
                w[u] = -lg;
                X[n] = x[u];
                Wl[n] = w[u];
                any_rare |= (w[u] >= 6.25);
                s[u] = w[u] - 3.125; /* t */
                acc[u] = fk_g64_central[0];
            }
            FK_UNROLL
            for (int k = 1; k < 23; k++)
                for (int u = 0; u < FK_IL; u++) acc[u] = acc[u] * s[u] + fk_g64_central[k];
            for (int u = 0; u < FK_IL; u++) {
                double z = (acc[u] * x[u]) * fk_sqrt2_64;
                V[u * (FK_E64 / FK_IL) + i] = loc + z * scale;
            }
        }
#else
        for (int i = 0; i < FK_E64; i++) {
            double jd = fk_u32_to_f64(W[2 * i + 1]) * 0x1p21 + fk_u32_to_f64(W[2 * i] >> 11);
            /* (2j + 1 - 2**53) is an integer below 2**53 in size: exact either way */
            double v = (2.0 * jd + (1.0 - 0x1p53)) * 0x1p-53;
            double x = trunc ? v * fk_erf_sqrt2_64 : v;
            double y = (1.0 - x) * (1.0 + x);
            int64_t bits = fk_d2i(y);
            int64_t e = (int64_t)((uint64_t)bits >> 52) - 1023;
            int64_t mb = (bits & INT64_C(0xFFFFFFFFFFFFF)) | (INT64_C(1023) << 52);
            int64_t big = mb > INT64_C(0x3FF6A09E667F3BCC);
            mb = big ? mb - (INT64_C(1) << 52) : mb;
            e = big ? e + 1 : e;
            double m = fk_i2d(mb);
            double f = m - 1.0;
            double s = f / (2.0 + f);
            double s2 = s * s;
            double h = fk_log64[0];
            for (int k = 1; k < 12; k++) h = h * s2 + fk_log64[k];
            /* e is a small integer: exact as double via the 2**52 trick */
            double ed = fk_i2d(e + INT64_C(0x4338000000000000)) - 0x1.8p52;
            double lg = ed * fk_ln2_64 + s * h;
            double w = -lg;
            X[i] = x;
            Wl[i] = w;
            any_rare |= (w >= 6.25);
        }
        for (int i = 0; i < FK_E64; i++) {
            double t = Wl[i] - 3.125;
            double acc = fk_g64_central[0];
            for (int k = 1; k < 23; k++) acc = acc * t + fk_g64_central[k];
            double z = (acc * X[i]) * fk_sqrt2_64;
            V[i] = loc + z * scale;
        }
#endif
        if (any_rare) {
            for (int i = 0; i < FK_E64; i++) {
                if (Wl[i] >= 6.25) {
                    double z = FK(rare64)(Wl[i], X[i]) * fk_sqrt2_64;
                    V[i] = loc + z * scale;
                }
            }
        }
    }
    for (int i = 0; i < FK_E64; i++) {
        double x = V[i];
        double y = x > lo ? x : lo;
        T[i] = y < hi ? y : hi;
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
    const size_t isz = (size_t)P->itemsize;
    if (P->fmt == FK_F64) {
        size_t skip = lane / 2u; /* in elements */
        double T[FK_E64];
        while (count) {
            FK(philox)(P, b, W);
            if (skip == 0 && count >= FK_E64 && ((uintptr_t)out & 7u) == 0) {
                FK(transform64)(P, W, (double *)(void *)out); /* straight into out */
                out += FK_E64 * 8u;
                count -= FK_E64;
                b += FK_BLOCKS;
                continue;
            }
            FK(transform64)(P, W, T);
            size_t take = FK_E64 - skip;
            if (take > count) take = count;
            memcpy(out, T + skip, take * 8u);
            out += take * 8u;
            count -= take;
            b += FK_BLOCKS;
            skip = 0;
        }
        return;
    }
    size_t skip = lane;
    float V[FK_WORDS];
    union { float f[FK_WORDS]; uint16_t h[FK_WORDS]; } T;
    while (count) {
        FK(philox)(P, b, W);
        FK(transform32)(P, W, V);
        if (skip == 0 && count >= FK_WORDS && ((uintptr_t)out & (isz - 1u)) == 0) {
            FK(store32)(P, V, out); /* straight into out */
            out += FK_WORDS * isz;
            count -= FK_WORDS;
            b += FK_BLOCKS;
            continue;
        }
        FK(store32)(P, V, &T);
        size_t take = FK_WORDS - skip;
        if (take > count) take = count;
        memcpy(out, (char *)&T + skip * isz, take * isz);
        out += take * isz;
        count -= take;
        b += FK_BLOCKS;
        skip = 0;
    }
}

/* Test hook: transform given words (not Philox output) into out. nwords is a
 * multiple of 2 for float64. */
static void
FK(words)(const fk_params *P, const uint32_t *Win, size_t nwords, char *out)
{
    uint32_t W[FK_WORDS];
    const size_t per = P->fmt == FK_F64 ? 2u : 1u;
    const size_t isz = (size_t)P->itemsize;
    union { float f[FK_WORDS]; uint16_t h[FK_WORDS]; double d[FK_E64]; } T;
    float V[FK_WORDS];
    for (size_t a = 0; a < nwords; a += FK_WORDS) {
        size_t m = nwords - a < FK_WORDS ? nwords - a : FK_WORDS;
        memset(W, 0, sizeof(W));
        memcpy(W, Win + a, m * 4u);
        if (P->fmt == FK_F64) {
            FK(transform64)(P, W, T.d);
        }
        else {
            FK(transform32)(P, W, V);
            FK(store32)(P, V, &T);
        }
        memcpy(out + (a / per) * isz, &T, (m / per) * isz);
    }
}

#undef FK_E64
#undef FK
#undef FK_CAT
#undef FK_CAT2
