#!/usr/bin/env bash
# BFD codec against Wireshark's dissector: Control packets built by the encoder (every
# state, Poll/Final, every authentication type, a real authenticated exchange) over
# IPv4 and IPv6 UDP/3784 must dissect without malformed/expert-warning flags and with
# matching field values (bfd/tests/tshark.rs).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v tshark >/dev/null 2>&1; then
  echo "SKIP: tshark not installed"
  exit 0
fi

BFD_REQUIRE_TSHARK=1 cargo test -q -p bfd --test tshark -- --nocapture
echo "bfd tshark checks passed"
