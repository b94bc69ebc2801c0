//! Drives the OSPFv3 engine with arbitrary packets, commands and timeouts on a
//! point-to-point interface with RFC 7166 authentication (HMAC-SHA-256) and a
//! broadcast interface without it, the engine computing and verifying packet
//! checksums (`ChecksumOffload::Engine`), so both receive paths are fuzzed. Besides
//! raw bytes, the input can build well-formed Hellos (so adjacencies form), DDs,
//! requests, acks and updates whose LSAs carry valid Fletcher checksums over
//! arbitrary bodies (DoNotAge set or not), each packet then signed with a trailer
//! whose sequence number the input moves (forward, repeated, backwards) or given a
//! valid checksum, optionally corrupted afterwards; captured packets are replayed;
//! `neighbor_down`, `set_neighbor_hold` and `forget_auth_sequence` are commands.
//! Invariants: no panic; every packet the engine sends decodes and verifies (trailer
//! or checksum); after `handle_timeout(now)` the next timeout is in the future (no
//! livelock); the LSDB stays within its LSA, byte and per-router limits and holds no
//! received DoNotAge LSA; queues stay within their limits; the anycast query's
//! answer for a watched prefix is sorted and the last `AdvertisersChanged` event
//! matches it.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ospfv3::auth::{HmacAlgorithm, SecurityAssociation};
use ospfv3::checksum::{set_lsa_checksum, set_packet_checksum, verify_packet_checksum};
use ospfv3::constants::DO_NOT_AGE;
use ospfv3::dd::{DatabaseDescription, DdFlags};
use ospfv3::hello::Hello;
use ospfv3::lsa::LsaHeader;
use ospfv3::lsack::LinkStateAck;
use ospfv3::lsr::{LinkStateRequest, LsRequestEntry};
use ospfv3::options::Options;
use ospfv3::{AuthConfig, ChecksumOffload, InterfaceConfig, Ipv6Prefix, Router, RouterConfig};
use ospfv3::{LsaType, Packet, PacketBody, PacketHeader};
use rand::SeedableRng;
use rand::rngs::StdRng;

#[derive(Debug, Arbitrary)]
struct FuzzLsa {
    ls_type: u16,
    id: u8,
    adv: u8,
    seq: u32,
    age: u16,
    body: Vec<u8>,
}

/// How a built packet is finished before delivery.
#[derive(Debug, Arbitrary, Clone, Copy)]
struct Seal {
    /// Added to the neighbor's sequence number before signing (negative: a stale or
    /// replayed number).
    seq_delta: i8,
    /// Flip this byte (index modulo the length) after signing / checksumming.
    corrupt: Option<(u16, u8)>,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Advance(u16),
    /// Re-deliver a packet delivered earlier (a replay), by index from the end.
    Replay(u8),
    NeighborDown {
        port: u8,
        nbr: u8,
    },
    Hold {
        port: u8,
        nbr: u8,
        hold: bool,
    },
    Forget {
        port: u8,
        nbr: u8,
    },
    Raw {
        port: u8,
        nbr: u8,
        dst: u8,
        bytes: Vec<u8>,
    },
    Hello {
        seal: Seal,
        port: u8,
        nbr: u8,
        lists_us: bool,
        dr: u8,
        bdr: u8,
        prio: u8,
    },
    Dd {
        seal: Seal,
        port: u8,
        nbr: u8,
        flags: u8,
        seq_delta: i8,
        headers: Vec<(u16, u8, u8, u32, u16)>,
    },
    Lsr {
        seal: Seal,
        port: u8,
        nbr: u8,
        entries: Vec<(u16, u8, u8)>,
    },
    Lsu {
        seal: Seal,
        port: u8,
        nbr: u8,
        lsas: Vec<FuzzLsa>,
    },
    Ack {
        seal: Seal,
        port: u8,
        nbr: u8,
        headers: Vec<(u16, u8, u8, u32, u16)>,
    },
    Advertise {
        addr: u8,
        metric: u16,
    },
    Withdraw {
        addr: u8,
    },
    Toggle {
        port: u8,
    },
}

fn rid(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, n % 4 + 2)
}
fn nbr_ll(n: u8) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(n % 4) + 2)
}
const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
fn my_ll(port: u32) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 1, port as u16)
}
fn hdr(t: u16, id: u8, adv: u8, seq: u32, ck: u16) -> LsaHeader {
    LsaHeader {
        age: 1,
        ls_type: LsaType(t),
        link_state_id: Ipv4Addr::from(u32::from(id)),
        advertising_router: if adv % 5 == 0 { ME } else { rid(adv) },
        seq_number: seq,
        checksum: ck,
        length: 20,
    }
}
const KEY: &[u8] = b"fuzzing key";
const SA_ID: u16 = 1;

fn sa() -> SecurityAssociation {
    SecurityAssociation::new(SA_ID, HmacAlgorithm::Sha256, KEY)
}

/// Port 1: point-to-point with RFC 7166 authentication; port 2: broadcast without.
fn iface_cfg(port: u32) -> InterfaceConfig {
    let ll = my_ll(port);
    let mut c = if port == 1 {
        InterfaceConfig::point_to_point(ll)
    } else {
        InterfaceConfig::broadcast(ll)
    };
    if port == 1 {
        let mut a = AuthConfig::new(SA_ID, HmacAlgorithm::Sha256, KEY.to_vec());
        a.stored_seq_high = Some(0);
        c.auth = Some(a);
    }
    c.with_timers(1, 4)
}

/// What the harness keeps between operations: the fuzzer neighbors' sequence
/// numbers (per port and neighbor) and the packets delivered so far.
struct Peers {
    sa: SecurityAssociation,
    seq: [[u64; 4]; 2],
    delivered: Vec<(u32, Ipv6Addr, Ipv6Addr, Vec<u8>)>,
}

impl Peers {
    /// Signs (port 1) or checksums (port 2) a built packet, corrupts it if asked,
    /// delivers it and keeps a copy for replays.
    fn deliver(
        &mut self,
        r: &mut Router<StdRng>,
        now: Instant,
        port: u8,
        nbr: u8,
        dst: Ipv6Addr,
        mut bytes: Vec<u8>,
        seal: Seal,
    ) {
        let ifindex = u32::from(port % 2) + 1;
        let src = nbr_ll(nbr);
        if ifindex == 1 {
            let s = &mut self.seq[0][usize::from(nbr % 4)];
            *s = s
                .wrapping_add(1)
                .wrapping_add_signed(i64::from(seal.seq_delta));
            self.sa.append_trailer(&src, &mut bytes, *s);
        } else {
            set_packet_checksum(&src, &dst, &mut bytes);
        }
        if let Some((at, x)) = seal.corrupt
            && !bytes.is_empty()
        {
            let i = usize::from(at) % bytes.len();
            bytes[i] ^= x.max(1);
        }
        r.handle_packet(now, ifindex, src, dst, &bytes);
        if self.delivered.len() >= 32 {
            self.delivered.remove(0);
        }
        self.delivered.push((ifindex, src, dst, bytes));
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut now = Instant::now();
    let mut cfg = RouterConfig::new(ME);
    cfg.checksum = ChecksumOffload::Engine;
    cfg.auth_seq_retention = Duration::from_secs(20);
    cfg.limits.max_auth_memory = 2;
    cfg.limits.max_lsdb_bytes = 48 << 10;
    cfg.limits.max_lsas_per_router = 30;
    cfg.limits.max_bytes_per_router = 12 << 10;
    cfg.limits.max_lsas = 200;
    cfg.limits.max_tx_queue = 256;
    cfg.limits.max_events = 256;
    cfg.limits.max_requests = 100;
    cfg.limits.max_neighbors = 3;
    let limits = cfg.limits;
    let mut r = Router::new(cfg, StdRng::seed_from_u64(7));
    r.add_interface(now, 1, iface_cfg(1));
    r.add_interface(now, 2, iface_cfg(2));
    r.add_interface(
        now,
        9,
        InterfaceConfig::loopback(vec![Ipv6Prefix::new("2001:db8::1".parse().unwrap(), 128)]),
    );
    // The anycast query over one prefix the fuzzer can advertise (addr 0).
    let watched = Ipv6Prefix::new(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0), 128);
    r.watch_prefix(watched);
    let mut up = [true, true];
    // The last DD sequence number the engine sent, so DDs can follow the exchange.
    let mut last_dd_seq = 0u32;
    let mut peers = Peers {
        sa: sa(),
        seq: [[0; 4]; 2],
        delivered: Vec::new(),
    };
    for op in ops.into_iter().take(300) {
        let dropped_before = r.counters().events_dropped;
        let header = |n: u8| PacketHeader {
            router_id: rid(n),
            area_id: Ipv4Addr::UNSPECIFIED,
            checksum: 0,
            instance_id: 0,
        };
        let deliver = |r: &mut Router<StdRng>, port: u8, nbr: u8, dst: Ipv6Addr, bytes: &[u8]| {
            let port = u32::from(port % 2) + 1;
            r.handle_packet(now, port, nbr_ll(nbr), dst, bytes);
        };
        let spf: Ipv6Addr = "ff02::5".parse().unwrap();
        match op {
            Op::Replay(back) => {
                let n = peers.delivered.len();
                if n > 0 {
                    let (ifindex, src, dst, b) = &peers.delivered[n - 1 - usize::from(back) % n];
                    r.handle_packet(now, *ifindex, *src, *dst, b);
                }
            }
            Op::NeighborDown { port, nbr } => {
                r.neighbor_down(now, u32::from(port % 2) + 1, rid(nbr));
            }
            Op::Hold { port, nbr, hold } => {
                r.set_neighbor_hold(u32::from(port % 2) + 1, rid(nbr), hold);
            }
            Op::Forget { port, nbr } => {
                r.forget_auth_sequence(u32::from(port % 2) + 1, rid(nbr));
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms) * 8);
                r.handle_timeout(now);
                if let Some(t) = r.poll_timeout() {
                    assert!(t > now, "timeout not advanced");
                }
            }
            Op::Raw {
                port,
                nbr,
                dst,
                bytes,
            } => {
                let dst = match dst % 3 {
                    0 => spf,
                    1 => "ff02::6".parse().unwrap(),
                    _ => my_ll(u32::from(port % 2) + 1),
                };
                deliver(&mut r, port, nbr, dst, &bytes);
            }
            Op::Hello {
                seal,
                port,
                nbr,
                lists_us,
                dr,
                bdr,
                prio,
            } => {
                let pick = |x: u8| match x % 3 {
                    0 => Ipv4Addr::UNSPECIFIED,
                    1 => ME,
                    _ => rid(x),
                };
                let p = Packet {
                    header: header(nbr),
                    body: PacketBody::Hello(Hello {
                        interface_id: u32::from(nbr),
                        priority: prio % 3,
                        options: Options::V6 | Options::E | Options::R,
                        hello_interval: 1,
                        dead_interval: 4,
                        designated_router: pick(dr),
                        backup_designated_router: pick(bdr),
                        neighbors: if lists_us { vec![ME] } else { vec![] },
                    }),
                };
                peers.deliver(&mut r, now, port, nbr, spf, p.to_bytes(), seal);
            }
            Op::Dd {
                seal,
                port,
                nbr,
                flags,
                seq_delta,
                headers,
            } => {
                // Sequence numbers relative to the engine's last DD, so the fuzzer
                // can answer as master or slave.
                let p = Packet {
                    header: header(nbr),
                    body: PacketBody::DatabaseDescription(DatabaseDescription {
                        options: Options::V6 | Options::E | Options::R,
                        interface_mtu: 1500,
                        flags: DdFlags::from_bits_retain(flags & 7),
                        seq_number: last_dd_seq.wrapping_add(i32::from(seq_delta) as u32),
                        lsa_headers: headers
                            .into_iter()
                            .take(20)
                            .map(|(t, i, a, s, c)| hdr(t, i, a, s, c))
                            .collect(),
                    }),
                };
                peers.deliver(&mut r, now, port, nbr, spf, p.to_bytes(), seal);
            }
            Op::Lsr {
                seal,
                port,
                nbr,
                entries,
            } => {
                let p = Packet {
                    header: header(nbr),
                    body: PacketBody::LinkStateRequest(LinkStateRequest {
                        entries: entries
                            .into_iter()
                            .take(20)
                            .map(|(t, i, a)| LsRequestEntry {
                                ls_type: LsaType(t),
                                link_state_id: Ipv4Addr::from(u32::from(i)),
                                advertising_router: if a % 5 == 0 { ME } else { rid(a) },
                            })
                            .collect(),
                    }),
                };
                peers.deliver(&mut r, now, port, nbr, spf, p.to_bytes(), seal);
            }
            Op::Ack {
                seal,
                port,
                nbr,
                headers,
            } => {
                let p = Packet {
                    header: header(nbr),
                    body: PacketBody::LinkStateAck(LinkStateAck {
                        lsa_headers: headers
                            .into_iter()
                            .take(20)
                            .map(|(t, i, a, s, c)| hdr(t, i, a, s, c))
                            .collect(),
                    }),
                };
                peers.deliver(&mut r, now, port, nbr, spf, p.to_bytes(), seal);
            }
            Op::Lsu {
                seal,
                port,
                nbr,
                lsas,
            } => {
                let mut b = Packet {
                    header: header(nbr),
                    body: PacketBody::LinkStateUpdate(ospfv3::lsu::LinkStateUpdate {
                        lsas: vec![],
                    }),
                }
                .to_bytes();
                let mut count = 0u32;
                for l in lsas.into_iter().take(10) {
                    let mut body = l.body;
                    body.truncate(400);
                    body.resize(body.len().div_ceil(4) * 4, 0);
                    let mut lsa = Vec::with_capacity(20 + body.len());
                    let h = LsaHeader {
                        age: (l.age & DO_NOT_AGE) | ((l.age & !DO_NOT_AGE) % 3700),
                        length: (20 + body.len()) as u16,
                        ..hdr(l.ls_type, l.id, l.adv, l.seq, 0)
                    };
                    h.encode(&mut lsa);
                    lsa.extend_from_slice(&body);
                    set_lsa_checksum(&mut lsa);
                    b.extend_from_slice(&lsa);
                    count += 1;
                }
                let len = b.len() as u16;
                b[2..4].copy_from_slice(&len.to_be_bytes());
                b[16..20].copy_from_slice(&count.to_be_bytes());
                peers.deliver(&mut r, now, port, nbr, spf, b, seal);
            }
            Op::Advertise { addr, metric } => {
                let p = Ipv6Prefix::new(
                    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, u16::from(addr % 8)),
                    128,
                );
                r.advertise_prefix(now, p, metric);
            }
            Op::Withdraw { addr } => {
                let p = Ipv6Prefix::new(
                    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, u16::from(addr % 8)),
                    128,
                );
                r.withdraw_prefix(now, p);
            }
            Op::Toggle { port } => {
                let i = usize::from(port % 2);
                let ifindex = i as u32 + 1;
                if up[i] {
                    r.remove_interface(now, ifindex);
                } else {
                    r.add_interface(now, ifindex, iface_cfg(ifindex));
                }
                up[i] = !up[i];
            }
        }
        assert!(
            r.lsdb().len() <= limits.max_lsas + 50,
            "LSDB beyond its limit"
        );
        // Byte accounting matches the entries; what neighbors put there stays within
        // the byte limits (our own LSAs are exempt); no received DoNotAge survives.
        let mut total = 0usize;
        let mut received = 0usize;
        let mut per: std::collections::HashMap<Ipv4Addr, (usize, usize)> = Default::default();
        for (k, e) in r.lsdb().iter() {
            let c = e.charge();
            total += c;
            if k.adv_router != ME {
                received += c;
            }
            let u = per.entry(k.adv_router).or_default();
            u.0 += 1;
            u.1 += c;
            assert_eq!(e.lsa.header.age & DO_NOT_AGE, 0, "DoNotAge LSA installed");
        }
        assert_eq!(total, r.lsdb().bytes(), "LSDB byte count drifted");
        assert!(
            received <= limits.max_lsdb_bytes,
            "LSDB beyond its byte limit"
        );
        for (adv, (n, b)) in per {
            let u = r.lsdb().router_usage(adv);
            assert_eq!((u.lsas, u.bytes), (n, b), "per-router count drifted");
            if adv != ME {
                assert!(
                    n <= limits.max_lsas_per_router,
                    "router beyond its LSA limit"
                );
                assert!(
                    b <= limits.max_bytes_per_router,
                    "router beyond its byte limit"
                );
            }
        }
        let mut sent = 0;
        while let Some(t) = r.poll_transmit() {
            sent += 1;
            assert!(
                sent <= limits.max_tx_queue,
                "transmit queue beyond its limit"
            );
            let packet = if t.ifindex == 1 {
                assert!(
                    peers.sa.verify_payload(&t.src, &t.bytes).is_ok(),
                    "engine sent a packet whose trailer does not verify"
                );
                ospfv3::packet::split_payload(&t.bytes)
                    .expect("engine sent an unsplittable payload")
                    .packet
            } else {
                assert!(
                    verify_packet_checksum(&t.src, &t.dst, &t.bytes),
                    "engine sent a bad checksum"
                );
                &t.bytes[..]
            };
            match Packet::decode(packet) {
                Ok(p) => {
                    if let PacketBody::DatabaseDescription(d) = p.body {
                        last_dd_seq = d.seq_number;
                    }
                }
                Err(e) => panic!("engine sent an undecodable packet: {e}"),
            }
        }
        let mut evs = 0;
        let mut reported = None;
        while let Some(e) = r.poll_event() {
            evs += 1;
            assert!(evs <= limits.max_events);
            if let ospfv3::Event::AdvertisersChanged {
                prefix,
                advertisers,
            } = e
            {
                assert_eq!(prefix, watched, "event for a prefix nobody watches");
                reported = Some(advertisers);
            }
        }
        // The answer is sorted, one entry per (router, kind), and the last change
        // reported is the current answer.
        let answer: Vec<_> = r.advertisers(&watched).collect();
        assert!(
            answer
                .windows(2)
                .all(|w| (w[0].router_id, w[0].kind) < (w[1].router_id, w[1].kind)),
            "advertisers unsorted or repeated"
        );
        // (Unless the event queue overflowed and dropped the last report.)
        if let Some(rep) = reported
            && r.counters().events_dropped == dropped_before
        {
            assert_eq!(rep, answer, "last AdvertisersChanged is not the answer");
        }
    }
});
