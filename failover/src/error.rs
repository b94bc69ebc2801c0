//! Typed errors: configuration problems found by validation, and inputs that name
//! something the policy does not know.

use crate::prefix::Ipv6Prefix;
use thiserror::Error;

/// Everything that can go wrong when building a [`Policy`](crate::Policy) or feeding it.
///
/// Configuration errors name the prefix (and check) they were found in, so an operator
/// can find the line in the daemon's config file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A prefix length above 128.
    #[error("prefix length {len} is longer than 128 bits")]
    PrefixLength {
        /// The length given.
        len: u8,
    },
    /// Text that is not `ADDRESS/LEN` with an IPv6 address.
    #[error("cannot parse {text:?} as an IPv6 prefix (expected ADDRESS/LEN)")]
    PrefixSyntax {
        /// The text given (truncated to 64 characters).
        text: String,
    },
    /// The same prefix appears twice in the configuration.
    #[error("prefix {prefix} is configured twice")]
    DuplicatePrefix {
        /// The repeated prefix.
        prefix: Ipv6Prefix,
    },
    /// More prefixes, checks per prefix, or a larger cap than the limits allow.
    #[error("{what}: {count} exceeds the limit of {limit}")]
    LimitExceeded {
        /// Which limit (for example `prefixes` or `checks for 2001:db8::1/128`).
        what: String,
        /// How many were configured.
        count: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A configuration value that is out of range or inconsistent with another.
    #[error("invalid configuration for {prefix}: {field}: {reason}")]
    InvalidConfig {
        /// The prefix whose configuration is wrong.
        prefix: Ipv6Prefix,
        /// The field (dotted path, for example `damping.half_life`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An input named a prefix that is not configured.
    #[error("prefix {prefix} is not configured")]
    UnknownPrefix {
        /// The prefix named by the input.
        prefix: Ipv6Prefix,
    },
    /// A reconfiguration removed a prefix that is still advertised: drain it first.
    #[error("prefix {prefix} is still advertised: drain it before removing it")]
    PrefixInUse {
        /// The prefix.
        prefix: Ipv6Prefix,
    },
    /// A reconfiguration changed the Router ID, which only a new policy may do.
    #[error("the Router ID cannot change in a reconfiguration")]
    RouterIdChanged,
    /// A probe result named a check that does not exist.
    #[error("check {check} is not configured")]
    UnknownCheck {
        /// The check identifier given.
        check: crate::health::CheckId,
    },
}
