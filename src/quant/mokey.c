/*
 * mokey.c — the "Mokey-like" scheme (DESIGN §2), after Mokey (Zadeh,
 * Mahmoud, Abdelhadi & Moshovos, ISCA 2022): one dictionary of 2^bits
 * values (16 at 4 bits) fitted once to N(0,1) and constrained to an
 * exponential curve on each sign; each tensor (channel) is mapped onto it
 * by its mean and standard deviation.  It is "Mokey-like", not Mokey: there
 * is no outlier path and no Mokey hardware model.  Reports use that label.
 *
 * Dictionary.  With m levels per sign, c_i = a * r^i + b (i = 0..m-1) and
 * the dictionary is +-c_i (symmetric, because N(0,1) is).  (a, r, b)
 * minimise the EXACT expected squared error of X ~ N(0,1) under
 * nearest-level rounding, E = 2 * sum_i int over cell_i (x - c_i)^2 phi(x)
 * dx with cells bounded by midpoints, which has a closed form in Phi and
 * phi (dq_mokey_emse).  The curve is parametrised by its ends and ratio,
 * c_0 = e^u0, c_{m-1} = c_0 + e^u1, r = e^u2, so every point is a valid
 * increasing positive dictionary, and minimised with GSL's Nelder-Mead
 * simplex (nmsimplex2) from a quantile-based start until the simplex size
 * is below 1e-10 (at most 20000 steps).  m = 1 is the closed form
 * c_0 = sqrt(2/pi) (the curve is degenerate: a = c_0, r = 1, b = 0).
 * The fit is deterministic and cached per m.
 *
 * Mapping.  A channel with mean mu and (population) std sigma gets the
 * levels mu + sigma * d for every dictionary entry d; Q(x) is the nearest
 * level (a plain TABLE codebook, so nearest in x equals nearest in
 * (x - mu) / sigma).  Codes: 2^bits entries, m = 2^(bits-1).  With the zero
 * code on, one code is an exact 0.0 level (so exact zeros stay zero) and
 * the dictionary has m = 2^(bits-1) - 1 levels per sign (one code is left
 * unused, keeping the dictionary symmetric).  Mokey itself has no zero
 * code: set zero_code = 0 for the 16-entry Mokey dictionary at 4 bits.
 * A constant channel (sigma = 0) maps every value to mu.
 *
 * p[] = {mu, sigma, m}.
 */
#include "mokey.h"

#include "error.h"
#include "quant.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>

#define MOKEY_SIZE_TOL 1e-10
#define MOKEY_MAX_STEPS 20000

/* int_l^h (x - c)^2 phi(x) dx for X ~ N(0,1), h may be +inf:
 * (1 + c^2)(Phi(h) - Phi(l)) - (h phi(h) - l phi(l)) + 2c(phi(h) - phi(l)). */
static double cell_sq_err(double l, double h, double c)
{
    double P = (isinf(h) ? 1.0 : gsl_cdf_ugaussian_P(h)) - gsl_cdf_ugaussian_P(l);
    double ph = isinf(h) ? 0.0 : gsl_ran_ugaussian_pdf(h);
    double pl = gsl_ran_ugaussian_pdf(l);
    double hph = isinf(h) ? 0.0 : h * ph;
    return (1.0 + c * c) * P - (hph - l * pl) + 2.0 * c * (ph - pl);
}

double dq_mokey_emse(const double *c, int m)
{
    double e = 0.0;
    for (int i = 0; i < m; i++) {
        double lo = i > 0 ? 0.5 * (c[i - 1] + c[i]) : 0.0;
        double hi = i + 1 < m ? 0.5 * (c[i] + c[i + 1]) : INFINITY;
        e += cell_sq_err(lo, hi, c[i]);
    }
    return 2.0 * e; /* both signs */
}

/* Curve from the parameters u = (ln c_0, ln(c_{m-1} - c_0), ln r). */
static void mokey_curve(const double *u, int m, dq_mokey_dict *d)
{
    double c0 = exp(u[0]), span = exp(u[1]), lr = u[2];
    double den = expm1((m - 1) * lr);
    d->m = m;
    d->r = exp(lr);
    if (fabs(den) < 1e-300) { /* r == 1: the line c_0 + span * i/(m-1) */
        d->a = d->b = NAN;
        for (int i = 0; i < m; i++) d->c[i] = c0 + span * i / (m - 1);
        return;
    }
    d->a = span / den;
    d->b = c0 - d->a;
    for (int i = 0; i < m; i++) d->c[i] = c0 + d->a * expm1(i * lr);
}

typedef struct {
    int m;
    int evals;
} mokey_ctx;

static double mokey_objective(const gsl_vector *v, void *params)
{
    mokey_ctx *ctx = params;
    dq_mokey_dict d;
    double u[3] = {gsl_vector_get(v, 0), gsl_vector_get(v, 1),
                   gsl_vector_get(v, 2)};
    ctx->evals++;
    if (fabs(u[0]) > 50 || fabs(u[1]) > 50 || fabs(u[2]) > 50) return 1e300;
    mokey_curve(u, ctx->m, &d);
    return dq_mokey_emse(d.c, ctx->m);
}

static int mokey_fit(int m, dq_mokey_dict *d)
{
    d->m = m;
    if (m == 1) {
        d->a = d->c[0] = sqrt(2.0 / M_PI);
        d->r = 1.0;
        d->b = 0.0;
        d->emse = dq_mokey_emse(d->c, 1);
        d->evals = 1;
        return DQ_OK;
    }
    /* Start: the ends at the Gaussian quantiles of the first and last of
     * 2m equal-probability cells, ratio 1 + 1/m. */
    double q0 = gsl_cdf_ugaussian_Pinv(0.5 + 0.25 / m);
    double q1 = gsl_cdf_ugaussian_Pinv(1.0 - 0.25 / m);
    mokey_ctx ctx = {m, 0};
    gsl_multimin_function f = {mokey_objective, 3, &ctx};
    gsl_vector *x = gsl_vector_alloc(3), *step = gsl_vector_alloc(3);
    gsl_multimin_fminimizer *s =
        gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, 3);
    if (!x || !step || !s) {
        gsl_vector_free(x);
        gsl_vector_free(step);
        if (s) gsl_multimin_fminimizer_free(s);
        return DQ_ERROR(DQ_ENOMEM, "mokey-like: out of memory for the "
                                   "dictionary fit");
    }
    gsl_vector_set(x, 0, log(q0));
    gsl_vector_set(x, 1, log(q1 - q0));
    gsl_vector_set(x, 2, log1p(1.0 / m));
    gsl_vector_set_all(step, 0.25);
    /* The objective is finite everywhere, so GSL reports no error. */
    int st = gsl_multimin_fminimizer_set(s, &f, x, step);
    for (int k = 0; st == GSL_SUCCESS && k < MOKEY_MAX_STEPS; k++) {
        if (gsl_multimin_fminimizer_iterate(s) != GSL_SUCCESS) break;
        if (gsl_multimin_test_size(gsl_multimin_fminimizer_size(s),
                                   MOKEY_SIZE_TOL) == GSL_SUCCESS)
            break;
    }
    double u[3] = {gsl_vector_get(s->x, 0), gsl_vector_get(s->x, 1),
                   gsl_vector_get(s->x, 2)};
    gsl_multimin_fminimizer_free(s);
    gsl_vector_free(x);
    gsl_vector_free(step);
    if (st != GSL_SUCCESS)
        return DQ_ERROR(DQ_EINVAL, "mokey-like: dictionary fit (m = %d) "
                                   "failed: %s", m, gsl_strerror(st));
    mokey_curve(u, m, d);
    d->emse = dq_mokey_emse(d->c, m);
    d->evals = ctx.evals;
    return DQ_OK;
}

/* Cache: fitted once per m, under a named critical section. */
static dq_mokey_dict mokey_cache[DQ_MOKEY_M_MAX + 1];
static int mokey_cached[DQ_MOKEY_M_MAX + 1];

int dq_mokey_dictionary(int m, dq_mokey_dict *d)
{
    if (m < 1 || m > DQ_MOKEY_M_MAX || !d)
        return DQ_ERROR(DQ_EINVAL, "mokey-like: %d levels per sign (need "
                                   "1..%d)", m, DQ_MOKEY_M_MAX);
    int st = DQ_OK;
#pragma omp critical(dq_mokey_cache)
    {
        if (!mokey_cached[m]) {
            st = mokey_fit(m, &mokey_cache[m]);
            mokey_cached[m] = st == DQ_OK;
        }
        if (st == DQ_OK) *d = mokey_cache[m];
    }
    return st;
}

static int mokey_calibrate(const float *x, int64_t n, const dq_quant_opts *o,
                           dq_qchan *c)
{
    (void)o;
    int m = (1 << (c->bits - 1)) - c->zero_code;
    if (m < 1) m = 1;
    dq_mokey_dict d;
    DQ_TRY(dq_mokey_dictionary(m, &d));

    double sum = 0.0, sq = 0.0; /* two passes: mean, then the spread */
    for (int64_t i = 0; i < n; i++) sum += x[i];
    double mu = sum / (double)n;
    for (int64_t i = 0; i < n; i++) sq += ((double)x[i] - mu) * ((double)x[i] - mu);
    double sigma = sqrt(sq / (double)n);

    double lev[DQ_CB_MAX];
    int K = 0;
    for (int i = m - 1; i >= 0; i--) lev[K++] = mu - sigma * d.c[i];
    for (int i = 0; i < m; i++) lev[K++] = mu + sigma * d.c[i];
    if (c->zero_code) lev[K++] = 0.0;
    c->p[0] = mu;
    c->p[1] = sigma;
    c->p[2] = m;
    DQ_TRY(dq_qchan_cb_alloc(c));
    return dq_codebook_table(c->cb, c->bits, lev, K);
}

static void mokey_describe(const dq_qchan *c, char *buf, size_t len)
{
    dq_mokey_dict d;
    int m = (int)c->p[2];
    if (dq_mokey_dictionary(m, &d) != DQ_OK) d.a = d.r = d.b = NAN;
    snprintf(buf, len,
             "Mokey-like mean=%.6g std=%.6g dict=+-(a*r^i+b), i<%d, a=%.5g "
             "r=%.5g b=%.5g%s",
             c->p[0], c->p[1], m, d.a, d.r, d.b, c->zero_code ? " + zero" : "");
}

static const char *const mokey_param_names[] = {"mean", "std", "m", NULL};

const dq_quant_scheme dq_scheme_mokey = {
    .name = "mokey-like",
    .label = "Mokey-like",
    .param_names = mokey_param_names,
    .flags = DQ_QS_ELEMENTWISE,
    .calibrate = mokey_calibrate,
    .encode = dq_qchan_cb_encode,
    .decode = dq_qchan_cb_decode,
    .fake = dq_qchan_cb_fake,
    .levels = dq_qchan_cb_levels,
    .describe = mokey_describe,
};
