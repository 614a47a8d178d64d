#!/usr/bin/env bash
# The Linux kernel is the oracle for drill scripts: every script in
# tests/drill/linux/ must pass against the real kernel (portmux drill
# --kernel), each in a fresh network namespace with a TUN device, as
# packetdrill runs them. A deliberately wrong script must fail. Later the
# same scripts run against the portmux host's linux personality.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root (network namespaces, TUN)"
  exit 77
fi
if [ ! -c /dev/net/tun ] || ! command -v ip >/dev/null; then
  echo "SKIP: no /dev/net/tun or no ip(8)"
  exit 77
fi
scripts_dir="$PM_SOURCE_DIR/tests/drill/linux"
tmp=$(mktemp -d)
ns=""
cleanup() {
  if [ -n "$ns" ]; then ip netns del "$ns" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Runs one script in a namespace of its own; prints portmux's output.
run_in_ns() {
  ns="pm-drill-$$-$1"
  ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ip tuntap add dev pmdrill0 mode tun
  ip netns exec "$ns" ip link set pmdrill0 up
  ip netns exec "$ns" ip addr add 192.168.0.1/16 dev pmdrill0
  ip netns exec "$ns" ip route add 192.0.2.0/24 dev pmdrill0
  ip netns exec "$ns" ip -6 addr add fd3d:fa7b:d17d::1/48 dev pmdrill0 nodad
  ip netns exec "$ns" ip -6 route add 2001:db8::/32 dev pmdrill0
  local rc=0
  ip netns exec "$ns" timeout 100 "$PORTMUX" drill -v --kernel pmdrill0 "$2" >"$tmp/out" 2>&1 || rc=$?
  ip netns del "$ns"
  ns=""
  cat "$tmp/out"
  return $rc
}

fail=0
n=0
for s in "$scripts_dir"/*.pkt; do
  n=$((n + 1))
  if ! run_in_ns "$n" "$s" | grep -v '^portmux drill:'; then
    echo "FAIL: $s against the Linux kernel"
    fail=1
  fi
done

# --pcap writes what crossed the TUN: 11 packets for this script.
ns="pm-drill-$$-pcap"
ip netns add "$ns"
ip netns exec "$ns" ip tuntap add dev pmdrill0 mode tun
ip netns exec "$ns" ip link set pmdrill0 up
ip netns exec "$ns" ip addr add 192.168.0.1/16 dev pmdrill0
ip netns exec "$ns" ip route add 192.0.2.0/24 dev pmdrill0
ip netns exec "$ns" timeout 100 "$PORTMUX" drill --kernel pmdrill0 --pcap "$tmp/p.pcap" \
  "$scripts_dir/passive-open-close.pkt" >/dev/null
ip netns del "$ns"
ns=""
if command -v tshark >/dev/null; then
  got=$(tshark -r "$tmp/p.pcap" 2>/dev/null | wc -l)
  if [ "$got" -ne 11 ]; then
    echo "FAIL: --pcap holds $got packets, expected 11"
    fail=1
  fi
fi

# Negative control: the SYN-ACK acks 1, not 2; the diff must say so.
cat >"$tmp/wrong.pkt" <<'PKT'
0    socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0   bind(3, ..., ...) = 0
+0   listen(3, 1) = 0
+0   < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0   > S. 0:0(0) ack 2 <...>
PKT
if out=$(run_in_ns neg "$tmp/wrong.pkt"); then
  echo "FAIL: a wrong script passed against the kernel"
  fail=1
elif ! echo "$out" | grep -q 'wrong.pkt:5: .*tcp_ack_seq: expected: 2 (0x2) vs actual: 1 (0x1)'; then
  echo "$out"
  echo "FAIL: the mismatch was not reported as expected"
  fail=1
fi
if [ $fail -eq 0 ]; then echo "ok: $n scripts pass against the Linux kernel; a wrong one fails"; fi
exit $fail
