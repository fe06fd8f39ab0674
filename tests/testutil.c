/*
 * testutil.c — scratch directories, file I/O and command capture for the
 * cmocka tests (see testutil.h).
 */
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *dq_test_mkdtemp(const char *tag)
{
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "/tmp/dnateq-%s-XXXXXX", tag);
    if (!mkdtemp(tmpl)) return NULL;
    return strdup(tmpl);
}

int dq_test_scratch_setup(void **state, const char *tag)
{
    *state = dq_test_mkdtemp(tag);
    return *state ? 0 : -1;
}

int dq_test_scratch_teardown(void **state)
{
    int rc = dq_test_rmtree(*state);
    free(*state);
    *state = NULL;
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int dq_test_rmtree(const char *dir)
{
    if (!dir) return 0;
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *dq_test_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int dq_test_write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    size_t w = fwrite(data, 1, len, fp);
    int rc = fclose(fp);
    return w == len && rc == 0 ? 0 : -1;
}

/* Everything left in fp, NUL-terminated (malloc()ed), or NULL. */
static char *read_stream(FILE *fp, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, fp)) > 0;) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf) buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int dq_test_read_file(const char *path, char **data, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    *data = fp ? read_stream(fp, len) : NULL;
    if (fp) fclose(fp);
    return *data ? 0 : -1;
}

int dq_test_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int dq_test_run(const char *cmd, char **out)
{
    char *full = malloc(strlen(cmd) + 8);
    if (!full) return -1;
    sprintf(full, "%s 2>&1", cmd);
    fflush(NULL);
    FILE *p = popen(full, "r");
    free(full);
    if (!p) return -1;
    *out = read_stream(p, NULL);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int dq_test_fixture_setup(void **state, const char *tag)
{
    dq_test_fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    fx->dir = dq_test_mkdtemp(tag);
    *state = fx;
    return fx->dir ? 0 : -1;
}

int dq_test_fixture_teardown(void **state)
{
    dq_test_fixture *fx = *state;
    int rc = fx->dir ? dq_test_rmtree(fx->dir) : 0;
    free(fx->dir);
    free(fx);
    return rc;
}

char *dq_test_replace(const char *s, const char *key, const char *val)
{
    size_t k = strlen(key), v = strlen(val), n = 0;
    for (const char *p = s; (p = strstr(p, key)); p += k) n++;
    char *out = malloc(strlen(s) + n * v + 1), *o = out;
    if (!out) return NULL;
    for (const char *p = s, *at; ; p = at + k) {
        at = strstr(p, key);
        size_t len = at ? (size_t)(at - p) : strlen(p);
        memcpy(o, p, len);
        o += len;
        if (!at) break;
        memcpy(o, val, v);
        o += v;
    }
    *o = '\0';
    return out;
}

int dq_test_split(char *line, char **argv, int max)
{
    int n = 0;
    for (char *w = strtok(line, " "); w; w = strtok(NULL, " ")) {
        if (n >= max - 1) return -1;
        argv[n++] = w;
    }
    argv[n] = NULL;
    return n;
}

/* Redirect fd to path (or /dev/null) in the child. */
static int spawn_redirect(posix_spawn_file_actions_t *fa, int fd,
                          const char *path)
{
    return posix_spawn_file_actions_addopen(fa, fd, path ? path : "/dev/null",
                                            O_WRONLY | O_CREAT | O_TRUNC, 0644);
}

extern char **environ;

int dq_test_start(char *const argv[], const char *out_path,
                  const char *err_path)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0) return -1;
    pid_t pid = -1;
    fflush(NULL);
    if (spawn_redirect(&fa, STDOUT_FILENO, out_path) != 0 ||
        spawn_redirect(&fa, STDERR_FILENO, err_path) != 0 ||
        posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    return (int)pid;
}

int dq_test_wait(int pid)
{
    int st;
    while (waitpid((pid_t)pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

/* The whole file at path (malloc()ed, "" when unreadable), then removed. */
static char *slurp_remove(const char *path)
{
    char *data = NULL;
    size_t len;
    if (dq_test_read_file(path, &data, &len) != 0) data = strdup("");
    unlink(path);
    return data;
}

int dq_test_spawn(char *const argv[], char **out, char **err)
{
    char *dir = dq_test_mkdtemp("spawn");
    if (!dir) return -1;
    char *op = dq_test_path(dir, "stdout"), *ep = dq_test_path(dir, "stderr");
    int pid = op && ep ? dq_test_start(argv, op, ep) : -1;
    int status = pid > 0 ? dq_test_wait(pid) : -1;
    char *o = op ? slurp_remove(op) : NULL, *e = ep ? slurp_remove(ep) : NULL;
    if (out) *out = o;
    else free(o);
    if (err) *err = e;
    else free(e);
    rmdir(dir);
    free(op);
    free(ep);
    free(dir);
    return status;
}

/* nftw has no user pointer: the running count and first entry. */
static int count_n;
static char *count_first;

static int count_entry(const char *path, const struct stat *st, int flag,
                       struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR || flag == FTW_DP) return 0;
    if (count_n++ == 0 && !count_first) count_first = strdup(path);
    return 0;
}

int dq_test_count_files(const char *dir, char **first)
{
    count_n = 0;
    count_first = NULL;
    int rc = dq_test_exists(dir) ? nftw(dir, count_entry, 16, FTW_PHYS) : 0;
    if (first) *first = count_first;
    else free(count_first);
    return rc == 0 ? count_n : -1;
}
