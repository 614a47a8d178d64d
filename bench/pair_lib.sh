# Shared by bench/tun.sh and bench/loss.sh: root and TUN checked, then two
# namespaces of our own -- $ns, the kernel client that will hold the portmux
# host's TUN, and $nk, the kernel server -- joined by a veth pair
# ($veth_c in $ns at NET.1/24, $veth_s in $nk at NET.2/24), removed on exit
# with the host ($hpid) and server ($spid) processes and $tmp.
# usage: pair_setup NAME NET VETH_PREFIX   (e.g. pair_setup tun 10.88.0 pmb)
pair_setup() {
  local name=$1 net=$2 vp=$3
  if [ "$(id -u)" != 0 ] || [ ! -e /dev/net/tun ]; then
    echo "bench/$name.sh: needs root and /dev/net/tun (network namespaces, TUN, veth)" >&2
    echo "{\"bench\":\"$name\",\"skipped\":\"needs root\"}"
    exit 0
  fi
  [ -x "$pm" ] || { echo "bench/$name.sh: $pm not built (make build)" >&2; exit 1; }
  ns=pm-$name-$$ nk=pm-$name-k-$$ tmp=$(mktemp -d /tmp/pm-$name.XXXXXX) hpid= spid=
  veth_c=${vp}0 veth_s=${vp}1
  trap pair_cleanup EXIT
  trap 'exit 1' INT TERM
  ip netns add "$ns" && ip netns add "$nk" || exit 1
  ip -n "$ns" link set lo up; ip -n "$nk" link set lo up
  ip link add "$veth_c" netns "$ns" type veth peer name "$veth_s" netns "$nk" || exit 1
  ip -n "$ns" addr add "$net.1/24" dev "$veth_c"; ip -n "$nk" addr add "$net.2/24" dev "$veth_s"
  ip -n "$ns" link set "$veth_c" up; ip -n "$nk" link set "$veth_s" up
}
pair_cleanup() {
  [ -n "$hpid" ] && kill -TERM "$hpid" 2>/dev/null && wait "$hpid" 2>/dev/null
  [ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  ip netns del "$ns" 2>/dev/null; ip netns del "$nk" 2>/dev/null
  rm -rf "$tmp"
}
