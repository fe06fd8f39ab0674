/*
 * codebook.c — the shared core of every non-uniform scheme: a sorted
 * level table with nearest-level rounding by linear-domain midpoints.
 *
 * expq (DNA-TEQ), log2, apot, kmeans and mokey-like all build a
 * dq_codebook in their calibrate() and use these functions for encode,
 * decode, fake quantization and levels().  See quant.h for the two kinds
 * (sign-magnitude with an optional exact-zero code, and plain sorted
 * table) and the code layout.
 *
 * Levels are rounded to float when the codebook is built, and the
 * midpoints are taken between the rounded levels, so a quantized value
 * re-quantizes to itself exactly.  A value exactly on a midpoint goes to
 * the level of smaller magnitude (plain tables: the lower level).
 */
#include "quant.h"

#include "error.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Round to the nearest float, kept in a double. */
static double to_float(double v) { return (double)(float)v; }

int dq_codebook_signmag(dq_codebook *cb, int bits, int is_signed,
                        int zero_code, const double *mag, int K)
{
    if (!cb || !mag) return DQ_ERROR(DQ_EINVAL, "codebook: NULL argument");
    if (bits < DQ_QBITS_MIN || bits > DQ_QBITS_MAX)
        return DQ_ERROR(DQ_EINVAL, "codebook: bits %d outside %d..%d", bits,
                        DQ_QBITS_MIN, DQ_QBITS_MAX);
    zero_code = zero_code ? 1 : 0;
    is_signed = is_signed ? 1 : 0;
    int kmax = (1 << (bits - is_signed)) - zero_code;
    if (K < 1 || K > kmax || K > DQ_CB_MAX)
        return DQ_ERROR(DQ_EINVAL,
                        "codebook: %d magnitude levels, expected 1..%d for "
                        "%d bits (%s%s)",
                        K, kmax, bits, is_signed ? "signed" : "unsigned",
                        zero_code ? ", zero code" : "");
    for (int k = 0; k < K; k++)
        if (!isfinite(mag[k]) || !(mag[k] > 0))
            return DQ_ERROR(DQ_EINVAL,
                            "codebook: magnitude level %d is %g, expected a "
                            "finite value > 0", k, mag[k]);
    memset(cb, 0, sizeof *cb);
    cb->kind = DQ_CB_SIGNMAG;
    cb->bits = bits;
    cb->is_signed = is_signed;
    cb->zero_code = zero_code;
    cb->K = K;
    for (int k = 0; k < K; k++) {
        double v = to_float(mag[k]);
        /* a level below the smallest float would round to 0 */
        cb->lev[k] = v > 0 ? v : (double)FLT_TRUE_MIN;
    }
    qsort(cb->lev, (size_t)K, sizeof(double), cmp_double);
    for (int k = 0; k + 1 < K; k++)
        cb->thr[k] = 0.5 * (cb->lev[k] + cb->lev[k + 1]);
    cb->thr[K - 1] = INFINITY;
    cb->thr0 = 0.5 * cb->lev[0];
    return DQ_OK;
}

int dq_codebook_table(dq_codebook *cb, int bits, const double *val, int K)
{
    if (!cb || !val) return DQ_ERROR(DQ_EINVAL, "codebook: NULL argument");
    if (bits < DQ_QBITS_MIN || bits > DQ_QBITS_MAX)
        return DQ_ERROR(DQ_EINVAL, "codebook: bits %d outside %d..%d", bits,
                        DQ_QBITS_MIN, DQ_QBITS_MAX);
    if (K < 1 || K > (1 << bits))
        return DQ_ERROR(DQ_EINVAL, "codebook: %d values, expected 1..%d",
                        K, 1 << bits);
    for (int k = 0; k < K; k++)
        if (!isfinite(val[k]))
            return DQ_ERROR(DQ_EINVAL, "codebook: value %d is not finite", k);
    memset(cb, 0, sizeof *cb);
    cb->kind = DQ_CB_TABLE;
    cb->bits = bits;
    cb->is_signed = 1;
    cb->K = K;
    for (int k = 0; k < K; k++) cb->lev[k] = to_float(val[k]);
    qsort(cb->lev, (size_t)K, sizeof(double), cmp_double);
    for (int k = 0; k + 1 < K; k++)
        cb->thr[k] = 0.5 * (cb->lev[k] + cb->lev[k + 1]);
    cb->thr[K - 1] = INFINITY;
    cb->thr0 = -INFINITY;
    return DQ_OK;
}

/* Smallest k with a <= thr[k] (thr[K-1] = +inf), by binary search. */
static int nearest(const dq_codebook *cb, double a)
{
    int lo = 0, hi = cb->K - 1;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (a <= cb->thr[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int32_t dq_codebook_encode1(const dq_codebook *cb, float x)
{
    if (cb->kind == DQ_CB_TABLE) return nearest(cb, (double)x);
    int neg = 0;
    double a;
    if (cb->is_signed) {
        neg = x < 0;
        a = fabs((double)x);
    } else {
        a = x > 0 ? (double)x : 0.0; /* unsigned: x < 0 maps like 0 */
    }
    if (cb->zero_code && a <= cb->thr0) return 0;
    int32_t j = nearest(cb, a) + cb->zero_code;
    return neg ? (int32_t)(1u << (cb->bits - 1)) | j : j;
}

float dq_codebook_decode1(const dq_codebook *cb, int32_t code)
{
    if (cb->kind == DQ_CB_TABLE) {
        if (code < 0) code = 0;
        if (code >= cb->K) code = cb->K - 1;
        return (float)cb->lev[code];
    }
    int neg = 0;
    int32_t j = code;
    if (cb->is_signed) {
        int32_t m = (int32_t)(1u << (cb->bits - 1));
        neg = (code & m) != 0;
        j = code & (m - 1);
    }
    if (cb->zero_code && j == 0) return 0.0f;
    int k = j - cb->zero_code;
    if (k < 0) k = 0;
    if (k >= cb->K) k = cb->K - 1; /* codes outside the table saturate */
    float v = (float)cb->lev[k];
    return neg ? -v : v;
}

float dq_codebook_fake1(const dq_codebook *cb, float x)
{
    if (cb->kind == DQ_CB_TABLE) return (float)cb->lev[nearest(cb, (double)x)];
    int neg = 0;
    double a;
    if (cb->is_signed) {
        neg = x < 0;
        a = fabs((double)x);
    } else {
        a = x > 0 ? (double)x : 0.0;
    }
    if (cb->zero_code && a <= cb->thr0) return 0.0f;
    float v = (float)cb->lev[nearest(cb, a)];
    return neg ? -v : v;
}

/* ---- the array paths: the same rounding, in float ------------------------- *
 *
 * A float a satisfies a <= t (t a double) exactly when a <= rd(t), the
 * largest float <= t, so the thresholds are rounded down to float once and
 * the search runs in float.  The zero code's threshold thr0 is put in front
 * of the others (and 0 in front of the levels), so that an element's index
 * is simply the number of thresholds below its magnitude (a plain table:
 * below its value).  Short arrays count them by a branch-free binary
 * search over the thresholds padded with +inf to a power of two; long ones
 * (>= LUT_MIN elements) look up the first candidate in a table over the
 * top 16 bits of the value's order-preserving key (1/128 octave per
 * bucket) and step over the few thresholds inside the bucket.  Both give
 * exactly dq_codebook_encode1 / fake1 (tests/test_quant.c checks every
 * path against them). */

#define LUT_MIN 65536
#define LUT_BUCKETS 65536 /* of the whole key range; SIGNMAG needs the
                             upper half (values >= +0) only */

typedef struct {
    int nt;                     /* thresholds: K - 1, + 1 with a zero code */
    int pow2;                   /* nt rounded up to a power of two (>= 1) */
    float t[DQ_CB_MAX + 1];     /* rd(thresholds), padded with +inf */
    float lev[DQ_CB_MAX + 1];   /* index -> value (0 first with a zero code) */
    uint32_t base;              /* first bucket of the table */
    uint8_t *first;             /* bucket - base -> thresholds below its
                                   lowest value */
} cb_search;

static float round_down(double t)
{
    float f = (float)t;
    return (double)f > t ? nextafterf(f, -INFINITY) : f;
}

/* Monotone unsigned key of a float: a < b (as floats, -0 before +0)
 * exactly when key(a) < key(b). */
static inline uint32_t float_key(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static inline float key_float(uint32_t key)
{
    uint32_t u = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Bucket b's first index: thresholds below the bucket's lowest float (a
 * NaN bound holds no data and leaves the count where it was). */
static void lut_fill(cb_search *s)
{
    int k = 0;
    for (uint32_t b = s->base; b < LUT_BUCKETS; b++) {
        float lo = key_float(b << 16);
        while (k < s->nt && s->t[k] < lo) k++;
        s->first[b - s->base] = (uint8_t)k; /* k <= nt <= 255 */
    }
}

/* The search tables of cb for an array of n values (the lookup table only
 * when n is large and it can be allocated; free s->first after use). */
static void cb_search_init(cb_search *s, const dq_codebook *cb, int64_t n)
{
    int z = cb->kind == DQ_CB_SIGNMAG && cb->zero_code;
    s->nt = cb->K - 1 + z;
    s->pow2 = 1;
    while (s->pow2 < s->nt) s->pow2 <<= 1;
    for (int k = 0; k < s->pow2; k++)
        s->t[k] = k >= s->nt ? INFINITY
                  : z && k == 0 ? round_down(cb->thr0)
                                : round_down(cb->thr[k - z]);
    s->lev[0] = 0.0f;
    for (int k = 0; k < cb->K; k++) s->lev[k + z] = (float)cb->lev[k];
    s->base = cb->kind == DQ_CB_SIGNMAG ? LUT_BUCKETS / 2 : 0;
    s->first = n >= LUT_MIN ? malloc(LUT_BUCKETS - s->base) : NULL;
    if (s->first) lut_fill(s);
}

/* Thresholds below a: the element's index. */
static inline int cb_index(const cb_search *s, float a)
{
    int k = 0;
    if (s->first) {
        k = s->first[(float_key(a) >> 16) - s->base];
        while (k < s->nt && s->t[k] < a) k++;
        return k;
    }
    for (int step = s->pow2 >> 1; step > 0; step >>= 1)
        k += s->t[k + step - 1] < a ? step : 0;
    return k + (s->t[k] < a);
}

/* Magnitude looked up for a SIGNMAG element (x < 0 maps like 0 when the
 * codebook is unsigned). */
static inline float sm_mag(const dq_codebook *cb, float x)
{
    return cb->is_signed ? fabsf(x) : (x > 0 ? x : 0.0f);
}

void dq_codebook_encode(const dq_codebook *cb, const float *x, int64_t n,
                        int32_t *codes)
{
    cb_search s;
    cb_search_init(&s, cb, n);
    if (cb->kind == DQ_CB_TABLE) {
        for (int64_t i = 0; i < n; i++) codes[i] = cb_index(&s, x[i]);
    } else {
        /* index = code magnitude j; the sign bit on all but exact zero */
        int32_t sbit = cb->is_signed ? (int32_t)(1u << (cb->bits - 1)) : 0;
        int32_t first_signed = cb->zero_code ? 1 : 0;
        for (int64_t i = 0; i < n; i++) {
            int32_t j = cb_index(&s, sm_mag(cb, x[i]));
            codes[i] = j | (x[i] < 0 && j >= first_signed ? sbit : 0);
        }
    }
    free(s.first);
}

void dq_codebook_decode(const dq_codebook *cb, const int32_t *codes,
                        int64_t n, float *y)
{
    for (int64_t i = 0; i < n; i++) y[i] = dq_codebook_decode1(cb, codes[i]);
}

void dq_codebook_fake(const dq_codebook *cb, float *x, int64_t n)
{
    cb_search s;
    cb_search_init(&s, cb, n);
    if (cb->kind == DQ_CB_TABLE) {
        for (int64_t i = 0; i < n; i++) x[i] = s.lev[cb_index(&s, x[i])];
    } else {
        /* the sign of x on every non-zero result (exact zero is +0) */
        uint32_t smask = cb->is_signed ? 0x80000000u : 0;
        for (int64_t i = 0; i < n; i++) {
            float v = s.lev[cb_index(&s, sm_mag(cb, x[i]))];
            uint32_t vb;
            memcpy(&vb, &v, sizeof vb);
            vb |= vb != 0 && x[i] < 0 ? smask : 0;
            memcpy(&x[i], &vb, sizeof vb);
        }
    }
    free(s.first);
}

int dq_codebook_levels(const dq_codebook *cb, double *out)
{
    int m = 0;
    if (cb->kind == DQ_CB_TABLE) {
        for (int k = 0; k < cb->K; k++) out[m++] = cb->lev[k];
    } else {
        if (cb->is_signed)
            for (int k = cb->K - 1; k >= 0; k--) out[m++] = -cb->lev[k];
        if (cb->zero_code) out[m++] = 0.0;
        for (int k = 0; k < cb->K; k++) out[m++] = cb->lev[k];
    }
    /* drop duplicates (levels equal after rounding to float) */
    int d = 0;
    for (int i = 0; i < m; i++)
        if (d == 0 || out[i] != out[d - 1]) out[d++] = out[i];
    return d;
}

double dq_codebook_eval_exact(const dq_codebook *cb, const float *x,
                              int64_t n, dq_objective obj)
{
    if (obj == DQ_OBJ_KL) {
        /* KL is defined on the histogram (hist.c); build it at the
         * default resolution. */
        dq_qhist *h = dq_qhist_alloc(x, n, cb->is_signed, 4096);
        if (!h) return NAN;
        double v = dq_qhist_eval(h, cb, obj, NULL, NULL);
        dq_qhist_free(h);
        return v;
    }
    double e1 = 0, e2 = 0, s1 = 0;
    for (int64_t i = 0; i < n; i++) {
        double q = (double)dq_codebook_fake1(cb, x[i]);
        double d = (double)x[i] - q;
        e1 += fabs(d);
        e2 += d * d;
        s1 += fabs((double)x[i]);
    }
    if (obj == DQ_OBJ_MSE) return n > 0 ? e2 / (double)n : 0.0;
    if (s1 == 0) return e1 == 0 ? 0.0 : INFINITY;
    return e1 / s1;
}

/* ---- vtable entries for codebook schemes (quant.h) ------------------------ */

void dq_qchan_cb_encode(const dq_qchan *c, const float *x, int64_t n,
                        int32_t *codes)
{
    dq_codebook_encode(c->cb, x, n, codes);
}

void dq_qchan_cb_decode(const dq_qchan *c, const int32_t *codes, int64_t n,
                        float *y)
{
    dq_codebook_decode(c->cb, codes, n, y);
}

void dq_qchan_cb_fake(const dq_qchan *c, float *x, int64_t n)
{
    dq_codebook_fake(c->cb, x, n);
}

int dq_qchan_cb_levels(const dq_qchan *c, double *out)
{
    return dq_codebook_levels(c->cb, out);
}
