#!/usr/bin/env bash
# netback side: guest TX rate limiting with Xen's credit semantics.
# A guest with rate=10/100/1000 Mb/s sends iperf3 TCP to an unlimited guest for 4 s;
# the receiver's figure must be within 5% of the limit (the credit counts whole
# Ethernet frames, iperf3 counts TCP payload: the headers are in the 5%). Then a
# live change with `pvnet vif-set-rate` shows in the iperf3 0.5 s intervals within
# one second, and `off` removes the limit.
. "$(dirname "$0")/lib.sh"
pv_init ratelimit
pv_need iperf3 ping nsenter python3 xenstore-read

ID=$(printf '%x' $(( $$ % 65536 )))

# mkcfg NAME IP4 [RATE]
mkcfg() { pv_cfg "$1" "bridge=br$ID, ip=$2/24${3:+, rate=$3}"; }



# iperf_json SRV SRV_IP CLI SECS [ARGS...]: iperf3 -J output of the client
iperf_json() {
  local srv=$1 ip=$2 cli=$3 secs=$4 spid out; shift 4
  ip netns exec "$srv" iperf3 -s -1 -B "$ip" >/dev/null 2>&1 &
  spid=$!
  pv_cleanup_add "kill $spid 2>/dev/null"
  wait_for 5 bash -c "ip netns exec '$srv' ss -ltn 2>/dev/null | grep -q ':5201 '" || return 1
  out=$(ip netns exec "$cli" timeout $((secs + 20)) iperf3 -c "$ip" -t "$secs" -J "$@" 2>&1) || {
    echo "$out" | tail -n 5 | sed 's/^/# /' >&2; kill "$spid" 2>/dev/null; return 1; }
  wait "$spid" 2>/dev/null
  echo "$out"
}

# within M T [PCT]: M is within PCT % (5) of T
within() { near "$1" "$2" "$(awk -v t="$2" -v p="${3:-5}" 'BEGIN { print t * p / 100 }')"; }
within10() { within "$1" "$2" 10; }
# mbps, retr: the receiver's Mb/s and the sender's retransmits of iperf3 -J on stdin
mbps() { local b; b=$(jget end.sum_received.bits_per_second) && awk -v b="$b" 'BEGIN { printf "%.2f\n", b / 1e6 }'; }
retr() { jget end.sum_sent.retransmits || echo "?"; }

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi

R=rl${ID}r   # receiver, unlimited
mkcfg "$R" 10.81.0.1
pvnet create "$PV_TMP/$R.cfg" >/dev/null
check "receiver connected" wait_for 10 connected "$R"

n=0
for rate in 10 100 1000; do
  n=$((n + 1))
  S=rl${ID}s$n
  mkcfg "$S" 10.81.0.$((n + 1)) "${rate}Mb/s@50ms"
  pvnet create "$PV_TMP/$S.cfg" >/dev/null
  if ! wait_for 10 connected "$S"; then not_ok "sender at $rate Mb/s connected"; continue; fi
  id=$(domid "$S")
  diag "rate node of $S: $(xenstore-read /local/domain/0/backend/vif/$id/0/rate 2>/dev/null)"
  wait_for 5 ip netns exec "$S" ping -c1 -W1 10.81.0.1 >/dev/null
  # -O 1: TCP's slow start (and the losses when it first meets the limit) is not
  # the limiter's rate; the 4 s measured follow it. A limiter can only hold a
  # sender back: on a loaded machine the sender or the receiver may be off the CPU
  # for whole credit windows, so a run BELOW the limit is measured again (at most
  # 3 runs); a run above it fails at once.
  m=""
  for try in 1 2 3; do
    if out=$(iperf_json "$R" 10.81.0.1 "$S" 4 -O 1) && m=$(mbps <<<"$out"); then
      diag "iperf3 -t 4 -O 1 limited to $rate Mb/s (run $try): $m Mb/s, $(retr <<<"$out") retransmits"
      within "$m" "$rate" && break
      num "$m" '<' "$rate" || break
    else
      m=""
      break
    fi
  done
  if [ -n "$m" ]; then
    check "iperf3 at rate=${rate}Mb/s measures within 5% ($m Mb/s)" within "$m" "$rate"
  else
    not_ok "iperf3 at rate=${rate}Mb/s"
  fi
  # keep the 100 Mb/s guest for the live change
  [ "$rate" = 100 ] && LIVE=$S || pvnet destroy "$S" >/dev/null
done

# Live change: 100 Mb/s, then vif-set-rate to 20 Mb/s after ~2 s. The 0.5 s
# intervals starting one second after the change must be within 5% of 20 Mb/s.
# As above, a run whose late intervals fall BELOW 20 Mb/s is repeated (at most 3
# runs, the rate set back to 100 Mb/s first); one above fails at once.
if [ -n "${LIVE:-}" ]; then
  id=$(domid "$LIVE")
  for try in 1 2 3; do
    pvnet vif-set-rate "vif$id.0" 100Mb/s@50ms
    ( sleep 2; pvnet vif-set-rate "vif$id.0" 20Mb/s@50ms ) &
    cpid=$!
    pv_cleanup_add "kill $cpid 2>/dev/null"
    if out=$(iperf_json "$R" 10.81.0.1 "$LIVE" 5 -i 0.5); then
      wait "$cpid"
      # intervals fully after t=3.0 s (the change happened at ~2 s, plus 1 s)
      # "late before": mean Mb/s of those intervals, and of the intervals before the
      # change, skipping the first 0.5 s (slow start and the socket buffer filling, as -O 1 does)
      late=$(paste <(jget 'intervals.*.sum.start' <<<"$out") <(jget 'intervals.*.sum.end' <<<"$out") \
        <(jget 'intervals.*.sum.bits_per_second' <<<"$out") |
        awk '$1 >= 3.0 - 1e-6 { v += $3 / 1e6; nv++ } $1 >= 0.5 - 1e-6 && $2 <= 2.0 + 1e-6 { e += $3 / 1e6; ne++ }
          END { if (nv && ne) printf "%.2f %.2f\n", v / nv, e / ne }')
      diag "live change 100 -> 20 Mb/s (run $try): before $(echo $late | cut -d' ' -f2) Mb/s, from 1 s after: $(echo $late | cut -d' ' -f1) Mb/s"
      if [ "$try" -lt 3 ] && ! within "$(echo $late | cut -d' ' -f1)" 20 &&
        num "$(echo $late | cut -d' ' -f1)" '<' 20; then
        continue
      fi
      check "vif-set-rate 20Mb/s takes effect within 1 s" within "$(echo $late | cut -d' ' -f1)" 20
      # a sanity check that the limit held before the change: 0.5 s sender-side
      # intervals quantised by 64 KiB segments, so +-10% (the +-5% accuracy is
      # asserted above on 4 s runs)
      check "before the change the rate was 100 Mb/s (+-10%)" within10 "$(echo $late | cut -d' ' -f2)" 100
    else
      wait "$cpid" 2>/dev/null
      not_ok "iperf3 during vif-set-rate"
    fi
    break
  done
  check "rate node rewritten by vif-set-rate" [ "$(xenstore-read /local/domain/0/backend/vif/$id/0/rate 2>/dev/null)" = "125000,50000" ]
  pvnet vif-set-rate "vif$id.0" off
  check "vif-set-rate off removes the node" bash -c "! xenstore-read /local/domain/0/backend/vif/$id/0/rate >/dev/null 2>&1"
  if out=$(iperf_json "$R" 10.81.0.1 "$LIVE" 2) && m=$(mbps <<<"$out"); then
    diag "after vif-set-rate off: $m Mb/s"
    check "unlimited again (> 1000 Mb/s)" num "$m" '>' 1000
  else
    not_ok "iperf3 after vif-set-rate off"
  fi
  check "bad rate refused" bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' vif-set-rate vif$id.0 fast 2>/dev/null"
  check "unknown vif refused" bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' vif-set-rate 999/0 10Mb/s 2>/dev/null"
  check "D/N form accepted" pvnet vif-set-rate "$id/0" 1Gb/s
  pvnet destroy "$LIVE" >/dev/null
fi
pvnet destroy "$R" >/dev/null
check "pvnetd alive" kill -0 "$PV_PID"
pv_done
