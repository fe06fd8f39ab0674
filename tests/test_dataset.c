/*
 * test_dataset.c — the Fashion-MNIST idx reader and splits, on Debian's
 * real files (60,000 / 10,000 images, 6,000 / 1,000 per class) and on
 * broken copies made with zlib in a scratch directory: truncated .gz
 * (short payload, cut compressed stream), trailing data, bad CRC, bad
 * magic, bad dimensions, labels out of range, image/label count mismatch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dataset.h"
#include "error.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static const char *real_dir(void) { return dq_dataset_default_dir(); }

static char *real_file(const char *name)
{
    return dq_test_path(real_dir(), name);
}

/* ---- real files --------------------------------------------------------- */

static void test_real_files(void **state)
{
    (void)state;
    const char *img[2] = {"train-images-idx3-ubyte.gz",
                          "t10k-images-idx3-ubyte.gz"};
    const char *lab[2] = {"train-labels-idx1-ubyte.gz",
                          "t10k-labels-idx1-ubyte.gz"};
    const int64_t want[2] = {60000, 10000};
    for (int f = 0; f < 2; f++) {
        char *ip = real_file(img[f]), *lp = real_file(lab[f]);
        uint8_t *px, *lb;
        int64_t ni, nl;
        assert_int_equal(dq_idx_read_images(ip, &px, &ni), DQ_OK);
        assert_int_equal(dq_idx_read_labels(lp, &lb, &nl), DQ_OK);
        assert_int_equal(ni, want[f]);
        assert_int_equal(nl, want[f]);
        int64_t counts[10] = {0};
        for (int64_t i = 0; i < nl; i++) counts[lb[i]]++;
        for (int c = 0; c < 10; c++) assert_int_equal(counts[c], want[f] / 10);
        free(px);
        free(lb);
        free(ip);
        free(lp);
    }
}

static void test_split_sizes(void **state)
{
    (void)state;
    const char *names[4] = {"train", "val", "test", "calib"};
    const int64_t sizes[4] = {55000, 5000, 10000, 1000};
    const int64_t first[4] = {0, 55000, 0, -1};
    uint8_t *train_labels;
    int64_t n;
    char *lp = real_file("train-labels-idx1-ubyte.gz");
    assert_int_equal(dq_idx_read_labels(lp, &train_labels, &n), DQ_OK);
    free(lp);
    for (int s = 0; s < 4; s++) {
        dq_dataset *d = dq_dataset_load(NULL, names[s], 1000, 1);
        assert_non_null(d);
        assert_string_equal(d->split, names[s]);
        assert_int_equal(d->n, sizes[s]);
        assert_int_equal(d->images->rank, 4);
        assert_true(dq_shape_equal(4, d->images->shape, 4,
                                   (int64_t[]){sizes[s], 1, 28, 28}));
        int64_t counts[DQ_FMNIST_CLASSES], total = 0;
        dq_dataset_class_counts(d, counts);
        for (int c = 0; c < DQ_FMNIST_CLASSES; c++) total += counts[c];
        assert_int_equal(total, sizes[s]);
        if (first[s] >= 0)
            for (int64_t i = 0; i < d->n; i++)
                assert_int_equal(d->index[i], first[s] + i);
        if (strcmp(names[s], "test") != 0) /* labels from the train file */
            for (int64_t i = 0; i < d->n; i++)
                assert_int_equal(d->labels[i], train_labels[d->index[i]]);
        if (strcmp(names[s], "test") == 0)
            for (int c = 0; c < DQ_FMNIST_CLASSES; c++)
                assert_int_equal(counts[c], 1000);
        dq_dataset_free(d);
    }
    free(train_labels);
}

/* Normalisation: train-split statistics, applied in float32 exactly as
 * data/zoo/fmnist.py does; the reference mean/std are what that script
 * prints (computed by numpy independently of this code). */
static void test_normalisation(void **state)
{
    (void)state;
    double mean, std;
    assert_int_equal(dq_dataset_train_stats(NULL, &mean, &std), DQ_OK);
    assert_true(fabs(mean - 0.28581730555858714) < 1e-12);
    assert_true(fabs(std - 0.3529372062613636) < 1e-12);
    assert_true((float)mean == 0.2858173f);
    assert_true((float)std == 0.3529372f);

    dq_dataset *d = dq_dataset_load(NULL, "val", 0, 0);
    assert_non_null(d);
    assert_true(d->mean == mean && d->std == std);
    uint8_t *px;
    int64_t n;
    char *ip = real_file("train-images-idx3-ubyte.gz");
    assert_int_equal(dq_idx_read_images(ip, &px, &n), DQ_OK);
    for (int64_t i = 0; i < d->n; i += 97)
        for (int j = 0; j < DQ_FMNIST_PIXELS; j++) {
            float p = px[(55000 + i) * DQ_FMNIST_PIXELS + j];
            float want = (p / 255.0f - (float)mean) / (float)std;
            assert_true(d->images->data[i * DQ_FMNIST_PIXELS + j] == want);
        }
    free(px);
    free(ip);
    dq_dataset_free(d);

    /* Over the train split the normalised pixels have mean 0 and std 1. */
    d = dq_dataset_load(NULL, "train", 0, 0);
    assert_non_null(d);
    dq_tensor_stats st;
    dq_tensor_stats_compute(d->images->data, d->images->size, &st);
    assert_true(fabs(st.mean) < 1e-6);
    assert_true(fabs(st.std - 1.0) < 1e-6);
    dq_dataset_free(d);
}

static void test_calib_seeded(void **state)
{
    (void)state;
    dq_dataset *a = dq_dataset_load(NULL, "calib", 1000, 1);
    dq_dataset *b = dq_dataset_load(NULL, "calib", 1000, 1);
    dq_dataset *c = dq_dataset_load(NULL, "calib", 1000, 2);
    dq_dataset *big = dq_dataset_load(NULL, "calib", 55000, 5);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(big);
    assert_memory_equal(a->index, b->index, 1000 * sizeof *a->index);
    assert_memory_equal(a->labels, b->labels, 1000);
    assert_memory_equal(a->images->data, b->images->data,
                        1000 * DQ_FMNIST_PIXELS * sizeof(float));
    int same = 0;
    for (int i = 0; i < 1000; i++) same += a->index[i] == c->index[i];
    assert_true(same < 1000);
    /* Sorted, distinct, inside train (never val or test). */
    for (int i = 0; i < 1000; i++) {
        assert_in_range(a->index[i], 0, DQ_FMNIST_TRAIN - 1);
        if (i) assert_true(a->index[i] > a->index[i - 1]);
    }
    for (int64_t i = 0; i < big->n; i++) assert_int_equal(big->index[i], i);
    int64_t *idx;
    assert_int_equal(dq_dataset_calib_indices(1000, 1, &idx), DQ_OK);
    assert_memory_equal(idx, a->index, 1000 * sizeof *idx);
    free(idx);
    dq_dataset_free(a);
    dq_dataset_free(b);
    dq_dataset_free(c);
    dq_dataset_free(big);

    assert_null(dq_dataset_load(NULL, "calib", 0, 1));
    assert_int_equal(dq_error_status(), DQ_EINVAL);
    assert_null(dq_dataset_load(NULL, "calib", 55001, 1));
    assert_null(dq_dataset_load(NULL, "holdout", 10, 1));
    assert_non_null(strstr(dq_error_message(), "unknown split 'holdout'"));
}

static void test_default_dir_env(void **state)
{
    (void)state;
    const char *old = getenv("DNATEQ_DATA");
    char *saved = old ? strdup(old) : NULL;
    setenv("DNATEQ_DATA", "/some/where", 1);
    assert_string_equal(dq_dataset_default_dir(), "/some/where");
    assert_null(dq_dataset_load(NULL, "test", 0, 0));
    assert_non_null(strstr(dq_error_message(),
                           "/some/where/train-images-idx3-ubyte.gz"));
    setenv("DNATEQ_DATA", "", 1);
    assert_string_equal(dq_dataset_default_dir(), DQ_FMNIST_DEFAULT_DIR);
    unsetenv("DNATEQ_DATA");
    assert_string_equal(dq_dataset_default_dir(), DQ_FMNIST_DEFAULT_DIR);
    if (saved) setenv("DNATEQ_DATA", saved, 1);
    free(saved);
}

/* ---- broken copies ------------------------------------------------------ */

typedef dq_test_fixture fixture;

static int setup(void **state)
{
    return dq_test_fixture_setup(state, "dataset");
}

static int teardown(void **state)
{
    dq_dataset_cache_clear();
    return dq_test_fixture_teardown(state);
}

/* A scratch copy of the dataset: symlinks to the real files, except
 * those the test then replaces. */
static void link_real(const fixture *fx)
{
    const char *names[4] = {
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    for (int i = 0; i < 4; i++) {
        char *src = real_file(names[i]), *dst = dq_test_path(fx->dir, names[i]);
        assert_int_equal(symlink(src, dst), 0);
        free(src);
        free(dst);
    }
}

/* Replace dir/name with a gzip file holding data[0..len). */
static char *write_gz(const fixture *fx, const char *name, const void *data,
                      size_t len)
{
    char *path = dq_test_path(fx->dir, name);
    unlink(path);
    gzFile g = gzopen(path, "wb1");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(g), Z_OK);
    return path;
}

/* The whole decompressed content of a real file. */
static unsigned char *real_payload(const char *name, size_t *len)
{
    char *path = real_file(name);
    gzFile g = gzopen(path, "rb");
    assert_non_null(g);
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    int r;
    while ((r = gzread(g, buf + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)r;
        if (n == cap) buf = realloc(buf, cap *= 2);
        assert_non_null(buf);
    }
    gzclose(g);
    free(path);
    *len = n;
    return buf;
}

static void expect_load_fails(const fixture *fx, const char *split,
                              const char *path, const char *what)
{
    dq_error_clear();
    assert_null(dq_dataset_load(fx->dir, split, 10, 1));
    assert_int_equal(dq_error_status(), DQ_EFORMAT);
    assert_non_null(strstr(dq_error_message(), path));
    assert_non_null(strstr(dq_error_message(), what));
}

static void test_truncated_gz(void **state)
{
    fixture *fx = *state;
    link_real(fx);
    const char *name = "t10k-images-idx3-ubyte.gz";
    size_t len;
    unsigned char *raw = real_payload(name, &len);
    assert_int_equal(len, 16 + 10000 * 784);

    /* A valid gzip stream whose payload is shorter than the header says. */
    char *p = write_gz(fx, name, raw, 16 + 5000 * 784 + 100);
    expect_load_fails(fx, "test", p, "truncated");
    assert_non_null(strstr(dq_error_message(),
                           "ends after 3920100 of 7840000 bytes"));
    /* Cut inside the header. */
    free(p);
    p = write_gz(fx, name, raw, 10);
    expect_load_fails(fx, "test", p, "truncated");
    /* More data than the header declares. */
    free(p);
    unsigned char *longer = calloc(len + 784, 1);
    memcpy(longer, raw, len);
    p = write_gz(fx, name, longer, len + 784);
    expect_load_fails(fx, "test", p, "data continues after the 10000 images");
    free(longer);

    /* The compressed file itself cut short (a partial download). */
    char *src = real_file(name), *gz;
    size_t gzlen;
    assert_int_equal(dq_test_read_file(src, &gz, &gzlen), 0);
    unlink(p);
    assert_int_equal(dq_test_write_file(p, gz, gzlen * 3 / 5), 0);
    expect_load_fails(fx, "test", p, "truncated");
    /* ... and with a broken CRC in the gzip trailer. */
    gz[gzlen - 6] ^= 0x5a;
    assert_int_equal(dq_test_write_file(p, gz, gzlen), 0);
    expect_load_fails(fx, "test", p, "corrupt gzip data");

    /* The train split does not read the t10k files. */
    dq_dataset *d = dq_dataset_load(fx->dir, "val", 0, 0);
    assert_non_null(d);
    dq_dataset_free(d);
    free(gz);
    free(src);
    free(p);
    free(raw);
}

/* Small hand-made idx files. */
static void idx_header(unsigned char *b, uint32_t magic, uint32_t n,
                       uint32_t rows, uint32_t cols)
{
    const uint32_t w[4] = {magic, n, rows, cols};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++) b[4 * i + k] = (unsigned char)(w[i] >> (24 - 8 * k));
}

static void test_bad_headers_and_labels(void **state)
{
    fixture *fx = *state;
    unsigned char buf[16 + 3 * 784] = {0};
    uint8_t *out;
    int64_t n;

    idx_header(buf, 2052, 3, 28, 28);
    char *p = write_gz(fx, "img.gz", buf, sizeof buf);
    assert_int_equal(dq_idx_read_images(p, &out, &n), DQ_EFORMAT);
    assert_non_null(strstr(dq_error_message(), p));
    assert_non_null(strstr(dq_error_message(), "bad magic 2052 (expected 2051"));
    assert_null(out);

    idx_header(buf, 2051, 3, 28, 27);
    free(p);
    p = write_gz(fx, "img.gz", buf, sizeof buf);
    assert_int_equal(dq_idx_read_images(p, &out, &n), DQ_EFORMAT);
    assert_non_null(strstr(dq_error_message(), "images are 28x27"));

    idx_header(buf, 2051, 3, 28, 28);
    free(p);
    p = write_gz(fx, "img.gz", buf, sizeof buf);
    assert_int_equal(dq_idx_read_images(p, &out, &n), DQ_OK);
    assert_int_equal(n, 3);
    free(out);
    /* A labels file is not an images file, and the other way round. */
    assert_int_equal(dq_idx_read_labels(p, &out, &n), DQ_EFORMAT);
    assert_non_null(strstr(dq_error_message(), "bad magic 2051 (expected 2049"));

    unsigned char lab[8 + 5] = {0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 10, 3, 4};
    char *lp = write_gz(fx, "lab.gz", lab, sizeof lab);
    assert_int_equal(dq_idx_read_labels(lp, &out, &n), DQ_EFORMAT);
    assert_non_null(strstr(dq_error_message(), lp));
    assert_non_null(strstr(dq_error_message(),
                           "label 10 of item 2 is out of range 0..9"));
    lab[10] = 9;
    free(lp);
    lp = write_gz(fx, "lab.gz", lab, sizeof lab);
    assert_int_equal(dq_idx_read_labels(lp, &out, &n), DQ_OK);
    assert_int_equal(n, 5);
    assert_int_equal(out[2], 9);
    free(out);

    char *missing = dq_test_path(fx->dir, "missing.gz");
    assert_int_equal(dq_idx_read_labels(missing, &out, &n), DQ_EIO);
    assert_non_null(strstr(dq_error_message(), missing));
    free(missing);
    free(lp);
    free(p);
}

/* In a dataset directory: a bad magic, and counts that disagree. */
static void test_bad_files_in_dir(void **state)
{
    fixture *fx = *state;
    link_real(fx);
    unsigned char lab[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3};
    char *lp = write_gz(fx, "t10k-labels-idx1-ubyte.gz", lab, sizeof lab);
    char *ip = dq_test_path(fx->dir, "t10k-images-idx3-ubyte.gz");
    expect_load_fails(fx, "test", ip, "10000 images but");
    assert_non_null(strstr(dq_error_message(), lp));

    unsigned char img[16 + 3 * 784] = {0};
    idx_header(img, 2051, 3, 28, 28);
    free(ip);
    ip = write_gz(fx, "t10k-images-idx3-ubyte.gz", img, sizeof img);
    expect_load_fails(fx, "test", ip, "3 images, expected 10000");

    lab[3] = 0; /* magic 2048 */
    free(lp);
    lp = write_gz(fx, "train-labels-idx1-ubyte.gz", lab, sizeof lab);
    expect_load_fails(fx, "val", lp, "bad magic 2048");
    free(lp);
    free(ip);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_files),
        cmocka_unit_test(test_split_sizes),
        cmocka_unit_test(test_normalisation),
        cmocka_unit_test(test_calib_seeded),
        cmocka_unit_test(test_default_dir_env),
        T(test_truncated_gz),
        T(test_bad_headers_and_labels),
        T(test_bad_files_in_dir),
    };
    int rc = cmocka_run_group_tests_name("dataset", tests, NULL, NULL);
    dq_dataset_cache_clear();
    return rc;
}
