//! The data path: one receive and one transmit [`HeaderTemplate`] per established
//! session, used in place on the caller's buffers.
//!
//! Our Session IDs carry the index of their slot in the data table in their low
//! bits (the rest is random), so the data path finds a session by indexing, not
//! hashing: a received data packet costs one indexed load, a Session ID compare and
//! the template's check (flags, Session ID and cookie compared at once in constant time, RFC 3931
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

/// Most slot bits a Session ID gives up to the table index: at least 8 bits of
/// every ID stay random.
const MAX_SLOT_BITS: u32 = 24;

/// One slot of the data table.
#[derive(Debug, Clone)]
struct Slot<A> {
    /// The Session ID holding the slot (0 when free).
    sid: u32,
    /// Its data path, once established.
    path: Option<DataPath<A>>,
}

/// The data paths of all sessions, indexed by the low bits of our Session IDs.
#[derive(Debug, Clone)]
pub(crate) struct DataTable<A> {
    slots: Vec<Slot<A>>,
    /// Free slot indexes below `slots.len()`.
    free: Vec<u32>,
    /// Selects the slot index from a Session ID.
    mask: u32,
}

impl<A> DataTable<A> {
    /// A table for up to `max_sessions` sessions (at most 2^24).
    pub(crate) fn new(max_sessions: usize) -> Self {
        let bits = usize::BITS - max_sessions.max(2).saturating_sub(1).leading_zeros();
        let bits = bits.min(MAX_SLOT_BITS);
        DataTable {
            slots: Vec::new(),
            free: Vec::new(),
            mask: (1u32 << bits) - 1,
        }
    }

    /// A free slot index, or `None` when all 2^bits slots are taken.
    pub(crate) fn free_slot(&self) -> Option<u32> {
        match self.free.last() {
            Some(&i) => Some(i),
            None => u32::try_from(self.slots.len())
                .ok()
                .filter(|&n| n <= self.mask),
        }
    }

    /// The Session ID for slot `slot` with random high bits from `random`.
    pub(crate) fn id(&self, slot: u32, random: u32) -> u32 {
        (random & !self.mask) | slot
    }

    /// Takes the slot of `sid` (from [`DataTable::free_slot`] and [`DataTable::id`]).
    pub(crate) fn reserve(&mut self, sid: u32) {
        let slot = sid & self.mask;
        if self.free.last() == Some(&slot) {
            self.free.pop();
        } else if slot as usize == self.slots.len() {
            self.slots.push(Slot { sid: 0, path: None });
        }
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Slot { sid, path: None };
        }
    }

    /// Frees the slot of `sid` (and its data path).
    pub(crate) fn release(&mut self, sid: u32) {
        let slot = sid & self.mask;
        if let Some(s) = self.slots.get_mut(slot as usize)
            && s.sid == sid
        {
            *s = Slot { sid: 0, path: None };
            self.free.push(slot);
        }
    }

    /// Installs the data path of an established session.
    pub(crate) fn install(&mut self, sid: u32, path: DataPath<A>) {
        if let Some(s) = self.slot_mut(sid) {
            s.path = Some(path);
        }
    }

    /// Removes the data path of a session that is no longer established.
    pub(crate) fn clear(&mut self, sid: u32) {
        if let Some(s) = self.slot_mut(sid) {
            s.path = None;
        }
    }

    #[inline]
    fn slot_mut(&mut self, sid: u32) -> Option<&mut Slot<A>> {
        self.slots
            .get_mut((sid & self.mask) as usize)
            .filter(|s| s.sid == sid && sid != 0)
    }

    /// The data path of established session `sid`.
    #[inline]
    fn path_mut(&mut self, sid: u32) -> Option<&mut DataPath<A>> {
        self.slot_mut(sid).and_then(|s| s.path.as_mut())
    }
}

impl<A, R> Endpoint<A, R>
where
    A: Clone + Eq + Hash,
    R: Rng,
{
    /// Checks a data packet against its session's receive template.
    #[inline]
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
        let Some(path) = self.data.path_mut(sid) else {
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
    #[inline]
    pub fn encapsulate<'b>(
        &mut self,
        session_id: u32,
        buf: &'b mut [u8],
        payload_start: usize,
    ) -> Result<Transmit<A, &'b [u8]>, CommandError> {
        let Some(path) = self.data.path_mut(session_id) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ids_index_slots_and_slots_are_reused() {
        let mut t = DataTable::<()>::new(4);
        assert_eq!(t.mask, 0b11);
        let mut ids = Vec::new();
        for r in [0xdead_beef_u32, 0x1234_5678, 0xffff_ffff, 0x8000_0000] {
            let slot = t.free_slot().expect("a free slot");
            let id = t.id(slot, r);
            assert_eq!((id & t.mask, id & !t.mask), (slot, r & !t.mask));
            t.reserve(id);
            ids.push(id);
        }
        assert_eq!(ids.iter().map(|i| i & 3).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(t.free_slot(), None, "four slots for four sessions");
        // A lookup needs the whole ID, not only its slot.
        assert!(t.slot_mut(ids[1]).is_some());
        assert!(t.slot_mut(ids[1] ^ 0x100).is_none());
        t.release(ids[1]);
        assert!(t.slot_mut(ids[1]).is_none());
        assert_eq!(t.free_slot(), Some(1));
        // Releasing an ID that does not hold the slot changes nothing.
        t.release(ids[1]);
        t.release(ids[2] ^ 0x100);
        assert!(t.slot_mut(ids[2]).is_some());
        assert_eq!(t.free.len(), 1);
    }

    #[test]
    fn table_size_follows_the_session_limit() {
        assert_eq!(DataTable::<()>::new(65_536).mask, 0xffff);
        assert_eq!(DataTable::<()>::new(65_537).mask, 0x1_ffff);
        assert_eq!(DataTable::<()>::new(1).mask, 1);
        assert_eq!(DataTable::<()>::new(usize::MAX).mask, 0xff_ffff);
    }
}
