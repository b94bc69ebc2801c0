#!/usr/bin/env bash
# IKEv2 codec and SK payload against Wireshark's dissector: complete exchanges built by
# the ikev2 crate (IKE_SA_INIT, COOKIE and INVALID_KE_PAYLOAD answers, IKE_AUTH,
# CREATE_CHILD_SA with PFS, INFORMATIONAL with Delete and error notifies), protected with
# AES-GCM-16 and AES-CBC + HMAC-SHA2 over IPv4 and IPv6 on UDP 500 / 4500, must dissect
# and decrypt (tshark's ikev2_decryption_table) with nothing malformed, no expert
# warning, and the payloads inside as built (ikev2/tests/tshark.rs).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v tshark >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && [ "${CI:-}" = true ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q tshark >/dev/null 2>&1 || true
  fi
fi
if ! command -v tshark >/dev/null 2>&1; then
  echo "SKIP: tshark not installed"
  exit 0
fi

IKEV2_REQUIRE_TSHARK=1 timeout 900 cargo test -q -p ikev2 --test tshark -- --nocapture
echo "ikev2 tshark checks passed"
