//! Configuration checking with locations: `ha_node check-config FILE`, and every
//! configuration error of `run` and of a reload.
//!
//! [`check_text`] parses the TOML once for its spans ([`toml::de::DeTable`]), then
//! deserializes it into [`Config`], then validates everything the daemon would refuse
//! at start (addresses and ports, duplicate peer names, TAP names, peer addresses and
//! SPIs, ESP keys, overlapping prefixes, BFD and OSPFv3 timers, the failover policy),
//! and finally runs [`Config::parse`] so no rule of the configuration module is
//! skipped. Each problem names the line, the field as a dotted path (`peer[1].esp.spi_in`)
//! and what is wrong, printed as `file:line: field: problem`. Nothing is opened, bound
//! or changed.
//!
//! Secret values (`l2tp_secret`, ESP keys, anything whose name says key or secret) are
//! never echoed: a problem with one names its position and field only.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config::{Config, ConfigError, ESP_PORT, MAX_POLICY_DELAY_S};
use crate::core::BfdSettings;

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line of the field (or of the nearest enclosing table when the field is
    /// missing); `None` when the text has no place for it.
    pub line: Option<usize>,
    /// Dotted path of the field, `peer[0].tap` (indices count from 0 in file order).
    pub field: String,
    /// What is wrong, without any secret value.
    pub message: String,
}

/// Every problem of one file, printed one per line as `file:line: field: problem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems {
    /// The file as given.
    pub file: String,
    /// The problems, in file order where known.
    pub list: Vec<Problem>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.list.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match p.line {
                Some(l) => write!(f, "{}:{l}: {}: {}", self.file, p.field, p.message)?,
                None => write!(f, "{}: {}: {}", self.file, p.field, p.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<Config, Problems> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Problems {
        file: file.clone(),
        list: vec![Problem {
            line: None,
            field: "file".into(),
            message: format!("cannot read: {e}"),
        }],
    })?;
    let checked = check_text(&text).map_err(|list| Problems {
        file: file.clone(),
        list,
    })?;
    // What only the file itself can tell: its permissions, the key files it names.
    match Config::load(path) {
        Ok(cfg) => Ok(cfg),
        Err(e) => {
            drop(checked);
            let list = match DeTable::parse(&text) {
                Ok(doc) => vec![
                    Locator {
                        text: &text,
                        doc: &doc,
                    }
                    .locate_config_error(&e),
                ],
                Err(_) => vec![Problem {
                    line: None,
                    field: "file".into(),
                    message: e.to_string(),
                }],
            };
            Err(Problems { file, list })
        }
    }
}

/// Checks configuration text; the configuration, or every problem found.
pub fn check_text(text: &str) -> Result<Config, Vec<Problem>> {
    let doc = match DeTable::parse(text) {
        Ok(d) => d,
        Err(e) => {
            // The message only: the error's Display quotes the offending line, which
            // may hold a secret.
            let line = e.span().map(|s| line_of(text, s.start));
            return Err(vec![Problem {
                line,
                field: "syntax".into(),
                message: first_line(e.message()),
            }]);
        }
    };
    let loc = Locator { text, doc: &doc };
    let cfg: Config = match toml::from_str(text) {
        Ok(c) => c,
        Err(e) => {
            let (field, line) = match e.span() {
                Some(s) => {
                    let path = loc.path_at(s.start);
                    (path, Some(line_of(text, s.start)))
                }
                None => ("config".to_string(), None),
            };
            let message = if is_secret_field(&field) {
                "invalid value (not shown: secret field)".to_string()
            } else {
                first_line(e.message())
            };
            return Err(vec![Problem {
                line,
                field,
                message,
            }]);
        }
    };
    let mut problems = validate(&cfg, &loc);
    if problems.is_empty() {
        match Config::parse(text) {
            Err(e) => problems.push(loc.locate_config_error(&e)),
            Ok(_) => {
                let mut f = Found {
                    loc: &loc,
                    list: Vec::new(),
                };
                validate_secrets(&cfg, &mut f);
                problems = f.list;
            }
        }
    }
    problems.sort_by_key(|p| p.line.unwrap_or(0));
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(problems)
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

/// Whether a field holds secret material whose value must never be shown.
pub fn is_secret_field(field: &str) -> bool {
    let last = field.rsplit('.').next().unwrap_or(field);
    let last = last.split('[').next().unwrap_or(last);
    last.contains("secret") || last == "key" || last.starts_with("key_") || last.ends_with("_key")
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// One step of a field path.
#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Maps field paths to lines through the spans of the parsed document.
struct Locator<'t, 'd> {
    text: &'t str,
    doc: &'d Spanned<DeTable<'t>>,
}

impl Locator<'_, '_> {
    /// The line of `path`, or of its nearest ancestor that is in the file.
    fn line(&self, path: &[Seg<'_>]) -> Option<usize> {
        self.span(path).map(|s| line_of(self.text, s.start))
    }

    fn span(&self, path: &[Seg<'_>]) -> Option<Range<usize>> {
        let mut best: Option<Range<usize>> = None;
        let mut table: Option<&DeTable<'_>> = Some(self.doc.get_ref());
        let mut array: Option<&[Spanned<DeValue<'_>>]> = None;
        for seg in path {
            let v = match (*seg, table, array) {
                (Seg::Key(k), Some(t), _) => {
                    let Some((key, v)) = t.iter().find(|(key, _)| key.get_ref().as_ref() == k)
                    else {
                        break;
                    };
                    best = Some(key.span());
                    v
                }
                (Seg::Index(i), _, Some(a)) => {
                    let Some(v) = a.get(i) else { break };
                    best = Some(v.span()).filter(|s| s.start < s.end).or(best);
                    v
                }
                _ => break,
            };
            table = v.get_ref().as_table();
            array = v.get_ref().as_array().map(|a| &a[..]);
        }
        best
    }

    /// The dotted path of the deepest key whose key or value span holds `offset`.
    fn path_at(&self, offset: usize) -> String {
        let mut path = String::new();
        walk_table(self.doc.get_ref(), offset, &mut path);
        if path.is_empty() {
            "config".into()
        } else {
            path
        }
    }

    /// A problem from the configuration module's own check, located by the field
    /// path its message starts with (`ospf.dead: ...`), else at the top.
    fn locate_config_error(&self, e: &ConfigError) -> Problem {
        let text = match e {
            ConfigError::Invalid(m) => m.clone(),
            other => other.to_string(),
        };
        // A file named in the configuration (a key file): the line that names it.
        for token in text.split([' ', ':', ',']).filter(|t| t.contains('/')) {
            if let Some(at) = self.text.find(&format!("\"{token}\"")) {
                return Problem {
                    line: Some(line_of(self.text, at)),
                    field: self.path_at(at + 1),
                    message: text.clone(),
                };
            }
        }
        if let Some((field, message)) = text.split_once(": ")
            && !field.contains([' ', '/'])
        {
            let path = parse_path(field);
            return Problem {
                line: self.line(&path).or(Some(1)),
                field: field.to_string(),
                message: message.to_string(),
            };
        }
        // `peer[1].esp.key_in missing`: a field path, then what is wrong.
        if let Some((field, message)) = text.split_once(' ')
            && field.contains(['.', '['])
            && field
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c))
        {
            let path = parse_path(field);
            return Problem {
                line: self.line(&path).or(Some(1)),
                field: field.to_string(),
                message: message.to_string(),
            };
        }
        Problem {
            line: Some(1),
            field: "config".into(),
            message: text,
        }
    }
}

fn parse_path(field: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in field.split('.') {
        let mut it = part.split('[');
        if let Some(k) = it.next() {
            out.push(Seg::Key(k));
        }
        for idx in it {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Seg::Index(i));
            }
        }
    }
    out
}

fn contains(s: &Range<usize>, offset: usize) -> bool {
    s.start <= offset && offset < s.end.max(s.start + 1)
}

fn walk_table(t: &DeTable<'_>, offset: usize, path: &mut String) -> bool {
    for (k, v) in t.iter() {
        let mut sub = path.clone();
        if !sub.is_empty() {
            sub.push('.');
        }
        sub.push_str(k.get_ref());
        if walk_value(v, offset, &mut sub) || contains(&k.span(), offset) {
            *path = sub;
            return true;
        }
    }
    false
}

fn walk_value(v: &Spanned<DeValue<'_>>, offset: usize, path: &mut String) -> bool {
    match v.get_ref() {
        DeValue::Table(t) if walk_table(t, offset, path) => return true,
        DeValue::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                let mut sub = format!("{path}[{i}]");
                if walk_value(e, offset, &mut sub) {
                    *path = sub;
                    return true;
                }
            }
        }
        _ => {}
    }
    contains(&v.span(), offset)
}

/// Problems collected with their locations.
struct Found<'l, 't, 'd> {
    loc: &'l Locator<'t, 'd>,
    list: Vec<Problem>,
}

impl Found<'_, '_, '_> {
    fn add(&mut self, field: String, message: impl Into<String>) {
        let line = self.loc.line(&parse_path(&field));
        self.list.push(Problem {
            line,
            field,
            message: message.into(),
        });
    }

    fn line_of(&self, field: &str) -> String {
        self.loc
            .line(&parse_path(field))
            .map_or_else(String::new, |l| format!(" (line {l})"))
    }
}

/// SPIs 0-255 are reserved (RFC 4303 2.1).
const MIN_SPI: u32 = 256;

fn validate(cfg: &Config, loc: &Locator<'_, '_>) -> Vec<Problem> {
    let mut f = Found {
        loc,
        list: Vec::new(),
    };
    if cfg.name.trim().is_empty() {
        f.add("name".into(), "must not be empty");
    }
    let esp_listen = cfg.esp_listen();
    if esp_listen.port() == cfg.listen.port() {
        let field = if cfg.esp_listen_addr.is_some() {
            "esp_listen"
        } else {
            "listen"
        };
        f.add(
            field.into(),
            format!(
                "ESP-in-UDP ({esp_listen}) and L2TPv3 ({}) need different ports",
                cfg.listen
            ),
        );
    }
    if cfg.ospf.hello == 0 {
        f.add("ospf.hello".into(), "must be at least 1 second");
    }
    if cfg.ospf.dead <= cfg.ospf.hello {
        f.add(
            "ospf.dead".into(),
            format!(
                "{} must be larger than ospf.hello ({})",
                cfg.ospf.dead, cfg.ospf.hello
            ),
        );
    }
    if !cfg.ospf.enabled && !cfg.anycast.is_empty() {
        f.add(
            "ospf.enabled".into(),
            "anycast prefixes need the built-in OSPFv3 (ospf.enabled = true)",
        );
    }
    let base_bfd = match cfg.bfd.resolve(BfdSettings::default()) {
        Ok(b) => b,
        Err(e) => {
            f.add(bfd_field("bfd", &e), bfd_message(&e));
            BfdSettings::default()
        }
    };
    if !cfg.control.socket.is_absolute() {
        f.add("control.socket".into(), "must be an absolute path");
    }
    if cfg.control.max_clients == 0 {
        f.add("control.max_clients".into(), "must be at least 1");
    }
    validate_peers(cfg, base_bfd, &mut f);
    validate_anycast(cfg, &mut f);
    f.list
}

fn bfd_field(base: &str, e: &ConfigError) -> String {
    let m = e.to_string();
    if m.contains("multiplier") {
        format!("{base}.multiplier")
    } else {
        format!("{base}.interval_ms")
    }
}

fn bfd_message(e: &ConfigError) -> String {
    let m = e.to_string();
    if m.contains("multiplier") {
        "must be 1-255".into()
    } else {
        "must be 1-60000".into()
    }
}

fn validate_peers(cfg: &Config, base_bfd: BfdSettings, f: &mut Found<'_, '_, '_>) {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut taps: BTreeMap<&str, usize> = BTreeMap::new();
    let mut addrs: BTreeMap<std::net::SocketAddr, usize> = BTreeMap::new();
    let mut spi_in: BTreeMap<u32, usize> = BTreeMap::new();
    let mut spi_out: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, p) in cfg.peers.iter().enumerate() {
        let at = |k: &str| format!("peer[{i}].{k}");
        if p.name.trim().is_empty() {
            f.add(at("name"), "must not be empty");
        } else if let Some(j) = names.insert(&p.name, i) {
            let first = f.line_of(&format!("peer[{j}].name"));
            f.add(
                at("name"),
                format!("duplicate peer name {:?}, also peer[{j}]{first}", p.name),
            );
        }
        let tap_ok = !p.tap.is_empty()
            && p.tap.len() <= 15
            && p.tap
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
        if !tap_ok {
            f.add(
                at("tap"),
                format!(
                    "TAP name {:?} must be 1-15 printable bytes without '/' or ':'",
                    p.tap
                ),
            );
        } else if let Some(j) = taps.insert(&p.tap, i) {
            let first = f.line_of(&format!("peer[{j}].tap"));
            f.add(
                at("tap"),
                format!("duplicate TAP name {:?}, also peer[{j}]{first}", p.tap),
            );
        }
        if let Some(j) = addrs.insert(p.address, i) {
            let first = f.line_of(&format!("peer[{j}].address"));
            f.add(
                at("address"),
                format!(
                    "duplicate peer address {}, also peer[{j}]{first}",
                    p.address
                ),
            );
        }
        if p.address.ip().is_unspecified() || p.address.port() == 0 {
            f.add(
                at("address"),
                format!(
                    "{} is not a peer's address (unspecified IP or port 0)",
                    p.address
                ),
            );
        }
        if let Err(e) = p.bfd.resolve(base_bfd) {
            f.add(bfd_field(&at("bfd"), &e), bfd_message(&e));
        }
        if p.protected() && p.address.port() == cfg.listen.port() {
            f.add(
                at("address"),
                format!(
                    "ESP-in-UDP goes to the peer's ESP socket (RFC 3948), not its L2TPv3 \
                     port {}: use port {ESP_PORT}",
                    p.address.port()
                ),
            );
        }
        let Some(esp) = &p.esp else { continue };
        for (field, spi, seen) in [
            ("esp.spi_in", esp.spi_in, &mut spi_in),
            ("esp.spi_out", esp.spi_out, &mut spi_out),
        ] {
            if spi < MIN_SPI {
                f.add(
                    at(field),
                    format!("SPI {spi} is reserved (RFC 4303 2.1: use 256 or more)"),
                );
            } else if let Some(j) = seen.insert(spi, i) {
                let first = f.line_of(&format!("peer[{j}].{field}"));
                f.add(
                    at(field),
                    format!("duplicate SPI {spi}, also peer[{j}]{first}"),
                );
            }
        }
    }
}

/// Secrets (inline or from their files) and the ESP SAs built from them, once every
/// other rule passed: what the daemon does next at start. Neither kind of message
/// carries key material (positions and lengths only).
fn validate_secrets(cfg: &Config, f: &mut Found<'_, '_, '_>) {
    if let Err(e) = cfg.core_config(1) {
        let p = f.loc.locate_config_error(&e);
        f.list.push(p);
    }
}

/// Whether two prefixes share any address.
fn overlap(a: (std::net::Ipv6Addr, u8), b: (std::net::Ipv6Addr, u8)) -> bool {
    let len = a.1.min(b.1);
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    };
    (u128::from(a.0) & mask) == (u128::from(b.0) & mask)
}

fn validate_anycast(cfg: &Config, f: &mut Found<'_, '_, '_>) {
    let mut seen: Vec<(usize, (std::net::Ipv6Addr, u8))> = Vec::new();
    let mut parsed_all = true;
    for (i, a) in cfg.anycast.iter().enumerate() {
        let at = |k: &str| format!("anycast[{i}].{k}");
        match a.prefix.parse::<anycast_failover::Ipv6Prefix>() {
            Err(e) => {
                parsed_all = false;
                f.add(at("prefix"), e.to_string());
            }
            Ok(p) => {
                let me = (p.addr(), p.len());
                for (j, other) in &seen {
                    if overlap(me, *other) {
                        let first = f.line_of(&format!("anycast[{j}].prefix"));
                        f.add(
                            at("prefix"),
                            format!(
                                "{} overlaps anycast[{j}].prefix {}/{}{first}",
                                a.prefix, other.0, other.1
                            ),
                        );
                    }
                }
                for (k, lo) in cfg.loopback.iter().enumerate() {
                    if overlap(me, (*lo, 128)) {
                        f.add(
                            format!("loopback[{k}]"),
                            format!(
                                "host address {lo} lies inside anycast[{i}].prefix {}",
                                a.prefix
                            ),
                        );
                    }
                }
                seen.push((i, me));
            }
        }
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (j, c) in a.checks.iter().enumerate() {
            let cat = |k: &str| format!("anycast[{i}].check[{j}].{k}");
            if let Some(first) = names.insert(&c.name, j) {
                f.add(
                    cat("name"),
                    format!(
                        "duplicate check name {:?}, also anycast[{i}].check[{first}]",
                        c.name
                    ),
                );
            }
            if c.interval_ms == 0 {
                f.add(cat("interval_ms"), "must be at least 1");
            }
            if c.timeout_ms == 0 {
                f.add(cat("timeout_ms"), "must be at least 1");
            }
            if c.rise == 0 {
                f.add(cat("rise"), "must be at least 1");
            }
            if c.fall == 0 {
                f.add(cat("fall"), "must be at least 1");
            }
        }
        if a.drain_period_s > MAX_POLICY_DELAY_S {
            f.add(
                at("drain_period_s"),
                format!("at most {MAX_POLICY_DELAY_S} seconds"),
            );
        }
    }
    // The policy's own rules (metrics, limits), once the prefixes parse.
    if parsed_all
        && f.list.is_empty()
        && let Err(e) = cfg.failover()
    {
        let m = e.to_string();
        let (field, message) = failover_field(cfg, &m);
        f.add(field, message);
    }
}

/// The field of a failover validation message (`... for PREFIX: FIELD: REASON`).
fn failover_field(cfg: &Config, m: &str) -> (String, String) {
    for (i, a) in cfg.anycast.iter().enumerate() {
        let Ok(p) = a.prefix.parse::<anycast_failover::Ipv6Prefix>() else {
            continue;
        };
        let needle = format!("for {p}: ");
        if let Some(pos) = m.find(&needle) {
            let rest = &m[pos + needle.len()..];
            if let Some((field, reason)) = rest.split_once(": ") {
                let key = match field {
                    "active_metric" | "standby_metric" | "drain_metric" => field.to_string(),
                    other => other.to_string(),
                };
                return (format!("anycast[{i}].{key}"), reason.to_string());
            }
            return (format!("anycast[{i}]"), rest.to_string());
        }
    }
    (
        "anycast".into(),
        m.trim_start_matches("invalid configuration: ").into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"name = "east"
router_id = "1.1.1.1"
l2tp_secret = "s3cret"
loopback = ["2001:db8:1::1"]
ospf_auth_key = "0123456789abcdef"

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

[[anycast.check]]
name = "http"
kind = { http_get = { addr = "[::1]:8080", path = "/", expect_status = 200 } }
"#;

    fn one(text: &str) -> Problem {
        let mut p = check_text(text).expect_err("must be refused");
        assert_eq!(p.len(), 1, "{p:?}");
        p.remove(0)
    }

    #[test]
    fn good_file_passes() {
        check_text(GOOD).unwrap();
    }

    #[test]
    fn unknown_key_is_located() {
        let p = one(&GOOD.replace("tap = \"pw-west\"", "tap = \"pw-west\"\ninitiat = true"));
        assert_eq!(p.line, Some(17));
        assert_eq!(p.field, "peer[1].initiat");
        assert!(
            p.message.starts_with("unknown field `initiat`"),
            "{}",
            p.message
        );
    }

    #[test]
    fn duplicate_peer_and_spi_are_located() {
        let dup = GOOD.replace("name = \"west\"", "name = \"client\"");
        let p = one(&dup);
        assert_eq!((p.line, p.field.as_str()), (Some(13), "peer[1].name"));
        assert_eq!(
            p.message,
            "duplicate peer name \"client\", also peer[0] (line 8)"
        );
        let spi = format!(
            "{GOOD}\n[[peer]]\nname = \"north\"\naddress = \"10.0.4.2:4500\"\ntap = \"pw-north\"\n\
             esp = {{ spi_out = 4098, spi_in = 8194, insecure_static_keys = true, key_out = \"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f\", key_in = \"303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f\" }}\n"
        );
        let p = one(&spi);
        assert_eq!(p.field, "peer[2].esp.spi_in");
        assert_eq!(p.line, Some(30));
        assert_eq!(p.message, "duplicate SPI 8194, also peer[1] (line 17)");
    }

    #[test]
    fn secrets_are_never_echoed() {
        let bad_hex = GOOD.replace(
            "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
            "zz-secret-zz",
        );
        let p = one(&bad_hex);
        assert_eq!(p.field, "peer[1].esp.key_in");
        assert!(!p.message.contains("zz-secret-zz"), "{}", p.message);
        let wrong_type = GOOD.replace("l2tp_secret = \"s3cret\"", "l2tp_secret = 4711");
        let p = one(&wrong_type);
        assert_eq!((p.line, p.field.as_str()), (Some(3), "l2tp_secret"));
        assert!(!p.message.contains("4711"), "{}", p.message);
        let unterminated = GOOD.replace("\"s3cret\"", "\"s3cret");
        let p = one(&unterminated);
        assert_eq!(p.field, "syntax");
        assert!(!p.message.contains("s3cret"), "{}", p.message);
    }

    #[test]
    fn overlapping_prefixes_and_loopback() {
        let two = format!("{GOOD}\n[[anycast]]\nprefix = \"2001:db8:aa::/64\"\n");
        let p = one(&two);
        assert_eq!(p.field, "anycast[1].prefix");
        assert!(
            p.message.contains("overlaps anycast[0].prefix"),
            "{}",
            p.message
        );
        let lo = GOOD.replace("2001:db8:1::1\"]", "2001:db8:aa::1\"]");
        let p = one(&lo);
        assert_eq!((p.line, p.field.as_str()), (Some(4), "loopback[0]"));
    }

    #[test]
    fn several_problems_in_file_order() {
        let text = GOOD
            .replace("tap = \"pw-west\"", "tap = \"pw-client\"")
            .replace("spi_in = 8194", "spi_in = 7");
        let p = check_text(&text).unwrap_err();
        let fields: Vec<_> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["peer[1].tap", "peer[1].esp.spi_in"]);
        let shown = Problems {
            file: "x.toml".into(),
            list: p,
        }
        .to_string();
        assert!(
            shown.starts_with("x.toml:16: peer[1].tap: duplicate TAP name"),
            "{shown}"
        );
    }

    #[test]
    fn paths_locate_nested_fields() {
        let doc = DeTable::parse(GOOD).unwrap();
        let loc = Locator {
            text: GOOD,
            doc: &doc,
        };
        assert_eq!(loc.line(&parse_path("peer[1].esp.spi_in")), Some(17));
        assert_eq!(loc.line(&parse_path("anycast[0].check[0].kind")), Some(24));
        assert_eq!(loc.line(&parse_path("peer[0].missing")), Some(7));
    }
}
