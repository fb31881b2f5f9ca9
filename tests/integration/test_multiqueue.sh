#!/usr/bin/env bash
# Multi-queue vifs end to end: two guests with queues=2 vifs, pvnetd with two
# netback workers (each queue of a vif on its own worker).
#   (a) 8 UDP flows (distinct source ports, 300 numbered datagrams each, sent
#       interleaved and paced) from guest A to guest B: per flow, the sequence
#       numbers the receiver reads only go up (in order), and every datagram
#       arrives or is counted by a drop counter (switch, netback, the guests' kernels);
#   (b) the flows were spread: in each direction both queues carried packets
#       (the guests' per-queue counters, logged when the vif disconnects);
#   (c) TCP with 4 streams (iperf3 -P 4, 2 s) A -> B: every stream moved data,
#       and a reply path still works afterwards (B pings A).
. "$(dirname "$0")/lib.sh"
pv_init multiqueue
pv_need ping iperf3 python3 nsenter xenstore-read

ID=$(printf '%x' $(( $$ % 65536 )))
A=mqa$ID
B=mqb$ID
NFLOWS=8
PERFLOW=300

# pv_cfg's MACs are 00:16:3e + the pid's low 16 bits + a counter (ID is the same bits)
mkguest() {
  local name=$1 ip=$2
  pv_cfg "$name" "bridge=br$ID, ip=$ip/24, queues=2"
  pvnet create "$PV_TMP/$name.cfg" >/dev/null
}

if pv_start --workers 2; then ok "pvnetd starts with 2 workers"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
mkguest "$A" 10.93.0.1 && mkguest "$B" 10.93.0.2
check "guest A connects" wait_for 15 connected "$A"
check "guest B connects" wait_for 15 connected "$B"
nq() { pvnet vif-list "$(domid "$1")" 2>/dev/null | awk 'NR > 1 { print $5; exit }'; }
diag "vif-list A: $(pvnet vif-list "$(domid "$A")" | tail -n +2 | tr -s ' ')"
check "A's vif runs 2 queues" [ "$(nq "$A")" = 2 ]
check "B's vif runs 2 queues" [ "$(nq "$B")" = 2 ]
pings() { in_guest "$1" ping -q -c1 -W1 "$2" >/dev/null 2>&1; }
check "A pings B" wait_for 10 pings "$A" 10.93.0.2

# --- (a) flows in order ------------------------------------------------------
cat >"$PV_TMP/flows.py" <<'PY'
import socket, struct, sys, time
mode = sys.argv[1]
if mode == "rx":
    nflows, per, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE (root)
    s.bind(("10.93.0.2", 9000))
    open(out + ".ready", "w").close()
    seqs = {}
    s.settimeout(10.0)  # the sender starts within a few seconds
    got = 0
    while got < nflows * per:
        try:
            data, (ip, port) = s.recvfrom(2048)
        except socket.timeout:
            break
        flow, seq = struct.unpack("!II", data[:8])
        seqs.setdefault(flow, []).append(seq)
        got += 1
        s.settimeout(3.0)
    bad = lost = short = 0
    with open(out, "w") as f:
        for fl in range(nflows):
            l = seqs.get(fl, [])
            inorder = all(l[i] < l[i + 1] for i in range(len(l) - 1))
            whole = l == list(range(per))
            f.write("flow %d got %d in_order %d whole %d\n" % (fl, len(l), inorder, whole))
            bad += not inorder
            lost += per - len(l)
            short += len(l) < per * 99 // 100
        f.write("bad %d\nlost %d\nshort %d\n" % (bad, lost, short))
else:
    nflows, per = int(sys.argv[2]), int(sys.argv[3])
    socks = []
    for fl in range(nflows):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("10.93.0.1", 41000 + fl))
        s.connect(("10.93.0.2", 9000))
        socks.append(s)
    pad = b"x" * 200
    for seq in range(per):
        for fl in range(nflows):
            socks[fl].send(struct.pack("!II", fl, seq) + pad)
        if seq % 4 == 3:
            time.sleep(0.002)  # paced: ~16 k pkt/s, far below any queue's limit
PY
# every drop counter a lost datagram could be in: the switch's and netback's (all of
# stats --json's "drops"), B's UDP socket errors, B's eth0 RX and A's eth0 TX drops
counted() {
  local sw udp rx tx
  sw=$(pvnet stats --json | jget --sum '**.drops')
  udp=$(in_guest "$B" awk '/^Udp:/ && n++ {print $4 + $6}' /proc/net/snmp)
  rx=$(in_guest "$B" cat /sys/class/net/eth0/statistics/rx_dropped)
  tx=$(in_guest "$A" cat /sys/class/net/eth0/statistics/tx_dropped)
  echo $(( ${sw:-0} + ${udp:-0} + ${rx:-0} + ${tx:-0} ))
}
c0=$(counted)
in_guest "$B" python3 "$PV_TMP/flows.py" rx $NFLOWS $PERFLOW "$PV_TMP/flows.out" &
RXPID=$!
pv_cleanup_add "kill $RXPID 2>/dev/null"
wait_for 10 test -e "$PV_TMP/flows.out.ready"
in_guest "$A" python3 "$PV_TMP/flows.py" tx $NFLOWS $PERFLOW
wait "$RXPID"
sed 's/^/# /' "$PV_TMP/flows.out" 2>/dev/null
if ! grep -qx "lost 0" "$PV_TMP/flows.out" 2>/dev/null; then
  # where a datagram went: the guests' kernels, then the switch's drop counters
  for g in "$A" "$B"; do diag "$g: $(ip -n "$g" -s link show eth0 | tr -s ' \n' ' ')"; done
  diag "$(in_guest "$B" cat /proc/net/snmp | grep Udp: | tr -s ' \n' ' ')"
  pvnet stats 2>&1 | grep -v ' 0$' | sed 's/^/# /'
fi
# Order is asserted strictly. Completeness: every datagram arrives on a quiet machine;
# under heavy load a few may be dropped (once 6 of 2400), and each must then be
# counted somewhere with its reason: a loss no counter explains fails.
lost=$(awk '$1 == "lost" {print $2}' "$PV_TMP/flows.out" 2>/dev/null)
c1=$(counted)
check "$NFLOWS UDP flows over 2-queue vifs: each flow's datagrams arrive in order" \
  grep -qx "bad 0" "$PV_TMP/flows.out"
check "$NFLOWS UDP flows over 2-queue vifs: every datagram arrived or was counted as dropped (lost ${lost:-?}, drop counters +$(( c1 - c0 )))" \
  [ "${lost:-x}" -le $(( c1 - c0 )) ] 2>/dev/null

# --- (c) TCP, 4 streams ------------------------------------------------------
in_guest "$B" iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
SPID=$!
pv_cleanup_add "kill $SPID 2>/dev/null"
wait_for 5 sh -c "ip netns exec '$B' ss -Hltn 'sport = :5299' | grep -q ."
in_guest "$A" timeout 20 iperf3 -c 10.93.0.2 -p 5299 -P 4 -t 2 -J >"$PV_TMP/iperf.json" 2>&1
wait "$SPID" 2>/dev/null
streams=$(jget end.streams.*.receiver.bytes <"$PV_TMP/iperf.json" 2>/dev/null |
  awk '$1 > 0 { n++ } END { if (NR) print n + 0 }')
gbps=$(jget end.sum_received.bits_per_second <"$PV_TMP/iperf.json" 2>/dev/null |
  awk '{ printf "%.2f", $1 / 1e9 }')
[ -n "$streams" ] && streams="$streams $gbps"
diag "iperf3 -P 4: streams that moved data, Gb/s: ${streams:-none}"
check "TCP -P 4 over 2-queue vifs: all 4 streams moved data" [ "${streams%% *}" = 4 ]
check "B pings A after the TCP run" wait_for 5 pings "$B" 10.93.0.1

# --- (b) both queues used, each direction ------------------------------------
# netfront logs each queue's counters when its vif disconnects (queue_account)
pvnet shutdown --wait "$B" >/dev/null
pvnet shutdown --wait "$A" >/dev/null
qpkts() { # GUEST QUEUE tx|rx: that queue's packet count from the guest's console log
  sed -n "s/.* queue $2: tx \([0-9]*\) pkts .* rx \([0-9]*\) pkts .*/\1 \2/p" \
    "$PV_RUN/console-$1.log" 2>/dev/null | awk -v d="$3" '{ s += (d == "tx" ? $1 : $2) } END { print s + 0 }'
}
logged() { grep -q " queue 1: tx " "$PV_RUN/console-$1.log" 2>/dev/null; }
wait_for 10 logged "$A"; wait_for 10 logged "$B"
diag "A tx q0/q1 $(qpkts "$A" 0 tx)/$(qpkts "$A" 1 tx); B rx q0/q1 $(qpkts "$B" 0 rx)/$(qpkts "$B" 1 rx)"
both() { [ "$(qpkts "$1" 0 "$2")" -gt 0 ] && [ "$(qpkts "$1" 1 "$2")" -gt 0 ]; }
check "A sent on both of its TX queues" both "$A" tx
check "B received on both of its RX queues (netback spreads flows by hash)" both "$B" rx
pv_done
