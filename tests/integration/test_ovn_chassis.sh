#!/usr/bin/env bash
# pvnet in a real OVN: NB and SB as 3-member Raft clusters, ovn-northd, an OVS chassis
# (ovsdb-server + ovs-vswitchd with datapath_type=netdev + ovn-controller) with one
# OVN logical port bound to a namespace, and a pvnet host: the hardware_vtep
# ovsdb-server, ovn-controller-vtep and pvnetd --vtep-db. One logical switch ls1 with
# the chassis port and a vtep gateway port for pvnet's port tp0 (vtep-ctl bind-ls).
#   - a host behind pvnet's port pings the OVN port on the OVS chassis, and back;
#   - ovn-controller-vtep's tunnel key reaches pvnet as the VNI; OVN learns nothing
#     wrong: the chassis' MAC is a static remote, pvnet's MAC is in Ucast_Macs_Local;
#   - under an established flow each way (10 pings/s): one NB and one SB Raft member
#     killed (an NB change still reaches SB, pvnetd's --ovnsb-db connection moves to
#     another member and resynchronises; restarted, they rejoin), the VTEP
#     ovsdb-server killed and restarted (pvnetd resynchronises, the MACs come back),
#     ovn-controller-vtep killed and restarted (the remote MACs are written again and
#     installed): the flows lose < 5 %, each convergence time is printed.
# Every daemon is started here with --detach --pidfile in the test's run dir and
# killed by the PID in its pidfile, never through systemd.
. "$(dirname "$0")/lib.sh"
pv_init ovn_chassis
for c in ovsdb-server ovsdb-tool ovs-vsctl ovs-vswitchd vtep-ctl ovn-northd ovn-nbctl \
  ovn-sbctl ovn-controller ovn-controller-vtep ping; do
  command -v "$c" >/dev/null 2>&1 || { skip ovn_chassis "needs $c (scripts/deps.sh: openvswitch-switch, openvswitch-vtep, ovn-central, ovn-host, ovn-controller-vtep)"; pv_done; exit 0; }
done
q() { "$@" >/dev/null 2>&1; }
wait_for() {
  local d=$1 t=$2 i; shift 2
  for ((i = 0; i < t * 10; i++)); do
    if "$@" >/dev/null 2>&1; then ok "$d ($((i * 100)) ms)"; return 0; fi
    sleep 0.1
  done
  not_ok "$d (not within $t s)"; return 1
}
C="$PV_TMP/ovn"; mkdir -p "$C"
export OVS_RUNDIR="$C" OVS_LOGDIR="$C" OVS_DBDIR="$C" OVN_RUNDIR="$C" OVN_LOGDIR="$C" OVN_DBDIR="$C"
# kill_pidfile FILE: the daemon we started, by its pidfile
kill_pidfile() {
  local p; p=$(cat "$1" 2>/dev/null) || return 0
  kill "$p" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$p" 2>/dev/null
}
# dbsrv NAME SCHEMA [NS]: an ovsdb-server for NAME.db on unix:$C/NAME.sock
dbsrv() {
  [ -f "$C/$1.db" ] || ovsdb-tool create "$C/$1.db" "$2" || return 1
  ovsdb-server --detach --no-chdir --pidfile="$C/$1.pid" --remote="punix:$C/$1.sock" \
    --unixctl="$C/$1.ctl" --log-file="$C/$1.log" "$C/$1.db" || return 1
  pv_cleanup_add "kill_pidfile '$C/$1.pid'"
}
NBR="unix:$C/nb1.sock,unix:$C/nb2.sock,unix:$C/nb3.sock"
SBR="unix:$C/sb1.sock,unix:$C/sb2.sock,unix:$C/sb3.sock"
nb() { ovn-nbctl --db="$NBR" --timeout=10 "$@"; }
sb() { ovn-sbctl --db="$SBR" --timeout=10 "$@"; }
# NB and SB as 3-member Raft clusters in namespace CEN (Raft over its loopback,
# clients over the members' unix sockets)
CEN="$PV_NS-c"
ip netns add "$CEN" && pv_cleanup_add "ip netns del '$CEN'"
ip -n "$CEN" link set lo up
# member DB I: start (creating or joining on first use) member I of cluster DB (nb|sb)
member() {
  local db=$1 i=$2 schema name port f
  if [ "$db" = nb ]; then schema=/usr/share/ovn/ovn-nb.ovsschema name=OVN_Northbound port=6643
  else schema=/usr/share/ovn/ovn-sb.ovsschema name=OVN_Southbound port=6644; fi
  f="$C/$db$i.db"
  if [ ! -f "$f" ]; then
    if [ "$i" = 1 ]; then ovsdb-tool create-cluster "$f" "$schema" "tcp:127.0.0.1:$port" || return 1
    else ovsdb-tool join-cluster "$f" "$name" "tcp:127.0.0.1:$((port + 10 * (i - 1)))" "tcp:127.0.0.1:$port" || return 1; fi
  fi
  ip netns exec "$CEN" ovsdb-server --detach --no-chdir --pidfile="$C/$db$i.pid" \
    --remote="punix:$C/$db$i.sock" --unixctl="$C/$db$i.ctl" --log-file="$C/$db$i.log" "$f" || return 1
  pv_cleanup_add "kill_pidfile '$C/$db$i.pid'"
}
cluster_ok() { # DB NAME I: member I answers cluster/status with a role and a leader
  ovs-appctl -t "$C/$1$3.ctl" cluster/status "$2" 2>/dev/null | grep -Eq "^Role: (leader|follower)" &&
    ovs-appctl -t "$C/$1$3.ctl" cluster/status "$2" | grep -Eq "^Leader: [0-9a-f]"
}
ovs() { ovs-vsctl --db="unix:$C/ovs.sock" --timeout=5 "$@"; }
vctl() { vtep-ctl --db="unix:$C/vtep.sock" --timeout=5 "$@"; }
dump_logs() {
  local f
  for f in "$C"/*.log; do diag "== $f"; tail -15 "$f" | sed 's/^/#   /'; done
}

# central: NB, SB, northd
member nb 1 && member nb 2 && member nb 3 && member sb 1 && member sb 2 && member sb 3 &&
  ovn-northd --detach --no-chdir --pidfile="$C/northd.pid" --log-file="$C/northd.log" \
    --unixctl="$C/northd.ctl" --ovnnb-db="$NBR" --ovnsb-db="$SBR"
rc=$?
pv_cleanup_add "kill_pidfile '$C/northd.pid'"
if [ $rc != 0 ]; then not_ok "OVN central (NB, SB as 3-member Raft clusters, ovn-northd) starts"; dump_logs; pv_done; exit 1; fi
ok "OVN central (NB, SB as 3-member Raft clusters, ovn-northd) starts"

# namespaces: CH the OVS chassis, P the OVN port's host, H1 pvnet's port's host
CH="$PV_NS-ch"; P="$PV_NS-p"; H1="$PV_NS-h1"; P2="$PV_NS-p2"; H2="$PV_NS-h2"
for ns in "$CH" "$P" "$H1" "$P2" "$H2"; do ip netns add "$ns" && pv_cleanup_add "ip netns del '$ns'"; done
for ns in "$PV_NS" "$CH" "$P" "$H1" "$P2" "$H2"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip -n "$ns" link set lo up
done
# underlay: pvnetd 172.31.0.1 <-> chassis 172.31.0.3 (on the chassis' br-phy)
ip link add ul0 netns "$PV_NS" type veth peer name eth0 netns "$CH"
ip -n "$PV_NS" addr add 172.31.0.1/24 dev ul0; ip -n "$PV_NS" link set ul0 up
ip -n "$CH" link set eth0 up
ip netns exec "$PV_NS" ethtool -K ul0 tx off >/dev/null 2>&1 || true

# the OVS chassis
dbsrv ovs /usr/share/openvswitch/vswitch.ovsschema || { not_ok "OVS ovsdb-server"; pv_done; exit 1; }
ovs --no-wait init
ip netns exec "$CH" ovs-vswitchd "unix:$C/ovs.sock" --detach --no-chdir --pidfile="$C/vswitchd.pid" \
  --log-file="$C/vswitchd.log" --unixctl="$C/vswitchd.ctl"
pv_cleanup_add "kill_pidfile '$C/vswitchd.pid'"
ovs add-br br-phy -- set bridge br-phy datapath_type=netdev -- add-port br-phy eth0
ip -n "$CH" addr add 172.31.0.3/24 dev br-phy; ip -n "$CH" link set br-phy up
ovs set open . external_ids:system-id=ch1 external_ids:ovn-remote="$SBR" \
  external_ids:ovn-encap-type=geneve,vxlan external_ids:ovn-encap-ip=172.31.0.3 \
  external_ids:ovn-bridge-datapath-type=netdev
ip netns exec "$CH" ovn-controller "unix:$C/ovs.sock" --detach --no-chdir --pidfile="$C/ovnc.pid" \
  --log-file="$C/ovnc.log"
pv_cleanup_add "kill_pidfile '$C/ovnc.pid'"
wait_for "ovn-controller creates br-int (netdev) and registers chassis ch1" 20 \
  bash -c "ovs-vsctl --db=unix:$C/ovs.sock br-exists br-int && ovn-sbctl --db=$SBR --timeout=2 list Chassis | grep -q ch1"
# the OVN port lp1 in namespace P (a veth whose other end is on br-int)
ip link add lp1 netns "$CH" type veth peer name eth0 netns "$P"
ip -n "$CH" link set lp1 up
ip -n "$P" link set eth0 address 02:00:00:00:90:03 mtu 1400 up
ip -n "$P" addr add 10.90.0.3/24 dev eth0
ip netns exec "$P" ethtool -K eth0 tx off >/dev/null 2>&1 || true
ovs add-port br-int lp1 -- set Interface lp1 external_ids:iface-id=lp1
# lp2 on ls2 in namespace P2, with an address of ls1's subnet too (isolation probe)
ip link add lp2 netns "$CH" type veth peer name eth0 netns "$P2"
ip -n "$CH" link set lp2 up
ip -n "$P2" link set eth0 address 02:00:00:00:91:03 mtu 1400 up
ip -n "$P2" addr add 10.91.0.3/24 dev eth0; ip -n "$P2" addr add 10.90.0.8/24 dev eth0
ovs add-port br-int lp2 -- set Interface lp2 external_ids:iface-id=lp2

# the pvnet host: VTEP database, pvnetd, ovn-controller-vtep
dbsrv vtep /usr/share/openvswitch/vtep.ovsschema || { not_ok "VTEP ovsdb-server"; pv_done; exit 1; }
if pv_start --vtep-db "unix:$C/vtep.sock" --vtep-name pv1 --tunnel-ip 172.31.0.1 --ovnsb-db "$SBR"; then
  ok "pvnetd starts with --vtep-db"
else
  not_ok "pvnetd starts"; pv_done; exit 1
fi
q pvnet switch add-port br0 tp0 --type tap || not_ok "add-port br0 tp0 --type tap"
q pvnet switch add-port br0 tp1 --type tap || not_ok "add-port br0 tp1 --type tap"
ip -n "$PV_NS" link set tp0 netns "$H1"
ip -n "$PV_NS" link set tp1 netns "$H2"
ip -n "$H2" link set tp1 address 02:00:00:00:91:01 mtu 1400 up
ip -n "$H2" addr add 10.91.0.1/24 dev tp1; ip -n "$H2" addr add 10.90.0.9/24 dev tp1
ip -n "$H1" link set tp0 address 02:00:00:00:90:01 mtu 1400 up
ip -n "$H1" addr add 10.90.0.1/24 dev tp0
ocv_start() {
  ovn-controller-vtep --detach --no-chdir --pidfile="$C/ocv.pid" --log-file="$C/ocv.log" \
    --vtep-db="unix:$C/vtep.sock" --ovnsb-db="$SBR"
}
ocv_start
pv_cleanup_add "kill_pidfile '$C/ocv.pid'"
wait_for "pvnet's Physical_Switch pv1 with port tp0" 10 bash -c "vtep-ctl --db=unix:$C/vtep.sock --timeout=2 list-ports pv1 | grep -qx tp0"

# the logical switch: the chassis port and pvnet's gateway port
nb ls-add ls1
nb lsp-add ls1 lp1 -- lsp-set-addresses lp1 "02:00:00:00:90:03 10.90.0.3"
nb lsp-add ls1 pv1-gw -- lsp-set-type pv1-gw vtep \
  -- lsp-set-options pv1-gw vtep-physical-switch=pv1 vtep-logical-switch=ls1 \
  -- lsp-set-addresses pv1-gw unknown
nb ls-add ls2
nb lsp-add ls2 lp2 -- lsp-set-addresses lp2 "02:00:00:00:91:03 10.91.0.3 10.90.0.8"
nb lsp-add ls2 pv1-gw2 -- lsp-set-type pv1-gw2 vtep \
  -- lsp-set-options pv1-gw2 vtep-physical-switch=pv1 vtep-logical-switch=ls2 \
  -- lsp-set-addresses pv1-gw2 unknown
vctl add-ls ls1
vctl add-ls ls2
vctl bind-ls pv1 tp0 0 ls1
vctl bind-ls pv1 tp1 0 ls2
wait_for "ovn-controller-vtep gives ls1 its tunnel key" 20 \
  bash -c "[ -n \"\$(vtep-ctl --db=unix:$C/vtep.sock --timeout=2 get Logical_Switch ls1 tunnel_key | tr -d '[]')\" ]"
KEY=$(vctl get Logical_Switch ls1 tunnel_key | tr -d '[]')
diag "ls1 tunnel key (VNI): $KEY"
wait_for "pvnet realises ls1 as VXLAN port vtep$KEY towards 172.31.0.3" 20 \
  bash -c "$PV_BIN/pvnet --run-dir $PV_RUN switch port-show vtep$KEY | grep -q 'remotes=.*172.31.0.3'"
wait_for "ping over OVN: pvnet host -> OVN port on the OVS chassis" 30 \
  ip netns exec "$H1" ping -c 1 -W 1 10.90.0.3
check "ping over OVN: OVN port -> pvnet host" q ip netns exec "$P" ping -c 3 -i 0.2 -W 2 10.90.0.1
wait_for "pvnet's MAC in Ucast_Macs_Local" 5 \
  bash -c "vtep-ctl --db=unix:$C/vtep.sock --timeout=2 list-local-macs ls1 | grep -qi 02:00:00:00:90:01"

wait_for "ping over OVN on ls2 as well" 20 ip netns exec "$H2" ping -c 1 -W 1 10.91.0.3
check "ls2's host cannot reach ls1's OVN port (same subnet address)" \
  bash -c "! ip netns exec '$H2' ping -c 2 -i 0.2 -W 1 -I 10.90.0.9 10.90.0.3 >/dev/null 2>&1"
check "ls2's OVN port cannot reach ls1's pvnet host" \
  bash -c "! ip netns exec '$P2' ping -c 2 -i 0.2 -W 1 -I 10.90.0.8 10.90.0.1 >/dev/null 2>&1"
if command -v iperf3 >/dev/null; then
  iperf() { # DESC SERVER_NS CLIENT_NS ADDR PORT [ARGS]
    local desc=$1 s=$2 c=$3 a=$4 p=$5 out bw; shift 5
    ip netns exec "$s" iperf3 -s -D -1 -p "$p" --logfile "$PV_TMP/iperf-$p.log"; sleep 0.5
    if out=$(ip netns exec "$c" timeout 20 iperf3 -c "$a" -p "$p" -t 2 -f m "$@" 2>&1); then
      bw=$(awk '/receiver/ {print $(NF-2), $(NF-1)}' <<<"$out" | tail -1)
      ok "$desc: $bw"
    else
      not_ok "$desc"; diag "$out"
    fi
  }
  iperf "iperf3 pvnet host -> OVN port" "$P" "$H1" 10.90.0.3 5401
  iperf "iperf3 OVN port -> pvnet host" "$P" "$H1" 10.90.0.3 5402 -R
else
  skip "iperf3 over OVN" "needs iperf3"
fi

# Faults, one after the other, under an established flow (a ping every 0.1 s from the
# pvnet host to the OVN port, and one the other way): each fault's convergence time is
# printed (diag) and bounded; the flows lose under 5 % over all of them.
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
ip netns exec "$H1" ping -i 0.1 -w 120 -W 1 10.90.0.3 >"$PV_TMP/flow1.txt" 2>&1 &
FLOW1=$!
ip netns exec "$P" ping -i 0.1 -w 120 -W 1 10.90.0.1 >"$PV_TMP/flow2.txt" 2>&1 &
FLOW2=$!
pv_cleanup_add "kill $FLOW1 $FLOW2 2>/dev/null"
sleep 1
remote_mac() { vtep-ctl --db=unix:$C/vtep.sock --timeout=2 list-remote-macs ls1 | grep -qi 02:00:00:00:90:03; }
local_mac() { vtep-ctl --db=unix:$C/vtep.sock --timeout=2 list-local-macs ls1 | grep -qi 02:00:00:00:90:01; }
pv_static() { "$PV_BIN/pvnet" --run-dir "$PV_RUN" switch port-show "vtep$KEY" | grep -q 'remotes=.*172.31.0.3'; }

# (1) one member of each Raft cluster: an NB change still reaches SB; pvnetd's
# southbound connection (to sb1, the first of the list) moves to another member;
# restarted, the members rejoin
wait_for "pvnetd's southbound connection is synchronised" 10 grep -q 'vtep: southbound synchronised' "$PV_TMP/pvnetd.log"
nsb=$(grep -c 'vtep: southbound synchronised' "$PV_TMP/pvnetd.log")
T0=$(date +%s%N)
for db in sb nb; do kill_pidfile "$C/${db}1.pid"; done
wait_for "pvnetd's southbound connection moves to another cluster member and resynchronises" 20 \
  bash -c "[ \$(grep -c 'vtep: southbound synchronised' '$PV_TMP/pvnetd.log') -gt $nsb ]"
diag "convergence: pvnetd's southbound copy from another member $(ms_since "$T0") ms after the kills began"
T0=$(date +%s%N)
nb lsp-add ls1 lp9 -- lsp-set-addresses lp9 "02:00:00:00:90:09 10.90.0.9"
wait_for "with a member of each cluster down, an NB change reaches SB" 30 \
  bash -c "ovn-sbctl --db=$SBR --timeout=2 list Port_Binding | grep -q lp9"
CONV_RAFT=$(ms_since "$T0")
diag "convergence: NB change to SB with one member of each cluster down: $CONV_RAFT ms"
member sb 1 || not_ok "sb1 restarts"; member nb 1 || not_ok "nb1 restarts"
T0=$(date +%s%N)
wait_for "the restarted members rejoin their clusters" 20 \
  bash -c "$(declare -f cluster_ok); C='$C'; cluster_ok sb OVN_Southbound 1 && cluster_ok nb OVN_Northbound 1"
CONV_REJOIN=$(ms_since "$T0")
diag "convergence: Raft members rejoined after $CONV_REJOIN ms"

# (2) the VTEP database: killed; meanwhile the remote MACs are wiped from its file;
# restarted, ovn-controller-vtep writes them again and pvnetd has them and its local MAC
kill_pidfile "$C/vtep.pid"
check "ping with the VTEP database down" q ip netns exec "$H1" ping -c 3 -i 0.2 -W 2 10.90.0.3
ovsdb-tool transact "$C/vtep.db" '["hardware_vtep",{"op":"delete","table":"Ucast_Macs_Remote","where":[]}]' >/dev/null
n0=$(grep -c 'vtep: synchronised' "$PV_TMP/pvnetd.log")
dbsrv vtep /usr/share/openvswitch/vtep.ovsschema || not_ok "VTEP database restarts"
T0=$(date +%s%N)
wait_for "VTEP database restarted: pvnetd resynchronised, remote and local MACs back" 20 \
  bash -c "$(declare -f remote_mac local_mac); C='$C'; [ \$(grep -c 'vtep: synchronised' '$PV_TMP/pvnetd.log') -gt $n0 ] && remote_mac && local_mac"
CONV_VTEPDB=$(ms_since "$T0")
diag "convergence: VTEP database restart: $CONV_VTEPDB ms"

# (3) ovn-controller-vtep: killed; meanwhile its remote MACs are cleared (vtep-ctl);
# restarted, it writes them again and pvnetd installs them (frames to the MAC are
# flooded to the unknown-dst locators meanwhile)
kill_pidfile "$C/ocv.pid"
vctl --all destroy Ucast_Macs_Remote
check "ping with ovn-controller-vtep down (the remote MAC cleared: flooded)" q ip netns exec "$H1" ping -c 3 -i 0.2 -W 2 10.90.0.3
ocv_start
T0=$(date +%s%N)
wait_for "ovn-controller-vtep restarted: the remote MAC is back and pvnetd has it" 20 \
  bash -c "$(declare -f remote_mac pv_static); C='$C'; PV_BIN='$PV_BIN'; PV_RUN='$PV_RUN'; KEY='$KEY'; remote_mac && pv_static"
CONV_OCV=$(ms_since "$T0")
diag "convergence: ovn-controller-vtep restart: $CONV_OCV ms"

kill -INT "$FLOW1" "$FLOW2" 2>/dev/null; wait "$FLOW1" "$FLOW2" 2>/dev/null
for f in flow1 flow2; do
  loss=$(grep -o '[0-9.]*% packet loss' "$PV_TMP/$f.txt"); loss=${loss%%%*}
  diag "established flow $f ($(grep -o '[0-9]* packets transmitted' "$PV_TMP/$f.txt")) across the faults: ${loss:-?}% loss"
  check "established flow $f kept flowing through every fault (< 5 % loss)" \
    awk -v l="${loss:-100}" 'BEGIN { exit !(l < 5) }'
done
check "ping after all the faults" q ip netns exec "$H1" ping -c 3 -i 0.2 -W 2 10.90.0.3
check "pvnetd survived" kill -0 "$PV_PID"
[ "$PV_FAILED" = 0 ] || { dump_logs; vctl show | sed 's/^/# /'; vctl list-remote-macs ls1 | sed 's/^/# /'; }
pv_done
