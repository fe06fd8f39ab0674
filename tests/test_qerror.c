/*
 * test_qerror.c — the dnateq-qerror driver end to end (the sanitizer build
 * in build/san/bin, run from the repository root) on a small synthetic
 * tensor dump: its three result files, their provenance (config, git
 * revision, seed), identical results at 1 and 2 threads, and clear errors
 * for a missing dump and for non-finite data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "h5io.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QERROR "build/san/bin/dnateq-qerror"

typedef struct {
    char *dir, *dump;
} fixture;

static uint64_t rng = 99;

static double unif(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static void add(dq_h5 *f, const char *name, int rank, int64_t d0, int64_t d1,
                const char *kind, const char *layer, int idx, int relu,
                int bad)
{
    dq_tensor *t = dq_tensor_alloc4(name, rank, d0, d1, 0, 0);
    assert_non_null(t);
    for (int64_t i = 0; i < t->size; i++) {
        double e = -log(unif()) * 0.1;
        double v = relu ? (unif() < 0.4 ? 0.0 : e) : (unif() < 0.5 ? -e : e);
        t->data[i] = (float)v;
    }
    if (bad) t->data[3] = NAN;
    char obj[256];
    snprintf(obj, sizeof obj, "/tensors/%s", name);
    assert_int_equal(dq_h5_write_tensor(f, obj, t, 0), DQ_OK);
    assert_int_equal(dq_h5_set_attr_str(f, obj, "kind", kind), DQ_OK);
    assert_int_equal(dq_h5_set_attr_str(f, obj, "layer", layer), DQ_OK);
    if (strcmp(kind, "activation") == 0)
        assert_int_equal(dq_h5_set_attr_int(f, obj, "input_index", idx), DQ_OK);
    dq_tensor_free(t);
}

static void write_dump(const char *path, int bad)
{
    dq_h5 *f = dq_h5_create(path, "dnateq-tensors", 1);
    assert_non_null(f);
    assert_int_equal(dq_h5_set_attr_str(f, "/", "model_name", "tiny"), DQ_OK);
    add(f, "fc1.weight", 2, 8, 12, "weight", "fc1", 0, 0, bad);
    add(f, "fc1.input0", 1, 1500, 0, "activation", "fc1", 0, 1, 0);
    add(f, "mm.input0", 1, 600, 0, "activation", "mm", 0, 0, 0);
    add(f, "mm.input1", 1, 700, 0, "activation", "mm", 1, 0, 0);
    assert_int_equal(dq_h5_commit(f), DQ_OK);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    fx->dir = dq_test_mkdtemp("qerror");
    fx->dump = fx->dir ? dq_test_path(fx->dir, "tiny.h5") : NULL;
    *state = fx;
    return fx->dump ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    int rc = dq_test_rmtree(fx->dir);
    free(fx->dump);
    free(fx->dir);
    free(fx);
    return rc;
}

static int run(const fixture *fx, const char *args, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s configs/qerror.ini -q --set qerror.dump=%s "
             "--set qerror.bits_min=3 --set qerror.bits_max=5 %s",
             QERROR, fx->dump, args);
    return dq_test_run(cmd, out);
}

/* The file without its '#' comment lines (they hold the config, which
 * names the thread count and output directory). */
static char *strip_comments(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(dq_test_read_file(path, &data, &len), 0);
    char *out = malloc(len + 1), *o = out;
    assert_non_null(out);
    for (const char *p = data; *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p + 1) : strlen(p);
        if (*p != '#') {
            memcpy(o, p, l);
            o += l;
        }
        p += l;
    }
    *o = '\0';
    free(data);
    return out;
}

static void test_outputs_and_threads(void **state)
{
    fixture *fx = *state;
    write_dump(fx->dump, 0);
    char *out = NULL, args[1024];
    char *d1 = dq_test_path(fx->dir, "r1"), *d2 = dq_test_path(fx->dir, "r2");
    snprintf(args, sizeof args, "--threads 1 --out %s", d1);
    int rc = run(fx, args, &out);
    if (rc != 0) print_error("%s\n", out);
    assert_int_equal(rc, 0);
    /* the summary table on stdout names DNA-TEQ and uniform */
    assert_non_null(strstr(out, "DNA-TEQ"));
    assert_non_null(strstr(out, "Uniform (minmax)"));
    free(out);
    snprintf(args, sizeof args, "--threads 2 --out %s", d2);
    assert_int_equal(run(fx, args, &out), 0);
    free(out);

    const char *files[2] = {"qerror/tiny.csv", "qerror/tiny_summary.csv"};
    for (int k = 0; k < 2; k++) {
        char *p1 = dq_test_path(d1, files[k]), *p2 = dq_test_path(d2, files[k]);
        char *a = strip_comments(p1), *b = strip_comments(p2);
        assert_string_equal(a, b); /* byte-identical results */
        char *raw = NULL;
        size_t len;
        assert_int_equal(dq_test_read_file(p1, &raw, &len), 0);
        assert_non_null(strstr(raw, "# created_by: "));
        assert_non_null(strstr(raw, "# seed: 1"));
        assert_non_null(strstr(raw, "#   [qerror]"));
        if (k == 0) {
            /* header, and one row per (tensor, variant, bits) that applies */
            assert_non_null(strstr(a, "model,tensor,kind,layer,numel,scheme,"
                                      "label,variant,bits,rmae,mse,sqnr_db,"
                                      "objective\n"));
            assert_non_null(strstr(a, "tiny,fc1.weight,weight,fc1,96,expq,"
                                      "DNA-TEQ,default,4,"));
            assert_non_null(strstr(a, "tiny,fc1.input0,activation,fc1,1500,"
                                      "uniform,Uniform,kl,5,"));
        }
        free(raw);
        free(a);
        free(b);
        free(p1);
        free(p2);
    }
    /* expq parameters: same numbers at both thread counts */
    char *h1 = dq_test_path(d1, "qerror/tiny_expq_params.h5");
    char *h2 = dq_test_path(d2, "qerror/tiny_expq_params.h5");
    dq_h5 *f1 = dq_h5_open(h1, "dnateq-results", 1);
    dq_h5 *f2 = dq_h5_open(h2, "dnateq-results", 1);
    assert_non_null(f1);
    assert_non_null(f2);
    char *kind = NULL, *cfg = NULL;
    assert_int_equal(dq_h5_get_attr_str(f1, "/", "kind", &kind), DQ_OK);
    assert_string_equal(kind, "expq_params");
    assert_int_equal(dq_h5_get_attr_str(f1, "/", "config", &cfg), DQ_OK);
    assert_non_null(strstr(cfg, "[quant]"));
    assert_int_equal(dq_h5_has_attr(f1, "/", "created_by"), 1);
    assert_int_equal(dq_h5_has_attr(f1, "/", "seed"), 1);
    const char *ds[4] = {"/tensors/fc1.weight/base", "/tensors/fc1.input0/alpha",
                         "/layers/fc1/base", "/layers/mm/objective_a"};
    for (int k = 0; k < 4; k++) {
        double *v1 = NULL, *v2 = NULL;
        int64_t n1 = 0, n2 = 0;
        assert_int_equal(dq_h5_read_doubles(f1, ds[k], &v1, &n1), DQ_OK);
        assert_int_equal(dq_h5_read_doubles(f2, ds[k], &v2, &n2), DQ_OK);
        assert_int_equal(n1, n2);
        assert_int_equal(n1, k < 2 ? 3 : 9); /* 3 bitwidths; 3 x 3 pairs */
        assert_memory_equal(v1, v2, sizeof(double) * (size_t)n1);
        if (k == 0 || k == 2)
            for (int64_t i = 0; i < n1; i++) assert_true(v1[i] > 1.0);
        free(v1);
        free(v2);
    }
    free(kind);
    free(cfg);
    dq_h5_close(f1);
    dq_h5_close(f2);
    free(h1);
    free(h2);
    free(d1);
    free(d2);
}

static void test_errors(void **state)
{
    fixture *fx = *state;
    char *out = NULL, args[1024];
    /* no dump file */
    char *missing = dq_test_path(fx->dir, "nope.h5");
    snprintf(args, sizeof args, "--out %s --set qerror.dump=%s", fx->dir,
             missing);
    assert_int_not_equal(run(fx, args, &out), 0);
    assert_non_null(strstr(out, "dnateq: "));
    assert_non_null(strstr(out, "nope.h5"));
    free(out);
    free(missing);
    /* a NaN in a weight */
    write_dump(fx->dump, 1);
    snprintf(args, sizeof args, "--out %s", fx->dir);
    assert_int_not_equal(run(fx, args, &out), 0);
    assert_non_null(strstr(out, "fc1.weight"));
    assert_non_null(strstr(out, "NaN"));
    free(out);
    /* an unknown scheme */
    write_dump(fx->dump, 0);
    snprintf(args, sizeof args, "--out %s --set qerror.schemes=expq,int3",
             fx->dir);
    assert_int_not_equal(run(fx, args, &out), 0);
    assert_non_null(strstr(out, "int3"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outputs_and_threads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
