#!/usr/bin/env bash
# Uplinks: an AF_XDP uplink (pvnet switch add-port BR IF --type afxdp).
# A "remote host" namespace joined by a veth to the AF_XDP uplink u1 of bridge BX,
# a PV guest on BX: ping and iperf3 (3 s) both ways, the port's counters equal the
# remote host's interface counters over a ping burst; the XDP program is on u1
# while the port exists and gone after del-port (auto, skb and drv modes), after
# pvnetd exits and after it is SIGKILLed; back-to-back add/del cycles; an
# interface deleted under a live port costs no CPU; a missing interface and a
# queue out of range give a clear error naming the reason and suggesting
# afpacket; pvnetd survives.
# The remote host sends complete checksums (tx offload off on its veth): an XDP
# socket receives frames as they are on the wire, like from a real NIC.
. "$(dirname "$0")/lib.sh"
pv_init bridge_afxdp
pv_need ping iperf3 python3 nsenter xenstore-read ethtool

ID=$(printf '%x' $(( $$ % 65536 )))
q() { "$@" >/dev/null 2>&1; }

# iperf_bps SRV_NS SRV_IP CLI_NS PORT SECS: receiver bits/s, or fails
iperf_bps() {
  local srv=$1 ip=$2 cli=$3 port=$4 secs=$5 spid out
  ip netns exec "$srv" iperf3 -s -1 -B "$ip" -p "$port" >/dev/null 2>&1 &
  spid=$!
  pv_cleanup_add "kill $spid"
  wait_for 5 bash -c "ip netns exec '$srv' ss -ltn 2>/dev/null | grep -q ':$port '" || return 1
  out=$(ip netns exec "$cli" timeout $((secs + 15)) iperf3 -c "$ip" -p "$port" -t "$secs" -J 2>&1) || {
    echo "$out" | tail -n 5 | sed 's/^/# /' >&2; kill "$spid" 2>/dev/null; return 1; }
  wait "$spid" 2>/dev/null
  jget --fmt .0f end.sum_received.bits_per_second <<<"$out"
}
iperf_check() { # DESC SRV_NS SRV_IP CLI_NS PORT
  local desc=$1 b; shift
  if b=$(iperf_bps "$1" "$2" "$3" "$4" 3) && [ "${b:-0}" -gt 0 ]; then
    ok "$desc: $(awk -v b="$b" 'BEGIN { printf "%.3f Gb/s", b / 1e9 }')"
    diag "afxdp iperf3 $desc: $b bit/s"
  else
    not_ok "$desc"
  fi
}
# port counters "rx tx" (the switch's view), once they stop moving
counters() { pvnet switch port-show "$1" | sed -n 's/.*rx_packets=\([0-9]*\).*tx_packets=\([0-9]*\).*/\1 \2/p'; }
settled() { # CMD...: its output once two reads 100 ms apart agree
  local prev="" cur i
  for i in $(seq 1 30); do cur=$("$@"); [ "$cur" = "$prev" ] && break; prev=$cur; sleep 0.1; done
  echo "$cur"
}
# "tx rx" packets of eth0 in the remote host
host_counters() {
  local d=/sys/class/net/eth0/statistics
  ip netns exec "$H1" bash -c "echo \$(cat $d/tx_packets) \$(cat $d/rx_packets)"
}
has_xdp() { ip -n "$PV_NS" -d link show u1 | grep -q "prog/xdp"; }

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
ip netns exec "$PV_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1

BX=bx$ID; G1=bx${ID}g1; H1="$PV_NS-h1"
ip netns add "$H1" && pv_cleanup_add "ip netns del '$H1'"
ip netns exec "$H1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip link add u1 netns "$PV_NS" type veth peer name eth0 netns "$H1"
ip -n "$PV_NS" link set u1 up
ip -n "$H1" link set lo up; ip -n "$H1" addr add 10.85.0.100/24 dev eth0; ip -n "$H1" link set eth0 up
ip netns exec "$H1" ethtool -K eth0 tx off tso off gso off >/dev/null 2>&1

# errors first (no program may be left behind by a failed add)
err=$(pvnet switch add-port "$BX" nosuch0 --type afxdp 2>&1) && not_ok "missing interface refused" || \
  check "missing interface: clear error suggesting afpacket" \
    bash -c "grep -q 'no such interface nosuch0' <<<\"\$1\" && grep -q 'type afpacket' <<<\"\$1\"" _ "$err"
diag "$err"
err=$(pvnet switch add-port "$BX" u1 --type afxdp --queue 7 2>&1) && not_ok "queue 7 refused" || \
  check "queue out of range: clear error suggesting afpacket" \
    bash -c "grep -q 'queue 7 out of range: u1 has 1 RX queue' <<<\"\$1\" && grep -q 'type afpacket' <<<\"\$1\"" _ "$err"
diag "$err"
check "a refused add leaves u1 without XDP" bash -c "! ip -n '$PV_NS' -d link show u1 | grep -q xdp"
err=$(pvnet switch add-port "$BX" u1 --type afpacket --queue 1 2>&1) && not_ok "--queue refused for afpacket" || \
  ok "--queue is refused for --type afpacket"

# the guest
pv_cfg "$G1" "bridge=$BX, ip=10.85.0.1/24"
pvnet create "$PV_TMP/$G1.cfg" >/dev/null
if wait_for 10 connected "$G1"; then ok "guest $G1 connected on $BX"; else not_ok "guest connected"; pv_done; exit 1; fi
ip netns exec "$G1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1

if ! out=$(pvnet switch add-port "$BX" u1 --type afxdp 2>&1); then
  if grep -qiE "XSKMAP|XDP program|AF_XDP socket|attach XDP" <<<"$out"; then
    skip "AF_XDP uplink" "the kernel refused AF_XDP: $out"
    check "pvnetd survived" kill -0 "$PV_PID"
    pv_done; exit $?
  fi
  not_ok "add-port $BX u1 --type afxdp: $out"; pv_done; exit 1
fi
ok "add-port $BX u1 --type afxdp (auto mode)"
line=$(pvnet switch port-show u1 | head -1)
diag "$line"
check "u1 has an XDP program attached" has_xdp
check "port-show: type=afxdp, queue 0, mode and copy shown" \
  bash -c "grep -q 'type=afxdp' <<<\"\$1\" && grep -q 'queue=0/1' <<<\"\$1\" && grep -qE 'xdp=(skb|drv),(copy|zc)' <<<\"\$1\"" _ "$line"
check "switch show lists the afxdp port" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch show | grep -q 'type=afxdp'"

check "ping guest -> remote host over AF_XDP" q wait_for 10 ip netns exec "$G1" ping -c 1 -W 1 10.85.0.100
check "ping remote host -> guest over AF_XDP" q ip netns exec "$H1" ping -c 3 -i 0.2 -W 2 10.85.0.1
iperf_check "iperf3 guest -> remote host" "$H1" 10.85.0.100 "$G1" 5501
iperf_check "iperf3 remote host -> guest" "$G1" 10.85.0.1 "$H1" 5502

# counters: over a ping burst the port receives what eth0 sent and sends what it got
nobuf() { pvnet switch port-show u1 | sed -n 's/.* rx_nobuf=\([0-9]*\).*/\1/p'; }
nb0=$(nobuf)
read -r prx0 ptx0 < <(settled counters u1)
read -r htx0 hrx0 < <(settled host_counters)
ip netns exec "$H1" ping -c 20 -i 0.05 -W 2 10.85.0.1 >/dev/null
read -r prx1 ptx1 < <(settled counters u1)
read -r htx1 hrx1 < <(settled host_counters)
diag "port u1 rx +$((prx1 - prx0)) tx +$((ptx1 - ptx0)); remote eth0 tx +$((htx1 - htx0)) rx +$((hrx1 - hrx0))"
check "no packet lost to an empty pool during the burst (rx_nobuf stays $nb0)" [ "$(nobuf)" = "$nb0" ]
check "port rx equals what the remote host sent (>= 20)" [ $((prx1 - prx0)) = $((htx1 - htx0)) -a $((prx1 - prx0)) -ge 20 ]
check "port tx equals what the remote host received (>= 20)" [ $((ptx1 - ptx0)) = $((hrx1 - hrx0)) -a $((ptx1 - ptx0)) -ge 20 ]
line=$(pvnet switch port-show u1 | head -1)
check "no error counted on the AF_XDP port" \
  bash -c "grep -q 'rx_bad_desc=0 tx_too_big=0 tx_ring_full=0 tx_errors=0' <<<\"\$1\"" _ "$line"
diag "$line"

check "add-port on a port that exists is refused" bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch add-port '$BX' u1 --type afxdp >/dev/null 2>&1"
check "del-port $BX u1" q pvnet switch del-port "$BX" u1
check "del-port removed the XDP program (ip link show u1: no xdp)" bash -c "! ip -n '$PV_NS' -d link show u1 | grep -q xdp"
check "remote host unreachable without its uplink" bash -c "! ip netns exec '$G1' ping -c 1 -W 1 10.85.0.100 >/dev/null"

# each mode explicitly; traffic must flow in whichever the kernel accepts
for mode in skb drv; do
  if out=$(pvnet switch add-port "$BX" u1 --type afxdp --mode $mode 2>&1); then
    line=$(pvnet switch port-show u1 | head -1)
    check "--mode $mode: port-show says xdp=$mode" grep -q "xdp=$mode," <<<"$line"
    check "--mode $mode: ping remote host -> guest" q wait_for 10 ip netns exec "$H1" ping -c 1 -W 1 10.85.0.1
    check "--mode $mode: del-port removes the program" \
      bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch del-port '$BX' u1 >/dev/null && ! ip -n '$PV_NS' -d link show u1 | grep -q xdp"
  else
    skip "--mode $mode" "refused by this kernel: $out"
  fi
done
err=$(pvnet switch add-port "$BX" u1 --type afxdp --mode skb --zero-copy 2>&1) && not_ok "skb + zero-copy refused" || \
  check "--mode skb --zero-copy refused with a reason" grep -q "zero-copy needs native" <<<"$err"
err=$(pvnet switch add-port "$BX" u1 --type afxdp --mode drv --zero-copy 2>&1)
diag "--mode drv --zero-copy on veth: $err"

# del-port then add-port at once, 10 times: the kernel frees a closed socket's
# queue asynchronously, the add must still succeed
cycles=0
for i in $(seq 1 10); do
  pvnet switch add-port "$BX" u1 --type afxdp >/dev/null 2>&1 &&
    pvnet switch del-port "$BX" u1 >/dev/null 2>&1 && cycles=$((cycles + 1))
done
check "10 add-port/del-port cycles back to back ($cycles succeeded), no program left" \
  bash -c "[ $cycles = 10 ] && ! ip -n '$PV_NS' -d link show u1 | grep -q xdp"
# the interface vanishes under a live port: no busy loop, TX errors counted,
# del-port still works
ip link add u2 netns "$PV_NS" type veth peer name eth1 netns "$H1"
ip -n "$PV_NS" link set u2 up
check "add-port $BX u2 --type afxdp" q pvnet switch add-port "$BX" u2 --type afxdp
ip -n "$PV_NS" link del u2
ticks() { awk '{print $14 + $15}' "/proc/$PV_PID/stat"; }
t0=$(ticks); ip netns exec "$G1" ping -c 5 -i 0.2 -W 1 10.85.0.222 >/dev/null 2>&1; t1=$(ticks)
diag "pvnetd CPU while u2 is gone: $((t1 - t0)) ticks in ~1 s; $(pvnet switch port-show u2 | head -1 | grep -o 'tx_errors=[0-9]*')"
check "interface deleted under the port: pvnetd does not spin (< 40 ticks/s)" [ $((t1 - t0)) -lt 40 ]
check "del-port of the port whose interface is gone" q pvnet switch del-port "$BX" u2
check "pvnetd survived" kill -0 "$PV_PID"
# the program goes away when pvnetd exits with the port still on the bridge
check "re-add u1 (afxdp)" q pvnet switch add-port "$BX" u1 --type afxdp
check "ping again after re-add" q wait_for 10 ip netns exec "$H1" ping -c 1 -W 1 10.85.0.1
pvnet destroy "$G1" >/dev/null 2>&1
pv_kill_daemon "$PV_PID"
check "pvnetd exit removed the XDP program from u1" bash -c "! ip -n '$PV_NS' -d link show u1 | grep -q xdp"
# ... and when pvnetd dies by SIGKILL (the program hangs on a BPF link of its fd)
if pv_start --state-dir "$PV_TMP/state2"; then # a fresh switch, not the saved one
  check "new pvnetd: add-port u1 (afxdp)" q pvnet switch add-port "$BX" u1 --type afxdp
  check "u1 has the XDP program again" has_xdp
  kill -KILL "$PV_PID"; wait "$PV_PID" 2>/dev/null
  check "pvnetd SIGKILLed: the kernel removed the XDP program from u1" \
    wait_for 5 bash -c "! ip -n '$PV_NS' -d link show u1 | grep -q xdp"
else
  not_ok "pvnetd restarts"
fi
pv_done
