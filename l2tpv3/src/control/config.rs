//! Endpoint configuration with the RFC's recommended defaults and the limits that
//! bound memory under arbitrary input.

use std::time::Duration;

use super::auth::DigestAlgorithm;
use super::reliable::ReliableConfig;
use crate::avp::{DataSequencing, L2SublayerType, PwType};
use crate::data::CookieLen;
use crate::header::Encapsulation;

/// Everything an [`crate::Endpoint`] needs to know up front.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Our Host Name AVP (section 5.4.3).
    pub host_name: Vec<u8>,
    /// Our Router ID AVP (section 5.4.3).
    pub router_id: u32,
    /// Pseudowire types we offer in the Pseudowire Capabilities List and accept in
    /// ICRQ/OCRQ. Default: Ethernet and Ethernet VLAN (RFC 4719).
    pub pw_types: Vec<PwType>,
    /// Over UDP (default) or directly over IP.
    pub encapsulation: Encapsulation,
    /// Reliable delivery: retransmission timing, retry limit, our receive window.
    pub reliable: ReliableConfig,
    /// Silence after which a HELLO is sent (section 4.4). Default 60 s.
    pub hello_interval: Duration,
    /// The shared secret; `Some` turns on Control Message Authentication (4.3).
    pub secret: Option<Vec<u8>>,
    /// The digest we send when authenticating. Default HMAC-MD5.
    pub digest: DigestAlgorithm,
    /// Hide the Remote End ID AVP with a Random Vector (section 5.3) when
    /// authentication is on. Default off.
    pub hide_avps: bool,
    /// Send a Control Connection Tie Breaker AVP in our SCCRQ. Default on.
    pub tie_breaker: bool,
    /// Size of the cookies we assign (random, section 5.4.4). Default 4 bytes.
    pub cookie_len: CookieLen,
    /// The L2-Specific Sublayer we require on data we receive. Default none.
    pub sublayer: L2SublayerType,
    /// The data sequencing we ask of the peer. Default none.
    pub data_sequencing: DataSequencing,
    /// Control connections (any state) held at once; SCCRQs beyond are dropped
    /// and counted. Default 256.
    pub max_connections: usize,
    /// Sessions held at once over all connections; requests beyond get a CDN
    /// (no facilities). Default 65 536.
    pub max_sessions: usize,
    /// Events waiting in [`crate::Endpoint::poll_event`]; more
    /// are dropped and counted. Default 65 536.
    pub max_events: usize,
    /// Datagrams waiting in [`crate::Endpoint::poll_transmit`];
    /// more are dropped and counted (reliable delivery resends them). Default 65 536.
    pub max_transmits: usize,
    /// Report every control message queued and delivered as events (for tests and
    /// tracing). Default off.
    pub report_messages: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host_name: b"l2tpv3".to_vec(),
            router_id: 0,
            pw_types: vec![PwType::ETHERNET, PwType::ETHERNET_VLAN],
            encapsulation: Encapsulation::Udp,
            reliable: ReliableConfig::default(),
            hello_interval: Duration::from_secs(60),
            secret: None,
            digest: DigestAlgorithm::HmacMd5,
            hide_avps: false,
            tie_breaker: true,
            cookie_len: CookieLen::Four,
            sublayer: L2SublayerType::NONE,
            data_sequencing: DataSequencing::NONE,
            max_connections: 256,
            max_sessions: 65_536,
            max_events: 65_536,
            max_transmits: 65_536,
            report_messages: false,
        }
    }
}

impl Config {
    /// The defaults with our Host Name and Router ID (section 5.4.3). The struct
    /// is `#[non_exhaustive]`: change other fields on the value this returns.
    ///
    /// ```
    /// let mut config = l2tpv3::Config::new("lcce-a", 0x0a00_0001);
    /// config.secret = Some(b"shared secret".to_vec());
    /// assert_eq!(config.host_name, b"lcce-a");
    /// ```
    pub fn new(host_name: impl Into<Vec<u8>>, router_id: u32) -> Self {
        Config {
            host_name: host_name.into(),
            router_id,
            ..Config::default()
        }
    }
}
