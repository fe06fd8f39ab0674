/*
 * dataset.h — Fashion-MNIST from its idx .gz files, split and normalised
 * exactly as the Python side (data/zoo/fmnist.py) does.
 *
 * Files (in dir): train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
 * t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz.  dir NULL or ""
 * means dq_dataset_default_dir(): $DNATEQ_DATA when set, else
 * /usr/share/datasets/fashion-mnist.
 *
 * Splits (index = position in the source file):
 *   train  the first 55,000 training images      (0..54999)
 *   val    the last 5,000 training images        (55000..59999)
 *   test   the 10,000 test images                (0..9999 of t10k)
 *   calib  calib_size images of train, drawn without replacement by
 *          gsl_ran_choose with gsl_rng_mt19937 seeded with seed; sorted
 *
 * Normalisation: x = (float(pixel)/255 - mean)/std in float32 arithmetic,
 * with mean and std (population) of pixel/255 over all pixels of the
 * train split, computed in double and applied as float.
 *
 * Reading validates the magic (2051 images, 2049 labels), 28x28 images,
 * that the header count matches the decompressed length (a truncated or
 * over-long file is rejected), labels in 0..9, equal image and label
 * counts, and 60,000 / 10,000 images.  Errors name the file.
 *
 * Decoded files are cached per process (keyed by path, size and mtime),
 * so loading several splits decompresses each file once.  Call
 * dq_dataset_cache_clear() to release the cache.  Not thread-safe: load
 * from one thread.
 */
#ifndef DQ_DATASET_H
#define DQ_DATASET_H

#include "tensor.h"

#include <stdint.h>

#define DQ_FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define DQ_FMNIST_ROWS 28
#define DQ_FMNIST_COLS 28
#define DQ_FMNIST_PIXELS (DQ_FMNIST_ROWS * DQ_FMNIST_COLS)
#define DQ_FMNIST_CLASSES 10
#define DQ_FMNIST_TRAIN_FILE 60000 /* images in the training file */
#define DQ_FMNIST_TEST 10000
#define DQ_FMNIST_TRAIN 55000
#define DQ_FMNIST_VAL 5000

typedef struct dq_dataset {
    char split[16];    /* "train", "val", "test" or "calib" */
    int64_t n;         /* number of images */
    dq_tensor *images; /* (n, 1, 28, 28) float32, normalised */
    uint8_t *labels;   /* n labels in 0..9 */
    int64_t *index;    /* index of each image in its source idx file */
    double mean, std;  /* the train-split statistics used to normalise */
} dq_dataset;

/* $DNATEQ_DATA when set and non-empty, else DQ_FMNIST_DEFAULT_DIR. */
const char *dq_dataset_default_dir(void);

/* calib_size and seed are used by the calib split only (1..55000). */
dq_dataset *dq_dataset_load(const char *dir, const char *split,
                            int64_t calib_size, uint64_t seed);
void dq_dataset_free(dq_dataset *d); /* NULL is a no-op */

/* counts[c] = number of images of class c. */
void dq_dataset_class_counts(const dq_dataset *d,
                             int64_t counts[DQ_FMNIST_CLASSES]);

/* Mean and population std of pixel/255 over the train split. */
int dq_dataset_train_stats(const char *dir, double *mean, double *std);

/* The sorted train indices of the calib split (n of them, malloc()ed). */
int dq_dataset_calib_indices(int64_t n, uint64_t seed, int64_t **idx);

/* Low level: one idx .gz file, validated as above except for the expected
 * count.  *pixels is (n, 28, 28) uint8 and *labels n uint8; malloc()ed. */
int dq_idx_read_images(const char *path, uint8_t **pixels, int64_t *n);
int dq_idx_read_labels(const char *path, uint8_t **labels, int64_t *n);

void dq_dataset_cache_clear(void);

#endif
