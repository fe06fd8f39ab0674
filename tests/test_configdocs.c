/*
 * test_configdocs.c — the config reference in configs/README.md is the
 * one the code generates (`make config-docs`): every driver's
 * `--config-keys` output, merged by experiments/configdocs.sh.  Fails with
 * "run `make config-docs`" when a key table changed and the committed
 * text did not.  Also: the library's key tables appear verbatim, a doctored
 * reference is caught, and two drivers that disagree about a section stop
 * the generator.
 *
 * The drivers are build/san/bin/dnateq-<name> for every experiments/<name>.c
 * (what `make test` builds), or build/bin/ when the sanitizer builds are not
 * all there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli.h"
#include "config.h"
#include "fit.h"
#include "quant/quant.h"
#include "search.h"
#include "testutil.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REFERENCE "configs/README.md"
#define SCRIPT "sh experiments/configdocs.sh"

/* " dir/dnateq-a dir/dnateq-b ..." for every experiments/NAME.c, when every
 * one of them is built in dir; else NULL. */
static char *driver_list(const char *dir)
{
    glob_t g;
    if (glob("experiments/*.c", 0, NULL, &g) != 0) return NULL;
    size_t cap = 64 + g.gl_pathc * 256, len = 0;
    char *list = calloc(1, cap);
    for (size_t i = 0; list && i < g.gl_pathc; i++) {
        const char *base = g.gl_pathv[i] + strlen("experiments/");
        char bin[256];
        snprintf(bin, sizeof bin, "%s/dnateq-%.*s", dir,
                 (int)(strlen(base) - 2), base);
        if (access(bin, X_OK) != 0) {
            free(list);
            list = NULL;
            break;
        }
        len += (size_t)snprintf(list + len, cap - len, " %s", bin);
    }
    globfree(&g);
    return list;
}

static char *drivers(void)
{
    char *l = driver_list("build/san/bin");
    if (!l) l = driver_list("build/bin");
    if (!l)
        fail_msg("the drivers are not built: run `make` (or `make test`) "
                 "from the repository root first");
    return l;
}

/* Run a command line built from fmt; returns its exit status, output in
 * *out. */
static int run(char **out, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return dq_test_run(cmd, out);
}

static void test_reference_is_current(void **state)
{
    (void)state;
    char *bins = drivers(), *out;
    int rc = run(&out, SCRIPT " check " REFERENCE "%s", bins);
    if (rc != 0)
        print_error("%s\n" REFERENCE " does not match the key tables in the "
                    "code: run `make config-docs` and commit it\n", out);
    assert_int_equal(rc, 0);
    free(out);
    free(bins);
}

/* The [run], [quant], [search] and [fit] tables of the library appear
 * exactly as dq_config_reference_section() renders them. */
static void test_library_tables_verbatim(void **state)
{
    (void)state;
    char *bins = drivers(), *out;
    assert_int_equal(run(&out, SCRIPT " print%s", bins), 0);
    const dq_cfg_key *run_t[] = {dq_run_keys, NULL},
                     *quant_t[] = {dq_quant_keys, NULL},
                     *search_t[] = {dq_search_keys, NULL},
                     *fit_t[] = {dq_fit_keys, NULL};
    const struct {
        const char *sec;
        const dq_cfg_key *const *t;
    } want[] = {{"run", run_t}, {"quant", quant_t}, {"search", search_t},
                {"fit", fit_t}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *md = dq_config_reference_section(want[i].t, want[i].sec);
        assert_non_null(md);
        char head[128];
        snprintf(head, sizeof head, "### `[%s]`\n\nRead by: ", want[i].sec);
        const char *at = strstr(out, head);
        assert_non_null(at);
        at = strstr(at, ".\n\n");
        assert_non_null(at);
        assert_true(strncmp(at + 3, md, strlen(md)) == 0);
        free(md);
    }
    assert_true(strncmp(out, "<!-- config-keys:begin -->\n", 27) == 0);
    assert_non_null(strstr(out, "\n<!-- config-keys:end -->\n"));
    free(out);
    free(bins);
}

/* A reference with one default changed is reported stale. */
static void test_stale_reference_caught(void **state)
{
    dq_test_fixture *fx = *state;
    char *text, *bins = drivers(), *out;
    assert_int_equal(dq_test_read_file(REFERENCE, &text, NULL), 0);
    const char *row = "| `run.threads` | integer, 1..256 | `2` |";
    char *at = strstr(text, row);
    assert_non_null(at);
    at[strlen(row) - 3] = '3';
    char *copy = dq_test_path(fx->dir, "README.md");
    assert_int_equal(dq_test_write_file(copy, text, strlen(text)), 0);
    assert_int_equal(run(&out, SCRIPT " check %s%s", copy, bins), 1);
    assert_non_null(strstr(out, "run `make config-docs`"));
    assert_non_null(strstr(out, "+| `run.threads` | integer, 1..256 | `2` |"));
    free(out);
    /* update repairs it, and leaves the text around the markers alone */
    assert_int_equal(run(&out, SCRIPT " update %s%s", copy, bins), 0);
    free(out);
    assert_int_equal(run(&out, "cmp %s " REFERENCE, copy), 0);
    free(out);
    free(copy);
    free(text);
    free(bins);
}

/* Two drivers whose [s] tables differ: the generator refuses. */
static void test_disagreeing_drivers(void **state)
{
    dq_test_fixture *fx = *state;
    const char *fmt = "#!/bin/sh\nprintf '### Drivers\\n\\n| driver | what "
                      "it does | sections |\\n|---|---|---|\\n| `%s` | x | "
                      "`[s]` |\\n\\n### `[s]`\\n\\nRead by: `%s`.\\n\\n| key "
                      "| type | default | meaning |\\n|---|---|---|---|\\n| "
                      "`s.k` | integer | `%d` | a key |\\n'\n";
    char *bin[2];
    for (int i = 0; i < 2; i++) {
        char name[32], script[1024];
        snprintf(name, sizeof name, "dnateq-fake%d", i);
        bin[i] = dq_test_path(fx->dir, name);
        snprintf(script, sizeof script, fmt, name, name, i);
        assert_int_equal(dq_test_write_file(bin[i], script, strlen(script)), 0);
    }
    char *out;
    assert_int_equal(run(&out, "chmod +x %s %s && " SCRIPT " print %s %s",
                         bin[0], bin[1], bin[0], bin[1]), 2);
    assert_non_null(strstr(out, "section [s]: dnateq-fake0 and dnateq-fake1 "
                                "disagree"));
    free(out);
    /* the same driver twice agrees with itself, and is listed twice */
    assert_int_equal(run(&out, SCRIPT " print %s %s", bin[0], bin[0]), 0);
    assert_non_null(strstr(out, "Read by: `dnateq-fake0`, `dnateq-fake0`."));
    free(out);
    for (int i = 0; i < 2; i++) free(bin[i]);
}

static int setup(void **state)
{
    return dq_test_fixture_setup(state, "configdocs");
}
static int teardown(void **state) { return dq_test_fixture_teardown(state); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_is_current),
        cmocka_unit_test(test_library_tables_verbatim),
        cmocka_unit_test_setup_teardown(test_stale_reference_caught, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_disagreeing_drivers, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("configdocs", tests, NULL, NULL);
}
