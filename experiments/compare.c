/*
 * compare.c — dnateq-compare: DNA-TEQ against every baseline on one model,
 * each evaluated the same way (same calib samples, same plan format, the
 * same test split), DESIGN §2 and §5 "compare".
 *
 *   FP32; the INT8 baseline (activation calibrator chosen on val);
 *   uniform at fixed bits (per-tensor and per-channel weights, each
 *   activation calibrator; weights clipped by [compare] weight_calibrator);
 *   log2, log-sqrt2, APoT, K-means, Mokey-like at fixed bits;
 *   bSPARQ / SPARQ windows on the activations with INT8 weights;
 *   the DNA-TEQ and mixed-precision uniform plans of the dnateq driver
 *   (<plans_dir>/<model>_dnateq.h5, <model>_mpu.h5) when present.
 *
 * Writes <out>/compare/<model>.csv (one row per configuration: test top-1
 * with its Wilson 95% interval, average bits, compression vs INT8),
 * <model>_pareto.dat (the accuracy-vs-bits Pareto front, for
 * plots/compare.gp), <model>.ini (the effective config with the git
 * revision and seed), then rebuilds summary.{csv,md,tex} from every
 * per-model CSV in <out>/compare.  Nothing is selected on the test split:
 * the only choice (the INT8 activation calibrator) is made on val.
 */
#include "cli.h"
#include "error.h"
#include "fsutil.h"
#include "log.h"
#include "plan.h"
#include "qinfer.h"
#include "quant/quant.h"

#include <dirent.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const dq_cfg_key compare_keys[] = {
    {"compare", "uniform_bits_min", DQ_CFG_INT, "4", 2, 8,
     "uniform fixed-bit sweep: lowest bitwidth (W and A)"},
    {"compare", "uniform_bits_max", DQ_CFG_INT, "8", 2, 8,
     "uniform fixed-bit sweep: highest bitwidth"},
    {"compare", "calibrators", DQ_CFG_STR, "minmax,percentile,mse,kl", 1, 0,
     "uniform sweep: activation clipping calibrators (comma-separated)"},
    {"compare", "weight_calibrator", DQ_CFG_STR, "minmax", 1, 0,
     "uniform sweep: clipping of the weights (minmax, percentile, mse, kl, "
     "or same = the activations' calibrator)"},
    {"compare", "granularity", DQ_CFG_STR, "tensor,channel", 1, 0,
     "uniform sweep: weight granularities (tensor, channel)"},
    {"compare", "act_affine", DQ_CFG_BOOL, "true", 1, 0,
     "uniform activations (and INT8's): affine grid (PyTorch's default "
     "observer); false: symmetric"},
    {"compare", "schemes", DQ_CFG_STR, "log2,log-sqrt2,apot,kmeans,mokey-like",
     1, 0, "other non-uniform schemes at fixed bits (registry names)"},
    {"compare", "nonuniform_bits_min", DQ_CFG_INT, "3", 2, 8,
     "non-uniform schemes: lowest bitwidth"},
    {"compare", "nonuniform_bits_max", DQ_CFG_INT, "6", 2, 8,
     "non-uniform schemes: highest bitwidth"},
    {"compare", "nonuniform_per_channel", DQ_CFG_BOOL, "false", 1, 0,
     "non-uniform schemes: weights per output channel"},
    {"compare", "sparq_windows", DQ_CFG_STR, "4,3", 1, 0,
     "bSPARQ/SPARQ window widths on the activations (INT8 weights)"},
    {"compare", "tensors", DQ_CFG_STR, "", 1, 0,
     "tensor dump to calibrate activations from (empty: capture on calib)"},
    {"compare", "plans_dir", DQ_CFG_STR, "results/dnateq/plans", 1, 0,
     "where <model>_dnateq.h5 and <model>_mpu.h5 are read from"},
    {"compare", "save_plans", DQ_CFG_BOOL, "false", 1, 0,
     "also write every plan to <out>/compare/plans/"},
    {"compare", "summary_only", DQ_CFG_BOOL, "false", 1, 0,
     "only rebuild summary.{csv,md,tex} from the CSVs in <out>/compare"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

static const dq_cfg_key *const tables[] = {dq_run_keys, compare_keys,
                                           dq_quant_keys, NULL};
static const dq_cli_spec spec = {
    .name = "dnateq-compare",
    .summary = "accuracy vs average bits of DNA-TEQ and every baseline on one "
               "model (test split, Wilson 95% CI)",
    .usage_extra =
        "Writes <out>/compare/<model>.csv, <model>_pareto.dat, <model>.ini and "
        "rebuilds\n<out>/compare/summary.{csv,md,tex} from every per-model "
        "CSV there.\n[quant] gives the base options of every quantizer.",
    .tables = tables,
};

#define CSV_HEADER                                                             \
    "model,family,label,w_scheme,a_scheme,granularity,calibrator,bits_w,"      \
    "bits_a,avg_bits_w,avg_bits_a,avg_bits,compression_vs_int8,test_correct,"  \
    "test_n,top1,ci_low,ci_high,delta_vs_fp32,pareto,notes"
#define NCOL 21

/* One configuration's result. */
typedef struct {
    char family[32], label[96], w_scheme[32], a_scheme[32], gran[16],
        calib[16], bits_w[8], bits_a[8], notes[256];
    dq_plan_stats st;
    int64_t correct, n;
    double top1, lo, hi, delta;
    int pareto;
} row;

typedef struct {
    row *r;
    int n, cap;
} rows;

static row *rows_add(rows *rs)
{
    if (rs->n == rs->cap) {
        int cap = rs->cap ? 2 * rs->cap : 64;
        row *r = realloc(rs->r, (size_t)cap * sizeof *r);
        if (!r) dq_fatal(1, "out of memory");
        rs->r = r;
        rs->cap = cap;
    }
    memset(&rs->r[rs->n], 0, sizeof rs->r[0]);
    return &rs->r[rs->n++];
}

/* ---- configurations ----------------------------------------------------------- */

typedef enum { J_UNIFORM, J_SCHEME, J_SPARQ, J_FILE } job_kind;

typedef struct {
    job_kind kind;
    const char *scheme;  /* J_SCHEME / J_SPARQ: registry name */
    int bits, per_channel;
    dq_calibrator cal, wcal;
    char path[1024];     /* J_FILE */
    char family[32];
} job;

typedef struct {
    job *j;
    int n, cap;
} jobs;

static job *jobs_add(jobs *js)
{
    if (js->n == js->cap) {
        int cap = js->cap ? 2 * js->cap : 64;
        job *j = realloc(js->j, (size_t)cap * sizeof *j);
        if (!j) dq_fatal(1, "out of memory");
        js->j = j;
        js->cap = cap;
    }
    memset(&js->j[js->n], 0, sizeof js->j[0]);
    return &js->j[js->n++];
}

/* Split a comma-separated list in place; returns the count. */
static int split_list(char *s, char **out, int max)
{
    int n = 0;
    for (char *t = strtok(s, ", \t"); t && n < max; t = strtok(NULL, ", \t"))
        out[n++] = t;
    return n;
}

static int calibrator_parse(const char *s, dq_calibrator *c)
{
    static const dq_calibrator all[4] = {DQ_CALIB_MINMAX, DQ_CALIB_PERCENTILE,
                                         DQ_CALIB_MSE, DQ_CALIB_KL};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, dq_calibrator_name(all[i])) == 0) {
            *c = all[i];
            return DQ_OK;
        }
    return DQ_ERROR(DQ_ECONFIG, "[compare] calibrators: '%s' is not one of "
                    "minmax|percentile|mse|kl", s);
}

static void make_jobs(const dq_config *cfg, const char *model, jobs *js)
{
    int quick = dq_config_bool(cfg, "run", "quick");
    char buf[512], *item[32];
    int ub0 = (int)dq_config_int(cfg, "compare", "uniform_bits_min");
    int ub1 = (int)dq_config_int(cfg, "compare", "uniform_bits_max");
    int nb0 = (int)dq_config_int(cfg, "compare", "nonuniform_bits_min");
    int nb1 = (int)dq_config_int(cfg, "compare", "nonuniform_bits_max");
    int npc = dq_config_bool(cfg, "compare", "nonuniform_per_channel");

    /* uniform: granularity x calibrator x bits */
    dq_calibrator cals[8];
    int ncal = 0, gran[2], ngran = 0;
    snprintf(buf, sizeof buf, "%s", dq_config_str(cfg, "compare", "calibrators"));
    int n = split_list(buf, item, 8);
    for (int i = 0; i < n; i++)
        if (calibrator_parse(item[i], &cals[ncal++]) != DQ_OK) dq_die();
    snprintf(buf, sizeof buf, "%s", dq_config_str(cfg, "compare", "granularity"));
    n = split_list(buf, item, 2);
    for (int i = 0; i < n; i++) {
        if (strcmp(item[i], "tensor") == 0) gran[ngran++] = 0;
        else if (strcmp(item[i], "channel") == 0) gran[ngran++] = 1;
        else dq_fatal(2, "[compare] granularity: '%s' is not tensor or channel",
                      item[i]);
    }
    const char *wc = dq_config_str(cfg, "compare", "weight_calibrator");
    int wsame = strcmp(wc, "same") == 0;
    dq_calibrator wcal = DQ_CALIB_MINMAX;
    if (!wsame && calibrator_parse(wc, &wcal) != DQ_OK) dq_die();
    for (int g = 0; g < ngran; g++)
        for (int c = 0; c < ncal; c++)
            for (int b = ub1; b >= ub0; b--) {
                if (quick && b != ub0 && b != ub1) continue;
                job *j = jobs_add(js);
                j->kind = J_UNIFORM;
                j->scheme = "uniform";
                j->bits = b;
                j->per_channel = gran[g];
                j->cal = cals[c];
                j->wcal = wsame ? cals[c] : wcal;
                snprintf(j->family, sizeof j->family, "Uniform-%s",
                         gran[g] ? "PC" : "PT");
            }
    /* other schemes */
    static char sbuf[512];
    snprintf(sbuf, sizeof sbuf, "%s", dq_config_str(cfg, "compare", "schemes"));
    n = split_list(sbuf, item, 32);
    for (int i = 0; i < n; i++) {
        const dq_quant_scheme *s = dq_quant_find(item[i]);
        if (!s) dq_fatal(2, "[compare] schemes: %s", dq_error_message());
        for (int b = nb1; b >= nb0; b--) {
            if (quick && b != nb0 && b != nb1) continue;
            job *j = jobs_add(js);
            j->kind = J_SCHEME;
            j->scheme = s->name;
            j->bits = b;
            j->per_channel = npc;
            snprintf(j->family, sizeof j->family, "%s", s->label);
        }
    }
    /* SPARQ windows */
    snprintf(buf, sizeof buf, "%s", dq_config_str(cfg, "compare", "sparq_windows"));
    n = split_list(buf, item, 8);
    for (int v = 0; v < 2; v++)
        for (int i = 0; i < n; i++) {
            int w = atoi(item[i]);
            if (w < 2 || w > 8)
                dq_fatal(2, "[compare] sparq_windows: '%s' is not 2..8", item[i]);
            job *j = jobs_add(js);
            j->kind = J_SPARQ;
            j->scheme = v ? "sparq" : "bsparq";
            j->bits = w;
            snprintf(j->family, sizeof j->family, "%s", v ? "SPARQ" : "bSPARQ");
        }
    /* the adaptive plans of the dnateq driver */
    static const char *const suffix[2] = {"dnateq", "mpu"};
    static const char *const fam[2] = {"DNA-TEQ", "MP-Uniform"};
    for (int i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s_%s.h5",
                 dq_config_str(cfg, "compare", "plans_dir"), model, suffix[i]);
        if (access(path, R_OK) != 0) {
            dq_log_warn("%s not found: no %s row for %s (run dnateq-dnateq "
                        "first)", path, fam[i], model);
            continue;
        }
        job *j = jobs_add(js);
        j->kind = J_FILE;
        snprintf(j->path, sizeof j->path, "%s", path);
        snprintf(j->family, sizeof j->family, "%s", fam[i]);
    }
}

/* ---- building one plan ---------------------------------------------------------- */

static void opts_for(dq_qspec *s, const dq_quant_opts *base, const char *scheme,
                     int bits, int per_channel)
{
    s->scheme = scheme;
    s->bits = bits;
    s->opts = *base;
    s->opts.per_channel = per_channel;
}

/* INT8 weights (per channel, symmetric, min-max) on every layer, and on
 * each activation the scheme of j when the activation is unsigned, else
 * INT8 with the INT8 baseline's calibrator; *signed_n counts those. */
static dq_plan *sparq_plan(dq_qsession *s, const dq_quant_opts *base,
                           const job *j, dq_calibrator int8_cal,
                           int act_affine, int *signed_n, int *act_n)
{
    const dq_calib *c = dq_qsession_samples(s);
    dq_plan *p0 = dq_plan_alloc(s->model, "");
    if (!c || !p0) return NULL;
    int nl = p0->n_layers;
    dq_qspec *sp = calloc((size_t)nl * DQ_PLAN_SLOTS, sizeof *sp);
    if (!sp) dq_fatal(1, "out of memory");
    *signed_n = *act_n = 0;
    for (int l = 0; l < nl; l++) {
        const dq_plan_layer *L = &p0->layers[l];
        dq_qspec *w = &sp[l * DQ_PLAN_SLOTS];
        opts_for(w, base, "uniform", 8, 1);
        w->opts.symmetric = 1;
        w->opts.calibrator = DQ_CALIB_MINMAX;
        for (int k = 0; k < 2; k++) {
            if (!L->t[DQ_PLAN_A0 + k].present) continue;
            dq_qspec *a = &sp[l * DQ_PLAN_SLOTS + DQ_PLAN_A0 + k];
            const dq_actsample *as = dq_calib_get(c, L->node, k);
            (*act_n)++;
            if (as && as->min < 0) {
                (*signed_n)++;
                opts_for(a, base, "uniform", 8, 0);
                a->opts.symmetric = !act_affine;
                a->opts.calibrator = int8_cal;
            } else {
                opts_for(a, base, j->scheme, j->bits, 0);
            }
        }
    }
    char label[96];
    snprintf(label, sizeof label, "%s W8 A%d-window",
             strcmp(j->scheme, "sparq") == 0 ? "SPARQ" : "bSPARQ", j->bits);
    dq_plan *p = dq_plan_build(s->model, c, sp, label);
    free(sp);
    dq_plan_free(p0);
    return p;
}

/* The scheme every weight (weights != 0) or activation of p uses: its
 * name, "mixed" when they differ, "none" when all are FP32. */
static void plan_schemes(const dq_plan *p, int weights, char *out, size_t n)
{
    const char *found = NULL;
    for (int l = 0; l < p->n_layers; l++)
        for (int k = 0; k < DQ_PLAN_SLOTS; k++) {
            const dq_plan_tensor *t = &p->layers[l].t[k];
            if (!t->present || (k == DQ_PLAN_W) != (weights != 0)) continue;
            if (!found) found = t->scheme;
            else if (strcmp(found, t->scheme) != 0) found = "mixed";
        }
    snprintf(out, n, "%s", found ? found : DQ_PLAN_NONE);
}

static dq_plan *job_plan(dq_qsession *s, const dq_quant_opts *base,
                         const job *j, int act_affine, dq_calibrator int8_cal,
                         row *r)
{
    const dq_calib *c = dq_qsession_samples(s);
    if (!c) return NULL;
    switch (j->kind) {
    case J_UNIFORM:
        if (j->wcal == j->cal)
            snprintf(r->label, sizeof r->label, "Uniform W%dA%d %s %s",
                     j->bits, j->bits,
                     j->per_channel ? "per-channel" : "per-tensor",
                     dq_calibrator_name(j->cal));
        else
            snprintf(r->label, sizeof r->label, "Uniform W%dA%d %s w-%s a-%s",
                     j->bits, j->bits,
                     j->per_channel ? "per-channel" : "per-tensor",
                     dq_calibrator_name(j->wcal), dq_calibrator_name(j->cal));
        snprintf(r->w_scheme, sizeof r->w_scheme, "uniform");
        snprintf(r->a_scheme, sizeof r->a_scheme, "uniform");
        snprintf(r->gran, sizeof r->gran, "%s",
                 j->per_channel ? "channel" : "tensor");
        snprintf(r->calib, sizeof r->calib, "%s", dq_calibrator_name(j->cal));
        snprintf(r->bits_w, sizeof r->bits_w, "%d", j->bits);
        snprintf(r->bits_a, sizeof r->bits_a, "%d", j->bits);
        return dq_plan_uniform(s->model, c, j->bits, j->bits, j->per_channel,
                               j->wcal, j->cal, act_affine, base, r->label);
    case J_SCHEME: {
        const dq_quant_scheme *qs = dq_quant_find(j->scheme);
        snprintf(r->label, sizeof r->label, "%s W%dA%d", qs->label, j->bits,
                 j->bits);
        snprintf(r->w_scheme, sizeof r->w_scheme, "%s", j->scheme);
        snprintf(r->a_scheme, sizeof r->a_scheme, "%s", j->scheme);
        snprintf(r->gran, sizeof r->gran, "%s",
                 j->per_channel ? "channel" : "tensor");
        snprintf(r->calib, sizeof r->calib, "-");
        snprintf(r->bits_w, sizeof r->bits_w, "%d", j->bits);
        snprintf(r->bits_a, sizeof r->bits_a, "%d", j->bits);
        dq_qspec w, a;
        opts_for(&w, base, j->scheme, j->bits, j->per_channel);
        opts_for(&a, base, j->scheme, j->bits, 0);
        return dq_plan_build_all(s->model, c, &w, &a, r->label);
    }
    case J_SPARQ: {
        int sn = 0, an = 0;
        dq_plan *p = sparq_plan(s, base, j, int8_cal, act_affine, &sn, &an);
        if (p) snprintf(r->label, sizeof r->label, "%s", p->label);
        snprintf(r->w_scheme, sizeof r->w_scheme, "uniform");
        snprintf(r->a_scheme, sizeof r->a_scheme, "%s", j->scheme);
        snprintf(r->gran, sizeof r->gran, "channel");
        snprintf(r->calib, sizeof r->calib, "minmax");
        snprintf(r->bits_w, sizeof r->bits_w, "8");
        snprintf(r->bits_a, sizeof r->bits_a, "%d", j->bits);
        if (sn)
            snprintf(r->notes, sizeof r->notes,
                     "%d of %d activations signed: INT8 (%s) there", sn, an,
                     dq_calibrator_name(int8_cal));
        return p;
    }
    case J_FILE: {
        dq_plan *p = dq_plan_read(j->path);
        if (!p) return NULL;
        if (dq_plan_check(p, s->model) != DQ_OK) {
            dq_plan_free(p);
            return NULL;
        }
        snprintf(r->label, sizeof r->label, "%s", j->family);
        plan_schemes(p, 1, r->w_scheme, sizeof r->w_scheme);
        plan_schemes(p, 0, r->a_scheme, sizeof r->a_scheme);
        snprintf(r->gran, sizeof r->gran, "adaptive");
        snprintf(r->calib, sizeof r->calib, "-");
        snprintf(r->bits_w, sizeof r->bits_w, "mixed");
        snprintf(r->bits_a, sizeof r->bits_a, "mixed");
        snprintf(r->notes, sizeof r->notes, "plan %.240s", j->path);
        return p;
    }
    }
    return NULL;
}

/* ---- output -------------------------------------------------------------------- */

static void row_result(row *r, int64_t correct, int64_t n, int64_t fp32)
{
    r->correct = correct;
    r->n = n;
    r->top1 = n ? (double)correct / (double)n : NAN;
    dq_wilson(correct, n, DQ_Z95, &r->lo, &r->hi);
    r->delta = n ? (double)(correct - fp32) / (double)n : NAN;
}

static void csv_clean(char *s)
{
    for (; *s; s++)
        if (*s == ',' || *s == '\n' || *s == '"') *s = ';';
}

static void row_csv(FILE *fp, const char *model, row *r)
{
    csv_clean(r->label);
    csv_clean(r->notes);
    fprintf(fp,
            "%s,%s,%s,%s,%s,%s,%s,%s,%s,%.6f,%.6f,%.6f,%.6f,%lld,%lld,%.6f,"
            "%.6f,%.6f,%.6f,%d,%s\n",
            model, r->family, r->label, r->w_scheme, r->a_scheme, r->gran,
            r->calib, r->bits_w, r->bits_a, r->st.avg_w, r->st.avg_a,
            r->st.avg, r->st.compression_vs_int8, (long long)r->correct,
            (long long)r->n, r->top1, r->lo, r->hi, r->delta, r->pareto,
            r->notes);
}

/* Pareto front of the quantized rows: not dominated by a row with fewer
 * or equal average bits and at least the accuracy (one strictly). */
static void mark_pareto(rows *rs)
{
    for (int i = 0; i < rs->n; i++) {
        row *a = &rs->r[i];
        a->pareto = 0;
        if (strcmp(a->family, "FP32") == 0 || isnan(a->top1)) continue;
        int dominated = 0;
        for (int k = 0; k < rs->n && !dominated; k++) {
            const row *b = &rs->r[k];
            if (k == i || strcmp(b->family, "FP32") == 0 || isnan(b->top1))
                continue;
            if (b->st.avg <= a->st.avg && b->top1 >= a->top1 &&
                (b->st.avg < a->st.avg || b->top1 > a->top1))
                dominated = 1;
        }
        a->pareto = !dominated;
    }
}

static int cmp_bits(const void *x, const void *y)
{
    const row *a = *(row *const *)x, *b = *(row *const *)y;
    return (a->st.avg > b->st.avg) - (a->st.avg < b->st.avg);
}

static void write_model(const dq_config *cfg, const char *dir,
                        const char *model, rows *rs)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.csv", dir, model);
    dq_afile *af = dq_afile_open(path);
    if (!af) dq_die();
    fprintf(af->fp, "%s\n", CSV_HEADER);
    for (int i = 0; i < rs->n; i++) row_csv(af->fp, model, &rs->r[i]);
    if (dq_afile_commit(af) != DQ_OK) dq_die();

    /* Pareto front sorted by bits, for the plot */
    snprintf(path, sizeof path, "%s/%s_pareto.dat", dir, model);
    af = dq_afile_open(path);
    if (!af) dq_die();
    row **pr = malloc((size_t)(rs->n ? rs->n : 1) * sizeof *pr);
    int np = 0;
    for (int i = 0; i < rs->n; i++)
        if (rs->r[i].pareto) pr[np++] = &rs->r[i];
    qsort(pr, (size_t)np, sizeof *pr, cmp_bits);
    fprintf(af->fp, "# %s: Pareto front of test top-1 vs average bits "
            "(dnateq %s, seed %lld)\n# avg_bits,top1,label\n", model,
            dq_git_revision(), (long long)dq_config_int(cfg, "run", "seed"));
    for (int i = 0; i < np; i++)
        fprintf(af->fp, "%.6f,%.6f,%s\n", pr[i]->st.avg, pr[i]->top1,
                pr[i]->label);
    free(pr);
    if (dq_afile_commit(af) != DQ_OK) dq_die();

    /* the config that reproduces the run */
    snprintf(path, sizeof path, "%s/%s.ini", dir, model);
    char *conf = dq_config_dump(cfg);
    af = dq_afile_open(path);
    if (!af || !conf) dq_die();
    fprintf(af->fp, "; dnateq-compare %s, seed %lld: the effective config of "
            "%s.csv\n%s", dq_git_revision(),
            (long long)dq_config_int(cfg, "run", "seed"), model, conf);
    free(conf);
    if (dq_afile_commit(af) != DQ_OK) dq_die();
}

/* ---- summary over every model ------------------------------------------------------ */

typedef struct {
    char *f[NCOL];
    char *line;
} csvrow;

static int model_rank(const char *m)
{
    static const char *const zoo[] = {"mlp", "alexnet", "resnet20", "vit"};
    for (int i = 0; i < 4; i++)
        if (strcmp(m, zoo[i]) == 0) return i;
    return 4;
}

static int cmp_models(const void *x, const void *y)
{
    const char *a = *(char *const *)x, *b = *(char *const *)y;
    int ra = model_rank(a), rb = model_rank(b);
    return ra != rb ? ra - rb : strcmp(a, b);
}

/* Percent with two decimals, or an en dash for a failed row. */
static void pct(char *buf, size_t n, const char *v)
{
    double x = atof(v);
    if (!*v || strcmp(v, "nan") == 0 || strcmp(v, "-nan") == 0 || isnan(x))
        snprintf(buf, n, "–");
    else
        snprintf(buf, n, "%.2f", 100 * x);
}

static void tex_escape(FILE *fp, const char *s)
{
    for (; *s; s++) {
        if (strchr("&%$#_{}", *s)) fputc('\\', fp);
        fputc(*s, fp);
    }
}

static void write_summary(const dq_config *cfg, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) dq_fatal(1, "%s: cannot open directory", dir);
    char *models[64];
    int nm = 0;
    struct dirent *de;
    while ((de = readdir(d)) && nm < 64) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".csv") != 0 ||
            strcmp(de->d_name, "summary.csv") == 0)
            continue;
        models[nm] = strndup(de->d_name, len - 4);
        if (!models[nm]) dq_fatal(1, "out of memory");
        nm++;
    }
    closedir(d);
    qsort(models, (size_t)nm, sizeof *models, cmp_models);

    /* read every row of every model */
    csvrow *cr = NULL;
    int ncr = 0, cap = 0;
    for (int i = 0; i < nm; i++) {
        char path[1200], *text = NULL;
        size_t len;
        snprintf(path, sizeof path, "%s/%s.csv", dir, models[i]);
        if (dq_read_text(path, &text, &len) != DQ_OK) dq_die();
        int first = 1;
        for (char *save = NULL, *ln = strtok_r(text, "\n", &save); ln;
             ln = strtok_r(NULL, "\n", &save)) {
            if (first) {
                first = 0;
                if (strcmp(ln, CSV_HEADER) != 0)
                    dq_fatal(1, "%s: unexpected header (written by another "
                             "version?)", path);
                continue;
            }
            if (ncr == cap) {
                cap = cap ? 2 * cap : 256;
                cr = realloc(cr, (size_t)cap * sizeof *cr);
                if (!cr) dq_fatal(1, "out of memory");
            }
            csvrow *r = &cr[ncr];
            r->line = strdup(ln);
            char *p = r->line;
            int k = 0;
            for (; k < NCOL && p; k++) {
                r->f[k] = p;
                p = strchr(p, ',');
                if (p) *p++ = '\0';
            }
            if (k != NCOL || p)
                dq_fatal(1, "%s: row with %d fields, expected %d", path, k,
                         NCOL);
            ncr++;
        }
        free(text);
    }

    char path[1200];
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    dq_afile *af = dq_afile_open(path);
    if (!af) dq_die();
    fprintf(af->fp, "%s\n", CSV_HEADER);
    for (int i = 0; i < ncr; i++) {
        for (int k = 0; k < NCOL; k++)
            fprintf(af->fp, "%s%s", k ? "," : "", cr[i].f[k]);
        fprintf(af->fp, "\n");
    }
    if (dq_afile_commit(af) != DQ_OK) dq_die();

    /* pivot: one row per configuration label (first-seen order), one
     * column per model: test top-1 (%), and the average bits where they
     * are not fixed by the label (adaptive plans) */
    int *lab = malloc((size_t)(ncr ? ncr : 1) * sizeof *lab), nl = 0;
    for (int i = 0; i < ncr; i++) {
        int seen = 0;
        for (int k = 0; k < nl && !seen; k++)
            seen = strcmp(cr[lab[k]].f[2], cr[i].f[2]) == 0;
        if (!seen) lab[nl++] = i;
    }
    const char *rev = dq_git_revision();
    long long seed = (long long)dq_config_int(cfg, "run", "seed");
    for (int fmt = 0; fmt < 2; fmt++) {
        snprintf(path, sizeof path, "%s/summary.%s", dir, fmt ? "tex" : "md");
        af = dq_afile_open(path);
        if (!af) dq_die();
        FILE *fp = af->fp;
        if (fmt == 0) {
            fprintf(fp, "<!-- dnateq-compare %s, seed %lld; 95%% Wilson "
                    "intervals in summary.csv -->\n\n", rev, seed);
            fprintf(fp, "| family | configuration |");
            for (int m = 0; m < nm; m++) fprintf(fp, " %s top-1 %% |", models[m]);
            fprintf(fp, "\n|---|---|");
            for (int m = 0; m < nm; m++) fprintf(fp, "---:|");
            fprintf(fp, "\n");
        } else {
            fprintf(fp, "%% dnateq-compare %s, seed %lld; 95%% Wilson "
                    "intervals in summary.csv\n", rev, seed);
            fprintf(fp, "\\begin{tabular}{ll");
            for (int m = 0; m < nm; m++) fprintf(fp, "r");
            fprintf(fp, "}\n\\hline\nfamily & configuration");
            for (int m = 0; m < nm; m++) {
                fprintf(fp, " & ");
                tex_escape(fp, models[m]);
            }
            fprintf(fp, " \\\\\n\\hline\n");
        }
        for (int k = 0; k < nl; k++) {
            const csvrow *L = &cr[lab[k]];
            int adaptive = strcmp(L->f[7], "mixed") == 0 ||
                           strcmp(L->f[1], "FP32") == 0;
            if (fmt == 0) {
                fprintf(fp, "| %s | %s |", L->f[1], L->f[2]);
            } else {
                tex_escape(fp, L->f[1]);
                fprintf(fp, " & ");
                tex_escape(fp, L->f[2]);
            }
            for (int m = 0; m < nm; m++) {
                char cell[64] = "", v[32];
                for (int i = 0; i < ncr; i++)
                    if (strcmp(cr[i].f[0], models[m]) == 0 &&
                        strcmp(cr[i].f[2], L->f[2]) == 0) {
                        pct(v, sizeof v, cr[i].f[15]);
                        if (adaptive && strcmp(cr[i].f[1], "FP32") != 0)
                            snprintf(cell, sizeof cell, "%s (%.2f b)", v,
                                     atof(cr[i].f[11]));
                        else
                            snprintf(cell, sizeof cell, "%s", v);
                    }
                if (fmt == 0) fprintf(fp, " %s |", cell);
                else fprintf(fp, " & %s", cell);
            }
            fprintf(fp, fmt == 0 ? "\n" : " \\\\\n");
        }
        if (fmt == 1) fprintf(fp, "\\hline\n\\end{tabular}\n");
        if (dq_afile_commit(af) != DQ_OK) dq_die();
    }
    free(lab);
    for (int i = 0; i < ncr; i++) free(cr[i].line);
    free(cr);
    for (int i = 0; i < nm; i++) free(models[i]);
}

/* ---- main ---------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    dq_config *cfg = dq_cli_parse(&spec, argc, argv);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/compare", dq_config_str(cfg, "run", "out"));
    if (dq_mkdirs(dir) != DQ_OK) dq_die();
    if (dq_config_bool(cfg, "compare", "summary_only")) {
        write_summary(cfg, dir);
        dq_config_free(cfg);
        return 0;
    }
    dq_quant_opts base;
    if (dq_quant_opts_from_config(cfg, "quant", &base) != DQ_OK) dq_die();
    int act_affine = dq_config_bool(cfg, "compare", "act_affine");
    const char *tensors = dq_config_str(cfg, "compare", "tensors");
    double t0 = omp_get_wtime();
    dq_qsession *s = dq_qsession_open_config(cfg, tensors);
    if (!s) dq_die();
    const char *model = s->model->name;
    if (!dq_qsession_samples(s)) dq_die();

    rows rs = {0};
    int64_t fp32;
    if (dq_qsession_fp32(s, "test", &fp32) != DQ_OK) dq_die();
    row *r = rows_add(&rs);
    snprintf(r->family, sizeof r->family, "FP32");
    snprintf(r->label, sizeof r->label, "FP32");
    snprintf(r->w_scheme, sizeof r->w_scheme, "none");
    snprintf(r->a_scheme, sizeof r->a_scheme, "none");
    snprintf(r->gran, sizeof r->gran, "-");
    snprintf(r->calib, sizeof r->calib, "-");
    snprintf(r->bits_w, sizeof r->bits_w, "32");
    snprintf(r->bits_a, sizeof r->bits_a, "32");
    dq_plan *fp = dq_plan_alloc(s->model, "FP32");
    if (!fp) dq_die();
    dq_plan_stats_compute(fp, &r->st);
    dq_plan_free(fp);
    row_result(r, fp32, s->test->n, fp32);

    /* the INT8 baseline: activation calibrator chosen on val */
    dq_calibrator int8_cal;
    int64_t valc[4];
    dq_plan *p8 = dq_qinfer_int8(s, &base, act_affine, &int8_cal, valc);
    if (!p8) dq_die();
    int64_t c8;
    if (dq_qinfer_evaluate(s->model, p8, s->test, s->batch, &c8, NULL,
                           s->progress, "INT8 test") != DQ_OK)
        dq_die();
    r = rows_add(&rs);
    snprintf(r->family, sizeof r->family, "INT8");
    snprintf(r->label, sizeof r->label, "INT8 (act %s)",
             dq_calibrator_name(int8_cal));
    snprintf(r->w_scheme, sizeof r->w_scheme, "uniform");
    snprintf(r->a_scheme, sizeof r->a_scheme, "uniform");
    snprintf(r->gran, sizeof r->gran, "channel");
    snprintf(r->calib, sizeof r->calib, "%s", dq_calibrator_name(int8_cal));
    snprintf(r->bits_w, sizeof r->bits_w, "8");
    snprintf(r->bits_a, sizeof r->bits_a, "8");
    snprintf(r->notes, sizeof r->notes,
             "val correct of %lld: minmax %lld percentile %lld mse %lld kl %lld",
             (long long)s->val->n, (long long)valc[0], (long long)valc[1],
             (long long)valc[2], (long long)valc[3]);
    dq_plan_stats_compute(p8, &r->st);
    row_result(r, c8, s->test->n, fp32);
    int save = dq_config_bool(cfg, "compare", "save_plans");
    char path[1400];
    if (save) {
        snprintf(path, sizeof path, "%s/plans/%s_int8.h5", dir, model);
        char *conf = dq_config_dump(cfg);
        if (!conf || dq_plan_set_str(&p8->config, conf) != DQ_OK) dq_die();
        free(conf);
        p8->seed = (uint64_t)dq_config_int(cfg, "run", "seed");
        if (dq_plan_write(p8, path) != DQ_OK) dq_die();
    }
    dq_plan_free(p8);
    dq_log_info("%s: FP32 %.2f%%, INT8 (act %s) %.2f%% on test", model,
                100.0 * fp32 / s->test->n, dq_calibrator_name(int8_cal),
                100.0 * c8 / s->test->n);

    jobs js = {0};
    make_jobs(cfg, model, &js);
    char plabel[128];
    snprintf(plabel, sizeof plabel, "compare %s", model);
    dq_progress *pr = s->progress ? dq_progress_alloc(plabel, js.n) : NULL;
    for (int i = 0; i < js.n; i++) {
        const job *j = &js.j[i];
        r = rows_add(&rs);
        snprintf(r->family, sizeof r->family, "%s", j->family);
        dq_plan *p = job_plan(s, &base, j, act_affine, int8_cal, r);
        int64_t c = 0;
        int rc = p ? dq_qinfer_evaluate(s->model, p, s->test, s->batch, &c,
                                        NULL, 0, NULL)
                   : dq_error_status();
        if (rc != DQ_OK) {
            dq_log_warn("%s: %s: %s", model, r->label[0] ? r->label : j->family,
                        dq_error_message());
            snprintf(r->notes, sizeof r->notes, "failed: %.200s",
                     dq_error_message());
            r->top1 = r->lo = r->hi = r->delta = NAN;
            r->st.avg_w = r->st.avg_a = r->st.avg = NAN;
            r->st.compression_vs_int8 = NAN;
        } else {
            dq_plan_stats_compute(p, &r->st);
            row_result(r, c, s->test->n, fp32);
            dq_log_debug("%s: %s: %.2f%% at %.2f bits", model, r->label,
                         100 * r->top1, r->st.avg);
            if (save && j->kind != J_FILE) {
                char *conf = dq_config_dump(cfg);
                if (!conf || dq_plan_set_str(&p->config, conf) != DQ_OK)
                    dq_die();
                free(conf);
                p->seed = (uint64_t)dq_config_int(cfg, "run", "seed");
                snprintf(path, sizeof path, "%s/plans/%s_%03d.h5", dir, model,
                         i);
                if (dq_plan_write(p, path) != DQ_OK) dq_die();
            }
        }
        dq_plan_free(p);
        dq_progress_add(pr, 1);
    }
    dq_progress_free(pr);
    mark_pareto(&rs);
    write_model(cfg, dir, model, &rs);
    write_summary(cfg, dir);

    /* stdout: the model's table */
    printf("%-42s %8s %8s %8s %7s %16s\n", "configuration", "avg W", "avg A",
           "avg", "top-1%", "95% CI");
    for (int i = 0; i < rs.n; i++) {
        const row *x = &rs.r[i];
        printf("%-42s %8.2f %8.2f %8.2f %7.2f [%6.2f, %6.2f]%s\n", x->label,
               x->st.avg_w, x->st.avg_a, x->st.avg, 100 * x->top1, 100 * x->lo,
               100 * x->hi, x->pareto ? " *" : "");
    }
    printf("(* Pareto front; %s; %.1f s)\n", model, omp_get_wtime() - t0);
    free(js.j);
    free(rs.r);
    dq_qsession_free(s);
    dq_config_free(cfg);
    return 0;
}
