/*
 * engine.c — the graph executor (engine.h).
 *
 * A forward pass: plan (shapes of every node for this batch size, via
 * dq_model_shapes, cached until the batch size changes), then one call of
 * an ops.h kernel per live node in topological order.  Values live in
 * pooled buffers; refs[i] counts the input edges of node i that have not
 * run yet, and the buffer returns to the pool when it reaches zero.  The
 * executor itself only copies (the input batch, and reshapes that cannot
 * reuse their input's buffer).  dq_engine_evaluate() (the end of this
 * file) runs a dataset split through it in batches.
 */
#include "engine.h"

#include "dataset.h"
#include "error.h"
#include "log.h"
#include "ops.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* A pooled buffer: a tensor whose data holds cap floats. */
typedef struct {
    dq_tensor *t;
    int64_t cap;
} buf;

struct dq_engine {
    const dq_model *m;
    int n;
    dq_tensor **w;       /* working weights (NULL: the model's pristine) */
    buf *val;            /* node values of the current / kept run */
    int *refs;           /* input edges still to run, per node */
    unsigned char *live; /* node feeds the output */
    dq_shape *shapes;    /* planned shapes for batch B */
    int64_t B;           /* planned batch size; 0: none */
    float *scratch;      /* im2col scratch for conv2d */
    size_t scratch_n;
    buf *pool;           /* free buffers */
    int pool_n, pool_cap;
    dq_act_fn act;
    void *act_ctx;
    dq_capture_fn cap;
    void *cap_ctx;
    dq_op_fn op;
    void *op_ctx;
    int keep;    /* keep every value after a forward */
    int64_t kept_B; /* batch of the kept values; 0: none */
};

/* ---- buffer pool -------------------------------------------------------- */

static void buf_put(dq_engine *e, buf b)
{
    if (!b.t) return;
    if (e->pool_n == e->pool_cap) {
        int cap = e->pool_cap ? 2 * e->pool_cap : 16;
        buf *p = realloc(e->pool, (size_t)cap * sizeof *p);
        if (!p) { /* cannot pool it: just free it */
            dq_tensor_free(b.t);
            return;
        }
        e->pool = p;
        e->pool_cap = cap;
    }
    e->pool[e->pool_n++] = b;
}

/* A buffer shaped s named after node: the smallest pooled buffer that is
 * large enough, else a new one. */
static int buf_get(dq_engine *e, const dq_shape *s, const char *name, buf *out)
{
    int64_t need = dq_shape_size(s->rank, s->d);
    int best = -1;
    for (int i = 0; i < e->pool_n; i++)
        if (e->pool[i].cap >= need &&
            (best < 0 || e->pool[i].cap < e->pool[best].cap))
            best = i;
    if (best >= 0) {
        *out = e->pool[best];
        e->pool[best] = e->pool[--e->pool_n];
        out->t->rank = s->rank;
        memcpy(out->t->shape, s->d, sizeof s->d);
        out->t->size = need;
        dq_tensor_set_name(out->t, name);
        return DQ_OK;
    }
    out->t = dq_tensor_alloc(name, s->rank, s->d);
    if (!out->t) return dq_error_prefix(DQ_ENOMEM, "engine");
    out->cap = need;
    return DQ_OK;
}

static void values_release(dq_engine *e, int from)
{
    for (int i = from; i < e->n; i++) {
        buf_put(e, e->val[i]);
        e->val[i].t = NULL;
    }
}

/* ---- alloc / free ------------------------------------------------------- */

void dq_engine_free(dq_engine *e)
{
    if (!e) return;
    if (e->val) values_release(e, 0);
    for (int i = 0; i < e->pool_n; i++) dq_tensor_free(e->pool[i].t);
    if (e->w)
        for (int i = 0; i < e->n; i++) dq_tensor_free(e->w[i]);
    free(e->w);
    free(e->val);
    free(e->refs);
    free(e->live);
    free(e->shapes);
    free(e->scratch);
    free(e->pool);
    free(e);
}

dq_engine *dq_engine_alloc(const dq_model *m)
{
    if (!m) DQ_ERROR_NULL(DQ_EINVAL, "engine: no model");
    dq_engine *e = calloc(1, sizeof *e);
    if (!e) DQ_ERROR_NULL(DQ_ENOMEM, "%s: engine: out of memory", m->path);
    e->m = m;
    e->n = m->n_nodes;
    size_t n = (size_t)e->n;
    e->w = calloc(n, sizeof *e->w);
    e->val = calloc(n, sizeof *e->val);
    e->refs = calloc(n, sizeof *e->refs);
    e->live = calloc(n, 1);
    e->shapes = calloc(n, sizeof *e->shapes);
    if (!e->w || !e->val || !e->refs || !e->live || !e->shapes) {
        dq_engine_free(e); /* exception in constructor, avoid memory leak */
        DQ_ERROR_NULL(DQ_ENOMEM, "%s: engine: out of memory", m->path);
    }
    /* Live nodes: those the output depends on (walk backwards). */
    e->live[m->output] = 1;
    for (int i = e->n - 1; i >= 0; i--)
        if (e->live[i])
            for (int k = 0; k < m->nodes[i].n_inputs; k++)
                e->live[m->nodes[i].inputs[k]] = 1;
    return e;
}

const dq_model *dq_engine_model(const dq_engine *e) { return e->m; }

/* ---- hooks -------------------------------------------------------------- */

void dq_engine_set_act_transform(dq_engine *e, dq_act_fn fn, void *ctx)
{
    e->act = fn;
    e->act_ctx = ctx;
}

void dq_engine_set_capture(dq_engine *e, dq_capture_fn fn, void *ctx)
{
    e->cap = fn;
    e->cap_ctx = ctx;
}

void dq_engine_set_op_override(dq_engine *e, dq_op_fn fn, void *ctx)
{
    e->op = fn;
    e->op_ctx = ctx;
}

/* Hook (d): *done = 1 when the override computed the node's output. */
static int op_override(dq_engine *e, const dq_node *nd, const dq_tensor **x,
                       const dq_tensor *w, dq_tensor *out, int *done)
{
    *done = 0;
    if (!e->op) return DQ_OK;
    return e->op(e->op_ctx, nd, (const dq_tensor *const *)x, w, out, done);
}

void dq_engine_reset_weights(dq_engine *e)
{
    for (int i = 0; i < e->n; i++) {
        dq_tensor_free(e->w[i]);
        e->w[i] = NULL;
    }
}

static const dq_tensor *weight_of(const dq_engine *e, int i)
{
    return e->w[i] ? e->w[i] : e->m->nodes[i].weight;
}

const dq_tensor *dq_engine_weight(const dq_engine *e, int node)
{
    if (node < 0 || node >= e->n) return NULL;
    return weight_of(e, node);
}

int dq_engine_transform_weights(dq_engine *e, dq_weight_fn fn, void *ctx)
{
    if (!fn) {
        dq_engine_reset_weights(e);
        return DQ_OK;
    }
    for (int i = 0; i < e->n; i++) {
        const dq_node *nd = &e->m->nodes[i];
        if (!dq_node_has_quant_weight(nd)) continue;
        if (!e->w[i]) {
            e->w[i] = dq_tensor_clone(nd->weight, nd->name);
            if (!e->w[i])
                return dq_error_prefix(DQ_ENOMEM, "%s: node '%s'", e->m->path,
                                       nd->name);
        } else {
            memcpy(e->w[i]->data, nd->weight->data,
                   (size_t)nd->weight->size * sizeof(float));
        }
        int rc = fn(ctx, nd, e->w[i]);
        if (rc != DQ_OK) return rc;
    }
    return DQ_OK;
}

/* ---- prefix caching ----------------------------------------------------- */

void dq_engine_keep_values(dq_engine *e, int keep)
{
    e->keep = keep != 0;
    if (!e->keep) {
        values_release(e, 0);
        e->kept_B = 0;
    }
}

const dq_tensor *dq_engine_value(const dq_engine *e, int node)
{
    if (node < 0 || node >= e->n) return NULL;
    if (e->m->nodes[node].op == DQ_OP_CONSTANT) return e->m->nodes[node].value;
    return e->val[node].t;
}

/* ---- planning ----------------------------------------------------------- */

static int plan(dq_engine *e, int64_t B)
{
    if (e->B == B) return DQ_OK;
    e->B = 0;
    DQ_TRY(dq_model_shapes(e->m, B, e->shapes));
    size_t need = 0;
    for (int i = 0; i < e->n; i++) {
        const dq_node *nd = &e->m->nodes[i];
        if (nd->op != DQ_OP_CONV2D) continue;
        const dq_shape *in = &e->shapes[nd->inputs[0]];
        const dq_tensor *w = nd->weight;
        size_t s = dq_conv2d_scratch_floats(
            (int)in->d[1], (int)in->d[2], (int)in->d[3], (int)w->shape[2],
            (int)w->shape[3], nd->stride[0], nd->stride[1], nd->padding[0],
            nd->padding[1], nd->dilation[0], nd->dilation[1], nd->groups);
        if (s > need) need = s;
    }
    if (need > e->scratch_n) {
        free(e->scratch);
        e->scratch = malloc(need * sizeof(float));
        e->scratch_n = e->scratch ? need : 0;
        if (!e->scratch)
            return DQ_ERROR(DQ_ENOMEM, "%s: engine: cannot allocate %zu "
                            "floats of conv2d scratch", e->m->path, need);
    }
    e->B = B;
    return DQ_OK;
}

/* ---- execution ---------------------------------------------------------- */

/* Value read by node nd's input k (constants: the model's tensor). */
static const dq_tensor *in_val(const dq_engine *e, const dq_node *nd, int k)
{
    int j = nd->inputs[k];
    const dq_node *src = &e->m->nodes[j];
    return src->op == DQ_OP_CONSTANT ? src->value : e->val[j].t;
}

/* 1 when node nd may take over the buffer of its input k: nd is the last
 * consumer of that value, values are not kept, and it is not a constant. */
static int can_steal(const dq_engine *e, const dq_node *nd, int k)
{
    int j = nd->inputs[k];
    return !e->keep && e->refs[j] == 1 && e->val[j].t &&
           e->m->nodes[j].op != DQ_OP_CONSTANT;
}

/* Output buffer of node i: its input 0's buffer when it may be reused in
 * place (element-wise kernels that allow out == inp, and reshapes), else
 * a pooled buffer.  *inplace tells which. */
static int out_buf(dq_engine *e, const dq_node *nd, int allow_inplace,
                   buf *out, int *inplace)
{
    const dq_shape *s = &e->shapes[nd->index];
    *inplace = 0;
    if (allow_inplace && can_steal(e, nd, 0)) {
        int j = nd->inputs[0];
        *out = e->val[j];
        e->val[j].t = NULL;
        out->t->rank = s->rank;
        memcpy(out->t->shape, s->d, sizeof s->d);
        dq_tensor_set_name(out->t, nd->name);
        *inplace = 1;
        return DQ_OK;
    }
    return buf_get(e, s, nd->name, out);
}

/* Quantizable inputs of node nd after the capture and transform hooks.
 * tmp[k] receives any private copy made for the transform (release it). */
static int hook_inputs(dq_engine *e, const dq_node *nd, const dq_tensor **x,
                       buf *tmp)
{
    int nq = dq_node_quant_inputs(nd);
    for (int k = 0; k < nq; k++) {
        if (e->cap) {
            int rc = e->cap(e->cap_ctx, nd, k, x[k]);
            if (rc != DQ_OK) return rc;
        }
        if (!e->act) continue;
        dq_tensor *y;
        /* In place only when no other edge (including this node's other
         * operand) still reads the value. */
        if (can_steal(e, nd, k) &&
            (nq < 2 || nd->inputs[0] != nd->inputs[1])) {
            y = e->val[nd->inputs[k]].t;
        } else {
            dq_shape s = {x[k]->rank, {0}};
            memcpy(s.d, x[k]->shape, sizeof s.d);
            DQ_TRY(buf_get(e, &s, x[k]->name, &tmp[k]));
            y = tmp[k].t;
            memcpy(y->data, x[k]->data, (size_t)x[k]->size * sizeof(float));
        }
        int rc = e->act(e->act_ctx, nd, k, y);
        if (rc != DQ_OK) return rc;
        x[k] = y;
    }
    return DQ_OK;
}

static int run_node(dq_engine *e, int i, const float *input)
{
    const dq_node *nd = &e->m->nodes[i];
    const dq_shape *s = &e->shapes[i];
    const dq_tensor *x[2] = {NULL, NULL};
    buf tmp[2] = {{NULL, 0}, {NULL, 0}};
    buf out = {NULL, 0};
    int inplace = 0, done = 0, rc = DQ_OK;
    if (nd->op == DQ_OP_CONSTANT) return DQ_OK;
    if (nd->n_inputs) x[0] = in_val(e, nd, 0);
    if (nd->n_inputs > 1) x[1] = in_val(e, nd, 1);
    for (int k = 0; k < nd->n_inputs && k < 2; k++)
        if (!x[k])
            return DQ_ERROR(DQ_EINVAL, "%s: node '%s': input '%s' has no "
                            "value (forward_from without kept values?)",
                            e->m->path, nd->name,
                            e->m->nodes[nd->inputs[k]].name);
    if (dq_node_quant_inputs(nd) && (e->cap || e->act)) {
        rc = hook_inputs(e, nd, x, tmp);
        if (rc != DQ_OK) goto done;
    }
    const dq_shape *is = nd->n_inputs ? &e->shapes[nd->inputs[0]] : NULL;
    switch (nd->op) {
    case DQ_OP_INPUT:
        if ((rc = buf_get(e, s, nd->name, &out)) == DQ_OK)
            memcpy(out.t->data, input, (size_t)out.t->size * sizeof(float));
        break;
    case DQ_OP_CONV2D: {
        const dq_tensor *w = weight_of(e, i);
        if ((rc = buf_get(e, s, nd->name, &out)) != DQ_OK ||
            (rc = op_override(e, nd, x, w, out.t, &done)) != DQ_OK || done)
            break;
        dq_conv2d_forward(out.t->data, x[0]->data, w->data,
                          nd->bias ? nd->bias->data : NULL, e->scratch,
                          (int)is->d[0], (int)is->d[1], (int)is->d[2],
                          (int)is->d[3], (int)w->shape[0], (int)w->shape[2],
                          (int)w->shape[3], nd->stride[0], nd->stride[1],
                          nd->padding[0], nd->padding[1], nd->dilation[0],
                          nd->dilation[1], nd->groups);
        break;
    }
    case DQ_OP_LINEAR: {
        const dq_tensor *w = weight_of(e, i);
        int I = (int)w->shape[1];
        if ((rc = buf_get(e, s, nd->name, &out)) != DQ_OK ||
            (rc = op_override(e, nd, x, w, out.t, &done)) != DQ_OK || done)
            break;
        dq_linear_forward(out.t->data, x[0]->data, w->data,
                          nd->bias ? nd->bias->data : NULL,
                          (int)(x[0]->size / I), I, (int)w->shape[0]);
        break;
    }
    case DQ_OP_BATCHNORM2D:
        if ((rc = out_buf(e, nd, 1, &out, &inplace)) != DQ_OK) break;
        dq_batchnorm2d_forward(out.t->data, x[0]->data, nd->weight->data,
                               nd->bias->data, nd->running_mean->data,
                               nd->running_var->data, nd->eps, (int)is->d[0],
                               (int)is->d[1], (int)is->d[2], (int)is->d[3]);
        break;
    case DQ_OP_LAYERNORM: {
        int C = (int)nd->weight->size;
        if ((rc = buf_get(e, s, nd->name, &out)) != DQ_OK) break;
        dq_layernorm_forward(out.t->data, x[0]->data, nd->weight->data,
                             nd->bias->data, (int)(x[0]->size / C), C,
                             nd->eps);
        break;
    }
    case DQ_OP_RELU:
    case DQ_OP_GELU:
        if ((rc = out_buf(e, nd, 1, &out, &inplace)) != DQ_OK) break;
        (nd->op == DQ_OP_RELU ? dq_relu_forward : dq_gelu_forward)(
            out.t->data, x[0]->data, (size_t)x[0]->size);
        break;
    case DQ_OP_IDENTITY:
    case DQ_OP_FLATTEN:
    case DQ_OP_RESHAPE:
        if ((rc = out_buf(e, nd, 1, &out, &inplace)) != DQ_OK) break;
        if (!inplace)
            memcpy(out.t->data, x[0]->data,
                   (size_t)x[0]->size * sizeof(float));
        break;
    case DQ_OP_MAXPOOL2D:
    case DQ_OP_AVGPOOL2D:
        if ((rc = buf_get(e, s, nd->name, &out)) != DQ_OK) break;
        if (nd->op == DQ_OP_MAXPOOL2D)
            dq_maxpool2d_forward(out.t->data, x[0]->data, (int)is->d[0],
                                 (int)is->d[1], (int)is->d[2], (int)is->d[3],
                                 nd->kernel[0], nd->kernel[1], nd->stride[0],
                                 nd->stride[1], nd->padding[0],
                                 nd->padding[1]);
        else
            dq_avgpool2d_forward(out.t->data, x[0]->data, (int)is->d[0],
                                 (int)is->d[1], (int)is->d[2], (int)is->d[3],
                                 nd->kernel[0], nd->kernel[1], nd->stride[0],
                                 nd->stride[1], nd->padding[0],
                                 nd->padding[1], nd->count_include_pad);
        break;
    case DQ_OP_ADAPTIVE_AVGPOOL2D:
        if ((rc = buf_get(e, s, nd->name, &out)) != DQ_OK) break;
        dq_adaptive_avgpool2d_forward(out.t->data, x[0]->data, (int)is->d[0],
                                      (int)is->d[1], (int)is->d[2],
                                      (int)is->d[3], (int)s->d[2],
                                      (int)s->d[3]);
        break;
    case DQ_OP_ADD:
    case DQ_OP_MUL:
        if (nd->has_scalar) {
            if ((rc = out_buf(e, nd, 1, &out, &inplace)) != DQ_OK) break;
            (nd->op == DQ_OP_ADD ? dq_add_scalar : dq_mul_scalar)(
                out.t->data, x[0]->data, nd->scalar, (size_t)x[0]->size);
        } else {
            if ((rc = buf_get(e, s, nd->name, &out)) != DQ_OK) break;
            rc = (nd->op == DQ_OP_ADD ? dq_add_forward : dq_mul_forward)(
                out.t->data, x[0]->data, x[1]->data, x[0]->rank,
                x[0]->shape, x[1]->rank, x[1]->shape);
        }
        break;
    case DQ_OP_MATMUL:
        if ((rc = buf_get(e, s, nd->name, &out)) != DQ_OK ||
            (rc = op_override(e, nd, x, NULL, out.t, &done)) != DQ_OK || done)
            break;
        rc = dq_matmul_forward(out.t->data, x[0]->data, x[1]->data,
                               x[0]->rank, x[0]->shape, x[1]->rank,
                               x[1]->shape);
        break;
    case DQ_OP_SOFTMAX: {
        int outer, len, inner;
        if ((rc = dq_axis_split(&outer, &len, &inner, x[0]->rank,
                                x[0]->shape, nd->dim)) != DQ_OK ||
            (rc = buf_get(e, s, nd->name, &out)) != DQ_OK)
            break;
        dq_softmax_forward(out.t->data, x[0]->data, outer, len, inner);
        break;
    }
    case DQ_OP_PERMUTE:
        if ((rc = buf_get(e, s, nd->name, &out)) != DQ_OK) break;
        rc = dq_permute_forward(out.t->data, x[0]->data, x[0]->rank,
                                x[0]->shape, nd->dims);
        break;
    case DQ_OP_CAT: {
        const float *inps[64];
        const int64_t *shp[64];
        for (int k = 0; k < nd->n_inputs; k++) {
            const dq_tensor *t = in_val(e, nd, k);
            if (!t) {
                rc = DQ_ERROR(DQ_EINVAL, "%s: node '%s': input %d has no "
                              "value", e->m->path, nd->name, k);
                break;
            }
            inps[k] = t->data;
            shp[k] = t->shape;
        }
        if (rc != DQ_OK || (rc = buf_get(e, s, nd->name, &out)) != DQ_OK)
            break;
        rc = dq_cat_forward(out.t->data, inps, nd->n_inputs, x[0]->rank, shp,
                            nd->dim);
        break;
    }
    case DQ_OP_SLICE:
        if ((rc = buf_get(e, s, nd->name, &out)) != DQ_OK) break;
        rc = dq_slice_forward(out.t->data, x[0]->data, x[0]->rank,
                              x[0]->shape, nd->starts, nd->stops, nd->steps);
        break;
    case DQ_OP_MEAN:
        if ((rc = buf_get(e, s, nd->name, &out)) != DQ_OK) break;
        rc = dq_mean_forward(out.t->data, x[0]->data, x[0]->rank, x[0]->shape,
                             nd->n_dims, nd->dims);
        break;
    case DQ_OP_EXPAND:
        if ((rc = buf_get(e, s, nd->name, &out)) != DQ_OK) break;
        rc = dq_expand_forward(out.t->data, x[0]->data, x[0]->rank,
                               x[0]->shape, s->rank, s->d);
        break;
    default:
        rc = DQ_ERROR(DQ_EUNSUP, "%s: node '%s': op %s cannot run",
                      e->m->path, nd->name, dq_op_name(nd->op));
    }
    if (rc != DQ_OK) {
        if (e->m->path && !strstr(dq_error_message(), e->m->path))
            dq_error_prefix(rc, "%s: node '%s' (%s)", e->m->path, nd->name,
                            dq_op_name(nd->op));
        buf_put(e, out);
        goto done;
    }
    e->val[i] = out;
done:
    buf_put(e, tmp[0]);
    buf_put(e, tmp[1]);
    return rc;
}

/* Run nodes start.. and copy the output node's value to logits. */
static int run_from(dq_engine *e, int start, const float *input,
                    float *logits)
{
    const dq_model *m = e->m;
    for (int i = 0; i < e->n; i++)
        e->refs[i] = e->live[i] ? 0 : -1;
    for (int i = start; i < e->n; i++)
        if (e->live[i])
            for (int k = 0; k < m->nodes[i].n_inputs; k++)
                e->refs[m->nodes[i].inputs[k]]++;
    e->refs[m->output]++; /* the caller reads it */
    int rc = DQ_OK;
    for (int i = start; i < e->n && rc == DQ_OK; i++) {
        if (!e->live[i]) continue;
        rc = run_node(e, i, input);
        if (rc != DQ_OK) break;
        const dq_node *nd = &m->nodes[i];
        for (int k = 0; k < nd->n_inputs; k++) {
            int j = nd->inputs[k];
            if (--e->refs[j] == 0 && !e->keep) {
                buf_put(e, e->val[j]);
                e->val[j].t = NULL;
            }
        }
    }
    if (rc == DQ_OK) {
        const dq_tensor *o = dq_engine_value(e, m->output);
        memcpy(logits, o->data, (size_t)o->size * sizeof(float));
    }
    if (rc != DQ_OK || !e->keep) {
        values_release(e, 0);
        e->kept_B = 0;
    } else {
        e->kept_B = e->B;
    }
    return rc;
}

int dq_engine_forward(dq_engine *e, const float *input, int B, float *logits)
{
    if (!input || !logits || B < 1)
        return DQ_ERROR(DQ_EINVAL, "%s: forward: bad arguments (batch %d)",
                        e->m->path, B);
    values_release(e, 0);
    e->kept_B = 0;
    DQ_TRY(plan(e, B));
    return run_from(e, 0, input, logits);
}

int dq_engine_forward_from(dq_engine *e, int start, float *logits)
{
    if (!e->keep || !e->kept_B)
        return DQ_ERROR(DQ_EINVAL, "%s: forward_from: no kept values (call "
                        "dq_engine_keep_values(e, 1) and forward first)",
                        e->m->path);
    if (start < 1 || start >= e->n || !logits)
        return DQ_ERROR(DQ_EINVAL, "%s: forward_from: start node %d outside "
                        "1..%d", e->m->path, start, e->n - 1);
    for (int i = 0; i < start; i++)
        if (e->live[i] && e->m->nodes[i].op != DQ_OP_CONSTANT &&
            !e->val[i].t)
            return DQ_ERROR(DQ_EINVAL, "%s: forward_from: node '%s' has no "
                            "kept value", e->m->path, e->m->nodes[i].name);
    values_release(e, start);
    return run_from(e, start, NULL, logits);
}

/* ---- evaluation --------------------------------------------------------- */

int dq_engine_evaluate(dq_engine *e, const dq_dataset *ds, int batch,
                       int64_t *correct, int64_t *pred, int progress,
                       const char *label)
{
    const dq_model *m = e->m;
    int64_t isz = ds->images->size / (ds->n ? ds->n : 1);
    if (batch < 1)
        return DQ_ERROR(DQ_EINVAL, "%s: evaluate: batch %d must be >= 1",
                        m->path, batch);
    if (isz != m->input_size)
        return DQ_ERROR(DQ_EINVAL, "%s: the model takes inputs of %lld "
                        "values, the %s split has images of %lld",
                        m->path, (long long)m->input_size, ds->split,
                        (long long)isz);
    int C = m->num_classes;
    float *logits = malloc((size_t)batch * (size_t)C * sizeof(float));
    if (!logits)
        return DQ_ERROR(DQ_ENOMEM, "%s: evaluate: out of memory", m->path);
    dq_progress *p = progress ? dq_progress_alloc(label ? label : ds->split,
                                                  ds->n)
                              : NULL;
    int64_t ok = 0;
    int rc = DQ_OK;
    for (int64_t b0 = 0; b0 < ds->n && rc == DQ_OK; b0 += batch) {
        int B = (int)(ds->n - b0 < batch ? ds->n - b0 : batch);
        rc = dq_engine_forward(e, ds->images->data + b0 * isz, B, logits);
        for (int b = 0; rc == DQ_OK && b < B; b++) {
            const float *l = logits + (size_t)b * C; // logits of image b0+b
            int best = 0;
            for (int c = 1; c < C; c++)
                if (l[c] > l[best]) best = c; // first maximum, as argmax
            ok += best == ds->labels[b0 + b];
            if (pred) pred[b0 + b] = best;
        }
        dq_progress_update(p, b0 + B);
    }
    dq_progress_free(p);
    free(logits);
    if (rc == DQ_OK) *correct = ok;
    return rc;
}
