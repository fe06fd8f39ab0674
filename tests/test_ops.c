/*
 * test_ops.c — every kernel of src/ops.c against a naive reference.
 *
 * The references here are written the slow, obvious way (direct 7-loop
 * convolution, index arithmetic per element) and compute in double.  The
 * inputs come from a fixed-seed generator, so every run sees the same
 * numbers.  Tolerances: sgemm paths are checked to 1e-5 relative to the
 * sum of |terms| of each output (a float dot product's error scale);
 * double-accumulated kernels to a few float ulp; data movement exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "ops.h"
#include "tensor.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixed-seed data ------------------------------------------------- */

static uint64_t rng_state;

static void rng_seed(uint64_t s) { rng_state = s; }

/* splitmix64 -> uniform float in [-1, 1) with 24 random bits */
static float rng_uniform(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)((double)(z >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static float *rand_floats(size_t n)
{
    float *x = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) x[i] = rng_uniform();
    return x;
}

static double *dalloc(size_t n)
{
    double *x = calloc(n ? n : 1, sizeof(double));
    assert_non_null(x);
    return x;
}

/* |got - ref| <= tol[i] (or tol_c when tol is NULL) for every element. */
static void check_close(const float *got, const double *ref,
                        const double *tol, double tol_c, size_t n,
                        const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double t = tol ? tol[i] : tol_c;
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= t)) {
            fprintf(stderr, "%s: element %zu: got %.9g, expected %.9g "
                    "(err %.3g > tol %.3g)\n", what, i, (double)got[i],
                    ref[i], e, t);
            fail();
        }
    }
}

/* Relative tolerance of a few float ulp for double-accumulated kernels. */
static void check_ulps(const float *got, const double *ref, size_t n,
                       double rel, double abs_floor, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        double t = rel * fabs(ref[i]) + abs_floor;
        if (!(e <= t)) {
            fprintf(stderr, "%s: element %zu: got %.9g, expected %.9g\n",
                    what, i, (double)got[i], ref[i]);
            fail();
        }
    }
}

/* ---- conv2d ---------------------------------------------------------- */

typedef struct {
    int B, C, H, W, OC, kh, kw, sh, sw, ph, pw, dh, dw, groups, bias;
} conv_case;

/* Direct convolution in double; tol = 1e-5 * sum |terms| + 1e-6. */
static void conv_ref(double *ref, double *tol, const float *x, const float *w,
                     const float *bias, const conv_case *c, int OH, int OW)
{
    int Cg = c->C / c->groups, OCg = c->OC / c->groups;
    for (int b = 0; b < c->B; b++)
        for (int oc = 0; oc < c->OC; oc++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    int g = oc / OCg;
                    double s = bias ? bias[oc] : 0.0;
                    double a = bias ? fabs(bias[oc]) : 0.0;
                    for (int ic = 0; ic < Cg; ic++)
                        for (int i = 0; i < c->kh; i++)
                            for (int j = 0; j < c->kw; j++) {
                                int ih = oh * c->sh - c->ph + i * c->dh;
                                int iw = ow * c->sw - c->pw + j * c->dw;
                                if (ih < 0 || ih >= c->H || iw < 0 ||
                                    iw >= c->W)
                                    continue;
                                int cin = g * Cg + ic;
                                double t =
                                    (double)x[((b * c->C + cin) * c->H + ih) *
                                                  c->W + iw] *
                                    w[((oc * Cg + ic) * c->kh + i) * c->kw + j];
                                s += t;
                                a += fabs(t);
                            }
                    size_t o = ((size_t)(b * c->OC + oc) * OH + oh) * OW + ow;
                    ref[o] = s;
                    tol[o] = 1e-5 * a + 1e-6;
                }
}

static void run_conv_case(const conv_case *c, float **out_keep)
{
    int OH, OW;
    assert_int_equal(dq_conv2d_output_size(&OH, &OW, c->C, c->H, c->W, c->OC,
                                           c->kh, c->kw, c->sh, c->sw, c->ph,
                                           c->pw, c->dh, c->dw, c->groups),
                     DQ_OK);
    // PyTorch's formula, written out independently
    assert_int_equal(OH, (int)floor((c->H + 2.0 * c->ph -
                                     c->dh * (c->kh - 1) - 1) / c->sh + 1));
    assert_int_equal(OW, (int)floor((c->W + 2.0 * c->pw -
                                     c->dw * (c->kw - 1) - 1) / c->sw + 1));
    size_t nx = (size_t)c->B * c->C * c->H * c->W;
    size_t nw = (size_t)c->OC * (c->C / c->groups) * c->kh * c->kw;
    size_t no = (size_t)c->B * c->OC * OH * OW;
    float *x = rand_floats(nx), *w = rand_floats(nw);
    float *bias = c->bias ? rand_floats((size_t)c->OC) : NULL;
    size_t ns = dq_conv2d_scratch_floats(c->C, c->H, c->W, c->kh, c->kw, c->sh,
                                         c->sw, c->ph, c->pw, c->dh, c->dw,
                                         c->groups);
    int pointwise = c->kh == 1 && c->kw == 1 && c->sh == 1 && c->sw == 1 &&
                    c->ph == 0 && c->pw == 0;
    if (pointwise)
        assert_int_equal(ns, 0);
    else
        assert_int_equal(ns, (size_t)DQ_CONV2D_SLOTS * c->C * c->kh * c->kw * OH * OW);
    // exact-size scratch: ASan catches any overrun
    float *scratch = ns ? malloc(ns * sizeof(float)) : NULL;
    float *out = malloc(no * sizeof(float));
    double *ref = dalloc(no), *tol = dalloc(no);
    dq_conv2d_forward(out, x, w, bias, scratch, c->B, c->C, c->H, c->W, c->OC,
                      c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->dh, c->dw,
                      c->groups);
    conv_ref(ref, tol, x, w, bias, c, OH, OW);
    check_close(out, ref, tol, 0, no, "conv2d");
    free(x);
    free(w);
    free(bias);
    free(scratch);
    free(ref);
    free(tol);
    if (out_keep)
        *out_keep = out;
    else
        free(out);
}

static void test_conv2d_cases(void **state)
{
    (void)state;
    rng_seed(1);
    static const conv_case cases[] = {
        /* B  C  H  W OC kh kw sh sw ph pw dh dw g bias */
        {2, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   // 3x3 same
        {2, 4, 9, 11, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},  // stride 2, odd
        {1, 3, 10, 9, 5, 3, 2, 1, 2, 2, 1, 2, 3, 1, 1},  // dilation, asym
        {2, 4, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},   // groups 2
        {2, 5, 7, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5, 1},   // depthwise
        {1, 5, 6, 7, 10, 3, 3, 2, 1, 1, 0, 1, 1, 5, 1},  // depth multiplier 2
        {2, 6, 5, 5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},   // pointwise
        {2, 6, 5, 5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2, 0},   // pointwise grouped
        {1, 4, 7, 6, 3, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1},   // 1x1 stride 2
        {1, 2, 3, 3, 2, 5, 5, 1, 1, 2, 2, 1, 1, 1, 1},   // kernel > image
        {3, 2, 5, 4, 3, 2, 3, 3, 2, 0, 1, 1, 1, 1, 0},   // no bias, stride 3
        {1, 1, 28, 28, 8, 5, 5, 1, 1, 2, 2, 1, 1, 1, 1}, // MNIST-like stem
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_conv_case(&cases[i], NULL);
}

static void test_conv2d_output_size_errors(void **state)
{
    (void)state;
    int OH = -1, OW = -1;
    // groups 3 does not divide C = 4
    assert_int_equal(dq_conv2d_output_size(&OH, &OW, 4, 8, 8, 6, 3, 3, 1, 1, 1,
                                           1, 1, 1, 3),
                     DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "groups"));
    // dilated kernel extent 5 > padded input 4
    assert_int_equal(dq_conv2d_output_size(&OH, &OW, 1, 4, 4, 1, 3, 3, 1, 1, 0,
                                           0, 2, 2, 1),
                     DQ_EINVAL);
    assert_int_equal(dq_conv2d_output_size(&OH, &OW, 1, 4, 4, 1, 3, 3, 0, 1, 0,
                                           0, 1, 1, 1),
                     DQ_EINVAL);
    // 28x28, k5, s2, p2 -> 14x14
    assert_int_equal(dq_conv2d_output_size(&OH, &OW, 1, 28, 28, 4, 5, 5, 2, 2,
                                           2, 2, 1, 1, 1),
                     DQ_OK);
    assert_int_equal(OH, 14);
    assert_int_equal(OW, 14);
}

/* ---- linear ---------------------------------------------------------- */

static void test_linear(void **state)
{
    (void)state;
    rng_seed(2);
    const int N = 5, C = 13, OC = 7;
    float *x = rand_floats(N * C), *w = rand_floats(OC * C);
    float *bias = rand_floats(OC);
    float out[5 * 7];
    double ref[5 * 7], tol[5 * 7];
    for (int pass = 0; pass < 2; pass++) {
        const float *bb = pass ? NULL : bias;
        dq_linear_forward(out, x, w, bb, N, C, OC);
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) {
                double s = bb ? bb[o] : 0.0, a = bb ? fabs(bb[o]) : 0.0;
                for (int i = 0; i < C; i++) {
                    double t = (double)x[n * C + i] * w[o * C + i];
                    s += t;
                    a += fabs(t);
                }
                ref[n * OC + o] = s;
                tol[n * OC + o] = 1e-5 * a + 1e-7;
            }
        check_close(out, ref, tol, 0, N * OC, "linear");
    }
    free(x);
    free(w);
    free(bias);
}

/* An image's output bytes do not depend on the batch it comes in: a batch
 * of 11 (one full chunk of DQ_CONV2D_SLOTS and a partial one) equals the
 * same images convolved one at a time, bit for bit. */
static void test_conv2d_batch_invariant(void **state)
{
    (void)state;
    const int B = 11, C = 3, H = 9, W = 7, OC = 5, k = 3;
    size_t img = (size_t)C * H * W, oimg = (size_t)OC * H * W;
    float *x = rand_floats(B * img), *w = rand_floats((size_t)OC * C * k * k);
    float *bias = rand_floats(OC);
    size_t ns = dq_conv2d_scratch_floats(C, H, W, k, k, 1, 1, 1, 1, 1, 1, 1);
    float *scratch = malloc(ns * sizeof(float));
    float *all = malloc(B * oimg * sizeof(float)), *one = malloc(oimg * sizeof(float));
    assert_non_null(scratch);
    assert_non_null(all);
    assert_non_null(one);
    dq_conv2d_forward(all, x, w, bias, scratch, B, C, H, W, OC, k, k, 1, 1, 1,
                      1, 1, 1, 1);
    for (int b = 0; b < B; b++) {
        dq_conv2d_forward(one, x + b * img, w, bias, scratch, 1, C, H, W, OC, k,
                          k, 1, 1, 1, 1, 1, 1, 1);
        assert_memory_equal(one, all + b * oimg, oimg * sizeof(float));
    }
    free(x), free(w), free(bias), free(scratch), free(all), free(one);
}

/* ---- batchnorm ------------------------------------------------------- */

static void bn_params(float *gamma, float *beta, float *mean, float *var,
                      int C)
{
    for (int c = 0; c < C; c++) {
        gamma[c] = 1.0f + 0.5f * rng_uniform();
        beta[c] = rng_uniform();
        mean[c] = 0.3f * rng_uniform();
        var[c] = 0.05f + fabsf(rng_uniform()); // strictly positive
    }
}

/* conv followed by eval BN == conv with folded weights, for a grouped
 * conv with and without a conv bias. */
static void test_batchnorm2d_fold(void **state)
{
    (void)state;
    rng_seed(3);
    const int B = 2, C = 4, H = 6, W = 5, OC = 6, k = 3, groups = 2;
    const int K = (C / groups) * k * k;
    const double eps = 1e-5;
    int OH, OW;
    assert_int_equal(dq_conv2d_output_size(&OH, &OW, C, H, W, OC, k, k, 1, 1, 1,
                                           1, 1, 1, groups),
                     DQ_OK);
    size_t no = (size_t)B * OC * OH * OW, ns;
    float *x = rand_floats((size_t)B * C * H * W), *w = rand_floats(OC * K);
    float gamma[6], beta[6], mean[6], var[6];
    bn_params(gamma, beta, mean, var, OC);
    ns = dq_conv2d_scratch_floats(C, H, W, k, k, 1, 1, 1, 1, 1, 1, groups);
    float *scratch = malloc(ns * sizeof(float));
    float *conv = malloc(no * sizeof(float)), *fused = malloc(no * sizeof(float));
    double *ref = dalloc(no), *tol = dalloc(no);
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        float b0[6] = {0}, wf[6 * 18], bf[6];
        if (with_bias)
            for (int o = 0; o < OC; o++) b0[o] = rng_uniform();
        // reference: conv (double) then BN (double)
        conv_case cc = {B, C, H, W, OC, k, k, 1, 1, 1, 1, 1, 1, groups, 1};
        conv_ref(ref, tol, x, w, b0, &cc, OH, OW);
        for (size_t i = 0; i < no; i++) {
            int o = (int)(i / ((size_t)OH * OW)) % OC;
            double s = gamma[o] / sqrt((double)var[o] + eps);
            ref[i] = (ref[i] - mean[o]) * s + beta[o];
            tol[i] = tol[i] * fabs(s) + 1e-6;
        }
        memcpy(wf, w, sizeof(float) * OC * K);
        memcpy(bf, b0, sizeof bf);
        dq_batchnorm2d_fold(wf, bf, OC, K, gamma, beta, mean, var, eps);
        // the folded parameters themselves, per fuse_conv_bn_weights
        for (int o = 0; o < OC; o++) {
            double rs = 1.0 / sqrt((double)var[o] + eps);
            assert_true(bf[o] == (float)(((double)b0[o] - mean[o]) * rs *
                                             gamma[o] +
                                         beta[o]));
            assert_true(wf[o * K + 5] == (float)((double)w[o * K + 5] *
                                                 (gamma[o] * rs)));
        }
        dq_conv2d_forward(fused, x, wf, bf, scratch, B, C, H, W, OC, k, k, 1, 1,
                          1, 1, 1, 1, groups);
        check_close(fused, ref, tol, 0, no, "folded conv vs conv+bn");
        // and the unfused path: conv, then dq_batchnorm2d_forward in place
        dq_conv2d_forward(conv, x, w, b0, scratch, B, C, H, W, OC, k, k, 1, 1,
                          1, 1, 1, 1, groups);
        dq_batchnorm2d_forward(conv, conv, gamma, beta, mean, var, eps, B, OC,
                               OH, OW);
        check_close(conv, ref, tol, 0, no, "conv then batchnorm2d");
    }
    free(x);
    free(w);
    free(scratch);
    free(conv);
    free(fused);
    free(ref);
    free(tol);
}

static void test_batchnorm2d_forward(void **state)
{
    (void)state;
    rng_seed(4);
    const int B = 3, C = 5, H = 4, W = 3, n = B * C * H * W;
    float gamma[5], beta[5], mean[5], var[5];
    bn_params(gamma, beta, mean, var, C);
    float *x = rand_floats(n), *y = malloc(n * sizeof(float));
    double *ref = dalloc(n);
    dq_batchnorm2d_forward(y, x, gamma, beta, mean, var, 1e-3, B, C, H, W);
    for (int i = 0; i < n; i++) {
        int c = (i / (H * W)) % C;
        ref[i] = ((double)x[i] - mean[c]) / sqrt((double)var[c] + 1e-3) *
                     gamma[c] + beta[c];
    }
    check_ulps(y, ref, n, 1.2e-7, 1e-12, "batchnorm2d");
    free(x);
    free(y);
    free(ref);
}

/* ---- element-wise ---------------------------------------------------- */

static void test_relu_gelu_scalar(void **state)
{
    (void)state;
    rng_seed(5);
    const size_t n = 1001;
    float *x = rand_floats(n), *y = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] *= 4.0f;
    dq_relu_forward(y, x, n);
    for (size_t i = 0; i < n; i++)
        assert_true(y[i] == (x[i] > 0 ? x[i] : 0.0f));
    dq_add_scalar(y, x, 0.1, n);
    for (size_t i = 0; i < n; i++) assert_true(y[i] == x[i] + 0.1f);
    dq_mul_scalar(y, x, -2.5, n);
    for (size_t i = 0; i < n; i++) assert_true(y[i] == x[i] * -2.5f);
    // in place
    memcpy(y, x, n * sizeof(float));
    dq_relu_forward(y, y, n);
    for (size_t i = 0; i < n; i++) assert_true(y[i] >= 0.0f);

    // GELU: known values of x * Phi(x)
    float g[4], gx[4] = {0.0f, 1.0f, -1.0f, 3.0f};
    dq_gelu_forward(g, gx, 4);
    assert_true(g[0] == 0.0f);
    assert_true(g[1] == (float)0.8413447460685429);
    assert_true(g[2] == (float)-0.15865525393145707);
    assert_true(g[3] == (float)2.9959502006968933);
    dq_gelu_forward(y, x, n);
    for (size_t i = 0; i < n; i++) {
        double xd = x[i];
        double r = xd * 0.5 * erfc(-xd / sqrt(2.0)); // same value via erfc
        assert_true(fabs(y[i] - r) <= 2.4e-7 * fabs(r) + 1e-30);
    }
    free(x);
    free(y);
}

/* ---- pooling --------------------------------------------------------- */

static void pool_ref(double *ref, const float *x, int B, int C, int H, int W,
                     int kh, int kw, int sh, int sw, int ph, int pw, int OH,
                     int OW, int mode /* 0 max, 1 avg incl pad, 2 avg excl */)
{
    for (int p = 0; p < B * C; p++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                double m = -INFINITY, s = 0;
                int n_in = 0, n_pad = 0;
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++) {
                        int ih = oh * sh - ph + i, iw = ow * sw - pw + j;
                        // positions inside the padded frame [-p, H+p)
                        if (ih >= -ph && ih < H + ph && iw >= -pw &&
                            iw < W + pw)
                            n_pad++;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        double v = x[(p * H + ih) * W + iw];
                        n_in++;
                        s += v;
                        if (v > m) m = v;
                    }
                double r = mode == 0 ? m : mode == 1 ? s / n_pad : s / n_in;
                ref[(p * OH + oh) * OW + ow] = r;
            }
}

static void test_pool2d(void **state)
{
    (void)state;
    rng_seed(6);
    static const int cases[][9] = {
        /* B C H W kh kw sh sw ph(=pw) */
        {2, 3, 7, 9, 3, 3, 2, 2, 1},
        {1, 2, 8, 8, 2, 2, 2, 2, 0},
        {2, 2, 7, 7, 3, 3, 1, 1, 1},
        {1, 3, 11, 6, 5, 3, 3, 2, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int *q = cases[c];
        int B = q[0], C = q[1], H = q[2], W = q[3], kh = q[4], kw = q[5];
        int sh = q[6], sw = q[7], p = q[8], OH, OW;
        assert_int_equal(dq_pool2d_output_size(&OH, &OW, H, W, kh, kw, sh, sw,
                                               p, p),
                         DQ_OK);
        assert_int_equal(OH, (H + 2 * p - kh) / sh + 1);
        size_t n = (size_t)B * C * H * W, no = (size_t)B * C * OH * OW;
        float *x = rand_floats(n), *y = malloc(no * sizeof(float));
        // all-negative input: a zero-valued padding would win the max
        for (size_t i = 0; i < n; i++) x[i] = -fabsf(x[i]) - 0.01f;
        double *ref = dalloc(no);
        dq_maxpool2d_forward(y, x, B, C, H, W, kh, kw, sh, sw, p, p);
        pool_ref(ref, x, B, C, H, W, kh, kw, sh, sw, p, p, OH, OW, 0);
        check_close(y, ref, NULL, 0.0, no, "maxpool2d");
        for (size_t i = 0; i < no; i++) assert_true(y[i] < 0.0f);
        for (int incl = 0; incl < 2; incl++) {
            dq_avgpool2d_forward(y, x, B, C, H, W, kh, kw, sh, sw, p, p, incl);
            pool_ref(ref, x, B, C, H, W, kh, kw, sh, sw, p, p, OH, OW,
                     incl ? 1 : 2);
            check_ulps(y, ref, no, 1.2e-7, 1e-12, "avgpool2d");
        }
        free(x);
        free(y);
        free(ref);
    }
    // hand check: 2x2 ones, k3 s1 p1: corner windows see 4 of 9 cells
    float ones[4] = {1, 1, 1, 1}, o[4];
    dq_avgpool2d_forward(o, ones, 1, 1, 2, 2, 3, 3, 1, 1, 1, 1, 1);
    for (int i = 0; i < 4; i++) assert_true(o[i] == (float)(4.0 / 9.0));
    dq_avgpool2d_forward(o, ones, 1, 1, 2, 2, 3, 3, 1, 1, 1, 1, 0);
    for (int i = 0; i < 4; i++) assert_true(o[i] == 1.0f);
    // NaN propagates through max
    float nanin[4] = {1.0f, NAN, 3.0f, 2.0f}, mo;
    dq_maxpool2d_forward(&mo, nanin, 1, 1, 2, 2, 2, 2, 2, 2, 0, 0);
    assert_true(isnan(mo));
    // padding larger than half the kernel is rejected, as PyTorch does
    int OH, OW;
    assert_int_equal(dq_pool2d_output_size(&OH, &OW, 8, 8, 3, 3, 1, 1, 2, 2),
                     DQ_EINVAL);
}

static void test_adaptive_avgpool2d(void **state)
{
    (void)state;
    rng_seed(7);
    static const int cases[][4] = {{7, 7, 3, 3}, {7, 5, 3, 2}, {6, 6, 1, 1},
                                   {3, 4, 5, 6}, {10, 9, 4, 4}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int B = 2, C = 3, H = cases[c][0], W = cases[c][1];
        int OH = cases[c][2], OW = cases[c][3];
        size_t no = (size_t)B * C * OH * OW;
        float *x = rand_floats((size_t)B * C * H * W);
        float *y = malloc(no * sizeof(float));
        double *ref = dalloc(no);
        dq_adaptive_avgpool2d_forward(y, x, B, C, H, W, OH, OW);
        for (int p = 0; p < B * C; p++)
            for (int i = 0; i < OH; i++)
                for (int j = 0; j < OW; j++) {
                    int h0 = (int)floor((double)i * H / OH);
                    int h1 = (int)ceil((double)(i + 1) * H / OH);
                    int w0 = (int)floor((double)j * W / OW);
                    int w1 = (int)ceil((double)(j + 1) * W / OW);
                    double s = 0;
                    for (int a = h0; a < h1; a++)
                        for (int b = w0; b < w1; b++)
                            s += x[(p * H + a) * W + b];
                    ref[(p * OH + i) * OW + j] = s / ((h1 - h0) * (w1 - w0));
                }
        check_ulps(y, ref, no, 1.2e-7, 1e-12, "adaptive_avgpool2d");
        free(x);
        free(y);
        free(ref);
    }
    // 7 -> 3 windows are rows [0,3), [2,5), [4,7): check with a ramp
    float ramp[7], o[3];
    for (int i = 0; i < 7; i++) ramp[i] = (float)i;
    dq_adaptive_avgpool2d_forward(o, ramp, 1, 1, 7, 1, 3, 1);
    assert_true(o[0] == 1.0f && o[1] == 3.0f && o[2] == 5.0f);
}

/* ---- softmax and layernorm ------------------------------------------- */

static void test_softmax(void **state)
{
    (void)state;
    rng_seed(8);
    const int64_t shape[3] = {3, 5, 4};
    const int n = 60;
    float *x = rand_floats(n), y[60];
    double ref[60];
    for (int i = 0; i < n; i++) x[i] *= 5.0f;
    for (int dim = -3; dim < 3; dim++) {
        int outer, len, inner;
        assert_int_equal(dq_axis_split(&outer, &len, &inner, 3, shape, dim),
                         DQ_OK);
        int d = dim < 0 ? dim + 3 : dim;
        assert_int_equal(len, shape[d]);
        assert_int_equal(outer * len * inner, n);
        dq_softmax_forward(y, x, outer, len, inner);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++) {
                double s = 0, sy = 0;
                for (int j = 0; j < len; j++)
                    s += exp((double)x[(o * len + j) * inner + i]);
                for (int j = 0; j < len; j++) {
                    int k = (o * len + j) * inner + i;
                    ref[k] = exp((double)x[k]) / s;
                    sy += y[k];
                }
                assert_true(fabs(sy - 1.0) < 1e-6); // each line sums to 1
            }
        check_ulps(y, ref, n, 1e-6, 1e-12, "softmax");
    }
    int a, b, c;
    assert_int_equal(dq_axis_split(&a, &b, &c, 3, shape, 3), DQ_EINVAL);

    // stability: exp(1000) overflows float; the max shift avoids it
    float big[4] = {1000.0f, 999.0f, 1001.0f, 1000.0f}, sb[4];
    dq_softmax_forward(sb, big, 1, 4, 1);
    double z = exp(-1.0) + exp(-2.0) + 1.0 + exp(-1.0);
    double eb[4] = {exp(-1.0) / z, exp(-2.0) / z, 1.0 / z, exp(-1.0) / z};
    check_ulps(sb, eb, 4, 1e-6, 0, "softmax(1000)");
    float same[5] = {1000, 1000, 1000, 1000, 1000}, ss[5];
    dq_softmax_forward(ss, same, 1, 5, 1);
    for (int i = 0; i < 5; i++) assert_true(ss[i] == 0.2f);
    free(x);
}

static void test_layernorm(void **state)
{
    (void)state;
    rng_seed(9);
    const int N = 4, C = 37;
    const double eps = 1e-5;
    float *x = rand_floats(N * C), *w = rand_floats(C), *b = rand_floats(C);
    float y[4 * 37];
    double ref[4 * 37];
    for (int i = 0; i < N * C; i++) x[i] = 3.0f * x[i] + 7.0f; // offset mean
    // no affine: each row has mean 0 and variance var/(var+eps) ~ 1
    dq_layernorm_forward(y, x, NULL, NULL, N, C, eps);
    for (int r = 0; r < N; r++) {
        double m = 0, v = 0, my = 0, vy = 0;
        for (int i = 0; i < C; i++) m += x[r * C + i];
        m /= C;
        for (int i = 0; i < C; i++) v += pow(x[r * C + i] - m, 2);
        v /= C; // biased, as PyTorch
        for (int i = 0; i < C; i++) my += y[r * C + i];
        my /= C;
        for (int i = 0; i < C; i++) vy += pow(y[r * C + i] - my, 2);
        vy /= C;
        assert_true(fabs(my) < 1e-6);
        assert_true(fabs(vy - v / (v + eps)) < 1e-6);
        for (int i = 0; i < C; i++)
            ref[r * C + i] = (x[r * C + i] - m) / sqrt(v + eps) * w[i] + b[i];
    }
    dq_layernorm_forward(y, x, w, b, N, C, eps);
    check_ulps(y, ref, N * C, 2.4e-7, 1e-7, "layernorm");
    free(x);
    free(w);
    free(b);
}

/* ---- broadcasting ---------------------------------------------------- */

/* Reference broadcast: out index -> input index by clamping dims of size 1. */
static int64_t bidx(int64_t flat, int ro, const int64_t *so, int ri,
                    const int64_t *si)
{
    int64_t idx = 0, mul = 1;
    for (int d = ro - 1; d >= 0; d--) {
        int64_t i = flat % so[d];
        flat /= so[d];
        int j = d - (ro - ri);
        if (j >= 0) {
            idx += (si[j] == 1 ? 0 : i) * mul;
            mul *= si[j];
        }
    }
    return idx;
}

static void test_add_mul_broadcast(void **state)
{
    (void)state;
    rng_seed(10);
    struct {
        int ra, rb, ro;
        int64_t a[6], b[6], o[6];
    } cases[] = {
        {3, 1, 3, {2, 3, 4}, {4}, {2, 3, 4}},
        {3, 2, 3, {2, 1, 4}, {3, 1}, {2, 3, 4}},
        {1, 0, 1, {5}, {0}, {5}},
        {1, 2, 2, {1}, {2, 3}, {2, 3}},
        {4, 3, 4, {2, 3, 1, 5}, {3, 4, 1}, {2, 3, 4, 5}},
        {6, 6, 6, {2, 1, 3, 1, 2, 1}, {1, 2, 1, 2, 1, 3}, {2, 2, 3, 2, 2, 3}},
        {2, 2, 2, {3, 4}, {3, 4}, {3, 4}},
        {0, 0, 0, {0}, {0}, {0}},
        {2, 1, 2, {0, 3}, {3}, {0, 3}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int ro;
        int64_t so[6];
        assert_int_equal(dq_broadcast_shape(&ro, so, cases[c].ra, cases[c].a,
                                            cases[c].rb, cases[c].b),
                         DQ_OK);
        assert_true(dq_shape_equal(ro, so, cases[c].ro, cases[c].o));
        int64_t na = dq_shape_size(cases[c].ra, cases[c].a);
        int64_t nb = dq_shape_size(cases[c].rb, cases[c].b);
        int64_t no = dq_shape_size(ro, so);
        float *a = rand_floats(na), *b = rand_floats(nb);
        float *y = malloc((no ? no : 1) * sizeof(float));
        for (int op = 0; op < 2; op++) {
            int s = op ? dq_mul_forward(y, a, b, cases[c].ra, cases[c].a,
                                        cases[c].rb, cases[c].b)
                       : dq_add_forward(y, a, b, cases[c].ra, cases[c].a,
                                        cases[c].rb, cases[c].b);
            assert_int_equal(s, DQ_OK);
            for (int64_t i = 0; i < no; i++) {
                float av = a[bidx(i, ro, so, cases[c].ra, cases[c].a)];
                float bv = b[bidx(i, ro, so, cases[c].rb, cases[c].b)];
                assert_true(y[i] == (op ? av * bv : av + bv)); // float op
            }
        }
        free(a);
        free(b);
        free(y);
    }
    int ro;
    int64_t so[6], a[2] = {2, 3}, b[2] = {4, 3};
    assert_int_equal(dq_broadcast_shape(&ro, so, 2, a, 2, b), DQ_EINVAL);
    float dummy[24];
    assert_int_equal(dq_add_forward(dummy, dummy, dummy, 2, a, 2, b),
                     DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "add"));
}

/* ---- matmul ---------------------------------------------------------- */

static void matmul_case(int ra, const int64_t *sa, int rb, const int64_t *sb,
                        int ro_exp, const int64_t *so_exp)
{
    int ro;
    int64_t so[6];
    assert_int_equal(dq_matmul_shape(&ro, so, ra, sa, rb, sb), DQ_OK);
    assert_true(dq_shape_equal(ro, so, ro_exp, so_exp));
    // reference on the padded view: a (..., M, K), b (..., K, N)
    int64_t M = ra >= 2 ? sa[ra - 2] : 1, K = sa[ra - 1];
    int64_t N = rb >= 2 ? sb[rb - 1] : 1;
    int bra = ra > 2 ? ra - 2 : 0, brb = rb > 2 ? rb - 2 : 0, brank;
    int64_t bshape[6];
    assert_int_equal(dq_broadcast_shape(&brank, bshape, bra, sa, brb, sb),
                     DQ_OK);
    int64_t nbatch = dq_shape_size(brank, bshape);
    int64_t na = dq_shape_size(ra, sa), nb = dq_shape_size(rb, sb);
    int64_t no = dq_shape_size(ro, so);
    assert_int_equal(no, nbatch * M * N);
    float *a = rand_floats(na), *b = rand_floats(nb);
    float *y = malloc(no * sizeof(float));
    double *ref = dalloc(no), *tol = dalloc(no);
    assert_int_equal(dq_matmul_forward(y, a, b, ra, sa, rb, sb), DQ_OK);
    for (int64_t t = 0; t < nbatch; t++) {
        int64_t ta = bidx(t, brank, bshape, bra, sa);
        int64_t tb = bidx(t, brank, bshape, brb, sb);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0, ab = 0;
                for (int64_t k = 0; k < K; k++) {
                    double v = (double)a[(ta * M + i) * K + k] *
                               b[(tb * K + k) * N + j];
                    s += v;
                    ab += fabs(v);
                }
                ref[(t * M + i) * N + j] = s;
                tol[(t * M + i) * N + j] = 1e-5 * ab + 1e-7;
            }
    }
    check_close(y, ref, tol, 0, no, "matmul");
    free(a);
    free(b);
    free(y);
    free(ref);
    free(tol);
}

static void test_matmul(void **state)
{
    (void)state;
    rng_seed(11);
    {
        int64_t a[] = {2, 3, 4, 5}, b[] = {2, 3, 5, 6}, o[] = {2, 3, 4, 6};
        matmul_case(4, a, 4, b, 4, o); // attention-like (B,H,T,D)x(B,H,D,T)
    }
    {
        int64_t a[] = {2, 1, 4, 5}, b[] = {3, 5, 6}, o[] = {2, 3, 4, 6};
        matmul_case(4, a, 3, b, 4, o); // broadcast batch dims
    }
    {
        int64_t a[] = {3, 4, 5}, b[] = {1, 5, 2}, o[] = {3, 4, 2};
        matmul_case(3, a, 3, b, 3, o); // b broadcast along batch
    }
    {
        int64_t a[] = {2, 3, 4, 5}, b[] = {5, 6}, o[] = {2, 3, 4, 6};
        matmul_case(4, a, 2, b, 4, o); // stacked single-sgemm path
    }
    {
        int64_t a[] = {4, 5}, b[] = {5}, o[] = {4};
        matmul_case(2, a, 1, b, 1, o); // matrix x vector
    }
    {
        int64_t a[] = {5}, b[] = {2, 5, 3}, o[] = {2, 3};
        matmul_case(1, a, 3, b, 2, o); // vector x batched matrix
    }
    {
        int64_t a[] = {7}, b[] = {7}, o[] = {0};
        matmul_case(1, a, 1, b, 0, o); // dot product -> scalar
    }
    int ro;
    int64_t so[6], a[] = {2, 4, 5}, b[] = {2, 4, 6}, c[] = {3, 5, 6};
    assert_int_equal(dq_matmul_shape(&ro, so, 3, a, 3, b), DQ_EINVAL);
    assert_int_equal(dq_matmul_shape(&ro, so, 3, a, 3, c), DQ_EINVAL);
}

/* ---- data movement --------------------------------------------------- */

static void test_permute(void **state)
{
    (void)state;
    rng_seed(12);
    int64_t shape[6] = {2, 3, 1, 4, 2, 3};
    int perm[6] = {3, 0, 5, -5, 2, 4}; // -5 == 1
    int64_t n = dq_shape_size(6, shape), so[6], back_shape[6];
    float *x = rand_floats(n), *y = malloc(n * sizeof(float));
    float *z = malloc(n * sizeof(float));
    assert_int_equal(dq_permute_shape(so, 6, shape, perm), DQ_OK);
    int64_t exp_so[6] = {4, 2, 3, 3, 1, 2};
    assert_true(dq_shape_equal(6, so, 6, exp_so));
    assert_int_equal(dq_permute_forward(y, x, 6, shape, perm), DQ_OK);
    // every output element: y[i0..i5] == x[j] with j_perm[d] = i_d
    int64_t cs[6], s = 1;
    for (int d = 5; d >= 0; d--) {
        cs[d] = s;
        s *= shape[d];
    }
    int pn[6] = {3, 0, 5, 1, 2, 4};
    for (int64_t i = 0; i < n; i++) {
        int64_t t = i, off = 0;
        for (int d = 5; d >= 0; d--) {
            off += (t % so[d]) * cs[pn[d]];
            t /= so[d];
        }
        assert_true(y[i] == x[off]);
    }
    // round trip with the inverse permutation restores the same bytes
    int inv[6];
    for (int d = 0; d < 6; d++) inv[pn[d]] = d;
    assert_int_equal(dq_permute_forward(z, y, 6, so, inv), DQ_OK);
    assert_int_equal(dq_permute_shape(back_shape, 6, so, inv), DQ_OK);
    assert_true(dq_shape_equal(6, back_shape, 6, shape));
    assert_memory_equal(z, x, n * sizeof(float));
    // 2-D transpose
    int64_t s2[2] = {3, 5};
    int p2[2] = {1, 0};
    assert_int_equal(dq_permute_forward(y, x, 2, s2, p2), DQ_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) assert_true(y[j * 3 + i] == x[i * 5 + j]);
    int bad[2] = {0, 0};
    assert_int_equal(dq_permute_forward(y, x, 2, s2, bad), DQ_EINVAL);
    free(x);
    free(y);
    free(z);
}

static void test_cat(void **state)
{
    (void)state;
    rng_seed(13);
    int64_t s0[3] = {2, 3, 4}, s1[3] = {2, 1, 4}, s2[3] = {2, 2, 4};
    const int64_t *shapes[3] = {s0, s1, s2};
    float *a = rand_floats(24), *b = rand_floats(8), *c = rand_floats(16);
    const float *in[3] = {a, b, c};
    float y[48];
    int64_t so[3];
    for (int dim = 1; dim >= -2; dim -= 3) { // dim 1 and its alias -2
        assert_int_equal(dq_cat_shape(so, 3, 3, shapes, dim), DQ_OK);
        int64_t exp_so[3] = {2, 6, 4};
        assert_true(dq_shape_equal(3, so, 3, exp_so));
        assert_int_equal(dq_cat_forward(y, in, 3, 3, shapes, dim), DQ_OK);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 6; j++)
                for (int k = 0; k < 4; k++) {
                    float e = j < 3   ? a[(i * 3 + j) * 4 + k]
                              : j < 4 ? b[(i * 1 + (j - 3)) * 4 + k]
                                      : c[(i * 2 + (j - 4)) * 4 + k];
                    assert_true(y[(i * 6 + j) * 4 + k] == e);
                }
    }
    // along the last dim
    int64_t t0[2] = {3, 2}, t1[2] = {3, 5};
    const int64_t *ts[2] = {t0, t1};
    const float *tin[2] = {a, c};
    assert_int_equal(dq_cat_forward(y, tin, 2, 2, ts, -1), DQ_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 7; j++)
            assert_true(y[i * 7 + j] == (j < 2 ? a[i * 2 + j] : c[i * 5 + j - 2]));
    // mismatched off-axis size
    assert_int_equal(dq_cat_shape(so, 3, 3, shapes, 0), DQ_EINVAL);
    free(a);
    free(b);
    free(c);
}

static void test_slice(void **state)
{
    (void)state;
    rng_seed(14);
    int64_t shape[3] = {5, 7, 6};
    float *x = rand_floats(210), y[210];
    struct {
        int64_t st[3], sp[3], step[3], so[3];
    } cases[] = {
        {{0, 0, 0}, {INT64_MAX, INT64_MAX, INT64_MAX}, {1, 1, 1}, {5, 7, 6}},
        {{1, -3, 0}, {4, INT64_MAX, 6}, {2, 1, 3}, {2, 3, 2}},
        {{-10, 2, 5}, {2, 3, 100}, {1, 1, 1}, {2, 1, 1}},
        {{3, 0, 0}, {3, 7, 6}, {1, 1, 1}, {0, 7, 6}}, // empty
        {{0, 1, -1}, {5, -1, INT64_MAX}, {3, 2, 1}, {2, 3, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t so[3];
        assert_int_equal(dq_slice_shape(so, 3, shape, cases[c].st, cases[c].sp,
                                        cases[c].step),
                         DQ_OK);
        assert_true(dq_shape_equal(3, so, 3, cases[c].so));
        assert_int_equal(dq_slice_forward(y, x, 3, shape, cases[c].st,
                                          cases[c].sp, cases[c].step),
                         DQ_OK);
        int64_t b[3];
        for (int d = 0; d < 3; d++) { // python start normalisation
            int64_t v = cases[c].st[d];
            if (v < 0) v += shape[d];
            if (v < 0) v = 0;
            b[d] = v > shape[d] ? shape[d] : v;
        }
        for (int64_t i = 0; i < so[0]; i++)
            for (int64_t j = 0; j < so[1]; j++)
                for (int64_t k = 0; k < so[2]; k++) {
                    int64_t ii = b[0] + i * cases[c].step[0];
                    int64_t jj = b[1] + j * cases[c].step[1];
                    int64_t kk = b[2] + k * cases[c].step[2];
                    assert_true(y[(i * so[1] + j) * so[2] + k] ==
                                x[(ii * 7 + jj) * 6 + kk]);
                }
    }
    int64_t st[3] = {0, 0, 0}, sp[3] = {5, 7, 6}, bad[3] = {1, 0, 1}, so[3];
    assert_int_equal(dq_slice_shape(so, 3, shape, st, sp, bad), DQ_EINVAL);
    free(x);
}

static void test_mean(void **state)
{
    (void)state;
    rng_seed(15);
    int64_t shape[4] = {2, 3, 4, 5};
    float *x = rand_floats(120), y[120];
    struct {
        int nd;
        int dims[4];
        int64_t so[4];
    } cases[] = {
        {2, {1, 3}, {2, 1, 4, 1}},
        {1, {-1}, {2, 3, 4, 1}},
        {0, {0}, {1, 1, 1, 1}},
        {3, {0, 2, -3}, {1, 1, 1, 5}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t so[4];
        assert_int_equal(dq_mean_shape(so, 4, shape, cases[c].nd, cases[c].dims),
                         DQ_OK);
        assert_true(dq_shape_equal(4, so, 4, cases[c].so));
        assert_int_equal(dq_mean_forward(y, x, 4, shape, cases[c].nd,
                                         cases[c].dims),
                         DQ_OK);
        int64_t no = dq_shape_size(4, so);
        double ref[120] = {0};
        int cnt = 120 / (int)no;
        for (int i = 0; i < 120; i++) { // scatter each input into its output
            int idx[4], t = i, o = 0;
            for (int d = 3; d >= 0; d--) {
                idx[d] = t % (int)shape[d];
                t /= (int)shape[d];
            }
            for (int d = 0; d < 4; d++) o = o * (int)so[d] + (so[d] == 1 ? 0 : idx[d]);
            ref[o] += x[i];
        }
        for (int64_t o = 0; o < no; o++) ref[o] /= cnt;
        check_ulps(y, ref, no, 1.2e-7, 1e-9, "mean");
    }
    int dup[2] = {1, -3};
    int64_t so[4];
    assert_int_equal(dq_mean_shape(so, 4, shape, 2, dup), DQ_EINVAL);
    free(x);
}

static void test_expand(void **state)
{
    (void)state;
    rng_seed(16);
    int64_t si[2] = {3, 1}, target[3] = {2, -1, 4}, so[3];
    assert_int_equal(dq_expand_shape(so, 2, si, 3, target), DQ_OK);
    int64_t exp_so[3] = {2, 3, 4};
    assert_true(dq_shape_equal(3, so, 3, exp_so));
    float *x = rand_floats(3), y[24];
    assert_int_equal(dq_expand_forward(y, x, 2, si, 3, so), DQ_OK);
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 4; k++) assert_true(y[(a * 3 + i) * 4 + k] == x[i]);
    // unresolved (-1) output shape and a non-1 dim changing size fail
    assert_int_equal(dq_expand_forward(y, x, 2, si, 3, target), DQ_EINVAL);
    int64_t bad[2] = {4, 2};
    assert_int_equal(dq_expand_shape(so, 2, si, 2, bad), DQ_EINVAL);
    int64_t lead[3] = {-1, 3, 1};
    assert_int_equal(dq_expand_shape(so, 2, si, 3, lead), DQ_EINVAL);
    free(x);
}

/* ---- determinism across thread counts -------------------------------- */

static void test_determinism_threads(void **state)
{
    (void)state;
    rng_seed(17);
    int saved = omp_get_max_threads();
    // conv big enough for OpenBLAS and im2col to go parallel
    const int B = 3, C = 16, H = 28, W = 28, OC = 32;
    int OH, OW;
    assert_int_equal(dq_conv2d_output_size(&OH, &OW, C, H, W, OC, 3, 3, 1, 1, 1,
                                           1, 1, 1, 1),
                     DQ_OK);
    size_t no = (size_t)B * OC * OH * OW;
    size_t ns = dq_conv2d_scratch_floats(C, H, W, 3, 3, 1, 1, 1, 1, 1, 1, 1);
    float *x = rand_floats((size_t)B * C * H * W), *w = rand_floats(OC * C * 9);
    float *bias = rand_floats(OC), *scratch = malloc(ns * sizeof(float));
    // attention-sized batched matmul (2,4,96,64) x (2,4,64,96)
    int64_t sa[4] = {2, 4, 96, 64}, sb[4] = {2, 4, 64, 96};
    size_t nm = 2 * 4 * 96 * 96;
    float *a = rand_floats(2 * 4 * 96 * 64), *b = rand_floats(2 * 4 * 64 * 96);
    // linear (256, 784) -> (256, 96), a classifier-head-sized product
    const int LN = 256, LC = 784, LO = 96;
    float *lx = rand_floats(LN * LC), *lw = rand_floats(LO * LC);
    size_t nl = (size_t)LN * LO;
    // runs 0..2: 1, 2, 3 threads; runs 3, 4: two concurrent calls from
    // inside an outer 2-thread parallel region (as a parallel search would)
    float *conv_out[5], *mm_out[5], *sm_out[5], *lin_out[5];
    for (int t = 0; t < 5; t++) {
        conv_out[t] = malloc(no * sizeof(float));
        mm_out[t] = malloc(nm * sizeof(float));
        sm_out[t] = malloc(nm * sizeof(float));
        lin_out[t] = malloc(nl * sizeof(float));
    }
    for (int t = 0; t < 3; t++) {
        omp_set_num_threads(t + 1);
        dq_conv2d_forward(conv_out[t], x, w, bias, scratch, B, C, H, W, OC, 3,
                          3, 1, 1, 1, 1, 1, 1, 1);
        assert_int_equal(dq_matmul_forward(mm_out[t], a, b, 4, sa, 4, sb),
                         DQ_OK);
        dq_softmax_forward(sm_out[t], mm_out[t], 2 * 4 * 96, 96, 1);
        dq_linear_forward(lin_out[t], lx, lw, NULL, LN, LC, LO);
    }
    omp_set_num_threads(2);
    float *scratch2 = malloc(ns * sizeof(float));
    int mm_status[2] = {-1, -1};
#pragma omp parallel num_threads(2)
    {
        int id = omp_get_thread_num(); // one call per thread, own buffers
        dq_conv2d_forward(conv_out[3 + id], x, w, bias, id ? scratch2 : scratch,
                          B, C, H, W, OC, 3, 3, 1, 1, 1, 1, 1, 1, 1);
        mm_status[id] = dq_matmul_forward(mm_out[3 + id], a, b, 4, sa, 4, sb);
        dq_softmax_forward(sm_out[3 + id], mm_out[3 + id], 2 * 4 * 96, 96, 1);
        dq_linear_forward(lin_out[3 + id], lx, lw, NULL, LN, LC, LO);
    }
    omp_set_num_threads(saved);
    assert_int_equal(mm_status[0], DQ_OK);
    assert_int_equal(mm_status[1], DQ_OK);
    for (int t = 1; t < 5; t++) {
        assert_memory_equal(conv_out[0], conv_out[t], no * sizeof(float));
        assert_memory_equal(mm_out[0], mm_out[t], nm * sizeof(float));
        assert_memory_equal(sm_out[0], sm_out[t], nm * sizeof(float));
        assert_memory_equal(lin_out[0], lin_out[t], nl * sizeof(float));
    }
    // and the result is right, not just repeatable
    conv_case cc = {B, C, H, W, OC, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
    double *ref = dalloc(no), *tol = dalloc(no);
    conv_ref(ref, tol, x, w, bias, &cc, OH, OW);
    check_close(conv_out[0], ref, tol, 0, no, "conv2d (threads)");
    for (int t = 0; t < 5; t++) {
        free(conv_out[t]);
        free(mm_out[t]);
        free(sm_out[t]);
        free(lin_out[t]);
    }
    free(scratch2);
    free(lx);
    free(lw);
    free(ref);
    free(tol);
    free(x);
    free(w);
    free(bias);
    free(scratch);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_cases),
        cmocka_unit_test(test_conv2d_batch_invariant),
        cmocka_unit_test(test_conv2d_output_size_errors),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_batchnorm2d_fold),
        cmocka_unit_test(test_batchnorm2d_forward),
        cmocka_unit_test(test_relu_gelu_scalar),
        cmocka_unit_test(test_pool2d),
        cmocka_unit_test(test_adaptive_avgpool2d),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_add_mul_broadcast),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_permute),
        cmocka_unit_test(test_cat),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_mean),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_determinism_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
