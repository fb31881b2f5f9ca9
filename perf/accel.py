# SPDX-License-Identifier: MIT
"""perf/accel.py - NIC accelerator levels 0-3 on their own (peers/accel.py
explains the rows; docs/nic-levels.md the levels). perf/accel.sh runs this.

  perf/accel.sh [--secs N] [--levels "0 1"] [--runs N] [--perf]

Prints one line per level and direction: Gb/s, then CPU ns per packet for the
guests, dom0 and the "hardware" (the simnic engine thread); --perf adds the
guests' instructions and task-clock per packet from perf stat. With --runs N > 1
every run (each on its own pvnetd, namespaces and guests), then the per-column
medians.
"""
import argparse
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from peers.accel import Accel  # noqa: E402
from peers.pvnet import Pvnet  # noqa: E402

COLS = [("gbps", "Gb/s"), ("guest", "ns/pkt guest"), ("dom0", "ns/pkt dom0"), ("hw", "ns/pkt hw")]
PERF_COLS = [("instr", "instr/pkt guest"), ("task_ns", "task-ns/pkt guest")]


def line(label, r, perf):
    def f(v):
        return "n/a" if v is None else "%.4g" % v
    cols = COLS + (PERF_COLS if perf else [])
    return "%-22s " % label + "  ".join("%8s %s" % (f((r or {}).get(k)), u) for k, u in cols)


def main():
    ap = argparse.ArgumentParser(prog="perf/accel.sh")
    ap.add_argument("--secs", type=int, default=3)
    ap.add_argument("--levels", default="0 1 2 3")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--perf", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("perf/accel.sh: needs root", file=sys.stderr)
        return 1
    if a.perf and subprocess.run(["perf", "stat", "-e", "instructions", "true"],
                                 capture_output=True).returncode != 0:
        print("perf/accel.sh: --perf: perf stat cannot count instructions here", file=sys.stderr)
        return 1
    levels = [int(x) for x in a.levels.split()]
    commit = subprocess.run(["git", "-C", lib.ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print("# accel: cores=%d placement=iperf3 client cpu%d server cpu%d, simnic engine thread, iperf3 1 stream "
          "%ds, rings: dom0 256 guest qp 512, runs=%d commit=%s" % (os.cpu_count(), lib.CPU_TX, lib.CPU_RX,
                                                                   a.secs, a.runs, commit), flush=True)
    allres = []
    for run in range(1, a.runs + 1):
        b = lib.Bench(tag="pvb-%d-r%d" % (os.getpid(), run))
        try:
            if a.runs > 1:
                print("# run %d" % run)
            pv = Pvnet(b)
            ac = Accel(b, pv)
            ac.perf = a.perf
            ac.bench(a.secs, levels)
            for label, r in ac.results:
                print(line(label, r, a.perf), flush=True)
            allres.append(ac.results)
        finally:
            b.cleanup()
    if a.runs > 1:
        print("# median of %d runs" % a.runs)
        labels = [lb for lb, _ in allres[0]]
        for lb in labels:
            rs = [r for res in allres for (x, r) in res if x == lb]
            print(line(lb, lib.median_runs(rs), a.perf))
    return 0


if __name__ == "__main__":
    sys.exit(main())
