#!/usr/bin/env bash
# Traffic between the demo guests web1 (10.0.0.1) and web2 (10.0.0.2), run by
# scripts/demo.sh with PVNET_RUN_DIR set: ping both ways (IPv4 and IPv6) and a
# 5-second iperf3 each way, printing the figures.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/build/bin"
RUN=${PVNET_RUN_DIR:?PVNET_RUN_DIR must be set (scripts/demo.sh does)}
export XENSTORED_PATH=${XENSTORED_PATH:-$RUN/xenstored}
SPID=""
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null' EXIT

domid() { "$BIN/pvnet" --run-dir "$RUN" list | awk -v n="$1" '$1 == n {print $2}'; }
state() { xenstore-read "$1" 2>/dev/null; }
connected() {
  local id; id=$(domid "$1")
  [ -n "$id" ] && [ "$(state "/local/domain/$id/device/vif/0/state")" = 4 ] &&
    [ "$(state "/local/domain/0/backend/vif/$id/0/state")" = 4 ]
}
wait_connected() {
  local i
  for i in $(seq 1 200); do connected "$1" && return 0; sleep 0.05; done
  return 1
}

for g in web1 web2; do
  if ! wait_connected "$g"; then
    id=$(domid "$g")
    echo "$g: PV NIC not connected (frontend state $(state "/local/domain/$id/device/vif/0/state")," \
      "backend state $(state "/local/domain/0/backend/vif/$id/0/state"))"
    exit 1
  fi
done
echo "web1 and web2: PV NICs connected"
ip -n web1 addr show eth0

rc=0
echo "\$ ip netns exec web1 ping -c 3 10.0.0.2"
ip netns exec web1 ping -c 3 -i 0.2 -W 2 10.0.0.2 || rc=1
echo "\$ ip netns exec web2 ping -c 3 10.0.0.1"
ip netns exec web2 ping -c 3 -i 0.2 -W 2 10.0.0.1 || rc=1
echo "\$ ip netns exec web1 ping -6 -c 3 fd00::2"
ip netns exec web1 ping -6 -c 3 -i 0.2 -W 2 fd00::2 || rc=1

if ! command -v iperf3 >/dev/null; then echo "iperf3 not installed: skipping throughput"; exit $rc; fi
iperf_run() {
  local srv=$1 ip=$2 cli=$3
  ip netns exec "$srv" iperf3 -s -1 -B "$ip" >/dev/null 2>&1 &
  SPID=$!
  for _ in $(seq 1 100); do ip netns exec "$srv" ss -ltn | grep -q ':5201 ' && break; sleep 0.05; done
  echo "\$ ip netns exec $cli iperf3 -c $ip -t 5"
  ip netns exec "$cli" iperf3 -c "$ip" -t 5 -f g | grep -E 'sender|receiver' || rc=1
  wait "$SPID" 2>/dev/null; SPID=""
}
iperf_run web2 10.0.0.2 web1
iperf_run web1 10.0.0.1 web2
exit $rc
