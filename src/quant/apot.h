/*
 * apot.h — the level sets of Additive Powers-of-Two quantization (Li, Dong
 * & Wang, ICLR 2020), exposed for the reference-set tests.  The scheme
 * itself is "apot" in the quant registry (apot.c).
 */
#ifndef DQ_APOT_H
#define DQ_APOT_H

#define DQ_APOT_B_MIN 2
#define DQ_APOT_B_MAX 5

/* The magnitude levels of the authors' build_power_value(B, additive=True)
 * (CIFAR10/models/quant_layer.py), normalised to a maximum of 1, sorted
 * ascending: v[0] = 0, v[2^B - 1] = 1.  Returns the count 2^B, or -1 with
 * DQ_EUNSUP for B outside 2..5.  v needs room for 2^DQ_APOT_B_MAX values. */
int dq_apot_build(int B, double *v);

#endif
