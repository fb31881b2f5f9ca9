#!/usr/bin/env bash
# pvnetd restarts without taking the guests down (docs/operations.md, "Restart
# and upgrade"). Two PV guests ping each other every 10 ms (ping -D) and an
# iperf3 runs between them; pvnetd is stopped with SIGKILL, then SIGTERM, then
# replaced by another binary file (an upgrade), each time started again on the
# same run and state dirs. After each restart: `pvnet list` shows both guests
# with their ids, the guest processes are the same, the first ping reply comes
# less than 1 s after the new pvnetd answers (the gap across the restart is
# printed), and at the end the same iperf3 connection finishes (exit 0) having
# moved bytes after the last restart. Also: a corrupt domain record is named in
# the log and the others are still adopted; a process that is not the guest
# cannot take a domain over the adopt socket; a guest created after the restarts
# gets a new domid and connects; a guest killed while no pvnetd runs has its
# record and namespace removed at the next start; `pvnet shutdown --all --wait`
# stops every guest.
. "$(dirname "$0")/lib.sh"
pv_init restart
pv_need ping iperf3 python3 nsenter xenstore-read timeout

ID=$(printf '%x' $(( $$ % 4096 )))
G1=rs${ID}a; G2=rs${ID}b; G3=rs${ID}c
q() { "$@" >/dev/null 2>&1; }

mkguest() { # NAME IP: 32 MiB (the foreign claim below sizes its memfds to it)
  PV_MEMORY=32 pv_cfg "$1" "bridge=rsbr$ID, ip=$2/24"
  pvnet create "$PV_TMP/$1.cfg" >/dev/null
}
gpid() { xenstore-read "/local/domain/$(domid "$1")/data/pvnet-guest" 2>/dev/null | awk '{print $3}'; }
now() { date +%s.%N; }
# gone PID: no such process, or a zombie nobody reaped yet (its parent was pvnetd)
gone() { ! [ -e "/proc/$1" ] || [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" = Z ]; }
both_connected() { connected "$G1" && connected "$G2"; }
# replied_after T: ping.log has a reply stamped after T
replied_after() { awk -v t="$1" '/bytes from/ {gsub(/[][]/, "", $1); if ($1 + 0 > t) f = 1} END {exit !f}' "$PV_TMP/ping.log"; }
same_ids() { [ "$(domid "$G1") $(domid "$G2")" = "$ID1 $ID2" ]; }

# start_daemon BIN: pvnetd (BIN) in the test's dom0 namespace on the same dirs
start_daemon() {
  nsenter --net="/run/netns/$PV_NS" "$1" --foreground --run-dir "$PV_RUN" \
    --guest-bin "$PV_BIN/pvnet-guest" --log "$PV_TMP/pvnetd.log" &
  PV_PID=$!
  pv_cleanup_add "pv_kill_daemon $PV_PID"
  wait_for 10 q pvnet info
}

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
export XENSTORED_PATH="$PV_RUN/xenstored"
mkguest "$G1" 10.93.0.1 && mkguest "$G2" 10.93.0.2 || { not_ok "two guests created"; pv_done; exit 1; }
if wait_for 15 connected "$G1" && wait_for 15 connected "$G2" &&
   wait_for 10 q in_guest "$G1" ping -c 1 -W 1 10.93.0.2; then
  ok "two guests connected and pinging"
else
  not_ok "two guests connected and pinging"; pv_done; exit 1
fi
ID1=$(domid "$G1"); ID2=$(domid "$G2"); P1=$(gpid "$G1"); P2=$(gpid "$G2")
ifindex() { ip -n "$1" -o link show eth0 2>/dev/null | cut -d: -f1; }
IF1=$(ifindex "$G1"); IF2=$(ifindex "$G2")
diag "$G1 domid $ID1 pid $P1, $G2 domid $ID2 pid $P2"
check "each domain has a record in the state dir" \
  test -s "$PVNET_STATE_DIR/domains/$ID1.dom" -a -s "$PVNET_STATE_DIR/domains/$ID2.dom"

# a second vif on each, hot-plugged: the records follow network-attach
pvnet network-attach "$G1" "bridge=rsbr$ID, ip=10.94.0.1/24" >/dev/null &&
  pvnet network-attach "$G2" "bridge=rsbr$ID, ip=10.94.0.2/24" >/dev/null &&
  wait_for 10 q in_guest "$G1" ping -c 1 -W 1 10.94.0.2
HP1=$(ip -n "$G1" -o link show eth1 2>/dev/null | cut -d: -f1)
check "a second vif network-attach'ed to each guest passes traffic (eth1 ifindex $HP1)" test -n "$HP1"

# the traffic that must survive: a 10 ms ping and one iperf3 connection (bounded)
ip netns exec "$G1" ping -D -n -i 0.01 -W 1 -w 40 10.93.0.2 >"$PV_TMP/ping.log" 2>&1 &
PING=$!; pv_cleanup_add "kill $PING"
ip netns exec "$G2" timeout 60 iperf3 -s -1 -B 10.93.0.2 -p 5201 >/dev/null 2>&1 &
SRV=$!; pv_cleanup_add "kill $SRV"
wait_for 5 bash -c "ip netns exec '$G2' ss -ltn | grep -q ':5201 '"
T_IPERF=$(now)
ip netns exec "$G1" timeout 60 iperf3 -c 10.93.0.2 -p 5201 -t 20 -b 20M -i 1 -J >"$PV_TMP/iperf.json" 2>&1 &
CLI=$!; pv_cleanup_add "kill $CLI"
sleep 2

# gap T_DOWN T_UP: the largest gap between consecutive replies from T_DOWN (pvnetd
# stopped) to the first reply after T_UP (the new pvnetd started), and how long
# after T_UP that first reply came (seconds)
gap() {
  python3 - "$PV_TMP/ping.log" "$1" "$2" <<'PY'
import re, sys
ts = [float(m.group(1)) for m in (re.match(r'\[(\d+\.\d+)\] \d+ bytes from', l) for l in open(sys.argv[1])) if m]
down, up = float(sys.argv[2]), float(sys.argv[3])
first = [t for t in ts if t > up]
if not first or not [t for t in ts if t <= down]:
    print("none none"); sys.exit(0)
# the largest gap between consecutive replies from the stop to the first reply
# after the new pvnetd started
g = max(b - a for a, b in zip(ts, ts[1:]) if down < b <= first[0])
print("%.3f %.3f" % (g, first[0] - up))
PY
}

# restart KIND: stops pvnetd (KILL, TERM or UPGRADE: TERM, then another binary)
FIGS=""
restart() {
  local kind=$1 bin="$PV_BIN/pvnetd" tdown tup g f r
  if [ "$kind" = UPGRADE ]; then cp "$PV_BIN/pvnetd" "$PV_TMP/pvnetd-new"; bin="$PV_TMP/pvnetd-new"; fi
  tdown=$(now)
  if [ "$kind" = KILL ]; then kill -KILL "$PV_PID"; else kill -TERM "$PV_PID"; fi
  wait "$PV_PID" 2>/dev/null
  tup=$(now) # the new pvnetd starts: traffic must be back within 1 s of this
  if ! start_daemon "$bin"; then not_ok "$kind: pvnetd starts again"; return 1; fi
  ok "$kind: pvnetd starts again on the same run and state dirs"
  check "$kind: pvnet list shows both guests with the same ids" wait_for 3 same_ids
  # the guest re-publishes data/pvnet-guest once its store connection is back
  check "$kind: the guest processes are the same (pids $P1 $P2)" \
    wait_for 5 bash -c "kill -0 $P1 && kill -0 $P2 && [ \"\$(xenstore-read /local/domain/$ID1/data/pvnet-guest 2>/dev/null | awk '{print \$3}')\" = $P1 ]"
  check "$kind: both vifs connected again" wait_for 5 both_connected
  check "$kind: the guests' eth0 are the same TAP devices (ifindex $IF1, $IF2)" \
    test "$(ifindex "$G1") $(ifindex "$G2")" = "$IF1 $IF2"
  wait_for 5 replied_after "$tup"
  read -r g f <<<"$(gap "$tdown" "$tup")"
  if [ "$f" != none ] && num "$f" '<' 1.0; then
    ok "$kind: pings answered again ${f}s after the new pvnetd started (gap across the restart ${g}s)"
  else
    not_ok "$kind: pings answered again within 1 s of the new pvnetd (gap $g, after up $f)"
  fi
  FIGS="$FIGS $kind=${g}s"
  r=$(grep -c "re-adopted (guest pid" "$PV_TMP/pvnetd.log")
  diag "$kind: gap ${g}s, first reply ${f}s after the new pvnetd started; re-adoptions logged so far: $r"
  T_LAST_UP=$tup
  sleep 1.5
}

restart KILL
# a corrupt record and a record whose guest is gone, before the next start
printf 'version 1\ndomid 77\nname x\npid zz\n' >"$PVNET_STATE_DIR/domains/77.dom"
printf '# x\nversion 1\ndomid 78\nname gone\npid 999999\nstart 5\nmemory 32\nfile -\nconfig 41\nend\n' \
  >"$PVNET_STATE_DIR/domains/78.dom"
restart TERM
check "TERM: the corrupt record is named in the log, the file left alone" \
  bash -c "grep -q 'domain record .*77.dom: line 4: bad pid' '$PV_TMP/pvnetd.log' && test -f '$PVNET_STATE_DIR/domains/77.dom'"
check "TERM: the record of a guest that is gone is removed with a log line" \
  bash -c "grep -q \"domain 78 'gone': its guest (pid 999999) is gone\" '$PV_TMP/pvnetd.log' && ! test -e '$PVNET_STATE_DIR/domains/78.dom'"
rm -f "$PVNET_STATE_DIR/domains/77.dom"
restart UPGRADE

# a process that is not the guest claims domain ID1 with memfds of the right size
out=$(python3 - "$PV_RUN/adopt.sock" "$ID1" <<'PY' 2>&1
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
fds = []
for size in (32 << 20, 32 * 4096):
    fd = os.memfd_create("x", os.MFD_ALLOW_SEALING); os.ftruncate(fd, size); fds.append(fd)
hdr = struct.pack("<IHHIiI44x", 0x43485650, 1, 64, 1, 0, 2)
args = struct.pack("<HHiQIIII", int(sys.argv[2]), 0, 0, 32 << 20, 32, 0, 0, 0)
msg = hdr + args + b"\0" * (256 - len(hdr) - len(args))
socket.send_fds(s, [msg], fds)
r = s.recv(256)
print("ret", struct.unpack_from("<i", r, 12)[0] if len(r) >= 16 else "eof")
PY
)
check "a foreign process cannot claim domain $ID1 on the adopt socket ($out)" \
  bash -c "[ '$out' = 'ret -1' ] && [ \"\$('$PV_BIN/pvnet' --run-dir '$PV_RUN' list | awk '\$1==\"$G1\"{print \$2}')\" = $ID1 ] &&
           ip netns exec $G1 ping -c 1 -W 1 10.93.0.2 >/dev/null"

check "the network-attach'ed vifs are back after the restarts: the same eth1, pings over it" \
  bash -c "[ \"\$(ip -n $G1 -o link show eth1 | cut -d: -f1)\" = '$HP1' ] && ip netns exec $G1 ping -c 1 -W 1 10.94.0.2 >/dev/null &&
           '$PV_BIN/pvnet' --run-dir '$PV_RUN' network-list $G1 | grep -c '^ *1 ' >/dev/null"

# the iperf3 connection started before the restarts finishes
if wait "$CLI"; then
  # the bytes of the intervals that started after the last restart
  bytes=$(paste <(jget intervals.*.sum.start <"$PV_TMP/iperf.json") <(jget intervals.*.sum.bytes <"$PV_TMP/iperf.json") |
    awk -v off="$(awk -v a="$T_LAST_UP" -v b="$T_IPERF" 'BEGIN { printf "%.9f", a - b }')" '$1 >= off + 0 { s += $2 } END { printf "%.0f", s }')
  if [ "${bytes:-0}" -gt 0 ]; then ok "the same iperf3 connection carries on: exit 0, $bytes bytes after the last restart"
  else not_ok "iperf3 moved bytes after the last restart (got '$bytes')"; fi
else
  not_ok "the same iperf3 connection carries on (client exit status)"; tail -n 5 "$PV_TMP/iperf.json" | sed 's/^/# /'
fi
kill "$PING" 2>/dev/null; wait "$PING" 2>/dev/null
diag "ping gap across each restart (pvnetd down and up again):$FIGS"

# a new guest after the restarts: a fresh domid, connected, reaches the others
mkguest "$G3" 10.93.0.3
ID3=$(domid "$G3")
check "a guest created after the restarts gets a new domid ($ID3, not $ID1/$ID2) and connects" \
  bash -c "[ -n '$ID3' ] && [ '$ID3' != $ID1 ] && [ '$ID3' != $ID2 ]" 
check "the new guest reaches an adopted one" wait_for 10 q in_guest "$G3" ping -c 1 -W 1 10.93.0.1

# a guest killed while no pvnetd runs: its record and namespace are cleaned up at start
P3=$(gpid "$G3")
kill -KILL "$PV_PID"; wait "$PV_PID" 2>/dev/null
kill -KILL "$P3"; wait_for 5 gone "$P3"
start_daemon "$PV_BIN/pvnetd"
check "a guest killed while pvnetd was down: its record removed with a log line, its namespace removed" \
  bash -c "grep -q \"domain $ID3 '$G3': its guest (pid $P3) is gone\" '$PV_TMP/pvnetd.log' &&
           grep -q 'removed network namespace $G3 left by domain $ID3' '$PV_TMP/pvnetd.log' &&
           ! test -e '$PVNET_STATE_DIR/domains/$ID3.dom' && ! test -e '/run/netns/$G3'"
only_two() { [ -z "$(domid "$G3")" ] && same_ids; }
check "... it is not listed, the other two are" wait_for 3 only_two

# pvnet shutdown --all --wait stops every guest
all_stopped() {
  pvnet shutdown --all --wait >/dev/null &&
    [ -z "$(pvnet list | awk 'NR > 1 && $1 != "Domain-0"')" ] &&
    gone "$P1" && gone "$P2" && ! ls "$PVNET_STATE_DIR/domains/" | grep -q dom
}
check "pvnet shutdown --all --wait: no domain left, the guests' processes and records gone" all_stopped
check "no sanitizer report in the guests' consoles (ASan builds: PVNET_BUILD=build-asan)" \
  bash -c "! grep -l 'AddressSanitizer\|LeakSanitizer\|runtime error' '$PV_RUN'/console-*.log"
check "their namespaces are removed" bash -c "! ip netns list | grep -Eq '^($G1|$G2|$G3)( |\$)'"

# An orphan: pvnetd killed and its run dir removed for good (a harness's rm -rf, a
# host that will never start pvnetd there again). The guest waits while the run dir
# exists (a restart keeps or recreates it), and exits once it has been gone for
# PVNET_GUEST_ORPHAN_S (60 s by default, 2 here, inherited from pvnetd).
G4=rs${ID}d
kill -TERM "$PV_PID"; wait "$PV_PID" 2>/dev/null
PVNET_GUEST_ORPHAN_S=2 start_daemon "$PV_BIN/pvnetd"
mkguest "$G4" 10.93.0.4
wait_for 15 connected "$G4"
P4=$(gpid "$G4")
kill -KILL "$PV_PID"; wait "$PV_PID" 2>/dev/null
sleep 4 # twice the orphan time: the run dir is still there, so the guest must wait
check "a guest whose pvnetd is gone but whose run dir remains keeps waiting to be adopted" \
  bash -c "[ -n '$P4' ] && ! { $(declare -f gone); gone '$P4'; }"
mv "$PV_RUN" "$PV_RUN.gone"; pv_cleanup_add "rm -rf '$PV_RUN.gone'"
t0=$(now)
check "once the run dir has been gone for PVNET_GUEST_ORPHAN_S the guest exits" wait_for 10 gone "$P4"
diag "orphan exit after $(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}') s (orphan time 2 s)"
mv "$PV_RUN.gone" "$PV_RUN"
pv_done
