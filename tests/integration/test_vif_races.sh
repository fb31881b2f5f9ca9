#!/usr/bin/env bash
# Vif teardown racing the netback workers that serve its queues. pvnetd runs 2
# workers; every vif has 2 queues (one on each worker), and flood pings keep both
# directions of the vifs being torn down busy while, interleaved:
#   - guest A's hot-plugged vif 1 is detached (frontend Closing, backend dir
#     removed) and attached again (network-detach / network-attach);
#   - guest C is destroyed and created again (its rings unmapped under traffic);
#   - pvnetd is stopped with SIGTERM and started again (the guests are re-adopted
#     and reconnect).
# Afterwards: pvnetd (the last one started) is alive and printed no sanitizer or
# crash report (run it from an ASan build with PVNET_BUILD=build-asan), every
# guest pings every other on each of its vifs, `pvnet list` answers within 1 s,
# and a guest created afterwards connects. Bounded: ~35 s with every step polled
# under a timeout. VIF_RACES_ROUNDS (default 4) sets the rounds.
. "$(dirname "$0")/lib.sh"
pv_init vif_races
pv_need ping nsenter xenstore-read timeout

ID=$(printf '%x' $(( $$ % 4096 )))
A=vra$ID; B=vrb$ID; C=vrc$ID; D=vrd$ID
BR=vrbr$ID
ROUNDS=${VIF_RACES_ROUNDS:-4}
ERR="$PV_TMP/pvnetd.stderr"
q() { "$@" >/dev/null 2>&1; }
pvc() { timeout 10 "$PV_BIN/pvnet" --run-dir "$PV_RUN" "$@"; } # bounded, usable under timeout

mkcfg() { # NAME VIFSPEC...
  local name=$1; shift
  pv_cfg "$name" "$@"
}
pings() { in_guest "$1" ping -q -c1 -W1 "$2" >/dev/null 2>&1; }
# flood FROM TO SECS: a bounded flood ping in the background (its end is not checked:
# the peer is being torn down on purpose)
FLOODS=()
flood() { in_guest "$1" timeout $(($3 + 2)) ping -q -f -w "$3" -s 200 "$2" >/dev/null 2>&1 & FLOODS+=($!); }
start() { pv_start --workers 2 --guest-bin "$PV_BIN/pvnet-guest" 2>>"$ERR"; }
# stops the current pvnetd with SIGTERM (guests keep running) and waits for it
stop() {
  local pid=$PV_PID i
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }; sleep 0.05; done
  return 1
}
crashed() { grep -qE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|Segmentation fault|SEGV' "$ERR" 2>/dev/null; }
vif1_up() { connected "$A" 1; }

mkcfg "$A" "bridge=$BR, ip=10.95.0.1/24, queues=2"
mkcfg "$B" "bridge=$BR, ip=10.95.0.2/24, queues=2" "bridge=$BR, ip=10.96.0.2/24, queues=2"
mkcfg "$C" "bridge=$BR, ip=10.95.0.3/24, queues=2"
mkcfg "$D" "bridge=$BR, ip=10.95.0.4/24, queues=2"

if start; then ok "pvnetd starts with 2 workers"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
q pvnet create "$PV_TMP/$A.cfg"; q pvnet create "$PV_TMP/$B.cfg"; q pvnet create "$PV_TMP/$C.cfg"
q pvnet network-attach "$A" "bridge=$BR, ip=10.96.0.1/24, queues=2, devid=1"
if wait_for 20 connected "$A" && wait_for 20 connected "$B" && wait_for 20 connected "$B" 1 &&
   wait_for 20 connected "$C" && wait_for 20 vif1_up && wait_for 10 pings "$B" 10.96.0.1 &&
   wait_for 10 pings "$A" 10.95.0.3; then
  ok "guests A, B, C connected (2-queue vifs) and pinging"
else
  not_ok "guests A, B, C connected and pinging"; pv_done; exit 1
fi

t0=$(date +%s)
detaches=0; recreates=0; restarts=0; steps_failed=0
for r in $(seq 1 "$ROUNDS"); do
  # traffic on everything that is about to go away, both directions
  flood "$B" 10.96.0.1 3; flood "$A" 10.95.0.3 3; flood "$C" 10.95.0.2 3
  sleep 0.3
  # hot-unplug A's vif 1 under traffic, then plug it back
  if q pvc network-detach "$A" 1; then detaches=$((detaches + 1)); else steps_failed=$((steps_failed + 1)); fi
  q pvnet network-attach "$A" "bridge=$BR, ip=10.96.0.1/24, queues=2, devid=1"
  # destroy C under traffic, create it again
  if q pvc destroy "$C" && wait_for 10 eval '[ -z "$(domid "$C")" ]'; then
    recreates=$((recreates + 1))
  else
    steps_failed=$((steps_failed + 1))
  fi
  q pvnet create "$PV_TMP/$C.cfg"
  wait_for 15 vif1_up || steps_failed=$((steps_failed + 1))
  wait_for 15 connected "$C" || steps_failed=$((steps_failed + 1))
  # every other round: pvnetd restarts (SIGTERM) while the rings are busy
  if [ $((r % 2)) = 0 ]; then
    flood "$B" 10.96.0.1 2; flood "$A" 10.95.0.2 2
    sleep 0.3
    if stop && start; then restarts=$((restarts + 1)); else steps_failed=$((steps_failed + 1)); break; fi
  fi
  crashed && break
done
wait "${FLOODS[@]}" 2>/dev/null # the floods (bounded by their -w and timeout)
diag "$ROUNDS rounds in $(($(date +%s) - t0)) s: $detaches detaches, $recreates destroy/create, $restarts restarts, $steps_failed steps failed"

if kill -0 "$PV_PID" 2>/dev/null; then ok "pvnetd alive after the races"; else not_ok "pvnetd alive after the races"; fi
if crashed; then
  not_ok "no sanitizer or crash report"
  grep -m1 -A40 -E 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|SEGV|Segmentation' "$ERR" | sed 's/^/# /'
else
  ok "no sanitizer or crash report"
fi
check "every step answered ($steps_failed failed)" [ "$steps_failed" = 0 ]
check "A, B, C connected afterwards" eval 'wait_for 15 connected "$A" && wait_for 15 connected "$B" && wait_for 15 connected "$C" && wait_for 15 vif1_up'
check "A pings B and C" eval 'wait_for 10 pings "$A" 10.95.0.2 && wait_for 10 pings "$A" 10.95.0.3'
check "B pings A on both vifs" eval 'wait_for 10 pings "$B" 10.95.0.1 && wait_for 10 pings "$B" 10.96.0.1'
check "C pings B" wait_for 10 pings "$C" 10.95.0.2
t1=$(date +%s%N)
check "pvnet list answers within 1 s" q timeout 1 "$PV_BIN/pvnet" --run-dir "$PV_RUN" list
diag "pvnet list took $(( ($(date +%s%N) - t1) / 1000000 )) ms"
q pvnet create "$PV_TMP/$D.cfg"
check "a new guest connects and pings A" eval 'wait_for 15 connected "$D" && wait_for 10 pings "$D" 10.95.0.1'
pv_done
