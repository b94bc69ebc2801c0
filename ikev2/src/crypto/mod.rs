//! IKEv2 cryptography (RFC 7296 2.13 - 2.18, 3.14; RFC 4868, RFC 5282, RFC 5903,
//! RFC 8031) on `aws-lc-rs`.

pub mod ids;
