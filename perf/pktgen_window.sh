#!/usr/bin/env bash
# perf/pktgen_window.sh - pv2pv pktgen -> sink on its own, window by window: per
# window the sink's Mpps, dom0 CPU ns per frame (pvnetd's thread time, 10 ms
# ticks) and, when hardware counters work (`perf stat -e instructions true`),
# pvnetd's instructions and cycles per frame the sink counted (they include its
# idle loop). The build under test is PVNET_BUILD (default build/), so two builds
# can be compared interleaved:
#   for b in /tmp/old/build build; do PVNET_BUILD=$b perf/pktgen_window.sh; done
# Env: R windows (3), S seconds each (2), SIZE frame bytes (64).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$PB_ROOT/perf/peers/pvnet.sh"
R=${R:-3}; S=${S:-2}; SIZE=${SIZE:-64}
[ "$(id -u)" = 0 ] || { echo "perf/pktgen_window.sh: needs root" >&2; exit 1; }
pb_tmpdir
pvnet_start || exit 1
pvnet_app_pair "$SIZE" || exit 1
HAVE_PERF=0
perf stat -e instructions true >/dev/null 2>&1 && HAVE_PERF=1
echo "# pktgen_window: build=$PB_BUILD size=$SIZE windows=$R x ${S}s perf=$HAVE_PERF"
for r in $(seq 1 "$R"); do
  pvnet_app_pause "$PVA_SINK" on; rx0=$(pvnet_app_ctr "$PVA_SINK" rx_packets); pvnet_app_pause "$PVA_SINK" off
  d0=$(pvnet_cpu_dom0); t0=$(date +%s%N)
  pp=""
  if [ "$HAVE_PERF" = 1 ]; then
    perf stat -e instructions,cycles -x, -o "$PB_TMP/ps.txt" -p "$PVD_PID" &
    pp=$!
  fi
  pvnet_app_pause "$PVA_GEN" off
  sleep "$S"
  pvnet_app_pause "$PVA_GEN" on
  [ -n "$pp" ] && { kill -INT "$pp"; wait "$pp" 2>/dev/null; }
  t1=$(date +%s%N); d1=$(pvnet_cpu_dom0)
  pvnet_app_pause "$PVA_SINK" on; rx1=$(pvnet_app_ctr "$PVA_SINK" rx_packets); pvnet_app_pause "$PVA_SINK" off
  n=$((rx1 - rx0)); [ "$n" -gt 0 ] || n=1
  line="mpps $(pb_calc "$n / (($t1 - $t0) / 1e9) / 1e6") dom0_ns/pkt $(pb_calc "($d1 - $d0) / $n")"
  if [ -n "$pp" ]; then
    ins=$(awk -F, '/instructions/ {print $1}' "$PB_TMP/ps.txt"); cyc=$(awk -F, '/cycles/ {print $1}' "$PB_TMP/ps.txt")
    line="$line ins/pkt $(pb_calc "${ins:-0} / $n") cyc/pkt $(pb_calc "${cyc:-0} / $n")"
  fi
  echo "$line"
done
