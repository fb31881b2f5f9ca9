# SPDX-License-Identifier: MIT
"""perf/density.py - many tenants on one host: what a guest costs pvnetd as
their number grows, and how fairly many busy guests are served.

  python3 perf/density.py [--quick] [--sizes 10,100,1000] [--pairs N] [--secs S] [--json FILE]
  density(b, rows, quick)   the same, as a section of perf/bench.py

Its own pvnetd in its own dom0 namespace; PV guests created one after another
on bridge br0 (single-queue vif, 10.80.x.y/16), each with its own namespace.
Rows:
  density.create.<n>guests   ms per `pvnet create` (median of the last
                             creates before n guests exist; CLI wall time,
                             returns when the guest's vif is connected)
  density.list.<n>guests     ms for `pvnet list` and for `pvnet stats --json`
  density.mem.<n>guests      pvnetd KiB per idle guest ((RSS at n - RSS at 0) / n)
                             and the guests' own KiB each (RSS of pvnet-guest)
  density.teardown.<n>guests s for `pvnet shutdown --all --wait` of all n
  density.tcp.<n>pairs       n pairs of guests running iperf3 (1 stream) at
                             once: aggregate Gb/s and Jain's index; peer: the
                             Linux bridge joining the same namespaces (a second
                             NIC, veth, in each) in the same run
Full run: sizes 10, 100, 1000 and 32 pairs; --quick: 10, 50 and 4 pairs.
"""
import argparse
import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import BIN, Bench, Rows, kill_proc, log  # noqa: E402


def rss_kib(pid, key="VmRSS"):
    """KiB of /proc/PID/status KEY: VmRSS (all), RssAnon (pvnetd's own: heap,
    buffers), RssFile + RssShmem (mapped guest memory: the guests' pages)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def thread_cpu_ms(pid, tid):
    """CPU ms of one thread so far (schedstat: ns on a CPU; pvnetd's control
    loop is tid == pid)."""
    try:
        with open("/proc/%d/task/%d/schedstat" % (pid, tid)) as f:
            return int(f.read().split()[0]) / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


def jain(x):
    q = sum(v * v for v in x)
    return sum(x) ** 2 / (len(x) * q) if q else None


class Density:
    def __init__(self, b, rows):
        self.b, self.rows = b, rows
        self.tag = b.tag + "d"
        self.ns = self.tag + "-dom0"
        self.run_dir = os.path.join(b.tmp, "drun")
        self.proc = None
        self.n = 0  # guests created so far (1..n)
        self.created = []  # ms per create, in order
        self.ctl_cpu = []  # pvnetd control-loop CPU ms so far, after each create

    # --- helpers ----------------------------------------------------------
    def cli(self, *args, timeout=60):
        return self.b.run([os.path.join(BIN, "pvnet"), "--run-dir", self.run_dir] + list(args), timeout=timeout)

    def name(self, i):
        return "pvd%dn%d" % (self.b.pid, i)

    def gns(self, i):
        return "%s-n%d" % (self.tag, i)

    @staticmethod
    def ip(i, net=80):
        return "10.%d.%d.%d" % (net, i >> 8, i & 255)

    def start(self, workers=None):
        b = self.b
        if not b.ns(self.ns):
            return False
        self.log = os.path.join(b.tmp, "pvnetd-density.log")
        cmd = ["nsenter", "--net=/run/netns/" + self.ns, os.path.join(BIN, "pvnetd"), "--foreground",
               "--run-dir", self.run_dir, "--state-dir", os.path.join(b.tmp, "density-state"), "--log", self.log]
        if workers:
            cmd += ["--workers", str(workers)]
        self.proc = b.spawn(cmd, stop=self.stop)
        for _ in range(200):
            if os.path.exists(os.path.join(self.run_dir, "pvnetd.sock")) and self.cli("info").returncode == 0:
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        log("density: pvnetd did not start")
        return False

    def stop(self, p=None):
        p = p or self.proc
        if p and p.poll() is None:
            self.cli("shutdown", "--all", "--wait", timeout=120)
            kill_proc(p)
        for i in range(1, self.n + 1):
            self.b.run(["ip", "netns", "del", self.gns(i)])

    def create(self, i):
        cfg = os.path.join(self.b.tmp, "d%d.cfg" % i)
        with open(cfg, "w") as f:
            f.write('name = "%s"\nmemory = 16\nnetns = "%s"\n'
                    "vif = [ 'mac=00:16:3e:7a:%02x:%02x, bridge=br0, ip=%s/16, queues=1' ]\n"
                    % (self.name(i), self.gns(i), i >> 8, i & 255, self.ip(i)))
        t = time.monotonic()
        r = self.cli("create", cfg)
        ms = (time.monotonic() - t) * 1000
        if r.returncode != 0:
            log("density: create %d: %s" % (i, (r.stdout + r.stderr).strip()[:300]))
            return False
        self.n = i
        self.created.append(ms)
        self.ctl_cpu.append(thread_cpu_ms(self.proc.pid, self.proc.pid))
        return True

    def grow(self, n):
        while self.n < n:
            if not self.create(self.n + 1):
                return False
        return True

    def connected(self):
        """How many guests' vif 0 are Connected (backend state 4)."""
        r = self.cli("list", "--json")
        # one store read for all: the backend tree
        ls = self.cli("xenstore-ls", "/local/domain/0/backend/vif", timeout=60).stdout
        return sum(1 for line in ls.splitlines() if line.strip().startswith("state = \"4\"")), r.returncode

    def timed(self, *args):
        t = time.monotonic()
        r = self.cli(*args)
        return (time.monotonic() - t) * 1000 if r.returncode == 0 else None

    def guest_rss(self):
        pids = [p for p in lib.tree_pids(self.proc.pid) if p != self.proc.pid]
        v = [rss_kib(p) for p in pids]
        v = [x for x in v if x]
        return sum(v) / len(v) if v else None

    # --- the measurements -------------------------------------------------
    def sizes(self, sizes):
        base = rss_kib(self.proc.pid, "RssAnon")
        for n in sizes:
            if not self.grow(n):
                log("density: could not create %d guests (%d made)" % (n, self.n))
                break
            w = self.created[max(0, n - 10):n]
            self.rows.add("density.create.%dguests" % n, None, "create", "ms/create", lib.median(w))
            # the control loop's CPU over the last creates
            k = min(n, 10)
            c = self.ctl_cpu[n - 1] - (self.ctl_cpu[n - k - 1] if n > k else 0.0)
            self.rows.add("density.create.%dguests" % n, None, "ctl_cpu", "ms cpu pvnetd/create", c / k)
            time.sleep(1)  # idle: buffers handed back
            rss = rss_kib(self.proc.pid, "RssAnon")
            mapped = (rss_kib(self.proc.pid, "RssFile") or 0) + (rss_kib(self.proc.pid, "RssShmem") or 0)
            # pvnetd's own memory per guest: anonymous (heap, rings' copies, buffers);
            # the guest pages it maps (rings, granted buffers) are the guests' memory
            self.rows.add("density.mem.%dguests" % n, None, "mem", "KiB/guest pvnetd",
                          (rss - base) / n if rss and base else None)
            self.rows.add("density.mem.%dguests" % n, None, "mapped", "KiB/guest mapped guest pages",
                          mapped / n)
            self.rows.add("density.mem.%dguests" % n, None, "guest_mem", "KiB/guest process", self.guest_rss())
            lst = min(filter(None, [self.timed("list") for _ in range(3)]), default=None)
            sts = min(filter(None, [self.timed("stats", "--json") for _ in range(3)]), default=None)
            self.rows.add("density.list.%dguests" % n, None, "list", "ms list", lst)
            self.rows.add("density.list.%dguests" % n, None, "stats", "ms stats --json", sts)
            log("density: %d guests, create %.1f ms, pvnetd RSS %s KiB, list %s ms"
                % (n, lib.median(w) or 0, rss, lst))

    def bridge_peer(self, count):
        """A Linux bridge in its own namespace, a veth into guests 1..count (10.81.x.y/16)."""
        b = self.b
        brns = self.tag + "-lbr"
        if not b.ns(brns):
            return False
        b.run(["ip", "-n", brns, "link", "add", "br0", "type", "bridge"])
        b.run(["ip", "-n", brns, "link", "set", "br0", "up"])
        for i in range(1, count + 1):
            a, z = "dl%d" % i, "dp%d" % i
            if not b.ok(["ip", "-n", brns, "link", "add", a, "type", "veth", "peer", "name", z,
                         "netns", self.gns(i)]):
                return False
            b.run(["ip", "-n", brns, "link", "set", a, "master", "br0", "up"])
            b.run(["ip", "-n", self.gns(i), "addr", "add", self.ip(i, 81) + "/16", "dev", z])
            b.run(["ip", "-n", self.gns(i), "link", "set", z, "up"])
        return True

    def tcp_once(self, pairs, net, secs):
        """iperf3 (1 stream) from guest 2k-1 to guest 2k, all pairs at once: Gb/s per pair."""
        b = self.b
        port = 5201
        srvs = [b.spawn(["iperf3", "-s", "-1", "-p", str(port)], ns=self.gns(2 * k)) for k in range(1, pairs + 1)]
        for k in range(1, pairs + 1):
            b.wait_listen(self.gns(2 * k), port)
        res = [None] * pairs

        def client(k):
            r = b.run(["iperf3", "-c", self.ip(2 * k, net), "-p", str(port), "-t", str(secs), "-O", "1", "-J"],
                      ns=self.gns(2 * k - 1), timeout=secs + 30)
            res[k - 1] = lib.iperf_result(r.stdout)
            if res[k - 1] is None:
                log("density: iperf3 pair %d over 10.%d: %s" % (k, net, lib.iperf_error(r)))
        th = [threading.Thread(target=client, args=(k,)) for k in range(1, pairs + 1)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        for s in srvs:
            kill_proc(s)
        if any(r is None for r in res):
            return None
        return [r["gbps"] for r in res]

    def tcp(self, pairs, secs):
        if self.n < 2 * pairs and not self.grow(2 * pairs):
            return
        if not self.bridge_peer(2 * pairs):
            log("density: bridge peer setup failed")
        br = self.tcp_once(pairs, 81, secs)
        pv = self.tcp_once(pairs, 80, secs)
        sc = "density.tcp.%dpairs" % pairs
        self.rows.add(sc, None, "throughput", "Gb/s total", sum(pv) if pv else None, "bridge",
                      sum(br) if br else None)
        self.rows.add(sc, None, "fairness", "Jain index", jain(pv) if pv else None, "bridge",
                      jain(br) if br else None)
        if pv:
            self.rows.add(sc, None, "slowest", "Gb/s slowest pair", min(pv), "bridge", min(br) if br else None)

    def teardown(self):
        n = self.n
        t = time.monotonic()
        r = self.cli("shutdown", "--all", "--wait", "--timeout", "30", timeout=180)
        s = time.monotonic() - t
        if r.returncode != 0:
            log("density: shutdown --all --wait: rc %d: %s" % (r.returncode, (r.stdout + r.stderr).strip()[-300:]))
        # the time is the figure; a guest that had to be killed after --timeout is logged above
        self.rows.add("density.teardown.%dguests" % n, None, "teardown", "s all guests", s)
        left = self.cli("list").stdout.count("\n") - 2  # header and Domain-0
        log("density: teardown of %d guests %.1f s, %d domains left" % (n, s, max(left, 0)))


def density(b, rows, quick, sizes=None, pairs=None, secs=None):
    """The density rows into ROWS (perf/bench.py's section)."""
    sizes = sizes or ([10, 50] if quick else [10, 100, 1000])
    pairs = pairs if pairs is not None else (4 if quick else 32)
    secs = secs or (2 if quick else 5)
    d = Density(b, rows)
    if not d.start():
        return False
    try:
        d.sizes(sizes)
        if pairs:
            d.tcp(pairs, secs)
        if os.environ.get("DENSITY_HOLD"):  # for profiling: pvnetd pid and guests stay up
            log("density: holding %s s, pvnetd pid %d" % (os.environ["DENSITY_HOLD"], d.proc.pid))
            time.sleep(float(os.environ["DENSITY_HOLD"]))
        d.teardown()
    finally:
        d.stop()
    return True


def main():
    ap = argparse.ArgumentParser(prog="perf/density.py", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sizes", help="comma-separated guest counts (default 10,100,1000; quick 10,50)")
    ap.add_argument("--pairs", type=int, help="busy guest pairs (default 32; quick 4; 0: none)")
    ap.add_argument("--secs", type=int, help="iperf3 seconds")
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("density: needs root (network namespaces)", file=sys.stderr)
        return 1
    b = Bench()
    rows = Rows()
    try:
        print("# pvnet density: cores=%d load=%.1f" % (os.cpu_count(), os.getloadavg()[0]), flush=True)
        density(b, rows, a.quick, [int(x) for x in a.sizes.split(",")] if a.sizes else None, a.pairs, a.secs)
    finally:
        b.cleanup()
    for line in rows.table():
        print(line)
    if a.json:
        with open(a.json, "w") as f:
            f.write(rows.json_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
