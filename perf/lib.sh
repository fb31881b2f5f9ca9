# perf/lib.sh - helpers for perf/bench.sh and perf/peers/*.sh (sourced).
#
# Everything a benchmark creates (namespaces, processes, temp dirs) is
# registered with pb_cleanup_add and removed on exit, even on failure or ^C.
# Processes are stopped only by the PIDs we started; namespaces only by the
# unique names we made (pvb-<pid>-...).
set -u

PB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PB_BUILD=${PVNET_BUILD:-build}
case "$PB_BUILD" in /*) ;; *) PB_BUILD="$PB_ROOT/$PB_BUILD" ;; esac
PB_BIN="$PB_BUILD/bin"
PB_TAG="pvb-$$"
PB_CLEANUPS=()
# CPU placement: the sender on CPU 0, the receiver on CPU 1 (2-core machine).
PB_CPU_TX=${PB_CPU_TX:-0}
PB_CPU_RX=${PB_CPU_RX:-1}

pb_log() { echo "# $*" >&2; }

pb_cleanup_add() { PB_CLEANUPS+=("$1"); }

pb_cleanup() {
  local i
  for ((i = ${#PB_CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${PB_CLEANUPS[$i]}" >/dev/null 2>&1 || true
  done
  PB_CLEANUPS=()
}
trap pb_cleanup EXIT
trap 'exit 130' INT TERM

# pb_tmpdir: a temp dir removed on exit, in $PB_TMP.
pb_tmpdir() {
  PB_TMP=$(mktemp -d /tmp/pvnet-bench.XXXXXX)
  pb_cleanup_add "rm -rf '$PB_TMP'"
}

# pb_ns NAME: creates namespace NAME (lo up), deleted on exit.
pb_ns() {
  ip netns add "$1" || return 1
  pb_cleanup_add "ip netns del '$1'"
  ip -n "$1" link set lo up
}

# pb_kill PID: SIGTERM, up to 5 s, then SIGKILL. Only for PIDs we started.
pb_kill() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}

# pb_sigint_wait PID: SIGINT (testpmd's stop), wait up to 10 s, then SIGKILL.
pb_sigint_wait() {
  local pid=$1 i
  kill -INT "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

# pb_median V...: median of numbers ("n/a" values ignored); "n/a" if none.
pb_median() {
  printf '%s\n' "$@" | awk '$1 != "n/a" && $1 != "" { v[n++] = $1 }
    END { if (!n) { print "n/a"; exit }
          for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
          if (n % 2) print v[int(n / 2)]; else print (v[n / 2 - 1] + v[n / 2]) / 2 }'
}

# pb_pct P FILE: P-th percentile (nearest rank) of the numbers in FILE, one a line.
pb_pct() {
  sort -g "$2" | awk -v p="$1" '{ v[n++] = $1 } END { if (!n) { print "n/a"; exit }
    r = p / 100 * n; k = int(r); if (k < r) k++; if (k < 1) k = 1; print v[k - 1] }'
}

# pb_calc EXPR: floating-point arithmetic; "n/a" if any operand is n/a.
pb_calc() {
  case "$1" in *n/a*) echo n/a; return ;; esac
  awk "BEGIN { x = $1; printf \"%.6g\n\", x }"
}

# pb_json_num FILE KEY: a number from a flat one-line JSON object.
pb_json_num() {
  grep -oE "\"$2\":[-0-9.eE+]+" "$1" 2>/dev/null | head -1 | cut -d: -f2
}

# pb_task_cpu_ns PID: user+system CPU time of every thread of PID, in ns.
pb_task_cpu_ns() {
  local tck
  tck=$(getconf CLK_TCK)
  cat /proc/"$1"/task/*/stat 2>/dev/null | awk -v t="$tck" '{
      s = $0; sub(/^.*\) /, "", s); split(s, f, " "); sum += f[12] + f[13] }
    END { printf "%.0f\n", sum * 1e9 / t }'
}

# pb_tree_pids PID: PID and all its descendants.
pb_tree_pids() {
  local p c
  echo "$1"
  for p in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    for c in $(pb_tree_pids "$p"); do echo "$c"; done
  done
}

# Rows: a TSV file of scenario, size, metric, unit, value, peer, peer_value.
# pb_row SCENARIO SIZE METRIC UNIT VALUE [PEER PEER_VALUE]
pb_row() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "${6:-}" "${7:-}" >>"$PB_ROWS"
}

# pb_row_get SCENARIO SIZE METRIC: the value of the first such row ("" if none).
pb_row_get() {
  awk -F'\t' -v s="$1" -v z="$2" -v m="$3" '$1 == s && $2 == z && $3 == m { print $5; exit }' "$PB_ROWS"
}

# pb_rows_json TSV: the JSON list of rows {scenario, size, metric, unit, value,
# peer, peer_value, ratio}; "n/a" becomes null.
pb_rows_json() {
  awk -F'\t' 'function num(v) { return (v == "" || v == "n/a") ? "null" : v }
    function str(v) { return v == "" ? "null" : "\"" v "\"" }
    BEGIN { print "[" }
    { r = "null"
      if ($5 != "n/a" && $5 != "" && $7 != "n/a" && $7 != "" && $7 + 0 != 0) r = sprintf("%.4f", $5 / $7)
      printf "%s  {\"scenario\": %s, \"size\": %s, \"metric\": %s, \"unit\": %s, \"value\": %s, \"peer\": %s, \"peer_value\": %s, \"ratio\": %s}",
        (NR > 1 ? ",\n" : ""), str($1), num($2), str($3), str($4), num($5), str($6), num($7), r }
    END { print "\n]" }' "$1"
}

# pb_rows_table TSV: one aligned line per (scenario, size); the first metric
# with a peer gives the "% of peer" column.
pb_rows_table() {
  awk -F'\t' '{ k = $1 SUBSEP $2
      if (!(k in seen)) { seen[k] = 1; order[n++] = k; lab[k] = $1 ($2 != "" ? " " $2 "B" : "") }
      v = ($5 == "n/a" || $5 == "") ? "n/a" : sprintf("%.4g", $5)
      if (!((k, $3) in had)) { had[k, $3] = 1; cell[k] = cell[k] sprintf("%10s %-12s", v, $4) }
      if ($6 != "") {
        if ($5 != "n/a" && $7 != "n/a" && $7 + 0 != 0) p = sprintf("%5.1f%% of %s %s", 100 * $5 / $7, $6, $3)
        else p = sprintf("n/a%% of %s %s", $6, $3)
        pct[k] = pct[k] (pct[k] == "" ? "  " : "; ") p
      } }
    END { for (i = 0; i < n; i++) { k = order[i]; printf "%-26s%s %s\n", lab[k], cell[k], pct[k] } }' "$1"
}

# --- measurements between two namespaces (used for the peers and for pvnet) ---

# pb_pktgen NS_TX IF_TX NS_RX IF_RX SIZE SECS [EXTRA_TX_ARGS...]
# pvnet-pktgen rx pinned on PB_CPU_RX, tx pinned on PB_CPU_TX. Prints
# "mpps gbps loss_pct cpu_ns_per_pkt tx_frames rx_frames" where mpps/gbps are
# frames delivered over the sender's run time and cpu is both processes'
# CPU time (incl. softirq work in their context) per delivered frame.
pb_pktgen() {
  local ntx=$1 itx=$2 nrx=$3 irx=$4 size=$5 secs=$6 mac rxpid txo rxo
  shift 6
  txo="$PB_TMP/pktgen-tx.$BASHPID.$RANDOM.json"; rxo="$txo.rx"
  mac=$(ip netns exec "$nrx" cat "/sys/class/net/$irx/address") || { echo "n/a n/a n/a n/a 0 0"; return 1; }
  taskset -c "$PB_CPU_RX" ip netns exec "$nrx" "$PB_BIN/pvnet-pktgen" rx "$irx" \
    --seconds "$(pb_calc "$secs + 5")" --idle-ms 300 --json >"$rxo" 2>&1 &
  rxpid=$!
  pb_cleanup_add "pb_kill $rxpid"
  sleep 0.2
  taskset -c "$PB_CPU_TX" ip netns exec "$ntx" "$PB_BIN/pvnet-pktgen" tx "$itx" \
    --size "$size" --seconds "$secs" --dst-mac "$mac" --json "$@" >"$txo" 2>&1
  wait "$rxpid" 2>/dev/null
  local txf rxf txs txc rxc
  txf=$(pb_json_num "$txo" frames); rxf=$(pb_json_num "$rxo" frames)
  txs=$(pb_json_num "$txo" seconds)
  txc=$(pb_json_num "$txo" cpu_ns_per_pkt); rxc=$(pb_json_num "$rxo" cpu_ns_per_pkt)
  if [ -z "$txf" ] || [ -z "$rxf" ] || [ "${rxf:-0}" = 0 ]; then
    pb_log "pktgen $itx->$irx ${size}B failed: $(cat "$txo" "$rxo" 2>/dev/null | tr '\n' ' ')"
    echo "n/a n/a n/a n/a ${txf:-0} ${rxf:-0}"; return 1
  fi
  echo "$(pb_calc "$rxf / $txs / 1e6") $(pb_calc "$rxf * $size * 8 / $txs / 1e9")" \
    "$(pb_calc "100 * ($txf - $rxf) / $txf")" \
    "$(pb_calc "($txc * $txf + $rxc * $rxf) / $rxf")" "$txf" "$rxf"
}

# pb_iperf NS_CLIENT NS_SERVER SERVER_IP STREAMS SECS
# iperf3 server pinned on PB_CPU_RX, client on PB_CPU_TX. Prints
# "gbps retransmits".
pb_iperf() {
  local nc=$1 ns=$2 ip=$3 p=$4 secs=$5 spid out port=$((5201 + RANDOM % 1000))
  out="$PB_TMP/iperf.$BASHPID.json"
  taskset -c "$PB_CPU_RX" ip netns exec "$ns" iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
  spid=$!
  pb_cleanup_add "pb_kill $spid"
  local i
  for i in $(seq 1 40); do
    ip netns exec "$ns" ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && break
    sleep 0.05
  done
  taskset -c "$PB_CPU_TX" ip netns exec "$nc" iperf3 -c "$ip" -p "$port" -P "$p" -t "$secs" \
    -O 1 -J >"$out" 2>&1
  pb_kill "$spid"; wait "$spid" 2>/dev/null
  local bps rtx
  bps=$(awk '/"sum_received"/ { f = 1 } f && /"bits_per_second"/ { gsub(/[,]/, ""); print $2; exit }' "$out")
  rtx=$(awk '/"sum_sent"/ { f = 1 } f && /"retransmits"/ { gsub(/[,]/, ""); print $2; exit }' "$out")
  if [ -z "$bps" ]; then
    pb_log "iperf3 -P $p to $ip failed: $(grep -m1 error "$out")"; echo "n/a n/a"; return 1
  fi
  echo "$(pb_calc "$bps / 1e9") ${rtx:-0}"
}

# pb_rr NS_A IP_B COUNT: request/response latency with ping -i 0.001 from
# NS_A (pinned on PB_CPU_TX). Prints "p50 p99 p99.9" in microseconds (ping
# prints RTTs to 1 us).
pb_rr() {
  local na=$1 ip=$2 count=$3 out="$PB_TMP/rr.$BASHPID.txt"
  taskset -c "$PB_CPU_TX" ip netns exec "$na" ping -n -i 0.001 -c "$count" -W 1 "$ip" 2>/dev/null |
    sed -n 's/.* time=\([0-9.]*\) ms.*/\1/p' | awk '{ print $1 * 1000 }' >"$out"
  if [ ! -s "$out" ]; then echo "n/a n/a n/a"; return 1; fi
  # Drop the first 10 replies (ARP, cold caches).
  tail -n +11 "$out" >"$out.w"; [ -s "$out.w" ] || cp "$out" "$out.w"
  echo "$(pb_pct 50 "$out.w") $(pb_pct 99 "$out.w") $(pb_pct 99.9 "$out.w")"
}
