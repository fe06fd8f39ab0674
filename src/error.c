/*
 * error.c — thread-local error message store behind DQ_ERROR (error.h).
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DQ_ERRMSG_MAX 2048
#define DQ_PREFIX_MAX 1024

static _Thread_local char dq_errmsg[DQ_ERRMSG_MAX];
static _Thread_local int dq_errstatus;

int dq_error_set(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dq_errmsg, sizeof dq_errmsg, fmt, ap);
    va_end(ap);
    dq_errstatus = status;
    return status;
}

int dq_error_prefix(int status, const char *fmt, ...)
{
    char prefix[DQ_PREFIX_MAX], old[DQ_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, dq_errmsg, sizeof old);
    snprintf(dq_errmsg, sizeof dq_errmsg, "%.1000s: %.1000s", prefix,
             old[0] ? old : dq_status_name(status));
    dq_errstatus = status;
    return status;
}

const char *dq_error_message(void)
{
    return dq_errmsg[0] ? dq_errmsg : "unknown error";
}

int dq_error_status(void) { return dq_errstatus; }

void dq_error_clear(void)
{
    dq_errmsg[0] = '\0';
    dq_errstatus = DQ_OK;
}

const char *dq_status_name(int status)
{
    switch (status) {
    case DQ_OK: return "success";
    case DQ_EINVAL: return "invalid value";
    case DQ_EIO: return "I/O error";
    case DQ_EFORMAT: return "bad file format";
    case DQ_ENOMEM: return "out of memory";
    case DQ_ECONFIG: return "configuration error";
    case DQ_EUNSUP: return "unsupported";
    case DQ_EOVERFLOW: return "overflow";
    default: return "unknown status";
    }
}

void dq_die(void)
{
    fprintf(stderr, "dnateq: %s\n", dq_error_message());
    exit(1);
}

void dq_fatal(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("dnateq: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code ? code : 1);
}
