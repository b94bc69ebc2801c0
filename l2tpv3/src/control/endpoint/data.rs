//! The data path: one receive and one transmit [`HeaderTemplate`] per established
//! session, used in place on the caller's buffers.
//!
//! A received data packet costs one table lookup by Session ID and the template's
//! check (flags, Session ID and cookie compared at once in constant time, RFC 3931
//! section 4.1), then the sequence check of section 4.6. A sent one costs the same
//! lookup and one fixed-size store of the header into the caller's headroom. No
//! allocation either way.

use std::hash::Hash;

use rand_core::Rng;

use super::{CommandError, DataIn, Endpoint, Transmit};
use crate::avp::{DataSequencing, L2SublayerType};
use crate::control::session::Session;
use crate::data::{DecapError, DefaultSublayer, HeaderTemplate, SublayerKind};
use crate::header::Encapsulation;

/// Half the 24-bit sequence space: a sequence number this far or further ahead of
/// the expected one is taken as old (section 4.6).
const SEQ_HALF: u32 = 0x0080_0000;

/// What the data path of one established session needs.
#[derive(Debug, Clone)]
pub(crate) struct DataPath<A> {
    /// Our Session ID and cookie, our sublayer choice: checks what we receive.
    rx: HeaderTemplate,
    /// The peer's Session ID and cookie, the sublayer the peer asked for: writes
    /// what we send.
    tx: HeaderTemplate,
    /// Where our data goes (the control connection's peer).
    peer: A,
    /// The peer asked us to sequence our data.
    tx_sequenced: bool,
    /// Next sequence number for data we send (24 bits).
    tx_sequence: u32,
    /// Next sequence number expected on data we receive, once one was seen.
    rx_sequence: Option<u32>,
}

impl<A> DataPath<A> {
    /// The data path of a session just established; `None` if either Session ID
    /// is zero (a peer that never assigned one).
    pub(crate) fn new(encapsulation: Encapsulation, s: &Session, peer: A) -> Option<Self> {
        let kind = |l: L2SublayerType| {
            if l == L2SublayerType::NONE {
                SublayerKind::None
            } else {
                SublayerKind::Default
            }
        };
        let rx = HeaderTemplate::new(
            encapsulation,
            s.local_id,
            s.local_cookie,
            kind(s.local_sublayer),
        )?;
        let tx = HeaderTemplate::new(
            encapsulation,
            s.remote_id,
            s.remote_cookie,
            kind(s.remote_sublayer),
        )?;
        Some(DataPath {
            rx,
            tx,
            peer,
            tx_sequenced: s.remote_sublayer != L2SublayerType::NONE
                && s.remote_sequencing != DataSequencing::NONE,
            tx_sequence: 0,
            rx_sequence: None,
        })
    }
}

impl<A, R> Endpoint<A, R>
where
    A: Clone + Eq + Hash,
    R: Rng,
{
    /// Checks a data packet against its session's receive template.
    pub(super) fn handle_data<'a>(&mut self, buf: &'a [u8]) -> Option<DataIn<'a>> {
        let at = match self.config.encapsulation {
            Encapsulation::Udp => 4,
            Encapsulation::Ip => 0,
        };
        let Some(&sid) = buf.get(at..).and_then(|b| b.first_chunk::<4>()) else {
            self.stats.data_malformed += 1;
            return None;
        };
        let sid = u32::from_be_bytes(sid);
        let Some(path) = self.data.get_mut(&sid) else {
            self.stats.data_unknown_session += 1;
            return None;
        };
        let got = match path.rx.decapsulate(buf) {
            Ok(got) => got,
            Err(DecapError::BadCookie { .. }) => {
                self.stats.data_bad_cookie += 1;
                return None;
            }
            Err(_) => {
                self.stats.data_malformed += 1;
                return None;
            }
        };
        let sequence = got.sublayer.filter(|l| l.sequenced).map(|l| l.sequence);
        if let Some(seq) = sequence {
            // Section 4.6: drop what is older than or equal to the last accepted.
            if let Some(expected) = path.rx_sequence {
                let ahead = seq.wrapping_sub(expected) & DefaultSublayer::MAX_SEQUENCE;
                if ahead >= SEQ_HALF {
                    self.stats.data_out_of_order += 1;
                    return None;
                }
            }
            path.rx_sequence = Some((seq + 1) & DefaultSublayer::MAX_SEQUENCE);
        }
        Some(DataIn {
            session_id: sid,
            payload: buf.get(got.payload)?,
            sequence,
        })
    }

    /// Encapsulates a payload in place for an established session and says where
    /// to send it.
    ///
    /// `buf[payload_start..]` is the payload (an Ethernet frame) and
    /// `buf[..payload_start]` headroom the caller owns as scratch; with at least
    /// [`crate::data::MAX_DATA_HEADER_LEN`] bytes of headroom the header is
    /// written with one fixed-size store. The header carries the peer's Session
    /// ID and cookie, and the Default L2-Specific Sublayer (with the next sequence
    /// number if the peer asked for sequencing) when the peer requires it. The
    /// packet is `contents`, the tail of `buf` from the header on; the payload is
    /// neither read nor moved, and nothing is allocated.
    ///
    /// ```
    /// # use l2tpv3::{Config, Endpoint, Event, SessionRequest, MAX_DATA_HEADER_LEN};
    /// # use rand::SeedableRng;
    /// # let now = std::time::Instant::now();
    /// # let rng = |s| rand::rngs::StdRng::seed_from_u64(s);
    /// # let mut a = Endpoint::new(Config::default(), rng(1));
    /// # let mut b = Endpoint::new(Config::default(), rng(2));
    /// # let ccid = a.connect(now, "b").unwrap();
    /// # let sid = a.open_session(now, ccid, SessionRequest::ethernet("pw")).unwrap();
    /// # for _ in 0..8 {
    /// #     while let Some(t) = a.poll_transmit() { b.handle_datagram(now, "a", &t.contents); }
    /// #     while let Some(t) = b.poll_transmit() { a.handle_datagram(now, "b", &t.contents); }
    /// # }
    /// // A frame read behind MAX_DATA_HEADER_LEN bytes of headroom.
    /// let mut buf = [0u8; MAX_DATA_HEADER_LEN + 60];
    /// buf[MAX_DATA_HEADER_LEN..].fill(0xab);
    /// let packet = a.encapsulate(sid, &mut buf, MAX_DATA_HEADER_LEN).unwrap();
    /// assert_eq!(packet.destination, "b");
    /// // The peer checks it and hands back the frame, borrowed.
    /// let got = b.handle_datagram(now, "a", packet.contents).unwrap();
    /// assert_eq!(got.payload, &[0xab; 60][..]);
    /// ```
    pub fn encapsulate<'b>(
        &mut self,
        session_id: u32,
        buf: &'b mut [u8],
        payload_start: usize,
    ) -> Result<Transmit<A, &'b [u8]>, CommandError> {
        let Some(path) = self.data.get_mut(&session_id) else {
            return Err(if self.sessions.contains_key(&session_id) {
                CommandError::NotEstablished(session_id)
            } else {
                CommandError::NoSession(session_id)
            });
        };
        let sublayer = if path.tx_sequenced {
            DefaultSublayer::sequenced(path.tx_sequence)
        } else {
            DefaultSublayer::unsequenced()
        };
        let start = path.tx.encapsulate(buf, payload_start, sublayer)?;
        if path.tx_sequenced {
            path.tx_sequence = (path.tx_sequence + 1) & DefaultSublayer::MAX_SEQUENCE;
        }
        Ok(Transmit {
            destination: path.peer.clone(),
            contents: &buf[start..],
        })
    }
}
