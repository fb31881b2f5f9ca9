#!/usr/bin/env bash
# HVM guest (QEMU, Debian kernel from scripts/guest-image.sh) on a vhost-user port
# of a pvnet bridge: boot, ping both ways, iperf3 both ways, killing QEMU leaves
# the switch up with the port removed.
#
# Peer: a TAP port on the same bridge (the host side of the test namespace). The
# switch and hvm.c run in pvnet-vhost-test --hvm, which calls pvnetd's hvm_spawn /
# hvm_destroy unchanged, until pvnetd itself creates type="hvm" domains.
# Accelerator: TCG unless PVNET_HVM_ACCEL says otherwise (the test prints which).
. "$(dirname "$0")/lib.sh"
pv_init test_hvm
pv_need qemu-system-x86_64 iperf3 ping
DRV="$PV_BIN/pvnet-vhost-test"
if [ ! -x "$DRV" ]; then not_ok "test_hvm: $DRV not built"; pv_done; exit 1; fi

IMG="$PV_BUILD/guest"
if ! "$PV_ROOT/scripts/guest-image.sh" "$IMG" >"$PV_TMP/image.log" 2>&1; then
  skip "test_hvm" "guest image not buildable (linux-image-amd64 / busybox-static unavailable): $(tail -n1 "$PV_TMP/image.log")"
  pv_done; exit 0
fi
ok "guest image $(cat "$IMG/VERSION" 2>/dev/null) in $IMG"

mkdir -p "$PV_RUN"
cat >"$PV_TMP/hvm1.cfg" <<CFG
name = "hvm1"
type = "hvm"
kernel = "$IMG/vmlinuz"
ramdisk = "$IMG/initramfs.gz"
memory = 256
cmdline = "pvnet.cmd=ping,-c,2,-W,2,10.9.0.1"
vif = [ 'mac=52:54:00:00:00:03,bridge=br0,model=virtio,ip=10.9.0.3/24' ]
CFG

START=$(date +%s.%N)
nsenter --net="/run/netns/$PV_NS" "$DRV" --hvm "$PV_TMP/hvm1.cfg" --run-dir "$PV_RUN" \
  --tap pvtap0 >"$PV_TMP/drv.out" 2>"$PV_TMP/drv.log" &
DPID=$!
pv_cleanup_add "pv_kill_daemon $DPID"
CON="$PV_RUN/console-hvm1.log"
if ! wait_for 10 grep -q '^READY' "$PV_TMP/drv.out"; then
  not_ok "switch + QEMU started"; sed 's/^/# /' "$PV_TMP/drv.log"; pv_done; exit 1
fi
QPID=$(sed -n 's/^READY pid=\([0-9]*\).*/\1/p' "$PV_TMP/drv.out")
ACCEL=$(sed -n 's/^READY .*accel=\([a-z]*\).*/\1/p' "$PV_TMP/drv.out")
ok "QEMU pid $QPID started (accel: $ACCEL)"
diag "accelerator: $ACCEL"
ip -n "$PV_NS" addr add 10.9.0.1/24 dev pvtap0
ip -n "$PV_NS" link set pvtap0 up

if wait_for 90 grep -q PVNET-READY "$CON"; then
  END=$(date +%s.%N)
  ok "guest reached init and configured eth0 ($(echo "$END - $START" | bc | cut -c1-4) s from launch, $ACCEL)"
else
  not_ok "guest did not boot"; tail -n 20 "$CON" | sed 's/^/# /'
  pv_done; exit 1
fi

check "peer pings the HVM guest" ip netns exec "$PV_NS" ping -q -c 3 -i 0.2 -W 2 10.9.0.3 >/dev/null
if wait_for 20 grep -q PVNET-CMD-EXIT "$CON" && grep -q 'PVNET-CMD-EXIT 0' "$CON"; then
  ok "HVM guest pings the peer (pvnet.cmd on its kernel command line)"
else
  not_ok "HVM guest pings the peer"; grep -A3 PING "$CON" | sed 's/^/# /'
fi
for dir in fwd rev; do
  label="peer->guest"; flag=""
  [ "$dir" = rev ] && { label="guest->peer"; flag="-R"; }
  sleep 1 # the guest restarts its one-off iperf3 server
  if out=$(ip netns exec "$PV_NS" timeout 30 iperf3 -c 10.9.0.3 -t 5 $flag 2>&1) ||
     { sleep 2; out=$(ip netns exec "$PV_NS" timeout 30 iperf3 -c 10.9.0.3 -t 5 $flag 2>&1); }; then
    rate=$(echo "$out" | grep receiver | awk '{print $(NF-2), $(NF-1)}')
    ok "iperf3 TCP $label: $rate ($ACCEL)"
  else
    not_ok "iperf3 TCP $label"; echo "$out" | tail -n 3 | sed 's/^/# /'
  fi
done

kill -USR1 "$DPID"; sleep 0.3
grep -E '^(port|vhost)' "$PV_TMP/drv.out" | sed 's/^/# /'
check "no malformed descriptors counted" grep -q 'bad_desc tx 0 rx 0 bad_hdr 0' "$PV_TMP/drv.out"

kill -KILL "$QPID"
if wait_for 5 grep -q '^QEMU-EXITED' "$PV_TMP/drv.out"; then
  ports=$(sed -n 's/^QEMU-EXITED .*ports=\([0-9]*\)/\1/p' "$PV_TMP/drv.out")
  check "QEMU killed: switch still up" kill -0 "$DPID"
  check "QEMU killed: vhost-user port removed (ports left: $ports, the TAP)" [ "$ports" = 1 ]
  check "QEMU killed: socket removed" [ ! -e "$PV_RUN/vhu-1.0.sock" ]
else
  not_ok "QEMU exit not noticed"
fi
pv_done
