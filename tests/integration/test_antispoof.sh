#!/usr/bin/env bash
# Guest side: anti-spoofing on a vif port. Two PV guests A and B on one
# bridge, each with ip=10.83.0.x/24 fd83::x/64. From A's namespace (raw frames
# through an AF_PACKET socket on A's eth0, so they travel netfront -> netback ->
# switch like anything the guest sends, plus the ordinary tools where they apply):
#   (a) a foreign source MAC, (b) a foreign IPv4 source, (c) a foreign IPv6 source,
#   (d) a gratuitous ARP claiming B's address, (e) an unsolicited neighbour
#   advertisement for B's address.
# Each must be dropped and counted on A's vif port with its reason (spoofed_mac,
# spoofed_ip, spoofed_arp, spoofed_nd; `pvnet stats --json`), and B's tshark must
# not see it. A control frame built by the same injector with A's own addresses
# reaches B, and ordinary ping v4/v6 both ways passes without any spoofed count.
. "$(dirname "$0")/lib.sh"
pv_init antispoof
pv_need ping tshark python3 nsenter xenstore-read

ID=$(printf '%x' $(( $$ % 65536 )))
A=as${ID}a; B=as${ID}b
MA=$(printf '00:16:3e:%02x:%02x:01' $(( 0x$ID >> 8 )) $(( 0x$ID & 255 )))
MB=$(printf '00:16:3e:%02x:%02x:02' $(( 0x$ID >> 8 )) $(( 0x$ID & 255 )))
MF=02:00:5e:ee:ee:ee   # a MAC nobody owns
IA=10.83.0.1; IB=10.83.0.2; IF4=10.83.0.99
A6=fd83::1; B6=fd83::2; F6=fd83::99
N=5                    # raw frames per case

mkcfg() { pv_cfg "$1" "mac=$2, bridge=bs$ID, ip=$3/24 $4/64"; } # NAME MAC IP4 IP6

# The frame builder / injector: python3 spoof.py IFACE KIND COUNT
cat >"$PV_TMP/spoof.py" <<'PY'
import os, socket, struct, sys, time

E = os.environ
def mac(s): return bytes.fromhex(s.replace(":", ""))
def v4(s): return socket.inet_aton(s)
def v6(s): return socket.inet_pton(socket.AF_INET6, s)

def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def eth(dst, src, typ, payload): return mac(dst) + mac(src) + struct.pack("!H", typ) + payload

def ipv4_echo(src, dst, seq):
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x5a5a, seq) + b"pvnet-antispoof"
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0, v4(src), v4(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + icmp

def ipv6(src, dst, body, hlim=64):
    ph = v6(src) + v6(dst) + struct.pack("!I3xB", len(body), 58)
    body = body[:2] + struct.pack("!H", csum(ph + body)) + body[4:]
    return struct.pack("!IHBB", 6 << 28, len(body), 58, hlim) + v6(src) + v6(dst) + body

def echo6(src, dst, seq):
    return ipv6(src, dst, struct.pack("!BBHHH", 128, 0, 0, 0x5a5a, seq) + b"pvnet-antispoof")

def na(src, target, lladdr):
    # unsolicited NA to all-nodes: override flag, target, target link-layer option
    body = struct.pack("!BBHI", 136, 0, 0, 0x20000000) + v6(target) + bytes([2, 1]) + mac(lladdr)
    return ipv6(src, "ff02::1", body, 255)

def garp(sha, ip):
    # gratuitous ARP request: sender = target = the claimed address
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac(sha) + v4(ip) + b"\0" * 6 + v4(ip)

def frame(kind, seq):
    MA, MB, MF = E["MA"], E["MB"], E["MF"]
    if kind == "mac":      return eth(MB, MF, 0x0800, ipv4_echo(E["IA"], E["IB"], seq))
    if kind == "ip4":      return eth(MB, MA, 0x0800, ipv4_echo(E["IF4"], E["IB"], seq))
    if kind == "ip6":      return eth(MB, MA, 0x86dd, echo6(E["F6"], E["B6"], seq))
    if kind == "arp":      return eth("ff:ff:ff:ff:ff:ff", MA, 0x0806, garp(MA, E["IB"]))
    if kind == "nd":       return eth("33:33:00:00:00:01", MA, 0x86dd, na(E["A6"], E["B6"], MA))
    if kind == "control4": return eth(MB, MA, 0x0800, ipv4_echo(E["IA"], E["IB"], seq))
    if kind == "control6": return eth(MB, MA, 0x86dd, echo6(E["A6"], E["B6"], seq))
    raise SystemExit("unknown kind " + kind)

ifname, kind, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
for i in range(count):
    f = frame(kind, 100 + i)
    s.send(f + b"\0" * max(0, 60 - len(f)))
    time.sleep(0.02)
PY
export MA MB MF IA IB IF4 A6 B6 F6
q() { "$@" >/dev/null 2>&1; }
inject() { ip netns exec "$A" python3 "$PV_TMP/spoof.py" eth0 "$1" "$2"; }

# spoofc PORT: "mac ip arp nd" spoofed-drop counters of a switch port
spoofc() {
  local p="bridges.*.ports.[name=$1].drops"
  pvnet stats --json | jget "$p.spoofed_mac" "$p.spoofed_ip" "$p.spoofed_arp" "$p.spoofed_nd" | paste -sd ' '
}
# settled PORT: counters once they stopped moving (in-flight frames delivered)
settled() {
  local prev="" cur i
  for i in $(seq 1 20); do
    cur=$(spoofc "$1"); [ "$cur" = "$prev" ] && break; prev=$cur; sleep 0.1
  done
  echo "$cur"
}
# delta BEFORE AFTER: "dmac dip darp dnd"
delta() { local a b; read -ra a <<<"$1"; read -ra b <<<"$2"; echo "$((b[0]-a[0])) $((b[1]-a[1])) $((b[2]-a[2])) $((b[3]-a[3]))"; }

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
mkcfg "$A" "$MA" "$IA" "$A6"
mkcfg "$B" "$MB" "$IB" "$B6"
pvnet create "$PV_TMP/$A.cfg" >/dev/null; pvnet create "$PV_TMP/$B.cfg" >/dev/null
if wait_for 10 connected "$A" && wait_for 10 connected "$B"; then
  ok "guests $A and $B connected on bs$ID"
else
  not_ok "guests connected"; pv_done; exit 1
fi
PA=vif$(domid "$A").0; PB=vif$(domid "$B").0
diag "$(pvnet switch port-show "$PA" | head -1)"
check "port-show $PA: anti-spoofing with A's MAC and both addresses" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch port-show $PA | head -1 | grep -q 'antispoof=mac:$MA,ip:$IA,ip:$A6'"
# IPv6 DAD must be over before A's global address is usable
wait_for 10 bash -c "! ip -n '$A' -6 addr show dev eth0 | grep -q tentative" 
wait_for 10 bash -c "! ip -n '$B' -6 addr show dev eth0 | grep -q tentative"

# --- legitimate traffic: passes, counts nothing as spoofed -----------------------
l0a=$(settled "$PA"); l0b=$(settled "$PB")
check "legit: ping IPv4 A -> B" q wait_for 10 ip netns exec "$A" ping -c 1 -W 1 "$IB"
check "legit: ping IPv4 B -> A" q ip netns exec "$B" ping -c 3 -i 0.2 -W 2 "$IA"
check "legit: ping IPv6 A -> B" q wait_for 10 ip netns exec "$A" ping -6 -c 1 -W 1 "$B6"
check "legit: ping IPv6 B -> A" q ip netns exec "$B" ping -6 -c 3 -i 0.2 -W 2 "$A6"
check "legit: ping IPv6 link-local A -> B" q ip netns exec "$A" ping -6 -c 2 -i 0.2 -W 2 "ff02::1%eth0"
l1a=$(settled "$PA"); l1b=$(settled "$PB")
check "legit: no spoofed drop counted on either port (A: $(delta "$l0a" "$l1a"), B: $(delta "$l0b" "$l1b"))" \
  [ "$(delta "$l0a" "$l1a") $(delta "$l0b" "$l1b")" = "0 0 0 0 0 0 0 0" ]

# --- raw frames: B captures everything from A's MAC and from the foreign MAC -----
ip netns exec "$B" tshark -q -i eth0 -f "ether src $MA or ether src $MF" -a duration:90 \
  -w "$PV_TMP/b.pcap" >/dev/null 2>&1 &
tpid=$!
pv_cleanup_add "kill $tpid"
wait_for 10 test -s "$PV_TMP/b.pcap"; sleep 1

seen() { tshark -r "$PV_TMP/b.pcap" -Y "$1" 2>/dev/null | wc -l; }

c0=$(settled "$PA")
inject control4 "$N"; inject control6 "$N"
c1=$(settled "$PA")
check "control: $N raw IPv4 + $N raw IPv6 frames with A's own addresses count nothing as spoofed" \
  [ "$(delta "$c0" "$c1")" = "0 0 0 0" ]

# case KIND DESC WANT_DELTA: inject N frames, compare A's counters
case_run() {
  local kind=$1 desc=$2 want=$3 b a d
  b=$(settled "$PA")
  inject "$kind" "$N"
  a=$(settled "$PA"); d=$(delta "$b" "$a")
  check "$desc: $N frames dropped and counted on $PA (mac ip arp nd delta: $d)" [ "$d" = "$want" ]
}
case_run mac "(a) foreign source MAC $MF" "$N 0 0 0"
case_run ip4 "(b) foreign IPv4 source $IF4" "0 $N 0 0"
case_run ip6 "(c) foreign IPv6 source $F6" "0 $N 0 0"
case_run arp "(d) gratuitous ARP claiming B's $IB" "0 0 $N 0"
case_run nd "(e) unsolicited NA for B's $B6" "0 0 0 $N"

sleep 1
kill -INT "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null
n=$(seen "icmp.ident==0x5a5a && ip.src==$IA"); check "control: B saw the $N raw IPv4 echo requests ($n)" [ "$n" = "$N" ]
n=$(seen "icmpv6.echo.identifier==0x5a5a && ipv6.src==$A6"); check "control: B saw the $N raw IPv6 echo requests ($n)" [ "$n" = "$N" ]
n=$(seen "eth.src==$MF"); check "(a) B saw no frame from $MF ($n)" [ "$n" = 0 ]
n=$(seen "ip.src==$IF4"); check "(b) B saw no frame from $IF4 ($n)" [ "$n" = 0 ]
n=$(seen "ipv6.src==$F6"); check "(c) B saw no frame from $F6 ($n)" [ "$n" = 0 ]
n=$(seen "arp.src.proto_ipv4==$IB"); check "(d) B saw no ARP claiming $IB ($n)" [ "$n" = 0 ]
n=$(seen "icmpv6.type==136 && icmpv6.nd.na.target_address==$B6"); check "(e) B saw no NA for $B6 ($n)" [ "$n" = 0 ]

# --- the same with ordinary tools in A ------------------------------------------
# A foreign address on A's eth0 and ping -I it; B's neighbour entries are made
# permanent in A so the kernel does not ARP/ND (which would be counted as
# spoofed_arp/nd, not as the IP source being checked here).
ip -n "$A" neigh replace "$IB" lladdr "$MB" dev eth0 nud permanent
ip -n "$A" neigh replace "$B6" lladdr "$MB" dev eth0 nud permanent
ip -n "$A" addr add "$IF4/32" dev eth0
ip -n "$A" -6 addr add "$F6/128" dev eth0 nodad
# tpings OUTVAR PING-ARGS...: runs ping in A, sets OUTVAR to "replies transmitted"
tping() { local o; o=$(ip netns exec "$A" ping "$@" 2>&1); sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\2 \1/p' <<<"$o"; }
b=$(settled "$PA")
read -r rcv sent <<<"$(tping -c 3 -i 0.2 -W 1 -I "$IF4" "$IB")"
a=$(settled "$PA"); read -r _ dip _ <<<"$(delta "$b" "$a")"
check "(b) tools: ping -I $IF4 from A gets no reply (${rcv:-?} of ${sent:-?})" [ "${rcv:-x}" = 0 ]
check "(b) tools: its ${sent:-?} echo requests counted as spoofed_ip ($dip)" [ "${sent:-0}" -ge 1 -a "$dip" -ge "${sent:-1}" ]
b=$a
read -r rcv sent <<<"$(tping -6 -c 3 -i 0.2 -W 1 -I "$F6" "$B6")"
a=$(settled "$PA"); read -r _ dip _ <<<"$(delta "$b" "$a")"
check "(c) tools: ping -6 -I $F6 from A gets no reply (${rcv:-?} of ${sent:-?})" [ "${rcv:-x}" = 0 ]
check "(c) tools: its ${sent:-?} echo requests counted as spoofed_ip ($dip)" [ "${sent:-0}" -ge 1 -a "$dip" -ge "${sent:-1}" ]
ip -n "$A" addr del "$IF4/32" dev eth0; ip -n "$A" -6 addr del "$F6/128" dev eth0
# A's eth0 given a foreign MAC: every frame it sends is spoofed_mac. (The
# kernel may drop the first echo request while the address changes, so the
# reference is eth0's own tx counter, not ping's.)
txc() { ip netns exec "$A" cat /sys/class/net/eth0/statistics/tx_packets; }
b=$(settled "$PA"); t0=$(txc)
ip -n "$A" link set eth0 address "$MF"
read -r rcv sent <<<"$(tping -c 3 -i 0.2 -W 1 "$IB")"
t1=$(txc); a=$(settled "$PA"); read -r dmac _ <<<"$(delta "$b" "$a")"
check "(a) tools: with eth0 set to $MF, A's ping gets no reply (${rcv:-?} of ${sent:-?})" [ "${rcv:-x}" = 0 ]
check "(a) tools: all $((t1 - t0)) frames A's eth0 sent counted as spoofed_mac ($dmac)" [ "$((t1 - t0))" -ge 1 -a "$dmac" -ge "$((t1 - t0))" ]
ip -n "$A" link set eth0 address "$MA"
ip -n "$A" neigh del "$IB" dev eth0 2>/dev/null; ip -n "$A" neigh del "$B6" dev eth0 2>/dev/null
check "A's own MAC back: ping IPv4 A -> B passes again" q wait_for 10 ip netns exec "$A" ping -c 1 -W 1 "$IB"
check "ping IPv6 A -> B passes again" q wait_for 10 ip netns exec "$A" ping -6 -c 1 -W 1 "$B6"

show=$(pvnet switch port-show "$PA" | sed -n 3p)
diag "$PA $show"
check "port-show $PA shows the spoofed counters" grep -q "spoofed_mac=[1-9].*spoofed_ip=[1-9].*spoofed_arp=[1-9].*spoofed_nd=[1-9]" <<<"$show"
check "pvnetd survived" kill -0 "$PV_PID"
pvnet destroy "$A" >/dev/null; pvnet destroy "$B" >/dev/null
pv_done
