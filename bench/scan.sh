#!/usr/bin/env bash
# bench/scan.sh: a full 65535-port TCP scan of a namespace host, portmux
# against nmap and masscan in the same run.
#   portmux -sT             vs  nmap -sT -T4 --min-rate 5000
#   portmux -sS --max-rate R vs  nmap -sS --max-rate R  vs  masscan --rate R
#   portmux -sS (unlimited)  vs  nmap -sS -T4           vs  masscan --rate 1M
# (masscan needs a rate: 1M packets/s is past what this path carries; at
# 10M it collapsed here.) Packets/s for every tool: packets counted on the
# veth over the tool's send phase. Probes/s besides: the SYNs the target
# received (an nftables counter in its namespace) over the same send phase
# (masscan also sends RSTs, which count as packets but are not probes).
# The target (its own namespace, reached over a veth pair) has listeners,
# DROP ports and closed ports. Reports wall time, packets/s and whether
# every port's state equals nmap's. Each of --runs rounds runs every tool
# once, in turn, so that a ratio compares runs seconds apart on this noisy
# machine; figures are medians over the rounds, ratios the medians of each
# round's ratio. --quick scans 1-4096, one round, masscan only unlimited.
# Needs root. Usage: bench/scan.sh [--quick] [--json] [--runs N] [--rate R]
#   [--portmux PATH]
# Last line: {"identical_to_nmap":..,"portmux_seconds":..,"nmap_seconds":..,
#             "portmux_pps":..,"masscan_pps":.., -sT figures, ratios}
set -euo pipefail
quick=0; json=0; runs=5; rate=50000
top=$(cd "$(dirname "$0")/.." && pwd)
PORTMUX=${PORTMUX:-$top/build/portmux}
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; runs=1 ;;
    --json) json=1 ;;
    --runs) runs=$2; shift ;;
    --rate) rate=$2; shift ;;
    --portmux) PORTMUX=$2; shift ;;
    *) echo "usage: $0 [--quick] [--json] [--runs N] [--rate R] [--portmux PATH]" >&2; exit 2 ;;
  esac
  shift
done
say() { [ "$json" = 1 ] || echo "$*" >&2; }
[ "$(id -u)" = 0 ] || { echo '{"error":"needs root"}'; exit 1; }
for t in nmap masscan ip nft python3; do
  command -v $t >/dev/null || { echo "{\"error\":\"$t missing\"}"; exit 1; }
done
[ -x "$PORTMUX" ] || { echo "{\"error\":\"no portmux at $PORTMUX (make build)\"}"; exit 1; }
PORTS=1-65535; [ "$quick" = 1 ] && PORTS=1-4096
A=pm-scanb-$$-a; B=pm-scanb-$$-b; IA=pmba$$; IB=pmbb$$
work=$(mktemp -d)
cleanup() {
  [ -n "${srv:-}" ] && kill "$srv" 2>/dev/null || true
  ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$A"; ip netns add "$B"
ip link add $IA netns "$A" type veth peer name $IB netns "$B"
ip -n "$A" addr add 10.78.0.1/24 dev $IA; ip -n "$B" addr add 10.78.0.2/24 dev $IB
for n in "$A" "$B"; do ip -n "$n" link set lo up; done
ip -n "$A" link set $IA up; ip -n "$B" link set $IB up
MAC_B=$(ip -n "$B" -o link show $IB | grep -oP 'link/ether \K[0-9a-f:]+')
# listeners and a few silently dropped ports (nmap waits them out); the
# SYNs that arrive are counted
ip netns exec "$B" nft -f - <<'NFT'
table inet pmbench {
  counter syns {}
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    tcp flags & (syn | ack) == syn counter name syns
  }
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport { 8081, 9999, 31337 } drop
  }
}
NFT
syns() { ip netns exec "$B" nft list counter inet pmbench syns | grep -oP 'packets \K\d+'; }
OPEN="22 80 443 3306 8080 8081 20000 45000 65535"
ip netns exec "$B" python3 -c '
import socket, sys, time
ss = []
for p in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(p))); s.listen(4096); ss.append(s)
print("ready", flush=True); time.sleep(3600)' $OPEN >"$work/srv" 2>&1 &
srv=$!
for _ in $(seq 50); do grep -q ready "$work/srv" 2>/dev/null && break; sleep 0.1; done
T=10.78.0.2
ip netns exec "$A" ping -c1 -W1 $T >/dev/null 2>&1 || true

# Runs a command in the scanner's namespace and watches the veth's transmit
# counter every 2 ms: prints "wall_seconds packets send_seconds", the send
# phase being the time from 5% to 95% of the packets (so neither start-up
# nor the retransmissions to silent ports at the end count). The same
# yardstick for every tool.
measure() { # stall_seconds command...
  ip netns exec "$A" python3 - "$IA" "$@" <<'PY'
import signal, subprocess, sys, time
path = f"/sys/class/net/{sys.argv[1]}/statistics/tx_packets"
stall = float(sys.argv[2])
rd = lambda: int(open(path).read())
base = rd(); t0 = time.monotonic()
p = subprocess.Popen(sys.argv[3:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
series = []; last_change = None; prev = 0
while p.poll() is None:
    t, c = time.monotonic(), rd() - base
    series.append((t, c))
    if c != prev: last_change, prev = t, c
    # masscan can keep "waiting" long past --wait (for minutes at high
    # rates): once its sending has stopped for stall s, end it by its pid
    if stall and last_change and t - last_change > stall:
        # SIGINT twice: masscan writes its -oL file and exits
        p.send_signal(signal.SIGINT); time.sleep(0.3)
        if p.poll() is None: p.send_signal(signal.SIGINT)
        try: p.wait(timeout=5)
        except subprocess.TimeoutExpired: p.kill(); p.wait()
        t0 += stall - 1.0  # charge it one second of waiting, as --wait 1 asks
        break
    time.sleep(0.002)
t1 = time.monotonic(); n = rd() - base
series.append((t1, n))
def at(frac):
    return next(t for t, c in series if c >= frac * n)
send = at(0.95) - at(0.05) if n else t1 - t0
print(f"{t1 - t0:.4f} {n} {max(send, 1e-3) / 0.9:.4f}")
PY
}
# Every port's state from a grepable file: "port/state" lines, ignored
# ports expanded from "Ignored State" (the bench keeps one ignored state).
states() { python3 - "$1" "$PORTS" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
lo, hi = map(int, sys.argv[2].split("-"))
m = re.search(r"\tPorts: (.*?)(?:\tIgnored State: (\S+) \(\d+\))?$", text, re.M)
st = {}
if m:
    for item in filter(None, m.group(1).split(", ")):
        f = item.split("/")
        st[int(f[0])] = f[1]
    for p in range(lo, hi + 1):
        st.setdefault(p, m.group(2) or "?")
for p in sorted(st): print(f"{p}/{st[p]}")
PY
}

# Per-round figures, space-separated lists by label: W wall seconds,
# P packets/s, Q probes/s.
declare -A W P Q SAME
run_tool() { # label, command...: one run
  local label=$1; shift
  local s0 s1 wall pkts send
  s0=$(syns)
  read -r wall pkts send < <(measure "${STALL:-0}" "$@")
  s1=$(syns)
  W[$label]+="$wall "
  P[$label]+="$(python3 -c "print($pkts / max($send, 1e-3))") "
  Q[$label]+="$(python3 -c "print(($s1 - $s0) / max($send, 1e-3))") "
}
run_pm() { local label=$1; shift
  run_tool "$label" "$PORTMUX" scan --no-progress -p $PORTS "$@" $T -oG "$work/$label.g"; }
run_nmap() { local label=$1; shift
  run_tool "$label" nmap -Pn -n -p $PORTS "$@" $T -oG "$work/$label.g"; }
# masscan's wall time includes --wait (1 s) for late replies; its packets/s
# is measured over its send phase like the others'.
run_masscan() { local label=$1 r=$2
  STALL=1.5 run_tool "$label" masscan $T -p$PORTS --rate "$r" --wait 1 --interface $IA \
    --router-mac "$MAC_B" -oL "$work/$label.l"; }
same() { # a b: per-port states equal?
  if diff <(states "$work/$1.g") <(states "$work/$2.g") >"$work/$1-$2.diff"; then echo true
  else echo false; say "   $1 and $2 differ: $(head -c 300 "$work/$1-$2.diff")"; fi
}
opens_equal() { # masscan label, nmap label
  local m n
  m=$(grep -oP '^open tcp \K\d+' "$work/$1.l" 2>/dev/null | sort -n | tr '\n' ' ')
  n=$(states "$work/$2.g" | grep '/open$' | cut -d/ -f1 | sort -n | tr '\n' ' ')
  if [ "$m" = "$n" ]; then echo true; else echo false; say "   $1 opens: $m; nmap: $n"; fi
}
# SAME[label]: true while every round so far agreed
check() { # same|opens_equal, label, reference label
  local r; r=$($1 "$2" "$3")
  if [ "${SAME[$2]:-true}" = true ]; then SAME[$2]=$r; fi
}
med() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' $1; }
# median over the rounds of a[i] / b[i]
ratio() {
  python3 -c 'import statistics,sys; a=list(map(float,sys.argv[1].split())); b=list(map(float,sys.argv[2].split())); print(round(statistics.median(x/y for x,y in zip(a,b)),3))' "$1" "$2"
}
last() { echo "$1" | awk '{printf "%.3g", $NF}'; }

for round in $(seq "$runs"); do
  say "== round $round/$runs: ports $PORTS; -sT; -sS at --max-rate $rate; -sS unlimited"
  run_pm pm_sT -sT
  run_nmap nmap_sT -sT -T4 --min-rate 5000
  check same pm_sT nmap_sT
  run_pm pm_sS_rate -sS --max-rate "$rate"
  run_nmap nmap_sS_rate -sS --max-rate "$rate"
  check same pm_sS_rate nmap_sS_rate
  # --quick: masscan's start-up and exit cost seconds each: only unlimited
  if [ "$quick" = 0 ]; then
    run_masscan ms_rate "$rate"
    check opens_equal ms_rate nmap_sS_rate
  fi
  run_pm pm_sS -sS
  run_nmap nmap_sS -sS -T4
  run_masscan ms 1000000
  check same pm_sS nmap_sS
  check opens_equal ms nmap_sS
  say "   -sT $(last "${W[pm_sT]}") s vs nmap $(last "${W[nmap_sT]}") s;" \
      "-sS $(last "${W[pm_sS]}") s vs nmap $(last "${W[nmap_sS]}") s;" \
      "packets/s $(last "${P[pm_sS]}") vs masscan $(last "${P[ms]}");" \
      "probes/s $(last "${Q[pm_sS]}") vs masscan $(last "${Q[ms]}")"
done
if [ "$quick" = 1 ]; then W[ms_rate]="1 "; P[ms_rate]="1 "; Q[ms_rate]="1 "; SAME[ms_rate]=true; fi

emit() { # name, portmux label, peer label
  echo "{\"case\":\"$1\",\"portmux_seconds\":$(med "${W[$2]}"),\"portmux_pps\":$(med "${P[$2]}"),\"portmux_probes_per_s\":$(med "${Q[$2]}"),\"peer\":\"$3\",\"peer_seconds\":$(med "${W[$3]}"),\"peer_pps\":$(med "${P[$3]}"),\"peer_probes_per_s\":$(med "${Q[$3]}"),\"speedup\":$(ratio "${W[$3]}" "${W[$2]}"),\"pps_ratio\":$(ratio "${P[$2]}" "${P[$3]}"),\"identical\":${SAME[$2]:-${SAME[$3]}}}"
}
emit connect pm_sT nmap_sT
emit syn_rate_vs_nmap pm_sS_rate nmap_sS_rate
[ "$quick" = 1 ] || { SAME[pm_sS_rate_ms]=${SAME[ms_rate]}; emit syn_rate_vs_masscan pm_sS_rate ms_rate; }
emit syn_vs_nmap pm_sS nmap_sS
echo "{\"case\":\"syn_vs_masscan\",\"portmux_pps\":$(med "${P[pm_sS]}"),\"masscan_pps\":$(med "${P[ms]}"),\"portmux_probes_per_s\":$(med "${Q[pm_sS]}"),\"masscan_probes_per_s\":$(med "${Q[ms]}"),\"pps_ratio\":$(ratio "${P[pm_sS]}" "${P[ms]}"),\"probes_ratio\":$(ratio "${Q[pm_sS]}" "${Q[ms]}"),\"masscan_opens_identical\":${SAME[ms]}}"
ident=false
[ "${SAME[pm_sT]}" = true ] && [ "${SAME[pm_sS_rate]}" = true ] && [ "${SAME[pm_sS]}" = true ] && ident=true
python3 - <<PY
import json
print(json.dumps({"benchmark": "scan", "ports": "$PORTS", "runs": $runs, "rate": $rate,
  "identical_to_nmap": "$ident" == "true",
  "masscan_opens_identical": "${SAME[ms]}" == "true" and "${SAME[ms_rate]}" == "true",
  "portmux_seconds": round($(med "${W[pm_sS]}"), 4), "nmap_seconds": round($(med "${W[nmap_sS]}"), 4),
  "speedup_vs_nmap": $(ratio "${W[nmap_sS]}" "${W[pm_sS]}"),
  "portmux_pps": round($(med "${P[pm_sS]}")), "masscan_pps": round($(med "${P[ms]}")),
  "pps_ratio_vs_masscan": $(ratio "${P[pm_sS]}" "${P[ms]}"),
  "portmux_probes_per_s": round($(med "${Q[pm_sS]}")), "masscan_probes_per_s": round($(med "${Q[ms]}")),
  "probes_ratio_vs_masscan": $(ratio "${Q[pm_sS]}" "${Q[ms]}"),
  "portmux_connect_seconds": round($(med "${W[pm_sT]}"), 4),
  "nmap_connect_seconds": round($(med "${W[nmap_sT]}"), 4),
  "connect_speedup_vs_nmap": $(ratio "${W[nmap_sT]}" "${W[pm_sT]}"),
  "portmux_seconds_at_rate": round($(med "${W[pm_sS_rate]}"), 4),
  "nmap_seconds_at_rate": round($(med "${W[nmap_sS_rate]}"), 4),
  "portmux_pps_at_rate": round($(med "${P[pm_sS_rate]}")), "masscan_pps_at_rate": round($(med "${P[ms_rate]}"))}))
PY
