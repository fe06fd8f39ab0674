/*
 * qerror.c — dnateq-qerror: quantization error against bitwidth for every
 * registered scheme, on every tensor of a tensor dump (DESIGN §5, qerror).
 *
 *   dnateq-qerror [configs/qerror.ini] --set qerror.dump=data/tensors/M.h5
 *
 * For every tensor of the dump (weights and sampled activations), every
 * scheme variant (each registered scheme; uniform once per calibrator in
 * qerror.uniform_calibrators) and every bitwidth in bits_min..bits_max:
 * calibrate, fake-quantize and measure RMAE, MSE and SQNR.  Jobs run in
 * parallel with OpenMP; each result depends only on its own inputs and is
 * stored at its job's index, so every output is byte-identical for any
 * thread count.
 *
 * Outputs, in <run.out>/qerror/ (all atomic, all recording the config,
 * git revision and seed):
 *   <model>.csv                one row per (tensor, scheme variant, bits)
 *   <model>_summary.csv        per (variant, tensor kind, bits): mean and
 *                              spread (min, quartiles, max) of RMAE over
 *                              the tensors; plots/qerror.gp draws it
 *   <model>_expq_params.h5     DNA-TEQ's searched parameters per tensor and
 *                              bitwidth, and the shared-base pair search
 *                              per layer (format dnateq-results; schema in
 *                              the README)
 */
#include "cli.h"
#include "config.h"
#include "error.h"
#include "fsutil.h"
#include "report.h"
#include "h5io.h"
#include "log.h"
#include "quant/expq.h"
#include "quant/quant.h"
#include "tensor.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const dq_cfg_key qerror_keys[] = {
    {"qerror", "dump", DQ_CFG_STR, "", 1, 0,
     "tensor dump (format dnateq-tensors); empty: data/tensors/<model>.h5 "
     "from run.model"},
    {"qerror", "bits_min", DQ_CFG_INT, "2", 2, 8,
     "smallest bitwidth (run.quick: at least 3; run.quick also sets "
     "uniform_calibrators = minmax,mse and coarse [quant] expq searches)"},
    {"qerror", "bits_max", DQ_CFG_INT, "8", 2, 8,
     "largest bitwidth (run.quick: at most 5)"},
    {"qerror", "schemes", DQ_CFG_STR, "all", 1, 0,
     "comma-separated registry names, or 'all'"},
    {"qerror", "uniform_calibrators", DQ_CFG_STR, "minmax,percentile,mse,kl",
     1, 0, "uniform is measured once per calibrator listed"},
    {"qerror", "weight_per_channel", DQ_CFG_BOOL, "false", 1, 0,
     "weights get per-output-channel parameters (activations never do)"},
    {"qerror", "act_symmetric", DQ_CFG_BOOL, "false", 1, 0,
     "uniform on activations: symmetric (true) or affine (false, torch's "
     "default); weights follow quant.symmetric"},
    {"qerror", "pairs", DQ_CFG_BOOL, "true", 1, 0,
     "also run the shared-base expq search for every layer and every "
     "(weight bits, activation bits)"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

static const dq_cfg_key *const tables[] = {dq_run_keys, qerror_keys,
                                           dq_quant_keys, NULL};

static const dq_cli_spec spec = {
    .name = "dnateq-qerror",
    .summary = "RMAE, MSE and SQNR against bits for every quantization "
               "scheme on every tensor of a dump",
    .usage_extra = "Writes <run.out>/qerror/<model>.csv, <model>_summary.csv "
                   "and <model>_expq_params.h5.",
    .tables = tables,
};

/* ---- inputs ------------------------------------------------------------------ */

typedef struct {
    char name[DQ_NAME_MAX];  /* dataset name under /tensors */
    char layer[DQ_NAME_MAX];
    int is_weight;
    int input_index;         /* activations */
    dq_tensor *t;
} tensor_in;

typedef struct {
    const dq_quant_scheme *s;
    char variant[32];        /* "minmax", ..., or "default" */
    dq_calibrator cal;
} variant;

typedef struct {
    int ti, vi, bits;
    int status;              /* DQ_OK, DQ_EUNSUP (n/a), or an error */
    char message[256];
    dq_qerror e;
    double objective;
    /* expq: per-channel base, alpha, beta, objective (nchan each) */
    int64_t nchan;
    double *ep;
} job;

static int load_dump(const char *path, char **model_name, tensor_in **out,
                     int *nout, char **dump_config)
{
    dq_h5 *f = dq_h5_open(path, "dnateq-tensors", 1);
    if (!f) return dq_error_status();
    int st = dq_h5_get_attr_str(f, "/", "model_name", model_name);
    if (st != DQ_OK) goto done;
    if (dq_h5_has_attr(f, "/", "config") == 1)
        dq_h5_get_attr_str(f, "/", "config", dump_config);
    char **names = NULL;
    int n = 0;
    st = dq_h5_list(f, "/tensors", &names, &n);
    if (st != DQ_OK) goto done;
    tensor_in *ts = calloc((size_t)(n ? n : 1), sizeof *ts);
    if (!ts) {
        dq_h5_list_free(names, n);
        st = DQ_ERROR(DQ_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    int m = 0;
    for (int i = 0; i < n && st == DQ_OK; i++) {
        char obj[2 * DQ_NAME_MAX], *kind = NULL, *layer = NULL;
        snprintf(obj, sizeof obj, "/tensors/%s", names[i]);
        if (dq_h5_is_group(f, obj) != 0) continue;
        tensor_in *ti = &ts[m];
        snprintf(ti->name, sizeof ti->name, "%s", names[i]);
        st = dq_h5_get_attr_str(f, obj, "kind", &kind);
        if (st == DQ_OK) st = dq_h5_get_attr_str(f, obj, "layer", &layer);
        if (st == DQ_OK) {
            ti->is_weight = strcmp(kind, "weight") == 0;
            if (!ti->is_weight && strcmp(kind, "activation") != 0)
                st = DQ_ERROR(DQ_EFORMAT, "%s: %s: kind '%s', expected "
                              "'weight' or 'activation'", path, obj, kind);
            snprintf(ti->layer, sizeof ti->layer, "%s", layer);
        }
        free(kind);
        free(layer);
        if (st == DQ_OK && !ti->is_weight) {
            int64_t k = 0;
            if (dq_h5_has_attr(f, obj, "input_index") == 1)
                st = dq_h5_get_attr_int(f, obj, "input_index", &k);
            ti->input_index = (int)k;
        }
        if (st == DQ_OK) st = dq_h5_read_tensor(f, obj, &ti->t);
        if (st == DQ_OK) {
            dq_tensor_set_name(ti->t, names[i]);
            m++;
        }
    }
    dq_h5_list_free(names, n);
    if (st != DQ_OK) {
        for (int i = 0; i < m; i++) dq_tensor_free(ts[i].t);
        free(ts);
        goto done;
    }
    if (m == 0) {
        free(ts);
        st = DQ_ERROR(DQ_EFORMAT, "%s: no tensors under /tensors", path);
        goto done;
    }
    *out = ts;
    *nout = m;
done:
    dq_h5_close(f);
    return st;
}

/* ---- variants ------------------------------------------------------------------ */

static int parse_calibrator(const char *s, dq_calibrator *c)
{
    static const char *const names[] = {"minmax", "percentile", "mse", "kl"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *c = (dq_calibrator)i;
            return DQ_OK;
        }
    return DQ_ERROR(DQ_ECONFIG, "[qerror] uniform_calibrators: unknown "
                    "calibrator '%s' (minmax, percentile, mse, kl)", s);
}

/* Split a comma list in place; trims blanks; returns the count. */
static int split_list(char *s, char **items, int max)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ",")) {
        while (*tok == ' ' || *tok == '\t') tok++;
        char *end = tok + strlen(tok);
        while (end > tok && (end[-1] == ' ' || end[-1] == '\t')) *--end = '\0';
        if (*tok) items[n++] = tok;
    }
    return n;
}

static int make_variants(const dq_config *c, variant **out, int *nout)
{
    char *sch = strdup(dq_config_str(c, "qerror", "schemes"));
    char *cal = strdup(dq_config_str(c, "qerror", "uniform_calibrators"));
    variant *v = calloc(64 + 4, sizeof *v);
    if (!sch || !cal || !v) {
        free(sch);
        free(cal);
        free(v);
        return DQ_ERROR(DQ_ENOMEM, "out of memory");
    }
    char *names[64], *cals[8];
    int nn, nc = split_list(cal, cals, 8), nv = 0, st = DQ_OK;
    if (strcmp(sch, "all") == 0) {
        nn = dq_quant_count();
        for (int i = 0; i < nn; i++) names[i] = (char *)dq_quant_get(i)->name;
    } else {
        nn = split_list(sch, names, 64);
    }
    for (int i = 0; i < nn && st == DQ_OK; i++) {
        const dq_quant_scheme *s = dq_quant_find(names[i]);
        if (!s) {
            st = dq_error_prefix(DQ_ECONFIG, "[qerror] schemes");
            break;
        }
        if (strcmp(s->name, "uniform") == 0) {
            for (int k = 0; k < nc && st == DQ_OK && nv < 64; k++) {
                dq_calibrator cc = DQ_CALIB_MINMAX;
                st = parse_calibrator(cals[k], &cc);
                v[nv].s = s;
                v[nv].cal = cc;
                snprintf(v[nv].variant, sizeof v[nv].variant, "%s", cals[k]);
                nv++;
            }
        } else if (nv < 64) {
            v[nv].s = s;
            v[nv].cal = DQ_CALIB_MINMAX;
            snprintf(v[nv].variant, sizeof v[nv].variant, "default");
            nv++;
        }
    }
    free(sch);
    free(cal);
    if (st == DQ_OK && nv == 0)
        st = DQ_ERROR(DQ_ECONFIG, "[qerror] schemes: nothing to measure");
    if (st != DQ_OK) {
        free(v);
        return st;
    }
    *out = v;
    *nout = nv;
    return DQ_OK;
}

/* ---- one job -------------------------------------------------------------------- */

static void run_job(job *jb, const tensor_in *tin, const variant *v,
                    const dq_quant_opts *base, int weight_pc, int act_sym)
{
    dq_quant_opts o = *base;
    o.calibrator = v->cal;
    o.per_channel = tin->is_weight ? weight_pc : 0;
    if (!tin->is_weight) o.symmetric = act_sym;
    dq_qparams *p = NULL;
    dq_error_clear();
    int st = dq_quant_measure(v->s, tin->t, jb->bits, &o, &jb->e, &p);
    jb->status = st;
    if (st != DQ_OK) {
        snprintf(jb->message, sizeof jb->message, "%s", dq_error_message());
        return;
    }
    jb->objective = p->chan[0].objective;
    if (strcmp(v->s->name, "expq") == 0) {
        jb->nchan = p->nchan;
        jb->ep = malloc(sizeof(double) * 4 * (size_t)p->nchan);
        if (jb->ep)
            for (int64_t c = 0; c < p->nchan; c++) {
                const dq_qchan *ch = &p->chan[c];
                jb->ep[4 * c + 0] = ch->zero ? 0 : ch->p[0];
                jb->ep[4 * c + 1] = ch->zero ? 0 : ch->p[1];
                jb->ep[4 * c + 2] = ch->zero ? 0 : ch->p[2];
                jb->ep[4 * c + 3] = ch->zero ? 0 : ch->objective;
            }
        else
            jb->status = DQ_ENOMEM;
    }
    dq_qparams_free(p);
}

/* ---- outputs -------------------------------------------------------------------- */

static void header_comments(FILE *fp, const char *what, const dq_config *c)
{
    dq_report_header(fp, "#", "qerror", what, dq_config_int(c, "run", "seed"), c);
}

static int write_csv(const char *path, const dq_config *c, const char *model,
                     const tensor_in *ts, const variant *vs, const job *jobs,
                     int nj)
{
    dq_afile *af = dq_afile_open(path);
    if (!af) return dq_error_status();
    FILE *fp = af->fp;
    header_comments(fp, "per-tensor quantization error", c);
    fprintf(fp, "model,tensor,kind,layer,numel,scheme,label,variant,bits,"
                "rmae,mse,sqnr_db,objective\n");
    for (int j = 0; j < nj; j++) {
        const job *jb = &jobs[j];
        if (jb->status != DQ_OK) continue; /* not applicable */
        const tensor_in *t = &ts[jb->ti];
        const variant *v = &vs[jb->vi];
        char r[32], m[32], q[32], o[32];
        dq_report_num(r, sizeof r, jb->e.rmae);
        dq_report_num(m, sizeof m, jb->e.mse);
        dq_report_num(q, sizeof q, jb->e.sqnr_db);
        dq_report_num(o, sizeof o, jb->objective);
        fprintf(fp, "%s,%s,%s,%s,%lld,%s,%s,%s,%d,%s,%s,%s,%s\n", model,
                t->name, t->is_weight ? "weight" : "activation", t->layer,
                (long long)t->t->size, v->s->name, v->s->label, v->variant,
                jb->bits, r, m, q, o);
    }
    return dq_afile_commit(af);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear-interpolated quantile of sorted v[0..n). */
static double quantile(const double *v, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1) return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

static int write_summary(const char *path, const dq_config *c,
                         const char *model, const tensor_in *ts, int nt,
                         const variant *vs, int nv, const job *jobs, int nj,
                         int bmin, int bmax, int print)
{
    dq_afile *af = dq_afile_open(path);
    if (!af) return dq_error_status();
    FILE *fp = af->fp;
    header_comments(fp, "RMAE over tensors per scheme variant and bits", c);
    fprintf(fp, "model,series_id,series,scheme,label,variant,kind,bits,n,mean_rmae,"
                "min_rmae,q25_rmae,median_rmae,q75_rmae,max_rmae,mean_mse,"
                "mean_sqnr_db\n");
    double *r = malloc(sizeof(double) * (size_t)(nt ? nt : 1));
    if (!r) {
        dq_afile_abort(af);
        return DQ_ERROR(DQ_ENOMEM, "out of memory");
    }
    static const char *const kinds[3] = {"all", "weight", "activation"};
    if (print) {
        printf("%s: mean RMAE over all tensors\n%-22s", model, "scheme");
        for (int b = bmin; b <= bmax; b++) printf("   %d bits", b);
        printf("\n");
    }
    for (int vi = 0; vi < nv; vi++) {
        const variant *v = &vs[vi];
        char series[96];
        if (strcmp(v->variant, "default") == 0)
            snprintf(series, sizeof series, "%s", v->s->label);
        else
            snprintf(series, sizeof series, "%s (%s)", v->s->label, v->variant);
        if (print) printf("%-22s", series);
        for (int k = 0; k < 3; k++)
            for (int b = bmin; b <= bmax; b++) {
                int n = 0;
                double msum = 0, qsum = 0;
                int qinf = 0;
                for (int j = 0; j < nj; j++) {
                    const job *jb = &jobs[j];
                    if (jb->vi != vi || jb->bits != b || jb->status != DQ_OK)
                        continue;
                    int w = ts[jb->ti].is_weight;
                    if ((k == 1 && !w) || (k == 2 && w)) continue;
                    r[n++] = jb->e.rmae;
                    msum += jb->e.mse;
                    if (isinf(jb->e.sqnr_db))
                        qinf = 1;
                    else
                        qsum += jb->e.sqnr_db;
                }
                if (n == 0) {
                    if (print && k == 0) printf("        -");
                    continue;
                }
                qsort(r, (size_t)n, sizeof(double), cmp_double);
                double mean = 0;
                for (int i = 0; i < n; i++) mean += r[i];
                mean /= n;
                char sq[32];
                dq_report_num(sq, sizeof sq, qinf ? INFINITY : qsum / n);
                fprintf(fp, "%s,%d,%s,%s,%s,%s,%s,%d,%d,%.9g,%.9g,%.9g,%.9g,"
                            "%.9g,%.9g,%.9g,%s\n",
                        model, vi, series, v->s->name, v->s->label, v->variant,
                        kinds[k], b, n, mean, r[0], quantile(r, n, 0.25),
                        quantile(r, n, 0.5), quantile(r, n, 0.75), r[n - 1],
                        msum / n, sq);
                if (print && k == 0) printf(" %8.4f", mean);
            }
        if (print) printf("\n");
    }
    free(r);
    return dq_afile_commit(af);
}

typedef struct {
    char layer[DQ_NAME_MAX];
    int a, b; /* tensor indices: (weight, input0) or (input0, input1) */
} pair_def;

static int write_params(const char *path, const dq_config *c, const char *model,
                        const char *dump, const tensor_in *ts, int nt,
                        const variant *vs, int nv, const job *jobs, int nj,
                        int bmin, int bmax, const pair_def *pairs, int np,
                        const dq_expq_job *pj, const dq_quant_opts *qo)
{
    dq_h5 *f = dq_h5_create(path, "dnateq-results", 1);
    if (!f) return dq_error_status();
    int st = DQ_OK;
    char *cfg = dq_config_dump(c);
    int nb = bmax - bmin + 1;
    st = dq_h5_set_attr_str(f, "/", "kind", "expq_params");
    if (st == DQ_OK) st = dq_h5_set_attr_str(f, "/", "config", cfg ? cfg : "");
    if (st == DQ_OK)
        st = dq_h5_set_attr_int(f, "/", "seed", dq_config_int(c, "run", "seed"));
    if (st == DQ_OK) st = dq_h5_set_attr_str(f, "/", "model_name", model);
    if (st == DQ_OK) st = dq_h5_set_attr_str(f, "/", "dump", dump);
    if (st == DQ_OK)
        st = dq_h5_set_attr_str(f, "/", "objective",
                                dq_objective_name(qo->objective));
    if (st == DQ_OK) st = dq_h5_set_attr_int(f, "/", "zero_code", qo->zero_code);
    free(cfg);
    int64_t bits[8];
    for (int b = 0; b < nb; b++) bits[b] = bmin + b;
    if (st == DQ_OK) st = dq_h5_write_ints(f, "/bits", bits, nb);

    /* per tensor: (bits, channel) arrays */
    int ev = -1;
    for (int i = 0; i < nv; i++)
        if (strcmp(vs[i].s->name, "expq") == 0) {
            ev = i;
            break;
        }
    for (int ti = 0; ti < nt && st == DQ_OK && ev >= 0; ti++) {
        char g[2 * DQ_NAME_MAX + 16];
        snprintf(g, sizeof g, "/tensors/%s", ts[ti].name);
        int64_t nchan = 0;
        for (int j = 0; j < nj; j++)
            if (jobs[j].ti == ti && jobs[j].vi == ev && jobs[j].status == DQ_OK)
                nchan = jobs[j].nchan;
        if (nchan == 0) continue;
        double *arr[7];
        const char *nm[7] = {"base", "alpha", "beta", "objective", "rmae",
                             "mse", "sqnr_db"};
        int64_t len[7] = {nb * nchan, nb * nchan, nb * nchan, nb * nchan,
                          nb, nb, nb};
        for (int a = 0; a < 7; a++) {
            arr[a] = malloc(sizeof(double) * (size_t)len[a]);
            if (arr[a])
                for (int64_t i = 0; i < len[a]; i++) arr[a][i] = NAN;
        }
        for (int j = 0; j < nj; j++) {
            const job *jb = &jobs[j];
            if (jb->ti != ti || jb->vi != ev || jb->status != DQ_OK) continue;
            int b = jb->bits - bmin;
            for (int64_t ch = 0; ch < nchan && ch < jb->nchan; ch++)
                for (int a = 0; a < 4; a++)
                    if (arr[a]) arr[a][b * nchan + ch] = jb->ep[4 * ch + a];
            if (arr[4]) arr[4][b] = jb->e.rmae;
            if (arr[5]) arr[5][b] = jb->e.mse;
            if (arr[6]) arr[6][b] = jb->e.sqnr_db;
        }
        st = dq_h5_mkgroup(f, g);
        if (st == DQ_OK)
            st = dq_h5_set_attr_str(f, g, "kind",
                                    ts[ti].is_weight ? "weight" : "activation");
        if (st == DQ_OK) st = dq_h5_set_attr_str(f, g, "layer", ts[ti].layer);
        if (st == DQ_OK) st = dq_h5_set_attr_int(f, g, "numel", ts[ti].t->size);
        if (st == DQ_OK) st = dq_h5_set_attr_int(f, g, "nchan", nchan);
        for (int a = 0; a < 7 && st == DQ_OK; a++) {
            char obj[sizeof g + 32];
            snprintf(obj, sizeof obj, "%s/%s", g, nm[a]);
            st = arr[a] ? dq_h5_write_doubles(f, obj, arr[a], len[a])
                        : DQ_ERROR(DQ_ENOMEM, "out of memory");
        }
        for (int a = 0; a < 7; a++) free(arr[a]);
    }

    /* per layer: shared-base pair search over (bits_w, bits_a) */
    for (int l = 0; l < np && st == DQ_OK; l++) {
        char g[2 * DQ_NAME_MAX + 16];
        snprintf(g, sizeof g, "/layers/%s", pairs[l].layer);
        int64_t m = (int64_t)nb * nb;
        const char *nm[7] = {"base", "alpha_w", "beta_w", "alpha_a",
                             "beta_a", "objective_w", "objective_a"};
        double *arr[7];
        for (int a = 0; a < 7; a++) arr[a] = malloc(sizeof(double) * (size_t)m);
        for (int64_t i = 0; i < m; i++) {
            const dq_expq_job *jb = &pj[l * m + i];
            double v[7] = {jb->fit.base,        jb->fit.alpha,
                           jb->fit.beta,        jb->partner_fit.alpha,
                           jb->partner_fit.beta, jb->fit.objective,
                           jb->partner_fit.objective};
            for (int a = 0; a < 7; a++)
                if (arr[a]) arr[a][i] = v[a];
        }
        st = dq_h5_mkgroup(f, g);
        if (st == DQ_OK)
            st = dq_h5_set_attr_str(f, g, "first", ts[pairs[l].a].name);
        if (st == DQ_OK)
            st = dq_h5_set_attr_str(f, g, "second", ts[pairs[l].b].name);
        for (int a = 0; a < 7 && st == DQ_OK; a++) {
            char obj[sizeof g + 32];
            snprintf(obj, sizeof obj, "%s/%s", g, nm[a]);
            st = arr[a] ? dq_h5_write_doubles(f, obj, arr[a], m)
                        : DQ_ERROR(DQ_ENOMEM, "out of memory");
        }
        for (int a = 0; a < 7; a++) free(arr[a]);
    }
    if (st != DQ_OK) {
        dq_h5_abort(f);
        return st;
    }
    return dq_h5_commit(f);
}

/* ---- main ---------------------------------------------------------------------- */

/* run.quick: bits QUICK_BITS_MIN..QUICK_BITS_MAX, the minmax and mse
 * calibrators of uniform (the two the paper quotes) and coarse expq
 * parameter searches, set in the config so that the result files record
 * them. */
#define QUICK_BITS_MIN 3
#define QUICK_BITS_MAX 5
static int quick_config(dq_config *c)
{
    static const char *const coarse[][2] = {
        {"base_grid", "12"}, {"base_tol", "0.01"}, {"lloyd_iters", "4"},
        {"refine_evals", "2"}};
    for (size_t i = 0; i < sizeof coarse / sizeof coarse[0]; i++)
        DQ_TRY(dq_config_set(c, "quant", coarse[i][0], coarse[i][1],
                             "run.quick"));
    DQ_TRY(dq_config_set(c, "qerror", "uniform_calibrators", "minmax,mse",
                         "run.quick"));
    int64_t lo = dq_config_int(c, "qerror", "bits_min");
    int64_t hi = dq_config_int(c, "qerror", "bits_max");
    char v[16];
    if (lo < QUICK_BITS_MIN) {
        snprintf(v, sizeof v, "%d", QUICK_BITS_MIN);
        DQ_TRY(dq_config_set(c, "qerror", "bits_min", v, "run.quick"));
    }
    if (hi > QUICK_BITS_MAX && lo <= QUICK_BITS_MAX) {
        snprintf(v, sizeof v, "%d", QUICK_BITS_MAX);
        DQ_TRY(dq_config_set(c, "qerror", "bits_max", v, "run.quick"));
    }
    return DQ_OK;
}

int main(int argc, char **argv)
{
    dq_config *c = dq_cli_parse(&spec, argc, argv);
    int quick = dq_config_bool(c, "run", "quick");
    if (quick && quick_config(c) != DQ_OK) dq_die();
    dq_quant_opts qo;
    if (dq_quant_opts_from_config(c, "quant", &qo) != DQ_OK) dq_die();
    int bmin = (int)dq_config_int(c, "qerror", "bits_min");
    int bmax = (int)dq_config_int(c, "qerror", "bits_max");
    if (bmin > bmax)
        dq_fatal(2, "[qerror] bits_min %d > bits_max %d", bmin, bmax);
    int weight_pc = dq_config_bool(c, "qerror", "weight_per_channel");
    int act_sym = dq_config_bool(c, "qerror", "act_symmetric");
    int do_pairs = dq_config_bool(c, "qerror", "pairs");

    /* the dump: qerror.dump, or data/tensors/<basename of run.model>.h5 */
    char dump[4096];
    const char *d = dq_config_str(c, "qerror", "dump");
    if (d && *d) {
        snprintf(dump, sizeof dump, "%s", d);
    } else {
        const char *m = dq_config_str(c, "run", "model");
        if (!m || !*m)
            dq_fatal(2, "no tensor dump: set qerror.dump or run.model");
        const char *base = strrchr(m, '/');
        base = base ? base + 1 : m;
        size_t len = strlen(base);
        if (len > 3 && strcmp(base + len - 3, ".h5") == 0) len -= 3;
        snprintf(dump, sizeof dump, "data/tensors/%.*s.h5", (int)len, base);
    }

    char *model = NULL, *dump_cfg = NULL;
    tensor_in *ts = NULL;
    int nt = 0;
    if (load_dump(dump, &model, &ts, &nt, &dump_cfg) != DQ_OK) dq_die();
    free(dump_cfg);
    variant *vs = NULL;
    int nv = 0;
    if (make_variants(c, &vs, &nv) != DQ_OK) dq_die();

    /* jobs in a fixed order: tensor, variant, bits */
    int nbits = bmax - bmin + 1;
    int nj = nt * nv * nbits;
    job *jobs = calloc((size_t)nj, sizeof *jobs);
    if (!jobs) dq_fatal(1, "out of memory");
    for (int ti = 0, j = 0; ti < nt; ti++)
        for (int vi = 0; vi < nv; vi++)
            for (int b = bmin; b <= bmax; b++, j++) {
                jobs[j].ti = ti;
                jobs[j].vi = vi;
                jobs[j].bits = b;
            }
    dq_log_info("qerror: %s: %d tensors x %d scheme variants x %d bitwidths",
                model, nt, nv, nbits);
    dq_progress *pg = dq_progress_alloc("qerror", nj);
#pragma omp parallel for schedule(dynamic, 1)
    for (int j = 0; j < nj; j++) {
        run_job(&jobs[j], &ts[jobs[j].ti], &vs[jobs[j].vi], &qo, weight_pc,
                act_sym);
        dq_progress_add(pg, 1);
    }
    dq_progress_free(pg);
    for (int j = 0; j < nj; j++)
        if (jobs[j].status != DQ_OK && jobs[j].status != DQ_EUNSUP)
            dq_fatal(1, "%s: %s", dump, jobs[j].message);

    /* shared-base pairs: (weight, input0) of conv/linear, (input0, input1)
     * of matmul */
    pair_def *pairs = calloc((size_t)nt, sizeof *pairs);
    int np = 0;
    for (int i = 0; do_pairs && pairs && i < nt; i++) {
        int a = -1, b = -1;
        if (ts[i].is_weight) {
            a = i;
            for (int k = 0; k < nt; k++)
                if (!ts[k].is_weight && ts[k].input_index == 0 &&
                    strcmp(ts[k].layer, ts[i].layer) == 0)
                    b = k;
        } else if (ts[i].input_index == 0) {
            int has_w = 0;
            for (int k = 0; k < nt; k++)
                if (strcmp(ts[k].layer, ts[i].layer) == 0) {
                    if (ts[k].is_weight) has_w = 1;
                    if (!ts[k].is_weight && ts[k].input_index == 1) b = k;
                }
            a = has_w ? -1 : i;
        }
        if (a < 0 || b < 0) continue;
        snprintf(pairs[np].layer, sizeof pairs[np].layer, "%s", ts[i].layer);
        pairs[np].a = a;
        pairs[np].b = b;
        np++;
    }
    int npj = np * nbits * nbits;
    dq_expq_job *pj = calloc((size_t)(npj ? npj : 1), sizeof *pj);
    if (!pj) dq_fatal(1, "out of memory");
    for (int l = 0, j = 0; l < np; l++)
        for (int bw = bmin; bw <= bmax; bw++)
            for (int ba = bmin; ba <= bmax; ba++, j++) {
                const dq_tensor *ta = ts[pairs[l].a].t, *tb = ts[pairs[l].b].t;
                pj[j].x = ta->data;
                pj[j].n = ta->size;
                pj[j].bits = bw;
                pj[j].is_signed = -1;
                pj[j].partner = tb->data;
                pj[j].partner_n = tb->size;
                pj[j].partner_bits = ba;
                pj[j].partner_signed = -1;
            }
    if (npj > 0) {
        dq_log_info("qerror: shared-base search: %d layers x %d x %d bits", np,
                    nbits, nbits);
        if (dq_expq_search_batch(pj, npj, &qo) != DQ_OK) dq_die();
    }

    /* outputs */
    const char *out = dq_config_str(c, "run", "out");
    char path[4096];
    snprintf(path, sizeof path, "%s/qerror/%s.csv", out, model);
    if (write_csv(path, c, model, ts, vs, jobs, nj) != DQ_OK) dq_die();
    dq_log_info("wrote %s", path);
    snprintf(path, sizeof path, "%s/qerror/%s_summary.csv", out, model);
    if (write_summary(path, c, model, ts, nt, vs, nv, jobs, nj, bmin, bmax,
                      1) != DQ_OK)
        dq_die();
    dq_log_info("wrote %s", path);
    snprintf(path, sizeof path, "%s/qerror/%s_expq_params.h5", out, model);
    if (write_params(path, c, model, dump, ts, nt, vs, nv, jobs, nj, bmin,
                     bmax, pairs, np, pj, &qo) != DQ_OK)
        dq_die();
    dq_log_info("wrote %s", path);

    for (int j = 0; j < nj; j++) free(jobs[j].ep);
    free(jobs);
    free(pj);
    free(pairs);
    for (int i = 0; i < nt; i++) dq_tensor_free(ts[i].t);
    free(ts);
    free(vs);
    free(model);
    dq_config_free(c);
    return 0;
}
