/*
 * test_quant.c — the quantizer library: the generic interface, the shared
 * codebook and histogram cores, uniform (against PyTorch and NVIDIA
 * pytorch-quantization reference numbers) and expq (DNA-TEQ).
 *
 * Data come from a fixed-seed generator or closed formulas, so every
 * assertion is exact or has a stated tolerance, and each can fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "quant/expq.h"
#include "quant/qio.h"
#include "quant/quant.h"
#include "quant_invariants.h"
#include "tensor.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixed-seed data ----------------------------------------------------- */

static uint64_t rng;

static double unif(void) /* (0, 1) */
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

/* Laplace (signed = 1) or exponential (signed = 0) samples, scale 1. */
static float *expdata(int64_t n, int is_signed, uint64_t seed)
{
    rng = seed;
    float *x = malloc(sizeof(float) * (size_t)n);
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) {
        double e = -log(unif());
        x[i] = (float)(is_signed && unif() < 0.5 ? -e : e);
    }
    return x;
}

static double rmae_of(const char *scheme, const float *x, int64_t n, int bits,
                      const dq_quant_opts *o)
{
    const dq_quant_scheme *s = dq_quant_find(scheme);
    assert_non_null(s);
    dq_qparams *p = dq_quant_calibrate_raw(s, "t", x, 1, n, bits, o);
    assert_non_null(p);
    float *y = malloc(sizeof(float) * (size_t)n);
    assert_non_null(y);
    memcpy(y, x, sizeof(float) * (size_t)n);
    assert_int_equal(dq_quant_fake(p, y, n), DQ_OK);
    dq_qerror e;
    dq_quant_error(x, y, n, &e);
    free(y);
    dq_qparams_free(p);
    return e.rmae;
}

/* ---- registry -------------------------------------------------------------- */

static void test_registry(void **state)
{
    (void)state;
    assert_true(dq_quant_count() >= 2);
    assert_string_equal(dq_quant_find("uniform")->name, "uniform");
    assert_string_equal(dq_quant_find("expq")->label, "DNA-TEQ");
    for (int i = 0; i < dq_quant_count(); i++) {
        const dq_quant_scheme *s = dq_quant_get(i);
        assert_non_null(s);
        assert_ptr_equal(dq_quant_find(s->name), s);
        assert_true(s->calibrate && s->encode && s->decode && s->levels &&
                    s->describe && s->param_names && s->label);
    }
    assert_null(dq_quant_get(dq_quant_count()));
    dq_error_clear();
    assert_null(dq_quant_find("int3000"));
    assert_int_equal(dq_error_status(), DQ_EUNSUP);
    assert_non_null(strstr(dq_error_message(), "int3000"));
    assert_non_null(strstr(dq_error_message(), "expq"));
}

/* ---- generic invariants ------------------------------------------------------ */

static void test_invariants_uniform(void **state)
{
    (void)state;
    dq_quant_opts o;
    dq_quant_opts_default(&o);
    const dq_calibrator cal[4] = {DQ_CALIB_MINMAX, DQ_CALIB_PERCENTILE,
                                  DQ_CALIB_MSE, DQ_CALIB_KL};
    for (int sym = 0; sym <= 1; sym++)
        for (int c = 0; c < 4; c++) {
            o.symmetric = sym;
            o.calibrator = cal[c];
            /* clipping calibrators choose the range per bitwidth, so the
             * grids are not nested: allow 5% */
            dq_check_quant_invariants("uniform", &o, c == 0 ? 0.0 : 0.05);
        }
}

static void test_invariants_expq(void **state)
{
    (void)state;
    dq_quant_opts o;
    dq_quant_opts_default(&o);
    dq_check_quant_invariants("expq", &o, 0.0);
    o.zero_code = 0;
    dq_check_quant_invariants("expq", &o, 0.0);
    o.zero_code = 1;
    o.objective = DQ_OBJ_MSE;
    dq_check_quant_invariants("expq", &o, 0.0);
}

/* ---- codebook ---------------------------------------------------------------- */

static void test_codebook_layout(void **state)
{
    (void)state;
    dq_codebook cb;
    const double mag[3] = {0.5, 1.0, 2.0};
    /* signed 3 bits + zero code: codes sign<<2 | j, j = 0 zero, 1..3 */
    assert_int_equal(dq_codebook_signmag(&cb, 3, 1, 1, mag, 3), DQ_OK);
    assert_int_equal(dq_codebook_encode1(&cb, 0.0f), 0);
    assert_int_equal(dq_codebook_encode1(&cb, 0.25f), 0);  /* tie -> zero */
    assert_int_equal(dq_codebook_encode1(&cb, 0.26f), 1);
    assert_int_equal(dq_codebook_encode1(&cb, 0.75f), 1);  /* tie -> 0.5 */
    assert_int_equal(dq_codebook_encode1(&cb, 0.76f), 2);
    assert_int_equal(dq_codebook_encode1(&cb, 100.0f), 3);
    assert_int_equal(dq_codebook_encode1(&cb, -1.2f), 4 | 2);
    assert_int_equal(dq_codebook_encode1(&cb, -0.75f), 4 | 1);
    assert_true(dq_codebook_decode1(&cb, 4 | 3) == -2.0f);
    assert_true(dq_codebook_decode1(&cb, 4) == 0.0f);
    assert_true(dq_codebook_fake1(&cb, -1.6f) == -2.0f);
    double lev[2 * DQ_CB_MAX + 1];
    assert_int_equal(dq_codebook_levels(&cb, lev), 7);
    assert_true(lev[0] == -2.0 && lev[3] == 0.0 && lev[6] == 2.0);
    /* 4 magnitudes do not fit 3 signed bits with a zero code */
    const double mag4[4] = {0.5, 1.0, 2.0, 4.0};
    assert_int_equal(dq_codebook_signmag(&cb, 3, 1, 1, mag4, 4), DQ_EINVAL);
    /* unsigned, no zero code: negatives and 0 go to the smallest level */
    assert_int_equal(dq_codebook_signmag(&cb, 2, 0, 0, mag4, 4), DQ_OK);
    assert_int_equal(dq_codebook_encode1(&cb, -3.0f), 0);
    assert_true(dq_codebook_fake1(&cb, 0.0f) == 0.5f);
    assert_true(dq_codebook_fake1(&cb, 3.0f) == 2.0f); /* tie -> smaller */
    assert_true(dq_codebook_fake1(&cb, 3.01f) == 4.0f);
    /* plain table with negative values */
    const double tab[4] = {0.3, -1.0, 0.0, 2.0};
    assert_int_equal(dq_codebook_table(&cb, 2, tab, 4), DQ_OK);
    assert_int_equal(dq_codebook_encode1(&cb, -0.5f), 0); /* tie -> lower */
    assert_true(dq_codebook_fake1(&cb, 0.2f) == 0.3f);
    assert_true(dq_codebook_decode1(&cb, 3) == 2.0f);
    /* bad magnitudes */
    const double badm[2] = {1.0, -1.0};
    assert_int_equal(dq_codebook_signmag(&cb, 3, 1, 1, badm, 2), DQ_EINVAL);
}

/* ---- uniform vs PyTorch ---------------------------------------------------------- */

/* Reference values computed with PyTorch 1.13 (the system python3):
 *   obs = torch.ao.quantization.observer.MinMaxObserver(
 *             dtype=torch.qint8 | torch.quint8,
 *             qscheme=torch.per_tensor_symmetric | torch.per_tensor_affine)
 *   obs(torch.tensor(v, dtype=torch.float32)); obs.calculate_qparams()
 * and PerChannelMinMaxObserver(ch_axis=0, ...) for the per-channel rows;
 * scales printed with '%.9g' (exact float32 round trip). */
typedef struct {
    const char *name;
    float v[6];
    int n;
    float scale[4];  /* qint8 sym, qint8 aff, quint8 aff, quint8 sym */
    int32_t zp[4];
} torch_case;

static const torch_case torch_cases[] = {
    {"v1", {-1.7f, 0.3f, 2.5f, -0.01f, 0.9f, 1.25f}, 6,
     {0.0196078438f, 0.0164705869f, 0.0164705869f, 0.0196078438f},
     {0, -25, 103, 128}},
    {"v2", {0.05f, 0.7f, 3.3f, 1.1f, 0.0f, 2.2f}, 6,
     {0.0258823521f, 0.0129411761f, 0.0129411761f, 0.0258823521f},
     {0, -128, 0, 128}},
    {"v3", {-4.2f, -0.5f, -3.1f, -0.25f}, 4,
     {0.0329411738f, 0.0164705869f, 0.0164705869f, 0.0329411738f},
     {0, 127, 255, 128}},
    {"v4", {-0.003f, 0.0071f, 0.5f, -0.9999f, 0.33333f}, 5,
     {0.00784235261f, 0.0058819605f, 0.0058819605f, 0.00784235261f},
     {0, 42, 170, 128}},
};

static void test_uniform_torch_qparams(void **state)
{
    (void)state;
    const int sgn[4] = {1, 1, 0, 0}, sym[4] = {1, 0, 0, 1};
    for (size_t c = 0; c < sizeof torch_cases / sizeof torch_cases[0]; c++) {
        const torch_case *tc = &torch_cases[c];
        for (int k = 0; k < 4; k++) {
            dq_quant_opts o;
            dq_quant_opts_default(&o);
            o.symmetric = sym[k];
            o.sign_mode = sgn[k] ? DQ_SIGN_SIGNED : DQ_SIGN_UNSIGNED;
            dq_qparams *p = dq_quant_calibrate_raw(
                dq_quant_find("uniform"), tc->name, tc->v, 1, tc->n, 8, &o);
            assert_non_null(p);
            if ((float)p->chan[0].p[0] != tc->scale[k] ||
                (int32_t)p->chan[0].p[1] != tc->zp[k])
                fail_msg("%s case %d: scale %.9g zp %d, torch %.9g %d",
                         tc->name, k, p->chan[0].p[0], (int)p->chan[0].p[1],
                         (double)tc->scale[k], (int)tc->zp[k]);
            dq_qparams_free(p);
        }
    }
    /* per channel: w = [[-1.7, .3, 2.5], [-.01, .9, 1.25], [.2, .4, .6]] */
    const float w[9] = {-1.7f, 0.3f, 2.5f, -0.01f, 0.9f, 1.25f,
                        0.2f,  0.4f, 0.6f};
    const float psym[3] = {0.0196078438f, 0.00980392192f, 0.00470588263f};
    const float paff[3] = {0.0164705869f, 0.00494117662f, 0.00235294132f};
    const int32_t zaff[3] = {-25, -126, -128};
    dq_tensor *t = dq_tensor_alloc4("w", 2, 3, 3, 0, 0);
    assert_non_null(t);
    memcpy(t->data, w, sizeof w);
    for (int aff = 0; aff <= 1; aff++) {
        dq_quant_opts o;
        dq_quant_opts_default(&o);
        o.per_channel = 1;
        o.symmetric = !aff;
        dq_qparams *p = dq_quant_calibrate(dq_quant_find("uniform"), t, 8, &o);
        assert_non_null(p);
        assert_int_equal(p->nchan, 3);
        assert_true(p->is_signed); /* auto: the tensor has negatives */
        for (int c = 0; c < 3; c++) {
            assert_true((float)p->chan[c].p[0] == (aff ? paff[c] : psym[c]));
            assert_int_equal((int32_t)p->chan[c].p[1], aff ? zaff[c] : 0);
        }
        dq_qparams_free(p);
    }
    dq_tensor_free(t);
}

/* torch.fake_quantize_per_tensor_affine(v1, scale, zp, -128, 127) and
 * torch.quantize_per_tensor(v1, scale, zp, torch.qint8).int_repr() with
 * the qint8 affine / symmetric qparams of v1 above. */
static void test_uniform_torch_fake(void **state)
{
    (void)state;
    const float fq_aff[6] = {-1.6964705f, 0.296470553f, 2.50352931f,
                             -0.0164705869f, 0.905882299f, 1.25176466f};
    const int32_t c_aff[6] = {-128, -7, 127, -26, 30, 51};
    const float fq_sym[6] = {-1.70588243f, 0.294117659f, 2.49019623f,
                             -0.0196078438f, 0.90196079f, 1.25490201f};
    const int32_t c_sym[6] = {-87, 15, 127, -1, 46, 64};
    for (int sym = 0; sym <= 1; sym++) {
        dq_quant_opts o;
        dq_quant_opts_default(&o);
        o.symmetric = sym;
        dq_qparams *p = dq_quant_calibrate_raw(dq_quant_find("uniform"), "v1",
                                               torch_cases[0].v, 1, 6, 8, &o);
        assert_non_null(p);
        float y[6];
        int32_t codes[6];
        memcpy(y, torch_cases[0].v, sizeof y);
        assert_int_equal(dq_quant_fake(p, y, 6), DQ_OK);
        assert_int_equal(dq_quant_encode(p, torch_cases[0].v, 6, codes), DQ_OK);
        for (int i = 0; i < 6; i++) {
            assert_true(y[i] == (sym ? fq_sym[i] : fq_aff[i]));
            assert_int_equal(codes[i], sym ? c_sym[i] : c_aff[i]);
        }
        dq_qparams_free(p);
    }
}

/* ---- array paths equal the per-element definitions ------------------------ */

/* Values that sit on and next to every level and threshold of cb (both
 * signs), exact zeros, denormals, huge values and random ones: n of them. */
static float *probe_values(const dq_codebook *cb, int64_t n, uint64_t seed)
{
    float *x = malloc(sizeof(float) * (size_t)n);
    assert_non_null(x);
    rng = seed;
    int64_t m = 0;
    const float fixed[] = {0.0f, -0.0f, FLT_TRUE_MIN, -FLT_TRUE_MIN, FLT_MIN,
                           1e30f, -1e30f, FLT_MAX, -FLT_MAX};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] && m < n; i++)
        x[m++] = fixed[i];
    double pts[2 * DQ_CB_MAX + 1];
    int np = 0;
    for (int k = 0; k < cb->K; k++) pts[np++] = cb->lev[k];
    for (int k = 0; k + 1 < cb->K; k++) pts[np++] = cb->thr[k];
    pts[np++] = cb->thr0;
    for (int i = 0; i < np && m + 12 <= n; i++) {
        if (!isfinite(pts[i])) continue;
        float f = (float)pts[i];
        float v[6] = {f, nextafterf(f, INFINITY), nextafterf(f, -INFINITY),
                      nextafterf(nextafterf(f, INFINITY), INFINITY),
                      (float)(pts[i] * (1 + 1e-7)), (float)(pts[i] * (1 - 1e-7))};
        for (int j = 0; j < 6; j++) {
            x[m++] = v[j];
            x[m++] = -v[j];
        }
    }
    double span = cb->lev[cb->K - 1] != 0 ? fabs(cb->lev[cb->K - 1]) : 1.0;
    while (m < n) {
        double u = unif();
        x[m++] = (float)((unif() < 0.5 ? -1 : 1) * span * 1.5 *
                         (u < 0.3 ? u * u * u * u : u));
    }
    return x;
}

static void check_codebook_arrays(const dq_codebook *cb, const char *what)
{
    const int64_t sizes[2] = {1000, 70000}; /* short path and lookup table */
    for (int s = 0; s < 2; s++) {
        int64_t n = sizes[s];
        float *x = probe_values(cb, n, 77 + (uint64_t)s);
        float *y = malloc(sizeof(float) * (size_t)n);
        int32_t *codes = malloc(sizeof(int32_t) * (size_t)n);
        assert_non_null(y);
        assert_non_null(codes);
        memcpy(y, x, sizeof(float) * (size_t)n);
        dq_codebook_fake(cb, y, n);
        dq_codebook_encode(cb, x, n, codes);
        for (int64_t i = 0; i < n; i++) {
            float want = dq_codebook_fake1(cb, x[i]);
            if (memcmp(&want, &y[i], sizeof want) != 0)
                fail_msg("%s, n=%lld: fake(%.9g) = %.9g, fake1 = %.9g", what,
                         (long long)n, x[i], y[i], want);
            int32_t wc = dq_codebook_encode1(cb, x[i]);
            if (wc != codes[i])
                fail_msg("%s, n=%lld: encode(%.9g) = %d, encode1 = %d", what,
                         (long long)n, x[i], codes[i], wc);
        }
        free(x);
        free(y);
        free(codes);
    }
}

static void test_codebook_arrays(void **state)
{
    (void)state;
    dq_codebook cb;
    double mag[DQ_CB_MAX];
    char what[96];
    /* sign-magnitude: every width, signedness and zero-code setting */
    for (int bits = 2; bits <= 8; bits++)
        for (int sg = 0; sg <= 1; sg++)
            for (int zc = 0; zc <= 1; zc++) {
                int K = (1 << (bits - sg)) - zc;
                for (int k = 0; k < K; k++) mag[k] = 0.37 * pow(1.29, k - K + 1);
                assert_int_equal(dq_codebook_signmag(&cb, bits, sg, zc, mag, K),
                                 DQ_OK);
                snprintf(what, sizeof what, "signmag %d bits signed %d zc %d",
                         bits, sg, zc);
                check_codebook_arrays(&cb, what);
            }
    /* repeated levels (equal after rounding to float) and K smaller than
     * the width allows */
    double rep[5] = {1.0, 1.0 + 1e-12, 2.0, 2.0, 3.5};
    assert_int_equal(dq_codebook_signmag(&cb, 4, 1, 1, rep, 5), DQ_OK);
    check_codebook_arrays(&cb, "signmag with repeated levels");
    /* geometric thresholds, as log2.c sets them */
    for (int k = 0; k < 7; k++) mag[k] = ldexp(1.0, k - 9);
    assert_int_equal(dq_codebook_signmag(&cb, 4, 1, 1, mag, 7), DQ_OK);
    for (int k = 0; k + 1 < 7; k++) cb.thr[k] = ldexp(1.0, k - 9) * sqrt(2.0);
    cb.thr0 = ldexp(1.0, -10) * sqrt(2.0);
    check_codebook_arrays(&cb, "signmag with geometric thresholds");
    /* plain tables of every size, negative and positive values */
    for (int bits = 2; bits <= 8; bits++) {
        int K = 1 << bits;
        for (int k = 0; k < K; k++) mag[k] = -1.7 + 3.1 * pow((k + 0.5) / K, 1.7);
        assert_int_equal(dq_codebook_table(&cb, bits, mag, K), DQ_OK);
        snprintf(what, sizeof what, "table %d bits", bits);
        check_codebook_arrays(&cb, what);
    }
    mag[0] = 0.25;
    assert_int_equal(dq_codebook_table(&cb, 3, mag, 1), DQ_OK);
    check_codebook_arrays(&cb, "table of one value");
}

/* Uniform fake quantization equals its definition with nearbyintf (round
 * half to even), also on exact halves and far outside the grid. */
static void test_uniform_fake_definition(void **state)
{
    (void)state;
    const dq_quant_scheme *u = dq_quant_find("uniform");
    const int64_t n = 50000;
    float *x = expdata(n, 1, 99);
    for (int bits = 2; bits <= 8; bits++)
        for (int affine = 0; affine <= 1; affine++) {
            dq_quant_opts o;
            dq_quant_opts_default(&o);
            o.symmetric = !affine;
            dq_qparams *p = dq_quant_calibrate_raw(u, "x", x, 1, n, bits, &o);
            assert_non_null(p);
            const dq_qchan *c = &p->chan[0];
            float s = (float)c->p[0];
            int32_t zp = (int32_t)c->p[1], qmin = (int32_t)c->p[2],
                    qmax = (int32_t)c->p[3];
            /* exact halves of the grid and values far outside it */
            float *y = malloc(sizeof(float) * (size_t)n);
            assert_non_null(y);
            for (int64_t i = 0; i < n; i++)
                y[i] = i % 5 == 0 ? (float)((i % 1200) * 0.5 - 300) * s
                       : i % 5 == 1 ? x[i] * 1e6f
                                    : x[i];
            float *q = malloc(sizeof(float) * (size_t)n);
            assert_non_null(q);
            memcpy(q, y, sizeof(float) * (size_t)n);
            assert_int_equal(dq_quant_fake(p, q, n), DQ_OK);
            float inv = 1.0f / s;
            for (int64_t i = 0; i < n; i++) {
                float r = nearbyintf(y[i] * inv);
                int32_t k = r < (float)(qmin - zp)   ? qmin
                            : r > (float)(qmax - zp) ? qmax
                                                     : (int32_t)r + zp;
                float want = (float)(k - zp) * s;
                if (memcmp(&want, &q[i], sizeof want) != 0)
                    fail_msg("%d bits affine %d: Q(%.9g) = %.9g, want %.9g",
                             bits, affine, y[i], q[i], want);
            }
            free(y);
            free(q);
            dq_qparams_free(p);
        }
    free(x);
}

/* ---- options as text (qio.h) ------------------------------------------------ */

/* Every field of dq_quant_opts at a value other than its default survives
 * dq_quant_opts_str -> dq_quant_opts_parse, so a plan file records the
 * options its parameters were calibrated with (a field missing from
 * qio.c's list would come back as its default). */
static void test_opts_text_roundtrip(void **state)
{
    (void)state;
    dq_quant_opts o, back, def;
    dq_quant_opts_default(&def);
    memset(&o, 0, sizeof o);
    o.sign_mode = DQ_SIGN_UNSIGNED;
    o.per_channel = 1;
    o.zero_code = 0;
    o.symmetric = 0;
    o.calibrator = DQ_CALIB_KL;
    o.percentile = 99.9;
    o.calib_bins = 1024;
    o.calib_start_bin = 64;
    o.objective = DQ_OBJ_MSE;
    o.hist_bins = 2048;
    o.base_max = 3.5;
    o.base_grid = 40;
    o.base_tol = 1e-3;
    o.ab_mode = DQ_AB_GRID;
    o.lloyd_iters = 7;
    o.refine_evals = 5;
    o.ab_grid = 20;
    o.fixed_base = 1.7;
    o.exact = 1;
    o.seed = 12345678901ull;
    o.sparq_shift_opt = 3;
    /* every field really differs from its default */
    const char *names[] = {"sign_mode", "per_channel", "zero_code",
                           "symmetric", "calibrator", "percentile",
                           "calib_bins", "calib_start_bin", "objective",
                           "hist_bins", "base_max", "base_grid", "base_tol",
                           "ab_mode", "lloyd_iters", "refine_evals", "ab_grid",
                           "fixed_base", "exact", "seed", "sparq_shift_opt"};
    char *text = dq_quant_opts_str(&o), *dtext = dq_quant_opts_str(&def);
    assert_non_null(text);
    assert_non_null(dtext);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s=", names[i]);
        const char *a = strstr(text, key), *b = strstr(dtext, key);
        if (!a || !b) fail_msg("option '%s' is missing from '%s'", names[i], text);
        size_t la = strcspn(a, " "), lb = strcspn(b, " ");
        if (la == lb && strncmp(a, b, la) == 0)
            fail_msg("option '%s' has its default value in the test", names[i]);
    }
    memset(&back, 0, sizeof back);
    assert_int_equal(dq_quant_opts_parse(text, &back), DQ_OK);
    if (memcmp(&o, &back, sizeof o) != 0)
        fail_msg("options do not survive their text form: '%s'", text);
    free(text);
    free(dtext);
}

/* ---- KL (entropy) calibration on a histogram small enough to check by hand ---- */

/* 16 bins of |x| over [0, 4] (width 0.25), counts
 *     h = 40 40 40 40 40 40 20 10 | 1 0 2 0 1 0 0 1
 * (values at the bin centres, the last one at 4.0 itself, every third
 * negative).  _compute_amax_entropy with start bin 4 tries i = 4..16:
 * P = h[0..i) with h[i..16) added to its last bin, Q = h[0..i) merged into
 * nq groups (np.linspace(0, i, nq + 1)) and spread over each group's
 * non-empty bins, KL(P || Q) of the normalised pair.  By hand (natural
 * log):
 *   nq = 2: i = 4 .2219, 5 .1232, 6 .0353, 7 .0032, 8 .0344, 9 .0683,
 *           10 inf (P's last bin holds the tail, Q's is empty), 11 .0459,
 *           12 inf, 13 .0415, 14 inf, 15 inf, 16 .0670  -> i = 7, amax 1.75
 *   nq = 4: i = 7 .0151, 8 .0026, 9 .0177, 16 .0497 (the rest larger)
 *                                                      -> i = 8, amax 2.0
 * nq = 2^(bits-1) for a signed tensor, 2^bits for an unsigned one: 2 bits
 * signed gives nq = 2; 3 bits signed and 2 bits unsigned give nq = 4. */
static void test_kl_hand_made(void **state)
{
    (void)state;
    const int h[16] = {40, 40, 40, 40, 40, 40, 20, 10, 1, 0, 2, 0, 1, 0, 0, 1};
    float x[400];
    int n = 0;
    for (int j = 0; j < 16; j++)
        for (int c = 0; c < h[j]; c++) {
            float v = j == 15 ? 4.0f : (float)((j + 0.5) * 0.25);
            x[n] = n % 3 == 0 ? -v : v;
            n++;
        }
    dq_quant_opts o;
    dq_quant_opts_default(&o);
    o.calibrator = DQ_CALIB_KL;
    o.calib_bins = 16;
    o.calib_start_bin = 4;
    const int bits[3] = {2, 3, 2}, sg[3] = {1, 1, 0};
    const double want[3] = {1.75, 2.0, 2.0};
    for (int i = 0; i < 3; i++) {
        double amax = 0;
        assert_int_equal(dq_uniform_amax(x, n, bits[i], sg[i], &o, &amax),
                         DQ_OK);
        if (amax != want[i])
            fail_msg("KL, %d bits %s: amax %.9g, expected %.9g", bits[i],
                     sg[i] ? "signed" : "unsigned", amax, want[i]);
    }
}

/* ---- uniform calibrators vs NVIDIA pytorch-quantization -------------------------- */

/* x_i = -ln((i + 0.5)/5000), negated when i % 3 == 0.  Reference amax from
 * the HistogramCalibrator algorithms (2048 bins of |x| via torch.histc,
 * _compute_amax_percentile and _compute_amax_entropy re-typed in numpy,
 * the package not being installed): percentile 99.99 -> 9.20584297,
 * 99.9 -> 7.01119184, 99 -> 4.61416483; entropy: 8 bits signed ->
 * 9.2103405 (= max), 4 bits signed -> 5.84640789 (edge 1300), 8 bits
 * unsigned -> 9.2103405. */
static float *nv_data(int n)
{
    float *x = malloc(sizeof(float) * (size_t)n);
    assert_non_null(x);
    for (int i = 0; i < n; i++) {
        double e = -log((i + 0.5) / n);
        x[i] = (float)(i % 3 == 0 ? -e : e);
    }
    return x;
}

static void test_uniform_calibrators(void **state)
{
    (void)state;
    float *x = nv_data(5000);
    dq_quant_opts o;
    dq_quant_opts_default(&o);
    double amax;
    const double pcts[3] = {99.99, 99.9, 99.0};
    const double pref[3] = {9.20584297, 7.01119184, 4.61416483};
    o.calibrator = DQ_CALIB_PERCENTILE;
    for (int i = 0; i < 3; i++) {
        o.percentile = pcts[i];
        assert_int_equal(dq_uniform_amax(x, 5000, 8, 1, &o, &amax), DQ_OK);
        if (fabs(amax - pref[i]) > 1e-6 * pref[i])
            fail_msg("percentile %g: amax %.9g, reference %.9g", pcts[i], amax,
                     pref[i]);
    }
    o.calibrator = DQ_CALIB_KL;
    const int kb[3] = {8, 4, 8}, ks[3] = {1, 1, 0};
    const double kref[3] = {9.2103405, 5.84640789, 9.2103405};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dq_uniform_amax(x, 5000, kb[i], ks[i], &o, &amax),
                         DQ_OK);
        if (fabs(amax - kref[i]) > 1e-6 * kref[i])
            fail_msg("kl %d bits signed=%d: amax %.9g, reference %.9g", kb[i],
                     ks[i], amax, kref[i]);
    }
    /* MSE: the clip must beat min-max at 4 bits on this long-tailed data,
     * and the chosen amax must be the best bin centre by brute force */
    o.calibrator = DQ_CALIB_MSE;
    assert_int_equal(dq_uniform_amax(x, 5000, 4, 1, &o, &amax), DQ_OK);
    assert_true(amax < 9.2103405 * 0.9);
    dq_quant_opts om = o;
    om.calibrator = DQ_CALIB_MINMAX;
    const dq_quant_scheme *u = dq_quant_find("uniform");
    dq_qparams *pm = dq_quant_calibrate_raw(u, "x", x, 1, 5000, 4, &o);
    dq_qparams *pn = dq_quant_calibrate_raw(u, "x", x, 1, 5000, 4, &om);
    assert_non_null(pm);
    assert_non_null(pn);
    float *y1 = malloc(sizeof(float) * 5000), *y2 = malloc(sizeof(float) * 5000);
    memcpy(y1, x, sizeof(float) * 5000);
    memcpy(y2, x, sizeof(float) * 5000);
    dq_quant_fake(pm, y1, 5000);
    dq_quant_fake(pn, y2, 5000);
    dq_qerror e1, e2;
    dq_quant_error(x, y1, 5000, &e1);
    dq_quant_error(x, y2, 5000, &e2);
    assert_true(e1.mse < e2.mse);
    free(y1);
    free(y2);
    dq_qparams_free(pm);
    dq_qparams_free(pn);
    free(x);
}

/* ---- expq ----------------------------------------------------------------------- */

/* DESIGN claim under test: on exponential data at 4 bits, expq's RMAE is at
 * most 0.6x uniform INT4's (min-max; symmetric for the signed Laplace
 * case, affine for the unsigned exponential case). */
static void test_expq_beats_uniform(void **state)
{
    (void)state;
    const int64_t n = 100000;
    for (int sgn = 0; sgn <= 1; sgn++) {
        float *x = expdata(n, sgn, 42 + sgn);
        dq_quant_opts o;
        dq_quant_opts_default(&o);
        o.symmetric = sgn;
        double ru = rmae_of("uniform", x, n, 4, &o);
        double re = rmae_of("expq", x, n, 4, &o);
        print_message("  %s: RMAE expq %.4f, uniform INT4 %.4f (ratio %.3f)\n",
                      sgn ? "Laplace" : "exponential", re, ru, re / ru);
        assert_true(re <= 0.6 * ru);
        free(x);
    }
}

/* The histogram objective agrees with the per-element one to 1e-3
 * relative, for RMAE and MSE, on the searched optimum and on an arbitrary
 * nearby candidate, at every bitwidth, with and without the zero code. */
static void test_hist_vs_exact(void **state)
{
    (void)state;
    const int64_t sizes[3] = {300, 20000, 200000};
    for (int d = 0; d < 6; d++) {
        int sgn = d % 2;
        int64_t n = sizes[d / 2];
        float *x = expdata(n, sgn, 1000 + d);
        if (!sgn) /* ReLU-like: a third exact zeros */
            for (int64_t i = 0; i < n; i += 3) x[i] = 0;
        dq_qhist *h = dq_qhist_alloc(x, n, sgn, 4096);
        assert_non_null(h);
        for (int bits = 2; bits <= 8; bits++)
            for (int zc = 0; zc <= 1; zc++) {
                dq_quant_opts o;
                dq_quant_opts_default(&o);
                o.zero_code = zc;
                dq_expq_fit f;
                assert_int_equal(dq_expq_search(x, n, bits, sgn, &o, &f), DQ_OK);
                dq_expq_fit g = f;
                g.base = 1.0 + 0.7 * (f.base - 1.0) + 0.01;
                g.alpha = f.alpha * 0.83;
                g.beta = 0.0;
                const dq_expq_fit *fs[2] = {&f, &g};
                for (int k = 0; k < 2; k++)
                    for (int obj = 0; obj <= 1; obj++) {
                        dq_objective ob = obj ? DQ_OBJ_MSE : DQ_OBJ_RMAE;
                        dq_codebook cb;
                        assert_int_equal(dq_expq_codebook(fs[k], &cb), DQ_OK);
                        double hv = dq_qhist_eval(h, &cb, ob, NULL, NULL);
                        double ev = dq_codebook_eval_exact(&cb, x, n, ob);
                        if (!(fabs(hv - ev) <= 1e-3 * ev))
                            fail_msg("n=%lld signed=%d bits=%d zc=%d %s "
                                     "cand %d: histogram %.9g exact %.9g",
                                     (long long)n, sgn, bits, zc,
                                     obj ? "mse" : "rmae", k, hv, ev);
                    }
            }
        dq_qhist_free(h);
        free(x);
    }
}

/* Levels follow DESIGN §1.1 exactly: level_k = alpha*base^(k-(K-1)) + beta
 * (rounded to float), K = 2^(n-1) - zc signed, 2^n - zc unsigned. */
static void test_expq_levels(void **state)
{
    (void)state;
    float *x = expdata(5000, 1, 7);
    for (int bits = 2; bits <= 8; bits++)
        for (int zc = 0; zc <= 1; zc++)
            for (int sgn = 0; sgn <= 1; sgn++) {
                dq_quant_opts o;
                dq_quant_opts_default(&o);
                o.zero_code = zc;
                o.sign_mode = sgn ? DQ_SIGN_SIGNED : DQ_SIGN_UNSIGNED;
                dq_qparams *p = dq_quant_calibrate_raw(dq_quant_find("expq"),
                                                       "x", x, 1, 5000, bits, &o);
                assert_non_null(p);
                const dq_qchan *c = &p->chan[0];
                int K = (1 << (bits - sgn)) - zc;
                assert_int_equal((int)c->p[3], K);
                double base = c->p[0], alpha = c->p[1], beta = c->p[2];
                assert_true(base > 1 && base <= 4.0 && alpha > 0);
                assert_true(alpha * pow(base, -(K - 1)) + beta > 0);
                for (int k = 0; k < K; k++) {
                    double l = (double)(float)(alpha * pow(base, k - (K - 1)) + beta);
                    assert_true(c->cb->lev[k] == l);
                }
                double lev[2 * DQ_CB_MAX + 1];
                int m = dq_quant_levels(p, 0, lev);
                assert_int_equal(m, (sgn ? 2 * K : K) + zc);
                dq_qparams_free(p);
            }
    free(x);
}

/* Shared base: the pair search's base is optimal for RMAE_w + RMAE_a
 * within the grid tolerance, checked against a brute-force scan of 400
 * bases (each with its own best alpha, beta).  Strictly with the pure
 * closed form (refine_evals = 0: the same inner step everywhere); with the
 * default polish the search (which polishes harder at its chosen base)
 * must still be no worse than the scan's best.  Tolerance 5e-3 relative:
 * the inner Lloyd optimum is not smooth in the base (it wiggles by about
 * 0.3% between neighbouring bases), so no search can do better than that
 * without evaluating every base. */
static void test_expq_pair(void **state)
{
    (void)state;
    const int64_t nw = 20000, na = 50000;
    float *w = expdata(nw, 1, 11);
    float *a = expdata(na, 0, 12);
    for (int64_t i = 0; i < na; i += 2) a[i] = 0; /* ReLU zeros */
    for (int64_t i = 0; i < nw; i++) w[i] *= 0.05f;
    const int bw[3] = {4, 3, 6}, ba[3] = {4, 5, 3};
    for (int pol = 0; pol <= 1; pol++) {
        dq_quant_opts o;
        dq_quant_opts_default(&o);
        if (!pol) o.refine_evals = 0;
        dq_qhist *hw = dq_qhist_alloc(w, nw, 1, o.hist_bins);
        dq_qhist *ha = dq_qhist_alloc(a, na, 0, o.hist_bins);
        assert_true(hw && ha);
        for (int c = 0; c < 3; c++) {
            dq_expq_fit fw, fa, sw, sa;
            assert_int_equal(dq_expq_search_pair(w, nw, bw[c], -1, a, na, ba[c],
                                                 -1, &o, &fw, &fa), DQ_OK);
            assert_true(fw.base == fa.base);
            assert_true(fw.is_signed == 1 && fa.is_signed == 0);
            double f = fw.objective + fa.objective;
            /* brute force, uniform in ln ln base like the grid */
            double t0 = log(log(1.001)), t1 = log(log(o.base_max));
            double fmin = INFINITY, bmin = 0;
            for (int i = 0; i < 400; i++) {
                double b = exp(exp(t0 + (t1 - t0) * i / 399.0));
                if (b > o.base_max) b = o.base_max;
                double v = dq_expq_fit_base(hw, bw[c], 1, 1, b, &o, NULL) +
                           dq_expq_fit_base(ha, ba[c], 0, 1, b, &o, NULL);
                if (v < fmin) {
                    fmin = v;
                    bmin = b;
                }
            }
            print_message("  pair %d/%d bits%s: base %.5f sum %.6f; scan "
                          "base %.5f sum %.6f\n", bw[c], ba[c],
                          pol ? " (polished)" : "", fw.base, f, bmin, fmin);
            if (!(f <= fmin * (1 + 5e-3)))
                fail_msg("pair %d/%d: search sum %.9g > scan minimum %.9g",
                         bw[c], ba[c], f, fmin);
            /* the joint base is no worse than either tensor's own base
             * (within the same grid tolerance) */
            assert_int_equal(dq_expq_search(w, nw, bw[c], 1, &o, &sw), DQ_OK);
            assert_int_equal(dq_expq_search(a, na, ba[c], 0, &o, &sa), DQ_OK);
            double fsw = sw.objective +
                         dq_expq_fit_base(ha, ba[c], 0, 1, sw.base, &o, NULL);
            double fsa = sa.objective +
                         dq_expq_fit_base(hw, bw[c], 1, 1, sa.base, &o, NULL);
            if (!(f <= fsw * (1 + 5e-3) && f <= fsa * (1 + 5e-3)))
                fail_msg("pair %d/%d: joint sum %.9g, with the weights' own "
                         "base %.9g, with the activations' own base %.9g",
                         bw[c], ba[c], f, fsw, fsa);
        }
        dq_qhist_free(hw);
        dq_qhist_free(ha);
    }
    free(w);
    free(a);
}

/* fixed_base is honoured (the shared-base case for per-channel weights). */
static void test_expq_fixed_base(void **state)
{
    (void)state;
    float *x = expdata(3000, 1, 5);
    dq_quant_opts o;
    dq_quant_opts_default(&o);
    o.fixed_base = 1.7;
    dq_expq_fit f;
    assert_int_equal(dq_expq_search(x, 3000, 5, -1, &o, &f), DQ_OK);
    assert_true(f.base == 1.7);
    o.ab_mode = DQ_AB_GRID;
    dq_expq_fit g;
    assert_int_equal(dq_expq_search(x, 3000, 5, -1, &o, &g), DQ_OK);
    assert_true(g.base == 1.7 && isfinite(g.objective));
    /* grid alpha/beta is a valid, if coarser, alternative */
    assert_true(g.objective < 2 * f.objective);
    free(x);
}

/* Batch results are byte-identical at 1 and 2 threads. */
static void test_expq_batch_determinism(void **state)
{
    (void)state;
    enum { NJ = 14 };
    float *w = expdata(6000, 1, 21), *a = expdata(9000, 0, 22);
    dq_expq_job jobs[2][NJ];
    for (int r = 0; r < 2; r++) {
        memset(jobs[r], 0, sizeof jobs[r]);
        for (int j = 0; j < NJ; j++) {
            dq_expq_job *jb = &jobs[r][j];
            jb->x = j % 2 ? a : w;
            jb->n = j % 2 ? 9000 : 6000;
            jb->bits = 2 + j / 2;
            jb->is_signed = -1;
            if (j % 3 == 0) {
                jb->partner = a;
                jb->partner_n = 9000;
                jb->partner_bits = 8 - j / 2;
                jb->partner_signed = 0;
            }
        }
        omp_set_num_threads(r + 1);
        dq_quant_opts o;
        dq_quant_opts_default(&o);
        assert_int_equal(dq_expq_search_batch(jobs[r], NJ, &o), DQ_OK);
    }
    omp_set_num_threads(2);
    for (int j = 0; j < NJ; j++) {
        assert_int_equal(jobs[0][j].status, DQ_OK);
        assert_memory_equal(&jobs[0][j].fit, &jobs[1][j].fit, sizeof(dq_expq_fit));
        assert_memory_equal(&jobs[0][j].partner_fit, &jobs[1][j].partner_fit,
                            sizeof(dq_expq_fit));
    }
    /* a failing job is reported with its index, the others still run */
    float bad[4] = {1, 2, NAN, 3};
    jobs[0][3].x = bad;
    jobs[0][3].n = 4;
    jobs[0][3].partner = NULL;
    dq_quant_opts o;
    dq_quant_opts_default(&o);
    assert_int_equal(dq_expq_search_batch(jobs[0], NJ, &o), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "job 3"));
    assert_non_null(strstr(dq_error_message(), "NaN"));
    assert_int_equal(jobs[0][4].status, DQ_OK);
    free(w);
    free(a);
}

/* ---- bad input and the all-zero tensor ------------------------------------------ */

static void test_bad_inputs(void **state)
{
    (void)state;
    float x[6] = {0.5f, -1.0f, 2.0f, 0.0f, 0.25f, 1.0f};
    dq_expq_fit f;
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    const char *word[3] = {"NaN", "+Inf", "-Inf"};
    for (int b = 0; b < 3; b++) {
        float y[6];
        memcpy(y, x, sizeof y);
        y[2] = bad[b];
        dq_error_clear();
        assert_int_equal(dq_expq_search(y, 6, 4, -1, NULL, &f), DQ_EINVAL);
        assert_non_null(strstr(dq_error_message(), word[b]));
        assert_non_null(strstr(dq_error_message(), "element 2"));
        /* fake quantization of non-finite data is refused too */
        dq_qparams *p = dq_quant_calibrate_raw(dq_quant_find("expq"), "x", x,
                                               1, 6, 4, NULL);
        assert_non_null(p);
        assert_int_equal(dq_quant_fake(p, y, 6), DQ_EINVAL);
        assert_non_null(strstr(dq_error_message(), word[b]));
        dq_qparams_free(p);
    }
    assert_int_equal(dq_expq_search(x, 0, 4, -1, NULL, &f), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "empty"));
    assert_int_equal(dq_expq_search(x, 6, 1, -1, NULL, &f), DQ_EINVAL);
    assert_non_null(strstr(dq_error_message(), "bits"));
    assert_int_equal(dq_expq_search(x, 6, 9, -1, NULL, &f), DQ_EINVAL);
    /* empty dq_tensor */
    int64_t shp[2] = {0, 4};
    dq_tensor *t = dq_tensor_alloc("empty", 2, shp);
    if (t) {
        assert_null(dq_quant_calibrate(dq_quant_find("uniform"), t, 8, NULL));
        assert_non_null(strstr(dq_error_message(), "empty"));
        dq_tensor_free(t);
    }
    /* bad options */
    dq_quant_opts o;
    dq_quant_opts_default(&o);
    o.base_max = 1.0;
    assert_null(dq_quant_calibrate_raw(dq_quant_find("expq"), "x", x, 1, 6, 4, &o));
    assert_non_null(strstr(dq_error_message(), "base_max"));
    /* unsigned-only schemes are refused signed data (none built in: use a
     * local scheme with the flag) */
    dq_quant_scheme only_u = *dq_quant_find("uniform");
    only_u.flags |= DQ_QS_UNSIGNED_ONLY;
    assert_null(dq_quant_calibrate_raw(&only_u, "x", x, 1, 6, 8, NULL));
    assert_int_equal(dq_error_status(), DQ_EUNSUP);
    /* per-channel parameters need the matching size */
    float w[8] = {1, -2, 3, -4, 5, -6, 7, -8};
    dq_quant_opts pc;
    dq_quant_opts_default(&pc);
    pc.per_channel = 1;
    dq_qparams *p = dq_quant_calibrate_raw(dq_quant_find("uniform"), "w", w, 2,
                                           4, 8, &pc);
    assert_non_null(p);
    assert_int_equal(dq_quant_fake(p, w, 6), DQ_EINVAL);
    dq_qparams_free(p);
}

/* Documented exact result for an all-zero tensor (quant.h): calibration
 * succeeds, every value quantizes to 0.0f with code 0, levels() = {0},
 * RMAE = 0, MSE = 0, SQNR = +inf; the expq fit is flagged zero.  An
 * all-zero channel inside a per-channel tensor behaves the same. */
static void test_all_zero(void **state)
{
    (void)state;
    float z[12] = {0};
    for (int i = 0; i < dq_quant_count(); i++) {
        const dq_quant_scheme *s = dq_quant_get(i);
        if (s->flags & DQ_QS_UNSIGNED_ONLY) continue;
        dq_qparams *p = dq_quant_calibrate_raw(s, "z", z, 1, 12, 4, NULL);
        assert_non_null(p);
        assert_int_equal(p->chan[0].zero, 1);
        float y[12] = {0};
        int32_t codes[12];
        assert_int_equal(dq_quant_fake(p, y, 12), DQ_OK);
        assert_int_equal(dq_quant_encode(p, z, 12, codes), DQ_OK);
        for (int k = 0; k < 12; k++) {
            assert_true(y[k] == 0.0f && !signbit(y[k]));
            assert_int_equal(codes[k], 0);
        }
        dq_qerror e;
        dq_quant_error(z, y, 12, &e);
        assert_true(e.rmae == 0.0 && e.mse == 0.0 && isinf(e.sqnr_db) &&
                    e.sqnr_db > 0);
        dq_qparams_free(p);
    }
    dq_expq_fit f;
    assert_int_equal(dq_expq_search(z, 12, 5, -1, NULL, &f), DQ_OK);
    assert_int_equal(f.zero, 1);
    assert_true(f.objective == 0.0);
    /* a per-channel tensor with one all-zero channel */
    float w[8] = {1, -2, 3, -4, 0, 0, 0, 0};
    dq_quant_opts pc;
    dq_quant_opts_default(&pc);
    pc.per_channel = 1;
    dq_qparams *p = dq_quant_calibrate_raw(dq_quant_find("expq"), "w", w, 2, 4,
                                           4, &pc);
    assert_non_null(p);
    assert_int_equal(p->chan[0].zero, 0);
    assert_int_equal(p->chan[1].zero, 1);
    assert_int_equal(dq_quant_fake(p, w, 8), DQ_OK);
    for (int k = 4; k < 8; k++) assert_true(w[k] == 0.0f);
    char buf[512];
    dq_quant_describe(p, buf, sizeof buf);
    assert_non_null(strstr(buf, "1 all zero"));
    dq_qparams_free(p);
}

/* ---- metrics -------------------------------------------------------------------- */

static void test_error_metrics(void **state)
{
    (void)state;
    const float x[4] = {1.0f, -2.0f, 0.5f, 0.0f};
    const float q[4] = {1.0f, -1.5f, 0.0f, 0.25f};
    dq_qerror e;
    dq_quant_error(x, q, 4, &e);
    assert_true(e.abs_err == 1.25 && e.abs_sum == 3.5);
    assert_true(e.rmae == 1.25 / 3.5);
    assert_true(e.mse == (0.25 + 0.25 + 0.0625) / 4);
    assert_true(fabs(e.sqnr_db - 10 * log10(5.25 / 0.5625)) < 1e-12);
    const float z[2] = {0, 0}, nz[2] = {0, 1};
    dq_quant_error(z, nz, 2, &e);
    assert_true(isinf(e.rmae) && isinf(e.sqnr_db) && e.sqnr_db < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_codebook_layout),
        cmocka_unit_test(test_codebook_arrays),
        cmocka_unit_test(test_uniform_fake_definition),
        cmocka_unit_test(test_opts_text_roundtrip),
        cmocka_unit_test(test_kl_hand_made),
        cmocka_unit_test(test_error_metrics),
        cmocka_unit_test(test_uniform_torch_qparams),
        cmocka_unit_test(test_uniform_torch_fake),
        cmocka_unit_test(test_uniform_calibrators),
        cmocka_unit_test(test_expq_levels),
        cmocka_unit_test(test_expq_beats_uniform),
        cmocka_unit_test(test_hist_vs_exact),
        cmocka_unit_test(test_expq_pair),
        cmocka_unit_test(test_expq_fixed_base),
        cmocka_unit_test(test_expq_batch_determinism),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_all_zero),
        cmocka_unit_test(test_invariants_uniform),
        cmocka_unit_test(test_invariants_expq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
