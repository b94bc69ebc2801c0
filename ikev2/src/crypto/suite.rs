//! Algorithms, negotiated suites and proposal matching (RFC 7296 2.7, 3.3).

use crate::wire::{DhGroup, Proposal, ProtocolId, SaPayload, Transform, TransformType};

use super::ids;

/// An encryption transform (RFC 7296 3.3.2, type 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encr {
    /// ENCR_AES_GCM_16 with a 128-bit key (RFC 5282, RFC 4106).
    AesGcm16_128,
    /// ENCR_AES_GCM_16 with a 256-bit key (RFC 5282, RFC 4106).
    AesGcm16_256,
    /// ENCR_AES_CBC with a 128-bit key (RFC 3602); needs an integrity transform.
    AesCbc128,
    /// ENCR_AES_CBC with a 256-bit key (RFC 3602); needs an integrity transform.
    AesCbc256,
    /// ENCR_CHACHA20_POLY1305 (RFC 7634).
    ChaCha20Poly1305,
}

impl Encr {
    /// The transform as offered in a proposal.
    pub fn transform(self) -> Transform {
        let t = TransformType::ENCR;
        match self {
            Encr::AesGcm16_128 => Transform::with_key_length(t, ids::ENCR_AES_GCM_16, 128),
            Encr::AesGcm16_256 => Transform::with_key_length(t, ids::ENCR_AES_GCM_16, 256),
            Encr::AesCbc128 => Transform::with_key_length(t, ids::ENCR_AES_CBC, 128),
            Encr::AesCbc256 => Transform::with_key_length(t, ids::ENCR_AES_CBC, 256),
            Encr::ChaCha20Poly1305 => Transform::new(t, ids::ENCR_CHACHA20_POLY1305),
        }
    }

    /// The algorithm of an ENCR transform, if this crate implements it with exactly
    /// these attributes (RFC 7296 3.3.6: unknown attributes reject the transform).
    pub fn from_transform(t: &Transform) -> Option<Self> {
        if t.transform_type != TransformType::ENCR {
            return None;
        }
        let keylen = match t.attributes.as_slice() {
            [] => None,
            [_] => Some(t.key_length()?),
            _ => return None,
        };
        match (t.transform_id, keylen) {
            (ids::ENCR_AES_GCM_16, Some(128)) => Some(Encr::AesGcm16_128),
            (ids::ENCR_AES_GCM_16, Some(256)) => Some(Encr::AesGcm16_256),
            (ids::ENCR_AES_CBC, Some(128)) => Some(Encr::AesCbc128),
            (ids::ENCR_AES_CBC, Some(256)) => Some(Encr::AesCbc256),
            (ids::ENCR_CHACHA20_POLY1305, None) => Some(Encr::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// Whether it is an AEAD cipher (no separate integrity transform).
    pub fn is_aead(self) -> bool {
        !matches!(self, Encr::AesCbc128 | Encr::AesCbc256)
    }

    /// Bytes of key material: the key, plus the 4-byte salt of AEAD ciphers
    /// (RFC 5282 7.1, RFC 4106 8.1, RFC 7634 4).
    pub fn key_material_len(self) -> usize {
        match self {
            Encr::AesGcm16_128 => 16 + 4,
            Encr::AesGcm16_256 | Encr::ChaCha20Poly1305 => 32 + 4,
            Encr::AesCbc128 => 16,
            Encr::AesCbc256 => 32,
        }
    }

    /// Length of the IV in the SK payload (RFC 5282 3: 8; RFC 3602: 16).
    pub fn iv_len(self) -> usize {
        if self.is_aead() { 8 } else { 16 }
    }

    /// Length of the AEAD tag (0 for CBC, whose ICV is the integrity transform's).
    pub fn tag_len(self) -> usize {
        if self.is_aead() { 16 } else { 0 }
    }

    /// The plaintext (payloads, padding and Pad Length) is padded to a multiple of this.
    pub fn block_len(self) -> usize {
        if self.is_aead() { 1 } else { 16 }
    }
}

/// A pseudorandom function (RFC 7296 3.3.2, type 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Prf {
    /// PRF_HMAC_SHA2_256 (RFC 4868).
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (RFC 4868).
    HmacSha384,
    /// PRF_HMAC_SHA2_512 (RFC 4868).
    HmacSha512,
}

impl Prf {
    /// Transform ID.
    pub fn id(self) -> u16 {
        match self {
            Prf::HmacSha256 => ids::PRF_HMAC_SHA2_256,
            Prf::HmacSha384 => ids::PRF_HMAC_SHA2_384,
            Prf::HmacSha512 => ids::PRF_HMAC_SHA2_512,
        }
    }

    /// The transform as offered in a proposal.
    pub fn transform(self) -> Transform {
        Transform::new(TransformType::PRF, self.id())
    }

    /// The algorithm of a PRF transform this crate implements.
    pub fn from_transform(t: &Transform) -> Option<Self> {
        if t.transform_type != TransformType::PRF || !t.attributes.is_empty() {
            return None;
        }
        match t.transform_id {
            ids::PRF_HMAC_SHA2_256 => Some(Prf::HmacSha256),
            ids::PRF_HMAC_SHA2_384 => Some(Prf::HmacSha384),
            ids::PRF_HMAC_SHA2_512 => Some(Prf::HmacSha512),
            _ => None,
        }
    }

    /// Output length, which is also the preferred key length for SK_d, SK_pi and SK_pr
    /// (RFC 4868 2.1.2; RFC 7296 2.14).
    pub fn output_len(self) -> usize {
        match self {
            Prf::HmacSha256 => 32,
            Prf::HmacSha384 => 48,
            Prf::HmacSha512 => 64,
        }
    }
}

/// An integrity transform (RFC 7296 3.3.2, type 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Integ {
    /// AUTH_HMAC_SHA1_96 (RFC 2404): for ESP towards legacy peers only.
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128 (RFC 4868).
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192 (RFC 4868).
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256 (RFC 4868).
    HmacSha512_256,
}

impl Integ {
    /// Transform ID.
    pub fn id(self) -> u16 {
        match self {
            Integ::HmacSha1_96 => ids::AUTH_HMAC_SHA1_96,
            Integ::HmacSha256_128 => ids::AUTH_HMAC_SHA2_256_128,
            Integ::HmacSha384_192 => ids::AUTH_HMAC_SHA2_384_192,
            Integ::HmacSha512_256 => ids::AUTH_HMAC_SHA2_512_256,
        }
    }

    /// The transform as offered in a proposal.
    pub fn transform(self) -> Transform {
        Transform::new(TransformType::INTEG, self.id())
    }

    /// The algorithm of an INTEG transform this crate implements.
    pub fn from_transform(t: &Transform) -> Option<Self> {
        if t.transform_type != TransformType::INTEG || !t.attributes.is_empty() {
            return None;
        }
        match t.transform_id {
            ids::AUTH_HMAC_SHA1_96 => Some(Integ::HmacSha1_96),
            ids::AUTH_HMAC_SHA2_256_128 => Some(Integ::HmacSha256_128),
            ids::AUTH_HMAC_SHA2_384_192 => Some(Integ::HmacSha384_192),
            ids::AUTH_HMAC_SHA2_512_256 => Some(Integ::HmacSha512_256),
            _ => None,
        }
    }

    /// Key length in bytes (RFC 4868 2.1.1: the hash output length; RFC 2404: 20).
    pub fn key_len(self) -> usize {
        match self {
            Integ::HmacSha1_96 => 20,
            Integ::HmacSha256_128 => 32,
            Integ::HmacSha384_192 => 48,
            Integ::HmacSha512_256 => 64,
        }
    }

    /// ICV length in bytes (the truncated HMAC).
    pub fn icv_len(self) -> usize {
        match self {
            Integ::HmacSha1_96 => 12,
            Integ::HmacSha256_128 => 16,
            Integ::HmacSha384_192 => 24,
            Integ::HmacSha512_256 => 32,
        }
    }
}

/// A Diffie-Hellman group this crate implements (RFC 7296 3.3.2, type 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Group {
    /// Curve25519 (RFC 8031), group 31.
    Curve25519,
    /// 256-bit random ECP group (RFC 5903), group 19.
    Ecp256,
    /// 2048-bit MODP group (RFC 3526 3), group 14: for router peers that offer nothing
    /// else. Slower than the elliptic-curve groups (one 2048-bit modular
    /// exponentiation with a 512-bit exponent per key and per shared secret).
    Modp2048,
}

impl Group {
    /// The group number.
    pub fn dh_group(self) -> DhGroup {
        match self {
            Group::Curve25519 => DhGroup::CURVE25519,
            Group::Ecp256 => DhGroup::ECP_256,
            Group::Modp2048 => DhGroup::MODP_2048,
        }
    }

    /// The group with this number, if implemented.
    pub fn from_dh_group(g: DhGroup) -> Option<Self> {
        match g {
            DhGroup::CURVE25519 => Some(Group::Curve25519),
            DhGroup::ECP_256 => Some(Group::Ecp256),
            DhGroup::MODP_2048 => Some(Group::Modp2048),
            _ => None,
        }
    }

    /// The transform as offered in a proposal.
    pub fn transform(self) -> Transform {
        Transform::new(TransformType::DH, self.dh_group().0)
    }

    /// Length of the public value in a KE payload.
    pub fn public_len(self) -> usize {
        match self {
            Group::Curve25519 => 32,
            Group::Ecp256 => 64,
            Group::Modp2048 => 256,
        }
    }
}

/// The algorithms of an IKE SA (RFC 7296 2.7): one transform of each type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeSuite {
    /// Encryption of the SK payload.
    pub encr: Encr,
    /// Pseudorandom function.
    pub prf: Prf,
    /// Integrity of the SK payload: `None` with an AEAD cipher, required otherwise.
    pub integ: Option<Integ>,
    /// Diffie-Hellman group.
    pub group: Group,
}

impl IkeSuite {
    /// A suite, if the combination is valid (an integrity transform exactly when the
    /// cipher is not AEAD, RFC 5282 8).
    pub fn new(encr: Encr, prf: Prf, integ: Option<Integ>, group: Group) -> Option<Self> {
        let s = IkeSuite {
            encr,
            prf,
            integ,
            group,
        };
        s.is_valid().then_some(s)
    }

    /// AES-GCM-16-128, PRF HMAC-SHA2-256, Curve25519.
    pub fn aes128gcm16_prfsha256_x25519() -> Self {
        IkeSuite {
            encr: Encr::AesGcm16_128,
            prf: Prf::HmacSha256,
            integ: None,
            group: Group::Curve25519,
        }
    }

    /// AES-CBC-128, HMAC-SHA2-256-128, PRF HMAC-SHA2-256, ECP-256.
    pub fn aes128_sha256_ecp256() -> Self {
        IkeSuite {
            encr: Encr::AesCbc128,
            prf: Prf::HmacSha256,
            integ: Some(Integ::HmacSha256_128),
            group: Group::Ecp256,
        }
    }

    /// Whether an integrity transform is present exactly when the cipher needs one.
    pub fn is_valid(&self) -> bool {
        self.encr.is_aead() == self.integ.is_none()
    }

    /// The proposal offering (or, from a responder, accepting) exactly this suite.
    /// `spi` is empty in IKE_SA_INIT and the sender's new 8-byte SPI in an IKE SA rekey.
    pub fn proposal(&self, number: u8, spi: Vec<u8>) -> Proposal {
        let mut transforms = vec![self.encr.transform(), self.prf.transform()];
        if let Some(i) = self.integ {
            transforms.push(i.transform());
        }
        transforms.push(self.group.transform());
        Proposal {
            number,
            protocol: ProtocolId::IKE,
            spi,
            transforms,
        }
    }

    fn offered_by(&self, p: &Proposal) -> bool {
        p.protocol == ProtocolId::IKE
            && p.transforms_of(TransformType::ENCR)
                .any(|t| Encr::from_transform(t) == Some(self.encr))
            && p.transforms_of(TransformType::PRF)
                .any(|t| Prf::from_transform(t) == Some(self.prf))
            && integ_offered(p, self.integ)
            && p.transforms_of(TransformType::DH)
                .any(|t| t.attributes.is_empty() && t.transform_id == self.group.dh_group().0)
    }

    /// Responder's choice (RFC 7296 2.7): the first offered proposal, in the
    /// initiator's order, that contains one of `ours`; among `ours`, the first that fits.
    /// When `ke_group` is given (the group of the initiator's KE payload), a match in that
    /// group is preferred over the offer order, which avoids an INVALID_KE_PAYLOAD round
    /// trip; if the chosen suite's group differs from `ke_group`, the caller answers
    /// INVALID_KE_PAYLOAD.
    pub fn select(
        ours: &[IkeSuite],
        offered: &SaPayload,
        ke_group: Option<DhGroup>,
    ) -> Option<Selected<IkeSuite>> {
        let pick = |want_group: Option<DhGroup>| {
            offered.proposals.iter().find_map(|p| {
                ours.iter()
                    .filter(|s| s.is_valid())
                    .filter(|s| want_group.is_none_or(|g| s.group.dh_group() == g))
                    .find(|s| s.offered_by(p))
                    .map(|s| Selected {
                        number: p.number,
                        peer_spi: p.spi.clone(),
                        suite: *s,
                    })
            })
        };
        ke_group.and_then(|g| pick(Some(g))).or_else(|| pick(None))
    }

    /// Initiator's check of the responder's answer (RFC 7296 3.3.6): exactly one
    /// proposal, protocol IKE, one transform of each type, and the result one of `ours`.
    pub fn from_accepted(ours: &[IkeSuite], sa: &SaPayload) -> Option<Selected<IkeSuite>> {
        let [p] = sa.proposals.as_slice() else {
            return None;
        };
        if p.protocol != ProtocolId::IKE {
            return None;
        }
        let encr = Encr::from_transform(single(p, TransformType::ENCR)?)?;
        let prf = Prf::from_transform(single(p, TransformType::PRF)?)?;
        let integ = match count(p, TransformType::INTEG) {
            0 => None,
            1 => match Integ::from_transform(single(p, TransformType::INTEG)?) {
                Some(i) => Some(i),
                None if is_none_integ(single(p, TransformType::INTEG)?) => None,
                None => return None,
            },
            _ => return None,
        };
        let dh = single(p, TransformType::DH)?;
        if !dh.attributes.is_empty() {
            return None;
        }
        let group = Group::from_dh_group(DhGroup(dh.transform_id))?;
        if p.transforms.len() != 3 + usize::from(count(p, TransformType::INTEG) == 1) {
            return None;
        }
        let suite = IkeSuite::new(encr, prf, integ, group)?;
        ours.contains(&suite).then(|| Selected {
            number: p.number,
            peer_spi: p.spi.clone(),
            suite,
        })
    }
}

/// The algorithms of an ESP CHILD_SA (RFC 7296 2.7, 3.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspSuite {
    /// Encryption.
    pub encr: Encr,
    /// Integrity: `None` with an AEAD cipher, required otherwise.
    pub integ: Option<Integ>,
    /// Extended Sequence Numbers.
    pub esn: bool,
    /// Group for perfect forward secrecy in CREATE_CHILD_SA (RFC 7296 1.3.1); never
    /// sent in IKE_AUTH.
    pub pfs: Option<Group>,
}

impl EspSuite {
    /// The `ipsec-lite` suite that carries this one's packets, if it has one.
    pub fn ipsec_lite_suite(&self) -> Option<ipsec_lite::Suite> {
        crate::sa::child::ipsec_suite(self)
    }

    /// A suite, if the combination is valid.
    pub fn new(encr: Encr, integ: Option<Integ>, esn: bool, pfs: Option<Group>) -> Option<Self> {
        let s = EspSuite {
            encr,
            integ,
            esn,
            pfs,
        };
        s.is_valid().then_some(s)
    }

    /// Whether an integrity transform is present exactly when the cipher needs one.
    pub fn is_valid(&self) -> bool {
        self.encr.is_aead() == self.integ.is_none()
    }

    /// The ESP proposal for this suite. `spi` is the sender's inbound SPI. The D-H
    /// transform is included only when `with_pfs` (CREATE_CHILD_SA with PFS; RFC 7296
    /// 1.2: not in IKE_AUTH).
    pub fn proposal(&self, number: u8, spi: u32, with_pfs: bool) -> Proposal {
        let mut transforms = vec![self.encr.transform()];
        if let Some(i) = self.integ {
            transforms.push(i.transform());
        }
        if with_pfs && let Some(g) = self.pfs {
            transforms.push(g.transform());
        }
        transforms.push(Transform::new(
            TransformType::ESN,
            if self.esn {
                ids::ESN_ENABLED
            } else {
                ids::ESN_NONE
            },
        ));
        Proposal {
            number,
            protocol: ProtocolId::ESP,
            spi: spi.to_be_bytes().to_vec(),
            transforms,
        }
    }

    fn offered_by(&self, p: &Proposal, with_pfs: bool) -> bool {
        let esn_id = if self.esn {
            ids::ESN_ENABLED
        } else {
            ids::ESN_NONE
        };
        let dh_ok = if with_pfs {
            match self.pfs {
                Some(g) => p
                    .transforms_of(TransformType::DH)
                    .any(|t| t.attributes.is_empty() && t.transform_id == g.dh_group().0),
                None => p
                    .transforms_of(TransformType::DH)
                    .all(|t| t.transform_id == DhGroup::NONE.0),
            }
        } else {
            true
        };
        p.protocol == ProtocolId::ESP
            && p.spi.len() == 4
            && p.transforms_of(TransformType::ENCR)
                .any(|t| Encr::from_transform(t) == Some(self.encr))
            && integ_offered(p, self.integ)
            && p.transforms_of(TransformType::ESN)
                .any(|t| t.attributes.is_empty() && t.transform_id == esn_id)
            && dh_ok
    }

    /// Responder's choice for a CHILD_SA: the first offered ESP proposal, in the
    /// initiator's order, containing one of `ours`. With `with_pfs` false (IKE_AUTH, or
    /// CREATE_CHILD_SA without a KE payload) D-H transforms are ignored.
    pub fn select(
        ours: &[EspSuite],
        offered: &SaPayload,
        with_pfs: bool,
    ) -> Option<Selected<EspSuite>> {
        offered.proposals.iter().find_map(|p| {
            ours.iter()
                .filter(|s| s.is_valid())
                .find(|s| s.offered_by(p, with_pfs))
                .map(|s| Selected {
                    number: p.number,
                    peer_spi: p.spi.clone(),
                    suite: *s,
                })
        })
    }

    /// Initiator's check of the responder's answer: one ESP proposal with a 4-byte SPI,
    /// one transform of each type, matching one of `ours` (the D-H transform must be our
    /// PFS group when `with_pfs`, and is ignored otherwise).
    pub fn from_accepted(
        ours: &[EspSuite],
        sa: &SaPayload,
        with_pfs: bool,
    ) -> Option<Selected<EspSuite>> {
        let [p] = sa.proposals.as_slice() else {
            return None;
        };
        if p.protocol != ProtocolId::ESP || p.spi.len() != 4 {
            return None;
        }
        for t in [
            TransformType::ENCR,
            TransformType::INTEG,
            TransformType::DH,
            TransformType::ESN,
        ] {
            if count(p, t) > 1 {
                return None;
            }
        }
        if p.transforms
            .iter()
            .any(|t| t.transform_type.0 > 5 || t.transform_type.0 == 2)
        {
            return None;
        }
        let accepted = ours
            .iter()
            .find(|s| s.is_valid() && s.offered_by(p, with_pfs))?;
        if with_pfs && accepted.pfs.is_some() && count(p, TransformType::DH) != 1 {
            return None;
        }
        Some(Selected {
            number: p.number,
            peer_spi: p.spi.clone(),
            suite: *accepted,
        })
    }
}

/// The outcome of proposal matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected<S> {
    /// The proposal number to echo (RFC 7296 3.3.1).
    pub number: u8,
    /// The SPI in the matched proposal (the peer's: empty for IKE_SA_INIT, 8 bytes for an
    /// IKE rekey, 4 bytes for ESP).
    pub peer_spi: Vec<u8>,
    /// The algorithms.
    pub suite: S,
}

fn count(p: &Proposal, t: TransformType) -> usize {
    p.transforms_of(t).count()
}

fn single(p: &Proposal, t: TransformType) -> Option<&Transform> {
    let mut it = p.transforms_of(t);
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

fn is_none_integ(t: &Transform) -> bool {
    t.transform_type == TransformType::INTEG
        && t.transform_id == ids::AUTH_NONE
        && t.attributes.is_empty()
}

/// With an AEAD cipher, integrity must be absent or NONE (RFC 5282 8); otherwise the
/// wanted integrity transform must be offered.
fn integ_offered(p: &Proposal, integ: Option<Integ>) -> bool {
    match integ {
        Some(i) => p
            .transforms_of(TransformType::INTEG)
            .any(|t| Integ::from_transform(t) == Some(i)),
        None => {
            let mut it = p.transforms_of(TransformType::INTEG).peekable();
            it.peek().is_none() || p.transforms_of(TransformType::INTEG).any(is_none_integ)
        }
    }
}
