/*
 * log.c — log levels, warnings and the progress bar / progress lines
 * (see log.h).  Every driver and long-running module reports through here,
 * so -v / -q behave the same everywhere.
 */
#define _POSIX_C_SOURCE 200809L
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_TTY_PERIOD 0.1   /* seconds between bar redraws */
#define PROGRESS_LINE_PERIOD 5.0  /* seconds between plain lines at most */
#define PROGRESS_BAR_WIDTH 24

static int log_level = DQ_LOG_INFO;
static FILE *log_fp; /* NULL: stderr */
/* A TTY bar is on screen: a log line must first clear it. */
static atomic_int bar_on_screen;

void dq_log_set_level(int level)
{
    log_level = level < DQ_LOG_QUIET   ? DQ_LOG_QUIET
                : level > DQ_LOG_DEBUG ? DQ_LOG_DEBUG
                                       : level;
}

int dq_log_level(void) { return log_level; }

void dq_log_set_stream(FILE *fp) { log_fp = fp; }

static FILE *log_stream(void) { return log_fp ? log_fp : stderr; }

static int stream_is_tty(void) { return isatty(fileno(log_stream())); }

/* One whole line per call, so lines from several threads do not mix. */
static void log_line(const char *prefix, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t len = strlen(msg);
    const char *nl = len && msg[len - 1] == '\n' ? "" : "\n";
    FILE *fp = log_stream();
    flockfile(fp);
    if (atomic_load(&bar_on_screen)) fputs("\r\033[K", fp);
    fprintf(fp, "%s%s%s", prefix, msg, nl);
    fflush(fp);
    funlockfile(fp);
}

void dq_log_info(const char *fmt, ...)
{
    if (log_level < DQ_LOG_INFO) return;
    va_list ap;
    va_start(ap, fmt);
    log_line("", fmt, ap);
    va_end(ap);
}

void dq_log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line("dnateq: warning: ", fmt, ap);
    va_end(ap);
}

void dq_log_debug(const char *fmt, ...)
{
    if (log_level < DQ_LOG_DEBUG) return;
    va_list ap;
    va_start(ap, fmt);
    log_line("", fmt, ap);
    va_end(ap);
}

/* ---- progress ----------------------------------------------------------- */

struct dq_progress {
    char label[96];
    int64_t total;
    atomic_llong done;
    atomic_llong last_ns;   /* time of the last output, ns since t0 */
    atomic_int next_step;   /* plain mode: next 10% step to report (1..9) */
    struct timespec t0;
    int tty, quiet;
};

static int64_t elapsed_ns(const dq_progress *p)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - p->t0.tv_sec) * 1000000000LL +
           (now.tv_nsec - p->t0.tv_nsec);
}

/* "42s", "3m05s", "2h07m" */
static const char *fmt_duration(char *buf, size_t len, double s)
{
    long t = (long)(s + 0.5);
    if (t < 60) snprintf(buf, len, "%lds", t);
    else if (t < 3600) snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, len, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
    return buf;
}

static const char *fmt_rate(char *buf, size_t len, double rate)
{
    snprintf(buf, len, rate >= 100 ? "%.0f/s" : "%.3g/s", rate);
    return buf;
}

/* The text after the label: "45% 4500/10000 1234/s ETA 12s". */
static void progress_text(char *buf, size_t len, const dq_progress *p,
                          int64_t done, double secs)
{
    char r[32], eta[32];
    double rate = secs > 0 ? (double)done / secs : 0.0;
    fmt_rate(r, sizeof r, rate);
    if (p->total <= 0) {
        snprintf(buf, len, "%lld done, %s", (long long)done, r);
        return;
    }
    double left = rate > 0 ? (double)(p->total - done) / rate : 0.0;
    snprintf(buf, len, "%3d%% %lld/%lld %s ETA %s",
             (int)(100.0 * (double)done / (double)p->total), (long long)done,
             (long long)p->total, r, fmt_duration(eta, sizeof eta, left));
}

static void progress_draw(dq_progress *p, int64_t done, double secs)
{
    char text[160];
    FILE *fp = log_stream();
    progress_text(text, sizeof text, p, done, secs);
    if (!p->tty) {
        fprintf(fp, "%s: %s\n", p->label, text);
        fflush(fp);
        return;
    }
    char bar[PROGRESS_BAR_WIDTH + 1];
    int fill = p->total > 0 ? (int)(PROGRESS_BAR_WIDTH * done / p->total) : 0;
    for (int i = 0; i < PROGRESS_BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
    bar[PROGRESS_BAR_WIDTH] = '\0';
    fprintf(fp, "\r%s [%s] %s\033[K", p->label, bar, text);
    fflush(fp);
    atomic_store(&bar_on_screen, 1);
}

/* Plain mode: is a line due for `done` items at time now_ns? */
static int plain_due(dq_progress *p, int64_t done, int64_t now_ns)
{
    if (now_ns - atomic_load(&p->last_ns) >= PROGRESS_LINE_PERIOD * 1e9)
        return 1;
    if (p->total <= 0) return 0;
    int step = atomic_load(&p->next_step);
    return step < 10 && done * 10 >= step * p->total;
}

static void progress_maybe_draw(dq_progress *p)
{
    int64_t now = elapsed_ns(p);
    int64_t done = atomic_load(&p->done);
    int due = p->tty ? now - atomic_load(&p->last_ns) >=
                           PROGRESS_TTY_PERIOD * 1e9
                     : plain_due(p, done, now);
    if (!due) return;
#pragma omp critical(dq_progress)
    {
        done = atomic_load(&p->done);
        /* Re-check under the lock: another thread may have just drawn. */
        if (p->tty ? now - atomic_load(&p->last_ns) >=
                         PROGRESS_TTY_PERIOD * 1e9
                   : plain_due(p, done, now)) {
            progress_draw(p, done, (double)now * 1e-9);
            atomic_store(&p->last_ns, now);
            if (p->total > 0)
                atomic_store(&p->next_step, (int)(done * 10 / p->total) + 1);
        }
    }
}

dq_progress *dq_progress_alloc(const char *label, int64_t total)
{
    dq_progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total;
    atomic_init(&p->done, 0);
    atomic_init(&p->last_ns, 0);
    atomic_init(&p->next_step, 1);
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    p->quiet = log_level < DQ_LOG_INFO;
    p->tty = !p->quiet && stream_is_tty();
    return p;
}

void dq_progress_update(dq_progress *p, int64_t done)
{
    if (!p || p->quiet) return;
    long long cur = atomic_load(&p->done);
    while (done > cur && !atomic_compare_exchange_weak(&p->done, &cur, done))
        ;
    progress_maybe_draw(p);
}

void dq_progress_add(dq_progress *p, int64_t n)
{
    if (!p || p->quiet) return;
    atomic_fetch_add(&p->done, n);
    progress_maybe_draw(p);
}

void dq_progress_free(dq_progress *p)
{
    if (!p) return;
    if (!p->quiet) {
        double secs = (double)elapsed_ns(p) * 1e-9;
        int64_t done = atomic_load(&p->done);
        char t[32], r[32];
        FILE *fp = log_stream();
        fprintf(fp, "%s%s: %lld", p->tty ? "\r" : "", p->label,
                (long long)done);
        if (p->total > 0) fprintf(fp, "/%lld", (long long)p->total);
        fprintf(fp, " done in %s (%s)%s\n",
                secs < 10 ? (snprintf(t, sizeof t, "%.2fs", secs), t)
                          : fmt_duration(t, sizeof t, secs),
                fmt_rate(r, sizeof r, secs > 0 ? (double)done / secs : 0.0),
                p->tty ? "\033[K" : "");
        fflush(fp);
        atomic_store(&bar_on_screen, 0);
    }
    free(p);
}
