# Shared helpers for integration tests (sourced). Each test:
#   . "$(dirname "$0")/lib.sh"; pv_init NAME; ...; pv_done
# Speaks TAP: ok / not ok / ok # SKIP. Everything created is removed on exit,
# even on failure: the dom0 namespace, pvnetd (by its PID), temp files.
set -u

PV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PV_BUILD=${PVNET_BUILD:-build}
case "$PV_BUILD" in /*) ;; *) PV_BUILD="$PV_ROOT/$PV_BUILD" ;; esac
PV_BIN="$PV_BUILD/bin"
PV_N=0
PV_FAILED=0
PV_CLEANUPS=()
PV_NS=""
PV_RUN=""
PV_PID=""

ok() { PV_N=$((PV_N + 1)); echo "ok $PV_N - $*"; }
not_ok() { PV_N=$((PV_N + 1)); PV_FAILED=$((PV_FAILED + 1)); echo "not ok $PV_N - $*"; }
skip() { PV_N=$((PV_N + 1)); echo "ok $PV_N - $1 # SKIP $2"; }
diag() { echo "# $*"; }
# check DESC CMD...: ok if CMD succeeds
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }

pv_cleanup_add() { PV_CLEANUPS+=("$1"); }

pv_cleanup() {
  local i
  for ((i = ${#PV_CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${PV_CLEANUPS[$i]}" >/dev/null 2>&1 || true
  done
  PV_CLEANUPS=()
}
trap pv_cleanup EXIT
trap 'exit 130' INT TERM

# pv_need CMD...: SKIP the whole test if a program is missing.
pv_need() {
  local c
  for c in "$@"; do
    if ! command -v "$c" >/dev/null 2>&1; then
      skip "$PV_TEST" "needs $c"
      exit 0
    fi
  done
}

pv_init() {
  PV_TEST=$1
  if [ "$(id -u)" != 0 ]; then skip "$PV_TEST" "needs root (network namespaces)"; exit 0; fi
  pv_need ip
  if [ ! -x "$PV_BIN/pvnetd" ]; then not_ok "$PV_TEST: $PV_BIN/pvnetd not built"; exit 1; fi
  PV_TMP=$(mktemp -d /tmp/pvnet-test.XXXXXX)
  pv_cleanup_add "rm -rf '$PV_TMP'"
  PV_RUN="$PV_TMP/run"
  export PVNET_RUN_DIR="$PV_RUN"
  export PVNET_STATE_DIR="$PV_TMP/state" # the switch config pvnetd saves: never the host's
  export XENSTORED_PATH="$PV_RUN/xenstored"
  PV_NS="pvt-$$-$(basename "$PV_TMP" | cut -d. -f2)"
  ip netns add "$PV_NS" || { not_ok "$PV_TEST: cannot create netns"; exit 1; }
  pv_cleanup_add "ip netns del '$PV_NS'"
  ip -n "$PV_NS" link set lo up
}

# Starts pvnetd in the test's dom0 namespace; waits until its sockets answer.
pv_start() {
  # nsenter --net (not ip netns exec): guests bind-mount their namespaces under
  # /run/netns, which must propagate to the host mount namespace.
  nsenter --net="/run/netns/$PV_NS" "$PV_BIN/pvnetd" --foreground --run-dir "$PV_RUN" \
    --log "$PV_TMP/pvnetd.log" "$@" &
  PV_PID=$!
  pv_cleanup_add "pv_kill_daemon $PV_PID"
  local i
  for i in $(seq 1 100); do
    if [ -S "$PV_RUN/pvnetd.sock" ] && pvnet info >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$PV_PID" 2>/dev/null; then break; fi
    sleep 0.05
  done
  diag "pvnetd did not start:"; sed 's/^/# /' "$PV_TMP/pvnetd.log" 2>/dev/null
  return 1
}

# Stops a daemon we started: SIGTERM, wait up to 10 s, then SIGKILL. PV guests
# outlive pvnetd (they wait to be re-adopted): for the test's own pvnetd they are
# shut down first, and any still running afterwards (their pvnetd was killed)
# get SIGTERM by the pid their domain record names.
pv_kill_daemon() {
  local pid=$1 i r
  if [ "$pid" = "$PV_PID" ] && kill -0 "$pid" 2>/dev/null; then
    timeout 60 "$PV_BIN/pvnet" --run-dir "$PV_RUN" shutdown --all --wait >/dev/null 2>&1
  fi
  kill -TERM "$pid" 2>/dev/null || { pv_kill_guests; return 0; }
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || { pv_kill_guests; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  pv_kill_guests
}
pv_kill_guests() {
  local r p
  for r in "${PVNET_STATE_DIR:-/nonexistent}"/domains/*.dom; do
    [ -f "$r" ] || continue
    p=$(awk '$1 == "pid" {print $2}' "$r")
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
  done
}

pvnet() { "$PV_BIN/pvnet" --run-dir "$PV_RUN" "$@"; }

# domid NAME: a domain's id from `pvnet list` (empty if none).
domid() { pvnet list | awk -v n="$1" '$1 == n {print $2}'; }
# vif_state NAME DEVID front|back: the store state of a guest's vif (empty if none).
vif_state() {
  local id
  id=$(domid "$1")
  [ -n "$id" ] || return 1
  case $3 in
  front) xenstore-read "/local/domain/$id/device/vif/$2/state" 2>/dev/null ;;
  *) xenstore-read "/local/domain/0/backend/vif/$id/$2/state" 2>/dev/null ;;
  esac
}
# connected [--store] NAME [DEVID]: the guest's vif DEVID (0) is Connected on both
# ends (store states 4) and its eth<DEVID> exists in the guest's namespace (named
# after the domain); --store: the store states only (a guest with no interface,
# e.g. pktgen mode).
connected() {
  local store=0
  [ "$1" = --store ] && { store=1; shift; }
  local dev=${2:-0}
  [ "$(vif_state "$1" "$dev" front)" = 4 ] && [ "$(vif_state "$1" "$dev" back)" = 4 ] &&
    { [ "$store" = 1 ] || ip -n "$1" link show "eth$dev" >/dev/null 2>&1; }
}

# pv_cfg NAME [VIFSPEC ...]: writes $PV_TMP/NAME.cfg, a PV guest of 64 MiB in a
# namespace named NAME with one vif per VIFSPEC (xl's syntax, e.g.
# 'bridge=br0, ip=10.1.0.1/24'), and removes that namespace at cleanup. A spec
# without mac= gets the next MAC of this test run (00:16:3e + 16 bits of the test's
# pid + a counter): PV_MAC holds the last one given. PV_MEMORY=N pv_cfg ...: N MiB
# instead of 64. Append other keys to the file.
# Call it in the test's shell, not in $(...): the counter and the cleanup would be lost.
PV_NMAC=0
PV_MAC=""
pv_cfg() {
  local name=$1 spec vifs="" sep=""
  shift
  for spec in "$@"; do
    if [[ "$spec" != *mac=* ]]; then
      PV_NMAC=$((PV_NMAC + 1))
      PV_MAC=$(printf '00:16:3e:%02x:%02x:%02x' $((($$ >> 8) & 255)) $(($$ & 255)) $((PV_NMAC & 255)))
      spec="mac=$PV_MAC, $spec"
    fi
    vifs="$vifs$sep'$spec'"
    sep=", "
  done
  {
    echo "name = \"$name\""
    echo "memory = ${PV_MEMORY:-64}"
    echo "netns = \"$name\""
    [ -n "$vifs" ] && echo "vif = [ $vifs ]"
  } >"$PV_TMP/$name.cfg"
  pv_cleanup_add "ip netns del '$name' 2>/dev/null"
}

# num A OP B: compares two decimal numbers (OP: < <= > >= == !=), e.g. num "$mbps" '<' 20;
# near A B TOL: |A - B| <= TOL. The values are awk variables, never program text.
num() {
  awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { a += 0; b += 0
    r = op == "<" ? a < b : op == "<=" ? a <= b : op == ">" ? a > b : op == ">=" ? a >= b : op == "==" ? a == b : a != b
    exit !r }'
}
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; exit !(d <= t + 0 && -d <= t + 0) }'; }

# jget [--sum|--count|--len] [--fmt SPEC] PATH ...: values out of the JSON on stdin
# (tests/integration/jq.py: PATH is e.g. vifs.[name=vif3.0].drops.tx_fatal or
# end.sum_received.bits_per_second); exits 1 when PATH reaches nothing.
jget() { python3 "$PV_ROOT/tests/integration/jq.py" "$@"; }

# rss_kb, nfds: pvnetd's resident memory (KiB) and open fds, for leak checks
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$PV_PID/status"; }
nfds() { ls "/proc/$PV_PID/fd" 2>/dev/null | wc -l; }

# Runs a command inside a guest's namespace.
in_guest() { local g=$1; shift; ip netns exec "$g" "$@"; }

# Waits until CMD succeeds (polling every 50 ms, at most SECS seconds).
wait_for() {
  local secs=$1 i; shift
  for ((i = 0; i < secs * 20; i++)); do "$@" && return 0; sleep 0.05; done
  return 1
}

pv_done() {
  if [ -n "$PV_PID" ] && [ "$PV_FAILED" != 0 ]; then
    diag "pvnetd log:"; tail -n 40 "$PV_TMP/pvnetd.log" 2>/dev/null | sed 's/^/# /'
  fi
  echo "1..$PV_N"
  [ "$PV_FAILED" = 0 ]
}
