#!/usr/bin/env bash
# libportmux is pure: no clock, no I/O, no sleeping, no randomness from the
# OS. Its objects' undefined symbols must include none of these. The one
# exception is the registry's file loader (services_file.c), which reads a
# services(5) file once, at start-up, never on the packet path.
set -euo pipefail
lib="$PM_BINARY_DIR/src/libportmux.a"
[ -f "$lib" ] || { echo "no $lib"; exit 1; }
forbidden='clock_gettime|gettimeofday|time|clock|nanosleep|usleep|sleep|read|write|recv|recvfrom|recvmsg|send|sendto|sendmsg|socket|connect|bind|listen|accept|accept4|open|open64|openat|fopen|fopen64|fread|getrandom|rand|srand|random|epoll_wait|poll|select|ioctl|syscall|getenv'
bad=$(nm -A -u "$lib" | sed 's/@[^ ]*$//' | grep -E " U ($forbidden)\$" | grep -v 'services_file\.c\.o' || true)
if [ -n "$bad" ]; then
  echo "libportmux calls what a pure library must not:"
  echo "$bad"
  exit 1
fi
n=$(nm -u "$lib" | awk '{print $NF}' | sort -u | wc -l)
echo "libportmux: $n undefined symbols, none a clock, I/O or OS randomness"
