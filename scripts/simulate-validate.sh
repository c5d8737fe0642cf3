#!/usr/bin/env bash
# The capacity planner against Erlang C over the whole table of loads, with
# the engine itself (release build): 1 to 50 seats, 50 to 95 % occupancy,
# SIM_VALIDATE_CALLS calls a load (default 2,000,000; the mean wait at 95 %
# occupancy needs 45-90 million for a 99 % interval inside ±2 %, see the
# note in tests/simulate.rs). Then the recursion check of the whole table
# (the debug test covers the loads a debug build affords).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
nice -n 10 cargo test --release --test simulate -- --ignored erlang_table_release --nocapture
SIM_FULL_TABLE=1 nice -n 10 cargo test --release --test simulate -- that_queue --nocapture
