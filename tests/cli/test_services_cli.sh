#!/usr/bin/env bash
# portmux services: every documented form, --json validity, exit codes
# (0 found, 1 not found, 2 usage) and errors on stderr. Runs on a small
# services file of its own, so it passes wherever it runs; the forms that
# need IANA's registry run when /usr/share/wireshark/services is there.
set -uo pipefail
pm=${PORTMUX:?PORTMUX is not set}
tmp=$(mktemp -d /tmp/pm-services-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

# run WANT_RC ARGS...: runs portmux services, keeps stdout/stderr in $out/$err.
run() {
  local want=$1; shift
  "$pm" services "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  out=$(cat "$tmp/out"); err=$(cat "$tmp/err")
  if [ "$rc" -eq "$want" ]; then ok "services $* -> $rc"; else
    bad "services $* -> $rc, want $want"; sed 's/^/    /' "$tmp/out" "$tmp/err"; fi
}
has() { # has WHERE PATTERN: grep -E in $out or $err
  local where=$1 pat=$2 text
  if [ "$where" = out ]; then text=$out; else text=$err; fi
  if grep -qE -- "$pat" <<<"$text"; then ok "  $where has /$pat/"; else bad "  $where lacks /$pat/"; fi
}
empty() { if [ -z "$out" ]; then ok "  stdout empty"; else bad "  stdout not empty: $out"; fi; }
json() { # json PYTHON-EXPR: stdout is valid JSON (strict) and the expression on it is true
  local r
  python3 -c "import json,sys
try: d=json.loads(open(sys.argv[1]).read(), parse_constant=lambda c: 1/0)
except Exception: sys.exit(3)
sys.exit(0 if ($1) else 1)" "$tmp/out"
  r=$?
  if [ $r -eq 3 ]; then bad "  invalid JSON"; return; fi
  ok "  valid JSON"
  if [ $r -eq 0 ]; then ok "  json: $1"; else bad "  json: $1"; fi
}

cat >"$tmp/services" <<'EOF'
# test registry
ftp-data	20/tcp
ssh		22/tcp/udp	# The Secure Shell (SSH) Protocol
domain		53/tcp/udp	nameserver	# Domain Name Server
http		80/tcp/udp/sctp	www www-http	# World Wide Web HTTP
https		443/tcp/udp/sctp	# http protocol over TLS/SSL
syslog		514/udp
shell		514/tcp		cmd
postgresql	5432/tcp/udp	postgres	# PostgreSQL Database
http-alt	8080/tcp/udp	# HTTP Alternate (see port 80)
x11		6000-6002/tcp	# X Window System
ephem		50000/udp	# a local name in the dynamic range
EOF
f=(--file "$tmp/services")

# --help, and the top-level help names the subcommand.
run 0 --help; has out '^usage: portmux services'; has out '--range'; has out 'RFC 6335'
run 0 -h; has out '^usage:'
"$pm" --help | grep -q 'services' && ok "portmux --help lists services" || bad "portmux --help lacks services"

# A port: every protocol on it, with name, class, description.
run 0 "${f[@]}" 443
has out '^PORT +PROTO +NAME +CLASS +ALIASES +DESCRIPTION'
has out '^443 +tcp +https +system +- +http protocol over TLS/SSL$'
has out '^443 +udp +https'
has out '^443 +sctp +https'
# A name, any case; aliases shown and found.
run 0 "${f[@]}" HTTPS; has out '^443 +tcp +https +system'
run 0 "${f[@]}" www; has out '^80 +tcp +http +system +www,www-http +World Wide Web HTTP$'
run 0 "${f[@]}" nameserver/udp; has out '^53 +udp +domain'
[ "$(grep -c . <<<"$out")" -eq 2 ] && ok "  one row and the header" || bad "  rows: $out"
# port/proto.
run 0 "${f[@]}" 5432/tcp
has out '^5432 +tcp +postgresql +user +postgres +PostgreSQL Database$'
grep -q udp <<<"$out" && bad "  5432/tcp shows udp" || ok "  only tcp"
run 0 "${f[@]}" 514/udp; has out '^514 +udp +syslog'
# Several queries at once, sorted by port.
run 0 "${f[@]}" https 22; has out '^22 +tcp +ssh'
[ "$(sed -n 2p "$tmp/out" | awk '{print $1}')" = 22 ] && ok "  sorted by port" || bad "  not sorted"
# Ranges (expanded) and the RFC 6335 class of a user port.
run 0 "${f[@]}" 6001; has out '^6001 +tcp +x11 +user'
# --range with --proto.
run 0 "${f[@]}" --range 1-1024 --proto udp
has out '^22 +udp +ssh'; has out '^514 +udp +syslog'
grep -qE '^[0-9]+ +tcp' <<<"$out" && bad "  tcp rows in a udp listing" || ok "  udp only"
grep -qE '^5432 ' <<<"$out" && bad "  5432 outside 1-1024" || ok "  within range"
has out '^\(5 entries on ports 1-1024 over udp, from '
# A profile name as the range.
run 0 "${f[@]}" --range=iana; has out '^50000 +udp +ephem +dynamic'
# --class, with its synonyms.
for c in ephemeral dynamic private; do
  run 0 "${f[@]}" --class "$c"; has out '^50000 +udp +ephem +dynamic'; has out 'RFC 6335'
done
for c in system well-known; do
  run 0 "${f[@]}" --class "$c"; has out '^20 +tcp +ftp-data +system'
  grep -qE '^5432 ' <<<"$out" && bad "  5432 is not a system port" || ok "  system ports only"
done
for c in user registered; do
  run 0 "${f[@]}" --class "$c"; has out '^5432 +tcp +postgresql +user'; has out '^8080 '
  grep -qE '^(443|50000) ' <<<"$out" && bad "  non-user port listed" || ok "  user ports only"
done
# --range and --class intersect; an empty listing still answers.
run 0 "${f[@]}" --range 1-100 --class user; has out '^\(no port is in both --range 1-100 and --class user'
# --ranges: the classes and the per-OS profiles; needs no registry.
PORTMUX_SERVICES=/nonexistent run 0 --ranges
has out 'linux +32768-60999 +28232'; has out 'iana +49152-65535'; has out 'windows'
has out 'macos'; has out 'old-unix +1024-5000'; has out 'system +0-1023'

# --json for each form.
run 0 "${f[@]}" 443 --json
json 'd["count"]==3 and d["services"][0]=={"port":443,"proto":"tcp","name":"https","aliases":[],"description":"http protocol over TLS/SSL","class":"system"}'
run 0 "${f[@]}" --json www
json 'd["services"][0]["aliases"]==["www","www-http"] and d["query"]==["www"]'
run 0 "${f[@]}" --json 5432/tcp; json '[s["proto"] for s in d["services"]]==["tcp"]'
run 0 "${f[@]}" --json --range 1-1024 --proto udp
json 'd["ports"]=={"lo":1,"hi":1024} and d["count"]==5 and all(s["proto"]=="udp" and 1<=s["port"]<=1024 for s in d["services"])'
run 0 "${f[@]}" --json --class ephemeral; json 'd["ports"]["lo"]==49152 and [s["port"] for s in d["services"]]==[50000] and d["services"][0]["class"]=="dynamic"'
run 0 --json --ranges
json '[p["profile"] for p in d["profiles"]][:2]==["linux","iana"] and d["profiles"][0]["lo"]==32768 and d["profiles"][0]["hi"]==60999 and d["classes"][2]["lo"]==49152'
run 1 "${f[@]}" --json nosuch; json 'd["count"]==0'; has err "no service named 'nosuch'"

# Errors: not found -> 1, usage -> 2, always a message on stderr.
run 1 "${f[@]}" nosuch; empty; has err "no service named 'nosuch'"
run 1 "${f[@]}" ssh/sctp; empty; has err "no service named 'ssh' over sctp"
run 1 "${f[@]}" 1234; empty; has err 'no service registered on port 1234 \(class user\)'
run 1 "${f[@]}" 22 nosuch; has out '^22 '; has err 'nosuch'
run 2 "${f[@]}" 65536; empty; has err 'port 65536 is outside 0-65535'
run 2 "${f[@]}" 99999999999999999999; has err 'outside 0-65535'
run 2 "${f[@]}" -1; has err 'port -1 is outside 0-65535'
run 2 "${f[@]}" 22/xyz; has err "unknown protocol 'xyz'"
run 2 "${f[@]}" 22 --proto icmp; has err "unknown protocol 'icmp'"
run 2 "${f[@]}" 22/tcp --proto udp; has err 'disagrees with --proto'
run 2 "${f[@]}" --class bogus; has err "unknown class 'bogus'"
run 2 "${f[@]}" --range 5-1; has err "bad range '5-1'"
run 2 "${f[@]}" --range 1-70000; has err 'bad range'
run 2 "${f[@]}" --range; has err '--range needs a value'
run 2 "${f[@]}" --bogus; has err "unknown option '--bogus'"
run 2 "${f[@]}"; has err 'nothing to look up'
run 2 "${f[@]}" 22 --range 1-2; has err 'not both'
run 2 --ranges 22; has err '--ranges takes no'
run 1 --file "$tmp/none" 22; has err "cannot read $tmp/none"
PORTMUX_SERVICES="$tmp/none" run 1 22; has err "cannot read $tmp/none \\(\\\$PORTMUX_SERVICES\\)"
# $PORTMUX_SERVICES picks the file.
PORTMUX_SERVICES="$tmp/services" run 0 x11; has out '^6000 +tcp +x11'; has out '^6002 '
PORTMUX_SERVICES="$tmp/services" run 0 --json 22; json "d['source']=='$tmp/services'"

# IANA's registry, the default when libwireshark-data is installed.
if [ -r /usr/share/wireshark/services ]; then
  export -n PORTMUX_SERVICES 2>/dev/null; unset PORTMUX_SERVICES
  run 0 443; has out '^443 +tcp +https +system'
  run 0 https; has out '^443 +tcp'
  run 0 5432/tcp; has out '^5432 +tcp +postgresql +user +- +PostgreSQL Database$'
  run 0 27017; has out '^27017 +tcp +mongodb +user'
  run 0 --range 1-1024 --proto udp; has out '^53 +udp +domain'; has out '^\([0-9]+ entries on ports 1-1024 over udp, from /usr/share/wireshark/services\)'
  run 0 --class ephemeral; has out '^\(0 entries on ports 49152-65535'
  run 0 --json --class system
  json 'd["source"]=="/usr/share/wireshark/services" and d["count"]>1000 and all(s["class"]=="system" for s in d["services"])'
else
  echo "note: /usr/share/wireshark/services absent; IANA forms not run"
fi

if [ "$fails" -ne 0 ]; then echo "$fails check(s) failed"; exit 1; fi
echo "all checks passed"
