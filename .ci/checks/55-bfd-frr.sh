#!/usr/bin/env bash
# bfd crate <-> FRRouting bfdd interop over a veth pair (single hop, IPv6 link-local
# and IPv4): Up, timer changes by Poll/Final both ways, Down detected both ways
# (SIGKILL of either side, administrative shutdown on either side), tshark on the
# captured traffic, and the proof that FRR 8.4's bfdd has no BFD authentication to test
# against.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then echo "SKIP 55-bfd-frr: needs root"; exit 0; fi
if [ ! -x /usr/lib/frr/bfdd ]; then echo "SKIP 55-bfd-frr: frr not installed"; exit 0; fi
if ! ip netns list >/dev/null 2>&1; then echo "SKIP 55-bfd-frr: no netns support"; exit 0; fi
exec timeout 300 bfd/scripts/frr_bfd_interop.sh v6 v4 auth
