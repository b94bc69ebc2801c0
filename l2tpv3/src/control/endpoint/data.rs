//! The data path: one receive and one transmit [`HeaderTemplate`] per established
//! session, used in place on the caller's buffers.
//!
//! Our Session IDs carry the index of their slot in the data table in their low
//! bits (the rest is random), so the data path finds a session by indexing, not
//! hashing. Every slot up to the highest one established holds a whole
//! [`DataPath`] (a vacant one when its session is not established), so a lookup
//! tests no `Option`. A received data packet of at least [`MAX_DATA_HEADER_LEN`]
//! bytes (any real frame) costs one indexed load and the receive template's
//! check: flags, Session ID and cookie compared at once in constant time (RFC
//! 3931 section 4.1), which also proves that the slot belongs to the packet's
//! Session ID (a vacant slot's template passes nothing). Then the sequence check
//! of section 4.6: a subtraction and a mask on the sublayer word. A sent one
//! costs the lookup (slot and Session ID compared) and one fixed-size store of
//! the header into the caller's headroom; its sequence state is the sublayer word
//! itself (S bit and number), advanced without a branch. No allocation either
//! way, nothing cloned (the destination is borrowed), and counters are written
//! only on a drop.
//!
//! [`Endpoint::handle_data`] is the entry point for callers that already told
//! data from control (the tokio codec does); [`Endpoint::handle_datagram`] makes
//! that test and goes to the same fast path.
//!
//! Everything else (shorter packets, and the precise reason for a drop, counted
//! in [`super::EndpointStats`]) runs out of line in
//! [`Endpoint::handle_data_slow`], which redoes the whole check field by field.

use std::hash::Hash;

use rand_core::Rng;

use super::{CommandError, DataDrop, DataIn, Endpoint, IdMap, Transmit};
use crate::avp::{DataSequencing, L2SublayerType};
use crate::control::session::Session;
use crate::data::{
    DecapError, DefaultSublayer, HeaderTemplate, MAX_DATA_HEADER_LEN, SequenceCheck, SublayerKind,
    WIDE,
};
use crate::header::Encapsulation;

/// What [`DataPath::tx_word`] keeps after adding [`DataPath::tx_step`]: the S bit
/// and the 24-bit sequence number, which so wraps to zero.
const TX_KEEP: u32 = DefaultSublayer::S_BIT | DefaultSublayer::MAX_SEQUENCE;

/// What the data path of one established session needs, bound to the peer
/// whose control connection set it up.
#[derive(Debug, Clone)]
pub(crate) struct DataPath<A> {
    /// Our Session ID, whose slot this is; in a vacant slot, a value whose low
    /// bits name another slot ([`vacant_sid`]), so that no lookup matches it.
    sid: u32,
    /// Our Session ID and cookie, our sublayer choice: checks what we receive.
    /// In a vacant slot, [`HeaderTemplate::vacant`], which no packet passes.
    rx: HeaderTemplate,
    /// The peer's Session ID and cookie, the sublayer the peer asked for: writes
    /// what we send.
    tx: HeaderTemplate,
    /// Where our data goes, and the only address data is accepted from (the
    /// control connection's peer).
    peer: A,
    /// The sublayer word of the next packet we send: S bit (when the peer asked
    /// us to sequence our data) and the 24-bit sequence number.
    tx_word: u32,
    /// Added to `tx_word` per packet sent: 1 when sequenced, 0 otherwise (the
    /// word then stays zero).
    tx_step: u32,
    /// The sequence check of what we receive (section 4.6): the S bit where the
    /// receive template's check reads the sublayer word (none without a
    /// sublayer) and the next sequence number expected.
    rx_seq: SequenceCheck,
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
        let tx_sequenced = s.remote_sublayer != L2SublayerType::NONE
            && s.remote_sequencing != DataSequencing::NONE;
        Some(DataPath {
            sid: s.local_id,
            rx,
            tx,
            peer,
            tx_word: if tx_sequenced {
                DefaultSublayer::S_BIT
            } else {
                0
            },
            tx_step: u32::from(tx_sequenced),
            rx_seq: SequenceCheck::new(s.local_sublayer != L2SublayerType::NONE),
        })
    }

    /// The path of a slot without an established session: the lookups of
    /// [`DataTable`] never return it (its Session ID does not index the slot,
    /// its receive template passes no packet). `peer` is any address: it is
    /// never used, and only there so that every slot holds a whole path.
    fn vacant(slot: u32, peer: A) -> Self {
        DataPath {
            sid: vacant_sid(slot),
            rx: HeaderTemplate::vacant(),
            tx: HeaderTemplate::vacant(),
            peer,
            tx_word: 0,
            tx_step: 0,
            rx_seq: SequenceCheck::new(false),
        }
    }

    /// Makes this path vacant (its peer address is kept, unused).
    fn vacate(&mut self, slot: u32) {
        self.sid = vacant_sid(slot);
        self.rx = HeaderTemplate::vacant();
        self.tx = HeaderTemplate::vacant();
    }

    /// The sequence check of section 4.6 on a received sublayer word (ignored
    /// when the session has no sublayer): [`SequenceCheck`]. `Err` for a drop.
    #[inline(always)]
    fn accept(&mut self, word: u32) -> Result<Option<u32>, ()> {
        self.rx_seq.accept_word(word).map_err(|_| ())
    }
}

/// Most slot bits a Session ID gives up to the table index: at least 8 bits of
/// every ID stay random.
const MAX_SLOT_BITS: u32 = 24;

/// The Session ID a vacant slot `slot` holds: its low bits are those of `!slot`,
/// which differ from `slot`'s in every bit of a table mask (at least one bit), so
/// no Session ID that indexes the slot equals it.
const fn vacant_sid(slot: u32) -> u32 {
    !slot
}

/// The data paths of all sessions, indexed by the low bits of our Session IDs.
///
/// Every slot of `paths` holds a whole [`DataPath`], vacant when its session is
/// not established, so that a lookup is one bounds check and one compare: the
/// Session ID on transmit, the receive template's check on receipt. No `Option`
/// is tested per packet.
#[derive(Debug, Clone)]
pub(crate) struct DataTable<A> {
    /// The Session ID holding each slot, established or not (0 when free).
    reserved: Vec<u32>,
    /// Free slot indexes below `reserved.len()`.
    free: Vec<u32>,
    /// The data path of each slot, up to the highest slot ever established
    /// (slots above it have none yet: lookups fall off the end).
    paths: Vec<DataPath<A>>,
    /// Selects the slot index from a Session ID.
    mask: u32,
}

impl<A: Clone> DataTable<A> {
    /// A table for up to `max_sessions` sessions (at most 2^24).
    pub(crate) fn new(max_sessions: usize) -> Self {
        let bits = usize::BITS - max_sessions.max(2).saturating_sub(1).leading_zeros();
        let bits = bits.min(MAX_SLOT_BITS);
        DataTable {
            reserved: Vec::new(),
            free: Vec::new(),
            paths: Vec::new(),
            mask: (1u32 << bits) - 1,
        }
    }

    /// A free slot index, or `None` when all 2^bits slots are taken.
    pub(crate) fn free_slot(&self) -> Option<u32> {
        match self.free.last() {
            Some(&i) => Some(i),
            None => u32::try_from(self.reserved.len())
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
        } else if slot as usize == self.reserved.len() {
            self.reserved.push(0);
        }
        if let Some(s) = self.reserved.get_mut(slot as usize) {
            *s = sid;
        }
    }

    /// Frees the slot of `sid` (and vacates its data path).
    pub(crate) fn release(&mut self, sid: u32) {
        let slot = sid & self.mask;
        if let Some(s) = self.reserved.get_mut(slot as usize)
            && *s == sid
            && sid != 0
        {
            *s = 0;
            self.free.push(slot);
            self.clear(sid);
        }
    }

    /// Installs the data path of an established session (whose slot `sid`
    /// holds).
    pub(crate) fn install(&mut self, sid: u32, path: DataPath<A>) {
        let slot = sid & self.mask;
        if sid == 0 || path.sid != sid || self.reserved.get(slot as usize) != Some(&sid) {
            return;
        }
        let i = slot as usize;
        while self.paths.len() <= i {
            // Below the highest established slot every slot has a path: the
            // new ones are vacant, with this session's peer as filler.
            let vacant = DataPath::vacant(self.paths.len() as u32, path.peer.clone());
            self.paths.push(vacant);
        }
        if let Some(p) = self.paths.get_mut(i) {
            *p = path;
        }
    }

    /// Vacates the data path of a session that is no longer established.
    pub(crate) fn clear(&mut self, sid: u32) {
        let slot = sid & self.mask;
        if let Some(p) = self.path_mut(sid) {
            p.vacate(slot);
        }
    }

    /// The data path of established session `sid`: one bounds check and one
    /// compare (a vacant slot's Session ID matches no lookup, see
    /// [`vacant_sid`]).
    #[inline(always)]
    fn path_mut(&mut self, sid: u32) -> Option<&mut DataPath<A>> {
        self.paths
            .get_mut((sid & self.mask) as usize)
            .filter(|p| p.sid == sid)
    }

    /// The data path in the slot `sid` indexes, whether or not it is `sid`'s,
    /// established or vacant: for the receive fast path, where the receive
    /// template's constant-time check compares the packet's whole Session ID
    /// anyway (an established path's template holds its slot's Session ID, and a
    /// vacant path's template passes nothing).
    #[inline(always)]
    fn slot_path_mut(&mut self, sid: u32) -> Option<&mut DataPath<A>> {
        self.paths.get_mut((sid & self.mask) as usize)
    }
}

impl<A, R> Endpoint<A, R>
where
    A: Clone + Eq + Hash,
    R: Rng,
{
    /// Handles one received datagram from `from` that the caller already knows is
    /// a data packet, such as a `Frame::Data` from the `tokio_codec` module
    /// (feature `tokio`; the codec tells control from data by the T bit over
    /// UDP): [`Endpoint::handle_datagram`] without its control/data test, and
    /// with the reason for a drop.
    ///
    /// The same checks as for a data packet there: the session is found from
    /// the packet's Session ID, Session ID and cookie are checked in constant
    /// time against its receive template, `from` must be the session's peer (the
    /// address of its control connection's peer), then the sequence number (RFC
    /// 3931 section 4.6) when the session is sequenced. The payload is borrowed
    /// from `datagram`; nothing is allocated. A drop returns its [`DataDrop`]
    /// reason and is counted in [`super::EndpointStats`] (a control message
    /// handed in here is dropped as a malformed or unknown data packet).
    ///
    /// ```
    /// # use l2tpv3::{Config, DataDrop, Endpoint, SessionRequest, MAX_DATA_HEADER_LEN};
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
    /// let mut buf = [0u8; MAX_DATA_HEADER_LEN + 60];
    /// let packet = a.encapsulate(sid, &mut buf, MAX_DATA_HEADER_LEN).unwrap();
    /// // The same bytes from another address are refused: the session is a's.
    /// assert_eq!(b.handle_data(&"mallory", packet.contents), Err(DataDrop::WrongPeer));
    /// let got = b.handle_data(&"a", packet.contents).unwrap();
    /// assert_eq!(got.payload.len(), 60);
    /// // A control message is not data: its zero "Session ID" names no session.
    /// let control = [0xc8, 0x03, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0];
    /// assert_eq!(b.handle_data(&"a", &control), Err(DataDrop::UnknownSession));
    /// ```
    //
    // Inlined into the caller's receive loop: the fast path is one load of the
    // encapsulation (a branch that always goes the same way) and
    // `handle_data_fast`.
    #[inline(always)]
    pub fn handle_data<'a>(
        &mut self,
        from: &A,
        datagram: &'a [u8],
    ) -> Result<DataIn<'a>, DataDrop> {
        if let Some(head) = datagram.first_chunk::<MAX_DATA_HEADER_LEN>() {
            return match self.config.encapsulation {
                Encapsulation::Udp => self.handle_data_fast::<4>(from, head, datagram),
                Encapsulation::Ip => self.handle_data_fast::<0>(from, head, datagram),
            };
        }
        self.handle_data_slow(from, datagram)
    }

    /// Checks a data packet of at least [`MAX_DATA_HEADER_LEN`] bytes (`head`,
    /// the first of them, of `buf`) from `from` against its session's receive
    /// template and peer; `SID_AT` is the offset of the Session ID (4 over UDP, 0
    /// over IP).
    ///
    /// The fast path: index the table with the Session ID, the template's
    /// constant-time check, the peer compare, the sequence check. Nothing is
    /// counted or changed unless the packet is accepted or dropped as old; any
    /// other drop, to be counted, goes to [`Endpoint::handle_data_slow`].
    #[inline(always)]
    pub(super) fn handle_data_fast<'a, const SID_AT: usize>(
        &mut self,
        from: &A,
        head: &[u8; MAX_DATA_HEADER_LEN],
        buf: &'a [u8],
    ) -> Result<DataIn<'a>, DataDrop> {
        const { assert!(SID_AT + 4 <= WIDE) };
        let sid = u32::from_be_bytes([
            head[SID_AT],
            head[SID_AT + 1],
            head[SID_AT + 2],
            head[SID_AT + 3],
        ]);
        if let Some(path) = self.data.slot_path_mut(sid)
            && let Some(word) = path.rx.check_head(head)
            && path.peer == *from
        {
            let len = path.rx.len();
            let Ok(sequence) = path.accept(word) else {
                self.stats.data_out_of_order += 1;
                return Err(DataDrop::OutOfOrder);
            };
            // Always there: len <= MAX_DATA_HEADER_LEN <= buf.len().
            let Some(payload) = buf.get(len..) else {
                return Err(DataDrop::Malformed);
            };
            return Ok(DataIn {
                session_id: sid,
                payload,
                sequence,
            });
        }
        self.handle_data_slow(from, buf)
    }

    /// The data path off the fast one: packets shorter than
    /// [`MAX_DATA_HEADER_LEN`] (checked field by field, then sequenced as
    /// above), and every drop the fast path leaves to count: malformed,
    /// unknown or not established session, wrong peer, wrong cookie.
    #[cold]
    #[inline(never)]
    pub(super) fn handle_data_slow<'a>(
        &mut self,
        from: &A,
        buf: &'a [u8],
    ) -> Result<DataIn<'a>, DataDrop> {
        let sid_at = match self.config.encapsulation {
            Encapsulation::Udp => 4,
            Encapsulation::Ip => 0,
        };
        let Some(&sid) = buf.get(sid_at..).and_then(|b| b.first_chunk::<4>()) else {
            self.stats.data_malformed += 1;
            return Err(DataDrop::Malformed);
        };
        let sid = u32::from_be_bytes(sid);
        let Some(path) = self.data.path_mut(sid) else {
            self.stats.data_unknown_session += 1;
            return Err(DataDrop::UnknownSession);
        };
        if path.peer != *from {
            self.stats.data_wrong_peer += 1;
            return Err(DataDrop::WrongPeer);
        }
        let got = match path.rx.decapsulate(buf) {
            Ok(got) => got,
            Err(DecapError::BadCookie { .. }) => {
                self.stats.data_bad_cookie += 1;
                return Err(DataDrop::BadCookie);
            }
            Err(_) => {
                self.stats.data_malformed += 1;
                return Err(DataDrop::Malformed);
            }
        };
        let word = got.sublayer.map_or(0, |l| {
            if l.sequenced {
                DefaultSublayer::S_BIT | l.sequence
            } else {
                0
            }
        });
        let Ok(sequence) = path.accept(word) else {
            self.stats.data_out_of_order += 1;
            return Err(DataDrop::OutOfOrder);
        };
        let Some(payload) = buf.get(got.payload) else {
            self.stats.data_malformed += 1;
            return Err(DataDrop::Malformed);
        };
        Ok(DataIn {
            session_id: sid,
            payload,
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
    /// neither read nor moved, and nothing is allocated. The destination (the
    /// control connection's peer) is borrowed from the endpoint, not cloned:
    /// copy it out (`*t.destination` for a `SocketAddr`) if it must outlive the
    /// next call.
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
    /// assert_eq!(*packet.destination, "b");
    /// // The peer checks it and hands back the frame, borrowed.
    /// let got = b.handle_datagram(now, "a", packet.contents).unwrap();
    /// assert_eq!(got.payload, &[0xab; 60][..]);
    /// ```
    #[inline]
    pub fn encapsulate<'s, 'b>(
        &'s mut self,
        session_id: u32,
        buf: &'b mut [u8],
        payload_start: usize,
    ) -> Result<Transmit<&'s A, &'b [u8]>, CommandError> {
        let Some(path) = self.data.path_mut(session_id) else {
            return Err(not_established(&self.sessions, session_id));
        };
        let word = path.tx_word;
        let start = path.tx.encapsulate_word(buf, payload_start, word)?;
        // The sequence number wraps within its 24 bits; the S bit stays.
        path.tx_word = word.wrapping_add(path.tx_step) & TX_KEEP;
        Ok(Transmit {
            destination: &path.peer,
            contents: &buf[start..],
        })
    }
}

/// What a data plane outside the endpoint needs to carry one established session's
/// data itself (on other threads, in batches): both header templates, the peer, and
/// the sequence state at the moment of the hand-over. From then on that data plane
/// owns the session's transmit sequence: the endpoint's own [`Endpoint::encapsulate`]
/// must not be used for the session as well, or sequence numbers repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTemplates<A> {
    /// Our Session ID.
    pub session_id: u32,
    /// Checks what we receive (our Session ID and cookie, RFC 3931 section 4.1).
    pub rx: HeaderTemplate,
    /// Writes what we send (the peer's Session ID and cookie).
    pub tx: HeaderTemplate,
    /// The peer: where data goes and the only source data is accepted from.
    pub peer: A,
    /// The sequence number of the next packet to send when the peer asked us to
    /// sequence our data (section 4.6), `None` when we send unsequenced.
    pub tx_next_sequence: Option<u32>,
    /// The receive sequence check as the endpoint has it now (section 4.6): a data
    /// plane that takes received sequenced data applies
    /// [`SequenceCheck::accept`] with it.
    pub rx_sequence: SequenceCheck,
}

impl<A, R> Endpoint<A, R>
where
    A: Clone + Eq + Hash,
    R: Rng,
{
    /// The templates and sequence state of established session `session_id`, for a
    /// data plane that encapsulates and checks the session's data itself (see
    /// [`SessionTemplates`]); `None` when the session is not established. Received
    /// data with the S bit set must still go through [`Endpoint::handle_data`],
    /// or the data plane checks its sequence numbers itself with
    /// [`SessionTemplates::rx_sequence`].
    ///
    /// ```
    /// # use l2tpv3::{Config, Endpoint, SessionRequest, MAX_DATA_HEADER_LEN};
    /// # use rand::SeedableRng;
    /// # let now = std::time::Instant::now();
    /// # let rng = |s| rand::rngs::StdRng::seed_from_u64(s);
    /// # let mut a = Endpoint::new(Config::default(), rng(1));
    /// # let mut b = Endpoint::new(Config::default(), rng(2));
    /// # let ccid = a.connect(now, "b").unwrap();
    /// let sid = a.open_session(now, ccid, SessionRequest::ethernet("pw")).unwrap();
    /// assert!(a.session_templates(sid).is_none()); // not established yet
    /// # for _ in 0..8 {
    /// #     while let Some(t) = a.poll_transmit() { b.handle_datagram(now, "a", &t.contents); }
    /// #     while let Some(t) = b.poll_transmit() { a.handle_datagram(now, "b", &t.contents); }
    /// # }
    /// let t = a.session_templates(sid).unwrap();
    /// assert_eq!((t.session_id, t.peer), (sid, "b"));
    /// // A data plane encapsulates with the transmit template; the peer accepts it.
    /// let mut buf = [0u8; MAX_DATA_HEADER_LEN + 60];
    /// let sub = l2tpv3::DefaultSublayer::unsequenced();
    /// let start = t.tx.encapsulate(&mut buf, MAX_DATA_HEADER_LEN, sub).unwrap();
    /// let got = b.handle_datagram(now, "a", &buf[start..]).unwrap();
    /// assert_eq!(got.payload.len(), 60);
    /// // And checks what the peer sends with the receive template.
    /// let bsid = b.sessions().next().unwrap().local_id;
    /// let mut buf = [0u8; MAX_DATA_HEADER_LEN + 60];
    /// let p = b.encapsulate(bsid, &mut buf, MAX_DATA_HEADER_LEN).unwrap();
    /// assert_eq!(t.rx.decapsulate(p.contents).unwrap().payload.len(), 60);
    /// ```
    pub fn session_templates(&self, session_id: u32) -> Option<SessionTemplates<A>> {
        let path = self
            .data
            .paths
            .get((session_id & self.data.mask) as usize)
            .filter(|p| p.sid == session_id)?;
        Some(SessionTemplates {
            session_id,
            rx: path.rx,
            tx: path.tx,
            peer: path.peer.clone(),
            tx_next_sequence: (path.tx_step != 0)
                .then_some(path.tx_word & DefaultSublayer::MAX_SEQUENCE),
            rx_sequence: path.rx_seq,
        })
    }
}

/// Why [`Endpoint::encapsulate`] found no data path for `session_id` (a free
/// function of the session map: the data table stays borrowed for the result).
#[cold]
#[inline(never)]
fn not_established(sessions: &IdMap<Session>, session_id: u32) -> CommandError {
    if sessions.contains_key(&session_id) {
        CommandError::NotEstablished(session_id)
    } else {
        CommandError::NoSession(session_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SEQ_HALF;

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
        // Reserved but not established: no data path is found.
        assert!(t.path_mut(ids[1]).is_none());
        // Established: the lookup needs the whole ID, not only its slot.
        let template = |sid| {
            HeaderTemplate::new(
                Encapsulation::Udp,
                sid,
                crate::data::Cookie::None,
                SublayerKind::None,
            )
            .expect("non-zero id")
        };
        let path = |sid| DataPath {
            sid,
            rx: template(sid),
            tx: template(sid),
            ..DataPath::vacant(0, ())
        };
        t.install(ids[1], path(ids[1]));
        assert_eq!(
            t.paths.len(),
            2,
            "slot 0 below it filled with a vacant path"
        );
        assert!(t.path_mut(ids[0]).is_none());
        assert!(t.path_mut(ids[1]).is_some());
        assert!(t.path_mut(ids[1] ^ 0x100).is_none());
        assert!(t.path_mut(0).is_none(), "slot 0 is vacant");
        // A path is installed only in the slot its Session ID holds.
        t.install(ids[2] ^ 0x100, path(ids[2] ^ 0x100));
        assert!(t.path_mut(ids[2] ^ 0x100).is_none());
        // A vacant slot's receive template passes nothing, not even all zeros.
        let head = [0u8; MAX_DATA_HEADER_LEN];
        assert!(
            t.slot_path_mut(0)
                .is_some_and(|p| p.rx.check_head(&head).is_none())
        );
        t.clear(ids[1]);
        assert!(t.path_mut(ids[1]).is_none());
        t.install(ids[1], path(ids[1]));
        t.release(ids[1]);
        assert!(t.path_mut(ids[1]).is_none(), "released with its path");
        assert_eq!(t.free_slot(), Some(1));
        // Releasing an ID that does not hold the slot changes nothing.
        t.release(ids[1]);
        t.release(ids[2] ^ 0x100);
        assert_eq!(t.reserved[2], ids[2]);
        assert_eq!(t.free.len(), 1);
    }

    #[test]
    fn sequence_check_follows_section_4_6_across_the_wrap() {
        let t = HeaderTemplate::new(
            Encapsulation::Udp,
            1,
            crate::data::Cookie::None,
            SublayerKind::Default,
        )
        .expect("non-zero id");
        let mut p = DataPath {
            sid: 1,
            rx: t,
            tx: t,
            peer: (),
            tx_word: 0,
            tx_step: 0,
            rx_seq: SequenceCheck::new(true),
        };
        let s = |seq: u32| DefaultSublayer::S_BIT | seq;
        // S clear: unsequenced, passes and changes nothing.
        assert_eq!(p.accept(0), Ok(None));
        // Any first sequence number is accepted, then the space wraps at 2^24.
        assert_eq!(p.accept(s(0xff_fffe)), Ok(Some(0xff_fffe)));
        assert_eq!(p.accept(s(0xff_ffff)), Ok(Some(0xff_ffff)));
        assert_eq!(p.accept(s(0)), Ok(Some(0)));
        // Duplicates and older numbers are dropped.
        assert_eq!(p.accept(s(0)), Err(()));
        assert_eq!(p.accept(s(0xff_ffff)), Err(()));
        // Half the space ahead of the expected 1 counts as behind; one less is
        // ahead (a gap, accepted).
        assert_eq!(p.accept(s(1 + SEQ_HALF)), Err(()));
        assert_eq!(p.accept(s(SEQ_HALF)), Ok(Some(SEQ_HALF)));
        // Reserved bits of the sublayer word are ignored.
        assert_eq!(
            p.accept(s(SEQ_HALF + 1) | 0xbf00_0000),
            Ok(Some(SEQ_HALF + 1))
        );
        assert_eq!(p.accept(SEQ_HALF + 5), Ok(None));
        // The transmit word wraps its sequence number and keeps the S bit.
        let w = s(DefaultSublayer::MAX_SEQUENCE);
        assert_eq!(w.wrapping_add(1) & TX_KEEP, s(0));
        assert_eq!(0u32.wrapping_add(0) & TX_KEEP, 0);
    }

    #[test]
    fn table_size_follows_the_session_limit() {
        assert_eq!(DataTable::<()>::new(65_536).mask, 0xffff);
        assert_eq!(DataTable::<()>::new(65_537).mask, 0x1_ffff);
        assert_eq!(DataTable::<()>::new(1).mask, 1);
        assert_eq!(DataTable::<()>::new(usize::MAX).mask, 0xff_ffff);
    }
}
