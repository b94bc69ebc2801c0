#!/usr/bin/env bash
# Captures the loopback_tunnel example on `lo` and checks it with tshark:
#  1. the L2TP control exchange decodes with no malformed packet and no expert
#     warning or error;
#  2. with the right shared secret (-o l2tp.shared_secret) no message is flagged
#     l2tp.incorrect_digest, and every control message carries a Message Digest;
#  3. with a different secret tshark does flag incorrect digests.
# Run from the repository root as root (tshark writes captures only into a
# root-owned directory). Prints SKIP and exits 0 when tshark or root is missing.
set -euo pipefail

SECRET=${SECRET:-loopback-secret}
if ! command -v tshark >/dev/null; then echo "SKIP: tshark not installed"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "SKIP: capturing on lo needs root"; exit 0; fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build -q -p l2tpv3 --features tokio --example loopback_tunnel
bin="$CARGO_TARGET_DIR/debug/examples/loopback_tunnel"

dir=$(mktemp -d /root/l2tp-loopback.XXXXXX 2>/dev/null || mktemp -d)
pcap="$dir/loopback.pcapng"
tshark -q -i lo -f 'udp port 1701' -w "$pcap" 2>"$dir/capture.log" &
cap=$!
trap 'kill $cap 2>/dev/null || true' EXIT
# Wait until the capture is running.
for _ in $(seq 50); do grep -q "Capturing on" "$dir/capture.log" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
"$bin" "$SECRET" > "$dir/example.log"
sleep 1
kill -INT $cap; wait $cap || true
trap - EXIT

fail=0
control=$(tshark -r "$pcap" -Y 'l2tp.type == 1' 2>/dev/null | wc -l)
digests=$(tshark -r "$pcap" -Y 'l2tp.type == 1 && l2tp.avp.message_digest' 2>/dev/null | wc -l)
data=$(tshark -r "$pcap" -Y 'l2tp && arp' 2>/dev/null | wc -l)
echo "capture: $control control messages ($digests with a Message Digest), $data data messages -> $pcap"
tshark -r "$pcap" -o "l2tp.shared_secret:$SECRET" 2>/dev/null | sed 's/^/  /'
if [ "$control" -lt 10 ] || [ "$digests" -ne "$control" ] || [ "$data" -lt 1 ]; then
  echo "FAIL: expected >= 10 control messages, all with a digest, and the data frame"; fail=1
fi
bad=$(tshark -r "$pcap" -Y '_ws.malformed || _ws.expert.severity >= warning' \
      -o "l2tp.shared_secret:$SECRET" 2>/dev/null)
if [ -n "$bad" ]; then echo "FAIL: malformed or expert warnings:"; echo "$bad"; fail=1
else echo "ok: no malformed packets, no expert warnings"; fi
right=$(tshark -r "$pcap" -Y 'l2tp.incorrect_digest' -o "l2tp.shared_secret:$SECRET" 2>/dev/null | wc -l)
if [ "$right" -ne 0 ]; then echo "FAIL: $right incorrect digests with the right secret"; fail=1
else echo "ok: right secret, 0 incorrect digests"; fi
wrong=$(tshark -r "$pcap" -Y 'l2tp.incorrect_digest' -o "l2tp.shared_secret:not-$SECRET" 2>/dev/null | wc -l)
if [ "$wrong" -eq 0 ]; then echo "FAIL: a wrong secret flagged no digest"; fail=1
else echo "ok: wrong secret flags $wrong of $control messages"; fi
exit $fail
