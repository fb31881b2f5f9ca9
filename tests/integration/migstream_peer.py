#!/usr/bin/env python3
"""A hostile migration sender for test_migrate.sh: holds the key (or not) and
sends a stream that is truncated, corrupt or replayed (docs/migration.md).
usage: migstream_peer.py HOST PORT KEYFILE RECORDFILE MODE
MODE: truncated | corrupt | replayed. Prints what the receiver answered."""
import hashlib, hmac, os, socket, struct, sys

MAGIC = 0x3130474d54564e50
host, port, keyf, recf, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
key = open(keyf, 'rb').read()
text = open(recf, 'rb').read()
domid = int([l.split()[1] for l in text.decode().splitlines() if l.startswith('domid ')][0])
mem = int([l.split()[1] for l in text.decode().splitlines() if l.startswith('memory ')][0]) << 20


def recvn(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return b
        b += c
    return b


def session():
    s = socket.create_connection((host, port), timeout=5)
    hr = recvn(s, 80)
    nr = hr[16:48]
    ns = os.urandom(32)
    mac = hmac.new(key, b'pvnet-mig-c' + nr + ns, hashlib.sha256).digest()
    s.sendall(struct.pack('<QII', MAGIC, 1, 0) + ns + mac)
    recvn(s, 80)
    sk = hmac.new(key, b'pvnet-mig-k' + nr + ns, hashlib.sha256).digest()
    return s, sk


def rec(sk, t, payload, seq):
    h = struct.pack('<IIQ', t, len(payload), seq)
    return h + payload + hmac.new(sk, b'S' + h + payload, hashlib.sha256).digest()


def answer(s):
    try:
        h = recvn(s, 16)
        if len(h) < 16:
            return 'closed'
        t, n, _ = struct.unpack('<IIQ', h)
        p = recvn(s, n)
        recvn(s, 32)
        if t == 65:
            return 'REFUSE ' + p[4:].split(b'\0')[0].decode(errors='replace')
        return {64: 'ACCEPT', 66: 'DONE'}.get(t, 'type %d' % t)
    except OSError as e:
        return 'error ' + str(e)


cfg = struct.pack('<IHHQII', 1, domid, 0, mem, 32, len(text)) + text
s, sk = session()
if mode == 'corrupt':
    r = bytearray(rec(sk, 1, cfg, 0))
    r[40] ^= 1
    s.sendall(bytes(r))
    print(answer(s))
elif mode == 'replayed':
    old = rec(sk, 1, cfg, 0)
    s.sendall(old)
    print('first session:', answer(s))
    s.close()
    s, sk = session()
    s.sendall(old)  # the same bytes in a new session
    print(answer(s))
elif mode == 'truncated':
    s.sendall(rec(sk, 1, cfg, 0))
    print('config:', answer(s))
    pages = struct.pack('<II', 0, 4) + struct.pack('<4Q', 0, 1, 2, 3) + b'\x55' * 4096 * 4
    r = rec(sk, 2, pages, 1)
    s.sendall(r[:len(r) // 2])  # then the connection ends mid-record
    s.shutdown(socket.SHUT_WR)
    print(answer(s))
s.close()
