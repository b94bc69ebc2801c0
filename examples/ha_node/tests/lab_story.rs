//! Runs the in-process lab and checks that the whole failover story happened.

use ha_node::lab::{DEAD_CRASH_MARGIN, Kind, LabOptions, Scenario, bfd_crash_bound, run};

#[test]
fn lab_story_holds_with_esp() {
    let report = run(&LabOptions::default());
    assert!(
        report.failures().is_empty(),
        "failures: {:#?}",
        report.failures()
    );
    // The timeline carries each step, in order.
    let pos = |pred: &dyn Fn(&Kind) -> bool, node: &str| {
        report
            .records
            .iter()
            .position(|r| r.node == node && pred(&r.kind))
            .unwrap_or_else(|| panic!("no such step on {node}"))
    };
    let tunnel = pos(&|k| matches!(k, Kind::TunnelUp { .. }), "client");
    let session = pos(&|k| matches!(k, Kind::SessionUp { .. }), "client");
    let full = pos(&|k| matches!(k, Kind::Adjacency { .. }), "client");
    let via_east = pos(
        &|k| matches!(k, Kind::AnycastRoute { via, .. } if via == &["east"]),
        "client",
    );
    let stopped = pos(&|k| *k == Kind::Service { up: false }, "east");
    let via_west = pos(
        &|k| matches!(k, Kind::AnycastRoute { via, .. } if via == &["west"]),
        "client",
    );
    assert!(tunnel < session && session < full && full < via_east);
    assert!(via_east < stopped && stopped < via_west);
}

/// Seed 7 (BFD on). Before ospfv3's origination throttle (issue 12 item 3) some seeds
/// at 2 % loss hit MinLSInterval (5 s) after a lost DD packet or hello, inside the
/// window the story checks (seeds 1 and 42 without BFD; seed 7 once BFD's packets
/// changed which packets the links lose): slow re-origination, not nondeterminism.
#[test]
fn lab_is_deterministic_and_survives_loss() {
    let opts = LabOptions {
        seed: 7,
        loss: 0.02,
        esp: false,
        ..LabOptions::default()
    };
    let a = run(&opts);
    let b = run(&opts);
    assert!(a.failures().is_empty(), "failures: {:#?}", a.failures());
    assert_eq!(a.records, b.records, "same seed, same timeline");
}

#[test]
fn story_holds_across_seeds_on_lossy_links() {
    for seed in 1..=8 {
        let report = run(&LabOptions {
            seed,
            loss: 0.05,
            ..LabOptions::default()
        });
        assert!(
            report.failures().is_empty(),
            "seed {seed}: {:#?}",
            report.failures()
        );
    }
}

#[test]
fn crash_story_moves_traffic_after_the_dead_interval() {
    for seed in [1, 2, 3] {
        let report = run(&LabOptions {
            seed,
            scenario: ha_node::lab::Scenario::Crash,
            ..LabOptions::default()
        });
        assert!(
            report.failures().is_empty(),
            "seed {seed}: {:#?}",
            report.failures()
        );
        assert!(report.records.iter().any(|r| r.kind == Kind::Crashed));
    }
}

/// With BFD (on by default, 50 ms x 5) the client's route moves to west within the
/// BFD detection time plus a small margin of east's crash, in virtual time (a
/// deterministic bound, not a wall-clock one), and the timeline shows why: the
/// client's BFD session with east goes Down before the route moves.
#[test]
fn crash_story_with_bfd_moves_the_route_within_detection_time() {
    for seed in [1, 2, 3, 11] {
        let report = run(&LabOptions {
            seed,
            scenario: Scenario::Crash,
            ..LabOptions::default()
        });
        assert!(
            report.failures().is_empty(),
            "seed {seed}: {:#?}",
            report.failures()
        );
        let took = report.crash_route_moved_after.expect("route moved");
        assert!(
            took <= bfd_crash_bound(),
            "seed {seed}: route moved after {took:?}, bound {:?}",
            bfd_crash_bound()
        );
        let pos = |pred: &dyn Fn(&Kind) -> bool| {
            report
                .records
                .iter()
                .rposition(|r| r.node == "client" && pred(&r.kind))
                .unwrap_or_else(|| panic!("seed {seed}: no such step"))
        };
        let crashed = report
            .records
            .iter()
            .position(|r| r.kind == Kind::Crashed)
            .unwrap();
        let bfd_down = pos(&|k| {
            matches!(k, Kind::Bfd { router_id, from: bfd::State::Up, to: bfd::State::Down, .. }
                if router_id.octets() == [1, 1, 1, 1])
        });
        let via_west = pos(&|k| matches!(k, Kind::AnycastRoute { via, .. } if via == &["west"]));
        assert!(crashed < bfd_down && bfd_down < via_west, "seed {seed}");
    }
}

/// The same crash without BFD waits for OSPFv3's dead interval: slower than the BFD
/// bound, which shows that BFD is what moves the route above.
#[test]
fn crash_story_without_bfd_waits_for_the_dead_interval() {
    let report = run(&LabOptions {
        seed: 1,
        scenario: Scenario::Crash,
        bfd: false,
        ..LabOptions::default()
    });
    assert!(report.failures().is_empty(), "{:#?}", report.failures());
    let took = report.crash_route_moved_after.expect("route moved");
    assert!(took > bfd_crash_bound(), "moved after {took:?}");
    assert!(
        !report
            .records
            .iter()
            .any(|r| matches!(r.kind, Kind::Bfd { .. }))
    );
}

/// Without BFD the route moves within the RouterDeadInterval + [`DEAD_CRASH_MARGIN`]
/// of the crash, and within 300 ms of the client's own detection of it (SPF short
/// delay 200 ms + LSA + latency), with and without loss, over several seeds
/// (virtual time). West's detection and the client's are apart by lost Hellos and
/// Hello phases; before the core learned for a whole RouterDeadInterval (RFC 8405
/// TIME_TO_LEARN), west's Router-LSA had put the client's SPF throttle in LONG_WAIT
/// by then, and the route moved a second after the client's detection.
#[test]
fn crash_story_without_bfd_moves_within_dead_interval_and_margin() {
    let dead = std::time::Duration::from_secs(u64::from(ha_node::core::OspfTimers::default().dead));
    // Seeds 27 and 46 at 5 % lose east's last Hello to west: west declares east
    // down a HelloInterval before the client does, the case described above.
    for loss in [0.0, 0.05] {
        for seed in (1..=8).chain([27, 46]) {
            let report = run(&LabOptions {
                seed,
                loss,
                scenario: Scenario::Crash,
                bfd: false,
                ..LabOptions::default()
            });
            assert!(
                report.failures().is_empty(),
                "seed {seed} loss {loss}: {:#?}",
                report.failures()
            );
            let took = report.crash_route_moved_after.expect("route moved");
            assert!(
                took <= dead + DEAD_CRASH_MARGIN,
                "seed {seed} loss {loss}: route moved after {took:?}"
            );
            let crashed = report
                .records
                .iter()
                .find(|r| r.kind == Kind::Crashed)
                .map(|r| r.at)
                .expect("east crashed");
            // The client's first such step after the crash.
            let at = |pred: &dyn Fn(&Kind) -> bool| {
                report
                    .records
                    .iter()
                    .find(|r| r.at >= crashed && r.node == "client" && pred(&r.kind))
                    .map(|r| r.at)
                    .unwrap_or_else(|| panic!("seed {seed} loss {loss}: no such step"))
            };
            let detected = at(&|k| {
                matches!(k, Kind::Adjacency { router_id, state: ospfv3::NeighborState::Down, .. }
                    if router_id.octets() == [1, 1, 1, 1])
            });
            let moved = at(&|k| matches!(k, Kind::AnycastRoute { via, .. } if via == &["west"]));
            assert!(
                moved >= detected && moved - detected <= std::time::Duration::from_millis(300),
                "seed {seed} loss {loss}: east down at {detected:?}, route via west at {moved:?}"
            );
        }
    }
}

/// BFD at 5 % loss: the story still holds (no false Down takes a neighbor away) and
/// the route still moves within the detection time + margin (virtual time).
#[test]
fn crash_story_with_bfd_holds_on_lossy_links() {
    // Seed 4: west detects the crash 84 ms before the client, whose own detection
    // then falls in SHORT_WAIT (RFC 8405's 200 ms delay moved the route after 451 ms).
    for seed in [1, 2, 3, 4] {
        let report = run(&LabOptions {
            seed,
            loss: 0.05,
            scenario: Scenario::Crash,
            ..LabOptions::default()
        });
        assert!(
            report.failures().is_empty(),
            "seed {seed}: {:#?}",
            report.failures()
        );
        let took = report.crash_route_moved_after.expect("route moved");
        assert!(took <= bfd_crash_bound(), "seed {seed}: {took:?}");
        let false_downs = report
            .records
            .iter()
            .filter(|r| !r.kind.to_string().contains("1.1.1.1"))
            .filter(|r| {
                matches!(
                    r.kind,
                    Kind::Bfd {
                        from: bfd::State::Up,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(
            false_downs, 0,
            "seed {seed}: a BFD session to a live peer went down"
        );
    }
}
