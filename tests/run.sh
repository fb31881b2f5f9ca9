#!/usr/bin/env bash
# Runs pvnet's tests and counts every test case.
#   tests/run.sh unit BUILD         cmocka binaries in BUILD/tests
#   tests/run.sh integration BUILD  tests/integration/test_*.sh against BUILD/bin
#   tests/run.sh fuzz DIR           libFuzzer targets in DIR, FUZZ_SECONDS each
#   tests/run.sh check              all of it: unit (build), unit (build-asan),
#                                   integration (build), fuzz (build-fuzz)
# Every runner speaks TAP: "ok N - name", "not ok N - name", "ok N - name # SKIP why".
# Prints one final line "N passed, N failed, N skipped"; exits 1 on any failure.
set -u
cd "$(dirname "$0")/.."

PASS=0; FAIL=0; SKIP=0
LOGDIR=${PVNET_TEST_LOGS:-build/test-logs}
mkdir -p "$LOGDIR"

# count SUITE LOGFILE RC: tallies TAP lines of one runner's output.
count() {
  local suite=$1 log=$2 rc=$3 p=0 f=0 s=0
  p=$(grep -cE '^ok [0-9]*' "$log" | head -1); s=$(grep -cE '^ok .*# (SKIP|skip)' "$log")
  f=$(grep -cE '^not ok' "$log")
  p=$((p - s))
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
    echo "not ok - $suite exited with status $rc (see $log)"
    f=1
  fi
  PASS=$((PASS + p)); FAIL=$((FAIL + f)); SKIP=$((SKIP + s))
  printf '# %-40s %3d passed, %d failed, %d skipped\n' "$suite" "$p" "$f" "$s"
}

run_unit() {
  local build=$1 t name log rc
  for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    name="unit[$build]/$(basename "$t")"
    log="$LOGDIR/$(echo "$name" | tr '/[]' '___').log"
    CMOCKA_MESSAGE_OUTPUT=TAP ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      timeout 300 "$t" >"$log" 2>&1
    rc=$?
    grep -E '^(not )?ok ' "$log" | sed "s|^|  |" | grep -E 'not ok|SKIP' || true
    if [ "$rc" != 0 ]; then
      # the assertion that failed first (a sanitizer report after it can be long)
      grep -iE -m 20 'error|failure|runtime error|SUMMARY' "$log" | sed 's/^/  ! /'
      tail -n 20 "$log" | sed 's/^/  | /'
    fi
    count "$name" "$log" "$rc"
  done
}

run_integration() {
  local build=$1 t name log rc
  for t in tests/integration/test_*.sh; do
    [ -f "$t" ] || continue
    name="integration/$(basename "$t" .sh)"
    log="$LOGDIR/$(echo "$name" | tr '/' '_').log"
    PVNET_BUILD=$build timeout --kill-after=10 900 bash "$t" >"$log" 2>&1
    rc=$?
    grep -E '^(not )?ok ' "$log" | sed "s|^|  |"
    if [ "$rc" != 0 ]; then tail -n 30 "$log" | sed 's/^/  | /'; fi
    count "$name" "$log" "$rc"
  done
}

run_fuzz() {
  local dir=$1 t name log rc secs=${FUZZ_SECONDS:-30}
  for t in "$dir"/fuzz_*; do
    [ -x "$t" ] || continue
    name="fuzz/$(basename "$t")"
    log="$LOGDIR/$(echo "$name" | tr '/' '_').log"
    corpus="tests/fuzz/corpus/$(basename "$t")"
    mkdir -p "$dir/artifacts"
    # new inputs go to a scratch corpus; the committed seeds are only read
    work="$dir/corpus/$(basename "$t")"
    mkdir -p "$work"
    seeds=()
    [ -d "$corpus" ] && seeds=("$corpus")
    timeout $((secs + 120)) "$t" -max_total_time="$secs" -rss_limit_mb=2048 \
      -artifact_prefix="$dir/artifacts/" "$work" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    if [ "$rc" = 0 ]; then
      echo "ok - $name $(grep -oE '#[0-9]+ +DONE.*' "$log" | head -1)" >>"$log"
    else
      echo "not ok - $name crashed (artifact in $dir/artifacts)" >>"$log"
      tail -n 30 "$log" | sed 's/^/  | /'
    fi
    count "$name" "$log" 0
  done
}

case "${1:-check}" in
  unit) run_unit "${2:-build}" ;;
  integration) run_integration "${2:-build}" ;;
  fuzz) run_fuzz "${2:-build-fuzz}" ;;
  check)
    run_unit build
    run_unit build-asan
    run_integration build
    run_fuzz build-fuzz
    ;;
  *) echo "usage: $0 unit|integration|fuzz|check [BUILD]" >&2; exit 2 ;;
esac

echo "$PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" = 0 ]
