/*
 * sparq.c — SPARQ (Shomron, Gabbay, Kurzum & Weiser, NeurIPS 2021) on
 * unsigned INT8 activations, DESIGN §2: the schemes "bsparq" (bSPARQ
 * alone) and "sparq" (vSPARQ pairs over bSPARQ windows).
 *
 * Step 1, INT8.  Each channel is uniform-quantized to uint8 with the
 * calibrated scale: |x| <= amax from the uniform calibrator of opts
 * (dq_uniform_amax: minmax by default), scale from PyTorch's
 * _calculate_qparams for [0, amax] (dq_uniform_qparams, affine, so the
 * zero point is 0 and an exact 0 is the byte 0), q = clamp(round half to
 * even (x / scale), 0, 255).
 *
 * Step 2, bSPARQ (dq_sparq_window).  `bits` is the window width n: each
 * byte keeps an n-bit window that starts at its most significant set bit,
 * restricted to the placements of opts->sparq_shift_opt
 * (dq_sparq_placements), with round half to even and saturation, exactly
 * as the authors' kernel (cu_gemm_2x48/gemm_mt_kernel.cu, ROUND mode).
 * n = 8 is plain INT8.
 *
 * Step 3, vSPARQ ("sparq" only).  Consecutive activations of the
 * reduction dimension form pairs (elements 2j, 2j+1 of the channel in
 * memory order: the rows of a linear layer's input, the im2col rows of a
 * conv; an odd last element pairs with an implicit 0).  If one of a pair
 * is 0, the other may use both multipliers: a 2n-bit window (capped at 8,
 * so at the paper's n = 4 it keeps all 8 bits); otherwise both take their
 * n-bit bSPARQ window.  Q(x_i) then depends on x_i's partner, so "sparq"
 * is not DQ_QS_ELEMENTWISE.
 *
 * Codes are the resulting bytes (value = code * scale).  The window is
 * chosen per value from the stored byte at compute time, so a tensor is
 * still STORED in 8 bits: storage_bits = 8 for both schemes, while `bits`
 * names the multiplier (window) width, as in the paper.  Signed tensors
 * (weights) are DQ_EUNSUP (the generic layer rejects them: the schemes are
 * DQ_QS_UNSIGNED_ONLY); an unsigned view maps x < 0 to 0.
 *
 * p[] = {scale, n, shift_opt}.
 */
#include "sparq.h"

#include "error.h"
#include "quant.h"

#include <math.h>
#include <stdio.h>

int dq_sparq_placements(int n, int shift_opt, int *off)
{
    if (n < 1 || n > 8) {
        DQ_ERROR(DQ_EINVAL, "a window of %d bits (need 1..8)", n);
        return -1;
    }
    int top = 8 - n, np = shift_opt ? shift_opt : top + 1;
    /* evenly spaced from 0 to 8-n, and no bit left between two windows */
    if (np < 1 || np > top + 1 || (np == 1 && top > 0) ||
        (np > 1 && (top % (np - 1) != 0 || top / (np - 1) > n))) {
        DQ_ERROR(DQ_EINVAL,
                 "shift_opt %d does not fit a %d-bit window (0 = "
                 "every offset 0..%d, or k placements with %d %% (k-1) == 0 "
                 "and a step %d / (k-1) <= %d, so every bit is covered)",
                 shift_opt, n, top, top, top, n);
        return -1;
    }
    int step = np > 1 ? top / (np - 1) : 1;
    for (int i = 0; i < np; i++) off[i] = i * step;
    return np;
}

uint8_t dq_sparq_window(uint8_t v, int n, const int *off, int noff)
{
    int o = off[noff - 1]; /* the top placement holds any byte */
    for (int i = 0; i < noff; i++)
        if ((unsigned)v < (1u << (off[i] + n))) {
            o = off[i];
            break;
        }
    unsigned win = ((1u << n) - 1u) << o; /* the window's bits */
    unsigned h = v & win;
    if (o > 0) {
        unsigned lsb = 1u << o, rnd = lsb >> 1, sticky = rnd - 1u;
        if ((v & rnd) && ((v & lsb) || (v & sticky))) h += lsb;
        if (h > win) h = win; /* carried out of the window: saturate */
    }
    return (uint8_t)h;
}

/* Per-channel byte tables: n-bit window and the vSPARQ survivor's window. */
typedef struct {
    uint8_t narrow[256], wide[256];
} sparq_tables;

static int sparq_build(const dq_qchan *c, sparq_tables *t)
{
    int off[8], n = (int)c->p[1], nw = n * 2 < 8 ? n * 2 : 8;
    int noff = dq_sparq_placements(n, (int)c->p[2], off);
    if (noff < 0) return dq_error_status();
    int offw[8], noffw = dq_sparq_placements(nw, 0, offw);
    for (int v = 0; v < 256; v++) {
        t->narrow[v] = dq_sparq_window((uint8_t)v, n, off, noff);
        t->wide[v] = dq_sparq_window((uint8_t)v, nw, offw, noffw);
    }
    return DQ_OK;
}

static int sparq_calibrate(const float *x, int64_t n, const dq_quant_opts *o,
                           dq_qchan *c)
{
    int off[8];
    if (dq_sparq_placements(c->bits, o->sparq_shift_opt, off) < 0)
        return dq_error_status();
    double amax;
    DQ_TRY(dq_uniform_amax(x, n, 8, 0, o, &amax));
    float scale;
    int32_t zp;
    dq_uniform_qparams(0.0f, (float)amax, 8, 0, 0, &scale, &zp);
    c->zero_code = 1; /* the byte 0 is exact 0 */
    c->p[0] = scale;
    c->p[1] = c->bits;
    c->p[2] = o->sparq_shift_opt;
    return DQ_OK;
}

/* INT8 step: byte of x. */
static uint8_t sparq_byte(float x, float scale)
{
    float q = nearbyintf(x / scale);
    return q <= 0.0f ? 0 : q >= 255.0f ? 255 : (uint8_t)q;
}

static void bsparq_encode(const dq_qchan *c, const float *x, int64_t n,
                          int32_t *codes)
{
    sparq_tables t;
    if (sparq_build(c, &t) != DQ_OK) return; /* calibrate checked n, shift_opt */
    float scale = (float)c->p[0];
    for (int64_t i = 0; i < n; i++) codes[i] = t.narrow[sparq_byte(x[i], scale)];
}

static void vsparq_encode(const dq_qchan *c, const float *x, int64_t n,
                          int32_t *codes)
{
    sparq_tables t;
    if (sparq_build(c, &t) != DQ_OK) return;
    float scale = (float)c->p[0];
    for (int64_t i = 0; i < n; i += 2) {
        uint8_t a = sparq_byte(x[i], scale);
        uint8_t b = i + 1 < n ? sparq_byte(x[i + 1], scale) : 0;
        if (a == 0 || b == 0) { /* one multiplier pair serves the other */
            codes[i] = t.wide[a];
            if (i + 1 < n) codes[i + 1] = t.wide[b];
        } else {
            codes[i] = t.narrow[a];
            codes[i + 1] = t.narrow[b];
        }
    }
}

static void sparq_decode(const dq_qchan *c, const int32_t *codes, int64_t n,
                         float *y)
{
    float scale = (float)c->p[0];
    for (int64_t i = 0; i < n; i++) y[i] = (float)codes[i] * scale;
}

/* Sorted distinct values: scale * every window output (and, for vSPARQ,
 * every survivor-window output). */
static int sparq_levels_of(const dq_qchan *c, double *out, int wide)
{
    sparq_tables t;
    if (sparq_build(c, &t) != DQ_OK) return -1;
    int seen[256] = {0}, m = 0;
    for (int v = 0; v < 256; v++) {
        seen[t.narrow[v]] = 1;
        if (wide) seen[t.wide[v]] = 1;
    }
    for (int v = 0; v < 256; v++)
        if (seen[v]) out[m++] = (double)((float)v * (float)c->p[0]);
    return m;
}

static int bsparq_levels(const dq_qchan *c, double *out)
{
    return sparq_levels_of(c, out, 0);
}

static int vsparq_levels(const dq_qchan *c, double *out)
{
    return sparq_levels_of(c, out, 1);
}

static void sparq_describe(const dq_qchan *c, char *buf, size_t len)
{
    int off[8], n = (int)c->p[1];
    int noff = dq_sparq_placements(n, (int)c->p[2], off);
    snprintf(buf, len, "INT8 scale=%.6g, %d-bit window, %d placements", c->p[0],
             n, noff);
}

static const char *const sparq_param_names[] = {"scale", "window", "shift_opt",
                                                NULL};

const dq_quant_scheme dq_scheme_bsparq = {
    .name = "bsparq",
    .label = "bSPARQ",
    .param_names = sparq_param_names,
    .flags = DQ_QS_UNSIGNED_ONLY | DQ_QS_ELEMENTWISE,
    .calibrate = sparq_calibrate,
    .encode = bsparq_encode,
    .decode = sparq_decode,
    .fake = NULL,
    .levels = bsparq_levels,
    .describe = sparq_describe,
    .storage_bits = 8,
};

const dq_quant_scheme dq_scheme_sparq = {
    .name = "sparq",
    .label = "SPARQ",
    .param_names = sparq_param_names,
    .flags = DQ_QS_UNSIGNED_ONLY,
    .calibrate = sparq_calibrate,
    .encode = vsparq_encode,
    .decode = sparq_decode,
    .fake = NULL, /* generic encode + decode: its 1024-element blocks are
                     even, so no pair is split */
    .levels = vsparq_levels,
    .describe = sparq_describe,
    .storage_bits = 8,
};
