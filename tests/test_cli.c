/*
 * test_cli.c — the shared driver command line: config file, --set and
 * short flags in order, DNATEQ_DATA precedence, positional arguments and
 * driver flags, -v/-q, threads; --help (exit 0, every key listed) and
 * usage errors (exit 2, "dnateq: ..."), the latter run in a child process
 * because the parser exits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli.h"
#include "error.h"
#include "log.h"
#include "testutil.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const dq_cfg_key extra_keys[] = {
    {"search", "bits_max", DQ_CFG_INT, "8", 2, 8, "largest bitwidth"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};
static const dq_cfg_key *const tables[] = {dq_run_keys, extra_keys, NULL};
static const dq_cli_flag flags[] = {{"--dataset", "look at the dataset"},
                                    {"--all", "everything"},
                                    {NULL, NULL}};
static const dq_cli_spec spec = {
    .name = "dnateq-test",
    .summary = "a test driver",
    .usage_extra = "Extra help text.",
    .tables = tables,
    .positional = "FILE...",
    .flags = flags,
};
static const dq_cli_spec plain_spec = {
    .name = "dnateq-plain", .summary = "no positionals", .tables = tables};

typedef struct {
    char *dir, *ini;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    fx->dir = dq_test_mkdtemp("cli");
    fx->ini = fx->dir ? dq_test_path(fx->dir, "run.ini") : NULL;
    *state = fx;
    unsetenv("DNATEQ_DATA");
    return fx->ini ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    int rc = dq_test_rmtree(fx->dir);
    free(fx->ini);
    free(fx->dir);
    free(fx);
    unsetenv("DNATEQ_DATA");
    dq_log_set_level(DQ_LOG_INFO);
    return rc;
}

static void write_ini(const fixture *fx, const char *text)
{
    assert_int_equal(dq_test_write_file(fx->ini, text, strlen(text)), 0);
}

static void test_file_then_overrides(void **state)
{
    fixture *fx = *state;
    write_ini(fx, "[run]\nseed = 5\nthreads = 1\nsplit = val\n"
                  "[search]\nbits_max = 7\n");
    char *argv[] = {"prog", "--threads", "3", "--seed=11", fx->ini,
                    "--set", "search.bits_max=4", "--set=run.seed=12",
                    "a.h5", "--all", "-q", "b.h5", NULL};
    dq_cli_args args;
    dq_config *c = dq_cli_parse_args(&spec, 12, argv, &args);
    assert_non_null(c);
    /* Overrides apply after the file, in command-line order. */
    assert_int_equal(dq_config_int(c, "run", "seed"), 12);
    assert_int_equal(dq_config_int(c, "run", "threads"), 3);
    assert_int_equal(dq_config_int(c, "search", "bits_max"), 4);
    assert_string_equal(dq_config_str(c, "run", "split"), "val");
    assert_string_equal(dq_config_source(c), fx->ini);
    assert_int_equal(omp_get_max_threads(), 3);
    assert_int_equal(dq_log_level(), DQ_LOG_QUIET);
    assert_int_equal(args.npos, 2);
    assert_string_equal(args.pos[0], "a.h5");
    assert_string_equal(args.pos[1], "b.h5");
    assert_int_equal(args.flags, 2u); /* --all, not --dataset */
    dq_cli_args_free(&args);
    dq_config_free(c);
}

static void test_defaults_and_verbose(void **state)
{
    (void)state;
    char *argv[] = {"prog", "-v", NULL};
    dq_config *c = dq_cli_parse(&plain_spec, 2, argv);
    assert_non_null(c);
    assert_string_equal(dq_config_source(c), "(defaults)");
    assert_string_equal(dq_config_str(c, "run", "split"), "test");
    assert_string_equal(dq_config_str(c, "run", "model"), "");
    assert_string_equal(dq_config_str(c, "run", "data_dir"),
                        "/usr/share/datasets/fashion-mnist");
    assert_int_equal(dq_config_int(c, "run", "batch"), 256);
    assert_int_equal(dq_config_int(c, "run", "calib_size"), 1000);
    assert_int_equal(dq_config_bool(c, "run", "quick"), 0);
    assert_int_equal(omp_get_max_threads(), 2);
    assert_int_equal(dq_log_level(), DQ_LOG_DEBUG);
    dq_config_free(c);
}

/* DNATEQ_DATA replaces the default; a config value or --set wins. */
static void test_data_dir_precedence(void **state)
{
    fixture *fx = *state;
    setenv("DNATEQ_DATA", fx->dir, 1);
    char *argv1[] = {"prog", NULL};
    dq_config *c = dq_cli_parse(&plain_spec, 1, argv1);
    assert_string_equal(dq_config_str(c, "run", "data_dir"), fx->dir);
    dq_config_free(c);

    write_ini(fx, "[run]\ndata_dir = /\n");
    char *argv2[] = {"prog", fx->ini, NULL};
    c = dq_cli_parse(&plain_spec, 2, argv2);
    assert_string_equal(dq_config_str(c, "run", "data_dir"), "/");
    dq_config_free(c);

    char *argv3[] = {"prog", fx->ini, "--set", "run.data_dir=/tmp", NULL};
    c = dq_cli_parse(&plain_spec, 4, argv3);
    assert_string_equal(dq_config_str(c, "run", "data_dir"), "/tmp");
    dq_config_free(c);
}

/* Run the parser in a child with stdout+stderr captured to a file;
 * return the exit status and the output. */
static int run_child(const fixture *fx, const dq_cli_spec *sp, int argc,
                     char **argv, char **out)
{
    char *log = dq_test_path(fx->dir, "child.out");
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(log, "w", stdout) || dup2(fileno(stdout), 2) < 0) _exit(99);
        dq_cli_args args;
        dq_config *c = dq_cli_parse_args(sp, argc, argv, &args);
        dq_cli_args_free(&args);
        dq_config_free(c);
        fflush(NULL);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(dq_test_read_file(log, out, NULL), 0);
    free(log);
    return WEXITSTATUS(st);
}

static void test_help(void **state)
{
    fixture *fx = *state;
    char *argv[] = {"prog", "--threads", "x", "--help", NULL};
    char *out;
    assert_int_equal(run_child(fx, &spec, 4, argv, &out), 0);
    assert_non_null(strstr(out, "dnateq-test — a test driver\n"));
    assert_non_null(strstr(out, "usage: dnateq-test [CONFIG.ini] [options] "
                                "FILE...\n"));
    assert_non_null(strstr(out, "--dataset"));
    assert_non_null(strstr(out, "Extra help text."));
    /* Every key of every table, with its default. */
    for (int t = 0; tables[t]; t++)
        for (const dq_cfg_key *k = tables[t]; k->section; k++) {
            char line[256];
            snprintf(line, sizeof line, "  %s.%s (", k->section, k->key);
            assert_non_null(strstr(out, line));
            snprintf(line, sizeof line, ") = %s\n",
                     *k->def ? k->def : "(empty)");
            assert_non_null(strstr(out, line));
        }
    free(out);
}

/* --config-keys: the driver row, then each section once, in order of
 * first appearance, with exactly the config module's Markdown table. */
static void test_config_keys(void **state)
{
    fixture *fx = *state;
    char *argv[] = {"prog", "--threads", "x", "--config-keys", NULL};
    char *out;
    assert_int_equal(run_child(fx, &spec, 4, argv, &out), 0);
    const char *head = "### Drivers\n\n| driver | what it does | sections |\n"
                       "|---|---|---|\n| `dnateq-test` | a test driver | "
                       "`[run]` `[search]` |\n\n### `[run]`\n\n"
                       "Read by: `dnateq-test`.\n\n";
    assert_true(strncmp(out, head, strlen(head)) == 0);
    const char *secs[] = {"run", "search"};
    const char *at[2];
    for (int i = 0; i < 2; i++) {
        char *md = dq_config_reference_section(tables, secs[i]);
        assert_non_null(md);
        char want[4096];
        snprintf(want, sizeof want, "### `[%s]`\n\nRead by: `dnateq-test`."
                 "\n\n%s", secs[i], md);
        at[i] = strstr(out, want);
        assert_non_null(at[i]);
        free(md);
    }
    assert_true(at[0] < at[1]);
    assert_null(strstr(out, "bits_max` | integer, 2..8 | `8` | largest "
                            "bitwidth |\n| `run.")); /* no keys mixed */
    free(out);
}

static void expect_usage_error(const fixture *fx, const dq_cli_spec *sp,
                               int argc, char **argv, const char *msg)
{
    char *out;
    assert_int_equal(run_child(fx, sp, argc, argv, &out), 2);
    if (strstr(out, msg) == NULL) print_error("output: %s\n", out);
    assert_non_null(strstr(out, msg));
    assert_true(strncmp(out, "dnateq: ", 8) == 0);
    free(out);
}

static void test_usage_errors(void **state)
{
    fixture *fx = *state;
    char *a1[] = {"prog", "--bogus", NULL};
    expect_usage_error(fx, &spec, 2, a1, "dnateq: unknown option '--bogus'");
    char *a2[] = {"prog", "--threads", "many", NULL};
    expect_usage_error(fx, &spec, 3, a2, "dnateq: --threads: [run] threads: "
                                         "expected an integer, got 'many'\n");
    char *a3[] = {"prog", "--threads", "0", NULL};
    expect_usage_error(fx, &spec, 3, a3, "0 is out of range 1..256");
    char *a4[] = {"prog", "--seed", NULL};
    expect_usage_error(fx, &spec, 2, a4, "option --seed needs a value");
    char *a5[] = {"prog", "--split", "holdout", NULL};
    expect_usage_error(fx, &spec, 3, a5,
                       "'holdout' is not one of train|val|test|calib");
    char *a6[] = {"prog", "file.h5", NULL};
    expect_usage_error(fx, &plain_spec, 2, a6,
                       "unexpected argument 'file.h5'");
    char *a7[] = {"prog", "--dataset", NULL};
    expect_usage_error(fx, &plain_spec, 2, a7, "unknown option '--dataset'");
    char *a8[] = {"prog", "--set", "run.sed=3", NULL};
    expect_usage_error(fx, &spec, 3, a8, "--set: unknown key 'sed' in section "
                                         "[run] (did you mean 'seed'?)");
    char *a9[] = {"prog", "--model", "/no/such/model.h5", NULL};
    expect_usage_error(fx, &spec, 3, a9, "--model: [run] model: "
                                         "'/no/such/model.h5' does not exist");

    write_ini(fx, "[run]\nthreads = 2\nbatch = big\n");
    char *a10[] = {"prog", fx->ini, NULL};
    char msg[512];
    snprintf(msg, sizeof msg, "dnateq: %s:3: [run] batch: expected an "
             "integer, got 'big'", fx->ini);
    expect_usage_error(fx, &spec, 2, a10, msg);
    char *missing = dq_test_path(fx->dir, "none.ini");
    char *a11[] = {"prog", missing, NULL};
    expect_usage_error(fx, &spec, 2, a11, "none.ini: cannot open config");
    free(missing);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_file_then_overrides),
        T(test_defaults_and_verbose),
        T(test_data_dir_precedence),
        T(test_help),
        T(test_config_keys),
        T(test_usage_errors),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
