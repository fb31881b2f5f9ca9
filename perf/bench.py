# SPDX-License-Identifier: MIT
"""perf/bench.py - pvnet's benchmark suite, with its peers measured in the same
run (docs/benchmarks.md explains the method and how to read the output).

  perf/bench.sh [--quick] [--json FILE] [--results DIR] [--queues N] [--workers N]
  (perf/bench.sh runs this)

Prints one header line, then one aligned line per configuration; writes the
rows as JSON to DIR/<date>-<commit>[-quick].json (DIR defaults to perf/results,
or $PB_RESULTS_DIR) and to FILE, plus a PNG chart next to the JSON when gnuplot
is there. Needs root (network namespaces).

Scenarios (label = JSON "scenario"):
  bridge.pktgen     pvnet-pktgen over AF_PACKET across the Linux bridge peer
  memif.testpmd     dpdk-testpmd txonly -> rxonly over net_memif (the
                    shared-memory limit)
  pv2pv.afpacket    pvnet-pktgen over AF_PACKET on two pvnet guests' NICs
  pv2pv.pktgen      netfront's in-ring generator (vif mode=pktgen) -> a
                    mode=sink guest: counters from data/pktgen/* in the store
  bridge.tcp.P<n> / tcp.P<n>    iperf3 with n streams (pvnet: guests m1/m2 with
                    --queues-queue vifs, default 2; --quick: guests 1 and 2)
  bridge.rr / rr    ping -i 0.001 round trips, p50/p99/p99.9
  rr.poll           the same in polling mode: netfront busy-polls and netback
                    too (vif poll=on)
  bridge.crr / crr  short TCP connections (connect, 1 KiB each way, close), one
                    at a time: connections/s, p50/p99 per connection (pvnet-crr)
  scale.<n>pairs    n guest pairs at once, 64 B: aggregate Mpps, Jain index
  dpdk.vhost.virtio_user / vhost.virtio_user   (full run only) testpmd
                    virtio-user txonly -> rxonly over testpmd's own net_vhost /
                    through two pvnet vhost-user switch ports
  wire.memif        the DPDK plugin (pvnet-accel-test --bench, one thread) over
                    net_memif to a testpmd macswap: Mpps onto the wire and back
  qemu.tap.*        peer: QEMU (TCG) guest on a plain TAP backend on a Linux
                    bridge, iperf3 with a namespace on that bridge, both ways
  dpdk.vhost.*      peer (full run only): the same guest on DPDK's librte_vhost
                    (testpmd net_vhost forwarding to a net_tap), iperf3 from
                    that TAP's namespace
  hvm2pv.*          iperf3 between a QEMU (TCG) HVM guest created by pvnetd
                    (vhost-user port) and PV guest 1 on the same bridge, both ways
  accel.L<n>.*      (full run only) NIC accelerator levels 0-3 (peers/accel.py)
A pvnet row whose PV NIC cannot carry traffic is "n/a (PV NIC not ready)".
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import CPU_RX, CPU_TX, ROOT, Bench, Rows, log, median_runs  # noqa: E402
from peers import memif, qemu, vhostuser, wire  # noqa: E402
from peers.accel import accel_bench  # noqa: E402
from peers.bridge import Bridge  # noqa: E402
from peers.pvnet import Pvnet  # noqa: E402
from density import density  # noqa: E402  (density.* rows: perf/density.py)

BURST = 32
RING = 1024
PV_ROWS = re.compile(r"^(pv2pv|tcp|rr|crr|scale|hvm2pv|vhost\.)")


class Config:
    def __init__(self, quick):
        self.quick = quick
        if quick:
            self.runs, self.secs, self.sizes, self.memif_sizes = 1, 1, [64, 1500], [64]
            self.streams, self.rr_count, self.scale = [1], 300, [1, 2]
        else:
            self.runs, self.secs, self.sizes, self.memif_sizes = 3, 2, [64, 512, 1500], [64, 1500]
            self.streams, self.rr_count, self.scale = [1, 4], 2000, [1, 2, 4, 8]
        self.hvm_secs = self.secs + 1  # iperf3 seconds of the hvm rows (plus 1 s omitted)
        self.crr_secs = self.secs


def commit_id():
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    c = r.stdout.strip() or "unknown"
    if subprocess.run(["git", "-C", ROOT, "diff", "--quiet", "HEAD", "--"], capture_output=True).returncode != 0:
        c += "+dirty"
    return c


class Suite:
    def __init__(self, b, cfg):
        self.b, self.cfg = b, cfg
        self.rows = Rows()
        self.br = Bridge(b)
        self.pv = Pvnet(b)
        self.pv.workers = cfg.workers
        self.br_ok = self.pv_ok = self.memif_ok = False

    def runs(self, fn, *args):
        """FN(*ARGS) cfg.runs times; the per-key medians of its result dicts
        (statistics.median; None results and values ignored)."""
        return median_runs([fn(*args) for _ in range(self.cfg.runs)])

    def add(self, *a, **kw):
        self.rows.add(*a, **kw)

    # --- setup -----------------------------------------------------------------
    def setup(self):
        cfg = self.cfg
        self.br_ok = self.br.setup()
        if not self.br_ok:
            log("bridge peer setup failed")
        self.memif_ok = memif.ready()
        if not self.memif_ok:
            log("dpdk-testpmd missing (dpdk-dev): memif rows n/a")
        self.nguests = max([2] + [2 * n for n in cfg.scale])
        self.pv_ok = self.pv.start() and self.pv.guests_from(1, 2) and self.pv.ready()
        if not self.pv_ok:
            log("pvnet: guest 1 cannot ping guest 2: pvnet rows are n/a (PV NIC not ready)")

    # --- frame rates -------------------------------------------------------------
    def pv_pktgen(self, size):
        """pvnet-pktgen guest 1 -> guest 2, with dom0 and guest CPU per delivered
        frame (cpu_total = dom0 + pvnet-guest processes + the two pktgen processes)."""
        pv, g1, g2 = self.pv, self.pv.g[1], self.pv.g[2]
        d0, c0 = pv.cpu_dom0(), pv.cpu_guests()
        mac = self.b.read(g1.ns, "/sys/class/net/%s/address" % g1.ifname)
        # the vif port drops spoofed sources: the guest's own MAC and IP
        res = self.b.pktgen(g1.ns, g1.ifname, g2.ns, g2.ifname, size, self.cfg.secs,
                            ["--src-mac", mac, "--src-ip", g1.ip, "--dst-ip", g2.ip])
        d1, c1 = pv.cpu_dom0(), pv.cpu_guests()
        if not res:
            return None
        dn, gn = (d1 - d0) / res["rx_frames"], (c1 - c0) / res["rx_frames"]
        return dict(res, cpu_dom0=dn, cpu_guest=gn, cpu_total=res["cpu_ns"] + dn + gn)

    def frame_rates(self):
        cfg, b = self.cfg, self.b
        for size in cfg.sizes:
            br, pv, mm = {}, {}, None
            if self.br_ok:
                br = self.runs(b.pktgen, self.br.ns_a, Bridge.IF_A, self.br.ns_b, Bridge.IF_B, size, cfg.secs)
            if self.memif_ok and size in cfg.memif_sizes:
                mm = lib.median([memif.testpmd(b, size, cfg.secs) for _ in range(cfg.runs)])
                self.add("memif.testpmd", size, "rate", "Mpps", mm)
                self.add("memif.testpmd", size, "throughput", "Gb/s", mm * size * 8 / 1000 if mm else None)
            mpeer = "memif.testpmd" if mm is not None else None
            self.add("bridge.pktgen", size, "rate", "Mpps", br.get("mpps"), mpeer, mm)
            self.add("bridge.pktgen", size, "throughput", "Gb/s", br.get("gbps"))
            self.add("bridge.pktgen", size, "loss", "% loss", br.get("loss"))
            self.add("bridge.pktgen", size, "cpu_total", "ns/pkt all", br.get("cpu_ns"))
            if self.pv_ok:
                pv = self.runs(self.pv_pktgen, size)
            self.add("pv2pv.afpacket", size, "rate", "Mpps", pv.get("mpps"), "bridge.pktgen", br.get("mpps"))
            if mm is not None:
                self.add("pv2pv.afpacket", size, "rate", "Mpps", pv.get("mpps"), "memif.testpmd", mm)
            self.add("pv2pv.afpacket", size, "throughput", "Gb/s", pv.get("gbps"))
            self.add("pv2pv.afpacket", size, "loss", "% loss", pv.get("loss"))
            self.add("pv2pv.afpacket", size, "cpu_dom0", "ns/pkt dom0", pv.get("cpu_dom0"))
            self.add("pv2pv.afpacket", size, "cpu_guest", "ns/pkt guest", pv.get("cpu_guest"))
            self.add("pv2pv.afpacket", size, "cpu_total", "ns/pkt all", pv.get("cpu_total"),
                     "bridge.pktgen", br.get("cpu_ns"))

    # --- netfront's in-ring generator -> sink (no TAP, no guest kernel) -----------
    def inring(self):
        for size in self.cfg.sizes:
            pg = {}
            if self.pv_ok:
                if self.pv.app_pair(size):
                    pg = self.runs(self.pv.app_run, self.cfg.secs)
                else:
                    log("pvnet: pktgen/sink pair %dB failed" % size)
                self.pv.app_destroy()
            self.add("pv2pv.pktgen", size, "rate", "Mpps", pg.get("mpps"), "bridge.pktgen",
                     self.rows.get("bridge.pktgen", size, "rate"))
            mm = self.rows.get("memif.testpmd", size, "rate")
            if mm is not None:
                self.add("pv2pv.pktgen", size, "rate", "Mpps", pg.get("mpps"), "memif.testpmd", mm)
            self.add("pv2pv.pktgen", size, "throughput", "Gb/s", pg.get("gbps"))
            self.add("pv2pv.pktgen", size, "loss", "% loss", pg.get("loss"))
            self.add("pv2pv.pktgen", size, "cpu_dom0", "ns/pkt dom0", pg.get("cpu_dom0"))
            self.add("pv2pv.pktgen", size, "cpu_guest", "ns/pkt guest", pg.get("cpu_guest"))

    # --- wire: the DPDK plugin over net_memif to testpmd macswap -------------------
    def wire(self):
        ok = wire.ready()
        if not ok:
            log("wire: dpdk-testpmd, pvnet-accel-test or dpdk.so missing: wire rows n/a")
        for size in self.cfg.memif_sizes:
            wr = {}
            if ok:
                w = wire.Wire(self.b)
                if w.start(size):
                    wr = self.runs(w.run, size, self.cfg.secs)
                w.stop()
            mm = self.rows.get("memif.testpmd", size, "rate")
            peer = "memif.testpmd" if mm is not None else None
            back = wr.get("rx_mpps")
            self.add("wire.memif", size, "rate", "Mpps back", back, peer, mm)
            self.add("wire.memif", size, "tx_rate", "Mpps to wire", wr.get("tx_mpps"), peer, mm)
            self.add("wire.memif", size, "throughput", "Gb/s back", back * size * 8 / 1000 if back else None)

    # --- vhost-user: DPDK virtio-user clients, through pvnet's switch and DPDK's own pair ---
    def vhostuser(self):
        """Full runs only (~50 s): testpmd virtio-user txonly -> pvnet vhost-user
        port -> switch -> vhost-user port -> testpmd virtio-user rxonly, against
        testpmd's own net_vhost <-> net_virtio_user pair on the same cores."""
        if self.cfg.quick:
            return
        b, ok = self.b, vhostuser.ready()
        pv_ok = ok and self.pv_ok and vhostuser.pvnet_ready(b, self.pv)
        for size in (64, 1500):
            pr = lib.median([vhostuser.peer(b, size, self.cfg.secs) for _ in range(self.cfg.runs)]) if ok else None
            pv = (lib.median([vhostuser.pvnet(b, self.pv, size, self.cfg.secs) for _ in range(self.cfg.runs)])
                  if pv_ok else None)
            self.add("dpdk.vhost.virtio_user", size, "rate", "Mpps", pr)
            self.add("dpdk.vhost.virtio_user", size, "throughput", "Gb/s", pr * size * 8 / 1000 if pr else None)
            self.add("vhost.virtio_user", size, "rate", "Mpps", pv, "dpdk.vhost.virtio_user", pr)
            self.add("vhost.virtio_user", size, "throughput", "Gb/s", pv * size * 8 / 1000 if pv else None)

    # --- TCP -------------------------------------------------------------------------
    def pv_timed(self, fn, *args):
        """FN(*ARGS) with pvnetd's and the guests' CPU over it, in % of one core."""
        pv = self.pv
        d0, g0, t0 = pv.cpu_dom0(), pv.cpu_guests(), time.monotonic_ns()
        res = fn(*args)
        d1, g1, t1 = pv.cpu_dom0(), pv.cpu_guests(), time.monotonic_ns()
        if res is None:
            return None
        return dict(res, cpu_dom0=100.0 * (d1 - d0) / (t1 - t0), cpu_guest=100.0 * (g1 - g0) / (t1 - t0))

    def tcp(self):
        """On guests m1/m2 with cfg.queues-queue vifs (default 2): iperf3's streams
        spread over the queues, served by pvnetd's cfg.workers workers. Quick runs
        (one stream only) use guests 1 and 2 and save the two extra guests' boot."""
        b, g = self.b, self.pv.g
        use_mq = max(self.cfg.streams) > 1
        mq_ok = self.pv_ok and (not use_mq or self.pv.mq_pair(self.cfg.queues))
        if self.pv_ok and not mq_ok:
            log("pvnet: the %d-queue guests cannot ping each other: tcp rows n/a" % self.cfg.queues)
        if use_mq:
            g = self.pv.mq
        for p in self.cfg.streams:
            br = pv = {}
            if self.br_ok:
                br = self.runs(b.iperf, self.br.ns_a, self.br.ns_b, Bridge.IP_B, p, self.cfg.secs + 1)
            self.add("bridge.tcp.P%d" % p, None, "throughput", "Gb/s", br.get("gbps"))
            self.add("bridge.tcp.P%d" % p, None, "retransmits", "retransmits", br.get("retransmits"))
            if mq_ok:
                pv = self.runs(self.pv_timed, b.iperf, g[1].ns, g[2].ns, g[2].ip, p, self.cfg.secs + 1)
            self.add("tcp.P%d" % p, None, "throughput", "Gb/s", pv.get("gbps"), "bridge.tcp.P%d" % p, br.get("gbps"))
            self.add("tcp.P%d" % p, None, "retransmits", "retransmits", pv.get("retransmits"))
            self.add("tcp.P%d" % p, None, "cpu_dom0", "% cpu dom0", pv.get("cpu_dom0"))
            self.add("tcp.P%d" % p, None, "cpu_guest", "% cpu guests", pv.get("cpu_guest"))
        if self.pv_ok and use_mq:
            self.pv.mq_destroy()

    # --- request/response and short connections -----------------------------------
    def rr(self):
        b, g, n = self.b, self.pv.g, self.cfg.rr_count
        br = self.runs(b.rr, self.br.ns_a, Bridge.IP_B, n) if self.br_ok else {}
        pv = self.runs(b.rr, g[1].ns, g[2].ip, n) if self.pv_ok else {}
        for m in ("p50", "p99", "p99.9"):
            self.add("bridge.rr", None, m, "us " + m, br.get(m))
        for m in ("p50", "p99", "p99.9"):
            self.add("rr", None, m, "us " + m, pv.get(m), "bridge.rr", br.get(m))
        # the same in polling mode (netfront and netback busy-poll instead of sleeping)
        pv = {}
        if self.pv_ok:
            if self.pv.poll_pair():
                pp = self.pv.poll
                pv = self.runs(b.rr, pp[1].ns, pp[2].ip, n)
            else:
                log("pvnet: polling-mode guests cannot ping each other")
            self.pv.poll_destroy()
        for m in ("p50", "p99", "p99.9"):
            self.add("rr.poll", None, m, "us " + m, pv.get(m), "bridge.rr", br.get(m))

    def crr(self):
        b, g, secs = self.b, self.pv.g, self.cfg.crr_secs
        br = self.runs(b.crr, self.br.ns_a, self.br.ns_b, Bridge.IP_B, secs) if self.br_ok else {}
        pv = self.runs(self.pv_timed, b.crr, g[1].ns, g[2].ns, g[2].ip, secs) if self.pv_ok else {}
        self.add("bridge.crr", None, "rate", "conn/s", br.get("rate"))
        self.add("bridge.crr", None, "p50", "us p50", br.get("p50"))
        self.add("bridge.crr", None, "p99", "us p99", br.get("p99"))
        self.add("crr", None, "rate", "conn/s", pv.get("rate"), "bridge.crr", br.get("rate"))
        self.add("crr", None, "p50", "us p50", pv.get("p50"), "bridge.crr", br.get("p50"))
        self.add("crr", None, "p99", "us p99", pv.get("p99"), "bridge.crr", br.get("p99"))
        self.add("crr", None, "cpu_dom0", "% cpu dom0", pv.get("cpu_dom0"))
        self.add("crr", None, "cpu_guest", "% cpu guests", pv.get("cpu_guest"))

    # --- HVM: QEMU (TCG) guests, TAP peer vs pvnetd's vhost-user port ---------------
    def hvm(self):
        """The peer first, then pvnet: one QEMU alive at a time. A second peer in
        full runs (~25 s): the same guest on DPDK's librte_vhost."""
        b, cfg, pv = self.b, self.cfg, self.pv
        if cfg.quick:  # two TCG boots are half of a quick run; test_hvm covers the path
            log("hvm: full runs only")
            return
        dirs = [("host_to_guest", "pv_to_hvm", False), ("guest_to_host", "hvm_to_pv", True)]
        qt, qv, ph = {}, {}, {}

        def cpu_pct(pids, fn, *args):
            c0, t0 = sum(lib.task_cpu_ns(p) for p in pids), time.monotonic_ns()
            res = fn(*args)
            c1, t1 = sum(lib.task_cpu_ns(p) for p in pids), time.monotonic_ns()
            return dict(res, cpu=100.0 * (c1 - c0) / (t1 - t0)) if res else None

        if qemu.ready(b):
            tap = qemu.QemuTap(b)
            if tap.start():
                for d, _, rev in dirs:
                    qt[d] = self.runs(cpu_pct, [tap.proc.pid], qemu.iperf, b, tap.ns_h, tap.IP_G, cfg.hvm_secs, rev)
            tap.stop()
            if not cfg.quick:
                vh = qemu.QemuVhost(b)
                if qemu.vhost_ready() and vh.start():
                    for d, _, rev in dirs:
                        qv[d] = self.runs(cpu_pct, [vh.proc.pid, vh.tp.pid], qemu.iperf, b, vh.ns, vh.IP_G,
                                          cfg.hvm_secs, rev)
                vh.stop()
            if self.pv_ok:
                h = qemu.PvnetHvm(b, pv)
                if h.start():
                    for d, _, rev in dirs:
                        ph[d] = self.runs(self.pv_timed, qemu.iperf, b, pv.g[1].ns, h.IP, cfg.hvm_secs, rev)
                h.stop()
        for d, sc, _ in dirs:
            peer, vpeer, sc = "qemu.tap." + d, "dpdk.vhost." + d, "hvm2pv." + sc
            t, v, p = qt.get(d, {}), qv.get(d, {}), ph.get(d, {})
            self.add(peer, None, "throughput", "Gb/s", t.get("gbps"))
            self.add(peer, None, "retransmits", "retransmits", t.get("retransmits"))
            self.add(peer, None, "cpu_qemu", "% cpu qemu", t.get("cpu"))
            if not cfg.quick:
                self.add(vpeer, None, "throughput", "Gb/s", v.get("gbps"))
                self.add(vpeer, None, "retransmits", "retransmits", v.get("retransmits"))
                self.add(vpeer, None, "cpu_qemu", "% cpu qemu+testpmd", v.get("cpu"))
            self.add(sc, None, "throughput", "Gb/s", p.get("gbps"), peer, t.get("gbps"))
            if not cfg.quick:
                self.add(sc, None, "throughput", "Gb/s", p.get("gbps"), vpeer, v.get("gbps"))
            self.add(sc, None, "retransmits", "retransmits", p.get("retransmits"))
            self.add(sc, None, "cpu_dom0", "% cpu dom0", p.get("cpu_dom0"))
            self.add(sc, None, "cpu_guest", "% cpu guests+qemu", p.get("cpu_guest"))

    # --- scale: n guest pairs at once --------------------------------------------
    def scale_once(self, n):
        b, g = self.b, self.pv.g
        procs = []
        for i in range(1, n + 1):
            s, r = g[2 * i - 1], g[2 * i]
            mac = b.read(s.ns, "/sys/class/net/%s/address" % s.ifname)
            # all pairs at once
            procs.append(_thread(lambda s=s, r=r, mac=mac: b.pktgen(
                s.ns, s.ifname, r.ns, r.ifname, 64, self.cfg.secs,
                ["--src-mac", mac, "--src-ip", s.ip, "--dst-ip", r.ip])))
        res = [_join(p) for p in procs]
        if any(x is None for x in res):
            return None
        x = [r["mpps"] for r in res]
        q = sum(v * v for v in x)
        return {"total": sum(x), "jain": sum(x) ** 2 / (len(x) * q) if q else None}

    def scale(self):
        cfg = self.cfg
        if self.pv_ok and self.nguests > 2:
            # guests 3.. are created only now, so the rows above ran with two guests
            if not self.pv.guests_from(3, self.nguests):
                log("scale: could not create %d guests" % self.nguests)
        for n in cfg.scale:
            sc = {}
            g = self.pv.g.get(2 * n)
            if self.pv_ok and g and g.ifname and all(self.pv.g.get(i) for i in range(1, 2 * n + 1)):
                sc = self.runs(self.scale_once, n)
            self.add("scale.%dpairs" % n, 64, "rate", "Mpps total", sc.get("total"))
            self.add("scale.%dpairs" % n, 64, "fairness", "Jain index", sc.get("jain"))

    # --- accelerator levels 0-3 (full runs only; docs/nic-levels.md) -----------------
    def accel(self):
        if self.cfg.quick or not self.pv_ok:
            return
        self.pv.stop()  # accel_bench starts its own pvnetd (same namespace name)
        if not accel_bench(self.b, self.rows, self.cfg.secs + 1):
            log("accel rows: accel_bench failed")


def _thread(fn):
    """Runs FN in a thread; _join gives its result (the work is in subprocesses,
    which run in parallel; Bench.cleanup stops them on exit)."""
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", fn()), daemon=True)
    t.start()
    return t, box


def _join(tb):
    t, box = tb
    t.join()
    return box.get("r")


def main():
    ap = argparse.ArgumentParser(prog="perf/bench.sh", description="pvnet benchmark suite (docs/benchmarks.md)")
    ap.add_argument("--quick", action="store_true", help="reduced set, 1 run each")
    ap.add_argument("--json", metavar="FILE", help="also copy the JSON rows to FILE")
    ap.add_argument("--queues", type=int, default=int(os.environ.get("PB_QUEUES", "2")), metavar="N",
                    help="queues per vif of the guests of the tcp rows (default 2, or $PB_QUEUES)")
    ap.add_argument("--workers", type=int, default=int(os.environ.get("PB_WORKERS", "2")), metavar="N",
                    help="pvnetd --workers (netback worker threads; default 2, one per core here, "
                         "or $PB_WORKERS)")
    ap.add_argument("--results", metavar="DIR",
                    default=os.environ.get("PB_RESULTS_DIR", os.path.join(ROOT, "perf", "results")))
    a = ap.parse_args()
    cfg = Config(a.quick)
    cfg.queues = a.queues
    cfg.workers = a.workers
    # HVM guests under TCG, pvnetd's and the QEMU/TAP peer's (kvm-pvm here boots
    # only PVM guest kernels)
    os.environ["PVNET_HVM_ACCEL"] = "tcg"
    if os.geteuid() != 0:
        print("bench: needs root (network namespaces)", file=sys.stderr)
        return 1
    for c in ("ip", "taskset", "iperf3", "ping", "nsenter", "ss"):
        if shutil.which(c) is None:
            print("bench: needs %s (scripts/deps.sh)" % c, file=sys.stderr)
            return 1
    for p in ("pvnet-pktgen", "pvnet-crr"):
        if not os.access(os.path.join(lib.BIN, p), os.X_OK):
            print("bench: %s not built (make)" % os.path.join(lib.BIN, p), file=sys.stderr)
            return 1
    b = Bench()
    try:
        return run(b, cfg, a)
    finally:
        b.cleanup()


def run(b, cfg, a):
    commit = commit_id()
    date = time.strftime("%Y%m%d-%H%M%S")
    t0 = time.time()
    print("# pvnet bench %s: cores=%d (%s) placement=tx:cpu%d,rx:cpu%d,pvnetd+guests:unpinned,"
          "testpmd:fwd-lcores 1/0 batch=%d ring=%d runs=%d x %ds (median) hvm=qemu-tcg(1vcpu,256M,iperf3 %ds) "
          "wire=dpdk-plugin,1thread:cpu%d crr=pvnet-crr(1KiB each way,1 conn at a time,%ds) tcp-vif-queues=%d workers=%d load=%s "
          "commit=%s"
          % ("quick" if cfg.quick else "full", os.cpu_count(), lib.cpu_model(), CPU_TX, CPU_RX, BURST, RING,
             cfg.runs, cfg.secs, cfg.hvm_secs, CPU_TX, cfg.crr_secs, cfg.queues, cfg.workers, "%.1f" % os.getloadavg()[0], commit),
          flush=True)
    s = Suite(b, cfg)
    t = time.time()
    s.setup()
    log("setup: %.1f s" % (time.time() - t))
    for step in (s.frame_rates, s.inring, s.wire, s.vhostuser, s.tcp, s.rr, s.crr, s.hvm, s.scale, s.accel):
        t = time.time()
        try:
            step()
        except Exception as e:  # noqa: BLE001 - one failed section leaves its rows n/a
            log("%s failed: %r" % (step.__name__, e))
        log("%s: %.1f s" % (step.__name__, time.time() - t))
    t = time.time()  # density.*: its own pvnetd and guests (perf/density.py)
    try:
        density(b, s.rows, cfg.quick)
    except Exception as e:  # noqa: BLE001 - its rows stay missing
        log("density failed: %r" % e)
    log("density: %.1f s" % (time.time() - t))
    # --- output -----------------------------------------------------------------
    for line in s.rows.table():
        if not s.pv_ok and PV_ROWS.match(line):
            line = "%-26s%10s" % (line[:26], "n/a (PV NIC not ready)")
        print(line)
    if not s.pv_ok:
        print("# pvnet rows: n/a (PV NIC not ready: guest 1 could not ping guest 2 through pvnetd)")
    os.makedirs(a.results, exist_ok=True)
    base = os.path.join(a.results, "%s-%s%s" % (date, commit, "-quick" if cfg.quick else ""))
    with open(base + ".json", "w") as f:
        f.write(s.rows.json_text())
    if a.json:
        shutil.copyfile(base + ".json", a.json)
    write_chart(b, s.rows, base, commit, date)
    print("# results: %s.json %s(%d s)" % (base, base + ".png " if os.path.exists(base + ".png") else "",
                                          time.time() - t0), flush=True)
    return 0


def write_chart(b, rows, base, commit, date):
    """Chart data: frame rate per size for each system (columns: size, bridge,
    memif, pv2pv.afpacket, pv2pv.pktgen, wire.memif back; NaN = not measured),
    and the PNG from perf/plot.gp."""
    cols = ["bridge.pktgen", "memif.testpmd", "pv2pv.afpacket", "pv2pv.pktgen", "wire.memif"]
    sizes = sorted({r["size"] for r in rows.rows if r["metric"] == "rate" and r["size"] is not None})
    with open(base + ".dat", "w") as f:
        for z in sizes:
            vals = [rows.get(c, z, "rate") for c in cols]
            f.write("%d %s\n" % (z, " ".join("NaN" if v is None else "%.6g" % v for v in vals)))
    if shutil.which("gnuplot"):
        r = b.run(["gnuplot", "-e", "datafile='%s.dat'; outfile='%s.png'; title='pvnet bench %s %s'"
                   % (base, base, commit, date), os.path.join(ROOT, "perf", "plot.gp")], timeout=60)
        if r.returncode != 0:
            log("gnuplot: %s" % " ".join(r.stderr.splitlines()[:3]))


if __name__ == "__main__":
    sys.exit(main())
