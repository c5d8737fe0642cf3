#!/usr/bin/env bash
# The capacity planner's speed (issue 16: a simulated day of DKI Jakarta's
# volume in under 2 s of CPU). Release build; CPU time (user + sys) of the
# whole process, best and worst of SIM_BENCH_RUNS runs (default 5):
#   - one day of the shipped Jakarta scenario (11 seats a shift), and with
#     the fewest seats --find-seats finds (3/4/3: queues, abandons);
#   - a week of it, and --find-seats over a week (FIFO and prank-aware).
# Exits 1 when a Jakarta day takes 2 s of CPU or more.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
nice -n 10 cargo build --release --bin siaga112 >&2
bin=target/release/siaga112
jk=config/scenarios/jakarta-2024.toml
runs=${SIM_BENCH_RUNS:-5}
fail=0
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
bench() {
    local label=$1 limit=$2
    shift 2
    local best=999 worst=0 t calls
    for _ in $(seq "$runs"); do
        t=$( { /usr/bin/time -f "%U %S" "$bin" simulate --scenario "$jk" "$@" --json >/dev/null 2>/tmp/sim-bench.$$; } 2>&1 || true)
        t=$(tail -1 /tmp/sim-bench.$$ | awk '{print $1 + $2}')
        calls=$(grep -o '([0-9]* calls counted)' /tmp/sim-bench.$$ | tr -dc 0-9)
        best=$(awk -v a="$best" -v b="$t" 'BEGIN{print (b < a) ? b : a}')
        worst=$(awk -v a="$worst" -v b="$t" 'BEGIN{print (b > a) ? b : a}')
    done
    rm -f /tmp/sim-bench.$$
    printf '%-52s %8s calls  CPU best %5.2f s, worst %5.2f s' "$label" "$calls" "$best" "$worst"
    if [ -n "$limit" ]; then
        if awk -v w="$worst" -v l="$limit" 'BEGIN{exit !(w < l)}'; then
            printf '  (< %s s: ok)\n' "$limit"
        else
            printf '  (>= %s s: TOO SLOW)\n' "$limit"
            fail=1
        fi
    else
        echo
    fi
}
few=(--set sim.shift.0.seats=3 --set sim.shift.1.seats=4 --set sim.shift.2.seats=3)
bench "Jakarta, 1 day, 11 seats a shift" 2 --hours 24
bench "Jakarta, 1 day, 3/4/3 seats" 2 --hours 24 "${few[@]}"
bench "Jakarta, 1 week, 11 seats a shift" "" --hours 168
bench "Jakarta, --find-seats over 1 week, FIFO vs prank-aware" "" --hours 168 --find-seats --compare-set sim.prank_aware=true
exit $fail
