#!/usr/bin/env bash
# pvnet PV guests in a real OVN, on two pvnet hosts: NB and SB (single servers here; the
# Raft clusters are test_ovn_chassis.sh's), ovn-northd, an OVS chassis (ovs-vswitchd
# with datapath_type=netdev + ovn-controller) with OVN ports lp1 (ls1) and lp2 (ls2),
# and two pvnet hosts, each with its own hardware_vtep ovsdb-server,
# ovn-controller-vtep and pvnetd --vtep-db --ovnsb-db, on one underlay bridge.
#   - a PV guest on pv1 (ls1) pings the OVN port lp1 on the OVS chassis and back, and
#     runs iperf3 (2 s) with it both ways;
#   - guests on the two pvnet hosts reach each other on ls1 (VTEP to VTEP: pvnetd
#     floods to the other VTEPs of the logical switch, which it reads from OVN's SB);
#   - ls2 stays apart from ls1: pv1's ls2 guest, holding an ls1 address too, reaches
#     neither ls1 guest nor lp1 (while it does reach lp2 on ls2, so the probe works);
#   - each host publishes Mcast_Macs_Local unknown-dst -> its own tunnel ip;
#   - a guest moves (destroyed on pv1, created with the same vifname on pv2): its MAC
#     leaves pv1's Ucast_Macs_Local within a second and shows in pv2's within a
#     second of its binding, and the other guests reach it on its new host;
#   - OVN's SB goes away: guests of the two hosts still reach each other (the other
#     VTEPs as last known); it comes back: pvnetd resynchronises.
# Every daemon is started here in the test's run dir and killed by its PID.
. "$(dirname "$0")/lib.sh"
pv_init ovn_guests
for c in ovsdb-server ovsdb-tool ovs-vsctl ovs-vswitchd vtep-ctl ovn-northd ovn-nbctl \
  ovn-sbctl ovn-controller ovn-controller-vtep ping xenstore-read; do
  command -v "$c" >/dev/null 2>&1 || { skip ovn_guests "needs $c (scripts/deps.sh: openvswitch-switch, openvswitch-vtep, ovn-central, ovn-host, ovn-controller-vtep)"; pv_done; exit 0; }
done
q() { "$@" >/dev/null 2>&1; }
# poll DESC SECONDS CMD...: ok once CMD succeeds (tried every 0.1 s) in a probe that
# started within SECONDS of wall-clock time; prints when that probe started
poll() {
  local d=$1 t=$2 t0 el; shift 2
  t0=$(date +%s%N)
  while :; do
    el=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ "$el" -ge $((t * 1000)) ] && break
    if "$@" >/dev/null 2>&1; then ok "$d ($el ms)"; return 0; fi
    sleep 0.1
  done
  not_ok "$d (not within $t s)"; return 1
}
C="$PV_TMP/ovn"; mkdir -p "$C"
export OVS_RUNDIR="$C" OVS_LOGDIR="$C" OVS_DBDIR="$C" OVN_RUNDIR="$C" OVN_LOGDIR="$C" OVN_DBDIR="$C"
kill_pidfile() {
  local p; p=$(cat "$1" 2>/dev/null) || return 0
  kill "$p" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$p" 2>/dev/null
}
# dbsrv NAME SCHEMA: an ovsdb-server for NAME.db on unix:$C/NAME.sock
dbsrv() {
  [ -f "$C/$1.db" ] || ovsdb-tool create "$C/$1.db" "$2" || return 1
  ovsdb-server --detach --no-chdir --pidfile="$C/$1.pid" --remote="punix:$C/$1.sock" \
    --unixctl="$C/$1.ctl" --log-file="$C/$1.log" "$C/$1.db" || return 1
  pv_cleanup_add "kill_pidfile '$C/$1.pid'"
}
NB="unix:$C/nb.sock"; SB="unix:$C/sb.sock"
nb() { ovn-nbctl --db="$NB" --timeout=10 "$@"; }
vctl() { local n=$1; shift; vtep-ctl --db="unix:$C/vtep$n.sock" --timeout=5 "$@"; }
dump_logs() {
  local f
  for f in "$C"/*.log "$PV_TMP"/pv2.log; do diag "== $f"; tail -12 "$f" | sed 's/^/#   /'; done
}

dbsrv nb /usr/share/ovn/ovn-nb.ovsschema && dbsrv sb /usr/share/ovn/ovn-sb.ovsschema &&
  ovn-northd --detach --no-chdir --pidfile="$C/northd.pid" --log-file="$C/northd.log" \
    --unixctl="$C/northd.ctl" --ovnnb-db="$NB" --ovnsb-db="$SB"
rc=$?
pv_cleanup_add "kill_pidfile '$C/northd.pid'"
if [ $rc != 0 ]; then not_ok "OVN central (NB, SB, ovn-northd) starts"; dump_logs; pv_done; exit 1; fi
ok "OVN central (NB, SB, ovn-northd) starts"

# namespaces: UL the underlay bridge, CH the OVS chassis, P/P2 the OVN ports' hosts,
# $PV_NS pvnet host 1 (lib.sh), N2 pvnet host 2
UL="$PV_NS-ul"; CH="$PV_NS-ch"; P="$PV_NS-p"; P2="$PV_NS-p2"; N2="$PV_NS-n2"
for ns in "$UL" "$CH" "$P" "$P2" "$N2"; do ip netns add "$ns" && pv_cleanup_add "ip netns del '$ns'"; done
for ns in "$PV_NS" "$UL" "$CH" "$P" "$P2" "$N2"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip -n "$ns" link set lo up
done
ip -n "$UL" link add br-ul type bridge; ip -n "$UL" link set br-ul up
uplink() { # NS IF ADDR|"": a veth from NS to the underlay bridge
  ip link add "$2" netns "$1" type veth peer name "u$3$2" netns "$UL"
  ip -n "$UL" link set "u$3$2" master br-ul up
  ip netns exec "$1" ethtool -K "$2" tx off >/dev/null 2>&1 || true
  [ -n "$3" ] && ip -n "$1" addr add "172.31.0.$3/24" dev "$2"
  ip -n "$1" link set "$2" up
}
uplink "$PV_NS" ul0 1; uplink "$N2" ul0 2; uplink "$CH" eth0 ""

# the OVS chassis, its ports lp1 (ls1) and lp2 (ls2)
ovs() { ovs-vsctl --db="unix:$C/ovs.sock" --timeout=5 "$@"; }
dbsrv ovs /usr/share/openvswitch/vswitch.ovsschema || { not_ok "OVS ovsdb-server"; pv_done; exit 1; }
ovs --no-wait init
ip netns exec "$CH" ovs-vswitchd "unix:$C/ovs.sock" --detach --no-chdir --pidfile="$C/vswitchd.pid" \
  --log-file="$C/vswitchd.log" --unixctl="$C/vswitchd.ctl"
pv_cleanup_add "kill_pidfile '$C/vswitchd.pid'"
ovs add-br br-phy -- set bridge br-phy datapath_type=netdev -- add-port br-phy eth0
ip -n "$CH" addr add 172.31.0.3/24 dev br-phy; ip -n "$CH" link set br-phy up
ovs set open . external_ids:system-id=ch1 external_ids:ovn-remote="$SB" \
  external_ids:ovn-encap-type=geneve,vxlan external_ids:ovn-encap-ip=172.31.0.3 \
  external_ids:ovn-bridge-datapath-type=netdev
ip netns exec "$CH" ovn-controller "unix:$C/ovs.sock" --detach --no-chdir --pidfile="$C/ovnc.pid" \
  --log-file="$C/ovnc.log"
pv_cleanup_add "kill_pidfile '$C/ovnc.pid'"
for k in 1 2; do
  ns=$([ $k = 1 ] && echo "$P" || echo "$P2")
  ip link add lp$k netns "$CH" type veth peer name eth0 netns "$ns"
  ip -n "$CH" link set lp$k up
  ip -n "$ns" link set eth0 address 02:00:00:00:9$((k - 1)):03 mtu 1400 up
  ip -n "$ns" addr add 10.9$((k - 1)).0.3/24 dev eth0
  ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null 2>&1 || true
done
poll "ovn-controller makes br-int (netdev)" 20 ovs br-exists br-int
ovs add-port br-int lp1 -- set Interface lp1 external_ids:iface-id=lp1
ovs add-port br-int lp2 -- set Interface lp2 external_ids:iface-id=lp2
nb ls-add ls1 -- ls-add ls2
nb lsp-add ls1 lp1 -- lsp-set-addresses lp1 "02:00:00:00:90:03 10.90.0.3"
nb lsp-add ls2 lp2 -- lsp-set-addresses lp2 "02:00:00:00:91:03 10.91.0.3"
for n in 1 2; do
  for k in 1 2; do
    nb lsp-add ls$k pv$n-ls$k -- lsp-set-type pv$n-ls$k vtep \
      -- lsp-set-options pv$n-ls$k vtep-physical-switch=pv$n vtep-logical-switch=ls$k \
      -- lsp-set-addresses pv$n-ls$k unknown
  done
done

# the pvnet hosts: VTEP database, pvnetd (host 1 through lib.sh, host 2 here),
# ovn-controller-vtep
R2="$PV_TMP/run2"; S2="$PV_TMP/state2"
pv2() { "$PV_BIN/pvnet" --run-dir "$R2" "$@"; }
pv2_stop() {
  local p r
  p=$(cat "$PV_TMP/pv2.pid" 2>/dev/null) || return 0
  timeout 60 "$PV_BIN/pvnet" --run-dir "$R2" shutdown --all --wait >/dev/null 2>&1
  kill "$p" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null
  for r in "$S2"/domains/*.dom; do
    [ -f "$r" ] && p=$(awk '$1 == "pid" {print $2}' "$r") && [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
  done
}
dbsrv vtep1 /usr/share/openvswitch/vtep.ovsschema && dbsrv vtep2 /usr/share/openvswitch/vtep.ovsschema ||
  { not_ok "VTEP ovsdb-servers"; pv_done; exit 1; }
if pv_start --vtep-db "unix:$C/vtep1.sock" --vtep-name pv1 --tunnel-ip 172.31.0.1 --ovnsb-db "$SB"; then
  ok "pvnetd 1 starts with --vtep-db and --ovnsb-db"
else
  not_ok "pvnetd 1 starts"; pv_done; exit 1
fi
PVNET_RUN_DIR="$R2" PVNET_STATE_DIR="$S2" XENSTORED_PATH="$R2/xenstored" nsenter --net="/run/netns/$N2" \
  "$PV_BIN/pvnetd" --foreground --run-dir "$R2" --log "$PV_TMP/pv2.log" \
  --vtep-db "unix:$C/vtep2.sock" --vtep-name pv2 --tunnel-ip 172.31.0.2 --ovnsb-db "$SB" &
echo $! >"$PV_TMP/pv2.pid"
pv_cleanup_add pv2_stop
poll "pvnetd 2 starts" 10 pv2 info
for n in 1 2; do
  ip netns exec "$([ $n = 1 ] && echo "$PV_NS" || echo "$N2")" ovn-controller-vtep --detach --no-chdir \
    --pidfile="$C/ocv$n.pid" --log-file="$C/ocv$n.log" --vtep-db="unix:$C/vtep$n.sock" --ovnsb-db="$SB"
  pv_cleanup_add "kill_pidfile '$C/ocv$n.pid'"
done

# guests: pv1 g11 (ls1), g12 (ls2, with an ls1 address for the isolation probe);
# pv2 g21 (ls1). Each in its own namespace (named after it), vifname = its name.
ID=$(printf '%04x' $(( $$ % 65536 )))
GN=ovg$ID
mkguest() { # HOST NAME MAC IP/PLEN
  pv_cfg "$2" "mac=$3, bridge=br0, ip=$4, mtu=1400, vifname=$2"
  if [ "$1" = 1 ]; then pvnet create "$PV_TMP/$2.cfg" >/dev/null; else pv2 create "$PV_TMP/$2.cfg" >/dev/null; fi
}
connected_on() { # HOST NAME
  local id r=$PV_RUN
  [ "$1" = 2 ] && r=$R2
  id=$("$PV_BIN/pvnet" --run-dir "$r" list | awk -v n="$2" '$1 == n {print $2}')
  [ -n "$id" ] &&
    [ "$(XENSTORED_PATH="$r/xenstored" xenstore-read "/local/domain/$id/device/vif/0/state" 2>/dev/null)" = 4 ] &&
    ip -n "$2" link show eth0 >/dev/null 2>&1
}
guest_up() { # HOST NAME
  wait_for 15 connected_on "$1" "$2" || return 1
  ip netns exec "$2" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$2" ethtool -K eth0 tx off >/dev/null 2>&1 || true
}
G11=${GN}a; G12=${GN}b; G21=${GN}c; GM=${GN}m
mkguest 1 "$G11" 00:16:3e:90:00:11 10.90.0.11/24 && mkguest 1 "$G12" 00:16:3e:91:00:12 10.91.0.12/24 &&
  mkguest 2 "$G21" 00:16:3e:90:00:21 10.90.0.21/24 || not_ok "guests created"
if guest_up 1 "$G11" && guest_up 1 "$G12" && guest_up 2 "$G21"; then ok "PV guests connected: two on pv1, one on pv2"
else not_ok "PV guests connected"; dump_logs; pv_done; exit 1; fi
ip -n "$G12" addr add 10.90.0.112/24 dev eth0

poll "the guest ports are Physical_Ports of pv1 and pv2" 10 bash -c \
  "vtep-ctl --db=unix:$C/vtep1.sock --timeout=2 list-ports pv1 | grep -qx $G12 && vtep-ctl --db=unix:$C/vtep2.sock --timeout=2 list-ports pv2 | grep -qx $G21"
for n in 1 2; do vctl $n add-ls ls1; vctl $n add-ls ls2; done
vctl 1 bind-ls pv1 "$G11" 0 ls1; vctl 1 bind-ls pv1 "$G12" 0 ls2
vctl 2 bind-ls pv2 "$G21" 0 ls1
poll "ovn-controller-vtep gives ls1 its tunnel key on both hosts" 20 bash -c \
  "[ -n \"\$(vtep-ctl --db=unix:$C/vtep1.sock --timeout=2 get Logical_Switch ls1 tunnel_key | tr -d '[]0')\" ] && [ -n \"\$(vtep-ctl --db=unix:$C/vtep2.sock --timeout=2 get Logical_Switch ls1 tunnel_key | tr -d '[]0')\" ]"
K1=$(vctl 1 get Logical_Switch ls1 tunnel_key | tr -d '[]')
diag "ls1 tunnel key (VNI): $K1"
poll "pv1's vtep$K1 has the chassis and pv2 (from SB) as remotes" 20 bash -c \
  "$PV_BIN/pvnet --run-dir $PV_RUN switch port-show vtep$K1 | grep -q 'remotes=.*172.31.0.3' && $PV_BIN/pvnet --run-dir $PV_RUN switch port-show vtep$K1 | grep -q 'remotes=.*172.31.0.2'"

# guest <-> OVN port on the OVS chassis
poll "ping: pv1 guest -> OVN port lp1 on the OVS chassis" 30 ip netns exec "$G11" ping -c 1 -W 1 10.90.0.3
check "ping: OVN port lp1 -> pv1 guest" q ip netns exec "$P" ping -c 3 -i 0.2 -W 2 10.90.0.11
if command -v iperf3 >/dev/null; then
  iperf() { # DESC SERVER_NS ADDR CLIENT_NS PORT [ARGS]
    local desc=$1 s=$2 a=$3 c=$4 p=$5 out bw spid; shift 5
    ip netns exec "$s" timeout 20 iperf3 -s -1 -B "$a" -p "$p" >/dev/null 2>&1 &
    spid=$!
    wait_for 5 bash -c "ip netns exec '$s' ss -ltn 2>/dev/null | grep -q ':$p '"
    if out=$(ip netns exec "$c" timeout 15 iperf3 -c "$a" -p "$p" -t 2 -f m "$@" 2>&1); then
      bw=$(awk '/receiver/ {print $(NF-2), $(NF-1)}' <<<"$out" | tail -1)
      ok "$desc: $bw"
    else
      not_ok "$desc"; diag "$(tail -3 <<<"$out")"
    fi
    kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
  }
  iperf "iperf3 2 s: pv1 guest -> OVN port" "$P" 10.90.0.3 "$G11" 5401
  iperf "iperf3 2 s: OVN port -> pv1 guest" "$G11" 10.90.0.11 "$P" 5402
else
  skip "iperf3 between a PV guest and the OVN port" "needs iperf3"
fi

# VTEP to VTEP: guests on the two pvnet hosts, same logical switch
poll "ping: pv1 guest -> pv2 guest (VTEP to VTEP on ls1)" 20 ip netns exec "$G11" ping -c 1 -W 1 10.90.0.21
check "ping: pv2 guest -> pv1 guest" q ip netns exec "$G21" ping -c 3 -i 0.2 -W 2 10.90.0.11
check "ping: pv2 guest -> OVN port lp1" q wait_for 10 ip netns exec "$G21" ping -c 1 -W 1 10.90.0.3

# isolation: the ls2 guest reaches lp2 (the probe works) and nothing of ls1
poll "ping: pv1's ls2 guest -> OVN port lp2 (ls2)" 20 ip netns exec "$G12" ping -c 1 -W 1 10.91.0.3
ip -n "$G12" neigh flush all 2>/dev/null
check "ls2 guest cannot reach the ls1 guest on the same host and bridge" \
  bash -c "! ip netns exec '$G12' ping -c 2 -i 0.2 -W 1 -I 10.90.0.112 10.90.0.11 >/dev/null 2>&1"
check "ls2 guest cannot reach the ls1 guest on pv2" \
  bash -c "! ip netns exec '$G12' ping -c 2 -i 0.2 -W 1 -I 10.90.0.112 10.90.0.21 >/dev/null 2>&1"
check "ls2 guest cannot reach ls1's OVN port" \
  bash -c "! ip netns exec '$G12' ping -c 2 -i 0.2 -W 1 -I 10.90.0.112 10.90.0.3 >/dev/null 2>&1"

# Mcast_Macs_Local: unknown-dst -> this host's locator, per logical switch
for n in 1 2; do
  check "pv$n publishes Mcast_Macs_Local unknown-dst -> 172.31.0.$n for ls1" \
    bash -c "vtep-ctl --db=unix:$C/vtep$n.sock --timeout=2 list-local-macs ls1 | sed -n '/mcast-mac-local/,\$p' | grep -q 'unknown-dst -> vxlan_over_ipv4/172.31.0.$n'"
done

# a guest moves: created on pv1, destroyed there, created again (same vifname) on pv2
M=00:16:3e:90:00:77
mkguest 1 "$GM" $M 10.90.0.77/24 && guest_up 1 "$GM" || not_ok "moving guest created on pv1"
poll "moving guest's port published on pv1" 10 bash -c "vtep-ctl --db=unix:$C/vtep1.sock --timeout=2 list-ports pv1 | grep -qx $GM"
vctl 1 bind-ls pv1 "$GM" 0 ls1
poll "moving guest reaches lp1 from pv1" 20 ip netns exec "$GM" ping -c 1 -W 1 10.90.0.3
poll "its MAC in pv1's Ucast_Macs_Local" 3 bash -c "vtep-ctl --db=unix:$C/vtep1.sock --timeout=1 list-local-macs ls1 | grep -qi $M"
q pvnet destroy "$GM"
poll "destroyed on pv1: its MAC leaves pv1's Ucast_Macs_Local within a second" 1 \
  bash -c "! vtep-ctl --db=unix:$C/vtep1.sock --timeout=1 list-local-macs ls1 | grep -qi $M"
ip netns del "$GM" 2>/dev/null
mkguest 2 "$GM" $M 10.90.0.77/24 && guest_up 2 "$GM" || not_ok "moving guest created on pv2"
# the guest sends every 0.1 s (a static neighbour: no ARP retransmit interval of 1 s
# between its frames), so its MAC is there to be learnt as soon as the port is bound
ip -n "$GM" neigh replace 10.90.0.3 lladdr 02:00:00:00:90:03 dev eth0 nud permanent
ip netns exec "$GM" ping -i 0.1 -c 300 -W 1 10.90.0.3 >/dev/null 2>&1 &
GPING=$!
pv_cleanup_add "kill $GPING 2>/dev/null"
poll "moving guest's port published on pv2" 10 bash -c "vtep-ctl --db=unix:$C/vtep2.sock --timeout=2 list-ports pv2 | grep -qx $GM"
vctl 2 bind-ls pv2 "$GM" 0 ls1
poll "bound on pv2: its MAC in pv2's Ucast_Macs_Local within a second" 1 \
  bash -c "vtep-ctl --db=unix:$C/vtep2.sock --timeout=1 list-local-macs ls1 | grep -qi $M"
check "and not in pv1's" bash -c "! vtep-ctl --db=unix:$C/vtep1.sock --timeout=2 list-local-macs ls1 | grep -qi $M"
check "the OVN port reaches the moved guest on pv2" q wait_for 10 ip netns exec "$P" ping -c 1 -W 1 10.90.0.77
check "the pv1 guest reaches the moved guest on pv2" q wait_for 10 ip netns exec "$G11" ping -c 1 -W 1 10.90.0.77
kill "$GPING" 2>/dev/null

# OVN's southbound database goes away: the hosts keep the other VTEPs they knew
nsb=$(grep -c 'vtep: southbound synchronised' "$PV_TMP/pvnetd.log")
kill_pidfile "$C/sb.pid"
check "SB down: pv1 guest still reaches pv2 guest" q ip netns exec "$G11" ping -c 3 -i 0.2 -W 2 10.90.0.21
check "SB down: pv1's vtep$K1 still floods to pv2" \
  bash -c "$PV_BIN/pvnet --run-dir $PV_RUN switch port-show vtep$K1 | grep -q 'remotes=.*172.31.0.2'"
dbsrv sb /usr/share/ovn/ovn-sb.ovsschema || not_ok "SB restarts"
poll "SB back: pvnetd 1 resynchronises its southbound copy" 15 \
  bash -c "[ \$(grep -c 'vtep: southbound synchronised' '$PV_TMP/pvnetd.log') -gt $nsb ]"
check "SB back: pv1 guest reaches pv2 guest" q wait_for 10 ip netns exec "$G11" ping -c 1 -W 1 10.90.0.21

check "pvnetd 1 and 2 survived" bash -c "kill -0 $PV_PID && kill -0 $(cat "$PV_TMP/pv2.pid")"
[ "$PV_FAILED" = 0 ] || { dump_logs; vctl 1 show | sed 's/^/# /'; vctl 1 list-remote-macs ls1 | sed 's/^/# /'; }
pv_done
