/*
 * tensor.h — the owned float32 n-d array every dnateq module passes around.
 *
 * A dq_tensor owns its data (64-byte aligned), has a name (the HDF5 object
 * or graph node it came from) and a shape of rank 0..DQ_MAX_RANK in
 * row-major (C) order.  Stored tensor files hold rank <= 4; the engine's
 * intermediates may use up to DQ_MAX_RANK dimensions.
 *
 * Contract: dq_tensor_alloc/dq_tensor_calloc return a complete tensor or
 * NULL with the error set (error.h); dq_tensor_free(NULL) is a no-op.
 */
#ifndef DQ_TENSOR_H
#define DQ_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define DQ_MAX_RANK 6
#define DQ_NAME_MAX 256

typedef struct {
    char name[DQ_NAME_MAX];
    int rank;
    int64_t shape[DQ_MAX_RANK];
    int64_t size; /* product of shape; 1 for rank 0 */
    float *data;
} dq_tensor;

/* Summary statistics over all elements.  min/max/mean/std ignore
 * non-finite values; n_nonfinite counts them. */
typedef struct {
    int64_t n;
    int64_t n_nonfinite;
    int64_t n_zero;
    double zero_frac;
    double min, max, mean, std;
    double absmax;
} dq_tensor_stats;

dq_tensor *dq_tensor_alloc(const char *name, int rank, const int64_t *shape);
dq_tensor *dq_tensor_calloc(const char *name, int rank, const int64_t *shape);
dq_tensor *dq_tensor_clone(const dq_tensor *t, const char *name);
void dq_tensor_free(dq_tensor *t);

/* Convenience constructor for rank <= 4: dq_tensor_alloc4("x", 2, 3, 4, 0, 0) */
dq_tensor *dq_tensor_alloc4(const char *name, int rank, int64_t d0, int64_t d1,
                            int64_t d2, int64_t d3);

void dq_tensor_set_name(dq_tensor *t, const char *name);

/* Product of a shape; returns -1 on a negative dimension or overflow. */
int64_t dq_shape_size(int rank, const int64_t *shape);
int dq_shape_equal(int ra, const int64_t *a, int rb, const int64_t *b);
/* "(3, 4, 5)" into buf. */
const char *dq_shape_str(char *buf, size_t len, int rank, const int64_t *shape);

/* Reshape in place (same size).  Returns DQ_EINVAL when sizes differ. */
int dq_tensor_reshape(dq_tensor *t, int rank, const int64_t *shape);

void dq_tensor_stats_compute(const float *x, int64_t n, dq_tensor_stats *st);

/* DQ_EINVAL naming the tensor when any value is NaN or +/-Inf. */
int dq_tensor_check_finite(const dq_tensor *t);

#endif
