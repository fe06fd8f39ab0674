/*
 * test_inspect.c — the dnateq-inspect driver end to end (the sanitizer
 * build in build/san/bin, run from the repository root): a written tensor
 * file, graph nodes, the dataset's per-split class counts, --help, and
 * "dnateq: FILE: problem" with a non-zero exit for bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "h5io.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INSPECT "build/san/bin/dnateq-inspect"

typedef struct {
    char *dir, *h5;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    fx->dir = dq_test_mkdtemp("inspect");
    fx->h5 = fx->dir ? dq_test_path(fx->dir, "t.h5") : NULL;
    *state = fx;
    return fx->h5 ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    int rc = dq_test_rmtree(fx->dir);
    free(fx->h5);
    free(fx->dir);
    free(fx);
    return rc;
}

static int run(const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s", INSPECT, args);
    return dq_test_run(cmd, out);
}

static void expect_in(const char *out, const char *want)
{
    if (!strstr(out, want)) print_error("missing: %s\noutput:\n%s\n", want, out);
    assert_non_null(strstr(out, want));
}

/* A small tensors file: one weight with known statistics, one node. */
static void write_file(const char *path)
{
    dq_h5 *f = dq_h5_create(path, "dnateq-tensors", 1);
    assert_non_null(f);
    dq_tensor *w = dq_tensor_alloc4("w", 2, 2, 3, 0, 0);
    const float v[6] = {1, -3, 0, 4, 0, 4}; /* mean 1, std sqrt(6) */
    memcpy(w->data, v, sizeof v);
    assert_int_equal(dq_h5_write_tensor(f, "/tensors/fc1.weight", w, 0), DQ_OK);
    assert_int_equal(dq_h5_set_attr_str(f, "/tensors/fc1.weight", "kind",
                                        "weight"), DQ_OK);
    assert_int_equal(dq_h5_set_attr_str(f, "/nodes/fc1", "op", "linear"), DQ_OK);
    assert_int_equal(dq_h5_set_attr_str(f, "/nodes/fc1", "inputs", "x,y"),
                     DQ_OK);
    assert_int_equal(dq_h5_set_attr_str(f, "/", "config", "[run]\nseed = 1\n"),
                     DQ_OK);
    assert_int_equal(dq_h5_commit(f), DQ_OK);
    dq_tensor_free(w);
}

static void test_tensor_file(void **state)
{
    fixture *fx = *state;
    write_file(fx->h5);
    char *out;
    assert_int_equal(run(fx->h5, &out), 0);
    char head[1024];
    snprintf(head, sizeof head, "%s: format dnateq-tensors, version 1\n",
             fx->h5);
    assert_true(strncmp(out, head, strlen(head)) == 0);
    expect_in(out, "  format = 'dnateq-tensors'\n");
    expect_in(out, "  version = 1\n");
    expect_in(out, "  created_by = '");
    expect_in(out, "  config =\n      [run]\n      seed = 1\n");
    expect_in(out, "/nodes/fc1/  op linear  inputs [x,y]\n");
    expect_in(out, "/tensors/fc1.weight  float32 (2, 3)  min -3 max 4 mean 1 "
                   "std 2.44949 zeros 0.3333 nonfinite 0\n");
    expect_in(out, "      attrs: kind='weight'\n");
    free(out);
}

static void test_dataset(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run("--dataset --set run.calib_size=500", &out), 0);
    expect_in(out, "train    55000 ");
    expect_in(out, "val       5000 ");
    expect_in(out, "test     10000   1000  1000  1000  1000  1000  1000  1000"
                   "  1000  1000  1000\n");
    expect_in(out, "calib      500 ");
    expect_in(out, "(calib_size 500, seed 1)");
    free(out);
}

static void test_help_and_errors(void **state)
{
    fixture *fx = *state;
    char *out;
    assert_int_equal(run("--help", &out), 0);
    expect_in(out, "usage: dnateq-inspect");
    expect_in(out, "--dataset");
    expect_in(out, "run.data_dir (path) = ");
    free(out);

    assert_int_equal(run("", &out), 2);
    expect_in(out, "dnateq: no FILE.h5 given");
    free(out);
    assert_int_equal(run("--frob", &out), 2);
    expect_in(out, "dnateq: unknown option '--frob'");
    free(out);

    /* Not HDF5; missing; wrong dataset dir. */
    char *txt = dq_test_path(fx->dir, "x.h5"), want[1200], args[1024];
    assert_int_equal(dq_test_write_file(txt, "hello\n", 6), 0);
    assert_int_equal(run(txt, &out), 1);
    snprintf(want, sizeof want, "dnateq: %s: not an HDF5 file", txt);
    expect_in(out, want);
    free(out);
    snprintf(args, sizeof args, "%s/none.h5", fx->dir);
    assert_int_equal(run(args, &out), 1);
    snprintf(want, sizeof want, "dnateq: %s: cannot open", args);
    expect_in(out, want);
    free(out);
    snprintf(args, sizeof args, "--dataset %s", fx->dir);
    assert_int_equal(run(args, &out), 1);
    snprintf(want, sizeof want, "dnateq: %s/train-images-idx3-ubyte.gz: "
             "cannot open", fx->dir);
    expect_in(out, want);
    free(out);
    free(txt);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_tensor_file),
        T(test_dataset),
        T(test_help_and_errors),
    };
    return cmocka_run_group_tests_name("inspect", tests, NULL, NULL);
}
