/*
 * test_macros.c — dnateq-macros (experiments/macros.c), which turns the
 * result files into the LaTeX macros the paper quotes: exact values and
 * formats of csv rows (percent, decimals, grouped integers, signs, NaN,
 * computed columns), mean/min/max over the first key, glob captures,
 * filters, key cleaning and TeX escaping; json leaves, ini keys, const and
 * the meta values taken from the code; every malformed input (no such
 * column, a cell that is not a number, a key defined twice, bad JSON,
 * unknown kind or format) exits 1 naming the file and line; a missing
 * source is a warning and a missing/<name> macro, or an error when
 * required or strict; and the real paper/macros.spec runs on an empty
 * result directory.
 *
 * The driver is build/san/bin/dnateq-macros (what `make test` builds), or
 * build/bin/dnateq-macros.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *driver(void)
{
    if (access("build/san/bin/dnateq-macros", X_OK) == 0)
        return "build/san/bin/dnateq-macros";
    if (access("build/bin/dnateq-macros", X_OK) == 0)
        return "build/bin/dnateq-macros";
    fail_msg("dnateq-macros is not built: run `make` from the repository root");
    return NULL;
}

/* Write <dir>/<name> (parent directories made by the shell). */
static void put(const char *dir, const char *name, const char *text)
{
    char *path = dq_test_path(dir, name), cmd[2048], *out;
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname %s)\"", path);
    assert_int_equal(dq_test_run(cmd, &out), 0);
    free(out);
    assert_int_equal(dq_test_write_file(path, text, strlen(text)), 0);
    free(path);
}

/* Run the driver on <dir>/spec with result directory <dir>/res; *out gets
 * its output, *tex the macros file (NULL when it was not written). */
static int run_spec(const char *dir, const char *spec, const char *extra,
                    char **out, char **tex)
{
    put(dir, "spec", spec);
    char cmd[4096], cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(cmd, sizeof cmd, "cd %s && %s/%s --out res --set macros.spec=spec "
             "%s", dir, cwd, driver(), extra ? extra : "");
    int rc = dq_test_run(cmd, out);
    char *path = dq_test_path(dir, "res/macros.tex");
    *tex = NULL;
    if (dq_test_exists(path))
        assert_int_equal(dq_test_read_file(path, tex, NULL), 0);
    unlink(path);
    free(path);
    return rc;
}

static void has(const char *tex, const char *line)
{
    if (!strstr(tex, line)) print_error("no '%s' in:\n%s\n", line, tex);
    assert_non_null(strstr(tex, line));
}

static void expect_error(const char *dir, const char *spec, const char *msg)
{
    char *out, *tex;
    assert_int_equal(run_spec(dir, spec, NULL, &out, &tex), 1);
    if (!strstr(out, msg)) print_error("no '%s' in:\n%s\n", msg, out);
    assert_non_null(strstr(out, msg));
    assert_null(tex); /* nothing written on an error */
    free(out);
}

static const char *SUMMARY =
    "# a comment line\n"
    "model,top1,bits,params,label\n"
    "m1,0.8998,3.7502,535818,INT8 (act mse)\n"
    "m2,0.9268,3.1455,-1234,a_b&c%\n"
    "m3,nan,2.5,7,x\n"
    "m4,,,8,y\n"; /* empty cells: no value (an unsupported row) */

static void test_csv_values(void **state)
{
    dq_test_fixture *fx = *state;
    char *out, *tex;
    put(fx->dir, "res/s/summary.csv", SUMMARY);
    assert_int_equal(run_spec(fx->dir, "csv s {res}/s/summary.csv key=model "
                              "top1:pct bits:f1 params:int label:str "
                              "d=top1-bits:pct1 r=bits/top1:f3 # comment\n",
                              NULL, &out, &tex), 0);
    has(tex, "\\dqset{s/m1/top1}{89.98}\n");
    has(tex, "\\dqset{s/m1/bits}{3.8}\n");
    has(tex, "\\dqset{s/m1/params}{535{,}818}\n");
    has(tex, "\\dqset{s/m2/params}{$-$1{,}234}\n");
    has(tex, "\\dqset{s/m1/label}{INT8 (act mse)}\n");
    has(tex, "\\dqset{s/m2/label}{a\\_b\\&c\\%}\n");
    has(tex, "\\dqset{s/m1/d}{$-$285.0}\n");   /* (0.8998 - 3.7502) * 100 */
    has(tex, "\\dqset{s/m2/r}{3.394}\n");      /* 3.1455 / 0.9268 */
    has(tex, "\\dqset{s/m3/top1}{--}\n");      /* NaN */
    has(tex, "\\dqset{s/m4/top1}{--}\n");      /* empty */
    has(tex, "\\dqset{s/m4/d}{--}\n");
    /* over the models; NaN and empty cells left out of the mean */
    has(tex, "\\dqset{s/mean/top1}{91.33}\n");
    has(tex, "\\dqset{s/min/top1}{89.98}\n");
    has(tex, "\\dqset{s/max/top1}{92.68}\n");
    has(tex, "\\dqset{s/mean/bits}{3.1}\n");   /* 9.3957 / 3 */
    has(tex, "\\dqset{s/keys}{m1, m2, m3, m4}\n");
    has(tex, "\\dqset{s/count}{4}\n");
    assert_null(strstr(tex, "s/mean/label"));
    has(out, "res/macros.tex: ");
    free(out);
    free(tex);
}

static void test_csv_keys_glob_where(void **state)
{
    dq_test_fixture *fx = *state;
    char *out, *tex;
    const char *a = "model,scheme,bits,rmae\nx,expq,3,0.2\nx,uniform,3,0.4\n"
                    "x,expq,4,0.1\n";
    const char *b = "model,scheme,bits,rmae\ny,expq,3,0.4\ny,uniform,3,0.6\n"
                    "y,expq,4,0.3\n";
    put(fx->dir, "res/q/alpha_summary.csv", a);
    put(fx->dir, "res/q/beta_summary.csv", b);
    put(fx->dir, "res/c.csv", "model,label,top1\nm,INT8 (act mse),0.5\n"
                              "m,FP32,0.6\nn,INT8 (act kl),0.7\n");
    assert_int_equal(run_spec(fx->dir,
        "csv q {res}/q/*_summary.csv key=scheme,bits rmae:f2\n"
        "csv c {res}/c.csv key=model,label top1:pct0\n"
        "csv i {res}/c.csv key=model where=label=INT8-act-mse top1:pct0\n"
        "csv j {res}/c.csv key=model where=model=n label:str\n",
        NULL, &out, &tex), 0);
    has(tex, "\\dqset{q/alpha/expq/3/rmae}{0.20}\n");
    has(tex, "\\dqset{q/beta/uniform/3/rmae}{0.60}\n");
    has(tex, "\\dqset{q/mean/expq/3/rmae}{0.30}\n");
    has(tex, "\\dqset{q/max/expq/4/rmae}{0.30}\n");
    has(tex, "\\dqset{q/keys}{alpha, beta}\n");
    has(tex, "\\dqset{c/m/INT8-act-mse/top1}{50}\n");
    has(tex, "\\dqset{c/m/FP32/top1}{60}\n");
    /* where= matches the cell's key form ("INT8 (act mse)") */
    has(tex, "\\dqset{i/m/top1}{50}\n");
    has(tex, "\\dqset{i/count}{1}\n");
    has(tex, "\\dqset{j/n/label}{INT8 (act kl)}\n");
    has(tex, "\\dqset{j/count}{1}\n");
    free(out);
    free(tex);

    put(fx->dir, "res/q/gamma_summary.csv", "model,scheme,bits\n");
    expect_error(fx->dir,
                 "csv q {res}/q/*_summary.csv key=scheme,bits rmae:f2\n",
                 "res/q/gamma_summary.csv: header differs from "
                 "res/q/alpha_summary.csv's");
}

static void test_json_ini_const_meta(void **state)
{
    dq_test_fixture *fx = *state;
    char *out, *tex;
    put(fx->dir, "log.json",
        "{\"models\": {\"a\": {\"params\": 535818, \"opt\": \"adam_w\","
        " \"hist\": [{\"e\": 1}, {\"e\": 2}]},\n \"b\": {\"params\": 1e3, "
        "\"opt\": \"sgd\\\"x\", \"ok\": true, \"none\": null}},"
        " \"mean\": 0.28581730555858714}\n");
    put(fx->dir, "c.ini", "; comment\n[run]\nthreads = 2 ; two\nout = a_b\n"
                          "[energy]\nadd_pj = 0.03\n");
    assert_int_equal(run_spec(fx->dir,
        "json z log.json models.*.params:int models.*.opt:str mean:f4 "
        "models.a.hist.1.e:int\n"
        "ini c c.ini\n"
        "const claim compression=40 what=forty_percent\n",
        NULL, &out, &tex), 0);
    has(tex, "\\dqset{z/models/a/params}{535{,}818}\n");
    has(tex, "\\dqset{z/models/b/params}{1{,}000}\n");
    has(tex, "\\dqset{z/models/a/opt}{adam\\_w}\n");
    has(tex, "\\dqset{z/models/b/opt}{sgd\"x}\n");
    has(tex, "\\dqset{z/mean}{0.2858}\n");
    has(tex, "\\dqset{z/models/a/hist/1/e}{2}\n");
    assert_null(strstr(tex, "z/models/b/ok"));
    has(tex, "\\dqset{c/run/threads}{2}\n");
    has(tex, "\\dqset{c/run/out}{a\\_b}\n");
    has(tex, "\\dqset{c/energy/add_pj}{0.03}\n");
    has(tex, "\\dqset{claim/compression}{40}\n");
    has(tex, "\\dqset{claim/what}{forty percent}\n");
    /* from the code: dataset sizes, bit range, interval level */
    has(tex, "\\dqset{meta/fmnist/test}{10{,}000}\n");
    has(tex, "\\dqset{meta/fmnist/val}{5{,}000}\n");
    has(tex, "\\dqset{meta/qbits_min}{2}\n");
    has(tex, "\\dqset{meta/qbits_max}{8}\n");
    has(tex, "\\dqset{meta/ci_level}{95}\n");
    has(tex, "\\dqset{meta/resdir}{res}\n");
    free(out);
    free(tex);

    expect_error(fx->dir, "json z log.json models.*.parms:int\n",
                 "spec:1: no value of log.json matches 'models.*.parms:int'");
    expect_error(fx->dir, "json z log.json models.*.opt:int\n",
                 "log.json: models.a.opt: z/models/a/opt: 'adam_w' is not a "
                 "number");
    put(fx->dir, "bad.json", "{\"a\": [1, 2,, 3]}");
    expect_error(fx->dir, "json z bad.json a.*:int\n",
                 "bad.json: invalid JSON at byte 12");
}

static void test_malformed(void **state)
{
    dq_test_fixture *fx = *state;
    put(fx->dir, "res/s.csv", SUMMARY);
    expect_error(fx->dir, "csv s {res}/s.csv key=model zz:pct\n",
                 "res/s.csv: no column 'zz'");
    expect_error(fx->dir, "csv s {res}/s.csv key=model label:pct\n",
                 "res/s.csv:3: column label: 'INT8 (act mse)' is not a "
                 "number");
    put(fx->dir, "res/short.csv", "a,b\n1,2\n3\n");
    expect_error(fx->dir, "csv s {res}/short.csv key=a b:int\n",
                 "res/short.csv:3: 1 fields, the header has 2");
    expect_error(fx->dir, "csv s {res}/s.csv key=model top1:pcts\n",
                 "unknown format 'pcts'");
    expect_error(fx->dir, "xml s {res}/s.csv\n",
                 "spec:1: unknown source kind 'xml'");
    expect_error(fx->dir, "csv s\n", "spec:1: expected KIND NAME SOURCE");
    expect_error(fx->dir, "const c novalue\n", "spec:1: 'novalue': expected "
                                               "key=value");
    expect_error(fx->dir, "dpkg p 'gcc;rm'\n", "is not a package name");
}

static void test_missing_sources(void **state)
{
    dq_test_fixture *fx = *state;
    char *out, *tex;
    const char *spec = "csv e {res}/energy/summary.csv key=model x:pct "
                       "need=energy\n";
    assert_int_equal(run_spec(fx->dir, spec, NULL, &out, &tex), 0);
    has(out, "dnateq: warning: spec:1: res/energy/summary.csv: no such file; "
             "its macros (e/...) are missing (run make energy)");
    has(out, "(1 source(s) missing)");
    has(tex, "\\dqset{missing/e}{make energy}\n");
    free(out);
    free(tex);
    assert_int_equal(run_spec(fx->dir, spec, "--set macros.strict=true", &out,
                              &tex), 1);
    has(out, "dnateq: spec:1: res/energy/summary.csv: no such file (run make "
             "energy)");
    assert_null(tex);
    free(out);
    expect_error(fx->dir, "ini z nothere.ini required need=zoo\n",
                 "spec:1: nothere.ini: no such file (run make zoo)");
}

/* The duplicate-key message names both places. */
static void test_duplicate_key(void **state)
{
    dq_test_fixture *fx = *state;
    char *out, *tex;
    put(fx->dir, "res/s.csv", SUMMARY);
    assert_int_equal(run_spec(fx->dir, "csv s {res}/s.csv key=model top1:pct\n"
                              "const s m1/top1=1\n", NULL, &out, &tex), 1);
    has(out, "spec:2: macro 's/m1/top1' defined twice (first by "
             "res/s.csv:3)");
    free(out);
    put(fx->dir, "res/d.csv", "k,v\na,1\na,2\n");
    assert_int_equal(run_spec(fx->dir, "csv d {res}/d.csv key=k v:int\n", NULL,
                              &out, &tex), 1);
    has(out, "res/d.csv:3: macro 'd/a/v' defined twice (first by res/d.csv:2)");
    free(out);
}

/* The paper's own spec on a result directory with no results yet: every
 * result source is only missing, the committed zoo log and energy table
 * are read. */
static void test_paper_spec_without_results(void **state)
{
    dq_test_fixture *fx = *state;
    char cmd[2048], *out, *tex;
    char *res = dq_test_path(fx->dir, "empty");
    snprintf(cmd, sizeof cmd, "%s --out %s", driver(), res);
    assert_int_equal(dq_test_run(cmd, &out), 0);
    char *path = dq_test_path(res, "macros.tex");
    assert_int_equal(dq_test_read_file(path, &tex, NULL), 0);
    has(tex, "\\dqset{missing/dnateq}{make dnateq}\n");
    has(tex, "\\dqset{missing/qerror}{make qerror}\n");
    has(tex, "\\dqset{zoo/models/mlp/test_top1}{");
    has(tex, "\\dqset{energycfg/energy/int_add8_pj}{0.03}\n");
    has(tex, "\\dqset{claim/compression}{40}\n");
    free(tex);
    free(path);
    free(res);
    free(out);
}

static int setup(void **state)
{
    return dq_test_fixture_setup(state, "macros");
}
static int teardown(void **state) { return dq_test_fixture_teardown(state); }

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_csv_values),
        T(test_csv_keys_glob_where),
        T(test_json_ini_const_meta),
        T(test_malformed),
        T(test_missing_sources),
        T(test_duplicate_key),
        T(test_paper_spec_without_results),
    };
    return cmocka_run_group_tests_name("macros", tests, NULL, NULL);
}
