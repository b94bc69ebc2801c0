#!/usr/bin/env bash
# ha_node keys its ESP peers with IKEv2 (issue 11): two daemons in two namespaces
# (ik-e-PID, ik-w-PID) joined by one veth, one pseudowire protected by ESP whose SAs
# come from IKEv2 with a pre-shared key (ipsec = { psk_file = ... }), OSPFv3 and BFD
# over it. Checked:
#  * IKE SA and CHILD SA up on both sides (`ctl status --json`), the pseudowire and
#    OSPFv3 come up over them, pings between the loopbacks pass;
#  * CHILD SA rekeys (soft lifetime of 1500 packets) and an IKE SA rekey (8 s) happen
#    during a ping stream every 10 ms, and no ping is lost;
#  * west is killed (SIGKILL) and started again: fresh SAs are up within a few
#    seconds (the time is printed), and no ping is lost once they are up;
#  * across the three runs of west (start, restart, restart), no (SPI, key) pair of
#    any CHILD SA repeats on either side (key fingerprints from status);
#  * tshark decodes every IKE message on the veth with nothing malformed;
#  * through a 1:1 NAT (a router namespace translating 198.51.100.1/.2 to the nodes'
#    private addresses, as a cloud's public addresses do), with host-name identities:
#    IKEv2 comes up, the pseudowire and OSPFv3 over it, pings pass.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=61-ha-node-ike
if [ "$(id -u)" != 0 ]; then echo "SKIP $name: needs root"; exit 0; fi
if [ ! -c /dev/net/tun ]; then echo "SKIP $name: /dev/net/tun missing"; exit 0; fi
if ! command -v jq >/dev/null && [ "${CI:-}" = true ]; then
  apt-get install -y -qq jq >/dev/null 2>&1 || true
fi
for tool in ip jq ping timeout; do
  command -v "$tool" >/dev/null || { echo "SKIP $name: $tool missing"; exit 0; }
done
if ! ip netns add ik-probe-$$ 2>/dev/null; then echo "SKIP $name: no netns support"; exit 0; fi
ip netns del ik-probe-$$

target=${CARGO_TARGET_DIR:-target}
if [ -n "${HA_NODE_BIN:-}" ]; then
  bin=$HA_NODE_BIN
else
  cargo build -q -p ha_node
  bin="$target/debug/ha_node"
fi
[ -x "$bin" ] || { echo "FAIL $name: $bin not built"; exit 1; }
E=ik-e-$$
W=ik-w-$$
NE=ik-ne-$$
NW=ik-nw-$$
NR=ik-nr-$$
work=$(mktemp -d /tmp/ha-ike.XXXXXX)
pids=()
cap_pid=
cleanup() {
  for p in "${pids[@]}" $cap_pid; do kill -9 "$p" 2>/dev/null || true; done
  for n in "$E" "$W" "$NE" "$NW" "$NR"; do ip netns del "$n" 2>/dev/null || true; done
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
  echo "FAIL $name: $*"
  for n in e w; do echo "---- $n log (last 40 lines)"; tail -n 40 "$work/$n.log" 2>/dev/null || true; done
  exit 1
}

for n in "$E" "$W"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add ve netns "$E" type veth peer name vw netns "$W"
ip -n "$E" addr add 10.61.0.1/24 dev ve; ip -n "$W" addr add 10.61.0.2/24 dev vw
ip -n "$E" link set ve up; ip -n "$W" link set vw up
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/psk"
chmod 600 "$work/psk"

node_cfg() { # name rid lo peer-ip tap initiate [more ipsec keys]
  cat <<EOF
name = "$1"
router_id = "$2"
loopback = ["$3"]
ospf_auth_key = "ike-check-ospf-key"
control = { socket = "$work/$1.sock" }
[ospf]
hello = 1
dead = 4
[bfd]
interval_ms = 100
multiplier = 10
[[peer]]
name = "peer"
address = "$4:4500"
tap = "$5"
initiate = $6
ipsec = { psk_file = "$work/psk", rekey_packets = 1500, ike_rekey_s = 8${7:-} }
EOF
}
node_cfg e 1.1.1.1 2001:db8:61::1 10.61.0.2 pw-w true >"$work/e.toml"
node_cfg w 2.2.2.2 2001:db8:61::2 10.61.0.1 pw-e false >"$work/w.toml"
chmod 600 "$work"/*.toml
"$bin" check-config "$work/e.toml" >/dev/null || fail "check-config: $("$bin" check-config "$work/e.toml" 2>&1)"

if command -v tshark >/dev/null; then
  ip netns exec "$E" tshark -i ve -w "$work/ike.pcapng" -f "udp port 500 or udp port 4500" -q >/dev/null 2>&1 &
  cap_pid=$!
  sleep 1
fi

nsof() { case $1 in e) echo "$E" ;; w) echo "$W" ;; ne) echo "$NE" ;; nw) echo "$NW" ;; esac; }
start() { # node
  local ns; ns=$(nsof "$1")
  ip netns exec "$ns" env RUST_LOG=info NO_COLOR=1 "$bin" run --config "$work/$1.toml" >>"$work/$1.log" 2>&1 &
  pids+=($!)
  eval "pid_$1=$!"
}
ctl() { local ns; ns=$(nsof "$1"); ip netns exec "$ns" "$bin" ctl --socket "$work/$1.sock" "${@:2}"; }
status() { ctl "$1" status --json 2>/dev/null || echo '{}'; }
# CHILD SAs as "spi_in spi_out key_in key_out" lines.
children() { status "$1" | jq -r '.peers[0].esp.children[]? | "\(.spi_in) \(.spi_out) \(.key_in) \(.key_out)"'; }
sending() { status "$1" | jq -e '.peers[0].esp.spi_out > 0 and (.ike | length) > 0' >/dev/null 2>&1; }
ping_ok() { ip netns exec "$E" ping -6 -c 1 -W 1 -I 2001:db8:61::1 2001:db8:61::2 >/dev/null 2>&1; }
record() { for n in e w; do children $n | sed "s/^/$n /" >>"$work/keys"; done; }

: >"$work/keys"
start w
start e
up=0
for _ in $(seq 1 300); do
  if sending e && sending w && ping_ok; then up=1; break; fi
  sleep 0.1
done
[ $up = 1 ] || fail "IKEv2/ESP, pseudowire or OSPFv3 did not come up: $(status e | jq -c '.ike')"
status e | jq -e '.peers[0].esp.keyed_by == "ikev2"' >/dev/null || fail "east's ESP is not keyed by IKEv2"
echo "$name: up; east: $(status e | jq -c '.ike[0] | {ike_sas, children: [.children[] | {spi_in, spi_out, suite, outbound_active}]}')"
record

# Rekeys during traffic: 20 s of pings every 10 ms (2000 pings; OSPFv3, BFD and L2TPv3
# hellos add to the packet counts), the CHILD SAs' soft lifetime is 1500 packets.
before=$(status e | jq '.ike_counts.child_rekeyed + 0')
ike_before=$(status e | jq '.ike_counts.ike_rekeyed + 0')
out=$(ip netns exec "$E" ping -6 -q -i 0.01 -c 2000 -I 2001:db8:61::1 2001:db8:61::2 2>&1 | tail -n 2 | head -n 1)
after=$(status e | jq '.ike_counts.child_rekeyed + 0')
ike_after=$(status e | jq '.ike_counts.ike_rekeyed + 0')
echo "$name: rekeys during traffic: $out; CHILD SA rekeys $before -> $after, IKE SA rekeys $ike_before -> $ike_after (east)"
echo "$out" | grep -q " 0% packet loss" || fail "pings lost across rekeys: $out"
[ "$after" -gt "$before" ] || fail "no CHILD SA rekey during the traffic"
[ "$ike_after" -gt "$ike_before" ] || fail "no IKE SA rekey during the traffic"
record

elapsed() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$1" "$2"; }
for round in 1 2; do
  kill -9 "$pid_w"; wait "$pid_w" 2>/dev/null || true
  old_out=$(status e | jq '.peers[0].esp.spi_out')
  t0=$(date +%s.%N)
  start w
  # Fresh SAs: west sends, and east sends on an SA other than before the restart.
  up=0
  for _ in $(seq 1 100); do
    if sending w && [ "$(status e | jq '.peers[0].esp.spi_out')" != "$old_out" ]; then up=1; break; fi
    sleep 0.05
  done
  t1=$(date +%s.%N)
  [ $up = 1 ] || fail "restart $round: no fresh SAs: east $(status e | jq -c '.ike')"
  up=0
  for _ in $(seq 1 300); do
    if ping_ok; then up=1; break; fi
    sleep 0.05
  done
  t2=$(date +%s.%N)
  [ $up = 1 ] || fail "restart $round: the pseudowire did not come back over the fresh SAs"
  out=$(ip netns exec "$E" ping -6 -q -i 0.01 -c 500 -I 2001:db8:61::1 2001:db8:61::2 2>&1 | tail -n 2 | head -n 1)
  echo "$name: restart $round of west: fresh SAs on both sides $(elapsed "$t0" "$t1") s after the start (status polled), pings through after $(elapsed "$t0" "$t2") s (pseudowire + OSPFv3); then $out"
  echo "$out" | grep -q " 0% packet loss" || fail "restart $round: pings lost after the SAs were up: $out"
  record
done

# No (SPI, key) pair twice: each CHILD SA's inbound and outbound halves, per node.
dups=$(awk '{print $1, $2, $4; print $1, $3, $5}' "$work/keys" | sort -u | awk '{print $1, $3}' | sort | uniq -d)
[ -z "$dups" ] || fail "a key fingerprint repeats: $dups"
spis=$(awk '{print $1, $2, $4; print $1, $3, $5}' "$work/keys" | sort -u | awk '{print $1, $2}' | sort | uniq -d)
[ -z "$spis" ] || fail "an SPI was used with two keys: $spis"
echo "$name: $(awk '{print $1, $2, $4}' "$work/keys" | sort -u | wc -l) distinct CHILD SAs recorded over 3 runs of west, no SPI or key repeated"

if [ -n "$cap_pid" ]; then
  sleep 1; kill -INT "$cap_pid" 2>/dev/null || true; wait "$cap_pid" 2>/dev/null || true; cap_pid=
  n_ike=$(tshark -r "$work/ike.pcapng" -Y isakmp 2>/dev/null | wc -l)
  bad=$(tshark -r "$work/ike.pcapng" -Y '_ws.malformed || _ws.expert.severity >= warning' 2>/dev/null | grep -ci isakmp || true)
  echo "$name: tshark: $n_ike IKE messages on the veth, $bad malformed or with warnings"
  [ "$n_ike" -gt 0 ] || fail "tshark saw no IKE message"
  [ "$bad" = 0 ] || fail "tshark flags IKE messages: $(tshark -r "$work/ike.pcapng" -Y '_ws.malformed || _ws.expert.severity >= warning' 2>/dev/null | head -5)"
fi
# Through a 1:1 NAT: each node knows the other by its public address; the identities
# are host names (each side sees its own private address and the other's public one).
if command -v nft >/dev/null; then
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
  for n in "$NE" "$NW" "$NR"; do ip netns add "$n"; ip -n "$n" link set lo up; done
  ip link add ne netns "$NE" type veth peer name re netns "$NR"
  ip link add nw netns "$NW" type veth peer name rw netns "$NR"
  ip -n "$NE" addr add 10.62.1.1/24 dev ne; ip -n "$NR" addr add 10.62.1.254/24 dev re
  ip -n "$NW" addr add 10.62.2.2/24 dev nw; ip -n "$NR" addr add 10.62.2.254/24 dev rw
  ip -n "$NE" link set ne up; ip -n "$NW" link set nw up
  ip -n "$NR" link set re up; ip -n "$NR" link set rw up
  ip -n "$NE" route add default via 10.62.1.254
  ip -n "$NW" route add default via 10.62.2.254
  ip netns exec "$NR" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$NR" nft -f - <<'EOF'
table ip nat {
  chain pre {
    type nat hook prerouting priority -100;
    ip daddr 198.51.100.1 dnat to 10.62.1.1
    ip daddr 198.51.100.2 dnat to 10.62.2.2
  }
  chain post {
    type nat hook postrouting priority 100;
    ip saddr 10.62.1.1 snat to 198.51.100.1
    ip saddr 10.62.2.2 snat to 198.51.100.2
  }
}
EOF
  node_cfg ne 1.1.1.1 2001:db8:62::1 198.51.100.2 pw-w true \
    ', local_id = "east.lab.example", remote_id = "west.lab.example"' >"$work/ne.toml"
  node_cfg nw 2.2.2.2 2001:db8:62::2 198.51.100.1 pw-e false \
    ', local_id = "west.lab.example", remote_id = "east.lab.example"' >"$work/nw.toml"
  chmod 600 "$work"/ne.toml "$work"/nw.toml
  start nw
  start ne
  up=0
  for _ in $(seq 1 300); do
    if ip netns exec "$NE" ping -6 -c 1 -W 1 -I 2001:db8:62::1 2001:db8:62::2 >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
  done
  [ $up = 1 ] || fail "through the NAT: nothing up: $(status ne | jq -c '.ike') $(tail -n 5 "$work/ne.log")"
  out=$(ip netns exec "$NE" ping -6 -q -i 0.01 -c 300 -I 2001:db8:62::1 2001:db8:62::2 2>&1 | tail -n 2 | head -n 1)
  echo "$name: through a 1:1 NAT (198.51.100.1/.2 <-> 10.62.1.1/10.62.2.2), host-name identities: $(status ne | jq -c '.ike[0] | {ike_sas, children: [.children[] | {suite, outbound_active}]}'); $out"
  echo "$out" | grep -q " 0% packet loss" || fail "through the NAT: pings lost: $out"
else
  echo "$name: SKIP the NAT part: nft missing"
fi
echo "PASS $name"
