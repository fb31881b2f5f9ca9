#!/usr/bin/env bash
# `make deb`: builds the Debian package from a copy of the tracked tree (so the
# work tree's build/ dirs are not touched and nothing is written outside the
# repo), with dpkg-buildpackage. The .deb files end up in build-deb/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dpkg-buildpackage >/dev/null || { echo "deb: dpkg-buildpackage missing (apt-get install dpkg-dev debhelper)" >&2; exit 1; }
ver=$(dpkg-parsechangelog -S Version)
top=build-deb
src="$top/src/pvnet-$ver"
rm -rf "$top"
mkdir -p "$src" "$top/out"
# the tracked files, plus those not yet committed (a developer's tree)
{ git ls-files -co --exclude-standard 2>/dev/null || find . -path ./build\* -prune -o -type f -print; } |
  grep -vE '^(build|build-asan|build-fuzz|build-deb)/' | tar -cf - -T - | tar -xf - -C "$src"
( cd "$src" && dpkg-buildpackage -us -uc -b ) > "$top/build.log" 2>&1 || {
  echo "deb: dpkg-buildpackage failed; the end of $top/build.log:" >&2
  tail -n 30 "$top/build.log" >&2
  exit 1
}
mv "$top/src"/*.deb "$top/out/"
mv "$top/src"/*.buildinfo "$top/src"/*.changes "$top/out/" 2>/dev/null || true
ls -1 "$top/out"/*.deb
