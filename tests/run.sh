#!/usr/bin/env bash
# tests/run.sh — run every cmocka test binary given, print cmocka's own
# summary lines, then one total line; exit non-zero if any test failed.
set -uo pipefail
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# The same OpenBLAS kernels as every driver pins itself to (src/blas.h).
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=Haswell
fi
passed=0 failed=0 bad_bins=""
for t in "$@"; do
    out=$(mktemp)
    "$t" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "$rc" -ne 0 ]; then
        bad_bins+=" $(basename "$t")"
        [ -z "$f" ] && failed=$((failed + 1))
    fi
    rm -f "$out"
done
echo
echo "tests: $passed passed, $failed failed"
if [ -n "$bad_bins" ]; then
    echo "failing test programs:$bad_bins" >&2
    exit 1
fi
