#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""perf/vhostuser.py - the bench's vhost-user rows alone: pvnet's standalone
vhost-user ports against DPDK's own vhost <-> virtio-user pair, same run, same
core placement, with knobs for placement, polling and profiling. The
measurement itself is perf/peers/vhostuser.py (shared with perf/bench.py).

Rows (Mpps, median of the receiver's per-second Rx-pps lines, the first one of
each run dropped as warm-up, then the median over --runs):
  vhost.virtio_user        testpmd virtio-user txonly -> pvnet switch (two
                           `--type vhostuser` ports on one bridge) -> testpmd
                           virtio-user rxonly
  dpdk.vhost.virtio_user   testpmd virtio-user txonly -> testpmd net_vhost rxonly
                           (librte_vhost): the peer
Placement: the txonly testpmd forwards on CPU 1 (main lcore 0), the rxonly one
on CPU 0 (main lcore 1); pvnetd's threads on --cpus (default 1, with the sender,
as in the full bench). Two cores, three busy parties in the pvnet row against
two in the peer. `--cpus 1/0,1` measures both placements (pinned with the
sender, unpinned) interleaved against the same peer runs, one row each (with
"cpus" in the JSON).

    sudo perf/vhostuser.py [--sizes 64,1500] [--secs 5] [--runs 3]
        [--poll off|on|USEC] [--cpus LIST[/LIST...]] [--ring N] [--perf DIR] [--json FILE]
        [--keep DIR]

--perf DIR: `perf record -a -g` (every CPU: pvnetd, both testpmds and whatever
else shares the cores) for 3 s once frames flow in the first pvnet run, one
perf.data per size in DIR (`perf report -i DIR/perf.64.data --sort comm,sym`).
Prints one line per size; --json writes the rows as a JSON list of
{"name", "size", "metric": "rate", "unit": "Mpps", "value", "peer", "peer_value"}.
Needs root (pvnetd runs in a network namespace of its own) and a built tree
(build/bin, or $PVNET_BUILD).
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from peers import pvnet as pvpeer  # noqa: E402
from peers import vhostuser  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="64,1500")
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--poll", default=None, help="the vhostuser ports' --poll (default: event mode)")
    ap.add_argument("--cpus", default="1", help="pvnetd's CPUs during the pvnet row (taskset -a; default 1); "
                    "several placements separated by '/' (e.g. 1/0,1) are measured interleaved, run by run")
    ap.add_argument("--ring", type=int, default=None, help="testpmd --rxd/--txd (default testpmd's)")
    ap.add_argument("--perf", default=None, help="directory for perf record of pvnetd, one file per size")
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--keep", default=None, help="copy the testpmd and pvnetd logs into this directory")
    a = ap.parse_args()
    if os.geteuid() != 0:
        lib.log("needs root")
        return 2
    if not vhostuser.ready():
        lib.log("dpdk-testpmd missing: no rows")
        return 0
    b = lib.Bench("pvvu%d" % os.getpid())
    rows = []
    try:
        pv = pvpeer.Pvnet(b)
        if not pv.start() or not vhostuser.pvnet_ready(b, pv):
            return 1
        if a.perf:
            os.makedirs(a.perf, exist_ok=True)
        for size in [int(x) for x in a.sizes.split(",")]:
            def profile(_rxlog, size=size):
                if a.perf:
                    b.run(["perf", "record", "-a", "-g", "-q", "-o", os.path.join(a.perf, "perf.%d.data" % size),
                           "--", "sleep", "3"], timeout=30)
            places = a.cpus.split("/")
            pos = [vhostuser.Opts(ring=a.ring, poll=a.poll, pvnetd_cpus=c) for c in places]
            peer, ours, shown = [], [[] for _ in places], [[] for _ in places]
            for i in range(a.runs):
                peer.append(vhostuser.peer(b, size, a.secs, pos[0]))
                for k, po in enumerate(pos):
                    po.during = profile if i == 0 and k == 0 else None
                    ours[k].append(vhostuser.pvnet(b, pv, size, a.secs, po, show=shown[k].append))
            peer = [x for x in peer if x is not None]
            pm = lib.median(peer)
            rows.append({"name": "dpdk.vhost.virtio_user", "size": size, "metric": "rate", "unit": "Mpps",
                         "value": pm, "runs": peer})
            for k, cpus in enumerate(places):
                runs = [x for x in ours[k] if x is not None]
                om = lib.median(runs)
                row = {"name": "vhost.virtio_user", "size": size, "metric": "rate", "unit": "Mpps",
                       "value": om, "runs": runs, "peer": "dpdk.vhost.virtio_user", "peer_value": pm}
                if len(places) > 1:
                    row["cpus"] = cpus
                rows.append(row)
                ratio = "%.2fx" % (om / pm) if om and pm else "n/a"
                print("%4d B  dpdk.vhost.virtio_user %s Mpps  vhost.virtio_user %s Mpps  ratio %s  (runs %s / %s)%s" %
                      (size, "%.3f" % pm if pm else "n/a", "%.3f" % om if om else "n/a", ratio,
                       ",".join("%.2f" % x for x in peer), ",".join("%.2f" % x for x in runs),
                       "  pvnetd on CPUs " + cpus if len(places) > 1 else ""), flush=True)
                if shown[k]:
                    lib.log("the ports after the last run (CPUs %s): " % cpus + " ".join(shown[k][-1].split()))
    finally:
        if a.keep:
            shutil.copytree(b.tmp, a.keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.sock", "run"))
        b.cleanup()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
