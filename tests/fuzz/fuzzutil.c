/*
 * fuzzutil.c — the scratch file of the fuzz harnesses (fuzzutil.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "fuzzutil.h"

#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_path[256];

static void fuzz_name(const char *suffix)
{
    struct stat st;
    const char *dir = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_path, sizeof fuzz_path, "%s/dnateq-fuzz-%ld%s", dir,
             (long)getpid(), suffix);
}

const char *dq_fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
    if (!fuzz_path[0]) fuzz_name(suffix);
    FILE *fp = fopen(fuzz_path, "wb");
    if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp) != 0) {
        perror(fuzz_path);
        abort();
    }
    return fuzz_path;
}

void dq_fuzz_done(void)
{
    if (fuzz_path[0]) unlink(fuzz_path);
}

void dq_fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz: %s (error: %s)\n", what, dq_error_message());
    abort();
}
