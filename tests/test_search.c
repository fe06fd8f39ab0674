/*
 * test_search.c — the adaptive bitwidth search (search.h).
 *
 * On synthetic evaluators (accuracy a known function of the config):
 *   - the budget rule counts images exactly;
 *   - config(tau) picks the cheapest pair within tau on a hand-made table;
 *   - the tau bisection lands exactly on the last config within budget,
 *     with the expected number of evaluations, and reports an unreachable
 *     budget;
 *   - the greedy phase reaches the known optimum of threshold instances,
 *     needs (and makes) a swap on a designed instance, and leaves random
 *     monotone instances 1-optimal (no single tensor can go lower), also
 *     when a separate evaluator orders the candidates;
 *   - max_evals bounds the evaluations and the result stays in budget;
 *   - bad options and configs are rejected (budget < 0, n_min > n_max,
 *     bits 9, unknown scheme).
 * On "templ", a small template classifier of real Fashion-MNIST built in
 * the test (conv -> relu -> fc -> relu -> fc), the whole search with expq
 * and with uniform: val loss within budget, every tensor in the bit
 * range, the plan's own val count equal to the reported one, W and A of
 * a layer sharing the pair search's base, identical results at 1 and 2
 * threads and with prefix caching on or off, and parameters identical to
 * what qinfer's dq_plan_build calibrates.
 * The driver dnateq-dnateq (sanitizer build) on templ: every result file,
 * the exact summary columns with fractions in range, plans that load and
 * fit the model, --merge, and bad configs rejected with exit status 2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "dataset.h"
#include "error.h"
#include "h5io.h"
#include "log.h"
#include "plan.h"
#include "qinfer.h"
#include "quant/expq.h"
#include "quant/qio.h"
#include "search.h"
#include "testutil.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a synthetic problem ------------------------------------------------- */

#define MAXT 16

/* Additive accuracy: correct = ref - sum_t drop[t][bits_t]. */
typedef struct {
    int T;
    int64_t ref;
    int64_t drop[MAXT][DQ_QBITS_MAX + 1];
    int calls, configs;
} additive;

static int additive_eval(void *ctx, const int *base, int n, const int *bits,
                         int64_t *correct)
{
    additive *a = ctx;
    (void)base;
    a->calls++;
    for (int c = 0; c < n; c++) {
        int64_t d = 0;
        for (int t = 0; t < a->T; t++) d += a->drop[t][bits[c * a->T + t]];
        correct[c] = a->ref - d;
        a->configs++;
    }
    return DQ_OK;
}

static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

/* A table of nl layers with random elements and errors falling with bits. */
static dq_search_table *random_table(int nl, int n_min, int n_max)
{
    dq_search_table *t = dq_search_table_alloc(nl, n_min, n_max);
    assert_non_null(t);
    for (int l = 0; l < nl; l++) {
        t->layers[l].elems[0] = 1 + rnd() % 5000;
        t->layers[l].elems[1] = 1 + rnd() % 5000;
        t->layers[l].is_weight[0] = 1;
        double s0 = 0.5 + (rnd() % 1000) / 1000.0;
        double s1 = 0.5 + (rnd() % 1000) / 1000.0;
        for (int b0 = n_min; b0 <= n_max; b0++)
            for (int b1 = n_min; b1 <= n_max; b1++) {
                int64_t e = dq_search_table_entry(t, l, b0, b1);
                t->err0[e] = s0 * pow(2.0, -b0);
                t->err1[e] = s1 * pow(2.0, -b1);
                t->err[e] = t->err0[e] + t->err1[e];
            }
    }
    return t;
}

static void opts_for(dq_search_opts *o, const dq_search_table *t)
{
    dq_search_opts_default(o);
    o->n_min = t->n_min;
    o->n_max = t->n_max;
}

static dq_search_problem problem(const dq_search_table *t, additive *a,
                                 int64_t n)
{
    dq_search_problem p = {.table = t, .n_images = n, .ref_correct = a->ref,
                           .eval = additive_eval, .ctx = a};
    return p;
}

static int64_t drop_of(const additive *a, const int *bits)
{
    int64_t d = 0;
    for (int t = 0; t < a->T; t++) d += a->drop[t][bits[t]];
    return d;
}

/* ---- budget rule ----------------------------------------------------------- */

static void test_within(void **state)
{
    (void)state;
    assert_true(dq_search_within(1.0, 5000, 4500, 4450));  /* 50 = 1.0% */
    assert_false(dq_search_within(1.0, 5000, 4500, 4449)); /* 51 */
    assert_true(dq_search_within(0.1, 5000, 4500, 4495));  /* 5 = 0.1% */
    assert_false(dq_search_within(0.1, 5000, 4500, 4494));
    assert_true(dq_search_within(0.0, 5000, 4500, 4500));
    assert_false(dq_search_within(0.0, 5000, 4500, 4499));
    assert_true(dq_search_within(0.0, 5000, 4500, 4600)); /* gains are fine */
}

/* ---- config(tau) -------------------------------------------------------------- */

static void test_tau_config(void **state)
{
    (void)state;
    dq_search_table *t = dq_search_table_alloc(1, 3, 4);
    assert_non_null(t);
    /* weight 10 elements, activation 1: bits of the weight cost more */
    t->layers[0].elems[0] = 10;
    t->layers[0].elems[1] = 1;
    /* err(b0, b1): (3,3) .9  (3,4) .5  (4,3) .6  (4,4) .2 */
    t->err[dq_search_table_entry(t, 0, 3, 3)] = 0.9;
    t->err[dq_search_table_entry(t, 0, 3, 4)] = 0.5;
    t->err[dq_search_table_entry(t, 0, 4, 3)] = 0.6;
    t->err[dq_search_table_entry(t, 0, 4, 4)] = 0.2;
    int b[2];
    dq_search_tau_config(t, 0.1, b); /* nothing feasible: n_max */
    assert_int_equal(b[0], 4);
    assert_int_equal(b[1], 4);
    dq_search_tau_config(t, 0.2, b);
    assert_int_equal(b[0], 4);
    assert_int_equal(b[1], 4);
    dq_search_tau_config(t, 0.55, b); /* (3,4) cost 34 < (4,4) 44 */
    assert_int_equal(b[0], 3);
    assert_int_equal(b[1], 4);
    dq_search_tau_config(t, 0.6, b); /* (4,3) cost 43 > (3,4) 34 */
    assert_int_equal(b[0], 3);
    assert_int_equal(b[1], 4);
    dq_search_tau_config(t, 1.0, b);
    assert_int_equal(b[0], 3);
    assert_int_equal(b[1], 3);
    int64_t n;
    int cfg[2] = {3, 4};
    assert_int_equal(dq_search_cost(t, cfg, 0, &n), 34);
    assert_int_equal(n, 11);
    assert_int_equal(dq_search_cost(t, cfg, 1, &n), 0); /* no weight flag */
    t->layers[0].is_weight[0] = 1;
    assert_int_equal(dq_search_cost(t, cfg, 1, &n), 30);
    assert_int_equal(n, 10);
    assert_int_equal(dq_search_cost(t, cfg, 2, &n), 4);
    assert_int_equal(n, 1);
    dq_search_table_free(t);
}

/* ---- tau bisection ----------------------------------------------------------- */

/* The distinct tau configs, recomputed independently of search.c. */
typedef struct {
    int T, n;
    int cfg[4096][MAXT];
    int64_t boundary; /* configs with index >= boundary fail */
    int calls, configs;
} taulist;

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void taulist_build(taulist *tl, const dq_search_table *t)
{
    int64_t ne = (int64_t)t->nlayers * t->nb * t->nb;
    double *v = malloc(sizeof(double) * (size_t)ne);
    assert_non_null(v);
    memcpy(v, t->err, sizeof(double) * (size_t)ne);
    qsort(v, (size_t)ne, sizeof *v, cmpd);
    tl->T = 2 * t->nlayers;
    tl->n = 1;
    for (int i = 0; i < tl->T; i++) tl->cfg[0][i] = t->n_max;
    for (int64_t i = 0; i < ne; i++) {
        int c[MAXT];
        dq_search_tau_config(t, v[i], c);
        if (memcmp(c, tl->cfg[tl->n - 1], sizeof(int) * tl->T) == 0) continue;
        assert_true(tl->n < 4096);
        memcpy(tl->cfg[tl->n++], c, sizeof(int) * tl->T);
    }
    free(v);
}

/* correct = 100 for configs before the boundary, 0 from it on; configs
 * outside the list are an error in the test. */
static int taulist_eval(void *ctx, const int *base, int n, const int *bits,
                        int64_t *correct)
{
    taulist *tl = ctx;
    (void)base;
    tl->calls++;
    for (int c = 0; c < n; c++) {
        int j = -1;
        for (int i = 0; i < tl->n && j < 0; i++)
            if (memcmp(tl->cfg[i], bits + c * tl->T, sizeof(int) * tl->T) == 0)
                j = i;
        assert_true(j >= 0);
        correct[c] = j < tl->boundary ? 100 : 0;
        tl->configs++;
    }
    return DQ_OK;
}

static void test_bisection(void **state)
{
    (void)state;
    rng_state = 7;
    dq_search_table *t = random_table(5, 3, 8);
    static taulist tl;
    taulist_build(&tl, t);
    int M = tl.n - 1;
    assert_true(M > 20);
    dq_search_opts o;
    opts_for(&o, t);
    o.greedy = 0;
    int steps = 0;
    while ((1 << steps) < M) steps++;
    for (int64_t b = 0; b <= M + 1; b++) {
        tl.boundary = b;
        tl.calls = tl.configs = 0;
        dq_search_problem p = {.table = t, .n_images = 100,
                               .ref_correct = 100, .eval = taulist_eval,
                               .ctx = &tl};
        dq_search_result r;
        assert_int_equal(dq_search_run(&p, &o, &r), DQ_OK);
        assert_int_equal(r.tau_count, tl.n);
        if (b == 0) { /* even all n_max fails */
            assert_false(r.budget_met);
            assert_int_equal(r.tau_index, 0);
        } else {
            assert_true(r.budget_met);
            assert_int_equal(r.tau_index, b - 1);
            assert_int_equal(r.correct, 100);
        }
        assert_memory_equal(r.bits, tl.cfg[r.tau_index], sizeof(int) * tl.T);
        assert_memory_equal(r.start_bits, r.bits, sizeof(int) * tl.T);
        /* both ends in one call, then at most ceil(log2 M) single calls */
        assert_int_equal(tl.configs, r.evals);
        assert_true(r.evals <= 2 + steps);
        if (b >= 1 && b <= M) assert_true(r.evals >= 2 + steps - 1);
        dq_search_result_free(&r);
    }
    /* bisect_steps caps the evaluations; the result stays in budget */
    o.bisect_steps = 2;
    tl.boundary = M / 2 + 1;
    tl.configs = 0;
    dq_search_problem p = {.table = t, .n_images = 100, .ref_correct = 100,
                           .eval = taulist_eval, .ctx = &tl};
    dq_search_result r;
    assert_int_equal(dq_search_run(&p, &o, &r), DQ_OK);
    assert_int_equal(r.evals, 4);
    assert_int_equal(r.correct, 100);
    assert_true(r.tau_index < tl.boundary);
    dq_search_result_free(&r);
    dq_search_table_free(t);
}

/* ---- greedy ------------------------------------------------------------------- */

/* Threshold instance: tensor t loses 1000 images below bit k_t, nothing
 * at or above it.  The optimum is bits = max(k_t, n_min). */
static void test_greedy_threshold(void **state)
{
    (void)state;
    for (int seed = 1; seed <= 20; seed++) {
        rng_state = (uint64_t)seed;
        dq_search_table *t = random_table(6, 3, 8);
        static additive a;
        memset(&a, 0, sizeof a);
        a.T = 12;
        a.ref = 4000;
        int k[12];
        for (int i = 0; i < a.T; i++) {
            k[i] = 2 + (int)(rnd() % 7); /* 2..8 */
            for (int b = 0; b <= DQ_QBITS_MAX; b++)
                a.drop[i][b] = b < k[i] ? 1000 : 0;
        }
        dq_search_opts o;
        opts_for(&o, t);
        dq_search_problem p = problem(t, &a, 5000);
        dq_search_result r;
        assert_int_equal(dq_search_run(&p, &o, &r), DQ_OK);
        assert_false(r.truncated);
        for (int i = 0; i < a.T; i++)
            assert_int_equal(r.bits[i], k[i] < 3 ? 3 : k[i]);
        assert_int_equal(r.correct, 4000);
        assert_int_equal(a.configs, r.evals); /* memo: nothing twice */
        dq_search_result_free(&r);
        dq_search_table_free(t);
    }
}

/* Lowering the big tensor A to 4 bits needs the small sensitive B raised
 * back to 6 bits: the search gets there through a swap.  Budget 10. */
static void test_greedy_swap(void **state)
{
    (void)state;
    dq_search_table *t = dq_search_table_alloc(1, 3, 8);
    assert_non_null(t);
    t->layers[0].elems[0] = 100; /* A */
    t->layers[0].elems[1] = 1;   /* B */
    /* errors that put the tau start at (8, 8) for any budget: only the
     * all-n_max pair is "error 0" and every other pair has error 1 */
    for (int64_t e = 0; e < 36; e++) t->err[e] = 1.0;
    t->err[dq_search_table_entry(t, 0, 8, 8)] = 0.0;
    static additive a;
    memset(&a, 0, sizeof a);
    a.T = 2;
    a.ref = 1000;
    const int64_t dA[9] = {0, 0, 0, 20, 4, 0, 0, 0, 0};
    const int64_t dB[9] = {0, 0, 0, 60, 30, 8, 3, 0, 0};
    memcpy(a.drop[0], dA, sizeof dA);
    memcpy(a.drop[1], dB, sizeof dB);
    dq_search_opts o;
    opts_for(&o, t);
    dq_search_problem p = problem(t, &a, 1000); /* 1% of 1000 = 10 */
    dq_search_result r;
    assert_int_equal(dq_search_run(&p, &o, &r), DQ_OK);
    /* brute force: the cheapest config within budget */
    int best[2] = {8, 8};
    for (int x = 3; x <= 8; x++)
        for (int y = 3; y <= 8; y++) {
            int c[2] = {x, y};
            if (drop_of(&a, c) > 10) continue;
            if (100 * x + y < 100 * best[0] + best[1]) {
                best[0] = x;
                best[1] = y;
            }
        }
    assert_int_equal(best[0], 4);
    assert_int_equal(best[1], 6);
    assert_int_equal(r.bits[0], 4);
    assert_int_equal(r.bits[1], 6);
    assert_int_equal(r.swaps, 1);
    assert_int_equal(r.correct, 1000 - 7);
    dq_search_result_free(&r);
    /* without the swap it stops at the dearer (5, 5) */
    o.swap = 0;
    assert_int_equal(dq_search_run(&p, &o, &r), DQ_OK);
    assert_int_equal(r.swaps, 0);
    assert_true(100 * r.bits[0] + r.bits[1] > 406);
    dq_search_result_free(&r);
    dq_search_table_free(t);
}

/* Random monotone additive instances: in budget, in range, and no single
 * tensor can be lowered at the end. */
static void test_greedy_one_opt(void **state)
{
    (void)state;
    for (int seed = 100; seed < 140; seed++) {
        rng_state = (uint64_t)seed;
        int nl = 1 + (int)(rnd() % 6);
        dq_search_table *t = random_table(nl, 3, 8);
        static additive a;
        memset(&a, 0, sizeof a);
        a.T = 2 * nl;
        a.ref = 9000;
        for (int i = 0; i < a.T; i++) {
            int64_t d = 0; /* drop grows as bits fall */
            for (int b = DQ_QBITS_MAX; b >= 0; b--) {
                a.drop[i][b] = d;
                d += rnd() % (b < 6 ? 40 : 8);
            }
        }
        dq_search_opts o;
        opts_for(&o, t);
        o.budget = 0.5 + (rnd() % 20) / 10.0;
        dq_search_problem p = problem(t, &a, 10000);
        dq_search_result r;
        assert_int_equal(dq_search_run(&p, &o, &r), DQ_OK);
        assert_true(r.budget_met);
        assert_false(r.truncated);
        assert_int_equal(r.correct, a.ref - drop_of(&a, r.bits));
        assert_true(dq_search_within(o.budget, 10000, a.ref, r.correct));
        assert_true(dq_search_cost(t, r.bits, 0, NULL) <=
                    dq_search_cost(t, r.start_bits, 0, NULL));
        for (int i = 0; i < a.T; i++) {
            assert_true(r.bits[i] >= 3 && r.bits[i] <= 8);
            if (r.bits[i] == 3) continue;
            int c[MAXT];
            memcpy(c, r.bits, sizeof(int) * a.T);
            c[i]--;
            assert_false(dq_search_within(o.budget, 10000, a.ref,
                                          a.ref - drop_of(&a, c)));
        }
        dq_search_result_free(&r);
        dq_search_table_free(t);
    }
}

/* With a separate sensitivity evaluator (a different additive accuracy,
 * as on fewer images) the order changes but every decision is the
 * deciding evaluator's: in budget, 1-optimal, evaluations counted apart. */
static void test_greedy_sens_eval(void **state)
{
    (void)state;
    for (int seed = 200; seed < 220; seed++) {
        rng_state = (uint64_t)seed;
        int nl = 2 + (int)(rnd() % 4);
        dq_search_table *t = random_table(nl, 3, 8);
        static additive a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        a.T = b.T = 2 * nl;
        a.ref = 9000;
        b.ref = 1000;
        for (int i = 0; i < a.T; i++) {
            int64_t d = 0, e = 0;
            for (int bit = DQ_QBITS_MAX; bit >= 0; bit--) {
                a.drop[i][bit] = d;
                b.drop[i][bit] = e;
                d += rnd() % (bit < 6 ? 40 : 8);
                e += rnd() % 10;
            }
        }
        dq_search_opts o;
        opts_for(&o, t);
        dq_search_problem p = problem(t, &a, 10000);
        p.sens_eval = additive_eval;
        p.sens_ctx = &b;
        dq_search_result r;
        assert_int_equal(dq_search_run(&p, &o, &r), DQ_OK);
        assert_false(r.truncated);
        assert_true(r.rounds >= 1);
        assert_int_equal(r.sens_evals, b.configs);
        assert_int_equal(r.evals, a.configs + b.configs);
        assert_int_equal(r.correct, a.ref - drop_of(&a, r.bits));
        assert_true(dq_search_within(o.budget, 10000, a.ref, r.correct));
        for (int i = 0; i < a.T; i++) {
            if (r.bits[i] == 3) continue;
            int c[MAXT];
            memcpy(c, r.bits, sizeof(int) * a.T);
            c[i]--;
            assert_false(dq_search_within(o.budget, 10000, a.ref,
                                          a.ref - drop_of(&a, c)));
        }
        dq_search_result_free(&r);
        dq_search_table_free(t);
    }
}

/* max_evals: never more evaluations; the config returned is in budget. */
static void test_max_evals(void **state)
{
    (void)state;
    rng_state = 99;
    dq_search_table *t = random_table(6, 3, 8);
    static additive a;
    memset(&a, 0, sizeof a);
    a.T = 12;
    a.ref = 9000;
    for (int i = 0; i < a.T; i++)
        for (int b = 0; b <= 8; b++) a.drop[i][b] = (8 - b) * (i + 1);
    dq_search_opts o;
    opts_for(&o, t);
    dq_search_problem p = problem(t, &a, 10000);
    dq_search_result full;
    assert_int_equal(dq_search_run(&p, &o, &full), DQ_OK);
    assert_false(full.truncated);
    for (int cap = 1; cap < full.evals; cap += 3) {
        o.max_evals = cap;
        a.configs = 0;
        dq_search_result r;
        assert_int_equal(dq_search_run(&p, &o, &r), DQ_OK);
        assert_true(r.truncated);
        assert_true(r.evals <= cap);
        assert_int_equal(a.configs, r.evals);
        assert_true(dq_search_within(o.budget, 10000, a.ref, r.correct));
        assert_int_equal(r.correct, a.ref - drop_of(&a, r.bits));
        dq_search_result_free(&r);
    }
    dq_search_result_free(&full);
    dq_search_table_free(t);
}

/* An evaluator error aborts the search with its status and message. */
static int failing_eval(void *ctx, const int *base, int n, const int *bits,
                        int64_t *correct)
{
    (void)ctx;
    (void)base;
    (void)n;
    (void)bits;
    (void)correct;
    return DQ_ERROR(DQ_EIO, "fake.h5: evaluator failed");
}

static void test_eval_error(void **state)
{
    (void)state;
    rng_state = 5;
    dq_search_table *t = random_table(2, 3, 8);
    dq_search_opts o;
    opts_for(&o, t);
    dq_search_problem p = {.table = t, .n_images = 10, .ref_correct = 9,
                           .eval = failing_eval};
    dq_search_result r;
    assert_int_equal(dq_search_run(&p, &o, &r), DQ_EIO);
    assert_non_null(strstr(dq_error_message(), "fake.h5: evaluator failed"));
    assert_null(r.bits);
    p.ref_correct = 11; /* more than n_images */
    p.eval = additive_eval;
    assert_int_equal(dq_search_run(&p, &o, &r), DQ_EINVAL);
    dq_search_table_free(t);
}

/* ---- on a model ------------------------------------------------------------- */

/* "templ": a nearest-class-template classifier on real Fashion-MNIST,
 * written with h5io (no PyTorch):
 *   x (1,28,28) -> c1 conv 1x1, 2 channels (weights +1, -1; bias 0)
 *   -> relu -> flatten (1568) -> fc1 linear 20x1568 -> relu -> fc2 (10x20)
 * fc1 row c (< 10) = [mu_c, -mu_c] . [relu(x), relu(-x)] = mu_c . x with
 * bias -|mu_c|^2/2, rows 10.. the negatives, fc2 = [I, -I]: the logits
 * are mu_c . x - |mu_c|^2/2, with mu_c the class means over the calib
 * images.  Three quantizable layers with different distributions. */
static int write_node(dq_h5 *f, const char *name, int index, const char *op,
                      const char *inputs)
{
    char obj[128];
    snprintf(obj, sizeof obj, "/nodes/%s", name);
    DQ_TRY(dq_h5_mkgroup(f, obj));
    DQ_TRY(dq_h5_set_attr_int(f, obj, "index", index));
    DQ_TRY(dq_h5_set_attr_str(f, obj, "op", op));
    return dq_h5_set_attr_str(f, obj, "inputs", inputs);
}

static int write_param(dq_h5 *f, const char *node, const char *name,
                       const dq_tensor *t)
{
    char obj[128];
    snprintf(obj, sizeof obj, "/nodes/%s/%s", node, name);
    return dq_h5_write_tensor(f, obj, t, 0);
}

static int templ_body(dq_h5 *f, const dq_dataset *d)
{
    int64_t shp[3] = {1, 28, 28}, one[2] = {1, 1}, zero[2] = {0, 0};
    DQ_TRY(dq_h5_set_attr_str(f, "/", "output", "fc2"));
    DQ_TRY(dq_h5_set_attr_ints(f, "/", "input_shape", shp, 3));
    DQ_TRY(dq_h5_set_attr_int(f, "/", "num_classes", 10));
    DQ_TRY(dq_h5_set_attr_double(f, "/", "norm_mean", d->mean));
    DQ_TRY(dq_h5_set_attr_double(f, "/", "norm_std", d->std));
    DQ_TRY(dq_h5_set_attr_str(f, "/", "model_name", "templ"));
    DQ_TRY(write_node(f, "x", 0, "input", ""));
    DQ_TRY(write_node(f, "c1", 1, "conv2d", "x"));
    DQ_TRY(dq_h5_set_attr_ints(f, "/nodes/c1", "stride", one, 2));
    DQ_TRY(dq_h5_set_attr_ints(f, "/nodes/c1", "padding", zero, 2));
    DQ_TRY(dq_h5_set_attr_ints(f, "/nodes/c1", "dilation", one, 2));
    DQ_TRY(dq_h5_set_attr_int(f, "/nodes/c1", "groups", 1));
    DQ_TRY(write_node(f, "r1", 2, "relu", "c1"));
    DQ_TRY(write_node(f, "flat", 3, "flatten", "r1"));
    DQ_TRY(dq_h5_set_attr_int(f, "/nodes/flat", "start_dim", 1));
    DQ_TRY(dq_h5_set_attr_int(f, "/nodes/flat", "end_dim", -1));
    DQ_TRY(write_node(f, "fc1", 4, "linear", "flat"));
    DQ_TRY(write_node(f, "r2", 5, "relu", "fc1"));
    DQ_TRY(write_node(f, "fc2", 6, "linear", "r2"));

    double mu[10][784] = {{0}};
    int64_t cnt[10] = {0};
    for (int64_t i = 0; i < d->n; i++) {
        cnt[d->labels[i]]++;
        for (int j = 0; j < 784; j++)
            mu[d->labels[i]][j] += d->images->data[i * 784 + j];
    }
    dq_tensor *cw = dq_tensor_alloc4("weight", 4, 2, 1, 1, 1);
    dq_tensor *cb = dq_tensor_calloc("bias", 1, (int64_t[]){2});
    dq_tensor *w1 = dq_tensor_alloc4("weight", 2, 20, 1568, 0, 0);
    dq_tensor *b1 = dq_tensor_alloc4("bias", 1, 20, 0, 0, 0);
    dq_tensor *w2 = dq_tensor_calloc("weight", 2, (int64_t[]){10, 20});
    dq_tensor *b2 = dq_tensor_calloc("bias", 1, (int64_t[]){10});
    assert_true(cw && cb && w1 && b1 && w2 && b2);
    cw->data[0] = 1;
    cw->data[1] = -1;
    for (int c = 0; c < 10; c++) {
        double sq = 0;
        for (int j = 0; j < 784; j++) {
            float m = (float)(mu[c][j] / (double)cnt[c]);
            sq += (double)m * m;
            w1->data[c * 1568 + j] = m;
            w1->data[c * 1568 + 784 + j] = -m;
            w1->data[(c + 10) * 1568 + j] = -m;
            w1->data[(c + 10) * 1568 + 784 + j] = m;
        }
        b1->data[c] = (float)(-sq / 2);
        b1->data[c + 10] = (float)(sq / 2);
        w2->data[c * 20 + c] = 1;
        w2->data[c * 20 + c + 10] = -1;
    }
    int rc = write_param(f, "c1", "weight", cw);
    if (rc == DQ_OK) rc = write_param(f, "c1", "bias", cb);
    if (rc == DQ_OK) rc = write_param(f, "fc1", "weight", w1);
    if (rc == DQ_OK) rc = write_param(f, "fc1", "bias", b1);
    if (rc == DQ_OK) rc = write_param(f, "fc2", "weight", w2);
    if (rc == DQ_OK) rc = write_param(f, "fc2", "bias", b2);
    dq_tensor_free(cw);
    dq_tensor_free(cb);
    dq_tensor_free(w1);
    dq_tensor_free(b1);
    dq_tensor_free(w2);
    dq_tensor_free(b2);
    return rc;
}

#define CALIB 300
#define SEED 3

typedef struct {
    char *dir, *path;
    dq_qsession *s;
} model_fx;

static int model_setup(void **state)
{
    model_fx *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    fx->dir = dq_test_mkdtemp("search");
    if (!fx->dir) return -1;
    fx->path = dq_test_path(fx->dir, "templ.h5");
    dq_dataset *d = dq_dataset_load(NULL, "calib", CALIB, SEED);
    if (!d) return -1;
    dq_h5 *f = dq_h5_create(fx->path, "dnateq-model", 1);
    int rc = f ? templ_body(f, d) : -1;
    if (rc == DQ_OK) rc = dq_h5_commit(f);
    else dq_h5_abort(f);
    dq_dataset_free(d);
    if (rc != DQ_OK) return -1;
    fx->s = dq_qsession_open(fx->path, NULL, CALIB, SEED, 256, NULL, 0);
    if (!fx->s) return -1;
    *state = fx;
    return 0;
}

static int model_teardown(void **state)
{
    model_fx *fx = *state;
    dq_qsession_free(fx->s);
    dq_test_rmtree(fx->dir);
    free(fx->dir);
    free(fx->path);
    free(fx);
    return 0;
}

static void model_opts(dq_search_opts *o, const char *scheme)
{
    dq_search_opts_default(o);
    snprintf(o->scheme, sizeof o->scheme, "%s", scheme);
    o->val_images = 1000;
    o->sens_images = 400;
    o->act_samples = 40000;
}

/* Correct count of plan p on the first n val images. */
static int64_t val_prefix_correct(dq_qsession *s, const dq_plan *p, int64_t n)
{
    const dq_dataset *v = dq_qsession_split(s, "val");
    int64_t *pred = malloc(sizeof(int64_t) * (size_t)v->n), correct = 0, all;
    assert_non_null(pred);
    assert_int_equal(dq_qinfer_evaluate(s->model, p, v, 256, &all, pred, 0,
                                        "t"), DQ_OK);
    for (int64_t i = 0; i < n; i++) correct += pred[i] == v->labels[i];
    free(pred);
    return correct;
}

static void check_search(model_fx *fx, const dq_search_opts *o,
                         const dq_search_result *r,
                         const dq_search_output *out)
{
    /* the model is a real classifier */
    assert_true(out->val_ref > 600 && out->val_ref <= 1000);
    assert_int_equal(out->val_images, 1000);
    assert_true(r->budget_met);
    assert_true(r->evals <= o->max_evals);
    /* loss within budget: 1.0 point of 1000 images = 10 */
    assert_true(out->val_ref - r->correct <= 10);
    /* bits in range, in the result and in the plan */
    assert_int_equal(r->ntensors, 6);
    for (int i = 0; i < r->ntensors; i++)
        assert_true(r->bits[i] >= o->n_min && r->bits[i] <= o->n_max);
    assert_int_equal(dq_plan_check_bits(out->plan, o->n_min, o->n_max), DQ_OK);
    assert_int_equal(dq_plan_check(out->plan, fx->s->model), DQ_OK);
    for (int l = 0; l < 3; l++) {
        const dq_plan_layer *L = &out->plan->layers[l];
        assert_int_equal(L->t[DQ_PLAN_W].bits, r->bits[2 * l]);
        assert_int_equal(L->t[DQ_PLAN_A0].bits, r->bits[2 * l + 1]);
        assert_string_equal(L->t[DQ_PLAN_W].scheme, o->scheme);
    }
    /* the reported val count is the plan's, evaluated independently */
    assert_int_equal(val_prefix_correct(fx->s, out->plan, 1000), r->correct);
    /* it is cheaper than all-8 */
    int all8[6] = {8, 8, 8, 8, 8, 8};
    assert_true(dq_search_cost(out->table, r->bits, 0, NULL) <
                dq_search_cost(out->table, all8, 0, NULL));
}

/* DNA-TEQ: in budget, in range; each layer's W and A share the base of
 * the pair search; identical at 1 and 2 threads and with or without
 * prefix caching. */
static void test_model_expq(void **state)
{
    model_fx *fx = *state;
    dq_search_opts o;
    model_opts(&o, "expq");
    dq_quant_opts q;
    dq_quant_opts_default(&q);
    dq_search_result r[3];
    dq_search_output out[3];
    int threads[3] = {1, 2, 2};
    for (int i = 0; i < 3; i++) {
        omp_set_num_threads(threads[i]);
        o.prefix_cache = i < 2;
        assert_int_equal(dq_search_session(fx->s, &o, &q, &q, "DNA-TEQ",
                                           &r[i], &out[i]), DQ_OK);
        check_search(fx, &o, &r[i], &out[i]);
    }
    omp_set_num_threads(2);
    const dq_search_table *t = out[0].table;
    int64_t ne = (int64_t)t->nlayers * t->nb * t->nb;
    for (int i = 1; i < 3; i++) {
        assert_memory_equal(r[i].bits, r[0].bits, sizeof(int) * 6);
        assert_int_equal(r[i].correct, r[0].correct);
        assert_int_equal(r[i].evals, r[0].evals);
        assert_memory_equal(out[i].table->err, t->err, sizeof(double) * ne);
        assert_memory_equal(out[i].table->shared_base, t->shared_base,
                            sizeof(double) * ne);
        for (int l = 0; l < 3; l++)
            for (int k = 0; k < DQ_PLAN_SLOTS; k++) {
                const dq_plan_tensor *a = &out[0].plan->layers[l].t[k];
                const dq_plan_tensor *b = &out[i].plan->layers[l].t[k];
                if (a->qp) assert_true(dq_qparams_equal(a->qp, b->qp));
            }
    }
    /* shared base: both operands of every entry use the base that the
     * expq pair search finds for them */
    for (int l = 0; l < 3; l++) {
        const dq_plan_layer *L = &out[0].plan->layers[l];
        assert_true(L->shared_base > 1);
        assert_true(L->t[DQ_PLAN_W].qp->chan[0].p[0] == L->shared_base);
        assert_true(L->t[DQ_PLAN_A0].qp->chan[0].p[0] == L->shared_base);
    }
    const dq_model *m = fx->s->model;
    const dq_calib *c = dq_qsession_samples(fx->s);
    const dq_actsample *a = dq_calib_get(c, t->layers[1].node, 0);
    const dq_tensor *w = m->nodes[t->layers[1].node].weight;
    dq_expq_fit fw, fa;
    assert_int_equal(dq_expq_search_pair(w->data, w->size, 4, -1, a->x,
                                         a->sampled, 6, -1, &q, &fw, &fa),
                     DQ_OK);
    int64_t e = dq_search_table_entry(t, 1, 4, 6);
    assert_true(t->shared_base[e] == fw.base);
    assert_true(t->params[2 * e]->chan[0].p[0] == fw.base);
    assert_true(t->params[2 * e + 1]->chan[0].p[0] == fw.base);
    /* and the weight's alpha, beta are the pair search's */
    assert_true(t->params[2 * e]->chan[0].p[1] == fw.alpha);
    assert_true(t->params[2 * e]->chan[0].p[2] == fw.beta);
    /* the table's RMAE is the measured one */
    dq_qerror qe;
    assert_int_equal(dq_quant_measure(dq_quant_find("expq"), w, 4,
                                      &t->params[2 * e]->opts, &qe, NULL),
                     DQ_OK);
    assert_true(fabs(qe.rmae - t->err0[e]) <= 1e-12);
    assert_true(t->err[e] == t->err0[e] + t->err1[e]);
    /* errors fall with bits (weights: same tensor, more levels) */
    for (int b = 3; b < 8; b++)
        assert_true(t->err0[dq_search_table_entry(t, 1, b + 1, 8)] <
                    t->err0[dq_search_table_entry(t, 1, b, 8)]);
    for (int i = 0; i < 3; i++) {
        dq_search_result_free(&r[i]);
        dq_search_output_free(&out[i]);
    }
}

/* The same search with the uniform quantizer (the mixed-precision
 * baseline): nothing shared, same invariants, and the table's parameters
 * are what dq_plan_build calibrates for the same spec. */
static void test_model_uniform(void **state)
{
    model_fx *fx = *state;
    dq_search_opts o;
    model_opts(&o, "uniform");
    dq_quant_opts qw, qa;
    dq_quant_opts_default(&qw);
    qw.per_channel = 1;
    qa = qw;
    dq_search_result r;
    dq_search_output out;
    assert_int_equal(dq_search_session(fx->s, &o, &qw, &qa, "MP-uniform", &r,
                                       &out), DQ_OK);
    check_search(fx, &o, &r, &out);
    const dq_search_table *t = out.table;
    dq_qspec spec[3 * DQ_PLAN_SLOTS];
    memset(spec, 0, sizeof spec);
    for (int l = 0; l < 3; l++) {
        assert_true(out.plan->layers[l].shared_base == 0);
        spec[l * DQ_PLAN_SLOTS + DQ_PLAN_W] =
            (dq_qspec){.scheme = "uniform", .bits = r.bits[2 * l], .opts = qw};
        spec[l * DQ_PLAN_SLOTS + DQ_PLAN_A0] =
            (dq_qspec){.scheme = "uniform", .bits = r.bits[2 * l + 1],
                       .opts = qa};
    }
    dq_plan *p = dq_plan_build(fx->s->model, dq_qsession_samples(fx->s), spec,
                               "x");
    assert_non_null(p);
    for (int l = 0; l < 3; l++) {
        assert_true(p->layers[l].t[DQ_PLAN_W].qp->per_channel);
        for (int k = 0; k < 2; k++)
            assert_true(dq_qparams_equal(p->layers[l].t[k].qp,
                                         out.plan->layers[l].t[k].qp));
    }
    /* the all-8 uniform entry costs little error */
    assert_true(t->err[dq_search_table_entry(t, 1, 8, 8)] < 0.05);
    dq_plan_free(p);
    dq_search_result_free(&r);
    dq_search_output_free(&out);
}

/* ---- the driver --------------------------------------------------------------- */

#define DRIVER "build/san/bin/dnateq-dnateq"
#define SMALL                                                                 \
    " --set run.calib_size=200 --set search.val_images=500"                  \
    " --set search.sens_images=200 --set search.act_samples=20000"           \
    " --set mpu.val_images=500 --set mpu.sens_images=200"                    \
    " --set mpu.act_samples=20000"

static int run_driver(const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, DRIVER " configs/dnateq.ini %s 2>&1", args);
    return dq_test_run(cmd, out);
}

/* The fraction in column i (1-based) of a CSV line. */
static double csv_col(const char *line, int i)
{
    const char *p = line;
    for (int k = 1; k < i; k++) {
        p = strchr(p, ',');
        assert_non_null(p);
        p++;
    }
    return strtod(p, NULL);
}

/* A whole run on templ, then --merge: every result file, the exact
 * summary columns, plans that load and fit the model. */
static void test_driver_run(void **state)
{
    model_fx *fx = *state;
    char args[1024], *out = NULL;
    snprintf(args, sizeof args, "--model %s --out %s -q" SMALL, fx->path,
             fx->dir);
    int rc = run_driver(args, &out);
    if (rc != 0) fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "DNA-TEQ"));
    free(out);
    static const char *const files[] = {
        "dnateq/templ.csv", "dnateq/templ_detail.csv", "dnateq/templ_layers.csv",
        "dnateq/templ.ini", "dnateq/plans/templ_dnateq.h5",
        "dnateq/plans/templ_mpu.h5", NULL};
    for (int i = 0; files[i]; i++) {
        char *p = dq_test_path(fx->dir, files[i]);
        assert_true(dq_test_exists(p));
        free(p);
    }
    char *p = dq_test_path(fx->dir, "dnateq/templ.csv"), *text;
    size_t len;
    assert_int_equal(dq_test_read_file(p, &text, &len), 0);
    free(p);
    const char *hdr = "model,fp32_top1,int8_top1,dnateq_top1,dnateq_ci_low,"
                      "dnateq_ci_high,avg_bits_w,avg_bits_a,avg_bits,"
                      "compression_vs_int8,search_s\n";
    assert_memory_equal(text, hdr, strlen(hdr));
    const char *row = text + strlen(hdr);
    assert_memory_equal(row, "templ,", 6);
    for (int c = 2; c <= 6; c++) { /* accuracies and the interval */
        double v = csv_col(row, c);
        assert_true(v > 0.5 && v <= 1.0);
    }
    assert_true(csv_col(row, 5) <= csv_col(row, 4));
    assert_true(csv_col(row, 4) <= csv_col(row, 6));
    for (int c = 7; c <= 9; c++) /* average bits */
        assert_true(csv_col(row, c) >= 3 && csv_col(row, c) <= 8);
    double comp = csv_col(row, 10);
    assert_true(comp >= 0 && comp <= 1 - 3.0 / 8 + 1e-9);
    free(text);
    /* the plans fit the model, in the bit range, the DNA-TEQ one shares
     * its bases */
    p = dq_test_path(fx->dir, "dnateq/plans/templ_dnateq.h5");
    dq_plan *plan = dq_plan_read(p);
    free(p);
    assert_non_null(plan);
    assert_int_equal(dq_plan_check(plan, fx->s->model), DQ_OK);
    assert_int_equal(dq_plan_check_bits(plan, 3, 8), DQ_OK);
    for (int l = 0; l < plan->n_layers; l++)
        assert_true(plan->layers[l].shared_base > 1);
    assert_non_null(strstr(plan->config, "[search]"));
    dq_plan_free(plan);
    /* merge: the row of templ, a warning for a model without results */
    snprintf(args, sizeof args, "--merge --out %s --set 'dnateq.models=templ "
             "nosuch'", fx->dir);
    assert_int_equal(run_driver(args, &out), 0);
    assert_non_null(strstr(out, "nosuch"));
    free(out);
    p = dq_test_path(fx->dir, "dnateq/summary.csv");
    assert_int_equal(dq_test_read_file(p, &text, &len), 0);
    free(p);
    assert_memory_equal(text, hdr, strlen(hdr));
    assert_memory_equal(text + strlen(hdr), "templ,", 6);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    assert_int_equal(lines, 2);
    free(text);
    for (int i = 0; i < 2; i++) {
        p = dq_test_path(fx->dir, i ? "dnateq/summary.tex"
                                    : "dnateq/summary.md");
        assert_true(dq_test_exists(p));
        free(p);
    }
}

/* Bad configs: exit status 2 and a message naming the key. */
static void test_driver_bad_config(void **state)
{
    model_fx *fx = *state;
    static const struct {
        const char *set, *msg;
    } bad[] = {
        {"--set search.budget=-1", "budget"},
        {"--set search.n_max=9", "n_max"},
        {"--set mpu.n_min=1", "n_min"},
        {"--set search.n_min=6 --set search.n_max=5",
         "n_min 6 is larger than n_max 5"},
        {"--set search.scheme=nosuch", "scheme"},
        {"--set search.max_evals=0", "max_evals"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char args[512], *out = NULL;
        snprintf(args, sizeof args, "--model %s --out %s %s", fx->path,
                 fx->dir, bad[i].set);
        assert_int_equal(run_driver(args, &out), 2);
        assert_non_null(strstr(out, "dnateq: "));
        assert_non_null(strstr(out, bad[i].msg));
        free(out);
    }
}

/* ---- options and config ------------------------------------------------------- */

static void test_opts(void **state)
{
    (void)state;
    dq_search_opts o;
    dq_search_opts_default(&o);
    assert_int_equal(dq_search_opts_check(&o), DQ_OK);
    assert_int_equal(o.n_min, 3);
    assert_int_equal(o.n_max, 8);
    assert_true(o.budget == 1.0);
    o.budget = -0.5;
    assert_int_equal(dq_search_opts_check(&o), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "budget"));
    dq_search_opts_default(&o);
    o.n_min = 6;
    o.n_max = 5;
    assert_int_equal(dq_search_opts_check(&o), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "n_min 6 is larger than "
                                               "n_max 5"));
    dq_search_opts_default(&o);
    o.n_max = 9;
    assert_int_equal(dq_search_opts_check(&o), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "n_max 9"));
    dq_search_opts_default(&o);
    snprintf(o.scheme, sizeof o.scheme, "nosuch");
    assert_int_not_equal(dq_search_opts_check(&o), DQ_OK);
    /* a table whose bits differ from the options' */
    dq_search_opts_default(&o);
    dq_search_table *t = dq_search_table_alloc(1, 4, 8);
    dq_search_problem p = {.table = t, .n_images = 1, .ref_correct = 1,
                           .eval = failing_eval};
    dq_search_result r;
    assert_int_equal(dq_search_run(&p, &o, &r), DQ_EINVAL);
    dq_search_table_free(t);
    assert_null(dq_search_table_alloc(1, 5, 4));
    assert_null(dq_search_table_alloc(1, 3, 9));
}

/* Apply one or two --set assignments, then read [search]. */
static int config_status(const char *a1, const char *a2, const char *msg)
{
    static const dq_cfg_key *const tables[] = {dq_search_keys, NULL};
    dq_config *c = dq_config_alloc(tables);
    assert_non_null(c);
    int rc = dq_config_set_arg(c, a1);
    if (rc == DQ_OK && a2) rc = dq_config_set_arg(c, a2);
    if (rc == DQ_OK) {
        dq_search_opts o;
        rc = dq_search_opts_from_config(c, "search", &o);
    }
    if (msg) assert_non_null(strstr(dq_error_message(), msg));
    dq_config_free(c);
    return rc;
}

static void test_config(void **state)
{
    (void)state;
    assert_int_equal(config_status("search.budget=2.5", NULL, NULL), DQ_OK);
    assert_int_equal(config_status("search.budget=-1", NULL, "budget"),
                     DQ_ECONFIG);
    assert_int_equal(config_status("search.n_max=9", NULL, "n_max"),
                     DQ_ECONFIG);
    assert_int_equal(config_status("search.n_min=1", NULL, "n_min"),
                     DQ_ECONFIG);
    assert_int_equal(config_status("search.n_min=6", "search.n_max=5",
                                   "n_min 6 is larger than n_max 5"),
                     DQ_ECONFIG);
    assert_int_equal(config_status("search.n_min=8", NULL, NULL), DQ_OK);
    assert_int_equal(config_status("search.scheme=nosuch", NULL, "scheme"),
                     DQ_ECONFIG);
    assert_int_equal(config_status("search.max_evals=0", NULL, "max_evals"),
                     DQ_ECONFIG);
    assert_int_equal(config_status("search.scheme=uniform", NULL, NULL),
                     DQ_OK);
}

int main(void)
{
    dq_log_set_level(DQ_LOG_QUIET);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_within),
        cmocka_unit_test(test_tau_config),
        cmocka_unit_test(test_bisection),
        cmocka_unit_test(test_greedy_threshold),
        cmocka_unit_test(test_greedy_swap),
        cmocka_unit_test(test_greedy_one_opt),
        cmocka_unit_test(test_greedy_sens_eval),
        cmocka_unit_test(test_max_evals),
        cmocka_unit_test(test_eval_error),
        cmocka_unit_test(test_opts),
        cmocka_unit_test(test_config),
        cmocka_unit_test_setup_teardown(test_model_expq, model_setup,
                                        model_teardown),
        cmocka_unit_test_setup_teardown(test_model_uniform, model_setup,
                                        model_teardown),
        cmocka_unit_test_setup_teardown(test_driver_run, model_setup,
                                        model_teardown),
        cmocka_unit_test_setup_teardown(test_driver_bad_config, model_setup,
                                        model_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
