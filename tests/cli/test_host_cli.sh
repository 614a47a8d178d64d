#!/usr/bin/env bash
# portmux host without root: --help, --print-config, config errors (exit 2
# with file:line), the virtual demo (HTTP status page, 1 MiB echo
# byte-exact, 500 daytime connections, TIME-WAIT on the host), and
# ss --host refusing what is not a host's control socket.
set -u
fail() { echo "FAIL: $*"; exit 1; }
: "${PORTMUX:?}"
tmp=$(mktemp -d /tmp/pm-host-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$PORTMUX" host --help | grep -q -- '--close-mode fin|rst' || fail "--help"
cfg=$("$PORTMUX" host --print-config)
for l in "tun pmtun0" "addr 10.77.0.2/24" "offload tso" "service http" "service chargen"; do
  grep -qx "$l" <<<"$cfg" || fail "--print-config lacks '$l'"
done
# The printed default parses back.
"$PORTMUX" host --print-config >"$tmp/default.conf"
out=$("$PORTMUX" host --config "$tmp/default.conf" --tun 'x' --knob no_such_knob=1 2>&1); rc=$?
[ $rc = 2 ] && grep -q "knob no_such_knob: no such knob" <<<"$out" || fail "unknown knob: rc $rc '$out'"
check() { # WANT_RC PATTERN ARGS...
  local want=$1 pat=$2 out rc; shift 2
  out=$("$PORTMUX" host "$@" 2>&1); rc=$?
  [ "$rc" = "$want" ] && grep -q -- "$pat" <<<"$out" || fail "host $*: rc $rc (want $want), '$out'"
}
printf '# c\n\nservice echo\nservice gopher\n' >"$tmp/a.conf"
check 2 "a.conf:4: service gopher: want echo" --config "$tmp/a.conf"
printf 'addr 10.1.2.3\n' >"$tmp/b.conf"
check 2 "b.conf:1: addr 10.1.2.3: want an IPv4 address and a prefix" --config "$tmp/b.conf"
printf 'listen udp:80:http\n' >"$tmp/c.conf"
check 2 "c.conf:1: listen udp:80:http: http is TCP only" --config "$tmp/c.conf"
printf 'close-mode maybe\n' >"$tmp/d.conf"
check 2 "close-mode maybe: want fin or rst" --config "$tmp/d.conf"
check 2 "connect 1.2.3.4: want ADDR:PORT" --connect 1.2.3.4
check 2 "unknown option" --frobnicate
check 2 "tun .*at most 15" --tun 0123456789abcdefg
check 2 "offload gso: want none, csum or tso" --offload gso
echo "ok: help, default config round trip, config errors with file:line"

out=$("$PORTMUX" host --virtual-demo) || { echo "$out"; fail "--virtual-demo failed"; }
grep -q "HTTP/1.1 200 OK" <<<"$out" || fail "virtual demo: no HTTP 200"
grep -q "1048576 bytes back, byte-exact" <<<"$out" || fail "virtual demo: echo"
grep -q "500 answered" <<<"$out" || fail "virtual demo: daytime"
grep -Eq "TIME-WAIT +0 +0 +10\.77\.0\.2:13 +10\.77\.0\.1:[0-9]+ +timer:\(timewait,(59|60)sec,0\) +daytime +system" <<<"$out" ||
  fail "virtual demo: no TIME-WAIT row with its timer"
echo "ok: virtual demo"

out=$("$PORTMUX" ss --host "$tmp/none.ctl" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "No such file" <<<"$out" || fail "ss --host missing: rc $rc '$out'"
out=$("$PORTMUX" ss --host "$tmp/a.conf" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "not a socket" <<<"$out" || fail "ss --host file: rc $rc '$out'"
echo "ok: ss --host refuses a missing path and a regular file"
