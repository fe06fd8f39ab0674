/*
 * test_expengine.c — the engine's op override (engine.h hook (d)) and the
 * exp-domain executor (src/expengine.c).
 *
 * - The hook: an override that declines leaves the logits bit for bit;
 *   one that computes a node replaces the kernel (and sees the node's
 *   inputs, its weight, NULL for matmul); its error aborts the forward.
 * - Exp-domain vs fake-quant on two small models built here with a
 *   shared-base expq plan: the tiny conv -> bn -> relu -> fc model
 *   (tests/testmodels.h: padding, BatchNorm folded) and an attention
 *   block written below (linear on tokens, q·kᵀ and softmax·v matmuls, a
 *   matmul by a constant (K, N) matrix), and a multi-head one whose four
 *   matmuls broadcast their batch dims (over heads, over images, a
 *   constant (M, K) left operand): every prediction identical, logits
 *   within 1e-4 relative on images whose codes agree in every layer
 *   (measured ~3e-7: both compute the same sums, the fake-quant path in
 *   float32), code flips only from near-ties (expengine.h), the same
 *   logits bit for bit at 1 and 2 threads.
 * - The kernel's counts per layer against the closed forms of
 *   dq_optable (opcount.h) with the plan's precision: pairs = MACs,
 *   combine work per output, increments = live pairs x (1 + [β_a≠0] +
 *   [β_w≠0]); the output-bit consumer rule on both models.
 * - Plans the exponential domain cannot run (uniform, per-channel expq,
 *   no shared base) are rejected naming the plan and the layer.
 * - The drivers dnateq-energy and dnateq-expdot (sanitizer builds) on a
 *   28x28 model and plans written here: every output file, the columns
 *   and provenance of the summaries (expdot: both pass rules, noflip in
 *   force), a skipped model, and bad input (an unknown rule; no
 *   model; a plan that is not HDF5, named in the error).
 * - data/zoo/mlp.h5 with results/dnateq/plans/mlp_dnateq.h5 (skipped when
 *   either or the dataset is absent): identical predictions and the same
 *   exactness rule on the first MLP_IMAGES test images.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dataset.h"
#include "engine.h"
#include "error.h"
#include "expengine.h"
#include "h5io.h"
#include "opcount.h"
#include "plan.h"
#include "qinfer.h"
#include "testmodels.h"
#include "testutil.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MLP_IMAGES 300 /* keeps the zoo case near 10 s under ASan */

static char *tiny_path, *attn_path, *bcast_path;

/* ---- the attention test models ------------------------------------------ */

/* t (may be NULL) = uniform in [-0.5, 0.5) from the splitmix64 state *z. */
static void fill_random(dq_tensor *t, uint64_t *z)
{
    for (int64_t j = 0; t && j < t->size; j++) {
        uint64_t r = (*z += 0x9E3779B97F4A7C15ull);
        r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9ull;
        r = (r ^ (r >> 27)) * 0x94D049BB133111EBull;
        r = (r ^ (r >> 31)) >> 11;
        t->data[j] = (float)((double)r * 0x1p-53 - 0.5);
    }
}

/* Fill p (NULL: out of memory) with seeded values and write it as <g>/<name>;
 * frees p. */
static int put_param(dq_h5 *f, const char *g, const char *name, dq_tensor *p,
                     uint64_t *z)
{
    char obj[256];
    fill_random(p, z);
    snprintf(obj, sizeof obj, "%s/%s", g, name);
    int rc = p ? dq_h5_write_tensor(f, obj, p, 0) : DQ_ENOMEM;
    dq_tensor_free(p);
    return rc;
}

/* x (4 tokens, 8) -> q, k, v = linear(x); s = q · kᵀ; p = softmax(s);
 * o = p · v; oc = o · C (a constant 8x8); f = flatten(oc); fc (3x32). */
static int attn_write(const char *path)
{
    static const struct {
        const char *name, *op, *inputs;
        int64_t w0, w1; /* weight (w0, w1), bias (w0); 0: none */
    } nodes[] = {
        {"x", "input", "", 0, 0},        {"q", "linear", "x", 8, 8},
        {"k", "linear", "x", 8, 8},      {"kt", "permute", "k", 0, 0},
        {"s", "matmul", "q,kt", 0, 0},   {"p", "softmax", "s", 0, 0},
        {"v", "linear", "x", 8, 8},      {"o", "matmul", "p,v", 0, 0},
        {"c", "constant", "", 0, 0},     {"oc", "matmul", "o,c", 0, 0},
        {"f", "flatten", "oc", 0, 0},    {"fc", "linear", "f", 3, 32},
    };
    const int64_t shape[2] = {4, 8}, perm[3] = {0, 2, 1};
    dq_h5 *f = dq_h5_create(path, "dnateq-model", 1);
    if (!f) return dq_error_status();
    int rc = dq_h5_set_attr_str(f, "/", "output", "fc");
    if (rc == DQ_OK) rc = dq_h5_set_attr_ints(f, "/", "input_shape", shape, 2);
    if (rc == DQ_OK) rc = dq_h5_set_attr_int(f, "/", "num_classes", 3);
    if (rc == DQ_OK) rc = dq_h5_set_attr_str(f, "/", "model_name", "attn");
    uint64_t z = 77;
    for (size_t i = 0; rc == DQ_OK && i < sizeof nodes / sizeof nodes[0]; i++) {
        char g[64];
        snprintf(g, sizeof g, "/nodes/%s", nodes[i].name);
        if ((rc = dq_h5_mkgroup(f, g)) != DQ_OK ||
            (rc = dq_h5_set_attr_int(f, g, "index", (int64_t)i)) != DQ_OK ||
            (rc = dq_h5_set_attr_str(f, g, "op", nodes[i].op)) != DQ_OK ||
            (rc = dq_h5_set_attr_str(f, g, "inputs", nodes[i].inputs)) != DQ_OK)
            break;
        if (strcmp(nodes[i].op, "permute") == 0)
            rc = dq_h5_set_attr_ints(f, g, "dims", perm, 3);
        if (strcmp(nodes[i].op, "softmax") == 0)
            rc = dq_h5_set_attr_int(f, g, "dim", -1);
        if (strcmp(nodes[i].op, "flatten") == 0 &&
            (rc = dq_h5_set_attr_int(f, g, "start_dim", 1)) == DQ_OK)
            rc = dq_h5_set_attr_int(f, g, "end_dim", -1);
        /* parameters: weight (w0, w1) and bias (w0), or the constant */
        int is_c = strcmp(nodes[i].op, "constant") == 0;
        int64_t d0 = is_c ? 8 : nodes[i].w0, d1 = is_c ? 8 : nodes[i].w1;
        int nparams = is_c ? 1 : nodes[i].w0 ? 2 : 0; /* weight, bias */
        for (int t = 0; rc == DQ_OK && t < nparams; t++) {
            dq_tensor *p = t ? dq_tensor_alloc4("bias", 1, d0, 0, 0, 0)
                             : dq_tensor_alloc4("weight", 2, d0, d1, 0, 0);
            rc = put_param(f, g, is_c ? "value" : t ? "bias" : "weight", p, &z);
        }
    }
    if (rc != DQ_OK) {
        dq_h5_abort(f);
        return rc;
    }
    return dq_h5_commit(f);
}

/* Multi-head attention whose matmuls broadcast their batch dims (the
 * engine's torch.matmul semantics), x (4 tokens, 8):
 *   qh = permute(reshape(linear(x), (B,4,2,8)))          (B, 2, 4, 8)
 *   kr = reshape(permute(linear(x)), (B,1,8,4))          (B, 1, 8, 4)
 *   s  = qh · kr        batch (B,2) x (B,1): b over heads (B, 2, 4, 4)
 *   o  = softmax(s) · vr, vr (B,1,4,8): b over heads     (B, 2, 4, 8)
 *   oc = o · c, constant c (2,8,3): b over images        (B, 2, 4, 3)
 *   e  = d · oc, constant d (5,4): a over every batch    (B, 2, 5, 3)
 *   fc = linear(flatten(e)) (3 x 30). */
static int bcast_write(const char *path)
{
    static const struct {
        const char *name, *op, *inputs;
        int n;           /* entries of v */
        int64_t v[4];    /* linear: weight shape; reshape: shape after the
                            batch dim; permute: dims; constant: shape */
    } nodes[] = {
        {"x", "input", "", 0, {0}},
        {"q", "linear", "x", 2, {16, 8}},
        {"qr", "reshape", "q", 3, {4, 2, 8}},
        {"qh", "permute", "qr", 4, {0, 2, 1, 3}},
        {"k", "linear", "x", 2, {8, 8}},
        {"kt", "permute", "k", 3, {0, 2, 1}},
        {"kr", "reshape", "kt", 3, {1, 8, 4}},
        {"s", "matmul", "qh,kr", 0, {0}},
        {"p", "softmax", "s", 0, {0}},
        {"v", "linear", "x", 2, {8, 8}},
        {"vr", "reshape", "v", 3, {1, 4, 8}},
        {"o", "matmul", "p,vr", 0, {0}},
        {"c", "constant", "", 3, {2, 8, 3}},
        {"oc", "matmul", "o,c", 0, {0}},
        {"d", "constant", "", 2, {5, 4}},
        {"e", "matmul", "d,oc", 0, {0}},
        {"f", "flatten", "e", 0, {0}},
        {"fc", "linear", "f", 2, {3, 30}},
    };
    const int64_t shape[2] = {4, 8};
    dq_h5 *f = dq_h5_create(path, "dnateq-model", 1);
    if (!f) return dq_error_status();
    int rc = dq_h5_set_attr_str(f, "/", "output", "fc");
    if (rc == DQ_OK) rc = dq_h5_set_attr_ints(f, "/", "input_shape", shape, 2);
    if (rc == DQ_OK) rc = dq_h5_set_attr_int(f, "/", "num_classes", 3);
    if (rc == DQ_OK) rc = dq_h5_set_attr_str(f, "/", "model_name", "bcast");
    uint64_t z = 91;
    for (size_t i = 0; rc == DQ_OK && i < sizeof nodes / sizeof nodes[0]; i++) {
        const char *op = nodes[i].op;
        char g[64];
        snprintf(g, sizeof g, "/nodes/%s", nodes[i].name);
        if ((rc = dq_h5_mkgroup(f, g)) != DQ_OK ||
            (rc = dq_h5_set_attr_int(f, g, "index", (int64_t)i)) != DQ_OK ||
            (rc = dq_h5_set_attr_str(f, g, "op", op)) != DQ_OK ||
            (rc = dq_h5_set_attr_str(f, g, "inputs", nodes[i].inputs)) != DQ_OK)
            break;
        if (strcmp(op, "reshape") == 0) { /* (-1, v...), -1 = the batch */
            int64_t s[4] = {-1}, bm[4] = {1, 0, 0, 0};
            memcpy(s + 1, nodes[i].v, sizeof(int64_t) * (size_t)nodes[i].n);
            rc = dq_h5_set_attr_ints(f, g, "shape", s, nodes[i].n + 1);
            if (rc == DQ_OK)
                rc = dq_h5_set_attr_ints(f, g, "batch_mult", bm, nodes[i].n + 1);
        }
        if (strcmp(op, "permute") == 0)
            rc = dq_h5_set_attr_ints(f, g, "dims", nodes[i].v, nodes[i].n);
        if (strcmp(op, "softmax") == 0)
            rc = dq_h5_set_attr_int(f, g, "dim", -1);
        if (strcmp(op, "flatten") == 0 &&
            (rc = dq_h5_set_attr_int(f, g, "start_dim", 1)) == DQ_OK)
            rc = dq_h5_set_attr_int(f, g, "end_dim", -1);
        int is_c = strcmp(op, "constant") == 0, is_fc = strcmp(op, "linear") == 0;
        for (int t = 0; rc == DQ_OK && (is_c || is_fc) && t < 1 + is_fc; t++) {
            dq_tensor *p = t ? dq_tensor_alloc("bias", 1, nodes[i].v)
                             : dq_tensor_alloc("weight", nodes[i].n, nodes[i].v);
            rc = put_param(f, g, is_c ? "value" : t ? "bias" : "weight", p, &z);
        }
    }
    if (rc != DQ_OK) {
        dq_h5_abort(f);
        return rc;
    }
    return dq_h5_commit(f);
}

static int setup(void **state)
{
    if (dq_test_fixture_setup(state, "expengine") != 0) return -1;
    const dq_test_fixture *fx = *state;
    tiny_path = dq_test_path(fx->dir, "tiny.h5");
    attn_path = dq_test_path(fx->dir, "attn.h5");
    bcast_path = dq_test_path(fx->dir, "bcast.h5");
    if (tiny_write(tiny_path, TINY_OK) != DQ_OK) return -1;
    if (attn_write(attn_path) != DQ_OK) return -1;
    return bcast_write(bcast_path) == DQ_OK ? 0 : -1;
}

static int teardown(void **state)
{
    free(tiny_path);
    free(attn_path);
    free(bcast_path);
    return dq_test_fixture_teardown(state);
}

/* n images shaped like m's input, uniform in [-1, 2), labels 0..C-1. */
static dq_dataset *random_split(const dq_model *m, int64_t n, uint64_t seed)
{
    dq_dataset *d = calloc(1, sizeof *d);
    assert_non_null(d);
    snprintf(d->split, sizeof d->split, "random");
    int64_t shape[DQ_MAX_RANK] = {n};
    memcpy(shape + 1, m->input_shape, sizeof(int64_t) * (size_t)m->input_rank);
    d->n = n;
    d->images = dq_tensor_alloc("images", m->input_rank + 1, shape);
    d->labels = malloc((size_t)n);
    d->index = calloc((size_t)n, sizeof *d->index);
    assert_true(d->images && d->labels && d->index);
    uint64_t z = seed;
    for (int64_t i = 0; i < d->images->size; i++) {
        z = z * 6364136223846793005ull + 1442695040888963407ull; /* LCG */
        d->images->data[i] = (float)((double)(z >> 11) * 0x1p-53 * 3.0 - 1.0);
    }
    for (int64_t i = 0; i < n; i++) d->labels[i] = (uint8_t)(i % m->num_classes);
    return d;
}

/* A DNA-TEQ-style plan: every tensor expq (weights bw, activations ba
 * bits), one base for the whole model so that every layer shares it;
 * per_channel / scheme variations for the rejection tests. */
static dq_plan *expq_plan(const dq_model *m, const dq_dataset *cal,
                          const char *scheme, int bw, int ba, double base,
                          int per_channel)
{
    dq_calib *c = dq_calib_capture(m, cal, 16, 1 << 20, 1, 0);
    assert_non_null(c);
    dq_qspec w = {scheme, bw, {0}}, a = {scheme, ba, {0}};
    dq_quant_opts_default(&w.opts);
    dq_quant_opts_default(&a.opts);
    w.opts.fixed_base = a.opts.fixed_base = base;
    w.opts.per_channel = per_channel;
    dq_plan *p = dq_plan_build_all(m, c, &w, &a, "test expq");
    if (!p) fail_msg("%s", dq_error_message());
    dq_calib_free(c);
    return p;
}

/* ---- the hook ---------------------------------------------------------- */

typedef struct {
    int calls, matmul_null_weight, fill; /* fill: node index to fill */
    int fail;
} hook_ctx;

static int hook_fn(void *ctx, const dq_node *node, const dq_tensor *const *x,
                   const dq_tensor *weight, dq_tensor *out, int *done)
{
    hook_ctx *h = ctx;
    h->calls++;
    assert_non_null(x[0]);
    if (node->op == DQ_OP_MATMUL) {
        assert_non_null(x[1]);
        h->matmul_null_weight += weight == NULL;
    } else {
        assert_ptr_equal(weight->data, node->weight->data); /* pristine */
    }
    if (h->fail) return DQ_ERROR(DQ_EINVAL, "hook refuses '%s'", node->name);
    if (node->index == h->fill) {
        for (int64_t i = 0; i < out->size; i++) out->data[i] = 7.0f;
        *done = 1;
    }
    return DQ_OK;
}

static void test_hook(void **state)
{
    (void)state;
    dq_model *m = dq_model_load(attn_path);
    assert_non_null(m);
    dq_dataset *ds = random_split(m, 5, 3);
    dq_engine *e = dq_engine_alloc(m);
    assert_non_null(e);
    float ref[15], got[15];
    assert_int_equal(dq_engine_forward(e, ds->images->data, 5, ref), DQ_OK);

    hook_ctx h = {0, 0, -1, 0};
    dq_engine_set_op_override(e, hook_fn, &h);
    assert_int_equal(dq_engine_forward(e, ds->images->data, 5, got), DQ_OK);
    assert_memory_equal(ref, got, sizeof ref); /* declined: unchanged */
    assert_int_equal(h.calls, 7);              /* 4 linear + 3 matmul */
    assert_int_equal(h.matmul_null_weight, 3);

    h.fill = dq_model_find(m, "fc");
    assert_int_equal(dq_engine_forward(e, ds->images->data, 5, got), DQ_OK);
    for (int i = 0; i < 15; i++) assert_true(got[i] == 7.0f);

    h.fail = 1;
    assert_int_equal(dq_engine_forward(e, ds->images->data, 5, got), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "hook refuses 'q'"));

    dq_engine_set_op_override(e, NULL, NULL);
    assert_int_equal(dq_engine_forward(e, ds->images->data, 5, got), DQ_OK);
    assert_memory_equal(ref, got, sizeof ref);
    dq_engine_free(e);
    dq_dataset_free(ds);
    dq_model_free(m);
}

/* ---- exp-domain vs fake-quant ------------------------------------------ */

/* Every layer's kernel counts over `images` inferences against the closed
 * forms of the plan's optable. */
static void check_counts(const dq_model *m, const dq_plan *p,
                         const dq_expengine *x, int64_t images)
{
    dq_optable *t = dq_optable_alloc(m);
    assert_non_null(t);
    assert_int_equal(dq_optable_set_plan(t, p), DQ_OK);
    assert_int_equal(dq_optable_count(t, 32), DQ_OK);
    assert_int_equal(t->n, dq_expengine_nlayers(x));
    for (int r = 0; r < t->n; r++) {
        const dq_explayer *L = dq_expengine_layer(x, r);
        const dq_opcount *oc = &t->oc[r];
        const dq_layer_prec *pr = &t->prec[r];
        assert_int_equal(L->node, t->node[r]);
        assert_int_equal(pr->arith, DQ_ARITH_EXPQ);
        assert_int_equal(L->counts.pairs, oc->macs * images);
        assert_int_equal(L->counts.outputs, oc->outputs * images);
        assert_int_equal(L->counts.combine_muls, oc->combine_muls * images);
        assert_int_equal(L->counts.combine_adds, oc->combine_adds * images);
        assert_int_equal(L->counts.exp_adds, L->counts.pairs_nz);
        assert_int_equal(L->counts.counter_incs,
                         L->counts.pairs_nz *
                             (1 + pr->beta_w_nz + pr->beta_a_nz));
        assert_int_equal(pr->beta_w_nz, L->params.beta_w != 0.0);
        assert_int_equal(pr->beta_a_nz, L->params.beta_a != 0.0);
        assert_int_equal(dq_opcount_levels(pr->bits_w, pr->signed_w, pr->zero_w),
                         L->params.K_w);
        assert_int_equal(dq_opcount_levels(pr->bits_a, pr->signed_a, pr->zero_a),
                         L->params.K_a);
        assert_int_equal(L->counter_bits,
                         dq_expdot_counter_bits_needed(L->reduction));
        if (pr->signed_w || pr->signed_a) /* the kernel's counters are signed */
            assert_int_equal(oc->counter_bits, L->counter_bits);
        assert_true(L->counts.pairs_nz > 0);
        assert_true(L->counts.pairs_nz <= L->counts.pairs);
    }
    dq_optable_free(t);
}

/* The exactness rule: logits within 1e-4 relative on every image whose
 * layer-input codes agree in both paths, and any code flip starting at a
 * float32 near-tie of a threshold (expengine.h).  On the models here no
 * image flips, so every image is within 1e-4 (measured ~3e-7). */
static void assert_check_exact(const dq_expcheck *c)
{
    printf("  %lld code flips in %lld images, max rel %.3g (%.3g without "
           "flips), first-flip gap %.3g\n", (long long)c->code_flips,
           (long long)c->flip_images, c->max_rel, c->max_rel_noflip,
           c->max_flip_gap);
    assert_true((c->code_flips == 0) == (c->flip_images == 0));
    assert_true(c->flip_images <= c->images);
    assert_true(c->max_rel_noflip <= 1e-4);
    assert_true(c->max_flip_gap <= 1e-4);
    assert_true(c->max_rel_noflip <= c->max_rel);
    if (c->flip_images == 0) assert_true(c->max_rel == c->max_rel_noflip);
    /* where: the worst image, its first flips, the largest gap */
    assert_true(c->worst_image >= -1 && c->worst_image < c->images);
    assert_true((c->worst_image < 0) == (c->max_rel == 0.0));
    assert_true((c->first_disagree < 0) == (c->agree == c->images));
    assert_true((c->gap_image < 0) == (c->flip_images == 0));
    assert_true((c->worst_layer < 0) == (c->worst_flips == 0));
    assert_true(c->worst_first <= c->worst_flips);
    if (c->flip_images == 0) assert_int_equal(c->gap_layer, -1);
}

/* Logits of the exp-domain path at `threads` OpenMP threads. */
static float *exp_logits(dq_expengine *x, const dq_model *m,
                         const dq_dataset *ds, int threads)
{
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    dq_engine *e = dq_engine_alloc(m);
    float *l = malloc(sizeof(float) * (size_t)(ds->n * m->num_classes));
    assert_true(e && l);
    assert_int_equal(dq_expengine_attach(x, e), DQ_OK);
    assert_int_equal(dq_engine_forward(e, ds->images->data, (int)ds->n, l), DQ_OK);
    dq_engine_free(e);
    omp_set_num_threads(saved);
    return l;
}

static void check_model(const char *path, int bw, int ba, double base)
{
    dq_model *m = dq_model_load(path);
    assert_non_null(m);
    dq_dataset *cal = random_split(m, 64, 11), *ds = random_split(m, 48, 12);
    dq_plan *p = expq_plan(m, cal, "expq", bw, ba, base, 0);
    dq_expengine *x = dq_expengine_alloc(m, p);
    if (!x) fail_msg("%s", dq_error_message());

    dq_expcheck c;
    assert_int_equal(dq_expengine_check(x, ds, 0, 20, 0, &c), DQ_OK);
    printf("%s: %lld images, %lld agree, max rel %.3g, max abs %.3g\n", m->name,
           (long long)c.images, (long long)c.agree, c.max_rel, c.max_abs);
    assert_int_equal(c.images, 48);
    assert_int_equal(c.agree, 48);
    assert_int_equal(c.exp_correct, c.fq_correct);
    assert_check_exact(&c);
    check_counts(m, p, x, 48);

    float *l1 = exp_logits(x, m, ds, 1), *l2 = exp_logits(x, m, ds, 2);
    assert_memory_equal(l1, l2, sizeof(float) * (size_t)(48 * m->num_classes));
    free(l1);
    free(l2);
    dq_expengine_free(x);
    dq_plan_free(p);
    dq_dataset_free(cal);
    dq_dataset_free(ds);
    dq_model_free(m);
}

static void test_tiny(void **state)
{
    (void)state;
    check_model(tiny_path, 4, 5, 1.5);
    check_model(tiny_path, 3, 8, 1.9);
}

static void test_attention(void **state)
{
    (void)state;
    check_model(attn_path, 5, 4, 1.4);
}

/* Matmuls whose batch dims broadcast, on either operand: the engine's
 * shapes, then the same rule as above (the counts against dq_optable,
 * which reads every broadcast operand once per inference). */
static void test_broadcast(void **state)
{
    (void)state;
    dq_model *m = dq_model_load(bcast_path);
    if (!m) fail_msg("%s", dq_error_message());
    dq_shape *sh = calloc((size_t)m->n_nodes, sizeof *sh);
    assert_non_null(sh);
    assert_int_equal(dq_model_shapes(m, 3, sh), DQ_OK);
    static const struct { const char *name; int rank; int64_t d[4]; } want[] = {
        {"s", 4, {3, 2, 4, 4}}, {"o", 4, {3, 2, 4, 8}},
        {"oc", 4, {3, 2, 4, 3}}, {"e", 4, {3, 2, 5, 3}}};
    for (int i = 0; i < 4; i++) {
        const dq_shape *s = &sh[dq_model_find(m, want[i].name)];
        assert_int_equal(s->rank, want[i].rank);
        assert_memory_equal(s->d, want[i].d, sizeof(int64_t) * 4);
    }
    free(sh);
    dq_model_free(m);
    check_model(bcast_path, 5, 4, 1.4);
    check_model(bcast_path, 3, 6, 1.7);
}

/* The consumer rule for output bits, and the per-scheme precisions. */
static void test_optable(void **state)
{
    (void)state;
    dq_model *m = dq_model_load(attn_path);
    assert_non_null(m);
    dq_optable *t = dq_optable_alloc(m);
    assert_non_null(t);
    /* rows: q k s v o oc fc (node order) */
    assert_int_equal(t->n, 7);
    assert_int_equal(dq_optable_set_int(t, 4, 6), DQ_OK);
    t->prec[2].bits_w = 3; /* s's input 1 (kt) in the weight role */
    t->prec[4].bits_a = 5; /* o reads p (softmax of s) as input 0 */
    assert_int_equal(dq_optable_count(t, 16), DQ_OK);
    assert_int_equal(t->prec[0].bits_o, 6); /* q -> s input 0 */
    assert_int_equal(t->prec[1].bits_o, 3); /* k -> kt -> s input 1 */
    assert_int_equal(t->prec[2].bits_o, 5); /* s -> softmax -> o input 0 */
    assert_int_equal(t->prec[3].bits_o, 4); /* v -> o input 1 (weight role) */
    assert_int_equal(t->prec[4].bits_o, 6); /* o -> oc input 0 */
    assert_int_equal(t->prec[5].bits_o, 6); /* oc -> flatten -> fc */
    assert_int_equal(t->prec[6].bits_o, 16); /* fc: the logits */
    /* dims: s = 4x8 . 8x4 per image; oc reads the constant once */
    assert_int_equal(t->dims[2].outputs, 16);
    assert_int_equal(t->dims[2].reduction, 8);
    assert_int_equal(t->dims[5].w_elems, 64);
    assert_int_equal(t->dims[0].outputs, 32); /* 4 tokens x 8 */
    dq_opcount sum;
    dq_optable_total(t, &sum);
    assert_int_equal(sum.macs, 3 * 256 + 128 + 128 + 256 + 96);
    assert_int_equal(dq_optable_set_log2(t, 0), DQ_OK);
    assert_int_equal(t->prec[2].arith, DQ_ARITH_LOG2);
    assert_int_equal(t->prec[2].bits_w, 3);
    dq_optable_set_fp32(t);
    assert_int_equal(dq_optable_set_log2(t, 0), DQ_EINVAL); /* 32 bits */
    assert_int_equal(dq_optable_set_int(t, 0, 8), DQ_EINVAL);
    dq_optable_free(t);
    dq_model_free(m);
}

/* ---- rejections --------------------------------------------------------- */

static void expect_reject(const dq_model *m, const dq_plan *p, int status,
                          const char *needle)
{
    dq_error_clear();
    assert_null(dq_expengine_alloc(m, p));
    assert_int_equal(dq_error_status(), status);
    if (!strstr(dq_error_message(), needle))
        fail_msg("message '%s' lacks '%s'", dq_error_message(), needle);
}

static void test_rejects(void **state)
{
    (void)state;
    dq_model *m = dq_model_load(tiny_path);
    assert_non_null(m);
    dq_dataset *cal = random_split(m, 32, 5);
    dq_plan *p = expq_plan(m, cal, "uniform", 8, 8, 0, 0);
    expect_reject(m, p, DQ_EUNSUP, "layer 'conv': the exponential domain "
                                   "needs expq on both operands");
    dq_plan_free(p);
    p = expq_plan(m, cal, "expq", 4, 4, 1.5, 1);
    expect_reject(m, p, DQ_EUNSUP, "per-channel");
    dq_plan_free(p);
    p = expq_plan(m, cal, "expq", 4, 4, 0, 0); /* each tensor its own base */
    expect_reject(m, p, DQ_EINVAL, "share one base");
    dq_optable *t = dq_optable_alloc(m);
    assert_non_null(t);
    assert_int_equal(dq_optable_set_plan(t, p), DQ_EINVAL);
    dq_optable_free(t);
    dq_plan_free(p);
    dq_dataset_free(cal);
    dq_model_free(m);
}

/* ---- the drivers ---------------------------------------------------------- */

#define ENERGY "build/san/bin/dnateq-energy"
#define EXPDOT "build/san/bin/dnateq-expdot"

/* The lines of path that are not '#' comments (malloc()ed, n returned);
 * asserts that the provenance comments are there. */
static int data_lines(const char *path, char ***lines)
{
    char *text;
    size_t len;
    assert_int_equal(dq_test_read_file(path, &text, &len), 0);
    assert_non_null(strstr(text, "# created_by: "));
    assert_non_null(strstr(text, "# seed: 1\n"));
    assert_true(strstr(text, "#   [energy_run]") || strstr(text, "#   [expdot]"));
    int n = 0;
    *lines = calloc(64, sizeof **lines);
    for (char *l = strtok(text, "\n"); l && n < 64; l = strtok(NULL, "\n"))
        if (*l != '#') (*lines)[n++] = strdup(l);
    free(text);
    return n;
}

static void free_lines(char **lines, int n)
{
    for (int i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

/* dnateq-energy and dnateq-expdot on a 28x28 model and its plans written
 * here: every output file, their columns and provenance; bad inputs. */
static void test_drivers(void **state)
{
    const dq_test_fixture *fx = *state;
    if (!dq_test_exists(ENERGY) || !dq_test_exists(EXPDOT)) {
        printf("drivers: %s or %s not built, skipped\n", ENERGY, EXPDOT);
        skip();
    }
    char *zoo = dq_test_path(fx->dir, "tiny28.h5");
    char *dplan = dq_test_path(fx->dir, "tiny28_dnateq.h5");
    char *uplan = dq_test_path(fx->dir, "tiny28_mpu.h5");
    assert_int_equal(tiny28_write(zoo), DQ_OK);
    dq_model *m = dq_model_load(zoo);
    assert_non_null(m);
    dq_dataset *cal = random_split(m, 32, 21);
    dq_plan *p = expq_plan(m, cal, "expq", 4, 4, 1.6, 0);
    assert_int_equal(dq_plan_write(p, dplan), DQ_OK);
    dq_plan_free(p);
    p = expq_plan(m, cal, "uniform", 4, 6, 0, 1);
    assert_int_equal(dq_plan_write(p, uplan), DQ_OK);
    dq_plan_free(p);

    char *out = NULL, **l, cmd[4096]; /* drivers: stdout and stderr in out */
    const char *d = fx->dir;
    snprintf(cmd, sizeof cmd, ENERGY " configs/energy.ini -q --out %s --set "
             "energy_run.models='nosuch tiny28' --set energy_run.zoo_dir=%s "
             "--set energy_run.plans_dir=%s 2>&1", d, d, d);
    int st = dq_test_run(cmd, &out);
    if (st != 0) fail_msg("dnateq-energy: status %d\n%s", st, out);
    assert_non_null(strstr(out, "nosuch")); /* skipped with a warning */
    free(out);
    static const char *const files[] = {
        "summary.md", "summary.tex", "sensitivity.csv", "bops.csv",
        "bops.md", "bops.tex", "tiny28_layers.csv", "tiny28_bars.dat"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char name[256];
        snprintf(name, sizeof name, "energy/%s", files[i]);
        char *f = dq_test_path(d, name);
        if (!dq_test_exists(f)) fail_msg("%s missing", f);
        free(f);
    }
    char *f = dq_test_path(d, "energy/summary.csv");
    int n = data_lines(f, &l);
    free(f);
    assert_int_equal(n, 6); /* header + 5 schemes */
    assert_string_equal(l[0], "model,scheme,label,avg_bits_w,avg_bits_a,"
                        "compute_pj,sram_pj,dram_pj,total_pj,ratio_to_int8,"
                        "saving_vs_int8,saved_compute,saved_sram,saved_dram,"
                        "sram_bits,dram_bits,spilled_layers,streamed_layers");
    static const char *const rows[] = {"tiny28,fp32,", "tiny28,int8,",
                                       "tiny28,dnateq,", "tiny28,mpu,",
                                       "tiny28,log2,"};
    for (int i = 0; i < 5; i++)
        assert_true(strncmp(l[i + 1], rows[i], strlen(rows[i])) == 0);
    assert_non_null(strstr(l[2], ",1.000000,0.000000,")); /* INT8 itself */
    free_lines(l, n);

    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=2 " EXPDOT " configs/expdot.ini"
             " -q --out %s --set expdot.models=tiny28 --set expdot.zoo_dir=%s"
             " --set expdot.plans_dir=%s --set expdot.images=20 --set "
             "run.batch=8 2>&1", d, d, d);
    st = dq_test_run(cmd, &out);
    if (st != 0) fail_msg("dnateq-expdot: status %d\n%s", st, out);
    free(out);
    f = dq_test_path(d, "expdot/summary.csv");
    n = data_lines(f, &l);
    free(f);
    assert_int_equal(n, 2);
    assert_true(strncmp(l[0], "model,images,agree,agreement,max_rel_err,", 41) == 0);
    const char *tail = ",pass_strict,pass_noflip,rule,pass";
    assert_string_equal(l[0] + strlen(l[0]) - strlen(tail), tail);
    assert_true(strncmp(l[1], "tiny28,20,20,1.000000,", 22) == 0);
    /* counts match; both rules pass, the noflip one is in force */
    const char *pass = ",1,1,noflip,1";
    assert_non_null(strstr(l[1], pass));
    assert_string_equal(strstr(l[1], pass), pass);
    free_lines(l, n);

    /* bad input: an unknown pass rule; no model with its files; a plan
     * that is not HDF5 */
    snprintf(cmd, sizeof cmd, EXPDOT " -q --out %s --set expdot.rule=lenient "
             "--set expdot.models=tiny28 --set expdot.zoo_dir=%s --set "
             "expdot.plans_dir=%s 2>&1", d, d, d);
    st = dq_test_run(cmd, &out);
    assert_true(st != 0);
    assert_non_null(strstr(out, "strict|noflip"));
    free(out);
    snprintf(cmd, sizeof cmd, ENERGY " -q --out %s --set "
             "energy_run.models=none 2>&1", d);
    st = dq_test_run(cmd, &out);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "no model with both"));
    free(out);
    assert_int_equal(dq_test_write_file(dplan, "garbage", 7), 0);
    snprintf(cmd, sizeof cmd, ENERGY " -q --out %s --set "
             "energy_run.models=tiny28 --set energy_run.zoo_dir=%s --set "
             "energy_run.plans_dir=%s 2>&1", d, d, d);
    st = dq_test_run(cmd, &out);
    assert_true(st != 0);
    assert_non_null(strstr(out, dplan));
    free(out);
    dq_dataset_free(cal);
    dq_model_free(m);
    free(zoo);
    free(dplan);
    free(uplan);
}

/* ---- the zoo MLP with its DNA-TEQ plan ---------------------------------- */

static void test_zoo_mlp(void **state)
{
    (void)state;
    const char *mp = "data/zoo/mlp.h5", *pp = "results/dnateq/plans/mlp_dnateq.h5";
    if (!dq_test_exists(mp) || !dq_test_exists(pp)) {
        printf("zoo_mlp: %s or %s absent, skipped\n", mp, pp);
        skip();
    }
    dq_dataset *ds = dq_dataset_load(NULL, "test", 1000, 1);
    if (!ds) {
        printf("zoo_mlp: no dataset (%s), skipped\n", dq_error_message());
        skip();
    }
    dq_model *m = dq_model_load(mp);
    dq_plan *p = dq_plan_read(pp);
    assert_true(m && p);
    dq_expengine *x = dq_expengine_alloc(m, p);
    if (!x) fail_msg("%s", dq_error_message());
    dq_expcheck c;
    assert_int_equal(dq_expengine_check(x, ds, MLP_IMAGES, 100, 0, &c), DQ_OK);
    printf("zoo_mlp: %lld images, %lld agree, max rel %.3g (exp %.2f s, "
           "fake-quant %.2f s)\n", (long long)c.images, (long long)c.agree,
           c.max_rel, c.exp_s, c.fq_s);
    assert_int_equal(c.images, MLP_IMAGES);
    assert_int_equal(c.agree, MLP_IMAGES);
    assert_check_exact(&c);
    check_counts(m, p, x, MLP_IMAGES);
    dq_expengine_free(x);
    dq_plan_free(p);
    dq_model_free(m);
    dq_dataset_free(ds);
    dq_dataset_cache_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook),
        cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_broadcast),
        cmocka_unit_test(test_optable),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_drivers),
        cmocka_unit_test(test_zoo_mlp),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
