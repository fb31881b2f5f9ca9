#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/format.sh [--check] [FILE ...]: clang-format 14 with the tree's .clang-format
# over every C file git knows (or the FILEs given), except those .clang-format-ignore
# names. A folder may refine the style with its own .clang-format
# (BasedOnStyle: InheritParentConfig), as include/pvnet/io/ does.
#   scripts/format.sh            rewrites the files in place
#   scripts/format.sh --check    changes nothing: lists each file whose format differs
#                                and exits 1 if there is one (make format-check)
# CLANG_FORMAT=path picks the binary (default clang-format-14, else clang-format; the
# style is tuned for 14: another major version formats some constructs differently).
set -u
cd "$(dirname "$0")/.."

check=0
if [ "${1:-}" = --check ]; then check=1; shift; fi
CF=${CLANG_FORMAT:-}
if [ -z "$CF" ]; then
  for c in clang-format-14 clang-format; do
    if command -v "$c" >/dev/null 2>&1; then CF=$c; break; fi
  done
fi
if [ -z "$CF" ]; then
  echo "format.sh: clang-format not found (apt-get install clang-format-14)" >&2
  exit 2
fi
major=$("$CF" --version | sed -n 's/.*version \([0-9]*\).*/\1/p')
[ "$major" = 14 ] || echo "format.sh: $CF is version ${major:-?}; .clang-format is tuned for 14" >&2

if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files '*.c' '*.h')
fi
# .clang-format-ignore: patterns (shell globs, relative to the top) of files left alone
if [ -f .clang-format-ignore ]; then
  mapfile -t ignore < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' .clang-format-ignore | grep -v '^$')
  kept=()
  for f in "${files[@]}"; do
    skip=0
    for p in "${ignore[@]}"; do
      # shellcheck disable=SC2053 # the pattern is a glob
      [[ "${f#./}" == $p ]] && { skip=1; break; }
    done
    [ "$skip" = 1 ] || kept+=("$f")
  done
  files=("${kept[@]}")
fi
[ ${#files[@]} -gt 0 ] || exit 0

if [ "$check" = 0 ]; then
  printf '%s\0' "${files[@]}" | xargs -0 -n 16 -P 2 "$CF" -i --style=file
  exit $?
fi
# one line per file that would change
bad=$(printf '%s\0' "${files[@]}" |
  xargs -0 -n 1 -P 2 sh -c '"$0" --style=file "$1" | cmp -s - "$1" || echo "$1"' "$CF" | sort)
if [ -n "$bad" ]; then
  echo "$bad"
  echo "format.sh: $(wc -l <<<"$bad") file(s) not formatted as .clang-format says (scripts/format.sh FILE fixes one)" >&2
  exit 1
fi
exit 0
