/*
 * bench_engine.c — dnateq-bench_engine: images/s of the C inference engine
 * on the test split; the C half of `make bench` (the PyTorch half is
 * data/zoo/bench_torch.py, same protocol).
 *
 *   dnateq-bench_engine --model data/zoo/alexnet.h5 [--threads 2]
 *                       [--set run.batch=256] [--set bench_engine.repeats=3]
 *
 * Protocol: the 10,000 normalised test images in batches of run.batch, one
 * warm-up batch, then `repeats` timed passes over the whole split (wall
 * clock, CLOCK_MONOTONIC); the best pass is reported.  Last stdout line:
 * images_per_s=<float>.
 */
#include "cli.h"
#include "dataset.h"
#include "engine.h"
#include "error.h"
#include "graph.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const dq_cfg_key bench_keys[] = {
    {"bench_engine", "repeats", DQ_CFG_INT, "3", 1, 100,
     "timed passes over the test split; the best one is reported"},
    {NULL, NULL, DQ_CFG_STR, NULL, 0, 0, NULL},
};
static const dq_cfg_key *const tables[] = {dq_run_keys, bench_keys, NULL};
static const dq_cli_spec spec = {
    .name = "dnateq-bench_engine",
    .summary = "C engine throughput (images/s) on the test split",
    .usage_extra = "Prints 'images_per_s=<float>' last (read by `make bench`).",
    .tables = tables,
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    dq_config *cfg = dq_cli_parse(&spec, argc, argv);
    const char *path = dq_config_str(cfg, "run", "model");
    if (!*path) dq_fatal(2, "no model given: use --model FILE (see --help)");
    int batch = (int)dq_config_int(cfg, "run", "batch");
    int repeats = (int)dq_config_int(cfg, "bench_engine", "repeats");

    dq_model *m = dq_model_load(path);
    if (!m) dq_die();
    dq_dataset *ds = dq_dataset_load(dq_config_str(cfg, "run", "data_dir"),
                                     "test", 1, 1);
    if (!ds) dq_die();
    dq_engine *e = dq_engine_alloc(m);
    float *logits = malloc((size_t)batch * (size_t)m->num_classes *
                           sizeof(float));
    if (!e || !logits) dq_die();
    int64_t isz = m->input_size;
    int B0 = ds->n < batch ? (int)ds->n : batch;
    if (dq_engine_forward(e, ds->images->data, B0, logits) != DQ_OK)
        dq_die(); // warm-up: plans shapes, fills the buffer pool
    double best = -1;
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        for (int64_t b0 = 0; b0 < ds->n; b0 += batch) {
            int B = (int)(ds->n - b0 < batch ? ds->n - b0 : batch);
            if (dq_engine_forward(e, ds->images->data + b0 * isz, B,
                                  logits) != DQ_OK)
                dq_die();
        }
        double dt = now() - t0;
        if (best < 0 || dt < best) best = dt;
    }
    printf("%s: C engine, %d threads, batch %d: %.3f s per %lld images\n",
           m->name, omp_get_max_threads(), batch, best, (long long)ds->n);
    printf("images_per_s=%.1f\n", (double)ds->n / best);
    free(logits);
    dq_engine_free(e);
    dq_dataset_free(ds);
    dq_model_free(m);
    dq_dataset_cache_clear();
    dq_config_free(cfg);
    return 0;
}
