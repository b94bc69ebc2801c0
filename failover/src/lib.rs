//! The anycast failover policy as a pure state machine.
//!
//! This crate will turn health observations, what peers advertise, admin commands and
//! time into what this node advertises for each anycast prefix.
