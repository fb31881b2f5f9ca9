# perf/peers/qemu.sh - HVM guests (sourced after perf/lib.sh and perf/peers/pvnet.sh).
#
# Both sides boot the same image (scripts/guest-image.sh: build/guest/vmlinuz,
# initramfs.gz; its /init configures eth0 from pvnet.ip= and runs one-off
# iperf3 servers on port 5201 in a loop) with the same machine: q35, TCG, 1 vCPU,
# 256 MiB on a shared memfd, virtio-net-pci with vectors=0 and no option ROM
# (what pvnetd passes under TCG), so only the network backend differs.
#
# The peer, QEMU with a plain TAP backend (qemu_tap_start):
#   H:h0 (10.80.0.1/24) <-> S:ph -- br0 -- S:qtap0 (QEMU's TAP, vhost=off) = guest eth0 10.80.0.2
# QEMU runs in namespace S (it creates the TAP there), is started and stopped by
# its PID, and its console goes to a file.
#
# pvnet (pvnet_hvm_start): a type = "hvm" domain created through pvnetd on
# bridge br0 (vhost-user port) next to PV guest 1: 10.78.0.50.
#
# qemu_iperf NS_CLIENT GUEST_IP SECS [-R]: iperf3 client pinned on PB_CPU_TX
#   against the guest's server; prints "gbps retransmits". Retries once (the
#   guest restarts its one-off server after each test).

QEMU_IMG="$PB_BUILD/guest"
QT_PID=""

qemu_ready() {
  command -v qemu-system-x86_64 >/dev/null 2>&1 || { pb_log "qemu-system-x86_64 missing: hvm rows n/a"; return 1; }
  if ! "$PB_ROOT/scripts/guest-image.sh" "$QEMU_IMG" >"$PB_TMP/guest-image.log" 2>&1; then
    pb_log "guest image not buildable: $(tail -n 1 "$PB_TMP/guest-image.log"): hvm rows n/a"
    return 1
  fi
}

# qemu_wait_console FILE SECS: 0 once the guest printed PVNET-READY.
qemu_wait_console() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    grep -q PVNET-READY "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

qemu_tap_start() {
  QT_NS_S="$PB_TAG-qS"; QT_NS_H="$PB_TAG-qH"; QT_IP_H=10.80.0.1; QT_IP_G=10.80.0.2
  pb_ns "$QT_NS_S" && pb_ns "$QT_NS_H" || return 1
  ip -n "$QT_NS_S" link add br0 type bridge || return 1
  ip -n "$QT_NS_S" link set br0 up
  ip -n "$QT_NS_S" link add ph type veth peer name h0 netns "$QT_NS_H" || return 1
  ip -n "$QT_NS_S" link set ph master br0 up
  ip -n "$QT_NS_H" addr add "$QT_IP_H/24" dev h0
  ip -n "$QT_NS_H" link set h0 up
  local con="$PB_TMP/qemu-tap.console" i
  ip netns exec "$QT_NS_S" qemu-system-x86_64 -name pvb-tap -machine q35,accel=tcg,memory-backend=mem0 \
    -smp 1 -m 256 -object memory-backend-memfd,id=mem0,size=256M,share=on \
    -nographic -no-reboot -nodefaults -serial "file:$con" -nic none \
    -netdev tap,id=n0,ifname=qtap0,script=no,downscript=no,vhost=off \
    -device virtio-net-pci,netdev=n0,mac=52:54:00:80:00:02,romfile=,vectors=0 \
    -kernel "$QEMU_IMG/vmlinuz" -initrd "$QEMU_IMG/initramfs.gz" \
    -append "console=ttyS0 quiet panic=-1 pvnet.ip=$QT_IP_G/24" \
    </dev/null >"$PB_TMP/qemu-tap.log" 2>&1 &
  QT_PID=$!
  pb_cleanup_add "pb_kill $QT_PID"
  for i in $(seq 1 100); do
    ip -n "$QT_NS_S" link show qtap0 >/dev/null 2>&1 && break
    kill -0 "$QT_PID" 2>/dev/null || break
    sleep 0.05
  done
  ip -n "$QT_NS_S" link set qtap0 master br0 up 2>/dev/null || {
    pb_log "qemu tap: no qtap0: $(tail -n 2 "$PB_TMP/qemu-tap.log" | tr '\n' ' ')"; return 1; }
  qemu_wait_console "$con" 120 || { pb_log "qemu tap: guest did not boot: $(tail -n 3 "$con" | tr '\n' ' ')"; return 1; }
  for i in $(seq 1 50); do
    ip netns exec "$QT_NS_H" ping -c1 -W1 "$QT_IP_G" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  pb_log "qemu tap: $QT_IP_H cannot reach the guest $QT_IP_G"
  return 1
}

qemu_tap_stop() { [ -n "$QT_PID" ] && pb_kill "$QT_PID"; QT_PID=""; }

# pvnet_hvm_start: the HVM guest on pvnetd's br0 (needs pvnet_start and guest 1).
pvnet_hvm_start() {
  local cfg="$PB_TMP/pvb$$hvm.cfg" out i
  PVH_NAME="pvb$$hvm"; PVH_IP=10.78.0.50; PVH_ACCEL=""
  cat >"$cfg" <<CFG
name    = "$PVH_NAME"
type    = "hvm"
kernel  = "$QEMU_IMG/vmlinuz"
ramdisk = "$QEMU_IMG/initramfs.gz"
memory  = 256
vif     = [ 'mac=52:54:00:78:00:32, bridge=br0, model=virtio, ip=$PVH_IP/24' ]
CFG
  out=$(pvnet_cli create "$cfg" 2>&1) || { pb_log "pvnet create (hvm): $out"; return 1; }
  pb_cleanup_add "'$PB_BIN/pvnet' --run-dir '$PVD_RUN' destroy '$PVH_NAME'"
  PVH_ACCEL=$(echo "$out" | grep -oE '(tcg|kvm)' | head -1)
  qemu_wait_console "$PVD_RUN/console-$PVH_NAME.log" 120 || {
    pb_log "pvnet hvm guest did not boot: $(tail -n 3 "$PVD_RUN/console-$PVH_NAME.log" 2>/dev/null | tr '\n' ' ')"; return 1; }
  for i in $(seq 1 50); do
    ip netns exec "${PVG_NS[1]}" ping -c1 -W1 "$PVH_IP" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  pb_log "pvnet hvm: PV guest 1 cannot reach the HVM guest $PVH_IP"
  return 1
}

pvnet_hvm_stop() { pvnet_cli destroy "$PVH_NAME" >/dev/null 2>&1; }

qemu_iperf() {
  local nc=$1 ip=$2 secs=$3 rev=${4:-} out="$PB_TMP/qiperf.$BASHPID.json" try bps rtx
  for try in 1 2; do
    sleep 0.5 # the guest restarts its one-off iperf3 server after each test
    taskset -c "$PB_CPU_TX" ip netns exec "$nc" timeout 30 iperf3 -c "$ip" -t "$secs" -O 1 $rev \
      -J >"$out" 2>&1
    bps=$(awk '/"sum_received"/ { f = 1 } f && /"bits_per_second"/ { gsub(/[,]/, ""); print $2; exit }' "$out")
    rtx=$(awk '/"sum_sent"/ { f = 1 } f && /"retransmits"/ { gsub(/[,]/, ""); print $2; exit }' "$out")
    [ -n "$bps" ] && { echo "$(pb_calc "$bps / 1e9") ${rtx:-0}"; return 0; }
    sleep 1.5
  done
  pb_log "iperf3 $rev to guest $ip failed: $(grep -m1 error "$out")"
  echo "n/a n/a"; return 1
}

# The second peer, DPDK's librte_vhost (what issue #7 proposes for the vhost-user
# backend), in the same shape as pvnet's HVM path: the same QEMU guest's
# virtio-net on a vhost-user socket served by dpdk-testpmd's net_vhost PMD, which
# forwards (io mode, one busy-polling lcore on PB_CPU_RX; iperf3 is pinned on
# PB_CPU_TX) to a net_tap TAP in namespace D:
#   D:dtap0 (10.80.1.1/24) <-> testpmd (net_tap <-> net_vhost) <-> QEMU = guest eth0 10.80.1.2
# iperf3 runs in D against the guest. testpmd: --no-huge, no PCI, main lcore
# PB_CPU_TX (idle); offloads off (the PMD's defaults); stdin a
# FIFO held open; stopped with SIGINT by its PID, QEMU with SIGTERM by its PID.
QV_PID=""; QV_TP=""; QV_FD=""
qemu_vhost_ready() { command -v dpdk-testpmd >/dev/null 2>&1 || { pb_log "dpdk-testpmd missing: librte_vhost rows n/a"; return 1; }; }

qemu_vhost_start() {
  local d="$PB_TMP/qvhost" con i pfx
  QV_NS="$PB_TAG-qD"; QV_IP_H=10.80.1.1; QV_IP_G=10.80.1.2
  mkdir -p "$d"; con="$d/console"
  pb_ns "$QV_NS" || return 1
  mkfifo "$d/stdin" || return 1
  exec {QV_FD}<>"$d/stdin"
  pfx="${PB_TAG}v"
  ip netns exec "$QV_NS" dpdk-testpmd -l "$PB_CPU_TX,$PB_CPU_RX" --main-lcore "$PB_CPU_TX" \
    --no-huge -m 512 --no-pci --file-prefix "$pfx" \
    --vdev "net_vhost0,iface=$d/vhu.sock,queues=1" --vdev "net_tap0,iface=dtap0" -- \
    --forward-mode=io -a --stats-period 0 --total-num-mbufs=32768 \
    <&"$QV_FD" >"$d/testpmd.log" 2>&1 &
  QV_TP=$!
  pb_cleanup_add "pb_sigint_wait $QV_TP; rm -rf /var/run/dpdk/$pfx"
  for i in $(seq 1 200); do
    [ -S "$d/vhu.sock" ] && grep -q 'forwards packets on' "$d/testpmd.log" 2>/dev/null && break
    kill -0 "$QV_TP" 2>/dev/null || break
    sleep 0.05
  done
  [ -S "$d/vhu.sock" ] || { pb_log "testpmd vhost: no socket: $(tail -n 2 "$d/testpmd.log" | tr '\n' ' ')"; return 1; }
  ip -n "$QV_NS" addr add "$QV_IP_H/24" dev dtap0 && ip -n "$QV_NS" link set dtap0 up || {
    pb_log "testpmd vhost: no dtap0"; return 1; }
  ip netns exec "$QV_NS" qemu-system-x86_64 -name pvb-vhost -machine q35,accel=tcg,memory-backend=mem0 \
    -smp 1 -m 256 -object memory-backend-memfd,id=mem0,size=256M,share=on \
    -nographic -no-reboot -nodefaults -serial "file:$con" -nic none \
    -chardev "socket,id=c0,path=$d/vhu.sock" -netdev vhost-user,id=n0,chardev=c0 \
    -device virtio-net-pci,netdev=n0,mac=52:54:00:80:01:02,romfile=,vectors=0 \
    -kernel "$QEMU_IMG/vmlinuz" -initrd "$QEMU_IMG/initramfs.gz" \
    -append "console=ttyS0 quiet panic=-1 pvnet.ip=$QV_IP_G/24" \
    </dev/null >"$d/qemu.log" 2>&1 &
  QV_PID=$!
  pb_cleanup_add "pb_kill $QV_PID"
  qemu_wait_console "$con" 120 || { pb_log "qemu vhost: guest did not boot: $(tail -n 3 "$con" "$d/qemu.log" 2>/dev/null | tr '\n' ' ')"; return 1; }
  for i in $(seq 1 50); do
    ip netns exec "$QV_NS" ping -c1 -W1 "$QV_IP_G" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  pb_log "qemu vhost: $QV_IP_H cannot reach the guest $QV_IP_G"
  return 1
}

qemu_vhost_stop() {
  [ -n "$QV_PID" ] && pb_kill "$QV_PID"
  [ -n "$QV_TP" ] && pb_sigint_wait "$QV_TP"
  [ -n "$QV_FD" ] && exec {QV_FD}>&-
  QV_PID=""; QV_TP=""; QV_FD=""
}
