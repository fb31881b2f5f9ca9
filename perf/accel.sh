#!/bin/sh
# perf/accel.sh - runs perf/accel.py (Python 3, standard library only); see there.
exec python3 -B "$(dirname "$0")/accel.py" "$@"
