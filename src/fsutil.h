/*
 * fsutil.h — small file-system helpers shared by every writer.
 *
 * dq_afile is an atomically written text file (CSV, Markdown, LaTeX):
 * dq_afile_open() returns a FILE* onto "<path>.tmp" (creating missing
 * parent directories); dq_afile_commit() checks for write errors, closes
 * and rename()s it over <path>; dq_afile_abort() removes the temporary.
 *
 * dq_git_revision() is the revision the library was built from
 * ("unknown" outside a git checkout); every result file records it.
 */
#ifndef DQ_FSUTIL_H
#define DQ_FSUTIL_H

#include <stdio.h>

typedef struct dq_afile {
    FILE *fp;
    char *path;
    char *tmp;
} dq_afile;

int dq_mkdirs(const char *dir);
int dq_mkdirs_parent(const char *path);
/* "<path>.tmp"; malloc()ed. */
char *dq_tmp_path(const char *path);

dq_afile *dq_afile_open(const char *path);
int dq_afile_commit(dq_afile *af); /* always frees af */
void dq_afile_abort(dq_afile *af); /* always frees af; NULL is a no-op */

/* Write a whole string atomically. */
int dq_write_text_atomic(const char *path, const char *text);
/* Read a whole file; *out malloc()ed and NUL-terminated. */
int dq_read_text(const char *path, char **out, size_t *len);

const char *dq_git_revision(void);

#endif
