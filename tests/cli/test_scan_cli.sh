#!/usr/bin/env bash
# portmux scan from the command line, on loopback only: usage errors, the
# -F / --top-ports lists against nmap's own, a connect scan of known
# listeners, --shards covering the space exactly once, and --resume after
# an interrupt giving the same result as an uninterrupted scan.
set -euo pipefail
skip() { echo "SKIP: $*"; exit 77; }
PORTMUX=${PORTMUX:-$PM_BINARY_DIR/portmux}
[ -x "$PORTMUX" ] || skip "portmux not built at $PORTMUX"
command -v python3 >/dev/null || skip "python3 is not installed"
work=$(mktemp -d)
cleanup() { [ -n "${srv:-}" ] && kill "$srv" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail=0; pass=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

"$PORTMUX" scan --help | grep -q -- '--top-ports' && ok "--help" || bad "--help"
rc=0; "$PORTMUX" scan -p 5-1 127.0.0.1 2>/dev/null || rc=$?
[ "$rc" = 2 ] && ok "bad -p is a usage error" || bad "bad -p gave exit $rc"
rc=0; "$PORTMUX" scan -p 1 10.0.0.1/8x 2>/dev/null || rc=$?
[ "$rc" = 2 ] && ok "bad target is a usage error" || bad "bad target gave exit $rc"

# three listeners on loopback, their ports chosen by the kernel
python3 - "$work/ports" <<'PY' &
import socket, sys, time
socks = []
for _ in range(3):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64); socks.append(s)
open(sys.argv[1] + ".tmp", "w").write(",".join(str(s.getsockname()[1]) for s in socks))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(120)
PY
srv=$!
for _ in $(seq 50); do [ -s "$work/ports" ] && break; sleep 0.1; done
OPEN=$(cat "$work/ports")
"$PORTMUX" scan -sT -p "$OPEN" 127.0.0.1 -oG "$work/g" >/dev/null
want=$(echo "$OPEN" | tr ',' '\n' | sort -n | sed 's|$|/open/tcp//|' | tr '\n' ' ')
got=$(grep -oP '\d+/open/tcp//' "$work/g" | sort -n | tr '\n' ' ')
[ "$want" = "$got" ] && ok "-sT finds the listeners ($OPEN)" || bad "-sT: want '$want' got '$got'"

if command -v nmap >/dev/null && [ -r /usr/share/nmap/nmap-services ]; then
  for sel in "-F" "--top-ports 1000" "--top-ports 20"; do
    # shellcheck disable=SC2086
    n=$(nmap -sT -Pn -n $sel 127.0.0.1 -oX - 2>/dev/null | grep -oP 'services="\K[^"]+')
    # shellcheck disable=SC2086
    p=$("$PORTMUX" scan -sT $sel 127.0.0.1 -oX - 2>/dev/null | grep -oP 'services="\K[^"]+')
    [ -n "$n" ] && [ "$n" = "$p" ] && ok "$sel lists nmap's ports" || bad "$sel: nmap '$n' portmux '$p'"
  done
else
  echo "note: nmap or its nmap-services missing: -F/--top-ports not compared"
fi

# thousands in flight give the same answer as the default window
"$PORTMUX" scan -sT -p 1-8000,"$OPEN" 127.0.0.1 -M 4000 -oG "$work/m4000" >/dev/null
"$PORTMUX" scan -sT -p 1-8000,"$OPEN" 127.0.0.1 -oG "$work/mdef" >/dev/null
if diff <(grep -P '\tPorts:' "$work/m4000") <(grep -P '\tPorts:' "$work/mdef") >/dev/null; then
  ok "-M 4000 equals the default window"
else
  bad "-M 4000 differs from the default window"
fi

# a scan longer than a second shows percent, rate and ETA on stderr
"$PORTMUX" scan -sT -p 1-3000 127.0.0.1 --max-rate 2000 -oG /dev/null >/dev/null 2>"$work/prog"
grep -qP '^portmux scan: +\d+\.\d% done, \d+ pkts/s, .*ETA \d+:\d\d:\d\d' "$work/prog" &&
  ok "progress line on stderr" || { bad "no progress line:"; cat "$work/prog"; }

# --shards: two halves with one seed cover every probe exactly once, and
# together find what one whole scan finds
for s in 1/2 2/2 1/1; do
  "$PORTMUX" scan -sT -p 1-3000,"$OPEN" 127.0.0.1 --seed 7 --shards $s -oJ "$work/s${s%/*}of${s#*/}" >/dev/null
done
python3 - "$work/s1of2" "$work/s2of2" "$work/s1of1" "$OPEN" <<'PY' && ok "--shards 1/2 + 2/2 cover every port once" || bad "--shards"
import json, sys
a, b, whole = (json.load(open(p)) for p in sys.argv[1:4])
def total(d): return sum(d["hosts"][0]["counts"].values())
def opened(d): return {p["port"] for p in d["hosts"][0]["ports"] if p["state"] == "open"}
ours = {int(x) for x in sys.argv[4].split(",")}
n = len(set(range(1, 3001)) | ours)
assert total(a) + total(b) == n == total(whole), (total(a), total(b), n)
assert abs(total(a) - total(b)) <= 1
assert opened(a) | opened(b) == opened(whole) and not (opened(a) & opened(b))
assert ours <= opened(whole)
PY

# --resume: interrupt a slow scan, continue it, compare with a whole scan
args=(-sT -p 1-20000,"$OPEN" 127.0.0.1 --seed 11 --max-rate 8000 --no-progress)
"$PORTMUX" scan "${args[@]}" --resume "$work/state" -oG "$work/r1" >/dev/null 2>&1 &
pid=$!
sleep 1
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
if [ -s "$work/state" ] && grep -q '^next=[1-9]' "$work/state"; then
  ok "interrupt saves the state (exit $rc, $(grep '^next=' "$work/state"))"
else
  bad "no resume state after interrupt (exit $rc)"
fi
"$PORTMUX" scan "${args[@]}" --resume "$work/state" -oG "$work/r2" >/dev/null
"$PORTMUX" scan "${args[@]}" -oG "$work/whole" >/dev/null
if diff <(grep -P '\tPorts:' "$work/r2") <(grep -P '\tPorts:' "$work/whole") >/dev/null; then
  ok "resumed scan equals an uninterrupted one"
else
  bad "resumed scan differs:"; grep -P '\tPorts:' "$work/r2" "$work/whole" | cut -c1-300
fi
[ ! -e "$work/state" ] && ok "state file removed when done" || bad "state file left after completion"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
