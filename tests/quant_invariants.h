/*
 * quant_invariants.h — generic checks that any registered quantization
 * scheme must pass (test support, linked into every test binary).
 *
 * dq_check_quant_invariants() runs the scheme through the generic
 * interface (quant.h) on fixed-seed synthetic tensors (signed Laplace,
 * unsigned ReLU-like exponential with exact zeros, a per-channel conv-like
 * weight) for bits 2..8, and asserts with cmocka:
 *   - the number of distinct quantized values <= 2^bits, and every output
 *     is one of levels();
 *   - Q(Q(x)) == Q(x) bit for bit, and Q is monotone (x <= y => Q(x) <=
 *     Q(y)) on the sorted data;
 *   - decode(encode(x)) == fake(x) bit for bit;
 *   - the RMAE does not increase with bits (slack: 1e-12 absolute plus
 *     `rmae_slack` relative, 0 for schemes whose level sets are nested);
 *   - exact zeros stay exactly zero when opts.zero_code is on;
 *   - an all-zero tensor quantizes to exact zeros; NaN, +/-Inf, an empty
 *     tensor and bits 1 and 9 are rejected with DQ_EINVAL and a message;
 *   - calibration and fake quantization give byte-identical results with
 *     1 and 2 OpenMP threads.
 * Schemes flagged DQ_QS_UNSIGNED_ONLY are only given unsigned data.
 */
#ifndef DQ_QUANT_INVARIANTS_H
#define DQ_QUANT_INVARIANTS_H

#include "quant/quant.h"

/* o == NULL: dq_quant_opts_default().  Fails the current cmocka test on
 * the first violated invariant, naming the scheme, bits and tensor. */
void dq_check_quant_invariants(const char *scheme, const dq_quant_opts *o,
                               double rmae_slack);

#endif
