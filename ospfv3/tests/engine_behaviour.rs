//! Engine behaviour beyond convergence: LSRefreshTime, a restart that meets its own
//! LSAs from the earlier incarnation, the DD MTU check and mtu-ignore, RFC 7166
//! authentication, the LSDB limit, flushing of withdrawn LSAs.

mod engine_support;

use std::time::Duration;

use engine_support::*;
use netsim::LinkConfig;
use ospfv3::LsaType;
use ospfv3::auth::HmacAlgorithm;
use ospfv3::{AuthConfig, Event, InterfaceConfig, NeighborState, Router, RouterConfig};
use ospfv3::{LsaKey, Scope};

fn router_lsa_seq(net: &Net, viewer: usize, origin: usize) -> Option<u32> {
    let key = LsaKey {
        scope: Scope::Area,
        ls_type: LsaType::ROUTER,
        adv_router: rid(origin),
        ls_id: 0.into(),
    };
    net.router(viewer)
        .lsdb()
        .get(&key)
        .map(|e| e.lsa.header.seq_number)
}

#[test]
fn lsas_are_refreshed_and_never_age_out() {
    let mut net = Net::new(2, 11);
    net.connect(&[0, 1], 10, LinkConfig::default());
    net.run(20);
    let s0 = router_lsa_seq(&net, 1, 0).unwrap();
    // Two and a half hours: two refreshes at LSRefreshTime (30 min) each... and more.
    net.run(9000);
    let s1 = router_lsa_seq(&net, 1, 0).unwrap();
    assert!(s1.wrapping_sub(s0) >= 4, "refreshed {s0:#x} -> {s1:#x}");
    let now = net.sim.now();
    for (_, e) in net.router(1).lsdb().iter() {
        assert!(e.age(now) < 1800 + 5, "an LSA was not refreshed");
    }
    net.assert_lsdbs_converged();
    net.assert_routes();
}

#[test]
fn restarted_router_supersedes_its_earlier_incarnation() {
    let mut net = Net::new(3, 12);
    net.connect(&[0, 1], 10, LinkConfig::default());
    net.connect(&[1, 2], 10, LinkConfig::default());
    net.run(20);
    // Make several instances so the old sequence number is well past the initial one.
    for m in 1..5u16 {
        let now = net.sim.now();
        let p = ospfv3::Ipv6Prefix::new("2001:db8:ffff::1".parse().unwrap(), 128);
        net.sim.node_mut(2).router.advertise_prefix(now, p, m);
        net.run(6);
    }
    let before = router_lsa_seq(&net, 0, 2).unwrap();
    let before_iap = net
        .router(0)
        .lsdb()
        .get(&LsaKey {
            scope: Scope::Area,
            ls_type: LsaType::INTRA_AREA_PREFIX,
            adv_router: rid(2),
            ls_id: 0.into(),
        })
        .map(|e| e.lsa.header.seq_number)
        .unwrap();
    // Router 2 restarts with fresh state (no anycast prefix any more), within the dead
    // interval so the neighbors still hold its old LSAs.
    let now = net.sim.now();
    let mut fresh = Router::new(RouterConfig::new(rid(2)), seeded(99));
    fresh.add_interface(
        now,
        LOOPBACK_IF,
        InterfaceConfig::loopback(vec![loopback(2)]),
    );
    let mut ic = InterfaceConfig::point_to_point(link_local(2, 0)).with_timers(1, 4);
    ic.retransmit_interval = 2;
    ic.cost = 10;
    fresh.add_interface(now, 1, ic);
    net.sim.replace_node(
        2,
        OspfNode {
            router: fresh,
            events: Vec::new(),
        },
    );
    net.run(30);
    net.assert_lsdbs_converged();
    net.assert_routes();
    let after = router_lsa_seq(&net, 0, 2).unwrap();
    // Same contents may legitimately end up as the same instance; never older.
    assert!(
        (after as i32) >= (before as i32),
        "restarted router's LSA {after:#x} must not be older than {before:#x}"
    );
    let iap = net
        .router(0)
        .lsdb()
        .get(&LsaKey {
            scope: Scope::Area,
            ls_type: LsaType::INTRA_AREA_PREFIX,
            adv_router: rid(2),
            ls_id: 0.into(),
        })
        .unwrap();
    assert!((iap.lsa.header.seq_number as i32) > (before_iap as i32));
    let anycast = ospfv3::Ipv6Prefix::new("2001:db8:ffff::1".parse().unwrap(), 128);
    assert!(!net.router(0).routes().contains_key(&anycast));
}

#[test]
fn dd_mtu_check_blocks_until_mtu_ignore() {
    let mut net = Net::new(2, 13);
    net.connect_with(&[0, 1], 10, LinkConfig::default(), |n, ic| {
        ic.mtu = if n == 0 { 1500 } else { 1400 };
    });
    net.run(20);
    // Router 1 (MTU 1400) refuses DDs announcing 1500: no adjacency.
    assert_ne!(
        net.router(0).neighbors(1),
        vec![(rid(1), NeighborState::Full)]
    );
    assert!(net.router(1).counters().rx_dropped > 0);

    let mut net = Net::new(2, 13);
    net.connect_with(&[0, 1], 10, LinkConfig::default(), |n, ic| {
        ic.mtu = if n == 0 { 1500 } else { 1400 };
        ic.mtu_ignore = true;
    });
    net.run(20);
    assert_eq!(
        net.router(0).neighbors(1),
        vec![(rid(1), NeighborState::Full)]
    );
    net.assert_routes();
}

fn auth(key: &[u8]) -> AuthConfig {
    let mut a = AuthConfig::new(7, HmacAlgorithm::Sha256, key.to_vec());
    a.stored_seq_high = Some(41);
    a
}

#[test]
fn authentication_trailer_adjacency_and_rejection() {
    let mut net = Net::new(2, 14);
    net.connect_with(&[0, 1], 10, LinkConfig::default(), |_, ic| {
        ic.auth = Some(auth(b"secret"));
    });
    net.sim.enable_trace();
    net.run(20);
    // A replayed packet (same sequence number) is refused.
    let trace = net.sim.take_trace();
    let now = net.sim.now();
    let rec = trace
        .iter()
        .rev()
        .find(|r| r.from.0 == 1 && r.delivered_at.is_some_and(|t| t <= now))
        .expect("a delivered packet from 1");
    let before = net.router(0).counters().rx_auth_failures;
    let src = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&rec.payload[..16]).unwrap());
    let dst = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&rec.payload[16..32]).unwrap());
    net.sim
        .node_mut(0)
        .router
        .handle_packet(now, 1, src, dst, &rec.payload[32..]);
    assert_eq!(net.router(0).counters().rx_auth_failures, before + 1);
    assert_eq!(
        net.router(0).neighbors(1),
        vec![(rid(1), NeighborState::Full)]
    );
    net.assert_lsdbs_converged();
    net.assert_routes();
    // The high half is advanced past the stored value and handed out to persist.
    assert!(net.sim.node(0).events.contains(&Event::PersistAuthSeqHigh {
        ifindex: 1,
        high: 42
    }));

    let mut net = Net::new(2, 15);
    net.connect_with(&[0, 1], 10, LinkConfig::default(), |n, ic| {
        ic.auth = Some(auth(if n == 0 { b"secret" } else { b"other" }));
    });
    net.run(20);
    assert!(net.router(0).neighbors(1).is_empty());
    assert!(net.router(0).counters().rx_auth_failures > 0);

    // One side without authentication does not talk to one with it.
    let mut net = Net::new(2, 16);
    net.connect_with(&[0, 1], 10, LinkConfig::default(), |n, ic| {
        if n == 0 {
            ic.auth = Some(auth(b"secret"));
        }
    });
    net.run(20);
    assert!(net.router(0).neighbors(1).is_empty());
}

#[test]
fn lsdb_limit_drops_and_counts() {
    let mut net = Net::new(6, 17);
    for i in 1..6 {
        net.connect(&[0, i], 10, LinkConfig::default());
    }
    // Replace router 0 with one whose LSDB holds at most 12 LSAs.
    let now = net.sim.now();
    let mut cfg = RouterConfig::new(rid(0));
    cfg.limits.max_lsas = 12;
    let mut r = Router::new(cfg, seeded(5));
    r.add_interface(
        now,
        LOOPBACK_IF,
        InterfaceConfig::loopback(vec![loopback(0)]),
    );
    for i in 0..5u32 {
        let mut ic = InterfaceConfig::point_to_point(link_local(0, i as usize)).with_timers(1, 4);
        ic.retransmit_interval = 2;
        r.add_interface(now, i + 1, ic);
    }
    net.sim.replace_node(
        0,
        OspfNode {
            router: r,
            events: Vec::new(),
        },
    );
    net.run(30);
    assert!(net.router(0).lsdb().len() <= 12);
    assert!(net.router(0).counters().lsdb_full > 0);
}

#[test]
fn removed_interface_prefixes_are_flushed_everywhere() {
    let mut net = Net::new(3, 18);
    net.connect(&[0, 1], 10, LinkConfig::default());
    net.connect(&[1, 2], 10, LinkConfig::default());
    net.run(20);
    net.assert_routes();
    // Router 2 loses its loopback: its Intra-Area-Prefix-LSA is flushed (MaxAge),
    // the route disappears everywhere and the MaxAge copy is eventually removed.
    let now = net.sim.now();
    net.sim
        .node_mut(2)
        .router
        .remove_interface(now, LOOPBACK_IF);
    net.run(5);
    assert!(!net.router(0).routes().contains_key(&loopback(2)));
    net.run(30);
    let key = LsaKey {
        scope: Scope::Area,
        ls_type: LsaType::INTRA_AREA_PREFIX,
        adv_router: rid(2),
        ls_id: 0.into(),
    };
    for i in 0..3 {
        assert!(net.router(i).lsdb().get(&key).is_none(), "router {i}");
    }
    net.assert_lsdbs_converged();
    let _ = Duration::ZERO;
}

#[test]
fn checksum_offload_leaves_the_field_zero() {
    use netsim::Sim;
    use ospfv3::checksum::verify_packet_checksum;
    let mut sim: Sim<OspfNode, StdRng> = Sim::new(seeded(19));
    let now = sim.start();
    for i in 0..2 {
        let mut cfg = RouterConfig::new(rid(i));
        cfg.checksum = ospfv3::ChecksumOffload::Kernel;
        let mut r = Router::new(cfg, seeded(i as u64));
        r.add_interface(
            now,
            LOOPBACK_IF,
            InterfaceConfig::loopback(vec![loopback(i)]),
        );
        r.add_interface(
            now,
            1,
            InterfaceConfig::point_to_point(link_local(i, 0)).with_timers(1, 4),
        );
        sim.add_node(OspfNode {
            router: r,
            events: Vec::new(),
        });
    }
    sim.connect(&[(0, 0), (1, 0)], LinkConfig::default());
    sim.enable_trace();
    sim.run_for(Duration::from_secs(20)).unwrap();
    assert_eq!(
        sim.node(0).router.neighbors(1),
        vec![(rid(1), NeighborState::Full)]
    );
    assert!(sim.node(0).router.routes().contains_key(&loopback(1)));
    let trace = sim.take_trace();
    assert!(!trace.is_empty());
    for rec in trace {
        let p = &rec.payload[32..];
        assert_eq!(&p[12..14], &[0, 0], "checksum left for the kernel");
        let src = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&rec.payload[..16]).unwrap());
        let dst = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&rec.payload[16..32]).unwrap());
        assert!(!verify_packet_checksum(&src, &dst, p));
    }
}

#[test]
fn engine_checksums_verify_over_the_pseudo_header() {
    use ospfv3::checksum::verify_packet_checksum;
    let mut net = Net::new(2, 20);
    net.connect(&[0, 1], 10, LinkConfig::default());
    net.sim.enable_trace();
    net.run(20);
    let trace = net.sim.take_trace();
    assert!(trace.len() > 10);
    for rec in trace {
        let src = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&rec.payload[..16]).unwrap());
        let dst = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&rec.payload[16..32]).unwrap());
        assert!(verify_packet_checksum(&src, &dst, &rec.payload[32..]));
    }
}

/// A Hello captured from FRRouting 8.4.4 ospf6d on the interop veth (`ipv6 ospf6
/// authentication key-id 7 hash-algo hmac-sha-256 key interop-secret`), source
/// fe80::4434:44ff:fefb:7ea4. FRR appends the Crypto Protocol ID to the key
/// little-endian, so only the compatibility key derivation verifies it.
#[test]
fn frr_hello_trailer_verifies_with_frr_compat_key_only() {
    use ospfv3::auth::SecurityAssociation;
    let src: std::net::Ipv6Addr = "fe80::4434:44ff:fefb:7ea4".parse().unwrap();
    let payload = hex::decode(
        "03010024010101010000000000000000000000020100041300010003000000000000000000010030\
         000000070000001800000266d2f700084af7dc4f0d623d5ab62f5873646bd3293c3a1ab3efa7a0fe\
         5cdaf5ed",
    )
    .unwrap();
    let compat = SecurityAssociation::new_frr_compat(7, HmacAlgorithm::Sha256, b"interop-secret");
    assert_eq!(
        compat.verify_payload(&src, &payload).unwrap(),
        0x0000_0018_0000_0266
    );
    let rfc = SecurityAssociation::new(7, HmacAlgorithm::Sha256, b"interop-secret");
    assert!(rfc.verify_payload(&src, &payload).is_err());
    // The engine accepts it only in compatibility mode.
    let now = std::time::Instant::now();
    for (compat, accepted) in [(true, true), (false, false)] {
        let mut r = Router::new(RouterConfig::new(rid(1)), seeded(1));
        let mut ic = InterfaceConfig::point_to_point("fe80::1".parse().unwrap()).with_timers(1, 3);
        let mut a = auth(b"interop-secret");
        a.frr_compat_key = compat;
        ic.auth = Some(a);
        r.add_interface(now, 1, ic);
        r.handle_packet(now, 1, src, "ff02::5".parse().unwrap(), &payload);
        assert_eq!(r.neighbors(1).len() == 1, accepted, "compat {compat}");
        assert_eq!(r.counters().rx_auth_failures == 0, accepted);
    }
}
