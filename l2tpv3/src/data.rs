//! Data messages (RFC 3931 sections 3.2.2, 4.1.1.1, 4.1.2.1) with the Default
//! L2-Specific Sublayer (section 4.6).
//!
//! The session header carries no length and no cookie size: how long the cookie is
//! and whether a sublayer follows are per-session configuration ([`SessionConfig`]),
//! learned from the Assigned Cookie and L2-Specific Sublayer AVPs or set statically.
//!
//! Nothing here copies a payload. The fast path is [`HeaderTemplate`]: built once
//! per session with the header's fixed bytes, it writes a header in place into
//! headroom in front of a payload in a `&mut [u8]` (one fixed-size store plus the
//! sequence word) and validates a received one (Session ID, cookie in constant
//! time, sublayer), returning the payload's range. [`crate::Endpoint`] keeps one
//! receive and one transmit template per established session and runs its data
//! path through them ([`crate::Endpoint::encapsulate`],
//! [`crate::Endpoint::handle_datagram`]). [`encapsulate`], [`decapsulate`] and
//! [`decapsulate_session`] are one-off forms for a [`BytesMut`] (moving the
//! buffer's start); [`DataPacket::parse`] returns a borrowed view.

use std::fmt;
use std::ops::Range;

use bytes::{Buf, BufMut, BytesMut};
use subtle::ConstantTimeEq;

use crate::error::{DataError, EncodeError};
use crate::header::{Encapsulation, FLAG_T, VERSION, VERSION_MASK};

/// Largest data header: 4-byte UDP flags word, Session ID, 8-byte cookie, sublayer.
pub const MAX_DATA_HEADER_LEN: usize = 4 + 4 + 8 + 4;

/// The session cookie (RFC 3931 section 4.1): absent, 32 or 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Cookie {
    /// No cookie.
    #[default]
    None,
    /// A 4-byte cookie.
    Four([u8; 4]),
    /// An 8-byte cookie.
    Eight([u8; 8]),
}

impl Cookie {
    /// The cookie's length in bytes: 0, 4 or 8.
    #[inline]
    pub const fn len(&self) -> usize {
        match self {
            Cookie::None => 0,
            Cookie::Four(_) => 4,
            Cookie::Eight(_) => 8,
        }
    }

    /// Whether there is no cookie.
    pub const fn is_empty(&self) -> bool {
        matches!(self, Cookie::None)
    }

    /// The cookie bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Cookie::None => &[],
            Cookie::Four(c) => c,
            Cookie::Eight(c) => c,
        }
    }

    /// A cookie from 0, 4 or 8 bytes; `None` for any other length.
    pub fn from_slice(b: &[u8]) -> Option<Cookie> {
        match b.len() {
            0 => Some(Cookie::None),
            4 => b.try_into().ok().map(Cookie::Four),
            8 => b.try_into().ok().map(Cookie::Eight),
            _ => None,
        }
    }
}

impl fmt::Display for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        crate::avp::fmt_hex(f, self.as_bytes())
    }
}

/// Cookie size configured for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CookieLen {
    /// No cookie.
    #[default]
    Zero,
    /// 32-bit cookie.
    Four,
    /// 64-bit cookie.
    Eight,
}

impl CookieLen {
    /// Length in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            CookieLen::Zero => 0,
            CookieLen::Four => 4,
            CookieLen::Eight => 8,
        }
    }

    /// The setting for 0, 4 or 8 bytes.
    pub const fn from_bytes(n: usize) -> Option<CookieLen> {
        match n {
            0 => Some(CookieLen::Zero),
            4 => Some(CookieLen::Four),
            8 => Some(CookieLen::Eight),
            _ => None,
        }
    }
}

/// Which L2-Specific Sublayer a session uses (the L2-Specific Sublayer AVP, 5.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SublayerKind {
    /// No sublayer (type 0).
    None,
    /// The Default L2-Specific Sublayer of section 4.6 (type 1).
    #[default]
    Default,
}

/// What a receiver must know about a session to parse its data messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionConfig {
    /// Over IP or over UDP.
    pub encapsulation: Encapsulation,
    /// Cookie size.
    pub cookie_len: CookieLen,
    /// Sublayer presence.
    pub sublayer: SublayerKind,
}

impl SessionConfig {
    /// Header length for this configuration.
    #[inline]
    pub const fn header_len(&self) -> usize {
        let udp = match self.encapsulation {
            Encapsulation::Udp => 4,
            Encapsulation::Ip => 0,
        };
        let sublayer = match self.sublayer {
            SublayerKind::Default => 4,
            SublayerKind::None => 0,
        };
        udp + 4 + self.cookie_len.bytes() + sublayer
    }
}

/// Half the 24-bit sequence space: a sequence number this far or further ahead of
/// the expected one is taken as old (RFC 3931 section 4.6).
pub(crate) const SEQ_HALF: u32 = 0x0080_0000;

/// The receive sequence check of one session (RFC 3931 section 4.6, the Default
/// L2-Specific Sublayer of RFC 4719 section 4): a packet with the S bit clear passes
/// unsequenced; a sequenced one passes unless it is older than or equal to the last
/// accepted (half the sequence space or less behind the expected number), and then
/// moves the expected number on. The first sequenced packet is always accepted.
///
/// The endpoint's data path applies it ([`crate::Endpoint::handle_data`]); a data
/// plane that checks a session's data itself gets the session's state in
/// [`crate::SessionTemplates::rx_sequence`] and applies the same rule with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceCheck {
    /// The S bit where the sublayer word is read ([`DefaultSublayer::S_BIT`]), or
    /// zero for a session without sublayer (everything then counts as unsequenced).
    s_bit: u32,
    /// Next sequence number expected, in its low 24 bits (the bits above are not
    /// used).
    next: u32,
    /// Selects the bit of `seq - next` that says "half the space or less behind":
    /// zero until the first sequenced packet (anything is accepted), [`SEQ_HALF`]
    /// from then on.
    old: u32,
}

/// A sequenced data packet older than or equal to the last one accepted (RFC 3931
/// section 4.6): dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("data sequence number {0} is not after the last accepted one")]
pub struct OutOfOrder(pub u32);

impl SequenceCheck {
    /// The state of a new session; `sublayer`: whether its data carries the Default
    /// L2-Specific Sublayer (without one, nothing is sequenced).
    pub const fn new(sublayer: bool) -> Self {
        SequenceCheck {
            s_bit: if sublayer { DefaultSublayer::S_BIT } else { 0 },
            next: 0,
            old: 0,
        }
    }

    /// Checks the sublayer of a received data packet (as
    /// [`HeaderTemplate::decapsulate`] returns it): `Ok(None)` unsequenced,
    /// `Ok(Some(seq))` accepted in order (or after a gap), `Err` for a drop.
    #[inline]
    pub fn accept(&mut self, sublayer: Option<DefaultSublayer>) -> Result<Option<u32>, OutOfOrder> {
        self.accept_word(sublayer.map_or(0, |l| l.word()))
    }

    /// [`SequenceCheck::accept`] on the raw sublayer word (reserved bits ignored).
    #[inline(always)]
    pub(crate) fn accept_word(&mut self, word: u32) -> Result<Option<u32>, OutOfOrder> {
        if word & self.s_bit == 0 {
            return Ok(None);
        }
        // `seq - next` modulo 2^24 is at least half the space exactly when bit 23
        // of the difference is set; the low 24 bits of a difference depend on the
        // low 24 bits of its operands only, so neither is masked first (the word's
        // S bit and the carry out of `next` stay above them).
        if word.wrapping_sub(self.next) & self.old != 0 {
            return Err(OutOfOrder(word & DefaultSublayer::MAX_SEQUENCE));
        }
        self.next = word.wrapping_add(1);
        self.old = SEQ_HALF;
        Ok(Some(word & DefaultSublayer::MAX_SEQUENCE))
    }
}

/// The Default L2-Specific Sublayer (RFC 3931 figure 4.6): S bit and 24-bit sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DefaultSublayer {
    /// S bit: `sequence` is valid.
    pub sequenced: bool,
    /// The 24-bit sequence number (undefined when `sequenced` is false, but kept).
    pub sequence: u32,
}

impl DefaultSublayer {
    /// Largest sequence number (2^24 - 1).
    pub const MAX_SEQUENCE: u32 = 0x00ff_ffff;
    /// The S bit in the sublayer word: the sequence number is valid.
    pub(crate) const S_BIT: u32 = 0x4000_0000;

    /// A sublayer carrying sequence number `seq` (masked to 24 bits).
    pub const fn sequenced(seq: u32) -> Self {
        DefaultSublayer {
            sequenced: true,
            sequence: seq & Self::MAX_SEQUENCE,
        }
    }

    /// A sublayer with the S bit clear.
    pub const fn unsequenced() -> Self {
        DefaultSublayer {
            sequenced: false,
            sequence: 0,
        }
    }

    #[inline]
    fn word(&self) -> u32 {
        let s = if self.sequenced { Self::S_BIT } else { 0 };
        s | (self.sequence & Self::MAX_SEQUENCE)
    }

    #[inline]
    pub(crate) fn from_word(w: u32) -> Self {
        DefaultSublayer {
            sequenced: w & Self::S_BIT != 0,
            sequence: w & Self::MAX_SEQUENCE,
        }
    }
}

/// The fields of a data message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataHeader {
    /// Session ID (non-zero), chosen by the receiver.
    pub session_id: u32,
    /// The session cookie.
    pub cookie: Cookie,
    /// The Default L2-Specific Sublayer, when the session uses it.
    pub sublayer: Option<DefaultSublayer>,
}

impl DataHeader {
    /// Header length for the given encapsulation.
    #[inline]
    pub const fn len(&self, encap: Encapsulation) -> usize {
        let udp = match encap {
            Encapsulation::Udp => 4,
            Encapsulation::Ip => 0,
        };
        let sublayer = if self.sublayer.is_some() { 4 } else { 0 };
        udp + 4 + self.cookie.len() + sublayer
    }

    /// The session configuration this header matches.
    pub const fn config(&self, encapsulation: Encapsulation) -> SessionConfig {
        SessionConfig {
            encapsulation,
            cookie_len: match self.cookie {
                Cookie::None => CookieLen::Zero,
                Cookie::Four(_) => CookieLen::Four,
                Cookie::Eight(_) => CookieLen::Eight,
            },
            sublayer: if self.sublayer.is_some() {
                SublayerKind::Default
            } else {
                SublayerKind::None
            },
        }
    }

    /// Writes the header (without payload) into `out`.
    pub fn encode(&self, encap: Encapsulation, out: &mut impl BufMut) -> Result<(), EncodeError> {
        let needed = self.len(encap);
        if out.remaining_mut() < needed {
            return Err(EncodeError::BufferTooSmall {
                needed,
                available: out.remaining_mut(),
            });
        }
        if let Some(s) = self.sublayer
            && s.sequence > DefaultSublayer::MAX_SEQUENCE
        {
            return Err(EncodeError::SequenceOutOfRange(s.sequence));
        }
        let (bytes, len) = self.to_bytes(encap);
        out.put_slice(&bytes[..len]);
        Ok(())
    }

    /// The header laid out in a fixed array, and its length.
    fn to_bytes(self, encap: Encapsulation) -> ([u8; MAX_DATA_HEADER_LEN], usize) {
        let mut b = [0u8; MAX_DATA_HEADER_LEN];
        let len = self.len(encap);
        self.write_into(encap, &mut b[..len]);
        (b, len)
    }

    /// Writes the header into `slot`, which is exactly `self.len(encap)` bytes long.
    /// Every copy has a fixed size, so this compiles to a handful of stores.
    #[inline]
    fn write_into(&self, encap: Encapsulation, slot: &mut [u8]) {
        let mut at = 0;
        if encap == Encapsulation::Udp {
            // T=0, reserved bits zero, Ver=3, Reserved 16 bits zero.
            slot[..4].copy_from_slice(&[0, VERSION, 0, 0]);
            at = 4;
        }
        slot[at..at + 4].copy_from_slice(&self.session_id.to_be_bytes());
        at += 4;
        match &self.cookie {
            Cookie::None => {}
            Cookie::Four(c) => {
                slot[at..at + 4].copy_from_slice(c);
                at += 4;
            }
            Cookie::Eight(c) => {
                slot[at..at + 8].copy_from_slice(c);
                at += 8;
            }
        }
        if let Some(s) = self.sublayer {
            slot[at..at + 4].copy_from_slice(&s.word().to_be_bytes());
        }
    }

    /// Decodes a data header and returns it with the offset at which the payload starts.
    #[inline]
    pub fn decode(buf: &[u8], config: &SessionConfig) -> Result<(DataHeader, usize), DataError> {
        // The data path is hot: fixed-width reads at known offsets, each checked
        // against the bytes present (the checks never fail once the buffer holds the
        // configured header length, so they cost a predictable branch each).
        let mut at = 0;
        if config.encapsulation == Encapsulation::Udp {
            let flags = read::<2>(buf, 0).ok_or_else(|| truncated(buf, 0, 4))?;
            let flags = u16::from_be_bytes(flags);
            if flags & FLAG_T != 0 {
                return Err(DataError::ControlMessage { offset: 0 });
            }
            let version = (flags & VERSION_MASK) as u8;
            if version != VERSION {
                return Err(DataError::UnsupportedVersion { offset: 0, version });
            }
            read::<2>(buf, 2).ok_or_else(|| truncated(buf, 0, 4))?; // Reserved
            at = 4;
        }
        let session_id = read::<4>(buf, at).ok_or_else(|| truncated(buf, at, 4))?;
        let session_id = u32::from_be_bytes(session_id);
        if session_id == 0 {
            return Err(DataError::ZeroSessionId { offset: at });
        }
        at += 4;
        let cookie = match config.cookie_len {
            CookieLen::Zero => Cookie::None,
            CookieLen::Four => Cookie::Four(read(buf, at).ok_or_else(|| truncated(buf, at, 4))?),
            CookieLen::Eight => Cookie::Eight(read(buf, at).ok_or_else(|| truncated(buf, at, 8))?),
        };
        at += cookie.len();
        let sublayer = match config.sublayer {
            SublayerKind::None => None,
            SublayerKind::Default => {
                let w = read::<4>(buf, at).ok_or_else(|| truncated(buf, at, 4))?;
                at += 4;
                Some(DefaultSublayer::from_word(u32::from_be_bytes(w)))
            }
        };
        Ok((
            DataHeader {
                session_id,
                cookie,
                sublayer,
            },
            at,
        ))
    }
}

/// `N` bytes at `at`, if present.
#[inline(always)]
fn read<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn truncated(buf: &[u8], offset: usize, needed: usize) -> DataError {
    DataError::Truncated {
        offset,
        needed,
        available: buf.len().saturating_sub(offset),
    }
}

impl fmt::Display for DataHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "session={:#010x} cookie={}",
            self.session_id, self.cookie
        )?;
        match self.sublayer {
            None => f.write_str(" sublayer=none"),
            Some(s) if s.sequenced => write!(f, " sublayer=S seq={}", s.sequence),
            Some(_) => f.write_str(" sublayer=unsequenced"),
        }
    }
}

/// A decoded data message borrowing its payload from the packet buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataPacket<'a> {
    /// The session header.
    pub header: DataHeader,
    /// The tunnelled frame (for an Ethernet pseudowire, starting at the destination MAC).
    pub payload: &'a [u8],
}

impl<'a> DataPacket<'a> {
    /// Parses a data message without copying: the payload is a slice of `buf`.
    #[inline]
    pub fn parse(buf: &'a [u8], config: &SessionConfig) -> Result<DataPacket<'a>, DataError> {
        let (header, at) = DataHeader::decode(buf, config)?;
        Ok(DataPacket {
            header,
            payload: &buf[at..],
        })
    }
}

/// A data message arrived that does not belong to the session it was checked
/// against, or could not be decoded at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecapError {
    /// The header is malformed (truncated, a control message, wrong version).
    #[error(transparent)]
    Malformed(#[from] DataError),
    /// The Session ID is not the one this session was assigned.
    #[error("session ID {found:#010x} at offset {offset} is not this session's {expected:#010x}")]
    WrongSession {
        /// Offset of the Session ID.
        offset: usize,
        /// The session's ID.
        expected: u32,
        /// The ID in the packet.
        found: u32,
    },
    /// The cookie does not match the session's (RFC 3931 section 4.1: drop it).
    #[error("cookie at offset {offset} does not match the session's")]
    BadCookie {
        /// Offset of the cookie.
        offset: usize,
    },
}

/// What [`HeaderTemplate::decapsulate`] found in a data message it accepted: the
/// per-packet part of the header (Session ID and cookie are the template's) and
/// where the payload lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decapsulated {
    /// The Default L2-Specific Sublayer, when the session has one.
    pub sublayer: Option<DefaultSublayer>,
    /// The payload's range in the buffer given to `decapsulate`.
    pub payload: Range<usize>,
}

/// The data header of one session, laid out once when the session is set up.
///
/// Everything in a data header except the sublayer's S bit and sequence number is
/// fixed for the life of a session, so fast data planes keep the header bytes
/// ready and patch only the sequence per packet. The same template serves both
/// directions: built from the peer's Session ID and cookie it [`encapsulate`]s
/// what we send; built from our own it [`decapsulate`]s and validates what we
/// receive (Session ID match, cookie compared in constant time, sublayer parse).
///
/// ```
/// use l2tpv3::data::{
///     Cookie, DecapError, DefaultSublayer, HeaderTemplate, MAX_DATA_HEADER_LEN, SublayerKind,
/// };
/// use l2tpv3::header::Encapsulation;
///
/// // Built once per session: the peer's Session ID and cookie.
/// let session = HeaderTemplate::new(
///     Encapsulation::Udp,
///     0x0000_2a01,
///     Cookie::Four([0xc0, 0x0c, 0xa1, 0xe5]),
///     SublayerKind::Default,
/// )
/// .unwrap();
///
/// // A frame read into a buffer behind MAX_DATA_HEADER_LEN bytes of headroom.
/// let mut buf = vec![0u8; MAX_DATA_HEADER_LEN + 60];
/// buf[MAX_DATA_HEADER_LEN..].fill(0xab);
/// let start = session
///     .encapsulate(&mut buf, MAX_DATA_HEADER_LEN, DefaultSublayer::sequenced(7))
///     .unwrap();
/// let packet = &buf[start..]; // 16-byte header + frame, ready for the UDP socket
/// assert_eq!(&packet[..8], &[0, 3, 0, 0, 0, 0, 0x2a, 0x01]);
///
/// // The receiver's template for the same session validates it.
/// let got = session.decapsulate(packet).unwrap();
/// assert_eq!(got.sublayer, Some(DefaultSublayer::sequenced(7)));
/// assert_eq!(&packet[got.payload], &[0xab; 60]);
///
/// // A wrong cookie is refused.
/// let mut forged = packet.to_vec();
/// forged[8] ^= 1;
/// assert_eq!(session.decapsulate(&forged), Err(DecapError::BadCookie { offset: 8 }));
/// ```
///
/// [`encapsulate`]: HeaderTemplate::encapsulate
/// [`decapsulate`]: HeaderTemplate::decapsulate
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderTemplate {
    /// The header with S clear and sequence zero, right-aligned: the header is
    /// `bytes[MAX_DATA_HEADER_LEN - len..]` and the bytes in front of it are zero.
    bytes: [u8; MAX_DATA_HEADER_LEN],
    len: u8,
    /// Offset of the Session ID (4 over UDP, 0 over IP).
    sid_at: u8,
    /// Offset of the sublayer word (`len - 4`) minus 4: 0, 4, 8 or 12, as the
    /// word lies at 4 to 16 (over IP behind the Session ID, over UDP behind the
    /// flags word and Session ID, in both after a cookie of 0, 4 or 8 bytes).
    /// Without a sublayer, a word of the header is read and not used.
    sub_past_4: u8,
    encapsulation: Encapsulation,
    session_id: u32,
    cookie: Cookie,
    /// The cookie as a big-endian number (zero-extended), for the constant-time compare.
    cookie_word: u64,
    sublayer: bool,
    /// The first [`WIDE`] bytes of the header (left-aligned, zero-padded) as one
    /// number, and the mask that selects from it the bits a receiver checks: T bit
    /// and Ver (over UDP), Session ID and cookie.
    expect: u128,
    mask: u128,
}

/// How many leading bytes of a packet the receive fast path checks at once: the
/// flags word, Session ID and cookie always lie within them.
pub(crate) const WIDE: usize = 16;

impl HeaderTemplate {
    /// The template for `session_id` and `cookie` (the receiver's, RFC 3931 section
    /// 4.1), with or without the Default L2-Specific Sublayer. A zero Session ID is
    /// refused: it marks control messages over IP and is invalid over UDP.
    pub fn new(
        encapsulation: Encapsulation,
        session_id: u32,
        cookie: Cookie,
        sublayer: SublayerKind,
    ) -> Option<HeaderTemplate> {
        (session_id != 0).then(|| Self::build(encapsulation, session_id, cookie, sublayer))
    }

    fn build(
        encapsulation: Encapsulation,
        session_id: u32,
        cookie: Cookie,
        sublayer: SublayerKind,
    ) -> HeaderTemplate {
        let header = DataHeader {
            session_id,
            cookie,
            sublayer: match sublayer {
                SublayerKind::None => None,
                SublayerKind::Default => Some(DefaultSublayer::unsequenced()),
            },
        };
        let len = header.len(encapsulation);
        let mut bytes = [0u8; MAX_DATA_HEADER_LEN];
        header.write_into(encapsulation, &mut bytes[MAX_DATA_HEADER_LEN - len..]);
        let cookie_word = match cookie {
            Cookie::None => 0,
            Cookie::Four(c) => u64::from(u32::from_be_bytes(c)),
            Cookie::Eight(c) => u64::from_be_bytes(c),
        };
        let sid_at = if encapsulation == Encapsulation::Udp {
            4
        } else {
            0
        };
        let cookie_at = sid_at + 4;
        let mut first = [0u8; WIDE];
        let n = len.min(WIDE);
        first[..n].copy_from_slice(&bytes[MAX_DATA_HEADER_LEN - len..][..n]);
        let mut mask = [0u8; WIDE];
        if encapsulation == Encapsulation::Udp {
            // T bit and Ver; the L, S and reserved bits are ignored on receipt.
            mask[..2].copy_from_slice(&(FLAG_T | VERSION_MASK).to_be_bytes());
        }
        mask[sid_at..cookie_at + cookie.len()].fill(0xff);
        let mask = u128::from_ne_bytes(mask);
        let sub_past_4 = (len - 4).saturating_sub(4) & 12;
        debug_assert!(sublayer == SublayerKind::None || 4 + sub_past_4 == len - 4);
        HeaderTemplate {
            expect: u128::from_ne_bytes(first) & mask,
            mask,
            bytes,
            len: len as u8,
            sid_at: sid_at as u8,
            sub_past_4: sub_past_4 as u8,
            encapsulation,
            session_id,
            cookie,
            cookie_word,
            sublayer: sublayer == SublayerKind::Default,
        }
    }

    /// A template that no packet passes (an empty mask and an expected bit
    /// outside it): the endpoint's data table holds it in slots without an
    /// established session, so that a lookup needs no `Option` test.
    pub(crate) fn vacant() -> HeaderTemplate {
        let mut t = Self::build(Encapsulation::Udp, 0, Cookie::None, SublayerKind::None);
        t.mask = 0;
        t.expect = 1;
        t
    }

    /// The template for the fields of `header` (its sublayer value is not kept,
    /// only whether there is one); `None` if the Session ID is zero.
    pub fn from_header(header: &DataHeader, encapsulation: Encapsulation) -> Option<Self> {
        let sublayer = match header.sublayer {
            Some(_) => SublayerKind::Default,
            None => SublayerKind::None,
        };
        Self::new(encapsulation, header.session_id, header.cookie, sublayer)
    }

    /// Header length in bytes.
    #[inline]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Always false: a data header is at least the 4-byte Session ID.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// The session configuration a receiver of this header needs.
    pub const fn config(&self) -> SessionConfig {
        SessionConfig {
            encapsulation: self.encapsulation,
            cookie_len: match self.cookie {
                Cookie::None => CookieLen::Zero,
                Cookie::Four(_) => CookieLen::Four,
                Cookie::Eight(_) => CookieLen::Eight,
            },
            sublayer: if self.sublayer {
                SublayerKind::Default
            } else {
                SublayerKind::None
            },
        }
    }

    /// The header this template writes for a packet with `sublayer` (ignored when
    /// the session has no sublayer).
    pub fn header(&self, sublayer: DefaultSublayer) -> DataHeader {
        DataHeader {
            session_id: self.session_id,
            cookie: self.cookie,
            sublayer: self.sublayer.then_some(sublayer),
        }
    }

    /// Writes the header in place in front of the payload at `buf[payload_start..]`
    /// and returns the offset at which the packet (the header) now starts.
    ///
    /// `buf[..payload_start]` is headroom the caller owns as scratch. With at least
    /// [`MAX_DATA_HEADER_LEN`] bytes of headroom the header is written with one
    /// fixed-size store of that many bytes (the scratch in front of a shorter
    /// header is zeroed); with less, only the header's own bytes are written. The
    /// payload is neither read nor moved. `sublayer` is ignored when the session
    /// has no sublayer.
    #[inline]
    pub fn encapsulate(
        &self,
        buf: &mut [u8],
        payload_start: usize,
        sublayer: DefaultSublayer,
    ) -> Result<usize, EncodeError> {
        if sublayer.sequence > DefaultSublayer::MAX_SEQUENCE {
            return Err(EncodeError::SequenceOutOfRange(sublayer.sequence));
        }
        let word = sublayer.word();
        self.encapsulate_with(buf, payload_start, word, |bytes| {
            if self.sublayer {
                bytes[MAX_DATA_HEADER_LEN - 4..].copy_from_slice(&word.to_be_bytes());
            }
        })
    }

    /// [`HeaderTemplate::encapsulate`] for the endpoint's data path, which keeps
    /// its transmit sequence state as the sublayer word (S bit and 24-bit
    /// sequence, section 4.6) and keeps it zero when the session has no sublayer:
    /// the word is ORed into the header's last word without a test (the
    /// template's own sublayer word is zero; without a sublayer, OR with zero
    /// leaves the cookie or Session ID there as it is).
    #[inline(always)]
    pub(crate) fn encapsulate_word(
        &self,
        buf: &mut [u8],
        payload_start: usize,
        word: u32,
    ) -> Result<usize, EncodeError> {
        debug_assert!(self.sublayer || word == 0);
        self.encapsulate_with(buf, payload_start, word, |bytes| {
            let [.., a, b, c, d] = bytes;
            let last = u32::from_be_bytes([*a, *b, *c, *d]) | word;
            [*a, *b, *c, *d] = last.to_be_bytes();
        })
    }

    /// The fast path of both: with full-size headroom, the header is assembled in
    /// a register-sized array (`set_word` writes the sublayer word into it) and
    /// stored at once.
    #[inline(always)]
    fn encapsulate_with(
        &self,
        buf: &mut [u8],
        payload_start: usize,
        word: u32,
        set_word: impl FnOnce(&mut [u8; MAX_DATA_HEADER_LEN]),
    ) -> Result<usize, EncodeError> {
        let slot = payload_start
            .checked_sub(MAX_DATA_HEADER_LEN)
            .and_then(|at| buf.get_mut(at..payload_start))
            .and_then(|s| <&mut [u8; MAX_DATA_HEADER_LEN]>::try_from(s).ok());
        let Some(slot) = slot else {
            return self.encapsulate_short(buf, payload_start, word.to_be_bytes());
        };
        let mut bytes = self.bytes;
        set_word(&mut bytes);
        *slot = bytes;
        // len <= MAX_DATA_HEADER_LEN <= payload_start.
        Ok(payload_start - self.len())
    }

    /// [`HeaderTemplate::encapsulate`] with less than [`MAX_DATA_HEADER_LEN`] bytes
    /// of headroom: only the header's own bytes are written.
    #[inline(never)]
    fn encapsulate_short(
        &self,
        buf: &mut [u8],
        payload_start: usize,
        word: [u8; 4],
    ) -> Result<usize, EncodeError> {
        let len = self.len();
        let Some(head) = buf.get_mut(..payload_start).filter(|h| h.len() >= len) else {
            return Err(EncodeError::InsufficientHeadroom {
                needed: len,
                available: payload_start.min(buf.len()),
            });
        };
        let start = payload_start - len;
        head[start..].copy_from_slice(&self.bytes[MAX_DATA_HEADER_LEN - len..]);
        if self.sublayer {
            head[payload_start - 4..].copy_from_slice(&word);
        }
        Ok(start)
    }

    /// Validates the data message at the start of `buf` against this session and
    /// returns its sublayer and where its payload lies in `buf` ([`Self::header`]
    /// rebuilds the whole [`DataHeader`] when it is needed).
    ///
    /// Checks, in order: over UDP the T bit is clear and Ver is 3; the Session ID
    /// is this session's; the cookie is this session's (compared in constant time
    /// with `subtle`, RFC 3931 section 4.1); then the sublayer is parsed. The
    /// payload is not read.
    #[inline]
    pub fn decapsulate(&self, buf: &[u8]) -> Result<Decapsulated, DecapError> {
        let len = self.len();
        // Fast path, for every packet of at least MAX_DATA_HEADER_LEN bytes (any
        // real frame): one length check, then one 16-byte load covers the flags
        // word, Session ID and cookie, which are compared together in constant
        // time (subtle), so the time taken says nothing about how much of the
        // cookie matched. Which field was wrong is worked out off the fast path.
        let Some(head) = buf.first_chunk::<MAX_DATA_HEADER_LEN>() else {
            return self.decapsulate_fieldwise(buf);
        };
        let Some(sub) = self.check_head(head) else {
            return Err(self.slow_error(buf));
        };
        let sublayer = self.sublayer.then(|| DefaultSublayer::from_word(sub));
        Ok(Decapsulated {
            sublayer,
            payload: len..buf.len(),
        })
    }

    /// The receive check of [`HeaderTemplate::decapsulate`] on the first
    /// [`MAX_DATA_HEADER_LEN`] bytes of a packet: flags word, Session ID and
    /// cookie (all within the first [`WIDE`] bytes) compared at once in constant
    /// time, then the word where the sublayer lies (meaningless when the session
    /// has none). `None` when the check fails. Shared with the endpoint's data
    /// path.
    #[inline(always)]
    pub(crate) fn check_head(&self, head: &[u8; MAX_DATA_HEADER_LEN]) -> Option<u32> {
        // Always there (WIDE < MAX_DATA_HEADER_LEN): no test is compiled.
        let first = head.first_chunk::<WIDE>()?;
        // `expect` holds no bit outside `mask`, except in a vacant template,
        // which so never passes.
        let diff = (u128::from_ne_bytes(*first) & self.mask) ^ self.expect;
        if !bool::from(diff.ct_eq(&0)) {
            return None;
        }
        // The sublayer word ends the header: at 4 + `sub_past_4`, where the
        // mask with 12 (a no-op on the values it holds) shows the compiler that
        // the word lies within `head`, so no bounds test is compiled.
        let at = 4 + (usize::from(self.sub_past_4) & 12);
        let sub = [head[at], head[at + 1], head[at + 2], head[at + 3]];
        Some(u32::from_be_bytes(sub))
    }

    /// [`HeaderTemplate::decapsulate`] for packets shorter than
    /// [`MAX_DATA_HEADER_LEN`]: field by field.
    #[inline(never)]
    fn decapsulate_fieldwise(&self, buf: &[u8]) -> Result<Decapsulated, DecapError> {
        let len = self.len();
        let Some(head) = buf.get(..len) else {
            return Err(self.slow_error(buf));
        };
        let sid_at = self.sid_at as usize;
        if sid_at == 4 {
            let flags = u16::from_be_bytes([head[0], head[1]]);
            if flags & (FLAG_T | VERSION_MASK) != u16::from(VERSION) {
                return Err(self.slow_error(buf));
            }
        }
        let sid = read::<4>(head, sid_at).ok_or_else(|| self.slow_error(buf))?;
        let found = u32::from_be_bytes(sid);
        if found != self.session_id {
            return Err(self.slow_error(buf));
        }
        let cookie_at = sid_at + 4;
        let word = match self.cookie {
            Cookie::None => 0,
            Cookie::Four(_) => {
                let c = read::<4>(head, cookie_at).ok_or_else(|| self.slow_error(buf))?;
                u64::from(u32::from_be_bytes(c))
            }
            Cookie::Eight(_) => {
                u64::from_be_bytes(read::<8>(head, cookie_at).ok_or_else(|| self.slow_error(buf))?)
            }
        };
        if !bool::from(word.ct_eq(&self.cookie_word)) {
            return Err(DecapError::BadCookie { offset: cookie_at });
        }
        let sublayer = if self.sublayer {
            let w = read::<4>(head, len - 4).ok_or_else(|| self.slow_error(buf))?;
            Some(DefaultSublayer::from_word(u32::from_be_bytes(w)))
        } else {
            None
        };
        Ok(Decapsulated {
            sublayer,
            payload: len..buf.len(),
        })
    }

    /// The precise error for a packet the fast checks refused (off the hot path).
    #[cold]
    #[inline(never)]
    fn slow_error(&self, buf: &[u8]) -> DecapError {
        match DataHeader::decode(buf, &self.config()) {
            Err(e) => DecapError::Malformed(e),
            Ok((h, _)) if h.session_id != self.session_id => DecapError::WrongSession {
                offset: self.sid_at as usize,
                expected: self.session_id,
                found: h.session_id,
            },
            Ok(_) => DecapError::BadCookie {
                offset: self.sid_at as usize + 4,
            },
        }
    }
}

/// Writes `header` in place in front of `buf[payload_start..]` and returns the
/// offset at which the packet now starts. Only the header's own bytes are
/// written. For many packets of one session, [`HeaderTemplate::encapsulate`] is
/// cheaper.
#[inline]
pub(crate) fn encapsulate_in_place(
    buf: &mut [u8],
    payload_start: usize,
    header: &DataHeader,
    encap: Encapsulation,
) -> Result<usize, EncodeError> {
    // The same layout code as the template (`write_into`), written straight into
    // the buffer: building a template per packet would compute its receive masks.
    let needed = header.len(encap);
    if payload_start > buf.len() || needed > payload_start {
        return Err(EncodeError::InsufficientHeadroom {
            needed,
            available: payload_start.min(buf.len()),
        });
    }
    if let Some(s) = header.sublayer
        && s.sequence > DefaultSublayer::MAX_SEQUENCE
    {
        return Err(EncodeError::SequenceOutOfRange(s.sequence));
    }
    let start = payload_start - needed;
    header.write_into(encap, &mut buf[start..payload_start]);
    Ok(start)
}

/// Prepends the data header in place.
///
/// `buf[..headroom]` is scratch space and `buf[headroom..]` the payload (for example
/// an Ethernet frame read from a TAP device into a buffer allocated with
/// [`MAX_DATA_HEADER_LEN`] bytes of headroom). The header is written into the end of
/// the headroom and `buf` is advanced so that it starts at the header; the payload
/// is not moved or copied.
#[inline]
pub fn encapsulate(
    buf: &mut BytesMut,
    headroom: usize,
    header: &DataHeader,
    encap: Encapsulation,
) -> Result<(), EncodeError> {
    let start = encapsulate_in_place(buf, headroom, header, encap)?;
    buf.advance(start);
    Ok(())
}

/// Removes the data header in place: parses it and advances `buf` to the payload.
///
/// On error `buf` is left unchanged.
#[inline]
pub fn decapsulate(buf: &mut BytesMut, config: &SessionConfig) -> Result<DataHeader, DataError> {
    let (header, at) = DataHeader::decode(buf, config)?;
    buf.advance(at);
    Ok(header)
}

/// Validates the data message in `buf` against `session` (see
/// [`HeaderTemplate::decapsulate`]) and advances `buf` to the payload.
///
/// On error `buf` is left unchanged.
#[inline]
pub fn decapsulate_session(
    buf: &mut BytesMut,
    session: &HeaderTemplate,
) -> Result<DataHeader, DecapError> {
    let d = session.decapsulate(buf)?;
    buf.advance(d.payload.start);
    Ok(session.header(d.sublayer.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    /// The public sequence check, as a data plane uses it with what
    /// `decapsulate` returned (RFC 3931 section 4.6).
    #[test]
    fn sequence_check_on_decapsulated_sublayers() {
        let mut c = SequenceCheck::new(true);
        let s = |n| Some(DefaultSublayer::sequenced(n));
        assert_eq!(c.accept(None), Ok(None));
        assert_eq!(c.accept(Some(DefaultSublayer::unsequenced())), Ok(None));
        assert_eq!(c.accept(s(0xff_ffff)), Ok(Some(0xff_ffff)));
        assert_eq!(c.accept(s(0)), Ok(Some(0)));
        assert_eq!(c.accept(s(0)), Err(OutOfOrder(0)));
        assert_eq!(c.accept(s(0xff_fff0)), Err(OutOfOrder(0xff_fff0)));
        assert_eq!(c.accept(s(7)), Ok(Some(7)));
        // Without a sublayer nothing is sequenced.
        let mut n = SequenceCheck::new(false);
        assert_eq!(n.accept(s(3)), Ok(None));
        assert_eq!(n.accept(s(3)), Ok(None));
    }

    use super::*;

    fn cfg(encapsulation: Encapsulation, cookie: usize, sub: bool) -> SessionConfig {
        SessionConfig {
            encapsulation,
            cookie_len: CookieLen::from_bytes(cookie).unwrap(),
            sublayer: if sub {
                SublayerKind::Default
            } else {
                SublayerKind::None
            },
        }
    }

    #[test]
    fn ip_header_figure_4_1_1_1_with_sublayer_figure_4_6() {
        // Session ID 0x00000001, 4-byte cookie, sublayer S=1 seq=0x000102.
        let wire = [
            0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef, 0x40, 0x00, 0x01, 0x02, 0xaa,
        ];
        let c = cfg(Encapsulation::Ip, 4, true);
        let p = DataPacket::parse(&wire, &c).unwrap();
        assert_eq!(
            p.header,
            DataHeader {
                session_id: 1,
                cookie: Cookie::Four([0xde, 0xad, 0xbe, 0xef]),
                sublayer: Some(DefaultSublayer::sequenced(0x102)),
            }
        );
        assert_eq!(p.payload, &[0xaa]);
        let mut out = Vec::new();
        p.header.encode(Encapsulation::Ip, &mut out).unwrap();
        assert_eq!(out, wire[..12]);
    }

    #[test]
    fn udp_header_figure_4_1_2_1() {
        // T=0, Ver=3, Reserved, Session ID 0x11223344, 8-byte cookie, no sublayer.
        let wire = [
            0x00, 0x03, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 1, 2, 3, 4, 5, 6, 7, 8, 0xff,
        ];
        let c = cfg(Encapsulation::Udp, 8, false);
        let (h, at) = DataHeader::decode(&wire, &c).unwrap();
        assert_eq!(at, 16);
        assert_eq!(h.session_id, 0x1122_3344);
        assert_eq!(h.cookie, Cookie::Eight([1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(h.sublayer, None);
        let mut out = Vec::new();
        h.encode(Encapsulation::Udp, &mut out).unwrap();
        assert_eq!(out, wire[..16]);
    }

    #[test]
    fn s_bit_clear_keeps_bits_and_x_bits_are_ignored() {
        let wire = [0, 0, 0, 5, 0xbf, 0x12, 0x34, 0x56];
        let c = cfg(Encapsulation::Ip, 0, true);
        let (h, _) = DataHeader::decode(&wire, &c).unwrap();
        assert_eq!(
            h.sublayer,
            Some(DefaultSublayer {
                sequenced: false,
                sequence: 0x12_3456
            })
        );
    }

    #[test]
    fn errors() {
        let c = cfg(Encapsulation::Udp, 4, true);
        assert_eq!(
            DataHeader::decode(&[0xc8, 3, 0, 12], &c),
            Err(DataError::ControlMessage { offset: 0 })
        );
        assert_eq!(
            DataHeader::decode(&[0x00, 2, 0, 0, 0, 0, 0, 1], &c),
            Err(DataError::UnsupportedVersion {
                offset: 0,
                version: 2
            })
        );
        assert_eq!(
            DataHeader::decode(&[0x00, 3, 0, 0, 0, 0, 0, 0], &c),
            Err(DataError::ZeroSessionId { offset: 4 })
        );
        assert_eq!(
            DataHeader::decode(&[0x00, 3, 0, 0, 0, 0, 0, 1, 9, 9], &c),
            Err(DataError::Truncated {
                offset: 8,
                needed: 4,
                available: 2
            })
        );
        assert_eq!(
            DataHeader::decode(&[0x00, 3, 0, 0, 0, 0, 0, 1, 9, 9, 9, 9, 0x40], &c),
            Err(DataError::Truncated {
                offset: 12,
                needed: 4,
                available: 1
            })
        );
        assert!(matches!(
            DataHeader::decode(&[], &cfg(Encapsulation::Ip, 0, false)),
            Err(DataError::Truncated { offset: 0, .. })
        ));
    }

    #[test]
    fn encap_decap_in_place_without_moving_the_payload() {
        let payload: Vec<u8> = (0..100u8).collect();
        for encap in [Encapsulation::Ip, Encapsulation::Udp] {
            for cookie in [
                Cookie::None,
                Cookie::Four([1, 2, 3, 4]),
                Cookie::Eight([8; 8]),
            ] {
                for sublayer in [None, Some(DefaultSublayer::sequenced(0xab_cdef))] {
                    let h = DataHeader {
                        session_id: 42,
                        cookie,
                        sublayer,
                    };
                    let mut buf = BytesMut::with_capacity(MAX_DATA_HEADER_LEN + payload.len());
                    buf.resize(MAX_DATA_HEADER_LEN, 0);
                    buf.extend_from_slice(&payload);
                    let payload_ptr = buf[MAX_DATA_HEADER_LEN..].as_ptr();
                    encapsulate(&mut buf, MAX_DATA_HEADER_LEN, &h, encap).unwrap();
                    assert_eq!(buf.len(), h.len(encap) + payload.len());
                    assert_eq!(buf[h.len(encap)..].as_ptr(), payload_ptr);
                    let got = decapsulate(&mut buf, &h.config(encap)).unwrap();
                    assert_eq!(got, h);
                    assert_eq!(&buf[..], &payload[..]);
                    assert_eq!(buf.as_ptr(), payload_ptr);
                }
            }
        }
    }

    #[test]
    fn encapsulate_checks_headroom() {
        let h = DataHeader {
            session_id: 1,
            cookie: Cookie::Eight([0; 8]),
            sublayer: Some(DefaultSublayer::unsequenced()),
        };
        let mut buf = BytesMut::from(&[0u8; 30][..]);
        assert_eq!(
            encapsulate(&mut buf, 10, &h, Encapsulation::Udp),
            Err(EncodeError::InsufficientHeadroom {
                needed: 20,
                available: 10
            })
        );
        assert_eq!(buf.len(), 30);
    }

    fn all_templates() -> Vec<(HeaderTemplate, DataHeader, Encapsulation)> {
        let mut v = Vec::new();
        for encap in [Encapsulation::Ip, Encapsulation::Udp] {
            for cookie in [
                Cookie::None,
                Cookie::Four([0xde, 0xad, 0xbe, 0xef]),
                Cookie::Eight([1, 2, 3, 4, 5, 6, 7, 8]),
            ] {
                for sublayer in [None, Some(DefaultSublayer::sequenced(0x12_3456))] {
                    let h = DataHeader {
                        session_id: 0x0a0b_0c0d,
                        cookie,
                        sublayer,
                    };
                    v.push((HeaderTemplate::from_header(&h, encap).unwrap(), h, encap));
                }
            }
        }
        v
    }

    #[test]
    fn template_writes_the_same_bytes_as_encode_and_decode_reads_them() {
        for (t, h, encap) in all_templates() {
            assert_eq!(t.len(), h.len(encap));
            assert_eq!(t.config(), h.config(encap));
            let mut want = Vec::new();
            h.encode(encap, &mut want).unwrap();
            // Headroom of exactly the header, and of the maximum (fixed-size store).
            for headroom in [t.len(), MAX_DATA_HEADER_LEN, MAX_DATA_HEADER_LEN + 3] {
                for payload_len in [0usize, 1, 11, 60] {
                    let mut buf = vec![0x55u8; headroom + payload_len];
                    buf[headroom..].fill(0xab);
                    let start = t
                        .encapsulate(
                            &mut buf,
                            headroom,
                            h.sublayer.unwrap_or(DefaultSublayer::unsequenced()),
                        )
                        .unwrap();
                    assert_eq!(start, headroom - t.len());
                    assert_eq!(&buf[start..headroom], &want[..]);
                    assert!(buf[headroom..].iter().all(|&b| b == 0xab));
                    // An independent decoder reads what the template wrote.
                    let (got, at) = DataHeader::decode(&buf[start..], &t.config()).unwrap();
                    assert_eq!((got, at), (h, t.len()));
                    // The template accepts it (fast path or, when short, field-wise).
                    let d = t.decapsulate(&buf[start..]).unwrap();
                    assert_eq!(d.sublayer, h.sublayer);
                    assert_eq!(d.payload, t.len()..t.len() + payload_len);
                    assert_eq!(t.header(d.sublayer.unwrap_or_default()), h);
                }
            }
        }
    }

    #[test]
    fn template_decapsulates_foreign_bytes() {
        // RFC 3931 figure 4.1.2.1 layout written by hand: UDP, session 0x11223344,
        // 8-byte cookie, sublayer S=1 seq=0x000102, reserved and L/S flag bits set
        // (ignored on receipt), then a 16-byte payload.
        let mut wire = vec![
            0x40, 0x33, 0xff, 0xff, 0x11, 0x22, 0x33, 0x44, 1, 2, 3, 4, 5, 6, 7, 8, 0x40, 0x00,
            0x01, 0x02,
        ];
        wire.extend_from_slice(&[0xee; 16]);
        let t = HeaderTemplate::new(
            Encapsulation::Udp,
            0x1122_3344,
            Cookie::Eight([1, 2, 3, 4, 5, 6, 7, 8]),
            SublayerKind::Default,
        )
        .unwrap();
        let d = t.decapsulate(&wire).unwrap();
        assert_eq!(d.sublayer, Some(DefaultSublayer::sequenced(0x102)));
        assert_eq!(&wire[d.payload], &[0xee; 16]);
    }

    #[test]
    fn template_decapsulate_errors_are_typed() {
        for (t, h, encap) in all_templates() {
            let mut good = Vec::new();
            h.encode(encap, &mut good).unwrap();
            good.extend_from_slice(&[0xab; 40]);
            let sid_at = if encap == Encapsulation::Udp { 4 } else { 0 };

            // Wrong session.
            let mut bad = good.clone();
            bad[sid_at + 3] ^= 1;
            assert_eq!(
                t.decapsulate(&bad),
                Err(DecapError::WrongSession {
                    offset: sid_at,
                    expected: 0x0a0b_0c0d,
                    found: 0x0a0b_0c0c
                })
            );
            // Zero session ID.
            bad[sid_at..sid_at + 4].fill(0);
            assert_eq!(
                t.decapsulate(&bad),
                Err(DecapError::Malformed(DataError::ZeroSessionId {
                    offset: sid_at
                }))
            );
            // Wrong cookie, in its first and in its last byte.
            if !h.cookie.is_empty() {
                for i in [0, h.cookie.len() - 1] {
                    let mut bad = good.clone();
                    bad[sid_at + 4 + i] ^= 0x80;
                    assert_eq!(
                        t.decapsulate(&bad),
                        Err(DecapError::BadCookie { offset: sid_at + 4 })
                    );
                }
            }
            if encap == Encapsulation::Udp {
                let mut bad = good.clone();
                bad[0] |= 0x80;
                assert_eq!(
                    t.decapsulate(&bad),
                    Err(DecapError::Malformed(DataError::ControlMessage {
                        offset: 0
                    }))
                );
                let mut bad = good.clone();
                bad[1] = 2;
                assert_eq!(
                    t.decapsulate(&bad),
                    Err(DecapError::Malformed(DataError::UnsupportedVersion {
                        offset: 0,
                        version: 2
                    }))
                );
            }
            // Every truncation of the header is refused with where it stopped.
            for n in 0..t.len() {
                match t.decapsulate(&good[..n]) {
                    Err(DecapError::Malformed(DataError::Truncated { offset, .. })) => {
                        assert!(offset <= n, "{n}: offset {offset}");
                    }
                    other => panic!("{n} bytes: {other:?}"),
                }
            }
            // A bare header (empty payload) is fine.
            assert_eq!(
                t.decapsulate(&good[..t.len()]).unwrap().payload,
                t.len()..t.len()
            );
        }
    }

    #[test]
    fn template_encapsulate_errors_are_typed() {
        let t = HeaderTemplate::new(
            Encapsulation::Udp,
            7,
            Cookie::Four([1; 4]),
            SublayerKind::Default,
        )
        .unwrap();
        assert_eq!(t.len(), 16);
        let mut buf = [0u8; 40];
        // Headroom shorter than the header.
        assert_eq!(
            t.encapsulate(&mut buf, 15, DefaultSublayer::unsequenced()),
            Err(EncodeError::InsufficientHeadroom {
                needed: 16,
                available: 15
            })
        );
        // Payload start beyond the buffer.
        assert_eq!(
            t.encapsulate(&mut buf, 41, DefaultSublayer::unsequenced()),
            Err(EncodeError::InsufficientHeadroom {
                needed: 16,
                available: 40
            })
        );
        // A sequence number wider than 24 bits.
        assert_eq!(
            t.encapsulate(
                &mut buf,
                20,
                DefaultSublayer {
                    sequenced: true,
                    sequence: 1 << 24
                }
            ),
            Err(EncodeError::SequenceOutOfRange(1 << 24))
        );
        assert_eq!(buf, [0u8; 40], "nothing written on error");
        // Zero Session ID is refused as a template ...
        assert_eq!(
            HeaderTemplate::new(Encapsulation::Ip, 0, Cookie::None, SublayerKind::None),
            None
        );
        // ... but the one-off writer still writes what it is given, like encode.
        let h = DataHeader {
            session_id: 0,
            cookie: Cookie::None,
            sublayer: None,
        };
        assert_eq!(
            encapsulate_in_place(&mut buf, 4, &h, Encapsulation::Ip),
            Ok(0)
        );
    }

    #[test]
    fn decapsulate_session_advances_bytes_mut_only_on_success() {
        let h = DataHeader {
            session_id: 9,
            cookie: Cookie::Four([9; 4]),
            sublayer: Some(DefaultSublayer::sequenced(3)),
        };
        let t = HeaderTemplate::from_header(&h, Encapsulation::Udp).unwrap();
        let mut buf = BytesMut::new();
        buf.resize(MAX_DATA_HEADER_LEN, 0);
        buf.extend_from_slice(&[0xcd; 64]);
        encapsulate(&mut buf, MAX_DATA_HEADER_LEN, &h, Encapsulation::Udp).unwrap();
        let mut wrong = buf.clone();
        wrong[8] ^= 1;
        assert_eq!(
            decapsulate_session(&mut wrong, &t),
            Err(DecapError::BadCookie { offset: 8 })
        );
        assert_eq!(wrong.len(), 16 + 64);
        assert_eq!(decapsulate_session(&mut buf, &t), Ok(h));
        assert_eq!(&buf[..], &[0xcd; 64]);
    }

    proptest::proptest! {
        /// On any bytes, the template's verdict is the reference one: decode the
        /// fields, then compare Session ID and cookie with the session's.
        #[test]
        fn template_decapsulate_agrees_with_decode(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            which in 0usize..12,
            flip in proptest::option::of((0usize..20, 1u8..=255)),
        ) {
            let (t, h, encap) = all_templates()[which];
            // Half the cases start from a valid header, so acceptance is exercised.
            let mut buf = bytes;
            if flip.is_some() || buf.len() % 2 == 0 {
                let mut valid = Vec::new();
                h.encode(encap, &mut valid).unwrap();
                let n = valid.len().min(buf.len());
                buf[..n].copy_from_slice(&valid[..n]);
                if let Some((at, x)) = flip && at < buf.len() {
                    buf[at] ^= x;
                }
            }
            let want = match DataHeader::decode(&buf, &t.config()) {
                Err(e) => Err(DecapError::Malformed(e)),
                Ok((got, _)) if got.session_id != h.session_id => Err(DecapError::WrongSession {
                    offset: if encap == Encapsulation::Udp { 4 } else { 0 },
                    expected: h.session_id,
                    found: got.session_id,
                }),
                Ok((got, _)) if got.cookie != h.cookie => Err(DecapError::BadCookie {
                    offset: if encap == Encapsulation::Udp { 8 } else { 4 },
                }),
                Ok((got, at)) => Ok(Decapsulated { sublayer: got.sublayer, payload: at..buf.len() }),
            };
            proptest::prop_assert_eq!(t.decapsulate(&buf), want);
        }
    }
}
