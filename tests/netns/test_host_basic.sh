#!/usr/bin/env bash
# portmux host on a TUN: curl fetches the status page (IPv4 and IPv6),
# nc and socat reach every built-in service over TCP and UDP, ss --host
# lists the table with ss's filters, the control socket's permissions are
# enforced, bad configs and TUNs fail clearly, SIGTERM with --close-mode rst
# resets live connections and the pcap is complete.
source "$(dirname "$0")/host_lib.sh"

# Errors first (no TUN needed for the config ones).
out=$("$PORTMUX" host --addr 10.0.0.1/33 2>&1); rc=$?
[ $rc = 2 ] && grep -q "prefix length" <<<"$out" || fail "bad --addr: rc $rc, '$out'"
printf 'service echo\nlisten tcp:99999\n' >"$tmp/bad.conf"
out=$("$PORTMUX" host --config "$tmp/bad.conf" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "bad.conf:2: listen tcp:99999: port" <<<"$out" || fail "bad config: rc $rc, '$out'"
out=$("$PORTMUX" host --config "$tmp/none.conf" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "No such file" <<<"$out" || fail "missing config: rc $rc, '$out'"
out=$(in_ns "$PORTMUX" host --tun 'bad name%d%d' --duration 1 2>&1); rc=$?
[ $rc = 1 ] && grep -q "cannot open TUN device" <<<"$out" || fail "bad TUN: rc $rc, '$out'"
echo "ok: bad options, config and TUN give exit 2 / 1 with a message"
# The control socket path: a regular file is never replaced.
touch "$tmp/file.ctl"
out=$(in_ns "$PORTMUX" host --control "$tmp/file.ctl" --duration 1 2>&1); rc=$?
[ $rc = 1 ] && grep -q "not a socket" <<<"$out" || fail "control over a file: rc $rc, '$out'"

# A config file of our own: services plus an extra listener.
cat >"$tmp/host.conf" <<'CONF'
# test config
tun pmtun0
addr 10.77.0.2/24
addr6 fd00:77::2/64
service echo      # TCP and UDP 7
service daytime
service chargen
service discard
service http
listen tcp:8080:echo
listen udp:5353:echo
CONF
host_start --config "$tmp/host.conf" --pcap "$tmp/host.pcap" --close-mode rst
mode=$(stat -c %a "$ctl"); [ "$mode" = 600 ] || fail "control socket mode $mode"

page=$(in_ns curl -sS -m 10 http://10.77.0.2/) || fail "curl failed"
grep -q "<h1>portmux host</h1>" <<<"$page" || fail "no status page: $page"
grep -Eq "tcp +LISTEN .*0\.0\.0\.0:80 " <<<"$page" || fail "status page lacks the :80 listener"
grep -Eq "tcp +ESTABLISHED .*10\.77\.0\.2:80 +10\.77\.0\.1:" <<<"$page" || fail "status page lacks curl's own connection"
code=$(in_ns curl -s -m 10 -o /dev/null -w '%{http_code}' 'http://[fd00:77::2]/') ; [ "$code" = 200 ] || fail "IPv6 curl: $code"
code=$(in_ns curl -s -m 10 -o /dev/null -w '%{http_code}' 'http://10.77.0.2/nope') ; [ "$code" = 404 ] || fail "404: $code"
echo "ok: curl gets the status page (IPv4, IPv6), 404 elsewhere"

[ "$(echo hello | in_ns timeout 5 nc -N 10.77.0.2 7)" = hello ] || fail "TCP echo"
[ "$(echo hello | in_ns timeout 5 nc -N 10.77.0.2 8080)" = hello ] || fail "TCP echo on 8080"
[ "$(echo hello | in_ns timeout 5 nc -N fd00:77::2 7)" = hello ] || fail "TCP echo IPv6"
in_ns timeout 5 nc 10.77.0.2 13 | grep -Eq '^[A-Z][a-z]{2} [A-Z][a-z]{2} .* [0-9]{4} UTC' || fail "daytime"
line=$(in_ns timeout 5 nc 10.77.0.2 19 | head -1 | tr -d '\r')
want=$(python3 -c "print(''.join(chr(32 + i) for i in range(72)))")
[ "$line" = "$want" ] || fail "chargen: '$line'"
head -c 100000 /dev/urandom | in_ns timeout 5 nc -N 10.77.0.2 9 | wc -c | grep -qx 0 || fail "discard"
[ "$(echo dgram | in_ns timeout 5 socat -T2 - UDP:10.77.0.2:7)" = dgram ] || fail "UDP echo"
[ "$(echo dgram | in_ns timeout 5 socat -T2 - UDP:10.77.0.2:5353)" = dgram ] || fail "UDP echo 5353"
[ "$(echo dgram | in_ns timeout 5 socat -T2 - 'UDP6:[fd00:77::2]:7')" = dgram ] || fail "UDP echo IPv6"
echo x | in_ns timeout 5 socat -T2 - UDP:10.77.0.2:13 | grep -q UTC || fail "UDP daytime"
[ "$(echo x | in_ns timeout 5 socat -T2 - UDP:10.77.0.2:19 | head -c 72 | wc -c)" = 72 ] || fail "UDP chargen"
echo "ok: echo, discard, daytime, chargen over TCP and UDP (IPv4, IPv6)"

# ss --host: rows, filters, states.
for i in $(seq 20); do in_ns curl -s -m 5 -o /dev/null http://10.77.0.2/ || fail "curl $i"; done
out=$("$PORTMUX" ss --host "$ctl" -tln) || fail "ss --host -tln"
n=$(grep -c LISTEN <<<"$out"); [ "$n" = 12 ] || fail "expected 12 TCP listeners (6 ports x 2 families), got $n: $out"
grep -Eq '0\.0\.0\.0:80 +0\.0\.0\.0:\* +http +system' <<<"$out" || fail "no http/system on :80: $out"
n=$("$PORTMUX" ss --host "$ctl" -Hun state unconnected | wc -l); [ "$n" = 10 ] || fail "UDP sockets: $n"
n=$("$PORTMUX" ss --host "$ctl" -Htn state time-wait | wc -l); [ "$n" -ge 20 ] || fail "TIME-WAIT rows: $n"
n=$("$PORTMUX" ss --host "$ctl" -Htn state time-wait '( sport = :80 and dst 10.77.0.0/24 )' | wc -l)
[ "$n" -ge 20 ] || fail "TIME-WAIT filtered: $n"
n=$("$PORTMUX" ss --host "$ctl" -Htn state time-wait 'dst 10.99.0.0/16' | wc -l); [ "$n" = 0 ] || fail "dst filter: $n"
n=$("$PORTMUX" ss --host "$ctl" -Htln 'sport > :1024' | wc -l); [ "$n" = 2 ] || fail "sport > :1024: $n"
"$PORTMUX" ss --host "$ctl" -tano state time-wait | grep -q 'timer:(timewait,[0-9.]*sec,0)' || fail "no TIME-WAIT timer"
"$PORTMUX" ss --host "$ctl" -s | grep -Eq '^TCP states:.*TIME-WAIT [0-9]+' || fail "ss -s"
"$PORTMUX" ss --host "$ctl" --json -ta | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["source"]=="host" and len(d["sockets"])>=30' ||
  fail "ss --host --json"
echo "ok: ss --host rows, state and address/port filters, timers, -s, --json"

# Permissions: a socket that others may use is not trusted by the client.
cp -a "$ctl" "$tmp/copy.ctl" 2>/dev/null || python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$tmp/copy.ctl"
chmod 666 "$tmp/copy.ctl"
out=$("$PORTMUX" ss --host "$tmp/copy.ctl" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "not trusted" <<<"$out" || fail "0666 socket accepted: rc $rc, $out"
# A second host refuses a live control socket.
out=$(in_ns "$PORTMUX" host --tun pmtun1 --addr 10.78.0.2/24 --control "$ctl" --duration 1 2>&1); rc=$?
[ $rc = 1 ] && grep -q "another host" <<<"$out" || fail "live socket taken over: rc $rc, $out"
echo "ok: control socket 0600, a world-usable socket refused, a live one not replaced"

# SIGTERM with --close-mode rst: the kernel's connection is reset.
in_ns python3 - >"$tmp/rst.out" 2>&1 <<'PY' &
import socket, time
s = socket.create_connection(("10.77.0.2", 8080), timeout=10)
s.sendall(b"x"); s.recv(1)
try:
    while True:
        d = s.recv(100)
        if not d: print("eof"); break
except ConnectionResetError: print("reset")
except socket.timeout: print("timeout")
PY
py=$!
sleep 1
host_stop || fail "host exit status after SIGTERM"
wait $py
grep -qx reset "$tmp/rst.out" || fail "after SIGTERM with --close-mode rst the client saw: $(cat "$tmp/rst.out")"
grep -q "closing every connection with RST" "$tmp/host.log" || fail "no shutdown line: $(cat "$tmp/host.log")"
[ -e "$ctl" ] && fail "control socket left behind"
# The pcap: complete, every packet parsed by tshark, the RST in it.
n=$(tshark -r "$tmp/host.pcap" 2>/dev/null | wc -l); [ "$n" -gt 200 ] || fail "pcap has $n packets"
tshark -r "$tmp/host.pcap" -Y 'tcp.flags.reset==1 && tcp.srcport==8080' 2>/dev/null | grep -q . || fail "no RST in the pcap"
echo "ok: SIGTERM: RST to the live connection, control socket removed, pcap flushed ($n packets)"
