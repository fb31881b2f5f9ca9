#!/usr/bin/env bash
# VXLAN interop: a "remote" namespace with a Linux vxlan device (VNI 42)
# on a Linux bridge, reached over a veth "underlay" from pvnetd's namespace; on the
# pvnetd side a vxlan port on br0 and an AF_PACKET uplink to host h1. ping and
# iperf3 both ways between h1 and the remote bridge's address. Then the same over
# an IPv6 underlay (the same command with IPv6 --remote/--local) to a Linux vxlan
# device over IPv6, whose UDP checksums (mandatory on IPv6 for Linux by default)
# must be right.
. "$(dirname "$0")/lib.sh"
pv_init bridge_vxlan
pv_need ping iperf3 ethtool bridge

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
if ! pvnet switch help >/dev/null 2>&1; then
  skip "bridge_vxlan" "pvnetd does not dispatch 'switch add-port' yet (switch_cli_ext not wired)"
  pv_done; exit 0
fi
q() { "$@" >/dev/null 2>&1; }
R="$PV_NS-r"; H1="$PV_NS-h1"
ip netns add "$R" && pv_cleanup_add "ip netns del '$R'"
ip netns add "$H1" && pv_cleanup_add "ip netns del '$H1'"
for ns in "$PV_NS" "$R" "$H1"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n "$ns" link set lo up
done

# underlay: dom0 ul0 172.31.0.1 <-> remote eth0 172.31.0.2
ip link add ul0 netns "$PV_NS" type veth peer name eth0 netns "$R"
ip -n "$PV_NS" addr add 172.31.0.1/24 dev ul0; ip -n "$PV_NS" link set ul0 up
ip -n "$R" addr add 172.31.0.2/24 dev eth0; ip -n "$R" link set eth0 up
# A veth "wire" never computes checksums: with TX checksum offload on, the remote's
# vxlan device would leave the inner TCP checksum partial (a NIC fills it on a real
# wire). Turn it off so the remote's datagrams carry what a real wire would.
ip netns exec "$R" ethtool -K eth0 tx off >/dev/null 2>&1 || diag "ethtool -K eth0 tx off failed"
# remote: vxlan device on a Linux bridge, the bridge holds the overlay address
if ! ip -n "$R" link add vxr type vxlan id 42 remote 172.31.0.1 local 172.31.0.2 dstport 4789 dev eth0; then
  skip "bridge_vxlan" "kernel has no vxlan device"; pv_done; exit 0
fi
ip -n "$R" link add brr type bridge
ip -n "$R" link set vxr master brr
ip -n "$R" link set vxr up; ip -n "$R" link set brr up
ip -n "$R" addr add 10.70.0.2/24 dev brr
# h1 on an AF_PACKET uplink of br0; MTU 1450 like the remote overlay
ip link add u1 netns "$PV_NS" type veth peer name eth0 netns "$H1"
ip -n "$PV_NS" link set u1 up
ip -n "$H1" link set eth0 mtu 1450
ip -n "$H1" addr add 10.70.0.1/24 dev eth0; ip -n "$H1" link set eth0 up

check "add-port br0 u1" q pvnet switch add-port br0 u1
err=$(pvnet switch add-port br0 vx0 --type vxlan --remote 172.31.0.2 2>&1) && not_ok "vxlan without --vni refused" || \
  check "vxlan without --vni refused" grep -q "needs --vni" <<<"$err"
check "add-port br0 vx0 --type vxlan --vni 42 --remote 172.31.0.2 --local 172.31.0.1 --dstport 4789" \
  q pvnet switch add-port br0 vx0 --type vxlan --vni 42 --remote 172.31.0.2 --local 172.31.0.1 --dstport 4789

check "ping h1 -> Linux vxlan bridge" q ip netns exec "$H1" ping -c 3 -i 0.2 -W 2 10.70.0.2
check "ping Linux vxlan bridge -> h1" q ip netns exec "$R" ping -c 3 -i 0.2 -W 2 10.70.0.1
show=$(pvnet switch port-show vx0 | head -1)
diag "$show"
check "port-show vx0: VNI, remote, a learned MAC" grep -q "vni=42 dstport=4789 local=172.31.0.1 remotes=172.31.0.2 macs_learned=[1-9]" <<<"$show"
check "the Linux side learned h1's MAC behind 172.31.0.1" bash -c "ip -n '$R' link show vxr >/dev/null && bridge -n '$R' fdb show dev vxr | grep -q 'dst 172.31.0.1'"

iperf() { # DESC SERVER_NS CLIENT_NS ADDR PORT [ARGS]
  local desc=$1 s=$2 c=$3 a=$4 p=$5 out bw; shift 5
  ip netns exec "$s" iperf3 -s -D -1 -p "$p" --logfile "$PV_TMP/iperf-$p.log"; sleep 0.5
  if out=$(ip netns exec "$c" iperf3 -c "$a" -p "$p" -t 3 -f m "$@" 2>&1); then
    bw=$(awk '/receiver/ {print $(NF-2), $(NF-1)}' <<<"$out" | tail -1)
    ok "$desc: $bw"
  else
    not_ok "$desc"; diag "$out"
  fi
}
iperf "iperf3 h1 -> Linux vxlan (pvnetd encapsulates, software TSO)" "$R" "$H1" 10.70.0.2 5301
iperf "iperf3 Linux vxlan -> h1 (pvnetd decapsulates)" "$R" "$H1" 10.70.0.2 5302 -R

# A second VNI on the same local address and UDP port (as Linux and OVS allow):
# VNI 43 on bridge br1, to a second Linux vxlan device of the remote; one shared
# socket demultiplexes by VNI.
H2="$PV_NS-h2"
ip netns add "$H2" && pv_cleanup_add "ip netns del '$H2'"
ip netns exec "$H2" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip -n "$R" link add vxr2 type vxlan id 43 remote 172.31.0.1 local 172.31.0.2 dstport 4789 dev eth0
ip -n "$R" link add brr2 type bridge
ip -n "$R" link set vxr2 master brr2
ip -n "$R" link set vxr2 up; ip -n "$R" link set brr2 up
ip -n "$R" addr add 10.71.0.2/24 dev brr2
ip link add u2 netns "$PV_NS" type veth peer name eth0 netns "$H2"
ip -n "$PV_NS" link set u2 up
ip -n "$H2" link set eth0 mtu 1450
ip -n "$H2" addr add 10.71.0.1/24 dev eth0; ip -n "$H2" link set eth0 up
check "add-port br1 u2" q pvnet switch add-port br1 u2
check "a second VXLAN port, VNI 43, on the same local address and UDP port 4789" \
  q pvnet switch add-port br1 vx1 --type vxlan --vni 43 --remote 172.31.0.2 --local 172.31.0.1 --dstport 4789
err=$(pvnet switch add-port br1 vx2 --type vxlan --vni 43 --remote 172.31.0.2 --local 172.31.0.1 2>&1) &&
  not_ok "the same VNI twice on one socket is refused" || ok "the same VNI twice on one socket is refused"
check "ping h2 -> Linux vxlan bridge over VNI 43" q ip netns exec "$H2" ping -c 3 -i 0.2 -W 2 10.71.0.2
check "ping h1 -> Linux vxlan bridge over VNI 42 still" q ip netns exec "$H1" ping -c 3 -i 0.2 -W 2 10.70.0.2
check "port-show vx1: VNI 43 learned the remote's MAC, socket shared by 2 VNIs" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch port-show vx1 | head -1 | grep -q 'vni=43 .*macs_learned=[1-9].* socket_vnis=2'"
check "VNI 43's remote MAC is in br1's FDB, not br0's" \
  bash -c "mac=\$(ip -n '$R' -br link show brr2 | awk '{print \$3}');
           '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch fdb br1 | grep -qi \"\$mac\" &&
           ! '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch fdb br0 | grep -qi \"\$mac\""
# --- IPv6 underlay: VNI 44 to a Linux vxlan device over IPv6 --------------------
R6="$PV_NS-r6"; H3="$PV_NS-h3"
ip netns add "$R6" && pv_cleanup_add "ip netns del '$R6'"
ip netns add "$H3" && pv_cleanup_add "ip netns del '$H3'"
ip -n "$R6" link set lo up; ip -n "$H3" link set lo up
ip netns exec "$H3" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip link add ul6 netns "$PV_NS" type veth peer name eth0 netns "$R6"
ip netns exec "$PV_NS" sysctl -qw net.ipv6.conf.ul6.disable_ipv6=0
ip -n "$PV_NS" addr add fd31::1/64 dev ul6 nodad; ip -n "$PV_NS" link set ul6 up
ip -n "$R6" addr add fd31::2/64 dev eth0 nodad; ip -n "$R6" link set eth0 up
ip netns exec "$R6" ethtool -K eth0 tx off >/dev/null 2>&1 || diag "ethtool -K eth0 tx off failed (r6)"
ip -n "$R6" link add vxr6 type vxlan id 44 remote fd31::1 local fd31::2 dstport 4789 dev eth0
ip -n "$R6" link add brr6 type bridge
ip -n "$R6" link set vxr6 master brr6
ip -n "$R6" link set vxr6 up; ip -n "$R6" link set brr6 up
ip netns exec "$R6" sysctl -qw net.ipv6.conf.brr6.disable_ipv6=1 2>/dev/null
ip -n "$R6" addr add 10.72.0.2/24 dev brr6
ip link add u3 netns "$PV_NS" type veth peer name eth0 netns "$H3"
ip -n "$PV_NS" link set u3 up
ip -n "$H3" link set eth0 mtu 1430   # 50 B of IPv4 VXLAN + 20 more for IPv6
ip -n "$H3" addr add 10.72.0.1/24 dev eth0; ip -n "$H3" link set eth0 up
check "add-port br2 u3" q pvnet switch add-port br2 u3
err=$(pvnet switch add-port br2 vxm --type vxlan --vni 45 --remote fd31::2 --local 172.31.0.1 2>&1) &&
  not_ok "mixed IPv4 --local / IPv6 --remote refused" || ok "mixed IPv4 --local / IPv6 --remote refused"
check "add-port br2 vx6 --type vxlan --vni 44 --remote fd31::2 --local fd31::1 (IPv6 underlay)" \
  q pvnet switch add-port br2 vx6 --type vxlan --vni 44 --remote fd31::2 --local fd31::1 --dstport 4789
check "ping h3 -> Linux vxlan bridge over IPv6" q ip netns exec "$H3" ping -c 3 -i 0.2 -W 2 10.72.0.2
check "ping Linux vxlan bridge -> h3 over IPv6" q ip netns exec "$R6" ping -c 3 -i 0.2 -W 2 10.72.0.1
show=$(pvnet switch port-show vx6 | head -1)
diag "$show"
check "port-show vx6: IPv6 local and remote, a learned MAC, underlay=ipv6, hashed source port" \
  grep -q "vni=44 dstport=4789 local=fd31::1 remotes=fd31::2 macs_learned=[1-9].*underlay=ipv6 udp_src=flow-hash" <<<"$show"
check "the Linux side learned h3's MAC behind fd31::1" bash -c "bridge -n '$R6' fdb show dev vxr6 | grep -q 'dst fd31::1'"
check "Linux counted no bad UDP checksum (Udp6 InCsumErrors 0)" \
  bash -c "[ \"\$(ip netns exec '$R6' awk '/^Udp6InCsumErrors/ {print \$2}' /proc/net/snmp6)\" = 0 ]"
iperf "iperf3 h3 -> Linux vxlan over IPv6 (pvnetd encapsulates)" "$R6" "$H3" 10.72.0.2 5303
iperf "iperf3 Linux vxlan over IPv6 -> h3 (pvnetd decapsulates)" "$R6" "$H3" 10.72.0.2 5304 -R
check "IPv4 and IPv6 sockets on UDP 4789 side by side: VNI 43 still answers" \
  q ip netns exec "$H2" ping -c 2 -i 0.2 -W 2 10.71.0.2
check "del-port br0 vx0 (the socket's first port)" q pvnet switch del-port br0 vx0
check "VNI 43 keeps working on the shared socket" q ip netns exec "$H2" ping -c 2 -i 0.2 -W 2 10.71.0.2
check "del-port br1 vx1 and br2 vx6, then UDP 4789 is free again" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch del-port br1 vx1 >/dev/null &&
           '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch del-port br2 vx6 >/dev/null &&
           ! ip netns exec '$PV_NS' ss -Hlun 'sport = :4789' | grep -q 4789"
check "pvnetd survived" kill -0 "$PV_PID"
pv_done
