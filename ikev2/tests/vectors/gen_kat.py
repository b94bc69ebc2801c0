#!/usr/bin/env python3
"""Independent oracle for ikev2/tests/known_answers.rs.

Computes RFC 7296 key derivation (2.13, 2.14, 2.17, 2.18), PSK AUTH (2.15) and SK
payloads (3.14, RFC 5282) with Python's hmac/hashlib and the `cryptography` package,
never with the crate's code. Run it and compare with the constants in the test:
    python3 ikev2/tests/vectors/gen_kat.py
"""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

H = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


def prf(alg, key, data):
    return hmac.new(key, data, H[alg]).digest()


def prf_plus(alg, key, seed, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = prf(alg, key, t + seed + bytes([i]))
        out += t
        i += 1
    return out[:n]


def split(km, lens):
    out = []
    for n in lens:
        out.append(km[:n])
        km = km[n:]
    return out


NI = bytes(range(0, 32))
NR = bytes(range(32, 64))
SPII = 0x0102030405060708
SPIR = 0x1112131415161718
# RFC 7748 6.1 shared secret
GIR = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")


def ike_keys(alg, plen, alen, elen, skeyseed, ni, nr, spii, spir):
    seed = ni + nr + struct.pack(">QQ", spii, spir)
    km = prf_plus(alg, skeyseed, seed, 3 * plen + 2 * alen + 2 * elen)
    return split(km, [plen, alen, alen, elen, elen, plen, plen])


names = ["sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr"]

print("# prf+ HMAC-SHA256, key 0x0b*20, seed 'seed', 100 bytes")
print(prf_plus("sha256", b"\x0b" * 20, b"seed", 100).hex())

print("# IKE SA, AES-GCM-16-128 / PRF-HMAC-SHA2-256")
skeyseed = prf("sha256", NI + NR, GIR)
print("skeyseed", skeyseed.hex())
gcm = ike_keys("sha256", 32, 0, 20, skeyseed, NI, NR, SPII, SPIR)
for n, v in zip(names, gcm):
    print(n, v.hex())

print("# IKE SA, AES-CBC-256 / HMAC-SHA2-384-192 / PRF-HMAC-SHA2-512")
skeyseed = prf("sha512", NI + NR, GIR)
cbc = ike_keys("sha512", 64, 48, 32, skeyseed, NI, NR, SPII, SPIR)
for n, v in zip(names, cbc):
    print(n, v.hex())

print("# IKE SA rekey (2.18): old PRF SHA-256 with old SK_d of the GCM SA; new suite AES-CBC-128/SHA-256-128/PRF-SHA-384")
ni2, nr2 = bytes([0xA5] * 32), bytes([0x5A] * 48)
gir2 = bytes(range(100, 132))
spii2, spir2 = 0x2122232425262728, 0x3132333435363738
skeyseed2 = prf("sha256", gcm[0], gir2 + ni2 + nr2)
rk = ike_keys("sha384", 48, 32, 16, skeyseed2, ni2, nr2, spii2, spir2)
for n, v in zip(names, rk):
    print(n, v.hex())

print("# CHILD_SA KEYMAT (2.17) from the GCM SA's SK_d, ESP AES-GCM-16-256, no PFS")
km = prf_plus("sha256", gcm[0], NI + NR, 2 * 36)
print("i_to_r", km[:36].hex())
print("r_to_i", km[36:].hex())
print("# CHILD_SA KEYMAT with PFS, ESP AES-CBC-128 + HMAC-SHA1-96")
km = prf_plus("sha256", gcm[0], gir2 + ni2 + nr2, 2 * (16 + 20))
print("i_to_r encr", km[:16].hex(), "integ", km[16:36].hex())
print("r_to_i encr", km[36:52].hex(), "integ", km[52:72].hex())

print("# PSK AUTH (2.15), PRF-SHA256, GCM SA keys")
real_msg = bytes(range(200)) 
idi = bytes([2, 0, 0, 0]) + b"west.example"
psk = b"correct horse battery staple"
maced = prf("sha256", gcm[5], idi)
auth = prf("sha256", prf("sha256", psk, b"Key Pad for IKEv2"), real_msg + NR + maced)
print("auth_i", auth.hex())

# An IKE_AUTH-like message protected with the GCM SA's SK_ei, built here: header,
# SK header, IV 8 bytes, AES-GCM over (inner payload chain | pad length 0), tag.
# Inner chain: one Nonce payload (next 0, len 4+16) with 16 bytes 0x42 and one
# Notify INITIAL_CONTACT (protocol 0, spi size 0, type 16384).
inner = bytes([41, 0, 0, 20]) + bytes([0x42] * 16) + bytes([0, 0, 0, 8, 0, 0, 0x40, 0x00])
plain = inner + bytes([0])
iv = bytes.fromhex("0001020304050607")
tag_len = 16
sk_len = 4 + 8 + len(plain) + tag_len
total = 28 + sk_len
hdr = struct.pack(">QQBBBBII", SPII, SPIR, 46, 0x20, 35, 0x08, 1, total)
skh = struct.pack(">BBH", 40, 0, sk_len)
key, salt = gcm[3][:16], gcm[3][16:]
ct = AESGCM(key).encrypt(salt + iv, plain, hdr + skh)
print("# SK AES-GCM-16-128 message from the initiator")
print((hdr + skh + iv + ct).hex())

# The same inner chain with AES-CBC-256 + HMAC-SHA2-384-192 (the CBC SA), from the
# responder (SK_er, SK_ar), padded to 16 with pad bytes 0.
padlen = (16 - (len(inner) + 1) % 16) % 16
plain = inner + bytes(padlen) + bytes([padlen])
iv = bytes(range(16))
sk_len = 4 + 16 + len(plain) + 24
total = 28 + sk_len
hdr = struct.pack(">QQBBBBII", SPII, SPIR, 46, 0x20, 35, 0x20, 1, total)
skh = struct.pack(">BBH", 40, 0, sk_len)
enc = Cipher(algorithms.AES(cbc[4]), modes.CBC(iv)).encryptor()
ct = enc.update(plain) + enc.finalize()
msg = hdr + skh + iv + ct
icv = hmac.new(cbc[2], msg, hashlib.sha384).digest()[:24]
print("# SK AES-CBC-256/HMAC-SHA2-384-192 message from the responder")
print((msg + icv).hex())
