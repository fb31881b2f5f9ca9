#!/usr/bin/env bash
# pvnet list, shutdown and destroy mean what xl's do. list: Time(s) is the CPU
# seconds of the guest process (as /proc/PID/stat says), State is computed from
# that process (r or b while it runs, p while it is stopped with SIGSTOP), -v adds
# the UUID and the guest's PID. destroy is immediate: a guest stopped with SIGSTOP
# (it cannot answer a shutdown request) is gone within 1 s, its process killed.
# shutdown is graceful: it returns at once, the guest exits by itself with status
# 0 (pvnetd's log says so) and the domain leaves the list; shutdown --wait returns
# once the domain is gone; shutdown -w -t 1 of a guest that cannot answer destroys
# it after 1 s and says so (exit 1). The other guest pings throughout.
. "$(dirname "$0")/lib.sh"
pv_init xl_list
pv_need ping python3 xenstore-read timeout

ID=$(printf '%x' $(( $$ % 4096 )))
UUID=6b1f3c2a-0000-4000-8000-00000000$(printf '%04x' $(( $$ % 65536 )))
q() { "$@" >/dev/null 2>&1; }
mkguest() { # NAME IP [UUID]
  { echo "name = \"$1\""; echo "memory = 32"; echo "netns = \"$1\""
    echo "vif = [ 'bridge=xlbr$ID, ip=$2/24' ]"; [ -n "$3" ] && echo "uuid = \"$3\""; } >"$PV_TMP/$1.cfg"
  pv_cleanup_add "ip netns del '$1'"
  pvnet create "$PV_TMP/$1.cfg" >/dev/null
}
# field NAME COL: column COL of NAME's row in `pvnet list -v`
field() { pvnet list -v | awk -v n="$1" -v c="$2" '$1 == n {print $c}'; }
listed() { [ -n "$(domid "$1")" ]; }
gone() { ! [ -e "/proc/$1" ] || [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" = Z ]; }
cpu_of() { python3 -c '
import os, sys
f = open("/proc/%s/stat" % sys.argv[1]).read().rsplit(")", 1)[1].split()
print((int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"))' "$1"; }

if ! pv_start; then not_ok "pvnetd starts"; pv_done; exit 1; fi
G1=xl${ID}a; G2=xl${ID}b; G3=xl${ID}c; G4=xl${ID}d; G5=xl${ID}e; G6=xl${ID}f
for g in "$G1:1:$UUID" "$G2:2" "$G3:3" "$G4:4" "$G5:5" "$G6:6"; do
  IFS=: read -r n i u <<<"$g"
  mkguest "$n" "10.94.0.$i" "$u" || { not_ok "guest $n created"; pv_done; exit 1; }
done
if wait_for 20 connected "$G1" && wait_for 20 connected "$G2" && wait_for 20 connected "$G3" &&
   wait_for 20 connected "$G4" && wait_for 20 connected "$G5" && wait_for 20 connected "$G6"; then
  ok "six guests connected"
else
  not_ok "six guests connected"; pv_done; exit 1
fi

# ---- list ----
P1=$(field "$G1" 8)
check "list -v: the header has UUID and PID, $G1's row its uuid and the guest's pid" \
  bash -c "pvnet() { '$PV_BIN/pvnet' --run-dir '$PV_RUN' \"\$@\"; }
    pvnet list -v | head -1 | grep -qE '^Name +ID +Mem +VCPUs +State +Time\(s\) +UUID +PID\$' &&
    [ \"\$(pvnet list -v | awk '\$1 == \"$G1\" {print \$7}')\" = '$UUID' ] &&
    [ -n '$P1' ] && [ '$P1' = \"$(pvnet list --json | jget "[name=$G1].pid")\" ] &&
    grep -q pvnet-guest /proc/$P1/cmdline"
check "list (no -v) has no UUID column" \
  bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list | head -1 | grep -q UUID"
state_is() { [ "$(field "$1" 5)" = "$2" ]; }
running_or_blocked() { local s; s=$(field "$1" 5); [ "$s" = r----- ] || [ "$s" = -b---- ]; }
check "list: $G1 is r or b while its guest runs" running_or_blocked "$G1"
T1=$(field "$G1" 6); C1=$(cpu_of "$P1")
diag "$G1: Time(s) $T1, /proc/$P1/stat says $C1 CPU seconds, up $(pvnet list --json | jget --fmt .1f "[name=$G1].uptime_s") s"
check "list: Time(s) of $G1 is its guest's CPU seconds (/proc/PID/stat, within 0.3 s)" \
  near "$T1" "$C1" 0.3
check "list: Domain-0's Time(s) is pvnetd's CPU seconds (within 0.3 s)" \
  near "$(field Domain-0 6)" "$(cpu_of "$PV_PID")" 0.3
kill -STOP "$P1"
check "list: $G1 is p (paused) while its guest process is stopped" wait_for 5 state_is "$G1" "--p---"
kill -CONT "$P1"
check "list: $G1 is r or b again after SIGCONT" wait_for 5 running_or_blocked "$G1"
# list -v NAME --json: one domain, its name and uuid, time_s a float, uptime_s >= time_s - 1
list_json_ok() {
  local js t
  js=$(pvnet list -v "$G1" --json) && [ "$(jget --len . <<<"$js")" = 1 ] &&
    [ "$(jget 0.name <<<"$js")" = "$G1" ] && [ "$(jget 0.uuid <<<"$js")" = "$UUID" ] &&
    t=$(jget 0.time_s <<<"$js") && [[ "$t" == *.* ]] && num "$(jget 0.uptime_s <<<"$js")" '>=' "$(awk -v t="$t" 'BEGIN { print t - 1 }')"
}
check "list -v $G1 --json: parses as JSON, one domain with time_s and uptime_s" list_json_ok
check "list -x: refused with the usage" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' list -x 2>&1 | grep -q usage"

# G2 pings G1 from here on: the other domains' destroy and shutdown leave it alone
wait_for 10 q in_guest "$G2" ping -c 1 -W 1 10.94.0.1
ip netns exec "$G2" ping -i 0.05 -W 1 -w 120 10.94.0.1 >"$PV_TMP/ping.log" 2>&1 &
PING=$!
pv_cleanup_add "kill $PING 2>/dev/null"

# ---- destroy: immediate ----
P3=$(field "$G3" 8)
kill -STOP "$P3"
t0=$(date +%s%N)
pvnet destroy "$G3" >/dev/null
t1=$(date +%s%N)
diag "destroy of a stopped guest took $(( (t1 - t0) / 1000000 )) ms"
check "destroy: a stopped guest is gone within 1 s (not asked first), its process killed, unlisted" \
  bash -c "[ $(( (t1 - t0) / 1000000 )) -lt 1000 ] && ! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list | grep -q '^$G3 '" 
check "destroy: the guest process $P3 is gone" wait_for 2 gone "$P3"
check "destroy: pvnetd's log says it was killed, not that it shut down" \
  bash -c "! grep -q \"domain .* '$G3': shutdown requested\" '$PV_TMP/pvnetd.log'"

# ---- shutdown: graceful ----
P4=$(field "$G4" 8)
out=$(pvnet shutdown "$G4"); rc=$?
check "shutdown: returns at once (exit 0, 'Shutting down domain')" \
  bash -c "[ $rc = 0 ] && grep -q '^Shutting down domain' <<<'$out'"
check "shutdown: the guest exits by itself and $G4 leaves the list" \
  bash -c "for i in \$(seq 100); do '$PV_BIN/pvnet' --run-dir '$PV_RUN' list | grep -q '^$G4 ' || exit 0; sleep 0.05; done; exit 1"
check "shutdown: pvnetd's log says the guest exited with 0 (not killed)" \
  grep -q "guest of domain [0-9]* '$G4' exited with 0" "$PV_TMP/pvnetd.log"
check "shutdown: the guest process $P4 is gone" wait_for 2 gone "$P4"
out=$(pvnet shutdown --wait "$G6"); rc=$?
check "shutdown --wait: returns 0 with $G6 gone already, its guest exited with 0" \
  bash -c "[ $rc = 0 ] && ! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list | grep -q '^$G6 ' && grep -q \"'$G6' exited with 0\" '$PV_TMP/pvnetd.log'"
P5=$(field "$G5" 8)
kill -STOP "$P5"
t0=$(date +%s%N)
out=$(pvnet shutdown -w -t 1 "$G5" 2>&1); rc=$?
t1=$(date +%s%N)
diag "shutdown -w -t 1 of a stopped guest: $(( (t1 - t0) / 1000000 )) ms, exit $rc: $(tr '\n' ' ' <<<"$out")"
check "shutdown -w -t 1: a guest that cannot answer is destroyed after 1 s (exit 1, said)" \
  bash -c "[ $rc = 1 ] && [ $(( (t1 - t0) / 1000000 )) -ge 900 ] && grep -q 'did not shut down in 1000 ms; destroyed' <<<'$out' &&
    ! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list | grep -q '^$G5 '"
check "shutdown -w -t 1: the guest process $P5 is gone" wait_for 2 gone "$P5"
check "shutdown -t 0 and -t x are refused with the usage" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' shutdown -t 0 '$G2' 2>&1 | grep -q usage &&
           '$PV_BIN/pvnet' --run-dir '$PV_RUN' shutdown -t x '$G2' 2>&1 | grep -q usage &&
           '$PV_BIN/pvnet' --run-dir '$PV_RUN' list | grep -q '^$G2 '"
kill "$PING" 2>/dev/null; wait "$PING" 2>/dev/null
# sent: the highest icmp_seq answered; lost: the sequence numbers below it with no reply
read -r SENT GOT < <(awk '/bytes from/ {n++; sub(/.*icmp_seq=/, ""); s = $1 + 0} END {print s + 0, n + 0}' "$PV_TMP/ping.log")
diag "$G2 -> $G1 ping: $GOT replies up to icmp_seq $SENT"
check "$G2 pinged $G1 throughout the others' destroy and shutdown (at most 1 lost, > 20 sent)" \
  bash -c "[ $SENT -gt 20 ] && [ $(( SENT - GOT )) -le 1 ]"
pv_done
