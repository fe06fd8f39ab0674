/*
 * quant.h — the one interface behind which every quantization scheme lives.
 *
 * A scheme (uniform, expq = DNA-TEQ, log2, apot, kmeans, mokey-like,
 * sparq, ...) is a dq_quant_scheme: a name, a report label and a small
 * vtable that works on ONE channel (a contiguous slice of a tensor):
 *
 *     calibrate(x, n, opts) -> dq_qchan (its parameters; the channel
 *                                 arrives with bits, is_signed set)
 *     encode    x -> int32 codes          decode  codes -> float values
 *     fake      x -> Q(x) in place        levels  the representable values
 *     describe  one line for reports
 *
 * The generic layer (quant.c) does everything else, once, for every
 * scheme: argument validation (NaN/Inf, empty tensor, bits outside 2..8),
 * signedness (auto / forced), per-tensor vs per-output-channel (axis 0)
 * splitting, all-zero channels, OpenMP over channels, and error metrics.
 * The search and the engine only ever call dq_quant_* and never
 * special-case a scheme.
 *
 * Adding a scheme = one file src/quant/<name>.c that defines
 * `const dq_quant_scheme dq_scheme_<name>` plus one X(<name>) entry in the
 * DQ_SCHEMES list of src/quant/registry.c.
 *
 * Shared cores for scheme writers (do not write a second copy):
 *   - dq_codebook (codebook.c): a sorted level table with nearest-level
 *     rounding by linear-domain midpoints, sign-magnitude or plain table;
 *     expq, log2, apot, kmeans and mokey-like use it for encode/decode/fake.
 *   - dq_uniform_qparams (uniform.c): PyTorch's _calculate_qparams.
 *   - dq_qhist (hist.c): a log-spaced histogram of |x| with exact per-bin
 *     sums, and O(bins + K) objective evaluation of any codebook on it.
 *   - dq_quant_error (quant.c): RMAE, MSE and SQNR.
 *
 * Conventions.
 *   - bits is 2..8 for every scheme (DQ_EINVAL otherwise).
 *   - Rounding: uniform rounds half to even (nearbyint, as torch.round);
 *     codebooks send a value exactly on a midpoint to the level of smaller
 *     magnitude (plain tables: to the lower level).
 *   - Signed/unsigned: opts->sign_mode; DQ_SIGN_AUTO means signed iff the
 *     tensor has a value < 0.  An unsigned codebook maps values < 0 like 0.
 *   - All-zero channel (every element == 0, documented exact result):
 *     calibration succeeds, dq_qchan.zero = 1, and for every scheme that
 *     channel quantizes every input to exactly 0.0f, encodes to code 0 and
 *     decodes any code to 0.0f; levels() = {0}.  RMAE of an all-zero
 *     tensor is defined as 0 (see dq_quant_error).
 *   - Codes are int32.  Uniform: the integer q in [qmin, qmax] (value =
 *     (q - zero_point) * scale).  Sign-magnitude codebooks (DESIGN §1.1):
 *     code = sign << (bits-1) | j, with j = 0 for exact zero when the zero
 *     code is on and j = k + zero_code for level k (unsigned: code = j).
 *     Plain tables: code = index into the sorted value table.
 *
 * Thread safety: everything here is reentrant; errors are thread-local
 * (error.h).  Results are byte-identical for any OpenMP thread count.
 */
#ifndef DQ_QUANT_H
#define DQ_QUANT_H

#include "config.h"
#include "tensor.h"

#include <stddef.h>
#include <stdint.h>

#define DQ_QBITS_MIN 2
#define DQ_QBITS_MAX 8
#define DQ_QP_MAX 8        /* scheme parameters per channel */
#define DQ_CB_MAX 256      /* levels in one codebook */

/* ---- options: the union of every scheme's knobs ------------------------ */

typedef enum { DQ_SIGN_AUTO = 0, DQ_SIGN_SIGNED, DQ_SIGN_UNSIGNED } dq_sign_mode;
typedef enum {
    DQ_CALIB_MINMAX = 0,
    DQ_CALIB_PERCENTILE,
    DQ_CALIB_MSE,
    DQ_CALIB_KL
} dq_calibrator;
typedef enum { DQ_OBJ_RMAE = 0, DQ_OBJ_MSE, DQ_OBJ_KL } dq_objective;
typedef enum { DQ_AB_CLOSED = 0, DQ_AB_GRID } dq_ab_mode;

typedef struct {
    /* every scheme */
    dq_sign_mode sign_mode;  /* default AUTO */
    int per_channel;         /* 1: parameters per slice of axis 0; default 0 */
    int zero_code;           /* reserve a code for exact 0; default 1 */
    /* uniform (and uniform-based schemes, e.g. sparq) */
    int symmetric;           /* 1 symmetric, 0 affine; default 1 */
    dq_calibrator calibrator;/* default MINMAX */
    double percentile;       /* PERCENTILE: default 99.99 */
    int calib_bins;          /* PERCENTILE/MSE/KL histogram of |x|: 2048 */
    int calib_start_bin;     /* MSE/KL: first candidate bin: 128 */
    /* expq (DNA-TEQ) and other searched schemes (apot alpha, ...) */
    dq_objective objective;  /* default RMAE */
    int hist_bins;           /* log-spaced |x| histogram: 4096 */
    double base_max;         /* base grid in (1, base_max]: 4.0 */
    int base_grid;           /* grid points before golden section: 48 */
    double base_tol;         /* golden-section tolerance on ln(ln base): 1e-4 */
    dq_ab_mode ab_mode;      /* alpha/beta: closed form (Lloyd LS) or grid */
    int lloyd_iters;         /* closed form: LS/assignment rounds: 12 */
    int refine_evals;        /* closed form, RMAE/KL objective: compass
                                search on (alpha, beta) after least squares,
                                at most this many evaluations (16x at
                                the chosen base): 12 */
    int ab_grid;             /* grid mode: points per axis: 24 */
    double fixed_base;       /* > 1: use this base, no base search (shared
                                base of a layer); 0: search (default) */
    int exact;               /* 1: evaluate objectives on every element
                                instead of the histogram (reference/bench) */
    uint64_t seed;           /* for schemes with random steps; default 0 */
    /* sparq */
    int sparq_shift_opt;     /* window placements (sparq.h): 0 = every bit
                                offset (default), else evenly spaced */
} dq_quant_opts;

void dq_quant_opts_default(dq_quant_opts *o);
/* Checks ranges; DQ_EINVAL naming the bad field. */
int dq_quant_opts_check(const dq_quant_opts *o);

/* Config keys of section [quant] (same names as the fields; enums as
 * strings: sign_mode auto|signed|unsigned, calibrator
 * minmax|percentile|mse|kl, objective rmae|mse|kl, ab_mode closed|grid). */
extern const dq_cfg_key dq_quant_keys[];
/* Fill o from section `section` of c (keys as in dq_quant_keys; the
 * section name in the table is "quant", pass "quant" unless a driver
 * declares a copy of the table under another name). */
int dq_quant_opts_from_config(const dq_config *c, const char *section,
                              dq_quant_opts *o);
const char *dq_calibrator_name(dq_calibrator c);
const char *dq_objective_name(dq_objective o);

/* ---- codebook: sorted levels + nearest by midpoint (codebook.c) -------- */

typedef enum {
    DQ_CB_SIGNMAG = 0, /* value = sign * mag[k]; optional exact-zero code */
    DQ_CB_TABLE        /* value = lev[i] of a sorted table (may be < 0) */
} dq_cb_kind;

typedef struct {
    dq_cb_kind kind;
    int bits;
    int is_signed;     /* SIGNMAG: a sign bit is present */
    int zero_code;     /* SIGNMAG: code j = 0 is exact 0 */
    int K;             /* SIGNMAG: non-zero magnitudes; TABLE: values */
    /* Ascending, rounded to float (so Q(Q(x)) == Q(x) exactly).
     * SIGNMAG: magnitudes > 0; TABLE: values. */
    double lev[DQ_CB_MAX];
    /* thr[i] = midpoint of lev[i], lev[i+1]; thr0 = lev[0]/2 (SIGNMAG
     * with zero code: |x| <= thr0 -> 0). */
    double thr[DQ_CB_MAX];
    double thr0;
} dq_codebook;

/* SIGNMAG codebook from K magnitudes (any order, > 0, finite).  K must
 * satisfy K <= 2^(bits - is_signed) - zero_code.  Magnitudes equal after
 * rounding to float are kept (they map to the lower index). */
int dq_codebook_signmag(dq_codebook *cb, int bits, int is_signed,
                        int zero_code, const double *mag, int K);
/* TABLE codebook from K values (any order, finite), K <= 2^bits. */
int dq_codebook_table(dq_codebook *cb, int bits, const double *val, int K);
/* One element: code, value of a code, Q(x).  Arrays: the same per element. */
int32_t dq_codebook_encode1(const dq_codebook *cb, float x);
float dq_codebook_decode1(const dq_codebook *cb, int32_t code);
float dq_codebook_fake1(const dq_codebook *cb, float x);
void dq_codebook_encode(const dq_codebook *cb, const float *x, int64_t n,
                        int32_t *codes);
void dq_codebook_decode(const dq_codebook *cb, const int32_t *codes,
                        int64_t n, float *y);
void dq_codebook_fake(const dq_codebook *cb, float *x, int64_t n);
/* Sorted distinct representable values into out (capacity >= 2*DQ_CB_MAX+1);
 * returns their count. */
int dq_codebook_levels(const dq_codebook *cb, double *out);

/* ---- per-channel parameters -------------------------------------------- */

typedef struct {
    int bits;
    int is_signed;
    int zero_code;
    int zero;                /* all-zero channel: Q == 0 (see above) */
    double p[DQ_QP_MAX];     /* scheme parameters, named by param_names */
    double objective;        /* search objective at p (NaN if none) */
    dq_codebook *cb;         /* codebook schemes; NULL otherwise; owned */
} dq_qchan;

/* Allocate c->cb (zeroed); freed by dq_qparams_free. */
int dq_qchan_cb_alloc(dq_qchan *c);

/* ---- schemes ------------------------------------------------------------ */

enum {
    DQ_QS_UNSIGNED_ONLY = 1u << 0, /* rejects signed tensors (sparq) */
    DQ_QS_ELEMENTWISE = 1u << 1,   /* Q(x_i) depends on x_i only */
};

typedef struct dq_quant_scheme {
    const char *name;   /* registry key: "uniform", "expq", ... */
    const char *label;  /* report label: "Uniform", "DNA-TEQ", "Mokey-like" */
    const char *const *param_names; /* NULL-terminated names of p[] */
    unsigned flags;     /* DQ_QS_* */
    /* Fit one channel: x[0..n) is finite, n > 0, not all zero.  c->bits,
     * is_signed, zero_code are set (zero_code from opts; a scheme without
     * a zero code may clear it); p[] is zeroed; objective NaN. */
    int (*calibrate)(const float *x, int64_t n, const dq_quant_opts *o,
                     dq_qchan *c);
    void (*encode)(const dq_qchan *c, const float *x, int64_t n,
                   int32_t *codes);
    void (*decode)(const dq_qchan *c, const int32_t *codes, int64_t n,
                   float *y);
    /* In-place Q(x); NULL: the generic layer does encode + decode. */
    void (*fake)(const dq_qchan *c, float *x, int64_t n);
    /* Sorted distinct values Q can produce; out has room for 2*DQ_CB_MAX+1
     * doubles; returns the count. */
    int (*levels)(const dq_qchan *c, double *out);
    /* One line of parameters, e.g. "base=1.83 alpha=0.41 beta=-0.002". */
    void (*describe)(const dq_qchan *c, char *buf, size_t len);
    /* Bits a stored code takes when that is not `bits`; 0: `bits`.  sparq:
     * 8 (its n-bit window is picked per value from the stored INT8 code at
     * compute time, so its `bits` is the multiplier width, not storage). */
    int storage_bits;
    /* Optional, for a scheme whose parameters the two operands of one
     * layer share (expq: one base for a layer's weight and input, DESIGN
     * §1.1): fix the shared values for the pair x0 (bits0) and x1 (bits1)
     * in both o0 and o1, so that calibrating each operand with its
     * options gives the pair's parameters (expq: fixed_base = the base
     * minimising objective_0 + objective_1; o0's search settings).
     * Called by dq_quant_share with validated, not all-zero inputs and
     * resolved signedness.  NULL: the scheme shares nothing. */
    int (*share)(const float *x0, int64_t n0, int bits0, int signed0,
                 const float *x1, int64_t n1, int bits1, int signed1,
                 dq_quant_opts *o0, dq_quant_opts *o1);
    /* Optional companions of share (all three or none): share_prep does
     * once the part of share() that depends on one operand alone (expq:
     * its histogram and its fits on the base grid), share_prepped then
     * does exactly what share() does on two prepared operands, so that a
     * search over many pairs of bitwidths pays that part once per
     * (operand, bits) (dq_quant_share_prep); share_prep_free releases a
     * prepared operand.  share_prep returns NULL with the error set. */
    void *(*share_prep)(const float *x, int64_t n, int bits, int is_signed,
                        const dq_quant_opts *o);
    int (*share_prepped)(const void *p0, const void *p1, dq_quant_opts *o0,
                         dq_quant_opts *o1);
    void (*share_prep_free)(void *p);
} dq_quant_scheme;

/* vtable entries for codebook schemes (the channel's codebook is c->cb):
 * dq_codebook_encode/decode/fake/levels on c->cb (codebook.c). */
void dq_qchan_cb_encode(const dq_qchan *c, const float *x, int64_t n,
                        int32_t *codes);
void dq_qchan_cb_decode(const dq_qchan *c, const int32_t *codes, int64_t n,
                        float *y);
void dq_qchan_cb_fake(const dq_qchan *c, float *x, int64_t n);
int dq_qchan_cb_levels(const dq_qchan *c, double *out);

/* Registry (registry.c).  dq_quant_find returns NULL with DQ_EUNSUP and a
 * message listing the known names. */
const dq_quant_scheme *dq_quant_find(const char *name);
int dq_quant_count(void);
const dq_quant_scheme *dq_quant_get(int i); /* 0 <= i < count, else NULL */

/* ---- quantized-tensor parameters (quant.c) ----------------------------- */

typedef struct {
    const dq_quant_scheme *scheme;
    int bits;
    int is_signed;
    int per_channel;
    int64_t nchan;       /* 1, or shape[0] when per_channel */
    int64_t chan_size;   /* elements per channel */
    dq_qchan *chan;      /* nchan entries */
    dq_quant_opts opts;  /* the options it was calibrated with */
} dq_qparams;

/* Calibrate scheme s on t at `bits`.  Per channel (opts->per_channel) the
 * slices of axis 0 get separate parameters (rank >= 1).  Errors: NULL with
 * DQ_EINVAL for NaN/Inf ("<name>: element 12 is NaN"), an empty tensor or
 * bits outside 2..8; DQ_EUNSUP for a signed tensor given to an
 * unsigned-only scheme. */
dq_qparams *dq_quant_calibrate(const dq_quant_scheme *s, const dq_tensor *t,
                               int bits, const dq_quant_opts *o);
/* The same on raw data: nchan slices of chan_size contiguous elements. */
dq_qparams *dq_quant_calibrate_raw(const dq_quant_scheme *s, const char *name,
                                   const float *x, int64_t nchan,
                                   int64_t chan_size, int bits,
                                   const dq_quant_opts *o);
void dq_qparams_free(dq_qparams *p);
dq_qparams *dq_qparams_clone(const dq_qparams *p);

/* Apply.  Per-tensor parameters accept any n > 0 (activations of any
 * batch); per-channel ones need n == nchan * chan_size.  Non-finite input
 * gives DQ_EINVAL (the output is then unspecified). */
int dq_quant_fake(const dq_qparams *p, float *x, int64_t n);
int dq_quant_fake_tensor(const dq_qparams *p, dq_tensor *t);
int dq_quant_encode(const dq_qparams *p, const float *x, int64_t n,
                    int32_t *codes);
int dq_quant_decode(const dq_qparams *p, const int32_t *codes, int64_t n,
                    float *y);
/* Representable values of channel ch, sorted; returns count (>= 1) or -1
 * with the error set.  out capacity: 2*DQ_CB_MAX+1. */
int dq_quant_levels(const dq_qparams *p, int64_t ch, double *out);
/* "expq 4b signed zc per-tensor: base=... alpha=... beta=..." (channel 0
 * and ranges over channels when per channel). */
void dq_quant_describe(const dq_qparams *p, char *buf, size_t len);

/* ---- error metrics (quant.c) -------------------------------------------- */

typedef struct {
    double rmae;    /* sum|x-q| / sum|x|; 0 when both sums are 0; +inf when
                       only sum|x| is 0 */
    double mse;     /* mean (x-q)^2 */
    double sqnr_db; /* 10 log10(sum x^2 / sum (x-q)^2); +inf when no error */
    double abs_err, abs_sum, sq_err, sq_sum; /* the raw sums */
    int64_t n;
} dq_qerror;

/* Sums in double in a fixed order (deterministic). */
void dq_quant_error(const float *x, const float *q, int64_t n, dq_qerror *e);
/* Operands sharing parameters (a layer's weight and input; the two inputs
 * of a matmul).  Validates both like dq_quant_calibrate_raw (name0/name1
 * in messages), then lets s->share fix the shared values in o0 and o1;
 * *shared = 1 when it did, 0 when the scheme shares nothing (s->share
 * NULL) or an operand is all zero (o0, o1 unchanged).  Then calibrate
 * operand k with o_k as usual. */
int dq_quant_share(const dq_quant_scheme *s, const char *name0,
                   const float *x0, int64_t n0, int bits0, const char *name1,
                   const float *x1, int64_t n1, int bits1, dq_quant_opts *o0,
                   dq_quant_opts *o1, int *shared);
/* The same in two steps, for many pairs over the same operands: one
 * operand validated (name in messages) and, when the scheme has
 * share_prep, prepared with o (x must outlive it; NULL with the error
 * set) ... */
typedef struct dq_qshare dq_qshare;
dq_qshare *dq_quant_share_prep(const dq_quant_scheme *s, const char *name,
                               const float *x, int64_t n, int bits,
                               const dq_quant_opts *o);
void dq_qshare_free(dq_qshare *p); /* NULL is a no-op */
/* ... then dq_quant_share of two prepared operands (of the same scheme;
 * o0, o1 with the sign_mode they were prepared with): the same result. */
int dq_quant_share_prepped(const dq_qshare *p0, const dq_qshare *p1,
                           dq_quant_opts *o0, dq_quant_opts *o1, int *shared);
/* Calibrate, fake-quantize a copy, measure: the qerror experiment's unit. */
int dq_quant_measure(const dq_quant_scheme *s, const dq_tensor *t, int bits,
                     const dq_quant_opts *o, dq_qerror *e,
                     dq_qparams **params_out /* may be NULL */);

/* ---- uniform helpers (uniform.c) ---------------------------------------- */

/* qmin/qmax of a bits-wide integer: signed [-2^(b-1), 2^(b-1)-1],
 * unsigned [0, 2^b-1]. */
void dq_uniform_qrange(int bits, int is_signed, int32_t *qmin, int32_t *qmax);
/* PyTorch _calculate_qparams (torch/ao/quantization/observer.py), in
 * float32 exactly as torch computes it: min/max are widened to include 0;
 * symmetric: scale = max(-min, max) / ((qmax-qmin)/2), zero_point = 0 for
 * signed, (qmin+qmax+1)/2 for unsigned (128 at 8 bits); affine: scale =
 * (max-min)/(qmax-qmin), zero_point = clamp(qmin - round(min/scale)); scale
 * floored at FLT_EPSILON. */
void dq_uniform_qparams(float min, float max, int bits, int is_signed,
                        int symmetric, float *scale, int32_t *zero_point);
/* Clip |x| <= amax chosen by a calibrator (minmax returns max|x|). */
int dq_uniform_amax(const float *x, int64_t n, int bits, int is_signed,
                    const dq_quant_opts *o, double *amax);

/* ---- log-spaced |x| histogram (hist.c) ---------------------------------- */

/* M = nbins + 1 bins; bin i covers [edge[i], edge[i+1]).  Bin 0 is the
 * underflow bin [0, lo); bins 1..nbins are log-spaced from lo to hi =
 * max|x|, lo = max(min nonzero |x|, hi * 2^-24).  Each bin keeps its exact
 * count, sum |x| and sum x^2.  Exact zeros and (unsigned tensors)
 * negative values are kept apart. */
typedef struct {
    int nbins;
    double lo, hi, dl;     /* dl = ln(hi/lo) / nbins */
    double *edge;          /* nbins + 2 */
    double *cnt, *s1, *s2; /* nbins + 1: index 0 = underflow [0, lo) */
    double *mn, *mx;       /* nbins + 1: smallest and largest |x| of a bin */
    double n_zero;         /* x == 0 */
    double n_neg, s1_neg, s2_neg; /* unsigned mode: x < 0, sums of |x| */
    double n, sum_abs, sum_sq;    /* totals over every element */
    int nnz;               /* number of non-empty bins ... */
    int *nzbin;            /* ... and their indices, ascending */
} dq_qhist;

/* is_signed = 0 puts x < 0 into n_neg/s1_neg/s2_neg.  Requires finite
 * input, n > 0.  An all-zero input gives hi = 0 and no bins used. */
dq_qhist *dq_qhist_alloc(const float *x, int64_t n, int is_signed, int nbins);
void dq_qhist_free(dq_qhist *h);

/* Objective of a SIGNMAG codebook on h: RMAE (sum|x-Q|/sum|x|), MSE
 * (mean), or KL (TensorRT-style: each quantization cell spreads its mass
 * evenly over its non-empty bins).  Bins of <= 4 elements are exact; in
 * larger ones only elements cut by a midpoint, or around their level
 * (RMAE), are modelled (a linear density on the bin's [min, max] with
 * their mean); hist.c says how.  O(nbins + K).
 * If cnt_k/s1_k are non-NULL they receive, per level k, the count and
 * sum |x| assigned to it (for least-squares updates). */
double dq_qhist_eval(const dq_qhist *h, const dq_codebook *cb,
                     dq_objective obj, double *cnt_k, double *s1_k);
/* Per level k of a SIGNMAG codebook: the count of |x| values it gets and
 * their median (level value when empty), from h (bins as points or
 * uniform spreads on [min, max]).  For L1 (RMAE) Lloyd steps. */
int dq_qhist_medians(const dq_qhist *h, const dq_codebook *cb, double *cnt_k,
                     double *med_k);
/* The same objective on every element (the exact reference). */
double dq_codebook_eval_exact(const dq_codebook *cb, const float *x,
                              int64_t n, dq_objective obj);

#endif
