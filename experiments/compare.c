/*
 * compare.c — dnateq-compare: DNA-TEQ against every baseline on one model,
 * each evaluated the same way (same calib samples, same plan format, the
 * same test split), DESIGN §2 and §5 "compare".
 *
 *   FP32; the INT8 baseline (activation calibrator chosen on val);
 *   uniform at fixed bits (per-tensor and per-channel weights, weights
 *   clipped by [compare] weight_calibrator), the activation calibrator of
 *   each (granularity, bits) chosen on the first select_images val images
 *   (select_calibrator = false: every calibrator reported on test);
 *   log2, log-sqrt2, APoT, K-means, Mokey-like at fixed bits;
 *   bSPARQ / SPARQ windows on the activations with INT8 weights;
 *   the DNA-TEQ and mixed-precision uniform plans of the dnateq driver
 *   (<plans_dir>/<model>_dnateq.h5, <model>_mpu.h5) when present.
 *
 * A (scheme, bits) pair the scheme cannot represent (DQ_EUNSUP, e.g. APoT
 * has no level set for 6-bit unsigned activations) is a row with status
 * "unsupported", empty figures and the reason in notes; any other failure
 * stops the run.
 *
 * Writes <out>/compare/<model>.csv (one row per configuration: test top-1
 * with its Wilson 95% interval, average bits, compression vs INT8),
 * <model>_pareto.dat (the accuracy-vs-bits Pareto front, for
 * plots/compare.gp), <model>.ini (the effective config with the git
 * revision, seed and wall times), then rebuilds summary.{csv,md,tex} from
 * every per-model CSV in <out>/compare.  Nothing is selected on the test
 * split: the only choices (activation calibrators) are made on val.
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
    {"compare", "select_calibrator", DQ_CFG_BOOL, "true", 1, 0,
     "uniform sweep: choose the activation calibrator of each (granularity, "
     "bits) on val and report that one on test; false: report every "
     "calibrator on test"},
    {"compare", "select_images", DQ_CFG_INT, "1000", 0, DQ_FMNIST_VAL,
     "val images the calibrator choice is made on (first N; 0: all)"},
    {"compare", "int8_val_images", DQ_CFG_INT, "0", 0, DQ_FMNIST_VAL,
     "val images the INT8 baseline's calibrator is chosen on (first N; 0: "
     "all)"},
    {"compare", "test_images", DQ_CFG_INT, "0", 0, DQ_FMNIST_TEST,
     "test images every row is evaluated on (first N; 0: all).  run.quick "
     "caps test_images at 300, select_images at 64 and int8_val_images "
     "at 128, and the uniform sweep uses the first two calibrators"},
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
    "test_n,top1,ci_low,ci_high,delta_vs_fp32,pareto,status,notes"
#define NCOL 22
/* The INT8 baseline's label (its calibrator is chosen on val). */
static char INT8_LABEL[] = "INT8 W8A8 per-channel (act cal. on val)";
enum { C_FAMILY = 1, C_LABEL = 2, C_CALIB = 6, C_BITS_W = 7, C_AVG = 11,
       C_TOP1 = 15, C_STATUS = 20 };

/* One configuration's result. */
typedef struct {
    char family[32], label[96], w_scheme[32], a_scheme[32], gran[16],
        calib[16], bits_w[8], bits_a[8], notes[320];
    int unsupported;      /* the scheme cannot represent it: no figures */
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

/* What every job needs: the session, the base options, the splits. */
typedef struct {
    const dq_config *cfg;
    dq_qsession *s;
    dq_quant_opts base;
    int act_affine;
    dq_calibrator int8_cal;
    const dq_dataset *test, *select; /* test rows; calibrator choice */
    int64_t int8_val;                /* val images INT8's choice is made on */
    int64_t fp32;                    /* FP32 correct on test */
} ctx;

/* ---- configurations ----------------------------------------------------------- */

typedef enum { J_UNIFORM, J_SCHEME, J_SPARQ, J_FILE } job_kind;

typedef struct {
    job_kind kind;
    const char *scheme;  /* J_SCHEME / J_SPARQ: registry name */
    int bits, per_channel;
    int ncal;            /* J_UNIFORM: candidate activation calibrators; */
    dq_calibrator cal[4];/* more than one: chosen on val */
    dq_calibrator wcal;  /* weight calibrator */
    int wsame;           /* weights take the activations' calibrator */
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

/* Uniform jobs: granularity x bits, each with every calibrator (selected
 * on val) or one job per calibrator. */
static void uniform_jobs(const dq_config *cfg, int quick, jobs *js)
{
    char buf[512], *item[32];
    int ub0 = (int)dq_config_int(cfg, "compare", "uniform_bits_min");
    int ub1 = (int)dq_config_int(cfg, "compare", "uniform_bits_max");
    int select = dq_config_bool(cfg, "compare", "select_calibrator");
    dq_calibrator cals[4];
    int ncal = 0, gran[2], ngran = 0;
    snprintf(buf, sizeof buf, "%s", dq_config_str(cfg, "compare", "calibrators"));
    int n = split_list(buf, item, 32);
    if (n > 4) dq_fatal(2, "[compare] calibrators: at most 4");
    for (int i = 0; i < n; i++)
        if (calibrator_parse(item[i], &cals[ncal++]) != DQ_OK) dq_die();
    if (quick && ncal > 2) ncal = 2; /* run.quick: the first two */
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
        for (int c = 0; c < (select ? 1 : ncal); c++)
            for (int b = ub1; b >= ub0; b--) {
                if (quick && b != ub0 && b != ub1) continue;
                job *j = jobs_add(js);
                j->kind = J_UNIFORM;
                j->scheme = "uniform";
                j->bits = b;
                j->per_channel = gran[g];
                j->ncal = select ? ncal : 1;
                memcpy(j->cal, select ? cals : &cals[c],
                       sizeof(dq_calibrator) * (size_t)j->ncal);
                j->wcal = wcal;
                j->wsame = wsame;
                snprintf(j->family, sizeof j->family, "Uniform-%s",
                         gran[g] ? "PC" : "PT");
            }
}

static void make_jobs(const dq_config *cfg, const char *model, jobs *js)
{
    int quick = dq_config_bool(cfg, "run", "quick");
    char buf[512], *item[32];
    int nb0 = (int)dq_config_int(cfg, "compare", "nonuniform_bits_min");
    int nb1 = (int)dq_config_int(cfg, "compare", "nonuniform_bits_max");
    int npc = dq_config_bool(cfg, "compare", "nonuniform_per_channel");
    uniform_jobs(cfg, quick, js);
    /* other schemes */
    static char sbuf[512];
    snprintf(sbuf, sizeof sbuf, "%s", dq_config_str(cfg, "compare", "schemes"));
    int n = split_list(sbuf, item, 32);
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
static dq_plan *sparq_plan(const ctx *C, const job *j, int *signed_n,
                           int *act_n)
{
    const dq_calib *c = dq_qsession_samples(C->s);
    dq_plan *p0 = dq_plan_alloc(C->s->model, "");
    if (!c || !p0) return NULL;
    int nl = p0->n_layers;
    dq_qspec *sp = calloc((size_t)nl * DQ_PLAN_SLOTS, sizeof *sp);
    if (!sp) dq_fatal(1, "out of memory");
    *signed_n = *act_n = 0;
    for (int l = 0; l < nl; l++) {
        const dq_plan_layer *L = &p0->layers[l];
        dq_qspec *w = &sp[l * DQ_PLAN_SLOTS];
        opts_for(w, &C->base, "uniform", 8, 1);
        w->opts.symmetric = 1;
        w->opts.calibrator = DQ_CALIB_MINMAX;
        for (int k = 0; k < 2; k++) {
            if (!L->t[DQ_PLAN_A0 + k].present) continue;
            dq_qspec *a = &sp[l * DQ_PLAN_SLOTS + DQ_PLAN_A0 + k];
            const dq_actsample *as = dq_calib_get(c, L->node, k);
            (*act_n)++;
            if (as && as->min < 0) {
                (*signed_n)++;
                opts_for(a, &C->base, "uniform", 8, 0);
                a->opts.symmetric = !C->act_affine;
                a->opts.calibrator = C->int8_cal;
            } else {
                opts_for(a, &C->base, j->scheme, j->bits, 0);
            }
        }
    }
    char label[96];
    snprintf(label, sizeof label, "%s W8 A%d-window",
             strcmp(j->scheme, "sparq") == 0 ? "SPARQ" : "bSPARQ", j->bits);
    dq_plan *p = dq_plan_build(C->s->model, c, sp, label);
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

static void row_fixed(row *r, const char *w_scheme, const char *a_scheme,
                      const char *gran, const char *calib, int bits_w,
                      int bits_a)
{
    snprintf(r->w_scheme, sizeof r->w_scheme, "%s", w_scheme);
    snprintf(r->a_scheme, sizeof r->a_scheme, "%s", a_scheme);
    snprintf(r->gran, sizeof r->gran, "%s", gran);
    snprintf(r->calib, sizeof r->calib, "%s", calib);
    snprintf(r->bits_w, sizeof r->bits_w, "%d", bits_w);
    snprintf(r->bits_a, sizeof r->bits_a, "%d", bits_a);
}

/* Uniform at j->bits with the activation calibrator of j (one), or the
 * one of j->cal whose plan classifies the most select images correctly
 * (the others' counts go into the notes). */
static dq_plan *uniform_plan(const ctx *C, const job *j, row *r)
{
    const dq_calib *c = dq_qsession_samples(C->s);
    if (!c) return NULL;
    const char *g = j->per_channel ? "per-channel" : "per-tensor";
    dq_plan *p[4] = {NULL, NULL, NULL, NULL};
    int64_t n[4];
    int best = 0, rc = DQ_OK;
    for (int i = 0; i < j->ncal && rc == DQ_OK; i++) {
        dq_calibrator wc = j->wsame ? j->cal[i] : j->wcal;
        char lab[96];
        snprintf(lab, sizeof lab, "Uniform W%dA%d %s w-%s a-%s", j->bits,
                 j->bits, g, dq_calibrator_name(wc),
                 dq_calibrator_name(j->cal[i]));
        p[i] = dq_plan_uniform(C->s->model, c, j->bits, j->bits,
                               j->per_channel, wc, j->cal[i], C->act_affine,
                               &C->base, lab);
        if (!p[i]) rc = dq_error_status();
    }
    if (rc == DQ_OK && j->ncal > 1) {
        rc = dq_qinfer_select(C->s->model, (const dq_plan *const *)p, j->ncal,
                              C->select, C->s->batch, n, &best, 0, NULL);
        int len = snprintf(r->notes, sizeof r->notes, "act calibrator chosen "
                           "on val (%lld images):", (long long)C->select->n);
        for (int i = 0; i < j->ncal && len < (int)sizeof r->notes; i++)
            len += snprintf(r->notes + len, sizeof r->notes - (size_t)len,
                            " %s %lld", dq_calibrator_name(j->cal[i]),
                            (long long)n[i]);
    }
    for (int i = 0; i < j->ncal; i++)
        if (i != best || rc != DQ_OK) dq_plan_free(p[i]);
    if (rc != DQ_OK) return NULL;
    if (j->ncal > 1)
        snprintf(r->label, sizeof r->label, "Uniform W%dA%d %s (act cal. on "
                 "val)", j->bits, j->bits, g);
    else
        snprintf(r->label, sizeof r->label, "%s", p[best]->label);
    row_fixed(r, "uniform", "uniform", j->per_channel ? "channel" : "tensor",
              dq_calibrator_name(j->cal[best]), j->bits, j->bits);
    return p[best];
}

static dq_plan *job_plan(const ctx *C, const job *j, row *r)
{
    const dq_calib *c = dq_qsession_samples(C->s);
    if (!c) return NULL;
    switch (j->kind) {
    case J_UNIFORM:
        return uniform_plan(C, j, r);
    case J_SCHEME: {
        const dq_quant_scheme *qs = dq_quant_find(j->scheme);
        snprintf(r->label, sizeof r->label, "%s W%dA%d", qs->label, j->bits,
                 j->bits);
        row_fixed(r, j->scheme, j->scheme,
                  j->per_channel ? "channel" : "tensor", "-", j->bits,
                  j->bits);
        dq_qspec w, a;
        opts_for(&w, &C->base, j->scheme, j->bits, j->per_channel);
        opts_for(&a, &C->base, j->scheme, j->bits, 0);
        return dq_plan_build_all(C->s->model, c, &w, &a, r->label);
    }
    case J_SPARQ: {
        int sn = 0, an = 0;
        dq_plan *p = sparq_plan(C, j, &sn, &an);
        if (p) snprintf(r->label, sizeof r->label, "%s", p->label);
        row_fixed(r, "uniform", j->scheme, "channel", "minmax", 8, j->bits);
        if (sn)
            snprintf(r->notes, sizeof r->notes,
                     "%d of %d activations signed: INT8 (%s) there", sn, an,
                     dq_calibrator_name(C->int8_cal));
        return p;
    }
    case J_FILE: {
        dq_plan *p = dq_plan_read(j->path);
        if (!p) return NULL;
        if (dq_plan_check(p, C->s->model) != DQ_OK) {
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
    fprintf(fp, "%s,%s,%s,%s,%s,%s,%s,%s,%s,", model, r->family, r->label,
            r->w_scheme, r->a_scheme, r->gran, r->calib, r->bits_w,
            r->bits_a);
    if (r->unsupported)
        fprintf(fp, ",,,,,,,,,,0,unsupported,%s\n", r->notes);
    else
        fprintf(fp, "%.6f,%.6f,%.6f,%.6f,%lld,%lld,%.6f,%.6f,%.6f,%.6f,%d,ok,"
                "%s\n", r->st.avg_w, r->st.avg_a, r->st.avg,
                r->st.compression_vs_int8, (long long)r->correct,
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
        if (strcmp(a->family, "FP32") == 0 || a->unsupported) continue;
        int dominated = 0;
        for (int k = 0; k < rs->n && !dominated; k++) {
            const row *b = &rs->r[k];
            if (k == i || strcmp(b->family, "FP32") == 0 || b->unsupported)
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
                        const char *model, rows *rs, const char *timing)
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

    /* the config that reproduces the run, and where its time went */
    snprintf(path, sizeof path, "%s/%s.ini", dir, model);
    char *conf = dq_config_dump(cfg);
    af = dq_afile_open(path);
    if (!af || !conf) dq_die();
    fprintf(af->fp, "; dnateq-compare %s, seed %lld: the effective config of "
            "%s.csv\n; wall time: %s\n%s", dq_git_revision(),
            (long long)dq_config_int(cfg, "run", "seed"), model, timing, conf);
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

/* The pivot cell of CSV row f: test top-1 in percent, with the average
 * bits of an adaptive plan or the calibrator chosen on val when the label
 * does not name it; "n/a" for an unsupported configuration. */
static void cell(char *buf, size_t n, char *const *f)
{
    if (strcmp(f[C_STATUS], "ok") != 0) {
        snprintf(buf, n, "n/a");
        return;
    }
    double x = 100 * atof(f[C_TOP1]);
    if (strcmp(f[C_BITS_W], "mixed") == 0)
        snprintf(buf, n, "%.2f (%.2f b)", x, atof(f[C_AVG]));
    else if (strcmp(f[C_CALIB], "-") != 0 && !strstr(f[C_LABEL], f[C_CALIB]))
        snprintf(buf, n, "%.2f (%s)", x, f[C_CALIB]);
    else
        snprintf(buf, n, "%.2f", x);
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
            /* one INT8 row for every model, whatever calibrator val chose
             * (older files named it in the label) */
            if (strcmp(r->f[C_FAMILY], "INT8") == 0) r->f[C_LABEL] = INT8_LABEL;
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
     * column per model: test top-1 (%) (see cell()) */
    int *lab = malloc((size_t)(ncr ? ncr : 1) * sizeof *lab), nl = 0;
    for (int i = 0; i < ncr; i++) {
        int seen = 0;
        for (int k = 0; k < nl && !seen; k++)
            seen = strcmp(cr[lab[k]].f[C_LABEL], cr[i].f[C_LABEL]) == 0;
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
            if (fmt == 0) {
                fprintf(fp, "| %s | %s |", L->f[C_FAMILY], L->f[C_LABEL]);
            } else {
                tex_escape(fp, L->f[C_FAMILY]);
                fprintf(fp, " & ");
                tex_escape(fp, L->f[C_LABEL]);
            }
            for (int m = 0; m < nm; m++) {
                char v[64] = "";
                for (int i = 0; i < ncr; i++)
                    if (strcmp(cr[i].f[0], models[m]) == 0 &&
                        strcmp(cr[i].f[C_LABEL], L->f[C_LABEL]) == 0)
                        cell(v, sizeof v, cr[i].f);
                if (fmt == 0) fprintf(fp, " %s |", v);
                else {
                    fprintf(fp, " & ");
                    tex_escape(fp, v);
                }
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

/* Seconds spent per kind of row, for the model's .ini record. */
typedef struct {
    double samples, int8, kind[4], total;
} timing;

static void row_write_plan(const ctx *C, dq_plan *p, const char *dir,
                           const char *name)
{
    char path[1400], *conf = dq_config_dump(C->cfg);
    if (!conf || dq_plan_set_str(&p->config, conf) != DQ_OK) dq_die();
    free(conf);
    p->seed = (uint64_t)dq_config_int(C->cfg, "run", "seed");
    snprintf(path, sizeof path, "%s/plans/%s_%s.h5", dir,
             C->s->model->name, name);
    if (dq_plan_write(p, path) != DQ_OK) dq_die();
}

/* Test top-1 of plan p (NULL: FP32) into r. */
static void row_evaluate(const ctx *C, const dq_plan *p, row *r)
{
    int64_t c = C->fp32;
    if (p && dq_qinfer_evaluate(C->s->model, p, C->test, C->s->batch, &c,
                                NULL, 0, NULL) != DQ_OK)
        dq_die();
    if (p) dq_plan_stats_compute(p, &r->st);
    else {
        dq_plan *fp = dq_plan_alloc(C->s->model, "FP32");
        if (!fp) dq_die();
        dq_plan_stats_compute(fp, &r->st);
        dq_plan_free(fp);
    }
    row_result(r, c, C->test->n, C->fp32);
}

/* The INT8 baseline row: calibrator chosen on val (qinfer.h). */
static void int8_row(ctx *C, const char *dir, rows *rs)
{
    dq_plan *p8 = dq_qinfer_int8(C->s, &C->base, C->act_affine, C->int8_val,
                                 &C->int8_cal, NULL);
    if (!p8) dq_die();
    row *r = rows_add(rs);
    snprintf(r->family, sizeof r->family, "INT8");
    snprintf(r->label, sizeof r->label, "%s", INT8_LABEL);
    row_fixed(r, "uniform", "uniform", "channel",
              dq_calibrator_name(C->int8_cal), 8, 8);
    snprintf(r->notes, sizeof r->notes, "%s", p8->meta);
    row_evaluate(C, p8, r);
    if (dq_config_bool(C->cfg, "compare", "save_plans"))
        row_write_plan(C, p8, dir, "int8");
    dq_plan_free(p8);
}

/* Fraction of the weight elements that are not 0 in the model but are
 * quantized to exactly 0 by plan p (a coarse scheme's dead weights). */
static double weights_zeroed(const dq_model *m, const dq_plan *p)
{
    double lost = 0, total = 0;
    for (int l = 0; l < p->n_layers; l++) {
        const dq_plan_tensor *t = &p->layers[l].t[DQ_PLAN_W];
        const dq_tensor *w = m->nodes[p->layers[l].node].weight;
        if (!t->qp || !w) continue;
        float *q = malloc(sizeof(float) * (size_t)w->size);
        if (!q) dq_fatal(1, "out of memory");
        memcpy(q, w->data, sizeof(float) * (size_t)w->size);
        if (dq_quant_fake(t->qp, q, w->size) != DQ_OK) dq_die();
        for (int64_t i = 0; i < w->size; i++) {
            total += 1;
            lost += q[i] == 0 && w->data[i] != 0;
        }
        free(q);
    }
    return total > 0 ? lost / total : 0;
}

/* One job's row: its plan built, evaluated on test; a configuration the
 * scheme cannot represent becomes an "unsupported" row. */
static void job_row(const ctx *C, const job *j, int index, const char *dir,
                    row *r)
{
    snprintf(r->family, sizeof r->family, "%s", j->family);
    dq_error_clear();
    dq_plan *p = job_plan(C, j, r);
    if (!p && dq_error_status() == DQ_EUNSUP) {
        r->unsupported = 1;
        snprintf(r->notes, sizeof r->notes, "unsupported: %.300s",
                 dq_error_message());
        dq_log_info("%s: %s: %s", C->s->model->name, r->label,
                    dq_error_message());
        return;
    }
    if (!p) dq_die();
    if (j->kind == J_SCHEME) {
        size_t len = strlen(r->notes);
        snprintf(r->notes + len, sizeof r->notes - len, "%sweights quantized "
                 "to 0: %.1f%%", len ? "; " : "",
                 100 * weights_zeroed(C->s->model, p));
    }
    row_evaluate(C, p, r);
    dq_log_debug("%s: %s: %.2f%% at %.2f bits", C->s->model->name, r->label,
                 100 * r->top1, r->st.avg);
    if (dq_config_bool(C->cfg, "compare", "save_plans") && j->kind != J_FILE) {
        char name[16];
        snprintf(name, sizeof name, "%03d", index);
        row_write_plan(C, p, dir, name);
    }
    dq_plan_free(p);
}

/* The session and the splits of the run (run.quick: a smoke-test size). */
static void ctx_open(ctx *C, const dq_config *cfg)
{
    memset(C, 0, sizeof *C);
    C->cfg = cfg;
    if (dq_quant_opts_from_config(cfg, "quant", &C->base) != DQ_OK) dq_die();
    C->act_affine = dq_config_bool(cfg, "compare", "act_affine");
    C->s = dq_qsession_open_config(cfg, dq_config_str(cfg, "compare",
                                                      "tensors"));
    if (!C->s) dq_die();
    int64_t ntest = dq_config_int(cfg, "compare", "test_images");
    int64_t nsel = dq_config_int(cfg, "compare", "select_images");
    C->int8_val = dq_config_int(cfg, "compare", "int8_val_images");
    if (dq_config_bool(cfg, "run", "quick")) { /* smoke-test sizes */
        if (ntest == 0 || ntest > 300) ntest = 300;
        if (nsel == 0 || nsel > 64) nsel = 64;
        if (C->int8_val == 0 || C->int8_val > 128) C->int8_val = 128;
    }
    C->test = dq_qsession_head(C->s, "test", ntest);
    C->select = dq_qsession_head(C->s, "val", nsel);
    if (!C->test || !C->select ||
        dq_qsession_fp32_head(C->s, "test", ntest, &C->fp32) != DQ_OK)
        dq_die();
}

static void print_rows(const char *model, const rows *rs, double secs)
{
    printf("%-46s %8s %8s %8s %7s %16s\n", "configuration", "avg W", "avg A",
           "avg", "top-1%", "95% CI");
    for (int i = 0; i < rs->n; i++) {
        const row *x = &rs->r[i];
        if (x->unsupported) {
            printf("%-46s %s\n", x->label, "unsupported");
            continue;
        }
        printf("%-46s %8.2f %8.2f %8.2f %7.2f [%6.2f, %6.2f]%s\n", x->label,
               x->st.avg_w, x->st.avg_a, x->st.avg, 100 * x->top1, 100 * x->lo,
               100 * x->hi, x->pareto ? " *" : "");
    }
    printf("(* Pareto front; %s; %.1f s)\n", model, secs);
}

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
    if (dq_config_bool(cfg, "compare", "save_plans")) {
        char pd[1200];
        snprintf(pd, sizeof pd, "%s/plans", dir);
        if (dq_mkdirs(pd) != DQ_OK) dq_die();
    }
    double t0 = omp_get_wtime(), t;
    timing tm = {0};
    ctx C;
    ctx_open(&C, cfg);
    const char *model = C.s->model->name;
    if (!dq_qsession_samples(C.s)) dq_die();
    tm.samples = omp_get_wtime() - t0;

    rows rs = {0};
    row *r = rows_add(&rs);
    snprintf(r->family, sizeof r->family, "FP32");
    snprintf(r->label, sizeof r->label, "FP32");
    row_fixed(r, "none", "none", "-", "-", 32, 32);
    row_evaluate(&C, NULL, r);
    t = omp_get_wtime();
    int8_row(&C, dir, &rs);
    tm.int8 = omp_get_wtime() - t;
    dq_log_info("%s: FP32 %.2f%%, %s %.2f%% on test", model,
                100 * rs.r[0].top1, rs.r[1].label, 100 * rs.r[1].top1);

    jobs js = {0};
    make_jobs(cfg, model, &js);
    char plabel[128];
    snprintf(plabel, sizeof plabel, "compare %s", model);
    dq_progress *pr = C.s->progress ? dq_progress_alloc(plabel, js.n) : NULL;
    for (int i = 0; i < js.n; i++) {
        t = omp_get_wtime();
        job_row(&C, &js.j[i], i, dir, rows_add(&rs));
        tm.kind[js.j[i].kind] += omp_get_wtime() - t;
        dq_progress_add(pr, 1);
    }
    dq_progress_free(pr);
    tm.total = omp_get_wtime() - t0;
    char tline[256];
    snprintf(tline, sizeof tline, "%.1f s (samples %.1f, INT8 %.1f, uniform "
             "%.1f, other schemes %.1f, SPARQ %.1f, adaptive plans %.1f) at "
             "%d threads", tm.total, tm.samples, tm.int8, tm.kind[J_UNIFORM],
             tm.kind[J_SCHEME], tm.kind[J_SPARQ], tm.kind[J_FILE],
             omp_get_max_threads());
    mark_pareto(&rs);
    write_model(cfg, dir, model, &rs, tline);
    write_summary(cfg, dir);
    print_rows(model, &rs, tm.total);
    dq_log_info("%s: %s", model, tline);
    free(js.j);
    free(rs.r);
    dq_qsession_free(C.s);
    dq_config_free(cfg);
    return 0;
}
