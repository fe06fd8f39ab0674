/*
 * error.h — the one error convention of dnateq (GSL-style).
 *
 * Every library function that can fail returns an int status (DQ_OK == 0
 * on success) or NULL, and records a human-readable message with
 * DQ_ERROR().  The message names the file and object involved, e.g.
 * "data/zoo/mlp.h5: dataset '/nodes/fc1/weight': rank 3, expected 2".
 * Callers read it with dq_error_message().  Messages are thread-local, so
 * OpenMP workers do not overwrite each other's errors.
 *
 * Drivers turn an error into "dnateq: <message>" on stderr and a non-zero
 * exit with dq_die().
 */
#ifndef DQ_ERROR_H
#define DQ_ERROR_H

enum dq_status {
    DQ_OK = 0,
    DQ_EINVAL = 1,  /* invalid argument or value (NaN, out of range, ...) */
    DQ_EIO = 2,     /* cannot open, read, write or rename a file */
    DQ_EFORMAT = 3, /* file exists but its content is wrong or corrupt */
    DQ_ENOMEM = 4,  /* allocation failed */
    DQ_ECONFIG = 5, /* configuration error (unknown key, bad type, ...) */
    DQ_EUNSUP = 6,  /* unsupported op, scheme or feature */
    DQ_EOVERFLOW = 7
};

/* Record a formatted message and evaluate to status. */
int dq_error_set(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefix the current message with "prefix: " (to add file/object context). */
int dq_error_prefix(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define DQ_ERROR(status, ...) dq_error_set((status), __VA_ARGS__)

/* Record the message and return NULL from the enclosing function. */
#define DQ_ERROR_NULL(status, ...)                                            \
    do {                                                                       \
        dq_error_set((status), __VA_ARGS__);                                   \
        return NULL;                                                           \
    } while (0)

/* Evaluate expr; on a non-zero status, return it from the caller. */
#define DQ_TRY(expr)                                                           \
    do {                                                                       \
        int dq_try_s_ = (expr);                                                \
        if (dq_try_s_ != DQ_OK) return dq_try_s_;                              \
    } while (0)

const char *dq_error_message(void);
int dq_error_status(void);
void dq_error_clear(void);
const char *dq_status_name(int status);

/* Print "dnateq: <message>" to stderr and exit(1). */
_Noreturn void dq_die(void);
/* Print "dnateq: <formatted>" to stderr and exit(code). */
_Noreturn void dq_fatal(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
