//! Diffie-Hellman: Curve25519 (RFC 8031) and ECP-256 (RFC 5903) through `aws-lc-rs`,
//! MODP-2048 (RFC 3526) through `crypto-bigint`'s constant-time Montgomery
//! exponentiation; private keys drawn from the caller's RNG.

use core::cmp::Ordering;
use core::fmt;

use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey, X25519};
use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, U512, U2048};
use rand_core::Rng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::error::CryptoError;
use super::secret::Secret;
use super::suite::Group;

/// Attempts at drawing a P-256 private scalar in [1, n-1] before giving up (a random
/// 256-bit value is out of range with probability about 2^-32).
const MAX_SCALAR_DRAWS: usize = 16;

/// The 2048-bit MODP prime (RFC 3526 3): 2^2048 - 2^1984 - 1 + 2^64 * ([2^1918 pi] +
/// 124476), a safe prime; generator 2. (`tests/vectors/modp2048.py` recomputes it from
/// this definition and checks that p and (p-1)/2 are prime.)
const MODP2048_P: Odd<U2048> = Odd::<U2048>::from_be_hex(PRIME_HEX);

const PRIME_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
);

/// Bits of the MODP private exponent: 512, over twice the group's ~112-bit strength
/// (RFC 3526 8 asks for at least twice).
const MODP_EXPONENT_BYTES: usize = 64;

enum Key {
    Ec(PrivateKey),
    Modp(Zeroizing<U512>),
}

/// An ephemeral Diffie-Hellman private key (one per KE payload).
pub struct DhPrivate {
    group: Group,
    key: Key,
    public: Vec<u8>,
}

impl fmt::Debug for DhPrivate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhPrivate")
            .field("group", &self.group)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl DhPrivate {
    /// Draws a private key for `group` from `rng`. With Curve25519 the 32 random bytes
    /// are the private key (RFC 7748 5 clamps them); with ECP-256 they are the scalar,
    /// drawn again if out of range.
    pub fn generate<R: Rng + ?Sized>(group: Group, rng: &mut R) -> Result<Self, CryptoError> {
        let alg = match group {
            Group::Curve25519 => &X25519,
            Group::Ecp256 => &ECDH_P256,
            Group::Modp2048 => {
                let mut bytes = Zeroizing::new([0u8; MODP_EXPONENT_BYTES]);
                for _ in 0..MAX_SCALAR_DRAWS {
                    rng.fill_bytes(&mut bytes[..]);
                    if let Ok(k) = Self::from_bytes(group, &bytes[..]) {
                        return Ok(k);
                    }
                }
                return Err(CryptoError::Backend);
            }
        };
        let mut bytes = Zeroizing::new([0u8; 32]);
        let mut key = None;
        for _ in 0..MAX_SCALAR_DRAWS {
            rng.fill_bytes(&mut bytes[..]);
            if let Ok(k) = PrivateKey::from_private_key(alg, &bytes[..]) {
                key = Some(k);
                break;
            }
        }
        let key = key.ok_or(CryptoError::Backend)?;
        Self::from_key(group, key)
    }

    /// A private key from its bytes (X25519: the 32-byte scalar before clamping;
    /// ECP-256: the big-endian scalar; MODP-2048: the 64-byte big-endian exponent, not
    /// zero). For known-answer tests and key import.
    pub fn from_bytes(group: Group, bytes: &[u8]) -> Result<Self, CryptoError> {
        let alg = match group {
            Group::Curve25519 => &X25519,
            Group::Ecp256 => &ECDH_P256,
            Group::Modp2048 => {
                if bytes.len() != MODP_EXPONENT_BYTES || bool::from(bytes.ct_eq(&[0u8; 64])) {
                    return Err(CryptoError::Backend);
                }
                let x = Zeroizing::new(U512::from_be_slice(bytes));
                let public = modp_pow(&U2048::from_u8(2), &x);
                return Ok(DhPrivate {
                    group,
                    key: Key::Modp(x),
                    public,
                });
            }
        };
        let key = PrivateKey::from_private_key(alg, bytes).map_err(|_| CryptoError::Backend)?;
        Self::from_key(group, key)
    }

    fn from_key(group: Group, key: PrivateKey) -> Result<Self, CryptoError> {
        let public = key.compute_public_key().map_err(|_| CryptoError::Backend)?;
        let public = match group {
            Group::Curve25519 => public.as_ref().to_vec(),
            // SEC1 uncompressed 0x04 | x | y; IKEv2 sends x | y (RFC 5903 7).
            Group::Ecp256 => public
                .as_ref()
                .strip_prefix(&[0x04])
                .ok_or(CryptoError::Backend)?
                .to_vec(),
            Group::Modp2048 => return Err(CryptoError::Backend),
        };
        Ok(DhPrivate {
            group,
            key: Key::Ec(key),
            public,
        })
    }

    /// The group.
    pub fn group(&self) -> Group {
        self.group
    }

    /// The public value, as the KE payload carries it.
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// The shared secret g^ir with the peer's KE data. The value is checked first: its
    /// length; for ECP-256 that the point is on the curve (`aws-lc-rs` rejects it
    /// otherwise) and the secret is x only (RFC 5903 7); for Curve25519 that the result
    /// is not all zero (RFC 8031 2, a low-order point).
    pub fn shared_secret(&self, peer: &[u8]) -> Result<Secret, CryptoError> {
        if peer.len() != self.group.public_len() {
            return Err(CryptoError::InvalidPublicValue);
        }
        let secret = match (&self.key, self.group) {
            (Key::Ec(key), Group::Curve25519) => agreement::agree(
                key,
                UnparsedPublicKey::new(&X25519, peer),
                CryptoError::InvalidPublicValue,
                |s| Ok(Secret::from_slice(s)),
            )?,
            (Key::Ec(key), Group::Ecp256) => {
                let mut sec1 = [0u8; 65];
                sec1[0] = 0x04;
                sec1[1..].copy_from_slice(peer);
                agreement::agree(
                    key,
                    UnparsedPublicKey::new(&ECDH_P256, &sec1[..]),
                    CryptoError::InvalidPublicValue,
                    |s| Ok(Secret::from_slice(s)),
                )?
            }
            (Key::Modp(x), Group::Modp2048) => {
                // The peer's value is public: 1 < y < p - 1 rules out the only small
                // subgroups of a safe prime ({1} and {1, p - 1}).
                let y = U2048::from_be_slice(peer);
                let p_minus_1 = MODP2048_P.get().wrapping_sub(&U2048::ONE);
                if y.cmp_vartime(&U2048::ONE) != Ordering::Greater
                    || y.cmp_vartime(&p_minus_1) != Ordering::Less
                {
                    return Err(CryptoError::InvalidPublicValue);
                }
                // g^ir as a fixed-length big-endian value, leading zeros kept (RFC 7296 2.14).
                let z = Secret::new(modp_pow(&y, x));
                let mut one = [0u8; 256];
                one[255] = 1;
                if bool::from(z.expose().ct_eq(&one)) {
                    return Err(CryptoError::InvalidPublicValue);
                }
                z
            }
            _ => return Err(CryptoError::Backend),
        };
        // aws-lc-rs already refuses an all-zero X25519 output; checked again here so the
        // property does not rest on a backend detail.
        let zero = [0u8; 256];
        let n = secret.len().min(zero.len());
        if secret.is_empty() || bool::from(secret.expose()[..n].ct_eq(&zero[..n])) {
            return Err(CryptoError::InvalidPublicValue);
        }
        Ok(secret)
    }
}

/// base^x mod p over the MODP-2048 prime, constant time in `x` (all 512 bits are
/// processed); 256 big-endian bytes. Intermediates are wiped.
fn modp_pow(base: &U2048, x: &U512) -> Vec<u8> {
    let params = FixedMontyParams::new_vartime(MODP2048_P);
    let mut m = FixedMontyForm::new(base, &params).pow(x);
    let r = Zeroizing::new(m.retrieve());
    m.zeroize();
    let bytes = Zeroizing::new(r.to_be_bytes());
    bytes.as_ref().to_vec()
}
