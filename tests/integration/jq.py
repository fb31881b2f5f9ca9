#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""jq.py - read values out of JSON on stdin, for the integration tests (lib.sh's
`jget`). The paths come as arguments, never spliced into Python source.

    jq.py [--sum|--count|--len] [--fmt SPEC] PATH [PATH ...]

PATH is dot-separated steps applied to every value reached so far:
    key       a member of an object            end.sum_received.bits_per_second
    N         an element of an array (N >= 0)  vifs.0.name
    *         every element / member           bridges.*.ports
    **        the value and every value at any depth below it
                                               **.drops (every "drops" member)
    [k=v]     the elements of an array (or the object) whose member k is v
              (compared as text: true, false, null, 3, vif3.0)
                                               vifs.[name=vif3.0].rx_packets
    [k]       the elements of an array (or the object) that have a member k
                                               **.[name=vif3.0].[port_no].drops
    .         the document itself
Prints each value reached, one a line (strings as they are, numbers as Python
prints them, objects and arrays as compact JSON). --sum prints the sum of the
values (numbers; a value that is an object sums its members; 0 for none), --count
how many there are, --len the length of the first; --fmt formats each (or the
sum) with a Python format spec (".2f"). Without --sum/--count, exits 1 (nothing
printed) when the paths reach nothing; 2 on bad JSON or usage.
"""
import json
import sys


def steps(path):
    out, i, cur = [], 0, ""
    while i < len(path):
        c = path[i]
        if c == "[":
            j = path.index("]", i)
            if cur:
                out.append(cur)
                cur = ""
            out.append(path[i:j + 1])
            i = j + 1
            continue
        if c == ".":
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    if cur:
        out.append(cur)
    return out


def text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return str(v)


def below(v):
    yield v
    for x in v.values() if isinstance(v, dict) else v if isinstance(v, list) else []:
        yield from below(x)


def walk(doc, path):
    vals = [doc]
    for s in steps(path):
        nxt = []
        for v in vals:
            if s == "**":
                nxt += list(below(v))
            elif s == "*":
                nxt += list(v.values()) if isinstance(v, dict) else list(v) if isinstance(v, list) else []
            elif s.startswith("["):
                k, eq, want = s[1:-1].partition("=")
                items = v if isinstance(v, list) else [v]
                nxt += [e for e in items
                        if isinstance(e, dict) and k in e and (not eq or text(e[k]) == want)]
            elif isinstance(v, dict) and s in v:
                nxt.append(v[s])
            elif isinstance(v, list) and s.isdigit() and int(s) < len(v):
                nxt.append(v[int(s)])
        vals = nxt
    return vals


def show(v, fmt):
    if fmt and isinstance(v, (int, float)) and not isinstance(v, bool):
        return format(v, fmt)
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return text(v)


def main(argv):
    mode, fmt, paths = None, None, []
    it = iter(argv)
    for a in it:
        if a in ("--sum", "--count", "--len"):
            mode = a
        elif a == "--fmt":
            fmt = next(it, None)
        else:
            paths.append(a)
    if not paths:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        doc = json.load(sys.stdin)
    except ValueError as e:
        print("jq.py: not JSON: %s" % e, file=sys.stderr)
        return 2
    vals = []
    for p in paths:
        vals += walk(doc, p)
    if mode == "--count":
        print(len(vals))
        return 0
    if mode == "--sum":
        total = 0
        for v in vals:
            total += sum(v.values()) if isinstance(v, dict) else v
        print(show(total, fmt))
        return 0
    if not vals:
        return 1
    if mode == "--len":
        print(len(vals[0]))
    else:
        for v in vals:
            print(show(v, fmt))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
