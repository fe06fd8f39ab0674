/*
 * fuzzutil.h — what the libFuzzer harnesses of tests/fuzz/ share: the
 * loaders under test read files, so each input is written to one scratch
 * file per process (on /dev/shm when it exists, else /tmp) and the loader
 * is given its path.
 *
 * Contract: dq_fuzz_file() returns the path of a file holding exactly
 * the size bytes of data (the same path on every call of a process), or
 * aborts: a harness that cannot write its input has nothing to test.
 * dq_fuzz_done() removes it again, so that a crashing input leaves at
 * most one scratch file behind.
 */
#ifndef DQ_FUZZUTIL_H
#define DQ_FUZZUTIL_H

#include <stddef.h>
#include <stdint.h>

const char *dq_fuzz_file(const uint8_t *data, size_t size, const char *suffix);
void dq_fuzz_done(void);

/* A harness invariant failed: print what and the current error message,
 * then abort (libFuzzer saves the input). */
_Noreturn void dq_fuzz_fail(const char *what);

#endif
