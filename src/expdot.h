/*
 * expdot.h — exact dot products in the exponential domain (DESIGN §1.3).
 *
 * A layer quantized with DNA-TEQ holds, for every weight and activation, a
 * sign, an exponent code and a zero flag.  With one base b shared by the
 * layer's weights and activations,
 *
 *     ŵ = s_w (α_w b^(p - (K_w-1)) + β_w),   â = s_a (α_a b^(q - (K_a-1)) + β_a)
 *
 * (p in 0..K_w-1, q in 0..K_a-1; a zero code is an exact 0), and
 *
 *     Σ ŵ_i â_i = α_w α_a Σ_k C1[k] b^(k - (K_w+K_a-2))
 *               + α_w β_a Σ_p C2[p] b^(p - (K_w-1))
 *               + β_w α_a Σ_q C3[q] b^(q - (K_a-1))
 *               + β_w β_a C4
 *
 * where C1[k] adds s_w·s_a (±1) for every i with p_i + q_i = k
 * (K_w + K_a - 1 bins; 2K-1 when K_w = K_a = K), C2 the same by p, C3 by q
 * and C4 = Σ_k C1[k] in total.  The inner loop is therefore one exponent
 * add, one sign XOR and a counter increment (C2 is kept only when
 * β_a != 0, C3 only when β_w != 0; C4 is summed from C1 in the combine
 * when both are non-zero).  The counters are exact integers; the combine
 * runs once per output in FP64 with powers of b precomputed per layer.
 *
 * Counters.  Each counter's value lies in [-N, N] for a reduction of
 * length N, so it needs ceil(log2(N+1)) + 1 bits.  dq_expdot_alloc() picks
 * int16, int32 or int64 storage from N; it cannot overflow.  A caller may
 * force a narrower hardware width (params.counter_bits): then every
 * increment is range-checked and leaving [-2^(w-1), 2^(w-1)-1] is a
 * DQ_EOVERFLOW error — the detection the hardware would need.
 *
 * Contract.  Outputs first, then inputs, then dimensions (ops.h style).
 * The kernels never alias; `counts` may be NULL, otherwise the operations
 * performed are ADDED to it (so one struct can total a whole network).
 * Results and counts are identical at any OpenMP thread count.  Errors
 * follow error.h (DQ_EINVAL for bad arguments, DQ_EOVERFLOW, DQ_ENOMEM).
 */
#ifndef DQ_EXPDOT_H
#define DQ_EXPDOT_H

#include "quant/quant.h"

#include <stdint.h>

/* ---- codes ------------------------------------------------------------ */

/* One quantized value: exponent code in the low 8 bits, sign bit, zero
 * flag.  A zero code ignores the other bits. */
typedef uint16_t dq_ecode;

#define DQ_ECODE_EXP_MASK 0x00FFu
#define DQ_ECODE_NEG 0x0100u
#define DQ_ECODE_ZERO 0x8000u
#define DQ_EXPDOT_KMAX 256 /* exponent codes 0..255 */

static inline dq_ecode dq_ecode_make(int negative, int exponent)
{
    return (dq_ecode)((negative ? DQ_ECODE_NEG : 0u) |
                      ((unsigned)exponent & DQ_ECODE_EXP_MASK));
}

/* Convert one channel of quant.h sign-magnitude codes (code = sign <<
 * (bits-1) | j; j = 0 is exact zero when zero_code, level k is j = k +
 * zero_code; unsigned: code = j) into dq_ecode.  chan_zero (an all-zero
 * channel, dq_qchan.zero) maps every code to the zero code.  DQ_EINVAL on
 * a code outside 0..2^bits-1 or bits outside 1..9. */
int dq_expdot_codes_from_quant(dq_ecode *out, const int32_t *codes, int64_t n,
                               int bits, int is_signed, int zero_code,
                               int chan_zero);

/* ---- a layer's parameters ------------------------------------------- */

typedef struct {
    int K_w, K_a;   /* magnitude levels of weights / activations, 1..256 */
    double base;    /* shared base b > 1 */
    double alpha_w, beta_w; /* weight levels α_w b^(p-(K_w-1)) + β_w */
    double alpha_a, beta_a; /* activation levels α_a b^(q-(K_a-1)) + β_a */
    int counter_bits; /* 0: sized from N (never overflows); 2..64: force
                         this hardware width, range-checked */
} dq_expdot_params;

/* Operations performed, added up over calls. */
typedef struct {
    int64_t outputs;      /* dot products combined */
    int64_t pairs;        /* code pairs visited (= MACs of the layer) */
    int64_t pairs_nz;     /* pairs with neither code zero */
    int64_t exp_adds;     /* exponent additions p + q */
    int64_t sign_xors;    /* sign XORs */
    int64_t counter_incs; /* counter increments (C1, C2, C3) */
    int64_t combine_muls; /* per-output FP64 multiplies */
    int64_t combine_adds; /* per-output adds (incl. C4 = Σ C1) */
} dq_expdot_counts;

/* A layer ready to run: parameters, powers of b, counter width for
 * reductions of length N.  Immutable after alloc; share across threads. */
typedef struct dq_expdot dq_expdot;

/* NULL with the error set on bad parameters (K out of 1..256, base <= 1 or
 * not finite, non-finite α/β, N < 1, counter_bits not 0 or 2..64). */
dq_expdot *dq_expdot_alloc(const dq_expdot_params *p, int64_t N);
void dq_expdot_free(dq_expdot *e);

int64_t dq_expdot_length(const dq_expdot *e);
/* Bits the counters of this layer need: ceil(log2(N+1)) + 1. */
int dq_expdot_counter_bits_needed(int64_t N);
/* Hardware width in use (needed width, or the forced one) and the
 * storage width of the counters (16, 32 or 64). */
int dq_expdot_counter_bits(const dq_expdot *e);
int dq_expdot_counter_storage_bits(const dq_expdot *e);

/* Per-output combine cost of this layer (what dq_expdot_counts adds per
 * output): muls and adds. */
void dq_expdot_combine_cost(const dq_expdot *e, int64_t *muls, int64_t *adds);

/* ---- kernels ---------------------------------------------------------- */

/* *out = Σ_i ŵ_i â_i for w, a of length N (the layer's N).  Codes whose
 * exponent is >= K (of their tensor) are DQ_EINVAL. */
int dq_expdot_dot(const dq_expdot *e, double *out, const dq_ecode *w,
                  const dq_ecode *a, dq_expdot_counts *counts);

/* out (P, M) = a (P, N) . w (M, N)^T: linear layers (P = batch·tokens,
 * M = output features) and im2col'ed convolutions.  Both operands are
 * contiguous along the reduction N. */
int dq_expdot_gemm(const dq_expdot *e, double *out, const dq_ecode *a,
                   const dq_ecode *w, int64_t P, int64_t M,
                   dq_expdot_counts *counts);

/* out (B, OC, OH, OW) = conv2d of inp (B, C, H, W) codes with weight
 * (OC, C/groups, kh, kw) codes; padding reads as a zero code.  The layer
 * must have N = (C/groups)·kh·kw.  No bias (the caller adds it). */
int dq_expdot_conv2d(const dq_expdot *e, double *out, const dq_ecode *inp,
                     const dq_ecode *weight, int B, int C, int H, int W,
                     int OC, int kh, int kw, int stride_h, int stride_w,
                     int pad_h, int pad_w, int dil_h, int dil_w, int groups,
                     dq_expdot_counts *counts);

/* out (G, M, N) = a (G, M, K) x b (G, K, N), a in the activation role and
 * b in the weight role; the layer must have N = K. */
int dq_expdot_matmul(const dq_expdot *e, double *out, const dq_ecode *a,
                     const dq_ecode *b, int64_t G, int64_t M, int64_t K,
                     int64_t N, dq_expdot_counts *counts);

/* ---- from the quantizer (quant.h, scheme "expq") --------------------- */

/* Layer parameters from the per-tensor expq parameters of a layer's
 * weights and input activations (p[] = base, alpha, beta, K).  The two
 * must share one base (dq_expq_search_pair, or calibration with
 * opts.fixed_base): DQ_EINVAL otherwise; DQ_EUNSUP for another scheme or
 * per-channel parameters.  counter_bits = 0.  An all-zero tensor gets
 * α = 1, β = 0 (its codes are all zero codes). */
int dq_expdot_params_from_quant(dq_expdot_params *p, const dq_qparams *w,
                                const dq_qparams *a);
/* out[0..n) = codes of x under per-tensor expq parameters (a dq_qparams). */
int dq_expdot_encode(dq_ecode *out, const dq_qparams *q, const float *x,
                     int64_t n);

/* ---- the dequantized reference --------------------------------------- */

/* ŵ and â of one code (0 for a zero code). */
double dq_expdot_dequant_w(const dq_expdot_params *p, dq_ecode c);
double dq_expdot_dequant_a(const dq_expdot_params *p, dq_ecode c);

/* *out = Σ ŵ_i â_i in FP64 with compensated (Neumaier) summation;
 * *abs_sum (may be NULL) = Σ |ŵ_i â_i|, the error scale of the sum. */
int dq_expdot_reference(const dq_expdot_params *p, double *out,
                        double *abs_sum, const dq_ecode *w, const dq_ecode *a,
                        int64_t N);

#endif
