/*
 * bench_expq.c — dnateq-bench_expq: wall time of the DNA-TEQ (expq)
 * parameter search, and its speed-up over a per-element search.
 *
 *   dnateq-bench_expq [--set bench_expq.dumps=GLOB]   (default: every dump)
 *
 * Jobs: every tensor (weights and activation samples) of every dump x
 * bits bits_min..bits_max, searched with the histogram method
 * (dq_expq_search_batch) at 1 and at 2 threads.  The straightforward
 * per-element implementation of the same search (opts.exact: the same
 * grid, golden section and Lloyd steps, every candidate evaluated on every
 * element) is timed on the jobs of bench_expq.exact_bits only, next to the
 * histogram method on the same jobs, at 1 thread; the ratio of the two is
 * the speed-up.  A benchmark, not a test: figures go to stdout and to
 * <run.out>/bench/bench_expq.txt.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "config.h"
#include "error.h"
#include "fsutil.h"
#include "h5io.h"
#include "log.h"
#include "quant/expq.h"
#include "quant/quant.h"
#include "tensor.h"

#include <glob.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const dq_cfg_key bench_keys[] = {
    {"bench_expq", "dumps", DQ_CFG_STR, "data/tensors/*.h5", 1, 0,
     "tensor dumps (a glob; several separated by spaces)"},
    {"bench_expq", "bits_min", DQ_CFG_INT, "2", 2, 8, "smallest bitwidth"},
    {"bench_expq", "bits_max", DQ_CFG_INT, "8", 2, 8, "largest bitwidth"},
    {"bench_expq", "exact_bits", DQ_CFG_INT, "4", 2, 8,
     "bitwidth of the jobs timed with the per-element search"},
    {"bench_expq", "repeat", DQ_CFG_INT, "1", 1, 100,
     "timed repetitions of the histogram runs (the best is reported)"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

static const dq_cfg_key *const tables[] = {dq_run_keys, bench_keys,
                                           dq_quant_keys, NULL};

static const dq_cli_spec spec = {
    .name = "dnateq-bench_expq",
    .summary = "time the expq parameter search: histogram method at 1 and "
               "2 threads, and per-element",
    .tables = tables,
};

typedef struct {
    char name[2 * DQ_NAME_MAX];
    dq_tensor *t;
} tin;

static int load_dumps(const char *pattern, tin **out, int *nout)
{
    glob_t g;
    memset(&g, 0, sizeof g);
    char *pat = strdup(pattern);
    if (!pat) return DQ_ERROR(DQ_ENOMEM, "out of memory");
    int flags = 0;
    for (char *tok = strtok(pat, " "); tok; tok = strtok(NULL, " ")) {
        glob(tok, flags, NULL, &g);
        flags = GLOB_APPEND;
    }
    free(pat);
    if (g.gl_pathc == 0) {
        globfree(&g);
        return DQ_ERROR(DQ_EIO, "bench_expq.dumps: no file matches '%s' "
                        "(run the dump experiment first)", pattern);
    }
    tin *ts = NULL;
    int n = 0, cap = 0, st = DQ_OK;
    for (size_t k = 0; k < g.gl_pathc && st == DQ_OK; k++) {
        dq_h5 *f = dq_h5_open(g.gl_pathv[k], "dnateq-tensors", 1);
        if (!f) {
            st = dq_error_status();
            break;
        }
        char **names = NULL;
        int nn = 0;
        st = dq_h5_list(f, "/tensors", &names, &nn);
        for (int i = 0; i < nn && st == DQ_OK; i++) {
            char obj[2 * DQ_NAME_MAX];
            snprintf(obj, sizeof obj, "/tensors/%s", names[i]);
            if (n == cap) {
                cap = cap ? 2 * cap : 32;
                tin *nt = realloc(ts, sizeof *ts * (size_t)cap);
                if (!nt) {
                    st = DQ_ERROR(DQ_ENOMEM, "out of memory");
                    break;
                }
                ts = nt;
            }
            memset(&ts[n], 0, sizeof ts[n]);
            snprintf(ts[n].name, sizeof ts[n].name, "%s:%s", g.gl_pathv[k],
                     names[i]);
            st = dq_h5_read_tensor(f, obj, &ts[n].t);
            if (st == DQ_OK) n++;
        }
        dq_h5_list_free(names, nn);
        dq_h5_close(f);
    }
    globfree(&g);
    if (st != DQ_OK) {
        for (int i = 0; i < n; i++) dq_tensor_free(ts[i].t);
        free(ts);
        return st;
    }
    *out = ts;
    *nout = n;
    return DQ_OK;
}

static dq_expq_job *make_jobs(const tin *ts, int nt, int bmin, int bmax,
                              int *nj)
{
    int n = nt * (bmax - bmin + 1);
    dq_expq_job *j = calloc((size_t)n, sizeof *j);
    if (!j) return NULL;
    for (int t = 0, k = 0; t < nt; t++)
        for (int b = bmin; b <= bmax; b++, k++) {
            j[k].x = ts[t].t->data;
            j[k].n = ts[t].t->size;
            j[k].bits = b;
            j[k].is_signed = -1;
        }
    *nj = n;
    return j;
}

/* Seconds for one batch run at `threads`. */
static double timed(dq_expq_job *jobs, int nj, const dq_quant_opts *o,
                    int threads)
{
    omp_set_num_threads(threads);
    double t0 = omp_get_wtime();
    if (dq_expq_search_batch(jobs, nj, o) != DQ_OK) dq_die();
    return omp_get_wtime() - t0;
}

int main(int argc, char **argv)
{
    dq_config *c = dq_cli_parse(&spec, argc, argv);
    dq_quant_opts o;
    if (dq_quant_opts_from_config(c, "quant", &o) != DQ_OK) dq_die();
    int bmin = (int)dq_config_int(c, "bench_expq", "bits_min");
    int bmax = (int)dq_config_int(c, "bench_expq", "bits_max");
    int eb = (int)dq_config_int(c, "bench_expq", "exact_bits");
    int rep = (int)dq_config_int(c, "bench_expq", "repeat");
    if (bmin > bmax) dq_fatal(2, "[bench_expq] bits_min > bits_max");
    tin *ts = NULL;
    int nt = 0;
    if (load_dumps(dq_config_str(c, "bench_expq", "dumps"), &ts, &nt) != DQ_OK)
        dq_die();
    int64_t elems = 0;
    for (int i = 0; i < nt; i++) elems += ts[i].t->size;

    /* histogram method, all jobs, 1 and 2 threads; results must agree */
    int nj = 0;
    dq_expq_job *j1 = make_jobs(ts, nt, bmin, bmax, &nj);
    dq_expq_job *j2 = make_jobs(ts, nt, bmin, bmax, &nj);
    if (!j1 || !j2) dq_fatal(1, "out of memory");
    double t1 = INFINITY, t2 = INFINITY;
    for (int r = 0; r < rep; r++) {
        double a = timed(j1, nj, &o, 1), b = timed(j2, nj, &o, 2);
        if (a < t1) t1 = a;
        if (b < t2) t2 = b;
    }
    int same = 1;
    for (int k = 0; k < nj; k++)
        same &= memcmp(&j1[k].fit, &j2[k].fit, sizeof j1[k].fit) == 0;

    /* per-element vs histogram on the exact_bits jobs, 1 thread */
    int ne = 0;
    dq_expq_job *eh = make_jobs(ts, nt, eb, eb, &ne);
    dq_expq_job *ee = make_jobs(ts, nt, eb, eb, &ne);
    if (!eh || !ee) dq_fatal(1, "out of memory");
    dq_quant_opts ox = o;
    ox.exact = 1;
    double th = INFINITY;
    for (int r = 0; r < rep; r++) {
        double a = timed(eh, ne, &o, 1);
        if (a < th) th = a;
    }
    dq_log_info("bench_expq: per-element search of %d jobs at %d bits "
                "(slow)...", ne, eb);
    double te = timed(ee, ne, &ox, 1);
    double maxdiff = 0;
    for (int k = 0; k < ne; k++) {
        double a = eh[k].fit.objective, b = ee[k].fit.objective;
        double d = fabs(a - b) / (b > 0 ? b : 1);
        if (d > maxdiff) maxdiff = d;
    }

    char text[4096];
    snprintf(text, sizeof text,
             "# dnateq-bench_expq (created_by %s, seed %lld)\n"
             "tensors                 %d (%lld elements)\n"
             "jobs (tensor x bits)    %d (bits %d..%d)\n"
             "histogram, 1 thread     %.3f s\n"
             "histogram, 2 threads    %.3f s  (x%.2f; results %s)\n"
             "per-element, %d bits     %.3f s  (%d jobs, 1 thread)\n"
             "histogram, %d bits       %.3f s  (same jobs, 1 thread)\n"
             "speed-up                x%.1f\n"
             "objective: histogram-search optimum vs per-element-search "
             "optimum, max relative difference %.2e\n",
             dq_git_revision(), (long long)dq_config_int(c, "run", "seed"), nt,
             (long long)elems, nj, bmin, bmax, t1, t2, t1 / t2,
             same ? "byte-identical" : "DIFFER", eb, te, ne, eb, th, te / th,
             maxdiff);
    fputs(text, stdout);
    fflush(stdout);
    char path[4096];
    snprintf(path, sizeof path, "%s/bench/bench_expq.txt",
             dq_config_str(c, "run", "out"));
    char *cfg = dq_config_dump(c);
    size_t len = strlen(text) + (cfg ? strlen(cfg) : 0) + 64;
    char *all = malloc(len);
    if (all) {
        snprintf(all, len, "%s# config:\n%s", text, cfg ? cfg : "");
        if (dq_write_text_atomic(path, all) != DQ_OK) dq_die();
        dq_log_info("wrote %s", path);
    }
    free(all);
    free(cfg);
    free(j1);
    free(j2);
    free(eh);
    free(ee);
    for (int i = 0; i < nt; i++) dq_tensor_free(ts[i].t);
    free(ts);
    dq_config_free(c);
    return same ? 0 : 1;
}
