/*
 * expengine.c — the exp-domain executor (expengine.h): a DNA-TEQ plan
 * bound to a model, run through the engine's op override (engine.h, hook
 * (d)) with the exact counter kernels of expdot.c.
 *
 * Where it sits: above the engine, the plan and qinfer (the fake-quant
 * path it is checked against), next to opcount/energy, which count and
 * price the same layers in closed form.  Per layer the work is: encode the
 * float input into dq_ecode (sign, exponent, zero flag) with the plan's
 * activation parameters, run the kernel into an FP64 buffer, round each
 * output to float and add the bias in float, as ops.c does after its GEMM.
 */
#include "expengine.h"

#include "error.h"
#include "log.h"
#include "ops.h"
#include "qinfer.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    dq_explayer pub;
    dq_expdot *k;           /* the kernel's layer (K, base, α, β, N) */
    const dq_qparams *qa;   /* activation role: input 0 */
    const dq_qparams *qb;   /* matmul: input 1, in the weight role */
    dq_ecode *wcodes;       /* conv2d, linear: the encoded weight */
} xlayer;

struct dq_expengine {
    const dq_model *m;
    dq_plan *plan; /* checked copy; owns the parameters the layers use */
    int n;
    xlayer *L;     /* one per plan layer */
    int *by_node;  /* layer of each node, -1 */
};

/* ---- alloc / free -------------------------------------------------------- */

void dq_expengine_free(dq_expengine *x)
{
    if (!x) return;
    for (int l = 0; x->L && l < x->n; l++) {
        dq_expdot_free(x->L[l].k);
        free(x->L[l].wcodes);
    }
    free(x->L);
    free(x->by_node);
    dq_plan_free(x->plan);
    free(x);
}

/* Reduction length N of the dot products of node nd. */
static int64_t reduction_of(const dq_node *nd, const dq_plan_tensor *ta)
{
    if (nd->op == DQ_OP_MATMUL) return ta->shape[ta->rank - 1];
    return nd->weight->size / nd->weight->shape[0];
}

static int layer_init(const dq_expengine *x, xlayer *L,
                      const dq_plan_layer *pl, const char *plan)
{
    const dq_node *nd = &x->m->nodes[pl->node];
    int mm = nd->op == DQ_OP_MATMUL;
    const dq_plan_tensor *tw = &pl->t[mm ? DQ_PLAN_A1 : DQ_PLAN_W];
    const dq_plan_tensor *ta = &pl->t[DQ_PLAN_A0];
    if (strcmp(tw->scheme, "expq") != 0 || strcmp(ta->scheme, "expq") != 0)
        return DQ_ERROR(DQ_EUNSUP, "%s: layer '%s': the exponential domain "
                        "needs expq on both operands, the plan has %s x %s",
                        plan, pl->name, tw->scheme, ta->scheme);
    L->pub.node = pl->node;
    L->pub.name = nd->name;
    L->pub.op = nd->op;
    L->pub.reduction = reduction_of(nd, ta);
    int rc = dq_expdot_params_from_quant(&L->pub.params, tw->qp, ta->qp);
    if (rc == DQ_OK &&
        !(L->k = dq_expdot_alloc(&L->pub.params, L->pub.reduction)))
        rc = dq_error_status();
    if (rc != DQ_OK)
        return dq_error_prefix(rc, "%s: layer '%s'", plan, pl->name);
    L->pub.counter_bits = dq_expdot_counter_bits(L->k);
    L->qa = ta->qp;
    if (mm) {
        L->qb = tw->qp;
        return DQ_OK;
    }
    const dq_tensor *w = nd->weight;
    L->wcodes = malloc(sizeof(dq_ecode) * (size_t)w->size);
    if (!L->wcodes)
        return DQ_ERROR(DQ_ENOMEM, "%s: layer '%s': out of memory", plan,
                        pl->name);
    rc = dq_expdot_encode(L->wcodes, tw->qp, w->data, w->size);
    if (rc != DQ_OK)
        dq_error_prefix(rc, "%s: layer '%s' weight", plan, pl->name);
    return rc;
}

dq_expengine *dq_expengine_alloc(const dq_model *m, const dq_plan *p)
{
    if (!m || !p) DQ_ERROR_NULL(DQ_EINVAL, "expengine: no model or plan");
    const char *plan = p->path && *p->path ? p->path : "plan";
    dq_expengine *x = calloc(1, sizeof *x);
    if (!x) DQ_ERROR_NULL(DQ_ENOMEM, "%s: expengine: out of memory", plan);
    x->m = m;
    int rc = (x->plan = dq_plan_clone(p)) ? dq_plan_check(x->plan, m)
                                          : dq_error_status();
    if (rc == DQ_OK) {
        x->n = x->plan->n_layers;
        x->L = calloc((size_t)(x->n > 0 ? x->n : 1), sizeof *x->L);
        x->by_node = malloc((size_t)m->n_nodes * sizeof *x->by_node);
        if (!x->L || !x->by_node)
            rc = DQ_ERROR(DQ_ENOMEM, "%s: expengine: out of memory", plan);
    }
    for (int i = 0; rc == DQ_OK && i < m->n_nodes; i++) x->by_node[i] = -1;
    for (int l = 0; rc == DQ_OK && l < x->n; l++) {
        rc = layer_init(x, &x->L[l], &x->plan->layers[l], plan);
        x->by_node[x->plan->layers[l].node] = l;
    }
    if (rc != DQ_OK) {
        dq_expengine_free(x); /* exception in constructor, avoid memory leak */
        return NULL;
    }
    return x;
}

int dq_expengine_nlayers(const dq_expengine *x) { return x->n; }

const dq_explayer *dq_expengine_layer(const dq_expengine *x, int i)
{
    return i >= 0 && i < x->n ? &x->L[i].pub : NULL;
}

void dq_expengine_reset_counts(dq_expengine *x)
{
    for (int l = 0; l < x->n; l++)
        memset(&x->L[l].pub.counts, 0, sizeof x->L[l].pub.counts);
}

/* ---- the layers --------------------------------------------------------- */

/* out (outer, C, inner) = float(acc) + bias[c] (bias NULL: none). */
static void to_float(float *out, const double *acc, int64_t outer, int64_t C,
                     int64_t inner, const float *bias)
{
#pragma omp parallel for if (outer * C * inner >= 65536)
    for (int64_t o = 0; o < outer * C; o++) {
        float b = bias ? bias[o % C] : 0.0f;
        for (int64_t i = 0; i < inner; i++)
            out[o * inner + i] = (float)acc[o * inner + i] + b;
    }
}

/* Codes of x under per-tensor parameters q (malloc()ed into *codes). */
static int encode(dq_ecode **codes, const dq_qparams *q, const dq_tensor *x)
{
    *codes = malloc(sizeof(dq_ecode) * (size_t)(x->size > 0 ? x->size : 1));
    if (!*codes) return DQ_ERROR(DQ_ENOMEM, "expengine: out of memory");
    return dq_expdot_encode(*codes, q, x->data, x->size);
}

/* Conv2d: inp (B,C,H,W), weight (OC, C/groups, kh, kw), out (B,OC,OH,OW). */
static int run_conv(const xlayer *L, const dq_node *nd, const dq_tensor *inp,
                    dq_tensor *out, double *acc, dq_expdot_counts *c)
{
    const int64_t *s = inp->shape, *ws = nd->weight->shape;
    dq_ecode *a;
    int rc = encode(&a, L->qa, inp);
    if (rc == DQ_OK)
        rc = dq_expdot_conv2d(L->k, acc, a, L->wcodes, (int)s[0], (int)s[1],
                              (int)s[2], (int)s[3], (int)ws[0], (int)ws[2],
                              (int)ws[3], nd->stride[0], nd->stride[1],
                              nd->padding[0], nd->padding[1], nd->dilation[0],
                              nd->dilation[1], nd->groups, c);
    if (rc == DQ_OK)
        to_float(out->data, acc, out->shape[0], ws[0],
                 out->size / (out->shape[0] * ws[0]),
                 nd->bias ? nd->bias->data : NULL);
    free(a);
    return rc;
}

/* Linear: inp (P, I) (any leading dims), weight (OC, I), out (P, OC). */
static int run_linear(const xlayer *L, const dq_node *nd,
                      const dq_tensor *inp, dq_tensor *out, double *acc,
                      dq_expdot_counts *c)
{
    const int64_t OC = nd->weight->shape[0], P = out->size / OC;
    dq_ecode *a;
    int rc = encode(&a, L->qa, inp);
    if (rc == DQ_OK) rc = dq_expdot_gemm(L->k, acc, a, L->wcodes, P, OC, c);
    if (rc == DQ_OK)
        to_float(out->data, acc, P, OC, 1, nd->bias ? nd->bias->data : NULL);
    free(a);
    return rc;
}

/* Copy the matrices of codes c (of `size` codes each) that the G output
 * matrices of v read, in output order, into *out (malloc()ed); *out =
 * NULL when the operand already is those G matrices in that order. */
static int gather(dq_ecode **out, const dq_ecode *c, const dq_matmul_batch *v,
                  int operand, int64_t size)
{
    int64_t G = v->batch, ia, ib, t;
    for (t = 0; t < G; t++) {
        dq_matmul_batch_index(v, t, &ia, &ib);
        if ((operand ? ib : ia) != t) break;
    }
    *out = NULL;
    if (t == G) return DQ_OK;
    *out = malloc(sizeof(dq_ecode) * (size_t)(G * size));
    if (!*out) return DQ_ERROR(DQ_ENOMEM, "expengine: out of memory");
    for (t = 0; t < G; t++) {
        dq_matmul_batch_index(v, t, &ia, &ib);
        memcpy(*out + t * size, c + (operand ? ib : ia) * size,
               sizeof(dq_ecode) * (size_t)size);
    }
    return DQ_OK;
}

/* Matmul with torch.matmul semantics, as the engine runs it (ops.h,
 * dq_matmul_batch): a (..., M, K) x b (..., K, N), batch dims broadcast,
 * a rank-1 operand a row / column.  When b is one matrix, a's matrices
 * stack into one (G·M, K) x (K, N) product (as ops.c does); otherwise the
 * codes of a broadcast operand are gathered into one matrix per output
 * matrix (G = the broadcast batch size).  Every output is the same dot
 * product either way, and so are the counts. */
static int run_matmul(const xlayer *L, const dq_tensor *a,
                      const dq_tensor *b, dq_tensor *out, double *acc,
                      dq_expdot_counts *c)
{
    dq_matmul_batch v;
    DQ_TRY(dq_matmul_batch_init(&v, a->rank, a->shape, b->rank, b->shape));
    const int64_t G = v.batch, M = v.M, K = v.K, N = v.N;
    if (G * M * N != out->size)
        return DQ_ERROR(DQ_EINVAL, "expengine: matmul output has %lld values, "
                        "not %lld", (long long)out->size,
                        (long long)(G * M * N));
    if (out->size == 0) return DQ_OK;
    dq_ecode *ca = NULL, *cb = NULL, *ga = NULL, *gb = NULL;
    int rc = encode(&ca, L->qa, a);
    if (rc == DQ_OK) rc = encode(&cb, L->qb, b);
    if (rc == DQ_OK && v.batch_rank_b == 0) /* a's matrices are in order */
        rc = dq_expdot_matmul(L->k, acc, ca, cb, 1, G * M, K, N, c);
    else if (rc == DQ_OK) {
        rc = gather(&ga, ca, &v, 0, M * K);
        if (rc == DQ_OK) rc = gather(&gb, cb, &v, 1, K * N);
        if (rc == DQ_OK)
            rc = dq_expdot_matmul(L->k, acc, ga ? ga : ca, gb ? gb : cb, G, M,
                                  K, N, c);
    }
    if (rc == DQ_OK) to_float(out->data, acc, 1, 1, out->size, NULL);
    free(ga);
    free(gb);
    free(ca);
    free(cb);
    return rc;
}

static void add_counts(dq_expdot_counts *acc, const dq_expdot_counts *c)
{
    acc->outputs += c->outputs;
    acc->pairs += c->pairs;
    acc->pairs_nz += c->pairs_nz;
    acc->exp_adds += c->exp_adds;
    acc->sign_xors += c->sign_xors;
    acc->counter_incs += c->counter_incs;
    acc->combine_muls += c->combine_muls;
    acc->combine_adds += c->combine_adds;
}

/* The override: the node's output through the exact kernel. */
static int op_fn(void *ctx, const dq_node *nd, const dq_tensor *const *x,
                 const dq_tensor *weight, dq_tensor *out, int *done)
{
    (void)weight; /* the codes were made from the pristine weight */
    dq_expengine *X = ctx;
    int l = X->by_node[nd->index];
    if (l < 0) return DQ_OK; /* not ours: the FP32 kernel runs */
    xlayer *L = &X->L[l];
    dq_expdot_counts c;
    memset(&c, 0, sizeof c);
    size_t nout = (size_t)(out->size > 0 ? out->size : 1);
    double *acc = malloc(sizeof(double) * nout);
    int rc = !acc ? DQ_ERROR(DQ_ENOMEM, "expengine: out of memory")
             : nd->op == DQ_OP_CONV2D ? run_conv(L, nd, x[0], out, acc, &c)
             : nd->op == DQ_OP_LINEAR ? run_linear(L, nd, x[0], out, acc, &c)
                                      : run_matmul(L, x[0], x[1], out, acc, &c);
    free(acc);
    if (rc != DQ_OK)
        return dq_error_prefix(rc, "%s: node '%s' (exp-domain)", X->m->path,
                               nd->name);
#pragma omp critical(dq_expengine_counts)
    add_counts(&L->pub.counts, &c);
    *done = 1;
    return DQ_OK;
}

int dq_expengine_attach(dq_expengine *x, dq_engine *e)
{
    if (!e) return DQ_ERROR(DQ_EINVAL, "expengine: attach: no engine");
    if (x && dq_engine_model(e) != x->m)
        return DQ_ERROR(DQ_EINVAL, "expengine: attach: the engine runs %s, "
                        "the plan is bound to %s", dq_engine_model(e)->path,
                        x->m->path);
    dq_engine_reset_weights(e);
    dq_engine_set_act_transform(e, NULL, NULL);
    dq_engine_set_op_override(e, x ? op_fn : NULL, x);
    return DQ_OK;
}

/* ---- exp-domain vs fake-quant ------------------------------------------- */

static int argmax(const float *l, int C)
{
    int best = 0;
    for (int c = 1; c < C; c++)
        if (l[c] > l[best]) best = c; // first maximum, as the engine
    return best;
}

/* An image's first flipped codes: layer, input, count, largest gap. */
typedef struct {
    int layer, input;
    int64_t n;
    double gap;
} firstflip;

/* Code-flip bookkeeping of one batch (see expengine.h): the exp-domain
 * pass stores every quantized layer's raw input, the fake-quant pass
 * encodes both and compares them. */
typedef struct {
    const dq_expengine *x;
    int pass;          /* 0: exp-domain (store), 1: fake-quant (compare) */
    int B;             /* images in the batch */
    int64_t b0;        /* index of its first image */
    float **in;        /* per (layer, input): the exp-domain input */
    int64_t *in_n, *in_cap;
    int64_t *flips;    /* per image of the batch: flips so far */
    int64_t *now;      /* per image: flips in the current layer */
    firstflip *first;  /* per image: its first flips */
    dq_expcheck *out;
} flipcheck;

/* Encode a and b (input `input` of layer l) with q and count, per image,
 * the codes that differ; the first flips of an image (none in earlier
 * layers) record their gap. */
static int compare_codes(flipcheck *f, int l, int input, const dq_qparams *q,
                         const float *a, const dq_tensor *b)
{
    dq_tensor ta = *b;
    ta.data = (float *)a;
    dq_ecode *ca = NULL, *cb = NULL;
    int rc = encode(&ca, q, &ta);
    if (rc == DQ_OK) rc = encode(&cb, q, b);
    const int64_t per = b->size / f->B; /* values per image */
    for (int img = 0; rc == DQ_OK && img < f->B; img++) {
        const float *va = a + img * per, *vb = b->data + img * per;
        const dq_ecode *ka = ca + img * per, *kb = cb + img * per;
        double scale = 0.0;
        for (int64_t i = 0; i < per; i++)
            if (fabs((double)vb[i]) > scale) scale = fabs((double)vb[i]);
        f->now[img] = 0;
        for (int64_t i = 0; i < per; i++) {
            int za = (ka[i] & DQ_ECODE_ZERO) != 0;
            int zb = (kb[i] & DQ_ECODE_ZERO) != 0;
            if (za == zb && (za || ka[i] == kb[i])) continue; /* same code */
            f->now[img]++;
            double d = fabs((double)va[i] - (double)vb[i]);
            double gap = scale > 0 ? d / scale : INFINITY;
            firstflip *ff = &f->first[img];
            if (!f->flips[img] && (ff->n++ == 0 || gap > ff->gap)) {
                ff->layer = l;
                ff->input = input;
                ff->gap = gap;
            }
            if (!f->flips[img] && (gap > f->out->max_flip_gap ||
                                   f->out->gap_image < 0)) {
                f->out->max_flip_gap = gap;
                f->out->gap_image = f->b0 + img;
                f->out->gap_layer = l;
                f->out->gap_input = input;
            }
        }
    }
    free(ca);
    free(cb);
    return rc;
}

static int flip_capture(void *ctx, const dq_node *node, int input,
                        const dq_tensor *t)
{
    flipcheck *f = ctx;
    int l = f->x->by_node[node->index];
    if (l < 0) return DQ_OK;
    const int s = 2 * l + input;
    if (f->pass == 0) { /* keep the exp-domain input */
        if (t->size > f->in_cap[s]) {
            float *p = realloc(f->in[s], sizeof(float) * (size_t)t->size);
            if (!p) return DQ_ERROR(DQ_ENOMEM, "expengine: out of memory");
            f->in[s] = p;
            f->in_cap[s] = t->size;
        }
        memcpy(f->in[s], t->data, sizeof(float) * (size_t)t->size);
        f->in_n[s] = t->size;
        return DQ_OK;
    }
    if (f->in_n[s] != t->size)
        return DQ_ERROR(DQ_EINVAL, "expengine: check: '%s' input %d has %lld "
                        "values in one path, %lld in the other", node->name,
                        input, (long long)f->in_n[s], (long long)t->size);
    const xlayer *L = &f->x->L[l];
    DQ_TRY(compare_codes(f, l, input, input ? L->qb : L->qa, f->in[s], t));
    for (int img = 0; img < f->B; img++) {
        f->out->code_flips += f->now[img];
        f->flips[img] += f->now[img];
    }
    return DQ_OK;
}

static void flipcheck_free(flipcheck *f)
{
    for (int s = 0; f->in && s < 2 * f->x->n; s++) free(f->in[s]);
    free(f->in);
    free(f->in_n);
    free(f->in_cap);
    free(f->flips);
    free(f->now);
    free(f->first);
}

/* Compare one batch of B images (the first is image b0) into out. */
static void compare_batch(dq_expcheck *out, const float *le, const float *lf,
                          const uint8_t *labels, const int64_t *flips,
                          const firstflip *first, int64_t b0, int B, int C)
{
    for (int b = 0; b < B; b++) {
        const float *e = le + (size_t)b * C, *f = lf + (size_t)b * C;
        double diff = 0.0, scale = 0.0;
        for (int c = 0; c < C; c++) {
            double d = fabs((double)e[c] - (double)f[c]);
            if (d > diff) diff = d;
            if (fabs((double)f[c]) > scale) scale = fabs((double)f[c]);
        }
        double rel = diff == 0.0 ? 0.0 : scale > 0.0 ? diff / scale : INFINITY;
        if (rel > out->max_rel) {
            out->max_rel = rel;
            out->worst_image = b0 + b;
            out->worst_flips = flips[b];
            out->worst_layer = flips[b] ? first[b].layer : -1;
            out->worst_input = flips[b] ? first[b].input : -1;
            out->worst_first = flips[b] ? first[b].n : 0;
            out->worst_gap = flips[b] ? first[b].gap : 0.0;
        }
        if (!flips[b] && rel > out->max_rel_noflip) out->max_rel_noflip = rel;
        if (diff > out->max_abs) out->max_abs = diff;
        out->flip_images += flips[b] != 0;
        int pe = argmax(e, C), pf = argmax(f, C);
        out->agree += pe == pf;
        if (pe != pf && out->first_disagree < 0) out->first_disagree = b0 + b;
        out->exp_correct += pe == labels[b];
        out->fq_correct += pf == labels[b];
    }
}

int dq_expengine_check(dq_expengine *x, const dq_dataset *ds, int64_t n,
                       int batch, int progress, dq_expcheck *out)
{
    if (!x || !ds || !out || batch < 1)
        return DQ_ERROR(DQ_EINVAL, "expengine: check: bad arguments");
    const dq_model *m = x->m;
    if (ds->images->size != ds->n * m->input_size)
        return DQ_ERROR(DQ_EINVAL, "%s: check: the %s split's images do not "
                        "fit the model's input", m->path, ds->split);
    if (n <= 0 || n > ds->n) n = ds->n;
    memset(out, 0, sizeof *out);
    out->worst_image = out->first_disagree = out->gap_image = -1;
    out->gap_layer = out->gap_input = out->worst_layer = out->worst_input = -1;
    dq_expengine_reset_counts(x);
    const int C = m->num_classes;
    dq_qmodel *q = dq_qmodel_alloc(m, x->plan);
    dq_engine *ee = dq_engine_alloc(m), *ef = dq_engine_alloc(m);
    float *le = malloc(sizeof(float) * (size_t)batch * (size_t)C);
    float *lf = malloc(sizeof(float) * (size_t)batch * (size_t)C);
    flipcheck f = {.x = x, .out = out};
    f.in = calloc((size_t)(2 * x->n + 1), sizeof *f.in);
    f.in_n = calloc((size_t)(2 * x->n + 1), sizeof *f.in_n);
    f.in_cap = calloc((size_t)(2 * x->n + 1), sizeof *f.in_cap);
    f.flips = calloc((size_t)batch, sizeof *f.flips);
    f.now = calloc((size_t)batch, sizeof *f.now);
    f.first = calloc((size_t)batch, sizeof *f.first);
    int rc = !q || !ee || !ef ? dq_error_status()
             : !le || !lf || !f.in || !f.in_n || !f.in_cap || !f.flips ||
                     !f.now || !f.first
                 ? DQ_ERROR(DQ_ENOMEM, "expengine: out of memory")
                 : DQ_OK;
    if (rc == DQ_OK) rc = dq_expengine_attach(x, ee);
    if (rc == DQ_OK) rc = dq_qmodel_attach(q, ef);
    if (rc == DQ_OK) {
        dq_engine_set_capture(ee, flip_capture, &f);
        dq_engine_set_capture(ef, flip_capture, &f);
    }
    dq_progress *pr = progress && rc == DQ_OK
                          ? dq_progress_alloc("exp-domain vs fake-quant", n)
                          : NULL;
    for (int64_t b0 = 0; b0 < n && rc == DQ_OK; b0 += batch) {
        int B = (int)(n - b0 < batch ? n - b0 : batch);
        const float *img = ds->images->data + b0 * m->input_size;
        f.B = B;
        f.b0 = b0;
        memset(f.flips, 0, sizeof *f.flips * (size_t)B);
        memset(f.first, 0, sizeof *f.first * (size_t)B);
        double t0 = omp_get_wtime();
        clock_t c0 = clock();
        f.pass = 0;
        rc = dq_engine_forward(ee, img, B, le);
        double t1 = omp_get_wtime();
        clock_t c1 = clock();
        f.pass = 1;
        if (rc == DQ_OK) rc = dq_engine_forward(ef, img, B, lf);
        out->exp_s += t1 - t0;
        out->fq_s += omp_get_wtime() - t1;
        out->exp_cpu_s += (double)(c1 - c0) / CLOCKS_PER_SEC;
        out->fq_cpu_s += (double)(clock() - c1) / CLOCKS_PER_SEC;
        if (rc == DQ_OK)
            compare_batch(out, le, lf, ds->labels + b0, f.flips, f.first, b0,
                          B, C);
        out->images += rc == DQ_OK ? B : 0;
        dq_progress_update(pr, b0 + B);
    }
    dq_progress_free(pr);
    flipcheck_free(&f);
    free(le);
    free(lf);
    dq_engine_free(ee);
    dq_engine_free(ef);
    dq_qmodel_free(q);
    return rc;
}
