/*
 * testmodels.c — writers of the tiny test models (testmodels.h).
 */
#include "testmodels.h"

#include "error.h"
#include "h5io.h"
#include "tensor.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t tm_state;

static float tm_uniform(void)
{
    uint64_t z = (tm_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)((double)(z >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

/* Write a parameter of the given shape filled with lo + (hi-lo)*U[0,1). */
static int tm_param(dq_h5 *f, const char *node, const char *name, int rank,
                    int64_t d0, int64_t d1, int64_t d2, int64_t d3, float lo,
                    float hi)
{
    dq_tensor *t = dq_tensor_alloc4(name, rank, d0, d1, d2, d3);
    if (!t) return dq_error_status();
    for (int64_t i = 0; i < t->size; i++)
        t->data[i] = lo + (hi - lo) * 0.5f * (tm_uniform() + 1.0f);
    char obj[256];
    snprintf(obj, sizeof obj, "/nodes/%s/%s", node, name);
    int rc = dq_h5_write_tensor(f, obj, t, 0);
    dq_tensor_free(t);
    return rc;
}

static int tm_node(dq_h5 *f, const char *name, int index, const char *op,
                   const char *inputs)
{
    char obj[256];
    snprintf(obj, sizeof obj, "/nodes/%s", name);
    DQ_TRY(dq_h5_mkgroup(f, obj));
    DQ_TRY(dq_h5_set_attr_int(f, obj, "index", index));
    DQ_TRY(dq_h5_set_attr_str(f, obj, "op", op));
    return dq_h5_set_attr_str(f, obj, "inputs", inputs);
}

static int tm_root(dq_h5 *f, const char *output, int64_t c, int64_t h,
                   int64_t w, int classes, const char *name)
{
    int64_t shp[3] = {c, h, w};
    DQ_TRY(dq_h5_set_attr_str(f, "/", "output", output));
    DQ_TRY(dq_h5_set_attr_ints(f, "/", "input_shape", shp, 3));
    DQ_TRY(dq_h5_set_attr_int(f, "/", "num_classes", classes));
    DQ_TRY(dq_h5_set_attr_double(f, "/", "norm_mean", 0.0));
    DQ_TRY(dq_h5_set_attr_double(f, "/", "norm_std", 1.0));
    return dq_h5_set_attr_str(f, "/", "model_name", name);
}

static int tiny_body(dq_h5 *f, int mu, int64_t hw)
{
    int64_t one[2] = {1, 1}, pad[2] = {1, 1};
    int64_t stride[2] = {mu == TINY_BAD_ATTR ? 0 : 1, 1};
    tm_state = 12345;
    DQ_TRY(tm_root(f, mu == TINY_BAD_OUTPUT ? "nosuch" : "fc", 1, hw, hw, 3,
                   "tiny"));
    DQ_TRY(tm_node(f, "x", 0, "input", ""));
    DQ_TRY(tm_node(f, "conv", 1, mu == TINY_UNKNOWN_OP ? "conv3d" : "conv2d",
                   "x"));
    DQ_TRY(dq_h5_set_attr_ints(f, "/nodes/conv", "stride", stride, 2));
    DQ_TRY(dq_h5_set_attr_ints(f, "/nodes/conv", "padding", pad, 2));
    DQ_TRY(dq_h5_set_attr_ints(f, "/nodes/conv", "dilation", one, 2));
    DQ_TRY(dq_h5_set_attr_int(f, "/nodes/conv", "groups", 1));
    DQ_TRY(tm_param(f, "conv", "weight", 4, 2, 1, 3, 3, -1, 1));
    DQ_TRY(tm_param(f, "conv", "bias", 1, mu == TINY_BIAS_SHAPE ? 3 : 2, 0,
                    0, 0, -0.5f, 0.5f));
    int64_t bc = mu == TINY_NO_FOLD_SHAPE ? 3 : 2;
    DQ_TRY(tm_node(f, "bn", 2, "batchnorm2d", "conv"));
    DQ_TRY(dq_h5_set_attr_double(f, "/nodes/bn", "eps", 1e-5));
    DQ_TRY(tm_param(f, "bn", "weight", 1, bc, 0, 0, 0, 0.5f, 1.5f));
    DQ_TRY(tm_param(f, "bn", "bias", 1, bc, 0, 0, 0, -0.5f, 0.5f));
    DQ_TRY(tm_param(f, "bn", "running_mean", 1, bc, 0, 0, 0, -0.5f, 0.5f));
    DQ_TRY(tm_param(f, "bn", "running_var", 1, bc, 0, 0, 0, 0.5f, 2.0f));
    DQ_TRY(tm_node(f, "relu", 3, "relu",
                   mu == TINY_CYCLE           ? "fc"
                   : mu == TINY_MISSING_INPUT ? "nosuch"
                                              : "bn"));
    if (mu == TINY_EXTRA_PARAM)
        DQ_TRY(tm_param(f, "relu", "weight", 1, 2, 0, 0, 0, 0, 1));
    DQ_TRY(tm_node(f, "flat", mu == TINY_DUP_INDEX ? 2 : 4, "flatten",
                   "relu"));
    DQ_TRY(dq_h5_set_attr_int(f, "/nodes/flat", "start_dim", 1));
    DQ_TRY(dq_h5_set_attr_int(f, "/nodes/flat", "end_dim", -1));
    DQ_TRY(tm_node(f, "fc", 5, "linear",
                   mu == TINY_INPUT_COUNT ? "flat,relu" : "flat"));
    if (mu != TINY_MISSING_PARAM)
        DQ_TRY(tm_param(f, "fc", "weight", 2, 3,
                        mu == TINY_FEATURES ? 30 : 2 * hw * hw, 0, 0, -0.5f,
                        0.5f));
    return tm_param(f, "fc", "bias", 1, 3, 0, 0, 0, -0.5f, 0.5f);
}

static int tiny_write_hw(const char *path, int mutation, int64_t hw)
{
    dq_h5 *f = dq_h5_create(path, "dnateq-model", 1);
    if (!f) return dq_error_status();
    int rc = tiny_body(f, mutation, hw);
    if (rc != DQ_OK) {
        dq_h5_abort(f);
        return rc;
    }
    return dq_h5_commit(f);
}

int tiny_write(const char *path, int mutation)
{
    return tiny_write_hw(path, mutation, 4);
}

int tiny28_write(const char *path)
{
    return tiny_write_hw(path, TINY_OK, 28);
}

static int residual_body(dq_h5 *f)
{
    int64_t one[2] = {1, 1}, zero[2] = {0, 0};
    DQ_TRY(tm_root(f, "f", 1, 2, 2, 4, "residual"));
    DQ_TRY(tm_node(f, "x", 0, "input", ""));
    DQ_TRY(tm_node(f, "c", 1, "conv2d", "x"));
    DQ_TRY(dq_h5_set_attr_ints(f, "/nodes/c", "stride", one, 2));
    DQ_TRY(dq_h5_set_attr_ints(f, "/nodes/c", "padding", zero, 2));
    DQ_TRY(dq_h5_set_attr_ints(f, "/nodes/c", "dilation", one, 2));
    DQ_TRY(dq_h5_set_attr_int(f, "/nodes/c", "groups", 1));
    DQ_TRY(tm_param(f, "c", "weight", 4, 1, 1, 1, 1, 2.0f, 2.0f));
    DQ_TRY(tm_param(f, "c", "bias", 1, 1, 0, 0, 0, 0.5f, 0.5f));
    DQ_TRY(tm_node(f, "a", 2, "add", "c,x"));
    DQ_TRY(tm_node(f, "f", 3, "flatten", "a"));
    DQ_TRY(dq_h5_set_attr_int(f, "/nodes/f", "start_dim", 1));
    return dq_h5_set_attr_int(f, "/nodes/f", "end_dim", -1);
}

int residual_write(const char *path)
{
    dq_h5 *f = dq_h5_create(path, "dnateq-model", 1);
    if (!f) return dq_error_status();
    int rc = residual_body(f);
    if (rc != DQ_OK) {
        dq_h5_abort(f);
        return rc;
    }
    return dq_h5_commit(f);
}
