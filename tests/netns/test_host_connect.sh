#!/usr/bin/env bash
# The host's own outgoing connections (--connect) reach a kernel listener
# in the namespace, IPv4 and IPv6, from ephemeral ports inside the range
# the host was configured with (--knob local_port_range=40000,40019), all
# distinct; a connect to a port nobody listens on is refused.
source "$(dirname "$0")/host_lib.sh"
in_ns python3 - "$tmp/peers" >"$tmp/listener.log" 2>&1 <<'PY' &
import socket, sys, select
out = open(sys.argv[1], "w")
ls = []
# Wildcards: bound before the host (and its TUN addresses) exist.
for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    s = socket.socket(fam)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, 9000))
    s.listen(64)
    ls.append(s)
n = 0
while n < 12:
    r, _, _ = select.select(ls, [], [], 20)
    if not r: break
    for l in r:
        c, peer = l.accept()
        c.settimeout(5)
        line = c.recv(100)
        c.sendall(b"hi " + line)
        c.close()
        out.write(f"{peer[0]} {peer[1]} {line!r}\n"); out.flush()
        n += 1
PY
lpid=$!
for _ in $(seq 50); do in_ns ss -Htln 'sport = :9000' | grep -q . && break; sleep 0.1; done
args=()
for i in $(seq 10); do args+=(--connect 10.77.0.1:9000); done
args+=(--connect '[fd00:77::1]:9000' --connect '[fd00:77::1]:9000' --connect 10.77.0.1:9999)
host_start --knob local_port_range=40000,40019 --service echo "${args[@]}"
for _ in $(seq 100); do [ "$(wc -l <"$tmp/peers" 2>/dev/null)" = 12 ] && break; sleep 0.1; done
wait $lpid
sleep 0.5
host_stop || fail "host exit status"
cat "$tmp/peers"
[ "$(wc -l <"$tmp/peers")" = 12 ] || { cat "$tmp/listener.log" "$tmp/host.log"; fail "the listener saw $(wc -l <"$tmp/peers") of 12 connections"; }
grep -c "hello from portmux" "$tmp/peers" | grep -qx 12 || fail "not every connection sent its line"
awk '{ if ($2 < 40000 || $2 > 40019) bad++ } END { exit bad }' "$tmp/peers" || fail "a port outside 40000-40019"
[ "$(awk '$1 ~ /^10\./ {print $2}' "$tmp/peers" | sort -u | wc -l)" = 10 ] || fail "IPv4 ports not distinct"
[ "$(grep -c '^fd00:77::2 ' "$tmp/peers")" = 2 ] || fail "IPv6 connections"
[ "$(grep -c 'closed by the peer after' "$tmp/host.log")" = 12 ] || { cat "$tmp/host.log"; fail "the host did not read every answer"; }
grep -q 'connect 10.77.0.1:9999: Connection refused' "$tmp/host.log" || { cat "$tmp/host.log"; fail "no refusal for :9999"; }
echo "ok: 12 outgoing connections (10 IPv4, 2 IPv6) from ports in 40000-40019, answers read; :9999 refused"
