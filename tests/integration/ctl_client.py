#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hostile and raw clients of pvnetd's control socket (include/pvnet/ctl.h), for
tests/integration/test_isolation_ctl.sh and test_daemon.sh.

  ctl_client.py SOCK flood SECS        send requests for SECS s, never read a reply;
                                       prints "sent N disconnected 0|1"
  ctl_client.py SOCK conns N SECS      open N connections, send nothing, hold them SECS s;
                                       prints "opened N closed_by_pvnetd M"
  ctl_client.py SOCK silent SECS       one connection that never sends: prints the
                                       seconds until pvnetd closed it (or "open")
  ctl_client.py SOCK oversize BYTES    one request of BYTES bytes: prints the reply
  ctl_client.py SOCK raw VERSION ARG.. one request speaking control protocol VERSION
                                       (0: no version marker, as before versions):
                                       prints the reply messages, one per line
"""
import os
import select
import socket
import sys
import time

PROTO_PREFIX = b"pvnet-ctl/"


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    return s


def request(version, args):
    msg = b""
    if version:
        msg += PROTO_PREFIX + str(version).encode() + b"\0"
    for a in args:
        msg += a.encode() + b"\0"
    return msg


def closed_by_peer(s):
    """True once pvnetd closed its end (POLLHUP, or EOF/reset on a read)."""
    p = select.poll()
    p.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
    for _, ev in p.poll(0):
        if ev & (select.POLLHUP | select.POLLERR):
            return True
    return False


def flood(path, secs):
    s = connect(path)
    s.setblocking(False)
    req = request(int(os.environ.get("PVNET_CTL_PROTO", "2")), ["info"])
    sent, end, gone = 0, time.time() + secs, False
    while time.time() < end:
        try:
            s.send(req)
            sent += 1
        except BlockingIOError:
            # pvnetd stopped reading us (our replies fill the socket): wait a little
            select.select([], [s], [], 0.05)
        except (BrokenPipeError, ConnectionResetError):
            gone = True
            break
        if closed_by_peer(s):
            gone = True
            break
    print("sent %d disconnected %d" % (sent, 1 if gone else 0), flush=True)


def conns(path, n, secs):
    socks = []
    for _ in range(n):
        try:
            socks.append(connect(path))
        except OSError:
            break
    time.sleep(secs)
    closed = sum(1 for s in socks if closed_by_peer(s))
    print("opened %d closed_by_pvnetd %d" % (len(socks), closed), flush=True)


def silent(path, secs):
    s = connect(path)
    t0 = time.time()
    while time.time() - t0 < secs:
        if closed_by_peer(s):
            print("%.1f" % (time.time() - t0), flush=True)
            return
        time.sleep(0.05)
    print("open", flush=True)


def read_replies(s, timeout=5.0):
    out = []
    s.settimeout(timeout)
    while True:
        try:
            m = s.recv(1 << 20)
        except (socket.timeout, ConnectionResetError):
            break
        if not m:
            break
        out.append(m.decode(errors="replace").rstrip("\n"))
        if m[:1] == b"X":
            break
    return out


def oversize(path, size):
    s = connect(path)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size * 2 + 65536)
    try:
        s.send(request(int(os.environ.get("PVNET_CTL_PROTO", "2")), ["info"]) + b"A" * size)
    except OSError as e:
        print("send: %s" % e)
        return
    for line in read_replies(s):
        print(line)


def raw(path, version, args):
    s = connect(path)
    s.send(request(version, args))
    for line in read_replies(s):
        print(line)


def main():
    path, mode = sys.argv[1], sys.argv[2]
    a = sys.argv[3:]
    if mode == "flood":
        flood(path, float(a[0]))
    elif mode == "conns":
        conns(path, int(a[0]), float(a[1]))
    elif mode == "silent":
        silent(path, float(a[0]))
    elif mode == "oversize":
        oversize(path, int(a[0]))
    elif mode == "raw":
        raw(path, int(a[0]), a[1:])
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
