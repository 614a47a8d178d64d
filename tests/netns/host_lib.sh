# Shared by tests/netns/test_host_*.sh: a namespace of our own holding the
# portmux host's TUN; the kernel of that namespace is the other host
# (10.77.0.1, fd00:77::1), the portmux host is 10.77.0.2, fd00:77::2.
# HOSTBIN: the portmux binary that runs the host -- the release build
# (build/portmux) when it is present and current, else $PORTMUX (the
# ASan build), since the bulk tests are slow under ASan.
set -u
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces and a TUN device)"
[ -e /dev/net/tun ] || skip "no /dev/net/tun"
: "${PORTMUX:?PORTMUX is not set}"
PM_SOURCE_DIR=${PM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
HOSTBIN=$PORTMUX
rel=$PM_SOURCE_DIR/build/portmux
# The release build only when no source is newer than it (a stale binary
# would test old code).
if [ -z "${PM_HOST_ASAN:-}" ] && [ -x "$rel" ] &&
  [ -z "$(find "$PM_SOURCE_DIR/src" "$PM_SOURCE_DIR/tools" "$PM_SOURCE_DIR/include" -newer "$rel" -name '*.[ch]' 2>/dev/null | head -1)" ]; then
  HOSTBIN=$rel
fi
ns=pm-tun-$$
tmp=$(mktemp -d /tmp/pm-tun-test.XXXXXX)
ctl=$tmp/host.ctl
host_pid=
cleanup() {
  if [ -n "$host_pid" ]; then kill -TERM "$host_pid" 2>/dev/null; wait "$host_pid" 2>/dev/null; fi
  ip netns del "$ns" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ip netns add "$ns" || skip "cannot create a network namespace"
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up

# host_start [ARGS...]: the host with its control socket, ready when the
# socket answers. Log in $tmp/host.log.
host_start() {
  ip netns exec "$ns" timeout 600 "$HOSTBIN" host --control "$ctl" "$@" 2>"$tmp/host.log" &
  host_pid=$!
  for _ in $(seq 100); do
    [ -S "$ctl" ] && return 0
    kill -0 "$host_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$tmp/host.log"
  fail "the host did not start"
}
host_stop() {
  kill -TERM "$host_pid"
  wait "$host_pid"
  local rc=$?
  host_pid=
  return $rc
}
host_rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$(pgrep -P "$host_pid" -x portmux || echo "$host_pid")/status"; }
echo "host binary: $HOSTBIN"
