/*
 * uniform.c — uniform INT-k quantization ("uniform" in the registry), the
 * baseline every other scheme is compared with (DESIGN §2).
 *
 * Grid: PyTorch's _calculate_qparams (torch/ao/quantization/observer.py),
 * computed in float32 as torch does:
 *   symmetric: scale = max(-min, max) / ((qmax - qmin) / 2),
 *              zero_point = 0 (signed) or 128 (unsigned, 8 bits; other
 *              widths (qmin + qmax) / 2 as torch does for a custom range);
 *   affine:    scale = (max - min) / (qmax - qmin),
 *              zero_point = clamp(qmin - round(min / scale), qmin, qmax);
 *   min/max are first widened to include 0, and scale >= FLT_EPSILON.
 * Quantize: q = clamp(nearbyint(x * (1/scale)) + zero_point, qmin, qmax)
 * (round half to even, as torch's fake_quantize); value (q - zp) * scale.
 *
 * Clipping range (opts->calibrator), after NVIDIA pytorch-quantization's
 * HistogramCalibrator (2048 bins of |x| on [0, max|x|], torch.histc style):
 *   minmax     min and max of the data;
 *   percentile amax = left edge of the bin where the |x| CDF reaches
 *              opts->percentile (_compute_amax_percentile);
 *   mse        amax = the bin centre (from bin 128 on) minimising the
 *              histogram-weighted squared error of the bin centres
 *              (_compute_amax_mse), the centres quantized on this file's
 *              grid with their sign;
 *   kl         amax = TensorRT's entropy calibration
 *              (_compute_amax_entropy: merge the first i bins into 2^(b-1)
 *              (signed) or 2^b (unsigned) groups, keep the i with the
 *              smallest KL divergence, the last one on ties).
 * The clip applies as min' = max(min, -amax), max' = min(max, amax), then
 * the torch formulas above.
 *
 * p[] = scale, zero_point, qmin, qmax, clip_min, clip_max.
 */
#include "quant.h"

#include "error.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_SCALE, P_ZP, P_QMIN, P_QMAX, P_LO, P_HI };

static const char *const uniform_params[] = {"scale",   "zero_point",
                                             "qmin",    "qmax",
                                             "clip_min", "clip_max", NULL};

void dq_uniform_qrange(int bits, int is_signed, int32_t *qmin, int32_t *qmax)
{
    if (is_signed) {
        *qmin = -(1 << (bits - 1));
        *qmax = (1 << (bits - 1)) - 1;
    } else {
        *qmin = 0;
        *qmax = (1 << bits) - 1;
    }
}

void dq_uniform_qparams(float min, float max, int bits, int is_signed,
                        int symmetric, float *scale, int32_t *zero_point)
{
    int32_t qmin, qmax;
    dq_uniform_qrange(bits, is_signed, &qmin, &qmax);
    float min_neg = min < 0.0f ? min : 0.0f;
    float max_pos = max > 0.0f ? max : 0.0f;
    float s;
    int32_t zp;
    if (symmetric) {
        if (-min_neg > max_pos) max_pos = -min_neg;
        s = max_pos / ((float)(qmax - qmin) / 2.0f);
        if (s < FLT_EPSILON) s = FLT_EPSILON;
        if (is_signed)
            zp = 0;
        else
            zp = bits == 8 ? 128 : (qmin + qmax) / 2;
    } else {
        s = (max_pos - min_neg) / (float)(qmax - qmin);
        if (s < FLT_EPSILON) s = FLT_EPSILON;
        zp = qmin - (int32_t)nearbyintf(min_neg / s);
        if (zp < qmin) zp = qmin;
        if (zp > qmax) zp = qmax;
    }
    *scale = s;
    *zero_point = zp;
}

/* One value on a (scale, zp, qmin, qmax) grid: clamp(nearbyintf(x * inv)
 * + zp, qmin, qmax).  x * inv is first clamped to one step outside the
 * grid (which changes no result), so that adding and subtracting 1.5 * 2^23
 * rounds it half to even exactly as nearbyintf does in the default
 * rounding mode, and the loops over it vectorise (no libm call). */
#define ROUND_MAGIC 12582912.0f /* 1.5 * 2^23 */

static inline int32_t uq(float x, float inv, int32_t zp, int32_t qmin,
                         int32_t qmax)
{
    float lo = (float)(qmin - zp) - 1.0f, hi = (float)(qmax - zp) + 1.0f;
    float v = x * inv;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    int32_t q = (int32_t)((v + ROUND_MAGIC) - ROUND_MAGIC) + zp;
    return q < qmin ? qmin : q > qmax ? qmax : q;
}

static inline float udq(int32_t q, float scale, int32_t zp)
{
    return (float)(q - zp) * scale;
}

/* ---- calibrators on a 2048-bin |x| histogram --------------------------------- */

/* NVIDIA _compute_amax_entropy on counts h[0..nb) of |x| over [0, absmax]:
 * returns the chosen edge index i (amax = i * absmax / nb). */
static int amax_entropy(const double *hist, int nb, int bits, int is_signed,
                        int start, double *work)
{
    double *bins = work;               /* nb */
    double *dens = work + nb;          /* nb */
    int *dig = (int *)(work + 2 * nb); /* nb ints */
    memcpy(bins, hist, sizeof(double) * (size_t)nb);
    if (nb > 1) bins[0] = bins[1];
    int nq = 1 << (bits - 1 + (is_signed ? 0 : 1));
    double *ndc = calloc((size_t)nq, sizeof(double));
    double *ncnt = calloc((size_t)nq, sizeof(double));
    if (!ndc || !ncnt) {
        free(ndc);
        free(ncnt);
        return -1;
    }
    double total = 0;
    for (int j = 0; j < nb; j++) total += bins[j];
    if (start > nb) start = nb;
    if (start < 1) start = 1;
    double best = INFINITY;
    int best_i = nb;
    double tail = 0; /* sum bins[i:] */
    for (int j = start; j < nb; j++) tail += bins[j];
    for (int i = start; i <= nb; i++) {
        if (i > start) tail -= bins[i - 1];
        /* np.linspace(0, i, nq + 1): space[k] = k * (i / nq), last = i;
         * np.digitize(j, space) - 1 = the last k with space[k] <= j */
        double step = (double)i / nq;
        memset(ndc, 0, sizeof(double) * (size_t)nq);
        memset(ncnt, 0, sizeof(double) * (size_t)nq);
        int k = 0;
        for (int j = 0; j < i; j++) {
            while (k + 1 <= nq &&
                   (k + 1 == nq ? (double)i : (k + 1) * step) <= (double)j)
                k++;
            if (bins[j] == 0) {
                dig[j] = -1;
                continue;
            }
            dig[j] = k;
            ndc[k] += bins[j];
            ncnt[k] += 1;
        }
        double sq = 0;
        for (int j = 0; j < i; j++) {
            dens[j] = dig[j] < 0 ? 0.0 : ndc[dig[j]] / ncnt[dig[j]];
            sq += dens[j];
        }
        /* reference: bins[:i] with the tail folded into the last bin */
        double sp = total;
        double kl = 0;
        for (int j = 0; j < i && isfinite(kl); j++) {
            double p = bins[j] + (j == i - 1 ? tail : 0.0);
            if (p <= 0) continue;
            double q = dens[j];
            if (q <= 0) {
                kl = INFINITY;
                break;
            }
            double pn = p / sp, qn = q / sq;
            kl += pn * log(pn / qn);
        }
        if (kl <= best) { /* last argmin, as the reference */
            best = kl;
            best_i = i;
        }
    }
    free(ndc);
    free(ncnt);
    return best_i;
}

int dq_uniform_amax(const float *x, int64_t n, int bits, int is_signed,
                    const dq_quant_opts *o, double *amax)
{
    double absmax = 0;
    float mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double a = fabs((double)x[i]);
        if (a > absmax) absmax = a;
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
    }
    *amax = absmax;
    if (o->calibrator == DQ_CALIB_MINMAX || absmax == 0) return DQ_OK;

    int nb = o->calib_bins;
    double *hp = calloc((size_t)nb, sizeof(double)); /* x >= 0 */
    double *hn = calloc((size_t)nb, sizeof(double)); /* x < 0 */
    double *work = malloc(sizeof(double) * (size_t)nb * 3);
    if (!hp || !hn || !work) {
        free(hp);
        free(hn);
        free(work);
        return DQ_ERROR(DQ_ENOMEM, "calibrator: out of memory");
    }
    /* torch.histc(|x|, bins=nb, min=0, max=absmax) */
    for (int64_t i = 0; i < n; i++) {
        double a = fabs((double)x[i]);
        int b = (int)(a / absmax * nb);
        if (b >= nb) b = nb - 1;
        if (x[i] < 0)
            hn[b] += 1;
        else
            hp[b] += 1;
    }
    double width = absmax / nb;
    int start = o->calib_start_bin < nb ? o->calib_start_bin : nb - 1;

    if (o->calibrator == DQ_CALIB_PERCENTILE) {
        double target = o->percentile / 100.0, cum = 0;
        int idx = nb - 1;
        for (int b = 0; b < nb; b++) {
            cum += (hp[b] + hn[b]) / (double)n;
            if (cum >= target) {
                idx = b;
                break;
            }
        }
        /* np.searchsorted(cdf, p) -> edges[idx], the bin's left edge; a
         * zero left edge would clip everything, so take the right edge */
        *amax = idx * width;
        if (*amax <= 0) *amax = (idx + 1) * width;
    } else if (o->calibrator == DQ_CALIB_MSE) {
        /* the error sum runs over the non-empty bins only */
        int ne = 0;
        for (int c = 0; c < nb; c++)
            if (hp[c] > 0 || hn[c] > 0) {
                hp[ne] = hp[c];
                hn[ne] = hn[c];
                work[ne] = (c + 0.5) * width; /* the bin's centre */
                ne++;
            }
        double best = INFINITY;
        int best_b = nb - 1;
        for (int b = start; b < nb; b++) {
            double am = (b + 0.5) * width;
            float lo = mn > (float)-am ? mn : (float)-am;
            float hi = mx < (float)am ? mx : (float)am;
            float s;
            int32_t zp, qmin, qmax;
            dq_uniform_qparams(lo, hi, bits, is_signed, o->symmetric, &s, &zp);
            dq_uniform_qrange(bits, is_signed, &qmin, &qmax);
            float inv = 1.0f / s;
            double err = 0;
            for (int c = 0; c < ne; c++) {
                float v = (float)work[c];
                if (hp[c] > 0) {
                    double d = (double)udq(uq(v, inv, zp, qmin, qmax), s, zp) - v;
                    err += hp[c] * d * d;
                }
                if (hn[c] > 0) {
                    double d = (double)udq(uq(-v, inv, zp, qmin, qmax), s, zp) + v;
                    err += hn[c] * d * d;
                }
            }
            if (err < best) {
                best = err;
                best_b = b;
            }
        }
        *amax = (best_b + 0.5) * width;
    } else { /* DQ_CALIB_KL */
        for (int b = 0; b < nb; b++) hp[b] += hn[b];
        int i = amax_entropy(hp, nb, bits, is_signed, start, work);
        if (i < 0) {
            free(hp);
            free(hn);
            free(work);
            return DQ_ERROR(DQ_ENOMEM, "calibrator: out of memory");
        }
        *amax = i * width;
        if (*amax <= 0) *amax = absmax;
    }
    free(hp);
    free(hn);
    free(work);
    return DQ_OK;
}

/* ---- the scheme ----------------------------------------------------------------- */

static int uniform_calibrate(const float *x, int64_t n, const dq_quant_opts *o,
                             dq_qchan *c)
{
    float mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
    }
    if (o->calibrator != DQ_CALIB_MINMAX) {
        double amax;
        DQ_TRY(dq_uniform_amax(x, n, c->bits, c->is_signed, o, &amax));
        if (mn < (float)-amax) mn = (float)-amax;
        if (mx > (float)amax) mx = (float)amax;
    }
    float s;
    int32_t zp, qmin, qmax;
    dq_uniform_qparams(mn, mx, c->bits, c->is_signed, o->symmetric, &s, &zp);
    dq_uniform_qrange(c->bits, c->is_signed, &qmin, &qmax);
    c->p[P_SCALE] = s;
    c->p[P_ZP] = zp;
    c->p[P_QMIN] = qmin;
    c->p[P_QMAX] = qmax;
    c->p[P_LO] = mn;
    c->p[P_HI] = mx;
    return DQ_OK;
}

static void uniform_encode(const dq_qchan *c, const float *x, int64_t n,
                           int32_t *codes)
{
    float s = (float)c->p[P_SCALE], inv = 1.0f / s;
    int32_t zp = (int32_t)c->p[P_ZP], qmin = (int32_t)c->p[P_QMIN],
            qmax = (int32_t)c->p[P_QMAX];
#pragma omp simd
    for (int64_t i = 0; i < n; i++) codes[i] = uq(x[i], inv, zp, qmin, qmax);
}

static void uniform_decode(const dq_qchan *c, const int32_t *codes, int64_t n,
                           float *y)
{
    float s = (float)c->p[P_SCALE];
    int32_t zp = (int32_t)c->p[P_ZP], qmin = (int32_t)c->p[P_QMIN],
            qmax = (int32_t)c->p[P_QMAX];
    for (int64_t i = 0; i < n; i++) {
        int32_t q = codes[i] < qmin ? qmin : codes[i] > qmax ? qmax : codes[i];
        y[i] = udq(q, s, zp);
    }
}

static void uniform_fake(const dq_qchan *c, float *x, int64_t n)
{
    float s = (float)c->p[P_SCALE], inv = 1.0f / s;
    int32_t zp = (int32_t)c->p[P_ZP], qmin = (int32_t)c->p[P_QMIN],
            qmax = (int32_t)c->p[P_QMAX];
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        x[i] = udq(uq(x[i], inv, zp, qmin, qmax), s, zp);
}

static int uniform_levels(const dq_qchan *c, double *out)
{
    float s = (float)c->p[P_SCALE];
    int32_t zp = (int32_t)c->p[P_ZP], qmin = (int32_t)c->p[P_QMIN],
            qmax = (int32_t)c->p[P_QMAX];
    int m = 0;
    for (int32_t q = qmin; q <= qmax; q++) {
        double v = (double)udq(q, s, zp);
        if (m == 0 || v != out[m - 1]) out[m++] = v;
    }
    return m;
}

static void uniform_describe(const dq_qchan *c, char *buf, size_t len)
{
    snprintf(buf, len, "scale=%.9g zero_point=%d q=[%d,%d] clip=[%.6g,%.6g]",
             c->p[P_SCALE], (int)c->p[P_ZP], (int)c->p[P_QMIN],
             (int)c->p[P_QMAX], c->p[P_LO], c->p[P_HI]);
}

const dq_quant_scheme dq_scheme_uniform = {
    .name = "uniform",
    .label = "Uniform",
    .param_names = uniform_params,
    .flags = DQ_QS_ELEMENTWISE,
    .calibrate = uniform_calibrate,
    .encode = uniform_encode,
    .decode = uniform_decode,
    .fake = uniform_fake,
    .levels = uniform_levels,
    .describe = uniform_describe,
};
