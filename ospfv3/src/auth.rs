//! The OSPFv3 authentication trailer (RFC 7166).
//!
//! The trailer follows the packet and the optional LLS block; the packet's length
//! field does not count it, the IPv6 payload length does. Its digest is
//! HMAC-SHA-1/256/384/512 (RFC 7166 4.3) computed as section 4.5 says:
//!
//! * the key is `Ks = K || 0x0001` (the OSPFv3 Cryptographic Protocol ID), brought to
//!   exactly L bytes (the hash length): zero-padded when shorter, hashed when longer;
//! * the text is the packet, the LLS block, and the trailer whose Authentication Data
//!   holds `Apad`: the IPv6 source address followed by 0x878FE1F3 repeated to L bytes;
//! * the digest replaces `Apad` in the trailer sent.
//!
//! The packet checksum is not used with a trailer (RFC 7166 4.2): it is set to 0
//! before the digest is computed and not checked on receipt.
//!
//! HMAC and the hashes come from the RustCrypto `hmac`, `sha1` and `sha2` crates, and
//! the digest comparison from `subtle` (constant time): primitives are never written
//! here.

use std::net::Ipv6Addr;

use bytes::BufMut;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::checksum::PACKET_CHECKSUM_OFFSET;
use crate::error::{DecodeError, Result};
use crate::packet::split_payload;
use crate::reader::Reader;

/// Authentication Type 1: HMAC cryptographic authentication.
pub const AUTH_TYPE_HMAC: u16 = 1;
/// The OSPFv3 Cryptographic Protocol ID appended to the key (RFC 7166 4.4, IANA).
pub const CRYPTO_PROTOCOL_ID: u16 = 0x0001;
/// The word that pads the source address to the hash length in Apad.
pub const APAD_WORD: u32 = 0x878F_E1F3;
/// Length of the trailer before the Authentication Data.
pub const TRAILER_FIXED_LEN: usize = 16;

/// The authentication trailer (RFC 7166 4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthTrailer {
    /// Authentication Type (1 for HMAC).
    pub auth_type: u16,
    /// Reserved; sent as 0, ignored on receipt but covered by the digest.
    pub reserved: u16,
    /// Security Association ID: selects algorithm and key.
    pub sa_id: u16,
    /// The 64-bit cryptographic sequence number.
    pub sequence: u64,
    /// The digest.
    pub auth_data: Vec<u8>,
}

impl AuthTrailer {
    /// Decodes a trailer that fills `buf` exactly.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        Self::decode_at(buf, 0)
    }

    /// Decodes a trailer that fills `buf`, reporting offsets from `offset`.
    pub(crate) fn decode_at(buf: &[u8], offset: usize) -> Result<Self> {
        let mut r = Reader::new(buf, offset);
        let auth_type = r.u16("trailer Authentication Type")?;
        let len = usize::from(r.u16("trailer Auth Data Len")?);
        if len < TRAILER_FIXED_LEN || len != buf.len() {
            return Err(DecodeError::BadTrailer {
                offset,
                reason: "Auth Data Len differs from the bytes after the packet",
            });
        }
        let reserved = r.u16("trailer reserved")?;
        let sa_id = r.u16("trailer SA ID")?;
        let sequence = r.u64("trailer sequence number")?;
        let auth_data = r.bytes("trailer Authentication Data", len - TRAILER_FIXED_LEN)?;
        Ok(Self {
            auth_type,
            reserved,
            sa_id,
            sequence,
            auth_data: auth_data.to_vec(),
        })
    }

    /// Bytes of the trailer.
    pub fn encoded_len(&self) -> usize {
        TRAILER_FIXED_LEN + self.auth_data.len()
    }

    /// Writes the trailer.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        self.encode_fixed(buf);
        buf.put_slice(&self.auth_data);
    }

    fn encode_fixed<B: BufMut>(&self, buf: &mut B) {
        buf.put_u16(self.auth_type);
        buf.put_u16(self.encoded_len() as u16);
        buf.put_u16(self.reserved);
        buf.put_u16(self.sa_id);
        buf.put_u64(self.sequence);
    }
}

/// The HMAC algorithms of RFC 7166 4.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HmacAlgorithm {
    /// HMAC-SHA-1 (SHOULD).
    Sha1,
    /// HMAC-SHA-256 (MUST, the default).
    Sha256,
    /// HMAC-SHA-384 (MAY).
    Sha384,
    /// HMAC-SHA-512 (MAY).
    Sha512,
}

impl HmacAlgorithm {
    /// L: the digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Ko: `key || 0x0001`, zero-padded to L bytes, or hashed when longer than L.
    fn prepare_key(self, key: &[u8]) -> Vec<u8> {
        self.prepare_key_with_id(key, CRYPTO_PROTOCOL_ID.to_be_bytes())
    }

    /// Ko with the Crypto Protocol ID appended as the given two bytes.
    fn prepare_key_with_id(self, key: &[u8], id: [u8; 2]) -> Vec<u8> {
        // Room for the zero padding too, so no copy of the key is left behind by a
        // reallocation.
        let mut ks = Vec::with_capacity((key.len() + 2).max(self.digest_len()));
        ks.extend_from_slice(key);
        ks.extend_from_slice(&id);
        let l = self.digest_len();
        if ks.len() > l {
            let ko = match self {
                Self::Sha1 => Sha1::digest(&ks).to_vec(),
                Self::Sha256 => Sha256::digest(&ks).to_vec(),
                Self::Sha384 => Sha384::digest(&ks).to_vec(),
                Self::Sha512 => Sha512::digest(&ks).to_vec(),
            };
            zeroize::Zeroize::zeroize(&mut ks);
            ko
        } else {
            ks.resize(l, 0);
            ks
        }
    }

    /// HMAC over the concatenation of `parts` with the prepared key.
    fn hmac(self, ko: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        macro_rules! run {
            ($h:ty) => {{
                // Ko is at most L <= B bytes, which every HMAC key size accepts.
                let mut mac =
                    <Hmac<$h> as Mac>::new_from_slice(ko).expect("HMAC takes any key length");
                for p in parts {
                    mac.update(p);
                }
                mac.finalize().into_bytes().to_vec()
            }};
        }
        match self {
            Self::Sha1 => run!(Sha1),
            Self::Sha256 => run!(Sha256),
            Self::Sha384 => run!(Sha384),
            Self::Sha512 => run!(Sha512),
        }
    }
}

/// Apad: the source address, then 0x878FE1F3 repeated, `len` bytes in all.
pub fn apad(src: &Ipv6Addr, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&src.octets());
    while v.len() < len {
        v.extend_from_slice(&APAD_WORD.to_be_bytes());
    }
    v.truncate(len);
    v
}

/// Why a packet failed authentication.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The payload does not split into packet, LLS block and trailer.
    #[error("malformed payload: {0}")]
    Malformed(#[from] DecodeError),
    /// No trailer follows the packet.
    #[error("authentication trailer missing")]
    Missing,
    /// The Authentication Type is not HMAC.
    #[error("unsupported authentication type {0}")]
    UnsupportedType(u16),
    /// The SA ID is not the one of this security association.
    #[error("SA ID {found} does not match {expected}")]
    UnknownSa {
        /// The SA ID configured.
        expected: u16,
        /// The SA ID received.
        found: u16,
    },
    /// The digest length does not match the algorithm.
    #[error("digest of {found} bytes, algorithm needs {expected}")]
    DigestLength {
        /// L of the algorithm.
        expected: usize,
        /// Bytes received.
        found: usize,
    },
    /// The digest does not verify.
    #[error("digest does not verify")]
    DigestMismatch,
}

/// An OSPFv3 security association (RFC 7166 3): SA ID, algorithm and key.
#[derive(Clone)]
pub struct SecurityAssociation {
    /// The SA ID sent in the trailer.
    pub sa_id: u16,
    /// The HMAC algorithm.
    pub algorithm: HmacAlgorithm,
    /// Ko, prepared once from the key.
    ko: Vec<u8>,
}

impl core::fmt::Debug for SecurityAssociation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecurityAssociation")
            .field("sa_id", &self.sa_id)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Drop for SecurityAssociation {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.ko);
    }
}

impl SecurityAssociation {
    /// A security association with authentication key `key` (K).
    pub fn new(sa_id: u16, algorithm: HmacAlgorithm, key: &[u8]) -> Self {
        Self {
            sa_id,
            algorithm,
            ko: algorithm.prepare_key(key),
        }
    }

    /// Like [`SecurityAssociation::new`], but with the Crypto Protocol ID appended
    /// to the key in little-endian order (`01 00`) instead of RFC 7166's `00 01`.
    /// FRRouting's ospf6d (checked with 8.4.4) derives its key that way, so this is
    /// needed to interoperate with it; it is not RFC 7166.
    pub fn new_frr_compat(sa_id: u16, algorithm: HmacAlgorithm, key: &[u8]) -> Self {
        Self {
            sa_id,
            algorithm,
            ko: algorithm.prepare_key_with_id(key, CRYPTO_PROTOCOL_ID.to_le_bytes()),
        }
    }

    /// A short fingerprint of the SA (SA ID, algorithm, prepared key) under which
    /// replay state is remembered; not the key and not reversible to it.
    pub(crate) fn fingerprint(&self) -> [u8; 8] {
        let mut h = Sha256::new();
        h.update(b"ospfv3 replay state");
        h.update(self.sa_id.to_be_bytes());
        h.update([self.algorithm.digest_len() as u8]);
        h.update(&self.ko);
        let d = h.finalize();
        let mut f = [0u8; 8];
        f.copy_from_slice(&d[..8]);
        f
    }

    /// Computes the digest over `covered` (packet and LLS block, as sent) and the
    /// trailer `fixed` fields, with Apad in place of the Authentication Data.
    fn digest(&self, src: &Ipv6Addr, covered: &[u8], trailer: &AuthTrailer) -> Vec<u8> {
        let l = self.algorithm.digest_len();
        let mut fixed = Vec::with_capacity(TRAILER_FIXED_LEN);
        let shaped = AuthTrailer {
            auth_data: Vec::new(),
            ..trailer.clone()
        };
        // The length field must announce the full trailer, digest included.
        fixed.put_u16(shaped.auth_type);
        fixed.put_u16((TRAILER_FIXED_LEN + l) as u16);
        fixed.put_u16(shaped.reserved);
        fixed.put_u16(shaped.sa_id);
        fixed.put_u64(shaped.sequence);
        self.algorithm
            .hmac(&self.ko, &[covered, &fixed, &apad(src, l)])
    }

    /// Builds the trailer for `covered` (packet and LLS block) sent from `src`.
    pub fn trailer(&self, src: &Ipv6Addr, covered: &[u8], sequence: u64) -> AuthTrailer {
        let mut t = AuthTrailer {
            auth_type: AUTH_TYPE_HMAC,
            reserved: 0,
            sa_id: self.sa_id,
            sequence,
            auth_data: Vec::new(),
        };
        t.auth_data = self.digest(src, covered, &t);
        t
    }

    /// Signs an encoded packet (and LLS block) in `buf`: zeroes the packet checksum
    /// (RFC 7166 4.2), then appends the trailer. The packet's Hello or DD options
    /// should carry the AT bit.
    pub fn append_trailer(&self, src: &Ipv6Addr, buf: &mut Vec<u8>, sequence: u64) {
        if buf.len() >= PACKET_CHECKSUM_OFFSET + 2 {
            buf[PACKET_CHECKSUM_OFFSET..PACKET_CHECKSUM_OFFSET + 2].fill(0);
        }
        let t = self.trailer(src, buf, sequence);
        t.encode(buf);
    }

    /// Verifies `trailer` for `covered` (packet and LLS block as received), in
    /// constant time for the digest comparison.
    pub fn verify(
        &self,
        src: &Ipv6Addr,
        covered: &[u8],
        trailer: &AuthTrailer,
    ) -> core::result::Result<(), AuthError> {
        if trailer.auth_type != AUTH_TYPE_HMAC {
            return Err(AuthError::UnsupportedType(trailer.auth_type));
        }
        if trailer.sa_id != self.sa_id {
            return Err(AuthError::UnknownSa {
                expected: self.sa_id,
                found: trailer.sa_id,
            });
        }
        let l = self.algorithm.digest_len();
        if trailer.auth_data.len() != l {
            return Err(AuthError::DigestLength {
                expected: l,
                found: trailer.auth_data.len(),
            });
        }
        let expected = self.digest(src, covered, trailer);
        if bool::from(expected.ct_eq(&trailer.auth_data)) {
            Ok(())
        } else {
            Err(AuthError::DigestMismatch)
        }
    }

    /// Verifies a whole received payload (packet, LLS block, trailer) and returns the
    /// trailer's sequence number for the caller's replay check (RFC 7166 4.1: it must
    /// exceed the last one accepted from that neighbor for that packet type).
    pub fn verify_payload(
        &self,
        src: &Ipv6Addr,
        payload: &[u8],
    ) -> core::result::Result<u64, AuthError> {
        let parts = split_payload(payload)?;
        let raw = parts.trailer.ok_or(AuthError::Missing)?;
        let covered_len = parts.authenticated_len();
        let trailer = AuthTrailer::decode_at(raw, covered_len)?;
        self.verify(src, &payload[..covered_len], &trailer)?;
        Ok(trailer.sequence)
    }
}

/// One step of the sending sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceStep {
    /// The value to put in the trailer.
    pub sequence: u64,
    /// When set, the new high half must be written to stable storage before the
    /// packet is sent (RFC 7166 4.1.1).
    pub persist_high: Option<u32>,
}

/// The sender's 64-bit cryptographic sequence number. The high half counts restarts
/// and low-half wraps and must survive restarts; this type only says when to persist
/// it (the caller owns storage, as nothing here does I/O).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CryptoSequence {
    next: u64,
}

impl CryptoSequence {
    /// Resumes after a (re)start. `stored_high` is the last persisted high half, or
    /// `None` on first boot. Returns the counter and the high half the caller must
    /// persist before sending; `None` if the 64-bit space is spent and keys must be
    /// changed (RFC 7166 4.1.1).
    pub fn resume(stored_high: Option<u32>) -> Option<(Self, u32)> {
        let high = match stored_high {
            None => 0,
            Some(h) => h.checked_add(1)?,
        };
        Some((
            Self {
                next: (u64::from(high) << 32) | 1,
            },
            high,
        ))
    }

    /// The next sequence number; `None` once the 64-bit space is spent.
    pub fn next_step(&mut self) -> Option<SequenceStep> {
        let sequence = self.next;
        let next = sequence.checked_add(1)?;
        self.next = next;
        let persist_high = (next as u32 == 0).then_some((next >> 32) as u32);
        Some(SequenceStep {
            sequence,
            persist_high,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apad_is_source_then_pattern() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let a = apad(&src, 20);
        assert_eq!(&a[..16], &src.octets());
        assert_eq!(&a[16..], &[0x87, 0x8f, 0xe1, 0xf3]);
        assert_eq!(apad(&src, 64).len(), 64);
        assert_eq!(&apad(&src, 64)[60..], &[0x87, 0x8f, 0xe1, 0xf3]);
    }

    #[test]
    fn key_preparation() {
        // Shorter than L: K || 0x0001 then zeros.
        let ko = HmacAlgorithm::Sha256.prepare_key(b"abc");
        assert_eq!(&ko[..5], b"abc\x00\x01");
        assert_eq!(ko.len(), 32);
        assert!(ko[5..].iter().all(|&b| b == 0));
        // Longer than L: H(K || 0x0001).
        let long = [7u8; 40];
        let mut ks = long.to_vec();
        ks.extend_from_slice(&[0, 1]);
        assert_eq!(
            HmacAlgorithm::Sha1.prepare_key(&long),
            Sha1::digest(&ks).to_vec()
        );
    }

    #[test]
    fn sequence_persists_high_half_on_wrap() {
        let (mut s, high) = CryptoSequence::resume(Some(4)).unwrap();
        assert_eq!(high, 5);
        assert_eq!(s.next_step().unwrap().sequence, (5 << 32) | 1);
        s.next = (5 << 32) | 0xFFFF_FFFF;
        let step = s.next_step().unwrap();
        assert_eq!(step.persist_high, Some(6));
        assert_eq!(s.next_step().unwrap().sequence, 6 << 32);
        assert!(CryptoSequence::resume(Some(u32::MAX)).is_none());
        s.next = u64::MAX;
        assert!(s.next_step().is_none());
    }

    #[test]
    fn trailer_length_must_match() {
        let t = [0u8, 1, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9, 9];
        assert!(matches!(
            AuthTrailer::decode(&t),
            Err(DecodeError::BadTrailer { .. })
        ));
    }
}
