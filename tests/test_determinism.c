/*
 * test_determinism.c — every experiment's result files are byte-identical
 * at 1 and 2 threads and across two runs, except fields that are timings.
 *
 * Each experiment driver (dump, qerror, distfit, dnateq with --merge,
 * compare, expdot, energy: the sanitizer builds in build/san/bin, run from
 * the repository root) runs on data/zoo/mlp.h5 with a reduced config three
 * times: --threads 1, --threads 2, and --threads 2 again, each into the
 * same --out directory (results record their config, which names it),
 * moved aside after the run.  The later drivers read the first run's
 * dump and plans.  Then every file of the three runs is compared byte for
 * byte after normalize() — the one place that lists what may differ:
 *
 *   - table columns that are timings, by their header in CSV, Markdown and
 *     LaTeX tables (timing_columns[]);
 *   - the "wall time" line of the dnateq and compare run records (.ini);
 *   - the thread count in the recorded config ("threads = 1" / "= 2"),
 *     which is the parameter varied, in every file (HDF5 included: the
 *     two spellings have the same length, so nothing else moves).
 *
 * The README section "Determinism" documents the same list.  Skipped when
 * data/zoo/mlp.h5 is absent.
 */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MLP "data/zoo/mlp.h5"
#define RUNS 3
#define MAX_FILES 64

/* Headers of the table columns that hold timings. */
static const char *const timing_columns[] = {
    "search_s", "search (s)",                                 /* dnateq */
    "dnateq_table_s", "dnateq_search_s", "mpu_table_s", "mpu_search_s",
    "exp_s", "fq_s", "exp_cpu_s", "fq_cpu_s", "exp_img_per_s", /* expdot */
    "exp-domain ms/image (wall, CPU)", "fake-quant ms/image (wall, CPU)",
    NULL};

/* Lines of run records that are timings (the rest of the line goes). */
static const char *const timing_lines[] = {"; wall time:", NULL};

static const char *scratch; /* the group's scratch directory */

/* ---- normalisation ------------------------------------------------------ */

typedef struct {
    char *s;
    size_t len, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = 2 * (b->len + n + 1);
        b->s = realloc(b->s, b->cap);
        assert_non_null(b->s);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* The cell separator of a table line, or 0. */
static char line_sep(const char *l, size_t n)
{
    if (memchr(l, '|', n)) return '|';
    if (memchr(l, '&', n)) return '&';
    return memchr(l, ',', n) ? ',' : 0;
}

/* Is cell [a, b) (spaces and LaTeX markup trimmed) a timing header? */
static int timing_header(const char *a, const char *b)
{
    while (a < b && strchr(" \t\\{}$", *a)) a++;
    while (b > a && strchr(" \t\\{}$\r", b[-1])) b--;
    for (const char *const *h = timing_columns; *h; h++)
        if ((size_t)(b - a) == strlen(*h) && memcmp(a, *h, (size_t)(b - a)) == 0)
            return 1;
    return 0;
}

/* Cells of line l (n bytes) split by sep: start offsets into cell[]. */
static int cells(const char *l, size_t n, char sep, size_t *cell, int max)
{
    int k = 0;
    cell[k++] = 0;
    for (size_t i = 0; i < n && k < max; i++)
        if (l[i] == sep) cell[k++] = i + 1;
    return k;
}

/* A text file with the timing cells of its tables replaced by "T" and
 * the timing lines cut after their label.  A table's timing columns are
 * known from its header line and apply to the following lines with the
 * same number of cells ('#' comment lines aside). */
static void normalize_text(const char *in, size_t len, buf *out)
{
    int drop[64] = {0}, ncell = -1;
    for (size_t p = 0; p < len;) {
        const char *l = in + p, *nl = memchr(l, '\n', len - p);
        size_t n = nl ? (size_t)(nl - l) : len - p, cell[65];
        p += n + (nl != NULL);
        const char *const *tl = timing_lines;
        while (*tl && strncmp(l, *tl, strlen(*tl)) != 0) tl++;
        char sep = *tl || l[0] == '#' ? 0 : line_sep(l, n);
        int k = sep ? cells(l, n, sep, cell, 64) : 0, header = 0;
        for (int c = 0; c < k; c++) {
            size_t end = c + 1 < k ? cell[c + 1] - 1 : n;
            int t = timing_header(l + cell[c], l + end);
            if (t && !header) memset(drop, 0, sizeof drop);
            if (t) drop[c] = header = 1;
        }
        if (*tl) {
            put(out, *tl, strlen(*tl));
        } else if (header || l[0] == '#' || k == 0 || k != ncell) {
            put(out, l, n);
            if (header) ncell = k;
            else if (l[0] != '#') ncell = -1;
        } else {
            for (int c = 0; c < k; c++) {
                size_t end = c + 1 < k ? cell[c + 1] - 1 : n;
                if (c) put(out, &sep, 1);
                if (drop[c]) put(out, "T", 1);
                else put(out, l + cell[c], end - cell[c]);
            }
        }
        if (nl) put(out, "\n", 1);
    }
}

static int is_text(const char *name)
{
    static const char *const ext[] = {".csv", ".md", ".tex", ".ini", ".dat",
                                      ".txt", NULL};
    const char *dot = strrchr(name, '.');
    for (int i = 0; dot && ext[i]; i++)
        if (strcmp(dot, ext[i]) == 0) return 1;
    return 0;
}

/* The bytes of a result file with what may differ made equal. */
static void normalize(const char *name, const char *in, size_t len, buf *out)
{
    out->len = 0;
    put(out, "", 0);
    if (is_text(name)) normalize_text(in, len, out);
    else put(out, in, len);
    /* the thread count in the recorded config (binary files too, so no
     * string functions: HDF5 bytes hold NULs) */
    static const char key[] = "threads = "; /* at a line start or "# " */
    const size_t k = sizeof key - 1;
    for (size_t i = 1; i + k + 2 <= out->len; i++) {
        char *s = out->s + i;
        if ((s[-1] == '\n' || s[-1] == ' ') && memcmp(s, key, k) == 0 &&
            (s[k] == '1' || s[k] == '2') &&
            (s[k + 1] == '\n' || s[k + 1] == '\0'))
            s[k] = '#';
    }
}

/* ---- runs ------------------------------------------------------------------- */

/* Files (relative paths) under dir, sorted; nftw has no user pointer. */
static char *walk_root;
static char *walk_names[MAX_FILES];
static int walk_n;

static int walk_entry(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag != FTW_F) return 0;
    assert_true(walk_n < MAX_FILES);
    walk_names[walk_n++] = strdup(path + strlen(walk_root) + 1);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_files(char *dir, char **names)
{
    walk_root = dir;
    walk_n = 0;
    assert_int_equal(nftw(dir, walk_entry, 16, FTW_PHYS), 0);
    qsort(walk_names, (size_t)walk_n, sizeof *walk_names, cmp_str);
    memcpy(names, walk_names, sizeof *names * (size_t)walk_n);
    return walk_n;
}

/* Run "cmd" (space-separated words; "@OUT" = the common --out directory,
 * also inside a word; "@T" = the thread count of run r) to completion. */
static void run_once(const char *tag, int r, const char *cmd, const char *out)
{
    static const char *const threads[RUNS] = {"1", "2", "2"};
    char *o = dq_test_replace(cmd, "@OUT", out);
    char *line = dq_test_replace(o, "@T", threads[r]), *argv[48];
    assert_true(dq_test_split(line, argv, 48) > 0);
    char *err = NULL;
    int st = dq_test_spawn(argv, NULL, &err);
    if (st != 0) fail_msg("%s run %d: status %d: %s\n%s", tag, r, st, cmd, err);
    free(err);
    free(line);
    free(o);
}

/* Run cmd, then cmd2 (unless NULL), three times, keeping each run's files
 * in <scratch>/<tag>-<run>; returns the directory of run 0 (malloc()ed). */
static char *run3(const char *tag, const char *cmd, const char *cmd2)
{
    char *out = dq_test_path(scratch, "out");
    for (int r = 0; r < RUNS; r++) {
        run_once(tag, r, cmd, out);
        if (cmd2) run_once(tag, r, cmd2, out);
        char dst[1024];
        snprintf(dst, sizeof dst, "%s/%s-%d", scratch, tag, r);
        assert_int_equal(rename(out, dst), 0);
    }
    free(out);
    char first[1024];
    snprintf(first, sizeof first, "%s/%s-0", scratch, tag);
    return strdup(first);
}

/* Where a and b first differ (line and the bytes around), for the
 * failure message. */
static void first_diff(const buf *a, const buf *b, char *msg, size_t len)
{
    size_t i = 0, line = 1;
    while (i < a->len && i < b->len && a->s[i] == b->s[i])
        line += a->s[i++] == '\n';
    size_t from = i > 40 ? i - 40 : 0;
    snprintf(msg, len, "byte %zu, line %zu: '...%.80s' vs '...%.80s'", i,
             line, a->s + from, b->s + from);
}

/* Compare runs 0, 1, 2 of tag file by file. */
static void compare3(const char *tag)
{
    char *names[RUNS][MAX_FILES];
    int n[RUNS];
    char dir[RUNS][1024];
    for (int r = 0; r < RUNS; r++) {
        snprintf(dir[r], sizeof dir[r], "%s/%s-%d", scratch, tag, r);
        n[r] = list_files(dir[r], names[r]);
    }
    assert_true(n[0] > 0);
    buf a = {0}, b = {0};
    for (int r = 1; r < RUNS; r++) {
        if (n[r] != n[0]) fail_msg("%s: run %d wrote %d files, run 0 %d", tag,
                                   r, n[r], n[0]);
        for (int i = 0; i < n[0]; i++) {
            if (strcmp(names[0][i], names[r][i]) != 0)
                fail_msg("%s: run %d wrote %s, run 0 %s", tag, r, names[r][i],
                         names[0][i]);
            char pa[1200], pb[1200], *da, *db;
            size_t la, lb;
            snprintf(pa, sizeof pa, "%s/%s", dir[0], names[0][i]);
            snprintf(pb, sizeof pb, "%s/%s", dir[r], names[r][i]);
            assert_int_equal(dq_test_read_file(pa, &da, &la), 0);
            assert_int_equal(dq_test_read_file(pb, &db, &lb), 0);
            normalize(names[0][i], da, la, &a);
            normalize(names[0][i], db, lb, &b);
            if (a.len != b.len || memcmp(a.s, b.s, a.len) != 0) {
                char msg[400];
                first_diff(&a, &b, msg, sizeof msg);
                fail_msg("%s: %s differs between run 0 (1 thread) and run %d "
                         "(%s): %s", tag, names[0][i], r,
                         r == 1 ? "2 threads" : "2 threads, again", msg);
            }
            free(da);
            free(db);
        }
    }
    for (int r = 0; r < RUNS; r++)
        for (int i = 0; i < n[r]; i++) free(names[r][i]);
    free(a.s);
    free(b.s);
    printf("%s: %d result files identical over %d runs\n", tag, n[0], RUNS);
}

/* ---- the experiments -------------------------------------------------------- */

static int setup(void **state)
{
    int rc = dq_test_scratch_setup(state, "determinism");
    scratch = *state;
    return rc;
}

#define SAN "build/san/bin/dnateq-"

static int have_driver(const char *name)
{
    char p[256];
    snprintf(p, sizeof p, SAN "%s", name);
    return access(p, X_OK) == 0;
}

/* Run cmd three times and compare its results. */
static void check(const char *tag, const char *cmd)
{
    free(run3(tag, cmd, NULL));
    compare3(tag);
}

/* The pipeline: each driver reads what the first run of the one before
 * wrote (the dump; the plans). */
static void test_experiments(void **state)
{
    (void)state;
    if (!dq_test_exists(MLP)) skip();
    char cmd[4096];
    char *dump = run3("dump", SAN "dump --model " MLP " --threads @T --out @OUT "
                              "--set dump.dir=@OUT --set run.calib_size=100 "
                              "--set dump.max_samples=20000 -q", NULL);
    compare3("dump");

    snprintf(cmd, sizeof cmd, SAN "qerror configs/qerror.ini --set "
             "qerror.dump=%s/mlp.h5 --threads @T --out @OUT --set run.quick=true "
             "--set qerror.bits_min=3 --set qerror.bits_max=4 --set "
             "qerror.schemes=uniform,expq,apot,kmeans -q", dump);
    check("qerror", cmd);

    snprintf(cmd, sizeof cmd, SAN "distfit configs/distfit.ini --set "
             "distfit.dump_dir=%s --set distfit.models=mlp --set "
             "distfit.hist=mlp:fc2 --threads @T --out @OUT --set run.quick=true "
             "--set fit.max_sample=20000 --set fit.ks_sample=2000 -q", dump);
    check("distfit", cmd);

    /* the search, then its summary (--merge) in the same directory */
    char *dn = run3("dnateq", SAN "dnateq configs/dnateq.ini --model " MLP
                    " --threads @T --out @OUT --set run.quick=true --set "
                    "run.calib_size=100 --set search.val_images=300 --set "
                    "search.sens_images=100 --set search.max_evals=8 --set "
                    "search.n_min=4 --set search.n_max=6 --set "
                    "search.act_samples=20000 --set dnateq.mpu=false -q",
                    SAN "dnateq configs/dnateq.ini --merge --threads @T --out "
                    "@OUT --set dnateq.models=mlp -q");
    compare3("dnateq");
    char plans[1100];
    snprintf(plans, sizeof plans, "%s/dnateq/plans", dn);

    snprintf(cmd, sizeof cmd, SAN "compare configs/compare.ini --model " MLP
             " --set compare.tensors=%s/mlp.h5 --set compare.plans_dir=%s "
             "--threads @T --out @OUT --set run.quick=true --set "
             "compare.calibrators=minmax,mse --set compare.granularity=tensor "
             "--set compare.schemes=log2,apot --set compare.sparq_windows=4 "
             "--set compare.uniform_bits_min=6 --set "
             "compare.nonuniform_bits_min=5 -q", dump, plans);
    check("compare", cmd);

    if (have_driver("expdot")) {
        snprintf(cmd, sizeof cmd, SAN "expdot --set expdot.models=mlp --set "
                 "expdot.plans_dir=%s --set expdot.images=20 --threads @T "
                 "--out @OUT --set run.quick=true -q", plans);
        check("expdot", cmd);
    }
    if (have_driver("energy")) {
        snprintf(cmd, sizeof cmd, SAN "energy --set energy_run.models=mlp "
                 "--set energy_run.plans_dir=%s --threads @T --out @OUT "
                 "--set run.quick=true -q", plans);
        check("energy", cmd);
    }
    free(dn);
    free(dump);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_experiments),
    };
    return cmocka_run_group_tests(tests, setup, dq_test_scratch_teardown);
}
