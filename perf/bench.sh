#!/bin/sh
# perf/bench.sh - pvnet's benchmark suite: perf/bench.py (Python 3, standard
# library only) under the name the README and `make bench` use. exec keeps this
# PID, so the bench's namespaces are still named pvb-<this PID>-*.
#
#   perf/bench.sh [--quick] [--json FILE] [--results DIR]
exec python3 -B "$(dirname "$0")/bench.py" "$@"
