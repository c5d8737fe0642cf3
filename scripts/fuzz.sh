#!/usr/bin/env bash
# Runs the fuzz targets of tests/fuzz.rs (proptest, stable Rust) for a given
# time each and reports the executions run and the failures found.
#
#   scripts/fuzz.sh [--seconds S] [--cases N] [--debug] [TARGET...]
#
# TARGET is one of parse framing digest sdp multipart core (default: all).
# Each target is run again and again, N cases a run (default 20000) with a
# fresh random seed, until S seconds (default 60) have passed. The corpus
# is tests/data/rfc4475 (messages) and tests/data/fuzz (bodies, header
# values). A failure stops its target: proptest shrinks it and saves it in
# tests/fuzz.proptest-regressions, which `cargo test --test fuzz` replays
# from then on (commit that file with the fix). Release build unless
# --debug. Exit status 1 if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER=60
CASES=20000
PROFILE=--release
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --cases) CASES=$2; shift 2 ;;
    --debug) PROFILE=""; shift ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(parse framing digest sdp multipart core)

# shellcheck disable=SC2086
BIN=$(CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo test $PROFILE --test fuzz --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*fuzz-[^"]*\)".*/\1/p' | tail -1)
[ -x "$BIN" ] || { echo "could not build the fuzz targets" >&2; exit 2; }
# Our own copy: a build running meanwhile may replace the original.
COPY=$(mktemp)
cp "$BIN" "$COPY"
chmod 700 "$COPY"
trap 'rm -f "$COPY"' EXIT
BIN=$COPY

failed=0
printf '%-10s %12s %8s %10s %s\n' target executions runs exec/s result
for t in "${TARGETS[@]}"; do
  total=0 runs=0 result=ok
  start=$(date +%s.%N)
  end=$(( $(date +%s) + SECONDS_PER ))
  while [ "$(date +%s)" -lt "$end" ]; do
    log=$(mktemp)
    if FUZZ_CASES=$CASES "$BIN" --exact "fuzz_$t" --nocapture --test-threads 1 >"$log" 2>&1; then
      n=$(sed -n 's/^fuzz-executions target=[a-z]* n=\([0-9]*\)$/\1/p' "$log" | tail -1)
      total=$(( total + ${n:-0} ))
      runs=$(( runs + 1 ))
      rm -f "$log"
    elif grep -q "minimal failing input\|panicked" "$log"; then
      result="FAILED (see $log; the case is in tests/fuzz.proptest-regressions)"
      failed=1
      break
    else
      result="ERROR running the target (see $log), not a finding"
      failed=1
      break
    fi
  done
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  rate=$(echo "$total / $secs" | bc)
  printf '%-10s %12d %8d %10d %s\n' "$t" "$total" "$runs" "$rate" "$result"
done
exit $failed
