#!/usr/bin/env bash
# Interop of the OSPFv3 engine with FRRouting's ospf6d over a veth pair between two
# network namespaces. Needs root, iproute2 and the Debian `frr` package.
#
#   ospfv3/scripts/frr_interop.sh [p2p|broadcast|p2p-low|broadcast-low ...]
#
# (default: all four). "-low" gives the engine router ID 0.2.2.2, below FRR's, so the
# engine is the DD slave and, on broadcast, FRR is the DR and the engine the BDR.
# "-auth" adds the RFC 7166 trailer (HMAC-SHA-256, key id 7) on both sides.
# "chain" puts the engine between two FRR routers (FRR 1.1.1.1 -- engine -- FRR
# 3.3.3.3, point-to-point): each FRR must learn the other's loopback through the
# engine (flooding of FRR's LSAs unchanged, transit in SPF), and the engine forwards.
#
# For each network type: FRR (router ID 1.1.1.1, loopback 2001:db8::1/128) in netns
# ospf-frr, the engine (examples/raw_runner.rs, router ID 2.2.2.2, loopback
# 2001:db8::2/128) in netns ospf-eng. Checks: both sides reach Full; FRR's kernel
# table has a route to 2001:db8::2/128 via the engine's link-local address; the
# engine learned 2001:db8::1/128 (and installed it in its namespace); after
# `withdraw` FRR removes the route within 2 s.
set -euo pipefail
cd "$(dirname "$0")/../.."

TYPES=("$@")
[ ${#TYPES[@]} -eq 0 ] && TYPES=(p2p broadcast p2p-low broadcast-low p2p-auth broadcast-auth chain)

if [ "$(id -u)" != 0 ]; then echo "SKIP: frr_interop.sh needs root"; exit 0; fi
if [ ! -x /usr/lib/frr/ospf6d ]; then echo "SKIP: FRR (ospf6d) not installed"; exit 0; fi

if [ -z "${RUNNER:-}" ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
    cargo build -q -p ospfv3 --features tokio --example raw_runner
    RUNNER="$CARGO_TARGET_DIR/debug/examples/raw_runner"
fi

WORK=$(mktemp -d /tmp/ospf-interop.XXXXXX)
chmod 755 "$WORK"
NS_F=ospf-frr
NS_E=ospf-eng
NS_F2=ospf-frr2
RUNNER_PID=""

cleanup() {
    set +e
    [ -n "$RUNNER_PID" ] && kill "$RUNNER_PID" 2>/dev/null
    for p in "$WORK"/frr*/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
    sleep 0.3
    ip netns del $NS_F 2>/dev/null
    ip netns del $NS_E 2>/dev/null
    ip netns del $NS_F2 2>/dev/null
}
trap cleanup EXIT
# KEEP=1 leaves the namespaces and daemons after a failure, for debugging.
[ -n "${KEEP:-}" ] && trap - EXIT

fail() { echo "FAIL: $*"; echo "--- engine log"; cat "$WORK/engine.log" 2>/dev/null | tail -40; exit 1; }

frr() { ip netns exec $NS_F vtysh --vty_socket "$WORK/frr/run" -c "$1"; }

run_case() {
    local base=${1%-auth} auth_frr="" auth_eng=()
    if [ "$1" != "$base" ]; then
        auth_frr=" ipv6 ospf6 authentication key-id 7 hash-algo hmac-sha-256 key interop-secret"
        # FRR 8.4 appends the Crypto Protocol ID to the key little-endian; see
        # raw_runner's --auth-frr-compat and ENGINE.md.
        auth_eng=(--auth 7:sha256:interop-secret --auth-frr-compat)
    fi
    local nettype=${base%-low} engine_rid=2.2.2.2
    [ "$base" != "$nettype" ] && engine_rid=0.2.2.2
    echo "== FRR ospf6d (1.1.1.1) <-> engine ($engine_rid), network $nettype${auth_frr:+, RFC 7166 HMAC-SHA-256}"
    cleanup; RUNNER_PID=""
    rm -rf "$WORK"/*
    ip netns add $NS_F
    ip netns add $NS_E
    for ns in $NS_F $NS_E; do
        ip netns exec $ns sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
        ip -n $ns link set lo up
    done
    ip link add veth-frr netns $NS_F type veth peer name veth-eng netns $NS_E
    ip -n $NS_F link set veth-frr up
    ip -n $NS_E link set veth-eng up
    ip -n $NS_F -6 addr add 2001:db8::1/128 dev lo
    ip -n $NS_E -6 addr add 2001:db8::2/128 dev lo
    for _ in $(seq 50); do
        ip -n $NS_E -6 addr show dev veth-eng scope link | grep -q fe80 && \
        ip -n $NS_F -6 addr show dev veth-frr scope link | grep -q fe80 && break
        sleep 0.1
    done

    local frrtype="point-to-point"
    [ "$nettype" = broadcast ] && frrtype="broadcast"
    mkdir -p "$WORK/frr/run"
    cat > "$WORK/frr/frr.conf" <<CONF
frr defaults traditional
hostname frr
log file $WORK/frr/frr.log
!
interface lo
 ipv6 ospf6 area 0.0.0.0
 ipv6 ospf6 passive
!
interface veth-frr
 ipv6 ospf6 area 0.0.0.0
 ipv6 ospf6 network $frrtype
 ipv6 ospf6 hello-interval 1
 ipv6 ospf6 dead-interval 3
 ipv6 ospf6 retransmit-interval 2
$auth_frr
!
router ospf6
 ospf6 router-id 1.1.1.1
!
CONF
    chown -R frr:frr "$WORK/frr"
    ip netns exec $NS_F /usr/lib/frr/zebra -d -N $NS_F -f "$WORK/frr/frr.conf" -i "$WORK/frr/zebra.pid" --vty_socket "$WORK/frr/run"
    ip netns exec $NS_F /usr/lib/frr/ospf6d -d -N $NS_F -f "$WORK/frr/frr.conf" -i "$WORK/frr/ospf6d.pid" --vty_socket "$WORK/frr/run"

    local TSHARK_PID=""
    if command -v tshark >/dev/null; then
        ip netns exec $NS_E tshark -q -i veth-eng -f "ip6 proto 89" -w "$WORK/ospf.pcapng" 2>/dev/null &
        TSHARK_PID=$!
        sleep 1
    fi
    mkfifo "$WORK/cmd"
    ip netns exec $NS_E "$RUNNER" --ifname veth-eng --router-id "$engine_rid" --loopback 2001:db8::2 \
        --network "$nettype" --hello 1 --dead 3 --install-routes "${auth_eng[@]}" < "$WORK/cmd" > "$WORK/engine.log" 2>&1 &
    RUNNER_PID=$!
    exec 9> "$WORK/cmd"   # keep the runner's stdin open

    local ok=""
    for _ in $(seq 60); do
        if frr 'show ipv6 ospf6 neighbor' 2>/dev/null | grep -q "$engine_rid.*Full"; then ok=1; break; fi
        sleep 0.5
    done
    frr 'show ipv6 ospf6 neighbor' || true
    [ -n "$ok" ] || fail "FRR did not reach Full with the engine ($nettype)"
    grep -q "NEIGHBOR 1.1.1.1 .* -> Full" "$WORK/engine.log" || fail "engine did not reach Full"
    echo "ok: adjacency Full on both sides"

    ok=""
    for _ in $(seq 40); do
        if ip -n $NS_F -6 route show 2001:db8::2 | grep -q "via fe80"; then ok=1; break; fi
        sleep 0.25
    done
    ip -n $NS_F -6 route show 2001:db8::2
    [ -n "$ok" ] || fail "FRR has no kernel route to the engine's loopback"
    echo "ok: FRR's kernel table routes 2001:db8::2/128 via the engine"

    ok=""
    for _ in $(seq 40); do
        if grep -q "ROUTE ADD 2001:db8::1/128" "$WORK/engine.log"; then ok=1; break; fi
        sleep 0.25
    done
    [ -n "$ok" ] || fail "engine did not learn FRR's loopback"
    grep "ROUTE ADD 2001:db8::1/128" "$WORK/engine.log" | tail -1
    ip -n $NS_E -6 route show 2001:db8::1 | grep -q "via fe80" || fail "route not installed on the engine side"
    echo "ok: engine learned and installed 2001:db8::1/128"
    command -v ping >/dev/null && ip netns exec $NS_E ping -6 -c 1 -W 2 -I 2001:db8::2 2001:db8::1 >/dev/null && echo "ok: ping 2001:db8::2 -> 2001:db8::1 across the learned routes"

    echo withdraw >&9
    local t0 t1
    t0=$(date +%s.%N)
    ok=""
    for _ in $(seq 100); do
        if ! ip -n $NS_F -6 route show 2001:db8::2 | grep -q via; then ok=1; break; fi
        sleep 0.05
    done
    t1=$(date +%s.%N)
    local dt
    dt=$(echo "$t1 - $t0" | bc)
    [ -n "$ok" ] || fail "FRR still routes 2001:db8::2 5 s after the withdrawal"
    echo "withdrawal removed from FRR's kernel table after ${dt}s"
    if (( $(echo "$dt > 2.0" | bc) )); then fail "withdrawal took ${dt}s (> 2 s)"; fi
    echo "ok: withdrawal within 2 s"
    echo quit >&9
    exec 9>&-
    wait "$RUNNER_PID" 2>/dev/null || true
    RUNNER_PID=""
    if [ -n "$TSHARK_PID" ]; then
        sleep 0.5
        kill "$TSHARK_PID" 2>/dev/null; wait "$TSHARK_PID" 2>/dev/null || true
        local ll n bad
        ll=$(ip -n $NS_E -6 -o addr show dev veth-eng scope link | awk '{print $4}' | cut -d/ -f1)
        n=$(tshark -r "$WORK/ospf.pcapng" -Y "ospf && ipv6.src == $ll" 2>/dev/null | wc -l)
        bad=$(tshark -r "$WORK/ospf.pcapng" -Y '_ws.malformed || _ws.expert.severity >= warning' 2>/dev/null | wc -l)
        echo "tshark: $n OSPFv3 packets from the engine, $bad malformed or warning packets in the capture"
        tshark -r "$WORK/ospf.pcapng" -Y "ospf && ipv6.src == $ll" -T fields -e ospf.msg 2>/dev/null | sort | uniq -c
        [ "$bad" = 0 ] || { tshark -r "$WORK/ospf.pcapng" -Y '_ws.malformed || _ws.expert.severity >= warning' -V | head -60; fail "tshark flags packets"; }
        [ "$n" -gt 0 ] || fail "no engine packets captured"
    fi
}

# frr_start NS DIR ROUTER-ID IFNAME: FRR with ospf6d on IFNAME (point-to-point) and lo.
frr_start() {
    local ns=$1 dir=$2 rid=$3 ifn=$4
    mkdir -p "$dir/run"
    cat > "$dir/frr.conf" <<CONF
frr defaults traditional
hostname $ns
log file $dir/frr.log
!
interface lo
 ipv6 ospf6 area 0.0.0.0
 ipv6 ospf6 passive
!
interface $ifn
 ipv6 ospf6 area 0.0.0.0
 ipv6 ospf6 network point-to-point
 ipv6 ospf6 hello-interval 1
 ipv6 ospf6 dead-interval 3
 ipv6 ospf6 retransmit-interval 2
!
router ospf6
 ospf6 router-id $rid
!
CONF
    chown -R frr:frr "$dir"
    ip netns exec "$ns" /usr/lib/frr/zebra -d -N "$ns" -f "$dir/frr.conf" -i "$dir/zebra.pid" --vty_socket "$dir/run"
    ip netns exec "$ns" /usr/lib/frr/ospf6d -d -N "$ns" -f "$dir/frr.conf" -i "$dir/ospf6d.pid" --vty_socket "$dir/run"
}

wait_route() { # NS PREFIX: wait up to 15 s for a kernel route via a link-local next hop
    for _ in $(seq 60); do
        ip -n "$1" -6 route show "$2" | grep -q "via fe80" && return 0
        sleep 0.25
    done
    return 1
}

run_chain() {
    echo "== FRR 1.1.1.1 -- engine 2.2.2.2 -- FRR 3.3.3.3, point-to-point"
    cleanup; RUNNER_PID=""
    rm -rf "${WORK:?}"/*
    for ns in $NS_F $NS_E $NS_F2; do
        ip netns add $ns
        ip netns exec $ns sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
        ip netns exec $ns sysctl -qw net.ipv6.conf.all.forwarding=1
        ip -n $ns link set lo up
    done
    ip link add veth-frr netns $NS_F type veth peer name veth-eng netns $NS_E
    ip link add veth-frr2 netns $NS_F2 type veth peer name veth-eng2 netns $NS_E
    ip -n $NS_F link set veth-frr up
    ip -n $NS_F2 link set veth-frr2 up
    ip -n $NS_E link set veth-eng up
    ip -n $NS_E link set veth-eng2 up
    ip -n $NS_F -6 addr add 2001:db8::1/128 dev lo
    ip -n $NS_E -6 addr add 2001:db8::2/128 dev lo
    ip -n $NS_F2 -6 addr add 2001:db8::3/128 dev lo
    sleep 1
    frr_start $NS_F "$WORK/frr" 1.1.1.1 veth-frr
    frr_start $NS_F2 "$WORK/frr2" 3.3.3.3 veth-frr2
    mkfifo "$WORK/cmd"
    ip netns exec $NS_E "$RUNNER" --ifname veth-eng --ifname veth-eng2 --router-id 2.2.2.2 \
        --loopback 2001:db8::2 --network p2p --hello 1 --dead 3 --install-routes \
        < "$WORK/cmd" > "$WORK/engine.log" 2>&1 &
    RUNNER_PID=$!
    exec 9> "$WORK/cmd"
    wait_route $NS_F 2001:db8::3 || fail "FRR 1 did not learn FRR 2's loopback through the engine"
    wait_route $NS_F2 2001:db8::1 || fail "FRR 2 did not learn FRR 1's loopback through the engine"
    ip -n $NS_F -6 route show 2001:db8::3
    ip -n $NS_F2 -6 route show 2001:db8::1
    echo "ok: each FRR routes the other's loopback through the engine"
    wait_route $NS_E 2001:db8::1 || fail "engine did not install 2001:db8::1"
    wait_route $NS_E 2001:db8::3 || fail "engine did not install 2001:db8::3"
    grep "ROUTE ADD" "$WORK/engine.log"
    echo "ok: the engine installed both FRR loopbacks"
    ip netns exec $NS_F vtysh --vty_socket "$WORK/frr/run" -c 'show ipv6 ospf6 route' || true
    if command -v python3 >/dev/null; then
        # UDP echo across the engine's namespace: proves the routes forward both ways.
        ip netns exec $NS_F2 python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("2001:db8::3", 7777)); s.settimeout(10)
d, a = s.recvfrom(100); s.sendto(d, a)' &
        local echo_pid=$!
        sleep 0.5
        ip netns exec $NS_F python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("2001:db8::1", 0)); s.settimeout(5)
s.sendto(b"through-the-engine", ("2001:db8::3", 7777))
sys.exit(0 if s.recvfrom(100)[0] == b"through-the-engine" else 1)' \
            || fail "no forwarding 2001:db8::1 -> engine -> 2001:db8::3"
        wait "$echo_pid" 2>/dev/null || true
        echo "ok: UDP 2001:db8::1 <-> 2001:db8::3 forwarded through the engine's namespace"
    fi
    echo withdraw >&9
    local t0 t1 ok=""
    t0=$(date +%s.%N)
    for _ in $(seq 100); do
        if ! ip -n $NS_F -6 route show 2001:db8::2 | grep -q via \
            && ! ip -n $NS_F2 -6 route show 2001:db8::2 | grep -q via; then ok=1; break; fi
        sleep 0.05
    done
    t1=$(date +%s.%N)
    [ -n "$ok" ] || fail "an FRR still routes the withdrawn 2001:db8::2"
    echo "ok: withdrawal left both FRR kernel tables after $(echo "$t1 - $t0" | bc)s"
    echo quit >&9
    exec 9>&-
    wait "$RUNNER_PID" 2>/dev/null || true
    RUNNER_PID=""
}

for t in "${TYPES[@]}"; do
    if [ "$t" = chain ]; then run_chain; else run_case "$t"; fi
done
echo "PASS: FRR interop (${TYPES[*]})"
