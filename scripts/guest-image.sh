#!/usr/bin/env bash
# Builds the HVM guest image from Debian packages only (apt-get download; nothing
# from outside the package registry):
#
#   build/guest/vmlinuz        the Debian kernel (linux-image-amd64), extracted from
#                              its .deb, never installed on the host
#   build/guest/initramfs.gz   busybox (busybox-static), the virtio modules of that
#                              kernel, iperf3 + its shared libraries, and /init
#   build/guest/VERSION        kernel release, for logs
#
# /init reads from the kernel command line:
#   pvnet.ip=A.B.C.D/N   address of eth0 (the first virtio-net NIC); none: link up only
#   pvnet.gw=A.B.C.D     default route
#   pvnet.cmd=a,b,c      one command to run after the network is up, commas for spaces
#                        (e.g. pvnet.cmd=ping,-c,3,10.0.0.1); its output goes to the
#                        console followed by "PVNET-CMD-EXIT <status>"
#   pvnet.halt=1         power off after pvnet.cmd (default: stay up)
# and always starts an iperf3 server (port 5201) before printing the ready marker
#   PVNET-READY ip=<addr> kernel=<release> uptime=<s>
# on the serial console. With nothing else to do it stays up until powered off.
#
# Usage: scripts/guest-image.sh [OUTDIR]   (default build/guest). Cached: does
# nothing when OUTDIR already holds both files of this IMAGE_REV; rm -r OUTDIR to
# rebuild. Takes ~5 s (apt-get download of two packages, cpio, gzip).
set -euo pipefail

OUT=${1:-build/guest}
IMAGE_REV=2 # bump when the image's contents change: cached images are rebuilt
if [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initramfs.gz" ] &&
   [ "$(cat "$OUT/IMAGE_REV" 2>/dev/null)" = "$IMAGE_REV" ]; then
  exit 0
fi
for tool in apt-get apt-cache dpkg-deb cpio gzip; do
  command -v "$tool" >/dev/null || { echo "guest-image: $tool missing" >&2; exit 1; }
done
command -v iperf3 >/dev/null || { echo "guest-image: iperf3 missing (scripts/deps.sh)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/pvnet-guest-image.XXXXXX)
chmod 755 "$TMP" # apt-get download drops to the _apt user
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"

# The versioned kernel package the metapackage points at.
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
       sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1)
if [ -z "$KPKG" ]; then
  echo "guest-image: cannot resolve linux-image-amd64 (apt-get update?)" >&2
  exit 1
fi
(cd "$TMP" && apt-get download -q "$KPKG" busybox-static >/dev/null)
dpkg-deb -x "$TMP"/linux-image-*.deb "$TMP/k"
dpkg-deb -x "$TMP"/busybox-static_*.deb "$TMP/bb"
VMLINUZ=$(ls "$TMP"/k/boot/vmlinuz-* | head -n1)
KVER=${VMLINUZ##*/vmlinuz-}
MODDIR="$TMP/k/lib/modules/$KVER"

R="$TMP/root"
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,lib/modules,lib64,run}
cp "$TMP/bb/bin/busybox" "$R/bin/busybox"
for app in $("$R/bin/busybox" --list); do
  [ "$app" = busybox ] || ln -sf busybox "$R/bin/$app"
done

# virtio modules in load order; a name not found as a module is built in (checked
# against modules.builtin) or absent, both fine: /init skips what is not there.
: >"$R/lib/modules/order"
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
         failover net_failover virtio_net; do
  f=$(find "$MODDIR" -name "$m.ko*" | head -n1)
  if [ -z "$f" ]; then
    if grep -q "/$m.ko" "$MODDIR/modules.builtin" 2>/dev/null; then
      echo "guest-image: $m is built in"
    else
      echo "guest-image: $m not found (neither module nor built in)"
    fi
    continue
  fi
  case "$f" in
    *.ko.xz) xz -dc "$f" >"$R/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" >"$R/lib/modules/$m.ko" ;;
    *.ko.gz) gzip -dc "$f" >"$R/lib/modules/$m.ko" ;;
    *) cp "$f" "$R/lib/modules/$m.ko" ;;
  esac
  echo "$m" >>"$R/lib/modules/order"
done

# iperf3 and the libraries it loads (ldd paths kept as they are on the host).
IPERF=$(command -v iperf3)
cp "$IPERF" "$R/usr/bin/iperf3"
for lib in $(ldd "$IPERF" | grep -o '/[^ ]*'); do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
echo "root:x:0:0:root:/:/bin/sh" >"$R/etc/passwd"
echo "127.0.0.1 localhost" >"$R/etc/hosts"

cat >"$R/init" <<'EOF'
#!/bin/sh
# pvnet guest init: network from the kernel command line, iperf3 server, one command.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1
for m in $(cat /lib/modules/order); do
  insmod /lib/modules/$m.ko 2>/dev/null || echo "init: insmod $m failed"
done
IP= GW= CMD= HALT=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    pvnet.ip=*) IP=${arg#pvnet.ip=} ;;
    pvnet.gw=*) GW=${arg#pvnet.gw=} ;;
    pvnet.cmd=*) CMD=$(echo "${arg#pvnet.cmd=}" | tr , ' ') ;;
    pvnet.halt=*) HALT=${arg#pvnet.halt=} ;;
  esac
done
ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
ip link set eth0 up
[ -n "$IP" ] && ip addr add "$IP" dev eth0
[ -n "$GW" ] && ip route add default via "$GW"
# one-off servers in a loop: a client that resets its control connection cannot
# wedge the server for the next one (iperf3 -D keeps a broken state)
(while :; do iperf3 -s -1 >/dev/null 2>&1; done) &
read up _ </proc/uptime
echo "PVNET-READY ip=${IP:-none} kernel=$(uname -r) uptime=$up"
if [ -n "$CMD" ]; then
  $CMD
  echo "PVNET-CMD-EXIT $?"
  [ "$HALT" = 1 ] && poweroff -f
fi
while :; do sleep 3600; done
EOF
chmod 755 "$R/init"

(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) >"$TMP/initramfs.gz"
cp "$VMLINUZ" "$TMP/vmlinuz"
mv "$TMP/vmlinuz" "$OUT/vmlinuz"
mv "$TMP/initramfs.gz" "$OUT/initramfs.gz"
echo "$KVER" >"$OUT/VERSION"
echo "$IMAGE_REV" >"$OUT/IMAGE_REV"
echo "guest-image: $OUT/vmlinuz ($KVER), $OUT/initramfs.gz ($(du -h "$OUT/initramfs.gz" | cut -f1))"
