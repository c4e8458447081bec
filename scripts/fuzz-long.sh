#!/usr/bin/env bash
# A longer fuzz run than the one inside `cargo test --release` (see docs/faults.md).
#
#   scripts/fuzz-long.sh                 # 20x the CI case counts, a fresh random seed
#   TOKENAUDIT_FUZZ_SCALE=100 scripts/fuzz-long.sh
#   TOKENAUDIT_FUZZ_SEED=1234 scripts/fuzz-long.sh gguf spm   # repeat a run, some targets
#
# Every fuzz target (a module of the fuzz binary, tests/fuzz/*.rs) runs in its own process
# under /usr/bin/time, which gives its peak RSS.
# The per-target summaries (cases, ok/error counts, slowest case, peak heap of one case)
# and the catalogue of error messages seen are left in target/tmp/fuzz-report/*.txt; a
# failing case's input is saved in target/tmp/fuzz-failures/ (the test output names the
# directory). A process that aborts leaves its input in target/tmp/fuzz/<target>/case/.
#
# Knobs (environment): TOKENAUDIT_FUZZ_SCALE (case-count multiplier, default 20 here),
# TOKENAUDIT_FUZZ_SEED (default: random, printed), TOKENAUDIT_FUZZ_TIMEOUT (seconds per
# case, default 30), TOKENAUDIT_FUZZ_VERBOSE=1 (print every case).
set -euo pipefail
cd "$(dirname "$0")/.."

export TOKENAUDIT_FUZZ_SCALE="${TOKENAUDIT_FUZZ_SCALE:-20}"
export TOKENAUDIT_FUZZ_SEED="${TOKENAUDIT_FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
echo "fuzz-long: scale ${TOKENAUDIT_FUZZ_SCALE}, seed ${TOKENAUDIT_FUZZ_SEED}"

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in tests/fuzz/*.rs; do
        t="$(basename "$f" .rs)"
        case "$t" in main | driver) ;; *) targets+=("$t") ;; esac
    done
fi

rm -rf target/tmp/fuzz-report target/tmp/fuzz-failures
# Build once; read the fuzz binary's path from cargo's output.
build_log=$(cargo test --release --test fuzz --no-run 2>&1) || {
    echo "$build_log"
    exit 1
}
exe=$(echo "$build_log" | sed -n "s/.*(\(target\/release\/deps\/fuzz-[0-9a-f]*\)).*/\1/p" | tail -1)
if [ -z "$exe" ]; then
    echo "fuzz-long: no fuzz binary found in cargo's output" >&2
    exit 1
fi

status=0
for t in "${targets[@]}"; do
    echo "== $t"
    log="target/tmp/fuzz-report/$t.log"
    mkdir -p target/tmp/fuzz-report
    set +e
    /usr/bin/time -f "$t: peak RSS %M KiB, %e s wall" "$exe" "$t::" >"$log" 2>&1
    rc=$?
    set -e
    grep -E "^(test |failures:|---- )|panicked|input saved|minimal input|peak RSS" "$log" || true
    if [ "$rc" -ne 0 ]; then
        echo "fuzz-long: $t failed (exit $rc); full output in $log"
        status=1
    fi
done

echo
echo "== summaries (target/tmp/fuzz-report/*.txt)"
for f in target/tmp/fuzz-report/*.txt; do head -1 "$f"; done
if [ -d target/tmp/fuzz-failures ] && [ -n "$(ls -A target/tmp/fuzz-failures 2>/dev/null)" ]; then
    echo "fuzz-long: failing inputs saved in target/tmp/fuzz-failures/:"
    ls target/tmp/fuzz-failures
    status=1
fi
exit $status
