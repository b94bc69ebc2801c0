#!/usr/bin/env python3
"""The 2048-bit MODP group (RFC 3526 3) from its definition, and a known answer for
ikev2/tests/known_answers.rs computed with Python's own big integers:
    python3 ikev2/tests/vectors/modp2048.py
p = 2^2048 - 2^1984 - 1 + 2^64 * ([2^1918 pi] + 124476), g = 2.
"""
import random


def arctan_inv(x, unity):
    total = term = unity // x
    x2, n, sign = x * x, 1, -1
    while term:
        term //= x2
        total += sign * (term // (2 * n + 1))
        sign, n = -sign, n + 1
    return total


def is_probable_prime(n, rounds=40):
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    rnd = random.Random(1)
    for _ in range(rounds):
        x = pow(rnd.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


PREC = 2200
unity = 1 << PREC
pi = 4 * (4 * arctan_inv(5, unity) - arctan_inv(239, unity))  # pi * 2^PREC (Machin)
p = 2**2048 - 2**1984 - 1 + 2**64 * ((pi >> (PREC - 1918)) + 124476)
assert is_probable_prime(p) and is_probable_prime((p - 1) // 2), "not a safe prime"
print("p", "%0512x" % p)

xi = int.from_bytes(bytes(range(1, 65)), "big")
xr = int.from_bytes(bytes(range(101, 165)), "big")
yi, yr = pow(2, xi, p), pow(2, xr, p)
z = pow(yr, xi, p)
assert z == pow(yi, xr, p)
print("gi", "%0512x" % yi)
print("gr", "%0512x" % yr)
print("gir", "%0512x" % z)
