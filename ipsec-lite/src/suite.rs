//! Cipher suites and the crypto backends behind them.
//!
//! The ESP transforms are built from three primitive traits, [`Aead`], [`CbcCipher`]
//! and [`IcvMac`], which each backend implements with a well-kept library; nothing
//! cryptographic is written here. [`Transform`] combines the primitives the way ESP
//! needs them (nonce = salt || IV, AAD = SPI || [seq-high] || seq-low, ICV over
//! SPI .. ciphertext plus seq-high) once, for all backends.
//!
//! Backends: [`Backend::AwsLc`] (feature `aws-lc`, the default; AWS-LC through
//! `aws-lc-rs`, assembly-accelerated) and [`Backend::RustCrypto`] (feature
//! `rustcrypto`; `aes-gcm`, `chacha20poly1305`, `aes` + `cbc`, `hmac` + `sha1`/`sha2`).
//! With both features on, both are available and can be chosen per SA.

use core::fmt;

use crate::error::CryptoError;

#[cfg(feature = "aws-lc")]
mod aws_lc;
#[cfg(feature = "rustcrypto")]
mod rust_crypto;

#[cfg(not(any(feature = "aws-lc", feature = "rustcrypto")))]
compile_error!("ipsec-lite needs at least one crypto backend: feature `aws-lc` or `rustcrypto`");

/// An ESP suite: encryption (and for CBC, integrity) algorithm and key size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Suite {
    /// AES-128-GCM, 16-byte ICV, 4-byte salt (RFC 4106).
    AesGcm128,
    /// AES-256-GCM, 16-byte ICV, 4-byte salt (RFC 4106).
    AesGcm256,
    /// ChaCha20-Poly1305, 4-byte salt (RFC 7634).
    ChaCha20Poly1305,
    /// AES-128-CBC (RFC 3602) with HMAC-SHA1-96 (RFC 2404).
    AesCbc128HmacSha1,
    /// AES-256-CBC (RFC 3602) with HMAC-SHA1-96 (RFC 2404).
    AesCbc256HmacSha1,
    /// AES-128-CBC (RFC 3602) with HMAC-SHA-256-128 (RFC 4868).
    AesCbc128HmacSha256,
    /// AES-256-CBC (RFC 3602) with HMAC-SHA-256-128 (RFC 4868).
    AesCbc256HmacSha256,
}

impl Suite {
    /// Every suite.
    pub const ALL: [Suite; 7] = [
        Suite::AesGcm128,
        Suite::AesGcm256,
        Suite::ChaCha20Poly1305,
        Suite::AesCbc128HmacSha1,
        Suite::AesCbc256HmacSha1,
        Suite::AesCbc128HmacSha256,
        Suite::AesCbc256HmacSha256,
    ];

    /// Bytes an ESP packet of this suite needs in front of its payload (header and
    /// IV), as [`SecurityAssociation::headroom`](crate::SecurityAssociation::headroom).
    pub fn esp_headroom(self) -> usize {
        crate::esp::headroom(self)
    }

    /// Bytes behind a payload of any length that suffice for this suite's padding,
    /// trailer and ICV, as
    /// [`SecurityAssociation::max_tailroom`](crate::SecurityAssociation::max_tailroom).
    pub fn esp_max_tailroom(self) -> usize {
        crate::esp::max_tailroom(self)
    }

    /// True for the combined-mode suites (GCM, ChaCha20-Poly1305).
    pub fn is_aead(self) -> bool {
        matches!(
            self,
            Suite::AesGcm128 | Suite::AesGcm256 | Suite::ChaCha20Poly1305
        )
    }

    /// Bytes of encryption key material, including the 4-byte salt of AEAD suites.
    pub fn enc_key_len(self) -> usize {
        match self {
            Suite::AesGcm128 => 20,
            Suite::AesGcm256 | Suite::ChaCha20Poly1305 => 36,
            Suite::AesCbc128HmacSha1 | Suite::AesCbc128HmacSha256 => 16,
            Suite::AesCbc256HmacSha1 | Suite::AesCbc256HmacSha256 => 32,
        }
    }

    /// Bytes of integrity key (0 for AEAD suites).
    pub fn auth_key_len(self) -> usize {
        match self {
            Suite::AesGcm128 | Suite::AesGcm256 | Suite::ChaCha20Poly1305 => 0,
            Suite::AesCbc128HmacSha1 | Suite::AesCbc256HmacSha1 => 20,
            Suite::AesCbc128HmacSha256 | Suite::AesCbc256HmacSha256 => 32,
        }
    }

    /// Bytes of IV carried in each packet (8 for AEAD suites, 16 for AES-CBC).
    pub fn iv_len(self) -> usize {
        if self.is_aead() { 8 } else { 16 }
    }

    /// Bytes of ICV (16, except 12 for HMAC-SHA1-96).
    pub fn icv_len(self) -> usize {
        match self {
            Suite::AesCbc128HmacSha1 | Suite::AesCbc256HmacSha1 => 12,
            _ => 16,
        }
    }

    /// The ciphertext (payload + padding + 2) must be a multiple of this (RFC 4303 2.4).
    pub fn align(self) -> usize {
        if self.is_aead() { 4 } else { 16 }
    }

    /// A short, stable name (used in configuration and benchmark ids).
    pub fn name(self) -> &'static str {
        match self {
            Suite::AesGcm128 => "aes128-gcm16",
            Suite::AesGcm256 => "aes256-gcm16",
            Suite::ChaCha20Poly1305 => "chacha20poly1305",
            Suite::AesCbc128HmacSha1 => "aes128-sha1",
            Suite::AesCbc256HmacSha1 => "aes256-sha1",
            Suite::AesCbc128HmacSha256 => "aes128-sha256",
            Suite::AesCbc256HmacSha256 => "aes256-sha256",
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// AEAD algorithms the backends provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AeadAlgorithm {
    /// AES-GCM with a 16- or 32-byte key, 12-byte nonce, 16-byte tag.
    AesGcm,
    /// ChaCha20-Poly1305 (RFC 8439), 32-byte key.
    ChaCha20Poly1305,
}

/// HMAC algorithms the backends provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MacAlgorithm {
    /// HMAC-SHA-1 (20-byte output).
    Sha1,
    /// HMAC-SHA-256 (32-byte output).
    Sha256,
}

/// An AEAD with a 12-byte nonce and 16-byte tag, keyed once.
pub trait Aead: Send + Sync {
    /// Encrypt `data` in place and write the tag into `tag`.
    fn seal_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        data: &mut [u8],
        tag: &mut [u8; 16],
    ) -> Result<(), CryptoError>;
    /// Verify `tag` and decrypt `data` in place; on error `data` is unspecified.
    fn open_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError>;
}

/// AES in CBC mode without padding, keyed once.
pub trait CbcCipher: Send + Sync {
    /// Encrypt whole blocks in place.
    fn encrypt(&self, iv: &[u8; 16], data: &mut [u8]) -> Result<(), CryptoError>;
    /// Decrypt whole blocks in place.
    fn decrypt(&self, iv: &[u8; 16], data: &mut [u8]) -> Result<(), CryptoError>;
}

/// An HMAC, keyed once, computed over several slices.
pub trait IcvMac: Send + Sync {
    /// Write the leftmost `out.len()` bytes of the MAC of `parts` into `out`.
    fn sign(&self, parts: &[&[u8]], out: &mut [u8]) -> Result<(), CryptoError>;
    /// Verify that `tag` equals the leftmost `tag.len()` bytes of the MAC, in constant time.
    fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> Result<(), CryptoError>;
}

/// Which library performs the primitives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// AWS-LC through `aws-lc-rs` (feature `aws-lc`).
    AwsLc,
    /// The RustCrypto crates (feature `rustcrypto`).
    RustCrypto,
}

impl Default for Backend {
    fn default() -> Self {
        if cfg!(feature = "aws-lc") {
            Backend::AwsLc
        } else {
            Backend::RustCrypto
        }
    }
}

impl Backend {
    /// The backends compiled into this build.
    pub fn available() -> &'static [Backend] {
        #[cfg(all(feature = "aws-lc", feature = "rustcrypto"))]
        return &[Backend::AwsLc, Backend::RustCrypto];
        #[cfg(all(feature = "aws-lc", not(feature = "rustcrypto")))]
        return &[Backend::AwsLc];
        #[cfg(all(not(feature = "aws-lc"), feature = "rustcrypto"))]
        return &[Backend::RustCrypto];
        #[cfg(not(any(feature = "aws-lc", feature = "rustcrypto")))]
        return &[];
    }

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::AwsLc => "aws-lc",
            Backend::RustCrypto => "rustcrypto",
        }
    }
}

/// A keyed AEAD from `backend`.
pub fn aead(
    backend: Backend,
    alg: AeadAlgorithm,
    key: &[u8],
) -> Result<Box<dyn Aead>, CryptoError> {
    let need: &[usize] = match alg {
        AeadAlgorithm::AesGcm => &[16, 32],
        AeadAlgorithm::ChaCha20Poly1305 => &[32],
    };
    if !need.contains(&key.len()) {
        return Err(CryptoError::KeyLength {
            got: key.len(),
            need: need[need.len() - 1],
        });
    }
    match backend {
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc => aws_lc::aead(alg, key),
        #[cfg(feature = "rustcrypto")]
        Backend::RustCrypto => rust_crypto::aead(alg, key),
        #[allow(unreachable_patterns)]
        _ => Err(CryptoError::BackendUnavailable(backend.name())),
    }
}

/// A keyed AES-CBC cipher (16- or 32-byte key) from `backend`.
pub fn cbc(backend: Backend, key: &[u8]) -> Result<Box<dyn CbcCipher>, CryptoError> {
    if key.len() != 16 && key.len() != 32 {
        return Err(CryptoError::KeyLength {
            got: key.len(),
            need: 16,
        });
    }
    match backend {
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc => aws_lc::cbc(key),
        #[cfg(feature = "rustcrypto")]
        Backend::RustCrypto => rust_crypto::cbc(key),
        #[allow(unreachable_patterns)]
        _ => Err(CryptoError::BackendUnavailable(backend.name())),
    }
}

/// A keyed HMAC from `backend`.
pub fn mac(
    backend: Backend,
    alg: MacAlgorithm,
    key: &[u8],
) -> Result<Box<dyn IcvMac>, CryptoError> {
    match backend {
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc => Ok(aws_lc::mac(alg, key)),
        #[cfg(feature = "rustcrypto")]
        Backend::RustCrypto => rust_crypto::mac(alg, key),
        #[allow(unreachable_patterns)]
        _ => {
            let _ = (alg, key);
            Err(CryptoError::BackendUnavailable(backend.name()))
        }
    }
}

enum Keyed {
    Aead {
        aead: Box<dyn Aead>,
        salt: [u8; 4],
    },
    CbcHmac {
        cbc: Box<dyn CbcCipher>,
        mac: Box<dyn IcvMac>,
    },
}

impl Drop for Keyed {
    fn drop(&mut self) {
        // The keyed primitives wipe their own state (AWS-LC cleanses its contexts; the
        // RustCrypto ciphers through their `zeroize` features); the salt is ours.
        if let Keyed::Aead { salt, .. } = self {
            zeroize::Zeroize::zeroize(salt);
        }
    }
}

/// The keyed ESP transform of one SA: how to fill the IV, encrypt and compute the ICV.
///
/// Works on a whole ESP packet `SPI | Seq | IV | ciphertext | ICV` in place.
pub struct Transform {
    suite: Suite,
    backend: Backend,
    keyed: Keyed,
}

impl fmt::Debug for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transform")
            .field("suite", &self.suite)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Transform {
    /// Key a transform. `enc_key` includes the salt for AEAD suites (RFC 4106 section 8.1,
    /// RFC 7634 section 4); `auth_key` is empty for AEAD suites.
    pub fn new(
        backend: Backend,
        suite: Suite,
        enc_key: &[u8],
        auth_key: &[u8],
    ) -> Result<Self, CryptoError> {
        if enc_key.len() != suite.enc_key_len() {
            return Err(CryptoError::KeyLength {
                got: enc_key.len(),
                need: suite.enc_key_len(),
            });
        }
        if auth_key.len() != suite.auth_key_len() {
            return Err(CryptoError::KeyLength {
                got: auth_key.len(),
                need: suite.auth_key_len(),
            });
        }
        let keyed = if suite.is_aead() {
            let (key, salt) = enc_key.split_at(enc_key.len() - 4);
            let alg = if suite == Suite::ChaCha20Poly1305 {
                AeadAlgorithm::ChaCha20Poly1305
            } else {
                AeadAlgorithm::AesGcm
            };
            let mut s = [0u8; 4];
            s.copy_from_slice(salt);
            Keyed::Aead {
                aead: aead(backend, alg, key)?,
                salt: s,
            }
        } else {
            let alg = match suite {
                Suite::AesCbc128HmacSha1 | Suite::AesCbc256HmacSha1 => MacAlgorithm::Sha1,
                _ => MacAlgorithm::Sha256,
            };
            Keyed::CbcHmac {
                cbc: cbc(backend, enc_key)?,
                mac: mac(backend, alg, auth_key)?,
            }
        };
        Ok(Transform {
            suite,
            backend,
            keyed,
        })
    }

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The backend.
    #[cfg_attr(not(feature = "unstable"), allow(dead_code))]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Fill the per-packet IV for sequence number `seq`.
    ///
    /// AEAD suites use the 64-bit sequence number, which never repeats under one key
    /// (RFC 4106 section 3.1, RFC 7634 section 2). AES-CBC needs an unpredictable IV
    /// (RFC 3602 section 2.3); it is the AES encryption of the sequence number under the
    /// SA's key, method 1 of NIST SP 800-38A appendix C, so no RNG is needed.
    pub fn fill_iv(&self, seq: u64, iv: &mut [u8]) -> Result<(), CryptoError> {
        match &self.keyed {
            Keyed::Aead { .. } => {
                iv.copy_from_slice(&seq.to_be_bytes());
                Ok(())
            }
            Keyed::CbcHmac { cbc, .. } => {
                let mut block = [0u8; 16];
                block[8..].copy_from_slice(&seq.to_be_bytes());
                cbc.encrypt(&[0u8; 16], &mut block)?;
                iv.copy_from_slice(&block);
                Ok(())
            }
        }
    }

    /// Protect `pkt` = `SPI | Seq | IV | plaintext | ICV space` in place.
    /// `seq_hi` is the high half of the extended sequence number when ESN is on.
    pub fn seal(&self, pkt: &mut [u8], seq_hi: Option<u32>) -> Result<(), CryptoError> {
        let iv_len = self.suite.iv_len();
        let icv_len = self.suite.icv_len();
        if pkt.len() < 8 + iv_len + icv_len {
            return Err(CryptoError::Backend);
        }
        let body_end = pkt.len() - icv_len;
        match &self.keyed {
            Keyed::Aead { aead, salt } => {
                let (nonce, aad, aad_len) = aead_params(salt, pkt, seq_hi);
                let (_, rest) = pkt.split_at_mut(8 + iv_len);
                let (body, icv) = rest.split_at_mut(body_end - 8 - iv_len);
                let tag: &mut [u8; 16] = icv.try_into().map_err(|_| CryptoError::Backend)?;
                aead.seal_in_place(&nonce, &aad[..aad_len], body, tag)
            }
            Keyed::CbcHmac { cbc, mac } => {
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&pkt[8..24]);
                cbc.encrypt(&iv, &mut pkt[24..body_end])?;
                let (authed, icv) = pkt.split_at_mut(body_end);
                let hi = seq_hi.map(u32::to_be_bytes);
                match &hi {
                    Some(h) => mac.sign(&[authed, h], icv),
                    None => mac.sign(&[authed], icv),
                }
            }
        }
    }

    /// Verify and decrypt `pkt` = `SPI | Seq | IV | ciphertext | ICV` in place.
    /// On error the ciphertext region is unspecified and must not be delivered.
    pub fn open(&self, pkt: &mut [u8], seq_hi: Option<u32>) -> Result<(), CryptoError> {
        let iv_len = self.suite.iv_len();
        let icv_len = self.suite.icv_len();
        if pkt.len() < 8 + iv_len + icv_len {
            return Err(CryptoError::Integrity);
        }
        let body_end = pkt.len() - icv_len;
        match &self.keyed {
            Keyed::Aead { aead, salt } => {
                let (nonce, aad, aad_len) = aead_params(salt, pkt, seq_hi);
                let (_, rest) = pkt.split_at_mut(8 + iv_len);
                let (body, icv) = rest.split_at_mut(body_end - 8 - iv_len);
                let tag: &[u8; 16] = (&*icv).try_into().map_err(|_| CryptoError::Backend)?;
                aead.open_in_place(&nonce, &aad[..aad_len], body, tag)
            }
            Keyed::CbcHmac { cbc, mac } => {
                {
                    let (authed, icv) = pkt.split_at(body_end);
                    let hi = seq_hi.map(u32::to_be_bytes);
                    match &hi {
                        Some(h) => mac.verify(&[authed, h], icv)?,
                        None => mac.verify(&[authed], icv)?,
                    }
                }
                if !(body_end - 24).is_multiple_of(16) {
                    return Err(CryptoError::Alignment);
                }
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&pkt[8..24]);
                cbc.decrypt(&iv, &mut pkt[24..body_end])
            }
        }
    }
}

/// Nonce = salt || IV; AAD = SPI || [seq-high] || seq-low (RFC 4106 section 5, RFC 7634 section 3).
fn aead_params(salt: &[u8; 4], pkt: &[u8], seq_hi: Option<u32>) -> ([u8; 12], [u8; 12], usize) {
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(salt);
    nonce[4..].copy_from_slice(&pkt[8..16]);
    let mut aad = [0u8; 12];
    aad[..4].copy_from_slice(&pkt[..4]);
    match seq_hi {
        Some(hi) => {
            aad[4..8].copy_from_slice(&hi.to_be_bytes());
            aad[8..12].copy_from_slice(&pkt[4..8]);
            (nonce, aad, 12)
        }
        None => {
            aad[4..8].copy_from_slice(&pkt[4..8]);
            (nonce, aad, 8)
        }
    }
}
