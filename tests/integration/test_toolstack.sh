#!/usr/bin/env bash
# End to end: pvnetd, domains from examples/, the store seen through
# Debian's xenstore-utils, bad configs, guest crash, clean shutdown.
. "$(dirname "$0")/lib.sh"
pv_init toolstack
pv_need xenstore-ls xenstore-read xenstore-write xenstore-watch

if pv_start; then ok "pvnetd starts in its own namespace"; else not_ok "pvnetd starts"; pv_done; exit 1; fi

out=$(pvnet info)
check "pvnet info names the store socket" grep -q "xenstore_socket.*$PV_RUN/xenstored" <<<"$out"

check "create web1 from examples/" pvnet create "$PV_ROOT/examples/web1.cfg"
check "create web2 from examples/" pvnet create "$PV_ROOT/examples/web2.cfg"

list=$(pvnet list)
diag "$list"
check "list shows Domain-0 with id 0" grep -qE '^Domain-0 +0 ' <<<"$list"
check "list shows web1 with id 1 and 64 MiB" grep -qE '^web1 +1 +64 ' <<<"$list"
check "list shows web2 with id 2" grep -qE '^web2 +2 +64 ' <<<"$list"

# The guest process announces itself in its store home once it is up.
if wait_for 5 xenstore-read /local/domain/1/data/pvnet-guest >/dev/null 2>&1; then
  ok "guest web1 connected, mapped its memory and wrote its store node"
else
  not_ok "guest web1 wrote data/pvnet-guest"
fi

check "pvnet console web1 shows the guest's boot line" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' console web1 | grep -q \"domain 1 'web1' up\""
check "pvnet console of an unknown domain fails" bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' console nosuch 2>/dev/null"

ls_out=$(xenstore-ls /local/domain 2>&1)
check "xenstore-ls (Debian) shows web1's name" grep -qE '^ *name = "web1"' <<<"$ls_out"
check "xenstore-ls shows web2's vif backend" grep -q 'backend = "/local/domain/0/backend/vif/2/0"' <<<"$ls_out"
check "xenstore-ls -p shows permissions" bash -c 'xenstore-ls -p /local/domain/1 | grep -q "(n1"'
check "pvnet xenstore-ls matches" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' xenstore-ls /local/domain/1 | grep -q 'name = \"web1\"'"

check "xenstore-write then xenstore-read round-trips" bash -c \
  'xenstore-write /tool/pvtest/key "hello world" && [ "$(xenstore-read /tool/pvtest/key)" = "hello world" ]'

# xenstore-watch: fires once on registration, then on the change below the path.
xenstore-watch -n 2 /tool/pvtest >"$PV_TMP/watch.out" 2>&1 &
wpid=$!
pv_cleanup_add "kill $wpid"
wait_for 5 grep -q '/tool/pvtest' "$PV_TMP/watch.out"
xenstore-write /tool/pvtest/key2 v2
if wait_for 5 grep -q '/tool/pvtest/key2' "$PV_TMP/watch.out"; then
  ok "xenstore-watch sees registration and a change below the path"
else
  not_ok "xenstore-watch event"; diag "$(cat "$PV_TMP/watch.out")"
fi
wait "$wpid" 2>/dev/null

check "xenstore-read of a missing node fails" bash -c '! xenstore-read /tool/nope 2>/dev/null'

# Bad configs: clear errors naming the file and line; nothing is created.
printf 'name = "dup"\nmemory = 32\n' >"$PV_TMP/dup.cfg"
sed 's/name *= *"web1"/name = "web1"/' "$PV_ROOT/examples/web1.cfg" >"$PV_TMP/web1again.cfg"
err=$(pvnet create "$PV_TMP/web1again.cfg" 2>&1) && not_ok "duplicate name refused" || \
  check "duplicate name refused with a clear error" grep -q "already exists" <<<"$err"
printf 'name = "bad"\nmemory 32\n' >"$PV_TMP/syntax.cfg"
err=$(pvnet create "$PV_TMP/syntax.cfg" 2>&1) && not_ok "syntax error refused" || \
  check "syntax error names file and line" grep -q "syntax.cfg:2:" <<<"$err"
printf 'name = "bad"\nmemry = 32\n' >"$PV_TMP/unknown.cfg"
err=$(pvnet create "$PV_TMP/unknown.cfg" 2>&1) && not_ok "unknown key refused" || \
  check "unknown key named" grep -q "unknown.cfg:2:.*memry" <<<"$err"
printf 'name = "bad"\nvif = [ "mac=00:16:3e:zz:00:01" ]\n' >"$PV_TMP/mac.cfg"
err=$(pvnet create "$PV_TMP/mac.cfg" 2>&1) && not_ok "bad mac refused" || \
  check "bad mac named" grep -qi "mac" <<<"$err"
check "bad configs created nothing" bash -c "[ \$('$PV_BIN/pvnet' --run-dir '$PV_RUN' list | wc -l) = 4 ]"

# A guest that dies: its domain is destroyed, pvnetd stays up.
gpid=$(xenstore-read /local/domain/2/data/pvnet-guest | awk '{print $3}')
if [ -n "$gpid" ] && kill -0 "$gpid" 2>/dev/null; then
  kill -KILL "$gpid"
  if wait_for 5 bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list | grep -q '^web2 '"; then
    ok "a guest killed with SIGKILL: its domain is cleaned up"
  else
    not_ok "killed guest's domain cleaned up"
  fi
  check "its store subtree is gone" bash -c '! xenstore-read /local/domain/2/name 2>/dev/null'
  check "its network namespace is removed by pvnetd (the guest could not)" \
    wait_for 5 bash -c "! ip netns list | grep -q '^web2\b'"
  check "pvnetd survived" kill -0 "$PV_PID"
else
  not_ok "guest pid of web2 known ($gpid)"
fi

# Create/destroy cycles leak no fds in pvnetd.
fds_before=$(ls /proc/$PV_PID/fd | wc -l)
cycles=0
for i in $(seq 1 20); do
  pvnet create "$PV_ROOT/examples/web2.cfg" >/dev/null && pvnet destroy web2 >/dev/null &&
    cycles=$((cycles + 1))
done
check "20 create/destroy cycles all succeed ($cycles)" [ "$cycles" = 20 ]
# the last pvnet's control connection closes on pvnetd's next turn: poll for it
wait_for 2 bash -c "[ \$(ls /proc/$PV_PID/fd | wc -l) -le $fds_before ]"
fds_after=$(ls /proc/$PV_PID/fd | wc -l)
check "20 create/destroy cycles: pvnetd fds $fds_before -> $fds_after" [ "$fds_after" -le "$fds_before" ]

check "destroy web1" pvnet destroy web1
check "list shows only Domain-0" bash -c "[ \$('$PV_BIN/pvnet' --run-dir '$PV_RUN' list | wc -l) = 2 ]"
check "destroy of an unknown domain fails" bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' destroy nosuch 2>/dev/null"

pvnet create "$PV_ROOT/examples/web1.cfg" >/dev/null
id=$(pvnet domid web1)
wait_for 5 xenstore-read "/local/domain/$id/data/pvnet-guest" >/dev/null 2>&1
gpid=$(xenstore-read "/local/domain/$id/data/pvnet-guest" 2>/dev/null | awk '{print $3}')
kill -TERM "$PV_PID"; wait "$PV_PID"; rc=$?
check "SIGTERM: pvnetd exits 0 (got $rc)" [ "$rc" = 0 ]
check "SIGTERM: sockets and pid file removed" bash -c "[ ! -e '$PV_RUN/pvnetd.sock' ] && [ ! -e '$PV_RUN/xenstored' ] && [ ! -e '$PV_RUN/pvnetd.pid' ]"
check "SIGTERM: the guest keeps running for the next pvnetd (test_restart.sh)" bash -c "[ -n '$gpid' ] && kill -0 '$gpid' 2>/dev/null"
pv_kill_guests
check "SIGTERM to the guest itself: it exits and removes its namespace" \
  wait_for 5 bash -c "! kill -0 '$gpid' 2>/dev/null && ! ip netns list | grep -q '^web1\b'"
pv_done
