# SPDX-License-Identifier: MIT
"""perf/peers/memif.py - DPDK testpmd txonly -> rxonly over a net_memif pair,
the shared-memory limit.

Two testpmd processes, each with its own --file-prefix, --no-huge, no PCI: the
txonly server's forwarding lcore is CPU 1 (main lcore 0), the rxonly client's is
CPU 0 (main lcore 1). testpmd exits when its stdin reaches EOF, so each gets a
pipe we hold open, and line-buffered stdout (stdbuf) so its per-second
rates reach the log as they are printed; stopped with SIGINT to the PIDs started. The rate is the
median of the receiver's per-second Rx-pps lines, the first one (warm-up)
dropped.
"""
import os
import random
import re
import shutil
import subprocess
import time

from lib import log, median, sigint_wait


def ready():
    return shutil.which("dpdk-testpmd") is not None


def testpmd(b, size, secs):
    """Mpps (float) or None."""
    d = os.path.join(b.tmp, "memif.%d.%d" % (size, random.randrange(1 << 20)))
    os.makedirs(d)
    pfx = "%sm%d" % (b.tag, random.randrange(1 << 20))
    sock = os.path.join(d, "memif.sock")

    def stop(p):
        sigint_wait(p)
        if p.stdin:
            p.stdin.close()

    tx = b.spawn(["stdbuf", "-oL", "taskset", "-c", "0,1", "dpdk-testpmd", "-l", "0,1", "--main-lcore", "0", "--no-huge",
                  "-m", "512", "--no-pci", "--file-prefix", pfx + "tx",
                  "--vdev", "net_memif0,role=server,socket=" + sock, "--",
                  "--forward-mode=txonly", "--txpkts=%d" % size, "-a", "--stats-period", "1",
                  "--total-num-mbufs=32768"], stdout=os.path.join(d, "tx.log"), stdin=subprocess.PIPE,
                 stop=stop)
    # the socket is abstract by default (no file): wait for the server to run
    for _ in range(200):
        if os.path.exists(sock) or re.search(r"start packet forwarding|forwards packets on",
                                             open(os.path.join(d, "tx.log")).read()):
            break
        time.sleep(0.05)
    rx = b.spawn(["stdbuf", "-oL", "taskset", "-c", "0,1", "dpdk-testpmd", "-l", "0,1", "--main-lcore", "1", "--no-huge",
                  "-m", "512", "--no-pci", "--file-prefix", pfx + "rx",
                  "--vdev", "net_memif0,role=client,socket=" + sock, "--",
                  "--forward-mode=rxonly", "-a", "--stats-period", "1", "--total-num-mbufs=32768"],
                 stdout=os.path.join(d, "rx.log"), stdin=subprocess.PIPE, stop=stop)
    # the link is up once the receiver prints a nonzero rate (bounded: a loaded
    # machine can take seconds); then three more per-second rates at least
    for _ in range(150):
        if re.search(r"Rx-pps:\s*[1-9]", open(os.path.join(d, "rx.log")).read()) or rx.poll() is not None:
            break
        time.sleep(0.1)
    time.sleep(max(secs, 3) + 1.5)
    # the server (txonly) first: stopping the client first can crash the server
    stop(tx)
    stop(rx)
    for p in (pfx + "tx", pfx + "rx"):
        shutil.rmtree("/var/run/dpdk/" + p, ignore_errors=True)
    log_rx = open(os.path.join(d, "rx.log")).read()
    v = [int(x) for x in re.findall(r"Rx-pps:\s*([0-9]+)", log_rx) if int(x) > 0]
    v = v[1:] if len(v) > 1 else v  # the first (warm-up, partial) dropped if more follow
    if not v:
        log("memif %dB: no Rx-pps lines: %s" % (size, " ".join(log_rx.splitlines()[-3:])))
        return None
    return median(v) / 1e6
