/*
 * kmeans.c — the "kmeans" scheme: per-layer 1-D k-means clustering of the
 * values, as in Deep Compression (Han, Mao & Dally, ICLR 2016), DESIGN §2.
 *
 * A bits-wide channel gets 2^bits centroids found by Lloyd's algorithm
 * with linear initialisation (dq_kmeans_lloyd, kmeans.h).  The centroids
 * form a plain TABLE codebook (quant.h): code = index of the nearest
 * centroid, value = the centroid.  The codes carry no sign bit, so signed
 * and unsigned tensors both get 2^bits centroids.  With the zero code on
 * (default) one centroid is pinned at exactly 0 so that exact zeros (e.g.
 * pruned weights, ReLU outputs) stay zero; the other 2^bits - 1 are free.
 * An unsigned view clusters max(x, 0).
 *
 * The clustering is exact on every element (a sort and prefix sums), so
 * no histogram is needed and the result does not depend on the thread
 * count.  p[] = {rounds run}; the centroids are the codebook.
 */
#include "kmeans.h"

#include "error.h"
#include "quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* First index in s[lo..n) whose value is > t (s ascending). */
static int64_t upper_bound(const double *s, int64_t lo, int64_t n, double t)
{
    int64_t hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (s[mid] <= t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int dq_kmeans_lloyd(const float *x, int64_t n, int K, int pin_zero,
                    double *cent, int *iters)
{
    if (!x || n <= 0 || !cent || K < 2 || K > DQ_KMEANS_MAX_K)
        return DQ_ERROR(DQ_EINVAL, "kmeans: need n > 0 values and 2..%d "
                                   "centroids (n = %lld, K = %d)",
                        DQ_KMEANS_MAX_K, (long long)n, K);
    double *s = malloc((size_t)n * sizeof *s);
    double *ps = malloc((size_t)(n + 1) * sizeof *ps);
    double *next = malloc((size_t)K * sizeof *next);
    int *pinned = calloc((size_t)K, sizeof *pinned);
    if (!s || !ps || !next || !pinned) {
        free(s);
        free(ps);
        free(next);
        free(pinned);
        return DQ_ERROR(DQ_ENOMEM, "kmeans: out of memory for %lld values",
                        (long long)n);
    }
    for (int64_t i = 0; i < n; i++) s[i] = x[i];
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    ps[0] = 0.0; /* ps[i] = s[0] + ... + s[i-1] */
    for (int64_t i = 0; i < n; i++) ps[i + 1] = ps[i] + s[i];
    double lo = s[0], hi = s[n - 1], span = hi - lo;

    /* Linear initialisation of the free centroids; the pinned zero is put
     * in order (before a free centroid equal to 0). */
    int nfree = K - (pin_zero != 0);
    int m = 0;
    for (int i = 0; i < nfree; i++) {
        double ci = nfree > 1 ? lo + span * i / (nfree - 1) : 0.5 * (lo + hi);
        if (pin_zero && m == i && ci >= 0.0) {
            pinned[m] = 1;
            cent[m++] = 0.0;
        }
        cent[m++] = ci;
    }
    if (m < K) { /* every free centroid < 0 */
        pinned[m] = 1;
        cent[m++] = 0.0;
    }

    int it = 0;
    while (it < DQ_KMEANS_MAX_ITERS) {
        it++;
        double moved = 0.0;
        int64_t first = 0; /* first sorted index of cluster k */
        for (int k = 0; k < K; k++) {
            int64_t last = k + 1 < K
                               ? upper_bound(s, first, n,
                                             0.5 * (cent[k] + cent[k + 1]))
                               : n;
            next[k] = cent[k];
            if (last > first && !pinned[k])
                next[k] = (ps[last] - ps[first]) / (double)(last - first);
            first = last;
        }
        for (int k = 0; k < K; k++) {
            moved = fmax(moved, fabs(next[k] - cent[k]));
            cent[k] = next[k];
        }
        if (moved <= DQ_KMEANS_TOL * span) break;
    }
    free(s);
    free(ps);
    free(next);
    free(pinned);
    if (iters) *iters = it;
    return DQ_OK;
}

static int kmeans_calibrate(const float *x, int64_t n, const dq_quant_opts *o,
                            dq_qchan *c)
{
    (void)o;
    int K = 1 << c->bits;
    float *clamped = NULL; /* unsigned view: cluster max(x, 0) */
    int has_neg = 0;
    for (int64_t i = 0; i < n && !c->is_signed && !has_neg; i++)
        has_neg = x[i] < 0.0f;
    if (has_neg) {
        clamped = malloc((size_t)n * sizeof *clamped);
        if (!clamped)
            return DQ_ERROR(DQ_ENOMEM, "kmeans: out of memory for %lld values",
                            (long long)n);
        for (int64_t i = 0; i < n; i++) clamped[i] = fmaxf(x[i], 0.0f);
        x = clamped;
    }
    double cent[DQ_CB_MAX];
    int it = 0;
    int st = dq_kmeans_lloyd(x, n, K, c->zero_code, cent, &it);
    free(clamped);
    DQ_TRY(st);
    DQ_TRY(dq_qchan_cb_alloc(c));
    c->p[0] = it;
    return dq_codebook_table(c->cb, c->bits, cent, K);
}

static void kmeans_describe(const dq_qchan *c, char *buf, size_t len)
{
    const dq_codebook *cb = c->cb;
    snprintf(buf, len, "%d centroids %.6g..%.6g%s, %d Lloyd rounds", cb->K,
             cb->lev[0], cb->lev[cb->K - 1], c->zero_code ? " (0 pinned)" : "",
             (int)c->p[0]);
}

static const char *const kmeans_param_names[] = {"rounds", NULL};

const dq_quant_scheme dq_scheme_kmeans = {
    .name = "kmeans",
    .label = "K-means",
    .param_names = kmeans_param_names,
    .flags = DQ_QS_ELEMENTWISE,
    .calibrate = kmeans_calibrate,
    .encode = dq_qchan_cb_encode,
    .decode = dq_qchan_cb_decode,
    .fake = dq_qchan_cb_fake,
    .levels = dq_qchan_cb_levels,
    .describe = kmeans_describe,
};
