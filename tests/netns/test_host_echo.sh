#!/usr/bin/env bash
# 100 MB of random data through the host's TCP echo with nc, byte-exact
# (sha256), then again with tc netem on the kernel's side of the link (2%
# loss, 1% duplication, 25% reordering, 2 ms delay). PM_ECHO_MB overrides
# the size. Under loss the host's 64 KiB buffers and RTOs make it slow
# (20 MiB took 37 s here), so the impaired run echoes PM_LOSSY_MB (8) MiB:
# docs/host-tun.md.
source "$(dirname "$0")/host_lib.sh"
mb=${PM_ECHO_MB:-100}
lossy_mb=${PM_LOSSY_MB:-8}
head -c $((mb << 20)) /dev/urandom >"$tmp/data"
want=$(sha256sum <"$tmp/data" | cut -d' ' -f1)
use_size() { # MB: the data file cut to MB MiB
  head -c $(($1 << 20)) "$tmp/data" >"$tmp/cut" && mv "$tmp/cut" "$tmp/data"
  mb=$1
  want=$(sha256sum <"$tmp/data" | cut -d' ' -f1)
}
host_start --quiet

echo_once() { # LABEL
  local t0=$SECONDS got
  got=$(in_ns timeout 240 nc -N 10.77.0.2 7 <"$tmp/data" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "$1: sha256 of the echo differs ($got, want $want)"
  echo "ok: $1: $mb MiB echoed byte-exact in $((SECONDS - t0)) s"
}
echo_once "clean link"
use_size "$lossy_mb"
# netem on pmtun0's egress: what the kernel sends to the host. Where the
# kernel has no sch_netem (this CI's kernel), nftables drops 2% of the
# packets both ways instead (no duplication or reordering: said below).
if in_ns tc qdisc add dev pmtun0 root netem delay 2ms loss 2% duplicate 1% reorder 25% 50% 2>/dev/null; then
  echo_once "netem loss 2% duplicate 1% reorder 25%"
  in_ns tc -s qdisc show dev pmtun0 | grep -E 'dropped|Sent' | head -2
else
  echo "note: no sch_netem in this kernel: 2% random loss with nftables instead (no dup/reorder)"
  in_ns nft -f - <<'NFT' || fail "nft"
table inet pmloss {
  chain out { type filter hook output priority 0; oifname "pmtun0" numgen random mod 100 < 2 counter drop; }
  chain in { type filter hook input priority 0; iifname "pmtun0" numgen random mod 100 < 2 counter drop; }
}
NFT
  echo_once "nftables loss 2% both ways"
  in_ns nft list table inet pmloss | grep -o 'counter packets [0-9]*' | sed 's/^/dropped: /'
fi
out=$("$PORTMUX" ss --host "$ctl" -s) || fail "ss --host -s"
grep -q 'tcb_pool_full 0' <<<"$out" || fail "pool full: $out"
host_stop || fail "host exit status"
