//! Key derivation: the IKE SA keys (RFC 7296 2.14), their rekey variant (2.18) and
//! CHILD_SA key material (2.17).

use super::error::CryptoError;
use super::secret::Secret;
use super::suite::{EspSuite, IkeSuite, Prf};

/// The seven secrets of an IKE SA (RFC 7296 2.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeKeys {
    /// SK_d: derives CHILD_SA keys and the next IKE SA's SKEYSEED.
    pub sk_d: Secret,
    /// SK_ai: integrity of messages from the initiator (empty with AEAD).
    pub sk_ai: Secret,
    /// SK_ar: integrity of messages from the responder (empty with AEAD).
    pub sk_ar: Secret,
    /// SK_ei: encryption of messages from the initiator (with AEAD: key | 4-byte salt).
    pub sk_ei: Secret,
    /// SK_er: encryption of messages from the responder (with AEAD: key | 4-byte salt).
    pub sk_er: Secret,
    /// SK_pi: MACs the initiator's ID in AUTH (RFC 7296 2.15).
    pub sk_pi: Secret,
    /// SK_pr: MACs the responder's ID in AUTH.
    pub sk_pr: Secret,
}

impl IkeKeys {
    /// RFC 7296 2.14: `SKEYSEED = prf(Ni | Nr, g^ir)`, then
    /// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
    /// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)`.
    pub fn derive(
        suite: &IkeSuite,
        shared_secret: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, CryptoError> {
        let skeyseed = suite.prf.prf(&[ni, nr].concat(), &[shared_secret]);
        Self::expand(suite, &skeyseed, ni, nr, spi_i, spi_r)
    }

    /// RFC 7296 2.18 (IKE SA rekey): `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)`
    /// with the old IKE SA's PRF, then prf+ with the new suite's PRF over the new nonces
    /// and SPIs (SPIi: the initiator of the rekey exchange).
    #[allow(clippy::too_many_arguments)]
    pub fn derive_rekey(
        old_prf: Prf,
        old_sk_d: &Secret,
        new_suite: &IkeSuite,
        shared_secret: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, CryptoError> {
        let skeyseed = old_prf.prf(old_sk_d.expose(), &[shared_secret, ni, nr]);
        Self::expand(new_suite, &skeyseed, ni, nr, spi_i, spi_r)
    }

    fn expand(
        suite: &IkeSuite,
        skeyseed: &Secret,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, CryptoError> {
        let p = suite.prf.output_len();
        let a = suite.integ.map_or(0, |i| i.key_len());
        let e = suite.encr.key_material_len();
        let total = 3 * p + 2 * a + 2 * e;
        let km = suite.prf.prf_plus(
            skeyseed.expose(),
            &[ni, nr, &spi_i.to_be_bytes(), &spi_r.to_be_bytes()],
            total,
        )?;
        let mut rest = km.expose();
        let mut next = |n: usize| {
            let (k, r) = rest.split_at(n);
            rest = r;
            Secret::from_slice(k)
        };
        Ok(IkeKeys {
            sk_d: next(p),
            sk_ai: next(a),
            sk_ar: next(a),
            sk_ei: next(e),
            sk_er: next(e),
            sk_pi: next(p),
            sk_pr: next(p),
        })
    }
}

/// The keys of one direction of an ESP SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspKeys {
    /// Encryption key material; for AEAD ciphers the key followed by the 4-byte salt
    /// (RFC 4106 8.1, RFC 7634 4), exactly what `ipsec-lite` takes.
    pub encr: Secret,
    /// Integrity key (empty with AEAD).
    pub integ: Secret,
}

/// The key material of a CHILD_SA pair (RFC 7296 2.17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildKeys {
    /// Keys of the SA carrying traffic from the initiator of the exchange to the
    /// responder (the initiator's outbound, the responder's inbound).
    pub i_to_r: EspKeys,
    /// Keys of the SA carrying traffic from the responder to the initiator.
    pub r_to_i: EspKeys,
}

impl ChildKeys {
    /// RFC 7296 2.17: `KEYMAT = prf+(SK_d, Ni | Nr)`, or with PFS
    /// `prf+(SK_d, g^ir (new) | Ni | Nr)`; taken in the order encryption key, integrity
    /// key, first for initiator-to-responder, then for responder-to-initiator. The nonces
    /// are those of the exchange creating the CHILD_SA (IKE_SA_INIT's for the first).
    pub fn derive(
        prf: Prf,
        sk_d: &Secret,
        suite: &EspSuite,
        pfs_shared_secret: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<Self, CryptoError> {
        let e = suite.encr.key_material_len();
        let a = suite.integ.map_or(0, |i| i.key_len());
        let g = pfs_shared_secret.unwrap_or(&[]);
        let km = prf.prf_plus(sk_d.expose(), &[g, ni, nr], 2 * (e + a))?;
        let mut rest = km.expose();
        let mut next = |n: usize| {
            let (k, r) = rest.split_at(n);
            rest = r;
            Secret::from_slice(k)
        };
        let i_to_r = EspKeys {
            encr: next(e),
            integ: next(a),
        };
        let r_to_i = EspKeys {
            encr: next(e),
            integ: next(a),
        };
        Ok(ChildKeys { i_to_r, r_to_i })
    }
}
