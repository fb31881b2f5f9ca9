#!/usr/bin/env bash
# Per-domain hypervisor and netback resources (docs/security.md, "Event channels,
# grant maps, queues" and "Shared packet pools"). One hostile domain per attack runs
# tools/pvnet-hostile (PVNET_GUEST_BIN_<name>) from the position a tenant has: its
# own hypercalls, grants, store nodes and RX ring.
#   evtchn_flood  event channels until refused: -ENOSPC at the 1023-port limit
#   map_storm     frames from 3000 distinct persistent grants: maps beyond the
#                 domain's gnt-maps limit (300 here) refused and logged, its
#                 traffic still answered (grant copy)
#   queues_over   one queue more than the vif's queues=: refused as Xen netback
#                 does (backend closed, the error node says why)
#   store_storm   its frontend nodes rewritten in a loop for 6 s
#   no_rx         never posts RX buffers while an uplink host floods it: the frames
#                 beyond its share of the uplink's pool are dropped as rx_share and
#                 the uplink never runs out of buffers and an iperf3 from it to
#                 another guest keeps flowing
# During each attack another pair of guests keeps pinging, `pvnet list` answers
# within 1 s, the control loop's worst turn stays under 100 ms, a new guest still
# connects, and pvnetd's RSS and fd count stay within the documented bounds.
. "$(dirname "$0")/lib.sh"
pv_init isolation_hv
pv_need ping iperf3 python3 xenstore-read nsenter

ID=$(printf '%x' $(( $$ % 4096 )))
BR=bi$ID
UP=ui$ID
# pvnetd starts each attacker's program in place of pvnet-guest (read at spawn)
for c in evtchn_flood map_storm queues_over store_storm state_flap no_rx; do
  export "PVNET_GUEST_BIN_h${ID}_$c=$PV_BIN/pvnet-hostile"
done
LIMITS=()
if "$PV_BIN/pvnetd" --help 2>&1 | grep -q -- '--limit'; then LIMITS=(--limit gnt-maps=300); fi
if pv_start "${LIMITS[@]}"; then ok "pvnetd starts ${LIMITS[*]}"; else not_ok "pvnetd starts"; pv_done; exit 1; fi

NG=0
mkcfg() {  # NAME [IP4]: writes NAME.cfg (lib.sh's pv_cfg); sets MAC
  local name=$1 ip4=${2:-}
  NG=$((NG + 1))
  pv_cfg "$name" "bridge=$BR${ip4:+, ip=$ip4/24}"
  MAC=$PV_MAC
}
info() { pvnet info | awk -v k="$1" '$1 == k {print $3}'; }
ms() { date +%s%3N; }
# refused KEY: how often the ledger's limit KEY refused (pvnet info), or empty
refused() { pvnet info | sed -n "s/^limit_$1 *: .*(refused \([0-9]*\))/\1/p"; }
# list_ms: milliseconds `pvnet list` took (1000+ if it did not answer within 1 s)
list_ms() {
  local t0 t1; t0=$(ms)
  timeout 1 "$PV_BIN/pvnet" --run-dir "$PV_RUN" list 2>/dev/null | grep -q '^Name' || { echo 1000; return; }
  t1=$(ms); echo $((t1 - t0))
}
vstat() {  # VIF PATH: the value at PATH (e.g. drops.rx_share) in the vif's stats object
  local r
  r=$(pvnet stats --json | jget "**.[name=$1].[connected].$2" 2>/dev/null | head -1)
  echo "${r:-novif}"
}
A=ia$ID; B=ib$ID
pair_pings() { ip netns exec "$A" ping -c1 -W1 10.93.0.2 >/dev/null 2>&1; }

# watch SECS: samples every 0.5 s while an attack runs: sets SLOW (list > 1 s),
# MAXLIST (ms), NOPING (pair pings lost), MAXFD, MAXRSS
watch() {
  local end=$(( $(date +%s) + $1 )) l f r
  SLOW=0; MAXLIST=0; NOPING=0; MAXFD=0; MAXRSS=0
  while [ "$(date +%s)" -lt "$end" ]; do
    l=$(list_ms); [ "$l" -ge 1000 ] && SLOW=$((SLOW + 1)); [ "$l" -gt "$MAXLIST" ] && MAXLIST=$l
    pair_pings || NOPING=$((NOPING + 1))
    f=$(nfds); r=$(rss_kb)
    [ "$f" -gt "$MAXFD" ] && MAXFD=$f; [ "$r" -gt "$MAXRSS" ] && MAXRSS=$r
    sleep 0.5
  done
}
# new_guest_connects: a fresh guest connects and pings the pair, then goes
new_guest_connects() {
  local n=in$ID-$NG rc=1
  mkcfg "$n" 10.93.0.$((50 + NG))
  if pvnet create "$PV_TMP/$n.cfg" >/dev/null 2>&1 && wait_for 15 connected "$n" &&
     wait_for 5 ip netns exec "$n" ping -c1 -W1 10.93.0.2 >/dev/null 2>&1; then rc=0; fi
  pvnet destroy "$n" >/dev/null 2>&1
  return $rc
}
# A domain's own footprint in pvnetd's fds (docs/security.md): its memory and
# grant-table memfds, hypercall and store sockets, and per vif queue the eventfds
# of its bound event channels; any other port it binds adds one eventfd.
DOMFDS=16
# common_checks CASE FD0 RSS0 FDBOUND: the outcome every attack must leave
common_checks() {
  local c=$1 fd0=$2 rss0=$3 fdb=$4 w
  # the loop's own time per turn (computing or blocked on a peer), without the time a
  # loaded machine kept it waiting to run: a blocking call still counts in full
  w=$(pvnet info | awk -F: '{k = $1; gsub(/ /, "", k)} k == "loop_worst_turn_ran_10s_us" {print $2 + 0}')
  diag "$c: pvnetd rss ${rss0} -> max ${MAXRSS} kB, fds ${fd0} -> max ${MAXFD}, pvnet list max ${MAXLIST} ms, loop worst turn (10 s) ${w:-n/a} us ran, $(info loop_worst_turn_10s_us) us wall"
  check "$c: pvnet list answered within 1 s every time ($SLOW slow, max ${MAXLIST} ms)" [ "$SLOW" = 0 ]
  check "$c: the other pair kept pinging ($NOPING lost)" [ "$NOPING" -le 1 ]
  check "$c: control loop's worst turn under 100 ms (${w:-n/a} us)" test "${w:-999999999}" -lt 100000
  check "$c: pvnetd fds within the bound (${fd0} -> ${MAXFD}, bound +${fdb})" [ "$MAXFD" -le $((fd0 + fdb)) ]
  check "$c: pvnetd RSS grew by under 16 MiB (${rss0} -> ${MAXRSS} kB)" [ $((MAXRSS - rss0)) -lt 16384 ]
  check "$c: a new guest still connects and pings" new_guest_connects
}
# hostile CASE: creates the attacker domain h<ID>-CASE; sets H, HID, HMAC
hostile() {
  H=h$ID-$1
  mkcfg "$H"; HMAC=$MAC
  pvnet create "$PV_TMP/$H.cfg" >/dev/null || return 1
  HID=$(domid "$H")
}
report() { xenstore-read "/local/domain/$HID/data/hostile" 2>/dev/null; }
has_report() { [ -n "$(report)" ]; }
# after CASE FD0: the attacker gone, pvnetd gives back what it held
after() {
  pvnet destroy "$H" >/dev/null 2>&1
  check "$1: after destroy, pvnetd's fds are back (${2} -> $(nfds))" \
    wait_for 10 bash -c "[ \$(ls /proc/$PV_PID/fd | wc -l) -le $(( $2 + 2 )) ]"
}

# PVNET_HV_CASES="map_storm no_rx" runs only those attacks (all by default)
want() { [ -z "${PVNET_HV_CASES:-}" ] || [[ " $PVNET_HV_CASES " == *" $1 "* ]]; }

# ---- the pair that must not notice anything ----------------------------------
mkcfg "$A" 10.93.0.1; mkcfg "$B" 10.93.0.2
pvnet create "$PV_TMP/$A.cfg" >/dev/null && pvnet create "$PV_TMP/$B.cfg" >/dev/null
if wait_for 15 connected "$A" && wait_for 15 connected "$B" && wait_for 5 pair_pings; then
  ok "the other pair is connected and pinging"
else
  not_ok "the other pair is connected and pinging"; pv_done; exit 1
fi

# ---- 1. event channels until refused ------------------------------------------
if want evtchn_flood; then
fd0=$(nfds); rss0=$(rss_kb)
hostile evtchn_flood
if wait_for 20 has_report; then
  r=$(report); diag "evtchn_flood: $r"
  check "evtchn_flood: refused with -ENOSPC at the 1023-port limit ($r)" \
    grep -qE 'ports=1023 err=-28$' <<<"$r"
  n=$(refused evtchns)
  check "evtchn_flood: pvnet info counts the refusals of limit_evtchns (${n:-none})" [ "${n:-0}" -ge 1 ]
else
  not_ok "evtchn_flood: attacker reported ($(tail -n 2 "$PV_RUN/console-$H.log" 2>/dev/null | tr '\n' ' '))"
fi
watch 3
# documented bound: one eventfd per bound port of the domain (<= evtchns = 1023)
common_checks evtchn_flood "$fd0" "$rss0" $((DOMFDS + 1023))
after evtchn_flood "$fd0"
fi

# ---- 2. grant-map storm ---------------------------------------------------------
if want map_storm; then
fd0=$(nfds); rss0=$(rss_kb)
hostile map_storm
watch 4
if wait_for 30 has_report; then
  r=$(report); diag "map_storm: $r"
  sent=$(sed -n 's/.* sent=\([0-9]*\).*/\1/p' <<<"$r"); okc=$(sed -n 's/.* okay=\([0-9]*\).*/\1/p' <<<"$r")
  check "map_storm: every one of its frames answered okay, maps refused or not ($r)" \
    [ -n "$sent" ] && [ "$sent" -ge 2000 ] && [ "$okc" = "$sent" ]
  if [ ${#LIMITS[@]} -gt 0 ]; then
    check "map_storm: its maps stopped at its gnt-maps limit (300), logged" \
      grep -q "gnttab: dom$HID: 300 of its grants mapped, limit reached" "$PV_TMP/pvnetd.log"
    n=$(refused gnt-maps)
    check "map_storm: pvnet info counts the refusals of limit_gnt-maps (${n:-none})" [ "${n:-0}" -ge 1 ]
  else
    skip "map_storm: maps stopped at a lowered gnt-maps limit" "pvnetd has no --limit yet"
  fi
else
  not_ok "map_storm: attacker reported ($(tail -n 2 "$PV_RUN/console-$H.log" 2>/dev/null | tr '\n' ' '))"
fi
common_checks map_storm "$fd0" "$rss0" $DOMFDS
after map_storm "$fd0"
fi

# ---- 3. more queues than the vif's queues= ------------------------------------
if want queues_over; then
fd0=$(nfds); rss0=$(rss_kb)
hostile queues_over
if wait_for 20 has_report; then
  r=$(report); err=$(xenstore-read "/local/domain/0/error/backend/vif/$HID/0/error" 2>/dev/null)
  diag "queues_over: $r; error node: $err"
  check "queues_over: refused, backend closed ($r)" grep -q 'asked=2 max=1 be_state=6' <<<"$r"
  check "queues_over: the error node says why, as Xen netback ('$err')" \
    grep -q 'guest requested 2 queues, exceeding the maximum of 1\.' <<<"$err"
else
  not_ok "queues_over: attacker reported"
fi
watch 2
common_checks queues_over "$fd0" "$rss0" $DOMFDS
after queues_over "$fd0"
fi

# ---- 4. store write storm on its own frontend nodes ---------------------------
if want store_storm; then
fd0=$(nfds); rss0=$(rss_kb)
hostile store_storm
wait_for 15 grep -q "storming" "$PV_RUN/console-$H.log"
watch 5
if wait_for 15 has_report; then
  r=$(report); diag "store_storm: $r"
  w=$(sed -n 's/.* writes=\([0-9]*\).*/\1/p' <<<"$r")
  check "store_storm: the storm ran (writes=$w) and its vif stayed connected" \
    bash -c "[ '${w:-0}' -ge 1000 ] && grep -q 'be_state=4' <<<'$r'"
else
  not_ok "store_storm: attacker reported"
fi
common_checks store_storm "$fd0" "$rss0" $DOMFDS
after store_storm "$fd0"
fi

# ---- 4b. the same storm flipping its state: disconnect / connect per loop turn --
if want state_flap; then
fd0=$(nfds); rss0=$(rss_kb)
hostile state_flap
wait_for 15 grep -q "storming" "$PV_RUN/console-$H.log"
watch 5
if wait_for 15 has_report; then
  r=$(report); diag "state_flap: $r"
  w=$(sed -n 's/.* writes=\([0-9]*\).*/\1/p' <<<"$r")
  check "state_flap: the flapping ran (writes=$w) and its vif connected again after it" \
    bash -c "[ '${w:-0}' -ge 500 ] && grep -q 'be_state=4' <<<'$r'"
else
  not_ok "state_flap: attacker reported"
fi
common_checks state_flap "$fd0" "$rss0" $DOMFDS
after state_flap "$fd0"
fi

# ---- 5. a guest that never posts RX buffers, flooded from the uplink ----------
if want no_rx; then
R="$PV_NS-r"
ip netns add "$R" && pv_cleanup_add "ip netns del '$R'"
ip link add "$UP" netns "$PV_NS" type veth peer name eth0 netns "$R"
ip -n "$PV_NS" link set "$UP" up
ip -n "$R" link set lo up
ip -n "$R" addr add 10.93.0.200/24 dev eth0
ip -n "$R" link set eth0 up
pvnet switch add-port "$BR" "$UP" --type afpacket >/dev/null 2>&1
r_pings() { ip netns exec "$R" ping -c1 -W1 10.93.0.1 >/dev/null 2>&1; }
check "uplink $UP (afpacket) on $BR reaches guest $A" wait_for 5 r_pings
PORT=5300
rate() {  # iperf3 uplink host -> guest A for SECS: Mb/s (a one-off server each time)
  PORT=$((PORT + 1))
  ip netns exec "$A" iperf3 -s -D -1 -p $PORT --logfile "$PV_TMP/iperf-s$PORT.log"
  wait_for 5 bash -c "ip netns exec '$A' ss -ltn | grep -q ':$PORT '"
  ip netns exec "$R" timeout $(( $1 + 10 )) iperf3 -c 10.93.0.1 -p $PORT -t "$1" -f m 2>/dev/null |
    awk '/receiver/ {print $(NF-2)}' | tail -1
}
pstat() {  # PORT PATH: the value at PATH in the switch port's stats object
  local r
  r=$(pvnet stats --json | jget "**.[name=$1].[port_no].$2" 2>/dev/null | head -1)
  echo "${r:-noport}"
}
base=$(rate 3)
diag "no_rx: iperf3 uplink -> $A before the attack: ${base:-none} Mb/s"
fd0=$(nfds); rss0=$(rss_kb)
hostile no_rx
wait_for 20 has_report
HV=vif$HID.0
nobuf0=$(pvnet switch port-show "$UP" | sed -n 's/.*rx_nobuf=\([0-9]*\).*/\1/p')
ip -n "$R" neigh replace 10.93.0.99 lladdr "$HMAC" dev eth0
ip netns exec "$R" timeout 12 python3 -c '
import socket,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); b=b"x"*1400; t=time.time()+11
while time.time()<t:
    for i in range(200): s.sendto(b,("10.93.0.99",9))' 2>/dev/null &
FLOOD=$!
pv_cleanup_add "kill $FLOOD"
sleep 1
under=$(rate 4)
watch 3
wait $FLOOD 2>/dev/null
nobuf1=$(pvnet switch port-show "$UP" | sed -n 's/.*rx_nobuf=\([0-9]*\).*/\1/p')
share=$(vstat "$HV" drops.rx_share)
diag "no_rx: iperf3 during the flood ${under:-none} Mb/s (before ${base:-none}); $HV rx_share=$share; $UP rx_nobuf $nobuf0 -> $nobuf1"
check "no_rx: the flood to the stuck guest beyond its share is dropped as rx_share ($share)" \
  [ "${share:-0}" -gt 0 ] 2>/dev/null
n=$(refused rx-share-pct)
check "no_rx: pvnet info counts its drops as refusals of limit_rx-share-pct (${n:-none})" \
  [ "${n:-0}" -ge 1 ]
pshare=$(pstat "$HV" drops.rx_share)
check "no_rx: the stuck guest's switch port counts rx_share too ($pshare)" [ "${pshare:-0}" -gt 0 ] 2>/dev/null
# The stuck guest cannot take the uplink's pool: the uplink never ran out of buffers
# (before the share limit every frame from the uplink was dropped as rx_nobuf and the
# other guest's TCP stalled).
check "no_rx: the uplink never ran out of RX buffers (rx_nobuf $nobuf0 -> $nobuf1)" \
  [ "${nobuf1:-x}" -le "$(( ${nobuf0:-0} + ${share:-0} / 1000 ))" ] 2>/dev/null
# The flood's sender and its drops compete for the same two cores as iperf3 (0.18x on
# a loaded CI machine, 0.7x when quiet); a starved guest would see next to nothing.
check "no_rx: iperf3 from the same uplink to $A keeps flowing (${under:-0} >= 0.1 x ${base:-0} Mb/s)" \
  awk -v u="${under:-0}" -v b="${base:-0}" 'BEGIN {exit !(b > 0 && u >= 0.1 * b)}'
common_checks no_rx "$fd0" "$rss0" $DOMFDS
after no_rx "$fd0"
fi

check "pvnetd alive after every attack" kill -0 "$PV_PID"
check "the pair still pings" pair_pings
pvnet destroy "$A" >/dev/null; pvnet destroy "$B" >/dev/null
pv_done
