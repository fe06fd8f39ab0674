/*
 * plan.h — the quantization plan: which scheme, bitwidth and calibrated
 * parameters every quantizable tensor of a model runs with, and its HDF5
 * file (`format = dnateq-plan`, version 1; schema in the README).
 *
 * A plan has one dq_plan_layer per quantizable node of the model (graph.h:
 * conv2d and linear have a weight and input 0; matmul has inputs 0 and 1,
 * both activations), in node order.  Each of a layer's tensors (slot
 * DQ_PLAN_W, DQ_PLAN_A0, DQ_PLAN_A1) is either "none" (FP32, bits 32,
 * qp NULL) or a registry scheme (quant.h) at 2..8 bits with its full
 * calibrated dq_qparams, so a plan re-applies without recalibration and
 * round-trips through its file exactly.
 *
 * Shapes: a weight slot records the weight's shape (after BatchNorm
 * folding); an activation slot records the input's shape for a batch of
 * one image.  dq_plan_check() compares both, the per-channel count and
 * the bits against a model and names the file and the layer in its
 * errors:
 *   "plan.h5: layer 'fc9': no such node in model data/zoo/mlp.h5"
 *   "plan.h5: layer 'fc1' weight: bits 9 outside 2..8"
 *
 * Plans are plain data: this module never calibrates (qinfer.h does).
 * Contract: constructors return a complete plan or NULL with the error
 * set; dq_plan_free(NULL) is a no-op; setters take ownership of the
 * qparams they are given (also on failure).
 */
#ifndef DQ_PLAN_H
#define DQ_PLAN_H

#include "graph.h"
#include "quant/quant.h"

#include <stdint.h>

#define DQ_PLAN_FORMAT "dnateq-plan"
#define DQ_PLAN_VERSION 1
#define DQ_PLAN_NONE "none" /* scheme name of an FP32 tensor */
#define DQ_PLAN_FP32_BITS 32
#define DQ_PLAN_SCHEME_MAX 32

enum { DQ_PLAN_W = 0, DQ_PLAN_A0 = 1, DQ_PLAN_A1 = 2, DQ_PLAN_SLOTS = 3 };

typedef struct {
    int present;                    /* the op has this tensor */
    char scheme[DQ_PLAN_SCHEME_MAX]; /* registry name, or "none" */
    int bits;                       /* 2..8; 32 for "none" */
    int rank;                       /* weight shape / input shape at B = 1 */
    int64_t shape[DQ_MAX_RANK];
    dq_qparams *qp;                 /* owned; NULL for "none" */
} dq_plan_tensor;

typedef struct {
    char name[DQ_NAME_MAX]; /* the node's name */
    char op[16];            /* "conv2d", "linear" or "matmul" */
    int node;               /* node index in the model; -1 until checked */
    double shared_base;     /* > 0: W and A share this base (DNA-TEQ) */
    dq_plan_tensor t[DQ_PLAN_SLOTS];
} dq_plan_layer;

typedef struct {
    char *path;       /* file read from ("" when built in memory) */
    char *model_file; /* the model's file, as given to dq_plan_alloc */
    char *model_name;
    char *label;      /* what the plan is, e.g. "INT8", "DNA-TEQ" */
    char *config;     /* effective config of the run that made it ("") */
    char *meta;       /* free text (e.g. search summary), "" when none */
    uint64_t seed;
    int n_layers;
    dq_plan_layer *layers;
} dq_plan;

/* Element-weighted bit statistics of a plan (weights: elements of the
 * weight; activations: elements per image).  "none" counts 32 bits; a
 * scheme counts its storage bits (quant.h: storage_bits, else bits). */
typedef struct {
    double w_elems, a_elems;    /* elements of every weight / activation */
    double w_bits, a_bits;      /* sum of elements x bits */
    double avg_w, avg_a, avg;   /* averages (0 when there is nothing) */
    double compression_vs_int8; /* 1 - sum(elems x bits) / sum(elems x 8) */
} dq_plan_stats;

/* The FP32 plan of m (every tensor "none"), with shapes and node indices. */
dq_plan *dq_plan_alloc(const dq_model *m, const char *label);
void dq_plan_free(dq_plan *p);
dq_plan *dq_plan_clone(const dq_plan *p);

/* Replace a string field (label, config, meta) with a copy of s. */
int dq_plan_set_str(char **field, const char *s);

/* Index of the layer called name, or -1. */
int dq_plan_find(const dq_plan *p, const char *name);
/* Index of the layer of node `node`, or -1. */
int dq_plan_find_node(const dq_plan *p, int node);

/* Set one tensor: scheme "none" (qp must be NULL) or a registry scheme
 * whose calibrated parameters qp (ownership taken) match name and bits. */
int dq_plan_set(dq_plan *p, int layer, int slot, const char *scheme, int bits,
                dq_qparams *qp);

/* Validate p against m (every layer exists and is quantizable, every
 * quantizable node has a layer, present slots, shapes, per-channel
 * counts, schemes, bits 2..8 and qparams consistent) and record each
 * layer's node index.  Errors name p->path (or "plan") and the layer. */
int dq_plan_check(dq_plan *p, const dq_model *m);

/* DQ_EINVAL naming the layer when a quantized tensor's bits lie outside
 * bits_min..bits_max ("none" tensors are not checked). */
int dq_plan_check_bits(const dq_plan *p, int bits_min, int bits_max);

/* 1 when layer i runs identically in a and b (same schemes, bits and
 * bit-identical parameters). */
int dq_plan_layer_equal(const dq_plan_layer *a, const dq_plan_layer *b);
/* Index of the first layer where a and b differ; n_layers when equal
 * (the plans must have the same layers). */
int dq_plan_first_diff(const dq_plan *a, const dq_plan *b);

int dq_plan_stats_compute(const dq_plan *p, dq_plan_stats *st);
/* Bits one stored element of tensor t takes (32 for "none"). */
int dq_plan_tensor_bits(const dq_plan_tensor *t);

/* HDF5 file.  Writing is atomic (h5io); reading validates the format
 * and every field, but not the model (call dq_plan_check). */
int dq_plan_write(const dq_plan *p, const char *path);
dq_plan *dq_plan_read(const char *path);

#endif
