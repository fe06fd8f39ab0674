/*
 * log.h — diagnostics and progress reporting on stderr.
 *
 * Levels: DQ_LOG_QUIET (-q: warnings only, no progress), DQ_LOG_INFO (the
 * default) and DQ_LOG_DEBUG (-v).  Warnings always print, as
 * "dnateq: warning: ...".  Info and debug lines print as given.  Results
 * belong on stdout or in files, never here.
 *
 * A dq_progress shows how far a long loop has got:
 *   - on a TTY, one bar with count, rate and ETA, redrawn in place with
 *     '\r' at most 10 times a second;
 *   - otherwise (a log file, CI), a plain line at every 10% step or every
 *     5 seconds, whichever comes first;
 *   - at DQ_LOG_QUIET, nothing.
 * dq_progress_free() prints the final line ("label: N/N done in 1.2 s").
 * dq_progress_update() and dq_progress_add() may be called from inside an
 * OpenMP loop: the count is kept with atomics and drawing is serialised.
 *
 * Contract: dq_progress_alloc() returns NULL only when out of memory;
 * every dq_progress_* function accepts NULL and then does nothing.
 */
#ifndef DQ_LOG_H
#define DQ_LOG_H

#include <stdint.h>
#include <stdio.h>

enum { DQ_LOG_QUIET = 0, DQ_LOG_INFO = 1, DQ_LOG_DEBUG = 2 };

void dq_log_set_level(int level);
int dq_log_level(void);
/* Where log lines and progress go; NULL restores stderr.  A stream that is
 * not a TTY gets the plain-line progress format. */
void dq_log_set_stream(FILE *fp);

void dq_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dq_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dq_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

typedef struct dq_progress dq_progress;

/* total <= 0: unknown total (count and rate only, no ETA). */
dq_progress *dq_progress_alloc(const char *label, int64_t total);
/* done = items finished so far; out-of-order calls keep the largest. */
void dq_progress_update(dq_progress *p, int64_t done);
/* Add n finished items. */
void dq_progress_add(dq_progress *p, int64_t n);
/* Print the final line and free. */
void dq_progress_free(dq_progress *p);

#endif
