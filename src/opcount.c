/*
 * opcount.c — closed-form per-layer operation and data-movement counts
 * (opcount.h).  energy.c prices these counts; tests/test_energy.c checks
 * them against the counts the expdot kernel makes while it computes.
 */
#include "opcount.h"

#include "error.h"
#include "ops.h"

#include <math.h>
#include <string.h>

int dq_opcount_bits_for(int64_t v)
{
    int bits = 0;
    while (bits < 63 && ((int64_t)1 << bits) < v) bits++;
    return bits;
}

int dq_opcount_levels(int bits, int is_signed, int zero_code)
{
    if (bits < 1 || bits > 9) return 0;
    int K = (is_signed ? 1 << (bits - 1) : 1 << bits) - (zero_code ? 1 : 0);
    return K >= 1 ? K : 0;
}

double dq_hcm_bops(int64_t m, int64_t n, int64_t k2, int b_a, int b_w)
{
    /* Baskin et al.: a b_a x b_w multiply costs b_a·b_w bit operations,
     * its accumulation b_a + b_w + log2(n·k²) (the accumulator width). */
    return (double)m * (double)n * (double)k2 *
           ((double)b_a * b_w + b_a + b_w + log2((double)n * (double)k2));
}

int64_t dq_hcm_bits_moved(int64_t in_elems, int64_t w_elems,
                          int64_t out_elems, int b_a, int b_w, int b_o)
{
    return in_elems * b_a + w_elems * b_w + out_elems * b_o;
}

int dq_layer_dims_conv2d(dq_layer_dims *d, int C, int H, int W, int OC, int kh,
                         int kw, int stride_h, int stride_w, int pad_h,
                         int pad_w, int dil_h, int dil_w, int groups)
{
    int OH, OW;
    DQ_TRY(dq_conv2d_output_size(&OH, &OW, C, H, W, OC, kh, kw, stride_h,
                                 stride_w, pad_h, pad_w, dil_h, dil_w, groups));
    memset(d, 0, sizeof *d);
    d->kind = DQ_LAYER_CONV2D;
    d->positions = (int64_t)OH * OW;
    d->outputs = (int64_t)OC * d->positions;
    d->reduction = (int64_t)(C / groups) * kh * kw;
    d->in_elems = (int64_t)C * H * W;
    d->w_elems = (int64_t)OC * d->reduction;
    d->out_elems = d->outputs;
    d->w_is_param = 1;
    d->hcm_m = OC;
    d->hcm_n = C / groups;
    d->hcm_k2 = (int64_t)kh * kw;
    return DQ_OK;
}

int dq_layer_dims_linear(dq_layer_dims *d, int64_t rows, int64_t C, int64_t OC)
{
    if (rows < 1 || C < 1 || OC < 1)
        return DQ_ERROR(DQ_EINVAL, "opcount: linear rows %lld, in %lld, out %lld"
                        " must be >= 1", (long long)rows, (long long)C,
                        (long long)OC);
    memset(d, 0, sizeof *d);
    d->kind = DQ_LAYER_LINEAR;
    d->positions = rows;
    d->outputs = rows * OC;
    d->reduction = C;
    d->in_elems = rows * C;
    d->w_elems = OC * C;
    d->out_elems = rows * OC;
    d->w_is_param = 1;
    d->hcm_m = OC;
    d->hcm_n = C;
    d->hcm_k2 = 1;
    return DQ_OK;
}

int dq_layer_dims_matmul(dq_layer_dims *d, int64_t G, int64_t M, int64_t K,
                         int64_t N)
{
    if (G < 1 || M < 1 || K < 1 || N < 1)
        return DQ_ERROR(DQ_EINVAL, "opcount: matmul %lld x (%lld, %lld) x "
                        "(%lld, %lld) must have sizes >= 1", (long long)G,
                        (long long)M, (long long)K, (long long)K, (long long)N);
    memset(d, 0, sizeof *d);
    d->kind = DQ_LAYER_MATMUL;
    d->positions = M;
    d->outputs = G * M * N;
    d->reduction = K;
    d->in_elems = G * M * K;
    d->w_elems = G * K * N;
    d->out_elems = G * M * N;
    d->w_is_param = 0;
    d->hcm_m = G * N;
    d->hcm_n = K;
    d->hcm_k2 = 1;
    return DQ_OK;
}

static int check_prec(const dq_layer_prec *p)
{
    int maxb = p->arith == DQ_ARITH_FP32 ? 32
               : p->arith == DQ_ARITH_INT ? 32 : 9;
    if (p->bits_w < 1 || p->bits_w > maxb || p->bits_a < 1 ||
        p->bits_a > maxb || p->bits_o < 1 || p->bits_o > 64)
        return DQ_ERROR(DQ_EINVAL, "opcount: bits w/a/o = %d/%d/%d out of range"
                        " (w, a: 1..%d; o: 1..64)", p->bits_w, p->bits_a,
                        p->bits_o, maxb);
    if (p->acc_bits < 0 || p->acc_bits > 64)
        return DQ_ERROR(DQ_EINVAL, "opcount: acc_bits %d not in 0..64",
                        p->acc_bits);
    return DQ_OK;
}

int dq_opcount_layer(dq_opcount *oc, const dq_layer_dims *d,
                     const dq_layer_prec *p)
{
    if (!oc || !d || !p)
        return DQ_ERROR(DQ_EINVAL, "opcount: NULL argument");
    if (d->outputs < 1 || d->reduction < 1)
        return DQ_ERROR(DQ_EINVAL, "opcount: empty layer");
    DQ_TRY(check_prec(p));
    memset(oc, 0, sizeof *oc);
    const int64_t macs = d->outputs * d->reduction, outs = d->outputs;
    const int acc = p->acc_bits ? p->acc_bits : 32;
    oc->macs = macs;
    oc->outputs = outs;

    switch (p->arith) {
    case DQ_ARITH_FP32:
        oc->fp_mults = macs;
        oc->fp_adds = macs;
        break;
    case DQ_ARITH_INT:
        oc->int_mults = macs;
        oc->mult_bits_w = p->bits_w;
        oc->mult_bits_a = p->bits_a;
        oc->int_adds = macs;
        oc->acc_bits = acc;
        oc->combine_muls = outs; /* scale */
        oc->combine_adds = outs; /* zero-point / bias term */
        break;
    case DQ_ARITH_EXPQ:
    case DQ_ARITH_LOG2: {
        int zw = p->arith == DQ_ARITH_EXPQ && p->zero_w;
        int za = p->arith == DQ_ARITH_EXPQ && p->zero_a;
        int Kw = dq_opcount_levels(p->bits_w, p->signed_w, zw);
        int Ka = dq_opcount_levels(p->bits_a, p->signed_a, za);
        if (Kw < 1 || Ka < 1)
            return DQ_ERROR(DQ_EINVAL, "opcount: %d/%d bits leave no levels",
                            p->bits_w, p->bits_a);
        int64_t L = Kw + Ka - 1; /* values of p + q */
        oc->exp_adds = macs;
        oc->exp_add_bits = dq_opcount_bits_for(L) > 0 ? dq_opcount_bits_for(L) : 1;
        oc->sign_xors = macs;
        if (p->arith == DQ_ARITH_LOG2) {
            oc->shifts = macs;
            oc->int_adds = macs;
            oc->acc_bits = acc;
            oc->combine_muls = outs; /* scale */
            break;
        }
        int c2 = p->beta_a_nz != 0, c3 = p->beta_w_nz != 0, c4 = c2 && c3;
        oc->counter_incs = macs * (1 + c2 + c3);
        oc->counter_bits = dq_opcount_bits_for(d->reduction + 1) +
                           ((p->signed_w || p->signed_a) ? 1 : 0);
        /* per output: Σ_k C1[k]·b^k (L mul, L-1 add), × α_wα_a (1 mul);
         * C2 and C3 sums the same way plus their coefficient and the add
         * into the total; C4 = Σ C1 (L-1 adds), × β_wβ_a, + total. */
        int64_t m = L + 1, a = L - 1;
        if (c2) { m += Kw + 1; a += Kw; }
        if (c3) { m += Ka + 1; a += Ka; }
        if (c4) { m += 1; a += L; }
        oc->combine_muls = outs * m;
        oc->combine_adds = outs * a;
        break;
    }
    default:
        return DQ_ERROR(DQ_EINVAL, "opcount: unknown arithmetic %d",
                        (int)p->arith);
    }

    oc->w_bits = d->w_elems * p->bits_w;
    oc->in_bits = d->in_elems * p->bits_a;
    oc->out_bits = d->out_elems * p->bits_o;
    oc->w_is_param = d->w_is_param;
    oc->bops = dq_hcm_bops(d->hcm_m, d->hcm_n, d->hcm_k2, p->bits_a, p->bits_w);
    oc->bops_total = oc->bops * (double)d->positions;
    return DQ_OK;
}
