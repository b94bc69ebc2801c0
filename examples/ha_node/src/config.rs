//! The daemon's TOML configuration and its translation into a [`CoreConfig`].
//!
//! ```toml
//! name = "east"
//! router_id = "1.1.1.1"
//! listen = "0.0.0.0:1701"       # plain L2TPv3 peers
//! # esp_listen = "0.0.0.0:4500"  # ESP-in-UDP peers (RFC 3948); default: listen's IP, port 4500
//! # ike_listen = "0.0.0.0:500"   # IKEv2 (peers with `ipsec`); default: listen's IP, port 500
//! l2tp_secret = "change-me"
//! loopback = ["2001:db8:1::1"]
//!
//! [ospf]
//! hello = 1
//! dead = 4
//! cost = 10
//! mtu = 1360
//!
//! [bfd]                       # BFD for every OSPFv3 neighbor (RFC 5880/5881/5882)
//! enabled = true
//! interval_ms = 50            # Desired Min TX = Required Min RX
//! multiplier = 5              # detection in 5 x 50 ms = 250 ms
//!
//! [[peer]]
//! name = "client"
//! address = "10.0.1.2:1701"
//! initiate = false
//! tap = "pw-client"
//! # [peer.bfd]                # per-peer override, same keys
//! # enabled = false
//!
//! [[peer]]                    # a protected peer: ESP keyed by IKEv2 (RFC 7296)
//! name = "west"
//! address = "10.0.3.2:4500"   # its ESP-in-UDP socket
//! initiate = true
//! tap = "pw-west"
//! ipsec = { psk_file = "/etc/ha_node/west.psk", proposals = ["aes128gcm16-prfsha256-x25519"] }
//!
//! [[anycast]]
//! prefix = "2001:db8:aa::1/128"
//! preference = 0
//!
//! [[anycast.check]]
//! name = "http"
//! kind = { http_get = { addr = "[::1]:8080", path = "/", expect_status = 200 } }
//! interval_ms = 1000
//! timeout_ms = 500
//! rise = 3
//! fall = 3
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anycast_failover::{CheckKind, CheckSpec, Mode, NodeConfig, Preempt, PrefixConfig, RouterId};
use serde::Deserialize;

use crate::core::{BfdSettings, CoreConfig, OspfTimers, PeerSpec};
use crate::esp::{EspConfig, EspPeer};
use crate::security::{self, OspfAuth, RouteFilter, Secret};

/// Largest `shutdown_grace_s`, `settle_s` and `preempt_after_s` (one day): larger
/// values would overflow the clock arithmetic of the policy.
pub const MAX_POLICY_DELAY_S: u64 = 86_400;

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML did not parse or did not match the schema. Rendered with its
    /// position and, unless the line may hold a secret, the parser's message; never
    /// with the offending line itself.
    #[error("parsing the configuration{}: {message}", at.map(|(l, c)| format!(" at line {l}, column {c}")).unwrap_or_default())]
    Toml {
        /// Line and column (1-based) of the error, when known.
        at: Option<(usize, usize)>,
        /// The parser's message, or a note that it was withheld.
        message: String,
    },
    /// A key file or the configuration file is unusable (unreadable, or readable
    /// by group or others while holding secrets).
    #[error(transparent)]
    File(#[from] security::FileError),
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Node name (L2TPv3 Host Name, logs).
    pub name: String,
    /// OSPFv3 Router ID (also the L2TPv3 Router ID).
    pub router_id: Ipv4Addr,
    /// Underlay UDP socket of the peers without ESP (L2TPv3 over UDP), usually
    /// `0.0.0.0:1701`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Underlay UDP socket of the peers with ESP (ESP-in-UDP, RFC 3948); absent:
    /// `listen`'s IP address with port 4500. See [`Config::esp_listen`].
    #[serde(default, rename = "esp_listen")]
    pub esp_listen_addr: Option<SocketAddr>,
    /// IKE socket of the peers with `ipsec` (IKEv2 starts on it, RFC 7296 2.23);
    /// absent: `listen`'s IP address with port 500. See [`Config::ike_listen`].
    #[serde(default, rename = "ike_listen")]
    pub ike_listen_addr: Option<SocketAddr>,
    /// L2TPv3 control message authentication secret (both ends must agree;
    /// redacted in `Debug`). Required unless every peer has ESP or
    /// `insecure_no_l2tp_auth` is set.
    #[serde(default)]
    pub l2tp_secret: Option<Secret>,
    /// A file holding the L2TPv3 secret instead (mode 0600 or stricter; one
    /// trailing newline ignored).
    #[serde(default)]
    pub l2tp_secret_file: Option<PathBuf>,
    /// Run peers without ESP and without an L2TPv3 secret (anyone who can send
    /// from a peer's address can then set up its pseudowire). Default false.
    #[serde(default)]
    pub insecure_no_l2tp_auth: bool,
    /// RFC 7166 authentication key of OSPFv3 on the pseudowires (HMAC-SHA-256),
    /// separate from the L2TPv3 secret. Required while the built-in OSPFv3 runs,
    /// unless `insecure_no_ospf_auth` is set.
    #[serde(default)]
    pub ospf_auth_key: Option<Secret>,
    /// A file holding the OSPFv3 key instead (mode 0600 or stricter).
    #[serde(default)]
    pub ospf_auth_key_file: Option<PathBuf>,
    /// Run OSPFv3 on the pseudowires without authentication. Default false.
    #[serde(default)]
    pub insecure_no_ospf_auth: bool,
    /// What learned routes may be installed in the kernel.
    #[serde(default)]
    pub routes: RoutesSection,
    /// Host addresses of this node: put on the loopback and always advertised.
    #[serde(default)]
    pub loopback: Vec<Ipv6Addr>,
    /// Name of the loopback device.
    #[serde(default = "default_lo")]
    pub loopback_device: String,
    /// OSPFv3 settings of the pseudowire interfaces.
    #[serde(default)]
    pub ospf: OspfSection,
    /// L2TPv3 liveness and reconnection.
    #[serde(default)]
    pub l2tp: L2tpSection,
    /// Address of the Prometheus metrics endpoint (`GET /metrics`), e.g.
    /// `"[::1]:9469"`; absent (default): no endpoint ([`crate::metrics`]).
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// BFD defaults of every peer's OSPFv3 neighbors.
    #[serde(default)]
    pub bfd: BfdSection,
    /// `[dataplane]`: the batched data plane (default on, TAP offload on).
    #[serde(default)]
    pub dataplane: crate::dataplane::DataplaneConfig,
    /// Underlay peers, one pseudowire each.
    #[serde(default, rename = "peer")]
    pub peers: Vec<PeerSection>,
    /// Anycast prefixes served by this node (servers only).
    #[serde(default)]
    pub anycast: Vec<AnycastSection>,
    /// The control socket of `ha_node ctl` ([`crate::control`]).
    #[serde(default)]
    pub control: crate::control::ControlSection,
    /// Pins the protocol randomness to a seed, for reproducing a run in tests; only
    /// accepted with `insecure_fixed_seed = true`. Without it every generator is a
    /// ChaCha12 seeded with 256 bits from the operating system.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Allow `seed` (predictable connection and session IDs, cookies, nonces:
    /// testing only). Default false.
    #[serde(default)]
    pub insecure_fixed_seed: bool,
}

/// `[l2tp]`: liveness of the control connections and pseudowires, reconnection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L2tpSection {
    /// HELLO interval of the control connections, seconds (RFC 3931 6.5). Default 10.
    #[serde(default = "default_l2tp_hello")]
    pub hello_s: u64,
    /// Seconds without data on a pseudowire after which its control connection is
    /// closed (a peer that crashed or restarted; the initiating side reconnects).
    /// Data counts as liveness. Absent (default): twice the OSPFv3 dead interval
    /// while OSPFv3 runs (its hellos keep a live pseudowire busy), off otherwise;
    /// 0: off.
    #[serde(default)]
    pub silence_s: Option<u64>,
    /// First reconnection delay, milliseconds; doubled after each failure. Default 500.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    /// Longest reconnection delay, seconds. Default 30.
    #[serde(default = "default_reconnect_max_s")]
    pub reconnect_max_s: u64,
}

fn default_l2tp_hello() -> u64 {
    10
}
fn default_reconnect_min_ms() -> u64 {
    500
}
fn default_reconnect_max_s() -> u64 {
    30
}

impl Default for L2tpSection {
    fn default() -> Self {
        L2tpSection {
            hello_s: default_l2tp_hello(),
            silence_s: None,
            reconnect_min_ms: default_reconnect_min_ms(),
            reconnect_max_s: default_reconnect_max_s(),
        }
    }
}

impl L2tpSection {
    /// The core's timers, given whether OSPFv3 runs and its dead interval.
    pub fn timers(&self, ospf: &OspfSection) -> Result<crate::core::L2tpTimers, ConfigError> {
        if !(1..=3600).contains(&self.hello_s) {
            return Err(ConfigError::Invalid(format!(
                "l2tp.hello_s: {} is outside 1..=3600",
                self.hello_s
            )));
        }
        if !(10..=60_000).contains(&self.reconnect_min_ms) {
            return Err(ConfigError::Invalid(format!(
                "l2tp.reconnect_min_ms: {} is outside 10..=60000",
                self.reconnect_min_ms
            )));
        }
        if !(1..=3600).contains(&self.reconnect_max_s) {
            return Err(ConfigError::Invalid(format!(
                "l2tp.reconnect_max_s: {} is outside 1..=3600",
                self.reconnect_max_s
            )));
        }
        let silence = match self.silence_s {
            Some(0) => None,
            Some(s) if s > 3600 => {
                return Err(ConfigError::Invalid(format!(
                    "l2tp.silence_s: {s} is above 3600"
                )));
            }
            Some(s) => Some(std::time::Duration::from_secs(s)),
            None if ospf.enabled => Some(std::time::Duration::from_secs(
                2 * u64::from(ospf.dead.max(1)),
            )),
            None => None,
        };
        Ok(crate::core::L2tpTimers {
            hello: std::time::Duration::from_secs(self.hello_s),
            silence,
            reconnect_min: std::time::Duration::from_millis(self.reconnect_min_ms),
            reconnect_max: std::time::Duration::from_secs(self.reconnect_max_s),
        })
    }
}

/// `[routes]`: the filter between OSPFv3 and the kernel's routing table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutesSection {
    /// Prefixes a learned route must lie within (default `["2000::/3", "fc00::/7"]`).
    #[serde(default = "d_allow")]
    pub allow: Vec<String>,
    /// Install a learned default route `::/0` (default false; `allow` must cover it).
    #[serde(default)]
    pub allow_default: bool,
    /// Most routes installed at once (default 10000); more are refused and counted.
    #[serde(default = "d_max_routes")]
    pub max: usize,
}

fn d_allow() -> Vec<String> {
    vec!["2000::/3".into(), "fc00::/7".into()]
}

fn d_max_routes() -> usize {
    security::DEFAULT_MAX_ROUTES
}

impl Default for RoutesSection {
    fn default() -> Self {
        RoutesSection {
            allow: d_allow(),
            allow_default: false,
            max: d_max_routes(),
        }
    }
}

/// `esp = { ... }` of a peer: ESP with static keys, SPIs and keys (inline hex, or
/// files holding the hex). Only for the CBC + HMAC suites and only with
/// `insecure_static_keys = true`: static keys restart their sequence numbers with
/// the daemon, so a restarted receiver accepts replayed packets and a restarted
/// sender is refused by its peer's anti-replay window. Key peers with `ipsec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspSection {
    /// SPI of the SA we send with (the peer's `spi_in`).
    pub spi_out: u32,
    /// SPI of the SA we receive with (the peer's `spi_out`).
    pub spi_in: u32,
    /// The suite: `aes128-sha256` (default), `aes256-sha256`, `aes128-sha1`,
    /// `aes256-sha1`. AES-GCM and ChaCha20-Poly1305 are refused with static keys
    /// (RFC 4106 section 2, RFC 7634 section 2).
    #[serde(default = "d_static_suite")]
    pub suite: String,
    /// Must be true: the operator accepts the replay exposure described above.
    #[serde(default)]
    pub insecure_static_keys: bool,
    /// Outbound key material, hex (encryption key, then integrity key: 16 + 32
    /// bytes for `aes128-sha256`).
    #[serde(default)]
    pub key_out: Option<Secret>,
    /// Inbound key material, hex.
    #[serde(default)]
    pub key_in: Option<Secret>,
    /// File holding `key_out` instead (mode 0600 or stricter).
    #[serde(default)]
    pub key_out_file: Option<PathBuf>,
    /// File holding `key_in` instead.
    #[serde(default)]
    pub key_in_file: Option<PathBuf>,
}

fn d_static_suite() -> String {
    "aes128-sha256".into()
}

/// The ESP suite a static `esp.suite` names.
fn static_suite(name: &str) -> Result<ipsec_lite::Suite, String> {
    use ipsec_lite::Suite;
    Ok(match name {
        "aes128-sha256" => Suite::AesCbc128HmacSha256,
        "aes256-sha256" => Suite::AesCbc256HmacSha256,
        "aes128-sha1" => Suite::AesCbc128HmacSha1,
        "aes256-sha1" => Suite::AesCbc256HmacSha1,
        "aes128gcm16" | "aes128-gcm" => Suite::AesGcm128,
        "aes256gcm16" | "aes256-gcm" => Suite::AesGcm256,
        "chacha20poly1305" => Suite::ChaCha20Poly1305,
        other => return Err(format!("unknown suite {other:?}")),
    })
}

/// `ipsec = { ... }` of a peer: ESP keyed by IKEv2 (RFC 7296) with a pre-shared key.
/// IKE starts on UDP 500 (`ike_listen`) and moves to the ESP-in-UDP socket (4500)
/// after IKE_SA_INIT; the CHILD SA protects L2TPv3 (IP protocol 115) between the
/// two underlay addresses in transport mode, in UDP (RFC 3948).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpsecSection {
    /// The pre-shared key (both ends the same; at least 16 bytes).
    #[serde(default)]
    pub psk: Option<Secret>,
    /// A file holding the pre-shared key instead (mode 0600 or stricter).
    #[serde(default)]
    pub psk_file: Option<PathBuf>,
    /// IKE proposals in order of preference (`ikev2::crypto::IkeSuite` text:
    /// `encryption-[integrity-][prf-]group`).
    #[serde(default = "d_ike_proposals")]
    pub proposals: Vec<String>,
    /// ESP proposals in order of preference (`encryption-[integrity-][pfs group-][esn]`).
    #[serde(default = "d_esp_proposals")]
    pub esp_proposals: Vec<String>,
    /// Our identity: an IP address or a host name (FQDN); default our address.
    #[serde(default)]
    pub local_id: Option<String>,
    /// The identity the peer must present; default its address.
    #[serde(default)]
    pub remote_id: Option<String>,
    /// Rekey the CHILD SA after this many seconds (default 3600).
    #[serde(default = "d_child_rekey")]
    pub rekey_s: u64,
    /// Rekey the CHILD SA after this many packets in either direction, on
    /// `ipsec-lite`'s soft lifetime (default 2^31).
    #[serde(default = "d_rekey_packets")]
    pub rekey_packets: u64,
    /// Rekey the IKE SA after this many seconds (default 14400).
    #[serde(default = "d_ike_rekey")]
    pub ike_rekey_s: u64,
    /// Liveness check after this many seconds without a message from the peer
    /// (default 10; 0 turns it off).
    #[serde(default = "d_dpd")]
    pub dpd_s: u64,
}

fn d_ike_proposals() -> Vec<String> {
    vec![
        "aes128gcm16-prfsha256-x25519".into(),
        "aes128-sha256-ecp256".into(),
    ]
}
fn d_esp_proposals() -> Vec<String> {
    vec!["aes128gcm16-esn".into(), "aes128-sha256-esn".into()]
}
fn d_child_rekey() -> u64 {
    3600
}
fn d_rekey_packets() -> u64 {
    1 << 31
}
fn d_ike_rekey() -> u64 {
    4 * 3600
}
fn d_dpd() -> u64 {
    10
}

/// Shortest pre-shared key accepted (RFC 7296 2.15 asks for keys as strong as the
/// negotiated PRF's key; 16 bytes is a floor, not a recommendation).
pub const MIN_PSK_LEN: usize = 16;

/// A peer's IKEv2 settings, checked: what [`crate::ike::IkeNode`] runs with.
#[derive(Debug, Clone)]
pub struct IpsecConfig {
    /// The pre-shared key.
    pub psk: Secret,
    /// IKE proposals.
    pub ike: Vec<ikev2::crypto::IkeSuite>,
    /// ESP proposals.
    pub esp: Vec<ikev2::crypto::EspSuite>,
    /// Our identity (default: our address towards the peer).
    pub local_id: Option<ikev2::wire::IdPayload>,
    /// The peer's identity.
    pub remote_id: ikev2::wire::IdPayload,
    /// CHILD SA rekey time.
    pub rekey: Duration,
    /// CHILD SA soft lifetime in packets.
    pub rekey_packets: u64,
    /// IKE SA rekey time.
    pub ike_rekey: Duration,
    /// Liveness check interval.
    pub dpd: Option<Duration>,
}

/// An IKEv2 identity from text: an IP address, else a host name (FQDN).
fn ike_id(s: &str) -> ikev2::wire::IdPayload {
    match s.parse::<IpAddr>() {
        Ok(a) => ikev2::wire::IdPayload::ip(a),
        Err(_) => ikev2::wire::IdPayload::fqdn(s),
    }
}

/// The secret given inline or in a file (not both); `None` when neither.
fn secret_from(
    what: &str,
    inline: &Option<Secret>,
    file: &Option<PathBuf>,
) -> Result<Option<Secret>, ConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(ConfigError::Invalid(format!(
            "{what}: give it inline or in a file, not both"
        ))),
        (Some(s), None) => Ok(Some(s.clone())),
        (None, Some(f)) => Ok(Some(security::read_key_file(f)?)),
        (None, None) => Ok(None),
    }
}

/// Whether a TOML line may carry a secret (then its parse error is not echoed).
fn may_hold_secret(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    ["secret", "key", "esp", "psk", "ipsec"]
        .iter()
        .any(|w| l.contains(w))
}

/// A TOML error without the offending line: position, and the message unless the
/// line may hold a secret (a message can quote the value).
fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let at = e.span().map(|span| {
        let before = &text.as_bytes()[..span.start.min(text.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
        (line, col)
    });
    let line_text = at
        .and_then(|(l, _)| text.lines().nth(l - 1))
        .unwrap_or_default();
    let message = if at.is_none() || may_hold_secret(line_text) {
        "details withheld (the line may hold a secret)".to_string()
    } else {
        e.message().trim_end().to_string()
    };
    ConfigError::Toml { at, message }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 1701))
}

/// The NAT-T port ESP-in-UDP uses (RFC 3948).
pub const ESP_PORT: u16 = 4500;

/// The IKE port (RFC 7296 2).
pub const IKE_PORT: u16 = 500;

fn default_lo() -> String {
    "lo".into()
}

/// `[ospf]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OspfSection {
    /// HelloInterval, seconds.
    #[serde(default = "d_hello")]
    pub hello: u16,
    /// RouterDeadInterval, seconds.
    #[serde(default = "d_dead")]
    pub dead: u16,
    /// Interface cost.
    #[serde(default = "d_cost")]
    pub cost: u16,
    /// MTU of the TAP devices and of the OSPFv3 interfaces.
    #[serde(default = "d_mtu")]
    pub mtu: u16,
    /// RFC 7166 Security Association ID of the pseudowire interfaces (default 1).
    #[serde(default = "d_sa_id")]
    pub auth_sa_id: u16,
    /// Run the built-in OSPFv3 engine (default). `false`: only terminate the
    /// pseudowires on the TAP devices and let another router run OSPFv3 on them.
    #[serde(default = "d_enabled")]
    pub enabled: bool,
}

fn d_enabled() -> bool {
    true
}

fn d_sa_id() -> u16 {
    1
}

fn d_hello() -> u16 {
    1
}
fn d_dead() -> u16 {
    4
}
fn d_cost() -> u16 {
    10
}
/// 1360: a full frame (+ 14 bytes of Ethernet) with the largest L2TPv3 data header
/// (20 bytes: UDP flags word, Session ID, 8-byte cookie, sublayer), the largest ESP
/// overhead of the suites offered (AES-CBC + HMAC-SHA-256: 57 bytes), UDP (8) and
/// IPv6 (40) fits a 1500-byte underlay: 1360 + 14 + 20 + 57 + 8 + 40 = 1499.
fn d_mtu() -> u16 {
    1360
}

impl Default for OspfSection {
    fn default() -> Self {
        OspfSection {
            hello: d_hello(),
            dead: d_dead(),
            cost: d_cost(),
            mtu: d_mtu(),
            auth_sa_id: d_sa_id(),
            enabled: true,
        }
    }
}

/// `[bfd]`, and `[peer.bfd]` (each key absent there: the `[bfd]` value).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BfdSection {
    /// Run BFD (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Desired Min TX = Required Min RX once Up, milliseconds (default 50).
    #[serde(default)]
    pub interval_ms: Option<u64>,
    /// Detect Mult (default 5).
    #[serde(default)]
    pub multiplier: Option<u8>,
}

impl BfdSection {
    /// These settings over `base`, validated.
    pub fn resolve(&self, base: BfdSettings) -> Result<BfdSettings, ConfigError> {
        let s = BfdSettings {
            enabled: self.enabled.unwrap_or(base.enabled),
            interval: self
                .interval_ms
                .map_or(base.interval, Duration::from_millis),
            multiplier: self.multiplier.unwrap_or(base.multiplier),
        };
        if s.multiplier == 0 {
            return Err(ConfigError::Invalid("bfd: multiplier must be 1-255".into()));
        }
        if s.interval.is_zero() || s.interval > Duration::from_secs(60) {
            return Err(ConfigError::Invalid(
                "bfd: interval_ms must be 1-60000".into(),
            ));
        }
        Ok(s)
    }
}

/// `[[peer]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSection {
    /// Name for logs.
    pub name: String,
    /// The peer's underlay UDP address: its L2TPv3 socket (usually port 1701), or,
    /// with `esp`, its ESP-in-UDP socket (usually port 4500).
    pub address: SocketAddr,
    /// Whether this node opens the control connection and the session.
    #[serde(default)]
    pub initiate: bool,
    /// Name of the TAP device of this pseudowire (at most 15 bytes).
    pub tap: String,
    /// ESP with static keys (CBC + HMAC suites, `insecure_static_keys` only).
    #[serde(default)]
    pub esp: Option<EspSection>,
    /// ESP keyed by IKEv2 with a pre-shared key: the way to protect a peer.
    #[serde(default)]
    pub ipsec: Option<IpsecSection>,
    /// BFD override for this peer (`enabled = false` turns it off here).
    #[serde(default)]
    pub bfd: BfdSection,
    /// Derive the OSPFv3 authentication key as FRRouting 8.4's ospf6d does, for a
    /// peer running it (default false: RFC 7166).
    #[serde(default)]
    pub ospf_auth_frr_compat: bool,
}

impl PeerSection {
    /// Whether everything exchanged with this peer is ESP (static keys or IKEv2).
    pub fn protected(&self) -> bool {
        self.esp.is_some() || self.ipsec.is_some()
    }
}

impl Config {
    /// Bytes the underlay carries for a full frame to peer `p`, IP header aside:
    /// the TAP MTU, the Ethernet header, the largest L2TPv3 data header, ESP's
    /// largest overhead among the suites the peer may use, and UDP.
    pub fn underlay_payload(&self, p: &PeerSection) -> usize {
        let esp = match (&p.esp, &p.ipsec) {
            (Some(e), _) => static_suite(&e.suite)
                .map(|s| crate::esp::max_overhead([s]))
                .unwrap_or(0),
            (None, Some(x)) => crate::esp::max_overhead(
                x.esp_proposals
                    .iter()
                    .filter_map(|t| t.parse::<ikev2::crypto::EspSuite>().ok())
                    .filter_map(|s| s.ipsec_lite_suite()),
            ),
            (None, None) => 0,
        };
        usize::from(self.ospf.mtu) + 14 + l2tpv3::MAX_DATA_HEADER_LEN + esp + 8
    }
}

/// `[[anycast]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnycastSection {
    /// The anycast prefix, usually a /128.
    pub prefix: String,
    /// Preference within the bands (0 is best).
    #[serde(default)]
    pub preference: u32,
    /// Metric while active.
    #[serde(default = "d_active")]
    pub active_metric: u32,
    /// Metric while standby.
    #[serde(default = "d_standby")]
    pub standby_metric: u32,
    /// Preempt after this many seconds of health (absent: never preempt).
    #[serde(default)]
    pub preempt_after_s: Option<u64>,
    /// Seconds between withdrawal and address removal on shutdown.
    #[serde(default = "d_grace")]
    pub shutdown_grace_s: u64,
    /// Seconds a new standby waits before claiming the active role.
    #[serde(default = "d_settle")]
    pub settle_s: u64,
    /// Seconds a drained prefix keeps advertising the drain metric before it is
    /// withdrawn (`ha_node ctl drain`).
    #[serde(default = "d_drain")]
    pub drain_period_s: u64,
    /// Health checks.
    #[serde(default, rename = "check")]
    pub checks: Vec<CheckSection>,
}

fn d_active() -> u32 {
    10
}
fn d_standby() -> u32 {
    20
}
fn d_grace() -> u64 {
    5
}
fn d_settle() -> u64 {
    5
}
fn d_drain() -> u64 {
    30
}

/// `[[anycast.check]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSection {
    /// Name for logs.
    pub name: String,
    /// What to run, in the failover crate's own terms.
    pub kind: CheckKind,
    /// Milliseconds between probe starts.
    #[serde(default = "d_interval")]
    pub interval_ms: u64,
    /// Milliseconds before a probe counts as timed out.
    #[serde(default = "d_timeout")]
    pub timeout_ms: u64,
    /// Consecutive passes to come up.
    #[serde(default = "d_rise")]
    pub rise: u32,
    /// Consecutive failures to go down.
    #[serde(default = "d_fall")]
    pub fall: u32,
}

fn d_interval() -> u64 {
    1000
}
fn d_timeout() -> u64 {
    500
}
fn d_rise() -> u32 {
    3
}
fn d_fall() -> u32 {
    3
}

impl Config {
    /// Reads and parses a file. A file holding a secret inline must not be readable
    /// by group or others.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            ConfigError::Read {
                path: path.display().to_string(),
                source,
            }
        })?);
        let cfg = Self::parse(&text)?;
        if cfg.has_inline_secrets() {
            security::check_private(path)?;
        }
        Ok(cfg)
    }

    /// Whether a secret is written in the configuration itself (not in key files).
    pub fn has_inline_secrets(&self) -> bool {
        self.l2tp_secret.is_some()
            || self.ospf_auth_key.is_some()
            || self.peers.iter().any(|p| {
                p.esp
                    .as_ref()
                    .is_some_and(|e| e.key_out.is_some() || e.key_in.is_some())
                    || p.ipsec.as_ref().is_some_and(|i| i.psk.is_some())
            })
    }

    /// The L2TPv3 secret, inline or from its file.
    pub fn l2tp_secret(&self) -> Result<Option<Secret>, ConfigError> {
        secret_from("l2tp_secret", &self.l2tp_secret, &self.l2tp_secret_file)
    }

    /// The OSPFv3 authentication (key inline or from its file); `None` when the
    /// built-in OSPFv3 is off or `insecure_no_ospf_auth` is set.
    pub fn ospf_auth(&self) -> Result<Option<OspfAuth>, ConfigError> {
        if !self.ospf.enabled || self.insecure_no_ospf_auth {
            return Ok(None);
        }
        let key = secret_from(
            "ospf_auth_key",
            &self.ospf_auth_key,
            &self.ospf_auth_key_file,
        )?
        .ok_or_else(|| ConfigError::Invalid("ospf_auth_key: missing".into()))?;
        if key.is_empty() {
            return Err(ConfigError::Invalid("ospf_auth_key: empty".into()));
        }
        // The high half of the RFC 7166 sequence number: the start time, which grows
        // from run to run, so neighbors never see a sequence number go back.
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(Some(OspfAuth {
            sa_id: self.ospf.auth_sa_id,
            key,
            seq_high: Some(u32::try_from(secs).unwrap_or(u32::MAX - 1)),
        }))
    }

    /// The route filter: `[routes]`, with the node's underlay addresses protected.
    pub fn route_filter(&self) -> Result<RouteFilter, ConfigError> {
        let allow = self
            .routes
            .allow
            .iter()
            .map(|a| {
                let p: anycast_failover::Ipv6Prefix = a
                    .parse()
                    .map_err(|e| ConfigError::Invalid(format!("routes.allow: {a:?}: {e}")))?;
                Ok(crate::core::to_ospf_prefix(p))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let mut protected: Vec<Ipv6Addr> = self.loopback.clone();
        let underlay = [self.listen, self.esp_listen()]
            .into_iter()
            .chain(self.peers.iter().map(|p| p.address));
        for a in underlay {
            match a.ip() {
                IpAddr::V6(v6) if !v6.is_unspecified() => protected.push(v6),
                IpAddr::V4(v4) if !v4.is_unspecified() => protected.push(v4.to_ipv6_mapped()),
                _ => {}
            }
        }
        Ok(RouteFilter {
            allow,
            allow_default: self.routes.allow_default,
            protected,
            max_routes: self.routes.max,
        })
    }

    /// Index of a peer section, for messages.
    fn peer_index(&self, p: &PeerSection) -> usize {
        self.peers
            .iter()
            .position(|q| std::ptr::eq(q, p))
            .unwrap_or(0)
    }

    /// The static ESP settings of a peer, keys inline or from their files.
    fn esp_config(&self, p: &PeerSection) -> Result<Option<EspConfig>, ConfigError> {
        let Some(e) = &p.esp else { return Ok(None) };
        let i = self.peer_index(p);
        let what = |k: &str| format!("peer[{i}].esp.{k}");
        let key_out = secret_from(&what("key_out"), &e.key_out, &e.key_out_file)?
            .ok_or_else(|| ConfigError::Invalid(format!("{} missing", what("key_out"))))?;
        let key_in = secret_from(&what("key_in"), &e.key_in, &e.key_in_file)?
            .ok_or_else(|| ConfigError::Invalid(format!("{} missing", what("key_in"))))?;
        let suite = static_suite(&e.suite)
            .map_err(|m| ConfigError::Invalid(format!("{}: {m}", what("suite"))))?;
        Ok(Some(EspConfig {
            spi_out: e.spi_out,
            spi_in: e.spi_in,
            suite,
            key_out,
            key_in,
        }))
    }

    /// The IKEv2 settings of a peer, the key inline or from its file.
    pub fn ipsec_config(&self, p: &PeerSection) -> Result<Option<IpsecConfig>, ConfigError> {
        let Some(x) = &p.ipsec else { return Ok(None) };
        let i = self.peer_index(p);
        let what = |k: &str| format!("peer[{i}].ipsec.{k}");
        let psk = secret_from(&what("psk"), &x.psk, &x.psk_file)?.ok_or_else(|| {
            ConfigError::Invalid(format!("{}: missing (or psk_file)", what("psk")))
        })?;
        if psk.expose().len() < MIN_PSK_LEN {
            return Err(ConfigError::Invalid(format!(
                "{}: {} bytes, at least {MIN_PSK_LEN}",
                what("psk"),
                psk.expose().len()
            )));
        }
        let ike = x
            .proposals
            .iter()
            .map(|t| {
                t.parse::<ikev2::crypto::IkeSuite>()
                    .map_err(|e| ConfigError::Invalid(format!("{}: {t:?}: {e}", what("proposals"))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let esp = x
            .esp_proposals
            .iter()
            .map(|t| {
                let s = t.parse::<ikev2::crypto::EspSuite>().map_err(|e| {
                    ConfigError::Invalid(format!("{}: {t:?}: {e}", what("esp_proposals")))
                })?;
                s.ipsec_lite_suite().map(|_| s).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "{}: {t:?}: no ESP implementation for this suite",
                        what("esp_proposals")
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if ike.is_empty() || esp.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "{}: proposals and esp_proposals must not be empty",
                what("proposals")
            )));
        }
        let bounded = |k: &str, v: u64| {
            if (1..=MAX_POLICY_DELAY_S).contains(&v) {
                Ok(Duration::from_secs(v))
            } else {
                Err(ConfigError::Invalid(format!(
                    "{}: 1..={MAX_POLICY_DELAY_S} seconds",
                    what(k)
                )))
            }
        };
        Ok(Some(IpsecConfig {
            psk,
            ike,
            esp,
            local_id: x.local_id.as_deref().map(ike_id),
            remote_id: ike_id(
                &x.remote_id
                    .clone()
                    .unwrap_or_else(|| p.address.ip().to_string()),
            ),
            rekey: bounded("rekey_s", x.rekey_s)?,
            rekey_packets: x.rekey_packets.max(1),
            ike_rekey: bounded("ike_rekey_s", x.ike_rekey_s)?,
            dpd: match x.dpd_s {
                0 => None,
                s => Some(bounded("dpd_s", s)?),
            },
        }))
    }

    /// The SAs of a protected peer: keyed statically now, or empty for IKEv2 to key.
    pub fn esp_peer(&self, p: &PeerSection) -> Result<Option<Arc<EspPeer>>, ConfigError> {
        let i = self.peer_index(p);
        if let Some(e) = self.esp_config(p)? {
            let peer = EspPeer::with_static(std::time::Instant::now(), p.address.ip(), &e)
                .map_err(|e| {
                    let field = match e {
                        crate::esp::EspError::KeyHex(k, _)
                        | crate::esp::EspError::KeyLength(k, ..) => {
                            format!("peer[{i}].esp.{k}")
                        }
                        _ => format!("peer[{i}].esp"),
                    };
                    ConfigError::Invalid(format!("{field}: {e}"))
                })?;
            return Ok(Some(Arc::new(peer)));
        }
        Ok(self.ipsec_config(p)?.map(|x| {
            let suite = x.esp[0]
                .ipsec_lite_suite()
                .unwrap_or(ipsec_lite::Suite::AesGcm128);
            Arc::new(EspPeer::new(p.address.ip(), suite))
        }))
    }

    /// The address of the IKE socket: `ike_listen`, else `listen`'s IP address with
    /// port 500.
    pub fn ike_listen(&self) -> SocketAddr {
        self.ike_listen_addr
            .unwrap_or_else(|| SocketAddr::new(self.listen.ip(), IKE_PORT))
    }

    /// The address of the ESP-in-UDP socket: `esp_listen`, else `listen`'s IP address
    /// with port 4500.
    pub fn esp_listen(&self) -> SocketAddr {
        self.esp_listen_addr
            .unwrap_or_else(|| SocketAddr::new(self.listen.ip(), ESP_PORT))
    }

    /// Parses TOML text and checks it.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        cfg.check_security()?;
        cfg.l2tp.timers(&cfg.ospf)?;
        let esp_listen = cfg.esp_listen();
        if esp_listen.port() == cfg.listen.port() {
            return Err(ConfigError::Invalid(format!(
                "esp_listen {esp_listen} and listen {} need different ports",
                cfg.listen
            )));
        }
        for p in &cfg.peers {
            if p.tap.is_empty() || p.tap.len() > 15 {
                return Err(ConfigError::Invalid(format!(
                    "peer {}: TAP name {:?} must be 1..=15 bytes",
                    p.name, p.tap
                )));
            }
            // Until ESP moved to its own socket, ESP peers were addressed at the L2TPv3
            // port; such a configuration would now send ESP to the peer's L2TPv3
            // socket and never match the replies from its ESP socket.
            if p.esp.is_some() && p.ipsec.is_some() {
                return Err(ConfigError::Invalid(format!(
                    "peer {}: esp (static keys) and ipsec (IKEv2) exclude each other",
                    p.name
                )));
            }
            if p.protected() && p.address.port() == cfg.listen.port() {
                return Err(ConfigError::Invalid(format!(
                    "peer {}: ESP-in-UDP goes to the peer's ESP socket (RFC 3948), not its \
                     L2TPv3 port {}: set address = \"{}\"",
                    p.name,
                    p.address.port(),
                    SocketAddr::new(p.address.ip(), ESP_PORT)
                )));
            }
        }
        if cfg.ospf.dead <= cfg.ospf.hello {
            return Err(ConfigError::Invalid(
                "ospf.dead must be larger than ospf.hello".into(),
            ));
        }
        if !cfg.ospf.enabled && !cfg.anycast.is_empty() {
            return Err(ConfigError::Invalid(
                "anycast prefixes need the built-in OSPFv3 (ospf.enabled = true)".into(),
            ));
        }
        cfg.failover()?;
        cfg.route_filter()?;
        Ok(cfg)
    }

    /// The security rules: no fixed seed without `insecure_fixed_seed`; every peer
    /// authenticated (L2TPv3 secret or ESP) unless `insecure_no_l2tp_auth`; an
    /// OSPFv3 key unless `insecure_no_ospf_auth`; ESP keys present; health-check
    /// programs named by absolute path; policy delays bounded.
    fn check_security(&self) -> Result<(), ConfigError> {
        if self.seed.is_some() && !self.insecure_fixed_seed {
            return Err(ConfigError::Invalid(
                "seed: makes connection and session IDs, cookies and nonces predictable: \
                 it is for tests only (set insecure_fixed_seed = true to allow it); \
                 without it the daemon seeds from the operating system"
                    .into(),
            ));
        }
        let has_secret = self.l2tp_secret.is_some() || self.l2tp_secret_file.is_some();
        if !has_secret
            && !self.insecure_no_l2tp_auth
            && let Some(p) = self.peers.iter().find(|p| !p.protected())
        {
            return Err(ConfigError::Invalid(format!(
                "l2tp_secret: missing, and peer {} has no ESP: anyone able to send \
                 from its address could set up or tear down the pseudowire; set \
                 l2tp_secret (or l2tp_secret_file), or insecure_no_l2tp_auth = true",
                p.name
            )));
        }
        if self.l2tp_secret.as_ref().is_some_and(Secret::is_empty) {
            return Err(ConfigError::Invalid("l2tp_secret: empty".into()));
        }
        let has_ospf_key = self.ospf_auth_key.is_some() || self.ospf_auth_key_file.is_some();
        if self.ospf.enabled && !self.insecure_no_ospf_auth && !has_ospf_key {
            return Err(ConfigError::Invalid(
                "ospf_auth_key: missing; OSPFv3 on the pseudowires is authenticated (RFC 7166) by default: set \
                 ospf_auth_key (or ospf_auth_key_file), or insecure_no_ospf_auth = true"
                    .into(),
            ));
        }
        for (i, p) in self.peers.iter().enumerate() {
            if let Some(e) = &p.esp {
                if !e.insecure_static_keys {
                    return Err(ConfigError::Invalid(format!(
                        "peer[{i}].esp: static ESP keys restart their sequence numbers with \
                         the daemon (a restarted receiver accepts replays, a restarted \
                         sender is refused until it passes the old window); key the peer \
                         with IKEv2 (ipsec = {{ psk_file = ... }}), or set \
                         esp.insecure_static_keys = true (CBC + HMAC suites only)"
                    )));
                }
                let suite = static_suite(&e.suite)
                    .map_err(|m| ConfigError::Invalid(format!("peer[{i}].esp.suite: {m}")))?;
                if suite.is_aead() {
                    return Err(ConfigError::Invalid(format!(
                        "peer[{i}].esp.suite: {}",
                        crate::esp::EspError::StaticAead(suite)
                    )));
                }
                for (k, inline, file) in [
                    ("key_out", &e.key_out, &e.key_out_file),
                    ("key_in", &e.key_in, &e.key_in_file),
                ] {
                    if inline.is_some() == file.is_some() {
                        return Err(ConfigError::Invalid(format!(
                            "peer[{i}].esp.{k}: give esp.{k} (inline) or esp.{k}_file, \
                             exactly one"
                        )));
                    }
                }
            }
        }
        for (i, a) in self.anycast.iter().enumerate() {
            let delays = [
                ("shutdown_grace_s", Some(a.shutdown_grace_s)),
                ("settle_s", Some(a.settle_s)),
                ("preempt_after_s", a.preempt_after_s),
            ];
            for (k, v) in delays {
                if v.is_some_and(|v| v > MAX_POLICY_DELAY_S) {
                    return Err(ConfigError::Invalid(format!(
                        "anycast[{i}].{k}: at most {MAX_POLICY_DELAY_S} seconds"
                    )));
                }
            }
            for (j, c) in a.checks.iter().enumerate() {
                if let CheckKind::Command { argv } = &c.kind
                    && !argv.first().is_some_and(|p| Path::new(p).is_absolute())
                {
                    return Err(ConfigError::Invalid(format!(
                        "anycast[{i}].check[{j}].kind: check {}: the program must be an \
                         absolute path (the daemon runs as root and does not search PATH)",
                        c.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// The failover policy configuration, `None` when no anycast prefix is served.
    pub fn failover(&self) -> Result<Option<NodeConfig>, ConfigError> {
        if self.anycast.is_empty() {
            return Ok(None);
        }
        let mut prefixes = Vec::new();
        for a in &self.anycast {
            let prefix: anycast_failover::Ipv6Prefix = a
                .prefix
                .parse()
                .map_err(|e| ConfigError::Invalid(format!("anycast prefix {:?}: {e}", a.prefix)))?;
            let mut p = PrefixConfig::new(prefix);
            p.mode = Mode::ActiveStandby {
                active_metric: a.active_metric,
                standby_metric: a.standby_metric,
            };
            p.preference = a.preference;
            p.preempt = match a.preempt_after_s {
                Some(s) => Preempt::After {
                    hold_down: Duration::from_secs(s),
                },
                None => Preempt::Never,
            };
            p.shutdown_grace = Duration::from_secs(a.shutdown_grace_s);
            p.settle_delay = Duration::from_secs(a.settle_s);
            p.drain_period = Duration::from_secs(a.drain_period_s);
            for c in &a.checks {
                let mut spec = CheckSpec::new(c.name.clone(), c.kind.clone());
                spec.interval = Duration::from_millis(c.interval_ms);
                spec.timeout = Duration::from_millis(c.timeout_ms);
                spec.rise = c.rise;
                spec.fall = c.fall;
                p.checks.push(spec);
            }
            prefixes.push(p);
        }
        let node = NodeConfig::new(RouterId(u32::from(self.router_id)), prefixes);
        node.validate()
            .map_err(|e| ConfigError::Invalid(format!("failover: {e}")))?;
        Ok(Some(node))
    }

    /// The core configuration; `loopback_ifindex` is the kernel's index of the
    /// loopback device.
    pub fn core_config(
        &self,
        loopback_ifindex: u32,
    ) -> Result<CoreConfig<SocketAddr>, ConfigError> {
        let bfd = self.bfd.resolve(BfdSettings::default())?;
        let peers = self
            .peers
            .iter()
            .map(|p| {
                Ok(PeerSpec {
                    addr: p.address,
                    name: p.name.clone(),
                    initiate: p.initiate,
                    esp: self.esp_peer(p)?,
                    bfd: p.bfd.resolve(bfd)?,
                    ospf_auth_frr_compat: p.ospf_auth_frr_compat,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok(CoreConfig {
            name: self.name.clone(),
            router_id: self.router_id,
            peers,
            ospf: OspfTimers {
                hello: self.ospf.hello,
                dead: self.ospf.dead,
                cost: self.ospf.cost,
                mtu: self.ospf.mtu,
                enabled: self.ospf.enabled,
            },
            l2tp: self.l2tp.timers(&self.ospf)?,
            loopback: (
                loopback_ifindex,
                self.loopback
                    .iter()
                    .map(|a| ospfv3::Ipv6Prefix::new(*a, 128))
                    .collect(),
            ),
            policy: self.failover()?,
            l2tp_secret: self.l2tp_secret()?,
            ospf_auth: self.ospf_auth()?,
            routes: self.route_filter()?,
            seed: self.seed.filter(|_| self.insecure_fixed_seed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
name = "east"
router_id = "1.1.1.1"
l2tp_secret = "s3cret"
ospf_auth_key = "ospf-s3cret"
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
ipsec = { psk = "a test pre-shared key, 32 bytes." }

[[anycast]]
prefix = "2001:db8:aa::1/128"
preference = 0

[[anycast.check]]
name = "http"
kind = { http_get = { addr = "[::1]:8080", path = "/", expect_status = 200 } }

[[anycast.check]]
name = "script"
kind = { command = { argv = ["/bin/true"] } }
"#;

    #[test]
    fn l2tp_timers_and_metrics_listen() {
        let cfg = Config::parse(SAMPLE).unwrap();
        assert_eq!(cfg.metrics_listen, None);
        let t = cfg.core_config(1).unwrap().l2tp;
        assert_eq!(t.hello, std::time::Duration::from_secs(10));
        // Default silence: twice the OSPFv3 dead interval (4 s) while OSPFv3 runs.
        assert_eq!(t.silence, Some(std::time::Duration::from_secs(8)));
        assert_eq!(t.reconnect_min, std::time::Duration::from_millis(500));
        assert_eq!(t.reconnect_max, std::time::Duration::from_secs(30));
        let text = SAMPLE.replace(
            "[ospf]",
            "metrics_listen = \"[::1]:9469\"\n[l2tp]\nhello_s = 2\nsilence_s = 0\nreconnect_min_ms = 200\nreconnect_max_s = 5\n[ospf]",
        );
        let cfg = Config::parse(&text).unwrap();
        assert_eq!(cfg.metrics_listen, Some("[::1]:9469".parse().unwrap()));
        let t = cfg.core_config(1).unwrap().l2tp;
        assert_eq!(t.hello, std::time::Duration::from_secs(2));
        assert_eq!(t.silence, None, "0 turns the silence timer off");
        assert_eq!(t.reconnect_delay(10), std::time::Duration::from_secs(5));
        for bad in [
            "hello_s = 0",
            "reconnect_min_ms = 1",
            "reconnect_max_s = 0",
            "silence_s = 4000",
        ] {
            let text = SAMPLE.replace("[ospf]", &format!("[l2tp]\n{bad}\n[ospf]"));
            // Refused at parse time (so `check-config` reports it too).
            let e = Config::parse(&text).expect_err(bad);
            assert!(e.to_string().contains("l2tp."), "{bad}: {e}");
        }
    }

    /// The default MTU fits a 1500-byte underlay over IPv6 with the largest ESP
    /// overhead of the default proposals (AES-CBC + HMAC-SHA-256).
    #[test]
    fn the_default_mtu_fits_a_1500_byte_underlay() {
        let cfg = Config::parse(SAMPLE).unwrap();
        let west = cfg.peers.iter().find(|p| p.ipsec.is_some()).unwrap();
        let client = cfg.peers.iter().find(|p| !p.protected()).unwrap();
        assert_eq!(cfg.underlay_payload(west), 1360 + 14 + 20 + 57 + 8);
        assert!(cfg.underlay_payload(west) + 40 <= 1500);
        assert_eq!(cfg.underlay_payload(client), 1360 + 14 + 20 + 8);
        let gcm_only = SAMPLE.replace(
            "ipsec = { psk = ",
            "ipsec = { esp_proposals = [\"aes128gcm16\"], psk = ",
        );
        let cfg = Config::parse(&gcm_only).unwrap();
        let west = cfg.peers.iter().find(|p| p.ipsec.is_some()).unwrap();
        assert_eq!(cfg.underlay_payload(west), 1360 + 14 + 20 + 37 + 8);
    }

    #[test]
    fn sample_parses_into_a_core_config() {
        let cfg = Config::parse(SAMPLE).unwrap();
        assert_eq!(cfg.listen.port(), 1701);
        assert_eq!(cfg.esp_listen(), "0.0.0.0:4500".parse().unwrap());
        let core = cfg.core_config(1).unwrap();
        assert_eq!(core.peers.len(), 2);
        assert!(core.peers[1].esp.is_some());
        let policy = core.policy.unwrap();
        assert_eq!(policy.prefixes[0].checks.len(), 2);
        assert!(matches!(
            policy.prefixes[0].checks[0].kind,
            CheckKind::HttpGet {
                expect_status: 200,
                ..
            }
        ));
    }

    #[test]
    fn bfd_defaults_and_per_peer_overrides() {
        let core = Config::parse(SAMPLE).unwrap().core_config(1).unwrap();
        assert_eq!(core.peers[0].bfd, BfdSettings::default());
        assert_eq!(
            (core.peers[0].bfd.interval, core.peers[0].bfd.multiplier),
            (Duration::from_millis(50), 5)
        );
        let tuned = SAMPLE
            .replace(
                "[[peer]]\nname = \"client\"",
                "[bfd]\ninterval_ms = 100\nmultiplier = 3\n\n[[peer]]\nname = \"client\"",
            )
            .replace(
                "tap = \"pw-west\"",
                "tap = \"pw-west\"\nbfd = { enabled = false, multiplier = 7 }",
            );
        let core = Config::parse(&tuned).unwrap().core_config(1).unwrap();
        let (client, west) = (core.peers[0].bfd, core.peers[1].bfd);
        assert!(client.enabled && !west.enabled);
        assert_eq!(client.interval, Duration::from_millis(100));
        assert_eq!((client.multiplier, west.multiplier), (3, 7));
        assert_eq!(west.interval, Duration::from_millis(100));
        let zero = tuned.replace("multiplier = 3", "multiplier = 0");
        assert!(matches!(
            Config::parse(&zero).unwrap().core_config(1),
            Err(ConfigError::Invalid(m)) if m.contains("multiplier")
        ));
    }

    #[test]
    fn bad_configs_are_refused_with_a_reason() {
        let long_tap = SAMPLE.replace("pw-client", "a-very-long-tap-name");
        assert!(matches!(
            Config::parse(&long_tap),
            Err(ConfigError::Invalid(m)) if m.contains("TAP name")
        ));
        let typo = SAMPLE.replace("preference = 0", "preferense = 0");
        assert!(matches!(
            Config::parse(&typo),
            Err(ConfigError::Toml { .. })
        ));
        let bad_prefix = SAMPLE.replace("2001:db8:aa::1/128", "2001:db8:aa::1/129");
        assert!(Config::parse(&bad_prefix).is_err());
        let old_esp_port = SAMPLE.replace("10.0.3.2:4500", "10.0.3.2:1701");
        assert!(matches!(
            Config::parse(&old_esp_port),
            Err(ConfigError::Invalid(m)) if m.contains("10.0.3.2:4500")
        ));
        let same_ports = format!("esp_listen = \"0.0.0.0:1701\"\n{SAMPLE}");
        assert!(matches!(
            Config::parse(&same_ports),
            Err(ConfigError::Invalid(m)) if m.contains("different ports")
        ));
        let no_ospf = SAMPLE.replace("dead = 4", "dead = 4\nenabled = false");
        assert!(matches!(
            Config::parse(&no_ospf),
            Err(ConfigError::Invalid(m)) if m.contains("ospf.enabled")
        ));
    }
}
