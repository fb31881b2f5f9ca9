#!/usr/bin/env bash
# Persistent switch configuration: pvnetd's state dir (--state-dir; here the test's
# own, $PVNET_STATE_DIR from lib.sh). Bridges and ports of every kind (AF_PACKET on
# veths, TAP, VXLAN), access and trunk VLANs, anti-spoofing, ageing and a MAC limit
# are back after SIGTERM and after SIGKILL, and traffic crosses the restored ports
# with the restored VLANs and filters; a guest's vif rate and VLAN are saved while
# it lives and forgotten when it is destroyed; a hand-corrupted line is reported
# with file:line, kept aside in switch.conf.bad-TIME, and the rest applied; one
# pvnetd per state dir; a failing add-port leaves no bridge.
. "$(dirname "$0")/lib.sh"
pv_init state
pv_need ping python3 xenstore-read

ID=$(printf '%x' $(( $$ % 65536 )))
SD="$PVNET_STATE_DIR"
CONF="$SD/switch.conf"
q() { "$@" >/dev/null 2>&1; }

# host NAME IP UPLINK: a namespace with eth0 = the peer of UPLINK (in dom0's ns)
host() {
  local ns="st$ID-$1"
  ip netns add "$ns" && pv_cleanup_add "ip netns del '$ns'"
  ip link add "$3" netns "$PV_NS" type veth peer name eth0 netns "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n "$PV_NS" link set "$3" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$2/24" dev eth0
  ip -n "$ns" link set eth0 up
}
ip netns exec "$PV_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
host a 10.77.0.1 u1
host b 10.77.0.2 u2
host c 10.77.0.3 u3
A="st$ID-a"; B="st$ID-b"; C="st$ID-c"
MAC_A=$(ip -n "$A" -o link show eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)

# The settings `switch show` prints, without counters and interface indexes
# (the TAP is a new device after each start).
settings() {
  pvnet switch show | sed -E 's/ (ifindex|rx_[a-z_]+|tx_[a-z_]+|kernel_drops|vteps_learned|mac_learnt|mac_evicted|mac_limit_hits|vnet_hdr)=[^ ]*//g; s/ macs=[0-9]+\// macs=\//'
}
pings() { ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; }
# reach A->B works and A->C does not (C is on another VLAN)
traffic_ok() {
  wait_for 10 pings "$A" 10.77.0.2 && ! ip netns exec "$A" ping -c 2 -i 0.2 -W 1 10.77.0.3 >/dev/null 2>&1
}

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
check "pvnet info shows the state dir" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' info | grep -q 'state_dir *: $SD\$'"
check "an empty state file is written at start, mode 0600" \
  bash -c "[ \"\$(stat -c %a '$CONF')\" = 600 ] && grep -qx 'version 1' '$CONF'"

# ---- bridge lifecycle -----------------------------------------------------------
check "add-br br0" q pvnet switch add-br br0
check "add-br br1 (stays empty)" q pvnet switch add-br br1
err=$(pvnet switch add-br br0 2>&1) && not_ok "add-br of an existing bridge refused" ||
  check "add-br of an existing bridge refused" grep -q "exists" <<<"$err"
check "add-br --may-exist of an existing bridge" q pvnet switch add-br br0 --may-exist
err=$(pvnet switch add-port brz$ID nosuch0 2>&1) && not_ok "add-port of a missing interface fails" ||
  check "add-port of a missing interface fails" grep -q "no such interface" <<<"$err"
check "the failed add-port left no bridge (list-br, state file)" \
  bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch list-br | grep -q brz && ! grep -q brz '$CONF'"

# ---- settings -------------------------------------------------------------------
check "add-port br0 u1 (afpacket)" q pvnet switch add-port br0 u1
check "add-port br0 u2 --type afpacket" q pvnet switch add-port br0 u2 --type afpacket
check "add-port br0 u3" q pvnet switch add-port br0 u3
check "add-port br0 t$ID --type tap" q pvnet switch add-port br0 "t$ID" --type tap
check "add-port br0 vx0 --type vxlan" \
  q pvnet switch add-port br0 vx0 --type vxlan --vni 42 --remote 10.78.0.2 --local 127.0.0.1 --dstport 4789
check "set-vlan u1 10, u2 10, tap 10" \
  bash -c "for p in u1 u2 t$ID; do '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch set-vlan \$p 10 >/dev/null || exit 1; done"
check "set-trunk u3 20,30" q pvnet switch set-trunk u3 20,30
check "set-trunk vx0 10,20,native=5" q pvnet switch set-trunk vx0 10,20,native=5
check "set-antispoof u1 --mac A --ip 10.77.0.1" q pvnet switch set-antispoof u1 --mac "$MAC_A" --ip 10.77.0.1
check "set-ageing br0 7" q pvnet switch set-ageing br0 7
check "set-mac-limit u2 5" q pvnet switch set-mac-limit u2 5
check "set-mac-limit --bridge br0 500" q pvnet switch set-mac-limit --bridge br0 500
check "list-br lists br0 and br1" bash -c "[ \"\$('$PV_BIN/pvnet' --run-dir '$PV_RUN' switch list-br | tr '\n' ' ')\" = 'br0 br1 ' ]"
check "list-ports br0 lists the five ports" \
  bash -c "[ \"\$('$PV_BIN/pvnet' --run-dir '$PV_RUN' switch list-ports br0 | sort | tr '\n' ' ')\" = 't$ID u1 u2 u3 vx0 ' ]"
check "traffic before the restart: A reaches B (VLAN 10), not C (trunk 20,30)" traffic_ok

# ---- a guest's vif: rate and VLAN saved while it lives ------------------------------
G="st${ID}g"
cat >"$PV_TMP/$G.cfg" <<CFG
name = "$G"
memory = 64
vif = [ 'mac=00:16:3e:77:00:09, bridge=br0, ip=10.77.0.9/24',
        'mac=00:16:3e:77:00:0a, bridge=br1, vifname=st${ID}n' ]
CFG
pv_cleanup_add "ip netns del '$G' 2>/dev/null"
q pvnet create "$PV_TMP/$G.cfg"
if wait_for 15 connected "$G"; then
  ok "guest $G connected"
  GV="vif$(domid "$G").0"
  check "vif-set-rate $GV 5Mb/s@50ms is saved" \
    bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' vif-set-rate $GV 5Mb/s@50ms && grep -qx 'vif-set-rate $GV 5Mb/s@50ms' '$CONF'"
  check "set-vlan $GV 10 is saved" \
    bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch set-vlan $GV 10 >/dev/null && grep -qx 'switch set-vlan $GV 10' '$CONF'"
  check "set-mac-limit on a vif named by vifname= (st${ID}n) is saved" \
    bash -c "for i in \$(seq 50); do '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch set-mac-limit st${ID}n 7 >/dev/null 2>&1 && break; sleep 0.1; done; grep -qx 'switch set-mac-limit st${ID}n 7' '$CONF'"
  err=$(pvnet switch del-br br0 2>&1) && not_ok "del-br refused while a guest's vif is on it" ||
    check "del-br refused while a guest's vif is on it (names $GV)" grep -q "$GV (vif)" <<<"$err"
  check "the guest's vif passes traffic on VLAN 10 (guest -> B)" wait_for 10 pings "$G" 10.77.0.2
  q pvnet destroy "$G"
  check "destroying the guest forgets its vif's settings" \
    bash -c "! grep -Eq '$GV|st${ID}n' '$CONF' && grep -q 'set-vlan u1 10' '$CONF'"
else
  not_ok "guest $G connected"
fi
diag "state file: $(grep -v '^#' "$CONF" | tr '\n' ';')"

BEFORE=$(settings)

# restart KIND: stops pvnetd with KIND, starts a new one on the same dirs
restart() {
  if [ "$1" = KILL ]; then kill -KILL "$PV_PID"; wait "$PV_PID" 2>/dev/null; else pv_kill_daemon "$PV_PID"; fi
  wait "$PV_PID" 2>/dev/null
  pv_start
}
# list-br --json: br0 with ageing 7 s, MAC limit 500, 5 ports, and one other bridge;
# list-ports br0 --json: its five ports
lists_json_ok() {
  local br ports
  br=$(pvnet switch list-br --json) && ports=$(pvnet switch list-ports br0 --json) &&
    [ "$(jget '[name=br0].ageing_s' '[name=br0].mac_limit' '[name=br0].ports' <<<"$br" | tr '\n' ' ')" = "7 500 5 " ] &&
    [ "$(jget --len . <<<"$br")" = 2 ] &&
    [ "$(jget '*' <<<"$ports" | sort | tr '\n' ' ')" = "$(printf '%s\n' u1 u2 u3 vx0 "t$ID" | sort | tr '\n' ' ')" ]
}
# after_restart KIND: every setting is back and traffic obeys them
after_restart() {
  local k=$1 after
  after=$(settings)
  if [ "$after" = "$BEFORE" ]; then ok "$k: switch show lists every bridge, port and setting as before"
  else not_ok "$k: switch show lists every bridge, port and setting as before"
    diff <(echo "$BEFORE") <(echo "$after") | sed 's/^/# /'; fi
  check "$k: ageing 7 s, the bridge's MAC limit 500 and the bridge list are back" \
    bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch list-br -v | grep -q '^br0 ports=5 ageing=7s mac_limit=500 ' && [ \"\$('$PV_BIN/pvnet' --run-dir '$PV_RUN' switch list-br | tr '\n' ' ')\" = 'br0 br1 ' ]"
  check "$k: list-br --json / list-ports --json parse and agree" lists_json_ok
  check "$k: port-show u2: MAC limit 5" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch port-show u2 | grep -q 'macs=[0-9]*/5 '"
  check "$k: port-show vx0: trunk 10,20 native 5, vni 42" \
    bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch port-show vx0 | grep 'mode=trunk native=5 vlans=10,20' | grep -q 'vni=42'"
  check "$k: the TAP exists again in dom0's namespace" q ip -n "$PV_NS" link show "t$ID"
  check "$k: A reaches B on VLAN 10, not C on the trunk" traffic_ok
  # anti-spoofing: A sending from an address it was not given is dropped
  ip -n "$A" addr add "10.77.0.$2/24" dev eth0
  if ip netns exec "$A" ping -c 2 -i 0.2 -W 1 -I "10.77.0.$2" 10.77.0.2 >/dev/null 2>&1; then
    not_ok "$k: anti-spoofing on u1 is back (spoofed source refused)"
  else
    check "$k: anti-spoofing on u1 is back (spoofed source refused, counted)" \
      bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch port-show u1 | grep -Eq 'spoofed_(ip|arp)=[1-9]'"
  fi
  ip -n "$A" addr del "10.77.0.$2/24" dev eth0
}

check "a mirror runs on u2 (not a setting: the state file does not change)" \
  bash -c "cp '$CONF' '$PV_TMP/conf.m' && '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch mirror u2 '$PV_TMP/m.pcap' >/dev/null &&
           '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch port-show u2 | grep -q 'mirror=' && cmp -s '$CONF' '$PV_TMP/conf.m'"
if restart TERM; then ok "SIGTERM: pvnetd starts again on the same state dir"; else not_ok "SIGTERM restart"; pv_done; exit 1; fi
check "SIGTERM: the mirror is not restored (mirrors are not persisted)" \
  bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch show | grep -q 'mirror='"
after_restart SIGTERM 21
check "SIGTERM: the log says how many settings were applied" grep -q "setting(s) applied, 0 waiting for their vif, 0 line(s) with errors" "$PV_TMP/pvnetd.log"

if restart KILL; then ok "SIGKILL: pvnetd starts again on the same state dir"; else not_ok "SIGKILL restart"; pv_done; exit 1; fi
after_restart SIGKILL 22

# ---- one pvnetd per state dir ------------------------------------------------------
cp "$CONF" "$PV_TMP/conf.before"
out=$(nsenter --net="/run/netns/$PV_NS" "$PV_BIN/pvnetd" --foreground --run-dir "$PV_TMP/run2" \
  --log "$PV_TMP/pvnetd2.log" 2>&1) && not_ok "a second pvnetd on the same state dir is refused" ||
  check "a second pvnetd on the same state dir is refused, naming it" grep -q "state dir $SD is in use" <<<"$out"
check "the first pvnetd still answers and its file is untouched" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch list-br | grep -qx br0 && cmp -s '$CONF' '$PV_TMP/conf.before'"

mkdir -m 0770 "$PV_TMP/gstate"
out=$(nsenter --net="/run/netns/$PV_NS" "$PV_BIN/pvnetd" --foreground --run-dir "$PV_TMP/run3" \
  --state-dir "$PV_TMP/gstate" --log "$PV_TMP/pvnetd3.log" 2>&1) && not_ok "a group-writable state dir is refused" ||
  check "a group-writable state dir is refused, saying why" grep -q "not writable by group or others" <<<"$out"

# ---- a corrupt, hand-edited file ---------------------------------------------------
pv_kill_daemon "$PV_PID"; wait "$PV_PID" 2>/dev/null
sed -i 's/^switch set-trunk u3 20,30$/switch set-trunk u3 20,zz/' "$CONF"
printf 'vif-set-rate vif777.0 1Mb/s\nswitch mirror u1 /tmp/m.pcap\n' >>"$CONF"
BADLINE=$(grep -n 'set-trunk u3 20,zz' "$CONF" | cut -d: -f1)
MIRLINE=$(grep -n 'switch mirror' "$CONF" | cut -d: -f1)
cp "$CONF" "$PV_TMP/conf.edited"
: >"$PV_TMP/pvnetd.log"
if pv_start; then ok "pvnetd starts with a corrupt line in its state file"; else not_ok "pvnetd starts with a corrupt line"; pv_done; exit 1; fi
check "the log names file:line and the reason of the bad VLAN" \
  grep -q "$CONF:$BADLINE: 'switch set-trunk u3 20,zz': bad VLAN 'zz'" "$PV_TMP/pvnetd.log"
check "the log names file:line of the mirror (not persisted)" \
  grep -q "$CONF:$MIRLINE: 'switch mirror' is not a setting (mirrors are not persisted)" "$PV_TMP/pvnetd.log"
check "a setting of a vif whose domain is gone is dropped with a note (after the first loop turn)" \
  wait_for 3 grep -q "'vif-set-rate vif777.0 1Mb/s': its domain no longer exists" "$PV_TMP/pvnetd.log"
BAD=$(ls "$SD"/switch.conf.bad-* 2>/dev/null | head -1)
check "the file as edited is kept aside (switch.conf.bad-TIME, 0600)" \
  bash -c "[ -n '$BAD' ] && cmp -s '$BAD' '$PV_TMP/conf.edited' && [ \"\$(stat -c %a '$BAD')\" = 600 ]"
check "the rest is applied: u3 untagged now, u1/u2 on VLAN 10, A reaches B" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch port-show u3 | grep -q 'mode=access vlan=untagged' &&
           '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch port-show u2 | grep -q 'vlan=10 '"
check "A reaches B after the partial load" wait_for 10 pings "$A" 10.77.0.2
check "the rewritten state file holds what was applied (no u3 trunk, vif777, mirror)" \
  wait_for 3 bash -c "! grep -v '^#' '$CONF' | grep -Eq 'u3 20|vif777|mirror' && grep -qx 'switch set-vlan u1 10' '$CONF' && grep -qx 'switch set-ageing br0 7' '$CONF'"

# ---- a hand edit while pvnetd runs: not applied, and not lost under the next save ----
ls "$SD"/switch.conf.edited-* >/dev/null 2>&1 && not_ok "no switch.conf.edited-* before the edit"
echo 'switch set-ageing br0 99' >>"$CONF"
cp "$CONF" "$PV_TMP/conf.handedit"
q pvnet switch set-ageing br1 11
ED=$(ls "$SD"/switch.conf.edited-* 2>/dev/null | head -1)
check "the next change keeps the hand-edited file aside (switch.conf.edited-TIME, 0600)" \
  bash -c "[ -n '$ED' ] && cmp -s '$ED' '$PV_TMP/conf.handedit' && [ \"\$(stat -c %a '$ED')\" = 600 ]"
check "  ... and logs that the edit was not applied" grep -q "$CONF was edited while pvnetd runs: the edit is not applied" "$PV_TMP/pvnetd.log"
check "  ... the file says what runs: br1's new ageing, not the edit's 99" \
  bash -c "grep -qx 'switch set-ageing br1 11' '$CONF' && ! grep -q 'br0 99' '$CONF'"
q pvnet switch set-ageing br1 12
check "a save after pvnetd's own save keeps no further copy" \
  bash -c "[ \$(ls '$SD'/switch.conf.edited-* | wc -l) = 1 ]"

# ---- deletions are saved -------------------------------------------------------------
check "del-port br0 u3 and del-br br1" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch del-port br0 u3 >/dev/null && '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch del-br br1 >/dev/null"
check "the state file no longer has u3 or br1" bash -c "! grep -Eq ' u3( |\$)|br1' '$CONF'"
check "del-br br0 with device ports deletes them" q pvnet switch del-br br0
check "list-br is empty, the TAP is gone, the file has only its version" \
  bash -c "[ -z \"\$('$PV_BIN/pvnet' --run-dir '$PV_RUN' switch list-br)\" ] && ! ip -n '$PV_NS' link show t$ID >/dev/null 2>&1 && [ \"\$(grep -v '^#' '$CONF')\" = 'version 1' ]"

pv_done
