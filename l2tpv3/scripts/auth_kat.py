#!/usr/bin/env python3
"""Independent known answers for L2TPv3 control message authentication.

Computes, with Python's hmac and hashlib only, the values pinned in
tests/control_auth_kat.rs (RFC 3931 sections 5.3 and 5.4.1):

* key derivation: digest key = HMAC-MD5(secret, 0x02), hiding key = HMAC-MD5(secret, 0x01);
* the Message Digest of a hand-assembled SCCRQ (no nonces) and of an SCCRP
  (sender nonce || receiver nonce || message), with HMAC-MD5 and HMAC-SHA-1, over
  the message with its digest bytes zeroed;
* AVP hiding of a Remote End ID with a Random Vector.

Run: python3 l2tpv3/scripts/auth_kat.py
"""
import hashlib
import hmac
import struct

SECRET = b"kat-shared-secret"
NONCE_A = bytes(range(0x10, 0x20))  # the SCCRQ sender's nonce
NONCE_B = bytes(range(0xA0, 0xB0))  # the SCCRP sender's nonce


def avp(attr, value, m=True):
    flags = 0x8000 if m else 0
    return struct.pack("!HHH", flags | (6 + len(value)), 0, attr) + value


def message(ccid, ns, nr, avps):
    body = b"".join(avps)
    length = 12 + len(body)
    return struct.pack("!HHIHH", 0xC803, length, ccid, ns, nr) + body


def digest_avp(dtype):
    n = 16 if dtype == 0 else 20
    return avp(59, bytes([dtype]) + b"\0" * n)


def sccrq(dtype):
    return message(0, 0, 0, [
        avp(0, struct.pack("!H", 1)),            # Message Type SCCRQ
        digest_avp(dtype),                       # Message Digest, zeroed
        avp(7, b"lcce-a"),                       # Host Name
        avp(60, struct.pack("!I", 0x0A000001)),  # Router ID
        avp(61, struct.pack("!I", 0x11223344)),  # Assigned Control Connection ID
        avp(62, struct.pack("!HH", 5, 4)),       # Pseudowire Capabilities List
        avp(10, struct.pack("!H", 16), m=False), # Receive Window Size
        avp(73, NONCE_A),                        # Nonce
    ])


def sccrp(dtype):
    return message(0x11223344, 0, 1, [
        avp(0, struct.pack("!H", 2)),
        digest_avp(dtype),
        avp(7, b"lcce-b"),
        avp(60, struct.pack("!I", 0x0A000002)),
        avp(61, struct.pack("!I", 0x55667788)),
        avp(62, struct.pack("!H", 5)),
        avp(10, struct.pack("!H", 16), m=False),
        avp(73, NONCE_B),
    ])


def mac(dtype, key, data):
    return hmac.new(key, data, hashlib.md5 if dtype == 0 else hashlib.sha1).digest()


def hide(key, attr, rv, value, padding=b""):
    sub = struct.pack("!H", len(value)) + value + padding
    out = b""
    b = hashlib.md5(struct.pack("!H", attr) + key + rv).digest()
    for i in range(0, len(sub), 16):
        chunk = bytes(x ^ y for x, y in zip(sub[i:i + 16], b))
        out += chunk
        b = hashlib.md5(key + chunk).digest()
    return out


def main():
    dkey = hmac.new(SECRET, b"\x02", hashlib.md5).digest()
    hkey = hmac.new(SECRET, b"\x01", hashlib.md5).digest()
    print("digest_key", dkey.hex())
    print("hiding_key", hkey.hex())
    for dtype, name in ((0, "md5"), (1, "sha1")):
        q = sccrq(dtype)
        print(f"sccrq_{name}_zeroed", q.hex())
        print(f"sccrq_{name}_digest", mac(dtype, dkey, q).hex())
        p = sccrp(dtype)
        print(f"sccrp_{name}_zeroed", p.hex())
        # Sent by B: B's nonce first, then A's.
        print(f"sccrp_{name}_digest", mac(dtype, dkey, NONCE_B + NONCE_A + p).hex())
    rv = bytes(range(0x30, 0x40))
    print("hidden_remote_end_id", hide(hkey, 66, rv, b"a-remote-end-id-longer-than-16", b"\x99" * 3).hex())


if __name__ == "__main__":
    main()
