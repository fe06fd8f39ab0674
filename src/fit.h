/*
 * fit.h — which probability distribution fits a tensor best (GSL).
 *
 * dq_fit_analyze() fits every candidate family of one analysis domain to
 * the values of a tensor by maximum likelihood and scores each fit:
 *
 *   signed analysis (x as is)      : normal, laplace, uniform, student_t,
 *                                    logistic
 *   magnitude analysis (|x| with   : exponential, halfnormal, uniform,
 *   exact zeros removed)             gamma, lognormal, weibull
 *
 * Parameters (param[] order; the names are dq_fit_param_name()):
 *
 *   normal      loc mu, scale sigma          gsl_ran_gaussian_pdf(x-mu, sigma)
 *   laplace     loc mu, scale b              gsl_ran_laplace_pdf(x-mu, b)
 *   uniform     lower a, upper b             gsl_ran_flat_pdf(x, a, b) on [a, b]
 *   student_t   loc mu, scale s, df nu       gsl_ran_tdist_pdf((x-mu)/s, nu)/s
 *                                            (nu = inf: the normal limit)
 *   logistic    loc mu, scale s              gsl_ran_logistic_pdf(x-mu, s)
 *   exponential scale (= mean)               gsl_ran_exponential_pdf(x, scale)
 *   halfnormal  scale sigma                  2 gsl_ran_gaussian_pdf(x, sigma), x >= 0
 *   gamma       shape k, scale theta         gsl_ran_gamma_pdf(x, k, theta)
 *   lognormal   mu, sigma (of log x)         gsl_ran_lognormal_pdf(x, mu, sigma)
 *   weibull     scale lambda, shape k        gsl_ran_weibull_pdf(x, lambda, k)
 *
 * Fitting.  Closed-form MLE for normal (mean, std with 1/n), laplace
 * (median, mean absolute deviation from it), uniform (min, max),
 * exponential (mean), halfnormal (root mean square) and lognormal (mean and
 * 1/n std of log x).  Gamma: Newton's iteration on the digamma equation
 * log k - psi(k) = log mean(x) - mean(log x).  Weibull: Brent's root of the
 * profile-likelihood equation for the shape.  Student-t and logistic:
 * gsl_multimin's nmsimplex2 on the mean negative log-likelihood in a
 * parameterisation that keeps them valid (loc, log scale [, 1/df with
 * 1/df = 0 the normal limit]), started from median / MAD / kurtosis
 * estimates, and restarted once from its optimum.  The scale is kept within
 * 1e-6..1e6 times the sample's sd and df >= 0.05; a fit that ends on such
 * a bound has no maximum (a point mass, e.g. many equal values, makes the
 * Student-t likelihood unbounded) and fails with DQ_EINVAL.
 *
 * Goodness of fit, for every fit:
 *   loglik, aic = 2p - 2 loglik, bic = p ln n - 2 loglik  on the working sample;
 *   ks_stat, ks_p  Kolmogorov-Smirnov on a seeded subsample of at most
 *                  ks_sample values, p from the asymptotic Kolmogorov
 *                  distribution with Stephens' small-n factor (the parameters
 *                  are estimated from the data, so p is conservative);
 *   sse            sum over bins of (histogram density - pdf(bin centre))^2,
 *                  with a `bins`-bin density histogram of the working sample
 *                  over [min, max] (the criterion of the Python `fitter`).
 *
 * Best fit.  The eligible fit with the lowest criterion value (sse,
 * ks_stat, aic or bic) wins.  Every fit is eligible, except under sse and
 * ks (which do not charge for parameters): a family that contains another
 * one (gamma and weibull contain the exponential at shape 1, student_t the
 * normal as df -> inf) is eligible only when the likelihood-ratio
 * statistic 2 (loglik - loglik_nested) exceeds the chi-square(1) quantile
 * at level nested_alpha, i.e. when its extra parameter is significant.
 * Without the rule the larger family wins on noise more than half the time
 * when the nested one is true.  (For student_t vs normal the test is
 * conservative: df = inf is a boundary point.)
 *
 * Sampling.  The working sample is the whole population when it has at most
 * max_sample values, otherwise a reservoir sample (reservoir.h: Algorithm
 * R, gsl_rng mt19937 seeded with `seed`) of the population in storage
 * order.  The KS subsample is drawn from it with gsl_ran_choose (seed + 1).
 * Sums use fixed chunks reduced in order, so results are identical at any
 * OpenMP thread count.
 *
 * Bad input.  NaN or Inf anywhere, n <= 0 or x == NULL: DQ_EINVAL with a
 * message, NULL returned.  Degenerate data is not an error: when the
 * population has fewer than 2 values or all values are equal (e.g. an
 * all-zero tensor: magnitude population empty, zero_frac = 1), the report
 * has nfits = 0, best = -1 and no histogram.  A family whose fit fails on
 * valid data (no convergence, non-finite likelihood) keeps its slot with
 * status != DQ_OK and NaN figures; it never wins.
 *
 * dq_fit_analyze() switches GSL's abort-on-error handler off
 * (gsl_set_error_handler_off) and checks return codes instead.
 */
#ifndef DQ_FIT_H
#define DQ_FIT_H

#include "config.h"

#include <stdint.h>

typedef enum {
    DQ_FIT_NORMAL,
    DQ_FIT_LAPLACE,
    DQ_FIT_UNIFORM,
    DQ_FIT_STUDENT_T,
    DQ_FIT_LOGISTIC,
    DQ_FIT_EXPONENTIAL,
    DQ_FIT_HALFNORMAL,
    DQ_FIT_GAMMA,
    DQ_FIT_LOGNORMAL,
    DQ_FIT_WEIBULL,
    DQ_FIT_NFAMILIES
} dq_fit_family;

typedef enum { DQ_FIT_SIGNED, DQ_FIT_MAGNITUDE } dq_fit_domain;

typedef enum {
    DQ_FIT_CRIT_SSE,
    DQ_FIT_CRIT_KS,
    DQ_FIT_CRIT_AIC,
    DQ_FIT_CRIT_BIC
} dq_fit_criterion;

#define DQ_FIT_MAX_PARAM 3
#define DQ_FIT_MAX_FITS 6 /* families per domain, at most */

typedef struct {
    dq_fit_criterion criterion; /* default sse */
    int64_t max_sample;         /* working-sample cap, default 2^20 */
    int64_t ks_sample;          /* KS subsample cap, default 10000 */
    int bins;                   /* SSE histogram bins, default 200 */
    uint64_t seed;              /* default 1 */
    double nested_alpha;        /* default 0.001; 0 disables the rule */
    int max_iter;               /* per iterative fit, default 5000 */
} dq_fit_options;

typedef struct {
    dq_fit_family family;
    int status;     /* DQ_OK, or why the fit failed (then figures are NaN) */
    char message[160]; /* the failure's message; "" when status == DQ_OK */
    int iterations; /* 0 for closed forms */
    int eligible;   /* 0: a nested family explains the data as well */
    int nparam;
    double param[DQ_FIT_MAX_PARAM];
    double loglik, aic, bic;
    double ks_stat, ks_p;
    double sse;
} dq_fit_result;

typedef struct {
    dq_fit_domain domain;
    dq_fit_criterion criterion;
    int64_t n_input;      /* values given */
    int64_t n_zero;       /* exact zeros among them */
    double zero_frac;     /* n_zero / n_input */
    int64_t n_population; /* n_input (signed) or n_input - n_zero (magnitude) */
    int64_t n_sample;     /* working sample: min(n_population, max_sample) */
    int64_t n_ks;         /* KS subsample: min(n_sample, ks_sample) */
    double min, max;      /* of the working sample (0 when empty) */
    int bins;             /* 0 when nfits == 0 */
    double *density;      /* [bins] normalised histogram over [min, max] */
    int nfits;
    dq_fit_result fit[DQ_FIT_MAX_FITS];
    int best; /* index into fit[], -1 when no fit succeeded */
} dq_fit_report;

/* [fit] criterion, max_sample, ks_sample, bins, seed, nested_alpha,
 * max_iter. */
extern const dq_cfg_key dq_fit_keys[];

void dq_fit_options_default(dq_fit_options *o);
/* Reads the [fit] keys; DQ_ECONFIG on an unknown criterion name. */
int dq_fit_options_from_config(dq_fit_options *o, const dq_config *c);

/* Fit every family of `domain` to x[0..n-1]; see the contract above.
 * opt == NULL means the defaults.  Free the report with
 * dq_fit_report_free(). */
dq_fit_report *dq_fit_analyze(const float *x, int64_t n, dq_fit_domain domain,
                              const dq_fit_options *opt);
void dq_fit_report_free(dq_fit_report *r); /* NULL is a no-op */

/* Centre of histogram bin i of the report. */
double dq_fit_report_bin_center(const dq_fit_report *r, int i);

/* The fitted distribution, through GSL: pdf, cdf, and the log-density the
 * likelihood sums (normalising constants hoisted; equal to log pdf). */
double dq_fit_pdf(const dq_fit_result *f, double x);
double dq_fit_cdf(const dq_fit_result *f, double x);
double dq_fit_logpdf(const dq_fit_result *f, double x);

/* Families of a domain, in report order; returns their count. */
int dq_fit_domain_families(dq_fit_domain d, const dq_fit_family **list);

const char *dq_fit_family_name(dq_fit_family f); /* "student_t" */
int dq_fit_family_nparam(dq_fit_family f);
const char *dq_fit_param_name(dq_fit_family f, int i); /* "df" */
const char *dq_fit_domain_name(dq_fit_domain d);       /* "signed" */
const char *dq_fit_criterion_name(dq_fit_criterion c); /* "sse" */
/* Parses "sse", "ks", "aic", "bic"; DQ_EINVAL otherwise. */
int dq_fit_criterion_parse(const char *s, dq_fit_criterion *c);

/* Kolmogorov-Smirnov statistic of the sorted sample xs[0..n-1] against
 * the fitted cdf, and the asymptotic p-value of statistic d at sample size
 * n: Q_KS((sqrt(n) + 0.12 + 0.11/sqrt(n)) d). */
double dq_fit_ks_stat(const dq_fit_result *f, const double *xs, int64_t n);
double dq_fit_ks_pvalue(double d, int64_t n);

#endif
