# SPDX-License-Identifier: MIT
"""perf/pktgen_window.py - pv2pv pktgen -> sink on its own, window by window: per
window the sink's Mpps, dom0 CPU ns per frame (pvnetd's thread time, 10 ms
ticks) and, when hardware counters work (`perf stat -e instructions true`),
pvnetd's instructions and cycles per frame the sink counted (they include its
idle loop). The build under test is PVNET_BUILD (default build/), so two builds
can be compared interleaved:
  for b in /tmp/old/build build; do PVNET_BUILD=$b perf/pktgen_window.sh; done
Env: R windows (3), S seconds each (2), SIZE frame bytes (64), WORKERS pvnetd's
--workers (1).
perf/pktgen_window.sh runs this.
"""
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from peers.pvnet import Pvnet  # noqa: E402


def main():
    rounds, secs, size = int(os.environ.get("R", "3")), float(os.environ.get("S", "2")), int(os.environ.get("SIZE", "64"))
    if os.geteuid() != 0:
        print("perf/pktgen_window.sh: needs root", file=sys.stderr)
        return 1
    b = lib.Bench()
    try:
        pv = Pvnet(b)
        pv.workers = int(os.environ.get("WORKERS", "1"))
        if not (pv.start() and pv.app_pair(size)):
            return 1
        gen, sink = pv.app["gen"], pv.app["sink"]
        have_perf = subprocess.run(["perf", "stat", "-e", "instructions", "true"],
                                   capture_output=True).returncode == 0
        print("# pktgen_window: build=%s size=%d windows=%d x %gs workers=%d perf=%d"
              % (lib.BUILD, size, rounds, secs, pv.workers, have_perf), flush=True)
        for _ in range(rounds):
            pv.app_pause(sink, True)
            rx0 = pv.app_ctr(sink, "rx_packets")
            pv.app_pause(sink, False)
            d0, t0 = pv.cpu_dom0(), time.monotonic()
            ps, pst = None, os.path.join(b.tmp, "ps.txt")
            if have_perf:
                ps = b.spawn(["perf", "stat", "-e", "instructions,cycles", "-x,", "-o", pst, "-p", str(pv.pid)],
                             stop=lib.sigint_wait)
            pv.app_pause(gen, False)
            time.sleep(secs)
            pv.app_pause(gen, True)
            if ps:
                lib.sigint_wait(ps)
            t1, d1 = time.monotonic(), pv.cpu_dom0()
            pv.app_pause(sink, True)
            rx1 = pv.app_ctr(sink, "rx_packets")
            pv.app_pause(sink, False)
            n = max(rx1 - rx0, 1)
            out = "mpps %.6g dom0_ns/pkt %.6g" % (n / (t1 - t0) / 1e6, (d1 - d0) / n)
            if ps:
                stat = {}
                for line in open(pst):
                    f = line.strip().split(",")
                    if len(f) >= 3 and f[0].isdigit():
                        stat[f[2].split(":")[0]] = int(f[0])
                # "<not supported>" (no PMU in this VM) leaves a counter out: n/a
                out += " ins/pkt %s cyc/pkt %s" % tuple("%.6g" % (stat[k] / n) if k in stat else "n/a"
                                                        for k in ("instructions", "cycles"))
            print(out, flush=True)
        return 0
    finally:
        b.cleanup()


if __name__ == "__main__":
    sys.exit(main())
