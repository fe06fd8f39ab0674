/*
 * test_config.c — strict INI configs: typed values and defaults, boolean
 * spellings, --set overrides, and every user error (unknown key or
 * section, wrong type, out of range, bad choice, syntax, required key,
 * missing path) with its exact "file:line: ..." message; plus the dump ->
 * reload round trip and the Markdown reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "error.h"
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const dq_cfg_key search_keys[] = {
    {"search", "bits_min", DQ_CFG_INT, "3", 2, 8, "smallest bitwidth"},
    {"search", "bits_max", DQ_CFG_INT, "8", 2, 8, "largest bitwidth"},
    {"search", "budget", DQ_CFG_DOUBLE, "1.0", 0, 100, "accuracy budget"},
    {"search", "objective", DQ_CFG_STR, "rmae", 1, 0, "error measure"},
    {"search", "zero_code", DQ_CFG_BOOL, "true", 1, 0, "reserve a zero code"},
    {"search", "label", DQ_CFG_STR, "", 1, 0, "free text"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};
static const dq_cfg_key io_keys[] = {
    {"io", "model", DQ_CFG_PATH, NULL, 1, 0, "model file | required"},
    {"io", "offset", DQ_CFG_DOUBLE, "0", 1, 0, "any number"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};
static const dq_cfg_key *const tables[] = {search_keys, io_keys, NULL};

typedef struct {
    char *dir, *ini;
    dq_config *c;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    fx->dir = dq_test_mkdtemp("config");
    fx->ini = fx->dir ? dq_test_path(fx->dir, "x.ini") : NULL;
    fx->c = dq_config_alloc(tables);
    *state = fx;
    return fx->ini && fx->c ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    int rc = dq_test_rmtree(fx->dir);
    dq_config_free(fx->c);
    free(fx->ini);
    free(fx->dir);
    free(fx);
    return rc;
}

static void write_ini(const fixture *fx, const char *text)
{
    assert_int_equal(dq_test_write_file(fx->ini, text, strlen(text)), 0);
}

/* Load text and expect DQ_ECONFIG with exactly "<ini>:<rest>". */
static void expect_load_error(fixture *fx, const char *text, const char *rest)
{
    char want[1024];
    write_ini(fx, text);
    assert_int_equal(dq_config_load_file(fx->c, fx->ini), DQ_ECONFIG);
    snprintf(want, sizeof want, "%s:%s", fx->ini, rest);
    assert_string_equal(dq_error_message(), want);
}

static void test_defaults(void **state)
{
    fixture *fx = *state;
    const dq_config *c = fx->c;
    assert_int_equal(dq_config_int(c, "search", "bits_min"), 3);
    assert_true(dq_config_double(c, "search", "budget") == 1.0);
    assert_string_equal(dq_config_str(c, "search", "objective"), "rmae");
    assert_int_equal(dq_config_bool(c, "search", "zero_code"), 1);
    assert_string_equal(dq_config_str(c, "search", "label"), "");
    assert_false(dq_config_is_set(c, "search", "bits_min"));
    assert_string_equal(dq_config_source(c), "(defaults)");
    assert_null(dq_config_str(c, "io", "model")); /* required, unset */
    assert_int_equal(dq_config_check(c), DQ_ECONFIG);
    assert_string_equal(dq_error_message(),
                        "(defaults): required key [io] model is not set");
}

static void test_typed_values(void **state)
{
    fixture *fx = *state;
    write_ini(fx, "# comment\n"
                  "; another comment\n"
                  "[search]\n"
                  "bits_min = 4   ; inline comment\n"
                  "bits_max=6\n"
                  "budget = 2.5e-1\n"
                  "objective = kl\n"
                  "zero_code = off\n"
                  "label = two words #not a comment\n"
                  "\n"
                  "[io]\n"
                  "model = /\n"
                  "offset = -1e3\n");
    assert_int_equal(dq_config_load_file(fx->c, fx->ini), DQ_OK);
    assert_int_equal(dq_config_int(fx->c, "search", "bits_min"), 4);
    assert_int_equal(dq_config_int(fx->c, "search", "bits_max"), 6);
    assert_true(dq_config_double(fx->c, "search", "budget") == 0.25);
    assert_string_equal(dq_config_str(fx->c, "search", "objective"), "kl");
    assert_int_equal(dq_config_bool(fx->c, "search", "zero_code"), 0);
    assert_string_equal(dq_config_str(fx->c, "search", "label"),
                        "two words #not a comment");
    assert_string_equal(dq_config_str(fx->c, "io", "model"), "/");
    assert_true(dq_config_double(fx->c, "io", "offset") == -1000.0);
    assert_true(dq_config_is_set(fx->c, "search", "bits_min"));
    assert_string_equal(dq_config_source(fx->c), fx->ini);
    assert_int_equal(dq_config_check(fx->c), DQ_OK);

    /* A duplicate key is fine: the last one wins. */
    write_ini(fx, "[search]\nbits_min = 5\nbits_min = 7\n");
    assert_int_equal(dq_config_load_file(fx->c, fx->ini), DQ_OK);
    assert_int_equal(dq_config_int(fx->c, "search", "bits_min"), 7);
}

static void test_bool_spellings(void **state)
{
    fixture *fx = *state;
    const char *yes[] = {"true", "yes", "on", "1", "TRUE", "Yes", "ON"};
    const char *no[] = {"false", "no", "off", "0", "False", "NO", "Off"};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(dq_config_set(fx->c, "search", "zero_code", no[i], "t"),
                         DQ_OK);
        assert_int_equal(dq_config_bool(fx->c, "search", "zero_code"), 0);
        assert_int_equal(dq_config_set(fx->c, "search", "zero_code", yes[i],
                                       "t"), DQ_OK);
        assert_int_equal(dq_config_bool(fx->c, "search", "zero_code"), 1);
    }
    const char *bad[] = {"maybe", "2", "", "y", "tru"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(dq_config_set(fx->c, "search", "zero_code", bad[i],
                                       "t"), DQ_ECONFIG);
    assert_string_equal(dq_error_message(),
                        "t: [search] zero_code: expected a boolean "
                        "(true/false, yes/no, on/off, 1/0), got 'tru'");
    assert_int_equal(dq_config_bool(fx->c, "search", "zero_code"), 1);
}

static void test_set_overrides(void **state)
{
    fixture *fx = *state;
    write_ini(fx, "[search]\nbits_max = 7\n");
    assert_int_equal(dq_config_load_file(fx->c, fx->ini), DQ_OK);
    assert_int_equal(dq_config_set_arg(fx->c, "search.bits_max=5"), DQ_OK);
    assert_int_equal(dq_config_set_arg(fx->c, "search.label=a=b"), DQ_OK);
    assert_int_equal(dq_config_set_arg(fx->c, "search.label="), DQ_OK);
    assert_int_equal(dq_config_int(fx->c, "search", "bits_max"), 5);
    assert_string_equal(dq_config_str(fx->c, "search", "label"), "");
    assert_true(dq_config_is_set(fx->c, "search", "label"));

    assert_int_equal(dq_config_set_arg(fx->c, "search.bits_max=9"), DQ_ECONFIG);
    assert_string_equal(dq_error_message(),
                        "--set: [search] bits_max: 9 is out of range 2..8");
    assert_int_equal(dq_config_int(fx->c, "search", "bits_max"), 5);
    assert_int_equal(dq_config_set_arg(fx->c, "search.bitsmax=4"), DQ_ECONFIG);
    assert_string_equal(dq_error_message(),
                        "--set: unknown key 'bitsmax' in section [search] "
                        "(did you mean 'bits_max'?)");
    const char *malformed[] = {"search.bits_max", "bits_max=3", ".x=1",
                               "search.=1", "=1"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(dq_config_set_arg(fx->c, malformed[i]), DQ_ECONFIG);
        assert_non_null(strstr(dq_error_message(), "expected section.key=value"));
    }
}

static void test_unknown_key_line(void **state)
{
    fixture *fx = *state;
    expect_load_error(fx, "; header\n[search]\nbits_min = 3\nbitz_max = 8\n",
                      "4: unknown key 'bitz_max' in section [search] (did "
                      "you mean 'bits_max'?)");
    expect_load_error(fx, "[search]\n\n\nfrobnicate = 1\n",
                      "4: unknown key 'frobnicate' in section [search]");
    /* A key that exists, but in another section. */
    expect_load_error(fx, "[io]\nbits_min = 3\n",
                      "2: unknown key 'bits_min' in section [io]");
}

static void test_unknown_section(void **state)
{
    fixture *fx = *state;
    expect_load_error(fx, "\n[serch]\nbits_min = 3\n",
                      "3: unknown section [serch] (did you mean [search]?)");
    expect_load_error(fx, "[quantizer]\nbits = 3\n",
                      "2: unknown section [quantizer]");
    expect_load_error(fx, "bits_min = 3\n",
                      "1: key 'bits_min' outside any [section]");
}

static void test_wrong_type_and_range(void **state)
{
    fixture *fx = *state;
    expect_load_error(fx, "[search]\nbits_min = 3\nbits_max = eight\n",
                      "3: [search] bits_max: expected an integer, got "
                      "'eight'");
    expect_load_error(fx, "[search]\nbits_max = 4.0\n",
                      "2: [search] bits_max: expected an integer, got '4.0'");
    expect_load_error(fx, "[search]\nbits_max = 9\n",
                      "2: [search] bits_max: 9 is out of range 2..8");
    expect_load_error(fx, "[search]\nbits_min = -1\n",
                      "2: [search] bits_min: -1 is out of range 2..8");
    expect_load_error(fx, "[search]\nbudget = 100.5\n",
                      "2: [search] budget: 100.5 is out of range 0..100");
    expect_load_error(fx, "[search]\nbudget = nan\n",
                      "2: [search] budget: expected a finite number, got "
                      "'nan'");
    expect_load_error(fx, "[io]\noffset = 1e999\n",
                      "2: [io] offset: expected a finite number, got "
                      "'1e999'");
    expect_load_error(fx, "[search]\nzero_code = maybe\n",
                      "2: [search] zero_code: expected a boolean "
                      "(true/false, yes/no, on/off, 1/0), got 'maybe'");
}

/* String keys with a fixed set of values, and where a value came from. */
static void test_choices_and_origin(void **state)
{
    fixture *fx = *state;
    assert_int_equal(dq_config_check_choice(fx->c, "search", "objective",
                                            "rmae|mse|kl"), DQ_OK);
    assert_string_equal(dq_config_origin(fx->c, "search", "objective"),
                        "default");
    write_ini(fx, "[search]\n\nobjective = kl\n");
    assert_int_equal(dq_config_load_file(fx->c, fx->ini), DQ_OK);
    assert_int_equal(dq_config_check_choice(fx->c, "search", "objective",
                                            "rmae|mse|kl"), DQ_OK);
    write_ini(fx, "[search]\nobjective = k\n");
    assert_int_equal(dq_config_load_file(fx->c, fx->ini), DQ_OK);
    assert_int_equal(dq_config_check_choice(fx->c, "search", "objective",
                                            "rmae|mse|kl"), DQ_ECONFIG);
    char want[512];
    snprintf(want, sizeof want, "%s:2: [search] objective: 'k' is not one of "
             "rmae|mse|kl", fx->ini);
    assert_string_equal(dq_error_message(), want);
    assert_int_equal(dq_config_set_arg(fx->c, "search.objective=mse"), DQ_OK);
    assert_string_equal(dq_config_origin(fx->c, "search", "objective"), "--set");
    assert_int_equal(dq_config_check_choice(fx->c, "search", "objective",
                                            "rmae|mse|kl"), DQ_OK);
}

/* An indented line continues the previous key's value, joined with one
 * space (inih's multi-line rule, as documented in the README); it is
 * the last line that counts for the origin and for errors. */
static void test_continuation_lines(void **state)
{
    fixture *fx = *state;
    write_ini(fx, "[search]\n"
                  "label = first line\n"
                  "    second   ; a comment\n"
                  "; a comment line does not end the value\n"
                  "\tthird\n"
                  "objective = kl\n");
    assert_int_equal(dq_config_load_file(fx->c, fx->ini), DQ_OK);
    assert_string_equal(dq_config_str(fx->c, "search", "label"),
                        "first line second third");
    assert_string_equal(dq_config_str(fx->c, "search", "objective"), "kl");
    char want[1024];
    snprintf(want, sizeof want, "%s:5", fx->ini);
    assert_string_equal(dq_config_origin(fx->c, "search", "label"), want);

    /* A repeated key (not indented) still replaces the value, and a new
     * section ends the continuation even for a key of the same name. */
    write_ini(fx, "[search]\nlabel = a\nlabel = b\n  c\n"
                  "[search]\n  label = d\n");
    assert_int_equal(dq_config_load_file(fx->c, fx->ini), DQ_OK);
    assert_string_equal(dq_config_str(fx->c, "search", "label"), "d");

    /* A continuation makes a typed value wrong: the error names its line. */
    expect_load_error(fx, "[search]\nbits_max = 6\n   7\n",
                      "3: [search] bits_max: expected an integer, got '6 7'");
    /* A dump of a joined value reloads to the same value. */
    write_ini(fx, "[search]\nlabel = x\n y\n");
    assert_int_equal(dq_config_load_file(fx->c, fx->ini), DQ_OK);
    char *dump = dq_config_dump(fx->c);
    assert_non_null(strstr(dump, "\nlabel = x y\n"));
    free(dump);
}

static void test_syntax_and_first_error(void **state)
{
    fixture *fx = *state;
    expect_load_error(fx, "[search]\nbits_min 3\n",
                      "2: syntax error (expected [section] or key = value)");
    /* The first error is reported, whatever its kind. */
    expect_load_error(fx, "[search]\ngarbage\nbitz = 1\n",
                      "2: syntax error (expected [section] or key = value)");
    expect_load_error(fx, "[search]\nbitz = 1\ngarbage\n",
                      "2: unknown key 'bitz' in section [search]");
    char longline[400];
    memset(longline, 'x', sizeof longline);
    memcpy(longline, "[search]\nlabel = ", 17);
    memcpy(longline + sizeof longline - 2, "\n", 2);
    expect_load_error(fx, longline, "2: line longer than 198 characters");

    char *missing = dq_test_path(fx->dir, "missing.ini");
    assert_int_equal(dq_config_load_file(fx->c, missing), DQ_EIO);
    assert_non_null(strstr(dq_error_message(), missing));
    free(missing);
}

static void test_required_and_paths(void **state)
{
    fixture *fx = *state;
    write_ini(fx, "[search]\nbits_min = 4\n");
    assert_int_equal(dq_config_load_file(fx->c, fx->ini), DQ_OK);
    assert_int_equal(dq_config_check(fx->c), DQ_ECONFIG);
    char want[512];
    snprintf(want, sizeof want, "%s: required key [io] model is not set",
             fx->ini);
    assert_string_equal(dq_error_message(), want);

    char *nope = dq_test_path(fx->dir, "nope.h5");
    char text[600];
    snprintf(text, sizeof text, "[io]\n\nmodel = %s\n", nope);
    write_ini(fx, text);
    assert_int_equal(dq_config_load_file(fx->c, fx->ini), DQ_OK);
    assert_int_equal(dq_config_check(fx->c), DQ_ECONFIG);
    snprintf(want, sizeof want, "%s:3: [io] model: '%s' does not exist",
             fx->ini, nope);
    assert_string_equal(dq_error_message(), want);
    assert_int_equal(dq_test_write_file(nope, "", 0), 0);
    assert_int_equal(dq_config_check(fx->c), DQ_OK);
    free(nope);
}

static void test_dump_roundtrip(void **state)
{
    fixture *fx = *state;
    write_ini(fx, "[io]\nmodel = /tmp\noffset = 0.1\n"
                  "[search]\nbudget = 1e-3\nzero_code = yes\nbits_max = 06\n"
                  "label = a b\n");
    assert_int_equal(dq_config_load_file(fx->c, fx->ini), DQ_OK);
    char *d1 = dq_config_dump(fx->c);
    assert_non_null(d1);
    /* Table order, values normalised. */
    assert_string_equal(d1, "[search]\n"
                            "bits_min = 3\n"
                            "bits_max = 6\n"
                            "budget = 0.001\n"
                            "objective = rmae\n"
                            "zero_code = true\n"
                            "label = a b\n"
                            "\n"
                            "[io]\n"
                            "model = /tmp\n"
                            "offset = 0.1\n");
    char *again = dq_test_path(fx->dir, "again.ini");
    assert_int_equal(dq_test_write_file(again, d1, strlen(d1)), 0);
    dq_config *c2 = dq_config_alloc(tables);
    assert_non_null(c2);
    assert_int_equal(dq_config_load_file(c2, again), DQ_OK);
    char *d2 = dq_config_dump(c2);
    assert_string_equal(d1, d2);
    assert_true(dq_config_double(c2, "search", "budget") == 1e-3);

    /* Defaults only: the empty string and unset required keys. */
    dq_config *c3 = dq_config_alloc(tables);
    char *d3 = dq_config_dump(c3);
    assert_non_null(strstr(d3, "label =\n"));
    assert_non_null(strstr(d3, "; model = (required, not set)\n"));
    free(d3);
    dq_config_free(c3);
    free(d2);
    free(d1);
    dq_config_free(c2);
    free(again);
}

static void test_reference_and_tables(void **state)
{
    (void)state;
    char *md = dq_config_reference(tables);
    assert_non_null(md);
    assert_true(strncmp(md, "| key | type | default | meaning |\n"
                            "|---|---|---|---|\n", 52) == 0);
    assert_non_null(strstr(md, "| `search.bits_max` | integer, 2..8 | `8` | "
                               "largest bitwidth |\n"));
    assert_non_null(strstr(md, "| `search.objective` | string | `rmae` | "
                               "error measure |\n"));
    assert_non_null(strstr(md, "| `search.label` | string | (empty) |"));
    assert_non_null(strstr(md, "| `io.model` | path | **required** | model "
                               "file \\| required |\n"));
    free(md);

    /* One section only, in table order; '<' and '>' are not HTML. */
    static const dq_cfg_key html[] = {
        {"h", "dir", DQ_CFG_STR, "", 1, 0, "writes <dir>/<m>.h5"},
        {NULL, NULL, 0, NULL, 0, 0, NULL}};
    const dq_cfg_key *const both[] = {search_keys, html, io_keys, NULL};
    md = dq_config_reference_section(both, "io");
    assert_string_equal(md, "| key | type | default | meaning |\n"
                            "|---|---|---|---|\n"
                            "| `io.model` | path | **required** | model file "
                            "\\| required |\n"
                            "| `io.offset` | number | `0` | any number |\n");
    free(md);
    md = dq_config_reference_section(both, "h");
    assert_non_null(strstr(md, "| `h.dir` | string | (empty) | writes "
                               "&lt;dir&gt;/&lt;m&gt;.h5 |\n"));
    free(md);

    /* Programming errors in tables are caught at alloc. */
    static const dq_cfg_key dup[] = {
        {"a", "k", DQ_CFG_INT, "1", 1, 0, ""},
        {"a", "k", DQ_CFG_INT, "2", 1, 0, ""},
        {NULL, NULL, 0, NULL, 0, 0, NULL}};
    static const dq_cfg_key baddef[] = {
        {"a", "k", DQ_CFG_INT, "x", 1, 0, ""},
        {NULL, NULL, 0, NULL, 0, 0, NULL}};
    assert_null(dq_config_alloc((const dq_cfg_key *const[]){dup, NULL}));
    assert_non_null(strstr(dq_error_message(), "[a] k declared twice"));
    assert_null(dq_config_alloc((const dq_cfg_key *const[]){baddef, NULL}));
    assert_non_null(strstr(dq_error_message(), "expected an integer"));
}

/* Asking for a key that is not in the tables is a bug: abort(). */
static void test_getter_abort(void **state)
{
    fixture *fx = *state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(3);
        (void)dq_config_int(fx->c, "search", "no_such_key");
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_typed_values),
        T(test_bool_spellings),
        T(test_set_overrides),
        T(test_unknown_key_line),
        T(test_unknown_section),
        T(test_wrong_type_and_range),
        T(test_choices_and_origin),
        T(test_continuation_lines),
        T(test_syntax_and_first_error),
        T(test_required_and_paths),
        T(test_dump_roundtrip),
        T(test_reference_and_tables),
        T(test_getter_abort),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
