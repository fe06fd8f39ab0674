/*
 * ops.h — the float32 layer kernels of the dnateq inference engine.
 *
 * Contract.  One layer = one plain function in the style of llm.c: outputs
 * first, then inputs, then the dimensions.  Every tensor is a dense,
 * row-major (C order) float32 array; image tensors are NCHW.  Kernels hold
 * no state, never allocate (conv2d takes caller-provided scratch) and never
 * alias: `out` must not overlap any input unless a kernel says otherwise
 * (the element-wise kernels relu/gelu/scalar and batchnorm2d allow
 * out == inp).  Semantics follow the linked PyTorch doc of each op.
 *
 * Two kinds of kernels:
 *   - fixed-rank kernels (conv2d, linear, batchnorm2d, pools, softmax,
 *     layernorm, element-wise) take their dimensions as ints, return void
 *     and assume valid arguments; the *_output_size helpers validate the
 *     arguments and compute the output shape (DQ_OK or DQ_EINVAL with a
 *     message, error.h).  The engine calls the helper first.
 *   - n-d kernels (add, mul, matmul, permute, cat, slice, mean, expand)
 *     take `int rank, const int64_t *shape` like dq_tensor (rank <=
 *     DQ_MAX_RANK), return DQ_OK or an error, and have a *_shape helper
 *     that computes the output shape (same checks, same errors).  Negative
 *     dims count from the end, as in PyTorch.
 *
 * Determinism: every kernel gives the same bytes at any OpenMP thread
 * count, and when called from inside an outer omp parallel region.
 * Parallel loops run over independent outputs and each reduction runs in a
 * fixed order inside one thread.  OpenBLAS's own threading is not
 * thread-count invariant, so conv2d, linear and matmul cut every product
 * into fixed-size tiles and run one single-threaded cblas_sgemm per tile
 * in their own omp loop (ops.c, sgemm_tile).  Caveat: with OMP_DYNAMIC
 * true, a region that gets one thread while more are allowed could let
 * OpenBLAS thread again; dnateq leaves OMP_DYNAMIC off.
 */
#ifndef DQ_OPS_H
#define DQ_OPS_H

#include "tensor.h" /* DQ_MAX_RANK */

#include <stddef.h>
#include <stdint.h>

/* ---- convolution and linear ------------------------------------------ */

/* Output size of conv2d (floor mode); checks every argument is positive,
 * that groups divides C and OC, and that the output is non-empty. */
int dq_conv2d_output_size(int *OH, int *OW, int C, int H, int W, int OC,
                          int kh, int kw, int stride_h, int stride_w,
                          int pad_h, int pad_w, int dil_h, int dil_w,
                          int groups);

/* Images one conv2d scratch holds side by side.  A batch runs in chunks
 * of this many images, one image per thread at a time, so an image's bytes
 * never depend on the thread count or its batch (each is computed by one
 * thread, with the same fixed sgemm tiles). */
#define DQ_CONV2D_SLOTS 8

/* Floats of scratch dq_conv2d_forward needs (one image's im2col matrix,
 * C*kh*kw x OH*OW, for each of DQ_CONV2D_SLOTS images); 0 means the conv needs none (1x1, stride 1, no padding) and
 * scratch may be NULL.  Also 0 for invalid arguments: call
 * dq_conv2d_output_size first.  One scratch serves a whole batch. */
size_t dq_conv2d_scratch_floats(int C, int H, int W, int kh, int kw,
                                int stride_h, int stride_w, int pad_h,
                                int pad_w, int dil_h, int dil_w, int groups);

/* out (B,OC,OH,OW) = conv2d(inp (B,C,H,W), weight (OC,C/groups,kh,kw),
 * bias (OC) or NULL). */
void dq_conv2d_forward(float *out, const float *inp, const float *weight,
                       const float *bias, float *scratch, int B, int C, int H,
                       int W, int OC, int kh, int kw, int stride_h,
                       int stride_w, int pad_h, int pad_w, int dil_h,
                       int dil_w, int groups);

/* out (N,OC) = inp (N,C) . weight (OC,C)^T + bias (OC) or NULL. */
void dq_linear_forward(float *out, const float *inp, const float *weight,
                       const float *bias, int N, int C, int OC);

/* ---- batch normalisation --------------------------------------------- */

/* Fold an eval-mode BatchNorm2d into the conv before it, in place:
 * weight (OC, K) with K = (C/groups)*kh*kw, bias (OC, never NULL: pass
 * zeros when the conv had none).  gamma, beta, mean, var are (OC). */
void dq_batchnorm2d_fold(float *weight, float *bias, int OC,
                         int in_per_group_k, const float *gamma,
                         const float *beta, const float *mean,
                         const float *var, double eps);

/* out (B,C,H,W) = eval-mode BatchNorm2d of inp (B,C,H,W); out may == inp. */
void dq_batchnorm2d_forward(float *out, const float *inp, const float *gamma,
                            const float *beta, const float *mean,
                            const float *var, double eps, int B, int C, int H,
                            int W);

/* ---- element-wise ----------------------------------------------------- */

void dq_relu_forward(float *out, const float *inp, size_t n);
void dq_gelu_forward(float *out, const float *inp, size_t n); /* exact erf */
void dq_add_scalar(float *out, const float *inp, double s, size_t n);
void dq_mul_scalar(float *out, const float *inp, double s, size_t n);

/* ---- pooling ---------------------------------------------------------- */

/* Output size of max/avg pool2d (floor mode); PyTorch also requires
 * pad <= kernel/2. */
int dq_pool2d_output_size(int *OH, int *OW, int H, int W, int kh, int kw,
                          int stride_h, int stride_w, int pad_h, int pad_w);

/* out (B,C,OH,OW) from inp (B,C,H,W); padding counts as -inf; NaN wins. */
void dq_maxpool2d_forward(float *out, const float *inp, int B, int C, int H,
                          int W, int kh, int kw, int stride_h, int stride_w,
                          int pad_h, int pad_w);

void dq_avgpool2d_forward(float *out, const float *inp, int B, int C, int H,
                          int W, int kh, int kw, int stride_h, int stride_w,
                          int pad_h, int pad_w, int count_include_pad);

/* out (B,C,OH,OW) from inp (B,C,H,W), any OH, OW >= 1. */
void dq_adaptive_avgpool2d_forward(float *out, const float *inp, int B, int C,
                                   int H, int W, int OH, int OW);

/* ---- softmax and layernorm ------------------------------------------- */

/* Split `shape` around axis `dim`: outer = prod(shape[:dim]),
 * n = shape[dim], inner = prod(shape[dim+1:]).  dim may be negative. */
int dq_axis_split(int *outer, int *n, int *inner, int rank,
                  const int64_t *shape, int dim);

/* inp/out viewed as (outer, n, inner); softmax over the n axis. */
void dq_softmax_forward(float *out, const float *inp, int outer, int n,
                        int inner);

/* out (N,C) = layernorm of each row of inp (N,C); weight, bias (C) or NULL. */
void dq_layernorm_forward(float *out, const float *inp, const float *weight,
                          const float *bias, int N, int C, double eps);

/* ---- broadcasting binary ops ----------------------------------------- */

/* numpy/PyTorch broadcast of two shapes (rank 0..DQ_MAX_RANK each). */
int dq_broadcast_shape(int *rank_out, int64_t *shape_out, int rank_a,
                       const int64_t *shape_a, int rank_b,
                       const int64_t *shape_b);

/* out (broadcast shape) = a + b, a * b. */
int dq_add_forward(float *out, const float *a, const float *b, int rank_a,
                   const int64_t *shape_a, int rank_b, const int64_t *shape_b);
int dq_mul_forward(float *out, const float *a, const float *b, int rank_a,
                   const int64_t *shape_a, int rank_b, const int64_t *shape_b);

/* torch.matmul: a (..., M, K) x b (..., K, N) -> (broadcast(...), M, N);
 * a rank-1 a is (K) -> M dim dropped, a rank-1 b is (K) -> N dim dropped. */
int dq_matmul_shape(int *rank_out, int64_t *shape_out, int rank_a,
                    const int64_t *shape_a, int rank_b,
                    const int64_t *shape_b);
int dq_matmul_forward(float *out, const float *a, const float *b, int rank_a,
                      const int64_t *shape_a, int rank_b,
                      const int64_t *shape_b);

/* The batch view of that matmul, as dq_matmul_forward runs it (for other
 * executors of the same semantics, e.g. expengine.h): a is read as
 * contiguous (M, K) matrices, b as (K, N) ones (a rank-1 a is one (1, K)
 * row, a rank-1 b one (K, 1) column) and out as `batch` (M, N) matrices,
 * one per element of the broadcast batch shape.  batch_rank_b == 0: b is
 * one matrix that every output matrix shares. */
typedef struct {
    int64_t M, K, N;
    int64_t batch;                 /* output matrices */
    int batch_rank, batch_rank_a, batch_rank_b;
    int64_t shape[DQ_MAX_RANK];    /* the broadcast batch shape */
    int64_t sa[DQ_MAX_RANK], sb[DQ_MAX_RANK]; /* matrix strides; 0 = bcast */
    int64_t cs[DQ_MAX_RANK];       /* contiguous strides of `shape` */
} dq_matmul_batch;

/* Same checks and errors as dq_matmul_shape. */
int dq_matmul_batch_init(dq_matmul_batch *v, int rank_a,
                         const int64_t *shape_a, int rank_b,
                         const int64_t *shape_b);
/* Matrices of a (*ia) and b (*ib) that output matrix t (0..batch-1) reads. */
void dq_matmul_batch_index(const dq_matmul_batch *v, int64_t t, int64_t *ia,
                           int64_t *ib);

/* ---- data movement ---------------------------------------------------- */

/* out shape[i] = shape[perm[i]]; perm entries may be negative. */
int dq_permute_shape(int64_t *shape_out, int rank, const int64_t *shape,
                     const int *perm);
int dq_permute_forward(float *out, const float *inp, int rank,
                       const int64_t *shape, const int *perm);

/* Concatenate k inputs of equal rank along dim (all other dims equal). */
int dq_cat_shape(int64_t *shape_out, int k, int rank,
                 const int64_t *const *shapes, int dim);
int dq_cat_forward(float *out, const float *const *inps, int k, int rank,
                   const int64_t *const *shapes, int dim);

/* Python-style basic slicing per dim: start/stop negative count from the
 * end and are clamped to [0, shape[d]] (so INT64_MAX means "to the end");
 * step >= 1.  Output dim = max(0, ceil((stop - start) / step)). */
int dq_slice_shape(int64_t *shape_out, int rank, const int64_t *shape,
                   const int64_t *starts, const int64_t *stops,
                   const int64_t *steps);
int dq_slice_forward(float *out, const float *inp, int rank,
                     const int64_t *shape, const int64_t *starts,
                     const int64_t *stops, const int64_t *steps);

/* Mean over ndims dims (ndims == 0: all dims).  shape_out keeps rank with
 * the reduced dims set to 1 (keepdim); the caller drops them otherwise. */
int dq_mean_shape(int64_t *shape_out, int rank, const int64_t *shape,
                  int ndims, const int *dims);
int dq_mean_forward(float *out, const float *inp, int rank,
                    const int64_t *shape, int ndims, const int *dims);

/* Tensor.expand: target (rank_out >= rank_in entries, -1 keeps a dim of
 * the input) -> shape_out; new leading dims may not be -1. */
int dq_expand_shape(int64_t *shape_out, int rank_in, const int64_t *shape_in,
                    int rank_out, const int64_t *target);
/* out (shape_out, resolved, no -1) = broadcast copy of inp. */
int dq_expand_forward(float *out, const float *inp, int rank_in,
                      const int64_t *shape_in, int rank_out,
                      const int64_t *shape_out);

#endif
