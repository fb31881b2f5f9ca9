# SPDX-License-Identifier: MIT
"""perf/peers/accel.py - NIC accelerator levels (docs/nic-levels.md): wire <->
guest and guest <-> guest TCP (iperf3, 1 stream) with a simnic NIC whose wire is
a veth to a "remote host" namespace, per level, with CPU per packet split into
guest (the pvnet-guest process: netfront), dom0 (pvnetd minus the NIC engine)
and "hardware" (the simnic engine thread, its hw_cpu_ns counter).

Packets per row: frames the NIC moved on its wire (wire_rx + wire_tx, ACKs
included) for wire rows; the receiving vif's RX packets for guest rows: at
Levels 0-1 what netback delivered (64 KiB GSO packets), at Levels 2-3 that plus
what the NIC DMA'd into the guest's own queue pair.

accel_bench(b, rows, secs, levels) runs on its own pvnetd (a fresh Pvnet).
perf/accel.sh (perf/accel.py) is the standalone entry.
"""
import os
import time

import lib
from lib import log, task_cpu_ns
from peers.pvnet import Pvnet


def _ethtool(pv, dev):
    out = {}
    for line in pv.cli("ethtool", "-S", dev).stdout.splitlines():
        f = line.split()
        if len(f) == 2 and f[0].endswith(":"):
            try:
                out[f[0][:-1]] = int(f[1])
            except ValueError:
                pass
    return out


class Accel:
    def __init__(self, b, pv):
        self.b, self.pv = b, pv
        self.level = 0
        self.gpids = []
        self.perf = False
        self.results = []

    def cpu(self):
        e = _ethtool(self.pv, "nic0")
        return {"pvnetd": task_cpu_ns(self.pv.pid), "guests": sum(task_cpu_ns(p) for p in self.gpids),
                "hw": e.get("dev_hw_cpu_ns", 0),
                "wire": e.get("dev_wire_rx_packets", 0) + e.get("dev_wire_tx_packets", 0)}

    def vif_rx(self, vif):
        nb = 0
        for line in self.pv.cli("stats").stdout.splitlines():
            f = line.split()
            if f and f[0] == vif and "rx" in f[:-1]:
                nb = int(f[f.index("rx") + 1])
                break
        nic = _ethtool(self.pv, vif).get("rx_packets", 0) if self.level >= 2 else 0
        return nb + nic

    def guest(self, name, ip, level, mac):
        pv = self.pv
        if pv.create(name, 'name = "%s"\nmemory = 64\nnetns = "%s"\n'
                     "vif = [ 'mac=%s, bridge=bra, ip=%s/24, accel=simnic, level=%d' ]\n"
                     % (name, name, mac, ip, level)) is None:
            return None
        pv.netns_cleanup(name)
        d = None
        for _ in range(200):
            d = pv.domid(name)
            if (d and pv.xs_read("/local/domain/0/backend/vif/%s/0/state" % d) == "4" and
                    self.b.ok(["ip", "-n", name, "link", "show", "eth0"])):
                break
            time.sleep(0.05)
        self.b.ping(name, "10.62.0.100", tries=1, wait=2)
        info = pv.xs_read("/local/domain/%s/data/pvnet-guest" % d) or ""
        f = info.split()
        return int(f[2]) if len(f) >= 3 and f[2].isdigit() else None

    def one(self, label, srv_ns, srv_ip, cli_ns, secs, src):
        """One iperf3 run: {gbps, guest, dom0, hw (CPU ns per packet)} and with
        self.perf {instr, task_ns} (the guests' per packet, from perf stat:
        tick-sampled CPU times misjudge threads that yield or sleep often)."""
        a = self.cpu()
        x = self.vif_rx(src) if src != "wire" else 0
        ps = None
        if self.perf and self.gpids:
            pst = os.path.join(self.b.tmp, "pstat.txt")
            ps = self.b.spawn(["perf", "stat", "-x,", "-e", "instructions,task-clock", "-p",
                               ",".join(str(p) for p in self.gpids), "-o", pst], stop=lib.sigint_wait)
        r = self.b.iperf(cli_ns, srv_ns, srv_ip, 1, secs)
        c = self.cpu()
        pk = (c["wire"] - a["wire"]) if src == "wire" else (self.vif_rx(src) - x)
        pk = max(pk, 1)
        h = c["hw"] - a["hw"]
        # pvnetd's CPU minus the NIC engine's: both 10 ms-tick figures, so a dom0
        # that did ~nothing can come out slightly negative: 0 within resolution
        dd = max((c["pvnetd"] - a["pvnetd"]) - h, 0)
        g = c["guests"] - a["guests"]
        res = None
        if r is not None:
            res = {"gbps": r["gbps"], "guest": g / pk, "dom0": dd / pk, "hw": h / pk}
        if ps is not None:
            lib.sigint_wait(ps)
            stat = {}
            try:
                for line in open(pst):
                    f = line.strip().split(",")
                    if len(f) >= 3 and f[0].replace(".", "").isdigit():
                        stat[f[2].split(":")[0]] = float(f[0])
            except OSError:
                pass
            if res is not None:
                res["instr"] = stat["instructions"] / pk if "instructions" in stat else None
                res["task_ns"] = stat["task-clock"] * 1e6 / pk if "task-clock" in stat else None  # ms
        self.results.append((label, res))
        return res

    def bench(self, secs=3, levels=(0, 1, 2, 3)):
        """Runs every level; results in self.results as (label, dict or None)."""
        b, pv = self.b, self.pv
        if not pv.start():
            log("accel: pvnetd did not start")
            return False
        rns = b.tag + "-remote"
        if not b.ns(rns):
            return False
        b.run(["ip", "link", "add", "wa", "netns", pv.ns, "type", "veth", "peer", "name", "eth0", "netns", rns])
        b.run(["ip", "-n", rns, "addr", "add", "10.62.0.100/24", "dev", "eth0"])
        b.run(["ip", "-n", rns, "link", "set", "eth0", "up"])
        b.run(["ethtool", "-K", "eth0", "tso", "off", "gso", "off", "gro", "off", "tx", "off"], ns=rns)
        b.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"], ns=rns)
        r = pv.cli("nic", "add", "nic0", "--plugin", "simnic", "--wire", "wa", "--vfs", "4", "--bridge", "bra")
        if r.returncode != 0:
            log("accel: nic add: %s" % (r.stdout + r.stderr).strip())
            return False
        for lv in levels:
            self.level = lv
            mac = "00:16:3e:62:%02x" % lv
            g1, g2 = "pvb%da%d" % (b.pid, lv), "pvb%db%d" % (b.pid, lv)
            ip1, ip2 = "10.62.0.%d" % (10 + lv * 2), "10.62.0.%d" % (11 + lv * 2)
            self.gpids = [p for p in (self.guest(g1, ip1, lv, mac + ":01"), self.guest(g2, ip2, lv, mac + ":02"))
                          if p]
            self.one("L%d.wire2guest" % lv, g1, ip1, rns, secs, "wire")
            self.one("L%d.guest2wire" % lv, rns, "10.62.0.100", g1, secs, "wire")
            self.one("L%d.guest2guest" % lv, g2, ip2, g1, secs, "vif%s.0" % pv.domid(g2))
            pv.destroy(g1)
            pv.destroy(g2)
            self.gpids = []
        pv.cli("nic", "del", "nic0")
        pv.stop()
        return True


def accel_bench(b, rows, secs, levels=(0, 1, 2, 3)):
    """From perf/bench.py: the accel.L<n>.* rows, on a pvnetd of its own (the
    bench's must be stopped first: same namespace name)."""
    pv = Pvnet(b)
    pv.run_dir += "-accel"
    ac = Accel(b, pv)
    ok = ac.bench(secs, levels)
    for label, r in ac.results:
        r = r or {}
        sc = "accel." + label
        rows.add(sc, None, "rate", "Gb/s", r.get("gbps"))
        rows.add(sc, None, "cpu_guest", "ns/pkt guest", r.get("guest"))
        rows.add(sc, None, "cpu_dom0", "ns/pkt dom0", r.get("dom0"))
        rows.add(sc, None, "cpu_hw", "ns/pkt hardware", r.get("hw"))
    return ok
