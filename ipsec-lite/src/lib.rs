//! Sans-IO ESP (RFC 4303).
//!
//! This crate will hold the ESP codec and security associations, AEAD and CBC+HMAC
//! suites, extended sequence numbers, anti-replay and UDP encapsulation (RFC 3948).
