/*
 * opcount.c — closed-form per-layer operation and data-movement counts
 * (opcount.h).  energy.c prices these counts; tests/test_energy.c checks
 * them against the counts the expdot kernel makes while it computes.
 */
#include "opcount.h"

#include "error.h"
#include "expdot.h"
#include "ops.h"

#include <math.h>
#include <stdlib.h>
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

/* ---- a whole model -------------------------------------------------------- */

void dq_optable_free(dq_optable *t)
{
    if (!t) return;
    free(t->node);
    free(t->dims);
    free(t->prec);
    free(t->oc);
    free(t);
}

/* Dims of quantizable node i for one inference; sh = shapes at batch 1. */
static int node_dims(dq_layer_dims *d, const dq_model *m, const dq_shape *sh,
                     int i)
{
    const dq_node *nd = &m->nodes[i];
    const dq_shape *a = &sh[nd->inputs[0]];
    const dq_tensor *w = nd->weight;
    if (nd->op == DQ_OP_CONV2D)
        return dq_layer_dims_conv2d(
            d, (int)a->d[1], (int)a->d[2], (int)a->d[3], (int)w->shape[0],
            (int)w->shape[2], (int)w->shape[3], nd->stride[0], nd->stride[1],
            nd->padding[0], nd->padding[1], nd->dilation[0], nd->dilation[1],
            nd->groups);
    if (nd->op == DQ_OP_LINEAR)
        return dq_layer_dims_linear(d, dq_shape_size(a->rank, a->d) /
                                           w->shape[1],
                                    w->shape[1], w->shape[0]);
    /* matmul (..., M, K) x (..., K, N): G products, broadcast operands
     * read once */
    const dq_shape *b = &sh[nd->inputs[1]], *o = &sh[i];
    if (a->rank < 2 || b->rank < 2)
        return DQ_ERROR(DQ_EUNSUP, "%s: node '%s': matmul of a vector is not "
                        "counted", m->path, nd->name);
    int64_t M = a->d[a->rank - 2], K = a->d[a->rank - 1],
            N = b->d[b->rank - 1];
    DQ_TRY(dq_layer_dims_matmul(d, dq_shape_size(o->rank, o->d) / (M * N), M,
                                K, N));
    d->in_elems = dq_shape_size(a->rank, a->d);
    d->w_elems = dq_shape_size(b->rank, b->d);
    return DQ_OK;
}

dq_optable *dq_optable_alloc(const dq_model *m)
{
    if (!m) DQ_ERROR_NULL(DQ_EINVAL, "optable: no model");
    dq_optable *t = calloc(1, sizeof *t);
    dq_shape *sh = calloc((size_t)m->n_nodes, sizeof *sh);
    size_t n = (size_t)m->n_nodes; /* an upper bound of the rows */
    if (t) {
        t->m = m;
        t->node = calloc(n, sizeof *t->node);
        t->dims = calloc(n, sizeof *t->dims);
        t->prec = calloc(n, sizeof *t->prec);
        t->oc = calloc(n, sizeof *t->oc);
    }
    int rc = !t || !sh || !t->node || !t->dims || !t->prec || !t->oc
                 ? DQ_ERROR(DQ_ENOMEM, "%s: optable: out of memory", m->path)
                 : dq_model_shapes(m, 1, sh);
    for (int i = 0; rc == DQ_OK && i < m->n_nodes; i++) {
        if (!dq_node_quant_inputs(&m->nodes[i])) continue;
        t->node[t->n] = i;
        rc = node_dims(&t->dims[t->n], m, sh, i);
        t->n++;
    }
    free(sh);
    if (rc != DQ_OK) {
        dq_optable_free(t); /* exception in constructor, avoid memory leak */
        return NULL;
    }
    dq_optable_set_fp32(t);
    return t;
}

void dq_optable_set_fp32(dq_optable *t)
{
    const dq_layer_prec fp32 = {DQ_ARITH_FP32, 32, 32, 32, 1, 1, 0, 0, 0, 0, 0};
    for (int r = 0; r < t->n; r++) t->prec[r] = fp32;
}

int dq_optable_set_int(dq_optable *t, int bits_w, int bits_a)
{
    if (bits_w < 1 || bits_w > 32 || bits_a < 1 || bits_a > 32)
        return DQ_ERROR(DQ_EINVAL, "optable: INT %d x %d bits outside 1..32",
                        bits_w, bits_a);
    const dq_layer_prec p = {DQ_ARITH_INT, bits_w, bits_a, 32, 1, 1,
                             0, 0, 0, 0, 32};
    for (int r = 0; r < t->n; r++) t->prec[r] = p;
    return DQ_OK;
}

int dq_optable_set_log2(dq_optable *t, int bits)
{
    for (int r = 0; r < t->n; r++) {
        dq_layer_prec *p = &t->prec[r];
        int bw = bits ? bits : p->bits_w, ba = bits ? bits : p->bits_a;
        if (bw < 2 || bw > 9 || ba < 2 || ba > 9)
            return DQ_ERROR(DQ_EINVAL, "%s: layer '%s': log2 at %d x %d bits "
                            "(2..9)", t->m->path,
                            t->m->nodes[t->node[r]].name, bw, ba);
        *p = (dq_layer_prec){DQ_ARITH_LOG2, bw, ba, p->bits_o, p->signed_w,
                             p->signed_a, 0, 0, 0, 0, 32};
    }
    return DQ_OK;
}

/* The arithmetic a tensor's scheme runs with; -1: none modelled. */
static int scheme_arith(const dq_plan_tensor *t)
{
    if (!t->qp) return DQ_ARITH_FP32;
    if (strcmp(t->scheme, "uniform") == 0) return DQ_ARITH_INT;
    if (strcmp(t->scheme, "expq") == 0) return DQ_ARITH_EXPQ;
    if (strcmp(t->scheme, "log2") == 0 || strcmp(t->scheme, "log-sqrt2") == 0)
        return DQ_ARITH_LOG2;
    return -1;
}

static int any_signed(const dq_plan_tensor *t)
{
    for (int64_t c = 0; t->qp && c < t->qp->nchan; c++)
        if (t->qp->chan[c].is_signed) return 1;
    return !t->qp; /* FP32 */
}

/* Precision of plan layer L; roles: conv2d/linear W x A0, matmul A1 x A0. */
static int prec_of_layer(dq_layer_prec *p, const dq_plan_layer *L,
                         const char *plan)
{
    int mm = strcmp(L->op, "matmul") == 0;
    const dq_plan_tensor *tw = &L->t[mm ? DQ_PLAN_A1 : DQ_PLAN_W];
    const dq_plan_tensor *ta = &L->t[DQ_PLAN_A0];
    int aw = scheme_arith(tw), aa = scheme_arith(ta);
    if (aw < 0 || aa < 0 ||
        (aw != aa && aw != DQ_ARITH_FP32 && aa != DQ_ARITH_FP32))
        return DQ_ERROR(DQ_EUNSUP, "%s: layer '%s': no arithmetic model for "
                        "%s weights with %s activations", plan, L->name,
                        tw->scheme, ta->scheme);
    memset(p, 0, sizeof *p);
    p->arith = aw == DQ_ARITH_FP32 || aa == DQ_ARITH_FP32 ? DQ_ARITH_FP32
                                                          : (dq_arith)aw;
    p->bits_w = dq_plan_tensor_bits(tw);
    p->bits_a = dq_plan_tensor_bits(ta);
    p->bits_o = 32;
    p->signed_w = any_signed(tw);
    p->signed_a = any_signed(ta);
    p->acc_bits = 32;
    if (p->arith != DQ_ARITH_EXPQ) return DQ_OK;
    dq_expdot_params ep;
    int rc = dq_expdot_params_from_quant(&ep, tw->qp, ta->qp);
    if (rc != DQ_OK)
        return dq_error_prefix(rc, "%s: layer '%s'", plan, L->name);
    p->zero_w = tw->qp->chan[0].zero_code;
    p->zero_a = ta->qp->chan[0].zero_code;
    p->beta_w_nz = ep.beta_w != 0.0;
    p->beta_a_nz = ep.beta_a != 0.0;
    return DQ_OK;
}

int dq_optable_set_plan(dq_optable *t, const dq_plan *p)
{
    dq_plan *c = dq_plan_clone(p); /* dq_plan_check records node indices */
    if (!c) return dq_error_status();
    int rc = dq_plan_check(c, t->m);
    const char *name = p->path && *p->path ? p->path : "plan";
    for (int r = 0; rc == DQ_OK && r < t->n; r++) {
        int l = dq_plan_find_node(c, t->node[r]);
        rc = l < 0 ? DQ_ERROR(DQ_EINVAL, "%s: no layer for node '%s'", name,
                              t->m->nodes[t->node[r]].name)
                   : prec_of_layer(&t->prec[r], &c->layers[l], name);
    }
    dq_plan_free(c);
    return rc;
}

/* Bits of input k of the quantizable node of row r (matmul input 1 has
 * the weight role). */
static int operand_bits(const dq_optable *t, int r, int k)
{
    return k == 1 ? t->prec[r].bits_w : t->prec[r].bits_a;
}

/* The consumer rule (opcount.h) for row r; reach: n_nodes scratch,
 * row_of: row of each node (-1 for others). */
static int output_bits(const dq_optable *t, int r, int logit_bits,
                       unsigned char *reach, const int *row_of)
{
    const dq_model *m = t->m;
    memset(reach, 0, (size_t)m->n_nodes);
    reach[t->node[r]] = 1;
    int bits = 0;
    for (int j = t->node[r] + 1; j < m->n_nodes; j++) {
        const dq_node *nd = &m->nodes[j];
        for (int k = 0; k < nd->n_inputs; k++) {
            if (!reach[nd->inputs[k]]) continue;
            if (row_of[j] < 0) { /* not quantizable: the value flows on */
                reach[j] = 1;
                continue;
            }
            int b = operand_bits(t, row_of[j], k);
            if (b > bits) bits = b;
        }
    }
    if (reach[m->output] && logit_bits > bits) bits = logit_bits;
    return bits ? bits : logit_bits;
}

int dq_optable_count(dq_optable *t, int logit_bits)
{
    const dq_model *m = t->m;
    if (logit_bits < 1 || logit_bits > 64)
        return DQ_ERROR(DQ_EINVAL, "optable: logit bits %d outside 1..64",
                        logit_bits);
    unsigned char *reach = malloc((size_t)m->n_nodes);
    int *row_of = malloc((size_t)m->n_nodes * sizeof *row_of);
    int rc = reach && row_of ? DQ_OK
                             : DQ_ERROR(DQ_ENOMEM, "optable: out of memory");
    for (int i = 0; rc == DQ_OK && i < m->n_nodes; i++) row_of[i] = -1;
    for (int r = 0; rc == DQ_OK && r < t->n; r++) row_of[t->node[r]] = r;
    for (int r = 0; rc == DQ_OK && r < t->n; r++) {
        t->prec[r].bits_o = output_bits(t, r, logit_bits, reach, row_of);
        rc = dq_opcount_layer(&t->oc[r], &t->dims[r], &t->prec[r]);
        if (rc != DQ_OK)
            dq_error_prefix(rc, "%s: layer '%s'", m->path,
                            m->nodes[t->node[r]].name);
    }
    free(reach);
    free(row_of);
    return rc;
}

static int imax(int a, int b) { return a > b ? a : b; }

void dq_optable_total(const dq_optable *t, dq_opcount *s)
{
    memset(s, 0, sizeof *s);
    for (int r = 0; r < t->n; r++) {
        const dq_opcount *o = &t->oc[r];
        s->macs += o->macs;
        s->outputs += o->outputs;
        s->fp_mults += o->fp_mults;
        s->fp_adds += o->fp_adds;
        s->int_mults += o->int_mults;
        s->int_adds += o->int_adds;
        s->exp_adds += o->exp_adds;
        s->sign_xors += o->sign_xors;
        s->shifts += o->shifts;
        s->counter_incs += o->counter_incs;
        s->combine_muls += o->combine_muls;
        s->combine_adds += o->combine_adds;
        s->w_bits += o->w_bits;
        s->in_bits += o->in_bits;
        s->out_bits += o->out_bits;
        s->bops += o->bops;
        s->bops_total += o->bops_total;
        s->mult_bits_w = imax(s->mult_bits_w, o->mult_bits_w);
        s->mult_bits_a = imax(s->mult_bits_a, o->mult_bits_a);
        s->acc_bits = imax(s->acc_bits, o->acc_bits);
        s->exp_add_bits = imax(s->exp_add_bits, o->exp_add_bits);
        s->counter_bits = imax(s->counter_bits, o->counter_bits);
        s->w_is_param |= o->w_is_param;
    }
}
