/*
 * test_log.c — log levels and the non-TTY progress format: a line per 10%
 * step plus a final line, nothing at -q, and exact final counts when
 * updated from an OpenMP loop.  (The TTY bar is the same code with '\r'
 * redraws; it needs a terminal and is checked by hand.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    FILE *fp;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    fx->fp = tmpfile();
    dq_log_set_stream(fx->fp);
    dq_log_set_level(DQ_LOG_INFO);
    *state = fx;
    return fx->fp ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    dq_log_set_stream(NULL);
    dq_log_set_level(DQ_LOG_INFO);
    fclose(fx->fp);
    free(fx);
    return 0;
}

/* Everything written so far (malloc()ed). */
static char *contents(FILE *fp)
{
    fflush(fp);
    long n = ftell(fp);
    char *buf = calloc((size_t)n + 1, 1);
    assert_non_null(buf);
    rewind(fp);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_levels(void **state)
{
    fixture *fx = *state;
    dq_log_info("info %d", 1);
    dq_log_debug("debug %d", 1);
    dq_log_warn("careful: %s", "x");
    dq_log_set_level(DQ_LOG_DEBUG);
    dq_log_debug("debug %d\n", 2);
    dq_log_set_level(DQ_LOG_QUIET);
    dq_log_info("info %d", 3);
    dq_log_debug("debug %d", 3);
    dq_log_warn("still shown");
    char *s = contents(fx->fp);
    assert_string_equal(s, "info 1\n"
                           "dnateq: warning: careful: x\n"
                           "debug 2\n"
                           "dnateq: warning: still shown\n");
    free(s);
}

static void test_progress_lines(void **state)
{
    fixture *fx = *state;
    dq_progress *p = dq_progress_alloc("eval test", 200);
    assert_non_null(p);
    for (int i = 1; i <= 200; i++) dq_progress_update(p, i);
    dq_progress_update(p, 50); /* out of order: ignored */
    dq_progress_free(p);
    char *s = contents(fx->fp);
    /* 10%..90% steps, then the final line. */
    assert_int_equal(count_lines(s), 10);
    for (int step = 1; step <= 9; step++) {
        char want[64];
        snprintf(want, sizeof want, "eval test: %3d%% %d/200 ", step * 10,
                 step * 20);
        assert_non_null(strstr(s, want));
    }
    const char *last = strstr(s, "eval test: 200/200 done in ");
    assert_non_null(last);
    assert_int_equal(count_lines(last), 1);
    assert_null(strchr(s, '\r'));
    free(s);
}

static void test_progress_quiet(void **state)
{
    fixture *fx = *state;
    dq_log_set_level(DQ_LOG_QUIET);
    dq_progress *p = dq_progress_alloc("quiet", 10);
    for (int i = 1; i <= 10; i++) dq_progress_add(p, 1);
    dq_progress_free(p);
    dq_progress_update(NULL, 3);
    dq_progress_free(NULL);
    char *s = contents(fx->fp);
    assert_string_equal(s, "");
    free(s);
}

static void test_progress_openmp(void **state)
{
    fixture *fx = *state;
    const int n = 100000;
    dq_progress *p = dq_progress_alloc("omp", n);
#pragma omp parallel for num_threads(2)
    for (int i = 0; i < n; i++) dq_progress_add(p, 1);
    dq_progress_free(p);
    char *s = contents(fx->fp);
    assert_non_null(strstr(s, "omp: 100000/100000 done in "));
    assert_true(count_lines(s) <= 10);
    free(s);

    /* Unknown total: count and rate only. */
    rewind(fx->fp);
    p = dq_progress_alloc("open", 0);
    dq_progress_add(p, 7);
    dq_progress_free(p);
    s = contents(fx->fp);
    assert_true(strncmp(s, "open: 7 done in ", 16) == 0);
    free(s);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_levels),
        T(test_progress_lines),
        T(test_progress_quiet),
        T(test_progress_openmp),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
