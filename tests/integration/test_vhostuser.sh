#!/usr/bin/env bash
# Standalone vhost-user ports (`pvnet switch add-port BR NAME --type vhostuser`)
# with DPDK's own virtio-user frontend (dpdk-testpmd --vdev net_virtio_user0), no
# QEMU: three testpmds on one bridge, A and B on ports where pvnetd listens
# (--server), C (2 queue pairs) on a port where pvnetd connects (--client, testpmd
# server=1). Asserts:
#  - frames pass every way with exact counts: what one testpmd sent (its port
#    stats) = what pvnetd counted in on its port = what pvnetd counted out on each
#    other port = what each other testpmd received (frames to an unlearnt MAC: flooded);
#  - a client that sends garbage to a fourth port (bad header, then a stalled
#    half message) is dropped there (vmm_bad_msgs / vmm_msg_timeouts) and the port
#    listens again; A, B and C keep their connections and the counts stay exact;
#  - C restarts: pvnetd reconnects (vmm_connects 2) and C receives exactly again;
#  - a PV guest on the same bridge pings B (testpmd --forward-mode=icmpecho);
#  - a --socket outside the run dir / $PVNET_VHOST_DIR is refused;
#  - the ports survive a pvnetd restart (state dir) with their options.
# testpmd runs with --no-huge -m 512 --no-pci, each with its own --file-prefix,
# lcores 0,1 (main 0, forwarding 1); each phase is bounded (tx_first N bursts of 32).
. "$(dirname "$0")/lib.sh"
pv_init test_vhostuser
pv_need dpdk-testpmd ping python3

ID=$(basename "$PV_TMP" | cut -d. -f2 | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9' | cut -c1-6)
PFX="pvvu$ID"
declare -A TP_FD TP_PID

# tp_start NAME VDEV_ARGS [testpmd args]: testpmd in interactive mode, commands
# through a FIFO held open on an fd; output in $PV_TMP/tp-NAME.log
tp_start() {
  local n=$1 vdev=$2 fd; shift 2
  rm -f "$PV_TMP/tp-$n.in"; mkfifo "$PV_TMP/tp-$n.in"
  exec {fd}<>"$PV_TMP/tp-$n.in"
  TP_FD[$n]=$fd
  stdbuf -oL taskset -c 0,1 dpdk-testpmd -l 0,1 --main-lcore 0 --no-huge -m 512 --no-pci \
    --file-prefix "$PFX$n" --vdev "net_virtio_user0,$vdev" -- -i --total-num-mbufs=8192 "$@" \
    <&"$fd" >"$PV_TMP/tp-$n.log" 2>&1 &
  TP_PID[$n]=$!
  pv_cleanup_add "kill -KILL ${TP_PID[$n]}; rm -rf /var/run/dpdk/$PFX$n"
}
tp() { echo "$2" >&"${TP_FD[$1]}"; }
tp_stop_proc() { # quit, then the PID we started if it lingers
  local n=$1
  tp "$n" quit
  wait_for 10 bash -c "! kill -0 ${TP_PID[$n]} 2>/dev/null" || kill -KILL "${TP_PID[$n]}" 2>/dev/null
  wait "${TP_PID[$n]}" 2>/dev/null
  rm -rf "/var/run/dpdk/$PFX$n"
}
nic_blocks() { grep -c "NIC statistics for port 0" "$PV_TMP/tp-$1.log" 2>/dev/null; }
# tp_stats NAME: "RX TX" packets from a fresh `show port stats 0`
tp_stats() {
  local n=$1 before
  before=$(nic_blocks "$n")
  tp "$n" "show port stats 0"
  wait_for 10 bash -c "[ \$(grep -c 'NIC statistics for port 0' '$PV_TMP/tp-$n.log') -gt $before ]" || { echo "-1 -1"; return; }
  sleep 0.1
  awk '/NIC statistics for port 0/ {rx = ""; tx = ""}
       /RX-packets:/ {rx = $2} /TX-packets:/ {tx = $2} END {print rx, tx}' "$PV_TMP/tp-$n.log"
}
# pvnetd's counters of a port: "RX TX" (rx: from the frontend into the switch)
pv_ctr() {
  pvnet switch port-show "$1" | awk '/rx_packets=/ {for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]} print v["rx_packets"], v["tx_packets"]}'
}
pv_field() { pvnet switch port-show "$1" | grep -oE "(^| )$2=[^ ]+" | head -1 | cut -d= -f2; }
ctr_ge() { local v; v=$(pv_field "$1" "$2"); [ "${v:-0}" -ge "$3" ]; }
running() { pvnet switch port-show "$1" 2>/dev/null | grep -q " running "; }

pv_start || { not_ok "pvnetd starts"; pv_done; exit 1; }
S="$PV_RUN"
check "add-port vu1 --type vhostuser --server" pvnet switch add-port br0 vu1 --type vhostuser --socket "$S/vu1.sock" --server
check "add-port vu2 --type vhostuser (server by default)" pvnet switch add-port br0 vu2 --type vhostuser --socket "$S/vu2.sock"
check "add-port vu3 --type vhostuser --client --queues 2 --poll 200" pvnet switch add-port br0 vu3 --type vhostuser --socket "$S/vu3.sock" --client --queues 2 --poll 200
check "add-port vu4 --type vhostuser --mem-max 1G" pvnet switch add-port br0 vu4 --type vhostuser --socket "$S/vu4.sock" --mem-max 1G
if out=$(pvnet switch add-port br0 vu5 --type vhostuser --socket "/tmp/pvnet-vu-$ID.sock" 2>&1); then
  not_ok "a --socket outside the run dir is refused"; rm -f "/tmp/pvnet-vu-$ID.sock"
else ok "a --socket outside the run dir is refused: $out"; fi
if pvnet switch show | grep -q " vu5 "; then not_ok "... and no port vu5 exists"; else ok "... and no port vu5 exists"; fi

tp_start A "path=$S/vu1.sock,queues=1,mac=02:aa:00:00:00:0a"
tp_start B "path=$S/vu2.sock,queues=1,mac=02:aa:00:00:00:0b"
tp_start C "path=$S/vu3.sock,server=1,queues=2,mac=02:aa:00:00:00:0c" --rxq=2 --txq=2
for p in vu1 vu2 vu3; do
  if wait_for 30 running $p; then ok "$p: testpmd's virtio-user is connected, queues running"
  else not_ok "$p: testpmd connected within 30 s"; pvnet switch port-show $p | sed 's/^/# /'; fi
done
is_client() { pvnet switch port-show vu3 | grep -q " mode=client "; }
check "vu3 (client mode) connected to testpmd's socket" is_client
for n in A B C; do tp $n "set fwd rxonly"; done

# phase SENDER BURSTS: SENDER sends BURSTS x 32 frames (to an unlearnt MAC); the
# others receive. Checks every counter along the way against its value before.
declare -A PORT_OF=([A]=vu1 [B]=vu2 [C]=vu3)
phase() {
  local snd=$1 bursts=$2 tag=$3 n p want got r t
  declare -A trx ttx prx ptx
  for n in A B C; do
    read -r r t < <(tp_stats $n); trx[$n]=$r; ttx[$n]=$t
    read -r r t < <(pv_ctr "${PORT_OF[$n]}"); prx[$n]=$r; ptx[$n]=$t
  done
  for n in A B C; do [ $n = "$snd" ] || tp $n start; done
  sleep 0.5
  tp "$snd" "set fwd io"
  tp "$snd" "start tx_first $bursts"
  # tx_first: BURSTS bursts of 32 per forwarding stream (one per TX queue)
  want=$((bursts * 32))
  p=${PORT_OF[$snd]}
  wait_for 20 ctr_ge "$p" rx_packets $((prx[$snd] + want))
  sleep 0.3
  read -r got t < <(pv_ctr "$p"); got=$((got - prx[$snd]))
  for n in A B C; do
    [ $n = "$snd" ] && continue
    wait_for 20 ctr_ge "${PORT_OF[$n]}" tx_packets $((ptx[$n] + got))
  done
  sleep 0.5
  for n in A B C; do tp $n stop; done
  tp "$snd" "set fwd rxonly"
  sleep 0.3
  read -r r t < <(tp_stats "$snd")
  t=$((t - ttx[$snd]))
  if [ $t -ge $want ] && [ $((t % want)) = 0 ]; then ok "$tag: testpmd $snd sent $t frames ($bursts bursts of 32 per queue)"
  else not_ok "$tag: testpmd $snd sent $bursts bursts of 32 per queue (port stats TX +$t)"; fi
  want=$t
  if [ "$got" = $want ]; then ok "$tag: pvnetd counted $want in on $p"
  else not_ok "$tag: pvnetd counted $want in on $p (rx_packets +$got)"; pvnet switch port-show "$p" | sed 's/^/# /'; fi
  for n in A B C; do
    [ $n = "$snd" ] && continue
    read -r r t < <(pv_ctr "${PORT_OF[$n]}")
    if [ "$((t - ptx[$n]))" = $want ]; then ok "$tag: pvnetd sent $want out of ${PORT_OF[$n]}"
    else not_ok "$tag: pvnetd sent $want out of ${PORT_OF[$n]} (tx_packets +$((t - ptx[$n])))"; pvnet switch port-show "${PORT_OF[$n]}" | sed 's/^/# /'; fi
    read -r r t < <(tp_stats $n)
    if [ "$((r - trx[$n]))" = $want ]; then ok "$tag: testpmd $n received $want"
    else not_ok "$tag: testpmd $n received $want (port stats RX +$((r - trx[$n])))"; fi
  done
}
phase A 4 "A->B,C"
phase B 2 "B->A,C"
phase C 3 "C(2 queues)->A,B"

# a hostile client on vu4: a bad header (dropped at once), then half a message
# and silence (dropped at the message deadline); A, B, C untouched
c1=$(pv_field vu1 vmm_connects); c2=$(pv_field vu2 vmm_connects); c3=$(pv_field vu3 vmm_connects)
python3 - "$S/vu4.sock" <<'PY'
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(struct.pack("<III", 1, 0x7, 1 << 30) + b"\xff" * 64)  # bad flags, 1 GiB payload
time.sleep(0.3); s.close()
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(struct.pack("<III", 5, 1, 200)[:8])  # half a header, then silence
time.sleep(2.5); s.close()
PY
if [ "$(pv_field vu4 vmm_bad_msgs)" -ge 1 ] 2>/dev/null; then ok "garbage on vu4: dropped (vmm_bad_msgs=$(pv_field vu4 vmm_bad_msgs))"
else not_ok "garbage on vu4: counted in vmm_bad_msgs"; pvnet switch port-show vu4 | sed 's/^/# /'; fi
if [ "$(pv_field vu4 vmm_msg_timeouts)" -ge 1 ] 2>/dev/null; then ok "stalled half message on vu4: dropped at the deadline (vmm_msg_timeouts=$(pv_field vu4 vmm_msg_timeouts))"
else not_ok "stalled half message on vu4: counted in vmm_msg_timeouts"; fi
listening() { pvnet switch port-show vu4 | grep -q " listening "; }
check "vu4 listens again" wait_for 5 listening
if [ "$(pv_field vu1 vmm_connects)$(pv_field vu2 vmm_connects)$(pv_field vu3 vmm_connects)" = "$c1$c2$c3" ] &&
   running vu1 && running vu2 && running vu3; then ok "vu1, vu2, vu3 kept their connections through the attack"
else not_ok "vu1, vu2, vu3 kept their connections through the attack"; fi
phase A 2 "after the attack: A->B,C"

# C restarts: pvnetd (the client) reconnects with backoff
tp_stop_proc C
if wait_for 10 eval '! running vu3'; then ok "C gone: vu3 no longer running"
else not_ok "C gone: vu3 no longer running"; fi
tp_start C "path=$S/vu3.sock,server=1,queues=2,mac=02:aa:00:00:00:0c" --rxq=2 --txq=2
if wait_for 30 running vu3; then ok "C restarted: pvnetd reconnected vu3 (vmm_connects=$(pv_field vu3 vmm_connects))"
else not_ok "C restarted: pvnetd reconnected vu3 within 30 s"; pvnet switch port-show vu3 | sed 's/^/# /'; fi
check "... vmm_connects is 2" bash -c "[ \"$(pv_field vu3 vmm_connects)\" = 2 ]"
tp C "set fwd rxonly"
phase B 2 "after C's restart: B->A,C"

# a PV guest on the same bridge pings B (testpmd icmpecho answers ARP and echo)
G="pvvu${ID}g"
cat >"$PV_TMP/g.cfg" <<CFG
name = "$G"
netns = "$G"
memory = 64
vif = [ 'mac=00:16:3e:0c:00:01,bridge=br0,ip=10.12.0.1/24' ]
CFG
check "create PV guest" pvnet create "$PV_TMP/g.cfg"
has_ip() { ip netns exec "$G" ip -o addr show eth0 2>/dev/null | grep -q 10.12.0.1; }
wait_for 20 has_ip
tp B "set fwd icmpecho"
tp B start
# the first answer (ARP, testpmd's forwarding starting) may take a while under load
guest_ping1() { in_guest "$G" ping -c 1 -W 1 10.12.0.9 >/dev/null 2>&1; }
wait_for 15 guest_ping1
if got=$(in_guest "$G" ping -c 5 -i 0.2 -W 2 10.12.0.9 2>&1) && echo "$got" | grep -q " 0% packet loss"; then
  ok "the PV guest pings testpmd B (icmpecho) through vu2: $(echo "$got" | grep -oE 'rtt.*')"
else not_ok "the PV guest pings testpmd B through vu2"; diag "$got"; fi
tp B stop

# pvnetd restart: the ports come back from the state dir with their options
for n in A B C; do tp_stop_proc $n; done
pvnet destroy "$G" >/dev/null 2>&1
pv_kill_daemon "$PV_PID"
pv_start || { not_ok "pvnetd restarts"; pv_done; exit 1; }
line=$(pvnet switch port-show vu3 2>&1 | head -1)
if echo "$line" | grep -q "mode=client queues=2 poll=usec"; then ok "after a restart vu3 is back: client, 2 queues, polling"
else not_ok "after a restart vu3 is back with its options"; diag "$line"; fi
check "... and vu1, vu2, vu4 too" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch list-ports br0 | grep -c '^vu[124]$' | grep -qx 3"
check "vu1 listens on its socket again" test -S "$S/vu1.sock"
pv_done
