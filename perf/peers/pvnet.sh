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
# pvnet_cpu_dom0 / pvnet_cpu_guests: CPU ns so far of pvnetd's threads / of
#   the pvnet-guest processes (pvnetd's descendants).

PVD_PID=""
PVG_NS=(); PVG_IF=(); PVG_IP=(); PVG_NAME=()

pvnet_start() {
  [ -x "$PB_BIN/pvnetd" ] && [ -x "$PB_BIN/pvnet" ] || { pb_log "pvnet: not built"; return 1; }
  PVD_NS="$PB_TAG-dom0"; PVD_RUN="$PB_TMP/run"
  pb_ns "$PVD_NS" || return 1
  nsenter --net="/run/netns/$PVD_NS" "$PB_BIN/pvnetd" --foreground --run-dir "$PVD_RUN" \
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
