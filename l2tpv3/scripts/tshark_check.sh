#!/usr/bin/env bash
# Wireshark oracle for the l2tpv3 wire layer: encodes every control message type
# (with HMAC-MD5/SHA-1 Message Digests tshark verifies) and data messages with 0/4/8
# byte cookies over UDP and IP, writes pcaps, and checks tshark's decoding
# (l2tpv3/tests/tshark.rs). Prints SKIP and exits 0 when tshark is missing.
#
# Usage: l2tpv3/scripts/tshark_check.sh [DIR]   (DIR keeps the generated pcaps)
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v tshark >/dev/null 2>&1; then
  echo "SKIP: tshark not installed (apt-get install tshark); l2tpv3 Wireshark oracle not run"
  exit 0
fi
echo "tshark: $(tshark -v 2>/dev/null | head -n1)"
if [ $# -ge 1 ]; then
  mkdir -p "$1"
  export L2TPV3_TSHARK_DIR="$(cd "$1" && pwd)"
fi
L2TPV3_REQUIRE_TSHARK=1 cargo test -p l2tpv3 --test tshark -- --nocapture
