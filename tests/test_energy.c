/*
 * test_energy.c — operation counts (src/opcount.c), HCM BOPs and the
 * energy model (src/energy.c, configs/energy/horowitz45.ini).
 *
 * - BOPs of the FP32 MLP 16-64-32-32-5 equal 4,652,832 (worked out below).
 * - The closed-form counts of conv2d, linear and matmul layers equal what
 *   the expdot kernel counts while it computes (brute force).
 * - Energies of one-layer models, computed by hand from the Horowitz
 *   figures, for FP32, INT8, DNA-TEQ, mixed-precision uniform and log2,
 *   and for the memory cases (batched, streamed, spilled, per inference);
 *   a two-layer model file through dq_optable (output bits by the
 *   consumer rule) against the same hand computation.
 * - The energy config: the shipped file equals the built-in defaults; an
 *   unknown key or section, a value out of range and an unknown scaling
 *   rule are DQ_ECONFIG errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "energy.h"
#include "error.h"
#include "expdot.h"
#include "opcount.h"
#include "testmodels.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint64_t rng_u64(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Codes without zero codes (the closed forms are dense). */
static dq_ecode *dense_codes(int64_t n, int K, int is_signed)
{
    dq_ecode *c = malloc(sizeof(dq_ecode) * (size_t)n);
    assert_non_null(c);
    for (int64_t i = 0; i < n; i++)
        c[i] = dq_ecode_make(is_signed && (rng_u64() & 1), (int)(rng_u64() % (uint64_t)K));
    return c;
}

static int fixture_setup(void **state)
{
    return dq_test_fixture_setup(state, "energy");
}

static void assert_close(double got, double want)
{
    if (!(fabs(got - want) <= 1e-9 * fabs(want)))
        fail_msg("got %.12g, want %.12g", got, want);
}

/* ---- HCM / BOPs ---------------------------------------------------------- */

/* FP32 MLP 16-64-32-32-5: four linear layers (k = 1), b_a = b_w = 32.
 * BOPs = m·n·(32·32 + 32 + 32 + log2 n) = m·n·(1088 + log2 n):
 *   16->64: 64·16·(1088 + 4) = 1,118,208
 *   64->32: 32·64·(1088 + 6) = 2,240,512
 *   32->32: 32·32·(1088 + 5) = 1,119,232
 *   32->5 :  5·32·(1088 + 5) =   174,880
 *   total                     = 4,652,832
 * So the convention is: 32-bit weights and activations, n = input
 * features, the real log2 of n·k² (exact here), no bias term, and one
 * output position per layer (batch 1). */
static void test_bops_mlp(void **state)
{
    (void)state;
    const int64_t dims[5] = {16, 64, 32, 32, 5};
    const double per_layer[4] = {1118208, 2240512, 1119232, 174880};
    dq_layer_prec fp32 = {DQ_ARITH_FP32, 32, 32, 32, 1, 1, 0, 0, 0, 0, 0};
    double total = 0.0, total_t = 0.0;
    int64_t moved = 0;
    for (int l = 0; l < 4; l++) {
        dq_layer_dims d;
        dq_opcount oc;
        assert_int_equal(dq_layer_dims_linear(&d, 1, dims[l], dims[l + 1]), DQ_OK);
        assert_int_equal(dq_opcount_layer(&oc, &d, &fp32), DQ_OK);
        assert_true(oc.bops == per_layer[l]);
        assert_true(oc.bops == dq_hcm_bops(dims[l + 1], dims[l], 1, 32, 32));
        total += oc.bops;
        total_t += oc.bops_total;
        moved += oc.w_bits + oc.in_bits + oc.out_bits;
        assert_int_equal(oc.w_bits + oc.in_bits + oc.out_bits,
                         dq_hcm_bits_moved(dims[l], dims[l] * dims[l + 1],
                                           dims[l + 1], 32, 32, 32));
    }
    assert_true(total == 4652832.0);
    assert_true(total_t == 4652832.0); /* one position per linear layer */
    /* bits moved: 32·(Σ n + Σ m·n + Σ m) = 32·(144 + 4256 + 133) */
    assert_int_equal(moved, 32 * (144 + 4256 + 133));
}

/* A conv layer: BOPs per output position by the formula, and the total
 * over H'·W' positions = MACs x per-MAC bit operations. */
static void test_bops_conv(void **state)
{
    (void)state;
    dq_layer_dims d;
    dq_layer_prec p = {DQ_ARITH_INT, 4, 8, 8, 1, 0, 0, 0, 0, 0, 32};
    dq_opcount oc;
    /* C=8 -> OC=16, 3x3, 10x10, pad 1: n·k² = 72 */
    assert_int_equal(dq_layer_dims_conv2d(&d, 8, 10, 10, 16, 3, 3, 1, 1, 1, 1,
                                          1, 1, 1), DQ_OK);
    assert_int_equal(dq_opcount_layer(&oc, &d, &p), DQ_OK);
    double want = 16.0 * 8 * 9 * (8 * 4 + 8 + 4 + log2(72.0));
    assert_close(oc.bops, want);
    assert_close(oc.bops_total, want * 100);
    assert_close(oc.bops_total, (double)oc.macs * (32 + 12 + log2(72.0)));
    /* bits moved: n·H·W·b_a + m·n·k²·b_w + m·H'·W'·b_o */
    assert_int_equal(oc.in_bits + oc.w_bits + oc.out_bits,
                     8 * 100 * 8 + 16 * 8 * 9 * 4 + 16 * 100 * 8);
}

/* ---- closed forms vs the expdot kernel ------------------------------------ */

static void compare_counts(const dq_opcount *oc, const dq_expdot_counts *c)
{
    assert_int_equal(c->outputs, oc->outputs);
    assert_int_equal(c->pairs, oc->macs);
    assert_int_equal(c->pairs_nz, oc->macs); /* dense codes */
    assert_int_equal(c->exp_adds, oc->exp_adds);
    assert_int_equal(c->sign_xors, oc->sign_xors);
    assert_int_equal(c->counter_incs, oc->counter_incs);
    assert_int_equal(c->combine_muls, oc->combine_muls);
    assert_int_equal(c->combine_adds, oc->combine_adds);
}

static dq_expdot_params params_for(const dq_layer_prec *p)
{
    dq_expdot_params e;
    memset(&e, 0, sizeof e);
    e.K_w = dq_opcount_levels(p->bits_w, p->signed_w, p->zero_w);
    e.K_a = dq_opcount_levels(p->bits_a, p->signed_a, p->zero_a);
    e.base = 1.7;
    e.alpha_w = 0.9;
    e.alpha_a = 1.3;
    e.beta_w = p->beta_w_nz ? -0.001 : 0.0;
    e.beta_a = p->beta_a_nz ? 0.002 : 0.0;
    return e;
}

static const int bit_cases[][2] = {{2, 3}, {3, 3}, {4, 5}, {5, 8}, {8, 8}};

static void test_counts_linear(void **state)
{
    (void)state;
    rng_state = 11;
    const int64_t rows = 3, C = 37, OC = 5;
    for (size_t bc = 0; bc < sizeof bit_cases / sizeof bit_cases[0]; bc++)
        for (int beta = 0; beta < 4; beta++) {
            dq_layer_prec p = {DQ_ARITH_EXPQ, bit_cases[bc][0], bit_cases[bc][1],
                               8, 1, 0, 1, 1, beta & 1, beta >> 1, 0};
            dq_layer_dims d;
            dq_opcount oc;
            assert_int_equal(dq_layer_dims_linear(&d, rows, C, OC), DQ_OK);
            assert_int_equal(dq_opcount_layer(&oc, &d, &p), DQ_OK);
            dq_expdot_params ep = params_for(&p);
            dq_expdot *e = dq_expdot_alloc(&ep, C);
            assert_non_null(e);
            dq_ecode *a = dense_codes(rows * C, ep.K_a, 0);
            dq_ecode *w = dense_codes(OC * C, ep.K_w, 1);
            double out[3 * 5];
            dq_expdot_counts cnt;
            memset(&cnt, 0, sizeof cnt);
            assert_int_equal(dq_expdot_gemm(e, out, a, w, rows, OC, &cnt), DQ_OK);
            compare_counts(&oc, &cnt);
            /* counter width: weights are signed, so ceil(log2(N+1)) + 1 */
            assert_int_equal(oc.counter_bits, dq_expdot_counter_bits(e));
            assert_int_equal(oc.counter_bits, 7); /* N = 37: 6 + sign */
            int64_t m, ad;
            dq_expdot_combine_cost(e, &m, &ad);
            assert_int_equal(oc.combine_muls, m * oc.outputs);
            assert_int_equal(oc.combine_adds, ad * oc.outputs);
            /* exponent adder: the width of p + q in 0..K_w+K_a-2 */
            int L = ep.K_w + ep.K_a - 1, bits = 0;
            while ((1 << bits) < L) bits++;
            assert_int_equal(oc.exp_add_bits, bits);
            /* data movement */
            assert_int_equal(oc.w_bits, OC * C * p.bits_w);
            assert_int_equal(oc.in_bits, rows * C * p.bits_a);
            assert_int_equal(oc.out_bits, rows * OC * 8);
            free(a);
            free(w);
            dq_expdot_free(e);
        }
}

static void test_counts_conv(void **state)
{
    (void)state;
    rng_state = 12;
    /* C=4, 9x8 -> OC=6, 3x3, stride (2,1), dilation (1,2), groups 2, no
     * padding (padding would add zero codes the dense forms still count) */
    const int C = 4, H = 9, W = 8, OC = 6, k = 3, g = 2;
    for (size_t bc = 0; bc < sizeof bit_cases / sizeof bit_cases[0]; bc++)
        for (int beta = 0; beta < 4; beta++) {
            dq_layer_prec p = {DQ_ARITH_EXPQ, bit_cases[bc][0], bit_cases[bc][1],
                               4, 1, 0, 1, 0, beta & 1, beta >> 1, 0};
            dq_layer_dims d;
            dq_opcount oc;
            assert_int_equal(dq_layer_dims_conv2d(&d, C, H, W, OC, k, k, 2, 1, 0,
                                                  0, 1, 2, g), DQ_OK);
            assert_int_equal(dq_opcount_layer(&oc, &d, &p), DQ_OK);
            /* brute-force shape count: OH = (9-3)/2+1 = 4, OW = 8-4 = 4 */
            int64_t macs = 0;
            for (int oc_ = 0; oc_ < OC; oc_++)
                for (int oh = 0; oh < 4; oh++)
                    for (int ow = 0; ow < 4; ow++)
                        for (int c = 0; c < C / g; c++)
                            for (int i = 0; i < k * k; i++) macs++;
            assert_int_equal(oc.macs, macs);
            assert_int_equal(oc.outputs, OC * 16);
            dq_expdot_params ep = params_for(&p);
            dq_expdot *e = dq_expdot_alloc(&ep, (int64_t)(C / g) * k * k);
            assert_non_null(e);
            dq_ecode *x = dense_codes((int64_t)C * H * W, ep.K_a, 0);
            dq_ecode *w = dense_codes((int64_t)OC * (C / g) * k * k, ep.K_w, 1);
            double out[6 * 16];
            dq_expdot_counts cnt;
            memset(&cnt, 0, sizeof cnt);
            assert_int_equal(dq_expdot_conv2d(e, out, x, w, 1, C, H, W, OC, k, k,
                                              2, 1, 0, 0, 1, 2, g, &cnt), DQ_OK);
            compare_counts(&oc, &cnt);
            assert_int_equal(oc.counter_bits, dq_expdot_counter_bits(e));
            assert_int_equal(oc.in_bits, (int64_t)C * H * W * p.bits_a);
            assert_int_equal(oc.w_bits, (int64_t)OC * (C / g) * k * k * p.bits_w);
            assert_int_equal(oc.out_bits, (int64_t)OC * 16 * 4);
            assert_true(oc.bops == dq_hcm_bops(OC, C / g, k * k, p.bits_a, p.bits_w));
            free(x);
            free(w);
            dq_expdot_free(e);
        }
}

/* Padding: the kernel skips the padded (zero) pairs, the dense form
 * counts them. */
static void test_counts_conv_padded(void **state)
{
    (void)state;
    rng_state = 13;
    dq_layer_prec p = {DQ_ARITH_EXPQ, 4, 4, 4, 1, 0, 1, 1, 1, 1, 0};
    dq_layer_dims d;
    dq_opcount oc;
    assert_int_equal(dq_layer_dims_conv2d(&d, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1,
                                          1, 1), DQ_OK);
    assert_int_equal(dq_opcount_layer(&oc, &d, &p), DQ_OK);
    dq_expdot_params ep = params_for(&p);
    dq_expdot *e = dq_expdot_alloc(&ep, 18);
    assert_non_null(e);
    dq_ecode *x = dense_codes(50, ep.K_a, 0), *w = dense_codes(54, ep.K_w, 1);
    double out[75];
    dq_expdot_counts cnt;
    memset(&cnt, 0, sizeof cnt);
    assert_int_equal(dq_expdot_conv2d(e, out, x, w, 1, 2, 5, 5, 3, 3, 3, 1, 1, 1,
                                      1, 1, 1, 1, &cnt), DQ_OK);
    /* taps inside a 5x5 image with a 3x3 window, pad 1: per axis the 5
     * positions see 2,3,3,3,2 taps = 13, so 13² = 169 per (oc, c) */
    assert_int_equal(cnt.pairs, oc.macs);
    assert_int_equal(oc.macs, 3 * 2 * 25 * 9);
    assert_int_equal(cnt.pairs_nz, 3 * 2 * 169);
    assert_int_equal(cnt.exp_adds, 3 * 2 * 169);
    assert_int_equal(cnt.counter_incs, 3 * 3 * 2 * 169);
    assert_int_equal(cnt.combine_muls, oc.combine_muls);
    free(x);
    free(w);
    dq_expdot_free(e);
}

static void test_counts_matmul(void **state)
{
    (void)state;
    rng_state = 14;
    dq_layer_prec p = {DQ_ARITH_EXPQ, 5, 5, 8, 1, 1, 1, 1, 1, 0, 0};
    dq_layer_dims d;
    dq_opcount oc;
    assert_int_equal(dq_layer_dims_matmul(&d, 2, 3, 16, 4), DQ_OK);
    assert_int_equal(dq_opcount_layer(&oc, &d, &p), DQ_OK);
    assert_int_equal(oc.w_is_param, 0);
    dq_expdot_params ep = params_for(&p);
    dq_expdot *e = dq_expdot_alloc(&ep, 16);
    assert_non_null(e);
    dq_ecode *a = dense_codes(2 * 3 * 16, ep.K_a, 1), *b = dense_codes(2 * 16 * 4, ep.K_w, 1);
    double out[24];
    dq_expdot_counts cnt;
    memset(&cnt, 0, sizeof cnt);
    assert_int_equal(dq_expdot_matmul(e, out, a, b, 2, 3, 16, 4, &cnt), DQ_OK);
    compare_counts(&oc, &cnt);
    assert_true(oc.bops == dq_hcm_bops(2 * 4, 16, 1, 5, 5));
    assert_true(oc.bops_total == oc.bops * 3);
    free(a);
    free(b);
    dq_expdot_free(e);
}

/* INT-k, FP32 and LOG2 closed forms on one conv layer. */
static void test_counts_other_schemes(void **state)
{
    (void)state;
    dq_layer_dims d;
    dq_opcount oc;
    assert_int_equal(dq_layer_dims_conv2d(&d, 3, 8, 8, 4, 3, 3, 1, 1, 0, 0, 1,
                                          1, 1), DQ_OK);
    const int64_t macs = 4 * 36 * 27, outs = 4 * 36;
    dq_layer_prec i8 = {DQ_ARITH_INT, 8, 8, 8, 1, 0, 0, 0, 0, 0, 0};
    assert_int_equal(dq_opcount_layer(&oc, &d, &i8), DQ_OK);
    assert_int_equal(oc.macs, macs);
    assert_int_equal(oc.int_mults, macs);
    assert_int_equal(oc.int_adds, macs);
    assert_int_equal(oc.acc_bits, 32);
    assert_int_equal(oc.combine_muls, outs);
    assert_int_equal(oc.combine_adds, outs);
    assert_int_equal(oc.exp_adds + oc.counter_incs + oc.fp_mults, 0);
    dq_layer_prec f = {DQ_ARITH_FP32, 32, 32, 32, 1, 1, 0, 0, 0, 0, 0};
    assert_int_equal(dq_opcount_layer(&oc, &d, &f), DQ_OK);
    assert_int_equal(oc.fp_mults, macs);
    assert_int_equal(oc.fp_adds, macs);
    assert_int_equal(oc.int_mults + oc.combine_muls, 0);
    dq_layer_prec lg = {DQ_ARITH_LOG2, 4, 4, 4, 1, 0, 0, 0, 0, 0, 0};
    assert_int_equal(dq_opcount_layer(&oc, &d, &lg), DQ_OK);
    assert_int_equal(oc.exp_adds, macs);
    assert_int_equal(oc.exp_add_bits, 5); /* K 8 + 16 - 1 = 23 sums */
    assert_int_equal(oc.shifts, macs);
    assert_int_equal(oc.int_adds, macs);
    assert_int_equal(oc.combine_muls, outs);
    assert_int_equal(oc.counter_incs, 0);
    dq_layer_prec bad = {DQ_ARITH_EXPQ, 1, 4, 4, 1, 0, 1, 0, 0, 0, 0};
    assert_int_equal(dq_opcount_layer(&oc, &d, &bad), DQ_EINVAL);
}

/* ---- energies by hand ------------------------------------------------------ */

/* Horowitz figures used below: add 0.03 (8 b) / 0.1 (32 b); mult 0.2
 * (8 b) / 3.1 (32 b); fp32 add 0.9, mult 3.7; SRAM 10 pJ / 64 b; DRAM
 * 1300 pJ / 64 b.  E_add(b) = 0.03 + (b-8)·0.07/24; E_mul(bw, ba) =
 * 0.2 + (bw·ba - 64)·2.9/960.  Accelerator: 2048 KiB, batch 32. */
static double E_add(int b) { return 0.03 + (b - 8) * 0.07 / 24; }

static void energy_of(dq_energy *en, const dq_energy_params *ep,
                      const dq_layer_dims *d, const dq_layer_prec *p)
{
    dq_opcount oc;
    assert_int_equal(dq_opcount_layer(&oc, d, p), DQ_OK);
    assert_int_equal(dq_energy_layer(en, ep, &oc), DQ_OK);
    assert_close(en->total_pj, en->compute_pj + en->sram_pj + en->dram_pj);
}

static void test_energy_scaling(void **state)
{
    (void)state;
    dq_energy_params ep;
    assert_int_equal(dq_energy_params_load(&ep, NULL), DQ_OK);
    assert_close(dq_energy_int_add(&ep, 8), 0.03);
    assert_close(dq_energy_int_add(&ep, 32), 0.1);
    assert_close(dq_energy_int_add(&ep, 16), 0.03 + 8 * 0.07 / 24);
    assert_close(dq_energy_int_mult(&ep, 8, 8), 0.2);
    assert_close(dq_energy_int_mult(&ep, 32, 32), 3.1);
    assert_close(dq_energy_int_mult(&ep, 4, 4), 0.055);  /* 0.2 - 48·2.9/960 */
    assert_close(dq_energy_int_mult(&ep, 16, 16), 0.78); /* 0.2 + 192·2.9/960 */
    ep.mult_scaling = DQ_MULT_LINEAR;
    assert_close(dq_energy_int_mult(&ep, 4, 12), 0.2);   /* mean 8 bits */
    assert_close(dq_energy_int_mult(&ep, 20, 20), 0.2 + 12 * 2.9 / 24);
}

/* One-layer model: linear 16 -> 64, batch 1 per inference, weights from
 * DRAM once per batch of 32; everything fits in the 2048 KiB SRAM. */
static void test_energy_one_layer(void **state)
{
    (void)state;
    dq_energy_params ep;
    assert_int_equal(dq_energy_params_load(&ep, NULL), DQ_OK);
    dq_layer_dims d;
    assert_int_equal(dq_layer_dims_linear(&d, 1, 16, 64), DQ_OK);
    dq_energy en;

    /* INT8 baseline: 1024 MACs x (8x8 mult 0.2 + 32-bit add 0.1) = 307.2,
     * 64 outputs x (fp32 mult 3.7 + fp32 add 0.9) = 294.4.
     * SRAM: w 8192 + in 128 + out 512 + DRAM fill 8192/32 = 9088 bits
     * x 10/64 = 1420.  DRAM: 256 bits x 1300/64 = 5200. */
    dq_layer_prec i8 = {DQ_ARITH_INT, 8, 8, 8, 1, 0, 0, 0, 0, 0, 32};
    energy_of(&en, &ep, &d, &i8);
    assert_close(en.compute_pj, 601.6);
    assert_close(en.sram_pj, 1420.0);
    assert_close(en.dram_pj, 5200.0);
    assert_close(en.total_pj, 7221.6);
    assert_int_equal(en.spilled + en.weights_streamed, 0);

    /* FP32: 1024 x (3.7 + 0.9) = 4710.4; SRAM (32768 + 512 + 2048 + 1024)
     * x 10/64 = 5680; DRAM 1024 x 1300/64 = 20800. */
    dq_layer_prec f = {DQ_ARITH_FP32, 32, 32, 32, 1, 1, 0, 0, 0, 0, 0};
    energy_of(&en, &ep, &d, &f);
    assert_close(en.compute_pj, 4710.4);
    assert_close(en.sram_pj, 5680.0);
    assert_close(en.dram_pj, 20800.0);

    /* DNA-TEQ 4-bit signed weights (K_w = 7), 4-bit unsigned activations
     * (K_a = 15), zero codes, β_w = 0, β_a != 0, 4-bit outputs.
     * Per MAC: exponent add of ceil(log2 21) = 5 bits, a sign XOR (1-bit
     * add), 2 increments (C1, C2) of 6-bit counters (N = 16: 5 + sign).
     * Per output: (21 + 1) + (7 + 1) = 30 mults, 20 + 7 = 27 adds.
     * SRAM (4096 + 64 + 256 + 128) x 10/64 = 710; DRAM 128 x 1300/64. */
    dq_layer_prec x = {DQ_ARITH_EXPQ, 4, 4, 4, 1, 0, 1, 1, 0, 1, 0};
    energy_of(&en, &ep, &d, &x);
    assert_close(en.compute_pj, 1024 * (E_add(5) + E_add(1) + 2 * E_add(6)) +
                                    64 * (30 * 3.7 + 27 * 0.9));
    assert_close(en.compute_pj, 81.06666666666667 + 8659.2);
    assert_close(en.sram_pj, 710.0);
    assert_close(en.dram_pj, 2600.0);

    /* Mixed-precision uniform 4-bit weights x 6-bit activations:
     * E_mul = 0.2 + (24 - 64)·2.9/960, plus the 32-bit add. */
    dq_layer_prec u46 = {DQ_ARITH_INT, 4, 6, 6, 1, 0, 0, 0, 0, 0, 32};
    energy_of(&en, &ep, &d, &u46);
    assert_close(en.compute_pj, 1024 * (0.2 - 40 * 2.9 / 960 + 0.1) + 64 * 4.6);
    assert_close(en.sram_pj, (4096 + 96 + 384 + 128) * 10.0 / 64);

    /* log2 4-bit w (signed, K 8) x 4-bit a (unsigned, K 16): exponent add
     * of 5 bits, XOR, a shift and an add of 32 bits; one scale per output. */
    dq_layer_prec lg = {DQ_ARITH_LOG2, 4, 4, 4, 1, 0, 0, 0, 0, 0, 32};
    energy_of(&en, &ep, &d, &lg);
    assert_close(en.compute_pj, 1024 * (E_add(5) + E_add(1) + 0.1 + 0.1) + 64 * 3.7);

    /* the DRAM sensitivity value doubles the DRAM part */
    ep.dram_access_pj = ep.dram_access_pj_alt;
    energy_of(&en, &ep, &d, &i8);
    assert_close(en.dram_pj, 10400.0);
}

static void test_energy_memory_cases(void **state)
{
    (void)state;
    dq_energy_params ep;
    assert_int_equal(dq_energy_params_load(&ep, NULL), DQ_OK);
    dq_layer_dims d;
    dq_energy en;
    dq_layer_prec i8 = {DQ_ARITH_INT, 8, 8, 8, 1, 0, 0, 0, 0, 0, 32};
    assert_int_equal(dq_layer_dims_linear(&d, 1, 16, 64), DQ_OK);

    /* weights per inference: DRAM 8192 bits, SRAM fill 8192 */
    ep.weights_per_batch = 0;
    energy_of(&en, &ep, &d, &i8);
    assert_close(en.dram_pj, 8192 * 1300.0 / 64);
    assert_close(en.sram_pj, (8832 + 8192) * 10.0 / 64);
    assert_int_equal(en.weights_streamed, 0); /* by configuration */

    /* 1 KiB SRAM (8192 bits): 8192 + 32·640 does not fit -> weights
     * streamed per inference although per_batch */
    ep.weights_per_batch = 1;
    ep.sram_kib = 1;
    energy_of(&en, &ep, &d, &i8);
    assert_close(en.dram_pj, 8192 * 1300.0 / 64);
    assert_int_equal(en.weights_streamed, 1);
    assert_int_equal(en.spilled, 0);

    /* linear 1024 -> 1024: one inference's activations (16384 bits)
     * exceed the SRAM: they spill to DRAM as well */
    assert_int_equal(dq_layer_dims_linear(&d, 1, 1024, 1024), DQ_OK);
    energy_of(&en, &ep, &d, &i8);
    assert_int_equal(en.spilled, 1);
    assert_close(en.dram_bits, 1024.0 * 1024 * 8 + 16384);
    assert_close(en.sram_bits, 1024.0 * 1024 * 8 * 2 + 16384);

    /* matmul operands are activations: no DRAM unless they spill */
    ep.sram_kib = 2048;
    assert_int_equal(dq_layer_dims_matmul(&d, 4, 16, 8, 16), DQ_OK);
    energy_of(&en, &ep, &d, &i8);
    assert_close(en.dram_pj, 0.0);
    assert_close(en.sram_bits, (4.0 * 16 * 8 + 4 * 8 * 16 + 4 * 16 * 16) * 8);
}

/* A whole model through dq_optable: the tiny model of tests/testmodels.h
 * (conv 2x1x3x3, pad 1, on 1x4x4 -> BatchNorm (folded) -> ReLU ->
 * flatten -> fc 3x32).  conv: 32 outputs of N = 9 (288 MACs), reads 16
 * inputs and 18 weights; fc: 3 outputs of N = 32 (96 MACs), 32 inputs,
 * 96 weights.  Energies by hand with the Horowitz defaults. */
static void test_energy_model(void **state)
{
    const dq_test_fixture *fx = *state;
    char *path = dq_test_path(fx->dir, "tiny.h5");
    assert_int_equal(tiny_write(path, TINY_OK), DQ_OK);
    dq_model *m = dq_model_load(path);
    assert_non_null(m);
    dq_optable *t = dq_optable_alloc(m);
    assert_non_null(t);
    assert_int_equal(t->n, 2);
    dq_energy_params ep;
    assert_int_equal(dq_energy_params_load(&ep, NULL), DQ_OK);
    dq_energy tot, per[2];

    /* INT8: the conv writes its outputs at the 8 bits the fc reads, the fc
     * writes 32-bit logits.  compute: 384 MACs x (0.2 + 0.1) + 35 outputs
     * x (3.7 + 0.9) = 276.2.  SRAM bits: conv 144 + 128 + 256 + 144/32,
     * fc 768 + 256 + 96 + 768/32 = 1676.5, x 10/64.  DRAM: 28.5 bits x
     * 1300/64. */
    assert_int_equal(dq_optable_set_int(t, 8, 8), DQ_OK);
    assert_int_equal(dq_optable_count(t, 32), DQ_OK);
    assert_int_equal(t->prec[0].bits_o, 8);
    assert_int_equal(t->prec[1].bits_o, 32);
    assert_int_equal(dq_energy_optable(&tot, per, &ep, t), DQ_OK);
    assert_close(tot.compute_pj, 276.2);
    assert_close(tot.sram_pj, 1676.5 * 10 / 64);
    assert_close(tot.dram_pj, 28.5 * 1300 / 64);
    assert_close(tot.total_pj, 1117.059375);
    assert_close(per[0].compute_pj + per[1].compute_pj, tot.compute_pj);
    assert_close(per[1].sram_bits, 1144);

    /* FP32: 384 x (3.7 + 0.9) = 1766.4; SRAM (2130 + 4288) x 10/64;
     * DRAM (18 + 96) x 1300/64. */
    dq_optable_set_fp32(t);
    assert_int_equal(dq_optable_count(t, 32), DQ_OK);
    assert_int_equal(dq_energy_optable(&tot, NULL, &ep, t), DQ_OK);
    assert_close(tot.compute_pj, 1766.4);
    assert_close(tot.sram_pj, 1002.8125);
    assert_close(tot.dram_pj, 2315.625);
    assert_close(tot.total_pj, 5084.8375);

    /* log2 at 4 bits (signed, K = 8 each): per MAC a 4-bit exponent add,
     * a 1-bit XOR, a 32-bit shift and a 32-bit add; one scale per output */
    assert_int_equal(dq_optable_set_int(t, 8, 8), DQ_OK);
    assert_int_equal(dq_optable_set_log2(t, 4), DQ_OK);
    assert_int_equal(dq_optable_count(t, 32), DQ_OK);
    assert_int_equal(dq_energy_optable(&tot, NULL, &ep, t), DQ_OK);
    assert_close(tot.compute_pj,
                 384 * (E_add(4) + E_add(1) + 0.1 + 0.1) + 35 * 3.7);
    dq_opcount sum;
    dq_optable_total(t, &sum);
    assert_int_equal(sum.macs, 384);
    assert_int_equal(sum.w_bits, (18 + 96) * 4);
    assert_int_equal(sum.exp_add_bits, 4);
    assert_true(sum.bops_total == t->oc[0].bops_total + t->oc[1].bops_total);
    dq_optable_free(t);
    dq_model_free(m);
    free(path);
}

/* ---- config ------------------------------------------------------------- */

static void expect_config_error(const char *text, const char *needle)
{
    char *dir = dq_test_mkdtemp("energy");
    assert_non_null(dir);
    char *path = dq_test_path(dir, "bad.ini");
    assert_int_equal(dq_test_write_file(path, text, strlen(text)), 0);
    dq_energy_params ep;
    dq_error_clear();
    int st = dq_energy_params_load(&ep, path);
    assert_int_equal(dq_test_rmtree(dir), 0);
    free(path);
    free(dir);
    assert_int_equal(st, DQ_ECONFIG);
    if (!strstr(dq_error_message(), needle))
        fail_msg("message '%s' lacks '%s'", dq_error_message(), needle);
}

static void test_config(void **state)
{
    (void)state;
    dq_energy_params file, def;
    assert_int_equal(dq_energy_params_load(&file, "configs/energy/horowitz45.ini"), DQ_OK);
    assert_int_equal(dq_energy_params_load(&def, NULL), DQ_OK);
    assert_memory_equal(&file, &def, sizeof file);
    assert_true(def.int_add8_pj == 0.03 && def.int_add32_pj == 0.1);
    assert_true(def.int_mult8_pj == 0.2 && def.int_mult32_pj == 3.1);
    assert_true(def.fp32_add_pj == 0.9 && def.fp32_mult_pj == 3.7);
    assert_true(def.sram_access_pj == 10 && def.dram_access_pj == 1300);
    assert_true(def.dram_access_pj_alt == 2600);
    assert_int_equal(def.weights_per_batch, 1);

    expect_config_error("[energy]\nint_add8_pj = 0.03\nint_ad32_pj = 0.1\n",
                        "int_ad32_pj");
    expect_config_error("[acelerator]\nbatch = 4\n", "acelerator");
    expect_config_error("[energy]\nfp32_add_pj = -1\n", "fp32_add_pj");
    expect_config_error("[energy]\nfp32_add_pj = cheap\n", "fp32_add_pj");
    expect_config_error("[energy]\nmult_scaling = cubic\n", "cubic");
    expect_config_error("[energy]\nadd_scaling = quadratic\n", "add_scaling");
    expect_config_error("[accelerator]\nweights_from_dram = never\n", "never");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bops_mlp),
        cmocka_unit_test(test_bops_conv),
        cmocka_unit_test(test_counts_linear),
        cmocka_unit_test(test_counts_conv),
        cmocka_unit_test(test_counts_conv_padded),
        cmocka_unit_test(test_counts_matmul),
        cmocka_unit_test(test_counts_other_schemes),
        cmocka_unit_test(test_energy_scaling),
        cmocka_unit_test(test_energy_one_layer),
        cmocka_unit_test(test_energy_memory_cases),
        cmocka_unit_test_setup_teardown(test_energy_model, fixture_setup,
                                        dq_test_fixture_teardown),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
