/*
 * plan.c — quantization plans in memory and in their HDF5 file
 * (`format = dnateq-plan`, plan.h; schema in the README).  A plan is plain
 * data: which scheme, bits and calibrated parameters each quantizable
 * tensor of a model uses.  Calibrating and running plans is qinfer.c's
 * job; the parameters themselves are (de)serialised by quant/qio.c.
 */
#include "plan.h"

#include "error.h"
#include "h5io.h"
#include "quant/qio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const slot_names[DQ_PLAN_SLOTS] = {"weight", "input0",
                                                      "input1"};

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) dq_error_set(DQ_ENOMEM, "plan: out of memory");
    return d;
}

int dq_plan_set_str(char **field, const char *s)
{
    char *d = xstrdup(s);
    if (!d) return DQ_ENOMEM;
    free(*field);
    *field = d;
    return DQ_OK;
}

static const char *plan_name(const dq_plan *p)
{
    return p->path && *p->path ? p->path : "plan";
}

/* ---- alloc / free ----------------------------------------------------------- */

void dq_plan_free(dq_plan *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_layers && p->layers; i++)
        for (int s = 0; s < DQ_PLAN_SLOTS; s++)
            dq_qparams_free(p->layers[i].t[s].qp);
    free(p->layers);
    free(p->path);
    free(p->model_file);
    free(p->model_name);
    free(p->label);
    free(p->config);
    free(p->meta);
    free(p);
}

/* An empty plan with its strings allocated and room for n layers. */
static dq_plan *plan_new(int n)
{
    dq_plan *p = calloc(1, sizeof *p);
    if (!p) DQ_ERROR_NULL(DQ_ENOMEM, "plan: out of memory");
    p->layers = calloc(n > 0 ? (size_t)n : 1, sizeof *p->layers);
    p->path = xstrdup("");
    p->model_file = xstrdup("");
    p->model_name = xstrdup("");
    p->label = xstrdup("");
    p->config = xstrdup("");
    p->meta = xstrdup("");
    if (!p->layers || !p->path || !p->model_file || !p->model_name ||
        !p->label || !p->config || !p->meta) {
        dq_plan_free(p); /* exception in constructor, avoid memory leak */
        DQ_ERROR_NULL(DQ_ENOMEM, "plan: out of memory");
    }
    return p;
}

static void tensor_none(dq_plan_tensor *t)
{
    snprintf(t->scheme, sizeof t->scheme, "%s", DQ_PLAN_NONE);
    t->bits = DQ_PLAN_FP32_BITS;
    t->qp = NULL;
}

dq_plan *dq_plan_alloc(const dq_model *m, const char *label)
{
    if (!m) DQ_ERROR_NULL(DQ_EINVAL, "plan: no model");
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++)
        n += dq_node_quant_inputs(&m->nodes[i]) > 0;
    dq_shape *shapes = malloc((size_t)m->n_nodes * sizeof *shapes);
    dq_plan *p = plan_new(n);
    if (!shapes || !p) {
        free(shapes);
        dq_plan_free(p);
        DQ_ERROR_NULL(DQ_ENOMEM, "%s: plan: out of memory", m->path);
    }
    if (dq_model_shapes(m, 1, shapes) != DQ_OK ||
        dq_plan_set_str(&p->model_file, m->path) != DQ_OK ||
        dq_plan_set_str(&p->model_name, m->name) != DQ_OK ||
        dq_plan_set_str(&p->label, label) != DQ_OK) {
        free(shapes);
        dq_plan_free(p);
        return NULL;
    }
    int l = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const dq_node *nd = &m->nodes[i];
        int nq = dq_node_quant_inputs(nd);
        if (nq == 0) continue;
        dq_plan_layer *L = &p->layers[l++];
        snprintf(L->name, sizeof L->name, "%s", nd->name);
        snprintf(L->op, sizeof L->op, "%s", dq_op_name(nd->op));
        L->node = i;
        for (int s = 0; s < DQ_PLAN_SLOTS; s++) tensor_none(&L->t[s]);
        if (dq_node_has_quant_weight(nd)) {
            L->t[DQ_PLAN_W].present = 1;
            L->t[DQ_PLAN_W].rank = nd->weight->rank;
            memcpy(L->t[DQ_PLAN_W].shape, nd->weight->shape,
                   sizeof nd->weight->shape);
        }
        for (int k = 0; k < nq && k < 2; k++) {
            dq_plan_tensor *t = &L->t[DQ_PLAN_A0 + k];
            const dq_shape *sh = &shapes[nd->inputs[k]];
            t->present = 1;
            t->rank = sh->rank;
            memcpy(t->shape, sh->d, sizeof sh->d);
        }
    }
    p->n_layers = n;
    free(shapes);
    return p;
}

dq_plan *dq_plan_clone(const dq_plan *p)
{
    if (!p) DQ_ERROR_NULL(DQ_EINVAL, "plan: NULL");
    dq_plan *q = plan_new(p->n_layers);
    if (!q) return NULL;
    if (dq_plan_set_str(&q->path, p->path) != DQ_OK ||
        dq_plan_set_str(&q->model_file, p->model_file) != DQ_OK ||
        dq_plan_set_str(&q->model_name, p->model_name) != DQ_OK ||
        dq_plan_set_str(&q->label, p->label) != DQ_OK ||
        dq_plan_set_str(&q->config, p->config) != DQ_OK ||
        dq_plan_set_str(&q->meta, p->meta) != DQ_OK) {
        dq_plan_free(q);
        return NULL;
    }
    q->seed = p->seed;
    q->n_layers = p->n_layers;
    for (int i = 0; i < p->n_layers; i++) {
        q->layers[i] = p->layers[i];
        for (int s = 0; s < DQ_PLAN_SLOTS; s++) q->layers[i].t[s].qp = NULL;
        for (int s = 0; s < DQ_PLAN_SLOTS; s++) {
            if (!p->layers[i].t[s].qp) continue;
            q->layers[i].t[s].qp = dq_qparams_clone(p->layers[i].t[s].qp);
            if (!q->layers[i].t[s].qp) {
                dq_plan_free(q); /* exception in constructor */
                return NULL;
            }
        }
    }
    return q;
}

int dq_plan_find(const dq_plan *p, const char *name)
{
    for (int i = 0; p && name && i < p->n_layers; i++)
        if (strcmp(p->layers[i].name, name) == 0) return i;
    return -1;
}

int dq_plan_find_node(const dq_plan *p, int node)
{
    for (int i = 0; p && i < p->n_layers; i++)
        if (p->layers[i].node == node) return i;
    return -1;
}

/* ---- setting and checking one tensor --------------------------------------- */

static int64_t shape_size(const dq_plan_tensor *t)
{
    return dq_shape_size(t->rank, t->shape);
}

/* Consistency of one tensor on its own (scheme, bits, parameters vs shape).
 * who = "plan.h5: layer 'fc1' weight". */
static int tensor_check(const dq_plan_tensor *t, int slot, const char *who)
{
    if (strcmp(t->scheme, DQ_PLAN_NONE) == 0) {
        if (t->qp)
            return DQ_ERROR(DQ_EINVAL, "%s: scheme 'none' (FP32) with "
                            "quantization parameters", who);
        if (t->bits != DQ_PLAN_FP32_BITS)
            return DQ_ERROR(DQ_EINVAL, "%s: scheme 'none' (FP32) with bits "
                            "%d, expected %d", who, t->bits,
                            DQ_PLAN_FP32_BITS);
        return DQ_OK;
    }
    const dq_quant_scheme *s = dq_quant_find(t->scheme);
    if (!s) return dq_error_prefix(DQ_EINVAL, "%s", who);
    if (t->bits < DQ_QBITS_MIN || t->bits > DQ_QBITS_MAX)
        return DQ_ERROR(DQ_EINVAL, "%s: bits %d outside %d..%d", who, t->bits,
                        DQ_QBITS_MIN, DQ_QBITS_MAX);
    const dq_qparams *qp = t->qp;
    if (!qp)
        return DQ_ERROR(DQ_EINVAL, "%s: scheme '%s' without calibrated "
                        "parameters", who, t->scheme);
    if (qp->scheme != s || qp->bits != t->bits)
        return DQ_ERROR(DQ_EINVAL, "%s: parameters are for %s at %d bits, "
                        "but the tensor says %s at %d bits", who,
                        qp->scheme ? qp->scheme->name : "?", qp->bits,
                        t->scheme, t->bits);
    if (slot == DQ_PLAN_W) {
        int64_t size = shape_size(t);
        int64_t want = qp->per_channel && t->rank >= 1 ? t->shape[0] : 1;
        if (qp->nchan != want || qp->nchan * qp->chan_size != size)
            return DQ_ERROR(DQ_EINVAL, "%s: parameters for %lld channel(s) "
                            "of %lld elements, but the weight has %lld "
                            "output channels and %lld elements", who,
                            (long long)qp->nchan, (long long)qp->chan_size,
                            (long long)(t->rank >= 1 ? t->shape[0] : 1),
                            (long long)size);
    } else if (qp->nchan != 1) {
        return DQ_ERROR(DQ_EINVAL, "%s: activations take per-tensor "
                        "parameters, got %lld channels", who,
                        (long long)qp->nchan);
    }
    return DQ_OK;
}

static void who_str(char *buf, size_t len, const dq_plan *p,
                    const dq_plan_layer *L, int slot)
{
    snprintf(buf, len, "%s: layer '%s' %s", plan_name(p), L->name,
             slot_names[slot]);
}

int dq_plan_set(dq_plan *p, int layer, int slot, const char *scheme, int bits,
                dq_qparams *qp)
{
    if (!p || layer < 0 || layer >= p->n_layers || slot < 0 ||
        slot >= DQ_PLAN_SLOTS || !scheme) {
        dq_qparams_free(qp);
        return DQ_ERROR(DQ_EINVAL, "plan: set: bad layer %d or slot %d", layer,
                        slot);
    }
    dq_plan_layer *L = &p->layers[layer];
    char who[DQ_NAME_MAX + 512];
    who_str(who, sizeof who, p, L, slot);
    dq_plan_tensor *t = &L->t[slot];
    if (!t->present) {
        dq_qparams_free(qp);
        return DQ_ERROR(DQ_EINVAL, "%s: the %s has no such tensor", who,
                        L->op);
    }
    dq_plan_tensor nt = *t;
    snprintf(nt.scheme, sizeof nt.scheme, "%s", scheme);
    nt.bits = bits;
    nt.qp = qp;
    if (strlen(scheme) >= sizeof nt.scheme) {
        dq_qparams_free(qp);
        return DQ_ERROR(DQ_EINVAL, "%s: scheme name '%s' too long", who,
                        scheme);
    }
    int rc = tensor_check(&nt, slot, who);
    if (rc != DQ_OK) {
        dq_qparams_free(qp);
        return rc;
    }
    dq_qparams_free(t->qp);
    *t = nt;
    return DQ_OK;
}

int dq_plan_check(dq_plan *p, const dq_model *m)
{
    if (!p || !m) return DQ_ERROR(DQ_EINVAL, "plan: check: NULL argument");
    const char *pn = plan_name(p);
    dq_shape *shapes = malloc((size_t)m->n_nodes * sizeof *shapes);
    int *seen = calloc((size_t)m->n_nodes, sizeof *seen);
    int rc = DQ_OK;
    char who[DQ_NAME_MAX + 512], a[128], b[128];
    if (!shapes || !seen) {
        rc = DQ_ERROR(DQ_ENOMEM, "%s: out of memory", pn);
        goto done;
    }
    if ((rc = dq_model_shapes(m, 1, shapes)) != DQ_OK) goto done;
    for (int i = 0; i < p->n_layers; i++) {
        dq_plan_layer *L = &p->layers[i];
        int node = dq_model_find(m, L->name);
        if (node < 0) {
            rc = DQ_ERROR(DQ_EINVAL, "%s: layer '%s': no such node in model "
                          "%s", pn, L->name, m->path);
            goto done;
        }
        const dq_node *nd = &m->nodes[node];
        int nq = dq_node_quant_inputs(nd);
        if (nq == 0) {
            rc = DQ_ERROR(DQ_EINVAL, "%s: layer '%s': node is a %s in model "
                          "%s, not a quantizable op (conv2d, linear, matmul)",
                          pn, L->name, dq_op_name(nd->op), m->path);
            goto done;
        }
        if (strcmp(L->op, dq_op_name(nd->op)) != 0) {
            rc = DQ_ERROR(DQ_EINVAL, "%s: layer '%s': planned for a %s, but "
                          "the node is a %s in model %s", pn, L->name, L->op,
                          dq_op_name(nd->op), m->path);
            goto done;
        }
        if (seen[node]++) {
            rc = DQ_ERROR(DQ_EINVAL, "%s: layer '%s' appears twice", pn,
                          L->name);
            goto done;
        }
        L->node = node;
        for (int s = 0; s < DQ_PLAN_SLOTS; s++) {
            dq_plan_tensor *t = &L->t[s];
            who_str(who, sizeof who, p, L, s);
            int want = s == DQ_PLAN_W ? dq_node_has_quant_weight(nd)
                                      : nq >= s;
            if (t->present != want) {
                rc = DQ_ERROR(DQ_EINVAL, "%s: %s in the plan, but the %s "
                              "node %s one", who,
                              t->present ? "present" : "absent",
                              dq_op_name(nd->op), want ? "has" : "has no");
                goto done;
            }
            if (!want) continue;
            int rank = s == DQ_PLAN_W ? nd->weight->rank
                                      : shapes[nd->inputs[s - 1]].rank;
            const int64_t *sh = s == DQ_PLAN_W ? nd->weight->shape
                                               : shapes[nd->inputs[s - 1]].d;
            if (!dq_shape_equal(t->rank, t->shape, rank, sh)) {
                rc = DQ_ERROR(DQ_EINVAL, "%s: shape %s in the plan, but %s in "
                              "model %s", who,
                              dq_shape_str(a, sizeof a, t->rank, t->shape),
                              dq_shape_str(b, sizeof b, rank, sh), m->path);
                goto done;
            }
            if ((rc = tensor_check(t, s, who)) != DQ_OK) goto done;
        }
    }
    for (int i = 0; i < m->n_nodes; i++)
        if (dq_node_quant_inputs(&m->nodes[i]) && !seen[i]) {
            rc = DQ_ERROR(DQ_EINVAL, "%s: no layer for node '%s' (%s) of "
                          "model %s", pn, m->nodes[i].name,
                          dq_op_name(m->nodes[i].op), m->path);
            goto done;
        }
done:
    free(shapes);
    free(seen);
    return rc;
}

int dq_plan_check_bits(const dq_plan *p, int bits_min, int bits_max)
{
    char who[DQ_NAME_MAX + 512];
    for (int i = 0; i < p->n_layers; i++)
        for (int s = 0; s < DQ_PLAN_SLOTS; s++) {
            const dq_plan_tensor *t = &p->layers[i].t[s];
            if (!t->present || strcmp(t->scheme, DQ_PLAN_NONE) == 0) continue;
            if (t->bits < bits_min || t->bits > bits_max) {
                who_str(who, sizeof who, p, &p->layers[i], s);
                return DQ_ERROR(DQ_EINVAL, "%s: %d bits outside the range "
                                "%d..%d", who, t->bits, bits_min, bits_max);
            }
        }
    return DQ_OK;
}

/* ---- comparing and measuring ------------------------------------------------ */

int dq_plan_layer_equal(const dq_plan_layer *a, const dq_plan_layer *b)
{
    if (strcmp(a->name, b->name) != 0) return 0;
    for (int s = 0; s < DQ_PLAN_SLOTS; s++) {
        const dq_plan_tensor *x = &a->t[s], *y = &b->t[s];
        if (x->present != y->present || x->bits != y->bits ||
            strcmp(x->scheme, y->scheme) != 0 || !dq_qparams_equal(x->qp, y->qp))
            return 0;
    }
    return 1;
}

int dq_plan_first_diff(const dq_plan *a, const dq_plan *b)
{
    int n = a->n_layers < b->n_layers ? a->n_layers : b->n_layers;
    for (int i = 0; i < n; i++)
        if (!dq_plan_layer_equal(&a->layers[i], &b->layers[i])) return i;
    return n;
}

int dq_plan_tensor_bits(const dq_plan_tensor *t)
{
    if (!t->qp || strcmp(t->scheme, DQ_PLAN_NONE) == 0)
        return DQ_PLAN_FP32_BITS;
    int sb = t->qp->scheme->storage_bits;
    return sb > 0 ? sb : t->bits;
}

int dq_plan_stats_compute(const dq_plan *p, dq_plan_stats *st)
{
    memset(st, 0, sizeof *st);
    for (int i = 0; i < p->n_layers; i++)
        for (int s = 0; s < DQ_PLAN_SLOTS; s++) {
            const dq_plan_tensor *t = &p->layers[i].t[s];
            if (!t->present) continue;
            /* activations: elements per image (the shape is for B = 1) */
            double n = (double)shape_size(t);
            double nb = n * dq_plan_tensor_bits(t);
            if (s == DQ_PLAN_W) {
                st->w_elems += n;
                st->w_bits += nb;
            } else {
                st->a_elems += n;
                st->a_bits += nb;
            }
        }
    double e = st->w_elems + st->a_elems;
    st->avg_w = st->w_elems > 0 ? st->w_bits / st->w_elems : 0;
    st->avg_a = st->a_elems > 0 ? st->a_bits / st->a_elems : 0;
    st->avg = e > 0 ? (st->w_bits + st->a_bits) / e : 0;
    st->compression_vs_int8 = e > 0 ? 1.0 - (st->w_bits + st->a_bits) / (8 * e)
                                    : 0;
    return DQ_OK;
}

/* ---- file --------------------------------------------------------------------- */

static int write_body(dq_h5 *f, const dq_plan *p)
{
    DQ_TRY(dq_h5_set_attr_str(f, "/", "model", p->model_file));
    DQ_TRY(dq_h5_set_attr_str(f, "/", "model_name", p->model_name));
    DQ_TRY(dq_h5_set_attr_str(f, "/", "label", p->label));
    DQ_TRY(dq_h5_set_attr_str(f, "/", "config", p->config));
    DQ_TRY(dq_h5_set_attr_str(f, "/", "meta", p->meta));
    DQ_TRY(dq_h5_set_attr_int(f, "/", "seed", (int64_t)p->seed));
    DQ_TRY(dq_h5_set_attr_int(f, "/", "n_layers", p->n_layers));
    DQ_TRY(dq_h5_mkgroup(f, "/layers"));
    char g[DQ_NAME_MAX + 16], obj[DQ_NAME_MAX + 32];
    for (int i = 0; i < p->n_layers; i++) {
        const dq_plan_layer *L = &p->layers[i];
        if (!L->name[0] || strchr(L->name, '/'))
            return DQ_ERROR(DQ_EINVAL, "plan: layer %d: name '%s' cannot be "
                            "an HDF5 group", i, L->name);
        snprintf(g, sizeof g, "/layers/%s", L->name);
        DQ_TRY(dq_h5_mkgroup(f, g));
        DQ_TRY(dq_h5_set_attr_int(f, g, "order", i));
        DQ_TRY(dq_h5_set_attr_str(f, g, "op", L->op));
        DQ_TRY(dq_h5_set_attr_double(f, g, "shared_base", L->shared_base));
        for (int s = 0; s < DQ_PLAN_SLOTS; s++) {
            const dq_plan_tensor *t = &L->t[s];
            if (!t->present) continue;
            snprintf(obj, sizeof obj, "%s/%s", g, slot_names[s]);
            if (t->qp) DQ_TRY(dq_qparams_write(f, obj, t->qp));
            else DQ_TRY(dq_h5_mkgroup(f, obj));
            /* after the parameters: the tensor's own scheme and bits win */
            DQ_TRY(dq_h5_set_attr_str(f, obj, "scheme", t->scheme));
            DQ_TRY(dq_h5_set_attr_int(f, obj, "bits", t->bits));
            DQ_TRY(dq_h5_set_attr_ints(f, obj, "shape", t->shape, t->rank));
        }
    }
    return DQ_OK;
}

int dq_plan_write(const dq_plan *p, const char *path)
{
    if (!p || !path) return DQ_ERROR(DQ_EINVAL, "plan: write: NULL argument");
    dq_h5 *f = dq_h5_create(path, DQ_PLAN_FORMAT, DQ_PLAN_VERSION);
    if (!f) return dq_error_status();
    int rc = write_body(f, p);
    if (rc != DQ_OK) {
        dq_error_prefix(rc, "%s", path);
        dq_h5_abort(f);
        return rc;
    }
    return dq_h5_commit(f);
}

static int read_str(dq_h5 *f, const char *name, char **field)
{
    char *s = NULL;
    DQ_TRY(dq_h5_get_attr_str(f, "/", name, &s));
    free(*field);
    *field = s;
    return DQ_OK;
}

static int read_tensor(dq_h5 *f, const char *g, dq_plan_tensor *t)
{
    const char *path = dq_h5_path(f);
    char *scheme = NULL;
    int64_t bits, shape[DQ_MAX_RANK];
    int rank = 0;
    DQ_TRY(dq_h5_get_attr_str(f, g, "scheme", &scheme));
    int rc = dq_h5_get_attr_int(f, g, "bits", &bits);
    if (rc == DQ_OK)
        rc = dq_h5_get_attr_ints(f, g, "shape", shape, DQ_MAX_RANK, &rank);
    if (rc == DQ_OK && (rank < 0 || rank > DQ_MAX_RANK))
        rc = DQ_ERROR(DQ_EFORMAT, "%s: %s: shape of rank %d", path, g, rank);
    if (rc == DQ_OK && strlen(scheme) >= sizeof t->scheme)
        rc = DQ_ERROR(DQ_EFORMAT, "%s: %s: scheme name too long", path, g);
    if (rc != DQ_OK) {
        free(scheme);
        return rc;
    }
    t->present = 1;
    snprintf(t->scheme, sizeof t->scheme, "%s", scheme);
    t->bits = (int)(bits < -1000 ? -1000 : bits > 1000 ? 1000 : bits);
    t->rank = rank;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)rank);
    int none = strcmp(scheme, DQ_PLAN_NONE) == 0;
    free(scheme);
    if (none) {
        if (t->bits != DQ_PLAN_FP32_BITS)
            return DQ_ERROR(DQ_EFORMAT, "%s: %s: scheme 'none' (FP32) with "
                            "bits %lld, expected %d", path, g,
                            (long long)bits, DQ_PLAN_FP32_BITS);
        return DQ_OK;
    }
    if (bits < DQ_QBITS_MIN || bits > DQ_QBITS_MAX)
        return DQ_ERROR(DQ_EFORMAT, "%s: %s: bits %lld outside %d..%d", path,
                        g, (long long)bits, DQ_QBITS_MIN, DQ_QBITS_MAX);
    return dq_qparams_read(f, g, &t->qp);
}

static int read_body(dq_h5 *f, dq_plan **out)
{
    const char *path = dq_h5_path(f);
    int64_t n = 0, seed = 0;
    char **names = NULL, **sub = NULL;
    int nn = 0, ns = 0, rc;
    DQ_TRY(dq_h5_get_attr_int(f, "/", "n_layers", &n));
    if (n < 0 || n > 1000000)
        return DQ_ERROR(DQ_EFORMAT, "%s: n_layers = %lld", path, (long long)n);
    dq_plan *p = plan_new((int)n);
    if (!p) return dq_error_status();
    if ((rc = dq_plan_set_str(&p->path, path)) != DQ_OK ||
        (rc = read_str(f, "model", &p->model_file)) != DQ_OK ||
        (rc = read_str(f, "model_name", &p->model_name)) != DQ_OK ||
        (rc = read_str(f, "label", &p->label)) != DQ_OK ||
        (rc = read_str(f, "config", &p->config)) != DQ_OK ||
        (rc = read_str(f, "meta", &p->meta)) != DQ_OK ||
        (rc = dq_h5_get_attr_int(f, "/", "seed", &seed)) != DQ_OK ||
        (rc = dq_h5_list(f, "/layers", &names, &nn)) != DQ_OK)
        goto done;
    p->seed = (uint64_t)seed;
    p->n_layers = (int)n;
    if (nn != n) {
        rc = DQ_ERROR(DQ_EFORMAT, "%s: /layers holds %d layers, n_layers "
                      "says %lld", path, nn, (long long)n);
        goto done;
    }
    for (int i = 0; i < p->n_layers; i++) p->layers[i].node = -1;
    for (int i = 0; i < nn; i++) {
        char g[DQ_NAME_MAX + 16], obj[DQ_NAME_MAX + 32];
        int64_t order;
        char *op = NULL;
        snprintf(g, sizeof g, "/layers/%s", names[i]);
        if ((rc = dq_h5_get_attr_int(f, g, "order", &order)) != DQ_OK) goto done;
        if (order < 0 || order >= n || p->layers[order].name[0]) {
            rc = DQ_ERROR(DQ_EFORMAT, "%s: %s: order %lld is out of range or "
                          "taken", path, g, (long long)order);
            goto done;
        }
        dq_plan_layer *L = &p->layers[order];
        if (strlen(names[i]) >= sizeof L->name) {
            rc = DQ_ERROR(DQ_EFORMAT, "%s: %s: name too long", path, g);
            goto done;
        }
        snprintf(L->name, sizeof L->name, "%s", names[i]);
        if ((rc = dq_h5_get_attr_str(f, g, "op", &op)) != DQ_OK) goto done;
        snprintf(L->op, sizeof L->op, "%s", op);
        free(op);
        if ((rc = dq_h5_get_attr_double(f, g, "shared_base",
                                        &L->shared_base)) != DQ_OK)
            goto done;
        for (int s = 0; s < DQ_PLAN_SLOTS; s++) tensor_none(&L->t[s]);
        if ((rc = dq_h5_list(f, g, &sub, &ns)) != DQ_OK) goto done;
        int seen[DQ_PLAN_SLOTS] = {0};
        for (int j = 0; j < ns; j++) {
            int s = 0;
            while (s < DQ_PLAN_SLOTS && strcmp(sub[j], slot_names[s]) != 0) s++;
            if (s == DQ_PLAN_SLOTS) {
                rc = DQ_ERROR(DQ_EFORMAT, "%s: %s: unexpected member '%s' "
                              "(expected weight, input0, input1)", path, g,
                              sub[j]);
                goto done;
            }
            if (seen[s]++) { /* only a corrupt group lists a link twice */
                rc = DQ_ERROR(DQ_EFORMAT, "%s: %s: member '%s' is listed "
                              "twice (corrupt group)", path, g, sub[j]);
                goto done;
            }
            snprintf(obj, sizeof obj, "%s/%s", g, sub[j]);
            if ((rc = read_tensor(f, obj, &L->t[s])) != DQ_OK) goto done;
        }
        dq_h5_list_free(sub, ns);
        sub = NULL;
        ns = 0;
    }
done:
    dq_h5_list_free(names, nn);
    dq_h5_list_free(sub, ns);
    if (rc != DQ_OK) {
        dq_plan_free(p);
        return rc;
    }
    *out = p;
    return DQ_OK;
}

dq_plan *dq_plan_read(const char *path)
{
    dq_h5 *f = dq_h5_open(path, DQ_PLAN_FORMAT, DQ_PLAN_VERSION);
    if (!f) return NULL;
    dq_plan *p = NULL;
    int rc = read_body(f, &p);
    dq_h5_close(f);
    if (rc != DQ_OK) {
        const char *msg = dq_error_message();
        if (!strstr(msg, path)) dq_error_prefix(rc, "%s", path);
        return NULL;
    }
    return p;
}
