//! `ha_node check-config` and `ha_node run` on bad files: the binary prints
//! `file:line: field: problem` and exits 2, never echoing a secret; the sample
//! configurations of examples/ha_node/configs pass.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ha_node");

const BASE: &str = r#"name = "east"
router_id = "1.1.1.1"
l2tp_secret = "s3cret-l2tp"
ospf_auth_key = "s3cret-ospf"
loopback = ["2001:db8:1::1"]

[ospf]
hello = 1
dead = 4

[[peer]]
name = "client"
address = "10.0.1.2:1701"
tap = "pw-client"

[[peer]]
name = "west"
address = "10.0.3.2:4500"
initiate = true
tap = "pw-west"
esp = { spi_out = 4097, spi_in = 8194, insecure_static_keys = true, key_out = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f", key_in = "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f" }

[[anycast]]
prefix = "2001:db8:aa::1/128"
"#;

const KEY_IN: &str = "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f";

/// A private scratch directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("ha_node-check-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    /// Writes `text` to `name` with mode 0600 (files with inline secrets must be).
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `ha_node ARGS`: (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// check-config on `text`: exit 2 and exactly `expected` (with `FILE` for the path).
fn refused(dir: &Dir, name: &str, text: &str, expected: &str) {
    let p = dir.file(name, text);
    let path = p.display().to_string();
    let (code, out, err) = run(&["check-config", &path]);
    assert_eq!(code, 2, "{name}: stdout {out:?} stderr {err:?}");
    assert_eq!(err.trim_end(), expected.replace("FILE", &path), "{name}");
    for secret in ["s3cret", KEY_IN, "not-hex-s3cret"] {
        assert!(!err.contains(secret), "{name}: a secret is echoed: {err}");
    }
}

#[test]
fn the_base_file_passes() {
    let d = Dir::new("base");
    let p = d.file("base.toml", BASE);
    let (code, out, err) = run(&["check-config", &p.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("OK (2 peers, 1 anycast prefixes)\n"), "{out}");
}

#[test]
fn unknown_key() {
    let d = Dir::new("unknown");
    let text = BASE.replace("tap = \"pw-west\"", "tap = \"pw-west\"\ninitiat = true");
    let p = d.file("unknown.toml", &text);
    let path = p.display().to_string();
    let (code, _, err) = run(&["check-config", &path]);
    assert_eq!(code, 2);
    // The list of the keys that exist follows; it grows with the schema.
    let want = format!(
        "{path}:21: peer[1].initiat: unknown field `initiat`, expected one of `name`, `address`, `initiate`, `tap`, "
    );
    assert!(err.starts_with(&want), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn wrong_type() {
    let d = Dir::new("type");
    refused(
        &d,
        "type.toml",
        &BASE.replace("hello = 1", "hello = \"fast\""),
        "FILE:8: ospf.hello: invalid type: string \"fast\", expected u16",
    );
    // A secret of the wrong type: position and field, not the value.
    refused(
        &d,
        "secret-type.toml",
        &BASE.replace("l2tp_secret = \"s3cret-l2tp\"", "l2tp_secret = 31337"),
        "FILE:3: l2tp_secret: invalid value (not shown: secret field)",
    );
}

#[test]
fn duplicate_peer() {
    let d = Dir::new("dup");
    refused(
        &d,
        "dup.toml",
        &BASE.replace("name = \"west\"", "name = \"client\""),
        "FILE:17: peer[1].name: duplicate peer name \"client\", also peer[0] (line 12)",
    );
    refused(
        &d,
        "dup-tap.toml",
        &BASE.replace("tap = \"pw-west\"", "tap = \"pw-client\""),
        "FILE:20: peer[1].tap: duplicate TAP name \"pw-client\", also peer[0] (line 14)",
    );
}

#[test]
fn duplicate_spi() {
    let d = Dir::new("spi");
    let text = format!(
        "{BASE}\n[[peer]]\nname = \"north\"\naddress = \"10.0.4.2:4500\"\ntap = \"pw-north\"\n\
         esp = {{ spi_out = 4098, spi_in = 8194, insecure_static_keys = true, key_out = \"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f\", key_in = \"{KEY_IN}\" }}\n"
    );
    refused(
        &d,
        "spi.toml",
        &text,
        "FILE:30: peer[2].esp.spi_in: duplicate SPI 8194, also peer[1] (line 21)",
    );
}

#[test]
fn invalid_key() {
    let d = Dir::new("key");
    refused(
        &d,
        "key.toml",
        &BASE.replace(KEY_IN, "not-hex-s3cret"),
        "FILE:21: peer[1].esp.key_in: ESP key_in is not valid hex (14 characters)",
    );
}

#[test]
fn missing_secret() {
    let d = Dir::new("secret");
    refused(
        &d,
        "no-l2tp-secret.toml",
        &BASE.replace("l2tp_secret = \"s3cret-l2tp\"\n", ""),
        "FILE:1: l2tp_secret: missing, and peer client has no ESP: anyone able to send from \
         its address could set up or tear down the pseudowire; set l2tp_secret (or \
         l2tp_secret_file), or insecure_no_l2tp_auth = true",
    );
    refused(
        &d,
        "no-esp-key.toml",
        &BASE.replace(&format!(", key_in = \"{KEY_IN}\""), ""),
        "FILE:21: peer[1].esp.key_in: give esp.key_in (inline) or esp.key_in_file, exactly one",
    );
    let missing_file = BASE.replace(
        "l2tp_secret = \"s3cret-l2tp\"",
        "l2tp_secret_file = \"/nonexistent/ha_node/l2tp.secret\"",
    );
    let p = d.file("no-key-file.toml", &missing_file);
    let path = p.display().to_string();
    let (code, _, err) = run(&["check-config", &path]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with(&format!("{path}:3: l2tp_secret_file: ")),
        "{err}"
    );
}

#[test]
fn several_problems_each_on_its_line() {
    let d = Dir::new("several");
    let text = BASE
        .replace("tap = \"pw-west\"", "tap = \"pw-client\"")
        .replace("spi_in = 8194", "spi_in = 7");
    refused(
        &d,
        "several.toml",
        &text,
        "FILE:20: peer[1].tap: duplicate TAP name \"pw-client\", also peer[0] (line 14)\n\
         FILE:21: peer[1].esp.spi_in: SPI 7 is reserved (RFC 4303 2.1: use 256 or more)",
    );
}

#[test]
fn run_refuses_a_bad_file_the_same_way() {
    let d = Dir::new("run");
    let p = d.file(
        "dup.toml",
        &BASE.replace("name = \"west\"", "name = \"client\""),
    );
    let path = p.display().to_string();
    let (code, _, err) = run(&["run", "--config", &path]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        format!("{path}:17: peer[1].name: duplicate peer name \"client\", also peer[0] (line 12)")
    );
}

/// The sample configurations, with their key file paths pointed at `dir`.
fn samples(dir: &Dir) -> Vec<PathBuf> {
    let keys = dir.0.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    for (name, text) in [
        ("l2tp.secret", "sample-l2tp-secret\n"),
        ("ospf.key", "sample-ospf-key\n"),
        ("east-west.psk", "sample pre-shared key, 32 bytes\n"),
    ] {
        dir.file(&format!("keys/{name}"), text);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    ["east", "west", "client"]
        .iter()
        .map(|n| {
            let text = std::fs::read_to_string(root.join(format!("{n}.toml"))).unwrap();
            let text = text.replace("/etc/ha_node/keys/", &format!("{}/", keys.display()));
            dir.file(&format!("{n}.toml"), &text)
        })
        .collect()
}

#[test]
fn sample_configurations_pass() {
    let d = Dir::new("samples");
    for p in samples(&d) {
        let (code, out, err) = run(&["check-config", &p.display().to_string()]);
        assert_eq!(code, 0, "{}: {err}", p.display());
        assert!(out.contains(": OK ("), "{out}");
    }
}

#[test]
fn the_sample_servers_agree_on_their_ipsec_keys_and_identities() {
    let d = Dir::new("pair");
    let paths = samples(&d);
    let east = ha_node::check::load(&paths[0]).unwrap();
    let west = ha_node::check::load(&paths[1]).unwrap();
    let ew = east.peers.iter().find(|p| p.name == "west").unwrap();
    let we = west.peers.iter().find(|p| p.name == "east").unwrap();
    let a = east.ipsec_config(ew).unwrap().unwrap();
    let b = west.ipsec_config(we).unwrap().unwrap();
    assert!(a.psk == b.psk);
    assert!(a.ike.contains(&b.ike[0]) && a.esp.contains(&b.esp[0]));
    // Each expects the other's underlay address as its identity (the default).
    assert_eq!(a.remote_id, ikev2::wire::IdPayload::ip(we_addr(&west)));
    assert_eq!(b.remote_id, ikev2::wire::IdPayload::ip(we_addr(&east)));
}

/// The underlay address a node's peers see (its ESP socket's address in the other's
/// configuration).
fn we_addr(cfg: &ha_node::config::Config) -> std::net::IpAddr {
    match cfg.name.as_str() {
        "east" => "10.0.3.1".parse().unwrap(),
        _ => "10.0.3.2".parse().unwrap(),
    }
}

/// ESP with static keys: refused without the explicit option, and refused with an
/// AEAD suite (its nonce would repeat after a restart) with the RFC's reason.
#[test]
fn static_esp_keys_need_the_option_and_a_cbc_suite() {
    let d = Dir::new("static");
    let (code, _, err) = run(&[
        "check-config",
        &d.file(
            "no-opt.toml",
            &BASE.replace("insecure_static_keys = true, ", ""),
        )
        .display()
        .to_string(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("peer[1].esp: static ESP keys restart their sequence numbers"),
        "{err}"
    );
    for suite in ["aes128gcm16", "aes256gcm16", "chacha20poly1305"] {
        let text = BASE.replace(
            "insecure_static_keys = true,",
            &format!("insecure_static_keys = true, suite = \"{suite}\","),
        );
        let (code, _, err) = run(&[
            "check-config",
            &d.file("aead.toml", &text).display().to_string(),
        ]);
        assert_eq!(code, 2, "{suite}");
        assert!(
            err.contains("RFC 4106 section 2") && err.contains("IKEv2"),
            "{err}"
        );
        assert!(!err.contains(KEY_IN), "{err}");
    }
}

/// A peer keyed by IKEv2: accepted with a good key and proposals; a short key, an
/// unknown proposal, or both `esp` and `ipsec` are refused by field.
#[test]
fn ipsec_peers_are_checked() {
    let d = Dir::new("ipsec");
    let esp_line = BASE.lines().find(|l| l.starts_with("esp = ")).unwrap();
    let with = |ipsec: &str| BASE.replace(esp_line, ipsec);
    let ok = with(
        r#"ipsec = { psk = "a pre-shared key of 32 bytes....", proposals = ["aes128-sha256-ecp256"] }"#,
    );
    let (code, out, err) = run(&[
        "check-config",
        &d.file("ok.toml", &ok).display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": OK ("), "{out}");
    for (text, want) in [
        (
            with(r#"ipsec = { psk = "short" }"#),
            "peer[1].ipsec.psk: 5 bytes, at least 16",
        ),
        (
            with(
                r#"ipsec = { psk = "a pre-shared key of 32 bytes....", proposals = ["des-md5-modp768"] }"#,
            ),
            "peer[1].ipsec.proposals: \"des-md5-modp768\": unknown keyword \"des\"",
        ),
        (
            BASE.replace(
                esp_line,
                &format!("{esp_line}\nipsec = {{ psk = \"a pre-shared key of 32 bytes....\" }}"),
            ),
            "esp (static keys) and ipsec (IKEv2) exclude each other",
        ),
    ] {
        let (code, _, err) = run(&[
            "check-config",
            &d.file("bad.toml", &text).display().to_string(),
        ]);
        assert_eq!(code, 2, "{text}");
        assert!(err.contains(want), "{err}");
        assert!(!err.contains("pre-shared key of"), "secret echoed: {err}");
    }
}
