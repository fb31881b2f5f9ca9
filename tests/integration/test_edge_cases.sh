#!/usr/bin/env bash
# pvnet as a new user meets it: configs beyond examples/ (xl syntax variants, two
# vifs on two bridges, several addresses, odd MTUs and modes, a namespace that
# already exists, too much memory) and CLI commands with wrong arguments. Every
# refusal must say why, exit non-zero, and leave pvnetd serving.
. "$(dirname "$0")/lib.sh"
pv_init edge_cases
pv_need ping

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi

ID=$$
G1="pve${ID}a"
G2="pve${ID}b"
G3="pve${ID}c"
pv_cleanup_add "ip netns del '$G1'; ip netns del '$G2'; ip netns del '$G3'"

# has_addr NS DEV ADDR: DEV in guest namespace NS carries ADDR
has_addr() { ip -n "$1" -br addr show "$2" 2>/dev/null | grep -qw "$3"; }
q() { "$@" >/dev/null 2>&1; }
alive() { kill -0 "$PV_PID" 2>/dev/null && pvnet info >/dev/null 2>&1; }

# --- xl syntax variants: no spaces, double quotes, trailing comma, CRLF ------------
printf 'name="%s"\r\nmemory=32\r\nvif=["mac=00:16:3e:e0:00:01,bridge=bre%s,ip=10.91.0.1/24 10.92.0.1/24 fd91::1/64","mac=00:16:3e:e0:00:11,bridge=brf%s,ip=10.93.0.1/24",]\r\n' \
  "$G1" "$ID" "$ID" >"$PV_TMP/g1.cfg"
cat >"$PV_TMP/g2.cfg" <<EOF
name   =   '$G2'
memory = 32
vif    = [ 'mac=00:16:3e:e0:00:02 , bridge = bre$ID , ip=10.91.0.2/24 fd91::2/64, queues=8',
           "mac=00:16:3e:e0:00:12,bridge=brf$ID,ip=10.93.0.2/24" ]
EOF
check "xl config without spaces, double quotes, trailing comma, CRLF" q pvnet create "$PV_TMP/g1.cfg"
check "xl config with odd spacing and two vifs on two bridges" q pvnet create "$PV_TMP/g2.cfg"
if wait_for 10 has_addr "$G1" eth0 10.91.0.1 && wait_for 10 has_addr "$G2" eth1 10.93.0.2; then
  ok "both guests configured their vifs"
else
  not_ok "guests configured their vifs"; diag "$(ip -n "$G1" -br addr 2>&1; ip -n "$G2" -br addr 2>&1)"
fi

# Several IPv4 addresses in ip=: each one is added (SIOCSIFADDR would keep only
# the last), and each answers.
check "every IPv4 address of ip= is on eth0 (10.91.0.1 and 10.92.0.1)" \
  bash -c "ip -n '$G1' -4 addr show eth0 | grep -q 'inet 10.91.0.1/24 brd 10.91.0.255' &&
           ip -n '$G1' -4 addr show eth0 | grep -q 'inet 10.92.0.1/24 brd 10.92.0.255'"
check "IPv6 address from the same ip= list too" has_addr "$G1" eth0 fd91::1/64
check "ping the first IPv4 address of a multi-address vif" \
  wait_for 10 q ip netns exec "$G2" ping -c 1 -W 1 10.91.0.1
check "ping over the second bridge (eth1 to eth1 of two 2-vif guests)" \
  wait_for 10 q ip netns exec "$G2" ping -c 1 -W 1 10.93.0.1
check "the second bridge holds only the two eth1 vifs" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch show | awk '/Bridge \"brf$ID\"/{f=1;next} /Bridge/{f=0} f && /^ *Port /' | grep -c Port | grep -qx 2"

# ethtool on a software-path vif (no accelerator): the negotiated netif features in
# ethtool's names, and netback's counters with every drop reason
V1="vif$(pvnet domid "$G1").0"
out=$(pvnet ethtool -k "$V1" 2>&1)
check "ethtool -k of a plain vif shows its negotiated offloads" \
  bash -c "grep -q '^Features for $V1:' <<<'$out' && grep -q '^tcp-segmentation-offload: on' <<<'$out' && grep -q '^scatter-gather: on' <<<'$out'"
out=$(pvnet ethtool -S "$V1" 2>&1)
check "ethtool -S of a plain vif: packets counted, drop reasons listed" \
  bash -c "awk '\$1 == \"rx_packets:\" && \$2 > 0 {ok = 1} END {exit !ok}' <<<'$out' && grep -q 'drop_tx_runt: ' <<<'$out'"

# queues=8 against netback's multi-queue-max-queues=4: Xen's rule (the backend
# caps), and the guest says so on its console.
check "queues=8 connects with the backend's 4 queues" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' vif-list '$G2' | grep -qE '^0 +vif[0-9]+\.0 .* Connected +4 '"
check "the guest's console says 8 queues were asked and 4 used" \
  grep -q "eth0: 8 queues asked, the backend offers 4: using 4" "$PV_RUN/console-$G2.log"

# --- refusals at create: the reason, exit 1, nothing left behind --------------------
refused() { # refused DESC PATTERN CFG
  local out rc
  out=$(pvnet create "$3" 2>&1); rc=$?
  if [ "$rc" = 1 ] && grep -q -- "$2" <<<"$out" && alive; then ok "$1"; else
    not_ok "$1"; diag "rc=$rc: $out"; fi
}
printf "name='%s'\nmemory=32\nvif=['bridge=bre%s,mtu=65535']\n" "$G3" "$ID" >"$PV_TMP/mtu.cfg"
refused "mtu=65535 on a TAP vif refused: above the TAP maximum 65521" "mtu 65535 is above 65521" \
  "$PV_TMP/mtu.cfg"
printf "name='%s'\nmemory=32\nvif=['bridge=bre%s,mode=tapp']\n" "$G3" "$ID" >"$PV_TMP/mode.cfg"
refused "unknown vif mode refused at create (not a vif stuck in InitWait)" \
  "unknown mode 'tapp' (expected tap, pktgen or sink)" "$PV_TMP/mode.cfg"
printf "name='%s'\nmemory=100000\n" "$G3" >"$PV_TMP/mem.cfg"
refused "memory above the hypervisor's limit refused with the limit" \
  "memory 100000 MiB is above the limit of 65536 MiB" "$PV_TMP/mem.cfg"
printf "name='%s'\nmemory=32\nnetns='%s'\n" "$G3" "$G1" >"$PV_TMP/ns.cfg"
refused "a network namespace that exists is refused at create" \
  "network namespace '$G1' already exists" "$PV_TMP/ns.cfg"
printf "name='..'\nmemory=32\n" >"$PV_TMP/dots.cfg"
refused "a domain named '..' needs netns= (no 'ip netns del ..' advice)" \
  "'..' cannot name a network namespace; set netns=" "$PV_TMP/dots.cfg"
# a MAC another domain's vif has (xl does not check; here the bridge's anti-spoofing
# gives a MAC to one port), whether from the file or a KEY=VALUE override
printf "name='%s'\nmemory=32\nvif=['mac=00:16:3e:e0:00:12,bridge=bre%s']\n" "$G3" "$ID" >"$PV_TMP/dupmac.cfg"
refused "a MAC used by $G2's vif 1 is refused at create, naming the owner" \
  "mac 00:16:3e:e0:00:12 is already vif 1 of domain $(pvnet domid "$G2") ($G2)" "$PV_TMP/dupmac.cfg"
out=$(pvnet create "$PV_TMP/mtu.cfg" "vif=['mac=00:16:3e:e0:00:01']" 2>&1); rc=$?
check "  ... and when it comes from a vif= override" \
  bash -c "[ $rc = 1 ] && grep -q 'mac 00:16:3e:e0:00:01 is already vif 0 of domain' <<<'$out'"
check "  ... $G2 still answers on that vif" wait_for 5 q ip netns exec "$G1" ping -c 1 -W 1 10.93.0.2
check "the refused domain is not listed" bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list | grep -q '^$G3 '"
check "the existing namespace is untouched" has_addr "$G1" eth0 10.91.0.1

printf "name='%s'\nmemory=32\non_crash='restart'\nvif=['bridge=bre%s,mtu=65521,ip=10.91.0.3/24']\n" "$G3" "$ID" >"$PV_TMP/mtumax.cfg"
out=$(pvnet create "$PV_TMP/mtumax.cfg" 2>&1)
check "mtu=65521 (the TAP maximum) is accepted" grep -q "^Created domain" <<<"$out"
check "on_crash='restart' is accepted with a warning that only destroy is done" \
  grep -q "warning: on_crash = \"restart\" is not implemented" <<<"$out"
check "the 65521-byte-MTU guest's eth0 comes up with that MTU" \
  wait_for 10 bash -c "ip -n '$G3' link show eth0 2>/dev/null | grep -q 'mtu 65521'"

# A relative kernel path is the user's, as with xl: resolved against pvnet's working
# directory, not pvnetd's (the file is missing, so no QEMU is needed to see which).
mkdir -p "$PV_TMP/userdir"
printf "name='%s'\ntype='hvm'\nkernel='img/vmlinuz'\nmemory=64\n" "pve${ID}h" >"$PV_TMP/userdir/hvm.cfg"
out=$(cd "$PV_TMP/userdir" && "$PV_BIN/pvnet" --run-dir "$PV_RUN" create hvm.cfg 2>&1)
if [ $? = 1 ] && grep -q "cannot read $PV_TMP/userdir/img/vmlinuz" <<<"$out"; then
  ok "a relative kernel= path is resolved in the user's directory"
else
  not_ok "a relative kernel= path is resolved in the user's directory"; diag "$out"
fi

# --- CLI misuse: usage on stderr, exit 2 (or 1 for a missing object) -----------------
usage_rc() { # usage_rc DESC RC PATTERN ARGS...
  local d=$1 want=$2 pat=$3 out rc; shift 3
  out=$(pvnet "$@" 2>&1 >/dev/null); rc=$?
  if [ "$rc" = "$want" ] && grep -q -- "$pat" <<<"$out" && alive; then ok "$d"; else
    not_ok "$d"; diag "rc=$rc (want $want): $out"; fi
}
usage_rc "domid without a name: usage, exit 2" 2 "usage: pvnet domid NAME" domid
check "list NAME shows that domain only, as xl list NAME" \
  bash -c "out=\$('$PV_BIN/pvnet' --run-dir '$PV_RUN' list '$G1'); grep -q '^$G1 ' <<<\"\$out\" && [ \$(wc -l <<<\"\$out\") = 2 ]"
usage_rc "list of an unknown domain: exit 1, named" 1 "no domain 'nosuch$ID'" list "$G1" "nosuch$ID"
usage_rc "switch without a command lists add-port and the other port commands" 2 "add-port" switch
usage_rc "switch with an unknown command: the same usage" 2 "set-antispoof" switch frobnicate
usage_rc "mirror into a missing directory names the errno" 1 "No such file or directory" \
  switch mirror vif1.0 "$PV_TMP/nodir/x.pcap"
# Port names are global (set-vlan, mirror, port-show take the name alone).
TP="pve${ID}t"
check "a TAP port joins bridge bre$ID" q pvnet switch add-port "bre$ID" "$TP" --type tap
usage_rc "the same port name on a second bridge is refused, naming the first" 1 \
  "bridge bre$ID already has a port named $TP" switch add-port "brf$ID" "$TP" --type tap
usage_rc "a host port named like a guest vif (vif7.0) is refused" 1 \
  "names vifD.N are the guests' vifs" switch add-port "brf$ID" vif7.0 --type tap
check "the port is on one bridge only" \
  bash -c "[ \$('$PV_BIN/pvnet' --run-dir '$PV_RUN' switch show | grep -c 'Port \"$TP\"') = 1 ]"
check "del-port, then the name is free for the other bridge" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch del-port bre$ID $TP >/dev/null &&
           '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch add-port brf$ID $TP --type tap >/dev/null &&
           '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch del-port brf$ID $TP >/dev/null"
ip -n "$PV_NS" link add "pve${ID}v" type veth peer name "pve${ID}w"
usage_rc "--type tap on an existing veth: EEXIST, not EINVAL" 1 "(tap): File exists" \
  switch add-port "bre$ID" "pve${ID}v" --type tap
check "pvnetd's log says the interface is not a TAP and to use --type afpacket" \
  grep -q "pve${ID}v exists and is not a TAP device: use --type afpacket" "$PV_TMP/pvnetd.log"
check "pvnet --help lists the switch port commands" \
  bash -c "'$PV_BIN/pvnet' --help | grep -q 'switch add-port' && '$PV_BIN/pvnet' --help | grep -q 'switch mirror'"

# Daemon mode (no --foreground), as README's tour starts it: the daemon lets go of
# the caller's stderr (a `pvnetd 2>&1 | tee` would otherwise never end), logs into
# its run dir, and runs in "/".
DRUN="$PV_TMP/drun"
(ulimit -Sn 128; nsenter --net="/run/netns/$PV_NS" "$PV_BIN/pvnetd" --run-dir "$DRUN" --state-dir "$PV_TMP/dstate" 2>"$PV_TMP/daemon.err")
drc=$?
DPID=$(cat "$DRUN/pvnetd.pid" 2>/dev/null)
[ -n "$DPID" ] && pv_cleanup_add "pv_kill_daemon $DPID"
check "pvnetd daemonizes: parent exits 0 once ready, pid file written" \
  bash -c "[ '$drc' = 0 ] && [ -n '$DPID' ] && kill -0 '$DPID'"
check "the daemon holds no descriptor of the caller's stderr" \
  bash -c "! ls -l /proc/$DPID/fd 2>/dev/null | grep -q '$PV_TMP/daemon.err'"
check "the daemon logs into <run-dir>/pvnetd.log" \
  wait_for 5 grep -q "ready on $DRUN" "$DRUN/pvnetd.log"
check "the daemon raised its descriptor soft limit (started at 128) to the hard limit" \
  bash -c "awk '/Max open files/ {exit !(\$4 == \$5 && \$4 != 128)}' /proc/$DPID/limits"
check "the daemon runs in /" bash -c "[ \"\$(readlink /proc/$DPID/cwd)\" = / ]"
check "the daemon answers and stops on SIGTERM, removing its sockets" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$DRUN' info >/dev/null && kill -TERM $DPID &&
           for i in \$(seq 100); do [ -S '$DRUN/pvnetd.sock' ] || exit 0; sleep 0.05; done; exit 1"

check "pvnetd still serves after every refusal" alive
# A process the user left in a guest's namespace outlives the guest (README's tour
# leaves an `iperf3 -s -D`): destroy says which, so the user can stop it.
ip netns exec "$G1" sleep 300 &
SPID=$!
pv_cleanup_add "kill $SPID"
out=$(pvnet destroy "$G1" 2>&1)
check "destroy names a process still running in the guest's namespace" \
  grep -q "warning: 1 process(es) still run in domain $G1's network namespace and keep it alive: $SPID sleep" <<<"$out"
kill "$SPID"; wait "$SPID" 2>/dev/null
check "destroy the other two guests" bash -c "for g in $G2 $G3; do '$PV_BIN/pvnet' --run-dir '$PV_RUN' destroy \$g >/dev/null || exit 1; done"
check "no guest namespace left behind" bash -c "! ip netns list | grep -qE '^pve${ID}[abc]( |\$)'"
pv_done
