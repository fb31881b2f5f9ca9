#!/usr/bin/env bash
# pvnetd restarts keep HVM guests too (docs/operations.md, "Restart and
# upgrade"). An HVM guest (QEMU, its virtio-net on a vhost-user port of bridge
# br0) pings a PV guest every second from inside (busybox ping: its seq= numbers
# run on as long as the guest is not rebooted), and the PV guest pings it every
# 10 ms (ping -D). pvnetd is SIGKILLed and started again, then SIGTERMed and
# started again on the same run and state dirs. After each: QEMU is the same
# process (pid and start time), the guest was not rebooted (one PVNET-READY on
# its console, its own ping's seq= goes on past where it was), the 10 ms ping is
# answered again and the largest gap between its replies is under 1 s (QEMU's
# vhost-user chardev is the server, the new pvnetd connects at once; the gap is
# printed), `pvnet list` shows it once
# with its domid and vif-list shows its vif Connected. A SIGTERMed pvnetd leaves
# QEMU running. A garbled HVM record and a hostile one (a live process that is not
# QEMU, a QMP path pointing at pvnetd's own store socket) are named in the log and
# skipped, the process and the socket untouched; so is a record naming a live
# process whose command line is not the domain's QEMU. `pvnet destroy` then removes
# everything (QEMU, record, sockets, port). Last, a record whose vhost-user role
# is not its QEMU's (a record of an older pvnetd says the ports listen) is refused,
# QEMU and its socket untouched; then a QEMU killed while no pvnetd runs: its
# record and stale sockets are removed at the next start.
. "$(dirname "$0")/lib.sh"
pv_init restart_hvm
pv_need qemu-system-x86_64 ping python3 nsenter timeout

IMG="$PV_BUILD/guest"
if ! "$PV_ROOT/scripts/guest-image.sh" "$IMG" >"$PV_TMP/image.log" 2>&1; then
  skip "test_restart_hvm" "guest image not buildable: $(tail -n1 "$PV_TMP/image.log")"
  pv_done; exit 0
fi
# this test is about restarts: no KVM boot probe (6 s) unless the caller asks
export PVNET_HVM_ACCEL=${PVNET_HVM_ACCEL:-tcg}

ID=$(printf '%x' $(( $$ % 4096 )))
PVNS="rh${ID}pv"; HV=rh${ID}h
pv_cleanup_add "ip netns del '$PVNS'"
cat >"$PV_TMP/pv.cfg" <<CFG
name = "rh${ID}p"
netns = "$PVNS"
memory = 32
vif = [ 'mac=00:16:3e:0a:00:01,bridge=br0,ip=10.96.0.1/24' ]
CFG
cat >"$PV_TMP/hvm.cfg" <<CFG
name = "$HV"
type = "hvm"
kernel = "$IMG/vmlinuz"
ramdisk = "$IMG/initramfs.gz"
memory = 256
cmdline = "pvnet.cmd=ping,-i,1,10.96.0.1"
vif = [ 'mac=52:54:00:0a:00:03,bridge=br0,model=virtio,ip=10.96.0.3/24' ]
CFG

q() { "$@" >/dev/null 2>&1; }
now() { date +%s.%N; }
gone() { ! [ -e "/proc/$1" ] || [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" = Z ]; }
starttime() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
start_daemon() {
  nsenter --net="/run/netns/$PV_NS" "$PV_BIN/pvnetd" --foreground --run-dir "$PV_RUN" \
    --guest-bin "$PV_BIN/pvnet-guest" --log "$PV_TMP/pvnetd.log" &
  PV_PID=$!
  pv_cleanup_add "pv_kill_daemon $PV_PID"
  wait_for 10 q pvnet info
}
CON="$PV_RUN/console-$HV.log"
# the highest seq= of the guest's own ping on its console, and how often it booted
guest_seq() { grep -o 'seq=[0-9]*' "$CON" 2>/dev/null | tail -n1 | cut -d= -f2; }
boots() { grep -c PVNET-READY "$CON" 2>/dev/null; }
listed_once() { [ "$(pvnet list | awk -v n="$HV" '$1 == n' | wc -l)" = 1 ] && [ "$(domid "$HV")" = "$HID" ]; }
vif_up() { pvnet vif-list "$HV" 2>/dev/null | grep -qE "^0 +vif$HID\.0 +52:54:00:0a:00:03 +Connected "; }
replied_after() { awk -v t="$1" '/bytes from/ {gsub(/[][]/, "", $1); if ($1 + 0 > t) f = 1} END {exit !f}' "$PV_TMP/ping.log"; }
seq_after() { local s; s=$(guest_seq); [ -n "$s" ] && [ "$s" -gt "$1" ]; }
# gap T_DOWN T_UP: the largest gap between replies from the stop to the first reply
# after the new pvnetd started, and how long after T_UP that reply came (seconds)
gap() {
  python3 - "$PV_TMP/ping.log" "$1" "$2" <<'PY'
import re, sys
ts = [float(m.group(1)) for m in (re.match(r'\[(\d+\.\d+)\] \d+ bytes from', l) for l in open(sys.argv[1])) if m]
down, up = float(sys.argv[2]), float(sys.argv[3])
first = [t for t in ts if t > up]
if not first or not [t for t in ts if t <= down]:
    print("none none"); sys.exit(0)
g = max(b - a for a, b in zip(ts, ts[1:]) if down < b <= first[0])
print("%.3f %.3f" % (g, first[0] - up))
PY
}

if start_daemon; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
check "create the PV guest" q pvnet create "$PV_TMP/pv.cfg"
wait_for 15 q ip -n "$PVNS" -o addr show eth0
T0=$(now)
if ! out=$(pvnet create "$PV_TMP/hvm.cfg" 2>&1); then
  not_ok "create the HVM guest"; diag "$out"; pv_done; exit 1
fi
HID=$(domid "$HV")
REC="$PVNET_STATE_DIR/domains/$HID.dom"
QPID=$(awk '$1 == "pid" {print $2}' "$REC" 2>/dev/null)
QSTART=$(starttime "$QPID")
check "the HVM domain $HID has a record: type hvm, QEMU's pid $QPID, its QMP socket, vhost client" \
  bash -c "grep -qx 'type hvm' '$REC' && grep -qx 'qmp $PV_RUN/qmp-$HID.sock' '$REC' && [ -n '$QPID' ] &&
           grep -qx 'vhost client' '$REC' && grep -q -- '$PV_RUN/qmp-$HID.sock' /proc/$QPID/cmdline &&
           tr '\\0' '\\n' </proc/$QPID/cmdline | grep -qx 'socket,id=vhu0,path=$PV_RUN/vhu-$HID.0.sock,server=on,wait=off'"
if wait_for 120 grep -q PVNET-READY "$CON" && wait_for 20 seq_after 0; then
  ok "the HVM guest booted ($(awk -v a="$T0" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}') s) and pings the PV guest"
else
  not_ok "the HVM guest booted and pings the PV guest"; tail -n 20 "$CON" | sed 's/^/# /'; pv_done; exit 1
fi
ip netns exec "$PVNS" ping -D -n -i 0.01 -W 1 -w 100 10.96.0.3 >"$PV_TMP/ping.log" 2>&1 &
PING=$!; pv_cleanup_add "kill $PING"
check "the PV guest's 10 ms ping is answered" wait_for 10 replied_after "$T0"

# where the gap goes: the stop signal -> the old pvnetd gone -> the new one started
# -> it answers `pvnet info` -> vif<HID>.0's queues running again and the PV
# guest's vif connected again (the log) -> the first ping reply (seconds from the
# signal)
phases() {
  python3 - "$PV_TMP/ping.log" "$PV_TMP/pvnetd.log" "vif$HID.0" "vif$(domid "rh${ID}p").0" "$@" <<'PY'
import re, sys, datetime
ping, log, port, pvif = sys.argv[1:5]
down, gone, up, ready = map(float, sys.argv[5:9])
def ts(l):
    m = re.match(r'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)([+-]\d\d:\d\d)', l)
    return datetime.datetime.fromisoformat(m.group(1) + m.group(2)).timestamp() if m else None
lines = open(log, errors='replace').readlines()
run = [t for t in (ts(l) for l in lines if port + ': queues running' in l) if t and t > up]
con = [t for t in (ts(l) for l in lines if pvif + ': connected' in l) if t and t > up]
rep = [float(m.group(1)) for m in (re.match(r'\[(\d+\.\d+)\] \d+ bytes from', l) for l in open(ping)) if m]
rep = [t for t in rep if t > up]
f = lambda t: "%.3f" % (t - down)
print("exited +%s, started +%s, serving +%s, HVM queues running +%s, PV vif connected +%s, "
      "first reply +%s" % (f(gone), f(up), f(ready), f(run[0]) if run else "?",
                           f(con[0]) if con else "?", f(rep[0]) if rep else "?"))
PY
}

FIGS=""
restart() { # KILL | TERM
  local kind=$1 tdown tgone tup tready seq0 g f
  [ "$kind" = TERM ] && [ -n "${HOSTILE:-}" ] && eval "$HOSTILE"
  seq0=$(guest_seq)
  tdown=$(now)
  kill -"$kind" "$PV_PID"; wait "$PV_PID" 2>/dev/null
  tgone=$(now)
  tup=$(now)
  if ! start_daemon; then not_ok "$kind: pvnetd starts again"; return 1; fi
  tready=$(now)
  check "$kind: QEMU (pid $QPID) still runs (it ran on with pvnetd gone)" \
    bash -c "[ '$(starttime "$QPID")' = '$QSTART' ]"
  ok "$kind: pvnetd starts again on the same run and state dirs"
  check "$kind: pvnet list shows $HV once, with its domid $HID" wait_for 3 listed_once
  check "$kind: the same QEMU process (pid $QPID, start time $QSTART)" \
    test "$(starttime "$QPID")" = "$QSTART"
  check "$kind: QEMU reconnected: vif-list shows vif$HID.0 Connected" wait_for 10 vif_up
  if wait_for 10 replied_after "$tup"; then
    read -r g f <<<"$(gap "$tdown" "$tup")"
    FIGS="$FIGS $kind=${g}s(+${f}s)"
    diag "$kind: $(phases "$tdown" "$tgone" "$tup" "$tready")"
    if [ "$g" != none ] && awk -v g="$g" 'BEGIN {exit !(g < 1.0)}'; then
      ok "$kind: the 10 ms ping is answered again ${f}s after the new pvnetd started, largest gap ${g}s < 1 s"
    else
      not_ok "$kind: the 10 ms ping's largest gap is under 1 s (gap ${g}s, first reply +${f}s)"
      grep -E "vif$HID\.0|adopt" "$PV_TMP/pvnetd.log" | tail -n 12 | sed 's/^/# /'
    fi
  else
    not_ok "$kind: the 10 ms ping is answered again within 10 s"
  fi
  check "$kind: the guest was not rebooted: its own ping goes on past seq=$seq0, one boot on its console" \
    bash -c "$(declare -f guest_seq seq_after wait_for); CON='$CON'; wait_for 10 seq_after '$seq0' && [ \"\$(grep -c PVNET-READY '$CON')\" = 1 ]"
}

restart KILL
# for the next start (written before the stop, which pvnetd does not read while it
# runs): a garbled HVM record, and a hostile one naming a live process that is not
# QEMU, with pvnetd's own store socket as its QMP socket
sleep 300 & DECOY=$!; pv_cleanup_add "kill $DECOY"
HOSTILE="write_hostile"
write_hostile() {
  printf 'version 1\ndomid 81\nname junk\npid 5\nstart 1\nmemory 64\nfile -\ntype hvm\nconfig 41\nend\n' \
    >"$PVNET_STATE_DIR/domains/81.dom"
  python3 - "$PVNET_STATE_DIR/domains" "$DECOY" "$(starttime "$DECOY")" "$PV_RUN" <<'PY'
import sys
d, pid, start, run = sys.argv[1:]
for domid, name, qmp in ((82, "evil", run + "/xenstored"), (83, "evil2", run + "/qmp-83.sock")):
    cfg = 'name = "%s"\ntype = "hvm"\nkernel = "/bin/sh"\nmemory = 64\n' % name
    open("%s/%d.dom" % (d, domid), "w").write(
        "version 1\ndomid %d\nname %s\npid %s\nstart %s\nmemory 64\nfile -\ntype hvm\n"
        "qmp %s\naccel tcg\nconfig %s\nend\n" % (domid, name, pid, start, qmp, cfg.encode().hex()))
PY
}
restart TERM
check "TERM: the garbled HVM record is named in the log and left alone" \
  bash -c "grep -q \"domain record .*/81.dom: 'qmp' missing (type hvm)\" '$PV_TMP/pvnetd.log' && test -f '$PVNET_STATE_DIR/domains/81.dom'"
check "TERM: the hostile record is refused (its QMP path is not pvnetd's), its process untouched" \
  bash -c "grep -q \"domain 82 'evil' .*not adopted: its QMP socket\" '$PV_TMP/pvnetd.log' && kill -0 $DECOY &&
           test -S '$PV_RUN/xenstored' && ! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list evil >/dev/null 2>&1"
check "TERM: a record naming a live process that is not its QEMU is refused, the process untouched" \
  bash -c "grep -q \"domain 83 'evil2' .*not adopted: pid $DECOY is not the QEMU\" '$PV_TMP/pvnetd.log' && kill -0 $DECOY &&
           ! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list evil2 >/dev/null 2>&1"
check "TERM: the store still answers (xenstored socket intact)" q pvnet list "$HV"
rm -f "$PVNET_STATE_DIR"/domains/8[123].dom
kill "$PING" 2>/dev/null; wait "$PING" 2>/dev/null
diag "QMP at re-adoption: $(grep -ohE "QMP answers with its name|QMP: .*adopted on its pid" "$PV_TMP/pvnetd.log" | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
diag "ping gap across each restart (largest gap, +first reply after the new pvnetd started):$FIGS"

# destroy removes everything: QEMU, its record, its sockets, its port
check "pvnet destroy $HV" q pvnet destroy "$HV"
check "... QEMU (pid $QPID) is gone" wait_for 5 gone "$QPID"
check "... its record, QMP and vhost-user sockets are removed, its port too" \
  bash -c "! test -e '$REC' && ! test -e '$PV_RUN/qmp-$HID.sock' && ! test -e '$PV_RUN/vhu-$HID.0.sock' &&
           ! '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch show | grep -q 'vif$HID\.0'"
check "... it is not listed; the PV guest is" \
  bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list '$HV' >/dev/null 2>&1 && '$PV_BIN/pvnet' --run-dir '$PV_RUN' list rh${ID}p >/dev/null"

# a QEMU killed while no pvnetd runs: record and stale sockets removed at start
if q pvnet create "$PV_TMP/hvm.cfg"; then
  HID=$(domid "$HV"); REC="$PVNET_STATE_DIR/domains/$HID.dom"
  QPID=$(awk '$1 == "pid" {print $2}' "$REC" 2>/dev/null)
  wait_for 10 test -S "$PV_RUN/qmp-$HID.sock"
  kill -KILL "$PV_PID"; wait "$PV_PID" 2>/dev/null
  # as an older pvnetd wrote it: its QEMU would be a reconnect=1 client
  sed -i 's/^vhost client$/vhost server/' "$REC"
  QSTART=$(starttime "$QPID"); SOCKINO=$(stat -c %i "$PV_RUN/vhu-$HID.0.sock" 2>/dev/null)
  start_daemon
  check "a record whose vhost-user role is not its QEMU's is refused, QEMU and its socket untouched" \
    bash -c "grep -q \"domain $HID '$HV' .*not adopted: its record says QEMU's vhost-user sockets are clients\" '$PV_TMP/pvnetd.log' &&
             [ '$(starttime "$QPID")' = '$QSTART' ] && [ -n '$SOCKINO' ] &&
             [ \"\$(stat -c %i '$PV_RUN/vhu-$HID.0.sock')\" = '$SOCKINO' ] && test -f '$REC'"
  kill -KILL "$PV_PID"; wait "$PV_PID" 2>/dev/null
  [ -n "$QPID" ] && kill -KILL "$QPID"; wait_for 5 gone "$QPID"
  start_daemon
  check "a QEMU killed while pvnetd was down: record and stale sockets removed, not listed" \
    bash -c "grep -q \"domain $HID '$HV': its QEMU (pid $QPID) is gone\" '$PV_TMP/pvnetd.log' &&
             ! test -e '$REC' && ! test -e '$PV_RUN/qmp-$HID.sock' && ! test -e '$PV_RUN/vhu-$HID.0.sock' &&
             ! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list '$HV' >/dev/null 2>&1"
else
  not_ok "create the HVM guest again"
fi
pv_done
