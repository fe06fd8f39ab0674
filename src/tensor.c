/*
 * tensor.c — allocation, shape helpers and summary statistics of dq_tensor.
 */
#include "tensor.h"

#include "error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t dq_shape_size(int rank, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] != 0 && n > INT64_MAX / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

int dq_shape_equal(int ra, const int64_t *a, int rb, const int64_t *b)
{
    if (ra != rb) return 0;
    for (int i = 0; i < ra; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

const char *dq_shape_str(char *buf, size_t len, int rank, const int64_t *shape)
{
    size_t off = 0;
    off += (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < rank && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%lld", i ? ", " : "",
                                (long long)shape[i]);
    if (off < len) snprintf(buf + off, len - off, ")");
    return buf;
}

void dq_tensor_set_name(dq_tensor *t, const char *name)
{
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
}

static dq_tensor *tensor_new(const char *name, int rank, const int64_t *shape,
                             int zero)
{
    if (rank < 0 || rank > DQ_MAX_RANK)
        DQ_ERROR_NULL(DQ_EINVAL, "tensor '%s': rank %d outside 0..%d",
                      name ? name : "", rank, DQ_MAX_RANK);
    int64_t n = dq_shape_size(rank, shape);
    if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(float) / 2)
        DQ_ERROR_NULL(DQ_EINVAL, "tensor '%s': invalid or too large shape",
                      name ? name : "");
    dq_tensor *t = calloc(1, sizeof *t);
    if (!t) DQ_ERROR_NULL(DQ_ENOMEM, "tensor '%s': out of memory", name);
    size_t bytes = ((size_t)(n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    t->data = aligned_alloc(64, bytes);
    if (!t->data) {
        free(t); /* exception in constructor, avoid memory leak */
        DQ_ERROR_NULL(DQ_ENOMEM, "tensor '%s': cannot allocate %zu bytes",
                      name ? name : "", bytes);
    }
    if (zero) memset(t->data, 0, bytes);
    dq_tensor_set_name(t, name);
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    t->size = n;
    return t;
}

dq_tensor *dq_tensor_alloc(const char *name, int rank, const int64_t *shape)
{
    return tensor_new(name, rank, shape, 0);
}

dq_tensor *dq_tensor_calloc(const char *name, int rank, const int64_t *shape)
{
    return tensor_new(name, rank, shape, 1);
}

dq_tensor *dq_tensor_alloc4(const char *name, int rank, int64_t d0, int64_t d1,
                            int64_t d2, int64_t d3)
{
    int64_t s[4] = {d0, d1, d2, d3};
    if (rank > 4) DQ_ERROR_NULL(DQ_EINVAL, "dq_tensor_alloc4: rank %d > 4", rank);
    return tensor_new(name, rank, s, 0);
}

dq_tensor *dq_tensor_clone(const dq_tensor *t, const char *name)
{
    dq_tensor *c = tensor_new(name ? name : t->name, t->rank, t->shape, 0);
    if (c) memcpy(c->data, t->data, (size_t)t->size * sizeof(float));
    return c;
}

void dq_tensor_free(dq_tensor *t)
{
    if (!t) return;
    free(t->data);
    free(t);
}

int dq_tensor_reshape(dq_tensor *t, int rank, const int64_t *shape)
{
    if (rank < 0 || rank > DQ_MAX_RANK || dq_shape_size(rank, shape) != t->size)
        return DQ_ERROR(DQ_EINVAL, "tensor '%s': cannot reshape %lld elements "
                        "to the requested shape", t->name, (long long)t->size);
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    return DQ_OK;
}

/* Two passes (mean, then squared deviations) for a numerically stable std. */
void dq_tensor_stats_compute(const float *x, int64_t n, dq_tensor_stats *st)
{
    memset(st, 0, sizeof *st);
    st->n = n;
    double sum = 0.0, mn = INFINITY, mx = -INFINITY;
    int64_t nfin = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        if (!isfinite(v)) {
            st->n_nonfinite++;
            continue;
        }
        if (v == 0.0) st->n_zero++;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
        sum += v;
        nfin++;
    }
    if (nfin == 0) {
        st->min = st->max = st->mean = st->std = NAN;
        st->zero_frac = 0.0;
        return;
    }
    double mean = sum / (double)nfin, ss = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        if (isfinite(v)) ss += (v - mean) * (v - mean);
    }
    st->min = mn;
    st->max = mx;
    st->mean = mean;
    st->std = sqrt(ss / (double)nfin);
    st->absmax = fmax(fabs(mn), fabs(mx));
    st->zero_frac = (double)st->n_zero / (double)n;
}

int dq_tensor_check_finite(const dq_tensor *t)
{
    for (int64_t i = 0; i < t->size; i++)
        if (!isfinite(t->data[i]))
            return DQ_ERROR(DQ_EINVAL, "tensor '%s': element %lld is %s",
                            t->name, (long long)i,
                            isnan(t->data[i]) ? "NaN"
                            : t->data[i] > 0  ? "+Inf"
                                              : "-Inf");
    return DQ_OK;
}
