# SPDX-License-Identifier: MIT
"""The systems perf/bench.py measures: the peers (bridge, memif, qemu, wire's
testpmd) and pvnet itself, each set up the same way."""
