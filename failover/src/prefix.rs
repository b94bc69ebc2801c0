//! Small value types shared by every module: IPv6 prefixes, OSPF Router IDs, metrics.

use crate::error::Error;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A route cost as advertised through OSPFv3.
///
/// The policy keeps every metric at or below [`MAX_METRIC`], the largest value the
/// 16-bit metric field of an intra-area-prefix LSA can carry (RFC 5340 A.4.10), so the
/// daemon can use either intra-area or AS-external LSAs.
pub type Metric = u32;

/// The largest metric the policy will ever advertise (16 bits).
pub const MAX_METRIC: Metric = 0xFFFF;

/// An IPv6 prefix: an address and a length, with the host bits cleared.
///
/// Anycast service addresses are usually `/128`. The type is this crate's own so that
/// the policy depends on no other workspace crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
pub struct Ipv6Prefix {
    addr: Ipv6Addr,
    len: u8,
}

impl Ipv6Prefix {
    /// Builds a prefix, clearing the bits of `addr` beyond `len`.
    ///
    /// # Errors
    /// [`Error::PrefixLength`] when `len` is above 128.
    pub fn new(addr: Ipv6Addr, len: u8) -> Result<Self, Error> {
        if len > 128 {
            return Err(Error::PrefixLength { len });
        }
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        };
        Ok(Self {
            addr: Ipv6Addr::from(u128::from(addr) & mask),
            len,
        })
    }

    /// A host prefix (`/128`), the usual anycast service address.
    pub fn host(addr: Ipv6Addr) -> Self {
        Self { addr, len: 128 }
    }

    /// The address with host bits cleared.
    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// The prefix length in bits (0 to 128).
    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for the default route `::/0`, the only prefix of length zero.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Ipv6Prefix {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let syntax = || Error::PrefixSyntax {
            text: s.chars().take(64).collect(),
        };
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, l.parse::<u8>().map_err(|_| syntax())?),
            None => (s, 128),
        };
        let addr: Ipv6Addr = addr.parse().map_err(|_| syntax())?;
        Self::new(addr, len)
    }
}

impl TryFrom<String> for Ipv6Prefix {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<Ipv6Prefix> for String {
    fn from(p: Ipv6Prefix) -> String {
        p.to_string()
    }
}

/// An OSPF Router ID (RFC 5340 section 2.1: a 32-bit number, written as an IPv4
/// address), naming the node that advertises a prefix.
///
/// The election uses it as the tie breaker between equal preferences: the **higher**
/// Router ID wins, as in OSPF's own designated router election.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RouterId(pub u32);

impl From<Ipv4Addr> for RouterId {
    fn from(a: Ipv4Addr) -> Self {
        Self(u32::from(a))
    }
}

impl fmt::Display for RouterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ipv4Addr::from(self.0).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clears_host_bits_and_round_trips() {
        let p: Ipv6Prefix = "2001:db8::ffff/64".parse().unwrap();
        assert_eq!(p.to_string(), "2001:db8::/64");
        let h: Ipv6Prefix = "2001:db8::1".parse().unwrap();
        assert_eq!(h, Ipv6Prefix::host("2001:db8::1".parse().unwrap()));
        assert_eq!(h.len(), 128);
        assert!("::/0".parse::<Ipv6Prefix>().unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(
            "2001:db8::/129".parse::<Ipv6Prefix>(),
            Err(Error::PrefixLength { len: 129 })
        );
        assert!(matches!(
            "10.0.0.1/32".parse::<Ipv6Prefix>(),
            Err(Error::PrefixSyntax { .. })
        ));
        assert!(matches!(
            "2001:db8::/x".parse::<Ipv6Prefix>(),
            Err(Error::PrefixSyntax { .. })
        ));
    }

    #[test]
    fn router_id_displays_dotted() {
        assert_eq!(
            RouterId::from(Ipv4Addr::new(1, 2, 3, 4)).to_string(),
            "1.2.3.4"
        );
    }
}
