# Link impairment for tests/netns/test_host_echo.sh and bench/loss.sh:
# loss, duplication and reordering on a device's egress, with tc netem when
# the kernel has it, else without it (CONFIG_NET_SCH_NETEM off here):
#   - loss: nftables netdev egress (and ingress) `numgen random` drops;
#   - duplication: netdev egress `dup to` the same device (NFT_DUP_NETDEV);
#   - reordering: netdev egress `meta priority set 1:2` sends a share of
#     the packets into a slow HTB class (a small token bucket and queue), so
#     that the packets behind them in the fast class overtake them.
# Each is counted (nft counters, the HTB class's overlimits) so a test can
# prove it happened: impair_counts prints "drop_out N drop_in N dups N
# slow N delayed N" (netem: "netem_sent N netem_dropped N").
# usage: impair_setup NS DEV LOSS_PCT DUP_PCT REORDER_PCT (whole percents; netem
# reorders 25% 50% with a 2 ms delay); impair_counts NS DEV
# IMPAIR_MODE is "netem" or "nft" after impair_setup.
IMPAIR_MODE=
impair_setup() {
  local ns=$1 dev=$2 loss=$3 dup=$4 reo=$5
  # The kernel hands the device GSO packets (the egress hook and the qdisc
  # see them before they are cut to MSS size): one MSS per packet, so that
  # "2%" is 2% of the packets on the wire, not of 64 KiB bursts.
  ip -n "$ns" link set "$dev" gso_max_segs 1 || return 1
  if [ -z "${PM_IMPAIR_NO_NETEM:-}" ] &&
    ip netns exec "$ns" tc qdisc add dev "$dev" root netem delay 2ms loss "$loss%" \
      duplicate "$dup%" reorder 25% 50% 2>/dev/null; then
    IMPAIR_MODE=netem
    return 0
  fi
  IMPAIR_MODE=nft
  # The slow class: 100 Mbit/s with a one-packet bucket and a 32-packet
  # queue: a packet sent into it less than ~0.12 ms after the previous one
  # waits (up to ~4 ms, netem's "delay 2ms reorder" scale), and the fast
  # class's packets pass it. (At 20 Mbit/s the waits reached 20 ms and
  # stalled the kernel's sender too.)
  ip netns exec "$ns" tc qdisc add dev "$dev" root handle 1: htb default 1 || return 1
  ip netns exec "$ns" tc class add dev "$dev" parent 1: classid 1:1 htb rate 10gbit quantum 1514 || return 1
  ip netns exec "$ns" tc class add dev "$dev" parent 1: classid 1:2 htb rate 100mbit ceil 100mbit quantum 1514 \
    burst 1600 cburst 1600 || return 1
  ip netns exec "$ns" tc qdisc add dev "$dev" parent 1:2 handle 20: pfifo limit 32 || return 1
  ip netns exec "$ns" nft -f - <<NFT || return 1
table netdev pmimpair_$dev {
  counter drop_out { }
  counter drop_in { }
  counter dups { }
  counter slow { }
  chain out {
    type filter hook egress device "$dev" priority 0;
    numgen random mod 1000 < $((loss * 10)) counter name drop_out drop
    numgen random mod 1000 < $((dup * 10)) counter name dups dup to "$dev"
    numgen random mod 1000 < $((reo * 10)) counter name slow meta priority set 1:2
  }
  chain in {
    type filter hook ingress device "$dev" priority 0;
    numgen random mod 1000 < $((loss * 10)) counter name drop_in drop
  }
}
NFT
}

impair_counts() {
  local ns=$1 dev=$2
  if [ "$IMPAIR_MODE" = netem ]; then
    ip netns exec "$ns" tc -s qdisc show dev "$dev" |
      awk '/Sent/ {s=$2} /dropped/ {gsub(",", "", $7); d=$7} END {print "netem_sent", s, "netem_dropped", d}'
    return
  fi
  local c
  c=$(ip netns exec "$ns" nft list counters table netdev "pmimpair_$dev" |
    awk '/counter/ {n=$2} /packets/ {print n, $2}' | tr '\n' ' ')
  local delayed
  delayed=$(ip netns exec "$ns" tc -s class show dev "$dev" classid 1:2 |
    awk '/overlimits/ {for (i = 1; i <= NF; i++) if ($i == "overlimits") print $(i + 1)}' | head -1)
  echo "$c delayed ${delayed:-0}"
}

# impair_get COUNTS NAME: one figure of impair_counts' line.
impair_get() { awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' <<<"$1"; }
