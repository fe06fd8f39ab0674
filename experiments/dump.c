/*
 * dump.c — dnateq-dump: FP32 inference on the calib split, writing the
 * weights and a sample of the input activations of every quantizable op
 * (conv2d, linear: weight + input; matmul: both inputs) to
 * <dump.dir>/<model_name>.h5 (format dnateq-tensors, schema in the README).
 *
 *   dnateq-dump [configs/dump.ini] --model data/zoo/mlp.h5 [--seed 1]
 *               [--set run.calib_size=1000] [--set dump.max_samples=N]
 *
 * Activations go through the engine's capture hook (engine.h) into one
 * reservoir per tensor (reservoir.h: Algorithm R, GSL mt19937 seeded with
 * run.seed), in batch order then row-major, so the file is the same for a
 * given seed at any thread count.  The later experiments
 * fit and quantize these tensors.
 */
#include "cli.h"
#include "dataset.h"
#include "engine.h"
#include "error.h"
#include "graph.h"
#include "h5io.h"
#include "log.h"
#include "reservoir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const dq_cfg_key dump_keys[] = {
    {"dump", "dir", DQ_CFG_STR, "data/tensors", 1, 0,
     "directory of the tensor dumps (<dir>/<model_name>.h5)"},
    {"dump", "max_samples", DQ_CFG_INT, "1048576", 1, 1073741824.0,
     "activation values kept per tensor (reservoir sample)"},
    {NULL, NULL, DQ_CFG_STR, NULL, 0, 0, NULL},
};
static const dq_cfg_key *const tables[] = {dq_run_keys, dump_keys, NULL};
static const dq_cli_spec spec = {
    .name = "dnateq-dump",
    .summary = "dump weights and sampled input activations of every "
               "quantizable op (FP32, calib split)",
    .usage_extra = "Writes <dump.dir>/<model_name>.h5 (format dnateq-tensors; "
                   "see the README).\nActivations: a reservoir sample of at "
                   "most dump.max_samples values per tensor\n(seed run.seed), "
                   "with exact count/min/max/zero_frac over all values.",
    .tables = tables,
};

/* One captured tensor: quantizable input `input` of node `node`. */
typedef struct {
    int node, input;
    dq_reservoir *r;
} act;

typedef struct {
    act *a;
    int n;
} dump_ctx;

static int capture(void *ctx, const dq_node *node, int input,
                   const dq_tensor *x)
{
    dump_ctx *d = ctx;
    for (int i = 0; i < d->n; i++)
        if (d->a[i].node == node->index && d->a[i].input == input) {
            int rc = dq_reservoir_add(d->a[i].r, x->data, x->size);
            if (rc != DQ_OK)
                dq_error_prefix(rc, "node '%s' input %d", node->name, input);
            return rc;
        }
    return DQ_OK;
}

static int set_common(dq_h5 *f, const char *obj, const char *kind,
                      const dq_node *nd)
{
    DQ_TRY(dq_h5_set_attr_str(f, obj, "kind", kind));
    return dq_h5_set_attr_str(f, obj, "layer", nd->name);
}

static int write_root(dq_h5 *f, const dq_config *cfg, const dq_model *m,
                      const dq_dataset *ds, int64_t max_samples)
{
    char *conf = dq_config_dump(cfg);
    if (!conf) return DQ_ERROR(DQ_ENOMEM, "%s: out of memory", dq_h5_path(f));
    int rc = dq_h5_set_attr_str(f, "/", "config", conf);
    free(conf);
    DQ_TRY(rc);
    DQ_TRY(dq_h5_set_attr_int(f, "/", "seed",
                              dq_config_int(cfg, "run", "seed")));
    DQ_TRY(dq_h5_set_attr_str(f, "/", "model", m->path));
    DQ_TRY(dq_h5_set_attr_str(f, "/", "model_name", m->name));
    DQ_TRY(dq_h5_set_attr_str(f, "/", "split", ds->split));
    DQ_TRY(dq_h5_set_attr_int(f, "/", "images", ds->n));
    DQ_TRY(dq_h5_set_attr_int(f, "/", "max_samples", max_samples));
    return dq_h5_mkgroup(f, "/tensors");
}

static int write_dump(const char *path, const dq_config *cfg,
                      const dq_model *m, const dq_engine *e,
                      const dq_dataset *ds, const dump_ctx *d,
                      int64_t max_samples, int *ntensors)
{
    dq_h5 *f = dq_h5_create(path, "dnateq-tensors", 1);
    if (!f) return dq_error_status();
    int rc = write_root(f, cfg, m, ds, max_samples);
    *ntensors = 0;
    /* weights, in node order */
    for (int i = 0; i < m->n_nodes && rc == DQ_OK; i++) {
        const dq_node *nd = &m->nodes[i];
        if (!dq_node_has_quant_weight(nd)) continue;
        char obj[DQ_NAME_MAX + 32];
        snprintf(obj, sizeof obj, "/tensors/%s.weight", nd->name);
        if ((rc = dq_h5_write_tensor(f, obj, dq_engine_weight(e, i), 1)) ==
                DQ_OK &&
            (rc = set_common(f, obj, "weight", nd)) == DQ_OK)
            ++*ntensors;
    }
    /* activation samples */
    for (int i = 0; i < d->n && rc == DQ_OK; i++) {
        const act *a = &d->a[i];
        const dq_node *nd = &m->nodes[a->node];
        int64_t count = dq_reservoir_count(a->r);
        int64_t size = dq_reservoir_size(a->r);
        char obj[DQ_NAME_MAX + 32];
        snprintf(obj, sizeof obj, "/tensors/%s.input%d", nd->name, a->input);
        if (count < 1) {
            rc = DQ_ERROR(DQ_EINVAL, "%s: node '%s' input %d saw no values",
                          m->path, nd->name, a->input);
            break;
        }
        dq_tensor *t = dq_tensor_alloc(obj + 9, 1, &size);
        if (!t) {
            rc = dq_error_status();
            break;
        }
        memcpy(t->data, dq_reservoir_data(a->r), (size_t)size * sizeof(float));
        if ((rc = dq_h5_write_tensor(f, obj, t, 1)) == DQ_OK &&
            (rc = set_common(f, obj, "activation", nd)) == DQ_OK &&
            (rc = dq_h5_set_attr_int(f, obj, "input_index", a->input)) ==
                DQ_OK &&
            (rc = dq_h5_set_attr_int(f, obj, "count", count)) == DQ_OK &&
            (rc = dq_h5_set_attr_int(f, obj, "sampled", size)) == DQ_OK &&
            (rc = dq_h5_set_attr_double(f, obj, "min",
                                        dq_reservoir_min(a->r))) == DQ_OK &&
            (rc = dq_h5_set_attr_double(f, obj, "max",
                                        dq_reservoir_max(a->r))) == DQ_OK &&
            (rc = dq_h5_set_attr_double(
                 f, obj, "zero_frac",
                 (double)dq_reservoir_zeros(a->r) / (double)count)) == DQ_OK)
            ++*ntensors;
        dq_tensor_free(t);
    }
    if (rc != DQ_OK) {
        dq_h5_abort(f);
        return rc;
    }
    return dq_h5_commit(f);
}

int main(int argc, char **argv)
{
    dq_config *cfg = dq_cli_parse(&spec, argc, argv);
    const char *path = dq_config_str(cfg, "run", "model");
    if (!*path) dq_fatal(2, "no model given: use --model FILE (see --help)");
    uint64_t seed = (uint64_t)dq_config_int(cfg, "run", "seed");
    int64_t max_samples = dq_config_int(cfg, "dump", "max_samples");
    int batch = (int)dq_config_int(cfg, "run", "batch");

    dq_model *m = dq_model_load(path);
    if (!m) dq_die();
    dq_dataset *ds = dq_dataset_load(dq_config_str(cfg, "run", "data_dir"),
                                     "calib",
                                     dq_config_int(cfg, "run", "calib_size"),
                                     seed);
    if (!ds) dq_die();
    dq_engine *e = dq_engine_alloc(m);
    if (!e) dq_die();

    dump_ctx d = {NULL, 0};
    for (int i = 0; i < m->n_nodes; i++) d.n += dq_node_quant_inputs(&m->nodes[i]);
    d.a = calloc((size_t)(d.n ? d.n : 1), sizeof *d.a);
    if (!d.a) dq_fatal(1, "out of memory");
    for (int i = 0, k = 0; i < m->n_nodes; i++)
        for (int j = 0; j < dq_node_quant_inputs(&m->nodes[i]); j++, k++) {
            d.a[k].node = i;
            d.a[k].input = j;
            if (!(d.a[k].r = dq_reservoir_alloc(max_samples, seed))) dq_die();
        }
    dq_engine_set_capture(e, capture, &d);
    int64_t correct = 0;
    char label[128];
    snprintf(label, sizeof label, "%s dump", m->name);
    if (dq_engine_evaluate(e, ds, batch, &correct, NULL, 1, label) != DQ_OK)
        dq_die();

    char out[1024];
    snprintf(out, sizeof out, "%s/%s.h5", dq_config_str(cfg, "dump", "dir"),
             m->name);
    int ntensors = 0;
    if (write_dump(out, cfg, m, e, ds, &d, max_samples, &ntensors) != DQ_OK)
        dq_die();
    printf("%s: %d tensors of %s (%lld calib images, seed %llu, top-1 "
           "%.4f)\n", out, ntensors, m->name, (long long)ds->n,
           (unsigned long long)seed, (double)correct / (double)ds->n);

    for (int i = 0; i < d.n; i++) dq_reservoir_free(d.a[i].r);
    free(d.a);
    dq_engine_free(e);
    dq_dataset_free(ds);
    dq_model_free(m);
    dq_dataset_cache_clear();
    dq_config_free(cfg);
    return 0;
}
