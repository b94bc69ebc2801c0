#!/usr/bin/env bash
# OSPFv3 engine <-> FRRouting ospf6d interop over a veth pair (point-to-point and
# broadcast): adjacency Full, loopback /128 learned both ways, withdrawal within 2 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then echo "SKIP 50-ospfv3-frr: needs root"; exit 0; fi
if [ ! -x /usr/lib/frr/ospf6d ]; then echo "SKIP 50-ospfv3-frr: frr not installed"; exit 0; fi
if ! ip netns list >/dev/null 2>&1; then echo "SKIP 50-ospfv3-frr: no netns support"; exit 0; fi
exec ospfv3/scripts/frr_interop.sh p2p broadcast p2p-low broadcast-low p2p-auth broadcast-auth chain
