#!/usr/bin/env bash
# Direct BFD interop of the `bfd` crate (examples/bfd_peer.rs) with FRRouting's bfdd
# over a veth pair between two network namespaces (single hop, RFC 5881). Needs root,
# iproute2, jq and the Debian `frr` package.
#
#   bfd/scripts/frr_bfd_interop.sh [v6|v4|auth ...]     (default: v6 v4 auth)
#
# v6: IPv6 link-local (fe80::1 FRR, fe80::2 ours); v4: 10.99.1.1 / 10.99.1.2.
# For each: FRR's bfdd (with zebra) in netns bfdi-a, bfd_peer in netns bfdi-b.
#  1. both sides Up (300 ms x 3 on both);
#  2. our timers -> 100/150 ms x 5 by Poll/Final: FRR shows the new remote timers and
#     multiplier, stays Up;
#  3. FRR's timers -> tx 120, rx 100, mult 4: ours reports them and the detection time
#     4 x max(150, 120) = 600 ms, stays Up;
#  4. bfd_peer killed (SIGKILL): FRR Down with "control detection time expired"
#     within its detection time 5 x 100 ms (+ 100 ms), by the timestamp in its log;
#  5. bfd_peer restarted: Up again;
#  6. `shutdown` of the peer in FRR: ours Down, diag 3 (neighbor signaled down);
#     `no shutdown`: Up again; our `admindown`: FRR Down, remote diag 7; `adminup`: Up;
#  7. bfdd killed (SIGKILL): ours Down, diag 1, within 600 ms (+ slack);
#  8. with tshark: the captured packets of both sides, none malformed, no warnings.
# auth: FRR 8.4's bfdd has no BFD authentication; the case proves that (the vtysh
# command does not exist, and an authenticated bfd_peer never brings FRR Up) and says
# so: it does not pretend to test authentication against FRR.
#
# Exit 0 with a SKIP line when not root or FRR is missing; non-zero on any failure.
# Bounded: every wait has a timeout; namespaces and daemons are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

CASES=("$@")
[ ${#CASES[@]} -eq 0 ] && CASES=(v6 v4 auth)

if [ "$(id -u)" != 0 ]; then echo "SKIP: frr_bfd_interop.sh needs root"; exit 0; fi
if [ ! -x /usr/lib/frr/bfdd ] || [ ! -x /usr/lib/frr/zebra ]; then
    echo "SKIP: FRR (bfdd, zebra) not installed"; exit 0
fi
if ! command -v jq >/dev/null; then echo "SKIP: jq not installed"; exit 0; fi

if [ -z "${PEER_BIN:-}" ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
    cargo build -q -p bfd --features tokio --example bfd_peer
    PEER_BIN="$CARGO_TARGET_DIR/debug/examples/bfd_peer"
fi

WORK=$(mktemp -d /tmp/bfdi.XXXXXX)
chmod 755 "$WORK"
NS_A=bfdi-a   # FRR
NS_B=bfdi-b   # bfd_peer
IF_A=bfdi-fa
IF_B=bfdi-pb
PEER_PID=""
TSHARK_PID=""
FIGURES=()

stop_peer() {
    if [ -n "$PEER_PID" ]; then
        kill "$PEER_PID" 2>/dev/null || true
        wait "$PEER_PID" 2>/dev/null || true
        PEER_PID=""
    fi
    exec 3>&- 2>/dev/null || true
}

stop_capture() {
    if [ -n "$TSHARK_PID" ]; then
        kill -INT "$TSHARK_PID" 2>/dev/null || true
        wait "$TSHARK_PID" 2>/dev/null || true
        TSHARK_PID=""
    fi
}

cleanup() {
    set +e
    stop_peer
    stop_capture
    for p in "$WORK"/frr/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
    sleep 0.2
    ip netns del $NS_A 2>/dev/null
    ip netns del $NS_B 2>/dev/null
}
on_exit() { cleanup; rm -rf "$WORK"; }
trap on_exit EXIT
# KEEP=1 leaves the namespaces and daemons after a failure, for debugging.
[ -n "${KEEP:-}" ] && trap - EXIT

now_ms() { date +%s%3N; }
fail() {
    echo "FAIL: $*"
    echo "--- bfd_peer log"; tail -30 "$WORK/peer.log" 2>/dev/null
    echo "--- FRR"; frr_json 2>/dev/null
    exit 1
}
frr() { ip netns exec $NS_A vtysh --vty_socket "$WORK/frr/run" "$@"; }
frr_conf() {
    local args=(-c 'configure terminal' -c 'bfd' -c "peer $OUR_ADDR interface $IF_A")
    for c in "$@"; do args+=(-c "$c"); done
    frr "${args[@]}"
}
# FRR's view of our session, as one JSON object ("{}" when it has none).
frr_json() {
    frr -c 'show bfd peers json' 2>/dev/null \
        | jq -c --arg p "$OUR_ADDR" '[.[] | select(.peer == $p)][0] // {}'
}
frr_field() { frr_json | jq -r ".\"$1\" // empty"; }

# wait_frr JQ_CONDITION SECONDS: until FRR's JSON for the peer satisfies the condition.
wait_frr() {
    local end=$(( $(now_ms) + $2 * 1000 ))
    while [ "$(now_ms)" -lt "$end" ]; do
        if [ "$(frr_json | jq -r "$1")" = true ]; then return 0; fi
        sleep 0.02
    done
    return 1
}
# Lines of the peer log written after the mark.
MARK=0
mark() { MARK=$(wc -l < "$WORK/peer.log"); }
since_mark() { tail -n +$((MARK + 1)) "$WORK/peer.log"; }
# wait_peer REGEX SECONDS: until a line after the mark matches.
wait_peer() {
    local end=$(( $(now_ms) + $2 * 1000 ))
    while [ "$(now_ms)" -lt "$end" ]; do
        if since_mark | grep -Eq "$1"; then return 0; fi
        sleep 0.02
    done
    return 1
}
peer_cmd() { echo "$1" >&3; }

start_peer() {
    rm -f "$WORK/peer.in"
    mkfifo "$WORK/peer.in"
    local scope=()
    [ "$FAMILY" = v6 ] && scope=(--interface $IF_B)
    ip netns exec $NS_B "$PEER_BIN" --local "$OUR_ADDR" --peer "$FRR_ADDR" "${scope[@]}" \
        "$@" < "$WORK/peer.in" >> "$WORK/peer.log" 2>&1 &
    PEER_PID=$!
    exec 3> "$WORK/peer.in"
}

# A capture of the whole case (when tshark is there), in a directory root owns.
start_capture() {
    command -v tshark >/dev/null || return 0
    mkdir -p "$WORK/cap"
    ip netns exec $NS_B tshark -q -i $IF_B -f 'udp port 3784' -w "$WORK/cap/bfd.pcapng" \
        > "$WORK/cap/tshark.log" 2>&1 &
    TSHARK_PID=$!
    local end=$(( $(now_ms) + 10000 ))
    until grep -q 'Capturing on' "$WORK/cap/tshark.log" 2>/dev/null; do
        [ "$(now_ms)" -lt "$end" ] || fail "tshark did not start"
        sleep 0.05
    done
}
# Wireshark's dissector on both sides' packets: none malformed, no expert warnings.
check_capture() {
    [ -n "$TSHARK_PID" ] || return 0
    stop_capture
    local f="$WORK/cap/bfd.pcapng" bad ours theirs
    bad=$(tshark -r "$f" -Y '_ws.malformed || _ws.expert.severity >= warning' 2>/dev/null) \
        || fail "tshark cannot read the capture"
    [ -z "$bad" ] || fail "tshark flags packets: $bad"
    local src=ip.src
    [ "$FAMILY" = v6 ] && src=ipv6.src
    ours=$(tshark -r "$f" -Y "bfd && $src == $OUR_ADDR" 2>/dev/null | wc -l)
    theirs=$(tshark -r "$f" -Y "bfd && $src == $FRR_ADDR" 2>/dev/null | wc -l)
    [ "$ours" -gt 0 ] && [ "$theirs" -gt 0 ] || fail "capture holds $ours of our and $theirs of FRR's packets"
    echo "PASS: $FAMILY: tshark: $ours of our and $theirs of FRR's BFD packets, none malformed, no expert warnings"
}

start_frr() {
    local tx=$1 rx=$2 mult=$3
    mkdir -p "$WORK/frr/run"
    cat > "$WORK/frr/frr.conf" <<EOF
hostname bfdi-frr
log file $WORK/frr/frr.log
log timestamp precision 3
debug bfd peer
!
bfd
 peer $OUR_ADDR interface $IF_A
  receive-interval $rx
  transmit-interval $tx
  detect-multiplier $mult
 !
!
EOF
    chown -R frr:frr "$WORK/frr"
    ip netns exec $NS_A /usr/lib/frr/zebra -d -N $NS_A -f "$WORK/frr/frr.conf" \
        -i "$WORK/frr/zebra.pid" --vty_socket "$WORK/frr/run"
    ip netns exec $NS_A /usr/lib/frr/bfdd -d -N $NS_A -f "$WORK/frr/frr.conf" \
        -i "$WORK/frr/bfdd.pid" --vty_socket "$WORK/frr/run"
}

setup_net() {
    cleanup
    PEER_PID=""
    rm -rf "${WORK:?}"/*
    : > "$WORK/peer.log"
    ip netns add $NS_A
    ip netns add $NS_B
    for ns in $NS_A $NS_B; do
        ip netns exec $ns sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
        ip -n $ns link set lo up
    done
    ip link add $IF_A netns $NS_A type veth peer name $IF_B netns $NS_B
    # Only the addresses we set: no EUI-64 link-local to pick as a source instead.
    ip -n $NS_A link set $IF_A addrgenmode none
    ip -n $NS_B link set $IF_B addrgenmode none
    ip -n $NS_A addr add fe80::1/64 dev $IF_A nodad
    ip -n $NS_B addr add fe80::2/64 dev $IF_B nodad
    ip -n $NS_A addr add 10.99.1.1/24 dev $IF_A
    ip -n $NS_B addr add 10.99.1.2/24 dev $IF_B
    ip -n $NS_A link set $IF_A up
    ip -n $NS_B link set $IF_B up
}

set_family() {
    FAMILY=$1
    if [ "$FAMILY" = v6 ]; then OUR_ADDR=fe80::2; FRR_ADDR=fe80::1
    else OUR_ADDR=10.99.1.2; FRR_ADDR=10.99.1.1; fi
}

run_case() {
    set_family "$1"
    echo "== FRR bfdd ($FRR_ADDR) <-> bfd_peer ($OUR_ADDR), single hop over veth"
    setup_net
    start_frr 300 300 3
    start_capture
    start_peer --tx-ms 300 --rx-ms 300 --mult 3
    mark

    # 1. Up on both sides.
    wait_peer '^STATE Up' 15 || fail "bfd_peer not Up"
    wait_frr '.status == "up"' 10 || fail "FRR not Up"
    echo "PASS: $FAMILY: session Up on both sides ($(grep -m1 '^STATE Up' "$WORK/peer.log"))"

    # 2. Our timers change by Poll/Final.
    mark
    peer_cmd "timers 100 150 5"
    wait_peer '^POLL complete' 5 || fail "no Final for our Poll"
    wait_frr '.["remote-transmit-interval"] == 100 and .["remote-receive-interval"] == 150 and .["remote-detect-multiplier"] == 5' 5 \
        || fail "FRR does not show our new timers"
    [ "$(frr_field status)" = up ] || fail "FRR left Up on our timer change"
    since_mark | grep -q '^STATE' && fail "bfd_peer changed state on its timer change"
    echo "PASS: $FAMILY: our timers 100/150 ms x 5 by Poll/Final; FRR shows remote tx=$(frr_field remote-transmit-interval) rx=$(frr_field remote-receive-interval) mult=$(frr_field remote-detect-multiplier), still up"

    # 3. FRR's timers change (FRR polls; we answer with a Final).
    mark
    frr_conf 'transmit-interval 120' 'receive-interval 100' 'detect-multiplier 4' >/dev/null
    wait_peer '^REMOTE state=Up .*tx_ms=120 rx_ms=100 mult=4' 5 || fail "bfd_peer does not see FRR's timers"
    wait_peer '^TIMERS tx_ms=100 detect_ms=600' 5 || fail "bfd_peer did not adopt tx 100 / detect 600"
    wait_frr '.["transmit-interval"] == 120 and .["receive-interval"] == 100 and .status == "up"' 5 \
        || fail "FRR not Up with its new timers"
    since_mark | grep -q '^STATE' && fail "bfd_peer changed state on FRR's timer change"
    echo "PASS: $FAMILY: FRR timers tx 120 rx 100 x4; ours: $(since_mark | grep '^REMOTE' | tail -1), $(since_mark | grep '^TIMERS' | tail -1)"

    # 4. bfd_peer killed: FRR detects it (its detection time: our 5 x max(100, 100)).
    local t0 t1 dt
    local frr_detect=$(( 5 * 100 ))
    t0=$(now_ms)
    kill -9 "$PEER_PID"; wait "$PEER_PID" 2>/dev/null || true; PEER_PID=""
    exec 3>&-
    wait_frr '.status != "up"' 5 || fail "FRR still Up 5 s after bfd_peer was killed"
    t1=$(now_ms); dt=$((t1 - t0))
    local diag; diag=$(frr_field diagnostic)
    [ "$diag" = "control detection time expired" ] || fail "FRR diagnostic '$diag'"
    # FRR's own log says when it decided (millisecond timestamps, local time).
    local logged
    logged=$(grep 'up -> down reason:control-expired' "$WORK/frr/frr.log" | tail -1 | cut -d' ' -f1-2)
    [ -n "$logged" ] || fail "no control-expired state change in FRR's log"
    local dt_log=$(( $(date -d "$logged" +%s%3N) - t0 ))
    [ "$dt_log" -le $((frr_detect + 100)) ] || fail "FRR took $dt_log ms (detection time $frr_detect ms)"
    echo "PASS: $FAMILY: bfd_peer killed -> FRR down after $dt_log ms by its log ($dt ms seen through vtysh; detection time $frr_detect ms), diag '$diag'"
    FIGURES+=("$FAMILY FRR-detects-ours ${dt_log}ms/${frr_detect}ms")

    # 5. Restarted: Up again.
    mark
    start_peer --tx-ms 100 --rx-ms 150 --mult 5
    wait_peer '^STATE Up' 10 || fail "restarted bfd_peer not Up"
    wait_frr '.status == "up"' 10 || fail "FRR not Up with the restarted bfd_peer"
    echo "PASS: $FAMILY: bfd_peer restarted -> Up again on both sides"

    # 6. FRR shuts the peer down administratively: ours Down, diag 3; and back.
    mark
    frr_conf 'shutdown' >/dev/null
    wait_peer '^STATE Down .*diag=NeighborSignaledSessionDown' 5 || fail "no Down (diag 3) on FRR's shutdown"
    echo "PASS: $FAMILY: FRR 'shutdown' -> ours $(since_mark | grep -m1 '^STATE Down' | cut -d' ' -f1-4)"
    mark
    frr_conf 'no shutdown' >/dev/null
    wait_peer '^STATE Up' 10 || fail "not Up after FRR's 'no shutdown'"
    wait_frr '.status == "up"' 10 || fail "FRR not Up after 'no shutdown'"
    echo "PASS: $FAMILY: FRR 'no shutdown' -> Up again"
    # Our administrative down: FRR Down with remote diagnostic 7; and back.
    mark
    peer_cmd admindown
    wait_frr '.status == "down" and .["remote-diagnostic"] == "administratively down"' 5 \
        || fail "FRR not Down (remote diag 7) on our admindown"
    echo "PASS: $FAMILY: our admindown -> FRR down, remote diagnostic '$(frr_field remote-diagnostic)'"
    peer_cmd adminup
    wait_peer '^STATE Up' 10 || fail "not Up after adminup"
    wait_frr '.status == "up"' 10 || fail "FRR not Up after our adminup"
    echo "PASS: $FAMILY: our adminup -> Up again"
    # Let the Poll/Final to the configured timers finish.
    sleep 1.5

    # 7. bfdd killed: ours detects it (4 x max(150, 120) = 600 ms).
    local our_detect
    our_detect=$(grep '^TIMERS' "$WORK/peer.log" | tail -1 | sed 's/.*detect_ms=//')
    mark
    t0=$(now_ms)
    kill -9 "$(cat "$WORK/frr/bfdd.pid")"
    wait_peer '^STATE Down .*diag=ControlDetectionTimeExpired' 5 || fail "no Down (diag 1) after bfdd was killed"
    t1=$(since_mark | grep -m1 '^STATE Down' | sed 's/.*t_ms=//')
    dt=$((t1 - t0))
    [ "$dt" -le $((our_detect + 300)) ] || fail "ours took $dt ms (detection time $our_detect ms)"
    echo "PASS: $FAMILY: bfdd killed -> ours Down after $dt ms (detection time $our_detect ms), diag 1 (control detection time expired)"
    FIGURES+=("$FAMILY ours-detects-FRR ${dt}ms/${our_detect}ms")
    stop_peer
    check_capture
}

run_auth() {
    set_family v4
    echo "== authentication: FRR bfdd ($FRR_ADDR) <-> bfd_peer ($OUR_ADDR, Keyed SHA1)"
    setup_net
    start_frr 300 300 3
    # Does this bfdd know any BFD authentication command?
    local out
    out=$(frr_conf 'authentication keyed-sha1 key-id 1 key interop' 2>&1 || true)
    if ! echo "$out" | grep -qi 'unknown command\|error'; then
        fail "bfdd accepted an authentication command ('$out'): extend this case to test it"
    fi
    start_peer --tx-ms 300 --rx-ms 300 --mult 3 --auth keyed-sha1 --key-id 1 --key interop
    mark
    # FRR 8.4 does not authenticate: it must not bring up a session whose packets
    # carry an authentication section it cannot check, and neither may we without
    # FRR's (absent) authentication section.
    sleep 4
    wait_peer '^DROP authentication failed' 1 || fail "bfd_peer did not refuse FRR's unauthenticated packets"
    since_mark | grep -q '^STATE Up' && fail "bfd_peer came Up with an unauthenticated FRR"
    [ "$(frr_field status)" = up ] && fail "FRR came Up with an authenticated peer it cannot verify"
    echo "PASS: auth: bfd_peer (Keyed SHA1) refuses FRR's unauthenticated packets and FRR does not come Up either"
    echo "NOTE: FRR $(dpkg-query -W -f '${Version}' frr 2>/dev/null || echo '?') bfdd has no BFD authentication ('$(echo "$out" | head -1 | tr -s ' ')'):"
    echo "NOTE: authentication is NOT interop-tested against FRR; the crate's auth is checked against tshark (.ci/checks/35-bfd-tshark.sh)"
    stop_peer
}

for c in "${CASES[@]}"; do
    case $c in
        v6|v4) run_case "$c" ;;
        auth) run_auth ;;
        *) echo "unknown case $c"; exit 2 ;;
    esac
done
echo "FIGURES (detected after / detection time): ${FIGURES[*]:-none}"
echo "PASS: frr_bfd_interop.sh ${CASES[*]}"
