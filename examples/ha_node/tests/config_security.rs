//! The configuration side of the security review (issue 13, daemon part): what
//! `ha_node run` refuses, and what it never prints.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use ha_node::config::{Config, ConfigError, MAX_POLICY_DELAY_S};

const L2TP: &str = "l2tp-Sekr1t-value";
const OSPF: &str = "ospf-Sekr1t-value";
const KEY_OUT: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf";
const KEY_IN: &str = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef";

fn base() -> String {
    format!(
        r#"
name = "east"
router_id = "1.1.1.1"
l2tp_secret = "{L2TP}"
ospf_auth_key = "{OSPF}"
loopback = ["2001:db8:1::1"]

[[peer]]
name = "client"
address = "10.0.1.2:1701"
tap = "pw-client"

[[peer]]
name = "west"
address = "10.0.3.2:4500"
tap = "pw-west"
esp = {{ spi_out = 4097, spi_in = 8194, insecure_static_keys = true, key_out = "{KEY_OUT}", key_in = "{KEY_IN}" }}

[[anycast]]
prefix = "2001:db8:aa::1/128"
shutdown_grace_s = 3

[[anycast.check]]
name = "script"
kind = {{ command = {{ argv = ["/bin/true"] }} }}
"#
    )
}

fn invalid(text: &str) -> String {
    match Config::parse(text) {
        Err(ConfigError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn no_secret_in(s: &str) {
    for secret in [L2TP, OSPF, KEY_OUT, KEY_IN, "a0a1a2a3", "c0c1c2c3"] {
        assert!(!s.contains(secret), "{secret} in {s}");
    }
}

/// A scratch directory removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("ha-node-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_sample_is_accepted() {
    let cfg = Config::parse(&base()).unwrap();
    let core = cfg.core_config(1).unwrap();
    assert!(core.ospf_auth.is_some());
    assert!(core.seed.is_none());
}

/// Finding 1: a pinned seed makes every ID, cookie and nonce predictable: refused
/// in `run` unless explicitly marked insecure.
#[test]
fn a_fixed_seed_needs_the_insecure_flag() {
    let m = invalid(&format!("seed = 7\n{}", base()));
    assert!(m.starts_with("seed:"), "{m}");
    let ok = Config::parse(&format!("seed = 7\ninsecure_fixed_seed = true\n{}", base())).unwrap();
    assert_eq!(ok.core_config(1).unwrap().seed, Some(7));
}

/// Finding 3: a peer with neither an L2TPv3 secret nor ESP is refused unless the
/// insecure option says so; ESP alone is enough for an ESP peer.
#[test]
fn no_l2tp_secret_is_refused_without_the_insecure_flag() {
    let text = base().replace(&format!("l2tp_secret = \"{L2TP}\"\n"), "");
    let m = invalid(&text);
    assert!(m.starts_with("l2tp_secret:") && m.contains("client"), "{m}");
    let insecure = format!("insecure_no_l2tp_auth = true\n{text}");
    assert!(
        Config::parse(&insecure)
            .unwrap()
            .core_config(1)
            .unwrap()
            .l2tp_secret
            .is_none()
    );
    // Only the ESP peer left: accepted without a secret.
    let esp_only = text.replace(
        "[[peer]]\nname = \"client\"\naddress = \"10.0.1.2:1701\"\ntap = \"pw-client\"\n",
        "",
    );
    Config::parse(&esp_only).unwrap();
}

/// Finding 2: OSPFv3 on the pseudowires is authenticated by default: no key, no
/// start (unless opted out, or OSPFv3 is not run by the node).
#[test]
fn ospf_without_a_key_is_refused() {
    let text = base().replace(&format!("ospf_auth_key = \"{OSPF}\"\n"), "");
    assert!(invalid(&text).starts_with("ospf_auth_key:"));
    let opt_out = format!("insecure_no_ospf_auth = true\n{text}");
    assert!(
        Config::parse(&opt_out)
            .unwrap()
            .core_config(1)
            .unwrap()
            .ospf_auth
            .is_none()
    );
}

/// Finding 2: the route filter from `[routes]`: defaults, the underlay and own
/// addresses protected.
#[test]
fn route_filter_from_the_configuration() {
    let cfg = Config::parse(&base()).unwrap();
    let f = cfg.core_config(1).unwrap().routes;
    assert!(!f.allow_default);
    assert!(f.protected.contains(&"2001:db8:1::1".parse().unwrap()));
    assert!(f.protected.contains(&"::ffff:10.0.1.2".parse().unwrap()));
    let text = base().replace(
        "loopback = [\"2001:db8:1::1\"]",
        "loopback = [\"2001:db8:1::1\"]\nroutes = { allow = [\"2001:db8:aa::/48\"], max = 5 }",
    );
    let f = Config::parse(&text).unwrap().core_config(1).unwrap().routes;
    assert_eq!(f.max_routes, 5);
    assert_eq!(f.allow.len(), 1);
    let bad = text.replace("2001:db8:aa::/48", "2001:db8:aa::/200");
    assert!(invalid(&bad).starts_with("routes.allow:"));
}

/// Finding 5: `Debug` of the configuration, and of the core configuration built
/// from it, never shows a secret.
#[test]
fn debug_redacts_every_secret() {
    let cfg = Config::parse(&base()).unwrap();
    no_secret_in(&format!("{cfg:?}"));
    no_secret_in(&format!("{:?}", cfg.core_config(1).unwrap()));
}

/// Finding 5: TOML errors never echo the offending line when it holds a secret,
/// and give its position.
#[test]
fn toml_errors_do_not_echo_secrets() {
    // A secret where a string is expected as a number, and a broken string.
    for bad in [
        base().replace(&format!("\"{L2TP}\""), "12345678901234"),
        base().replace(&format!("\"{L2TP}\""), &format!("\"{L2TP}")),
        base().replace(
            &format!("key_out = \"{KEY_OUT}\""),
            &format!("key_out = {KEY_OUT}"),
        ),
        base().replace(&format!("\"{OSPF}\""), &format!("[\"{OSPF}\", 1]")),
    ] {
        let e = Config::parse(&bad).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ConfigError::Toml { at: Some(_), .. }), "{msg}");
        no_secret_in(&msg);
        assert!(!msg.contains("12345678901234"), "{msg}");
        assert!(msg.contains("line"), "{msg}");
    }
    // A typo in a harmless line keeps the parser's message.
    let typo = base().replace("tap = \"pw-client\"", "tapp = \"pw-client\"");
    let msg = Config::parse(&typo).unwrap_err().to_string();
    assert!(msg.contains("tapp"), "{msg}");
}

/// Finding 5: an invalid ESP key is not echoed.
#[test]
fn invalid_hex_keys_are_not_echoed() {
    let bad_key = format!("zz{}", &KEY_OUT[2..]);
    let text = base().replace(KEY_OUT, &bad_key);
    let cfg = Config::parse(&text).unwrap();
    let e = cfg.core_config(1).unwrap_err();
    let msg = e.to_string();
    assert!(
        !msg.contains("zz1a2a3a4") && !msg.contains("a4a5a6"),
        "{msg}"
    );
    assert!(msg.contains("key_out"), "{msg}");
}

/// Finding 5: keys from separate files, which must be private; a configuration
/// holding secrets must be private too.
#[test]
fn keys_from_files_and_file_permissions() {
    let dir = Dir::new("cfg");
    let l2tp = dir.write("l2tp.key", &format!("{L2TP}\n"), 0o600);
    let ospf = dir.write("ospf.key", OSPF, 0o600);
    let kout = dir.write("out.key", &format!("{KEY_OUT}\n"), 0o600);
    let kin = dir.write("in.key", KEY_IN, 0o600);
    let text = base()
        .replace(
            &format!("l2tp_secret = \"{L2TP}\""),
            &format!("l2tp_secret_file = \"{}\"", l2tp.display()),
        )
        .replace(
            &format!("ospf_auth_key = \"{OSPF}\""),
            &format!("ospf_auth_key_file = \"{}\"", ospf.display()),
        )
        .replace(
            &format!("key_out = \"{KEY_OUT}\", key_in = \"{KEY_IN}\""),
            &format!(
                "key_out_file = \"{}\", key_in_file = \"{}\"",
                kout.display(),
                kin.display()
            ),
        );
    // No secret inline: the configuration itself may be world-readable.
    let public = dir.write("public.toml", &text, 0o644);
    let cfg = Config::load(&public).unwrap();
    assert!(!cfg.has_inline_secrets());
    let core = cfg.core_config(1).unwrap();
    assert_eq!(core.l2tp_secret.as_ref().unwrap().expose(), L2TP.as_bytes());
    assert_eq!(
        core.ospf_auth.as_ref().unwrap().key.expose(),
        OSPF.as_bytes()
    );
    // The keys from the files made the peer's SAs: it can seal.
    let esp = core.peers[1].esp.as_ref().unwrap();
    assert!(esp.seal_message(std::time::Instant::now(), b"l2tp").is_ok());
    ha_node::core::Core::new(std::time::Instant::now(), core).unwrap();
    // A key file others can read is refused, and its content is not shown.
    std::fs::set_permissions(&ospf, std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = cfg.core_config(1).unwrap_err();
    assert!(matches!(e, ConfigError::File(_)), "{e}");
    no_secret_in(&e.to_string());
    // Both inline and file: refused.
    let both = text.replace(
        "loopback =",
        &format!("ospf_auth_key = \"{OSPF}\"\nloopback ="),
    );
    std::fs::set_permissions(&ospf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = Config::parse(&both).unwrap().core_config(1).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid configuration: ospf_auth_key:"),
        "{e}"
    );
    // Inline secrets in a group- or world-readable configuration: refused.
    let inline = dir.write("inline.toml", &base(), 0o644);
    let e = Config::load(&inline).unwrap_err();
    assert!(matches!(e, ConfigError::File(_)), "{e}");
    no_secret_in(&e.to_string());
    std::fs::set_permissions(&inline, std::fs::Permissions::from_mode(0o600)).unwrap();
    Config::load(&inline).unwrap();
}

/// Finding 7: a huge `shutdown_grace_s` overflowed `Instant + Duration` at SIGTERM
/// (a panic while shutting down); refused now, and the largest accepted value
/// survives a shutdown.
#[test]
fn huge_policy_delays_are_refused_and_the_largest_shuts_down() {
    let huge = base().replace(
        "shutdown_grace_s = 3",
        "shutdown_grace_s = 18446744073709551615",
    );
    assert!(invalid(&huge).contains("shutdown_grace_s"));
    let settle = base().replace("shutdown_grace_s = 3", "settle_s = 18446744073709551615");
    assert!(invalid(&settle).contains("settle_s"));
    let max = base().replace(
        "shutdown_grace_s = 3",
        &format!("shutdown_grace_s = {MAX_POLICY_DELAY_S}\npreempt_after_s = {MAX_POLICY_DELAY_S}"),
    );
    let cfg = Config::parse(&max).unwrap();
    let now = std::time::Instant::now();
    let mut core = ha_node::core::Core::new(now, cfg.core_config(1).unwrap()).unwrap();
    core.start(now);
    core.handle_command(now, anycast_failover::AdminCommand::Shutdown);
    while core.poll_output().is_some() {}
    assert!(core.poll_timeout().is_some());
}

/// Finding 7: health-check programs must be absolute paths (no PATH search as root).
#[test]
fn check_programs_need_absolute_paths() {
    let text = base().replace("argv = [\"/bin/true\"]", "argv = [\"true\"]");
    let m = invalid(&text);
    assert!(m.contains("absolute path"), "{m}");
}
