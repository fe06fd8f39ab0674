/*
 * expengine.h — the engine's `exp-domain` mode: a model with a DNA-TEQ
 * plan run through the exact counter kernel of expdot.h (DESIGN §1.3)
 * instead of float GEMM.
 *
 * dq_expengine_alloc() binds a plan to a model: every quantizable layer
 * (conv2d, linear: weight x input 0; matmul: input 1 in the weight role x
 * input 0 in the activation role) must hold per-tensor `expq` parameters
 * for both operands with one shared base (dq_expdot_params_from_quant;
 * the DNA-TEQ search gives the two operands of every layer, matmuls
 * included, the base of their pair search, plan.h shared_base); anything
 * else is DQ_EUNSUP naming the plan and the layer.  Weights are encoded
 * once, from the model's pristine weights.  dq_expengine_attach()
 * installs the op override (engine.h hook (d)) on an engine of the same
 * model: each such node then encodes its float inputs with the plan's
 * activation parameters, runs dq_expdot_conv2d / _gemm / _matmul (exact
 * integer counters, FP64 combine), rounds to float and adds the bias in
 * float afterwards.  A matmul has the engine's torch.matmul semantics
 * (ops.h dq_matmul_batch: broadcast batch dims, rank-1 operands).  All
 * other nodes run the engine's FP32 kernels.  Encoding x equals
 * fake-quantizing it (quant.h: decode(encode(x)) = Q(x)), so this
 * computes, exactly, what the fake-quant path (qinfer.h) computes in
 * float32.
 *
 * Counts: every forward adds the kernel's operation counts of each layer
 * (dq_expdot_counts: pairs = MACs, pairs with a zero code skipped, exponent
 * adds, counter increments, combine work) to dq_expengine_layer(x, i)->
 * counts; dq_expengine_reset_counts() clears them.  Additions are
 * serialised, so one expengine may serve several engines at once.
 *
 * dq_expengine_check() runs the first n images of a split through both
 * paths (exp-domain and fake-quant, same plan) and compares the logits.
 *
 * Determinism: the kernels parallelise over outputs with OpenMP and each
 * output is computed by one thread in a fixed order, so logits and counts
 * are identical at any thread count.
 * Contract: constructors return complete objects or NULL with the error
 * set; *_free(NULL) is a no-op.  Errors name the model or plan file.
 */
#ifndef DQ_EXPENGINE_H
#define DQ_EXPENGINE_H

#include "dataset.h"
#include "engine.h"
#include "expdot.h"
#include "graph.h"
#include "plan.h"

#include <stdint.h>

/* One layer in the exponential domain. */
typedef struct {
    int node;                /* model node index */
    const char *name;        /* the node's name (borrowed from the model) */
    dq_op op;                /* conv2d, linear or matmul */
    dq_expdot_params params; /* K, shared base, alpha and beta of W and A */
    int64_t reduction;       /* N of each dot product */
    int counter_bits;        /* hardware counter width for N */
    dq_expdot_counts counts; /* added up over forwards */
} dq_explayer;

typedef struct dq_expengine dq_expengine;

/* x borrows m (free x first); p is checked against m on a copy. */
dq_expengine *dq_expengine_alloc(const dq_model *m, const dq_plan *p);
void dq_expengine_free(dq_expengine *x);

/* Install x's override on e (an engine of x's model), removing any
 * activation transform; x == NULL removes the override.  x must outlive
 * its use by e. */
int dq_expengine_attach(dq_expengine *x, dq_engine *e);

int dq_expengine_nlayers(const dq_expengine *x);
const dq_explayer *dq_expengine_layer(const dq_expengine *x, int i);
void dq_expengine_reset_counts(dq_expengine *x);

/* Exp-domain vs fake-quant on the first n images of ds (all when n <= 0
 * or n > ds->n), in batches of `batch`.  Relative error of an image:
 * max_c |e_c - f_c| / max_c |f_c| over its logits (e: exp-domain, f:
 * fake-quant; 0 when both are all zero).
 *
 * Code flips.  The two paths compute the same sums, one exactly and one
 * in float32; where a layer's output lies within float32 rounding of a
 * quantization threshold of the next layer, the two paths may encode it
 * into neighbouring codes, and the difference then propagates.  The check
 * captures the input of every quantized layer in both paths, encodes both
 * with the plan's parameters and counts the codes that differ.  An
 * image's first flip (in layer order) must come from such a near-tie: its
 * gap |x_e - x_f| / max|x_f| (over that image's input to that layer) is
 * reported.  Images without any flip see identical codes in every layer,
 * so their logit error measures the kernel's exactness alone. */
typedef struct {
    int64_t images;
    int64_t agree;          /* images whose predicted classes are equal */
    int64_t exp_correct, fq_correct; /* correct top-1 of each path */
    double max_rel;         /* largest relative error of an image */
    double max_abs;         /* largest |e_c - f_c| */
    int64_t code_flips;     /* layer-input codes that differ */
    int64_t flip_images;    /* images with at least one */
    double max_rel_noflip;  /* largest relative error of the others */
    double max_flip_gap;    /* largest gap at an image's first flip */
    /* Where (images numbered from 0 = the split's first): */
    int64_t worst_image;    /* largest relative error (-1: all exact) */
    int64_t worst_flips;    /* code flips of that image, in all layers */
    int worst_layer;        /* its first flips: layer (-1: none), */
    int worst_input;        /* input, */
    int64_t worst_first;    /* how many codes flip there, */
    double worst_gap;       /* and their largest gap */
    int64_t first_disagree; /* first image whose predictions differ (-1) */
    int64_t gap_image;      /* largest first-flip gap (-1: no flip) */
    int gap_layer;          /* ... in this layer (dq_expengine_layer) */
    int gap_input;          /* ... of this input (0, or 1 of a matmul) */
    double exp_s, fq_s;     /* wall time of each path, seconds */
    double exp_cpu_s, fq_cpu_s; /* process CPU time (all threads) */
} dq_expcheck;

/* Counts of x are reset first and then hold the exp-domain run's. */
int dq_expengine_check(dq_expengine *x, const dq_dataset *ds, int64_t n,
                       int batch, int progress, dq_expcheck *out);

#endif
