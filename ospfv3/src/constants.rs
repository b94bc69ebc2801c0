//! Architectural constants (RFC 2328 Appendix B, reused by RFC 5340).

/// Maximum age an LSA can attain (seconds); an LSA at MaxAge is being flushed.
pub const MAX_AGE: u16 = 3600;
/// Largest age difference for which two LSA instances are still "the same" (seconds).
pub const MAX_AGE_DIFF: u16 = 900;
/// Interval at which a router refreshes its own LSAs (seconds).
pub const LS_REFRESH_TIME: u16 = 1800;
/// Minimum time between two originations of the same LSA (seconds).
pub const MIN_LS_INTERVAL: u16 = 5;
/// Minimum time between two accepted arrivals of the same LSA from flooding (seconds).
pub const MIN_LS_ARRIVAL: u16 = 1;
/// Interval at which a router checksums its LSDB (seconds).
pub const CHECK_AGE: u16 = 300;
/// Sequence number of the first instance of an LSA (signed 0x80000001).
pub const INITIAL_SEQUENCE_NUMBER: u32 = 0x8000_0001;
/// Largest sequence number; an LSA reaching it must be flushed before wrapping.
pub const MAX_SEQUENCE_NUMBER: u32 = 0x7FFF_FFFF;
/// The DoNotAge bit of LS age (RFC 1793), masked off before age comparisons.
pub const DO_NOT_AGE: u16 = 0x8000;
/// IP protocol number of OSPF, the pseudo-header's next header (RFC 5340 A.1).
pub const IP_PROTOCOL_OSPF: u8 = 89;
/// OSPF version carried by every OSPFv3 packet.
pub const VERSION: u8 = 3;
