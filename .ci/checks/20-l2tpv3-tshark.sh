#!/usr/bin/env bash
# l2tpv3 wire layer against Wireshark's dissector (skips when tshark is missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash l2tpv3/scripts/tshark_check.sh
