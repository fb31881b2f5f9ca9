#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""perf/vhostuser.py - pvnet's standalone vhost-user port against DPDK's own
vhost <-> virtio-user pair, same run, same core placement.

Rows (Mpps, median of the receiver's per-second Rx-pps lines, the first one of
each run dropped as warm-up, then the median over --runs):
  vhost.virtio_user        testpmd virtio-user txonly -> pvnet switch (two
                           `--type vhostuser` ports on one bridge) -> testpmd
                           virtio-user rxonly
  dpdk.vhost.virtio_user   testpmd virtio-user txonly -> testpmd net_vhost rxonly
                           (librte_vhost): the peer
Placement (both rows): the txonly testpmd's forwarding lcore on CPU 1 (main lcore
0), the rxonly testpmd's on CPU 0 (main lcore 1); pvnetd (vhost rows) on CPU 1
with the sender (--cpus), so the receiver has its core as in the peer; every
testpmd with --rxd/--txd 1024 (--ring): a producer and a consumer sharing one
core exchange a ring per time slice. --no-huge -m 512 --no-pci, each testpmd with its own --file-prefix.

Standalone (standard library only): `sudo perf/vhostuser.py [--sizes 64,1500]
[--secs 5] [--runs 3] [--poll on|off|USEC] [--cpus 1] [--ring 1024]
[--json FILE]`; prints one line per
row and size, and with --json the rows as a JSON list of
{"name", "size", "metric": "rate", "unit": "Mpps", "value", "peer", "peer_value"}.
Needs root (pvnetd runs in a network namespace of its own) and a built tree
(build/bin, or $PVNET_BUILD).
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PVNET_BUILD", os.path.join(ROOT, "build"))
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
BIN = os.path.join(BUILD, "bin")


def log(msg):
    print("# " + msg, file=sys.stderr, flush=True)


class Procs:
    """Processes we started, stopped by PID (SIGINT, then SIGKILL)."""

    def __init__(self):
        self.procs = []

    def spawn(self, argv, out, **kw):
        f = open(out, "w")
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.PIPE, **kw)
        self.procs.append(p)
        return p

    @staticmethod
    def stop(p, sig=signal.SIGINT, wait=10):
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(wait)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p.stdin:
            try:
                p.stdin.close()
            except OSError:
                pass

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)
        self.procs = []


RING = 1024  # --rxd/--txd of every testpmd (set by --ring)


def testpmd(procs, tag, lcore_main, vdev, fwd, size, logf):
    argv = ["stdbuf", "-oL", "taskset", "-c", "0,1", "dpdk-testpmd", "-l", "0,1", "--main-lcore",
            str(lcore_main), "--no-huge", "-m", "512", "--no-pci", "--file-prefix", tag,
            "--vdev", vdev, "--", "--forward-mode=" + fwd, "-a", "--stats-period", "1",
            "--total-num-mbufs=32768", "--rxd=%d" % RING, "--txd=%d" % RING]
    if fwd == "txonly":
        argv.append("--txpkts=%d" % size)
    return procs.spawn(argv, logf)


def rx_rate(logf):
    text = open(logf).read()
    v = [int(x) for x in re.findall(r"Rx-pps:\s*([0-9]+)", text) if int(x) > 0]
    v = v[1:] if len(v) > 1 else v
    return statistics.median(v) / 1e6 if v else None


def wait_rx(logf, rx, secs=15):
    t0 = time.time()
    while time.time() - t0 < secs:
        if re.search(r"Rx-pps:\s*[1-9]", open(logf).read()) or rx.poll() is not None:
            return
        time.sleep(0.1)


def run_pair(tmp, size, secs, rx_vdev, tx_vdev, name):
    """txonly (fwd CPU 1) -> rxonly (fwd CPU 0); returns Mpps or None."""
    procs = Procs()
    tag = "vu%d" % random.randrange(1 << 24)
    rxlog = os.path.join(tmp, "%s.%d.rx.log" % (name, size))
    txlog = os.path.join(tmp, "%s.%d.tx.log" % (name, size))
    try:
        rx = testpmd(procs, tag + "r", 1, rx_vdev, "rxonly", size, rxlog)
        time.sleep(1.5)
        testpmd(procs, tag + "t", 0, tx_vdev, "txonly", size, txlog)
        wait_rx(rxlog, rx)
        time.sleep(max(secs, 3) + 1.5)
    finally:
        procs.stop_all()
        for p in (tag + "r", tag + "t"):
            shutil.rmtree("/var/run/dpdk/" + p, ignore_errors=True)
    r = rx_rate(rxlog)
    if r is None:
        log("%s %dB: no Rx-pps: %s" % (name, size, " | ".join(open(rxlog).read().splitlines()[-3:])))
    return r


class Pvnetd:
    def __init__(self, tmp, poll, cpus):
        self.tmp = tmp
        self.ns = "pvvuperf%d" % random.randrange(1 << 20)
        self.run = os.path.join(tmp, "run")
        os.makedirs(self.run, mode=0o700)
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        env = dict(os.environ, PVNET_STATE_DIR=os.path.join(tmp, "state"), PVNET_RUN_DIR=self.run,
                   XENSTORED_PATH=os.path.join(self.run, "xenstored"))
        self.p = subprocess.Popen(["nsenter", "--net=/run/netns/" + self.ns, "taskset", "-c", cpus,
                                   os.path.join(BIN, "pvnetd"),
                                   "--foreground", "--run-dir", self.run, "--log",
                                   os.path.join(tmp, "pvnetd.log")], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(os.path.join(self.run, "pvnetd.sock")) and self.cli("info").returncode == 0:
                break
            time.sleep(0.05)
        for n in ("vu1", "vu2"):
            r = self.cli("switch", "add-port", "br0", n, "--type", "vhostuser", "--socket",
                         self.sock(n), "--poll", poll)
            if r.returncode:
                raise RuntimeError("add-port %s: %s" % (n, r.stderr))

    def sock(self, n):
        return os.path.join(self.run, n + ".sock")

    def cli(self, *args):
        return subprocess.run([os.path.join(BIN, "pvnet"), "--run-dir", self.run] + list(args),
                              capture_output=True, text=True, timeout=20)

    def close(self):
        Procs.stop(self.p, signal.SIGTERM, 15)
        subprocess.run(["ip", "netns", "del", self.ns], stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="64,1500")
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--poll", default="off", help="the vhostuser ports' --poll (default off)")
    ap.add_argument("--cpus", default="1", help="pvnetd's CPUs (taskset; default 1, the sender's core)")
    ap.add_argument("--ring", type=int, default=1024, help="testpmd --rxd/--txd (default 1024)")
    ap.add_argument("--json", help="write the rows to this file")
    a = ap.parse_args()
    global RING
    RING = a.ring
    if os.geteuid() != 0:
        log("needs root")
        return 2
    if not shutil.which("dpdk-testpmd"):
        log("dpdk-testpmd missing: no rows")
        return 0
    rows = []
    tmp = tempfile.mkdtemp(prefix="pvnet-vhostuser.")
    pv = None
    try:
        pv = Pvnetd(tmp, a.poll, a.cpus)
        for size in [int(x) for x in a.sizes.split(",")]:
            peer, ours = [], []
            for _ in range(a.runs):
                vsock = os.path.join(tmp, "dpdk-vhost.sock")
                v = run_pair(tmp, size, a.secs, "net_vhost0,iface=%s,queues=1" % vsock,
                             "net_virtio_user0,path=%s,queues=1" % vsock, "dpdk")
                if v is not None:
                    peer.append(v)
                v = run_pair(tmp, size, a.secs, "net_virtio_user0,path=%s,queues=1" % pv.sock("vu2"),
                             "net_virtio_user0,path=%s,queues=1" % pv.sock("vu1"), "pvnet")
                if v is not None:
                    ours.append(v)
            pm = statistics.median(peer) if peer else None
            om = statistics.median(ours) if ours else None
            rows.append({"name": "dpdk.vhost.virtio_user", "size": size, "metric": "rate", "unit": "Mpps",
                         "value": pm, "runs": peer})
            rows.append({"name": "vhost.virtio_user", "size": size, "metric": "rate", "unit": "Mpps",
                         "value": om, "runs": ours, "peer": "dpdk.vhost.virtio_user", "peer_value": pm})
            ratio = "%.2fx" % (om / pm) if om and pm else "n/a"
            print("%4d B  dpdk.vhost.virtio_user %s Mpps  vhost.virtio_user %s Mpps  ratio %s  (runs %s / %s)" %
                  (size, "%.3f" % pm if pm else "n/a", "%.3f" % om if om else "n/a", ratio,
                   ",".join("%.2f" % x for x in peer), ",".join("%.2f" % x for x in ours)), flush=True)
        st = pv.cli("switch", "port-show", "vu2")
        log("vu2 after the runs: " + " ".join(st.stdout.split()[-40:]))
    finally:
        if pv:
            pv.close()
        if os.environ.get("PVNET_KEEP_LOGS"):
            log("logs kept in " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
