#!/usr/bin/env bash
# The host's TCP echo fed a trickle (300-byte writes every 10 ms, TCP_NODELAY)
# by the kernel over a lossy link (15% both ways): each echo goes out as a
# lone short segment, the next one queued behind it. Such a segment lost,
# and its probe or resend lost too, used to be held by sender SWS
# avoidance at every RTO (go-back-N stops at SND.MAX: shorter than a
# segment and than the data waiting), so the echo stopped until ETIMEDOUT
# (docs/tcp.md "Closed windows and short resends"; before the fix about one
# run in ten stalled). Each of PM_TRICKLE_RUNS (15) runs must come back
# byte-exact within 40 s; the host's counters prove the RTOs happened.
source "$(dirname "$0")/host_lib.sh"
source "$(dirname "$0")/impair_lib.sh"
command -v python3 >/dev/null || skip "no python3"
runs=${PM_TRICKLE_RUNS:-15}
cat >"$tmp/trickle.py" <<'PY'
import os, select, socket, sys, time
n, sz, gap, limit = 300, 300, 0.01, 40.0
data = os.urandom(n * sz)
s = socket.create_connection(("10.77.0.2", 7), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.setblocking(False)
got, sent, start, nxt = bytearray(), 0, time.time(), 0.0
while time.time() - start < limit:
    now = time.time()
    if sent < len(data) and now >= nxt:
        sent += s.send(data[sent:sent + sz])
        nxt = now + gap
        if sent == len(data):
            s.shutdown(socket.SHUT_WR)
    if select.select([s], [], [], 0.005)[0]:
        b = s.recv(65536)
        if not b:
            break
        got += b
ok = bytes(got) == data
print("echoed %d of %d bytes in %.1f s%s" % (len(got), len(data), time.time() - start,
      "" if ok else ": NOT byte-exact or incomplete"))
sys.exit(0 if ok else 1)
PY
host_start --quiet --service echo
impair_setup "$ns" pmtun0 15 0 0 || fail "impairment setup"
for r in $(seq "$runs"); do
  line=$(in_ns timeout 60 python3 "$tmp/trickle.py" 2>&1) || fail "run $r: $line"
  echo "ok: run $r: $line"
done
out=$("$PORTMUX" ss --host "$ctl" -s) || fail "ss --host -s"
stat() { grep -o "$1 [0-9]*" <<<"$out" | awk '{print $2}'; }
echo "host: rto_fired $(stat tcp_rto_fired) retrans $(stat tcp_retrans_segs) tlp_probes $(stat tcp_tlp_probes)"
[ "$(stat tcp_rto_fired)" -gt 0 ] || fail "no RTO happened: $out"
host_stop || fail "host exit status"
