/*
 * test_baselines.c — the baseline quantizers of DESIGN §2: log2 and
 * log-sqrt2, apot, kmeans, mokey-like, bsparq and sparq.
 *
 * Every scheme runs the generic invariants (tests/quant_invariants.h).
 * Then each gets the checks its definition allows to be exact: APoT's level
 * sets against the values in DESIGN §2, SPARQ on hand-made bytes and
 * against an arithmetic reference for all 256 bytes, log2 levels that are
 * exact powers of two with log-domain rounding, k-means recovering the
 * sample means of three separated clusters, and the Mokey-like dictionary
 * lying on its exponential curve at a local optimum of its exact
 * objective.  Bad inputs give their documented errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "quant/apot.h"
#include "quant/kmeans.h"
#include "quant/mokey.h"
#include "quant/quant.h"
#include "quant/sparq.h"
#include "quant_invariants.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------- */

static const dq_quant_scheme *scheme(const char *name)
{
    const dq_quant_scheme *s = dq_quant_find(name);
    if (!s) fail_msg("scheme '%s' not registered: %s", name, dq_error_message());
    return s;
}

/* Calibrate on x (per tensor, opts o or defaults) and fake-quantize x. */
static dq_qparams *calib_fake(const char *name, float *x, int64_t n, int bits,
                              const dq_quant_opts *o)
{
    dq_qparams *p =
        dq_quant_calibrate_raw(scheme(name), name, x, 1, n, bits, o);
    if (!p) fail_msg("%s %d bits: %s", name, bits, dq_error_message());
    assert_int_equal(dq_quant_fake(p, x, n), DQ_OK);
    return p;
}

/* ---- generic invariants, every scheme -------------------------------------- */

static void test_invariants_log2(void **state)
{
    (void)state;
    dq_check_quant_invariants("log2", NULL, 0.0);
    dq_check_quant_invariants("log-sqrt2", NULL, 0.0);
}

static void test_invariants_apot(void **state)
{
    (void)state;
    dq_check_quant_invariants("apot", NULL, 0.0);
}

static void test_invariants_kmeans(void **state)
{
    (void)state;
    dq_check_quant_invariants("kmeans", NULL, 0.0);
}

static void test_invariants_mokey(void **state)
{
    (void)state;
    dq_quant_opts o;
    dq_quant_opts_default(&o);
    dq_check_quant_invariants("mokey-like", &o, 0.0);
    o.zero_code = 0;
    dq_check_quant_invariants("mokey-like", &o, 0.0);
}

static void test_invariants_sparq(void **state)
{
    (void)state;
    dq_check_quant_invariants("bsparq", NULL, 0.0);
    dq_check_quant_invariants("sparq", NULL, 0.0);
}

/* ---- APoT ------------------------------------------------------------------- */

static void assert_set(const double *got, int n, const double *want, int m)
{
    assert_int_equal(n, m);
    for (int i = 0; i < m; i++)
        if (got[i] != want[i])
            fail_msg("level %d: got %.17g, want %.17g", i, got[i], want[i]);
}

static void test_apot_level_sets(void **state)
{
    (void)state;
    double v[32];
    const double b2[] = {0, 0.25, 0.5, 1};
    assert_set(v, dq_apot_build(2, v), b2, 4);
    /* DESIGN §2 and the issue: B=3 {0, .1, .2, .3, .4, .6, .8, 1}. */
    const double b3[] = {0, .1, .2, .3, .4, .6, .8, 1};
    assert_set(v, dq_apot_build(3, v), b3, 8);
    const double b4[] = {0,        1.0 / 48, 1.0 / 24, 1.0 / 16,
                         1.0 / 12, 1.0 / 8,  1.0 / 6,  3.0 / 16,
                         1.0 / 4,  1.0 / 3,  3.0 / 8,  1.0 / 2,
                         2.0 / 3,  11.0 / 16, 3.0 / 4, 1};
    assert_set(v, dq_apot_build(4, v), b4, 16);

    /* B=5: the 32 sums a+b+c of DESIGN §2 over their maximum 25/32. */
    const double a[] = {0, 0x1p-1, 0x1p-3, 0x1p-6};
    const double b[] = {0, 0x1p-2, 0x1p-4, 0x1p-7};
    const double c[] = {0, 0x1p-5};
    double want[32];
    int m = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 2; k++) want[m++] = a[i] + b[j] + c[k];
    for (int i = 1; i < m; i++) /* insertion sort */
        for (int j = i; j > 0 && want[j - 1] > want[j]; j--) {
            double t = want[j];
            want[j] = want[j - 1];
            want[j - 1] = t;
        }
    for (int i = 0; i < m; i++) want[i] /= 25.0 / 32.0;
    assert_set(v, dq_apot_build(5, v), want, 32);
    for (int i = 1; i < 32; i++) assert_true(want[i] > want[i - 1]);

    dq_error_clear();
    assert_int_equal(dq_apot_build(1, v), -1);
    assert_int_equal(dq_error_status(), DQ_EUNSUP);
    assert_non_null(strstr(dq_error_message(), "B = 1"));
    assert_int_equal(dq_apot_build(6, v), -1);
}

/* A 4-bit weight uses B = 3 and a sign: its levels are exactly
 * {+-alpha * v} over the B=3 set, and alpha is the best of a fine scan. */
static void test_apot_scheme_levels(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    enum { N = 20000 };
    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++) x[i] = (float)gsl_ran_laplace(r, 0.05);
    dq_quant_opts o;
    dq_quant_opts_default(&o);
    o.exact = 1; /* so the scan below compares the same objective */
    dq_qparams *p = dq_quant_calibrate_raw(scheme("apot"), "w", x, 1, N, 4, &o);
    assert_non_null(p);
    double alpha = p->chan[0].p[0];
    double lev[2 * DQ_CB_MAX + 1], v[8];
    int nl = dq_quant_levels(p, 0, lev);
    assert_int_equal(dq_apot_build(3, v), 8);
    assert_int_equal(nl, 15);
    for (int i = 0; i < 7; i++) {
        assert_true(lev[i] == -(double)(float)(alpha * v[7 - i]));
        assert_true(lev[8 + i] == (double)(float)(alpha * v[i + 1]));
    }
    assert_true(lev[7] == 0.0);

    /* The searched alpha is no worse than any of 2000 scanned values. */
    double amax = 0;
    for (int i = 0; i < N; i++) amax = fmax(amax, fabs(x[i]));
    double best = p->chan[0].objective;
    for (int i = 1; i <= 2000; i++) {
        dq_codebook cb;
        double mag[7], al = amax * i / 2000.0;
        for (int k = 0; k < 7; k++) mag[k] = al * v[k + 1];
        assert_int_equal(dq_codebook_signmag(&cb, 4, 1, 1, mag, 7), DQ_OK);
        double f = dq_codebook_eval_exact(&cb, x, N, DQ_OBJ_RMAE);
        if (f < best * (1 - 1e-3))
            fail_msg("alpha %g: rmae %g beats the searched %g (alpha %g)", al,
                     f, best, alpha);
    }
    dq_qparams_free(p);

    /* A 4-bit unsigned activation uses B = 4: 16 levels, 0 and 15 > 0. */
    for (int i = 0; i < N; i++) x[i] = fabsf(x[i]);
    p = dq_quant_calibrate_raw(scheme("apot"), "a", x, 1, N, 4, NULL);
    assert_non_null(p);
    assert_int_equal(dq_quant_levels(p, 0, lev), 16);
    assert_true(lev[0] == 0.0);
    dq_qparams_free(p);
    free(x);
    gsl_rng_free(r);
}

/* APoT exists for B = 2..5: 3..6-bit signed, 2..5-bit unsigned tensors. */
static void test_apot_bad_bits(void **state)
{
    (void)state;
    float w[] = {-1.0f, 0.5f, 0.25f, -0.125f};
    float a[] = {1.0f, 0.5f, 0.25f, 0.0f};
    const dq_quant_scheme *s = scheme("apot");
    const struct {
        const float *x;
        int bits;
        int ok;
    } cases[] = {{w, 2, 0}, {w, 3, 1}, {w, 6, 1}, {w, 7, 0}, {w, 8, 0},
                 {a, 2, 1}, {a, 5, 1}, {a, 6, 0}, {a, 8, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dq_error_clear();
        dq_qparams *p =
            dq_quant_calibrate_raw(s, "t", cases[i].x, 1, 4, cases[i].bits, NULL);
        if (cases[i].ok) {
            assert_non_null(p);
        } else {
            assert_null(p);
            assert_int_equal(dq_error_status(), DQ_EUNSUP);
            assert_non_null(strstr(dq_error_message(), "apot"));
            assert_non_null(strstr(dq_error_message(), "B = "));
        }
        dq_qparams_free(p);
    }
}

/* ---- log2 / log-sqrt2 -------------------------------------------------------- */

/* max|x| = 5: round(log2 5) = 2, so the 4-bit signed levels (7 exponents +
 * zero) are 2^-4 .. 2^2.  Rounding is in the log domain: the threshold
 * between 2 and 4 is 2*sqrt(2) = 2.83, not 3, and values below
 * 2^-4.5 = 0.0442 go to 0. */
static void test_log2_hand(void **state)
{
    (void)state;
    float x[] = {5.0f,   3.0f,   2.9f,    2.8f,  -0.06f, 0.045f,
                 0.044f, 0.04f,  -1.41f,  1.42f, 0.0f,   -5.0f};
    const float want[] = {4.0f,  4.0f,    4.0f,  2.0f,  -0.0625f, 0.0625f,
                          0.0f,  0.0f,    -1.0f, 2.0f,  0.0f,     -4.0f};
    dq_qparams *p = calib_fake("log2", x, 12, 4, NULL);
    for (int i = 0; i < 12; i++)
        if (x[i] != want[i]) fail_msg("x[%d]: got %g, want %g", i, x[i], want[i]);
    double lev[2 * DQ_CB_MAX + 1];
    int nl = dq_quant_levels(p, 0, lev);
    assert_int_equal(nl, 15);
    for (int i = 0; i < 7; i++) {
        assert_true(lev[8 + i] == ldexp(1.0, i - 4));
        assert_true(lev[6 - i] == -ldexp(1.0, i - 4));
    }
    dq_qparams_free(p);
}

/* Every non-zero level of every bitwidth is an exact power of two (sqrt 2
 * for log-sqrt2, consecutive levels a factor sqrt 2 apart), the top one is
 * 2^round(log2 max|x|), and signed/unsigned have 2^(b-1)-1 / 2^b-1 levels
 * per sign (fewer only where they would fall below FLT_MIN). */
static void test_log2_levels_powers(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 3);
    enum { N = 4000 };
    float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)gsl_ran_gaussian(r, 0.3);
    double amax = 0;
    for (int i = 0; i < N; i++) amax = fmax(amax, fabs(x[i]));
    for (int s = 1; s <= 2; s++) {
        const char *name = s == 1 ? "log2" : "log-sqrt2";
        for (int bits = 2; bits <= 8; bits++) {
            for (int sgn = 0; sgn <= 1; sgn++) {
                float y[N];
                for (int i = 0; i < N; i++) y[i] = sgn ? x[i] : fabsf(x[i]);
                dq_qparams *p = dq_quant_calibrate_raw(scheme(name), name, y, 1,
                                                       N, bits, NULL);
                assert_non_null(p);
                double lev[2 * DQ_CB_MAX + 1];
                int nl = dq_quant_levels(p, 0, lev);
                /* 2^(b-sgn) - 1 exponents, but none below FLT_MIN */
                long jt = lround(s * log2(amax));
                int K = (1 << (bits - sgn)) - 1;
                if (K > jt + 126 * s + 1) K = (int)(jt + 126 * s + 1);
                assert_int_equal(nl, sgn ? 2 * K + 1 : K + 1);
                double top = exp2(jt / (double)s);
                assert_true(lev[nl - 1] == (double)(float)top);
                for (int i = nl - K; i < nl; i++) {
                    int e;
                    double m = frexp(lev[i], &e);
                    if (s == 1) {
                        assert_true(m == 0.5);
                    } else {
                        assert_true(m == 0.5 ||
                                    m == (double)(float)(M_SQRT2 / 2));
                        if (i > nl - K)
                            assert_true(fabs(lev[i] / lev[i - 1] - M_SQRT2) <
                                        3e-7);
                    }
                }
                dq_qparams_free(p);
            }
        }
    }
    gsl_rng_free(r);
}

/* ---- k-means ---------------------------------------------------------------- */

/* Three clusters N(-3, .1), N(2, .1), N(5, .1): Lloyd from the linear
 * initialisation converges to exactly their sample means. */
static void test_kmeans_three_clusters(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    enum { PER = 3000 };
    const double mu[3] = {-3.0, 2.0, 5.0};
    float x[3 * PER];
    double mean[3] = {0, 0, 0};
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < PER; i++) {
            /* interleaved, so the order of the data is mixed */
            x[3 * i + c] = (float)(mu[c] + gsl_ran_gaussian(r, 0.1));
            mean[c] += x[3 * i + c];
        }
    for (int c = 0; c < 3; c++) mean[c] /= PER;

    double cent[4];
    int it = 0;
    assert_int_equal(dq_kmeans_lloyd(x, 3 * PER, 3, 0, cent, &it), DQ_OK);
    assert_true(it >= 1 && it < DQ_KMEANS_MAX_ITERS);
    for (int c = 0; c < 3; c++)
        assert_true(fabs(cent[c] - mean[c]) < 1e-9);

    /* Through the scheme: 2 bits = 4 centroids, one pinned at 0. */
    dq_qparams *p = dq_quant_calibrate_raw(scheme("kmeans"), "k", x, 1, 3 * PER,
                                           2, NULL);
    assert_non_null(p);
    double lev[2 * DQ_CB_MAX + 1];
    assert_int_equal(dq_quant_levels(p, 0, lev), 4);
    assert_true(lev[1] == 0.0);
    assert_true(fabs(lev[0] - mean[0]) < 1e-6);
    assert_true(fabs(lev[2] - mean[1]) < 1e-6);
    assert_true(fabs(lev[3] - mean[2]) < 1e-6);
    dq_qparams_free(p);
    gsl_rng_free(r);
}

/* Lloyd stops at a fixed point: on hand-made data, for every K, each
 * centroid is the mean of the values nearest to it, and they are sorted.
 * Bad arguments are DQ_EINVAL. */
static void test_kmeans_fixed_point(void **state)
{
    (void)state;
    const float x[] = {0, 1, 2, 3, 10, 11, 30, 31, 32, -4};
    enum { N = sizeof x / sizeof x[0] };
    for (int K = 2; K <= 6; K++) {
        double c[8];
        assert_int_equal(dq_kmeans_lloyd(x, N, K, 0, c, NULL), DQ_OK);
        for (int k = 0; k < K; k++) {
            double s = 0;
            int m = 0;
            for (int i = 0; i < N; i++) {
                int best = 0;
                for (int j = 1; j < K; j++)
                    if (fabs(x[i] - c[j]) < fabs(x[i] - c[best])) best = j;
                if (best == k) {
                    s += x[i];
                    m++;
                }
            }
            if (m > 0) assert_true(fabs(c[k] - s / m) < 1e-12);
            if (k > 0) assert_true(c[k] >= c[k - 1]);
        }
    }
    double c[4];
    dq_error_clear();
    assert_int_equal(dq_kmeans_lloyd(x, N, 1, 0, c, NULL), DQ_EINVAL);
    assert_int_equal(dq_kmeans_lloyd(x, 0, 4, 0, c, NULL), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "kmeans"));
}

/* ---- Mokey-like --------------------------------------------------------------- */

/* Simpson's rule of (x - Q(x))^2 phi(x) over [-12, 12]: an independent
 * check of the closed-form objective. */
static double emse_numeric(const double *c, int m)
{
    const int n = 240000;
    const double lo = -12, h = 24.0 / n;
    double s = 0;
    for (int i = 0; i <= n; i++) {
        double x = lo + i * h, a = fabs(x), q = c[0];
        for (int k = 1; k < m; k++)
            if (fabs(a - c[k]) < fabs(a - q)) q = c[k];
        double f = (a - q) * (a - q) * exp(-0.5 * x * x) / sqrt(2 * M_PI);
        s += f * (i == 0 || i == n ? 1 : i % 2 ? 4 : 2);
    }
    return s * h / 3;
}

static void test_mokey_dictionary(void **state)
{
    (void)state;
    dq_mokey_dict d, d2;
    assert_int_equal(dq_mokey_dictionary(8, &d), DQ_OK);
    assert_int_equal(d.m, 8); /* 16 entries: +-c_0..c_7 */
    assert_true(d.c[0] > 0 && d.r > 1 && d.a > 0);
    for (int i = 0; i < 8; i++) {
        if (i > 0) assert_true(d.c[i] > d.c[i - 1]);
        /* on the exponential curve */
        assert_true(fabs(d.c[i] - (d.a * pow(d.r, i) + d.b)) <
                    1e-12 * fmax(1.0, fabs(d.c[i])));
    }
    /* the exponential constraint costs a little against Lloyd-Max's
     * unconstrained 16-level optimum 0.009497 (Max 1960), not more */
    assert_true(d.emse > 0.009497 && d.emse < 0.0099);
    assert_true(fabs(d.emse - emse_numeric(d.c, 8)) < 1e-9);
    /* a local optimum: nudging a, r or b never helps */
    for (int t = 0; t < 6; t++) {
        double a = d.a, r = d.r, b = d.b, e = (t % 2 ? 1 : -1) * 1e-4;
        if (t / 2 == 0) a *= 1 + e;
        if (t / 2 == 1) r *= 1 + e;
        if (t / 2 == 2) b += e;
        double c[8];
        for (int i = 0; i < 8; i++) c[i] = a * pow(r, i) + b;
        assert_true(dq_mokey_emse(c, 8) >= d.emse - 1e-13);
    }
    /* fitted once, the same every time */
    assert_int_equal(dq_mokey_dictionary(8, &d2), DQ_OK);
    assert_memory_equal(&d, &d2, sizeof d);
    /* m = 1 is the closed form E|X| = sqrt(2/pi) */
    assert_int_equal(dq_mokey_dictionary(1, &d), DQ_OK);
    assert_true(d.c[0] == sqrt(2.0 / M_PI));
    dq_error_clear();
    assert_int_equal(dq_mokey_dictionary(0, &d), DQ_EINVAL);
    assert_int_equal(dq_mokey_dictionary(DQ_MOKEY_M_MAX + 1, &d), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "mokey"));
}

/* A tensor maps onto the dictionary by its mean and std: the 4-bit levels
 * are mean + std * (+-c_i), 16 of them; with the zero code, 7 per sign
 * plus an exact 0. */
static void test_mokey_scheme(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 5);
    enum { N = 5000 };
    float x[N];
    double s1 = 0, s2 = 0;
    for (int i = 0; i < N; i++) {
        x[i] = (float)(0.3 + gsl_ran_gaussian(r, 2.0));
        s1 += x[i];
    }
    double mu = s1 / N;
    for (int i = 0; i < N; i++) s2 += (x[i] - mu) * (x[i] - mu);
    double sd = sqrt(s2 / N);
    dq_quant_opts o;
    dq_quant_opts_default(&o);
    o.zero_code = 0;
    dq_qparams *p =
        dq_quant_calibrate_raw(scheme("mokey-like"), "m", x, 1, N, 4, &o);
    assert_non_null(p);
    assert_string_equal(p->scheme->label, "Mokey-like");
    char buf[256];
    dq_quant_describe(p, buf, sizeof buf);
    assert_non_null(strstr(buf, "Mokey-like"));
    dq_mokey_dict d;
    assert_int_equal(dq_mokey_dictionary(8, &d), DQ_OK);
    double lev[2 * DQ_CB_MAX + 1];
    assert_int_equal(dq_quant_levels(p, 0, lev), 16);
    for (int i = 0; i < 8; i++) {
        assert_true(fabs(lev[8 + i] - (mu + sd * d.c[i])) < 1e-5);
        assert_true(fabs(lev[7 - i] - (mu - sd * d.c[i])) < 1e-5);
    }
    dq_qparams_free(p);

    o.zero_code = 1;
    p = dq_quant_calibrate_raw(scheme("mokey-like"), "m", x, 1, N, 4, &o);
    assert_non_null(p);
    int nl = dq_quant_levels(p, 0, lev), zeros = 0;
    assert_int_equal(nl, 15);
    for (int i = 0; i < nl; i++) zeros += lev[i] == 0.0;
    assert_int_equal(zeros, 1);
    dq_qparams_free(p);
    gsl_rng_free(r);
}

/* ---- SPARQ -------------------------------------------------------------------- */

static void test_sparq_placements(void **state)
{
    (void)state;
    int off[8];
    assert_int_equal(dq_sparq_placements(4, 5, off), 5);
    for (int i = 0; i < 5; i++) assert_int_equal(off[i], i);
    assert_int_equal(dq_sparq_placements(4, 0, off), 5);
    assert_int_equal(dq_sparq_placements(4, 3, off), 3);
    assert_true(off[0] == 0 && off[1] == 2 && off[2] == 4);
    assert_int_equal(dq_sparq_placements(4, 2, off), 2);
    assert_true(off[0] == 0 && off[1] == 4);
    assert_int_equal(dq_sparq_placements(3, 0, off), 6);
    assert_int_equal(dq_sparq_placements(2, 0, off), 7);
    assert_int_equal(dq_sparq_placements(8, 0, off), 1);
    assert_int_equal(off[0], 0);
    dq_error_clear();
    assert_int_equal(dq_sparq_placements(4, 4, off), -1); /* 4 % 3 != 0 */
    assert_int_equal(dq_error_status(), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "shift_opt 4"));
    assert_int_equal(dq_sparq_placements(4, 6, off), -1);
    assert_int_equal(dq_sparq_placements(2, 3, off), -1); /* {0,3,6}: gaps */
    assert_int_equal(dq_sparq_placements(2, 4, off), 4);  /* {0,2,4,6} */
    assert_int_equal(dq_sparq_placements(0, 0, off), -1);
    assert_int_equal(dq_sparq_placements(9, 0, off), -1);
}

static uint8_t win(uint8_t v, int n, int shift_opt)
{
    int off[8];
    int k = dq_sparq_placements(n, shift_opt, off);
    assert_true(k > 0);
    return dq_sparq_window(v, n, off, k);
}

/* The bytes of the issue, worked by hand (4-bit windows).
 *
 * 0b10111000 = 184: the MSB is bit 7, so every shift_opt picks the window
 * bits 7..4 = 1011; the rest, 1000, is exactly half a window step and the
 * window is odd, so half-to-even rounds up to 1100: 0b11000000 = 192
 * (truncation would give 176).  0b10101000 = 168 is the same tie with an
 * even window 1010: it stays 160.
 *
 * 0b00011111 = 31:
 *   shift_opt 5 (offsets 0..4): MSB bit 4 -> window bits 4..1 = 1111; the
 *     rest, bit 0 = 1, is exactly half a step: a tie with an odd window,
 *     and rounding to even would carry out of the window (10000), so it
 *     saturates at 1111: 0b00011110 = 30;
 *   shift_opt 3 (offsets 0,2,4): the window holding bit 4 is bits 5..2 =
 *     0111; the rest 11 is above half: up to 1000 -> 0b00100000 = 32;
 *   shift_opt 2 (offsets 0,4): window bits 7..4 = 0001, rest 1111 above
 *     half: up to 0010 -> 32.
 * 0b00001011 = 11 fits the lowest window whole: 11.  0b11111111 = 255:
 * 1111 with the rest 1111 rounds up out of the window: saturates to 240. */
static void test_sparq_hand_bytes(void **state)
{
    (void)state;
    const int opts[] = {5, 3, 2};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(win(0xB8, 4, opts[i]), 0xC0);
        assert_int_equal(win(0xA8, 4, opts[i]), 0xA0);
        assert_int_equal(win(0x0B, 4, opts[i]), 0x0B);
        assert_int_equal(win(0xFF, 4, opts[i]), 0xF0);
        assert_int_equal(win(0x00, 4, opts[i]), 0x00);
    }
    assert_int_equal(win(0x1F, 4, 5), 0x1E);
    assert_int_equal(win(0x1F, 4, 3), 0x20);
    assert_int_equal(win(0x1F, 4, 2), 0x20);
    /* ties that round down / up inside lower windows (shift_opt 5) */
    assert_int_equal(win(0x1D, 4, 5), 0x1C); /* 1110|1 -> even 1110 */
    assert_int_equal(win(0x3A, 4, 5), 0x38); /* 1110|10 tie, even: stays */
    assert_int_equal(win(0x3B, 4, 5), 0x3C); /* 1110|11 > half -> 1111 */
    assert_int_equal(win(0x36, 4, 5), 0x38); /* 1101|10 tie, odd -> 1110 */
    for (int v = 0; v < 256; v++) assert_int_equal(win((uint8_t)v, 8, 0), v);
}

/* All bytes, every window and placement set, against arithmetic: value /
 * 2^o rounded half to even with rint (FE_TONEAREST), capped at 2^n - 1. */
static void test_sparq_all_bytes(void **state)
{
    (void)state;
    for (int n = 1; n <= 8; n++) {
        for (int so = 0; so <= 9 - n; so++) {
            int off[8], k = dq_sparq_placements(n, so, off);
            if (k < 0) continue;
            int prev = 0, distinct = 0, seen[256] = {0};
            for (int v = 0; v < 256; v++) {
                int o = off[k - 1];
                for (int i = k - 1; i >= 0; i--)
                    if (v < (1 << (off[i] + n))) o = off[i];
                double q = rint(v / (double)(1 << o));
                if (q > (1 << n) - 1) q = (1 << n) - 1;
                int want = (int)q << o;
                int got = dq_sparq_window((uint8_t)v, n, off, k);
                if (got != want)
                    fail_msg("n=%d shift_opt=%d v=%d: got %d want %d", n, so, v,
                             got, want);
                assert_true(got >= prev); /* monotone */
                assert_int_equal(dq_sparq_window((uint8_t)got, n, off, k), got);
                prev = got;
                distinct += !seen[got];
                seen[got] = 1;
            }
            /* a code of n window bits + the placement index suffices */
            int pbits = 0;
            while ((1 << pbits) < k) pbits++;
            assert_true(distinct <= 1 << (n + pbits));
        }
    }
    int off[8];
    int k = dq_sparq_placements(4, 5, off), seen[256] = {0}, distinct = 0;
    for (int v = 0; v < 256; v++) {
        int q = dq_sparq_window((uint8_t)v, 4, off, k);
        distinct += !seen[q];
        seen[q] = 1;
    }
    /* 0..15, then 8 values for each of offsets 1..4 */
    assert_int_equal(distinct, 48);
}

/* Through the schemes, with scale exactly 1 (max 255): bSPARQ windows each
 * byte; vSPARQ lets a byte whose pair partner is 0 keep all 8 bits. */
static void test_sparq_pairs(void **state)
{
    (void)state;
    const float in[] = {255, 0, 0, 31, 31, 0, 31, 31, 184, 1, 200, 3, 31};
    enum { N = sizeof in / sizeof in[0] };
    const float want_v[N] = {255, 0, 0, 31, 31, 0, 30, 30, 192, 1, 192, 3, 31};
    const float want_b[N] = {240, 0, 0, 30, 30, 0, 30, 30, 192, 1, 192, 3, 30};
    float x[N];
    memcpy(x, in, sizeof x);
    dq_qparams *p = calib_fake("sparq", x, N, 4, NULL);
    assert_true(p->chan[0].p[0] == 1.0);
    for (int i = 0; i < N; i++)
        if (x[i] != want_v[i])
            fail_msg("sparq x[%d]: got %g want %g", i, x[i], want_v[i]);
    int32_t codes[N];
    assert_int_equal(dq_quant_encode(p, in, N, codes), DQ_OK);
    for (int i = 0; i < N; i++) assert_int_equal(codes[i], (int)want_v[i]);
    dq_qparams_free(p);

    memcpy(x, in, sizeof x);
    p = calib_fake("bsparq", x, N, 4, NULL);
    for (int i = 0; i < N; i++)
        if (x[i] != want_b[i])
            fail_msg("bsparq x[%d]: got %g want %g", i, x[i], want_b[i]);
    dq_qparams_free(p);

    /* 2-bit windows (7 placements): 255 -> 11|111111 rounds out of the
     * window and saturates at 11000000 = 192.  A survivor (partner 0) gets
     * a 2n = 4-bit window: 216 = 1101|1000 is a tie with an odd window ->
     * 1110 = 224.  Paired with a non-zero it keeps 2 bits: 11|011000 is
     * below half -> 192, and 3 fits the lowest window whole. */
    const float in2[] = {255, 255, 216, 0, 216, 3};
    const float want2[] = {192, 192, 224, 0, 192, 3};
    float y[6];
    memcpy(y, in2, sizeof y);
    p = calib_fake("sparq", y, 6, 2, NULL);
    for (int i = 0; i < 6; i++)
        if (y[i] != want2[i]) fail_msg("x[%d]: got %g want %g", i, y[i], want2[i]);
    dq_qparams_free(p);

    assert_int_equal(scheme("sparq")->storage_bits, 8);
    assert_int_equal(scheme("bsparq")->storage_bits, 8);
}

/* SPARQ is for unsigned INT8 activations: a signed tensor is DQ_EUNSUP;
 * a placement set that does not fit the window is DQ_EINVAL. */
static void test_sparq_bad_input(void **state)
{
    (void)state;
    const float w[] = {-1.0f, 0.5f, 2.0f, 0.0f};
    const float a[] = {1.0f, 0.5f, 2.0f, 0.0f};
    const char *names[] = {"sparq", "bsparq"};
    for (int i = 0; i < 2; i++) {
        dq_error_clear();
        assert_null(dq_quant_calibrate_raw(scheme(names[i]), "w", w, 1, 4, 4,
                                           NULL));
        assert_int_equal(dq_error_status(), DQ_EUNSUP);
        assert_non_null(strstr(dq_error_message(), "unsigned"));

        dq_quant_opts o;
        dq_quant_opts_default(&o);
        o.sparq_shift_opt = 4;
        dq_error_clear();
        assert_null(dq_quant_calibrate_raw(scheme(names[i]), "a", a, 1, 4, 4,
                                           &o));
        assert_int_equal(dq_error_status(), DQ_EINVAL);
        assert_non_null(strstr(dq_error_message(), "shift_opt"));
        o.sparq_shift_opt = 3;
        dq_qparams *p =
            dq_quant_calibrate_raw(scheme(names[i]), "a", a, 1, 4, 4, &o);
        assert_non_null(p);
        dq_qparams_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apot_level_sets),
        cmocka_unit_test(test_apot_scheme_levels),
        cmocka_unit_test(test_apot_bad_bits),
        cmocka_unit_test(test_log2_hand),
        cmocka_unit_test(test_log2_levels_powers),
        cmocka_unit_test(test_kmeans_three_clusters),
        cmocka_unit_test(test_kmeans_fixed_point),
        cmocka_unit_test(test_mokey_dictionary),
        cmocka_unit_test(test_mokey_scheme),
        cmocka_unit_test(test_sparq_placements),
        cmocka_unit_test(test_sparq_hand_bytes),
        cmocka_unit_test(test_sparq_all_bytes),
        cmocka_unit_test(test_sparq_pairs),
        cmocka_unit_test(test_sparq_bad_input),
        cmocka_unit_test(test_invariants_log2),
        cmocka_unit_test(test_invariants_apot),
        cmocka_unit_test(test_invariants_kmeans),
        cmocka_unit_test(test_invariants_mokey),
        cmocka_unit_test(test_invariants_sparq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
