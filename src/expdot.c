/*
 * expdot.c — exact exponential-domain dot products (expdot.h, DESIGN §1.3).
 *
 * Where it sits: below the engine's `exp-domain` mode and above the
 * quantizers, whose exponent codes it consumes; opcount.c states the same
 * counts in closed form and energy.c prices them.
 *
 * Layout of the work: one dot product = clear the counters, run the inner
 * loop over the N code pairs (exponent add, sign XOR, counter increments),
 * then combine the counters with the powers of b in FP64.  The inner loop
 * is generated for int16, int32 and int64 counters (chosen from N, cannot
 * overflow) and for a range-checked int64 variant used when the caller
 * forces a narrower hardware counter width.  Every operation is counted at
 * the place it happens, so the counts are an independent check of the
 * closed forms in opcount.c.
 */
#include "expdot.h"

#include "error.h"
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct dq_expdot {
    dq_expdot_params p;
    int64_t N;
    int L;              /* C1 bins: K_w + K_a - 1 */
    double *P1, *P2, *P3; /* b^(k-(K_w+K_a-2)), b^(p-(K_w-1)), b^(q-(K_a-1)) */
    double c11, c12, c21, c22; /* α_wα_a, α_wβ_a, β_wα_a, β_wβ_a */
    int use_c2, use_c3, use_c4;
    int hw_bits;    /* counter width in hardware */
    int store_bits; /* 16, 32 or 64 */
    int checked;    /* hw_bits narrower than needed: range-check */
    int64_t cmin, cmax;
};

/* Per-dot operation tallies, summed into dq_expdot_counts by the caller. */
typedef struct {
    int64_t nz, incs, muls, adds;
} dot_tally;

int dq_expdot_counter_bits_needed(int64_t N)
{
    /* values in [-N, N]: magnitude bits ceil(log2(N+1)), plus a sign bit */
    int bits = 0;
    while (bits < 64 && (UINT64_C(1) << bits) < (uint64_t)N + 1) bits++;
    return bits + 1;
}

static int finite_all(const dq_expdot_params *p)
{
    return isfinite(p->base) && isfinite(p->alpha_w) && isfinite(p->beta_w) &&
           isfinite(p->alpha_a) && isfinite(p->beta_a);
}

dq_expdot *dq_expdot_alloc(const dq_expdot_params *p, int64_t N)
{
    if (!p) DQ_ERROR_NULL(DQ_EINVAL, "expdot: NULL parameters");
    if (p->K_w < 1 || p->K_w > DQ_EXPDOT_KMAX || p->K_a < 1 ||
        p->K_a > DQ_EXPDOT_KMAX)
        DQ_ERROR_NULL(DQ_EINVAL, "expdot: K_w = %d, K_a = %d, must be in 1..%d",
                      p->K_w, p->K_a, DQ_EXPDOT_KMAX);
    if (!finite_all(p))
        DQ_ERROR_NULL(DQ_EINVAL, "expdot: base, alpha and beta must be finite");
    if (!(p->base > 1.0))
        DQ_ERROR_NULL(DQ_EINVAL, "expdot: base %g must be > 1", p->base);
    if (N < 1 || N > INT32_MAX)
        DQ_ERROR_NULL(DQ_EINVAL, "expdot: reduction length %lld outside "
                      "1..%d", (long long)N, INT32_MAX);
    if (p->counter_bits != 0 && (p->counter_bits < 2 || p->counter_bits > 64))
        DQ_ERROR_NULL(DQ_EINVAL, "expdot: counter_bits %d not 0 or 2..64",
                      p->counter_bits);

    dq_expdot *e = calloc(1, sizeof *e);
    if (!e) DQ_ERROR_NULL(DQ_ENOMEM, "expdot: out of memory");
    e->p = *p;
    e->N = N;
    e->L = p->K_w + p->K_a - 1;
    e->P1 = malloc((size_t)e->L * sizeof(double));
    e->P2 = malloc((size_t)p->K_w * sizeof(double));
    e->P3 = malloc((size_t)p->K_a * sizeof(double));
    if (!e->P1 || !e->P2 || !e->P3) {
        dq_expdot_free(e); /* exception in constructor, avoid memory leak */
        DQ_ERROR_NULL(DQ_ENOMEM, "expdot: out of memory");
    }
    /* level_k = α b^(k-(K-1)) + β, so p + q carries the offset
     * (K_w-1) + (K_a-1). */
    for (int k = 0; k < e->L; k++)
        e->P1[k] = pow(p->base, (double)(k - (p->K_w - 1) - (p->K_a - 1)));
    for (int k = 0; k < p->K_w; k++)
        e->P2[k] = pow(p->base, (double)(k - (p->K_w - 1)));
    for (int k = 0; k < p->K_a; k++)
        e->P3[k] = pow(p->base, (double)(k - (p->K_a - 1)));
    e->c11 = p->alpha_w * p->alpha_a;
    e->c12 = p->alpha_w * p->beta_a;
    e->c21 = p->beta_w * p->alpha_a;
    e->c22 = p->beta_w * p->beta_a;
    e->use_c2 = p->beta_a != 0.0;
    e->use_c3 = p->beta_w != 0.0;
    e->use_c4 = e->use_c2 && e->use_c3;

    int need = dq_expdot_counter_bits_needed(N);
    e->hw_bits = p->counter_bits ? p->counter_bits : need;
    e->checked = e->hw_bits < need;
    if (e->checked) {
        e->store_bits = 64;
        e->cmax = (int64_t)((UINT64_C(1) << (e->hw_bits - 1)) - 1);
        e->cmin = -e->cmax - 1;
    } else {
        e->store_bits = e->hw_bits <= 16 ? 16 : e->hw_bits <= 32 ? 32 : 64;
        e->cmax = INT64_MAX;
        e->cmin = INT64_MIN;
    }
    return e;
}

void dq_expdot_free(dq_expdot *e)
{
    if (!e) return;
    free(e->P1);
    free(e->P2);
    free(e->P3);
    free(e);
}

int64_t dq_expdot_length(const dq_expdot *e) { return e->N; }
int dq_expdot_counter_bits(const dq_expdot *e) { return e->hw_bits; }
int dq_expdot_counter_storage_bits(const dq_expdot *e) { return e->store_bits; }

void dq_expdot_combine_cost(const dq_expdot *e, int64_t *muls, int64_t *adds)
{
    int64_t m = e->L + 1, a = e->L - 1; /* Σ C1·P1, then × α_wα_a */
    if (e->use_c2) { m += e->p.K_w + 1; a += e->p.K_w; }
    if (e->use_c3) { m += e->p.K_a + 1; a += e->p.K_a; }
    if (e->use_c4) { m += 1; a += e->L; } /* C4 = Σ C1, × β_wβ_a, + */
    *muls = m;
    *adds = a;
}

/* ---- the inner loop, one instance per counter type -------------------- */

/* Combine counters c1 (L), c2 (K_w), c3 (K_a) into the output.  The order
 * of the sums is fixed, so results do not depend on threads. */
#define DEFINE_COMBINE(NAME, T)                                                \
    static double NAME(const dq_expdot *e, const T *c1, const T *c2,          \
                       const T *c3, dot_tally *t)                              \
    {                                                                          \
        double s1 = 0.0;                                                       \
        for (int k = 0; k < e->L; k++) s1 += (double)c1[k] * e->P1[k];         \
        t->muls += e->L;                                                       \
        t->adds += e->L - 1;                                                   \
        double out = e->c11 * s1;                                              \
        t->muls += 1;                                                          \
        if (e->use_c2) {                                                       \
            double s2 = 0.0;                                                   \
            for (int k = 0; k < e->p.K_w; k++) s2 += (double)c2[k] * e->P2[k]; \
            out += e->c12 * s2;                                                \
            t->muls += e->p.K_w + 1;                                           \
            t->adds += e->p.K_w;                                               \
        }                                                                      \
        if (e->use_c3) {                                                       \
            double s3 = 0.0;                                                   \
            for (int k = 0; k < e->p.K_a; k++) s3 += (double)c3[k] * e->P3[k]; \
            out += e->c21 * s3;                                                \
            t->muls += e->p.K_a + 1;                                           \
            t->adds += e->p.K_a;                                               \
        }                                                                      \
        if (e->use_c4) {                                                       \
            int64_t c4 = 0; /* every pair counted once in C1 */                \
            for (int k = 0; k < e->L; k++) c4 += c1[k];                        \
            out += e->c22 * (double)c4;                                        \
            t->muls += 1;                                                      \
            t->adds += e->L;                                                   \
        }                                                                      \
        return out;                                                            \
    }

/* One dot product of w (stride 1) and a (stride 1) over e->N.  Codes are
 * validated before (validate_codes).  Returns 0, or 1 on a counter
 * leaving [cmin, cmax] (checked variant only).  Two passes: the positions
 * of the live pairs (neither code zero) are gathered without a branch,
 * then only those are counted.  Zero codes are common (ReLU outputs,
 * padding), and skipping them by a branch in one loop costs a
 * misprediction each. */
#define DEFINE_DOT(NAME, COMBINE, T, CHECK)                                    \
    static int NAME(const dq_expdot *e, double *out, const dq_ecode *w,        \
                    const dq_ecode *a, void *scratch, dot_tally *t)            \
    {                                                                          \
        int32_t *live = scratch; /* N entries, then the counters */          \
        T *c1 = (T *)(live + 2 * ((e->N + 1) / 2));                            \
        T *c2 = c1 + e->L, *c3 = c2 + e->p.K_w;                                \
        memset(c1, 0, sizeof(T) * (size_t)(e->L + e->p.K_w + e->p.K_a));      \
        const int use_c2 = e->use_c2, use_c3 = e->use_c3;                      \
        int64_t nz = 0;                                                        \
        for (int64_t i = 0; i < e->N; i++) {                                   \
            live[nz] = (int32_t)i;                                             \
            nz += ((w[i] | a[i]) & DQ_ECODE_ZERO) == 0;                        \
        }                                                                      \
        for (int64_t j = 0; j < nz; j++) {                                     \
            unsigned cw = w[live[j]], ca = a[live[j]];                         \
            unsigned p = cw & DQ_ECODE_EXP_MASK, q = ca & DQ_ECODE_EXP_MASK;   \
            T s = (T)(1 - 2 * (int)(((cw ^ ca) & DQ_ECODE_NEG) != 0));         \
            c1[p + q] += s; /* exponent add, sign XOR, increment */           \
            if (CHECK && (c1[p + q] > e->cmax || c1[p + q] < e->cmin))         \
                return 1;                                                      \
            if (use_c2) {                                                      \
                c2[p] += s;                                                    \
                if (CHECK && (c2[p] > e->cmax || c2[p] < e->cmin)) return 1;   \
            }                                                                  \
            if (use_c3) {                                                      \
                c3[q] += s;                                                    \
                if (CHECK && (c3[q] > e->cmax || c3[q] < e->cmin)) return 1;   \
            }                                                                  \
        }                                                                      \
        t->nz += nz;                                                           \
        t->incs += nz * (1 + use_c2 + use_c3);                                 \
        *out = COMBINE(e, c1, c2, c3, t);                                      \
        return 0;                                                              \
    }

DEFINE_COMBINE(combine_i16, int16_t)
DEFINE_COMBINE(combine_i32, int32_t)
DEFINE_COMBINE(combine_i64, int64_t)
DEFINE_DOT(dot_i16, combine_i16, int16_t, 0)
DEFINE_DOT(dot_i32, combine_i32, int32_t, 0)
DEFINE_DOT(dot_i64, combine_i64, int64_t, 0)
DEFINE_DOT(dot_checked, combine_i64, int64_t, 1)

typedef int (*dot_fn)(const dq_expdot *, double *, const dq_ecode *,
                      const dq_ecode *, void *, dot_tally *);

static dot_fn pick_dot(const dq_expdot *e)
{
    if (e->checked) return dot_checked;
    return e->store_bits == 16 ? dot_i16 : e->store_bits == 32 ? dot_i32
                                                               : dot_i64;
}

/* The live-pair positions (N int32, rounded up to 8 bytes), then the
 * counters C1, C2, C3 at up to 64 bits. */
static size_t scratch_bytes(const dq_expdot *e)
{
    return sizeof(int32_t) * (size_t)(2 * ((e->N + 1) / 2)) +
           sizeof(int64_t) * (size_t)(e->L + e->p.K_w + e->p.K_a);
}

/* Every non-zero code's exponent must be below its tensor's K. */
static int validate_codes(const dq_ecode *c, int64_t n, int K,
                          const char *role)
{
    for (int64_t i = 0; i < n; i++)
        if (!(c[i] & DQ_ECODE_ZERO) && (int)(c[i] & DQ_ECODE_EXP_MASK) >= K)
            return DQ_ERROR(DQ_EINVAL,
                            "expdot: %s code %lld has exponent %u >= K = %d",
                            role, (long long)i, c[i] & DQ_ECODE_EXP_MASK, K);
    return DQ_OK;
}

static void add_tally(dq_expdot_counts *c, const dq_expdot *e, int64_t outputs,
                      const dot_tally *t)
{
    if (!c) return;
    c->outputs += outputs;
    c->pairs += outputs * e->N;
    c->pairs_nz += t->nz;
    c->exp_adds += t->nz;
    c->sign_xors += t->nz;
    c->counter_incs += t->incs;
    c->combine_muls += t->muls;
    c->combine_adds += t->adds;
}

static int overflow_error(const dq_expdot *e, int64_t i, int64_t j)
{
    return DQ_ERROR(DQ_EOVERFLOW,
                    "expdot: a %d-bit counter overflowed at output (%lld, %lld)"
                    " (reduction length %lld needs %d bits)",
                    e->hw_bits, (long long)i, (long long)j, (long long)e->N,
                    dq_expdot_counter_bits_needed(e->N));
}

int dq_expdot_dot(const dq_expdot *e, double *out, const dq_ecode *w,
                  const dq_ecode *a, dq_expdot_counts *counts)
{
    if (!e || !out || !w || !a)
        return DQ_ERROR(DQ_EINVAL, "expdot: NULL argument to dq_expdot_dot");
    DQ_TRY(validate_codes(w, e->N, e->p.K_w, "weight"));
    DQ_TRY(validate_codes(a, e->N, e->p.K_a, "activation"));
    void *scratch = malloc(scratch_bytes(e));
    if (!scratch) return DQ_ERROR(DQ_ENOMEM, "expdot: out of memory");
    dot_tally t = {0, 0, 0, 0};
    int bad = pick_dot(e)(e, out, w, a, scratch, &t);
    free(scratch);
    if (bad) return overflow_error(e, 0, 0);
    add_tally(counts, e, 1, &t);
    return DQ_OK;
}

/* out[i*os_i + j*os_j] = dot(a row i, w row j), i < P, j < M.  Codes are
 * validated by the caller.  Parallel over outputs; the first overflowing
 * output in row-major order is reported, so errors are deterministic. */
static int gemm_strided(const dq_expdot *e, double *out, int64_t os_i,
                        int64_t os_j, const dq_ecode *a, const dq_ecode *w,
                        int64_t P, int64_t M, dq_expdot_counts *counts)
{
    const dot_fn dot = pick_dot(e);
    const int64_t N = e->N, total = P * M;
    int64_t nz = 0, incs = 0, muls = 0, adds = 0;
    int64_t first_bad = INT64_MAX;
    int nomem = 0;
#pragma omp parallel if (total * N >= 65536) reduction(+ : nz, incs, muls, adds) \
    reduction(min : first_bad) reduction(| : nomem)
    {
        void *scratch = malloc(scratch_bytes(e));
        if (!scratch) nomem = 1;
        dot_tally t = {0, 0, 0, 0};
#pragma omp for schedule(static)
        for (int64_t o = 0; o < total; o++) {
            if (!scratch) continue;
            int64_t i = o / M, j = o % M;
            if (dot(e, &out[i * os_i + j * os_j], w + j * N, a + i * N,
                    scratch, &t) && o < first_bad)
                first_bad = o;
        }
        free(scratch);
        nz += t.nz;
        incs += t.incs;
        muls += t.muls;
        adds += t.adds;
    }
    if (nomem) return DQ_ERROR(DQ_ENOMEM, "expdot: out of memory");
    if (first_bad != INT64_MAX)
        return overflow_error(e, first_bad / M, first_bad % M);
    dot_tally t = {nz, incs, muls, adds};
    add_tally(counts, e, total, &t);
    return DQ_OK;
}

int dq_expdot_gemm(const dq_expdot *e, double *out, const dq_ecode *a,
                   const dq_ecode *w, int64_t P, int64_t M,
                   dq_expdot_counts *counts)
{
    if (!e || !out || !a || !w)
        return DQ_ERROR(DQ_EINVAL, "expdot: NULL argument to dq_expdot_gemm");
    if (P < 1 || M < 1 || P > INT64_MAX / M / e->N)
        return DQ_ERROR(DQ_EINVAL, "expdot: gemm of %lld x %lld outputs",
                        (long long)P, (long long)M);
    DQ_TRY(validate_codes(w, M * e->N, e->p.K_w, "weight"));
    DQ_TRY(validate_codes(a, P * e->N, e->p.K_a, "activation"));
    return gemm_strided(e, out, M, 1, a, w, P, M, counts);
}

int dq_expdot_conv2d(const dq_expdot *e, double *out, const dq_ecode *inp,
                     const dq_ecode *weight, int B, int C, int H, int W,
                     int OC, int kh, int kw, int stride_h, int stride_w,
                     int pad_h, int pad_w, int dil_h, int dil_w, int groups,
                     dq_expdot_counts *counts)
{
    if (!e || !out || !inp || !weight)
        return DQ_ERROR(DQ_EINVAL, "expdot: NULL argument to dq_expdot_conv2d");
    int OH, OW;
    if (B < 1) return DQ_ERROR(DQ_EINVAL, "expdot: conv2d batch %d < 1", B);
    DQ_TRY(dq_conv2d_output_size(&OH, &OW, C, H, W, OC, kh, kw, stride_h,
                                 stride_w, pad_h, pad_w, dil_h, dil_w, groups));
    const int Cg = C / groups, OCg = OC / groups;
    const int64_t N = (int64_t)Cg * kh * kw, OHW = (int64_t)OH * OW;
    if (N != e->N)
        return DQ_ERROR(DQ_EINVAL,
                        "expdot: conv2d reduction (C/groups)*kh*kw = %lld, "
                        "layer was built for %lld",
                        (long long)N, (long long)e->N);
    DQ_TRY(validate_codes(weight, (int64_t)OC * N, e->p.K_w, "weight"));
    DQ_TRY(validate_codes(inp, (int64_t)B * C * H * W, e->p.K_a,
                          "activation"));

    /* im2col of codes: patches (OH*OW, N), row = one output position */
    dq_ecode *patches = malloc(sizeof(dq_ecode) * (size_t)(OHW * N));
    if (!patches) return DQ_ERROR(DQ_ENOMEM, "expdot: out of memory");
    int st = DQ_OK;
    for (int b = 0; b < B && st == DQ_OK; b++) {
        for (int g = 0; g < groups && st == DQ_OK; g++) {
            const dq_ecode *inp_bg = inp + ((int64_t)b * C + (int64_t)g * Cg) * H * W;
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    dq_ecode *row = patches + ((int64_t)oh * OW + ow) * N;
                    for (int c = 0; c < Cg; c++)
                        for (int i = 0; i < kh; i++)
                            for (int j = 0; j < kw; j++) {
                                int y = oh * stride_h - pad_h + i * dil_h;
                                int x = ow * stride_w - pad_w + j * dil_w;
                                *row++ = (y < 0 || y >= H || x < 0 || x >= W)
                                             ? (dq_ecode)DQ_ECODE_ZERO
                                             : inp_bg[((int64_t)c * H + y) * W + x];
                            }
                }
            /* out[b, g*OCg + j, p] for output position p, filter j */
            double *out_bg = out + ((int64_t)b * OC + (int64_t)g * OCg) * OHW;
            const dq_ecode *w_g = weight + (int64_t)g * OCg * N;
            st = gemm_strided(e, out_bg, 1, OHW, patches, w_g, OHW, OCg, counts);
        }
    }
    free(patches);
    return st;
}

int dq_expdot_matmul(const dq_expdot *e, double *out, const dq_ecode *a,
                     const dq_ecode *b, int64_t G, int64_t M, int64_t K,
                     int64_t N, dq_expdot_counts *counts)
{
    if (!e || !out || !a || !b)
        return DQ_ERROR(DQ_EINVAL, "expdot: NULL argument to dq_expdot_matmul");
    if (G < 1 || M < 1 || N < 1 || K != e->N)
        return DQ_ERROR(DQ_EINVAL,
                        "expdot: matmul (%lld, %lld, %lld) x (%lld, %lld, %lld) "
                        "with a layer built for K = %lld",
                        (long long)G, (long long)M, (long long)K, (long long)G,
                        (long long)K, (long long)N, (long long)e->N);
    DQ_TRY(validate_codes(a, G * M * K, e->p.K_a, "activation"));
    DQ_TRY(validate_codes(b, G * K * N, e->p.K_w, "weight"));
    dq_ecode *bt = malloc(sizeof(dq_ecode) * (size_t)(K * N));
    if (!bt) return DQ_ERROR(DQ_ENOMEM, "expdot: out of memory");
    int st = DQ_OK;
    for (int64_t g = 0; g < G && st == DQ_OK; g++) {
        const dq_ecode *b_g = b + g * K * N; /* (K, N) -> bt (N, K) */
        for (int64_t k = 0; k < K; k++)
            for (int64_t n = 0; n < N; n++) bt[n * K + k] = b_g[k * N + n];
        st = gemm_strided(e, out + g * M * N, N, 1, a + g * M * K, bt, M, N,
                          counts);
    }
    free(bt);
    return st;
}

int dq_expdot_codes_from_quant(dq_ecode *out, const int32_t *codes, int64_t n,
                               int bits, int is_signed, int zero_code,
                               int chan_zero)
{
    if (!out || (!codes && n > 0) || n < 0)
        return DQ_ERROR(DQ_EINVAL, "expdot: bad argument to codes_from_quant");
    if (bits < 1 || bits > 9 || (is_signed && bits < 2))
        return DQ_ERROR(DQ_EINVAL, "expdot: %d-bit %s codes unsupported", bits,
                        is_signed ? "signed" : "unsigned");
    const int mag_bits = bits - (is_signed ? 1 : 0);
    const int32_t mag_mask = (1 << mag_bits) - 1;
    for (int64_t i = 0; i < n; i++) {
        int32_t c = codes[i];
        if (c < 0 || c >= (1 << bits))
            return DQ_ERROR(DQ_EINVAL, "expdot: code %lld = %d outside 0..%d",
                            (long long)i, (int)c, (1 << bits) - 1);
        int32_t j = c & mag_mask;
        int neg = is_signed && ((c >> mag_bits) & 1);
        if (chan_zero || (zero_code && j == 0))
            out[i] = (dq_ecode)DQ_ECODE_ZERO;
        else
            out[i] = dq_ecode_make(neg, j - (zero_code ? 1 : 0));
    }
    return DQ_OK;
}

/* ---- from the quantizer ------------------------------------------------ */

/* expq's p[]: base, alpha, beta, K (src/quant/expq.c). */
enum { QP_BASE, QP_ALPHA, QP_BETA, QP_K };

static int check_expq(const dq_qparams *q, const char *role)
{
    if (!q || !q->scheme || !q->chan)
        return DQ_ERROR(DQ_EINVAL, "expdot: no %s parameters", role);
    if (strcmp(q->scheme->name, "expq") != 0)
        return DQ_ERROR(DQ_EUNSUP, "expdot: %s quantized with '%s', the "
                        "exponential domain needs 'expq'", role, q->scheme->name);
    if (q->nchan != 1)
        return DQ_ERROR(DQ_EUNSUP, "expdot: %s has per-channel parameters; "
                        "the exponential domain needs one base per layer", role);
    return DQ_OK;
}

int dq_expdot_params_from_quant(dq_expdot_params *p, const dq_qparams *w,
                                const dq_qparams *a)
{
    if (!p) return DQ_ERROR(DQ_EINVAL, "expdot: NULL parameters");
    DQ_TRY(check_expq(w, "weight"));
    DQ_TRY(check_expq(a, "activation"));
    const dq_qchan *cw = &w->chan[0], *ca = &a->chan[0];
    if (!cw->zero && !ca->zero && cw->p[QP_BASE] != ca->p[QP_BASE])
        return DQ_ERROR(DQ_EINVAL, "expdot: weight base %.17g != activation "
                        "base %.17g: a layer must share one base",
                        cw->p[QP_BASE], ca->p[QP_BASE]);
    memset(p, 0, sizeof *p);
    /* an all-zero tensor has only zero codes: any levels will do */
    p->base = !cw->zero ? cw->p[QP_BASE] : !ca->zero ? ca->p[QP_BASE] : 2.0;
    p->K_w = cw->zero ? 1 : (int)cw->p[QP_K];
    p->alpha_w = cw->zero ? 1.0 : cw->p[QP_ALPHA];
    p->beta_w = cw->zero ? 0.0 : cw->p[QP_BETA];
    p->K_a = ca->zero ? 1 : (int)ca->p[QP_K];
    p->alpha_a = ca->zero ? 1.0 : ca->p[QP_ALPHA];
    p->beta_a = ca->zero ? 0.0 : ca->p[QP_BETA];
    return DQ_OK;
}

int dq_expdot_encode(dq_ecode *out, const dq_qparams *q, const float *x,
                     int64_t n)
{
    DQ_TRY(check_expq(q, "tensor"));
    if (!out || n < 1) return DQ_ERROR(DQ_EINVAL, "expdot: bad encode output");
    int32_t *codes = malloc(sizeof(int32_t) * (size_t)n);
    if (!codes) return DQ_ERROR(DQ_ENOMEM, "expdot: out of memory");
    const dq_qchan *c = &q->chan[0];
    int st = dq_quant_encode(q, x, n, codes);
    if (st == DQ_OK)
        st = dq_expdot_codes_from_quant(out, codes, n, c->bits, c->is_signed,
                                        c->zero_code, c->zero);
    free(codes);
    return st;
}

/* ---- reference --------------------------------------------------------- */

static double dequant(dq_ecode c, int K, double base, double alpha,
                      double beta)
{
    if (c & DQ_ECODE_ZERO) return 0.0;
    int k = (int)(c & DQ_ECODE_EXP_MASK);
    if (k >= K) return NAN;
    double v = alpha * pow(base, (double)(k - (K - 1))) + beta;
    return (c & DQ_ECODE_NEG) ? -v : v;
}

double dq_expdot_dequant_w(const dq_expdot_params *p, dq_ecode c)
{
    return dequant(c, p->K_w, p->base, p->alpha_w, p->beta_w);
}

double dq_expdot_dequant_a(const dq_expdot_params *p, dq_ecode c)
{
    return dequant(c, p->K_a, p->base, p->alpha_a, p->beta_a);
}

int dq_expdot_reference(const dq_expdot_params *p, double *out,
                        double *abs_sum, const dq_ecode *w, const dq_ecode *a,
                        int64_t N)
{
    if (!p || !out || !w || !a || N < 0)
        return DQ_ERROR(DQ_EINVAL, "expdot: bad argument to dq_expdot_reference");
    DQ_TRY(validate_codes(w, N, p->K_w, "weight"));
    DQ_TRY(validate_codes(a, N, p->K_a, "activation"));
    double s = 0.0, comp = 0.0, as = 0.0; /* Neumaier summation */
    for (int64_t i = 0; i < N; i++) {
        double x = dq_expdot_dequant_w(p, w[i]) * dq_expdot_dequant_a(p, a[i]);
        double t = s + x;
        comp += fabs(s) >= fabs(x) ? (s - t) + x : (x - t) + s;
        s = t;
        as += fabs(x);
    }
    *out = s + comp;
    if (abs_sum) *abs_sum = as;
    return DQ_OK;
}
