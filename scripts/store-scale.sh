#!/usr/bin/env bash
# The query store at a large centre's scale: a generated year of DKI
# Jakarta's 2024 volume (650,000 calls, ~3 M records) loaded into the
# store, the console's queries timed, the year's report checked against a
# direct count, and the engine's start-up on that history.
#   scripts/store-scale.sh [calls]      (default 650000; ~2 GB of disk in /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
calls="${1:-650000}"
exec cargo bench --bench store_scale -- --calls "$calls"
