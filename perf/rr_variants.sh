#!/bin/sh
# perf/rr_variants.sh - runs perf/rr_variants.py (Python 3, standard library only); see there.
exec python3 -B "$(dirname "$0")/rr_variants.py" "$@"
