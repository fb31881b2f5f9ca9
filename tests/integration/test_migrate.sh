#!/bin/bash
# Live migration of a PV guest between two hosts on one machine (docs/migration.md):
# host A and host B are two pvnetd, each in its own namespace with its own run
# and state dirs, joined by an underlay (a Linux bridge in a fourth namespace);
# their bridges are joined by VXLAN ports, and an outside client (a third
# namespace with a Linux VXLAN device on the same underlay) reaches the guest
# over the overlay. Asserts: a stream with the wrong key and a destination
# without the bridge are refused and the guest runs on at A untouched; the
# guest moves A -> B (live) -> A (--no-live) while the client pings it every 10 ms and an iperf3
# TCP stream runs to it: the iperf3 connection survives, the guest is listed on
# exactly one host after each move, `pvnet migrate` reports the rounds and the
# stop-and-copy time, and ping loss is reported.
source "$(dirname "$0")/lib.sh"
pv_init migrate
pv_need iperf3
ID=$(printf '%x' $(( $$ % 4096 )))
A=$PV_NS; B=mgB$ID; UL=mgU$ID; C=mgC$ID; G=mg${ID}g
RUN_A=$PV_RUN; RUN_B=$PV_TMP/runB; STATE_A=$PVNET_STATE_DIR; STATE_B=$PV_TMP/stateB
q() { "$@" >/dev/null 2>&1; }
pa() { "$PV_BIN/pvnet" --run-dir "$RUN_A" "$@"; }
pb() { "$PV_BIN/pvnet" --run-dir "$RUN_B" "$@"; }
head -c 64 /dev/urandom >"$PV_TMP/key"; head -c 64 /dev/urandom >"$PV_TMP/badkey"

for ns in "$B" "$UL" "$C"; do ip netns add "$ns"; pv_cleanup_add "ip netns del '$ns'"; ip -n "$ns" link set lo up; done
ip -n "$UL" link add ulbr type bridge; ip -n "$UL" link set ulbr up
n=1
for ns in "$A" "$B" "$C"; do
  ip link add "ul$n" netns "$UL" type veth peer name ul0 netns "$ns"
  ip -n "$UL" link set "ul$n" master ulbr up
  ip -n "$ns" addr add "10.99.$ID$n.$n/24" dev ul0 2>/dev/null || true
  n=$((n + 1))
done
# plain addresses (the ID is only in names)
ip -n "$A" addr flush dev ul0; ip -n "$A" addr add 10.99.0.1/24 dev ul0; ip -n "$A" link set ul0 up
ip -n "$B" addr flush dev ul0; ip -n "$B" addr add 10.99.0.2/24 dev ul0; ip -n "$B" link set ul0 up
ip -n "$C" addr flush dev ul0; ip -n "$C" addr add 10.99.0.3/24 dev ul0; ip -n "$C" link set ul0 up
ip -n "$C" link add vx0 type vxlan id 42 local 10.99.0.3 dstport 4789 dev ul0
bridge -n "$C" fdb append 00:00:00:00:00:00 dev vx0 dst 10.99.0.1
bridge -n "$C" fdb append 00:00:00:00:00:00 dev vx0 dst 10.99.0.2
ip -n "$C" addr add 10.50.0.1/24 dev vx0; ip -n "$C" link set vx0 up
# veth leaves TCP checksums to "the NIC"; pvnet's VXLAN port takes the inner frame as is
ip netns exec "$C" ethtool -K vx0 tx off >/dev/null 2>&1
ip netns exec "$C" ethtool -K ul0 tx off >/dev/null 2>&1

pv_start --migrate-key "$PV_TMP/key" --migrate-listen 10.99.0.1:7411 || { not_ok "pvnetd A started"; pv_done; exit 1; }
PID_A=$PV_PID
mkdir -p "$RUN_B" "$STATE_B"
PVNET_STATE_DIR=$STATE_B nsenter --net="/run/netns/$B" "$PV_BIN/pvnetd" --foreground --run-dir "$RUN_B" \
  --state-dir "$STATE_B" --log "$PV_TMP/pvnetdB.log" --migrate-key "$PV_TMP/key" \
  --migrate-listen 10.99.0.2:7411 &
PID_B=$!
pv_cleanup_add "PV_RUN='$RUN_B' PVNET_STATE_DIR='$STATE_B' pv_kill_daemon $PID_B"
wait_for 10 pb info || { not_ok "pvnetd B started"; pv_done; exit 1; }

for h in A B; do
  if [ $h = A ]; then p=pa; l=10.99.0.1; r=10.99.0.2; else p=pb; l=10.99.0.2; r=10.99.0.1; fi
  q $p switch add-br mgbr$ID
  $p switch add-port mgbr$ID vx0 --type vxlan --vni 42 --remote $r --remote 10.99.0.3 --local $l --dstport 4789 >/dev/null
done

# host A has a simnic NIC on the bridge (its wire a veth to nowhere: the overlay
# carries the traffic), host B none: the guest's vif is accelerated at Level 1
# on A, on the software path on B (with the reason), and accelerated again back on A
ip -n "$A" link add wA type veth peer name wA2
ip -n "$A" link set wA up; ip -n "$A" link set wA2 up
check "host A: nic add nic0 --plugin simnic" q pa nic add nic0 --plugin simnic --wire wA --bridge mgbr$ID
cat >"$PV_TMP/$G.cfg" <<CFG
name = "$G"
memory = 32
netns = "$G"
vif = [ 'bridge=mgbr$ID, ip=10.50.0.10/24, accel=simnic, level=1' ]
CFG
pv_cleanup_add "ip netns del '$G'"
pa create "$PV_TMP/$G.cfg" >/dev/null
listed() { "$1" list | awk -v n="$G" '$1 == n {f = 1} END {exit !f}'; }
answers() { ip netns exec "$C" ping -c 1 -W 1 10.50.0.10 >/dev/null 2>&1; }
check "guest answers the outside client over the overlay at A" wait_for 20 answers
check "at A its vif is accelerated: vif-list says simnic level 1 on nic0" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$RUN_A' vif-list $G | grep -q 'accel: simnic level 1 on NIC nic0'" 
GPID=$(sed -n "s/.*created domain .* '$G' .*guest pid \([0-9]*\).*/\1/p" "$PV_TMP/pvnetd.log" | tail -1)

# refusals: the guest runs on at A untouched
# wrong key: a third pvnetd-less client cannot inject; A's own migrate with a wrong-key
# destination is refused in the handshake
nsenter --net="/run/netns/$B" python3 - "$PV_TMP/badkey" <<'PY' >"$PV_TMP/inject.log" 2>&1
import socket,sys,struct,os
s=socket.create_connection(("10.99.0.2",7411),timeout=3)
h=s.recv(80)
s.sendall(h[:8]+struct.pack('<II',1,0)+os.urandom(32)+os.urandom(32))
print("answer", len(s.recv(80) or b''))
PY
check "an unauthenticated stream is refused (nothing after the handshake)" grep -q "answer 0" "$PV_TMP/inject.log"
check "the refusal is logged" grep -q "not authenticated" "$PV_TMP/pvnetdB.log"
# a peer that holds the key but sends a bad stream: refused, everything it made freed
peer() { nsenter --net="/run/netns/$A" python3 "$(dirname "$0")/migstream_peer.py" 10.99.0.2 7411 "$PV_TMP/key" "$(ls "$STATE_A"/domains/*.dom | head -1)" "$1" 2>&1; }
FDS0=$(ls /proc/$PID_B/fd | wc -l)
out=$(peer corrupt); diag "corrupt: $out"
check "a corrupt record is refused" bash -c "grep -q 'REFUSE.*bad tag' <<<'$out'"
out=$(peer replayed); diag "replayed: $out"
check "a record replayed from another session is refused" bash -c "grep -q '^REFUSE.*bad tag' <<<'$out'"
out=$(peer truncated); diag "truncated: $out"
check "a truncated stream is refused after its memory was made" bash -c "grep -q 'config: ACCEPT' <<<'$out'"
check "... and everything it allocated is freed (pvnetd B's fds back to $FDS0, no domain)" \
  wait_for 5 bash -c "[ \$(ls /proc/$PID_B/fd | wc -l) -le $FDS0 ] && ! '$PV_BIN/pvnet' --run-dir '$RUN_B' list | grep -q '^$G '"
check "the guest still answers at A after the bad streams" answers
q pb switch del-br mgbr$ID
out=$(pa migrate "$G" 10.99.0.2:7411 2>&1)
check "destination without the bridge refuses before the guest stops" \
  bash -c "grep -q 'no bridge' <<<'$out'"
check "after the refusal the guest is on A only" bash -c "'$PV_BIN/pvnet' --run-dir '$RUN_A' list | grep -q '^$G ' && ! '$PV_BIN/pvnet' --run-dir '$RUN_B' list | grep -q '^$G '"
check "and still answers" answers
q pb switch add-br mgbr$ID
pb switch add-port mgbr$ID vx0 --type vxlan --vni 42 --remote 10.99.0.1 --remote 10.99.0.3 --local 10.99.0.2 --dstport 4789 >/dev/null

# traffic during the moves: a 10 ms ping and an iperf3 TCP stream from the outside client
ip netns exec "$G" iperf3 -s -1 -p 5201 >"$PV_TMP/iperfs.log" 2>&1 &
wait_for 5 bash -c "ip netns exec '$G' ss -ltn | grep -q ':5201'"
ip netns exec "$C" iperf3 -c 10.50.0.10 -p 5201 -t 8 -b 20M >"$PV_TMP/iperf.log" 2>&1 &
IPERF=$!
ip netns exec "$C" ping -D -i 0.01 -c 700 -W 1 10.50.0.10 >"$PV_TMP/ping.log" 2>&1 &
PING=$!
sleep 1.5
out=$(pa migrate "$G" 10.99.0.2:7411 --verify 2>&1); echo "$out" | sed 's/^/# A->B: /'
check "A -> B: migrated, pages per round and stop-and-copy time reported" \
  bash -c "grep -q '^round 0: ' <<<'$out' && grep -q 'stop-and-copy.* ms' <<<'$out'"
check "A -> B --verify: B's copy of the memory is the source's (dirty tracking missed nothing)" \
  grep -q "the memory received is the source's" "$PV_TMP/pvnetdB.log"
check "A -> B: listed on B only" bash -c "'$PV_BIN/pvnet' --run-dir '$RUN_B' list | grep -q '^$G ' && ! '$PV_BIN/pvnet' --run-dir '$RUN_A' list | grep -q '^$G '"
check "A -> B: the same guest process resumed on B (pid $GPID)" \
  bash -c "kill -0 $GPID && grep -q 'resumed here (guest pid $GPID)' '$PV_TMP/pvnetdB.log'"
check "A -> B: the guest answers at B" wait_for 10 answers
check "A -> B: the accelerator was detached before the copy" bash -c "grep -q 'accelerator detached' <<<'$out'"
check "at B (no simnic NIC) the vif is on the software path, vif-list says why" \
  wait_for 5 bash -c "'$PV_BIN/pvnet' --run-dir '$RUN_B' vif-list $G | grep -q 'accel: software path: no simnic NIC on this host'" 
check "B announced the guest's MAC (RARP)" wait_for 5 grep -q "announced" "$PV_TMP/pvnetdB.log"
sleep 1.5
out=$(pb migrate "$G" 10.99.0.1:7411 --no-live 2>&1); echo "$out" | sed 's/^/# B->A: /'
check "B -> A --no-live: migrated in one stop-and-copy round" \
  bash -c "grep -q '^migrated domain' <<<'$out' && grep -q '^round 0 (stop-and-copy)' <<<'$out'"
check "B -> A: listed on A only" bash -c "'$PV_BIN/pvnet' --run-dir '$RUN_A' list | grep -q '^$G ' && ! '$PV_BIN/pvnet' --run-dir '$RUN_B' list | grep -q '^$G '"
check "B -> A: the guest answers at A" wait_for 10 answers
check "back at A the vif is accelerated again (simnic level 1 on nic0)" \
  wait_for 5 bash -c "'$PV_BIN/pvnet' --run-dir '$RUN_A' vif-list $G | grep -q 'accel: simnic level 1 on NIC nic0'" 
wait $IPERF; rc=$?
check "the iperf3 TCP connection survived both moves" test $rc = 0
diag "iperf3: $(grep -E 'receiver' "$PV_TMP/iperf.log" | tail -1)"
wait $PING
diag "ping -i 0.01 during A->B->A: $(grep -E 'transmitted' "$PV_TMP/ping.log")"
check "ping loss is reported" grep -q "packet loss" "$PV_TMP/ping.log"
# downtime as the client saw it: the gaps of more than 50 ms between two answers
gaps=$(awk '/bytes from/ {gsub(/[][]/, "", $1); if (p && $1 - p > 0.05) printf "%d ms ", ($1 - p) * 1000; p = $1}' "$PV_TMP/ping.log")
diag "gaps between answers (the moves' downtime as the client saw it): ${gaps:-none}"
# the source killed (SIGKILL) in the middle of a migration, whatever its phase,
# then restarted: exactly one copy of the guest runs (re-adopted at A, or at B
# if the switch-over was done), and it answers
pa migrate "$G" 10.99.0.2:7411 >"$PV_TMP/killed.log" 2>&1 &
MIG=$!
sleep 0.0$((RANDOM % 6 + 2))
kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null
wait "$MIG" 2>/dev/null
diag "the migration when A was killed: $(tail -1 "$PV_TMP/killed.log")"
pv_start --migrate-key "$PV_TMP/key" --migrate-listen 10.99.0.1:7411 || not_ok "pvnetd A restarted"
one_copy() {
  local n=0
  "$PV_BIN/pvnet" --run-dir "$RUN_A" list 2>/dev/null | grep -q "^$G " && n=$((n + 1))
  "$PV_BIN/pvnet" --run-dir "$RUN_B" list 2>/dev/null | grep -q "^$G " && n=$((n + 1))
  [ $n = 1 ] && answers
}
check "source killed mid-migration and restarted: exactly one copy runs and answers" wait_for 20 one_copy
diag "after the kill the guest is on $("$PV_BIN/pvnet" --run-dir "$RUN_A" list | grep -q "^$G " && echo A || echo B)"
check "... and one guest process, the same (pid $GPID)" bash -c "kill -0 $GPID && [ \$(pgrep -c -f '[p]vnet-guest.*--name $G') = 1 ]"
[ -n "${MIG_KEEP_LOGS:-}" ] && cp "$PV_TMP"/*.log "$PV_TMP"/run/*.log "$MIG_KEEP_LOGS"/ 2>/dev/null
pv_done
