//! Property tests: encode then decode is the identity for every message type and
//! every AVP; for any bytes that decode, decode-encode-decode is stable.

use bytes::BytesMut;
use l2tpv3::avp::{
    Avp, AvpType, AvpValue, CircuitErrors, CircuitStatus, DataSequencing, ErrorCode,
    L2SublayerType, MessageDigest, PwType, RawAvp, ResultCode,
};
use l2tpv3::data::{self, CookieLen, MAX_DATA_HEADER_LEN, SublayerKind};
use l2tpv3::{
    ControlHeader, ControlMessage, Cookie, DataHeader, DataPacket, DefaultSublayer, Encapsulation,
    MessageType, SessionConfig,
};
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn cookie() -> impl Strategy<Value = Cookie> {
    prop_oneof![
        Just(Cookie::None),
        any::<[u8; 4]>().prop_map(Cookie::Four),
        any::<[u8; 8]>().prop_map(Cookie::Eight),
    ]
}

fn encap() -> impl Strategy<Value = Encapsulation> {
    prop_oneof![Just(Encapsulation::Udp), Just(Encapsulation::Ip)]
}

/// Every typed AVP value, plus raw vendor, unknown and hidden AVPs.
fn avp_value() -> impl Strategy<Value = AvpValue> {
    use AvpValue as V;
    let known_numbers: Vec<u16> = AvpType::ALL.iter().map(|t| t.number()).collect();
    let unknown_ietf =
        any::<u16>().prop_filter("unknown IETF type", move |n| !known_numbers.contains(n));
    prop_oneof![
        any::<u16>().prop_map(|n| V::MessageType(MessageType::from_number(n))),
        (any::<u16>(), prop::option::of((any::<u16>(), bytes(40)))).prop_map(|(result, e)| {
            V::ResultCode(ResultCode {
                result,
                error: e.map(|(code, message)| ErrorCode { code, message }),
            })
        }),
        any::<u64>().prop_map(V::TieBreaker),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(V::HostName),
        bytes(64).prop_map(V::VendorName),
        any::<u16>().prop_map(V::ReceiveWindowSize),
        any::<u32>().prop_map(V::SerialNumber),
        any::<u32>().prop_map(V::PhysicalChannelId),
        any::<[u32; 4]>().prop_map(|c| V::CircuitErrors(CircuitErrors {
            hardware_overruns: c[0],
            buffer_overruns: c[1],
            timeout_errors: c[2],
            alignment_errors: c[3],
        })),
        bytes(64).prop_map(V::RandomVector),
        (any::<u32>(), any::<u16>(), bytes(64)).prop_map(|(vendor_id, attr_type, value)| {
            V::ExtendedVendor {
                vendor_id,
                attr_type,
                value,
            }
        }),
        any::<[u8; 16]>().prop_map(|d| V::MessageDigest(MessageDigest::HmacMd5(d))),
        any::<[u8; 20]>().prop_map(|d| V::MessageDigest(MessageDigest::HmacSha1(d))),
        any::<u32>().prop_map(V::RouterId),
        any::<u32>().prop_map(V::AssignedControlConnectionId),
        prop::collection::vec(any::<u16>().prop_map(PwType), 1..16)
            .prop_map(V::PseudowireCapabilities),
        any::<u32>().prop_map(V::LocalSessionId),
        any::<u32>().prop_map(V::RemoteSessionId),
        cookie()
            .prop_filter("assigned cookies are 4 or 8 bytes", |c| !c.is_empty())
            .prop_map(V::AssignedCookie),
        bytes(64).prop_map(V::RemoteEndId),
        any::<u16>().prop_map(|t| V::PseudowireType(PwType(t))),
        any::<u16>().prop_map(|t| V::L2SpecificSublayer(L2SublayerType(t))),
        any::<u16>().prop_map(|t| V::DataSequencing(DataSequencing(t))),
        (any::<bool>(), any::<bool>())
            .prop_map(|(active, new)| V::CircuitStatus(CircuitStatus { active, new })),
        bytes(64).prop_map(V::PreferredLanguage),
        bytes(64).prop_map(V::Nonce),
        any::<u64>().prop_map(V::TxConnectSpeed),
        any::<u64>().prop_map(V::RxConnectSpeed),
        // Vendor AVPs (16-bit Vendor ID), hidden or not.
        (1..=u16::MAX, any::<u16>(), any::<bool>(), bytes(64)).prop_map(
            |(vendor_id, attr_type, hidden, value)| V::Raw(RawAvp {
                vendor_id,
                attr_type,
                hidden,
                value
            })
        ),
        // Unknown IETF AVPs.
        (unknown_ietf, bytes(64)).prop_map(|(attr_type, value)| V::Raw(RawAvp {
            vendor_id: 0,
            attr_type,
            hidden: false,
            value
        })),
        // Hidden IETF AVPs of any type keep their hidden bytes.
        (any::<u16>(), bytes(64)).prop_map(|(attr_type, value)| V::Raw(RawAvp {
            vendor_id: 0,
            attr_type,
            hidden: true,
            value
        })),
    ]
}

fn avp() -> impl Strategy<Value = Avp> {
    (avp_value(), any::<bool>()).prop_map(|(v, m)| Avp::with_mandatory(v, m))
}

fn header() -> impl Strategy<Value = ControlHeader> {
    (any::<u32>(), any::<u16>(), any::<u16>()).prop_map(|(ccid, ns, nr)| ControlHeader {
        ccid,
        ns,
        nr,
    })
}

fn message() -> impl Strategy<Value = ControlMessage> {
    let types = prop::sample::select(MessageType::ALL.to_vec());
    prop_oneof![
        1 => header().prop_map(ControlMessage::zlb),
        12 => (header(), types, prop::collection::vec(avp(), 0..12))
            .prop_map(|(h, t, avps)| ControlMessage::new(h, t, avps)),
    ]
}

fn data_header() -> impl Strategy<Value = DataHeader> {
    (
        1..=u32::MAX,
        cookie(),
        prop::option::of((any::<bool>(), 0..=DefaultSublayer::MAX_SEQUENCE)),
    )
        .prop_map(|(session_id, cookie, s)| DataHeader {
            session_id,
            cookie,
            sublayer: s.map(|(sequenced, sequence)| DefaultSublayer {
                sequenced,
                sequence,
            }),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn avp_encode_decode_is_identity(a in avp()) {
        let mut out = Vec::new();
        a.encode(&mut out).unwrap();
        prop_assert_eq!(out.len(), a.encoded_len());
        let (back, used) = Avp::decode(&out, 0).unwrap();
        prop_assert_eq!(used, out.len());
        prop_assert_eq!(back, a);
    }

    #[test]
    fn message_encode_decode_is_identity(m in message(), e in encap()) {
        let wire = m.to_vec(e).unwrap();
        prop_assert_eq!(wire.len(), m.encoded_len(e));
        let back = ControlMessage::decode(&wire, e).unwrap();
        prop_assert_eq!(&back, &m);
        // The digest locator agrees with the encoder.
        let p = e.control_prefix_len();
        prop_assert_eq!(l2tpv3::message::find_digest_fields(&wire[p..]).unwrap(), m.digest_fields());
    }

    #[test]
    fn data_encode_decode_is_identity(h in data_header(), e in encap(), payload in bytes(200)) {
        let mut buf = BytesMut::with_capacity(MAX_DATA_HEADER_LEN + payload.len());
        buf.resize(MAX_DATA_HEADER_LEN, 0);
        buf.extend_from_slice(&payload);
        data::encapsulate(&mut buf, MAX_DATA_HEADER_LEN, &h, e).unwrap();
        let p = DataPacket::parse(&buf, &h.config(e)).unwrap();
        prop_assert_eq!(p.header, h);
        prop_assert_eq!(p.payload, &payload[..]);
    }

    /// Arbitrary AVP bodies behind a valid header: whatever decodes re-encodes to
    /// something that decodes to the same message.
    #[test]
    fn control_decode_encode_decode_is_stable(
        h in header(), body in bytes(300), e in encap(), junk_flags in any::<u8>()
    ) {
        let mut wire = Vec::new();
        if e == Encapsulation::Ip {
            wire.extend([0, 0, 0, 0]);
        }
        // T, L, S and Ver 3, with random reserved bits (ignored on receipt).
        wire.extend([0xc8 | (junk_flags & 0x37), 0x03 | (junk_flags & 0xf0)]);
        wire.extend(((12 + body.len()) as u16).to_be_bytes());
        wire.extend(h.ccid.to_be_bytes());
        wire.extend(h.ns.to_be_bytes());
        wire.extend(h.nr.to_be_bytes());
        wire.extend(&body);
        if let Ok(first) = ControlMessage::decode(&wire, e) {
            let again = first.to_vec(e).unwrap();
            let second = ControlMessage::decode(&again, e).unwrap();
            prop_assert_eq!(&second, &first);
            prop_assert_eq!(second.to_vec(e).unwrap(), again);
        }
    }

    /// Fully arbitrary bytes, both decoders.
    #[test]
    fn arbitrary_bytes_are_stable(
        wire in bytes(200), e in encap(), cookie_len in 0..3usize, sublayer in any::<bool>()
    ) {
        if let Ok(first) = ControlMessage::decode(&wire, e) {
            let again = first.to_vec(e).unwrap();
            prop_assert_eq!(ControlMessage::decode(&again, e).unwrap(), first);
        }
        let config = SessionConfig {
            encapsulation: e,
            cookie_len: [CookieLen::Zero, CookieLen::Four, CookieLen::Eight][cookie_len],
            sublayer: if sublayer { SublayerKind::Default } else { SublayerKind::None },
        };
        if let Ok(first) = DataPacket::parse(&wire, &config) {
            let mut again = Vec::new();
            first.header.encode(e, &mut again).unwrap();
            again.extend_from_slice(first.payload);
            prop_assert_eq!(DataPacket::parse(&again, &config).unwrap(), first);
        }
    }
}

/// Every known AVP type is produced by the strategy's typed variants: checked by
/// encoding one value of each and decoding it back to the same type.
#[test]
fn every_avp_type_has_a_typed_round_trip() {
    use AvpValue as V;
    let samples = vec![
        V::MessageType(MessageType::Hello),
        V::ResultCode(ResultCode::with_error(2, 8, "63")),
        V::TieBreaker(7),
        V::HostName(b"h".to_vec()),
        V::VendorName(b"v".to_vec()),
        V::ReceiveWindowSize(4),
        V::SerialNumber(1),
        V::PhysicalChannelId(2),
        V::CircuitErrors(CircuitErrors::default()),
        V::RandomVector(vec![1; 16]),
        V::ExtendedVendor {
            vendor_id: 70_000,
            attr_type: 1,
            value: vec![],
        },
        V::MessageDigest(MessageDigest::HmacMd5([1; 16])),
        V::RouterId(1),
        V::AssignedControlConnectionId(1),
        V::PseudowireCapabilities(vec![PwType::ETHERNET]),
        V::LocalSessionId(1),
        V::RemoteSessionId(1),
        V::AssignedCookie(Cookie::Four([1; 4])),
        V::RemoteEndId(b"r".to_vec()),
        V::PseudowireType(PwType::ETHERNET),
        V::L2SpecificSublayer(L2SublayerType::DEFAULT),
        V::DataSequencing(DataSequencing::ALL),
        V::CircuitStatus(CircuitStatus::default()),
        V::PreferredLanguage(b"en".to_vec()),
        V::Nonce(vec![2; 16]),
        V::TxConnectSpeed(1),
        V::RxConnectSpeed(1),
    ];
    let mut seen: Vec<AvpType> = Vec::new();
    for v in samples {
        let a = Avp::new(v);
        let mut out = Vec::new();
        a.encode(&mut out).unwrap();
        let (back, _) = Avp::decode(&out, 0).unwrap();
        assert_eq!(back, a);
        seen.push(back.value.avp_type().unwrap());
    }
    seen.sort();
    let mut all = AvpType::ALL.to_vec();
    all.sort();
    assert_eq!(seen, all);
}
