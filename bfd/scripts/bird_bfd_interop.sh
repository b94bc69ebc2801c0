#!/usr/bin/env bash
# BFD authentication interop of the `bfd` crate (examples/bfd_peer.rs) with BIRD 2's
# BFD over a veth pair between two network namespaces (single hop, RFC 5881, IPv4).
# FRR 8.4's bfdd has no BFD authentication (see frr_bfd_interop.sh); BIRD has all of
# RFC 5880 6.7's types, so this is where our authentication meets another
# implementation. Needs root, iproute2 and the Debian `bird2` package.
#
#   bfd/scripts/bird_bfd_interop.sh [TYPE ...]
#     TYPE: simple-password keyed-md5 meticulous-keyed-md5 keyed-sha1
#           meticulous-keyed-sha1 (default: all five)
#
# For each type, with the same password and key ID on both sides:
#  1. both sides Up (BIRD's `show bfd sessions`, our STATE line), no authentication
#     drop on our side once Up;
#  2. our side killed (SIGKILL): BIRD goes Down;
#  3. restarted with a WRONG password: we drop every BIRD packet ("authentication
#     failed") and neither side comes Up;
#  4. restarted with the right password: Up again on both sides.
# With tshark: every captured packet decodes, with no malformed packet and no expert
# warning (tshark checks the auth section's layout, not the digest).
#
# Exit 0 with a SKIP line when not root or BIRD is missing; non-zero on any failure.
# Bounded: every wait has a timeout; namespaces and daemons are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

TYPES=("$@")
[ ${#TYPES[@]} -eq 0 ] && TYPES=(simple-password keyed-md5 meticulous-keyed-md5 keyed-sha1 meticulous-keyed-sha1)

if [ "$(id -u)" != 0 ]; then echo "SKIP: bird_bfd_interop.sh needs root"; exit 0; fi
if ! command -v bird >/dev/null || ! command -v birdc >/dev/null; then
    echo "SKIP: BIRD 2 (bird, birdc) not installed"; exit 0
fi

if [ -z "${PEER_BIN:-}" ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
    cargo build -q -p bfd --features tokio --example bfd_peer
    PEER_BIN="$CARGO_TARGET_DIR/debug/examples/bfd_peer"
fi

SUFFIX=$$
WORK=$(mktemp -d /tmp/bfdb.XXXXXX)
NS_A=bfdb-a-$SUFFIX   # BIRD
NS_B=bfdb-b-$SUFFIX   # bfd_peer
IF_A=bfdb-a$SUFFIX
IF_B=bfdb-b$SUFFIX
BIRD_ADDR=10.99.2.1
OUR_ADDR=10.99.2.2
KEY_ID=7
PASSWORD=interop-pw
PEER_PID=""
BIRD_PID=""
TSHARK_PID=""

stop_peer() {
    if [ -n "$PEER_PID" ]; then
        kill -9 "$PEER_PID" 2>/dev/null || true
        wait "$PEER_PID" 2>/dev/null || true
        PEER_PID=""
    fi
}
stop_bird() {
    if [ -n "$BIRD_PID" ]; then
        kill "$BIRD_PID" 2>/dev/null || true
        wait "$BIRD_PID" 2>/dev/null || true
        BIRD_PID=""
    fi
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
    stop_bird
    ip netns del "$NS_A" 2>/dev/null
    ip netns del "$NS_B" 2>/dev/null
}
on_exit() { cleanup; rm -rf "$WORK"; }
trap on_exit EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

now_ms() { date +%s%3N; }
fail() {
    echo "FAIL: $*"
    echo "--- bfd_peer log"; tail -20 "$WORK/peer.log" 2>/dev/null
    echo "--- BIRD"; bird_sessions 2>/dev/null; tail -20 "$WORK/bird.log" 2>/dev/null
    exit 1
}
birdc_() { ip netns exec "$NS_A" birdc -s "$WORK/bird.ctl" "$@"; }
bird_sessions() { birdc_ show bfd sessions; }
# BIRD's state of the session with us ("" when it has none).
bird_state() { bird_sessions | awk -v a="$OUR_ADDR" '$1 == a { print $3 }'; }
wait_bird() { # STATE SECONDS
    local end=$(( $(now_ms) + $2 * 1000 ))
    while [ "$(now_ms)" -lt "$end" ]; do
        [ "$(bird_state)" = "$1" ] && return 0
        sleep 0.05
    done
    return 1
}
MARK=0
mark() { MARK=$(wc -l < "$WORK/peer.log"); }
since_mark() { tail -n +$((MARK + 1)) "$WORK/peer.log"; }
wait_peer() { # REGEX SECONDS
    local end=$(( $(now_ms) + $2 * 1000 ))
    while [ "$(now_ms)" -lt "$end" ]; do
        since_mark | grep -Eq "$1" && return 0
        sleep 0.05
    done
    return 1
}

# BIRD's name of each RFC 5880 authentication type.
bird_auth() {
    case "$1" in
        simple-password) echo "simple" ;;
        keyed-md5) echo "keyed md5" ;;
        meticulous-keyed-md5) echo "meticulous keyed md5" ;;
        keyed-sha1) echo "keyed sha1" ;;
        meticulous-keyed-sha1) echo "meticulous keyed sha1" ;;
        *) fail "unknown type $1" ;;
    esac
}

start_bird() { # TYPE
    cat > "$WORK/bird.conf" <<EOF
router id $BIRD_ADDR;
log "$WORK/bird.log" all;
protocol device { scan time 1; }
protocol bfd {
    interface "$IF_A" {
        min rx interval 300 ms;
        min tx interval 300 ms;
        multiplier 3;
        authentication $(bird_auth "$1");
        password "$PASSWORD" { id $KEY_ID; };
    };
    neighbor $OUR_ADDR dev "$IF_A" local $BIRD_ADDR;
}
EOF
    ip netns exec "$NS_A" bird -f -c "$WORK/bird.conf" -s "$WORK/bird.ctl" \
        > "$WORK/bird.out" 2>&1 &
    BIRD_PID=$!
    local end=$(( $(now_ms) + 10000 ))
    until birdc_ show status >/dev/null 2>&1; do
        [ "$(now_ms)" -lt "$end" ] || fail "BIRD did not start: $(cat "$WORK/bird.out")"
        sleep 0.1
    done
}

start_peer() { # TYPE PASSWORD
    ip netns exec "$NS_B" "$PEER_BIN" --local "$OUR_ADDR" --peer "$BIRD_ADDR" \
        --tx-ms 300 --rx-ms 300 --mult 3 --auth "$1" --key-id $KEY_ID --key "$2" \
        < /dev/null >> "$WORK/peer.log" 2>&1 &
    PEER_PID=$!
}

start_capture() {
    command -v tshark >/dev/null || return 0
    ip netns exec "$NS_B" tshark -q -i "$IF_B" -f 'udp port 3784' -w "$WORK/bfd.pcapng" \
        > "$WORK/tshark.log" 2>&1 &
    TSHARK_PID=$!
    local end=$(( $(now_ms) + 10000 ))
    until grep -q 'Capturing on' "$WORK/tshark.log" 2>/dev/null; do
        [ "$(now_ms)" -lt "$end" ] || fail "tshark did not start"
        sleep 0.1
    done
}

ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add "$IF_A" netns "$NS_A" type veth peer name "$IF_B" netns "$NS_B"
ip -n "$NS_A" addr add $BIRD_ADDR/24 dev "$IF_A"
ip -n "$NS_B" addr add $OUR_ADDR/24 dev "$IF_B"
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "$IF_A" up
ip -n "$NS_B" link set "$IF_B" up
: > "$WORK/peer.log"

start_capture
for t in "${TYPES[@]}"; do
    echo "== BIRD $(bird --version 2>&1 | awk '{print $3}') ($BIRD_ADDR) <-> bfd_peer ($OUR_ADDR): $t, key ID $KEY_ID"
    start_bird "$t"
    mark
    start_peer "$t" "$PASSWORD"
    wait_peer '^STATE Up' 15 || fail "$t: bfd_peer not Up"
    wait_bird Up 10 || fail "$t: BIRD not Up"
    sleep 1
    since_mark | grep -q '^DROP' && fail "$t: bfd_peer dropped BIRD packets while Up"
    echo "PASS: $t: Up on both sides, no authentication drop in 1 s of Up"

    t0=$(now_ms)
    stop_peer
    wait_bird Down 5 || fail "$t: BIRD still Up 5 s after bfd_peer was killed"
    echo "PASS: $t: bfd_peer killed -> BIRD Down after $(( $(now_ms) - t0 )) ms (detection 3 x 300 ms)"

    mark
    start_peer "$t" "not-the-password"
    wait_peer '^DROP authentication failed' 5 || fail "$t: wrong password, but no authentication drop"
    sleep 2
    since_mark | grep -q '^STATE Up' && fail "$t: came Up with a wrong password"
    [ "$(bird_state)" = Up ] && fail "$t: BIRD Up with a wrong password on our side"
    echo "PASS: $t: wrong password -> our side drops BIRD's packets ($(since_mark | grep -c '^DROP authentication failed') in 2 s), BIRD stays $(bird_state)"
    stop_peer

    mark
    start_peer "$t" "$PASSWORD"
    wait_peer '^STATE Up' 15 || fail "$t: bfd_peer not Up again"
    wait_bird Up 10 || fail "$t: BIRD not Up again"
    echo "PASS: $t: right password again -> Up on both sides"
    stop_peer
    stop_bird
done
stop_capture

if [ -f "$WORK/bfd.pcapng" ]; then
    n=$(tshark -r "$WORK/bfd.pcapng" -Y bfd 2>/dev/null | wc -l)
    bad=$(tshark -r "$WORK/bfd.pcapng" -Y '_ws.malformed || _ws.expert.severity >= warning' 2>/dev/null | wc -l)
    auth=$(tshark -r "$WORK/bfd.pcapng" -Y 'bfd.flags.a == 1' 2>/dev/null | wc -l)
    [ "$n" -gt 0 ] || fail "tshark saw no BFD packet"
    [ "$bad" -eq 0 ] || fail "tshark: $bad malformed or warned packets"
    echo "PASS: tshark: $n BFD packets ($auth with the A bit), 0 malformed, 0 expert warnings"
else
    echo "NOTE: tshark not installed; capture not checked"
fi
echo "bird_bfd_interop: all cases passed"
