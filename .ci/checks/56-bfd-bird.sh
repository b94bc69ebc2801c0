#!/usr/bin/env bash
# bfd crate <-> BIRD 2's BFD with authentication (RFC 5880 6.7: simple password, keyed
# and meticulous keyed MD5 and SHA1) over a veth pair: Up with the same key, Down seen
# by BIRD when ours is killed, nothing comes Up with a wrong key, tshark on the capture.
# FRR 8.4's bfdd has no authentication, so BIRD is the peer for this part.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then echo "SKIP 56-bfd-bird: needs root"; exit 0; fi
if ! command -v bird >/dev/null && command -v apt-get >/dev/null; then
    # bird2's package starts a system daemon where systemd runs; ours runs in a
    # namespace with its own socket, so a system one does not matter.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bird2 >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bird2 >/dev/null 2>&1; } \
        || true
fi
if ! command -v bird >/dev/null; then echo "SKIP 56-bfd-bird: bird2 not installed and not installable"; exit 0; fi
if ! ip netns list >/dev/null 2>&1; then echo "SKIP 56-bfd-bird: no netns support"; exit 0; fi
exec timeout 300 bfd/scripts/bird_bfd_interop.sh
