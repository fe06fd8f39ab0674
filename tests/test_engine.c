/*
 * test_engine.c — the C inference engine (src/engine.c) computes what
 * PyTorch computes, and its quantization hooks behave as engine.h says.
 *
 * Zoo agreement (one test per model; skipped, saying so, while
 * data/zoo/<name>.h5 does not exist): on the first 256 test images the
 * logits match PyTorch's stored /reference/logits to 1e-3 absolute; on the
 * full 10,000-image test split the top-1 count differs from PyTorch's
 * recorded count by at most 2, and every image whose prediction differs
 * has a PyTorch top-2 margin below 1e-3.  The same at 1 thread as at 2.
 *
 * Hooks (on the tiny models of tests/testmodels.c): capture order and
 * contents, weight transforms from pristine copies, private activation
 * copies, failing hooks, prefix caching with dq_engine_forward_from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dataset.h"
#include "engine.h"
#include "error.h"
#include "graph.h"
#include "h5io.h"
#include "testmodels.h"
#include "testutil.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *tmpdir;

static int setup(void **state)
{
    (void)state;
    tmpdir = dq_test_mkdtemp("engine");
    return tmpdir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int rc = dq_test_rmtree(tmpdir);
    free(tmpdir);
    dq_dataset_cache_clear();
    return rc;
}

/* ---- hooks and prefix caching on the tiny models (no zoo needed) ------- */

static void tiny_input(float *x, int B, int64_t per)
{
    for (int64_t i = 0; i < B * per; i++) x[i] = (float)cos(0.37 * (double)i);
}

typedef struct {
    int calls;
    char names[8][DQ_NAME_MAX];
    int inputs[8];
    float first[8];
    int64_t sizes[8];
} capture_log;

static int capture_fn(void *ctx, const dq_node *node, int input,
                      const dq_tensor *x)
{
    capture_log *c = ctx;
    if (c->calls < 8) {
        snprintf(c->names[c->calls], DQ_NAME_MAX, "%s", node->name);
        c->inputs[c->calls] = input;
        c->first[c->calls] = x->data[0];
        c->sizes[c->calls] = x->size;
    }
    c->calls++;
    return DQ_OK;
}

static int scale_weight(void *ctx, const dq_node *node, dq_tensor *w)
{
    (void)node;
    float s = *(const float *)ctx;
    for (int64_t i = 0; i < w->size; i++) w->data[i] *= s;
    return DQ_OK;
}

static int scale_fc_weight(void *ctx, const dq_node *node, dq_tensor *w)
{
    return strcmp(node->name, "fc") == 0 ? scale_weight(ctx, node, w) : DQ_OK;
}

static int zero_fc_weight(void *ctx, const dq_node *node, dq_tensor *w)
{
    (void)ctx;
    if (strcmp(node->name, "fc") == 0) memset(w->data, 0, w->size * 4);
    return DQ_OK;
}

static int zero_act(void *ctx, const dq_node *node, int input, dq_tensor *x)
{
    (void)node;
    (void)input;
    ++*(int *)ctx;
    memset(x->data, 0, (size_t)x->size * sizeof(float));
    return DQ_OK;
}

static int failing_act(void *ctx, const dq_node *node, int input, dq_tensor *x)
{
    (void)ctx;
    (void)input;
    (void)x;
    return DQ_ERROR(DQ_EINVAL, "hook refused node '%s'", node->name);
}

static dq_model *load_tiny(const char *name, int residual)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    assert_int_equal(residual ? residual_write(p) : tiny_write(p, TINY_OK),
                     DQ_OK);
    dq_model *m = dq_model_load(p);
    if (!m) fail_msg("%s", dq_error_message());
    return m;
}

static void test_capture_and_weight_hooks(void **state)
{
    (void)state;
    dq_model *m = load_tiny("tiny.h5", 0);
    dq_engine *e = dq_engine_alloc(m);
    assert_non_null(e);
    enum { B = 4 };
    float x[B * 16], ref[B * 3], out[B * 3];
    tiny_input(x, B, 16);
    assert_int_equal(dq_engine_forward(e, x, B, ref), DQ_OK);

    /* (c) capture: conv's and fc's inputs, in node order, whole batch */
    capture_log c;
    memset(&c, 0, sizeof c);
    dq_engine_set_capture(e, capture_fn, &c);
    assert_int_equal(dq_engine_forward(e, x, B, out), DQ_OK);
    assert_memory_equal(out, ref, sizeof ref);
    assert_int_equal(c.calls, 2);
    assert_string_equal(c.names[0], "conv");
    assert_string_equal(c.names[1], "fc");
    assert_int_equal(c.inputs[0], 0);
    assert_int_equal(c.sizes[0], B * 16);
    assert_int_equal(c.sizes[1], B * 32);
    assert_true(c.first[0] == x[0]);
    dq_engine_set_capture(e, NULL, NULL);

    /* (a) weights: zero fc -> logits are fc's bias; transforms start from
     * the pristine weights each time; reset restores the exact output */
    assert_int_equal(dq_engine_transform_weights(e, zero_fc_weight, NULL),
                     DQ_OK);
    assert_int_equal(dq_engine_forward(e, x, B, out), DQ_OK);
    const dq_node *fc = &m->nodes[dq_model_find(m, "fc")];
    for (int b = 0; b < B; b++)
        for (int k = 0; k < 3; k++)
            assert_true(out[b * 3 + k] == fc->bias->data[k]);
    float two = 2.0f;
    float once[B * 3];
    assert_int_equal(dq_engine_transform_weights(e, scale_weight, &two),
                     DQ_OK);
    assert_int_equal(dq_engine_forward(e, x, B, once), DQ_OK);
    assert_int_equal(dq_engine_transform_weights(e, scale_weight, &two),
                     DQ_OK);
    assert_int_equal(dq_engine_forward(e, x, B, out), DQ_OK);
    assert_memory_equal(out, once, sizeof once); /* 2x, not 4x */
    assert_true(memcmp(once, ref, sizeof ref) != 0);
    assert_true(dq_engine_weight(e, fc->index)->data[0] ==
                2.0f * fc->weight->data[0]);
    dq_engine_reset_weights(e);
    assert_true(dq_engine_weight(e, fc->index) == fc->weight);
    assert_int_equal(dq_engine_forward(e, x, B, out), DQ_OK);
    assert_memory_equal(out, ref, sizeof ref);

    /* a failing hook aborts the forward with its message */
    dq_engine_set_act_transform(e, failing_act, NULL);
    assert_int_equal(dq_engine_forward(e, x, B, out), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "hook refused node 'conv'"));
    dq_engine_set_act_transform(e, NULL, NULL);
    assert_int_equal(dq_engine_forward(e, x, B, out), DQ_OK);
    assert_memory_equal(out, ref, sizeof ref);

    dq_engine_free(e);
    dq_model_free(m);
}

/* (b) an activation transform sees a private copy: zeroing the conv's
 * input must not change the x that the residual add reads. */
static void test_act_transform_private(void **state)
{
    (void)state;
    dq_model *m = load_tiny("residual.h5", 1);
    dq_engine *e = dq_engine_alloc(m);
    assert_non_null(e);
    enum { B = 3 };
    float x[B * 4], out[B * 4];
    tiny_input(x, B, 4);
    assert_int_equal(dq_engine_forward(e, x, B, out), DQ_OK);
    for (int i = 0; i < B * 4; i++)
        assert_true(fabsf(out[i] - (3.0f * x[i] + 0.5f)) < 1e-6f);
    int calls = 0;
    dq_engine_set_act_transform(e, zero_act, &calls);
    assert_int_equal(dq_engine_forward(e, x, B, out), DQ_OK);
    assert_int_equal(calls, 1);
    for (int i = 0; i < B * 4; i++)
        assert_true(fabsf(out[i] - (x[i] + 0.5f)) < 1e-6f);
    dq_engine_free(e);
    dq_model_free(m);
}

/* Prefix caching: re-running from any node on kept values gives the same
 * logits; after a weight change at node k, forward_from(k) equals a full
 * forward with that change. */
static void test_forward_from(void **state)
{
    (void)state;
    dq_model *m = load_tiny("tiny.h5", 0);
    dq_engine *e = dq_engine_alloc(m);
    assert_non_null(e);
    enum { B = 2 };
    float x[B * 16], ref[B * 3], out[B * 3];
    tiny_input(x, B, 16);
    assert_int_equal(dq_engine_forward_from(e, 1, out), DQ_EINVAL);
    dq_engine_keep_values(e, 1);
    assert_int_equal(dq_engine_forward(e, x, B, ref), DQ_OK);
    for (int i = 0; i < m->n_nodes; i++)
        assert_non_null(dq_engine_value(e, i));
    assert_int_equal(dq_engine_value(e, 0)->shape[0], B);
    for (int k = 1; k < m->n_nodes; k++) {
        memset(out, 0, sizeof out);
        assert_int_equal(dq_engine_forward_from(e, k, out), DQ_OK);
        assert_memory_equal(out, ref, sizeof ref);
    }
    /* scale every weight, re-run from fc only: conv's cached output is
     * unscaled, so this equals a full run where only fc is scaled */
    int fc = dq_model_find(m, "fc");
    float half = 0.5f, full[B * 3];
    assert_int_equal(dq_engine_transform_weights(e, scale_weight, &half),
                     DQ_OK);
    assert_int_equal(dq_engine_forward_from(e, fc, out), DQ_OK);
    dq_engine *e2 = dq_engine_alloc(m);
    assert_non_null(e2);
    assert_int_equal(dq_engine_transform_weights(e2, scale_fc_weight, &half),
                     DQ_OK);
    assert_int_equal(dq_engine_forward(e2, x, B, full), DQ_OK);
    dq_engine_free(e2);
    assert_memory_equal(out, full, sizeof out);
    assert_true(memcmp(out, ref, sizeof ref) != 0);
    dq_engine_reset_weights(e);
    assert_int_equal(dq_engine_forward(e, x, B, full), DQ_OK);
    assert_memory_equal(full, ref, sizeof ref);
    assert_int_equal(dq_engine_forward_from(e, 0, out), DQ_EINVAL);
    dq_engine_keep_values(e, 0);
    assert_null(dq_engine_value(e, 1));
    assert_int_equal(dq_engine_forward_from(e, 1, out), DQ_EINVAL);
    dq_engine_free(e);
    dq_model_free(m);
}

/* ---- zoo models against PyTorch ----------------------------------------- */

static void test_zoo_model(void **state)
{
    const char *name = *state;
    char path[256];
    snprintf(path, sizeof path, "data/zoo/%s.h5", name);
    if (access(path, R_OK) != 0) {
        printf("SKIPPED: %s does not exist yet (make zoo exports it)\n",
               path);
        skip();
    }
    dq_model *m = dq_model_load(path);
    if (!m) fail_msg("%s", dq_error_message());
    assert_true(m->has_accuracy);
    dq_dataset *ds = dq_dataset_load(NULL, "test", 1, 1);
    if (!ds) fail_msg("%s", dq_error_message());
    assert_int_equal(ds->n, 10000);
    /* the exporter normalised with the same train-split statistics */
    assert_true(fabs(m->norm_mean - ds->mean) < 1e-9);
    assert_true(fabs(m->norm_std - ds->std) < 1e-9);

    dq_h5 *f = dq_h5_open(path, "dnateq-model", 1);
    assert_non_null(f);
    dq_tensor *ref = NULL, *margin = NULL;
    int64_t *tpred = NULL, npred = 0;
    assert_int_equal(dq_h5_read_tensor(f, "/reference/logits", &ref), DQ_OK);
    assert_int_equal(dq_h5_read_tensor(f, "/reference/test_margin", &margin),
                     DQ_OK);
    assert_int_equal(dq_h5_read_ints(f, "/reference/test_pred", &tpred,
                                     &npred),
                     DQ_OK);
    dq_h5_close(f);
    assert_int_equal(ref->rank, 2);
    assert_int_equal(ref->shape[0], 256);
    assert_int_equal(ref->shape[1], m->num_classes);
    assert_int_equal(npred, ds->n);
    assert_int_equal(margin->size, ds->n);

    /* logits of the first 256 test images, at 2 and at 1 thread */
    dq_engine *e = dq_engine_alloc(m);
    assert_non_null(e);
    float *lg = malloc((size_t)ref->size * sizeof(float));
    float *lg1 = malloc((size_t)ref->size * sizeof(float));
    assert_non_null(lg);
    assert_non_null(lg1);
    omp_set_num_threads(2);
    if (dq_engine_forward(e, ds->images->data, 256, lg) != DQ_OK)
        fail_msg("%s", dq_error_message());
    double d = 0;
    for (int64_t i = 0; i < ref->size; i++)
        d = fmax(d, fabs((double)lg[i] - ref->data[i]));
    omp_set_num_threads(1);
    assert_int_equal(dq_engine_forward(e, ds->images->data, 256, lg1), DQ_OK);
    omp_set_num_threads(2);
    assert_memory_equal(lg, lg1, (size_t)ref->size * sizeof(float));

    /* top-1 over the whole test split */
    int64_t correct = 0, *pred = malloc((size_t)ds->n * sizeof *pred);
    assert_non_null(pred);
    if (dq_engine_evaluate(e, ds, 256, &correct, pred, 0, NULL) != DQ_OK)
        fail_msg("%s", dq_error_message());
    int ndiff = 0;
    double worst = 0;
    for (int64_t i = 0; i < ds->n; i++)
        if (pred[i] != tpred[i]) {
            ndiff++;
            worst = fmax(worst, margin->data[i]);
            printf("  %s: test image %lld: C predicts %lld, PyTorch %lld "
                   "(PyTorch margin %.3g)\n", name, (long long)i,
                   (long long)pred[i], (long long)tpred[i],
                   (double)margin->data[i]);
        }
    printf("%s: max |logit diff| %.3g on 256 images; test top-1 C %lld, "
           "PyTorch %lld (diff %+lld); %d predictions differ\n", name, d,
           (long long)correct, (long long)m->test_correct,
           (long long)(correct - m->test_correct), ndiff);
    assert_true(d <= 1e-3);
    assert_true(llabs(correct - m->test_correct) <= 2);
    if (ndiff) assert_true(worst < 1e-3);

    free(pred);
    free(lg);
    free(lg1);
    free(tpred);
    dq_tensor_free(ref);
    dq_tensor_free(margin);
    dq_engine_free(e);
    dq_dataset_free(ds);
    dq_model_free(m);
}

int main(void)
{
    static const char *zoo[] = {"mlp", "alexnet", "resnet20", "vit"};
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_and_weight_hooks),
        cmocka_unit_test(test_act_transform_private),
        cmocka_unit_test(test_forward_from),
        {"zoo_mlp", test_zoo_model, NULL, NULL, (void *)zoo[0]},
        {"zoo_alexnet", test_zoo_model, NULL, NULL, (void *)zoo[1]},
        {"zoo_resnet20", test_zoo_model, NULL, NULL, (void *)zoo[2]},
        {"zoo_vit", test_zoo_model, NULL, NULL, (void *)zoo[3]},
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
