//! The configuration types round-trip through serde (feature `serde`), and a config
//! file written by hand is read as expected.
#![cfg(feature = "serde")]

use anycast_failover::{
    CheckKind, CheckSpec, Combine, Error, Mode, NodeConfig, Preempt, PrefixConfig, RouterId,
    SoftFail,
};
use std::time::Duration;

#[test]
fn node_config_round_trips_through_json() {
    let mut p = PrefixConfig::new("2001:db8::53/128".parse().unwrap());
    p.mode = Mode::ActiveStandby {
        active_metric: 1,
        standby_metric: 2,
    };
    p.preempt = Preempt::After {
        hold_down: Duration::from_secs(30),
    };
    p.soft_fail = Some(SoftFail::new(100));
    p.combine = Combine::Weighted { threshold: 2 };
    p.checks.push(CheckSpec::new(
        "http",
        CheckKind::HttpGet {
            addr: "[2001:db8::53]:80".parse().unwrap(),
            host: Some("svc.example".into()),
            path: "/health".into(),
            expect_status: 200,
        },
    ));
    p.checks.push(CheckSpec::new(
        "cmd",
        CheckKind::Command {
            argv: vec!["/usr/bin/true".into()],
        },
    ));
    let cfg = NodeConfig::new(RouterId(0x0a000001), vec![p]);
    cfg.validate().unwrap();
    let json = serde_json::to_string_pretty(&cfg).unwrap();
    assert!(json.contains("\"2001:db8::53/128\""), "{json}");
    let back: NodeConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cfg);
}

#[test]
fn hand_written_config_uses_defaults() {
    let text = r#"{
        "router_id": 167772161,
        "prefixes": [{
            "prefix": "2001:db8::53/128",
            "mode": { "active_standby": { "active_metric": 10, "standby_metric": 20 } },
            "checks": [{
                "name": "tcp",
                "kind": { "tcp_connect": { "addr": "[2001:db8::53]:53" } },
                "interval": { "secs": 1, "nanos": 0 },
                "timeout": { "secs": 0, "nanos": 500000000 },
                "rise": 3, "fall": 3, "weight": 1
            }]
        }]
    }"#;
    let cfg: NodeConfig = serde_json::from_str(text).unwrap();
    let p = &cfg.prefixes[0];
    assert_eq!(p.preempt, Preempt::Never);
    assert_eq!(p.drain_period, Duration::from_secs(30));
    assert_eq!(p.max_announcements_per_minute, 12);
    cfg.validate().unwrap();
}

#[test]
fn bad_prefix_text_is_rejected() {
    let err = serde_json::from_str::<NodeConfig>(r#"{"prefixes":[{"prefix":"2001:db8::/200"}]}"#)
        .unwrap_err();
    assert!(err.to_string().contains("longer than 128"), "{err}");
    assert_eq!(
        "nonsense".parse::<anycast_failover::Ipv6Prefix>(),
        Err(Error::PrefixSyntax {
            text: "nonsense".into()
        })
    );
}
