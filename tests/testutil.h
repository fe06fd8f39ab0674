/*
 * testutil.h — helpers shared by the cmocka tests (linked into every test
 * binary): scratch directories under /tmp, whole-file I/O, and running a
 * driver with its output captured.
 *
 * Contract: functions return 0 on success and -1 on failure (errno set);
 * tests assert on that.  Every scratch directory a test makes it removes
 * with dq_test_rmtree().
 */
#ifndef DQ_TESTUTIL_H
#define DQ_TESTUTIL_H

#include <stddef.h>

/* A fresh directory "/tmp/dnateq-<tag>-XXXXXX" (malloc()ed), or NULL. */
char *dq_test_mkdtemp(const char *tag);
/* rm -rf dir; 0 on success. */
int dq_test_rmtree(const char *dir);
/* "<dir>/<name>" (malloc()ed). */
char *dq_test_path(const char *dir, const char *name);

int dq_test_write_file(const char *path, const void *data, size_t len);
/* Whole file into *data (malloc()ed, NUL-terminated), length in *len. */
int dq_test_read_file(const char *path, char **data, size_t *len);
int dq_test_exists(const char *path);

/* Run a shell command; *out receives stdout and stderr together
 * (malloc()ed).  Returns the exit status, or -1 when it did not exit
 * normally. */
int dq_test_run(const char *cmd, char **out);

/* cmocka fixture: *state becomes a dq_test_fixture whose dir is a fresh
 * scratch directory "/tmp/dnateq-<tag>-XXXXXX"; teardown removes it. */
typedef struct {
    char *dir;
} dq_test_fixture;
int dq_test_fixture_setup(void **state, const char *tag);
int dq_test_fixture_teardown(void **state);

#endif
