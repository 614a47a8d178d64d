# Shared by the scanner's netns tests: requirements, and two namespaces
# joined by a veth pair: $A (the scanner, NET.1 on $DA) and $B (the target,
# NET.2 on $DB), removed on exit with the target's process $srv and $work.
skip() { echo "SKIP: $*"; exit 77; }
scan_require() { # tools...
  [ "$(id -u)" = 0 ] || skip "needs root (network namespaces, raw sockets)"
  for t in "$@"; do command -v "$t" >/dev/null || skip "$t is not installed"; done
  PORTMUX=${PORTMUX:-$PM_BINARY_DIR/portmux}
  [ -x "$PORTMUX" ] || skip "portmux not built at $PORTMUX"
}
scan_cleanup() {
  [ -n "${srv:-}" ] && kill "$srv" 2>/dev/null || true
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -rf "$work"
}
scan_pair() { # tag (4 letters at most), NET (a.b.c)
  A=pm-$1-$$-a; B=pm-$1-$$-b; DA=pm$1a$$; DB=pm$1b$$
  work=$(mktemp -d)
  trap scan_cleanup EXIT
  ip netns add "$A" || skip "cannot create network namespaces here"
  ip netns add "$B"
  ip link add "$DA" netns "$A" type veth peer name "$DB" netns "$B"
  ip -n "$A" addr add "$2.1/24" dev "$DA"
  ip -n "$B" addr add "$2.2/24" dev "$DB"
  for n in "$A" "$B"; do ip -n "$n" link set lo up; done
  ip -n "$A" link set "$DA" up; ip -n "$B" link set "$DB" up
}
# The target's services (tests/netns/scan_target.py): TCP listeners on
# the ports given, UDP echo (7), DNS (53) and SNMP (161).
scan_target() { # tcp-ports
  ip netns exec "$B" python3 "$(dirname "${BASH_SOURCE[0]}")/scan_target.py" "$1" >"$work/srv.log" 2>&1 &
  srv=$!
  for _ in $(seq 50); do grep -q ready "$work/srv.log" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$work/srv.log" || { cat "$work/srv.log"; echo "FAIL: target did not start"; exit 1; }
}
# The "Host: ... Ports: ..." line(s) of grepable output: every port's state.
ports_lines() { grep -P '^Host: .*\tPorts: ' "$1" | sed 's/[[:space:]]*$//'; }
