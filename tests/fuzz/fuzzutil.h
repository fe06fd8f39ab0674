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
 *
 * The HDF5 harnesses (fuzz_model, fuzz_plan) keep h5io's probe on, as
 * every driver has it (dq_h5_probe in h5io.h): dq_h5_open first lets a
 * fork()ed child read the file's metadata, so an input on which libhdf5
 * crashes, allocates without bound or loops becomes a clean "corrupt
 * HDF5 file" error naming the file, and the fuzzer goes on to the next
 * bug instead of stopping at HDF5 1.10's own ones (their inputs are the
 * regressions in tests/fuzz/regressions/).  In the child every signal is
 * at its default action and the sanitizers' death callback is the
 * probe's, so nothing of libFuzzer runs there: a child's crash writes no
 * artifact.  The cost is a fork and a second metadata read per input
 * (see the exec/s in build/fuzz/fuzz_<name>.log).  DNATEQ_H5_PROBE=0 in
 * the environment fuzzes libhdf5 in-process again (it then finds its
 * crashes, as before the probe).
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
