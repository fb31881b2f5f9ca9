#!/usr/bin/env bash
# Frame attacks from root inside a guest, against its neighbours on the switch.
# Three PV guests with anti-spoofing (mac= ip=) on one bridge: A (the attacker), V
# (the victim) and W (a witness whose neighbour cache A wants to poison). From A's
# namespace, python3-scapy builds and an AF_PACKET socket on A's eth0 sends (so
# everything travels netfront -> netback -> switch like any guest frame):
#   (1) ARP replies to W and gratuitous ARPs claiming V's IPv4 address, with 0, 1
#       (priority tag) and 2 VLAN tags of each TPID 0x8100, 0x88a8, 0x9100;
#   (2) unsolicited NAs for V's IPv6 address with hop-by-hop / destination-options
#       headers before ICMPv6, untagged and priority-tagged; Router Advertisements
#       from A (RA guard: W must not route through A or take its prefix);
#   (2c) DHCP OFFER/ACK to broadcast (untagged and priority-tagged) and DHCPv6
#       ADVERTISE/REPLY from A (DHCP guard: spoofed_dhcp, W's capture holds none;
#       with A's anti-spoofing off they arrive);
#   (3) all-zero and multicast source MACs;
#   (4) STP, PAUSE, LACP, 802.1X and LLDP destinations (01:80:c2:00:00:0X);
#   (5) with A's port on access VLAN 10 and a trunk (AF_PACKET on a veth, the far
#       end captured by tshark in its own namespace) carrying VLAN 20: double-tagged
#       frames (any outer TPID, priority or VLAN-10 outer tag, inner VLAN 20), with
#       the trunk's native VLAN unset and set to 10.
# Asserts: W's neighbour entries for V (ip neigh, IPv4 and IPv6) still hold V's MAC;
# W's capture holds none of these frames (but does hold A's legitimate marker
# frames); nothing arrives on the trunk from the double-tagged frames while A's
# legitimate frames arrive in VLAN 10 (tagged 10, or untagged with native 10); each
# reason is counted on A's port in `pvnet stats --json` and shown by port-show;
# ping between the guests works before and after. Last, a positive control: with
# A's and V's anti-spoofing switched off (V's binds its addresses to V's port
# against every other port), the same extension-header NA and ARP reply do
# change W's entries, so the neighbour checks above could fail.
. "$(dirname "$0")/lib.sh"
pv_init isolation_frames
pv_need ping tshark nsenter xenstore-read
PY=/usr/bin/python3
if ! "$PY" -c 'import scapy.all' 2>/dev/null; then
  skip "isolation_frames" "needs python3-scapy for $PY"; pv_done; exit 0
fi

ID=$(printf '%x' $(( $$ % 65536 )))
A=if${ID}a; V=if${ID}v; W=if${ID}w; T="$PV_NS-t"
mac() { printf '00:16:3e:%02x:%02x:%02x' $(( 0x$ID >> 8 )) $(( 0x$ID & 255 )) "$1"; }
MA=$(mac 1); MV=$(mac 2); MW=$(mac 3)
IA=10.84.0.1; IV=10.84.0.2; IW=10.84.0.3
A6=fd84::1; V6=fd84::2; W6=fd84::3
BR=bi$ID
R=3 # rounds of the claim frames (spread over > 1 s: ARP's locktime)

mkcfg() { pv_cfg "$1" "mac=$2, bridge=$BR, ip=$3/24 $4/64"; } # NAME MAC IP4 IP6

# The frame builder: python3 frames.py IFACE KIND [ROUNDS]; prints frames sent.
cat >"$PV_TMP/frames.py" <<'PY'
import os, socket, sys, time
from scapy.all import (ARP, Ether, ICMPv6ND_NA, ICMPv6ND_RA, ICMPv6NDOptDstLLAddr,
                       ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr, IP, IPv6,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, LLC, Raw, STP, UDP,
                       BOOTP, DHCP, DHCP6_Advertise, DHCP6_Reply)
E = os.environ
TPIDS = (0x8100, 0x88a8, 0x9100)

def tag(frame, tags):
    """frame bytes with (tpid, tci) tags inserted after the MAC addresses"""
    b = bytes(frame)
    ins = b"".join(t.to_bytes(2, "big") + c.to_bytes(2, "big") for t, c in tags)
    return b[:12] + ins + b[12:]

def arp_claims():
    reply = Ether(dst=E["MW"], src=E["MA"]) / ARP(op=2, hwsrc=E["MA"], psrc=E["IV"],
                                                  hwdst=E["MW"], pdst=E["IW"])
    garp = Ether(dst="ff:ff:ff:ff:ff:ff", src=E["MA"]) / ARP(op=1, hwsrc=E["MA"], psrc=E["IV"],
                                                           pdst=E["IV"])
    return [reply, garp]

def na_claims():
    out = []
    for ext in (IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt(), IPv6ExtHdrDestOpt()):
        out.append(Ether(dst="33:33:00:00:00:01", src=E["MA"]) /
                   IPv6(src=E["A6"], dst="ff02::1", hlim=255) / ext /
                   ICMPv6ND_NA(tgt=E["V6"], R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=E["MA"]))
    return out

def marker(text, src=None):
    return (Ether(dst="ff:ff:ff:ff:ff:ff", src=src or E["MA"]) /
            IP(src=E["IA"], dst="255.255.255.255") / UDP(sport=9999, dport=9999) / Raw(text.encode()))

def frames(kind):
    if kind == "arp0":   # untagged
        return [bytes(f) for f in arp_claims()]
    if kind == "arp1":   # one priority tag, each TPID
        return [tag(f, [(t, 0)]) for t in TPIDS for f in arp_claims()]
    if kind == "arp2":   # two tags, each outer TPID (priority) around an 802.1Q priority tag
        return [tag(f, [(t, 0), (0x8100, 0)]) for t in TPIDS for f in arp_claims()]
    if kind == "na0":
        return [bytes(f) for f in na_claims()]
    if kind == "na1":
        return [tag(f, [(t, 0)]) for t in TPIDS for f in na_claims()]
    if kind == "ra":     # A as IPv6 router: untagged, priority-tagged, behind hop-by-hop
        m = [int(x, 16) for x in E["MA"].split(":")]  # A's EUI-64 link-local, as a router's
        ll = "fe80::%02x%02x:%02xff:fe%02x:%02x%02x" % (m[0] ^ 2, m[1], m[2], m[3], m[4], m[5])
        ra = (IPv6(src=ll, dst="ff02::1", hlim=255), ICMPv6ND_RA(routerlifetime=1800) /
              ICMPv6NDOptSrcLLAddr(lladdr=E["MA"]) /
              ICMPv6NDOptPrefixInfo(prefix="fd85::", prefixlen=64, L=1, A=1))
        f = Ether(dst="33:33:00:00:00:01", src=E["MA"]) / ra[0] / ra[1]
        h = Ether(dst="33:33:00:00:00:01", src=E["MA"]) / ra[0] / IPv6ExtHdrHopByHop() / ra[1]
        return [bytes(f)] + [tag(f, [(t, 0)]) for t in TPIDS] + [bytes(h)]
    if kind == "dhcp":   # A as DHCP server: OFFER and ACK to broadcast, DHCPv6 ADVERTISE/REPLY
        chaddr = bytes.fromhex(E["MW"].replace(":", "")) + b"\0" * 10
        out = []
        for t in ("offer", "ack"):
            f = (Ether(dst="ff:ff:ff:ff:ff:ff", src=E["MA"]) /
                 IP(src=E["IA"], dst="255.255.255.255") / UDP(sport=67, dport=68) /
                 BOOTP(op=2, xid=0x5eed, yiaddr="10.84.0.99", siaddr=E["IA"], chaddr=chaddr) /
                 DHCP(options=[("message-type", t), ("server_id", E["IA"]),
                               ("router", E["IA"]), ("name_server", E["IA"]),
                               ("subnet_mask", "255.255.255.0"), ("lease_time", 3600), "end"]))
            out += [bytes(f)] + [tag(f, [(tp, 0)]) for tp in TPIDS]
        m = [int(x, 16) for x in E["MA"].split(":")]
        ll = "fe80::%02x%02x:%02xff:fe%02x:%02x%02x" % (m[0] ^ 2, m[1], m[2], m[3], m[4], m[5])
        for msg in (DHCP6_Advertise(trid=0x5eed), DHCP6_Reply(trid=0x5eed)):
            out.append(bytes(Ether(dst="33:33:00:00:00:01", src=E["MA"]) /
                             IPv6(src=ll, dst="ff02::1") / UDP(sport=547, dport=546) / msg))
        return out
    if kind == "badsrc":
        return [bytes(marker("BADSRC", "00:00:00:00:00:00")),
                bytes(marker("BADSRC", "01:00:5e:00:00:42")),
                bytes(marker("BADSRC", "ff:ff:ff:ff:ff:ff"))]
    if kind == "linklocal":
        d = "01:80:c2:00:00:%02x"
        pad = b"\0" * 42
        return [bytes(Ether(dst=d % 0x00, src=E["MA"]) / LLC(dsap=0x42, ssap=0x42, ctrl=3) / STP()),
                bytes(Ether(dst=d % 0x01, src=E["MA"], type=0x8808) / Raw(b"\x00\x01\xff\xff" + pad)),
                bytes(Ether(dst=d % 0x02, src=E["MA"], type=0x8809) / Raw(b"\x01\x01" + pad)),
                bytes(Ether(dst=d % 0x03, src=E["MA"], type=0x888e) / Raw(b"\x01\x01\x00\x00" + pad)),
                bytes(Ether(dst=d % 0x0e, src=E["MA"], type=0x88cc) / Raw(b"\x02\x07\x04" + pad))]
    if kind == "legit":  # A's own addresses, untagged and priority-tagged
        return [bytes(marker("LEGIT"))] + [tag(marker("LEGIT"), [(t, 0)]) for t in TPIDS]
    if kind == "hop":    # outer priority or VLAN-10 tag, any TPID, inner VLAN 20
        return [tag(marker("HOP"), [(t, v), (0x8100, 20)]) for t in TPIDS for v in (0, 10)]
    raise SystemExit("unknown kind " + kind)

ifname, kind = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
n = 0
for r in range(rounds):
    for f in frames(kind):
        s.send(f + b"\0" * max(0, 60 - len(f)))
        n += 1
        time.sleep(0.01)
    if r + 1 < rounds:
        time.sleep(0.6)
print(n)
PY
export MA MV MW IA IV IW A6 V6 W6
q() { "$@" >/dev/null 2>&1; }
send() { ip netns exec "$A" "$PY" "$PV_TMP/frames.py" eth0 "$@" 2>/dev/null; }

REASONS="spoofed_arp spoofed_nd double_tagged bad_src_mac link_local bad_headers spoofed_dhcp"
# drops PORT: the REASONS counters of a switch port, in that order
drops() {
  pvnet stats --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
for b in d.get("bridges", []):
    for p in b["ports"]:
        if p["name"] == sys.argv[1]:
            print(" ".join(str(p["drops"].get(r, "x")) for r in sys.argv[2:]))' "$1" $REASONS
}
settled() { # counters once they stopped moving (frames in flight delivered)
  local prev="" cur i
  for i in $(seq 1 30); do
    cur=$(drops "$1"); [ "$cur" = "$prev" ] && break; prev=$cur; sleep 0.1
  done
  echo "$cur"
}
delta() { local a b i out=""; read -ra a <<<"$1"; read -ra b <<<"$2"
  for i in "${!a[@]}"; do out="$out $((b[i] - a[i]))"; done; echo "${out# }"; }
# txp PORT: tx_packets of a switch port
txp() {
  pvnet stats --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
for b in d.get("bridges", []):
    for p in b["ports"]:
        if p["name"] == sys.argv[1]:
            print(p["tx_packets"])' "$1"
}
# trunk_sent BEFORE N: the trunk port has sent at least N frames since BEFORE
trunk_sent() { local now; now=$(txp "tr$ID"); [ -n "$now" ] && [ $((now - $1)) -ge "$2" ]; }
# neigh_mac NS ADDR: the lladdr of ADDR in NS's neighbour table (empty if none)
neigh_mac() { ip -n "$1" neigh show "$2" dev eth0 | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p'; }

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
mkcfg "$A" "$MA" "$IA" "$A6"; mkcfg "$V" "$MV" "$IV" "$V6"; mkcfg "$W" "$MW" "$IW" "$W6"
for g in "$A" "$V" "$W"; do pvnet create "$PV_TMP/$g.cfg" >/dev/null; done
if wait_for 15 connected "$A" && wait_for 15 connected "$V" && wait_for 15 connected "$W"; then
  ok "guests $A (attacker), $V (victim), $W (witness) connected on $BR"
else
  not_ok "guests connected"; pv_done; exit 1
fi
PA=vif$(domid "$A").0
check "port-show $PA: anti-spoofing with A's MAC and addresses" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch port-show $PA | head -1 | grep -q 'antispoof=mac:$MA,ip:$IA,ip:$A6'"
for g in "$A" "$V" "$W"; do
  wait_for 10 bash -c "! ip -n '$g' -6 addr show dev eth0 | grep -q tentative"
done

# --- legitimate traffic first; W learns V's addresses --------------------------
check "legit: W pings V (IPv4)" q wait_for 10 ip netns exec "$W" ping -c 1 -W 1 "$IV"
check "legit: W pings V (IPv6)" q wait_for 10 ip netns exec "$W" ping -6 -c 1 -W 1 "$V6"
check "legit: A pings V (IPv4 and IPv6)" \
  bash -c "ip netns exec '$A' ping -c 2 -i 0.2 -W 2 '$IV' >/dev/null && ip netns exec '$A' ping -6 -c 2 -i 0.2 -W 2 '$V6' >/dev/null"
check "W's neighbour entry for $IV is V's MAC before the attack ($(neigh_mac "$W" "$IV"))" \
  [ "$(neigh_mac "$W" "$IV")" = "$MV" ]
check "W's neighbour entry for $V6 is V's MAC before the attack ($(neigh_mac "$W" "$V6"))" \
  [ "$(neigh_mac "$W" "$V6")" = "$MV" ]
sleep 1.1 # past ARP's locktime: a reply arriving now would be taken

# W captures every frame from A's MAC and the bad source MACs
ip netns exec "$W" tshark -q -i eth0 -a duration:120 -w "$PV_TMP/w.pcap" \
  -f "ether src $MA or ether src 00:00:00:00:00:00 or ether src 01:00:5e:00:00:42 or ether src ff:ff:ff:ff:ff:ff" \
  >/dev/null 2>&1 &
wpid=$!
pv_cleanup_add "kill $wpid"
wait_for 15 test -s "$PV_TMP/w.pcap"; sleep 1

# attack KIND ROUNDS WANT DESC: send, compare A's counters (REASONS order) with WANT
attack() {
  local kind=$1 rounds=$2 want=$3 desc=$4 b a d n
  b=$(settled "$PA")
  n=$(send "$kind" "$rounds")
  a=$(settled "$PA"); d=$(delta "$b" "$a")
  check "$desc: ${n:-0} frames, counted on $PA ($REASONS: $d)" [ "${n:-0}" -gt 0 -a "$d" = "$want" ]
}
n=$(send legit 2); check "control: A's legitimate marker frames sent (${n:-0})" [ "${n:-0}" = 8 ]
attack arp0 $R "$((2 * R)) 0 0 0 0 0 0" "(1) ARP reply + gratuitous ARP claiming $IV, untagged: spoofed_arp"
attack arp1 $R "$((6 * R)) 0 0 0 0 0 0" "(1) the same in one priority tag of each TPID: spoofed_arp"
attack arp2 $R "0 0 $((6 * R)) 0 0 0 0" "(1) the same in two tags of each outer TPID: double_tagged"
attack na0 $R "0 $((2 * R)) 0 0 0 0 0" "(2) NA for $V6 behind hop-by-hop/dest-opts headers: spoofed_nd"
attack na1 $R "0 $((6 * R)) 0 0 0 0 0" "(2) the same in one priority tag of each TPID: spoofed_nd"
attack ra $R "0 $((5 * R)) 0 0 0 0 0" "(2b) Router Advertisements from A (RA guard), untagged, priority-tagged, behind hop-by-hop: spoofed_nd"
check "(2b) W took no default route or prefix from A's RAs ($(ip -n "$W" -6 route show default | head -1))" \
  bash -c "[ -z \"\$(ip -n '$W' -6 route show default)\" ] && ! ip -n '$W' -6 addr show dev eth0 | grep -q fd85:"
attack dhcp $R "0 0 0 0 0 0 $((10 * R))" "(2c) DHCP OFFER/ACK (untagged, priority-tagged) and DHCPv6 ADVERTISE/REPLY from A (DHCP guard): spoofed_dhcp"
attack badsrc 1 "0 0 0 3 0 0 0" "(3) all-zero, multicast and broadcast source MACs: bad_src_mac"
attack linklocal 1 "0 0 0 0 5 0 0" "(4) STP, PAUSE, LACP, 802.1X, LLDP destinations: link_local"

# V's MAC, or no entry: the kernel's neighbour tables are shared by every namespace
# and, past gc_thresh1 (128) entries machine-wide, a STALE entry older than 60 s is
# garbage-collected (a loaded CI machine gets there); a poisoned entry is fresh
m4=$(neigh_mac "$W" "$IV"); m6=$(neigh_mac "$W" "$V6")
check "(1) W's neighbour entry for $IV not moved to A's MAC (V's or aged out: '$m4')" [ "$m4" = "$MV" -o -z "$m4" ]
check "(2) W's neighbour entry for $V6 not moved to A's MAC (V's or aged out: '$m6')" [ "$m6" = "$MV" -o -z "$m6" ]
check "(3) no bad source MAC learnt in the bridge" \
  bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch fdb $BR 2>/dev/null | grep -qiE '00:00:00:00:00:00|01:00:5e:00:00:42|ff:ff:ff:ff:ff:ff'"
sleep 0.5
kill -INT "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null
seen() { tshark -r "$PV_TMP/w.pcap" -Y "$1" 2>/dev/null | wc -l; }
n=$(seen 'udp.port==9999 && frame contains "LEGIT"')
check "control: W saw A's legitimate frames, untagged and priority-tagged ($n of 8)" [ "$n" = 8 ]
n=$(seen "arp.src.proto_ipv4==$IV"); check "(1) W saw no ARP claiming $IV ($n)" [ "$n" = 0 ]
n=$(seen "icmpv6.type==136"); check "(2) W saw no NA from A ($n)" [ "$n" = 0 ]
n=$(seen "udp.srcport==67 || udp.srcport==547")
check "(2c) W saw none of A's DHCP/DHCPv6 server messages ($n)" [ "$n" = 0 ]
n=$(seen 'frame contains "BADSRC"'); check "(3) W saw no frame with a bad source MAC ($n)" [ "$n" = 0 ]
n=$(seen "eth.dst[0:5]==01:80:c2:00:00"); check "(4) W saw no 802.1D link-local frame ($n)" [ "$n" = 0 ]

check "legit after the attacks: W pings V (IPv4, IPv6)" \
  bash -c "ip netns exec '$W' ping -c 2 -i 0.2 -W 2 '$IV' >/dev/null && ip netns exec '$W' ping -6 -c 2 -i 0.2 -W 2 '$V6' >/dev/null"

# --- (5) VLAN hopping from an access port onto a trunk ---------------------------
ip netns add "$T" && pv_cleanup_add "ip netns del '$T'"
ip netns exec "$T" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip link add "tr$ID" netns "$PV_NS" type veth peer name trb netns "$T"
ip -n "$PV_NS" link set "tr$ID" up; ip -n "$T" link set trb up; ip -n "$T" link set lo up
check "add-port $BR tr$ID (AF_PACKET trunk)" q pvnet switch add-port "$BR" "tr$ID"
check "A's port $PA on access VLAN 10" q pvnet switch set-vlan "$PA" 10
for native in 0 10; do
  check "trunk tr$ID: VLANs 10,20, native=$native" q pvnet switch set-trunk "tr$ID" "10,20,native=$native"
  cap="$PV_TMP/trunk$native.pcap"
  ip netns exec "$T" tshark -q -i trb -a duration:60 -w "$cap" -f "udp port 9999 or vlan" >/dev/null 2>&1 &
  tpid=$!
  pv_cleanup_add "kill $tpid"
  wait_for 15 test -s "$cap"; sleep 1
  attack hop 1 "0 0 6 0 0 0 0" "(5) native=$native: double-tagged frames from access port $PA (outer VID 0/10, inner VLAN 20): double_tagged"
  t0=$(txp "tr$ID")
  n=$(send legit 1)
  # the switch has sent A's 4 frames out of the trunk (and nothing else to wait for)
  wait_for 10 trunk_sent "$t0" 4
  sleep 0.5
  kill -INT "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null
  hop=$(tshark -r "$cap" -Y 'frame contains "HOP"' 2>/dev/null | wc -l)
  v20=$(tshark -r "$cap" -Y 'vlan.id==20' 2>/dev/null | wc -l)
  if [ "$native" = 0 ]; then
    legit=$(tshark -r "$cap" -Y 'vlan.id==10 && frame contains "LEGIT"' 2>/dev/null | wc -l)
    where="tagged VLAN 10"
  else
    legit=$(tshark -r "$cap" -Y '!vlan && frame contains "LEGIT"' 2>/dev/null | wc -l)
    where="untagged (native VLAN 10)"
  fi
  check "(5) native=$native: nothing of the double-tagged frames reached the trunk ($hop), nothing in VLAN 20 ($v20)" \
    [ "$hop" = 0 -a "$v20" = 0 ]
  check "(5) native=$native: A's legitimate frames reached the trunk $where ($legit of 4)" [ "$legit" = 4 ]
done
check "A's port back on VLAN 0 (untagged)" q pvnet switch set-vlan "$PA" 0
check "legit: A pings V again (IPv4)" q wait_for 10 ip netns exec "$A" ping -c 1 -W 1 "$IV"

show=$(pvnet switch port-show "$PA")
diag "$(sed -n 3p <<<"$show")"
check "port-show $PA shows spoofed_arp, spoofed_nd, double_tagged, bad_src_mac, link_local, spoofed_dhcp" \
  bash -c 'grep -q "spoofed_arp=[1-9].*spoofed_nd=[1-9].*bad_src_mac=[1-9].*link_local=[1-9].*double_tagged=[1-9]" <<<"$1" && grep -q "spoofed_dhcp=[1-9]" <<<"$1"' _ "$show"

# --- positive control: without anti-spoofing the same frames do poison W ---------
# (V's addresses are V's alone while V's anti-spoofing binds them, whatever A's
# port has: both off for the frames to pass)
PVV=vif$(domid "$V").0
check "positive control: anti-spoofing off on $PA and on V's $PVV" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch set-antispoof '$PA' --off >/dev/null &&
           '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch set-antispoof '$PVV' --off >/dev/null"
sleep 1.1
send na0 1 >/dev/null
check "positive control: the extension-header NA now moves W's $V6 entry to A's MAC" \
  wait_for 5 bash -c "[ \"\$(ip -n '$W' neigh show '$V6' dev eth0 | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p')\" = '$MA' ]"
send ra 1 >/dev/null
check "positive control: A's RA now gives W a default route via A" \
  wait_for 5 bash -c "ip -n '$W' -6 route show default | grep -q 'via fe80::'"
dcap="$PV_TMP/wdhcp.pcap"
ip netns exec "$W" tshark -q -i eth0 -a duration:60 -w "$dcap" -f "udp port 68 or udp port 546" >/dev/null 2>&1 &
dpid=$!
pv_cleanup_add "kill $dpid"
wait_for 15 test -s "$dcap"; sleep 1
dhcp_seen() { tshark -r "$dcap" -Y "(udp.srcport==67 && dhcp) || (udp.srcport==547 && dhcpv6)" 2>/dev/null | wc -l; }
d0=$(drops "$PA")
send dhcp 1 >/dev/null
wait_for 10 bash -c "[ \"\$(tshark -r '$dcap' -Y '(udp.srcport==67 && dhcp) || (udp.srcport==547 && dhcpv6)' 2>/dev/null | wc -l)\" -ge 10 ]"
n=$(dhcp_seen)
check "positive control: A's DHCP offers/acks and DHCPv6 advertise/reply now reach W ($n of 10), spoofed_dhcp unchanged" \
  [ "$n" = 10 -a "$(drops "$PA" | awk '{print $7}')" = "$(awk '{print $7}' <<<"$d0")" ]
kill -INT "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null
send arp0 1 >/dev/null
check "positive control: the ARP claim now moves W's $IV entry to A's MAC" \
  wait_for 5 bash -c "[ \"\$(ip -n '$W' neigh show '$IV' dev eth0 | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p')\" = '$MA' ]"
check "pvnetd survived" kill -0 "$PV_PID"
for g in "$A" "$V" "$W"; do pvnet destroy "$g" >/dev/null; done
pv_done
