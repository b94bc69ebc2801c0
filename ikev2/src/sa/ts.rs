//! Traffic selector narrowing (RFC 7296 2.9) and the conversion of negotiated selectors
//! to an `ipsec-lite` selector.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::{AddrRange, TrafficSelector};

/// At most this many selectors of a TS payload are considered (bounds the pairwise work).
pub(crate) const MAX_TS: usize = 16;

fn addr_intersect(a: &AddrRange, b: &AddrRange) -> Option<AddrRange> {
    match (a, b) {
        (AddrRange::V4(s1, e1), AddrRange::V4(s2, e2)) => {
            let (s, e) = ((*s1).max(*s2), (*e1).min(*e2));
            (s <= e).then_some(AddrRange::V4(s, e))
        }
        (AddrRange::V6(s1, e1), AddrRange::V6(s2, e2)) => {
            let (s, e) = ((*s1).max(*s2), (*e1).min(*e2));
            (s <= e).then_some(AddrRange::V6(s, e))
        }
        _ => None,
    }
}

/// The intersection of two selectors, if not empty (protocol 0 is "any"; an OPAQUE port
/// range, start > end, only matches itself).
pub(crate) fn intersect(a: &TrafficSelector, b: &TrafficSelector) -> Option<TrafficSelector> {
    let ip_protocol = match (a.ip_protocol, b.ip_protocol) {
        (0, p) | (p, 0) => p,
        (p, q) if p == q => p,
        _ => return None,
    };
    let opaque = |t: &TrafficSelector| t.start_port > t.end_port;
    let (start_port, end_port) = match (opaque(a), opaque(b)) {
        (true, true) => (a.start_port, a.end_port),
        (true, false) if b.start_port == 0 && b.end_port == u16::MAX => (a.start_port, a.end_port),
        (false, true) if a.start_port == 0 && a.end_port == u16::MAX => (b.start_port, b.end_port),
        (false, false) => {
            let (s, e) = (a.start_port.max(b.start_port), a.end_port.min(b.end_port));
            if s > e {
                return None;
            }
            (s, e)
        }
        _ => return None,
    };
    Some(TrafficSelector {
        ip_protocol,
        start_port,
        end_port,
        range: addr_intersect(&a.range, &b.range)?,
    })
}

/// Narrow the peer's proposal `offered` to what `ours` allows (RFC 7296 2.9): every
/// non-empty pairwise intersection, without duplicates, at most [`MAX_TS`].
pub(crate) fn narrow(
    offered: &[TrafficSelector],
    ours: &[TrafficSelector],
) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for o in offered.iter().take(MAX_TS) {
        for m in ours.iter().take(MAX_TS) {
            if let Some(t) = intersect(o, m)
                && !out.contains(&t)
                && out.len() < MAX_TS
            {
                out.push(t);
            }
        }
    }
    out
}

fn within(inner: &TrafficSelector, outer: &TrafficSelector) -> bool {
    intersect(inner, outer).as_ref() == Some(inner)
}

/// True when every selector of `answer` lies within one of `proposed` (the initiator's
/// check of the responder's narrowing).
pub(crate) fn subset(answer: &[TrafficSelector], proposed: &[TrafficSelector]) -> bool {
    !answer.is_empty()
        && answer.len() <= MAX_TS
        && answer
            .iter()
            .all(|a| proposed.iter().take(MAX_TS).any(|p| within(a, p)))
}

fn prefix_len_v4(s: Ipv4Addr, e: Ipv4Addr) -> Option<u8> {
    let (s, e) = (u32::from(s), u32::from(e));
    let host = s ^ e;
    (host.wrapping_add(1) & host == 0 && s & host == 0).then(|| 32 - host.count_ones() as u8)
}

fn prefix_len_v6(s: Ipv6Addr, e: Ipv6Addr) -> Option<u8> {
    let (s, e) = (u128::from(s), u128::from(e));
    let host = s ^ e;
    (host.wrapping_add(1) & host == 0 && s & host == 0).then(|| 128 - host.count_ones() as u8)
}

fn prefix(ts: &TrafficSelector) -> Option<ipsec_lite::IpPrefix> {
    let (addr, len) = match ts.range {
        AddrRange::V4(s, e) => (IpAddr::V4(s), prefix_len_v4(s, e)?),
        AddrRange::V6(s, e) => (IpAddr::V6(s), prefix_len_v6(s, e)?),
        AddrRange::Other { .. } => return None,
    };
    Some(ipsec_lite::IpPrefix { addr, len })
}

fn port(ts: &TrafficSelector) -> Option<Option<u16>> {
    if ts.start_port == 0 && ts.end_port == u16::MAX {
        Some(None)
    } else if ts.start_port == ts.end_port {
        Some(Some(ts.start_port))
    } else {
        None
    }
}

/// The `ipsec-lite` selector for one selector per side, if expressible (address ranges
/// that are prefixes, a single port or any, one protocol or any).
pub(crate) fn selector(
    local: &[TrafficSelector],
    remote: &[TrafficSelector],
) -> Option<ipsec_lite::Selector> {
    let ([l], [r]) = (local, remote) else {
        return None;
    };
    let protocol = match (l.ip_protocol, r.ip_protocol) {
        (0, 0) => None,
        (p, q) if p == q => Some(p),
        _ => return None,
    };
    Some(ipsec_lite::Selector {
        local: prefix(l)?,
        remote: prefix(r)?,
        protocol,
        local_port: port(l)?,
        remote_port: port(r)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(a: &str, b: &str, proto: u8, ports: (u16, u16)) -> TrafficSelector {
        let mut t = TrafficSelector::range(a.parse().unwrap(), b.parse().unwrap()).unwrap();
        t.ip_protocol = proto;
        t.start_port = ports.0;
        t.end_port = ports.1;
        t
    }

    #[test]
    fn narrowing_takes_the_intersection() {
        let any = ts("0.0.0.0", "255.255.255.255", 0, (0, 65535));
        let mine = ts("10.0.0.0", "10.0.0.255", 17, (1701, 1701));
        assert_eq!(
            narrow(core::slice::from_ref(&any), core::slice::from_ref(&mine)),
            vec![mine.clone()]
        );
        let other = ts("10.0.1.0", "10.0.1.255", 0, (0, 65535));
        assert!(narrow(&[other], core::slice::from_ref(&mine)).is_empty());
        let tcp = ts("10.0.0.0", "10.0.0.255", 6, (0, 65535));
        assert!(narrow(&[tcp], core::slice::from_ref(&mine)).is_empty());
        let v6 = ts(
            "::",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            0,
            (0, 65535),
        );
        assert!(narrow(&[v6], &[mine]).is_empty());
    }

    #[test]
    fn subset_check() {
        let wide = ts("10.0.0.0", "10.0.0.255", 0, (0, 65535));
        let host = ts("10.0.0.7", "10.0.0.7", 17, (1701, 1701));
        assert!(subset(
            core::slice::from_ref(&host),
            core::slice::from_ref(&wide)
        ));
        assert!(!subset(&[wide], &[host]));
        assert!(!subset(&[], &[]));
    }

    #[test]
    fn selectors_to_prefixes() {
        let l = ts("10.0.0.0", "10.0.0.255", 17, (1701, 1701));
        let r = ts("10.0.1.7", "10.0.1.7", 17, (0, 65535));
        let s = selector(core::slice::from_ref(&l), &[r]).unwrap();
        assert_eq!(s.local.len, 24);
        assert_eq!(s.remote.len, 32);
        assert_eq!(s.protocol, Some(17));
        assert_eq!(s.local_port, Some(1701));
        assert_eq!(s.remote_port, None);
        let odd = ts("10.0.0.1", "10.0.0.6", 0, (0, 65535));
        assert!(selector(&[l], &[odd]).is_none());
    }
}
