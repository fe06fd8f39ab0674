/*
 * engine.h — runs a dnateq model (graph.h) on a batch of NCHW float32
 * inputs by calling the kernels of ops.h, node by node in topological
 * order.  The executor only plans shapes and moves buffers; every value it
 * produces comes from an ops.h kernel.
 *
 * Memory: an intermediate value is returned to a buffer pool as soon as
 * its last consumer has run (reference counts), so peak memory is the
 * widest cut of the graph, not the sum of all activations.  Element-wise
 * and reshaping nodes reuse their input's buffer when they are its last
 * consumer.
 *
 * Hooks for quantization.  The quantizable ops are conv2d and linear
 * (their weight and their input 0) and matmul (both inputs):
 *   (a) weights: dq_engine_transform_weights(e, fn, ctx) restores every
 *       quantizable weight from the model's pristine copy (post BatchNorm
 *       folding) and calls fn(ctx, node, weight) on a working copy that fn
 *       may modify in place.  Calling it again starts again from the
 *       pristine weights; dq_engine_reset_weights() drops the transform.
 *       The model itself is never modified, so several engines may share
 *       one model.
 *   (b) activations: with dq_engine_set_act_transform(e, fn, ctx), each
 *       quantizable input is passed to fn(ctx, node, k, x) right before
 *       the op runs; fn may modify x in place.  x is private to this use
 *       (the engine copies a value that any other node still needs), and
 *       x->name is the node that produced it.
 *   (c) capture: dq_engine_set_capture(e, fn, ctx) passes the same inputs
 *       read-only, before the transform (so it sees what arrives at the
 *       op).  The dump driver and calibration use it.
 *   (d) op override: with dq_engine_set_op_override(e, fn, ctx), every
 *       conv2d, linear and matmul node calls fn(ctx, node, x, weight, out,
 *       &done) after (b) and (c), in place of its kernel: x[0] (and x[1]
 *       for matmul) are the inputs, weight the node's current weight
 *       (NULL for matmul), out the node's output buffer, already shaped.
 *       fn either computes all of out (bias included) and sets done = 1,
 *       or leaves done = 0 and the ops.h kernel runs as usual.  The
 *       exp-domain executor (expengine.h) uses it.
 * Hooks run on the calling thread, in node order and input order, once
 * per forward; a non-zero return aborts the forward with that status
 * (the hook sets the error message).
 *
 * Prefix caching: with dq_engine_keep_values(e, 1) the engine keeps the
 * value of every node after a forward (dq_engine_value()), and
 * dq_engine_forward_from(e, k, out) re-runs only nodes k.. on the kept
 * values of nodes < k — e.g. after changing the transform of layers >= k.
 *
 * Determinism: results are bitwise identical at any OpenMP thread count
 * (ops.h guarantees it per kernel; the executor is sequential).
 * An engine is not thread-safe; use one engine per thread.
 */
#ifndef DQ_ENGINE_H
#define DQ_ENGINE_H

#include "graph.h"

#include <stdint.h>

typedef struct dq_engine dq_engine;
struct dq_dataset; /* dataset.h */

typedef int (*dq_weight_fn)(void *ctx, const dq_node *node,
                            dq_tensor *weight);
typedef int (*dq_act_fn)(void *ctx, const dq_node *node, int input,
                         dq_tensor *x);
typedef int (*dq_capture_fn)(void *ctx, const dq_node *node, int input,
                             const dq_tensor *x);
typedef int (*dq_op_fn)(void *ctx, const dq_node *node,
                        const dq_tensor *const *x, const dq_tensor *weight,
                        dq_tensor *out, int *done);

/* The engine borrows m: free the engine before the model. */
dq_engine *dq_engine_alloc(const dq_model *m);
void dq_engine_free(dq_engine *e); /* NULL is a no-op */
const dq_model *dq_engine_model(const dq_engine *e);

/* logits (B, num_classes) = model(input (B, *input_shape)). */
int dq_engine_forward(dq_engine *e, const float *input, int B, float *logits);

/* (a) weight transform; fn == NULL is dq_engine_reset_weights(). */
int dq_engine_transform_weights(dq_engine *e, dq_weight_fn fn, void *ctx);
void dq_engine_reset_weights(dq_engine *e);
/* The weight node i currently runs with (transformed or pristine). */
const dq_tensor *dq_engine_weight(const dq_engine *e, int node);

/* (b), (c): fn == NULL removes the hook. */
void dq_engine_set_act_transform(dq_engine *e, dq_act_fn fn, void *ctx);
void dq_engine_set_capture(dq_engine *e, dq_capture_fn fn, void *ctx);
/* (d): fn == NULL removes the override. */
void dq_engine_set_op_override(dq_engine *e, dq_op_fn fn, void *ctx);

/* Prefix caching. */
void dq_engine_keep_values(dq_engine *e, int keep);
/* Value of node i from the last forward (kept values only; NULL when not
 * available).  Constant nodes return the model's tensor. */
const dq_tensor *dq_engine_value(const dq_engine *e, int node);
/* Re-run nodes start.. (1 <= start < n_nodes) on the values kept from the
 * previous forward (same batch); logits as in dq_engine_forward. */
int dq_engine_forward_from(dq_engine *e, int start, float *logits);

/* Top-1 over a whole dataset split in batches of `batch`: *correct is the
 * number of images whose argmax logit (first maximum) equals the label;
 * pred (ds->n entries) or NULL receives every prediction.  With progress
 * != 0 a progress bar (log.h) labelled `label` runs on stderr. */
int dq_engine_evaluate(dq_engine *e, const struct dq_dataset *ds, int batch,
                       int64_t *correct, int64_t *pred, int progress,
                       const char *label);

#endif
