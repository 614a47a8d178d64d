#!/usr/bin/env bash
# bench/loss.sh: echo throughput over an impaired link (2% loss both ways,
# 1% duplication, reordering: tests/netns/impair_lib.sh, tc netem where the
# kernel has it), in the same run against two echo servers:
#   - the portmux host's echo service over its TUN device;
#   - a kernel echo server (a small C one, in its own namespace: read,
#     write back, one process per connection) over a veth pair.
# The client is the kernel in both cases: nc -N sends MB MiB of random data
# and reads the echo (byte-exact, sha256). The impairment is the same on
# both links: on the client's egress (loss, duplication, reordering) and
# ingress (loss). Medians of --reps runs, in MB/s of data echoed (each byte
# crosses the link twice). PORTMUX picks the binary (default build/portmux).
# As root; otherwise it says why and prints a JSON object with "skipped".
# usage: bench/loss.sh [--quick] [--json] [--reps N] [--mb M]
set -u
quick=0 json=0 reps=3 mb=100
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; reps=1; mb=16 ;;
    --json) json=1 ;;
    --reps) reps=$2; shift ;;
    --mb) mb=$2; shift ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    *) echo "bench/loss.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
cd "$(dirname "$0")/.."
pm=${PORTMUX:-build/portmux}
source tests/netns/impair_lib.sh
source bench/pair_lib.sh
# ns: the client (the kernel) with the portmux host on its TUN (10.77.0.2)
# and a veth to nk, where the kernel's echo server is 10.89.0.2.
pair_setup loss 10.89.0 pml
# Like for like with the TUN: one MSS per packet on the veth too (the
# server's side here; impair_setup does the client's), so the per-packet
# loss hits the same bytes.
ip -n "$nk" link set pml1 gso_max_segs 1 || exit 1
ip netns exec "$ns" "$pm" host --quiet --service echo --control "$tmp/ctl" 2>"$tmp/host.log" &
hpid=$!
cat >"$tmp/kecho.c" <<'C'
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7)};
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 64)) return 1;
    signal(SIGCHLD, SIG_IGN);
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0) continue;
        if (fork() == 0) {
            static char buf[65536];
            ssize_t n;
            while ((n = read(c, buf, sizeof buf)) > 0)
                for (ssize_t o = 0, k; o < n; o += k)
                    if ((k = write(c, buf + o, (size_t)(n - o))) <= 0) _exit(1);
            _exit(0);
        }
        close(c);
    }
}
C
cc -O2 -o "$tmp/kecho" "$tmp/kecho.c" || { echo "bench/loss.sh: cannot build the kernel-side echo server" >&2; exit 1; }
ip netns exec "$nk" "$tmp/kecho" &
spid=$!
for _ in $(seq 50); do
  [ -S "$tmp/ctl" ] && ip -n "$ns" link show pmtun0 >/dev/null 2>&1 &&
    ip netns exec "$nk" ss -Htln | grep -q ':7 ' && break
  sleep 0.1
done
impair_setup "$ns" pmtun0 2 1 5 || { echo "bench/loss.sh: impairment setup failed" >&2; exit 1; }
impair_setup "$ns" pml0 2 1 5 || { echo "bench/loss.sh: impairment setup failed" >&2; exit 1; }
head -c $((mb << 20)) /dev/urandom >"$tmp/data"
want=$(sha256sum <"$tmp/data" | cut -d' ' -f1)
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo_mbps() { # ADDR -> MB/s, or 0 when the echo is not byte-exact
  local t0 t1 got
  t0=$(date +%s.%N)
  got=$(ip netns exec "$ns" timeout 600 nc -N "$1" 7 <"$tmp/data" | sha256sum | cut -d' ' -f1)
  t1=$(date +%s.%N)
  if [ "$got" != "$want" ]; then
    echo "bench/loss.sh: the echo from $1 differs" >&2
    echo 0
    return
  fi
  awk -v a="$t0" -v b="$t1" -v m="$mb" 'BEGIN {printf "%.2f\n", m / (b - a)}'
}
pt=() kt=()
for r in $(seq "$reps"); do
  pt+=("$(echo_mbps 10.77.0.2)"); kt+=("$(echo_mbps 10.89.0.2)")
  [ $json = 1 ] || echo "run $r: portmux ${pt[-1]} MB/s; kernel ${kt[-1]} MB/s ($mb MiB echoed)" >&2
done
tun_counts=$(impair_counts "$ns" pmtun0)
veth_counts=$(impair_counts "$ns" pml0)
stats=$("$pm" ss --host "$tmp/ctl" -s | tr ',' '\n' | grep -E 'tcp_(rto_fired|sack_recoveries|tlp_probes|retrans_segs) ' | tr '\n' ' ')
[ $json = 1 ] || { echo "impairment (tun): $tun_counts" >&2; echo "impairment (veth): $veth_counts" >&2; echo "host: $stats" >&2; }
p=$(printf '%s\n' "${pt[@]}" | median); k=$(printf '%s\n' "${kt[@]}" | median)
awk -v p="$p" -v k="$k" -v reps="$reps" -v mb="$mb" -v mode="$IMPAIR_MODE" 'BEGIN {
  printf "{\"bench\":\"loss\",\"impairment\":\"%s\",\"reps\":%d,\"mb\":%d,\"portmux_echo_mb_per_s\":%.2f,\"kernel_echo_mb_per_s\":%.2f,\"ratio\":%.3f}\n", mode, reps, mb, p, k, (k > 0 ? p / k : 0)
}'
