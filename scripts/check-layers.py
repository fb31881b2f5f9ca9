#!/usr/bin/env python3
"""make check-layers: fails on any dependency that points up the layers.

The Makefile's MODULES lists the module libraries in link order, top first; a
module may use only the modules after it (HACKING.md, "Layers"). Three checks:

  symbols   the defined and undefined global symbols of each built library
            (nm): a symbol a module takes from a module above it fails;
  includes  the public headers (include/pvnet/) each module's sources and
            each public header include, by the header's owner (HEADER_OWNER
            below): a header of a module above fails (a header-only inline
            or a declaration is a dependency nm cannot see); a header missing
            from HEADER_OWNER fails too, so every new header gets a layer;
  plugins   an accelerator plugin's folder (nic-accel/<name>/, the SDK's
            included) sees only the plugin SDK: PLUGIN_HEADERS and what they
            include, never the host-side API (pvnet/accel.h) or a header of
            the framework's folder (nic-accel/*.h).

Usage: scripts/check-layers.py BUILD_DIR MODULE...
       scripts/check-layers.py --self-test   (proves each check fails on a
                                              fixture that breaks its rule)
"""
import os
import re
import subprocess
import sys
import tempfile

# Which layer each public header belongs to. "abi" (the wire ABI both ends
# share, include/pvnet/io/) sits with lib at the bottom; "tools" (headers only
# the programs share) sits above every module.
HEADER_OWNER = {
    "lib.h": "lib", "log.h": "lib", "pkt_parse.h": "lib", "version.h": "lib",
    "io/netif.h": "abi", "io/ring.h": "abi", "io/xenbus.h": "abi", "io/xs_wire.h": "abi",
    "io/vif.h": "abi",
    "hv.h": "hv", "event_channel.h": "hv", "grant_table.h": "hv", "hypercall.h": "hv",
    "quota.h": "hv", "xs.h": "hv", "migrate.h": "hv",
    "hvc.h": "guest", "xs_client.h": "guest",
    "vswitch.h": "vswitch", "vhost.h": "vswitch", "pkt.h": "vswitch",
    "accel.h": "nic-accel", "accel_sdk.h": "nic-accel", "accel_plugin.h": "nic-accel",
    "netfront.h": "netfront",
    "netback.h": "netback",
    "config.h": "tools/lib", "domrec.h": "tools/lib", "metrics.h": "tools/lib",
    "ovsdb.h": "tools/lib", "pktgen.h": "tools/lib", "state.h": "tools/lib",
    "ctl_commands.h": "tools/lib",
    "ctl.h": "tools",
}
# What a plugin may include (and what these include, checked too).
PLUGIN_HEADERS = {"accel_sdk.h", "accel_plugin.h", "lib.h", "pkt_parse.h"}
PLUGIN_ROOT = "nic-accel"

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def symbols(lib):
    out = subprocess.run(["nm", "-g", "--defined-only", lib], capture_output=True, text=True,
                         check=True).stdout
    defs = {l.split()[2] for l in out.splitlines() if len(l.split()) == 3}
    out = subprocess.run(["nm", "-g", "--undefined-only", lib], capture_output=True, text=True,
                         check=True).stdout
    und = {l.split()[-1] for l in out.splitlines() if l.strip() and not l.endswith(":")}
    return defs, und


def check_symbols(build, mods):
    """Every 'module -> higher module: symbol' edge."""
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
    return bad


def includes(path):
    """The pvnet headers (relative to include/pvnet/) and the quoted includes of a file."""
    with open(path, errors="replace") as f:
        text = f.read()
    pv, quoted = [], []
    here = os.path.dirname(path)
    for kind, name in INCLUDE_RE.findall(text):
        if name.startswith("pvnet/"):
            pv.append(name[len("pvnet/"):])
        elif kind == '"':
            if os.path.basename(here) in ("pvnet", "io") and "include" in path.split(os.sep):
                # a public header's relative include: "io/netif.h", "../lib.h"
                rel = os.path.normpath(os.path.join(here, name))
                pv.append(rel.split("include" + os.sep + "pvnet" + os.sep, 1)[-1])
            else:
                quoted.append(name)
    return pv, quoted


def level(owner, mods):
    """Index in MODULES (0 = top); 'tools' above all, 'abi' with the bottom."""
    if owner == "tools":
        return -1
    if owner == "abi":
        return len(mods)
    return mods.index(owner) if owner in mods else None


def module_files(root, m):
    """A module's sources: its folder's *.c/*.h; nic-accel's subfolders too (the
    SDK and simnic are compiled into it)."""
    out = []
    base = os.path.join(root, m)
    for dirpath, dirnames, files in os.walk(base):
        if dirpath != base and m != PLUGIN_ROOT:
            dirnames[:] = []
            continue
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                out.append(os.path.join(dirpath, f))
    return out


def check_includes(root, mods, owner_of):
    bad = []
    inc = os.path.join(root, "include", "pvnet")
    headers = []
    for dirpath, _, files in os.walk(inc):
        headers += [os.path.relpath(os.path.join(dirpath, f), inc) for f in files if f.endswith(".h")]
    for h in sorted(headers):
        if h not in owner_of:
            bad.append("include/pvnet/%s: no layer (add it to HEADER_OWNER in %s)"
                       % (h, os.path.basename(__file__)))
    srcs = [(m, f) for m in mods for f in module_files(root, m)]
    srcs += [(owner_of[h], os.path.join(inc, h)) for h in headers if h in owner_of]
    for m, path in srcs:
        mine = level(m, mods)
        if mine is None:
            continue
        for h in includes(path)[0]:
            o = owner_of.get(h)
            lv = level(o, mods) if o else None
            if lv is not None and lv < mine:
                bad.append("%s (%s) includes pvnet/%s (%s)" % (os.path.relpath(path, root), m, h, o))
    return bad


def closure(inc, start):
    seen, todo = set(), list(start)
    while todo:
        h = todo.pop()
        if h in seen:
            continue
        seen.add(h)
        p = os.path.join(inc, h)
        if os.path.exists(p):
            todo += includes(p)[0]
    return seen


def check_plugins(root, allowed):
    bad = []
    inc = os.path.join(root, "include", "pvnet")
    base = os.path.join(root, PLUGIN_ROOT)
    if not os.path.isdir(base):
        return bad
    allowed_closure = closure(inc, allowed)
    for h in sorted(allowed_closure - allowed):
        if not h.startswith("io/"):
            bad.append("the plugin SDK headers include pvnet/%s (plugins see only %s)"
                       % (h, ", ".join(sorted(allowed))))
    for sub in sorted(os.listdir(base)):
        d = os.path.join(base, sub)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(d, f)
            pv, quoted = includes(path)
            for h in pv:
                if h not in allowed:
                    bad.append("%s (plugin %s) includes pvnet/%s (plugins see only %s)"
                               % (os.path.relpath(path, root), sub, h, ", ".join(sorted(allowed))))
            for q in quoted:
                if "/" in q or not os.path.exists(os.path.join(d, q)):
                    bad.append("%s (plugin %s) includes \"%s\" (outside its folder)"
                               % (os.path.relpath(path, root), sub, q))
    return bad


def report(what, bad, mods):
    if bad:
        print("check-layers: %d %s (MODULES: %s):" % (len(bad), what, " ".join(mods)))
        for b in bad:
            print("  " + b)
    return len(bad)


def self_test():
    """Each check on a fixture that breaks its rule must fail, and pass once fixed."""
    cc = os.environ.get("CC", "cc")
    fails = 0

    def expect(name, got, want):
        nonlocal fails
        ok = any(want in g for g in got) if want else not got
        print("check-layers self-test: %s: %s" % (name, "ok" if ok else "FAILED (%r)" % got))
        fails += not ok

    with tempfile.TemporaryDirectory(prefix="check-layers-") as t:
        def write(rel, text):
            p = os.path.join(t, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
            return p

        os.makedirs(os.path.join(t, "lib"))
        for m, src in (("hi", "int hi_fn(void); int hi_fn(void) { return 1; }\n"),
                       ("lo", "int hi_fn(void); int lo_fn(void); int lo_fn(void) { return hi_fn(); }\n")):
            c = write("%s/%s.c" % (m, m), src)
            o = os.path.join(t, m + ".o")
            subprocess.run([cc, "-c", "-o", o, c], check=True)
            subprocess.run(["ar", "rcs", os.path.join(t, "lib", "lib%s.a" % m), o], check=True)
        # lo listed below hi but calling it: the symbol check must fail
        expect("symbol taken from a higher layer", check_symbols(t, ["hi", "lo"]), "lo -> hi: hi_fn")
        expect("symbol taken from a lower layer", check_symbols(t, ["lo", "hi"]), None)

        owners = {"hi.h": "hi", "lo.h": "lo"}
        write("include/pvnet/hi.h", "int hi_fn(void);\n")
        write("include/pvnet/lo.h", "int lo_fn(void);\n")
        write("lo/inline.c", "#include <pvnet/hi.h>\n")
        expect("header of a higher layer", check_includes(t, ["hi", "lo"], owners),
               "lo/inline.c (lo) includes pvnet/hi.h (hi)")
        write("include/pvnet/new.h", "\n")
        expect("header with no layer", check_includes(t, ["lo", "hi"], owners), "new.h: no layer")
        os.remove(os.path.join(t, "include/pvnet/new.h"))
        expect("headers of lower layers", check_includes(t, ["lo", "hi"], owners), None)

        write("include/pvnet/accel_sdk.h", '#include "accel_plugin.h"\n')
        write("include/pvnet/accel_plugin.h", "\n")
        write("include/pvnet/accel.h", '#include "accel_plugin.h"\n')
        write("nic-accel/accel_private.h", "\n")
        write("nic-accel/vendor/dev.c", "#include <pvnet/accel_sdk.h>\n#include \"dev.h\"\n")
        write("nic-accel/vendor/dev.h", "\n")
        allowed = {"accel_sdk.h", "accel_plugin.h"}
        expect("plugin on the SDK only", check_plugins(t, allowed), None)
        write("nic-accel/vendor/host.c", "#include <pvnet/accel.h>\n")
        expect("plugin including the host API", check_plugins(t, allowed),
               "nic-accel/vendor/host.c (plugin vendor) includes pvnet/accel.h")
        os.remove(os.path.join(t, "nic-accel/vendor/host.c"))
        write("nic-accel/vendor/priv.c", '#include "../accel_private.h"\n')
        expect("plugin including the framework's header", check_plugins(t, allowed),
               'includes "../accel_private.h" (outside its folder)')
        os.remove(os.path.join(t, "nic-accel/vendor/priv.c"))
        write("include/pvnet/accel_plugin.h", '#include "accel.h"\n')
        expect("SDK header pulling in the host API", check_plugins(t, allowed),
               "the plugin SDK headers include pvnet/accel.h")
    return 1 if fails else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    build, mods = sys.argv[1], sys.argv[2:]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    n = report("symbol(s) taken from a higher layer", check_symbols(build, mods), mods)
    n += report("include(s) of a higher layer's header", check_includes(root, mods, HEADER_OWNER),
                mods)
    n += report("plugin include(s) outside the SDK", check_plugins(root, PLUGIN_HEADERS), mods)
    if n:
        return 1
    print("check-layers: %d modules, every dependency points down; plugins see only the SDK"
          % len(mods))
    return 0


if __name__ == "__main__":
    sys.exit(main())
