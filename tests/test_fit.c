/*
 * test_fit.c — distribution fitting (src/fit.c): parameter recovery on
 * GSL-sampled data, the right family winning the SSE criterion in seeded
 * trials, KS p-values, the log-density against GSL's pdfs, the optimisers'
 * stationarity, sampling (zero removal, reservoir, thread-count
 * independence), the nested-family rule, and bad or degenerate input.
 *
 * Every random draw is seeded, so each assertion is deterministic; the
 * thresholds are set so that they would also hold for almost any other
 * seed (margins of several standard errors, noted at each test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "error.h"
#include "fit.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The six families of the recovery and win tests, with their true
 * parameters (in fit.h's param[] order) and domain. */
typedef struct {
    dq_fit_family fam;
    dq_fit_domain domain;
    double p[DQ_FIT_MAX_PARAM];
} truth;

static const truth truths[] = {
    {DQ_FIT_NORMAL, DQ_FIT_SIGNED, {3.0, 1.0}},
    {DQ_FIT_LAPLACE, DQ_FIT_SIGNED, {2.0, 0.5}},
    {DQ_FIT_EXPONENTIAL, DQ_FIT_MAGNITUDE, {0.7}},
    {DQ_FIT_GAMMA, DQ_FIT_MAGNITUDE, {2.5, 1.5}},
    {DQ_FIT_LOGNORMAL, DQ_FIT_MAGNITUDE, {0.5, 0.8}},
    {DQ_FIT_WEIBULL, DQ_FIT_MAGNITUDE, {2.0, 1.5}},
};

static double draw(const truth *t, gsl_rng *r)
{
    const double *p = t->p;
    switch (t->fam) {
    case DQ_FIT_NORMAL: return p[0] + gsl_ran_gaussian(r, p[1]);
    case DQ_FIT_LAPLACE: return p[0] + gsl_ran_laplace(r, p[1]);
    case DQ_FIT_EXPONENTIAL: return gsl_ran_exponential(r, p[0]);
    case DQ_FIT_GAMMA: return gsl_ran_gamma(r, p[0], p[1]);
    case DQ_FIT_LOGNORMAL: return gsl_ran_lognormal(r, p[0], p[1]);
    case DQ_FIT_WEIBULL: return gsl_ran_weibull(r, p[0], p[1]);
    case DQ_FIT_STUDENT_T: return p[0] + p[1] * gsl_ran_tdist(r, p[2]);
    case DQ_FIT_LOGISTIC: return p[0] + gsl_ran_logistic(r, p[1]);
    default: return NAN;
    }
}

/* n values of t as float32 (what tensors hold), from a seeded mt19937. */
static float *sample_truth(const truth *t, int64_t n, unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    float *x = malloc((size_t)n * sizeof *x);
    assert_non_null(r);
    assert_non_null(x);
    gsl_rng_set(r, seed);
    for (int64_t i = 0; i < n; i++) x[i] = (float)draw(t, r);
    gsl_rng_free(r);
    return x;
}

static const dq_fit_result *find_fit(const dq_fit_report *rep,
                                     dq_fit_family f)
{
    for (int i = 0; i < rep->nfits; i++)
        if (rep->fit[i].family == f) return &rep->fit[i];
    fail_msg("family %s not in report", dq_fit_family_name(f));
    return NULL;
}

static dq_fit_report *analyze_ok(const float *x, int64_t n, dq_fit_domain d,
                                 const dq_fit_options *o)
{
    dq_fit_report *rep = dq_fit_analyze(x, n, d, o);
    if (!rep) fail_msg("dq_fit_analyze: %s", dq_error_message());
    return rep;
}

/* ---- parameter recovery -------------------------------------------------- */

/* n = 10^5: the standard errors of these MLEs are 0.1-0.6% of the values,
 * so 2% is a margin of more than 3 standard errors for each. */
static void test_recovery(void **state)
{
    (void)state;
    const int64_t n = 100000;
    for (size_t k = 0; k < sizeof truths / sizeof *truths; k++) {
        const truth *t = &truths[k];
        float *x = sample_truth(t, n, 4242 + k);
        dq_fit_report *rep = analyze_ok(x, n, t->domain, NULL);
        const dq_fit_result *f = find_fit(rep, t->fam);
        assert_int_equal(f->status, DQ_OK);
        assert_int_equal(rep->n_sample, n);
        for (int i = 0; i < f->nparam; i++) {
            double rel = fabs(f->param[i] / t->p[i] - 1);
            print_message("recovery %-11s %-5s true %.4f fit %.4f rel.err %.3f%%\n",
                          dq_fit_family_name(t->fam),
                          dq_fit_param_name(t->fam, i), t->p[i], f->param[i],
                          100 * rel);
            assert_true(rel < 0.02);
        }
        dq_fit_report_free(rep);
        free(x);
    }
}

/* The two simplex-fitted families, n = 10^5: loc and scale as above; the
 * Student-t df = 5 has a standard error of about 1.2%, so it gets 5%, and
 * a loc near 1 is compared with the scale. */
static void test_recovery_simplex(void **state)
{
    (void)state;
    const int64_t n = 100000;
    truth tt = {DQ_FIT_STUDENT_T, DQ_FIT_SIGNED, {1.0, 2.0, 5.0}};
    truth tl = {DQ_FIT_LOGISTIC, DQ_FIT_SIGNED, {1.0, 0.5}};
    float *x = sample_truth(&tt, n, 99);
    dq_fit_report *rep = analyze_ok(x, n, DQ_FIT_SIGNED, NULL);
    const dq_fit_result *f = find_fit(rep, DQ_FIT_STUDENT_T);
    assert_int_equal(f->status, DQ_OK);
    assert_true(f->iterations > 0);
    assert_true(fabs(f->param[0] - 1.0) < 0.02 * 2.0);
    assert_true(fabs(f->param[1] / 2.0 - 1) < 0.02);
    assert_true(fabs(f->param[2] / 5.0 - 1) < 0.05);
    assert_int_equal(rep->fit[rep->best].family, DQ_FIT_STUDENT_T);
    dq_fit_report_free(rep);
    free(x);

    x = sample_truth(&tl, n, 98);
    rep = analyze_ok(x, n, DQ_FIT_SIGNED, NULL);
    f = find_fit(rep, DQ_FIT_LOGISTIC);
    assert_int_equal(f->status, DQ_OK);
    assert_true(fabs(f->param[0] - 1.0) < 0.02);
    assert_true(fabs(f->param[1] / 0.5 - 1) < 0.02);
    assert_int_equal(rep->fit[rep->best].family, DQ_FIT_LOGISTIC);
    dq_fit_report_free(rep);
    free(x);
}

/* ---- the right family wins ----------------------------------------------- */

/* 100 seeded trials of n = 20,000 per family; the true family must win the
 * SSE criterion in at least 95.  (Measured: 100 of 100 for each.) */
static void wins_for(const truth *t)
{
    const int64_t n = 20000;
    int wins = 0;
    char losers[512] = "";
    for (int trial = 0; trial < 100; trial++) {
        float *x = sample_truth(t, n, 1000u * (unsigned)t->fam + trial + 1);
        dq_fit_report *rep = analyze_ok(x, n, t->domain, NULL);
        assert_true(rep->best >= 0);
        dq_fit_family won = rep->fit[rep->best].family;
        if (won == t->fam) {
            wins++;
        } else if (strlen(losers) < 400) {
            strcat(losers, " ");
            strcat(losers, dq_fit_family_name(won));
        }
        dq_fit_report_free(rep);
        free(x);
    }
    print_message("wins %-11s %d/100 (sse)%s%s\n", dq_fit_family_name(t->fam),
                  wins, *losers ? "; lost to:" : "", losers);
    assert_true(wins >= 95);
}

static void test_wins_normal(void **s) { (void)s; wins_for(&truths[0]); }
static void test_wins_laplace(void **s) { (void)s; wins_for(&truths[1]); }
static void test_wins_exponential(void **s) { (void)s; wins_for(&truths[2]); }
static void test_wins_gamma(void **s) { (void)s; wins_for(&truths[3]); }
static void test_wins_lognormal(void **s) { (void)s; wins_for(&truths[4]); }
static void test_wins_weibull(void **s) { (void)s; wins_for(&truths[5]); }

/* ---- goodness of fit ------------------------------------------------------ */

/* Q_KS(lambda) = 2 sum (-1)^(k-1) exp(-2 k^2 lambda^2), reference values
 * from the series to 200 terms; the p-value uses lambda = (sqrt(n) + 0.12
 * + 0.11/sqrt(n)) d. */
static void test_ks_pvalue_reference(void **state)
{
    (void)state;
    const double lam[] = {0.5, 0.9, 1.0, 1.3, 1.7};
    const double q[] = {0.9639452436648751, 0.39273070794065434,
                        0.26999967167735456, 0.06809222184476636,
                        0.0061774306344441286};
    const int64_t n = 10000;
    double f = sqrt((double)n) + 0.12 + 0.11 / sqrt((double)n);
    for (int i = 0; i < 5; i++)
        assert_true(fabs(dq_fit_ks_pvalue(lam[i] / f, n) - q[i]) < 1e-9);
    assert_true(dq_fit_ks_pvalue(0, n) == 1.0);
    assert_true(dq_fit_ks_pvalue(1.0, n) == 0.0);
}

/* KS on the 10,000-value subsample: the true family's p-value is above
 * 0.001 (it is roughly uniform on (0,1), and conservative because the
 * parameters were fitted), a clearly wrong family's is below 1e-10. */
static void test_ks_true_and_wrong(void **state)
{
    (void)state;
    const int64_t n = 100000;
    float *x = sample_truth(&truths[2], n, 7); /* exponential */
    dq_fit_report *rep = analyze_ok(x, n, DQ_FIT_MAGNITUDE, NULL);
    assert_int_equal(rep->n_ks, 10000);
    const dq_fit_result *good = find_fit(rep, DQ_FIT_EXPONENTIAL);
    const dq_fit_result *bad = find_fit(rep, DQ_FIT_HALFNORMAL);
    print_message("KS exponential data: exponential p=%.3g, halfnormal p=%.3g\n",
                  good->ks_p, bad->ks_p);
    assert_true(good->ks_p > 1e-3);
    assert_true(bad->ks_p < 1e-10);
    assert_true(find_fit(rep, DQ_FIT_UNIFORM)->ks_p < 1e-10);
    dq_fit_report_free(rep);

    /* signed analysis of the same data: the normal is clearly wrong */
    rep = analyze_ok(x, n, DQ_FIT_SIGNED, NULL);
    assert_true(find_fit(rep, DQ_FIT_NORMAL)->ks_p < 1e-10);
    dq_fit_report_free(rep);
    free(x);

    float *y = sample_truth(&truths[0], n, 8); /* normal */
    rep = analyze_ok(y, n, DQ_FIT_SIGNED, NULL);
    assert_true(find_fit(rep, DQ_FIT_NORMAL)->ks_p > 1e-3);
    assert_true(find_fit(rep, DQ_FIT_UNIFORM)->ks_p < 1e-10);
    assert_true(find_fit(rep, DQ_FIT_LAPLACE)->ks_p < 1e-10);
    dq_fit_report_free(rep);
    free(y);
}

/* AIC, BIC and the SSE of a report follow their definitions: recompute
 * them from the public pdf and the histogram. */
static void test_gof_definitions(void **state)
{
    (void)state;
    const int64_t n = 5000;
    float *x = sample_truth(&truths[3], n, 11); /* gamma */
    dq_fit_report *rep = analyze_ok(x, n, DQ_FIT_MAGNITUDE, NULL);
    assert_int_equal(rep->bins, 200);
    double mass = 0, w = (rep->max - rep->min) / rep->bins;
    for (int i = 0; i < rep->bins; i++) mass += rep->density[i] * w;
    assert_true(fabs(mass - 1) < 1e-12);
    for (int i = 0; i < rep->nfits; i++) {
        const dq_fit_result *f = &rep->fit[i];
        assert_int_equal(f->status, DQ_OK);
        double ll = 0, sse = 0;
        for (int64_t j = 0; j < n; j++) ll += log(dq_fit_pdf(f, fabs(x[j])));
        for (int b = 0; b < rep->bins; b++) {
            double e = rep->density[b] - dq_fit_pdf(f, dq_fit_report_bin_center(rep, b));
            sse += e * e;
        }
        assert_true(fabs(f->loglik - ll) < 1e-9 * fabs(ll));
        assert_true(fabs(f->aic - (2 * f->nparam - 2 * f->loglik)) < 1e-9 * fabs(f->aic));
        assert_true(fabs(f->bic - (f->nparam * log((double)n) - 2 * f->loglik)) <
                    1e-9 * fabs(f->bic));
        assert_true(fabs(f->sse - sse) <= 1e-12 * sse);
        assert_true(f->ks_stat > 0 && f->ks_stat <= 1);
    }
    /* every criterion picks the gamma on this clear case */
    for (int c = DQ_FIT_CRIT_SSE; c <= DQ_FIT_CRIT_BIC; c++) {
        dq_fit_options o;
        dq_fit_options_default(&o);
        o.criterion = (dq_fit_criterion)c;
        dq_fit_report *r2 = analyze_ok(x, n, DQ_FIT_MAGNITUDE, &o);
        assert_int_equal(r2->fit[r2->best].family, DQ_FIT_GAMMA);
        dq_fit_report_free(r2);
    }
    dq_fit_report_free(rep);
    free(x);
}

/* ---- fitted distributions -------------------------------------------- */

/* The likelihood's log-density equals log of GSL's pdf, and the cdf is the
 * integral of the pdf (trapezoid check on a fine grid). */
static void test_logpdf_matches_gsl(void **state)
{
    (void)state;
    const dq_fit_result fits[] = {
        {.family = DQ_FIT_NORMAL, .param = {0.3, 1.7}},
        {.family = DQ_FIT_LAPLACE, .param = {-0.2, 0.4}},
        {.family = DQ_FIT_UNIFORM, .param = {0.1, 2.5}},
        {.family = DQ_FIT_STUDENT_T, .param = {0.5, 0.8, 3.5}},
        {.family = DQ_FIT_STUDENT_T, .param = {0.5, 0.8, 1e3}},
        {.family = DQ_FIT_LOGISTIC, .param = {1.0, 0.3}},
        {.family = DQ_FIT_EXPONENTIAL, .param = {0.7}},
        {.family = DQ_FIT_HALFNORMAL, .param = {1.3}},
        {.family = DQ_FIT_GAMMA, .param = {0.6, 2.0}},
        {.family = DQ_FIT_LOGNORMAL, .param = {-0.5, 0.9}},
        {.family = DQ_FIT_WEIBULL, .param = {1.2, 0.8}},
    };
    for (size_t k = 0; k < sizeof fits / sizeof *fits; k++) {
        const dq_fit_result *f = &fits[k];
        for (double x = 0.05; x < 3; x += 0.05) {
            double lp = dq_fit_logpdf(f, x), ref = log(dq_fit_pdf(f, x));
            if (isinf(ref)) /* outside the uniform's support */
                assert_true(lp == ref);
            else
                assert_true(fabs(lp - ref) < 1e-10 * (1 + fabs(ref)));
        }
        /* cdf(b) - cdf(a) = integral of the pdf over [a, b] */
        double a = 0.2, b = 2.0, h = 1e-4, integral = 0;
        for (double x = a; x < b - h / 2; x += h)
            integral += 0.5 * h * (dq_fit_pdf(f, x) + dq_fit_pdf(f, x + h));
        assert_true(fabs(dq_fit_cdf(f, b) - dq_fit_cdf(f, a) - integral) < 1e-7);
    }
    /* df = inf is the normal */
    dq_fit_result t = {.family = DQ_FIT_STUDENT_T, .param = {0.5, 0.8, INFINITY}};
    dq_fit_result z = {.family = DQ_FIT_NORMAL, .param = {0.5, 0.8}};
    assert_true(dq_fit_pdf(&t, 1.1) == dq_fit_pdf(&z, 1.1));
    assert_true(dq_fit_cdf(&t, 1.1) == dq_fit_cdf(&z, 1.1));
    assert_true(fabs(dq_fit_logpdf(&t, 1.1) - dq_fit_logpdf(&z, 1.1)) < 1e-15);
}

/* Mean log-likelihood of data x under f with parameter i shifted by h. */
static double mean_ll(dq_fit_result f, int i, double h, const float *x,
                      int64_t n, int magnitude)
{
    f.param[i] += h;
    double s = 0;
    for (int64_t j = 0; j < n; j++)
        s += dq_fit_logpdf(&f, magnitude ? fabs(x[j]) : x[j]);
    return s / (double)n;
}

/* The iterative fits stop at a stationary point of the likelihood: every
 * central-difference partial derivative of the mean log-likelihood (per
 * relative change of the parameter) is below 1e-6. */
static void test_iterative_fits_stationary(void **state)
{
    (void)state;
    const int64_t n = 20000;
    const struct {
        truth t;
        dq_fit_family fam;
    } cases[] = {
        {{DQ_FIT_STUDENT_T, DQ_FIT_SIGNED, {1.0, 2.0, 5.0}}, DQ_FIT_STUDENT_T},
        {{DQ_FIT_LOGISTIC, DQ_FIT_SIGNED, {1.0, 0.5}}, DQ_FIT_LOGISTIC},
        {truths[3], DQ_FIT_GAMMA},
        {truths[5], DQ_FIT_WEIBULL},
        {truths[3], DQ_FIT_WEIBULL}, /* misspecified: still the MLE */
        {truths[5], DQ_FIT_GAMMA},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        float *x = sample_truth(&cases[k].t, n, 500 + k);
        dq_fit_report *rep = analyze_ok(x, n, cases[k].t.domain, NULL);
        const dq_fit_result *f = find_fit(rep, cases[k].fam);
        int mag = cases[k].t.domain == DQ_FIT_MAGNITUDE;
        assert_int_equal(f->status, DQ_OK);
        for (int i = 0; i < f->nparam; i++) {
            double h = 1e-5 * fabs(f->param[i]);
            double g = (mean_ll(*f, i, h, x, n, mag) - mean_ll(*f, i, -h, x, n, mag)) /
                       (2 * h) * fabs(f->param[i]);
            if (fabs(g) >= 1e-6)
                fail_msg("%s param %d: gradient %g", dq_fit_family_name(f->family), i, g);
        }
        /* and the closed forms of the same report too: normal, exponential */
        dq_fit_report_free(rep);
        free(x);
    }
}

/* ---- sampling ------------------------------------------------------------ */

/* Magnitude analysis drops exact zeros (both signs) and counts them. */
static void test_zero_fraction(void **state)
{
    (void)state;
    const int64_t n = 40000;
    float *x = sample_truth(&truths[1], n, 3); /* laplace, both signs */
    for (int64_t i = 0; i < n; i += 4) x[i] = (i % 8) ? -0.0f : 0.0f;
    dq_fit_report *rep = analyze_ok(x, n, DQ_FIT_MAGNITUDE, NULL);
    assert_int_equal(rep->n_input, n);
    assert_int_equal(rep->n_zero, n / 4);
    assert_true(rep->zero_frac == 0.25);
    assert_int_equal(rep->n_population, n - n / 4);
    assert_int_equal(rep->n_sample, n - n / 4);
    assert_true(rep->min > 0);
    assert_int_equal(rep->nfits, 6);
    dq_fit_report_free(rep);

    rep = analyze_ok(x, n, DQ_FIT_SIGNED, NULL); /* zeros stay */
    assert_int_equal(rep->n_zero, n / 4);
    assert_int_equal(rep->n_sample, n);
    assert_true(rep->min < 0 && rep->max > 0);
    dq_fit_report_free(rep);
    free(x);
}

/* Above max_sample the working sample is a reservoir sample of the cap's
 * size that covers the whole population (here 1..300000, uniform); a
 * different seed gives a different sample. */
static void test_reservoir(void **state)
{
    (void)state;
    const int64_t n = 300000;
    float *x = malloc((size_t)n * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(i + 1); /* exact in float */
    dq_fit_options o;
    dq_fit_options_default(&o);
    o.max_sample = 65536;
    dq_fit_report *a = analyze_ok(x, n, DQ_FIT_MAGNITUDE, &o);
    assert_int_equal(a->n_sample, 65536);
    assert_int_equal(a->n_population, n);
    /* the uniform fit of a uniform sample spans nearly the population */
    const dq_fit_result *u = find_fit(a, DQ_FIT_UNIFORM);
    assert_true(u->param[0] >= 1 && u->param[0] < 100);
    assert_true(u->param[1] <= n && u->param[1] > n - 100);
    assert_int_equal(a->fit[a->best].family, DQ_FIT_UNIFORM);
    o.seed = 2;
    dq_fit_report *b = analyze_ok(x, n, DQ_FIT_MAGNITUDE, &o);
    assert_true(memcmp(a->density, b->density, 200 * sizeof(double)) != 0);
    dq_fit_report_free(a);
    dq_fit_report_free(b);
    free(x);
}

/* Same seed, 1 or 2 threads: bitwise identical reports. */
static void test_thread_independence(void **state)
{
    (void)state;
    const int64_t n = 150000;
    truth t = {DQ_FIT_STUDENT_T, DQ_FIT_SIGNED, {0.0, 0.01, 4.0}};
    float *x = sample_truth(&t, n, 21);
    dq_fit_options o;
    dq_fit_options_default(&o);
    o.max_sample = 100000;
    dq_fit_report *r[2][2];
    int saved = omp_get_max_threads();
    for (int th = 0; th < 2; th++) {
        omp_set_num_threads(th + 1);
        r[th][0] = analyze_ok(x, n, DQ_FIT_SIGNED, &o);
        r[th][1] = analyze_ok(x, n, DQ_FIT_MAGNITUDE, &o);
    }
    omp_set_num_threads(saved);
    for (int d = 0; d < 2; d++) {
        const dq_fit_report *a = r[0][d], *b = r[1][d];
        assert_int_equal(a->nfits, b->nfits);
        assert_int_equal(a->best, b->best);
        assert_memory_equal(a->fit, b->fit, sizeof a->fit);
        assert_memory_equal(a->density, b->density, (size_t)a->bins * sizeof(double));
        dq_fit_report_free(r[0][d]);
        dq_fit_report_free(r[1][d]);
    }
    free(x);
}

/* ---- the nested-family rule ------------------------------------------- */

/* Exponential data: gamma and weibull fit at least as well by likelihood
 * but their shape is not significant, so they are not eligible (the LR
 * statistic is chi-square(1) here; P(> 10.83) = 0.001).  Without the rule
 * (nested_alpha = 0) all fits are eligible. */
static void test_nested_rule(void **state)
{
    (void)state;
    const int64_t n = 20000;
    float *x = sample_truth(&truths[2], n, 31);
    dq_fit_report *rep = analyze_ok(x, n, DQ_FIT_MAGNITUDE, NULL);
    assert_false(find_fit(rep, DQ_FIT_GAMMA)->eligible);
    assert_false(find_fit(rep, DQ_FIT_WEIBULL)->eligible);
    assert_true(find_fit(rep, DQ_FIT_EXPONENTIAL)->eligible);
    assert_true(find_fit(rep, DQ_FIT_GAMMA)->loglik >=
                find_fit(rep, DQ_FIT_EXPONENTIAL)->loglik);
    assert_int_equal(rep->fit[rep->best].family, DQ_FIT_EXPONENTIAL);
    dq_fit_report_free(rep);

    dq_fit_options o;
    dq_fit_options_default(&o);
    o.nested_alpha = 0;
    rep = analyze_ok(x, n, DQ_FIT_MAGNITUDE, &o);
    for (int i = 0; i < rep->nfits; i++) assert_true(rep->fit[i].eligible);
    dq_fit_report_free(rep);
    free(x);

    /* gamma data with shape 2.5: the gamma's shape is highly significant */
    x = sample_truth(&truths[3], n, 32);
    rep = analyze_ok(x, n, DQ_FIT_MAGNITUDE, NULL);
    assert_true(find_fit(rep, DQ_FIT_GAMMA)->eligible);
    dq_fit_report_free(rep);
    free(x);
}

/* ---- bad and degenerate input ---------------------------------------- */

static void expect_einval(const float *x, int64_t n, const char *word)
{
    dq_error_clear();
    for (int d = 0; d < 2; d++) {
        assert_null(dq_fit_analyze(x, n, (dq_fit_domain)d, NULL));
        assert_int_equal(dq_error_status(), DQ_EINVAL);
        assert_non_null(strstr(dq_error_message(), word));
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    float x[6] = {1, 2, 3, 4, 5, 6};
    x[3] = NAN;
    expect_einval(x, 6, "value 3 is NaN");
    x[3] = INFINITY;
    expect_einval(x, 6, "value 3 is infinite");
    x[3] = -INFINITY;
    expect_einval(x, 6, "infinite");
    expect_einval(x, 0, "empty");
    expect_einval(NULL, 6, "no input");

    float y[3] = {1, 2, 3};
    dq_fit_options o;
    dq_fit_options_default(&o);
    o.bins = 0;
    assert_null(dq_fit_analyze(y, 3, DQ_FIT_SIGNED, &o));
    assert_int_equal(dq_error_status(), DQ_EINVAL);
    dq_fit_options_default(&o);
    o.nested_alpha = 2;
    assert_null(dq_fit_analyze(y, 3, DQ_FIT_SIGNED, &o));
    assert_null(dq_fit_analyze(y, 3, (dq_fit_domain)7, NULL));
}

/* All-zero: magnitude has an empty population, zero_frac 1 and no fits;
 * signed (and any constant tensor) has no fits either.  A single nonzero
 * value is still degenerate. */
static void test_degenerate(void **state)
{
    (void)state;
    float z[1000] = {0};
    dq_fit_report *rep = analyze_ok(z, 1000, DQ_FIT_MAGNITUDE, NULL);
    assert_int_equal(rep->n_zero, 1000);
    assert_true(rep->zero_frac == 1.0);
    assert_int_equal(rep->n_population, 0);
    assert_int_equal(rep->n_sample, 0);
    assert_int_equal(rep->nfits, 0);
    assert_int_equal(rep->best, -1);
    assert_int_equal(rep->bins, 0);
    assert_null(rep->density);
    dq_fit_report_free(rep);

    rep = analyze_ok(z, 1000, DQ_FIT_SIGNED, NULL);
    assert_int_equal(rep->n_sample, 1000);
    assert_int_equal(rep->nfits, 0);
    assert_int_equal(rep->best, -1);
    dq_fit_report_free(rep);

    z[500] = -2.5f; /* one nonzero magnitude */
    rep = analyze_ok(z, 1000, DQ_FIT_MAGNITUDE, NULL);
    assert_int_equal(rep->n_sample, 1);
    assert_true(rep->min == 2.5 && rep->max == 2.5);
    assert_int_equal(rep->nfits, 0);
    dq_fit_report_free(rep);

    float c[100];
    for (int i = 0; i < 100; i++) c[i] = 0.125f;
    rep = analyze_ok(c, 100, DQ_FIT_SIGNED, NULL);
    assert_int_equal(rep->nfits, 0);
    assert_int_equal(rep->best, -1);
    dq_fit_report_free(rep);

    /* two distinct values: fits run, none crashes, a best is chosen */
    float two[4] = {1, 2, 1, 2};
    rep = analyze_ok(two, 4, DQ_FIT_MAGNITUDE, NULL);
    assert_int_equal(rep->nfits, 6);
    assert_true(rep->best >= 0);
    dq_fit_report_free(rep);
    rep = analyze_ok(two, 4, DQ_FIT_SIGNED, NULL);
    assert_int_equal(rep->nfits, 5);
    dq_fit_report_free(rep);
}

/* A point mass (60% exact zeros, the rest normal) makes the Student-t
 * likelihood unbounded: that fit fails with a message and does not win;
 * the other fits and the analysis succeed. */
static void test_point_mass(void **state)
{
    (void)state;
    const int64_t n = 50000;
    truth t = {DQ_FIT_NORMAL, DQ_FIT_SIGNED, {0.0, 1.0}};
    float *x = sample_truth(&t, n, 41);
    for (int64_t i = 0; i < n; i++)
        if (i % 5 < 3) x[i] = 0;
    dq_fit_report *rep = analyze_ok(x, n, DQ_FIT_SIGNED, NULL);
    const dq_fit_result *f = find_fit(rep, DQ_FIT_STUDENT_T);
    assert_int_equal(f->status, DQ_EINVAL);
    assert_non_null(strstr(f->message, "no maximum"));
    assert_true(isnan(f->sse) && isnan(f->loglik));
    assert_true(rep->best >= 0);
    assert_int_not_equal(rep->fit[rep->best].family, DQ_FIT_STUDENT_T);
    assert_int_equal(find_fit(rep, DQ_FIT_NORMAL)->status, DQ_OK);
    assert_string_equal(find_fit(rep, DQ_FIT_NORMAL)->message, "");
    dq_fit_report_free(rep);
    free(x);
}

/* ---- names and config ------------------------------------------------- */

static void test_names_and_config(void **state)
{
    (void)state;
    const dq_fit_family *fams;
    assert_int_equal(dq_fit_domain_families(DQ_FIT_SIGNED, &fams), 5);
    assert_int_equal(fams[3], DQ_FIT_STUDENT_T);
    assert_int_equal(dq_fit_domain_families(DQ_FIT_MAGNITUDE, &fams), 6);
    assert_string_equal(dq_fit_family_name(DQ_FIT_WEIBULL), "weibull");
    assert_string_equal(dq_fit_param_name(DQ_FIT_STUDENT_T, 2), "df");
    assert_string_equal(dq_fit_param_name(DQ_FIT_EXPONENTIAL, 1), "");
    assert_int_equal(dq_fit_family_nparam(DQ_FIT_STUDENT_T), 3);

    const dq_cfg_key *tables[] = {dq_fit_keys, NULL};
    dq_config *c = dq_config_alloc(tables);
    assert_non_null(c);
    dq_fit_options o;
    assert_int_equal(dq_fit_options_from_config(&o, c), DQ_OK);
    dq_fit_options d; /* the table's defaults are the C defaults */
    dq_fit_options_default(&d);
    assert_int_equal(o.criterion, d.criterion);
    assert_int_equal(o.max_sample, d.max_sample);
    assert_int_equal(o.ks_sample, d.ks_sample);
    assert_int_equal(o.bins, d.bins);
    assert_int_equal(o.seed, d.seed);
    assert_true(o.nested_alpha == d.nested_alpha);
    assert_int_equal(o.max_iter, d.max_iter);
    assert_int_equal(dq_config_set(c, "fit", "criterion", "bic", "test"), DQ_OK);
    assert_int_equal(dq_config_set(c, "fit", "bins", "50", "test"), DQ_OK);
    assert_int_equal(dq_fit_options_from_config(&o, c), DQ_OK);
    assert_int_equal(o.criterion, DQ_FIT_CRIT_BIC);
    assert_int_equal(o.bins, 50);
    assert_int_equal(dq_config_set(c, "fit", "criterion", "chi2", "test"), DQ_OK);
    assert_int_equal(dq_fit_options_from_config(&o, c), DQ_ECONFIG);
    assert_non_null(strstr(dq_error_message(), "chi2"));
    dq_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recovery),
        cmocka_unit_test(test_recovery_simplex),
        cmocka_unit_test(test_wins_normal),
        cmocka_unit_test(test_wins_laplace),
        cmocka_unit_test(test_wins_exponential),
        cmocka_unit_test(test_wins_gamma),
        cmocka_unit_test(test_wins_lognormal),
        cmocka_unit_test(test_wins_weibull),
        cmocka_unit_test(test_ks_pvalue_reference),
        cmocka_unit_test(test_ks_true_and_wrong),
        cmocka_unit_test(test_gof_definitions),
        cmocka_unit_test(test_logpdf_matches_gsl),
        cmocka_unit_test(test_iterative_fits_stationary),
        cmocka_unit_test(test_zero_fraction),
        cmocka_unit_test(test_reservoir),
        cmocka_unit_test(test_thread_independence),
        cmocka_unit_test(test_nested_rule),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_point_mass),
        cmocka_unit_test(test_names_and_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
