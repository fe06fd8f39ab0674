/*
 * graph.h — a dnateq model: the validated computation graph of one HDF5
 * model file (format "dnateq-model", schema in the README), as the
 * inference engine (engine.h) runs it.
 *
 * A model is an array of nodes in topological order: node 0 is the one
 * `input` node, every node's inputs are earlier nodes, and `output` names
 * the node whose value is the logits (B, num_classes).  Each node holds
 * its op, its attributes (the fields of dq_node that its op uses) and its
 * parameters (float32 tensors owned by the model).
 *
 * dq_model_load() validates everything it can before returning: unknown
 * ops, missing / later-defined inputs (a cycle or a file not in
 * topological order), missing, unexpected or wrongly shaped parameters,
 * bad attributes, and finally a shape inference pass at two batch sizes
 * (so a linear layer fed the wrong number of features fails at load, not
 * at the first forward).  Every error names the file and the node:
 *   "data/zoo/mlp.h5: node 'fc2' (linear): weight is (256, 500), but its
 *    input has 512 features".
 *
 * BatchNorm folding: a batchnorm2d node whose input is a conv2d whose
 * only consumer is that batchnorm is folded into the conv (weights and
 * bias rescaled with dq_batchnorm2d_fold) and removed from the graph; the
 * conv keeps its name and records the batchnorm's name in `folded`.
 * DQ_MODEL_NO_FOLD keeps every batchnorm as a node.
 *
 * The model is read-only after loading: engines (engine.h) borrow it, so
 * one model can serve several engines (e.g. one per quantization trial).
 */
#ifndef DQ_GRAPH_H
#define DQ_GRAPH_H

#include "tensor.h"

#include <stdint.h>

typedef enum {
    DQ_OP_INPUT,
    DQ_OP_CONSTANT,
    DQ_OP_CONV2D,
    DQ_OP_LINEAR,
    DQ_OP_BATCHNORM2D,
    DQ_OP_LAYERNORM,
    DQ_OP_RELU,
    DQ_OP_GELU,
    DQ_OP_IDENTITY,
    DQ_OP_MAXPOOL2D,
    DQ_OP_AVGPOOL2D,
    DQ_OP_ADAPTIVE_AVGPOOL2D,
    DQ_OP_FLATTEN,
    DQ_OP_ADD,
    DQ_OP_MUL,
    DQ_OP_MATMUL,
    DQ_OP_SOFTMAX,
    DQ_OP_RESHAPE,
    DQ_OP_PERMUTE,
    DQ_OP_CAT,
    DQ_OP_SLICE,
    DQ_OP_MEAN,
    DQ_OP_EXPAND,
    DQ_OP_COUNT
} dq_op;

/* One graph node.  Only the attribute fields of its op are meaningful. */
typedef struct {
    char name[DQ_NAME_MAX];
    dq_op op;
    int index;       /* position in dq_model.nodes */
    int n_inputs;
    int *inputs;     /* indices of earlier nodes */
    int n_consumers; /* number of input edges that read this node */

    /* conv2d; pools use kernel/stride/padding */
    int stride[2], padding[2], dilation[2], groups, kernel[2];
    int count_include_pad; /* avgpool2d */
    int output_size[2];    /* adaptive_avgpool2d */
    int start_dim, end_dim; /* flatten */
    int dim;                /* softmax, cat */
    int has_scalar;         /* add, mul with a number operand */
    double scalar;
    double eps;             /* batchnorm2d, layernorm */
    /* permute: dims (n_dims = rank); mean: dims to reduce */
    int n_dims, dims[DQ_MAX_RANK];
    int keepdim; /* mean */
    /* reshape, expand: target shape with batch_mult (size = mult * B where
     * mult > 0); layernorm: normalized_shape */
    int n_shape;
    int64_t shape[DQ_MAX_RANK], batch_mult[DQ_MAX_RANK];
    /* slice: one entry per input dim (n_dims = rank) */
    int64_t starts[DQ_MAX_RANK], stops[DQ_MAX_RANK], steps[DQ_MAX_RANK];
    int squeeze[DQ_MAX_RANK];

    /* parameters (owned by the model; NULL when absent) */
    dq_tensor *weight, *bias;            /* conv2d, linear, bn, layernorm */
    dq_tensor *running_mean, *running_var; /* batchnorm2d */
    dq_tensor *value;                    /* constant */
    char folded[DQ_NAME_MAX]; /* conv2d: name of the batchnorm folded in */
} dq_node;

typedef struct {
    char *path;
    char *name;          /* model_name attribute, else the file's basename */
    char *torch_version; /* "" when absent */
    int n_nodes;
    dq_node *nodes;
    int output;          /* index of the output node */
    int input_rank;      /* per-sample input shape, e.g. (1, 28, 28) */
    int64_t input_shape[DQ_MAX_RANK - 1];
    int64_t input_size;  /* product of input_shape */
    int num_classes;
    double norm_mean, norm_std; /* 0 and 1 when absent */
    int has_accuracy;    /* val/test top-1 and counts present */
    double val_top1, test_top1;
    int64_t val_correct, test_correct;
    int n_folded;        /* batchnorm nodes folded into convs */
} dq_model;

/* Shape of one value (batch included). */
typedef struct {
    int rank;
    int64_t d[DQ_MAX_RANK];
} dq_shape;

enum { DQ_MODEL_NO_FOLD = 1 };

/* Load and validate a model file; NULL with the error set on failure. */
dq_model *dq_model_load(const char *path);
dq_model *dq_model_load_flags(const char *path, unsigned flags);
void dq_model_free(dq_model *m); /* NULL is a no-op */

/* Index of the node called name, or -1. */
int dq_model_find(const dq_model *m, const char *name);

/* Output shape of every node (shapes: m->n_nodes entries) for a batch of
 * B inputs.  Errors name the file and the node. */
int dq_model_shapes(const dq_model *m, int64_t B, dq_shape *shapes);

/* "conv2d", ...; "?" for an invalid op. */
const char *dq_op_name(dq_op op);

/* Quantizable ops: conv2d and linear (weights and input 0) and matmul
 * (both inputs).  Returns how many of the node's inputs are quantizable
 * activations (0 when the op is not quantizable). */
int dq_node_quant_inputs(const dq_node *n);
/* 1 when the node has a quantizable weight (conv2d, linear). */
int dq_node_has_quant_weight(const dq_node *n);

#endif
