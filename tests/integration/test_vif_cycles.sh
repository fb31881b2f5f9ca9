#!/usr/bin/env bash
# 50 create/destroy cycles of a guest with a vif, connected (both ends state 4) each
# time: pvnetd's open fds must come back to the same count and its RSS must not grow
# (more than 2 MiB: allocator noise) -- grants unmapped, ports closed, eventfds closed.
. "$(dirname "$0")/lib.sh"
pv_init vif_cycles
pv_need nsenter xenstore-read

ID=$(printf '%x' $(( $$ % 65536 )))
G=vc$ID
pv_cfg "$G" "bridge=br$ID, ip=10.91.0.1/24"
gone() { [ -z "$(domid "$G")" ]; }

cycle() {
  pvnet create "$PV_TMP/$G.cfg" >/dev/null && wait_for 10 connected --store "$G" &&
    pvnet destroy "$G" >/dev/null && wait_for 10 gone
}

if pv_start; then ok "pvnetd starts"; else not_ok "pvnetd starts"; pv_done; exit 1; fi
# warm-up: pools, the bridge and first-use allocations exist afterwards
for i in 1 2 3; do cycle || break; done
f0=$(nfds); r0=$(rss_kb)
fails=0
for i in $(seq 1 50); do cycle || fails=$((fails + 1)); done
f1=$(nfds); r1=$(rss_kb)
diag "50 cycles: fds $f0 -> $f1, RSS $r0 -> $r1 KiB, $fails failed"
check "50 create/connect/destroy cycles" [ "$fails" = 0 ]
check "open fds unchanged ($f0 -> $f1)" [ "$f1" -le "$f0" ]
check "RSS grew < 2 MiB ($r0 -> $r1 KiB)" [ $((r1 - r0)) -lt 2048 ]
check "pvnetd alive" kill -0 "$PV_PID"
pv_done
