#!/usr/bin/env bash
# L2TPv3 control plane checks that need tools outside cargo:
#  - the digest/hiding known answers pinned in l2tpv3/tests/control_auth_kat.rs are
#    exactly what the independent Python implementation computes;
#  - tshark decodes the loopback example's capture cleanly and verifies its digests
#    (l2tpv3/scripts/tshark_loopback.sh; needs root and tshark).
set -euo pipefail

if command -v python3 >/dev/null; then
  missing=0
  while read -r name value; do
    if ! grep -q "$value" l2tpv3/tests/control_auth_kat.rs; then
      echo "FAIL: $name from auth_kat.py is not pinned in control_auth_kat.rs"; missing=1
    fi
  done < <(python3 l2tpv3/scripts/auth_kat.py)
  [ $missing -eq 0 ] || exit 1
  echo "ok: auth known answers match the Python implementation"
else
  echo "SKIP: python3 not installed (auth known answers)"
fi

bash l2tpv3/scripts/tshark_loopback.sh
