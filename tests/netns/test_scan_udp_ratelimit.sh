#!/usr/bin/env bash
# -sU against a target with Linux's DEFAULT ICMP rate limit (a token
# bucket per peer: one "port unreachable" a second after a burst of 6), as
# nmap meets it on real hosts. Past the burst, closed ports answer only
# retries that come after the bucket has refilled; a scanner that gives up
# early reads them as open|filtered. nmap's rules (rate-limit detection
# wait, the bench, max_successful_tryno, the send delay) find them all,
# slowly: portmux must find the same, port for port. Both scans' times are
# printed.
set -euo pipefail
. "$(dirname "$0")/scan_lib.sh"
scan_require nmap ip python3 bc
scan_pair udrl 10.79.0

# A new namespace has the kernel's defaults; the test needs the limit on.
rl=$(ip netns exec "$B" sysctl -n net.ipv4.icmp_ratelimit)
mask=$(ip netns exec "$B" sysctl -n net.ipv4.icmp_ratemask)
[ "$rl" -gt 0 ] && [ $((mask & 8)) != 0 ] ||
  skip "this kernel's default ICMP rate limit is off (icmp_ratelimit=$rl, ratemask=$mask)"
echo "target: net.ipv4.icmp_ratelimit=$rl ms, icmp_ratemask=$mask (kernel defaults)"

# UDP services on 7 (echo), 53 (DNS), 161 (SNMP); 20 closed ports
scan_target 22
P=7,53,161,1000-1019

count() { ports_lines "$1" | grep -o "/$2/udp/" | wc -l; }
fail=0
# The bucket refills at one token a second up to 6: a pause of 7 s before
# each scan gives both tools the same full burst.
sleep 7
t0=$(date +%s.%N)
ip netns exec "$A" "$PORTMUX" scan --no-progress -sU -p $P 10.79.0.2 -oG "$work/pm" -oJ "$work/pm.json" >/dev/null
t1=$(date +%s.%N)
sleep 7
ip netns exec "$A" nmap -Pn -n -sU -p $P 10.79.0.2 -oG "$work/nmap" >/dev/null
t2=$(date +%s.%N)
pm_s=$(echo "$t1 - $t0" | bc); nmap_s=$(echo "$t2 - $t1 - 7" | bc)
echo "portmux: $(count "$work/pm" open) open, $(count "$work/pm" closed) closed, $(count "$work/pm" 'open|filtered') open|filtered in $pm_s s"
echo "nmap:    $(count "$work/nmap" open) open, $(count "$work/nmap" closed) closed, $(count "$work/nmap" 'open|filtered') open|filtered in $nmap_s s"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["stats"]; print("portmux stats:", {k: s[k] for k in ("probes_sent", "retransmissions", "replies", "path")})' "$work/pm.json"

# nmap itself must be complete here, or the comparison proves nothing
if [ "$(count "$work/nmap" open)" = 3 ] && [ "$(count "$work/nmap" closed)" = 20 ]; then
  echo "ok   nmap found the 3 open and all 20 closed ports"
else
  echo "FAIL nmap missed ports (the target's limiter is not what this test expects):"
  ports_lines "$work/nmap"; fail=1
fi
if diff <(ports_lines "$work/nmap") <(ports_lines "$work/pm") >"$work/diff"; then
  echo "ok   portmux's port lines equal nmap's"
else
  echo "FAIL nmap (<) and portmux (>) differ:"; cat "$work/diff"; fail=1
fi
exit $fail
