# SPDX-License-Identifier: MIT
"""perf/peers/bridge.py - the Linux bridge peer.

Topology: namespaces A and B, each with one veth whose other end is a port of
bridge br0 in a third namespace S (the "dom0" of the kernel's path):
  A:a0 (10.77.0.1/24) <-> S:pa -- br0 -- S:pb <-> B:b0 (10.77.0.2/24)
Offloads stay at their defaults (on), as a guest's would be.
"""
from lib import log


class Bridge:
    IF_A, IF_B = "a0", "b0"
    IP_A, IP_B = "10.77.0.1", "10.77.0.2"

    def __init__(self, b):
        self.b = b
        self.ns_a, self.ns_b, self.ns_s = b.tag + "-brA", b.tag + "-brB", b.tag + "-brS"

    def setup(self):
        b = self.b
        if not (b.ns(self.ns_a) and b.ns(self.ns_b) and b.ns(self.ns_s)):
            return False
        s = ["ip", "-n", self.ns_s]
        steps = [s + ["link", "add", "br0", "type", "bridge"],
                 s + ["link", "set", "br0", "up"],
                 s + ["link", "add", "pa", "type", "veth", "peer", "name", "a0", "netns", self.ns_a],
                 s + ["link", "add", "pb", "type", "veth", "peer", "name", "b0", "netns", self.ns_b],
                 s + ["link", "set", "pa", "master", "br0", "up"],
                 s + ["link", "set", "pb", "master", "br0", "up"],
                 ["ip", "-n", self.ns_a, "addr", "add", self.IP_A + "/24", "dev", "a0"],
                 ["ip", "-n", self.ns_b, "addr", "add", self.IP_B + "/24", "dev", "b0"],
                 ["ip", "-n", self.ns_a, "link", "set", "a0", "up"],
                 ["ip", "-n", self.ns_b, "link", "set", "b0", "up"]]
        for c in steps:
            r = b.run(c)
            if r.returncode != 0:
                log("bridge: %s: %s" % (" ".join(c), r.stderr.strip()))
                return False
        # learn both MACs so pktgen frames are forwarded, not flooded
        if b.ping(self.ns_a, self.IP_B):
            return True
        log("bridge: %s cannot reach %s" % (self.IP_A, self.IP_B))
        return False
