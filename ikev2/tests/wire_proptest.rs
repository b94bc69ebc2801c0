//! Property tests of the wire layer: every payload round-trips through encode and
//! decode (alone, in a message, and in an SK plaintext chain); decoding truncated,
//! extended or arbitrary bytes returns an error or a value, never panics; what decodes
//! re-encodes to the same bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use ikev2::wire::{
    AddrRange, Attribute, AttributeValue, AuthMethod, AuthPayload, DecodeError, DeletePayload,
    DhGroup, ExchangeType, Flags, IdPayload, IdType, IkeHeader, KePayload, MAX_PAYLOADS, Message,
    NoncePayload, NotifyPayload, NotifyType, Payload, PayloadType, Proposal, ProtocolId, SaPayload,
    SkPayload, TrafficSelector, Transform, TransformType, TsPayload, TsType, UnknownPayload,
    VendorIdPayload, decode_chain, encode_chain,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn attribute() -> impl Strategy<Value = Attribute> {
    (
        0u16..0x8000,
        prop_oneof![
            any::<u16>().prop_map(AttributeValue::Tv),
            bytes(8).prop_map(AttributeValue::Tlv)
        ],
    )
        .prop_map(|(attr_type, value)| Attribute { attr_type, value })
}

fn transform() -> impl Strategy<Value = Transform> {
    (1u8..=5, any::<u16>(), vec(attribute(), 0..3)).prop_map(|(t, id, attributes)| Transform {
        transform_type: TransformType(t),
        transform_id: id,
        attributes,
    })
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (
        any::<u8>(),
        0u8..=4,
        prop_oneof![Just(0usize), Just(4), Just(8)],
        vec(transform(), 0..6),
    )
        .prop_flat_map(|(number, protocol, spi_len, transforms)| {
            vec(any::<u8>(), spi_len).prop_map(move |spi| Proposal {
                number,
                protocol: ProtocolId(protocol),
                spi,
                transforms: transforms.clone(),
            })
        })
}

fn selector() -> impl Strategy<Value = TrafficSelector> {
    let range = prop_oneof![
        (any::<u32>(), any::<u32>())
            .prop_map(|(a, b)| AddrRange::V4(Ipv4Addr::from(a), Ipv4Addr::from(b))),
        (any::<u128>(), any::<u128>())
            .prop_map(|(a, b)| AddrRange::V6(Ipv6Addr::from(a), Ipv6Addr::from(b))),
        (9u8..=255, bytes(20)).prop_map(|(t, data)| AddrRange::Other {
            ts_type: TsType(t),
            data
        }),
    ];
    (any::<u8>(), any::<u16>(), any::<u16>(), range).prop_map(
        |(ip_protocol, start_port, end_port, range)| TrafficSelector {
            ip_protocol,
            start_port,
            end_port,
            range,
        },
    )
}

fn delete() -> impl Strategy<Value = DeletePayload> {
    prop_oneof![
        any::<u8>().prop_map(|p| DeletePayload {
            protocol: ProtocolId(p),
            spi_size: 0,
            spis: vec![]
        }),
        (any::<u8>(), 1u8..=8, 0usize..5).prop_flat_map(|(p, size, n)| {
            vec(vec(any::<u8>(), size as usize), n).prop_map(move |spis| DeletePayload {
                protocol: ProtocolId(p),
                spi_size: size,
                spis,
            })
        }),
    ]
}

/// Every payload except SK (which must be last; see `message()`).
fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        vec(proposal(), 0..4).prop_map(|proposals| Payload::Sa(SaPayload { proposals })),
        (any::<u16>(), bytes(64)).prop_map(|(g, data)| Payload::Ke(KePayload {
            group: DhGroup(g),
            data
        })),
        (any::<u8>(), bytes(32)).prop_map(|(t, data)| Payload::IdI(IdPayload {
            id_type: IdType(t),
            data
        })),
        (any::<u8>(), bytes(32)).prop_map(|(t, data)| Payload::IdR(IdPayload {
            id_type: IdType(t),
            data
        })),
        (any::<u8>(), bytes(64)).prop_map(|(m, data)| Payload::Auth(AuthPayload {
            method: AuthMethod(m),
            data
        })),
        bytes(64).prop_map(|data| Payload::Nonce(NoncePayload { data })),
        (any::<u8>(), bytes(8), any::<u16>(), bytes(32)).prop_map(|(p, spi, t, data)| {
            Payload::Notify(NotifyPayload {
                protocol: ProtocolId(p),
                spi,
                notify_type: NotifyType(t),
                data,
            })
        }),
        delete().prop_map(Payload::Delete),
        bytes(32).prop_map(|data| Payload::VendorId(VendorIdPayload { data })),
        vec(selector(), 0..4).prop_map(|selectors| Payload::TsI(TsPayload { selectors })),
        vec(selector(), 0..4).prop_map(|selectors| Payload::TsR(TsPayload { selectors })),
        (
            prop_oneof![1u8..=32, 47u8..=52, 54u8..=255],
            any::<bool>(),
            bytes(32)
        )
            .prop_map(|(t, critical, body)| Payload::Unknown(UnknownPayload {
                payload_type: PayloadType(t),
                critical,
                body,
            })),
    ]
}

fn header() -> impl Strategy<Value = IkeHeader> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u8>(),
        any::<u8>(),
        0u8..16,
        any::<u32>(),
    )
        .prop_map(|(spi_i, spi_r, x, flags, minor, mid)| {
            let mut h = IkeHeader::new(spi_i, spi_r, ExchangeType(x), Flags(flags), mid);
            h.minor_version = minor;
            h
        })
}

fn message() -> impl Strategy<Value = Message> {
    (
        header(),
        vec(payload(), 0..8),
        proptest::option::of((any::<u8>(), bytes(80))),
    )
        .prop_map(|(header, mut payloads, sk)| {
            if let Some((next, body)) = sk {
                payloads.push(Payload::Sk(SkPayload {
                    next_payload: PayloadType(next),
                    body,
                }));
            }
            Message { header, payloads }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn message_round_trip(m in message()) {
        let wire = m.encode().unwrap();
        prop_assert_eq!(wire.len(), m.encoded_len().unwrap());
        let back = Message::decode(&wire).unwrap();
        // Next Payload and Length are computed by the encoder.
        let mut expected = m.clone();
        expected.header.next_payload = back.header.next_payload;
        expected.header.length = wire.len() as u32;
        prop_assert_eq!(&back, &expected);
        prop_assert_eq!(back.encode().unwrap(), wire);
    }

    #[test]
    fn each_payload_round_trips_alone(p in payload()) {
        let (first, wire) = encode_chain(std::slice::from_ref(&p)).unwrap();
        prop_assert_eq!(first, p.payload_type());
        prop_assert_eq!(decode_chain(first, &wire, 0).unwrap(), vec![p]);
    }

    #[test]
    fn chain_round_trip(ps in vec(payload(), 0..10)) {
        let (first, wire) = encode_chain(&ps).unwrap();
        prop_assert_eq!(decode_chain(first, &wire, 0).unwrap(), ps);
    }

    #[test]
    fn every_truncation_is_an_error(m in message()) {
        let wire = m.encode().unwrap();
        for n in 0..wire.len() {
            prop_assert!(Message::decode(&wire[..n]).is_err(), "accepted {} of {} bytes", n, wire.len());
        }
    }

    #[test]
    fn every_truncated_chain_is_an_error(ps in vec(payload(), 1..6)) {
        let (first, wire) = encode_chain(&ps).unwrap();
        for n in 0..wire.len() {
            prop_assert!(decode_chain(first, &wire[..n], 0).is_err(), "accepted {} of {} bytes", n, wire.len());
        }
    }

    #[test]
    fn trailing_bytes_are_an_error(m in message(), extra in vec(any::<u8>(), 1..16)) {
        let mut wire = m.encode().unwrap();
        wire.extend_from_slice(&extra);
        prop_assert!(Message::decode(&wire).is_err());
        // Even with the header length covering them.
        let len = wire.len() as u32;
        wire[24..28].copy_from_slice(&len.to_be_bytes());
        prop_assert!(Message::decode(&wire).is_err());
    }

    #[test]
    fn mutated_messages_never_panic_and_reencode_exactly(
        m in message(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut wire = m.encode().unwrap();
        for (i, b) in flips {
            let i = i.index(wire.len());
            wire[i] = b;
        }
        if let Ok(msg) = Message::decode(&wire) {
            let _ = msg.validate();
            // Reserved bits and the critical flag of known payloads are not kept, so
            // compare through a second decode.
            let again = msg.encode().unwrap();
            prop_assert_eq!(Message::decode(&again).unwrap(), msg);
        }
    }

    #[test]
    fn garbage_never_panics(data in vec(any::<u8>(), 0..600), first in any::<u8>()) {
        let _ = Message::decode(&data);
        let _ = IkeHeader::peek(&data);
        if let Ok(ps) = decode_chain(PayloadType(first), &data, 0) {
            let _ = ikev2::wire::validate_chain(&ps);
        }
    }
}

#[test]
fn payload_count_is_capped() {
    let ps: Vec<Payload> = (0..=MAX_PAYLOADS)
        .map(|_| Payload::VendorId(VendorIdPayload { data: vec![] }))
        .collect();
    let m = Message {
        header: IkeHeader::new(1, 0, ExchangeType::IKE_SA_INIT, Flags::new(true, false), 0),
        payloads: ps,
    };
    let wire = m.encode().unwrap();
    assert_eq!(
        Message::decode(&wire),
        Err(DecodeError::TooManyPayloads {
            limit: MAX_PAYLOADS
        })
    );
    let mut ok = m.clone();
    ok.payloads.pop();
    assert!(Message::decode(&ok.encode().unwrap()).is_ok());
}

fn init_request() -> Vec<u8> {
    let sa = SaPayload {
        proposals: vec![Proposal {
            number: 1,
            protocol: ProtocolId::IKE,
            spi: vec![],
            transforms: vec![
                Transform::with_key_length(TransformType::ENCR, 20, 128),
                Transform::new(TransformType::PRF, 5),
                Transform::new(TransformType::DH, 31),
            ],
        }],
    };
    Message {
        header: IkeHeader::new(1, 0, ExchangeType::IKE_SA_INIT, Flags::new(true, false), 0),
        payloads: vec![
            Payload::Sa(sa),
            Payload::Nonce(NoncePayload { data: vec![7; 32] }),
        ],
    }
    .encode()
    .unwrap()
}

#[test]
fn errors_say_what_and_where() {
    use ikev2::wire::Part;
    let good = init_request();
    assert!(Message::decode(&good).is_ok());
    // Layout: header 0..28, SA generic header 28..32, proposal header 32..40,
    // first transform at 40.
    let mut w = good.clone();
    w[42..44].copy_from_slice(&200u16.to_be_bytes()); // transform length beyond the proposal
    assert_eq!(
        Message::decode(&w),
        Err(DecodeError::BadLength {
            part: Part::Transform,
            offset: 40,
            length: 200
        })
    );
    let mut w = good.clone();
    w[39] = 4; // # of Transforms says 4, but the third is marked last
    assert!(matches!(
        Message::decode(&w),
        Err(DecodeError::Invalid {
            part: Part::Transform,
            offset: 60,
            ..
        })
    ));
    let mut w = good.clone();
    w[30..32].copy_from_slice(&3u16.to_be_bytes()); // payload length below the header
    assert_eq!(
        Message::decode(&w),
        Err(DecodeError::BadLength {
            part: Part::GenericHeader,
            offset: 28,
            length: 3
        })
    );
    let mut w = good.clone();
    w[17] = 0x10; // major version 1
    assert_eq!(Message::decode(&w), Err(DecodeError::UnsupportedVersion(1)));
    assert!(matches!(
        Message::decode(&good[..20]),
        Err(DecodeError::Truncated {
            part: Part::Header,
            ..
        })
    ));
}

#[test]
fn unknown_critical_payload_is_kept_and_refused_by_validation() {
    use ikev2::wire::ValidationError;
    let mut m = Message::decode(&init_request()).unwrap();
    m.payloads.push(Payload::Unknown(UnknownPayload {
        payload_type: PayloadType(200),
        critical: false,
        body: vec![1, 2, 3],
    }));
    let wire = m.encode().unwrap();
    let back = Message::decode(&wire).unwrap();
    assert_eq!(back.validate(), Ok(()));
    // The same with the critical bit set (byte 1 of its generic header).
    let mut w = wire.clone();
    let at = w.len() - 7 + 1;
    w[at] = 0x80;
    let back = Message::decode(&w).unwrap();
    assert_eq!(
        back.validate(),
        Err(ValidationError::UnsupportedCriticalPayload(200))
    );
    // A known payload with the critical bit is accepted (RFC 7296 3.2: ignored).
    let mut w = init_request();
    w[29] = 0x80;
    assert_eq!(Message::decode(&w).unwrap().validate(), Ok(()));
}

#[test]
fn validation_catches_protocol_rules() {
    use ikev2::wire::ValidationError;
    let bad = |p: Payload| {
        let r = p.validate();
        assert!(
            matches!(r, Err(ValidationError::InvalidSyntax { .. })),
            "{p:?}: {r:?}"
        );
    };
    bad(Payload::Nonce(NoncePayload { data: vec![0; 15] }));
    bad(Payload::Nonce(NoncePayload { data: vec![0; 257] }));
    bad(Payload::Ke(KePayload {
        group: DhGroup::CURVE25519,
        data: vec![0; 31],
    }));
    bad(Payload::IdI(IdPayload {
        id_type: IdType::IPV4_ADDR,
        data: vec![0; 5],
    }));
    bad(Payload::Notify(NotifyPayload::new(
        NotifyType::INVALID_KE_PAYLOAD,
        vec![0],
    )));
    bad(Payload::Notify(NotifyPayload::new(
        NotifyType::NAT_DETECTION_SOURCE_IP,
        vec![0; 19],
    )));
    bad(Payload::Delete(DeletePayload {
        protocol: ProtocolId::ESP,
        spi_size: 0,
        spis: vec![],
    }));
    bad(Payload::Sa(SaPayload { proposals: vec![] }));
    bad(Payload::Sa(SaPayload {
        proposals: vec![Proposal {
            number: 1,
            protocol: ProtocolId::ESP,
            spi: vec![1, 2],
            transforms: vec![Transform::new(TransformType::ENCR, 20)],
        }],
    }));
    bad(Payload::TsI(TsPayload {
        selectors: vec![TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            range: AddrRange::V4(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1)),
        }],
    }));
    let ok = |p: Payload| assert_eq!(p.validate(), Ok(()), "{p:?}");
    ok(Payload::Nonce(NoncePayload { data: vec![0; 16] }));
    ok(Payload::Ke(KePayload {
        group: DhGroup::ECP_256,
        data: vec![1; 64],
    }));
    ok(Payload::IdI(IdPayload::fqdn("a.example")));
    ok(Payload::Delete(DeletePayload::ike()));
    ok(Payload::Delete(DeletePayload::esp(&[1, 2])));
    ok(Payload::Notify(NotifyPayload::invalid_ke(19)));
    ok(Payload::TsR(TsPayload {
        selectors: vec![TrafficSelector::host(
            Ipv4Addr::new(192, 0, 2, 1).into(),
            17,
            Some(1701),
        )],
    }));
}

#[test]
fn sk_payload_must_be_last() {
    use ikev2::wire::{EncodeError, Part};
    let sk = Payload::Sk(SkPayload {
        next_payload: PayloadType::IDI,
        body: vec![0; 40],
    });
    let nonce = Payload::Nonce(NoncePayload { data: vec![1; 16] });
    let header = IkeHeader::new(1, 2, ExchangeType::IKE_AUTH, Flags::new(true, false), 1);
    let m = Message {
        header,
        payloads: vec![sk.clone(), nonce.clone()],
    };
    assert!(matches!(
        m.encode(),
        Err(EncodeError::Invalid { part: Part::Sk, .. })
    ));
    // On the wire: a valid message ending in SK, with a Nonce payload appended and the
    // lengths fixed up, is refused (the SK payload's Next Payload names its contents,
    // so nothing can follow it).
    let ok = Message {
        header,
        payloads: vec![nonce.clone(), sk],
    };
    let mut wire = ok.encode().unwrap();
    assert_eq!(Message::decode(&wire).unwrap(), {
        let mut e = ok.clone();
        e.header.next_payload = PayloadType::NONCE;
        e.header.length = wire.len() as u32;
        e
    });
    wire.extend_from_slice(&[0, 0, 0, 20]);
    wire.extend_from_slice(&[1; 16]);
    let len = wire.len() as u32;
    wire[24..28].copy_from_slice(&len.to_be_bytes());
    assert!(matches!(
        Message::decode(&wire),
        Err(DecodeError::Invalid { part: Part::Sk, .. })
    ));
}
