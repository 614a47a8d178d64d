#!/usr/bin/env bash
# portmux scan against nmap on the same target: two namespaces joined by a
# veth pair; the target has TCP listeners, UDP services, and nftables rules
# that DROP some ports and REJECT others (TCP reset, ICMP port unreachable,
# admin prohibited, host unreachable). nmap and portmux scan it with the
# same flags (-sT, -sS, -sA, -sF, -sN, -sX, -sU; IPv4 and IPv6); their
# grepable port lines must be identical: same ports, states, service names
# and "Ignored State". Raw scans run over both of portmux's paths (frames
# to the device over AF_PACKET, and --raw-sockets).
set -euo pipefail
. "$(dirname "$0")/scan_lib.sh"
scan_require nmap nft ip python3
scan_pair scan 10.77.0
ip -n "$A" addr add fd77::1/64 dev "$DA" nodad
ip -n "$B" addr add fd77::2/64 dev "$DB" nodad
# a second on-link address, and three more behind the target as a gateway
ip -n "$B" addr add 10.77.0.3/24 dev "$DB"
for i in 1 2 3; do ip -n "$B" addr add 10.77.1.$i/32 dev lo; done
ip -n "$A" route add 10.77.1.0/24 via 10.77.0.2
# the target answers every closed UDP port at once (Linux limits ICMP
# errors to about one per second per peer by default)
ip netns exec "$B" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
ip netns exec "$B" sysctl -qw net.ipv4.icmp_msgs_per_sec=100000 net.ipv4.icmp_msgs_burst=100000 2>/dev/null || true

TCP_OPEN=22,80,111,135,139,443,445,1500,1999
ip netns exec "$B" nft -f - <<'NFT'
table inet pmtest {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 111 drop
    tcp dport 113 reject with tcp reset
    tcp dport 135 reject with icmpx type port-unreachable
    tcp dport 139 reject with icmpx type admin-prohibited
    tcp dport 445 reject with icmpx type host-unreachable
    tcp dport 1200-1205 drop
    udp dport 5000 drop
    udp dport 5001 reject with icmpx type admin-prohibited
    udp dport 5002 reject with icmpx type port-unreachable
    udp dport 150-152 drop
  }
}
NFT
scan_target "$TCP_OPEN"

pass=0; fail=0
# How portmux sent its probes ("packet": frames to the device over
# AF_PACKET; "raw": IP raw sockets; "connect"), from its JSON stats.
path_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stats"]["path"])' "$1"; }
compare() { # name, nmap args..., --, portmux args...  (nmap's output: $work/name.nmap)
  local name=$1; shift
  local nargs=()
  while [ "$1" != "--" ]; do nargs+=("$1"); shift; done; shift
  ip netns exec "$A" nmap -Pn -n "${nargs[@]}" -oG "$work/$name.nmap" >/dev/null
  compare_pm "$name" "$name" "$@"
}
compare_pm() { # name, name of an earlier nmap run, portmux args...
  local name=$1 ref=$2; shift 2
  ip netns exec "$A" "$PORTMUX" scan --no-progress "$@" -oG "$work/$name.pm" \
    -oX "$work/$name.xml" -oJ "$work/$name.json" >/dev/null
  local path; path=$(path_of "$work/$name.json")
  if diff <(ports_lines "$work/$ref.nmap") <(ports_lines "$work/$name.pm") >"$work/$name.diff" &&
     [ -s "$work/$ref.nmap" ] && [ "$(ports_lines "$work/$ref.nmap" | wc -l)" -ge 1 ]; then
    echo "ok   $name ($path): $(ports_lines "$work/$name.pm" | cut -f2- | cut -c1-130)"
    pass=$((pass + 1))
  else
    echo "FAIL $name ($path): nmap (<) and portmux (>) differ:"; cat "$work/$name.diff"
    fail=$((fail + 1))
  fi
  # the path it was meant to take
  local want=${WANT:-packet}
  case " $* " in *" -sT "*) want=connect ;; *" --raw-sockets "*) want=raw ;; esac
  if [ "$path" != "$want" ]; then
    echo "FAIL $name: probes went by '$path', not '$want'"; fail=$((fail + 1))
  fi
  # the XML must be well-formed and the JSON valid
  python3 -c 'import sys,xml.dom.minidom,json; xml.dom.minidom.parse(sys.argv[1]); json.load(open(sys.argv[2]))' \
    "$work/$name.xml" "$work/$name.json" || { echo "FAIL $name: bad XML or JSON"; fail=$((fail + 1)); }
  # and the XML valid under nmap's own DTD, as nmap's is
  if [ -r /usr/share/nmap/nmap.dtd ] && command -v xmllint >/dev/null; then
    xmllint --noout --dtdvalid /usr/share/nmap/nmap.dtd "$work/$name.xml" ||
      { echo "FAIL $name: XML not valid under nmap.dtd"; fail=$((fail + 1)); }
  fi
}

P=1-2000
compare tcp-connect-v4 -sT -p $P 10.77.0.2 -- -sT -p $P 10.77.0.2
# -sS, -sA and -sU take the packet path here (one Ethernet next hop), and
# the raw-socket path with --raw-sockets: both must equal nmap.
compare tcp-syn-v4     -sS -p $P 10.77.0.2 -- -sS -p $P 10.77.0.2
compare_pm tcp-syn-v4-raw tcp-syn-v4 --raw-sockets -sS -p $P 10.77.0.2
compare tcp-syn-v6  -6 -sS -p $P fd77::2   -- -sS -p $P fd77::2
compare_pm tcp-syn-v6-raw tcp-syn-v6 --raw-sockets -sS -p $P fd77::2
# The packet path's nftables ingress rule keeps the replies from our IP
# stack: of the ~2000 replies (RSTs, SYN-ACKs), TCP sees none (a few
# segments may be SYN-ACKs the target retransmits for earlier scans). The
# neighbour table is flushed first: the scanner has the kernel resolve it.
ip -n "$A" neigh flush dev "$DA"
ip netns exec "$A" nstat -n >/dev/null
ip netns exec "$A" "$PORTMUX" scan --no-progress -sS -p $P 10.77.0.2 -oJ "$work/ingress.json" >/dev/null
segs=$(ip netns exec "$A" nstat -z TcpInSegs | awk '/TcpInSegs/ {print $2}')
if [ "${segs:-0}" -lt 500 ] && [ "$(path_of "$work/ingress.json")" = packet ]; then
  echo "ok   packet path, neighbour resolved: replies kept from our stack ($segs TCP segments in)"; pass=$((pass + 1))
else echo "FAIL packet path: our stack took $segs TCP segments; path $(path_of "$work/ingress.json")"; fail=$((fail + 1)); fi
# Three addresses behind one gateway: the packet path; two on-link
# addresses (two next hops): raw sockets, by themselves.
compare tcp-syn-gateway -sS -p 1-300 10.77.1.1-3 -- -sS -p 1-300 10.77.1.1-3
WANT=raw compare tcp-syn-onlink -sS -p 1-300 10.77.0.2-3 -- -sS -p 1-300 10.77.0.2-3
# No Ethernet next hop (loopback): the raw-socket path, by itself.
ip netns exec "$A" "$PORTMUX" scan --no-progress -sS -p 1-50 127.0.0.1 -oJ "$work/lo.json" >/dev/null
if [ "$(path_of "$work/lo.json")" = raw ] &&
   python3 -c 'import json,sys; h=json.load(open(sys.argv[1]))["hosts"][0]; sys.exit(h["counts"] != {"closed": 50})' "$work/lo.json"; then
  echo "ok   loopback: raw-socket path, 50 closed"; pass=$((pass + 1))
else
  echo "FAIL loopback: $(head -c 600 "$work/lo.json")"; fail=$((fail + 1))
fi
# Not 135 (TCP refused by ICMPv6 port unreachable) here: Linux reports that
# error to a SYN_SENT socket only at the SYN retransmission 1 s later unless
# the socket set IPV6_RECVERR, so nmap says "closed" or "filtered" by how
# long its scan lasts. portmux sets IPV6_RECVERR: checked on its own below.
compare tcp-connect-v6 -6 -sT -p 1-134,136-300 fd77::2 -- -sT -p 1-134,136-300 fd77::2
if ip netns exec "$A" "$PORTMUX" scan --no-progress -sT -p 135,139 fd77::2 -oG - |
   grep -qP '\tPorts: 135/closed/tcp//msrpc///, 139/filtered/tcp//'; then
  echo "ok   tcp-connect-v6 135: closed at once (IPV6_RECVERR), 139 filtered"; pass=$((pass + 1))
else
  echo "FAIL tcp-connect-v6 135/139"; fail=$((fail + 1))
fi
compare tcp-ack-v4     -sA -p $P 10.77.0.2 -- -sA -p $P 10.77.0.2
compare tcp-ack-v6  -6 -sA -p 1-500 fd77::2 -- -sA -p 1-500 fd77::2
# FIN, NULL, Xmas: closed ports answer RST, open and dropped ones keep
# silent (open|filtered), ICMP-rejected ones are filtered
compare tcp-fin-v4     -sF -p $P 10.77.0.2 -- -sF -p $P 10.77.0.2
compare tcp-xmas-v4    -sX -p $P 10.77.0.2 -- -sX -p $P 10.77.0.2
compare_pm tcp-xmas-v4-raw tcp-xmas-v4 --raw-sockets -sX -p $P 10.77.0.2
compare tcp-null-v6 -6 -sN -p 1-500 fd77::2 -- -sN -p 1-500 fd77::2
U=1-200,5000-5002
compare udp-v4 -sU -p $U 10.77.0.2 -- -sU -p $U 10.77.0.2
compare_pm udp-v4-raw udp-v4 --raw-sockets -sU -p $U 10.77.0.2
compare udp-v6 -6 -sU -p $U fd77::2 -- -sU -p $U fd77::2

# our kernel's RST suppression is scoped and removed: no table is left
if ip netns exec "$A" nft list tables | grep -q portmux_scan; then
  echo "FAIL: the nftables table of portmux scan was left behind"; fail=$((fail + 1))
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
