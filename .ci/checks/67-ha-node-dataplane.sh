#!/usr/bin/env bash
# The batched data plane (examples/ha_node/src/dataplane) carries every frame intact and
# in order: two ha_node daemons in two namespaces (dp-a-PID, dp-b-PID) joined by one
# veth, one pseudowire, OSPFv3 over it. For each data plane mode (batched with TAP
# offload, batched without offload, legacy) and with and without ESP:
#  * raw Ethernet frames (ethertype 0x88b5, local experimental) of every size from 60
#    bytes to the TAP MTU + 14 are sent on a's TAP with AF_PACKET; b's TAP must receive
#    each one, byte for byte, in the order sent;
#  * a TCP stream of 16 MB of pseudo-random bytes from a's loopback to b's: the
#    receiver's SHA-256 must match;
#  * UDP datagrams of sizes cycling through 1..1200 bytes, each with a sequence number,
#    and UDP GSO sends (UDP_SEGMENT, 40 segments of 1000 bytes: the TAP hands them over
#    as one USO super-frame when offload is on): no datagram reordered or corrupted,
#    at most 1 % lost (UDP has no flow control; nothing else is timed).
# Then, with MTU 9000 on the TAPs and 9200 on the veth, the raw frames again up to
# 9014 bytes (jumbo frames) on the batched path with offload. The batched path with
# offload runs with two data path threads (multi-queue TAP, receive writer threads),
# without offload with one. With ESP on the batched path, against the running data
# plane: clear L2TPv3 data forged with the protected peer's address and port and
# garbage ESP with b's SPI (raw socket in a's namespace) must never reach b's TAP and
# must be counted (ESP dropped in `ctl status --json`, refused in b's data plane
# counters, logged on exit).
set -euo pipefail
cd "$(dirname "$0")/../.."
name=67-ha-node-dataplane
if [ "$(id -u)" != 0 ]; then echo "SKIP $name: needs root"; exit 0; fi
if [ ! -c /dev/net/tun ]; then echo "SKIP $name: /dev/net/tun missing"; exit 0; fi
for tool in ip python3 timeout; do
  command -v "$tool" >/dev/null || { echo "SKIP $name: $tool missing"; exit 0; }
done
if ! ip netns add dp-probe-$$ 2>/dev/null; then echo "SKIP $name: no netns support"; exit 0; fi
ip netns del dp-probe-$$

target=${CARGO_TARGET_DIR:-target}
if [ -n "${HA_NODE_BIN:-}" ]; then
  bin=$HA_NODE_BIN
else
  cargo build -q -p ha_node
  bin="$target/debug/ha_node"
fi
[ -x "$bin" ] || { echo "FAIL $name: $bin not built"; exit 1; }
A=dp-a-$$
B=dp-b-$$
work=$(mktemp -d /tmp/ha-dataplane.XXXXXX)
node_pids=()
cleanup() {
  for p in "${node_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
  echo "FAIL $name: $*"
  ip -n "$A" -s link show pw-b 2>/dev/null || true
  ip -n "$B" -s link show pw-a 2>/dev/null || true
  # The daemons log their data plane counters on SIGINT.
  for p in "${node_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  sleep 2
  for n in a b; do echo "---- $n log (last 30 lines)"; tail -n 30 "$work/$n.log" 2>/dev/null || true; done
  exit 1
}

src=examples/ha_node/src
has_key() { grep -rqs "$1" "$src"; }

cat >"$work/dp.py" <<'EOF'
import hashlib, os, random, socket, struct, sys, time

ETH_P = 0x88B5

def pattern(n, seed):
    # Deterministic bytes that differ per frame.
    return random.Random(seed).randbytes(n)

def frames(maxlen):
    for i, size in enumerate(range(60, maxlen + 1)):
        body = struct.pack("!IH", i, size) + pattern(size - 14 - 6, i)
        yield i, size, body

def raw_send(ifname, maxlen):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    src = open(f"/sys/class/net/{ifname}/address").read().strip()
    mac = bytes.fromhex(src.replace(":", ""))
    dst = b"\xff" * 6
    burst = 0
    for i, size, body in frames(maxlen):
        s.send(dst + mac + struct.pack("!H", ETH_P) + body)
        burst += size
        if burst >= 48000 or i % 32 == 31:
            # Paced (about 100 Mbit/s): the frames, not the queues, are under test.
            time.sleep(0.004)
            burst = 0

def raw_recv(ifname, maxlen, ready):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P))
    s.bind((ifname, 0))
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    s.settimeout(10)
    want = {i: (size, body) for i, size, body in frames(maxlen)}
    open(ready, "w").close()
    last = -1
    got = 0
    while got < len(want):
        try:
            f = s.recv(65536)
        except socket.timeout:
            break
        if len(f) < 20 or struct.unpack("!H", f[12:14])[0] != ETH_P:
            continue
        i, size = struct.unpack("!IH", f[14:20])
        if i not in want:
            print(f"unknown frame {i}"); sys.exit(1)
        wsize, body = want[i]
        if i <= last:
            print(f"frame {i} after {last}: out of order"); sys.exit(1)
        if len(f) != wsize or f[14:] != body:
            print(f"frame {i} ({wsize} bytes) corrupted: got {len(f)} bytes"); sys.exit(1)
        last = i
        got += 1
    if got != len(want):
        print(f"{got} of {len(want)} frames arrived"); sys.exit(1)
    print(f"raw frames 60..{maxlen} bytes: {got} intact, in order")

def tcp_send(dst, port, nbytes):
    s = socket.create_connection((dst, port), timeout=30)
    h = hashlib.sha256()
    sent = 0
    chunk = 0
    while sent < nbytes:
        b = pattern(65536, chunk)
        s.sendall(b); h.update(b); sent += len(b); chunk += 1
    s.shutdown(socket.SHUT_WR)
    theirs = s.recv(100).decode()
    if theirs != h.hexdigest():
        print(f"TCP: receiver's SHA-256 {theirs} != {h.hexdigest()}"); sys.exit(1)
    print(f"TCP {sent} bytes: SHA-256 matches")

def tcp_recv(bind, port, ready):
    l = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((bind, port)); l.listen(1); l.settimeout(30)
    open(ready, "w").close()
    c, _ = l.accept(); c.settimeout(30)
    h = hashlib.sha256()
    while True:
        b = c.recv(1 << 20)
        if not b: break
        h.update(b)
    c.sendall(h.hexdigest().encode()); c.close()

def udp_send(dst, port, count):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.connect((dst, port))
    for i in range(count):
        size = max(8, 1 + (i * 37) % 1200)
        s.send(struct.pack("!I", i) + pattern(size - 4, i))
        if i % 16 == 15:
            time.sleep(0.001)
    # UDP GSO: 40 segments of 1000 bytes in one send (SOL_UDP, UDP_SEGMENT).
    for k in range(20):
        base = count + k * 40
        buf = b"".join(struct.pack("!I", base + j) + pattern(996, base + j) for j in range(40))
        try:
            s.setsockopt(17, 103, 1000)
            s.send(buf)
            s.setsockopt(17, 103, 0)
        except OSError as e:
            print(f"UDP GSO send not supported here: {e}")
            break
        time.sleep(0.005)
    s.send(b"\xff\xff\xff\xff")

def udp_recv(bind, port, count, ready):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
    s.bind((bind, port)); s.settimeout(10)
    open(ready, "w").close()
    last = -1; got = 0; total = count + 800
    while True:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        if b == b"\xff\xff\xff\xff": break
        i = struct.unpack("!I", b[:4])[0]
        if i <= last:
            print(f"UDP datagram {i} after {last}: out of order"); sys.exit(1)
        size = max(8, 1 + (i * 37) % 1200) if i < count else 1000
        if b != struct.pack("!I", i) + pattern(size - 4, i):
            print(f"UDP datagram {i} corrupted"); sys.exit(1)
        last = i; got += 1
    lost = total - got
    print(f"UDP {got} of {total} datagrams intact and in order ({lost} lost)")
    if lost * 100 > total:
        print("more than 1 % lost"); sys.exit(1)

def forge(dst, sid, spi, count):
    # From the protected peer's own address and port (a's ESP-in-UDP socket,
    # 4500), with a raw socket (the daemon holds the port): `count` clear L2TPv3
    # data messages to b's L2TPv3 port, each carrying an Ethernet frame of type
    # 0x88b6 (b's Session ID, no cookie, the Default L2-Specific Sublayer), and
    # `count` ESP packets with b's inbound SPI and garbage in place of the
    # ciphertext to b's ESP-in-UDP port. b must drop and count every one.
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    def send(sport, dport, payload):
        udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        s.sendto(udp, (dst, 0))
    frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!H", 0x88B6) + b"forged" + bytes(40)
    for i in range(count):
        l2tp = struct.pack("!HHI", 0, 0, sid) + struct.pack("!I", 0) + frame
        send(4500, 1701, l2tp)
        esp = struct.pack("!II", spi, 1000 + i) + pattern(120, i)
        send(4500, 4500, esp)
        time.sleep(0.002)
    print(f"sent {count} clear L2TPv3 data messages and {count} garbage ESP packets from the protected peer's address")

def watch(ifname, seconds, ready):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B6))
    s.bind((ifname, 0)); s.settimeout(0.2)
    open(ready, "w").close()
    end = time.time() + seconds; n = 0
    while time.time() < end:
        try:
            s.recv(65536); n += 1
        except socket.timeout:
            pass
    print(n)

cmd = sys.argv[1]
a = sys.argv[2:]
if cmd == "raw_send": raw_send(a[0], int(a[1]))
elif cmd == "raw_recv": raw_recv(a[0], int(a[1]), a[2])
elif cmd == "tcp_send": tcp_send(a[0], int(a[1]), int(a[2]))
elif cmd == "tcp_recv": tcp_recv(a[0], int(a[1]), a[2])
elif cmd == "udp_send": udp_send(a[0], int(a[1]), int(a[2]))
elif cmd == "udp_recv": udp_recv(a[0], int(a[1]), int(a[2]), a[3])
elif cmd == "forge": forge(a[0], int(a[1]), int(a[2]), int(a[3]))
elif cmd == "watch": watch(a[0], float(a[1]), a[2])
EOF

node_cfg() { # name rid lo tap peer init esp mode mtu
  echo "name = \"$1\""
  echo "router_id = \"$2\""
  echo "loopback = [\"$3\"]"
  has_key l2tp_secret && echo 'l2tp_secret = "dataplane-check-secret"'
  has_key ospf_auth_key && echo 'ospf_auth_key = "dataplane-check-ospf"'
  # One control socket per daemon (the default path is shared by every daemon).
  has_key ControlSection && echo "control = { socket = \"$work/$1.sock\" }"
  printf '[ospf]\nhello = 1\ndead = 4\nmtu = %s\n' "$9"
  case "$8" in
    offload) printf '[dataplane]\nenabled = true\noffload = true\n' ;;
    nooffload) printf '[dataplane]\nenabled = true\noffload = false\n' ;;
    legacy) printf '[dataplane]\nenabled = false\n' ;;
  esac
  # Both receive designs whatever the machine's cores: with offload, two data path
  # threads (two TAP queues and transmit threads, receive writer threads); without,
  # one (the receive thread writes the TAP itself).
  if has_key 'pub threads: usize'; then
    case "$8" in
      offload) echo "threads = 2" ;;
      nooffload) echo "threads = 1" ;;
    esac
  fi
  printf '[[peer]]\nname = "peer"\ntap = "%s"\ninitiate = %s\n' "$4" "$6"
  if [ "$7" = esp ]; then
    echo "address = \"$5:4500\""
    # ESP keyed by IKEv2 (issue 11).
    echo 'ipsec = { psk = "dataplane-check-pre-shared-key" }'
  else
    echo "address = \"$5:1701\""
  fi
}

run_case() { # mode esp mtu
  local mode=$1 esp=$2 mtu=$3 label="$1/$2/mtu$3"
  for n in "$A" "$B"; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; ip -n "$n" link set lo up; done
  ip link add va netns "$A" type veth peer name vb netns "$B"
  ip -n "$A" addr add 10.78.0.1/24 dev va; ip -n "$B" addr add 10.78.0.2/24 dev vb
  ip -n "$A" link set va mtu $((mtu + 200)) up; ip -n "$B" link set vb mtu $((mtu + 200)) up
  node_cfg a 1.1.1.1 2001:db8:78::1 pw-b 10.78.0.2 true "$esp" "$mode" "$mtu" >"$work/a.toml"
  node_cfg b 2.2.2.2 2001:db8:78::2 pw-a 10.78.0.1 false "$esp" "$mode" "$mtu" >"$work/b.toml"
  chmod 600 "$work"/*.toml
  ip netns exec "$B" env RUST_LOG=info NO_COLOR=1 "$bin" run --config "$work/b.toml" >"$work/b.log" 2>&1 &
  node_pids=($!)
  ip netns exec "$A" env RUST_LOG=info NO_COLOR=1 "$bin" run --config "$work/a.toml" >"$work/a.log" 2>&1 &
  node_pids+=($!)
  local up=0
  for _ in $(seq 1 300); do
    if ip netns exec "$A" ping -6 -c 1 -W 1 -I 2001:db8:78::1 2001:db8:78::2 >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
  done
  [ $up = 1 ] || fail "$label: pseudowire/OSPFv3 did not come up"
  local maxlen=$((mtu + 14))
  rm -f "$work/ready"
  ip netns exec "$B" timeout 120 python3 "$work/dp.py" raw_recv pw-a "$maxlen" "$work/ready" >"$work/raw.out" 2>&1 &
  local rpid=$!
  for _ in $(seq 1 50); do [ -f "$work/ready" ] && break; sleep 0.1; done
  ip netns exec "$A" timeout 120 python3 "$work/dp.py" raw_send pw-b "$maxlen"
  wait "$rpid" || fail "$label: $(cat "$work/raw.out")"
  echo "$name: $label: $(cat "$work/raw.out")"
  if [ "${4:-full}" = full ]; then
    rm -f "$work/ready"
    ip netns exec "$B" timeout 120 python3 "$work/dp.py" tcp_recv 2001:db8:78::2 7001 "$work/ready" >"$work/tcp.out" 2>&1 &
    rpid=$!
    for _ in $(seq 1 50); do [ -f "$work/ready" ] && break; sleep 0.1; done
    ip netns exec "$A" timeout 120 python3 "$work/dp.py" tcp_send 2001:db8:78::2 7001 $((16 << 20)) >"$work/tcps.out" 2>&1 ||
      fail "$label: $(cat "$work/tcps.out" "$work/tcp.out")"
    wait "$rpid" || fail "$label: TCP receiver: $(cat "$work/tcp.out")"
    echo "$name: $label: $(cat "$work/tcps.out")"
    rm -f "$work/ready"
    ip netns exec "$B" timeout 120 python3 "$work/dp.py" udp_recv 2001:db8:78::2 7002 3000 "$work/ready" >"$work/udp.out" 2>&1 &
    rpid=$!
    for _ in $(seq 1 50); do [ -f "$work/ready" ] && break; sleep 0.1; done
    ip netns exec "$A" timeout 120 python3 "$work/dp.py" udp_send 2001:db8:78::2 7002 3000 >"$work/udps.out" 2>&1 ||
      fail "$label: UDP sender: $(cat "$work/udps.out")"
    wait "$rpid" || fail "$label: $(cat "$work/udp.out")"
    echo "$name: $label: $(cat "$work/udps.out" "$work/udp.out" | tr '\n' ' ')"
  fi
  local forged=0 esp_dropped0=0
  if [ "$esp" = esp ] && [ "$mode" != legacy ] && [ "${4:-full}" = full ]; then
    # Against the running data plane: clear datagrams forged with the protected
    # peer's address and garbage ESP are dropped and counted, never reach b's TAP.
    forged=200
    local st sid
    st=$("$bin" ctl --socket "$work/b.sock" status --json) || fail "$label: ctl status on b failed"
    sid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["peers"][0]["session"]["local_id"])' "$st")
    esp_dropped0=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["peers"][0]["esp"]["dropped"])' "$st")
    rm -f "$work/ready"
    ip netns exec "$B" timeout 60 python3 "$work/dp.py" watch pw-a 4 "$work/ready" >"$work/watch.out" 2>&1 &
    rpid=$!
    for _ in $(seq 1 50); do [ -f "$work/ready" ] && break; sleep 0.1; done
    ip netns exec "$A" timeout 60 python3 "$work/dp.py" forge 10.78.0.2 "$sid" 4097 "$forged" >"$work/forge.out" 2>&1 ||
      fail "$label: forging: $(cat "$work/forge.out")"
    wait "$rpid" || fail "$label: watcher: $(cat "$work/watch.out")"
    [ "$(cat "$work/watch.out")" = 0 ] || fail "$label: $(cat "$work/watch.out") forged frames reached b's TAP"
    st=$("$bin" ctl --socket "$work/b.sock" status --json) || fail "$label: ctl status on b failed"
    local dropped
    dropped=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["peers"][0]["esp"]["dropped"])' "$st")
    [ $((dropped - esp_dropped0)) -ge "$forged" ] ||
      fail "$label: ctl status counts $((dropped - esp_dropped0)) ESP packets dropped of $forged garbage ones"
    echo "$name: $label: $(cat "$work/forge.out"); none reached the TAP; ESP dropped (ctl status) +$((dropped - esp_dropped0))"
  fi
  for p in "${node_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${node_pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  grep -h "data plane:" "$work/a.log" "$work/b.log" | sed "s|^|$name: $label: |" | cut -c1-400 || true
  if [ "$forged" -gt 0 ]; then
    # b logs its data plane counters on exit: the clear ones were refused there.
    local refused
    refused=$(grep -h "data plane: tx" "$work/b.log" | sed -n 's/.* \([0-9]*\) refused.*/\1/p' | tail -n 1)
    [ "${refused:-0}" -ge "$forged" ] ||
      fail "$label: b's data plane counts ${refused:-no} refused datagrams of $forged forged clear ones"
    echo "$name: $label: b's data plane refused $refused clear datagrams from the protected peer's address"
  fi
  node_pids=()
}

modes="legacy"
if has_key '\[dataplane\]'; then modes="offload nooffload legacy"; fi
[ "${ONLY_JUMBO:-0}" = 1 ] && modes=""
for mode in $modes; do
  for esp in clear esp; do
    run_case "$mode" "$esp" 1400
  done
done
if [ -n "${JUMBO_MODE:-}" ]; then run_case "$JUMBO_MODE" clear 9000 raw; fi
if has_key '\[dataplane\]'; then
  run_case offload clear 9000 raw
  run_case offload esp 9000 raw
fi
echo "PASS $name"
