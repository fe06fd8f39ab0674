/*
 * energy.c — dnateq-energy: energy per inference against the INT8
 * baseline, split into compute, SRAM and DRAM (DESIGN §3; §5 experiment
 * "energy"), with HCM BOPs and bits moved.
 *
 *   dnateq-energy [configs/energy.ini] [--set energy_run.models="mlp"]
 *
 * For every model m of [energy_run] models that has zoo_dir/m.h5 and its
 * DNA-TEQ plan plans_dir/m_dnateq.h5, five schemes are counted per layer
 * (src/opcount.h, dq_optable) and priced (src/energy.h; [energy] per-op
 * energies, [accelerator] memory hierarchy):
 *   fp32    FP32 multiply-add on 32-bit operands
 *   int8    the INT8 baseline: 8x8-bit multiply, 32-bit accumulate
 *   dnateq  the DNA-TEQ plan in the exponential domain (expdot.h)
 *   mpu     the mixed-precision uniform plan plans_dir/m_mpu.h5 (k_w x
 *           k_a multiply, 32-bit accumulate; skipped when absent)
 *   log2    Miyashita shift-add at the DNA-TEQ plan's bits per layer
 *           (energy_run.log2_bits = 0) or at log2_bits everywhere
 * under four variants: the config as given, DRAM at dram_access_pj_alt,
 * and both with the per-output combine in integer arithmetic.  Writes,
 * in <run.out>/energy/ (each with the config, git revision and seed):
 *   summary.csv / .md / .tex   one row per model x scheme (base variant):
 *                              compute, SRAM, DRAM and total pJ per
 *                              inference, ratio to INT8, what each term
 *                              saves; the .md adds the mean DNA-TEQ saving
 *                              and the variants
 *   sensitivity.csv            every variant, model (and the mean) and
 *                              scheme: total pJ and saving vs INT8
 *   bops.csv / .md / .tex      HCM BOPs and bits moved per model x scheme
 *   <m>_layers.csv             per scheme and layer: counts, widths, bits
 *                              moved, BOPs, energy split
 *   <m>_bars.dat               the stacked bars of plots/energy.gp
 */
#include "cli.h"
#include "config.h"
#include "energy.h"
#include "error.h"
#include "fsutil.h"
#include "graph.h"
#include "log.h"
#include "opcount.h"
#include "plan.h"
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_MODELS 16

static const dq_cfg_key energy_run_keys[] = {
    {"energy_run", "models", DQ_CFG_STR, "mlp alexnet resnet20 vit", 1, 0,
     "models, in order (space separated); a model without its model file "
     "or DNA-TEQ plan is skipped with a warning"},
    {"energy_run", "zoo_dir", DQ_CFG_STR, "data/zoo", 1, 0,
     "directory of the model files <m>.h5"},
    {"energy_run", "plans_dir", DQ_CFG_STR, "results/dnateq/plans", 1, 0,
     "directory of the plans <m>_dnateq.h5 and <m>_mpu.h5"},
    {"energy_run", "log2_bits", DQ_CFG_INT, "0", 0, 9,
     "bits of the log2 scheme's weights and activations; 0: the DNA-TEQ "
     "plan's bits of each layer"},
    {"energy_run", "logit_bits", DQ_CFG_INT, "32", 1, 32,
     "bits of the last layer's outputs (the logits)"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

enum { S_FP32, S_INT8, S_DNATEQ, S_MPU, S_LOG2, NS };
static const char *const scheme_id[NS] = {"fp32", "int8", "dnateq", "mpu",
                                          "log2"};
static const char *const scheme_label[NS] = {
    "FP32", "INT8", "DNA-TEQ", "MP uniform", "log2 (shift-add)"};

/* Variants: DRAM at the configured / alternative energy, combine as
 * configured / integer. */
enum { NV = 4 };
static const char *const variant_id[NV] = {"base", "dram_alt", "combine_int",
                                           "combine_int+dram_alt"};

typedef struct {
    int have;             /* the scheme ran (mpu: its plan exists) */
    dq_energy e[NV];      /* per variant */
    dq_opcount total;     /* counts summed over layers */
    double avg_bits_w, avg_bits_a;
} scheme_result;

typedef struct {
    char name[64];
    scheme_result s[NS];
    dq_afile *layers; /* <m>_layers.csv while it is written */
} model_result;

typedef struct {
    const dq_config *cfg;
    dq_energy_params ep[NV];
    const char *out; /* run.out */
    long long seed;
} run;

/* <run.out>/energy/<name>, opened atomically, with the provenance header
 * (report.h) as comments of its format: '#' (CSV, .dat), '%' (.tex) or
 * one HTML comment (.md). */
static dq_afile *result_open(const run *R, const char *name, const char *what)
{
    dq_afile *af = dq_report_open(R->out, "energy", name, "energy", what, R->seed, R->cfg);
    if (!af) dq_die();
    return af;
}

static int exists(const char *path) { return access(path, R_OK) == 0; }

static void commit(dq_afile *af)
{
    if (dq_afile_commit(af) != DQ_OK) dq_die();
}

/* ---- one model ------------------------------------------------------------ */

/* Element-weighted bits of the parameter weights and of the activations
 * (inputs, and a matmul's second operand) of one inference. */
static void avg_bits(const dq_optable *t, double *bw, double *ba)
{
    double w = 0, wb = 0, a = 0, ab = 0;
    for (int r = 0; r < t->n; r++) {
        const dq_layer_dims *d = &t->dims[r];
        const dq_layer_prec *p = &t->prec[r];
        if (d->w_is_param) {
            w += (double)d->w_elems;
            wb += (double)d->w_elems * p->bits_w;
        } else {
            a += (double)d->w_elems;
            ab += (double)d->w_elems * p->bits_w;
        }
        a += (double)d->in_elems;
        ab += (double)d->in_elems * p->bits_a;
    }
    *bw = w > 0 ? wb / w : 0;
    *ba = a > 0 ? ab / a : 0;
}

static const char *arith_name(dq_arith a)
{
    return a == DQ_ARITH_FP32 ? "fp32" : a == DQ_ARITH_INT ? "int"
           : a == DQ_ARITH_EXPQ ? "expq" : "log2";
}

#define LAYER_COLS                                                           \
    "model,scheme,layer,op,arith,macs,outputs,reduction,bits_w,bits_a,"      \
    "bits_o,acc_bits,exp_add_bits,counter_bits,fp_mults,fp_adds,int_mults,"  \
    "int_adds,exp_adds,sign_xors,shifts,counter_incs,combine_muls,"          \
    "combine_adds,w_bits,in_bits,out_bits,bops,sram_bits,dram_bits,"         \
    "compute_pj,sram_pj,dram_pj,total_pj"

static void layer_rows(FILE *fp, const char *model, int s, const dq_optable *t,
                       const dq_energy *per)
{
    for (int r = 0; r < t->n; r++) {
        const dq_opcount *o = &t->oc[r];
        const dq_layer_prec *p = &t->prec[r];
        const dq_energy *e = &per[r];
        const dq_node *nd = &t->m->nodes[t->node[r]];
        fprintf(fp, "%s,%s,%s,%s,%s,%lld,%lld,%lld,%d,%d,%d,%d,%d,%d,%lld,%lld,"
                    "%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,"
                    "%.9g,%.9g,%.9g,%.6f,%.6f,%.6f,%.6f\n",
                model, scheme_id[s], nd->name, dq_op_name(nd->op),
                arith_name(p->arith), (long long)o->macs,
                (long long)o->outputs, (long long)t->dims[r].reduction,
                p->bits_w, p->bits_a, p->bits_o, o->acc_bits, o->exp_add_bits,
                o->counter_bits, (long long)o->fp_mults,
                (long long)o->fp_adds, (long long)o->int_mults,
                (long long)o->int_adds, (long long)o->exp_adds,
                (long long)o->sign_xors, (long long)o->shifts,
                (long long)o->counter_incs, (long long)o->combine_muls,
                (long long)o->combine_adds, (long long)o->w_bits,
                (long long)o->in_bits, (long long)o->out_bits,
                o->bops_total, e->sram_bits, e->dram_bits, e->compute_pj,
                e->sram_pj, e->dram_pj, e->total_pj);
    }
}

/* Set t's precision for scheme s; 0 when the scheme has no plan (mpu). */
static int set_scheme(dq_optable *t, int s, const dq_plan *dnateq,
                      const dq_plan *mpu, const dq_config *cfg)
{
    int rc = DQ_OK;
    switch (s) {
    case S_FP32: dq_optable_set_fp32(t); break;
    case S_INT8: rc = dq_optable_set_int(t, 8, 8); break;
    case S_DNATEQ: rc = dq_optable_set_plan(t, dnateq); break;
    case S_MPU:
        if (!mpu) return 0;
        rc = dq_optable_set_plan(t, mpu);
        break;
    default:
        if ((rc = dq_optable_set_plan(t, dnateq)) == DQ_OK)
            rc = dq_optable_set_log2(
                t, (int)dq_config_int(cfg, "energy_run", "log2_bits"));
    }
    if (rc == DQ_OK)
        rc = dq_optable_count(
            t, (int)dq_config_int(cfg, "energy_run", "logit_bits"));
    if (rc != DQ_OK) dq_die();
    return 1;
}

/* 0 when the model's files are missing (skipped), 1 when it ran. */
static int run_model(const run *R, const char *model, model_result *mr)
{
    const char *zoo = dq_config_str(R->cfg, "energy_run", "zoo_dir");
    const char *plans = dq_config_str(R->cfg, "energy_run", "plans_dir");
    char mfile[4096], dfile[4096], ufile[4096];
    snprintf(mfile, sizeof mfile, "%s/%s.h5", zoo, model);
    snprintf(dfile, sizeof dfile, "%s/%s_dnateq.h5", plans, model);
    snprintf(ufile, sizeof ufile, "%s/%s_mpu.h5", plans, model);
    int ok = exists(mfile) && exists(dfile);
    if (!ok) dq_log_warn("%s: %s or %s missing, skipped", model, mfile, dfile);
    dq_model *m = ok ? dq_model_load(mfile) : NULL;
    dq_plan *dp = m ? dq_plan_read(dfile) : NULL, *up = NULL;
    if (dp && exists(ufile) && !(up = dq_plan_read(ufile))) dq_die();
    if (dp && !up) dq_log_warn("%s: %s missing, no MP-uniform row", model, ufile);
    dq_optable *t = dp ? dq_optable_alloc(m) : NULL;
    if (ok && !t) dq_die();
    memset(mr, 0, sizeof *mr);
    snprintf(mr->name, sizeof mr->name, "%s", model);
    for (int s = 0; ok && s < NS; s++) {
        scheme_result *sr = &mr->s[s];
        dq_energy *per = malloc(sizeof *per * (size_t)(t->n > 0 ? t->n : 1));
        if (!per) dq_fatal(1, "out of memory");
        if ((sr->have = set_scheme(t, s, dp, up, R->cfg))) {
            dq_optable_total(t, &sr->total);
            avg_bits(t, &sr->avg_bits_w, &sr->avg_bits_a);
            for (int v = 0; v < NV; v++)
                if (dq_energy_optable(&sr->e[v], v ? NULL : per, &R->ep[v], t))
                    dq_die();
            if (!mr->layers) {
                char name[256];
                snprintf(name, sizeof name, "%s_layers.csv", model);
                mr->layers = result_open(R, name, "per scheme and layer: "
                                         "counts, widths, bits moved, HCM "
                                         "BOPs and energy per inference "
                                         "(base variant)");
                fprintf(mr->layers->fp, "%s\n", LAYER_COLS);
            }
            layer_rows(mr->layers->fp, model, s, t, per);
        }
        free(per);
    }
    if (mr->layers) commit(mr->layers);
    mr->layers = NULL;
    dq_optable_free(t);
    dq_plan_free(up);
    dq_plan_free(dp);
    dq_model_free(m);
    return ok;
}

/* ---- results ---------------------------------------------------------------- */

static double saving(const model_result *m, int s, int v)
{
    return 1.0 - m->s[s].e[v].total_pj / m->s[S_INT8].e[v].total_pj;
}

/* Mean saving of scheme s vs INT8 over the models that have it; *n
 * receives how many. */
static double mean_saving(const model_result *m, int nm, int s, int v, int *n)
{
    double sum = 0;
    *n = 0;
    for (int i = 0; i < nm; i++)
        if (m[i].s[s].have) {
            sum += saving(&m[i], s, v);
            (*n)++;
        }
    return *n ? sum / *n : 0;
}

#define SUMMARY_COLS                                                          \
    "model,scheme,label,avg_bits_w,avg_bits_a,compute_pj,sram_pj,dram_pj,"   \
    "total_pj,ratio_to_int8,saving_vs_int8,saved_compute,saved_sram,"         \
    "saved_dram,sram_bits,dram_bits,spilled_layers,streamed_layers"

static void write_summary_csv(const run *R, const model_result *m, int nm)
{
    dq_afile *af = result_open(R, "summary.csv", "energy per inference (pJ) per "
                            "model and scheme; saved_* = INT8 minus the "
                            "scheme in that term, as a fraction of INT8's "
                            "total");
    fprintf(af->fp, "%s\n", SUMMARY_COLS);
    for (int i = 0; i < nm; i++) {
        const dq_energy *b = &m[i].s[S_INT8].e[0];
        for (int s = 0; s < NS; s++) {
            const scheme_result *sr = &m[i].s[s];
            const dq_energy *e = &sr->e[0];
            if (!sr->have) continue;
            fprintf(af->fp, "%s,%s,%s,%.4f,%.4f,%.3f,%.3f,%.3f,%.3f,%.6f,%.6f,"
                            "%.6f,%.6f,%.6f,%.1f,%.1f,%d,%d\n",
                    m[i].name, scheme_id[s], scheme_label[s], sr->avg_bits_w,
                    sr->avg_bits_a, e->compute_pj, e->sram_pj, e->dram_pj,
                    e->total_pj, e->total_pj / b->total_pj, saving(&m[i], s, 0),
                    (b->compute_pj - e->compute_pj) / b->total_pj,
                    (b->sram_pj - e->sram_pj) / b->total_pj,
                    (b->dram_pj - e->dram_pj) / b->total_pj, e->sram_bits,
                    e->dram_bits, e->spilled, e->weights_streamed);
        }
    }
    commit(af);
}

static void write_sensitivity(const run *R, const model_result *m, int nm)
{
    dq_afile *af = result_open(R, "sensitivity.csv", "total energy per inference "
                            "and saving vs INT8 under each variant (model "
                            "'mean': the mean saving over the models)");
    fprintf(af->fp, "model,variant,dram_access_pj,combine,scheme,total_pj,"
                    "int8_total_pj,saving_vs_int8\n");
    for (int v = 0; v < NV; v++) {
        const dq_energy_params *ep = &R->ep[v];
        const char *comb = ep->combine == DQ_COMBINE_INT ? "int" : "fp32";
        for (int s = 0; s < NS; s++) {
            for (int i = 0; i < nm; i++)
                if (m[i].s[s].have)
                    fprintf(af->fp, "%s,%s,%.6g,%s,%s,%.3f,%.3f,%.6f\n",
                            m[i].name, variant_id[v], ep->dram_access_pj, comb,
                            scheme_id[s], m[i].s[s].e[v].total_pj,
                            m[i].s[S_INT8].e[v].total_pj, saving(&m[i], s, v));
            int n;
            double ms = mean_saving(m, nm, s, v, &n);
            if (n)
                fprintf(af->fp, "mean,%s,%.6g,%s,%s,,,%.6f\n", variant_id[v],
                        ep->dram_access_pj, comb, scheme_id[s], ms);
        }
    }
    commit(af);
}

/* The variant table of the .md: DNA-TEQ saving per model and the mean. */
static void md_variants(FILE *fp, const run *R, const model_result *m, int nm)
{
    fprintf(fp, "\nSaving of DNA-TEQ against INT8 (1 − E/E_INT8) under each "
                "variant:\n\n| variant | DRAM pJ / %d bits | combine |",
            R->ep[0].dram_access_bits);
    for (int i = 0; i < nm; i++) fprintf(fp, " %s |", m[i].name);
    fprintf(fp, " mean |\n|---|--:|---|");
    for (int i = 0; i <= nm; i++) fprintf(fp, "--:|");
    fprintf(fp, "\n");
    for (int v = 0; v < NV; v++) {
        fprintf(fp, "| %s | %.0f | %s |", variant_id[v], R->ep[v].dram_access_pj,
                R->ep[v].combine == DQ_COMBINE_INT ? "int" : "fp32");
        for (int i = 0; i < nm; i++)
            fprintf(fp, " %.1f%% |", 100 * saving(&m[i], S_DNATEQ, v));
        int n;
        double ms = mean_saving(m, nm, S_DNATEQ, v, &n);
        fprintf(fp, " %.1f%% |\n", 100 * ms);
    }
}

static void write_summary_md(const run *R, const model_result *m, int nm)
{
    dq_afile *af = result_open(R, "summary.md", "summary tables");
    FILE *fp = af->fp;
    fprintf(fp, "Energy per inference (nJ), split into compute, on-chip SRAM "
                "and off-chip DRAM, against the INT8 baseline.\n\n"
                "| model | scheme | bits W | bits A | compute | SRAM | DRAM | "
                "total | vs INT8 | saving |\n"
                "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for (int i = 0; i < nm; i++)
        for (int s = 0; s < NS; s++) {
            const scheme_result *sr = &m[i].s[s];
            const dq_energy *e = &sr->e[0];
            if (!sr->have) continue;
            fprintf(fp, "| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | "
                        "%.3f | %+.1f%% |\n",
                    m[i].name, scheme_label[s], sr->avg_bits_w, sr->avg_bits_a,
                    e->compute_pj / 1e3, e->sram_pj / 1e3, e->dram_pj / 1e3,
                    e->total_pj / 1e3,
                    e->total_pj / m[i].s[S_INT8].e[0].total_pj,
                    100 * saving(&m[i], s, 0));
        }
    int n;
    double ms = mean_saving(m, nm, S_DNATEQ, 0, &n);
    fprintf(fp, "\n**DNA-TEQ vs INT8: mean saving %.1f%% over %d model(s)** "
                "(the paper reports 66%%). Per model, in points of INT8's "
                "total:\n\n", 100 * ms, n);
    for (int i = 0; i < nm; i++) {
        const dq_energy *b = &m[i].s[S_INT8].e[0], *d = &m[i].s[S_DNATEQ].e[0];
        fprintf(fp, "- %s: %.1f%% = compute %+.1f + SRAM %+.1f + DRAM %+.1f\n",
                m[i].name, 100 * saving(&m[i], S_DNATEQ, 0),
                100 * (b->compute_pj - d->compute_pj) / b->total_pj,
                100 * (b->sram_pj - d->sram_pj) / b->total_pj,
                100 * (b->dram_pj - d->dram_pj) / b->total_pj);
    }
    md_variants(fp, R, m, nm);
    const dq_energy_params *ep = &R->ep[0];
    fprintf(fp, "\nModel (src/energy.h): Horowitz 45 nm per-operation "
                "energies; %lld KiB on-chip SRAM (%.3g pJ per %d-bit "
                "access); weights from DRAM (%.4g pJ per %d-bit access) %s; "
                "activations in SRAM (spilled to DRAM only when one layer's "
                "do not fit); per-output combine in %s. log2 runs at the "
                "DNA-TEQ plan's bits%s. Bits: element-weighted averages of "
                "the weights and of the activations of one inference.\n",
            (long long)ep->sram_kib, ep->sram_access_pj, ep->sram_access_bits,
            ep->dram_access_pj, ep->dram_access_bits,
            ep->weights_per_batch ? "once per batch" : "for every inference",
            ep->combine == DQ_COMBINE_INT ? "integer arithmetic" : "FP32",
            dq_config_int(R->cfg, "energy_run", "log2_bits")
                ? " (overridden by energy_run.log2_bits)" : "");
    if (ep->weights_per_batch)
        fprintf(fp, "Batch of %d inferences per weight fetch.\n", ep->batch);
    commit(af);
}

static void write_summary_tex(const run *R, const model_result *m, int nm)
{
    dq_afile *af = result_open(R, "summary.tex", "energy per inference (LaTeX, "
                           "booktabs)");
    FILE *fp = af->fp;
    fprintf(fp, "\\begin{tabular}{llrrrrr}\n\\toprule\n"
                "model & scheme & compute & SRAM & DRAM & total & vs INT8 "
                "\\\\\n & & (nJ) & (nJ) & (nJ) & (nJ) & \\\\\n\\midrule\n");
    for (int i = 0; i < nm; i++) {
        if (i) fprintf(fp, "\\midrule\n");
        for (int s = 0; s < NS; s++) {
            const dq_energy *e = &m[i].s[s].e[0];
            if (!m[i].s[s].have) continue;
            fprintf(fp, "%s & %s & %.2f & %.2f & %.2f & %.2f & %.3f \\\\\n",
                    m[i].name, scheme_label[s], e->compute_pj / 1e3,
                    e->sram_pj / 1e3, e->dram_pj / 1e3, e->total_pj / 1e3,
                    e->total_pj / m[i].s[S_INT8].e[0].total_pj);
        }
    }
    fprintf(fp, "\\bottomrule\n\\end{tabular}\n");
    commit(af);
}

static void write_bops(const run *R, const model_result *m, int nm)
{
    dq_afile *af = result_open(R, "bops.csv", "HCM BOPs and bits moved (weights, "
                            "input activations, outputs) per inference");
    fprintf(af->fp, "model,scheme,label,bops,w_bits,in_bits,out_bits,"
                    "bits_moved,bops_vs_int8,bits_vs_int8\n");
    dq_afile *md = result_open(R, "bops.md", "BOPs table");
    dq_afile *tx = result_open(R, "bops.tex", "BOPs table (LaTeX, booktabs)");
    fprintf(md->fp, "HCM bit operations and bits moved per inference "
                    "(Baskin et al.; DESIGN §2).\n\n| model | scheme | GBOPs | "
                    "vs INT8 | Mbit moved | vs INT8 |\n"
                    "|---|---|--:|--:|--:|--:|\n");
    fprintf(tx->fp, "\\begin{tabular}{llrrrr}\n\\toprule\nmodel & scheme & "
                    "GBOPs & vs INT8 & Mbit moved & vs INT8 \\\\\n\\midrule\n");
    for (int i = 0; i < nm; i++) {
        const dq_opcount *b = &m[i].s[S_INT8].total;
        double bm = (double)(b->w_bits + b->in_bits + b->out_bits);
        if (i) fprintf(tx->fp, "\\midrule\n");
        for (int s = 0; s < NS; s++) {
            const dq_opcount *o = &m[i].s[s].total;
            if (!m[i].s[s].have) continue;
            double mv = (double)(o->w_bits + o->in_bits + o->out_bits);
            fprintf(af->fp, "%s,%s,%s,%.6g,%lld,%lld,%lld,%.0f,%.6f,%.6f\n",
                    m[i].name, scheme_id[s], scheme_label[s], o->bops_total,
                    (long long)o->w_bits, (long long)o->in_bits,
                    (long long)o->out_bits, mv, o->bops_total / b->bops_total,
                    mv / bm);
            fprintf(md->fp, "| %s | %s | %.4g | %.3f | %.4g | %.3f |\n",
                    m[i].name, scheme_label[s], o->bops_total / 1e9,
                    o->bops_total / b->bops_total, mv / 1e6, mv / bm);
            fprintf(tx->fp, "%s & %s & %.4g & %.3f & %.4g & %.3f \\\\\n",
                    m[i].name, scheme_label[s], o->bops_total / 1e9,
                    o->bops_total / b->bops_total, mv / 1e6, mv / bm);
        }
    }
    fprintf(tx->fp, "\\bottomrule\n\\end{tabular}\n");
    commit(af);
    commit(md);
    commit(tx);
}

/* <m>_bars.dat: per scheme the three terms and the total over INT8's
 * total (plots/energy.gp). */
static void write_bars(const run *R, const model_result *m, int nm)
{
    for (int i = 0; i < nm; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s_bars.dat", m[i].name);
        dq_afile *af = result_open(R, name, "energy per inference relative to "
                                "the INT8 total, per scheme (plots/energy.gp)");
        fprintf(af->fp, "# label compute sram dram total\n");
        double b = m[i].s[S_INT8].e[0].total_pj;
        for (int s = 0; s < NS; s++) {
            const dq_energy *e = &m[i].s[s].e[0];
            if (!m[i].s[s].have) continue;
            fprintf(af->fp, "\"%s\" %.6f %.6f %.6f %.6f\n", scheme_label[s],
                    e->compute_pj / b, e->sram_pj / b, e->dram_pj / b,
                    e->total_pj / b);
        }
        commit(af);
    }
}

int main(int argc, char **argv)
{
    const dq_cfg_key *const tables[] = {dq_run_keys, energy_run_keys,
                                        dq_energy_keys, NULL};
    const dq_cli_spec spec = {
        .name = "dnateq-energy",
        .summary = "energy per inference (compute, SRAM, DRAM) of FP32, "
                   "INT8, DNA-TEQ, MP uniform and log2; BOPs",
        .usage_extra =
            "For every model of [energy_run] models with zoo_dir/<m>.h5 and "
            "plans_dir/<m>_dnateq.h5\n(and <m>_mpu.h5 for the MP-uniform "
            "row). Prices: [energy] (default: Horowitz\n45 nm, "
            "configs/energy/horowitz45.ini); memory: [accelerator]. Results "
            "in\n<run.out>/energy/.",
        .tables = tables,
    };
    dq_config *cfg = dq_cli_parse(&spec, argc, argv);
    run R = {.cfg = cfg, .seed = dq_config_int(cfg, "run", "seed")};
    if (dq_energy_params_from_config(&R.ep[0], cfg) != DQ_OK)
        dq_fatal(2, "%s", dq_error_message());
    R.ep[1] = R.ep[0];
    R.ep[1].dram_access_pj = R.ep[0].dram_access_pj_alt;
    R.ep[2] = R.ep[0];
    R.ep[2].combine = DQ_COMBINE_INT;
    R.ep[3] = R.ep[1];
    R.ep[3].combine = DQ_COMBINE_INT;
    R.out = dq_config_str(cfg, "run", "out");

    /* the models, in order; each has a row block in every output */
    model_result *m = calloc(MAX_MODELS, sizeof *m);
    char *list = strdup(dq_config_str(cfg, "energy_run", "models"));
    if (!m || !list) dq_fatal(1, "out of memory");
    int nm = 0;
    for (char *p = list, *end; *p && nm < MAX_MODELS; p = end) {
        p += strspn(p, " ,\t");
        end = p + strcspn(p, " ,\t");
        if (*end) *end++ = '\0';
        if (*p) nm += run_model(&R, p, &m[nm]);
    }
    if (nm == 0)
        dq_fatal(1, "no model with both its model file and its DNA-TEQ plan "
                 "among '%s'", dq_config_str(cfg, "energy_run", "models"));
    write_summary_csv(&R, m, nm);
    write_sensitivity(&R, m, nm);
    write_summary_md(&R, m, nm);
    write_summary_tex(&R, m, nm);
    write_bops(&R, m, nm);
    write_bars(&R, m, nm);

    printf("%-9s %-17s %12s %12s %12s %12s %8s\n", "model", "scheme",
           "compute nJ", "SRAM nJ", "DRAM nJ", "total nJ", "vs INT8");
    for (int i = 0; i < nm; i++)
        for (int s = 0; s < NS; s++) {
            const dq_energy *e = &m[i].s[s].e[0];
            if (!m[i].s[s].have) continue;
            printf("%-9s %-17s %12.2f %12.2f %12.2f %12.2f %8.3f\n", m[i].name,
                   scheme_label[s], e->compute_pj / 1e3, e->sram_pj / 1e3,
                   e->dram_pj / 1e3, e->total_pj / 1e3,
                   e->total_pj / m[i].s[S_INT8].e[0].total_pj);
        }
    for (int v = 0; v < NV; v++) {
        int n;
        double ms = mean_saving(m, nm, S_DNATEQ, v, &n);
        printf("DNA-TEQ vs INT8, %-20s (DRAM %4.0f pJ, combine %s): mean "
               "saving %.1f%% over %d model(s)\n", variant_id[v],
               R.ep[v].dram_access_pj,
               R.ep[v].combine == DQ_COMBINE_INT ? "int " : "fp32", 100 * ms, n);
    }
    printf("wrote %s/energy/summary.{csv,md,tex}, sensitivity.csv, "
           "bops.{csv,md,tex}\n", R.out);
    free(list);
    free(m);
    dq_config_free(cfg);
    return 0;
}
