#!/usr/bin/env bash
# The shared FreeBSD tcp-testsuite (state-event engine: RST and SYN in every
# state, IPv4 and IPv6, RFC 5961 on and off) against the portmux host:
# freebsd personality, -D STANDARD (docs/conformance.md). Every script must
# pass except those listed in tests/drill/conformance-xfail.txt. The suite is
# read from PM_SHARED_DIR and never copied into the repository.
set -euo pipefail
suite="${PM_SHARED_DIR:-}/conformance/tcp-testsuite"
if [ -z "${PM_SHARED_DIR:-}" ] || [ ! -d "$suite" ]; then
  echo "SKIP: conformance suite not found at '$suite' (set PM_SHARED_DIR)"
  exit 77
fi
mapfile -d '' scripts < <(find "$suite" -name '*.pkt' -print0 | sort -z)
if [ "${#scripts[@]}" -eq 0 ]; then
  echo "SKIP: no .pkt scripts under $suite"
  exit 77
fi
# shellcheck source=tests/drill/xfail.sh
. "$PM_SOURCE_DIR/tests/drill/xfail.sh"
check_xfail "$suite" "$PM_SOURCE_DIR/tests/drill/conformance-xfail.txt" \
  --personality freebsd -D STANDARD -- "${scripts[@]}"
# The summary line of --json is what the benchmark and CI read.
last=$("$PORTMUX" drill --json --personality freebsd -D STANDARD "${scripts[@]}" 2>/dev/null | tail -1) || true
echo "$last" | grep -q '"passed":' || { echo "FAIL: no JSON summary: $last"; exit 1; }
echo "json: $last"
