/*
 * test_fuzzregress.c — the inputs on which the libFuzzer harnesses
 * (tests/fuzz/) made libhdf5 itself crash, hang or exhaust memory, kept
 * byte for byte under libFuzzer's names in tests/fuzz/regressions/model/
 * and tests/fuzz/regressions/plan/ (crash-*, oom-*, slow-unit-*), run
 * through the real drivers (the sanitizer builds in build/san/bin, from
 * the repository root):
 *   - a model through `dnateq-dump --model FILE`;
 *   - a plan through `dnateq-energy`, as <plans_dir>/<name>_dnateq.h5 (a
 *     symbolic link to the input) next to the tiny test model, the model
 *     the fuzzed plans belong to.
 * Each must exit with a non-zero status (not a signal), print "dnateq: "
 * and the file's path on stderr, write nothing under its fresh --out, and
 * no sanitizer may report anything.  A new input is covered by dropping
 * it into the directory.
 *
 * Also checked directly: dq_h5_probe (h5io.h) passes valid files, gives
 * DQ_OK or a DQ_EFORMAT naming the file on every input above (at least
 * one a crash and one an exhausted memory), and DNATEQ_H5_PROBE=0 turns
 * it off; and the attribute snapshot that dq_h5_open keeps from the probe
 * answers every attribute query (value, status and message) exactly as
 * HDF5 does without the probe, on a model, a plan and a file of unusual
 * attributes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "fsutil.h"
#include "graph.h"
#include "h5io.h"
#include "plan.h"
#include "testmodels.h"
#include "testutil.h"

#include <dirent.h>
#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BIN(name) "build/san/bin/dnateq-" name
#define REGRESSIONS "tests/fuzz/regressions"
#define MAX_INPUTS 256
#define MAX_ARGS 24

typedef struct {
    char *dir;   /* scratch root */
    char *tiny;  /* the tiny model (4x4 inputs), the plans' model */
    int n_runs;  /* driver runs */
} fixture;

static fixture *fx;

static int setup(void **state)
{
    (void)state;
    fx = calloc(1, sizeof *fx);
    if (!fx || !(fx->dir = dq_test_mkdtemp("fuzzregress"))) return -1;
    fx->tiny = dq_test_path(fx->dir, "tiny.h5");
    return fx->tiny && tiny_write(fx->tiny, TINY_OK) == DQ_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    printf("fuzzregress: %d driver runs\n", fx->n_runs);
    int rc = dq_test_rmtree(fx->dir);
    free(fx->tiny);
    free(fx->dir);
    free(fx);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regression inputs of kind ("model" or "plan"), sorted by name
 * (malloc()ed names); returns their number. */
static int inputs(const char *kind, char **names)
{
    char dir[256];
    snprintf(dir, sizeof dir, REGRESSIONS "/%s", kind);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        assert_true(n < MAX_INPUTS);
        names[n] = strdup(e->d_name);
        assert_non_null(names[n++]);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, name_cmp);
    return n;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
}

/* A fresh, empty output directory (malloc()ed). */
static char *fresh_out(void)
{
    char name[32];
    snprintf(name, sizeof name, "out-%d", fx->n_runs);
    char *out = dq_test_path(fx->dir, name);
    assert_non_null(out);
    assert_int_equal(dq_mkdirs(out), DQ_OK);
    return out;
}

/* Run cmd (words separated by single spaces, "@OUT" a fresh --out); it
 * must fail cleanly with a message naming path. */
static void expect_clean_failure(const char *cmd, const char *path)
{
    char *out = fresh_out(), *err = NULL, *entry = NULL, *argv[MAX_ARGS];
    char *line = dq_test_replace(cmd, "@OUT", out);
    assert_true(dq_test_split(line, argv, MAX_ARGS) > 0);
    int st = dq_test_spawn(argv, NULL, &err);
    fx->n_runs++;
    assert_non_null(err);
    if (strstr(err, "Sanitizer") || strstr(err, "runtime error:"))
        fail_msg("sanitizer report from: %s\n%s", cmd, err);
    if (st <= 0 || st >= 128)
        fail_msg("status %d (expected a non-zero exit) from: %s\n%s", st,
                 cmd, err);
    if (!strstr(err, "dnateq: ") || !strstr(err, path))
        fail_msg("a message that does not name %s from: %s\n%s", path, cmd,
                 err);
    int n = dq_test_count_files(out, &entry);
    if (n != 0)
        fail_msg("%d files (e.g. %s) left under --out by: %s", n,
                 entry ? entry : "?", cmd);
    free(entry);
    free(err);
    free(line);
    free(out);
}

/* ---- the drivers on every regression input ---------------------------- */

static void test_model_inputs(void **state)
{
    (void)state;
    char *names[MAX_INPUTS];
    int n = inputs("model", names);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        char path[512], cmd[2048];
        snprintf(path, sizeof path, REGRESSIONS "/model/%s", names[i]);
        snprintf(cmd, sizeof cmd, BIN("dump") " --model %s --out @OUT --set "
                 "dump.dir=@OUT --set run.calib_size=16 -q", path);
        expect_clean_failure(cmd, path);
    }
    free_names(names, n);
}

/* <dir>/<sub>/<name><suffix> as a symbolic link to target. */
static char *link_as(const char *sub, const char *name, const char *suffix,
                     const char *target)
{
    char rel[512], abs[PATH_MAX];
    snprintf(rel, sizeof rel, "%s/%s%s", sub, name, suffix);
    char *p = dq_test_path(fx->dir, rel);
    assert_non_null(p);
    assert_int_equal(dq_mkdirs_parent(p), DQ_OK);
    assert_non_null(realpath(target, abs));
    assert_int_equal(symlink(abs, p), 0);
    return p;
}

static void test_plan_inputs(void **state)
{
    (void)state;
    char *names[MAX_INPUTS];
    int n = inputs("plan", names);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        char src[512], cmd[4096];
        snprintf(src, sizeof src, REGRESSIONS "/plan/%s", names[i]);
        char *model = link_as("zoo", names[i], ".h5", fx->tiny);
        char *plan = link_as("plans", names[i], "_dnateq.h5", src);
        snprintf(cmd, sizeof cmd, BIN("energy") " --set energy_run.models=%s "
                 "--set energy_run.zoo_dir=%s/zoo --set "
                 "energy_run.plans_dir=%s/plans --out @OUT -q", names[i],
                 fx->dir, fx->dir);
        expect_clean_failure(cmd, plan);
        free(model);
        free(plan);
    }
    free_names(names, n);
}

/* ---- dq_h5_probe itself ---------------------------------------------- */

/* The probe's verdict on every input of kind; counts crashes and
 * exhausted memory. */
static void probe_inputs(const char *kind, int *crashed, int *nomem)
{
    char *names[MAX_INPUTS];
    int n = inputs(kind, names);
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, REGRESSIONS "/%s/%s", kind, names[i]);
        int rc = dq_h5_probe(path);
        if (rc == DQ_OK) continue;
        const char *msg = dq_error_message();
        if (rc != DQ_EFORMAT || !strstr(msg, path) ||
            !strstr(msg, "corrupt HDF5 file"))
            fail_msg("%s: status %d, message: %s", path, rc, msg);
        *crashed += strstr(msg, "crashed") != NULL;
        *nomem += strstr(msg, "MiB of memory") != NULL;
    }
    free_names(names, n);
}

static void test_probe(void **state)
{
    (void)state;
    assert_int_equal(dq_h5_probe(fx->tiny), DQ_OK);
    int crashed = 0, nomem = 0;
    probe_inputs("model", &crashed, &nomem);
    probe_inputs("plan", &crashed, &nomem);
    printf("fuzzregress: the probe saw %d crashes, %d exhausted memory\n",
           crashed, nomem);
    assert_true(crashed > 0 && nomem > 0);

    /* a missing file: an I/O error naming it */
    char *missing = dq_test_path(fx->dir, "missing.h5");
    assert_int_equal(dq_h5_probe(missing), DQ_EIO);
    assert_non_null(strstr(dq_error_message(), missing));
    free(missing);

    /* switched off, it passes anything (nothing is read here) */
    char *names[MAX_INPUTS];
    int n = inputs("model", names);
    char path[512];
    snprintf(path, sizeof path, REGRESSIONS "/model/%s", names[0]);
    assert_int_equal(setenv("DNATEQ_H5_PROBE", "0", 1), 0);
    int rc = dq_h5_probe(path);
    unsetenv("DNATEQ_H5_PROBE");
    assert_int_equal(rc, DQ_OK);
    free_names(names, n);
}

/* ---- the snapshot answers as HDF5 does ------------------------------- */

enum { Q_HAS, Q_STR, Q_INT, Q_DOUBLE, Q_INTS, Q_DOUBLES, Q_INFO, NQ };

typedef struct {
    int rc, n;
    char msg[512];
    char *s;
    int64_t iv[8];
    double dv[8];
    dq_h5_kind kind;
    int64_t len;
} answer;

static void ask(dq_h5 *f, const char *obj, const char *name, int q,
                answer *a)
{
    memset(a, 0, sizeof *a);
    dq_error_clear();
    switch (q) {
    case Q_HAS: a->rc = dq_h5_has_attr(f, obj, name); break;
    case Q_STR: a->rc = dq_h5_get_attr_str(f, obj, name, &a->s); break;
    case Q_INT: a->rc = dq_h5_get_attr_int(f, obj, name, a->iv); break;
    case Q_DOUBLE: a->rc = dq_h5_get_attr_double(f, obj, name, a->dv); break;
    case Q_INTS:
        a->rc = dq_h5_get_attr_ints(f, obj, name, a->iv, 8, &a->n);
        break;
    case Q_DOUBLES:
        a->rc = dq_h5_get_attr_doubles(f, obj, name, a->dv, 8, &a->n);
        break;
    default: a->rc = dq_h5_attr_info(f, obj, name, &a->kind, &a->len); break;
    }
    if (q != Q_HAS && a->rc != DQ_OK)
        snprintf(a->msg, sizeof a->msg, "%s", dq_error_message());
}

static void same_answer(const answer *a, const answer *b, const char *obj,
                        const char *name, int q)
{
    int same = a->rc == b->rc && a->n == b->n && a->kind == b->kind &&
               a->len == b->len && strcmp(a->msg, b->msg) == 0 &&
               !a->s == !b->s && (!a->s || strcmp(a->s, b->s) == 0) &&
               memcmp(a->iv, b->iv, sizeof a->iv) == 0 &&
               memcmp(a->dv, b->dv, sizeof a->dv) == 0;
    if (!same)
        fail_msg("'%s' attribute '%s', query %d: rc %d/%d n %d/%d '%s' / "
                 "'%s' '%s' / '%s'", obj, name, q, a->rc, b->rc, a->n, b->n,
                 a->msg, b->msg, a->s ? a->s : "-", b->s ? b->s : "-");
}

/* Every query on attribute name of obj, from the snapshot (f) and from
 * HDF5 (g). */
static void compare_attr(dq_h5 *f, dq_h5 *g, const char *obj,
                         const char *name)
{
    for (int q = 0; q < NQ; q++) {
        answer a, b;
        ask(f, obj, name, q, &a);
        ask(g, obj, name, q, &b);
        same_answer(&a, &b, obj, name, q);
        free(a.s);
        free(b.s);
    }
}

/* The attributes of obj and of everything below it. */
static void compare_tree(dq_h5 *f, dq_h5 *g, const char *obj)
{
    char **an = NULL, **bn = NULL;
    int na = 0, nb = 0;
    assert_int_equal(dq_h5_list_attrs(f, obj, &an, &na), DQ_OK);
    assert_int_equal(dq_h5_list_attrs(g, obj, &bn, &nb), DQ_OK);
    assert_int_equal(na, nb);
    for (int i = 0; i < na; i++) {
        assert_string_equal(an[i], bn[i]);
        compare_attr(f, g, obj, an[i]);
    }
    compare_attr(f, g, obj, "nosuch");
    dq_h5_list_free(an, na);
    dq_h5_list_free(bn, nb);
    if (dq_h5_is_group(f, obj) != 1) return;
    char **kids = NULL;
    int nk = 0;
    assert_int_equal(dq_h5_list(f, obj, &kids, &nk), DQ_OK);
    for (int i = 0; i < nk; i++) {
        char child[1024];
        snprintf(child, sizeof child, "%s/%s", strcmp(obj, "/") ? obj : "",
                 kids[i]);
        compare_tree(f, g, child);
    }
    dq_h5_list_free(kids, nk);
}

static void compare_file(const char *path)
{
    dq_h5 *f = dq_h5_open(path, NULL, 1000);
    assert_int_equal(setenv("DNATEQ_H5_PROBE", "0", 1), 0);
    dq_h5 *g = dq_h5_open(path, NULL, 1000);
    unsetenv("DNATEQ_H5_PROBE");
    assert_non_null(f);
    assert_non_null(g);
    compare_tree(f, g, "/");
    compare_attr(f, g, "/nosuch", "format");
    dq_h5_close(f);
    dq_h5_close(g);
}

static void raw_attr(hid_t loc, const char *name, hid_t type, hid_t space,
                     const void *v)
{
    hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, type, v) >= 0);
    H5Aclose(a);
}

/* Attributes h5io does not write itself: fixed-length strings (null- and
 * space-padded), a string array, uint64 beyond int64, int8 and float32
 * arrays, an enum. */
static void raw_attrs(const char *path)
{
    hid_t fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(fid >= 0);
    hid_t scalar = H5Screate(H5S_SCALAR);
    hsize_t three = 3;
    hid_t vec = H5Screate_simple(1, &three, NULL);
    hid_t fixed = H5Tcopy(H5T_C_S1), padded = H5Tcopy(H5T_C_S1);
    H5Tset_size(fixed, 6);
    H5Tset_size(padded, 6);
    H5Tset_strpad(padded, H5T_STR_SPACEPAD);
    raw_attr(fid, "fixed", fixed, scalar, "ab\0\0\0\0");
    raw_attr(fid, "padded", padded, scalar, "ab    ");
    const char *strs[3] = {"x", "yy", "zzz"};
    hid_t vlen = H5Tcopy(H5T_C_S1);
    H5Tset_size(vlen, H5T_VARIABLE);
    raw_attr(fid, "strings", vlen, vec, strs);
    const uint64_t big[3] = {1, UINT64_MAX, (uint64_t)1 << 63};
    raw_attr(fid, "big", H5T_NATIVE_UINT64, vec, big);
    const int8_t small[3] = {-128, 0, 127};
    raw_attr(fid, "small", H5T_NATIVE_INT8, vec, small);
    const float fl[3] = {0.5f, -1e30f, 3.25f};
    raw_attr(fid, "floats", H5T_NATIVE_FLOAT, vec, fl);
    hid_t en = H5Tenum_create(H5T_NATIVE_INT);
    int one = 1;
    H5Tenum_insert(en, "one", &one);
    raw_attr(fid, "enum", en, scalar, &one);
    H5Tclose(en);
    H5Tclose(vlen);
    H5Tclose(padded);
    H5Tclose(fixed);
    H5Sclose(vec);
    H5Sclose(scalar);
    assert_true(H5Fclose(fid) >= 0);
}

static void test_snapshot(void **state)
{
    (void)state;
    compare_file(fx->tiny); /* a model */
    dq_model *m = dq_model_load(fx->tiny);
    assert_non_null(m);
    dq_plan *p = dq_plan_alloc(m, "DNA-TEQ");
    assert_non_null(p);
    char *plan = dq_test_path(fx->dir, "plan.h5");
    assert_int_equal(dq_plan_write(p, plan), DQ_OK);
    compare_file(plan); /* a plan */
    dq_plan_free(p);
    dq_model_free(m);

    char *odd = dq_test_path(fx->dir, "odd.h5");
    dq_h5 *f = dq_h5_create(odd, "dnateq-odd", 1);
    assert_non_null(f);
    const int64_t iv[3] = {1, -2, INT64_MAX};
    const double dv[2] = {0.1, -0.0};
    assert_int_equal(dq_h5_set_attr_ints(f, "/g/h", "ints", iv, 3), DQ_OK);
    assert_int_equal(dq_h5_set_attr_ints(f, "/g/h", "none", iv, 0), DQ_OK);
    assert_int_equal(dq_h5_set_attr_doubles(f, "/g", "doubles", dv, 2), DQ_OK);
    assert_int_equal(dq_h5_set_attr_str(f, "/g", "empty", ""), DQ_OK);
    assert_int_equal(dq_h5_set_attr_str(f, "/g", "utf8", "\xc3\xa9t\xc3\xa9"),
                     DQ_OK);
    assert_int_equal(dq_h5_write_ints(f, "/g/data", iv, 3), DQ_OK);
    assert_int_equal(dq_h5_set_attr_double(f, "/g/data", "scale", 2.5), DQ_OK);
    assert_int_equal(dq_h5_commit(f), DQ_OK);
    raw_attrs(odd);
    compare_file(odd); /* unusual attributes */
    free(odd);
    free(plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_model_inputs),
        cmocka_unit_test(test_plan_inputs),
    };
    /* DQ_TEST_FILTER=test_probe runs one group (e.g. to debug) */
    if (getenv("DQ_TEST_FILTER")) cmocka_set_test_filter(getenv("DQ_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
