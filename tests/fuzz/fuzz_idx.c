/*
 * fuzz_idx.c — libFuzzer harness of the Fashion-MNIST idx reader
 * (dataset.h: dq_idx_read_images, dq_idx_read_labels).  The input is
 * the file's bytes: gzip, or raw idx (zlib reads a non-gzip file as is),
 * given to both readers.  A reader must succeed with a consistent result
 * or fail with a message naming the file; never crash, leak or read out
 * of bounds.
 */
#include "dataset.h"
#include "error.h"
#include "fuzzutil.h"

#include <stdlib.h>
#include <string.h>

/* A success must hold n items of valid content; a failure must name the
 * file. */
static void check(int rc, const char *path, const uint8_t *items, int64_t n,
                  int64_t item_bytes, int labels)
{
    if (rc != DQ_OK) {
        if (!strstr(dq_error_message(), path))
            dq_fuzz_fail("an error that does not name the file");
        if (items) dq_fuzz_fail("a failure that returns data");
        return;
    }
    if (n < 0 || (n > 0 && !items)) dq_fuzz_fail("a success without data");
    for (int64_t i = 0; labels && i < n; i++)
        if (items[i] >= DQ_FMNIST_CLASSES) dq_fuzz_fail("a label above 9");
    volatile uint8_t sink = 0;
    for (int64_t i = 0; i < n * item_bytes; i += 97) sink ^= items[i];
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = dq_fuzz_file(data, size, ".gz");
    uint8_t *items = NULL;
    int64_t n = 0;
    int rc = dq_idx_read_images(path, &items, &n);
    check(rc, path, items, n, DQ_FMNIST_PIXELS, 0);
    free(items);
    items = NULL;
    rc = dq_idx_read_labels(path, &items, &n);
    check(rc, path, items, n, 1, 1);
    free(items);
    dq_fuzz_done();
    dq_error_clear();
    return 0;
}
