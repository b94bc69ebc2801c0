//! RFC 5881 single-hop encapsulation facts: BFD Control packets travel in UDP to port
//! 3784, from a source port in 49152-65535 (unique per session), with TTL / hop limit
//! 255, which the receiver checks (the GTSM of RFC 5082: a packet from further away
//! arrives with less).
//!
//! The check is made by [`Session::handle_packet`](crate::Session::handle_packet),
//! which takes the received TTL or hop limit as an argument: an adapter cannot forget
//! it, and a test or fuzzer states it explicitly. The adapter's part is to read it
//! from the socket (`IP_RECVTTL`, `IPV6_RECVHOPLIMIT`) and to send with [`TTL`].

use std::ops::RangeInclusive;

use rand_core::Rng;

/// UDP destination port of single-hop BFD Control packets (RFC 5881 4).
pub const CONTROL_PORT: u16 = 3784;
/// UDP destination port of BFD Echo packets (RFC 5881 4); echo is not implemented.
pub const ECHO_PORT: u16 = 3785;
/// Source ports a sender must use (RFC 5881 4).
pub const SOURCE_PORTS: RangeInclusive<u16> = 49152..=65535;
/// TTL / hop limit sent, and the only one accepted (RFC 5881 5).
pub const TTL: u8 = 255;

/// Whether a received TTL / hop limit is acceptable for single-hop BFD.
pub fn ttl_ok(ttl: u8) -> bool {
    ttl == TTL
}

/// Whether `port` is an acceptable source port for a Control packet.
pub fn source_port_ok(port: u16) -> bool {
    SOURCE_PORTS.contains(&port)
}

/// A source port drawn from [`SOURCE_PORTS`] with the caller's RNG. Sessions sharing
/// an address must not share a port; the caller retries on a collision.
pub fn random_source_port<R: Rng>(rng: &mut R) -> u16 {
    let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
    SOURCE_PORTS.start() + (rng.next_u32() % span) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn facts() {
        assert!(ttl_ok(255));
        assert!(!ttl_ok(254) && !ttl_ok(0) && !ttl_ok(1));
        assert!(source_port_ok(49152) && source_port_ok(65535));
        assert!(!source_port_ok(49151) && !source_port_ok(3784));
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            assert!(source_port_ok(random_source_port(&mut rng)));
        }
    }
}
