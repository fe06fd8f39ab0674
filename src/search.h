/*
 * search.h — the adaptive per-layer bitwidth search of DNA-TEQ (DESIGN
 * §1.2), for any quantization scheme of src/quant (quant.h).
 *
 * Vocabulary.  A quantizable layer (conv2d, linear, matmul) has two
 * quantized OPERANDS: conv2d / linear: operand 0 = the weight, operand 1
 * = the input activation; matmul: operand 0 = input 0, operand 1 =
 * input 1 (both activations).  Operand k of layer l is "tensor" 2l + k.
 * A CONFIG is one bitwidth per tensor (int bits[2 * nlayers]), each in
 * [n_min, n_max].  Its COST is sum over tensors of elems * bits, with
 * elems = weight size, or activation elements per image (one inference).
 *
 * (1) Error table (dq_search_table).  For every layer l and EVERY pair
 *     (b0, b1) in [n_min, n_max]^2 the two operands are calibrated
 *     together with dq_quant_share (quant.h): a scheme with
 *     parameters shared inside a layer (expq: one base, DESIGN §1.1)
 *     searches them for that pair — the shared base minimises RMAE_0 +
 *     RMAE_1 at (b0, b1) — and other schemes calibrate the operands
 *     independently.  The table keeps RMAE_0, RMAE_1, their sum, and
 *     both operands' parameters.  Cost: nlayers * (n_max-n_min+1)^2 pair
 *     searches (36 per layer at 3..8), OpenMP over the independent
 *     (layer, b0, b1) jobs; a scheme that shares nothing (no `share` in
 *     its quant.h vtable) is calibrated once per (layer, operand, bits)
 *     instead (12 per layer).  Weights are whole; activations are a uniform
 *     sample (<= act_samples values, qinfer.h dq_calib) of the
 *     operand's inputs over the calib split.  For a sharing scheme, what
 *     depends on one operand alone (expq: its histogram and its fits over
 *     the base grid) is prepared once per (layer, operand, bits) first
 *     (dq_quant_share_prep) and reused by the 6 pairs it is part of; the
 *     table is the same bit for bit.
 *
 * (2) Threshold.  For a threshold tau, config(tau) gives each layer the
 *     cheapest pair (min elems0*b0 + elems1*b1; ties: smaller error, then
 *     smaller b0) whose error RMAE_0 + RMAE_1 <= tau, or (n_max, n_max)
 *     when none is.  Cost falls monotonically with tau.  The distinct
 *     configs over tau in {-inf} U {table errors} form a list C_0 (all
 *     n_max) .. C_M (cheapest).  The search evaluates C_0 and C_M, then
 *     bisects (at most bisect_steps evaluations) for the largest j with
 *     C_j within budget, assuming accuracy falls with j.
 *
 * (3) Greedy refinement, in rounds:
 *       - sensitivity of every tensor t with bits > n_min that is not
 *         frozen: sens_t = correct(c) - correct(c with t one bit lower),
 *         all candidates in one multi-candidate (prefix-cached)
 *         evaluation, on the first sens_images val images (an ordering
 *         only: every accept / reject below is decided on all the
 *         search's val images);
 *       - in order of sens (ascending; ties: larger elems, then lower t),
 *         lower t by one bit on the current config if that stays within
 *         budget.  Lowering "one at a time" is done as: find the longest
 *         prefix of the remaining order whose lowering together stays
 *         within budget (galloping + bisection: O(log k) evaluations for
 *         k accepted), accept it, handle the tensor after it, repeat on
 *         the rest — the same decisions as one at a time whenever
 *         accuracy falls with every lowering;
 *       - a tensor whose lowering fails: (swap, when enabled) raise the
 *         MOST sensitive tensor
 *         u (largest sens measured so far, sens_u > 0, u != t, bits <
 *         n_max, elems_u < elems_t so the move saves bits) by one bit
 *         together with the lowering; keep both if within budget (and
 *         unfreeze every tensor: the raise may have made room);
 *       - otherwise freeze t (not tried again unless a swap unfreezes).
 *     Stop when a round accepts nothing or max_evals distinct configs
 *     have been evaluated.  Every accepted move lowers the cost, so the
 *     search terminates.  Evaluations are memoised by config.
 *
 * Budget: a config is within budget when (ref_correct - correct) * 100 <=
 * budget * n_images, i.e. the top-1 loss against FP32 on the images
 * evaluated (the VAL split) is at most `budget` points.  Only val counts
 * are ever passed in: the test split is for reporting.
 *
 * Determinism: the search itself is sequential integer/double logic;
 * given a deterministic evaluator and table (both are, at any thread
 * count) its result is identical for any thread count.
 *
 * Errors: DQ_EINVAL for bad options or problems, DQ_ECONFIG from the
 * config reader, and any status the evaluator returns (propagated).
 */
#ifndef DQ_SEARCH_H
#define DQ_SEARCH_H

#include "config.h"
#include "dataset.h"
#include "graph.h"
#include "plan.h"
#include "qinfer.h"
#include "quant/quant.h"

#include <stdint.h>

#define DQ_SEARCH_OPERANDS 2

/* ---- options: config section [search] -------------------------------- */

typedef struct {
    double budget;      /* allowed top-1 loss vs FP32 on val, points */
    int n_min, n_max;   /* bit range of every tensor (2..8) */
    char scheme[32];    /* quantization scheme (registry name) */
    int max_evals;      /* distinct configs evaluated, at most */
    int bisect_steps;   /* tau bisection evaluations, at most */
    int greedy;         /* 0: stop after the tau bisection */
    int swap;           /* 0: never raise a tensor in the greedy phase */
    int64_t val_images; /* first N val images for the search; 0 = all */
    int64_t sens_images;/* first N val images for sensitivities; 0 = as
                           val_images */
    int prefix_cache;   /* evaluate candidates with prefix caching */
    int64_t act_samples;/* activation values kept per tensor (calib) */
} dq_search_opts;

extern const dq_cfg_key dq_search_keys[];
void dq_search_opts_default(dq_search_opts *o);
/* DQ_EINVAL naming the field: budget outside [0, 100], n_min > n_max,
 * bits outside 2..8, max_evals < 1, ... */
int dq_search_opts_check(const dq_search_opts *o);
/* Read section `section` (keys of dq_search_keys, whose section is
 * "search") and check; DQ_ECONFIG naming the key on a bad value. */
int dq_search_opts_from_config(const dq_config *c, const char *section,
                               dq_search_opts *o);

/* ---- error table ------------------------------------------------------- */

typedef struct {
    char name[DQ_NAME_MAX]; /* node name */
    int node;               /* node index in the model */
    int is_weight[DQ_SEARCH_OPERANDS]; /* 1: the node's weight */
    int input[DQ_SEARCH_OPERANDS];     /* activation: node input index */
    int64_t elems[DQ_SEARCH_OPERANDS]; /* weight size / per-image size */
} dq_search_layer;

typedef struct {
    int nlayers, n_min, n_max, nb; /* nb = n_max - n_min + 1 */
    dq_search_layer *layers;       /* nlayers */
    /* Entry e = (l * nb + b0 - n_min) * nb + b1 - n_min: */
    double *err;           /* RMAE_0 + RMAE_1 */
    double *err0, *err1;   /* each operand's RMAE */
    double *shared_base;   /* the base both operands share; 0: none */
    dq_qparams **params;   /* 2 per entry (operand 0, 1); NULL when the
                              table was filled by hand (tests) */
    char scheme[32];       /* scheme of params */
} dq_search_table;

/* A table of nlayers zeroed layers, errors 0, params NULL. */
dq_search_table *dq_search_table_alloc(int nlayers, int n_min, int n_max);
void dq_search_table_free(dq_search_table *t); /* NULL is a no-op */
/* Index of entry (l, b0, b1). */
int64_t dq_search_table_entry(const dq_search_table *t, int l, int b0, int b1);

/* The table of model m (layers = the quantizable nodes in node order, as
 * in dq_plan_alloc): scheme o->scheme, bits o->n_min..o->n_max, weights
 * calibrated with qw and activations (on their calib samples in c) with
 * qa, per tensor — exactly as dq_plan_quantize calibrates a slot, after
 * dq_quant_share has fixed what the pair shares.  RMAE is measured on the
 * whole weight and on the activation sample.  OpenMP over the
 * (layer, b0, b1) jobs; identical at any thread count. */
dq_search_table *dq_search_table_build(const dq_model *m, const dq_calib *c,
                                       const dq_search_opts *o,
                                       const dq_quant_opts *qw,
                                       const dq_quant_opts *qa, int progress);

/* The plan of config bits (2 * nlayers) from a built table: m's layers
 * with the table's parameters (copied) and each layer's shared base. */
dq_plan *dq_search_plan(const dq_search_table *t, const dq_model *m,
                        const int *bits, const char *label);

/* ---- the search on an abstract evaluator -------------------------------- */

/* Evaluate ncand configs (ncand * ntensors ints, config c at bits + c *
 * ntensors): correct[c] = val images classified correctly.  base, when
 * not NULL, is the config the candidates were derived from (each differs
 * from it in one or two tensors: prefix caching pays).  Must be
 * deterministic.  A non-zero return aborts the search with that status. */
typedef int (*dq_search_eval_fn)(void *ctx, const int *base, int ncand,
                                 const int *bits, int64_t *correct);

typedef struct {
    const dq_search_table *table;
    int64_t n_images;    /* images each evaluation counts */
    int64_t ref_correct; /* FP32 correct on those images */
    dq_search_eval_fn eval;
    void *ctx;
    /* Optional evaluator for the sensitivities only (e.g. on fewer val
     * images); NULL: eval.  Its counts only order the candidates. */
    dq_search_eval_fn sens_eval;
    void *sens_ctx;
    const char *label;   /* progress label, e.g. "search mlp expq" */
} dq_search_problem;

typedef struct {
    int ntensors;
    int *bits;            /* the chosen config */
    int64_t correct;      /* its val correct count */
    int *start_bits;      /* config after the tau bisection */
    int64_t start_correct;
    double tau;           /* threshold of start_bits (-inf: all n_max) */
    int tau_index, tau_count; /* j of C_j and M + 1 */
    int budget_met;       /* 0: even C_0 is outside the budget */
    int evals;            /* distinct configs evaluated (both kinds) */
    int sens_evals;       /* ... of them by sens_eval */
    int rounds, lowered, swaps, frozen;
    int truncated;        /* stopped by max_evals */
} dq_search_result;

int dq_search_run(const dq_search_problem *p, const dq_search_opts *o,
                  dq_search_result *r);
void dq_search_result_free(dq_search_result *r); /* frees the arrays */

/* ---- the search on a model ----------------------------------------------- */

/* What dq_search_session reports besides the result. */
typedef struct {
    dq_plan *plan;          /* the chosen plan (owned by the caller) */
    dq_search_table *table; /* the error table (owned by the caller) */
    int64_t val_images;     /* val images the search evaluated */
    int64_t val_ref;        /* FP32 correct on them */
    double table_s, search_s; /* wall time: table; table + tau + greedy */
} dq_search_output;

/* The whole search for session s (model, calib samples, val split):
 * table, tau bisection, greedy; evaluations on the first o->val_images
 * val images (all when 0), prefix-cached when o->prefix_cache.  The test
 * split is never touched.  out->plan is labelled `label`; its meta holds a
 * one-line summary.  On failure nothing is left allocated. */
int dq_search_session(dq_qsession *s, const dq_search_opts *o,
                      const dq_quant_opts *qw, const dq_quant_opts *qa,
                      const char *label, dq_search_result *r,
                      dq_search_output *out);
void dq_search_output_free(dq_search_output *out); /* plan and table */

/* config(tau) of (2) into bits (2 * nlayers). */
void dq_search_tau_config(const dq_search_table *t, double tau, int *bits);
/* Sum of elems * bits over tensors; over weight or activation tensors
 * only with which = 1 / 2 (0: all).  The elems of each are in *elems. */
int64_t dq_search_cost(const dq_search_table *t, const int *bits, int which,
                       int64_t *elems);
/* Within budget (see above). */
int dq_search_within(double budget, int64_t n_images, int64_t ref_correct,
                     int64_t correct);

#endif
