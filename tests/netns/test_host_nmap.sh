#!/usr/bin/env bash
# nmap from the kernel's side of the TUN against the host: exactly the
# listening TCP ports open and every other of the 65535 closed, by SYN scan
# (-sS) and connect scan (-sT); -sU over the services' UDP ports plus a
# sample of others: echo/daytime/chargen open (they answer), discard
# open|filtered (it never answers, by RFC 863), the rest closed (ICMP port
# unreachable; the host's ICMP rate limit is raised so nmap sees them all).
source "$(dirname "$0")/host_lib.sh"
command -v nmap >/dev/null || skip "no nmap"
host_start --quiet --service echo --service discard --service daytime --service chargen --service http \
  --listen tcp:8080:echo --listen tcp:31337:discard \
  --knob icmp_msgs_per_sec=100000 --knob icmp_msgs_burst=100000
want_tcp="7 9 13 19 80 8080 31337"

tcp_scan() { # -sS|-sT
  in_ns timeout 300 nmap -n -Pn "$1" -p- -T5 --max-retries 2 --min-rate 20000 -oG "$tmp/g" 10.77.0.2 >"$tmp/out" 2>&1 ||
    { cat "$tmp/out"; fail "nmap $1"; }
  local open closed
  open=$(grep -o '[0-9]*/open/tcp' "$tmp/g" | cut -d/ -f1 | sort -n | tr '\n' ' ' | sed 's/ $//')
  [ "$open" = "$want_tcp" ] || { cat "$tmp/out"; fail "nmap $1: open '$open', want '$want_tcp'"; }
  closed=$(grep -o 'Ignored State: closed ([0-9]*)' "$tmp/g" | grep -o '[0-9]*')
  [ "$closed" = $((65535 - 7)) ] || { cat "$tmp/out"; fail "nmap $1: $closed closed, want $((65535 - 7))"; }
  echo "ok: nmap $1 -p-: open $open; $closed closed, none filtered ($(grep -o 'scanned in [0-9.]* seconds' "$tmp/out"))"
}
tcp_scan -sS
tcp_scan -sT

udp_ports=7,9,13,19,1-6,53,67,69,123,137,161,500,514,1900,4500,5353,33434,60000-60009
in_ns timeout 200 nmap -n -Pn -sU -p "$udp_ports" -T4 --max-retries 3 -oG "$tmp/g" 10.77.0.2 >"$tmp/out" 2>&1 ||
  { cat "$tmp/out"; fail "nmap -sU"; }
st() { grep -o "\b$1/[a-z|]*/udp" "$tmp/g" | cut -d/ -f2; }
for p in 7 13 19; do [ "$(st $p)" = open ] || fail "udp $p: $(st $p), want open"; done
[ "$(st 9)" = "open|filtered" ] || fail "udp 9 (discard): $(st 9), want open|filtered"
n=$(grep -o 'Ignored State: closed ([0-9]*)' "$tmp/g" | grep -o '[0-9]*')
nports=$((4 + 6 + 12 + 10))
[ "$n" = $((nports - 4)) ] || { cat "$tmp/out"; fail "udp: $n closed, want $((nports - 4))"; }
echo "ok: nmap -sU: 7, 13, 19 open, 9 open|filtered, the other $n closed"
host_stop || fail "host exit status"
