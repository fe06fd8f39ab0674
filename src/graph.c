/*
 * graph.c — load and validate a dnateq model file (graph.h).
 *
 * Loading runs in five passes, each of which may reject the file with an
 * error naming the file and the node:
 *   1. read /nodes: every member is a group with `index`, `op`, `inputs`;
 *      the indices are a permutation of 0..n-1;
 *   2. per node: op known, inputs resolved to earlier nodes, input count,
 *      attributes, parameter datasets (allowed, required, shapes);
 *   3. root attributes (output, input_shape, num_classes, ...);
 *   4. shape inference at batch 1 and 2 (dq_model_shapes), and the output
 *      must be (B, num_classes);
 *   5. BatchNorm folding and consumer counts.
 * The shape inference is the engine's too: it plans its buffers with it.
 */
#define _POSIX_C_SOURCE 200809L
#include "graph.h"

#include "error.h"
#include "h5io.h"
#include "ops.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- op table ----------------------------------------------------------- */

typedef struct {
    const char *name;
    int min_in, max_in;       /* input count; max_in < 0: unbounded */
    const char *params[5];    /* allowed datasets, NULL-terminated */
    unsigned required;        /* bit i: params[i] is required */
} op_spec;

static const op_spec op_specs[DQ_OP_COUNT] = {
    [DQ_OP_INPUT] = {"input", 0, 0, {NULL}, 0},
    [DQ_OP_CONSTANT] = {"constant", 0, 0, {"value", NULL}, 1},
    [DQ_OP_CONV2D] = {"conv2d", 1, 1, {"weight", "bias", NULL}, 1},
    [DQ_OP_LINEAR] = {"linear", 1, 1, {"weight", "bias", NULL}, 1},
    [DQ_OP_BATCHNORM2D] = {"batchnorm2d", 1, 1,
                           {"weight", "bias", "running_mean", "running_var",
                            NULL}, 15},
    [DQ_OP_LAYERNORM] = {"layernorm", 1, 1, {"weight", "bias", NULL}, 3},
    [DQ_OP_RELU] = {"relu", 1, 1, {NULL}, 0},
    [DQ_OP_GELU] = {"gelu", 1, 1, {NULL}, 0},
    [DQ_OP_IDENTITY] = {"identity", 1, 1, {NULL}, 0},
    [DQ_OP_MAXPOOL2D] = {"maxpool2d", 1, 1, {NULL}, 0},
    [DQ_OP_AVGPOOL2D] = {"avgpool2d", 1, 1, {NULL}, 0},
    [DQ_OP_ADAPTIVE_AVGPOOL2D] = {"adaptive_avgpool2d", 1, 1, {NULL}, 0},
    [DQ_OP_FLATTEN] = {"flatten", 1, 1, {NULL}, 0},
    [DQ_OP_ADD] = {"add", 1, 2, {NULL}, 0},
    [DQ_OP_MUL] = {"mul", 1, 2, {NULL}, 0},
    [DQ_OP_MATMUL] = {"matmul", 2, 2, {NULL}, 0},
    [DQ_OP_SOFTMAX] = {"softmax", 1, 1, {NULL}, 0},
    [DQ_OP_RESHAPE] = {"reshape", 1, 1, {NULL}, 0},
    [DQ_OP_PERMUTE] = {"permute", 1, 1, {NULL}, 0},
    [DQ_OP_CAT] = {"cat", 1, -1, {NULL}, 0},
    [DQ_OP_SLICE] = {"slice", 1, 1, {NULL}, 0},
    [DQ_OP_MEAN] = {"mean", 1, 1, {NULL}, 0},
    [DQ_OP_EXPAND] = {"expand", 1, 1, {NULL}, 0},
};

const char *dq_op_name(dq_op op)
{
    return (op >= 0 && op < DQ_OP_COUNT) ? op_specs[op].name : "?";
}

static int op_parse(const char *s, dq_op *op)
{
    for (int i = 0; i < DQ_OP_COUNT; i++)
        if (strcmp(op_specs[i].name, s) == 0) {
            *op = (dq_op)i;
            return 1;
        }
    return 0;
}

int dq_node_quant_inputs(const dq_node *n)
{
    switch (n->op) {
    case DQ_OP_CONV2D:
    case DQ_OP_LINEAR: return 1;
    case DQ_OP_MATMUL: return 2;
    default: return 0;
    }
}

int dq_node_has_quant_weight(const dq_node *n)
{
    return n->op == DQ_OP_CONV2D || n->op == DQ_OP_LINEAR;
}

/* ---- errors ------------------------------------------------------------- */

/* "PATH: node 'NAME' (OP): message" */
static int node_error(const dq_model *m, const dq_node *n, int status,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int node_error(const dq_model *m, const dq_node *n, int status,
                      const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dq_error_set(status, "%s: node '%s' (%s): %s", m->path, n->name,
                        dq_op_name(n->op), msg);
}

/* Prefix the current (ops.h) error with the file and node. */
static int node_prefix(const dq_model *m, const dq_node *n, int status)
{
    return dq_error_prefix(status, "%s: node '%s' (%s)", m->path, n->name,
                           dq_op_name(n->op));
}

/* ---- freeing ------------------------------------------------------------ */

static void node_clear(dq_node *n)
{
    free(n->inputs);
    dq_tensor_free(n->weight);
    dq_tensor_free(n->bias);
    dq_tensor_free(n->running_mean);
    dq_tensor_free(n->running_var);
    dq_tensor_free(n->value);
    memset(n, 0, sizeof *n);
}

void dq_model_free(dq_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_nodes && m->nodes; i++) node_clear(&m->nodes[i]);
    free(m->nodes);
    free(m->path);
    free(m->name);
    free(m->torch_version);
    free(m);
}

int dq_model_find(const dq_model *m, const char *name)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, name) == 0) return i;
    return -1;
}

/* ---- attribute readers -------------------------------------------------- */

/* Read an int array attribute of length want (want < 0: 1..max) into v. */
static int attr_ints(dq_h5 *f, const dq_model *m, const dq_node *n,
                     const char *obj, const char *key, int want, int max,
                     int64_t *v, int *len)
{
    if (dq_h5_has_attr(f, obj, key) != 1)
        return node_error(m, n, DQ_EFORMAT, "missing attribute '%s'", key);
    int64_t buf[DQ_MAX_RANK + 2];
    int cnt = 0;
    DQ_TRY(dq_h5_get_attr_ints(f, obj, key, buf, DQ_MAX_RANK + 2, &cnt));
    if ((want >= 0 && cnt != want) || (want < 0 && (cnt < 1 || cnt > max)))
        return want >= 0 ? node_error(m, n, DQ_EFORMAT, "attribute '%s' has "
                                      "%d values, expected %d", key, cnt, want)
                         : node_error(m, n, DQ_EFORMAT, "attribute '%s' has "
                                      "%d values, expected 1..%d", key, cnt,
                                      max);
    memcpy(v, buf, (size_t)cnt * sizeof *v);
    if (len) *len = cnt;
    return DQ_OK;
}

static int to_int(const dq_model *m, const dq_node *n, const char *key,
                  int64_t v, int *out)
{
    if (v < INT_MIN || v > INT_MAX)
        return node_error(m, n, DQ_EFORMAT, "attribute '%s' value %lld is "
                          "out of range", key, (long long)v);
    *out = (int)v;
    return DQ_OK;
}

static int attr_int_arr(dq_h5 *f, const dq_model *m, const dq_node *n,
                        const char *obj, const char *key, int want, int *out)
{
    int64_t v[DQ_MAX_RANK + 2];
    DQ_TRY(attr_ints(f, m, n, obj, key, want, DQ_MAX_RANK, v, NULL));
    for (int i = 0; i < want; i++) DQ_TRY(to_int(m, n, key, v[i], &out[i]));
    return DQ_OK;
}

static int attr_int(dq_h5 *f, const dq_model *m, const dq_node *n,
                    const char *obj, const char *key, int *out)
{
    return attr_int_arr(f, m, n, obj, key, 1, out);
}

static int attr_double(dq_h5 *f, const dq_model *m, const dq_node *n,
                       const char *obj, const char *key, double *out)
{
    if (dq_h5_has_attr(f, obj, key) != 1)
        return node_error(m, n, DQ_EFORMAT, "missing attribute '%s'", key);
    return dq_h5_get_attr_double(f, obj, key, out);
}

/* A positive-or-zero pair check for conv/pool attributes. */
static int check_pair(const dq_model *m, const dq_node *n, const char *key,
                      const int *v, int min)
{
    if (v[0] < min || v[1] < min)
        return node_error(m, n, DQ_EFORMAT, "attribute '%s' = (%d, %d) must "
                          "be >= %d", key, v[0], v[1], min);
    return DQ_OK;
}

static int read_attrs(dq_h5 *f, dq_model *m, dq_node *n, const char *obj)
{
    int len = 0;
    switch (n->op) {
    case DQ_OP_CONV2D:
        DQ_TRY(attr_int_arr(f, m, n, obj, "stride", 2, n->stride));
        DQ_TRY(attr_int_arr(f, m, n, obj, "padding", 2, n->padding));
        n->dilation[0] = n->dilation[1] = 1;
        if (dq_h5_has_attr(f, obj, "dilation") == 1)
            DQ_TRY(attr_int_arr(f, m, n, obj, "dilation", 2, n->dilation));
        DQ_TRY(attr_int(f, m, n, obj, "groups", &n->groups));
        DQ_TRY(check_pair(m, n, "stride", n->stride, 1));
        DQ_TRY(check_pair(m, n, "padding", n->padding, 0));
        DQ_TRY(check_pair(m, n, "dilation", n->dilation, 1));
        if (n->groups < 1)
            return node_error(m, n, DQ_EFORMAT, "groups = %d must be >= 1",
                              n->groups);
        break;
    case DQ_OP_MAXPOOL2D:
    case DQ_OP_AVGPOOL2D:
        DQ_TRY(attr_int_arr(f, m, n, obj, "kernel", 2, n->kernel));
        DQ_TRY(attr_int_arr(f, m, n, obj, "stride", 2, n->stride));
        DQ_TRY(attr_int_arr(f, m, n, obj, "padding", 2, n->padding));
        DQ_TRY(check_pair(m, n, "kernel", n->kernel, 1));
        DQ_TRY(check_pair(m, n, "stride", n->stride, 1));
        DQ_TRY(check_pair(m, n, "padding", n->padding, 0));
        if (n->op == DQ_OP_AVGPOOL2D)
            DQ_TRY(attr_int(f, m, n, obj, "count_include_pad",
                            &n->count_include_pad));
        break;
    case DQ_OP_ADAPTIVE_AVGPOOL2D:
        DQ_TRY(attr_int_arr(f, m, n, obj, "output_size", 2, n->output_size));
        DQ_TRY(check_pair(m, n, "output_size", n->output_size, 1));
        break;
    case DQ_OP_FLATTEN:
        DQ_TRY(attr_int(f, m, n, obj, "start_dim", &n->start_dim));
        DQ_TRY(attr_int(f, m, n, obj, "end_dim", &n->end_dim));
        break;
    case DQ_OP_ADD:
    case DQ_OP_MUL:
        n->has_scalar = dq_h5_has_attr(f, obj, "scalar") == 1;
        if (n->has_scalar)
            DQ_TRY(attr_double(f, m, n, obj, "scalar", &n->scalar));
        break;
    case DQ_OP_SOFTMAX:
    case DQ_OP_CAT:
        DQ_TRY(attr_int(f, m, n, obj, "dim", &n->dim));
        break;
    case DQ_OP_RESHAPE:
    case DQ_OP_EXPAND:
        DQ_TRY(attr_ints(f, m, n, obj, "shape", -1, DQ_MAX_RANK, n->shape,
                         &n->n_shape));
        if (dq_h5_has_attr(f, obj, "batch_mult") == 1)
            DQ_TRY(attr_ints(f, m, n, obj, "batch_mult", n->n_shape,
                             DQ_MAX_RANK, n->batch_mult, NULL));
        for (int i = 0; i < n->n_shape; i++) {
            if (n->batch_mult[i] < 0 ||
                (n->batch_mult[i] > 0 && n->shape[i] != -1) ||
                n->shape[i] < -1)
                return node_error(m, n, DQ_EFORMAT, "bad shape entry %d: "
                                  "shape %lld, batch_mult %lld", i,
                                  (long long)n->shape[i],
                                  (long long)n->batch_mult[i]);
        }
        break;
    case DQ_OP_PERMUTE:
        DQ_TRY(attr_ints(f, m, n, obj, "dims", -1, DQ_MAX_RANK, n->shape,
                         &n->n_dims));
        for (int i = 0; i < n->n_dims; i++)
            DQ_TRY(to_int(m, n, "dims", n->shape[i], &n->dims[i]));
        memset(n->shape, 0, sizeof n->shape);
        break;
    case DQ_OP_MEAN:
        DQ_TRY(attr_ints(f, m, n, obj, "dims", -1, DQ_MAX_RANK, n->shape,
                         &n->n_dims));
        for (int i = 0; i < n->n_dims; i++)
            DQ_TRY(to_int(m, n, "dims", n->shape[i], &n->dims[i]));
        memset(n->shape, 0, sizeof n->shape);
        DQ_TRY(attr_int(f, m, n, obj, "keepdim", &n->keepdim));
        break;
    case DQ_OP_SLICE: {
        int64_t sq[DQ_MAX_RANK];
        int l2 = 0, l3 = 0, l4 = 0;
        DQ_TRY(attr_ints(f, m, n, obj, "starts", -1, DQ_MAX_RANK, n->starts,
                         &len));
        DQ_TRY(attr_ints(f, m, n, obj, "stops", -1, DQ_MAX_RANK, n->stops,
                         &l2));
        DQ_TRY(attr_ints(f, m, n, obj, "steps", -1, DQ_MAX_RANK, n->steps,
                         &l3));
        DQ_TRY(attr_ints(f, m, n, obj, "squeeze", -1, DQ_MAX_RANK, sq, &l4));
        if (l2 != len || l3 != len || l4 != len)
            return node_error(m, n, DQ_EFORMAT, "starts, stops, steps and "
                              "squeeze must have equal lengths (%d, %d, %d, "
                              "%d)", len, l2, l3, l4);
        n->n_dims = len;
        for (int i = 0; i < len; i++) {
            if (n->steps[i] < 1)
                return node_error(m, n, DQ_EFORMAT, "step %lld in dim %d "
                                  "must be >= 1", (long long)n->steps[i], i);
            n->squeeze[i] = sq[i] != 0;
        }
        break;
    }
    case DQ_OP_BATCHNORM2D:
        DQ_TRY(attr_double(f, m, n, obj, "eps", &n->eps));
        if (!(n->eps > 0))
            return node_error(m, n, DQ_EFORMAT, "eps must be positive");
        break;
    case DQ_OP_LAYERNORM:
        DQ_TRY(attr_double(f, m, n, obj, "eps", &n->eps));
        if (!(n->eps > 0))
            return node_error(m, n, DQ_EFORMAT, "eps must be positive");
        DQ_TRY(attr_ints(f, m, n, obj, "normalized_shape", -1, DQ_MAX_RANK,
                         n->shape, &n->n_shape));
        for (int i = 0; i < n->n_shape; i++)
            if (n->shape[i] < 1)
                return node_error(m, n, DQ_EFORMAT, "normalized_shape entry "
                                  "%lld must be >= 1", (long long)n->shape[i]);
        break;
    default:
        break;
    }
    (void)len;
    return DQ_OK;
}

/* ---- parameters --------------------------------------------------------- */

static dq_tensor **param_slot(dq_node *n, const char *name)
{
    if (strcmp(name, "weight") == 0) return &n->weight;
    if (strcmp(name, "bias") == 0) return &n->bias;
    if (strcmp(name, "running_mean") == 0) return &n->running_mean;
    if (strcmp(name, "running_var") == 0) return &n->running_var;
    if (strcmp(name, "value") == 0) return &n->value;
    return NULL;
}

static int read_params(dq_h5 *f, dq_model *m, dq_node *n, const char *obj)
{
    const op_spec *sp = &op_specs[n->op];
    char **names = NULL;
    int cnt = 0;
    DQ_TRY(dq_h5_list(f, obj, &names, &cnt));
    int rc = DQ_OK;
    for (int i = 0; i < cnt && rc == DQ_OK; i++) {
        int ok = 0;
        for (int j = 0; sp->params[j]; j++)
            if (strcmp(sp->params[j], names[i]) == 0) ok = 1;
        if (!ok) {
            rc = node_error(m, n, DQ_EFORMAT, "unexpected member '%s' (a %s "
                            "node has no such parameter)", names[i],
                            sp->name);
            break;
        }
        char path[4 * DQ_NAME_MAX];
        snprintf(path, sizeof path, "%s/%s", obj, names[i]);
        if (dq_h5_is_group(f, path) != 0) {
            rc = node_error(m, n, DQ_EFORMAT, "'%s' is not a dataset",
                            names[i]);
            break;
        }
        rc = dq_h5_read_tensor(f, path, param_slot(n, names[i]));
        if (rc == DQ_OK) {
            dq_tensor *t = *param_slot(n, names[i]);
            if (dq_tensor_check_finite(t) != DQ_OK)
                rc = node_error(m, n, DQ_EFORMAT, "parameter '%s' has a NaN "
                                "or infinite value", names[i]);
            else
                dq_tensor_set_name(t, n->name);
        }
    }
    dq_h5_list_free(names, cnt);
    if (rc != DQ_OK) return rc;
    for (int j = 0; sp->params[j]; j++)
        if ((sp->required >> j & 1) && !*param_slot(n, sp->params[j]))
            return node_error(m, n, DQ_EFORMAT, "missing parameter '%s'",
                              sp->params[j]);
    return DQ_OK;
}

static int check_vec(const dq_model *m, const dq_node *n, const char *what,
                     const dq_tensor *t, int64_t len)
{
    char b[64];
    if (t && (t->rank != 1 || t->shape[0] != len))
        return node_error(m, n, DQ_EFORMAT, "%s has shape %s, expected (%lld)",
                          what, dq_shape_str(b, sizeof b, t->rank, t->shape),
                          (long long)len);
    return DQ_OK;
}

/* Shapes of the parameters against each other and the attributes. */
static int check_params(const dq_model *m, const dq_node *n)
{
    char b[64];
    const dq_tensor *w = n->weight;
    switch (n->op) {
    case DQ_OP_CONV2D:
        if (w->rank != 4)
            return node_error(m, n, DQ_EFORMAT, "weight has shape %s, "
                              "expected (O, I/groups, kh, kw)",
                              dq_shape_str(b, sizeof b, w->rank, w->shape));
        for (int i = 0; i < 4; i++)
            if (w->shape[i] < 1 || w->shape[i] > INT_MAX)
                return node_error(m, n, DQ_EFORMAT, "weight has an empty or "
                                  "huge dimension %s",
                                  dq_shape_str(b, sizeof b, 4, w->shape));
        if (w->shape[0] % n->groups != 0)
            return node_error(m, n, DQ_EFORMAT, "%lld output channels are "
                              "not divisible by groups = %d",
                              (long long)w->shape[0], n->groups);
        return check_vec(m, n, "bias", n->bias, w->shape[0]);
    case DQ_OP_LINEAR:
        if (w->rank != 2 || w->shape[0] < 1 || w->shape[1] < 1 ||
            w->shape[0] > INT_MAX || w->shape[1] > INT_MAX)
            return node_error(m, n, DQ_EFORMAT, "weight has shape %s, "
                              "expected (O, I)",
                              dq_shape_str(b, sizeof b, w->rank, w->shape));
        return check_vec(m, n, "bias", n->bias, w->shape[0]);
    case DQ_OP_BATCHNORM2D:
        if (w->rank != 1 || w->shape[0] < 1)
            return node_error(m, n, DQ_EFORMAT, "weight has shape %s, "
                              "expected (C)",
                              dq_shape_str(b, sizeof b, w->rank, w->shape));
        DQ_TRY(check_vec(m, n, "bias", n->bias, w->shape[0]));
        DQ_TRY(check_vec(m, n, "running_mean", n->running_mean, w->shape[0]));
        DQ_TRY(check_vec(m, n, "running_var", n->running_var, w->shape[0]));
        for (int64_t i = 0; i < w->shape[0]; i++)
            if (n->running_var->data[i] < 0)
                return node_error(m, n, DQ_EFORMAT, "running_var[%lld] is "
                                  "negative", (long long)i);
        return DQ_OK;
    case DQ_OP_LAYERNORM: {
        int64_t c = dq_shape_size(n->n_shape, n->shape);
        if (w->size != c || n->bias->size != c || w->rank != n->n_shape)
            return node_error(m, n, DQ_EFORMAT, "weight %s / bias of %lld "
                              "values do not match normalized_shape %s",
                              dq_shape_str(b, sizeof b, w->rank, w->shape),
                              (long long)n->bias->size,
                              dq_shape_str(b + 32, sizeof b - 32, n->n_shape,
                                           n->shape));
        return DQ_OK;
    }
    default:
        return DQ_OK;
    }
}

/* ---- node inputs -------------------------------------------------------- */

static int read_inputs(dq_model *m, dq_node *n, const char *list)
{
    int cnt = 0;
    if (list[0]) {
        cnt = 1;
        for (const char *p = list; *p; p++) cnt += *p == ',';
    }
    const op_spec *sp = &op_specs[n->op];
    int min = sp->min_in, max = sp->max_in;
    if ((n->op == DQ_OP_ADD || n->op == DQ_OP_MUL))
        min = max = n->has_scalar ? 1 : 2;
    if (cnt < min || (max >= 0 && cnt > max)) {
        if (min == max)
            return node_error(m, n, DQ_EFORMAT, "has %d inputs, expected %d%s",
                              cnt, min, (n->op == DQ_OP_ADD ||
                                         n->op == DQ_OP_MUL)
                                  ? (n->has_scalar ? " (it has a scalar)"
                                                   : " (it has no scalar)")
                                  : "");
        return node_error(m, n, DQ_EFORMAT, "has %d inputs, expected at least "
                          "%d", cnt, min);
    }
    n->n_inputs = cnt;
    n->inputs = cnt ? calloc((size_t)cnt, sizeof *n->inputs) : NULL;
    if (cnt && !n->inputs)
        return node_error(m, n, DQ_ENOMEM, "out of memory");
    const char *p = list;
    for (int k = 0; k < cnt; k++) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char name[DQ_NAME_MAX];
        if (len == 0 || len >= sizeof name)
            return node_error(m, n, DQ_EFORMAT, "input %d has an empty or "
                              "too long name", k);
        memcpy(name, p, len);
        name[len] = '\0';
        int j = dq_model_find(m, name);
        if (j < 0)
            return node_error(m, n, DQ_EFORMAT, "missing input '%s' (no node "
                              "of that name)", name);
        if (j >= n->index)
            return node_error(m, n, DQ_EFORMAT, "input '%s' (index %d) does "
                              "not come before this node (index %d): a cycle "
                              "or nodes not in topological order", name, j,
                              n->index);
        n->inputs[k] = j;
        p = e ? e + 1 : p + len;
    }
    return DQ_OK;
}

/* ---- shape inference ---------------------------------------------------- */

static int fits_int(const dq_shape *s)
{
    for (int i = 0; i < s->rank; i++)
        if (s->d[i] > INT_MAX) return 0;
    return dq_shape_size(s->rank, s->d) >= 0;
}

static int node_shape(const dq_model *m, const dq_node *n, int64_t B,
                      const dq_shape *shapes, dq_shape *o)
{
    const dq_shape *in = n->n_inputs ? &shapes[n->inputs[0]] : NULL;
    char b1[96], b2[96];
    memset(o, 0, sizeof *o);
    switch (n->op) {
    case DQ_OP_INPUT:
        o->rank = m->input_rank + 1;
        o->d[0] = B;
        for (int i = 0; i < m->input_rank; i++) o->d[i + 1] = m->input_shape[i];
        return DQ_OK;
    case DQ_OP_CONSTANT:
        o->rank = n->value->rank;
        for (int i = 0; i < o->rank; i++) o->d[i] = n->value->shape[i];
        return DQ_OK;
    case DQ_OP_CONV2D: {
        if (in->rank != 4)
            return node_error(m, n, DQ_EINVAL, "input has shape %s, expected "
                              "(B, C, H, W)",
                              dq_shape_str(b1, sizeof b1, in->rank, in->d));
        const dq_tensor *w = n->weight;
        if (in->d[1] != w->shape[1] * n->groups)
            return node_error(m, n, DQ_EINVAL, "input has %lld channels, but "
                              "weight %s with groups = %d expects %lld",
                              (long long)in->d[1],
                              dq_shape_str(b1, sizeof b1, 4, w->shape),
                              n->groups, (long long)(w->shape[1] * n->groups));
        int OH, OW;
        if (dq_conv2d_output_size(&OH, &OW, (int)in->d[1], (int)in->d[2],
                                  (int)in->d[3], (int)w->shape[0],
                                  (int)w->shape[2], (int)w->shape[3],
                                  n->stride[0], n->stride[1], n->padding[0],
                                  n->padding[1], n->dilation[0],
                                  n->dilation[1], n->groups) != DQ_OK)
            return node_prefix(m, n, DQ_EINVAL);
        o->rank = 4;
        o->d[0] = in->d[0];
        o->d[1] = w->shape[0];
        o->d[2] = OH;
        o->d[3] = OW;
        return DQ_OK;
    }
    case DQ_OP_LINEAR:
        if (in->rank < 1 || in->d[in->rank - 1] != n->weight->shape[1])
            return node_error(m, n, DQ_EINVAL, "weight is %s, but its input "
                              "%s does not end in %lld features",
                              dq_shape_str(b1, sizeof b1, 2, n->weight->shape),
                              dq_shape_str(b2, sizeof b2, in->rank, in->d),
                              (long long)n->weight->shape[1]);
        *o = *in;
        o->d[o->rank - 1] = n->weight->shape[0];
        return DQ_OK;
    case DQ_OP_BATCHNORM2D:
        if (in->rank != 4 || in->d[1] != n->weight->shape[0])
            return node_error(m, n, DQ_EINVAL, "input %s does not have %lld "
                              "channels in (B, C, H, W) layout",
                              dq_shape_str(b1, sizeof b1, in->rank, in->d),
                              (long long)n->weight->shape[0]);
        *o = *in;
        return DQ_OK;
    case DQ_OP_LAYERNORM: {
        int k = n->n_shape, ok = in->rank >= k;
        for (int i = 0; ok && i < k; i++)
            ok = in->d[in->rank - k + i] == n->shape[i];
        if (!ok)
            return node_error(m, n, DQ_EINVAL, "input %s does not end in "
                              "normalized_shape %s",
                              dq_shape_str(b1, sizeof b1, in->rank, in->d),
                              dq_shape_str(b2, sizeof b2, k, n->shape));
        *o = *in;
        return DQ_OK;
    }
    case DQ_OP_RELU:
    case DQ_OP_GELU:
    case DQ_OP_IDENTITY:
        *o = *in;
        return DQ_OK;
    case DQ_OP_MAXPOOL2D:
    case DQ_OP_AVGPOOL2D:
    case DQ_OP_ADAPTIVE_AVGPOOL2D: {
        if (in->rank != 4)
            return node_error(m, n, DQ_EINVAL, "input has shape %s, expected "
                              "(B, C, H, W)",
                              dq_shape_str(b1, sizeof b1, in->rank, in->d));
        int OH = n->output_size[0], OW = n->output_size[1];
        if (n->op != DQ_OP_ADAPTIVE_AVGPOOL2D &&
            dq_pool2d_output_size(&OH, &OW, (int)in->d[2], (int)in->d[3],
                                  n->kernel[0], n->kernel[1], n->stride[0],
                                  n->stride[1], n->padding[0],
                                  n->padding[1]) != DQ_OK)
            return node_prefix(m, n, DQ_EINVAL);
        *o = *in;
        o->d[2] = OH;
        o->d[3] = OW;
        return DQ_OK;
    }
    case DQ_OP_FLATTEN: {
        int r = in->rank ? in->rank : 1;
        int s = n->start_dim < 0 ? n->start_dim + r : n->start_dim;
        int e = n->end_dim < 0 ? n->end_dim + r : n->end_dim;
        if (s < 0 || e >= r || s > e)
            return node_error(m, n, DQ_EINVAL, "start_dim %d / end_dim %d "
                              "invalid for an input of rank %d", n->start_dim,
                              n->end_dim, in->rank);
        if (in->rank == 0) {
            o->rank = 1;
            o->d[0] = 1;
            return DQ_OK;
        }
        o->rank = 0;
        for (int i = 0; i < s; i++) o->d[o->rank++] = in->d[i];
        int64_t p = 1;
        for (int i = s; i <= e; i++) p *= in->d[i];
        o->d[o->rank++] = p;
        for (int i = e + 1; i < r; i++) o->d[o->rank++] = in->d[i];
        return DQ_OK;
    }
    case DQ_OP_ADD:
    case DQ_OP_MUL:
        if (n->has_scalar) {
            *o = *in;
            return DQ_OK;
        }
        if (dq_broadcast_shape(&o->rank, o->d, in->rank, in->d,
                               shapes[n->inputs[1]].rank,
                               shapes[n->inputs[1]].d) != DQ_OK)
            return node_prefix(m, n, DQ_EINVAL);
        return DQ_OK;
    case DQ_OP_MATMUL:
        if (dq_matmul_shape(&o->rank, o->d, in->rank, in->d,
                            shapes[n->inputs[1]].rank,
                            shapes[n->inputs[1]].d) != DQ_OK)
            return node_prefix(m, n, DQ_EINVAL);
        return DQ_OK;
    case DQ_OP_SOFTMAX: {
        int outer, len, inner;
        if (dq_axis_split(&outer, &len, &inner, in->rank, in->d, n->dim) !=
            DQ_OK)
            return node_prefix(m, n, DQ_EINVAL);
        *o = *in;
        return DQ_OK;
    }
    case DQ_OP_RESHAPE: {
        int infer = -1;
        int64_t known = 1, total = dq_shape_size(in->rank, in->d);
        o->rank = n->n_shape;
        for (int i = 0; i < n->n_shape; i++) {
            int64_t d = n->batch_mult[i] > 0 ? n->batch_mult[i] * B
                                             : n->shape[i];
            if (d == -1) {
                if (infer >= 0)
                    return node_error(m, n, DQ_EINVAL, "shape has more than "
                                      "one -1");
                infer = i;
                d = 1;
            }
            o->d[i] = d;
            known *= d;
        }
        if (infer >= 0) {
            if (known == 0 || total % known != 0)
                return node_error(m, n, DQ_EINVAL, "cannot reshape %s: %lld "
                                  "values into a shape with -1",
                                  dq_shape_str(b1, sizeof b1, in->rank, in->d),
                                  (long long)total);
            o->d[infer] = total / known;
        } else if (known != total) {
            return node_error(m, n, DQ_EINVAL, "cannot reshape %s into %s",
                              dq_shape_str(b1, sizeof b1, in->rank, in->d),
                              dq_shape_str(b2, sizeof b2, o->rank, o->d));
        }
        return DQ_OK;
    }
    case DQ_OP_PERMUTE:
        if (n->n_dims != in->rank)
            return node_error(m, n, DQ_EINVAL, "dims has %d entries for an "
                              "input of rank %d", n->n_dims, in->rank);
        o->rank = in->rank;
        if (dq_permute_shape(o->d, in->rank, in->d, n->dims) != DQ_OK)
            return node_prefix(m, n, DQ_EINVAL);
        return DQ_OK;
    case DQ_OP_CAT: {
        const int64_t *sh[64];
        if (n->n_inputs > 64)
            return node_error(m, n, DQ_EUNSUP, "more than 64 inputs");
        for (int k = 0; k < n->n_inputs; k++) {
            const dq_shape *s = &shapes[n->inputs[k]];
            if (s->rank != in->rank)
                return node_error(m, n, DQ_EINVAL, "input %d has rank %d, "
                                  "input 0 rank %d", k, s->rank, in->rank);
            sh[k] = s->d;
        }
        o->rank = in->rank;
        if (dq_cat_shape(o->d, n->n_inputs, in->rank, sh, n->dim) != DQ_OK)
            return node_prefix(m, n, DQ_EINVAL);
        return DQ_OK;
    }
    case DQ_OP_SLICE: {
        if (n->n_dims != in->rank)
            return node_error(m, n, DQ_EINVAL, "slices %d dims of an input "
                              "of rank %d", n->n_dims, in->rank);
        int64_t full[DQ_MAX_RANK];
        if (dq_slice_shape(full, in->rank, in->d, n->starts, n->stops,
                           n->steps) != DQ_OK)
            return node_prefix(m, n, DQ_EINVAL);
        o->rank = 0;
        for (int i = 0; i < in->rank; i++) {
            if (!n->squeeze[i]) {
                o->d[o->rank++] = full[i];
            } else if (full[i] != 1) {
                return node_error(m, n, DQ_EINVAL, "integer index %lld is out "
                                  "of range for dim %d of size %lld",
                                  (long long)n->starts[i], i,
                                  (long long)in->d[i]);
            }
        }
        return DQ_OK;
    }
    case DQ_OP_MEAN: {
        int64_t kd[DQ_MAX_RANK];
        if (n->n_dims < 1)
            return node_error(m, n, DQ_EINVAL, "dims is empty");
        if (dq_mean_shape(kd, in->rank, in->d, n->n_dims, n->dims) != DQ_OK)
            return node_prefix(m, n, DQ_EINVAL);
        o->rank = 0;
        for (int i = 0; i < in->rank; i++) {
            int reduced = 0;
            for (int k = 0; k < n->n_dims; k++)
                reduced |= (n->dims[k] < 0 ? n->dims[k] + in->rank
                                           : n->dims[k]) == i;
            if (!reduced || n->keepdim) o->d[o->rank++] = kd[i];
        }
        return DQ_OK;
    }
    case DQ_OP_EXPAND: {
        int64_t target[DQ_MAX_RANK];
        for (int i = 0; i < n->n_shape; i++)
            target[i] = n->batch_mult[i] > 0 ? n->batch_mult[i] * B
                                             : n->shape[i];
        o->rank = n->n_shape;
        if (dq_expand_shape(o->d, in->rank, in->d, n->n_shape, target) !=
            DQ_OK)
            return node_prefix(m, n, DQ_EINVAL);
        return DQ_OK;
    }
    default:
        return node_error(m, n, DQ_EUNSUP, "no shape rule");
    }
}

int dq_model_shapes(const dq_model *m, int64_t B, dq_shape *shapes)
{
    if (B < 1 || B > INT_MAX)
        return DQ_ERROR(DQ_EINVAL, "%s: batch size %lld out of range",
                        m->path, (long long)B);
    for (int i = 0; i < m->n_nodes; i++) {
        const dq_node *n = &m->nodes[i];
        DQ_TRY(node_shape(m, n, B, shapes, &shapes[i]));
        if (!fits_int(&shapes[i])) {
            char b[96];
            return node_error(m, n, DQ_EOVERFLOW, "output shape %s is too "
                              "large", dq_shape_str(b, sizeof b,
                                                    shapes[i].rank,
                                                    shapes[i].d));
        }
    }
    return DQ_OK;
}

/* ---- batchnorm folding -------------------------------------------------- */

static void count_consumers(dq_model *m)
{
    for (int i = 0; i < m->n_nodes; i++) m->nodes[i].n_consumers = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_inputs; k++)
            m->nodes[m->nodes[i].inputs[k]].n_consumers++;
}

static int fold_batchnorms(dq_model *m)
{
    int n = m->n_nodes;
    /* merged[i]: node whose value replaces node i's (i itself if kept) */
    int *merged = malloc((size_t)n * sizeof *merged);
    int *newidx = malloc((size_t)n * sizeof *newidx);
    if (!merged || !newidx) {
        free(merged);
        free(newidx);
        return DQ_ERROR(DQ_ENOMEM, "%s: out of memory", m->path);
    }
    int folded = 0;
    for (int i = 0; i < n; i++) {
        merged[i] = i;
        dq_node *bn = &m->nodes[i];
        if (bn->op != DQ_OP_BATCHNORM2D) continue;
        dq_node *cv = &m->nodes[bn->inputs[0]];
        if (cv->op != DQ_OP_CONV2D || cv->n_consumers != 1 ||
            cv->index == m->output || cv->folded[0])
            continue;
        int OC = (int)cv->weight->shape[0];
        if (!cv->bias) {
            cv->bias = dq_tensor_calloc(cv->name, 1, cv->weight->shape);
            if (!cv->bias) {
                free(merged);
                free(newidx);
                return dq_error_prefix(DQ_ENOMEM, "%s", m->path);
            }
        }
        dq_batchnorm2d_fold(cv->weight->data, cv->bias->data, OC,
                            (int)(cv->weight->size / OC), bn->weight->data,
                            bn->bias->data, bn->running_mean->data,
                            bn->running_var->data, bn->eps);
        snprintf(cv->folded, sizeof cv->folded, "%s", bn->name);
        merged[i] = cv->index;
        folded++;
    }
    /* Compact: surviving nodes keep their order; a folded batchnorm's
     * consumers read the conv instead (which comes earlier). */
    int k = 0;
    for (int i = 0; i < n; i++)
        newidx[i] = merged[i] == i ? k++ : newidx[merged[i]];
    for (int i = 0; i < n; i++) {
        dq_node *nd = &m->nodes[i];
        if (merged[i] != i) {
            node_clear(nd);
            continue;
        }
        for (int j = 0; j < nd->n_inputs; j++)
            nd->inputs[j] = newidx[nd->inputs[j]];
        if (newidx[i] != i) {
            m->nodes[newidx[i]] = *nd;
            memset(nd, 0, sizeof *nd);
        }
        m->nodes[newidx[i]].index = newidx[i];
    }
    m->output = newidx[m->output];
    m->n_nodes = k;
    m->n_folded = folded;
    free(merged);
    free(newidx);
    count_consumers(m);
    return DQ_OK;
}

/* ---- loading ------------------------------------------------------------ */

static int read_root(dq_h5 *f, dq_model *m, char **output)
{
    const char *p = m->path;
    if (dq_h5_get_attr_str(f, "/", "output", output) != DQ_OK)
        return dq_error_set(DQ_EFORMAT, "%s: missing root attribute 'output'",
                            p);
    int64_t shp[DQ_MAX_RANK + 1];
    int cnt = 0;
    if (dq_h5_has_attr(f, "/", "input_shape") != 1)
        return dq_error_set(DQ_EFORMAT, "%s: missing root attribute "
                            "'input_shape'", p);
    DQ_TRY(dq_h5_get_attr_ints(f, "/", "input_shape", shp, DQ_MAX_RANK + 1,
                               &cnt));
    if (cnt < 1 || cnt > DQ_MAX_RANK - 1)
        return dq_error_set(DQ_EFORMAT, "%s: input_shape has %d dims, "
                            "expected 1..%d", p, cnt, DQ_MAX_RANK - 1);
    m->input_rank = cnt;
    for (int i = 0; i < cnt; i++) {
        if (shp[i] < 1 || shp[i] > INT_MAX)
            return dq_error_set(DQ_EFORMAT, "%s: input_shape entry %lld is "
                                "out of range", p, (long long)shp[i]);
        m->input_shape[i] = shp[i];
    }
    m->input_size = dq_shape_size(cnt, shp);
    int64_t nc = 0;
    if (dq_h5_has_attr(f, "/", "num_classes") != 1)
        return dq_error_set(DQ_EFORMAT, "%s: missing root attribute "
                            "'num_classes'", p);
    DQ_TRY(dq_h5_get_attr_int(f, "/", "num_classes", &nc));
    if (nc < 1 || nc > INT_MAX)
        return dq_error_set(DQ_EFORMAT, "%s: num_classes %lld is out of range",
                            p, (long long)nc);
    m->num_classes = (int)nc;
    m->norm_mean = 0;
    m->norm_std = 1;
    if (dq_h5_has_attr(f, "/", "norm_mean") == 1)
        DQ_TRY(dq_h5_get_attr_double(f, "/", "norm_mean", &m->norm_mean));
    if (dq_h5_has_attr(f, "/", "norm_std") == 1)
        DQ_TRY(dq_h5_get_attr_double(f, "/", "norm_std", &m->norm_std));
    if (dq_h5_has_attr(f, "/", "model_name") == 1) {
        DQ_TRY(dq_h5_get_attr_str(f, "/", "model_name", &m->name));
    } else {
        const char *b = strrchr(p, '/');
        b = b ? b + 1 : p;
        m->name = strdup(b);
        if (!m->name) return dq_error_set(DQ_ENOMEM, "%s: out of memory", p);
        char *dot = strrchr(m->name, '.');
        if (dot && dot != m->name) *dot = '\0';
    }
    if (dq_h5_has_attr(f, "/", "torch_version") == 1)
        DQ_TRY(dq_h5_get_attr_str(f, "/", "torch_version", &m->torch_version));
    else if (!(m->torch_version = strdup("")))
        return dq_error_set(DQ_ENOMEM, "%s: out of memory", p);
    const char *acc[] = {"val_top1", "test_top1", "val_correct",
                         "test_correct"};
    int have = 0;
    for (int i = 0; i < 4; i++) have += dq_h5_has_attr(f, "/", acc[i]) == 1;
    if (have == 4) {
        DQ_TRY(dq_h5_get_attr_double(f, "/", "val_top1", &m->val_top1));
        DQ_TRY(dq_h5_get_attr_double(f, "/", "test_top1", &m->test_top1));
        DQ_TRY(dq_h5_get_attr_int(f, "/", "val_correct", &m->val_correct));
        DQ_TRY(dq_h5_get_attr_int(f, "/", "test_correct", &m->test_correct));
        m->has_accuracy = 1;
    }
    return DQ_OK;
}

static int read_nodes(dq_h5 *f, dq_model *m)
{
    char **names = NULL;
    int cnt = 0;
    if (dq_h5_exists(f, "/nodes") != 1 || dq_h5_is_group(f, "/nodes") != 1)
        return dq_error_set(DQ_EFORMAT, "%s: no /nodes group", m->path);
    DQ_TRY(dq_h5_list(f, "/nodes", &names, &cnt));
    int rc = DQ_OK;
    if (cnt < 2) {
        rc = dq_error_set(DQ_EFORMAT, "%s: /nodes holds %d nodes; a model "
                          "needs at least an input and one op", m->path, cnt);
        goto done;
    }
    m->nodes = calloc((size_t)cnt, sizeof *m->nodes);
    if (!m->nodes) {
        rc = dq_error_set(DQ_ENOMEM, "%s: out of memory", m->path);
        goto done;
    }
    m->n_nodes = cnt;
    /* Pass 1: place every node at its index. */
    for (int i = 0; i < cnt && rc == DQ_OK; i++) {
        char obj[2 * DQ_NAME_MAX];
        int64_t idx = -1;
        snprintf(obj, sizeof obj, "/nodes/%s", names[i]);
        if (strlen(names[i]) >= DQ_NAME_MAX || dq_h5_is_group(f, obj) != 1) {
            rc = dq_error_set(DQ_EFORMAT, "%s: /nodes/%s is not a node group "
                              "(or its name is too long)", m->path, names[i]);
        } else if (dq_h5_has_attr(f, obj, "index") != 1) {
            rc = dq_error_set(DQ_EFORMAT, "%s: node '%s': missing attribute "
                              "'index'", m->path, names[i]);
        } else if ((rc = dq_h5_get_attr_int(f, obj, "index", &idx)) != DQ_OK) {
            break;
        } else if (idx < 0 || idx >= cnt) {
            rc = dq_error_set(DQ_EFORMAT, "%s: node '%s': index %lld outside "
                              "0..%d", m->path, names[i], (long long)idx,
                              cnt - 1);
        } else if (m->nodes[idx].name[0]) {
            rc = dq_error_set(DQ_EFORMAT, "%s: nodes '%s' and '%s' have the "
                              "same index %lld", m->path, m->nodes[idx].name,
                              names[i], (long long)idx);
        } else {
            snprintf(m->nodes[idx].name, DQ_NAME_MAX, "%s", names[i]);
            m->nodes[idx].index = (int)idx;
        }
    }
    /* Pass 2: op, attributes, inputs, parameters, in topological order. */
    for (int i = 0; i < cnt && rc == DQ_OK; i++) {
        dq_node *n = &m->nodes[i];
        char obj[2 * DQ_NAME_MAX];
        char *op = NULL, *inputs = NULL;
        snprintf(obj, sizeof obj, "/nodes/%s", n->name);
        n->op = DQ_OP_COUNT;
        if (dq_h5_get_attr_str(f, obj, "op", &op) != DQ_OK) {
            rc = dq_error_set(DQ_EFORMAT, "%s: node '%s': missing or bad "
                              "attribute 'op'", m->path, n->name);
        } else if (!op_parse(op, &n->op)) {
            rc = dq_error_set(DQ_EUNSUP, "%s: node '%s': unknown op '%s'",
                              m->path, n->name, op);
        } else if ((i == 0) != (n->op == DQ_OP_INPUT)) {
            rc = node_error(m, n, DQ_EFORMAT, i == 0
                            ? "node 0 must be the model's one 'input' node"
                            : "a model has exactly one 'input' node, at "
                              "index 0");
        } else if (dq_h5_get_attr_str(f, obj, "inputs", &inputs) != DQ_OK) {
            rc = node_error(m, n, DQ_EFORMAT, "missing attribute 'inputs'");
        } else if ((rc = read_attrs(f, m, n, obj)) == DQ_OK &&
                   (rc = read_inputs(m, n, inputs)) == DQ_OK &&
                   (rc = read_params(f, m, n, obj)) == DQ_OK) {
            rc = check_params(m, n);
        }
        free(op);
        free(inputs);
    }
done:
    dq_h5_list_free(names, cnt);
    return rc;
}

dq_model *dq_model_load_flags(const char *path, unsigned flags)
{
    dq_h5 *f = dq_h5_open(path, "dnateq-model", 1);
    if (!f) return NULL;
    dq_model *m = calloc(1, sizeof *m);
    char *output = NULL;
    dq_shape *shapes = NULL;
    int rc = DQ_OK;
    if (!m || !(m->path = strdup(path))) {
        rc = dq_error_set(DQ_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if ((rc = read_root(f, m, &output)) != DQ_OK ||
        (rc = read_nodes(f, m)) != DQ_OK)
        goto fail;
    m->output = dq_model_find(m, output);
    if (m->output < 0) {
        rc = dq_error_set(DQ_EFORMAT, "%s: output '%s' is not a node", path,
                          output);
        goto fail;
    }
    count_consumers(m);
    shapes = malloc((size_t)m->n_nodes * sizeof *shapes);
    if (!shapes) {
        rc = dq_error_set(DQ_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (int64_t B = 1; B <= 2; B++) {
        if ((rc = dq_model_shapes(m, B, shapes)) != DQ_OK) goto fail;
        const dq_shape *o = &shapes[m->output];
        if (o->rank != 2 || o->d[0] != B || o->d[1] != m->num_classes) {
            char b[96];
            rc = node_error(m, &m->nodes[m->output], DQ_EFORMAT,
                            "the output is %s for a batch of %lld, expected "
                            "(%lld, %d) logits",
                            dq_shape_str(b, sizeof b, o->rank, o->d),
                            (long long)B, (long long)B, m->num_classes);
            goto fail;
        }
    }
    if (!(flags & DQ_MODEL_NO_FOLD) && (rc = fold_batchnorms(m)) != DQ_OK)
        goto fail;
    free(shapes);
    free(output);
    dq_h5_close(f);
    return m;
fail:
    (void)rc;
    free(shapes);
    free(output);
    dq_model_free(m); /* exception in constructor, avoid memory leak */
    dq_h5_close(f);
    return NULL;
}

dq_model *dq_model_load(const char *path)
{
    return dq_model_load_flags(path, 0);
}
