/*
 * log2.c — logarithmic quantization (Miyashita, Lee & Murmann 2016,
 * "Convolutional Neural Networks using Logarithmic Data Representation"):
 * the "log2" scheme and its sqrt(2)-base variant "log-sqrt2" (DESIGN §2).
 *
 *     Q(x) = sign(x) * 2^(clip(round(s*log2|x|), j_min, j_top) / s)
 *
 * with s = 1 (base 2) or s = 2 (base sqrt 2).  Rounding is in the LOG
 * domain, as in the paper: |x| goes to level 2^(j/s) when
 * 2^((j-1/2)/s) <= |x| < 2^((j+1/2)/s), i.e. the thresholds between levels
 * are their geometric (not arithmetic) midpoints.
 *
 * Range from the max: j_top = round(s*log2 max|x|) (rounded the same way as
 * every value, so max|x| itself maps to the top level without clipping).
 * Bits: signed tensors have 1 sign bit and 2^(bits-1) magnitude codes,
 * unsigned ones 2^bits codes; with the zero code on (default) one of them
 * is exact 0, so K = 2^(bits - is_signed) - zero_code exponents
 * j_top-K+1 .. j_top.  Values whose rounded exponent is below j_min map to
 * 0 (zero code on, the paper's rule) or to the smallest level (zero code
 * off).  Levels below FLT_MIN (2^-126) cannot be reached by float data and
 * are not used (K shrinks), so every level is a normal float.
 *
 * The level table is a shared SIGNMAG codebook (quant.h) whose thresholds
 * are replaced by the geometric midpoints; encode/decode/fake/levels are
 * the shared codebook ones.  p[] = {j_top, K, s}.
 */
#include "quant.h"

#include "error.h"

#include <float.h>
#include <math.h>
#include <stdio.h>

static const char *const log_param_names[] = {"j_top", "K", "steps_per_octave",
                                              NULL};

/* Calibrate one channel with s level steps per octave (1: base 2, 2: base
 * sqrt 2). */
static int log_calibrate(const float *x, int64_t n, int s, dq_qchan *c)
{
    double amax = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double a = fabs((double)x[i]);
        if (!c->is_signed && x[i] < 0.0f) a = 0.0; /* negatives map like 0 */
        if (a > amax) amax = a;
    }
    if (amax == 0.0) /* unsigned view of a tensor with no positive value */
        amax = FLT_MIN;

    int j_top = (int)lround(s * log2(amax));
    int j_floor = -126 * s; /* 2^(j/s) >= FLT_MIN */
    int K = (1 << (c->bits - c->is_signed)) - c->zero_code;
    if (j_top - (K - 1) < j_floor) K = j_top - j_floor + 1;
    if (K < 1) K = 1;

    double mag[DQ_CB_MAX];
    for (int k = 0; k < K; k++) mag[k] = exp2((double)(j_top - (K - 1) + k) / s);
    DQ_TRY(dq_qchan_cb_alloc(c));
    dq_codebook *cb = c->cb;
    DQ_TRY(dq_codebook_signmag(cb, c->bits, c->is_signed, c->zero_code, mag, K));
    /* Log-domain rounding: geometric midpoints 2^((j + 1/2)/s). */
    for (int k = 0; k + 1 < cb->K; k++)
        cb->thr[k] = exp2((j_top - (K - 1) + k + 0.5) / s);
    cb->thr0 = exp2((j_top - (K - 1) - 0.5) / s);

    c->p[0] = j_top;
    c->p[1] = K;
    c->p[2] = s;
    return DQ_OK;
}

static int log2_calibrate(const float *x, int64_t n, const dq_quant_opts *o,
                          dq_qchan *c)
{
    (void)o;
    return log_calibrate(x, n, 1, c);
}

static int logsqrt2_calibrate(const float *x, int64_t n,
                              const dq_quant_opts *o, dq_qchan *c)
{
    (void)o;
    return log_calibrate(x, n, 2, c);
}

static void log_describe(const dq_qchan *c, char *buf, size_t len)
{
    int s = (int)c->p[2], j_top = (int)c->p[0], K = (int)c->p[1];
    const char *base = s == 1 ? "2" : "sqrt2";
    snprintf(buf, len, "base=%s levels=%s^%d..%s^%d (%d exponents%s)", base,
             base, j_top - K + 1, base, j_top, K,
             c->zero_code ? " + zero" : "");
}

const dq_quant_scheme dq_scheme_log2 = {
    .name = "log2",
    .label = "Log2",
    .param_names = log_param_names,
    .flags = DQ_QS_ELEMENTWISE,
    .calibrate = log2_calibrate,
    .encode = dq_qchan_cb_encode,
    .decode = dq_qchan_cb_decode,
    .fake = dq_qchan_cb_fake,
    .levels = dq_qchan_cb_levels,
    .describe = log_describe,
};

const dq_quant_scheme dq_scheme_log_sqrt2 = {
    .name = "log-sqrt2",
    .label = "Log-sqrt2",
    .param_names = log_param_names,
    .flags = DQ_QS_ELEMENTWISE,
    .calibrate = logsqrt2_calibrate,
    .encode = dq_qchan_cb_encode,
    .decode = dq_qchan_cb_decode,
    .fake = dq_qchan_cb_fake,
    .levels = dq_qchan_cb_levels,
    .describe = log_describe,
};
