#!/usr/bin/env bash
# experiments/reproduce.sh — the driver behind `make reproduce`.
#
#   bash experiments/reproduce.sh RESDIR STEP...
#
# Runs `make STEP` for each step in order (each experiment registers its
# step in REPRODUCE_STEPS, see experiments/*.mk), with one progress line per
# step: its index, elapsed time, and an ETA from the step times of the
# previous run (RESDIR/reproduce_times.csv; "ETA ?" before the first run).
# Steps whose inputs are unchanged finish at once: make's own dependency
# tracking skips them.  A step's full output goes to RESDIR/logs/STEP.log;
# on failure the tail of that log is printed and the run stops non-zero.
set -uo pipefail
resdir=$1; shift
steps=("$@")
n=${#steps[@]}
times="$resdir/reproduce_times.csv"
mkdir -p "$resdir/logs"

declare -A prev
if [ -f "$times" ]; then
    while IFS=, read -r s t; do
        [[ $s == step || $s == \#* ]] && continue
        prev[$s]=$t
    done < "$times"
fi

fmt() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }
eta() {   # seconds still expected for steps i+1..n-1, or "?"
    local sum=0 j
    for ((j = $1 + 1; j < n; j++)); do
        [ -n "${prev[${steps[j]}]:-}" ] || { echo '?'; return; }
        sum=$((sum + ${prev[${steps[j]}]%.*}))
    done
    fmt "$sum"
}

start=$SECONDS
declare -A took
for ((i = 0; i < n; i++)); do
    s=${steps[i]}
    printf 'reproduce [%d/%d] %-9s ...\n' $((i + 1)) "$n" "$s"
    t0=$SECONDS
    if ! make --no-print-directory "$s" > "$resdir/logs/$s.log" 2>&1; then
        echo "reproduce: step '$s' failed; last lines of $resdir/logs/$s.log:" >&2
        tail -n 25 "$resdir/logs/$s.log" >&2
        exit 1
    fi
    took[$s]=$((SECONDS - t0))
    printf 'reproduce [%d/%d] %-9s done in %s   elapsed %s   ETA %s\n' \
        $((i + 1)) "$n" "$s" "$(fmt "${took[$s]}")" "$(fmt $((SECONDS - start)))" "$(eta "$i")"
done

# Step times of this run (a step skipped by make keeps its previous time,
# so the ETA of the next run still reflects the work).
{
    echo "step,seconds"
    for s in "${steps[@]}"; do
        t=${took[$s]}
        [ "$t" -le 1 ] && [ -n "${prev[$s]:-}" ] && t=${prev[$s]}
        echo "$s,$t"
    done
} > "$times.tmp" && mv "$times.tmp" "$times"
echo "reproduce: done in $(fmt $((SECONDS - start))); results in $resdir/"
