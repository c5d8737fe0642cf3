#!/usr/bin/env bash
# Load test of the whole call path on loopback, bounded in time and count.
#
#   scripts/loadtest.sh [--rate CPS] [--calls N] [--seats N] [--talk MS] [--bin PATH] [--keep]
#
# Builds the release binary, starts the engine with a generated config of N
# seats, registers every seat with its Contact on one SIPp UAS (which answers
# for all of them), drives N trunk calls at CPS with SIPp (INVITE, queue, seat
# answers, short talk, BYE) and prints one summary: calls attempted,
# completed, failed, calls/s achieved, setup latency from the trunk's view
# (p50/p95/p99), the engine's CPU time per call and peak RSS, and the cases in
# the case log. Everything it starts is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=100
CALLS=1000
SEATS=20
TALK=200
KEEP=0
BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --calls) CALLS=$2; shift 2 ;;
    --seats) SEATS=$2; shift 2 ;;
    --talk) TALK=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --bin) BIN=$2; shift 2 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

command -v sipp >/dev/null 2>&1 || {
  echo "installing sip-tester (SIPp)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq sip-tester >/dev/null
}
if [ -z "$BIN" ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/siaga112
fi
SIPP_DIR=$PWD/scripts/sipp

WORK=$(mktemp -d /tmp/siaga112-load.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "$KEEP" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket
while True:
    u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.bind(("127.0.0.1",0)); p=u.getsockname()[1]
    t=socket.socket()
    try:
        t.bind(("127.0.0.1",p)); print(p); break
    except OSError: pass'
}

PORT=$(free_port)
UAS_PORT=$(free_port)
TRUNK_PORT=$(free_port)
{
  cat <<EOF
[sip]
listen = ["udp:127.0.0.1:$PORT"]
realm = "siaga112"

[[trunk]]
name = "load"
peers = ["127.0.0.1/32"]

[[route]]
match = ["112"]
queue = "emergency"

[[queue]]
name = "emergency"
ring_timeout_s = 15
max_wait_s = 120

[caselog]
path = "$WORK/cases.jsonl"
commit_window_ms = 5
EOF
  for i in $(seq 1 "$SEATS"); do
    printf '\n[[seat]]\nuser = "s%d"\npassword = "pw"\nqueues = ["emergency"]\n' "$i"
  done
} > "$WORK/siaga112.toml"

NO_COLOR=1 RUST_LOG=info "$BIN" run --config "$WORK/siaga112.toml" 2> "$WORK/engine.log" &
ENGINE=$!
PIDS+=("$ENGINE")
for _ in $(seq 1 100); do grep -q "siaga112 is running" "$WORK/engine.log" && break; sleep 0.05; done

SIPP_COMMON=(-i 127.0.0.1 -nostdin -buff_size 4194304)
for i in $(seq 1 "$SEATS"); do
  timeout 15 sipp "127.0.0.1:$PORT" -sf "$SIPP_DIR/register.xml" -s "s$i" -au "s$i" -ap pw -m 1 \
    -p "$UAS_PORT" "${SIPP_COMMON[@]}" -timeout 10s -timeout_error >/dev/null 2>&1 \
    || { echo "seat s$i did not register" >&2; exit 1; }
done

LIMIT=$((CALLS > 20000 ? 20000 : CALLS))
SECS=$(( CALLS / RATE + 30 ))
( cd "$WORK" && exec timeout $((SECS + 20)) sipp "127.0.0.1:$PORT" -sf "$SIPP_DIR/seat_answer.xml" -p "$UAS_PORT" \
    "${SIPP_COMMON[@]}" -m "$CALLS" -l "$LIMIT" -timeout "${SECS}s" -recv_timeout 20000 >/dev/null 2>&1 ) &
PIDS+=("$!")
sleep 0.3

cpu_ticks() { awk '{print $14+$15}' "/proc/$ENGINE/stat"; }
CPU0=$(cpu_ticks)
T0=$(date +%s.%N)
set +e
( cd "$WORK" && timeout $((SECS + 10)) sipp "127.0.0.1:$PORT" -sf "$SIPP_DIR/trunk_call.xml" -s 112 \
    -p "$TRUNK_PORT" "${SIPP_COMMON[@]}" -r "$RATE" -m "$CALLS" -l "$LIMIT" -d "$TALK" \
    -timeout "${SECS}s" -recv_timeout 10000 -trace_stat -stf trunk_stat.csv -fd 1 \
    -trace_rtt -rtt_freq 1 >/dev/null 2>"$WORK/trunk.err" )
TRUNK_RC=$?
set -e
T1=$(date +%s.%N)
sleep 1
CPU1=$(cpu_ticks)
PEAK_KB=$(awk '/VmHWM/{print $2}' "/proc/$ENGINE/status")
kill -TERM "$ENGINE"
for _ in $(seq 1 100); do kill -0 "$ENGINE" 2>/dev/null || break; sleep 0.05; done

CASES=$("$BIN" cases --json --config "$WORK/siaga112.toml" | wc -l)
HZ=$(getconf CLK_TCK)
python3 - "$WORK" "$CALLS" "$RATE" "$SEATS" "$T0" "$T1" "$CPU0" "$CPU1" "$HZ" "$PEAK_KB" "$CASES" "$TRUNK_RC" <<'EOF'
import csv, glob, sys
work, calls, rate, seats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t0, t1 = float(sys.argv[5]), float(sys.argv[6])
cpu = (int(sys.argv[8]) - int(sys.argv[7])) / int(sys.argv[9])
peak_kb, cases, rc = int(sys.argv[10]), int(sys.argv[11]), int(sys.argv[12])
rows = list(csv.reader(open(glob.glob(f"{work}/trunk_stat.csv")[0]), delimiter=';'))
last = dict(zip(rows[0], rows[-1]))
ok = int(last.get("SuccessfulCall(C)", 0)); failed = int(last.get("FailedCall(C)", 0))
started = int(last.get("TotalCallCreated", 0)) if "TotalCallCreated" in last else int(last.get("OutgoingCall(C)", 0))
rtt = []
for f in glob.glob(f"{work}/trunk_call_*_rtt.csv"):
    for r in list(csv.reader(open(f), delimiter=';'))[1:]:
        try: rtt.append(float(r[1]))
        except (ValueError, IndexError): pass
rtt.sort()
q = lambda p: rtt[min(len(rtt) - 1, int(p * len(rtt)))] if rtt else float('nan')
engine_log = open(f"{work}/engine.log").read()
inv = [l for l in engine_log.splitlines() if "trunk INVITE to seat INVITE" in l]
def field(line, name):
    import re
    m = re.search(name + r"=(\d+)", line); return m.group(1) if m else "?"
print("siaga112 load test (loopback, SIPp trunk -> engine -> SIPp seat UAS)")
print(f"  offered:   {calls} calls at {rate} calls/s, {seats} seats")
print(f"  attempted: {started}   completed: {ok}   failed: {failed}   ({100.0*failed/max(started,1):.3f} % failed)")
print(f"  achieved:  {ok/(t1-t0):.1f} calls/s over {t1-t0:.1f} s")
print(f"  setup latency, trunk INVITE -> 200 (ms): p50 {q(0.5):.2f}  p95 {q(0.95):.2f}  p99 {q(0.99):.2f}  (n={len(rtt)})")
if inv:
    print(f"  engine INVITE -> seat INVITE (us): p50 {field(inv[-1],'p50_us')}  p99 {field(inv[-1],'p99_us')}  max {field(inv[-1],'max_us')}")
print(f"  engine CPU: {cpu:.2f} s = {1e6*cpu/max(ok,1):.0f} us per completed call;  peak RSS {peak_kb/1024:.1f} MiB")
print(f"  cases in the case log: {cases} (calls that reached the engine: {started})")
sys.exit(0 if (failed == 0 and cases == started and rc == 0) else 1)
EOF
