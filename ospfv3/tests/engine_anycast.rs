//! The anycast query: `Router::advertisers` answers which reachable routers advertise
//! a prefix, with which metric, from the SPF result, and `Router::watch_prefix`
//! reports each change of that answer once, as `Event::AdvertisersChanged`.

mod engine_support;

use std::net::Ipv4Addr;

use engine_support::*;
use netsim::LinkConfig;
use ospfv3::{Event, Ipv6Prefix, LsaKey, LsaType, RouteKind, Scope};

fn anycast() -> Ipv6Prefix {
    Ipv6Prefix::new("2001:db8:ffff::1".parse().unwrap(), 128)
}

/// Router `n`'s answer for the anycast prefix as (advertiser index, metric, distance).
fn answer(net: &Net, n: usize) -> Vec<(Ipv4Addr, u32, u32)> {
    net.router(n)
        .advertisers(&anycast())
        .map(|a| {
            assert_eq!(a.kind, RouteKind::IntraArea);
            (a.router_id, a.metric, a.distance)
        })
        .collect()
}

/// The AdvertisersChanged events router `n` has reported for `prefix` so far.
fn changes(net: &Net, n: usize, prefix: Ipv6Prefix) -> Vec<Vec<(Ipv4Addr, u32, u32)>> {
    net.sim
        .node(n)
        .events
        .iter()
        .filter_map(|e| match e {
            Event::AdvertisersChanged {
                prefix: p,
                advertisers,
            } if *p == prefix => Some(
                advertisers
                    .iter()
                    .map(|a| (a.router_id, a.metric, a.distance))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

fn advertise(net: &mut Net, n: usize, metric: u16) {
    let now = net.sim.now();
    net.sim
        .node_mut(n)
        .router
        .advertise_prefix(now, anycast(), metric);
}

#[test]
fn advertisers_follow_appearance_metric_changes_and_crashes() {
    // 0 - 1 - 2, and 1 - 3 (cost 10 each): router 0 watches the anycast prefix.
    let mut net = Net::new(4, 21);
    net.connect(&[0, 1], 10, LinkConfig::default());
    net.connect(&[1, 2], 10, LinkConfig::default());
    net.connect(&[1, 3], 10, LinkConfig::default());
    assert!(
        net.sim
            .node_mut(0)
            .router
            .watch_prefix(anycast())
            .is_empty()
    );
    net.run(20);
    assert!(answer(&net, 0).is_empty());
    assert!(changes(&net, 0, anycast()).is_empty());

    // A router appears as an advertiser.
    advertise(&mut net, 2, 10);
    net.run(6);
    let two = (rid(2), 10, 20);
    assert_eq!(answer(&net, 0), vec![two]);
    assert_eq!(changes(&net, 0, anycast()), vec![vec![two]]);

    // A second one, then a metric change of the first.
    advertise(&mut net, 3, 20);
    net.run(6);
    let three = (rid(3), 20, 20);
    assert_eq!(answer(&net, 0), vec![two, three]);
    advertise(&mut net, 2, 30);
    net.run(6);
    let two_standby = (rid(2), 30, 20);
    assert_eq!(answer(&net, 0), vec![two_standby, three]);
    // Each change reported once, in order, and nothing for an answer that stayed.
    assert_eq!(
        changes(&net, 0, anycast()),
        vec![vec![two], vec![two, three], vec![two_standby, three]]
    );
    // The advertisers see themselves at distance 0; router 1 sees both at 10.
    assert!(answer(&net, 2).contains(&(rid(2), 30, 0)));
    assert_eq!(answer(&net, 1), vec![(rid(2), 30, 10), (rid(3), 20, 10)]);
    // Nothing is reported for prefixes nobody watches.
    assert!(changes(&net, 0, loopback(2)).is_empty());
    assert!(changes(&net, 1, anycast()).is_empty());

    // Router 3 crashes: its LSAs stay in router 0's database until they age out, but
    // router 1 drops its link to it, so the two-way check makes it unreachable.
    net.kill(3);
    net.run(8);
    let iap3 = LsaKey {
        scope: Scope::Area,
        ls_type: LsaType::INTRA_AREA_PREFIX,
        adv_router: rid(3),
        ls_id: 0.into(),
    };
    let later = net.sim.now();
    let e = net.router(0).lsdb().get(&iap3).expect("still in the LSDB");
    assert!(!e.is_max_age(later));
    assert_eq!(answer(&net, 0), vec![two_standby]);
    assert_eq!(changes(&net, 0, anycast()).last(), Some(&vec![two_standby]));
    assert_eq!(changes(&net, 0, anycast()).len(), 4);

    // Withdrawal empties the answer; unwatching stops the reports.
    let now2 = net.sim.now();
    net.sim.node_mut(2).router.withdraw_prefix(now2, anycast());
    net.run(6);
    assert!(answer(&net, 0).is_empty());
    assert_eq!(changes(&net, 0, anycast()).last(), Some(&vec![]));
    assert!(net.sim.node_mut(0).router.unwatch_prefix(&anycast()));
    advertise(&mut net, 2, 10);
    net.run(6);
    assert_eq!(answer(&net, 0), vec![two]);
    assert_eq!(changes(&net, 0, anycast()).len(), 5);
}

#[test]
fn watching_starts_from_the_current_answer() {
    let mut net = Net::new(2, 22);
    net.connect(&[0, 1], 7, LinkConfig::default());
    net.run(15);
    advertise(&mut net, 1, 5);
    net.run(6);
    // Not watched yet: no event, but the query answers.
    assert!(changes(&net, 0, anycast()).is_empty());
    let current = net.sim.node_mut(0).router.watch_prefix(anycast());
    let current: Vec<_> = current
        .iter()
        .map(|a| (a.router_id, a.metric, a.distance))
        .collect();
    assert_eq!(current, vec![(rid(1), 5, 7)]);
    net.run(10);
    assert!(changes(&net, 0, anycast()).is_empty());
    // The link goes down: the answer empties once both ends notice.
    net.set_link(0, false);
    net.run(10);
    assert_eq!(changes(&net, 0, anycast()), vec![vec![]]);
}
