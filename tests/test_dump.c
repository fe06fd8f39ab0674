/*
 * test_dump.c — dnateq-dump writes the tensor schema of the README, and a
 * dump is the same bytes for a fixed seed at 1 and at 2 threads.
 *
 * Runs the sanitizer build build/san/bin/dnateq-dump on the tiny model of
 * tests/testmodels.c for 28x28 inputs (x -> conv -> bn -> relu -> flat ->
 * fc, BatchNorm folded into conv) over 300 calib images with max_samples
 * = 1000, so both activations (conv: 784 values per image, fc: 1568) are
 * really subsampled.  Then compares every tensor and attribute of the two files,
 * checks exact counts and ranges, and that another seed samples
 * differently (so the comparison can fail).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "graph.h"
#include "h5io.h"
#include "testmodels.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUMP_BIN "build/san/bin/dnateq-dump"

static char *tmpdir;

static int setup(void **state)
{
    (void)state;
    tmpdir = dq_test_mkdtemp("dump");
    return tmpdir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int rc = dq_test_rmtree(tmpdir);
    free(tmpdir);
    return rc;
}

/* Run the dump of model into tmpdir/sub/tiny.h5. */
static void run_dump(const char *model, const char *sub, int threads,
                     int seed)
{
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd,
             DUMP_BIN " --model '%s' --threads %d --seed %d -q "
             "--set run.calib_size=300 --set run.batch=64 "
             "--set dump.max_samples=1000 --set dump.dir='%s/%s'",
             model, threads, seed, tmpdir, sub);
    int rc = dq_test_run(cmd, &out);
    printf("%s", out ? out : "");
    if (rc != 0) fail_msg("'%s' exited with %d", cmd, rc);
    free(out);
}

static dq_h5 *open_dump(const char *sub)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s/tiny.h5", tmpdir, sub);
    dq_h5 *f = dq_h5_open(p, "dnateq-tensors", 1);
    if (!f) fail_msg("%s", dq_error_message());
    return f;
}

/* 1 when tensor obj holds the same bytes in a and b. */
static int same_tensor(dq_h5 *a, dq_h5 *b, const char *obj)
{
    dq_tensor *x = NULL, *y = NULL;
    assert_int_equal(dq_h5_read_tensor(a, obj, &x), DQ_OK);
    assert_int_equal(dq_h5_read_tensor(b, obj, &y), DQ_OK);
    int same = dq_shape_equal(x->rank, x->shape, y->rank, y->shape) &&
               memcmp(x->data, y->data, (size_t)x->size * sizeof(float)) == 0;
    dq_tensor_free(x);
    dq_tensor_free(y);
    return same;
}

static void test_dump_deterministic(void **state)
{
    (void)state;
    char model[1024];
    snprintf(model, sizeof model, "%s/tiny.h5", tmpdir);
    assert_int_equal(tiny28_write(model), DQ_OK);
    run_dump(model, "t1", 1, 5);
    run_dump(model, "t2", 2, 5);
    run_dump(model, "s6", 2, 6);

    dq_h5 *a = open_dump("t1"), *b = open_dump("t2"), *c = open_dump("s6");
    char **names = NULL, **names2 = NULL;
    int n = 0, n2 = 0;
    assert_int_equal(dq_h5_list(a, "/tensors", &names, &n), DQ_OK);
    assert_int_equal(dq_h5_list(b, "/tensors", &names2, &n2), DQ_OK);
    /* sorted: conv.input0, conv.weight, fc.input0, fc.weight */
    assert_int_equal(n, 4);
    assert_int_equal(n2, 4);
    assert_string_equal(names[0], "conv.input0");
    assert_string_equal(names[1], "conv.weight");
    assert_string_equal(names[2], "fc.input0");
    assert_string_equal(names[3], "fc.weight");
    for (int i = 0; i < n; i++) {
        assert_string_equal(names[i], names2[i]);
        char obj[256];
        snprintf(obj, sizeof obj, "/tensors/%s", names[i]);
        assert_true(same_tensor(a, b, obj));
        char *kind = NULL, *layer = NULL;
        assert_int_equal(dq_h5_get_attr_str(a, obj, "kind", &kind), DQ_OK);
        assert_int_equal(dq_h5_get_attr_str(a, obj, "layer", &layer), DQ_OK);
        assert_int_equal(strncmp(names[i], layer, strlen(layer)), 0);
        if (strstr(names[i], ".weight")) {
            assert_string_equal(kind, "weight");
            assert_true(same_tensor(a, c, obj)); /* weights: no sampling */
        } else {
            assert_string_equal(kind, "activation");
            int64_t count[2], sampled[2], idx;
            double mn[2], mx[2], zf[2];
            dq_h5 *fs[2] = {a, b};
            for (int k = 0; k < 2; k++) {
                assert_int_equal(dq_h5_get_attr_int(fs[k], obj, "count",
                                                    &count[k]), DQ_OK);
                assert_int_equal(dq_h5_get_attr_int(fs[k], obj, "sampled",
                                                    &sampled[k]), DQ_OK);
                assert_int_equal(dq_h5_get_attr_double(fs[k], obj, "min",
                                                       &mn[k]), DQ_OK);
                assert_int_equal(dq_h5_get_attr_double(fs[k], obj, "max",
                                                       &mx[k]), DQ_OK);
                assert_int_equal(dq_h5_get_attr_double(fs[k], obj,
                                                       "zero_frac", &zf[k]),
                                 DQ_OK);
            }
            assert_int_equal(dq_h5_get_attr_int(a, obj, "input_index", &idx),
                             DQ_OK);
            assert_int_equal(idx, 0);
            assert_int_equal(count[0], count[1]);
            assert_int_equal(sampled[0], 1000);
            assert_int_equal(sampled[1], 1000);
            assert_true(mn[0] == mn[1] && mx[0] == mx[1] && zf[0] == zf[1]);
            /* conv sees 784 values per image, fc 1568 (after relu) */
            int conv = strncmp(names[i], "conv", 4) == 0;
            assert_int_equal(count[0], 300 * (conv ? 784 : 1568));
            assert_true(mn[0] < mx[0]);
            if (conv) assert_true(zf[0] == 0.0);
            else assert_true(zf[0] > 0.0 && mn[0] == 0.0);
            /* another seed: another sample of the same values */
            assert_false(same_tensor(a, c, obj));
            dq_tensor *t = NULL;
            assert_int_equal(dq_h5_read_tensor(a, obj, &t), DQ_OK);
            for (int64_t j = 0; j < t->size; j++)
                assert_true(t->data[j] >= mn[0] && t->data[j] <= mx[0]);
            dq_tensor_free(t);
        }
        free(kind);
        free(layer);
    }
    /* the conv weight is the folded one (not the file's raw weight) */
    dq_model *m = dq_model_load(model);
    assert_non_null(m);
    dq_tensor *w = NULL;
    assert_int_equal(dq_h5_read_tensor(a, "/tensors/conv.weight", &w), DQ_OK);
    assert_memory_equal(w->data, m->nodes[1].weight->data,
                        (size_t)w->size * sizeof(float));
    dq_tensor_free(w);
    dq_model_free(m);

    int64_t seed = 0, images = 0;
    assert_int_equal(dq_h5_get_attr_int(a, "/", "seed", &seed), DQ_OK);
    assert_int_equal(dq_h5_get_attr_int(a, "/", "images", &images), DQ_OK);
    assert_int_equal(seed, 5);
    assert_int_equal(images, 300);
    dq_h5_list_free(names, n);
    dq_h5_list_free(names2, n2);
    dq_h5_close(a);
    dq_h5_close(b);
    dq_h5_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_deterministic),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
