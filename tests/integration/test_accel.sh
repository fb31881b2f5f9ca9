#!/usr/bin/env bash
# NIC accelerators end to end: a simnic NIC whose wire is an AF_PACKET socket on a
# veth joined to a "remote host" namespace; guests pick it with accel=simnic,level=N.
# Level 0: the NIC is the bridge's uplink (offloads on the NIC). Level 1: the vif's
# own RX queue, steered by its MAC, DMA straight into the guest's RX grants.
# Levels 2-3: the guest drives its own queue pair (VF at Level 3): spoofed MAC/IP
# dropped by the NIC, VF-to-VF hairpin on the NIC, more guests than VFs.
# iperf3 remote <-> guest at each level, pvnet accel list / nic list / ethtool
# -k/-S, and detach/attach under iperf3 with no packet lost (Levels 1 and 2).
. "$(dirname "$0")/lib.sh"
pv_init accel
pv_need iperf3 ping nsenter ethtool xenstore-read

ID=$(printf '%x' $(( $$ % 65536 )))
BR="br$ID"
G=()
q() { "$@" >/dev/null 2>&1; }

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi

# the remote host: namespace R, eth0 = peer of the NIC's wire "w$ID" in dom0's namespace
R="$PV_NS-r"
ip netns add "$R" && pv_cleanup_add "ip netns del '$R'"
ip link add "w$ID" netns "$PV_NS" type veth peer name eth0 netns "$R"
ip -n "$R" link set lo up
ip -n "$R" addr add 10.61.0.100/24 dev eth0
ip -n "$R" link set eth0 up
# simnic's wire is one frame per read/write: no GSO super-frames from the remote kernel
ip netns exec "$R" ethtool -K eth0 tso off gso off gro off tx off >/dev/null 2>&1
ip netns exec "$PV_NS" ethtool -K "w$ID" gro off >/dev/null 2>&1
ip netns exec "$R" sysctl -qw net.ipv6.conf.all.disable_ipv6=1

out=$(pvnet accel list 2>&1)
diag "$out"
check "accel list shows the simnic built-in with levels 0-3" grep -qE '^simnic +[0-9.]+ +1\.[0-9]+ +0,1,2,3 +built-in' <<<"$out"

err=$(pvnet nic add bad0 --plugin nosuch --wire "w$ID" 2>&1) && not_ok "unknown plugin refused" || \
  check "nic add with an unknown plugin: clear error" grep -q "no accelerator plugin 'nosuch'" <<<"$err"
err=$(pvnet nic add bad1 --plugin simnic --wire nosuch0 2>&1) && not_ok "missing wire refused" || \
  check "nic add with a missing wire: clear error" grep -q "no such interface" <<<"$err"
check "nic add nic0 --plugin simnic --wire w$ID --vfs 2 --bridge $BR" \
  pvnet nic add nic0 --plugin simnic --wire "w$ID" --vfs 2 --bridge "$BR"
out=$(pvnet nic list)
diag "$out"
check "nic list shows nic0 on its wire and bridge" grep -qE "^nic0 +simnic +w$ID +$BR" <<<"$out"
# ethtool's items come from netback as numbers; text and --json are rendered by pvnetd
# from the same items: the same names in the same order, the same feature states
ethtool_json_matches() { # -k|-S NAME
  python3 - "$1" "$2" "$(pvnet ethtool "$1" "$2")" "$(pvnet ethtool "$1" "$2" --json)" <<'PY'
import json, sys
what, name, text, js = sys.argv[1:]
d = json.loads(js)
lines = text.splitlines()
assert d["name"] == name, d
if what == "-k":
    assert lines[0] == "Features for %s:" % name, lines[0]
    want = [(l.split(":")[0].strip(), l.split(": ")[1].startswith("on"), l.endswith("[fixed]")) for l in lines[1:]]
    got = [(f["name"], f["on"], f["fixed"]) for f in d["features"]]
else:
    assert lines[0] == "NIC statistics:", lines[0]
    want = [l.split(":")[0].strip() for l in lines[1:]]
    got = list(d["statistics"])
    assert all(isinstance(v, int) for v in d["statistics"].values()), d
assert want == got and len(got) > 3, (want, got)
PY
}
check "ethtool -k nic0 --json: the text's features, states and [fixed] flags" ethtool_json_matches -k nic0
check "ethtool -S nic0 --json: the text's counters (dev_* included), as numbers" ethtool_json_matches -S nic0

# mkcfg NAME IP LEVEL: a guest on the NIC's bridge with accel=simnic,level=LEVEL
mkcfg() {
  local mac
  mac=$(printf '00:16:3e:61:%02x:%02x' $(( 0x$ID & 255 )) $(( ${#G[@]} + 1 )))
  pv_cfg "$1" "mac=$mac, bridge=$BR, ip=$2/24, accel=simnic, level=$3"
  G+=("$1")
}
# iperf SRV_NS SRV_IP CLI_NS SECS [ARGS]: prints the receiver's rate, fails on error
iperf() {
  local sns=$1 sip=$2 cns=$3 secs=$4 port=$((5300 + RANDOM % 500)) out; shift 4
  ip netns exec "$sns" iperf3 -s -1 -D -p "$port" --logfile "$PV_TMP/iperf-$port.log" || return 1
  wait_for 5 bash -c "ip netns exec '$sns' ss -ltn | grep -q ':$port '" || return 1
  out=$(ip netns exec "$cns" timeout $((secs + 20)) iperf3 -c "$sip" -p "$port" -t "$secs" -f m "$@" 2>&1) || { echo "$out"; return 1; }
  awk '/receiver/ {print $(NF-2), $(NF-1)}' <<<"$out" | tail -1
}
vifstat() { pvnet ethtool -S "$1" | awk -v k="$2:" '$1 == k {print $2}'; }
# nbpkts VIF: packets netback moved for VIF (tx + rx), i.e. through dom0's switch port
nbpkts() { pvnet stats | awk -v v="$1" '$1 == v {for (i = 1; i < NF; i++) if ($i == "tx" || $i == "rx") s += $(i + 1)} END {print s + 0}'; }
# rawsend NS SRC_MAC SRC_IP DST_MAC DST_IP COUNT: UDP frames from a raw AF_PACKET socket
rawsend() {
  ip netns exec "$1" python3 - "$2" "$3" "$4" "$5" "$6" <<'PY'
import socket, struct, sys
smac, sip, dmac, dip, n = sys.argv[1:6]
mac = lambda m: bytes(int(x, 16) for x in m.split(':'))
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
payload = b'pvnet-spoof-test' * 4
udp = struct.pack('!HHHH', 40000, 9, 8 + len(payload), 0) + payload
iph = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                  socket.inet_aton(sip), socket.inet_aton(dip))
iph = iph[:10] + struct.pack('!H', csum(iph)) + iph[12:]
f = mac(dmac) + mac(smac) + b'\x08\x00' + iph + udp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('eth0', 0))
for _ in range(int(n)): s.send(f)
PY
}
RMAC=$(ip -n "$R" link show eth0 | awk '/link\/ether/ {print $2}')

N=0
for L in 0 1 2 3; do
  N=$((N + 1)); g="pa$ID$L"; ip="10.61.0.$((10 + N))"
  mkcfg "$g" "$ip" "$L"
  check "level $L: create $g" q pvnet create "$PV_TMP/$g.cfg"
  if ! wait_for 10 connected "$g"; then not_ok "level $L: $g connected"; continue; fi
  ok "level $L: $g connected"
  id=$(domid "$g"); vif="vif$id.0"
  check "level $L: ping remote -> $g" q ip netns exec "$R" ping -c 3 -i 0.2 -W 2 "$ip"
  if bw=$(iperf "$g" "$ip" "$R" 3); then ok "level $L: iperf3 remote -> guest: $bw"; else not_ok "level $L: iperf3 remote -> guest"; diag "$bw"; fi
  if bw=$(iperf "$R" 10.61.0.100 "$g" 3); then ok "level $L: iperf3 guest -> remote: $bw"; else not_ok "level $L: iperf3 guest -> remote"; diag "$bw"; fi
  out=$(pvnet ethtool -k "$vif" 2>&1)
  check "level $L: ethtool -k $vif (ethtool layout)" grep -q "^Features for $vif:" <<<"$out"
  check "level $L: ethtool -k shows tcp-segmentation-offload" grep -qE '^tcp-segmentation-offload: (on|off)' <<<"$out"
  out=$(pvnet ethtool -S "$vif" 2>&1)
  check "level $L: ethtool -S $vif (NIC statistics)" grep -q '^NIC statistics:' <<<"$out"
  check "level $L: ethtool -k $vif --json says what the text says" ethtool_json_matches -k "$vif"
  if [ "$L" = 0 ]; then
    tso=$(vifstat "$vif" tso_segments)
    check "level 0: the NIC cut TSO segments (tso_segments=$tso)" test "${tso:-0}" -gt 0
  elif [ "$L" -ge 2 ]; then
    # the guest drives its queue pair: the NIC moves its unicast both ways, dom0 none
    rx=$(vifstat "$vif" rx_packets); tx=$(vifstat "$vif" tx_packets); nic=$(vifstat "$vif" pv_nic_rx_packets)
    check "level $L: the guest drives its queue pair (pv_guest_driven=$(vifstat "$vif" pv_guest_driven))" \
      test "$(vifstat "$vif" pv_guest_driven)" = 1
    check "level $L: unicast both ways on the guest's qp (NIC rx_packets=$rx tx_packets=$tx, dom0 responses=$nic)" \
      test "${rx:-0}" -gt 1000 -a "${tx:-0}" -gt 1000 -a "${nic:-1}" = 0
    out=$(xenstore-read "/local/domain/0/backend/vif/$id/0/accel-frontend" 2>&1)
    check "level $L: backend publishes accel-frontend=simnic ($out)" test "$out" = simnic
    flt=$(vifstat "$vif" dma_faults)
    check "level $L: no DMA fault (dma_faults=${flt:-?})" test "${flt:-1}" = 0
  else
    dma=$(vifstat "$vif" rx_packets); nic=$(vifstat "$vif" pv_nic_rx_packets)
    check "level $L: unicast RX DMA'd into guest buffers by the NIC (rx_packets=$dma, responses=$nic)" \
      test "${dma:-0}" -gt 1000 -a "${nic:-0}" -gt 1000
    flt=$(vifstat "$vif" dma_faults)
    check "level $L: no DMA fault (dma_faults=${flt:-?})" test "${flt:-1}" = 0
  fi
  if [ "$L" = 2 ]; then
    # anti-spoofing on the NIC: frames the guest sends on its qp from a raw socket
    gmac=$(ip -n "$g" link show eth0 | awk '/link\/ether/ {print $2}')
    sp0=$(vifstat "$vif" tx_spoof_dropped)
    rawsend "$g" "$gmac" "$ip" "$RMAC" 10.61.0.100 20
    wait_for 3 bash -c "[ \"\$(pvnet ethtool -S $vif | awk '\$1 == \"tx_packets:\" {print \$2}')\" -gt 0 ]"
    sp1=$(vifstat "$vif" tx_spoof_dropped)
    check "level 2: 20 legit raw frames pass the NIC's TX filter (tx_spoof_dropped $sp0 -> $sp1)" test "$sp0" = "$sp1"
    rawsend "$g" 02:00:00:00:be:ef "$ip" "$RMAC" 10.61.0.100 20
    wait_for 3 bash -c "[ \"\$(pvnet ethtool -S $vif | awk '\$1 == \"tx_spoof_dropped:\" {print \$2}')\" -ge $((sp1 + 20)) ]"
    sp2=$(vifstat "$vif" tx_spoof_dropped)
    check "level 2: a spoofed source MAC on the qp is dropped by the NIC and counted (tx_spoof_dropped $sp1 -> $sp2)" test "$sp2" -ge $((sp1 + 20))
    rawsend "$g" "$gmac" 10.61.0.250 "$RMAC" 10.61.0.100 20
    wait_for 3 bash -c "[ \"\$(pvnet ethtool -S $vif | awk '\$1 == \"tx_spoof_dropped:\" {print \$2}')\" -ge $((sp2 + 20)) ]"
    sp3=$(vifstat "$vif" tx_spoof_dropped)
    check "level 2: a spoofed source IP on the qp is dropped by the NIC and counted (tx_spoof_dropped $sp2 -> $sp3)" test "$sp3" -ge $((sp2 + 20))
  fi
  if [ "$L" = 1 ] || [ "$L" = 2 ]; then
    # detach / attach under iperf3: the traffic moves between the NIC queue and the rings
    port=$((5900 + RANDOM % 50))
    ip netns exec "$g" iperf3 -s -1 -D -p "$port" --logfile "$PV_TMP/iperf-da.log"
    wait_for 5 bash -c "ip netns exec '$g' ss -ltn | grep -q ':$port '"
    before=$(ip netns exec "$g" cat /sys/class/net/eth0/statistics/rx_dropped)
    nd0=$(vifstat "$vif" rx_dropped); nb0=$(vifstat "$vif" rx_no_buffer); df0=$(vifstat "$vif" dma_faults)
    # a paced stream (200 Mb/s) the guest keeps up with: any loss would be the switch-over's
    ip netns exec "$R" iperf3 -c "$ip" -p "$port" -t 6 -b 200M -f m >"$PV_TMP/iperf-dac.log" 2>&1 &
    ipid=$!; pv_cleanup_add "kill $ipid"
    sleep 1.5; d1=$(pvnet accel detach "$vif" 2>&1); r1=$?
    sleep 1.5; a1=$(pvnet accel attach "$vif" 2>&1); r2=$?
    sleep 1; d2=$(pvnet accel detach "$vif" 2>&1); sleep 0.5; a2=$(pvnet accel attach "$vif" 2>&1)
    wait "$ipid"; rc=$?
    check "level $L: accel detach/attach $vif succeed" test "$r1" = 0 -a "$r2" = 0
    if [ "$rc" = 0 ] && grep -q receiver "$PV_TMP/iperf-dac.log"; then
      ok "level $L: iperf3 through detach/attach: $(awk '/receiver/ {print $(NF-2), $(NF-1)}' "$PV_TMP/iperf-dac.log") no error"
    else
      not_ok "level $L: iperf3 through detach/attach"; diag "$(tail -5 "$PV_TMP/iperf-dac.log")"
    fi
    after=$(ip netns exec "$g" cat /sys/class/net/eth0/statistics/rx_dropped)
    retr=$(awk '/sender/ {print $(NF-1)}' "$PV_TMP/iperf-dac.log" | tail -1)
    diag "retransmits during detach/attach: ${retr:-?}"
    nd1=$(vifstat "$vif" rx_dropped); nb1=$(vifstat "$vif" rx_no_buffer); df1=$(vifstat "$vif" dma_faults)
    # What the switch-over could lose: a frame DMA'd into a buffer already handed back
    # (dma_faults), a ring the hand-back broke (drops other than rx_no_buffer), or
    # buffers never handed to the NIC again (it would then find none from the attach
    # on). A guest the loaded machine does not run for a while posts no buffers
    # either (rx_no_buffer during the stream): that is load, so those drops are
    # counted apart, and the NIC must have buffers again once the switch-over is done.
    diag "level $L: NIC rx_dropped $nd0 -> $nd1, of which rx_no_buffer $nb0 -> $nb1 (the guest posted no buffer in time)"
    check "level $L: the NIC dropped nothing for $vif during detach/attach but for want of guest buffers (rx_dropped - rx_no_buffer: $((nd0 - nb0)) -> $((nd1 - nb1)), dma_faults $df0 -> $df1)" \
      test "$((nd1 - nb1))" = "$((nd0 - nb0))" -a "${df1:-x}" = "${df0:-y}"
    # after the switch-over, a paced burst: every frame finds a buffer on the NIC
    nb2=$(vifstat "$vif" rx_no_buffer)
    q ip netns exec "$R" ping -c 20 -i 0.05 -W 2 "$ip"
    nb3=$(vifstat "$vif" rx_no_buffer)
    check "level $L: after the switch-over the NIC has the guest's buffers (rx_no_buffer $nb2 -> $nb3 over 20 pings)" test "$nb2" = "$nb3"
    diag "$(pvnet vif-list "$g" 2>&1 | head -5)"
    line=$(pvnet stats | grep "^$vif ")
    diag "$line"
    check "level $L: netback dropped nothing toward $vif (no rx_* drop reason)" bash -c "! grep -qE ' rx_[a-z_]+=' <<<'$line'"
    if [ "$L" = 1 ]; then
      check "level 1: pv_reclaims counted the hand-backs" test "$(vifstat "$vif" pv_reclaims)" -ge 1
    else
      rxa=$(vifstat "$vif" rx_packets)
      q ip netns exec "$R" ping -c 3 -i 0.2 -W 2 "$ip"
      rxb=$(vifstat "$vif" rx_packets)
      check "level 2: after attach the NIC feeds the guest's qp again (rx_packets $rxa -> $rxb)" test "$rxb" -gt "$rxa"
    fi
    check "level $L: guest eth0 dropped nothing (rx_dropped $before -> $after)" test "$before" = "$after"
  fi
done
# Level 3: one VF per guest; --vfs 2 and the L3 guest above holds one. Two more:
# the first gets the last VF, the second stays on the software path; all talk.
V=()
for k in 1 2; do
  N=$((N + 1)); g="pv$ID$k"; ip="10.61.0.$((10 + N))"
  mkcfg "$g" "$ip" 3; V+=("$g:$ip")
  pvnet create "$PV_TMP/$g.cfg" >/dev/null 2>&1
  wait_for 10 connected "$g" || not_ok "vf: $g connected"
done
out=$(pvnet nic list)
check "vf: nic list shows both VFs in use (2/2)" grep -qE "^nic0 .* 2/2 " <<<"$out"
check "vf: the guest beyond the VF count fell back to the software path" \
  grep -q "$(printf 'vif%s.0' "$(domid "${V[1]%%:*}")"): simnic port on NIC nic0: .*software path" "$PV_TMP/pvnetd.log"
for e in "${V[@]}"; do
  g=${e%%:*}
  check "vf: $g pings the remote host" q ip netns exec "$g" ping -c 2 -i 0.2 -W 2 10.61.0.100
done
check "vf: the VF guest and the software-path guest ping each other" \
  q ip netns exec "${V[0]%%:*}" ping -c 2 -i 0.2 -W 2 "${V[1]#*:}"
if bw=$(iperf "${V[1]%%:*}" "${V[1]#*:}" "$R" 2); then ok "vf: iperf3 remote -> software-path guest: $bw"; else not_ok "vf: iperf3 remote -> software-path guest"; fi
# VF to VF: the Level-3 guest of the level loop and the first VF guest above talk
# through the NIC's on-NIC switch; dom0's switch ports for them see (almost) nothing
g3="pa${ID}3"; v3=vif$(domid "$g3").0; v0=vif$(domid "${V[0]%%:*}").0
q ip netns exec "$g3" ping -c 2 -i 0.2 -W 2 "${V[0]#*:}"  # ARP (broadcast) on the rings
hp0=$(( $(vifstat "$v3" hairpin_packets) + $(vifstat "$v0" hairpin_packets) ))
sw0=$(( $(nbpkts "$v3") + $(nbpkts "$v0") ))
if bw=$(iperf "${V[0]%%:*}" "${V[0]#*:}" "$g3" 2); then ok "vf: iperf3 VF guest -> VF guest: $bw"; else not_ok "vf: iperf3 VF guest -> VF guest"; diag "$bw"; fi
hp1=$(( $(vifstat "$v3" hairpin_packets) + $(vifstat "$v0" hairpin_packets) ))
sw1=$(( $(nbpkts "$v3") + $(nbpkts "$v0") ))
check "vf: the NIC hairpinned VF-to-VF traffic (hairpin_packets $hp0 -> $hp1)" test "$hp1" -gt $((hp0 + 1000))
check "vf: dom0's switch ports of both VF guests stayed quiet (netback packets $sw0 -> $sw1)" test "$sw1" -le $((sw0 + 20))
if bw=$(iperf "${V[1]%%:*}" "${V[1]#*:}" "$g3" 2); then ok "vf: iperf3 VF guest -> software-path guest (rings, local MAC): $bw"; else not_ok "vf: iperf3 VF guest -> software-path guest"; fi

# the vif's rate limit is enforced on the NIC at Level 2 (token bucket, shaping)
N=0; g="pr$ID"; ip="10.61.0.40"
mac=$(printf '00:16:3e:61:%02x:%02x' $(( 0x$ID & 255 )) 99)
pv_cfg "$g" "mac=$mac, bridge=$BR, ip=$ip/24, accel=simnic, level=2, rate=50Mb/s"
G+=("$g")
pvnet create "$PV_TMP/$g.cfg" >/dev/null 2>&1
if wait_for 10 connected "$g"; then
  vif=vif$(domid "$g").0
  q ip netns exec "$g" ping -c 1 -W 2 10.61.0.100
  if bw=$(iperf "$R" 10.61.0.100 "$g" 3); then
    thr=$(vifstat "$vif" tx_rate_throttled); tx=$(vifstat "$vif" tx_bytes)
    # the NIC carried the traffic: at least 8 MB of the ~18 MB that 3 s at 50 Mb/s
    # make (TSO packets: a few hundred, so count bytes, not packets)
    check "rate: a Level-2 guest with rate=50Mb/s is shaped by the NIC ($bw, tx_bytes=$tx, tx_rate_throttled=$thr)" \
      awk -v b="${bw%% *}" -v t="${thr:-0}" -v x="${tx:-0}" 'BEGIN {exit !(b > 5 && b < 60 && t > 0 && x > 8000000)}'
  else
    not_ok "rate: iperf3 from the rate-limited Level-2 guest"; diag "$bw"
  fi
  # a live change reaches the NIC's queue pair (the guest's TX never passes
  # netback's credit scheduler at Level 2): 10 Mb/s, then off
  pvnet vif-set-rate "$vif" 10Mb/s@50ms
  if bw=$(iperf "$R" 10.61.0.100 "$g" 3); then
    check "rate: vif-set-rate 10Mb/s reprograms the NIC ($bw)" awk -v b="${bw%% *}" 'BEGIN {exit !(b > 1 && b < 12)}'
  else
    not_ok "rate: iperf3 after vif-set-rate 10Mb/s"; diag "$bw"
  fi
  pvnet vif-set-rate "$vif" off
  if bw=$(iperf "$R" 10.61.0.100 "$g" 2); then
    check "rate: vif-set-rate off lifts the NIC's limit ($bw)" awk -v b="${bw%% *}" 'BEGIN {exit !(b > 100)}'
  else
    not_ok "rate: iperf3 after vif-set-rate off"; diag "$bw"
  fi
else
  not_ok "rate: $g connected"
fi

err=$(pvnet accel detach vif99.0 2>&1) && not_ok "detach of an unknown vif refused" || \
  check "accel detach of an unknown vif: clear error" grep -q "no such vif" <<<"$err"
out=$(pvnet ethtool -S nic0)
check "ethtool -S nic0 shows the device's wire counters" grep -qE '^ +dev_wire_rx_packets: [1-9]' <<<"$out"

for g in "${G[@]}"; do pvnet destroy "$g" >/dev/null 2>&1; done
check "nic del nic0" pvnet nic del nic0
pv_done
