#!/usr/bin/env python3
"""Holds a known set of sockets open for the portmux ss tests (run inside a
test's own network namespace, loopback only). Prints "ready" once every
socket is in place, then sleeps until killed (at most 300 s).

  ss_sockets.py [--fill N --tw M]   N client connections to 127.0.0.1:9000
                                    kept open, M more closed actively (TIME_WAIT)
"""
import argparse
import socket
import time

ap = argparse.ArgumentParser()
ap.add_argument("--fill", type=int, default=0)
ap.add_argument("--tw", type=int, default=0)
args = ap.parse_args()
keep = []


def listener(fam, addr, port, v6only=None):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((addr, port))
    s.listen(4096)
    keep.append(s)
    return s


def pair(lst, fam, dst, port, src=None):
    c = socket.socket(fam, socket.SOCK_STREAM)
    if src:
        c.bind((src, 0))
    c.connect((dst, port))
    a, _ = lst.accept()
    keep.extend([c, a])
    return c, a


l8080 = listener(socket.AF_INET, "127.0.0.1", 8080)
l9000 = listener(socket.AF_INET, "0.0.0.0", 9000)
l22 = listener(socket.AF_INET6, "::", 22, v6only=0)
l8443 = listener(socket.AF_INET6, "::1", 8443, v6only=1)
listener(socket.AF_INET, "127.0.0.2", 80)

c, a = pair(l8080, socket.AF_INET, "127.0.0.1", 8080)
c.send(b"x" * 100)  # a Recv-Q on the accepted side
pair(l8080, socket.AF_INET, "127.0.0.1", 8080, src="127.0.0.3")
pair(l9000, socket.AF_INET, "127.0.0.2", 9000)
pair(l9000, socket.AF_INET6, "::ffff:127.0.0.1", 9000)  # v4-mapped
pair(l22, socket.AF_INET6, "::1", 22)
pair(l22, socket.AF_INET, "127.0.0.1", 22)
pair(l8443, socket.AF_INET6, "::1", 8443)

# TIME_WAIT on the client side: the client closes first.
for _ in range(3):
    cc = socket.create_connection(("127.0.0.1", 8080))
    aa, _ = l8080.accept()
    cc.close()
    time.sleep(0.01)
    aa.close()

# Filling a destination's share of the ephemeral range.
for _ in range(args.fill):
    pair(l9000, socket.AF_INET, "127.0.0.1", 9000)
for _ in range(args.tw):
    cc = socket.create_connection(("127.0.0.1", 9000))
    aa, _ = l9000.accept()
    cc.close()
    aa.close()

for fam, addr, port, peer in [
    (socket.AF_INET, "0.0.0.0", 53, None),
    (socket.AF_INET, "127.0.0.1", 5000, ("127.0.0.1", 53)),
    (socket.AF_INET6, "::1", 5353, ("::1", 53)),
    (socket.AF_INET6, "::", 123, None),
]:
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.bind((addr, port))
    if peer:
        u.connect(peer)
    keep.append(u)

time.sleep(0.3)  # let the active closes reach TIME_WAIT
print("ready", flush=True)
time.sleep(300)
