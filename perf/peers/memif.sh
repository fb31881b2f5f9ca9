# perf/peers/memif.sh - DPDK testpmd txonly -> rxonly over a net_memif pair,
# the shared-memory limit (sourced after perf/lib.sh).
#
# Two testpmd processes, each with its own --file-prefix, --no-huge, no PCI:
# the txonly server's forwarding lcore is CPU 1 (main lcore 0), the rxonly
# client's is CPU 0 (main lcore 1). Stopped with SIGINT to the PIDs started.
# The rate is the median of the receiver's per-second Rx-pps lines, the first
# one (warm-up) dropped.

memif_ready() { command -v dpdk-testpmd >/dev/null 2>&1; }

# memif_testpmd SIZE SECS: prints "mpps" (or "n/a").
memif_testpmd() {
  local size=$1 secs=$2 d pfx txpid rxpid i fd
  d="$PB_TMP/memif.$size.$RANDOM"; mkdir -p "$d"
  # testpmd exits at once when stdin reaches EOF: give it a FIFO held open
  # read-write by us (never EOF) and closed when we are done.
  mkfifo "$d/stdin" || { echo n/a; return 1; }
  exec {fd}<>"$d/stdin"
  pfx="${PB_TAG}m$RANDOM"
  taskset -c 0,1 dpdk-testpmd -l 0,1 --main-lcore 0 --no-huge -m 512 --no-pci \
    --file-prefix "${pfx}tx" --vdev "net_memif0,role=server,socket=$d/memif.sock" -- \
    --forward-mode=txonly --txpkts="$size" -a --stats-period 1 --total-num-mbufs=32768 \
    <&"$fd" >"$d/tx.log" 2>&1 &
  txpid=$!
  pb_cleanup_add "pb_sigint_wait $txpid"
  # the socket is abstract by default (no file): wait for the server to run
  for i in $(seq 1 100); do
    [ -S "$d/memif.sock" ] && break
    grep -q 'start packet forwarding\|forwards packets on' "$d/tx.log" 2>/dev/null && break
    sleep 0.05
  done
  taskset -c 0,1 dpdk-testpmd -l 0,1 --main-lcore 1 --no-huge -m 512 --no-pci \
    --file-prefix "${pfx}rx" --vdev "net_memif0,role=client,socket=$d/memif.sock" -- \
    --forward-mode=rxonly -a --stats-period 1 --total-num-mbufs=32768 \
    <&"$fd" >"$d/rx.log" 2>&1 &
  rxpid=$!
  pb_cleanup_add "pb_sigint_wait $rxpid"
  # testpmd prints a rate once a second: run long enough for three of them.
  [ "${secs%.*}" -lt 3 ] 2>/dev/null && secs=3
  sleep "$(pb_calc "$secs + 1.5")"
  # The server (txonly) first: stopping the client first can crash the server.
  pb_sigint_wait "$txpid" 2>/dev/null
  pb_sigint_wait "$rxpid" 2>/dev/null
  exec {fd}>&-
  rm -rf "/var/run/dpdk/${pfx}tx" "/var/run/dpdk/${pfx}rx"
  local v
  # Nonzero per-second rates; the first (warm-up, partial) dropped if more follow.
  v=$(sed -n 's/.*Rx-pps: *\([0-9][0-9]*\).*/\1/p' "$d/rx.log" | awk '$1 > 0 { v[n++] = $1 }
    END { for (i = (n > 1); i < n; i++) print v[i] }')
  if [ -z "$v" ]; then
    pb_log "memif ${size}B: no Rx-pps lines: $(tail -n 3 "$d/rx.log" | tr '\n' ' ')"
    echo n/a; return 1
  fi
  pb_calc "$(pb_median $v) / 1e6"
}
