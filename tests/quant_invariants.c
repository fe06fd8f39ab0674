/*
 * quant_invariants.c — generic invariant checks for any registered
 * quantization scheme (see quant_invariants.h for the list).  Test
 * support, not a test: it is linked into every test binary, and
 * test_quant.c and the baselines' tests call it once per scheme and
 * option set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "quant_invariants.h"

#include "error.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QI_FAIL(...)                                                           \
    do {                                                                       \
        char qi_msg_[1024];                                                    \
        snprintf(qi_msg_, sizeof qi_msg_, __VA_ARGS__);                        \
        fail_msg("%s", qi_msg_);                                               \
    } while (0)

/* splitmix64, uniform in (0, 1) */
static double qi_unif(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

typedef struct {
    const char *what;
    int64_t nchan, chan_size;
    int per_channel;
    int is_signed; /* data has negative values */
    float *x;
} qi_data;

/* 0: signed Laplace with exact zeros; 1: unsigned ReLU-like exponential
 * with 40% zeros; 2: per-channel conv-like weights (8 x 36), channel
 * scales 1/8 .. 1 */
static void qi_make(int which, qi_data *d)
{
    uint64_t s = 0x5eed0000u + (uint64_t)which;
    memset(d, 0, sizeof *d);
    if (which == 0) {
        d->what = "signed Laplace (n=4096, every 17th exactly 0)";
        d->nchan = 1;
        d->chan_size = 4096;
        d->is_signed = 1;
    } else if (which == 1) {
        d->what = "unsigned exponential (n=4096, 40% zeros)";
        d->nchan = 1;
        d->chan_size = 4096;
    } else {
        d->what = "per-channel Laplace weights (8 x 36)";
        d->nchan = 8;
        d->chan_size = 36;
        d->per_channel = 1;
        d->is_signed = 1;
    }
    int64_t n = d->nchan * d->chan_size;
    d->x = malloc(sizeof(float) * (size_t)n);
    assert_non_null(d->x);
    for (int64_t i = 0; i < n; i++) {
        double e = -log(qi_unif(&s));
        double v;
        if (which == 0)
            v = (i % 17 == 0) ? 0.0 : (qi_unif(&s) < 0.5 ? -e : e);
        else if (which == 1)
            v = qi_unif(&s) < 0.4 ? 0.0 : 0.5 * e;
        else
            v = (qi_unif(&s) < 0.5 ? -e : e) * (1.0 + (double)(i / d->chan_size)) / 8.0;
        d->x[i] = (float)v;
    }
}

static int qi_cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* (x, Q(x)) pairs by x, ties by Q(x) */
static int qi_cmp_pair(const void *a, const void *b)
{
    const float *p = a, *q = b;
    if (p[0] != q[0]) return (p[0] > q[0]) - (p[0] < q[0]);
    return (p[1] > q[1]) - (p[1] < q[1]);
}

/* Is v one of the sorted levels lev[0..m)? */
static int qi_in_levels(const double *lev, int m, float v)
{
    int lo = 0, hi = m - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (lev[mid] == (double)v) return 1;
        if (lev[mid] < (double)v)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return 0;
}

static dq_qparams *qi_calib(const dq_quant_scheme *s, const qi_data *d, int bits,
                            const dq_quant_opts *o)
{
    dq_quant_opts oo = *o;
    oo.per_channel = d->per_channel;
    dq_qparams *p = dq_quant_calibrate_raw(s, d->what, d->x, d->nchan,
                                           d->chan_size, bits, &oo);
    if (!p)
        QI_FAIL("%s: %s at %d bits: calibrate failed: %s", s->name, d->what,
                bits, dq_error_message());
    return p;
}

/* A scheme may leave a bitwidth undefined (apot has level sets for
 * B = 2..5 only): its calibrate then fails with DQ_EUNSUP and that width
 * is skipped.  Any other failure is reported by qi_calib. */
static int qi_defined(const dq_quant_scheme *s, const qi_data *d, int bits,
                      const dq_quant_opts *o)
{
    dq_quant_opts oo = *o;
    oo.per_channel = d->per_channel;
    dq_error_clear();
    dq_qparams *p = dq_quant_calibrate_raw(s, d->what, d->x, d->nchan,
                                           d->chan_size, bits, &oo);
    if (!p && dq_error_status() == DQ_EUNSUP) return 0;
    dq_qparams_free(p);
    return 1;
}

static void qi_check_one(const dq_quant_scheme *s, const qi_data *d, int bits,
                         const dq_quant_opts *o, double *rmae)
{
    int64_t n = d->nchan * d->chan_size;
    dq_qparams *p = qi_calib(s, d, bits, o);
    float *y = malloc(sizeof(float) * (size_t)n);
    float *z = malloc(sizeof(float) * (size_t)n);
    float *w = malloc(sizeof(float) * (size_t)n);
    int32_t *codes = malloc(sizeof(int32_t) * (size_t)n);
    double *lev = malloc(sizeof(double) * (2 * DQ_CB_MAX + 1));
    assert_true(y && z && w && codes && lev);
    memcpy(y, d->x, sizeof(float) * (size_t)n);
    if (dq_quant_fake(p, y, n) != DQ_OK)
        QI_FAIL("%s: fake failed: %s", s->name, dq_error_message());

    /* a stored code has storage_bits when the scheme says so (sparq) */
    int cap = 1 << (s->storage_bits ? s->storage_bits : bits);
    for (int64_t c = 0; c < d->nchan; c++) {
        int m = dq_quant_levels(p, c, lev);
        if (m < 1 || m > cap)
            QI_FAIL("%s: %s at %d bits: channel %lld has %d levels (max %d)",
                    s->name, d->what, bits, (long long)c, m, cap);
        for (int i = 1; i < m; i++)
            if (!(lev[i] > lev[i - 1]))
                QI_FAIL("%s: levels not strictly ascending", s->name);
        const float *yc = y + c * d->chan_size;
        for (int64_t i = 0; i < d->chan_size; i++)
            if (!qi_in_levels(lev, m, yc[i]))
                QI_FAIL("%s: %s at %d bits: Q(x) = %.9g is not one of the "
                        "channel's levels()", s->name, d->what, bits,
                        (double)yc[i]);
        /* distinct outputs <= 2^bits */
        memcpy(w, yc, sizeof(float) * (size_t)d->chan_size);
        qsort(w, (size_t)d->chan_size, sizeof(float), qi_cmp_float);
        int distinct = 0;
        for (int64_t i = 0; i < d->chan_size; i++)
            distinct += i == 0 || w[i] != w[i - 1];
        if (distinct > cap)
            QI_FAIL("%s: %d distinct values at %d bits", s->name, distinct,
                    bits);
    }
    /* idempotent */
    memcpy(z, y, sizeof(float) * (size_t)n);
    assert_int_equal(dq_quant_fake(p, z, n), DQ_OK);
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&z[i], &y[i], sizeof(float)) != 0)
            QI_FAIL("%s: %s at %d bits: Q(Q(x)) != Q(x) at %lld: x=%.9g "
                    "Q=%.9g QQ=%.9g", s->name, d->what, bits, (long long)i,
                    (double)d->x[i], (double)y[i], (double)z[i]);
    /* codes round-trip to the fake-quantized values */
    assert_int_equal(dq_quant_encode(p, d->x, n, codes), DQ_OK);
    assert_int_equal(dq_quant_decode(p, codes, n, w), DQ_OK);
    for (int64_t i = 0; i < n; i++)
        if (w[i] != y[i] || signbit(w[i]) != signbit(y[i]))
            QI_FAIL("%s: %s at %d bits: decode(encode(x)) = %.9g but "
                    "fake(x) = %.9g at %lld", s->name, d->what, bits,
                    (double)w[i], (double)y[i], (long long)i);
    /* monotone within each channel (elementwise schemes) */
    if (s->flags & DQ_QS_ELEMENTWISE) {
        for (int64_t c = 0; c < d->nchan; c++) {
            const float *xc = d->x + c * d->chan_size;
            /* sort (x, Q(x)) pairs by x, then Q must not decrease */
            float *pairs = malloc(sizeof(float) * 2 * (size_t)d->chan_size);
            assert_non_null(pairs);
            for (int64_t i = 0; i < d->chan_size; i++) {
                pairs[2 * i] = xc[i];
                pairs[2 * i + 1] = y[c * d->chan_size + i];
            }
            qsort(pairs, (size_t)d->chan_size, 2 * sizeof(float),
                  qi_cmp_pair);
            for (int64_t i = 1; i < d->chan_size; i++)
                if (pairs[2 * i + 1] < pairs[2 * i - 1])
                    QI_FAIL("%s: %s at %d bits: not monotone: Q(%.9g) = "
                            "%.9g > Q(%.9g) = %.9g", s->name, d->what, bits,
                            (double)pairs[2 * i - 2], (double)pairs[2 * i - 1],
                            (double)pairs[2 * i], (double)pairs[2 * i + 1]);
            free(pairs);
        }
    }
    /* exact zeros stay zero with the zero code */
    if (o->zero_code)
        for (int64_t i = 0; i < n; i++)
            if (d->x[i] == 0 && y[i] != 0)
                QI_FAIL("%s: %s at %d bits: Q(0) = %.9g with the zero code on",
                        s->name, d->what, bits, (double)y[i]);
    dq_qerror e;
    dq_quant_error(d->x, y, n, &e);
    *rmae = e.rmae;
    free(y);
    free(z);
    free(w);
    free(codes);
    free(lev);
    dq_qparams_free(p);
}

/* Calibrate + fake + encode with the given thread count; returns a
 * malloc()ed byte image of every output and parameter. */
static unsigned char *qi_run_image(const dq_quant_scheme *s, const qi_data *d,
                                   int bits, const dq_quant_opts *o,
                                   int threads, size_t *len)
{
    int64_t n = d->nchan * d->chan_size;
    omp_set_num_threads(threads);
    dq_qparams *p = qi_calib(s, d, bits, o);
    size_t sz = sizeof(float) * (size_t)n + sizeof(int32_t) * (size_t)n +
                (size_t)d->nchan * (sizeof(double) * DQ_QP_MAX + sizeof(double));
    unsigned char *img = calloc(1, sz);
    assert_non_null(img);
    float *y = (float *)img;
    int32_t *codes = (int32_t *)(img + sizeof(float) * (size_t)n);
    unsigned char *pp = img + (sizeof(float) + sizeof(int32_t)) * (size_t)n;
    memcpy(y, d->x, sizeof(float) * (size_t)n);
    assert_int_equal(dq_quant_fake(p, y, n), DQ_OK);
    assert_int_equal(dq_quant_encode(p, d->x, n, codes), DQ_OK);
    for (int64_t c = 0; c < d->nchan; c++) {
        memcpy(pp, p->chan[c].p, sizeof(double) * DQ_QP_MAX);
        pp += sizeof(double) * DQ_QP_MAX;
        double ob = p->chan[c].objective;
        if (isnan(ob)) ob = 0; /* NaN payloads aside */
        memcpy(pp, &ob, sizeof ob);
        pp += sizeof ob;
    }
    dq_qparams_free(p);
    *len = sz;
    return img;
}

static void qi_check_bad(const dq_quant_scheme *s, const dq_quant_opts *o,
                         int unsigned_only)
{
    float good[8] = {0.5f, 1.0f, 0.25f, 2.0f, 0.0f, 0.75f, 1.5f, 3.0f};
    if (!unsigned_only) good[1] = -1.0f;
    const float bad_vals[3] = {NAN, INFINITY, -INFINITY};
    const char *bad_words[3] = {"NaN", "+Inf", "-Inf"};
    for (int b = 0; b < 3; b++) {
        float x[8];
        memcpy(x, good, sizeof x);
        x[5] = bad_vals[b];
        dq_error_clear();
        dq_qparams *p = dq_quant_calibrate_raw(s, "bad", x, 1, 8, 4, o);
        if (p) {
            dq_qparams_free(p);
            QI_FAIL("%s: a tensor with %s was accepted", s->name, bad_words[b]);
        }
        assert_int_equal(dq_error_status(), DQ_EINVAL);
        if (!strstr(dq_error_message(), bad_words[b]))
            QI_FAIL("%s: error for %s does not say so: '%s'", s->name,
                    bad_words[b], dq_error_message());
    }
    dq_error_clear();
    dq_qparams *p = dq_quant_calibrate_raw(s, "empty", good, 1, 0, 4, o);
    if (p) QI_FAIL("%s: an empty tensor was accepted", s->name);
    assert_int_equal(dq_error_status(), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "empty"));
    int badbits[2] = {1, 9};
    for (int i = 0; i < 2; i++) {
        dq_error_clear();
        p = dq_quant_calibrate_raw(s, "bits", good, 1, 8, badbits[i], o);
        if (p) QI_FAIL("%s: bits = %d was accepted", s->name, badbits[i]);
        assert_int_equal(dq_error_status(), DQ_EINVAL);
        assert_non_null(strstr(dq_error_message(), "bits"));
    }
    /* all-zero: documented exact result */
    float zeros[16] = {0};
    for (int bits = DQ_QBITS_MIN; bits <= DQ_QBITS_MAX; bits++) {
        p = dq_quant_calibrate_raw(s, "zeros", zeros, 1, 16, bits, o);
        if (!p)
            QI_FAIL("%s: all-zero tensor rejected: %s", s->name,
                    dq_error_message());
        float y[16];
        for (int i = 0; i < 16; i++) y[i] = 0.0f;
        assert_int_equal(dq_quant_fake(p, y, 16), DQ_OK);
        for (int i = 0; i < 16; i++)
            if (y[i] != 0.0f) QI_FAIL("%s: all-zero tensor: Q(0) != 0", s->name);
        double lev[2 * DQ_CB_MAX + 1];
        assert_int_equal(dq_quant_levels(p, 0, lev), 1);
        assert_true(lev[0] == 0.0);
        dq_qparams_free(p);
    }
}

void dq_check_quant_invariants(const char *scheme, const dq_quant_opts *o,
                               double rmae_slack)
{
    const dq_quant_scheme *s = dq_quant_find(scheme);
    if (!s) QI_FAIL("scheme '%s' not registered: %s", scheme, dq_error_message());
    dq_quant_opts def;
    if (!o) {
        dq_quant_opts_default(&def);
        o = &def;
    }
    int unsigned_only = (s->flags & DQ_QS_UNSIGNED_ONLY) != 0;
    int saved_threads = omp_get_max_threads();
    for (int which = 0; which < 3; which++) {
        qi_data d;
        qi_make(which, &d);
        if (unsigned_only && d.is_signed) {
            free(d.x);
            continue;
        }
        double rmae[DQ_QBITS_MAX + 1];
        int prev = 0, mid = 0; /* last defined width; the one near 4 */
        for (int bits = DQ_QBITS_MIN; bits <= DQ_QBITS_MAX; bits++) {
            if (!qi_defined(s, &d, bits, o)) continue;
            qi_check_one(s, &d, bits, o, &rmae[bits]);
            if (prev && rmae[bits] > rmae[prev] * (1 + rmae_slack) + 1e-12)
                QI_FAIL("%s: %s: RMAE rises from %.6g at %d bits to %.6g at "
                        "%d bits", s->name, d.what, rmae[prev], prev,
                        rmae[bits], bits);
            prev = bits;
            if (!mid || bits <= 4) mid = bits;
        }
        if (!prev) QI_FAIL("%s: %s: no bitwidth is defined", s->name, d.what);
        /* byte-identical at 1 and 2 threads (one mid bitwidth per set) */
        size_t l1, l2;
        unsigned char *i1 = qi_run_image(s, &d, mid, o, 1, &l1);
        unsigned char *i2 = qi_run_image(s, &d, mid, o, 2, &l2);
        omp_set_num_threads(saved_threads);
        assert_int_equal(l1, l2);
        if (memcmp(i1, i2, l1) != 0)
            QI_FAIL("%s: %s: results differ between 1 and 2 threads",
                    s->name, d.what);
        free(i1);
        free(i2);
        free(d.x);
    }
    qi_check_bad(s, o, unsigned_only);
}
