/*
 * test_graph.c — loading and validating model files (src/graph.c).
 *
 * Every broken file must fail to load with a message naming the file, the
 * node and the problem; the valid tiny model must load, fold its
 * BatchNorm exactly, and infer shapes at any batch size.  The models are
 * written with h5io (tests/testmodels.c), so no PyTorch is needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine.h"
#include "error.h"
#include "graph.h"
#include "testmodels.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = dq_test_mkdtemp("graph");
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int rc = dq_test_rmtree(dir);
    free(dir);
    return rc;
}

static void path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

/* Loading `path` fails and the message contains every string of want. */
static void expect_load_error(const char *path, const char *const *want)
{
    dq_error_clear();
    dq_model *m = dq_model_load(path);
    if (m) {
        dq_model_free(m);
        fail_msg("%s loaded, but should have failed", path);
    }
    const char *msg = dq_error_message();
    printf("  expected error: %s\n", msg);
    assert_non_null(strstr(msg, path));
    for (int i = 0; want[i]; i++)
        if (!strstr(msg, want[i]))
            fail_msg("message '%s' lacks '%s'", msg, want[i]);
}

static void test_valid_tiny(void **state)
{
    (void)state;
    char p[512];
    path_of(p, sizeof p, "tiny.h5");
    assert_int_equal(tiny_write(p, TINY_OK), DQ_OK);
    dq_model *m = dq_model_load_flags(p, DQ_MODEL_NO_FOLD);
    assert_non_null(m);
    assert_int_equal(m->n_nodes, 6);
    assert_int_equal(m->n_folded, 0);
    assert_int_equal(m->num_classes, 3);
    assert_string_equal(m->name, "tiny");
    assert_int_equal(m->output, 5);
    assert_int_equal(dq_model_find(m, "relu"), 3);
    assert_int_equal(dq_model_find(m, "nosuch"), -1);
    assert_int_equal(m->nodes[5].inputs[0], 4);
    assert_int_equal(m->nodes[1].n_consumers, 1);
    dq_shape s[6];
    assert_int_equal(dq_model_shapes(m, 7, s), DQ_OK);
    assert_int_equal(s[4].rank, 2);
    assert_int_equal(s[4].d[0], 7);
    assert_int_equal(s[4].d[1], 32);
    assert_int_equal(s[1].rank, 4);
    assert_int_equal(s[1].d[1], 2);
    assert_int_equal(s[1].d[2], 4);
    assert_int_equal(s[5].d[1], 3);
    assert_int_equal(dq_node_quant_inputs(&m->nodes[1]), 1);
    assert_int_equal(dq_node_quant_inputs(&m->nodes[2]), 0);
    assert_true(dq_node_has_quant_weight(&m->nodes[5]));
    dq_model_free(m);
}

/* Folded and unfolded models compute the same logits; the folded graph
 * lost the bn node and its consumers read the conv. */
static void test_batchnorm_fold(void **state)
{
    (void)state;
    char p[512];
    path_of(p, sizeof p, "tiny.h5");
    assert_int_equal(tiny_write(p, TINY_OK), DQ_OK);
    dq_model *a = dq_model_load_flags(p, DQ_MODEL_NO_FOLD);
    dq_model *b = dq_model_load(p);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(b->n_folded, 1);
    assert_int_equal(b->n_nodes, 5);
    assert_string_equal(b->nodes[1].folded, "bn");
    assert_string_equal(b->nodes[2].name, "relu");
    assert_int_equal(b->nodes[2].inputs[0], 1);
    assert_int_equal(b->output, 4);
    for (int i = 0; i < b->n_nodes; i++) assert_int_equal(b->nodes[i].index, i);
    assert_int_equal(dq_model_find(b, "bn"), -1);

    enum { B = 3 };
    float x[B * 16], la[B * 3], lb[B * 3];
    for (int i = 0; i < B * 16; i++) x[i] = (float)sin(0.7 * i);
    dq_engine *ea = dq_engine_alloc(a), *eb = dq_engine_alloc(b);
    assert_non_null(ea);
    assert_non_null(eb);
    assert_int_equal(dq_engine_forward(ea, x, B, la), DQ_OK);
    assert_int_equal(dq_engine_forward(eb, x, B, lb), DQ_OK);
    for (int i = 0; i < B * 3; i++) assert_true(fabsf(la[i] - lb[i]) < 1e-5f);
    /* not all zero: the check above is not vacuous */
    float s = 0;
    for (int i = 0; i < B * 3; i++) s += fabsf(la[i]);
    assert_true(s > 0.1f);
    dq_engine_free(ea);
    dq_engine_free(eb);
    dq_model_free(a);
    dq_model_free(b);
}

static void test_bad_models(void **state)
{
    (void)state;
    static const struct {
        int mu;
        const char *want[4];
    } cases[] = {
        {TINY_UNKNOWN_OP, {"node 'conv'", "unknown op 'conv3d'", NULL}},
        {TINY_MISSING_PARAM, {"node 'fc'", "missing parameter 'weight'",
                              NULL}},
        {TINY_BIAS_SHAPE, {"node 'conv'", "bias has shape (3)",
                           "expected (2)", NULL}},
        {TINY_FEATURES, {"node 'fc'", "(3, 30)", "32", NULL}},
        {TINY_CYCLE, {"node 'relu'", "input 'fc'", "cycle", NULL}},
        {TINY_MISSING_INPUT, {"node 'relu'", "missing input 'nosuch'", NULL}},
        {TINY_EXTRA_PARAM, {"node 'relu'", "unexpected member 'weight'",
                            NULL}},
        {TINY_BAD_ATTR, {"node 'conv'", "stride", NULL}},
        {TINY_DUP_INDEX, {"'bn'", "'flat'", "same index 2", NULL}},
        {TINY_BAD_OUTPUT, {"output 'nosuch' is not a node", NULL}},
        {TINY_INPUT_COUNT, {"node 'fc'", "has 2 inputs, expected 1", NULL}},
        {TINY_NO_FOLD_SHAPE, {"node 'bn'", "3 channels", NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char p[512], name[64];
        snprintf(name, sizeof name, "bad%d.h5", cases[i].mu);
        path_of(p, sizeof p, name);
        assert_int_equal(tiny_write(p, cases[i].mu), DQ_OK);
        expect_load_error(p, cases[i].want);
    }
}

static void test_corrupt_files(void **state)
{
    (void)state;
    char good[512], p[512];
    path_of(good, sizeof good, "good.h5");
    assert_int_equal(tiny_write(good, TINY_OK), DQ_OK);

    /* truncated copy of a valid file */
    FILE *in = fopen(good, "rb");
    assert_non_null(in);
    static unsigned char bytes[1 << 20];
    size_t n = fread(bytes, 1, sizeof bytes, in);
    fclose(in);
    assert_true(n > 1000 && n < sizeof bytes);
    path_of(p, sizeof p, "truncated.h5");
    FILE *out = fopen(p, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(bytes, 1, n / 2, out), n / 2);
    fclose(out);
    const char *w1[] = {NULL};
    expect_load_error(p, w1);

    /* valid signature, garbage after the superblock region */
    for (size_t i = 512; i < n; i++) bytes[i] = (unsigned char)(i * 131u);
    path_of(p, sizeof p, "garbled.h5");
    out = fopen(p, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(bytes, 1, n, out), n);
    fclose(out);
    expect_load_error(p, w1);

    /* not HDF5 at all */
    path_of(p, sizeof p, "text.h5");
    out = fopen(p, "w");
    assert_non_null(out);
    fputs("this is not a model\n", out);
    fclose(out);
    const char *w2[] = {"not an HDF5 file", NULL};
    expect_load_error(p, w2);

    /* missing file */
    path_of(p, sizeof p, "nosuch.h5");
    const char *w3[] = {"cannot open", NULL};
    expect_load_error(p, w3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_tiny),
        cmocka_unit_test(test_batchnorm_fold),
        cmocka_unit_test(test_bad_models),
        cmocka_unit_test(test_corrupt_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
