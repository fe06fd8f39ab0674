/*
 * fsutil.c — directories, atomic text files and the build's git revision.
 */
#define _POSIX_C_SOURCE 200809L
#include "fsutil.h"

#include "error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef DQ_GIT_REV
#define DQ_GIT_REV "unknown"
#endif

const char *dq_git_revision(void) { return DQ_GIT_REV; }

int dq_mkdirs(const char *dir)
{
    if (!dir || !*dir) return DQ_OK;
    char *p = strdup(dir);
    if (!p) return DQ_ERROR(DQ_ENOMEM, "%s: out of memory", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            free(p);
            return DQ_ERROR(DQ_EIO, "%s: cannot create directory: %s", dir,
                            strerror(e));
        }
        *s = '/';
    }
    int rc = mkdir(p, 0777);
    int e = errno;
    free(p);
    if (rc != 0 && e != EEXIST)
        return DQ_ERROR(DQ_EIO, "%s: cannot create directory: %s", dir,
                        strerror(e));
    return DQ_OK;
}

int dq_mkdirs_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return DQ_OK;
    char *dir = strndup(path, (size_t)(slash - path));
    if (!dir) return DQ_ERROR(DQ_ENOMEM, "%s: out of memory", path);
    int rc = dq_mkdirs(dir);
    free(dir);
    return rc;
}

char *dq_tmp_path(const char *path)
{
    size_t n = strlen(path) + 5;
    char *t = malloc(n);
    if (t) snprintf(t, n, "%s.tmp", path);
    return t;
}

dq_afile *dq_afile_open(const char *path)
{
    if (dq_mkdirs_parent(path) != DQ_OK) return NULL;
    dq_afile *af = calloc(1, sizeof *af);
    if (!af) DQ_ERROR_NULL(DQ_ENOMEM, "%s: out of memory", path);
    af->path = strdup(path);
    af->tmp = dq_tmp_path(path);
    if (!af->path || !af->tmp) {
        dq_afile_abort(af); /* exception in constructor, avoid memory leak */
        DQ_ERROR_NULL(DQ_ENOMEM, "%s: out of memory", path);
    }
    af->fp = fopen(af->tmp, "w");
    if (!af->fp) {
        int e = errno;
        free(af->path);
        free(af->tmp);
        free(af);
        DQ_ERROR_NULL(DQ_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    return af;
}

static void afile_free(dq_afile *af)
{
    free(af->path);
    free(af->tmp);
    free(af);
}

int dq_afile_commit(dq_afile *af)
{
    int bad = ferror(af->fp);
    bad |= fflush(af->fp) != 0;
    bad |= fsync(fileno(af->fp)) != 0 && errno != EINVAL;
    bad |= fclose(af->fp) != 0;
    af->fp = NULL;
    if (bad) {
        int e = errno;
        unlink(af->tmp);
        int rc = DQ_ERROR(DQ_EIO, "%s: write failed: %s", af->path, strerror(e));
        afile_free(af);
        return rc;
    }
    if (rename(af->tmp, af->path) != 0) {
        int e = errno;
        unlink(af->tmp);
        int rc = DQ_ERROR(DQ_EIO, "%s: cannot rename temporary file: %s",
                          af->path, strerror(e));
        afile_free(af);
        return rc;
    }
    afile_free(af);
    return DQ_OK;
}

void dq_afile_abort(dq_afile *af)
{
    if (!af) return;
    if (af->fp) fclose(af->fp);
    if (af->tmp) unlink(af->tmp);
    afile_free(af);
}

int dq_write_text_atomic(const char *path, const char *text)
{
    dq_afile *af = dq_afile_open(path);
    if (!af) return dq_error_status();
    fputs(text, af->fp);
    return dq_afile_commit(af);
}

int dq_read_text(const char *path, char **out, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return DQ_ERROR(DQ_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n - 1, fp);
        n += r;
        if (n + 1 < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(fp);
    fclose(fp);
    if (!buf) return DQ_ERROR(DQ_ENOMEM, "%s: out of memory", path);
    if (err) {
        free(buf);
        return DQ_ERROR(DQ_EIO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return DQ_OK;
}
