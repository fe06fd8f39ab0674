/*
 * test_qinfer.c — quantization plans (src/plan.c, src/quant/qio.c),
 * quantized inference and evaluation (src/qinfer.c), the reservoir
 * sampler (src/reservoir.c).
 *
 * On the tiny test model (tests/testmodels.c: conv -> bn -> relu -> fc):
 *   - the fake-quant path through the engine's hooks equals quantizing by
 *     hand (weights and activations) and running the ops.h kernels in
 *     FP32, bit for bit;
 *   - plans round-trip through their file exactly, for every registered
 *     scheme; plans that do not match the model are rejected with errors
 *     that name the file and the layer;
 *   - evaluation (single plans and prefix-cached candidates) gives the
 *     same counts and predictions at 1 and 2 threads.
 * On the zoo MLP (data/zoo/mlp.h5, skipped when absent): the INT8
 * baseline picks the calibrator with the most correct val predictions and
 * is within 0.5 point of FP32 on the test split; split heads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dataset.h"
#include "engine.h"
#include "error.h"
#include "graph.h"
#include "h5io.h"
#include "ops.h"
#include "plan.h"
#include "qinfer.h"
#include "quant/qio.h"
#include "reservoir.h"
#include "testmodels.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/dq_test_qinfer_XXXXXX";
static char tiny_path[600];

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir)) return -1;
    snprintf(tiny_path, sizeof tiny_path, "%s/tiny.h5", dir);
    return tiny_write(tiny_path, TINY_OK) == DQ_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

/* A synthetic split of n images shaped like m's input, values in [-1, 2)
 * (so ReLU inputs have both signs), labels 0..num_classes-1. */
static dq_dataset *fake_split(const dq_model *m, int64_t n, uint64_t seed)
{
    dq_dataset *d = calloc(1, sizeof *d);
    assert_non_null(d);
    snprintf(d->split, sizeof d->split, "fake");
    d->n = n;
    int64_t shape[DQ_MAX_RANK] = {n};
    memcpy(shape + 1, m->input_shape, sizeof(int64_t) * (size_t)m->input_rank);
    d->images = dq_tensor_alloc("images", m->input_rank + 1, shape);
    d->labels = malloc((size_t)n);
    d->index = malloc((size_t)n * sizeof *d->index);
    assert_non_null(d->images);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, (unsigned long)seed);
    for (int64_t i = 0; i < d->images->size; i++)
        d->images->data[i] = (float)(3.0 * gsl_rng_uniform(r) - 1.0);
    for (int64_t i = 0; i < n; i++) {
        d->labels[i] = (uint8_t)gsl_rng_uniform_int(r, (unsigned long)m->num_classes);
        d->index[i] = i;
    }
    gsl_rng_free(r);
    return d;
}

static dq_qspec spec(const char *scheme, int bits, int per_channel)
{
    dq_qspec s = {scheme, bits, {0}};
    dq_quant_opts_default(&s.opts);
    s.opts.per_channel = per_channel;
    return s;
}

/* ---- reservoir ----------------------------------------------------------- */

static void test_reservoir(void **state)
{
    (void)state;
    float x[1000];
    for (int i = 0; i < 1000; i++) x[i] = (float)(i % 37) - 5.0f;
    /* fewer values than the capacity: the stream itself, in order */
    dq_reservoir *r = dq_reservoir_alloc(2000, 7);
    assert_non_null(r);
    assert_int_equal(dq_reservoir_add(r, x, 600), DQ_OK);
    assert_int_equal(dq_reservoir_add(r, x + 600, 400), DQ_OK);
    assert_int_equal(dq_reservoir_size(r), 1000);
    assert_memory_equal(dq_reservoir_data(r), x, sizeof x);
    assert_true(dq_reservoir_min(r) == -5.0 && dq_reservoir_max(r) == 31.0);
    assert_int_equal(dq_reservoir_zeros(r), 27); /* i % 37 == 5 */
    dq_reservoir_free(r);

    /* more: Algorithm R with mt19937 seeded 7, replayed by hand */
    r = dq_reservoir_alloc(100, 7);
    assert_int_equal(dq_reservoir_add(r, x, 1000), DQ_OK);
    float want[100];
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g, 7);
    for (int i = 0; i < 1000; i++) {
        if (i < 100) {
            want[i] = x[i];
            continue;
        }
        unsigned long j = gsl_rng_uniform_int(g, (unsigned long)i + 1);
        if (j < 100) want[j] = x[i];
    }
    gsl_rng_free(g);
    assert_int_equal(dq_reservoir_count(r), 1000);
    assert_int_equal(dq_reservoir_size(r), 100);
    assert_memory_equal(dq_reservoir_data(r), want, sizeof want);
    assert_true(dq_reservoir_min(r) == -5.0 && dq_reservoir_max(r) == 31.0);
    /* another seed, another sample */
    dq_reservoir *r2 = dq_reservoir_alloc(100, 8);
    assert_int_equal(dq_reservoir_add(r2, x, 1000), DQ_OK);
    assert_true(memcmp(dq_reservoir_data(r2), want, sizeof want) != 0);
    dq_reservoir_free(r2);
    /* a non-finite value is an error */
    float bad = NAN;
    assert_int_equal(dq_reservoir_add(r, &bad, 1), DQ_EINVAL);
    dq_reservoir_free(r);
    assert_null(dq_reservoir_alloc(0, 1));
}

/* ---- Wilson interval ------------------------------------------------------ */

static void test_wilson(void **state)
{
    (void)state;
    /* hand-computed: mid = (p + z^2/2n)/(1 + z^2/n),
     * half = z/(1 + z^2/n) sqrt(p(1-p)/n + z^2/4n^2) */
    static const struct {
        int64_t k, n;
        double lo, hi;
    } c[] = {
        {90, 100, 0.82563433849508649, 0.94477086293932488},
        {0, 10, 0.0, 0.2775327998628892},
        {10, 10, 0.72246720013711074, 0.99999999999999989},
        {9000, 10000, 0.89396563147408925, 0.90572716982936952},
        {1, 2, 0.094531205734230739, 0.90546879426576932},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        double lo, hi;
        dq_wilson(c[i].k, c[i].n, DQ_Z95, &lo, &hi);
        assert_true(fabs(lo - c[i].lo) < 1e-12);
        assert_true(fabs(hi - c[i].hi) < 1e-12);
    }
    double lo, hi;
    dq_wilson(0, 0, DQ_Z95, &lo, &hi);
    assert_true(lo == 0.0 && hi == 1.0);
}

/* ---- calibration capture ------------------------------------------------------ */

static void test_calib_capture(void **state)
{
    (void)state;
    dq_model *m = dq_model_load(tiny_path);
    assert_non_null(m);
    dq_dataset *ds = fake_split(m, 50, 3);
    /* everything kept: conv's input sample is the images, in order */
    dq_calib *c = dq_calib_capture(m, ds, 7, 1 << 20, 1, 0);
    assert_non_null(c);
    assert_int_equal(c->n, 2); /* conv.input0, fc.input0 */
    const dq_actsample *a = dq_calib_get(c, dq_model_find(m, "conv"), 0);
    assert_non_null(a);
    assert_string_equal(a->name, "conv.input0");
    assert_int_equal(a->count, ds->images->size);
    assert_int_equal(a->sampled, a->count);
    assert_int_equal(a->n, a->count); /* no min/max appended */
    assert_memory_equal(a->x, ds->images->data,
                        (size_t)a->count * sizeof(float));
    dq_tensor_stats st;
    dq_tensor_stats_compute(ds->images->data, ds->images->size, &st);
    assert_true(a->min == st.min && a->max == st.max);
    const dq_actsample *f = dq_calib_get(c, dq_model_find(m, "fc"), 0);
    assert_non_null(f);
    assert_int_equal(f->count, 50 * 32);
    assert_true(f->min == 0.0); /* after ReLU */
    dq_calib_free(c);

    /* sampled: identical at 1 and 2 threads; exact min, max appended */
    omp_set_num_threads(1);
    dq_calib *c1 = dq_calib_capture(m, ds, 7, 100, 5, 0);
    omp_set_num_threads(2);
    dq_calib *c2 = dq_calib_capture(m, ds, 7, 100, 5, 0);
    assert_non_null(c1);
    assert_non_null(c2);
    for (int i = 0; i < c1->n; i++) {
        assert_int_equal(c1->a[i].n, 102);
        assert_int_equal(c2->a[i].n, 102);
        assert_memory_equal(c1->a[i].x, c2->a[i].x, 102 * sizeof(float));
        assert_true(c1->a[i].x[100] == (float)c1->a[i].min);
        assert_true(c1->a[i].x[101] == (float)c1->a[i].max);
    }
    dq_calib_free(c1);
    dq_calib_free(c2);
    dq_dataset_free(ds);
    dq_model_free(m);
}

/* ---- fake quantization == by hand ------------------------------------------------ */

static void test_fake_quant_by_hand(void **state)
{
    (void)state;
    dq_model *m = dq_model_load(tiny_path);
    assert_non_null(m);
    dq_dataset *cal = fake_split(m, 40, 11);
    dq_calib *c = dq_calib_capture(m, cal, 16, 1 << 20, 1, 0);
    assert_non_null(c);
    int conv = dq_model_find(m, "conv"), fc = dq_model_find(m, "fc");
    assert_true(conv > 0 && fc > conv);
    const dq_node *cn = &m->nodes[conv], *fn = &m->nodes[fc];

    /* conv: DNA-TEQ 4-bit weights per channel, uniform 6-bit input;
     * fc: K-means 3-bit weights, DNA-TEQ 5-bit input (unsigned) */
    dq_plan *p = dq_plan_alloc(m, "hand");
    assert_non_null(p);
    int lc = dq_plan_find(p, "conv"), lf = dq_plan_find(p, "fc");
    dq_qspec s;
    s = spec("expq", 4, 1);
    assert_int_equal(dq_plan_quantize(p, m, c, lc, DQ_PLAN_W, &s), DQ_OK);
    s = spec("uniform", 6, 0);
    assert_int_equal(dq_plan_quantize(p, m, c, lc, DQ_PLAN_A0, &s), DQ_OK);
    s = spec("kmeans", 3, 0);
    assert_int_equal(dq_plan_quantize(p, m, c, lf, DQ_PLAN_W, &s), DQ_OK);
    s = spec("expq", 5, 0);
    assert_int_equal(dq_plan_quantize(p, m, c, lf, DQ_PLAN_A0, &s), DQ_OK);
    assert_false(p->layers[lf].t[DQ_PLAN_A0].qp->is_signed);

    /* engine with the plan's hooks */
    dq_dataset *ds = fake_split(m, 9, 12);
    int B = (int)ds->n;
    float got[9 * 3], want[9 * 3];
    dq_qmodel *q = dq_qmodel_alloc(m, p);
    assert_non_null(q);
    dq_engine *e = dq_engine_alloc(m);
    assert_int_equal(dq_qmodel_attach(q, e), DQ_OK);
    assert_int_equal(dq_engine_forward(e, ds->images->data, B, got), DQ_OK);

    /* by hand: quantize the weights, then run the kernels in FP32 with the
     * inputs quantized in between */
    dq_tensor *wc = dq_tensor_clone(cn->weight, "wc");
    dq_tensor *wf = dq_tensor_clone(fn->weight, "wf");
    assert_int_equal(dq_quant_fake_tensor(p->layers[lc].t[DQ_PLAN_W].qp, wc),
                     DQ_OK);
    assert_int_equal(dq_quant_fake_tensor(p->layers[lf].t[DQ_PLAN_W].qp, wf),
                     DQ_OK);
    float x[9 * 16], h[9 * 32], scratch[9 * 16 * 9];
    memcpy(x, ds->images->data, sizeof x);
    assert_int_equal(dq_quant_fake(p->layers[lc].t[DQ_PLAN_A0].qp, x, 9 * 16),
                     DQ_OK);
    assert_true(dq_conv2d_scratch_floats(1, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1) <=
                sizeof scratch / sizeof scratch[0]);
    dq_conv2d_forward(h, x, wc->data, cn->bias->data, scratch, B, 1, 4, 4, 2,
                      3, 3, 1, 1, 1, 1, 1, 1, 1);
    dq_relu_forward(h, h, 9 * 32);
    assert_int_equal(dq_quant_fake(p->layers[lf].t[DQ_PLAN_A0].qp, h, 9 * 32),
                     DQ_OK);
    dq_linear_forward(want, h, wf->data, fn->bias->data, B, 32, 3);
    assert_memory_equal(got, want, sizeof got);

    /* and it differs from FP32, so the test can fail */
    float fp[9 * 3];
    assert_int_equal(dq_qmodel_attach(NULL, e), DQ_OK);
    assert_int_equal(dq_engine_forward(e, ds->images->data, B, fp), DQ_OK);
    assert_true(memcmp(fp, want, sizeof fp) != 0);
    /* the model's own weights are untouched */
    assert_true(memcmp(cn->weight->data, wc->data,
                       (size_t)wc->size * sizeof(float)) != 0);

    dq_tensor_free(wc);
    dq_tensor_free(wf);
    dq_engine_free(e);
    dq_qmodel_free(q);
    dq_plan_free(p);
    dq_calib_free(c);
    dq_dataset_free(ds);
    dq_dataset_free(cal);
    dq_model_free(m);
}

/* ---- plan files ----------------------------------------------------------------- */

/* Every field of a and b equal (paths aside). */
static void assert_plans_equal(const dq_plan *a, const dq_plan *b)
{
    assert_string_equal(a->model_file, b->model_file);
    assert_string_equal(a->model_name, b->model_name);
    assert_string_equal(a->label, b->label);
    assert_string_equal(a->config, b->config);
    assert_string_equal(a->meta, b->meta);
    assert_true(a->seed == b->seed);
    assert_int_equal(a->n_layers, b->n_layers);
    for (int i = 0; i < a->n_layers; i++) {
        const dq_plan_layer *x = &a->layers[i], *y = &b->layers[i];
        assert_string_equal(x->name, y->name);
        assert_string_equal(x->op, y->op);
        assert_memory_equal(&x->shared_base, &y->shared_base, sizeof(double));
        assert_true(dq_plan_layer_equal(x, y));
        for (int s = 0; s < DQ_PLAN_SLOTS; s++) {
            assert_int_equal(x->t[s].present, y->t[s].present);
            if (!x->t[s].present) continue;
            assert_true(dq_shape_equal(x->t[s].rank, x->t[s].shape,
                                       y->t[s].rank, y->t[s].shape));
        }
    }
}

static void test_plan_roundtrip(void **state)
{
    (void)state;
    dq_model *m = dq_model_load(tiny_path);
    assert_non_null(m);
    dq_dataset *cal = fake_split(m, 40, 21);
    dq_calib *c = dq_calib_capture(m, cal, 16, 1 << 20, 1, 0);
    assert_non_null(c);
    char path[700];
    path_of(path, sizeof path, "plan.h5");
    int lc = 0, lf = 1;

    /* every registered scheme, on the fc input (unsigned, so sparq works
     * too) and, where it takes signed data, on the conv weights per
     * channel; the conv input stays FP32 */
    for (int i = 0; i < dq_quant_count(); i++) {
        const dq_quant_scheme *qs = dq_quant_get(i);
        dq_plan *p = dq_plan_alloc(m, qs->label);
        assert_non_null(p);
        assert_int_equal(dq_plan_set_str(&p->config, "[run]\nseed = 9\n"),
                         DQ_OK);
        assert_int_equal(dq_plan_set_str(&p->meta, "scheme test"), DQ_OK);
        p->seed = 9;
        p->layers[lc].shared_base = 1.0 + 1.0 / 3.0;
        dq_qspec s = spec(qs->name, 4, 1);
        if (!(qs->flags & DQ_QS_UNSIGNED_ONLY)) {
            assert_int_equal(dq_plan_quantize(p, m, c, lc, DQ_PLAN_W, &s),
                             DQ_OK);
            s.opts.per_channel = 0;
            assert_int_equal(dq_plan_quantize(p, m, c, lf, DQ_PLAN_W, &s),
                             DQ_OK);
        }
        s.bits = 3;
        assert_int_equal(dq_plan_quantize(p, m, c, lf, DQ_PLAN_A0, &s), DQ_OK);
        assert_int_equal(dq_plan_write(p, path), DQ_OK);
        dq_plan *r = dq_plan_read(path);
        if (!r) fail_msg("%s: %s", qs->name, dq_error_message());
        assert_string_equal(r->path, path);
        assert_plans_equal(p, r);
        for (int l = 0; l < p->n_layers; l++)
            for (int t = 0; t < DQ_PLAN_SLOTS; t++)
                assert_true(dq_qparams_equal(p->layers[l].t[t].qp,
                                             r->layers[l].t[t].qp));
        assert_int_equal(dq_plan_first_diff(p, r), p->n_layers);
        /* the read plan runs exactly like the original */
        assert_int_equal(dq_plan_check(r, m), DQ_OK);
        dq_dataset *ds = fake_split(m, 20, 22);
        int64_t pa[20], pb[20], ca, cb;
        assert_int_equal(dq_qinfer_evaluate(m, p, ds, 8, &ca, pa, 0, NULL),
                         DQ_OK);
        assert_int_equal(dq_qinfer_evaluate(m, r, ds, 8, &cb, pb, 0, NULL),
                         DQ_OK);
        assert_int_equal(ca, cb);
        assert_memory_equal(pa, pb, sizeof pa);
        dq_dataset_free(ds);
        dq_plan_free(r);
        dq_plan_free(p);
    }

    /* bits statistics: conv W 18 elements x 4 bits, fc W 96 x 4, conv
     * input 16 x 32 (FP32), fc input 32 x 3 */
    dq_plan *p = dq_plan_alloc(m, "stats");
    dq_qspec s = spec("uniform", 4, 0);
    assert_int_equal(dq_plan_quantize(p, m, c, lc, DQ_PLAN_W, &s), DQ_OK);
    assert_int_equal(dq_plan_quantize(p, m, c, lf, DQ_PLAN_W, &s), DQ_OK);
    s.bits = 3;
    assert_int_equal(dq_plan_quantize(p, m, c, lf, DQ_PLAN_A0, &s), DQ_OK);
    dq_plan_stats st;
    assert_int_equal(dq_plan_stats_compute(p, &st), DQ_OK);
    assert_true(st.w_elems == 18 + 96 && st.a_elems == 16 + 32);
    assert_true(st.avg_w == 4.0);
    assert_true(st.avg_a == (16.0 * 32 + 32.0 * 3) / 48.0);
    assert_true(st.avg == (114.0 * 4 + 16.0 * 32 + 32.0 * 3) / 162.0);
    assert_true(st.compression_vs_int8 == 1.0 - st.avg / 8.0 ||
                fabs(st.compression_vs_int8 - (1.0 - st.avg / 8.0)) < 1e-15);
    dq_plan_free(p);
    dq_calib_free(c);
    dq_dataset_free(cal);
    dq_model_free(m);
}

/* dq_plan_check(read back p) fails naming the file and every want. */
static void expect_check_error(dq_plan *p, const dq_model *m, const char *path,
                               const char *const *want)
{
    assert_int_equal(dq_plan_write(p, path), DQ_OK);
    dq_plan *r = dq_plan_read(path);
    if (!r) fail_msg("read failed: %s", dq_error_message());
    dq_error_clear();
    assert_int_not_equal(dq_plan_check(r, m), DQ_OK);
    const char *msg = dq_error_message();
    printf("  expected error: %s\n", msg);
    assert_non_null(strstr(msg, path));
    for (int i = 0; want[i]; i++)
        if (!strstr(msg, want[i])) fail_msg("'%s' lacks '%s'", msg, want[i]);
    dq_plan_free(r);
}

static void test_plan_rejects(void **state)
{
    (void)state;
    dq_model *m = dq_model_load(tiny_path);
    assert_non_null(m);
    dq_dataset *cal = fake_split(m, 30, 31);
    dq_calib *c = dq_calib_capture(m, cal, 16, 1 << 20, 1, 0);
    dq_qspec w = spec("uniform", 4, 1), a = spec("uniform", 5, 0);
    dq_plan *p = dq_plan_build_all(m, c, &w, &a, "base");
    assert_non_null(p);
    assert_int_equal(dq_plan_check(p, m), DQ_OK);
    char path[700];
    path_of(path, sizeof path, "bad.h5");

    /* unknown layer */
    dq_plan *b = dq_plan_clone(p);
    snprintf(b->layers[1].name, sizeof b->layers[1].name, "fc9");
    expect_check_error(b, m, path,
                       (const char *const[]){"fc9", "no such node", NULL});
    dq_plan_free(b);
    /* a layer naming a node that is not quantizable */
    b = dq_plan_clone(p);
    snprintf(b->layers[1].name, sizeof b->layers[1].name, "relu");
    expect_check_error(b, m, path,
                       (const char *const[]){"relu", "not a quantizable", NULL});
    dq_plan_free(b);
    /* missing layer */
    b = dq_plan_clone(p);
    dq_qparams_free(b->layers[1].t[DQ_PLAN_W].qp);
    dq_qparams_free(b->layers[1].t[DQ_PLAN_A0].qp);
    b->n_layers = 1;
    expect_check_error(b, m, path,
                       (const char *const[]){"no layer for node 'fc'", NULL});
    dq_plan_free(b);
    /* wrong weight shape */
    b = dq_plan_clone(p);
    b->layers[1].t[DQ_PLAN_W].shape[1] = 31;
    expect_check_error(b, m, path,
                       (const char *const[]){"layer 'fc' weight", "shape",
                                             "(3, 31)", "(3, 32)", NULL});
    dq_plan_free(b);
    /* wrong activation shape */
    b = dq_plan_clone(p);
    b->layers[0].t[DQ_PLAN_A0].shape[2] = 5;
    expect_check_error(b, m, path,
                       (const char *const[]){"layer 'conv' input0", "shape",
                                             NULL});
    dq_plan_free(b);
    /* wrong channel count: fc's per-channel parameters on conv */
    b = dq_plan_clone(p);
    dq_qparams *t = b->layers[0].t[DQ_PLAN_W].qp;
    b->layers[0].t[DQ_PLAN_W].qp = b->layers[1].t[DQ_PLAN_W].qp;
    b->layers[1].t[DQ_PLAN_W].qp = t;
    expect_check_error(b, m, path,
                       (const char *const[]){"layer 'conv' weight",
                                             "3 channel(s)", "2 output", NULL});
    dq_plan_free(b);
    /* ... and dq_plan_set refuses it up front */
    b = dq_plan_clone(p);
    dq_error_clear();
    assert_int_equal(dq_plan_set(b, 0, DQ_PLAN_W, "uniform", 4,
                                 dq_qparams_clone(b->layers[1].t[DQ_PLAN_W].qp)),
                     DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "layer 'conv' weight"));
    /* scheme name and parameters disagree */
    assert_int_equal(dq_plan_set(b, 1, DQ_PLAN_W, "expq", 4,
                                 dq_qparams_clone(b->layers[1].t[DQ_PLAN_W].qp)),
                     DQ_EINVAL);
    /* a matmul-only slot */
    assert_int_equal(dq_plan_set(b, 1, DQ_PLAN_A1, DQ_PLAN_NONE, 32, NULL),
                     DQ_EINVAL);
    dq_plan_free(b);

    /* bits outside 2..8 in the file: rejected on reading, naming the
     * file and the layer */
    b = dq_plan_clone(p);
    b->layers[1].t[DQ_PLAN_W].bits = 9;
    assert_int_equal(dq_plan_write(b, path), DQ_OK);
    dq_error_clear();
    assert_null(dq_plan_read(path));
    printf("  expected error: %s\n", dq_error_message());
    assert_non_null(strstr(dq_error_message(), path));
    assert_non_null(strstr(dq_error_message(), "/layers/fc/weight"));
    assert_non_null(strstr(dq_error_message(), "bits 9 outside 2..8"));
    dq_plan_free(b);
    /* 'none' with quantization bits */
    b = dq_plan_clone(p);
    dq_qparams_free(b->layers[1].t[DQ_PLAN_A0].qp);
    b->layers[1].t[DQ_PLAN_A0].qp = NULL;
    snprintf(b->layers[1].t[DQ_PLAN_A0].scheme, DQ_PLAN_SCHEME_MAX, "none");
    assert_int_equal(dq_plan_write(b, path), DQ_OK);
    assert_null(dq_plan_read(path));
    assert_non_null(strstr(dq_error_message(), "/layers/fc/input0"));
    dq_plan_free(b);
    /* an unknown scheme */
    b = dq_plan_clone(p);
    snprintf(b->layers[0].t[DQ_PLAN_W].scheme, DQ_PLAN_SCHEME_MAX, "int3x");
    assert_int_equal(dq_plan_write(b, path), DQ_OK);
    assert_null(dq_plan_read(path));
    printf("  expected error: %s\n", dq_error_message());
    assert_non_null(strstr(dq_error_message(), path));
    assert_non_null(strstr(dq_error_message(), "/layers/conv/weight"));
    assert_non_null(strstr(dq_error_message(), "int3x"));
    dq_plan_free(b);

    /* the search's bit range: 4-bit weights pass 3..8, 5-bit inputs fail
     * 2..4 */
    assert_int_equal(dq_plan_check_bits(p, 3, 8), DQ_OK);
    dq_error_clear();
    assert_int_equal(dq_plan_check_bits(p, 2, 4), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "layer 'conv' input0"));
    assert_non_null(strstr(dq_error_message(), "5 bits outside the range 2..4"));

    /* not a plan file at all */
    assert_null(dq_plan_read(tiny_path));
    assert_non_null(strstr(dq_error_message(), tiny_path));

    /* a plan bound to another model: dq_qmodel_alloc checks it */
    char other[700];
    path_of(other, sizeof other, "residual.h5");
    assert_int_equal(residual_write(other), DQ_OK);
    dq_model *m2 = dq_model_load(other);
    assert_non_null(m2);
    dq_error_clear();
    assert_null(dq_qmodel_alloc(m2, p));
    printf("  expected error: %s\n", dq_error_message());
    assert_non_null(strstr(dq_error_message(), "conv"));
    dq_model_free(m2);

    dq_plan_free(p);
    dq_calib_free(c);
    dq_dataset_free(cal);
    dq_model_free(m);
}

/* ---- evaluation: threads and prefix caching --------------------------------------- */

static void test_eval_threads(void **state)
{
    (void)state;
    dq_model *m = dq_model_load(tiny_path);
    assert_non_null(m);
    dq_dataset *cal = fake_split(m, 64, 41);
    dq_dataset *ds = fake_split(m, 301, 42);
    dq_calib *c = dq_calib_capture(m, cal, 16, 1 << 20, 1, 0);
    dq_qspec w = spec("uniform", 3, 1), a = spec("uniform", 3, 0);
    dq_plan *base = dq_plan_build_all(m, c, &w, &a, "base");
    assert_non_null(base);

    /* candidates: fc changed (start at fc), conv changed (start at conv),
     * identical to base, FP32 */
    dq_plan *cand[4];
    cand[0] = dq_plan_clone(base);
    dq_qspec s = spec("expq", 2, 0);
    assert_int_equal(dq_plan_quantize(cand[0], m, c, 1, DQ_PLAN_A0, &s), DQ_OK);
    cand[1] = dq_plan_clone(base);
    s = spec("log2", 2, 1);
    assert_int_equal(dq_plan_quantize(cand[1], m, c, 0, DQ_PLAN_W, &s), DQ_OK);
    cand[2] = dq_plan_clone(base);
    cand[3] = dq_plan_alloc(m, "fp32");
    assert_int_equal(dq_plan_first_diff(base, cand[0]), 1);
    assert_int_equal(dq_plan_first_diff(base, cand[1]), 0);
    assert_int_equal(dq_plan_first_diff(base, cand[2]), 2);

    int64_t single[2][4], many[2][4], bc[2], pred[2][301];
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        assert_int_equal(dq_qinfer_evaluate(m, base, ds, 16, &bc[t], pred[t], 0,
                                            NULL),
                         DQ_OK);
        for (int i = 0; i < 4; i++)
            assert_int_equal(dq_qinfer_evaluate(m, cand[i], ds, 16,
                                                &single[t][i], NULL, 0, NULL),
                             DQ_OK);
        assert_int_equal(dq_qinfer_evaluate_many(
                             m, base, (const dq_plan *const *)cand, 4, ds, 16,
                             many[t], 0, NULL),
                         DQ_OK);
    }
    omp_set_num_threads(2);
    printf("  base %lld, candidates %lld %lld %lld %lld of 301\n",
           (long long)bc[0], (long long)single[0][0], (long long)single[0][1],
           (long long)single[0][2], (long long)single[0][3]);
    assert_true(bc[0] == bc[1]);
    assert_memory_equal(pred[0], pred[1], sizeof pred[0]);
    assert_memory_equal(single[0], single[1], sizeof single[0]);
    assert_memory_equal(many[0], single[0], sizeof many[0]);
    assert_memory_equal(many[1], single[0], sizeof many[1]);
    assert_true(single[0][2] == bc[0]);
    /* the predictions agree with the engine's own FP32 path for FP32 */
    int64_t fp;
    assert_int_equal(dq_qinfer_evaluate(m, NULL, ds, 301, &fp, NULL, 0, NULL),
                     DQ_OK);
    assert_true(fp == single[0][3]);
    /* selection: the most correct candidate, the first of equals */
    int64_t sel[4];
    int best = -1, want = 0;
    assert_int_equal(dq_qinfer_select(m, (const dq_plan *const *)cand, 4, ds,
                                      16, sel, &best, 0, NULL),
                     DQ_OK);
    for (int i = 1; i < 4; i++)
        if (single[0][i] > single[0][want]) want = i;
    assert_memory_equal(sel, single[0], sizeof sel);
    assert_int_equal(best, want);
    const dq_plan *same[3] = {cand[2], base, cand[2]}; /* all equal */
    assert_int_equal(dq_qinfer_select(m, same, 3, ds, 16, sel, &best, 0, NULL),
                     DQ_OK);
    assert_int_equal(best, 0);

    for (int i = 0; i < 4; i++) dq_plan_free(cand[i]);
    dq_plan_free(base);
    dq_calib_free(c);
    dq_dataset_free(ds);
    dq_dataset_free(cal);
    dq_model_free(m);
}

/* ---- a configuration the scheme cannot represent ---------------------------------- */

/* APoT has level sets for 2..5-bit unsigned tensors only: a 6-bit plan of
 * the tiny model (whose fc input follows a ReLU) fails with DQ_EUNSUP
 * naming that input, which dnateq-compare turns into an "unsupported"
 * row; 5 bits builds. */
static void test_plan_unsupported(void **state)
{
    (void)state;
    dq_model *m = dq_model_load(tiny_path);
    assert_non_null(m);
    dq_dataset *cal = fake_split(m, 32, 51);
    dq_calib *c = dq_calib_capture(m, cal, 16, 1 << 20, 1, 0);
    assert_non_null(c);
    dq_qspec w = spec("apot", 6, 0), a = spec("apot", 6, 0);
    dq_error_clear();
    assert_null(dq_plan_build_all(m, c, &w, &a, "apot 6"));
    assert_int_equal(dq_error_status(), DQ_EUNSUP);
    printf("  expected error: %s\n", dq_error_message());
    assert_non_null(strstr(dq_error_message(), "fc"));
    assert_non_null(strstr(dq_error_message(), "B = 6"));
    w.bits = a.bits = 5;
    dq_plan *p = dq_plan_build_all(m, c, &w, &a, "apot 5");
    assert_non_null(p);
    dq_plan_free(p);
    dq_calib_free(c);
    dq_dataset_free(cal);
    dq_model_free(m);
}

/* ---- INT8 baseline on the zoo MLP ---------------------------------------------------- */

static void test_int8_mlp(void **state)
{
    (void)state;
    const char *mp = "data/zoo/mlp.h5";
    if (access(mp, R_OK) != 0) {
        printf("  SKIPPED: %s not found (train and export the zoo first)\n", mp);
        skip();
    }
    char img[1024];
    snprintf(img, sizeof img, "%s/t10k-images-idx3-ubyte.gz",
             dq_dataset_default_dir());
    if (access(img, R_OK) != 0) {
        printf("  SKIPPED: Fashion-MNIST not found in %s\n",
               dq_dataset_default_dir());
        skip();
    }
    dq_qsession *s = dq_qsession_open(mp, NULL, 1000, 1, 256, NULL, 0);
    if (!s) fail_msg("%s", dq_error_message());
    dq_calibrator chosen;
    int64_t valc[4];
    dq_plan *p = dq_qinfer_int8(s, NULL, 1, 0, &chosen, valc);
    if (!p) fail_msg("%s", dq_error_message());
    /* the calibrator with the most correct val predictions, the first of
     * equals, and the plan says so */
    for (int i = 0; i < 4; i++)
        assert_true(i < (int)chosen ? valc[i] < valc[chosen]
                                    : valc[i] <= valc[chosen]);
    assert_non_null(strstr(p->meta, "chosen on val (5000 images)"));
    int64_t fp32 = 0, q8 = 0;
    assert_int_equal(dq_qsession_fp32(s, "test", &fp32), DQ_OK);
    assert_int_equal(dq_qinfer_evaluate(s->model, p, s->test, 256, &q8, NULL, 0,
                                        NULL),
                     DQ_OK);
    printf("  mlp: FP32 %lld, INT8 (act %s) %lld of %lld test images; val "
           "minmax %lld percentile %lld mse %lld kl %lld\n",
           (long long)fp32, dq_calibrator_name(chosen), (long long)q8,
           (long long)s->test->n, (long long)valc[0], (long long)valc[1],
           (long long)valc[2], (long long)valc[3]);
    assert_true(llabs(q8 - fp32) * 1000 <= 5 * s->test->n);
    dq_plan_free(p);

    /* split heads: the first n images, kept by the session, with their
     * own FP32 count; n <= 0 or >= the size is the whole split */
    const dq_dataset *h = dq_qsession_head(s, "val", 700);
    assert_non_null(h);
    assert_int_equal(h->n, 700);
    assert_ptr_equal(dq_qsession_head(s, "val", 700), h);
    assert_memory_equal(h->images->data, s->val->images->data,
                        sizeof(float) * 700 * 784);
    assert_memory_equal(h->labels, s->val->labels, 700);
    int64_t fh = -1, fe = -2;
    assert_int_equal(dq_qsession_fp32_head(s, "val", 700, &fh), DQ_OK);
    assert_int_equal(dq_qinfer_evaluate(s->model, NULL, h, 100, &fe, NULL, 0,
                                        NULL),
                     DQ_OK);
    assert_true(fh == fe);
    assert_ptr_equal(dq_qsession_head(s, "val", 0), s->val);
    assert_ptr_equal(dq_qsession_head(s, "test", 10000), s->test);
    assert_ptr_equal(dq_qsession_head(s, "test", 20000), s->test);
    assert_int_equal(dq_qsession_fp32_head(s, "test", 0, &fh), DQ_OK);
    assert_true(fh == fp32);
    assert_null(dq_qsession_head(s, "calib", 10));
    assert_non_null(strstr(dq_error_message(), "calib"));
    dq_qsession_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reservoir),
        cmocka_unit_test(test_wilson),
        cmocka_unit_test(test_calib_capture),
        cmocka_unit_test(test_fake_quant_by_hand),
        cmocka_unit_test(test_plan_roundtrip),
        cmocka_unit_test(test_plan_rejects),
        cmocka_unit_test(test_eval_threads),
        cmocka_unit_test(test_plan_unsupported),
        cmocka_unit_test(test_int8_mlp),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
