/*
 * search.c — the adaptive per-layer bitwidth search (DESIGN §1.2; the
 * algorithm is specified in search.h): the [search] config section, the
 * per-(layer, b0, b1) error table, the tau bisection and the greedy
 * refinement on an abstract "evaluate configs -> val correct" callback.
 *
 * The search sits above quant/ (calibration) and the engine (through the
 * evaluator); it never looks at a scheme's parameters.
 */
#include "search.h"

#include "dataset.h"
#include "error.h"
#include "log.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- [search] options ---------------------------------------------------- */

const dq_cfg_key dq_search_keys[] = {
    {"search", "budget", DQ_CFG_DOUBLE, "1.0", 0, 100,
     "allowed top-1 loss vs FP32 on the val split, in points"},
    {"search", "n_min", DQ_CFG_INT, "3", DQ_QBITS_MIN, DQ_QBITS_MAX,
     "smallest bitwidth of any tensor"},
    {"search", "n_max", DQ_CFG_INT, "8", DQ_QBITS_MIN, DQ_QBITS_MAX,
     "largest bitwidth of any tensor"},
    {"search", "scheme", DQ_CFG_STR, "expq", 1, 0,
     "quantization scheme searched (registry name: expq, uniform, ...)"},
    {"search", "max_evals", DQ_CFG_INT, "400", 1, 1000000,
     "at most this many distinct configs evaluated on val"},
    {"search", "bisect_steps", DQ_CFG_INT, "12", 0, 64,
     "tau bisection: at most this many evaluations after both ends"},
    {"search", "greedy", DQ_CFG_BOOL, "true", 1, 0,
     "refine the tau configuration greedily (false: tau only)"},
    {"search", "swap", DQ_CFG_BOOL, "true", 1, 0,
     "greedy: raise the most sensitive tensor when a lowering fails"},
    {"search", "val_images", DQ_CFG_INT, "0", 0, DQ_FMNIST_VAL,
     "evaluate the search on the first N val images; 0: all"},
    {"search", "sens_images", DQ_CFG_INT, "0", 0, DQ_FMNIST_VAL,
     "sensitivities on the first N val images (ordering only); 0: as "
     "val_images"},
    {"search", "prefix_cache", DQ_CFG_BOOL, "true", 1, 0,
     "re-run only the layers after the first changed one"},
    {"search", "act_samples", DQ_CFG_INT, "1048576", 1, 268435456,
     "activation values sampled per tensor for the error table"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

void dq_search_opts_default(dq_search_opts *o)
{
    memset(o, 0, sizeof *o);
    o->budget = 1.0;
    o->n_min = 3;
    o->n_max = 8;
    snprintf(o->scheme, sizeof o->scheme, "expq");
    o->max_evals = 400;
    o->bisect_steps = 12;
    o->greedy = 1;
    o->swap = 1;
    o->val_images = 0;
    o->sens_images = 0;
    o->prefix_cache = 1;
    o->act_samples = 1 << 20;
}

int dq_search_opts_check(const dq_search_opts *o)
{
    if (!o) return DQ_ERROR(DQ_EINVAL, "search: NULL options");
    if (!(o->budget >= 0 && o->budget <= 100))
        return DQ_ERROR(DQ_EINVAL, "search: budget %g is outside 0..100 "
                        "points", o->budget);
    if (o->n_min < DQ_QBITS_MIN || o->n_min > DQ_QBITS_MAX)
        return DQ_ERROR(DQ_EINVAL, "search: n_min %d is outside %d..%d",
                        o->n_min, DQ_QBITS_MIN, DQ_QBITS_MAX);
    if (o->n_max < DQ_QBITS_MIN || o->n_max > DQ_QBITS_MAX)
        return DQ_ERROR(DQ_EINVAL, "search: n_max %d is outside %d..%d",
                        o->n_max, DQ_QBITS_MIN, DQ_QBITS_MAX);
    if (o->n_min > o->n_max)
        return DQ_ERROR(DQ_EINVAL, "search: n_min %d is larger than n_max %d",
                        o->n_min, o->n_max);
    if (o->max_evals < 1)
        return DQ_ERROR(DQ_EINVAL, "search: max_evals %d < 1", o->max_evals);
    if (o->bisect_steps < 0)
        return DQ_ERROR(DQ_EINVAL, "search: bisect_steps %d < 0",
                        o->bisect_steps);
    if (o->val_images < 0)
        return DQ_ERROR(DQ_EINVAL, "search: val_images %lld < 0",
                        (long long)o->val_images);
    if (o->sens_images < 0)
        return DQ_ERROR(DQ_EINVAL, "search: sens_images %lld < 0",
                        (long long)o->sens_images);
    if (o->act_samples < 1)
        return DQ_ERROR(DQ_EINVAL, "search: act_samples %lld < 1",
                        (long long)o->act_samples);
    if (!dq_quant_find(o->scheme)) return dq_error_status();
    return DQ_OK;
}

int dq_search_opts_from_config(const dq_config *c, const char *section,
                               dq_search_opts *o)
{
    const char *s = section ? section : "search";
    dq_search_opts_default(o);
    o->budget = dq_config_double(c, s, "budget");
    o->n_min = (int)dq_config_int(c, s, "n_min");
    o->n_max = (int)dq_config_int(c, s, "n_max");
    const char *scheme = dq_config_str(c, s, "scheme");
    if (strlen(scheme) >= sizeof o->scheme)
        return DQ_ERROR(DQ_ECONFIG, "%s: [%s] scheme: '%s' is too long",
                        dq_config_origin(c, s, "scheme"), s, scheme);
    snprintf(o->scheme, sizeof o->scheme, "%s", scheme);
    o->max_evals = (int)dq_config_int(c, s, "max_evals");
    o->bisect_steps = (int)dq_config_int(c, s, "bisect_steps");
    o->greedy = dq_config_bool(c, s, "greedy");
    o->swap = dq_config_bool(c, s, "swap");
    o->val_images = dq_config_int(c, s, "val_images");
    o->sens_images = dq_config_int(c, s, "sens_images");
    o->prefix_cache = dq_config_bool(c, s, "prefix_cache");
    o->act_samples = dq_config_int(c, s, "act_samples");
    if (o->n_min > o->n_max)
        return DQ_ERROR(DQ_ECONFIG, "%s: [%s] n_min %d is larger than n_max "
                        "%d (%s)", dq_config_origin(c, s, "n_min"), s,
                        o->n_min, o->n_max, dq_config_origin(c, s, "n_max"));
    if (!dq_quant_find(o->scheme))
        return dq_error_prefix(DQ_ECONFIG, "%s: [%s] scheme",
                               dq_config_origin(c, s, "scheme"), s);
    int rc = dq_search_opts_check(o);
    return rc == DQ_OK ? DQ_OK : dq_error_prefix(DQ_ECONFIG, "[%s]", s);
}

/* ---- the error table ------------------------------------------------------- */

dq_search_table *dq_search_table_alloc(int nlayers, int n_min, int n_max)
{
    if (nlayers < 1 || n_min < DQ_QBITS_MIN || n_max > DQ_QBITS_MAX ||
        n_min > n_max)
        DQ_ERROR_NULL(DQ_EINVAL, "search table: bad size (%d layers, bits "
                      "%d..%d)", nlayers, n_min, n_max);
    dq_search_table *t = calloc(1, sizeof *t);
    if (!t) DQ_ERROR_NULL(DQ_ENOMEM, "search table: out of memory");
    t->nlayers = nlayers;
    t->n_min = n_min;
    t->n_max = n_max;
    t->nb = n_max - n_min + 1;
    int64_t ne = (int64_t)nlayers * t->nb * t->nb;
    t->layers = calloc((size_t)nlayers, sizeof *t->layers);
    t->err = calloc((size_t)ne, sizeof *t->err);
    t->err0 = calloc((size_t)ne, sizeof *t->err0);
    t->err1 = calloc((size_t)ne, sizeof *t->err1);
    if (!t->layers || !t->err || !t->err0 || !t->err1) {
        /* exception in constructor, avoid memory leak */
        dq_search_table_free(t);
        DQ_ERROR_NULL(DQ_ENOMEM, "search table: out of memory");
    }
    return t;
}

void dq_search_table_free(dq_search_table *t)
{
    if (!t) return;
    if (t->params) {
        int64_t np = (int64_t)DQ_SEARCH_OPERANDS * t->nlayers * t->nb * t->nb;
        for (int64_t i = 0; i < np; i++) dq_qparams_free(t->params[i]);
        free(t->params);
    }
    free(t->layers);
    free(t->shared_base);
    free(t->err);
    free(t->err0);
    free(t->err1);
    free(t);
}

int64_t dq_search_table_entry(const dq_search_table *t, int l, int b0, int b1)
{
    return ((int64_t)l * t->nb + (b0 - t->n_min)) * t->nb + (b1 - t->n_min);
}

void dq_search_tau_config(const dq_search_table *t, double tau, int *bits)
{
    for (int l = 0; l < t->nlayers; l++) {
        const int64_t *el = t->layers[l].elems;
        int best0 = t->n_max, best1 = t->n_max;
        int64_t best_cost = INT64_MAX;
        double best_err = INFINITY;
        for (int b0 = t->n_min; b0 <= t->n_max; b0++)
            for (int b1 = t->n_min; b1 <= t->n_max; b1++) {
                double e = t->err[dq_search_table_entry(t, l, b0, b1)];
                if (!(e <= tau)) continue; /* NaN is never feasible */
                int64_t cost = el[0] * b0 + el[1] * b1;
                if (cost < best_cost || (cost == best_cost && e < best_err)) {
                    best_cost = cost;
                    best_err = e;
                    best0 = b0;
                    best1 = b1;
                }
            }
        bits[2 * l] = best0;
        bits[2 * l + 1] = best1;
    }
}

int64_t dq_search_cost(const dq_search_table *t, const int *bits, int which,
                       int64_t *elems)
{
    int64_t cost = 0, n = 0;
    for (int l = 0; l < t->nlayers; l++)
        for (int k = 0; k < DQ_SEARCH_OPERANDS; k++) {
            int w = t->layers[l].is_weight[k];
            if (which == 1 && !w) continue;
            if (which == 2 && w) continue;
            cost += t->layers[l].elems[k] * bits[2 * l + k];
            n += t->layers[l].elems[k];
        }
    if (elems) *elems = n;
    return cost;
}

int dq_search_within(double budget, int64_t n_images, int64_t ref_correct,
                     int64_t correct)
{
    /* allowed drop in images; the epsilon absorbs budget's binary rounding
     * (0.1 * 5000 / 100 must allow 5 images) */
    int64_t allowed = (int64_t)floor(budget * (double)n_images / 100.0 + 1e-9);
    return ref_correct - correct <= allowed;
}

/* ---- search state: memoised evaluations ------------------------------------ */

/* Evaluated configs and their correct counts. */
typedef struct {
    int *bits;        /* cap * T */
    int64_t *correct;
    int n, cap;
} memo;

typedef struct {
    const dq_search_problem *p;
    const dq_search_opts *o;
    int T;            /* tensors */
    memo m[2];        /* DECIDE: p->eval; SENS: p->sens_eval */
    int truncated;
    const int *base;  /* passed to the evaluator as its base hint */
} state;

enum { DECIDE = 0, SENS = 1 };

static int memo_find(const memo *m, int T, const int *bits)
{
    for (int i = 0; i < m->n; i++)
        if (memcmp(m->bits + (int64_t)i * T, bits, sizeof(int) * (size_t)T) ==
            0)
            return i;
    return -1;
}

static int memo_add(memo *m, int T, const int *bits, int64_t correct)
{
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 64;
        int *nb = realloc(m->bits, sizeof(int) * (size_t)cap * T);
        if (!nb) return DQ_ERROR(DQ_ENOMEM, "search: out of memory");
        m->bits = nb;
        int64_t *nc = realloc(m->correct, sizeof(int64_t) * (size_t)cap);
        if (!nc) return DQ_ERROR(DQ_ENOMEM, "search: out of memory");
        m->correct = nc;
        m->cap = cap;
    }
    memcpy(m->bits + (int64_t)m->n * T, bits, sizeof(int) * (size_t)T);
    m->correct[m->n++] = correct;
    return DQ_OK;
}

static void memo_free(memo *m)
{
    free(m->bits);
    free(m->correct);
}

/* Distinct configs evaluated so far (both kinds). */
static int evals_done(const state *s) { return s->m[DECIDE].n + s->m[SENS].n; }

/* Correct counts of n configs (cfg: n * T) by evaluator `which` (DECIDE,
 * or SENS when the problem has a sens_eval).  Cached ones come from its
 * memo; the others are evaluated together, in order, while max_evals
 * allows.  have[i] = 0 marks a config left unevaluated (s->truncated). */
static int evaluate(state *s, int which, int n, const int *cfg,
                    int64_t *correct, int *have)
{
    if (which == SENS && !s->p->sens_eval) which = DECIDE;
    memo *mm = &s->m[which];
    dq_search_eval_fn fn = which == SENS ? s->p->sens_eval : s->p->eval;
    void *ctx = which == SENS ? s->p->sens_ctx : s->p->ctx;
    int T = s->T, nnew = 0;
    int *bits = malloc(sizeof(int) * (size_t)n * T);
    int64_t *res = malloc(sizeof(int64_t) * (size_t)n);
    int rc = DQ_OK;
    if (!bits || !res) {
        rc = DQ_ERROR(DQ_ENOMEM, "search: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const int *ci = cfg + (int64_t)i * T;
        int k = memo_find(mm, T, ci);
        have[i] = k >= 0;
        if (k >= 0) {
            correct[i] = mm->correct[k];
            continue;
        }
        int dup = 0; /* the same config twice in one call */
        for (int j = 0; j < nnew && !dup; j++)
            dup = memcmp(bits + (int64_t)j * T, ci, sizeof(int) * T) == 0;
        if (dup) continue;
        if (evals_done(s) + nnew >= s->o->max_evals) {
            s->truncated = 1;
            continue;
        }
        memcpy(bits + (int64_t)nnew * T, ci, sizeof(int) * (size_t)T);
        nnew++;
    }
    if (nnew > 0) {
        rc = fn(ctx, s->base, nnew, bits, res);
        for (int j = 0; j < nnew && rc == DQ_OK; j++)
            rc = memo_add(mm, T, bits + (int64_t)j * T, res[j]);
    }
    /* fill every requested config known now (duplicates included) */
    for (int i = 0; i < n && rc == DQ_OK; i++) {
        if (have[i]) continue;
        int k = memo_find(mm, T, cfg + (int64_t)i * T);
        if (k >= 0) {
            have[i] = 1;
            correct[i] = mm->correct[k];
        }
    }
done:
    free(bits);
    free(res);
    return rc;
}

/* One config by the deciding evaluator: 1 and *correct, 0 when max_evals
 * stopped it, or -1 with *status set. */
static int evaluate1(state *s, const int *cfg, int64_t *correct, int *status)
{
    int h = 0;
    *status = evaluate(s, DECIDE, 1, cfg, correct, &h);
    return *status != DQ_OK ? -1 : h;
}

/* "<label>: <what>" for progress bars and log lines. */
static const char *plabel(const state *s, char *buf, size_t n,
                          const char *what)
{
    snprintf(buf, n, "%s: %s", s->p->label ? s->p->label : "search", what);
    return buf;
}

static int within(const state *s, int64_t correct)
{
    return dq_search_within(s->o->budget, s->p->n_images, s->p->ref_correct,
                            correct);
}

/* ---- (2) tau bisection ------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The distinct configs C_0..C_M over increasing tau, with their tau
 * (C_0: -inf).  *cfgs is (M+1) * T ints, *taus M+1 doubles. */
static int tau_configs(const dq_search_table *t, int **cfgs, double **taus,
                       int *count)
{
    int T = 2 * t->nlayers;
    int64_t ne = (int64_t)t->nlayers * t->nb * t->nb, nv = 0;
    double *v = malloc(sizeof(double) * (size_t)ne);
    int *c = malloc(sizeof(int) * (size_t)(ne + 1) * T);
    double *tau = malloc(sizeof(double) * (size_t)(ne + 1));
    if (!v || !c || !tau) {
        free(v);
        free(c);
        free(tau);
        return DQ_ERROR(DQ_ENOMEM, "search: out of memory");
    }
    for (int64_t i = 0; i < ne; i++)
        if (isfinite(t->err[i])) v[nv++] = t->err[i];
    qsort(v, (size_t)nv, sizeof *v, cmp_double);
    int n = 1;
    tau[0] = -INFINITY;
    dq_search_tau_config(t, -INFINITY, c);
    for (int64_t i = 0; i < nv; i++) {
        if (i > 0 && v[i] == v[i - 1]) continue;
        int *ci = c + (int64_t)n * T;
        dq_search_tau_config(t, v[i], ci);
        if (memcmp(ci, ci - T, sizeof(int) * (size_t)T) == 0) continue;
        tau[n++] = v[i];
    }
    free(v);
    *cfgs = c;
    *taus = tau;
    *count = n;
    return DQ_OK;
}

static int bisect(state *s, dq_search_result *r)
{
    int T = s->T, n = 0, *cfg = NULL, have[2] = {0, 0};
    double *tau = NULL;
    int64_t corr[2];
    DQ_TRY(tau_configs(s->p->table, &cfg, &tau, &n));
    r->tau_count = n;
    int need = 0; /* bisection steps to converge over n configs */
    while ((1 << need) < n - 1) need++;
    char label[DQ_NAME_MAX];
    dq_progress *pg = dq_progress_alloc(
        plabel(s, label, sizeof label, "tau bisection"),
        2 + (need < s->o->bisect_steps ? need : s->o->bisect_steps));
    /* both ends in one evaluation: C_0 (all n_max) and C_M (cheapest) */
    int m = n - 1, rc = DQ_OK;
    int *ends = malloc(sizeof(int) * 2 * (size_t)T);
    if (!ends) rc = DQ_ERROR(DQ_ENOMEM, "search: out of memory");
    else {
        memcpy(ends, cfg, sizeof(int) * (size_t)T);
        memcpy(ends + T, cfg + (int64_t)m * T, sizeof(int) * (size_t)T);
        rc = evaluate(s, DECIDE, m > 0 ? 2 : 1, ends, corr, have);
        free(ends);
    }
    dq_progress_update(pg, 2);
    int lo = 0;
    if (rc == DQ_OK && !have[0]) rc = DQ_ERROR(DQ_EINVAL, "search: "
                                               "max_evals too small");
    if (rc == DQ_OK) {
        r->budget_met = within(s, corr[0]);
        int64_t lo_corr = corr[0];
        if (r->budget_met && m > 0 && have[1] && within(s, corr[1])) {
            lo = m;
            lo_corr = corr[1];
        } else if (r->budget_met && m > 0) {
            int hi = m, steps = 0;
            while (rc == DQ_OK && hi - lo > 1 && steps < s->o->bisect_steps) {
                int mid = lo + (hi - lo) / 2, h;
                int64_t c;
                rc = evaluate(s, DECIDE, 1, cfg + (int64_t)mid * T, &c, &h);
                if (rc != DQ_OK || !h) break;
                steps++;
                dq_progress_update(pg, 2 + steps);
                if (within(s, c)) {
                    lo = mid;
                    lo_corr = c;
                } else {
                    hi = mid;
                }
            }
        }
        memcpy(r->start_bits, cfg + (int64_t)lo * T, sizeof(int) * (size_t)T);
        memcpy(r->bits, r->start_bits, sizeof(int) * (size_t)T);
        r->start_correct = r->correct = lo_corr;
        r->tau = tau[lo];
        r->tau_index = lo;
    }
    dq_progress_free(pg);
    free(cfg);
    free(tau);
    return rc;
}

/* ---- (3) greedy refinement ------------------------------------------------- */

typedef struct {
    int t;
    int64_t sens, elems;
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->sens != y->sens) return x->sens < y->sens ? -1 : 1;
    if (x->elems != y->elems) return x->elems > y->elems ? -1 : 1;
    return (x->t > y->t) - (x->t < y->t);
}

static int64_t tensor_elems(const dq_search_table *t, int i)
{
    return t->layers[i / 2].elems[i % 2];
}

/* The tensor to raise when lowering t failed: the most sensitive one
 * (largest measured sens > 0; ties: fewer elements, then lower index)
 * that can go up and is smaller than t; -1 if none. */
static int pick_raise(const state *s, const int *bits, int t,
                      const int64_t *sens, const int *measured)
{
    const dq_search_table *tb = s->p->table;
    int best = -1;
    for (int u = 0; u < s->T; u++) {
        if (u == t || !measured[u] || sens[u] <= 0) continue;
        if (bits[u] >= tb->n_max) continue;
        if (tensor_elems(tb, u) >= tensor_elems(tb, t)) continue;
        if (best < 0 || sens[u] > sens[best] ||
            (sens[u] == sens[best] &&
             tensor_elems(tb, u) < tensor_elems(tb, best)))
            best = u;
    }
    return best;
}

/* Sensitivities of the lowerable tensors at r->bits: cands[0..*nc) with
 * sens filled, sorted.  One multi-candidate evaluation of the current
 * config and every one-bit lowering (SENS evaluator). *nc = 0 when none
 * is left or max_evals stopped it. */
static int measure(state *s, dq_search_result *r, const int *frozen,
                   cand *cands, int *nc, int64_t *sens, int *measured)
{
    const dq_search_table *tb = s->p->table;
    int T = s->T, n = 0;
    for (int t = 0; t < T; t++)
        if (r->bits[t] > tb->n_min && !frozen[t]) cands[n++].t = t;
    *nc = 0;
    if (n == 0) return DQ_OK;
    /* config 0 is the current one: its count on the SENS images */
    int *cfg = malloc(sizeof(int) * (size_t)(n + 1) * T);
    int64_t *corr = malloc(sizeof(int64_t) * (size_t)(n + 1));
    int *have = malloc(sizeof(int) * (size_t)(n + 1));
    int rc = DQ_OK;
    if (!cfg || !corr || !have) {
        rc = DQ_ERROR(DQ_ENOMEM, "search: out of memory");
        goto done;
    }
    for (int i = 0; i <= n; i++) {
        int *ci = cfg + (int64_t)i * T;
        memcpy(ci, r->bits, sizeof(int) * (size_t)T);
        if (i > 0) ci[cands[i - 1].t]--;
    }
    s->base = r->bits;
    rc = evaluate(s, SENS, n + 1, cfg, corr, have);
    s->base = NULL;
    int k = 0;
    for (int i = 0; i < n && rc == DQ_OK && have[0]; i++) {
        if (!have[i + 1]) continue; /* max_evals reached */
        int t = cands[i].t;
        sens[t] = corr[0] - corr[i + 1];
        measured[t] = 1;
        cands[k].t = t;
        cands[k].sens = sens[t];
        cands[k].elems = tensor_elems(tb, t);
        k++;
    }
    qsort(cands, (size_t)k, sizeof *cands, cmp_cand);
    *nc = k;
done:
    free(cfg);
    free(corr);
    free(have);
    return rc;
}

/* r->bits with the tensors of list[0..k) one bit lower, into cfg. */
static void lowered(const dq_search_result *r, int T, const cand *list, int k,
                    int *cfg)
{
    memcpy(cfg, r->bits, sizeof(int) * (size_t)T);
    for (int i = 0; i < k; i++) cfg[list[i].t]--;
}

/* Lower the tensors of list[0..n), in order, one at a time, each kept when
 * the config stays within budget.  While accuracy falls monotonically
 * with every lowering, that is "the longest prefix within budget, skip
 * the next, repeat", which a galloping search finds in O(log k)
 * evaluations per accepted run of k instead of k.  A tensor whose
 * lowering fails gets the swap (pick_raise) or is frozen.  Returns the
 * moves accepted, or -1 when max_evals stopped it (*status: errors). */
static int lower_in_order(state *s, dq_search_result *r, cand *list, int n,
                          const int64_t *sens, const int *measured,
                          int *frozen, int *cfg, int *status,
                          dq_progress *pg)
{
    int T = s->T, moves = 0, done = 0;
    int64_t c;
    while (n > 0) {
        /* gallop: lo accepted (known within budget), hi known to fail */
        int lo = 0, hi = -1, step = 1;
        while (hi < 0) {
            int k = lo + step > n ? n : lo + step;
            lowered(r, T, list, k, cfg);
            int h = evaluate1(s, cfg, &c, status);
            if (h <= 0) return -1;
            if (within(s, c)) {
                lo = k;
                if (k == n) break;
                step *= 2;
            } else {
                hi = k;
            }
        }
        while (hi >= 0 && hi - lo > 1) {
            int mid = lo + (hi - lo) / 2;
            lowered(r, T, list, mid, cfg);
            int h = evaluate1(s, cfg, &c, status);
            if (h <= 0) return -1;
            if (within(s, c)) lo = mid;
            else hi = mid;
        }
        if (lo > 0) { /* accept the prefix (its count is in the memo) */
            lowered(r, T, list, lo, cfg);
            if (evaluate1(s, cfg, &r->correct, status) <= 0) return -1;
            memcpy(r->bits, cfg, sizeof(int) * (size_t)T);
            r->lowered += lo;
            moves += lo;
        }
        done += lo;
        dq_progress_update(pg, done);
        if (lo == n) break;
        /* list[lo] cannot be lowered on the current config */
        int t = list[lo].t;
        lowered(r, T, list + lo, 1, cfg);
        int u = s->o->swap ? pick_raise(s, cfg, t, sens, measured) : -1;
        int kept = 0;
        if (u >= 0) {
            cfg[u]++;
            int h = evaluate1(s, cfg, &c, status);
            if (h <= 0) return -1;
            if ((kept = within(s, c))) {
                memcpy(r->bits, cfg, sizeof(int) * (size_t)T);
                r->correct = c;
                r->swaps++;
                moves++;
                /* raising u may have made room: every tensor gets another
                 * try */
                memset(frozen, 0, sizeof(int) * (size_t)T);
            }
        }
        if (!kept) {
            frozen[t] = 1;
            r->frozen++;
        }
        list += lo + 1;
        n -= lo + 1;
        /* a raised tensor may now be lowered twice in this round: fine */
        done++;
        dq_progress_update(pg, done);
    }
    return moves;
}

static int greedy(state *s, dq_search_result *r)
{
    int T = s->T, rc = DQ_OK;
    int *frozen = calloc((size_t)T, sizeof(int));
    int *measured = calloc((size_t)T, sizeof(int));
    int64_t *sens = calloc((size_t)T, sizeof(int64_t));
    cand *cands = calloc((size_t)T, sizeof(cand));
    int *cfg = calloc((size_t)T, sizeof(int));
    if (!frozen || !measured || !sens || !cands || !cfg) {
        rc = DQ_ERROR(DQ_ENOMEM, "search: out of memory");
        goto done;
    }
    for (;;) {
        int nc;
        char what[64], label[DQ_NAME_MAX];
        rc = measure(s, r, frozen, cands, &nc, sens, measured);
        if (rc != DQ_OK || nc == 0) break;
        snprintf(what, sizeof what, "greedy round %d", r->rounds + 1);
        dq_progress *pg = dq_progress_alloc(plabel(s, label, sizeof label,
                                                   what), nc);
        int moves = lower_in_order(s, r, cands, nc, sens, measured, frozen,
                                   cfg, &rc, pg);
        dq_progress_free(pg);
        r->rounds++;
        dq_log_info("%s: %d of %d tensors moved, val %lld, cost %lld, %d "
                    "evaluations", label,
                    moves < 0 ? 0 : moves, nc, (long long)r->correct,
                    (long long)dq_search_cost(s->p->table, r->bits, 0, NULL),
                    evals_done(s));
        if (rc != DQ_OK || moves <= 0) break;
    }
done:
    free(frozen);
    free(measured);
    free(sens);
    free(cands);
    free(cfg);
    return rc;
}

/* ---- (1) the error table of a model ------------------------------------------ */

/* Operand k of a plan layer: its plan slot. */
static int operand_slot(const dq_plan_layer *L, int k)
{
    if (L->t[DQ_PLAN_W].present) return k == 0 ? DQ_PLAN_W : DQ_PLAN_A0;
    return k == 0 ? DQ_PLAN_A0 : DQ_PLAN_A1;
}

/* The data operand k of layer l is calibrated and measured on. */
typedef struct {
    const char *name;
    const dq_tensor *weight; /* weights: the model's (folded) weight */
    const float *x;          /* activations: calibration data ... */
    int64_t n, measured;     /* ... its length, and the sample's length */
} operand;

static int operand_get(const dq_model *m, const dq_calib *c,
                       const dq_plan_layer *L, int k, operand *op)
{
    int slot = operand_slot(L, k);
    const dq_node *nd = &m->nodes[L->node];
    memset(op, 0, sizeof *op);
    if (slot == DQ_PLAN_W) {
        op->name = nd->weight->name;
        op->weight = nd->weight;
        op->x = nd->weight->data;
        op->n = op->measured = nd->weight->size;
        return DQ_OK;
    }
    const dq_actsample *a = c ? dq_calib_get(c, L->node, slot - DQ_PLAN_A0)
                              : NULL;
    if (!a || a->n < 1 || a->sampled < 1)
        return DQ_ERROR(DQ_EINVAL, "%s: layer '%s' input %d: no calibration "
                        "sample", m->path, L->name, slot - DQ_PLAN_A0);
    op->name = a->name;
    op->x = a->x;
    op->n = a->n;
    op->measured = a->sampled;
    return DQ_OK;
}

/* Calibrate operand op at bits with o as dq_plan_quantize does. */
static dq_qparams *operand_calibrate(const dq_quant_scheme *qs,
                                     const operand *op, int bits,
                                     const dq_quant_opts *o)
{
    if (op->weight) return dq_quant_calibrate(qs, op->weight, bits, o);
    dq_quant_opts oa = *o;
    oa.per_channel = 0;
    return dq_quant_calibrate_raw(qs, op->name, op->x, 1, op->n, bits, &oa);
}

/* RMAE of op under qp, on the weight / the activation sample. */
static int operand_rmae(const operand *op, const dq_qparams *qp, double *rmae)
{
    float *q = malloc(sizeof(float) * (size_t)op->measured);
    if (!q) return DQ_ERROR(DQ_ENOMEM, "%s: out of memory", op->name);
    memcpy(q, op->x, sizeof(float) * (size_t)op->measured);
    int rc = dq_quant_fake(qp, q, op->measured);
    if (rc == DQ_OK) {
        dq_qerror e;
        dq_quant_error(op->x, q, op->measured, &e);
        *rmae = e.rmae;
    }
    free(q);
    return rc;
}

static dq_quant_opts operand_opts(const operand *op, const dq_quant_opts *qw,
                                  const dq_quant_opts *qa);

/* One table job: layer l at (b0, b1), its operands prepared for sharing
 * (sp[0], sp[1]: dq_quant_share_prep at b0, b1). */
static int table_job(dq_search_table *t, const dq_quant_scheme *qs,
                     const operand ops[2], int l, int b0, int b1,
                     const dq_quant_opts *qw, const dq_quant_opts *qa,
                     dq_qshare *const sp[2])
{
    int64_t e = dq_search_table_entry(t, l, b0, b1);
    const int bits[2] = {b0, b1};
    dq_quant_opts o[2] = {operand_opts(&ops[0], qw, qa),
                          operand_opts(&ops[1], qw, qa)};
    int shared = 0;
    DQ_TRY(dq_quant_share_prepped(sp[0], sp[1], &o[0], &o[1], &shared));
    t->shared_base[e] = shared && o[0].fixed_base > 1 ? o[0].fixed_base : 0;
    double err[2];
    for (int k = 0; k < 2; k++) {
        dq_qparams *qp = operand_calibrate(qs, &ops[k], bits[k], &o[k]);
        if (!qp) return dq_error_status();
        t->params[2 * e + k] = qp;
        DQ_TRY(operand_rmae(&ops[k], qp, &err[k]));
    }
    t->err0[e] = err[0];
    t->err1[e] = err[1];
    t->err[e] = err[0] + err[1];
    return DQ_OK;
}

#define MSG_MAX 512

/* Options operand op is calibrated with. */
static dq_quant_opts operand_opts(const operand *op, const dq_quant_opts *qw,
                                  const dq_quant_opts *qa)
{
    dq_quant_opts o = op->weight ? *qw : *qa;
    if (!op->weight) o.per_channel = 0;
    return o;
}

/* A scheme that shares nothing: operand op alone at bits b. */
static int operand_job(const dq_quant_scheme *qs, const operand *op, int b,
                       const dq_quant_opts *o, dq_qparams **qp, double *err)
{
    *qp = operand_calibrate(qs, op, b, o);
    if (!*qp) return dq_error_status();
    return operand_rmae(op, *qp, err);
}

/* Entries of a scheme that shares nothing from its operand jobs (qp, err:
 * index (l * 2 + k) * nb + b - n_min). */
static int table_assemble(dq_search_table *t, dq_qparams **qp,
                          const double *err)
{
    int nb = t->nb;
    for (int l = 0; l < t->nlayers; l++)
        for (int i0 = 0; i0 < nb; i0++)
            for (int i1 = 0; i1 < nb; i1++) {
                int64_t e = dq_search_table_entry(t, l, t->n_min + i0,
                                                  t->n_min + i1);
                int64_t s0 = (int64_t)(l * 2) * nb + i0,
                        s1 = (int64_t)(l * 2 + 1) * nb + i1;
                t->params[2 * e] = dq_qparams_clone(qp[s0]);
                t->params[2 * e + 1] = dq_qparams_clone(qp[s1]);
                if (!t->params[2 * e] || !t->params[2 * e + 1])
                    return dq_error_status();
                t->err0[e] = err[s0];
                t->err1[e] = err[s1];
                t->err[e] = err[s0] + err[s1];
                t->shared_base[e] = 0;
            }
    return DQ_OK;
}

/* Job j of the table run: with a scheme that shares parameters, first
 * every (layer, operand, bits) prepared for sharing (sp), then every
 * (layer, b0, b1) pair; else (layer, operand, bits) singles (sq, se). */
typedef struct {
    dq_search_table *t;
    const dq_quant_scheme *qs;
    const operand *ops;
    const dq_quant_opts *qw, *qa;
    int pair, nprep;
    dq_qshare **sp;
    dq_qparams **sq;
    double *se;
} table_ctx;

static int table_step(const table_ctx *c, int j)
{
    const dq_search_table *t = c->t;
    int nb = t->nb;
    if (!c->pair) {
        const operand *op = &c->ops[j / nb];
        dq_quant_opts o = operand_opts(op, c->qw, c->qa);
        return operand_job(c->qs, op, t->n_min + j % nb, &o, &c->sq[j],
                           &c->se[j]);
    }
    if (j < c->nprep) { /* operand (l, k) at bits n_min + j % nb */
        const operand *op = &c->ops[j / nb];
        dq_quant_opts o = operand_opts(op, c->qw, c->qa);
        c->sp[j] = dq_quant_share_prep(c->qs, op->name, op->x, op->measured,
                                       t->n_min + j % nb, &o);
        return c->sp[j] ? DQ_OK : dq_error_status();
    }
    j -= c->nprep;
    int l = j / (nb * nb), i0 = (j / nb) % nb, i1 = j % nb;
    dq_qshare *const sp[2] = {c->sp[(2 * l) * nb + i0],
                              c->sp[(2 * l + 1) * nb + i1]};
    return table_job(c->t, c->qs, c->ops + 2 * l, l, t->n_min + i0,
                     t->n_min + i1, c->qw, c->qa, sp);
}

/* Run jobs [j0, j1) in parallel; the first failing job in job order is
 * reported. */
static int table_phase(const table_ctx *c, int j0, int j1, int *st,
                       char *msg, dq_progress *pg)
{
#pragma omp parallel for schedule(dynamic, 1)
    for (int j = j0; j < j1; j++) {
        st[j] = table_step(c, j);
        if (st[j] != DQ_OK)
            snprintf(msg + (size_t)j * MSG_MAX, MSG_MAX, "%s",
                     dq_error_message());
        dq_progress_add(pg, 1);
    }
    for (int j = j0; j < j1; j++)
        if (st[j] != DQ_OK)
            return dq_error_set(st[j], "%s", msg + (size_t)j * MSG_MAX);
    return DQ_OK;
}

/* Every job: a scheme that shares parameters prepares its operands, then
 * runs the (layer, b0, b1) pairs; a scheme that shares nothing runs
 * (layer, operand, bits) singles, assembled into the pairs. */
static int table_run(dq_search_table *t, const dq_quant_scheme *qs,
                     const operand *ops, const dq_quant_opts *qw,
                     const dq_quant_opts *qa, int progress)
{
    int nb = t->nb, pair = qs->share != NULL;
    int nsingle = t->nlayers * 2 * nb;
    int nj = pair ? nsingle + t->nlayers * nb * nb : nsingle;
    table_ctx c = {.t = t, .qs = qs, .ops = ops, .qw = qw, .qa = qa,
                   .pair = pair, .nprep = pair ? nsingle : 0};
    int *st = calloc((size_t)nj, sizeof *st);
    char *msg = calloc((size_t)nj, MSG_MAX);
    if (pair) c.sp = calloc((size_t)nsingle, sizeof *c.sp);
    else {
        c.sq = calloc((size_t)nsingle, sizeof *c.sq);
        c.se = calloc((size_t)nsingle, sizeof *c.se);
    }
    int rc = DQ_OK;
    if (!st || !msg || (pair ? !c.sp : (!c.sq || !c.se)))
        rc = DQ_ERROR(DQ_ENOMEM, "search table: out of memory");
    dq_progress *pg = progress && rc == DQ_OK
                          ? dq_progress_alloc("search: error table", nj)
                          : NULL;
    if (rc == DQ_OK && pair) rc = table_phase(&c, 0, nsingle, st, msg, pg);
    if (rc == DQ_OK) rc = table_phase(&c, c.nprep, nj, st, msg, pg);
    dq_progress_free(pg);
    if (rc == DQ_OK && !pair) rc = table_assemble(t, c.sq, c.se);
    for (int j = 0; j < nsingle; j++) {
        if (c.sp) dq_qshare_free(c.sp[j]);
        if (c.sq) dq_qparams_free(c.sq[j]);
    }
    free(c.sp);
    free(c.sq);
    free(c.se);
    free(st);
    free(msg);
    return rc;
}

dq_search_table *dq_search_table_build(const dq_model *m, const dq_calib *c,
                                       const dq_search_opts *o,
                                       const dq_quant_opts *qw,
                                       const dq_quant_opts *qa, int progress)
{
    if (!m || !o || !qw || !qa)
        DQ_ERROR_NULL(DQ_EINVAL, "search table: NULL argument");
    if (dq_search_opts_check(o) != DQ_OK) return NULL;
    const dq_quant_scheme *qs = dq_quant_find(o->scheme);
    if (!qs) return NULL;
    dq_plan *tmpl = dq_plan_alloc(m, "search");
    if (!tmpl) return NULL;
    if (tmpl->n_layers < 1) {
        dq_plan_free(tmpl);
        DQ_ERROR_NULL(DQ_EINVAL, "%s: no quantizable layer", m->path);
    }
    dq_search_table *t = dq_search_table_alloc(tmpl->n_layers, o->n_min,
                                               o->n_max);
    operand *ops = calloc((size_t)tmpl->n_layers * 2, sizeof *ops);
    int rc = t && ops ? DQ_OK : DQ_ERROR(DQ_ENOMEM, "search: out of memory");
    if (rc == DQ_OK) {
        int64_t ne = (int64_t)t->nlayers * t->nb * t->nb;
        snprintf(t->scheme, sizeof t->scheme, "%s", qs->name);
        t->shared_base = calloc((size_t)ne, sizeof *t->shared_base);
        t->params = calloc((size_t)ne * 2, sizeof *t->params);
        if (!t->shared_base || !t->params)
            rc = DQ_ERROR(DQ_ENOMEM, "search: out of memory");
    }
    for (int l = 0; rc == DQ_OK && l < tmpl->n_layers; l++) {
        const dq_plan_layer *L = &tmpl->layers[l];
        dq_search_layer *sl = &t->layers[l];
        snprintf(sl->name, sizeof sl->name, "%s", L->name);
        sl->node = L->node;
        for (int k = 0; k < 2 && rc == DQ_OK; k++) {
            int slot = operand_slot(L, k);
            const dq_plan_tensor *pt = &L->t[slot];
            sl->is_weight[k] = slot == DQ_PLAN_W;
            sl->input[k] = slot == DQ_PLAN_W ? -1 : slot - DQ_PLAN_A0;
            sl->elems[k] = dq_shape_size(pt->rank, pt->shape);
            rc = operand_get(m, c, L, k, &ops[2 * l + k]);
        }
    }
    if (rc == DQ_OK) rc = table_run(t, qs, ops, qw, qa, progress);
    free(ops);
    dq_plan_free(tmpl);
    if (rc != DQ_OK) {
        dq_search_table_free(t);
        return NULL;
    }
    return t;
}

dq_plan *dq_search_plan(const dq_search_table *t, const dq_model *m,
                        const int *bits, const char *label)
{
    if (!t || !t->params || !m || !bits)
        DQ_ERROR_NULL(DQ_EINVAL, "search plan: no table parameters");
    dq_plan *p = dq_plan_alloc(m, label);
    if (!p) return NULL;
    int rc = p->n_layers == t->nlayers
                 ? DQ_OK
                 : DQ_ERROR(DQ_EINVAL, "%s: %d quantizable layers, the search "
                            "table has %d", m->path, p->n_layers, t->nlayers);
    for (int l = 0; rc == DQ_OK && l < t->nlayers; l++) {
        int b0 = bits[2 * l], b1 = bits[2 * l + 1];
        if (b0 < t->n_min || b0 > t->n_max || b1 < t->n_min || b1 > t->n_max) {
            rc = DQ_ERROR(DQ_EINVAL, "search plan: layer '%s': bits (%d, %d) "
                          "outside %d..%d", t->layers[l].name, b0, b1,
                          t->n_min, t->n_max);
            break;
        }
        int64_t e = dq_search_table_entry(t, l, b0, b1);
        dq_plan_layer *L = &p->layers[l];
        L->shared_base = t->shared_base[e];
        for (int k = 0; k < 2 && rc == DQ_OK; k++) {
            dq_qparams *qp = dq_qparams_clone(t->params[2 * e + k]);
            if (!qp) rc = dq_error_status();
            else rc = dq_plan_set(p, l, operand_slot(L, k), t->scheme,
                                  bits[2 * l + k], qp);
        }
    }
    if (rc != DQ_OK) {
        dq_plan_free(p);
        return NULL;
    }
    return p;
}

/* ---- the evaluator on a model ------------------------------------------------ */

typedef struct {
    const dq_model *m;
    const dq_search_table *t;
    const dq_dataset *val;
    int batch, prefix_cache;
} model_eval;

static int model_eval_fn(void *ctx, const int *base, int n, const int *bits,
                         int64_t *correct)
{
    model_eval *me = ctx;
    int T = 2 * me->t->nlayers, rc = DQ_OK;
    if (me->prefix_cache && base && n >= 2) {
        /* candidates of one base: one prefix-cached pass */
        dq_plan *bp = dq_search_plan(me->t, me->m, base, "base");
        dq_plan **cp = calloc((size_t)n, sizeof *cp);
        if (!bp || !cp) rc = bp ? DQ_ERROR(DQ_ENOMEM, "search: out of memory")
                                : dq_error_status();
        for (int i = 0; i < n && rc == DQ_OK; i++) {
            cp[i] = dq_search_plan(me->t, me->m, bits + (int64_t)i * T,
                                   "candidate");
            if (!cp[i]) rc = dq_error_status();
        }
        if (rc == DQ_OK) {
            char label[64];
            snprintf(label, sizeof label, "search: %d candidates", n);
            rc = dq_qinfer_evaluate_many(me->m, bp, (const dq_plan *const *)cp,
                                         n, me->val, me->batch, correct, 1,
                                         label);
        }
        for (int i = 0; cp && i < n; i++) dq_plan_free(cp[i]);
        free(cp);
        dq_plan_free(bp);
        return rc;
    }
    for (int i = 0; i < n && rc == DQ_OK; i++) {
        dq_plan *p = dq_search_plan(me->t, me->m, bits + (int64_t)i * T,
                                    "candidate");
        if (!p) return dq_error_status();
        rc = dq_qinfer_evaluate(me->m, p, me->val, me->batch, &correct[i],
                                NULL, 0, "search: candidate");
        dq_plan_free(p);
    }
    return rc;
}

static double now_s(void)
{
    return omp_get_wtime();
}

static void plan_meta(dq_plan *p, const dq_search_result *r,
                      const dq_search_output *out)
{
    char meta[512];
    snprintf(meta, sizeof meta,
             "search: val %lld/%lld (fp32 %lld), tau %.6g (config %d of %d), "
             "%d evals (%d for sensitivities), %d rounds, %d lowered, "
             "%d swaps%s%s",
             (long long)r->correct, (long long)out->val_images,
             (long long)out->val_ref, r->tau, r->tau_index, r->tau_count,
             r->evals, r->sens_evals, r->rounds, r->lowered, r->swaps,
             r->budget_met ? "" : ", BUDGET NOT MET",
             r->truncated ? ", stopped by max_evals" : "");
    dq_plan_set_str(&p->meta, meta);
}

int dq_search_session(dq_qsession *s, const dq_search_opts *o,
                      const dq_quant_opts *qw, const dq_quant_opts *qa,
                      const char *label, dq_search_result *r,
                      dq_search_output *out)
{
    if (!s || !o || !qw || !qa || !r || !out)
        return DQ_ERROR(DQ_EINVAL, "search: NULL argument");
    memset(out, 0, sizeof *out);
    memset(r, 0, sizeof *r);
    DQ_TRY(dq_search_opts_check(o));
    if (!s->samples) s->max_samples = o->act_samples;
    const dq_calib *c = dq_qsession_samples(s);
    if (!c) return dq_error_status();
    const dq_dataset *val = dq_qsession_head(s, "val", o->val_images);
    if (!val) return dq_error_status();
    out->val_images = val->n;
    int rc = dq_qsession_fp32_head(s, "val", o->val_images, &out->val_ref);
    double t1 = now_s();
    if (rc == DQ_OK) {
        out->table = dq_search_table_build(s->model, c, o, qw, qa, s->progress);
        if (!out->table) rc = dq_error_status();
    }
    out->table_s = now_s() - t1;
    const dq_dataset *sens = NULL;
    if (rc == DQ_OK && o->sens_images > 0 && o->sens_images < val->n &&
        !(sens = dq_qsession_head(s, "val", o->sens_images)))
        rc = dq_error_status();
    if (rc == DQ_OK) {
        model_eval me = {.m = s->model, .t = out->table, .val = val,
                         .batch = s->batch, .prefix_cache = o->prefix_cache};
        model_eval ms = me;
        ms.val = sens;
        dq_search_problem p = {.table = out->table, .n_images = val->n,
                               .ref_correct = out->val_ref,
                               .eval = model_eval_fn, .ctx = &me,
                               .sens_eval = sens ? model_eval_fn : NULL,
                               .sens_ctx = &ms, .label = label};
        rc = dq_search_run(&p, o, r);
    }
    if (rc == DQ_OK) {
        out->plan = dq_search_plan(out->table, s->model, r->bits, label);
        if (!out->plan) rc = dq_error_status();
    }
    out->search_s = now_s() - t1;
    if (rc == DQ_OK) plan_meta(out->plan, r, out);
    if (rc != DQ_OK) {
        dq_search_result_free(r);
        dq_search_output_free(out);
    }
    return rc;
}

void dq_search_output_free(dq_search_output *out)
{
    if (!out) return;
    dq_plan_free(out->plan);
    dq_search_table_free(out->table);
    out->plan = NULL;
    out->table = NULL;
}

/* ---- driver ---------------------------------------------------------------- */

static int check_problem(const dq_search_problem *p, const dq_search_opts *o)
{
    DQ_TRY(dq_search_opts_check(o));
    if (!p || !p->table || !p->eval)
        return DQ_ERROR(DQ_EINVAL, "search: incomplete problem");
    if (p->table->n_min != o->n_min || p->table->n_max != o->n_max)
        return DQ_ERROR(DQ_EINVAL, "search: table bits %d..%d differ from "
                        "the options' %d..%d", p->table->n_min,
                        p->table->n_max, o->n_min, o->n_max);
    if (p->n_images < 1 || p->ref_correct < 0 || p->ref_correct > p->n_images)
        return DQ_ERROR(DQ_EINVAL, "search: bad reference (%lld of %lld)",
                        (long long)p->ref_correct, (long long)p->n_images);
    return DQ_OK;
}

int dq_search_run(const dq_search_problem *p, const dq_search_opts *o,
                  dq_search_result *r)
{
    if (!r) return DQ_ERROR(DQ_EINVAL, "search: NULL result");
    memset(r, 0, sizeof *r);
    DQ_TRY(check_problem(p, o));
    state s = {.p = p, .o = o, .T = 2 * p->table->nlayers};
    r->ntensors = s.T;
    r->bits = calloc((size_t)s.T, sizeof(int));
    r->start_bits = calloc((size_t)s.T, sizeof(int));
    int rc = DQ_OK;
    if (!r->bits || !r->start_bits)
        rc = DQ_ERROR(DQ_ENOMEM, "search: out of memory");
    if (rc == DQ_OK) rc = bisect(&s, r);
    if (rc == DQ_OK && o->greedy && r->budget_met && !s.truncated)
        rc = greedy(&s, r);
    r->evals = evals_done(&s);
    r->sens_evals = s.m[SENS].n;
    r->truncated = s.truncated;
    memo_free(&s.m[DECIDE]);
    memo_free(&s.m[SENS]);
    if (rc != DQ_OK) dq_search_result_free(r);
    return rc;
}

void dq_search_result_free(dq_search_result *r)
{
    if (!r) return;
    free(r->bits);
    free(r->start_bits);
    r->bits = r->start_bits = NULL;
}
