#!/usr/bin/env bash
# ha_node self-healing, metrics and netlink in two network namespaces (hs-a, hs-b)
# joined by a veth (IPv4 underlay): a pseudowire (L2TPv3, b initiates) with OSPFv3 on
# its TAP devices.
# - the daemons run with a PATH whose only `ip` is a trap that records any call: every
#   kernel change must go over rtnetlink;
# - the metrics endpoint (metrics_listen) answers with states and counters;
# - `ip link del` of a TAP device: the daemon opens it again and the adjacency and the
#   routes come back;
# - a peer killed (-9) and restarted: both sides back in service (OSPFv3 Full on both,
#   ping both ways over the pseudowire) within 10 s of the restart, first for the
#   initiating side, then for the responding side.
set -euo pipefail
cd "$(dirname "$0")/../.."
name="66-ha-node-selfheal"
if [ "$(id -u)" != 0 ]; then echo "SKIP $name: needs root"; exit 0; fi
if [ ! -c /dev/net/tun ]; then echo "SKIP $name: /dev/net/tun missing"; exit 0; fi
for tool in ip python3 jq; do
  command -v "$tool" >/dev/null || { echo "SKIP $name: $tool missing"; exit 0; }
done
if ! ip netns add hs-probe-$$ 2>/dev/null; then echo "SKIP $name: no netns support"; exit 0; fi
ip netns del hs-probe-$$

target=${CARGO_TARGET_DIR:-target}
cargo build -q -p ha_node
bin=$(realpath "$target/debug/ha_node")
[ -x "$bin" ] || { echo "FAIL $name: $bin not built"; exit 1; }

work=$(mktemp -d /tmp/ha-node-selfheal.XXXXXX)
NS="hs-a hs-b"
cleanup() {
  for f in "$work"/*.pid; do
    [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true
  done
  sleep 0.3
  for n in $NS; do ip netns del "$n" 2>/dev/null || true; done
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

say() { echo "$name $(date -u +%H:%M:%S.%3N): $*"; }
fail() {
  echo "FAIL $name: $*"
  for n in a b; do
    for f in "$work/$n".[0-9]*.log; do
      [ -f "$f" ] && { echo "---- $(basename "$f") (earlier run, last 20 lines)"; tail -n 20 "$f"; }
    done
    echo "---- $n log (last 40 lines)"; tail -n 40 "$work/$n.log" || true
  done
  for n in $NS; do echo "---- $n routes"; ip -n "$n" -6 route || true; done
  exit 1
}

# The daemons' PATH: `ip` there only records that it was called.
mkdir -p "$work/bin"
cat >"$work/bin/ip" <<EOF
#!/bin/sh
echo "ip \$*" >>"$work/ip-called"
exit 1
EOF
chmod 755 "$work/bin/ip"

for n in $NS; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add u-b netns hs-a type veth peer name u-a netns hs-b
ip -n hs-a addr add 10.0.9.1/24 dev u-b; ip -n hs-a link set u-b up
ip -n hs-b addr add 10.0.9.2/24 dev u-a; ip -n hs-b link set u-a up

node_cfg() { # name rid lo peer-name peer-addr initiate
  cat <<EOF
name = "$1"
router_id = "$2"
l2tp_secret = "selfheal-secret"
ospf_auth_key = "selfheal-ospf-key-0123456789abcdef"
loopback = ["$3"]
metrics_listen = "[::1]:9469"
[control]
socket = "$work/$1.sock"
[ospf]
hello = 1
dead = 3
[bfd]
# 1 s detection: BFD packets keep the pseudowire busy (data is liveness for
# silence_s) without flapping on a loaded machine's scheduling stalls.
interval_ms = 100
multiplier = 10
[l2tp]
hello_s = 2
silence_s = 2
reconnect_min_ms = 200
reconnect_max_s = 5
[[peer]]
name = "$4"
address = "$5:1701"
initiate = $6
tap = "pw-$4"
EOF
}
node_cfg a 1.1.1.1 2001:db8:a::1 b 10.0.9.2 false >"$work/a.toml"
node_cfg b 2.2.2.2 2001:db8:b::1 a 10.0.9.1 true >"$work/b.toml"
chmod 600 "$work/a.toml" "$work/b.toml"   # they hold secrets

start_node() {
  if [ -f "$work/$1.log" ]; then
    local i=1; while [ -f "$work/$1.$i.log" ]; do i=$((i + 1)); done
    mv "$work/$1.log" "$work/$1.$i.log"
  fi
  # In a subshell: no job-control notice when the check kills it.
  (
    # a logs as JSON lines (--log-format json), b as text.
    ip netns exec "hs-$1" env -i PATH="$work/bin" RUST_LOG=info NO_COLOR=1 \
      "$bin" run --config "$work/$1.toml" --log-format "$([ "$1" = a ] && echo json || echo text)" \
      >"$work/$1.log" 2>&1 &
    echo $! >"$work/$1.pid"
  )
}
metrics() { # node -> the metrics text (empty when the endpoint does not answer)
  ip netns exec "hs-$1" python3 - <<'EOF' 2>/dev/null || true
import urllib.request
print(urllib.request.urlopen("http://[::1]:9469/metrics", timeout=1).read().decode())
EOF
}
ping_lo() { # from-node to-address -> 0 when one echo is answered (ping(8) or a raw socket)
  if command -v ping >/dev/null; then
    ip netns exec "hs-$1" ping -6 -c 1 -W 1 "$2" >/dev/null 2>&1
  else
    ip netns exec "hs-$1" python3 - "$2" <<'EOF' >/dev/null 2>&1
import socket, struct, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.settimeout(1)
s.sendto(struct.pack("!BBHHH", 128, 0, 0, 0x4853, 1) + b"selfheal", (sys.argv[1], 0))
t = time.time()
while time.time() - t < 1:
    data, _ = s.recvfrom(1500)
    if data[0] == 129 and struct.unpack("!H", data[4:6])[0] == 0x4853:
        sys.exit(0)
sys.exit(1)
EOF
  fi
}
full() { # node neighbor-rid -> 0 when its metrics show the neighbor Full
  metrics "$1" | grep -q "^ha_node_ospf_neighbor{.*neighbor=\"$2\",state=\"Full\"} 1"
}
in_service() { # both sides Full and answering pings over the pseudowire
  full a 2.2.2.2 && full b 1.1.1.1 && ping_lo a 2001:db8:b::1 && ping_lo b 2001:db8:a::1
}
wait_service() { # seconds -> prints elapsed ms since $1's reference ($2: start ns)
  local until=$(( $2 + $1 * 1000000000 ))
  while [ "$(date +%s%N)" -lt "$until" ]; do
    for n in a b; do
      [ -f "$work/$n.pid" ] && ! kill -0 "$(cat "$work/$n.pid")" 2>/dev/null && fail "$n exited"
    done
    if in_service; then echo $(( ($(date +%s%N) - $2) / 1000000 )); return 0; fi
    sleep 0.2
  done
  return 1
}

start_node a
start_node b
say "waiting for the pseudowire, OSPFv3 Full on both sides and pings over it"
t=$(wait_service 60 "$(date +%s%N)") || fail "a and b never came into service"
say "in service after ${t} ms"

# The snapshot behind the endpoint is refreshed once a second.
for _ in $(seq 1 15); do
  m=$(metrics b)
  grep -q '^ha_node_kernel_changes_total{result="ok"} [1-9]' <<<"$m" && break
  sleep 0.2
done
for want in \
  'ha_node_pseudowire_up{peer="a"} 1' \
  'ha_node_tap_present{tap="pw-a"} 1' \
  'ha_node_l2tp_connections 1' \
  'ha_node_l2tp_connection{peer="a",state="Established"} 1' \
  'ha_node_security_drops_total{reason="unknown_source"} 0' \
  'ha_node_l2tp_sessions{state="Established"} 1' \
  'ha_node_ospf_neighbors_full 1' \
  'ha_node_l2tp_drops_total{reason="auth_failed"} 0' \
  '# TYPE ha_node_spf_call_seconds histogram' \
  '# EOF'; do
  grep -qF "$want" <<<"$m" || fail "b's metrics lack: $want"
done
ok=$(grep -o '^ha_node_kernel_changes_total{result="ok"} [0-9]*' <<<"$m" | awk '{print $2}')
[ "${ok:-0}" -gt 0 ] || fail "b's metrics count no kernel change ($ok)"
runs=$(grep -o '^ha_node_ospf_spf_runs_total [0-9]*' <<<"$m" | awk '{print $2}')
[ "${runs:-0}" -gt 0 ] || fail "b's metrics count no SPF run"
say "metrics: pseudowire up, neighbor Full, $ok kernel changes over rtnetlink, $runs SPF runs"
ip -n hs-b -6 route show proto 89 | grep -q "2001:db8:a::1 .*pw-a" || fail "b has no proto 89 route to a's loopback"

say "ip link del pw-a in hs-b"
ip -n hs-b link del pw-a
deleted=$(date +%s%N)
back=""
while [ $(( $(date +%s%N) - deleted )) -lt 20000000000 ]; do
  if ip -n hs-b link show pw-a >/dev/null 2>&1 &&
    metrics b | grep -q '^ha_node_tap_lost_total [1-9]' && metrics b | grep -q '^ha_node_tap_reopened_total [1-9]' && in_service; then
    back=$(( ($(date +%s%N) - deleted) / 1000000 )); break
  fi
  sleep 0.2
done
[ -n "$back" ] || fail "pw-a did not come back with its adjacency within 20 s"
ip -n hs-b -6 route show proto 89 | grep -q "2001:db8:a::1 .*pw-a" || fail "b's route to a's loopback did not come back"
say "pw-a reopened, adjacency Full and pings over it ${back} ms after the deletion"
st=$("$bin" ctl --socket "$work/b.sock" status --json) || fail "ctl status on b failed"
lost=$(jq -r '.healing["tap.lost"] // 0' <<<"$st")
reopened=$(jq -r '.healing["tap.reopened"] // 0' <<<"$st")
[ "$lost" -ge 1 ] && [ "$reopened" -ge 1 ] || fail "ctl status on b shows tap.lost=$lost tap.reopened=$reopened"
say "ctl status on b: healing tap.lost=$lost tap.reopened=$reopened"

for victim in b a; do
  say "kill -9 $victim and start it again"
  kill -KILL "$(cat "$work/$victim.pid")"
  killed=$(date +%s%N)
  rm -f "$work/$victim.pid"
  # One second apart: the RFC 7166 sequence numbers of the new run start above the old.
  sleep 1
  restarted=$(date +%s%N)
  start_node "$victim"
  t=$(wait_service 10 "$restarted") || fail "after $victim's restart, not back in service on both sides within 10 s"
  say "$victim restarted: both sides in service ${t} ms after the restart ($(( ($(date +%s%N) - killed) / 1000000 )) ms after the kill)"
  grep -q "removed what an earlier run left" "$work/$victim.log" ||
    fail "the restarted $victim did not report the stale routes it removed"
  if [ "$victim" = b ]; then
    # b initiates: a ends the old connection, by the silence timer (silence_s) or,
    # when b's new connection comes first, by replacing it at once.
    how=$(metrics a | grep -E '^ha_node_l2tp_(replaced|silent_closed)_total [1-9]' | tr '\n' ' ')
    [ -n "$how" ] || fail "a counted neither a replaced nor a silent pseudowire"
  else
    # a only answers: b noticed the silence, closed and reconnected.
    how=$(metrics b | grep -E '^ha_node_l2tp_silent_closed_total [1-9]' | tr '\n' ' ')
    [ -n "$how" ] || fail "b did not count a silent pseudowire"
  fi
  say "how the surviving side noticed: $how"
done
ma=$(metrics a); mb=$(metrics b)
say "a: $(grep -E '^ha_node_l2tp_(replaced|silent_closed|reconnects)_total' <<<"$ma" | tr '\n' ' ')"
say "b: $(grep -E '^ha_node_l2tp_(replaced|silent_closed|reconnects)_total' <<<"$mb" | tr '\n' ' ')"

[ -e "$work/ip-called" ] && fail "the daemon ran ip: $(head -3 "$work/ip-called")"
say "no ip process was spawned by the daemons"

say "SIGTERM to both: routes and addresses removed"
for n in a b; do kill -TERM "$(cat "$work/$n.pid")"; done
for n in a b; do
  for _ in $(seq 1 50); do kill -0 "$(cat "$work/$n.pid")" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$(cat "$work/$n.pid")" 2>/dev/null && fail "$n did not exit after SIGTERM"
  rm -f "$work/$n.pid"
  [ -z "$(ip -n "hs-$n" -6 route show proto 89)" ] || fail "$n left proto 89 routes behind"
  ip -n "hs-$n" -6 addr show dev lo | grep -q "2001:db8:$n::1" && fail "$n left its address on lo"
done
[ -e "$work/ip-called" ] && fail "the daemon ran ip at exit: $(head -3 "$work/ip-called")"
# a's log: one JSON object per line, with the structured fields of the main events.
python3 - "$work/a.log" <<'EOF' || fail "a's --log-format json output is not JSON lines with fields"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert lines and all("timestamp" in l and "level" in l and "message" in l for l in lines)
assert any(l.get("neighbor") == "2.2.2.2" and l.get("state") == "Full" for l in lines), "no neighbor event"
assert any(l.get("peer") == "b" and "session" in l for l in lines), "no pseudowire event"
assert any("prefix" in l for l in lines), "no route event"
EOF
say "a's log is JSON lines with peer/session/neighbor/prefix fields"
echo "PASS $name"
