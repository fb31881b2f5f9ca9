# SPDX-License-Identifier: MIT
"""perf/peers/pvnet.py - not a peer: the system under test, set up the way the
peers are.

pvnetd runs in a fresh "dom0" namespace (nsenter --net, so the guests'
namespace mounts propagate), with its run dir in the bench's temp dir. Guests
come from generated xl-style configs with unique names and netns=, one vif each
on bridge br0: guest i has MAC 00:16:3e:77:00:<i> and 10.78.0.<i>/24.

  Pvnet.start()              pvnetd up (pid)
  Pvnet.guests_from(a, n)    guests a..n (Guest: name, ns, ifname, ip)
  Pvnet.ready()              guest 1 pings guest 2 (the PV NIC carries traffic)
  Pvnet.poll_pair(nb_poll)   guests p1/p2 (10.78.0.20<i>) whose netfront busy-polls
                             (PVNET_NF_POLL_US=always) and whose vifs get
                             poll=NB_POLL (on: netback polls too): rr in polling
                             mode. poll_destroy() after use: they keep a core busy.
  Pvnet.mq_pair(queues)      guests m1/m2 (10.78.0.21<i>) with multi-queue vifs
                             (the TCP rows); mq_destroy() after use
  Pvnet.cpu_dom0() / cpu_guests()   CPU ns so far of pvnetd's threads / of the
                             pvnet-guest processes (pvnetd's descendants)
  Pvnet.app_pair(size) / app_run(secs) / app_destroy()
                             netfront's in-ring generator (vif mode=pktgen) and
                             sink (mode=sink) alone on bridge pg<size>
"""
import os
import time

from lib import BIN, kill_proc, log, task_cpu_ns, tree_pids


class Guest:
    def __init__(self, name, ns, ip, mac):
        self.name, self.ns, self.ip, self.mac = name, ns, ip, mac
        self.ifname = None


class Pvnet:
    def __init__(self, b):
        self.b = b
        self.proc = None
        self.ns = b.tag + "-dom0"
        self.run_dir = os.path.join(b.tmp, "run")
        self.g = {}     # index -> Guest
        self.poll = {}  # 1, 2 -> Guest (polling mode)
        self.app = None
        self.queues = 1  # of the guests' vifs (guests_from)
        self.mq = {}  # 1, 2 -> Guest (multi-queue vifs, mq_pair)
        self.workers = 1  # pvnetd --workers (netback worker threads)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def cli(self, *args, timeout=30):
        return self.b.run([os.path.join(BIN, "pvnet"), "--run-dir", self.run_dir] + list(args), timeout=timeout)

    def xs(self, *args):
        env = dict(os.environ, XENSTORED_PATH=os.path.join(self.run_dir, "xenstored"))
        return self.b.run(list(args), env=env, timeout=10)

    def xs_read(self, path):
        r = self.xs("xenstore-read", path)
        return r.stdout.strip() if r.returncode == 0 else None

    def start(self):
        b = self.b
        if not (os.access(os.path.join(BIN, "pvnetd"), os.X_OK) and os.access(os.path.join(BIN, "pvnet"), os.X_OK)):
            log("pvnet: not built")
            return False
        if not b.ns(self.ns):
            return False
        # the polling-mode guests of poll_pair run pvnet-guest with
        # PVNET_NF_POLL_US=always (pvnetd's per-domain guest binary override)
        wrapper = os.path.join(b.tmp, "pvnet-guest-poll")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nPVNET_NF_POLL_US=always exec "%s" "$@"\n' % os.path.join(BIN, "pvnet-guest"))
        os.chmod(wrapper, 0o755)
        env = dict(os.environ)
        for i in (1, 2):
            env["PVNET_GUEST_BIN_pvb%dp%d" % (b.pid, i)] = wrapper
        self.log = os.path.join(b.tmp, "pvnetd.log")
        self.proc = b.spawn(["nsenter", "--net=/run/netns/" + self.ns, os.path.join(BIN, "pvnetd"), "--foreground",
                             "--run-dir", self.run_dir, "--state-dir", os.path.join(b.tmp, "pvnetd-state"),
                             "--log", self.log, "--workers", str(self.workers)], env=env)
        for _ in range(100):
            if os.path.exists(os.path.join(self.run_dir, "pvnetd.sock")) and self.cli("info").returncode == 0:
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        log("pvnetd did not start: %s" % self.log_tail())
        return False

    def log_tail(self, n=3):
        try:
            return " ".join(open(self.log).read().splitlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        """Shuts every guest down (they outlive pvnetd otherwise, waiting to be
        re-adopted), stops pvnetd and removes its namespace."""
        if self.proc:
            if self.proc.poll() is None:
                self.cli("shutdown", "--all", "--wait", timeout=60)
            kill_proc(self.proc)
        self.b.run(["ip", "netns", "del", self.ns])

    def create(self, name, cfg_text):
        """Creates domain NAME from CFG_TEXT; registers its destroy (and its
        namespace's removal) for cleanup. The CLI's stdout on success, else None."""
        cfg = os.path.join(self.b.tmp, name + ".cfg")
        with open(cfg, "w") as f:
            f.write(cfg_text)
        r = self.cli("create", cfg, timeout=60)
        if r.returncode != 0:
            log("pvnet create %s: %s" % (name, (r.stdout + r.stderr).strip()[:300]))
            return None
        self.b.cleanup_add(lambda: self.cli("destroy", name, timeout=15))
        return r.stdout + r.stderr

    def destroy(self, name):
        self.cli("destroy", name, timeout=15)

    def netns_cleanup(self, ns):
        self.b.cleanup_add(lambda: self.b.run(["ip", "netns", "del", ns]))

    def guests_from(self, first, n):
        for i in range(first, n + 1):
            name = "pvb%dg%d" % (self.b.pid, i)
            mac = "00:16:3e:77:00:%02x" % i
            g = Guest(name, "%s-g%d" % (self.b.tag, i), "10.78.0.%d" % i, mac)
            ok = self.create(name, 'name   = "%s"\nmemory = 64\nnetns  = "%s"\n'
                             "vif    = [ 'mac=%s, bridge=br0, ip=%s/24, mtu=1500, queues=%d' ]\n"
                             % (name, g.ns, mac, g.ip, self.queues))
            self.netns_cleanup(g.ns)
            if ok is None:
                return False
            self.g[i] = g
            g.ifname = self.wait_ifname(g.ns, mac)
        return True

    def wait_ifname(self, ns, mac, tries=60):
        for _ in range(tries):
            r = self.b.run(["ip", "-n", ns, "-o", "link"])
            for line in r.stdout.splitlines():
                if mac.lower() in line.lower():
                    return line.split(": ")[1].split("@")[0]
            time.sleep(0.05)
        return None

    def ready(self):
        g1, g2 = self.g.get(1), self.g.get(2)
        if not (g1 and g2 and g1.ifname and g2.ifname):
            return False
        return self.b.ping(g1.ns, g2.ip, tries=3, interval=0)

    def cpu_dom0(self):
        return task_cpu_ns(self.pid)

    def cpu_guests(self):
        return sum(task_cpu_ns(p) for p in tree_pids(self.pid) if p != self.pid)

    def domid(self, name):
        for line in self.cli("list").stdout.splitlines():
            f = line.split()
            if len(f) >= 2 and f[0] == name:
                return f[1]
        return None

    # --- netfront's in-ring generator and sink ------------------------------
    def app_pause(self, d, on):
        """Writes control/pktgen and waits until the guest has published settled
        counters (data/pktgen/paused = 1 / 0)."""
        self.xs("xenstore-write", "/local/domain/%s/control/pktgen" % d, "stop" if on else "start")
        want = "1" if on else "0"
        for _ in range(200):
            if self.xs_read("/local/domain/%s/data/pktgen/paused" % d) == want:
                return True
            time.sleep(0.01)
        log("pvnet: domain %s did not acknowledge pktgen %s" % (d, "on" if on else "off"))
        return False

    def app_ctr(self, d, key):
        v = self.xs_read("/local/domain/%s/data/pktgen/%s" % (d, key))
        try:
            return int(v)
        except (TypeError, ValueError):
            return 0

    def app_pair(self, size):
        """A generator guest (mode=pktgen, SIZE-byte frames, as fast as it can)
        and a sink guest (mode=sink) alone on bridge pg<SIZE>; no TAP in either.
        The generator is left paused. True when both vifs are Connected."""
        self.app = {"size": size, "gen": None, "sink": None}
        for role in ("sink", "gen"):
            name = "pvb%d%s%d" % (self.b.pid, role, size)
            spec, mac = ("mode=pktgen, pkt=%d, pps=0" % size, "01") if role == "gen" else ("mode=sink", "02")
            ns = "%s-%s%d" % (self.b.tag, role, size)
            ok = self.create(name, 'name   = "%s"\nmemory = 64\nnetns  = "%s"\n'
                             "vif    = [ 'mac=00:16:3e:78:00:%s, bridge=pg%d, ip=10.79.0.%d/24, queues=1, %s' ]\n"
                             % (name, ns, mac, size, int(mac), spec))
            self.netns_cleanup(ns)
            if ok is None:
                return False
            self.app[role] = self.domid(name)
        for d in (self.app["sink"], self.app["gen"]):
            for _ in range(200):
                if (self.xs_read("/local/domain/%s/device/vif/0/state" % d) == "4" and
                        self.xs_read("/local/domain/0/backend/vif/%s/0/state" % d) == "4"):
                    break
                time.sleep(0.025)
            else:
                log("pvnet: pktgen/sink domain %s not Connected" % d)
                return False
        # the counters node appears with the guest's first report
        for _ in range(200):
            if self.xs_read("/local/domain/%s/data/pktgen/rx_packets" % self.app["sink"]):
                break
            time.sleep(0.025)
        return self.app_pause(self.app["gen"], True)

    def app_run(self, secs):
        """One measured window: settled counters, resume the generator, SECS later
        pause it, settled counters again. {mpps, gbps, loss, cpu_dom0 (ns per
        counted frame), cpu_guest} or None."""
        gen, sink, size = self.app["gen"], self.app["sink"], self.app["size"]
        if not self.app_pause(sink, True):
            return None
        tx0, rx0 = self.app_ctr(gen, "tx_packets"), self.app_ctr(sink, "rx_packets")
        self.app_pause(sink, False)
        d0, g0, t0 = self.cpu_dom0(), self.cpu_guests(), time.monotonic()
        self.app_pause(gen, False)
        time.sleep(secs)  # the run length itself
        self.app_pause(gen, True)
        t1, d1, g1 = time.monotonic(), self.cpu_dom0(), self.cpu_guests()
        self.app_pause(sink, True)
        tx1, rx1 = self.app_ctr(gen, "tx_packets"), self.app_ctr(sink, "rx_packets")
        self.app_pause(sink, False)
        rxf, txf, el = rx1 - rx0, tx1 - tx0, t1 - t0
        if rxf <= 0:
            return None
        return {"mpps": rxf / el / 1e6, "gbps": rxf * size * 8 / el / 1e9,
                "loss": 100.0 * (txf - rxf) / txf if txf > 0 else None,
                "cpu_dom0": (d1 - d0) / rxf, "cpu_guest": (g1 - g0) / rxf}

    def app_destroy(self):
        if self.app:
            for role in ("sink", "gen"):
                self.destroy("pvb%d%s%d" % (self.b.pid, role, self.app["size"]))
        self.app = None

    # --- polling mode ---------------------------------------------------------
    def poll_pair(self, nb_poll="on"):
        for i in (1, 2):
            name = "pvb%dp%d" % (self.b.pid, i)
            g = Guest(name, "%s-p%d" % (self.b.tag, i), "10.78.0.20%d" % i, "00:16:3e:77:01:0%d" % i)
            ok = self.create(name, 'name   = "%s"\nmemory = 64\nnetns  = "%s"\n'
                             "vif    = [ 'mac=%s, bridge=br0, ip=%s/24, mtu=1500, queues=1, poll=%s' ]\n"
                             % (name, g.ns, g.mac, g.ip, nb_poll))
            self.netns_cleanup(g.ns)
            if ok is None:
                return False
            self.poll[i] = g
            for _ in range(60):
                if g.ip in self.b.run(["ip", "-n", g.ns, "-o", "addr"]).stdout:
                    break
                time.sleep(0.05)
        return self.b.ping(self.poll[1].ns, self.poll[2].ip, tries=3, interval=0)

    def mq_pair(self, queues):
        """Guests m1/m2 (10.78.0.21<i>) with QUEUES-queue vifs, for the TCP rows:
        netfront spreads a guest's flows over the queues (the TAP's queue per
        flow), netback's guest RX picks the queue by flow hash, and the queues
        are served by pvnetd's workers (--workers). True when m1 pings m2."""
        self.mq = {}
        for i in (1, 2):
            name = "pvb%dm%d" % (self.b.pid, i)
            g = Guest(name, "%s-m%d" % (self.b.tag, i), "10.78.0.21%d" % i, "00:16:3e:77:02:0%d" % i)
            ok = self.create(name, 'name   = "%s"\nmemory = 64\nnetns  = "%s"\n'
                             "vif    = [ 'mac=%s, bridge=br0, ip=%s/24, mtu=1500, queues=%d' ]\n"
                             % (name, g.ns, g.mac, g.ip, queues))
            self.netns_cleanup(g.ns)
            if ok is None:
                return False
            self.mq[i] = g
            for _ in range(60):
                if g.ip in self.b.run(["ip", "-n", g.ns, "-o", "addr"]).stdout:
                    break
                time.sleep(0.05)
        return self.b.ping(self.mq[1].ns, self.mq[2].ip, tries=3, interval=0)

    def mq_destroy(self):
        for i in (1, 2):
            self.destroy("pvb%dm%d" % (self.b.pid, i))
        self.mq = {}

    def poll_destroy(self):
        for i in (1, 2):
            self.destroy("pvb%dp%d" % (self.b.pid, i))
        self.poll = {}
