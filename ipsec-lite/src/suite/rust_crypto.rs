//! Pure-Rust primitives from the RustCrypto project.

use aes::{Aes128, Aes256};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit};
use cbc::cipher::{
    BlockCipher, BlockDecrypt, BlockDecryptMut, BlockEncrypt, BlockEncryptMut, BlockSizeUser,
    InnerIvInit, inout::InOutBuf,
};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

use super::{Aead, AeadAlgorithm, CbcCipher, IcvMac, MacAlgorithm};
use crate::error::CryptoError;

struct RcAead<A>(A);

pub(super) fn aead(alg: AeadAlgorithm, key: &[u8]) -> Result<Box<dyn Aead>, CryptoError> {
    let bad = |_| CryptoError::Backend;
    Ok(match (alg, key.len()) {
        (AeadAlgorithm::AesGcm, 16) => {
            Box::new(RcAead(Aes128Gcm::new_from_slice(key).map_err(bad)?))
        }
        (AeadAlgorithm::AesGcm, _) => {
            Box::new(RcAead(Aes256Gcm::new_from_slice(key).map_err(bad)?))
        }
        (AeadAlgorithm::ChaCha20Poly1305, _) => {
            Box::new(RcAead(ChaCha20Poly1305::new_from_slice(key).map_err(bad)?))
        }
    })
}

impl<A> Aead for RcAead<A>
where
    A: AeadInPlace + Send + Sync,
    A: aes_gcm::aead::AeadCore<
            NonceSize = aes_gcm::aead::consts::U12,
            TagSize = aes_gcm::aead::consts::U16,
        >,
{
    fn seal_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        data: &mut [u8],
        tag: &mut [u8; 16],
    ) -> Result<(), CryptoError> {
        let t = self
            .0
            .encrypt_in_place_detached(nonce.into(), aad, data)
            .map_err(|_| CryptoError::Backend)?;
        tag.copy_from_slice(&t);
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
            .decrypt_in_place_detached(nonce.into(), aad, data, tag.into())
            .map_err(|_| CryptoError::Integrity)
    }
}

struct RcCbc<C>(C);

pub(super) fn cbc(key: &[u8]) -> Result<Box<dyn CbcCipher>, CryptoError> {
    let bad = |_| CryptoError::Backend;
    Ok(if key.len() == 16 {
        Box::new(RcCbc(Aes128::new_from_slice(key).map_err(bad)?))
    } else {
        Box::new(RcCbc(Aes256::new_from_slice(key).map_err(bad)?))
    })
}

fn blocks(data: &mut [u8]) -> Result<InOutBuf<'_, '_, cbc::cipher::Block<Aes128>>, CryptoError> {
    let (blocks, tail) = InOutBuf::from(data).into_chunks();
    if !tail.is_empty() {
        return Err(CryptoError::Backend);
    }
    Ok(blocks)
}

impl<C> CbcCipher for RcCbc<C>
where
    C: BlockCipher
        + BlockEncrypt
        + BlockDecrypt
        + BlockSizeUser<BlockSize = cbc::cipher::consts::U16>
        + Clone
        + Send
        + Sync,
{
    fn encrypt(&self, iv: &[u8; 16], data: &mut [u8]) -> Result<(), CryptoError> {
        let b = blocks(data)?;
        cbc::Encryptor::<C>::inner_iv_init(self.0.clone(), iv.into()).encrypt_blocks_inout_mut(b);
        Ok(())
    }

    fn decrypt(&self, iv: &[u8; 16], data: &mut [u8]) -> Result<(), CryptoError> {
        let b = blocks(data)?;
        cbc::Decryptor::<C>::inner_iv_init(self.0.clone(), iv.into()).decrypt_blocks_inout_mut(b);
        Ok(())
    }
}

enum RcMac {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
}

pub(super) fn mac(alg: MacAlgorithm, key: &[u8]) -> Result<Box<dyn IcvMac>, CryptoError> {
    let bad = |_| CryptoError::Backend;
    Ok(Box::new(match alg {
        MacAlgorithm::Sha1 => RcMac::Sha1(<Hmac<Sha1> as Mac>::new_from_slice(key).map_err(bad)?),
        MacAlgorithm::Sha256 => {
            RcMac::Sha256(<Hmac<Sha256> as Mac>::new_from_slice(key).map_err(bad)?)
        }
    }))
}

fn feed<M: Mac + Clone>(m: &M, parts: &[&[u8]]) -> M {
    let mut m = m.clone();
    for p in parts {
        m.update(p);
    }
    m
}

impl IcvMac for RcMac {
    fn sign(&self, parts: &[&[u8]], out: &mut [u8]) -> Result<(), CryptoError> {
        let full = match self {
            RcMac::Sha1(m) => feed(m, parts).finalize().into_bytes().to_fixed(),
            RcMac::Sha256(m) => feed(m, parts).finalize().into_bytes().to_fixed(),
        };
        let full = &full.0[..full.1];
        if out.len() > full.len() {
            return Err(CryptoError::Backend);
        }
        out.copy_from_slice(&full[..out.len()]);
        Ok(())
    }

    fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> Result<(), CryptoError> {
        // `verify_truncated_left` compares in constant time.
        let r = match self {
            RcMac::Sha1(m) => feed(m, parts).verify_truncated_left(tag),
            RcMac::Sha256(m) => feed(m, parts).verify_truncated_left(tag),
        };
        r.map_err(|_| CryptoError::Integrity)
    }
}

/// A MAC output copied into a fixed array (no heap).
trait ToFixed {
    fn to_fixed(&self) -> ([u8; 32], usize);
}

impl<N: hmac::digest::generic_array::ArrayLength<u8>> ToFixed
    for hmac::digest::generic_array::GenericArray<u8, N>
{
    fn to_fixed(&self) -> ([u8; 32], usize) {
        let mut out = [0u8; 32];
        let n = self.len().min(32);
        out[..n].copy_from_slice(&self[..n]);
        (out, n)
    }
}
