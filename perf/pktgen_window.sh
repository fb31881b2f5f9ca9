#!/bin/sh
# perf/pktgen_window.sh - runs perf/pktgen_window.py (Python 3, standard library only); see there.
exec python3 -B "$(dirname "$0")/pktgen_window.py" "$@"
