#!/usr/bin/env bash
# portmux sim: the capacity figures against Little's law computed here
# independently, exit codes, JSON, errors.
set -euo pipefail
pm=${PORTMUX:?}
fail() { echo "FAIL: $*"; exit 1; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
near() { python3 -c "import sys; a,b=float('$1'),float('$2'); sys.exit(0 if abs(a-b) <= 1e-6*max(1,abs(b)) else 1)" || fail "$3: $1 != $2"; }

# Linux range, 60 s TIME_WAIT, 0.05 s open: 28232 / 60.05 connections/s.
out=$("$pm" sim --rate 200 --json)
near "$(echo "$out" | field ports)" 28232 ports
near "$(echo "$out" | field max_conn_rate)" "$(python3 -c 'print(28232/60.05)')" max_rate
near "$(echo "$out" | field ports_in_time_wait)" 12000 tw
[ "$(echo "$out" | field exhausted)" = False ] || fail "200/s should fit"

# Past capacity: exhaustion after ports/rate seconds, exit 1.
set +e; out=$("$pm" sim --rate 1000 --json); rc=$?; set -e
[ $rc -eq 1 ] || fail "exhausted run should exit 1, got $rc"
near "$(echo "$out" | field exhausted_after_s)" 28.232 exhaust
near "$(echo "$out" | field connect_fail_fraction)" "$(python3 -c 'print(1-(28232/60.05)/1000)')" fail_frac

# Cures: tw_reuse caps TIME_WAIT at 1 s; more sources multiply the ports.
echo "$out" | python3 -c "
import json,sys
c={x['cure']:x for x in json.load(sys.stdin)['cures']}
assert abs(c['tw_reuse']['max_conn_rate']-28232/1.05)<1e-3, c['tw_reuse']
assert abs(c['more_sources']['max_conn_rate']-4*28232/60.05)<1e-3
assert abs(c['wider_range']['max_conn_rate']-64512/60.05)<1e-3
assert abs(c['keepalive']['max_request_rate']-100*28232/60.05)<1e-3
assert not c['linger0']['exhausted']
" || fail "cures"

# --msl sets TIME_WAIT to 2 x MSL; old-unix range is 3977 ports.
out=$("$pm" sim --rate 10 --msl 30 --range old-unix --hold 0 --json)
near "$(echo "$out" | field ports)" 3977 old-unix
near "$(echo "$out" | field port_seconds)" 60 msl

# Errors: usage exit 2.
for bad in "--rate -1" "--range 9-1" "--range bogus" "--sources 0" "--bogus" "extra"; do
  set +e; "$pm" sim $bad >/dev/null 2>&1; rc=$?; set -e
  [ $rc -eq 2 ] || fail "'sim $bad' should exit 2, got $rc"
done
"$pm" sim --help | grep -q "Little's law" || fail "--help"
echo "sim: all checks passed"
