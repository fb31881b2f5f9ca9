#!/usr/bin/env bash
# perf/bench.sh - pvnet's benchmark suite, with its peers measured in the same
# run (docs/benchmarks.md explains the method and how to read the output).
#
#   perf/bench.sh [--quick] [--json FILE] [--results DIR]
#
# Prints one header line, then one aligned line per configuration; writes the
# rows as JSON to DIR/<date>-<commit>[-quick].json (DIR defaults to
# perf/results, or $PB_RESULTS_DIR) and to FILE, plus a PNG chart next to the
# JSON when gnuplot is there. Needs root (network namespaces).
#
# Scenarios (label = JSON "scenario"):
#   bridge.pktgen     pvnet-pktgen over AF_PACKET across the Linux bridge peer
#   memif.testpmd     dpdk-testpmd txonly -> rxonly over net_memif (the
#                     shared-memory limit)
#   pv2pv.afpacket    pvnet-pktgen over AF_PACKET on two pvnet guests' NICs
#   pv2pv.pktgen      netfront's in-ring generator (vif mode=pktgen) -> a
#                     mode=sink guest: counters from data/pktgen/* in the store
#   bridge.tcp.P<n> / tcp.P<n>    iperf3 with n streams
#   bridge.rr / rr    ping -i 0.001 round trips, p50/p99/p99.9
#   rr.poll           the same in polling mode: netfront busy-polls and netback
#                     too (vif poll=on)
#   scale.<n>pairs    n guest pairs at once, 64 B: aggregate Mpps, Jain index
#   wire.memif        the DPDK plugin (pvnet-accel-test --bench, one thread) over
#                     net_memif to a testpmd macswap: Mpps onto the wire and back
#   qemu.tap.*        peer: QEMU (TCG) guest on a plain TAP backend on a Linux
#                     bridge, iperf3 with a namespace on that bridge, both ways
#   dpdk.vhost.*      peer (full run only): the same guest on DPDK's librte_vhost
#                     (testpmd net_vhost forwarding to a net_tap), iperf3 from
#                     that TAP's namespace
#   hvm2pv.*          iperf3 between a QEMU (TCG) HVM guest created by pvnetd
#                     (vhost-user port) and PV guest 1 on the same bridge, both ways
# A pvnet row whose PV NIC cannot carry traffic is "n/a (PV NIC not ready)".
set -u
. "$(dirname "$0")/lib.sh"
. "$PB_ROOT/perf/peers/bridge.sh"
. "$PB_ROOT/perf/peers/memif.sh"
. "$PB_ROOT/perf/peers/pvnet.sh"
. "$PB_ROOT/perf/peers/qemu.sh"
. "$PB_ROOT/perf/peers/wire.sh"

QUICK=0
JSON_OUT=""
RESULTS=${PB_RESULTS_DIR:-$PB_ROOT/perf/results}
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --json) JSON_OUT=$2; shift ;;
    --results) RESULTS=$2; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$QUICK" = 1 ]; then
  RUNS=1; SECS=1; SIZES="64 1500"; MEMIF_SIZES="64"; STREAMS="1"; RR_COUNT=300; SCALE="1 2"
else
  RUNS=3; SECS=2; SIZES="64 512 1500"; MEMIF_SIZES="64 1500"; STREAMS="1 4"; RR_COUNT=2000
  SCALE="1 2 4 8"
fi
BURST=32
RING=1024
HVM_SECS=$((SECS + 1)) # iperf3 seconds of the hvm rows (plus 1 s omitted): quick 2, full 3
# HVM guests under TCG, both pvnetd's and the QEMU/TAP peer's (kvm-pvm here
# boots only PVM guest kernels; see issue #7)
export PVNET_HVM_ACCEL=tcg

if [ "$(id -u)" != 0 ]; then echo "bench: needs root (network namespaces)" >&2; exit 1; fi
for c in ip taskset iperf3 ping nsenter; do
  command -v "$c" >/dev/null || { echo "bench: needs $c (scripts/deps.sh)" >&2; exit 1; }
done
[ -x "$PB_BIN/pvnet-pktgen" ] || { echo "bench: $PB_BIN/pvnet-pktgen not built (make)" >&2; exit 1; }

pb_tmpdir
PB_ROWS="$PB_TMP/rows.tsv"; : >"$PB_ROWS"
COMMIT=$(git -C "$PB_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$PB_ROOT" diff --quiet HEAD -- 2>/dev/null || COMMIT="$COMMIT+dirty"
DATE=$(date +%Y%m%d-%H%M%S)
CPU=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
T0=$(date +%s)

echo "# pvnet bench $([ "$QUICK" = 1 ] && echo quick || echo full): cores=$(nproc) ($CPU)" \
  "placement=tx:cpu$PB_CPU_TX,rx:cpu$PB_CPU_RX,pvnetd+guests:unpinned,testpmd:fwd-lcores 1/0" \
  "batch=$BURST ring=$RING runs=$RUNS x ${SECS}s (median)" \
  "hvm=qemu-tcg(1vcpu,256M,iperf3 ${HVM_SECS}s) wire=dpdk-plugin,1thread:cpu$PB_CPU_TX commit=$COMMIT"

# --- setup -----------------------------------------------------------------
BR_OK=0
if bridge_setup; then BR_OK=1; else pb_log "bridge peer setup failed"; fi
MEMIF_OK=0
memif_ready && MEMIF_OK=1 || pb_log "dpdk-testpmd missing (dpdk-dev): memif rows n/a"
PV_OK=0
PV_NGUESTS=2
for n in $SCALE; do [ $((2 * n)) -gt $PV_NGUESTS ] && PV_NGUESTS=$((2 * n)); done
if pvnet_start && pvnet_guests 2 && pvnet_ready; then
  PV_OK=1
else
  pb_log "pvnet: guest 1 cannot ping guest 2: pvnet rows are n/a (PV NIC not ready)"
fi

# measure_runs CMD...: runs CMD RUNS times; prints the per-field medians.
measure_runs() {
  local r out all=()
  for ((r = 0; r < RUNS; r++)); do
    out=$("$@") || true
    all+=("$out")
  done
  local nf i col
  nf=$(echo "${all[0]}" | awk '{ print NF }')
  col=()
  for ((i = 1; i <= nf; i++)); do
    col+=("$(pb_median $(printf '%s\n' "${all[@]}" | awk -v i="$i" '{ print $i }'))")
  done
  echo "${col[*]}"
}

# pv_pktgen SIZE SECS: pvnet-pktgen guest 1 -> guest 2, with dom0 and guest
# CPU per delivered frame. Prints "mpps gbps loss dom0_ns guest_ns total_ns"
# (total = dom0 + pvnet-guest processes + the two pktgen processes).
pv_pktgen() {
  local d0 g0 d1 g1 res rxf
  d0=$(pvnet_cpu_dom0); g0=$(pvnet_cpu_guests)
  res=$(pb_pktgen "${PVG_NS[1]}" "${PVG_IF[1]}" "${PVG_NS[2]}" "${PVG_IF[2]}" "$1" "$2" \
    --src-mac "$(ip netns exec "${PVG_NS[1]}" cat "/sys/class/net/${PVG_IF[1]}/address")" \
    --src-ip "${PVG_IP[1]}" --dst-ip "${PVG_IP[2]}")  # the vif port drops spoofed sources
  d1=$(pvnet_cpu_dom0); g1=$(pvnet_cpu_guests)
  rxf=$(echo "$res" | awk '{ print $6 }')
  if [ "${rxf:-0}" = 0 ]; then echo "n/a n/a n/a n/a n/a n/a"; return; fi
  local dn gn
  dn=$(pb_calc "($d1 - $d0) / $rxf"); gn=$(pb_calc "($g1 - $g0) / $rxf")
  echo "$(echo "$res" | awk '{ print $1, $2, $3 }') $dn $gn $(pb_calc "$(echo "$res" | awk '{ print $4 }') + $dn + $gn")"
}

# pv_iperf P SECS: prints "gbps retrans dom0_cpu_pct guest_cpu_pct".
pv_iperf() {
  local d0 g0 d1 g1 t0 t1 res
  d0=$(pvnet_cpu_dom0); g0=$(pvnet_cpu_guests); t0=$(date +%s%N)
  res=$(pb_iperf "${PVG_NS[1]}" "${PVG_NS[2]}" "${PVG_IP[2]}" "$1" "$2")
  d1=$(pvnet_cpu_dom0); g1=$(pvnet_cpu_guests); t1=$(date +%s%N)
  echo "$res $(pb_calc "100 * ($d1 - $d0) / ($t1 - $t0)") $(pb_calc "100 * ($g1 - $g0) / ($t1 - $t0)")"
}

NA="n/a"
# --- frame rates -------------------------------------------------------------
for size in $SIZES; do
  br=(n/a n/a n/a n/a); pv=(n/a n/a n/a n/a n/a n/a); mm=n/a
  [ "$BR_OK" = 1 ] && br=($(measure_runs pb_pktgen "$BR_NS_A" "$BR_IF_A" "$BR_NS_B" "$BR_IF_B" "$size" "$SECS"))
  if [ "$MEMIF_OK" = 1 ] && [[ " $MEMIF_SIZES " == *" $size "* ]]; then
    mm=$(measure_runs memif_testpmd "$size" "$SECS")
    pb_row memif.testpmd "$size" rate Mpps "$mm"
    pb_row memif.testpmd "$size" throughput Gb/s "$(pb_calc "$mm * $size * 8 / 1000")"
  fi
  pb_row bridge.pktgen "$size" rate Mpps "${br[0]}" "$([ "$mm" != n/a ] && echo memif.testpmd)" "$([ "$mm" != n/a ] && echo "$mm")"
  pb_row bridge.pktgen "$size" throughput Gb/s "${br[1]}"
  pb_row bridge.pktgen "$size" loss "% loss" "${br[2]}"
  pb_row bridge.pktgen "$size" cpu_total "ns/pkt all" "${br[3]}"
  [ "$PV_OK" = 1 ] && pv=($(measure_runs pv_pktgen "$size" "$SECS"))
  pb_row pv2pv.afpacket "$size" rate Mpps "${pv[0]}" bridge.pktgen "${br[0]}"
  [ "$mm" != n/a ] && pb_row pv2pv.afpacket "$size" rate Mpps "${pv[0]}" memif.testpmd "$mm"
  pb_row pv2pv.afpacket "$size" throughput Gb/s "${pv[1]}"
  pb_row pv2pv.afpacket "$size" loss "% loss" "${pv[2]}"
  pb_row pv2pv.afpacket "$size" cpu_dom0 "ns/pkt dom0" "${pv[3]}"
  pb_row pv2pv.afpacket "$size" cpu_guest "ns/pkt guest" "${pv[4]}"
  pb_row pv2pv.afpacket "$size" cpu_total "ns/pkt all" "${pv[5]}" bridge.pktgen "${br[3]}"
done

# --- netfront's in-ring generator -> sink (no TAP, no guest kernel) ------------
for size in $SIZES; do
  pg=(n/a n/a n/a n/a n/a)
  if [ "$PV_OK" = 1 ] && pvnet_app_pair "$size"; then
    pg=($(measure_runs pvnet_app_run "$SECS"))
  else
    [ "$PV_OK" = 1 ] && pb_log "pvnet: pktgen/sink pair ${size}B failed"
  fi
  pvnet_app_destroy
  pb_row pv2pv.pktgen "$size" rate Mpps "${pg[0]}" bridge.pktgen "$(pb_row_get bridge.pktgen "$size" rate)"
  mm=$(pb_row_get memif.testpmd "$size" rate)
  [ -n "$mm" ] && pb_row pv2pv.pktgen "$size" rate Mpps "${pg[0]}" memif.testpmd "$mm"
  pb_row pv2pv.pktgen "$size" throughput Gb/s "${pg[1]}"
  pb_row pv2pv.pktgen "$size" loss "% loss" "${pg[2]}"
  pb_row pv2pv.pktgen "$size" cpu_dom0 "ns/pkt dom0" "${pg[3]}"
  pb_row pv2pv.pktgen "$size" cpu_guest "ns/pkt guest" "${pg[4]}"
done

# --- wire: the DPDK plugin over net_memif to testpmd macswap --------------------
WIRE_OK=0
wire_ready && WIRE_OK=1 || pb_log "wire: dpdk-testpmd, pvnet-accel-test or dpdk.so missing: wire rows n/a"
for size in $MEMIF_SIZES; do
  wr=(n/a n/a)
  if [ "$WIRE_OK" = 1 ]; then
    if wire_start "$size"; then wr=($(measure_runs wire_run "$size" "$SECS")); fi
    wire_stop
  fi
  mm=$(pb_row_get memif.testpmd "$size" rate)
  pb_row wire.memif "$size" rate "Mpps back" "${wr[1]}" "$([ -n "$mm" ] && echo memif.testpmd)" "$mm"
  pb_row wire.memif "$size" tx_rate "Mpps to wire" "${wr[0]}" "$([ -n "$mm" ] && echo memif.testpmd)" "$mm"
  pb_row wire.memif "$size" throughput "Gb/s back" "$(pb_calc "${wr[1]} * $size * 8 / 1000")"
done

# --- TCP ---------------------------------------------------------------------
for p in $STREAMS; do
  br=(n/a n/a); pv=(n/a n/a n/a n/a)
  [ "$BR_OK" = 1 ] && br=($(measure_runs pb_iperf "$BR_NS_A" "$BR_NS_B" "$BR_IP_B" "$p" "$((SECS + 1))"))
  pb_row "bridge.tcp.P$p" "" throughput Gb/s "${br[0]}"
  pb_row "bridge.tcp.P$p" "" retransmits retransmits "${br[1]}"
  [ "$PV_OK" = 1 ] && pv=($(measure_runs pv_iperf "$p" "$((SECS + 1))"))
  pb_row "tcp.P$p" "" throughput Gb/s "${pv[0]}" "bridge.tcp.P$p" "${br[0]}"
  pb_row "tcp.P$p" "" retransmits retransmits "${pv[1]}"
  pb_row "tcp.P$p" "" cpu_dom0 "% cpu dom0" "${pv[2]}"
  pb_row "tcp.P$p" "" cpu_guest "% cpu guests" "${pv[3]}"
done

# --- request/response --------------------------------------------------------
br=(n/a n/a n/a); pv=(n/a n/a n/a)
[ "$BR_OK" = 1 ] && br=($(measure_runs pb_rr "$BR_NS_A" "$BR_IP_B" "$RR_COUNT"))
[ "$PV_OK" = 1 ] && pv=($(measure_runs pb_rr "${PVG_NS[1]}" "${PVG_IP[2]}" "$RR_COUNT"))
pb_row bridge.rr "" p50 "us p50" "${br[0]}"
pb_row bridge.rr "" p99 "us p99" "${br[1]}"
pb_row bridge.rr "" p99.9 "us p99.9" "${br[2]}"
pb_row rr "" p50 "us p50" "${pv[0]}" bridge.rr "${br[0]}"
pb_row rr "" p99 "us p99" "${pv[1]}" bridge.rr "${br[1]}"
pb_row rr "" p99.9 "us p99.9" "${pv[2]}" bridge.rr "${br[2]}"
# the same in polling mode (netfront and netback busy-poll instead of sleeping)
pv=(n/a n/a n/a)
if [ "$PV_OK" = 1 ]; then
  if pvnet_poll_pair; then
    pv=($(measure_runs pb_rr "${PVP_NS[1]}" "${PVP_IP[2]}" "$RR_COUNT"))
  else
    pb_log "pvnet: polling-mode guests cannot ping each other"
  fi
  pvnet_poll_destroy
fi
pb_row rr.poll "" p50 "us p50" "${pv[0]}" bridge.rr "${br[0]}"
pb_row rr.poll "" p99 "us p99" "${pv[1]}" bridge.rr "${br[1]}"
pb_row rr.poll "" p99.9 "us p99.9" "${pv[2]}" bridge.rr "${br[2]}"

# --- HVM: QEMU (TCG) guests, TAP peer vs pvnetd's vhost-user port ---------------
# The peer first, then pvnet: one QEMU alive at a time.
# A second peer, in full runs (it adds ~25 s): the same guest on DPDK's librte_vhost
# (testpmd net_vhost <-> net_tap).
QEMU_OK=0
qemu_ready && QEMU_OK=1
HVM_DIRS="host_to_guest:pv_to_hvm: guest_to_host:hvm_to_pv:-R"
declare -A QT_RES PH_RES QV_RES
for d in $HVM_DIRS; do QT_RES[$d]="n/a n/a n/a"; PH_RES[$d]="n/a n/a n/a n/a"; QV_RES[$d]="n/a n/a n/a"; done
# qt_iperf FLAG: the TAP peer, host namespace -> guest (or -R); "gbps retrans qemu_cpu_pct"
qt_iperf() {
  local c0 c1 t0 t1 res
  c0=$(pb_task_cpu_ns "$QT_PID"); t0=$(date +%s%N)
  res=$(qemu_iperf "$QT_NS_H" "$QT_IP_G" "$HVM_SECS" "$1")
  c1=$(pb_task_cpu_ns "$QT_PID"); t1=$(date +%s%N)
  echo "$res $(pb_calc "100 * ($c1 - $c0) / ($t1 - $t0)")"
}
# qv_iperf FLAG: the librte_vhost peer, namespace D -> guest (or -R);
# "gbps retrans cpu_pct" (QEMU and testpmd together)
qv_iperf() {
  local c0 c1 t0 t1 res
  c0=$(( $(pb_task_cpu_ns "$QV_PID") + $(pb_task_cpu_ns "$QV_TP") )); t0=$(date +%s%N)
  res=$(qemu_iperf "$QV_NS" "$QV_IP_G" "$HVM_SECS" "$1")
  c1=$(( $(pb_task_cpu_ns "$QV_PID") + $(pb_task_cpu_ns "$QV_TP") )); t1=$(date +%s%N)
  echo "$res $(pb_calc "100 * ($c1 - $c0) / ($t1 - $t0)")"
}
# ph_iperf FLAG: PV guest 1 -> the HVM guest (or -R); "gbps retrans dom0_pct guests_pct"
# (guests = the pvnet-guest processes and QEMU, all pvnetd's descendants)
ph_iperf() {
  local d0 g0 d1 g1 t0 t1 res
  d0=$(pvnet_cpu_dom0); g0=$(pvnet_cpu_guests); t0=$(date +%s%N)
  res=$(qemu_iperf "${PVG_NS[1]}" "$PVH_IP" "$HVM_SECS" "$1")
  d1=$(pvnet_cpu_dom0); g1=$(pvnet_cpu_guests); t1=$(date +%s%N)
  echo "$res $(pb_calc "100 * ($d1 - $d0) / ($t1 - $t0)") $(pb_calc "100 * ($g1 - $g0) / ($t1 - $t0)")"
}
if [ "$QEMU_OK" = 1 ]; then
  if qemu_tap_start; then
    for d in $HVM_DIRS; do QT_RES[$d]=$(measure_runs qt_iperf "${d##*:}"); done
  fi
  qemu_tap_stop
  if [ "$QUICK" = 0 ]; then
    if qemu_vhost_ready && qemu_vhost_start; then
      for d in $HVM_DIRS; do QV_RES[$d]=$(measure_runs qv_iperf "${d##*:}"); done
    fi
    qemu_vhost_stop
  fi
  if [ "$PV_OK" = 1 ]; then
    if pvnet_hvm_start; then
      for d in $HVM_DIRS; do PH_RES[$d]=$(measure_runs ph_iperf "${d##*:}"); done
    fi
    pvnet_hvm_stop
  fi
fi
for d in $HVM_DIRS; do
  peer="qemu.tap.${d%%:*}"; vpeer="dpdk.vhost.${d%%:*}"; sc="${d#*:}"; sc="hvm2pv.${sc%%:*}"
  qt=(${QT_RES[$d]}); ph=(${PH_RES[$d]}); qv=(${QV_RES[$d]})
  pb_row "$peer" "" throughput Gb/s "${qt[0]}"
  pb_row "$peer" "" retransmits retransmits "${qt[1]}"
  pb_row "$peer" "" cpu_qemu "% cpu qemu" "${qt[2]}"
  if [ "$QUICK" = 0 ]; then
    pb_row "$vpeer" "" throughput Gb/s "${qv[0]}"
    pb_row "$vpeer" "" retransmits retransmits "${qv[1]}"
    pb_row "$vpeer" "" cpu_qemu "% cpu qemu+testpmd" "${qv[2]}"
  fi
  pb_row "$sc" "" throughput Gb/s "${ph[0]}" "$peer" "${qt[0]}"
  [ "$QUICK" = 0 ] && pb_row "$sc" "" throughput Gb/s "${ph[0]}" "$vpeer" "${qv[0]}"
  pb_row "$sc" "" retransmits retransmits "${ph[1]}"
  pb_row "$sc" "" cpu_dom0 "% cpu dom0" "${ph[2]}"
  pb_row "$sc" "" cpu_guest "% cpu guests+qemu" "${ph[3]}"
done

# --- scale: n guest pairs at once --------------------------------------------
if [ "$PV_OK" = 1 ] && [ "$PV_NGUESTS" -gt 2 ]; then
  # Guests 3.. are created only now, so the rows above ran with two guests.
  pvnet_guests_from() {
    local first=$1 n=$2 i name cfg mac k
    for ((i = first; i <= n; i++)); do
      name="pvb$$g$i"; mac=$(printf '00:16:3e:77:00:%02x' "$i"); cfg="$PB_TMP/$name.cfg"
      printf 'name = "%s"\nmemory = 32\nnetns = "%s"\nvif = [ '"'"'mac=%s, bridge=br0, ip=10.78.0.%d/24'"'"' ]\n' \
        "$name" "$PB_TAG-g$i" "$mac" "$i" >"$cfg"
      pvnet_cli create "$cfg" >/dev/null 2>&1 || return 1
      pb_cleanup_add "ip netns del '$PB_TAG-g$i'"
      pb_cleanup_add "'$PB_BIN/pvnet' --run-dir '$PVD_RUN' destroy '$name'"
      PVG_NS[$i]="$PB_TAG-g$i"; PVG_IP[$i]="10.78.0.$i"; PVG_IF[$i]=""
      for k in $(seq 1 60); do
        PVG_IF[$i]=$(ip -n "${PVG_NS[$i]}" -o link 2>/dev/null | grep -i "$mac" | awk -F': ' '{ print $2 }' | cut -d@ -f1 | head -1)
        [ -n "${PVG_IF[$i]}" ] && break; sleep 0.05
      done
    done
  }
  pvnet_guests_from 3 "$PV_NGUESTS" || pb_log "scale: could not create $PV_NGUESTS guests"
fi
scale_once() {
  local n=$1 i pids=() f
  for ((i = 1; i <= n; i++)); do
    f="$PB_TMP/scale.$n.$i"
    ( pb_pktgen "${PVG_NS[$((2 * i - 1))]}" "${PVG_IF[$((2 * i - 1))]}" \
        "${PVG_NS[$((2 * i))]}" "${PVG_IF[$((2 * i))]}" 64 "$SECS" \
        --src-mac "$(ip netns exec "${PVG_NS[$((2 * i - 1))]}" cat "/sys/class/net/${PVG_IF[$((2 * i - 1))]}/address")" \
        --src-ip "${PVG_IP[$((2 * i - 1))]}" --dst-ip "${PVG_IP[$((2 * i))]}" >"$f" ) &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
  cat "$PB_TMP"/scale."$n".* | awk '{ if ($1 == "n/a") bad = 1; s += $1; q += $1 * $1; n++ }
    END { if (bad || !n || q == 0) print "n/a n/a"; else printf "%.6g %.4f\n", s, s * s / (n * q) }'
  rm -f "$PB_TMP"/scale."$n".*
}
for n in $SCALE; do
  sc=(n/a n/a)
  if [ "$PV_OK" = 1 ] && [ -n "${PVG_IF[$((2 * n))]:-}" ]; then sc=($(measure_runs scale_once "$n")); fi
  pb_row "scale.${n}pairs" 64 rate "Mpps total" "${sc[0]}"
  pb_row "scale.${n}pairs" 64 fairness "Jain index" "${sc[1]}"
done

# --- accelerator levels 0-3 (full runs only; perf/accel.sh, docs/nic-levels.md) ---
if [ "$QUICK" = 0 ] && [ "$PV_OK" = 1 ]; then
  # accel_bench starts its own pvnetd (same namespace and run-dir names)
  pb_kill "$PVD_PID"; ip netns del "$PVD_NS" 2>/dev/null; PVD_PID=""
  . "$PB_ROOT/perf/accel.sh"
  accel_bench "$((SECS + 1))" "0 1 2 3" || pb_log "accel rows: accel_bench failed"
fi

# --- output ------------------------------------------------------------------
pb_rows_table "$PB_ROWS" | awk -v ok="$PV_OK" '
  ok != 1 && /^(pv2pv|tcp|rr|scale|hvm2pv)/ { printf "%-26s%10s\n", substr($0, 1, 26), "n/a (PV NIC not ready)"; next } { print }'
[ "$PV_OK" = 1 ] || echo "# pvnet rows: n/a (PV NIC not ready: guest 1 could not ping guest 2 through pvnetd)"
mkdir -p "$RESULTS"
BASE="$RESULTS/$DATE-$COMMIT$([ "$QUICK" = 1 ] && echo -quick)"
pb_rows_json "$PB_ROWS" >"$BASE.json"
[ -n "$JSON_OUT" ] && cp "$BASE.json" "$JSON_OUT"
# Chart data: frame rate per size for each system (columns: size, bridge,
# memif, pv2pv.afpacket, pv2pv.pktgen, wire.memif back; NaN = not measured).
awk -F'\t' 'function c(z, k) { return (v[z, k] == "" || v[z, k] == "n/a") ? "NaN" : v[z, k] }
  $3 == "rate" && $2 != "" && !(($2, $1) in v) { v[$2, $1] = $5; s[$2] = 1 }
  END { for (z in s) printf "%s %s %s %s %s %s\n", z, c(z, "bridge.pktgen"), c(z, "memif.testpmd"),
          c(z, "pv2pv.afpacket"), c(z, "pv2pv.pktgen"), c(z, "wire.memif") }' \
  "$PB_ROWS" | sort -n >"$BASE.dat"
if command -v gnuplot >/dev/null 2>&1; then
  gnuplot -e "datafile='$BASE.dat'; outfile='$BASE.png'; title='pvnet bench $COMMIT $DATE'" \
    "$PB_ROOT/perf/plot.gp" 2>"$PB_TMP/gnuplot.err" || pb_log "gnuplot: $(head -3 "$PB_TMP/gnuplot.err")"
fi
echo "# results: $BASE.json $([ -f "$BASE.png" ] && echo "$BASE.png") ($(( $(date +%s) - T0 )) s)"
