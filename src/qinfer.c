/*
 * qinfer.c — quantized inference (qinfer.h): calibration samples, plan
 * building, plans bound to the engine's hooks, deterministic
 * batch-parallel evaluation with prefix caching, the Wilson interval, and
 * the INT8 baseline.  Sits above graph/engine and quant, below the search
 * and the experiment drivers.
 */
#include "qinfer.h"

#include "error.h"
#include "h5io.h"
#include "log.h"
#include "reservoir.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_MAX 1024

/* ---- calibration samples ----------------------------------------------------- */

void dq_calib_free(dq_calib *c)
{
    if (!c) return;
    for (int i = 0; i < c->n && c->a; i++) free(c->a[i].x);
    free(c->a);
    free(c->model_file);
    free(c->source);
    free(c);
}

/* A dq_calib with one empty entry per quantizable input of m. */
static dq_calib *calib_new(const dq_model *m, const char *source)
{
    dq_calib *c = calloc(1, sizeof *c);
    if (!c) DQ_ERROR_NULL(DQ_ENOMEM, "%s: calib: out of memory", m->path);
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++) n += dq_node_quant_inputs(&m->nodes[i]);
    c->a = calloc(n > 0 ? (size_t)n : 1, sizeof *c->a);
    c->model_file = strdup(m->path);
    c->source = strdup(source);
    if (!c->a || !c->model_file || !c->source) {
        dq_calib_free(c); /* exception in constructor, avoid memory leak */
        DQ_ERROR_NULL(DQ_ENOMEM, "%s: calib: out of memory", m->path);
    }
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < dq_node_quant_inputs(&m->nodes[i]); k++) {
            dq_actsample *a = &c->a[c->n++];
            a->node = i;
            a->input = k;
            snprintf(a->name, sizeof a->name, "%.255s.input%c",
                     m->nodes[i].name, (char)('0' + k % 10));
        }
    return c;
}

const dq_actsample *dq_calib_get(const dq_calib *c, int node, int input)
{
    for (int i = 0; c && i < c->n; i++)
        if (c->a[i].node == node && c->a[i].input == input) return &c->a[i];
    return NULL;
}

/* Fill a's calibration data from sample[0..sampled) and the exact stats. */
static int actsample_fill(dq_actsample *a, const float *sample, int64_t sampled,
                          int64_t count, double min, double max,
                          double zero_frac)
{
    a->count = count;
    a->sampled = sampled;
    a->min = min;
    a->max = max;
    a->zero_frac = zero_frac;
    a->n = sampled + (count > sampled ? 2 : 0);
    a->x = malloc((size_t)(a->n > 0 ? a->n : 1) * sizeof *a->x);
    if (!a->x) return DQ_ERROR(DQ_ENOMEM, "%s: out of memory", a->name);
    memcpy(a->x, sample, (size_t)sampled * sizeof *a->x);
    if (count > sampled) {
        a->x[sampled] = (float)min;
        a->x[sampled + 1] = (float)max;
    }
    return DQ_OK;
}

/* One batch's captured inputs: buf[i] holds, in capture order, every value
 * of entry i of the dq_calib seen during the batch's forward. */
typedef struct {
    const dq_calib *c;
    float **buf;
    int64_t *len, *cap;
} capture_buf;

static int capture_fn(void *ctx, const dq_node *node, int input,
                      const dq_tensor *x)
{
    capture_buf *cb = ctx;
    for (int i = 0; i < cb->c->n; i++) {
        if (cb->c->a[i].node != node->index || cb->c->a[i].input != input)
            continue;
        if (cb->len[i] + x->size > cb->cap[i]) {
            int64_t cap = 2 * (cb->len[i] + x->size);
            float *b = realloc(cb->buf[i], (size_t)cap * sizeof *b);
            if (!b)
                return DQ_ERROR(DQ_ENOMEM, "%s: calib capture: out of memory",
                                cb->c->a[i].name);
            cb->buf[i] = b;
            cb->cap[i] = cap;
        }
        memcpy(cb->buf[i] + cb->len[i], x->data,
               (size_t)x->size * sizeof(float));
        cb->len[i] += x->size;
        return DQ_OK;
    }
    return DQ_OK;
}

static void capture_buf_free(capture_buf *cb, int n)
{
    for (int i = 0; cb->buf && i < n; i++) free(cb->buf[i]);
    free(cb->buf);
    free(cb->len);
    free(cb->cap);
}

/* Batches run in parallel, T at a time (one engine each, the captured
 * inputs buffered per batch); the buffers then go into the reservoirs in
 * batch order, so the sample is the same as a sequential pass. */
dq_calib *dq_calib_capture(const dq_model *m, const dq_dataset *ds, int batch,
                           int64_t max_samples, uint64_t seed, int progress)
{
    if (!m || !ds || batch < 1 || max_samples < 1)
        DQ_ERROR_NULL(DQ_EINVAL, "calib: bad arguments");
    dq_calib *c = calib_new(m, "capture");
    if (!c) return NULL;
    c->seed = seed;
    c->max_samples = max_samples;
    c->images = ds->n;
    int T = omp_get_max_threads(), n = c->n > 0 ? c->n : 1;
    dq_reservoir **r = calloc((size_t)n, sizeof *r);
    dq_engine **e = calloc((size_t)T, sizeof *e);
    capture_buf *cb = calloc((size_t)T, sizeof *cb);
    float *logits = malloc((size_t)T * (size_t)batch *
                           (size_t)m->num_classes * sizeof *logits);
    int *st = calloc((size_t)T, sizeof *st);
    char *msg = calloc((size_t)T, MSG_MAX);
    int rc = DQ_OK;
    if (!r || !e || !cb || !logits || !st || !msg) {
        rc = DQ_ERROR(DQ_ENOMEM, "%s: calib: out of memory", m->path);
        goto done;
    }
    for (int i = 0; i < c->n && rc == DQ_OK; i++)
        if (!(r[i] = dq_reservoir_alloc(max_samples, seed)))
            rc = dq_error_status();
    for (int t = 0; t < T && rc == DQ_OK; t++) {
        cb[t].c = c;
        cb[t].buf = calloc((size_t)n, sizeof *cb[t].buf);
        cb[t].len = calloc((size_t)n, sizeof *cb[t].len);
        cb[t].cap = calloc((size_t)n, sizeof *cb[t].cap);
        if (!(e[t] = dq_engine_alloc(m))) rc = dq_error_status();
        else if (!cb[t].buf || !cb[t].len || !cb[t].cap)
            rc = DQ_ERROR(DQ_ENOMEM, "%s: calib: out of memory", m->path);
        else dq_engine_set_capture(e[t], capture_fn, &cb[t]);
    }
    if (rc != DQ_OK) goto done;
    dq_progress *pr = progress ? dq_progress_alloc("calib capture", ds->n)
                               : NULL;
    int64_t isz = m->input_size, nb = (ds->n + batch - 1) / batch;
    for (int64_t g0 = 0; g0 < nb && rc == DQ_OK; g0 += T) {
        int gn = (int)(nb - g0 < T ? nb - g0 : T);
#pragma omp parallel for schedule(static, 1)
        for (int j = 0; j < gn; j++) {
            int64_t b0 = (g0 + j) * batch;
            int B = (int)(ds->n - b0 < batch ? ds->n - b0 : batch);
            for (int i = 0; i < c->n; i++) cb[j].len[i] = 0;
            st[j] = dq_engine_forward(
                e[j], ds->images->data + b0 * isz, B,
                logits + (size_t)j * (size_t)batch * (size_t)m->num_classes);
            if (st[j] != DQ_OK)
                snprintf(msg + (size_t)j * MSG_MAX, MSG_MAX, "%s",
                         dq_error_message());
            dq_progress_add(pr, B);
        }
        for (int j = 0; j < gn && rc == DQ_OK; j++) {
            if (st[j] != DQ_OK) {
                rc = dq_error_set(st[j], "%s", msg + (size_t)j * MSG_MAX);
                break;
            }
            for (int i = 0; i < c->n && rc == DQ_OK; i++) {
                rc = dq_reservoir_add(r[i], cb[j].buf[i], cb[j].len[i]);
                if (rc != DQ_OK) dq_error_prefix(rc, "%s", c->a[i].name);
            }
        }
    }
    dq_progress_free(pr);
    for (int i = 0; i < c->n && rc == DQ_OK; i++) {
        int64_t count = dq_reservoir_count(r[i]);
        rc = actsample_fill(&c->a[i], dq_reservoir_data(r[i]),
                            dq_reservoir_size(r[i]), count,
                            dq_reservoir_min(r[i]), dq_reservoir_max(r[i]),
                            count ? (double)dq_reservoir_zeros(r[i]) / count
                                  : 0);
    }
done:
    for (int i = 0; r && i < c->n; i++) dq_reservoir_free(r[i]);
    for (int t = 0; e && t < T; t++) dq_engine_free(e[t]);
    for (int t = 0; cb && t < T; t++) capture_buf_free(&cb[t], c->n);
    free(r);
    free(e);
    free(cb);
    free(logits);
    free(st);
    free(msg);
    if (rc != DQ_OK) {
        dq_calib_free(c);
        return NULL;
    }
    return c;
}

dq_calib *dq_calib_read(const dq_model *m, const char *path)
{
    dq_h5 *f = dq_h5_open(path, "dnateq-tensors", 1);
    if (!f) return NULL;
    dq_calib *c = calib_new(m, path);
    int rc = c ? DQ_OK : dq_error_status();
    int64_t seed = 0, maxs = 0, images = 0;
    if (rc == DQ_OK && (rc = dq_h5_get_attr_int(f, "/", "seed", &seed)) == DQ_OK &&
        (rc = dq_h5_get_attr_int(f, "/", "max_samples", &maxs)) == DQ_OK)
        rc = dq_h5_get_attr_int(f, "/", "images", &images);
    if (rc == DQ_OK) {
        c->seed = (uint64_t)seed;
        c->max_samples = maxs;
        c->images = images;
    }
    for (int i = 0; c && i < c->n && rc == DQ_OK; i++) {
        dq_actsample *a = &c->a[i];
        char obj[DQ_NAME_MAX + 32];
        snprintf(obj, sizeof obj, "/tensors/%s", a->name);
        dq_tensor *t = NULL;
        int64_t count = 0, sampled = 0;
        double mn = 0, mx = 0, zf = 0;
        if (!dq_h5_exists(f, obj)) {
            rc = DQ_ERROR(DQ_EFORMAT, "%s: no tensor '%s' for node '%s' of "
                          "model %s", path, obj, m->nodes[a->node].name,
                          m->path);
            break;
        }
        if ((rc = dq_h5_read_tensor(f, obj, &t)) != DQ_OK ||
            (rc = dq_h5_get_attr_int(f, obj, "count", &count)) != DQ_OK ||
            (rc = dq_h5_get_attr_int(f, obj, "sampled", &sampled)) != DQ_OK ||
            (rc = dq_h5_get_attr_double(f, obj, "min", &mn)) != DQ_OK ||
            (rc = dq_h5_get_attr_double(f, obj, "max", &mx)) != DQ_OK ||
            (rc = dq_h5_get_attr_double(f, obj, "zero_frac", &zf)) != DQ_OK) {
            dq_tensor_free(t);
            break;
        }
        if (sampled != t->size || sampled > count || sampled < 1)
            rc = DQ_ERROR(DQ_EFORMAT, "%s: %s: %lld values stored, attributes "
                          "say sampled %lld of %lld", path, obj,
                          (long long)t->size, (long long)sampled,
                          (long long)count);
        if (rc == DQ_OK)
            rc = actsample_fill(a, t->data, sampled, count, mn, mx, zf);
        dq_tensor_free(t);
    }
    dq_h5_close(f);
    if (rc != DQ_OK) {
        dq_calib_free(c);
        return NULL;
    }
    return c;
}

/* ---- building plans ----------------------------------------------------------- */

static int spec_none(const dq_qspec *s)
{
    return !s || !s->scheme || strcmp(s->scheme, DQ_PLAN_NONE) == 0;
}

/* Calibrate one slot; *out is NULL for "none". */
static int calibrate_slot(const dq_plan *p, const dq_model *m,
                          const dq_calib *c, int layer, int slot,
                          const dq_qspec *s, dq_qparams **out)
{
    *out = NULL;
    const dq_plan_layer *L = &p->layers[layer];
    if (spec_none(s)) return DQ_OK;
    const dq_quant_scheme *qs = dq_quant_find(s->scheme);
    if (!qs) return dq_error_prefix(DQ_EINVAL, "layer '%s'", L->name);
    if (L->node < 0 || L->node >= m->n_nodes ||
        strcmp(m->nodes[L->node].name, L->name) != 0)
        return DQ_ERROR(DQ_EINVAL, "%s: layer '%s': plan not checked against "
                        "model %s", p->path && *p->path ? p->path : "plan",
                        L->name, m->path);
    const dq_node *nd = &m->nodes[L->node];
    if (slot == DQ_PLAN_W) {
        *out = dq_quant_calibrate(qs, nd->weight, s->bits, &s->opts);
        if (!*out) return dq_error_prefix(dq_error_status(), "%s: layer '%s' "
                                          "weight", m->path, L->name);
        return DQ_OK;
    }
    const dq_actsample *a = dq_calib_get(c, L->node, slot - DQ_PLAN_A0);
    if (!a || a->n < 1)
        return DQ_ERROR(DQ_EINVAL, "%s: layer '%s' input %d: no calibration "
                        "sample", m->path, L->name, slot - DQ_PLAN_A0);
    dq_quant_opts o = s->opts;
    o.per_channel = 0;
    *out = dq_quant_calibrate_raw(qs, a->name, a->x, 1, a->n, s->bits, &o);
    if (!*out) return dq_error_prefix(dq_error_status(), "%s", m->path);
    return DQ_OK;
}

int dq_plan_quantize(dq_plan *p, const dq_model *m, const dq_calib *c,
                     int layer, int slot, const dq_qspec *s)
{
    if (!p || !m || layer < 0 || layer >= p->n_layers || slot < 0 ||
        slot >= DQ_PLAN_SLOTS)
        return DQ_ERROR(DQ_EINVAL, "plan: quantize: bad arguments");
    dq_qparams *qp = NULL;
    DQ_TRY(calibrate_slot(p, m, c, layer, slot, s, &qp));
    if (!qp) return dq_plan_set(p, layer, slot, DQ_PLAN_NONE,
                                DQ_PLAN_FP32_BITS, NULL);
    return dq_plan_set(p, layer, slot, s->scheme, s->bits, qp);
}

dq_plan *dq_plan_build(const dq_model *m, const dq_calib *c,
                       const dq_qspec *spec, const char *label)
{
    dq_plan *p = dq_plan_alloc(m, label);
    if (!p) return NULL;
    int nj = p->n_layers * DQ_PLAN_SLOTS;
    dq_qparams **qp = calloc((size_t)(nj > 0 ? nj : 1), sizeof *qp);
    int *st = calloc((size_t)(nj > 0 ? nj : 1), sizeof *st);
    char *msg = calloc((size_t)(nj > 0 ? nj : 1), MSG_MAX);
    if (!qp || !st || !msg) {
        free(qp);
        free(st);
        free(msg);
        dq_plan_free(p);
        DQ_ERROR_NULL(DQ_ENOMEM, "%s: plan: out of memory", m->path);
    }
    /* Slots are independent; each keeps its own status, so the first
     * failing one (in layer order) is reported whatever the threads. */
#pragma omp parallel for schedule(dynamic, 1)
    for (int j = 0; j < nj; j++) {
        int l = j / DQ_PLAN_SLOTS, s = j % DQ_PLAN_SLOTS;
        if (!p->layers[l].t[s].present) continue;
        st[j] = calibrate_slot(p, m, c, l, s, &spec[j], &qp[j]);
        if (st[j] != DQ_OK)
            snprintf(msg + (size_t)j * MSG_MAX, MSG_MAX, "%s",
                     dq_error_message());
    }
    int rc = DQ_OK;
    for (int j = 0; j < nj; j++) {
        int l = j / DQ_PLAN_SLOTS, s = j % DQ_PLAN_SLOTS;
        if (!p->layers[l].t[s].present) continue;
        if (rc == DQ_OK && st[j] != DQ_OK) {
            rc = dq_error_set(st[j], "%s", msg + (size_t)j * MSG_MAX);
        } else if (rc == DQ_OK && qp[j]) {
            rc = dq_plan_set(p, l, s, spec[j].scheme, spec[j].bits, qp[j]);
        } else {
            dq_qparams_free(qp[j]);
        }
        qp[j] = NULL;
    }
    free(qp);
    free(st);
    free(msg);
    if (rc != DQ_OK) {
        dq_plan_free(p);
        return NULL;
    }
    return p;
}

dq_plan *dq_plan_build_all(const dq_model *m, const dq_calib *c,
                           const dq_qspec *w, const dq_qspec *a,
                           const char *label)
{
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++) n += dq_node_quant_inputs(&m->nodes[i]) > 0;
    dq_qspec *spec = calloc((size_t)(n > 0 ? n : 1) * DQ_PLAN_SLOTS, sizeof *spec);
    if (!spec) DQ_ERROR_NULL(DQ_ENOMEM, "%s: plan: out of memory", m->path);
    dq_qspec none = {NULL, 0, {0}};
    for (int l = 0; l < n; l++) {
        spec[l * DQ_PLAN_SLOTS + DQ_PLAN_W] = w ? *w : none;
        spec[l * DQ_PLAN_SLOTS + DQ_PLAN_A0] = a ? *a : none;
        spec[l * DQ_PLAN_SLOTS + DQ_PLAN_A1] = a ? *a : none;
    }
    dq_plan *p = dq_plan_build(m, c, spec, label);
    free(spec);
    return p;
}

dq_plan *dq_plan_uniform(const dq_model *m, const dq_calib *c, int bits_w,
                         int bits_a, int per_channel, dq_calibrator w_cal,
                         dq_calibrator a_cal, int act_affine,
                         const dq_quant_opts *base, const char *label)
{
    dq_qspec w = {"uniform", bits_w, {0}}, a = {"uniform", bits_a, {0}};
    if (base) w.opts = *base;
    else dq_quant_opts_default(&w.opts);
    a.opts = w.opts;
    w.opts.per_channel = per_channel;
    w.opts.symmetric = 1;
    w.opts.calibrator = w_cal;
    a.opts.per_channel = 0;
    a.opts.symmetric = !act_affine;
    a.opts.calibrator = a_cal;
    return dq_plan_build_all(m, c, &w, &a, label);
}

/* ---- a plan bound to a model ------------------------------------------------- */

struct dq_qmodel {
    const dq_model *m;
    dq_plan *plan;            /* checked copy */
    dq_tensor **wq;           /* per node: fake-quantized weight or NULL */
    const dq_qparams **aq;    /* per node x 2: activation params or NULL */
    int has_w, has_a;
};

void dq_qmodel_free(dq_qmodel *q)
{
    if (!q) return;
    for (int i = 0; q->wq && i < q->m->n_nodes; i++) dq_tensor_free(q->wq[i]);
    free(q->wq);
    free(q->aq);
    dq_plan_free(q->plan);
    free(q);
}

dq_qmodel *dq_qmodel_alloc(const dq_model *m, const dq_plan *p)
{
    if (!m || !p) DQ_ERROR_NULL(DQ_EINVAL, "qmodel: NULL argument");
    dq_qmodel *q = calloc(1, sizeof *q);
    if (!q) DQ_ERROR_NULL(DQ_ENOMEM, "%s: qmodel: out of memory", m->path);
    q->m = m;
    q->plan = dq_plan_clone(p);
    q->wq = calloc((size_t)m->n_nodes, sizeof *q->wq);
    q->aq = calloc((size_t)m->n_nodes * 2, sizeof *q->aq);
    int rc = !q->plan ? dq_error_status()
             : (!q->wq || !q->aq)
                 ? DQ_ERROR(DQ_ENOMEM, "%s: qmodel: out of memory", m->path)
                 : dq_plan_check(q->plan, m);
    for (int l = 0; rc == DQ_OK && l < q->plan->n_layers; l++) {
        const dq_plan_layer *L = &q->plan->layers[l];
        const dq_node *nd = &m->nodes[L->node];
        for (int k = 0; k < 2; k++)
            if (L->t[DQ_PLAN_A0 + k].qp) {
                q->aq[2 * L->node + k] = L->t[DQ_PLAN_A0 + k].qp;
                q->has_a = 1;
            }
        const dq_qparams *wp = L->t[DQ_PLAN_W].qp;
        if (!wp) continue;
        q->wq[L->node] = dq_tensor_clone(nd->weight, nd->name);
        if (!q->wq[L->node]) {
            rc = dq_error_status();
            break;
        }
        rc = dq_quant_fake_tensor(wp, q->wq[L->node]);
        if (rc != DQ_OK)
            dq_error_prefix(rc, "%s: layer '%s' weight", m->path, L->name);
        q->has_w = 1;
    }
    if (rc != DQ_OK) {
        dq_qmodel_free(q); /* exception in constructor, avoid memory leak */
        return NULL;
    }
    return q;
}

const dq_plan *dq_qmodel_plan(const dq_qmodel *q) { return q->plan; }

static int weight_fn(void *ctx, const dq_node *node, dq_tensor *w)
{
    const dq_qmodel *q = ctx;
    const dq_tensor *src = q->wq[node->index];
    if (src) memcpy(w->data, src->data, (size_t)w->size * sizeof(float));
    return DQ_OK;
}

static int act_fn(void *ctx, const dq_node *node, int input, dq_tensor *x)
{
    const dq_qmodel *q = ctx;
    const dq_qparams *p = input < 2 ? q->aq[2 * node->index + input] : NULL;
    if (!p) return DQ_OK;
    int rc = dq_quant_fake(p, x->data, x->size);
    if (rc != DQ_OK)
        dq_error_prefix(rc, "%s: node '%s' input %d", q->m->path, node->name,
                        input);
    return rc;
}

int dq_qmodel_attach(const dq_qmodel *q, dq_engine *e)
{
    if (!e) return DQ_ERROR(DQ_EINVAL, "qmodel: attach: no engine");
    if (!q || !q->has_w) dq_engine_reset_weights(e);
    else DQ_TRY(dq_engine_transform_weights(e, weight_fn, (void *)q));
    dq_engine_set_act_transform(e, q && q->has_a ? act_fn : NULL, (void *)q);
    return DQ_OK;
}

/* ---- evaluation ----------------------------------------------------------------- */

/* Record the error of batch b when it is the lowest failing one so far. */
static void note_error(int64_t b, int rc, int64_t *fail_b, int *fail_rc,
                       char *fail_msg)
{
#pragma omp critical(dq_qinfer_err)
    if (b < *fail_b) {
        *fail_b = b;
        *fail_rc = rc;
        snprintf(fail_msg, MSG_MAX, "%s", dq_error_message());
    }
}

static int64_t count_correct(const float *logits, const uint8_t *labels,
                             int B, int C, int64_t *pred)
{
    int64_t ok = 0;
    for (int i = 0; i < B; i++) {
        const float *l = logits + (size_t)i * (size_t)C;
        int best = 0;
        for (int j = 1; j < C; j++)
            if (l[j] > l[best]) best = j;
        ok += best == labels[i];
        if (pred) pred[i] = best;
    }
    return ok;
}

/* The shared driver of both evaluations: batches over threads, one engine
 * per thread.  With ncand == 0 it evaluates qbase; otherwise it runs qbase
 * with kept values and then each candidate (order[], start[]). */
static int eval_core(const dq_model *m, const dq_qmodel *qbase,
                     dq_qmodel *const *qc, const int *start, const int *order,
                     int ncand, const dq_dataset *ds, int batch,
                     int64_t *correct, int64_t *cand_correct, int64_t *pred,
                     int progress, const char *label)
{
    if (!m || !ds || !correct || batch < 1)
        return DQ_ERROR(DQ_EINVAL, "evaluate: bad arguments");
    if (ds->images->size != ds->n * m->input_size)
        return DQ_ERROR(DQ_EINVAL, "%s: evaluate: images of %lld values, the "
                        "model takes %lld", m->path,
                        (long long)(ds->images->size / (ds->n ? ds->n : 1)),
                        (long long)m->input_size);
    int64_t nb = (ds->n + batch - 1) / batch, total = 0;
    int64_t *cc = ncand ? calloc((size_t)ncand, sizeof *cc) : NULL;
    if (ncand && !cc) return DQ_ERROR(DQ_ENOMEM, "evaluate: out of memory");
    int64_t fail_b = nb + 1;
    int fail_rc = DQ_OK;
    char fail_msg[MSG_MAX] = "";
    dq_progress *pr = progress ? dq_progress_alloc(label ? label : "evaluate",
                                                   ds->n)
                               : NULL;
    int C = m->num_classes;
#pragma omp parallel reduction(+ : total)
    {
        dq_engine *e = dq_engine_alloc(m);
        float *logits = malloc((size_t)batch * (size_t)C * sizeof *logits);
        int64_t *mine = ncand ? calloc((size_t)ncand, sizeof *mine) : NULL;
        int rc = !e ? dq_error_status()
                 : (!logits || (ncand && !mine))
                     ? DQ_ERROR(DQ_ENOMEM, "evaluate: out of memory")
                     : DQ_OK;
        if (rc == DQ_OK && ncand) dq_engine_keep_values(e, 1);
        if (rc == DQ_OK && !ncand) rc = dq_qmodel_attach(qbase, e);
        if (rc != DQ_OK) note_error(-1, rc, &fail_b, &fail_rc, fail_msg);
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nb; b++) {
            if (rc != DQ_OK) continue;
            int64_t b0 = b * batch;
            int B = (int)(ds->n - b0 < batch ? ds->n - b0 : batch);
            const float *x = ds->images->data + b0 * m->input_size;
            const uint8_t *y = ds->labels + b0;
            int r = ncand ? dq_qmodel_attach(qbase, e) : DQ_OK;
            if (r == DQ_OK) r = dq_engine_forward(e, x, B, logits);
            int64_t base_ok = 0;
            if (r == DQ_OK)
                base_ok = count_correct(logits, y, B, C, pred ? pred + b0 : NULL);
            total += base_ok;
            for (int j = 0; j < ncand && r == DQ_OK; j++) {
                int i = order[j];
                if (start[i] < 0) { /* same as the base */
                    mine[i] += base_ok;
                    continue;
                }
                r = dq_qmodel_attach(qc[i], e);
                if (r == DQ_OK) r = dq_engine_forward_from(e, start[i], logits);
                if (r == DQ_OK) mine[i] += count_correct(logits, y, B, C, NULL);
            }
            if (r != DQ_OK) note_error(b, r, &fail_b, &fail_rc, fail_msg);
            dq_progress_add(pr, B);
        }
        if (ncand) {
#pragma omp critical(dq_qinfer_sum)
            for (int i = 0; i < ncand; i++) cc[i] += mine[i];
        }
        free(mine);
        free(logits);
        dq_engine_free(e);
    }
    dq_progress_free(pr);
    if (fail_rc != DQ_OK) {
        free(cc);
        return dq_error_set(fail_rc, "%s", fail_msg);
    }
    *correct = total;
    if (ncand) memcpy(cand_correct, cc, (size_t)ncand * sizeof *cc);
    free(cc);
    return DQ_OK;
}

int dq_qinfer_evaluate_q(const dq_model *m, const dq_qmodel *q,
                         const dq_dataset *ds, int batch, int64_t *correct,
                         int64_t *pred, int progress, const char *label)
{
    return eval_core(m, q, NULL, NULL, NULL, 0, ds, batch, correct, NULL, pred,
                     progress, label);
}

int dq_qinfer_evaluate(const dq_model *m, const dq_plan *p,
                       const dq_dataset *ds, int batch, int64_t *correct,
                       int64_t *pred, int progress, const char *label)
{
    dq_qmodel *q = NULL;
    if (p && !(q = dq_qmodel_alloc(m, p))) return dq_error_status();
    int rc = dq_qinfer_evaluate_q(m, q, ds, batch, correct, pred, progress,
                                  label);
    dq_qmodel_free(q);
    return rc;
}

int dq_qinfer_evaluate_many(const dq_model *m, const dq_plan *base,
                            const dq_plan *const *cand, int ncand,
                            const dq_dataset *ds, int batch, int64_t *correct,
                            int progress, const char *label)
{
    if (!m || !base || (ncand > 0 && (!cand || !correct)) || ncand < 0)
        return DQ_ERROR(DQ_EINVAL, "evaluate_many: bad arguments");
    if (ncand == 0) return DQ_OK;
    dq_qmodel *qb = dq_qmodel_alloc(m, base);
    dq_qmodel **qc = calloc((size_t)ncand, sizeof *qc);
    int *start = calloc((size_t)ncand, sizeof *start);
    int *order = calloc((size_t)ncand, sizeof *order);
    int rc = !qb ? dq_error_status()
             : (!qc || !start || !order)
                 ? DQ_ERROR(DQ_ENOMEM, "evaluate_many: out of memory")
                 : DQ_OK;
    for (int i = 0; i < ncand && rc == DQ_OK; i++) {
        if (!cand[i] || cand[i]->n_layers != base->n_layers) {
            rc = DQ_ERROR(DQ_EINVAL, "evaluate_many: candidate %d does not "
                          "have the base plan's layers", i);
            break;
        }
        const dq_plan *bp = dq_qmodel_plan(qb);
        int d = dq_plan_first_diff(bp, cand[i]);
        if (d == bp->n_layers) {
            start[i] = -1;
            continue;
        }
        if (!(qc[i] = dq_qmodel_alloc(m, cand[i]))) {
            rc = dq_error_status();
            break;
        }
        /* names match up to d, so the checked copy has the node index */
        start[i] = dq_qmodel_plan(qc[i])->layers[d].node;
    }
    if (rc == DQ_OK) {
        /* latest start first: a candidate overwrites only the values of
         * nodes >= its start, which later (earlier-starting) ones re-run */
        for (int i = 0; i < ncand; i++) order[i] = i;
        for (int i = 1; i < ncand; i++)
            for (int j = i; j > 0 && start[order[j]] > start[order[j - 1]]; j--) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        int64_t base_correct;
        rc = eval_core(m, qb, qc, start, order, ncand, ds, batch, &base_correct,
                       correct, NULL, progress, label);
    }
    for (int i = 0; qc && i < ncand; i++) dq_qmodel_free(qc[i]);
    free(qc);
    free(start);
    free(order);
    dq_qmodel_free(qb);
    return rc;
}

int dq_qinfer_select(const dq_model *m, const dq_plan *const *plans, int n,
                     const dq_dataset *ds, int batch, int64_t *correct,
                     int *best, int progress, const char *label)
{
    if (!m || !plans || n < 1 || !correct || !best)
        return DQ_ERROR(DQ_EINVAL, "select: bad arguments");
    *best = 0;
    for (int i = 0; i < n; i++) {
        char lab[128];
        snprintf(lab, sizeof lab, "%s: %s", label ? label : "select",
                 plans[i] ? plans[i]->label : "FP32");
        DQ_TRY(dq_qinfer_evaluate(m, plans[i], ds, batch, &correct[i], NULL,
                                  progress, lab));
        if (correct[i] > correct[*best]) *best = i;
    }
    return DQ_OK;
}

void dq_wilson(int64_t k, int64_t n, double z, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    double p = (double)k / (double)n, z2 = z * z, nn = (double)n;
    double den = 1 + z2 / nn;
    double mid = (p + z2 / (2 * nn)) / den;
    double half = z / den * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    *lo = mid - half < 0 ? 0 : mid - half;
    *hi = mid + half > 1 ? 1 : mid + half;
}

/* ---- session ------------------------------------------------------------------ */

void dq_qsession_free(dq_qsession *s)
{
    if (!s) return;
    for (int i = 0; i < s->nheads; i++) dq_dataset_free(s->heads[i].ds);
    dq_calib_free(s->samples);
    dq_dataset_free(s->calib);
    dq_dataset_free(s->val);
    dq_dataset_free(s->test);
    dq_model_free(s->model);
    free(s->data_dir);
    free(s->dump_path);
    free(s);
}

dq_qsession *dq_qsession_open(const char *model_path, const char *data_dir,
                              int64_t calib_size, uint64_t seed, int batch,
                              const char *dump_path, int progress)
{
    if (!model_path || !*model_path)
        DQ_ERROR_NULL(DQ_EINVAL, "no model given (set run.model or --model)");
    if (batch < 1) DQ_ERROR_NULL(DQ_EINVAL, "batch %d: expected >= 1", batch);
    dq_qsession *s = calloc(1, sizeof *s);
    if (!s) DQ_ERROR_NULL(DQ_ENOMEM, "session: out of memory");
    s->data_dir = strdup(data_dir ? data_dir : "");
    s->dump_path = strdup(dump_path ? dump_path : "");
    s->calib_size = calib_size;
    s->seed = seed;
    s->batch = batch;
    s->max_samples = DQ_CALIB_MAX_SAMPLES;
    s->progress = progress;
    s->fp32_val = s->fp32_test = -1;
    if (!s->data_dir || !s->dump_path ||
        !(s->model = dq_model_load(model_path)) ||
        !(s->calib = dq_dataset_load(data_dir, "calib", calib_size, seed)) ||
        !(s->val = dq_dataset_load(data_dir, "val", calib_size, seed)) ||
        !(s->test = dq_dataset_load(data_dir, "test", calib_size, seed))) {
        int rc = s->data_dir && s->dump_path ? dq_error_status() : DQ_ENOMEM;
        if (rc == DQ_ENOMEM && (!s->data_dir || !s->dump_path))
            dq_error_set(rc, "session: out of memory");
        dq_qsession_free(s); /* exception in constructor, avoid memory leak */
        return NULL;
    }
    return s;
}

dq_qsession *dq_qsession_open_config(const dq_config *c, const char *dump_path)
{
    return dq_qsession_open(
        dq_config_str(c, "run", "model"), dq_config_str(c, "run", "data_dir"),
        dq_config_int(c, "run", "calib_size"),
        (uint64_t)dq_config_int(c, "run", "seed"),
        (int)dq_config_int(c, "run", "batch"), dump_path,
        dq_log_level() >= DQ_LOG_INFO);
}

const dq_calib *dq_qsession_samples(dq_qsession *s)
{
    if (s->samples) return s->samples;
    if (s->dump_path && *s->dump_path)
        s->samples = dq_calib_read(s->model, s->dump_path);
    else
        s->samples = dq_calib_capture(s->model, s->calib, s->batch,
                                      s->max_samples, s->seed, s->progress);
    return s->samples;
}

const dq_dataset *dq_qsession_split(const dq_qsession *s, const char *split)
{
    if (!split) return NULL;
    if (strcmp(split, "val") == 0) return s->val;
    if (strcmp(split, "test") == 0) return s->test;
    if (strcmp(split, "calib") == 0) return s->calib;
    return NULL;
}

int dq_qsession_fp32(dq_qsession *s, const char *split, int64_t *correct)
{
    int64_t *slot = split && strcmp(split, "val") == 0    ? &s->fp32_val
                    : split && strcmp(split, "test") == 0 ? &s->fp32_test
                                                          : NULL;
    if (!slot)
        return DQ_ERROR(DQ_EINVAL, "FP32 accuracy: split '%s' is not val or "
                        "test", split ? split : "(null)");
    if (*slot < 0) {
        char label[64];
        snprintf(label, sizeof label, "FP32 %s", split);
        DQ_TRY(dq_qinfer_evaluate(s->model, NULL, dq_qsession_split(s, split),
                                  s->batch, slot, NULL, s->progress, label));
    }
    *correct = *slot;
    return DQ_OK;
}

/* The first n images of d (a copy). */
static dq_dataset *dataset_head(const dq_dataset *d, int64_t n)
{
    dq_dataset *s = calloc(1, sizeof *s);
    if (!s) DQ_ERROR_NULL(DQ_ENOMEM, "%s head: out of memory", d->split);
    int64_t shape[DQ_MAX_RANK];
    memcpy(shape, d->images->shape, sizeof shape);
    shape[0] = n;
    int64_t per = d->images->size / d->n;
    snprintf(s->split, sizeof s->split, "%s", d->split);
    s->n = n;
    s->mean = d->mean;
    s->std = d->std;
    s->images = dq_tensor_alloc(d->images->name, d->images->rank, shape);
    s->labels = malloc((size_t)n);
    s->index = malloc(sizeof(int64_t) * (size_t)n);
    if (!s->images || !s->labels || !s->index) {
        dq_dataset_free(s); /* exception in constructor, avoid memory leak */
        DQ_ERROR_NULL(DQ_ENOMEM, "%s head: out of memory", d->split);
    }
    memcpy(s->images->data, d->images->data, sizeof(float) * (size_t)(n * per));
    memcpy(s->labels, d->labels, (size_t)n);
    memcpy(s->index, d->index, sizeof(int64_t) * (size_t)n);
    return s;
}

/* The session's entry for (split, n), created on first use; NULL for the
 * whole split (n <= 0 or >= its size) with *whole set. */
static dq_qhead *session_head(dq_qsession *s, const char *split, int64_t n,
                              const dq_dataset **whole)
{
    const dq_dataset *d = split && strcmp(split, "calib") != 0
                              ? dq_qsession_split(s, split)
                              : NULL;
    *whole = NULL;
    if (!d)
        DQ_ERROR_NULL(DQ_EINVAL, "split '%s' is not val or test",
                      split ? split : "(null)");
    if (n <= 0 || n >= d->n) {
        *whole = d;
        return NULL;
    }
    for (int i = 0; i < s->nheads; i++)
        if (s->heads[i].n == n && strcmp(s->heads[i].split, d->split) == 0)
            return &s->heads[i];
    if (s->nheads == DQ_QSESSION_HEADS)
        DQ_ERROR_NULL(DQ_EINVAL, "session: more than %d split heads",
                      DQ_QSESSION_HEADS);
    dq_qhead *h = &s->heads[s->nheads];
    if (!(h->ds = dataset_head(d, n))) return NULL;
    snprintf(h->split, sizeof h->split, "%s", d->split);
    h->n = n;
    h->fp32 = -1;
    s->nheads++;
    return h;
}

const dq_dataset *dq_qsession_head(dq_qsession *s, const char *split,
                                   int64_t n)
{
    const dq_dataset *whole;
    dq_qhead *h = session_head(s, split, n, &whole);
    return h ? h->ds : whole;
}

int dq_qsession_fp32_head(dq_qsession *s, const char *split, int64_t n,
                          int64_t *correct)
{
    const dq_dataset *whole;
    dq_qhead *h = session_head(s, split, n, &whole);
    if (whole) return dq_qsession_fp32(s, split, correct);
    if (!h) return dq_error_status();
    if (h->fp32 < 0) {
        char label[64];
        snprintf(label, sizeof label, "FP32 %s[:%lld]", split, (long long)n);
        DQ_TRY(dq_qinfer_evaluate(s->model, NULL, h->ds, s->batch, &h->fp32,
                                  NULL, s->progress, label));
    }
    *correct = h->fp32;
    return DQ_OK;
}

/* ---- INT8 baseline ------------------------------------------------------------- */

dq_plan *dq_qinfer_int8(dq_qsession *s, const dq_quant_opts *base,
                        int act_affine, int64_t val_images,
                        dq_calibrator *chosen, int64_t *val_correct)
{
    static const dq_calibrator cals[4] = {DQ_CALIB_MINMAX, DQ_CALIB_PERCENTILE,
                                          DQ_CALIB_MSE, DQ_CALIB_KL};
    const dq_calib *c = dq_qsession_samples(s);
    const dq_dataset *val = dq_qsession_head(s, "val", val_images);
    if (!c || !val) return NULL;
    dq_plan *p[4] = {NULL, NULL, NULL, NULL};
    int64_t n[4];
    int best = 0, rc = DQ_OK;
    for (int i = 0; i < 4 && rc == DQ_OK; i++) {
        char label[64];
        snprintf(label, sizeof label, "INT8 (act %s)",
                 dq_calibrator_name(cals[i]));
        p[i] = dq_plan_uniform(s->model, c, 8, 8, 1, DQ_CALIB_MINMAX, cals[i],
                               act_affine, base, label);
        if (!p[i]) rc = dq_error_status();
    }
    if (rc == DQ_OK)
        rc = dq_qinfer_select(s->model, (const dq_plan *const *)p, 4, val,
                              s->batch, n, &best, s->progress, "INT8 val");
    if (rc == DQ_OK) {
        char meta[256];
        snprintf(meta, sizeof meta, "INT8 baseline: activation calibrator "
                 "chosen on val (%lld images): minmax %lld, percentile %lld, "
                 "mse %lld, kl %lld correct", (long long)val->n,
                 (long long)n[0], (long long)n[1], (long long)n[2],
                 (long long)n[3]);
        rc = dq_plan_set_str(&p[best]->meta, meta);
    }
    for (int i = 0; i < 4; i++)
        if (i != best || rc != DQ_OK) dq_plan_free(p[i]);
    if (rc != DQ_OK) return NULL;
    if (chosen) *chosen = cals[best];
    if (val_correct) memcpy(val_correct, n, sizeof n);
    return p[best];
}
