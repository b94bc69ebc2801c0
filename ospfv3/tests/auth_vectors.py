#!/usr/bin/env python3
"""Independent known-answer vectors for the OSPFv3 authentication trailer (RFC 7166).

Written from RFC 7166 section 4.5 with Python's hmac and hashlib only, sharing no code
with the Rust crate. tests/auth_kat.rs pins the digests printed here and, when python3
is present, runs this script and compares again.

Output: one line per vector, "<algorithm> <key name> <hex digest>".
"""
import hashlib
import hmac
import ipaddress
import struct

# Hello from 1.1.1.1, area 0, Interface ID 5, priority 1, options V6|E|R|AT,
# HelloInterval 10, RouterDeadInterval 40, no DR/BDR, neighbor 2.2.2.2.
# Packet checksum 0, as RFC 7166 4.2 requires before the digest.
PACKET = bytes.fromhex(
    "03010028" "01010101" "00000000" "0000" "00" "00"
    "00000005" "01" "000413" "000a" "0028" "00000000" "00000000" "02020202"
)
SOURCE = ipaddress.IPv6Address("fe80::1").packed
SA_ID = 7
SEQUENCE = 0x0000000100000002
PROTOCOL_ID = b"\x00\x01"
APAD_WORD = bytes.fromhex("878fe1f3")

ALGORITHMS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
KEYS = {
    "short": b"ospfv3-test-key",
    "long": bytes(range(70)),
}


def digest(name, key):
    h = ALGORITHMS[name]
    size = h().digest_size
    ks = key + PROTOCOL_ID
    ko = h(ks).digest() if len(ks) > size else ks + bytes(size - len(ks))
    apad = (SOURCE + APAD_WORD * size)[:size]
    trailer = struct.pack(">HHHHQ", 1, 16 + size, 0, SA_ID, SEQUENCE)
    return hmac.new(ko, PACKET + trailer + apad, h).hexdigest()


if __name__ == "__main__":
    for name in ALGORITHMS:
        for key_name, key in KEYS.items():
            print(name, key_name, digest(name, key))
