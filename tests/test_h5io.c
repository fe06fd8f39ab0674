/*
 * test_h5io.c — the HDF5 tensor store: bit-identical round trips of
 * tensors and attributes, atomic writes (abort, a killed writer, an
 * aborted rewrite of an existing file), and validation of bad files
 * (corrupt superblock, truncation, wrong format / version / dtype / rank),
 * each giving the right status and a message that names the file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "fsutil.h"
#include "h5io.h"
#include "tensor.h"
#include "testutil.h"

#include <float.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    char *dir;
    char *path; /* dir/t.h5 */
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    fx->dir = dq_test_mkdtemp("h5io");
    fx->path = fx->dir ? dq_test_path(fx->dir, "t.h5") : NULL;
    *state = fx;
    return fx->path ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    int rc = dq_test_rmtree(fx->dir);
    free(fx->path);
    free(fx->dir);
    free(fx);
    return rc;
}

/* The message of the last error must name the file. */
static void assert_error_names(int status, int want, const char *path)
{
    assert_int_equal(status, want);
    assert_int_equal(dq_error_status(), want);
    assert_non_null(strstr(dq_error_message(), path));
}

/* A tensor of the given shape with seeded values spanning many binades,
 * plus the extremes of float32 (finite values only). */
static dq_tensor *random_tensor(const char *name, int rank,
                                const int64_t *shape, unsigned long seed)
{
    dq_tensor *t = dq_tensor_alloc(name, rank, shape);
    assert_non_null(t);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (int64_t i = 0; i < t->size; i++)
        t->data[i] = (float)(gsl_ran_gaussian(r, 1.0) *
                             pow(10.0, gsl_rng_uniform_int(r, 61) - 30.0));
    const float special[] = {0.0f, -0.0f, FLT_MAX, -FLT_MAX, FLT_MIN,
                             FLT_TRUE_MIN, 1.0f};
    for (int64_t i = 0; i < t->size && i < 7; i++) t->data[i] = special[i];
    gsl_rng_free(r);
    return t;
}

/* ---- round trip --------------------------------------------------------- */

static const int64_t shapes[][4] = {
    {0}, {7}, {3, 5}, {2, 3, 4}, {64, 3, 5, 5}, {0, 3}, {300, 17}};
static const int ranks[] = {0, 1, 2, 3, 4, 2, 2};
#define N_SHAPES 7

static void write_all(const char *path)
{
    dq_h5 *f = dq_h5_create(path, "dnateq-tensors", 1);
    assert_non_null(f);
    for (int i = 0; i < N_SHAPES; i++) {
        char obj[64];
        snprintf(obj, sizeof obj, "/tensors/t%d", i);
        dq_tensor *t = random_tensor("t", ranks[i], shapes[i], 100 + i);
        /* Odd tensors go through the chunked, compressed path. */
        assert_int_equal(dq_h5_write_tensor(f, obj, t, i % 2), DQ_OK);
        dq_tensor_free(t);
    }
    const char *s = "multi-line\n[run]\nseed = 1\nutf-8: \xc3\xa9\xe2\x82\xac";
    assert_int_equal(dq_h5_set_attr_str(f, "/", "config", s), DQ_OK);
    assert_int_equal(dq_h5_set_attr_str(f, "/tensors/t1", "kind", "weight"),
                     DQ_OK);
    assert_int_equal(dq_h5_set_attr_str(f, "/tensors/t1", "empty", ""), DQ_OK);
    assert_int_equal(dq_h5_set_attr_int(f, "/tensors/t1", "min64", INT64_MIN),
                     DQ_OK);
    assert_int_equal(dq_h5_set_attr_int(f, "/tensors/t1", "max64", INT64_MAX),
                     DQ_OK);
    assert_int_equal(dq_h5_set_attr_double(f, "/tensors/t1", "pi", M_PI),
                     DQ_OK);
    assert_int_equal(dq_h5_set_attr_double(f, "/tensors/t1", "negzero", -0.0),
                     DQ_OK);
    assert_int_equal(dq_h5_set_attr_double(f, "/tensors/t1", "tiny", 4.9e-324),
                     DQ_OK);
    const int64_t iv[3] = {-1, 0, 1LL << 40};
    const double dv[4] = {0.1, -2.5e300, 1.0 / 3.0, DBL_MIN};
    assert_int_equal(dq_h5_set_attr_ints(f, "/nodes/conv", "stride", iv, 3),
                     DQ_OK);
    assert_int_equal(dq_h5_set_attr_doubles(f, "/nodes/conv", "w", dv, 4),
                     DQ_OK);
    assert_int_equal(dq_h5_set_attr_ints(f, "/nodes/conv", "none", iv, 0),
                     DQ_OK);
    /* Setting again replaces. */
    assert_int_equal(dq_h5_set_attr_int(f, "/nodes/conv", "groups", 3), DQ_OK);
    assert_int_equal(dq_h5_set_attr_int(f, "/nodes/conv", "groups", 4), DQ_OK);
    const int64_t labels[5] = {9, 0, -7, INT64_MAX, 3};
    assert_int_equal(dq_h5_write_ints(f, "/ref/pred", labels, 5), DQ_OK);
    assert_int_equal(dq_h5_write_doubles(f, "/ref/err", dv, 4), DQ_OK);
    assert_int_equal(dq_h5_commit(f), DQ_OK);
}

static void test_roundtrip_tensors(void **state)
{
    fixture *fx = *state;
    write_all(fx->path);
    dq_h5 *f = dq_h5_open(fx->path, "dnateq-tensors", 1);
    assert_non_null(f);
    assert_string_equal(dq_h5_format(f), "dnateq-tensors");
    assert_int_equal(dq_h5_version(f), 1);
    for (int i = 0; i < N_SHAPES; i++) {
        char obj[64];
        snprintf(obj, sizeof obj, "/tensors/t%d", i);
        dq_tensor *want = random_tensor("t", ranks[i], shapes[i], 100 + i);
        dq_tensor *got = NULL;
        assert_int_equal(dq_h5_read_tensor(f, obj, &got), DQ_OK);
        assert_int_equal(got->rank, ranks[i]);
        assert_true(dq_shape_equal(got->rank, got->shape, ranks[i], shapes[i]));
        assert_int_equal(got->size, want->size);
        assert_string_equal(got->name, obj + strlen("/tensors/"));
        /* Bit-identical, including -0.0 and subnormals. */
        if (want->size)
            assert_memory_equal(got->data, want->data,
                                (size_t)want->size * sizeof(float));
        dq_tensor_free(got);
        dq_tensor_free(want);
    }
    char **names;
    int n;
    assert_int_equal(dq_h5_list(f, "/tensors", &names, &n), DQ_OK);
    assert_int_equal(n, N_SHAPES);
    assert_string_equal(names[0], "t0");
    assert_string_equal(names[6], "t6");
    dq_h5_list_free(names, n);
    assert_int_equal(dq_h5_is_group(f, "/tensors"), 1);
    assert_int_equal(dq_h5_is_group(f, "/tensors/t0"), 0);
    dq_h5_close(f);
}

static void test_roundtrip_attributes(void **state)
{
    fixture *fx = *state;
    write_all(fx->path);
    dq_h5 *f = dq_h5_open(fx->path, NULL, 1);
    assert_non_null(f);
    char *s = NULL;
    assert_int_equal(dq_h5_get_attr_str(f, "/", "created_by", &s), DQ_OK);
    assert_string_equal(s, dq_git_revision());
    free(s);
    assert_int_equal(dq_h5_get_attr_str(f, "/", "config", &s), DQ_OK);
    assert_string_equal(s, "multi-line\n[run]\nseed = 1\nutf-8: "
                           "\xc3\xa9\xe2\x82\xac");
    free(s);
    assert_int_equal(dq_h5_get_attr_str(f, "/tensors/t1", "kind", &s), DQ_OK);
    assert_string_equal(s, "weight");
    free(s);
    assert_int_equal(dq_h5_get_attr_str(f, "/tensors/t1", "empty", &s), DQ_OK);
    assert_string_equal(s, "");
    free(s);

    int64_t i64;
    double d;
    assert_int_equal(dq_h5_get_attr_int(f, "/tensors/t1", "min64", &i64), DQ_OK);
    assert_true(i64 == INT64_MIN);
    assert_int_equal(dq_h5_get_attr_int(f, "/tensors/t1", "max64", &i64), DQ_OK);
    assert_true(i64 == INT64_MAX);
    assert_int_equal(dq_h5_get_attr_double(f, "/tensors/t1", "pi", &d), DQ_OK);
    assert_true(d == M_PI);
    assert_int_equal(dq_h5_get_attr_double(f, "/tensors/t1", "negzero", &d),
                     DQ_OK);
    assert_true(d == 0.0 && signbit(d));
    assert_int_equal(dq_h5_get_attr_double(f, "/tensors/t1", "tiny", &d),
                     DQ_OK);
    assert_true(d == 4.9e-324);
    assert_int_equal(dq_h5_get_attr_int(f, "/nodes/conv", "groups", &i64),
                     DQ_OK);
    assert_int_equal(i64, 4);

    int64_t iv[8];
    double dv[8];
    int n = -1;
    assert_int_equal(dq_h5_get_attr_ints(f, "/nodes/conv", "stride", iv, 8, &n),
                     DQ_OK);
    assert_int_equal(n, 3);
    assert_true(iv[0] == -1 && iv[1] == 0 && iv[2] == 1LL << 40);
    assert_int_equal(dq_h5_get_attr_doubles(f, "/nodes/conv", "w", dv, 8, &n),
                     DQ_OK);
    assert_int_equal(n, 4);
    assert_true(dv[0] == 0.1 && dv[1] == -2.5e300 && dv[2] == 1.0 / 3.0 &&
                dv[3] == DBL_MIN);
    assert_int_equal(dq_h5_get_attr_ints(f, "/nodes/conv", "none", iv, 8, &n),
                     DQ_OK);
    assert_int_equal(n, 0);

    int64_t *lab;
    double *err;
    int64_t nl, ne;
    assert_int_equal(dq_h5_read_ints(f, "/ref/pred", &lab, &nl), DQ_OK);
    assert_int_equal(nl, 5);
    assert_true(lab[2] == -7 && lab[3] == INT64_MAX);
    assert_int_equal(dq_h5_read_doubles(f, "/ref/err", &err, &ne), DQ_OK);
    assert_int_equal(ne, 4);
    const double want[4] = {0.1, -2.5e300, 1.0 / 3.0, DBL_MIN};
    assert_memory_equal(err, want, sizeof want);
    free(lab);
    free(err);

    /* Introspection used by dnateq-inspect. */
    char **names;
    assert_int_equal(dq_h5_list_attrs(f, "/", &names, &n), DQ_OK);
    assert_int_equal(n, 4);
    assert_string_equal(names[0], "config");
    assert_string_equal(names[1], "created_by");
    assert_string_equal(names[2], "format");
    assert_string_equal(names[3], "version");
    dq_h5_list_free(names, n);
    dq_h5_kind kind;
    int64_t len;
    assert_int_equal(dq_h5_attr_info(f, "/nodes/conv", "w", &kind, &len), DQ_OK);
    assert_int_equal(kind, DQ_H5_FLOAT);
    assert_int_equal(len, 4);
    int elsize, rank;
    int64_t shape[DQ_MAX_RANK];
    assert_int_equal(dq_h5_dataset_info(f, "/ref/pred", &kind, &elsize, &rank,
                                        shape), DQ_OK);
    assert_true(kind == DQ_H5_INT && elsize == 8 && rank == 1 && shape[0] == 5);
    dq_h5_close(f);
}

/* ---- atomic writes ------------------------------------------------------ */

static void test_abort_leaves_nothing(void **state)
{
    fixture *fx = *state;
    char *tmp = dq_tmp_path(fx->path);
    dq_h5 *f = dq_h5_create(fx->path, "dnateq-tensors", 1);
    assert_non_null(f);
    dq_tensor *t = random_tensor("t", 2, (int64_t[]){10, 10}, 1);
    assert_int_equal(dq_h5_write_tensor(f, "/tensors/a", t, 0), DQ_OK);
    assert_true(dq_test_exists(tmp));
    assert_false(dq_test_exists(fx->path)); /* nothing final before commit */
    dq_h5_abort(f);
    assert_false(dq_test_exists(fx->path));
    assert_false(dq_test_exists(tmp));
    dq_tensor_free(t);
    free(tmp);
}

/* A writer killed mid-write never leaves a file under the final name. */
static void test_killed_writer(void **state)
{
    fixture *fx = *state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dq_h5 *f = dq_h5_create(fx->path, "dnateq-tensors", 1);
        dq_tensor *t = dq_tensor_calloc("t", 1, (int64_t[]){1000});
        if (f && t) dq_h5_write_tensor(f, "/tensors/a", t, 1);
        raise(SIGKILL);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_false(dq_test_exists(fx->path));
}

static void write_one(const char *path, float value)
{
    dq_h5 *f = dq_h5_create(path, "dnateq-tensors", 1);
    assert_non_null(f);
    dq_tensor *t = dq_tensor_alloc4("a", 1, 3, 0, 0, 0);
    for (int i = 0; i < 3; i++) t->data[i] = value;
    assert_int_equal(dq_h5_write_tensor(f, "/tensors/a", t, 0), DQ_OK);
    assert_int_equal(dq_h5_commit(f), DQ_OK);
    dq_tensor_free(t);
}

static float read_one(const char *path)
{
    dq_h5 *f = dq_h5_open(path, "dnateq-tensors", 1);
    assert_non_null(f);
    dq_tensor *t = NULL;
    assert_int_equal(dq_h5_read_tensor_rank(f, "/tensors/a", 1, &t), DQ_OK);
    float v = t->data[2];
    dq_tensor_free(t);
    dq_h5_close(f);
    return v;
}

/* Rewriting an existing file: until commit the old file stays intact and
 * readable; an abort keeps it; a commit replaces it. */
static void test_aborted_rewrite_keeps_old(void **state)
{
    fixture *fx = *state;
    char *tmp = dq_tmp_path(fx->path);
    write_one(fx->path, 1.5f);
    dq_h5 *f = dq_h5_create(fx->path, "dnateq-tensors", 1);
    assert_non_null(f);
    dq_tensor *t = random_tensor("a", 1, (int64_t[]){3}, 7);
    assert_int_equal(dq_h5_write_tensor(f, "/tensors/a", t, 0), DQ_OK);
    assert_true(read_one(fx->path) == 1.5f);
    dq_h5_abort(f);
    assert_false(dq_test_exists(tmp));
    assert_true(read_one(fx->path) == 1.5f);
    write_one(fx->path, -2.0f);
    assert_true(read_one(fx->path) == -2.0f);
    assert_false(dq_test_exists(tmp));
    dq_tensor_free(t);
    free(tmp);
}

/* ---- bad files ---------------------------------------------------------- */

static void copy_modified(const char *src, const char *dst, size_t len,
                          long flip)
{
    char *buf;
    size_t n;
    assert_int_equal(dq_test_read_file(src, &buf, &n), 0);
    assert_true(len <= n);
    if (flip >= 0) buf[flip] ^= 0xFF;
    assert_int_equal(dq_test_write_file(dst, buf, len), 0);
    free(buf);
}

static size_t file_size(const char *path)
{
    char *buf;
    size_t n;
    assert_int_equal(dq_test_read_file(path, &buf, &n), 0);
    free(buf);
    return n;
}

/* Open and read every tensor: either everything works or the failure is
 * DQ_EFORMAT naming the file.  Returns 1 when the open failed. */
static int try_read(const char *path)
{
    dq_error_clear();
    dq_h5 *f = dq_h5_open(path, "dnateq-tensors", 1);
    if (!f) {
        assert_error_names(dq_error_status(), DQ_EFORMAT, path);
        return 1;
    }
    for (int i = 0; i < N_SHAPES; i++) {
        char obj[64];
        dq_tensor *t = NULL;
        snprintf(obj, sizeof obj, "/tensors/t%d", i);
        int rc = dq_h5_read_tensor(f, obj, &t);
        if (rc != DQ_OK) assert_error_names(rc, DQ_EFORMAT, path);
        dq_tensor_free(t);
    }
    dq_h5_close(f);
    return 0;
}

static void test_corrupt_superblock(void **state)
{
    fixture *fx = *state;
    write_all(fx->path);
    char *bad = dq_test_path(fx->dir, "bad.h5");
    size_t n = file_size(fx->path);

    copy_modified(fx->path, bad, n, 1); /* the 'H' of the signature */
    assert_null(dq_h5_open(bad, NULL, 1));
    assert_error_names(dq_error_status(), DQ_EFORMAT, bad);
    assert_non_null(strstr(dq_error_message(), "not an HDF5 file"));

    copy_modified(fx->path, bad, n, 8); /* superblock version */
    assert_null(dq_h5_open(bad, NULL, 1));
    assert_error_names(dq_error_status(), DQ_EFORMAT, bad);
    assert_non_null(strstr(dq_error_message(), "corrupt"));

    /* Every single-byte flip of the 96-byte superblock: no crash, and any
     * failure is a DQ_EFORMAT naming the file. */
    int failed = 0;
    for (long off = 0; off < 96; off++) {
        copy_modified(fx->path, bad, n, off);
        failed += try_read(bad);
    }
    assert_true(failed >= 8); /* at least the signature bytes */
    free(bad);
}

static void test_truncated(void **state)
{
    fixture *fx = *state;
    write_all(fx->path);
    char *bad = dq_test_path(fx->dir, "short.h5");
    size_t n = file_size(fx->path);
    const size_t cuts[] = {0, 1, 8, 40, 96, 512, n / 3, n / 2, n - 100, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        copy_modified(fx->path, bad, cuts[i], -1);
        assert_int_equal(try_read(bad), 1);
    }
    free(bad);
}

static void test_wrong_format_and_version(void **state)
{
    fixture *fx = *state;
    dq_h5 *f = dq_h5_create(fx->path, "dnateq-model", 2);
    assert_non_null(f);
    assert_int_equal(dq_h5_commit(f), DQ_OK);

    assert_null(dq_h5_open(fx->path, "dnateq-tensors", 1));
    assert_error_names(dq_error_status(), DQ_EFORMAT, fx->path);
    assert_non_null(strstr(dq_error_message(),
                           "format is 'dnateq-model', expected "
                           "'dnateq-tensors'"));
    assert_null(dq_h5_open(fx->path, "dnateq-model", 1));
    assert_error_names(dq_error_status(), DQ_EFORMAT, fx->path);
    assert_non_null(strstr(dq_error_message(), "version 2"));
    f = dq_h5_open(fx->path, "dnateq-model", 2);
    assert_non_null(f);
    dq_h5_close(f);

    /* Version 0 is never valid. */
    f = dq_h5_create(fx->path, "dnateq-model", 0);
    assert_non_null(f);
    assert_int_equal(dq_h5_commit(f), DQ_OK);
    assert_null(dq_h5_open(fx->path, "dnateq-model", 3));
    assert_error_names(dq_error_status(), DQ_EFORMAT, fx->path);

    /* An HDF5 file that is not dnateq's (no format attribute). */
    hid_t id = H5Fcreate(fx->path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(id >= 0);
    H5Fclose(id);
    assert_null(dq_h5_open(fx->path, NULL, 1));
    assert_error_names(dq_error_status(), DQ_EFORMAT, fx->path);
    assert_non_null(strstr(dq_error_message(), "not a dnateq file"));

    /* Not HDF5 at all; missing file. */
    assert_int_equal(dq_test_write_file(fx->path, "[run]\nseed = 1\n", 15), 0);
    assert_null(dq_h5_open(fx->path, NULL, 1));
    assert_error_names(dq_error_status(), DQ_EFORMAT, fx->path);
    char *missing = dq_test_path(fx->dir, "missing.h5");
    assert_null(dq_h5_open(missing, NULL, 1));
    assert_error_names(dq_error_status(), DQ_EIO, missing);
    free(missing);
}

static void test_wrong_dtype_and_rank(void **state)
{
    fixture *fx = *state;
    dq_h5 *f = dq_h5_create(fx->path, "dnateq-tensors", 1);
    assert_non_null(f);
    const int64_t iv[4] = {1, 2, 3, 4};
    const double dv[4] = {1, 2, 3, 4};
    assert_int_equal(dq_h5_write_ints(f, "/tensors/ints", iv, 4), DQ_OK);
    assert_int_equal(dq_h5_write_doubles(f, "/tensors/f64", dv, 4), DQ_OK);
    dq_tensor *t = random_tensor("m", 2, (int64_t[]){3, 4}, 3);
    assert_int_equal(dq_h5_write_tensor(f, "/tensors/m", t, 0), DQ_OK);
    assert_int_equal(dq_h5_set_attr_str(f, "/tensors/m", "kind", "weight"),
                     DQ_OK);
    assert_int_equal(dq_h5_commit(f), DQ_OK);
    dq_tensor_free(t);

    f = dq_h5_open(fx->path, "dnateq-tensors", 1);
    assert_non_null(f);
    dq_tensor *out = (dq_tensor *)&out; /* must be reset to NULL */
    assert_error_names(dq_h5_read_tensor(f, "/tensors/ints", &out), DQ_EFORMAT,
                       fx->path);
    assert_null(out);
    assert_non_null(strstr(dq_error_message(), "'/tensors/ints'"));
    assert_non_null(strstr(dq_error_message(), "wrong dtype"));
    assert_error_names(dq_h5_read_tensor(f, "/tensors/f64", &out), DQ_EFORMAT,
                       fx->path);
    assert_error_names(dq_h5_read_tensor_rank(f, "/tensors/m", 1, &out),
                       DQ_EFORMAT, fx->path);
    assert_non_null(strstr(dq_error_message(), "rank 2, expected 1"));
    assert_null(out);
    assert_error_names(dq_h5_read_tensor(f, "/tensors/none", &out), DQ_EFORMAT,
                       fx->path);
    assert_non_null(strstr(dq_error_message(), "missing"));
    assert_error_names(dq_h5_read_tensor(f, "/nowhere/deep/x", &out),
                       DQ_EFORMAT, fx->path);

    int64_t i64;
    char *s;
    assert_error_names(dq_h5_get_attr_int(f, "/tensors/m", "kind", &i64),
                       DQ_EFORMAT, fx->path);
    assert_error_names(dq_h5_get_attr_str(f, "/tensors/m", "layer", &s),
                       DQ_EFORMAT, fx->path);
    int64_t *v;
    int64_t n;
    assert_error_names(dq_h5_read_ints(f, "/tensors/m", &v, &n), DQ_EFORMAT,
                       fx->path);
    dq_h5_close(f);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_roundtrip_tensors),
        T(test_roundtrip_attributes),
        T(test_abort_leaves_nothing),
        T(test_killed_writer),
        T(test_aborted_rewrite_keeps_old),
        T(test_corrupt_superblock),
        T(test_truncated),
        T(test_wrong_format_and_version),
        T(test_wrong_dtype_and_rank),
    };
    return cmocka_run_group_tests_name("h5io", tests, NULL, NULL);
}
