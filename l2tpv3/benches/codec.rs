//! Codec benchmarks: decode + re-encode of a realistic SCCRQ, and in-place
//! encapsulation + decapsulation of a 1400-byte Ethernet frame beside a 1400-byte
//! memcpy measured in the same run (the payload is never copied, so encap + decap
//! should cost well under a memcpy of the frame).
//!
//! Run: `cargo bench -p l2tpv3 --bench codec`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use l2tpv3::avp::{Avp, AvpValue, PwType};
use l2tpv3::data::{self, Cookie, DataHeader, DefaultSublayer, MAX_DATA_HEADER_LEN};
use l2tpv3::header::{ControlHeader, Encapsulation};
use l2tpv3::message::{ControlMessage, MessageType};

const FRAME_LEN: usize = 1400;

fn sccrq() -> Vec<u8> {
    ControlMessage::new(
        ControlHeader {
            ccid: 0,
            ns: 0,
            nr: 0,
        },
        MessageType::Sccrq,
        vec![
            Avp::new(AvpValue::HostName(b"lcce-a.region-1.example.net".to_vec())),
            Avp::new(AvpValue::VendorName(b"anycast-ha".to_vec())),
            Avp::new(AvpValue::RouterId(0x0a00_0001)),
            Avp::new(AvpValue::AssignedControlConnectionId(0x5a17_0001)),
            Avp::new(AvpValue::PseudowireCapabilities(vec![
                PwType::ETHERNET,
                PwType::ETHERNET_VLAN,
            ])),
            Avp::new(AvpValue::ReceiveWindowSize(16)),
            Avp::new(AvpValue::TieBreaker(0x0123_4567_89ab_cdef)),
            Avp::new(AvpValue::Nonce(vec![0x42; 16])),
            Avp::new(AvpValue::PreferredLanguage(b"en".to_vec())),
        ],
    )
    .to_vec(Encapsulation::Udp)
    .expect("encodes")
}

fn control(c: &mut Criterion) {
    let wire = sccrq();
    let mut g = c.benchmark_group("control");
    g.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(256);
    g.bench_function("sccrq_decode_reencode", |b| {
        b.iter(|| {
            let msg = ControlMessage::decode(black_box(&wire), Encapsulation::Udp).unwrap();
            out.clear();
            msg.encode(Encapsulation::Udp, &mut out).unwrap();
            black_box(&out);
        })
    });
    g.finish();
}

fn data_plane(c: &mut Criterion) {
    let header = DataHeader {
        session_id: 0x0000_0001,
        cookie: Cookie::Eight(*b"\x01\x02\x03\x04\x05\x06\x07\x08"),
        sublayer: Some(DefaultSublayer::sequenced(1)),
    };
    let config = header.config(Encapsulation::Udp);
    let mut g = c.benchmark_group("data");
    g.throughput(Throughput::Bytes(FRAME_LEN as u64));

    // Each iteration gets a fresh buffer (headroom + frame) built in the untimed
    // setup; only encapsulate + decapsulate are timed, and the buffer is dropped
    // outside the timing as well.
    let template = {
        let mut t = BytesMut::with_capacity(MAX_DATA_HEADER_LEN + FRAME_LEN);
        t.resize(MAX_DATA_HEADER_LEN, 0);
        t.extend_from_slice(&[0xab; FRAME_LEN]);
        t
    };
    g.bench_function("encap_decap_1400", |b| {
        b.iter_batched(
            || template.clone(),
            |mut buf| {
                data::encapsulate(
                    &mut buf,
                    MAX_DATA_HEADER_LEN,
                    black_box(&header),
                    Encapsulation::Udp,
                )
                .unwrap();
                let h = data::decapsulate(black_box(&mut buf), &config).unwrap();
                black_box(h);
                buf
            },
            BatchSize::SmallInput,
        )
    });

    let src = vec![0xabu8; FRAME_LEN];
    let mut dst = vec![0u8; FRAME_LEN];
    g.bench_function("memcpy_1400", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        })
    });
    g.finish();
}

criterion_group!(benches, control, data_plane);
criterion_main!(benches);
