//! Proposals written as text, in the keyword style of strongSwan's `proposals` and
//! `esp_proposals` (for example `aes128gcm16-prfsha256-x25519` or
//! `aes128-sha256-ecp256`), so configuration files can name the suites of
//! [`IkeSuite`] and [`EspSuite`].
//!
//! Keywords, separated by `-`, in any order:
//!
//! * encryption: `aes128gcm16`, `aes256gcm16`, `aes128`, `aes256`, `chacha20poly1305`;
//! * integrity: `sha1` (HMAC-SHA1-96, ESP only), `sha256`, `sha384`, `sha512`
//!   (HMAC-SHA2 with half-length truncation, RFC 4868); required exactly when the
//!   cipher is not AEAD;
//! * PRF (IKE): `prfsha256`, `prfsha384`, `prfsha512`; default: the integrity
//!   algorithm's hash, else SHA-256;
//! * Diffie-Hellman group: `x25519` (also `curve25519`), `ecp256`, `modp2048`;
//!   required for IKE, optional for ESP (then used for PFS in CREATE_CHILD_SA);
//! * ESP only: `esn` (extended sequence numbers).

use core::fmt;
use core::str::FromStr;

use super::suite::{Encr, EspSuite, Group, IkeSuite, Integ, Prf};

/// Why a proposal string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProposalError {
    /// A keyword this crate does not know.
    #[error("unknown keyword {0:?}")]
    Unknown(String),
    /// Two keywords of one kind.
    #[error("{0} given twice")]
    Twice(&'static str),
    /// A kind that must be present is missing.
    #[error("no {0}")]
    Missing(&'static str),
    /// A keyword that does not belong in this kind of proposal.
    #[error("{0:?} is not allowed here")]
    NotHere(String),
    /// Integrity with an AEAD cipher, or none with a non-AEAD one (RFC 5282 8).
    #[error("integrity must be given exactly when the cipher is not AEAD")]
    Integrity,
}

enum Word {
    Encr(Encr),
    Integ(Integ),
    Prf(Prf),
    Group(Group),
    Esn,
}

fn word(w: &str) -> Result<Word, ProposalError> {
    Ok(match w.to_ascii_lowercase().as_str() {
        "aes128gcm16" | "aes128gcm128" => Word::Encr(Encr::AesGcm16_128),
        "aes256gcm16" | "aes256gcm128" => Word::Encr(Encr::AesGcm16_256),
        "aes128" => Word::Encr(Encr::AesCbc128),
        "aes256" => Word::Encr(Encr::AesCbc256),
        "chacha20poly1305" => Word::Encr(Encr::ChaCha20Poly1305),
        "sha1" => Word::Integ(Integ::HmacSha1_96),
        "sha256" => Word::Integ(Integ::HmacSha256_128),
        "sha384" => Word::Integ(Integ::HmacSha384_192),
        "sha512" => Word::Integ(Integ::HmacSha512_256),
        "prfsha256" => Word::Prf(Prf::HmacSha256),
        "prfsha384" => Word::Prf(Prf::HmacSha384),
        "prfsha512" => Word::Prf(Prf::HmacSha512),
        "x25519" | "curve25519" => Word::Group(Group::Curve25519),
        "ecp256" => Word::Group(Group::Ecp256),
        "modp2048" => Word::Group(Group::Modp2048),
        "esn" => Word::Esn,
        _ => return Err(ProposalError::Unknown(w.to_string())),
    })
}

#[derive(Default)]
struct Parts {
    encr: Option<Encr>,
    integ: Option<Integ>,
    prf: Option<Prf>,
    group: Option<Group>,
    esn: bool,
}

fn parts(s: &str) -> Result<Parts, ProposalError> {
    fn set<T>(slot: &mut Option<T>, v: T, what: &'static str) -> Result<(), ProposalError> {
        match slot.replace(v) {
            Some(_) => Err(ProposalError::Twice(what)),
            None => Ok(()),
        }
    }
    let mut p = Parts::default();
    for w in s.trim().split('-') {
        match word(w)? {
            Word::Encr(e) => set(&mut p.encr, e, "encryption")?,
            Word::Integ(i) => set(&mut p.integ, i, "integrity")?,
            Word::Prf(f) => set(&mut p.prf, f, "PRF")?,
            Word::Group(g) => set(&mut p.group, g, "group")?,
            Word::Esn if p.esn => return Err(ProposalError::Twice("esn")),
            Word::Esn => p.esn = true,
        }
    }
    Ok(p)
}

impl FromStr for IkeSuite {
    type Err = ProposalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let p = parts(s)?;
        if p.esn {
            return Err(ProposalError::NotHere("esn".into()));
        }
        if p.integ == Some(Integ::HmacSha1_96) {
            return Err(ProposalError::NotHere("sha1".into()));
        }
        let encr = p.encr.ok_or(ProposalError::Missing("encryption"))?;
        let group = p.group.ok_or(ProposalError::Missing("group"))?;
        let prf = p.prf.unwrap_or(match p.integ {
            Some(Integ::HmacSha384_192) => Prf::HmacSha384,
            Some(Integ::HmacSha512_256) => Prf::HmacSha512,
            _ => Prf::HmacSha256,
        });
        IkeSuite::new(encr, prf, p.integ, group).ok_or(ProposalError::Integrity)
    }
}

impl FromStr for EspSuite {
    type Err = ProposalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let p = parts(s)?;
        if let Some(f) = p.prf {
            return Err(ProposalError::NotHere(format!("{f:?}")));
        }
        let encr = p.encr.ok_or(ProposalError::Missing("encryption"))?;
        EspSuite::new(encr, p.integ, p.esn, p.group).ok_or(ProposalError::Integrity)
    }
}

fn encr_word(e: Encr) -> &'static str {
    match e {
        Encr::AesGcm16_128 => "aes128gcm16",
        Encr::AesGcm16_256 => "aes256gcm16",
        Encr::AesCbc128 => "aes128",
        Encr::AesCbc256 => "aes256",
        Encr::ChaCha20Poly1305 => "chacha20poly1305",
    }
}

fn integ_word(i: Integ) -> &'static str {
    match i {
        Integ::HmacSha1_96 => "sha1",
        Integ::HmacSha256_128 => "sha256",
        Integ::HmacSha384_192 => "sha384",
        Integ::HmacSha512_256 => "sha512",
    }
}

fn group_word(g: Group) -> &'static str {
    match g {
        Group::Curve25519 => "x25519",
        Group::Ecp256 => "ecp256",
        Group::Modp2048 => "modp2048",
    }
}

impl fmt::Display for IkeSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prf = match self.prf {
            Prf::HmacSha256 => "prfsha256",
            Prf::HmacSha384 => "prfsha384",
            Prf::HmacSha512 => "prfsha512",
        };
        write!(f, "{}", encr_word(self.encr))?;
        if let Some(i) = self.integ {
            write!(f, "-{}", integ_word(i))?;
        }
        write!(f, "-{prf}-{}", group_word(self.group))
    }
}

impl fmt::Display for EspSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", encr_word(self.encr))?;
        if let Some(i) = self.integ {
            write!(f, "-{}", integ_word(i))?;
        }
        if let Some(g) = self.pfs {
            write!(f, "-{}", group_word(g))?;
        }
        if self.esn {
            write!(f, "-esn")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tested_suites_parse() {
        assert_eq!(
            "aes128gcm16-prfsha256-x25519".parse::<IkeSuite>(),
            Ok(IkeSuite::aes128gcm16_prfsha256_x25519())
        );
        assert_eq!(
            "aes128-sha256-ecp256".parse::<IkeSuite>(),
            Ok(IkeSuite::aes128_sha256_ecp256())
        );
        let e: EspSuite = "aes128gcm16-esn".parse().unwrap();
        assert_eq!(
            (e.encr, e.integ, e.esn, e.pfs),
            (Encr::AesGcm16_128, None, true, None)
        );
        let e: EspSuite = "aes256-sha512-modp2048".parse().unwrap();
        assert_eq!(
            (e.encr, e.integ, e.pfs),
            (
                Encr::AesCbc256,
                Some(Integ::HmacSha512_256),
                Some(Group::Modp2048)
            )
        );
        let i: IkeSuite = "aes256-sha384-modp2048".parse().unwrap();
        assert_eq!(i.prf, Prf::HmacSha384);
    }

    #[test]
    fn display_parses_back() {
        for s in [
            "aes128gcm16-prfsha256-x25519",
            "aes128-sha256-prfsha256-ecp256",
            "chacha20poly1305-prfsha512-modp2048",
        ] {
            let a: IkeSuite = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
            assert_eq!(a.to_string().parse::<IkeSuite>(), Ok(a));
        }
        for s in [
            "aes128gcm16",
            "aes256-sha256-ecp256-esn",
            "chacha20poly1305-x25519",
        ] {
            let a: EspSuite = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
    }

    #[test]
    fn bad_proposals_are_refused_precisely() {
        let ike = |s: &str| s.parse::<IkeSuite>().unwrap_err();
        let esp = |s: &str| s.parse::<EspSuite>().unwrap_err();
        assert_eq!(ike("aes128-x25519"), ProposalError::Integrity);
        assert_eq!(ike("aes128gcm16-sha256-x25519"), ProposalError::Integrity);
        assert_eq!(
            ike("aes128gcm16-prfsha256"),
            ProposalError::Missing("group")
        );
        assert_eq!(
            ike("aes128gcm16-x25519-ecp256"),
            ProposalError::Twice("group")
        );
        assert_eq!(
            ike("aes128gcm16-x25519-esn"),
            ProposalError::NotHere("esn".into())
        );
        assert_eq!(
            ike("des-sha1-modp1024"),
            ProposalError::Unknown("des".into())
        );
        assert_eq!(ike(""), ProposalError::Unknown(String::new()));
        assert_eq!(esp("sha256"), ProposalError::Missing("encryption"));
        assert!(matches!(
            esp("aes128gcm16-prfsha256"),
            ProposalError::NotHere(_)
        ));
    }
}
