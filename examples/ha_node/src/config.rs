//! The daemon's TOML configuration and its translation into a [`CoreConfig`].
//!
//! ```toml
//! name = "east"
//! router_id = "1.1.1.1"
//! listen = "0.0.0.0:1701"       # plain L2TPv3 peers
//! # esp_listen = "0.0.0.0:4500"  # ESP-in-UDP peers (RFC 3948); default: listen's IP, port 4500
//! l2tp_secret = "change-me"
//! loopback = ["2001:db8:1::1"]
//!
//! [ospf]
//! hello = 1
//! dead = 4
//! cost = 10
//! mtu = 1400
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

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anycast_failover::{CheckKind, CheckSpec, Mode, NodeConfig, Preempt, PrefixConfig, RouterId};
use serde::Deserialize;

use crate::core::{BfdSettings, CoreConfig, OspfTimers, PeerSpec};
use crate::esp::EspConfig;

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
    /// The TOML did not parse or did not match the schema.
    #[error("parsing the configuration: {0}")]
    Toml(#[from] toml::de::Error),
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
    /// L2TPv3 control message authentication secret (both ends must agree).
    #[serde(default)]
    pub l2tp_secret: Option<String>,
    /// Host addresses of this node: put on the loopback and always advertised.
    #[serde(default)]
    pub loopback: Vec<Ipv6Addr>,
    /// Name of the loopback device.
    #[serde(default = "default_lo")]
    pub loopback_device: String,
    /// OSPFv3 settings of the pseudowire interfaces.
    #[serde(default)]
    pub ospf: OspfSection,
    /// BFD defaults of every peer's OSPFv3 neighbors.
    #[serde(default)]
    pub bfd: BfdSection,
    /// Underlay peers, one pseudowire each.
    #[serde(default, rename = "peer")]
    pub peers: Vec<PeerSection>,
    /// Anycast prefixes served by this node (servers only).
    #[serde(default)]
    pub anycast: Vec<AnycastSection>,
    /// Pins the protocol randomness to a seed, for reproducing a run; never set it in
    /// production. Without it every generator is seeded from the operating system.
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 1701))
}

/// The NAT-T port ESP-in-UDP uses (RFC 3948).
pub const ESP_PORT: u16 = 4500;

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
    /// Run the built-in OSPFv3 engine (default). `false`: only terminate the
    /// pseudowires on the TAP devices and let another router run OSPFv3 on them.
    #[serde(default = "d_enabled")]
    pub enabled: bool,
}

fn d_enabled() -> bool {
    true
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
fn d_mtu() -> u16 {
    1400
}

impl Default for OspfSection {
    fn default() -> Self {
        OspfSection {
            hello: d_hello(),
            dead: d_dead(),
            cost: d_cost(),
            mtu: d_mtu(),
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
    /// ESP protection of everything exchanged with this peer.
    #[serde(default)]
    pub esp: Option<EspConfig>,
    /// BFD override for this peer (`enabled = false` turns it off here).
    #[serde(default)]
    pub bfd: BfdSection,
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
    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// The address of the ESP-in-UDP socket: `esp_listen`, else `listen`'s IP address
    /// with port 4500.
    pub fn esp_listen(&self) -> SocketAddr {
        self.esp_listen_addr
            .unwrap_or_else(|| SocketAddr::new(self.listen.ip(), ESP_PORT))
    }

    /// Parses TOML text and checks it.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text)?;
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
            if p.esp.is_some() && p.address.port() == cfg.listen.port() {
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
        Ok(cfg)
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
                    esp: p.esp.clone(),
                    bfd: p.bfd.resolve(bfd)?,
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
            loopback: (
                loopback_ifindex,
                self.loopback
                    .iter()
                    .map(|a| ospfv3::Ipv6Prefix::new(*a, 128))
                    .collect(),
            ),
            policy: self.failover()?,
            l2tp_secret: self.l2tp_secret.as_ref().map(|s| s.as_bytes().to_vec()),
            seed: self.seed,
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
esp = { spi_out = 4097, spi_in = 8194, key_out = "000102030405060708090a0b0c0d0e0f10111213", key_in = "202122232425262728292a2b2c2d2e2f30313233" }

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
        assert!(matches!(Config::parse(&typo), Err(ConfigError::Toml(_))));
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
