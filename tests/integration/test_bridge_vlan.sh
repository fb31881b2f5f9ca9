#!/usr/bin/env bash
# VLANs on the host side. This kernel has no 802.1Q devices, so the trunk
# joins two pvnetd bridges (a veth pair t0-t1 in dom0, both AF_PACKET trunk ports
# for VLANs 10 and 20), like two switches with an inter-switch trunk:
#   br0: u1 (h1, access 10)  u2 (h2, access 20)  t0 (trunk 10,20)
#   br1: u3 (h3, access 10)  u4 (h4, access 20)  t1 (trunk 10,20)
# All four hosts share one IP subnet, so only the switch keeps the VLANs apart:
# h1<->h3 and h2<->h4 work across the trunk, h1->h2 and h1->h4 do not, and tshark
# on the trunk's mirror sees every ICMP frame tagged with its VLAN, none untagged.
. "$(dirname "$0")/lib.sh"
pv_init bridge_vlan
pv_need ping tshark

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
if ! pvnet switch help >/dev/null 2>&1; then
  skip "bridge_vlan" "pvnetd does not dispatch 'switch add-port' yet (switch_cli_ext not wired)"
  pv_done; exit 0
fi
q() { "$@" >/dev/null 2>&1; }

host() {
  local ns="$PV_NS-$1"
  ip netns add "$ns" && pv_cleanup_add "ip netns del '$ns'"
  ip link add "$2" netns "$PV_NS" type veth peer name eth0 netns "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n "$PV_NS" link set "$2" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$3/24" dev eth0
  ip -n "$ns" link set eth0 up
}
ip netns exec "$PV_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
host h1 u1 10.60.0.1; host h2 u2 10.60.0.2; host h3 u3 10.60.0.3; host h4 u4 10.60.0.4
H1="$PV_NS-h1"; H2="$PV_NS-h2"
ip -n "$PV_NS" link add t0 type veth peer name t1
ip -n "$PV_NS" link set t0 up; ip -n "$PV_NS" link set t1 up

for p in u1 u2 t0; do check "add-port br0 $p" q pvnet switch add-port br0 "$p"; done
for p in u3 u4 t1; do check "add-port br1 $p" q pvnet switch add-port br1 "$p"; done
check "set-vlan u1 10, u3 10" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch set-vlan u1 10 >/dev/null && '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch set-vlan u3 10 >/dev/null"
check "set-vlan u2 20, u4 20" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch set-vlan u2 20 >/dev/null && '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch set-vlan u4 20 >/dev/null"
check "set-trunk t0 10,20" q pvnet switch set-trunk t0 10,20
check "set-trunk t1 10,20,native=0" q pvnet switch set-trunk t1 10,20,native=0
err=$(pvnet switch set-vlan u1 4095 2>&1) && not_ok "VLAN 4095 refused" || ok "VLAN 4095 refused"
err=$(pvnet switch set-trunk t0 10,abc 2>&1) && not_ok "bad trunk list refused" || ok "bad trunk list refused"
show=$(pvnet switch port-show t0 | head -1)
diag "$show"
check "port-show t0 shows the trunk" grep -q "mode=trunk native=0 vlans=10,20" <<<"$show"
check "port-show u1 shows access vlan 10" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch port-show u1 | grep -q 'mode=access vlan=10'"

check "mirror the trunk t0" q pvnet switch mirror t0 "$PV_TMP/trunk.pcap"
check "h1 (VLAN 10) reaches h3 (VLAN 10) across the trunk" q ip netns exec "$H1" ping -c 3 -i 0.2 -W 2 10.60.0.3
check "h2 (VLAN 20) reaches h4 (VLAN 20) across the trunk" q ip netns exec "$H2" ping -c 3 -i 0.2 -W 2 10.60.0.4
check "h1 cannot reach h2 (VLAN 20, same bridge, same subnet)" \
  bash -c "! ip netns exec '$H1' ping -c 2 -i 0.2 -W 1 10.60.0.2 >/dev/null 2>&1"
check "h1 cannot reach h4 (VLAN 20 across the trunk)" \
  bash -c "! ip netns exec '$H1' ping -c 2 -i 0.2 -W 1 10.60.0.4 >/dev/null 2>&1"
sleep 0.3
check "mirror-stop t0" q pvnet switch mirror-stop t0
t10=$(tshark -r "$PV_TMP/trunk.pcap" -Y "vlan.id==10 && icmp" 2>/dev/null | wc -l)
t20=$(tshark -r "$PV_TMP/trunk.pcap" -Y "vlan.id==20 && icmp" 2>/dev/null | wc -l)
a20=$(tshark -r "$PV_TMP/trunk.pcap" -Y "vlan.id==20 && arp" 2>/dev/null | wc -l)
untagged=$(tshark -r "$PV_TMP/trunk.pcap" -Y "!vlan" 2>/dev/null | wc -l)
leak=$(tshark -r "$PV_TMP/trunk.pcap" -Y "vlan.id==10 && (ip.addr==10.60.0.2 || ip.addr==10.60.0.4)" 2>/dev/null | wc -l)
diag "trunk capture: $t10 ICMP frames tagged 10, $t20 tagged 20, $a20 ARP tagged 20, $untagged untagged"
check "tshark: VLAN 10 ICMP on the trunk (6 = 3 requests + 3 replies)" [ "$t10" = 6 ]
check "tshark: VLAN 20 ICMP on the trunk (6)" [ "$t20" = 6 ]
check "tshark: h2's ARP for h4 crossed the trunk tagged 20" [ "$a20" -ge 1 ]
check "nothing untagged on the trunk" [ "$untagged" = 0 ]
check "no VLAN 20 host's IP inside VLAN 10" [ "$leak" = 0 ]
check "pvnetd survived" kill -0 "$PV_PID"
pv_done
