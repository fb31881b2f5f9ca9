#!/usr/bin/env bash
# Host-side safety of the paths a domain config names (docs/security.md
# "Host-side safety"): a vif's vhost-user `socket=` outside the run dir (and
# outside $PVNET_VHOST_DIR), or naming a file that is not a socket, or reached
# through a symlink, is refused with a clear error and the file there is left
# byte for byte as it was (pvnetd used to unlink whatever the path named and bind
# a socket there: socket=/etc/passwd deleted /etc/passwd); kernel= must be a
# regular file; console logs are created 0640 and never opened through a symlink
# (for HVM domains the create is refused, a PV guest runs without its log). An
# allowed socket= (in $PVNET_VHOST_DIR) works; a QMP socket the VMM turned into a
# symlink is not connected to. No QEMU needed: the VMM is
# `pvnet-hostile vmm` (attack mem-table: it connects and stays).
. "$(dirname "$0")/lib.sh"
pv_init test_isolation_paths

HOSTILE="$PV_BIN/pvnet-hostile"
[ -x "$HOSTILE" ] || { not_ok "pvnet-hostile built"; pv_done; exit 1; }
printf '#!/bin/sh\nexec "%s" vmm "$@"\n' "$HOSTILE" >"$PV_TMP/qemu-hostile"
chmod +x "$PV_TMP/qemu-hostile"
echo "not a kernel" >"$PV_TMP/vmlinuz"
mkdir -p "$PV_TMP/vhu" "$PV_TMP/outside"
export PVNET_QEMU="$PV_TMP/qemu-hostile" PVNET_HVM_ACCEL=tcg PVNET_VHOST_DIR="$PV_TMP/vhu"

# the victim: a file outside the run dir that pvnetd must never touch
VICTIM="$PV_TMP/outside/passwd"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$VICTIM"
cp -p "$VICTIM" "$PV_TMP/victim.orig"
untouched() { cmp -s "$VICTIM" "$PV_TMP/victim.orig" && [ "$(stat -c %a "$VICTIM")" = 644 ]; }

pv_start || { not_ok "pvnetd starts"; pv_done; exit 1; }

N=0
hvm_cfg() { # NAME SOCKET [KERNEL]
  N=$((N + 1))
  cat >"$PV_TMP/$1.cfg" <<CFG
name = "$1"
type = "hvm"
kernel = "${3:-$PV_TMP/vmlinuz}"
memory = 64
cmdline = "attack=mem-table"
vif = [ 'mac=52:54:00:0c:00:$(printf %02x $N),bridge=br0,model=virtio${2:+,socket=$2}' ]
CFG
}
# refused NAME REGEX DESC: `pvnet create` fails, says REGEX, no domain left, victim untouched
refused() {
  local out
  if out=$(pvnet create "$PV_TMP/$1.cfg" 2>&1); then
    not_ok "$3: refused"; diag "$out"; pvnet destroy "$1" >/dev/null 2>&1; return
  fi
  if echo "$out" | grep -qE "$2"; then ok "$3: refused: $(echo "$out" | head -1)"
  else not_ok "$3: refused with a clear reason"; diag "$out"; fi
  check "$3: no domain left behind" bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list | grep -q '^$1 '"
  check "$3: the target file is untouched" untouched
}

hvm_cfg sock-etc "$VICTIM"
refused sock-etc "socket=$VICTIM: refused: a vhost-user socket must be in the run dir" \
  "socket= naming a file outside the run dir (an /etc/passwd)"

ln -s "$VICTIM" "$PV_RUN/evil.sock"
hvm_cfg sock-link "$PV_RUN/evil.sock"
refused sock-link "exists and is not a socket" "socket= in the run dir that is a symlink to it"

ln -s "$PV_TMP/outside" "$PV_RUN/outdir"
hvm_cfg sock-dirlink "$PV_RUN/outdir/passwd"
refused sock-dirlink "must be in the run dir" "socket= through a symlinked directory leading outside"

hvm_cfg sock-dotdot "$PV_RUN/../outside/passwd"
refused sock-dotdot "must be in the run dir" "socket= climbing out of the run dir with .."

printf 'keep me\n' >"$PV_RUN/notasock"
hvm_cfg sock-file "$PV_RUN/notasock"
refused sock-file "exists and is not a socket" "socket= naming a regular file in the run dir"
check "socket= naming a regular file in the run dir: that file is untouched too" \
  grep -qx 'keep me' "$PV_RUN/notasock"

hvm_cfg kern-dev "" /dev/zero
refused kern-dev "kernel=/dev/zero: not a regular file" "kernel= naming a device"

# console log: a symlink planted where the HVM domain's log goes
ln -s "$VICTIM" "$PV_RUN/console-con-link.log"
hvm_cfg con-link ""
refused con-link "console log .*is a symlink: refused" "an HVM console log that is a symlink"

# a PV guest whose console log is a symlink: the guest runs, the victim is untouched
ID=$(basename "$PV_TMP" | cut -d. -f2 | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9' | cut -c1-6)
ln -s "$VICTIM" "$PV_RUN/console-pvlink.log"
cat >"$PV_TMP/pvlink.cfg" <<CFG
name = "pvlink"
netns = "pvp${ID}"
memory = 64
vif = [ 'mac=00:16:3e:0c:00:01,bridge=br0,ip=10.12.0.1/24' ]
CFG
check "a PV guest whose console log is a symlink is created" pvnet create "$PV_TMP/pvlink.cfg"
sleep 0.5
check "... and the file the symlink names is untouched" untouched
check "destroy it" pvnet destroy pvlink

# allowed: a socket in $PVNET_VHOST_DIR; the console log is 0640
hvm_cfg sock-ok "$PV_TMP/vhu/ok.sock"
if out=$(pvnet create "$PV_TMP/sock-ok.cfg" 2>&1); then ok "socket= in \$PVNET_VHOST_DIR is accepted"
else not_ok "socket= in \$PVNET_VHOST_DIR is accepted"; diag "$out"; fi
# QEMU is the vhost-user server: the socket appears once it listens
check "... the socket is there" wait_for 10 test -S "$PV_TMP/vhu/ok.sock"
con_engaged() { grep -q "engaged" "$PV_RUN/console-sock-ok.log" 2>/dev/null; }
check "... the VMM connected on it" wait_for 10 con_engaged
check "the console log is created 0640" [ "$(stat -c %a "$PV_RUN/console-sock-ok.log")" = 640 ]
check "destroy it" pvnet destroy sock-ok
check "... its socket is removed" test ! -e "$PV_TMP/vhu/ok.sock"
# a VMM that turns its QMP socket into a symlink to another socket of the host:
# stopping it must not connect there (pvnetd would write its QMP quit into it)
if command -v python3 >/dev/null; then
  python3 - "$PV_TMP/trap.sock" "$PV_TMP/trap.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(4); s.settimeout(60)
try:
    c, _ = s.accept()
    open(sys.argv[2], "w").write("connected: %r\n" % c.recv(200))
except socket.timeout:
    pass
PY
  TRAP_PID=$!
  pv_cleanup_add "kill $TRAP_PID"
  wait_for 5 test -S "$PV_TMP/trap.sock"
  hvm_cfg qmp-link ""
  sed -i "s|^cmdline = .*|cmdline = \"attack=qmp-link trap=$PV_TMP/trap.sock\"|" "$PV_TMP/qmp-link.cfg"
  check "a VMM whose QMP socket is a symlink to another socket: created" pvnet create "$PV_TMP/qmp-link.cfg"
  qmp_linked() { grep -q "attack=qmp-link engaged" "$PV_RUN/console-qmp-link.log" 2>/dev/null; }
  check "... its QMP socket is now a symlink" wait_for 10 qmp_linked
  check "... destroy works" pvnet destroy qmp-link
  check "... and pvnetd never connected to the socket the symlink names" test ! -e "$PV_TMP/trap.log"
  kill "$TRAP_PID" 2>/dev/null
else
  skip "qmp-link" "needs python3"
fi
check "the victim is untouched at the end" untouched
pv_done
