//! ESP protection of one underlay peer (RFC 4303), built on `ipsec-lite`.
//!
//! Every L2TPv3 message to and from a protected peer, control and data alike, is the
//! payload of one ESP packet with Next Header 115 (L2TPv3 over IP): the message is
//! protected as it would be in transport mode over IP, and the ESP packet travels in
//! the underlay UDP datagram (ESP in UDP, RFC 3948) in place of the bare message. A
//! datagram from a protected peer that does not open is dropped and counted; nothing
//! unprotected is accepted from it.
//!
//! [`EspPeer`] holds a peer's SAs and is shared (behind an `Arc`) by whoever seals
//! and opens (the core's legacy path, the data plane's threads) and by whoever keys
//! them: IKEv2 ([`crate::ike`]) installs, rekeys and deletes CHILD SAs at run time;
//! a static configuration ([`EspConfig`], CBC + HMAC suites only) installs one pair
//! at start. The outbound SA sits behind its own lock, so one counter numbers every
//! packet under a key and no sequence number (for AEAD suites: no nonce) is ever
//! used twice; the inbound SAs sit in an `ipsec_lite::Sad`, which keeps a rekeyed
//! SA's predecessor for a grace period once the new one has carried a packet.

use std::net::IpAddr;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use ipsec_lite::{
    Backend, Direction, IpPrefix, Mode, OuterAddrs, Policy, SaEvent, SaParams, Sad, SadEvent,
    SecurityAssociation, Selector, Suite,
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::security::Secret;

/// IP protocol number of L2TPv3, used as ESP Next Header.
pub const NEXT_HEADER_L2TPV3: u8 = 115;

/// Most inbound SAs one peer holds (the current one, rekeyed ones in their grace
/// period, a duplicate IKE SA's); more are refused.
const MAX_INBOUND: usize = 16;

/// Keys and SPIs of one peer configured statically. `Debug` redacts the keys.
///
/// Only the CBC + HMAC suites may be keyed this way: with AES-GCM or
/// ChaCha20-Poly1305 the sequence number is the nonce, and a restart with the same
/// key repeats nonces (RFC 4106 section 2, RFC 7634 section 2); [`EspPeer::with_static`]
/// refuses them. Key such peers with IKEv2 (`ipsec = { ... }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspConfig {
    /// SPI of the SA we send with (the peer's `spi_in`).
    pub spi_out: u32,
    /// SPI of the SA we receive with (the peer's `spi_out`).
    pub spi_in: u32,
    /// The suite.
    pub suite: Suite,
    /// Key material of the outbound SA, hex: encryption key then integrity key
    /// (AES-CBC-128 + HMAC-SHA-256: 16 + 32 bytes).
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
    /// A static key of the wrong length for its suite.
    #[error("ESP {0}: {1} bytes, the suite needs {2} (encryption + integrity key)")]
    KeyLength(&'static str, usize, usize),
    /// A static key with a suite whose nonce is the sequence number.
    #[error(
        "ESP suite {0:?} with a static key: its nonce is the sequence number, which starts \
         again at 1 on every restart, so nonces repeat under one key and the peer can be \
         decrypted and forged (RFC 4106 section 2, RFC 7634 section 2: automated key \
         management is required); key this peer with IKEv2 (`ipsec = {{ ... }}`), or use a \
         CBC + HMAC suite"
    )]
    StaticAead(Suite),
    /// `ipsec-lite` refused the SA parameters.
    #[error("ESP SA rejected: {0}")]
    Sa(#[from] ipsec_lite::CryptoError),
    /// The inbound SA table refused the SA.
    #[error("ESP SA table: {0}")]
    Sad(#[from] ipsec_lite::SadError),
    /// No outbound SA yet (IKEv2 has not finished).
    #[error("no ESP SA to the peer yet")]
    NoSa,
    /// The outbound SA's header size differs from the room the caller left (the
    /// suite changed in a rekey since the caller looked).
    #[error("ESP header room {0}, the SA needs {1}")]
    Layout(usize, usize),
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

/// Tailroom that suffices for any suite and payload: the data plane reserves it once.
pub fn max_tailroom() -> usize {
    Suite::ALL
        .iter()
        .map(|s| s.esp_max_tailroom())
        .max()
        .unwrap_or(0)
}

/// Most bytes ESP adds to a message (header, IV, padding, trailer, ICV) with any of
/// `suites`: what the underlay must carry beyond the L2TPv3 message.
pub fn max_overhead(suites: impl IntoIterator<Item = Suite>) -> usize {
    suites
        .into_iter()
        .map(|s| s.esp_headroom() + s.esp_max_tailroom())
        .max()
        .unwrap_or(0)
}

/// A short fingerprint of an SA's keys (the first 8 bytes of SHA-256 over them), for
/// logs and status: two runs that derived the same keys show the same fingerprint,
/// and it reveals nothing usable about a 128-bit or longer random key.
pub fn key_fingerprint(p: &SaParams) -> String {
    let mut h = Sha256::new();
    h.update(&p.enc_key);
    h.update(&p.auth_key);
    hex::encode(&h.finalize()[..8])
}

/// Packets sealed, opened and dropped for one peer.
#[derive(Debug, Default)]
pub struct EspCounters {
    /// Packets sealed.
    pub sealed: AtomicU64,
    /// Packets opened.
    pub opened: AtomicU64,
    /// Packets that did not open.
    pub dropped: AtomicU64,
    /// Packets not sent because no outbound SA was up yet.
    pub no_sa: AtomicU64,
}

impl EspCounters {
    /// (sealed, opened, dropped).
    pub fn get(&self) -> (u64, u64, u64) {
        (
            self.sealed.load(Relaxed),
            self.opened.load(Relaxed),
            self.dropped.load(Relaxed),
        )
    }
}

/// One CHILD SA (both halves) as shown in status and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChildInfo {
    /// Our SPI (inbound).
    pub spi_in: u32,
    /// The peer's SPI (outbound).
    pub spi_out: u32,
    /// Suite.
    pub suite: String,
    /// [`key_fingerprint`] of the inbound keys.
    pub key_in: String,
    /// [`key_fingerprint`] of the outbound keys.
    pub key_out: String,
    /// Sending on it.
    pub outbound_active: bool,
}

/// An outbound half waiting until the peer has installed its inbound half
/// (RFC 7296 2.8): it goes live on the first packet authenticated by `spi_in`, or
/// when IKEv2 says the peer is ready.
struct PendingOut {
    spi_in: u32,
    sa: SecurityAssociation,
}

/// The SAs of one protected peer, shared by the code that seals and opens its
/// packets and the code that keys them. Every method takes `&self`.
pub struct EspPeer {
    peer_ip: IpAddr,
    /// Outbound SAs, oldest first; the last one is the one sent on (older ones
    /// stay until their CHILD SA is deleted, to fall back on).
    out: Mutex<Vec<SecurityAssociation>>,
    /// Header room of the outbound SA (of the suite expected before the first one).
    headroom: AtomicUsize,
    inbound: Mutex<Sad>,
    pending: Mutex<Vec<PendingOut>>,
    has_pending: AtomicBool,
    children: Mutex<Vec<ChildInfo>>,
    /// Soft lifetime events seen, by our SPI of the CHILD SA, for IKEv2 to rekey.
    soft: Mutex<Vec<u32>>,
    /// Packet counters.
    pub counts: EspCounters,
}

impl std::fmt::Debug for EspPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (sealed, opened, dropped) = self.counts.get();
        f.debug_struct("EspPeer")
            .field("peer", &self.peer_ip)
            .field("spi_out", &self.spi_out())
            .field("sealed", &sealed)
            .field("opened", &opened)
            .field("dropped", &dropped)
            .finish()
    }
}

impl EspPeer {
    /// A peer at `peer_ip` with no SA yet (IKEv2 installs them); `suite` is the one
    /// expected first (it sizes the header room until an SA is up).
    pub fn new(peer_ip: IpAddr, suite: Suite) -> Self {
        EspPeer {
            peer_ip,
            out: Mutex::new(Vec::new()),
            headroom: AtomicUsize::new(suite.esp_headroom()),
            inbound: Mutex::new(Sad::new(MAX_INBOUND)),
            pending: Mutex::new(Vec::new()),
            has_pending: AtomicBool::new(false),
            children: Mutex::new(Vec::new()),
            soft: Mutex::new(Vec::new()),
            counts: EspCounters::default(),
        }
    }

    /// A peer keyed statically (CBC + HMAC suites only, see [`EspConfig`]), with
    /// extended sequence numbers.
    pub fn with_static(now: Instant, peer_ip: IpAddr, cfg: &EspConfig) -> Result<Self, EspError> {
        if cfg.suite.is_aead() {
            return Err(EspError::StaticAead(cfg.suite));
        }
        let params = |spi, direction, which, key: &Secret| -> Result<SaParams, EspError> {
            let key = unhex(which, key)?;
            let (ek, ak) = (cfg.suite.enc_key_len(), cfg.suite.auth_key_len());
            if key.len() != ek + ak {
                return Err(EspError::KeyLength(which, key.len(), ek + ak));
            }
            let mut p = SaParams::new(
                spi,
                direction,
                cfg.suite,
                key[..ek].to_vec(),
                key[ek..].to_vec(),
            );
            p.esn = true;
            Ok(p)
        };
        let peer = EspPeer::new(peer_ip, cfg.suite);
        let inbound = params(cfg.spi_in, Direction::Inbound, "key_in", &cfg.key_in)?;
        let outbound = params(cfg.spi_out, Direction::Outbound, "key_out", &cfg.key_out)?;
        peer.install(now, &inbound, &outbound, true)?;
        Ok(peer)
    }

    /// The peer's underlay address.
    pub fn peer_ip(&self) -> IpAddr {
        self.peer_ip
    }

    fn policy(&self) -> Policy {
        let any = match self.peer_ip {
            IpAddr::V4(_) => IpAddr::from([0u8; 4]),
            IpAddr::V6(_) => IpAddr::from([0u8; 16]),
        };
        Policy::new(
            Selector {
                local: IpPrefix { addr: any, len: 0 },
                remote: IpPrefix::host(self.peer_ip),
                protocol: Some(NEXT_HEADER_L2TPV3),
                local_port: None,
                remote_port: None,
            },
            Mode::Transport,
        )
    }

    /// Header room the sealing code must leave in front of a message.
    pub fn headroom(&self) -> usize {
        self.headroom.load(Relaxed)
    }

    /// Our SPI of the SA we send with, if any.
    pub fn spi_out(&self) -> Option<u32> {
        self.out.lock().ok()?.last().map(|s| s.spi())
    }

    /// Whether an outbound SA is up.
    pub fn ready(&self) -> bool {
        self.spi_out().is_some()
    }

    /// Seals `buf[payload]` in place; the ESP packet starts at
    /// `payload.start - head` and its length is returned. `head` is the room the
    /// caller left ([`EspPeer::headroom`] when it laid the buffer out).
    pub fn seal(
        &self,
        now: Instant,
        buf: &mut [u8],
        payload: Range<usize>,
        head: usize,
    ) -> Result<usize, EspError> {
        let mut out = self.out.lock().map_err(|_| EspError::NoSa)?;
        let Some(sa) = out.last_mut() else {
            self.counts.no_sa.fetch_add(1, Relaxed);
            return Err(EspError::NoSa);
        };
        if sa.headroom() != head {
            return Err(EspError::Layout(head, sa.headroom()));
        }
        let n = sa.seal(now, buf, payload, NEXT_HEADER_L2TPV3)?.len();
        self.counts.sealed.fetch_add(1, Relaxed);
        Ok(n)
    }

    /// Seals one message into a new buffer (control messages).
    pub fn seal_message(&self, now: Instant, msg: &[u8]) -> Result<Vec<u8>, EspError> {
        let head = self.headroom();
        let mut buf = vec![0u8; head + msg.len() + max_tailroom()];
        buf[head..head + msg.len()].copy_from_slice(msg);
        let n = self.seal(now, &mut buf, head..head + msg.len(), head)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Opens one ESP packet in place; returns where the L2TPv3 message is in
    /// `packet`. A packet on a CHILD SA whose outbound half waits for the peer
    /// switches sending to it (the peer has it installed).
    pub fn open(&self, now: Instant, packet: &mut [u8]) -> Result<Range<usize>, EspError> {
        let base = packet.as_ptr() as usize;
        let outer = OuterAddrs {
            src: self.peer_ip,
            dst: match self.peer_ip {
                IpAddr::V4(_) => IpAddr::from([0u8; 4]),
                IpAddr::V6(_) => IpAddr::from([0u8; 16]),
            },
        };
        let r = match self.inbound.lock() {
            Ok(mut sad) => sad.open(now, outer, packet).map(|d| {
                let start = d.payload.as_ptr() as usize - base;
                (d.spi, d.next_header, start..start + d.payload.len())
            }),
            Err(_) => return Err(EspError::NoSa),
        };
        match r {
            Ok((spi, NEXT_HEADER_L2TPV3, range)) => {
                self.counts.opened.fetch_add(1, Relaxed);
                if self.has_pending.load(Relaxed) {
                    self.activate(spi);
                }
                Ok(range)
            }
            Ok((_, nh, _)) => {
                self.counts.dropped.fetch_add(1, Relaxed);
                Err(EspError::NextHeader(nh))
            }
            Err(e) => {
                self.counts.dropped.fetch_add(1, Relaxed);
                Err(e.into())
            }
        }
    }

    /// Installs a CHILD SA: the inbound half at once, the outbound half now when
    /// `outbound_ready`, else when the peer shows it has the SA ([`EspPeer::open`],
    /// [`EspPeer::outbound_ready`]). The newest outbound SA is the one used.
    pub fn install(
        &self,
        now: Instant,
        inbound: &SaParams,
        outbound: &SaParams,
        outbound_ready: bool,
    ) -> Result<(), EspError> {
        let be = Backend::default();
        let i = SecurityAssociation::new(now, inbound, be)?;
        let o = SecurityAssociation::new(now, outbound, be)?;
        if let Ok(mut sad) = self.inbound.lock() {
            sad.add(i, self.policy())?;
        }
        self.add_outbound(inbound, outbound, o, outbound_ready);
        Ok(())
    }

    /// Records a new CHILD SA and sends on its outbound half now or once ready.
    fn add_outbound(
        &self,
        inbound: &SaParams,
        outbound: &SaParams,
        o: SecurityAssociation,
        ready: bool,
    ) {
        if let Ok(mut c) = self.children.lock() {
            c.retain(|x| x.spi_in != inbound.spi);
            c.push(ChildInfo {
                spi_in: inbound.spi,
                spi_out: outbound.spi,
                suite: outbound.suite.name().to_string(),
                key_in: key_fingerprint(inbound),
                key_out: key_fingerprint(outbound),
                outbound_active: false,
            });
        }
        if ready {
            self.set_outbound(inbound.spi, o);
        } else if let Ok(mut p) = self.pending.lock() {
            p.push(PendingOut {
                spi_in: inbound.spi,
                sa: o,
            });
            self.has_pending.store(true, Relaxed);
        }
    }

    /// Installs the CHILD SA that replaces the one whose inbound SPI is `old_in`
    /// (RFC 7296 2.8): the old inbound SA stays valid until the new one has carried
    /// a packet, then for `grace`.
    pub fn rekey(
        &self,
        now: Instant,
        old_in: u32,
        inbound: &SaParams,
        outbound: &SaParams,
        outbound_ready: bool,
        grace: Duration,
    ) -> Result<(), EspError> {
        let be = Backend::default();
        let i = SecurityAssociation::new(now, inbound, be)?;
        let rekeyed = match self.inbound.lock() {
            Ok(mut sad) if sad.inbound(old_in).is_some() => {
                sad.rekey_inbound(old_in, i, grace)?;
                true
            }
            _ => false,
        };
        if !rekeyed {
            // The old SA is gone already: a plain installation.
            return self.install(now, inbound, outbound, outbound_ready);
        }
        let o = SecurityAssociation::new(now, outbound, be)?;
        self.add_outbound(inbound, outbound, o, outbound_ready);
        Ok(())
    }

    fn set_outbound(&self, spi_in: u32, sa: SecurityAssociation) {
        let spi_out = sa.spi();
        self.headroom.store(sa.headroom(), Relaxed);
        if let Ok(mut out) = self.out.lock() {
            out.retain(|s| s.spi() != spi_out);
            if out.len() >= MAX_INBOUND {
                out.remove(0);
            }
            out.push(sa);
        }
        if let Ok(mut c) = self.children.lock() {
            for x in c.iter_mut() {
                x.outbound_active = x.spi_in == spi_in && x.spi_out == spi_out;
            }
        }
    }

    /// Starts sending on the CHILD SA whose inbound SPI is `spi_in`, if its
    /// outbound half is waiting.
    fn activate(&self, spi_in: u32) {
        let sa = match self.pending.lock() {
            Ok(mut p) => {
                let at = p.iter().position(|x| x.spi_in == spi_in);
                let sa = at.map(|i| p.swap_remove(i).sa);
                self.has_pending.store(!p.is_empty(), Relaxed);
                sa
            }
            Err(_) => None,
        };
        if let Some(sa) = sa {
            tracing::info!(
                peer = %self.peer_ip,
                "ESP: sending on SPI {:#010x} (our SPI {spi_in:#010x})",
                sa.spi()
            );
            self.set_outbound(spi_in, sa);
        }
    }

    /// IKEv2 says the peer has installed the CHILD SA whose inbound SPI is `spi_in`
    /// (RFC 7296 2.8): send on it.
    pub fn outbound_ready(&self, spi_in: u32) {
        self.activate(spi_in);
    }

    /// Two CHILD SAs replaced one (simultaneous rekey, RFC 7296 2.8.1): send on the
    /// survivor (our SPI `new_in`), no more on `old_out`.
    pub fn switched(&self, new_in: u32, old_out: u32) {
        self.activate(new_in);
        if let Ok(mut out) = self.out.lock()
            && out.len() > 1
        {
            out.retain(|s| s.spi() != old_out);
        }
    }

    /// Removes a CHILD SA. A `superseded` one keeps its inbound half until its
    /// grace period ends (the table removes it); the outbound half goes at once
    /// unless nothing newer is there to send on.
    pub fn delete(&self, spi_in: u32, spi_out: u32, superseded: bool) {
        if !superseded && let Ok(mut sad) = self.inbound.lock() {
            let _ = sad.remove(spi_in, Direction::Inbound);
        }
        if let Ok(mut p) = self.pending.lock() {
            p.retain(|x| x.spi_in != spi_in);
            self.has_pending.store(!p.is_empty(), Relaxed);
        }
        // When the current outbound SA goes, the newest older one (another IKE SA's
        // CHILD SA) takes over, if any.
        let now_active = self.out.lock().ok().and_then(|mut out| {
            out.retain(|s| s.spi() != spi_out);
            out.last().map(|s| (s.spi(), s.headroom()))
        });
        if let Ok(mut c) = self.children.lock() {
            c.retain(|x| x.spi_in != spi_in);
            for x in c.iter_mut() {
                x.outbound_active = now_active.is_some_and(|(spi, _)| spi == x.spi_out);
            }
        }
        if let Some((_, head)) = now_active {
            self.headroom.store(head, Relaxed);
        }
    }

    /// Advances the inbound table (grace periods) and collects lifetime events.
    pub fn handle_timeout(&self, now: Instant) {
        let mut soft = Vec::new();
        if let Ok(mut sad) = self.inbound.lock() {
            sad.handle_timeout(now);
            while let Some(ev) = sad.poll_event() {
                match ev {
                    SadEvent::Sa(SaEvent::SoftExpired { spi, .. }) => soft.push(spi),
                    SadEvent::Removed { spi, .. } => {
                        if let Ok(mut c) = self.children.lock() {
                            c.retain(|x| x.spi_in != spi);
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Ok(mut out) = self.out.lock() {
            for sa in out.iter_mut() {
                sa.handle_timeout(now);
                while let Some(ev) = sa.poll_event() {
                    if let SaEvent::SoftExpired { spi, .. } = ev
                        && let Ok(c) = self.children.lock()
                        && let Some(x) = c.iter().find(|x| x.spi_out == spi)
                    {
                        soft.push(x.spi_in);
                    }
                }
            }
        }
        if !soft.is_empty()
            && let Ok(mut s) = self.soft.lock()
        {
            for spi in soft {
                if !s.contains(&spi) {
                    s.push(spi);
                }
            }
        }
    }

    /// The next instant [`EspPeer::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let i = self.inbound.lock().ok().and_then(|s| s.poll_timeout());
        let o = self
            .out
            .lock()
            .ok()
            .and_then(|o| o.iter().filter_map(|s| s.poll_timeout()).min());
        [i, o].into_iter().flatten().min()
    }

    /// CHILD SAs (by our SPI) whose soft lifetime ran out since the last call:
    /// time to rekey them.
    pub fn take_soft_expired(&self) -> Vec<u32> {
        self.soft
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }

    /// The CHILD SAs installed, for status.
    pub fn children(&self) -> Vec<ChildInfo> {
        self.children.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Drops every SA (the IKE SA is gone and no other is up).
    pub fn clear(&self) {
        if let Ok(mut out) = self.out.lock() {
            out.clear();
        }
        if let Ok(mut p) = self.pending.lock() {
            p.clear();
            self.has_pending.store(false, Relaxed);
        }
        if let Ok(mut sad) = self.inbound.lock() {
            for c in self.children() {
                let _ = sad.remove(c.spi_in, Direction::Inbound);
            }
        }
        if let Ok(mut c) = self.children.lock() {
            c.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cbc(spi_out: u32, spi_in: u32, out: &str, inn: &str) -> EspConfig {
        EspConfig {
            spi_out,
            spi_in,
            suite: Suite::AesCbc128HmacSha256,
            key_out: out.into(),
            key_in: inn.into(),
        }
    }

    const K1: &str = "000102030405060708090a0b0c0d0e0f\
                      101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f";
    const K2: &str = "303132333435363738393a3b3c3d3e3f\
                      404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn seal_open_and_tamper() {
        let now = Instant::now();
        let a = EspPeer::with_static(now, ip("10.0.0.2"), &cbc(0x1001, 0x2002, K1, K2)).unwrap();
        let b = EspPeer::with_static(now, ip("10.0.0.1"), &cbc(0x2002, 0x1001, K2, K1)).unwrap();
        let mut pkt = a.seal_message(now, b"\x00\x03\x00\x00l2tp").unwrap();
        assert_eq!(&pkt[..4], &0x1001u32.to_be_bytes()[..]);
        let mut copy = pkt.clone();
        let r = b.open(now, &mut pkt).unwrap();
        assert_eq!(&pkt[r], b"\x00\x03\x00\x00l2tp");
        // Replay of the same packet is refused.
        assert!(b.open(now, &mut copy).is_err());
        let mut bad = a.seal_message(now, b"x").unwrap();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(b.open(now, &mut bad).is_err());
        assert_eq!(b.counts.get(), (0, 1, 2));
        assert!(EspPeer::with_static(now, ip("10.0.0.2"), &cbc(1, 2, "zz", K2)).is_err());
        assert!(matches!(
            EspPeer::with_static(now, ip("10.0.0.2"), &cbc(1, 2, "00", K2)),
            Err(EspError::KeyLength("key_out", 1, 48))
        ));
    }

    /// A static key with an AEAD suite is refused, with the RFC's reason.
    #[test]
    fn static_aead_is_refused() {
        for suite in [Suite::AesGcm128, Suite::AesGcm256, Suite::ChaCha20Poly1305] {
            let cfg = EspConfig {
                suite,
                ..cbc(1, 2, K1, K2)
            };
            let e = EspPeer::with_static(Instant::now(), ip("10.0.0.2"), &cfg).unwrap_err();
            assert!(matches!(e, EspError::StaticAead(_)), "{e}");
            assert!(e.to_string().contains("RFC 4106"), "{e}");
        }
    }

    /// Nothing goes out before an SA is installed; a responder's outbound half
    /// waits until the peer's first packet on the new SA, then takes over.
    #[test]
    fn outbound_waits_for_the_peer_then_switches() {
        let now = Instant::now();
        let gcm =
            |spi, dir, k: u8| SaParams::new(spi, dir, Suite::AesGcm128, vec![k; 20], Vec::new());
        let a = EspPeer::new(ip("10.0.0.2"), Suite::AesGcm128);
        let b = EspPeer::new(ip("10.0.0.1"), Suite::AesGcm128);
        assert!(matches!(a.seal_message(now, b"m"), Err(EspError::NoSa)));
        assert_eq!(a.counts.no_sa.load(Relaxed), 1);
        // a initiated (ready at once), b answered (waits).
        a.install(
            now,
            &gcm(0xa1, Direction::Inbound, 1),
            &gcm(0xb1, Direction::Outbound, 2),
            true,
        )
        .unwrap();
        b.install(
            now,
            &gcm(0xb1, Direction::Inbound, 2),
            &gcm(0xa1, Direction::Outbound, 1),
            false,
        )
        .unwrap();
        assert!(!b.ready());
        let mut p = a.seal_message(now, b"hello").unwrap();
        let r = b.open(now, &mut p).unwrap();
        assert_eq!(&p[r], b"hello");
        assert_eq!(b.spi_out(), Some(0xa1));
        // A rekey: the old inbound SA keeps working until the new one is used.
        a.rekey(
            now,
            0xa1,
            &gcm(0xa2, Direction::Inbound, 3),
            &gcm(0xb2, Direction::Outbound, 4),
            true,
            Duration::from_secs(1),
        )
        .unwrap();
        let mut old = b.seal_message(now, b"old").unwrap();
        b.rekey(
            now,
            0xb1,
            &gcm(0xb2, Direction::Inbound, 4),
            &gcm(0xa2, Direction::Outbound, 3),
            false,
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(a.open(now, &mut old).is_ok(), "in flight on the old SA");
        let mut new = a.seal_message(now, b"new").unwrap();
        assert_eq!(&new[..4], &0xb2u32.to_be_bytes()[..]);
        assert!(b.open(now, &mut new).is_ok());
        assert_eq!(b.spi_out(), Some(0xa2));
        assert_eq!(b.children().iter().filter(|c| c.outbound_active).count(), 1);
        b.delete(0xb1, 0xa1, true);
        a.delete(0xb2, 0xa2, false);
        assert!(!a.ready() || a.spi_out() == Some(0xb2));
    }

    /// Neither `Debug` nor a key error shows key material.
    #[test]
    fn keys_never_print() {
        let secret_hex = "000102030405060708090a0b0c0d0e0f1011121z";
        let cfg = cbc(1, 2, secret_hex, K2);
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("0a0b0c") && !dbg.contains("4a4b4c"), "{dbg}");
        let e = EspPeer::with_static(Instant::now(), ip("10.0.0.2"), &cfg)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("0a0b0c"), "{e}");
        assert!(e.contains("key_out"), "{e}");
    }
}
