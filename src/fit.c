/*
 * fit.c — distribution fitting and goodness of fit for tensor values.
 *
 * Sits between the tensor dumps (h5io/engine) and the quantizers: the
 * distfit experiment asks it which family describes each weight and
 * activation tensor best.  The flow of dq_fit_analyze():
 *
 *   population (x, or nonzero |x|)  --reservoir-->  working sample (sorted)
 *     --MLE per family-->  params  --score-->  loglik/AIC/BIC, KS, SSE
 *     --criterion + nested-family rule-->  best
 *
 * Above max_sample values the working sample comes from reservoir.c, the
 * sampler the tensor dumps use.  Every sum over the working sample goes
 * through chunked_sum(): fixed
 * chunks summed in parallel, partial sums added in chunk order, so the
 * result does not depend on the OpenMP thread count.  The contract and the
 * parameterisations are in fit.h.
 */
#include "fit.h"

#include "error.h"
#include "reservoir.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_histogram.h>
#include <gsl/gsl_math.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_roots.h>
#include <gsl/gsl_sf_gamma.h>
#include <gsl/gsl_sf_psi.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 4096      /* values per chunk of a deterministic parallel sum */
#define PAR_MIN_CHUNKS 16 /* smaller sums run on one thread */
#define T_DF_MIN 0.05   /* smallest student_t df */
#define SCALE_RANGE 1e6 /* simplex scales stay within sd / 1e6 .. sd * 1e6 */
#define NM_TOL 1e-6     /* simplex size in the scaled coordinates */
#define LOG_2PI 1.83787706640934548356

/* ---- family table ---------------------------------------------------- */

static const struct {
    const char *name;
    int nparam;
    const char *pname[DQ_FIT_MAX_PARAM];
} family_info[DQ_FIT_NFAMILIES] = {
    [DQ_FIT_NORMAL] = {"normal", 2, {"loc", "scale"}},
    [DQ_FIT_LAPLACE] = {"laplace", 2, {"loc", "scale"}},
    [DQ_FIT_UNIFORM] = {"uniform", 2, {"lower", "upper"}},
    [DQ_FIT_STUDENT_T] = {"student_t", 3, {"loc", "scale", "df"}},
    [DQ_FIT_LOGISTIC] = {"logistic", 2, {"loc", "scale"}},
    [DQ_FIT_EXPONENTIAL] = {"exponential", 1, {"scale"}},
    [DQ_FIT_HALFNORMAL] = {"halfnormal", 1, {"scale"}},
    [DQ_FIT_GAMMA] = {"gamma", 2, {"shape", "scale"}},
    [DQ_FIT_LOGNORMAL] = {"lognormal", 2, {"mu", "sigma"}},
    [DQ_FIT_WEIBULL] = {"weibull", 2, {"scale", "shape"}},
};

static const dq_fit_family signed_families[] = {
    DQ_FIT_NORMAL, DQ_FIT_LAPLACE, DQ_FIT_UNIFORM, DQ_FIT_STUDENT_T,
    DQ_FIT_LOGISTIC};
static const dq_fit_family magnitude_families[] = {
    DQ_FIT_EXPONENTIAL, DQ_FIT_HALFNORMAL, DQ_FIT_UNIFORM,
    DQ_FIT_GAMMA,       DQ_FIT_LOGNORMAL,  DQ_FIT_WEIBULL};

int dq_fit_domain_families(dq_fit_domain d, const dq_fit_family **list)
{
    if (d == DQ_FIT_SIGNED) {
        *list = signed_families;
        return (int)(sizeof signed_families / sizeof *signed_families);
    }
    *list = magnitude_families;
    return (int)(sizeof magnitude_families / sizeof *magnitude_families);
}

const char *dq_fit_family_name(dq_fit_family f)
{
    return (unsigned)f < DQ_FIT_NFAMILIES ? family_info[f].name : "?";
}

int dq_fit_family_nparam(dq_fit_family f)
{
    return (unsigned)f < DQ_FIT_NFAMILIES ? family_info[f].nparam : 0;
}

const char *dq_fit_param_name(dq_fit_family f, int i)
{
    if ((unsigned)f >= DQ_FIT_NFAMILIES || i < 0 || i >= family_info[f].nparam)
        return "";
    return family_info[f].pname[i];
}

const char *dq_fit_domain_name(dq_fit_domain d)
{
    return d == DQ_FIT_SIGNED ? "signed" : "magnitude";
}

static const char *const criterion_names[] = {"sse", "ks", "aic", "bic"};

const char *dq_fit_criterion_name(dq_fit_criterion c)
{
    return (unsigned)c < 4 ? criterion_names[c] : "?";
}

int dq_fit_criterion_parse(const char *s, dq_fit_criterion *c)
{
    for (int i = 0; i < 4; i++)
        if (s && strcmp(s, criterion_names[i]) == 0) {
            *c = (dq_fit_criterion)i;
            return DQ_OK;
        }
    return DQ_ERROR(DQ_EINVAL, "unknown fit criterion '%s' (sse, ks, aic, bic)",
                    s ? s : "(null)");
}

/* ---- options --------------------------------------------------------- */

const dq_cfg_key dq_fit_keys[] = {
    {"fit", "criterion", DQ_CFG_STR, "sse", 1, 0,
     "best-fit criterion: sse (histogram vs pdf, fitter-style), ks, aic or bic"},
    {"fit", "max_sample", DQ_CFG_INT, "1048576", 2, 1073741824.0,
     "fit on a seeded reservoir subsample of at most this many values"},
    {"fit", "ks_sample", DQ_CFG_INT, "10000", 2, 1073741824.0,
     "KS test on a seeded subsample of at most this many values"},
    {"fit", "bins", DQ_CFG_INT, "200", 1, 1000000,
     "bins of the density histogram behind the SSE criterion"},
    {"fit", "seed", DQ_CFG_INT, "1", 0, 4294967295.0,
     "seed of the reservoir and KS subsamples (GSL mt19937)"},
    {"fit", "nested_alpha", DQ_CFG_DOUBLE, "0.001", 0, 1,
     "sse/ks: a family nesting another wins only if a likelihood-ratio test "
     "at this level rejects the nested one (0: no such rule)"},
    {"fit", "max_iter", DQ_CFG_INT, "5000", 10, 1000000,
     "iteration cap of each iterative fit (simplex, Newton, Brent)"},
    {NULL, NULL, DQ_CFG_STR, NULL, 0, 0, NULL},
};

void dq_fit_options_default(dq_fit_options *o)
{
    o->criterion = DQ_FIT_CRIT_SSE;
    o->max_sample = (int64_t)1 << 20;
    o->ks_sample = 10000;
    o->bins = 200;
    o->seed = 1;
    o->nested_alpha = 0.001;
    o->max_iter = 5000;
}

int dq_fit_options_from_config(dq_fit_options *o, const dq_config *c)
{
    dq_fit_options_default(o);
    const char *crit = dq_config_str(c, "fit", "criterion");
    if (dq_fit_criterion_parse(crit, &o->criterion) != DQ_OK)
        return DQ_ERROR(DQ_ECONFIG, "[fit] criterion '%s': expected sse, ks, "
                                    "aic or bic", crit);
    o->max_sample = dq_config_int(c, "fit", "max_sample");
    o->ks_sample = dq_config_int(c, "fit", "ks_sample");
    o->bins = (int)dq_config_int(c, "fit", "bins");
    o->seed = (uint64_t)dq_config_int(c, "fit", "seed");
    o->nested_alpha = dq_config_double(c, "fit", "nested_alpha");
    o->max_iter = (int)dq_config_int(c, "fit", "max_iter");
    return DQ_OK;
}

static int options_check(const dq_fit_options *o)
{
    if (o->max_sample < 2 || o->ks_sample < 2 || o->bins < 1 ||
        o->max_iter < 1 || !(o->nested_alpha >= 0 && o->nested_alpha <= 1) ||
        (unsigned)o->criterion > DQ_FIT_CRIT_BIC)
        return DQ_ERROR(DQ_EINVAL, "fit options out of range (max_sample %lld, "
                        "ks_sample %lld, bins %d, max_iter %d, nested_alpha %g)",
                        (long long)o->max_sample, (long long)o->ks_sample,
                        o->bins, o->max_iter, o->nested_alpha);
    return DQ_OK;
}

/* ---- log-densities ------------------------------------------------------ */

/* A fitted family with the per-call constants of its log-density hoisted:
 * c is the log normaliser, inv the inverse scale. */
typedef struct {
    dq_fit_family fam;
    const double *p;
    double c, inv;
} logdens;

static logdens logdens_make(dq_fit_family fam, const double *p)
{
    logdens d = {fam, p, 0, 0};
    switch (fam) {
    case DQ_FIT_NORMAL: d.c = -log(p[1]) - 0.5 * LOG_2PI; d.inv = 1 / p[1]; break;
    case DQ_FIT_LAPLACE: d.c = -log(2 * p[1]); d.inv = 1 / p[1]; break;
    case DQ_FIT_UNIFORM: d.c = -log(p[1] - p[0]); break;
    case DQ_FIT_STUDENT_T:
        /* lnpoch(nu/2, 1/2) = lgamma((nu+1)/2) - lgamma(nu/2), accurate
         * for large nu; nu = inf is the normal limit */
        d.c = isinf(p[2]) ? -0.5 * LOG_2PI - log(p[1])
                          : gsl_sf_lnpoch(0.5 * p[2], 0.5) -
                                0.5 * log(p[2] * M_PI) - log(p[1]);
        d.inv = 1 / p[1];
        break;
    case DQ_FIT_LOGISTIC: d.c = -log(p[1]); d.inv = 1 / p[1]; break;
    case DQ_FIT_EXPONENTIAL: d.c = -log(p[0]); d.inv = 1 / p[0]; break;
    case DQ_FIT_HALFNORMAL:
        d.c = M_LN2 - log(p[0]) - 0.5 * LOG_2PI;
        d.inv = 1 / p[0];
        break;
    case DQ_FIT_GAMMA:
        d.c = -gsl_sf_lngamma(p[0]) - p[0] * log(p[1]);
        d.inv = 1 / p[1];
        break;
    case DQ_FIT_LOGNORMAL: d.c = -log(p[1]) - 0.5 * LOG_2PI; d.inv = 1 / p[1]; break;
    case DQ_FIT_WEIBULL: d.c = log(p[1]) - log(p[0]); d.inv = 1 / p[0]; break;
    default: break;
    }
    return d;
}

static double logdens_eval(const logdens *d, double x)
{
    const double *p = d->p;
    double z;
    switch (d->fam) {
    case DQ_FIT_NORMAL: z = (x - p[0]) * d->inv; return d->c - 0.5 * z * z;
    case DQ_FIT_LAPLACE: return d->c - fabs(x - p[0]) * d->inv;
    case DQ_FIT_UNIFORM: return x >= p[0] && x <= p[1] ? d->c : -INFINITY;
    case DQ_FIT_STUDENT_T:
        z = (x - p[0]) * d->inv;
        if (isinf(p[2])) return d->c - 0.5 * z * z;
        /* log, not log1p: the absolute error is what a sum sees, and log
         * is twice as fast (see sum_logdens) */
        return d->c - 0.5 * (p[2] + 1) * log(1 + z * z / p[2]);
    case DQ_FIT_LOGISTIC:
        /* symmetric form: no overflow of exp for any z */
        z = fabs(x - p[0]) * d->inv;
        return d->c - z - 2 * log(1 + exp(-z));
    case DQ_FIT_EXPONENTIAL: return x >= 0 ? d->c - x * d->inv : -INFINITY;
    case DQ_FIT_HALFNORMAL:
        z = x * d->inv;
        return x >= 0 ? d->c - 0.5 * z * z : -INFINITY;
    case DQ_FIT_GAMMA:
        if (x <= 0) return log(gsl_ran_gamma_pdf(x, p[0], p[1]));
        return d->c + (p[0] - 1) * log(x) - x * d->inv;
    case DQ_FIT_LOGNORMAL:
        if (x <= 0) return -INFINITY;
        z = (log(x) - p[0]) * d->inv;
        return d->c - log(x) - 0.5 * z * z;
    case DQ_FIT_WEIBULL:
        if (x <= 0) return log(gsl_ran_weibull_pdf(x, p[0], p[1]));
        z = x * d->inv;
        return d->c + (p[1] - 1) * log(z) - pow(z, p[1]);
    default: return NAN;
    }
}

double dq_fit_logpdf(const dq_fit_result *f, double x)
{
    logdens d = logdens_make(f->family, f->param);
    return logdens_eval(&d, x);
}

double dq_fit_pdf(const dq_fit_result *f, double x)
{
    const double *p = f->param;
    switch (f->family) {
    case DQ_FIT_NORMAL: return gsl_ran_gaussian_pdf(x - p[0], p[1]);
    case DQ_FIT_LAPLACE: return gsl_ran_laplace_pdf(x - p[0], p[1]);
    case DQ_FIT_UNIFORM: /* GSL's support is [a, b); the MLE's is [a, b] */
        return x == p[1] ? 1 / (p[1] - p[0]) : gsl_ran_flat_pdf(x, p[0], p[1]);
    case DQ_FIT_STUDENT_T:
        if (isinf(p[2])) return gsl_ran_gaussian_pdf(x - p[0], p[1]);
        return gsl_ran_tdist_pdf((x - p[0]) / p[1], p[2]) / p[1];
    case DQ_FIT_LOGISTIC: return gsl_ran_logistic_pdf(x - p[0], p[1]);
    case DQ_FIT_EXPONENTIAL: return gsl_ran_exponential_pdf(x, p[0]);
    case DQ_FIT_HALFNORMAL: return x < 0 ? 0 : 2 * gsl_ran_gaussian_pdf(x, p[0]);
    case DQ_FIT_GAMMA: return gsl_ran_gamma_pdf(x, p[0], p[1]);
    case DQ_FIT_LOGNORMAL: return gsl_ran_lognormal_pdf(x, p[0], p[1]);
    case DQ_FIT_WEIBULL: return gsl_ran_weibull_pdf(x, p[0], p[1]);
    default: return NAN;
    }
}

double dq_fit_cdf(const dq_fit_result *f, double x)
{
    const double *p = f->param;
    switch (f->family) {
    case DQ_FIT_NORMAL: return gsl_cdf_gaussian_P(x - p[0], p[1]);
    case DQ_FIT_LAPLACE: return gsl_cdf_laplace_P(x - p[0], p[1]);
    case DQ_FIT_UNIFORM: return gsl_cdf_flat_P(x, p[0], p[1]);
    case DQ_FIT_STUDENT_T:
        if (isinf(p[2])) return gsl_cdf_gaussian_P(x - p[0], p[1]);
        return gsl_cdf_tdist_P((x - p[0]) / p[1], p[2]);
    case DQ_FIT_LOGISTIC: return gsl_cdf_logistic_P(x - p[0], p[1]);
    case DQ_FIT_EXPONENTIAL: return gsl_cdf_exponential_P(x, p[0]);
    case DQ_FIT_HALFNORMAL:
        /* P(|Z| <= x) = 1 - 2 Q(x), accurate in the upper tail */
        return x <= 0 ? 0 : 1 - 2 * gsl_cdf_gaussian_Q(x, p[0]);
    case DQ_FIT_GAMMA: return gsl_cdf_gamma_P(x, p[0], p[1]);
    case DQ_FIT_LOGNORMAL: return gsl_cdf_lognormal_P(x, p[0], p[1]);
    case DQ_FIT_WEIBULL: return gsl_cdf_weibull_P(x, p[0], p[1]);
    default: return NAN;
    }
}

/* ---- the working sample and deterministic sums ------------------------- */

typedef struct {
    double *x;      /* working sample, sorted ascending */
    size_t n;
    double *part;   /* 2 partial sums per chunk */
    size_t nchunk;
    double mean, sd, median;  /* sd with 1/n */
    double mean_log, sd_log;  /* of log x (magnitude domain only) */
} sample;

typedef void (*chunk_fn)(const double *x, size_t n, const void *ctx,
                         double acc[2]);

static void chunk_run(const sample *s, chunk_fn fn, const void *ctx, long c)
{
    size_t lo = (size_t)c * CHUNK;
    size_t hi = lo + CHUNK < s->n ? lo + CHUNK : s->n;
    double *acc = s->part + 2 * c;
    acc[0] = acc[1] = 0;
    fn(s->x + lo, hi - lo, ctx, acc);
}

/* out[0..1] = sum over chunks, in chunk order, of fn(chunk).  Small sums
 * skip the parallel region (its start-up costs more than the sum). */
static void chunked_sum(const sample *s, chunk_fn fn, const void *ctx,
                        double out[2])
{
    long nchunk = (long)s->nchunk;
    if (nchunk >= PAR_MIN_CHUNKS) {
#pragma omp parallel for schedule(static)
        for (long c = 0; c < nchunk; c++) chunk_run(s, fn, ctx, c);
    } else {
        for (long c = 0; c < nchunk; c++) chunk_run(s, fn, ctx, c);
    }
    out[0] = out[1] = 0;
    for (long c = 0; c < nchunk; c++) {
        out[0] += s->part[2 * c];
        out[1] += s->part[2 * c + 1];
    }
}

/* The simplex fits spend nearly all their time here, so their two
 * families get loops of their own (same arithmetic as logdens_eval). */
static void sum_logdens(const double *x, size_t n, const void *ctx,
                        double acc[2])
{
    const logdens *d = ctx;
    const double *p = d->p;
    double s = 0;
    if (d->fam == DQ_FIT_STUDENT_T && !isinf(p[2])) {
        double inv_nu = 1 / p[2], half = 0.5 * (p[2] + 1);
        for (size_t i = 0; i < n; i++) {
            double z = (x[i] - p[0]) * d->inv;
            s -= log(1 + z * z * inv_nu);
        }
        acc[0] += n * d->c + half * s;
    } else if (d->fam == DQ_FIT_LOGISTIC) {
        for (size_t i = 0; i < n; i++) {
            double z = fabs(x[i] - p[0]) * d->inv;
            s -= z + 2 * log(1 + exp(-z));
        }
        acc[0] += n * d->c + s;
    } else {
        for (size_t i = 0; i < n; i++) s += logdens_eval(d, x[i]);
        acc[0] += s;
    }
}

static double loglik(const sample *s, dq_fit_family fam, const double *p)
{
    logdens d = logdens_make(fam, p);
    double sum[2];
    chunked_sum(s, sum_logdens, &d, sum);
    return sum[0];
}

/* Population: x (signed) or nonzero |x| (magnitude).  Fills s->x with all
 * of it, or, above cap values, with a dq_reservoir sample (Algorithm R,
 * mt19937 seeded with seed) of it in storage order; unsorted. */
static int sample_draw(sample *s, const float *x, int64_t n, int magnitude,
                       int64_t npop, int64_t cap, uint64_t seed)
{
    size_t m = (size_t)(npop < cap ? npop : cap);
    s->n = m;
    s->x = malloc((m ? m : 1) * sizeof *s->x);
    s->nchunk = (m + CHUNK - 1) / CHUNK;
    s->part = malloc((s->nchunk ? 2 * s->nchunk : 2) * sizeof *s->part);
    if (!s->x || !s->part)
        return DQ_ERROR(DQ_ENOMEM, "fit: out of memory for %zu values", m);
    if (npop <= cap) { /* the whole population */
        size_t j = 0;
        for (int64_t i = 0; i < n; i++)
            if (!magnitude || x[i] != 0)
                s->x[j++] = magnitude ? fabs((double)x[i]) : (double)x[i];
        return DQ_OK;
    }
    dq_reservoir *r = dq_reservoir_alloc(cap, seed);
    if (!r) return dq_error_status();
    float buf[1024];
    int st = DQ_OK;
    for (int64_t i = 0; i < n && st == DQ_OK;) { /* stream the population */
        int64_t k = 0;
        for (; i < n && k < 1024; i++)
            if (!magnitude || x[i] != 0) buf[k++] = magnitude ? fabsf(x[i]) : x[i];
        st = dq_reservoir_add(r, buf, k);
    }
    const float *v = dq_reservoir_data(r);
    for (size_t j = 0; j < m; j++) s->x[j] = (double)v[j];
    dq_reservoir_free(r);
    return st;
}

static void sample_moments(sample *s, int magnitude)
{
    double n = (double)s->n;
    s->mean = gsl_stats_mean(s->x, 1, s->n);
    s->sd = sqrt(gsl_stats_variance_m(s->x, 1, s->n, s->mean) * (n - 1) / n);
    s->median = gsl_stats_median_from_sorted_data(s->x, 1, s->n);
    if (!magnitude) return;
    double sl = 0, sl2 = 0;
    for (size_t i = 0; i < s->n; i++) sl += log(s->x[i]);
    s->mean_log = sl / n;
    for (size_t i = 0; i < s->n; i++) {
        double d = log(s->x[i]) - s->mean_log;
        sl2 += d * d;
    }
    s->sd_log = sqrt(sl2 / n);
}

static void sample_free(sample *s)
{
    free(s->x);
    free(s->part);
}

/* ---- closed-form fits --------------------------------------------------- */

static void sum_absdev(const double *x, size_t n, const void *ctx, double acc[2])
{
    double m = *(const double *)ctx;
    for (size_t i = 0; i < n; i++) acc[0] += fabs(x[i] - m);
}

static void sum_sq(const double *x, size_t n, const void *ctx, double acc[2])
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) acc[0] += x[i] * x[i];
}

static int fit_closed(const sample *s, dq_fit_result *r)
{
    double sum[2], *p = r->param, n = (double)s->n;
    switch (r->family) {
    case DQ_FIT_NORMAL: p[0] = s->mean; p[1] = s->sd; break;
    case DQ_FIT_LAPLACE:
        p[0] = s->median;
        chunked_sum(s, sum_absdev, &s->median, sum);
        p[1] = sum[0] / n;
        break;
    case DQ_FIT_UNIFORM: p[0] = s->x[0]; p[1] = s->x[s->n - 1]; break;
    case DQ_FIT_EXPONENTIAL: p[0] = s->mean; break;
    case DQ_FIT_HALFNORMAL:
        chunked_sum(s, sum_sq, NULL, sum);
        p[0] = sqrt(sum[0] / n);
        break;
    case DQ_FIT_LOGNORMAL: p[0] = s->mean_log; p[1] = s->sd_log; break;
    default: return DQ_ERROR(DQ_EUNSUP, "fit: no closed form for %s",
                             dq_fit_family_name(r->family));
    }
    return DQ_OK;
}

/* Gamma: solve log k - psi(k) = log mean - mean log by Newton's method from
 * the Minka / Choi-Wette starting value; theta = mean / k. */
static int fit_gamma(const sample *s, dq_fit_result *r, int max_iter)
{
    double c = log(s->mean) - s->mean_log;
    if (!(c > 0))
        return DQ_ERROR(DQ_EINVAL, "fit gamma: log-mean gap %g not positive", c);
    double k = (3 - c + sqrt((c - 3) * (c - 3) + 24 * c)) / (12 * c);
    int it;
    for (it = 1; it <= max_iter; it++) {
        gsl_sf_result psi, psi1;
        if (gsl_sf_psi_e(k, &psi) || gsl_sf_psi_1_e(k, &psi1))
            return DQ_ERROR(DQ_EINVAL, "fit gamma: digamma failed at k=%g", k);
        double g = log(k) - psi.val - c, dg = 1 / k - psi1.val;
        double knew = k - g / dg;
        if (!(knew > 0)) knew = 0.5 * k; /* stay in the domain */
        double step = fabs(knew - k);
        k = knew;
        if (step <= 1e-13 * k) break;
    }
    if (it > max_iter)
        return DQ_ERROR(DQ_EINVAL, "fit gamma: Newton did not converge");
    r->iterations = it;
    r->param[0] = k;
    r->param[1] = s->mean / k;
    return DQ_OK;
}

/* Weibull profile likelihood in the shape k, on ly = log x - mean log x:
 * g(k) = sum w ly / sum w - 1/k with w = exp(k (ly - max ly)); g rises from
 * -inf to max ly > 0, and its root is the MLE shape. */
typedef struct {
    const sample *s;
    double mean_log, lmax, k; /* lmax = max ly */
} weib_ctx;

static void sum_weib(const double *x, size_t n, const void *ctx, double acc[2])
{
    const weib_ctx *w = ctx;
    for (size_t i = 0; i < n; i++) {
        double ly = log(x[i]) - w->mean_log;
        double e = exp(w->k * (ly - w->lmax));
        acc[0] += e * ly;
        acc[1] += e;
    }
}

static double weib_g(double k, void *ctx)
{
    weib_ctx *w = ctx;
    double sum[2];
    w->k = k;
    chunked_sum(w->s, sum_weib, w, sum);
    return sum[0] / sum[1] - 1 / k;
}

static int fit_weibull(const sample *s, dq_fit_result *r, int max_iter)
{
    weib_ctx w = {s, s->mean_log, log(s->x[s->n - 1]) - s->mean_log, 0};
    double k0 = M_PI / (sqrt(6.0) * s->sd_log); /* sd of log x = pi/(k sqrt 6) */
    double lo = 0.5 * k0, hi = 2 * k0;
    int expand = 0;
    while (weib_g(lo, &w) > 0 && expand++ < 60) lo *= 0.5;
    while (weib_g(hi, &w) < 0 && expand++ < 120) hi *= 2;
    if (expand >= 120 || !isfinite(lo) || !isfinite(hi))
        return DQ_ERROR(DQ_EINVAL, "fit weibull: cannot bracket the shape");
    gsl_function F = {weib_g, &w};
    gsl_root_fsolver *rs = gsl_root_fsolver_alloc(gsl_root_fsolver_brent);
    if (!rs) return DQ_ERROR(DQ_ENOMEM, "fit weibull: out of memory");
    int st = gsl_root_fsolver_set(rs, &F, lo, hi), it = 0;
    while (st == GSL_SUCCESS && it++ < max_iter) {
        if ((st = gsl_root_fsolver_iterate(rs)) != GSL_SUCCESS) break;
        lo = gsl_root_fsolver_x_lower(rs);
        hi = gsl_root_fsolver_x_upper(rs);
        st = gsl_root_test_interval(lo, hi, 0, 1e-13);
        if (st == GSL_SUCCESS) break;
        st = GSL_SUCCESS;
    }
    double k = gsl_root_fsolver_root(rs);
    gsl_root_fsolver_free(rs);
    if (st != GSL_SUCCESS || it > max_iter)
        return DQ_ERROR(DQ_EINVAL, "fit weibull: Brent did not converge");
    double sum[2];
    w.k = k;
    chunked_sum(s, sum_weib, &w, sum);
    /* lambda^k = mean x^k, in logs to avoid overflow */
    r->param[0] = exp(s->mean_log + w.lmax + log(sum[1] / (double)s->n) / k);
    r->param[1] = k;
    r->iterations = it;
    return DQ_OK;
}

/* ---- simplex fits: student_t, logistic --------------------------------- */

/* Coordinates v: v0 = (loc - loc0) / scale0, v1 = log scale and, for
 * student_t, v2 = 1 / df.  Inverse df keeps the normal limit (v2 = 0, df =
 * inf) at a finite point.  The scale is kept within a factor SCALE_RANGE
 * of the sample's sd and 1/df in [0, 1/T_DF_MIN]; outside, the objective
 * is its value at the bound plus the distance, so it has no plateau. */
typedef struct {
    const sample *s;
    dq_fit_family fam;
    double loc0, scale0;
    double ls_lo, ls_hi; /* bounds of log scale */
} nm_ctx;

static double clamp_penalty(double *v, double lo, double hi)
{
    double pen = *v < lo ? lo - *v : *v > hi ? *v - hi : 0;
    *v = GSL_MAX(lo, GSL_MIN(hi, *v));
    return pen;
}

static double nm_params(const nm_ctx *c, const gsl_vector *v, double *p)
{
    double ls = gsl_vector_get(v, 1);
    double penalty = clamp_penalty(&ls, c->ls_lo, c->ls_hi);
    p[0] = c->loc0 + c->scale0 * gsl_vector_get(v, 0);
    p[1] = exp(ls);
    if (c->fam == DQ_FIT_STUDENT_T) {
        double xi = gsl_vector_get(v, 2);
        penalty += clamp_penalty(&xi, 0, 1 / T_DF_MIN);
        p[2] = xi > 0 ? 1 / xi : INFINITY;
    }
    return penalty;
}

static double nm_objective(const gsl_vector *v, void *ctx)
{
    const nm_ctx *c = ctx;
    double p[DQ_FIT_MAX_PARAM];
    double penalty = nm_params(c, v, p);
    double ll = loglik(c->s, c->fam, p) / (double)c->s->n;
    return isfinite(ll) ? penalty - ll : GSL_DBL_MAX;
}

/* One simplex run from v; returns iterations used or -1 without
 * convergence. */
static int nm_run(nm_ctx *c, gsl_vector *v, double step, int max_iter)
{
    size_t dim = v->size;
    gsl_multimin_function F = {nm_objective, dim, c};
    gsl_multimin_fminimizer *m =
        gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, dim);
    gsl_vector *sv = gsl_vector_alloc(dim);
    if (!m || !sv) {
        gsl_multimin_fminimizer_free(m);
        gsl_vector_free(sv);
        return -2;
    }
    gsl_vector_set_all(sv, step);
    int it = 0, ok = 0;
    if (gsl_multimin_fminimizer_set(m, &F, v, sv) == GSL_SUCCESS) {
        while (it < max_iter) {
            it++;
            int st = gsl_multimin_fminimizer_iterate(m);
            double size = gsl_multimin_fminimizer_size(m);
            ok = gsl_multimin_test_size(size, NM_TOL) == GSL_SUCCESS;
            if (ok || st != GSL_SUCCESS) break;
        }
    }
    gsl_vector_memcpy(v, gsl_multimin_fminimizer_x(m));
    gsl_multimin_fminimizer_free(m);
    gsl_vector_free(sv);
    return ok ? it : -1;
}

static void sum_kurt(const double *x, size_t n, const void *ctx, double acc[2])
{
    double m = *(const double *)ctx;
    for (size_t i = 0; i < n; i++) {
        double d = (x[i] - m) * (x[i] - m);
        acc[0] += d * d;
    }
}

static int fit_simplex(const sample *s, dq_fit_result *r, int max_iter)
{
    nm_ctx c = {s, r->family, s->median, 1, log(s->sd / SCALE_RANGE),
                log(s->sd * SCALE_RANGE)};
    int dim = r->family == DQ_FIT_STUDENT_T ? 3 : 2;
    gsl_vector *v = gsl_vector_alloc((size_t)dim);
    if (!v) return DQ_ERROR(DQ_ENOMEM, "fit: out of memory");
    gsl_vector_set(v, 0, 0);
    if (r->family == DQ_FIT_LOGISTIC) {
        c.scale0 = s->sd * sqrt(3.0) / M_PI; /* logistic var = s^2 pi^2 / 3 */
    } else {
        /* df from the excess kurtosis 6 / (df - 4); scale from the MAD */
        double m4[2];
        chunked_sum(s, sum_kurt, &s->mean, m4);
        double kurt = m4[0] / (double)s->n / pow(s->sd, 4) - 3;
        double df = kurt > 0.06 ? GSL_MIN(4 + 6 / kurt, 100.0) : 100.0;
        double *dev = malloc(s->n * sizeof *dev);
        if (!dev) {
            gsl_vector_free(v);
            return DQ_ERROR(DQ_ENOMEM, "fit: out of memory");
        }
        for (size_t i = 0; i < s->n; i++) dev[i] = fabs(s->x[i] - s->median);
        double mad = gsl_stats_median(dev, 1, s->n); /* quickselect */
        free(dev);
        double q75 = gsl_cdf_tdist_Pinv(0.75, df);
        c.scale0 = mad > 0 ? mad / q75 : s->sd;
        gsl_vector_set(v, 2, 1 / df);
    }
    gsl_vector_set(v, 1, log(c.scale0));
    /* a second run from the first one's optimum guards against a
     * prematurely collapsed simplex */
    int it1 = nm_run(&c, v, 0.5, max_iter);
    int it2 = it1 >= 0 ? nm_run(&c, v, 0.05, max_iter) : it1;
    nm_params(&c, v, r->param);
    gsl_vector_free(v);
    if (it1 == -2 || it2 == -2) return DQ_ERROR(DQ_ENOMEM, "fit: out of memory");
    if (it2 < 0)
        return DQ_ERROR(DQ_EINVAL, "fit %s: simplex did not converge in %d "
                        "iterations", dq_fit_family_name(r->family), max_iter);
    r->iterations = it1 + it2;
    /* At a bound the likelihood still grows: a point mass in the data
     * (e.g. many equal values) makes it unbounded, and there is no MLE. */
    if (log(r->param[1]) <= c.ls_lo + 1e-3 ||
        (r->family == DQ_FIT_STUDENT_T && r->param[2] <= T_DF_MIN * (1 + 1e-3)))
        return DQ_ERROR(DQ_EINVAL, "fit %s: no maximum (scale or df at its "
                        "bound; a point mass in the data?)",
                        dq_fit_family_name(r->family));
    return DQ_OK;
}

static int fit_family(const sample *s, dq_fit_result *r, int max_iter)
{
    switch (r->family) {
    case DQ_FIT_GAMMA: return fit_gamma(s, r, max_iter);
    case DQ_FIT_WEIBULL: return fit_weibull(s, r, max_iter);
    case DQ_FIT_STUDENT_T:
    case DQ_FIT_LOGISTIC: return fit_simplex(s, r, max_iter);
    default: return fit_closed(s, r);
    }
}

/* ---- goodness of fit ---------------------------------------------------- */

double dq_fit_ks_stat(const dq_fit_result *f, const double *xs, int64_t n)
{
    double d = 0;
    for (int64_t i = 0; i < n; i++) {
        double F = dq_fit_cdf(f, xs[i]);
        double lo = F - (double)i / (double)n, hi = (double)(i + 1) / (double)n - F;
        d = GSL_MAX(d, GSL_MAX(lo, hi));
    }
    return d;
}

/* Kolmogorov's limiting survival function Q(z) = P(K > z), by the two
 * classic series (small z: the Jacobi-theta form; large z: alternating). */
static double kolmogorov_q(double z)
{
    if (z < 0.04) return 1;
    if (z < 1.18) {
        double y = exp(-M_PI * M_PI / (8 * z * z));
        double p = sqrt(2 * M_PI) / z *
                   (y + pow(y, 9) + pow(y, 25) + pow(y, 49) + pow(y, 81));
        return 1 - p;
    }
    double x = exp(-2 * z * z);
    return 2 * (x - pow(x, 4) + pow(x, 9) - pow(x, 16));
}

double dq_fit_ks_pvalue(double d, int64_t n)
{
    if (!(n > 0) || !(d >= 0)) return NAN;
    double sn = sqrt((double)n);
    double q = kolmogorov_q((sn + 0.12 + 0.11 / sn) * d);
    return GSL_MAX(0.0, GSL_MIN(1.0, q));
}

static int histogram_fill(dq_fit_report *rep, const sample *s, int bins)
{
    gsl_histogram *h = gsl_histogram_alloc((size_t)bins);
    rep->density = malloc((size_t)bins * sizeof *rep->density);
    if (!h || !rep->density) {
        gsl_histogram_free(h);
        return DQ_ERROR(DQ_ENOMEM, "fit: out of memory (histogram)");
    }
    gsl_histogram_set_ranges_uniform(h, rep->min, rep->max);
    rep->bins = bins;
    double last = dq_fit_report_bin_center(rep, bins - 1);
    for (size_t i = 0; i < s->n; i++) /* values at the open upper edge */
        if (gsl_histogram_increment(h, s->x[i]) != GSL_SUCCESS)
            gsl_histogram_increment(h, last); /* (max, or max - 1 ulp) */
    double w = (rep->max - rep->min) / bins;
    for (int i = 0; i < bins; i++)
        rep->density[i] = gsl_histogram_get(h, (size_t)i) / ((double)s->n * w);
    gsl_histogram_free(h);
    return DQ_OK;
}

double dq_fit_report_bin_center(const dq_fit_report *r, int i)
{
    return r->min + (i + 0.5) * (r->max - r->min) / r->bins;
}

static void score(dq_fit_result *r, const sample *s, const dq_fit_report *rep,
                  const double *ks, int64_t nks)
{
    double n = (double)s->n;
    r->loglik = loglik(s, r->family, r->param);
    r->aic = 2 * r->nparam - 2 * r->loglik;
    r->bic = r->nparam * log(n) - 2 * r->loglik;
    r->ks_stat = dq_fit_ks_stat(r, ks, nks);
    r->ks_p = dq_fit_ks_pvalue(r->ks_stat, nks);
    double sse = 0;
    for (int i = 0; i < rep->bins; i++) {
        double e = rep->density[i] - dq_fit_pdf(r, dq_fit_report_bin_center(rep, i));
        sse += e * e;
    }
    r->sse = sse;
}

static double crit_value(const dq_fit_result *f, dq_fit_criterion c)
{
    switch (c) {
    case DQ_FIT_CRIT_SSE: return f->sse;
    case DQ_FIT_CRIT_KS: return f->ks_stat;
    case DQ_FIT_CRIT_AIC: return f->aic;
    default: return f->bic;
    }
}

/* Pairs (larger family, family it contains as a special case or limit). */
static const dq_fit_family nested_pairs[][2] = {
    {DQ_FIT_GAMMA, DQ_FIT_EXPONENTIAL},   /* shape 1 */
    {DQ_FIT_WEIBULL, DQ_FIT_EXPONENTIAL}, /* shape 1 */
    {DQ_FIT_STUDENT_T, DQ_FIT_NORMAL},    /* df -> inf */
};

static int report_find(const dq_fit_report *rep, dq_fit_family f)
{
    for (int i = 0; i < rep->nfits; i++)
        if (rep->fit[i].family == f) return i;
    return -1;
}

/* For sse and ks: a larger family is not eligible to win while the
 * likelihood-ratio statistic 2 (LL_large - LL_nested) stays below the
 * chi-square(1 extra parameter) quantile at level alpha. */
static void mark_nested(dq_fit_report *rep, double alpha)
{
    for (int i = 0; i < rep->nfits; i++) rep->fit[i].eligible = 1;
    if (alpha <= 0 || rep->criterion == DQ_FIT_CRIT_AIC ||
        rep->criterion == DQ_FIT_CRIT_BIC)
        return;
    double crit = gsl_cdf_chisq_Qinv(alpha, 1);
    for (size_t k = 0; k < sizeof nested_pairs / sizeof *nested_pairs; k++) {
        int big = report_find(rep, nested_pairs[k][0]);
        int small = report_find(rep, nested_pairs[k][1]);
        if (big < 0 || small < 0 || rep->fit[small].status != DQ_OK) continue;
        double lr = 2 * (rep->fit[big].loglik - rep->fit[small].loglik);
        if (!(lr > crit)) rep->fit[big].eligible = 0;
    }
}

/* The eligible successful fit with the lowest criterion value; ties go to
 * the family listed first. */
static int select_best(const dq_fit_report *rep)
{
    int best = -1;
    double lo = INFINITY;
    for (int i = 0; i < rep->nfits; i++) {
        const dq_fit_result *f = &rep->fit[i];
        double v = crit_value(f, rep->criterion);
        if (f->status == DQ_OK && f->eligible && isfinite(v) && v < lo) {
            lo = v;
            best = i;
        }
    }
    return best;
}

/* ---- the analysis ------------------------------------------------------- */

void dq_fit_report_free(dq_fit_report *r)
{
    if (!r) return;
    free(r->density);
    free(r);
}

static int check_input(const float *x, int64_t n)
{
    if (!x) return DQ_ERROR(DQ_EINVAL, "fit: no input array");
    if (n <= 0)
        return DQ_ERROR(DQ_EINVAL, "fit: empty input (%lld values)", (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return DQ_ERROR(DQ_EINVAL, "fit: value %lld is %s", (long long)i,
                            isnan(x[i]) ? "NaN" : "infinite");
    return DQ_OK;
}

/* KS subsample, sorted: all of the working sample, or a seeded choice of
 * nks of its values.  It is drawn before the working sample is sorted, so
 * that it picks positions, not ranks (picking the same ranks from every
 * sorted tensor would give every tensor the same KS statistic). */
static double *ks_subsample(const sample *s, int64_t nks, uint64_t seed)
{
    double *ks = malloc((size_t)nks * sizeof *ks);
    if (!ks) DQ_ERROR_NULL(DQ_ENOMEM, "fit: out of memory (KS sample)");
    if ((size_t)nks == s->n) {
        memcpy(ks, s->x, s->n * sizeof *ks);
    } else {
        gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
        if (!rng) {
            free(ks);
            DQ_ERROR_NULL(DQ_ENOMEM, "fit: out of memory (rng)");
        }
        gsl_rng_set(rng, (unsigned long)(seed + 1));
        gsl_ran_choose(rng, ks, (size_t)nks, s->x, s->n, sizeof *ks);
        gsl_rng_free(rng);
    }
    gsl_sort(ks, 1, (size_t)nks);
    return ks;
}

/* Fit and score every family of the domain, then pick the best. */
static int fit_all(dq_fit_report *rep, const sample *s, const double *ks,
                   const dq_fit_options *o)
{
    const dq_fit_family *fams;
    rep->nfits = dq_fit_domain_families(rep->domain, &fams);
    for (int i = 0; i < rep->nfits; i++) {
        dq_fit_result *r = &rep->fit[i];
        memset(r, 0, sizeof *r);
        r->family = fams[i];
        r->nparam = dq_fit_family_nparam(fams[i]);
        r->status = fit_family(s, r, o->max_iter);
        if (r->status == DQ_ENOMEM) return DQ_ENOMEM;
        if (r->status == DQ_OK) score(r, s, rep, ks, rep->n_ks);
        if (r->status == DQ_OK && !isfinite(r->loglik))
            r->status = DQ_ERROR(DQ_EINVAL, "fit %s: log-likelihood %g",
                                 dq_fit_family_name(r->family), r->loglik);
        if (r->status != DQ_OK) {
            snprintf(r->message, sizeof r->message, "%s", dq_error_message());
            r->loglik = r->aic = r->bic = NAN;
            r->ks_stat = r->ks_p = r->sse = NAN;
        }
    }
    dq_error_clear(); /* a failed family is reported by its status */
    mark_nested(rep, o->nested_alpha);
    rep->best = select_best(rep);
    return DQ_OK;
}

static int analyze(dq_fit_report *rep, sample *s, const float *x,
                   const dq_fit_options *o)
{
    int magnitude = rep->domain == DQ_FIT_MAGNITUDE;
    DQ_TRY(sample_draw(s, x, rep->n_input, magnitude, rep->n_population,
                       o->max_sample, o->seed));
    rep->n_sample = (int64_t)s->n;
    if (s->n == 0) return DQ_OK;
    rep->n_ks = GSL_MIN(rep->n_sample, o->ks_sample);
    double *ks = ks_subsample(s, rep->n_ks, o->seed);
    if (!ks) return dq_error_status();
    gsl_sort(s->x, 1, s->n);
    rep->min = s->x[0];
    rep->max = s->x[s->n - 1];
    int st = DQ_OK;
    if (s->n >= 2 && rep->min < rep->max) {
        sample_moments(s, magnitude);
        st = histogram_fill(rep, s, o->bins);
        if (st == DQ_OK) st = fit_all(rep, s, ks, o);
    } else {
        rep->n_ks = 0; /* degenerate: no fits */
    }
    free(ks);
    return st;
}

dq_fit_report *dq_fit_analyze(const float *x, int64_t n, dq_fit_domain domain,
                              const dq_fit_options *opt)
{
    dq_fit_options defaults;
    if (!opt) {
        dq_fit_options_default(&defaults);
        opt = &defaults;
    }
    if (options_check(opt) != DQ_OK || check_input(x, n) != DQ_OK) return NULL;
    if (domain != DQ_FIT_SIGNED && domain != DQ_FIT_MAGNITUDE)
        DQ_ERROR_NULL(DQ_EINVAL, "fit: unknown domain %d", (int)domain);
    gsl_set_error_handler_off();

    dq_fit_report *rep = calloc(1, sizeof *rep);
    if (!rep) DQ_ERROR_NULL(DQ_ENOMEM, "fit: out of memory");
    rep->domain = domain;
    rep->criterion = opt->criterion;
    rep->best = -1;
    rep->n_input = n;
    for (int64_t i = 0; i < n; i++) rep->n_zero += x[i] == 0;
    rep->zero_frac = (double)rep->n_zero / (double)n;
    rep->n_population = domain == DQ_FIT_MAGNITUDE ? n - rep->n_zero : n;

    sample s = {0};
    int st = analyze(rep, &s, x, opt);
    sample_free(&s);
    if (st != DQ_OK) {
        dq_fit_report_free(rep); /* exception in constructor, avoid memory leak */
        return NULL;
    }
    return rep;
}
