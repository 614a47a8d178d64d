#!/usr/bin/env bash
# portmux ss filters against ss(8): for each expression of the table, the
# rows of `ss -tuan EXPR` and `portmux ss -tuan EXPR` are the same set --
# with the filter run as kernel bytecode (the default), in user space
# (--no-bytecode), and over /proc/net (--proc).
source "$(dirname "$0")/ss_lib.sh"
ss_setup
set -f # '*' in expressions

exprs=(
  "sport = :8080"
  "dport = :8080"
  "sport != :8080"
  "sport neq :9000"
  "dport > :9000"
  "dport >= :9000"
  "sport < :1024"
  "sport <= :22"
  "sport gt :40000"
  "dport lt :100"
  "sport ge :8080 and sport le :9000"
  "dport eq :22"
  "dport = 53"
  "src 127.0.0.1"
  "src 127.0.0.2:80"
  "dst 127.0.0.0/8"
  "dst 127.0.0.0/30"
  "src 0.0.0.0/0"
  "dst [::1]"
  "src [::1]:8443"
  "dst [::ffff:127.0.0.1]"
  "src [::/0]"
  "dst *:9000"
  "src :22"
  "( sport = :8080 or dport = :8080 ) and dst 127.0.0.1"
  "not dst 127.0.0.0/8"
  "! ( sport = :22 or sport = :8443 )"
  "sport = :9000 or dport = :9000 and src 127.0.0.1"
  "src 127.0.0.0/8 and not sport = :8080"
  "src 127.0.0.1 dport = :9000"
  "( ( sport = :22 ) or ( ( dport = :22 ) ) )"
  "dport = :ssh"
  "state established"
  "state listening"
  "state time-wait"
  "state connected"
  "state synchronized"
  "state bucket"
  "state big"
  "state all"
  "state closed"
  "exclude established"
  "state established state time-wait"
  "state established dport = :9000"
  "state connected ( dst 127.0.0.1 or dst [::1] )"
  "exclude listening sport < :9000"
)

proc_rows() {
  awk 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "Send-Q") q = i; if ($i == "Local") { n = i + 1; break } } }
       NR > 1 { s = ""; for (i = 1; i <= n; i++) if (i != q) s = s " " $i; print s }' |
    sed 's/\[::\]:/*:/g' | sort
}
n=0
for e in "${exprs[@]}"; do
  want=$(in_ns ss -tuan $e 2>&1) || fail "ss rejects '$e': $want"
  wrows=$(rows 0 <<<"$want")
  for mode in "" --no-bytecode --proc; do
    got=$(in_ns "$PORTMUX" ss -tuan $mode $e 2>&1) || fail "portmux ss $mode rejects '$e': $got"
    grows=$(rows 0 <<<"$got")
    if [ "$mode" = --proc ]; then
      # Only netlink tells a listener's backlog (Send-Q) and IPV6_V6ONLY.
      wrows=$(proc_rows <<<"$want"); grows=$(proc_rows <<<"$got")
    fi
    if [ "$wrows" != "$grows" ]; then
      echo "--- ss -tuan $e"; echo "$want"; echo "--- portmux ss -tuan $mode $e"; echo "$got"
      diff <(echo "$wrows") <(echo "$grows") || true
      fail "'$e' ($mode): rows differ"
    fi
  done
  case "$e" in
  state* | exclude*) ;;
  *)
    j=$(in_ns "$PORTMUX" ss -tuan --json $e)
    [[ "$j" == *'"kernel_filter":true'* ]] || fail "'$e': the kernel did not run the filter"
    ;;
  esac
  echo "ok: $(printf '%-55s' "$e") $(grep -c . <<<"$wrows" || true) rows"
  n=$((n + 1))
done
[ "$n" -ge 15 ] || fail "too few expressions"

# The filter ran in the kernel (bytecode accepted), except when told not to.
kf() { in_ns "$PORTMUX" ss -tuan --json "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["kernel_filter"])'; }
[ "$(kf '( sport = :22 or dport > :9000 ) and not dst [::1]')" = True ] || fail "bytecode not used"
[ "$(kf --no-bytecode sport = :22)" = False ] || fail "--no-bytecode still used bytecode"
echo "ok: bytecode accepted by the kernel"

# The table covers both outcomes: some filters keep nothing, none keeps all.
all=$(in_ns ss -tuan state all | tail -n +2 | wc -l)
[ "$(in_ns "$PORTMUX" ss -H -tuan sport = :1 | wc -l)" = 0 ] || fail "sport = :1 matched"
[ "$(in_ns "$PORTMUX" ss -H -tuan state all | wc -l)" = "$all" ] || fail "state all"

# Errors: a clear message and exit 2.
for bad in "sport = :70000" "( sport = :22" "sport = :22 )" "src 300.1.1.1" "dport >" \
  "sport = :22 and" "state nosuch" "frob 1" "src 127.0.0.1/33" "sport > *"; do
  set +e
  msg=$(in_ns "$PORTMUX" ss -tan $bad 2>&1 >/dev/null); rc=$?
  set -e
  [ "$rc" = 2 ] || fail "'$bad': exit $rc, not 2"
  grep -q "bad filter" <<<"$msg" || fail "'$bad': no message ($msg)"
done
echo "ok: bad filters exit 2 with a message"
echo "PASS ($n expressions x 3 modes)"
