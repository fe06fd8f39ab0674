/*
 * eval.c — dnateq-eval: FP32 top-1 of a model file on one dataset split,
 * computed by the C inference engine (src/engine.h).
 *
 *   dnateq-eval [CONFIG.ini] --model data/zoo/mlp.h5 [--split test]
 *               [--set run.batch=256] [--threads 2]
 *
 * Prints one result line on stdout:
 *   mlp test top-1 0.8998 (8998/10000)  [PyTorch: 8998, diff +0]
 * (the PyTorch comparison when the model file records its val/test
 * counts).  Keys: run.model, run.split, run.batch, run.threads,
 * run.data_dir, run.calib_size and run.seed (calib split).
 */
#include "cli.h"
#include "dataset.h"
#include "engine.h"
#include "error.h"
#include "graph.h"
#include "log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const dq_cfg_key *const tables[] = {dq_run_keys, NULL};
static const dq_cli_spec spec = {
    .name = "dnateq-eval",
    .summary = "FP32 top-1 accuracy of a model on a dataset split (C engine)",
    .usage_extra = "Example: dnateq-eval --model data/zoo/mlp.h5 --split test"
                   "\nPrints '<model> <split> top-1 <acc> (<correct>/<n>)' "
                   "on stdout, with PyTorch's\nrecorded count for val/test "
                   "when the model file has it.",
    .tables = tables,
};

int main(int argc, char **argv)
{
    dq_config *cfg = dq_cli_parse(&spec, argc, argv);
    const char *path = dq_config_str(cfg, "run", "model");
    const char *split = dq_config_str(cfg, "run", "split");
    if (!*path) dq_fatal(2, "no model given: use --model FILE (see --help)");

    dq_model *m = dq_model_load(path);
    if (!m) dq_die();
    dq_dataset *ds = dq_dataset_load(dq_config_str(cfg, "run", "data_dir"),
                                     split,
                                     dq_config_int(cfg, "run", "calib_size"),
                                     (uint64_t)dq_config_int(cfg, "run",
                                                             "seed"));
    if (!ds) dq_die();
    if (m->norm_std != 1.0 &&
        (fabs(m->norm_mean - ds->mean) > 1e-6 ||
         fabs(m->norm_std - ds->std) > 1e-6))
        dq_log_warn("%s was exported with normalisation mean %.7g std %.7g, "
                    "the dataset uses %.7g / %.7g", path, m->norm_mean,
                    m->norm_std, ds->mean, ds->std);
    dq_engine *e = dq_engine_alloc(m);
    if (!e) dq_die();
    char label[128];
    snprintf(label, sizeof label, "%s %s", m->name, ds->split);
    int64_t correct = 0;
    if (dq_engine_evaluate(e, ds, (int)dq_config_int(cfg, "run", "batch"),
                           &correct, NULL, 1, label) != DQ_OK)
        dq_die();

    printf("%s %s top-1 %.4f (%lld/%lld)", m->name, ds->split,
           (double)correct / (double)ds->n, (long long)correct,
           (long long)ds->n);
    int is_val = strcmp(ds->split, "val") == 0;
    if (m->has_accuracy && (is_val || strcmp(ds->split, "test") == 0)) {
        int64_t ref = is_val ? m->val_correct : m->test_correct;
        printf("  [PyTorch: %lld, diff %+lld]", (long long)ref,
               (long long)(correct - ref));
    }
    printf("\n");
    dq_engine_free(e);
    dq_dataset_free(ds);
    dq_model_free(m);
    dq_dataset_cache_clear();
    dq_config_free(cfg);
    return 0;
}
