#!/usr/bin/env bash
# portmux ss --ports: ephemeral port use per destination, checked against
# counts made from ss(8)'s rows. The namespace's range is 40000-40249 (250
# ports, 10 of them reserved); 150 open connections and 60 in TIME_WAIT
# toward 127.0.0.1:9000 leave 29 of it, which must warn.
source "$(dirname "$0")/ss_lib.sh"
ss_setup --range 40000-40249 --reserved 40240-40249 --fill 150 --tw 60

in_ns "$PORTMUX" ss --ports --json >"$tmp/ports.json"
in_ns ss -tanH state all >"$tmp/ss.txt"
python3 - "$tmp/ports.json" "$tmp/ss.txt" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["ports"]
assert d["range"] == {"lo": 40000, "hi": 40249, "size": 250}, d["range"]

def split(a):  # "[::ffff:127.0.0.1]:9000" -> ("127.0.0.1", 9000)
    host, port = a.rsplit(":", 1)
    host = host.strip("[]")
    if host.startswith("::ffff:"):
        host = host[7:]
    return host, int(port) if port != "*" else 0

want = {}
tw_total = 0
listen = set()
rows = [l.split() for l in open(sys.argv[2]) if l.strip()]
for st, rq, sq, loc, peer, *rest in rows:
    if st == "LISTEN":
        listen.add(split(loc)[1])
for st, rq, sq, loc, peer, *rest in rows:
    if st == "TIME-WAIT":
        tw_total += 1
    lh, lp = split(loc)
    ph, pp = split(peer)
    if st == "LISTEN" or not 40000 <= lp <= 40249 or lp in listen:
        continue
    assert not 40240 <= lp <= 40249, ("the kernel's connect() took a reserved port", loc)
    k = (lh, ph, pp)
    use, tw = want.get(k, (0, 0))
    want[k] = (use + (st != "TIME-WAIT"), tw + (st == "TIME-WAIT"))

# Listening or reserved ports inside the range block every destination.
reserved = set(range(40240, 40250))
blocked = len((listen | reserved) & set(range(40000, 40250)))
assert (d["listening_in_range"], d["reserved_in_range"]) == (0, 10), d
got = {(x["local"], x["remote"], x["remote_port"]): x for x in d["destinations"] if x["proto"] == "tcp"}
assert set(got) == set(want), (sorted(got), sorted(want))
for k, (use, tw) in want.items():
    x = got[k]
    assert (x["in_use"], x["time_wait"]) == (use, tw), (k, x, use, tw)
    assert x["used"] == use + tw + blocked, x
    assert x["remaining"] == 250 - x["used"], x
    assert x["warning"] == (x["used"] * 5 > 250 * 4), x
big = got[("127.0.0.1", "127.0.0.1", 9000)]
# 150 + the v4-mapped IPv6 pair (same port space) open, 60 in TIME_WAIT.
assert big["in_use"] == 151 and big["time_wait"] == 60 and big["warning"], big
assert sum(1 for x in got.values() if x["warning"]) == 1, got
h = d["time_wait"]
assert h["total"] == tw_total == 63, (h, tw_total)
assert sum(b["count"] for b in h["age_histogram"]) == h["total"], h
assert h["age_histogram"][0]["count"] == h["total"], h  # all made seconds ago
assert big["used"] == 221 and big["remaining"] == 29, big
print("ok: --ports JSON matches ss's rows:", len(want), "destinations;",
      "127.0.0.1 -> 127.0.0.1:9000:", big["used"], "used,", big["remaining"], "left")
PY

out=$(in_ns "$PORTMUX" ss --ports)
grep -q '^WARNING: tcp 127.0.0.1 -> 127.0.0.1 port 9000: 88.4% of the ephemeral range used (29 left)' <<<"$out" ||
  { echo "$out"; fail "no warning line"; }
[ "$(grep -c '^WARNING' <<<"$out")" = 1 ] || fail "more than one warning"
grep -Eq '^ +0-10 s +63 #+$' <<<"$out" || { echo "$out"; fail "histogram"; }
echo "ok: --ports text (warning, histogram)"

# The same from /proc.
in_ns "$PORTMUX" ss --ports --proc --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["source"] == "proc", d["source"]
x = [x for x in d["ports"]["destinations"] if x["remote_port"] == 9000 and x["remote"] == "127.0.0.1" and x["local"] == "127.0.0.1"][0]
assert (x["in_use"], x["time_wait"]) == (151, 60), x
' || fail "--ports --proc"
echo "ok: --ports over /proc"
echo PASS
