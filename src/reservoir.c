/*
 * reservoir.c — Algorithm R over a float stream with exact min / max /
 * zero count (reservoir.h).  Shared by the tensor dump and activation
 * calibration so that both sample the same way.
 */
#include "reservoir.h"

#include "error.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>

struct dq_reservoir {
    int64_t cap, count, zeros;
    double min, max;
    float *x;
    gsl_rng *rng;
};

dq_reservoir *dq_reservoir_alloc(int64_t cap, uint64_t seed)
{
    if (cap < 1)
        DQ_ERROR_NULL(DQ_EINVAL, "reservoir: capacity %lld, expected >= 1",
                      (long long)cap);
    dq_reservoir *r = calloc(1, sizeof *r);
    if (!r) DQ_ERROR_NULL(DQ_ENOMEM, "reservoir: out of memory");
    r->cap = cap;
    r->x = malloc((size_t)cap * sizeof *r->x);
    r->rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r->x || !r->rng) {
        dq_reservoir_free(r); /* exception in constructor, avoid memory leak */
        DQ_ERROR_NULL(DQ_ENOMEM, "reservoir: out of memory (%lld values)",
                      (long long)cap);
    }
    gsl_rng_set(r->rng, (unsigned long)seed);
    return r;
}

void dq_reservoir_free(dq_reservoir *r)
{
    if (!r) return;
    if (r->rng) gsl_rng_free(r->rng);
    free(r->x);
    free(r);
}

int dq_reservoir_add(dq_reservoir *r, const float *x, int64_t n)
{
    if (!r || (!x && n > 0))
        return DQ_ERROR(DQ_EINVAL, "reservoir: NULL argument");
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (!isfinite(v))
            return DQ_ERROR(DQ_EINVAL, "reservoir: value %lld of the stream "
                            "is not finite", (long long)(r->count));
        if (r->count == 0 || v < r->min) r->min = v;
        if (r->count == 0 || v > r->max) r->max = v;
        r->zeros += v == 0.0f;
        if (r->count < r->cap) {
            r->x[r->count] = v;
        } else {
            /* gsl_rng_uniform_int(n) draws from 0..n-1, n <= 2^32 - 1 */
            if (r->count >= (int64_t)0xFFFFFFFF)
                return DQ_ERROR(DQ_EOVERFLOW, "reservoir: more than 2^32 - 1 "
                                "values in one stream");
            int64_t j = (int64_t)gsl_rng_uniform_int(
                r->rng, (unsigned long)(r->count + 1));
            if (j < r->cap) r->x[j] = v;
        }
        r->count++;
    }
    return DQ_OK;
}

int64_t dq_reservoir_count(const dq_reservoir *r) { return r->count; }

int64_t dq_reservoir_size(const dq_reservoir *r)
{
    return r->count < r->cap ? r->count : r->cap;
}

const float *dq_reservoir_data(const dq_reservoir *r) { return r->x; }
double dq_reservoir_min(const dq_reservoir *r) { return r->min; }
double dq_reservoir_max(const dq_reservoir *r) { return r->max; }
int64_t dq_reservoir_zeros(const dq_reservoir *r) { return r->zeros; }
