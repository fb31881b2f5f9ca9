# SPDX-License-Identifier: MIT
"""perf/peers/vhostuser.py - DPDK virtio-user clients on vhost-user sockets.
Used by perf/bench.py (rows dpdk.vhost.virtio_user and vhost.virtio_user) and
by perf/vhostuser.py (the same rows alone, with placement, polling and profiling
options).

The peer, dpdk.vhost.virtio_user: testpmd's own pair, one testpmd with a
net_vhost port (the vhost-user backend, server socket) in rxonly mode and one
with a net_virtio_user port on that socket in txonly mode: the frame rate DPDK
reaches between a virtio-user frontend and its own backend.

pvnet, vhost.virtio_user: the same two kinds of testpmd clients, a
virtio-user txonly on one pvnet vhost-user switch port and a virtio-user rxonly
on a second one of the same bridge (`pvnet switch add-port BR NAME --type
vhostuser --socket PATH --server [--poll P]`), so the frames cross pvnetd's
switch.

Placement (both rows): the sender forwards on lcore 1 (main lcore 0), the
receiver on lcore 0 (main lcore 1), --no-huge, its own --file-prefix each;
stdin a pipe held open, stdout line-buffered; stopped with SIGINT by PID. The
rate is the median of the receiver's nonzero per-second Rx-pps, the first one
dropped. pvnetd's threads are pinned on CPU 1 with the sender for the pvnet row
(Opts.pvnetd_cpus), so the receiver has CPU 0 as the peer's receiver has: two
cores, three busy parties against two in the peer.
"""
import os
import random
import re
import shutil
import subprocess
import time

from lib import log, median, sigint_wait


class Opts:
    """Knobs of one measurement; the defaults are the bench's."""

    def __init__(self, ring=None, poll=None, mbufs=32768, during=None, pvnetd_cpus="1"):
        self.ring = ring      # testpmd --rxd/--txd (None: testpmd's default)
        self.poll = poll      # the pvnet ports' --poll (None: event mode)
        self.mbufs = mbufs    # testpmd --total-num-mbufs
        self.during = during  # called (with the rx log path) once frames flow, e.g. a profiler
        # pvnetd's threads during the pvnet row (taskset -a; None: as they are): by
        # default CPU 1 with the sender, so the receiver has CPU 0 to itself as the
        # peer's receiver has; restored to "0,1" afterwards
        self.pvnetd_cpus = pvnetd_cpus


DEFAULT = Opts()


def ready():
    return shutil.which("dpdk-testpmd") is not None


def _testpmd(b, d, name, main_lcore, vdev, fwd, o, size=None):
    pfx = "%s%s%d" % (b.tag, name, random.randrange(1 << 20))

    def stop(p):
        sigint_wait(p)
        if p.stdin:
            p.stdin.close()
        shutil.rmtree("/var/run/dpdk/" + pfx, ignore_errors=True)

    args = ["stdbuf", "-oL", "taskset", "-c", "0,1", "dpdk-testpmd", "-l", "0,1", "--main-lcore", str(main_lcore),
            "--no-huge", "-m", "512", "--no-pci", "--file-prefix", pfx, "--vdev", vdev, "--",
            "--forward-mode=" + fwd, "-a", "--stats-period", "1", "--total-num-mbufs=%d" % o.mbufs]
    if o.ring:
        args += ["--rxd=%d" % o.ring, "--txd=%d" % o.ring]
    if size:
        args.append("--txpkts=%d" % size)
    logf = os.path.join(d, name + ".log")
    p = b.spawn(args, stdout=logf, stdin=subprocess.PIPE, stop=stop)
    return p, logf, stop


def _wait_for(fn, secs):
    end = time.time() + secs
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.05)
    return False


def _rate(logf, size, what):
    txt = open(logf, errors="replace").read()
    v = [int(x) for x in re.findall(r"Rx-pps:\s*([0-9]+)", txt) if int(x) > 0]
    v = v[1:] if len(v) > 1 else v
    if not v:
        log("%s %dB: no Rx-pps: %s" % (what, size, " ".join(txt.splitlines()[-3:])))
        return None
    return median(v) / 1e6


def _measure(b, rx_socks, tx_vdev, rx_vdev, d, size, secs, what, o):
    """Starts the receiver, then the sender; SECS of nonzero rates; Mpps."""
    rx, rxlog, rxstop = _testpmd(b, d, "r", 1, rx_vdev, "rxonly", o)
    if rx_socks and not _wait_for(lambda: all(os.path.exists(s) for s in rx_socks), 15):
        log("%s: no socket %s" % (what, rx_socks))
        rxstop(rx)
        return None
    tx, _, txstop = _testpmd(b, d, "t", 0, tx_vdev, "txonly", o, size)
    _wait_for(lambda: re.search(r"Rx-pps:\s*[1-9]", open(rxlog, errors="replace").read())
              or rx.poll() is not None or tx.poll() is not None, 15)
    t0 = time.time()
    if o.during:
        o.during(rxlog)
    time.sleep(max(0.0, max(secs, 3) + 1.5 - (time.time() - t0)))
    txstop(tx)
    rxstop(rx)
    return _rate(rxlog, size, what)


def peer(b, size, secs, o=DEFAULT):
    """dpdk.vhost.virtio_user: Mpps or None."""
    d = os.path.join(b.tmp, "vu-peer.%d.%d" % (size, random.randrange(1 << 20)))
    os.makedirs(d)
    sock = os.path.join(d, "vhu.sock")
    return _measure(b, [sock], "net_virtio_user0,path=%s,queues=1" % sock,
                    "net_vhost0,iface=%s,queues=1" % sock, d, size, secs, "dpdk.vhost.virtio_user",
                    Opts(o.ring, None, o.mbufs))


def pvnet_ready(b, pv):
    """True if pvnetd takes a vhost-user switch port (probed on a scratch bridge)."""
    pv.cli("switch", "add-br", "vuprobe")
    # pvnetd takes vhost-user sockets only in its run dir
    r = pv.cli("switch", "add-port", "vuprobe", "vuprobe0", "--type", "vhostuser", "--socket",
               os.path.join(pv.run_dir, "vuprobe.sock"), "--server")
    pv.cli("switch", "del-port", "vuprobe", "vuprobe0")
    pv.cli("switch", "del-br", "vuprobe")
    if r.returncode != 0:
        log("vhost.virtio_user rows n/a: pvnet switch add-port --type vhostuser: %s"
            % " ".join((r.stdout + r.stderr).split())[:160])
        return False
    return True


def pvnet(b, pv, size, secs, o=DEFAULT, show=None):
    """vhost.virtio_user through pvnetd's switch: Mpps or None (None with a
    log line when pvnetd has no vhost-user switch port). SHOW(port-show text of
    the sending and the receiving port) is called before the ports go, when given."""
    d = os.path.join(b.tmp, "vu-pv.%d.%d" % (size, random.randrange(1 << 20)))
    os.makedirs(d)
    br = "vu%d" % size
    n = random.randrange(1 << 20)
    socks = [os.path.join(pv.run_dir, "vut%d-%d.sock" % (size, n)), os.path.join(pv.run_dir, "vur%d-%d.sock" % (size, n))]
    names = ["vt%d" % n, "vr%d" % n]  # new names each run: a removed port's name may linger

    def remove():
        for name in names:
            pv.cli("switch", "del-port", br, name)
        pv.cli("switch", "del-br", br)

    pv.cli("switch", "add-br", br)
    for name, s in zip(names, socks):
        extra = ["--poll", str(o.poll)] if o.poll is not None else []
        r = pv.cli("switch", "add-port", br, name, "--type", "vhostuser", "--socket", s, "--server", *extra)
        if r.returncode != 0:
            log("vhost.virtio_user: pvnet switch add-port --type vhostuser: %s" % (r.stdout + r.stderr).strip()[:200])
            remove()
            return None
    # pvnet is the backend (server) of both: the receiver attaches first
    rx_vdev = "net_virtio_user0,path=%s,queues=1" % socks[1]
    tx_vdev = "net_virtio_user0,path=%s,queues=1" % socks[0]
    if not _wait_for(lambda: all(os.path.exists(s) for s in socks), 5):
        log("vhost.virtio_user: pvnetd made no socket")
    if o.pvnetd_cpus:  # threads made later (the ports' own) inherit the mask
        b.run(["taskset", "-a", "-cp", o.pvnetd_cpus, str(pv.pid)])
    res = _measure(b, None, tx_vdev, rx_vdev, d, size, secs, "vhost.virtio_user", o)
    if o.pvnetd_cpus:
        b.run(["taskset", "-a", "-cp", "0,1", str(pv.pid)])
    if show:
        show(" | ".join(pv.cli("switch", "port-show", name).stdout for name in names))
    remove()
    return res
