#!/usr/bin/env bash
# Instructions per call in the pure core, counted by callgrind: repeatable
# within 0.1 % for the same code (hash seeds differ per run), unlike wall
# time on a shared VM, which moves 10-20 % between runs.
#
#   scripts/callgrind.sh [CALLS]
#
# Counts only inside the core's two entry points (Core::handle_input,
# poll_output) over CALLS whole calls (default 1000), then
# sip::parse of one trunk INVITE as the same run's baseline, and prints
# both and their ratio. Installs valgrind with apt if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
command -v valgrind >/dev/null 2>&1 || {
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind >/dev/null
}
BIN=$(cargo bench --bench instructions --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))/\1/p' | tail -1)
OUT=$(mktemp -d /tmp/siaga112-callgrind.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
ir() { grep -E '^(summary|totals):' "$1" | head -1 | awk '{print $2}'; }
CALLS=$N PARSES=0 valgrind --tool=callgrind --callgrind-out-file="$OUT/calls" \
  --toggle-collect='siaga112::core::Core::handle_input' \
  --toggle-collect='siaga112::core::Core::poll_output' "$BIN" >/dev/null 2>&1
CALLS=0 PARSES=$N valgrind --tool=callgrind --callgrind-out-file="$OUT/parses" \
  --toggle-collect='instructions::parse_invites' "$BIN" >/dev/null 2>&1
python3 - "$(ir "$OUT/calls")" "$(ir "$OUT/parses")" "$N" <<'PY'
import sys
calls, parses, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
c, p = calls / n, parses / n
print(f"instructions per whole call in the core: {c:,.0f}")
print(f"instructions per trunk INVITE parse (baseline): {p:,.0f}")
print(f"a whole call = {c / p:.1f} INVITE parses")
PY
