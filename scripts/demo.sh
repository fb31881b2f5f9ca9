#!/usr/bin/env bash
# `make run`: a demo host. Starts pvnetd in a namespace of its own (so nothing
# can reach the machine's real network), creates the two example guests,
# lists them, shows their store trees with Debian's xenstore-ls, moves traffic
# between them when the paravirtual NIC is built, destroys them, stops the daemon.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/build/bin"
TMP=$(mktemp -d /tmp/pvnet-demo.XXXXXX)
RUN="$TMP/run"
NS="pvnet-demo-$$"
PID=""
export PVNET_RUN_DIR="$RUN" XENSTORED_PATH="$RUN/xenstored"

cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID"; for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null
  fi
  ip netns del "$NS" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

[ "$(id -u)" = 0 ] || { echo "make run needs root (network namespaces)"; exit 1; }
ip netns add "$NS" && ip -n "$NS" link set lo up

step "start pvnetd (dom0) in namespace $NS"
nsenter --net="/run/netns/$NS" "$BIN/pvnetd" --foreground --run-dir "$RUN" --state-dir "$TMP/state" --log "$TMP/pvnetd.log" &
PID=$!
for _ in $(seq 1 100); do [ -S "$RUN/pvnetd.sock" ] && break; sleep 0.05; done
run "$BIN/pvnet" info

step "create two guests from examples/"
run cat "$ROOT/examples/web1.cfg"
run "$BIN/pvnet" create "$ROOT/examples/web1.cfg" || exit 1
run "$BIN/pvnet" create "$ROOT/examples/web2.cfg" || exit 1
for _ in $(seq 1 100); do xenstore-read /local/domain/2/data/pvnet-guest >/dev/null 2>&1 && break; sleep 0.05; done
run "$BIN/pvnet" list

step "their store trees, read with Debian's xenstore-ls (XENSTORED_PATH=$XENSTORED_PATH)"
run xenstore-ls -f /local/domain/1
run xenstore-ls /local/domain/0/backend

if [ -x "$ROOT/scripts/demo-traffic.sh" ]; then
  step "traffic between the guests"
  "$ROOT/scripts/demo-traffic.sh"
fi

step "destroy the guests and stop pvnetd"
run "$BIN/pvnet" destroy web1
run "$BIN/pvnet" destroy web2
run "$BIN/pvnet" list
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
echo "pvnetd exited with status $rc"
[ "$rc" = 0 ] || exit "$rc"

step "a short benchmark table: pvnet against the Linux bridge and DPDK memif, same run"
# not under $TMP: the cleanup trap removes it, and bench.sh names the files it wrote
"$ROOT/perf/bench.sh" --quick --results "$ROOT/build/demo-results" || exit 1
echo "(full suite: make bench; method and figures: docs/benchmarks.md)"
