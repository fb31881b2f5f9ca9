#!/usr/bin/env bash
# Capture without harm: `pvnet switch mirror` on a guest's vif port.
#   (a) a relative FILE is the user's (resolved against pvnet's cwd, not pvnetd's),
#       --filter 'icmp' keeps only ICMP, --snaplen 96 cuts every frame: tshark -r
#       counts exactly the echo requests and replies, nothing else, each <= 96 B;
#   (b) FILE `-` streams to stdout: `pvnet switch mirror P - --count 6 | tshark -r -`
#       ends by itself with exactly 6 frames;
#   (c) a reader that never reads (stdout into a pipe nobody drains): the mirror's
#       bounded queue drops and counts (mirror_queue_drops > 0), while A's ping to B
#       and an iperf3 between them go on, `pvnet list` answers within 1 s, and
#       mirror-stop returns within 1 s;
#   (d) a bad filter and a symlink as FILE are refused with a reason.
. "$(dirname "$0")/lib.sh"
pv_init mirror
pv_need ping tshark iperf3 nsenter xenstore-read

ID=$(printf '%x' $(( $$ % 65536 )))
A=mi${ID}a; B=mi${ID}b
MA=$(printf '00:16:3e:%02x:%02x:11' $(( 0x$ID >> 8 )) $(( 0x$ID & 255 )))
MB=$(printf '00:16:3e:%02x:%02x:12' $(( 0x$ID >> 8 )) $(( 0x$ID & 255 )))
IA=10.85.0.1; IB=10.85.0.2
q() { "$@" >/dev/null 2>&1; }
mkcfg() { pv_cfg "$1" "mac=$2, bridge=bm$ID, ip=$3/24"; } # NAME MAC IP4
mfield() { pvnet switch port-show "$PA" | sed -n "1s/.* $1=\([0-9]*\).*/\1/p"; }

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
mkcfg "$A" "$MA" "$IA"; mkcfg "$B" "$MB" "$IB"
pvnet create "$PV_TMP/$A.cfg" >/dev/null; pvnet create "$PV_TMP/$B.cfg" >/dev/null
if wait_for 10 connected "$A" && wait_for 10 connected "$B"; then
  ok "guests $A and $B connected"
else
  not_ok "guests connected"; pv_done; exit 1
fi
PA=vif$(domid "$A").0
check "ping A -> B" q wait_for 10 ip netns exec "$A" ping -c 1 -W 1 "$IB"

# --- (a) relative path, filter, snaplen ---------------------------------------------
mkdir -p "$PV_TMP/work"
check "mirror $PA rel.pcap --filter icmp --snaplen 96 (from $PV_TMP/work)" \
  bash -c "cd '$PV_TMP/work' && '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch mirror '$PA' rel.pcap --filter icmp --snaplen 96 >/dev/null"
check "the file is in the user's directory" test -s "$PV_TMP/work/rel.pcap"
# a second mirror on the port would cut the first one's capture off: refused while it runs
err=$(pvnet switch mirror "$PA" "$PV_TMP/work/second.pcap" 2>&1); rc=$?
check "a second mirror on $PA while the first runs is refused, saying to mirror-stop first" \
  bash -c "[ $rc = 1 ] && grep -q 'already has a running mirror' <<<\"\$1\" && grep -q 'mirror-stop $PA first' <<<\"\$1\" &&
    [ ! -e '$PV_TMP/work/second.pcap' ]" _ "$err"
ip -n "$A" neigh flush dev eth0 2>/dev/null   # ARP must happen (and be filtered out)
ip netns exec "$A" ping -c 5 -i 0.2 -s 400 -W 2 "$IB" >/dev/null
check "mirror-stop $PA" q pvnet switch mirror-stop "$PA"
n=$(tshark -r "$PV_TMP/work/rel.pcap" 2>/dev/null | wc -l)
icmp=$(tshark -r "$PV_TMP/work/rel.pcap" -Y icmp 2>/dev/null | wc -l)
big=$(tshark -r "$PV_TMP/work/rel.pcap" -Y 'frame.cap_len > 96' 2>/dev/null | wc -l)
full=$(tshark -r "$PV_TMP/work/rel.pcap" -Y 'frame.len >= 442' 2>/dev/null | wc -l)
check "the capture holds the 10 ICMP frames and nothing else ($icmp of $n)" [ "$n" = 10 -a "$icmp" = 10 ]
check "every frame cut to 96 bytes ($big longer), original length kept ($full of 10)" [ "$big" = 0 -a "$full" = 10 ]

check "a mirror that reached its --count may be replaced" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch mirror '$PA' '$PV_TMP/c1.pcap' --count 1 >/dev/null &&
    ip netns exec '$A' ping -c 2 -i 0.2 -W 1 '$IB' >/dev/null &&
    '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch port-show '$PA' | grep -q 'mirror=[^ ]*done' &&
    '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch mirror '$PA' '$PV_TMP/c2.pcap' --count 1 >/dev/null"
pvnet switch mirror-stop "$PA" >/dev/null 2>&1

# --- (b) `-`: to tshark through a pipe ----------------------------------------------
( "$PV_BIN/pvnet" --run-dir "$PV_RUN" switch mirror "$PA" - --count 6 --filter icmp 2>"$PV_TMP/b.err" |
  tshark -r - 2>/dev/null >"$PV_TMP/b.txt" ) &
bpid=$!
pv_cleanup_add "kill $bpid"
wait_for 5 bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch port-show '$PA' | head -1 | grep -q ' mirror='"
ip netns exec "$A" ping -c 5 -i 0.2 -W 2 "$IB" >/dev/null
if wait_for 10 bash -c "! kill -0 $bpid 2>/dev/null"; then
  ok "mirror - --count 6 | tshark -r - ends by itself"
else
  not_ok "mirror - --count 6 | tshark -r - ends by itself"
fi
n=$(grep -c ICMP "$PV_TMP/b.txt")
check "tshark read exactly 6 ICMP frames from the pipe ($n; pvnet said: $(head -1 "$PV_TMP/b.err"))" [ "$n" = 6 ]
pvnet switch mirror-stop "$PA" >/dev/null 2>&1
check "mirror - to a terminal is refused" bash -c "! script -qec \"'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch mirror '$PA' -\" /dev/null >/dev/null 2>&1"

# --- (c) a reader that never reads --------------------------------------------------
mkfifo "$PV_TMP/stuck"
exec 7<>"$PV_TMP/stuck"          # held open, never read: the pipe fills at 64 KiB
"$PV_BIN/pvnet" --run-dir "$PV_RUN" switch mirror "$PA" - >"$PV_TMP/stuck" 2>/dev/null &
cpid=$!
pv_cleanup_add "kill $cpid"
wait_for 5 bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch port-show '$PA' | head -1 | grep -q ' mirror='"
ip netns exec "$B" iperf3 -s -D -1 -p 5501 --logfile "$PV_TMP/iperf-s.log"; sleep 0.5
ip netns exec "$A" iperf3 -c "$IB" -p 5501 -t 3 -f m >"$PV_TMP/iperf.txt" 2>&1 &
ipid=$!
ip netns exec "$A" ping -c 40 -i 0.1 -W 1 "$IB" >"$PV_TMP/ping.txt" 2>&1 &
ppid=$!
worst=0
while kill -0 "$ppid" 2>/dev/null; do
  t0=$(date +%s%N); pvnet list >/dev/null; t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 )); [ "$ms" -gt "$worst" ] && worst=$ms
  sleep 0.2
done
wait "$ipid"; irc=$?
loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$PV_TMP/ping.txt")
bw=$(awk '/receiver/ {print $(NF-2), $(NF-1)}' "$PV_TMP/iperf.txt" | tail -1)
diag "stuck reader: ping $(grep 'packet loss' "$PV_TMP/ping.txt"); iperf3 ${bw:-?}"
diag "$(pvnet switch port-show "$PA" | head -1 | grep -o 'mirror=.*' | cut -c1-200)"
check "A's ping to B went on (loss ${loss:-?}% <= 5%)" awk -v l="${loss:-100}" 'BEGIN { exit !(l <= 5) }'
check "iperf3 A -> B completed (${bw:-failed})" [ "$irc" = 0 -a -n "$bw" ]
check "pvnet list answered within 1 s (worst ${worst} ms)" [ "$worst" -lt 1000 ]
drops=$(mfield mirror_queue_drops)
check "the mirror's bounded queue dropped and counted (mirror_queue_drops=$drops)" [ "${drops:-0}" -gt 0 ]
t0=$(date +%s%N)
check "mirror-stop with the reader stuck" q pvnet switch mirror-stop "$PA"
t1=$(date +%s%N)
check "mirror-stop returned within 1 s ($(( (t1 - t0) / 1000000 )) ms)" [ $(( (t1 - t0) / 1000000 )) -lt 1000 ]
kill "$cpid" 2>/dev/null; exec 7>&-

# --- (d) refusals -----------------------------------------------------------------------
err=$(pvnet switch mirror "$PA" "$PV_TMP/x.pcap" --filter 'ether src nonsense and (' 2>&1) &&
  not_ok "a bad filter is refused" || check "a bad filter is refused, naming it ($err)" grep -q "bad filter" <<<"$err"
ln -s "$PV_TMP/victim" "$PV_TMP/link.pcap"
err=$(pvnet switch mirror "$PA" "$PV_TMP/link.pcap" 2>&1) &&
  not_ok "a symlink is not followed" || check "a symlink is not followed ($err)" [ ! -e "$PV_TMP/victim" ]
check "after it all, A still pings B" q ip netns exec "$A" ping -c 2 -i 0.2 -W 1 "$IB"
pvnet destroy "$A" >/dev/null; pvnet destroy "$B" >/dev/null
pv_done
