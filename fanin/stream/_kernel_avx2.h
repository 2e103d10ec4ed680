/*
 * fanin.stream._kernel's AVX2 loops (included by _kernel_impl.h with FK_SUFFIX avx2).
 *
 * With 16 vector registers a batch's 32 Philox blocks do not fit in registers: the
 * words go through one L1-resident buffer, and each 8-word vector is then transformed,
 * rounded, clamped and stored straight to the output (no value buffer, no second
 * pass). float64 uses the scalar element functions, fused with the clamp.
 */

static FK_INLINE void
FK(mulhilo)(__m256i a, __m256i m, __m256i *hi, __m256i *lo)
{
    __m256i even = _mm256_mul_epu32(a, m);
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
    *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

/* Philox4x32-10 on the first ng groups of 8 consecutive blocks from b0 (a whole batch:
 * FK_BLOCKS / 8, a constant the loop unrolls for); word 4*i + l of W is lane l of
 * block b0 + i. One vector of 8 blocks per counter word and group. */
static FK_INLINE void
FK(philox_groups)(const fk_params *P, uint64_t b0, uint32_t *restrict W, int ng)
{
    const __m256i m0 = _mm256_set1_epi64x(FK_PHILOX_M0), m1 = _mm256_set1_epi64x(FK_PHILOX_M1);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    FK_UNROLL
    for (int h = 0; h < ng; h++) {
        uint64_t first = b0 + (uint64_t)(8 * h);
        /* low words first + lane, with the carry into the high words where they wrap */
        __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32((int)(uint32_t)first), lane);
        __m256i wrap = _mm256_cmpgt_epi32(_mm256_xor_si256(lane, _mm256_set1_epi32(INT32_MIN)),
                                          _mm256_xor_si256(c0, _mm256_set1_epi32(INT32_MIN)));
        __m256i c1 = _mm256_sub_epi32(_mm256_set1_epi32((int)(uint32_t)(first >> 32)), wrap);
        __m256i c2 = _mm256_set1_epi32((int)P->call_lo);
        __m256i c3 = _mm256_set1_epi32((int)P->call_hi);
        uint32_t k0 = P->key_lo, k1 = P->key_hi;
        FK_UNROLL
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
        _mm256_storeu_si256((__m256i *)(void *)(o + 0), _mm256_permute2x128_si256(q0, q1, 0x20));
        _mm256_storeu_si256((__m256i *)(void *)(o + 8), _mm256_permute2x128_si256(q2, q3, 0x20));
        _mm256_storeu_si256((__m256i *)(void *)(o + 16), _mm256_permute2x128_si256(q0, q1, 0x31));
        _mm256_storeu_si256((__m256i *)(void *)(o + 24), _mm256_permute2x128_si256(q2, q3, 0x31));
    }
}

static FK_INLINE void
FK(philox)(const fk_params *P, uint64_t b0, uint32_t *restrict W)
{
    FK(philox_groups)(P, b0, W, FK_BLOCKS / 8);
}

/* ---------------------------------------------------------------------------- */
/* float32 transforms: 8 words to 8 values                                        */
/* ---------------------------------------------------------------------------- */

/* 1.f - 1 where f = the bits of w under mask, already in fraction position */
static FK_INLINE __m256
FK(unit32)(__m256i w, int mask)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256i f = _mm256_or_si256(_mm256_and_si256(w, _mm256_set1_epi32(mask)), _mm256_castps_si256(one));
    return _mm256_sub_ps(_mm256_castsi256_ps(f), one);
}

/* x with its sign flipped where w's top bit is set */
static FK_INLINE __m256
FK(signed32)(__m256 x, __m256i w)
{
    return _mm256_xor_ps(x, _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32(INT32_MIN))));
}

static FK_INLINE __m256
FK(uniform32)(const fk_params *P, __m256i w)
{
    __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(w, 8)), _mm256_set1_ps(0x1p-24f));
    return _mm256_add_ps(_mm256_set1_ps(P->loc32), _mm256_mul_ps(u, _mm256_set1_ps(P->scale32)));
}

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

static FK_INLINE __m256
FK(tn2_32)(const fk_params *P, __m256i w)
{
    __m256 t = FK(unit32)(w, 0x3FFFF << 5);
    __m256 b3 = _mm256_castsi256_ps(_mm256_slli_epi32(w, 28));
    __m256 b4 = _mm256_castsi256_ps(_mm256_slli_epi32(w, 27));
    __m256 a = FK(pick32)(P->tn2t_32[0], w, b3, b4);
    FK_UNROLL
    for (int k = 1; k < FK_TN2_32_DEG1; k++)
        a = _mm256_add_ps(_mm256_mul_ps(a, t), FK(pick32)(P->tn2t_32[k], w, b3, b4));
    return _mm256_add_ps(_mm256_set1_ps(P->loc32), FK(signed32)(a, w));
}

/* The 7 coefficients of 8 dyadic rows (lane l's at byte ix[l] of fk_rows32): 8 row loads
 * and an 8x8 transpose in registers */
static FK_INLINE void
FK(rows32)(const uint32_t *ix, __m256 c[FK_DY32_DEG1])
{
    const char *base = (const char *)fk_rows32;
    __m256 a[8], t[8], s[8];
    FK_UNROLL
    for (int i = 0; i < 8; i++) a[i] = _mm256_load_ps((const float *)(const void *)(base + ix[i]));
    FK_UNROLL
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(a[i], a[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(a[i], a[i + 1]);
    }
    FK_UNROLL
    for (int h = 0; h < 8; h += 4) { /* rows h..h+3: coefficients k | k+4 */
        s[h + 0] = _mm256_shuffle_ps(t[h], t[h + 2], 0x44);
        s[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], 0xEE);
        s[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0x44);
        s[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0xEE);
    }
    FK_UNROLL
    for (int k = 0; k < 4; k++) {
        c[k] = _mm256_permute2f128_ps(s[k], s[k + 4], 0x20);
        if (k + 4 < FK_DY32_DEG1) c[k + 4] = _mm256_permute2f128_ps(s[k], s[k + 4], 0x31);
    }
}

/* fk_dyadic32 on 8 lanes: rows + off (0: tail, FK_DYADIC_COUNT: center) */
static FK_INLINE __m256
FK(dyadic32)(__m256 y, __m256i off)
{
    __m256i b = _mm256_castps_si256(y);
    __m256i idx = _mm256_sub_epi32(_mm256_srli_epi32(b, 23 - FK_DYADIC_SUB_BITS),
                                   _mm256_set1_epi32((127 + FK_DYADIC_EXP_MIN) << FK_DYADIC_SUB_BITS));
    idx = _mm256_min_epi32(_mm256_max_epi32(idx, _mm256_setzero_si256()),
                           _mm256_set1_epi32(FK_DYADIC_COUNT - 1));
    FK_ALIGN(32) uint32_t ix[8]; /* byte offsets of the rows */
    _mm256_store_si256((__m256i *)(void *)ix, _mm256_slli_epi32(_mm256_add_epi32(idx, off), 5));
    __m256 tau = FK(unit32)(_mm256_slli_epi32(b, FK_DYADIC_SUB_BITS), 0x7FFFFF);
    __m256 c[FK_DY32_DEG1];
    FK(rows32)(ix, c);
    __m256 acc = c[0];
    FK_UNROLL
    for (int k = 1; k < FK_DY32_DEG1; k++) acc = _mm256_add_ps(_mm256_mul_ps(acc, tau), c[k]);
    return acc;
}

static FK_INLINE __m256
FK(half_unit32)(__m256i w)
{
    __m256i c = _mm256_and_si256(w, _mm256_set1_epi32(0x3FFFFFFF));
    __m256i d = _mm256_add_epi32(_mm256_add_epi32(c, c), _mm256_set1_epi32(1));
    __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(0x1p-32f));
    return _mm256_min_ps(t, _mm256_set1_ps(FK_PRED_HALF32));
}

static FK_INLINE __m256
FK(normal32)(const fk_params *P, __m256i w)
{
    __m256 t = FK(half_unit32)(w);
    __m256i tail = _mm256_srai_epi32(_mm256_slli_epi32(w, 1), 31); /* bit 30 set: all ones */
    __m256 p = FK(dyadic32)(t, _mm256_andnot_si256(tail, _mm256_set1_epi32(FK_DYADIC_COUNT)));
    __m256 z = _mm256_blendv_ps(_mm256_mul_ps(t, p), p, _mm256_castsi256_ps(tail));
    z = FK(signed32)(z, w);
    return _mm256_add_ps(_mm256_set1_ps(P->loc32), _mm256_mul_ps(z, _mm256_set1_ps(P->scale32)));
}

static FK_INLINE __m256
FK(tn_general32)(const fk_params *P, __m256i w)
{
    const float *g = P->g32;
    const __m256 one = _mm256_set1_ps(1.0f), ph = _mm256_set1_ps(FK_PRED_HALF32);
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN));
    __m256 t = FK(half_unit32)(w);
    __m256 right = _mm256_castsi256_ps(w); /* blendv reads the top bit */
    __m256 omt = _mm256_sub_ps(one, t);
    __m256 u = _mm256_blendv_ps(t, omt, right), v = _mm256_blendv_ps(omt, t, right);
    __m256 low = _mm256_cmp_ps(u, _mm256_set1_ps(g[4]), _CMP_LT_OQ);
    __m256 mid = _mm256_andnot_ps(low, _mm256_cmp_ps(u, _mm256_set1_ps(g[5]), _CMP_LT_OQ));
    __m256 m2 = _mm256_set1_ps(g[3]);
    __m256 yl = _mm256_add_ps(_mm256_set1_ps(g[0]), _mm256_mul_ps(u, m2));
    __m256 c = _mm256_add_ps(_mm256_set1_ps(g[2]), _mm256_mul_ps(u, m2));
    __m256 yh = _mm256_add_ps(_mm256_set1_ps(g[1]), _mm256_mul_ps(v, m2));
    __m256 y = _mm256_blendv_ps(_mm256_blendv_ps(yh, yl, low), _mm256_andnot_ps(sign, c), mid);
    __m256 p = FK(dyadic32)(_mm256_min_ps(y, ph),
                            _mm256_and_si256(_mm256_castps_si256(mid), _mm256_set1_epi32(FK_DYADIC_COUNT)));
    __m256 z = _mm256_blendv_ps(_mm256_blendv_ps(p, _mm256_xor_ps(p, sign), low), _mm256_mul_ps(c, p), mid);
    return _mm256_add_ps(_mm256_set1_ps(P->loc32), _mm256_mul_ps(z, _mm256_set1_ps(P->scale32)));
}

static FK_INLINE __m256
FK(value32)(const fk_params *P, int kind, __m256i w)
{
    switch (kind) {
    case FK_UNIFORM: return FK(uniform32)(P, w);
    case FK_NORMAL: return FK(normal32)(P, w);
    case FK_TRUNCATED: return FK(tn2_32)(P, w);
    default: return FK(tn_general32)(P, w);
    }
}

/* ---------------------------------------------------------------------------- */
/* float32 family stores: 16 values (two vectors) at element 16 * p of out        */
/* ---------------------------------------------------------------------------- */

/* max(lo, x) / min(hi, x): the reference's comparisons (see the AVX-512 clamp32) */
static FK_INLINE __m256
FK(clamp32)(__m256 x, __m256 lo, __m256 hi)
{
    return _mm256_min_ps(hi, _mm256_max_ps(lo, x));
}

/* bfloat16 bits (in the high halves): round to nearest even, clamp as floats */
static FK_INLINE __m256i
FK(bf16_round)(__m256 x, __m256 lo, __m256 hi)
{
    __m256i b = _mm256_castps_si256(x);
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7FFF)), odd);
    r = _mm256_and_si256(r, _mm256_set1_epi32((int)0xFFFF0000u));
    return _mm256_srli_epi32(_mm256_castps_si256(FK(clamp32)(_mm256_castsi256_ps(r), lo, hi)), 16);
}

/* float16: F16C's round to nearest even, clamp on the exact values widened back */
static FK_INLINE __m128i
FK(f16_round)(__m256 x, __m256 lo, __m256 hi)
{
    const int rne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    __m256 y = _mm256_cvtph_ps(_mm256_cvtps_ph(x, rne));
    return _mm256_cvtps_ph(FK(clamp32)(y, lo, hi), rne);
}

static FK_INLINE void
FK(put32)(const fk_params *P, int fmt, __m256 x0, __m256 x1, char *out, int p)
{
    if (fmt == FK_F32) {
        const __m256 lo = _mm256_set1_ps(P->lo32), hi = _mm256_set1_ps(P->hi32);
        float *o = (float *)(void *)out + 16 * p;
        _mm256_storeu_ps(o, FK(clamp32)(x0, lo, hi));
        _mm256_storeu_ps(o + 8, FK(clamp32)(x1, lo, hi));
        return;
    }
    const __m256 lo = _mm256_set1_ps(P->lo16f), hi = _mm256_set1_ps(P->hi16f);
    uint16_t *o = (uint16_t *)(void *)out + 16 * p;
    if (fmt == FK_BF16) { /* packus interleaves 128-bit lanes; the permute puts them back */
        __m256i h = _mm256_packus_epi32(FK(bf16_round)(x0, lo, hi), FK(bf16_round)(x1, lo, hi));
        _mm256_storeu_si256((__m256i *)(void *)o, _mm256_permute4x64_epi64(h, 0xD8));
        return;
    }
    _mm_storeu_si128((__m128i *)(void *)o, FK(f16_round)(x0, lo, hi));
    _mm_storeu_si128((__m128i *)(void *)(o + 8), FK(f16_round)(x1, lo, hi));
}

static FK_INLINE void
FK(loop32)(const fk_params *P, int kind, int fmt, uint64_t b, const uint32_t *Win, size_t nb,
           char *out)
{
    const size_t bytes = (size_t)FK_WORDS * (fmt == FK_F32 ? 4u : 2u);
    FK_ALIGN(32) uint32_t W[FK_WORDS];
    for (size_t j = 0; j < nb; j++) {
        const uint32_t *src = W;
        if (Win) src = Win + j * FK_WORDS;
        else FK(philox)(P, b + (uint64_t)j * FK_BLOCKS, W);
        FK_UNROLL
        for (int p = 0; p < FK_WORDS / 16; p++) {
            __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)(src + 16 * p));
            __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)(src + 16 * p + 8));
            FK(put32)(P, fmt, FK(value32)(P, kind, w0), FK(value32)(P, kind, w1), out + j * bytes, p);
        }
    }
}

static FK_NOINLINE void
FK(run32)(const fk_params *P, uint64_t b, const uint32_t *Win, size_t nb, char *out)
{
#define FK_LOOP(K, F) FK(loop32)(P, K, F, b, Win, nb, out)
    FK_EACH32(FK_LOOP)
#undef FK_LOOP
}

/* The head of the batch at block b: its first ng < FK_BLOCKS / 8 groups (32 ng values
 * of a float32-family format) into out, for a row that needs no more of the batch
 * (see the AVX-512 loops' head32). */
static FK_INLINE void
FK(head_values32)(const fk_params *P, int kind, int fmt, uint64_t b, int ng, char *out)
{
    FK_ALIGN(32) uint32_t W[FK_WORDS];
    FK(philox_groups)(P, b, W, ng);
    for (int p = 0; p < 2 * ng; p++) {
        __m256i w0 = _mm256_load_si256((const __m256i *)(const void *)(W + 16 * p));
        __m256i w1 = _mm256_load_si256((const __m256i *)(const void *)(W + 16 * p + 8));
        FK(put32)(P, fmt, FK(value32)(P, kind, w0), FK(value32)(P, kind, w1), out, p);
    }
}

static FK_NOINLINE void
FK(head32)(const fk_params *P, uint64_t b, int ng, char *out)
{
#define FK_HEAD(K, F) FK(head_values32)(P, K, F, b, ng, out)
    FK_EACH32(FK_HEAD)
#undef FK_HEAD
}

/* nb batches of FK_WORDS words (Philox blocks from b, or Win) into out */
static void
FK(run)(const fk_params *P, uint64_t b, const uint32_t *Win, size_t nb, char *out)
{
    if (P->fmt != FK_F64 && P->fmt < FK_I8) {
        FK(run32)(P, b, Win, nb, out);
        return;
    }
    FK_ALIGN(32) uint32_t W[FK_WORDS];
    const size_t step = (size_t)FK_WORDS / (size_t)P->per * (size_t)P->itemsize;
    for (size_t j = 0; j < nb; j++) {
        const uint32_t *src = W;
        if (Win) src = Win + j * FK_WORDS;
        else FK(philox)(P, b + (uint64_t)j * FK_BLOCKS, W);
        FK(scalar_to)(P, src, FK_WORDS / (size_t)P->per, out + j * step);
    }
}
