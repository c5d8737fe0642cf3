#!/usr/bin/env bash
# SIGKILL the engine at random moments under load (calls, registrations,
# console actions) and restart it on the same journal, N times (default
# 100): every record reported durable and every console action answered
# 200 must be there after each restart, no case id may repeat. Prints lost
# records (goal 0) and the restart time.
#   scripts/crash-trials.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
CRASH_TRIALS="${1:-100}" exec cargo test --release --test crash -- --nocapture
