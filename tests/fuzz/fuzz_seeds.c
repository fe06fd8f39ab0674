/*
 * fuzz_seeds.c — writes the seed corpora of the fuzz harnesses from valid
 * inputs (no committed blobs):
 *
 *   dnateq-fuzz-seeds DIR   ->  DIR/corpus-idx/     idx images and labels,
 *                                                    gzip and raw
 *                               DIR/corpus-model/   the test models of
 *                                                    tests/testmodels.h
 *                               DIR/corpus-plan/    a plan of the tiny model
 *                                                    per registered scheme
 *                               DIR/corpus-config/  the effective default
 *                                                    config and hand-written
 *                                                    ones
 *
 * Built and run by `make fuzz` (experiments/fuzz.mk).
 */
#include "cli.h"
#include "config.h"
#include "energy.h"
#include "error.h"
#include "fit.h"
#include "fsutil.h"
#include "graph.h"
#include "plan.h"
#include "quant/quant.h"
#include "search.h"
#include "testmodels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *root;

static void fail(const char *what)
{
    fprintf(stderr, "dnateq-fuzz-seeds: %s: %s\n", what, dq_error_message());
    exit(1);
}

static void path_of(char *buf, size_t len, const char *corpus,
                    const char *name)
{
    snprintf(buf, len, "%s/corpus-%s/%s", root, corpus, name);
}

/* ---- idx ---------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void write_bytes(const char *name, const uint8_t *b, size_t n, int gz)
{
    char path[512];
    path_of(path, sizeof path, "idx", name);
    if (dq_mkdirs_parent(path) != DQ_OK) fail(path);
    if (gz) {
        gzFile g = gzopen(path, "wb9");
        if (!g || gzwrite(g, b, (unsigned)n) != (int)n || gzclose(g) != Z_OK)
            fail(path);
        return;
    }
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(b, 1, n, fp) != n || fclose(fp) != 0) fail(path);
}

static void idx_seeds(void)
{
    uint8_t img[16 + 2 * DQ_FMNIST_PIXELS], lab[8 + 3];
    put_be32(img, 2051);
    put_be32(img + 4, 2);
    put_be32(img + 8, DQ_FMNIST_ROWS);
    put_be32(img + 12, DQ_FMNIST_COLS);
    for (int i = 0; i < 2 * DQ_FMNIST_PIXELS; i++)
        img[16 + i] = (uint8_t)(i * 7 % 256);
    put_be32(lab, 2049);
    put_be32(lab + 4, 3);
    lab[8] = 0, lab[9] = 5, lab[10] = 9;
    write_bytes("images.gz", img, sizeof img, 1);
    write_bytes("images.raw", img, sizeof img, 0);
    write_bytes("labels.gz", lab, sizeof lab, 1);
    write_bytes("labels.raw", lab, sizeof lab, 0);
}

/* ---- models ------------------------------------------------------------- */

static void model_seeds(void)
{
    char path[512];
    for (int mu = 0; mu < TINY_N_MUTATIONS; mu++) {
        char name[32];
        snprintf(name, sizeof name, "tiny-%02d.h5", mu);
        path_of(path, sizeof path, "model", name);
        if (tiny_write(path, mu) != DQ_OK) fail(path);
    }
    path_of(path, sizeof path, "model", "tiny28.h5");
    if (tiny28_write(path) != DQ_OK) fail(path);
    path_of(path, sizeof path, "model", "residual.h5");
    if (residual_write(path) != DQ_OK) fail(path);
}

/* ---- plans -------------------------------------------------------------- */

/* Calibrate scheme qs at bits on t and set it as slot of layer. */
static void plan_slot(dq_plan *p, int layer, int slot,
                      const dq_quant_scheme *qs, const dq_tensor *t,
                      int bits, int per_channel)
{
    dq_quant_opts o;
    dq_quant_opts_default(&o);
    o.per_channel = per_channel;
    dq_qparams *qp = dq_quant_calibrate(qs, t, bits, &o);
    if (!qp || dq_plan_set(p, layer, slot, qs->name, bits, qp) != DQ_OK)
        fail(qs->name);
}

/* A non-negative activation sample (as after a ReLU). */
static dq_tensor *act_sample(void)
{
    dq_tensor *a = dq_tensor_alloc4("act", 1, 256, 0, 0, 0);
    if (!a) fail("act");
    for (int64_t i = 0; i < a->size; i++)
        a->data[i] = i % 5 == 0 ? 0.0f : (float)((i * 37) % 101) / 25.0f;
    return a;
}

static void plan_seed(const dq_model *m, const dq_quant_scheme *qs,
                      const dq_tensor *act, const char *path)
{
    dq_plan *p = dq_plan_alloc(m, qs->label);
    if (!p) fail(path);
    int conv = dq_plan_find(p, "conv"), fc = dq_plan_find(p, "fc");
    if (!(qs->flags & DQ_QS_UNSIGNED_ONLY)) {
        plan_slot(p, conv, DQ_PLAN_W, qs, m->nodes[p->layers[conv].node].weight,
                  4, 1);
        plan_slot(p, fc, DQ_PLAN_W, qs, m->nodes[p->layers[fc].node].weight, 5,
                  0);
    }
    plan_slot(p, fc, DQ_PLAN_A0, qs, act, 3, 0);
    p->layers[conv].shared_base = 1.5;
    if (dq_plan_set_str(&p->meta, "fuzz seed") != DQ_OK ||
        dq_plan_check(p, m) != DQ_OK || dq_plan_write(p, path) != DQ_OK)
        fail(path);
    dq_plan_free(p);
}

static void plan_seeds(void)
{
    char mpath[512], path[512];
    path_of(mpath, sizeof mpath, "plan", "tiny.model");
    if (dq_mkdirs_parent(mpath) != DQ_OK || tiny_write(mpath, TINY_OK) != DQ_OK)
        fail(mpath);
    dq_model *m = dq_model_load(mpath);
    if (!m) fail(mpath);
    remove(mpath);
    dq_tensor *act = act_sample();
    for (int i = 0; i < dq_quant_count(); i++) {
        const dq_quant_scheme *qs = dq_quant_get(i);
        char name[64];
        snprintf(name, sizeof name, "plan-%s.h5", qs->name);
        path_of(path, sizeof path, "plan", name);
        plan_seed(m, qs, act, path);
    }
    dq_plan *fp32 = dq_plan_alloc(m, "FP32");
    path_of(path, sizeof path, "plan", "plan-fp32.h5");
    if (!fp32 || dq_plan_write(fp32, path) != DQ_OK) fail(path);
    dq_plan_free(fp32);
    dq_tensor_free(act);
    dq_model_free(m);
}

/* ---- configs ------------------------------------------------------------ */

static const char *const hand_configs[] = {
    "; a hand-written config\n[run]\nsplit = val\nthreads = 1\nseed = 7\n"
    "quick = yes\n\n[quant]\nsign_mode = unsigned\ncalibrator = kl\n"
    "base_max = 3.5 ; trailing comment\n# comment\n[search]\n",
    "[run]\nout = results/x\n  continued\nbatch = 64\n[fit]\n",
    "[run]\nseed=4294967295\ncalib_size = 1\nquick = off\n",
};

static void config_seeds(void)
{
    static const dq_cfg_key *const tables[] = {
        dq_run_keys, dq_quant_keys, dq_search_keys, dq_fit_keys,
        dq_energy_keys, NULL};
    char path[512];
    dq_config *c = dq_config_alloc(tables);
    char *dump = c ? dq_config_dump(c) : NULL;
    path_of(path, sizeof path, "config", "defaults.ini");
    if (!dump || dq_mkdirs_parent(path) != DQ_OK ||
        dq_write_text_atomic(path, dump) != DQ_OK)
        fail(path);
    free(dump);
    dq_config_free(c);
    for (size_t i = 0; i < sizeof hand_configs / sizeof *hand_configs; i++) {
        char name[32];
        snprintf(name, sizeof name, "hand-%zu.ini", i);
        path_of(path, sizeof path, "config", name);
        if (dq_write_text_atomic(path, hand_configs[i]) != DQ_OK) fail(path);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: dnateq-fuzz-seeds DIR\n");
        return 2;
    }
    root = argv[1];
    idx_seeds();
    model_seeds();
    plan_seeds();
    config_seeds();
    return 0;
}
