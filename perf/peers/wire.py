# SPDX-License-Identifier: MIT
"""perf/peers/wire.py - "wire" rows: the DPDK accelerator plugin (nic-accel/dpdk)
driven through the framework API by pvnet-accel-test, over a net_memif link to
a dpdk-testpmd in macswap mode.

testpmd (server, its own --file-prefix, --no-huge) forwards on lcore 1 (main
lcore 0) and sends every frame back with the MACs swapped; pvnet-accel-test
(client) runs with --no-thread (one thread does the driver's work and the
plugin's engine, as the netback worker would), pinned on CPU_TX, and sends as
fast as it can for SECS: --bench prints wire_tx_mpps (the ethdev's TX counter:
frames onto the memif) and rx_mpps (frames back on the queue pair). The peer
is memif.testpmd (two testpmd processes, txonly -> rxonly, one direction).
"""
import os
import random
import re
import shutil
import subprocess
import time

from lib import BIN, BUILD, CPU_TX, log, sigint_wait

PLUGIN_DIR = os.path.join(BUILD, "lib", "pvnet-accel")


def ready():
    return (shutil.which("dpdk-testpmd") is not None and os.access(os.path.join(BIN, "pvnet-accel-test"), os.X_OK)
            and os.path.exists(os.path.join(PLUGIN_DIR, "dpdk.so")))


class Wire:
    def __init__(self, b):
        self.b = b
        self.proc = None

    def _stop(self, p):
        sigint_wait(p)
        if p.stdin:
            p.stdin.close()
        shutil.rmtree("/var/run/dpdk/" + self.pfx, ignore_errors=True)

    def start(self, size):
        b = self.b
        self.d = os.path.join(b.tmp, "wire.%d.%d" % (size, random.randrange(1 << 20)))
        os.makedirs(self.d)
        self.pfx = "%sw%d" % (b.tag, random.randrange(1 << 20))
        logf = os.path.join(self.d, "testpmd.log")
        self.proc = b.spawn(["stdbuf", "-oL", "taskset", "-c", "0,1", "dpdk-testpmd", "-l", "0,1", "--main-lcore", "0",
                             "--no-huge", "-m", "512", "--no-pci", "--file-prefix", self.pfx,
                             "--vdev", "net_memif0,role=server,socket=%s/memif.sock" % self.d, "--",
                             "--forward-mode=macswap", "-a", "--stats-period", "1",
                             "--total-num-mbufs=32768"], stdout=logf, stdin=subprocess.PIPE, stop=self._stop)
        # memif's socket is abstract by default (no file): wait for testpmd to forward
        for _ in range(200):
            if re.search(r"start packet forwarding|forwards packets on", open(logf).read()):
                time.sleep(0.3)
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        log("wire: testpmd macswap did not start: %s" % " ".join(open(logf).read().splitlines()[-2:]))
        return False

    def run(self, size, secs):
        """{tx_mpps (onto the wire), rx_mpps (back)} or None."""
        env = dict(os.environ, PVNET_ACCEL_DIR=PLUGIN_DIR)
        r = self.b.run([os.path.join(BIN, "pvnet-accel-test"), "--devargs",
                        "net_memif0;role=client;socket=%s/memif.sock" % self.d, "--bench", str(secs),
                        "--no-thread", "--size", str(size), "--ring", "1024"], cpu=CPU_TX, env=env,
                       timeout=secs + 30)
        kv = dict(re.findall(r"^(\w+)=([-0-9.eE+]+)$", r.stdout, re.M))
        try:
            w, x = float(kv["wire_tx_mpps"]), float(kv["rx_mpps"])
        except (KeyError, ValueError):
            w = x = 0.0
        if x <= 0:
            log("wire %dB: %s" % (size, " ".join(l for l in (r.stdout + r.stderr).splitlines()
                                                  if "error" in l or "link_up" in l)[:200]))
            return None
        return {"tx_mpps": w, "rx_mpps": x}

    def stop(self):
        if self.proc:
            self._stop(self.proc)
        self.proc = None
