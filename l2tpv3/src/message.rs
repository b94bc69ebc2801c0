//! Control messages: header plus AVP list (RFC 3931 sections 3.1, 3.2.1, 6), the
//! Zero-Length Body acknowledgement, and the byte-level helpers that Control Message
//! Authentication (section 4.3, Message Digest AVP in 5.4.1) needs.

use std::fmt;
use std::ops::Range;

use bytes::BufMut;
use nom::number::complete::be_u32;

use crate::avp::{
    AVP_HEADER_LEN, Avp, AvpType, AvpValue, IETF_VENDOR_ID, MessageDigest, raw_header,
};
use crate::error::{ControlError, EncodeError};
use crate::header::{CONTROL_HEADER_LEN, ControlHeader, Encapsulation};

/// Most AVPs one control message may carry; [`ControlMessage::decode`] refuses
/// more with [`ControlError::TooManyAvps`].
///
/// The largest message RFC 3931 defines (an SCCRQ or ICRQ with every optional
/// AVP) has about 20; 256 leaves room for vendor AVPs while bounding what one
/// datagram can make the decoder allocate: a 65,535-byte message of 6-byte AVPs
/// would otherwise decode to about 10,900 of them (over a megabyte).
pub const MAX_AVPS: usize = 256;

/// Control message types (RFC 3931 section 3.1, IANA registry in section 10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageType {
    /// 1: Start-Control-Connection-Request.
    Sccrq,
    /// 2: Start-Control-Connection-Reply.
    Sccrp,
    /// 3: Start-Control-Connection-Connected.
    Scccn,
    /// 4: Stop-Control-Connection-Notification.
    StopCcn,
    /// 6: Hello (keepalive).
    Hello,
    /// 7: Outgoing-Call-Request.
    Ocrq,
    /// 8: Outgoing-Call-Reply.
    Ocrp,
    /// 9: Outgoing-Call-Connected.
    Occn,
    /// 10: Incoming-Call-Request.
    Icrq,
    /// 11: Incoming-Call-Reply.
    Icrp,
    /// 12: Incoming-Call-Connected.
    Iccn,
    /// 14: Call-Disconnect-Notify.
    Cdn,
    /// 15: WAN-Error-Notify.
    Wen,
    /// 16: Set-Link-Info.
    Sli,
    /// 20: Explicit Acknowledgement.
    Ack,
    /// A type this crate does not define (reserved, or from a later RFC).
    Unknown(u16),
}

impl MessageType {
    /// Every message type RFC 3931 defines, in numeric order.
    pub const ALL: [MessageType; 15] = [
        MessageType::Sccrq,
        MessageType::Sccrp,
        MessageType::Scccn,
        MessageType::StopCcn,
        MessageType::Hello,
        MessageType::Ocrq,
        MessageType::Ocrp,
        MessageType::Occn,
        MessageType::Icrq,
        MessageType::Icrp,
        MessageType::Iccn,
        MessageType::Cdn,
        MessageType::Wen,
        MessageType::Sli,
        MessageType::Ack,
    ];

    /// The Message Type AVP value.
    pub const fn number(self) -> u16 {
        match self {
            MessageType::Sccrq => 1,
            MessageType::Sccrp => 2,
            MessageType::Scccn => 3,
            MessageType::StopCcn => 4,
            MessageType::Hello => 6,
            MessageType::Ocrq => 7,
            MessageType::Ocrp => 8,
            MessageType::Occn => 9,
            MessageType::Icrq => 10,
            MessageType::Icrp => 11,
            MessageType::Iccn => 12,
            MessageType::Cdn => 14,
            MessageType::Wen => 15,
            MessageType::Sli => 16,
            MessageType::Ack => 20,
            MessageType::Unknown(n) => n,
        }
    }

    /// The message type for a Message Type AVP value.
    pub fn from_number(n: u16) -> MessageType {
        MessageType::ALL
            .iter()
            .copied()
            .find(|t| t.number() == n)
            .unwrap_or(MessageType::Unknown(n))
    }

    /// The RFC's short name ("SCCRQ", "StopCCN", ...), or "Unknown".
    pub const fn name(self) -> &'static str {
        match self {
            MessageType::Sccrq => "SCCRQ",
            MessageType::Sccrp => "SCCRP",
            MessageType::Scccn => "SCCCN",
            MessageType::StopCcn => "StopCCN",
            MessageType::Hello => "HELLO",
            MessageType::Ocrq => "OCRQ",
            MessageType::Ocrp => "OCRP",
            MessageType::Occn => "OCCN",
            MessageType::Icrq => "ICRQ",
            MessageType::Icrp => "ICRP",
            MessageType::Iccn => "ICCN",
            MessageType::Cdn => "CDN",
            MessageType::Wen => "WEN",
            MessageType::Sli => "SLI",
            MessageType::Ack => "ACK",
            MessageType::Unknown(_) => "Unknown",
        }
    }

    /// Whether the message belongs to a session (answered with a CDN on error) rather
    /// than to the control connection (answered with a StopCCN), as section 5.2 sorts them.
    pub const fn is_session_message(self) -> bool {
        matches!(
            self,
            MessageType::Ocrq
                | MessageType::Ocrp
                | MessageType::Occn
                | MessageType::Icrq
                | MessageType::Icrp
                | MessageType::Iccn
                | MessageType::Cdn
                | MessageType::Wen
                | MessageType::Sli
        )
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.number())
    }
}

/// A control message: the header and its AVPs in wire order.
///
/// An empty AVP list is a Zero-Length Body (ZLB) acknowledgement (section 6.15).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ControlMessage {
    /// The header fields.
    pub header: ControlHeader,
    /// The AVPs; the first should be the Message Type AVP (checked by
    /// [`crate::validate::validate`], not by the decoder).
    pub avps: Vec<Avp>,
}

/// Where one Message Digest AVP sits in an encoded control message.
///
/// Offsets count from the first byte of the control header (the T bit), which is
/// where the RFC's `control_message` input to the HMAC begins, over UDP and over IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestField {
    /// Offset of the AVP's first byte.
    pub avp_offset: usize,
    /// The Digest Type octet.
    pub digest_type: u8,
    /// Where the digest bytes are (to zero before hashing and to fill in after).
    pub digest: Range<usize>,
}

impl ControlMessage {
    /// A message of the given type: a Message Type AVP (M=1) followed by `avps`.
    pub fn new(header: ControlHeader, message_type: MessageType, avps: Vec<Avp>) -> Self {
        let mut all = Vec::with_capacity(avps.len() + 1);
        all.push(Avp::new(AvpValue::MessageType(message_type)));
        all.extend(avps);
        ControlMessage { header, avps: all }
    }

    /// A Zero-Length Body acknowledgement.
    pub fn zlb(header: ControlHeader) -> Self {
        ControlMessage {
            header,
            avps: Vec::new(),
        }
    }

    /// Whether this is a ZLB (no AVPs at all).
    pub fn is_zlb(&self) -> bool {
        self.avps.is_empty()
    }

    /// The message type from the first AVP, if it is an IETF Message Type AVP.
    pub fn message_type(&self) -> Option<MessageType> {
        match self.avps.first().map(|a| &a.value) {
            Some(AvpValue::MessageType(t)) => Some(*t),
            _ => None,
        }
    }

    /// The first AVP of the given known type.
    pub fn find(&self, t: AvpType) -> Option<&AvpValue> {
        self.avps
            .iter()
            .map(|a| &a.value)
            .find(|v| v.avp_type() == Some(t) && !matches!(v, AvpValue::Malformed { .. }))
    }

    /// Length of the control message proper (the header's Length field).
    pub fn len(&self) -> usize {
        CONTROL_HEADER_LEN + self.avps.iter().map(Avp::encoded_len).sum::<usize>()
    }

    /// Always false: a control message has at least its 12-byte header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Bytes on the wire for the given encapsulation (the Length plus the 4-byte zero
    /// Session ID over IP).
    pub fn encoded_len(&self, encap: Encapsulation) -> usize {
        encap.control_prefix_len() + self.len()
    }

    /// Encodes the message (with the zero Session ID over IP) into `out`.
    pub fn encode(&self, encap: Encapsulation, out: &mut impl BufMut) -> Result<(), EncodeError> {
        self.encode_inner(encap, out, false)
    }

    /// Encodes the message with every Message Digest AVP's digest bytes set to zero,
    /// the form over which RFC 3931 section 5.4.1 computes the HMAC.
    ///
    /// Returns where the digests are, relative to the start of the control header
    /// (add [`Encapsulation::control_prefix_len`] to index into `out`'s bytes).
    pub fn encode_with_zeroed_digests(
        &self,
        encap: Encapsulation,
        out: &mut impl BufMut,
    ) -> Result<Vec<DigestField>, EncodeError> {
        self.encode_inner(encap, out, true)?;
        Ok(self.digest_fields())
    }

    /// Where each Message Digest AVP's digest bytes will be once encoded, relative to
    /// the start of the control header.
    pub fn digest_fields(&self) -> Vec<DigestField> {
        let mut fields = Vec::new();
        let mut at = CONTROL_HEADER_LEN;
        for avp in &self.avps {
            if let AvpValue::MessageDigest(d) = &avp.value {
                let start = at + AVP_HEADER_LEN + 1;
                fields.push(DigestField {
                    avp_offset: at,
                    digest_type: d.digest_type(),
                    digest: start..start + d.digest().len(),
                });
            }
            at += avp.encoded_len();
        }
        fields
    }

    fn encode_inner(
        &self,
        encap: Encapsulation,
        out: &mut impl BufMut,
        zero_digests: bool,
    ) -> Result<(), EncodeError> {
        let len = self.len();
        let length = u16::try_from(len).map_err(|_| EncodeError::MessageTooLong { len })?;
        let total = encap.control_prefix_len() + len;
        if out.remaining_mut() < total {
            return Err(EncodeError::BufferTooSmall {
                needed: total,
                available: out.remaining_mut(),
            });
        }
        // Check every AVP before writing anything, so a failure leaves `out` untouched.
        for avp in &self.avps {
            if avp.encoded_len() > crate::avp::MAX_AVP_LEN {
                return Err(EncodeError::AvpTooLong {
                    attr_type: avp.value.wire_type().1,
                    len: avp.value.value_len(),
                });
            }
        }
        if encap == Encapsulation::Ip {
            out.put_u32(0);
        }
        self.header.encode(length, out);
        for avp in &self.avps {
            match &avp.value {
                AvpValue::MessageDigest(d) if zero_digests => {
                    Avp::with_mandatory(AvpValue::MessageDigest(d.zeroed()), avp.mandatory)
                        .encode(out)?
                }
                _ => avp.encode(out)?,
            }
        }
        Ok(())
    }

    /// Encodes into a new vector.
    pub fn to_vec(&self, encap: Encapsulation) -> Result<Vec<u8>, EncodeError> {
        let mut v = Vec::with_capacity(self.encoded_len(encap));
        self.encode(encap, &mut v)?;
        Ok(v)
    }

    /// Decodes a control message; more than [`MAX_AVPS`] AVPs is an error.
    ///
    /// Over IP `buf` starts with the zero Session ID; over UDP it starts with the
    /// header. Bytes beyond the header's Length are ignored (link padding). AVP values
    /// are interpreted but not checked against the message type: call
    /// [`crate::validate::validate`] for that.
    pub fn decode(buf: &[u8], encap: Encapsulation) -> Result<ControlMessage, ControlError> {
        Self::decode_framed(buf, encap).map(|(m, _)| m)
    }

    /// [`ControlMessage::decode`] that also returns the header's Length field, so
    /// a receiver parses the header once per message.
    pub(crate) fn decode_framed(
        buf: &[u8],
        encap: Encapsulation,
    ) -> Result<(ControlMessage, u16), ControlError> {
        let base = encap.control_prefix_len();
        if encap == Encapsulation::Ip {
            let (_, session_id) = be_u32::<_, ()>(buf).map_err(|_| ControlError::Truncated {
                offset: 0,
                needed: 4,
                available: buf.len(),
            })?;
            if session_id != 0 {
                return Err(ControlError::NotControlOverIp {
                    offset: 0,
                    session_id,
                });
            }
        }
        let msg = &buf[base..];
        let (header, length) = ControlHeader::decode(msg, base)?;
        let body = &msg[CONTROL_HEADER_LEN..usize::from(length)];
        let mut avps = Vec::new();
        let mut at = 0;
        while at < body.len() {
            if avps.len() == MAX_AVPS {
                return Err(ControlError::TooManyAvps {
                    offset: base + CONTROL_HEADER_LEN + at,
                    limit: MAX_AVPS,
                });
            }
            let (avp, used) = Avp::decode(&body[at..], base + CONTROL_HEADER_LEN + at)?;
            avps.push(avp);
            at += used;
        }
        Ok((ControlMessage { header, avps }, length))
    }
}

/// Finds the Message Digest AVPs in an encoded control message without decoding it
/// fully, so a receiver can check the digest before trusting anything else
/// (section 5.4.1: "MUST be performed before utilizing any information").
///
/// `msg` starts at the control header (strip the zero Session ID over IP first) and
/// is cut to the header's Length. Digest AVPs with an unknown type or wrong length
/// are skipped; the caller sees they are missing.
pub fn find_digest_fields(msg: &[u8]) -> Result<Vec<DigestField>, ControlError> {
    let (_, length) = ControlHeader::decode(msg, 0)?;
    scan_digest_fields(&msg[..usize::from(length)])
}

/// [`find_digest_fields`] for a message whose header was already decoded: `msg`
/// starts at the control header and is cut to its Length; only the AVP headers
/// are walked.
pub(crate) fn scan_digest_fields(msg: &[u8]) -> Result<Vec<DigestField>, ControlError> {
    let mut fields = Vec::new();
    let mut at = CONTROL_HEADER_LEN;
    while at < msg.len() {
        let h = raw_header(&msg[at..], at)?;
        if h.vendor_id == IETF_VENDOR_ID
            && h.attr_type == AvpType::MessageDigest.number()
            && !h.hidden
            && h.len > AVP_HEADER_LEN
        {
            let digest_type = msg[at + AVP_HEADER_LEN];
            if MessageDigest::digest_len(digest_type) == Some(h.len - AVP_HEADER_LEN - 1) {
                fields.push(DigestField {
                    avp_offset: at,
                    digest_type,
                    digest: at + AVP_HEADER_LEN + 1..at + h.len,
                });
            }
        }
        at += h.len;
    }
    Ok(fields)
}

impl fmt::Display for ControlMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match (self.is_zlb(), self.message_type()) {
            (true, _) => "ZLB".to_string(),
            (false, Some(t)) => t.to_string(),
            (false, None) => "(no Message Type AVP)".to_string(),
        };
        writeln!(
            f,
            "{name}: ccid={:#010x} ns={} nr={} length={}",
            self.header.ccid,
            self.header.ns,
            self.header.nr,
            self.len()
        )?;
        for avp in &self.avps {
            writeln!(f, "  {avp}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avp::{CircuitStatus, PwType, ResultCode};

    fn hdr() -> ControlHeader {
        ControlHeader {
            ccid: 0x0000_abcd,
            ns: 1,
            nr: 2,
        }
    }

    #[test]
    fn hello_over_udp_and_ip_by_hand() {
        // Figure 3.2.1 header, Length 20, then the Message Type AVP for HELLO (6).
        let udp = [
            0xc8, 0x03, 0x00, 0x14, 0x00, 0x00, 0xab, 0xcd, 0x00, 0x01, 0x00, 0x02, // header
            0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, // Message Type = HELLO
        ];
        let msg = ControlMessage::new(hdr(), MessageType::Hello, vec![]);
        assert_eq!(msg.to_vec(Encapsulation::Udp).unwrap(), udp);
        assert_eq!(
            ControlMessage::decode(&udp, Encapsulation::Udp).unwrap(),
            msg
        );

        // Figure 4.1.1.2: 32 zero bits, then the same header; Length does not count them.
        let mut ip = vec![0, 0, 0, 0];
        ip.extend(udp);
        assert_eq!(msg.to_vec(Encapsulation::Ip).unwrap(), ip);
        assert_eq!(ControlMessage::decode(&ip, Encapsulation::Ip).unwrap(), msg);
    }

    #[test]
    fn zlb_is_header_only() {
        let zlb = ControlMessage::zlb(hdr());
        let bytes = zlb.to_vec(Encapsulation::Udp).unwrap();
        assert_eq!(bytes.len(), 12);
        assert_eq!(&bytes[2..4], &[0, 12]);
        let back = ControlMessage::decode(&bytes, Encapsulation::Udp).unwrap();
        assert!(back.is_zlb());
        assert_eq!(back.message_type(), None);
    }

    #[test]
    fn ip_data_is_not_control() {
        let bytes = [0, 0, 0, 7, 0xc8, 3, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            ControlMessage::decode(&bytes, Encapsulation::Ip),
            Err(ControlError::NotControlOverIp {
                offset: 0,
                session_id: 7
            })
        );
    }

    #[test]
    fn errors_carry_packet_offsets_over_ip() {
        // Second AVP has Length 40 but only 8 bytes are left.
        let mut b = vec![0, 0, 0, 0, 0xc8, 0x03, 0x00, 28, 0, 0, 0, 1, 0, 0, 0, 0];
        b.extend([0x80, 8, 0, 0, 0, 0, 0, 6]);
        b.extend([0x80, 40, 0, 0, 0, 7, b'a', b'b']);
        assert_eq!(
            ControlMessage::decode(&b, Encapsulation::Ip),
            Err(ControlError::BadAvpLength {
                offset: 24,
                length: 40,
                remaining: 8
            })
        );
    }

    #[test]
    fn trailing_padding_after_length_is_ignored() {
        let msg = ControlMessage::new(
            hdr(),
            MessageType::StopCcn,
            vec![Avp::new(AvpValue::ResultCode(ResultCode::new(1)))],
        );
        let mut bytes = msg.to_vec(Encapsulation::Udp).unwrap();
        bytes.extend([0; 6]);
        assert_eq!(
            ControlMessage::decode(&bytes, Encapsulation::Udp).unwrap(),
            msg
        );
    }

    #[test]
    fn digest_fields_match_encoded_bytes() {
        let msg = ControlMessage::new(
            hdr(),
            MessageType::Icrp,
            vec![
                Avp::new(AvpValue::MessageDigest(MessageDigest::HmacMd5([0x5a; 16]))),
                Avp::new(AvpValue::MessageDigest(MessageDigest::HmacSha1([0xa5; 20]))),
                Avp::new(AvpValue::LocalSessionId(9)),
                Avp::new(AvpValue::RemoteSessionId(8)),
                Avp::new(AvpValue::CircuitStatus(CircuitStatus {
                    active: true,
                    new: false,
                })),
            ],
        );
        for encap in [Encapsulation::Udp, Encapsulation::Ip] {
            let mut zeroed = Vec::new();
            let fields = msg.encode_with_zeroed_digests(encap, &mut zeroed).unwrap();
            let full = msg.to_vec(encap).unwrap();
            let p = encap.control_prefix_len();
            assert_eq!(fields.len(), 2);
            assert_eq!(fields[0].avp_offset, 20);
            assert_eq!(fields[0].digest, 27..43);
            assert_eq!(fields[1].digest_type, 1);
            assert_eq!(fields[1].digest, 50..70);
            assert_eq!(find_digest_fields(&full[p..]).unwrap(), fields);
            for f in &fields {
                let r = f.digest.start + p..f.digest.end + p;
                assert!(zeroed[r.clone()].iter().all(|&b| b == 0));
                assert!(full[r].iter().all(|&b| b != 0));
            }
            // Everything outside the digests is identical.
            let mut patched = full.clone();
            for f in &fields {
                patched[f.digest.start + p..f.digest.end + p].fill(0);
            }
            assert_eq!(patched, zeroed);
        }
    }

    #[test]
    fn realistic_sccrq_decodes() {
        let msg = ControlMessage::new(
            ControlHeader::default(),
            MessageType::Sccrq,
            vec![
                Avp::new(AvpValue::HostName(b"lcce-a.example".to_vec())),
                Avp::new(AvpValue::RouterId(0x0a00_0001)),
                Avp::new(AvpValue::AssignedControlConnectionId(0x1234_5678)),
                Avp::new(AvpValue::PseudowireCapabilities(vec![PwType::ETHERNET])),
            ],
        );
        let bytes = msg.to_vec(Encapsulation::Udp).unwrap();
        let back = ControlMessage::decode(&bytes, Encapsulation::Udp).unwrap();
        assert_eq!(back.message_type(), Some(MessageType::Sccrq));
        assert_eq!(
            back.find(AvpType::AssignedControlConnectionId),
            Some(&AvpValue::AssignedControlConnectionId(0x1234_5678))
        );
    }

    #[test]
    fn too_long_message_is_refused() {
        let avps = (0..70)
            .map(|_| Avp::new(AvpValue::RandomVector(vec![0; 1000])))
            .collect();
        let msg = ControlMessage::new(hdr(), MessageType::Hello, avps);
        assert!(matches!(
            msg.to_vec(Encapsulation::Udp),
            Err(EncodeError::MessageTooLong { .. })
        ));
    }
}
