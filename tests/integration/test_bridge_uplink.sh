#!/usr/bin/env bash
# The switch, host side (no guests needed): two "remote host" namespaces, each joined
# by a veth pair to an AF_PACKET uplink of one pvnetd bridge. ping and iperf3
# through pvnetd both ways; a mirror whose tshark count equals the port counters;
# --count; a capture replayed out of a port arriving in a namespace; del-port.
. "$(dirname "$0")/lib.sh"
pv_init bridge_uplink
pv_need ping iperf3 tshark

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
if ! pvnet switch help >/dev/null 2>&1; then
  skip "bridge_uplink" "pvnetd does not dispatch 'switch add-port' yet (switch_cli_ext not wired)"
  pv_done; exit 0
fi

# host NAME IP UPLINK: a namespace with eth0 = the peer of UPLINK (in dom0's ns)
host() {
  local ns="$PV_NS-$1"
  ip netns add "$ns" && pv_cleanup_add "ip netns del '$ns'"
  ip link add "$3" netns "$PV_NS" type veth peer name eth0 netns "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n "$PV_NS" link set "$3" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$2/24" dev eth0
  ip -n "$ns" link set eth0 up
}
ip netns exec "$PV_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
host h1 10.50.0.1 u1
host h2 10.50.0.2 u2
H1="$PV_NS-h1"; H2="$PV_NS-h2"
q() { "$@" >/dev/null 2>&1; }

check "add-port br0 u1 (afpacket)" q pvnet switch add-port br0 u1
check "add-port br0 u2 --type afpacket" q pvnet switch add-port br0 u2 --type afpacket
err=$(pvnet switch add-port br0 nosuch0 2>&1) && not_ok "missing interface refused" || \
  check "missing interface refused with a clear error" grep -q "no such interface" <<<"$err"
err=$(pvnet switch add-port br0 u3 --type afxdp 2>&1) && not_ok "afxdp refused" || \
  check "--type afxdp gives a clear error" grep -qi "no such interface u3.*type afpacket" <<<"$err"
diag "$(pvnet switch port-show u1 | head -1)"

check "ping h1 -> h2 through pvnetd" q ip netns exec "$H1" ping -c 3 -i 0.2 -W 2 10.50.0.2
check "ping h2 -> h1 through pvnetd" q ip netns exec "$H2" ping -c 3 -i 0.2 -W 2 10.50.0.1

ip netns exec "$H2" iperf3 -s -D -1 -p 5201 --logfile "$PV_TMP/iperf-s.log" && sleep 0.5
if out=$(ip netns exec "$H1" iperf3 -c 10.50.0.2 -p 5201 -t 3 -f m 2>&1); then
  bw=$(awk '/receiver/ {print $(NF-2), $(NF-1)}' <<<"$out" | tail -1)
  ok "iperf3 h1 -> h2 through AF_PACKET uplinks: $bw"
else
  not_ok "iperf3 h1 -> h2"; diag "$out"
fi
ip netns exec "$H2" iperf3 -s -D -1 -p 5202 --logfile "$PV_TMP/iperf-s2.log" && sleep 0.5
if out=$(ip netns exec "$H1" iperf3 -c 10.50.0.2 -p 5202 -t 3 -R -f m 2>&1); then
  bw=$(awk '/receiver/ {print $(NF-2), $(NF-1)}' <<<"$out" | tail -1)
  ok "iperf3 h2 -> h1 (reverse): $bw"
else
  not_ok "iperf3 h2 -> h1"; diag "$out"
fi

# port-show counters: rx tx
counters() { pvnet switch port-show "$1" | sed -n 's/.*rx_packets=\([0-9]*\).*tx_packets=\([0-9]*\).*/\1 \2/p'; }

sleep 0.5
read -r rx0 tx0 < <(counters u1)
check "mirror u1 to a pcap" q pvnet switch mirror u1 "$PV_TMP/u1.pcap"
ip netns exec "$H1" ping -c 5 -i 0.2 -W 2 10.50.0.2 >/dev/null
sleep 0.3
check "mirror-stop u1" q pvnet switch mirror-stop u1
read -r rx1 tx1 < <(counters u1)
frames=$(tshark -r "$PV_TMP/u1.pcap" 2>/dev/null | wc -l)
want=$(( (rx1 - rx0) + (tx1 - tx0) ))
diag "mirror: tshark counts $frames frames; port counters moved rx $((rx1 - rx0)) tx $((tx1 - tx0))"
check "tshark -r count equals the port counters ($want)" [ "$frames" = "$want" ]
icmp=$(tshark -r "$PV_TMP/u1.pcap" -Y icmp 2>/dev/null | wc -l)
check "the mirror holds the 10 ICMP frames both ways" [ "$icmp" = 10 ]

check "mirror --count 4" q pvnet switch mirror u1 "$PV_TMP/u1c.pcap" --count 4
ip netns exec "$H1" ping -c 5 -i 0.2 -W 2 10.50.0.2 >/dev/null
n=$(tshark -r "$PV_TMP/u1c.pcap" 2>/dev/null | wc -l)
check "--count 4 stops after exactly 4 frames" [ "$n" = 4 ]
pvnet switch mirror-stop u1 >/dev/null 2>&1
check "switch port-show has no mirror after stop" bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch port-show u1 | grep -q mirror="

# Replay: the echo requests h1 sent (captured on u1) go out of u2 into h2.
reqs=$(tshark -r "$PV_TMP/u1.pcap" -Y "icmp.type==8" 2>/dev/null | wc -l)
ip netns exec "$H2" tshark -q -i eth0 -f "icmp" -a duration:6 -w "$PV_TMP/h2.pcap" >/dev/null 2>&1 &
tpid=$!
pv_cleanup_add "kill $tpid"
wait_for 5 test -s "$PV_TMP/h2.pcap"; sleep 1
out=$(pvnet switch replay u2 "$PV_TMP/u1.pcap" 2>&1)
check "replay u1.pcap out of u2" grep -q "replayed" <<<"$out"
diag "$out"
wait "$tpid" 2>/dev/null
got=$(tshark -r "$PV_TMP/h2.pcap" -Y "icmp.type==8 && ip.src==10.50.0.1" 2>/dev/null | wc -l)
check "the $reqs replayed echo requests arrive in h2 (tshark there sees $got)" [ "$got" -ge "$reqs" -a "$reqs" -gt 0 ]

check "del-port br0 u2" q pvnet switch del-port br0 u2
check "h2 unreachable without its uplink" bash -c "! ip netns exec '$H1' ping -c 1 -W 1 10.50.0.2 >/dev/null"
check "re-add u2" q pvnet switch add-port br0 u2
check "ping works again after re-add" q ip netns exec "$H1" ping -c 2 -i 0.2 -W 2 10.50.0.2
check "pvnetd survived" kill -0 "$PV_PID"
pv_done
