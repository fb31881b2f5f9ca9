# SPDX-License-Identifier: MIT
"""perf/lib.py - helpers for perf/bench.py and perf/peers/*.py.

Everything a benchmark creates (namespaces, processes, temp dirs) is registered
with Bench.cleanup_add and removed on exit, even on failure, SIGTERM or ^C.
Processes are stopped only by the PIDs we started; namespaces only by the
unique names we made (pvb-<pid>-...). Every external command runs with a
timeout, so a stuck tool cannot hold the bench.

Measurements return named results (dicts); Rows keeps the result rows
{scenario, size, metric, unit, value, peer, peer_value} and prints them as the
aligned table and as JSON.
"""
import glob
import json
import math
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
_b = os.environ.get("PVNET_BUILD", "build")
BUILD = _b if os.path.isabs(_b) else os.path.join(ROOT, _b)
BIN = os.path.join(BUILD, "bin")
# CPU placement: the sender on CPU 0, the receiver on CPU 1 (2-core machine).
CPU_TX = int(os.environ.get("PB_CPU_TX", "0"))
CPU_RX = int(os.environ.get("PB_CPU_RX", "1"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("# " + msg, file=sys.stderr, flush=True)


def median(values):
    """Median of the numbers in VALUES (None ignored); None if there are none."""
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def percentile(values, p):
    """P-th percentile (nearest rank) of VALUES; None if empty."""
    v = sorted(values)
    if not v:
        return None
    k = max(1, math.ceil(p / 100.0 * len(v)))
    return v[k - 1]


def median_runs(results):
    """Per-key medians of a list of result dicts (None values ignored)."""
    keys = []
    for r in results:
        for k in r or {}:
            if k not in keys:
                keys.append(k)
    return {k: median([(r or {}).get(k) for r in results]) for k in keys}


def task_cpu_ns(pid):
    """CPU time of every thread of PID, in ns (0 if gone): the scheduler's own
    run time (/proc/PID/task/*/schedstat, exact), or user+system ticks from
    /proc/PID/task/*/stat where schedstat is missing (a 10 ms tick: too coarse
    for per-round-trip figures, and sampled)."""
    total, ticks = 0, 0
    for d in glob.glob("/proc/%d/task/*" % pid):
        try:
            with open(d + "/schedstat") as fh:
                total += int(fh.read().split()[0])
            continue
        except (OSError, ValueError, IndexError):
            pass
        try:
            with open(d + "/stat") as fh:
                s = fh.read()
        except OSError:
            continue
        fields = s[s.rfind(")") + 2:].split()
        ticks += int(fields[11]) + int(fields[12])
    return total + ticks * 1_000_000_000 // CLK_TCK


def tree_pids(pid):
    """PID and all its descendants."""
    out = [pid]
    for f in glob.glob("/proc/%d/task/*/children" % pid):
        try:
            with open(f) as fh:
                kids = [int(x) for x in fh.read().split()]
        except OSError:
            continue
        for k in kids:
            out.extend(tree_pids(k))
    return out


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


class Bench:
    """The run's context: temp dir, namespace tag, cleanups, process control."""

    def __init__(self, tag=None):
        self.tag = tag or "pvb-%d" % os.getpid()
        self.pid = os.getpid()
        self.cleanups = []
        self.live = set()  # processes of run() in progress
        self.tmp = tempfile.mkdtemp(prefix="pvnet-bench.")
        self.cleanup_add(lambda: shutil.rmtree(self.tmp, ignore_errors=True))
        self._old = {}
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            self._old[s] = signal.signal(s, self._on_signal)

    def _on_signal(self, signum, _frame):
        raise SystemExit(128 + signum)

    def cleanup_add(self, fn):
        self.cleanups.append(fn)
        return fn

    def cleanup(self):
        # no signal may interrupt the cleanup itself
        for s in self._old:
            signal.signal(s, signal.SIG_IGN)
        for p in list(self.live):
            kill_proc(p, timeout=2)
        while self.cleanups:
            fn = self.cleanups.pop()
            try:
                fn()
            except Exception:  # noqa: BLE001 - best effort, keep cleaning
                pass
        for s, h in self._old.items():
            signal.signal(s, h)

    # --- commands ---------------------------------------------------------
    def run(self, cmd, timeout=30, ns=None, cpu=None, env=None, stdin=subprocess.DEVNULL):
        """Runs CMD (a list) to completion, at most TIMEOUT s; in namespace NS,
        pinned on CPU. Returns CompletedProcess (stdout/stderr as text); a
        timeout kills it and gives returncode -9 and whatever it had printed.
        While it runs it is on the list cleanup() stops (any thread may call this)."""
        full = self.wrap(cmd, ns, cpu)
        try:
            p = subprocess.Popen(full, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env)
        except OSError as e:
            return subprocess.CompletedProcess(full, -2, "", str(e))
        self.live.add(p)
        try:
            out, err = p.communicate(timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            rc, err = -9, (err or "") + "\n(timeout after %ss)" % timeout
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            self.live.discard(p)
        return subprocess.CompletedProcess(full, rc, out or "", err or "")

    def ok(self, cmd, **kw):
        return self.run(cmd, **kw).returncode == 0

    @staticmethod
    def wrap(cmd, ns=None, cpu=None):
        full = list(cmd)
        if ns:
            full = ["ip", "netns", "exec", ns] + full
        if cpu is not None:
            full = ["taskset", "-c", str(cpu)] + full
        return full

    def spawn(self, cmd, ns=None, cpu=None, stdout=None, stderr=None, stdin=subprocess.DEVNULL,
              env=None, stop=None):
        """Starts CMD in the background (stdout/stderr: file paths or None for
        /dev/null); registered for cleanup: STOP(proc) or kill_proc."""
        out = open(stdout, "w") if stdout else subprocess.DEVNULL
        err = open(stderr, "w") if stderr else (out if stdout else subprocess.DEVNULL)
        try:
            p = subprocess.Popen(self.wrap(cmd, ns, cpu), stdin=stdin, stdout=out, stderr=err, env=env)
        finally:
            for f in (out, err):
                if f is not subprocess.DEVNULL and not f.closed:
                    f.close()
        self.cleanup_add(lambda: (stop or kill_proc)(p))
        return p

    def ns(self, name):
        """Creates namespace NAME (lo up), deleted on exit."""
        if not self.ok(["ip", "netns", "add", name]):
            return False
        self.cleanup_add(lambda: self.run(["ip", "netns", "del", name]))
        self.run(["ip", "-n", name, "link", "set", "lo", "up"])
        return True

    def read(self, ns, path):
        r = self.run(["cat", path], ns=ns)
        return r.stdout.strip() if r.returncode == 0 else None

    def ping(self, ns, ip, tries=50, interval=0.1, wait=1):
        """0-loss single ping from NS to IP within TRIES attempts."""
        for _ in range(tries):
            if self.ok(["ping", "-c1", "-W", str(wait), ip], ns=ns, timeout=wait + 3):
                return True
            time.sleep(interval)
        return False

    def wait_listen(self, ns, port, secs=2.0):
        end = time.time() + secs
        while time.time() < end:
            r = self.run(["ss", "-Hltn", "sport = :%d" % port], ns=ns, timeout=5)
            if r.stdout.strip():
                return True
            time.sleep(0.05)
        return False

    def tmpfile(self, name):
        return os.path.join(self.tmp, "%s.%d" % (name, random.randrange(1 << 30)))

    # --- measurements between two namespaces (the peers and pvnet) ----------
    def pktgen(self, ns_tx, if_tx, ns_rx, if_rx, size, secs, extra=()):
        """pvnet-pktgen rx pinned on CPU_RX, tx on CPU_TX. Returns {mpps, gbps,
        loss, cpu_ns (both processes' CPU per delivered frame, incl. softirq
        work in their context), tx_frames, rx_frames}; None on failure."""
        mac = self.read(ns_rx, "/sys/class/net/%s/address" % if_rx)
        if not mac:
            return None
        rxo = self.tmpfile("pktgen-rx")
        rx = self.spawn([os.path.join(BIN, "pvnet-pktgen"), "rx", if_rx, "--seconds", str(secs + 5),
                         "--idle-ms", "300", "--json"], ns=ns_rx, cpu=CPU_RX, stdout=rxo)
        time.sleep(0.2)
        t = self.run([os.path.join(BIN, "pvnet-pktgen"), "tx", if_tx, "--size", str(size),
                      "--seconds", str(secs), "--dst-mac", mac, "--json"] + list(extra),
                     ns=ns_tx, cpu=CPU_TX, timeout=secs + 20)
        try:
            rx.wait(timeout=secs + 10)
        except subprocess.TimeoutExpired:
            kill_proc(rx)
        txj = last_json(t.stdout)
        rxj = last_json(open(rxo).read())
        if not txj or not rxj or not rxj.get("frames"):
            log("pktgen %s->%s %dB failed: %s %s" % (if_tx, if_rx, size, (t.stdout + t.stderr).strip()[:200],
                                                    open(rxo).read().strip()[:200]))
            return None
        txf, rxf, txs = txj["frames"], rxj["frames"], txj["seconds"]
        return {"mpps": rxf / txs / 1e6, "gbps": rxf * size * 8 / txs / 1e9,
                "loss": 100.0 * (txf - rxf) / txf if txf else None,
                "cpu_ns": (txj["cpu_ns_per_pkt"] * txf + rxj["cpu_ns_per_pkt"] * rxf) / rxf,
                "tx_frames": txf, "rx_frames": rxf}

    def iperf(self, ns_client, ns_server, ip, streams, secs):
        """iperf3 server pinned on CPU_RX, client on CPU_TX. {gbps, retransmits}."""
        port = 5201 + random.randrange(1000)
        srv = self.spawn(["iperf3", "-s", "-1", "-p", str(port)], ns=ns_server, cpu=CPU_RX)
        self.wait_listen(ns_server, port)
        r = self.run(["iperf3", "-c", ip, "-p", str(port), "-P", str(streams), "-t", str(secs),
                      "-O", "1", "-J"], ns=ns_client, cpu=CPU_TX, timeout=secs + 25)
        kill_proc(srv)
        res = iperf_result(r.stdout)
        if res is None:
            log("iperf3 -P %d to %s failed: %s" % (streams, ip, iperf_error(r)))
        return res

    def rr(self, ns, ip, count):
        """Request/response latency: ping -i 0.001 from NS (pinned on CPU_TX),
        first 10 replies dropped. {p50, p99, p99.9} in us (ping prints 1 us)."""
        r = self.run(["ping", "-n", "-i", "0.001", "-c", str(count), "-W", "1", ip],
                     ns=ns, cpu=CPU_TX, timeout=count * 0.01 + 30)
        rtts = [float(m) * 1000 for m in re.findall(r" time=([0-9.]+) ms", r.stdout)]
        if not rtts:
            return None
        w = rtts[10:] or rtts
        return {"p50": percentile(w, 50), "p99": percentile(w, 99), "p99.9": percentile(w, 99.9)}

    def crr(self, ns_client, ns_server, ip, secs, size=1024):
        """Short TCP connections (connect, SIZE bytes each way, close) with
        tools/pvnet-crr: server pinned on CPU_RX, client on CPU_TX, one
        connection at a time. {rate (connections/s), p50, p99 (us per
        connection), errors}."""
        port = 5300 + random.randrange(1000)
        # the client uses a new ephemeral port per connection: the whole range
        self.run(["sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000"], ns=ns_client)
        srv = self.spawn([os.path.join(BIN, "pvnet-crr"), "server", "--port", str(port),
                          "--size", str(size), "--seconds", str(secs + 10)], ns=ns_server, cpu=CPU_RX)
        self.wait_listen(ns_server, port)
        r = self.run([os.path.join(BIN, "pvnet-crr"), "client", ip, "--port", str(port),
                      "--size", str(size), "--seconds", str(secs), "--json"],
                     ns=ns_client, cpu=CPU_TX, timeout=secs + 20)
        kill_proc(srv)
        j = last_json(r.stdout)
        if not j or not j.get("connections"):
            log("pvnet-crr to %s failed: %s" % (ip, (r.stdout + r.stderr).strip()[:200]))
            return None
        return {"rate": j["rate"], "p50": j["p50_us"], "p99": j["p99_us"], "errors": j["errors"]}


def kill_proc(p, timeout=5.0):
    """SIGTERM, up to TIMEOUT s, then SIGKILL. Only for processes we started."""
    if p.poll() is not None:
        return
    try:
        p.terminate()
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
    except OSError:
        pass


def sigint_wait(p, timeout=10.0):
    """SIGINT (testpmd's stop), wait up to TIMEOUT s, then SIGKILL."""
    if p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
    except OSError:
        pass


def last_json(text):
    """The last line of TEXT that parses as a JSON object, or None."""
    for line in reversed((text or "").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def iperf_result(text):
    """{gbps, retransmits} from iperf3 -J output, None if it has no result."""
    try:
        j = json.loads(text)
        bps = j["end"]["sum_received"]["bits_per_second"]
    except (ValueError, KeyError, TypeError):
        return None
    rtx = j["end"].get("sum_sent", {}).get("retransmits", 0)
    return {"gbps": bps / 1e9, "retransmits": rtx}


def iperf_error(r):
    try:
        return json.loads(r.stdout).get("error", "")
    except ValueError:
        return (r.stdout + r.stderr).strip()[:200]


def sig(v, digits=6):
    """V rounded to DIGITS significant digits (None stays None; integral
    values become ints)."""
    if v is None:
        return None
    v = float("%.*g" % (digits, v))
    return int(v) if v == int(v) and abs(v) < 1e15 else v


class Rows:
    """The result rows, in the order they were added."""

    def __init__(self):
        self.rows = []

    def add(self, scenario, size, metric, unit, value, peer=None, peer_value=None):
        self.rows.append({"scenario": scenario, "size": size, "metric": metric, "unit": unit,
                          "value": sig(value), "peer": peer or None,
                          "peer_value": sig(peer_value) if peer else None})

    def get(self, scenario, size, metric):
        for r in self.rows:
            if r["scenario"] == scenario and r["size"] == size and r["metric"] == metric:
                return r["value"]
        return None

    def json_rows(self):
        out = []
        for r in self.rows:
            d = dict(r)
            v, pv = d["value"], d["peer_value"]
            d["ratio"] = round(v / pv, 4) if v is not None and pv not in (None, 0) else None
            out.append(d)
        return out

    def json_text(self):
        return "[\n" + ",\n".join("  " + json.dumps(r) for r in self.json_rows()) + "\n]\n"

    def table(self):
        """One aligned line per (scenario, size): "%10s %-12s" per metric (first
        occurrence), then "% of <peer> <metric>" for every row with a peer."""
        order, cells, pcts, seen = [], {}, {}, set()
        for r in self.rows:
            k = (r["scenario"], r["size"])
            if k not in cells:
                order.append(k)
                cells[k], pcts[k] = "", []
            v = "n/a" if r["value"] is None else "%.4g" % r["value"]
            if (k, r["metric"]) not in seen:
                seen.add((k, r["metric"]))
                cells[k] += "%10s %-12s" % (v, r["unit"])
            if r["peer"]:
                if r["value"] is not None and r["peer_value"] not in (None, 0):
                    pcts[k].append("%5.1f%% of %s %s" % (100.0 * r["value"] / r["peer_value"], r["peer"],
                                                        r["metric"]))
                else:
                    pcts[k].append("n/a%% of %s %s" % (r["peer"], r["metric"]))
        lines = []
        for k in order:
            label = k[0] + (" %dB" % k[1] if k[1] is not None else "")
            p = ("  " + "; ".join(pcts[k])) if pcts[k] else ""
            lines.append("%-26s%s %s" % (label, cells[k], p))
        return lines
