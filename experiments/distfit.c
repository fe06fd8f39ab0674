/*
 * distfit.c — dnateq-distfit: which distribution fits each weight and
 * activation tensor best (DESIGN §5, experiment distfit).
 *
 *   dnateq-distfit [configs/distfit.ini] [--set distfit.models=mlp,vit]
 *
 * For every model in distfit.models it reads the tensor dump
 * <distfit.dump_dir>/<model>.h5 (format dnateq-tensors, schema in the
 * README) and runs fit.h's two analyses on every tensor: signed (normal,
 * laplace, uniform, student_t, logistic) and magnitude (|x| without exact
 * zeros: exponential, halfnormal, uniform, gamma, lognormal, weibull).  The
 * (tensor, analysis) jobs run in parallel with OpenMP; each result lands
 * at its job's index, so every output is byte-identical at any thread
 * count.
 *
 * Outputs, in <run.out>/distfit/, all written atomically, the CSV and .dat
 * files opening with '#' comment lines that record the git revision, the
 * seed and the effective config:
 *   <model>.csv          one row per (tensor, analysis, family): parameters
 *                        and goodness of fit (columns in the README)
 *   summary.csv          per (model, kind, analysis, family): the number
 *                        and share of tensors that family fits best; model
 *                        "all" pools the models
 *   summary.md/.tex      the shares as tables, one per analysis
 *   shares_signed.dat,
 *   shares_magnitude.dat the shares as gnuplot rows (plots/distfit_shares.gp)
 *   hist_<model>_<tensor>.dat   for the tensors named in distfit.hist: the
 *                        density histogram and every fitted pdf at the bin
 *                        centres, block 0 signed, block 1 magnitude
 *                        (plots/distfit_hist.gp)
 */
#include "cli.h"
#include "config.h"
#include "error.h"
#include "fit.h"
#include "fsutil.h"
#include "report.h"
#include "h5io.h"
#include "log.h"
#include "tensor.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODELS 32
#define MAX_HIST 64
#define QUICK_MAX_SAMPLE 16384 /* run.quick caps fit.max_sample here */

static const dq_cfg_key distfit_keys[] = {
    {"distfit", "models", DQ_CFG_STR, "mlp, alexnet, resnet20, vit", 1, 0,
     "comma-separated zoo models; each is read from <dump_dir>/<model>.h5"},
    {"distfit", "dump_dir", DQ_CFG_STR, "data/tensors", 1, 0,
     "directory of the tensor dumps (dnateq-dump)"},
    {"distfit", "hist", DQ_CFG_STR, "", 1, 0,
     "representative tensors for histogram data: comma-separated "
     "model:name, name = a dataset under /tensors or a layer (all its "
     "tensors); models not analysed are skipped"},
    {NULL, NULL, DQ_CFG_STR, NULL, 0, 0, NULL},
};

static const dq_cfg_key *const tables[] = {dq_run_keys, distfit_keys,
                                           dq_fit_keys, NULL};

static const dq_cli_spec spec = {
    .name = "dnateq-distfit",
    .summary = "fit normal, laplace, uniform, student_t, logistic (signed) "
               "and exponential, halfnormal, uniform, gamma, lognormal, "
               "weibull (magnitude) to every tensor of the dumps",
    .usage_extra = "Writes <run.out>/distfit/<model>.csv, summary.{csv,md,tex}, "
                   "shares_*.dat and hist_<model>_<tensor>.dat.\n"
                   "fit.seed defaults to run.seed (--seed); run.quick caps "
                   "fit.max_sample at 16384.",
    .tables = tables,
};

/* printf into a path buffer; DQ_EINVAL when the path does not fit. */
static int fmt_path(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fmt_path(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len)
        return DQ_ERROR(DQ_EINVAL, "path too long: %.200s...", buf);
    return DQ_OK;
}

/* ---- inputs ------------------------------------------------------------------ */

typedef struct {
    char name[DQ_NAME_MAX];  /* dataset name under /tensors */
    char layer[DQ_NAME_MAX];
    int is_weight;
    int64_t count;           /* values of the whole tensor / activation stream */
    double zero_frac;        /* exact over count; NAN: take the report's */
    dq_tensor *t;
} tensor_in;

static void tensors_free(tensor_in *ts, int n)
{
    for (int i = 0; i < n; i++) dq_tensor_free(ts[i].t);
    free(ts);
}

/* One dataset of /tensors with its attributes (README: tensor dump). */
static int load_one(dq_h5 *f, const char *name, tensor_in *ti)
{
    char obj[2 * DQ_NAME_MAX], *kind = NULL, *layer = NULL;
    snprintf(obj, sizeof obj, "/tensors/%s", name);
    snprintf(ti->name, sizeof ti->name, "%s", name);
    int st = dq_h5_get_attr_str(f, obj, "kind", &kind);
    if (st == DQ_OK) st = dq_h5_get_attr_str(f, obj, "layer", &layer);
    if (st == DQ_OK) {
        ti->is_weight = strcmp(kind, "weight") == 0;
        if (!ti->is_weight && strcmp(kind, "activation") != 0)
            st = DQ_ERROR(DQ_EFORMAT, "%s: %s: kind '%s', expected 'weight' "
                          "or 'activation'", dq_h5_path(f), obj, kind);
        snprintf(ti->layer, sizeof ti->layer, "%s", layer);
    }
    free(kind);
    free(layer);
    if (st == DQ_OK) st = dq_h5_read_tensor(f, obj, &ti->t);
    if (st != DQ_OK) return st;
    ti->count = ti->t->size;
    ti->zero_frac = NAN;
    if (!ti->is_weight && dq_h5_has_attr(f, obj, "count") == 1 &&
        dq_h5_has_attr(f, obj, "zero_frac") == 1) {
        st = dq_h5_get_attr_int(f, obj, "count", &ti->count);
        if (st == DQ_OK) st = dq_h5_get_attr_double(f, obj, "zero_frac", &ti->zero_frac);
    }
    return st;
}

static int load_dump(const char *path, tensor_in **out, int *nout)
{
    dq_h5 *f = dq_h5_open(path, "dnateq-tensors", 1);
    if (!f) return dq_error_status();
    char **names = NULL;
    int n = 0, m = 0;
    tensor_in *ts = NULL;
    int st = dq_h5_list(f, "/tensors", &names, &n);
    if (st == DQ_OK) {
        ts = calloc((size_t)(n ? n : 1), sizeof *ts);
        if (!ts) st = DQ_ERROR(DQ_ENOMEM, "%s: out of memory", path);
    }
    for (int i = 0; i < n && st == DQ_OK; i++) {
        char obj[2 * DQ_NAME_MAX];
        snprintf(obj, sizeof obj, "/tensors/%s", names[i]);
        if (dq_h5_is_group(f, obj) != 0) continue;
        st = load_one(f, names[i], &ts[m]);
        if (st == DQ_OK) m++;
    }
    dq_h5_list_free(names, n);
    dq_h5_close(f);
    if (st == DQ_OK && m == 0)
        st = DQ_ERROR(DQ_EFORMAT, "%s: no tensors under /tensors", path);
    if (st != DQ_OK) {
        tensors_free(ts, m);
        return st;
    }
    *out = ts;
    *nout = m;
    return DQ_OK;
}

/* ---- fitting ------------------------------------------------------------------ */

typedef struct {
    int ti;
    dq_fit_domain domain;
    dq_fit_report *rep;
    int status;
    char message[512];
} job;

/* Every (tensor, analysis) of one model; stops at the first error. */
static int run_jobs(const char *path, const tensor_in *ts, int nt,
                    const dq_fit_options *opt, job *jobs)
{
    int nj = 2 * nt;
    for (int j = 0; j < nj; j++) {
        jobs[j].ti = j / 2;
        jobs[j].domain = j % 2 ? DQ_FIT_MAGNITUDE : DQ_FIT_SIGNED;
    }
    dq_progress *pr = dq_progress_alloc(path, nj);
#pragma omp parallel for schedule(dynamic, 1)
    for (int j = 0; j < nj; j++) {
        const dq_tensor *t = ts[jobs[j].ti].t;
        jobs[j].rep = dq_fit_analyze(t->data, t->size, jobs[j].domain, opt);
        jobs[j].status = jobs[j].rep ? DQ_OK : dq_error_status();
        if (!jobs[j].rep)
            snprintf(jobs[j].message, sizeof jobs[j].message, "%s",
                     dq_error_message());
        dq_progress_add(pr, 1);
    }
    dq_progress_free(pr);
    for (int j = 0; j < nj; j++)
        if (jobs[j].status != DQ_OK)
            return DQ_ERROR(jobs[j].status, "%s: tensor '%s': %s", path,
                            ts[jobs[j].ti].name, jobs[j].message);
    return DQ_OK;
}

/* ---- outputs -------------------------------------------------------------------- */

static void header_comments(FILE *fp, const char *what, const dq_config *c)
{
    dq_report_header(fp, "#", "distfit", what, dq_config_int(c, "fit", "seed"), c);
}

static double zero_frac_of(const tensor_in *ti, const dq_fit_report *r)
{
    return isnan(ti->zero_frac) ? r->zero_frac : ti->zero_frac;
}

#define CSV_COLUMNS                                                              \
    "model,tensor,layer,kind,analysis,count,n_input,zero_frac,n_sample,n_ks,"  \
    "family,nparam,param_names,p1,p2,p3,iterations,status,eligible,loglik,"    \
    "aic,bic,ks_stat,ks_p,sse,best\n"

static void csv_row(FILE *fp, const char *model, const tensor_in *ti,
                    const dq_fit_report *r, const dq_fit_result *f, int best)
{
    char b[12][40];
    fprintf(fp, "%s,%s,%s,%s,%s,%lld,%lld,%s,%lld,%lld,", model, ti->name,
            ti->layer, ti->is_weight ? "weight" : "activation",
            dq_fit_domain_name(r->domain), (long long)ti->count,
            (long long)r->n_input, dq_report_num(b[0], 40, zero_frac_of(ti, r)),
            (long long)r->n_sample, (long long)r->n_ks);
    if (!f) { /* degenerate: no fits */
        fprintf(fp, "none,0,,,,,0,degenerate,0,,,,,,,0\n");
        return;
    }
    char names[64] = "";
    for (int i = 0; i < f->nparam; i++) {
        if (i) strcat(names, ";");
        strcat(names, dq_fit_param_name(f->family, i));
    }
    for (int i = 0; i < DQ_FIT_MAX_PARAM; i++)
        if (i < f->nparam)
            dq_report_num(b[1 + i], 40, f->param[i]);
        else
            b[1 + i][0] = '\0';
    char status[sizeof f->message + 8] = "ok";
    if (f->status != DQ_OK) /* the message, made CSV-safe */
        for (size_t i = 0; i < sizeof status - 1 && (status[i] = f->message[i]); i++)
            if (status[i] == ',' || status[i] == '"' || status[i] == '\n') status[i] = ';';
    fprintf(fp, "%s,%d,%s,%s,%s,%s,%d,%s,%d,%s,%s,%s,%s,%s,%s,%d\n",
            dq_fit_family_name(f->family), f->nparam, names, b[1], b[2], b[3],
            f->iterations, status, f->eligible,
            dq_report_num(b[4], 40, f->loglik), dq_report_num(b[5], 40, f->aic), dq_report_num(b[6], 40, f->bic),
            dq_report_num(b[7], 40, f->ks_stat), dq_report_num(b[8], 40, f->ks_p),
            dq_report_num(b[9], 40, f->sse), best);
}

static int write_model_csv(const char *path, const char *model,
                           const tensor_in *ts, const job *jobs, int nj,
                           const dq_config *c)
{
    dq_afile *af = dq_afile_open(path);
    if (!af) return dq_error_status();
    char what[DQ_NAME_MAX + 64];
    snprintf(what, sizeof what, "fits and goodness of fit, model %s", model);
    header_comments(af->fp, what, c);
    fputs(CSV_COLUMNS, af->fp);
    for (int j = 0; j < nj; j++) {
        const dq_fit_report *r = jobs[j].rep;
        if (r->nfits == 0) csv_row(af->fp, model, &ts[jobs[j].ti], r, NULL, 0);
        for (int i = 0; i < r->nfits; i++)
            csv_row(af->fp, model, &ts[jobs[j].ti], r, &r->fit[i], i == r->best);
    }
    return dq_afile_commit(af);
}

/* One block of a histogram file: x, density, then each fitted pdf. */
static void hist_block(FILE *fp, const dq_fit_report *r)
{
    char b[40];
    fprintf(fp, "# %s analysis: n_sample %lld, zero_frac %s, best %s\n",
            dq_fit_domain_name(r->domain), (long long)r->n_sample,
            dq_report_num(b, 40, r->zero_frac),
            r->best >= 0 ? dq_fit_family_name(r->fit[r->best].family) : "none");
    for (int i = 0; i < r->nfits; i++) {
        const dq_fit_result *f = &r->fit[i];
        fprintf(fp, "#   %s:", dq_fit_family_name(f->family));
        for (int k = 0; k < f->nparam; k++)
            fprintf(fp, " %s=%s", dq_fit_param_name(f->family, k),
                    dq_report_num(b, 40, f->param[k]));
        fprintf(fp, " sse=%s ks_p=%s\n", dq_report_num(b, 40, f->sse), dq_report_num(b, 40, f->ks_p));
    }
    fprintf(fp, "x density");
    for (int i = 0; i < r->nfits; i++)
        fprintf(fp, " %s", dq_fit_family_name(r->fit[i].family));
    fputc('\n', fp);
    if (r->nfits == 0) { /* degenerate: one point, so the block is not empty */
        fprintf(fp, "%s 0\n", dq_report_num(b, 40, r->min));
        return;
    }
    for (int k = 0; k < r->bins; k++) {
        double x = dq_fit_report_bin_center(r, k);
        fprintf(fp, "%s", dq_report_num(b, 40, x));
        fprintf(fp, " %s", dq_report_num(b, 40, r->density[k]));
        for (int i = 0; i < r->nfits; i++) {
            double p = r->fit[i].status == DQ_OK ? dq_fit_pdf(&r->fit[i], x) : NAN;
            fprintf(fp, " %s", dq_report_num(b, 40, p));
        }
        fputc('\n', fp);
    }
}

static int write_hist(const char *dir, const char *model, const tensor_in *ti,
                      const job *jobs, const dq_config *c)
{
    char path[4096], safe[DQ_NAME_MAX];
    snprintf(safe, sizeof safe, "%s", ti->name);
    for (char *p = safe; *p; p++)
        if (*p == '/' || *p == ' ') *p = '_';
    DQ_TRY(fmt_path(path, sizeof path, "%s/hist_%s_%s.dat", dir, model, safe));
    dq_afile *af = dq_afile_open(path);
    if (!af) return dq_error_status();
    char what[3 * DQ_NAME_MAX];
    snprintf(what, sizeof what, "histogram and fitted pdfs, model %s, tensor "
             "%s (%s of layer %s); index 0 signed, index 1 magnitude", model,
             ti->name, ti->is_weight ? "weight" : "activation", ti->layer);
    header_comments(af->fp, what, c);
    hist_block(af->fp, jobs[0].rep);
    fputs("\n\n", af->fp);
    hist_block(af->fp, jobs[1].rep);
    return dq_afile_commit(af);
}

/* ---- summary ----------------------------------------------------------------- */

/* count[model][kind][domain][family + 1]; family index -1 = none (no fit) */
typedef struct {
    int nmodels;
    char model[MAX_MODELS + 1][64]; /* the last used slot is "all" */
    int count[MAX_MODELS + 1][2][2][DQ_FIT_NFAMILIES + 1];
    int total[MAX_MODELS + 1][2][2];
} summary;

static void summary_add(summary *s, int mi, const tensor_in *ts, const job *jobs,
                        int nj)
{
    for (int j = 0; j < nj; j++) {
        const dq_fit_report *r = jobs[j].rep;
        int kind = ts[jobs[j].ti].is_weight ? 0 : 1, d = (int)r->domain;
        int f = r->best >= 0 ? (int)r->fit[r->best].family + 1 : 0;
        for (int m = 0; m < 2; m++) { /* the model, and "all" */
            int slot = m ? MAX_MODELS : mi;
            s->count[slot][kind][d][f]++;
            s->total[slot][kind][d]++;
        }
    }
}

static const char *const kind_names[2] = {"weight", "activation"};

/* Families of domain d, then "none" when any tensor had no fit. */
static int summary_columns(const summary *s, int d, int *cols)
{
    const dq_fit_family *fams;
    int n = dq_fit_domain_families((dq_fit_domain)d, &fams), none = 0;
    for (int i = 0; i < n; i++) cols[i] = (int)fams[i] + 1;
    for (int k = 0; k < 2; k++) none += s->count[MAX_MODELS][k][d][0];
    if (none) cols[n++] = 0;
    return n;
}

static const char *col_name(int col)
{
    return col ? dq_fit_family_name((dq_fit_family)(col - 1)) : "none";
}

static int slot_of(const summary *s, int i) { return i < s->nmodels ? i : MAX_MODELS; }
static const char *slot_name(const summary *s, int i)
{
    return i < s->nmodels ? s->model[i] : "all";
}

static double share(const summary *s, int slot, int k, int d, int col)
{
    int n = s->total[slot][k][d];
    return n ? (double)s->count[slot][k][d][col] / n : NAN;
}

static int write_summary_csv(const char *dir, const summary *s, const dq_config *c)
{
    char path[4096], b[40];
    DQ_TRY(fmt_path(path, sizeof path, "%s/summary.csv", dir));
    dq_afile *af = dq_afile_open(path);
    if (!af) return dq_error_status();
    header_comments(af->fp, "share of tensors best fitted by each family "
                    "(model 'all' pools the models)", c);
    fprintf(af->fp, "model,kind,analysis,family,n_tensors,n_best,share\n");
    for (int i = 0; i <= s->nmodels; i++)
        for (int k = 0; k < 2; k++)
            for (int d = 0; d < 2; d++) {
                int cols[DQ_FIT_MAX_FITS + 1], nc = summary_columns(s, d, cols);
                int slot = slot_of(s, i);
                if (!s->total[slot][k][d]) continue;
                for (int j = 0; j < nc; j++)
                    fprintf(af->fp, "%s,%s,%s,%s,%d,%d,%s\n", slot_name(s, i),
                            kind_names[k], dq_fit_domain_name((dq_fit_domain)d),
                            col_name(cols[j]), s->total[slot][k][d],
                            s->count[slot][k][d][cols[j]],
                            dq_report_num(b, 40, share(s, slot, k, d, cols[j])));
            }
    return dq_afile_commit(af);
}

static int write_summary_md(const char *dir, const summary *s, const char *crit)
{
    char path[4096];
    DQ_TRY(fmt_path(path, sizeof path, "%s/summary.md", dir));
    dq_afile *af = dq_afile_open(path);
    if (!af) return dq_error_status();
    FILE *fp = af->fp;
    fprintf(fp, "<!-- generated by dnateq-distfit (%s); do not edit -->\n\n",
            dq_git_revision());
    for (int d = 0; d < 2; d++) {
        int cols[DQ_FIT_MAX_FITS + 1], nc = summary_columns(s, d, cols);
        fprintf(fp, "%sShare of tensors best fitted by each family, %s analysis "
                "(criterion: %s)\n\n| model | kind | tensors |", d ? "\n" : "",
                dq_fit_domain_name((dq_fit_domain)d), crit);
        for (int j = 0; j < nc; j++) fprintf(fp, " %s |", col_name(cols[j]));
        fprintf(fp, "\n|---|---|--:|");
        for (int j = 0; j < nc; j++) fprintf(fp, "--:|");
        fputc('\n', fp);
        for (int i = 0; i <= s->nmodels; i++)
            for (int k = 0; k < 2; k++) {
                int slot = slot_of(s, i);
                if (!s->total[slot][k][d]) continue;
                fprintf(fp, "| %s | %s | %d |", slot_name(s, i), kind_names[k],
                        s->total[slot][k][d]);
                for (int j = 0; j < nc; j++)
                    fprintf(fp, " %.1f%% |", 100 * share(s, slot, k, d, cols[j]));
                fputc('\n', fp);
            }
    }
    return dq_afile_commit(af);
}

static void tex_escape(FILE *fp, const char *s)
{
    for (; *s; s++) {
        if (*s == '_' || *s == '%' || *s == '&' || *s == '#') fputc('\\', fp);
        fputc(*s, fp);
    }
}

static int write_summary_tex(const char *dir, const summary *s, const char *crit)
{
    char path[4096];
    DQ_TRY(fmt_path(path, sizeof path, "%s/summary.tex", dir));
    dq_afile *af = dq_afile_open(path);
    if (!af) return dq_error_status();
    FILE *fp = af->fp;
    fprintf(fp, "%% generated by dnateq-distfit (%s); do not edit\n",
            dq_git_revision());
    for (int d = 0; d < 2; d++) {
        int cols[DQ_FIT_MAX_FITS + 1], nc = summary_columns(s, d, cols);
        fprintf(fp, "%% share of tensors best fitted by each family, %s "
                "analysis (criterion: %s)\n\\begin{tabular}{llr",
                dq_fit_domain_name((dq_fit_domain)d), crit);
        for (int j = 0; j < nc; j++) fputc('r', fp);
        fprintf(fp, "}\n\\toprule\nmodel & kind & tensors");
        for (int j = 0; j < nc; j++) {
            fputs(" & ", fp);
            tex_escape(fp, col_name(cols[j]));
        }
        fprintf(fp, " \\\\\n\\midrule\n");
        for (int i = 0; i <= s->nmodels; i++)
            for (int k = 0; k < 2; k++) {
                int slot = slot_of(s, i);
                if (!s->total[slot][k][d]) continue;
                if (i == s->nmodels && k == 0) fprintf(fp, "\\midrule\n");
                tex_escape(fp, slot_name(s, i));
                fprintf(fp, " & %s & %d", kind_names[k], s->total[slot][k][d]);
                for (int j = 0; j < nc; j++)
                    fprintf(fp, " & %.1f\\%%", 100 * share(s, slot, k, d, cols[j]));
                fprintf(fp, " \\\\\n");
            }
        fprintf(fp, "\\bottomrule\n\\end{tabular}\n");
    }
    return dq_afile_commit(af);
}

/* shares_<analysis>.dat: one row per (model, kind), one column per family;
 * the first non-comment line holds the column titles. */
static int write_shares_dat(const char *dir, const summary *s, int d,
                            const dq_config *c)
{
    char path[4096], b[40];
    DQ_TRY(fmt_path(path, sizeof path, "%s/shares_%s.dat", dir,
                    dq_fit_domain_name((dq_fit_domain)d)));
    dq_afile *af = dq_afile_open(path);
    if (!af) return dq_error_status();
    header_comments(af->fp, "best-fit shares for plots/distfit_shares.gp", c);
    int cols[DQ_FIT_MAX_FITS + 1], nc = summary_columns(s, d, cols);
    fprintf(af->fp, "group tensors");
    for (int j = 0; j < nc; j++) fprintf(af->fp, " %s", col_name(cols[j]));
    fputc('\n', af->fp);
    for (int i = 0; i <= s->nmodels; i++)
        for (int k = 0; k < 2; k++) {
            int slot = slot_of(s, i);
            if (!s->total[slot][k][d]) continue;
            fprintf(af->fp, "%s/%c %d", slot_name(s, i), k ? 'A' : 'W',
                    s->total[slot][k][d]);
            for (int j = 0; j < nc; j++)
                fprintf(af->fp, " %s", dq_report_num(b, 40, share(s, slot, k, d, cols[j])));
            fputc('\n', af->fp);
        }
    return dq_afile_commit(af);
}

/* ---- driver ------------------------------------------------------------------ */

/* Split a comma list in place; trims blanks; returns the count. */
static int split_list(char *s, char **items, int max)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ",")) {
        while (isspace((unsigned char)*tok)) tok++; /* values may span lines */
        char *end = tok + strlen(tok);
        while (end > tok && isspace((unsigned char)end[-1])) *--end = '\0';
        if (*tok) items[n++] = tok;
    }
    return n;
}

typedef struct {
    char *model[MAX_HIST], *tensor[MAX_HIST];
    int n, done[MAX_HIST];
} hist_list;

static int parse_hist(char *s, hist_list *h)
{
    char *items[MAX_HIST];
    h->n = split_list(s, items, MAX_HIST);
    for (int i = 0; i < h->n; i++) {
        char *colon = strchr(items[i], ':');
        if (!colon || colon == items[i] || !colon[1])
            return DQ_ERROR(DQ_ECONFIG, "[distfit] hist: '%s' is not "
                            "model:tensor", items[i]);
        *colon = '\0';
        h->model[i] = items[i];
        h->tensor[i] = colon + 1;
        h->done[i] = 0;
    }
    return DQ_OK;
}

/* Everything for one model: load, fit, write its CSV and histograms, add
 * to the summary. */
static int run_model(const char *model, const char *dir, const dq_config *c,
                     const dq_fit_options *opt, hist_list *hist, summary *s)
{
    char path[4096];
    DQ_TRY(fmt_path(path, sizeof path, "%s/%s.h5",
                    dq_config_str(c, "distfit", "dump_dir"), model));
    tensor_in *ts = NULL;
    int nt = 0;
    DQ_TRY(load_dump(path, &ts, &nt));
    job *jobs = calloc((size_t)(2 * nt), sizeof *jobs);
    int st = jobs ? run_jobs(path, ts, nt, opt, jobs)
                  : DQ_ERROR(DQ_ENOMEM, "%s: out of memory", path);
    char csv[4096];
    if (st == DQ_OK) st = fmt_path(csv, sizeof csv, "%s/%s.csv", dir, model);
    if (st == DQ_OK) st = write_model_csv(csv, model, ts, jobs, 2 * nt, c);
    for (int i = 0; i < hist->n && st == DQ_OK; i++) {
        if (strcmp(hist->model[i], model) != 0) continue;
        int found = 0; /* a tensor name, or a layer name: all its tensors */
        for (int t = 0; t < nt && st == DQ_OK; t++)
            if (strcmp(ts[t].name, hist->tensor[i]) == 0 ||
                strcmp(ts[t].layer, hist->tensor[i]) == 0) {
                st = write_hist(dir, model, &ts[t], &jobs[2 * t], c);
                found++;
            }
        if (st == DQ_OK && !found)
            st = DQ_ERROR(DQ_ECONFIG, "[distfit] hist: no tensor or layer '%s' "
                          "in %s", hist->tensor[i], path);
        hist->done[i] = 1;
    }
    if (st == DQ_OK) {
        summary_add(s, s->nmodels, ts, jobs, 2 * nt);
        dq_log_info("distfit: %s: %d tensors", model, nt);
    }
    for (int j = 0; jobs && j < 2 * nt; j++) dq_fit_report_free(jobs[j].rep);
    free(jobs);
    tensors_free(ts, nt);
    return st;
}

static int run(const dq_config *c)
{
    dq_fit_options opt;
    DQ_TRY(dq_fit_options_from_config(&opt, c));
    char dir[4096];
    DQ_TRY(fmt_path(dir, sizeof dir, "%s/distfit", dq_config_str(c, "run", "out")));
    DQ_TRY(dq_mkdirs(dir));

    char *models_s = strdup(dq_config_str(c, "distfit", "models"));
    char *hist_s = strdup(dq_config_str(c, "distfit", "hist"));
    summary *s = calloc(1, sizeof *s);
    hist_list hist = {0};
    char *models[MAX_MODELS];
    int st = models_s && hist_s && s ? DQ_OK : DQ_ERROR(DQ_ENOMEM, "out of memory");
    int nm = st == DQ_OK ? split_list(models_s, models, MAX_MODELS) : 0;
    if (st == DQ_OK && nm == 0)
        st = DQ_ERROR(DQ_ECONFIG, "[distfit] models: empty list");
    if (st == DQ_OK) st = parse_hist(hist_s, &hist);
    for (int i = 0; i < nm && st == DQ_OK; i++) {
        st = run_model(models[i], dir, c, &opt, &hist, s);
        if (st == DQ_OK) snprintf(s->model[s->nmodels++], 64, "%s", models[i]);
    }
    for (int i = 0; i < hist.n && st == DQ_OK; i++)
        if (!hist.done[i])
            dq_log_warn("distfit: hist %s:%s skipped (model not analysed)",
                        hist.model[i], hist.tensor[i]);
    const char *crit = dq_fit_criterion_name(opt.criterion);
    if (st == DQ_OK) st = write_summary_csv(dir, s, c);
    if (st == DQ_OK) st = write_summary_md(dir, s, crit);
    if (st == DQ_OK) st = write_summary_tex(dir, s, crit);
    for (int d = 0; d < 2 && st == DQ_OK; d++) st = write_shares_dat(dir, s, d, c);
    free(models_s);
    free(hist_s);
    free(s);
    return st;
}

int main(int argc, char **argv)
{
    dq_config *c = dq_cli_parse(&spec, argc, argv);
    int st = DQ_OK;
    /* fit.seed follows run.seed (--seed) unless set; run.quick caps the
     * sample.  Both go into the config, so the files record them. */
    if (!dq_config_is_set(c, "fit", "seed")) {
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)dq_config_int(c, "run", "seed"));
        st = dq_config_set(c, "fit", "seed", v, "run.seed");
    }
    if (st == DQ_OK && dq_config_bool(c, "run", "quick") &&
        dq_config_int(c, "fit", "max_sample") > QUICK_MAX_SAMPLE) {
        char v[32];
        snprintf(v, sizeof v, "%d", QUICK_MAX_SAMPLE);
        st = dq_config_set(c, "fit", "max_sample", v, "run.quick");
    }
    if (st == DQ_OK) st = run(c);
    dq_config_free(c);
    if (st != DQ_OK) dq_die();
    return 0;
}
