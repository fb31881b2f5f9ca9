#!/usr/bin/env bash
# perf/accel.sh - NIC accelerator levels (issue #6): wire <-> guest and guest <->
# guest TCP (iperf3, 1 stream) with a simnic NIC whose wire is a veth to a
# "remote host" namespace, per level, with CPU per packet split into guest
# (the pvnet-guest process: netfront), dom0 (pvnetd minus the NIC engine) and
# "hardware" (the simnic engine thread, its hw_cpu_ns counter).
#
#   perf/accel.sh [--secs N] [--levels "0 1"] [--runs N] [--perf]
#                                                   standalone: prints the table (with
#                                                   --runs N > 1: every run, then the
#                                                   per-column medians; --perf adds the
#                                                   guests' instructions and task-clock
#                                                   per packet from perf stat)
#   . perf/accel.sh; accel_bench SECS               from perf/bench.sh: pb_row rows
#
# Packets per row: frames the NIC moved on its wire (wire_rx + wire_tx, ACKs
# included) for wire rows; the receiving vif's RX packets for guest rows: at
# Levels 0-1 what netback delivered (64 KiB GSO packets), at Levels 2-3 that
# plus what the NIC DMA'd into the guest's own queue pair (MTU frames: the NIC
# segments before its switch hairpins VF to VF at Level 3; at Level 2 guest ->
# guest stays on the rings, the guests' local MACs).
set -u
if [ -z "${PB_ROOT:-}" ]; then
  . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi
. "$PB_ROOT/perf/peers/pvnet.sh"

# accel_cpu: "<pvnetd ns> <guest1 ns> <guest2 ns> <hw ns> <wire pkts>"
accel_cpu() {
  local hw wire g1=0 g2=0
  hw=$(pvnet_cli ethtool -S nic0 | awk '$1 == "dev_hw_cpu_ns:" {print $2}')
  wire=$(pvnet_cli ethtool -S nic0 | awk '$1 == "dev_wire_rx_packets:" || $1 == "dev_wire_tx_packets:" {s += $2} END {print s + 0}')
  [ -n "${AC_G1PID:-}" ] && g1=$(pb_task_cpu_ns "$AC_G1PID")
  [ -n "${AC_G2PID:-}" ] && g2=$(pb_task_cpu_ns "$AC_G2PID")
  echo "$(pb_task_cpu_ns "$PVD_PID") $g1 $g2 ${hw:-0} $wire"
}

accel_vif_rx() {
  local nb nic=0
  nb=$(pvnet_cli stats | awk -v v="$1" '$1 == v {for (i = 1; i < NF; i++) if ($i == "rx") {print $(i + 1); exit}}')
  # Levels 2-3: the guest's own queue pair, which netback never sees
  [ "${AC_LEVEL:-0}" -ge 2 ] && nic=$(pvnet_cli ethtool -S "$1" | awk '$1 == "rx_packets:" {print $2}')
  echo $(( ${nb:-0} + ${nic:-0} ))
}

accel_guest() { # NAME IP LEVEL MAC
  cat >"$PB_TMP/$1.cfg" <<CFG
name = "$1"
memory = 64
netns = "$1"
vif = [ 'mac=$4, bridge=bra, ip=$2/24, accel=simnic, level=$3' ]
CFG
  pb_cleanup_add "ip netns del '$1'"
  pvnet_cli create "$PB_TMP/$1.cfg" >/dev/null || return 1
  local i id
  for i in $(seq 1 200); do
    id=$(pvnet_domid "$1")
    [ -n "$id" ] && [ "$(pvnet_xs xenstore-read "/local/domain/0/backend/vif/$id/0/state" 2>/dev/null)" = 4 ] &&
      ip -n "$1" link show eth0 >/dev/null 2>&1 && break
    sleep 0.05
  done
  ip netns exec "$1" ping -c 1 -W 2 10.62.0.100 >/dev/null 2>&1
  pvnet_xs xenstore-read "/local/domain/$id/data/pvnet-guest" 2>/dev/null | awk '{print $3}'
}

# accel_one LABEL SRV_NS SRV_IP CLI_NS SECS PKTS_FROM(wire|vifX.0)
# The tick-sampled CPU times above misjudge threads that yield or sleep often
# (a busy-poll window looked cheaper than it is), so --perf (AC_PERF=1) also
# counts the guests' instructions and task-clock with perf stat over the run.
accel_one() {
  local label=$1 sns=$2 sip=$3 cns=$4 secs=$5 src=$6 a b r gbps pk dd g h x psp="" ins tck
  a=$(accel_cpu); [ "$src" != wire ] && x=$(accel_vif_rx "$src")
  if [ "${AC_PERF:-0}" = 1 ]; then
    perf stat -x, -e instructions,task-clock -p "$AC_G1PID,$AC_G2PID" -o "$PB_TMP/pstat.txt" \
      2>/dev/null &
    psp=$!
  fi
  r=$(pb_iperf "$cns" "$sns" "$sip" 1 "$secs") || r="n/a n/a"
  b=$(accel_cpu)
  if [ -n "$psp" ]; then
    kill -INT "$psp" 2>/dev/null; wait "$psp" 2>/dev/null
    ins=$(awk -F, '$3 ~ /^instructions/ {print $1}' "$PB_TMP/pstat.txt")
    tck=$(awk -F, '$3 ~ /^task-clock/ {print $1}' "$PB_TMP/pstat.txt") # ms
  fi
  gbps=${r%% *}
  set -- $a $b
  if [ "$src" = wire ]; then pk=$((${10} - $5)); else pk=$(( $(accel_vif_rx "$src") - x )); fi
  [ "$pk" -gt 0 ] 2>/dev/null || pk=1
  h=$(( ${9} - $4 ))
  dd=$(( ($6 - $1) - h ))
  # pvnetd's CPU minus the NIC engine's: both are 10 ms-tick figures, so a dom0
  # that did ~nothing can come out slightly negative; it is 0 within resolution
  [ "$dd" -lt 0 ] && dd=0
  g=$(( (${7} - $2) + (${8} - $3) ))
  if [ "$gbps" = n/a ]; then
    accel_emit "$label" n/a n/a n/a n/a ${psp:+n/a n/a}; return
  fi
  if [ -n "$psp" ]; then
    case "$ins" in ''|*[!0-9]*) ins=n/a ;; esac
    case "$tck" in ''|*[!0-9.]*) tck=n/a ;; esac
    accel_emit "$label" "$gbps" "$(pb_calc "$g / $pk")" "$(pb_calc "$dd / $pk")" \
      "$(pb_calc "$h / $pk")" "$(pb_calc "$ins / $pk")" "$(pb_calc "$tck * 1000000 / $pk")"
  else
    accel_emit "$label" "$gbps" "$(pb_calc "$g / $pk")" "$(pb_calc "$dd / $pk")" "$(pb_calc "$h / $pk")"
  fi
}

accel_emit() { # LABEL GBPS GUEST DOM0 HW (ns/pkt) [INSTR TASK_NS (per pkt, guests, --perf)]
  if [ -n "${PB_ROWS:-}" ]; then
    pb_row "accel.$1" "" rate Gb/s "$2"
    pb_row "accel.$1" "" cpu_guest "ns/pkt guest" "$3"
    pb_row "accel.$1" "" cpu_dom0 "ns/pkt dom0" "$4"
    pb_row "accel.$1" "" cpu_hw "ns/pkt hardware" "$5"
    if [ $# -ge 7 ]; then
      pb_row "accel.$1" "" instr_guest "instr/pkt guest" "$6"
      pb_row "accel.$1" "" task_guest "task-clock ns/pkt guest" "$7"
    fi
  elif [ $# -ge 7 ]; then
    printf '%-22s %8s Gb/s  %8s ns/pkt guest  %8s ns/pkt dom0  %8s ns/pkt hw  %8s instr/pkt guest  %8s task-ns/pkt guest\n' "$@"
  else
    printf '%-22s %8s Gb/s  %8s ns/pkt guest  %8s ns/pkt dom0  %8s ns/pkt hw\n' "$1" "$2" "$3" "$4" "$5"
  fi
}

accel_bench() {
  local secs=${1:-3} levels=${2:-"0 1 2 3"} L g1 g2 R="$PB_TAG-remote" mac
  [ -n "${PB_TMP:-}" ] || pb_tmpdir
  pvnet_start || { pb_log "accel: pvnetd did not start"; return 1; }
  pb_ns "$R" || return 1
  ip link add wa netns "$PVD_NS" type veth peer name eth0 netns "$R"
  ip -n "$R" addr add 10.62.0.100/24 dev eth0
  ip -n "$R" link set eth0 up
  ip netns exec "$R" ethtool -K eth0 tso off gso off gro off tx off >/dev/null 2>&1
  ip netns exec "$R" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  pvnet_cli nic add nic0 --plugin simnic --wire wa --vfs 4 --bridge bra || return 1
  for L in $levels; do
    AC_LEVEL=$L
    mac=$(printf '00:16:3e:62:%02x' "$L")
    g1="pvb$$a$L${AC_RUN:-}"; g2="pvb$$b$L${AC_RUN:-}"
    AC_G1PID=$(accel_guest "$g1" "10.62.0.$((10 + L * 2))" "$L" "$mac:01")
    AC_G2PID=$(accel_guest "$g2" "10.62.0.$((11 + L * 2))" "$L" "$mac:02")
    accel_one "L$L.wire2guest" "$g1" "10.62.0.$((10 + L * 2))" "$R" "$secs" wire
    accel_one "L$L.guest2wire" "$R" 10.62.0.100 "$g1" "$secs" wire
    accel_one "L$L.guest2guest" "$g2" "10.62.0.$((11 + L * 2))" "$g1" "$secs" \
      "vif$(pvnet_domid "$g2").0"
    pvnet_cli destroy "$g1" >/dev/null 2>&1; pvnet_cli destroy "$g2" >/dev/null 2>&1
    AC_G1PID=""; AC_G2PID=""
  done
  pvnet_cli nic del nic0 >/dev/null 2>&1
  pb_kill "$PVD_PID"
}

# accel_medians FILE: one line per label with the median of each column of the
# accel_emit lines in FILE (labels in first-seen order).
accel_medians() {
  local label c v cols="2 4 7 10"
  awk 'NF >= 18 {f = 1} END {exit !f}' "$1" && cols="$cols 13 16"
  for label in $(awk '!seen[$1]++ {print $1}' "$1"); do
    v=()
    for c in $cols; do
      v+=("$(pb_median $(awk -v l="$label" -v c="$c" '$1 == l {print $c}' "$1"))")
    done
    accel_emit "$label" "${v[@]}"
  done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  SECS=3; LEVELS="0 1 2 3"; RUNS=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --secs) SECS=$2; shift ;;
      --levels) LEVELS=$2; shift ;;
      --runs) RUNS=$2; shift ;;
      --perf) AC_PERF=1 ;;
      *) echo "usage: perf/accel.sh [--secs N] [--levels \"0 1\"] [--runs N] [--perf]" >&2; exit 2 ;;
    esac
    shift
  done
  [ "$(id -u)" = 0 ] || { echo "perf/accel.sh: needs root" >&2; exit 1; }
  if [ "${AC_PERF:-0}" = 1 ] && ! perf stat -e instructions true >/dev/null 2>&1; then
    echo "perf/accel.sh: --perf: perf stat cannot count instructions here" >&2; exit 1
  fi
  pb_tmpdir
  echo "# accel: cores=$(nproc) placement=iperf3 client cpu$PB_CPU_TX server cpu$PB_CPU_RX, simnic engine thread, iperf3 1 stream ${SECS}s, rings: dom0 256 guest qp 512, runs=$RUNS commit=$(git -C "$PB_ROOT" rev-parse --short HEAD 2>/dev/null)"
  if [ "$RUNS" -le 1 ]; then
    accel_bench "$SECS" "$LEVELS"
  else
    # each run on its own pvnetd, namespaces, guests and run dir (all removed at exit)
    AC_TMP=$PB_TMP
    for ((run = 1; run <= RUNS; run++)); do
      echo "# run $run"
      PB_TAG="pvb-$$-r$run"; AC_RUN="r$run"; PB_TMP="$AC_TMP/run$run"
      mkdir -p "$PB_TMP"
      accel_bench "$SECS" "$LEVELS" >"$AC_TMP/run$run.txt"
      cat "$AC_TMP/run$run.txt"
      cat "$AC_TMP/run$run.txt" >>"$AC_TMP/runs.txt"
    done
    PB_TMP=$AC_TMP
    echo "# median of $RUNS runs"
    accel_medians "$PB_TMP/runs.txt"
  fi
fi
