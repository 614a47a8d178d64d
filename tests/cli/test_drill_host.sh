#!/usr/bin/env bash
# portmux drill against the portmux host (src/drill/host_target.c): the
# scripts in tests/drill/linux, which tests/netns/test_drill_kernel.sh shows
# pass against Linux, must pass against the host's linux personality too,
# except the known gaps listed below (docs/host.md).
set -euo pipefail
pm=${PORTMUX:?}
src=${PM_SOURCE_DIR:?}
# Known gaps: no PMTU discovery; the SYN retransmitted right after the RST
# for a bad SYN-ACK in SYN-SENT (a tcp module behaviour).
known="icmp-frag-needed.pkt syn-sent-bad-ack.pkt"
pass=0 fail=0
for f in "$src"/tests/drill/linux/*.pkt; do
  b=$(basename "$f")
  if "$pm" drill "$f" >/tmp/pm-drill-host-$$.out 2>&1; then
    case " $known " in *" $b "*) echo "XPASS $b (remove it from the known gaps)"; fail=$((fail+1));; *) pass=$((pass+1));; esac
  else
    case " $known " in
      *" $b "*) echo "known gap: $b: $(head -1 /tmp/pm-drill-host-$$.out)";;
      *) echo "FAIL $b"; cat /tmp/pm-drill-host-$$.out; fail=$((fail+1));;
    esac
  fi
done
rm -f /tmp/pm-drill-host-$$.out
# the freebsd personality runs too (its SYN-ACK layout differs: not compared)
"$pm" drill --personality freebsd "$src"/tests/drill/linux/udp.pkt >/dev/null
echo "drill on the host: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
