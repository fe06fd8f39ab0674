/*
 * opcount.h — closed-form operation and data-movement counts per layer.
 *
 * Every quantizable layer (conv2d, linear, attention matmul) is, per
 * inference, `outputs` dot products of length `reduction`.  dq_layer_dims
 * describes it; dq_layer_prec says how its operands are represented; and
 * dq_opcount_layer() counts what one inference of that layer costs:
 *
 *   FP32      every MAC: one FP32 multiply and one FP32 add.
 *   INT-k     every MAC: one bits_w x bits_a integer multiply and one
 *             acc_bits (32) add; every output: one FP32 multiply (scale)
 *             and one FP32 add (zero-point / bias term) — the combine.
 *             The INT8 baseline and mixed-precision uniform are this.
 *   EXPQ      DNA-TEQ (expdot.h): every MAC one exponent add, one sign XOR
 *             and 1 + [β_a != 0] + [β_w != 0] counter increments; every
 *             output the combine of dq_expdot_combine_cost().
 *   LOG2      Miyashita shift-add: every MAC one exponent add, one sign
 *             XOR, one shift and one acc_bits add; every output one FP32
 *             multiply (the scale) — the combine.
 *
 * Counts are dense: every code pair is charged, zero or not (no zero
 * skipping in the modelled hardware, for every scheme alike).  The expdot
 * kernel also counts the pairs it actually skips (pairs_nz).
 *
 * Widths.  K = 2^(n-1) - zero (signed) or 2^n - zero (unsigned) levels;
 * exponent codes need ceil(log2 K) bits and the exponent adder
 * ceil(log2(K_w + K_a - 1)) bits (the width of the sum).  Counters hold
 * [-N, N] when either operand is signed (ceil(log2(N+1)) + 1 bits) and
 * [0, N] otherwise (ceil(log2(N+1)) bits).  LOG2 exponents use the same
 * rule with K = 2^(n-1) (signed) or 2^n (unsigned) and no zero reserved.
 *
 * Data movement (HCM, DESIGN §2): weights w_elems·bits_w, input
 * activations in_elems·bits_a, outputs out_elems·bits_o.  BOPs (HCM) =
 * m·n·k²·(b_a·b_w + b_a + b_w + log2(n·k²)) with m output channels, n input
 * channels per group and k² the kernel area (k = 1 for linear layers; for
 * a matmul (M,K)x(K,N): m = N, n = K, per group); bops_total multiplies by
 * the output positions (H'·W', or tokens), i.e. MACs x the per-MAC bit
 * operations.  log2 is the real logarithm, not rounded.
 *
 * A whole model (dq_optable): one row per quantizable node (graph.h:
 * conv2d, linear, matmul), in node order, with its dims for one inference
 * and the precision of one scheme, set from a plan (plan.h: "none" ->
 * FP32, uniform -> INT, expq -> EXPQ with K, signs, zero codes and β from
 * its parameters, log2 / log-sqrt2 -> LOG2) or for every row at once (INT
 * k_w x k_a, LOG2).  Operand roles: conv2d and linear weight x input 0; a
 * matmul's input 1 takes the weight role and input 0 the activation role
 * (as in expdot.h).  Output bits: a layer writes its outputs once, at the
 * bits its consumers read them with — the largest activation bits of the
 * quantizable layers reached from it through non-quantizable ops (bias,
 * ReLU, pooling, reshapes, softmax, ...), or logit_bits when it reaches
 * the model's output; the modelled accelerator fuses those ops and the
 * requantization into the write, and they are not charged.
 */
#ifndef DQ_OPCOUNT_H
#define DQ_OPCOUNT_H

#include "graph.h"
#include "plan.h"

#include <stdint.h>

typedef enum { DQ_LAYER_CONV2D, DQ_LAYER_LINEAR, DQ_LAYER_MATMUL } dq_layer_kind;

typedef struct {
    dq_layer_kind kind;
    int64_t outputs;   /* dot products per inference */
    int64_t reduction; /* length N of each */
    int64_t in_elems;  /* input activation elements read */
    int64_t w_elems;   /* weight (or second-operand) elements read */
    int64_t out_elems; /* output elements written */
    int w_is_param;    /* 1: weights are parameters (live in DRAM);
                          0: the second operand is an activation (matmul) */
    int64_t hcm_m, hcm_n, hcm_k2; /* HCM's m, n, k² (n per group) */
    int64_t positions; /* output positions per output channel */
} dq_layer_dims;

/* Per inference (batch 1).  DQ_EINVAL on non-positive sizes, groups not
 * dividing C and OC, or an empty output. */
int dq_layer_dims_conv2d(dq_layer_dims *d, int C, int H, int W, int OC, int kh,
                         int kw, int stride_h, int stride_w, int pad_h,
                         int pad_w, int dil_h, int dil_w, int groups);
/* rows = tokens per inference (1 for an MLP). */
int dq_layer_dims_linear(dq_layer_dims *d, int64_t rows, int64_t C,
                         int64_t OC);
/* G independent (M,K) x (K,N) products per inference. */
int dq_layer_dims_matmul(dq_layer_dims *d, int64_t G, int64_t M, int64_t K,
                         int64_t N);

typedef enum { DQ_ARITH_FP32, DQ_ARITH_INT, DQ_ARITH_EXPQ, DQ_ARITH_LOG2 } dq_arith;

typedef struct {
    dq_arith arith;
    int bits_w, bits_a, bits_o; /* storage bits (FP32: 32) */
    int signed_w, signed_a;     /* EXPQ/LOG2: a sign bit is one of the bits */
    int zero_w, zero_a;         /* EXPQ: one code reserved for exact 0 */
    int beta_w_nz, beta_a_nz;   /* EXPQ: β_w / β_a non-zero */
    int acc_bits;               /* INT/LOG2 accumulator (0: 32) */
} dq_layer_prec;

typedef struct {
    int64_t macs;          /* code pairs = outputs x reduction */
    int64_t outputs;
    int64_t fp_mults, fp_adds;     /* FP32 MAC arithmetic */
    int64_t int_mults;             /* mult_bits_w x mult_bits_a */
    int mult_bits_w, mult_bits_a;
    int64_t int_adds;              /* acc_bits wide */
    int acc_bits;
    int64_t exp_adds;              /* exp_add_bits wide */
    int exp_add_bits;
    int64_t sign_xors;
    int64_t shifts;                /* LOG2: shifts into acc_bits */
    int64_t counter_incs;          /* counter_bits wide */
    int counter_bits;
    int64_t combine_muls, combine_adds; /* per-output work, FP32 */
    int64_t w_bits, in_bits, out_bits;  /* data read / written */
    int w_is_param;
    double bops;       /* HCM formula, per output position */
    double bops_total; /* x positions */
} dq_opcount;

/* K of an n-bit exponential code (DESIGN §1.1); 0 when n is out of 1..9
 * or the result is < 1. */
int dq_opcount_levels(int bits, int is_signed, int zero_code);
/* ceil(log2(v)) for v >= 1: the bits that index v values. */
int dq_opcount_bits_for(int64_t v);

int dq_opcount_layer(dq_opcount *oc, const dq_layer_dims *d,
                     const dq_layer_prec *p);

/* ---- a whole model ---------------------------------------------------- */

typedef struct {
    const dq_model *m; /* borrowed */
    int n;             /* quantizable nodes */
    int *node;         /* their model node indices, ascending */
    dq_layer_dims *dims; /* per inference (batch 1) */
    dq_layer_prec *prec; /* of the scheme set last (alloc: FP32) */
    dq_opcount *oc;      /* filled by dq_optable_count() */
} dq_optable;

/* Rows of every quantizable node of m, FP32 precision.  The table borrows
 * m.  NULL with the error set on failure. */
dq_optable *dq_optable_alloc(const dq_model *m);
void dq_optable_free(dq_optable *t); /* NULL is a no-op */

/* Every row FP32 (32-bit operands). */
void dq_optable_set_fp32(dq_optable *t);
/* Every row INT bits_w x bits_a (1..32) with a 32-bit accumulator. */
int dq_optable_set_int(dq_optable *t, int bits_w, int bits_a);
/* Every row from plan p (a plan of t->m; checked on a copy).  Schemes
 * without an arithmetic model here (apot, kmeans, ...), or operands of
 * two different schemes, are DQ_EUNSUP naming the plan and the layer. */
int dq_optable_set_plan(dq_optable *t, const dq_plan *p);
/* Every row becomes LOG2 (Miyashita shift-add) at `bits` for both
 * operands, or at each row's current bits when bits == 0, keeping the
 * operands' signedness. */
int dq_optable_set_log2(dq_optable *t, int bits);
/* Output bits by the consumer rule above, then dq_opcount_layer() of
 * every row into t->oc. */
int dq_optable_count(dq_optable *t, int logit_bits);
/* Sum of the rows' counts (widths: the largest of any row; bops and bits
 * moved summed). */
void dq_optable_total(const dq_optable *t, dq_opcount *sum);

/* HCM: BOPs of a layer (per output position) and bits moved. */
double dq_hcm_bops(int64_t m, int64_t n, int64_t k2, int b_a, int b_w);
int64_t dq_hcm_bits_moved(int64_t in_elems, int64_t w_elems,
                          int64_t out_elems, int b_a, int b_w, int b_o);

#endif
