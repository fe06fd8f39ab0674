/*
 * test_badinput.c — the bad-input battery: the real drivers (the sanitizer
 * builds in build/san/bin, run from the repository root as subprocesses)
 * on broken HDF5 files, idx .gz files, tensors, configs and plans.
 *
 * Every bad input is made here from a valid one (the tiny test models of
 * testmodels.h, a dump the dump driver writes of one, Debian's
 * Fashion-MNIST files, an FP32 plan), so nothing is committed.  Each case
 * asserts that the driver
 *   - exits with a non-zero status (and was not killed by a signal),
 *   - prints "dnateq: " with the file and the problem on stderr,
 *   - leaves no file (not even a .tmp) in its fresh --out directory,
 *   - and that no sanitizer reported anything.
 * Tensors that are unusual but valid (all zeros, a documented exact result;
 * a single element; denormals) must instead succeed, with those exact
 * results.  The crashes the fuzzers found (tests/fuzz/) are cases here
 * too, made from valid bytes: corrupt HDF5 global heaps and dataspaces
 * through the drivers, and an over-long continued config value through
 * the config library.  The number of bad inputs tried is printed at the
 * end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli.h"
#include "config.h"
#include "dataset.h"
#include "error.h"
#include "fsutil.h"
#include "graph.h"
#include "h5io.h"
#include "plan.h"
#include "testmodels.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define BIN(name) "build/san/bin/dnateq-" name
#define MAX_ARGS 40

typedef struct {
    char *dir;    /* scratch root */
    char *model;  /* tiny28: the valid model (28x28 inputs) */
    char *dump;   /* dump of it, <dir>/dump/tiny.h5 */
    int n_cases;  /* bad inputs tried */
    int n_valid;  /* unusual but valid inputs tried */
} fixture;

static fixture *fx;

/* ---- running a driver -------------------------------------------------- */

/* A fresh, empty output directory (malloc()ed). */
static char *fresh_out(void)
{
    static int n;
    char name[32];
    snprintf(name, sizeof name, "out-%d", n++);
    char *out = dq_test_path(fx->dir, name);
    assert_non_null(out);
    assert_int_equal(dq_mkdirs(out), DQ_OK);
    return out;
}

/* Run "cmd" (words separated by single spaces; "@OUT" stands for a fresh
 * output directory, *out receives it).  Returns the status; *err gets
 * stderr. */
static int run_driver(const char *cmd, char **out, char **err)
{
    *out = fresh_out();
    char *line = dq_test_replace(cmd, "@OUT", *out), *argv[MAX_ARGS];
    assert_true(dq_test_split(line, argv, MAX_ARGS) > 0);
    int st = dq_test_spawn(argv, NULL, err);
    free(line);
    return st;
}

static void assert_no_sanitizer(const char *err, const char *cmd)
{
    if (strstr(err, "Sanitizer") || strstr(err, "runtime error:"))
        fail_msg("sanitizer report from: %s\n%s", cmd, err);
}

/* want: substrings that must all appear; an entry "a|b" accepts either. */
static int has_all(const char *text, const char *const *want)
{
    for (; *want; want++) {
        if (!**want) continue; /* nothing asked */
        char alt[512];
        snprintf(alt, sizeof alt, "%s", *want);
        int found = 0;
        for (char *s = strtok(alt, "|"); s && !found; s = strtok(NULL, "|"))
            found = strstr(text, s) != NULL;
        if (!found) return 0;
    }
    return 1;
}

/* The case must fail cleanly: see the file comment. */
static void expect_bad_v(const char *cmd, const char *const *want)
{
    char *out = NULL, *err = NULL, *entry = NULL;
    int st = run_driver(cmd, &out, &err);
    fx->n_cases++;
    assert_no_sanitizer(err, cmd);
    if (st <= 0 || st >= 128)
        fail_msg("status %d (expected a non-zero exit) from: %s\n%s", st, cmd,
                 err);
    if (!strstr(err, "dnateq: ") || !has_all(err, want))
        fail_msg("unclear message from: %s\n%s", cmd, err);
    int n = dq_test_count_files(out, &entry);
    if (n != 0)
        fail_msg("%d files (e.g. %s) left under --out by: %s", n,
                 entry ? entry : "?", cmd);
    free(entry);
    free(err);
    free(out);
}

#define expect_bad(cmd, ...)                                                  \
    expect_bad_v((cmd), (const char *const[]){__VA_ARGS__, NULL})

/* A valid unusual input: exit 0, no sanitizer report; returns the --out
 * directory (malloc()ed) for the caller to check the results. */
static char *expect_ok(const char *cmd)
{
    char *out = NULL, *err = NULL;
    int st = run_driver(cmd, &out, &err);
    fx->n_valid++;
    assert_no_sanitizer(err, cmd);
    if (st != 0) fail_msg("status %d from: %s\n%s", st, cmd, err);
    free(err);
    return out;
}

/* ---- HDF5 copies with one change ------------------------------------------ */

typedef enum {
    MU_NONE,
    MU_ATTR_INT,   /* attribute name of obj becomes the integer value */
    MU_ATTR_STR,   /* ... the string str */
    MU_DATA_INTS,  /* dataset obj is stored as int64 (wrong dtype) */
    MU_DATA_RANK1, /* dataset obj is stored flattened (wrong rank) */
    MU_DATA_SIZE,  /* dataset obj becomes a 1-D tensor of n elements */
    MU_DATA_SET,   /* element n of dataset obj becomes value; n < 0: all */
    MU_RENAME      /* object obj is copied as str */
} mu_kind;

typedef struct {
    mu_kind kind;
    const char *obj, *name, *str;
    double value;
    int64_t n;
} mutation;

static void copy_attrs(dq_h5 *in, dq_h5 *out, const char *src,
                       const char *dst, const mutation *mu)
{
    char **names = NULL;
    int n = 0;
    assert_int_equal(dq_h5_list_attrs(in, src, &names, &n), DQ_OK);
    for (int i = 0; i < n; i++) {
        const char *a = names[i];
        dq_h5_kind kind;
        int64_t len = 0;
        assert_int_equal(dq_h5_attr_info(in, src, a, &kind, &len), DQ_OK);
        int hit = strcmp(src, mu->obj) == 0 && mu->name &&
                  strcmp(a, mu->name) == 0;
        if (hit && mu->kind == MU_ATTR_INT) {
            assert_int_equal(dq_h5_set_attr_int(out, dst, a, (int64_t)mu->value),
                             DQ_OK);
        } else if (hit && mu->kind == MU_ATTR_STR) {
            assert_int_equal(dq_h5_set_attr_str(out, dst, a, mu->str), DQ_OK);
        } else if (kind == DQ_H5_STRING) {
            char *s = NULL;
            assert_int_equal(dq_h5_get_attr_str(in, src, a, &s), DQ_OK);
            assert_int_equal(dq_h5_set_attr_str(out, dst, a, s), DQ_OK);
            free(s);
        } else if (kind == DQ_H5_INT) {
            int64_t v[64];
            int k = 0;
            assert_true(len <= 64);
            assert_int_equal(dq_h5_get_attr_ints(in, src, a, v, 64, &k), DQ_OK);
            assert_int_equal(k == 1 ? dq_h5_set_attr_int(out, dst, a, v[0])
                                    : dq_h5_set_attr_ints(out, dst, a, v, k),
                             DQ_OK);
        } else {
            double v[64];
            int k = 0;
            assert_true(kind == DQ_H5_FLOAT && len <= 64);
            assert_int_equal(dq_h5_get_attr_doubles(in, src, a, v, 64, &k),
                             DQ_OK);
            assert_int_equal(k == 1 ? dq_h5_set_attr_double(out, dst, a, v[0])
                                    : dq_h5_set_attr_doubles(out, dst, a, v, k),
                             DQ_OK);
        }
    }
    dq_h5_list_free(names, n);
}

/* Write float tensor t as dst, changed as mu says when it is mu's. */
static void write_float(dq_h5 *out, const char *src, const char *dst,
                        dq_tensor *t, const mutation *mu)
{
    int hit = strcmp(src, mu->obj) == 0;
    if (hit && mu->kind == MU_DATA_SET)
        for (int64_t i = 0; i < t->size; i++)
            if (mu->n < 0 || i == mu->n) t->data[i] = (float)mu->value;
    if (hit && mu->kind == MU_DATA_INTS) {
        int64_t *v = calloc((size_t)t->size + 1, sizeof *v);
        assert_non_null(v);
        for (int64_t i = 0; i < t->size; i++) v[i] = (int64_t)t->data[i];
        assert_int_equal(dq_h5_write_ints(out, dst, v, t->size), DQ_OK);
        free(v);
        return;
    }
    dq_tensor *w = t;
    if (hit && (mu->kind == MU_DATA_RANK1 || mu->kind == MU_DATA_SIZE)) {
        int64_t n = mu->kind == MU_DATA_SIZE ? mu->n : t->size;
        w = dq_tensor_alloc(t->name, 1, &n);
        assert_non_null(w);
        for (int64_t i = 0; i < n; i++) w->data[i] = t->data[i % t->size];
    }
    assert_int_equal(dq_h5_write_tensor(out, dst, w, 0), DQ_OK);
    if (w != t) dq_tensor_free(w);
}

static void copy_dataset(dq_h5 *in, dq_h5 *out, const char *src,
                         const char *dst, const mutation *mu)
{
    dq_h5_kind kind;
    int elsize, rank;
    int64_t shape[DQ_MAX_RANK], n = 0;
    assert_int_equal(dq_h5_dataset_info(in, src, &kind, &elsize, &rank, shape),
                     DQ_OK);
    if (kind == DQ_H5_FLOAT && elsize == 4) {
        dq_tensor *t = NULL;
        assert_int_equal(dq_h5_read_tensor(in, src, &t), DQ_OK);
        write_float(out, src, dst, t, mu);
        dq_tensor_free(t);
    } else if (kind == DQ_H5_INT) {
        int64_t *v = NULL;
        assert_int_equal(dq_h5_read_ints(in, src, &v, &n), DQ_OK);
        assert_int_equal(dq_h5_write_ints(out, dst, v, n), DQ_OK);
        free(v);
    } else {
        double *v = NULL;
        assert_int_equal(dq_h5_read_doubles(in, src, &v, &n), DQ_OK);
        assert_int_equal(dq_h5_write_doubles(out, dst, v, n), DQ_OK);
        free(v);
    }
}

/* Copy group src of in (recursively, with attributes) to dst of out. */
static void copy_group(dq_h5 *in, dq_h5 *out, const char *src,
                       const char *dst, const mutation *mu)
{
    char **names = NULL;
    int n = 0;
    assert_int_equal(dq_h5_list(in, src, &names, &n), DQ_OK);
    for (int i = 0; i < n; i++) {
        char s[512], d[512];
        snprintf(s, sizeof s, "%s/%s", strcmp(src, "/") ? src : "", names[i]);
        snprintf(d, sizeof d, "%s/%s", strcmp(dst, "/") ? dst : "", names[i]);
        if (mu->kind == MU_RENAME && strcmp(s, mu->obj) == 0)
            snprintf(d, sizeof d, "%s", mu->str);
        if (dq_h5_is_group(in, s) == 1) {
            assert_int_equal(dq_h5_mkgroup(out, d), DQ_OK);
            copy_attrs(in, out, s, d, mu);
            copy_group(in, out, s, d, mu);
        } else {
            copy_dataset(in, out, s, d, mu);
            copy_attrs(in, out, s, d, mu);
        }
    }
    dq_h5_list_free(names, n);
}

/* Copy src to dst (a new path under the scratch dir, malloc()ed) with
 * one mutation. */
static char *h5_mutant(const char *src, const char *name, mutation mu)
{
    char *dst = dq_test_path(fx->dir, name);
    assert_non_null(dst);
    dq_h5 *in = dq_h5_open(src, NULL, 1);
    if (!in) fail_msg("%s", dq_error_message());
    dq_h5 *out = dq_h5_create(dst, dq_h5_format(in), dq_h5_version(in));
    assert_non_null(out);
    copy_attrs(in, out, "/", "/", &mu);
    copy_group(in, out, "/", "/", &mu);
    dq_h5_close(in);
    assert_int_equal(dq_h5_commit(out), DQ_OK);
    return dst;
}

/* ---- fixture ---------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    fx = calloc(1, sizeof *fx);
    if (!fx || !(fx->dir = dq_test_mkdtemp("badinput"))) return -1;
    fx->model = dq_test_path(fx->dir, "tiny28.h5");
    fx->dump = dq_test_path(fx->dir, "dump/tiny.h5");
    if (!fx->model || !fx->dump || tiny28_write(fx->model) != DQ_OK) return -1;
    char cmd[2048], *err = NULL;
    snprintf(cmd, sizeof cmd, BIN("dump") " --model %s --set dump.dir=%s/dump "
             "--set run.calib_size=48 --set dump.max_samples=4000 -q",
             fx->model, fx->dir);
    char buf[2048], *argv[MAX_ARGS];
    snprintf(buf, sizeof buf, "%s", cmd);
    if (dq_test_split(buf, argv, MAX_ARGS) <= 0) return -1;
    int st = dq_test_spawn(argv, NULL, &err);
    if (st != 0) fprintf(stderr, "setup: %s: %s\n", cmd, err);
    free(err);
    return st == 0 && dq_test_exists(fx->dump) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    printf("badinput: %d bad inputs tried, %d unusual valid inputs\n",
           fx->n_cases, fx->n_valid);
    int rc = dq_test_rmtree(fx->dir);
    free(fx->model);
    free(fx->dump);
    free(fx->dir);
    free(fx);
    return rc;
}

/* ---- HDF5 model files -------------------------------------------------------- */

/* dnateq-dump on model path, writing into the fresh --out. */
static void dump_bad(const char *path, const char *const *want)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, BIN("dump") " --model %s --out @OUT --set "
             "dump.dir=@OUT --set run.calib_size=16 -q", path);
    const char *w[8] = {path};
    for (int i = 0; want[i]; i++) w[i + 1] = want[i];
    expect_bad_v(cmd, w);
}

#define dump_expect(path, ...)                                                \
    dump_bad((path), (const char *const[]){__VA_ARGS__, NULL})

static char *model_bytes(size_t *len)
{
    char *data = NULL;
    assert_int_equal(dq_test_read_file(fx->model, &data, len), 0);
    return data;
}

static void test_h5_truncated(void **state)
{
    (void)state;
    size_t len;
    char *data = model_bytes(&len);
    const size_t cut[] = {0, 7, 100, 1000, 2100, len / 2, len - 200, len - 1};
    for (size_t i = 0; i < sizeof cut / sizeof *cut; i++) {
        char name[64];
        snprintf(name, sizeof name, "trunc-%zu.h5", cut[i]);
        char *p = dq_test_path(fx->dir, name);
        assert_int_equal(dq_test_write_file(p, data, cut[i]), 0);
        dump_expect(p, "truncated|corrupt|not an HDF5 file");
        free(p);
    }
    free(data);
}

static void test_h5_superblock_flips(void **state)
{
    (void)state;
    size_t len;
    char *data = model_bytes(&len);
    /* signature, superblock version, sizes of offsets and lengths, the
     * base and end-of-file addresses, the root group's address */
    const size_t byte[] = {0, 3, 8, 13, 14, 24, 40, 64};
    for (size_t i = 0; i < sizeof byte / sizeof *byte; i++) {
        char name[64];
        snprintf(name, sizeof name, "flip-%zu.h5", byte[i]);
        char *p = dq_test_path(fx->dir, name);
        data[byte[i]] ^= 0x10;
        assert_int_equal(dq_test_write_file(p, data, len), 0);
        data[byte[i]] ^= 0x10;
        /* HDF5 may still open it, reading other addresses: the problem
         * is then whatever the loader finds wrong, after the file name */
        char named[1100];
        snprintf(named, sizeof named, "%s: ", p);
        dump_expect(p, named);
        free(p);
    }
    free(data);
}

static void test_h5_format_version_dtype_rank(void **state)
{
    (void)state;
    /* a tensor dump is not a model */
    dump_expect(fx->dump, "format is 'dnateq-tensors', expected 'dnateq-model'");
    char *p = h5_mutant(fx->model, "version2.h5",
                        (mutation){MU_ATTR_INT, "/", "version", NULL, 2, 0});
    dump_expect(p, "version 2 is not supported");
    free(p);
    p = h5_mutant(fx->model, "format.h5",
                  (mutation){MU_ATTR_STR, "/", "format", "dnateq-modle", 0, 0});
    dump_expect(p, "format is 'dnateq-modle'");
    free(p);
    p = h5_mutant(fx->model, "dtype.h5",
                  (mutation){MU_DATA_INTS, "/nodes/fc/weight", NULL, NULL, 0, 0});
    dump_expect(p, "/nodes/fc/weight", "dtype");
    free(p);
    p = h5_mutant(fx->model, "rank.h5",
                  (mutation){MU_DATA_RANK1, "/nodes/conv/weight", NULL, NULL, 0,
                             0});
    dump_expect(p, "conv", "rank|shape|is (");
    free(p);
}

static void test_h5_graph(void **state)
{
    (void)state;
    /* what each tiny mutation (testmodels.h) must be reported as */
    static const char *const want[TINY_N_MUTATIONS] = {
        [TINY_UNKNOWN_OP] = "unknown op 'conv3d'",
        [TINY_MISSING_PARAM] = "missing parameter 'weight'",
        [TINY_BIAS_SHAPE] = "bias",
        [TINY_FEATURES] = "30 features",
        [TINY_CYCLE] = "cycle",
        [TINY_MISSING_INPUT] = "missing input 'nosuch'",
        [TINY_EXTRA_PARAM] = "weight",
        [TINY_BAD_ATTR] = "stride",
        [TINY_DUP_INDEX] = "index",
        [TINY_BAD_OUTPUT] = "nosuch",
        [TINY_INPUT_COUNT] = "input",
        [TINY_NO_FOLD_SHAPE] = "bn",
    };
    for (int mu = TINY_OK + 1; mu < TINY_N_MUTATIONS; mu++) {
        char name[32];
        snprintf(name, sizeof name, "tiny-%d.h5", mu);
        char *p = dq_test_path(fx->dir, name);
        assert_int_equal(tiny_write(p, mu), DQ_OK);
        dump_expect(p, want[mu]);
        free(p);
    }
    /* a shape that contradicts the graph: conv weights of 3 input channels */
    char *p = h5_mutant(fx->model, "shape.h5",
                        (mutation){MU_DATA_SIZE, "/nodes/fc/bias", NULL, NULL,
                                   0, 5});
    dump_expect(p, "fc", "bias");
    free(p);
}

/* Regressions of the model fuzzer (tests/fuzz/fuzz_model.c): HDF5 1.10
 * trusts the object sizes inside a global heap collection (where string
 * attributes live), so a corrupt one crashed the loader (a copy far out of
 * bounds) or hung it (a zero-sized free-space object); h5io now checks
 * every collection before HDF5 reads the file. */
static void test_h5_global_heap(void **state)
{
    (void)state;
    size_t len;
    char *data = model_bytes(&len);
    size_t off = 0; /* the collection: "GCOL", version 1, 3 zero bytes */
    while (off + 8 <= len && memcmp(data + off, "GCOL\1\0\0\0", 8) != 0)
        off++;
    assert_true(off + 32 <= len);
    static const struct {
        const char *tag;
        size_t at;   /* byte offset in the collection */
        int width;   /* bytes written, little-endian */
        uint64_t value;
    } cases[] = {
        {"heap-objsize", 16 + 8, 8, (uint64_t)1 << 40}, /* crashed */
        {"heap-objsize2", 16 + 8, 8, 0xfffffffffffffff0u},
        {"heap-free0", 16, 2, 0},        /* with the size below: hung */
        {"heap-size", 8, 8, 1u << 20},   /* past the end of the file */
        {"heap-size0", 8, 8, 0},
        {"heap-dupidx", 0, 2, 1}, /* object 2 renumbered 1 (at: below) */
    };
    /* the second object follows the first's header and padded data */
    uint64_t size1 = 0;
    for (int b = 7; b >= 0; b--)
        size1 = size1 << 8 | (unsigned char)data[off + 16 + 8 + (size_t)b];
    size_t second = 16 + 16 + (size_t)((size1 + 7) & ~(uint64_t)7);
    assert_true(off + second + 16 <= len);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, data, len);
        size_t at = strcmp(cases[i].tag, "heap-dupidx") ? cases[i].at : second;
        for (int b = 0; b < cases[i].width; b++)
            copy[off + at + (size_t)b] = (char)(cases[i].value >> (8 * b));
        if (strcmp(cases[i].tag, "heap-free0") == 0) /* and its size 0 */
            memset(copy + off + 16 + 8, 0, 8);
        char name[64];
        snprintf(name, sizeof name, "%s.h5", cases[i].tag);
        char *p = dq_test_path(fx->dir, name);
        assert_int_equal(dq_test_write_file(p, copy, len), 0);
        dump_expect(p, "global heap");
        free(p);
        free(copy);
    }
    free(data);
}

/* ---- idx .gz files ------------------------------------------------------------- */

static const char *const idx_files[4] = {
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};

/* The decompressed bytes of a Debian idx file. */
static unsigned char *gunzip(const char *path, size_t *len)
{
    gzFile g = gzopen(path, "rb");
    assert_non_null(g);
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    for (int r; buf && (r = gzread(g, buf + n, (unsigned)(cap - n))) > 0;) {
        n += (size_t)r;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    assert_non_null(buf);
    gzclose(g);
    *len = n;
    return buf;
}

static void gzip_to(const char *path, const unsigned char *b, size_t n)
{
    gzFile g = gzopen(path, "wb1");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, b, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* A data directory (malloc()ed) holding the real files, except file
 * `which` (index into idx_files), for which *bad receives its path. */
static char *data_dir(const char *tag, int which, char **bad)
{
    char *d = dq_test_path(fx->dir, tag);
    assert_non_null(d);
    assert_int_equal(dq_mkdirs(d), DQ_OK);
    for (int i = 0; i < 4; i++) {
        char *dst = dq_test_path(d, idx_files[i]);
        char src[1024];
        snprintf(src, sizeof src, "%s/%s", dq_dataset_default_dir(),
                 idx_files[i]);
        if (i == which) *bad = dst;
        else {
            assert_int_equal(symlink(src, dst), 0);
            free(dst);
        }
    }
    return d;
}

/* dnateq-eval (or -dump for the train files) with data_dir d. */
static void idx_expect(const char *d, const char *bad, int train,
                       const char *problem)
{
    char cmd[2048];
    if (train)
        snprintf(cmd, sizeof cmd, BIN("dump") " --model %s --out @OUT --set "
                 "dump.dir=@OUT --set run.data_dir=%s --set run.calib_size=16 "
                 "-q", fx->model, d);
    else
        snprintf(cmd, sizeof cmd, BIN("eval") " --model %s --split test --out "
                 "@OUT --set run.data_dir=%s -q", fx->model, d);
    expect_bad(cmd, bad, problem);
}

typedef struct {
    const char *tag;
    int file;       /* index into idx_files */
    int where;      /* byte of the decompressed file to change, or -1 */
    int width;      /* 4: a big-endian header word; 1: one byte */
    uint32_t value; /* written there */
    long cut;       /* > 0: keep only this many bytes of the .gz */
    const char *problem;
} idx_case;

static void test_idx(void **state)
{
    (void)state;
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/%s", dq_dataset_default_dir(),
             idx_files[3]);
    if (!dq_test_exists(probe)) skip();
    static const idx_case cases[] = {
        {"cut-labels", 3, -1, 0, 0, 4000, "truncated"},
        {"cut-images", 2, -1, 0, 0, 1000000, "truncated"},
        {"magic-labels", 3, 0, 4, 2050, 0, "bad magic 2050"},
        {"magic-images", 2, 0, 4, 2049, 0, "bad magic 2049"},
        {"count-long", 3, 4, 4, 10001, 0, "truncated"},
        {"count-short", 3, 4, 4, 9999, 0, "data continues after"},
        {"count-huge", 2, 4, 4, 9999999, 0, "truncated"},
        {"rows", 2, 8, 4, 27, 0, "images are 27x28"},
        {"cols", 2, 12, 4, 29, 0, "images are 28x29"},
        {"label-10", 3, 8 + 1234, 1, 10, 0, "label 10 of item 1234"},
        {"train-labels", 1, 8 + 7, 1, 255, 0, "label 255 of item 7"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const idx_case *c = &cases[i];
        char *bad = NULL, *d = data_dir(c->tag, c->file, &bad);
        char src[1024];
        snprintf(src, sizeof src, "%s/%s", dq_dataset_default_dir(),
                 idx_files[c->file]);
        if (c->cut > 0) {
            char *gz = NULL;
            size_t len;
            assert_int_equal(dq_test_read_file(src, &gz, &len), 0);
            assert_true((size_t)c->cut < len);
            assert_int_equal(dq_test_write_file(bad, gz, (size_t)c->cut), 0);
            free(gz);
        } else {
            size_t len;
            unsigned char *raw = gunzip(src, &len);
            if (c->width == 4) put_be32(raw + c->where, c->value);
            else raw[c->where] = (unsigned char)c->value;
            gzip_to(bad, raw, len);
            free(raw);
        }
        idx_expect(d, bad, c->file < 2, c->problem);
        free(bad);
        free(d);
    }
}

/* ---- tensors ------------------------------------------------------------------- */

/* dnateq-qerror and dnateq-distfit on a dump (in a directory of its own,
 * named tiny.h5 as distfit wants). */
static void tensor_cmds(const char *dump_dir, char *qerror, char *distfit,
                        size_t len)
{
    snprintf(qerror, len, BIN("qerror") " configs/qerror.ini --set "
             "qerror.dump=%s/tiny.h5 --out @OUT --set qerror.bits_min=3 --set "
             "qerror.bits_max=4 --set qerror.pairs=false --set "
             "qerror.schemes=uniform,expq,apot --set "
             "qerror.uniform_calibrators=minmax,kl -q",
             dump_dir);
    snprintf(distfit, len, BIN("distfit") " configs/distfit.ini --set "
             "distfit.dump_dir=%s --set distfit.models=tiny --set distfit.hist= "
             "--set run.quick=true --set fit.max_sample=4000 --out @OUT -q",
             dump_dir);
}

/* A dump directory whose tiny.h5 is the fixture's dump with mutation mu. */
static char *tensor_dump(const char *tag, mutation mu)
{
    char name[128];
    snprintf(name, sizeof name, "%s/tiny.h5", tag);
    free(h5_mutant(fx->dump, name, mu));
    return dq_test_path(fx->dir, tag);
}

/* Regression of the plan fuzzer (tests/fuzz/fuzz_plan.c): a dataset
 * whose dataspace claims far more elements than the file stores made the
 * reader allocate all of it (4 GB); h5io now checks the claim against the
 * stored size.  Here the dump's fc.input0 gets 77777 values, then every
 * 8-byte copy of that count (its dims and max dims) says 2^36. */
static void test_h5_dataspace(void **state)
{
    (void)state;
    const int64_t n = 77777;
    char *p = h5_mutant(fx->dump, "space/tiny.h5",
                        (mutation){MU_DATA_SIZE, "/tensors/fc.input0", NULL,
                                   NULL, 0, n});
    char *data = NULL;
    size_t len;
    assert_int_equal(dq_test_read_file(p, &data, &len), 0);
    unsigned char pat[8], big[8];
    for (int b = 0; b < 8; b++) {
        pat[b] = (unsigned char)((uint64_t)n >> (8 * b));
        big[b] = (unsigned char)(((uint64_t)1 << 36) >> (8 * b));
    }
    int hits = 0;
    for (size_t i = 0; i + 8 <= len; i++)
        if (memcmp(data + i, pat, 8) == 0) memcpy(data + i, big, 8), hits++;
    assert_true(hits >= 1);
    assert_int_equal(dq_test_write_file(p, data, len), 0);
    char *d = dq_test_path(fx->dir, "space"), q[2048], f[2048];
    tensor_cmds(d, q, f, sizeof q);
    expect_bad(q, p, "fc.input0");
    free(d);
    free(data);
    free(p);
}

static void test_tensor_bad(void **state)
{
    (void)state;
    static const struct {
        const char *tag;
        mutation mu;
        const char *problem;
    } cases[] = {
        {"nan", {MU_DATA_SET, "/tensors/fc.weight", NULL, NULL, NAN, 5}, "NaN"},
        {"pinf", {MU_DATA_SET, "/tensors/fc.weight", NULL, NULL, INFINITY, 7},
         "Inf|infinite"},
        {"ninf", {MU_DATA_SET, "/tensors/conv.input0", NULL, NULL, -INFINITY,
                  0}, "Inf|infinite"},
        {"empty", {MU_DATA_SIZE, "/tensors/fc.input0", NULL, NULL, 0, 0},
         "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *d = tensor_dump(cases[i].tag, cases[i].mu);
        char q[2048], f[2048];
        tensor_cmds(d, q, f, sizeof q);
        const char *tensor = strrchr(cases[i].mu.obj, '/') + 1;
        expect_bad(q, d, tensor, cases[i].problem);
        expect_bad(f, d, tensor, cases[i].problem);
        free(d);
    }
}

/* Split CSV line l (up to its newline) into fields (pointers into
 * buf); returns how many. */
static int csv_split(const char *l, char *buf, size_t len, char **f, int max)
{
    snprintf(buf, len, "%.*s", (int)strcspn(l, "\n"), l);
    int n = 0;
    for (char *s = buf; s && n < max; n++) {
        f[n] = s;
        s = strchr(s, ',');
        if (s) *s++ = '\0';
    }
    return n;
}

/* Index of column col in the header of csv (the first line not starting
 * with '#'), or -1; *rest receives the line after the header. */
static int csv_header(const char *csv, const char *col, const char **rest)
{
    char hb[4096], *h[64];
    while (*csv == '#') csv = strchr(csv, '\n') ? strchr(csv, '\n') + 1 : "";
    int nh = csv_split(csv, hb, sizeof hb, h, 64), ci = -1;
    for (int i = 0; i < nh; i++)
        if (strcmp(h[i], col) == 0) ci = i;
    *rest = strchr(csv, '\n') ? strchr(csv, '\n') + 1 : "";
    return ci;
}

/* The next data line at or after *l whose second field is tensor: its
 * fields in f (pointers into buf); 0 when none.  Advances *l past it. */
static int csv_next(const char **l, const char *tensor, char *buf, size_t len,
                    char **f, int *n)
{
    while (**l) {
        const char *line = *l, *nl = strchr(line, '\n');
        *l = nl ? nl + 1 : line + strlen(line);
        if (*line == '#') continue;
        *n = csv_split(line, buf, len, f, 64);
        if (*n > 1 && strcmp(f[1], tensor) == 0) return 1;
    }
    return 0;
}

/* Column col of the first line of csv (the results of qerror and
 * distfit) for tensor, or NULL.  Static buffer. */
static const char *csv_field(const char *csv, const char *tensor,
                             const char *col)
{
    static char buf[4096];
    char *f[64];
    const char *l;
    int n, ci = csv_header(csv, col, &l);
    if (ci < 0 || !csv_next(&l, tensor, buf, sizeof buf, f, &n) || n <= ci)
        return NULL;
    return f[ci];
}

/* Every line of csv for tensor has column col == 0; *rows counts them. */
static int csv_all_zero(const char *csv, const char *tensor, const char *col,
                        int *rows)
{
    char buf[4096], *f[64];
    const char *l;
    int n, ci = csv_header(csv, col, &l);
    *rows = 0;
    while (ci >= 0 && csv_next(&l, tensor, buf, sizeof buf, f, &n)) {
        if (n <= ci || strtod(f[ci], NULL) != 0.0) return 0;
        (*rows)++;
    }
    return ci >= 0;
}

static char *read_result(const char *out, const char *rel)
{
    char *p = dq_test_path(out, rel), *data = NULL;
    size_t len;
    if (dq_test_read_file(p, &data, &len) != 0) fail_msg("%s not written", p);
    free(p);
    return data;
}

static void test_tensor_all_zero(void **state)
{
    (void)state;
    char *d = tensor_dump("zero", (mutation){MU_DATA_SET, "/tensors/fc.weight",
                                             NULL, NULL, 0.0, -1});
    char q[2048], f[2048];
    tensor_cmds(d, q, f, sizeof q);
    /* qerror: every scheme quantizes it exactly (RMAE 0, documented) */
    char *out = expect_ok(q), *csv = read_result(out, "qerror/tiny.csv");
    int rows = 0;
    if (!csv_all_zero(csv, "fc.weight", "rmae", &rows))
        fail_msg("all-zero fc.weight: an RMAE is not 0\n%s", csv);
    assert_true(rows >= 2 * 3); /* 2 bitwidths x (3 schemes, 2 calibrators) */
    free(csv);
    free(out);
    /* distfit: no fits, family none (documented), not an error */
    out = expect_ok(f);
    csv = read_result(out, "distfit/tiny.csv");
    const char *fam = csv_field(csv, "fc.weight", "family");
    assert_non_null(fam);
    assert_string_equal(fam, "none");
    free(csv);
    free(out);
    free(d);
}

static void test_tensor_single_and_denormal(void **state)
{
    (void)state;
    const struct {
        const char *tag;
        mutation mu;
    } cases[] = {
        {"single", {MU_DATA_SIZE, "/tensors/fc.input0", NULL, NULL, 0, 1}},
        {"denormal", {MU_DATA_SET, "/tensors/fc.weight", NULL, NULL, 1e-41,
                      -1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *d = tensor_dump(cases[i].tag, cases[i].mu);
        char q[2048], f[2048];
        tensor_cmds(d, q, f, sizeof q);
        const char *tensor = strrchr(cases[i].mu.obj, '/') + 1;
        char *out = expect_ok(q), *csv = read_result(out, "qerror/tiny.csv");
        const char *rmae = csv_field(csv, tensor, "rmae");
        if (!rmae || !isfinite(strtod(rmae, NULL)))
            fail_msg("%s: RMAE %s", cases[i].tag, rmae ? rmae : "missing");
        free(csv);
        free(out);
        out = expect_ok(f);
        csv = read_result(out, "distfit/tiny.csv");
        assert_non_null(strstr(csv, tensor));
        free(csv);
        free(out);
        free(d);
    }
}

/* ---- configs ------------------------------------------------------------------- */

static char *write_ini(const char *name, const char *text)
{
    char *p = dq_test_path(fx->dir, name);
    assert_non_null(p);
    assert_int_equal(dq_test_write_file(p, text, strlen(text)), 0);
    return p;
}

static void test_config(void **state)
{
    (void)state;
    static const struct {
        const char *driver, *text, *where, *problem;
    } cases[] = {
        /* reported at the first key of the section, line 4 */
        {"qerror", "[run]\nseed = 1\n[qerorr]\nbits_min = 3\n", ":4",
         "unknown section [qerorr]"},
        {"qerror", "[qerror]\nbits_mx = 3\n", ":2", "unknown key 'bits_mx'"},
        {"qerror", "[qerror]\nbits_max = eight\n", ":2",
         "expected an integer, got 'eight'"},
        {"qerror", "[qerror]\npairs = maybe\n", ":2", "expected a boolean"},
        {"qerror", "[qerror]\nbits_max = 9\n", ":2", "9 is out of range"},
        {"dnateq", "[search]\nbudget = -1\n", ":2", "out of range"},
        {"dnateq", "[search]\nn_max = 9\n", ":2", "9 is out of range"},
        {"dump", "[run]\nmodel = /nonexistent/model.h5\n", ":2",
         "does not exist"},
        {"dump", "[run]\ndata_dir = /nonexistent/fmnist\n", ":2",
         "does not exist"},
        {"dump", "[run]\nthreads = 0\n", ":2", "out of range"},
        {"dump", "[run]\nseed 1\n", ":2", "syntax error"},
        {"dump", "[run]\nsplit = training\n", "run", "'training' is not one of"},
        /* a required input missing: the message names the key (not the
         * config file, which does not hold it) */
        {"qerror", "[run]\nseed = 1\n", "", "qerror.dump"},
        {"eval", "[run]\nsplit = test\n", "", "--model"},
        {"dnateq", "[run]\nseed = 1\n", "", "run.model"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[64];
        snprintf(name, sizeof name, "%zu-%s.ini", i, cases[i].driver);
        char *ini = write_ini(name, cases[i].text);
        const char *drv = cases[i].driver;
        int is_dump = strcmp(drv, "dump") == 0;
        /* no --model when the case is about the model (or the dump) */
        int no_model = !cases[i].where[0] ||
                       strstr(cases[i].text, "model =") != NULL;
        char cmd[2048], where[1200];
        snprintf(cmd, sizeof cmd, "build/san/bin/dnateq-%s %s --out @OUT%s%s%s -q",
                 drv, ini, no_model ? "" : " --model ",
                 no_model ? "" : fx->model, is_dump ? " --set dump.dir=@OUT" : "");
        snprintf(where, sizeof where, "%s%s", cases[i].where[0] == ':' ? ini : "",
                 cases[i].where);
        expect_bad(cmd, where, cases[i].problem);
        free(ini);
    }
}

/* Regression of the config fuzzer (tests/fuzz/fuzz_config.c): a value
 * continued over indented lines can grow past the longest line the INI
 * reader accepts (INI_MAX_LINE - 2 = 198 characters); such a config was
 * accepted, and the effective config every result file records (its dump)
 * then did not load again.  A config must either be rejected with a clear
 * message or reproduce itself through its dump. */
static void test_config_long_value(void **state)
{
    (void)state;
    static const dq_cfg_key *const tables[] = {dq_run_keys, NULL};
    char text[1024] = "[run]\nout = results/x\n";
    for (int i = 0; i < 24; i++) strcat(text, "  continued-part\n");
    char *ini = write_ini("long-value.ini", text);
    dq_config *c = dq_config_alloc(tables);
    assert_non_null(c);
    fx->n_cases++;
    if (dq_config_load_file(c, ini) != DQ_OK) {
        /* rejected: the message names the file and the key */
        assert_non_null(strstr(dq_error_message(), ini));
        assert_non_null(strstr(dq_error_message(), "out"));
    } else {
        char *dump = dq_config_dump(c);
        char *again = write_ini("long-value-dump.ini", dump);
        dq_config *c2 = dq_config_alloc(tables);
        if (dq_config_load_file(c2, again) != DQ_OK)
            fail_msg("the recorded config does not load: %s",
                     dq_error_message());
        assert_string_equal(dq_config_str(c2, "run", "out"),
                            dq_config_str(c, "run", "out"));
        dq_config_free(c2);
        free(again);
        free(dump);
    }
    dq_config_free(c);
    free(ini);
}

/* ---- plans ---------------------------------------------------------------------- */

/* An FP32 plan of the model at model_path, written to <dir>/<tag>/tiny_dnateq.h5
 * (the name dnateq-compare looks for); returns the directory. */
static char *plan_dir(const char *tag, const char *model_path, char **plan)
{
    char *d = dq_test_path(fx->dir, tag);
    *plan = dq_test_path(d, "tiny_dnateq.h5");
    dq_model *m = dq_model_load(model_path);
    assert_non_null(m);
    dq_plan *p = dq_plan_alloc(m, "DNA-TEQ");
    assert_non_null(p);
    assert_int_equal(dq_plan_write(p, *plan), DQ_OK);
    dq_plan_free(p);
    dq_model_free(m);
    return d;
}

static void compare_expect(const char *d, const char *plan, const char *problem)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, BIN("compare") " --model %s --set compare.tensors=%s "
             "--set compare.plans_dir=%s --out @OUT --set run.quick=true --set "
             "compare.calibrators=minmax --set compare.granularity=tensor --set "
             "compare.schemes=log2 --set compare.sparq_windows=4 --set "
             "compare.uniform_bits_min=8 --set compare.nonuniform_bits_min=6 -q",
             fx->model, fx->dump, d);
    expect_bad(cmd, plan, problem);
}

static void test_plan_mismatch(void **state)
{
    (void)state;
    /* the plan of another model (4x4 inputs) */
    char *tiny = dq_test_path(fx->dir, "tiny4.h5"), *plan = NULL;
    assert_int_equal(tiny_write(tiny, TINY_OK), DQ_OK);
    char *d = plan_dir("plan-other", tiny, &plan);
    compare_expect(d, plan, "shape");
    free(d);
    free(plan);
    /* a layer the model does not have, and one it lacks */
    char *good = NULL, *gd = plan_dir("plan-good", fx->model, &good);
    char *m = h5_mutant(good, "plan-rename/tiny_dnateq.h5",
                        (mutation){MU_RENAME, "/layers/fc", NULL, "/layers/fc9",
                                   0, 0});
    d = dq_test_path(fx->dir, "plan-rename");
    compare_expect(d, m, "fc9");
    free(d);
    free(m);
    /* bits outside 2..8 */
    m = h5_mutant(good, "plan-bits/tiny_dnateq.h5",
                  (mutation){MU_ATTR_INT, "/layers/fc/weight", "bits", NULL, 9, 0});
    d = dq_test_path(fx->dir, "plan-bits");
    compare_expect(d, m, "bits 9");
    free(d);
    free(m);
    free(gd);
    free(good);
    free(tiny);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h5_truncated),
        cmocka_unit_test(test_h5_superblock_flips),
        cmocka_unit_test(test_h5_format_version_dtype_rank),
        cmocka_unit_test(test_h5_graph),
        cmocka_unit_test(test_h5_global_heap),
        cmocka_unit_test(test_h5_dataspace),
        cmocka_unit_test(test_idx),
        cmocka_unit_test(test_tensor_bad),
        cmocka_unit_test(test_tensor_all_zero),
        cmocka_unit_test(test_tensor_single_and_denormal),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_config_long_value),
        cmocka_unit_test(test_plan_mismatch),
    };
    /* DQ_TEST_FILTER=test_idx runs one group of cases (e.g. to debug) */
    if (getenv("DQ_TEST_FILTER")) cmocka_set_test_filter(getenv("DQ_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
