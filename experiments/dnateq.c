/*
 * dnateq.c — dnateq-dnateq: the paper's central result on one zoo model
 * (DESIGN §1.2), and the summary table over the zoo.
 *
 *   dnateq-dnateq [configs/dnateq.ini] --model data/zoo/M.h5
 *       FP32, the INT8 baseline (qinfer.h), the adaptive DNA-TEQ search
 *       ([search], [quant]) and the mixed-precision uniform search ([mpu],
 *       [mpu_quant]) on model M.  Selection on val only; every plan is
 *       then evaluated once on test, with a Wilson 95% interval.  Writes
 *       into <run.out>/dnateq/:
 *         plans/M_dnateq.h5, plans/M_mpu.h5   the chosen plans
 *         M.csv          the summary row of M (columns of summary.csv)
 *         M_detail.csv   val counts, search statistics, the MP-uniform row
 *         M_layers.csv   bits and errors per layer, both searches
 *         M.ini          the effective config, git revision and seed
 *   dnateq-dnateq [configs/dnateq.ini] --merge
 *       summary.{csv,md,tex} from the per-model files of [dnateq] models
 *       (a model without its M.csv is skipped with a warning).
 *   dnateq-dnateq [...] --model M.h5 --bench
 *       the DNA-TEQ search only; prints its timings (make bench-search).
 */
#include "cli.h"
#include "config.h"
#include "error.h"
#include "fsutil.h"
#include "log.h"
#include "plan.h"
#include "qinfer.h"
#include "quant/quant.h"
#include "search.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUMMARY_COLS                                                        \
    "model,fp32_top1,int8_top1,dnateq_top1,dnateq_ci_low,dnateq_ci_high,"   \
    "avg_bits_w,avg_bits_a,avg_bits,compression_vs_int8,search_s"

static const dq_cfg_key dnateq_keys[] = {
    {"dnateq", "models", DQ_CFG_STR, "mlp alexnet resnet20 vit", 1, 0,
     "--merge: models of the summary, in order (space separated)"},
    {"dnateq", "mpu", DQ_CFG_BOOL, "true", 1, 0,
     "also run the mixed-precision uniform search ([mpu], [mpu_quant])"},
    {"dnateq", "int8_act_affine", DQ_CFG_BOOL, "true", 1, 0,
     "INT8 baseline: affine (true, PyTorch's default observer) or "
     "symmetric per-tensor activations"},
    {"dnateq", "tensors", DQ_CFG_STR, "", 1, 0,
     "tensor dump to take the activation calibration samples from (empty: "
     "capture them on calib, search.act_samples per tensor)"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

static const dq_cli_flag flags[] = {
    {"--merge", "write summary.{csv,md,tex} from the per-model results"},
    {"--bench", "run the DNA-TEQ search only and print its timings"},
    {NULL, NULL},
};
enum { FLAG_MERGE = 1u << 0, FLAG_BENCH = 1u << 1 };

/* ---- key tables under other section names ------------------------------- */

/* A copy of src under `section`, with the defaults of some keys replaced
 * (defs: key, value, ..., NULL). */
static dq_cfg_key *table_copy(const dq_cfg_key *src, const char *section,
                              const char *const *defs)
{
    int n = 0;
    while (src[n].section) n++;
    dq_cfg_key *t = calloc((size_t)n + 1, sizeof *t);
    if (!t) dq_fatal(1, "out of memory");
    for (int i = 0; i < n; i++) {
        t[i] = src[i];
        t[i].section = section;
        for (int d = 0; defs && defs[d]; d += 2)
            if (strcmp(defs[d], t[i].key) == 0) t[i].def = defs[d + 1];
    }
    return t;
}

/* run.quick (make ... QUICK=1): a smoke test on the first images of the
 * splits, with coarse searches (search_opts). */
#define QUICK_REPORT 300     /* val and test images reported on */
#define QUICK_SEARCH_VAL 128 /* val images of each search */
#define QUICK_BITS_MAX 6     /* top of the searched bit range */

/* ---- per-model results ------------------------------------------------------ */

/* One evaluated plan. */
typedef struct {
    const char *name;     /* "fp32", "int8", "dnateq", "mpu" */
    dq_plan *plan;        /* NULL for FP32 */
    int64_t val, test;    /* correct counts (val: full split) */
    double lo, hi;        /* Wilson 95% on test */
    dq_plan_stats st;
    dq_search_result r;   /* searches only */
    dq_search_output out; /* searches only (out.plan == plan) */
} entry;

typedef struct {
    dq_config *cfg;
    dq_qsession *s;
    const char *model;    /* model name */
    char *dir;            /* <run.out>/dnateq */
    const dq_dataset *test, *val; /* reported on (run.quick: QUICK_REPORT) */
    int64_t ntest, nval;
    dq_calibrator int8_cal;
    entry fp32, int8, dnateq, mpu;
    int have_mpu;
    char timing[256];     /* where the wall time went */
} run;

static char *path_of(const char *dir, const char *model, const char *suffix)
{
    size_t n = strlen(dir) + strlen(model) + strlen(suffix) + 2;
    char *p = malloc(n);
    if (!p) dq_fatal(1, "out of memory");
    snprintf(p, n, "%s/%s%s", dir, model, suffix);
    return p;
}

static void evaluate_test(run *R, entry *e)
{
    char label[64];
    snprintf(label, sizeof label, "%s: test", e->name);
    if (dq_qinfer_evaluate(R->s->model, e->plan, R->test, R->s->batch,
                           &e->test, NULL, R->s->progress, label) != DQ_OK)
        dq_die();
    dq_wilson(e->test, R->test->n, DQ_Z95, &e->lo, &e->hi);
    if (e->plan) dq_plan_stats_compute(e->plan, &e->st);
}

/* The run's config and seed into a plan it writes. */
static void plan_record(const run *R, dq_plan *p)
{
    char *cfg = dq_config_dump(R->cfg);
    if (!cfg || dq_plan_set_str(&p->config, cfg) != DQ_OK) dq_die();
    free(cfg);
    p->seed = R->s->seed;
}

/* Options of the search of section `sec` and its quantizer (`qsec`);
 * run.quick caps them to a smoke-test size (README: QUICK=1). */
static void search_opts(const dq_config *cfg, const char *sec,
                        const char *qsec, dq_search_opts *o, dq_quant_opts *q)
{
    if (dq_search_opts_from_config(cfg, sec, o) != DQ_OK ||
        dq_quant_opts_from_config(cfg, qsec, q) != DQ_OK)
        dq_fatal(2, "%s", dq_error_message());
    if (!dq_config_bool(cfg, "run", "quick")) return;
    if (o->val_images == 0 || o->val_images > QUICK_SEARCH_VAL)
        o->val_images = QUICK_SEARCH_VAL;
    if (o->sens_images == 0 || o->sens_images > QUICK_SEARCH_VAL / 2)
        o->sens_images = QUICK_SEARCH_VAL / 2;
    if (o->max_evals > 10) o->max_evals = 10;
    if (o->act_samples > 16384) o->act_samples = 16384;
    if (o->n_max > QUICK_BITS_MAX && o->n_min <= QUICK_BITS_MAX)
        o->n_max = QUICK_BITS_MAX;
    /* coarser parameter searches (expq base and alpha/beta; the
     * histogram calibrators of uniform) */
    if (q->base_grid > 12) q->base_grid = 12;
    if (q->base_tol < 1e-2) q->base_tol = 1e-2;
    if (q->lloyd_iters > 4) q->lloyd_iters = 4;
    if (q->refine_evals > 2) q->refine_evals = 2;
    if (q->calib_bins > 256) q->calib_bins = 256;
    if (q->calib_start_bin > 32) q->calib_start_bin = 32;
}

/* The search of section `sec` with quant options of section `qsec`. */
static void run_search(run *R, entry *e, const char *sec, const char *qsec,
                       const char *label)
{
    dq_search_opts o;
    dq_quant_opts q;
    search_opts(R->cfg, sec, qsec, &o, &q);
    dq_log_info("%s: %s search (%s, %d..%d bits, budget %.2f points)",
                R->model, label, o.scheme, o.n_min, o.n_max, o.budget);
    if (dq_search_session(R->s, &o, &q, &q, label, &e->r, &e->out) != DQ_OK)
        dq_die();
    e->plan = e->out.plan;
    plan_record(R, e->plan);
    if (e->out.val_images == R->val->n) e->val = e->r.correct;
    else if (dq_qinfer_evaluate(R->s->model, e->plan, R->val, R->s->batch,
                                &e->val, NULL, R->s->progress, label) != DQ_OK)
        dq_die();
    dq_log_info("%s: %s: %d evals, %d rounds, val %lld/%lld (fp32 %lld), "
                "%.1f s", R->model, label, e->r.evals, e->r.rounds,
                (long long)e->r.correct, (long long)e->out.val_images,
                (long long)e->out.val_ref, e->out.search_s);
    if (!e->r.budget_met)
        dq_log_warn("%s: %s: even %d bits everywhere loses more than the "
                    "budget on val", R->model, label, o.n_max);
}

/* ---- writing ---------------------------------------------------------------- */

static void write_or_die(dq_afile *af)
{
    if (dq_afile_commit(af) != DQ_OK) dq_die();
}

static dq_afile *open_or_die(const char *path)
{
    dq_afile *af = dq_afile_open(path);
    if (!af) dq_die();
    return af;
}

static void write_summary_row(const run *R, FILE *fp)
{
    const entry *d = &R->dnateq;
    fprintf(fp, "%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.1f\n",
            R->model, (double)R->fp32.test / R->ntest,
            (double)R->int8.test / R->ntest, (double)d->test / R->ntest,
            d->lo, d->hi, d->st.avg_w, d->st.avg_a, d->st.avg,
            d->st.compression_vs_int8, d->out.search_s);
}

static void write_model_csv(const run *R)
{
    char *p = path_of(R->dir, R->model, ".csv");
    dq_afile *af = open_or_die(p);
    fprintf(af->fp, "%s\n", SUMMARY_COLS);
    write_summary_row(R, af->fp);
    write_or_die(af);
    free(p);
}

static void detail_search(FILE *fp, const entry *e, int64_t ntest)
{
    fprintf(fp, ",%lld,%lld,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.6g,%d,%d,%d,%d,"
                "%d,%d,%d,%lld,%lld,%.1f,%.1f",
            (long long)e->test, (long long)e->val, (double)e->test / ntest,
            e->lo, e->hi, e->st.avg_w, e->st.avg_a, e->st.avg,
            e->st.compression_vs_int8, e->r.tau, e->r.tau_index,
            e->r.tau_count, e->r.evals, e->r.rounds, e->r.lowered,
            e->r.swaps, e->r.budget_met, (long long)e->out.val_images,
            (long long)e->r.correct, e->out.table_s, e->out.search_s);
}

static void write_detail_csv(const run *R)
{
    static const char *const scols[] = {
        "test_correct", "val_correct", "top1", "ci_low", "ci_high",
        "avg_bits_w", "avg_bits_a", "avg_bits", "compression_vs_int8", "tau",
        "tau_index", "tau_count", "evals", "rounds", "lowered", "swaps",
        "budget_met", "search_val_images", "search_val_correct", "table_s",
        "search_s", NULL};
    char *p = path_of(R->dir, R->model, "_detail.csv");
    dq_afile *af = open_or_die(p);
    FILE *fp = af->fp;
    fprintf(fp, "model,test_images,val_images,budget,fp32_test_correct,"
                "fp32_val_correct,int8_test_correct,int8_val_correct,"
                "int8_act_calibrator");
    const char *pre[2] = {"dnateq_", "mpu_"};
    for (int k = 0; k < 2; k++)
        for (int i = 0; scols[i]; i++) fprintf(fp, ",%s%s", pre[k], scols[i]);
    fprintf(fp, "\n%s,%lld,%lld,%.4g,%lld,%lld,%lld,%lld,%s", R->model,
            (long long)R->ntest, (long long)R->nval,
            dq_config_double(R->cfg, "search", "budget"),
            (long long)R->fp32.test, (long long)R->fp32.val,
            (long long)R->int8.test, (long long)R->int8.val,
            dq_calibrator_name(R->int8_cal));
    detail_search(fp, &R->dnateq, R->ntest);
    if (R->have_mpu) detail_search(fp, &R->mpu, R->ntest);
    else
        for (int i = 0; scols[i]; i++) fprintf(fp, ",");
    fprintf(fp, "\n");
    write_or_die(af);
    free(p);
}

static const char *operand_name(const dq_search_layer *L, int k)
{
    if (L->is_weight[k]) return "weight";
    return L->input[k] == 0 ? "input0" : "input1";
}

static void layers_rows(FILE *fp, const char *model, const char *search,
                        const entry *e)
{
    const dq_search_table *t = e->out.table;
    for (int l = 0; l < t->nlayers; l++) {
        const dq_search_layer *L = &t->layers[l];
        int b0 = e->r.bits[2 * l], b1 = e->r.bits[2 * l + 1];
        int64_t x = dq_search_table_entry(t, l, b0, b1);
        fprintf(fp, "%s,%s,%d,%s,%s,%s,%s,%lld,%lld,%d,%d,%.6g,%.6g,%.9g\n",
                model, search, l, L->name,
                e->plan->layers[l].op, operand_name(L, 0),
                operand_name(L, 1), (long long)L->elems[0],
                (long long)L->elems[1], b0, b1, t->err0[x], t->err1[x],
                t->shared_base[x]);
    }
}

static void write_layers_csv(const run *R)
{
    char *p = path_of(R->dir, R->model, "_layers.csv");
    dq_afile *af = open_or_die(p);
    fprintf(af->fp, "model,search,index,layer,op,operand0,operand1,elems0,"
                    "elems1,bits0,bits1,rmae0,rmae1,shared_base\n");
    layers_rows(af->fp, R->model, "dnateq", &R->dnateq);
    if (R->have_mpu) layers_rows(af->fp, R->model, "mpu", &R->mpu);
    write_or_die(af);
    free(p);
}

static void write_plan(const run *R, const entry *e, const char *suffix)
{
    char *dir = path_of(R->dir, "plans", "");
    char *p = path_of(dir, R->model, suffix);
    if (dq_plan_write(e->plan, p) != DQ_OK) dq_die();
    dq_log_info("wrote %s", p);
    free(dir);
    free(p);
}

static void write_record(const run *R)
{
    char *p = path_of(R->dir, R->model, ".ini");
    char *cfg = dq_config_dump(R->cfg);
    if (!cfg) dq_die();
    dq_afile *af = open_or_die(p);
    fprintf(af->fp, "; dnateq-dnateq run of model %s\n; created_by = %s\n"
                    "; seed = %lld\n; wall time: %s\n", R->model,
            dq_git_revision(), (long long)dq_config_int(R->cfg, "run", "seed"),
            R->timing);
    fputs(cfg, af->fp);
    write_or_die(af);
    free(cfg);
    free(p);
}

static void print_entry(const run *R, const entry *e, const char *label)
{
    printf("%-22s test %.4f [%.4f, %.4f]  val %lld/%lld", label,
           (double)e->test / R->ntest, e->lo, e->hi, (long long)e->val,
           (long long)R->nval);
    if (e->plan)
        printf("  bits W %.3f A %.3f all %.3f  compression vs INT8 %.1f%%",
               e->st.avg_w, e->st.avg_a, e->st.avg,
               100 * e->st.compression_vs_int8);
    printf("\n");
}

/* ---- one model ------------------------------------------------------------- */

/* The session: samples from [dnateq] tensors or captured with [search]
 * act_samples per tensor; the val and test images reported on. */
static void run_open(run *R, dq_config *cfg)
{
    const char *tensors = dq_config_str(cfg, "dnateq", "tensors");
    R->cfg = cfg;
    R->s = dq_qsession_open_config(cfg, tensors);
    if (!R->s) dq_die();
    dq_search_opts o;
    dq_quant_opts q;
    search_opts(cfg, "search", "quant", &o, &q);
    R->s->max_samples = o.act_samples;
    int quick = dq_config_bool(cfg, "run", "quick");
    R->model = R->s->model->name;
    R->dir = path_of(dq_config_str(cfg, "run", "out"), "dnateq", "");
    R->test = dq_qsession_head(R->s, "test", quick ? QUICK_REPORT : 0);
    R->val = dq_qsession_head(R->s, "val", quick ? QUICK_REPORT : 0);
    if (!R->test || !R->val) dq_die();
    R->ntest = R->test->n;
    R->nval = R->val->n;
    R->fp32.name = "fp32";
    R->int8.name = "int8";
    R->dnateq.name = "dnateq";
    R->mpu.name = "mpu";
}

static void run_bench(run *R)
{
    run_search(R, &R->dnateq, "search", "quant", "DNA-TEQ");
    printf("model=%s\nthreads=%d\nprefix_cache=%d\nsearch_s=%.3f\n"
           "table_s=%.3f\nevals=%d\nval_correct=%lld\n", R->model,
           omp_get_max_threads(),
           (int)dq_config_bool(R->cfg, "search", "prefix_cache"),
           R->dnateq.out.search_s, R->dnateq.out.table_s, R->dnateq.r.evals,
           (long long)R->dnateq.r.correct);
    dq_search_result_free(&R->dnateq.r);
    dq_search_output_free(&R->dnateq.out);
}

static void run_int8(run *R)
{
    dq_quant_opts base;
    dq_quant_opts_default(&base);
    int64_t cal_val[4];
    R->int8.plan = dq_qinfer_int8(R->s, &base,
                                  dq_config_bool(R->cfg, "dnateq",
                                                 "int8_act_affine"),
                                  R->nval, &R->int8_cal, cal_val);
    if (!R->int8.plan) dq_die();
    plan_record(R, R->int8.plan);
    R->int8.val = cal_val[R->int8_cal]; /* cal_val is in enum order */
    evaluate_test(R, &R->int8);
}

static void run_model(dq_config *cfg, int bench)
{
    run R;
    memset(&R, 0, sizeof R);
    run_open(&R, cfg);
    if (bench) {
        run_bench(&R);
        dq_qsession_free(R.s);
        free(R.dir);
        return;
    }
    double t0 = omp_get_wtime(), t[6];
    if (!dq_qsession_samples(R.s)) dq_die();
    t[0] = omp_get_wtime();
    if (dq_qsession_fp32_head(R.s, "val", R.nval, &R.fp32.val) != DQ_OK)
        dq_die();
    evaluate_test(&R, &R.fp32);
    run_int8(&R);
    t[1] = omp_get_wtime();
    run_search(&R, &R.dnateq, "search", "quant", "DNA-TEQ");
    t[2] = omp_get_wtime();
    evaluate_test(&R, &R.dnateq);
    R.have_mpu = dq_config_bool(cfg, "dnateq", "mpu");
    t[3] = t[4] = omp_get_wtime();
    if (R.have_mpu) {
        run_search(&R, &R.mpu, "mpu", "mpu_quant", "MP-uniform");
        t[4] = omp_get_wtime();
        evaluate_test(&R, &R.mpu);
    }
    t[5] = omp_get_wtime();
    snprintf(R.timing, sizeof R.timing, "%.1f s (samples %.1f, FP32 + INT8 "
             "%.1f, DNA-TEQ search %.1f + test %.1f, MP-uniform search %.1f "
             "+ test %.1f) at %d threads", t[5] - t0, t[0] - t0, t[1] - t[0],
             t[2] - t[1], t[3] - t[2], t[4] - t[3], t[5] - t[4],
             omp_get_max_threads());

    write_plan(&R, &R.int8, "_int8.h5");
    write_plan(&R, &R.dnateq, "_dnateq.h5");
    if (R.have_mpu) write_plan(&R, &R.mpu, "_mpu.h5");
    write_layers_csv(&R);
    write_detail_csv(&R);
    write_model_csv(&R);
    write_record(&R);

    printf("model %s (test %lld images, val %lld)\n", R.model,
           (long long)R.ntest, (long long)R.nval);
    print_entry(&R, &R.fp32, "FP32");
    char lab[64];
    snprintf(lab, sizeof lab, "INT8 (act %s)", dq_calibrator_name(R.int8_cal));
    print_entry(&R, &R.int8, lab);
    print_entry(&R, &R.dnateq, "DNA-TEQ");
    if (R.have_mpu) print_entry(&R, &R.mpu, "MP-uniform");
    printf("search time %.1f s (error table %.1f s); wall time %s\n",
           R.dnateq.out.search_s, R.dnateq.out.table_s, R.timing);

    dq_plan_free(R.int8.plan);
    dq_search_result_free(&R.dnateq.r);
    dq_search_output_free(&R.dnateq.out);
    if (R.have_mpu) {
        dq_search_result_free(&R.mpu.r);
        dq_search_output_free(&R.mpu.out);
    }
    dq_qsession_free(R.s);
    free(R.dir);
}

/* ---- --merge ----------------------------------------------------------------- */

#define NCOL 11

typedef struct {
    char model[64];
    double v[NCOL]; /* v[0] unused (the model) */
    char line[1024];
} row;

/* Read the summary row of M.csv; 0 when the file is missing. */
static int read_row(const char *dir, const char *model, row *r)
{
    char *p = path_of(dir, model, ".csv");
    char *text = NULL;
    size_t len;
    FILE *probe = fopen(p, "r");
    if (!probe) {
        dq_log_warn("%s: missing, model '%s' left out of the summary", p,
                    model);
        free(p);
        return 0;
    }
    fclose(probe);
    if (dq_read_text(p, &text, &len) != DQ_OK) dq_die();
    char *nl = strchr(text, '\n');
    if (!nl || strncmp(text, SUMMARY_COLS "\n", strlen(SUMMARY_COLS) + 1))
        dq_fatal(1, "%s: header is not '%s'", p, SUMMARY_COLS);
    char *line = nl + 1, *end = strchr(line, '\n');
    if (end) *end = '\0';
    snprintf(r->line, sizeof r->line, "%s", line);
    char *f = line;
    for (int i = 0; i < NCOL; i++) {
        char *comma = strchr(f, ',');
        if (!comma && i < NCOL - 1)
            dq_fatal(1, "%s: row has fewer than %d columns", p, NCOL);
        if (comma) *comma = '\0';
        if (i == 0) snprintf(r->model, sizeof r->model, "%s", f);
        else {
            char *e;
            r->v[i] = strtod(f, &e);
            if (e == f || *e) dq_fatal(1, "%s: column %d: '%s' is not a "
                                       "number", p, i + 1, f);
        }
        f = comma ? comma + 1 : f + strlen(f);
    }
    free(text);
    free(p);
    return 1;
}

static void merge(dq_config *cfg)
{
    char *dir = path_of(dq_config_str(cfg, "run", "out"), "dnateq", "");
    char *models = strdup(dq_config_str(cfg, "dnateq", "models"));
    if (!models) dq_fatal(1, "out of memory");
    row rows[32];
    int n = 0;
    for (char *m = strtok(models, " ,\t"); m && n < 32;
         m = strtok(NULL, " ,\t"))
        n += read_row(dir, m, &rows[n]);
    if (n == 0) dq_fatal(1, "%s: no per-model results to merge", dir);
    double budget = dq_config_double(cfg, "search", "budget");

    char *p = path_of(dir, "summary", ".csv");
    dq_afile *af = open_or_die(p);
    fprintf(af->fp, "%s\n", SUMMARY_COLS);
    for (int i = 0; i < n; i++) fprintf(af->fp, "%s\n", rows[i].line);
    write_or_die(af);
    free(p);

    p = path_of(dir, "summary", ".md");
    af = open_or_die(p);
    fprintf(af->fp,
            "| model | FP32 top-1 | INT8 top-1 | DNA-TEQ top-1 (95%% CI) | "
            "avg bits W | avg bits A | avg bits | compression vs INT8 | "
            "loss vs FP32 | search (s) |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++) {
        const double *v = rows[i].v;
        fprintf(af->fp, "| %s | %.2f%% | %.2f%% | %.2f%% [%.2f, %.2f] | %.2f "
                        "| %.2f | %.2f | %.1f%% | %+.2f | %.0f |\n",
                rows[i].model, 100 * v[1], 100 * v[2], 100 * v[3], 100 * v[4],
                100 * v[5], v[6], v[7], v[8], 100 * v[9],
                100 * (v[3] - v[1]), v[10]);
    }
    fprintf(af->fp, "\nTop-1 on the test split (10,000 images); the search "
                    "selects on the val split only, with a budget of %.2f "
                    "point(s) of top-1 against FP32. Average bits and "
                    "compression are element-weighted over the quantized "
                    "weights and the activations of one inference. "
                    "Produced by dnateq-dnateq --merge, revision %s.\n",
            budget, dq_git_revision());
    write_or_die(af);
    free(p);

    p = path_of(dir, "summary", ".tex");
    af = open_or_die(p);
    fprintf(af->fp,
            "%% generated by dnateq-dnateq --merge (revision %s)\n"
            "\\begin{tabular}{lrrrrrrrr}\n\\toprule\n"
            "model & FP32 & INT8 & DNA-TEQ & 95\\%% CI & bits W & bits A & "
            "bits & compr. vs INT8 \\\\\n\\midrule\n", dq_git_revision());
    for (int i = 0; i < n; i++) {
        const double *v = rows[i].v;
        fprintf(af->fp, "%s & %.2f & %.2f & %.2f & [%.2f, %.2f] & %.2f & "
                        "%.2f & %.2f & %.1f\\%% \\\\\n",
                rows[i].model, 100 * v[1], 100 * v[2], 100 * v[3], 100 * v[4],
                100 * v[5], v[6], v[7], v[8], 100 * v[9]);
    }
    fprintf(af->fp, "\\bottomrule\n\\end{tabular}\n");
    write_or_die(af);
    free(p);
    printf("merged %d model(s) into %s/summary.{csv,md,tex}\n", n, dir);
    free(models);
    free(dir);
}

int main(int argc, char **argv)
{
    static const char *const mpu_defs[] = {"scheme", "uniform", NULL};
    static const char *const mpuq_defs[] = {"per_channel", "true",
                                            "calibrator", "mse", NULL};
    dq_cfg_key *mpu_keys = table_copy(dq_search_keys, "mpu", mpu_defs);
    dq_cfg_key *mpuq_keys = table_copy(dq_quant_keys, "mpu_quant", mpuq_defs);
    const dq_cfg_key *const tables[] = {dq_run_keys, dnateq_keys,
                                        dq_search_keys, dq_quant_keys,
                                        mpu_keys, mpuq_keys, NULL};
    const dq_cli_spec spec = {
        .name = "dnateq-dnateq",
        .summary = "adaptive DNA-TEQ bitwidth search vs FP32, INT8 and "
                   "mixed-precision uniform on one model; --merge: summary",
        .usage_extra =
            "Per model (--model FILE): FP32, INT8, the DNA-TEQ search "
            "([search], [quant])\nand the mixed-precision uniform search "
            "([mpu], [mpu_quant]); selection on val,\nreport on test. "
            "Results in <run.out>/dnateq/.  --merge: summary.{csv,md,tex}\n"
            "of the models in [dnateq] models.  --bench: the DNA-TEQ "
            "search only, timed.",
        .tables = tables,
        .positional = NULL,
        .flags = flags,
    };
    dq_cli_args args;
    dq_config *cfg = dq_cli_parse_args(&spec, argc, argv, &args);
    if (args.npos > 0) dq_fatal(2, "unexpected argument '%s'", args.pos[0]);
    dq_search_opts o;
    dq_quant_opts q;
    if (dq_search_opts_from_config(cfg, "search", &o) != DQ_OK ||
        dq_search_opts_from_config(cfg, "mpu", &o) != DQ_OK ||
        dq_quant_opts_from_config(cfg, "quant", &q) != DQ_OK ||
        dq_quant_opts_from_config(cfg, "mpu_quant", &q) != DQ_OK)
        dq_fatal(2, "%s", dq_error_message());
    if (args.flags & FLAG_MERGE) merge(cfg);
    else run_model(cfg, (args.flags & FLAG_BENCH) != 0);
    dq_cli_args_free(&args);
    dq_config_free(cfg);
    free(mpu_keys);
    free(mpuq_keys);
    return 0;
}
