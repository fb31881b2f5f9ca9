#!/usr/bin/env bash
# Packaging: `make install` into a DESTDIR puts exactly the expected files there
# (binaries, plugins, man pages, unit, completion, logrotate); the man pages render
# without warnings; `make deb` builds a package with dpkg-buildpackage whose files
# are the same set under /usr; it installs with dpkg -i, the installed pvnetd finds
# its guest program and plugins in the installed paths and runs a guest, the
# systemd unit passes systemd-analyze verify, and dpkg --purge removes every file.
. "$(dirname "$0")/lib.sh"
pv_init packaging
pv_need make install man

D="$PV_TMP/root"
if make -C "$PV_ROOT" --no-print-directory -s BUILD="$PV_BUILD" DESTDIR="$D" install \
  >"$PV_TMP/install.log" 2>&1; then
  ok "make install DESTDIR=... succeeds"
else
  not_ok "make install DESTDIR=... succeeds"; sed 's/^/# /' "$PV_TMP/install.log" | tail -n 20
fi

# the files a host gets, relative to the install root (PREFIX=/usr/local here)
expected_files() {
  local p=$1 plugins
  printf '%s\n' "$p/bin/pvnet" "$p/bin/pvnet-pktgen" "$p/sbin/pvnetd" "$p/lib/pvnet/pvnet-guest" \
    "$p/share/man/man1/pvnet.1" "$p/share/man/man5/pvnet.cfg.5" "$p/share/man/man8/pvnetd.8" \
    "$p/share/bash-completion/completions/pvnet" "etc/logrotate.d/pvnet" \
    "lib/systemd/system/pvnetd.service" "$p/share/doc/pvnet/README.md" "$p/share/doc/pvnet/LICENSE"
  for plugins in "$PV_BUILD"/lib/pvnet-accel/*.so; do
    # simnic is built into pvnetd: its .so is for tests, not installed
    [ -e "$plugins" ] && [ "$(basename "$plugins")" != simnic.so ] && echo "$p/lib/pvnet/accel/$(basename "$plugins")"
  done
  for plugins in "$PV_ROOT"/examples/*.cfg; do echo "$p/share/doc/pvnet/examples/$(basename "$plugins")"; done
}
expected_files usr/local | sort >"$PV_TMP/want"
(cd "$D" && find . -type f | sed 's|^\./||' | sort) >"$PV_TMP/got"
if diff -u "$PV_TMP/want" "$PV_TMP/got" >"$PV_TMP/diff"; then
  ok "the DESTDIR install holds exactly the expected files ($(wc -l <"$PV_TMP/got"))"
else
  not_ok "the DESTDIR install holds exactly the expected files"; sed 's/^/# /' "$PV_TMP/diff"
fi
check "installed binaries are executable, the unit and man pages are not" \
  bash -c "[ -x '$D/usr/local/sbin/pvnetd' ] && [ -x '$D/usr/local/lib/pvnet/pvnet-guest' ] &&
    [ ! -x '$D/lib/systemd/system/pvnetd.service' ] && [ ! -x '$D/usr/local/share/man/man1/pvnet.1' ]"
check "the unit's ExecStart names the installed pvnetd" \
  grep -q '^ExecStart=/usr/local/sbin/pvnetd --foreground' "$D/lib/systemd/system/pvnetd.service"
manw=""
for m in "$PV_ROOT"/man/*.[0-9]; do
  w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l --warnings -E UTF-8 "$m" 2>&1 >/dev/null)
  [ -n "$w" ] && manw="$manw $(basename "$m"): $w"
done
check "man pages render without warnings${manw:+ ($manw)}" test -z "$manw"
check "bash completion parses and offers the commands" bash -c \
  ". '$D/usr/local/share/bash-completion/completions/pvnet'; COMP_WORDS=(pvnet sw); COMP_CWORD=1; _pvnet; [ \"\${COMPREPLY[*]}\" = switch ]"

# ---- the docs agree with the code ----------------------------------------------------
# Every command pvnet answers is in `pvnet --help`, `pvnet switch help` (switch ones),
# man pvnet(1), the README's command table and the bash completion; a command named
# there that pvnet does not know fails here too. Every option in the help texts is in
# the man page and the other way round.
# The commands are those of pvnet's command table (include/pvnet/ctl_commands.h).
cmds=$("$PV_BIN/pvnet" --dump-commands | awk -F'\t' '$1 != "switch" && $1 != "help" { print $1 }' | uniq)
swcmds=$("$PV_BIN/pvnet" --dump-commands | awk -F'\t' '$1 == "switch" { print $2 }')
if pv_start; then
  MAN=$(MANWIDTH=200 man -l "$PV_ROOT/man/pvnet.1" 2>/dev/null)
  HELP=$(pvnet --help 2>&1)
  SWHELP=$(pvnet switch help 2>&1)
  README_T=$(grep '^| `pvnet ' "$PV_ROOT/README.md")
  COMP=$(cat "$PV_ROOT/packaging/pvnet.bash-completion")
  miss=""
  for c in $cmds; do
    case $c in
    bench | top) out=$(timeout 5 "$PV_BIN/pvnet" --run-dir "$PV_RUN" "$c" --no-such-option </dev/null 2>&1) ;;
    *) out=$(timeout 5 "$PV_BIN/pvnet" --run-dir "$PV_RUN" "$c" </dev/null 2>&1 | head -c 4000) ;;
    esac
    grep -q "unknown command" <<<"$out" && miss="$miss code:$c"
    grep -qE "(^|[^a-z-])$c([^a-z-]|\$)" <<<"$HELP" || miss="$miss help:$c"
    grep -qE "(^|[^a-z-])$c([^a-z-]|\$)" <<<"$MAN" || miss="$miss man:$c"
    grep -qE "pvnet $c([^a-z-]|\$)" <<<"$README_T" || miss="$miss README:$c"
    grep -qE "(^|[^a-z-])$c([^a-z-]|\$)" <<<"$COMP" || miss="$miss completion:$c"
  done
  for c in $swcmds; do
    out=$(timeout 5 "$PV_BIN/pvnet" --run-dir "$PV_RUN" switch "$c" </dev/null 2>&1 | head -c 4000)
    grep -q "^usage: pvnet switch COMMAND" <<<"$out" && [ "$c" != help ] && miss="$miss code:switch-$c"
    grep -qE "switch $c([^a-z-]|\$)|\| $c([^a-z-]|\$)" <<<"$HELP" || miss="$miss help:switch-$c"
    grep -qE "^  $c([^a-z-]|\$)" <<<"$SWHELP" || [ "$c" = help ] || miss="$miss switch-help:$c"
    grep -qE "switch $c([^a-z-]|\$)" <<<"$MAN" || miss="$miss man:switch-$c"
    grep -qE "$c([^a-z-]|\$)" <<<"$README_T" || miss="$miss README:switch-$c"
    grep -qE "(^|[^a-z-])$c([^a-z-]|\$)" <<<"$COMP" || miss="$miss completion:switch-$c"
  done
  out=$("$PV_BIN/pvnet" --run-dir "$PV_RUN" switch frobnicate 2>&1)
  [ "$out" = "$SWHELP" ] || miss="$miss switch-usage-differs-from-switch-help"
  check "every command is known to pvnet and named in --help, switch help, man, README, completion${miss:+ (missing:$miss)}" \
    test -z "$miss"
  opts() { grep -oE -- '(^|[^a-z-])--?[a-z][a-z0-9-]*' | sed 's/^[^-]*//' | sort -u; }
  # -r: tshark's, in an example of mirror's
  d=$(diff <(printf '%s\n%s\n' "$HELP" "$SWHELP" | opts | grep -vx -- -r) \
    <(opts <<<"$MAN" | grep -vx -- -r) | grep '^[<>]' | tr '\n' ' ')
  check "the options of pvnet --help and switch help are those of man pvnet(1)${d:+ (< help only, > man only: $d)}" \
    test -z "$d"
  # completion asks the running pvnetd for bridge and port names
  pvnet switch add-br "pkb$$" >/dev/null && pvnet switch add-port "pkb$$" "pkt$$" --type tap >/dev/null
  comp() { (PATH="$PV_BIN:$PATH"; . "$PV_ROOT/packaging/pvnet.bash-completion"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _pvnet; echo "${COMPREPLY[*]}"); }
  check "completion: switch fdb offers the bridge, port-show its port, log-level the modules" \
    bash -c "[ '$(comp pvnet switch fdb pkb)' = pkb$$ ] && [ '$(comp pvnet switch port-show pkt)' = pkt$$ ] &&
      [ '$(comp pvnet log-level vsw)' = vswitch ] && [ '$(comp pvnet top --ba)' = --batch ]"
  pv_kill_daemon "$PV_PID"
else
  not_ok "pvnetd starts for the docs' check"
fi
# every environment variable pvnetd (and what it loads) reads is in man pvnetd(8)
envs=$(cd "$PV_ROOT" && grep -rhoE 'getenv\("PVNET_[A-Z0-9_]+"\)' tools/pvnetd lib hv netback vswitch nic-accel |
  sed 's/getenv("//; s/")//' | sort -u)
nodoc=$(for v in $envs; do grep -q "^\.BI\? $v" "$PV_ROOT/man/pvnetd.8" || echo "$v"; done | tr '\n' ' ')
if [ -n "$envs" ] && [ -z "$nodoc" ]; then
  ok "man pvnetd(8) documents every PVNET_ variable pvnetd reads ($(wc -w <<<"$envs"))"
else
  not_ok "man pvnetd(8) documents every PVNET_ variable pvnetd reads (missing: $nodoc)"
fi

if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
  skip "make deb" "needs dpkg-buildpackage and debhelper"
  pv_done; exit
fi
# The package is machine-wide: two runs of this test (two worktrees, or make check
# beside a developer's run) would install over each other and purge each other's
# package. One at a time, for at most 10 minutes; the lock goes with this shell.
exec {PKG_LOCK}>/run/lock/pvnet-test-packaging.lock
if ! flock -w 600 "$PKG_LOCK"; then
  not_ok "another test_packaging held the machine's package lock for 10 minutes"; pv_done; exit 1
fi
if dpkg-query -W -f='${Status}' pvnet 2>/dev/null | grep -q "install ok installed"; then
  skip "make deb / dpkg -i" "a pvnet package is already installed on this machine"
  pv_done; exit
fi
if make -C "$PV_ROOT" --no-print-directory -s deb >"$PV_TMP/deb.log" 2>&1; then
  ok "make deb builds a package"
else
  not_ok "make deb builds a package"; tail -n 20 "$PV_TMP/deb.log" | sed 's/^/# /'
  pv_done; exit
fi
DEB=$(ls "$PV_ROOT"/build-deb/out/pvnet_*_amd64.deb 2>/dev/null | head -1)
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\./||' |
  grep -vE '^usr/share/doc/pvnet/(changelog|copyright|README.md)' | sort >"$PV_TMP/deb-got"
(expected_files usr | grep -v '^usr/share/doc/pvnet/README.md$' | sed 's|^usr/share/man/\(.*\)$|usr/share/man/\1.gz|') |
  sort >"$PV_TMP/deb-want"
if diff -u "$PV_TMP/deb-want" "$PV_TMP/deb-got" >"$PV_TMP/deb-diff"; then
  ok "the .deb holds exactly the expected files under /usr ($(wc -l <"$PV_TMP/deb-got"))"
else
  not_ok "the .deb holds exactly the expected files"; sed 's/^/# /' "$PV_TMP/deb-diff"
fi
check "the .deb's pvnetd is built with dpkg-buildflags' hardening (stack protector, fortify, relro, now, PIE)" bash -c \
  "dpkg-deb -x '$DEB' '$PV_TMP/x' && readelf -d '$PV_TMP/x/usr/sbin/pvnetd' | grep -q 'NOW PIE' &&
   readelf -lW '$PV_TMP/x/usr/sbin/pvnetd' | grep -q GNU_RELRO &&
   nm -D '$PV_TMP/x/usr/sbin/pvnetd' | grep -q ' __stack_chk_fail@' &&
   nm -D '$PV_TMP/x/usr/sbin/pvnetd' | grep -q ' __memcpy_chk@'"

pv_cleanup_add "dpkg --purge pvnet"
if dpkg -i "$DEB" >"$PV_TMP/dpkg.log" 2>&1; then ok "dpkg -i installs it"; else
  not_ok "dpkg -i installs it"; tail -n 10 "$PV_TMP/dpkg.log" | sed 's/^/# /'; fi
if command -v systemd-analyze >/dev/null; then
  check "systemd-analyze verify accepts the installed unit" \
    bash -c "systemd-analyze verify /lib/systemd/system/pvnetd.service 2>&1 | tee '$PV_TMP/verify' | grep -v 'Failed to.*bus' ; [ \${PIPESTATUS[0]} = 0 ]"
else
  skip "systemd-analyze verify" "needs systemd-analyze"
fi

# The installed daemon, toolstack and guest program run a guest.
G="pk$$"
cat >"$PV_TMP/g.cfg" <<CFG
name = "$G"
memory = 16
vif = [ 'mac=00:16:3e:7a:00:01,bridge=br0,ip=10.77.0.1/24' ]
CFG
nsenter --net="/run/netns/$PV_NS" /usr/sbin/pvnetd --foreground --run-dir "$PV_RUN" \
  --log "$PV_TMP/installed.log" &
PV_PID=$!
pv_cleanup_add "pv_kill_daemon $PV_PID"
pvnet() { /usr/bin/pvnet --run-dir "$PV_RUN" "$@"; }
wait_for 10 pvnet info >/dev/null 2>&1
check "the installed pvnetd uses the installed guest program" \
  bash -c "/usr/bin/pvnet --run-dir '$PV_RUN' info | grep -q 'guest_program.*: /usr/lib/pvnet/pvnet-guest'"
[ -e "$PV_BUILD/lib/pvnet-accel/dpdk.so" ] &&
check "the installed pvnetd loads the installed plugins" \
  bash -c "/usr/bin/pvnet --run-dir '$PV_RUN' accel list | grep -q /usr/lib/pvnet/accel/dpdk.so"
check "the installed pvnetd loads its plugins without a warning (no built-in shipped twice)" \
  bash -c "! grep -E 'WARN.*(skipped plugin|plugin)' '$PV_TMP/installed.log'"
pv_cleanup_add "ip netns del '$G'"
pvnet create "$PV_TMP/g.cfg" >"$PV_TMP/create.log" 2>&1
check "a guest created with the installed toolstack connects its vif" wait_for 20 connected "$G"
pvnet destroy "$G" >/dev/null 2>&1
pv_kill_daemon "$PV_PID"

dpkg --purge pvnet >"$PV_TMP/purge.log" 2>&1
left=$(for f in $(cat "$PV_TMP/deb-got"); do [ -e "/$f" ] && echo "/$f"; done)
check "dpkg --purge removes every file it installed${left:+ (left: $left)}" \
  bash -c "[ -z '$left' ] && ! dpkg-query -W -f='\${Status}' pvnet 2>/dev/null | grep -q 'install ok'"
pv_done
