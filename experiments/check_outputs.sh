#!/usr/bin/env bash
# experiments/check_outputs.sh — check that a `make reproduce` run left every
# expected table, figure and the paper, each non-empty.
#
#   bash experiments/check_outputs.sh RESDIR PDF PAPER_LOG [MODEL...]
#
# RESDIR is results or results-quick, PDF the paper it built, PAPER_LOG
# LaTeX's log of that build (build/paper[-quick]/dnateq-repro.log); MODEL
# defaults to every data/zoo/*.h5.  Prints one line per missing or empty
# file, and fails if there is any, or if the paper reports a value, table
# or figure it could not find (its "dnateq paper: missing" lines).  CI runs
# it after `make reproduce QUICK=1` (.ci/run).
set -uo pipefail
[ $# -ge 3 ] || { echo "usage: $0 RESDIR PDF PAPER_LOG [MODEL...]" >&2; exit 2; }
r=$1 pdf=$2 log=$3
shift 3
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
    for f in data/zoo/*.h5; do models+=("$(basename "$f" .h5)"); done
fi

want=(
    "$r/macros.tex" "$pdf"
    "$r/distfit/summary.csv" "$r/distfit/summary.md" "$r/distfit/summary.tex"
    "$r/distfit/shares.pdf"
    "$r/dnateq/summary.csv" "$r/dnateq/summary.md" "$r/dnateq/summary.tex"
    "$r/dnateq/bits.pdf"
    "$r/compare/summary.csv" "$r/compare/summary.md" "$r/compare/summary.tex"
    "$r/expdot/summary.csv" "$r/expdot/summary.tex"
    "$r/energy/summary.csv" "$r/energy/summary.tex" "$r/energy/bops.tex"
    "$r/energy/sensitivity.csv" "$r/energy/energy.pdf"
)
for m in "${models[@]}"; do
    want+=(
        "$r/distfit/$m.csv"
        "$r/qerror/$m.csv" "$r/qerror/${m}_summary.csv" "$r/qerror/${m}_rmae.pdf"
        "$r/dnateq/$m.csv" "$r/dnateq/${m}_layers.csv"
        "$r/dnateq/plans/${m}_dnateq.h5" "$r/dnateq/plans/${m}_mpu.h5"
        "$r/compare/$m.csv" "$r/compare/${m}_acc_bits.pdf"
    )
done

bad=0
for f in "${want[@]}"; do
    if [ ! -s "$f" ]; then
        echo "check_outputs: missing or empty: $f" >&2
        bad=$((bad + 1))
    fi
done
# every model has its row in the summaries
for s in "$r/dnateq/summary.csv" "$r/expdot/summary.csv" "$r/energy/summary.csv"; do
    [ -s "$s" ] || continue
    for m in "${models[@]}"; do
        grep -q "^$m," "$s" || { echo "check_outputs: $s: no row for model $m" >&2; bad=$((bad + 1)); }
    done
done
if [ ! -s "$log" ]; then
    echo "check_outputs: missing LaTeX log $log" >&2
    bad=$((bad + 1))
elif grep -q '^dnateq paper: missing' "$log"; then
    echo "check_outputs: $pdf shows missing items:" >&2
    grep '^dnateq paper: missing' "$log" | sort -u | sed 's/^/  /' >&2
    bad=$((bad + 1))
fi
if [ "$bad" -gt 0 ]; then
    echo "check_outputs: $bad problem(s) in $r" >&2
    exit 1
fi
echo "check_outputs: ${#want[@]} files present and non-empty in $r, paper complete ($pdf)"
