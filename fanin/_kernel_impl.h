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
#define FK_CAT(a, b) FK_CAT2(a, b)
#define FK(name) FK_CAT(name, FK_SUFFIX)

/* Philox4x32-10 on nblk consecutive blocks b0, b0+1, ...; word 4*i + l of W is lane l
 * of block b0 + i. nblk <= FK_BLOCKS. */
static void
FK(philox)(const fk_params *P, uint64_t b0, int nblk, uint32_t *restrict W)
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
    (void)nblk;
    for (int i = 0; i < FK_BLOCKS; i++) {
        W[4 * i + 0] = c0[i];
        W[4 * i + 1] = c1[i];
        W[4 * i + 2] = c2[i];
        W[4 * i + 3] = c3[i];
    }
}

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
static void
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
    float X[FK_WORDS], Wl[FK_WORDS];
    const float xmul = (P->kind == FK_TRUNCATED) ? fk_erf_sqrt2_32 : 1.0f;
    const int trunc = (P->kind == FK_TRUNCATED);
    int any_tail = 0;
    for (int i = 0; i < FK_WORDS; i++) {
        int32_t j = (int32_t)(W[i] >> 8);
        float v = (float)(2 * j + (1 - (1 << 24))) * 0x1p-24f;
        float x = trunc ? v * xmul : v;
        float y = (1.0f - x) * (1.0f + x);
        /* log(y) from bits: y = m * 2**e, m in [sqrt(1/2), sqrt(2)) */
        int32_t bits = fk_f2i(y);
        int32_t e = (int32_t)((uint32_t)bits >> 23) - 127;
        int32_t mb = (bits & 0x7FFFFF) | (127 << 23);
        int32_t big = mb > 0x3FB504F3;
        mb = big ? mb - (1 << 23) : mb;
        e = big ? e + 1 : e;
        float m = fk_i2f(mb);
        float f = m - 1.0f;
        float s = f / (2.0f + f);
        float s2 = s * s;
        float h = fk_log32[0];
        for (int k = 1; k < 6; k++) h = h * s2 + fk_log32[k];
        float lg = (float)e * fk_ln2_32 + s * h;
        float w = -lg;
        X[i] = x;
        Wl[i] = w;
        any_tail |= (w >= 5.0f);
    }
    for (int i = 0; i < FK_WORDS; i++) {
        float t = Wl[i] - 2.5f;
        float acc = fk_g32_central[0];
        for (int k = 1; k < 9; k++) acc = acc * t + fk_g32_central[k];
        float z = (acc * X[i]) * fk_sqrt2_32;
        V[i] = loc + z * scale;
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
static void
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
static void
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
            FK(philox)(P, b, FK_BLOCKS, W);
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
        FK(philox)(P, b, FK_BLOCKS, W);
        FK(transform32)(P, W, V);
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
