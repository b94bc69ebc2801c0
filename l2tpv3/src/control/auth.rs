//! Control message authentication (RFC 3931 sections 4.3 and 5.4.1) and AVP
//! hiding (section 5.3).
//!
//! The primitives come from the RustCrypto crates `hmac`, `md-5` and `sha1`, and
//! digests are compared with `subtle` in constant time: nothing here is hand-rolled.
//!
//! * Keys: the digest key is `HMAC-MD5(secret, 0x02)`, the hiding key
//!   `HMAC-MD5(secret, 0x01)`, whatever the digest type.
//! * Digest: `HMAC-H(key, sender_nonce || receiver_nonce || message)` over the whole
//!   control message (from the control header on, after the zero Session ID over
//!   IP) with the digest bytes of every Message Digest AVP set to zero. The SCCRQ
//!   carries only its own nonce and is digested without nonces.
//! * The Message Digest AVP immediately follows the 8-byte Message Type AVP, so its
//!   value starts at a fixed offset (27 for the digest itself); a second one may
//!   follow it directly.

use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use rand_core::Rng;
use sha1::Sha1;
use subtle::ConstantTimeEq;
use thiserror::Error;

/// Length of a derived key (an HMAC-MD5 output).
pub const KEY_LEN: usize = 16;
/// Nonce length this crate sends (the RFC recommends at least 16 bytes).
pub const NONCE_LEN: usize = 16;
/// Offset of the first Message Digest AVP in a control message (after the 12-byte
/// header and the 8-byte Message Type AVP).
pub const DIGEST_AVP_OFFSET: usize = 20;

/// The hash in a Message Digest AVP (section 5.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DigestAlgorithm {
    /// Digest Type 0, 16 bytes; every implementation must support it.
    #[default]
    HmacMd5,
    /// Digest Type 1, 20 bytes.
    HmacSha1,
}

impl DigestAlgorithm {
    /// The Digest Type octet.
    pub const fn digest_type(self) -> u8 {
        match self {
            DigestAlgorithm::HmacMd5 => 0,
            DigestAlgorithm::HmacSha1 => 1,
        }
    }

    /// The algorithm for a Digest Type octet.
    pub const fn from_type(t: u8) -> Option<Self> {
        match t {
            0 => Some(DigestAlgorithm::HmacMd5),
            1 => Some(DigestAlgorithm::HmacSha1),
            _ => None,
        }
    }

    /// Bytes of digest output.
    pub const fn digest_len(self) -> usize {
        match self {
            DigestAlgorithm::HmacMd5 => 16,
            DigestAlgorithm::HmacSha1 => 20,
        }
    }

    /// The Message Digest AVP Length: 6 header + 1 type + digest.
    pub const fn avp_len(self) -> usize {
        7 + self.digest_len()
    }
}

/// Why a message failed authentication. None of these changes any state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No valid Message Digest AVP (type 0 with 16 bytes, or type 1 with 20) at
    /// offset 20, where section 5.4.1 requires it.
    #[error("no Message Digest AVP at offset {offset}")]
    MissingDigest {
        /// Where it was expected.
        offset: usize,
    },
    /// The message's header or AVP list does not decode.
    #[error("message does not decode: {0}")]
    Malformed(crate::error::ControlError),
    /// No Message Digest AVP matched the expected value.
    #[error("message digest does not verify")]
    Mismatch,
    /// A hidden AVP's embedded original length exceeds its value.
    #[error("hidden AVP value of {available} bytes claims an original length of {claimed}")]
    BadHiddenLength {
        /// The Length of Original Value field.
        claimed: usize,
        /// Bytes after that field.
        available: usize,
    },
    /// The message's Message Digest AVPs all use another algorithm than the one
    /// configured: the algorithm is pinned, never taken from the message.
    #[error("message digest uses {found:?}, expected {expected:?}")]
    WrongAlgorithm {
        /// The configured algorithm.
        expected: DigestAlgorithm,
        /// The algorithm of the (first) digest in the message.
        found: DigestAlgorithm,
    },
    /// A hidden AVP is shorter than the 2-byte original length field.
    #[error("hidden AVP value of {0} bytes is too short")]
    HiddenTooShort(usize),
}

/// Keys derived from one shared secret; printed as `Keys { .. }` and overwritten
/// with zeros when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    /// `HMAC-MD5(secret, 2)`: the Message Digest key.
    pub digest: [u8; KEY_LEN],
    /// `HMAC-MD5(secret, 1)`: the AVP hiding key.
    pub hiding: [u8; KEY_LEN],
}

impl Drop for Keys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.digest);
        zeroize::Zeroize::zeroize(&mut self.hiding);
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { .. }")
    }
}

impl Keys {
    /// Derives both keys from a shared secret (sections 5.3 and 5.4.1).
    pub fn derive(secret: &[u8]) -> Keys {
        Keys {
            digest: hmac_md5(secret, &[&[2]]),
            hiding: hmac_md5(secret, &[&[1]]),
        }
    }
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = Hmac::<Md5>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// The nonces of a control connection as the *sender* of a message sees them.
///
/// For a message we send, `sender` is our nonce and `receiver` the peer's; to
/// verify a received message the roles swap. The SCCRQ uses [`Nonces::NONE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nonces<'a> {
    /// Nonce of the message's sender ("local_nonce" in section 5.4.1).
    pub sender: &'a [u8],
    /// Nonce of the message's receiver ("remote_nonce").
    pub receiver: &'a [u8],
}

impl Nonces<'_> {
    /// No nonces: the SCCRQ's digest (and the unauthenticated integrity check).
    pub const NONE: Nonces<'static> = Nonces {
        sender: &[],
        receiver: &[],
    };
}

/// Computes the digest of `message`, whose digest fields must already be zero.
pub fn compute_digest(
    algorithm: DigestAlgorithm,
    key: &[u8],
    nonces: Nonces<'_>,
    message: &[u8],
) -> Vec<u8> {
    let parts: [&[u8]; 3] = [nonces.sender, nonces.receiver, message];
    match algorithm {
        DigestAlgorithm::HmacMd5 => hmac_md5(key, &parts).to_vec(),
        DigestAlgorithm::HmacSha1 => hmac_sha1(key, &parts).to_vec(),
    }
}

/// Finds the Message Digest AVPs at their fixed place: `(digest offset, algorithm)`
/// of the first (right after the Message Type AVP) and of a second one directly
/// after it, if present. The AVP walk is the codec's
/// [`crate::message::find_digest_fields`].
fn digest_fields(message: &[u8]) -> Result<Vec<(usize, DigestAlgorithm)>, AuthError> {
    let fields = crate::message::find_digest_fields(message).map_err(AuthError::Malformed)?;
    select_digests(fields)
}

/// The one or two Message Digest AVPs right after the Message Type AVP.
fn select_digests(
    fields: Vec<crate::message::DigestField>,
) -> Result<Vec<(usize, DigestAlgorithm)>, AuthError> {
    let mut found = Vec::with_capacity(2);
    let mut expected = DIGEST_AVP_OFFSET;
    for f in fields {
        let Some(alg) = DigestAlgorithm::from_type(f.digest_type) else {
            break;
        };
        if f.avp_offset != expected || found.len() == 2 {
            break;
        }
        found.push((f.digest.start, alg));
        expected = f.digest.end;
    }
    if found.is_empty() {
        return Err(AuthError::MissingDigest {
            offset: DIGEST_AVP_OFFSET,
        });
    }
    Ok(found)
}

/// Fills the Message Digest AVP(s) of an encoded control message in place.
///
/// `message` starts at the control header and must hold a Message Digest AVP (with
/// any digest bytes) right after the Message Type AVP.
pub fn sign(message: &mut [u8], key: &[u8], nonces: Nonces<'_>) -> Result<(), AuthError> {
    let fields = digest_fields(message)?;
    for &(at, alg) in &fields {
        message[at..at + alg.digest_len()].fill(0);
    }
    for &(at, alg) in &fields {
        let d = compute_digest(alg, key, nonces, message);
        message[at..at + alg.digest_len()].copy_from_slice(&d);
    }
    Ok(())
}

/// Checks a received control message: accepted if one of its (at most two)
/// Message Digest AVPs uses `algorithm` and matches under any of `keys`.
/// Comparison is constant time.
///
/// The algorithm is the receiver's configuration, never the message's choice: a
/// message whose digests all use another algorithm fails with
/// [`AuthError::WrongAlgorithm`], so a sender cannot pick the weaker hash.
pub fn verify(
    message: &[u8],
    algorithm: DigestAlgorithm,
    keys: &[&[u8]],
    nonces: Nonces<'_>,
) -> Result<(), AuthError> {
    verify_at(message, &digest_fields(message)?, algorithm, keys, nonces)
}

/// [`verify`] for a message whose header the caller already decoded: `message`
/// starts at the control header and is cut to its Length.
pub(crate) fn verify_decoded(
    message: &[u8],
    algorithm: DigestAlgorithm,
    keys: &[&[u8]],
    nonces: Nonces<'_>,
) -> Result<(), AuthError> {
    let fields = crate::message::scan_digest_fields(message).map_err(AuthError::Malformed)?;
    verify_at(message, &select_digests(fields)?, algorithm, keys, nonces)
}

fn verify_at(
    message: &[u8],
    fields: &[(usize, DigestAlgorithm)],
    algorithm: DigestAlgorithm,
    keys: &[&[u8]],
    nonces: Nonces<'_>,
) -> Result<(), AuthError> {
    if let Some(&(_, found)) = fields.first()
        && fields.iter().all(|&(_, alg)| alg != algorithm)
    {
        return Err(AuthError::WrongAlgorithm {
            expected: algorithm,
            found,
        });
    }
    // Every digest field is zeroed for the hash (section 5.4.1), whatever its
    // algorithm; only those of the configured one are compared.
    let mut zeroed = message.to_vec();
    for &(at, alg) in fields {
        zeroed[at..at + alg.digest_len()].fill(0);
    }
    let mut ok = subtle::Choice::from(0);
    for &(at, alg) in fields.iter().filter(|&&(_, alg)| alg == algorithm) {
        let received = &message[at..at + alg.digest_len()];
        for key in keys {
            ok |= compute_digest(alg, key, nonces, &zeroed).ct_eq(received);
        }
    }
    if bool::from(ok) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// A fresh nonce from the caller's RNG.
pub(crate) fn new_nonce<R: Rng + ?Sized>(rng: &mut R) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut n);
    n
}

/// Hides an AVP value (section 5.3): `2-byte length || value || padding`, XORed
/// with the MD5 chain seeded by `attr_type || hiding key || random vector`.
pub fn hide(
    hiding_key: &[u8],
    attr_type: u16,
    random_vector: &[u8],
    value: &[u8],
    padding: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + value.len() + padding.len());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.extend_from_slice(padding);
    let mut block = md5_block(&[&attr_type.to_be_bytes(), hiding_key, random_vector]);
    for chunk_start in (0..out.len()).step_by(16) {
        let end = (chunk_start + 16).min(out.len());
        for (b, k) in out[chunk_start..end].iter_mut().zip(block.iter()) {
            *b ^= k;
        }
        // The next block hashes the key with this ciphertext (the full 16 bytes).
        if end < out.len() {
            block = md5_block(&[hiding_key, &out[chunk_start..end]]);
        }
    }
    out
}

/// Reverses [`hide`] and returns the original value without padding.
pub fn unhide(
    hiding_key: &[u8],
    attr_type: u16,
    random_vector: &[u8],
    hidden: &[u8],
) -> Result<Vec<u8>, AuthError> {
    if hidden.len() < 2 {
        return Err(AuthError::HiddenTooShort(hidden.len()));
    }
    let mut out = hidden.to_vec();
    let mut block = md5_block(&[&attr_type.to_be_bytes(), hiding_key, random_vector]);
    for chunk_start in (0..out.len()).step_by(16) {
        let end = (chunk_start + 16).min(out.len());
        let next = md5_block(&[hiding_key, &hidden[chunk_start..end]]);
        for (b, k) in out[chunk_start..end].iter_mut().zip(block.iter()) {
            *b ^= k;
        }
        block = next;
    }
    let claimed = usize::from(u16::from_be_bytes([out[0], out[1]]));
    if claimed > out.len() - 2 {
        return Err(AuthError::BadHiddenLength {
            claimed,
            available: out.len() - 2,
        });
    }
    out.drain(..2);
    out.truncate(claimed);
    Ok(out)
}

fn md5_block(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-built SCCRQ-like message: header, Message Type AVP, an MD5 digest AVP
    /// and a Host Name AVP.
    fn message(alg: DigestAlgorithm) -> Vec<u8> {
        let mut m = vec![0xc8, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0x80, 0x08, 0, 0, 0, 0, 0, 1]);
        m.extend_from_slice(&[0x80, alg.avp_len() as u8, 0, 0, 0, 59, alg.digest_type()]);
        m.extend(std::iter::repeat_n(0xaa, alg.digest_len()));
        m.extend_from_slice(&[0x80, 0x0a, 0, 0, 0, 7, b'l', b'c', b'c', b'e']);
        let len = m.len() as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m
    }

    #[test]
    fn sign_then_verify_both_algorithms() {
        let keys = Keys::derive(b"secret");
        for alg in [DigestAlgorithm::HmacMd5, DigestAlgorithm::HmacSha1] {
            let mut m = message(alg);
            let ours = [1u8; 16];
            let theirs = [2u8; 16];
            let send = Nonces {
                sender: &ours,
                receiver: &theirs,
            };
            sign(&mut m, &keys.digest, send).unwrap();
            let recv = Nonces {
                sender: &ours,
                receiver: &theirs,
            };
            verify(&m, alg, &[&keys.digest], recv).unwrap();
            // Swapped nonces, another key, or one flipped bit all fail.
            let swapped = Nonces {
                sender: &theirs,
                receiver: &ours,
            };
            assert_eq!(
                verify(&m, alg, &[&keys.digest], swapped),
                Err(AuthError::Mismatch)
            );
            let other = Keys::derive(b"other");
            assert_eq!(
                verify(&m, alg, &[&other.digest], recv),
                Err(AuthError::Mismatch)
            );
            // Either of two configured secrets is accepted.
            verify(&m, alg, &[&other.digest, &keys.digest], recv).unwrap();
            let last = m.len() - 1;
            m[last] ^= 1;
            assert_eq!(
                verify(&m, alg, &[&keys.digest], recv),
                Err(AuthError::Mismatch)
            );
            m[last] ^= 1;
            // Pinned: the right key and nonces under another configured algorithm fail.
            let other_alg = match alg {
                DigestAlgorithm::HmacMd5 => DigestAlgorithm::HmacSha1,
                DigestAlgorithm::HmacSha1 => DigestAlgorithm::HmacMd5,
            };
            assert_eq!(
                verify(&m, other_alg, &[&keys.digest], recv),
                Err(AuthError::WrongAlgorithm {
                    expected: other_alg,
                    found: alg
                })
            );
        }
    }

    #[test]
    fn missing_or_bad_digest_avp() {
        let mut m = message(DigestAlgorithm::HmacMd5);
        m[25] = 7; // attribute type no longer 59
        assert_eq!(
            verify(&m, DigestAlgorithm::HmacMd5, &[b"k"], Nonces::NONE),
            Err(AuthError::MissingDigest { offset: 20 })
        );
        let mut m = message(DigestAlgorithm::HmacMd5);
        m[26] = 1; // claims SHA-1 with an MD5-sized AVP
        assert_eq!(
            verify(&m, DigestAlgorithm::HmacMd5, &[b"k"], Nonces::NONE),
            Err(AuthError::MissingDigest { offset: 20 })
        );
        assert!(matches!(
            verify(&m[..22], DigestAlgorithm::HmacMd5, &[b"k"], Nonces::NONE),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn hide_unhide_round_trip() {
        let keys = Keys::derive(b"secret");
        let rv = [9u8; 16];
        for len in [0usize, 1, 13, 14, 15, 30, 100] {
            let value: Vec<u8> = (0..len as u8).collect();
            let hidden = hide(&keys.hiding, 7, &rv, &value, &[0x55; 5]);
            assert_eq!(hidden.len(), 2 + len + 5);
            if len > 0 {
                assert_ne!(&hidden[2..2 + len], &value[..]);
            }
            assert_eq!(unhide(&keys.hiding, 7, &rv, &hidden).unwrap(), value);
            // A different attribute type yields different bytes.
            assert_ne!(unhide(&keys.hiding, 8, &rv, &hidden).ok(), Some(value));
        }
        assert_eq!(
            unhide(&keys.hiding, 7, &rv, &[1]),
            Err(AuthError::HiddenTooShort(1))
        );
    }
}
