# perf/peers/pvnet.sh - not a peer: the system under test, set up the way the
# peers are (sourced after perf/lib.sh).
#
# pvnetd runs in a fresh "dom0" namespace (nsenter --net, so the guests'
# namespace mounts propagate), with its run dir in the bench's temp dir.
# Guests come from generated xl-style configs with unique names and netns=,
# one vif each on bridge br0: guest i has MAC 00:16:3e:77:00:<i> and
# 10.78.0.<i>/24.
#
# pvnet_start: 0 if pvnetd is up (PVD_PID set).
# pvnet_guests N: creates guests 1..N (PVG_NS[i], PVG_IF[i], PVG_IP[i]).
# pvnet_ready: 0 if guest 1 pings guest 2 (the PV NIC carries traffic).
# pvnet_poll_pair [NB_POLL] / pvnet_poll_destroy: guests 1p/2p (PVP_NS[i],
#   PVP_IP[i], 10.78.0.20<i>) whose netfront busy-polls
#   (PVNET_NF_POLL_US=always) and whose vifs get `poll=NB_POLL` (default on:
#   netback busy-polls their rings too; off = netfront polling only): rr in
#   polling mode. Destroy them after use: they keep a core busy.
# pvnet_cpu_dom0 / pvnet_cpu_guests: CPU ns so far of pvnetd's threads / of
#   the pvnet-guest processes (pvnetd's descendants).

PVD_PID=""
PVG_NS=(); PVG_IF=(); PVG_IP=(); PVG_NAME=()

pvnet_start() {
  [ -x "$PB_BIN/pvnetd" ] && [ -x "$PB_BIN/pvnet" ] || { pb_log "pvnet: not built"; return 1; }
  PVD_NS="$PB_TAG-dom0"; PVD_RUN="$PB_TMP/run"
  pb_ns "$PVD_NS" || return 1
  # the polling-mode guests of pvnet_poll_pair run pvnet-guest with
  # PVNET_NF_POLL_US=always (pvnetd's per-domain guest binary override)
  printf '#!/bin/sh\nPVNET_NF_POLL_US=always exec "%s" "$@"\n' "$PB_BIN/pvnet-guest" >"$PB_TMP/pvnet-guest-poll"
  chmod +x "$PB_TMP/pvnet-guest-poll"
  export "PVNET_GUEST_BIN_pvb$$p1=$PB_TMP/pvnet-guest-poll" "PVNET_GUEST_BIN_pvb$$p2=$PB_TMP/pvnet-guest-poll"
  nsenter --net="/run/netns/$PVD_NS" "$PB_BIN/pvnetd" --foreground --run-dir "$PVD_RUN" --state-dir "$PB_TMP/pvnetd-state" \
    --log "$PB_TMP/pvnetd.log" </dev/null &
  PVD_PID=$!
  pb_cleanup_add "pb_kill $PVD_PID"
  local i
  for i in $(seq 1 100); do
    if [ -S "$PVD_RUN/pvnetd.sock" ] && pvnet_cli info >/dev/null 2>&1; then return 0; fi
    kill -0 "$PVD_PID" 2>/dev/null || break
    sleep 0.05
  done
  pb_log "pvnetd did not start: $(tail -n 3 "$PB_TMP/pvnetd.log" 2>/dev/null | tr '\n' ' ')"
  return 1
}

pvnet_cli() { "$PB_BIN/pvnet" --run-dir "$PVD_RUN" "$@"; }

pvnet_guests() {
  local n=$1 i name cfg mac
  for ((i = 1; i <= n; i++)); do
    name="pvb$$g$i"
    mac=$(printf '00:16:3e:77:00:%02x' "$i")
    cfg="$PB_TMP/$name.cfg"
    cat >"$cfg" <<CFG
name   = "$name"
memory = 64
netns  = "$PB_TAG-g$i"
vif    = [ 'mac=$mac, bridge=br0, ip=10.78.0.$i/24, mtu=1500, queues=1' ]
CFG
    pvnet_cli create "$cfg" >/dev/null 2>"$PB_TMP/$name.err" || {
      pb_log "pvnet create $name: $(cat "$PB_TMP/$name.err")"; return 1; }
    pb_cleanup_add "ip netns del '$PB_TAG-g$i'"
    pb_cleanup_add "'$PB_BIN/pvnet' --run-dir '$PVD_RUN' destroy '$name'"
    PVG_NAME[$i]=$name; PVG_NS[$i]="$PB_TAG-g$i"; PVG_IP[$i]="10.78.0.$i"
    PVG_IF[$i]=""
    local k
    for k in $(seq 1 60); do
      PVG_IF[$i]=$(ip -n "${PVG_NS[$i]}" -o link 2>/dev/null | grep -i "$mac" | awk -F': ' '{ print $2 }' | cut -d@ -f1 | head -1)
      [ -n "${PVG_IF[$i]}" ] && break
      sleep 0.05
    done
  done
}

pvnet_ready() {
  [ -n "${PVG_IF[1]:-}" ] && [ -n "${PVG_IF[2]:-}" ] || return 1
  local i
  for i in 1 2 3; do
    ip netns exec "${PVG_NS[1]}" ping -c1 -W1 "${PVG_IP[2]}" >/dev/null 2>&1 && return 0
  done
  return 1
}

pvnet_cpu_dom0() { pb_task_cpu_ns "$PVD_PID"; }

pvnet_cpu_guests() {
  local p s=0
  for p in $(pb_tree_pids "$PVD_PID"); do
    [ "$p" = "$PVD_PID" ] && continue
    s=$((s + $(pb_task_cpu_ns "$p")))
  done
  echo "$s"
}

# --- netfront's in-ring generator and sink (vif mode=pktgen / mode=sink) ---
#
# pvnet_app_pair SIZE: a generator guest (mode=pktgen, SIZE-byte frames, as
#   fast as it can) and a sink guest (mode=sink) alone on bridge "pg<SIZE>";
#   no TAP in either. Sets PVA_GEN / PVA_SINK (domids); the generator is left
#   paused. 0 when both vifs are Connected.
# pvnet_app_run SECS: one measured window: read the settled counters, resume
#   the generator, SECS later pause it, read the settled counters again.
#   Prints "mpps gbps loss_pct dom0_ns_per_pkt guest_ns_per_pkt" with Mpps =
#   frames the sink counted / the window, dom0 = pvnetd's thread CPU time per
#   counted frame.
# pvnet_app_destroy: removes the pair.

pvnet_xs() { XENSTORED_PATH="$PVD_RUN/xenstored" "$@"; }

pvnet_domid() { pvnet_cli list | awk -v n="$1" '$1 == n { print $2 }'; }

# pvnet_app_pause DOMID on|off: writes control/pktgen and waits until the
# guest has published settled counters (data/pktgen/paused = 1 / 0).
pvnet_app_pause() {
  local d=$1 want i
  if [ "$2" = on ]; then want=1; pvnet_xs xenstore-write "/local/domain/$d/control/pktgen" stop
  else want=0; pvnet_xs xenstore-write "/local/domain/$d/control/pktgen" start; fi
  for i in $(seq 1 200); do
    [ "$(pvnet_xs xenstore-read "/local/domain/$d/data/pktgen/paused" 2>/dev/null)" = "$want" ] && return 0
    sleep 0.01
  done
  pb_log "pvnet: domain $d did not acknowledge pktgen $2"
  return 1
}

pvnet_app_ctr() { pvnet_xs xenstore-read "/local/domain/$1/data/pktgen/$2" 2>/dev/null || echo 0; }

pvnet_app_pair() {
  local size=$1 name d k cfg
  PVA_GEN=""; PVA_SINK=""; PVA_SIZE=$size
  for name in sink gen; do
    cfg="$PB_TMP/pvb$$$name$size.cfg"
    local spec="mode=sink" mac=02
    [ "$name" = gen ] && { spec="mode=pktgen, pkt=$size, pps=0"; mac=01; }
    cat >"$cfg" <<CFG
name   = "pvb$$$name$size"
memory = 64
netns  = "$PB_TAG-$name$size"
vif    = [ 'mac=00:16:3e:78:00:$mac, bridge=pg$size, ip=10.79.0.$((10#$mac))/24, queues=1, $spec' ]
CFG
    pvnet_cli create "$cfg" >/dev/null 2>"$PB_TMP/app.err" || {
      pb_log "pvnet create pvb$$$name$size: $(cat "$PB_TMP/app.err")"; return 1; }
    pb_cleanup_add "ip netns del '$PB_TAG-$name$size'"
    pb_cleanup_add "'$PB_BIN/pvnet' --run-dir '$PVD_RUN' destroy 'pvb$$$name$size'"
    d=$(pvnet_domid "pvb$$$name$size")
    [ "$name" = gen ] && PVA_GEN=$d || PVA_SINK=$d
  done
  for d in "$PVA_SINK" "$PVA_GEN"; do
    for k in $(seq 1 200); do
      [ "$(pvnet_xs xenstore-read "/local/domain/$d/device/vif/0/state" 2>/dev/null)" = 4 ] &&
        [ "$(pvnet_xs xenstore-read "/local/domain/0/backend/vif/$d/0/state" 2>/dev/null)" = 4 ] && break
      sleep 0.025
    done
    [ "$k" = 200 ] && { pb_log "pvnet: pktgen/sink domain $d not Connected"; return 1; }
  done
  # the counters node appears with the guest's first report
  for k in $(seq 1 200); do
    [ -n "$(pvnet_xs xenstore-read "/local/domain/$PVA_SINK/data/pktgen/rx_packets" 2>/dev/null)" ] && break
    sleep 0.025
  done
  pvnet_app_pause "$PVA_GEN" on
}

pvnet_app_run() {
  local secs=$1 t0 t1 tx0 rx0 tx1 rx1 d0 d1 g0 g1
  pvnet_app_pause "$PVA_SINK" on || { echo "n/a n/a n/a n/a n/a"; return 1; }
  tx0=$(pvnet_app_ctr "$PVA_GEN" tx_packets); rx0=$(pvnet_app_ctr "$PVA_SINK" rx_packets)
  pvnet_app_pause "$PVA_SINK" off
  d0=$(pvnet_cpu_dom0); g0=$(pvnet_cpu_guests); t0=$(date +%s%N)
  pvnet_app_pause "$PVA_GEN" off
  sleep "$secs" # the run length itself
  pvnet_app_pause "$PVA_GEN" on
  t1=$(date +%s%N); d1=$(pvnet_cpu_dom0); g1=$(pvnet_cpu_guests)
  pvnet_app_pause "$PVA_SINK" on
  tx1=$(pvnet_app_ctr "$PVA_GEN" tx_packets); rx1=$(pvnet_app_ctr "$PVA_SINK" rx_packets)
  pvnet_app_pause "$PVA_SINK" off
  local rxf=$((rx1 - rx0)) txf=$((tx1 - tx0)) el
  if [ "$rxf" -le 0 ]; then echo "n/a n/a n/a n/a n/a"; return 1; fi
  el=$(pb_calc "($t1 - $t0) / 1e9")
  echo "$(pb_calc "$rxf / $el / 1e6") $(pb_calc "$rxf * $PVA_SIZE * 8 / $el / 1e9")" \
    "$(pb_calc "100 * ($txf - $rxf) / $txf") $(pb_calc "($d1 - $d0) / $rxf") $(pb_calc "($g1 - $g0) / $rxf")"
}

pvnet_app_destroy() {
  pvnet_cli destroy "pvb$$sink$PVA_SIZE" >/dev/null 2>&1
  pvnet_cli destroy "pvb$$gen$PVA_SIZE" >/dev/null 2>&1
}

PVP_NS=(); PVP_IP=()
pvnet_poll_pair() {
  local i name cfg k nbpoll=${1:-on}
  for i in 1 2; do
    name="pvb$$p$i"; cfg="$PB_TMP/$name.cfg"
    cat >"$cfg" <<CFG
name   = "$name"
memory = 64
netns  = "$PB_TAG-p$i"
vif    = [ 'mac=00:16:3e:77:01:0$i, bridge=br0, ip=10.78.0.20$i/24, mtu=1500, queues=1, poll=$nbpoll' ]
CFG
    pvnet_cli create "$cfg" >/dev/null 2>"$PB_TMP/$name.err" || {
      pb_log "pvnet create $name: $(cat "$PB_TMP/$name.err")"; return 1; }
    pb_cleanup_add "ip netns del '$PB_TAG-p$i'"
    pb_cleanup_add "'$PB_BIN/pvnet' --run-dir '$PVD_RUN' destroy '$name'"
    PVP_NS[$i]="$PB_TAG-p$i"; PVP_IP[$i]="10.78.0.20$i"
    for k in $(seq 1 60); do
      ip -n "${PVP_NS[$i]}" -o addr 2>/dev/null | grep -q "10.78.0.20$i" && break
      sleep 0.05
    done
  done
  for k in 1 2 3; do
    ip netns exec "${PVP_NS[1]}" ping -c1 -W1 "${PVP_IP[2]}" >/dev/null 2>&1 && return 0
  done
  return 1
}

pvnet_poll_destroy() {
  pvnet_cli destroy "pvb$$p1" >/dev/null 2>&1
  pvnet_cli destroy "pvb$$p2" >/dev/null 2>&1
}
