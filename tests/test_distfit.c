/*
 * test_distfit.c — the dnateq-distfit driver end to end (the sanitizer
 * build in build/san/bin, run from the repository root) on a small tensor
 * dump written here with h5io in the README's schema: one row per (tensor,
 * analysis, family) with exactly one winner each, the exact zero fraction
 * taken from the dump, degenerate tensors as `none`, shares that add up,
 * histogram files, identical results at 1 and 2 threads, and clear errors
 * for a missing dump, a NaN value and an unknown histogram tensor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "h5io.h"
#include "tensor.h"
#include "testutil.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISTFIT "build/san/bin/dnateq-distfit"

typedef dq_test_fixture fixture;

static int setup(void **state)
{
    return dq_test_fixture_setup(state, "distfit");
}

static int teardown(void **state)
{
    return dq_test_fixture_teardown(state);
}

static void put(dq_h5 *f, const char *name, const dq_tensor *t, const char *kind,
                const char *layer)
{
    char obj[256];
    snprintf(obj, sizeof obj, "/tensors/%s", name);
    assert_int_equal(dq_h5_write_tensor(f, obj, t, 0), DQ_OK);
    assert_int_equal(dq_h5_set_attr_str(f, obj, "kind", kind), DQ_OK);
    assert_int_equal(dq_h5_set_attr_str(f, obj, "layer", layer), DQ_OK);
}

/* <dir>/toy.h5: l1.weight (normal), l1.input0 (a ReLU-like sample: 30%
 * zeros, the rest exponential, with count = 10x the stored values and an
 * exact zero_frac of 0.625 as attributes), l2.weight all zero.  With
 * nan_at >= 0 one weight value is NaN. */
static void write_dump(const char *dir, int nan_at)
{
    char path[512];
    snprintf(path, sizeof path, "%s/toy.h5", dir);
    dq_h5 *f = dq_h5_create(path, "dnateq-tensors", 1);
    assert_non_null(f);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 5);

    dq_tensor *w = dq_tensor_alloc4("w", 2, 64, 48, 0, 0);
    for (int64_t i = 0; i < w->size; i++) w->data[i] = (float)gsl_ran_gaussian(r, 0.05);
    if (nan_at >= 0) w->data[nan_at] = NAN;
    put(f, "l1.weight", w, "weight", "l1");

    dq_tensor *a = dq_tensor_alloc4("a", 1, 20000, 0, 0, 0);
    for (int64_t i = 0; i < a->size; i++)
        a->data[i] = i % 10 < 3 ? 0.0f : (float)gsl_ran_exponential(r, 0.8);
    put(f, "l1.input0", a, "activation", "l1");
    assert_int_equal(dq_h5_set_attr_int(f, "/tensors/l1.input0", "input_index", 0), DQ_OK);
    assert_int_equal(dq_h5_set_attr_int(f, "/tensors/l1.input0", "count", 200000), DQ_OK);
    assert_int_equal(dq_h5_set_attr_int(f, "/tensors/l1.input0", "sampled", 20000), DQ_OK);
    assert_int_equal(dq_h5_set_attr_double(f, "/tensors/l1.input0", "zero_frac", 0.625), DQ_OK);

    dq_tensor *z = dq_tensor_calloc("z", 1, (int64_t[]){100});
    put(f, "l2.weight", z, "weight", "l2");
    assert_int_equal(dq_h5_set_attr_str(f, "/", "model_name", "toy"), DQ_OK);
    assert_int_equal(dq_h5_commit(f), DQ_OK);
    dq_tensor_free(w);
    dq_tensor_free(a);
    dq_tensor_free(z);
    gsl_rng_free(r);
}

static int run_driver(const char *dir, const char *out, const char *extra,
                      char **log)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, DISTFIT " -q --set distfit.models=toy "
             "--set distfit.dump_dir=%s --out %s/%s %s", dir, dir, out, extra);
    return dq_test_run(cmd, log);
}

static char *slurp(const char *dir, const char *rel)
{
    char path[1024], *data = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (dq_test_read_file(path, &data, &len) != 0) fail_msg("cannot read %s", path);
    return data;
}

/* The text after the '#' comment lines. */
static const char *body(const char *text)
{
    while (*text == '#') {
        const char *nl = strchr(text, '\n');
        if (!nl) return text + strlen(text);
        text = nl + 1;
    }
    return text;
}

/* Field k (0-based) of a CSV line into buf. */
static void field(const char *line, int k, char *buf, size_t len)
{
    for (int i = 0; i < k; i++) {
        line = strchr(line, ',');
        assert_non_null(line);
        line++;
    }
    size_t n = strcspn(line, ",\n");
    if (n >= len) n = len - 1;
    memcpy(buf, line, n);
    buf[n] = '\0';
}

static void test_outputs(void **state)
{
    fixture *fx = *state;
    write_dump(fx->dir, -1);
    char *log = NULL;
    int rc = run_driver(fx->dir, "o2", "--threads 2 --set distfit.hist=toy:l1", &log);
    if (rc != 0) fail_msg("dnateq-distfit failed (%d): %s", rc, log);
    free(log);

    char *csv = slurp(fx->dir, "o2/distfit/toy.csv");
    assert_non_null(strstr(csv, "# created_by: "));
    assert_non_null(strstr(csv, "#   criterion = sse"));
    const char *b = body(csv);
    assert_true(strncmp(b, "model,tensor,layer,kind,analysis,count,n_input,"
                           "zero_frac,n_sample,n_ks,family,", 60) == 0);
    /* rows: 2 tensors x (5 + 6) families, and 2 "none" rows for l2 */
    int rows = 0, best[3][2] = {{0}}, none = 0;
    for (const char *l = strchr(b, '\n') + 1; *l; l = strchr(l, '\n') + 1) {
        char tensor[64], analysis[16], fam[32], isbest[4], zf[32], count[32];
        field(l, 1, tensor, sizeof tensor);
        field(l, 4, analysis, sizeof analysis);
        field(l, 5, count, sizeof count);
        field(l, 7, zf, sizeof zf);
        field(l, 10, fam, sizeof fam);
        field(l, 25, isbest, sizeof isbest);
        int t = strcmp(tensor, "l1.weight") == 0 ? 0 : strcmp(tensor, "l1.input0") == 0 ? 1 : 2;
        int d = strcmp(analysis, "magnitude") == 0;
        best[t][d] += atoi(isbest);
        none += strcmp(fam, "none") == 0;
        if (t == 1) { /* exact figures of the dump, not of the sample */
            assert_string_equal(zf, "0.625");
            assert_string_equal(count, "200000");
        }
        if (t == 2) assert_string_equal(fam, "none");
        rows++;
    }
    assert_int_equal(rows, 24);
    assert_int_equal(none, 2);
    for (int t = 0; t < 2; t++)
        for (int d = 0; d < 2; d++) assert_int_equal(best[t][d], 1);
    assert_int_equal(best[2][0] + best[2][1], 0);
    free(csv);

    /* shares of each (model, kind, analysis) add up to 1 */
    char *sum = slurp(fx->dir, "o2/distfit/summary.csv");
    b = body(sum);
    double tot[2][2][2] = {{{0}}}; /* model toy/all, kind, analysis */
    for (const char *l = strchr(b, '\n') + 1; *l; l = strchr(l, '\n') + 1) {
        char model[16], kind[16], analysis[16], share[32];
        field(l, 0, model, sizeof model);
        field(l, 1, kind, sizeof kind);
        field(l, 2, analysis, sizeof analysis);
        field(l, 6, share, sizeof share);
        tot[strcmp(model, "all") == 0][strcmp(kind, "activation") == 0]
           [strcmp(analysis, "magnitude") == 0] += atof(share);
    }
    for (int i = 0; i < 8; i++) assert_true(fabs((&tot[0][0][0])[i] - 1) < 1e-6);
    free(sum);

    /* the md and tex tables, and the histogram files with two blocks */
    char *md = slurp(fx->dir, "o2/distfit/summary.md");
    assert_non_null(strstr(md, "| toy | weight | 2 |"));
    assert_non_null(strstr(md, "| none |"));
    free(md);
    char *tex = slurp(fx->dir, "o2/distfit/summary.tex");
    assert_non_null(strstr(tex, "student\\_t"));
    free(tex);
    const char *hists[] = {"o2/distfit/hist_toy_l1.weight.dat",
                           "o2/distfit/hist_toy_l1.input0.dat"};
    for (int i = 0; i < 2; i++) {
        char *h = slurp(fx->dir, hists[i]);
        assert_non_null(strstr(h, "\nx density normal laplace uniform student_t logistic\n"));
        assert_non_null(strstr(h, "\n\n\n# magnitude analysis"));
        assert_non_null(strstr(h, "\nx density exponential halfnormal uniform gamma lognormal weibull\n"));
        free(h);
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/o2/distfit/hist_toy_l2.weight.dat", fx->dir);
    assert_false(dq_test_exists(path)); /* only the layer asked for */

    /* one thread: the same bytes after the config lines' thread count */
    rc = run_driver(fx->dir, "o1", "--threads 1 --set distfit.hist=toy:l1", &log);
    assert_int_equal(rc, 0);
    free(log);
    const char *files[] = {"toy.csv", "summary.csv", "summary.md", "summary.tex",
                           "shares_signed.dat", "shares_magnitude.dat",
                           "hist_toy_l1.input0.dat"};
    for (int i = 0; i < 7; i++) {
        char r1[128], r2[128];
        snprintf(r1, sizeof r1, "o1/distfit/%s", files[i]);
        snprintf(r2, sizeof r2, "o2/distfit/%s", files[i]);
        char *a = slurp(fx->dir, r1), *c = slurp(fx->dir, r2);
        assert_string_equal(body(a), body(c));
        free(a);
        free(c);
    }
}

static void test_errors(void **state)
{
    fixture *fx = *state;
    char *log = NULL;
    /* no dump */
    int rc = run_driver(fx->dir, "o", "", &log);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(log, "toy.h5"));
    free(log);

    /* a NaN: the message names the dump, the tensor and the value */
    write_dump(fx->dir, 17);
    rc = run_driver(fx->dir, "o", "", &log);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(log, "toy.h5: tensor 'l1.weight'"));
    assert_non_null(strstr(log, "value 17 is NaN"));
    free(log);

    /* an unknown histogram tensor; a malformed entry */
    write_dump(fx->dir, -1);
    rc = run_driver(fx->dir, "o", "--set distfit.hist=toy:l9", &log);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(log, "no tensor or layer 'l9'"));
    free(log);
    rc = run_driver(fx->dir, "o", "--set distfit.hist=l1", &log);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(log, "'l1' is not model:tensor"));
    free(log);
    rc = run_driver(fx->dir, "o", "--set fit.criterion=chi2", &log);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(log, "chi2"));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
