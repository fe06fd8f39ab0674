/*
 * test_exporter.c — data/zoo/export.py and the C engine agree.
 *
 * Runs tests/export_testnet.py, which builds a random test-only PyTorch
 * model using every supported op (grouped and depthwise conv, BatchNorm,
 * avg/max/adaptive pooling, permute, cat, mean, slicing, expand, GELU,
 * LayerNorm, matmul, softmax, ...), exports it with export.py together
 * with 5 inputs and PyTorch's outputs, and checks that an unsupported op is
 * rejected.  Here the C engine loads the file and must reproduce PyTorch's
 * outputs to 1e-4 absolute, batched and one image at a time, with the same
 * bytes at 1 and 2 threads.
 *
 * Needs /usr/bin/python3 with torch; without it the test says so and is
 * skipped (CI installs python3-torch, so CI always runs it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine.h"
#include "error.h"
#include "graph.h"
#include "h5io.h"
#include "testutil.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;

static int teardown(void **state)
{
    (void)state;
    int rc = dir ? dq_test_rmtree(dir) : 0;
    free(dir);
    return rc;
}

static int have_torch(void)
{
    return system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

static double max_abs_diff(const float *a, const float *b, int64_t n)
{
    double d = 0;
    for (int64_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static void test_export_testnet(void **state)
{
    (void)state;
    if (!have_torch()) {
        printf("SKIPPED: /usr/bin/python3 cannot import torch, so the "
               "exporter coverage test does not run (bash .ci/deps.sh "
               "torch installs it)\n");
        skip();
    }
    dir = dq_test_mkdtemp("exporter");
    assert_non_null(dir);
    char cmd[1024], path[600];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/export_testnet.py '%s'",
             dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/testnet.h5", dir);

    dq_model *m = dq_model_load(path);
    if (!m) fail_msg("%s", dq_error_message());
    /* bn1 follows conv1 alone and is folded; bn2's conv also feeds a mul */
    assert_int_equal(m->n_folded, 1);
    assert_int_not_equal(dq_model_find(m, "bn2"), -1);
    assert_int_equal(dq_model_find(m, "bn1"), -1);

    /* coverage: the exported graph really uses these ops */
    static const dq_op want[] = {
        DQ_OP_CONSTANT, DQ_OP_CONV2D, DQ_OP_LINEAR, DQ_OP_BATCHNORM2D,
        DQ_OP_LAYERNORM, DQ_OP_RELU, DQ_OP_GELU, DQ_OP_MAXPOOL2D,
        DQ_OP_AVGPOOL2D, DQ_OP_ADAPTIVE_AVGPOOL2D, DQ_OP_FLATTEN, DQ_OP_ADD,
        DQ_OP_MUL, DQ_OP_MATMUL, DQ_OP_SOFTMAX, DQ_OP_RESHAPE, DQ_OP_PERMUTE,
        DQ_OP_CAT, DQ_OP_SLICE, DQ_OP_MEAN, DQ_OP_EXPAND};
    int grouped = 0;
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        int found = 0;
        for (int i = 0; i < m->n_nodes; i++) found |= m->nodes[i].op == want[k];
        if (!found) fail_msg("exported testnet has no %s node",
                             dq_op_name(want[k]));
    }
    for (int i = 0; i < m->n_nodes; i++)
        grouped += m->nodes[i].op == DQ_OP_CONV2D && m->nodes[i].groups > 1;
    assert_int_equal(grouped, 2);

    dq_h5 *f = dq_h5_open(path, "dnateq-model", 1);
    assert_non_null(f);
    dq_tensor *x = NULL, *y = NULL;
    assert_int_equal(dq_h5_read_tensor(f, "/reference/input", &x), DQ_OK);
    assert_int_equal(dq_h5_read_tensor(f, "/reference/output", &y), DQ_OK);
    dq_h5_close(f);
    int B = (int)x->shape[0];
    assert_int_equal(B, 5);
    assert_int_equal(y->size, (int64_t)B * m->num_classes);

    dq_engine *e = dq_engine_alloc(m);
    assert_non_null(e);
    float *out = malloc((size_t)y->size * sizeof(float));
    float *out1 = malloc((size_t)y->size * sizeof(float));
    assert_non_null(out);
    assert_non_null(out1);

    /* batched, at 2 threads and at 1 thread: same bytes */
    omp_set_num_threads(2);
    if (dq_engine_forward(e, x->data, B, out) != DQ_OK)
        fail_msg("%s", dq_error_message());
    double d = max_abs_diff(out, y->data, y->size);
    printf("testnet: C vs PyTorch max |diff| = %.3g (batch %d)\n", d, B);
    assert_true(d <= 1e-4);
    omp_set_num_threads(1);
    assert_int_equal(dq_engine_forward(e, x->data, B, out1), DQ_OK);
    assert_memory_equal(out, out1, (size_t)y->size * sizeof(float));
    omp_set_num_threads(2);

    /* one image at a time (batch-dependent reshape/expand sizes) */
    int64_t per = m->input_size;
    for (int b = 0; b < B; b++)
        assert_int_equal(dq_engine_forward(e, x->data + b * per, 1,
                                           out1 + b * m->num_classes),
                         DQ_OK);
    d = max_abs_diff(out1, y->data, y->size);
    printf("testnet: C vs PyTorch max |diff| = %.3g (batch 1)\n", d);
    assert_true(d <= 1e-4);

    /* unfolded graph agrees as well */
    dq_model *mu = dq_model_load_flags(path, DQ_MODEL_NO_FOLD);
    assert_non_null(mu);
    assert_int_equal(mu->n_nodes, m->n_nodes + 1);
    dq_engine *eu = dq_engine_alloc(mu);
    assert_non_null(eu);
    assert_int_equal(dq_engine_forward(eu, x->data, B, out1), DQ_OK);
    assert_true(max_abs_diff(out1, y->data, y->size) <= 1e-4);
    dq_engine_free(eu);
    dq_model_free(mu);

    free(out);
    free(out1);
    dq_tensor_free(x);
    dq_tensor_free(y);
    dq_engine_free(e);
    dq_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_testnet),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
