//! Codec benchmarks: decode + re-encode of a realistic SCCRQ, and in-place
//! encapsulation + decapsulation of a 1400-byte Ethernet frame beside a 1400-byte
//! memcpy measured in the same run (the payload is never copied, so encap + decap
//! should cost well under a memcpy of the frame).
//!
//! Two encap + decap paths are measured: the `BytesMut` wrappers (`encapsulate`,
//! `decapsulate`) on a pool of fresh buffers, and the per-session
//! `HeaderTemplate` on one reused `&mut [u8]` receive buffer (the way a TAP/UDP
//! loop reuses its buffer), which also validates Session ID and cookie. The memcpy
//! baseline is one `copy_from_slice` between two reused buffers.
//!
//! The same round trip through `Endpoint`'s data path (`endpoint_encap_decap_1400`)
//! is measured beside the template path: an established session between two
//! endpoints, `Endpoint::encapsulate` in place on the sender and
//! `Endpoint::handle_data` on the receiver (session lookup from the Session ID, the
//! receive template's checks, the sender's address against the session's peer,
//! the sequence check). `handle_data` is the entry
//! point of a receiver whose socket layer already told data from control, as the
//! `tokio_codec` does (`Frame::Data`); `Endpoint::handle_datagram` adds only that
//! test (the T bit) in front of the same code. It is meant to stay within 1.5x of
//! the bare template path; `tests/no_alloc.rs` checks that it allocates nothing.
//!
//! Run: `cargo bench -p l2tpv3 --bench codec`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use l2tpv3::avp::{Avp, AvpValue, PwType};
use l2tpv3::data::{
    self, Cookie, DataHeader, DefaultSublayer, HeaderTemplate, MAX_DATA_HEADER_LEN,
};
use l2tpv3::header::{ControlHeader, Encapsulation};
use l2tpv3::message::{ControlMessage, MessageType};
use l2tpv3::{Config, Endpoint, Event, SessionRequest};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::net::SocketAddr;

type Ep = Endpoint<SocketAddr, StdRng>;

/// Two endpoints with an established session configured like the template bench
/// (UDP, 8-byte cookies, Default sublayer with sequencing both ways): the sender,
/// the receiver and the sender's Session ID.
fn established() -> (Ep, Ep, u32) {
    let now = Instant::now();
    let mut cfg = Config::default();
    cfg.cookie_len = l2tpv3::CookieLen::Eight;
    cfg.sublayer = l2tpv3::avp::L2SublayerType::DEFAULT;
    cfg.data_sequencing = l2tpv3::avp::DataSequencing::ALL;
    let (a_addr, b_addr): (SocketAddr, SocketAddr) = (
        "192.0.2.1:1701".parse().unwrap(),
        "192.0.2.2:1701".parse().unwrap(),
    );
    let mut a = Endpoint::new(cfg.clone(), StdRng::seed_from_u64(1));
    let mut b = Endpoint::new(cfg, StdRng::seed_from_u64(2));
    let ccid = a.connect(now, b_addr).unwrap();
    let sid = a
        .open_session(now, ccid, SessionRequest::ethernet("pw"))
        .unwrap();
    for _ in 0..16 {
        while let Some(t) = a.poll_transmit() {
            b.handle_datagram(now, a_addr, &t.contents);
        }
        while let Some(t) = b.poll_transmit() {
            a.handle_datagram(now, b_addr, &t.contents);
        }
    }
    let up = std::iter::from_fn(|| a.poll_event())
        .any(|e| matches!(e, Event::SessionUp { session_id, .. } if session_id == sid));
    assert!(up, "session up");
    (a, b, sid)
}

/// One packet through the endpoints' data path: encapsulated in place by the
/// sender's transmit template, then checked by the receiver (lookup, receive
/// template, peer, sequence) and its payload borrowed; `from` is the sender's
/// address as the receiver sees it.
#[inline(always)]
fn endpoint_round_trip((a, b, sid): (&mut Ep, &mut Ep, u32), from: &SocketAddr, frame: &mut [u8]) {
    let frame = black_box(frame);
    let t = a.encapsulate(sid, frame, MAX_DATA_HEADER_LEN).unwrap();
    // The destination is borrowed: consumed like the contents.
    black_box(t.destination);
    let packet = black_box(t.contents);
    let got = b.handle_data(black_box(from), packet).unwrap();
    black_box(got.sequence);
    black_box(got.payload.len());
}

const FRAME_LEN: usize = 1400;
/// A jumbo frame, to show that encapsulation cost does not grow with the payload.
const JUMBO_LEN: usize = 9000;
/// Buffers prepared per timed batch (64 x 1420 bytes stay in L2 cache).
const POOL: u64 = 64;

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

    // Buffers (headroom + frame) are prepared outside the timed section in small
    // pools, so that, like the memcpy below, the timed work runs on warm cache lines;
    // only encapsulate + decapsulate are timed. Building and dropping the buffers is
    // not part of the data path (a TAP read fills a reused buffer).
    let template = {
        let mut t = BytesMut::with_capacity(MAX_DATA_HEADER_LEN + FRAME_LEN);
        t.resize(MAX_DATA_HEADER_LEN, 0);
        t.extend_from_slice(&[0xab; FRAME_LEN]);
        t
    };
    g.bench_function("encap_decap_1400", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = (iters - done).min(POOL);
                let mut pool: Vec<BytesMut> = (0..n).map(|_| template.clone()).collect();
                let start = Instant::now();
                for buf in &mut pool {
                    data::encapsulate(
                        buf,
                        MAX_DATA_HEADER_LEN,
                        black_box(&header),
                        Encapsulation::Udp,
                    )
                    .unwrap();
                    let h = data::decapsulate(black_box(buf), &config).unwrap();
                    black_box(h);
                }
                total += start.elapsed();
                done += n;
            }
            total
        })
    });

    // Sender and receiver templates, opaque to the optimiser (no constant folding
    // of the header bytes or of the checks).
    let tx =
        black_box(HeaderTemplate::from_header(&header, Encapsulation::Udp).expect("non-zero id"));
    let rx = black_box(tx);
    let mut frame = vec![0xabu8; MAX_DATA_HEADER_LEN + FRAME_LEN];
    let mut seq = 0u32;
    g.bench_function("template_encap_decap_1400", |b| {
        b.iter(|| {
            seq = (seq + 1) & DefaultSublayer::MAX_SEQUENCE;
            template_round_trip(&tx, &rx, &mut frame, seq);
        })
    });

    let (mut ea, mut eb, sid) = established();
    let mut eframe = vec![0xabu8; MAX_DATA_HEADER_LEN + FRAME_LEN];
    let from: SocketAddr = "192.0.2.1:1701".parse().unwrap();
    g.bench_function("endpoint_encap_decap_1400", |b| {
        b.iter(|| endpoint_round_trip((&mut ea, &mut eb, sid), &from, &mut eframe))
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

/// One packet through the template fast path: the header (with sequence `seq`)
/// is written in front of the frame, then the packet is validated and its payload
/// range returned.
#[inline(always)]
fn template_round_trip(tx: &HeaderTemplate, rx: &HeaderTemplate, frame: &mut [u8], seq: u32) {
    // The buffer is opaque to the optimiser, as the memcpy's source and destination
    // are; after encapsulation it is made opaque again so that decapsulation reads
    // the header from memory as a receiver would, instead of from the registers
    // that wrote it.
    let frame = black_box(frame);
    let start = tx
        .encapsulate(frame, MAX_DATA_HEADER_LEN, DefaultSublayer::sequenced(seq))
        .unwrap();
    let packet = black_box(&*frame);
    let got = rx.decapsulate(&packet[start..]).unwrap();
    // Consume what a receiver uses (the sequence and the payload range) by value,
    // as the memcpy consumes its destination.
    black_box(got.sublayer);
    black_box(got.payload);
}

/// The same comparison measured pairwise: each round times a batch of
/// encapsulate + decapsulate and then a batch of memcpy, alternating, and the
/// per-operation minimum and median over all rounds are printed. On a shared,
/// loaded machine the minimum is the figure least disturbed by preemption, and
/// alternating keeps both under the same conditions.
fn paired(_c: &mut Criterion) {
    for frame_len in [FRAME_LEN, JUMBO_LEN] {
        paired_at(frame_len);
    }
}

#[inline(never)]
fn paired_at(frame_len: usize) {
    const ROUNDS: usize = 3000;
    let header = DataHeader {
        session_id: 0x0000_0001,
        cookie: Cookie::Eight(*b"\x01\x02\x03\x04\x05\x06\x07\x08"),
        sublayer: Some(DefaultSublayer::sequenced(1)),
    };
    let config = header.config(Encapsulation::Udp);
    let template = {
        let mut t = BytesMut::with_capacity(MAX_DATA_HEADER_LEN + frame_len);
        t.resize(MAX_DATA_HEADER_LEN, 0);
        t.extend_from_slice(&vec![0xab; frame_len]);
        t
    };
    // Sender and receiver templates, opaque to the optimiser (no constant folding
    // of the header bytes or of the checks).
    let tx =
        black_box(HeaderTemplate::from_header(&header, Encapsulation::Udp).expect("non-zero id"));
    let rx = black_box(tx);
    let mut frame = vec![0xabu8; MAX_DATA_HEADER_LEN + frame_len];
    let mut seq = 0u32;
    let src = vec![0xabu8; frame_len];
    let mut dst = vec![0u8; frame_len];
    let mut encap_ns = Vec::with_capacity(ROUNDS);
    let mut template_ns = Vec::with_capacity(ROUNDS);
    let mut memcpy_ns = Vec::with_capacity(ROUNDS);
    let mut endpoint_ns = Vec::with_capacity(ROUNDS);
    let (mut ea, mut eb, sid) = established();
    let from: SocketAddr = "192.0.2.1:1701".parse().unwrap();
    let mut eframe = vec![0xabu8; MAX_DATA_HEADER_LEN + frame_len];
    for _ in 0..ROUNDS {
        let mut pool: Vec<BytesMut> = (0..POOL).map(|_| template.clone()).collect();
        let t = Instant::now();
        for buf in &mut pool {
            data::encapsulate(
                buf,
                MAX_DATA_HEADER_LEN,
                black_box(&header),
                Encapsulation::Udp,
            )
            .unwrap();
            black_box(data::decapsulate(black_box(buf), &config).unwrap());
        }
        encap_ns.push(t.elapsed().as_secs_f64() * 1e9 / POOL as f64);
        let t = Instant::now();
        for _ in 0..POOL {
            seq = (seq + 1) & DefaultSublayer::MAX_SEQUENCE;
            template_round_trip(&tx, &rx, &mut frame, seq);
        }
        template_ns.push(t.elapsed().as_secs_f64() * 1e9 / POOL as f64);
        let t = Instant::now();
        for _ in 0..POOL {
            endpoint_round_trip((&mut ea, &mut eb, sid), &from, &mut eframe);
        }
        endpoint_ns.push(t.elapsed().as_secs_f64() * 1e9 / POOL as f64);
        let t = Instant::now();
        for _ in 0..POOL {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        }
        memcpy_ns.push(t.elapsed().as_secs_f64() * 1e9 / POOL as f64);
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2])
    };
    let (e_min, e_med) = stats(&mut encap_ns);
    let (t_min, t_med) = stats(&mut template_ns);
    let (m_min, m_med) = stats(&mut memcpy_ns);
    let (p_min, p_med) = stats(&mut endpoint_ns);
    println!(
        "paired/{frame_len}: endpoint encap+decap min {p_min:.2} ns median {p_med:.2} ns; \
         template min {t_min:.2} ns median {t_med:.2} ns; endpoint / template median {:.3}",
        p_med / t_med
    );
    println!(
        "paired/{frame_len}: memcpy min {m_min:.2} ns median {m_med:.2} ns; \
         BytesMut encap+decap min {e_min:.2} ns median {e_med:.2} ns (ratio {:.3}); \
         template encap+decap min {t_min:.2} ns median {t_med:.2} ns (ratio {:.3}) \
         ({ROUNDS} alternating rounds of {POOL}; ratio = median / memcpy median)",
        e_med / m_med,
        t_med / m_med
    );
}

criterion_group!(benches, control, data_plane, paired);
criterion_main!(benches);
