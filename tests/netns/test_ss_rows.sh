#!/usr/bin/env bash
# portmux ss against ss(8) in one namespace: the same rows for -tan, -uan,
# -tuan, -l, -4/-6, -H, --proc; JSON that parses and counts the same;
# -p, -e, -o and -s agreeing with ss where they overlap.
source "$(dirname "$0")/ss_lib.sh"
ss_setup

same() { # same LABEL N SS_OUTPUT PORTMUX_OUTPUT
  if ! diff <(rows "$2" <<<"$3") <(rows "$2" <<<"$4") >"$tmp/diff"; then
    echo "--- ss $1"; echo "$3"; echo "--- portmux ss $1"; echo "$4"; cat "$tmp/diff"
    fail "$1: rows differ"
  fi
  local n; n=$(rows "$2" <<<"$3" | wc -l)
  echo "ok: $1 ($n rows)"
}

n_tan=$(in_ns ss -tan | tail -n +2 | wc -l)
[ "$n_tan" -ge 20 ] || fail "expected >= 20 TCP sockets in the namespace, ss shows $n_tan"
for opts in -tan -uan -tln -uln -tn -un -tan4 -tan6 -uan4 -uan6 -tlnp; do
  same "$opts" 0 "$(in_ns ss $opts)" "$(in_ns "$PORTMUX" ss $opts)"
done
for opts in -tuan -tuln -tun; do
  same "$opts" 0 "$(in_ns ss $opts)" "$(in_ns "$PORTMUX" ss $opts)"
done
# Options may follow the filter, as in ss.
same "state listening -tn" 0 "$(in_ns ss state listening -tn)" "$(in_ns "$PORTMUX" ss state listening -tn)"
same "sport = :8080 -ta" 0 "$(in_ns ss sport = :8080 -ta)" "$(in_ns "$PORTMUX" ss sport = :8080 -ta)"
# The states seen include LISTEN, ESTAB, TIME-WAIT, UNCONN.
out=$(in_ns "$PORTMUX" ss -tuan)
for st in LISTEN ESTAB TIME-WAIT UNCONN; do
  grep -q " $st " <<<"$out" || fail "no $st row in portmux ss -tuan"
done

# Header and the extra columns come after ss's.
hdr=$(in_ns "$PORTMUX" ss -tan | head -1)
[[ "$hdr" =~ ^State\ +Recv-Q\ Send-Q\ +Local\ Address:Port\ +Peer\ Address:Port\ Process\ +Service\ +Class ]] ||
  fail "header: '$hdr'"
grep -Eq '127\.0\.0\.1:8080 +0\.0\.0\.0:\* +http-alt +user' <<<"$(in_ns "$PORTMUX" ss -tln)" ||
  fail "no service/class for the 8080 listener"
grep -Eq '\*:22 +\*:\* +ssh +system' <<<"$(in_ns "$PORTMUX" ss -tln)" || fail "ssh/system for :22"
# --no-extra: exactly ss's columns, even the spacing.
diff <(in_ns ss -tan) <(in_ns "$PORTMUX" ss -tan --no-extra) || fail "--no-extra differs from ss"
echo "ok: --no-extra output is byte-identical to ss -tan"

# -H: the same rows, no header.
a=$(in_ns "$PORTMUX" ss -tan | tail -n +2 | rows 5 0)
b=$(in_ns "$PORTMUX" ss -H -tan | rows 5 0)
[ "$a" = "$b" ] || fail "-H changes the rows"
in_ns "$PORTMUX" ss -H -tan | grep -q '^State' && fail "-H printed a header"
echo "ok: -H"

# /proc fallback: the same sockets. Only netlink tells a listener's backlog
# (Send-Q) and IPV6_V6ONLY (ss prints [::] for a v6only wildcard, * else).
pf() { awk '{print $1"|"$4"|"$5"|"$2}' | sed 's/\[::\]:/*:/g'; }
same "--proc -tan" 1 "$(in_ns ss -tan | pf)" "$(in_ns "$PORTMUX" ss --proc -tan | pf)"
same "--proc -uan" 1 "$(in_ns ss -uan | pf)" "$(in_ns "$PORTMUX" ss --proc -uan | pf)"

# JSON: valid, one object per row of the table.
in_ns "$PORTMUX" ss -tuan --json >"$tmp/j.json"
python3 - "$tmp/j.json" "$(in_ns ss -tuan | tail -n +2 | wc -l)" <<'PY' || fail "--json"
import json, sys
d = json.load(open(sys.argv[1]))
n = len(d["sockets"])
assert n == int(sys.argv[2]), (n, sys.argv[2])
s = [x for x in d["sockets"] if x["state"] == "LISTEN" and x["local"]["port"] == 8080][0]
assert s["service"] == "http-alt" and s["class"] == "user" and s["netid"] == "tcp", s
assert s["local"]["address"] == "127.0.0.1", s
PY
echo "ok: --json"
for o in "-s --json" "--ports --json" "-tanope --json"; do
  in_ns "$PORTMUX" ss $o | python3 -m json.tool >/dev/null || fail "portmux ss $o: bad JSON"
done
echo "ok: JSON for -s, --ports, -tanope"

# -p: the same users:(...) as ss for every listener.
pu() { awk '{for (i = 6; i <= NF; i++) if ($i ~ /^users:/) print $4, $i}' | sort; }
diff <(in_ns ss -tlnp | pu) <(in_ns "$PORTMUX" ss -tlnp | pu) || fail "-p differs"
[ "$(in_ns "$PORTMUX" ss -tlnp | pu | wc -l)" -ge 5 ] || fail "-p found too few owners"
echo "ok: -p"

# -e: inode and cookie as ss prints them.
ie() { awk '{o = ""; for (i = 6; i <= NF; i++) if ($i ~ /^(ino|sk):/) o = o " " $i; print $4, $5, o}' | sort; }
diff <(in_ns ss -tane 2>/dev/null | tail -n +2 | ie) <(in_ns "$PORTMUX" ss -tane | tail -n +2 | ie) ||
  fail "-e differs"
echo "ok: -e"

# -o: every TIME-WAIT row carries a timewait timer, as in ss.
tw=$(in_ns "$PORTMUX" ss -tano state time-wait | tail -n +2)
[ -n "$tw" ] || fail "no TIME-WAIT rows"
grep -v -q 'timer:(timewait,' <<<"$tw" && fail "TIME-WAIT row without timer: $tw"
echo "ok: -o"

# -s: the kernel's counters, as ss reads them (TCP's "alloc" is machine-wide
# and moves with other tests: compared are the per-namespace figures).
sl() {
  local x; x=$(cat)
  grep -E '^(TCP	|UDP	|RAW	)' <<<"$x"; grep -o -E '(estab|timewait) [0-9]+' <<<"$x"
}
diff <(in_ns ss -s | sl) <(in_ns "$PORTMUX" ss -s | sl) || fail "-s differs"
echo "ok: -s"

# Usage errors exit 2.
set +e
in_ns "$PORTMUX" ss -tan sport = :99999 2>/dev/null; [ $? = 2 ] || fail "bad port: exit not 2"
in_ns "$PORTMUX" ss -tan '( sport = :22' 2>/dev/null; [ $? = 2 ] || fail "open paren: exit not 2"
in_ns "$PORTMUX" ss -tan state nosuch 2>/dev/null; [ $? = 2 ] || fail "bad state: exit not 2"
in_ns "$PORTMUX" ss -Z 2>/dev/null; [ $? = 2 ] || fail "bad option: exit not 2"
set -e
echo "ok: usage errors"
echo "PASS"
