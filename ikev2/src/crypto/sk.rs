//! The Encrypted and Authenticated payload (RFC 7296 3.14): AEAD per RFC 5282 (AES-GCM)
//! and RFC 7634 (ChaCha20-Poly1305), or AES-CBC with an HMAC-SHA2 checksum (RFC 4868).

use core::fmt;

use aws_lc_rs::aead::{
    AES_128_GCM, AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey,
};
use aws_lc_rs::cipher::{
    AES_128, AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext,
    UnboundCipherKey,
};
use aws_lc_rs::hmac;
use rand_core::Rng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::wire::{
    GENERIC_HEADER_LEN, GenericHeader, HEADER_LEN, IkeHeader, Message, Payload, PayloadType,
    decode_chain, encode_chain,
};

use super::error::CryptoError;
use super::keys::IkeKeys;
use super::suite::{Encr, IkeSuite, Integ};

/// A decrypted message: the outer header and the payloads that were inside the SK
/// payload (unprotected payloads before it, if any, are dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The IKE header (authenticated).
    pub header: IkeHeader,
    /// The inner payloads, parsed but not validated (see
    /// [`validate_chain`](crate::wire::validate_chain)).
    pub payloads: Vec<Payload>,
}

enum Cipher {
    Aead {
        key: LessSafeKey,
        salt: Zeroizing<[u8; 4]>,
    },
    Cbc(Box<CbcKeys>),
}

struct CbcKeys {
    enc: EncryptingKey,
    dec: DecryptingKey,
    mac: hmac::Key,
    icv_len: usize,
}

/// One direction's keys.
struct Direction {
    cipher: Cipher,
}

impl Direction {
    fn new(
        encr: Encr,
        integ: Option<Integ>,
        ekey: &[u8],
        akey: &[u8],
    ) -> Result<Self, CryptoError> {
        if ekey.len() != encr.key_material_len() {
            return Err(CryptoError::Backend);
        }
        let cipher = if encr.is_aead() {
            let alg = match encr {
                Encr::AesGcm16_128 => &AES_128_GCM,
                Encr::AesGcm16_256 => &AES_256_GCM,
                _ => &CHACHA20_POLY1305,
            };
            let (k, s) = ekey.split_at(ekey.len() - 4);
            let key = LessSafeKey::new(UnboundKey::new(alg, k).map_err(|_| CryptoError::Backend)?);
            let mut salt = Zeroizing::new([0u8; 4]);
            salt.copy_from_slice(s);
            Cipher::Aead { key, salt }
        } else {
            let integ = integ.ok_or(CryptoError::Backend)?;
            let alg = if ekey.len() == 16 { &AES_128 } else { &AES_256 };
            let unbound = || UnboundCipherKey::new(alg, ekey).map_err(|_| CryptoError::Backend);
            let mac_alg = match integ {
                Integ::HmacSha1_96 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
                Integ::HmacSha256_128 => hmac::HMAC_SHA256,
                Integ::HmacSha384_192 => hmac::HMAC_SHA384,
                Integ::HmacSha512_256 => hmac::HMAC_SHA512,
            };
            if akey.len() != integ.key_len() {
                return Err(CryptoError::Backend);
            }
            Cipher::Cbc(Box::new(CbcKeys {
                enc: EncryptingKey::cbc(unbound()?).map_err(|_| CryptoError::Backend)?,
                dec: DecryptingKey::cbc(unbound()?).map_err(|_| CryptoError::Backend)?,
                mac: hmac::Key::new(mac_alg, akey),
                icv_len: integ.icv_len(),
            }))
        };
        Ok(Direction { cipher })
    }
}

/// Protection of IKE messages with the SK payload (RFC 7296 3.14), keyed for one end of
/// an IKE SA: messages are sealed with the keys of this end's role and opened with the
/// peer's. Keep one `SkCipher` per IKE SA (its AEAD IV counter must not restart under
/// the same key).
pub struct SkCipher {
    encr: Encr,
    icv_len: usize,
    out: Direction,
    inb: Direction,
    /// Next AEAD IV (RFC 5282 3.1: must not repeat under a key). Starts at a random
    /// value drawn on the first seal, then counts.
    next_iv: Option<u64>,
}

impl fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkCipher")
            .field("encr", &self.encr)
            .field("icv_len", &self.icv_len)
            .finish_non_exhaustive()
    }
}

impl SkCipher {
    /// Keys the SK payload of an IKE SA. `initiator`: whether this end is the original
    /// initiator of the IKE SA (for a rekeyed IKE SA: of the rekey exchange), which
    /// seals with SK_ei/SK_ai and opens with SK_er/SK_ar.
    pub fn new(suite: &IkeSuite, keys: &IkeKeys, initiator: bool) -> Result<Self, CryptoError> {
        if !suite.is_valid() {
            return Err(CryptoError::Backend);
        }
        let i = Direction::new(
            suite.encr,
            suite.integ,
            keys.sk_ei.expose(),
            keys.sk_ai.expose(),
        )?;
        let r = Direction::new(
            suite.encr,
            suite.integ,
            keys.sk_er.expose(),
            keys.sk_ar.expose(),
        )?;
        let (out, inb) = if initiator { (i, r) } else { (r, i) };
        Ok(SkCipher {
            encr: suite.encr,
            icv_len: suite.integ.map_or(suite.encr.tag_len(), |i| i.icv_len()),
            out,
            inb,
            next_iv: None,
        })
    }

    fn padded_len(&self, chain_len: usize) -> usize {
        let b = self.encr.block_len();
        (chain_len + 1).div_ceil(b) * b
    }

    /// Length of the whole datagram [`seal`](Self::seal) produces for payloads whose
    /// chain encodes to `chain_len` bytes (for refusing oversized messages up front).
    pub fn sealed_len(&self, chain_len: usize) -> usize {
        HEADER_LEN
            + GENERIC_HEADER_LEN
            + self.encr.iv_len()
            + self.padded_len(chain_len)
            + self.icv_len
    }

    /// Builds a whole protected message: `header` (its Next Payload and Length are set
    /// here) followed by one SK payload holding `payloads`. The IV is drawn from `rng`
    /// (CBC: random per message, RFC 7296 3.14) or counts from a random start (AEAD).
    pub fn seal<R: Rng + ?Sized>(
        &mut self,
        header: IkeHeader,
        payloads: &[Payload],
        rng: &mut R,
    ) -> Result<Vec<u8>, CryptoError> {
        let (first, chain) = encode_chain(payloads)?;
        let chain = Zeroizing::new(chain);
        let padded = self.padded_len(chain.len());
        let iv_len = self.encr.iv_len();
        let sk_len = GENERIC_HEADER_LEN + iv_len + padded + self.icv_len;
        if sk_len > u16::MAX as usize {
            return Err(CryptoError::TooLong);
        }
        let total = HEADER_LEN + sk_len;
        let mut header = header;
        header.next_payload = PayloadType::SK;
        header.length = total as u32;
        let mut out = Vec::with_capacity(total);
        header.emit(&mut out);
        GenericHeader {
            next_payload: first,
            critical: false,
            length: sk_len as u16,
        }
        .emit(&mut out);
        let iv_start = out.len();
        match &self.out.cipher {
            Cipher::Aead { .. } => {
                let iv = match self.next_iv {
                    Some(v) => v,
                    None => rng.next_u64(),
                };
                self.next_iv = Some(iv.wrapping_add(1));
                out.extend_from_slice(&iv.to_be_bytes());
            }
            Cipher::Cbc(_) => {
                let mut iv = [0u8; 16];
                rng.fill_bytes(&mut iv);
                out.extend_from_slice(&iv);
            }
        }
        let ct_start = out.len();
        out.extend_from_slice(&chain);
        let pad = padded - chain.len() - 1;
        out.resize(out.len() + pad, 0);
        out.push(pad as u8);
        match &self.out.cipher {
            Cipher::Aead { key, salt } => {
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(&salt[..]);
                nonce[4..].copy_from_slice(&out[iv_start..ct_start]);
                let (aad, rest) = out.split_at_mut(iv_start);
                let tag = key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&aad[..]),
                        &mut rest[ct_start - iv_start..],
                    )
                    .map_err(|_| CryptoError::Backend)?;
                out.extend_from_slice(tag.as_ref());
            }
            Cipher::Cbc(c) => {
                let CbcKeys {
                    enc, mac, icv_len, ..
                } = &**c;
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&out[iv_start..ct_start]);
                enc.less_safe_encrypt(&mut out[ct_start..], EncryptionContext::Iv128(iv.into()))
                    .map_err(|_| CryptoError::Backend)?;
                // RFC 7296 3.14: the checksum covers the whole message from the IKE
                // header through the Pad Length (encrypted).
                let tag = hmac::sign(mac, &out);
                out.extend_from_slice(&tag.as_ref()[..*icv_len]);
            }
        }
        debug_assert_eq!(out.len(), total);
        Ok(out)
    }

    /// Checks and decrypts a protected message (one whole datagram, without the non-ESP
    /// marker). The integrity check comes before any use of the plaintext; a failure is
    /// [`CryptoError::Integrity`] (RFC 7296 2.21.2: drop silently).
    pub fn open(&self, datagram: &[u8]) -> Result<Opened, CryptoError> {
        let msg = Message::decode(datagram)?;
        let sk = msg.sk().ok_or(CryptoError::NotEncrypted)?;
        let body_start = datagram.len() - sk.body.len();
        let iv_len = self.encr.iv_len();
        let body_len = sk.body.len();
        if body_len < iv_len + self.icv_len + 1 {
            return Err(CryptoError::SkLength(body_len));
        }
        let ct_start = body_start + iv_len;
        let icv_start = datagram.len() - self.icv_len;
        let mut plain = Zeroizing::new(datagram[ct_start..icv_start].to_vec());
        match &self.inb.cipher {
            Cipher::Aead { key, salt } => {
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(&salt[..]);
                nonce[4..].copy_from_slice(&datagram[body_start..ct_start]);
                key.open_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(&datagram[..body_start]),
                    &datagram[icv_start..],
                    &mut plain[..],
                )
                .map_err(|_| CryptoError::Integrity)?;
            }
            Cipher::Cbc(c) => {
                let CbcKeys {
                    dec, mac, icv_len, ..
                } = &**c;
                if !plain.len().is_multiple_of(16) {
                    return Err(CryptoError::SkLength(body_len));
                }
                let tag = hmac::sign(mac, &datagram[..icv_start]);
                if !bool::from(tag.as_ref()[..*icv_len].ct_eq(&datagram[icv_start..])) {
                    return Err(CryptoError::Integrity);
                }
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&datagram[body_start..ct_start]);
                dec.decrypt(&mut plain[..], DecryptionContext::Iv128(iv.into()))
                    .map_err(|_| CryptoError::Backend)?;
            }
        }
        let pad = *plain.last().ok_or(CryptoError::Padding)? as usize;
        if pad + 1 > plain.len() {
            return Err(CryptoError::Padding);
        }
        let inner_len = plain.len() - pad - 1;
        let payloads = decode_chain(sk.next_payload, &plain[..inner_len], ct_start)?;
        Ok(Opened {
            header: msg.header,
            payloads,
        })
    }
}
