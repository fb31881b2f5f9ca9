#!/usr/bin/env bash
# Installs the Debian packages pvnet needs, only those missing. Called by
# `make check` and `make run`; safe to run again. Needs root (apt-get).
set -euo pipefail

PKGS=(
  gcc make clang libclang-rt-14-dev pkg-config   # build, sanitizers, libFuzzer
  clang-format-14                                # make format / format-check (scripts/format.sh)
  libcmocka-dev                                  # unit tests
  libxen-dev                                     # ABI conformance test (reference headers)
  xenstore-utils                                 # xenstore-ls/-read/-write/-watch against our store
  libpcap-dev                                    # capture files
  libjansson-dev                                 # JSON (control replies, state files, OVSDB)
  nettle-dev                                     # SHA-256/HMAC of the migration stream (hv/save.c)
  python3-scapy                                  # hostile-tenant tests craft frames
  libxdp-dev libbpf-dev                          # AF_XDP uplink (vswitch/port_afxdp.c)
  iproute2 iputils-ping procps psmisc ethtool    # namespaces, veth, ping, ps
  iperf3 tshark                                  # real clients in integration tests
  gnuplot-nox                                    # benchmark charts
  dpdk-dev jq                                    # perf/: dpdk-testpmd (memif peer); JSON checks
  qemu-system-x86 busybox-static cpio           # HVM guests: QEMU (TCG) + guest image (scripts/guest-image.sh)
  linux-perf                                     # perf record/stat for the speed work (docs/benchmarks.md)
  dpkg-dev debhelper man-db                      # make deb; man pages checked by the packaging test
  openvswitch-vtep openvswitch-switch            # OVN hardware VTEP: vtep.ovsschema, vtep-ctl, ovsdb-server, ovs-vswitchd
  ovn-central ovn-host ovn-controller-vtep       # OVN: northd + NB/SB, ovn-controller, ovn-controller-vtep (docs/ovn.md)
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections || true
if ! apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/pvnet-deps.log 2>&1; then
  apt-get update >>/tmp/pvnet-deps.log 2>&1 || true
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >>/tmp/pvnet-deps.log 2>&1; then
    echo "deps: apt-get install failed, see /tmp/pvnet-deps.log" >&2
    tail -n 20 /tmp/pvnet-deps.log >&2
    exit 1
  fi
fi
echo "deps: done"
