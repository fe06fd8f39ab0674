/*
 * dataset.c — the Fashion-MNIST idx .gz reader (zlib), the train / val /
 * test / calib splits and the input normalisation (see dataset.h).  This
 * is the bottom of the data flow: the engine, the tensor dump and every
 * accuracy number read their images through dq_dataset_load().
 */
#define _POSIX_C_SOURCE 200809L
#include "dataset.h"

#include "error.h"

#include <errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_IMAGE_MAGIC 2051
#define IDX_LABEL_MAGIC 2049
#define IDX_MAX_COUNT 10000000 /* sanity bound on the header count */
#define IDX_GROW_FIRST (1u << 20) /* first buffer size while reading data */

static const char *const FILE_TRAIN_IMAGES = "train-images-idx3-ubyte.gz";
static const char *const FILE_TRAIN_LABELS = "train-labels-idx1-ubyte.gz";
static const char *const FILE_TEST_IMAGES = "t10k-images-idx3-ubyte.gz";
static const char *const FILE_TEST_LABELS = "t10k-labels-idx1-ubyte.gz";

const char *dq_dataset_default_dir(void)
{
    const char *env = getenv("DNATEQ_DATA");
    return env && *env ? env : DQ_FMNIST_DEFAULT_DIR;
}

/* ---- idx .gz reading ---------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* zlib's message without the "path: " prefix gzerror() puts on it. */
static const char *gz_message(gzFile g, const char *path, int *zerr)
{
    const char *m = gzerror(g, zerr);
    size_t n = strlen(path);
    return strncmp(m, path, n) == 0 && m[n] == ':' ? m + n + 2 : m;
}

/* A DQ_EFORMAT error for a zlib failure while reading what. */
static int gz_fail(gzFile g, const char *path, const char *what)
{
    int zerr = Z_OK;
    const char *m = gz_message(g, path, &zerr);
    if (zerr == Z_BUF_ERROR)
        return DQ_ERROR(DQ_EFORMAT, "%s: truncated: the gzip stream ends "
                        "inside %s (%s)", path, what, m);
    return DQ_ERROR(DQ_EFORMAT, "%s: corrupt gzip data in %s: %s", path, what,
                    m);
}

/* Read up to n bytes of decompressed data, in chunks; returns how many
 * arrived before the end of the stream or an error. */
static size_t gz_read_some(gzFile g, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t left = n - got;
        unsigned chunk = left > (1u << 16) ? 1u << 16 : (unsigned)left;
        int r = gzread(g, (char *)buf + got, chunk);
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

/* The error for a payload (what) of n bytes that stopped after got. */
static int gz_short(gzFile g, const char *path, const char *what, size_t got,
                    size_t n)
{
    int zerr = Z_OK;
    gzerror(g, &zerr);
    if (zerr != Z_OK) return gz_fail(g, path, what);
    return DQ_ERROR(DQ_EFORMAT, "%s: truncated: %s ends after %zu of %zu "
                    "bytes", path, what, got, n);
}

/* Read exactly n bytes of decompressed data; what names the part. */
static int gz_read_exact(gzFile g, const char *path, void *buf, size_t n,
                         const char *what)
{
    size_t got = gz_read_some(g, buf, n);
    return got == n ? DQ_OK : gz_short(g, path, what, got, n);
}

/* gz_read_exact into a new buffer (*out, malloc()ed).  The buffer grows
 * with the data that actually arrives, so a short file whose header
 * declares a huge count fails as truncated instead of first allocating
 * what the header claims. */
static int gz_read_alloc(gzFile g, const char *path, size_t n,
                         const char *what, uint8_t **out)
{
    size_t have = 0, cap = n < IDX_GROW_FIRST ? n : IDX_GROW_FIRST;
    uint8_t *buf = malloc(cap ? cap : 1);
    int rc = buf ? DQ_OK : DQ_ERROR(DQ_ENOMEM, "%s: out of memory", path);
    while (rc == DQ_OK && have < n) {
        if (have == cap) {
            size_t ncap = cap > n - cap ? n : 2 * cap;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                rc = DQ_ERROR(DQ_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = gz_read_some(g, buf + have, cap - have);
        if (got < cap - have) rc = gz_short(g, path, what, have + got, n);
        have += got;
    }
    if (rc != DQ_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    return DQ_OK;
}

/* After the payload: the stream must end cleanly (this also makes zlib
 * check the gzip CRC and length). */
static int gz_expect_end(gzFile g, const char *path, int64_t n,
                         const char *what)
{
    unsigned char extra[4096];
    int r = gzread(g, extra, sizeof extra);
    int zerr = Z_OK;
    gzerror(g, &zerr);
    if (r < 0 || zerr != Z_OK) return gz_fail(g, path, "the gzip trailer");
    if (r > 0)
        return DQ_ERROR(DQ_EFORMAT, "%s: data continues after the %lld %s "
                        "the header declares", path, (long long)n, what);
    return DQ_OK;
}

static gzFile gz_open(const char *path)
{
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g)
        dq_error_set(DQ_EIO, "%s: cannot open: %s", path,
                     errno ? strerror(errno) : "out of memory");
    return g;
}

/* Header words (big-endian): magic, count[, rows, cols]. */
static int idx_header(gzFile g, const char *path, uint32_t magic, int words,
                      uint32_t *h)
{
    unsigned char raw[16];
    DQ_TRY(gz_read_exact(g, path, raw, (size_t)words * 4, "the idx header"));
    for (int i = 0; i < words; i++) h[i] = be32(raw + 4 * i);
    if (h[0] != magic)
        return DQ_ERROR(DQ_EFORMAT, "%s: bad magic %u (expected %u for idx "
                        "%s)", path, h[0], magic,
                        magic == IDX_IMAGE_MAGIC ? "images" : "labels");
    if (h[1] > IDX_MAX_COUNT)
        return DQ_ERROR(DQ_EFORMAT, "%s: implausible item count %u", path,
                        h[1]);
    return DQ_OK;
}

static int idx_read_images(gzFile g, const char *path, uint8_t **px,
                           int64_t *n)
{
    uint32_t h[4];
    DQ_TRY(idx_header(g, path, IDX_IMAGE_MAGIC, 4, h));
    if (h[2] != DQ_FMNIST_ROWS || h[3] != DQ_FMNIST_COLS)
        return DQ_ERROR(DQ_EFORMAT, "%s: images are %ux%u, expected %dx%d",
                        path, h[2], h[3], DQ_FMNIST_ROWS, DQ_FMNIST_COLS);
    uint8_t *buf = NULL;
    int rc = gz_read_alloc(g, path, (size_t)h[1] * DQ_FMNIST_PIXELS,
                           "the image data", &buf);
    if (rc == DQ_OK) rc = gz_expect_end(g, path, h[1], "images");
    if (rc != DQ_OK) {
        free(buf);
        return rc;
    }
    *px = buf;
    *n = h[1];
    return DQ_OK;
}

static int idx_read_labels(gzFile g, const char *path, uint8_t **lab,
                           int64_t *n)
{
    uint32_t h[2];
    DQ_TRY(idx_header(g, path, IDX_LABEL_MAGIC, 2, h));
    uint8_t *buf = NULL;
    int rc = gz_read_alloc(g, path, h[1], "the label data", &buf);
    if (rc == DQ_OK) rc = gz_expect_end(g, path, h[1], "labels");
    for (uint32_t i = 0; rc == DQ_OK && i < h[1]; i++)
        if (buf[i] >= DQ_FMNIST_CLASSES)
            rc = DQ_ERROR(DQ_EFORMAT, "%s: label %u of item %u is out of "
                          "range 0..%d", path, buf[i], i,
                          DQ_FMNIST_CLASSES - 1);
    if (rc != DQ_OK) {
        free(buf);
        return rc;
    }
    *lab = buf;
    *n = h[1];
    return DQ_OK;
}

int dq_idx_read_images(const char *path, uint8_t **pixels, int64_t *n)
{
    *pixels = NULL;
    *n = 0;
    gzFile g = gz_open(path);
    if (!g) return dq_error_status();
    int rc = idx_read_images(g, path, pixels, n);
    gzclose(g);
    return rc;
}

int dq_idx_read_labels(const char *path, uint8_t **labels, int64_t *n)
{
    *labels = NULL;
    *n = 0;
    gzFile g = gz_open(path);
    if (!g) return dq_error_status();
    int rc = idx_read_labels(g, path, labels, n);
    gzclose(g);
    return rc;
}

/* ---- per-process cache of decoded files --------------------------------- */

#define CACHE_SLOTS 8

typedef struct {
    char *path;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    uint8_t *data;
    int64_t n;
} cache_slot;

static cache_slot cache[CACHE_SLOTS];

static void slot_clear(cache_slot *s)
{
    free(s->path);
    free(s->data);
    memset(s, 0, sizeof *s);
}

void dq_dataset_cache_clear(void)
{
    for (int i = 0; i < CACHE_SLOTS; i++) slot_clear(&cache[i]);
}

static int same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Is the cached file unchanged on disk? */
static int same_file(const cache_slot *s, const struct stat *st)
{
    return s->ino == st->st_ino && s->size == st->st_size &&
           same_time(s->mtime, st->st_mtim) && same_time(s->ctime, st->st_ctim);
}

/* Decoded contents of an idx file (images or labels), cached.  The
 * returned data belongs to the cache. */
static int cached_read(const char *path, int images, const uint8_t **data,
                       int64_t *n)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return DQ_ERROR(DQ_EIO, "%s: cannot open: %s", path, strerror(errno));
    int free_slot = -1;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        cache_slot *s = &cache[i];
        if (!s->path) { if (free_slot < 0) free_slot = i; continue; }
        if (strcmp(s->path, path) != 0) continue;
        if (same_file(s, &st)) {
            *data = s->data;
            *n = s->n;
            return DQ_OK;
        }
        slot_clear(s); /* the file changed */
        if (free_slot < 0) free_slot = i;
    }
    if (free_slot < 0) { /* full: drop the oldest */
        slot_clear(&cache[0]);
        memmove(cache, cache + 1, (CACHE_SLOTS - 1) * sizeof cache[0]);
        memset(&cache[CACHE_SLOTS - 1], 0, sizeof cache[0]);
        free_slot = CACHE_SLOTS - 1;
    }
    cache_slot fresh = {.ino = st.st_ino, .size = st.st_size,
                        .mtime = st.st_mtim, .ctime = st.st_ctim};
    DQ_TRY(images ? dq_idx_read_images(path, &fresh.data, &fresh.n)
                  : dq_idx_read_labels(path, &fresh.data, &fresh.n));
    fresh.path = strdup(path);
    if (!fresh.path) {
        free(fresh.data);
        return DQ_ERROR(DQ_ENOMEM, "%s: out of memory", path);
    }
    cache[free_slot] = fresh;
    *data = fresh.data;
    *n = fresh.n;
    return DQ_OK;
}

/* ---- the two source files ----------------------------------------------- */

typedef struct {
    const uint8_t *pixels, *labels;
    int64_t n;
} idx_pair;

/* Images and labels of one source (train or t10k), counts checked. */
static int load_pair(const char *dir, int train, idx_pair *p)
{
    char ipath[4096], lpath[4096];
    snprintf(ipath, sizeof ipath, "%s/%s", dir,
             train ? FILE_TRAIN_IMAGES : FILE_TEST_IMAGES);
    snprintf(lpath, sizeof lpath, "%s/%s", dir,
             train ? FILE_TRAIN_LABELS : FILE_TEST_LABELS);
    int64_t ni, nl, want = train ? DQ_FMNIST_TRAIN_FILE : DQ_FMNIST_TEST;
    DQ_TRY(cached_read(ipath, 1, &p->pixels, &ni));
    DQ_TRY(cached_read(lpath, 0, &p->labels, &nl));
    if (ni != nl)
        return DQ_ERROR(DQ_EFORMAT, "%s: %lld images but %s has %lld labels",
                        ipath, (long long)ni, lpath, (long long)nl);
    if (ni != want)
        return DQ_ERROR(DQ_EFORMAT, "%s: %lld images, expected %lld", ipath,
                        (long long)ni, (long long)want);
    p->n = ni;
    return DQ_OK;
}

static const char *dir_or_default(const char *dir)
{
    return dir && *dir ? dir : dq_dataset_default_dir();
}

/* Mean and population std of pixel/255 over the first 55,000 images, from
 * the exact histogram of pixel values (no rounding in the accumulation). */
static void pixel_stats(const uint8_t *px, double *mean, double *std)
{
    int64_t hist[256] = {0};
    int64_t n = (int64_t)DQ_FMNIST_TRAIN * DQ_FMNIST_PIXELS;
    for (int64_t i = 0; i < n; i++) hist[px[i]]++;
    double m = 0.0, var = 0.0;
    for (int v = 0; v < 256; v++) m += (double)hist[v] * (v / 255.0);
    m /= (double)n;
    for (int v = 0; v < 256; v++) {
        double d = v / 255.0 - m;
        var += (double)hist[v] * d * d;
    }
    *mean = m;
    *std = sqrt(var / (double)n);
}

int dq_dataset_train_stats(const char *dir, double *mean, double *std)
{
    idx_pair tr;
    DQ_TRY(load_pair(dir_or_default(dir), 1, &tr));
    pixel_stats(tr.pixels, mean, std);
    return DQ_OK;
}

int dq_dataset_calib_indices(int64_t n, uint64_t seed, int64_t **idx)
{
    *idx = NULL;
    if (n < 1 || n > DQ_FMNIST_TRAIN)
        return DQ_ERROR(DQ_EINVAL, "calib size %lld outside 1..%d",
                        (long long)n, DQ_FMNIST_TRAIN);
    int64_t *src = malloc(DQ_FMNIST_TRAIN * sizeof *src);
    int64_t *dst = malloc((size_t)n * sizeof *dst);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!src || !dst || !r) {
        free(src);
        free(dst);
        if (r) gsl_rng_free(r);
        return DQ_ERROR(DQ_ENOMEM, "calib indices: out of memory");
    }
    for (int64_t i = 0; i < DQ_FMNIST_TRAIN; i++) src[i] = i;
    gsl_rng_set(r, (unsigned long)seed);
    /* gsl_ran_choose keeps the source order, so dst comes out sorted. */
    gsl_ran_choose(r, dst, (size_t)n, src, DQ_FMNIST_TRAIN, sizeof *src);
    gsl_rng_free(r);
    free(src);
    *idx = dst;
    return DQ_OK;
}

/* ---- splits ------------------------------------------------------------- */

void dq_dataset_free(dq_dataset *d)
{
    if (!d) return;
    dq_tensor_free(d->images);
    free(d->labels);
    free(d->index);
    free(d);
}

/* A dataset of n images owning idx (freed on failure too). */
static dq_dataset *dataset_new(const char *split, int64_t n, int64_t *idx)
{
    dq_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        free(idx);
        DQ_ERROR_NULL(DQ_ENOMEM, "dataset: out of memory");
    }
    d->index = idx;
    snprintf(d->split, sizeof d->split, "%s", split);
    d->n = n;
    d->images = dq_tensor_alloc4(split, 4, n, 1, DQ_FMNIST_ROWS,
                                 DQ_FMNIST_COLS);
    d->labels = malloc((size_t)(n ? n : 1));
    if (!d->images || !d->labels) {
        dq_dataset_free(d); /* exception in constructor, avoid memory leak */
        DQ_ERROR_NULL(DQ_ENOMEM, "dataset '%s': out of memory", split);
    }
    return d;
}

/* Fill d from the source pair at d->index[], normalising every pixel as
 * float((float(p)/255 - mean)/std), the same float32 arithmetic as numpy. */
static void dataset_fill(dq_dataset *d, const idx_pair *src)
{
    float lut[256];
    const float mean = (float)d->mean, std = (float)d->std;
    for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - mean) / std;
    for (int64_t i = 0; i < d->n; i++) {
        const uint8_t *px = src->pixels + d->index[i] * DQ_FMNIST_PIXELS;
        float *out = d->images->data + i * DQ_FMNIST_PIXELS; /* image i */
        for (int j = 0; j < DQ_FMNIST_PIXELS; j++) out[j] = lut[px[j]];
        d->labels[i] = src->labels[d->index[i]];
    }
}

/* Index list of a split: *idx malloc()ed, *n its length. */
static int split_indices(const char *split, int64_t calib_size, uint64_t seed,
                         int64_t **idx, int64_t *n)
{
    int64_t first, count;
    if (strcmp(split, "calib") == 0) {
        DQ_TRY(dq_dataset_calib_indices(calib_size, seed, idx));
        *n = calib_size;
        return DQ_OK;
    } else if (strcmp(split, "train") == 0) {
        first = 0, count = DQ_FMNIST_TRAIN;
    } else if (strcmp(split, "val") == 0) {
        first = DQ_FMNIST_TRAIN, count = DQ_FMNIST_VAL;
    } else if (strcmp(split, "test") == 0) {
        first = 0, count = DQ_FMNIST_TEST;
    } else {
        return DQ_ERROR(DQ_EINVAL, "unknown split '%s' (train, val, test, "
                        "calib)", split);
    }
    *idx = malloc((size_t)count * sizeof **idx);
    if (!*idx) return DQ_ERROR(DQ_ENOMEM, "dataset: out of memory");
    for (int64_t i = 0; i < count; i++) (*idx)[i] = first + i;
    *n = count;
    return DQ_OK;
}

dq_dataset *dq_dataset_load(const char *dir, const char *split,
                            int64_t calib_size, uint64_t seed)
{
    dir = dir_or_default(dir);
    int64_t *idx = NULL, n = 0;
    idx_pair tr, src;
    if (split_indices(split, calib_size, seed, &idx, &n) != DQ_OK) return NULL;
    int test = strcmp(split, "test") == 0;
    if (load_pair(dir, 1, &tr) != DQ_OK ||
        (test && load_pair(dir, 0, &src) != DQ_OK)) {
        free(idx);
        return NULL;
    }
    if (!test) src = tr;
    dq_dataset *d = dataset_new(split, n, idx);
    if (!d) return NULL;
    pixel_stats(tr.pixels, &d->mean, &d->std);
    dataset_fill(d, &src);
    return d;
}

void dq_dataset_class_counts(const dq_dataset *d,
                             int64_t counts[DQ_FMNIST_CLASSES])
{
    memset(counts, 0, DQ_FMNIST_CLASSES * sizeof counts[0]);
    for (int64_t i = 0; i < d->n; i++) counts[d->labels[i]]++;
}
