//! CHILD SAs (RFC 7296 1.3, 2.17): what an IKE SA remembers of each, and the key
//! hand-over to `ipsec-lite`.

use std::time::Instant;

use ipsec_lite::{Direction, Encap, Mode, Policy, SaParams, Suite};

use crate::crypto::{ChildKeys, Encr, EspSuite, Integ};
use crate::wire::TrafficSelector;

use super::{ChildMode, ChildSaKeys, ts};

/// Lifecycle of a CHILD SA as seen by its IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildState {
    /// Installed and in use.
    Installed,
    /// We sent a CREATE_CHILD_SA rekeying it (RFC 7296 2.8).
    Rekeying,
    /// Replaced by a newer SA; waiting for the DELETE exchange.
    Superseded,
    /// We sent a DELETE for it.
    Deleting,
}

/// One CHILD SA (both directions).
#[derive(Debug, Clone)]
pub(crate) struct ChildSa {
    /// Our SPI (inbound); the CHILD SA's identity in commands and events.
    pub in_spi: u32,
    /// The peer's SPI (outbound).
    pub out_spi: u32,
    pub suite: EspSuite,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub mode: ChildMode,
    pub state: ChildState,
    /// When to start a rekey (we initiate).
    pub rekey_at: Instant,
    /// We answered the exchange that created it and the peer has not yet shown that it
    /// installed its inbound half (RFC 7296 2.8): see [`ChildSaKeys::outbound_ready`].
    pub out_pending: bool,
    /// Inbound SPI of the CHILD SA this one replaced by a rekey.
    pub replaces: Option<u32>,
    /// A superseded SA is forgotten at this instant if the peer never deletes it.
    pub expire_at: Option<Instant>,
    /// Consecutive refused rekeys (the retry backs off).
    pub rekey_failures: u32,
}

/// The `ipsec-lite` suite for a negotiated ESP suite, if `ipsec-lite` implements it.
pub(crate) fn ipsec_suite(s: &EspSuite) -> Option<Suite> {
    Some(match (s.encr, s.integ) {
        (Encr::AesGcm16_128, None) => Suite::AesGcm128,
        (Encr::AesGcm16_256, None) => Suite::AesGcm256,
        (Encr::ChaCha20Poly1305, None) => Suite::ChaCha20Poly1305,
        (Encr::AesCbc128, Some(Integ::HmacSha1_96)) => Suite::AesCbc128HmacSha1,
        (Encr::AesCbc256, Some(Integ::HmacSha1_96)) => Suite::AesCbc256HmacSha1,
        (Encr::AesCbc128, Some(Integ::HmacSha256_128)) => Suite::AesCbc128HmacSha256,
        (Encr::AesCbc256, Some(Integ::HmacSha256_128)) => Suite::AesCbc256HmacSha256,
        _ => return None,
    })
}

/// Everything needed to build the keys event of one CHILD SA.
pub(crate) struct Install<'a> {
    pub child: &'a ChildSa,
    pub keys: &'a ChildKeys,
    /// We initiated the exchange that created it (KEYMAT: initiator-to-responder keys
    /// come first, RFC 7296 2.17).
    pub we_initiated: bool,
    pub local_ip: core::net::IpAddr,
    pub remote_ip: core::net::IpAddr,
    pub encap: Option<(u16, u16)>,
}

impl Install<'_> {
    pub(crate) fn build(&self) -> Option<ChildSaKeys> {
        let suite = ipsec_suite(&self.child.suite)?;
        let (inb, outb) = if self.we_initiated {
            (&self.keys.r_to_i, &self.keys.i_to_r)
        } else {
            (&self.keys.i_to_r, &self.keys.r_to_i)
        };
        let mk = |spi, dir, k: &crate::crypto::EspKeys| {
            let mut p = SaParams::new(
                spi,
                dir,
                suite,
                k.encr.expose().to_vec(),
                k.integ.expose().to_vec(),
            );
            p.esn = self.child.suite.esn;
            p
        };
        let mode = match self.child.mode {
            ChildMode::Transport => Mode::Transport,
            ChildMode::Tunnel => Mode::Tunnel {
                local: self.local_ip,
                remote: self.remote_ip,
            },
        };
        let policy = ts::selector(&self.child.local_ts, &self.child.remote_ts).map(|sel| {
            let mut p = Policy::new(sel, mode);
            p.encap = self.encap.map(|(l, r)| Encap {
                local_port: l,
                remote_port: r,
            });
            p
        });
        Some(ChildSaKeys {
            inbound: mk(self.child.in_spi, Direction::Inbound, inb),
            outbound: mk(self.child.out_spi, Direction::Outbound, outb),
            policy,
            local_ts: self.child.local_ts.clone(),
            remote_ts: self.child.remote_ts.clone(),
            mode: self.child.mode,
            encap: self.encap,
            outbound_ready: !self.child.out_pending,
        })
    }
}
