#!/usr/bin/env bash
# pvnet's command table (include/pvnet/ctl_commands.h): help without a daemon,
# the docs made from it, and the rules its flags carry in pvnetd (privileged
# commands, read commands answered to anyone who reaches the socket).
. "$(dirname "$0")/lib.sh"
pv_init cli
pv_need python3 setpriv

P="$PV_BIN/pvnet"
TABLE=$("$P" --dump-commands)
rows=$(awk -F'\t' '{ print $1 ($2 == "-" ? "" : " " $2) }' <<<"$TABLE")

# ---- without pvnetd --------------------------------------------------------------
nodaemon="$PV_TMP/nothing-here"
help=$("$P" --run-dir "$nodaemon" help 2>&1)
rc=$?
miss=$(while read -r r; do grep -qE "^  $r( |\$)" <<<"$help" || echo "$r"; done <<<"$rows" | tr '\n' ' ')
check "pvnet help answers without pvnetd and lists all $(wc -l <<<"$rows") rows of the table${miss:+ (missing: $miss)}" \
  test "$rc" = 0 -a -z "$miss"
check "pvnet --help prints the same list" test "$("$P" --run-dir "$nodaemon" --help 2>&1)" = "$help"
out=$("$P" --run-dir "$nodaemon" info 2>&1)
check "while pvnet info without pvnetd fails (exit 1, 'is pvnetd running')" \
  bash -c "! '$P' --run-dir '$nodaemon' info >/dev/null 2>&1 && grep -q 'is pvnetd running' <<<'$out'"
one=$("$P" --run-dir "$nodaemon" help switch add-port)
one_row() {
  [ "$(grep -c '^  [a-z]' <<<"$one")" = 1 ] && grep -q '^  switch add-port BRIDGE IFNAME' <<<"$one" &&
    grep -q -- '--mem-max' <<<"$one"
}
check "pvnet help switch add-port: that row alone, its continuation lines too" one_row
check "pvnet help nic: its three rows" test "$("$P" help nic | grep -c '^  nic ')" = 3
"$P" help frobnicate >/dev/null 2>"$PV_TMP/err"
rc=$?
check "pvnet help of no command: exit 2, says so" \
  bash -c "[ $rc = 2 ] && grep -q \"no command 'frobnicate'\" '$PV_TMP/err'"

# ---- the docs made from the table ------------------------------------------------
out=$(PVNET_BUILD="$PV_BUILD" python3 "$PV_ROOT/scripts/cli-docs.py" --check 2>&1)
check "man pvnet(1)'s synopsis and the bash completion are those of the table${out:+ ($out)}" \
  test -z "$out"
# negative control: a table with one more row is drift
printf '#!/bin/sh\n"%s" "$@"; [ "$1" = --dump-commands ] && printf "frob\\t-\\tdaemon\\t[--x]\\tnew\\n"\n' "$P" >"$PV_TMP/pvnet-plus"
chmod +x "$PV_TMP/pvnet-plus"
out=$(python3 "$PV_ROOT/scripts/cli-docs.py" --pvnet "$PV_TMP/pvnet-plus" --check 2>&1)
rc=$?
drift() { [ "$rc" = 1 ] && grep -q '^+.*frob' <<<"$out"; }
check "a command added to the table and not to the docs fails the check" drift
comp() { (PATH="$PV_BIN:$PATH"; . "$PV_ROOT/packaging/pvnet.bash-completion"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _pvnet; echo "${COMPREPLY[*]}"); }
completes() {
  [ "$(comp pvnet nic '')" = 'add list del' ] && [ "$(comp pvnet ethtool -)" = '-k -S' ] &&
    [ "$(comp pvnet stats --f)" = '--format=prometheus' ] && [ "$(comp pvnet help sw)" = switch ] &&
    [ "$(comp pvnet help switch add-p)" = add-port ]
}
check "completion from the table: subcommands of nic, options of ethtool and stats, help's words" completes

# ---- pvnetd dispatches by the table ----------------------------------------------
if ! pv_start; then
  not_ok "pvnetd starts"
  pv_done; exit
fi
# privileged rows: a client of another uid (the socket opened to it for the test)
# is refused them, but answered read commands (first: refusals are logged rate-limited)
chmod 0711 "$PV_TMP" "$PV_RUN"
chmod 0666 "$PV_RUN/pvnetd.sock"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$P" --run-dir "$PV_RUN" "$@"; }
as_nobody switch add-br clipriv >/dev/null 2>"$PV_TMP/err"
rc=$?
check "uid 65534: switch add-br refused (exit 1, says who may)" \
  bash -c "[ $rc = 1 ] && grep -q 'root or uid 0 only' '$PV_TMP/err'"
check "  and the bridge was not made" bash -c "! '$P' --run-dir '$PV_RUN' switch list-br | grep -qx clipriv"
check "  the refusal is in pvnetd's log with the uid" \
  wait_for 2 grep -q 'uid 65534: switch add-br clipriv: refused (exit 1)' "$PV_TMP/pvnetd.log"
# the bridge made by root below is not there yet: list-br --json is an empty array
reads_answered() {
  as_nobody list | grep -q '^Domain-0' && [ "$(as_nobody switch list-br --json | jget --len .)" = 0 ]
}
check "uid 65534: pvnet list and switch list-br --json are answered" reads_answered
as_nobody log-level debug >/dev/null 2>&1
rc=$?
bare_log_level() { [ "$rc" = 1 ] && as_nobody log-level | grep -q .; }
check "  log-level LEVEL is refused to it (exit $rc), bare log-level (the thresholds) is not" bare_log_level
check "root: switch add-br clipriv works" bash -c "pvnet() { '$P' --run-dir '$PV_RUN' \"\$@\"; };
  pvnet switch add-br clipriv >/dev/null && pvnet switch list-br | grep -qx clipriv"
chmod 0600 "$PV_RUN/pvnetd.sock"

out=$(pvnet frobnicate 2>&1)
rc=$?
unknown_cmd() { [ "$rc" = 2 ] && grep -q "unknown command 'frobnicate'" <<<"$out"; }
check "an unknown command: exit 2, 'unknown command'" unknown_cmd
# every row pvnetd answers is known to it: no 'unknown command' for any
unknown=$(while IFS=$'\t' read -r name sub flags _; do
  case ",$flags," in *,daemon,*) ;; *) continue ;; esac
  [ "$name" = top ] || [ "$name" = xenstore-ls ] && continue # pvnet's own
  args=("$name"); [ "$sub" != - ] && args+=("$sub")
  [ "$name $sub" = "switch help" ] && continue
  timeout 5 "$P" --run-dir "$PV_RUN" "${args[@]}" </dev/null 2>&1 | grep -q 'unknown command' && echo "${args[*]}"
done <<<"$TABLE" | tr '\n' ' ')
check "pvnetd knows every daemon row of the table${unknown:+ (unknown: $unknown)}" test -z "$unknown"

pv_done
