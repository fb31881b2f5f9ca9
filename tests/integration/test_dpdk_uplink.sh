#!/usr/bin/env bash
# The DPDK accelerator plugin as a real uplink of a pvnetd bridge. A
# net_af_packet port on a veth whose peer is a "remote host" namespace carries
# ping and iperf3 between that host and a PV guest (vif accel=dpdk,level=0: the
# NIC is the bridge's uplink). A wrong devargs string gives a clear error.
. "$(dirname "$0")/lib.sh"
pv_init dpdk_uplink
pv_need iperf3 ping ethtool pkg-config
if ! pkg-config --exists libdpdk || [ ! -f "$PV_BUILD/lib/pvnet-accel/dpdk.so" ]; then
  skip "dpdk_uplink" "the dpdk plugin is not built (libdpdk / dpdk-dev missing)"
  pv_done; exit 0
fi

ID=$(printf '%x' $(( $$ % 65536 )))
BR="bd$ID"
G="pvtd$ID"
if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi

R="$PV_NS-r"
ip netns add "$R" && pv_cleanup_add "ip netns del '$R'"
ip link add "d$ID" netns "$PV_NS" type veth peer name eth0 netns "$R"
ip -n "$R" link set lo up
ip -n "$R" addr add 10.64.0.100/24 dev eth0
ip -n "$R" link set eth0 up
ip -n "$PV_NS" link set "d$ID" up
# the plugin copies one frame per descriptor: no super-frames from the remote kernel
ip netns exec "$R" ethtool -K eth0 tso off gso off gro off tx off >/dev/null 2>&1
ip netns exec "$PV_NS" ethtool -K "d$ID" gro off tso off gso off tx off >/dev/null 2>&1

err=$(pvnet nic add bad0 --plugin dpdk --devargs "net_af_packet9;iface=nosuch$ID" --bridge "$BR" 2>&1) &&
  not_ok "wrong devargs refused" || check "wrong devargs: a clear error" grep -qi "devargs\|cannot probe\|expected" <<<"$err"
diag "$err"
if pvnet nic add dnic --plugin dpdk --devargs "net_af_packet0;iface=d$ID" --bridge "$BR" >"$PV_TMP/nic.out" 2>&1; then
  ok "nic add dnic --plugin dpdk --devargs net_af_packet0;iface=d$ID"
else
  not_ok "nic add dpdk"; sed 's/^/# /' "$PV_TMP/nic.out"; pv_done; exit 1
fi
out=$(pvnet nic list); diag "$out"
check "nic list shows the dpdk NIC on $BR" grep -qE "^dnic +dpdk" <<<"$out"
wait_for 10 bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' ethtool -S dnic | grep -qE 'link_up: *1'"

cat >"$PV_TMP/$G.cfg" <<CFG
name = "$G"
memory = 64
netns = "$G"
vif = [ 'mac=00:16:3e:64:00:01, bridge=$BR, ip=10.64.0.1/24, accel=dpdk, level=0' ]
CFG
pv_cleanup_add "ip netns del '$G'"
check "create the PV guest on the DPDK-uplinked bridge" pvnet create "$PV_TMP/$G.cfg"
wait_for 10 ip -n "$G" link show eth0 >/dev/null 2>&1

if wait_for 10 ip netns exec "$G" ping -c 1 -W 1 10.64.0.100 >/dev/null; then
  ok "guest pings the remote host through the DPDK uplink"
else
  not_ok "guest pings the remote host"
fi
check "remote host pings the guest" ip netns exec "$R" ping -c 3 -i 0.2 -W 2 10.64.0.1
for dir in "$G:10.64.0.100:$R" "$R:10.64.0.1:$G"; do
  cns=${dir%%:*}; rest=${dir#*:}; sip=${rest%%:*}; sns=${rest#*:}
  port=$((5400 + RANDOM % 400))
  ip netns exec "$sns" iperf3 -s -1 -D -p "$port" --logfile "$PV_TMP/iperf-$port.log"
  wait_for 5 bash -c "ip netns exec '$sns' ss -ltn | grep -q ':$port '"
  if out=$(ip netns exec "$cns" timeout 30 iperf3 -c "$sip" -p "$port" -t 3 -f m 2>&1); then
    ok "iperf3 $cns -> $sns over the DPDK uplink: $(awk '/receiver/ {print $(NF-2), $(NF-1)}' <<<"$out" | tail -1)"
  else
    not_ok "iperf3 $cns -> $sns"; echo "$out" | tail -n 3 | sed 's/^/# /'
  fi
done
st=$(pvnet ethtool -S dnic)
diag "$(grep -E 'tx_packets|rx_packets|dropped|fault' <<<"$st" | tr '\n' ' ')"
check "the NIC moved the traffic (eth_tx_packets > 1000)" \
  bash -c "awk '\$1 ~ /eth_tx_packets:\$/ && \$2 > 1000 {f=1} END {exit !f}' <<<'$st'"
check "pvnet destroy" pvnet destroy "$G"
check "nic del" pvnet nic del dnic
check "pvnetd alive" kill -0 "$PV_PID"
pv_done
