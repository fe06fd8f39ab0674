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

void dq_codebook_encode(const dq_codebook *cb, const float *x, int64_t n,
                        int32_t *codes)
{
    for (int64_t i = 0; i < n; i++) codes[i] = dq_codebook_encode1(cb, x[i]);
}

void dq_codebook_decode(const dq_codebook *cb, const int32_t *codes,
                        int64_t n, float *y)
{
    for (int64_t i = 0; i < n; i++) y[i] = dq_codebook_decode1(cb, codes[i]);
}

void dq_codebook_fake(const dq_codebook *cb, float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = dq_codebook_fake1(cb, x[i]);
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
