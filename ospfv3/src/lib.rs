//! Sans-IO OSPFv3 (RFC 5340): the wire codec.
//!
//! This crate decodes and encodes every OSPFv3 packet ([`packet`], [`hello`], [`dd`],
//! [`lsr`], [`lsu`], [`lsack`]) and LSA ([`lsa`] and its submodules), computes and
//! verifies both checksums ([`checksum`]), builds and verifies the RFC 7166
//! authentication trailer ([`auth`]) and compares LSA instances ([`compare`](mod@compare)). The
//! protocol engine (interfaces, neighbors, flooding, LSDB, SPF) builds on these types.
//! Nothing here opens a socket or reads a clock.
//!
//! Conventions:
//! * decoding (nom) never trusts a length or count field beyond the bytes present and
//!   never allocates by a count; errors ([`DecodeError`]) say what and at which offset;
//! * encoding writes into any [`bytes::BufMut`]; decoded values re-encode to the
//!   bytes received: LSAs keep their age and checksum, unknown option bits are kept,
//!   unknown LSA types stay raw ([`lsa::LsaBody::Unknown`]);
//! * reserved fields are ignored on receipt and sent as zero, as are prefix bits past
//!   the prefix length.
//!
//! Crates: `nom` parses, `bytes` writes, `bitflags` holds option fields, `thiserror`
//! types errors; HMAC, SHA-1 and SHA-2 come from RustCrypto (`hmac`, `sha1`, `sha2`)
//! and the constant-time comparison from `subtle`, because cryptographic primitives
//! must not be hand-written. The capture test and the `decode_pcap` example read pcap
//! and pcapng with the `pcap-file` crate (a dev-dependency) rather than a parser of
//! our own.
//!
//! ```
//! use std::net::{Ipv4Addr, Ipv6Addr};
//! use ospfv3::{Packet, PacketBody, PacketHeader, hello::Hello, options::Options};
//! use ospfv3::checksum::verify_packet_checksum;
//!
//! let hello = Packet {
//!     header: PacketHeader {
//!         router_id: Ipv4Addr::new(1, 1, 1, 1),
//!         area_id: Ipv4Addr::UNSPECIFIED,
//!         checksum: 0,
//!         instance_id: 0,
//!     },
//!     body: PacketBody::Hello(Hello {
//!         interface_id: 5,
//!         priority: 1,
//!         options: Options::V6 | Options::E | Options::R,
//!         hello_interval: 10,
//!         dead_interval: 40,
//!         designated_router: Ipv4Addr::UNSPECIFIED,
//!         backup_designated_router: Ipv4Addr::UNSPECIFIED,
//!         neighbors: vec![Ipv4Addr::new(2, 2, 2, 2)],
//!     }),
//! };
//! let src: Ipv6Addr = "fe80::1".parse().unwrap();
//! let dst: Ipv6Addr = "ff02::5".parse().unwrap();
//! let bytes = hello.to_bytes_with_checksum(&src, &dst);
//! assert!(verify_packet_checksum(&src, &dst, &bytes));
//!
//! let decoded = Packet::decode(&bytes).unwrap();
//! assert_eq!(decoded.body, hello.body);
//! assert_eq!(decoded.to_bytes(), bytes); // byte-exact, checksum included
//! ```

pub mod auth;
pub mod checksum;
pub mod compare;
pub mod constants;
pub mod dd;
pub mod error;
pub mod hello;
pub mod lsa;
pub mod lsack;
pub mod lsr;
pub mod lsu;
pub mod options;
pub mod packet;
pub mod prefix;
mod reader;
#[cfg(feature = "tokio")]
mod socket;

pub use compare::{Freshness, compare};
pub use error::{DecodeError, Result};
pub use lsa::{ChecksumMode, Lsa, LsaBody, LsaHeader, LsaType, RawLsa};
pub use packet::{Datagram, DecodeOptions, Packet, PacketBody, PacketHeader, PacketType};
#[cfg(feature = "tokio")]
pub use socket::{OSPF_PROTOCOL, RawSocket, RawSocketConfig, RawSocketStats, Received};
pub mod engine;
