# Shared by test_conformance.sh and test_own_linux.sh: runs `portmux drill
# --tap ARGS...` and checks every result against an expected-failure list
# (lines "NAME REASON"; NAME is the script path relative to $root). Fails on
# an unexpected failure or skip, and on a listed script that passes.
# usage: check_xfail ROOT XFAIL-FILE DRILL-ARGS... -- SCRIPTS...
check_xfail() {
  local root=$1 list=$2
  shift 2
  local args=()
  while [ "$1" != "--" ]; do
    args+=("$1")
    shift
  done
  shift
  declare -A xf=()
  local name reason
  while read -r name reason; do
    case "$name" in '' | '#'*) continue ;; esac
    xf[$name]=$reason
  done <"$list"
  local out rc=0
  out=$("$PORTMUX" drill --tap "${args[@]}" "$@" 2>/dev/null) || rc=$?
  local pass=0 xfail=0 bad=0 line rel
  while IFS= read -r line; do
    case "$line" in
      "ok "* | "not ok "*) ;;
      *) continue ;;
    esac
    rel=${line#* - }
    rel=${rel%% # *}
    rel=${rel#"$root"/}
    if [ "${line#ok }" != "$line" ] && [ "${line#* # SKIP}" = "$line" ]; then
      if [ -n "${xf[$rel]+x}" ]; then
        echo "FAIL: $rel passes but is listed as an expected failure in $list"
        bad=$((bad + 1))
      else
        pass=$((pass + 1))
      fi
    elif [ -n "${xf[$rel]+x}" ]; then
      echo "xfail: $rel (${xf[$rel]})"
      xfail=$((xfail + 1))
    else
      echo "FAIL: $line"
      bad=$((bad + 1))
    fi
  done <<<"$out"
  local total=$((pass + xfail + bad))
  echo "$total scripts: $pass passed, $xfail expected failures, $bad unexpected (exit $rc)"
  if [ "$total" -ne "$#" ]; then
    echo "FAIL: $# scripts given, $total results"
    return 1
  fi
  if [ "$bad" -ne 0 ]; then
    # Show the first failures as packetdrill would.
    "$PORTMUX" drill "${args[@]}" "$@" 2>&1 | grep -A2 'error handling' | head -30 || true
    return 1
  fi
  return 0
}
