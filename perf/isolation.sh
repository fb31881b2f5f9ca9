#!/usr/bin/env bash
# perf/isolation.sh - what one hostile tenant costs pvnetd, measured from outside.
#
# For one pvnet build, each attack class runs against its own fresh pvnetd (in its
# own network namespace) while two victim guests ping each other every 50 ms. The
# attack comes from the position a tenant really has:
#   ctl_stuck     a control client sending `info` and never reading (ctl_client.py)
#   ctl_idle      200 control connections that never send a request
#   store         a guest's own store client attacking quotas (pvnet-hostile store)
#   evtchn_flood  a guest allocating event channels until refused (pvnet-hostile)
#   map_storm     a guest sending from 3000 distinct persistent grants
#   queues_over   a guest asking for more queues than its vif offers
#   store_storm   a guest rewriting its frontend nodes in a loop
#   netif_bad     a guest's TX ring: overflowing producer, 19/20/22 slots, bad grefs
#   no_rx         a guest never posting RX buffers, flooded from an AF_PACKET uplink
#   spoof_guest   root in a guest: ARP/ND claims for the victim, 0-3 VLAN tags,
#                 extension headers (raw AF_PACKET on the guest's eth0)
#   mac_flood     an AF_PACKET uplink peer sending random source MACs
#   zero_src      an AF_PACKET uplink peer flooding all-zero source MACs
#   uplink_claim  an AF_PACKET uplink peer claiming victim B: frames with B's MAC as
#                 source and ARP replies to A giving B's IPv4 address its own MAC
#   vhost_stall   a hostile vhost-user frontend (PVNET_QEMU replaced): half a
#                 message, then silence, the socket kept open by a child
# Per class one aligned line: pvnetd RSS (kB) and fd count before / peak during /
# after, the slowest answer to `pvnet list`/`info` (asked every 20 ms from outside,
# so it works on builds without the loop_worst_turn gauge) in a quiet 2 s before the
# attack and during it, the gauge loop_worst_turn_10s_us where `pvnet info` has it,
# the victims' ping loss, and whether a new guest still connects and pings during
# the attack. Every attack is bounded (--secs, <= 20 s) and everything created
# (namespaces, pvnetd, guests, helper processes, temp files) is removed on exit,
# even on failure or ^C.
#
#   perf/isolation.sh [--build DIR] [--hostile BIN] [--secs N] [--only a,b] [--json]
#     --build DIR    the pvnet build (default build/ of this tree)
#     --hostile BIN  the pvnet-hostile to run as the attacking guest (default
#                    DIR/bin/pvnet-hostile; give a newer one to attack an older pvnetd)
#     --secs N       attack window per class (default 8, at most 20)
#     --only LIST    only these classes
#     --json         one JSON object per class instead of the table
# Needs root, python3 with scapy, ping, xenstore-read.
set -u
IS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=build
HOSTILE=""
SECS=8
ONLY=""
JSON=0
ALL="ctl_stuck ctl_idle store evtchn_flood map_storm queues_over store_storm netif_bad no_rx spoof_guest mac_flood zero_src uplink_claim vhost_stall"
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --hostile) HOSTILE=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --json) JSON=1; shift ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
BIN="$BUILD/bin"
[ -n "$HOSTILE" ] || HOSTILE="$BIN/pvnet-hostile"
case "$HOSTILE" in /*) ;; *) HOSTILE="$PWD/$HOSTILE" ;; esac
[ "$SECS" -ge 2 ] && [ "$SECS" -le 20 ] || { echo "--secs must be 2..20" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
[ -x "$BIN/pvnetd" ] || { echo "$BIN/pvnetd not built" >&2; exit 1; }
for c in ip ping python3 xenstore-read nsenter; do
  command -v "$c" >/dev/null || { echo "needs $c" >&2; exit 1; }
done
PY=/usr/bin/python3
CTL_CLIENT="$IS_ROOT/tests/integration/ctl_client.py"

log() { echo "# $*" >&2; }

# ---- cleanup: a global list (run at exit) and a per-class list -----------------
CLEAN=()
clean_add() { CLEAN+=("$1"); }
clean_run() {
  local i
  for ((i = ${#CLEAN[@]} - 1; i >= 0; i--)); do eval "${CLEAN[$i]}" >/dev/null 2>&1 || true; done
  CLEAN=()
}
TOP=$(mktemp -d /tmp/pvnet-iso.XXXXXX)
trap 'clean_run; rm -rf "$TOP"' EXIT
trap 'exit 130' INT TERM
kill_pid() { # PID: TERM, up to 5 s, then KILL (only PIDs we started)
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}
wait_for() { # SECS CMD...: poll every 50 ms
  local secs=$1 i; shift
  for ((i = 0; i < secs * 20; i++)); do "$@" && return 0; sleep 0.05; done
  return 1
}
ms() { date +%s%3N; }

# ---- helper programs ------------------------------------------------------------
# probe.py PVNET RUN PID OUT STOP: asks `list` every 20 ms (every 5th time `info`)
# until STOP exists; samples pvnetd's RSS and fds; writes one JSON line to OUT.
cat >"$TOP/probe.py" <<'PY'
import json, os, subprocess, sys, time
pvnet, run, pid, out, stop = sys.argv[1:6]
worst = 0.0; n = slow = 0; gauge = None; rss = fds = 0
def sample():
    global rss, fds
    try:
        with open("/proc/%s/status" % pid) as f:
            for l in f:
                if l.startswith("VmRSS:"):
                    rss = max(rss, int(l.split()[1]))
        fds = max(fds, len(os.listdir("/proc/%s/fd" % pid)))
    except OSError:
        pass
while not os.path.exists(stop):
    cmd = "info" if n % 5 == 4 else "list"
    t0 = time.monotonic()
    try:
        r = subprocess.run([pvnet, "--run-dir", run, cmd], capture_output=True, timeout=5)
        ok = r.returncode == 0
    except subprocess.TimeoutExpired:
        ok = False; r = None
    dt = (time.monotonic() - t0) * 1000
    if not ok: dt = max(dt, 5000.0)
    worst = max(worst, dt); n += 1
    if dt >= 1000: slow += 1
    if r is not None and cmd == "info":
        for l in r.stdout.decode(errors="replace").splitlines():
            p = l.split()
            if len(p) >= 3 and p[0] == "loop_worst_turn_10s_us" and p[2].isdigit():
                gauge = max(gauge or 0, int(p[2]))
    sample()
    time.sleep(max(0.0, 0.02 - (time.monotonic() - t0)))
json.dump({"worst_ms": round(worst, 1), "asked": n, "slow": slow, "gauge_us": gauge,
           "rss_max": rss, "fd_max": fds}, open(out, "w"))
PY

# flood.py IFACE KIND SECS [DSTMAC]: raw frames from an AF_PACKET socket
cat >"$TOP/flood.py" <<'PY'
import os, random, socket, struct, sys, time
ifname, kind, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
E = os.environ
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
def mac(t): return bytes(int(x, 16) for x in t.split(":"))
def ip4(t): return socket.inet_aton(t)
def frames():
    if kind == "mac_flood":  # random unicast source MACs, IPv4 broadcast payload
        while True:
            src = bytes([random.randrange(256) & 0xfe | 0x02]) + os.urandom(5)
            yield b"\xff" * 6 + src + b"\x88\xb5" + b"\0" * 46
    if kind == "zero_src":
        f = b"\xff" * 6 + b"\0" * 6 + b"\x08\x06" + b"\0" * 46
        while True: yield f
    if kind == "udp_to":     # UDP to a guest's MAC (frames it never takes)
        dst = mac(E["DST"])
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + 1400, 0, 0, 64, 17, 0,
                         ip4(E["SRC_IP"]), ip4(E["DST_IP"]))
        f = dst + mac(E["SRC"]) + b"\x08\x00" + ip + struct.pack("!HHHH", 9, 9, 1408, 0) + b"x" * 1400
        while True: yield f
    if kind == "claim":      # B's MAC as source; ARP replies to A: B's IP is at our MAC
        me, a_mac = mac(E["ME"]), mac(E["A_MAC"])
        steal = b"\xff" * 6 + mac(E["B_MAC"]) + b"\x88\xb5" + b"\0" * 46
        arp = (a_mac + me + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x02" + me +
               ip4(E["B_IP"]) + a_mac + ip4(E["A_IP"]) + b"\0" * 18)
        while True:
            yield steal; yield arp; time.sleep(0.005)
    if kind == "spoof":      # ARP/ND claims for the victim's addresses, 0-3 tags
        from scapy.all import (ARP, Ether, ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6,
                               IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop)
        me, vic_ip, vic6 = E["ME"], E["VIC_IP"], E["VIC6"]
        base = [bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=me) /
                      ARP(op=2, hwsrc=me, psrc=vic_ip, hwdst="ff:ff:ff:ff:ff:ff", pdst=vic_ip)),
                bytes(Ether(dst="33:33:00:00:00:01", src=me) / IPv6(src=E["ME6"], dst="ff02::1", hlim=255) /
                      IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
                      ICMPv6ND_NA(tgt=vic6, R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=me)),
                bytes(Ether(dst="33:33:00:00:00:01", src=me) / IPv6(src=E["ME6"], dst="ff02::1", hlim=255) /
                      IPv6ExtHdrFragment(offset=0, m=0, id=7) /
                      ICMPv6ND_NA(tgt=vic6, R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=me))]
        out = []
        tags = [[], [(0x8100, 0)], [(0x88a8, 0), (0x9100, 0)], [(0x9100, 0), (0x8100, 0), (0x88a8, 0)]]
        for f in base:
            for t in tags:
                out.append(f[:12] + b"".join(struct.pack("!HH", a, b) for a, b in t) + f[12:])
        while True:
            for f in out: yield f
    raise SystemExit("unknown kind " + kind)
n = 0; end = time.time() + secs
g = frames()
while time.time() < end:
    for _ in range(64):
        try: s.send(next(g)); n += 1
        except OSError: time.sleep(0.001)
print(n)
PY

# fakeqemu.py: started by pvnetd in place of QEMU (PVNET_QEMU). Connects to the
# vhost-user socket of -chardev, sends half a message header and stalls; a child
# keeps the socket open after the parent is killed.
cat >"$TOP/fakeqemu.py" <<'PY'
#!/usr/bin/python3
import os, signal, socket, sys, time
a = sys.argv
path = None
for i, x in enumerate(a):
    if x == "-chardev":
        for kv in a[i + 1].split(","):
            if kv.startswith("path="): path = kv[5:]
if not path: sys.exit("no -chardev path")
s = None
for _ in range(100):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(path); break
    except OSError:
        s = None; time.sleep(0.05)
if s is None: sys.exit("cannot connect " + path)
# VHOST_USER_GET_FEATURES (1), version 1, but only 6 of the 12 header bytes
s.send(bytes([1, 0, 0, 0, 1, 0]))
pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.setsid()
    open(os.environ["FAKEQEMU_CHILD"], "w").write(str(os.getpid()))
    time.sleep(60)   # holds the socket; the harness kills it by this pid
    os._exit(0)
print("fakeqemu: connected to", path, "stalled; child", pid, flush=True)
time.sleep(60)
PY

chmod +x "$TOP/fakeqemu.py"

# ---- one pvnetd with two victims -------------------------------------------------
N=0
cls_start() { # CLASS: fresh run dir, namespace, pvnetd, victims A and B pinging
  N=$((N + 1))
  ID=$(printf '%x' $(( ($$ * 16 + N) % 65536 )))
  T="$TOP/$1"; mkdir -p "$T"
  RUN="$T/run"
  export PVNET_RUN_DIR="$RUN" PVNET_STATE_DIR="$T/state" XENSTORED_PATH="$RUN/xenstored"
  NS="pvi-$ID"
  ip netns add "$NS" || return 1
  clean_add "ip netns del '$NS'"
  ip -n "$NS" link set lo up
  BR=bi$ID
  A=va$ID; B=vb$ID
  # read by pvnetd when it spawns a guest or a VMM: set before it starts
  local k
  for k in store evtchn_flood map_storm queues_over store_storm no_rx prod_overflow slots19 \
           slots20 slots22 chain_trunc bad_gref foreign_gref zero_frag; do
    export "PVNET_GUEST_BIN_h${ID}_$k=$HOSTILE"
  done
  export PVNET_HOSTILE_SECS=$SECS PVNET_QEMU="$TOP/fakeqemu.py" PVNET_HVM_ACCEL=tcg \
    FAKEQEMU_CHILD="$T/fq.pid"
  nsenter --net="/run/netns/$NS" "$BIN/pvnetd" --foreground --run-dir "$RUN" --log "$T/pvnetd.log" \
    >/dev/null 2>&1 &
  PID=$!
  clean_add "kill_pid $PID"
  wait_for 5 bash -c "[ -S '$RUN/pvnetd.sock' ] && '$BIN/pvnet' --run-dir '$RUN' info >/dev/null 2>&1" ||
    { log "$1: pvnetd did not start"; return 1; }
  mkcfg "$A" 1; mkcfg "$B" 2
  pvnet create "$T/$A.cfg" >/dev/null && pvnet create "$T/$B.cfg" >/dev/null || return 1
  wait_for 20 connected "$A" && wait_for 20 connected "$B" &&
    wait_for 10 ip netns exec "$A" ping -c1 -W1 10.95.0.2 >/dev/null 2>&1 ||
    { log "$1: victims did not connect"; return 1; }
}
pvnet() { "$BIN/pvnet" --run-dir "$RUN" "$@"; }
gmac() { printf '00:16:3e:95:%02x:%02x' $(( 0x$ID & 255 )) "$1"; }
mkcfg() { # NAME HOSTNUM [EXTRA-VIF-KEYS]: a PV guest with anti-spoofing on 10.95.0.HOSTNUM
  cat >"$T/$1.cfg" <<CFG
name = "$1"
memory = 64
netns = "$1"
vif = [ 'mac=$(gmac "$2"), bridge=$BR, ip=10.95.0.$2/24 fd95::$2/64${3:+, $3}' ]
CFG
  clean_add "ip netns del '$1'"
}
domid() { pvnet list 2>/dev/null | awk -v n="$1" '$1 == n {print $2}'; }
connected() {
  local id; id=$(domid "$1")
  [ -n "$id" ] &&
    [ "$(xenstore-read "/local/domain/$id/device/vif/0/state" 2>/dev/null)" = 4 ] &&
    [ "$(xenstore-read "/local/domain/0/backend/vif/$id/0/state" 2>/dev/null)" = 4 ] &&
    ip -n "$1" link show eth0 >/dev/null 2>&1
}
rss() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo 0; }
fds() { ls "/proc/$PID/fd" 2>/dev/null | wc -l; }
probe_start() { # NAME
  rm -f "$T/$1.stop"
  "$PY" "$TOP/probe.py" "$BIN/pvnet" "$RUN" "$PID" "$T/$1.json" "$T/$1.stop" &
  PROBE=$!
  clean_add "kill_pid $PROBE"
}
probe_stop() { touch "$T/$1.stop"; wait "$PROBE" 2>/dev/null; }
pj() { "$PY" -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("n/a" if v is None else v)' "$T/$1.json" "$2" 2>/dev/null || echo n/a; }
# new_guest: a fresh guest connects and pings victim B within 20 s
new_guest() {
  local g=vn$ID rc=1
  mkcfg "$g" 30
  if pvnet create "$T/$g.cfg" >/dev/null 2>&1 && wait_for 20 connected "$g" &&
     wait_for 5 ip netns exec "$g" ping -c1 -W1 10.95.0.2 >/dev/null 2>&1; then rc=0; fi
  pvnet destroy "$g" >/dev/null 2>&1
  return $rc
}
# hostile CASE: an attacking domain running $HOSTILE with case CASE
hostile() {
  H=h$ID-$1
  mkcfg "$H" 20
  pvnet create "$T/$H.cfg" >/dev/null 2>&1
}
uplink() { # an AF_PACKET uplink to a peer namespace $R (eth0, 10.95.0.200)
  R="$NS-r"; UP=up$ID
  ip netns add "$R" && clean_add "ip netns del '$R'"
  ip link add "$UP" netns "$NS" type veth peer name eth0 netns "$R"
  ip -n "$NS" link set "$UP" up
  ip -n "$R" link set lo up; ip -n "$R" addr add 10.95.0.200/24 dev eth0; ip -n "$R" link set eth0 up
  pvnet switch add-port "$BR" "$UP" --type afpacket >/dev/null 2>&1
}
bg() { "$@" >/dev/null 2>&1 & BGP+=($!); clean_add "kill_pid $!"; }

# ---- attacks: atk_<class> start|stop; NOTE is printed with the row ----------------
atk_ctl_stuck() {
  [ "$1" = start ] || return 0
  local proto=2
  "$BIN/pvnet" --version >/dev/null 2>&1 || proto=0 # builds before the protocol version
  PVNET_CTL_PROTO=$proto bg "$PY" "$CTL_CLIENT" "$RUN/pvnetd.sock" flood "$SECS"
}
atk_ctl_idle() { [ "$1" = start ] && bg "$PY" "$CTL_CLIENT" "$RUN/pvnetd.sock" conns 200 "$SECS"; return 0; }
atk_hv() { # CASE start|stop
  if [ "$2" = start ]; then hostile "$1"; else
    NOTE=$(xenstore-read "/local/domain/$(domid "$H")/data/hostile" 2>/dev/null | head -c 60)
    [ -n "$NOTE" ] || NOTE="no report: $(tail -n1 "$RUN/console-$H.log" 2>/dev/null | head -c 50)"
    pvnet destroy "$H" >/dev/null 2>&1
  fi
}
atk_store() { atk_hv store "$1"; }
atk_evtchn_flood() { atk_hv evtchn_flood "$1"; }
atk_map_storm() { atk_hv map_storm "$1"; }
atk_queues_over() { atk_hv queues_over "$1"; }
atk_store_storm() { atk_hv store_storm "$1"; }
atk_netif_bad() { # several broken TX rings, one domain each, in turn
  local c
  NOTE="8 broken rings in turn, each destroyed after $(awk -v s="$SECS" 'BEGIN {print s / 10}') s"
  if [ "$1" = start ]; then
    ( for c in prod_overflow slots19 slots20 slots22 chain_trunc bad_gref foreign_gref zero_frag; do
        hostile "$c"; sleep "$(awk -v s="$SECS" 'BEGIN {print s / 10}')"; pvnet destroy "$H" >/dev/null 2>&1
      done ) >/dev/null 2>&1 &
    BGP+=($!); clean_add "kill_pid $!"
  fi
}
atk_no_rx() {
  if [ "$1" = start ]; then
    hostile no_rx; uplink
    wait_for 10 connected "$H"
    DST=$(gmac 20) SRC=02:00:00:00:95:c8 SRC_IP=10.95.0.200 DST_IP=10.95.0.20 \
      bg ip netns exec "$R" "$PY" "$TOP/flood.py" eth0 udp_to "$SECS"
  else
    NOTE="rx_nobuf on the uplink: $(pvnet switch port-show "$UP" 2>/dev/null | sed -n 's/.*\(rx_nobuf=[0-9]*\).*/\1/p')"
    pvnet destroy "$H" >/dev/null 2>&1
  fi
}
atk_spoof_guest() {
  local g=vs$ID
  if [ "$1" = start ]; then
    mkcfg "$g" 21; pvnet create "$T/$g.cfg" >/dev/null 2>&1; wait_for 20 connected "$g"
    ip netns exec "$B" ping -c1 -W1 10.95.0.1 >/dev/null 2>&1 # B knows A
    ME=$(gmac 21) ME6=fd95::21 VIC_IP=10.95.0.1 VIC6=fd95::1 \
      bg ip netns exec "$g" "$PY" "$TOP/flood.py" eth0 spoof "$SECS"
  else
    local m; m=$(ip -n "$B" neigh show 10.95.0.1 dev eth0 | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p')
    NOTE="B's ARP entry for A: ${m:-none} ($([ "$m" = "$(gmac 1)" ] && echo right || echo POISONED))"
    pvnet destroy "$g" >/dev/null 2>&1
  fi
}
atk_mac_flood() {
  if [ "$1" = start ]; then uplink; bg ip netns exec "$R" "$PY" "$TOP/flood.py" eth0 mac_flood "$SECS"
  else NOTE="fdb entries: $(pvnet switch fdb "$BR" 2>/dev/null | grep -c ':')"; fi
}
atk_zero_src() {
  if [ "$1" = start ]; then uplink; bg ip netns exec "$R" "$PY" "$TOP/flood.py" eth0 zero_src "$SECS"
  else NOTE="fdb has 00:00:00:00:00:00: $(pvnet switch fdb "$BR" 2>/dev/null | grep -c '00:00:00:00:00:00')"; fi
}
atk_uplink_claim() {
  if [ "$1" = start ]; then
    uplink
    ME=$(ip -n "$R" link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p') \
      A_MAC=$(gmac 1) B_MAC=$(gmac 2) A_IP=10.95.0.1 B_IP=10.95.0.2 \
      bg ip netns exec "$R" "$PY" "$TOP/flood.py" eth0 claim "$SECS"
  else
    local m; m=$(ip -n "$A" neigh show 10.95.0.2 dev eth0 | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p')
    NOTE="A's ARP entry for B: ${m:-none} ($([ "$m" = "$(gmac 2)" ] && echo right || echo POISONED)); B's MAC on port $(pvnet switch fdb "$BR" 2>/dev/null | awk -v m="$(gmac 2)" '$3 == m {print $1}')"
  fi
}
atk_vhost_stall() {
  local g=vh$ID t0
  if [ "$1" = start ]; then
    : >"$T/kernel"
    cat >"$T/$g.cfg" <<CFG
name = "$g"
type = "hvm"
kernel = "$T/kernel"
memory = 64
vif = [ 'mac=$(gmac 22), bridge=$BR, model=virtio' ]
CFG
    clean_add "[ -s '$T/fq.pid' ] && kill -KILL \$(cat '$T/fq.pid')"
    pvnet create "$T/$g.cfg" >/dev/null 2>&1 &
    BGP+=($!)
  else
    local rc d
    t0=$(ms); timeout 10 "$BIN/pvnet" --run-dir "$RUN" destroy "$g" >/dev/null 2>&1; rc=$?
    d="$(( $(ms) - t0 )) ms"; [ "$rc" = 124 ] && d="> 10 s (gave up)"
    NOTE="VMM $(grep -q 'stalled' "$RUN/console-$g.log" 2>/dev/null && echo connected and stalled ||
      echo 'NOT CONNECTED'); pvnet destroy: $d"
    [ -s "$T/fq.pid" ] && kill -KILL "$(cat "$T/fq.pid")" 2>/dev/null
  fi
}

# ---- one class: measure, attack, measure ----------------------------------------
ROWS=()
run_class() {
  local c=$1 rss0 fd0 q ping_out sent recv loss ng rss2 fd2 i
  NOTE=""; BGP=()
  if ! cls_start "$c"; then
    ROWS+=("$c|n/a|n/a|n/a|n/a|n/a|n/a|n/a|n/a|n/a|n/a|n/a|setup failed")
    clean_run; return
  fi
  probe_start quiet; sleep 2; probe_stop quiet
  q=$(pj quiet worst_ms)
  rss0=$(rss); fd0=$(fds)
  probe_start during
  ip netns exec "$A" ping -i 0.05 -W 1 -w "$((SECS + 1))" 10.95.0.2 >"$T/ping.out" 2>&1 &
  local pingp=$!
  clean_add "kill_pid $pingp"
  "atk_$c" start
  sleep "$(awk -v s="$SECS" 'BEGIN {print s / 2}')"
  if new_guest; then ng=yes; else ng=NO; fi
  wait "$pingp" 2>/dev/null
  for i in "${BGP[@]}"; do wait "$i" 2>/dev/null; done
  "atk_$c" stop # in the probe's window: a teardown that blocks pvnetd shows
  probe_stop during
  for i in "${BGP[@]}"; do kill_pid "$i"; done
  sent=$(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) .*/\1/p' "$T/ping.out")
  recv=$(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) .*/\2/p' "$T/ping.out")
  loss="$(( ${sent:-0} - ${recv:-0} ))/${sent:-0}"
  # after: the attacker gone; wait (at most 5 s) until the fd count settles
  wait_for 5 bash -c "[ \$(ls /proc/$PID/fd | wc -l) -le $((fd0 + 1)) ]"
  rss2=$(rss); fd2=$(fds)
  kill -0 "$PID" 2>/dev/null || NOTE="PVNETD DIED; $NOTE"
  ROWS+=("$c|$rss0|$(pj during rss_max)|$rss2|$fd0|$(pj during fd_max)|$fd2|$q|$(pj during worst_ms)|$(pj during gauge_us)|$loss|$ng|$NOTE")
  pvnet destroy "$A" >/dev/null 2>&1; pvnet destroy "$B" >/dev/null 2>&1
  clean_run
}

COMMIT=$(git -C "$BUILD/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
log "perf/isolation.sh: build $BUILD (commit $COMMIT), hostile $HOSTILE, ${SECS} s per attack, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for c in $ALL; do
  if [ -n "$ONLY" ] && ! grep -qw "$c" <<<"${ONLY//,/ }"; then continue; fi
  log "running $c"
  run_class "$c"
  line=${ROWS[$((${#ROWS[@]} - 1))]}
  if [ "$JSON" = 1 ]; then
    IFS='|' read -r a r0 r1 r2 f0 f1 f2 q w g l n note <<<"$line"
    "$PY" -c '
import json, sys
k = ["class", "rss_before_kb", "rss_peak_kb", "rss_after_kb", "fds_before", "fds_peak",
     "fds_after", "ctl_worst_quiet_ms", "ctl_worst_attack_ms", "loop_worst_turn_10s_us",
     "victim_ping_lost", "new_guest_connects", "note"]
v = sys.argv[1:]
def num(x):
    try: return float(x) if "." in x else int(x)
    except ValueError: return x
print(json.dumps({a: num(b) for a, b in zip(k, v)}))' "$a" "$r0" "$r1" "$r2" "$f0" "$f1" "$f2" "$q" "$w" "$g" "$l" "$n" "$note"
  else
    if [ "${#ROWS[@]}" = 1 ]; then
      printf '%-13s %24s %14s %20s %10s %8s %5s  %s\n' class "rss kB before/peak/after" \
        "fds b/p/a" "ctl ms quiet/attack" "gauge us" "ping" "new" note
    fi
    IFS='|' read -r a r0 r1 r2 f0 f1 f2 q w g l n note <<<"$line"
    printf '%-13s %24s %14s %20s %10s %8s %5s  %s\n' "$a" "$r0/$r1/$r2" "$f0/$f1/$f2" "$q/$w" "$g" "$l" "$n" "$note"
  fi
done
