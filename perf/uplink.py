# SPDX-License-Identifier: MIT
"""perf/uplink.py - uplinks: a "remote host" namespace joined by a veth to the
switch, and one guest behind it, for each uplink type, against the Linux bridge
with the same veth topology and the same tools. perf/uplink.sh runs this.

  pvnet:  R:eth0 (10.63.0.100) <-veth-> dom0:ua --[afpacket|afxdp]-- bridge bru -- vif -- guest eth0 (10.63.0.1)
  peer:   R:eth0 (10.64.0.100) <-veth-> B:ua -- Linux bridge br0 -- B:gv <-veth-> G:eth0 (10.64.0.1)

Per setup: iperf3 TCP (1 stream, client on CPU_TX, server on CPU_RX) guest ->
remote and remote -> guest, and 64 B frames remote -> guest from pvnet-pktgen
(AF_PACKET, PACKET_MMAP, qdisc bypass) counted by pvnet-pktgen in the guest:
received Mpps and loss. Two wire modes: `tso` (the remote veth keeps its
checksum/TSO/GSO offloads: 64 KiB segments cross the veth) and `mtu` (all off on
the remote veth and on the guest's NIC, as on both ends of the bridge peer: MTU
frames with finished checksums, what XDP needs; AF_XDP has no segmentation
offload, so it runs only in this mode).

  perf/uplink.sh [--secs N]        prints the table with ratios to the bridge
"""
import argparse
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import BIN, CPU_RX, CPU_TX, log  # noqa: E402
from peers.pvnet import Pvnet  # noqa: E402

GMAC = "00:16:3e:63:00:01"


def offloads(b, ns, ifname, on):
    v = "on" if on else "off"
    b.run(["ethtool", "-K", ifname, "tx", v, "tso", v, "gso", v], ns=ns)


def udp64(b, tx_ns, rx_ns, rx_if, mac, secs):
    """64 B frames TX_NS:eth0 -> RX_NS:RX_IF as fast as pktgen goes: {mpps, loss}."""
    rxo = b.tmpfile("ul.rx")
    rx = b.spawn([os.path.join(BIN, "pvnet-pktgen"), "rx", rx_if, "--seconds", str(secs + 2), "--idle-ms", "700",
                  "--json", "--quiet"], ns=rx_ns, cpu=CPU_RX, stdout=rxo, stderr="/dev/null")
    time.sleep(0.3)
    t = b.run([os.path.join(BIN, "pvnet-pktgen"), "tx", "eth0", "--size", "64", "--rate", "max", "--seconds",
               str(secs), "--dst-mac", mac, "--json", "--quiet"], ns=tx_ns, cpu=CPU_TX, timeout=secs + 20)
    try:
        rx.wait(timeout=secs + 10)
    except subprocess.TimeoutExpired:
        lib.kill_proc(rx)
    tj, rj = lib.last_json(t.stdout), lib.last_json(open(rxo).read())
    if not tj or not rj or not tj.get("frames"):
        return None
    return {"mpps": rj.get("pps", 0) / 1e6, "loss": 100.0 * (tj["frames"] - rj["frames"]) / tj["frames"]}


def measure(b, g, gif, gip, r, rip, secs):
    b.run(["ping", "-c", "2", "-W", "2", rip], ns=g, timeout=10)
    a = b.iperf(g, r, rip, 1, secs) or {}
    c = b.iperf(r, g, gip, 1, secs) or {}
    u = udp64(b, r, g, gif, GMAC, secs) or {}
    return {"g2r": a.get("gbps"), "r2g": c.get("gbps"), "mpps": u.get("mpps"), "loss": u.get("loss")}


def fmt(v):
    return "n/a" if v is None else "%.3g" % v


def emit(label, res, peer=None, peer_res=None):
    def ratio(k):
        x, y = res.get(k), (peer_res or {}).get(k)
        return "%.2fx" % (x / y) if x and y else "n/a"
    rat = "  vs %s: %s %s %s" % (peer, ratio("g2r"), ratio("r2g"), ratio("mpps")) if peer else ""
    print("%-16s %7s Gb/s g->r %7s Gb/s r->g %7s Mpps 64B (%s%% loss)%s" % (
        label, fmt(res.get("g2r")), fmt(res.get("r2g")), fmt(res.get("mpps")), fmt(res.get("loss")), rat),
        flush=True)


def bridge(b, mode, secs):
    """The Linux bridge peer for one wire mode."""
    R, B, G = b.tag + "-ubR", b.tag + "-ubB", b.tag + "-ubG"
    if not (b.ns(R) and b.ns(B) and b.ns(G)):
        return {}
    for c in (["ip", "-n", B, "link", "add", "br0", "type", "bridge"], ["ip", "-n", B, "link", "set", "br0", "up"],
              ["ip", "link", "add", "ua", "netns", B, "type", "veth", "peer", "name", "eth0", "netns", R],
              ["ip", "link", "add", "gv", "netns", B, "type", "veth", "peer", "name", "eth0", "netns", G],
              ["ip", "-n", B, "link", "set", "ua", "master", "br0", "up"],
              ["ip", "-n", B, "link", "set", "gv", "master", "br0", "up"],
              ["ip", "-n", G, "link", "set", "eth0", "address", GMAC],
              ["ip", "-n", R, "addr", "add", "10.64.0.100/24", "dev", "eth0"], ["ip", "-n", R, "link", "set", "eth0", "up"],
              ["ip", "-n", G, "addr", "add", "10.64.0.1/24", "dev", "eth0"], ["ip", "-n", G, "link", "set", "eth0", "up"]):
        b.run(c)
    for n in (R, G):
        b.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"], ns=n)
    if mode == "mtu":
        offloads(b, R, "eth0", False)
        offloads(b, G, "eth0", False)
    res = measure(b, G, "eth0", "10.64.0.1", R, "10.64.0.100", secs)
    for n in (G, B, R):
        b.run(["ip", "netns", "del", n])
    return res


def uplink_bench(b, secs):
    peers = {m: bridge(b, m, secs) for m in ("tso", "mtu")}
    for m in ("tso", "mtu"):
        emit("bridge." + m, peers[m])
    pv = Pvnet(b)
    if not pv.start():
        log("uplink: pvnetd did not start")
        return False
    R, G = b.tag + "-ulR", "pvb%du" % b.pid
    if not b.ns(R):
        return False
    b.run(["ip", "link", "add", "ua", "netns", pv.ns, "type", "veth", "peer", "name", "eth0", "netns", R])
    b.run(["ip", "-n", pv.ns, "link", "set", "ua", "up"])
    b.run(["ip", "-n", R, "addr", "add", "10.63.0.100/24", "dev", "eth0"])
    b.run(["ip", "-n", R, "link", "set", "eth0", "up"])
    b.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"], ns=R)
    pv.netns_cleanup(G)
    if pv.create(G, 'name = "%s"\nmemory = 64\nnetns = "%s"\nvif = [ \'mac=%s, bridge=bru, ip=10.63.0.1/24\' ]\n'
                 % (G, G, GMAC)) is None:
        log("uplink: guest not created")
        return False
    gif = pv.wait_ifname(G, GMAC, tries=100) or "eth0"
    b.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"], ns=G)
    for mode in ("tso", "mtu"):
        # both ends as in the bridge peer: the remote veth and the guest's NIC
        offloads(b, R, "eth0", mode == "tso")
        offloads(b, G, gif, mode == "tso")
        for typ in ("afpacket", "afxdp"):
            if (mode, typ) == ("tso", "afxdp"):
                continue
            r = pv.cli("switch", "add-port", "bru", "ua", "--type", typ)
            if r.returncode != 0:
                log("uplink: add-port --type %s: %s" % (typ, (r.stdout + r.stderr).strip()))
                emit("%s.%s" % (typ, mode), {}, "bridge." + mode, peers[mode])
                continue
            emit("%s.%s" % (typ, mode), measure(b, G, gif, "10.63.0.1", R, "10.63.0.100", secs),
                 "bridge." + mode, peers[mode])
            pv.cli("switch", "del-port", "bru", "ua")
    pv.destroy(G)
    pv.stop()
    return True


def main():
    ap = argparse.ArgumentParser(prog="perf/uplink.sh")
    ap.add_argument("--secs", type=int, default=3)
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("perf/uplink.sh: needs root", file=sys.stderr)
        return 1
    commit = subprocess.run(["git", "-C", lib.ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print("# uplink: cores=%d placement=iperf3/pktgen tx cpu%d rx cpu%d, pvnetd+guest unpinned, iperf3 1 stream "
          "%ds (+1 s omitted), 64 B pktgen %ds commit=%s" % (os.cpu_count(), CPU_TX, CPU_RX, a.secs, a.secs, commit))
    print("# columns: TCP guest->remote, TCP remote->guest, 64 B remote->guest; ratios vs the Linux bridge in the "
          "same wire mode", flush=True)
    b = lib.Bench()
    try:
        return 0 if uplink_bench(b, a.secs) else 1
    finally:
        b.cleanup()


if __name__ == "__main__":
    sys.exit(main())
