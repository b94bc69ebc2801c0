//! Sans-IO L2TPv3 (RFC 3931) with Ethernet pseudowires (RFC 4719).
//!
//! This crate will hold the control and data message codec, the reliable control
//! transport, the control-connection and session state machines, and control message
//! authentication. It opens no sockets and reads no clock.
pub mod control;
