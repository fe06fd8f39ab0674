/*
 * expq.h — the DNA-TEQ exponential quantizer's parameter search (expq.c).
 *
 * Levels (DESIGN §1.1): level_k = alpha * base^(k-(K-1)) + beta, k = 0..K-1,
 * K = 2^(bits-1) - zero_code (signed) or 2^bits - zero_code (unsigned).
 * The scheme itself ("expq" in the registry, p[] = base, alpha, beta) is
 * a SIGNMAG codebook (quant.h); this header exposes the search so that the
 * adaptive search can run (layer x bitwidth) jobs in parallel and use the
 * shared-base pair search.
 *
 * Search (on the 4096-bin log |x| histogram unless opts->exact):
 *   base: grid of opts->base_grid points, uniform in ln(ln base), over
 *         [1 + 1e-3, base_max], then golden-section refinement in the
 *         brackets of the three lowest local minima of the grid, down to
 *         opts->base_tol;
 *   alpha, beta for each base: DQ_AB_CLOSED — start at alpha = max|x|,
 *         beta = 0, then repeat {assign to nearest level; least-squares
 *         (alpha, beta) over the assigned elements} opts->lloyd_iters times
 *         (Lloyd for MSE), keeping the best objective seen.  RMAE: then
 *         Lloyd for L1 — each level's target is its cell's median, fitted
 *         by least squares weighted with the cell's mean density.  RMAE and
 *         KL: finally a compass search on (ln bottom level, ln top level)
 *         polishes the result with at most opts->refine_evals evaluations
 *         (16x that many at the chosen base).  DQ_AB_GRID — top level
 *         T = alpha + beta on a grid of (0.25..1] * max|x| and bottom level
 *         log-spaced in (T u_0 / 64, T) (opts->ab_grid points each).
 *   Constraint: alpha > 0 and beta > -alpha*base^-(K-1) (level_0 > 0).
 *   K = 1 (2-bit signed with zero code): base is meaningless; it is set to
 *   the first grid point (or fixed_base) and only alpha + beta is fitted.
 *   Ties between candidates keep the one evaluated first (on the grid:
 *   the smaller base).
 */
#ifndef DQ_EXPQ_H
#define DQ_EXPQ_H

#include "quant.h"

typedef struct {
    int bits, is_signed, zero_code, K;
    double base, alpha, beta;
    double objective;  /* of opts->objective at (base, alpha, beta) */
    int zero;          /* all-zero input: Q == 0 */
} dq_expq_fit;

/* Levels of a fit as a SIGNMAG codebook. */
int dq_expq_codebook(const dq_expq_fit *f, dq_codebook *cb);

/* Best (base, alpha, beta) for x[0..n) at bits; fixed_base in opts is
 * honoured.  Validates like dq_quant_calibrate (NaN/Inf, n == 0, bits). */
int dq_expq_search(const float *x, int64_t n, int bits, int is_signed,
                   const dq_quant_opts *o, dq_expq_fit *fit);

/* Best alpha, beta (objective returned) for a given base on a histogram:
 * the inner step of the search; exposed for the tests' brute-force scans. */
double dq_expq_fit_base(const dq_qhist *h, int bits, int is_signed,
                        int zero_code, double base, const dq_quant_opts *o,
                        dq_expq_fit *fit);

/* Shared-base search for a layer's (weight, activation) pair: one base
 * minimising RMAE_w + RMAE_a (opts->objective is used for both terms),
 * alpha/beta separate.  fw->base == fa->base on return. */
int dq_expq_search_pair(const float *w, int64_t nw, int bits_w, int w_signed,
                        const float *a, int64_t na, int bits_a, int a_signed,
                        const dq_quant_opts *o, dq_expq_fit *fw,
                        dq_expq_fit *fa);

/* One operand of pair searches, prepared once for many of them (the
 * adaptive search runs every pair of bitwidths of a layer): validated
 * like dq_expq_search, its histogram built and its fit at every point of
 * the base grid computed with o.  x must outlive it.  is_signed < 0:
 * auto. */
typedef struct dq_expq_operand dq_expq_operand;
dq_expq_operand *dq_expq_operand_alloc(const float *x, int64_t n, int bits,
                                       int is_signed, const dq_quant_opts *o);
void dq_expq_operand_free(dq_expq_operand *p); /* NULL is a no-op */
/* dq_expq_search_pair on prepared operands: the same result, bit for bit
 * (the grid phase is read from the operands; an operand prepared with
 * other search settings than o is prepared again with o). */
int dq_expq_search_prepared(const dq_expq_operand *w,
                            const dq_expq_operand *a, const dq_quant_opts *o,
                            dq_expq_fit *fw, dq_expq_fit *fa);

/* A batch job: a single tensor (partner == NULL) or a pair.  is_signed < 0
 * means auto (signed iff a value < 0).  Results: fit (and partner_fit),
 * status and, on failure, message. */
typedef struct {
    const float *x;
    int64_t n;
    int bits;
    int is_signed;
    const float *partner;
    int64_t partner_n;
    int partner_bits;
    int partner_signed;
    dq_expq_fit fit, partner_fit;
    int status;
    char message[256];
} dq_expq_job;

/* Run the jobs with OpenMP (dynamic schedule); each job's result depends
 * only on its inputs, so results are byte-identical for any thread count.
 * Returns DQ_OK if every job succeeded, else the first failing job's
 * status (with its message set). */
int dq_expq_search_batch(dq_expq_job *jobs, int njobs, const dq_quant_opts *o);

#endif
