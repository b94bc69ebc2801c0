#!/usr/bin/env bash
# ikev2 interop with strongSwan 5.9.8 (charon, kernel-libipsec: ESP in user space, always
# UDP 4500) in two network namespaces joined by a veth pair. Our side is
# ikev2/examples/ike_peer (ikev2::Endpoint + ipsec-lite terminating the tunnel-mode
# CHILD SA in user space; it answers pings to 10.10.1.1 and pings 10.10.2.1, charon's
# address, every 50 ms).
#
# For both proposal sets (IKE aes128gcm16-prfsha256-x25519 / ESP aes128gcm16 with PFS
# x25519 on rekey, and IKE aes128-sha256-ecp256 / ESP aes128-sha256 with PFS ecp256):
#   1. our initiator -> charon: IKE and CHILD SA up on both sides (swanctl --list-sas),
#      pings both ways; during traffic we rekey the CHILD SA and the IKE SA, then charon
#      rekeys both; no ping may be lost (ours counted by ike_peer, charon's by ping);
#   2. charon's initiator -> us: the same checks, with charon rekeying during traffic.
# Then liveness: charon is killed (-9) and our DPD declares the peer dead; our peer is
# killed and charon's DPD clears its SAs. Every captured frame must decode in tshark
# with nothing malformed and no expert warning, with the IKE SAs decrypted through
# charon's logged keys.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=45-ikev2-strongswan
if [ "$(id -u)" != 0 ]; then echo "SKIP $name: needs root"; exit 0; fi
# shellcheck source=../../ikev2/scripts/strongswan_lab.sh
source ikev2/scripts/strongswan_lab.sh
swlab_install
why=$(swlab_prereq)
if [ -n "$why" ]; then echo "SKIP $name: $why"; exit 0; fi
command -v ping >/dev/null || { echo "SKIP $name: ping missing"; exit 0; }

target=${CARGO_TARGET_DIR:-target}
cargo build -q -p ikev2 --example ike_peer
bin="$target/debug/examples/ike_peer"
[ -x "$bin" ] || { echo "FAIL $name: $bin not built"; exit 1; }

work=$(mktemp -d /tmp/ikev2-sw.XXXXXX)
chmod 700 "$work"
A=ikev2-us-$$
B=ikev2-cs-$$
C="$work/charon"
mkdir -p "$C"
peer_pid=""
cleanup() {
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null || true
  swlab_stop "$C" || true
  [ -f "$work/tshark.pid" ] && kill "$(cat "$work/tshark.pid")" 2>/dev/null || true
  [ -f "$work/snap.pid" ] && kill "$(cat "$work/snap.pid")" 2>/dev/null || true
  sleep 0.3
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
say() { echo "$name $(date -u +%H:%M:%S): $*"; }
fail() {
  echo "FAIL $name: $*"
  for f in "$work"/peer-*.log; do [ -f "$f" ] && { echo "---- $f (last 15)"; tail -n 15 "$f"; }; done
  echo "---- charon (last 40 lines without ENC)"; grep -v "\[ENC\]" "$C/charon.log" | tail -n 40 || true
  exit 1
}

swlab_ns_pair "$A" "$B" ve-us ve-cs 192.0.2.1 192.0.2.2 2001:db8:1::1 2001:db8:1::2
ip -n "$B" addr add 10.10.2.1/32 dev lo
if command -v tshark >/dev/null; then
  ip netns exec "$A" tshark -q -i ve-us -w "$work/capture.pcapng" -f "udp port 500 or udp port 4500" \
    >"$work/tshark.log" 2>&1 &
  echo $! >"$work/tshark.pid"
  for _ in $(seq 1 100); do grep -q "Capturing on" "$work/tshark.log" 2>/dev/null && break; sleep 0.1; done
fi
SWLAB_RETRANSMIT_TIMEOUT=1.0 SWLAB_RETRANSMIT_TRIES=2 swlab_conf "$C"
swlab_start "$B" "$C" || fail "charon did not start"
# swanctl --list-sas snapshots (they give tshark the IKE SPIs of charon's logged keys)
( i=0; while :; do swlab_ctl "$C" --list-sas >"$work/snap.$i" 2>/dev/null || true; i=$((i + 1)); sleep 0.5; done ) &
echo $! >"$work/snap.pid"

psk="ikev2-interop-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s' "$psk" >"$work/psk"
chmod 600 "$work/psk"

charon_conf() { # IKE_PROPOSALS ESP_PROPOSALS
  cat <<EOF
connections {
  lab {
    version = 2
    local_addrs = 192.0.2.2, 2001:db8:1::2
    remote_addrs = 192.0.2.1, 2001:db8:1::1
    proposals = $1
    dpd_delay = 2s
    rekey_time = 0
    local { auth = psk
      id = b.lab.example }
    remote { auth = psk
      id = a.lab.example }
    children {
      lab { local_ts = 10.10.2.1/32
        remote_ts = 10.10.1.1/32
        esp_proposals = $2
        rekey_time = 0
        dpd_action = clear
        reqid = 7
        mode = tunnel }
    }
  }
}
secrets { ike-lab { id-a = a.lab.example
  id-b = b.lab.example
  secret = "$psk" } }
EOF
}

stat() { # FILE KEY
  grep -o "STATS .*" "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

charon_has_sas() { # what
  swlab_ctl "$C" --list-sas >"$work/list-$1.txt" 2>&1
  grep -q "ESTABLISHED, IKEv2" "$work/list-$1.txt" || fail "$1: charon shows no IKE SA: $(cat "$work/list-$1.txt")"
  grep -qE "reqid 7, INSTALLED, TUNNEL-in-UDP" "$work/list-$1.txt" || fail "$1: charon shows no CHILD SA"
}

# charon pings our inner address through the tunnel while rekeys happen
charon_ping() { # what COUNT
  ip netns exec "$B" ping -q -c "$2" -i 0.1 -W 2 -I 10.10.2.1 10.10.1.1 >"$work/ping-$1.txt" 2>&1 || true
  grep -q " 0% packet loss" "$work/ping-$1.txt" || fail "$1: charon's pings lost: $(tail -2 "$work/ping-$1.txt")"
}

run_peer() { # what ARGS...   (env: UNDERLAY=6 for IPv6, PSK_FILE)
  local what=$1 l=192.0.2.1 r=192.0.2.2
  shift
  if [ "${UNDERLAY:-4}" = 6 ]; then l=2001:db8:1::1; r=2001:db8:1::2; fi
  ip netns exec "$A" "$bin" --local "$l" --remote "$r" --local-id a.lab.example \
    --remote-id b.lab.example --psk-file "${PSK_FILE:-$work/psk}" --local-ts 10.10.1.1/32 \
    --remote-ts 10.10.2.1/32 --ping-ms 50 "$@" >"$work/peer-$what.log" 2>&1 &
  peer_pid=$!
}

wait_peer_up() { # what
  for _ in $(seq 1 50); do
    grep -q "EVENT ChildSaInstalled in=" "$work/peer-$1.log" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "$1: no CHILD SA on our side"
}

check_stats() { # what MIN_CHILD_REKEYS MIN_IKE_REKEYS
  local f="$work/peer-$1.log"
  grep -q "^STATS" "$f" || fail "$1: ike_peer printed no STATS"
  local sent lost cr ir drop
  sent=$(stat "$f" pings_sent)
  lost=$(stat "$f" lost)
  cr=$(stat "$f" child_rekeyed)
  ir=$(stat "$f" ike_rekeyed)
  drop=$(stat "$f" esp_dropped)
  [ "$sent" -ge 100 ] || fail "$1: only $sent pings sent"
  [ "$lost" = 0 ] || fail "$1: $lost of $sent pings lost"
  [ "$drop" = 0 ] || fail "$1: $drop ESP packets dropped"
  [ "$cr" -ge "$2" ] || fail "$1: $cr CHILD SA rekeys (want >= $2)"
  [ "$ir" -ge "$3" ] || fail "$1: $ir IKE SA rekeys (want >= $3)"
  say "ok $1: $sent pings from us, 0 lost; charon's pings 0% loss; CHILD rekeys $cr, IKE rekeys $ir; esp in/out $(stat "$f" esp_in)/$(stat "$f" esp_out)"
}

for suite in gcm cbc; do
  case $suite in
    gcm) ike=aes128gcm16-prfsha256-x25519; esp=aes128gcm16-x25519; pfs=x25519 ;;
    cbc) ike=aes128-sha256-ecp256; esp=aes128-sha256-ecp256; pfs=ecp256 ;;
  esac
  # 1. our initiator -> charon (responder accepts both sets)
  charon_conf "aes128gcm16-prfsha256-x25519, aes128-sha256-ecp256" \
    "aes128gcm16-x25519, aes128-sha256-ecp256" >"$C/swanctl.conf"
  swlab_load "$C" "$C/swanctl.conf" || fail "swanctl load"
  what=us-init-$suite
  run_peer "$what" --initiate --proposal "$suite" --pfs "$pfs" --duration 10 \
    --rekey-child-at 2 --rekey-ike-at 3.5
  wait_peer_up "$what"
  swlab_wait_sa "$C" lab 5 || fail "$what: charon has no CHILD SA"
  charon_has_sas "$what"
  grep -q "AES_GCM_16-128/PRF_HMAC_SHA2_256/CURVE_25519\|AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256" \
    "$work/list-$what.txt" || fail "$what: unexpected IKE suite: $(cat "$work/list-$what.txt")"
  charon_ping "$what" 45 &
  cp=$!
  sleep 4.5
  swlab_ctl "$C" --rekey --child lab >/dev/null 2>&1 || fail "$what: charon child rekey"
  sleep 1
  swlab_ctl "$C" --rekey --ike lab >/dev/null 2>&1 || fail "$what: charon IKE rekey"
  wait "$cp" || exit 1
  wait "$peer_pid" || true
  peer_pid=""
  check_stats "$what" 2 2
  swlab_ctl "$C" --terminate --ike lab --force --timeout 2 >/dev/null 2>&1 || true
  sleep 0.5

  # 2. charon's initiator -> us
  charon_conf "$ike" "$esp" >"$C/swanctl.conf"
  swlab_load "$C" "$C/swanctl.conf" || fail "swanctl load"
  what=charon-init-$suite
  run_peer "$what" --proposal both --pfs "$pfs" --duration 9
  sleep 0.5
  swlab_ctl "$C" --initiate --child lab --timeout 10 >"$work/initiate-$what.txt" 2>&1 ||
    fail "$what: swanctl --initiate: $(tail -5 "$work/initiate-$what.txt")"
  wait_peer_up "$what"
  charon_has_sas "$what"
  charon_ping "$what" 40 &
  cp=$!
  sleep 1.5
  swlab_ctl "$C" --rekey --child lab >/dev/null 2>&1 || fail "$what: charon child rekey"
  sleep 1.5
  swlab_ctl "$C" --rekey --ike lab >/dev/null 2>&1 || fail "$what: charon IKE rekey"
  wait "$cp" || exit 1
  wait "$peer_pid" || true
  peer_pid=""
  check_stats "$what" 1 1
  swlab_ctl "$C" --terminate --ike lab --force --timeout 2 >/dev/null 2>&1 || true
  sleep 0.5
done

# Negotiation against charon: INVALID_KE_PAYLOAD both ways, no common proposal, wrong PSK
# both ways, and an IPv6 underlay.
charon_conf "aes128-sha256-ecp256" "aes128-sha256" >"$C/swanctl.conf"
swlab_load "$C" "$C/swanctl.conf" || fail "swanctl load"
run_peer inv-ke-us --initiate --proposal both --duration 4
wait "$peer_pid" || true
peer_pid=""
f="$work/peer-inv-ke-us.log"
grep -q "notify: NotifyType(17), sent: false" "$f" || fail "inv-ke-us: no INVALID_KE_PAYLOAD from charon"
grep -q "EVENT IkeSaUp .*group: Ecp256" "$f" || fail "inv-ke-us: no IKE SA in ECP-256 after the retry"
[ "$(stat "$f" lost)" = 0 ] && [ "$(stat "$f" replies)" -gt 20 ] || fail "inv-ke-us: traffic"
say "ok inv-ke-us: we offered x25519 first, charon asked for ECP-256 (INVALID_KE_PAYLOAD), retried, up, $(stat "$f" replies) pings answered"
swlab_ctl "$C" --terminate --ike lab --force --timeout 2 >/dev/null 2>&1 || true

charon_conf "aes128-sha256-ecp256, aes128gcm16-prfsha256-x25519" "aes128gcm16, aes128-sha256" >"$C/swanctl.conf"
swlab_load "$C" "$C/swanctl.conf" || fail "swanctl load"
run_peer inv-ke-charon --proposal gcm --duration 4
sleep 0.5
swlab_ctl "$C" --initiate --child lab --timeout 10 >"$work/initiate-inv-ke.txt" 2>&1 ||
  fail "inv-ke-charon: swanctl --initiate: $(tail -3 "$work/initiate-inv-ke.txt")"
charon_has_sas inv-ke-charon
grep -q "CURVE_25519" "$work/list-inv-ke-charon.txt" || fail "inv-ke-charon: not Curve25519"
wait "$peer_pid" || true
peer_pid=""
grep -q "notify: NotifyType(17), sent: true" "$work/peer-inv-ke-charon.log" || fail "inv-ke-charon: we sent no INVALID_KE_PAYLOAD"
say "ok inv-ke-charon: charon's KE was ECP-256, we asked for Curve25519, charon retried, up"
swlab_ctl "$C" --terminate --ike lab --force --timeout 2 >/dev/null 2>&1 || true

charon_conf "aes128-sha256-ecp256" "aes128-sha256" >"$C/swanctl.conf"
swlab_load "$C" "$C/swanctl.conf" || fail "swanctl load"
run_peer noprop --initiate --proposal gcm --duration 3
wait "$peer_pid" || true
peer_pid=""
grep -q "reason=Failed(NotifyType(14))" "$work/peer-noprop.log" || fail "noprop: no NO_PROPOSAL_CHOSEN"
say "ok noprop: GCM/x25519 only against CBC/ECP-256 only: NO_PROPOSAL_CHOSEN, no SA"

charon_conf "aes128gcm16-prfsha256-x25519" "aes128gcm16" >"$C/swanctl.conf"
swlab_load "$C" "$C/swanctl.conf" || fail "swanctl load"
run_peer cookie --proposal gcm --duration 4 --cookie-threshold 0
sleep 0.5
swlab_ctl "$C" --initiate --child lab --timeout 10 >"$work/initiate-cookie.txt" 2>&1 ||
  fail "cookie: swanctl --initiate: $(tail -3 "$work/initiate-cookie.txt")"
charon_has_sas cookie
wait "$peer_pid" || true
peer_pid=""
f="$work/peer-cookie.log"
[ "$(stat "$f" cookies_sent)" -ge 1 ] || fail "cookie: we demanded no cookie"
[ "$(stat "$f" ike_up)" = 1 ] || fail "cookie: no IKE SA after the cookie round trip"
say "ok cookie: we demanded a COOKIE (RFC 7296 2.6) from charon's IKE_SA_INIT, charon retried with it, up"
swlab_ctl "$C" --terminate --ike lab --force --timeout 2 >/dev/null 2>&1 || true

printf 'not-the-key' >"$work/badpsk"
charon_conf "aes128gcm16-prfsha256-x25519" "aes128gcm16" >"$C/swanctl.conf"
swlab_load "$C" "$C/swanctl.conf" || fail "swanctl load"
PSK_FILE="$work/badpsk" run_peer psk-us --initiate --proposal gcm --duration 3
wait "$peer_pid" || true
peer_pid=""
grep -q "reason=AuthenticationFailed" "$work/peer-psk-us.log" || fail "psk-us: no authentication failure"
swlab_ctl "$C" --list-sas 2>/dev/null | grep -q ESTABLISHED && fail "psk-us: charon kept an SA"
PSK_FILE="$work/badpsk" run_peer psk-charon --proposal gcm --duration 3
sleep 0.5
swlab_ctl "$C" --initiate --child lab --timeout 5 >"$work/initiate-psk.txt" 2>&1 &&
  fail "psk-charon: charon's initiation succeeded with a wrong key"
wait "$peer_pid" || true
peer_pid=""
grep -q "notify: NotifyType(24), sent: true" "$work/peer-psk-charon.log" || fail "psk-charon: we sent no AUTHENTICATION_FAILED"
grep -q "AUTHENTICATION_FAILED" "$C/charon.log" || fail "psk-charon: charon did not get AUTHENTICATION_FAILED"
say "ok psk: wrong key refused both ways (AUTHENTICATION_FAILED, no SA on either side)"

charon_conf "aes128gcm16-prfsha256-x25519" "aes128gcm16-x25519" >"$C/swanctl.conf"
swlab_load "$C" "$C/swanctl.conf" || fail "swanctl load"
UNDERLAY=6 run_peer v6 --initiate --proposal gcm --pfs x25519 --duration 5 --rekey-child-at 1.5 --rekey-ike-at 2.5
wait_peer_up v6
swlab_wait_sa "$C" lab 5 || fail "v6: charon has no CHILD SA"
charon_has_sas v6
grep -q "2001:db8:1::1\[4500\]" "$work/list-v6.txt" || fail "v6: not over IPv6: $(cat "$work/list-v6.txt")"
wait "$peer_pid" || true
peer_pid=""
f="$work/peer-v6.log"
[ "$(stat "$f" lost)" = 0 ] && [ "$(stat "$f" replies)" -gt 40 ] || fail "v6: traffic ($(grep STATS "$f"))"
[ "$(stat "$f" child_rekeyed)" -ge 1 ] && [ "$(stat "$f" ike_rekeyed)" -ge 1 ] || fail "v6: rekeys"
say "ok v6: IPv6 underlay, $(stat "$f" replies) pings, 0 lost, CHILD and IKE rekeyed"
swlab_ctl "$C" --terminate --ike lab --force --timeout 2 >/dev/null 2>&1 || true

# 3. charon's DPD notices our killed peer
charon_conf "aes128gcm16-prfsha256-x25519" "aes128gcm16" >"$C/swanctl.conf"
swlab_load "$C" "$C/swanctl.conf" || fail "swanctl load"
run_peer dpd-us --initiate --proposal gcm --duration 60
wait_peer_up dpd-us
swlab_wait_sa "$C" lab 5 || fail "dpd-us: charon has no CHILD SA"
kill -9 "$peer_pid"
wait "$peer_pid" 2>/dev/null || true
peer_pid=""
t0=$(date +%s)
gone=0
for _ in $(seq 1 60); do
  if ! swlab_ctl "$C" --list-sas 2>/dev/null | grep -q "ESTABLISHED"; then gone=1; break; fi
  sleep 0.5
done
[ $gone = 1 ] || fail "dpd-us: charon still has the IKE SA 30 s after our peer was killed"
say "ok dpd-us: charon cleared the SAs $(( $(date +%s) - t0 )) s after our peer was killed (dpd_delay 2 s, 2 retransmits)"

# 4. our DPD notices a killed charon
run_peer dpd-charon --initiate --proposal gcm --duration 40 --dpd 2 --retransmit-ms 500 --retransmit-tries 3
wait_peer_up dpd-charon
swlab_kill "$C"
t0=$(date +%s)
dead=0
for _ in $(seq 1 40); do
  if grep -q "EVENT PeerDead" "$work/peer-dpd-charon.log"; then dead=1; break; fi
  sleep 0.5
done
kill "$peer_pid" 2>/dev/null || true
wait "$peer_pid" 2>/dev/null || true
peer_pid=""
[ $dead = 1 ] || fail "dpd-charon: our peer did not declare charon dead within 20 s"
grep -q "EVENT ChildSaDeleted" "$work/peer-dpd-charon.log" || fail "dpd-charon: CHILD SA not deleted"
say "ok dpd-charon: our DPD declared the killed charon dead after $(( $(date +%s) - t0 )) s (interval 2 s, 3 tries from 0.5 s)"

# 5. tshark: nothing malformed, IKE decrypted with charon's keys
if [ -f "$work/tshark.pid" ]; then
  kill "$(cat "$work/tshark.pid")" 2>/dev/null || true
  rm -f "$work/tshark.pid"
  sleep 0.5
  kill "$(cat "$work/snap.pid")" 2>/dev/null || true
  swlab_keys "$C" "$work"/snap.* | grep '^ikev2_decryption_table' | sort -u >"$work/keys.uat" || true
  mapfile -t opts < <(swlab_tshark_opts "$work/keys.uat")
  frames=$(tshark -r "$work/capture.pcapng" 2>/dev/null | wc -l)
  bad=$(tshark -r "$work/capture.pcapng" "${opts[@]}" -Y '_ws.malformed || _ws.expert.severity >= warning' 2>/dev/null | wc -l)
  auth=$(tshark -r "$work/capture.pcapng" "${opts[@]}" -Y 'isakmp.exchangetype == 35 && isakmp.auth.data' 2>/dev/null | wc -l)
  [ "$frames" -gt 100 ] || fail "tshark: only $frames frames captured"
  if [ "$bad" != 0 ]; then
    tshark -r "$work/capture.pcapng" "${opts[@]}" -Y '_ws.malformed || _ws.expert.severity >= warning' 2>/dev/null | head -5
    fail "tshark: $bad malformed or warning frames"
  fi
  [ "$auth" -ge 4 ] || fail "tshark: only $auth IKE_AUTH messages decrypted"
  say "ok tshark: $frames frames, none malformed, $auth IKE_AUTH messages decrypted with $(wc -l <"$work/keys.uat") IKE SA keys"
else
  say "tshark not installed: capture check skipped"
fi
echo "PASS $name"
