#!/usr/bin/env bash
# Real-world xl configs (tests/integration/xl-configs/, written after the
# examples of xl.cfg(5) and xl-network-configuration(5)) load with warnings only:
#   1. `pvnet create -n FILE` of every file exits 0, prints nothing but
#      "FILE:LINE: warning: ..." on stderr and JSON on stdout (python3 -m
#      json.tool parses it), and the fields each file sets come out right
#      (octal/hex numbers, root/extra, builder, devids, vlan terms, ...);
#   2. a true typo is still an error naming file and line, and creates nothing;
#   3. KEY=VALUE overrides replace the file's keys (-n shows them);
#   4. two of them are created for real, with overrides for name, netns and
#      bridge: guest A's default routes (gateway=) are in its namespace and A
#      reaches an address that only its gateway B holds; vifname= names A's
#      switch port; B's prefix-less address is allowed by anti-spoofing but was
#      not configured by pvnet; a second vif with the same vifname is refused.
. "$(dirname "$0")/lib.sh"
pv_init xl_configs
pv_need python3 jq ping xenstore-read

DIR="$PV_ROOT/tests/integration/xl-configs"
ID=$(printf '%x' $(( $$ % 65536 )))

# ---- 1. every file: warnings only, JSON out -----------------------------------
n_files=0
for f in "$DIR"/*.cfg; do
  b=$(basename "$f")
  n_files=$((n_files + 1))
  if pvnet create -n "$f" >"$PV_TMP/$b.json" 2>"$PV_TMP/$b.err"; then rc=0; else rc=$?; fi
  other=$(grep -v "^$f:[0-9]*: warning: " "$PV_TMP/$b.err" || true)
  if [ "$rc" = 0 ] && [ -z "$other" ] && python3 -m json.tool "$PV_TMP/$b.json" >/dev/null; then
    ok "create -n $b: exit 0, $(wc -l <"$PV_TMP/$b.err") warning(s) only, JSON parses"
  else
    not_ok "create -n $b: rc $rc, non-warning stderr: ${other:-none}"
  fi
done
check "there are real-world configs to load (found $n_files)" [ "$n_files" -ge 7 ]

# jqx FILE FILTER: the filter's output for FILE's -n JSON (compact)
jqx() { jq -c "$2" "$PV_TMP/$1.json"; }
# field FILE FILTER WANT: one assertion on the parsed config
field() {
  local got; got=$(jqx "$1" "$2")
  if [ "$got" = "$3" ]; then ok "$1: $2 = $3"; else not_ok "$1: $2 = $got, wanted $3"; fi
}
# warned FILE KEY: exactly one warning line names KEY
warned() {
  local n; n=$(grep -c "warning: '$2' is not implemented" "$PV_TMP/$1.err" || true)
  if [ "$n" = 1 ]; then ok "$1: one warning for $2"; else not_ok "$1: $n warnings for $2"; fi
}

field pv-pygrub.cfg '[.memory,.maxmem,.vcpus,.on_crash]' '[1024,2048,2,"restart"]'
field pv-pygrub.cfg '.vifs[0] | [.mac,.bridge,.script]' '["00:16:3e:4a:10:01","xenbr0","vif-bridge"]'
for k in bootloader disk maxvcpus on_poweroff on_reboot; do warned pv-pygrub.cfg "$k"; done
check "pv-pygrub.cfg: the script= warning names file, line and vif" \
  grep -q "pv-pygrub.cfg:16: warning: vif 0: script=vif-bridge is not run" "$PV_TMP/pv-pygrub.cfg.err"

field pv-direct-kernel.cfg '[.type,.memory,.vcpus]' '["pv",512,2]'
field pv-direct-kernel.cfg '.cmdline' '"root=/dev/xvda1 ro console=hvc0 earlyprintk=xen"'
field pv-direct-kernel.cfg '[.kernel,.ramdisk,.uuid]' \
  '["/boot/vmlinuz-guest","/boot/initrd.img-guest","3f1e9a52-77c4-4d0b-a8e2-9b5d6c0e1f23"]'
field pv-direct-kernel.cfg '.vifs | length' '1'
check "pv-direct-kernel.cfg: builder is warned as deprecated" \
  grep -q "warning: 'builder' is deprecated" "$PV_TMP/pv-direct-kernel.cfg.err"

field hvm-guest.cfg '[.type,.memory,.on_crash]' '["hvm",2048,"preserve"]'
field hvm-guest.cfg '.vifs[0] | [.type,.model,.mac]' '["ioemu","virtio","00:16:3e:4a:20:01"]'
for k in firmware boot disk vnc viridian usbdevice; do warned hvm-guest.cfg "$k"; done

field pvh-minimal.cfg '[.name,.type,.memory,.cmdline]' '["pvh-min","pvh",256,"console=hvc0 root=/dev/xvda"]'

field multi-nic.cfg '[.vifs[] | .devid]' '[0,1,4,2]'
field multi-nic.cfg '.vifs[1] | [.mtu,.rate.bytes_per_interval,.rate.interval_us]' '[9000,250000,20000]'
field multi-nic.cfg '.vifs[2] | [.vlan,.trunks,.trusted,.vifname]' \
  '[10,[20,30,31,32,100,110,120],false,"mn-trunk"]'
field multi-nic.cfg '[.vifs[0].trusted,.vifs[3].trusted]' '[true,null]'
check "multi-nic.cfg: no warning at all" bash -c "[ ! -s '$PV_TMP/multi-nic.cfg.err' ]"

field routed.cfg '.vifs[0] | [.ip,.gatewaydev,.script]' '[["192.0.2.10"],"eth0","vif-route"]'
field netbsd-style.cfg '[.vifs[] | .bridge]' '["xenbr0","xenbr1"]'
field netbsd-style.cfg '.cmdline' '"root=xbd0a"'
field run-gateway-a.cfg '.vifs[0] | [.gateway,.vifname]' '[["10.77.0.2","fd77::2"],"xlrun-a0"]'

# ---- 2. a typo stays an error -------------------------------------------------
printf 'name = "typo"\nmemory = 64\nbootlaoder = "pygrub"\n' >"$PV_TMP/typo.cfg"
if out=$(pvnet create -n "$PV_TMP/typo.cfg" 2>&1); then rc=0; else rc=$?; fi
check "a typo is an error: exit 1" [ "$rc" = 1 ]
check "the error names file and line, and the key meant" \
  grep -qx "$PV_TMP/typo.cfg:3: unknown key 'bootlaoder' (did you mean 'bootloader'?)" <<<"$out"
printf 'name = "typo"\nvif = [ "brigde=xenbr0" ]\n' >"$PV_TMP/typo2.cfg"
out=$(pvnet create -n "$PV_TMP/typo2.cfg" 2>&1 || true)
check "an unknown vif key is an error naming file, line and vif" \
  grep -qx "$PV_TMP/typo2.cfg:2: vif 0: unknown vif key 'brigde'" <<<"$out"

# ---- 3. overrides, as xl create FILE KEY=VALUE ---------------------------------
pvnet create -n "$DIR/pv-pygrub.cfg" memory=0x100 name=web9 'vif+=["bridge=br9,devid=7"]' \
  >"$PV_TMP/ov.json" 2>/dev/null
check "overrides: memory=0x100 name=web9 and a vif appended with +=" \
  bash -c "[ \"\$(jq -c '[.name,.netns,.memory,(.vifs|length),.vifs[1].bridge,.vifs[1].devid]' '$PV_TMP/ov.json')\" = '[\"web9\",\"web9\",256,2,\"br9\",7]' ]"
out=$(pvnet create -n "$DIR/pv-pygrub.cfg" memroy=5 2>&1 || true)
check "a bad override is named as <override N>" \
  grep -qx "<override 1>:1: unknown key 'memroy' (did you mean 'memory'?)" <<<"$out"

# ---- 4. two of them for real ----------------------------------------------------
# ---- every key the parser takes is documented -----------------------------------------
# The keys are read from the parser's own tables (tools/lib/config.c dom_keys and
# xl_only_keys, tools/lib/config_vif.c vif_keys): man pvnet.cfg(5) names every
# implemented domain and vif key, docs/config.md every key at all.
miss=$(cd "$PV_ROOT" && MANWIDTH=300 man -l man/pvnet.cfg.5 2>/dev/null | python3 -c '
import re, sys
man = sys.stdin.read()
md = open("docs/config.md").read()
c = open("tools/lib/config.c").read()
v = open("tools/lib/config_vif.c").read()
def table(src, start):
    i = src.index(start)
    return re.findall(r"\"([a-z_-]+)\"", src[i:src.index("};", i)])
dom = re.findall(r"\{\"([a-z_]+)\", DK_", c)
xl = table(c, "xl_only_keys[] = {")
vif = table(v, "vif_keys[VK_COUNT] = {")
word = lambda k, t: re.search(r"(^|[^a-z_-])" + re.escape(k) + r"([^a-z_-]|$)", t, re.M)
out = ["man:" + k for k in dom + vif if not word(k, man)]
out += ["docs:" + k for k in dom + vif + xl if not word(k, md)]
print(" ".join(out) if len(dom) > 10 and len(vif) > 10 and len(xl) > 100 else "tables-not-found")
')
check "man pvnet.cfg(5) and docs/config.md name every key the parser takes${miss:+ (missing: $miss)}" test -z "$miss"

pv_start || { not_ok "pvnetd starts"; pv_done; exit 1; }
# a bridge name past a Linux interface name's 15 characters: add-br takes up to 31,
# and so does a vif's bridge=
A=xa$ID; B=xb$ID; BR=bx$ID-longer-than-ifname; PORT=xp$ID
pv_cleanup_add "ip netns del '$A'"; pv_cleanup_add "ip netns del '$B'"
if outa=$(cd "$DIR" && pvnet create run-gateway-a.cfg name=$A bridge=x 2>&1); then rca=0; else rca=$?; fi
# (bridge is a vif key, not a domain key)
check "a vif key given as a domain override is refused: exit 1" [ "$rca" = 1 ]
check "... naming the override" grep -q "<override 2>:1: unknown key 'bridge'" <<<"$outa"
outa=$(cd "$DIR" && pvnet create run-gateway-a.cfg name=$A \
  "vif=['mac=00:16:3e:4a:60:01,bridge=$BR,ip=10.77.0.1/24 fd77::1/64,gateway=10.77.0.2 fd77::2,vifname=$PORT']" \
  "vif+=['bridge=$BR,devid=4,ip=10.78.0.1/24']" 2>&1)
rca=$?
outb=$(cd "$DIR" && pvnet create run-gateway-b.cfg name=$B \
  "vif=['mac=00:16:3e:4a:60:02,bridge=$BR,ip=10.77.0.2/24 fd77::2/64 10.99.0.1']" 2>&1)
rcb=$?
check "create A (with overrides) succeeds" [ "$rca" = 0 ]
check "create B (with overrides) succeeds" [ "$rcb" = 0 ]
check "create A warns once for bootloader" [ "$(grep -c "warning: 'bootloader' is not implemented" <<<"$outa")" = 1 ]
check "create A warns once for on_reboot" [ "$(grep -c "warning: 'on_reboot' is not implemented" <<<"$outa")" = 1 ]
check "create B warns once for disk" [ "$(grep -c "warning: 'disk' is not implemented" <<<"$outb")" = 1 ]
check "create prints only the warnings and 'Created domain'" \
  bash -c '! grep -v -e "warning: " -e "^Created domain" <<<"$0"' "$outa
$outb"

# A's vif is named by vifname=: connected() looks at vif 0's store states
if wait_for 10 connected "$A" && wait_for 10 connected "$B"; then
  ok "both guests connected"
else
  not_ok "both guests connected"
fi
check "A's default route (IPv4) goes via its gateway=" \
  wait_for 5 bash -c "ip -n '$A' -4 route show default | grep -q '^default via 10.77.0.2 dev eth0'"
check "A's default route (IPv6) goes via its gateway=" \
  wait_for 5 bash -c "ip -n '$A' -6 route show default | grep -q '^default via fd77::2 dev eth0'"
check "B (no gateway=) has no default route" bash -c "[ -z \"\$(ip -n '$B' route show default)\" ]"
check "B's prefix-less 10.99.0.1 was not configured by pvnet" \
  bash -c "! ip -n '$B' -4 addr show | grep -q 10.99.0.1"
# B holds 10.99.0.1 itself (as a guest that sets its address), on its loopback
ip -n "$B" addr add 10.99.0.1/32 dev lo
check "A reaches 10.99.0.1 through its default route (B answers from it)" \
  wait_for 10 in_guest "$A" ping -q -c 1 -W 1 10.99.0.1
check "A reaches B directly too" in_guest "$A" ping -q -c 1 -W 1 10.77.0.2

check "devid=4 (appended with vif+=) is A's eth4 and store handle 4" \
  wait_for 10 bash -c "ip -n '$A' -4 addr show dev eth4 | grep -q 10.78.0.1/24 &&
    [ \"\$(xenstore-read /local/domain/$(domid "$A")/device/vif/4/state)\" = 4 ]"
check "vifname= names A's switch port" grep -q "Port \"$PORT\"" <<<"$(pvnet switch show)"
check "no port vif<A>.0 exists beside it" \
  bash -c "! '$PV_BIN/pvnet' --run-dir '$PV_RUN' switch show | grep -q 'Port \"vif$(domid "$A").0\"'"
check "port-show of the vifname: anti-spoofing with A's MAC and addresses" \
  grep -q "antispoof=mac:00:16:3e:4a:60:01,ip:10.77.0.1,ip:fd77::1" <<<"$(pvnet switch port-show "$PORT" | head -1)"
PB=$(pvnet switch port-show "vif$(domid "$B").0" | head -1)
diag "$PB"
check "B's port lets its prefix-less 10.99.0.1 through anti-spoofing" \
  grep -Eq "antispoof=mac:00:16:3e:4a:60:02(,ip:[^ ,]+)*,ip:10\.99\.0\.1[, ]" <<<"$PB "
check "vif-list of A shows the vifname" bash -c "'$PV_BIN/pvnet' --run-dir '$PV_RUN' vif-list '$A' | grep -q '$PORT'"
check "the backend dir holds vifname and gateway nodes" \
  bash -c "[ \"\$(xenstore-read /local/domain/0/backend/vif/$(domid "$A")/0/vifname)\" = '$PORT' ] &&
           [ \"\$(xenstore-read /local/domain/0/backend/vif/$(domid "$A")/0/gateway)\" = '10.77.0.2 fd77::2' ]"

C=xc$ID
pv_cleanup_add "ip netns del '$C'"
if out=$(pvnet create "$DIR/run-gateway-b.cfg" name=$C "vif=['bridge=$BR,vifname=$PORT']" 2>&1); then
  rc=0; else rc=$?; fi
check "a second domain with the same vifname is refused: exit 1" [ "$rc" = 1 ]
check "... saying the name is taken" grep -q "vifname '$PORT' is already a switch port's name" <<<"$out"
check "the refused domain is not listed" bash -c "[ -z \"\$(domid '$C' 2>/dev/null)\" ]"
check "A still reaches 10.99.0.1 afterwards" in_guest "$A" ping -q -c 1 -W 1 10.99.0.1

pvnet destroy "$A" >/dev/null 2>&1
pvnet destroy "$B" >/dev/null 2>&1
check "destroy removed both guests' namespaces" \
  wait_for 10 bash -c "[ ! -e /run/netns/$A ] && [ ! -e /run/netns/$B ]"
pv_done
