/*
 * apot.c — Additive Powers-of-Two quantization (Li, Dong & Wang, ICLR
 * 2020), the "apot" scheme (DESIGN §2).
 *
 * Levels.  build_power_value(B) in the authors' code forms every sum
 * a + b + c of one term from each of up to three addend sets of powers of
 * two (each set includes 0) and divides by the largest sum:
 *
 *     B=2: a in {0, 2^-1, 2^-2, 2^-3}                       -> 4 levels
 *     B=3: a in {0, 2^-1, 2^-2, 2^-4}, b in {0, 2^-3}       -> 8
 *     B=4: a in {0, 2^-1, 2^-3, 2^-5}, b in {0, 2^-2, 2^-4, 2^-6}  -> 16
 *     B=5: a in {0, 2^-1, 2^-3, 2^-6}, b in {0, 2^-2, 2^-4, 2^-7},
 *          c in {0, 2^-5}                                   -> 32
 *
 * All terms are distinct powers of two, so the sums are distinct and the
 * normalised set has exactly 2^B values from 0 to 1 (dq_apot_build).
 *
 * Quantizer.  Q(x) = sign(x) * alpha * nearest(v, min(|x| / alpha, 1)),
 * nearest by linear midpoints (the authors' power_quant).  A b-bit signed
 * tensor (weights) uses B = b - 1 plus a sign bit; a b-bit unsigned tensor
 * (activations) uses B = b.  So APoT exists for 3..6-bit signed and
 * 2..5-bit unsigned tensors; other widths are DQ_EUNSUP.  The set always
 * contains 0, so the zero code is always on (opts->zero_code is ignored).
 *
 * alpha.  The authors learn alpha by training; here it is searched post
 * training to minimise opts->objective (RMAE by default) on the log |x|
 * histogram (opts->exact: on every element): a grid of APOT_GRID values
 * log-spaced over [max|x| / 64, max|x|], then golden-section search in ln
 * alpha between the grid neighbours of the best point, down to
 * APOT_TOL.  The best alpha ever evaluated wins; ties keep the earlier one.
 *
 * p[] = {alpha, B}.  The level table is a shared SIGNMAG codebook.
 */
#include "apot.h"

#include "error.h"
#include "quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define APOT_GRID 64
#define APOT_RANGE 64.0 /* grid from max|x| / APOT_RANGE to max|x| */
#define APOT_TOL 1e-4   /* golden-section stop, on ln alpha */

/* Non-zero addends of build_power_value(B, additive=True) as -log2(term),
 * per addend set a, b, c; 0 ends a list. */
static const int apot_terms[4][3][4] = {
    /* B=2 */ {{1, 2, 3, 0}, {0}, {0}},
    /* B=3 */ {{1, 2, 4, 0}, {3, 0}, {0}},
    /* B=4 */ {{1, 3, 5, 0}, {2, 4, 6, 0}, {0}},
    /* B=5 */ {{1, 3, 6, 0}, {2, 4, 7, 0}, {5, 0}},
};

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* One addend set with its 0 term: returns the count. */
static int apot_addends(int B, int set, double *t)
{
    int m = 0;
    t[m++] = 0.0;
    for (int i = 0; i < 4 && apot_terms[B - 2][set][i]; i++)
        t[m++] = ldexp(1.0, -apot_terms[B - 2][set][i]);
    return m;
}

int dq_apot_build(int B, double *v)
{
    if (B < DQ_APOT_B_MIN || B > DQ_APOT_B_MAX) {
        DQ_ERROR(DQ_EUNSUP,
                 "apot: no level set for B = %d (build_power_value has "
                 "B = %d..%d: 3..6-bit signed or 2..5-bit unsigned tensors)",
                 B, DQ_APOT_B_MIN, DQ_APOT_B_MAX);
        return -1;
    }
    double a[5], b[5], c[5];
    int na = apot_addends(B, 0, a), nb = apot_addends(B, 1, b),
        nc = apot_addends(B, 2, c);
    int m = 0;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            for (int k = 0; k < nc; k++) v[m++] = a[i] + b[j] + c[k];
    qsort(v, (size_t)m, sizeof *v, cmp_double);
    int u = 0; /* set(): drop repeats (none occur: distinct powers of two) */
    for (int i = 0; i < m; i++)
        if (u == 0 || v[i] != v[u - 1]) v[u++] = v[i];
    double vmax = v[u - 1];
    for (int i = 0; i < u; i++) v[i] /= vmax;
    return u;
}

/* Search state: the data, its histogram and the normalised level set. */
typedef struct {
    const float *x;
    int64_t n;
    const dq_qhist *h;
    const dq_quant_opts *o;
    int bits, is_signed, K; /* K = 2^B - 1 non-zero levels */
    const double *v;        /* v[1..K] */
    dq_codebook *cb;        /* scratch */
    double best, best_alpha;
} apot_search;

/* Codebook of alpha * v into cb. */
static int apot_codebook(dq_codebook *cb, int bits, int is_signed,
                         const double *v, int K, double alpha)
{
    double mag[DQ_CB_MAX];
    for (int k = 0; k < K; k++) mag[k] = alpha * v[k + 1];
    return dq_codebook_signmag(cb, bits, is_signed, 1, mag, K);
}

/* Objective at alpha; records the best.  Returns +inf on failure. */
static double apot_eval(apot_search *s, double alpha)
{
    if (apot_codebook(s->cb, s->bits, s->is_signed, s->v, s->K, alpha))
        return INFINITY;
    double f = s->o->exact
                   ? dq_codebook_eval_exact(s->cb, s->x, s->n, s->o->objective)
                   : dq_qhist_eval(s->h, s->cb, s->o->objective, NULL, NULL);
    if (f < s->best) {
        s->best = f;
        s->best_alpha = alpha;
    }
    return f;
}

static int apot_calibrate(const float *x, int64_t n, const dq_quant_opts *o,
                          dq_qchan *c)
{
    int B = c->bits - c->is_signed;
    if (B < DQ_APOT_B_MIN || B > DQ_APOT_B_MAX)
        return DQ_ERROR(DQ_EUNSUP,
                        "a %d-bit %s tensor needs B = %d, but APoT level "
                        "sets exist for B = %d..%d only (3..6-bit signed, "
                        "2..5-bit unsigned tensors)",
                        c->bits, c->is_signed ? "signed" : "unsigned", B,
                        DQ_APOT_B_MIN, DQ_APOT_B_MAX);
    double v[1 << DQ_APOT_B_MAX];
    int nv = dq_apot_build(B, v);
    if (nv < 0) return dq_error_status();
    c->zero_code = 1;

    double amax = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double a = c->is_signed ? fabs((double)x[i]) : (double)x[i];
        if (a > amax) amax = a;
    }
    DQ_TRY(dq_qchan_cb_alloc(c));
    if (amax <= 0.0) { /* unsigned view with no positive value: Q == 0 */
        c->p[0] = 1.0;
        c->p[1] = B;
        return apot_codebook(c->cb, c->bits, c->is_signed, v, nv - 1, 1.0);
    }

    dq_qhist *h = NULL;
    if (!o->exact) {
        h = dq_qhist_alloc(x, n, c->is_signed, o->hist_bins);
        if (!h) return dq_error_status();
    }
    dq_codebook scratch;
    apot_search s = {x, n, h, o, c->bits, c->is_signed, nv - 1, v, &scratch,
                     INFINITY, amax};

    /* Grid, log-spaced and ascending. */
    double lo = log(amax / APOT_RANGE), hi = log(amax);
    double step = (hi - lo) / (APOT_GRID - 1);
    int ibest = 0;
    double fbest = INFINITY;
    for (int i = 0; i < APOT_GRID; i++) {
        double f = apot_eval(&s, exp(i == APOT_GRID - 1 ? hi : lo + i * step));
        if (f < fbest) {
            fbest = f;
            ibest = i;
        }
    }
    /* Golden section in ln alpha over the best point's grid neighbours. */
    const double g = 0.5 * (sqrt(5.0) - 1.0);
    double a = lo + (ibest > 0 ? ibest - 1 : 0) * step;
    double b = ibest < APOT_GRID - 1 ? lo + (ibest + 1) * step : hi;
    double u = b - g * (b - a), w = a + g * (b - a);
    double fu = apot_eval(&s, exp(u)), fw = apot_eval(&s, exp(w));
    while (b - a > APOT_TOL) {
        if (fu <= fw) {
            b = w;
            w = u;
            fw = fu;
            u = b - g * (b - a);
            fu = apot_eval(&s, exp(u));
        } else {
            a = u;
            u = w;
            fu = fw;
            w = a + g * (b - a);
            fw = apot_eval(&s, exp(w));
        }
    }
    dq_qhist_free(h);
    if (!isfinite(s.best))
        return DQ_ERROR(DQ_EINVAL, "apot: alpha search found no finite "
                                   "objective");

    c->p[0] = s.best_alpha;
    c->p[1] = B;
    c->objective = s.best;
    return apot_codebook(c->cb, c->bits, c->is_signed, v, nv - 1,
                         s.best_alpha);
}

static void apot_describe(const dq_qchan *c, char *buf, size_t len)
{
    snprintf(buf, len, "alpha=%.6g B=%d (%d levels%s)", c->p[0], (int)c->p[1],
             1 << (int)c->p[1], c->is_signed ? " x sign" : "");
}

static const char *const apot_param_names[] = {"alpha", "B", NULL};

const dq_quant_scheme dq_scheme_apot = {
    .name = "apot",
    .label = "APoT",
    .param_names = apot_param_names,
    .flags = DQ_QS_ELEMENTWISE,
    .calibrate = apot_calibrate,
    .encode = dq_qchan_cb_encode,
    .decode = dq_qchan_cb_decode,
    .fake = dq_qchan_cb_fake,
    .levels = dq_qchan_cb_levels,
    .describe = apot_describe,
};
