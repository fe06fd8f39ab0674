/*
 * test_expdot.c — the exponential-domain dot product (src/expdot.c)
 * against the dequantized FP64 reference.
 *
 * Exactness: every output equals the compensated FP64 dot product of the
 * dequantized codes to 1e-9 relative, for K = 2..128 (and 256), K_w != K_a,
 * signed and unsigned tensors, zero codes, every β combination and
 * reductions up to 100,000 (int16, int32 and int64 counters).  Random
 * codes come from a fixed-seed generator.  Counters: width rules, the
 * worst case (all pairs in one bin) at the int16/int32 boundary, and
 * overflow detection with a forced 4-bit counter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "expdot.h"
#include "quant/expq.h"
#include "quant/quant.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixed-seed data ------------------------------------------------- */

static uint64_t rng_state;

static void rng_seed(uint64_t s) { rng_state = s; }

static uint64_t rng_u64(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unit(void) { return (double)(rng_u64() >> 11) * 0x1p-53; }
static int rng_int(int n) { return (int)(rng_u64() % (uint64_t)n); }

/* n random codes below K: sign random when is_signed, a zero code with
 * probability zero_p. */
static dq_ecode *rand_codes(int64_t n, int K, int is_signed, double zero_p)
{
    dq_ecode *c = malloc(sizeof(dq_ecode) * (size_t)(n ? n : 1));
    assert_non_null(c);
    for (int64_t i = 0; i < n; i++) {
        if (zero_p > 0 && rng_unit() < zero_p) c[i] = DQ_ECODE_ZERO;
        else c[i] = dq_ecode_make(is_signed && (rng_u64() & 1), rng_int(K));
    }
    return c;
}

/* Random parameters: base in (1, 4], α in [0.1, 2.1], β either 0 or in
 * (-α b^-(K-1), 0.5α] (smallest level stays positive, DESIGN §1.1). */
static dq_expdot_params rand_params(int Kw, int Ka, int beta_w_on,
                                    int beta_a_on)
{
    dq_expdot_params p;
    memset(&p, 0, sizeof p);
    p.K_w = Kw;
    p.K_a = Ka;
    p.base = 1.0 + 3.0 * rng_unit() + 1e-3;
    p.alpha_w = 0.1 + 2.0 * rng_unit();
    p.alpha_a = 0.1 + 2.0 * rng_unit();
    double lo_w = -p.alpha_w * pow(p.base, -(Kw - 1));
    double lo_a = -p.alpha_a * pow(p.base, -(Ka - 1));
    p.beta_w = beta_w_on ? lo_w * 0.999 + (0.5 * p.alpha_w - lo_w) * rng_unit() : 0.0;
    p.beta_a = beta_a_on ? lo_a * 0.999 + (0.5 * p.alpha_a - lo_a) * rng_unit() : 0.0;
    return p;
}

/* |got - ref| <= 1e-9 |ref| (both exactly 0 when ref is). */
static void assert_rel(double got, double ref, double *max_rel)
{
    double err = fabs(got - ref);
    if (ref == 0.0) {
        if (err != 0.0) fail_msg("got %.17g, reference exactly 0", got);
        return;
    }
    double rel = err / fabs(ref);
    if (rel > *max_rel) *max_rel = rel;
    if (!(rel <= 1e-9)) fail_msg("got %.17g, reference %.17g: rel %.3g", got, ref, rel);
}

/* ---- exactness ------------------------------------------------------- */

static void check_dot_case(int Kw, int Ka, int sw, int sa, double zp,
                           int bw_on, int ba_on, int64_t N, double *max_rel)
{
    dq_expdot_params p = rand_params(Kw, Ka, bw_on, ba_on);
    dq_expdot *e = dq_expdot_alloc(&p, N);
    assert_non_null(e);
    dq_ecode *w = rand_codes(N, Kw, sw, zp), *a = rand_codes(N, Ka, sa, zp);
    double got, ref, abs_sum;
    dq_expdot_counts cnt;
    memset(&cnt, 0, sizeof cnt);
    assert_int_equal(dq_expdot_dot(e, &got, w, a, &cnt), DQ_OK);
    assert_int_equal(dq_expdot_reference(&p, &ref, &abs_sum, w, a, N), DQ_OK);
    assert_rel(got, ref, max_rel);
    /* counts: every pair visited, zero pairs skipped */
    int64_t nz = 0;
    for (int64_t i = 0; i < N; i++)
        nz += !((w[i] | a[i]) & DQ_ECODE_ZERO);
    assert_int_equal(cnt.outputs, 1);
    assert_int_equal(cnt.pairs, N);
    assert_int_equal(cnt.pairs_nz, nz);
    assert_int_equal(cnt.exp_adds, nz);
    assert_int_equal(cnt.sign_xors, nz);
    assert_int_equal(cnt.counter_incs, nz * (1 + (p.beta_a != 0) + (p.beta_w != 0)));
    free(w);
    free(a);
    dq_expdot_free(e);
}

static void test_dot_exact_all_K(void **state)
{
    (void)state;
    rng_seed(1);
    double max_rel = 0.0;
    const int Ks[] = {2, 3, 4, 5, 7, 8, 15, 16, 31, 32, 63, 64, 100, 127, 128};
    for (size_t ik = 0; ik < sizeof Ks / sizeof Ks[0]; ik++) {
        int K = Ks[ik];
        for (int s = 0; s < 4; s++) /* signed w / signed a */
            for (int b = 0; b < 4; b++) /* β_w, β_a on/off */
                for (int z = 0; z < 2; z++)
                    check_dot_case(K, K, s & 1, (s >> 1) & 1, z ? 0.2 : 0.0,
                                   b & 1, (b >> 1) & 1, 1 + rng_int(3000),
                                   &max_rel);
    }
    print_message("dot K=2..128: max rel error %.3g\n", max_rel);
}

static void test_dot_exact_mixed_K(void **state)
{
    (void)state;
    rng_seed(2);
    double max_rel = 0.0;
    /* weights signed with a zero code (K = 2^(n-1)-1), activations
     * unsigned (K = 2^n - 1 or 2^n) as DNA-TEQ plans have them */
    for (int nw = 2; nw <= 8; nw++)
        for (int na = 2; na <= 8; na++)
            for (int za = 0; za < 2; za++) {
                int Kw = (1 << (nw - 1)) - 1, Ka = (1 << na) - za;
                if (Kw < 1) continue;
                check_dot_case(Kw, Ka, 1, 0, 0.1, rng_int(2), 1, 500, &max_rel);
            }
    check_dot_case(256, 256, 1, 1, 0.05, 1, 1, 5000, &max_rel);
    check_dot_case(1, 1, 1, 1, 0.3, 1, 1, 100, &max_rel);
    print_message("dot mixed K: max rel error %.3g\n", max_rel);
}

static void test_dot_exact_long(void **state)
{
    (void)state;
    rng_seed(3);
    double max_rel = 0.0;
    const int64_t Ns[] = {32767, 32768, 100000};
    for (int i = 0; i < 3; i++)
        for (int b = 0; b < 4; b++) {
            check_dot_case(15, 31, 1, 0, 0.3, b & 1, b >> 1, Ns[i], &max_rel);
            check_dot_case(127, 127, 1, 1, 0.0, b & 1, b >> 1, Ns[i], &max_rel);
        }
    print_message("dot long: max rel error %.3g\n", max_rel);
}

/* ---- GEMM, conv2d, matmul ---------------------------------------------- */

static void test_gemm_exact(void **state)
{
    (void)state;
    rng_seed(4);
    const int64_t P = 7, M = 9, N = 333;
    dq_expdot_params p = rand_params(7, 15, 1, 1);
    dq_expdot *e = dq_expdot_alloc(&p, N);
    assert_non_null(e);
    dq_ecode *a = rand_codes(P * N, 15, 0, 0.3), *w = rand_codes(M * N, 7, 1, 0.1);
    double *out = malloc(sizeof(double) * P * M), max_rel = 0.0;
    assert_non_null(out);
    assert_int_equal(dq_expdot_gemm(e, out, a, w, P, M, NULL), DQ_OK);
    for (int64_t i = 0; i < P; i++)
        for (int64_t j = 0; j < M; j++) {
            double ref;
            assert_int_equal(dq_expdot_reference(&p, &ref, NULL, w + j * N,
                                                 a + i * N, N), DQ_OK);
            assert_rel(out[i * M + j], ref, &max_rel);
        }
    free(a);
    free(w);
    free(out);
    dq_expdot_free(e);
}

static void test_conv2d_exact(void **state)
{
    (void)state;
    rng_seed(5);
    /* B=2, C=4, H=9, W=8, OC=6, 3x3, stride 2x1, pad 1x2, dil 1x2, groups 2 */
    const int B = 2, C = 4, H = 9, W = 8, OC = 6, kh = 3, kw = 3, sh = 2,
              sw = 1, ph = 1, pw = 2, dh = 1, dw = 2, g = 2;
    const int Cg = C / g, OCg = OC / g;
    const int OH = (H + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
    const int OW = (W + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    const int64_t N = (int64_t)Cg * kh * kw;
    dq_expdot_params p = rand_params(15, 16, 1, 1);
    dq_expdot *e = dq_expdot_alloc(&p, N);
    assert_non_null(e);
    dq_ecode *x = rand_codes((int64_t)B * C * H * W, 16, 0, 0.25);
    dq_ecode *wt = rand_codes((int64_t)OC * N, 15, 1, 0.1);
    double *out = malloc(sizeof(double) * B * OC * OH * OW), max_rel = 0.0;
    assert_non_null(out);
    dq_expdot_counts cnt;
    memset(&cnt, 0, sizeof cnt);
    assert_int_equal(dq_expdot_conv2d(e, out, x, wt, B, C, H, W, OC, kh, kw, sh,
                                      sw, ph, pw, dh, dw, g, &cnt), DQ_OK);
    assert_int_equal(cnt.outputs, (int64_t)B * OC * OH * OW);
    assert_int_equal(cnt.pairs, (int64_t)B * OC * OH * OW * N);
    /* reference: direct 7-loop convolution of dequantized values */
    for (int b = 0; b < B; b++)
        for (int oc = 0; oc < OC; oc++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    int gi = oc / OCg;
                    double s = 0.0, comp = 0.0;
                    for (int c = 0; c < Cg; c++)
                        for (int i = 0; i < kh; i++)
                            for (int j = 0; j < kw; j++) {
                                int y = oh * sh - ph + i * dh, xx = ow * sw - pw + j * dw;
                                if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
                                double v = dq_expdot_dequant_w(&p, wt[((oc * Cg + c) * kh + i) * kw + j]) *
                                           dq_expdot_dequant_a(&p, x[((b * C + gi * Cg + c) * H + y) * W + xx]);
                                double t = s + v; /* Neumaier */
                                comp += fabs(s) >= fabs(v) ? (s - t) + v : (v - t) + s;
                                s = t;
                            }
                    assert_rel(out[((b * OC + oc) * OH + oh) * OW + ow], s + comp, &max_rel);
                }
    /* a layer built for another N is refused */
    dq_expdot *e2 = dq_expdot_alloc(&p, N + 1);
    assert_non_null(e2);
    assert_int_equal(dq_expdot_conv2d(e2, out, x, wt, B, C, H, W, OC, kh, kw, sh,
                                      sw, ph, pw, dh, dw, g, NULL), DQ_EINVAL);
    dq_expdot_free(e2);
    free(x);
    free(wt);
    free(out);
    dq_expdot_free(e);
}

static void test_matmul_exact(void **state)
{
    (void)state;
    rng_seed(6);
    const int64_t G = 3, M = 5, K = 64, N = 4;
    dq_expdot_params p = rand_params(31, 31, 1, 0);
    dq_expdot *e = dq_expdot_alloc(&p, K);
    assert_non_null(e);
    dq_ecode *a = rand_codes(G * M * K, 31, 1, 0.1), *b = rand_codes(G * K * N, 31, 1, 0.1);
    dq_ecode col[64];
    double *out = malloc(sizeof(double) * G * M * N), max_rel = 0.0;
    assert_non_null(out);
    assert_int_equal(dq_expdot_matmul(e, out, a, b, G, M, K, N, NULL), DQ_OK);
    for (int64_t g = 0; g < G; g++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                for (int64_t k = 0; k < K; k++) col[k] = b[(g * K + k) * N + j];
                double ref;
                assert_int_equal(dq_expdot_reference(&p, &ref, NULL, col,
                                                     a + (g * M + i) * K, K), DQ_OK);
                assert_rel(out[(g * M + i) * N + j], ref, &max_rel);
            }
    free(a);
    free(b);
    free(out);
    dq_expdot_free(e);
}

/* Same bytes and counts at 1 and 2 threads. */
static void test_gemm_threads(void **state)
{
    (void)state;
    rng_seed(7);
    const int64_t P = 33, M = 17, N = 700;
    dq_expdot_params p = rand_params(15, 15, 1, 1);
    dq_expdot *e = dq_expdot_alloc(&p, N);
    assert_non_null(e);
    dq_ecode *a = rand_codes(P * N, 15, 0, 0.4), *w = rand_codes(M * N, 15, 1, 0.0);
    double *o1 = malloc(sizeof(double) * P * M), *o2 = malloc(sizeof(double) * P * M);
    assert_non_null(o1);
    assert_non_null(o2);
    dq_expdot_counts c1, c2;
    memset(&c1, 0, sizeof c1);
    memset(&c2, 0, sizeof c2);
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(dq_expdot_gemm(e, o1, a, w, P, M, &c1), DQ_OK);
    omp_set_num_threads(2);
    assert_int_equal(dq_expdot_gemm(e, o2, a, w, P, M, &c2), DQ_OK);
    omp_set_num_threads(nt);
    assert_memory_equal(o1, o2, sizeof(double) * P * M);
    assert_memory_equal(&c1, &c2, sizeof c1);
    free(a);
    free(w);
    free(o1);
    free(o2);
    dq_expdot_free(e);
}

/* ---- counters ----------------------------------------------------------- */

static void test_counter_width(void **state)
{
    (void)state;
    assert_int_equal(dq_expdot_counter_bits_needed(1), 2);     /* [-1, 1] */
    assert_int_equal(dq_expdot_counter_bits_needed(7), 4);     /* [-7, 7] */
    assert_int_equal(dq_expdot_counter_bits_needed(8), 5);     /* [-8, 8] */
    assert_int_equal(dq_expdot_counter_bits_needed(32767), 16);
    assert_int_equal(dq_expdot_counter_bits_needed(32768), 17);
    assert_int_equal(dq_expdot_counter_bits_needed(INT64_MAX), 64);
    dq_expdot_params p = {4, 4, 2.0, 1.0, 0.0, 1.0, 0.0, 0};
    dq_expdot *e = dq_expdot_alloc(&p, 32767);
    assert_non_null(e);
    assert_int_equal(dq_expdot_counter_storage_bits(e), 16);
    dq_expdot_free(e);
    e = dq_expdot_alloc(&p, 32768);
    assert_non_null(e);
    assert_int_equal(dq_expdot_counter_storage_bits(e), 32);
    dq_expdot_free(e);
    p.counter_bits = 40; /* wider than needed: int64 storage, unchecked */
    e = dq_expdot_alloc(&p, 100);
    assert_non_null(e);
    assert_int_equal(dq_expdot_counter_bits(e), 40);
    assert_int_equal(dq_expdot_counter_storage_bits(e), 64);
    dq_expdot_free(e);
}

/* All N pairs in one bin with the same sign: the counter reaches ±N.  At
 * the int16/int32 boundary the result must still be exact: N·(level
 * product) for levels α_w b^(p-(K-1)) and α_a b^(q-(K-1)). */
static void test_counter_worst_case(void **state)
{
    (void)state;
    const int64_t Ns[] = {32767, 32768, 70000};
    for (int t = 0; t < 3; t++) {
        int64_t N = Ns[t];
        dq_expdot_params p = {4, 4, 2.0, 1.0, 0.0, 1.0, 0.0, 0};
        dq_expdot *e = dq_expdot_alloc(&p, N);
        assert_non_null(e);
        dq_ecode *w = malloc(sizeof(dq_ecode) * N), *a = malloc(sizeof(dq_ecode) * N);
        assert_non_null(w);
        assert_non_null(a);
        for (int neg = 0; neg < 2; neg++) {
            for (int64_t i = 0; i < N; i++) {
                w[i] = dq_ecode_make(neg, 3); /* level 1 */
                a[i] = dq_ecode_make(0, 2);   /* level 1/2 */
            }
            double got;
            assert_int_equal(dq_expdot_dot(e, &got, w, a, NULL), DQ_OK);
            assert_true(got == (neg ? -0.5 : 0.5) * (double)N);
        }
        free(w);
        free(a);
        dq_expdot_free(e);
    }
}

/* A forced 4-bit counter holds [-8, 7]: 7 (or 8 negative) pairs in one
 * bin pass, one more is DQ_EOVERFLOW, in dot and in gemm. */
static void test_counter_overflow(void **state)
{
    (void)state;
    const int64_t N = 20;
    dq_expdot_params p = {4, 4, 2.0, 1.0, 0.0, 1.0, 0.5, 4};
    dq_expdot *e = dq_expdot_alloc(&p, N);
    assert_non_null(e);
    assert_int_equal(dq_expdot_counter_bits(e), 4);
    dq_ecode w[20], a[20];
    double out;
    for (int neg = 0; neg < 2; neg++) {
        int fits = neg ? 8 : 7;
        for (int n = fits; n <= fits + 1; n++) {
            for (int64_t i = 0; i < N; i++) {
                w[i] = i < n ? dq_ecode_make(neg, 1) : (dq_ecode)DQ_ECODE_ZERO;
                a[i] = i < n ? dq_ecode_make(0, 2) : dq_ecode_make(0, (int)(i % 4));
            }
            int st = dq_expdot_dot(e, &out, w, a, NULL);
            if (n == fits) {
                assert_int_equal(st, DQ_OK);
                double ref;
                assert_int_equal(dq_expdot_reference(&p, &ref, NULL, w, a, N), DQ_OK);
                assert_true(fabs(out - ref) <= 1e-12 * fabs(ref));
            } else {
                assert_int_equal(st, DQ_EOVERFLOW);
                assert_non_null(strstr(dq_error_message(), "4-bit counter"));
            }
        }
    }
    /* gemm: row 1 of 3 overflows; the error names output (1, 0) */
    dq_ecode A[3 * 20], Wt[20];
    for (int i = 0; i < 20; i++) {
        Wt[i] = dq_ecode_make(0, 0);
        A[i] = i < 5 ? dq_ecode_make(0, 0) : (dq_ecode)DQ_ECODE_ZERO;
        A[20 + i] = dq_ecode_make(0, 0);
        A[40 + i] = i < 7 ? dq_ecode_make(0, 0) : (dq_ecode)DQ_ECODE_ZERO;
    }
    double o3[3];
    assert_int_equal(dq_expdot_gemm(e, o3, A, Wt, 3, 1, NULL), DQ_EOVERFLOW);
    assert_non_null(strstr(dq_error_message(), "output (1, 0)"));
    dq_expdot_free(e);
}

/* ---- arguments and code conversion --------------------------------------- */

static void test_bad_args(void **state)
{
    (void)state;
    dq_expdot_params p = {4, 4, 2.0, 1.0, 0.0, 1.0, 0.0, 0};
    dq_expdot_params q = p;
    q.K_w = 0;
    assert_null(dq_expdot_alloc(&q, 10));
    assert_int_equal(dq_error_status(), DQ_EINVAL);
    q = p;
    q.K_a = 257;
    assert_null(dq_expdot_alloc(&q, 10));
    q = p;
    q.base = 1.0;
    assert_null(dq_expdot_alloc(&q, 10));
    q = p;
    q.alpha_w = NAN;
    assert_null(dq_expdot_alloc(&q, 10));
    q = p;
    q.counter_bits = 1;
    assert_null(dq_expdot_alloc(&q, 10));
    assert_null(dq_expdot_alloc(&p, 0));
    dq_expdot *e = dq_expdot_alloc(&p, 3);
    assert_non_null(e);
    dq_ecode w[3] = {dq_ecode_make(0, 1), dq_ecode_make(1, 4), 0};
    dq_ecode a[3] = {0, 0, 0};
    double out;
    assert_int_equal(dq_expdot_dot(e, &out, w, a, NULL), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "weight code 1 has exponent 4"));
    dq_expdot_free(e);
}

static void test_codes_from_quant(void **state)
{
    (void)state;
    /* 4-bit signed with zero code: code = sign<<3 | j, level k = j - 1 */
    const int32_t qc[6] = {0, 1, 7, 8, 9, 15};
    dq_ecode ec[6];
    assert_int_equal(dq_expdot_codes_from_quant(ec, qc, 6, 4, 1, 1, 0), DQ_OK);
    assert_int_equal(ec[0], DQ_ECODE_ZERO);
    assert_int_equal(ec[1], dq_ecode_make(0, 0));
    assert_int_equal(ec[2], dq_ecode_make(0, 6));
    assert_int_equal(ec[3], DQ_ECODE_ZERO); /* -0 */
    assert_int_equal(ec[4], dq_ecode_make(1, 0));
    assert_int_equal(ec[5], dq_ecode_make(1, 6));
    /* 3-bit unsigned without zero code: code = k */
    const int32_t uc[3] = {0, 5, 7};
    assert_int_equal(dq_expdot_codes_from_quant(ec, uc, 3, 3, 0, 0, 0), DQ_OK);
    assert_int_equal(ec[0], dq_ecode_make(0, 0));
    assert_int_equal(ec[1], dq_ecode_make(0, 5));
    assert_int_equal(ec[2], dq_ecode_make(0, 7));
    assert_int_equal(dq_expdot_codes_from_quant(ec, uc, 3, 3, 0, 0, 1), DQ_OK);
    assert_int_equal(ec[2], DQ_ECODE_ZERO); /* all-zero channel */
    const int32_t bad[1] = {16};
    assert_int_equal(dq_expdot_codes_from_quant(ec, bad, 1, 4, 1, 1, 0), DQ_EINVAL);
}

/* ---- with the quantizer ---------------------------------------------- */

/* A linear layer quantized by the expq scheme with a shared base: the
 * codes decode (quant.h) to the levels expdot dequantizes (to float
 * rounding), the exponential-domain outputs equal the dequantized FP64
 * reference to 1e-9 and the fake-quant float path to float rounding. */
static void test_with_quantizer(void **state)
{
    (void)state;
    rng_seed(8);
    const int64_t P = 5, OC = 8, C = 200;
    float *w = malloc(sizeof(float) * OC * C), *x = malloc(sizeof(float) * P * C);
    assert_non_null(w);
    assert_non_null(x);
    for (int64_t i = 0; i < OC * C; i++) /* Laplace-like weights */
        w[i] = (float)((rng_u64() & 1 ? 1 : -1) * -0.1 * log(1.0 - rng_unit()));
    for (int64_t i = 0; i < P * C; i++) { /* ReLU'd activations */
        double v = rng_unit() - 0.3;
        x[i] = v > 0 ? (float)(v * v * 3.0) : 0.0f;
    }
    const dq_quant_scheme *s = dq_quant_find("expq");
    assert_non_null(s);
    dq_quant_opts o;
    dq_quant_opts_default(&o);
    dq_expq_fit fw, fa;
    assert_int_equal(dq_expq_search_pair(w, OC * C, 4, 1, x, P * C, 5, 0, &o,
                                         &fw, &fa), DQ_OK);
    o.fixed_base = fw.base;
    o.sign_mode = DQ_SIGN_SIGNED;
    dq_qparams *qw = dq_quant_calibrate_raw(s, "w", w, 1, OC * C, 4, &o);
    o.sign_mode = DQ_SIGN_UNSIGNED;
    dq_qparams *qx = dq_quant_calibrate_raw(s, "x", x, 1, P * C, 5, &o);
    assert_non_null(qw);
    assert_non_null(qx);

    dq_expdot_params p;
    assert_int_equal(dq_expdot_params_from_quant(&p, qw, qx), DQ_OK);
    assert_int_equal(p.K_w, (1 << 3) - qw->chan[0].zero_code);
    assert_int_equal(p.K_a, (1 << 5) - qx->chan[0].zero_code);
    dq_ecode *cw = malloc(sizeof(dq_ecode) * OC * C), *cx = malloc(sizeof(dq_ecode) * P * C);
    int32_t *qc = malloc(sizeof(int32_t) * OC * C);
    float *dec = malloc(sizeof(float) * OC * C);
    assert_non_null(cw);
    assert_non_null(cx);
    assert_non_null(qc);
    assert_non_null(dec);
    assert_int_equal(dq_expdot_encode(cw, qw, w, OC * C), DQ_OK);
    assert_int_equal(dq_expdot_encode(cx, qx, x, P * C), DQ_OK);
    /* the code mapping agrees with the quantizer's own decode */
    assert_int_equal(dq_quant_encode(qw, w, OC * C, qc), DQ_OK);
    assert_int_equal(dq_quant_decode(qw, qc, OC * C, dec), DQ_OK);
    for (int64_t i = 0; i < OC * C; i++) {
        double v = dq_expdot_dequant_w(&p, cw[i]);
        assert_true(fabs(v - dec[i]) <= 1e-6 * fabs(v));
    }
    float *fw_ = malloc(sizeof(float) * OC * C), *fx = malloc(sizeof(float) * P * C);
    assert_non_null(fw_);
    assert_non_null(fx);
    memcpy(fw_, w, sizeof(float) * OC * C);
    memcpy(fx, x, sizeof(float) * P * C);
    assert_int_equal(dq_quant_fake(qw, fw_, OC * C), DQ_OK);
    assert_int_equal(dq_quant_fake(qx, fx, P * C), DQ_OK);

    dq_expdot *e = dq_expdot_alloc(&p, C);
    assert_non_null(e);
    double out[5 * 8], max_rel = 0.0;
    assert_int_equal(dq_expdot_gemm(e, out, cx, cw, P, OC, NULL), DQ_OK);
    for (int64_t i = 0; i < P; i++)
        for (int64_t j = 0; j < OC; j++) {
            double ref, fq = 0.0, fabs_sum = 0.0;
            assert_int_equal(dq_expdot_reference(&p, &ref, NULL, cw + j * C,
                                                 cx + i * C, C), DQ_OK);
            assert_rel(out[i * OC + j], ref, &max_rel);
            for (int64_t k = 0; k < C; k++) {
                fq += (double)fw_[j * C + k] * fx[i * C + k];
                fabs_sum += fabs((double)fw_[j * C + k] * fx[i * C + k]);
            }
            assert_true(fabs(out[i * OC + j] - fq) <= 1e-6 * fabs_sum);
        }

    /* another base, another scheme: refused */
    dq_qparams *qx2 = dq_qparams_clone(qx);
    assert_non_null(qx2);
    qx2->chan[0].p[0] *= 1.01;
    assert_int_equal(dq_expdot_params_from_quant(&p, qw, qx2), DQ_EINVAL);
    dq_qparams *qu = dq_quant_calibrate_raw(dq_quant_find("uniform"), "u", x, 1,
                                            P * C, 8, &o);
    assert_non_null(qu);
    assert_int_equal(dq_expdot_params_from_quant(&p, qw, qu), DQ_EUNSUP);

    dq_qparams_free(qu);
    dq_qparams_free(qx2);
    dq_expdot_free(e);
    dq_qparams_free(qw);
    dq_qparams_free(qx);
    free(w);
    free(x);
    free(cw);
    free(cx);
    free(qc);
    free(dec);
    free(fw_);
    free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot_exact_all_K),
        cmocka_unit_test(test_dot_exact_mixed_K),
        cmocka_unit_test(test_dot_exact_long),
        cmocka_unit_test(test_gemm_exact),
        cmocka_unit_test(test_conv2d_exact),
        cmocka_unit_test(test_matmul_exact),
        cmocka_unit_test(test_gemm_threads),
        cmocka_unit_test(test_counter_width),
        cmocka_unit_test(test_counter_worst_case),
        cmocka_unit_test(test_counter_overflow),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_codes_from_quant),
        cmocka_unit_test(test_with_quantizer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
