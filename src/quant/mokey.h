/*
 * mokey.h — the "Mokey-like" dictionary: exponential-curve levels fitted
 * once to N(0,1) (after Zadeh et al., "Mokey", ISCA 2022), exposed for the
 * dictionary tests.  The scheme is "mokey-like" in the quant registry.
 */
#ifndef DQ_MOKEY_H
#define DQ_MOKEY_H

#define DQ_MOKEY_M_MAX 128 /* levels per sign (2^(8-1)) */

/* Levels per sign c_i = a * r^i + b, i = 0..m-1, ascending and > 0; the
 * dictionary is {-c_{m-1}, ..., -c_0, c_0, ..., c_{m-1}} (2m entries). */
typedef struct {
    int m;
    double a, r, b;
    double c[DQ_MOKEY_M_MAX];
    double emse;   /* E[(X - Q(X))^2] for X ~ N(0,1), exact */
    int evals;     /* objective evaluations of the fit */
} dq_mokey_dict;

/* The dictionary with m levels per sign (1..DQ_MOKEY_M_MAX) minimising
 * the exact expected squared error of N(0,1) under the curve constraint
 * (see mokey.c).  Fitted on first use, then cached (thread-safe); the
 * same every time.  DQ_EINVAL for m out of range. */
int dq_mokey_dictionary(int m, dq_mokey_dict *d);

/* The exact expected squared error of N(0,1) quantized to the nearest of
 * +-c[0..m) (c ascending, > 0).  Exposed for the tests' optimality check. */
double dq_mokey_emse(const double *c, int m);

#endif
