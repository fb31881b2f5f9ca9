#!/usr/bin/env bash
# perf/rr_variants.sh - request/response latency (ping -i 0.001, p50/p99/p99.9 in
# µs, first 10 replies dropped) for the Linux bridge and pvnet's wake-up modes,
# interleaved round by round so the machine's load hits them alike:
#   bridge       the kernel bridge between two namespaces (peer)
#   rr.event     two guests, netfront and netback sleep on event channels
#   rr.poll.nf   netfront busy-polls, netback sleeps (vif poll=off)
#   rr.poll      both ends poll (vif poll=on), as the bench's rr.poll row
# Env: R rounds (3), N pings per measurement (2000).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$PB_ROOT/perf/peers/bridge.sh"
. "$PB_ROOT/perf/peers/pvnet.sh"
R=${R:-3}; N=${N:-2000}
[ "$(id -u)" = 0 ] || { echo "perf/rr_variants.sh: needs root" >&2; exit 1; }
pb_tmpdir
bridge_setup || exit 1
one() { # LABEL event|off|on
  pvnet_start || return 1
  pvnet_guests 2 >/dev/null; pvnet_ready || echo "# $1: PV NIC not ready"
  if [ "$2" = event ]; then
    echo "$1 $(pb_rr "${PVG_NS[1]}" "${PVG_IP[2]}" "$N")"
  else
    pvnet_poll_pair "$2" || echo "# $1: polling pair failed"
    echo "$1 $(pb_rr "${PVP_NS[1]}" "${PVP_IP[2]}" "$N")"
    pvnet_poll_destroy
  fi
  pb_kill "$PVD_PID"; wait "$PVD_PID" 2>/dev/null
  for i in 1 2; do ip netns del "$PB_TAG-g$i" 2>/dev/null; ip netns del "$PB_TAG-p$i" 2>/dev/null; done
  ip netns del "$PB_TAG-dom0" 2>/dev/null
}
echo "# rr_variants: rounds=$R pings=$N, columns p50 p99 p99.9 (µs) commit=$(git -C "$PB_ROOT" rev-parse --short HEAD 2>/dev/null)"
for r in $(seq 1 "$R"); do
  echo "bridge $(pb_rr "$BR_NS_A" "$BR_IP_B" "$N")"
  one rr.event event
  one rr.poll.nf off
  one rr.poll on
done
