# SPDX-License-Identifier: MIT
"""perf/pktgen_callgrind.py - instructions per frame in pvnetd, counted by
callgrind: load-independent, for a machine whose PMU `perf stat` cannot see.

pvnetd runs under `valgrind --tool=callgrind --instr-atstart=no` (the guests run
natively); a netfront pktgen -> sink pair (as the bench's pv2pv.pktgen) sends
SIZE-byte frames; instrumentation is switched on for S seconds
(callgrind_control -i on/off) and the profile dumped. Per window it prints the
frames the sink counted, pvnetd's total instructions per frame (the worker's idle
polling included) and the inclusive instructions per frame of the data-path
entry points (tx_burst: TX, the switch and the receiver's RX; vsw_input; the RX
drain), normalised by the calls of pvnet_pkt_write_head (one per delivered
frame). The build is PVNET_BUILD (default build/), so two builds compare
interleaved:
  for b in /tmp/old/build build; do PVNET_BUILD=$b perf/pktgen_callgrind.sh; done
Env: R windows (2), S seconds (3), SIZE (64). Profiles stay in the temp dir
unless KEEP=DIR. perf/pktgen_callgrind.sh runs this.
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from peers.pvnet import Pvnet  # noqa: E402

FUNCS = ("tx.c:tx_burst", "input.c:vsw_input", "rx.c:drain_locked")


def annotate(path):
    """{func: inclusive Ir}, total Ir and the pvnet_pkt_write_head calls of one dump
    (annotated from the tree's root, where the sources are)."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--auto=yes", path], capture_output=True,
                         text=True, cwd=lib.ROOT).stdout
    incl, total, calls = {}, None, 0
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s.*PROGRAM TOTALS", line)
        if m:
            total = int(m.group(1).replace(",", ""))
        m = re.search(r"=> .*pvnet_pkt_write_head \(([\d,]+)x\)", line)
        if m:
            calls += int(m.group(1).replace(",", ""))
        for f in FUNCS:
            if f not in incl and re.search(r"%s \[" % re.escape(f), line) and "=>" not in line:
                incl[f] = int(line.split()[0].replace(",", ""))
    return incl, total, calls


def main():
    rounds, secs, size = int(os.environ.get("R", "2")), float(os.environ.get("S", "3")), int(os.environ.get("SIZE", "64"))
    if os.geteuid() != 0:
        print("perf/pktgen_callgrind.sh: needs root", file=sys.stderr)
        return 1
    for t in ("valgrind", "callgrind_control", "callgrind_annotate"):
        if not shutil.which(t):
            print("perf/pktgen_callgrind.sh: needs %s (valgrind)" % t, file=sys.stderr)
            return 1
    b = lib.Bench()
    try:
        # a bin dir with every program of the build, pvnetd wrapped in callgrind
        vbin = os.path.join(b.tmp, "vg", "bin")
        os.makedirs(vbin)
        for f in os.listdir(lib.BIN):
            if f != "pvnetd":
                os.symlink(os.path.join(lib.BIN, f), os.path.join(vbin, f))
        prof = os.path.join(b.tmp, "vg")
        with open(os.path.join(vbin, "pvnetd"), "w") as fh:
            fh.write('#!/bin/sh\nexec valgrind --tool=callgrind --instr-atstart=no '
                     '--callgrind-out-file=%s/cg.%%p.out "%s" "$@"\n' % (prof, os.path.join(lib.BIN, "pvnetd")))
        os.chmod(os.path.join(vbin, "pvnetd"), 0o755)
        lib.BIN = vbin
        import peers.pvnet
        peers.pvnet.BIN = vbin
        pv = Pvnet(b)
        if not (pv.start() and pv.app_pair(size)):
            return 1
        gen, sink = pv.app["gen"], pv.app["sink"]
        print("# pktgen_callgrind: build=%s size=%d windows=%d x %gs" % (lib.BUILD, size, rounds, secs), flush=True)
        pv.app_pause(gen, False)
        time.sleep(0.5)
        for w in range(rounds):
            pv.app_pause(sink, True)
            rx0 = pv.app_ctr(sink, "rx_packets")
            pv.app_pause(sink, False)
            subprocess.run(["callgrind_control", "-i", "on", str(pv.pid)], capture_output=True)
            time.sleep(secs)
            subprocess.run(["callgrind_control", "-i", "off", str(pv.pid)], capture_output=True)
            pv.app_pause(sink, True)
            rx1 = pv.app_ctr(sink, "rx_packets")
            pv.app_pause(sink, False)
            before = set(os.listdir(prof))
            subprocess.run(["callgrind_control", "-d", str(pv.pid)], capture_output=True)  # dump (and zero)
            dump = None
            for _ in range(100):
                new = [f for f in os.listdir(prof) if f not in before and f.startswith("cg.")]
                if new:
                    dump = os.path.join(prof, sorted(new)[-1])
                    break
                time.sleep(0.1)
            if not dump:
                print("window %d: no profile dumped" % w, flush=True)
                continue
            time.sleep(0.5)
            incl, total, calls = annotate(dump)
            if os.environ.get("KEEP"):
                shutil.copy(dump, os.environ["KEEP"])
            n = calls or 0
            cols = " ".join("%s %s" % (f.split(":")[1], "%.1f" % (incl[f] / n) if n and f in incl else "n/a")
                            for f in FUNCS)
            print("window %d: frames %d (sink %d) ins/frame all %s %s" % (
                w, n, rx1 - rx0, "%.1f" % (total / n) if n and total else "n/a", cols), flush=True)
        pv.app_pause(gen, True)
        return 0
    finally:
        b.cleanup()


if __name__ == "__main__":
    sys.exit(main())
