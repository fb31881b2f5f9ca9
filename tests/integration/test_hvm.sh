#!/usr/bin/env bash
# An HVM guest (QEMU, Debian kernel and busybox initramfs built by
# scripts/guest-image.sh) created by pvnetd from a type = "hvm" config, its
# virtio-net on a vhost-user port of bridge br0, and a PV guest on the same
# bridge: boot, ping both ways, iperf3 both ways; killing QEMU leaves pvnetd up
# and the port removed. Accelerator: TCG unless PVNET_HVM_ACCEL says otherwise
# (the test prints which one ran).
. "$(dirname "$0")/lib.sh"
pv_init test_hvm
pv_need qemu-system-x86_64 iperf3 ping

IMG="$PV_BUILD/guest"
if ! "$PV_ROOT/scripts/guest-image.sh" "$IMG" >"$PV_TMP/image.log" 2>&1; then
  skip "test_hvm" "guest image not buildable (linux-image-amd64 / busybox-static unavailable): $(tail -n1 "$PV_TMP/image.log")"
  pv_done; exit 0
fi
ok "guest image $(cat "$IMG/VERSION" 2>/dev/null) in $IMG"

ID=$(basename "$PV_TMP" | cut -d. -f2 | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9' | cut -c1-6)
PVNS="pvt${ID}pv"
cat >"$PV_TMP/pv1.cfg" <<CFG
name = "pv1"
netns = "$PVNS"
memory = 64
vif = [ 'mac=00:16:3e:09:00:01,bridge=br0,ip=10.9.0.1/24' ]
CFG
cat >"$PV_TMP/hvm1.cfg" <<CFG
name = "hvm1"
type = "hvm"
kernel = "$IMG/vmlinuz"
ramdisk = "$IMG/initramfs.gz"
memory = 256
cmdline = "pvnet.cmd=ping,-c,2,-W,2,10.9.0.1"
vif = [ 'mac=52:54:00:00:00:03,bridge=br0,model=virtio,ip=10.9.0.3/24' ]
CFG

pv_start || { not_ok "pvnetd starts"; pv_done; exit 1; }
check "create the PV guest" pvnet create "$PV_TMP/pv1.cfg"
wait_for 10 ip netns exec "$PVNS" ip -o addr show eth0 2>/dev/null | grep -q 10.9.0.1
START=$(date +%s.%N)
if out=$(pvnet create "$PV_TMP/hvm1.cfg" 2>&1); then
  ACCEL=$(echo "$out" | grep -oE '(tcg|kvm)' | head -1)
  ok "create the HVM guest: $out"
else
  not_ok "create the HVM guest"; diag "$out"; pv_done; exit 1
fi
diag "accelerator: $ACCEL"
# the KVM boot probe (up to 6 s, unless PVNET_HVM_ACCEL says) ran inside that create:
# the control loop kept turning meanwhile (the store and the PV guest were served)
# the loop's own time per turn (computing or blocked in the probe), without the time
# a loaded machine kept it waiting to run: a blocking wait still counts in full
wt=$(pvnet info 2>/dev/null | awk -F'[ :=]+' '/loop_worst_turn_ran_us/ {print $NF; exit}')
diag "worst turn ${wt:-n/a} us ran, $(pvnet info 2>/dev/null | awk -F'[ :=]+' '/loop_worst_turn_us/ {print $NF; exit}') us wall"
if [ -z "$wt" ]; then skip "control loop's worst turn" "pvnet info has no loop_worst_turn_ran_us"
elif [ "$wt" -lt 500000 ]; then ok "the control loop's worst turn stays short across the HVM create (${wt} us)"
else not_ok "the control loop's worst turn across the HVM create is ${wt} us (>= 500 ms)"; fi
check "pvnetd's log says whether the KVM boot probe reached init (chose $ACCEL)" \
  grep -qE "KVM boot probe: (reached init|failed)|accel(erator)?[ =:]+(tcg|kvm)" "$PV_TMP/pvnetd.log"
diag "$(grep -hE 'KVM boot probe|HVM domain' "$PV_TMP/pvnetd.log" | head -3)"
CON="$PV_RUN/console-hvm1.log"
if wait_for 120 grep -q PVNET-READY "$CON"; then
  ok "HVM guest reached init and configured eth0 ($(echo "$(date +%s.%N) - $START" | bc | cut -c1-4) s from launch, $ACCEL)"
else
  not_ok "HVM guest did not boot"; tail -n 20 "$CON" | sed 's/^/# /'; pv_done; exit 1
fi
check "pvnet list shows hvm1 with its memory= (256 MiB)" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' list | grep -qE '^hvm1 +[0-9]+ +256 '"
check "pvnet vif-list hvm1 shows its vhost-user vif on br0, connected" \
  bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' vif-list hvm1 | grep -qE '^0 +vif[0-9]+\.0 +52:54:00:00:00:03 +Connected +1 +br0 '"
check "PV guest pings the HVM guest" in_guest "$PVNS" ping -q -c 3 -i 0.2 -W 2 10.9.0.3
if wait_for 30 grep -q PVNET-CMD-EXIT "$CON" && grep -q 'PVNET-CMD-EXIT 0' "$CON"; then
  ok "HVM guest pings the PV guest"
else
  not_ok "HVM guest pings the PV guest"; grep -A3 PING "$CON" | sed 's/^/# /'
fi
for dir in fwd rev; do
  label="PV->HVM"; flag=""
  [ "$dir" = rev ] && { label="HVM->PV"; flag="-R"; }
  sleep 1 # the guest restarts its one-off iperf3 server
  if out=$(in_guest "$PVNS" timeout 40 iperf3 -c 10.9.0.3 -t 5 $flag 2>&1) ||
     { sleep 2; out=$(in_guest "$PVNS" timeout 40 iperf3 -c 10.9.0.3 -t 5 $flag 2>&1); }; then
    rate=$(echo "$out" | grep receiver | awk '{print $(NF-2), $(NF-1)}')
    ok "iperf3 TCP $label: $rate ($ACCEL)"
  else
    not_ok "iperf3 TCP $label"; echo "$out" | tail -n 3 | sed 's/^/# /'
  fi
done

hid=$(pvnet domid hvm1)
check "switch show lists the vhost-user port vif$hid.0" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' switch show | grep -q 'vif$hid.0'"
# QEMU was started by our pvnetd for this test: find it by its unique QMP socket path
qpid=$(pgrep -f -- "$PV_RUN/qmp-$hid.sock" | head -1)
if [ -n "$qpid" ]; then
  kill -KILL "$qpid"
  if wait_for 10 bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list | grep -q '^hvm1 '"; then
    ok "QEMU killed: the domain is cleaned up"
  else
    not_ok "QEMU killed: domain cleaned up"
  fi
  check "QEMU killed: pvnetd still up" kill -0 "$PV_PID"
  check "QEMU killed: port vif$hid.0 removed" bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch show | grep -q 'vif$hid.0'"
  check "QEMU killed: vhost-user socket removed" [ ! -e "$PV_RUN/vhu-$hid.0.sock" ]
  check "QEMU killed: the PV guest still answers" in_guest "$PVNS" ping -q -c 1 -W 2 10.9.0.1
else
  not_ok "QEMU pid of domain $hid found"
fi
# pvnet shutdown of a running QEMU: "quit" over QMP, written without waiting for
# QEMU's greeting, must be enough (no SIGKILL), and the store is served meanwhile
# (pvnet destroy is immediate, as xl's: SIGKILL)
if out=$(pvnet create "$PV_TMP/hvm1.cfg" 2>&1); then
  hid=$(pvnet domid hvm1)
  wait_for 20 test -S "$PV_RUN/qmp-$hid.sock"
  T0=$(date +%s%N)
  check "shut down a running HVM guest (gone when the command returns)" \
    bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' shutdown hvm1 && ! '$PV_BIN/pvnet' --run-dir '$PV_RUN' list hvm1 >/dev/null 2>&1"
  ms=$(( ($(date +%s%N) - T0) / 1000000 ))
  check "... QEMU quit over QMP (no SIGKILL needed), in $ms ms" \
    bash -c "! grep -q 'domain $hid: QEMU pid [0-9]* did not quit' '$PV_TMP/pvnetd.log'"
  check "... its console log is 0640" [ "$(stat -c %a "$PV_RUN/console-hvm1.log")" = 640 ]
else
  not_ok "create the HVM guest again"; diag "$out"
fi
check "destroy the PV guest" pvnet destroy pv1
pv_done
