#!/bin/sh
# perf/uplink.sh - runs perf/uplink.py (Python 3, standard library only); see there.
exec python3 -B "$(dirname "$0")/uplink.py" "$@"
