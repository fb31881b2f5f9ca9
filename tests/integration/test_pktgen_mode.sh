#!/usr/bin/env bash
# netfront's in-ring generator and sink (vif mode=pktgen / mode=sink): two
# guests on one bridge, one generating 64-byte frames straight into its TX
# ring for 2 s, one counting them off its RX ring. No TAP in either guest.
# Accounting: frames the sink counted = frames the generator sent - drops
# counted by netback and the switch (pvnet stats --json), and the generator's
# own store counters agree with netback's. No speed assertion.
. "$(dirname "$0")/lib.sh"
pv_init pktgen_mode
pv_need xenstore-read xenstore-write python3

ID=$(printf '%x' $(( $$ % 65536 )))
GEN=pvp${ID}g; SNK=pvp${ID}s

# mkcfg NAME N MODE-SPEC: a domain config in the temp dir
mkcfg() { pv_cfg "$1" "bridge=bp$ID, ip=10.81.0.$2/24, $3"; }
# ctr NAME KEY: a store counter of the guest's pktgen/sink
ctr() { xenstore-read "/local/domain/$(domid "$1")/data/pktgen/$2" 2>/dev/null; }

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi

mkcfg "$SNK" 2 "mode=sink"
mkcfg "$GEN" 1 "mode=pktgen, pkt=64, pps=0"
check "create a sink and a generator guest" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' create '$PV_TMP/$SNK.cfg' >/dev/null && '$PV_BIN/pvnet' --run-dir '$PV_RUN' create '$PV_TMP/$GEN.cfg' >/dev/null"
IDG=$(domid "$GEN"); IDS=$(domid "$SNK")
if [ -z "$IDG" ] || [ -z "$IDS" ] ||
  ! wait_for 5 bash -c "[ \"\$(xenstore-read /local/domain/0/backend/vif/$IDG/0/feature-rx-copy 2>/dev/null)\" = 1 ]"; then
  skip "pktgen/sink traffic" "no netback: the backend never offered feature-rx-copy"
  pv_done; exit $?
fi
check "frontend nodes: pvnet-mode pktgen/sink, pvnet-pkt 64" \
  bash -c "[ \"\$(xenstore-read /local/domain/$IDG/device/vif/0/pvnet-mode)\" = pktgen ] && [ \"\$(xenstore-read /local/domain/$IDS/device/vif/0/pvnet-mode)\" = sink ] && [ \"\$(xenstore-read /local/domain/$IDG/device/vif/0/pvnet-pkt)\" = 64 ]"
if wait_for 10 connected --store "$GEN" && wait_for 10 connected --store "$SNK"; then
  ok "xenbus: both vifs Connected"
else
  not_ok "xenbus: both vifs Connected"; pv_done; exit 1
fi
check "no TAP device in pktgen/sink guests (namespace still made)" \
  bash -c "ip netns list | grep -qE '^$GEN( |\$)' && ! ip -n '$GEN' link show eth0 >/dev/null 2>&1 && ! ip -n '$SNK' link show eth0 >/dev/null 2>&1"

# Run 2 s, then pause the generator and wait until every counter settles.
check "generator counters appear in the store" wait_for 5 bash -c "[ \"\$(xenstore-read /local/domain/$IDG/data/pktgen/tx_packets 2>/dev/null || echo 0)\" -gt 0 ]"
sleep 2  # the run length itself, not a synchronisation
xenstore-write "/local/domain/$IDG/control/pktgen" stop
snap() {
  local js
  js=$(pvnet stats --json 2>/dev/null) || return 1
  local v='vifs.[connected=true]' tx rx
  tx=$(jget "$v.[name=vif$IDG.0].tx_packets" <<<"$js") &&
    rx=$(jget "$v.[name=vif$IDS.0].rx_packets" <<<"$js") || return 1
  echo "$tx $rx $(jget --sum 'vifs.*.drops' 'bridges.*.ports.*.drops' <<<"$js")"
}
prev=""; cur=""
for _ in $(seq 1 30); do  # store counters are written once a second: compare 1.2 s apart
  cur="$(ctr "$GEN" tx_packets) $(ctr "$SNK" rx_packets) $(ctr "$SNK" rx_lost) $(ctr "$SNK" rx_reordered) $(snap)"
  [ "$cur" = "$prev" ] && break
  prev=$cur; sleep 1.2
done
read -r gtx srx slost sreord nbtx nbrx drops <<<"$cur"
diag "generator sent $gtx, netback took $nbtx from it, delivered $nbrx to the sink, sink counted $srx (lost $slost, reordered $sreord), counted drops $drops"
diag "rate over the run: ~$(awk -v n="$gtx" 'BEGIN {printf "%.3f", n / 2e6}') Mpps (indicative; not asserted)"
check "generator sent frames" [ "${gtx:-0}" -gt 0 ]
check "netback saw exactly the frames the generator counted ($nbtx = $gtx)" [ "$nbtx" = "$gtx" ]
check "sink counted = sent - counted drops ($srx = $gtx - $drops)" [ "$srx" = "$((gtx - drops))" ]
check "sink's rx_packets = netback's delivered count" [ "$srx" = "$nbrx" ]
check "sink's sequence gaps = counted drops, nothing reordered" [ "$slost:$sreord" = "$drops:0" ]

# Console: the guest prints its rates.
log=$(ls "$PV_RUN"/*"$GEN"*.log "$PV_RUN"/console/*"$GEN"* 2>/dev/null | head -n 1)
if [ -n "$log" ]; then
  check "generator console shows the rate" grep -q "pktgen: tx .* Mpps" "$log"
else
  skip "generator console shows the rate" "no console log file found under $PV_RUN"
fi

check "destroy both guests" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' destroy '$GEN' >/dev/null && '$PV_BIN/pvnet' --run-dir '$PV_RUN' destroy '$SNK' >/dev/null"
check "no guest namespace left behind" bash -c "! ip netns list | grep -qE '^pvp${ID}[gs]( |\$)'"
check "every guest shut down within the toolstack's 3 s (no SIGKILL needed)" bash -c "! grep -q 'did not shut down' '$PV_TMP/pvnetd.log'"
pv_done
