#!/usr/bin/env bash
# Daemon hygiene: the pid file lock, SIGHUP reopening the log, ISO 8601 log lines,
# `pvnet log-level`, who asked in the log, --version on every program, the control
# protocol's version check, and `ip netns exec NS pvnetd`.
. "$(dirname "$0")/lib.sh"
pv_init daemon
pv_need python3 stat
CLIENT=(python3 "$(dirname "$0")/ctl_client.py")
LOG="$PV_TMP/pvnetd.log"

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
info() { pvnet info | awk -v k="$1" '$1 == k {print $3}'; }

# ---- the pid file lock ------------------------------------------------------
ino_before=$(stat -c '%i %Y' "$PV_RUN/pvnetd.pid" "$PV_RUN/pvnetd.sock" "$PV_RUN/xenstored" | tr '\n' ' ')
log_before=$(stat -c %s "$LOG")
timeout 5 nsenter --net="/run/netns/$PV_NS" "$PV_BIN/pvnetd" --foreground --run-dir "$PV_RUN" \
  --log "$PV_TMP/second.log" 2>"$PV_TMP/second.err"
rc=$?
diag "second pvnetd: rc $rc: $(cat "$PV_TMP/second.err")"
check "a second pvnetd on the run dir is refused (exit 1), naming the holder's pid" \
  bash -c "[ $rc = 1 ] && grep -q 'another pvnetd (pid $PV_PID) holds $PV_RUN/pvnetd.pid' '$PV_TMP/second.err'"
check "  ... the first's pid file still holds its pid" [ "$(cat "$PV_RUN/pvnetd.pid")" = "$PV_PID" ]
check "  ... its pid file and sockets are the same files (inode, mtime)" \
  [ "$(stat -c '%i %Y' "$PV_RUN/pvnetd.pid" "$PV_RUN/pvnetd.sock" "$PV_RUN/xenstored" | tr '\n' ' ')" = "$ino_before" ]
check "  ... the refused one opened no log and the first's log is unchanged by it" \
  bash -c "[ ! -e '$PV_TMP/second.log' ] && ! grep -q 'second' '$LOG'"
check "  ... the first still answers, as itself" [ "$(info pvnetd_pid)" = "$PV_PID" ]
nsenter --net="/run/netns/$PV_NS" "$PV_BIN/pvnetd" --run-dir "$PV_RUN" 2>"$PV_TMP/second.err"
rc=$?
check "a second pvnetd in daemon mode: refused too, and writes no log into the run dir" \
  bash -c "[ $rc = 1 ] && grep -q 'another pvnetd (pid $PV_PID)' '$PV_TMP/second.err' && [ ! -e '$PV_RUN/pvnetd.log' ]"
check "  ... the first still answers" [ "$(info pvnetd_pid)" = "$PV_PID" ]
check "pvnetd holds a write lock on its pid file (/proc/locks)" \
  bash -c "ino=\$(stat -c %i '$PV_RUN/pvnetd.pid'); grep -qE \"POSIX +ADVISORY +WRITE +$PV_PID [0-9a-f:]+:\$ino \" /proc/locks"

# a start-up failure after the run dir is ours goes to the log (and to stderr)
R4="$PV_TMP/run4"
timeout 5 nsenter --net="/run/netns/$PV_NS" "$PV_BIN/pvnetd" --foreground --run-dir "$R4" \
  --log "$PV_TMP/p4.log" --state-dir "$PV_TMP/state4" --guest-bin /nonexistent/pvnet-guest 2>"$PV_TMP/p4.err"
rc=$?
check "a start-up error (no guest program) is logged, also on stderr, exit 1" \
  bash -c "[ $rc = 1 ] && grep -q 'ERR   pvnetd: guest program /nonexistent/pvnet-guest not found' '$PV_TMP/p4.log' &&
           grep -q 'guest program /nonexistent/pvnet-guest not found' '$PV_TMP/p4.err'"
check "  ... and the failed pvnetd released its run dir (no pid file left)" [ ! -e "$R4/pvnetd.pid" ]

# ---- SIGHUP reopens the log (logrotate) --------------------------------------
mv "$LOG" "$LOG.1"
kill -HUP "$PV_PID"
check "SIGHUP: pvnetd reopens its log under the old name" \
  wait_for 5 grep -q "SIGHUP from pid [0-9]*: log reopened" "$LOG"
check "SIGHUP: pvnetd is still running and answers" [ "$(info pvnetd_pid)" = "$PV_PID" ]
pvnet log-level ctl info >/dev/null
check "SIGHUP: new lines go to the new file, not the rotated one" \
  bash -c "grep -q 'log-level ctl info: done' '$LOG' && ! grep -q 'log-level ctl info' '$LOG.1'"

# ---- ISO 8601 stamps with zone -------------------------------------------------
iso='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{2}:[0-9]{2} (ERR|WARN|INFO|DEBUG) '
check "every log line starts with an ISO 8601 date, time and zone, then the level" \
  bash -c "[ -s '$LOG.1' ] && [ -s '$LOG' ] && ! grep -vhE '$iso' '$LOG.1' '$LOG' | grep -q ."
check "  ... and the start-up messages are in the log" \
  grep -q "pvnetd $("$PV_BIN/pvnetd" --version | awk '{print $3}' | tr -d ,) starting on $PV_RUN" "$LOG.1"

# ---- log-level at run time; who asked -------------------------------------------
out=$(pvnet log-level)
check "log-level lists the default and ctl's own level" \
  bash -c "grep -qx 'default INFO' <<<'$out' && grep -qx 'ctl INFO' <<<'$out'"
check "log-level of a bad level: usage, exit 2" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' log-level ctl loud 2>&1 | grep -q usage; [ \${PIPESTATUS[0]} = 2 ]"
# a module no code logs under would take a level nothing reads: refused, naming the modules
err=$(pvnet log-level no-such-module debug 2>&1); rc=$?
if [ "$rc" = 1 ] && grep -qF "no module 'no-such-module'" <<<"$err" && grep -q ' netback ' <<<"$err" &&
  ! pvnet log-level | grep -q no-such-module; then
  ok "log-level of an unknown module: refused, naming the known ones, not listed after"
else
  not_ok "log-level of an unknown module: refused, naming the known ones, not listed after"; diag "rc=$rc: $err"
fi
check "log-level of a real module (vswitch) and of a loaded plugin (simnic) are taken" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' log-level vswitch info && '$PV_BIN/pvnet' --run-dir '$PV_RUN' log-level simnic info &&
  '$PV_BIN/pvnet' --run-dir '$PV_RUN' log-level | grep -qx 'simnic INFO'"
# the pid in the log line is the pvnet that asked: exec keeps $$
bash -c 'echo $$ >"$1"; exec "$2" --run-dir "$3" destroy nosuch-dom' _ "$PV_TMP/asker" "$PV_BIN/pvnet" "$PV_RUN" 2>/dev/null
asker=$(cat "$PV_TMP/asker")
check "a refused command is logged with who asked (pid $asker, uid 0)" \
  grep -q "ctl: pid $asker uid 0: destroy nosuch-dom: refused (exit 1)" "$LOG"
bash -c 'echo $$ >"$1"; exec "$2" --run-dir "$3" switch add-port brd0 pvdtap0 --type tap' _ "$PV_TMP/asker" "$PV_BIN/pvnet" "$PV_RUN" >/dev/null 2>&1
asker=$(cat "$PV_TMP/asker")
check "a state-changing command is logged with who asked (pid $asker)" \
  grep -q "ctl: pid $asker uid 0: switch add-port brd0 pvdtap0 --type tap: done" "$LOG"
pvnet list >/dev/null
check "a read-only command is not logged" bash -c "! grep -q ': list: done' '$LOG'"
pvnet log-level ctl err
pvnet destroy quiet-dom 2>/dev/null
check "log-level ctl err: a refusal (WARN) of module ctl is no longer logged" \
  bash -c "! grep -q 'destroy quiet-dom' '$LOG'"
pvnet log-level debug
out=$(pvnet log-level)
check "log-level debug sets the default; ctl keeps its own (ERR)" \
  bash -c "grep -qx 'default DEBUG' <<<'$out' && grep -qx 'ctl ERR' <<<'$out'"
pvnet log-level ctl info; pvnet log-level info
pvnet destroy loud-dom 2>/dev/null
check "log-level ctl info again: the refusal is logged" grep -q "destroy loud-dom: refused" "$LOG"

# ---- --version on every program ----------------------------------------------------
vers=""; bad=""
for b in "$PV_BIN"/*; do
  [ -x "$b" ] && [ -f "$b" ] || continue
  v=$(timeout 5 "$b" --version 2>/dev/null </dev/null | head -1)
  if grep -qE "^$(basename "$b") \(pvnet\) [0-9]+\.[0-9]+\.[0-9]+" <<<"$v"; then
    vers="$vers$(awk '{print $3}' <<<"$v" | tr -d ,)"$'\n'
  else
    bad="$bad $(basename "$b")"
  fi
done
check "every program in $PV_BIN answers --version (${bad:-all do})" [ -z "$bad" ]
check "  ... all with the same release" [ "$(sort -u <<<"$vers" | grep -c .)" = 1 ]

# ---- control protocol versions ----------------------------------------------------
out=$("${CLIENT[@]}" "$PV_RUN/pvnetd.sock" raw 0 info 2>&1)
check "a client of protocol 1 (no version) gets a clear mismatch error and exit 2" \
  bash -c "grep -q 'control protocol mismatch: this client speaks version 1, pvnetd .* speaks version 2' <<<'$out' && grep -qx X2 <<<'$out' && ! grep -q pvnetd_pid <<<'$out'"
out=$("${CLIENT[@]}" "$PV_RUN/pvnetd.sock" raw 3 info 2>&1)
check "a client of protocol 3 too" grep -q 'this client speaks version 3, pvnetd' <<<"$out"
out=$("${CLIENT[@]}" "$PV_RUN/pvnetd.sock" raw 2 info 2>&1)
check "protocol 2 (ours): the reply starts with pvnetd's versions (V2 ...) and runs" \
  bash -c "head -1 <<<'$out' | grep -qE '^V2 [0-9.]+$' && grep -q pvnetd_pid <<<'$out'"
# an old pvnetd (no 'V' in its replies): this pvnet says so
OLD="$PV_TMP/old"
mkdir -m 0700 "$OLD"
python3 - "$OLD/pvnetd.sock" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1]); s.listen(1); s.settimeout(10)
c, _ = s.accept(); c.recv(65536)
c.send(b"Ounknown command 'pvnet-ctl/2'\n"); c.send(b"X2")
PY
OP=$!
pv_cleanup_add "kill $OP"
wait_for 5 test -S "$OLD/pvnetd.sock"
out=$("$PV_BIN/pvnet" --run-dir "$OLD" info 2>&1); rc=$?
check "pvnet talking to a pvnetd of protocol 1: clear error, exit 2" \
  bash -c "[ $rc = 2 ] && grep -q 'control protocol mismatch: pvnetd speaks version 1' <<<'$out'"

# ---- ip netns exec NS pvnetd ------------------------------------------------------
R3="$PV_TMP/run3"
ip netns exec "$PV_NS" "$PV_BIN/pvnetd" --foreground --run-dir "$R3" --state-dir "$PV_TMP/state3" \
  --log "$PV_TMP/p3.log" 2>/dev/null &
P3=$!
pv_cleanup_add "pv_kill_daemon $P3"
if wait_for 10 bash -c "'$PV_BIN/pvnet' --run-dir '$R3' info >/dev/null 2>&1"; then
  ok "ip netns exec NS pvnetd starts"
  check "  ... it says it rejoined the caller's mount namespace, naming nsenter --net" \
    grep -q "started by \`ip netns exec $PV_NS\`: rejoined the caller's mount namespace.*nsenter --net=/run/netns/$PV_NS" "$PV_TMP/p3.log"
  check "  ... it runs in our mount namespace and in NS's network namespace" \
    bash -c "[ \"\$(readlink /proc/$P3/ns/mnt)\" = \"\$(readlink /proc/self/ns/mnt)\" ] &&
             [ \"\$(stat -L -c %i /proc/$P3/ns/net)\" = \"\$(stat -L -c %i /run/netns/$PV_NS)\" ]"
  G="pvd$$"
  printf "name='%s'\nmemory=32\nvif=['mac=00:16:3e:44:00:01,bridge=brd3,ip=10.77.0.1/24']\n" "$G" >"$PV_TMP/g.cfg"
  if "$PV_BIN/pvnet" --run-dir "$R3" create "$PV_TMP/g.cfg" >/dev/null 2>&1; then
    pv_cleanup_add "'$PV_BIN/pvnet' --run-dir '$R3' destroy $G"
    check "  ... a guest it creates has its namespace visible to the host (ip netns list)" \
      wait_for 10 bash -c "ip netns list 2>/dev/null | grep -qE '^$G( |\$)' && ip -n $G link show eth0 >/dev/null 2>&1"
    "$PV_BIN/pvnet" --run-dir "$R3" destroy "$G" >/dev/null 2>&1
  else
    not_ok "  ... a guest can be created under it"
  fi
else
  not_ok "ip netns exec NS pvnetd starts (or is refused naming nsenter)"
  sed 's/^/# /' "$PV_TMP/p3.log" 2>/dev/null | tail -5
fi
pv_kill_daemon "$P3"

check "pvnetd (the first) still answers" [ "$(info pvnetd_pid)" = "$PV_PID" ]
pv_done
