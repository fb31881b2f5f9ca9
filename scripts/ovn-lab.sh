#!/usr/bin/env bash
# scripts/ovn-lab.sh up|down|status - an OVN lab with pvnet hosts on one machine (root).
#
#   central   NB and SB as 3-member Raft clusters (OVN_LAB_MEMBERS=1 for single
#             servers), ovn-northd; namespace ovnlab-central (Raft on its loopback,
#             clients over unix sockets)
#   chassis   an OVS chassis: ovsdb-server, ovs-vswitchd (datapath_type=netdev),
#             ovn-controller; namespace ovnlab-ch; one OVN port lp1 in ovnlab-lp1
#             (10.90.0.3 on ls1)
#   pv1, pv2  pvnet hosts: a hardware_vtep ovsdb-server, ovn-controller-vtep and
#             pvnetd --vtep-db --ovnsb-db, namespace ovnlab-pvN; two PV guests each
#             (pvnet create; their namespaces ovnlab-gN1, ovnlab-gN2, vifname gN1/gN2):
#             gN1 on ls1 (10.90.0.N1), gN2 on ls2 (10.91.0.N2)
#   underlay  a Linux bridge in ovnlab-ul: pv1 172.31.0.1, pv2 172.31.0.2, ch 172.31.0.3
#
# Every daemon runs with --detach --pidfile under $OVN_LAB_DIR (default
# /tmp/pvnet-ovn-lab); `down` kills exactly those PIDs, deletes the namespaces the lab
# made and the directory. Never systemd. Needs scripts/deps.sh's OVN packages; builds
# the tree (make) when build/bin/pvnetd is missing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB=${OVN_LAB_DIR:-/tmp/pvnet-ovn-lab}
MEMBERS=${OVN_LAB_MEMBERS:-3}
BIN=$ROOT/build/bin
NS_LIST="ovnlab-central ovnlab-ul ovnlab-ch ovnlab-lp1 ovnlab-pv1 ovnlab-pv2"
GUEST_NS="ovnlab-g11 ovnlab-g12 ovnlab-g21 ovnlab-g22" # made by pvnet for its guests
export OVS_RUNDIR="$LAB/ovs" OVS_LOGDIR="$LAB/ovs" OVS_DBDIR="$LAB/ovs" OVN_RUNDIR="$LAB/ovn" OVN_LOGDIR="$LAB/ovn" OVN_DBDIR="$LAB/ovn"

die() { echo "ovn-lab: $*" >&2; exit 1; }
x() { "$@" || die "failed: $*"; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

remotes() { # nb|sb: the client connection string over every member's unix socket
  local r="" i
  for ((i = 1; i <= MEMBERS; i++)); do r+="${r:+,}unix:$LAB/ovn/$1$i.sock"; done
  echo "$r"
}

central_up() {
  local db schema name port i
  for db in nb sb; do
    if [ $db = nb ]; then schema=/usr/share/ovn/ovn-nb.ovsschema name=OVN_Northbound port=6643
    else schema=/usr/share/ovn/ovn-sb.ovsschema name=OVN_Southbound port=6644; fi
    for ((i = 1; i <= MEMBERS; i++)); do
      local f="$LAB/ovn/$db$i.db" raft="tcp:127.0.0.1:$((port + 10 * (i - 1)))"
      if [ "$MEMBERS" = 1 ]; then x ovsdb-tool create "$f" "$schema"
      elif [ $i = 1 ]; then x ovsdb-tool create-cluster "$f" "$schema" "$raft"
      else x ovsdb-tool join-cluster "$f" "$name" "$raft" "tcp:127.0.0.1:$port"; fi
      x nsx ovnlab-central ovsdb-server --detach --no-chdir --pidfile="$LAB/pids/$db$i.pid" \
        --remote="punix:$LAB/ovn/$db$i.sock" --unixctl="$LAB/ovn/$db$i.ctl" \
        --log-file="$LAB/ovn/$db$i.log" "$f"
    done
  done
  x nsx ovnlab-central ovn-northd --detach --no-chdir --pidfile="$LAB/pids/northd.pid" \
    --log-file="$LAB/ovn/northd.log" --ovnnb-db="$(remotes nb)" --ovnsb-db="$(remotes sb)"
}

link() { # NS IF ADDR: a veth from NS to the underlay bridge
  x ip link add "$2" netns "$1" type veth peer name "u-${1#ovnlab-}" netns ovnlab-ul
  x ip -n ovnlab-ul link set "u-${1#ovnlab-}" master br-ul up
  nsx "$1" ethtool -K "$2" tx off >/dev/null 2>&1 || true
  [ -n "$3" ] && x ip -n "$1" addr add "$3/24" dev "$2"
  x ip -n "$1" link set "$2" up
}

chassis_up() {
  local o="ovs-vsctl --db=unix:$LAB/ovs/conf.sock --timeout=10"
  x ovsdb-tool create "$LAB/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  x ovsdb-server --detach --no-chdir --pidfile="$LAB/pids/conf.pid" --remote="punix:$LAB/ovs/conf.sock" \
    --log-file="$LAB/ovs/conf.log" "$LAB/ovs/conf.db"
  x $o --no-wait init
  x nsx ovnlab-ch ovs-vswitchd "unix:$LAB/ovs/conf.sock" --detach --no-chdir \
    --pidfile="$LAB/pids/vswitchd.pid" --log-file="$LAB/ovs/vswitchd.log"
  link ovnlab-ch eth0 ""
  x $o add-br br-phy -- set bridge br-phy datapath_type=netdev -- add-port br-phy eth0
  x ip -n ovnlab-ch addr add 172.31.0.3/24 dev br-phy; x ip -n ovnlab-ch link set br-phy up
  x $o set open . external_ids:system-id=ch1 external_ids:ovn-remote="$(remotes sb)" \
    external_ids:ovn-encap-type=geneve,vxlan external_ids:ovn-encap-ip=172.31.0.3 \
    external_ids:ovn-bridge-datapath-type=netdev
  x nsx ovnlab-ch ovn-controller "unix:$LAB/ovs/conf.sock" --detach --no-chdir \
    --pidfile="$LAB/pids/ovn-controller.pid" --log-file="$LAB/ovn/ovn-controller.log"
  for _ in $(seq 1 100); do $o br-exists br-int 2>/dev/null && break; sleep 0.1; done
  x ip link add lp1 netns ovnlab-ch type veth peer name eth0 netns ovnlab-lp1
  x ip -n ovnlab-ch link set lp1 up
  x ip -n ovnlab-lp1 link set eth0 address 02:00:00:00:90:03 mtu 1400 up
  x ip -n ovnlab-lp1 addr add 10.90.0.3/24 dev eth0
  nsx ovnlab-lp1 ethtool -K eth0 tx off >/dev/null 2>&1 || true
  x $o add-port br-int lp1 -- set Interface lp1 external_ids:iface-id=lp1
}

pvhost_up() { # N
  local n=$1 d="$LAB/pv$1" v g
  v="vtep-ctl --db=unix:$d/vtep.sock --timeout=10"
  mkdir -p "$d/run" "$d/state"
  chmod 700 "$d/state"
  link "ovnlab-pv$n" ul0 "172.31.0.$n"
  x ovsdb-tool create "$d/vtep.db" /usr/share/openvswitch/vtep.ovsschema
  x ovsdb-server --detach --no-chdir --pidfile="$LAB/pids/vtep$n.pid" --remote="punix:$d/vtep.sock" \
    --unixctl="$d/vtep.ctl" --log-file="$d/vtep.log" "$d/vtep.db"
  PVNET_STATE_DIR="$d/state" XENSTORED_PATH="$d/run/xenstored" x nsenter --net="/run/netns/ovnlab-pv$n" \
    "$BIN/pvnetd" --run-dir "$d/run" --log "$d/pvnetd.log" \
    --vtep-db "unix:$d/vtep.sock" --vtep-name "pv$n" --tunnel-ip "172.31.0.$n" --ovnsb-db "$(remotes sb)"
  cp "$d/run/pvnetd.pid" "$LAB/pids/pvnetd$n.pid" 2>/dev/null
  x nsx "ovnlab-pv$n" ovn-controller-vtep --detach --no-chdir --pidfile="$LAB/pids/ocv$n.pid" \
    --log-file="$d/ovn-controller-vtep.log" --vtep-db="unix:$d/vtep.sock" --ovnsb-db="$(remotes sb)"
  for g in 1 2; do # two PV guests: gN1 on ls1, gN2 on ls2
    cat >"$d/g$n$g.cfg" <<CFG
name = "g$n$g"
memory = 64
netns = "ovnlab-g$n$g"
vif = [ 'mac=02:00:00:00:9$((g - 1)):$n$g, bridge=br0, ip=10.9$((g - 1)).0.$n$g/24, mtu=1400, vifname=g$n$g' ]
CFG
    x "$BIN/pvnet" --run-dir "$d/run" create "$d/g$n$g.cfg" >/dev/null
  done
  for g in 1 2; do
    for _ in $(seq 1 150); do ip -n "ovnlab-g$n$g" link show eth0 >/dev/null 2>&1 && break; sleep 0.1; done
    ip -n "ovnlab-g$n$g" link show eth0 >/dev/null 2>&1 || die "guest g$n$g did not connect (see $d/pvnetd.log)"
    nsx "ovnlab-g$n$g" ethtool -K eth0 tx off >/dev/null 2>&1 || true
  done
  for _ in $(seq 1 50); do $v list-ports "pv$n" 2>/dev/null | grep -qx "g${n}2" && break; sleep 0.1; done
  x $v add-ls ls1; x $v add-ls ls2
  x $v bind-ls "pv$n" "g${n}1" 0 ls1; x $v bind-ls "pv$n" "g${n}2" 0 ls2
}

up() {
  [ "$(id -u)" = 0 ] || die "needs root"
  for c in ovsdb-server ovsdb-tool ovs-vswitchd ovs-vsctl vtep-ctl ovn-northd ovn-nbctl ovn-controller ovn-controller-vtep; do
    command -v $c >/dev/null || die "$c missing: run scripts/deps.sh"
  done
  if [ ! -x "$BIN/pvnetd" ]; then
    echo "ovn-lab: building pvnet (make -C $ROOT)"
    make -C "$ROOT" -j"$(nproc)" >/dev/null || die "make failed"
  fi
  [ -e "$LAB" ] && die "$LAB exists: run '$0 down' first"
  mkdir -p "$LAB/pids" "$LAB/ovn" "$LAB/ovs"
  for ns in $NS_LIST; do
    x ip netns add "$ns"; echo "$ns" >>"$LAB/namespaces"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip -n "$ns" link set lo up
  done
  x ip -n ovnlab-ul link add br-ul type bridge; x ip -n ovnlab-ul link set br-ul up
  central_up
  local nbc="ovn-nbctl --db=$(remotes nb) --timeout=20"
  x $nbc ls-add ls1 -- ls-add ls2
  x $nbc lsp-add ls1 lp1 -- lsp-set-addresses lp1 "02:00:00:00:90:03 10.90.0.3"
  chassis_up
  for n in 1 2; do
    for k in 1 2; do
      x $nbc lsp-add "ls$k" "pv$n-ls$k" -- lsp-set-type "pv$n-ls$k" vtep \
        -- lsp-set-options "pv$n-ls$k" vtep-physical-switch="pv$n" vtep-logical-switch="ls$k" \
        -- lsp-set-addresses "pv$n-ls$k" unknown
    done
    pvhost_up "$n"
  done
  cat <<EOF
OVN lab up in $LAB (NB/SB: $MEMBERS member(s) each). Try:
  ip netns exec ovnlab-g11 ping 10.90.0.3        # pv1's guest -> OVN port on the OVS chassis
  ip netns exec ovnlab-lp1 ping 10.90.0.21       # OVN port -> pv2's guest
  ip netns exec ovnlab-g11 ping 10.90.0.21       # pv1's guest -> pv2's guest (VTEP to VTEP)
  ip netns exec ovnlab-g12 ping 10.91.0.22       # ls2: pv1's guest -> pv2's guest
  ip -n ovnlab-g12 addr add 10.90.0.112/24 dev eth0; ip netns exec ovnlab-g12 ping -I 10.90.0.112 10.90.0.3
                                                 # ls2 cannot reach ls1, even with an ls1 address
  ovn-nbctl --db=$(remotes nb) show
  ovn-sbctl --db=$(remotes sb) show
  vtep-ctl --db=unix:$LAB/pv1/vtep.sock list-local-macs ls1
  $BIN/pvnet --run-dir $LAB/pv1/run list; $BIN/pvnet --run-dir $LAB/pv1/run switch show
  $0 status; $0 down
EOF
}

status() {
  [ -d "$LAB" ] || { echo "ovn-lab: not up"; return 1; }
  local f p
  for f in "$LAB"/pids/*.pid; do
    p=$(cat "$f" 2>/dev/null)
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then echo "$(basename "$f" .pid): running ($p)"
    else echo "$(basename "$f" .pid): NOT running"; fi
  done
  if [ "$MEMBERS" != 1 ]; then
    ovs-appctl -t "$LAB/ovn/nb1.ctl" cluster/status OVN_Northbound 2>/dev/null | grep -E "^Role|^Servers" -A3 | head -6
  fi
  ovn-sbctl --db="$(remotes sb)" --timeout=5 show 2>/dev/null
  for n in 1 2; do
    echo "pv$n guests:"; "$BIN/pvnet" --run-dir "$LAB/pv$n/run" list 2>/dev/null
    echo "pv$n local MACs (ls1):"; vtep-ctl --db="unix:$LAB/pv$n/vtep.sock" --timeout=5 list-local-macs ls1 2>/dev/null
  done
}

down() {
  local f p ns
  [ -d "$LAB" ] || { echo "ovn-lab: not up"; return 0; }
  for n in 1 2; do
    [ -S "$LAB/pv$n/run/pvnetd.sock" ] && timeout 30 "$BIN/pvnet" --run-dir "$LAB/pv$n/run" shutdown --all --wait >/dev/null 2>&1
  done
  for f in "$LAB"/pids/*.pid "$LAB"/pv*/run/pvnetd.pid; do
    p=$(cat "$f" 2>/dev/null) || continue
    [ -n "$p" ] && kill "$p" 2>/dev/null
  done
  for f in "$LAB"/pids/*.pid; do
    p=$(cat "$f" 2>/dev/null) || continue
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p"
  done
  for f in "$LAB"/pv*/state/domains/*.dom; do # guests left by a pvnetd that did not stop them
    [ -f "$f" ] && p=$(awk '$1 == "pid" {print $2}' "$f") && [ -n "$p" ] && kill "$p" 2>/dev/null
  done
  if [ -f "$LAB/namespaces" ]; then
    while read -r ns; do ip netns del "$ns" 2>/dev/null; done <"$LAB/namespaces"
  fi
  for ns in $GUEST_NS; do ip netns del "$ns" 2>/dev/null; done # normally gone with their guests
  rm -rf "$LAB"
  echo "ovn-lab: down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status  (OVN_LAB_DIR, OVN_LAB_MEMBERS=1|3)" >&2; exit 2 ;;
esac
