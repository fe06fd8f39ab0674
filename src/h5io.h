/*
 * h5io.h — every HDF5 file dnateq reads or writes goes through here.
 *
 * Files carry root attributes `format` (e.g. "dnateq-tensors"), `version`
 * (int), `created_by` (dnateq's git revision) and, for results, `config`
 * (the full effective config text, written by the driver).
 *
 * Writing is atomic: dq_h5_create() writes "<path>.tmp" in the same
 * directory (creating missing parent directories); dq_h5_commit() closes
 * it and rename()s it over <path>; dq_h5_abort() removes the temporary.  A
 * killed run never leaves a half-written file under the final name.
 *
 * Reading validates: dq_h5_open() checks the HDF5 signature, lets a child
 * process read the metadata first (dq_h5_probe(): HDF5 1.10 crashes on
 * some corrupt files), then checks `format` and `version`;
 * dq_h5_read_tensor() checks dtype (float32) and rank.  Every
 * failure returns NULL or a status with a message naming the file and the
 * object (error.h).  HDF5's own error-stack printing is silenced.
 *
 * HDF5 (serial build) is not thread-safe: call h5io from one thread only.
 * Object paths are absolute ("/nodes/fc1/weight"); writers create missing
 * intermediate groups.
 */
#ifndef DQ_H5IO_H
#define DQ_H5IO_H

#include "tensor.h"

#include <stdint.h>

typedef struct dq_h5 dq_h5;

dq_h5 *dq_h5_create(const char *path, const char *format, int version);
int dq_h5_commit(dq_h5 *f); /* always frees f */
void dq_h5_abort(dq_h5 *f); /* always frees f; NULL is a no-op */

/* format == NULL accepts any format; version must be 1..max_version.
 * The probe below runs first, and the file keeps what its child read:
 * every attribute query on a file opened here (dq_h5_has_attr,
 * dq_h5_get_attr_*, dq_h5_list_attrs, dq_h5_attr_info) answers from that
 * snapshot, with the values, statuses and messages HDF5 would give, so
 * HDF5 never parses an attribute in this process. */
dq_h5 *dq_h5_open(const char *path, const char *format, int max_version);
void dq_h5_close(dq_h5 *f); /* NULL is a no-op */

/* Check that HDF5 survives reading the metadata of the file at path: a
 * fork()ed child opens it read-only and reads what the loaders read
 * (every object with its full info, every attribute, strings included,
 * every link by name, every dataset's type, dataspace, creation
 * properties and storage size; no bulk data).
 *   DQ_OK       the child succeeded, or HDF5 reported an error there (the
 *               loader then meets it and reports it with its own message);
 *   DQ_EFORMAT  naming the file, what was being read and why: the child
 *               crashed (a signal, or a sanitizer's report), needed more
 *               than 1 GiB plus 4 bytes per byte of the file beyond the
 *               address space it inherits (RLIMIT_AS; under
 *               AddressSanitizer this bounds large allocations only),
 *               ran for more than 10 s of CPU (RLIMIT_CPU) or 30 s in all
 *               (alarm), or HDF5 could not open the file at all;
 *   DQ_EIO      the file is missing, the check could not run (fork
 *               failed) or was interrupted (SIGINT, SIGTERM, ...).
 * The parent flushes stdout and stderr before fork(); the child calls only
 * HDF5 (never OpenMP), resets every signal to its default action, writes
 * no core file, and leaves by _exit() (no atexit handlers).  Cost: one
 * fork and a second metadata read per open, about 3 ms for
 * data/zoo/alexnet.h5 in a small process, 5-15 ms in one with a large
 * heap (fork copies its page tables).  DNATEQ_H5_PROBE=0 in the
 * environment skips it (debugging only: a corrupt file can then crash
 * the process, and dq_h5_open asks HDF5 for attributes again). */
int dq_h5_probe(const char *path);

const char *dq_h5_path(const dq_h5 *f);
const char *dq_h5_format(const dq_h5 *f);
int dq_h5_version(const dq_h5 *f);

int dq_h5_exists(dq_h5 *f, const char *obj); /* 1 if a link exists */
int dq_h5_mkgroup(dq_h5 *f, const char *obj);

/* Float32 tensors.  compress != 0 uses chunked gzip (level 4, shuffle). */
int dq_h5_write_tensor(dq_h5 *f, const char *obj, const dq_tensor *t,
                       int compress);
int dq_h5_read_tensor(dq_h5 *f, const char *obj, dq_tensor **out);
/* As above, and require this rank (rank < 0: any). */
int dq_h5_read_tensor_rank(dq_h5 *f, const char *obj, int rank,
                           dq_tensor **out);

/* 1-D int64 datasets (labels, predictions, counts). */
int dq_h5_write_ints(dq_h5 *f, const char *obj, const int64_t *v, int64_t n);
int dq_h5_read_ints(dq_h5 *f, const char *obj, int64_t **v, int64_t *n);
/* 1-D float64 datasets (per-element results). */
int dq_h5_write_doubles(dq_h5 *f, const char *obj, const double *v, int64_t n);
int dq_h5_read_doubles(dq_h5 *f, const char *obj, double **v, int64_t *n);

/* Attributes on an object ("/" for the root).  Setting replaces. */
int dq_h5_has_attr(dq_h5 *f, const char *obj, const char *name);
int dq_h5_set_attr_str(dq_h5 *f, const char *obj, const char *name,
                       const char *val);
int dq_h5_set_attr_int(dq_h5 *f, const char *obj, const char *name,
                       int64_t val);
int dq_h5_set_attr_double(dq_h5 *f, const char *obj, const char *name,
                          double val);
int dq_h5_set_attr_ints(dq_h5 *f, const char *obj, const char *name,
                        const int64_t *v, int n);
int dq_h5_set_attr_doubles(dq_h5 *f, const char *obj, const char *name,
                           const double *v, int n);
/* *out is malloc()ed; free() it. */
int dq_h5_get_attr_str(dq_h5 *f, const char *obj, const char *name,
                       char **out);
int dq_h5_get_attr_int(dq_h5 *f, const char *obj, const char *name,
                       int64_t *out);
int dq_h5_get_attr_double(dq_h5 *f, const char *obj, const char *name,
                          double *out);
/* Reads up to max values into v; *n receives the attribute's length. */
int dq_h5_get_attr_ints(dq_h5 *f, const char *obj, const char *name,
                        int64_t *v, int max, int *n);
int dq_h5_get_attr_doubles(dq_h5 *f, const char *obj, const char *name,
                           double *v, int max, int *n);

/* What an attribute or dataset holds (for generic tools like inspect). */
typedef enum {
    DQ_H5_OTHER = 0,
    DQ_H5_INT,
    DQ_H5_FLOAT,
    DQ_H5_STRING
} dq_h5_kind;

/* Names of the attributes of obj, sorted by name (dq_h5_list_free()). */
int dq_h5_list_attrs(dq_h5 *f, const char *obj, char ***names, int *n);
/* Kind and number of elements of attribute name on obj. */
int dq_h5_attr_info(dq_h5 *f, const char *obj, const char *name,
                    dq_h5_kind *kind, int64_t *len);
/* Kind, element size in bytes, rank and shape (DQ_MAX_RANK entries) of a
 * dataset; DQ_EFORMAT when its rank exceeds DQ_MAX_RANK. */
int dq_h5_dataset_info(dq_h5 *f, const char *obj, dq_h5_kind *kind,
                       int *elsize, int *rank, int64_t *shape);

/* Names of the direct members of a group, sorted by name.  Free the list
 * with dq_h5_list_free(). */
int dq_h5_list(dq_h5 *f, const char *group, char ***names, int *n);
void dq_h5_list_free(char **names, int n);
/* 1 if obj is a group, 0 if a dataset, <0 on error. */
int dq_h5_is_group(dq_h5 *f, const char *obj);

#endif
