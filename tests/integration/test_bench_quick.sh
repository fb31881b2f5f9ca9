#!/usr/bin/env bash
# Smoke test: `perf/bench.sh --quick` runs, its table and JSON are
# well formed, the peers moved packets, nothing is left behind. Checks counts
# and structure, never speed. Also pvnet-pktgen's exact frame accounting on a
# veth pair at a paced rate.
. "$(dirname "$0")/lib.sh"
pv_init bench_quick
pv_need iperf3 ping taskset jq
jqq() { jq -e "$@" >/dev/null; }
[ -x "$PV_BIN/pvnet-pktgen" ] || { not_ok "pvnet-pktgen built"; pv_done; exit 1; }

# 1. pvnet-pktgen: 10000 paced frames over a veth pair, every one counted.
A="$PV_NS-a"; B="$PV_NS-b"
ip netns add "$A" && pv_cleanup_add "ip netns del '$A'"
ip netns add "$B" && pv_cleanup_add "ip netns del '$B'"
ip -n "$A" link add va type veth peer name vb netns "$B"
ip -n "$A" link set va up; ip -n "$B" link set vb up
mac=$(ip netns exec "$B" cat /sys/class/net/vb/address)
# an 8192-frame RX ring holds 400 ms of this rate: the receiver may be off the
# CPU that long on a loaded machine without a frame lost
ip netns exec "$B" "$PV_BIN/pvnet-pktgen" rx vb --seconds 10 --idle-ms 300 --ring 8192 --json >"$PV_TMP/rx.json" &
rxpid=$!
pv_cleanup_add "kill $rxpid"
sleep 0.3
ip netns exec "$A" "$PV_BIN/pvnet-pktgen" tx va --size 200 --rate 20000 --seconds 0.5 \
  --dst-mac "$mac" --json >"$PV_TMP/tx.json"
wait "$rxpid"
txf=$(jq .frames "$PV_TMP/tx.json"); rxf=$(jq .frames "$PV_TMP/rx.json")
diag "pktgen tx $(cat "$PV_TMP/tx.json")"
diag "pktgen rx $(cat "$PV_TMP/rx.json")"
check "pktgen tx paced: about 10000 frames at 20 kpps for 0.5 s (got $txf)" \
  bash -c "[ '${txf:-0}' -ge 9000 ] && [ '${txf:-0}' -le 10100 ]"
check "pktgen rx counted every frame ($rxf of $txf)" [ "${rxf:-x}" = "${txf:-y}" ]
check "pktgen rx: no sequence loss, latency measured" \
  jqq '.lost == 0 and .late == 0 and .lat_p50_ns > 0 and .lat_p999_ns >= .lat_p50_ns' "$PV_TMP/rx.json"

# 2. perf/bench.sh --quick
start=$(date +%s)
# run in the background to know its PID: the bench names its namespaces pvb-<pid>-*
"$PV_ROOT/perf/bench.sh" --quick --results "$PV_TMP/results" \
  --json "$PV_TMP/bench.json" >"$PV_TMP/bench.out" 2>"$PV_TMP/bench.err" &
bpid=$!
pv_cleanup_add "kill -TERM $bpid"
( sleep 110; kill -TERM "$bpid" 2>/dev/null ) &
killer=$!
wait "$bpid"
rc=$?
kill "$killer" 2>/dev/null
secs=$(( $(date +%s) - start ))
sed 's/^/# /' "$PV_TMP/bench.out"
check "bench --quick exits 0 (rc $rc) in under 2 minutes (${secs}s)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || sed 's/^/# err: /' "$PV_TMP/bench.err" | tail -20
check "one header line naming cores, placement, batch, ring, commit" \
  bash -c "head -1 '$PV_TMP/bench.out' | grep -q 'cores=.*placement=.*batch=.*ring=.*commit='"
check "JSON is well formed: a list of rows" jqq 'type == "array" and length > 10' "$PV_TMP/bench.json"
check "every row has scenario, size, metric, unit, value, peer, peer_value, ratio" \
  jqq 'all(.[]; (keys | sort) == ["metric","peer","peer_value","ratio","scenario","size","unit","value"])' \
  "$PV_TMP/bench.json"
check "ratios are value / peer_value where both are known" \
  jqq 'all(.[] | select(.ratio != null); ((.ratio - .value / .peer_value) | fabs) < 0.001 * (.ratio | fabs) + 0.0001)' \
  "$PV_TMP/bench.json"
# counts, not speed: on a loaded machine the kernel peer loses half its 64 B frames
check "the bridge peer moved 64 B frames (rate > 0, loss < 100%)" \
  jqq '(.[] | select(.scenario == "bridge.pktgen" and .size == 64 and .metric == "rate") | .value > 0) and
         (.[] | select(.scenario == "bridge.pktgen" and .size == 64 and .metric == "loss") | .value < 100)' \
  "$PV_TMP/bench.json"
check "the bridge peer carried TCP and ping" \
  jqq '(.[] | select(.scenario == "bridge.tcp.P1" and .metric == "throughput") | .value > 0) and
         (.[] | select(.scenario == "bridge.rr" and .metric == "p50") | .value > 0)' "$PV_TMP/bench.json"
if command -v dpdk-testpmd >/dev/null 2>&1; then
  check "the memif peer moved frames" \
    jqq '.[] | select(.scenario == "memif.testpmd" and .metric == "rate") | .value > 0' "$PV_TMP/bench.json"
else
  skip "the memif peer moved frames" "needs dpdk-testpmd (dpdk-dev)"
fi
check "the bridge peer made short TCP connections (bridge.crr: connections/s > 0)" \
  jqq '.[] | select(.scenario == "bridge.crr" and .metric == "rate") | .value > 0' "$PV_TMP/bench.json"
check "crr rows are there with the bridge as their peer" \
  jqq '[.[] | select(.scenario == "crr" and .metric == "rate" and .peer == "bridge.crr")] | length == 1' \
  "$PV_TMP/bench.json"
check "pvnet rows are numbers or n/a (PV NIC not ready), never empty" \
  bash -c "grep -E '^(pv2pv|tcp|rr|crr|scale)' '$PV_TMP/bench.out' | awk '{ if (\$0 !~ /PV NIC not ready/ && \$0 !~ / [0-9.]+(e[-+][0-9]+)? /) bad = 1 } END { exit bad }'"
check "results JSON written" bash -c "ls '$PV_TMP'/results/*-quick.json >/dev/null"
if command -v gnuplot >/dev/null 2>&1; then
  check "PNG chart written" bash -c "file '$PV_TMP'/results/*-quick.png | grep -q PNG"
fi
after=$(ip netns list | grep -c "^pvb-$bpid-" || true)
check "no bench namespaces left behind ($after of run $bpid)" [ "$after" = 0 ]

# 3. SIGTERM in the middle of a run: the bench stops within seconds and leaves
# no namespace and none of the processes it started (pvnetd, guests, tools).
# pv_descendants PID: PID's descendants, one a line
pv_descendants() {
  local c
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do echo "$c"; pv_descendants "$c"; done
}
"$PV_ROOT/perf/bench.sh" --quick --results "$PV_TMP/results2" >"$PV_TMP/bench2.out" 2>"$PV_TMP/bench2.err" &
bpid=$!
pv_cleanup_add "kill -TERM $bpid"
for i in $(seq 1 300); do  # until pvnetd's guest 2 is up (its namespace exists), at most 30 s
  ip netns list | grep -q "^pvb-$bpid-g2" && break
  sleep 0.1
done
kids=$(pv_descendants "$bpid" | sort -u | tr '\n' ' ')
diag "bench $bpid before SIGTERM: namespaces $(ip netns list | grep -c "^pvb-$bpid-"), descendants: $kids"
kill -TERM "$bpid"
t0=$(date +%s)
wait "$bpid"
rc=$?
took=$(( $(date +%s) - t0 ))
check "bench exits on SIGTERM (rc $rc) within 30 s (${took}s)" bash -c "[ '$rc' != 0 ] && [ '$took' -le 30 ]"
after=$(ip netns list | grep -c "^pvb-$bpid-" || true)
check "SIGTERM mid-run: no bench namespaces left ($after)" [ "$after" = 0 ]
left=""
for k in $kids; do kill -0 "$k" 2>/dev/null && left="$left $k($(tr '\0' ' ' </proc/"$k"/cmdline 2>/dev/null | cut -c1-60))"; done
check "SIGTERM mid-run: none of its processes left (was: ${kids:-none})${left:+, left:$left}" \
  bash -c "[ -n '$kids' ] && [ -z '$left' ]"
pv_done
