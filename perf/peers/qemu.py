# SPDX-License-Identifier: MIT
"""perf/peers/qemu.py - HVM guests.

Both sides boot the same image (scripts/guest-image.sh: build/guest/vmlinuz,
initramfs.gz; its /init configures eth0 from pvnet.ip= and runs one-off iperf3
servers on port 5201 in a loop) with the same machine: q35, TCG, 1 vCPU, 256 MiB
on a shared memfd, virtio-net-pci with vectors=0 and no option ROM (what pvnetd
passes under TCG), so only the network backend differs.

The peer, QEMU with a plain TAP backend (QemuTap):
  H:h0 (10.80.0.1/24) <-> S:ph -- br0 -- S:qtap0 (QEMU's TAP, vhost=off) = guest eth0 10.80.0.2
QEMU runs in namespace S (it creates the TAP there), is started and stopped by
its PID, and its console goes to a file.

The second peer, DPDK's librte_vhost (QemuVhost), in the same shape as pvnet's
HVM path: the same guest's virtio-net on a vhost-user socket served by
dpdk-testpmd's net_vhost PMD, which forwards (io mode, one busy-polling lcore on
CPU_RX) to a net_tap TAP in namespace D:
  D:dtap0 (10.80.1.1/24) <-> testpmd (net_tap <-> net_vhost) <-> QEMU = guest eth0 10.80.1.2
testpmd: --no-huge, no PCI, main lcore CPU_TX (idle); the PMDs' default (no)
offloads; stdin a pipe held open; stopped with SIGINT by its PID.

pvnet (PvnetHvm): a type = "hvm" domain created through pvnetd on bridge br0
(vhost-user port) next to PV guest 1: 10.78.0.50.

iperf(b, ns_client, guest_ip, secs, reverse): iperf3 client pinned on CPU_TX
against the guest's server: {gbps, retransmits}. Retries once (the guest
restarts its one-off server after each test).
"""
import os
import shutil
import subprocess
import time

from lib import BUILD, CPU_RX, CPU_TX, ROOT, iperf_error, iperf_result, kill_proc, log, sigint_wait

IMG = os.path.join(BUILD, "guest")


def ready(b):
    if shutil.which("qemu-system-x86_64") is None:
        log("qemu-system-x86_64 missing: hvm rows n/a")
        return False
    r = b.run([os.path.join(ROOT, "scripts", "guest-image.sh"), IMG], timeout=300)
    if r.returncode != 0:
        log("guest image not buildable: %s: hvm rows n/a" % (r.stdout + r.stderr).strip().splitlines()[-1:])
        return False
    return True


def wait_console(path, secs):
    end = time.time() + secs
    while time.time() < end:
        try:
            if "PVNET-READY" in open(path, errors="replace").read():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def tail(path, n=3):
    try:
        return " ".join(open(path, errors="replace").read().splitlines()[-n:])
    except OSError:
        return ""


def qemu_cmd(name, con, netdev, mac, ip):
    return ["qemu-system-x86_64", "-name", name, "-machine", "q35,accel=tcg,memory-backend=mem0",
            "-smp", "1", "-m", "256", "-object", "memory-backend-memfd,id=mem0,size=256M,share=on",
            "-nographic", "-no-reboot", "-nodefaults", "-serial", "file:" + con, "-nic", "none"] + netdev + [
            "-device", "virtio-net-pci,netdev=n0,mac=%s,romfile=,vectors=0" % mac,
            "-kernel", os.path.join(IMG, "vmlinuz"), "-initrd", os.path.join(IMG, "initramfs.gz"),
            "-append", "console=ttyS0 quiet panic=-1 pvnet.ip=%s/24" % ip]


def iperf(b, ns_client, ip, secs, reverse=False):
    r = None
    for _ in range(2):
        time.sleep(0.5)  # the guest restarts its one-off iperf3 server after each test
        r = b.run(["iperf3", "-c", ip, "-t", str(secs), "-O", "1", "-J"] + (["-R"] if reverse else []),
                  ns=ns_client, cpu=CPU_TX, timeout=30)
        res = iperf_result(r.stdout)
        if res:
            return res
        time.sleep(1.5)
    log("iperf3 %sto guest %s failed: %s" % ("-R " if reverse else "", ip, iperf_error(r)))
    return None


class QemuTap:
    IP_H, IP_G = "10.80.0.1", "10.80.0.2"

    def __init__(self, b):
        self.b = b
        self.proc = None
        self.ns_s, self.ns_h = b.tag + "-qS", b.tag + "-qH"

    def start(self):
        b = self.b
        if not (b.ns(self.ns_s) and b.ns(self.ns_h)):
            return False
        s = ["ip", "-n", self.ns_s]
        for c in (s + ["link", "add", "br0", "type", "bridge"], s + ["link", "set", "br0", "up"],
                  s + ["link", "add", "ph", "type", "veth", "peer", "name", "h0", "netns", self.ns_h],
                  s + ["link", "set", "ph", "master", "br0", "up"],
                  ["ip", "-n", self.ns_h, "addr", "add", self.IP_H + "/24", "dev", "h0"],
                  ["ip", "-n", self.ns_h, "link", "set", "h0", "up"]):
            if not b.ok(c):
                log("qemu tap: %s failed" % " ".join(c))
                return False
        con, qlog = os.path.join(b.tmp, "qemu-tap.console"), os.path.join(b.tmp, "qemu-tap.log")
        self.proc = b.spawn(qemu_cmd("pvb-tap", con, ["-netdev", "tap,id=n0,ifname=qtap0,script=no,downscript=no,vhost=off"],
                                     "52:54:00:80:00:02", self.IP_G), ns=self.ns_s, stdout=qlog)
        for _ in range(100):
            if b.ok(s + ["link", "show", "qtap0"]) or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if not b.ok(s + ["link", "set", "qtap0", "master", "br0", "up"]):
            log("qemu tap: no qtap0: %s" % tail(qlog, 2))
            return False
        if not wait_console(con, 120):
            log("qemu tap: guest did not boot: %s" % tail(con))
            return False
        if b.ping(self.ns_h, self.IP_G):
            return True
        log("qemu tap: %s cannot reach the guest %s" % (self.IP_H, self.IP_G))
        return False

    def stop(self):
        if self.proc:
            kill_proc(self.proc)
        self.proc = None


def vhost_ready():
    if shutil.which("dpdk-testpmd") is None:
        log("dpdk-testpmd missing: librte_vhost rows n/a")
        return False
    return True


class QemuVhost:
    IP_H, IP_G = "10.80.1.1", "10.80.1.2"

    def __init__(self, b):
        self.b = b
        self.proc = self.tp = None
        self.ns = b.tag + "-qD"
        self.pfx = b.tag + "v"

    def _tp_stop(self, p):
        sigint_wait(p)
        if p.stdin:
            p.stdin.close()
        shutil.rmtree("/var/run/dpdk/" + self.pfx, ignore_errors=True)

    def start(self):
        b = self.b
        d = os.path.join(b.tmp, "qvhost")
        os.makedirs(d, exist_ok=True)
        con, sock, tlog = os.path.join(d, "console"), os.path.join(d, "vhu.sock"), os.path.join(d, "testpmd.log")
        if not b.ns(self.ns):
            return False
        self.tp = b.spawn(["stdbuf", "-oL", "dpdk-testpmd", "-l", "%d,%d" % (CPU_TX, CPU_RX), "--main-lcore", str(CPU_TX),
                           "--no-huge", "-m", "512", "--no-pci", "--file-prefix", self.pfx,
                           "--vdev", "net_vhost0,iface=%s,queues=1" % sock, "--vdev", "net_tap0,iface=dtap0", "--",
                           "--forward-mode=io", "-a", "--stats-period", "0", "--total-num-mbufs=32768"],
                          ns=self.ns, stdout=tlog, stdin=subprocess.PIPE, stop=self._tp_stop)
        for _ in range(200):
            if os.path.exists(sock) and "forwards packets on" in open(tlog, errors="replace").read():
                break
            if self.tp.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(sock):
            log("testpmd vhost: no socket: %s" % tail(tlog, 2))
            return False
        if not (b.ok(["ip", "-n", self.ns, "addr", "add", self.IP_H + "/24", "dev", "dtap0"]) and
                b.ok(["ip", "-n", self.ns, "link", "set", "dtap0", "up"])):
            log("testpmd vhost: no dtap0")
            return False
        self.proc = b.spawn(qemu_cmd("pvb-vhost", con, ["-chardev", "socket,id=c0,path=" + sock,
                                                        "-netdev", "vhost-user,id=n0,chardev=c0"],
                                     "52:54:00:80:01:02", self.IP_G), ns=self.ns, stdout=os.path.join(d, "qemu.log"))
        if not wait_console(con, 120):
            log("qemu vhost: guest did not boot: %s" % tail(con))
            return False
        if b.ping(self.ns, self.IP_G):
            return True
        log("qemu vhost: %s cannot reach the guest %s" % (self.IP_H, self.IP_G))
        return False

    def stop(self):
        if self.proc:
            kill_proc(self.proc)
        if self.tp:
            self._tp_stop(self.tp)
        self.proc = self.tp = None


class PvnetHvm:
    """The HVM guest on pvnetd's br0 (needs Pvnet.start and guest 1)."""
    IP = "10.78.0.50"

    def __init__(self, b, pv):
        self.b, self.pv = b, pv
        self.name = "pvb%dhvm" % b.pid

    def start(self):
        out = self.pv.create(self.name, 'name    = "%s"\ntype    = "hvm"\nkernel  = "%s"\nramdisk = "%s"\n'
                             "memory  = 256\nvif     = [ 'mac=52:54:00:78:00:32, bridge=br0, model=virtio, ip=%s/24' ]\n"
                             % (self.name, os.path.join(IMG, "vmlinuz"), os.path.join(IMG, "initramfs.gz"), self.IP))
        if out is None:
            return False
        con = os.path.join(self.pv.run_dir, "console-%s.log" % self.name)
        if not wait_console(con, 120):
            log("pvnet hvm guest did not boot: %s" % tail(con))
            return False
        if self.b.ping(self.pv.g[1].ns, self.IP):
            return True
        log("pvnet hvm: PV guest 1 cannot reach the HVM guest %s" % self.IP)
        return False

    def stop(self):
        self.pv.destroy(self.name)
