#!/usr/bin/env bash
# The one test command: installs the peers the end-to-end tests need (SIPp,
# baresip, Kamailio, Chromium and chromedriver, Prometheus, SIPVicious) with apt when
# they are missing, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v baresip >/dev/null 2>&1 || need+=(baresip)
command -v kamailio >/dev/null 2>&1 || need+=(kamailio)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v svcrack >/dev/null 2>&1 || need+=(sipvicious)
# The disk tests: a loop-mounted ext4 they freeze (tests/disk.rs).
command -v mkfs.ext4 >/dev/null 2>&1 || need+=(e2fsprogs)
command -v fsfreeze >/dev/null 2>&1 || need+=(util-linux)
command -v mount >/dev/null 2>&1 || need+=(mount)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing test tools: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The end-to-end tests start the engine and SIPp processes; on a 2-core CI
# machine four at a time keeps every run well inside its timeouts.
# (RUST_TEST_THREADS, not --test-threads: the criterion benches run as tests too.)
RUST_TEST_THREADS=${RUST_TEST_THREADS:-4} cargo test --all-targets "$@"
