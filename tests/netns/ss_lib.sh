# Shared by tests/netns/test_ss_*.sh: a namespace of our own with a known
# set of sockets (ss_sockets.py), removed on exit. Source, then call
# ss_setup [ss_sockets.py options].
set -euo pipefail
PORTMUX=${PORTMUX:-$PM_BINARY_DIR/portmux}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
command -v ss >/dev/null || skip "no ss (iproute2)"
command -v python3 >/dev/null || skip "no python3"
[ -x "$PORTMUX" ] || fail "no portmux binary at $PORTMUX"

NS=pm-ss-$$-$RANDOM
holder=
tmp=$(mktemp -d)
cleanup() {
  local rc=$?
  set +e
  if [ -n "$holder" ]; then
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
  fi
  ip netns del "$NS" 2>/dev/null
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

in_ns() { ip netns exec "$NS" "$@"; }

# ss_setup [--range LO-HI] [--reserved LIST] [ss_sockets.py options]
ss_setup() {
  ip netns add "$NS" || skip "cannot create a network namespace"
  in_ns ip link set lo up
  if [ "${1:-}" = --range ]; then
    in_ns sysctl -qw net.ipv4.ip_local_port_range="${2/-/ }"
    shift 2
  fi
  if [ "${1:-}" = --reserved ]; then
    in_ns sysctl -qw net.ipv4.ip_local_reserved_ports="$2"
    shift 2
  fi
  # Not through in_ns: $! must be the holder itself (ip netns exec execs it).
  ip netns exec "$NS" python3 "$here/ss_sockets.py" "$@" >"$tmp/holder.out" 2>&1 &
  holder=$!
  for _ in $(seq 100); do
    grep -q ready "$tmp/holder.out" 2>/dev/null && return 0
    kill -0 "$holder" 2>/dev/null || break
    sleep 0.1
  done
  cat "$tmp/holder.out"
  fail "socket holder did not start"
}

# Rows as sets: the first N whitespace fields of each line after the header;
# N 0: up to the peer address, found from the header (ss hides Netid and
# State when they cannot vary).
rows() { # rows N [skip-header: 1|0]
  awk -v n="$1" -v h="${2:-1}" '
    NR == 1 && n == 0 { for (i = 1; i <= NF; i++) if ($i == "Local") { n = i + 1; break } }
    NR > h { s = $1; for (i = 2; i <= n; i++) s = s " " $i; print s }' | sort
}
