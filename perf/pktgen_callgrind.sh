#!/bin/sh
# perf/pktgen_callgrind.sh - runs perf/pktgen_callgrind.py (Python 3, standard library only); see there.
exec python3 -B "$(dirname "$0")/pktgen_callgrind.py" "$@"
