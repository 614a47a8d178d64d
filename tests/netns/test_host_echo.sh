#!/usr/bin/env bash
# 100 MB of random data through the host's TCP echo with nc, byte-exact
# (sha256), 16 MiB of it over IPv6, then again over an impaired link: 2% loss both ways, 1%
# duplication and reordering of what the kernel sends to the host (tc
# netem where the kernel has it, else nftables + HTB: impair_lib.sh).
# Each impairment is proven by its counters (nft/tc and the host's own:
# duplicates and out-of-order segments seen, SACK recoveries).
# PM_ECHO_MB and PM_LOSSY_MB override the sizes (100 MiB each).
source "$(dirname "$0")/host_lib.sh"
source "$(dirname "$0")/impair_lib.sh"
mb=${PM_ECHO_MB:-100}
lossy_mb=${PM_LOSSY_MB:-100}
head -c $((mb << 20)) /dev/urandom >"$tmp/data"
want=$(sha256sum <"$tmp/data" | cut -d' ' -f1)
use_size() { # MB: the data file cut to MB MiB
  head -c $(($1 << 20)) "$tmp/data" >"$tmp/cut" && mv "$tmp/cut" "$tmp/data"
  mb=$1
  want=$(sha256sum <"$tmp/data" | cut -d' ' -f1)
}
host_start

echo_once() { # LABEL [ADDR]
  local t0=$SECONDS got
  got=$(in_ns timeout 240 nc -N "${2:-10.77.0.2}" 7 <"$tmp/data" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "$1: sha256 of the echo differs ($got, want $want)"
  echo "ok: $1: $mb MiB echoed byte-exact in $((SECONDS - t0)) s"
}
echo_once "clean link"
# The host asks for TSO (--offload tso): the kernel's 64 KiB segments
# arrive whole, over IPv4 above and IPv6 here.
grep -q "offloads: checksum, TSO" "$tmp/host.log" || echo "note: no TSO on this kernel: $(grep -o 'offloads[^;]*\|no offloads' "$tmp/host.log")"
cp "$tmp/data" "$tmp/full"
use_size $((mb < 16 ? mb : 16))
echo_once "clean link, IPv6" fd00:77::2
mv "$tmp/full" "$tmp/data"
use_size "$lossy_mb"
impair_setup "$ns" pmtun0 2 1 5 || fail "impairment setup"
echo_once "impaired link ($IMPAIR_MODE: loss 2% both ways, duplication 1%, reordering)"
counts=$(impair_counts "$ns" pmtun0)
echo "link: $counts"
if [ "$IMPAIR_MODE" = nft ]; then
  for k in drop_out drop_in dups slow delayed; do
    [ "$(impair_get "$counts" $k)" -gt 0 ] || fail "impairment $k never happened: $counts"
  done
fi
out=$("$PORTMUX" ss --host "$ctl" -s) || fail "ss --host -s"
grep -q 'tcb_pool_full 0' <<<"$out" || fail "pool full: $out"
stat() { grep -o "$1 [0-9]*" <<<"$out" | awk '{print $2}'; }
echo "host: dup_segs $(stat tcp_dup_segs) ooo_queued $(stat tcp_ooo_queued)" \
  "sack_recoveries $(stat tcp_sack_recoveries) sack_rxt $(stat tcp_sack_rxt)" \
  "tlp_probes $(stat tcp_tlp_probes) rto_fired $(stat tcp_rto_fired) retrans $(stat tcp_retrans_segs)"
# The host saw the duplicates and the out-of-order segments, and its
# sender recovered its own losses with SACK.
for k in tcp_dup_segs tcp_ooo_queued tcp_sack_recoveries; do
  [ "$(stat $k)" -gt 0 ] || fail "host counter $k is 0: $out"
done
host_stop || fail "host exit status"
