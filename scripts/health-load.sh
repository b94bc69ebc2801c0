#!/usr/bin/env bash
# Fast health checks on a loaded machine (issue 12, item 4), run by hand as root:
# one ha_node (release build) in namespace fb-hload with one anycast prefix and a
# tcp_connect check every INTERVAL_MS (50) with timeout TIMEOUT_MS (40), fall FALL (2),
# against a healthy local TCP service. Once the check is up, LOAD busy loops
# (`yes > /dev/null`, default 2 per core) run for DURATION_S (60) seconds. A check that
# falls during that time is a false failure: the service never stopped.
# Prints: HEALTHLOAD interval_ms=.. timeout_ms=.. fall=.. load=.. duration_s=..
#         false_falls=<n> probes=<n> timeouts=<n> dropped=<n>
# Exit status non-zero on setup failure only. HA_NODE_BIN skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
INTERVAL_MS=${INTERVAL_MS:-50}
TIMEOUT_MS=${TIMEOUT_MS:-40}
FALL=${FALL:-2}
DURATION_S=${DURATION_S:-60}
LOAD=${LOAD:-$((2 * $(nproc)))}
ns=fb-hload
die() { echo "FAIL health-load: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
if [ -n "${HA_NODE_BIN:-}" ]; then bin=$HA_NODE_BIN; else
  timeout 1800 cargo build -q --release -p ha_node || die "release build failed"
  bin="${CARGO_TARGET_DIR:-target}/release/ha_node"
fi
work=$(mktemp -d /tmp/health-load.XXXXXX)
loads=()
cleanup() {
  for p in "${loads[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$work"/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns del "$ns" 2>/dev/null || true
ip netns add "$ns" || die "no netns support"
ip -n "$ns" link set lo up
cat >"$work/node.toml" <<EOF
name = "hload"
control = { socket = "$work/hload.sock" }
router_id = "9.9.9.1"
l2tp_secret = "x"
ospf_auth_key = "x"
[[anycast]]
prefix = "2001:db8:aa::1/128"
settle_s = 1
[[anycast.check]]
name = "svc"
kind = { tcp_connect = { addr = "[::1]:7001" } }
interval_ms = $INTERVAL_MS
timeout_ms = $TIMEOUT_MS
rise = 2
fall = $FALL
EOF
chmod 600 "$work/node.toml"   # it holds secrets: the daemon refuses it readable by others
(ip netns exec "$ns" python3 -c '
import socket
t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("::1", 7001)); t.listen(128)
while True:
    c, _ = t.accept(); c.close()' >/dev/null 2>&1 & echo $! >"$work/svc.pid")
(ip netns exec "$ns" env RUST_LOG=info NO_COLOR=1 "$bin" run --config "$work/node.toml" \
  >"$work/node.log" 2>&1 & echo $! >"$work/node.pid")
for _ in $(seq 1 100); do grep -q "cause: Rise" "$work/node.log" && break; sleep 0.1; done
grep -q "cause: Rise" "$work/node.log" || { KEEP_LOGS=1; die "the check never came up (log in $work)"; }
before=$(grep -c "CheckChanged" "$work/node.log" || true)
for _ in $(seq 1 "$LOAD"); do yes >/dev/null & loads+=($!); done
sleep "$DURATION_S"
for p in "${loads[@]}"; do kill "$p" 2>/dev/null || true; done
loads=()
after=$(grep -c "CheckChanged" "$work/node.log" || true)
falls=$(tail -n +1 "$work/node.log" | grep "CheckChanged" | tail -n $((after - before)) | grep -c "cause: \(Fall\|Stale\)" || true)
[ "$after" = "$before" ] && falls=0
kill -TERM "$(cat "$work/node.pid")"
for _ in $(seq 1 100); do kill -0 "$(cat "$work/node.pid")" 2>/dev/null || break; sleep 0.1; done
stats=$(grep -o "health checks: .*" "$work/node.log" | tail -1)
probes=$(echo "$stats" | sed -n 's/health checks: \([0-9]*\) probes.*/\1/p')
timeouts=$(echo "$stats" | sed -n 's/.* \([0-9]*\) timeouts.*/\1/p')
dropped=$(echo "$stats" | sed -n 's/.* \([0-9]*\) results dropped.*/\1/p')
echo "HEALTHLOAD interval_ms=$INTERVAL_MS timeout_ms=$TIMEOUT_MS fall=$FALL load=$LOAD duration_s=$DURATION_S false_falls=$falls probes=${probes:-?} timeouts=${timeouts:-?} dropped=${dropped:-?}"
