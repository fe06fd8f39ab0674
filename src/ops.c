/*
 * ops.c — float32 NCHW layer kernels of the dnateq inference engine.
 *
 * This is the bottom of the graph/engine layer: src/engine.c walks a model
 * graph (src/graph.c) and calls one kernel here per node; it does no
 * arithmetic itself.  The kernels follow Karpathy's llm.c (train_gpt2.c):
 * one layer is one plain function, outputs first, inputs next, dimensions
 * last; a comment gives the shapes and the PyTorch doc whose semantics the
 * kernel matches.  Conv2d, linear and matmul go through cblas_sgemm
 * (OpenBLAS); everything else is a direct loop.
 *
 * Precision: products go through float32 sgemm like PyTorch's CPU path;
 * the normalisations and reductions (batchnorm, layernorm, softmax sum,
 * pooling averages, mean, gelu) are accumulated in double and rounded once
 * to float, so they are at least as accurate as PyTorch's float paths and
 * agree with them to a few ulp.
 *
 * Determinism: see ops.h.  Every `omp parallel for` here splits
 * independent outputs; no reduction crosses threads.  OpenBLAS sgemm is
 * NOT thread-count invariant (0.3.21 on AVX-512: its single-threaded
 * "direct" kernel and its threaded path round differently), so no GEMM is
 * ever handed to OpenBLAS whole: sgemm_tile() cuts it into fixed
 * DQ_GEMM_TILE_M x DQ_GEMM_TILE_N tiles, and the tiles run in our own
 * `omp parallel for`, inside which OpenBLAS runs single-threaded.  Each
 * tile's bytes then depend only on its sizes.
 */
#include "ops.h"

#include "error.h"
#include "tensor.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/* Below this many output elements a parallel region costs more than it
 * saves; the `if` clause keeps the work serial (same bytes either way). */
#define DQ_OMP_MIN 16384

static const double DQ_SQRT1_2 = 0.70710678118654752440;

/* ------------------------------------------------------------------------
 * shared n-d helpers
 * ---------------------------------------------------------------------- */

/* Normalise a PyTorch-style dim (negative counts from the end). */
static int norm_dim(const char *op, int dim, int rank, int *out)
{
    int d = dim < 0 ? dim + rank : dim;
    *out = 0; // defined even on error
    if (d < 0 || d >= rank)
        return DQ_ERROR(DQ_EINVAL, "%s: dim %d out of range for rank %d", op,
                        dim, rank);
    *out = d;
    return DQ_OK;
}

static int check_shape(const char *op, int rank, const int64_t *shape)
{
    if (rank < 0 || rank > DQ_MAX_RANK)
        return DQ_ERROR(DQ_EINVAL, "%s: rank %d outside 0..%d", op, rank,
                        DQ_MAX_RANK);
    for (int i = 0; i < rank; i++)
        if (shape[i] < 0)
            return DQ_ERROR(DQ_EINVAL, "%s: negative dimension %lld", op,
                            (long long)shape[i]);
    if (dq_shape_size(rank, shape) < 0)
        return DQ_ERROR(DQ_EOVERFLOW, "%s: shape size overflows", op);
    return DQ_OK;
}

/* Row-major element strides of a contiguous shape. */
static void contiguous_strides(int64_t *stride, int rank, const int64_t *shape)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i];
    }
}

/* Offset into a strided input of the first element of output row `row`,
 * where rows are the output viewed as (prod(shape[:-1]), shape[-1]). */
static int64_t row_offset(int64_t row, int rank, const int64_t *shape,
                          const int64_t *stride)
{
    int64_t off = 0;
    for (int d = rank - 2; d >= 0; d--) {
        int64_t i = row % shape[d];
        row /= shape[d];
        off += i * stride[d];
    }
    return off;
}

/* out (contiguous, shape) [idx] = inp[sum idx_d * istride_d].  The one
 * loop behind permute, slice and expand: istride may hold 0 (broadcast),
 * scaled strides (slice steps) or permuted strides. */
static void strided_copy(float *out, const float *inp, int rank,
                         const int64_t *shape, const int64_t *istride)
{
    if (rank == 0) {
        out[0] = inp[0];
        return;
    }
    int64_t last = shape[rank - 1];
    int64_t rows = dq_shape_size(rank - 1, shape);
    int64_t s_last = istride[rank - 1];
    if (last == 0) return;
#pragma omp parallel for if (rows * last >= DQ_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *inp_r = inp + row_offset(r, rank, shape, istride);
        float *out_r = out + r * last; // seek to the output row
        if (s_last == 1) {
            memcpy(out_r, inp_r, (size_t)last * sizeof(float));
        } else {
            for (int64_t j = 0; j < last; j++) out_r[j] = inp_r[j * s_last];
        }
    }
}

/* ------------------------------------------------------------------------
 * GEMM tiles
 * ---------------------------------------------------------------------- */

/* Tile of C computed by one single-threaded sgemm call.  The sizes are
 * constants, so the result never depends on the number of threads. */
#define DQ_GEMM_TILE_M 64
#define DQ_GEMM_TILE_N 128

/* Number of tiles covering an (M, N) output. */
static int gemm_tiles(int M, int N)
{
    return ((M + DQ_GEMM_TILE_M - 1) / DQ_GEMM_TILE_M) *
           ((N + DQ_GEMM_TILE_N - 1) / DQ_GEMM_TILE_N);
}

/*
 * Tile number `tile` (row-major over the tile grid) of
 *     C (M,N) = A (M,K) . B (K,N)        transb == 0
 *     C (M,N) = A (M,K) . B (N,K)^T      transb == 1
 * all row-major with leading dimensions lda, ldb, ldc; K >= 1.
 * Call it only from inside an `omp parallel for` with no `if` clause:
 * there OpenBLAS sees omp_in_parallel() (or a single thread) and does not
 * thread, whatever the thread count.  Outside one it might, and its
 * threaded path rounds differently.
 */
static void sgemm_tile(int tile, int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, int transb, float *C, int ldc)
{
    int nt = (N + DQ_GEMM_TILE_N - 1) / DQ_GEMM_TILE_N; // tiles per row
    int i0 = (tile / nt) * DQ_GEMM_TILE_M;               // first row
    int j0 = (tile % nt) * DQ_GEMM_TILE_N;               // first column
    int m = M - i0 < DQ_GEMM_TILE_M ? M - i0 : DQ_GEMM_TILE_M;
    int n = N - j0 < DQ_GEMM_TILE_N ? N - j0 : DQ_GEMM_TILE_N;
    const float *A_t = A + (size_t)i0 * lda; // rows i0.. of A
    const float *B_t = transb ? B + (size_t)j0 * ldb // rows j0.. of B
                              : B + j0;              // columns j0.. of B
    float *C_t = C + (size_t)i0 * ldc + j0; // seek to the tile of C
    cblas_sgemm(CblasRowMajor, CblasNoTrans, transb ? CblasTrans : CblasNoTrans,
                m, n, K, 1.0f, A_t, lda, B_t, ldb, 0.0f, C_t, ldc);
}

/* ------------------------------------------------------------------------
 * conv2d and linear
 * ---------------------------------------------------------------------- */

int dq_conv2d_output_size(int *OH, int *OW, int C, int H, int W, int OC,
                          int kh, int kw, int stride_h, int stride_w,
                          int pad_h, int pad_w, int dil_h, int dil_w,
                          int groups)
{
    if (C < 1 || H < 1 || W < 1 || OC < 1 || kh < 1 || kw < 1 ||
        stride_h < 1 || stride_w < 1 || dil_h < 1 || dil_w < 1 || groups < 1)
        return DQ_ERROR(DQ_EINVAL,
                        "conv2d: sizes, kernel, stride, dilation and groups "
                        "must be >= 1");
    if (pad_h < 0 || pad_w < 0)
        return DQ_ERROR(DQ_EINVAL, "conv2d: negative padding (%d, %d)", pad_h,
                        pad_w);
    if (C % groups != 0 || OC % groups != 0)
        return DQ_ERROR(DQ_EINVAL,
                        "conv2d: groups %d must divide in channels %d and "
                        "out channels %d",
                        groups, C, OC);
    // effective kernel extent with dilation: dil*(k-1)+1
    int64_t span_h = (int64_t)dil_h * (kh - 1) + 1;
    int64_t span_w = (int64_t)dil_w * (kw - 1) + 1;
    int64_t ext_h = (int64_t)H + 2 * (int64_t)pad_h - span_h;
    int64_t ext_w = (int64_t)W + 2 * (int64_t)pad_w - span_w;
    if (ext_h < 0 || ext_w < 0)
        return DQ_ERROR(DQ_EINVAL,
                        "conv2d: kernel extent (%lld, %lld) exceeds padded "
                        "input (%d, %d)",
                        (long long)span_h, (long long)span_w, H + 2 * pad_h,
                        W + 2 * pad_w);
    *OH = (int)(ext_h / stride_h + 1);
    *OW = (int)(ext_w / stride_w + 1);
    return DQ_OK;
}

/* A 1x1, stride-1, unpadded conv reads the image itself as the im2col
 * matrix, so it needs no scratch. */
static int conv_is_pointwise(int kh, int kw, int stride_h, int stride_w,
                             int pad_h, int pad_w)
{
    return kh == 1 && kw == 1 && stride_h == 1 && stride_w == 1 &&
           pad_h == 0 && pad_w == 0;
}

size_t dq_conv2d_scratch_floats(int C, int H, int W, int kh, int kw,
                                int stride_h, int stride_w, int pad_h,
                                int pad_w, int dil_h, int dil_w, int groups)
{
    (void)groups; // one im2col matrix covers all groups of an image
    if (conv_is_pointwise(kh, kw, stride_h, stride_w, pad_h, pad_w)) return 0;
    int OH, OW;
    if (dq_conv2d_output_size(&OH, &OW, C, H, W, groups, kh, kw, stride_h,
                              stride_w, pad_h, pad_w, dil_h, dil_w,
                              groups) != DQ_OK)
        return 0;
    return (size_t)DQ_CONV2D_SLOTS * C * kh * kw * (size_t)OH * OW;
}

/* Floor and ceiling of a / b for b > 0 and any sign of a. */
static int div_floor(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static int div_ceil(int a, int b) { return -div_floor(-a, b); }

/* im2col of one image: col (C*kh*kw, OH*OW), row r = (c, ki, kj) holds the
 * input pixel each output position sees through kernel tap (ki, kj) of
 * channel c, 0 where the tap falls into the padding.  For each tap the
 * output columns [lo, hi) read inside the image; the rest are padding. */
static void im2col(float *col, const float *img, int C, int H, int W, int kh,
                   int kw, int stride_h, int stride_w, int pad_h, int pad_w,
                   int dil_h, int dil_w, int OH, int OW)
{
    int rows = C * kh * kw;
    for (int r = 0; r < rows; r++) {
        int c = r / (kh * kw);
        int ki = (r / kw) % kh;
        int kj = r % kw;
        int off = kj * dil_w - pad_w; // iw = ow * stride_w + off
        int lo = div_ceil(-off, stride_w), hi = div_floor(W - 1 - off, stride_w) + 1;
        lo = lo < 0 ? 0 : lo > OW ? OW : lo;
        hi = hi < lo ? lo : hi > OW ? OW : hi;
        const float *img_c = img + (size_t)c * H * W; // seek to channel c
        float *col_r = col + (size_t)r * OH * OW;     // seek to row r
        for (int oh = 0; oh < OH; oh++) {
            int ih = oh * stride_h - pad_h + ki * dil_h;
            float *col_row = col_r + (size_t)oh * OW;
            if (ih < 0 || ih >= H) {
                memset(col_row, 0, (size_t)OW * sizeof *col_row);
                continue;
            }
            const float *img_row = img_c + (size_t)ih * W + off;
            for (int ow = 0; ow < lo; ow++) col_row[ow] = 0.0f;
            if (stride_w == 1)
                memcpy(col_row + lo, img_row + lo, (size_t)(hi - lo) * sizeof *col_row);
            else
                for (int ow = lo; ow < hi; ow++) col_row[ow] = img_row[ow * stride_w];
            for (int ow = hi; ow < OW; ow++) col_row[ow] = 0.0f;
        }
    }
}

/* The geometry of one conv2d call. */
typedef struct {
    int C, H, W, OC, kh, kw, sh, sw, ph, pw, dh, dw, groups, OH, OW;
} conv_geom;

/* One image of a conv2d: im2col into col (unless pointwise), then per
 * group g out_g (OC/g, OH*OW) = weight_g (OC/g, K) . col_g (K, OH*OW) as
 * fixed sgemm tiles, K = (C/g)*kh*kw, then the bias.  Runs on one thread. */
static void conv2d_image(float *out_b, const float *inp_b, const float *weight,
                         const float *bias, float *col, const conv_geom *g)
{
    int Cg = g->C / g->groups, OCg = g->OC / g->groups;
    int K = Cg * g->kh * g->kw, P = g->OH * g->OW;
    if (conv_is_pointwise(g->kh, g->kw, g->sh, g->sw, g->ph, g->pw))
        col = (float *)inp_b; // the image is (C, H*W) already; only read
    else
        im2col(col, inp_b, g->C, g->H, g->W, g->kh, g->kw, g->sh, g->sw,
               g->ph, g->pw, g->dh, g->dw, g->OH, g->OW);
    int nt = gemm_tiles(OCg, P); // tiles per group
    for (int j = 0; j < g->groups * nt; j++) {
        int gi = j / nt;
        const float *w_g = weight + (size_t)gi * OCg * K; // group gi filters
        const float *col_g = col + (size_t)gi * K * P;   // group gi rows
        float *out_g = out_b + (size_t)gi * OCg * P;      // group gi outputs
        sgemm_tile(j % nt, OCg, P, K, w_g, K, col_g, P, 0, out_g, P);
    }
    if (!bias) return;
    for (int oc = 0; oc < g->OC; oc++) {
        float *out_c = out_b + (size_t)oc * P;
        for (int p = 0; p < P; p++) out_c[p] += bias[oc];
    }
}

/*
 * Conv2d: inp is (B,C,H,W), weight is (OC, C/groups, kh, kw), bias is (OC)
 * or NULL, out is (B,OC,OH,OW); scratch holds
 * dq_conv2d_scratch_floats(...) floats.
 * https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html
 *
 * The batch runs in chunks of DQ_CONV2D_SLOTS images; the images of a chunk
 * run in parallel, each through conv2d_image() with its own slot of the
 * scratch.  The bytes of an image do not depend on the thread count or on
 * the batch it came in.
 */
void dq_conv2d_forward(float *out, const float *inp, const float *weight,
                       const float *bias, float *scratch, int B, int C, int H,
                       int W, int OC, int kh, int kw, int stride_h,
                       int stride_w, int pad_h, int pad_w, int dil_h,
                       int dil_w, int groups)
{
    conv_geom g = {C, H, W, OC, kh, kw, stride_h, stride_w, pad_h, pad_w,
                   dil_h, dil_w, groups, 0, 0};
    g.OH = (H + 2 * pad_h - (dil_h * (kh - 1) + 1)) / stride_h + 1;
    g.OW = (W + 2 * pad_w - (dil_w * (kw - 1) + 1)) / stride_w + 1;
    size_t slot = (size_t)C * kh * kw * g.OH * g.OW; // one image's im2col
    for (int b0 = 0; b0 < B; b0 += DQ_CONV2D_SLOTS) {
        int nb = B - b0 < DQ_CONV2D_SLOTS ? B - b0 : DQ_CONV2D_SLOTS;
#pragma omp parallel for schedule(static, 1)
        for (int s = 0; s < nb; s++) {
            int b = b0 + s;
            conv2d_image(out + (size_t)b * OC * g.OH * g.OW, // output b
                         inp + (size_t)b * C * H * W,        // image b
                         weight, bias, scratch ? scratch + s * slot : NULL, &g);
        }
    }
}

/*
 * Linear: inp is (N,C), weight is (OC,C), bias is (OC) or NULL, out is
 * (N,OC).  https://pytorch.org/docs/stable/generated/torch.nn.Linear.html
 * out = inp . weight^T as parallel sgemm tiles, then the bias row added
 * to every row.
 */
void dq_linear_forward(float *out, const float *inp, const float *weight,
                       const float *bias, int N, int C, int OC)
{
    if (N <= 0 || OC <= 0) return;
    if (C <= 0) { // empty reduction: zeros (sgemm wants lda >= 1)
        memset(out, 0, (size_t)N * OC * sizeof(float));
    } else {
        int nt = gemm_tiles(N, OC);
#pragma omp parallel for
        for (int t = 0; t < nt; t++)
            sgemm_tile(t, N, OC, C, inp, C, weight, C, 1, out, OC);
    }
    if (bias) {
#pragma omp parallel for if ((int64_t)N * OC >= DQ_OMP_MIN)
        for (int n = 0; n < N; n++) {
            float *out_n = out + (size_t)n * OC; // seek to row n
            for (int o = 0; o < OC; o++) out_n[o] += bias[o];
        }
    }
}

/* ------------------------------------------------------------------------
 * batch normalisation
 * ---------------------------------------------------------------------- */

/*
 * Fold eval-mode BatchNorm2d into the preceding conv, exactly the formula
 * of torch.nn.utils.fusion.fuse_conv_bn_weights:
 *     rsqrt = 1/sqrt(var + eps)
 *     w'    = w * (gamma * rsqrt)              per output channel
 *     b'    = (b - mean) * rsqrt * gamma + beta
 * computed in double and rounded once to float (PyTorch computes in float).
 * weight is (OC, K) with K = (C/groups)*kh*kw, bias is (OC), both in place.
 * https://pytorch.org/docs/stable/generated/torch.nn.utils.fuse_conv_bn_weights.html
 */
void dq_batchnorm2d_fold(float *weight, float *bias, int OC,
                         int in_per_group_k, const float *gamma,
                         const float *beta, const float *mean,
                         const float *var, double eps)
{
    for (int o = 0; o < OC; o++) {
        double rsqrt = 1.0 / sqrt((double)var[o] + eps);
        double scale = (double)gamma[o] * rsqrt;
        float *w_o = weight + (size_t)o * in_per_group_k; // filter o
        for (int k = 0; k < in_per_group_k; k++)
            w_o[k] = (float)((double)w_o[k] * scale);
        bias[o] = (float)(((double)bias[o] - (double)mean[o]) * rsqrt *
                              (double)gamma[o] +
                          (double)beta[o]);
    }
}

/*
 * Eval-mode BatchNorm2d: inp, out are (B,C,H,W); gamma, beta, mean, var
 * are (C).  y = (x - mean) / sqrt(var + eps) * gamma + beta, in double.
 * https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html
 */
void dq_batchnorm2d_forward(float *out, const float *inp, const float *gamma,
                            const float *beta, const float *mean,
                            const float *var, double eps, int B, int C, int H,
                            int W)
{
    size_t HW = (size_t)H * W;
#pragma omp parallel for collapse(2) if ((int64_t)B * C * HW >= DQ_OMP_MIN)
    for (int b = 0; b < B; b++) {
        for (int c = 0; c < C; c++) {
            double rstd = 1.0 / sqrt((double)var[c] + eps);
            double m = mean[c], g = gamma[c], be = beta[c];
            size_t off = ((size_t)b * C + c) * HW; // seek to plane (b, c)
            const float *x = inp + off;
            float *y = out + off;
            for (size_t i = 0; i < HW; i++)
                y[i] = (float)(((double)x[i] - m) * rstd * g + be);
        }
    }
}

/* ------------------------------------------------------------------------
 * element-wise
 * ---------------------------------------------------------------------- */

/* https://pytorch.org/docs/stable/generated/torch.nn.ReLU.html
 * NaN stays NaN (as torch.relu). */
void dq_relu_forward(float *out, const float *inp, size_t n)
{
#pragma omp parallel for if (n >= DQ_OMP_MIN)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] < 0.0f ? 0.0f : inp[i];
}

/* Exact GELU (approximate='none'): 0.5 * x * (1 + erf(x / sqrt(2))),
 * evaluated in double with the C library erf and rounded once, so the
 * result is the correctly rounded value in almost every case (PyTorch's
 * float erf is within ~1 ulp of it).
 * https://pytorch.org/docs/stable/generated/torch.nn.GELU.html */
void dq_gelu_forward(float *out, const float *inp, size_t n)
{
#pragma omp parallel for if (n >= DQ_OMP_MIN / 8)
    for (size_t i = 0; i < n; i++) {
        double x = inp[i];
        out[i] = (float)(0.5 * x * (1.0 + erf(x * DQ_SQRT1_2)));
    }
}

/* tensor + python number: PyTorch keeps float32 and converts the scalar
 * to float first, so this computes inp + (float)s in float. */
void dq_add_scalar(float *out, const float *inp, double s, size_t n)
{
    float sf = (float)s;
#pragma omp parallel for if (n >= DQ_OMP_MIN)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] + sf;
}

/* tensor * python number: inp * (float)s in float, as PyTorch. */
void dq_mul_scalar(float *out, const float *inp, double s, size_t n)
{
    float sf = (float)s;
#pragma omp parallel for if (n >= DQ_OMP_MIN)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] * sf;
}

/* ------------------------------------------------------------------------
 * pooling
 * ---------------------------------------------------------------------- */

int dq_pool2d_output_size(int *OH, int *OW, int H, int W, int kh, int kw,
                          int stride_h, int stride_w, int pad_h, int pad_w)
{
    if (H < 1 || W < 1 || kh < 1 || kw < 1 || stride_h < 1 || stride_w < 1)
        return DQ_ERROR(DQ_EINVAL,
                        "pool2d: sizes, kernel and stride must be >= 1");
    if (pad_h < 0 || pad_w < 0 || pad_h > kh / 2 || pad_w > kw / 2)
        return DQ_ERROR(DQ_EINVAL,
                        "pool2d: padding (%d, %d) must be between 0 and half "
                        "the kernel (%d, %d)",
                        pad_h, pad_w, kh, kw);
    if (H + 2 * pad_h < kh || W + 2 * pad_w < kw)
        return DQ_ERROR(DQ_EINVAL,
                        "pool2d: kernel (%d, %d) exceeds padded input (%d, %d)",
                        kh, kw, H + 2 * pad_h, W + 2 * pad_w);
    *OH = (H + 2 * pad_h - kh) / stride_h + 1;
    *OW = (W + 2 * pad_w - kw) / stride_w + 1;
    return DQ_OK;
}

/*
 * MaxPool2d: inp is (B,C,H,W), out is (B,C,OH,OW) with OH, OW from
 * dq_pool2d_output_size.  Padding acts as -inf (never selected); a NaN in
 * the window is the result, as in PyTorch.
 * https://pytorch.org/docs/stable/generated/torch.nn.MaxPool2d.html
 */
void dq_maxpool2d_forward(float *out, const float *inp, int B, int C, int H,
                          int W, int kh, int kw, int stride_h, int stride_w,
                          int pad_h, int pad_w)
{
    int OH = (H + 2 * pad_h - kh) / stride_h + 1;
    int OW = (W + 2 * pad_w - kw) / stride_w + 1;
#pragma omp parallel for collapse(2) if ((int64_t)B * C * OH * OW >= DQ_OMP_MIN)
    for (int b = 0; b < B; b++) {
        for (int c = 0; c < C; c++) {
            size_t plane = (size_t)b * C + c;
            const float *x = inp + plane * H * W; // seek to input plane
            float *y = out + plane * OH * OW;     // seek to output plane
            for (int oh = 0; oh < OH; oh++) {
                int h0 = oh * stride_h - pad_h;
                int h1 = h0 + kh < H ? h0 + kh : H;
                if (h0 < 0) h0 = 0;
                for (int ow = 0; ow < OW; ow++) {
                    int w0 = ow * stride_w - pad_w;
                    int w1 = w0 + kw < W ? w0 + kw : W;
                    if (w0 < 0) w0 = 0;
                    float m = -INFINITY;
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++) {
                            float v = x[(size_t)ih * W + iw];
                            if (v > m || isnan(v)) m = v;
                        }
                    y[oh * OW + ow] = m;
                }
            }
        }
    }
}

/*
 * AvgPool2d: inp is (B,C,H,W), out is (B,C,OH,OW).  The divisor follows
 * PyTorch's avg_pool2d: with count_include_pad the window clipped to the
 * padded input (H + pad), otherwise the window clipped to the input.
 * Sums in double.
 * https://pytorch.org/docs/stable/generated/torch.nn.AvgPool2d.html
 */
void dq_avgpool2d_forward(float *out, const float *inp, int B, int C, int H,
                          int W, int kh, int kw, int stride_h, int stride_w,
                          int pad_h, int pad_w, int count_include_pad)
{
    int OH = (H + 2 * pad_h - kh) / stride_h + 1;
    int OW = (W + 2 * pad_w - kw) / stride_w + 1;
#pragma omp parallel for collapse(2) if ((int64_t)B * C * OH * OW >= DQ_OMP_MIN)
    for (int b = 0; b < B; b++) {
        for (int c = 0; c < C; c++) {
            size_t plane = (size_t)b * C + c;
            const float *x = inp + plane * H * W; // seek to input plane
            float *y = out + plane * OH * OW;     // seek to output plane
            for (int oh = 0; oh < OH; oh++) {
                int h0 = oh * stride_h - pad_h;
                int h1 = h0 + kh < H + pad_h ? h0 + kh : H + pad_h;
                int pool_h = h1 - h0; // window rows inside the padded input
                if (h0 < 0) h0 = 0;
                if (h1 > H) h1 = H;
                for (int ow = 0; ow < OW; ow++) {
                    int w0 = ow * stride_w - pad_w;
                    int w1 = w0 + kw < W + pad_w ? w0 + kw : W + pad_w;
                    int pool_w = w1 - w0;
                    if (w0 < 0) w0 = 0;
                    if (w1 > W) w1 = W;
                    double sum = 0.0;
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++)
                            sum += x[(size_t)ih * W + iw];
                    int div = count_include_pad ? pool_h * pool_w
                                                : (h1 - h0) * (w1 - w0);
                    y[oh * OW + ow] = (float)(sum / div);
                }
            }
        }
    }
}

/*
 * AdaptiveAvgPool2d: inp is (B,C,H,W), out is (B,C,OH,OW).  Output cell i
 * averages input rows [floor(i*H/OH), ceil((i+1)*H/OH)), the same for
 * columns, as PyTorch's start_index/end_index.  Sums in double.
 * https://pytorch.org/docs/stable/generated/torch.nn.AdaptiveAvgPool2d.html
 */
void dq_adaptive_avgpool2d_forward(float *out, const float *inp, int B, int C,
                                   int H, int W, int OH, int OW)
{
#pragma omp parallel for collapse(2) if ((int64_t)B * C * H * W >= DQ_OMP_MIN)
    for (int b = 0; b < B; b++) {
        for (int c = 0; c < C; c++) {
            size_t plane = (size_t)b * C + c;
            const float *x = inp + plane * H * W; // seek to input plane
            float *y = out + plane * OH * OW;     // seek to output plane
            for (int oh = 0; oh < OH; oh++) {
                int h0 = (int)(((int64_t)oh * H) / OH);
                int h1 = (int)(((int64_t)(oh + 1) * H + OH - 1) / OH);
                for (int ow = 0; ow < OW; ow++) {
                    int w0 = (int)(((int64_t)ow * W) / OW);
                    int w1 = (int)(((int64_t)(ow + 1) * W + OW - 1) / OW);
                    double sum = 0.0;
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++)
                            sum += x[(size_t)ih * W + iw];
                    y[oh * OW + ow] =
                        (float)(sum / ((double)(h1 - h0) * (w1 - w0)));
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------
 * softmax and layernorm
 * ---------------------------------------------------------------------- */

int dq_axis_split(int *outer, int *n, int *inner, int rank,
                  const int64_t *shape, int dim)
{
    DQ_TRY(check_shape("axis split", rank, shape));
    int d;
    DQ_TRY(norm_dim("axis split", dim, rank, &d));
    int64_t o = dq_shape_size(d, shape);
    int64_t i = dq_shape_size(rank - d - 1, shape + d + 1);
    if (o > INT_MAX || i > INT_MAX || shape[d] > INT_MAX)
        return DQ_ERROR(DQ_EOVERFLOW, "axis split: dimension exceeds INT_MAX");
    *outer = (int)o;
    *n = (int)shape[d];
    *inner = (int)i;
    return DQ_OK;
}

/*
 * Softmax over the middle axis of inp viewed as (outer, n, inner); out has
 * the same shape.  Element j of the line (o, i) sits at o*n*inner +
 * j*inner + i.  The max is subtracted before expf so that exp never
 * overflows (inputs of 1000 would give inf/inf = NaN otherwise); the sum
 * runs in double.  A NaN in the line makes the whole line NaN.
 * https://pytorch.org/docs/stable/generated/torch.nn.Softmax.html
 */
void dq_softmax_forward(float *out, const float *inp, int outer, int n,
                        int inner)
{
    int64_t lines = (int64_t)outer * inner;
#pragma omp parallel for if (lines * n >= DQ_OMP_MIN)
    for (int64_t l = 0; l < lines; l++) {
        int64_t o = l / inner, i = l % inner;
        size_t base = (size_t)o * n * inner + (size_t)i; // line (o, i)
        const float *x = inp + base;
        float *y = out + base;
        float maxval = -INFINITY;
        for (int j = 0; j < n; j++) {
            float v = x[(size_t)j * inner];
            if (v > maxval || isnan(v)) maxval = v;
        }
        double sum = 0.0;
        for (int j = 0; j < n; j++) {
            float e = expf(x[(size_t)j * inner] - maxval);
            y[(size_t)j * inner] = e;
            sum += e;
        }
        double norm = 1.0 / sum;
        for (int j = 0; j < n; j++)
            y[(size_t)j * inner] = (float)(y[(size_t)j * inner] * norm);
    }
}

/*
 * LayerNorm over the last C elements: inp, out are (N,C); weight, bias are
 * (C) or NULL (elementwise_affine=False).  Mean and the biased variance
 * (divide by C, as PyTorch) are computed in double, two-pass.
 * https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html
 */
void dq_layernorm_forward(float *out, const float *inp, const float *weight,
                          const float *bias, int N, int C, double eps)
{
#pragma omp parallel for if ((int64_t)N * C >= DQ_OMP_MIN)
    for (int r = 0; r < N; r++) {
        const float *x = inp + (size_t)r * C; // seek to row r
        float *y = out + (size_t)r * C;
        double m = 0.0;
        for (int i = 0; i < C; i++) m += x[i];
        m /= C;
        double v = 0.0;
        for (int i = 0; i < C; i++) {
            double d = x[i] - m;
            v += d * d;
        }
        v /= C;
        double rstd = 1.0 / sqrt(v + eps);
        for (int i = 0; i < C; i++) {
            double z = (x[i] - m) * rstd;
            if (weight) z *= weight[i];
            if (bias) z += bias[i];
            y[i] = (float)z;
        }
    }
}

/* ------------------------------------------------------------------------
 * broadcasting binary ops
 * ---------------------------------------------------------------------- */

int dq_broadcast_shape(int *rank_out, int64_t *shape_out, int rank_a,
                       const int64_t *shape_a, int rank_b,
                       const int64_t *shape_b)
{
    DQ_TRY(check_shape("broadcast", rank_a, shape_a));
    DQ_TRY(check_shape("broadcast", rank_b, shape_b));
    int r = rank_a > rank_b ? rank_a : rank_b;
    int64_t tmp[DQ_MAX_RANK];
    for (int i = 0; i < r; i++) {
        // align from the right; missing leading dims act as 1
        int ia = i - (r - rank_a), ib = i - (r - rank_b);
        int64_t da = ia >= 0 ? shape_a[ia] : 1;
        int64_t db = ib >= 0 ? shape_b[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[128], sb[128];
            return DQ_ERROR(DQ_EINVAL, "broadcast: shapes %s and %s differ "
                            "in dim %d (%lld vs %lld)",
                            dq_shape_str(sa, sizeof sa, rank_a, shape_a),
                            dq_shape_str(sb, sizeof sb, rank_b, shape_b), i,
                            (long long)da, (long long)db);
        }
        tmp[i] = da == 1 ? db : da;
    }
    *rank_out = r;
    memcpy(shape_out, tmp, (size_t)r * sizeof(int64_t));
    return DQ_OK;
}

/* Strides of an input (rank_in, shape_in) read through the broadcast
 * output shape (rank_out): 0 along broadcast (size-1 or missing) dims. */
static void broadcast_strides(int64_t *stride, int rank_out,
                              const int64_t *shape_out, int rank_in,
                              const int64_t *shape_in)
{
    int64_t cs[DQ_MAX_RANK];
    contiguous_strides(cs, rank_in, shape_in);
    for (int i = 0; i < rank_out; i++) {
        int j = i - (rank_out - rank_in);
        stride[i] = (j < 0 || (shape_in[j] == 1 && shape_out[i] != 1))
                        ? 0
                        : cs[j];
    }
}

enum binop { BIN_ADD, BIN_MUL };

static int binary_forward(const char *name, enum binop op, float *out,
                          const float *a, const float *b, int rank_a,
                          const int64_t *shape_a, int rank_b,
                          const int64_t *shape_b)
{
    int r;
    int64_t shape[DQ_MAX_RANK], sa[DQ_MAX_RANK], sb[DQ_MAX_RANK];
    int s = dq_broadcast_shape(&r, shape, rank_a, shape_a, rank_b, shape_b);
    if (s != DQ_OK) return dq_error_prefix(s, "%s", name);
    int64_t n = dq_shape_size(r, shape);
    if (n == 0) return DQ_OK;
    if (r == 0) {
        out[0] = op == BIN_ADD ? a[0] + b[0] : a[0] * b[0];
        return DQ_OK;
    }
    broadcast_strides(sa, r, shape, rank_a, shape_a);
    broadcast_strides(sb, r, shape, rank_b, shape_b);
    int64_t last = shape[r - 1];
    int64_t rows = n / last;
    int64_t la = sa[r - 1], lb = sb[r - 1]; // 1 or 0 along the last dim
#pragma omp parallel for if (n >= DQ_OMP_MIN)
    for (int64_t row = 0; row < rows; row++) {
        const float *a_r = a + row_offset(row, r, shape, sa); // a's row
        const float *b_r = b + row_offset(row, r, shape, sb); // b's row
        float *o_r = out + row * last;                        // output row
        if (op == BIN_ADD)
            for (int64_t j = 0; j < last; j++) o_r[j] = a_r[j * la] + b_r[j * lb];
        else
            for (int64_t j = 0; j < last; j++) o_r[j] = a_r[j * la] * b_r[j * lb];
    }
    return DQ_OK;
}

/* out = a + b with numpy broadcasting (float32 add, as torch.add).
 * https://pytorch.org/docs/stable/notes/broadcasting.html */
int dq_add_forward(float *out, const float *a, const float *b, int rank_a,
                   const int64_t *shape_a, int rank_b, const int64_t *shape_b)
{
    return binary_forward("add", BIN_ADD, out, a, b, rank_a, shape_a, rank_b,
                          shape_b);
}

/* out = a * b with numpy broadcasting (float32 multiply, as torch.mul). */
int dq_mul_forward(float *out, const float *a, const float *b, int rank_a,
                   const int64_t *shape_a, int rank_b, const int64_t *shape_b)
{
    return binary_forward("mul", BIN_MUL, out, a, b, rank_a, shape_a, rank_b,
                          shape_b);
}

/* ------------------------------------------------------------------------
 * matmul
 * ---------------------------------------------------------------------- */

/* The matrix view of a matmul: batch shapes (broadcast), M, K, N. */
typedef struct {
    int rank_out;
    int64_t shape_out[DQ_MAX_RANK];
    int batch_rank; // dims of the broadcast batch shape
    int64_t batch[DQ_MAX_RANK];
    int batch_rank_a, batch_rank_b;
    int64_t M, K, N;
} matmul_plan;

static int matmul_plan_make(matmul_plan *p, int rank_a, const int64_t *shape_a,
                            int rank_b, const int64_t *shape_b)
{
    DQ_TRY(check_shape("matmul", rank_a, shape_a));
    DQ_TRY(check_shape("matmul", rank_b, shape_b));
    if (rank_a < 1 || rank_b < 1)
        return DQ_ERROR(DQ_EINVAL, "matmul: operands must have rank >= 1");
    // a rank-1 a is a (1, K) row, a rank-1 b a (K, 1) column
    p->M = rank_a >= 2 ? shape_a[rank_a - 2] : 1;
    int64_t Ka = shape_a[rank_a - 1];
    int64_t Kb = rank_b >= 2 ? shape_b[rank_b - 2] : shape_b[0];
    p->N = rank_b >= 2 ? shape_b[rank_b - 1] : 1;
    if (Ka != Kb) {
        char sa[128], sb[128];
        return DQ_ERROR(DQ_EINVAL,
                        "matmul: inner dimensions differ: %s x %s",
                        dq_shape_str(sa, sizeof sa, rank_a, shape_a),
                        dq_shape_str(sb, sizeof sb, rank_b, shape_b));
    }
    p->K = Ka;
    if (p->M > INT_MAX || p->N > INT_MAX || p->K > INT_MAX)
        return DQ_ERROR(DQ_EOVERFLOW, "matmul: matrix dimension exceeds "
                                      "INT_MAX");
    p->batch_rank_a = rank_a > 2 ? rank_a - 2 : 0;
    p->batch_rank_b = rank_b > 2 ? rank_b - 2 : 0;
    int s = dq_broadcast_shape(&p->batch_rank, p->batch, p->batch_rank_a,
                               shape_a, p->batch_rank_b, shape_b);
    if (s != DQ_OK) return dq_error_prefix(s, "matmul batch dims");
    int r = p->batch_rank;
    memcpy(p->shape_out, p->batch, (size_t)r * sizeof(int64_t));
    if (rank_a >= 2) p->shape_out[r++] = p->M;
    if (rank_b >= 2) p->shape_out[r++] = p->N;
    if (r > DQ_MAX_RANK)
        return DQ_ERROR(DQ_EINVAL, "matmul: result rank exceeds %d",
                        DQ_MAX_RANK);
    p->rank_out = r;
    return DQ_OK;
}

int dq_matmul_shape(int *rank_out, int64_t *shape_out, int rank_a,
                    const int64_t *shape_a, int rank_b,
                    const int64_t *shape_b)
{
    matmul_plan p;
    DQ_TRY(matmul_plan_make(&p, rank_a, shape_a, rank_b, shape_b));
    *rank_out = p.rank_out;
    memcpy(shape_out, p.shape_out, (size_t)p.rank_out * sizeof(int64_t));
    return DQ_OK;
}

int dq_matmul_batch_init(dq_matmul_batch *v, int rank_a,
                         const int64_t *shape_a, int rank_b,
                         const int64_t *shape_b)
{
    matmul_plan p;
    DQ_TRY(matmul_plan_make(&p, rank_a, shape_a, rank_b, shape_b));
    memset(v, 0, sizeof *v);
    v->M = p.M;
    v->K = p.K;
    v->N = p.N;
    v->batch = dq_shape_size(p.batch_rank, p.batch);
    v->batch_rank = p.batch_rank;
    v->batch_rank_a = p.batch_rank_a;
    v->batch_rank_b = p.batch_rank_b;
    memcpy(v->shape, p.batch, (size_t)p.batch_rank * sizeof(int64_t));
    // element strides of a's and b's matrices through the batch shape
    broadcast_strides(v->sa, p.batch_rank, p.batch, p.batch_rank_a, shape_a);
    broadcast_strides(v->sb, p.batch_rank, p.batch, p.batch_rank_b, shape_b);
    contiguous_strides(v->cs, p.batch_rank, p.batch);
    return DQ_OK;
}

void dq_matmul_batch_index(const dq_matmul_batch *v, int64_t t, int64_t *ia,
                           int64_t *ib)
{
    int64_t a = 0, b = 0;
    for (int d = 0; d < v->batch_rank; d++) {
        int64_t idx = (t / v->cs[d]) % v->shape[d];
        a += idx * v->sa[d];
        b += idx * v->sb[d];
    }
    *ia = a;
    *ib = b;
}

/*
 * Batched matmul with torch.matmul semantics: a is (..., M, K), b is
 * (..., K, N), the leading "batch" dims broadcast, out is
 * (batch..., M, N).  E.g. attention scores (B,H,T,D) x (B,H,D,T).
 * https://pytorch.org/docs/stable/generated/torch.matmul.html
 *
 * Fixed-size sgemm tiles of every batch matrix, run in parallel over
 * (batch, tile).  When b has no batch dims, the batch of a is stacked into
 * one (batch*M, K) x (K, N) product, the way a Linear on (B,T,C) runs.
 */
int dq_matmul_forward(float *out, const float *a, const float *b, int rank_a,
                      const int64_t *shape_a, int rank_b,
                      const int64_t *shape_b)
{
    dq_matmul_batch v;
    DQ_TRY(dq_matmul_batch_init(&v, rank_a, shape_a, rank_b, shape_b));
    int M = (int)v.M, K = (int)v.K, N = (int)v.N;
    int64_t nbatch = v.batch;
    if (nbatch == 0 || M == 0 || N == 0) return DQ_OK;
    if (K == 0) { // empty reduction: all zeros, and sgemm wants lda >= 1
        memset(out, 0, (size_t)(nbatch * M * N) * sizeof(float));
        return DQ_OK;
    }
    if (v.batch_rank_b == 0) {
        int64_t rows = nbatch * M;
        if (rows > INT_MAX)
            return DQ_ERROR(DQ_EOVERFLOW, "matmul: rows exceed INT_MAX");
        int nt = gemm_tiles((int)rows, N);
#pragma omp parallel for
        for (int t = 0; t < nt; t++)
            sgemm_tile(t, (int)rows, N, K, a, K, b, N, 0, out, N);
        return DQ_OK;
    }
    int nt = gemm_tiles(M, N); // tiles per batch matrix
#pragma omp parallel for
    for (int64_t j = 0; j < nbatch * nt; j++) {
        int64_t t = j / nt;     // batch matrix of job j
        int64_t ia, ib;         // matrix indices of a and b for batch t
        dq_matmul_batch_index(&v, t, &ia, &ib);
        const float *a_t = a + ia * M * K; // seek to a's matrix
        const float *b_t = b + ib * K * N; // seek to b's matrix
        float *out_t = out + t * M * N;    // seek to the output matrix
        sgemm_tile((int)(j % nt), M, N, K, a_t, K, b_t, N, 0, out_t, N);
    }
    return DQ_OK;
}

/* ------------------------------------------------------------------------
 * data movement
 * ---------------------------------------------------------------------- */

/* Normalise perm into p and check it is a permutation of 0..rank-1. */
static int permute_check(int *p, int rank, const int64_t *shape,
                         const int *perm)
{
    DQ_TRY(check_shape("permute", rank, shape));
    int seen[DQ_MAX_RANK] = {0};
    for (int i = 0; i < rank; i++) {
        DQ_TRY(norm_dim("permute", perm[i], rank, &p[i]));
        if (seen[p[i]]++)
            return DQ_ERROR(DQ_EINVAL, "permute: dim %d repeated", perm[i]);
    }
    return DQ_OK;
}

int dq_permute_shape(int64_t *shape_out, int rank, const int64_t *shape,
                     const int *perm)
{
    int p[DQ_MAX_RANK];
    DQ_TRY(permute_check(p, rank, shape, perm));
    for (int i = 0; i < rank; i++) shape_out[i] = shape[p[i]];
    return DQ_OK;
}

/*
 * Permute: inp has `shape`, out has shape[perm[i]] in dim i.
 * https://pytorch.org/docs/stable/generated/torch.permute.html
 * Output dim i walks input dim perm[i], so its stride is the input's
 * stride of perm[i].
 */
int dq_permute_forward(float *out, const float *inp, int rank,
                       const int64_t *shape, const int *perm)
{
    int p[DQ_MAX_RANK];
    DQ_TRY(permute_check(p, rank, shape, perm));
    int64_t in_stride[DQ_MAX_RANK], oshape[DQ_MAX_RANK], ostride[DQ_MAX_RANK];
    contiguous_strides(in_stride, rank, shape);
    for (int i = 0; i < rank; i++) {
        oshape[i] = shape[p[i]];
        ostride[i] = in_stride[p[i]];
    }
    if (dq_shape_size(rank, shape) == 0) return DQ_OK;
    strided_copy(out, inp, rank, oshape, ostride);
    return DQ_OK;
}

int dq_cat_shape(int64_t *shape_out, int k, int rank,
                 const int64_t *const *shapes, int dim)
{
    if (k < 1) return DQ_ERROR(DQ_EINVAL, "cat: no inputs");
    int d;
    DQ_TRY(norm_dim("cat", dim, rank, &d));
    int64_t tmp[DQ_MAX_RANK];
    for (int j = 0; j < k; j++) {
        DQ_TRY(check_shape("cat", rank, shapes[j]));
        for (int i = 0; i < rank; i++) {
            if (j == 0) {
                tmp[i] = shapes[0][i];
            } else if (i == d) {
                tmp[i] += shapes[j][i];
            } else if (shapes[j][i] != tmp[i]) {
                return DQ_ERROR(DQ_EINVAL,
                                "cat: input %d has size %lld in dim %d, "
                                "expected %lld",
                                j, (long long)shapes[j][i], i,
                                (long long)tmp[i]);
            }
        }
    }
    memcpy(shape_out, tmp, (size_t)rank * sizeof(int64_t));
    return DQ_OK;
}

/*
 * Cat: k inputs of the same rank, equal except along dim; out is their
 * concatenation along dim.  Viewed as (outer, shape[dim]*inner), each
 * input's rows are copied into the output rows at its running offset.
 * https://pytorch.org/docs/stable/generated/torch.cat.html
 */
int dq_cat_forward(float *out, const float *const *inps, int k, int rank,
                   const int64_t *const *shapes, int dim)
{
    int64_t oshape[DQ_MAX_RANK];
    DQ_TRY(dq_cat_shape(oshape, k, rank, shapes, dim));
    int d = dim < 0 ? dim + rank : dim;
    int64_t outer = dq_shape_size(d, oshape);
    int64_t inner = dq_shape_size(rank - d - 1, oshape + d + 1);
    int64_t out_row = oshape[d] * inner; // output floats per outer index
    int64_t col = 0;                     // running offset along dim*inner
    for (int j = 0; j < k; j++) {
        int64_t in_row = shapes[j][d] * inner; // input j floats per outer
        const float *x = inps[j];
        if (in_row > 0) {
#pragma omp parallel for if (outer * in_row >= DQ_OMP_MIN)
            for (int64_t o = 0; o < outer; o++)
                memcpy(out + o * out_row + col, x + o * in_row,
                       (size_t)in_row * sizeof(float));
        }
        col += in_row;
    }
    return DQ_OK;
}

/* Clamp a Python-style bound into [0, n]. */
static int64_t clamp_bound(int64_t v, int64_t n)
{
    if (v < 0) v = v < -n ? 0 : v + n;
    return v > n ? n : v;
}

int dq_slice_shape(int64_t *shape_out, int rank, const int64_t *shape,
                   const int64_t *starts, const int64_t *stops,
                   const int64_t *steps)
{
    DQ_TRY(check_shape("slice", rank, shape));
    for (int d = 0; d < rank; d++) {
        if (steps[d] < 1)
            return DQ_ERROR(DQ_EINVAL, "slice: step %lld in dim %d must be "
                            ">= 1", (long long)steps[d], d);
        int64_t a = clamp_bound(starts[d], shape[d]);
        int64_t b = clamp_bound(stops[d], shape[d]);
        shape_out[d] = b > a ? (b - a + steps[d] - 1) / steps[d] : 0;
    }
    return DQ_OK;
}

/*
 * Slice: out[i] = inp[start + i*step] in every dim (basic indexing,
 * x[a:b:s, ...]); squeezed integer indices are start=i, stop=i+1 and the
 * caller drops the dim.  A strided copy with stride*step strides.
 * https://pytorch.org/docs/stable/tensor_view.html
 */
int dq_slice_forward(float *out, const float *inp, int rank,
                     const int64_t *shape, const int64_t *starts,
                     const int64_t *stops, const int64_t *steps)
{
    int64_t oshape[DQ_MAX_RANK], cs[DQ_MAX_RANK], st[DQ_MAX_RANK];
    DQ_TRY(dq_slice_shape(oshape, rank, shape, starts, stops, steps));
    if (dq_shape_size(rank, oshape) == 0) return DQ_OK;
    contiguous_strides(cs, rank, shape);
    int64_t base = 0; // offset of the first selected element
    for (int d = 0; d < rank; d++) {
        base += clamp_bound(starts[d], shape[d]) * cs[d];
        st[d] = cs[d] * steps[d];
    }
    strided_copy(out, inp + base, rank, oshape, st);
    return DQ_OK;
}

/* Mark the reduced dims of a mean; ndims == 0 reduces every dim. */
static int mean_dims(int *reduce, int rank, const int64_t *shape, int ndims,
                     const int *dims)
{
    DQ_TRY(check_shape("mean", rank, shape));
    for (int i = 0; i < rank; i++) reduce[i] = ndims == 0;
    for (int i = 0; i < ndims; i++) {
        int d;
        DQ_TRY(norm_dim("mean", dims[i], rank, &d));
        if (reduce[d])
            return DQ_ERROR(DQ_EINVAL, "mean: dim %d repeated", dims[i]);
        reduce[d] = 1;
    }
    return DQ_OK;
}

int dq_mean_shape(int64_t *shape_out, int rank, const int64_t *shape,
                  int ndims, const int *dims)
{
    int reduce[DQ_MAX_RANK];
    DQ_TRY(mean_dims(reduce, rank, shape, ndims, dims));
    for (int i = 0; i < rank; i++) shape_out[i] = reduce[i] ? 1 : shape[i];
    return DQ_OK;
}

/*
 * Mean over a set of dims: inp has `shape`, out has the keepdim shape from
 * dq_mean_shape.  Each output sums its R reduced elements in row-major
 * order, in double, and divides by R (R == 0 gives NaN, as PyTorch).
 * https://pytorch.org/docs/stable/generated/torch.mean.html
 */
int dq_mean_forward(float *out, const float *inp, int rank,
                    const int64_t *shape, int ndims, const int *dims)
{
    int reduce[DQ_MAX_RANK];
    DQ_TRY(mean_dims(reduce, rank, shape, ndims, dims));
    int64_t cs[DQ_MAX_RANK];
    contiguous_strides(cs, rank, shape);
    // split dims into kept (k*) and reduced (r*) shapes with input strides
    int nk = 0, nr = 0;
    int64_t kshape[DQ_MAX_RANK], kstride[DQ_MAX_RANK];
    int64_t rshape[DQ_MAX_RANK], rstride[DQ_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        if (reduce[i]) {
            rshape[nr] = shape[i];
            rstride[nr++] = cs[i];
        } else {
            kshape[nk] = shape[i];
            kstride[nk++] = cs[i];
        }
    }
    int64_t nout = dq_shape_size(nk, kshape);
    int64_t R = dq_shape_size(nr, rshape);
    int64_t rcs[DQ_MAX_RANK];
    contiguous_strides(rcs, nr, rshape);
#pragma omp parallel for if (nout * R >= DQ_OMP_MIN)
    for (int64_t o = 0; o < nout; o++) {
        int64_t base = 0; // input offset of output o's first element
        int64_t t = o;
        for (int d = nk - 1; d >= 0; d--) {
            base += (t % kshape[d]) * kstride[d];
            t /= kshape[d];
        }
        double sum = 0.0;
        for (int64_t q = 0; q < R; q++) {
            int64_t off = 0;
            for (int d = 0; d < nr; d++)
                off += ((q / rcs[d]) % rshape[d]) * rstride[d];
            sum += inp[base + off];
        }
        out[o] = (float)(sum / (double)R);
    }
    return DQ_OK;
}

int dq_expand_shape(int64_t *shape_out, int rank_in, const int64_t *shape_in,
                    int rank_out, const int64_t *target)
{
    DQ_TRY(check_shape("expand", rank_in, shape_in));
    if (rank_out < rank_in || rank_out > DQ_MAX_RANK)
        return DQ_ERROR(DQ_EINVAL, "expand: target rank %d must be between "
                        "the input rank %d and %d", rank_out, rank_in,
                        DQ_MAX_RANK);
    int64_t tmp[DQ_MAX_RANK];
    int lead = rank_out - rank_in; // new leading dims
    for (int i = 0; i < rank_out; i++) {
        int j = i - lead;
        if (j < 0) {
            if (target[i] < 0)
                return DQ_ERROR(DQ_EINVAL, "expand: new leading dim %d cannot "
                                "be %lld", i, (long long)target[i]);
            tmp[i] = target[i];
        } else if (target[i] == -1 || target[i] == shape_in[j]) {
            tmp[i] = shape_in[j];
        } else if (shape_in[j] == 1 && target[i] >= 0) {
            tmp[i] = target[i];
        } else {
            return DQ_ERROR(DQ_EINVAL, "expand: dim %d of size %lld cannot "
                            "expand to %lld", j, (long long)shape_in[j],
                            (long long)target[i]);
        }
    }
    memcpy(shape_out, tmp, (size_t)rank_out * sizeof(int64_t));
    return DQ_OK;
}

/*
 * Expand: out (shape_out) is a broadcast copy of inp (shape_in), size-1
 * and new leading dims repeating.
 * https://pytorch.org/docs/stable/generated/torch.Tensor.expand.html
 */
int dq_expand_forward(float *out, const float *inp, int rank_in,
                      const int64_t *shape_in, int rank_out,
                      const int64_t *shape_out)
{
    int64_t resolved[DQ_MAX_RANK], st[DQ_MAX_RANK];
    DQ_TRY(dq_expand_shape(resolved, rank_in, shape_in, rank_out, shape_out));
    if (!dq_shape_equal(rank_out, resolved, rank_out, shape_out))
        return DQ_ERROR(DQ_EINVAL, "expand: output shape must be resolved "
                                   "(no -1)");
    if (dq_shape_size(rank_out, shape_out) == 0) return DQ_OK;
    broadcast_strides(st, rank_out, shape_out, rank_in, shape_in);
    strided_copy(out, inp, rank_out, shape_out, st);
    return DQ_OK;
}
