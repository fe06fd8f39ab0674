/*
 * reservoir.h — a seeded uniform sample of a stream of float values, with
 * the exact statistics of the whole stream: what the tensor dump
 * (dnateq-dump) stores for every activation and what activation
 * calibration (qinfer.h) fits on.
 *
 * Sampling is Algorithm R (Vitter 1985): the first `cap` values fill the
 * reservoir; value i (0-based) after that replaces slot j = U{0..i} when
 * j < cap, with j from gsl_rng_uniform_int on a GSL mt19937 generator
 * seeded with `seed` (one generator per reservoir).  Values are offered
 * in a fixed order (batch order, then row-major within a batch), so a
 * sample depends only on the values and the seed — never on threads.
 * min, max and the zero count are exact over every value offered.
 *
 * Contract: dq_reservoir_alloc returns NULL with the error set;
 * dq_reservoir_free(NULL) is a no-op.  One reservoir is not thread-safe.
 */
#ifndef DQ_RESERVOIR_H
#define DQ_RESERVOIR_H

#include <stdint.h>

typedef struct dq_reservoir dq_reservoir;

/* cap >= 1 values at most. */
dq_reservoir *dq_reservoir_alloc(int64_t cap, uint64_t seed);
void dq_reservoir_free(dq_reservoir *r);

/* Offer x[0..n) in order.  Non-finite values are a DQ_EINVAL error (the
 * reservoir is then unchanged for the rest of that call's values). */
int dq_reservoir_add(dq_reservoir *r, const float *x, int64_t n);

int64_t dq_reservoir_count(const dq_reservoir *r);   /* values offered */
int64_t dq_reservoir_size(const dq_reservoir *r);    /* min(count, cap) */
const float *dq_reservoir_data(const dq_reservoir *r); /* size() values */
/* Exact over all values offered (0 when none). */
double dq_reservoir_min(const dq_reservoir *r);
double dq_reservoir_max(const dq_reservoir *r);
int64_t dq_reservoir_zeros(const dq_reservoir *r);

#endif
