#!/usr/bin/env bash
# Load test of the whole call path on loopback, bounded in time and count.
#
#   scripts/loadtest.sh [--rate CPS] [--calls N] [--seats N] [--talk MS]
#                       [--baseline [--repeat N]] [--step] [--bin PATH] [--keep] [--media]
#                       [--console] [--flood RPS]
#
# Builds the release binary, starts the engine with a generated config of N
# seats, registers every seat with its Contact on one SIPp UAS (which answers
# for all of them), drives N trunk calls at CPS with SIPp (INVITE, queue, seat
# answers, short talk, BYE) and prints one summary: calls attempted,
# completed, failed, calls/s achieved, setup latency from the trunk's view
# (p50/p95/p99), the engine's CPU time per call and peak RSS, and the cases in
# the case log (which must equal the calls that reached the engine).
#
# --baseline  also runs Kamailio (installed if missing) as a plain stateful
#             proxy (tm + rr) from the same SIPp trunk to the same SIPp UAS at
#             the same rate, and prints siaga112's CPU per call over Kamailio's.
# --repeat N  with --baseline: N runs of each, alternating siaga112 and
#             Kamailio (both stay up), a ratio per pair and their median: on a
#             shared VM one pair can be off by 10 %.
# --step      doubles the rate from --rate (default 100), 10 s of calls per
#             step, up to 12,800 calls/s, until calls fail or setup p99 passes
#             200 ms, and reports the highest rate held with under 0.1 %
#             failed calls.
# --media     relays the calls' media through the engine (prompts, ports,
#             the recorder) as the shipped config does; off by default, so
#             that the comparison with Kamailio (no media) is like for like.
# --console   turns the console on and keeps a real browser (headless
#             Chromium through chromedriver, scripts/console_watch.py) on the
#             supervisor's wallboard, subscribed to the event stream, for the
#             whole run; the engine's CPU then includes the console's thread.
# --flood RPS each run twice: once as it is, then again while a stranger
#             (scripts/flood.py, on 127.0.0.1) sends RPS unauthenticated
#             REGISTER and INVITE a second; the trunk and the seats are on
#             ::1 for both, so the flood's source is no trunk. Prints the
#             setup p99 with the flood over the one without (goal: <= 2).
# Everything it starts is stopped at the end; nothing leaves loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=100
CALLS=1000
SEATS=50
TALK=200
COMMIT_MS=5
MEDIA=false
CONSOLE=0
KEEP=0
BASELINE=0
REPEAT=1
STEP=0
BIN=""
FLOOD=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --calls) CALLS=$2; shift 2 ;;
    --seats) SEATS=$2; shift 2 ;;
    --talk) TALK=$2; shift 2 ;;
    --commit-ms) COMMIT_MS=$2; shift 2 ;;
    --media) MEDIA=true; shift ;;
    --console) CONSOLE=1; shift ;;
    --baseline) BASELINE=1; shift ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --step) STEP=1; shift ;;
    --keep) KEEP=1; shift ;;
    --bin) BIN=$2; shift 2 ;;
    --flood) FLOOD=$2; shift 2 ;;
    -h|--help) sed -n 2,38p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
install() {
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}
command -v sipp >/dev/null 2>&1 || { echo "installing sip-tester (SIPp)"; install sip-tester; }
if [ "$CONSOLE" = 1 ] && ! command -v chromedriver >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver"; install chromium chromium-driver
fi
if [ "$BASELINE" = 1 ] && ! command -v kamailio >/dev/null 2>&1; then
  echo "installing kamailio"; install kamailio
fi
if [ -z "$BIN" ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/siaga112
fi
SIPP_DIR=$PWD/scripts/sipp

WORK=$(mktemp -d /tmp/siaga112-load.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/kamailio.pid" ] && kill "$(cat "$WORK/kamailio.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "$KEEP" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
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

# With --flood the trunk and the seats are on ::1 and the stranger on
# 127.0.0.1; otherwise everything is on 127.0.0.1.
if [ "$FLOOD" -gt 0 ]; then
  [ "$BASELINE" = 0 ] && [ "$STEP" = 0 ] || { echo "--flood goes without --baseline and --step" >&2; exit 2; }
  SIPP_HOST="[::1]"; SIPP_IP="::1"; TRUNK_PEER="::1/128"
else
  SIPP_HOST="127.0.0.1"; SIPP_IP="127.0.0.1"; TRUNK_PEER="127.0.0.1/32"
fi
SIPP_COMMON=(-i "$SIPP_IP" -nostdin -buff_size 4194304)
HZ=$(getconf CLK_TCK)
# CPU ticks (user + system) of the given processes.
cpu_ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
# "name ticks" per thread of a process (threads of one name summed).
thread_ticks() {
  for t in /proc/"$1"/task/*; do
    printf '%s %s\n' "$(tr ' ' '_' < "$t/comm")" "$(sed 's/^.*) //' "$t/stat" | awk '{print $12+$13}')"
  done 2>/dev/null | awk '{s[$1]+=$2} END {for (k in s) print k, s[k]}'
}

# drive TARGET_PORT UAS_PORT RATE CALLS LABEL PIDS... -> writes $WORK/LABEL.result
drive() {
  local target=$1 uas=$2 rate=$3 calls=$4 label=$5; shift 5
  local dir="$WORK/$label"; mkdir -p "$dir"
  local limit=$((calls > 20000 ? 20000 : calls)) secs=$((calls / rate + 30))
  ( cd "$dir" && exec timeout $((secs + 20)) sipp "$SIPP_HOST:$target" -sn uas -p "$uas" "${SIPP_COMMON[@]}" \
      -m "$calls" -timeout "${secs}s" >/dev/null 2>&1 ) &
  local uas_pid=$!
  sleep 0.3
  local cpu0 t0 cpu1 t1 rc peak
  # Resident memory of the first process every 10 s (flat after warm-up?).
  ( while kill -0 "$1" 2>/dev/null; do awk '/VmRSS/{print $2}' "/proc/$1/status" >> "$dir/rss.log"; sleep 10; done ) &
  local sampler=$!
  thread_ticks "$1" > "$dir/threads0"
  cpu0=$(cpu_ticks "$@"); t0=$(date +%s.%N)
  set +e
  ( cd "$dir" && timeout $((secs + 10)) sipp "$SIPP_HOST:$target" -sf "$SIPP_DIR/trunk_load.xml" -s 112 \
      -p "$(free_port)" "${SIPP_COMMON[@]}" -r "$rate" -m "$calls" -l "$limit" -d "$TALK" \
      -timeout "${secs}s" -recv_timeout 10000 -trace_stat -stf trunk_stat.csv -fd 1 \
      -trace_rtt -rtt_freq 1 >/dev/null 2>"$dir/trunk.err" )
  rc=$?
  set -e
  t1=$(date +%s.%N)
  sleep 0.5
  cpu1=$(cpu_ticks "$@")
  thread_ticks "$1" > "$dir/threads1"
  peak=0; for p in "$@"; do peak=$((peak + $(awk '/VmHWM/{print $2}' "/proc/$p/status"))); done
  kill "$uas_pid" "$sampler" 2>/dev/null || true; wait "$uas_pid" "$sampler" 2>/dev/null || true
  python3 - "$dir" "$calls" "$rate" "$t0" "$t1" "$cpu0" "$cpu1" "$HZ" "$peak" "$rc" > "$WORK/$label.result" <<'EOF'
import csv, glob, json, sys
d, calls, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0, t1 = float(sys.argv[4]), float(sys.argv[5])
cpu = (int(sys.argv[7]) - int(sys.argv[6])) / int(sys.argv[8])
rows = list(csv.reader(open(f"{d}/trunk_stat.csv"), delimiter=';'))
last = dict(zip(rows[0], rows[-1]))
ok, failed = int(last.get("SuccessfulCall(C)", 0)), int(last.get("FailedCall(C)", 0))
started = int(last.get("OutgoingCall(C)", 0) or last.get("TotalCallCreated", 0))
rtt = []
for f in glob.glob(f"{d}/trunk_load_*_rtt.csv"):
    for r in list(csv.reader(open(f), delimiter=';'))[1:]:
        try: rtt.append(float(r[1]))
        except (ValueError, IndexError): pass
rtt.sort()
q = lambda p: rtt[min(len(rtt) - 1, int(p * len(rtt)))] if rtt else -1.0
rss = [int(x) for x in open(f"{d}/rss.log").read().split()] if glob.glob(f"{d}/rss.log") else []
def ticks(f):
    out = {}
    for line in open(f):
        k, v = line.split()
        out[k] = int(v)
    return out
a, b = ticks(f"{d}/threads0"), ticks(f"{d}/threads1")
threads = {k: (b[k] - a.get(k, 0)) / int(sys.argv[8]) for k in b if b[k] - a.get(k, 0) > 0}
print(json.dumps(dict(calls=calls, rate=rate, started=started, ok=ok, failed=failed,
    secs=t1 - t0, cpu=cpu, p50=q(.5), p95=q(.95), p99=q(.99), n=len(rtt),
    peak_kb=int(sys.argv[9]), rc=int(sys.argv[10]), rss_kb=rss, threads=threads)))
EOF
}

# ---------------------------------------------------------------- siaga112
PORT=$(free_port)
UAS_PORT=$(free_port)
{
  cat <<EOF
[sip]
listen = ["udp:127.0.0.1:$PORT"$([ "$FLOOD" -gt 0 ] && echo ", \"udp:[::1]:$PORT\"")]
realm = "siaga112"
# No OPTIONS keep-alives: SIPp's built-in uas counts each seat's keep-alive
# exchange as a call of its -m, and no UAS listens between runs.
keepalive_s = 0

[[trunk]]
name = "load"
peers = ["$TRUNK_PEER"]

[[route]]
match = ["112"]
queue = "emergency"

[[queue]]
name = "emergency"
ring_timeout_s = 15
max_wait_s = 120

[caselog]
path = "$WORK/cases.jsonl"
commit_window_ms = $COMMIT_MS

# Signalling only unless --media: Kamailio relays no media either, and
# SIPp's trunk and UAS send none.
[media]
enabled = $MEDIA

[recording]
dir = "$WORK/recordings"
EOF
  for i in $(seq 1 "$SEATS"); do
    printf '\n[[seat]]\nuser = "s%d"\npassword = "pw"\nqueues = ["emergency"]\n' "$i"
  done
  if [ "$CONSOLE" = 1 ]; then
    HTTP_PORT=$(free_port)
    printf '\n[http]\nlisten = "127.0.0.1:%s"\nsession_key = "%s"\n' "$HTTP_PORT" "$WORK/session.key"
    printf '\n[[user]]\nname = "sup"\nrole = "supervisor"\npassword_hash = "%s"\n' \
      "$(echo load-test-sup | "$BIN" hash-password)"
  fi
} > "$WORK/siaga112.toml"

NO_COLOR=1 RUST_LOG=${RUST_LOG:-info} "$BIN" run --config "$WORK/siaga112.toml" 2> "$WORK/engine.log" &
ENGINE=$!
PIDS+=("$ENGINE")
for _ in $(seq 1 100); do grep -q "siaga112 is running" "$WORK/engine.log" && break; sleep 0.05; done
for i in $(seq 1 "$SEATS"); do
  timeout 15 sipp "$SIPP_HOST:$PORT" -sf "$SIPP_DIR/register.xml" -s "s$i" -au "s$i" -ap pw -m 1 \
    -p "$UAS_PORT" "${SIPP_COMMON[@]}" -timeout 10s -timeout_error >/dev/null 2>&1 \
    || { echo "seat s$i did not register" >&2; exit 1; }
done
if [ "$CONSOLE" = 1 ]; then
  python3 scripts/console_watch.py "http://127.0.0.1:$HTTP_PORT/" sup load-test-sup > "$WORK/watch.log" 2>&1 &
  WATCH=$!
  PIDS+=("$WATCH")
  for _ in $(seq 1 200); do grep -q watching "$WORK/watch.log" && break; sleep 0.1; done
  grep -q watching "$WORK/watch.log" || { echo "the browser did not get onto the wallboard:" >&2; cat "$WORK/watch.log" >&2; exit 1; }
  echo "console: a browser on the wallboard (http://127.0.0.1:$HTTP_PORT/), subscribed to events"
fi

summary() { # LABEL NAME
  python3 - "$WORK/$1.result" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); name = sys.argv[2]
print(f"{name}: {r['calls']} calls offered at {r['rate']}/s")
print(f"  attempted {r['started']}  completed {r['ok']}  failed {r['failed']} ({100.0*r['failed']/max(r['started'],1):.3f} %)")
print(f"  achieved {r['ok']/r['secs']:.1f} calls/s over {r['secs']:.1f} s")
print(f"  setup latency, trunk INVITE -> 200 (ms): p50 {r['p50']:.2f}  p95 {r['p95']:.2f}  p99 {r['p99']:.2f}  (n={r['n']})")
print(f"  CPU {r['cpu']:.2f} s = {1e6*r['cpu']/max(r['ok'],1):.0f} us per completed call;  peak RSS {r['peak_kb']/1024:.1f} MiB")
th = r.get('threads', {})
if len(th) > 1:
    print("  CPU by thread (us per call): " + "  ".join(
        f"{k} {1e6*v/max(r['ok'],1):.0f}" for k, v in sorted(th.items(), key=lambda x: -x[1])))
rss = r.get('rss_kb', [])
if len(rss) >= 3:
    print("  RSS every 10 s (MiB): " + " ".join(f"{x/1024:.1f}" for x in rss))
EOF
}

# ---------------------------------------------------------------- Kamailio
start_kamailio() {
  KPORT=$(free_port)
  KUAS=$(free_port)
  MPATH=$(dirname "$(find /usr/lib -name tm.so -path '*kamailio*' | head -1)")
  cat > "$WORK/kamailio.cfg" <<EOF
#!KAMAILIO
debug=0
log_stderror=yes
fork=yes
children=2
listen=udp:127.0.0.1:$KPORT
disable_tcp=yes
mpath="$MPATH/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (has_totag()) {
    # In-dialog: by Route if there is one, else by Request-URI (SIPp's
    # built-in UAS does not echo Record-Route).
    loose_route();
    t_relay();
    exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
  t_check_trans();
  record_route();
  \$du = "sip:127.0.0.1:$KUAS";
  t_relay();
}
EOF
  kamailio -f "$WORK/kamailio.cfg" -c >/dev/null 2>&1 || { echo "kamailio config check failed" >&2; exit 1; }
  kamailio -f "$WORK/kamailio.cfg" -m 1024 -M 16 -P "$WORK/kamailio.pid" -w "$WORK" -E 2>"$WORK/kamailio.log"
  sleep 1
  KPIDS=$(pgrep -f "kamailio -f $WORK/kamailio.cfg" | tr '\n' ' ')
}

FAILED=0
if [ "$STEP" = 1 ]; then
  best=0; rate=$RATE
  while :; do
    drive "$PORT" "$UAS_PORT" "$rate" $((rate * 10)) "step-$rate" "$ENGINE"
    read -r ok failed started p99 achieved < <(python3 -c "import json;r=json.load(open('$WORK/step-$rate.result'));print(r['ok'],r['failed'],r['started'],r['p99'],round(r['ok']/r['secs'],1))")
    held=$(python3 -c "print(1 if $failed * 1000 < max($started,1) and $p99 <= 200 and $ok > 0 else 0)")
    printf 'step %5d calls/s: completed %d failed %d achieved %s calls/s setup p99 %s ms -> %s\n' "$rate" "$ok" "$failed" "$achieved" "$p99" \
      "$([ "$held" = 1 ] && echo held || echo NOT held)"
    [ "$held" = 1 ] || break
    best=$rate
    [ "$rate" -ge 12800 ] && break
    rate=$((rate * 2))
  done
  echo "highest rate held with < 0.1 % failed and setup p99 <= 200 ms: $best calls/s"
  CALLS_TOTAL=$(cat "$WORK"/step-*.result | python3 -c "import json,sys;print(sum(json.loads(l)['started'] for l in sys.stdin))")
else
  [ "$BASELINE" = 1 ] && start_kamailio
  for k in $(seq 1 "$REPEAT"); do
    drive "$PORT" "$UAS_PORT" "$RATE" "$CALLS" "engine-$k" "$ENGINE"
    summary "engine-$k" "siaga112 (SIPp trunk -> siaga112 B2BUA -> SIPp UAS, $SEATS seats)"
    if [ "$(python3 -c "import json;r=json.load(open('$WORK/engine-$k.result'));print(1 if r['failed'] or r['rc'] else 0)")" = 1 ]; then
      FAILED=1
    fi
    if [ "$FLOOD" -gt 0 ]; then
      python3 scripts/flood.py --target "127.0.0.1:$PORT" --rate "$FLOOD" \
        --seconds $((CALLS / RATE + 3)) > "$WORK/flood-$k.log" 2>&1 &
      FLOODER=$!
      PIDS+=("$FLOODER")
      sleep 1
      drive "$PORT" "$UAS_PORT" "$RATE" "$CALLS" "flood-$k" "$ENGINE"
      wait "$FLOODER" || true
      summary "flood-$k" "siaga112 with a flood of $FLOOD REGISTER+INVITE/s from a stranger"
      sed 's/^/  /' "$WORK/flood-$k.log"
      python3 - "$WORK/engine-$k.result" "$WORK/flood-$k.result" <<'EOF'
import json, sys
q, f = (json.load(open(p)) for p in sys.argv[1:3])
ratio = f['p99'] / q['p99'] if q['p99'] > 0 else float('nan')
print(f"setup p99 with the flood / without: {f['p99']:.2f} / {q['p99']:.2f} ms = {ratio:.2f} (goal <= 2); "
      f"failed calls with the flood: {f['failed']}")
EOF
      if [ "$(python3 -c "import json;r=json.load(open('$WORK/flood-$k.result'));print(1 if r['failed'] or r['rc'] else 0)")" = 1 ]; then
        FAILED=1
      fi
    fi
    [ "$BASELINE" = 1 ] || continue
    # shellcheck disable=SC2086
    drive "$KPORT" "$KUAS" "$RATE" "$CALLS" "kamailio-$k" $KPIDS
    summary "kamailio-$k" "Kamailio stateful proxy (SIPp trunk -> Kamailio tm+rr -> SIPp UAS)"
    python3 - "$WORK/engine-$k.result" "$WORK/kamailio-$k.result" <<'EOF'
import json, sys
e, k = (json.load(open(p)) for p in sys.argv[1:3])
pe, pk = e['cpu'] / max(e['ok'], 1), k['cpu'] / max(k['ok'], 1)
print(f"CPU per call, siaga112 / Kamailio at {e['rate']} calls/s: {1e6*pe:.0f} us / {1e6*pk:.0f} us = {pe/pk if pk else float('nan'):.2f}")
EOF
  done
  CALLS_TOTAL=$(cat "$WORK"/engine-*.result $(ls "$WORK"/flood-*.result 2>/dev/null) | python3 -c "import json,sys;print(sum(json.loads(l)['started'] for l in sys.stdin))")
  if [ "$BASELINE" = 1 ] && [ "$REPEAT" -gt 1 ]; then
    python3 - "$WORK" "$REPEAT" <<'EOF'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
def per_call(p):
    r = json.load(open(p)); return r['cpu'] / max(r['ok'], 1)
ratios = [per_call(f"{d}/engine-{k}.result") / per_call(f"{d}/kamailio-{k}.result") for k in range(1, n + 1)]
print(f"CPU per call ratio over {n} alternating pairs: " + " ".join(f"{x:.2f}" for x in ratios)
      + f"; median {statistics.median(ratios):.2f}")
EOF
  fi
fi
if [ "$CONSOLE" = 1 ]; then
  kill -TERM "$WATCH" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$WATCH" 2>/dev/null || break; sleep 0.1; done
  sed 's/^/  /' "$WORK/watch.log" | grep -v watching || true
fi
kill -TERM "$ENGINE"
for _ in $(seq 1 100); do kill -0 "$ENGINE" 2>/dev/null || break; sleep 0.05; done
grep -E "trunk INVITE to seat INVITE|routed to a seat|case log closed" "$WORK/engine.log" | sed -E 's/^[^ ]+ +INFO siaga112::engine: /  engine: /'
CASES=$("$BIN" cases --json --config "$WORK/siaga112.toml" | wc -l)
echo "  cases in the case log: $CASES (calls that reached the engine: $CALLS_TOTAL)"
[ "$CASES" = "$CALLS_TOTAL" ] || FAILED=1
[ -f "$WORK/kamailio.pid" ] && kill "$(cat "$WORK/kamailio.pid")" 2>/dev/null || true

exit "$FAILED"
