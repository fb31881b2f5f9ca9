#!/usr/bin/env bash
# Density: many guests on one pvnetd. N guests (default 200, PVNET_DENSITY_N)
# created one after another on one bridge, each `pvnet create` returning only
# once its vif is connected; all connected; a sample of pairs ping each other;
# list answers within 1 s; `shutdown --all --wait` leaves nothing behind (no
# domain, no store home, no namespace, pvnetd's fds and memory back near the
# baseline). Then, with a low grant-map limit, create refuses with the reason
# instead of reporting a guest whose NIC cannot connect.
. "$(dirname "$0")/lib.sh"
pv_init test_density
pv_need ping xenstore-list
N=${PVNET_DENSITY_N:-200}
CREATE_BUDGET_S=${PVNET_DENSITY_CREATE_S:-90}
PFX="pvd$$"

pv_start || { not_ok "pvnetd starts"; pv_done; exit 1; }

# netns_ours: how many of this test's guest namespaces exist
netns_ours() { ip netns list | awk -v p="$PFX-" 'index($1, p) == 1' | wc -l; }
fds() { ls "/proc/$PV_PID/fd" | wc -l; }
anon_kib() { awk '$1 == "RssAnon:" {print $2}' "/proc/$PV_PID/status"; }
# cleanup: any guest namespace still there (the guests remove their own)
pv_cleanup_add "for n in \$(ip netns list | awk -v p='$PFX-' 'index(\$1, p) == 1 {print \$1}'); do ip netns del \$n; done"

cfg() {
  local i=$1
  printf 'name = "%s-%d"\nmemory = 16\nnetns = "%s-%d"\n' "$PFX" "$i" "$PFX" "$i"
  printf "vif = [ 'mac=00:16:3e:7b:%02x:%02x, bridge=br0, ip=10.83.%d.%d/16, queues=1' ]\n" \
    $((i >> 8)) $((i & 255)) $((i >> 8)) $((i & 255))
}
ip_of() { echo "10.83.$(($1 >> 8)).$(($1 & 255))"; }

fd0=$(fds)
mem0=$(anon_kib)
diag "baseline: pvnetd $fd0 fds, RssAnon $mem0 KiB, load $(cut -d' ' -f1 /proc/loadavg)"

# --- N guests, one after another -------------------------------------------
start=$(date +%s%N)
made=0
failed=""
for ((i = 1; i <= N; i++)); do
  cfg "$i" >"$PV_TMP/g$i.cfg"
  if out=$(pvnet create "$PV_TMP/g$i.cfg" 2>&1) && [[ $out == *Created* ]]; then
    made=$i
  else
    failed="guest $i: $out"
    break
  fi
  if (($(date +%s%N) - start > CREATE_BUDGET_S * 1000000000)); then
    failed="over ${CREATE_BUDGET_S} s after $i guests"
    break
  fi
done
ms=$((($(date +%s%N) - start) / 1000000))
if [ "$made" = "$N" ]; then
  ok "$N guests created in $ms ms ($((ms / N)) ms each, each create waited for its vif)"
else
  not_ok "$N guests created: $made made; $failed"
fi
diag "with $made guests: pvnetd $(fds) fds, RssAnon $(anon_kib) KiB"

# --- all connected, in one store listing -------------------------------------
be4=$(pvnet xenstore-ls /local/domain/0/backend/vif | grep -c '^ *state = "4"')
check "all $made backends Connected (store: $be4)" [ "$be4" = "$made" ]
homes() { xenstore-list /local/domain 2>/dev/null | grep -cvx 0; }
backends() { xenstore-list /local/domain/0/backend/vif 2>/dev/null | wc -l; }
check "the store holds $made guest homes and backend dirs ($(homes), $(backends))" \
  [ "$(homes)" = "$made" -a "$(backends)" = "$made" ]
nl=$(pvnet list | grep -c "^$PFX-")
check "pvnet list names all $made guests ($nl)" [ "$nl" = "$made" ]

# --- list and stats answer quickly at this size --------------------------------
t=$(date +%s%N); pvnet list >/dev/null; lt=$((($(date +%s%N) - t) / 1000000))
t=$(date +%s%N); pvnet stats --json >/dev/null; st=$((($(date +%s%N) - t) / 1000000))
check "pvnet list answers in $lt ms and stats --json in $st ms (< 1000 under load)" \
  [ "$lt" -lt 1000 -a "$st" -lt 1000 ]

# --- a sample of pairs ping each other ------------------------------------------
pinged=0
pairs="1:$made $((made / 2)):2 $made:$(((made + 1) / 3)) 7:$((made - 7)) $((made - 1)):11"
for p in $pairs; do
  a=${p%:*}; b=${p#*:}
  { [ "$a" -ge 1 ] && [ "$b" -ge 1 ] && [ "$a" != "$b" ] && [ "$a" -le "$made" ] && [ "$b" -le "$made" ]; } || continue
  if wait_for 10 ip netns exec "$PFX-$a" ping -c1 -W1 "$(ip_of "$b")" >/dev/null 2>&1; then
    pinged=$((pinged + 1))
  else
    diag "guest $a cannot ping guest $b ($(ip_of "$b"))"
  fi
done
check "a sample of 5 guest pairs ping each other ($pinged/5)" [ "$pinged" = 5 ]

# --- teardown: nothing left behind -----------------------------------------------
t=$(date +%s%N)
pvnet shutdown --all --wait --timeout 30 >"$PV_TMP/down.log" 2>&1
rc=$?
tt=$((($(date +%s%N) - t) / 1000000))
check "shutdown --all --wait of $made guests: rc $rc in $tt ms (< 30000)" [ "$rc" = 0 -a "$tt" -lt 30000 ]
left=$(pvnet list | grep -c "^$PFX-")
check "no domain left ($left)" [ "$left" = 0 ]
check "no store home but dom0's and no backend dir left (homes: $(homes), backends: $(backends))" \
  [ "$(homes)" = 0 -a "$(backends)" = 0 ]
wait_for 10 [ "$(netns_ours)" = 0 ]
check "no guest namespace left ($(netns_ours))" [ "$(netns_ours)" = 0 ]
# fds: the guests' store connections and hypercall sockets are closed as they go
wait_for 5 [ "$(fds)" -le $((fd0 + 4)) ]
check "pvnetd fds back to the baseline: $(fds) <= $fd0 + 4" [ "$(fds)" -le $((fd0 + 4)) ]
mem1=$(anon_kib)
# glibc keeps some freed heap: within 16 MiB of the baseline (N guests held ~N x 0.3 MiB)
check "pvnetd RssAnon back near the baseline: $mem1 KiB <= $mem0 + 16384" [ "$mem1" -le $((mem0 + 16384)) ]
diag "after teardown: pvnetd $(fds) fds, RssAnon $mem1 KiB"

# --- out of a resource: create refuses with the reason ----------------------------
pv_kill_daemon "$PV_PID"
# a guest needs at least its two rings mapped: 1 grant map is too few
pv_start --limit gnt-maps=1 || { not_ok "pvnetd restarts with --limit gnt-maps=1"; pv_done; exit 1; }
cfg 1 >"$PV_TMP/low.cfg"
out=$(pvnet create "$PV_TMP/low.cfg" 2>&1)
rc=$?
diag "create with gnt-maps=1: rc $rc: $out"
check "create refuses when the vif cannot map its rings (rc $rc)" [ "$rc" != 0 ]
check "and says why (the vif, and the grant-map limit)" \
  bash -c '[[ $1 == *"cannot connect"* && ( $1 == *gnt* || $1 == *grant* || $1 == *space* ) ]]' _ "$out"
check "no half-created domain is left" [ "$(pvnet list | grep -c "^$PFX-")" = 0 ]
wait_for 10 [ "$(netns_ours)" = 0 ]
check "its namespace is gone" [ "$(netns_ours)" = 0 ]
pv_done
