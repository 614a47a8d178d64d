#!/usr/bin/env bash
# Every script of the shared tcp-testsuite parses (-D STANDARD, as the
# conformance runs use it), and every backtick command and %{code}% in it is
# inside drill's compatibility layer. The suite is read from PM_SHARED_DIR,
# never copied into the repository.
set -euo pipefail
suite="${PM_SHARED_DIR:-}/conformance/tcp-testsuite"
if [ -z "${PM_SHARED_DIR:-}" ] || [ ! -d "$suite" ]; then
  echo "SKIP: conformance suite not found at '$suite' (set PM_SHARED_DIR)"
  exit 77
fi
mapfile -d '' scripts < <(find "$suite" -name '*.pkt' -print0 | sort -z)
n=${#scripts[@]}
if [ "$n" -eq 0 ]; then
  echo "SKIP: no .pkt scripts under $suite"
  exit 77
fi
for defs in "-D STANDARD" "-D FreeBSD"; do
  # shellcheck disable=SC2086
  out=$("$PORTMUX" drill --parse-only $defs "${scripts[@]}" 2>&1) || {
    echo "$out" | tail -20
    echo "FAIL: parse errors with $defs"
    exit 1
  }
  if echo "$out" | grep -q 'warning:'; then
    echo "$out" | grep 'warning:' | head -20
    echo "FAIL: commands outside the compatibility layer ($defs)"
    exit 1
  fi
  echo "$out" | tail -1
  echo "$out" | tail -1 | grep -q "^portmux drill: $n passed, 0 failed" || {
    echo "FAIL: expected $n scripts to parse"
    exit 1
  }
done
# A broken script must be rejected, with its line number.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s\n' '--tolerance_usecs=1000' '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3' \
  '+0 > S 0:0(0) win 65535 <mss 1460,bogus>' >"$tmp/bad.pkt"
if err=$("$PORTMUX" drill --parse-only "$tmp/bad.pkt" 2>&1); then
  echo "FAIL: a broken script parsed"
  exit 1
fi
echo "$err" | grep -q 'bad.pkt:3: parse error' || { echo "FAIL: no line number: $err"; exit 1; }
# Running (not --parse-only): the first script needs a FreeBSD sysctl, so it
# is skipped, by the portmux host target (src/drill/host_target.c) or, with
# no target, as "no target available"; it never passes.
set +e
"$PORTMUX" drill "${scripts[0]}" >"$tmp/run.out" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || { echo "FAIL: a script passed with no target"; exit 1; }
grep -Eq 'no target available|skip: target does not support' "$tmp/run.out" ||
  { cat "$tmp/run.out"; echo "FAIL: no notice"; exit 1; }
echo "ok: $n scripts parse; a script the target cannot run is reported as skipped (exit $rc)"
