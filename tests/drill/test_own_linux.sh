#!/usr/bin/env bash
# The project's own scripts (tests/drill/linux/*.pkt, each checked against the
# Linux kernel by tests/netns/test_drill_kernel.sh) against the portmux host
# with the linux personality: all pass except tests/drill/linux-xfail.txt.
# Also checks --pcap, --junit and the --json summary with the host target.
set -euo pipefail
dir="$PM_SOURCE_DIR/tests/drill/linux"
mapfile -d '' scripts < <(find "$dir" -name '*.pkt' -print0 | sort -z)
# shellcheck source=tests/drill/xfail.sh
. "$PM_SOURCE_DIR/tests/drill/xfail.sh"
check_xfail "$dir" "$PM_SOURCE_DIR/tests/drill/linux-xfail.txt" -- "${scripts[@]}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
one="$dir/passive-open-close.pkt"
"$PORTMUX" drill --pcap "$tmp/x.pcap" --junit "$tmp/j.xml" --json "$one" >"$tmp/out.json"
tail -1 "$tmp/out.json" | grep -q '"passed":1,"failed":0,"skipped":0' ||
  { cat "$tmp/out.json"; echo "FAIL: json summary"; exit 1; }
grep -q 'tests="1" failures="0"' "$tmp/j.xml" || { cat "$tmp/j.xml"; echo "FAIL: junit"; exit 1; }
# pcap: global header (24 bytes) and at least the handshake's packets.
size=$(stat -c %s "$tmp/x.pcap")
[ "$size" -gt 200 ] || { echo "FAIL: pcap too small ($size bytes)"; exit 1; }
if command -v tshark >/dev/null 2>&1; then
  n=$(tshark -r "$tmp/x.pcap" -Y tcp 2>/dev/null | wc -l)
  [ "$n" -ge 3 ] || { echo "FAIL: tshark sees $n TCP packets"; exit 1; }
  echo "pcap: $n TCP packets readable by tshark"
fi
# A script that fails must fail (exit 1) and say where.
printf '%s\n' '--tolerance_usecs=1000' '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3' \
  '+0 bind(3, ..., ...) = 0' '+0 listen(3, 1) = 0' \
  '+0 < S 0:0(0) win 65535 <mss 1460>' '+0 > S. 0:0(0) ack 2 <...>' >"$tmp/bad.pkt"
if "$PORTMUX" drill "$tmp/bad.pkt" >"$tmp/bad.out" 2>&1; then
  cat "$tmp/bad.out"
  echo "FAIL: a wrong script passed"
  exit 1
fi
grep -q 'bad.pkt:6: error handling event: live packet field tcp_ack_seq' "$tmp/bad.out" ||
  { cat "$tmp/bad.out"; echo "FAIL: mismatch not reported"; exit 1; }
echo "ok"
