#!/usr/bin/env bash
# ha_node daemons in three network namespaces (east, west, client) joined by veths
# (IPv4 underlay): L2TPv3 pseudowires on TAP devices, OSPFv3 over them, ESP between
# east and west (ESP-in-UDP on port 4500, the plain pseudowires on 1701). The client reaches an HTTP service on the anycast address
# 2001:db8:aa::1 (answered by east), east's service stops -> the client is answered by
# west within seconds; east's service restarts -> traffic stays on west
# (non-preemptive); west gets SIGTERM -> graceful shutdown, traffic back to east;
# west restarts and rejoins as standby; east is killed -9 -> traffic to west after the
# OSPFv3 dead interval.
# Then, when FRRouting is installed, the same story again with FRR's ospf6d as the
# client's router (ha_node on the client only terminates the pseudowires), with FRR's
# bfdd running BFD (50 ms x 5, like ha_node's defaults) towards east and west: the
# sessions must come Up, and the time from east's SIGKILL to the client's kernel route
# via west is measured (printed; a failure only beyond the 3 s dead interval).
set -euo pipefail
cd "$(dirname "$0")/../.."
client_kind=${HA_CLIENT:-ha_node}
name="60-ha-node-netns[$client_kind]"
if [ "$(id -u)" != 0 ]; then echo "SKIP $name: needs root"; exit 0; fi
if [ ! -c /dev/net/tun ]; then echo "SKIP $name: /dev/net/tun missing"; exit 0; fi
for tool in ip python3; do
  command -v "$tool" >/dev/null || { echo "SKIP $name: $tool missing"; exit 0; }
done
if ! ip netns add ha-probe-$$ 2>/dev/null; then echo "SKIP $name: no netns support"; exit 0; fi
ip netns del ha-probe-$$

target=${CARGO_TARGET_DIR:-target}
cargo build -q -p ha_node
bin="$target/debug/ha_node"
[ -x "$bin" ] || { echo "FAIL $name: $bin not built"; exit 1; }

work=$(mktemp -d /tmp/ha-node-netns.XXXXXX)
chmod 755 "$work"   # FRR's daemons run as the frr user
# The daemons' PATH: renice (the probe thread's priority) and an `ip` that only records
# that it was called: every kernel change must go over rtnetlink.
mkdir -p "$work/bin"
if command -v renice >/dev/null; then ln -s "$(command -v renice)" "$work/bin/renice"; fi
printf '#!/bin/sh\necho "ip $*" >>"%s/ip-called"\nexit 1\n' "$work" >"$work/bin/ip"
chmod 755 "$work/bin/ip"
NS="ha-east ha-west ha-client"
cleanup() {
  for f in "$work"/*.pid "$work"/frr/*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 0.5
  for n in $NS; do ip netns del "$n" 2>/dev/null || true; done
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

say() { echo "$name $(date -u +%H:%M:%S.%3N): $*"; }
fail() {
  echo "FAIL $name: $*"
  for n in east west client; do
    for f in "$work/$n".[0-9]*.log; do
      [ -f "$f" ] && { echo "---- $(basename "$f") (earlier run, last 20 lines)"; tail -n 20 "$f"; }
    done
    echo "---- $n log (last 40 lines)"; tail -n 40 "$work/$n.log" || true
  done
  for n in $NS; do echo "---- $n routes"; ip -n "$n" -6 route || true; done
  exit 1
}

for n in $NS; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; ip -n "$n" link set lo up; done
# Underlay: east-client 10.0.1.0/24, west-client 10.0.2.0/24, east-west 10.0.3.0/24.
veth() { # ns1 if1 addr1 ns2 if2 addr2
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3/24" dev "$2"; ip -n "$1" link set "$2" up
  ip -n "$4" addr add "$6/24" dev "$5"; ip -n "$4" link set "$5" up
}
veth ha-east u-client 10.0.1.1 ha-client u-east 10.0.1.2
veth ha-west u-client 10.0.2.1 ha-client u-west 10.0.2.2
veth ha-east u-west 10.0.3.1 ha-west u-east 10.0.3.2

# east and west key their ESP with IKEv2 and this pre-shared key (issue 11).
PSK=netns-check-pre-shared-key-0123456789
# OSPFv3 on the pseudowires is authenticated (RFC 7166) by default; FRR 8.4's ospf6d
# derives the key its own way (ospf_auth_frr_compat on the peers facing it).
OSPF_KEY=netns-ospf-key
frr_compat=$([ "$client_kind" = frr ] && echo true || echo false)
check_block() { # port
  cat <<EOF
[[anycast.check]]
name = "http"
kind = { http_get = { addr = "[::1]:$1", path = "/", expect_status = 200 } }
interval_ms = 500
timeout_ms = 400
rise = 3
fall = 3
EOF
}
cat >"$work/east.toml" <<EOF
name = "east"
router_id = "1.1.1.1"
control = { socket = "$work/east.sock" }   # one per daemon (the default path is shared)
l2tp_secret = "netns-secret"
ospf_auth_key = "$OSPF_KEY"
loopback = ["2001:db8:1::1"]
[ospf]
hello = 1
dead = 3
[[peer]]
name = "client"
address = "10.0.1.2:1701"
tap = "pw-client"
ospf_auth_frr_compat = $frr_compat
[[peer]]
name = "west"
address = "10.0.3.2:4500"
initiate = true
tap = "pw-west"
ipsec = { psk = "$PSK" }
[[anycast]]
prefix = "2001:db8:aa::1/128"
preference = 0
settle_s = 3
shutdown_grace_s = 3
$(check_block 8080)
EOF
cat >"$work/west.toml" <<EOF
name = "west"
router_id = "2.2.2.2"
control = { socket = "$work/west.sock" }   # one per daemon (the default path is shared)
l2tp_secret = "netns-secret"
ospf_auth_key = "$OSPF_KEY"
loopback = ["2001:db8:2::1"]
[ospf]
hello = 1
dead = 3
[[peer]]
name = "client"
address = "10.0.2.2:1701"
tap = "pw-client"
ospf_auth_frr_compat = $frr_compat
[[peer]]
name = "east"
address = "10.0.3.1:4500"
tap = "pw-east"
ipsec = { psk = "$PSK" }
[[anycast]]
prefix = "2001:db8:aa::1/128"
preference = 1
settle_s = 3
shutdown_grace_s = 3
$(check_block 8080)
EOF
cat >"$work/client.toml" <<EOF
name = "client"
router_id = "3.3.3.3"
control = { socket = "$work/client.sock" }   # one per daemon (the default path is shared)
l2tp_secret = "netns-secret"
ospf_auth_key = "$OSPF_KEY"
loopback = ["2001:db8:c::1"]
[ospf]
hello = 1
dead = 3
enabled = $([ "$client_kind" = frr ] && echo false || echo true)
[[peer]]
name = "east"
address = "10.0.1.1:1701"
initiate = true
tap = "pw-east"
[[peer]]
name = "west"
address = "10.0.2.1:1701"
initiate = true
tap = "pw-west"
EOF
# The configurations hold secrets: the daemon refuses them readable by others.
chmod 600 "$work"/*.toml

start_http() { # node
  mkdir -p "$work/www-$1"; echo "$1" >"$work/www-$1/index.html"
  ip netns exec "ha-$1" python3 -m http.server 8080 --bind :: --directory "$work/www-$1" \
    >"$work/http-$1.log" 2>&1 &
  echo $! >"$work/http-$1.pid"
}
stop_http() { kill "$(cat "$work/http-$1.pid")"; rm -f "$work/http-$1.pid"; }
start_http east
start_http west
start_node() {
  # A restarted node's earlier log is kept beside the new one (NAME.1.log, ...).
  if [ -f "$work/$1.log" ]; then
    local i=1; while [ -f "$work/$1.$i.log" ]; do i=$((i + 1)); done
    mv "$work/$1.log" "$work/$1.$i.log"
  fi
  ip netns exec "ha-$1" env PATH="$work/bin" RUST_LOG=info NO_COLOR=1 "$bin" run --config "$work/$1.toml" >"$work/$1.log" 2>&1 &
  echo $! >"$work/$1.pid"
}
# East first: whoever is healthy first becomes active (non-preemptive), so west
# joins once east holds the active role.
start_node east
start_node client
if [ "$client_kind" = frr ]; then
  for _ in $(seq 1 100); do
    ip -n ha-client link show pw-west >/dev/null 2>&1 && ip -n ha-client link show pw-east >/dev/null 2>&1 && break
    sleep 0.1
  done
  mkdir -p "$work/frr/run"
  cat >"$work/frr/frr.conf" <<EOF
frr defaults traditional
hostname client
log file $work/frr/frr.log
!
interface lo
 ipv6 ospf6 area 0.0.0.0
 ipv6 ospf6 passive
!
interface pw-east
 ipv6 ospf6 area 0.0.0.0
 ipv6 ospf6 network point-to-point
 ipv6 ospf6 hello-interval 1
 ipv6 ospf6 dead-interval 3
 ipv6 ospf6 bfd
 ipv6 ospf6 bfd profile ha
 ipv6 ospf6 authentication key-id 1 hash-algo hmac-sha-256 key $OSPF_KEY
!
interface pw-west
 ipv6 ospf6 area 0.0.0.0
 ipv6 ospf6 network point-to-point
 ipv6 ospf6 hello-interval 1
 ipv6 ospf6 dead-interval 3
 ipv6 ospf6 bfd
 ipv6 ospf6 bfd profile ha
 ipv6 ospf6 authentication key-id 1 hash-algo hmac-sha-256 key $OSPF_KEY
!
! SPF throttle: first SPF at once (0 ms), then 50 ms hold, backing off to 1 s at most
! (ospf6d's default 50 200 5000 would add 50 ms, and after churn up to 5 s, to a
! failover). min-arrival 0: accept every new LSA instance from a neighbor at once
! (default 1000 ms drops an instance that arrives within 1 s of the previous one).
router ospf6
 ospf6 router-id 3.3.3.3
 timers throttle spf 0 50 1000
 timers lsa min-arrival 0
!
! ha_node's BFD defaults (examples/README.md, "BFD defaults: 50 ms x 5"); bfdd's own
! defaults are 300 ms x 3.
bfd
 profile ha
  transmit-interval 50
  receive-interval 50
  detect-multiplier 5
 !
!
EOF
  chown -R frr:frr "$work/frr"
  ip netns exec ha-client /usr/lib/frr/zebra -d -N ha-client -f "$work/frr/frr.conf" -i "$work/frr/zebra.pid" --vty_socket "$work/frr/run" \
    || fail "FRR zebra did not start"
  ip netns exec ha-client /usr/lib/frr/bfdd -d -N ha-client -f "$work/frr/frr.conf" -i "$work/frr/bfdd.pid" --vty_socket "$work/frr/run" \
    --bfdctl "$work/frr/run/bfdd.sock" || fail "FRR bfdd did not start"
  ip netns exec ha-client /usr/lib/frr/ospf6d -d -N ha-client -f "$work/frr/frr.conf" -i "$work/frr/ospf6d.pid" --vty_socket "$work/frr/run" \
    || fail "FRR ospf6d did not start"
fi
bfd_up() { # -> 0 when FRR's bfdd has a session Up on both pw-east and pw-west; prints them
  ip netns exec ha-client vtysh --vty_socket "$work/frr/run" -c "show bfd peers json" 2>/dev/null |
    python3 -c '
import json, sys
peers = json.load(sys.stdin)
up = {p.get("interface") for p in peers if p.get("status") == "up"}
def show(p):
    g = lambda k: str(p.get(k))
    return g("interface") + " " + g("peer") + " " + g("status") + " " + g("transmit-interval") + "/" + g("receive-interval") + " ms x " + g("detect-multiplier")
print(", ".join(show(p) for p in peers))
sys.exit(0 if {"pw-east", "pw-west"} <= up else 1)'
}
wait_bfd_up() { # tries of 0.2 s
  local out=""
  for _ in $(seq 1 "$1"); do
    out=$(bfd_up) && { echo "$out"; return 0; }
    sleep 0.2
  done
  echo "$out"; return 1
}
client_full() { # router-id
  if [ "$client_kind" = frr ]; then
    ip netns exec ha-client vtysh --vty_socket "$work/frr/run" -c "show ipv6 ospf6 neighbor" 2>/dev/null | grep -q "^$1 .*Full"
  else
    grep -q "neighbor $1.*Full" "$work/client.log"
  fi
}

fetch() { # -> body or "-"
  ip netns exec ha-client python3 - <<'EOF' 2>/dev/null || echo "-"
import urllib.request
print(urllib.request.urlopen("http://[2001:db8:aa::1]:8080/", timeout=1).read().decode().strip())
EOF
}
wait_for() { # seconds expected-body -> prints elapsed
  local until=$(( $(date +%s%N) + $1 * 1000000000 )) start=$(date +%s%N)
  while [ "$(date +%s%N)" -lt "$until" ]; do
    if [ "$(fetch)" = "$2" ]; then echo $(( ($(date +%s%N) - start) / 1000000 )); return 0; fi
    sleep 0.2
  done
  return 1
}

say "waiting for adjacencies and the anycast route via east"
t=$(wait_for 60 east) || fail "the client never reached east's service"
say "client answered by east after ${t} ms"
start_node west
# Converged when the client and west reach each other's loopback directly.
converged() {
  ip -n ha-client -6 route show 2001:db8:2::1 | grep -q pw-west &&
    ip -n ha-west -6 route show 2001:db8:c::1 | grep -q pw-client
}
role() { # node -> its role now (the last RoleChanged in its log)
  grep -o "RoleChanged {.*to: [A-Za-z]*" "$work/$1.log" 2>/dev/null | tail -1 | sed 's/.*to: //'
}
# A joining west can claim the active role for a few seconds before it has heard
# east's advertisement (examples/README.md, "Known gaps"); a step down in the middle
# of a later failover leaves it a fresh standby whose claim is held back, and the
# recovered east wins the election. So "joined" means: standby, with no role change
# for 6 s (settle 3 s + MinLSInterval 5 s after its last advertisement), Full with the
# client and converged.
west_settled() { # tries of 0.2 s
  local last="" same=0 n
  for _ in $(seq 1 "$1"); do
    n=$(grep -c "RoleChanged" "$work/west.log" 2>/dev/null || true)
    if [ "$(role west)" = Standby ] && [ "$n" = "$last" ]; then same=$((same + 1)); else same=0; fi
    last=$n
    [ "$same" -ge 30 ] && client_full 2.2.2.2 && converged && return 0
    sleep 0.2
  done
  return 1
}
west_settled 300 || fail "west did not settle as standby with routes to the client (role: $(role west))"
claims=$(grep -c "to: Active, cause: Elected" "$work/west.log" || true)
[ "$(fetch)" = east ] || fail "after west joined, the client is no longer answered by east"
say "west joined as standby; client still answered by east (west claimed the active role $claims time(s) while joining)"
if [ "$client_kind" = frr ]; then
  out=$(wait_bfd_up 50) || fail "FRR's BFD sessions with east and west not Up: $out"
  say "FRR bfdd sessions Up: $out"
fi
ip -n ha-client -6 route show 2001:db8:aa::1 | grep -q pw-east || fail "client route not via pw-east"
ping6() { # ICMPv6 echo from the client; ping(8) when installed, else a raw socket
  if command -v ping >/dev/null; then
    ip netns exec ha-client ping -6 -c 3 -i 0.2 -W 1 2001:db8:aa::1 2>&1
  else
    ip netns exec ha-client python3 - <<'EOF' 2>&1
import socket, struct, time
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.settimeout(1)
ok = 0
for seq in range(1, 4):
    # Echo Request; the kernel fills in the ICMPv6 checksum on raw ICMPv6 sockets.
    s.sendto(struct.pack("!BBHHH", 128, 0, 0, 0x4841, seq) + b"ha_node", ("2001:db8:aa::1", 0))
    t = time.time()
    while time.time() - t < 1:
        try:
            data, addr = s.recvfrom(1500)
        except socket.timeout:
            break
        if data[0] == 129 and struct.unpack("!H", data[6:8])[0] == seq:
            ok += 1
            print(f"reply from {addr[0]} seq={seq} time={(time.time() - t) * 1000:.2f} ms")
            break
print(f"{ok}/3 replies")
raise SystemExit(0 if ok == 3 else 1)
EOF
  fi
}
out=$(ping6) || fail "ping6 to the anycast address failed: $out"
say "ping6 2001:db8:aa::1 from the client: $(echo "$out" | tail -1)"
if command -v iperf3 >/dev/null; then
  # Throughput of the user-space data plane (TAP -> L2TPv3 -> UDP -> L2TPv3 -> TAP), client to east.
  ip netns exec ha-east iperf3 -s -1 -B 2001:db8:aa::1 -p 5201 >/dev/null 2>&1 &
  sleep 0.5
  bps=$(ip netns exec ha-client iperf3 -6 -c 2001:db8:aa::1 -p 5201 -t 3 -J 2>/dev/null |
    python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))' 2>/dev/null || echo 0)
  [ "$bps" -gt 0 ] || fail "iperf3 through the pseudowire failed"
  say "iperf3 client -> east over the pseudowire (TCP, 3 s): $((bps / 1000000)) Mbit/s"
fi
client_full 1.1.1.1 || fail "client has no Full adjacency with east"
client_full 2.2.2.2 || fail "client has no Full adjacency with west"

say "stopping east's service"
stop_http east
t=$(wait_for 15 west) || fail "the client was not moved to west within 15 s"
say "client answered by west ${t} ms after east's service stopped"
ip -n ha-client -6 route show 2001:db8:aa::1 | grep -q pw-west || fail "client route not via pw-west"

say "restarting east's service (non-preemptive: traffic must stay on west)"
start_http east
sleep 8
for i in 1 2 3 4 5; do
  got=$(fetch)
  [ "$got" = west ] || fail "after east recovered, request $i answered by '$got', expected west"
  sleep 0.5
done
grep -q "advertise 2001:db8:aa::1/128 metric 20" <(sed -n '/stopping\|Withdraw\|withdraw/,$p' "$work/east.log") \
  || fail "east did not come back as standby (metric 20)"
say "traffic stayed on west; east is standby"

say "SIGTERM to west (graceful shutdown: withdraw, then address removal)"
kill -TERM "$(cat "$work/west.pid")"
t=$(wait_for 15 east) || fail "the client was not moved back to east after west's shutdown"
say "client answered by east ${t} ms after west's SIGTERM"
for _ in $(seq 1 50); do kill -0 "$(cat "$work/west.pid")" 2>/dev/null || break; sleep 0.2; done
kill -0 "$(cat "$work/west.pid")" 2>/dev/null && fail "west did not exit after its grace period"
rm -f "$work/west.pid"
w=$(grep -n "failover action: withdraw" "$work/west.log" | tail -1 | cut -d: -f1)
r=$(grep -n "failover action: remove 2001:db8:aa::1/128 from loopback" "$work/west.log" | tail -1 | cut -d: -f1)
[ -n "$w" ] && [ -n "$r" ] && [ "$w" -lt "$r" ] || fail "west: withdraw (line $w) must come before address removal (line $r)"
ip -n ha-west -6 addr show dev lo | grep -q 2001:db8:aa::1 && fail "west still holds the anycast address"
esp=$(grep -o "ESP with 10.0.3.1:4500: .*" "$work/west.log" || true)
echo "$esp" | grep -Eq "[1-9][0-9]* opened, 0 dropped" || fail "no ESP traffic between east and west ($esp)"
say "west's ${esp}"

say "restarting west (its StopCCN made east and the client reconnect, with back-off from 0.5 s)"
start_node west
west_settled 300 || fail "restarted west did not settle as standby with routes to the client (role: $(role west))"
claims=$(grep -c "to: Active, cause: Elected" "$work/west.log" || true)
[ "$(fetch)" = east ] || fail "after west's restart, the client is no longer answered by east"
say "west is back as standby; east keeps the traffic (west claimed the active role $claims time(s) while joining)"
if [ "$client_kind" = frr ]; then
  out=$(wait_bfd_up 50) || fail "FRR's BFD sessions with east and west not Up after west's restart: $out"
  say "FRR bfdd sessions Up: $out"
  ip -n ha-client -6 route show 2001:db8:aa::1 | grep -q pw-east || fail "client route not via pw-east before the crash"
fi
say "kill -9 east (a crash: no withdrawal, no StopCCN)"
kill -KILL "$(cat "$work/east.pid")"
killed=$(date +%s%N)
rm -f "$work/east.pid"
if [ "$client_kind" = frr ]; then
  # FRR's kernel route to the anycast address, polled every ~10 ms: BFD detection
  # (250 ms) + SPF + route install; more than the dead interval (3 s) means BFD did nothing.
  moved=""
  while [ $(( $(date +%s%N) - killed )) -lt 10000000000 ]; do
    r=$(ip -n ha-client -6 route show 2001:db8:aa::1)
    if echo "$r" | grep -q pw-west && ! echo "$r" | grep -q pw-east; then
      moved=$(( ($(date +%s%N) - killed) / 1000000 )); break
    fi
    sleep 0.01
  done
  [ -n "$moved" ] || fail "FRR's route to 2001:db8:aa::1 not via pw-west within 10 s of east's crash"
  say "FRR's kernel route to 2001:db8:aa::1 via pw-west ${moved} ms after east's SIGKILL (BFD 50 ms x 5)"
  [ "$moved" -le 3000 ] || fail "route moved after ${moved} ms, beyond the 3 s dead interval: BFD did not act"
fi
t=$(wait_for 20 west) || fail "the client was not moved to west within 20 s of east's crash"
say "client answered by west ${t} ms after east crashed (RouterDeadInterval 3 s)"
[ -e "$work/ip-called" ] && fail "a daemon ran ip: $(head -3 "$work/ip-called")"
say "no daemon ran ip (PATH without iproute2)"
echo "PASS $name"
if [ "$client_kind" = ha_node ]; then
  if [ -x /usr/lib/frr/ospf6d ] && [ -x /usr/lib/frr/zebra ] && command -v vtysh >/dev/null; then
    cleanup
    trap - EXIT
    HA_CLIENT=frr exec bash "$0"
  else
    echo "SKIP 60-ha-node-netns[frr]: FRRouting (zebra, ospf6d, vtysh) not installed"
  fi
fi
