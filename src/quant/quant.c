/*
 * quant.c — the generic layer every quantization scheme sits behind.
 *
 * Schemes (uniform.c, expq.c, and the baselines) implement one channel's
 * calibrate/encode/decode/fake/levels/describe (quant.h).  This file does
 * the rest once: validation of bits, data and options; signedness;
 * per-tensor vs per-output-channel splitting; all-zero channels; OpenMP
 * over channels and element chunks (each output depends only on its own
 * inputs, so results are byte-identical for any thread count); and the
 * shared error metrics RMAE, MSE and SQNR.
 */
#include "quant.h"

#include "error.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 65536 /* elements per OpenMP work item for per-tensor apply */
/* Below these sizes a parallel region costs more than it saves. */
#define PAR_MIN_ELEMS (1 << 16)
#define PAR_MIN_CALIB 4096

/* ---- options -------------------------------------------------------------- */

void dq_quant_opts_default(dq_quant_opts *o)
{
    memset(o, 0, sizeof *o);
    o->sign_mode = DQ_SIGN_AUTO;
    o->per_channel = 0;
    o->zero_code = 1;
    o->symmetric = 1;
    o->calibrator = DQ_CALIB_MINMAX;
    o->percentile = 99.99;
    o->calib_bins = 2048;
    o->calib_start_bin = 128;
    o->objective = DQ_OBJ_RMAE;
    o->hist_bins = 4096;
    o->base_max = 4.0;
    o->base_grid = 48;
    o->base_tol = 1e-4;
    o->ab_mode = DQ_AB_CLOSED;
    o->lloyd_iters = 12;
    o->refine_evals = 12;
    o->ab_grid = 24;
    o->fixed_base = 0;
    o->exact = 0;
    o->seed = 0;
}

int dq_quant_opts_check(const dq_quant_opts *o)
{
    if (!o) return DQ_ERROR(DQ_EINVAL, "quant options: NULL");
    if (o->sign_mode < DQ_SIGN_AUTO || o->sign_mode > DQ_SIGN_UNSIGNED)
        return DQ_ERROR(DQ_EINVAL, "quant options: bad sign_mode %d",
                        (int)o->sign_mode);
    if (o->calibrator < DQ_CALIB_MINMAX || o->calibrator > DQ_CALIB_KL)
        return DQ_ERROR(DQ_EINVAL, "quant options: bad calibrator %d",
                        (int)o->calibrator);
    if (o->objective < DQ_OBJ_RMAE || o->objective > DQ_OBJ_KL)
        return DQ_ERROR(DQ_EINVAL, "quant options: bad objective %d",
                        (int)o->objective);
    if (o->ab_mode != DQ_AB_CLOSED && o->ab_mode != DQ_AB_GRID)
        return DQ_ERROR(DQ_EINVAL, "quant options: bad ab_mode %d",
                        (int)o->ab_mode);
    if (!(o->percentile > 0 && o->percentile <= 100))
        return DQ_ERROR(DQ_EINVAL,
                        "quant options: percentile %g outside (0, 100]",
                        o->percentile);
    if (o->calib_bins < 16 || o->calib_bins > (1 << 20))
        return DQ_ERROR(DQ_EINVAL, "quant options: calib_bins %d outside "
                        "16..2^20", o->calib_bins);
    if (o->calib_start_bin < 0)
        return DQ_ERROR(DQ_EINVAL, "quant options: calib_start_bin < 0");
    if (o->hist_bins < 16 || o->hist_bins > (1 << 20))
        return DQ_ERROR(DQ_EINVAL, "quant options: hist_bins %d outside "
                        "16..2^20", o->hist_bins);
    if (!(o->base_max > 1.002) || !isfinite(o->base_max))
        return DQ_ERROR(DQ_EINVAL, "quant options: base_max %g must be > "
                        "1.002", o->base_max);
    if (o->base_grid < 2)
        return DQ_ERROR(DQ_EINVAL, "quant options: base_grid %d < 2",
                        o->base_grid);
    if (!(o->base_tol > 0))
        return DQ_ERROR(DQ_EINVAL, "quant options: base_tol must be > 0");
    if (o->lloyd_iters < 1)
        return DQ_ERROR(DQ_EINVAL, "quant options: lloyd_iters < 1");
    if (o->refine_evals < 0)
        return DQ_ERROR(DQ_EINVAL, "quant options: refine_evals < 0");
    if (o->ab_grid < 2)
        return DQ_ERROR(DQ_EINVAL, "quant options: ab_grid < 2");
    if (!(o->fixed_base == 0 || (o->fixed_base > 1 && isfinite(o->fixed_base))))
        return DQ_ERROR(DQ_EINVAL, "quant options: fixed_base %g must be 0 "
                        "(search) or > 1", o->fixed_base);
    return DQ_OK;
}

const char *dq_calibrator_name(dq_calibrator c)
{
    switch (c) {
    case DQ_CALIB_MINMAX: return "minmax";
    case DQ_CALIB_PERCENTILE: return "percentile";
    case DQ_CALIB_MSE: return "mse";
    case DQ_CALIB_KL: return "kl";
    }
    return "?";
}

const char *dq_objective_name(dq_objective o)
{
    switch (o) {
    case DQ_OBJ_RMAE: return "rmae";
    case DQ_OBJ_MSE: return "mse";
    case DQ_OBJ_KL: return "kl";
    }
    return "?";
}

/* ---- parameters ------------------------------------------------------------ */

int dq_qchan_cb_alloc(dq_qchan *c)
{
    if (c->cb) return DQ_OK;
    c->cb = calloc(1, sizeof *c->cb);
    if (!c->cb) return DQ_ERROR(DQ_ENOMEM, "codebook: out of memory");
    return DQ_OK;
}

void dq_qparams_free(dq_qparams *p)
{
    if (!p) return;
    if (p->chan)
        for (int64_t c = 0; c < p->nchan; c++) free(p->chan[c].cb);
    free(p->chan);
    free(p);
}

static dq_qparams *qparams_new(const dq_quant_scheme *s, int64_t nchan)
{
    dq_qparams *p = calloc(1, sizeof *p);
    if (!p) DQ_ERROR_NULL(DQ_ENOMEM, "quant params: out of memory");
    p->chan = calloc((size_t)nchan, sizeof *p->chan);
    if (!p->chan) {
        free(p);
        DQ_ERROR_NULL(DQ_ENOMEM, "quant params: out of memory (%lld channels)",
                      (long long)nchan);
    }
    p->scheme = s;
    p->nchan = nchan;
    return p;
}

dq_qparams *dq_qparams_clone(const dq_qparams *p)
{
    if (!p) DQ_ERROR_NULL(DQ_EINVAL, "quant params: NULL");
    dq_qparams *q = qparams_new(p->scheme, p->nchan);
    if (!q) return NULL;
    dq_qchan *chan = q->chan;
    *q = *p;
    q->chan = chan;
    for (int64_t c = 0; c < p->nchan; c++) {
        q->chan[c] = p->chan[c];
        q->chan[c].cb = NULL;
        if (p->chan[c].cb) {
            if (dq_qchan_cb_alloc(&q->chan[c]) != DQ_OK) {
                dq_qparams_free(q); /* exception in constructor */
                return NULL;
            }
            *q->chan[c].cb = *p->chan[c].cb;
        }
    }
    return q;
}

/* Index of the first non-finite element, or -1.  A vectorised scan finds
 * whether there is one; only then is it located. */
static int64_t first_nonfinite(const float *x, int64_t n)
{
    int any = 0;
#pragma omp simd reduction(| : any)
    for (int64_t i = 0; i < n; i++) any |= !(fabsf(x[i]) <= FLT_MAX);
    if (!any) return -1;
    int64_t bad = n;
#pragma omp parallel for reduction(min : bad) schedule(static) if (n >= PAR_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]) && i < bad) bad = i;
    return bad < n ? bad : -1;
}

static int nonfinite_error(const char *name, const float *x, int64_t i)
{
    return DQ_ERROR(DQ_EINVAL, "%s: element %lld is %s", name ? name : "tensor",
                    (long long)i,
                    isnan(x[i]) ? "NaN" : (x[i] > 0 ? "+Inf" : "-Inf"));
}

static int check_bits(const char *name, int bits)
{
    if (bits < DQ_QBITS_MIN || bits > DQ_QBITS_MAX)
        return DQ_ERROR(DQ_EINVAL, "%s: bits = %d, expected %d..%d",
                        name ? name : "tensor", bits, DQ_QBITS_MIN,
                        DQ_QBITS_MAX);
    return DQ_OK;
}

dq_qparams *dq_quant_calibrate_raw(const dq_quant_scheme *s, const char *name,
                                   const float *x, int64_t nchan,
                                   int64_t chan_size, int bits,
                                   const dq_quant_opts *o)
{
    const char *nm = name && *name ? name : "tensor";
    dq_quant_opts defaults;
    if (!o) {
        dq_quant_opts_default(&defaults);
        o = &defaults;
    }
    if (!s) DQ_ERROR_NULL(DQ_EINVAL, "%s: no quantization scheme", nm);
    if (check_bits(nm, bits) != DQ_OK) return NULL;
    if (dq_quant_opts_check(o) != DQ_OK) {
        dq_error_prefix(DQ_EINVAL, "%s", nm);
        return NULL;
    }
    if (nchan < 1 || chan_size < 1 || !x)
        DQ_ERROR_NULL(DQ_EINVAL, "%s: empty tensor (nothing to quantize)", nm);
    int64_t n = nchan * chan_size;
    int64_t bad = first_nonfinite(x, n);
    if (bad >= 0) {
        nonfinite_error(nm, x, bad);
        return NULL;
    }
    int is_signed;
    if (o->sign_mode == DQ_SIGN_SIGNED) {
        is_signed = 1;
    } else if (o->sign_mode == DQ_SIGN_UNSIGNED) {
        is_signed = 0;
    } else {
        int neg = 0;
#pragma omp parallel for reduction(| : neg) schedule(static) if (n >= PAR_MIN_ELEMS)
        for (int64_t i = 0; i < n; i++) neg |= x[i] < 0;
        is_signed = neg;
    }
    if (is_signed && (s->flags & DQ_QS_UNSIGNED_ONLY))
        DQ_ERROR_NULL(DQ_EUNSUP,
                      "%s: scheme '%s' quantizes unsigned tensors only, and "
                      "this one has negative values", nm, s->name);

    dq_qparams *p = qparams_new(s, nchan);
    if (!p) return NULL;
    p->bits = bits;
    p->is_signed = is_signed;
    p->per_channel = nchan > 1 || o->per_channel;
    p->chan_size = chan_size;
    p->opts = *o;

    /* Channels are independent; the lowest failing channel's error wins,
     * whatever the thread count. */
    int64_t fail = nchan;
    int fail_status = DQ_OK;
    char fail_msg[512] = "";
#pragma omp parallel for schedule(dynamic, 1) if (nchan > 1 && n >= PAR_MIN_CALIB)
    for (int64_t c = 0; c < nchan; c++) {
        dq_qchan *ch = &p->chan[c];
        const float *xc = x + c * chan_size;
        ch->bits = bits;
        ch->is_signed = is_signed;
        ch->zero_code = o->zero_code ? 1 : 0;
        ch->objective = NAN;
        int allzero = 1;
        for (int64_t i = 0; i < chan_size && allzero; i++)
            allzero = xc[i] == 0;
        int st = DQ_OK;
        if (allzero)
            ch->zero = 1;
        else
            st = s->calibrate(xc, chan_size, o, ch);
        if (st != DQ_OK) {
#pragma omp critical(dq_quant_calib_err)
            if (c < fail) {
                fail = c;
                fail_status = st;
                snprintf(fail_msg, sizeof fail_msg, "%s", dq_error_message());
            }
        }
    }
    if (fail < nchan) {
        dq_qparams_free(p);
        if (nchan > 1)
            dq_error_set(fail_status, "%s: channel %lld: %s: %s", nm,
                         (long long)fail, s->name, fail_msg);
        else
            dq_error_set(fail_status, "%s: %s: %s", nm, s->name, fail_msg);
        return NULL;
    }
    return p;
}

dq_qparams *dq_quant_calibrate(const dq_quant_scheme *s, const dq_tensor *t,
                               int bits, const dq_quant_opts *o)
{
    if (!t) DQ_ERROR_NULL(DQ_EINVAL, "calibrate: NULL tensor");
    const char *nm = t->name[0] ? t->name : "tensor";
    if (t->size <= 0 || !t->data)
        DQ_ERROR_NULL(DQ_EINVAL, "%s: empty tensor (nothing to quantize)", nm);
    int64_t nchan = 1;
    if (o && o->per_channel && t->rank >= 1) nchan = t->shape[0];
    if (nchan < 1)
        DQ_ERROR_NULL(DQ_EINVAL, "%s: empty tensor (nothing to quantize)", nm);
    dq_qparams *p =
        dq_quant_calibrate_raw(s, nm, t->data, nchan, t->size / nchan, bits, o);
    if (p && o && o->per_channel) p->per_channel = 1;
    return p;
}

/* One operand of dq_quant_share, validated (and prepared when the scheme
 * can be). */
struct dq_qshare {
    const dq_quant_scheme *s;
    char name[256];
    const float *x;
    int64_t n;
    int bits, sign, allzero;
    dq_sign_mode sign_mode;
    void *prep; /* the scheme's share_prep, or NULL */
};

void dq_qshare_free(dq_qshare *p)
{
    if (!p) return;
    if (p->prep) p->s->share_prep_free(p->prep);
    free(p);
}

dq_qshare *dq_quant_share_prep(const dq_quant_scheme *s, const char *name,
                               const float *x, int64_t n, int bits,
                               const dq_quant_opts *o)
{
    const char *nm = name && *name ? name : "operand";
    if (!s || !o) DQ_ERROR_NULL(DQ_EINVAL, "%s: share: NULL argument", nm);
    if (check_bits(nm, bits) != DQ_OK) return NULL;
    if (dq_quant_opts_check(o) != DQ_OK) {
        dq_error_prefix(DQ_EINVAL, "%s", nm);
        return NULL;
    }
    if (!x || n < 1)
        DQ_ERROR_NULL(DQ_EINVAL, "%s: empty tensor (nothing to quantize)", nm);
    int64_t bad = first_nonfinite(x, n);
    if (bad >= 0) {
        nonfinite_error(nm, x, bad);
        return NULL;
    }
    dq_qshare *p = calloc(1, sizeof *p);
    if (!p) DQ_ERROR_NULL(DQ_ENOMEM, "%s: out of memory", nm);
    int neg = 0, nz = 0;
    for (int64_t i = 0; i < n; i++) {
        neg |= x[i] < 0;
        nz |= x[i] != 0;
    }
    p->s = s;
    snprintf(p->name, sizeof p->name, "%s", nm);
    p->x = x;
    p->n = n;
    p->bits = bits;
    p->sign_mode = o->sign_mode;
    p->sign = o->sign_mode == DQ_SIGN_SIGNED     ? 1
              : o->sign_mode == DQ_SIGN_UNSIGNED ? 0
                                                 : neg;
    p->allzero = !nz;
    if (s->share && s->share_prep && !p->allzero &&
        !(p->prep = s->share_prep(x, n, bits, p->sign, o))) {
        dq_error_prefix(dq_error_status(), "%s: %s", nm, s->name);
        free(p); /* exception in constructor, avoid memory leak */
        return NULL;
    }
    return p;
}

int dq_quant_share_prepped(const dq_qshare *p0, const dq_qshare *p1,
                           dq_quant_opts *o0, dq_quant_opts *o1, int *shared)
{
    if (!p0 || !p1 || !o0 || !o1 || !shared)
        return DQ_ERROR(DQ_EINVAL, "share: NULL argument");
    *shared = 0;
    const dq_quant_scheme *s = p0->s;
    if (p1->s != s)
        return DQ_ERROR(DQ_EINVAL, "%s, %s: share: operands prepared for "
                        "different schemes", p0->name, p1->name);
    if (o0->sign_mode != p0->sign_mode || o1->sign_mode != p1->sign_mode)
        return DQ_ERROR(DQ_EINVAL, "%s, %s: share: sign_mode differs from "
                        "the prepared operands'", p0->name, p1->name);
    if (!s->share || p0->allzero || p1->allzero) return DQ_OK;
    int rc = p0->prep && p1->prep
                 ? s->share_prepped(p0->prep, p1->prep, o0, o1)
                 : s->share(p0->x, p0->n, p0->bits, p0->sign, p1->x, p1->n,
                            p1->bits, p1->sign, o0, o1);
    if (rc != DQ_OK)
        return dq_error_prefix(rc, "%s, %s: %s", p0->name, p1->name, s->name);
    *shared = 1;
    return DQ_OK;
}

int dq_quant_share(const dq_quant_scheme *s, const char *name0,
                   const float *x0, int64_t n0, int bits0, const char *name1,
                   const float *x1, int64_t n1, int bits1, dq_quant_opts *o0,
                   dq_quant_opts *o1, int *shared)
{
    if (!s || !o0 || !o1 || !shared)
        return DQ_ERROR(DQ_EINVAL, "%s, %s: share: NULL argument",
                        name0 && *name0 ? name0 : "operand 0",
                        name1 && *name1 ? name1 : "operand 1");
    *shared = 0;
    dq_qshare *p0 = dq_quant_share_prep(s, name0 && *name0 ? name0
                                                           : "operand 0",
                                        x0, n0, bits0, o0);
    if (!p0) return dq_error_status();
    dq_qshare *p1 = dq_quant_share_prep(s, name1 && *name1 ? name1
                                                           : "operand 1",
                                        x1, n1, bits1, o1);
    int rc = p1 ? dq_quant_share_prepped(p0, p1, o0, o1, shared)
                : dq_error_status();
    dq_qshare_free(p0);
    dq_qshare_free(p1);
    return rc;
}

/* ---- apply ------------------------------------------------------------------ */

/* Channel of element i, and validation of n. */
static int check_apply(const dq_qparams *p, const void *buf, int64_t n)
{
    if (!p || !buf) return DQ_ERROR(DQ_EINVAL, "quantize: NULL argument");
    if (n <= 0) return DQ_ERROR(DQ_EINVAL, "quantize: empty tensor");
    if (p->nchan > 1 && n != p->nchan * p->chan_size)
        return DQ_ERROR(DQ_EINVAL,
                        "quantize: %lld elements, but the per-channel "
                        "parameters are for %lld x %lld",
                        (long long)n, (long long)p->nchan,
                        (long long)p->chan_size);
    return DQ_OK;
}

/* Work items: per channel when per-channel, else fixed chunks (elementwise
 * schemes) or the whole buffer (schemes that look at neighbours). */
static int64_t item_count(const dq_qparams *p, int64_t n, int64_t *len)
{
    if (p->nchan > 1) {
        *len = p->chan_size;
        return p->nchan;
    }
    if (!(p->scheme->flags & DQ_QS_ELEMENTWISE)) {
        *len = n;
        return 1;
    }
    *len = CHUNK;
    return (n + CHUNK - 1) / CHUNK;
}

static void fake_span(const dq_qparams *p, const dq_qchan *c, float *x,
                      int64_t m)
{
    if (c->zero) {
        memset(x, 0, sizeof(float) * (size_t)m);
        return;
    }
    if (p->scheme->fake) {
        p->scheme->fake(c, x, m);
        return;
    }
    int32_t buf[1024];
    for (int64_t i = 0; i < m; i += 1024) {
        int64_t k = m - i < 1024 ? m - i : 1024;
        p->scheme->encode(c, x + i, k, buf);
        p->scheme->decode(c, buf, k, x + i);
    }
}

int dq_quant_fake(const dq_qparams *p, float *x, int64_t n)
{
    DQ_TRY(check_apply(p, x, n));
    int64_t bad = first_nonfinite(x, n);
    if (bad >= 0) return nonfinite_error("quantize", x, bad);
    int64_t len, items = item_count(p, n, &len);
#pragma omp parallel for schedule(dynamic, 1) if (items > 1 && n >= PAR_MIN_ELEMS)
    for (int64_t it = 0; it < items; it++) {
        const dq_qchan *c = &p->chan[p->nchan > 1 ? it : 0];
        int64_t off = it * len, m = n - off < len ? n - off : len;
        fake_span(p, c, x + off, m);
    }
    return DQ_OK;
}

int dq_quant_fake_tensor(const dq_qparams *p, dq_tensor *t)
{
    if (!t) return DQ_ERROR(DQ_EINVAL, "quantize: NULL tensor");
    int st = dq_quant_fake(p, t->data, t->size);
    if (st != DQ_OK && t->name[0]) dq_error_prefix(st, "%s", t->name);
    return st;
}

int dq_quant_encode(const dq_qparams *p, const float *x, int64_t n,
                    int32_t *codes)
{
    DQ_TRY(check_apply(p, x, n));
    if (!codes) return DQ_ERROR(DQ_EINVAL, "encode: NULL codes");
    int64_t bad = first_nonfinite(x, n);
    if (bad >= 0) return nonfinite_error("encode", x, bad);
    int64_t len, items = item_count(p, n, &len);
#pragma omp parallel for schedule(dynamic, 1) if (items > 1 && n >= PAR_MIN_ELEMS)
    for (int64_t it = 0; it < items; it++) {
        const dq_qchan *c = &p->chan[p->nchan > 1 ? it : 0];
        int64_t off = it * len, m = n - off < len ? n - off : len;
        if (c->zero)
            memset(codes + off, 0, sizeof(int32_t) * (size_t)m);
        else
            p->scheme->encode(c, x + off, m, codes + off);
    }
    return DQ_OK;
}

int dq_quant_decode(const dq_qparams *p, const int32_t *codes, int64_t n,
                    float *y)
{
    DQ_TRY(check_apply(p, codes, n));
    if (!y) return DQ_ERROR(DQ_EINVAL, "decode: NULL output");
    int64_t len, items = item_count(p, n, &len);
#pragma omp parallel for schedule(dynamic, 1) if (items > 1 && n >= PAR_MIN_ELEMS)
    for (int64_t it = 0; it < items; it++) {
        const dq_qchan *c = &p->chan[p->nchan > 1 ? it : 0];
        int64_t off = it * len, m = n - off < len ? n - off : len;
        if (c->zero)
            memset(y + off, 0, sizeof(float) * (size_t)m);
        else
            p->scheme->decode(c, codes + off, m, y + off);
    }
    return DQ_OK;
}

int dq_quant_levels(const dq_qparams *p, int64_t ch, double *out)
{
    if (!p || !out) {
        DQ_ERROR(DQ_EINVAL, "levels: NULL argument");
        return -1;
    }
    if (ch < 0 || ch >= p->nchan) {
        DQ_ERROR(DQ_EINVAL, "levels: channel %lld outside 0..%lld",
                 (long long)ch, (long long)p->nchan - 1);
        return -1;
    }
    const dq_qchan *c = &p->chan[ch];
    if (c->zero) {
        out[0] = 0;
        return 1;
    }
    return p->scheme->levels(c, out);
}

void dq_quant_describe(const dq_qparams *p, char *buf, size_t len)
{
    if (!buf || len == 0) return;
    if (!p) {
        snprintf(buf, len, "(none)");
        return;
    }
    char one[256] = "";
    const dq_qchan *c0 = &p->chan[0];
    if (c0->zero)
        snprintf(one, sizeof one, "all zero");
    else
        p->scheme->describe(c0, one, sizeof one);
    int zc = c0->zero_code;
    if (p->nchan > 1) {
        int64_t nz = 0;
        for (int64_t c = 0; c < p->nchan; c++) nz += p->chan[c].zero;
        snprintf(buf, len, "%s %db %s%s per-channel(%lld, %lld all zero): "
                 "ch0: %s", p->scheme->name, p->bits,
                 p->is_signed ? "signed" : "unsigned", zc ? " zc" : "",
                 (long long)p->nchan, (long long)nz, one);
    } else {
        snprintf(buf, len, "%s %db %s%s per-tensor: %s", p->scheme->name,
                 p->bits, p->is_signed ? "signed" : "unsigned",
                 zc ? " zc" : "", one);
    }
}

/* ---- error metrics ---------------------------------------------------------- */

void dq_quant_error(const float *x, const float *q, int64_t n, dq_qerror *e)
{
    memset(e, 0, sizeof *e);
    e->n = n;
    for (int64_t i = 0; i < n; i++) {
        double xv = (double)x[i], d = xv - (double)q[i];
        e->abs_err += fabs(d);
        e->abs_sum += fabs(xv);
        e->sq_err += d * d;
        e->sq_sum += xv * xv;
    }
    if (e->abs_sum > 0)
        e->rmae = e->abs_err / e->abs_sum;
    else
        e->rmae = e->abs_err == 0 ? 0.0 : INFINITY;
    e->mse = n > 0 ? e->sq_err / (double)n : 0.0;
    if (e->sq_err == 0)
        e->sqnr_db = INFINITY;
    else if (e->sq_sum == 0)
        e->sqnr_db = -INFINITY;
    else
        e->sqnr_db = 10.0 * log10(e->sq_sum / e->sq_err);
}

int dq_quant_measure(const dq_quant_scheme *s, const dq_tensor *t, int bits,
                     const dq_quant_opts *o, dq_qerror *e,
                     dq_qparams **params_out)
{
    if (params_out) *params_out = NULL;
    if (!e) return DQ_ERROR(DQ_EINVAL, "measure: NULL result");
    dq_qparams *p = dq_quant_calibrate(s, t, bits, o);
    if (!p) return dq_error_status() ? dq_error_status() : DQ_EINVAL;
    float *q = malloc(sizeof(float) * (size_t)t->size);
    if (!q) {
        dq_qparams_free(p);
        return DQ_ERROR(DQ_ENOMEM, "%s: out of memory", t->name);
    }
    memcpy(q, t->data, sizeof(float) * (size_t)t->size);
    int st = dq_quant_fake(p, q, t->size);
    if (st == DQ_OK) dq_quant_error(t->data, q, t->size, e);
    free(q);
    if (st == DQ_OK && params_out)
        *params_out = p;
    else
        dq_qparams_free(p);
    return st;
}
