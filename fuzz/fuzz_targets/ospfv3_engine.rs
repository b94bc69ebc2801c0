//! Drives the OSPFv3 engine with arbitrary packets, commands and timeouts on a
//! point-to-point and a broadcast interface. Besides raw bytes, the input can build
//! well-formed Hellos (so adjacencies form), DDs, requests, acks and updates whose
//! LSAs carry valid Fletcher checksums over arbitrary bodies, to reach the exchange
//! and flooding code. Invariants: no panic; every packet the engine sends decodes;
//! after `handle_timeout(now)` the next timeout is in the future (no livelock); the
//! LSDB and queues stay within the configured limits; the anycast query's answer for
//! a watched prefix is sorted and the last `AdvertisersChanged` event matches it.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ospfv3::checksum::set_lsa_checksum;
use ospfv3::dd::{DatabaseDescription, DdFlags};
use ospfv3::hello::Hello;
use ospfv3::lsa::LsaHeader;
use ospfv3::lsack::LinkStateAck;
use ospfv3::lsr::{LinkStateRequest, LsRequestEntry};
use ospfv3::options::Options;
use ospfv3::{ChecksumOffload, InterfaceConfig, Ipv6Prefix, Router, RouterConfig};
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

#[derive(Debug, Arbitrary)]
enum Op {
    Advance(u16),
    Raw {
        port: u8,
        nbr: u8,
        dst: u8,
        bytes: Vec<u8>,
    },
    Hello {
        port: u8,
        nbr: u8,
        lists_us: bool,
        dr: u8,
        bdr: u8,
        prio: u8,
    },
    Dd {
        port: u8,
        nbr: u8,
        flags: u8,
        seq_delta: i8,
        headers: Vec<(u16, u8, u8, u32, u16)>,
    },
    Lsr {
        port: u8,
        nbr: u8,
        entries: Vec<(u16, u8, u8)>,
    },
    Lsu {
        port: u8,
        nbr: u8,
        lsas: Vec<FuzzLsa>,
    },
    Ack {
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
fn iface_cfg(port: u32) -> InterfaceConfig {
    let ll = my_ll(port);
    let c = if port == 1 {
        InterfaceConfig::point_to_point(ll)
    } else {
        InterfaceConfig::broadcast(ll)
    };
    c.with_timers(1, 4)
}

fuzz_target!(|ops: Vec<Op>| {
    let mut now = Instant::now();
    let mut cfg = RouterConfig::new(ME);
    cfg.checksum = ChecksumOffload::Kernel;
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
        let spf = "ff02::5".parse().unwrap();
        match op {
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
                deliver(&mut r, port, nbr, spf, &p.to_bytes());
            }
            Op::Dd {
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
                deliver(&mut r, port, nbr, spf, &p.to_bytes());
            }
            Op::Lsr { port, nbr, entries } => {
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
                deliver(&mut r, port, nbr, spf, &p.to_bytes());
            }
            Op::Ack { port, nbr, headers } => {
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
                deliver(&mut r, port, nbr, spf, &p.to_bytes());
            }
            Op::Lsu { port, nbr, lsas } => {
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
                        age: l.age % 3700,
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
                deliver(&mut r, port, nbr, spf, &b);
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
        let mut sent = 0;
        while let Some(t) = r.poll_transmit() {
            sent += 1;
            assert!(
                sent <= limits.max_tx_queue,
                "transmit queue beyond its limit"
            );
            match Packet::decode(&t.bytes) {
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
