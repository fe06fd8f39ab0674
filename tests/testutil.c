/*
 * testutil.c — scratch directories, file I/O and command capture for the
 * cmocka tests (see testutil.h).
 */
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include <errno.h>
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
