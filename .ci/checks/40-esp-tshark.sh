#!/usr/bin/env bash
# ipsec-lite: tshark (Wireshark's ESP dissector, given the keys in its esp_sa table)
# must decrypt and authenticate the ESP packets ipsec-lite produces for every suite
# it supports (AES-GCM-16 128/256, AES-CBC 128/256 with HMAC-SHA1-96 and
# HMAC-SHA-256-128; plain and RFC 3948 UDP-encapsulated), find the L2TPv3 session
# inside, and flag nothing as malformed or worth a warning. A wrong-key run must fail.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v tshark >/dev/null 2>&1; then
  echo "SKIP 40-esp-tshark: tshark not installed"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo run -q -p ipsec-lite --example esp_pcap -- "$work/out"
mkdir -p "$work/home/.config/wireshark" "$work/bad/.config/wireshark"
cp "$work/out/esp_sa" "$work/home/.config/wireshark/esp_sa"

ts() { # HOME, extra args...
  local home=$1; shift
  HOME="$home" XDG_CONFIG_HOME="$home/.config" tshark -n \
    -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE \
    -r "$work/out/esp.pcap" "$@" 2>/dev/null
}

expected=$(wc -l <"$work/out/expected.txt")
good=$(ts "$work/home" -Y 'esp.icv_good == 1 && esp.protocol == 17 && l2tp.sid == 1 && udp.dstport == 1701' | wc -l)
keepalive=$(ts "$work/home" -Y 'udpencap.nat_keepalive' | wc -l)
natt=$(ts "$work/home" -Y 'udpencap && esp.icv_good == 1' | wc -l)
flagged=$(ts "$work/home" -Y '_ws.malformed || _ws.expert.severity >= warning')

echo "ESP packets written: $expected; decrypted+authenticated with L2TPv3 inside: $good; of them UDP-encapsulated: $natt; NAT keepalives: $keepalive"
fail=0
[ "$good" -eq "$expected" ] || { echo "FAIL: tshark verified $good of $expected packets"; fail=1; }
[ "$natt" -eq $((expected / 2)) ] || { echo "FAIL: $natt UDP-encapsulated packets verified"; fail=1; }
[ "$keepalive" -eq 1 ] || { echo "FAIL: keepalive not recognised"; fail=1; }
if [ -n "$flagged" ]; then echo "FAIL: tshark flagged:"; echo "$flagged"; fail=1; fi

# Negative control: flip one hex digit of every encryption key; nothing may verify.
python3 - "$work/out/esp_sa" "$work/bad/.config/wireshark/esp_sa" <<'PY'
import sys
out = []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split('","')
    k = f[5]  # encryption key "0x..."
    f[5] = k[:2] + ("0" if k[2] != "0" else "1") + k[3:]
    out.append('","'.join(f))
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
bad=$(ts "$work/bad" -Y 'esp.icv_good == 1 && l2tp.sid == 1' | wc -l)
[ "$bad" -eq 0 ] || { echo "FAIL: $bad packets verified under wrong keys (check is not discriminating)"; fail=1; }
echo "wrong-key control: $bad verified (expected 0)"

[ "$fail" -eq 0 ] && echo "PASS 40-esp-tshark"
exit "$fail"
