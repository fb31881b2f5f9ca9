#!/usr/bin/env bash
# pvnetd as the switch of an OVSDB hardware_vtep database (docs/ovn.md), with the real
# ovsdb-server (openvswitch-vtep's vtep.ovsschema) and vtep-ctl writing what
# ovn-controller-vtep writes: a logical switch with its tunnel key, a port binding
# (vtep-ctl bind-ls), the remote VTEP's MAC and the BUM locator. The remote VTEP is a
# Linux vxlan device in its own namespace on the underlay.
#   - pvnetd publishes its Physical_Switch (tunnel_ips) and its guest ports;
#   - a host behind a pvnet port bound to ls1 pings the remote VTEP's host, both ways;
#   - the MAC learnt on the bound port shows in vtep-ctl list-local-macs, and so does the
#     unknown-dst Mcast_Macs_Local entry with pvnetd's own locator;
#   - a second logical switch (another port, another VNI) stays isolated from the first;
#   - the database goes away (ovsdb-server killed): traffic keeps flowing; it comes back:
#     pvnetd reconnects, resynchronises, and a MAC removed meanwhile is gone from the
#     switch (nothing stale survives), the local MACs are written again;
#   - a malformed row (a MAC that is no MAC) is logged and ignored, pvnetd answers;
#   - the options are kept in the state dir: pvnetd restarted without them joins again
#     and realises ls1; --vtep-db none forgets them.
# OVN itself (ovn-northd, ovn-controller-vtep) is not started here: scripts/ovn-lab.sh.
. "$(dirname "$0")/lib.sh"
pv_init ovn_vtep
pv_need ping ovsdb-server ovsdb-tool vtep-ctl
SCHEMA=/usr/share/openvswitch/vtep.ovsschema
if [ ! -f "$SCHEMA" ]; then skip ovn_vtep "no $SCHEMA (package openvswitch-vtep)"; pv_done; exit 0; fi
q() { "$@" >/dev/null 2>&1; }
PVNET="$PV_BIN/pvnet --run-dir $PV_RUN" # for bash -c (pvnet is a function of lib.sh)
# wait_for DESC SECONDS CMD...: polls CMD every 0.1 s for at most SECONDS
wait_for() {
  local d=$1 t=$2 i; shift 2
  for ((i = 0; i < t * 10; i++)); do
    if "$@" >/dev/null 2>&1; then ok "$d ($((i * 100)) ms)"; return 0; fi
    sleep 0.1
  done
  not_ok "$d (not within $t s)"; return 1
}

# The VTEP database, in its own run dir, started and stopped by PID only.
DB="$PV_TMP/vtepdb"; mkdir -p "$DB"
VDB="unix:$DB/db.sock"
vctl() { vtep-ctl --db="$VDB" --timeout=5 "$@"; }
db_start() {
  ovsdb-server --detach --no-chdir --pidfile="$DB/ovsdb.pid" --remote="punix:$DB/db.sock" \
    --unixctl="$DB/ovsdb.ctl" --log-file="$DB/ovsdb.log" "$DB/vtep.db"
}
db_stop() {
  local p
  p=$(cat "$DB/ovsdb.pid" 2>/dev/null) || return 0
  kill "$p" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
}
ovsdb-tool create "$DB/vtep.db" "$SCHEMA"
if ! db_start; then not_ok "ovsdb-server (hardware_vtep) starts"; pv_done; exit 1; fi
pv_cleanup_add "db_stop"
ok "ovsdb-server (hardware_vtep) starts"

R="$PV_NS-r"; H1="$PV_NS-h1"; H2="$PV_NS-h2"
for ns in "$R" "$H1" "$H2"; do ip netns add "$ns" && pv_cleanup_add "ip netns del '$ns'"; done
for ns in "$PV_NS" "$R" "$H1" "$H2"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n "$ns" link set lo up
done
# underlay: pvnetd 172.31.0.1 <-> remote VTEP 172.31.0.2
ip link add ul0 netns "$PV_NS" type veth peer name eth0 netns "$R"
ip -n "$PV_NS" addr add 172.31.0.1/24 dev ul0; ip -n "$PV_NS" link set ul0 up
ip -n "$R" addr add 172.31.0.2/24 dev eth0; ip -n "$R" link set eth0 up
ip netns exec "$R" ethtool -K eth0 tx off >/dev/null 2>&1 || true
# the remote VTEP: VNI 5000 (ls1) and VNI 5001 (ls2), each on a Linux bridge
for k in 0 1; do
  if ! ip -n "$R" link add vx$k type vxlan id 500$k local 172.31.0.2 dstport 4789 dev eth0 nolearning; then
    skip ovn_vtep "kernel has no vxlan device"; pv_done; exit 0
  fi
  ip -n "$R" link add br$k type bridge
  ip -n "$R" link set vx$k master br$k; ip -n "$R" link set vx$k up; ip -n "$R" link set br$k up
  ip -n "$R" link set br$k address 02:00:00:00:50:0$k
  ip -n "$R" addr add 10.80.$k.2/24 dev br$k
  # flood to pvnetd (the Linux side's own BUM locator)
  bridge -n "$R" fdb append 00:00:00:00:00:00 dev vx$k dst 172.31.0.1
done

if pv_start --vtep-db "$VDB" --vtep-name pv1 --tunnel-ip 172.31.0.1; then ok "pvnetd starts with --vtep-db"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
# two pvnet ports (TAP), each moved into a host namespace
for k in 0 1; do
  q pvnet switch add-port br0 tp$k --type tap || not_ok "add-port br0 tp$k --type tap"
  ip -n "$PV_NS" link set tp$k netns "$([ $k = 0 ] && echo "$H1" || echo "$H2")"
done
ip -n "$H1" addr add 10.80.0.1/24 dev tp0; ip -n "$H1" link set tp0 mtu 1450 up
ip -n "$H2" addr add 10.80.1.1/24 dev tp1; ip -n "$H2" link set tp1 mtu 1450 up
# for the isolation check: an address of ls1's subnet in H2 too
ip -n "$H2" addr add 10.80.0.9/24 dev tp1

wait_for "Physical_Switch pv1 published with tunnel_ips 172.31.0.1" 5 \
  bash -c "vtep-ctl --db='$VDB' --timeout=2 get Physical_Switch pv1 tunnel_ips | grep -q 172.31.0.1"
wait_for "its ports tp0 and tp1 are Physical_Ports" 5 \
  bash -c "[ \"\$(vtep-ctl --db='$VDB' --timeout=2 list-ports pv1 | tr '\n' ' ')\" = 'tp0 tp1 ' ]"

# what ovn-controller-vtep writes, written here with vtep-ctl
vctl add-ls ls1 -- set Logical_Switch ls1 tunnel_key=5000
vctl add-ls ls2 -- set Logical_Switch ls2 tunnel_key=5001
vctl bind-ls pv1 tp0 0 ls1
vctl bind-ls pv1 tp1 0 ls2
vctl add-mcast-remote ls1 unknown-dst 172.31.0.2
vctl add-mcast-remote ls2 unknown-dst 172.31.0.2
vctl add-ucast-remote ls1 02:00:00:00:50:00 172.31.0.2
vctl add-ucast-remote ls2 02:00:00:00:50:01 172.31.0.2

wait_for "VXLAN port vtep5000 on br0 with remote 172.31.0.2" 5 \
  bash -c "$PVNET switch port-show vtep5000 | grep -q 'vni=5000 .*remotes=172.31.0.2'"
check "ping ls1: pvnet host -> remote VTEP host" q ip netns exec "$H1" ping -c 3 -i 0.2 -W 2 10.80.0.2
check "ping ls1: remote VTEP host -> pvnet host" q ip netns exec "$R" ping -c 3 -i 0.2 -W 2 10.80.0.1
check "ping ls2: pvnet host -> remote VTEP host" q ip netns exec "$H2" ping -c 3 -i 0.2 -W 2 10.80.1.2
H1MAC=$(ip -n "$H1" link show tp0 | awk '/link\/ether/ {print $2}')
wait_for "H1's MAC $H1MAC in Ucast_Macs_Local of ls1" 3 \
  bash -c "vtep-ctl --db='$VDB' --timeout=2 list-local-macs ls1 | grep -qi '$H1MAC'"
[ "$PV_FAILED" = 0 ] || $PVNET switch fdb br0 | sed 's/^/# fdb: /'
check "H1's MAC is not in ls2" bash -c "! vtep-ctl --db='$VDB' list-local-macs ls2 | grep -qi '$H1MAC'"

# isolation: ls2's host, with an address of ls1's subnet, reaches nothing of ls1
ip -n "$H2" neigh flush all 2>/dev/null
check "ls2 host cannot reach the ls1 host on the same bridge" bash -c "! ip netns exec '$H2' ping -c 2 -i 0.2 -W 1 -I 10.80.0.9 10.80.0.1 >/dev/null 2>&1"
check "ls2 host cannot reach ls1's remote host" bash -c "! ip netns exec '$H2' ping -c 2 -i 0.2 -W 1 -I 10.80.0.9 10.80.0.2 >/dev/null 2>&1"
check "ls1 still works after the isolation probes" q ip netns exec "$H1" ping -c 2 -i 0.2 -W 2 10.80.0.2

# the database goes away: forwarding goes on with the last state
LS2=$(vctl get Logical_Switch ls2 _uuid)
db_stop
ip netns exec "$H1" ping -c 200 -i 0.05 -W 1 10.80.0.2 >"$PV_TMP/ping-fault.txt" 2>&1 &
PING=$!
pv_cleanup_add "kill $PING"
sleep 1
check "ping ls1 with the VTEP database down" q ip netns exec "$H1" ping -c 3 -i 0.2 -W 2 10.80.0.2
check "pvnet list answers with the database down" q timeout 1 "$PV_BIN/pvnet" --run-dir "$PV_RUN" list
# meanwhile OVN removed ls2's remote VTEP (its MAC and its BUM locator; edited offline)
ovsdb-tool transact "$DB/vtep.db" "[\"hardware_vtep\",
  {\"op\":\"delete\",\"table\":\"Ucast_Macs_Remote\",\"where\":[[\"logical_switch\",\"==\",[\"uuid\",\"$LS2\"]]]},
  {\"op\":\"delete\",\"table\":\"Mcast_Macs_Remote\",\"where\":[[\"logical_switch\",\"==\",[\"uuid\",\"$LS2\"]]]}]" >/dev/null
ovsdb-tool transact "$DB/vtep.db" '["hardware_vtep",{"op":"delete","table":"Ucast_Macs_Local","where":[]}]' >/dev/null
T0=$(date +%s%N)
db_start || not_ok "ovsdb-server restarts"
wait_for "after the restart pvnetd rewrites H1's MAC in Ucast_Macs_Local" 15 \
  bash -c "vtep-ctl --db='$VDB' --timeout=2 list-local-macs ls1 | grep -qi '$H1MAC'"
diag "convergence after the VTEP database restart: $(( ($(date +%s%N) - T0) / 1000000 )) ms"
wait_for "nothing stale after the resync: vtep5001 has no remote left" 5 \
  bash -c "$PVNET switch port-show vtep5001 | grep -q 'remotes= '"
check "ls2 no longer reaches the removed VTEP" bash -c "! ip netns exec '$H2' ping -c 2 -i 0.2 -W 1 10.80.1.2 >/dev/null 2>&1"
wait "$PING"
loss=$(grep -o '[0-9.]*% packet loss' "$PV_TMP/ping-fault.txt")
diag "ping across the database restart: $loss"
check "ping across the database restart lost under 5%" \
  awk -v l="${loss%%%*}" 'BEGIN { exit !(l < 5) }'

# malformed: a remote MAC that is no MAC, and a locator that is no address
vctl add-ucast-remote ls1 02:00:00:00:99:99 not-an-ip >/dev/null 2>&1 || true
check "pvnet list answers after malformed rows" q timeout 1 "$PV_BIN/pvnet" --run-dir "$PV_RUN" list
check "ls1 still forwards after malformed rows" q ip netns exec "$H1" ping -c 2 -i 0.2 -W 2 10.80.0.2

# a guest goes away (its port deleted): its MAC leaves Ucast_Macs_Local within a second
H3="$PV_NS-h3"
ip netns add "$H3" && pv_cleanup_add "ip netns del '$H3'"
q pvnet switch add-port br0 tp2 --type tap || not_ok "add-port br0 tp2"
ip -n "$PV_NS" link set tp2 netns "$H3"
ip -n "$H3" link set tp2 address 02:00:00:00:33:33 mtu 1450 up
ip -n "$H3" addr add 10.80.0.33/24 dev tp2
wait_for "tp2 published as a Physical_Port" 5 \
  bash -c "vtep-ctl --db='$VDB' --timeout=2 list-ports pv1 | grep -qx tp2"
vctl bind-ls pv1 tp2 0 ls1
wait_for "a new port bound to ls1 reaches the remote" 5 ip netns exec "$H3" ping -c 1 -W 1 10.80.0.2
wait_for "its MAC in Ucast_Macs_Local" 3 \
  bash -c "vtep-ctl --db='$VDB' --timeout=2 list-local-macs ls1 | grep -qi 02:00:00:00:33:33"
q pvnet switch del-port br0 tp2
wait_for "port deleted: its MAC leaves Ucast_Macs_Local within a second" 1 \
  bash -c "! vtep-ctl --db='$VDB' --timeout=1 list-local-macs ls1 | grep -qi 02:00:00:00:33:33"
check "H1's MAC stays" bash -c "vtep-ctl --db='$VDB' list-local-macs ls1 | grep -qi '$H1MAC'"
check "Mcast_Macs_Local of ls1: unknown-dst -> this host's locator only" \
  bash -c "[ \"\$(vtep-ctl --db='$VDB' --timeout=2 list-local-macs ls1 | sed -n '/mcast-mac-local/,\$p' | grep -c -- '->')\" = 1 ] && vtep-ctl --db='$VDB' --timeout=2 list-local-macs ls1 | sed -n '/mcast-mac-local/,\$p' | grep -q 'unknown-dst -> vxlan_over_ipv4/172.31.0.1'"

# unbinding removes the logical switch from the bridge
vctl unbind-ls pv1 tp1 0
wait_for "unbind-ls: vtep5001 leaves br0" 5 bash -c "! $PVNET switch port-show vtep5001 >/dev/null 2>&1"
check "ls1 unaffected by ls2's unbinding" q ip netns exec "$H1" ping -c 2 -i 0.2 -W 2 10.80.0.2
check "pvnetd survived" kill -0 "$PV_PID"

# the options are kept in the state dir: pvnetd started again without them joins as pv1
check "the VTEP options are kept in the state dir (vtep.conf)" \
  grep -qx "tunnel_ip=172.31.0.1" "$PVNET_STATE_DIR/vtep.conf"
nsync=$(grep -c 'vtep: synchronised' "$PV_TMP/pvnetd.log")
pv_kill_daemon "$PV_PID"
if pv_start; then ok "pvnetd restarts without --vtep-* options"; else not_ok "pvnetd restarts"; fi
wait_for "it joins again as pv1 with the kept options and synchronises" 10 \
  bash -c "[ \$(grep -c 'vtep: synchronised' '$PV_TMP/pvnetd.log') -gt $nsync ] && vtep-ctl --db='$VDB' --timeout=2 list-ps | grep -qx pv1"
wait_for "ls1 is realised again from the database (vtep5000 towards 172.31.0.2)" 5 \
  bash -c "$PVNET switch port-show vtep5000 | grep -q 'vni=5000 .*remotes=172.31.0.2'"
pv_kill_daemon "$PV_PID"
if pv_start --vtep-db none; then ok "pvnetd --vtep-db none starts"; else not_ok "pvnetd --vtep-db none starts"; fi
check "--vtep-db none forgets the kept options" test ! -e "$PVNET_STATE_DIR/vtep.conf"
check "and pvnetd does not join" bash -c "! $PVNET switch port-show vtep5000 >/dev/null 2>&1"
[ "$PV_FAILED" = 0 ] || { diag "vtep db:"; vctl show 2>&1 | sed 's/^/# /'; vctl list-local-macs ls1 | sed 's/^/# /'; }
pv_done
