//! Endpoint configuration with the RFC's recommended defaults and the limits that
//! bound memory under arbitrary input.

use std::time::Duration;

use super::auth::DigestAlgorithm;
use super::reliable::ReliableConfig;
use crate::avp::{DataSequencing, L2SublayerType, PwType};
use crate::data::CookieLen;
use crate::header::Encapsulation;

/// Everything an [`crate::Endpoint`] needs to know up front.
///
/// `Debug` prints `secret` as `Some(<redacted>)`, never its bytes, and the secret
/// is overwritten with zeros when the `Config` is dropped (each clone wipes its
/// own copy).
#[derive(Clone, PartialEq)]
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
    /// Redacted in `Debug`, zeroized on drop.
    pub secret: Option<Vec<u8>>,
    /// The digest we send and the only one we accept when authenticating
    /// (section 5.4.1): a message whose Message Digest AVPs all use another
    /// algorithm is dropped as unauthenticated. Default HMAC-MD5.
    pub digest: DigestAlgorithm,
    /// Hide the Remote End ID AVP with a Random Vector (section 5.3) when
    /// authentication is on. Default off.
    pub hide_avps: bool,
    /// Send a Control Connection Tie Breaker AVP in our SCCRQ. Default on.
    pub tie_breaker: bool,
    /// Size of the cookies we assign (random, from the endpoint's RNG, section
    /// 5.4.4). Default 8 bytes: 64 bits an off-path sender must guess to inject
    /// data (section 8.2).
    pub cookie_len: CookieLen,
    /// The L2-Specific Sublayer we require on data we receive. Default none.
    pub sublayer: L2SublayerType,
    /// The data sequencing we ask of the peer. Default none.
    pub data_sequencing: DataSequencing,
    /// Control connections (any state) held at once; SCCRQs beyond are dropped
    /// and counted. Default 256.
    pub max_connections: usize,
    /// Control connections (any state) held at once with one peer address; SCCRQs
    /// from a peer holding this many are dropped and counted
    /// ([`crate::EndpointStats::peer_connection_limit`]), so one source cannot fill
    /// the table. Default 4 (a tie, a restart while the old connection is held
    /// after its StopCCN, and room for one more).
    pub max_connections_per_peer: usize,
    /// Answer SCCRQs only from peers on the endpoint's allow-list
    /// ([`crate::Endpoint::allow_peer`]) or to which we have opened a connection
    /// ourselves; SCCRQs from anyone else are dropped without a reply, before
    /// anything is stored, and counted ([`crate::EndpointStats::refused_peer`]).
    /// Default off: any source may open a connection.
    pub allowed_peers_only: bool,
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
            cookie_len: CookieLen::Eight,
            sublayer: L2SublayerType::NONE,
            data_sequencing: DataSequencing::NONE,
            max_connections: 256,
            max_connections_per_peer: 4,
            allowed_peers_only: false,
            max_sessions: 65_536,
            max_events: 65_536,
            max_transmits: 65_536,
            report_messages: false,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Exhaustive destructuring: a new field cannot be forgotten here.
        let Config {
            host_name,
            router_id,
            pw_types,
            encapsulation,
            reliable,
            hello_interval,
            secret,
            digest,
            hide_avps,
            tie_breaker,
            cookie_len,
            sublayer,
            data_sequencing,
            max_connections,
            max_connections_per_peer,
            allowed_peers_only,
            max_sessions,
            max_events,
            max_transmits,
            report_messages,
        } = self;
        f.debug_struct("Config")
            .field("host_name", &String::from_utf8_lossy(host_name))
            .field("router_id", router_id)
            .field("pw_types", pw_types)
            .field("encapsulation", encapsulation)
            .field("reliable", reliable)
            .field("hello_interval", hello_interval)
            .field("secret", &secret.as_ref().map(|_| Redacted))
            .field("digest", digest)
            .field("hide_avps", hide_avps)
            .field("tie_breaker", tie_breaker)
            .field("cookie_len", cookie_len)
            .field("sublayer", sublayer)
            .field("data_sequencing", data_sequencing)
            .field("max_connections", max_connections)
            .field("max_connections_per_peer", max_connections_per_peer)
            .field("allowed_peers_only", allowed_peers_only)
            .field("max_sessions", max_sessions)
            .field("max_events", max_events)
            .field("max_transmits", max_transmits)
            .field("report_messages", report_messages)
            .finish()
    }
}

/// Stands for a secret in `Debug` output.
struct Redacted;

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        if let Some(secret) = &mut self.secret {
            zeroize::Zeroize::zeroize(secret);
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
        let mut config = Config::default();
        config.host_name = host_name.into();
        config.router_id = router_id;
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let mut c = Config::new("lcce", 1);
        c.secret = Some(b"hunter2-very-secret".to_vec());
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        // Nor as the bytes' decimal list that a derived Debug prints.
        assert!(!shown.contains("104, 117"), "{shown}");
        assert!(shown.contains("secret: Some(<redacted>)"), "{shown}");
        assert!(shown.contains("lcce"));
        c.secret = None;
        assert!(format!("{c:?}").contains("secret: None"));
    }
}
