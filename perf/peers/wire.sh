# perf/peers/wire.sh - "wire" rows: the DPDK accelerator plugin (nic-accel/dpdk)
# driven through the framework API by pvnet-accel-test, over a net_memif link
# to a dpdk-testpmd in macswap mode (sourced after perf/lib.sh).
#
# testpmd (server, its own --file-prefix, --no-huge) forwards on lcore 1 (main
# lcore 0) and sends every frame back with the MACs swapped; pvnet-accel-test
# (client) runs with --no-thread (one thread does the driver's work and the
# plugin's engine, as the netback worker would), pinned on CPU 0, and sends as
# fast as it can for SECS: --bench prints tx_mpps (completed on the queue
# pair), wire_tx_mpps (the ethdev's TX counter: frames onto the memif) and
# rx_mpps (frames back on the queue pair). The peer is memif.testpmd (two
# testpmd processes, txonly -> rxonly, one direction only).
#
# wire_ready: 0 if testpmd, pvnet-accel-test and the plugin are there.
# wire_start SIZE / wire_run SIZE SECS / wire_stop: one testpmd per size;
#   wire_run prints "wire_tx_mpps rx_mpps".

wire_ready() {
  command -v dpdk-testpmd >/dev/null 2>&1 && [ -x "$PB_BIN/pvnet-accel-test" ] &&
    [ -e "$PB_BUILD/lib/pvnet-accel/dpdk.so" ]
}

WR_PID=""
wire_start() {
  local size=$1 i
  WR_D="$PB_TMP/wire.$size.$RANDOM"; mkdir -p "$WR_D"
  mkfifo "$WR_D/stdin" || return 1
  exec {WR_FD}<>"$WR_D/stdin"
  WR_PFX="${PB_TAG}w$RANDOM"
  taskset -c 0,1 dpdk-testpmd -l 0,1 --main-lcore 0 --no-huge -m 512 --no-pci \
    --file-prefix "$WR_PFX" --vdev "net_memif0,role=server,socket=$WR_D/memif.sock" -- \
    --forward-mode=macswap -a --stats-period 1 --total-num-mbufs=32768 \
    <&"$WR_FD" >"$WR_D/testpmd.log" 2>&1 &
  WR_PID=$!
  pb_cleanup_add "pb_sigint_wait $WR_PID"
  pb_cleanup_add "rm -rf '/var/run/dpdk/$WR_PFX'"
  # memif's socket is abstract by default (no file): wait for testpmd to be forwarding
  for i in $(seq 1 200); do
    grep -q 'start packet forwarding\|forwards packets on' "$WR_D/testpmd.log" 2>/dev/null && { sleep 0.3; return 0; }
    kill -0 "$WR_PID" 2>/dev/null || break
    sleep 0.05
  done
  pb_log "wire: testpmd macswap did not start: $(tail -n 2 "$WR_D/testpmd.log" | tr '\n' ' ')"
  return 1
}

wire_run() {
  local size=$1 secs=$2 out="$WR_D/bench.$RANDOM"
  PVNET_ACCEL_DIR="$PB_BUILD/lib/pvnet-accel" taskset -c "$PB_CPU_TX" "$PB_BIN/pvnet-accel-test" \
    --devargs "net_memif0;role=client;socket=$WR_D/memif.sock" --bench "$secs" --no-thread \
    --size "$size" --ring 1024 >"$out" 2>"$out.err"
  local w r
  w=$(sed -n 's/^wire_tx_mpps=//p' "$out"); r=$(sed -n 's/^rx_mpps=//p' "$out")
  if [ -z "$r" ] || [ "$(pb_calc "$r > 0")" != 1 ]; then
    pb_log "wire ${size}B: $(grep -h -m2 'error\|link_up' "$out" "$out.err" | tr '\n' ' ')"
    echo "n/a n/a"; return 1
  fi
  echo "$w $r"
}

wire_stop() {
  [ -n "$WR_PID" ] && pb_sigint_wait "$WR_PID" 2>/dev/null
  WR_PID=""
  exec {WR_FD}>&- 2>/dev/null
  rm -rf "/var/run/dpdk/$WR_PFX"
}
