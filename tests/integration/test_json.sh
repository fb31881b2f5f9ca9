#!/usr/bin/env bash
# Machine-readable output: every read command with --json parsed by python3's json
# module, with the fields that matter checked against the world (the guests' names,
# ids and MACs, the vif's state, port counters moving with a ping, the MAC table);
# `pvnet top -b -d 1 -n 2` shows both guests with rates > 0 during a ping stream;
# `pvnet stats --format=prometheus` parses as the Prometheus text exposition format
# (a small parser below: promtool would pull in the whole Prometheus server) and
# a counter in it agrees with `stats --json`.
# Set-up: pvnetd, a bridge with an AF_PACKET uplink to a "remote host" namespace,
# two guests on it, and a simnic NIC on a bridge of its own.
. "$(dirname "$0")/lib.sh"
pv_init json
pv_need ping python3 xenstore-read

ID=$(printf '%x' $(( $$ % 65536 )))
BR="bj$ID"
UP="uj$ID"
q() { "$@" >/dev/null 2>&1; }
# pyjson 'PYTHON' [ARGS]: runs PYTHON with d = the JSON on stdin, args in a;
# succeeds if it prints nothing and raises nothing (asserts say what failed)
pyjson() {
  local code=$1 out; shift
  out=$(python3 -c "
import json, sys
a = sys.argv[1:]
d = json.load(sys.stdin)
$code
" "$@" 2>&1) || { diag "$out"; return 1; }
  [ -z "$out" ] || { diag "$out"; return 1; }
}

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
ip netns exec "$PV_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1

# the remote host: namespace R, eth0 = the peer of the bridge's uplink UP
R="$PV_NS-r"
ip netns add "$R" && pv_cleanup_add "ip netns del '$R'"
ip link add "$UP" netns "$PV_NS" type veth peer name eth0 netns "$R"
ip netns exec "$R" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip -n "$R" link set lo up
ip -n "$R" addr add 10.88.0.100/24 dev eth0
ip -n "$R" link set eth0 up
ip -n "$PV_NS" link set "$UP" up
check "add-br $BR, add-port $BR $UP" q bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch add-br $BR &&
  '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch add-port $BR $UP"
# a simnic NIC (built in) on a veth whose peer stays in dom0's namespace
ip link add "w$ID" netns "$PV_NS" type veth peer name "wp$ID" netns "$PV_NS"
ip -n "$PV_NS" link set "w$ID" up
ip -n "$PV_NS" link set "wp$ID" up
check "nic add nj$ID --plugin simnic" q pvnet nic add "nj$ID" --plugin simnic --wire "w$ID" --vfs 2 \
  --bridge "bn$ID"

declare -A MAC
mkguest() {
  pv_cfg "$1" "bridge=$BR, ip=$2/24"
  MAC[$1]=$PV_MAC
  echo "uuid = \"6b1f3c2a-0000-4000-8000-0000000000$(printf '%02x' "$PV_NMAC")\"" >>"$PV_TMP/$1.cfg"
  pvnet create "$PV_TMP/$1.cfg" >/dev/null
}
G1="gj${ID}a"; G2="gj${ID}b"
if mkguest "$G1" 10.88.0.1 && mkguest "$G2" 10.88.0.2; then ok "create $G1 and $G2"; else not_ok "create $G1 and $G2"; fi
if wait_for 15 connected "$G1" && wait_for 15 connected "$G2"; then
  ok "both guests connected"
else
  not_ok "both guests connected"; pv_done; exit 1
fi
for g in "$G1" "$G2"; do ip netns exec "$g" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
D1=$(pvnet domid "$G1"); D2=$(pvnet domid "$G2")
V1="vif$D1.0"; V2="vif$D2.0"
check "ping $G1 -> $G2 and -> the remote host" q bash -c "ip netns exec $G1 ping -c 2 -i 0.2 -W 2 10.88.0.2 &&
  ip netns exec $G1 ping -c 2 -i 0.2 -W 2 10.88.0.100"

# ---- info ----
check "info --json: pvnetd's pid, protocol, 3 domains, the ledger's limits" \
  pyjson '
assert d["pvnetd_pid"] == int(a[0]), d["pvnetd_pid"]
assert isinstance(d["ctl_protocol"], int)
assert d["nr_domains"] == 3, d["nr_domains"]
assert d["run_dir"] == a[1], d["run_dir"]
assert isinstance(d["limits"]["mac-per-port"]["limit"], int)
assert d["limits"]["mac-per-port"]["refused"] == 0
' "$PV_PID" "$PV_RUN" < <(pvnet info --json)
check "info text is rendered from the same data (pvnetd_pid, limit_mac-per-port)" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' info | grep -qE '^pvnetd_pid +: $PV_PID\$' &&
  '$PV_BIN/pvnet' --run-dir '$PV_RUN' info | grep -qE '^limit_mac-per-port +: [0-9]+ \(refused 0\)\$'"

# ---- list ----
check "list --json: Domain-0 and both guests with their ids, pids, uuids, CPU seconds" \
  pyjson '
by = {e["name"]: e for e in d}
assert set(by) == {"Domain-0", a[0], a[2]}, set(by)
assert by[a[0]]["domid"] == int(a[1]) and by[a[2]]["domid"] == int(a[3])
for g in a[0], a[2]:
    e = by[g]
    assert e["pid"] > 0 and e["type"] == "pv" and e["state"] in ("r-----", "-b----"), e
    assert isinstance(e["cpu_time_s"], float) and e["cpu_time_s"] >= 0, e
    assert e["mem_mib"] == 64 and e["vcpus"] == 1, e
assert by[a[0]]["uuid"].endswith("01"), by[a[0]]["uuid"]
' "$G1" "$D1" "$G2" "$D2" < <(pvnet list --json)
check "list $G2 --json: that one domain only" \
  pyjson 'assert [e["name"] for e in d] == [a[0]], d' "$G2" < <(pvnet list "$G2" --json)
check "list --json: time_s is CPU seconds as xl's Time(s) (pvnetd's for Domain-0), uptime_s the wall time" \
  pyjson '
by = {e["name"]: e for e in d}
for e in d:
    assert isinstance(e["time_s"], float) and isinstance(e["uptime_s"], float), e
    assert e["time_s"] == e["cpu_time_s"] or e["cpu_time_s"] is None, e
    assert e["uptime_s"] > 0, e
# pvnetd has run longer than it has used the CPU: uptime is not the CPU column
assert by["Domain-0"]["uptime_s"] > by["Domain-0"]["time_s"], by["Domain-0"]
' < <(pvnet list --json)
check "list -v: UUID and PID columns, $G1's uuid and its guest pid" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' list -v | grep -qE '^Name +ID +Mem +VCPUs +State +Time\(s\) +UUID +PID\$' &&
  '$PV_BIN/pvnet' --run-dir '$PV_RUN' list -v '$G1' | grep -qE '^$G1 +$D1 +64 +1 +-b---- +[0-9.]+ +[0-9a-f-]{36} +[0-9]+\$'"
check "list text unchanged: header and $G1's row" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' list | grep -qE '^Name +ID +Mem +VCPUs +State +Time\(s\)\$' &&
  '$PV_BIN/pvnet' --run-dir '$PV_RUN' list | grep -qE '^$G1 +$D1 +64 +1 +-b---- +[0-9.]+\$'"

# ---- vif-list ----
check "vif-list $G1 --json: $V1 Connected, its MAC, bridge, connected, features" \
  pyjson '
assert len(d) == 1, d
v = d[0]
assert v["name"] == a[0] and v["idx"] == 0 and v["state"] == "Connected", v
assert v["mac"] == a[1] and v["bridge"] == a[2] and v["connected"] is True, v
assert v["be_state"] == 4 and v["fe_state"] == 4 and isinstance(v["features"], list), v
' "$V1" "${MAC[$G1]}" "$BR" < <(pvnet vif-list "$G1" --json)

check "network-list $G2 --json: the same vifs as vif-list (name, MAC, state)" \
  pyjson '
assert [(v["name"], v["mac"], v["state"]) for v in d] == [(a[0], a[1], "Connected")], d
' "$V2" "${MAC[$G2]}" < <(pvnet network-list "$G2" --json)

# ---- stats: counters move with a ping ----
stats_before=$(pvnet stats --json)
q ip netns exec "$G1" ping -c 5 -i 0.1 -W 2 10.88.0.2
stats_after=$(pvnet stats --json)
check "stats --json: $V1's vif and port counters rose by the 5 pings" \
  pyjson '
b = json.loads(a[0])
def vif(s, n): return [v for v in s["vifs"] if v["name"] == n][0]
def port(s, n): return [p for br in s["bridges"] for p in br["ports"] if p["name"] == n][0]
assert vif(d, a[1])["tx_packets"] - vif(b, a[1])["tx_packets"] >= 5
assert vif(d, a[1])["rx_packets"] - vif(b, a[1])["rx_packets"] >= 5
assert port(d, a[1])["rx_packets"] - port(b, a[1])["rx_packets"] >= 5
assert port(d, a[2])["tx_packets"] - port(b, a[2])["tx_packets"] >= 5
assert vif(d, a[1])["domain"] == a[3] and vif(d, a[1])["domid"] == int(a[4])
assert all(isinstance(x, int) for x in vif(d, a[1])["drops"].values())
' "$stats_before" "$V1" "$V2" "$G1" "$D1" <<<"$stats_after"

# ---- switch show / fdb / port-show / list-br / list-ports ----
check "switch show --json: $BR has $UP and both vifs, vif ports up in access mode" \
  pyjson '
br = [b for b in d["bridges"] if b["name"] == a[0]][0]
ports = {p["name"]: p for p in br["ports"]}
assert set(ports) == {a[1], a[2], a[3]}, set(ports)
for v in a[2], a[3]:
    assert ports[v]["type"] == "vif" and ports[v]["state"] == "up", ports[v]
    assert ports[v]["mode"] == "access" and isinstance(ports[v]["offloads"], list), ports[v]
assert ports[a[1]]["type"] == "afpacket", ports[a[1]]
' "$BR" "$UP" "$V1" "$V2" < <(pvnet switch show --json)
check "switch fdb $BR --json: both guests' MACs learnt on their vif ports" \
  pyjson '
where = {e["mac"]: e["port"] for e in d["entries"]}
assert d["bridge"] == a[0]
assert where.get(a[1]) == a[2] and where.get(a[3]) == a[4], where
' "$BR" "${MAC[$G1]}" "$V1" "${MAC[$G2]}" "$V2" < <(pvnet switch fdb "$BR" --json)
fdb_text=$(pvnet switch fdb "$BR")
check "switch fdb text unchanged: $G1's MAC on its port number" \
  grep -qE "^ +[0-9]+ +0  ${MAC[$G1]}  +[0-9]+\$" <<<"$fdb_text"
check "switch port-show $V1 --json: settings and counters" \
  pyjson '
assert d["name"] == a[0] and d["bridge"] == a[1] and d["type"] == "vif", d
assert d["rx_packets"] >= 9 and d["tx_packets"] >= 9, d
assert "spoofed_mac" in d["drops"] or len(d["drops"]) > 3, d["drops"]
' "$V1" "$BR" < <(pvnet switch port-show "$V1" --json)
ps_text=$(pvnet switch port-show "$V1")
check "switch port-show text: the same settings line and drop reasons as its --json" \
  pyjson '
t = a[0].splitlines()
assert len(t) == 3 and t[0].split(" macs=")[0] == d["summary"].split(" macs=")[0], (t, d["summary"])
assert t[1].startswith("  rx_packets=") and " tx_packets=" in t[1], t
assert [kv.split("=")[0] for kv in t[2].split(": ", 1)[1].split()] == list(d["drops"]), t[2]
' "$ps_text" < <(pvnet switch port-show "$V1" --json)
check "switch list-br --json: $BR with 3 ports, bn$ID" \
  pyjson '
by = {b["name"]: b for b in d}
assert by[a[0]]["ports"] == 3 and a[1] in by, by
assert by[a[0]]["ageing_s"] > 0
' "$BR" "bn$ID" < <(pvnet switch list-br --json)
check "switch list-ports $BR --json: its three ports" \
  pyjson 'assert sorted(d) == sorted(a), d' "$UP" "$V1" "$V2" \
  < <(pvnet switch list-ports "$BR" --json)

# ---- accel / nic ----
check "accel list --json: simnic built-in with levels 0-3" \
  pyjson '
s = [p for p in d if p["name"] == "simnic"][0]
assert s["levels"] == [0, 1, 2, 3] and s["source"] == "built-in", s
' < <(pvnet accel list --json)
check "nic list --json: nj$ID on its wire and bridge" \
  pyjson '
n = [x for x in d if x["name"] == a[0]][0]
assert n["plugin"] == "simnic" and n["wire"] == a[1] and n["bridge"] == a[2], n
assert isinstance(n["wire_rx"], int), n
' "nj$ID" "w$ID" "bn$ID" < <(pvnet nic list --json)

# ---- refusals ----
out=$(pvnet domid "$G1" --json 2>&1); rc=$?
if [ $rc = 2 ] && grep -q 'no --json' <<<"$out"; then ok "a command without JSON says so (exit 2)"
else not_ok "a command without JSON says so (exit 2): $rc $out"; fi
out=$(pvnet stats --format=yaml 2>&1); rc=$?
if [ $rc = 2 ] && grep -q 'unknown format' <<<"$out"; then ok "an unknown --format is refused (exit 2)"
else not_ok "an unknown --format is refused (exit 2): $rc $out"; fi

# ---- top ----
ip netns exec "$G1" ping -q -i 0.01 -w 8 10.88.0.2 >/dev/null 2>&1 &
PING=$!
pv_cleanup_add "kill $PING"
sleep 0.5
top=$(timeout 20 "$PV_BIN/pvnet" --run-dir "$PV_RUN" top -b -d 1 -n 2 2>&1); rc=$?
kill "$PING" 2>/dev/null; wait "$PING" 2>/dev/null
diag "$(tail -n 4 <<<"$top")"
if [ $rc = 0 ] && [ "$(grep -c '^NAME ' <<<"$top")" = 2 ]; then ok "top -b -d 1 -n 2: two frames"
else not_ok "top -b -d 1 -n 2: two frames (exit $rc)"; fi
check "top: both guests with NETTX/NETRX kbit/s and pps > 0 in the last frame, CPU numbers" \
  python3 -c '
import sys
lines = sys.argv[1].splitlines()
head = [i for i, l in enumerate(lines) if l.startswith("NAME ")][-1]
cols = lines[head].split()
rows = {l.split()[0]: dict(zip(cols, l.split())) for l in lines[head + 1:] if l.strip()}
for g, id in ((sys.argv[2], sys.argv[3]), (sys.argv[4], sys.argv[5])):
    r = rows[g]
    assert r["ID"] == id, r
    for k in "NETTX(kbit/s)", "NETRX(kbit/s)", "TX(pps)", "RX(pps)":
        assert float(r[k]) > 0, (g, k, r)
    float(r["CPU(sec)"]); float(r["CPU(%)"])
    assert int(r["NETS"]) == 1, r
assert "Domain-0" in rows
' "$top" "$G1" "$D1" "$G2" "$D2"

# interactive: a terminal (script(1) gives it a pty), redrawn every 0.5 s, q quits
if command -v script >/dev/null 2>&1; then
  t0=$(date +%s%N)
  { sleep 2; printf q; } | timeout 10 script -qfc "'$PV_BIN/pvnet' --run-dir '$PV_RUN' top -d 0.5" /dev/null \
    >"$PV_TMP/top.tty" 2>&1; rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  redraws=$(grep -ao $'\e\[H\e\[2J' "$PV_TMP/top.tty" | wc -l)
  if [ $rc = 0 ] && [ "$redraws" -ge 2 ] && [ "$ms" -lt 6000 ] && grep -aq "$G1" "$PV_TMP/top.tty"; then
    ok "top (interactive): $redraws redraws, q quit it after $ms ms"
  else
    not_ok "top (interactive): exit $rc, $redraws redraws, $ms ms"
  fi
else
  skip "top (interactive)" "needs script(1)"
fi

# ---- Prometheus ----
j1=$(pvnet stats --json); prom=$(pvnet stats --format=prometheus); j2=$(pvnet stats --json)
check "stats --format=prometheus parses (HELP/TYPE, names, labels, _total counters)" \
  python3 -c '
import re, sys
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\n]|\\[\\\"n])*\""
sample = re.compile(r"^(%s)(\{(%s(?:,%s)*)?\})? (\S+)$" % (NAME, LABEL, LABEL))
types, helps, seen, done, cur = {}, set(), set(), set(), None
for n, l in enumerate(sys.argv[1].splitlines(), 1):
    if l.startswith("# HELP "):
        name = l.split()[2]; assert re.fullmatch(NAME, name) and name not in helps, l; helps.add(name)
    elif l.startswith("# TYPE "):
        _, _, name, t = l.split(); assert name not in types and t in ("counter", "gauge"), l
        types[name] = t
    elif l.startswith("#") or not l:
        continue
    else:
        m = sample.match(l); assert m, "line %d: %r" % (n, l)
        name = m.group(1); float(m.group(4))
        assert name in types, "no TYPE before " + l
        # families are contiguous: one block per name
        if name != cur:
            assert name not in done, "family split: " + name
            if cur: done.add(cur)
            cur = name
        seen.add(name)
for name, t in types.items():
    assert name.startswith("pvnet_"), name
    assert (t == "counter") == name.endswith("_total"), (name, t)
for want in "pvnet_vif_tx_packets_total", "pvnet_port_rx_packets_total", "pvnet_port_drops_total":
    assert want in seen, want
' "$prom"
check "prometheus: $V1's port rx_packets lies between two stats --json around it" \
  python3 -c '
import json, re, sys
prom, j1, j2, port, br = sys.argv[1:6]
def js(t): return [p["rx_packets"] for b in json.loads(t)["bridges"] if b["name"] == br for p in b["ports"] if p["name"] == port][0]
m = re.search(r"^pvnet_port_rx_packets_total\{bridge=\"%s\",port=\"%s\"\} (\d+)$" % (br, port), prom, re.M)
assert m, "no sample"
assert js(j1) <= int(m.group(1)) <= js(j2) and js(j1) >= 9, (js(j1), m.group(1), js(j2))
m = re.search(r"^pvnet_vif_drops_total\{domain=\"%s\",vif=\"%s\",bridge=\"%s\",reason=\"[a-z_]+\"\} \d+$" % (sys.argv[6], port, br), prom, re.M)
assert m, "no labelled vif drop sample"
' "$prom" "$j1" "$j2" "$V1" "$BR" "$G1"

pv_done
