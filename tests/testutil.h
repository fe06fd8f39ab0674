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
/* cmocka group setup / teardown of a scratch directory: *state becomes
 * dq_test_mkdtemp(tag) (setup returns -1 when it cannot be made); the
 * teardown removes it and frees the path. */
int dq_test_scratch_setup(void **state, const char *tag);
int dq_test_scratch_teardown(void **state);
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

/* s with every occurrence of key replaced by val (malloc()ed). */
char *dq_test_replace(const char *s, const char *key, const char *val);
/* Split line in place at spaces into argv (at most max - 1 words, then
 * NULL); returns the number of words, or -1 when there are too many. */
int dq_test_split(char *line, char **argv, int max);

/* Start argv[0] (a path; no shell) with argv, its stdout and stderr
 * written to the files out_path and err_path (NULL: /dev/null), in the
 * current environment.  Returns its pid, or -1. */
int dq_test_start(char *const argv[], const char *out_path,
                  const char *err_path);
/* Wait for a process started by dq_test_start.  Returns its exit status,
 * 128 + the signal number when a signal ended it, or -1. */
int dq_test_wait(int pid);
/* Run argv (as dq_test_start) to completion; *out and *err receive its
 * stdout and stderr (malloc()ed; either pointer may be NULL to discard).
 * Returns as dq_test_wait. */
int dq_test_spawn(char *const argv[], char **out, char **err);

/* Number of files (anything but a directory, recursively) under dir; 0
 * when dir does not exist, -1 on error.  When first is not NULL it
 * receives the path of one of them (malloc()ed) or NULL. */
int dq_test_count_files(const char *dir, char **first);

/* cmocka fixture: *state becomes a dq_test_fixture whose dir is a fresh
 * scratch directory "/tmp/dnateq-<tag>-XXXXXX"; teardown removes it. */
typedef struct {
    char *dir;
} dq_test_fixture;
int dq_test_fixture_setup(void **state, const char *tag);
int dq_test_fixture_teardown(void **state);

#endif
