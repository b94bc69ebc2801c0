#!/usr/bin/env bash
# Throughput benchmark (issue 15): the pseudowire's user-space data plane against the raw
# underlay and against boringtun-cli, in one run, over the same veth.
#
# Two network namespaces (tp-a-PID, tp-b-PID) joined by one veth (10.77.0.1/24 -
# 10.77.0.2/24). In turn, over that veth:
#   raw          iperf3 between the veth addresses;
#   pw           ha_node (release build) in each namespace, one L2TPv3 pseudowire,
#                OSPFv3 over it, iperf3 between the two nodes' loopback addresses;
#   pw-esp-SUITE the same with ESP on the pseudowire (ESP-in-UDP, port 4500), for each
#                suite in SUITES (aes-gcm-128 aes-gcm-256 chacha20-poly1305
#                aes-cbc-128-sha256), keyed by IKEv2;
#   boringtun    boringtun-cli (user-space WireGuard) on a TUN device in each
#                namespace, configured with `wg`, iperf3 between the tunnel addresses.
# Each path: single-stream TCP and 4-stream TCP (iperf3 -P 4), DUR seconds each; for
# the pseudowire also a packet rate with 64-byte UDP payloads (iperf3 -u -l 64 -b 0).
# When ha_node has a `[dataplane]` section (the batched data plane), pw and pw-esp-* are
# measured with it (the default: as many data path threads as cores), with one data
# path thread (`[dataplane] threads = 1`, when the key exists) and with the legacy
# path (`[dataplane] enabled = false`).
#
# Output, one line per path (single-stream TCP), so that other tools can read it:
#   THROUGHPUT path=<raw|pw|pw-esp-<suite>|boringtun> gbps=<n> cpu_pct=<n>
# and, in the same form with other prefixes:
#   THROUGHPUT_P4 path=... gbps=<n> cpu_pct=<n>      4-stream TCP
#   THROUGHPUT_LEGACY[_P4] path=pw... gbps=<n> cpu_pct=<n>   legacy data path
#   THROUGHPUT_T1[_P4] path=pw... gbps=<n> cpu_pct=<n>       one data path thread
#   PACKET_RATE path=pw[-legacy|-t1] mpps=<n> cpu_pct=<n>    64-byte UDP, received
#   RATIO path=... to_raw=<n> to_boringtun=<n>       single-stream ratios
#   JITTER path=... state=<idle|load> kind=<ospf-hello|bfd> n=<count> mean_ms= p99_ms= max_ms=
#   JITTER_CORE path=... (same fields)               the same packets at b's core
# cpu_pct is the CPU time of the tunnel processes (both ends: the two ha_node or the two
# boringtun-cli processes, every thread; from /proc/PID/stat utime+stime) over the
# iperf3 run, in percent of one core (200 = two cores busy); 0 for raw (no tunnel
# process). JITTER: intervals between the OSPFv3 Hellos and BFD Control packets that
# node a sends on the pseudowire, captured on node b's TAP with tshark, idle and during
# a single-stream TCP run (skipped without tshark). JITTER_CORE: their inter-arrival when
# they reached b's core (b runs with RUST_LOG=info,arrival=debug and logs each one; the
# batched data plane only, the legacy path hands them to the kernel).
#
# Environment: DUR (5), SUITES (all four above), MODES (the ha_node data paths to measure,
# of "off t1 on"; e.g. MODES="t1 on" for a short run), SKIP_BORINGTUN=1, HA_NODE_BIN (skip the
# build), BORINGTUN_BIN (default: boringtun-cli on PATH or ~/.cargo/bin; INSTALL_BORINGTUN=1
# installs it with `cargo install boringtun-cli`), KEEP_LOGS=1.
# Figures on a shared machine are noisy: compare paths within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
name=throughput
DUR=${DUR:-5}
SUITES=${SUITES:-aes-gcm-128 aes-gcm-256 chacha20-poly1305 aes-cbc-128-sha256}
A=tp-a-$$
B=tp-b-$$

die() { echo "FAIL $name: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, TAP devices)"
[ -c /dev/net/tun ] || die "/dev/net/tun missing"
for tool in ip iperf3 python3 timeout; do command -v "$tool" >/dev/null || die "$tool missing"; done

work=$(mktemp -d /tmp/throughput.XXXXXX)
chmod 700 "$work"
pids=()
cleanup() {
  [ -f "$work/server.pid" ] && pids+=("$(cat "$work/server.pid")")
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

if [ -n "${HA_NODE_BIN:-}" ]; then
  bin=$HA_NODE_BIN
else
  cargo build --release -q -p ha_node
  bin="${CARGO_TARGET_DIR:-target}/release/ha_node"
fi
[ -x "$bin" ] || die "$bin not built"
src=examples/ha_node/src
has_key() { grep -rqs "$1" "$src"; }

bt=${BORINGTUN_BIN:-$(command -v boringtun-cli || echo "$HOME/.cargo/bin/boringtun-cli")}
if [ "${SKIP_BORINGTUN:-0}" != 1 ] && [ ! -x "$bt" ] && [ "${INSTALL_BORINGTUN:-0}" = 1 ]; then
  cargo install -q boringtun-cli && bt="$HOME/.cargo/bin/boringtun-cli"
fi
if [ "${SKIP_BORINGTUN:-0}" != 1 ] && [ -x "$bt" ] && ! command -v wg >/dev/null && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wireguard-tools >/dev/null 2>&1 || true
fi

ip netns add "$A"
ip netns add "$B"
ip -n "$A" link set lo up
ip -n "$B" link set lo up
ip link add va netns "$A" type veth peer name vb netns "$B"
ip -n "$A" addr add 10.77.0.1/24 dev va
ip -n "$B" addr add 10.77.0.2/24 dev vb
ip -n "$A" link set va up
ip -n "$B" link set vb up

# A fresh one-off iperf3 server in b for every run (a run that failed half-way can
# leave a long-lived server "busy").
server() {
  if [ -f "$work/server.pid" ]; then kill "$(cat "$work/server.pid")" 2>/dev/null || true; fi
  ip netns exec "$B" iperf3 -s -1 -p 5201 >>"$work/iperf3-server.log" 2>&1 &
  echo $! >"$work/server.pid"
  for _ in $(seq 1 30); do
    ip netns exec "$B" ss -ltn 2>/dev/null | grep -q ':5201 ' && return 0
    sleep 0.1
  done
}
# Until the route to the peer's loopback is back (the legacy path can lose its
# OSPFv3 adjacency under load).
wait_route() {
  [ "$1" = 2001:db8:77::2 ] || return 0
  for _ in $(seq 1 150); do
    ip -n "$A" -6 route show 2001:db8:77::2 2>/dev/null | grep -q pw-b && return 0
    sleep 0.1
  done
  echo "# route to $1 missing" >&2
}

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # pids... -> summed utime+stime
  local t=0 p
  for p in "$@"; do
    # Fields after the parenthesised command name: utime and stime are 14 and 15.
    t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$t"
}
# iperf3 JSON -> Gbit/s (TCP, received) or Mpps (UDP, received).
gbps_of() { python3 -c 'import json,sys; print("%.3f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9))' "$1"; }
mpps_of() {
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
s = d["end"].get("sum")
if not s or "error" in d:
    print("0 error=%s" % d.get("error", "no summary").replace(" ", "_"))
else:
    print("%.4f" % ((s["packets"] - s["lost_packets"]) / s["seconds"] / 1e6))' "$1"
}
# measure PREFIX PATH DST NODE_PIDS... : one TCP run (PREFIX says -P 4 when it ends in _P4)
last_gbps=0
measure() {
  local prefix=$1 path=$2 dst=$3; shift 3
  local extra=() out="$work/iperf-$prefix-$path.json"
  case "$prefix" in *_P4) extra=(-P 4) ;; esac
  local t0 t1 c0 c1
  wait_route "$dst"; server
  c0=$( [ $# -gt 0 ] && cpu_ticks "$@" || echo 0 ); t0=$(date +%s%N)
  if ! ip netns exec "$A" timeout $((DUR + 20)) iperf3 -c "$dst" -p 5201 -t "$DUR" -J "${extra[@]}" >"$out" 2>&1; then
    echo "# $path: iperf3 failed: $(head -c 300 "$out")"; last_gbps=0
    echo "$prefix path=$path gbps=0 cpu_pct=0"; return 0
  fi
  t1=$(date +%s%N); c1=$( [ $# -gt 0 ] && cpu_ticks "$@" || echo 0 )
  last_gbps=$(gbps_of "$out")
  local cpu
  cpu=$(python3 -c "print('%.0f' % (($c1 - $c0) * 100.0 / $CLK_TCK / (($t1 - $t0) / 1e9)))")
  echo "$prefix path=$path gbps=$last_gbps cpu_pct=$cpu"
}
measure_pps() { # PREFIX PATH DST NODE_PIDS...
  local prefix=$1 path=$2 dst=$3; shift 3
  local out="$work/iperf-udp-$path.json" t0 t1 c0 c1
  wait_route "$dst"; server
  c0=$(cpu_ticks "$@"); t0=$(date +%s%N)
  if ! ip netns exec "$A" timeout $((DUR + 20)) iperf3 -c "$dst" -p 5201 -u -l 64 -b 0 -t "$DUR" -J >"$out" 2>&1; then
    echo "# $path: iperf3 -u failed: $(head -c 300 "$out")"; echo "$prefix path=$path mpps=0 cpu_pct=0"; return 0
  fi
  t1=$(date +%s%N); c1=$(cpu_ticks "$@")
  local cpu
  cpu=$(python3 -c "print('%.0f' % (($c1 - $c0) * 100.0 / $CLK_TCK / (($t1 - $t0) / 1e9)))")
  echo "$prefix path=$path mpps=$(mpps_of "$out") cpu_pct=$cpu"
}

declare -A GBPS
results=()
emit() { echo "$1"; results+=("$1"); }

# ---- raw veth
line=$(measure THROUGHPUT raw 10.77.0.2); emit "$line"
GBPS[raw]=$(sed 's/.*gbps=\([^ ]*\).*/\1/' <<<"$line")
emit "$(measure THROUGHPUT_P4 raw 10.77.0.2)"

# ---- ha_node
node_cfg() { # name rid lo tap peer_addr initiate esp(none|suite) dataplane(on|off|absent) peer_lo_index
  local n=$1 rid=$2 lo=$3 tap=$4 peer=$5 init=$6 esp=$7 dp=$8
  echo "name = \"$n\""
  echo "router_id = \"$rid\""
  echo "loopback = [\"$lo\"]"
  has_key l2tp_secret && echo 'l2tp_secret = "throughput-bench-secret"'
  has_key ospf_auth_key && echo 'ospf_auth_key = "throughput-bench-ospf"'
  # One control socket per daemon (the default path is shared by every daemon).
  has_key ControlSection && echo "control = { socket = \"$work/$n.sock\" }"
  echo "[ospf]"
  echo "hello = 1"
  echo "dead = 4"
  if [ "$dp" != absent ]; then
    echo "[dataplane]"
    [ "$dp" = off ] && echo "enabled = false" || echo "enabled = true"
    [ "$dp" = t1 ] && echo "threads = 1"
  fi
  echo "[[peer]]"
  echo "name = \"peer\""
  echo "tap = \"$tap\""
  echo "initiate = $init"
  if [ "$esp" = none ]; then
    echo "address = \"$peer:1701\""
  else
    echo "address = \"$peer:4500\""
    # ESP keyed by IKEv2 (issue 11), the suite as the CHILD SA's only proposal.
    local prop
    case "$esp" in
      aes-gcm-128) prop=aes128gcm16-esn ;;
      aes-gcm-256) prop=aes256gcm16-esn ;;
      chacha20-poly1305) prop=chacha20poly1305-esn ;;
      aes-cbc-128-sha256) prop=aes128-sha256-esn ;;
      *) echo "unknown suite $esp" >&2; exit 1 ;;
    esac
    echo "ipsec = { psk = \"throughput-bench-pre-shared-key\", esp_proposals = [\"$prop\"] }"
  fi
}
node_pids=()
start_nodes() { # esp dataplane
  node_cfg a 1.1.1.1 2001:db8:77::1 pw-b 10.77.0.2 true "$1" "$2" >"$work/a.toml"
  node_cfg b 2.2.2.2 2001:db8:77::2 pw-a 10.77.0.1 false "$1" "$2" >"$work/b.toml"
  chmod 600 "$work"/*.toml
  # b logs when each OSPFv3 Hello and BFD packet reaches its core (jitter_core).
  ip netns exec "$B" env RUST_LOG=info,arrival=debug NO_COLOR=1 "$bin" run --config "$work/b.toml" >"$work/b.log" 2>&1 &
  node_pids=($!)
  ip netns exec "$A" env RUST_LOG=info NO_COLOR=1 "$bin" run --config "$work/a.toml" >"$work/a.log" 2>&1 &
  node_pids+=($!)
  pids+=("${node_pids[@]}")
  local i
  for i in $(seq 1 300); do
    if ip -n "$A" -6 route show 2001:db8:77::2 2>/dev/null | grep -q pw-b &&
      ip -n "$B" -6 route show 2001:db8:77::1 2>/dev/null | grep -q pw-a &&
      ip netns exec "$A" ping -6 -c 1 -W 1 -I 2001:db8:77::1 2001:db8:77::2 >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "---- a.log"; tail -n 30 "$work/a.log"; echo "---- b.log"; tail -n 30 "$work/b.log"
  die "the pseudowire did not come up (esp=$1 dataplane=$2)"
}
stop_nodes() {
  local p
  for p in "${node_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${node_pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  node_pids=()
  sleep 0.5
}
# jitter PATH STATE: the OSPFv3 Hellos and BFD packets a sends over the pseudowire,
# captured for DUR seconds on b's side of the underlay veth (small datagrams from a
# on port 1701 only, so that the capture keeps up under load) and decoded by tshark
# (L2TPv3 -> Ethernet -> IPv6). Clear pseudowire only: with ESP they are encrypted.
# Their intervals, idle and during a single-stream TCP run, are the jitter seen by b.
jitter() {
  command -v tshark >/dev/null || return 0
  local path=$1 state=$2
  local cap="$work/jitter-$path-$state.pcap"
  ip netns exec "$B" timeout $((DUR + 10)) tshark -q -i vb -a "duration:$((DUR + 1))" \
    -f "udp port 1701 and src host 10.77.0.1 and less 300" -w "$cap" >/dev/null 2>&1 &
  local tpid=$!
  local l0
  l0=$(wc -l <"$work/b.log")
  sleep 1
  if [ "$state" = load ]; then
    server
    ip netns exec "$A" timeout $((DUR + 20)) iperf3 -c 2001:db8:77::2 -p 5201 -t "$DUR" >/dev/null 2>&1 || true
  fi
  wait "$tpid" || true
  # The same packets when they reached b's core (the data plane's hand-over to the
  # control loop; the legacy path logs none): inter-arrival at the receiver.
  tail -n +"$((l0 + 1))" "$work/b.log" | python3 -c '
import re, sys
path, state = sys.argv[1:3]
series = {"ospf-hello": [], "bfd": []}
for line in sys.stdin:
    m = re.search(r"kind=\"?([a-z-]+)\"? t_us=(\d+)", line)
    if m and m.group(1) in series:
        series[m.group(1)].append(int(m.group(2)) / 1000.0)
for kind, ts in series.items():
    iv = sorted(b - a for a, b in zip(ts, ts[1:]))
    if not iv:
        continue
    p99 = iv[min(len(iv) - 1, int(len(iv) * 0.99))]
    print(f"JITTER_CORE path={path} state={state} kind={kind} n={len(iv)} mean_ms={sum(iv)/len(iv):.1f} p99_ms={p99:.1f} max_ms={iv[-1]:.1f}")
' "$path" "$state"
  # tshark does not know the pseudowire type from data messages alone: the
  # Ethernet frame behind the L2TPv3 header (and cookie) is found by its EtherType.
  tshark -r "$cap" -T fields -e frame.time_epoch -e data.data 2>/dev/null >"$cap.txt" || true
  python3 - "$cap.txt" "$path" "$state" <<'EOF'
import sys
cap, path, state = sys.argv[1:4]
series = {"ospf-hello": [], "bfd": []}
for line in open(cap):
    f = line.rstrip("\n").split("\t")
    if len(f) < 2 or not f[1]:
        continue
    d = bytes.fromhex(f[1].replace(":", ""))
    for k in (0, 4, 8, 12):
        e = d[k:]
        if len(e) >= 62 and e[12:14] == b"\x86\xdd":
            nh = e[20]
            if nh == 89 and e[55] == 1:
                series["ospf-hello"].append(float(f[0]))
            elif nh == 17 and e[56:58] == (3784).to_bytes(2, "big"):
                series["bfd"].append(float(f[0]))
            break
for kind, ts in series.items():
    iv = sorted((b - a) * 1000 for a, b in zip(ts, ts[1:]))
    if not iv:
        print(f"JITTER path={path} state={state} kind={kind} n=0")
        continue
    p99 = iv[min(len(iv) - 1, int(len(iv) * 0.99))]
    print(f"JITTER path={path} state={state} kind={kind} n={len(iv)} mean_ms={sum(iv)/len(iv):.1f} p99_ms={p99:.1f} max_ms={iv[-1]:.1f}")
EOF
}

modes=(absent)
if has_key '\[dataplane\]'; then modes=(off on); fi
if has_key 'pub threads: usize'; then modes=(off t1 on); fi
[ -n "${MODES:-}" ] && read -r -a modes <<<"$MODES"
for mode in "${modes[@]}"; do
  case "$mode" in
    off) pre=THROUGHPUT_LEGACY; sfx=-legacy ;;
    t1) pre=THROUGHPUT_T1; sfx=-t1 ;;
    *) pre=THROUGHPUT; sfx= ;;
  esac
  for esp in none $SUITES; do
    [ "$esp" = none ] && path=pw || path=pw-esp-$esp
    start_nodes "$esp" "$mode"
    line=$(measure "$pre" "$path" 2001:db8:77::2 "${node_pids[@]}"); emit "$line"
    GBPS[$path$sfx]=$(sed 's/.*gbps=\([^ ]*\).*/\1/' <<<"$line")
    emit "$(measure "${pre}_P4" "$path" 2001:db8:77::2 "${node_pids[@]}")"
    if [ "$esp" = none ]; then
      emit "$(measure_pps PACKET_RATE "$path$sfx" 2001:db8:77::2 "${node_pids[@]}")"
      for st in idle load; do
        while read -r l; do emit "$l"; done < <(jitter "$path$sfx" "$st")
      done
    fi
    downs=$(cat "$work/a.log" "$work/b.log" | grep -c "BFD session.*Up -> Down" || true)
    [ "$downs" -gt 0 ] && emit "# $path$sfx: BFD sessions went Down $downs times during the runs (an adjacency lost under load)"
    cp "$work/a.log" "$work/a-$path$sfx.log"; cp "$work/b.log" "$work/b-$path$sfx.log"
    stop_nodes
  done
done

# ---- boringtun-cli
if [ "${SKIP_BORINGTUN:-0}" != 1 ] && [ -x "$bt" ] && command -v wg >/dev/null; then
  (umask 077; wg genkey >"$work/wa.key"; wg genkey >"$work/wb.key")
  pa=$(wg pubkey <"$work/wa.key"); pb=$(wg pubkey <"$work/wb.key")
  bt_pids=()
  for side in a b; do
    ns=$A; [ $side = b ] && ns=$B
    ip netns exec "$ns" env WG_SUDO=1 "$bt" "wg-tp$side" --foreground --disable-drop-privileges \
      >"$work/bt-$side.log" 2>&1 &
    bt_pids+=($!)
  done
  pids+=("${bt_pids[@]}")
  for _ in $(seq 1 50); do
    [ -S /var/run/wireguard/wg-tpa.sock ] && [ -S /var/run/wireguard/wg-tpb.sock ] && break
    sleep 0.1
  done
  ip netns exec "$A" wg set wg-tpa private-key "$work/wa.key" listen-port 51820 \
    peer "$pb" endpoint 10.77.0.2:51820 allowed-ips fd77::2/128
  ip netns exec "$B" wg set wg-tpb private-key "$work/wb.key" listen-port 51820 \
    peer "$pa" endpoint 10.77.0.1:51820 allowed-ips fd77::1/128
  ip -n "$A" addr add fd77::1/64 dev wg-tpa nodad; ip -n "$A" link set wg-tpa mtu 1420 up
  ip -n "$B" addr add fd77::2/64 dev wg-tpb nodad; ip -n "$B" link set wg-tpb mtu 1420 up
  for _ in $(seq 1 50); do
    ip netns exec "$A" ping -6 -c 1 -W 1 fd77::2 >/dev/null 2>&1 && break
    sleep 0.2
  done
  line=$(measure THROUGHPUT boringtun fd77::2 "${bt_pids[@]}"); emit "$line"
  GBPS[boringtun]=$(sed 's/.*gbps=\([^ ]*\).*/\1/' <<<"$line")
  emit "$(measure THROUGHPUT_P4 boringtun fd77::2 "${bt_pids[@]}")"
else
  emit "# boringtun: skipped (boringtun-cli or wg missing, or SKIP_BORINGTUN=1)"
fi

ratio() { python3 -c "import sys; a, b = float(sys.argv[1] or 0), float(sys.argv[2] or 0); print('%.3f' % (a / b) if b > 0 else 'na')" "$1" "$2"; }
for p in "${!GBPS[@]}"; do
  [ "$p" = raw ] && continue
  emit "RATIO path=$p to_raw=$(ratio "${GBPS[$p]}" "${GBPS[raw]}") to_boringtun=$(ratio "${GBPS[$p]}" "${GBPS[boringtun]:-0}")"
done
echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), DUR=$DUR s, $(date -u +%FT%TZ)"
