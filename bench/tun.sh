#!/usr/bin/env bash
# bench/tun.sh: a kernel client against the portmux host over a TUN device,
# and the same client against a kernel server over a veth pair, in the same
# run. Connections/s: connect, half-close, read until EOF, close, one at a
# time, against each side's discard service (portmux's built-in one; on the
# kernel side a small epoll server in C doing the same). The client is
# Python: its own cost is in both figures. Throughput: nc -N
# streaming to discard. Medians of --reps runs. As root; otherwise it says
# why and prints a JSON object with "skipped".
# --host-args "..." passes options to portmux host (to measure one lever:
# "--offload none", "--tcp-rcvbuf 262144"); they are echoed in the JSON.
# usage: bench/tun.sh [--quick] [--json] [--reps N] [--secs S] [--mb M] [--host-args A]
set -u
quick=0 json=0 reps=3 secs=5 mb=200 hargs=
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; reps=1; secs=2; mb=50 ;;
    --json) json=1 ;;
    --reps) reps=$2; shift ;;
    --secs) secs=$2; shift ;;
    --mb) mb=$2; shift ;;
    --host-args) hargs=$2; shift ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "bench/tun.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
cd "$(dirname "$0")/.."
pm=${PORTMUX:-build/portmux}
source bench/pair_lib.sh
# ns: the client (the kernel), the portmux host on its TUN, and a veth to nk,
# where a kernel server listens on 10.88.0.2.
pair_setup tun 10.88.0 pmb
# The client closes first, so TIME_WAIT piles up on its side (4000/s):
# let it reuse them (RFC 6191 with timestamps) over a wide range, for both.
ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65000"
ip netns exec "$ns" "$pm" host --quiet --service discard --max-tw 65536 --control "$tmp/ctl" $hargs 2>"$tmp/host.log" &
hpid=$!
# The kernel's side: an epoll discard server in C (the same work as
# portmux's discard service: accept, read until EOF, close).
cat >"$tmp/ksrv.c" <<'C'
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9)};
    inet_pton(AF_INET, "10.88.0.2", &a.sin_addr);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096)) return 1;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[64];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    static char buf[65536];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    ev.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                }
                continue;
            }
            ssize_t k;
            while ((k = read(fd, buf, sizeof buf)) > 0) {
            }
            if (k == 0 || (k < 0 && errno != EAGAIN)) close(fd);
        }
    }
}
C
cc -O2 -o "$tmp/ksrv" "$tmp/ksrv.c" || { echo "bench/tun.sh: cannot build the kernel-side server" >&2; exit 1; }
ip netns exec "$nk" "$tmp/ksrv" &
spid=$!
for _ in $(seq 50); do [ -S "$tmp/ctl" ] && ip netns exec "$nk" ss -Htln | grep -q ':9 ' && break; sleep 0.1; done
cat >"$tmp/client.py" <<'PY'
import socket, sys, time
host, secs = sys.argv[1], float(sys.argv[2])
n = 0; t0 = time.time(); end = t0 + secs
while time.time() < end:
    s = socket.create_connection((host, 9), timeout=5)
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096): pass
    s.close(); n += 1
print(n / (time.time() - t0))
PY
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
conn() { ip netns exec "$ns" python3 "$tmp/client.py" "$1" "$secs"; }
thr() { # MB/s
  head -c $((mb << 20)) /dev/zero >"$tmp/zero" 2>/dev/null || true
  local t0 t1
  t0=$(date +%s.%N)
  ip netns exec "$ns" timeout 120 nc -N "$1" 9 <"$tmp/zero" >/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v m="$mb" 'BEGIN {printf "%.1f\n", m / (b - a)}'
}
pc=() kc=() pt=() kt=()
for r in $(seq "$reps"); do
  pc+=("$(conn 10.77.0.2)"); kc+=("$(conn 10.88.0.2)")
  pt+=("$(thr 10.77.0.2)"); kt+=("$(thr 10.88.0.2)")
  [ $json = 1 ] || echo "run $r: portmux ${pc[-1]} conn/s ${pt[-1]} MB/s; kernel ${kc[-1]} conn/s ${kt[-1]} MB/s" >&2
done
p_c=$(printf '%s\n' "${pc[@]}" | median); k_c=$(printf '%s\n' "${kc[@]}" | median)
p_t=$(printf '%s\n' "${pt[@]}" | median); k_t=$(printf '%s\n' "${kt[@]}" | median)
awk -v pc="$p_c" -v kc="$k_c" -v pt="$p_t" -v kt="$k_t" -v reps="$reps" -v secs="$secs" -v mb="$mb" -v ha="$hargs" 'BEGIN {
  printf "{\"bench\":\"tun\",\"host_args\":\"%s\",\"reps\":%d,\"secs\":%s,\"mb\":%d,\"portmux_mb_per_s\":%.1f,\"kernel_mb_per_s\":%.1f,\"ratio_throughput\":%.3f}\n", ha, reps, secs, mb, pt, kt, pt / kt
  printf "{\"portmux_conn_per_s\":%.0f,\"kernel_conn_per_s\":%.0f,\"ratio_conn\":%.3f,\"portmux_mb_per_s\":%.1f,\"kernel_mb_per_s\":%.1f,\"ratio_throughput\":%.3f}\n", pc, kc, pc / kc, pt, kt, pt / kt
}'
