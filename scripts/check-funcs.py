#!/usr/bin/env python3
"""make check-funcs: no C function longer than MAX_LINES lines.

Reads every .c file of the modules and programs (lib hv guest vswitch netback
netfront nic-accel tools; not tests/, whose test cases are scripts) and measures
each function defined at file scope in the house style (the opening `{` and the
closing `}` of a function body in column 0): its length is the number of lines
between the two braces. A function over MAX_LINES fails unless ALLOW names it:

  - a data-path inner loop kept whole on purpose (splitting it would cost a
    call or obscure the one pass over a burst): the entry says why, and so must
    the function's own comment, with the word "check-funcs:" in the comment
    block right above the function;
  - "to split": a function in a file being reworked by someone else, listed so
    the check passes meanwhile; the reason says so. Remove the entry when it is
    split.

A data-path entry naming a function that is no longer over the limit (or no
longer exists) fails, so that list cannot go stale; a "to split" entry whose
function was cut meanwhile only prints a note asking for its removal (its
owner may land the split at any time).

Usage: scripts/check-funcs.py [--self-test] [ROOT]
"""
import os
import re
import sys
import tempfile

MAX_LINES = 80
DIRS = ["lib", "hv", "guest", "vswitch", "netback", "netfront", "nic-accel", "tools"]

# "path:function": (kind, why). kind is "data-path" or "to split".
ALLOW = {
    # data-path inner loops, each saying why above it
    "netfront/datapath.c:tx_burst": ("data-path", "TAP -> TX ring burst"),
    "netfront/datapath.c:rx_burst": ("data-path", "RX ring -> TAP burst"),
    "netfront/app.c:app_rx_burst": ("data-path", "RX ring -> application burst"),
    "netback/tx.c:tx_build": ("data-path", "TX stage 1, inlined into the burst"),
    "netback/tx_parse.c:nb_tx_parse": ("data-path", "per-packet TX request walk"),
    "netback/worker.c:worker_main": ("data-path", "the worker's poll loop"),
    "vswitch/input.c:vsw_input": ("data-path", "the switch's per-batch input"),
    "vswitch/port_vxlan.c:vxlan_rx_poll": ("data-path", "VTEP recvmmsg burst"),
    "vswitch/port_vxlan.c:vxlan_send": ("data-path", "VTEP sendmmsg burst"),
    # to split: still over the limit; remove each entry when its function is cut
}

NAME_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def functions(path):
    """(name, first body line, length) for every column-0-brace function of a file."""
    with open(path, errors="replace") as f:
        lines = f.read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        if lines[i] == "{":
            # the signature: the lines above, back to the one starting the declaration
            j = i - 1
            sig = []
            while j >= 0 and lines[j].strip() and not lines[j].startswith(("}", "#", "/*", " *", "*/")):
                sig.insert(0, lines[j])
                if lines[j][:1] not in (" ", "\t"):
                    break
                j -= 1
            start = i
            k = i + 1
            while k < len(lines) and lines[k] != "}":
                k += 1
            text = " ".join(sig)
            m = NAME_RE.search(text.split("(")[0] + "(") if "(" in text else None
            if m and not re.search(r"=\s*$", text.split("(")[0]):
                out.append((m.group(1), start + 1, k - start - 1, j))
            i = k + 1
            continue
        i += 1
    return out, lines


def comment_above(lines, sig_line):
    """The comment block right above a function's signature (may be empty)."""
    j = sig_line - 1
    block = []
    while j >= 0 and (lines[j].startswith(("/*", " *", " */", "*/")) or lines[j].strip().startswith("//")):
        block.insert(0, lines[j])
        j -= 1
    return "\n".join(block)


def check(root, allow, max_lines=MAX_LINES, dirs=DIRS):
    bad, seen = [], set()
    for d in dirs:
        for dirpath, _, files in os.walk(os.path.join(root, d)):
            for f in sorted(files):
                if not f.endswith(".c"):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                fns, lines = functions(path)
                for name, line, length, sig_line in fns:
                    if length <= max_lines:
                        continue
                    key = "%s:%s" % (rel, name)
                    entry = allow.get(key)
                    if entry is None:
                        bad.append("%s:%d: %s() is %d lines (limit %d): split it along its steps"
                                   % (rel, line, name, length, max_lines))
                        continue
                    seen.add(key)
                    kind, _why = entry
                    if kind == "data-path" and "check-funcs:" not in comment_above(lines, max(sig_line, 0)):
                        bad.append("%s:%d: %s() is allowed as a data-path loop but its comment does not "
                                   "say why (no \"check-funcs:\" in the comment above it)" % (rel, line, name))
    for key in sorted(set(allow) - seen):
        msg = "%s: listed in ALLOW but not over %d lines (or gone): remove the entry" % (key, max_lines)
        if allow[key][0] == "to split":
            print("check-funcs: note: " + msg)  # split meanwhile: not an error
        else:
            bad.append(msg)
    return bad


def self_test():
    fails = 0
    long_body = "\n".join("\tx++;" for _ in range(MAX_LINES + 1))
    with tempfile.TemporaryDirectory(prefix="check-funcs-") as t:
        os.makedirs(os.path.join(t, "lib"))
        p = os.path.join(t, "lib", "a.c")

        def run(src, allow):
            with open(p, "w") as f:
                f.write(src)
            return check(t, allow, dirs=["lib"])

        def expect(name, got, want):
            nonlocal fails
            ok = any(want in g for g in got) if want else not got
            print("check-funcs self-test: %s: %s" % (name, "ok" if ok else "FAILED (%r)" % got))
            fails += not ok

        long_fn = "static int big(int x)\n{\n%s\n\treturn x;\n}\n" % long_body
        expect("long function", run(long_fn, {}), "big() is %d lines" % (MAX_LINES + 2))
        expect("short function", run("int small(void)\n{\n\treturn 0;\n}\n", {}), None)
        expect("data-path loop without its comment", run(long_fn, {"lib/a.c:big": ("data-path", "x")}),
               "does not say why")
        expect("data-path loop with its comment",
               run("/* one pass; check-funcs: kept whole */\n" + long_fn,
                   {"lib/a.c:big": ("data-path", "x")}), None)
        expect("to split", run(long_fn, {"lib/a.c:big": ("to split", "owner")}), None)
        expect("stale data-path entry", run("int small(void)\n{\n\treturn 0;\n}\n",
                                            {"lib/a.c:big": ("data-path", "x")}), "remove the entry")
    return 1 if fails else 0


def main():
    if sys.argv[1:2] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
    bad = check(root, ALLOW)
    if bad:
        print("check-funcs: %d function(s) over %d lines:" % (len(bad), MAX_LINES))
        for b in bad:
            print("  " + b)
        return 1
    n_dp = sum(1 for k in ALLOW.values() if k[0] == "data-path")
    print("check-funcs: no function over %d lines (%d data-path loops and %d to split listed)"
          % (MAX_LINES, n_dp, len(ALLOW) - n_dp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
