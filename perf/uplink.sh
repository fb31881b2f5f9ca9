#!/usr/bin/env bash
# perf/uplink.sh - uplinks (issue #4): a "remote host" namespace joined by a veth
# to the switch, and one guest behind it, for each uplink type, against the
# Linux bridge with the same veth topology and the same tools:
#
#   pvnet:  R:eth0 (10.63.0.100) <-veth-> dom0:ua --[afpacket|afxdp]-- bridge bru -- vif -- guest eth0 (10.63.0.1)
#   peer:   R:eth0 (10.64.0.100) <-veth-> B:ua -- Linux bridge br0 -- B:gv <-veth-> G:eth0 (10.64.0.1)
#
# Per setup: iperf3 TCP (1 stream, client on cpu PB_CPU_TX, server on PB_CPU_RX)
# guest -> remote and remote -> guest, and 64 B frames remote -> guest from
# pvnet-pktgen (AF_PACKET, PACKET_MMAP, qdisc bypass) counted by pvnet-pktgen in
# the guest: received Mpps and loss. Two wire modes: `tso` (the remote veth keeps
# its checksum/TSO/GSO offloads: 64 KiB segments cross the veth) and `mtu` (all
# off on the remote veth and on the guest's NIC, as on both ends of the bridge
# peer: MTU frames with finished checksums, what XDP needs; AF_XDP has no
# segmentation offload, so it runs only in this mode).
#
#   perf/uplink.sh [--secs N]        standalone: prints the table with ratios
#   . perf/uplink.sh; uplink_bench SECS   from perf/bench.sh: pb_row rows
set -u
if [ -z "${PB_ROOT:-}" ]; then
  . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi
. "$PB_ROOT/perf/peers/pvnet.sh"

UL_GMAC=00:16:3e:63:00:01

# ul_offloads NS IF on|off
ul_offloads() { ip netns exec "$1" ethtool -K "$2" tx "$3" tso "$3" gso "$3" >/dev/null 2>&1; }

# ul_udp64 TX_NS RX_NS RX_IF DST_MAC SECS: "mpps loss_pct" of 64 B frames
ul_udp64() {
  local tx=$1 rx=$2 rif=$3 mac=$4 secs=$5 rpid out="$PB_TMP/ul.rx.$BASHPID.json"
  taskset -c "$PB_CPU_RX" ip netns exec "$rx" "$PB_BIN/pvnet-pktgen" rx "$rif" \
    --seconds "$(pb_calc "$secs + 2")" --idle-ms 700 --json --quiet >"$out" 2>/dev/null &
  rpid=$!
  pb_cleanup_add "pb_kill $rpid"
  sleep 0.3
  local t
  t=$(taskset -c "$PB_CPU_TX" ip netns exec "$tx" "$PB_BIN/pvnet-pktgen" tx eth0 --size 64 \
    --rate max --seconds "$secs" --dst-mac "$mac" --json --quiet 2>/dev/null)
  wait "$rpid" 2>/dev/null
  local sent got pps
  sent=$(sed -n 's/.*"frames":\([0-9]*\).*/\1/p' <<<"$t")
  got=$(sed -n 's/.*"frames":\([0-9]*\).*/\1/p' "$out")
  pps=$(sed -n 's/.*"pps":\([0-9.]*\).*/\1/p' "$out")
  if [ -z "$sent" ] || [ -z "$got" ] || [ "$sent" = 0 ]; then echo "n/a n/a"; return 1; fi
  echo "$(pb_calc "${pps:-0} / 1e6") $(pb_calc "100 * ($sent - $got) / $sent")"
}

# ul_measure LABEL PEER GUEST_NS GUEST_IF GUEST_IP REMOTE_NS REMOTE_IP GUEST_MAC SECS
ul_measure() {
  local label=$1 peer=$2 g=$3 gif=$4 gip=$5 r=$6 rip=$7 mac=$8 secs=$9 a b u
  ip netns exec "$g" ping -c 2 -W 2 "$rip" >/dev/null 2>&1
  a=$(pb_iperf "$g" "$r" "$rip" 1 "$secs") || a="n/a n/a"
  b=$(pb_iperf "$r" "$g" "$gip" 1 "$secs") || b="n/a n/a"
  u=$(ul_udp64 "$r" "$g" "$gif" "$mac" "$secs") || u="n/a n/a"
  ul_emit "$label" "$peer" ${a%% *} ${b%% *} $u
}

declare -A UL_V
ul_fmt() { if [ "$1" = n/a ] || [ -z "$1" ]; then echo n/a; else printf '%.3g' "$1"; fi; }
ul_emit() { # LABEL PEER G2R R2G MPPS LOSS
  UL_V[$1.g2r]=$3; UL_V[$1.r2g]=$4; UL_V[$1.udp]=$5
  local pg="" pr="" pu=""
  [ -n "$2" ] && { pg=${UL_V[$2.g2r]:-}; pr=${UL_V[$2.r2g]:-}; pu=${UL_V[$2.udp]:-}; }
  if [ -n "${PB_ROWS:-}" ]; then
    pb_row "uplink.$1" "" guest_to_remote Gb/s "$3" ${2:+"uplink.$2"} ${2:+"$pg"}
    pb_row "uplink.$1" "" remote_to_guest Gb/s "$4" ${2:+"uplink.$2"} ${2:+"$pr"}
    pb_row "uplink.$1" 64 rate Mpps "$5" ${2:+"uplink.$2"} ${2:+"$pu"}
    pb_row "uplink.$1" 64 loss "% loss" "$6"
  else
    local rat=""
    if [ -n "$2" ]; then
      rat=$(awk -v a="$3" -v b="$pg" -v c="$4" -v d="$pr" -v e="$5" -v f="$pu" -v p="$2" 'function r(x, y) {
          return (x + 0 > 0 && y + 0 > 0) ? sprintf("%.2fx", x / y) : "n/a" }
        BEGIN { printf "  vs %s: %s %s %s", p, r(a, b), r(c, d), r(e, f) }')
    fi
    printf '%-16s %7s Gb/s g->r %7s Gb/s r->g %7s Mpps 64B (%s%% loss)%s\n' "$1" "$(ul_fmt "$3")" \
      "$(ul_fmt "$4")" "$(ul_fmt "$5")" "$(ul_fmt "$6")" "$rat"
  fi
}

# The Linux bridge peer for one wire mode.
ul_bridge() {
  local mode=$1 secs=$2 R="$PB_TAG-ubR" B="$PB_TAG-ubB" G="$PB_TAG-ubG"
  pb_ns "$R" && pb_ns "$B" && pb_ns "$G" || return 1
  ip -n "$B" link add br0 type bridge && ip -n "$B" link set br0 up
  ip link add ua netns "$B" type veth peer name eth0 netns "$R"
  ip link add gv netns "$B" type veth peer name eth0 netns "$G"
  ip -n "$B" link set ua master br0 up; ip -n "$B" link set gv master br0 up
  ip -n "$G" link set eth0 address "$UL_GMAC"
  ip -n "$R" addr add 10.64.0.100/24 dev eth0; ip -n "$R" link set eth0 up
  ip -n "$G" addr add 10.64.0.1/24 dev eth0; ip -n "$G" link set eth0 up
  for n in "$R" "$G"; do ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
  [ "$mode" = mtu ] && { ul_offloads "$R" eth0 off; ul_offloads "$G" eth0 off; }
  ul_measure "bridge.$mode" "" "$G" eth0 10.64.0.1 "$R" 10.64.0.100 "$UL_GMAC" "$secs"
  ip netns del "$G"; ip netns del "$B"; ip netns del "$R"
}

uplink_bench() {
  local secs=${1:-3} R="$PB_TAG-ulR" G="pvb$$u" mode type id gif i
  [ -n "${PB_TMP:-}" ] || pb_tmpdir
  ul_bridge tso "$secs"
  ul_bridge mtu "$secs"
  pvnet_start || { pb_log "uplink: pvnetd did not start"; return 1; }
  pb_ns "$R" || return 1
  ip link add ua netns "$PVD_NS" type veth peer name eth0 netns "$R"
  ip -n "$PVD_NS" link set ua up
  ip -n "$R" addr add 10.63.0.100/24 dev eth0; ip -n "$R" link set eth0 up
  ip netns exec "$R" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  cat >"$PB_TMP/$G.cfg" <<CFG
name = "$G"
memory = 64
netns = "$G"
vif = [ 'mac=$UL_GMAC, bridge=bru, ip=10.63.0.1/24' ]
CFG
  pb_cleanup_add "ip netns del '$G'"
  pvnet_cli create "$PB_TMP/$G.cfg" >/dev/null || { pb_log "uplink: guest not created"; return 1; }
  for i in $(seq 1 100); do
    gif=$(ip -n "$G" -o link 2>/dev/null | grep -i "$UL_GMAC" | awk -F': ' '{ print $2 }' | cut -d@ -f1 | head -1)
    [ -n "$gif" ] && break; sleep 0.05
  done
  ip netns exec "$G" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  for mode in tso mtu; do
    # both ends as in the bridge peer: the remote veth and the guest's NIC
    ul_offloads "$R" eth0 "$([ $mode = tso ] && echo on || echo off)"
    ul_offloads "$G" "${gif:-eth0}" "$([ $mode = tso ] && echo on || echo off)"
    for type in afpacket afxdp; do
      [ "$mode:$type" = tso:afxdp ] && continue
      if ! out=$(pvnet_cli switch add-port bru ua --type "$type" 2>&1); then
        pb_log "uplink: add-port --type $type: $out"
        ul_emit "$type.$mode" "bridge.$mode" n/a n/a n/a n/a; continue
      fi
      ul_measure "$type.$mode" "bridge.$mode" "$G" "${gif:-eth0}" 10.63.0.1 "$R" 10.63.0.100 "$UL_GMAC" "$secs"
      pvnet_cli switch del-port bru ua >/dev/null 2>&1
    done
  done
  pvnet_cli destroy "$G" >/dev/null 2>&1
  pb_kill "$PVD_PID"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  SECS=3
  while [ $# -gt 0 ]; do
    case "$1" in
      --secs) SECS=$2; shift ;;
      *) echo "usage: perf/uplink.sh [--secs N]" >&2; exit 2 ;;
    esac
    shift
  done
  [ "$(id -u)" = 0 ] || { echo "perf/uplink.sh: needs root" >&2; exit 1; }
  pb_tmpdir
  echo "# uplink: cores=$(nproc) placement=iperf3/pktgen tx cpu$PB_CPU_TX rx cpu$PB_CPU_RX, pvnetd+guest unpinned, iperf3 1 stream ${SECS}s (+1 s omitted), 64 B pktgen ${SECS}s commit=$(git -C "$PB_ROOT" rev-parse --short HEAD 2>/dev/null)"
  echo "# columns: TCP guest->remote, TCP remote->guest, 64 B remote->guest; ratios vs the Linux bridge in the same wire mode"
  uplink_bench "$SECS"
fi
