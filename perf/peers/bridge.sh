# perf/peers/bridge.sh - the Linux bridge peer (sourced after perf/lib.sh).
#
# Topology: namespaces A and B, each with one veth whose other end is a port
# of bridge br0 in a third namespace S (the "dom0" of the kernel's path):
#   A:a0 (10.77.0.1/24) <-> S:pa -- br0 -- S:pb <-> B:b0 (10.77.0.2/24)
# Offloads stay at their defaults (on), as a guest's would be.
# After bridge_setup: BR_NS_A BR_NS_B BR_IF_A BR_IF_B BR_IP_A BR_IP_B.

bridge_setup() {
  BR_NS_A="$PB_TAG-brA"; BR_NS_B="$PB_TAG-brB"; BR_NS_S="$PB_TAG-brS"
  BR_IF_A=a0; BR_IF_B=b0; BR_IP_A=10.77.0.1; BR_IP_B=10.77.0.2
  pb_ns "$BR_NS_A" && pb_ns "$BR_NS_B" && pb_ns "$BR_NS_S" || return 1
  ip -n "$BR_NS_S" link add br0 type bridge || return 1
  ip -n "$BR_NS_S" link set br0 up
  ip -n "$BR_NS_S" link add pa type veth peer name a0 netns "$BR_NS_A" || return 1
  ip -n "$BR_NS_S" link add pb type veth peer name b0 netns "$BR_NS_B" || return 1
  ip -n "$BR_NS_S" link set pa master br0 up
  ip -n "$BR_NS_S" link set pb master br0 up
  ip -n "$BR_NS_A" addr add "$BR_IP_A/24" dev a0
  ip -n "$BR_NS_B" addr add "$BR_IP_B/24" dev b0
  ip -n "$BR_NS_A" link set a0 up
  ip -n "$BR_NS_B" link set b0 up
  # Learn both MACs so pktgen frames are forwarded, not flooded.
  local i
  for i in $(seq 1 50); do
    ip netns exec "$BR_NS_A" ping -c1 -W1 "$BR_IP_B" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  pb_log "bridge: $BR_IP_A cannot reach $BR_IP_B"
  return 1
}
