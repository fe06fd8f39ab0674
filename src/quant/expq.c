/*
 * expq.c — the DNA-TEQ exponential quantizer ("expq" in the registry) and
 * its parameter search (DESIGN §1.1; API and search details in expq.h).
 *
 * A tensor at n bits gets K = 2^(n-1) - zero_code (signed) or
 * 2^n - zero_code (unsigned) magnitude levels
 *
 *     level_k = alpha * base^(k - (K-1)) + beta,   k = 0 .. K-1,
 *
 * and Q(x) = sign(x) * the nearest level by linear-domain midpoints (or 0
 * when the zero code is on and 0 is nearer).  Encoding, decoding and fake
 * quantization are the shared codebook's (codebook.c).
 *
 * The search evaluates candidates on the log-spaced |x| histogram
 * (hist.c, O(bins + K) per candidate) or, with opts->exact, on every
 * element (the straightforward reference the benchmark compares with).
 * Every step is sequential and deterministic; parallelism is over jobs
 * (dq_expq_search_batch), so results do not depend on the thread count.
 */
#include "expq.h"

#include "error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_BASE, P_ALPHA, P_BETA, P_K };

static const char *const expq_params[] = {"base", "alpha", "beta", "K", NULL};

#define BASE_MIN 1.001           /* lower end of the base grid */
#define GOLDEN 0.6180339887498949

static int expq_K(int bits, int is_signed, int zero_code)
{
    return (1 << (bits - (is_signed ? 1 : 0))) - (zero_code ? 1 : 0);
}

int dq_expq_codebook(const dq_expq_fit *f, dq_codebook *cb)
{
    double mag[DQ_CB_MAX];
    int K = f->K;
    if (K < 1 || K > DQ_CB_MAX)
        return DQ_ERROR(DQ_EINVAL, "expq: K = %d outside 1..%d", K, DQ_CB_MAX);
    for (int k = 0; k < K; k++)
        mag[k] = f->alpha * pow(f->base, (double)(k - (K - 1))) + f->beta;
    return dq_codebook_signmag(cb, f->bits, f->is_signed, f->zero_code, mag,
                               K);
}

/* ---- objective evaluation: histogram or every element ---------------------- */

typedef struct {
    const dq_qhist *h;  /* always present (KL, and the magnitude range) */
    const float *x;     /* exact mode: the elements, else NULL */
    int64_t n;
    int is_signed;
    dq_objective obj;
} evaluator;

/* Objective of codebook cb; cnt_k/s1_k receive the count and sum of the
 * magnitudes assigned to each level (for least squares). */
static double ev_eval(const evaluator *ev, const dq_codebook *cb,
                      double *cnt_k, double *s1_k)
{
    if (!ev->x || ev->obj == DQ_OBJ_KL)
        return dq_qhist_eval(ev->h, cb, ev->obj, cnt_k, s1_k);
    memset(cnt_k, 0, sizeof(double) * (size_t)cb->K);
    memset(s1_k, 0, sizeof(double) * (size_t)cb->K);
    double e1 = 0, e2 = 0, sa = 0;
    int32_t mask = cb->is_signed ? (int32_t)(1u << (cb->bits - 1)) - 1 : -1;
    for (int64_t i = 0; i < ev->n; i++) {
        float xv = ev->x[i];
        int32_t code = dq_codebook_encode1(cb, xv);
        double q = (double)dq_codebook_decode1(cb, code);
        double d = (double)xv - q;
        e1 += fabs(d);
        e2 += d * d;
        sa += fabs((double)xv);
        int k = (code & mask) - cb->zero_code;
        if (k >= 0) {
            cnt_k[k] += 1;
            s1_k[k] += ev->is_signed ? fabs((double)xv) : (double)xv;
        }
    }
    if (ev->obj == DQ_OBJ_MSE) return e2 / (double)ev->n;
    if (sa == 0) return e1 == 0 ? 0.0 : INFINITY;
    return e1 / sa;
}

/* k-th smallest of v[0..n) (v is reordered). */
static double select_kth(double *v, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double piv = v[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < piv) i++;
            while (v[j] > piv) j--;
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return v[k];
}

/* Count and median of the magnitudes each level gets (levels without
 * elements keep their value as median). */
static int ev_medians(const evaluator *ev, const dq_codebook *cb,
                      double *cnt_k, double *med_k)
{
    for (int k = 0; k < cb->K; k++) {
        cnt_k[k] = 0;
        med_k[k] = cb->lev[k];
    }
    if (!ev->x) return dq_qhist_medians(ev->h, cb, cnt_k, med_k);
    /* every element: group the magnitudes by level, select the median */
    double *a = malloc(sizeof(double) * (size_t)ev->n);
    int32_t *lv = malloc(sizeof(int32_t) * (size_t)ev->n);
    int64_t start[DQ_CB_MAX + 1] = {0};
    if (!a || !lv) {
        free(a);
        free(lv);
        return DQ_ERROR(DQ_ENOMEM, "expq: out of memory");
    }
    int32_t mask = cb->is_signed ? (int32_t)(1u << (cb->bits - 1)) - 1 : -1;
    for (int64_t i = 0; i < ev->n; i++) {
        lv[i] = (dq_codebook_encode1(cb, ev->x[i]) & mask) - cb->zero_code;
        if (lv[i] >= 0) start[lv[i] + 1]++;
    }
    for (int k = 0; k < cb->K; k++) {
        cnt_k[k] = (double)start[k + 1];
        start[k + 1] += start[k];
    }
    int64_t pos[DQ_CB_MAX];
    for (int k = 0; k < cb->K; k++) pos[k] = start[k];
    for (int64_t i = 0; i < ev->n; i++) {
        if (lv[i] < 0) continue;
        float xv = ev->x[i];
        a[pos[lv[i]]++] = ev->is_signed ? fabs((double)xv)
                                        : (xv > 0 ? (double)xv : 0.0);
    }
    for (int k = 0; k < cb->K; k++) {
        int64_t m = start[k + 1] - start[k];
        if (m > 0) med_k[k] = select_kth(a + start[k], m, (m - 1) / 2);
    }
    free(a);
    free(lv);
    return DQ_OK;
}

/* ---- alpha, beta for one base -------------------------------------------- */

/* Objective of (alpha, beta) at f->base; INFINITY if the levels are not
 * valid (alpha <= 0, level_0 <= 0, non-finite). */
static double eval_ab(const evaluator *ev, dq_expq_fit *f, double alpha,
                      double beta, dq_codebook *cb, double *cnt_k,
                      double *s1_k)
{
    f->alpha = alpha;
    f->beta = beta;
    if (!(alpha > 0) || !isfinite(alpha) || !isfinite(beta)) return INFINITY;
    if (!(alpha * pow(f->base, -(double)(f->K - 1)) + beta > 0)) return INFINITY;
    if (dq_expq_codebook(f, cb) != DQ_OK) return INFINITY;
    return ev_eval(ev, cb, cnt_k, s1_k);
}

/* Levels are an affine image of u_k = base^(k-(K-1)): with the bottom
 * level L0 = alpha u_0 + beta and the top level T = alpha + beta,
 * alpha = (T - L0) / (1 - u_0) and beta = T - alpha.  (L0, T) is the
 * well-conditioned pair to search: both are magnitudes of the data. */
static void ab_of(double L0, double T, double u0, double *alpha, double *beta)
{
    *alpha = (T - L0) / (1 - u0);
    *beta = T - *alpha;
}

static double fit_ab(const evaluator *ev, int bits, int is_signed,
                     int zero_code, double base, const dq_quant_opts *o,
                     int refine, dq_expq_fit *fit)
{
    int K = expq_K(bits, is_signed, zero_code);
    dq_expq_fit f = {.bits = bits,
                     .is_signed = is_signed,
                     .zero_code = zero_code,
                     .K = K,
                     .base = base};
    double hi = ev->h->hi;
    double best = INFINITY, ba = hi, bb = 0;
    dq_codebook cb;
    double cnt[DQ_CB_MAX], s1[DQ_CB_MAX], u[DQ_CB_MAX];
    for (int k = 0; k < K; k++) u[k] = pow(base, (double)(k - (K - 1)));

    if (o->ab_mode == DQ_AB_CLOSED) {
        /* Lloyd: assign to the nearest level, then least squares for
         * (alpha, beta) over the assigned elements; keep the best seen. */
        double alpha = hi, beta = 0;
        for (int it = 0; it < o->lloyd_iters; it++) {
            double obj = eval_ab(ev, &f, alpha, beta, &cb, cnt, s1);
            if (!isfinite(obj)) break;
            if (obj < best) {
                best = obj;
                ba = alpha;
                bb = beta;
            }
            double A = 0, B = 0, C = 0, D = 0, E = 0;
            for (int k = 0; k < K; k++) {
                A += cnt[k] * u[k] * u[k];
                B += cnt[k] * u[k];
                C += cnt[k];
                D += s1[k] * u[k];
                E += s1[k];
            }
            double na, nb;
            double det = A * C - B * B;
            if (K == 1 || !(det > 1e-12 * A * C)) {
                nb = 0; /* one level in use: scale only */
                na = A > 0 ? D / A : alpha;
            } else {
                na = (D * C - B * E) / det;
                nb = (A * E - B * D) / det;
            }
            /* keep level_0 > 0: otherwise least squares with level_0 pinned
             * just above 0 (beta = -alpha u_0 (1 - 1e-6)) */
            if (!(na > 0) || !(na * u[0] + nb > 1e-9 * na)) {
                double r = u[0] * (1 - 1e-6), num = 0, den = 0;
                for (int k = 0; k < K; k++) {
                    double w = u[k] - r;
                    num += s1[k] * w;
                    den += cnt[k] * w * w;
                }
                if (!(den > 0) || !(num > 0)) break;
                na = num / den;
                nb = -na * r;
            }
            if (fabs(na - alpha) <= 1e-12 * fabs(alpha) &&
                fabs(nb - beta) <= 1e-12 * fabs(alpha))
                break; /* converged */
            alpha = na;
            beta = nb;
        }
        /* RMAE: Lloyd again, for L1 — each level's target is its cell's
         * median, weighted by the cell's mean density (count / width), the
         * curvature of the cell's L1 cost at its median. */
        if (o->objective == DQ_OBJ_RMAE && isfinite(best) && K > 1) {
            alpha = ba;
            beta = bb;
            double med[DQ_CB_MAX], lastobj = INFINITY;
            for (int it = 0; it < o->lloyd_iters; it++) {
                double obj = eval_ab(ev, &f, alpha, beta, &cb, cnt, s1);
                if (!isfinite(obj)) break;
                if (obj < best) {
                    best = obj;
                    ba = alpha;
                    bb = beta;
                }
                if (!(obj < lastobj * (1 - 1e-9))) break; /* no progress */
                lastobj = obj;
                if (ev_medians(ev, &cb, cnt, med) != DQ_OK) break;
                double A = 0, B = 0, C = 0, D = 0, E = 0;
                for (int k = 0; k < K; k++) {
                    double lo = k > 0 ? cb.thr[k - 1]
                                      : (cb.zero_code ? cb.thr0 : 0.0);
                    double wd = k < K - 1 ? cb.thr[k] - lo
                                          : 2 * (cb.lev[k] - lo);
                    if (!(wd > 0) || cnt[k] <= 0) continue;
                    double om = cnt[k] / wd;
                    A += om * u[k] * u[k];
                    B += om * u[k];
                    C += om;
                    D += om * med[k] * u[k];
                    E += om * med[k];
                }
                double det = A * C - B * B;
                if (!(det > 1e-12 * A * C)) break;
                double na = (D * C - B * E) / det, nb = (A * E - B * D) / det;
                if (!(na > 0) || !(na * u[0] + nb > 0)) break;
                alpha = na;
                beta = nb;
            }
        }
        /* Least squares is MSE's optimum, not RMAE's (nor KL's): polish
         * with a compass search on (ln L0, ln T), steps halving when no
         * move helps. */
        if (refine > 0 && isfinite(best) && o->objective != DQ_OBJ_MSE) {
            double lT = log(ba + bb);
            double l0 = K > 1 ? log(ba * u[0] + bb) : lT;
            double sT = 0.05, s0 = K > 1 ? 0.5 : 0;
            int evals = 0;
            while (evals < refine && sT > 1e-5) {
                int moved = 0;
                for (int d = 0; d < 4 && evals < refine; d++) {
                    if (K == 1 && d >= 2) break;
                    double nT = lT + (d == 0 ? sT : d == 1 ? -sT : 0);
                    double n0 = l0 + (d == 2 ? s0 : d == 3 ? -s0 : 0);
                    if (K > 1 && !(n0 < nT)) continue;
                    double na, nb;
                    if (K > 1)
                        ab_of(exp(n0), exp(nT), u[0], &na, &nb);
                    else {
                        na = exp(nT);
                        nb = 0;
                    }
                    double obj = eval_ab(ev, &f, na, nb, &cb, cnt, s1);
                    evals++;
                    if (obj < best) {
                        best = obj;
                        ba = na;
                        bb = nb;
                        lT = nT;
                        l0 = n0;
                        moved = 1;
                    }
                }
                if (!moved) {
                    sT *= 0.5;
                    s0 *= 0.5;
                }
            }
        }
    } else {
        /* grid: top level T in (0.25, 1] * max|x| and bottom level L0 in
         * (0, T) log-spaced down to T * u_0 / 64 (K = 1: T only) */
        int G = o->ab_grid;
        for (int g = 0; g < G; g++) {
            double T = hi * (0.25 + 0.75 * (g + 1) / G);
            int nl = K == 1 ? 1 : G;
            for (int hb = 0; hb < nl; hb++) {
                double na = T, nb = 0;
                if (K > 1) {
                    /* L0 from T (just below) down to T u_0 / 64 */
                    double lo = log(T * u[0] / 64), top = log(T * (1 - 1e-9));
                    double L0 = exp(top + (lo - top) * (hb + 1) / (nl + 1));
                    ab_of(L0, T, u[0], &na, &nb);
                }
                double obj = eval_ab(ev, &f, na, nb, &cb, cnt, s1);
                if (obj < best) {
                    best = obj;
                    ba = na;
                    bb = nb;
                }
            }
        }
    }
    f.alpha = ba;
    f.beta = bb;
    f.objective = best;
    if (fit) *fit = f;
    return best;
}

double dq_expq_fit_base(const dq_qhist *h, int bits, int is_signed,
                        int zero_code, double base, const dq_quant_opts *o,
                        dq_expq_fit *fit)
{
    evaluator ev = {.h = h, .is_signed = is_signed, .obj = o->objective};
    return fit_ab(&ev, bits, is_signed, zero_code ? 1 : 0, base, o,
                  o->refine_evals, fit);
}

/* ---- base search ----------------------------------------------------------- */

/* One operand prepared for many pair searches (expq.h): its histogram
 * and its fit at every point of the base grid. */
struct dq_expq_operand {
    const float *x;         /* the data (borrowed) */
    int64_t n;
    int bits, is_signed;
    dq_quant_opts o;        /* the settings the grid was computed with */
    dq_qhist *h;
    evaluator ev;
    double *v;              /* v[g]: objective at grid base g (0: all zero) */
    dq_expq_fit *fit;       /* fit[g] */
};

/* One or two tensors sharing a base; f(t) with base = exp(exp(t)). */
typedef struct {
    const evaluator *ev[2];
    int bits[2], is_signed[2], zero_code;
    int m;                 /* 1 or 2 tensors */
    const dq_quant_opts *o;
    int refine;            /* compass-search budget of fit_ab */
    /* the operands' precomputed grid fits (pair searches), or NULL */
    const dq_expq_operand *grid[2];
} problem;

/* Operand i's fit at base: its objective, or 0 for an all-zero operand
 * (Q == 0, no error). */
static double operand_eval(const problem *p, int i, double base,
                           dq_expq_fit *fit)
{
    if (p->ev[i]->h->hi == 0) {
        dq_expq_fit z = {.bits = p->bits[i],
                         .is_signed = p->is_signed[i],
                         .zero_code = p->zero_code,
                         .K = expq_K(p->bits[i], p->is_signed[i],
                                     p->zero_code),
                         .base = base,
                         .zero = 1};
        *fit = z;
        return 0;
    }
    return fit_ab(p->ev[i], p->bits[i], p->is_signed[i], p->zero_code, base,
                  p->o, p->refine, fit);
}

static double prob_eval(const problem *p, double base, dq_expq_fit *fits)
{
    double s = 0;
    for (int i = 0; i < p->m; i++) s += operand_eval(p, i, base, &fits[i]);
    return s;
}

/* base = exp(exp(t)), kept inside [BASE_MIN, base_max] despite rounding */
static double tbase(double t, const dq_quant_opts *o)
{
    double b = exp(exp(t));
    if (b > o->base_max) b = o->base_max;
    if (b < BASE_MIN) b = BASE_MIN;
    return b;
}

/* Base of grid point g (of o->base_grid, uniform in ln(ln base)). */
static double grid_base(int g, const dq_quant_opts *o)
{
    double t_lo = log(log(BASE_MIN)), t_hi = log(log(o->base_max));
    int G = o->base_grid;
    return tbase(t_lo + (t_hi - t_lo) * g / (G - 1), o);
}

/* prob_eval at grid point g, from the operands' precomputed fits when the
 * problem has them. */
static double grid_eval(const problem *p, int g, dq_expq_fit *fits)
{
    if (!p->grid[0]) return prob_eval(p, grid_base(g, p->o), fits);
    double s = 0;
    for (int i = 0; i < p->m; i++) {
        fits[i] = p->grid[i]->fit[g];
        s += p->grid[i]->v[g];
    }
    return s;
}

static void search_base(const problem *p, dq_expq_fit *out)
{
    const dq_quant_opts *o = p->o;
    dq_expq_fit cur[2], best[2];
    int base_free = 0;
    for (int i = 0; i < p->m; i++)
        base_free |= expq_K(p->bits[i], p->is_signed[i], p->zero_code) > 1 &&
                     p->ev[i]->h->hi > 0;
    double t_lo = log(log(BASE_MIN)), t_hi = log(log(o->base_max));
    if (o->fixed_base > 1 || !base_free) {
        double base = o->fixed_base > 1 ? o->fixed_base : tbase(t_lo, o);
        problem deep = *p;
        deep.refine = 16 * o->refine_evals;
        prob_eval(&deep, base, best);
        memcpy(out, best, sizeof(dq_expq_fit) * (size_t)p->m);
        return;
    }
    /* grid, uniform in ln(ln base); ties keep the smaller base */
    int G = o->base_grid;
    double fbest = INFINITY, *fg = malloc(sizeof(double) * (size_t)G);
    for (int g = 0; g < G; g++) {
        double v = grid_eval(p, g, cur);
        if (fg) fg[g] = v;
        if (v < fbest) {
            fbest = v;
            memcpy(best, cur, sizeof(dq_expq_fit) * (size_t)p->m);
        }
    }
    /* The objective against the base is not unimodal at fine scale:
     * golden-section search in the brackets of the NBRACKET lowest local
     * minima of the grid (ties: the smaller base first). */
    enum { NBRACKET = 3 };
    int gsel[NBRACKET] = {0}, nsel = 0;
    for (int r = 0; r < NBRACKET && fg; r++) {
        int gb = -1;
        for (int g = 0; g < G; g++) {
            int used = 0;
            for (int q = 0; q < nsel; q++) used |= gsel[q] == g;
            int locmin = (g == 0 || fg[g] <= fg[g - 1]) &&
                         (g == G - 1 || fg[g] <= fg[g + 1]);
            if (!used && locmin && isfinite(fg[g]) && (gb < 0 || fg[g] < fg[gb]))
                gb = g;
        }
        if (gb < 0) break;
        gsel[nsel++] = gb;
    }
    free(fg);
    for (int q = 0; q < nsel; q++) {
        int gbest = gsel[q];
        double a = t_lo + (t_hi - t_lo) * (gbest > 0 ? gbest - 1 : 0) / (G - 1);
        double b = t_lo + (t_hi - t_lo) * (gbest < G - 1 ? gbest + 1 : G - 1) /
                              (G - 1);
        double c = b - GOLDEN * (b - a), d = a + GOLDEN * (b - a);
        dq_expq_fit fc[2], fd[2];
        double vc = prob_eval(p, tbase(c, o), fc);
        double vd = prob_eval(p, tbase(d, o), fd);
        while (b - a > o->base_tol) {
            if (vc <= vd) {
                if (vc < fbest) {
                    fbest = vc;
                    memcpy(best, fc, sizeof(dq_expq_fit) * (size_t)p->m);
                }
                b = d;
                d = c;
                vd = vc;
                memcpy(fd, fc, sizeof fd);
                c = b - GOLDEN * (b - a);
                vc = prob_eval(p, tbase(c, o), fc);
            } else {
                if (vd < fbest) {
                    fbest = vd;
                    memcpy(best, fd, sizeof(dq_expq_fit) * (size_t)p->m);
                }
                a = c;
                c = d;
                vc = vd;
                memcpy(fc, fd, sizeof fc);
                d = a + GOLDEN * (b - a);
                vd = prob_eval(p, tbase(d, o), fd);
            }
        }
        if (vc < fbest) {
            fbest = vc;
            memcpy(best, fc, sizeof(dq_expq_fit) * (size_t)p->m);
        }
        if (vd < fbest) {
            fbest = vd;
            memcpy(best, fd, sizeof(dq_expq_fit) * (size_t)p->m);
        }
    }
    /* a deeper polish of alpha, beta at the chosen base: the same steps,
     * continued, so it can only improve */
    if (o->refine_evals > 0) {
        problem deep = *p;
        deep.refine = 16 * o->refine_evals;
        double v = prob_eval(&deep, best[0].base, cur);
        if (v < fbest) memcpy(best, cur, sizeof(dq_expq_fit) * (size_t)p->m);
    }
    memcpy(out, best, sizeof(dq_expq_fit) * (size_t)p->m);
}

/* ---- public search API -------------------------------------------------- */

static int check_input(const char *what, const float *x, int64_t n, int bits)
{
    if (bits < DQ_QBITS_MIN || bits > DQ_QBITS_MAX)
        return DQ_ERROR(DQ_EINVAL, "expq: %s: bits = %d, expected %d..%d",
                        what, bits, DQ_QBITS_MIN, DQ_QBITS_MAX);
    if (!x || n <= 0)
        return DQ_ERROR(DQ_EINVAL, "expq: %s: empty tensor", what);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return DQ_ERROR(DQ_EINVAL, "expq: %s: element %lld is %s", what,
                            (long long)i,
                            isnan(x[i]) ? "NaN" : x[i] > 0 ? "+Inf" : "-Inf");
    return DQ_OK;
}

static int auto_sign(const float *x, int64_t n, int is_signed)
{
    if (is_signed >= 0) return is_signed ? 1 : 0;
    for (int64_t i = 0; i < n; i++)
        if (x[i] < 0) return 1;
    return 0;
}

int dq_expq_search(const float *x, int64_t n, int bits, int is_signed,
                   const dq_quant_opts *o, dq_expq_fit *fit)
{
    dq_quant_opts def;
    if (!o) {
        dq_quant_opts_default(&def);
        o = &def;
    }
    if (!fit) return DQ_ERROR(DQ_EINVAL, "expq: NULL result");
    DQ_TRY(dq_quant_opts_check(o));
    DQ_TRY(check_input("tensor", x, n, bits));
    is_signed = auto_sign(x, n, is_signed);
    dq_qhist *h = dq_qhist_alloc(x, n, is_signed, o->hist_bins);
    if (!h) return dq_error_status();
    evaluator ev = {.h = h,
                    .x = o->exact ? x : NULL,
                    .n = n,
                    .is_signed = is_signed,
                    .obj = o->objective};
    problem p = {.ev = {&ev, NULL},
                 .bits = {bits, 0},
                 .is_signed = {is_signed, 0},
                 .zero_code = o->zero_code ? 1 : 0,
                 .m = 1,
                 .o = o,
                 .refine = o->refine_evals};
    search_base(&p, fit);
    dq_qhist_free(h);
    return DQ_OK;
}

void dq_expq_operand_free(dq_expq_operand *p)
{
    if (!p) return;
    dq_qhist_free(p->h);
    free(p->v);
    free(p->fit);
    free(p);
}

dq_expq_operand *dq_expq_operand_alloc(const float *x, int64_t n, int bits,
                                       int is_signed, const dq_quant_opts *o)
{
    dq_quant_opts def;
    if (!o) {
        dq_quant_opts_default(&def);
        o = &def;
    }
    if (dq_quant_opts_check(o) != DQ_OK ||
        check_input("operand", x, n, bits) != DQ_OK)
        return NULL;
    dq_expq_operand *p = calloc(1, sizeof *p);
    if (!p) DQ_ERROR_NULL(DQ_ENOMEM, "expq: out of memory");
    p->x = x;
    p->n = n;
    p->bits = bits;
    p->is_signed = auto_sign(x, n, is_signed);
    p->o = *o;
    p->h = dq_qhist_alloc(x, n, p->is_signed, o->hist_bins);
    p->v = malloc(sizeof(double) * (size_t)o->base_grid);
    p->fit = malloc(sizeof(dq_expq_fit) * (size_t)o->base_grid);
    if (!p->h || !p->v || !p->fit) {
        int rc = p->h ? DQ_ENOMEM : dq_error_status();
        dq_expq_operand_free(p); /* exception in constructor, avoid leak */
        DQ_ERROR_NULL(rc, "expq: %s", rc == DQ_ENOMEM ? "out of memory"
                                                       : dq_error_message());
    }
    p->ev = (evaluator){.h = p->h, .x = o->exact ? x : NULL, .n = n,
                        .is_signed = p->is_signed, .obj = o->objective};
    problem one = {.ev = {&p->ev, NULL},
                   .bits = {bits, 0},
                   .is_signed = {p->is_signed, 0},
                   .zero_code = o->zero_code ? 1 : 0,
                   .m = 1,
                   .o = o,
                   .refine = o->refine_evals};
    for (int g = 0; g < o->base_grid; g++)
        p->v[g] = operand_eval(&one, 0, grid_base(g, o), &p->fit[g]);
    return p;
}

/* The grid fits of an operand prepared with options a hold for a pair
 * searched with options b when every setting they depend on is equal. */
static int grid_compatible(const dq_quant_opts *a, const dq_quant_opts *b)
{
    return (a->zero_code != 0) == (b->zero_code != 0) &&
           a->objective == b->objective && a->hist_bins == b->hist_bins &&
           a->base_max == b->base_max && a->base_grid == b->base_grid &&
           a->ab_mode == b->ab_mode && a->lloyd_iters == b->lloyd_iters &&
           a->refine_evals == b->refine_evals && a->ab_grid == b->ab_grid &&
           (a->exact != 0) == (b->exact != 0);
}

int dq_expq_search_prepared(const dq_expq_operand *w,
                            const dq_expq_operand *a, const dq_quant_opts *o,
                            dq_expq_fit *fw, dq_expq_fit *fa)
{
    dq_quant_opts def;
    if (!o) {
        dq_quant_opts_default(&def);
        o = &def;
    }
    if (!w || !a || !fw || !fa)
        return DQ_ERROR(DQ_EINVAL, "expq: NULL operand or result");
    DQ_TRY(dq_quant_opts_check(o));
    /* an operand prepared with other search settings is prepared again */
    const dq_expq_operand *op[2] = {w, a};
    dq_expq_operand *own[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        if (grid_compatible(&op[i]->o, o)) continue;
        own[i] = dq_expq_operand_alloc(op[i]->x, op[i]->n, op[i]->bits,
                                       op[i]->is_signed, o);
        if (!own[i]) {
            dq_expq_operand_free(own[0]);
            return dq_error_status();
        }
        op[i] = own[i];
    }
    problem p = {.ev = {&op[0]->ev, &op[1]->ev},
                 .bits = {op[0]->bits, op[1]->bits},
                 .is_signed = {op[0]->is_signed, op[1]->is_signed},
                 .zero_code = o->zero_code ? 1 : 0,
                 .m = 2,
                 .o = o,
                 .refine = o->refine_evals,
                 .grid = {op[0], op[1]}};
    dq_expq_fit out[2];
    search_base(&p, out);
    *fw = out[0];
    *fa = out[1];
    dq_expq_operand_free(own[0]);
    dq_expq_operand_free(own[1]);
    return DQ_OK;
}

int dq_expq_search_pair(const float *w, int64_t nw, int bits_w, int w_signed,
                        const float *a, int64_t na, int bits_a, int a_signed,
                        const dq_quant_opts *o, dq_expq_fit *fw,
                        dq_expq_fit *fa)
{
    if (!fw || !fa) return DQ_ERROR(DQ_EINVAL, "expq: NULL result");
    dq_expq_operand *pw = dq_expq_operand_alloc(w, nw, bits_w, w_signed, o);
    if (!pw) return dq_error_prefix(dq_error_status(), "expq: weights");
    dq_expq_operand *pa = dq_expq_operand_alloc(a, na, bits_a, a_signed, o);
    int rc = pa ? dq_expq_search_prepared(pw, pa, o, fw, fa)
                : dq_error_prefix(dq_error_status(), "expq: activations");
    dq_expq_operand_free(pw);
    dq_expq_operand_free(pa);
    return rc;
}

int dq_expq_search_batch(dq_expq_job *jobs, int njobs, const dq_quant_opts *o)
{
    if (njobs < 0 || (njobs > 0 && !jobs))
        return DQ_ERROR(DQ_EINVAL, "expq batch: bad job list");
#pragma omp parallel for schedule(dynamic, 1)
    for (int j = 0; j < njobs; j++) {
        dq_expq_job *jb = &jobs[j];
        int st;
        if (jb->partner)
            st = dq_expq_search_pair(jb->x, jb->n, jb->bits, jb->is_signed,
                                     jb->partner, jb->partner_n,
                                     jb->partner_bits, jb->partner_signed, o,
                                     &jb->fit, &jb->partner_fit);
        else
            st = dq_expq_search(jb->x, jb->n, jb->bits, jb->is_signed, o,
                                &jb->fit);
        jb->status = st;
        if (st != DQ_OK)
            snprintf(jb->message, sizeof jb->message, "%s", dq_error_message());
        else
            jb->message[0] = '\0';
    }
    for (int j = 0; j < njobs; j++)
        if (jobs[j].status != DQ_OK)
            return DQ_ERROR(jobs[j].status, "expq batch: job %d: %s", j,
                            jobs[j].message);
    return DQ_OK;
}

/* ---- the scheme ------------------------------------------------------------- */

static int expq_calibrate(const float *x, int64_t n, const dq_quant_opts *o,
                          dq_qchan *c)
{
    dq_expq_fit f;
    DQ_TRY(dq_expq_search(x, n, c->bits, c->is_signed, o, &f));
    c->p[P_BASE] = f.base;
    c->p[P_ALPHA] = f.alpha;
    c->p[P_BETA] = f.beta;
    c->p[P_K] = f.K;
    c->objective = f.objective;
    DQ_TRY(dq_qchan_cb_alloc(c));
    return dq_expq_codebook(&f, c->cb);
}

static void expq_encode(const dq_qchan *c, const float *x, int64_t n,
                        int32_t *codes)
{
    dq_codebook_encode(c->cb, x, n, codes);
}

static void expq_decode(const dq_qchan *c, const int32_t *codes, int64_t n,
                        float *y)
{
    dq_codebook_decode(c->cb, codes, n, y);
}

static void expq_fake(const dq_qchan *c, float *x, int64_t n)
{
    dq_codebook_fake(c->cb, x, n);
}

static int expq_levels(const dq_qchan *c, double *out)
{
    return dq_codebook_levels(c->cb, out);
}

static void expq_describe(const dq_qchan *c, char *buf, size_t len)
{
    snprintf(buf, len, "base=%.9g alpha=%.9g beta=%.9g K=%d obj=%.6g",
             c->p[P_BASE], c->p[P_ALPHA], c->p[P_BETA], (int)c->p[P_K],
             c->objective);
}

/* A layer's operands share the base (DESIGN §1.1): the pair search's. */
static int expq_share(const float *x0, int64_t n0, int bits0, int signed0,
                      const float *x1, int64_t n1, int bits1, int signed1,
                      dq_quant_opts *o0, dq_quant_opts *o1)
{
    dq_expq_fit f0, f1;
    DQ_TRY(dq_expq_search_pair(x0, n0, bits0, signed0, x1, n1, bits1,
                               signed1, o0, &f0, &f1));
    o0->fixed_base = o1->fixed_base = f0.base;
    return DQ_OK;
}

static void *expq_share_prep(const float *x, int64_t n, int bits,
                             int is_signed, const dq_quant_opts *o)
{
    return dq_expq_operand_alloc(x, n, bits, is_signed, o);
}

static int expq_share_prepped(const void *p0, const void *p1,
                              dq_quant_opts *o0, dq_quant_opts *o1)
{
    dq_expq_fit f0, f1;
    DQ_TRY(dq_expq_search_prepared(p0, p1, o0, &f0, &f1));
    o0->fixed_base = o1->fixed_base = f0.base;
    return DQ_OK;
}

static void expq_share_prep_free(void *p) { dq_expq_operand_free(p); }

const dq_quant_scheme dq_scheme_expq = {
    .name = "expq",
    .label = "DNA-TEQ",
    .param_names = expq_params,
    .flags = DQ_QS_ELEMENTWISE,
    .calibrate = expq_calibrate,
    .encode = expq_encode,
    .decode = expq_decode,
    .fake = expq_fake,
    .levels = expq_levels,
    .describe = expq_describe,
    .share = expq_share,
    .share_prep = expq_share_prep,
    .share_prepped = expq_share_prepped,
    .share_prep_free = expq_share_prep_free,
};
