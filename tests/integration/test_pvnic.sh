#!/usr/bin/env bash
# End to end: the paravirtual NIC. Guests get a network namespace with
# eth0 (a TAP driven by netfront), connect through netback to the dom0 switch,
# and run ordinary ping / iperf3 between them.
#
# Every namespace name is unique to this run (pvt<id>a, ...), so nothing
# collides with a developer's web1/web2.
. "$(dirname "$0")/lib.sh"
pv_init pvnic
pv_need iperf3 ping nsenter

ID=$(printf '%x' $(( $$ % 65536 )))

# mkcfg NAME IP4 IP6 [MTU] [QUEUES]: a domain config in the temp dir
mkcfg() { pv_cfg "$1" "bridge=br$ID, ip=$2/24 $3/64, mtu=${4:-1500}, queues=${5:-1}"; }

# guest_up NAME: domain created, the guest process wrote its node, eth0 exists
guest_up() {
  local name=$1 id
  id=$(domid "$name")
  [ -n "$id" ] && xenstore-read "/local/domain/$id/data/pvnet-guest" >/dev/null 2>&1 &&
    ip -n "$name" link show eth0 >/dev/null 2>&1
}

gpid() {
  local id
  id=$(domid "$1")
  xenstore-read "/local/domain/$id/data/pvnet-guest" 2>/dev/null | awk '{print $3}'
}

# iperf NAME_SRV IP_SRV NAME_CLI SECS [ARGS...]: prints Gb/s of the receiver, or fails
iperf() {
  local srv=$1 ip=$2 cli=$3 secs=$4 out spid; shift 4
  ip netns exec "$srv" iperf3 -s -1 -B "$ip" >/dev/null 2>&1 &
  spid=$!
  pv_cleanup_add "kill $spid"
  wait_for 5 bash -c "ip netns exec '$srv' ss -ltn 2>/dev/null | grep -q ':5201 '" || return 1
  out=$(ip netns exec "$cli" timeout $((secs + 20)) iperf3 -c "$ip" -t "$secs" -J "$@" 2>&1) || {
    echo "$out" | tail -n 5 | sed 's/^/# /' >&2; kill "$spid" 2>/dev/null; return 1; }
  wait "$spid" 2>/dev/null
  jget end.sum_received.bits_per_second <<<"$out" | awk '{printf "%.2f\n", $1 / 1e9}'
}

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi

A=pvt${ID}a; B=pvt${ID}b; C=pvt${ID}c; D=pvt${ID}d
mkcfg "$A" 10.77.0.1 fd77::1
mkcfg "$B" 10.77.0.2 fd77::2
check "create two guests on bridge br$ID" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' create '$PV_TMP/$A.cfg' >/dev/null && '$PV_BIN/pvnet' --run-dir '$PV_RUN' create '$PV_TMP/$B.cfg' >/dev/null"

if wait_for 10 guest_up "$A" && wait_for 10 guest_up "$B"; then
  ok "each guest has its namespace (ip netns) with eth0"
else
  not_ok "guest namespaces with eth0"; pv_done; exit 1
fi
out=$(ip -n "$A" addr show eth0)
check "eth0 has the MAC, IPv4 and IPv6 addresses from the config" \
  bash -c "grep -q 'link/ether 00:16:3e' <<<'$out' && grep -q 'inet 10.77.0.1/24' <<<'$out' && grep -q 'inet6 fd77::1/64' <<<'$out'"
check "loopback is up in the guest" bash -c "ip -n '$A' link show lo | grep -q 'UP'"

# Is there a backend at all? (netback may not be built yet.)
IDA=$(domid "$A")
if ! wait_for 5 bash -c "[ \"\$(xenstore-read /local/domain/0/backend/vif/$IDA/0/feature-rx-copy 2>/dev/null)\" = 1 ]"; then
  skip "PV NIC traffic" "no netback: the backend never offered feature-rx-copy"
  check "destroy both guests" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' destroy '$A' >/dev/null && '$PV_BIN/pvnet' --run-dir '$PV_RUN' destroy '$B' >/dev/null"
  check "clean guest exit removed the namespaces" bash -c "! ip netns list | grep -qE '^($A|$B)( |\$)'"
  pv_done; exit $?
fi

if wait_for 10 connected "$A" && wait_for 10 connected "$B"; then
  ok "xenbus: frontend and backend Connected"
else
  not_ok "xenbus Connected (backend state $(vif_state "$A" 0 back))"
fi
fe=$(xenstore-ls "/local/domain/$IDA/device/vif/0" 2>/dev/null)
check "frontend keys: rings, split event channels, rx-copy, persistent" \
  bash -c "grep -q 'tx-ring-ref' <<<'$fe' && grep -q 'event-channel-rx' <<<'$fe' && grep -q 'request-rx-copy = \"1\"' <<<'$fe' && grep -q 'feature-persistent = \"1\"' <<<'$fe'"

check "ping IPv4 $A -> $B" wait_for 10 ip netns exec "$A" ping -c 1 -W 1 10.77.0.2
check "ping IPv4 $B -> $A" ip netns exec "$B" ping -c 3 -i 0.2 -W 2 10.77.0.1
check "ping IPv6 $A -> $B" wait_for 10 ip netns exec "$A" ping -6 -c 1 -W 1 fd77::2
check "ping IPv6 $B -> $A" ip netns exec "$B" ping -6 -c 3 -i 0.2 -W 2 fd77::1

if g=$(iperf "$B" 10.77.0.2 "$A" 5); then ok "iperf3 TCP $A -> $B 5 s"; diag "iperf3 $A -> $B: $g Gb/s"; else not_ok "iperf3 TCP $A -> $B"; fi
if g=$(iperf "$A" 10.77.0.1 "$B" 5); then ok "iperf3 TCP $B -> $A 5 s"; diag "iperf3 $B -> $A: $g Gb/s"; else not_ok "iperf3 TCP $B -> $A"; fi

# Packet accounting from netback's counters (pvnet stats --json): with only
# A and B on the bridge every packet a guest sends has exactly one destination,
# so packets sent = packets delivered + packets dropped (netback and switch
# counters).
acct() {
  local v='vifs.[connected=true]'
  echo "$(jget --count "$v" <<<"$1") $(jget --sum "$v.tx_packets" <<<"$1")" \
    "$(jget --sum "$v.rx_packets" <<<"$1") $(jget --sum "$v.drops" 'bridges.*.ports.*.drops' <<<"$1")"
}
if js=$(pvnet stats --json 2>/dev/null) && [ -n "$js" ] && acct "$js" >/dev/null 2>&1; then
  prev=""
  for _ in $(seq 1 50); do  # counters settle once in-flight packets are delivered
    cur=$(acct "$(pvnet stats --json)")
    [ "$cur" = "$prev" ] && break
    prev=$cur; sleep 0.1
  done
  read -r nv tx rx dr <<<"$cur"
  diag "netback: $nv vifs, sent $tx, delivered $rx, dropped $dr"
  diag "drop reasons: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(" ".join("%s/%s=%d" % (x["name"], k, n) for x in d["vifs"] + [p for b in d.get("bridges", []) for p in b["ports"]] for k, n in x["drops"].items() if n))' "$(pvnet stats --json)")"
  check "packet accounting: sent $tx = delivered $rx + dropped $dr" [ "$nv:$tx" = "2:$((rx + dr))" ]
else
  skip "packet accounting (sent = delivered + counted drops)" "pvnet stats --json not available"
fi

# Jumbo frames: MTU 9000 pair, 8972-byte ping with DF.
mkcfg "$C" 10.78.0.1 fd78::1 9000
mkcfg "$D" 10.78.0.2 fd78::2 9000
sed -i "s/bridge=br$ID/bridge=bj$ID/" "$PV_TMP/$C.cfg" "$PV_TMP/$D.cfg"
pvnet create "$PV_TMP/$C.cfg" >/dev/null && pvnet create "$PV_TMP/$D.cfg" >/dev/null
if wait_for 10 connected "$C" && wait_for 10 connected "$D"; then
  check "MTU 9000: eth0 mtu" bash -c "ip -n '$C' link show eth0 | grep -q 'mtu 9000'"
  check "MTU 9000: ping -M do -s 8972" wait_for 10 ip netns exec "$C" ping -M do -s 8972 -c 1 -W 1 10.78.0.2
  check "MTU 9000: ping -M do -s 8973 is refused locally" bash -c "! ip netns exec '$C' ping -M do -s 8973 -c 1 -W 1 10.78.0.2 >/dev/null 2>&1"
else
  not_ok "MTU 9000 guests connect"
fi
pvnet destroy "$C" >/dev/null; pvnet destroy "$D" >/dev/null

# A guest killed with SIGKILL during iperf3: pvnetd survives, others keep talking,
# recreating it reconnects.
mkcfg "$C" 10.77.0.3 fd77::3
sed -i "s/bridge=bj$ID/bridge=br$ID/" "$PV_TMP/$C.cfg"
pvnet create "$PV_TMP/$C.cfg" >/dev/null
if wait_for 10 connected "$C"; then
  ip netns exec "$A" iperf3 -s -1 -B 10.77.0.1 >/dev/null 2>&1 &
  spid=$!; pv_cleanup_add "kill $spid"
  wait_for 5 bash -c "ip netns exec '$A' ss -ltn | grep -q ':5201 '"
  ip netns exec "$C" iperf3 -c 10.77.0.1 -t 10 >/dev/null 2>&1 &
  cpid=$!; pv_cleanup_add "kill $cpid"
  # kill it mid-transfer: once more than 10 MB went out of its eth0
  wait_for 10 bash -c "[ \$(ip netns exec '$C' cat /sys/class/net/eth0/statistics/tx_bytes) -gt 10000000 ]"
  kill -KILL "$(gpid "$C")"
  check "pvnetd survives a guest killed during iperf3" wait_for 5 bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list | grep -q '^$C ' && kill -0 $PV_PID"
  kill "$cpid" "$spid" 2>/dev/null; wait "$cpid" "$spid" 2>/dev/null
  check "traffic between the other guests continues" ip netns exec "$A" ping -c 3 -i 0.2 -W 2 10.77.0.2
  pvnet create "$PV_TMP/$C.cfg" >/dev/null
  if wait_for 10 connected "$C"; then
    check "recreated guest reconnects and pings" wait_for 10 ip netns exec "$C" ping -c 1 -W 1 10.77.0.1
  else
    not_ok "recreated guest reconnects"
  fi
  pvnet destroy "$C" >/dev/null
else
  not_ok "third guest connects"
fi

# Multi-queue: a 2-queue vif pair, iperf3 -P 4.
mkcfg "$D" 10.79.0.2 fd79::2 1500 2
mkcfg "$C" 10.79.0.1 fd79::1 1500 2
sed -i "s/bridge=b[rj]$ID/bridge=bq$ID/" "$PV_TMP/$C.cfg" "$PV_TMP/$D.cfg"
pvnet create "$PV_TMP/$C.cfg" >/dev/null && pvnet create "$PV_TMP/$D.cfg" >/dev/null
if wait_for 10 connected "$C" && wait_for 10 connected "$D"; then
  idc=$(domid "$C")
  nq=$(xenstore-read "/local/domain/$idc/device/vif/0/multi-queue-num-queues" 2>/dev/null || echo 1)
  check "2-queue vif negotiated $nq queues" [ "$nq" = 2 ]
  if g=$(iperf "$D" 10.79.0.2 "$C" 5 -P 4); then ok "iperf3 -P 4 on 2-queue vifs"; diag "iperf3 -P 4 2 queues: $g Gb/s"; else not_ok "iperf3 -P 4 on 2-queue vifs"; fi
else
  not_ok "2-queue guests connect"
fi
pvnet destroy "$C" >/dev/null; pvnet destroy "$D" >/dev/null

# SIGTERM to a guest: frontend Closing -> Closed, namespace removed, domain gone.
pid=$(gpid "$B")
idb=$(domid "$B")
if [ -n "$pid" ]; then
  kill -TERM "$pid"
  check "SIGTERM: guest $B exits and removes its namespace" wait_for 5 bash -c "! kill -0 $pid 2>/dev/null && ! ip netns list | grep -qE '^$B( |\$)'"
  check "SIGTERM: backend saw the frontend close" grep -q "vif$idb.0: backend Connected -> Closing" "$PV_TMP/pvnetd.log"
  pvnet create "$PV_TMP/$B.cfg" >/dev/null
  check "recreated $B connects again" wait_for 10 connected "$B"
else
  not_ok "guest pid of $B known"
fi
check "every guest shut down within the toolstack's 3 s (no SIGKILL needed)" bash -c "! grep -q 'did not shut down' '$PV_TMP/pvnetd.log'"

check "destroy $A and $B" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' destroy '$A' >/dev/null && '$PV_BIN/pvnet' --run-dir '$PV_RUN' destroy '$B' >/dev/null"
check "no guest namespace left behind" bash -c "! ip netns list | grep -qE '^pvt${ID}[a-d]( |\$)'"
pv_done
