//! ESP protection of one underlay peer (RFC 4303), built on `ipsec-lite`.
//!
//! Every L2TPv3 message to and from a protected peer, control and data alike, is the
//! payload of one ESP packet with Next Header 115 (L2TPv3 over IP): the message is
//! protected as it would be in transport mode over IP, and the ESP packet travels in
//! the underlay UDP datagram in place of the bare message. A datagram from a protected
//! peer that does not open is dropped and counted; nothing unprotected is accepted
//! from it.

use std::time::Instant;

use ipsec_lite::{Backend, Direction, SaParams, SecurityAssociation, Suite};
use zeroize::Zeroizing;

use crate::security::Secret;

/// IP protocol number of L2TPv3, used as ESP Next Header.
pub const NEXT_HEADER_L2TPV3: u8 = 115;

/// Keys and SPIs of one protected peer, as configured. `Debug` redacts the keys.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct EspConfig {
    /// SPI of the SA we send with (the peer's `spi_in`).
    pub spi_out: u32,
    /// SPI of the SA we receive with (the peer's `spi_out`).
    pub spi_in: u32,
    /// Key material of the outbound SA, hex (AES-GCM-128: 16-byte key + 4-byte salt).
    pub key_out: Secret,
    /// Key material of the inbound SA, hex.
    pub key_in: Secret,
}

/// Why ESP could not be set up or a packet was dropped.
#[derive(Debug, thiserror::Error)]
pub enum EspError {
    /// A key is not valid hex (the key itself is never echoed).
    #[error("ESP {0} is not valid hex ({1} characters)")]
    KeyHex(&'static str, usize),
    /// `ipsec-lite` refused the SA parameters.
    #[error("ESP SA rejected: {0}")]
    Sa(#[from] ipsec_lite::CryptoError),
    /// Sealing failed (sequence exhausted, SA expired).
    #[error("ESP seal: {0}")]
    Seal(#[from] ipsec_lite::OutboundError),
    /// Opening failed (replay, integrity, unknown SPI, truncated).
    #[error("ESP open: {0}")]
    Open(#[from] ipsec_lite::InboundError),
    /// The packet opened but does not carry L2TPv3.
    #[error("ESP next header {0}, expected 115 (L2TPv3)")]
    NextHeader(u8),
}

fn unhex(which: &'static str, s: &Secret) -> Result<Zeroizing<Vec<u8>>, EspError> {
    let s = s.expose().trim_ascii();
    hex::decode(s)
        .map(Zeroizing::new)
        .map_err(|_| EspError::KeyHex(which, s.len()))
}

/// The outbound and inbound SAs of one peer.
pub struct EspLink {
    tx: SecurityAssociation,
    rx: SecurityAssociation,
    /// Packets that did not open (integrity, replay, garbage), for reports.
    pub dropped: u64,
}

impl std::fmt::Debug for EspLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspLink")
            .field("spi_out", &self.tx.spi())
            .field("spi_in", &self.rx.spi())
            .field("sent", &self.tx.packets())
            .field("received", &self.rx.packets())
            .field("dropped", &self.dropped)
            .finish()
    }
}

impl EspLink {
    /// AES-GCM-128 SAs with extended sequence numbers from the configured keys.
    pub fn new(now: Instant, cfg: &EspConfig) -> Result<Self, EspError> {
        let params = |spi, direction, which, key: &Secret| -> Result<SaParams, EspError> {
            let key = unhex(which, key)?;
            let mut p = SaParams::new(spi, direction, Suite::AesGcm128, key.to_vec(), Vec::new());
            p.esn = true;
            Ok(p)
        };
        let backend = Backend::default();
        Ok(EspLink {
            tx: SecurityAssociation::new(
                now,
                &params(cfg.spi_out, Direction::Outbound, "key_out", &cfg.key_out)?,
                backend,
            )?,
            rx: SecurityAssociation::new(
                now,
                &params(cfg.spi_in, Direction::Inbound, "key_in", &cfg.key_in)?,
                backend,
            )?,
            dropped: 0,
        })
    }

    /// Protects one L2TPv3 message; returns the ESP packet.
    pub fn seal(&mut self, now: Instant, message: &[u8]) -> Result<Vec<u8>, EspError> {
        let head = self.tx.headroom();
        let mut buf = vec![0u8; head + message.len() + self.tx.tailroom(message.len())];
        buf[head..head + message.len()].copy_from_slice(message);
        let packet = self.tx.seal(
            now,
            &mut buf,
            head..head + message.len(),
            NEXT_HEADER_L2TPV3,
        )?;
        Ok(packet.to_vec())
    }

    /// Opens one ESP packet in place; returns the L2TPv3 message within `packet`.
    pub fn open<'a>(&mut self, now: Instant, packet: &'a mut [u8]) -> Result<&'a [u8], EspError> {
        match self.rx.open(now, packet) {
            Ok(o) if o.next_header == NEXT_HEADER_L2TPV3 => Ok(o.payload),
            Ok(o) => {
                self.dropped += 1;
                Err(EspError::NextHeader(o.next_header))
            }
            Err(e) => {
                self.dropped += 1;
                Err(e.into())
            }
        }
    }

    /// Packets sealed and opened so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.tx.packets(), self.rx.packets())
    }

    /// The outbound and inbound SAs, for a data plane that seals and opens this
    /// peer's packets itself from now on ([`crate::dataplane`]).
    pub fn into_sas(self) -> (SecurityAssociation, SecurityAssociation) {
        (self.tx, self.rx)
    }
}

/// Packets sealed, opened and dropped for a peer whose SAs moved out of the core to
/// a data plane ([`crate::core::Core::take_esp`]), which counts them here.
#[derive(Debug, Default)]
pub struct EspCounters {
    /// Packets sealed.
    pub sealed: std::sync::atomic::AtomicU64,
    /// Packets opened.
    pub opened: std::sync::atomic::AtomicU64,
    /// Packets that did not open.
    pub dropped: std::sync::atomic::AtomicU64,
}

impl EspCounters {
    /// (sealed, opened, dropped).
    pub fn get(&self) -> (u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.sealed.load(Relaxed),
            self.opened.load(Relaxed),
            self.dropped.load(Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let now = Instant::now();
        let a_cfg = EspConfig {
            spi_out: 0x1001,
            spi_in: 0x2002,
            key_out: "000102030405060708090a0b0c0d0e0f10111213".into(),
            key_in: "202122232425262728292a2b2c2d2e2f30313233".into(),
        };
        let b_cfg = EspConfig {
            spi_out: a_cfg.spi_in,
            spi_in: a_cfg.spi_out,
            key_out: a_cfg.key_in.clone(),
            key_in: a_cfg.key_out.clone(),
        };
        let mut a = EspLink::new(now, &a_cfg).unwrap();
        let mut b = EspLink::new(now, &b_cfg).unwrap();
        let mut pkt = a.seal(now, b"\x00\x03\x00\x00l2tp").unwrap();
        assert_eq!(&pkt[..4], &0x1001u32.to_be_bytes()[..]);
        let mut copy = pkt.clone();
        assert_eq!(b.open(now, &mut pkt).unwrap(), b"\x00\x03\x00\x00l2tp");
        // Replay of the same packet is refused.
        assert!(b.open(now, &mut copy).is_err());
        let mut bad = a.seal(now, b"x").unwrap();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(b.open(now, &mut bad).is_err());
        assert_eq!(b.dropped, 2);
        assert!(
            EspLink::new(
                now,
                &EspConfig {
                    key_out: "zz".into(),
                    ..a_cfg
                }
            )
            .is_err()
        );
    }

    /// Neither `Debug` nor a key error shows key material.
    #[test]
    fn keys_never_print() {
        let secret_hex = "000102030405060708090a0b0c0d0e0f1011121z";
        let cfg = EspConfig {
            spi_out: 1,
            spi_in: 2,
            key_out: secret_hex.into(),
            key_in: "202122232425262728292a2b2c2d2e2f30313233".into(),
        };
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("0a0b0c") && !dbg.contains("2a2b2c"), "{dbg}");
        let e = EspLink::new(Instant::now(), &cfg).unwrap_err().to_string();
        assert!(!e.contains("0a0b0c"), "{e}");
        assert!(e.contains("key_out"), "{e}");
    }
}
