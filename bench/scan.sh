#!/usr/bin/env bash
# bench/scan.sh: a full 65535-port TCP scan of a namespace host, portmux
# against nmap and masscan in the same run.
#   portmux -sT             vs  nmap -sT -T4 --min-rate M
#   portmux -sS --max-rate R vs  nmap -sS --max-rate R  vs  masscan --rate R
#   portmux -sS (unlimited)  vs  nmap -sS -T4           vs  masscan --rate 1M
# (masscan needs a rate: 1M packets/s is past what this path carries; at
# 10M it collapsed here.) Packets/s for every tool: packets counted on the
# veth over the tool's send phase. --quick scans 1-4096, once, and runs
# masscan only unlimited.
# The target (its own namespace, reached over a veth pair) has listeners,
# DROP ports and closed ports. Reports wall time, packets/s (probes sent /
# wall time) and whether every port's state equals nmap's; medians of
# --runs. Needs root. Usage: bench/scan.sh [--quick] [--json] [--runs N]
#   [--rate R] [--portmux PATH]
# Last line: {"identical_to_nmap":..,"portmux_seconds":..,"nmap_seconds":..,
#             "portmux_pps":..,"masscan_pps":..,...}
set -euo pipefail
quick=0; json=0; runs=3; rate=50000
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
NPORTS=${PORTS#1-}
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
# listeners and a few silently dropped ports (nmap waits them out)
ip netns exec "$B" nft -f - <<'NFT'
table inet pmbench {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport { 8081, 9999, 31337 } drop
  }
}
NFT
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

now() { date +%s.%N; }
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
median() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }

declare -A SEC PPS SAME
run_tool() { # label, command...: median wall time and packets/s of --runs
  local label=$1; shift; local secs=() pps=()
  for i in $(seq "$runs"); do
    read -r wall pkts send < <(measure "${STALL:-0}" "$@")
    secs+=("$wall"); pps+=("$(python3 -c "print($pkts / max($send, 1e-3))")")
  done
  SEC[$label]=$(median "${secs[@]}"); PPS[$label]=$(median "${pps[@]}")
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

say "== connect scans (-sT), ports $PORTS, $runs run(s) each"
run_pm pm_sT -sT
run_nmap nmap_sT -sT -T4 --min-rate 5000
SAME[sT]=$(same pm_sT nmap_sT)
say "== SYN scans at --max-rate $rate"
run_pm pm_sS_rate -sS --max-rate "$rate"
run_nmap nmap_sS_rate -sS --max-rate "$rate"
# --quick: masscan's start-up and exit cost seconds each, so it runs once
if [ "$quick" = 1 ]; then
  SEC[ms_rate]=0; PPS[ms_rate]=0; SAME[ms_rate]=true
else
  run_masscan ms_rate "$rate"; SAME[ms_rate]=$(opens_equal ms_rate nmap_sS_rate)
fi
SAME[sS_rate]=$(same pm_sS_rate nmap_sS_rate)
say "== SYN scans, unlimited"
run_pm pm_sS -sS
run_nmap nmap_sS -sS -T4
run_masscan ms 1000000
SAME[sS]=$(same pm_sS nmap_sS); SAME[ms]=$(opens_equal ms nmap_sS)

emit() { # name, portmux label, peer label, identical
  echo "{\"case\":\"$1\",\"portmux_seconds\":${SEC[$2]},\"portmux_pps\":${PPS[$2]},\"peer\":\"$3\",\"peer_seconds\":${SEC[$3]},\"peer_pps\":${PPS[$3]},\"speedup\":$(python3 -c "print(round(${SEC[$3]} / ${SEC[$2]}, 3))"),\"identical\":$4}"
}
emit connect pm_sT nmap_sT "${SAME[sT]}"
emit syn_rate_vs_nmap pm_sS_rate nmap_sS_rate "${SAME[sS_rate]}"
[ "$quick" = 1 ] || emit syn_rate_vs_masscan pm_sS_rate ms_rate "${SAME[ms_rate]}"
emit syn_vs_nmap pm_sS nmap_sS "${SAME[sS]}"
emit syn_vs_masscan pm_sS ms "${SAME[ms]}"
ident=false
[ "${SAME[sT]}" = true ] && [ "${SAME[sS_rate]}" = true ] && [ "${SAME[sS]}" = true ] && ident=true
python3 - <<PY
import json
print(json.dumps({"benchmark": "scan", "ports": "$PORTS", "runs": $runs, "rate": $rate,
  "identical_to_nmap": "$ident" == "true",
  "masscan_opens_identical": "${SAME[ms]}" == "true" and "${SAME[ms_rate]}" == "true",
  "portmux_seconds": round(${SEC[pm_sS]}, 4), "nmap_seconds": round(${SEC[nmap_sS]}, 4),
  "portmux_connect_seconds": round(${SEC[pm_sT]}, 4), "nmap_connect_seconds": round(${SEC[nmap_sT]}, 4),
  "portmux_pps": round(${PPS[pm_sS]}), "masscan_pps": round(${PPS[ms]}),
  "portmux_pps_at_rate": round(${PPS[pm_sS_rate]}), "masscan_pps_at_rate": round(${PPS[ms_rate]}),
  "speedup_vs_nmap": round(${SEC[nmap_sS]} / ${SEC[pm_sS]}, 3),
  "pps_ratio_vs_masscan": round(${PPS[pm_sS]} / ${PPS[ms]}, 3)}))
PY
