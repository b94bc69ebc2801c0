//! AWS-LC primitives through `aws-lc-rs`.

use aws_lc_rs::aead::{
    AES_128_GCM, AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey,
};
use aws_lc_rs::cipher::{
    AES_128, AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext,
    UnboundCipherKey,
};
use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

use super::{Aead, AeadAlgorithm, CbcCipher, IcvMac, MacAlgorithm};
use crate::error::CryptoError;

struct AwsAead(LessSafeKey);

pub(super) fn aead(alg: AeadAlgorithm, key: &[u8]) -> Result<Box<dyn Aead>, CryptoError> {
    let algorithm = match (alg, key.len()) {
        (AeadAlgorithm::AesGcm, 16) => &AES_128_GCM,
        (AeadAlgorithm::AesGcm, _) => &AES_256_GCM,
        (AeadAlgorithm::ChaCha20Poly1305, _) => &CHACHA20_POLY1305,
    };
    let key = UnboundKey::new(algorithm, key).map_err(|_| CryptoError::Backend)?;
    Ok(Box::new(AwsAead(LessSafeKey::new(key))))
}

impl Aead for AwsAead {
    fn seal_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        data: &mut [u8],
        tag: &mut [u8; 16],
    ) -> Result<(), CryptoError> {
        let t = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), data)
            .map_err(|_| CryptoError::Backend)?;
        tag.copy_from_slice(t.as_ref());
        Ok(())
    }

    fn open_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError> {
        self.0
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                tag,
                data,
            )
            .map(|_| ())
            .map_err(|_| CryptoError::Integrity)
    }
}

struct AwsCbc {
    enc: EncryptingKey,
    dec: DecryptingKey,
}

pub(super) fn cbc(key: &[u8]) -> Result<Box<dyn CbcCipher>, CryptoError> {
    let alg = if key.len() == 16 { &AES_128 } else { &AES_256 };
    let unbound = || UnboundCipherKey::new(alg, key).map_err(|_| CryptoError::Backend);
    Ok(Box::new(AwsCbc {
        enc: EncryptingKey::cbc(unbound()?).map_err(|_| CryptoError::Backend)?,
        dec: DecryptingKey::cbc(unbound()?).map_err(|_| CryptoError::Backend)?,
    }))
}

impl CbcCipher for AwsCbc {
    fn encrypt(&self, iv: &[u8; 16], data: &mut [u8]) -> Result<(), CryptoError> {
        self.enc
            .less_safe_encrypt(data, EncryptionContext::Iv128((*iv).into()))
            .map(|_| ())
            .map_err(|_| CryptoError::Backend)
    }

    fn decrypt(&self, iv: &[u8; 16], data: &mut [u8]) -> Result<(), CryptoError> {
        self.dec
            .decrypt(data, DecryptionContext::Iv128((*iv).into()))
            .map(|_| ())
            .map_err(|_| CryptoError::Backend)
    }
}

struct AwsMac(hmac::Key);

pub(super) fn mac(alg: MacAlgorithm, key: &[u8]) -> Box<dyn IcvMac> {
    let alg = match alg {
        MacAlgorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        MacAlgorithm::Sha256 => hmac::HMAC_SHA256,
    };
    Box::new(AwsMac(hmac::Key::new(alg, key)))
}

impl AwsMac {
    fn compute(&self, parts: &[&[u8]]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        for p in parts {
            ctx.update(p);
        }
        ctx.sign()
    }
}

impl IcvMac for AwsMac {
    fn sign(&self, parts: &[&[u8]], out: &mut [u8]) -> Result<(), CryptoError> {
        let tag = self.compute(parts);
        let full = tag.as_ref();
        if out.len() > full.len() {
            return Err(CryptoError::Backend);
        }
        out.copy_from_slice(&full[..out.len()]);
        Ok(())
    }

    fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> Result<(), CryptoError> {
        let full = self.compute(parts);
        let full = full.as_ref();
        if tag.is_empty() || tag.len() > full.len() {
            return Err(CryptoError::Integrity);
        }
        // Truncated HMAC (RFC 2404, RFC 4868): compare the leftmost bytes in constant time.
        if bool::from(full[..tag.len()].ct_eq(tag)) {
            Ok(())
        } else {
            Err(CryptoError::Integrity)
        }
    }
}
