#!/usr/bin/env bash
# portmux ss's command line, no root needed: help, usage errors (exit 2),
# and output that parses when reading this machine's table (netlink and
# /proc). The comparisons with ss(8) are in tests/netns/test_ss_*.sh.
set -euo pipefail
PORTMUX=${PORTMUX:-$PM_BINARY_DIR/portmux}
fail() { echo "FAIL: $*"; exit 1; }

out=$("$PORTMUX" ss --help)
grep -q "usage: portmux ss" <<<"$out" || fail "--help"
grep -q -- "--ports" <<<"$out" || fail "--help lacks --ports"

expect() { # expect RC ARGS...
  local want=$1 rc; shift
  set +e; "$PORTMUX" ss "$@" >/dev/null 2>"$tmp"; rc=$?; set -e
  [ "$rc" = "$want" ] || fail "portmux ss $*: exit $rc, expected $want ($(cat "$tmp"))"
}
tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
expect 2 -Z
expect 2 --frobnicate
expect 2 -x
expect 2 -tan sport = :70000
grep -q 'bad filter: "70000" is not a port' "$tmp" || fail "message for a bad port: $(cat "$tmp")"
expect 2 -tan "( dport = :22"
expect 2 -tan state nosuch
expect 2 -tan src 10.0.0.0/40
expect 2 --host
expect 1 --host /nonexistent.sock
expect 0 -tan
expect 0 -tuan --proc
expect 0 -s

# Output that parses, from both sources.
for src in "" --proc; do
  "$PORTMUX" ss -tuan $src --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
for s in d["sockets"]:
    assert s["netid"] in ("tcp", "udp") and 0 <= s["local"]["port"] <= 65535, s
    assert s["class"] in ("system", "user", "dynamic"), s
' || fail "--json $src"
  n_json=$("$PORTMUX" ss -tuan $src --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["sockets"]))')
  n_text=$("$PORTMUX" ss -H -tuan $src | wc -l)
  # The machine's table moves (other tests run): allow some drift.
  [ $((n_json - n_text)) -lt 50 ] && [ $((n_text - n_json)) -lt 50 ] || fail "json $n_json vs text $n_text rows"
done
"$PORTMUX" ss --ports --json | python3 -m json.tool >/dev/null || fail "--ports --json"
"$PORTMUX" ss -s --json | python3 -m json.tool >/dev/null || fail "-s --json"
# Header: ss's columns, then ours.
hdr=$("$PORTMUX" ss -tan | head -1)
grep -Eq '^State +Recv-Q Send-Q +Local Address:Port +Peer Address:Port *Process +Service +Class *$' <<<"$hdr" ||
  fail "header: $hdr"
hdr=$("$PORTMUX" ss -tuan --no-extra | head -1)
grep -Eq '^Netid +State +Recv-Q Send-Q +Local Address:Port +Peer Address:Port *Process *$' <<<"$hdr" ||
  fail "header: $hdr"
echo PASS
