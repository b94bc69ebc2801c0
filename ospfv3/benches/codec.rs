//! Codec benchmarks: decoding a Link State Update that carries 100 mixed LSAs, and
//! the Fletcher checksum of one LSA (compute and verify).
//!
//! Run: `cargo bench -p ospfv3 --bench codec`

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ospfv3::lsa::*;
use ospfv3::options::Options;
use ospfv3::prefix::{Prefix, PrefixOptions};
use ospfv3::{Lsa, LsaBody, LsaHeader, LsaType, Packet, PacketBody, PacketHeader, lsu};

fn prefix(i: u32, len: u8) -> Prefix {
    let a = Ipv6Addr::from((0x2001_0db8u128 << 96) | (u128::from(i) << 64));
    Prefix::new(a, len, PrefixOptions::empty())
}

/// The i-th LSA of the mix: router, network, link, intra-area-prefix,
/// inter-area-prefix and AS-external, in turn.
fn lsa(i: u32) -> Lsa {
    let body = match i % 6 {
        0 => LsaBody::Router(RouterLsa {
            flags: RouterFlags::E,
            options: Options::V6 | Options::E | Options::R,
            links: (0..4)
                .map(|j| RouterLink {
                    link_type: RouterLinkType::PointToPoint,
                    metric: 10,
                    interface_id: j,
                    neighbor_interface_id: j + 100,
                    neighbor_router_id: Ipv4Addr::from(j + 1),
                })
                .collect(),
        }),
        1 => LsaBody::Network(NetworkLsa {
            options: Options::V6 | Options::E | Options::R,
            attached_routers: (1..=4).map(Ipv4Addr::from).collect(),
        }),
        2 => LsaBody::Link(LinkLsa {
            priority: 1,
            options: Options::V6 | Options::E | Options::R,
            link_local_address: "fe80::1".parse().unwrap(),
            prefixes: vec![prefix(i, 64), prefix(i + 1, 64)],
        }),
        3 => LsaBody::IntraAreaPrefix(IntraAreaPrefixLsa {
            referenced_ls_type: LsaType::ROUTER,
            referenced_link_state_id: Ipv4Addr::UNSPECIFIED,
            referenced_advertising_router: Ipv4Addr::new(1, 1, 1, 1),
            prefixes: (0..3)
                .map(|j| IntraAreaPrefix {
                    prefix: prefix(i + j, 64),
                    metric: 10,
                })
                .collect(),
        }),
        4 => LsaBody::InterAreaPrefix(InterAreaPrefixLsa {
            metric: 20,
            prefix: prefix(i, 48),
        }),
        _ => LsaBody::AsExternal(AsExternalLsa {
            metric_type: ExternalMetricType::Type2,
            metric: 20,
            prefix: prefix(i, 128),
            forwarding_address: None,
            route_tag: Some(7),
            referenced: None,
        }),
    };
    let ls_type = match &body {
        LsaBody::Router(_) => LsaType::ROUTER,
        LsaBody::Network(_) => LsaType::NETWORK,
        LsaBody::Link(_) => LsaType::LINK,
        LsaBody::IntraAreaPrefix(_) => LsaType::INTRA_AREA_PREFIX,
        LsaBody::InterAreaPrefix(_) => LsaType::INTER_AREA_PREFIX,
        _ => LsaType::AS_EXTERNAL,
    };
    let mut l = Lsa {
        header: LsaHeader {
            age: 1,
            ls_type,
            link_state_id: Ipv4Addr::from(i),
            advertising_router: Ipv4Addr::new(1, 1, 1, 1),
            seq_number: 0x8000_0001,
            checksum: 0,
            length: 0,
        },
        body,
    };
    l.update_checksum();
    l
}

fn bench(c: &mut Criterion) {
    let update = Packet {
        header: PacketHeader {
            router_id: Ipv4Addr::new(1, 1, 1, 1),
            area_id: Ipv4Addr::UNSPECIFIED,
            checksum: 0,
            instance_id: 0,
        },
        body: PacketBody::LinkStateUpdate(ospfv3::lsu::LinkStateUpdate {
            lsas: (0..100).map(lsa).collect(),
        }),
    };
    let bytes = update.to_bytes();

    let mut g = c.benchmark_group("ls_update_100_lsas");
    g.throughput(Throughput::Elements(100));
    g.bench_function("decode", |b| {
        b.iter(|| Packet::decode(black_box(&bytes)).unwrap())
    });
    g.bench_function("raw_walk_and_verify", |b| {
        b.iter(|| {
            lsu::raw_lsas(black_box(&bytes))
                .unwrap()
                .filter(|r| r.as_ref().is_ok_and(|r| r.checksum_ok()))
                .count()
        })
    });
    g.bench_function("encode", |b| b.iter(|| black_box(&update).to_bytes()));
    g.finish();

    // A Router-LSA with 4 links: 88 bytes.
    let one = lsa(0).to_bytes(ChecksumMode::Keep);
    let mut g = c.benchmark_group("fletcher_per_lsa_88_bytes");
    g.throughput(Throughput::Elements(1));
    g.bench_function("compute", |b| {
        b.iter(|| ospfv3::checksum::lsa_checksum(black_box(&one)))
    });
    g.bench_function("verify", |b| {
        b.iter(|| ospfv3::checksum::verify_lsa_checksum(black_box(&one)))
    });
    g.finish();
}

#[allow(missing_docs)]
mod entry {
    use super::*;
    criterion_group!(benches, bench);
}
criterion_main!(entry::benches);
