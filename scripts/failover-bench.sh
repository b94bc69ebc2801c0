#!/usr/bin/env bash
# Failover benchmark (issue 12): client-observed outage of the anycast service when a
# server fails, measured with real traffic over ha_node's pseudowires.
#
# Three network namespaces (fb-east, fb-west, fb-client) joined by veths (IPv4
# underlay); ha_node (release build) in each: L2TPv3 pseudowires client-east,
# client-west, east-west, OSPFv3 over them. East and west carry the anycast address
# 2001:db8:aa::1 (east preferred), each runs a small service (UDP echo on port 7000
# answering with the server's name, TCP on [::1]:7001 for the health check). The client
# sends one request to [2001:db8:aa::1]:7000 every 10 ms over the overlay and records
# which server answered each one.
#
# Scenarios, each from a fresh setup:  service (east's service process is killed: the
# health check fails), crash (east's ha_node gets SIGKILL), link (east's underlay
# interfaces go down); each with BFD on and off, each at loss=0 and at loss=5 (tc netem
# `loss 5% delay 1ms reorder 25%` on every underlay interface, both directions; where
# the kernel has no sch_netem, nftables drops 5 % of the underlay UDP instead). Before
# each fault a steady run (STEADY_S, 60 s by default at 5 % loss) counts false
# failovers (requests answered by west while east is healthy).
#
# Output, one line per scenario:
#   OUTAGE scenario=<service|crash|link> bfd=<on|off> loss=<0|5> ms=<outage> lost=<n>
# ms = send time of the first request answered by west minus send time of the last
# request answered by east before it (10 ms resolution); lost = requests sent between
# those two that got no answer; ms=-1 lost=-1 when west never answered within WAIT_S.
# A `STEADY ...` line per scenario gives the false failovers of its steady run.
#
# Environment: SCENARIOS ("service crash link"), BFD_MODES ("on off"), LOSSES ("0 5"),
# STEADY_S (60; steady run at loss 5), STEADY0_S (3; at loss 0), WAIT_S (20),
# HC_INTERVAL_MS (100), HC_TIMEOUT_MS (80), HC_FALL (2), HC_RISE (3), OSPF_HELLO (1),
# OSPF_DEAD (4: four Hello intervals as RFC 2328 suggests; with 3, two lost Hellos in a
# row flap an adjacency), BFD_INTERVAL_MS / BFD_MULT (unset: ha_node's defaults), SETTLE_S (6),
# HA_NODE_BIN (skip the build, use this binary), KEEP_LOGS=1.
# Exit status: non-zero when the setup fails (tools, build, namespaces, convergence), not
# for a slow figure.
set -euo pipefail
cd "$(dirname "$0")/.."
name=failover-bench
SCENARIOS=${SCENARIOS:-service crash link}
BFD_MODES=${BFD_MODES:-on off}
LOSSES=${LOSSES:-0 5}
STEADY_S=${STEADY_S:-60}
STEADY0_S=${STEADY0_S:-3}
WAIT_S=${WAIT_S:-20}
HC_INTERVAL_MS=${HC_INTERVAL_MS:-100}
HC_TIMEOUT_MS=${HC_TIMEOUT_MS:-80}
HC_FALL=${HC_FALL:-2}
HC_RISE=${HC_RISE:-3}
OSPF_HELLO=${OSPF_HELLO:-1}
OSPF_DEAD=${OSPF_DEAD:-4}
SETTLE_S=${SETTLE_S:-6}
NS="fb-east fb-west fb-client"

die() { echo "FAIL $name: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, TAP devices)"
[ -c /dev/net/tun ] || die "/dev/net/tun missing"
for tool in ip tc python3 timeout; do command -v "$tool" >/dev/null || die "$tool missing"; done

work=$(mktemp -d /tmp/failover-bench.XXXXXX)
stop_all() {
  for f in "$work"/*.pid; do
    [ -f "$f" ] || continue
    kill -KILL "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  for n in $NS; do ip netns del "$n" 2>/dev/null || true; done
}
cleanup() {
  stop_all
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${HA_NODE_BIN:-}" ]; then
  src=$HA_NODE_BIN
else
  timeout 1800 cargo build -q --release -p ha_node || die "release build failed"
  src="${CARGO_TARGET_DIR:-target}/release/ha_node"
fi
[ -x "$src" ] || die "$src not built"
bin="$work/ha_node"
cp "$src" "$bin"   # a rebuild in a shared target dir cannot swap it mid-run

say() { echo "$name $(date -u +%H:%M:%S.%3N): $*" >&2; }

# --- does this ha_node know [bfd]? (before it did, its config had no such section)
probe_ns=fb-probe-$$
ip netns add "$probe_ns" || die "no netns support"
# --- does it know ospf_auth_key? (RFC 7166 on the pseudowires, required since it does)
printf 'name = "p"\nrouter_id = "9.9.9.9"\nl2tp_secret = "x"\nospf_auth_key = "x"\n' >"$work/probe.toml"
chmod 600 "$work/probe.toml"
timeout 2 ip netns exec "$probe_ns" "$bin" run --config "$work/probe.toml" >"$work/probe.log" 2>&1 || true
if grep -q "unknown field \`ospf_auth_key\`" "$work/probe.log"; then
  AUTH_LINE=""
else
  AUTH_LINE='ospf_auth_key = "bench-ospf-key"'
fi
printf 'name = "p"\nrouter_id = "9.9.9.9"\nl2tp_secret = "x"\n%s\n[bfd]\nenabled = false\n' "$AUTH_LINE" >"$work/probe.toml"
chmod 600 "$work/probe.toml"
rc=0
timeout 2 ip netns exec "$probe_ns" "$bin" run --config "$work/probe.toml" >"$work/probe.log" 2>&1 || rc=$?
ip netns del "$probe_ns"
if grep -q "unknown field" "$work/probe.log"; then
  BFD_SUPPORTED=0
  say "this ha_node has no [bfd] configuration: BFD modes other than off are skipped"
else
  BFD_SUPPORTED=1
fi
[ "$rc" = 2 ] && ! grep -q "unknown field" "$work/probe.log" && die "probe config rejected: $(cat "$work/probe.log")"

# --- helpers written once
cat >"$work/service.py" <<'EOF'
# UDP echo on [::]:7000 answering "<name> <request>", TCP on [::1]:7001 for the health check.
import selectors, socket, sys
name = sys.argv[1].encode()
sel = selectors.DefaultSelector()
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
u.bind(("::", 7000))
t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("::1", 7001))
t.listen(64)
sel.register(u, selectors.EVENT_READ)
sel.register(t, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        if key.fileobj is u:
            try:
                data, addr = u.recvfrom(512)
                u.sendto(name + b" " + data, addr)
            except OSError:
                pass
        else:
            try:
                c, _ = t.accept()
                c.close()
            except OSError:
                pass
EOF
cat >"$work/client.py" <<'EOF'
# Sends "<seq>" to the anycast service every 10 ms until STOP exists (or MAX s), then
# prints the figures. FAULT holds the fault's wall-clock time (written by the script).
import json, os, select, socket, sys, time
dst, stop, fault_file, max_s, ready = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setblocking(False)
sent = {}    # seq -> send time
answer = {}  # seq -> server
seq = 0
t0 = time.time()
nxt = t0
open(ready, "w").close()
stop_at = None
while True:
    now = time.time()
    if stop_at is None and (os.path.exists(stop) or now - t0 > max_s):
        stop_at = now + 0.5           # late answers still count
    if stop_at is not None and now >= stop_at:
        break
    if stop_at is None and now >= nxt:
        seq += 1
        sent[seq] = now
        try:
            s.sendto(str(seq).encode(), (dst, 7000))
        except OSError:
            pass
        nxt += 0.010
        if nxt < now:                 # the sender itself was late: keep the grid
            nxt = now + 0.010
    r, _, _ = select.select([s], [], [], max(0.0, min(nxt, stop_at or nxt) - time.time()))
    while r:
        try:
            data, _ = s.recvfrom(512)
        except (BlockingIOError, OSError):
            break
        parts = data.decode(errors="replace").split()
        if len(parts) == 2 and parts[1].isdigit():
            answer.setdefault(int(parts[1]), parts[0])
fault = float(open(fault_file).read()) if os.path.exists(fault_file) else None
seqs = sorted(sent)
res = {"sent": len(seqs), "answered": len(answer)}
# Steady run: from the first answer to the fault. A false failover is a run of
# requests answered by anyone but east.
pre = [q for q in seqs if fault is None or sent[q] < fault]
first = next((q for q in pre if q in answer), None)
false_runs, in_run, steady_lost, gap, max_gap = 0, False, 0, 0, 0
for q in pre:
    if first is None or q < first:
        continue
    a = answer.get(q)
    if a is None:
        steady_lost += 1
        gap += 1
        max_gap = max(max_gap, gap)
        continue
    gap = 0
    if a != "east" and not in_run:
        false_runs += 1
    in_run = a != "east"
res.update(false_failovers=false_runs, steady_lost=steady_lost,
           steady_requests=len([q for q in pre if first is not None and q >= first]),
           steady_max_gap_ms=max_gap * 10)
if fault is not None:
    post = [q for q in seqs if sent[q] >= fault]
    west = next((q for q in post if answer.get(q) == "west"), None)
    if west is None:
        res.update(ms=-1, lost=-1)
    else:
        last_east = max((q for q in seqs if q < west and answer.get(q) == "east"), default=None)
        start = sent[last_east] if last_east is not None else fault
        lo = last_east if last_east is not None else post[0] - 1
        res.update(ms=round((sent[west] - start) * 1000),
                   lost=sum(1 for q in range(lo + 1, west) if q not in answer),
                   fault_to_west_ms=round((sent[west] - fault) * 1000))
print(json.dumps(res))
EOF

veth() { # ns1 if1 addr1 ns2 if2 addr2
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3/24" dev "$2"; ip -n "$1" link set "$2" up
  ip -n "$4" addr add "$6/24" dev "$5"; ip -n "$4" link set "$5" up
}
UNDERLAY="fb-east:u-client fb-east:u-west fb-west:u-client fb-west:u-east fb-client:u-east fb-client:u-west"

write_configs() { # bfd(on|off)
  local bfd_block=""
  if [ "$BFD_SUPPORTED" = 1 ]; then
    bfd_block="[bfd]
enabled = $([ "$1" = on ] && echo true || echo false)"
    [ -n "${BFD_INTERVAL_MS:-}" ] && bfd_block="$bfd_block
interval_ms = $BFD_INTERVAL_MS"
    [ -n "${BFD_MULT:-}" ] && bfd_block="$bfd_block
multiplier = $BFD_MULT"
  fi
  local check="[[anycast.check]]
name = \"svc\"
kind = { tcp_connect = { addr = \"[::1]:7001\" } }
interval_ms = $HC_INTERVAL_MS
timeout_ms = $HC_TIMEOUT_MS
rise = $HC_RISE
fall = $HC_FALL"
  local ospf="[ospf]
hello = $OSPF_HELLO
dead = $OSPF_DEAD"
  cat >"$work/east.toml" <<EOF
name = "east"
control = { socket = "$work/east.sock" }   # one per daemon (the default path is shared)
router_id = "1.1.1.1"
l2tp_secret = "bench-secret"
$AUTH_LINE
loopback = ["2001:db8:1::1"]
$bfd_block
$ospf
[[peer]]
name = "client"
address = "10.9.1.2:1701"
tap = "pw-client"
[[peer]]
name = "west"
address = "10.9.3.2:1701"
initiate = true
tap = "pw-west"
[[anycast]]
prefix = "2001:db8:aa::1/128"
preference = 0
settle_s = 3
shutdown_grace_s = 1
$check
EOF
  cat >"$work/west.toml" <<EOF
name = "west"
control = { socket = "$work/west.sock" }   # one per daemon (the default path is shared)
router_id = "2.2.2.2"
l2tp_secret = "bench-secret"
$AUTH_LINE
loopback = ["2001:db8:2::1"]
$bfd_block
$ospf
[[peer]]
name = "client"
address = "10.9.2.2:1701"
tap = "pw-client"
[[peer]]
name = "east"
address = "10.9.3.1:1701"
tap = "pw-east"
[[anycast]]
prefix = "2001:db8:aa::1/128"
preference = 1
settle_s = 3
shutdown_grace_s = 1
$check
EOF
  cat >"$work/client.toml" <<EOF
name = "client"
control = { socket = "$work/client.sock" }   # one per daemon (the default path is shared)
router_id = "3.3.3.3"
l2tp_secret = "bench-secret"
$AUTH_LINE
loopback = ["2001:db8:c::1"]
$bfd_block
$ospf
[[peer]]
name = "east"
address = "10.9.1.1:1701"
initiate = true
tap = "pw-east"
[[peer]]
name = "west"
address = "10.9.2.1:1701"
initiate = true
tap = "pw-west"
EOF
}

start_node() { # node log-suffix
  chmod 600 "$work/$1.toml"   # it holds secrets: the daemon refuses it readable by others
  # In a subshell, so a later kill -9 is not reported as a job of this shell.
  (ip netns exec "fb-$1" env RUST_LOG=info NO_COLOR=1 "$bin" run --config "$work/$1.toml" \
    >"$work/$1.$2.log" 2>&1 & echo $! >"$work/$1.pid")
}
start_service() { # node
  (ip netns exec "fb-$1" python3 "$work/service.py" "$1" >"$work/svc-$1.log" 2>&1 &
    echo $! >"$work/svc-$1.pid")
}
one_request() { # -> the answering server's name, or "-"
  ip netns exec fb-client timeout 2 python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.settimeout(0.3)
for i in range(3):
    try:
        s.sendto(b"0", ("2001:db8:aa::1", 7000)); print(s.recvfrom(64)[0].split()[0].decode()); break
    except OSError:
        pass
else:
    print("-")' 2>/dev/null || echo "-"
}
role() { # node log-suffix -> its role now
  grep -o "RoleChanged {.*to: [A-Za-z]*" "$work/$1.$2.log" 2>/dev/null | tail -1 | sed 's/.*to: //'
}

setup() { # bfd tag -> 0 when converged with east serving and west standby
  stop_all
  for n in $NS; do ip netns add "$n"; ip -n "$n" link set lo up; done
  veth fb-east u-client 10.9.1.1 fb-client u-east 10.9.1.2
  veth fb-west u-client 10.9.2.1 fb-client u-west 10.9.2.2
  veth fb-east u-west 10.9.3.1 fb-west u-east 10.9.3.2
  write_configs "$1"
  start_service east
  start_service west
  start_node east "$2"
  start_node client "$2"
  local i
  for i in $(seq 1 300); do [ "$(one_request)" = east ] && break; sleep 0.2; done
  [ "$(one_request)" = east ] || { say "east never served the client"; return 1; }
  start_node west "$2"
  # West joined: standby with no role change for SETTLE_S, client routes to west.
  local last="" same=0 n need=$((SETTLE_S * 5))
  for i in $(seq 1 600); do
    n=$(grep -c "RoleChanged" "$work/west.$2.log" 2>/dev/null || true)
    if [ "$(role west "$2")" = Standby ] && [ "$n" = "$last" ]; then same=$((same + 1)); else same=0; fi
    last=$n
    if [ "$same" -ge "$need" ] && ip -n fb-client -6 route show 2001:db8:2::1 | grep -q pw-west; then
      [ "$(one_request)" = east ] && return 0
    fi
    sleep 0.2
  done
  say "west did not settle as standby (role: $(role west "$2"))"
  return 1
}

# 5 % loss on every underlay interface, both directions: tc netem (with delay and
# reordering) where the kernel has it, else nftables dropping 5 % of the UDP datagrams
# each namespace sends on its underlay interfaces (loss only: no delay, no reordering).
IMPAIR=none
impair_probe() {
  ip netns add fb-probe-$$ && ip -n fb-probe-$$ link add fbp0 type veth peer name fbp1 || return 1
  if tc -n fb-probe-$$ qdisc replace dev fbp0 root netem loss 5% delay 1ms reorder 25% 2>/dev/null; then
    IMPAIR=netem
  elif command -v nft >/dev/null && ip netns exec fb-probe-$$ nft add table inet fbloss 2>/dev/null; then
    IMPAIR=nft
  fi
  ip netns del fb-probe-$$
}
impair_probe || die "no netns support"
case $IMPAIR in
  netem) IMPAIR_DESC="tc netem loss 5% delay 1ms reorder 25% on every underlay interface" ;;
  nft) IMPAIR_DESC="no sch_netem in this kernel: nftables drops 5% of the UDP each namespace sends on its underlay interfaces (no delay, no reordering)" ;;
  *) IMPAIR_DESC="none available (no sch_netem, no nft): loss=5 scenarios skipped" ;;
esac
impair_on() {
  local e n
  case $IMPAIR in
    netem)
      for e in $UNDERLAY; do
        tc -n "${e%%:*}" qdisc replace dev "${e##*:}" root netem loss 5% delay 1ms reorder 25%
      done ;;
    nft)
      for n in $NS; do
        ip netns exec "$n" nft -f - <<EOF
table inet fbloss {
  chain out {
    type filter hook output priority 0; policy accept;
    oifname "u-*" meta l4proto udp numgen random mod 100 < 5 counter drop
  }
}
EOF
      done ;;
  esac
}

echo "PARAMS health_check=tcp_connect interval_ms=$HC_INTERVAL_MS timeout_ms=$HC_TIMEOUT_MS fall=$HC_FALL rise=$HC_RISE ospf_hello_s=$OSPF_HELLO ospf_dead_s=$OSPF_DEAD bfd_interval_ms=${BFD_INTERVAL_MS:-default} bfd_mult=${BFD_MULT:-default} bfd_supported=$BFD_SUPPORTED request_every_ms=10 steady_s(loss5)=$STEADY_S steady_s(loss0)=$STEADY0_S binary=${HA_NODE_BIN:-release build}"
echo "PARAMS loss=5 means: $IMPAIR_DESC"
for loss in $LOSSES; do
  for bfd in $BFD_MODES; do
    if [ "$loss" = 5 ] && [ "$IMPAIR" = none ]; then
      for sc in $SCENARIOS; do echo "SKIP scenario=$sc bfd=$bfd loss=5: $IMPAIR_DESC"; done
      continue
    fi
    if [ "$bfd" = on ] && [ "$BFD_SUPPORTED" = 0 ]; then
      for sc in $SCENARIOS; do echo "SKIP scenario=$sc bfd=on loss=$loss: ha_node without [bfd]"; done
      continue
    fi
    for sc in $SCENARIOS; do
      tag="$sc-$bfd-$loss"
      say "setup for scenario=$sc bfd=$bfd loss=$loss"
      setup "$bfd" "$tag" || { KEEP_LOGS=1; die "setup failed for $tag (logs in $work)"; }
      steady=$STEADY0_S
      if [ "$loss" = 5 ]; then impair_on; steady=$STEADY_S; fi
      rm -f "$work/stop" "$work/fault" "$work/ready"
      (ip netns exec fb-client python3 "$work/client.py" 2001:db8:aa::1 "$work/stop" "$work/fault" \
        $((steady + WAIT_S + 30)) "$work/ready" >"$work/result-$tag.json" 2>"$work/client-$tag.err" &
        echo $! >"$work/sender.pid")
      for _ in $(seq 1 50); do [ -f "$work/ready" ] && break; sleep 0.1; done
      say "steady run ${steady} s"
      sleep "$steady"
      date +%s.%N >"$work/fault"
      case $sc in
        service) kill -KILL "$(cat "$work/svc-east.pid")"; rm -f "$work/svc-east.pid" ;;
        crash) kill -KILL "$(cat "$work/east.pid")"; rm -f "$work/east.pid" ;;
        link) ip -n fb-east link set u-client down; ip -n fb-east link set u-west down ;;
      esac
      say "fault injected: $sc"
      # Wait until west has answered for a while (or WAIT_S).
      for _ in $(seq 1 $((WAIT_S * 5))); do
        [ "$(one_request)" = west ] && { sleep 1; break; }
        sleep 0.2
      done
      touch "$work/stop"
      pid=$(cat "$work/sender.pid")
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$work/sender.pid"
      r=$(cat "$work/result-$tag.json" 2>/dev/null || true)
      [ -n "$r" ] || { KEEP_LOGS=1; die "the client sender produced no result ($(cat "$work/client-$tag.err"))"; }
      python3 - "$r" "$sc" "$bfd" "$loss" "$steady" <<'EOF'
import json, sys
r = json.loads(sys.argv[1]); sc, bfd, loss, steady = sys.argv[2:6]
print(f"OUTAGE scenario={sc} bfd={bfd} loss={loss} ms={r.get('ms', -1)} lost={r.get('lost', -1)}")
print(f"STEADY scenario={sc} bfd={bfd} loss={loss} steady_s={steady} false_failovers={r['false_failovers']} "
      f"requests={r['steady_requests']} unanswered={r['steady_lost']} max_gap_ms={r['steady_max_gap_ms']}")
EOF
    done
  done
done
stop_all
