#!/usr/bin/env bash
# The control plane never waits on a control client, and pvnetd refuses an unsafe
# run dir (docs/security.md, "Control plane" and "Host-side safety"):
#  - a client that sends requests and never reads is disconnected; meanwhile
#    `pvnet list` answers within 1 s and pvnetd's RSS and fds stay bounded;
#  - a client that opens many connections cannot lock others out;
#  - a connection that never sends a whole request is closed; an oversize or empty
#    request is refused with a reason. (The socket is SOCK_SEQPACKET: a request
#    arrives whole or not at all, so a "half request" is one never completed.)
#  - a run dir with a bad owner or mode, or a symlinked pid file or log, makes
#    pvnetd refuse to start naming the reason, touching nothing.
. "$(dirname "$0")/lib.sh"
pv_init isolation_ctl
pv_need python3 xenstore-read
CLIENT=(python3 "$(dirname "$0")/ctl_client.py")

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
SOCK="$PV_RUN/pvnetd.sock"
fds() { ls "/proc/$PV_PID/fd" | wc -l; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$PV_PID/status"; }
info() { pvnet info | awk -v k="$1" '$1 == k {print $3}'; }
# list_fast: `pvnet list` answers (exit 0, header line) within 1 s
list_fast() {
  local out rc t0=$(date +%s%N)
  out=$(timeout 1 "$PV_BIN/pvnet" --run-dir "$PV_RUN" list 2>&1); rc=$?
  grep -q '^Name' <<<"$out" && return 0
  diag "pvnet list: exit $rc after $(( ($(date +%s%N) - t0) / 1000000 )) ms: $(head -c 200 <<<"$out")"
  return 1
}

fd0=$(fds); rss0=$(rss)
diag "before: pvnetd rss ${rss0} kB, ${fd0} fds"

# ---- 1. a client that sends requests and never reads ------------------------
"${CLIENT[@]}" "$SOCK" flood 9 >"$PV_TMP/flood.out" 2>&1 &
FP=$!
pv_cleanup_add "kill $FP"
sleep 1.5 # its replies fill its socket: pvnetd stops reading it, queues the rest
slow=0; maxfd=0; maxrss=0
for i in 1 2 3 4 5; do
  list_fast || slow=$((slow + 1))
  f=$(fds); r=$(rss)
  [ "$f" -gt "$maxfd" ] && maxfd=$f
  [ "$r" -gt "$maxrss" ] && maxrss=$r
  sleep 0.5
done
check "stuck reader: pvnet list answered within 1 s every time (5 tries, $slow slow)" [ "$slow" = 0 ]
wait "$FP"
diag "flooder: $(cat "$PV_TMP/flood.out"); pvnetd max rss ${maxrss} kB, max fds ${maxfd}"
check "stuck reader: disconnected by pvnetd" grep -q "disconnected 1" "$PV_TMP/flood.out"
check "stuck reader: pvnetd logged why, with the client's pid and uid" \
  grep -qE "ctl: client pid [0-9]+ uid 0: stopped reading .*disconnected" "$PV_TMP/pvnetd.log"
check "stuck reader: pvnetd RSS grew by under 4 MiB (${rss0} -> ${maxrss} kB; queue cap 1 MiB)" \
  [ $((maxrss - rss0)) -lt 4096 ]
check "stuck reader: pvnetd held at most 2 fds more meanwhile, the stuck client's and a pvnet list's (${fd0} -> ${maxfd})" [ "$maxfd" -le $((fd0 + 2)) ]
# the loop's own time per turn (computing or blocked on the client), without the time
# a loaded machine kept it waiting to run: a blocking write still counts in full
w=$(info loop_worst_turn_ran_us)
diag "stuck reader: worst turn ${w} us ran, $(info loop_worst_turn_us) us wall"
check "stuck reader: the control loop's worst turn stayed under 100 ms (${w:-n/a} us)" test "${w:-999999999}" -lt 100000
check "stuck reader: ctl_dropped counts it" [ "$(info ctl_dropped)" -ge 1 ]

# ---- 2. a client that opens many connections and sends nothing --------------
"${CLIENT[@]}" "$SOCK" conns 200 4 >"$PV_TMP/conns.out" 2>&1 &
CP=$!
pv_cleanup_add "kill $CP"
sleep 1
slow=0; maxfd=0
for i in 1 2 3 4; do
  list_fast || slow=$((slow + 1))
  f=$(fds); [ "$f" -gt "$maxfd" ] && maxfd=$f
  sleep 0.4
done
check "many connections: pvnet list answered within 1 s every time (4 tries, $slow slow)" [ "$slow" = 0 ]
check "many connections: pvnetd held at most 64 control connections (fds ${fd0} -> ${maxfd})" \
  [ "$maxfd" -le $((fd0 + 64 + 1)) ]
wait "$CP"
diag "connector: $(cat "$PV_TMP/conns.out")"
opened=$(awk '{print $2}' "$PV_TMP/conns.out"); closed=$(awk '{print $4}' "$PV_TMP/conns.out")
check "many connections: pvnetd closed all but at most 64 of the ${opened} (closed ${closed})" \
  [ -n "$opened" ] && [ "$opened" -ge 100 ] && [ "$closed" -ge $((opened - 64)) ]
check "many connections: ctl_refused counts them" [ "$(info ctl_refused)" -ge $((opened - 64)) ]
check "many connections: every one is gone after the idle timeout (fds back to ${fd0})" \
  wait_for 10 bash -c "[ \$(ls /proc/$PV_PID/fd | wc -l) -le $fd0 ]"

# ---- 3. never a whole request; oversize; empty --------------------------------
t=$("${CLIENT[@]}" "$SOCK" silent 12)
check "a connection that sends nothing is closed after the 5 s idle timeout (took ${t} s)" \
  bash -c "[ '$t' != open ] && awk -v t='$t' 'BEGIN {exit !(t >= 4.5 && t <= 8)}'"
out=$("${CLIENT[@]}" "$SOCK" oversize 300000 2>&1)
check "an oversize request is refused with the limit, exit 2" \
  bash -c "grep -q 'request too large (.* at most 262144)' <<<'$out' && grep -qx X2 <<<'$out'"
out=$("${CLIENT[@]}" "$SOCK" raw 2 2>&1)
check "a request with no command is refused (empty request, exit 2)" \
  bash -c "grep -q 'empty request' <<<'$out' && grep -qx X2 <<<'$out'"
check "pvnetd still answers at once" list_fast

# ---- 4. a guest that ignores shutdown: `pvnet shutdown --wait` waits for it (3 s),
# then destroys it -----------------------------------------------------------------
# meanwhile read-only commands of other clients are answered at once, and a
# state-changing one waits its turn and is then served.
G="pvc$$"
printf "name='%s'\nmemory=32\nvif=['mac=00:16:3e:45:00:01,bridge=brc$$']\n" "$G" >"$PV_TMP/g.cfg"
if pvnet create "$PV_TMP/g.cfg" >/dev/null 2>&1; then
  pv_cleanup_add "'$PV_BIN/pvnet' --run-dir '$PV_RUN' destroy $G"
  id=$(domid "$G")
  wait_for 10 xenstore-read "/local/domain/$id/data/pvnet-guest" >/dev/null 2>&1
  check "a guest's console log is 0640" [ "$(stat -c %a "$PV_RUN/console-$G.log")" = 640 ]
  gpid=$(xenstore-read "/local/domain/$id/data/pvnet-guest" 2>/dev/null | awk '{print $3}')
  if [ -n "$gpid" ] && kill -0 "$gpid" 2>/dev/null; then
    kill -STOP "$gpid" # a guest that never answers control/shutdown
    t0=$(date +%s%N)
    pvnet shutdown --wait "$G" >/dev/null 2>&1 &
    DP=$!
    sleep 0.3
    slow=0; dying=0
    for i in 1 2 3 4; do
      list_fast || slow=$((slow + 1))
      timeout 1 "$PV_BIN/pvnet" --run-dir "$PV_RUN" list "$G" 2>/dev/null | grep -qE "^$G .* --p--- " && dying=1
      sleep 0.2
    done
    timeout 10 "$PV_BIN/pvnet" --run-dir "$PV_RUN" log-level ctl info >/dev/null 2>&1; lrc=$?
    t_ll=$(( ($(date +%s%N) - t0) / 1000000 ))
    wait "$DP"; drc=$?
    t_d=$(( ($(date +%s%N) - t0) / 1000000 ))
    check "stopped guest: pvnet list answered within 1 s during its 3 s shutdown --wait ($slow slow)" [ "$slow" = 0 ]
    check "stopped guest: list showed it paused (p, its process stopped) meanwhile" [ "$dying" = 1 ]
    check "stopped guest: a state-changing command waited for the shutdown, then ran (exit $lrc after ${t_ll} ms; shutdown --wait took ${t_d} ms, exit $drc: destroyed at the timeout)" \
      bash -c "[ $lrc = 0 ] && [ $drc = 1 ] && [ $t_ll -ge 2500 ]"
    check "stopped guest: the domain is gone" bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list '$G' >/dev/null 2>&1"
  else
    not_ok "guest $G reported its pid in the store (got '$gpid')"
  fi
else
  not_ok "create guest $G"
fi

# ---- 5. host-side safety: the run dir -----------------------------------------
# refused: pvnetd exits 1 within 5 s, its stderr names the reason, and it left
# nothing in the run dir
refused() {
  local dir=$1 reason=$2 err="$PV_TMP/refused.err" rc
  timeout 5 nsenter --net="/run/netns/$PV_NS" "$PV_BIN/pvnetd" --foreground --run-dir "$dir" \
    2>"$err" >/dev/null
  rc=$?
  if [ "$rc" != 1 ] || ! grep -q -- "$reason" "$err"; then
    diag "rc $rc, stderr: $(cat "$err")"; return 1
  fi
  [ ! -e "$dir/pvnetd.sock" ] && [ ! -e "$dir/xenstored" ]
}
BAD="$PV_TMP/bad-owner"
mkdir -m 0700 "$BAD" && chown 4242 "$BAD"
check "run dir owned by another user: refused, naming the owner" \
  refused "$BAD" "run dir $BAD is owned by uid 4242, not by root"
check "  ... and no pid file was created there" [ ! -e "$BAD/pvnetd.pid" ]
BAD="$PV_TMP/bad-mode"
mkdir "$BAD" && chmod 0777 "$BAD"
check "world-writable run dir: refused, naming the mode" \
  refused "$BAD" "run dir $BAD is writable by its group or others (mode 0777)"
BAD="$PV_TMP/group-w"
mkdir "$BAD" && chmod 0770 "$BAD"
check "group-writable run dir: refused" refused "$BAD" "(mode 0770)"
BAD="$PV_TMP/symlink-pid"
mkdir -m 0700 "$BAD"
echo precious >"$PV_TMP/victim"
ln -s "$PV_TMP/victim" "$BAD/pvnetd.pid"
check "symlinked pid file: refused, naming it" refused "$BAD" "pid file $BAD/pvnetd.pid is a symbolic link"
check "  ... the link's target is untouched and the link is still there" \
  bash -c "[ \"\$(cat '$PV_TMP/victim')\" = precious ] && [ -L '$BAD/pvnetd.pid' ]"
BAD="$PV_TMP/symlink-log"
mkdir -m 0700 "$BAD"
ln -s "$PV_TMP/victim" "$BAD/pvnetd.log"
nsenter --net="/run/netns/$PV_NS" "$PV_BIN/pvnetd" --run-dir "$BAD" 2>"$PV_TMP/slog.err"
rc=$?
check "symlinked log in the run dir (daemon mode): refused without following it" \
  bash -c "[ $rc = 1 ] && grep -q 'symbolic link' '$PV_TMP/slog.err' && [ \"\$(cat '$PV_TMP/victim')\" = precious ]"
check "  ... and the refused daemon released the run dir (no pid file, no socket)" \
  bash -c "[ ! -e '$BAD/pvnetd.pid' ] && [ ! -e '$BAD/pvnetd.sock' ]"
NEW="$PV_TMP/fresh/run"
mkdir -p "$PV_TMP/fresh"
nsenter --net="/run/netns/$PV_NS" "$PV_BIN/pvnetd" --run-dir "$NEW" --state-dir "$PV_TMP/fresh-state" \
  2>"$PV_TMP/fresh.err"
NPID=$(cat "$NEW/pvnetd.pid" 2>/dev/null)
[ -n "$NPID" ] && pv_cleanup_add "pv_kill_daemon $NPID"
check "a run dir pvnetd creates is 0700, owned by root" \
  bash -c "[ \"\$(stat -c '%a %u' '$NEW')\" = '700 0' ]"
check "its sockets are 0600 and its log 0640" \
  bash -c "[ \"\$(stat -c %a '$NEW/pvnetd.sock')\" = 600 ] && [ \"\$(stat -c %a '$NEW/xenstored')\" = 600 ] &&
           [ \"\$(stat -c %a '$NEW/pvnetd.log')\" = 640 ]"
[ -n "$NPID" ] && pv_kill_daemon "$NPID"

# a console log planted as a symbolic link is not followed (nor truncated)
G2="pvs$$"
ln -s "$PV_TMP/victim" "$PV_RUN/console-$G2.log"
printf "name='%s'\nmemory=32\nvif=['mac=00:16:3e:45:00:02,bridge=brc$$']\n" "$G2" >"$PV_TMP/g2.cfg"
pvnet create "$PV_TMP/g2.cfg" >/dev/null 2>&1 && pv_cleanup_add "'$PV_BIN/pvnet' --run-dir '$PV_RUN' destroy $G2"
sleep 0.5
check "a console log that is a symbolic link is not followed: its target is untouched" \
  bash -c "[ \"\$(cat '$PV_TMP/victim')\" = precious ] && [ -L '$PV_RUN/console-$G2.log' ]"
pvnet destroy "$G2" >/dev/null 2>&1

check "pvnetd (the first) still answers" list_fast
pv_done
