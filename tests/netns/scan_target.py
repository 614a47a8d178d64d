#!/usr/bin/env python3
"""The target host of the scan tests: TCP listeners, and UDP services that
answer only a well-formed probe (so a scanner that omits the DNS or SNMP
payload sees silence, as it would from a real server)."""
import selectors
import socket
import sys

tcp_ports = [int(p) for p in sys.argv[1].split(",")]
sel = selectors.DefaultSelector()
for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    for p in tcp_ports:
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, p))
        s.listen(1024)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, "tcp")
    for p in (7, 53, 161):
        u = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET6:
            u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        u.bind((addr, p))
        u.setblocking(False)
        sel.register(u, selectors.EVENT_READ, p)

print("ready", flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if key.data == "tcp":
            try:
                c, _ = s.accept()
                c.close()
            except OSError:
                pass
            continue
        try:
            data, peer = s.recvfrom(2048)
        except OSError:
            continue
        if key.data == 7:  # echo
            s.sendto(data, peer)
        elif key.data == 53 and len(data) >= 12:  # DNS: a header at least
            # the same ID, QR set, same opcode, RCODE 4 (not implemented)
            s.sendto(data[:2] + bytes([0x80 | (data[2] & 0x78), 0x04]) + b"\0" * 8, peer)
        elif key.data == 161 and data[:1] == b"\x30":  # SNMP: a BER SEQUENCE
            s.sendto(b"\x30\x03\x02\x01\x03", peer)
