#!/usr/bin/env bash
# 10,000 sequential and 1,000 concurrent TCP connections from the kernel
# to the host: every one completes its exchange. Sequential ones go to
# daytime (the host closes first: 10,000 TIME_WAIT entries on the host,
# counted through ss --host); concurrent ones hold 1,000 connections to
# echo open at once, then each echoes its own line.
source "$(dirname "$0")/host_lib.sh"
host_start --quiet --max-tw 20000
in_ns python3 - <<'PY' || fail "client failed"
import socket, sys, time, selectors
t0 = time.time()
bad = 0
for i in range(10000):
    try:
        s = socket.create_connection(("10.77.0.2", 13), timeout=10)
        data = b""
        while True:
            d = s.recv(256)
            if not d: break
            data += d
        s.close()
        if not data.endswith(b"UTC\r\n"): bad += 1
    except OSError as e:
        bad += 1
        print("sequential", i, e, file=sys.stderr)
        if bad > 10: break
print(f"sequential: 10000 connections, {bad} failed, {time.time()-t0:.1f} s")
if bad: sys.exit(1)

t0 = time.time()
socks = []
for i in range(1000):
    s = socket.socket()
    s.settimeout(20)
    s.connect(("10.77.0.2", 7))
    socks.append(s)
for i, s in enumerate(socks):
    s.sendall(b"line %d\n" % i)
bad = 0
for i, s in enumerate(socks):
    want = b"line %d\n" % i
    got = b""
    while len(got) < len(want):
        d = s.recv(64)
        if not d: break
        got += d
    if got != want: bad += 1
for s in socks: s.close()
print(f"concurrent: 1000 connections open at once, {bad} failed, {time.time()-t0:.1f} s")
sys.exit(1 if bad else 0)
PY
sleep 0.5
# The kernel picks its ports without knowing the host's TIME_WAIT, so some
# 4-tuples come back: a SYN reopens the entry (RFC 9293 3.10.7.4, Linux
# tcp_timewait_state_process), and tw_entered counts every one.
n=$("$PORTMUX" ss --host "$ctl" -Htn state time-wait 'sport = :13' | wc -l)
out=$("$PORTMUX" ss --host "$ctl" -s)
entered=$(grep -o 'tw_entered [0-9]*' <<<"$out" | cut -d' ' -f2)
reopened=$(grep -o 'tw_reopened [0-9]*' <<<"$out" | cut -d' ' -f2)
tw=$(grep -o ' time_wait [0-9]*' <<<"$out" | cut -d' ' -f3)
[ "$entered" -ge 10000 ] || fail "tw_entered $entered < 10000"
[ "$n" = "$tw" ] || fail "ss --host shows $n TIME-WAIT rows, the host counts $tw"
[ $((n + reopened)) -ge 9990 ] || fail "TIME-WAIT $n + reopened $reopened < 10000"
echo "ok: 10000 sequential and 1000 concurrent connections; TIME-WAIT on the host: $n rows, $reopened reopened by a reused port"
grep -Eq 'tcb_pool_full 0' <<<"$out" || fail "TCB pool full: $out"
host_stop || fail "host exit status"
