/*
 * qinfer.h — quantized inference: a plan (plan.h) applied to the C engine
 * (engine.h) through its hooks, the calibration samples plans are built
 * from, and deterministic batch-parallel evaluation.
 *
 * Data flow:
 *   dq_qsession_open   model + the calib / val / test splits
 *   dq_calib           FP32 inputs of every quantizable op on calib:
 *                      a seeded reservoir sample (reservoir.h) of at most
 *                      max_samples values per tensor plus the exact
 *                      min / max, captured once per session and kept in
 *                      memory (or read from a dnateq-dump file)
 *   dq_plan_build      plan = per-layer {scheme, bits, opts}, calibrated:
 *                      weights on the model's weights, activations on
 *                      the samples (+ exact min and max)
 *   dq_qmodel          a plan bound to a model: weights fake-quantized
 *                      once, activation parameters ready for the hook
 *   dq_qinfer_evaluate correct count of a plan on a split
 *
 * Quantized inference = "fake quantization": a weight becomes Q(w) once
 * (weight hook); each quantizable input x becomes Q(x) right before its
 * op runs (activation hook); the op itself runs in FP32.  That is the
 * same as quantizing by hand and running FP32 inference.
 *
 * Evaluation is batch-parallel and deterministic: the split is cut into
 * fixed batches, each OpenMP thread runs its own engine on whole batches
 * (the kernels inside then run single-threaded), and the per-batch
 * integer correct counts are summed, so the count is identical at any
 * thread count.  dq_qinfer_evaluate_many() evaluates candidate plans that
 * differ from a base plan only from some layer on: per batch the base
 * runs once with its values kept (dq_engine_keep_values), then each
 * candidate re-runs only from its first differing node
 * (dq_engine_forward_from), latest start first.
 *
 * Contract: constructors return complete objects or NULL with the error
 * set; *_free(NULL) is a no-op.  Errors name the model / plan file.
 */
#ifndef DQ_QINFER_H
#define DQ_QINFER_H

#include "config.h"
#include "dataset.h"
#include "engine.h"
#include "graph.h"
#include "plan.h"
#include "quant/quant.h"

#include <stdint.h>

#define DQ_CALIB_MAX_SAMPLES ((int64_t)1 << 20)

/* ---- calibration samples ------------------------------------------------ */

typedef struct {
    char name[DQ_NAME_MAX + 16]; /* "<node>.input<k>" */
    int node, input;        /* model node index, input index */
    int64_t count;          /* values seen over the whole split */
    int64_t sampled;        /* values in the sample: min(count, max) */
    double min, max, zero_frac; /* exact over all count values */
    /* Calibration data: the sample, followed by the exact min and max
     * when count > sampled (so a min-max calibrator sees the true range):
     * x[0..n) with n = sampled or sampled + 2. */
    float *x;
    int64_t n;
} dq_actsample;

typedef struct {
    char *model_file;
    char *source; /* "capture" or the dump file read */
    uint64_t seed;
    int64_t max_samples;
    int64_t images;
    int n;
    dq_actsample *a; /* node order, then input order */
} dq_calib;

/* Run m in FP32 on ds (batches of `batch`) and sample every quantizable
 * input.  Identical for a seed at any thread count. */
dq_calib *dq_calib_capture(const dq_model *m, const dq_dataset *ds, int batch,
                           int64_t max_samples, uint64_t seed, int progress);
/* The same samples from a dnateq-dump tensor file of m (README schema);
 * every quantizable input of m must be present. */
dq_calib *dq_calib_read(const dq_model *m, const char *path);
void dq_calib_free(dq_calib *c);
/* Sample of input `input` of node `node`, or NULL. */
const dq_actsample *dq_calib_get(const dq_calib *c, int node, int input);

/* ---- building plans ----------------------------------------------------- */

/* How one tensor is quantized: scheme NULL or "none" = FP32. */
typedef struct {
    const char *scheme;
    int bits;
    dq_quant_opts opts;
} dq_qspec;

/* Calibrate slot `slot` of layer `layer` of p (a plan of m) with spec s:
 * weights on m's weight (s->opts.per_channel honoured), activations on
 * their calib sample (per tensor, whatever s->opts.per_channel says). */
int dq_plan_quantize(dq_plan *p, const dq_model *m, const dq_calib *c,
                     int layer, int slot, const dq_qspec *s);
/* A plan of m with spec[l * DQ_PLAN_SLOTS + slot] for every present slot
 * (absent slots are ignored).  Slots are calibrated in parallel. */
dq_plan *dq_plan_build(const dq_model *m, const dq_calib *c,
                       const dq_qspec *spec, const char *label);
/* The same spec w for every weight and a for every activation. */
dq_plan *dq_plan_build_all(const dq_model *m, const dq_calib *c,
                           const dq_qspec *w, const dq_qspec *a,
                           const char *label);
/* Uniform plan: weights symmetric bits_w (per channel or per tensor)
 * clipped by w_cal; activations per tensor bits_a (affine when
 * act_affine, else symmetric) clipped by a_cal; every other option from
 * base (NULL: defaults). */
dq_plan *dq_plan_uniform(const dq_model *m, const dq_calib *c, int bits_w,
                         int bits_a, int per_channel, dq_calibrator w_cal,
                         dq_calibrator a_cal, int act_affine,
                         const dq_quant_opts *base, const char *label);

/* ---- a plan bound to a model -------------------------------------------- */

typedef struct dq_qmodel dq_qmodel;

/* Check p against m (dq_plan_check on a copy) and fake-quantize every
 * quantized weight once.  q borrows m; p is copied. */
dq_qmodel *dq_qmodel_alloc(const dq_model *m, const dq_plan *p);
void dq_qmodel_free(dq_qmodel *q);
const dq_plan *dq_qmodel_plan(const dq_qmodel *q);
/* Install q's weights and activation hook on e (an engine of the same
 * model); q == NULL restores FP32.  q must outlive its use by e. */
int dq_qmodel_attach(const dq_qmodel *q, dq_engine *e);

/* ---- evaluation ---------------------------------------------------------- */

/* Correct top-1 predictions of plan p (NULL: FP32) on ds.  pred (ds->n)
 * or NULL receives every prediction. */
int dq_qinfer_evaluate(const dq_model *m, const dq_plan *p,
                       const dq_dataset *ds, int batch, int64_t *correct,
                       int64_t *pred, int progress, const char *label);
/* The same with an already bound plan (NULL: FP32). */
int dq_qinfer_evaluate_q(const dq_model *m, const dq_qmodel *q,
                         const dq_dataset *ds, int batch, int64_t *correct,
                         int64_t *pred, int progress, const char *label);
/* correct[i] for each of ncand candidate plans, each differing from base
 * only in some layers; prefix-cached (see above).  Equal to calling
 * dq_qinfer_evaluate on each candidate, bit for bit. */
int dq_qinfer_evaluate_many(const dq_model *m, const dq_plan *base,
                            const dq_plan *const *cand, int ncand,
                            const dq_dataset *ds, int batch, int64_t *correct,
                            int progress, const char *label);

/* Correct counts of n plans on ds (each evaluated once, NULL = FP32) into
 * correct[n], and *best = the index of the most correct (ties: the
 * first): how a choice among configurations is made on a val split. */
int dq_qinfer_select(const dq_model *m, const dq_plan *const *plans, int n,
                     const dq_dataset *ds, int batch, int64_t *correct,
                     int *best, int progress, const char *label);

/* Wilson score interval of k successes in n trials at normal quantile z
 * (1.959963984540054 for 95%).  n == 0 gives [0, 1]. */
void dq_wilson(int64_t k, int64_t n, double z, double *lo, double *hi);
#define DQ_Z95 1.959963984540054

/* ---- a session: one model and its splits -------------------------------- */

/* The first n images of a split, kept by a session (dq_qsession_head). */
typedef struct {
    char split[16];
    int64_t n;
    dq_dataset *ds;  /* a copy of the split's first n images */
    int64_t fp32;    /* FP32 correct count on ds; -1 until known */
} dq_qhead;

#define DQ_QSESSION_HEADS 8

typedef struct {
    dq_model *model;
    dq_dataset *calib, *val, *test;
    dq_qhead heads[DQ_QSESSION_HEADS];
    int nheads;
    dq_calib *samples; /* NULL until dq_qsession_samples() */
    char *data_dir;
    char *dump_path;   /* read samples from here ("": capture) */
    int64_t calib_size;
    uint64_t seed;
    int batch;
    int64_t max_samples;
    int progress;
    int64_t fp32_val, fp32_test; /* FP32 correct counts; -1 until known */
} dq_qsession;

/* Model and the three splits from [run] model, data_dir, calib_size,
 * seed, batch; progress bars unless quiet.  dump_path NULL: capture the
 * samples on first use. */
dq_qsession *dq_qsession_open(const char *model_path, const char *data_dir,
                              int64_t calib_size, uint64_t seed, int batch,
                              const char *dump_path, int progress);
dq_qsession *dq_qsession_open_config(const dq_config *c,
                                     const char *dump_path);
void dq_qsession_free(dq_qsession *s);
/* The calibration samples (captured or read on the first call, then
 * cached); NULL with the error set on failure. */
const dq_calib *dq_qsession_samples(dq_qsession *s);
/* "val" or "test" (also "calib"); NULL otherwise. */
const dq_dataset *dq_qsession_split(const dq_qsession *s, const char *split);
/* FP32 correct count on "val" or "test" (computed once). */
int dq_qsession_fp32(dq_qsession *s, const char *split, int64_t *correct);
/* The first n images of "val" or "test" (n <= 0 or n >= the split's
 * size: the whole split), copied once and kept by the session: selection
 * on a val subset, or a quick run on a test subset.  NULL with the error
 * set. */
const dq_dataset *dq_qsession_head(dq_qsession *s, const char *split,
                                   int64_t n);
/* FP32 correct count on dq_qsession_head(s, split, n) (computed once). */
int dq_qsession_fp32_head(dq_qsession *s, const char *split, int64_t n,
                          int64_t *correct);

/* ---- the INT8 baseline (DESIGN §2) --------------------------------------- */

/* INT8 per-channel symmetric weights + per-tensor INT8 activations
 * (affine when act_affine), with the activation calibrator among minmax,
 * percentile, mse and kl that gives the most correct val predictions
 * (ties: the earlier in that order; dq_qinfer_select on the first
 * val_images val images, 0: all).  *chosen and val_correct[4] (per
 * calibrator, or NULL) report the selection; the plan's meta records it
 * too. */
dq_plan *dq_qinfer_int8(dq_qsession *s, const dq_quant_opts *base,
                        int act_affine, int64_t val_images,
                        dq_calibrator *chosen, int64_t *val_correct);

#endif
