/*
 * kmeans.h — 1-D k-means (Lloyd) clustering of a tensor's values, the core
 * of the "kmeans" scheme (Deep Compression, Han, Mao & Dally 2016);
 * exposed for the cluster-recovery tests.
 */
#ifndef DQ_KMEANS_H
#define DQ_KMEANS_H

#include <stdint.h>

#define DQ_KMEANS_MAX_ITERS 300 /* Lloyd rounds at most */
#define DQ_KMEANS_TOL 1e-9      /* stop: no centroid moved > TOL * (max-min) */
#define DQ_KMEANS_MAX_K 65536

/* Cluster x[0..n) (finite, n > 0) into K centroids, 2 <= K <= DQ_KMEANS_MAX_K.  Linear
 * initialisation: the free centroids evenly spaced from min(x) to max(x);
 * pin_zero adds one centroid fixed at exactly 0 (K - 1 free ones).  Exact
 * Lloyd on the sorted data (prefix sums: O(K log n) per round after one
 * sort), each value assigned to the nearest centroid (a value on a
 * midpoint goes to the lower one); an empty cluster keeps its centroid.
 * Output: cent[0..K) ascending; *iters (may be NULL) = rounds run.
 * Deterministic.  DQ_EINVAL for bad arguments, DQ_ENOMEM. */
int dq_kmeans_lloyd(const float *x, int64_t n, int K, int pin_zero,
                    double *cent, int *iters);

#endif
