# SPDX-License-Identifier: MIT
"""perf/rr_variants.py - request/response latency (ping -i 0.001, p50/p99/p99.9
in us, first 10 replies dropped) for the Linux bridge and pvnet's wake-up modes,
interleaved round by round so the machine's load hits them alike:
  bridge       the kernel bridge between two namespaces (peer)
  rr.event     two guests, netfront and netback sleep on event channels
  rr.poll.nf   netfront busy-polls, netback sleeps (vif poll=off)
  rr.poll      both ends poll (vif poll=on), as the bench's rr.poll row
Env: R rounds (3), N pings per measurement (2000). perf/rr_variants.sh runs this.
"""
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from peers.bridge import Bridge  # noqa: E402
from peers.pvnet import Pvnet  # noqa: E402


def fmt(r):
    return " ".join("n/a" if not r or r.get(k) is None else "%g" % r[k] for k in ("p50", "p99", "p99.9"))


def one(b, label, mode, n):
    pv = Pvnet(b)
    try:
        if not pv.start():
            print("# %s: pvnetd did not start" % label)
            return
        pv.guests_from(1, 2)
        if not pv.ready():
            print("# %s: PV NIC not ready" % label)
        if mode == "event":
            print("%s %s" % (label, fmt(b.rr(pv.g[1].ns, pv.g[2].ip, n))), flush=True)
        else:
            if not pv.poll_pair(mode):
                print("# %s: polling pair failed" % label)
            print("%s %s" % (label, fmt(b.rr(pv.poll[1].ns, pv.poll[2].ip, n))), flush=True)
            pv.poll_destroy()
    finally:
        pv.stop()
        for i in (1, 2):
            b.run(["ip", "netns", "del", "%s-g%d" % (b.tag, i)])
            b.run(["ip", "netns", "del", "%s-p%d" % (b.tag, i)])


def main():
    rounds, n = int(os.environ.get("R", "3")), int(os.environ.get("N", "2000"))
    if os.geteuid() != 0:
        print("perf/rr_variants.sh: needs root", file=sys.stderr)
        return 1
    b = lib.Bench()
    try:
        br = Bridge(b)
        if not br.setup():
            return 1
        commit = subprocess.run(["git", "-C", lib.ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        print("# rr_variants: rounds=%d pings=%d, columns p50 p99 p99.9 (us) commit=%s" % (rounds, n, commit),
              flush=True)
        for _ in range(rounds):
            print("bridge %s" % fmt(b.rr(br.ns_a, Bridge.IP_B, n)), flush=True)
            one(b, "rr.event", "event", n)
            one(b, "rr.poll.nf", "off", n)
            one(b, "rr.poll", "on", n)
        return 0
    finally:
        b.cleanup()


if __name__ == "__main__":
    sys.exit(main())
