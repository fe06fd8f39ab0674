/*
 * test_killsafe.c — a driver killed with SIGKILL at any moment leaves each
 * result file either as it was before the run (absent, or the previous
 * complete file) or complete, never partial.
 *
 * For dnateq-dump (one HDF5 file) and dnateq-qerror (two CSVs and an HDF5
 * file), on data/zoo/mlp.h5 with a small config (the sanitizer builds in
 * build/san/bin, run from the repository root): one complete run gives the
 * reference bytes; then each trial starts the driver in the same --out
 * directory (the results record their config, which names it), sends
 * SIGKILL after a delay drawn from a seeded generator (over the reference
 * run's duration, or a few milliseconds after a ".tmp" file appears, so
 * that kills land inside writes), and checks every file there:
 *   - starting from an empty directory, each result is absent or
 *     byte-identical to the reference;
 *   - starting from the previous complete results, each result is
 *     byte-identical to the reference (the old file or an identical new
 *     one: the drivers are deterministic, test_determinism.c);
 *   - anything else is a "<result>.tmp" left by the killed writer, which
 *     is not a result.
 * Skipped when data/zoo/mlp.h5 is absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "fsutil.h"
#include "testutil.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MLP "data/zoo/mlp.h5"
#define TRIALS 6          /* kills per driver and starting state */
#define KILL_SEED 20260517u

typedef struct {
    char *name; /* file name inside the result directory */
    char *data;
    size_t len;
} ref_file;

typedef struct {
    const char *label;
    char *out;      /* the --out directory of every run */
    char *results;  /* where the driver writes its files (under out) */
    char **argv;    /* NULL-terminated */
    ref_file ref[8];
    int n_ref;
    double seconds; /* wall time of the reference run */
} driver;

static uint64_t rng_state = KILL_SEED;

/* Uniform in [0, 1) from a fixed-seed splitmix64. */
static double unif(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_for(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void clear_dir(const char *dir)
{
    assert_int_equal(dq_test_rmtree(dir) == 0 || !dq_test_exists(dir), 1);
}

/* Run the driver to completion; fails the test on a non-zero status. */
static void run_complete(const driver *d)
{
    char *err = NULL;
    int st = dq_test_spawn(d->argv, NULL, &err);
    if (st != 0) fail_msg("%s: status %d\n%s", d->label, st, err);
    free(err);
}

/* Record the reference: the files of one complete run. */
static void take_reference(driver *d)
{
    clear_dir(d->out);
    double t0 = now();
    run_complete(d);
    d->seconds = now() - t0;
    DIR *dir = opendir(d->results);
    assert_non_null(dir);
    for (struct dirent *e; (e = readdir(dir));) {
        if (e->d_name[0] == '.') continue;
        assert_false(ends_with(e->d_name, ".tmp"));
        assert_true(d->n_ref < 8);
        ref_file *r = &d->ref[d->n_ref++];
        r->name = strdup(e->d_name);
        char *p = dq_test_path(d->results, e->d_name);
        assert_int_equal(dq_test_read_file(p, &r->data, &r->len), 0);
        free(p);
    }
    closedir(dir);
    assert_true(d->n_ref >= 1);
    printf("%s: reference run %.2f s, %d result files\n", d->label, d->seconds,
           d->n_ref);
}

static const ref_file *find_ref(const driver *d, const char *name)
{
    for (int i = 0; i < d->n_ref; i++)
        if (strcmp(d->ref[i].name, name) == 0) return &d->ref[i];
    return NULL;
}

/* Put the reference results back, as a previous complete run left them. */
static void restore_reference(const driver *d)
{
    clear_dir(d->out);
    assert_int_equal(dq_mkdirs(d->results), DQ_OK);
    for (int i = 0; i < d->n_ref; i++) {
        char *p = dq_test_path(d->results, d->ref[i].name);
        assert_int_equal(dq_test_write_file(p, d->ref[i].data, d->ref[i].len),
                         0);
        free(p);
    }
}

/* Every file is a reference result, identical, or a .tmp; with
 * need_all, every reference result is there.  Returns how many .tmp
 * files were left. */
static int check_results(const driver *d, int need_all, double delay)
{
    int seen = 0, tmps = 0;
    DIR *dir = opendir(d->results);
    if (!dir) {
        if (need_all) fail_msg("%s: results gone after a kill", d->label);
        return 0;
    }
    for (struct dirent *e; (e = readdir(dir));) {
        if (e->d_name[0] == '.') continue;
        if (ends_with(e->d_name, ".tmp")) {
            tmps++;
            continue;
        }
        const ref_file *r = find_ref(d, e->d_name);
        if (!r) fail_msg("%s: unexpected file %s", d->label, e->d_name);
        char *p = dq_test_path(d->results, e->d_name), *data = NULL;
        size_t len;
        assert_int_equal(dq_test_read_file(p, &data, &len), 0);
        if (len != r->len || memcmp(data, r->data, len) != 0)
            fail_msg("%s: %s differs from the reference after a kill at "
                     "%.3f s (%zu bytes, reference %zu)", d->label, p, delay,
                     len, r->len);
        free(data);
        free(p);
        seen++;
    }
    closedir(dir);
    if (need_all && seen != d->n_ref)
        fail_msg("%s: %d of %d results left after a kill at %.3f s", d->label,
                 seen, d->n_ref, delay);
    return tmps;
}

/* 1 when the results directory holds a .tmp file (a write in progress). */
static int writing(const driver *d)
{
    DIR *dir = opendir(d->results);
    int found = 0;
    for (struct dirent *e; dir && !found && (e = readdir(dir));)
        found = ends_with(e->d_name, ".tmp");
    if (dir) closedir(dir);
    return found;
}

/* Start the driver and SIGKILL it: after delay seconds, or (at_write)
 * once a .tmp file has appeared plus delay.  Reaps it; *during_write
 * tells whether a .tmp existed at the kill.  Returns 1 when the kill
 * landed before the driver finished. */
static int run_killed(const driver *d, double delay, int at_write,
                      int *during_write)
{
    int pid = dq_test_start(d->argv, NULL, NULL);
    assert_true(pid > 0);
    double t0 = now();
    if (at_write)
        while (!writing(d) && now() - t0 < 4 * d->seconds + 10) sleep_for(2e-4);
    sleep_for(delay);
    *during_write = writing(d);
    int killed = kill(pid, SIGKILL) == 0;
    int st = dq_test_wait(pid);
    return killed && st == 128 + SIGKILL;
}

/* Trials alternate between an empty directory and the previous results,
 * and between a kill at a random moment of the run and one a random few
 * milliseconds after a write has begun. */
static void kill_trials(driver *d)
{
    take_reference(d);
    int landed = 0, in_write = 0, tmps = 0;
    for (int t = 0; t < 2 * TRIALS; t++) {
        int previous = t % 2, at_write = t / 2 % 2, w = 0;
        double delay = at_write ? 0.004 * unif()
                                : d->seconds * (0.02 + 0.98 * unif());
        if (previous) restore_reference(d);
        else clear_dir(d->out);
        landed += run_killed(d, delay, at_write, &w);
        in_write += w;
        tmps += check_results(d, previous, delay);
    }
    printf("%s: %d kills, %d before the end, %d during a write, %d .tmp "
           "files left behind\n", d->label, 2 * TRIALS, landed, in_write,
           tmps);
    assert_true(landed >= 1 && in_write >= 1);
    for (int i = 0; i < d->n_ref; i++) {
        free(d->ref[i].name);
        free(d->ref[i].data);
    }
    clear_dir(d->out);
}

static int setup(void **state)
{
    return dq_test_scratch_setup(state, "killsafe");
}

static void test_dump_killed(void **state)
{
    const char *scratch = *state;
    if (!dq_test_exists(MLP)) skip();
    char out[512], set[600];
    snprintf(out, sizeof out, "%s/dump", scratch);
    snprintf(set, sizeof set, "dump.dir=%s/tensors", out);
    char *argv[] = {"build/san/bin/dnateq-dump", "--model", MLP, "--out", out,
                    "--set", set, "--set", "run.calib_size=200", "--set",
                    "dump.max_samples=100000", "-q", NULL};
    driver d = {.label = "dnateq-dump", .out = out, .argv = argv};
    char results[600];
    snprintf(results, sizeof results, "%s/tensors", out);
    d.results = results;
    kill_trials(&d);
}

static void test_qerror_killed(void **state)
{
    const char *scratch = *state;
    if (!dq_test_exists(MLP)) skip();
    /* its input: a small dump of mlp, made once */
    char dumpdir[512], set_dir[600], dump[600], set_dump[700];
    snprintf(dumpdir, sizeof dumpdir, "%s/input", scratch);
    snprintf(set_dir, sizeof set_dir, "dump.dir=%s", dumpdir);
    char *dargv[] = {"build/san/bin/dnateq-dump", "--model", MLP, "--set",
                     set_dir, "--set", "run.calib_size=100", "--set",
                     "dump.max_samples=20000", "-q", NULL};
    driver in = {.label = "input dump", .argv = dargv};
    run_complete(&in);
    snprintf(dump, sizeof dump, "%s/mlp.h5", dumpdir);
    snprintf(set_dump, sizeof set_dump, "qerror.dump=%s", dump);
    char out[512], results[600];
    snprintf(out, sizeof out, "%s/qerror", scratch);
    snprintf(results, sizeof results, "%s/qerror", out);
    char *argv[] = {"build/san/bin/dnateq-qerror", "configs/qerror.ini", "--set",
                    set_dump, "--out", out, "--set", "qerror.bits_min=3",
                    "--set", "qerror.bits_max=4", "--set",
                    "qerror.schemes=uniform,expq,log2", "--set",
                    "qerror.uniform_calibrators=minmax", "--set",
                    "qerror.pairs=false", "-q", NULL};
    driver d = {.label = "dnateq-qerror", .out = out, .results = results,
                .argv = argv};
    kill_trials(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_killed),
        cmocka_unit_test(test_qerror_killed),
    };
    return cmocka_run_group_tests(tests, setup, dq_test_scratch_teardown);
}
