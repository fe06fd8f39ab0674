/*
 * hist.c — the log-spaced |x| histogram that makes parameter searches
 * cheap, and the O(bins + K) evaluation of a codebook's error on it.
 *
 * DESIGN §1.1: "Evaluate the objective on a fine histogram of |x|, not on
 * every element.  4096 log-spaced bins cost O(bins) per candidate."  The
 * expq search calls dq_qhist_eval() for every (base, alpha, beta)
 * candidate; other searched schemes (APoT's alpha, ...) can do the same.
 *
 * Layout: M = nbins + 1 bins.  Bin 0 is the underflow bin [0, lo); bins
 * 1..nbins are log-spaced with edge[i] = lo * exp((i-1) * dl) and
 * edge[M] = hi = max|x|.  Every bin keeps its exact count, sum |x| and sum
 * x^2, min and max.  A bin of up to four elements is therefore known
 * exactly (min, max, and the one or two others from the remaining sums),
 * and its error is exact.  In a larger bin, min and max are exact points
 * and the other elements, if they fall wholly inside one quantization
 * cell, give an exact MSE (sum (a-v)^2 = c ((mu-v)^2 + var)) and, when the
 * cell's level lies outside them, an exact RMAE.  Only the rest (elements
 * cut by a midpoint, or around their cell's level for RMAE) is
 * approximated, by the linear density on [min, max] with their mean.
 */
#include "quant.h"

#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void dq_qhist_free(dq_qhist *h)
{
    if (!h) return;
    free(h->edge);
    free(h->cnt);
    free(h->s1);
    free(h->s2);
    free(h->mn);
    free(h->mx);
    free(h->nzbin);
    free(h);
}

dq_qhist *dq_qhist_alloc(const float *x, int64_t n, int is_signed, int nbins)
{
    if (!x || n <= 0) DQ_ERROR_NULL(DQ_EINVAL, "histogram: empty input");
    if (nbins < 16 || nbins > (1 << 24))
        DQ_ERROR_NULL(DQ_EINVAL, "histogram: %d bins, expected 16..2^24",
                      nbins);
    dq_qhist *h = calloc(1, sizeof *h);
    if (!h) DQ_ERROR_NULL(DQ_ENOMEM, "histogram: out of memory");
    int M = nbins + 1;
    h->nbins = nbins;
    h->edge = calloc((size_t)M + 1, sizeof(double));
    h->cnt = calloc((size_t)M, sizeof(double));
    h->s1 = calloc((size_t)M, sizeof(double));
    h->s2 = calloc((size_t)M, sizeof(double));
    h->mn = calloc((size_t)M, sizeof(double));
    h->mx = calloc((size_t)M, sizeof(double));
    if (!h->edge || !h->cnt || !h->s1 || !h->s2 || !h->mn || !h->mx) {
        dq_qhist_free(h); /* exception in constructor, avoid memory leak */
        DQ_ERROR_NULL(DQ_ENOMEM, "histogram: out of memory");
    }

    /* pass 1: range of the magnitudes that go into bins */
    double hi = 0, minnz = INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double v = (double)x[i];
        if (!isfinite(v)) {
            dq_qhist_free(h);
            DQ_ERROR_NULL(DQ_EINVAL, "histogram: element %lld is not finite",
                          (long long)i);
        }
        double a = is_signed ? fabs(v) : v;
        if (a > 0) {
            if (a > hi) hi = a;
            if (a < minnz) minnz = a;
        }
    }
    h->n = (double)n;
    h->hi = hi;
    if (hi == 0) {
        /* nothing but zeros (and, unsigned, negatives) */
        h->lo = 0;
        h->dl = 0;
    } else {
        double lo = minnz > hi * 0x1p-24 ? minnz : hi * 0x1p-24;
        if (!(lo < hi)) lo = 0.5 * hi; /* one distinct magnitude */
        h->lo = lo;
        h->dl = log(hi / lo) / nbins;
        h->edge[0] = 0;
        for (int i = 1; i < M; i++) h->edge[i] = lo * exp((i - 1) * h->dl);
        h->edge[M] = hi;
    }

    /* pass 2: exact per-bin sums, in element order */
    for (int64_t i = 0; i < n; i++) {
        double v = (double)x[i];
        double a = fabs(v);
        h->sum_abs += a;
        h->sum_sq += v * v;
        if (v == 0) {
            h->n_zero += 1;
            continue;
        }
        if (!is_signed && v < 0) {
            h->n_neg += 1;
            h->s1_neg += a;
            h->s2_neg += a * a;
            continue;
        }
        int b;
        if (a < h->lo) {
            b = 0;
        } else {
            b = 1 + (int)floor(log(a / h->lo) / h->dl);
            if (b < 1) b = 1;
            if (b > M - 1) b = M - 1;
            /* rounding of log/exp: move to the bin whose edges hold a */
            while (b > 1 && a < h->edge[b]) b--;
            while (b < M - 1 && a >= h->edge[b + 1]) b++;
        }
        if (h->cnt[b] == 0 || a < h->mn[b]) h->mn[b] = a;
        if (h->cnt[b] == 0 || a > h->mx[b]) h->mx[b] = a;
        h->cnt[b] += 1;
        h->s1[b] += a;
        h->s2[b] += a * a;
    }
    int nnz = 0;
    for (int b = 0; b < M; b++) nnz += h->cnt[b] > 0;
    h->nzbin = malloc(sizeof(int) * (size_t)(nnz ? nnz : 1));
    if (!h->nzbin) {
        dq_qhist_free(h);
        DQ_ERROR_NULL(DQ_ENOMEM, "histogram: out of memory");
    }
    for (int b = 0; b < M; b++)
        if (h->cnt[b] > 0) h->nzbin[h->nnz++] = b;
    return h;
}

/* ---- evaluation ---------------------------------------------------------- */

/* Quantization cells of a SIGNMAG codebook along |x|: cell c holds
 * (bound[c-1], bound[c]] and maps to val[c]; lvl[c] is the level index
 * (-1 for the exact-zero cell). */
typedef struct {
    int n;
    double bound[DQ_CB_MAX + 1];
    double val[DQ_CB_MAX + 1];
    int lvl[DQ_CB_MAX + 1];
} cells;

static void make_cells(const dq_codebook *cb, cells *c)
{
    int m = 0;
    if (cb->kind == DQ_CB_SIGNMAG && cb->zero_code) {
        c->bound[m] = cb->thr0;
        c->val[m] = 0;
        c->lvl[m] = -1;
        m++;
    }
    for (int k = 0; k < cb->K; k++) {
        c->bound[m] = cb->thr[k];
        c->val[m] = cb->lev[k];
        c->lvl[m] = k;
        m++;
    }
    c->n = m;
}

/* Smallest cell c with a <= bound[c]. */
static int cell_of(const cells *c, double a)
{
    int lo = 0, hi = c->n - 1;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (a <= c->bound[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Accumulators of one evaluation. */
typedef struct {
    const cells *c;
    double e1, e2;
    double *cnt_k, *s1_k;
} acc;

/* A group of cnt elements with sum s1 goes to cell `cell`: the sums a
 * least-squares fit of the levels needs. */
static void assign(acc *A, int cell, double cnt, double s1)
{
    int k = A->c->lvl[cell];
    if (k < 0) return;
    if (A->cnt_k) A->cnt_k[k] += cnt;
    if (A->s1_k) A->s1_k[k] += s1;
}

/* `cnt` elements exactly at |x| = a; p is a cell at or near a's. */
static void add_point(acc *A, int p, double a, double cnt)
{
    const cells *c = A->c;
    while (p > 0 && a <= c->bound[p - 1]) p--;
    while (p < c->n - 1 && a > c->bound[p]) p++;
    double d = a - c->val[p];
    A->e1 += cnt * fabs(d);
    A->e2 += cnt * d * d;
    assign(A, p, cnt, cnt * a);
}

/* Integrals over y in [y1, y2] of the density g0 + g1 y: mass, the
 * signed first moment, |y| and y^2 moments. */
static double imass(double g0, double g1, double y1, double y2)
{
    return g0 * (y2 - y1) + g1 * (y2 * y2 - y1 * y1) / 2;
}

static double ifirst(double g0, double g1, double y1, double y2)
{
    return g0 * (y2 * y2 - y1 * y1) / 2 + g1 * (y2 * y2 * y2 - y1 * y1 * y1) / 3;
}

static double iabs(double g0, double g1, double y1, double y2)
{
    if (y1 >= 0) return ifirst(g0, g1, y1, y2);
    if (y2 <= 0) return -ifirst(g0, g1, y1, y2);
    return g0 * (y1 * y1 + y2 * y2) / 2 + g1 * (y2 * y2 * y2 + y1 * y1 * y1) / 3;
}

static double isq(double g0, double g1, double y1, double y2)
{
    return g0 * (y2 * y2 * y2 - y1 * y1 * y1) / 3 +
           g1 * (y2 * y2 * y2 * y2 - y1 * y1 * y1 * y1) / 4;
}

/* `cnt` elements with exact sums s1, s2, all inside [lo, hi] (the bin's
 * exact min and max).  Wholly inside one cell: MSE exact from the sums,
 * RMAE exact when the level is outside [lo, hi].  Cut by midpoints: the
 * elements are modelled by the linear density on [lo, hi] with their
 * mean, integrated piece by piece. */
static void add_spread(acc *A, int p, double cnt, double s1, double s2,
                       double lo, double hi)
{
    const cells *c = A->c;
    double mu = s1 / cnt, var = s2 / cnt - mu * mu;
    if (var < 0) var = 0;
    if (!(hi > lo)) {
        add_point(A, p, mu, cnt);
        return;
    }
    int j0 = p;
    while (j0 > 0 && lo <= c->bound[j0 - 1]) j0--;
    while (j0 < c->n - 1 && lo > c->bound[j0]) j0++;
    int j1 = j0;
    while (j1 < c->n - 1 && hi > c->bound[j1]) j1++;
    double L = hi - lo, m = 0.5 * (lo + hi);
    /* linear density on [lo, hi]: (1 + sl (a - m) / (L/2)) / L, with mean
     * m + sl L / 6 = mu */
    double sl = 6 * (mu - m) / L;
    if (sl > 1) sl = 1;
    if (sl < -1) sl = -1;
    if (j0 == j1) {
        double v = c->val[j0], ae;
        A->e2 += cnt * ((mu - v) * (mu - v) + var);
        if (v <= lo) {
            ae = s1 - cnt * v;
        } else if (v >= hi) {
            ae = cnt * v - s1;
        } else {
            double g1 = 2 * sl / (L * L), g0 = 1 / L + g1 * (v - m);
            ae = cnt * iabs(g0, g1, lo - v, hi - v);
        }
        A->e1 += ae;
        assign(A, j0, cnt, s1);
        return;
    }
    double pa = lo;
    for (int j = j0; j <= j1; j++) {
        double pb = j < j1 ? c->bound[j] : hi;
        if (pb > hi) pb = hi;
        if (pb <= pa) continue;
        double v = c->val[j];
        /* density in y = a - v: g0 + g1 y */
        double g1 = 2 * sl / (L * L);
        double g0 = 1 / L + g1 * (v - m);
        double y1 = pa - v, y2 = pb - v;
        double pm = cnt * imass(g0, g1, y1, y2);
        double ae = cnt * iabs(g0, g1, y1, y2);
        A->e1 += ae;
        A->e2 += cnt * isq(g0, g1, y1, y2);
        assign(A, j, pm, v * pm + cnt * ifirst(g0, g1, y1, y2));
        pa = pb;
    }
}

static double kl_eval(const dq_qhist *h, const cells *c)
{
    double mass[DQ_CB_MAX + 1] = {0}, nonempty[DQ_CB_MAX + 1] = {0};
    double N = 0;
    int nnz = h->hi > 0 ? h->nnz : 0;
    for (int t = 0; t < nnz; t++) {
        int i = h->nzbin[t];
        int j = cell_of(c, h->s1[i] / h->cnt[i]);
        mass[j] += h->cnt[i];
        nonempty[j] += 1;
        N += h->cnt[i];
    }
    if (N == 0) return 0;
    double kl = 0;
    for (int t = 0; t < nnz; t++) {
        int i = h->nzbin[t];
        int j = cell_of(c, h->s1[i] / h->cnt[i]);
        double q = mass[j] / nonempty[j];
        kl += h->cnt[i] * log(h->cnt[i] / q);
    }
    return kl / N;
}

double dq_qhist_eval(const dq_qhist *h, const dq_codebook *cb,
                     dq_objective obj, double *cnt_k, double *s1_k)
{
    cells c;
    make_cells(cb, &c);
    if (cnt_k) memset(cnt_k, 0, sizeof(double) * (size_t)cb->K);
    if (s1_k) memset(s1_k, 0, sizeof(double) * (size_t)cb->K);
    double e1, e2;

    acc A = {.c = &c, .cnt_k = cnt_k, .s1_k = s1_k};

    /* exact zeros and (unsigned) negatives: both sit at |x| = 0 */
    int z = cell_of(&c, 0.0);
    double vz = c.val[z];
    if (h->n_zero > 0) {
        A.e1 += h->n_zero * vz;
        A.e2 += h->n_zero * vz * vz;
        assign(&A, z, h->n_zero, 0.0);
    }
    if (h->n_neg > 0) {
        A.e1 += h->n_neg * vz + h->s1_neg;
        A.e2 += h->n_neg * vz * vz + 2 * vz * h->s1_neg + h->s2_neg;
        assign(&A, z, h->n_neg, -h->s1_neg);
    }

    /* Bins ascend, so the cell of a bin's lower edge only moves up: walk
     * it with a pointer (O(bins + K) per evaluation).  A bin of up to four
     * elements is exactly its points: min, max, and the rest from the
     * sums (one point: s1 - min - max; two: the pair with the remaining
     * sum and sum of squares).  A larger bin is min, max and a spread. */
    int p = 0;
    int nnz = h->hi > 0 ? h->nnz : 0;
    for (int t = 0; t < nnz; t++) {
        int i = h->nzbin[t];
        double cnt = h->cnt[i];
        double mn = h->mn[i], mx = h->mx[i];
        while (p < c.n - 1 && h->edge[i] > c.bound[p]) p++;
        if (cnt == 1) {
            add_point(&A, p, mn, 1);
            continue;
        }
        add_point(&A, p, mn, 1);
        add_point(&A, p, mx, 1);
        double r1 = h->s1[i] - mn - mx, r2 = h->s2[i] - mn * mn - mx * mx;
        double rc = cnt - 2;
        if (rc == 0) continue;
        if (rc == 1) {
            double v = r1 < mn ? mn : r1 > mx ? mx : r1;
            add_point(&A, p, v, 1);
        } else if (rc == 2) {
            double half = 0.5 * r1, dd = 0.5 * r2 - half * half;
            double sd = dd > 0 ? sqrt(dd) : 0;
            double u = half - sd, v = half + sd;
            add_point(&A, p, u < mn ? mn : u, 1);
            add_point(&A, p, v > mx ? mx : v, 1);
        } else {
            add_spread(&A, p, rc, r1, r2, mn, mx);
        }
    }
    e1 = A.e1;
    e2 = A.e2;

    switch (obj) {
    case DQ_OBJ_MSE: return h->n > 0 ? e2 / h->n : 0.0;
    case DQ_OBJ_KL: return kl_eval(h, &c);
    case DQ_OBJ_RMAE:
    default:
        if (h->sum_abs == 0) return e1 == 0 ? 0.0 : INFINITY;
        return e1 / h->sum_abs;
    }
}

/* ---- cell medians ------------------------------------------------------------ */

/* Walk the histogram as points (bins of one or two elements: min, max)
 * and uniform spreads on [min, max] (larger bins), cut at the cells'
 * bounds.  Pass 0 counts each cell; pass 1 finds where each cell's
 * cumulative count reaches half its total. */
static void median_walk(const dq_qhist *h, const cells *c, int pass,
                        double *cnt, double *cum, double *med)
{
    int z = cell_of(c, 0.0);
    double n0 = h->n_zero + h->n_neg; /* both sit at |x| = 0 */
    if (n0 > 0) {
        if (pass == 0)
            cnt[z] += n0;
        else if (cum[z] < 0.5 * cnt[z]) {
            cum[z] += n0;
            if (cum[z] >= 0.5 * cnt[z]) med[z] = 0;
        }
    }
    int nnz = h->hi > 0 ? h->nnz : 0;
    int p = 0;
    for (int t = 0; t < nnz; t++) {
        int i = h->nzbin[t];
        double k = h->cnt[i], lo = h->mn[i], hi = h->mx[i];
        while (p < c->n - 1 && lo > c->bound[p]) p++;
        if (k <= 2 || !(hi > lo)) {
            double pts[2] = {lo, hi};
            int np = (k == 1 || !(hi > lo)) ? 1 : 2;
            double w = k / np;
            for (int q = 0; q < np; q++) {
                int j = p;
                while (j < c->n - 1 && pts[q] > c->bound[j]) j++;
                if (pass == 0) {
                    cnt[j] += w;
                } else if (cum[j] < 0.5 * cnt[j]) {
                    cum[j] += w;
                    if (cum[j] >= 0.5 * cnt[j]) med[j] = pts[q];
                }
            }
            continue;
        }
        double pa = lo;
        for (int j = p; j < c->n && pa < hi; j++) {
            double pb = j < c->n - 1 && c->bound[j] < hi ? c->bound[j] : hi;
            if (pb <= pa) continue;
            double w = k * (pb - pa) / (hi - lo);
            if (pass == 0) {
                cnt[j] += w;
            } else if (cum[j] < 0.5 * cnt[j]) {
                double need = 0.5 * cnt[j] - cum[j];
                if (w >= need) med[j] = pa + (pb - pa) * need / w;
                cum[j] += w;
            }
            pa = pb;
        }
    }
}

int dq_qhist_medians(const dq_qhist *h, const dq_codebook *cb, double *cnt_k,
                     double *med_k)
{
    cells c;
    make_cells(cb, &c);
    double cnt[DQ_CB_MAX + 1] = {0}, cum[DQ_CB_MAX + 1] = {0};
    double med[DQ_CB_MAX + 1];
    for (int j = 0; j < c.n; j++) med[j] = c.val[j];
    median_walk(h, &c, 0, cnt, cum, med);
    median_walk(h, &c, 1, cnt, cum, med);
    for (int j = 0; j < c.n; j++) {
        int k = c.lvl[j];
        if (k < 0) continue;
        cnt_k[k] = cnt[j];
        med_k[k] = med[j];
    }
    return DQ_OK;
}
