/*
 * sparq.h — the byte-level core of SPARQ (Shomron, Gabbay, Kurzum &
 * Weiser, "Post-Training Sparsity-Aware Quantization", NeurIPS 2021),
 * exposed for the hand-made-byte tests.  The schemes are "bsparq" and
 * "sparq" in the quant registry (sparq.c).
 */
#ifndef DQ_SPARQ_H
#define DQ_SPARQ_H

#include <stdint.h>

/* Bit offsets (LSB of the window) an n-bit window may take inside a byte.
 * shift_opt = the number of placements; 0 = every offset 0..8-n (the
 * authors' opt5/opt6/opt7 for n = 4/3/2).  Otherwise the placements are
 * 8-n, 8-n-step, ..., 0 with step = (8-n)/(shift_opt-1), which must be a
 * whole number <= n (so that every bit lies in some window): for n = 4,
 * shift_opt 5 -> {4,3,2,1,0}, 3 -> {4,2,0}, 2 -> {4,0} (the masks of the
 * authors' CUDA kernel).  Writes the offsets in increasing order to off[]
 * (room for 8) and returns their count, or -1 with DQ_EINVAL when n is
 * outside 1..8 or shift_opt does not fit. */
int dq_sparq_placements(int n, int shift_opt, int *off);

/* bSPARQ of one unsigned byte v: the lowest allowed window that holds
 * v's most significant set bit; the bits below the window are rounded
 * half to even into it (round bit = the bit just below the window, sticky
 * = any bit below that), saturating at the all-ones window when rounding
 * up would carry out of it; the bits below are then zero.  v = 0 -> 0. */
uint8_t dq_sparq_window(uint8_t v, int n, const int *off, int noff);

#endif
