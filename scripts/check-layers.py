#!/usr/bin/env python3
"""make check-layers: fails on any symbol a module takes from a module above it.

The Makefile's MODULES lists the module libraries in link order, top first; a
module may use only the modules after it (HACKING.md, "Layers"). This reads the
defined and undefined global symbols of each library with nm and prints every
edge that points the wrong way (or the same module's private symbols taken by
another). Usage: scripts/check-layers.py BUILD_DIR MODULE...
"""
import subprocess
import sys


def symbols(lib):
    out = subprocess.run(["nm", "-g", "--defined-only", lib], capture_output=True, text=True,
                         check=True).stdout
    defs = {l.split()[2] for l in out.splitlines() if len(l.split()) == 3}
    out = subprocess.run(["nm", "-g", "--undefined-only", lib], capture_output=True, text=True,
                         check=True).stdout
    und = {l.split()[-1] for l in out.splitlines() if l.strip() and not l.endswith(":")}
    return defs, und


def main():
    build, mods = sys.argv[1], sys.argv[2:]
    owner, needs = {}, {}
    for m in mods:
        defs, und = symbols("%s/lib/lib%s.a" % (build, m.replace("/", "_")))
        for s in defs:
            owner.setdefault(s, m)
        needs[m] = und
    bad = []
    for i, m in enumerate(mods):
        for s in sorted(needs[m]):
            o = owner.get(s)
            if o is not None and o != m and mods.index(o) < i:
                bad.append("%s -> %s: %s" % (m, o, s))
    if bad:
        print("check-layers: %d symbol(s) taken from a higher layer (MODULES: %s):"
              % (len(bad), " ".join(mods)))
        for b in bad:
            print("  " + b)
        return 1
    print("check-layers: %d modules, every dependency points down" % len(mods))
    return 0


if __name__ == "__main__":
    sys.exit(main())
