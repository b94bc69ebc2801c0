//! Sans-IO OSPFv3 (RFC 5340).
//!
//! This crate will hold the packet and LSA codec with both checksums and the RFC 7166
//! authentication trailer, the interface and neighbor state machines, flooding, the
//! LSDB with aging, SPF and the routing table. It opens no sockets and reads no clock.
