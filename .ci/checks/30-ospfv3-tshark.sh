#!/usr/bin/env bash
# OSPFv3 codec against Wireshark's dissector:
#  1. packets built by the encoder (every packet type, every LSA type, an
#     authentication trailer) must dissect without malformed/expert-warning flags and
#     with matching field values (ospfv3/tests/tshark.rs);
#  2. the capture inspector must report, for every reference capture, as many OSPFv3
#     packets as tshark sees, with no decode error and every checksum verifying.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v tshark >/dev/null 2>&1; then
  echo "SKIP: tshark not installed"
  exit 0
fi

OSPFV3_REQUIRE_TSHARK=1 cargo test -q -p ospfv3 --test tshark -- --nocapture

captures=../shared/captures/ospfv3
if [ ! -d "$captures" ]; then
  echo "SKIP (inspector part): $captures missing"
  exit 0
fi
cargo build -q -p ospfv3 --example ospfv3_decode_pcap
fail=0
for f in "$captures"/*; do
  ours=$(cargo run -q -p ospfv3 --example ospfv3_decode_pcap -- "$f")
  n_ours=$(printf '%s\n' "$ours" | grep -c '"frame"' || true)
  n_tshark=$(tshark -r "$f" -Y ospf 2>/dev/null | wc -l)
  bad=$(printf '%s\n' "$ours" | grep -c -E '"error"|"checksum_ok":false' || true)
  frames_ours=$(printf '%s\n' "$ours" | grep -o '"frame":[0-9]*' | cut -d: -f2 | sort -n | tr '\n' ' ')
  frames_tshark=$(tshark -r "$f" -Y ospf -T fields -e frame.number 2>/dev/null | sort -n | tr '\n' ' ')
  echo "$(basename "$f"): ospfv3_decode_pcap $n_ours packets, tshark $n_tshark, $bad with errors or bad checksums"
  if [ "$n_ours" != "$n_tshark" ] || [ "$bad" != 0 ] || [ "$frames_ours" != "$frames_tshark" ]; then
    fail=1
  fi
done
if [ "$fail" != 0 ]; then
  echo "FAIL: ospfv3_decode_pcap disagrees with tshark"
  exit 1
fi
echo "ospfv3 tshark checks passed"
