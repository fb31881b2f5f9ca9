#!/usr/bin/env bash
# pvnetd against a hostile VTEP database: a server (python3, a real unix socket) that
# answers pvnetd's monitor with rows, then per connection one attack: malformed
# updates (bad uuid, "new" not an object, a reply to no request), 64 MiB of bytes
# that are no JSON, a message that never ends (a 32 MiB string), JSON nested 100,000
# deep; the same from a hostile southbound database (--ovnsb-db). After each: pvnetd
# answers `pvnet list` within 1 s, says in its log what it
# ignored or dropped, reconnects, and its resident memory stays bounded (< 200 MiB).
. "$(dirname "$0")/lib.sh"
pv_init ovn_hostile_db
pv_need python3
SOCK="$PV_TMP/hostile.sock"
cat >"$PV_TMP/srv.py" <<'PY'
import json, socket, sys, os
path, attacks = sys.argv[1], sys.argv[2].split(",")
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(4)
U = "11111111-2222-3333-4444-555555555555"
def read_msg(c, buf):
    dec = json.JSONDecoder()
    while True:
        try:
            m, end = dec.raw_decode(buf.lstrip())
            return m, buf.lstrip()[end:]
        except ValueError:
            d = c.recv(65536)
            if not d: return None, b""
            buf += d.decode()
for a in attacks:
    c, _ = s.accept()
    m, rest = read_msg(c, "")
    if m is None: c.close(); continue
    rows = {"Global": {U: {"new": {"switches": ["set", []]}}}}
    c.sendall(json.dumps({"id": m["id"], "result": rows, "error": None}).encode())
    try:
        if a == "malformed":
            c.sendall(b'{"method":"update","params":[null,{"Logical_Switch":{"nope":{"new":{}}}}],"id":null}')
            c.sendall(b'{"method":"update","params":[null,{"Logical_Switch":{"%s":{"new":7}}}],"id":null}' % U.encode())
            c.sendall(b'{"id":4242,"result":[],"error":null}')
            c.sendall(b'{"method":"update","params":"x","id":null}')
        elif a == "garbage":
            chunk = b"x" * 65536
            for _ in range(1024): c.sendall(chunk)
        elif a == "endless":
            c.sendall(b'{"method":"update","params":"')
            chunk = b"a" * 65536
            for _ in range(512): c.sendall(chunk)
        elif a == "deep":
            c.sendall(b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}")
    except (BrokenPipeError, ConnectionResetError):
        pass
    print("done", a, flush=True)
    try:
        c.settimeout(3); c.recv(1)  # wait for pvnetd to drop or stay
    except Exception:
        pass
    c.close()
PY
python3 "$PV_TMP/srv.py" "$SOCK" malformed,garbage,endless,deep,malformed >"$PV_TMP/srv.log" 2>&1 &
SRV=$!
pv_cleanup_add "kill $SRV"
# the same attacks from "OVN's southbound database" (--ovnsb-db), a second server
SB="$PV_TMP/hostile-sb.sock"
python3 "$PV_TMP/srv.py" "$SB" malformed,deep,garbage,malformed >"$PV_TMP/srv-sb.log" 2>&1 &
SRV2=$!
pv_cleanup_add "kill $SRV2"
for _ in $(seq 1 50); do [ -S "$SOCK" ] && [ -S "$SB" ] && break; sleep 0.1; done
if pv_start --vtep-db "unix:$SOCK" --vtep-name pv1 --tunnel-ip 172.31.0.1 --ovnsb-db "unix:$SB"; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
answers() { local t0 t1; t0=$(date +%s%N); timeout 1 "$PV_BIN/pvnet" --run-dir "$PV_RUN" list >/dev/null 2>&1 || return 1; t1=$(date +%s%N); [ $(( (t1 - t0) / 1000000 )) -lt 1000 ]; }
for a in malformed garbage endless deep; do
  for _ in $(seq 1 200); do grep -q "done $a" "$PV_TMP/srv.log" && break; answers || break; sleep 0.05; done
  check "$a: pvnet list answers within 1 s" answers
done
LOG="$PV_TMP/pvnetd.log"
wait_for_log() { local i; for ((i = 0; i < 100; i++)); do grep -q "$1" "$LOG" && return 0; sleep 0.1; done; return 1; }
check "malformed updates logged and ignored" wait_for_log "vtep: an update ignored"
check "a reply to no request logged and ignored" wait_for_log "ignored a message: a reply to no request"
check "bytes that are no JSON: logged" wait_for_log "ignored a message: not a JSON object"
check "a message over 16 MiB: dropped and reconnected" wait_for_log "a message over 16777216 bytes: reconnecting"
reconnected() { [ "$(grep -c 'hostile.sock: connected' "$LOG")" -ge 5 ]; }
for _ in $(seq 1 300); do reconnected && break; sleep 0.1; done
diag "connections: $(grep -c 'hostile.sock: connected' "$LOG"), $(grep 'done' "$PV_TMP/srv.log" | tr '\n' ' ')"
check "pvnetd reconnected after every attack (5 connections)" reconnected
check "southbound: malformed updates logged and ignored" wait_for_log "vtep: a southbound update ignored"
sb_reconnected() { [ "$(grep -c 'hostile-sb.sock: connected' "$LOG")" -ge 4 ]; }
for _ in $(seq 1 300); do sb_reconnected && break; sleep 0.1; done
check "southbound: reconnected after every attack (4 connections)" sb_reconnected
rss=$(awk '/VmRSS/ {print $2}' /proc/"$PV_PID"/status)
diag "pvnetd RSS after the attacks: $rss kB"
check "pvnetd's memory stays bounded (< 200 MiB RSS)" test "$rss" -lt 204800
check "pvnetd survived" kill -0 "$PV_PID"
pv_done
