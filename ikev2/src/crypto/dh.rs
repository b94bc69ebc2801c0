//! Diffie-Hellman: Curve25519 (RFC 8031) and ECP-256 (RFC 5903) through `aws-lc-rs`,
//! with private keys drawn from the caller's RNG.

use core::fmt;

use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey, X25519};
use rand_core::Rng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::error::CryptoError;
use super::secret::Secret;
use super::suite::Group;

/// Attempts at drawing a P-256 private scalar in [1, n-1] before giving up (a random
/// 256-bit value is out of range with probability about 2^-32).
const MAX_SCALAR_DRAWS: usize = 16;

/// An ephemeral Diffie-Hellman private key (one per KE payload).
pub struct DhPrivate {
    group: Group,
    key: PrivateKey,
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
    /// ECP-256: the big-endian scalar). For known-answer tests and key import.
    pub fn from_bytes(group: Group, bytes: &[u8]) -> Result<Self, CryptoError> {
        let alg = match group {
            Group::Curve25519 => &X25519,
            Group::Ecp256 => &ECDH_P256,
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
        };
        Ok(DhPrivate { group, key, public })
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
        let secret = match self.group {
            Group::Curve25519 => agreement::agree(
                &self.key,
                UnparsedPublicKey::new(&X25519, peer),
                CryptoError::InvalidPublicValue,
                |s| Ok(Secret::from_slice(s)),
            )?,
            Group::Ecp256 => {
                let mut sec1 = [0u8; 65];
                sec1[0] = 0x04;
                sec1[1..].copy_from_slice(peer);
                agreement::agree(
                    &self.key,
                    UnparsedPublicKey::new(&ECDH_P256, &sec1[..]),
                    CryptoError::InvalidPublicValue,
                    |s| Ok(Secret::from_slice(s)),
                )?
            }
        };
        // aws-lc-rs already refuses an all-zero X25519 output; checked again here so the
        // property does not rest on a backend detail.
        let zero = [0u8; 64];
        let n = secret.len().min(zero.len());
        if secret.is_empty() || bool::from(secret.expose()[..n].ct_eq(&zero[..n])) {
            return Err(CryptoError::InvalidPublicValue);
        }
        Ok(secret)
    }
}
