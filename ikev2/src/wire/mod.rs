//! The IKEv2 wire format (RFC 7296 section 3): typed values for the header and every
//! payload this crate speaks, with bounds-checked decoding and encoding into a caller's
//! buffer.
//!
//! Decoding ([`Message::decode`], [`decode_chain`]) never panics and never trusts a
//! length or count field beyond the bytes present; it fails with a [`DecodeError`] that
//! names the structure and its offset. It checks only what is needed to parse. The
//! protocol's rules beyond that (nonce sizes, SPI sizes, the critical bit of unknown
//! payloads...) are a separate step, [`Message::validate`], because the protocol answers
//! each differently (a parse failure is dropped, a rule violation may get a notify).
//!
//! Payload types this crate does not interpret (CERT, CERTREQ, CP, EAP, SKF...) are kept
//! raw in [`UnknownPayload`] with their critical bit.

mod auth;
mod delete;
mod error;
mod header;
mod id;
mod ke;
mod nonce;
mod notify;
mod payload;
mod reader;
mod sa;
mod sk;
mod ts;
mod vendor;

pub use auth::{AuthMethod, AuthPayload};
pub use delete::DeletePayload;
pub use error::{DecodeError, EncodeError, Part, ValidationError};
pub use header::{ExchangeType, Flags, HEADER_LEN, IkeHeader};
pub use id::{IdPayload, IdType};
pub use ke::{DhGroup, KePayload};
pub use nonce::{NONCE_MAX, NONCE_MIN, NoncePayload};
pub use notify::{NotifyPayload, NotifyType};
pub use payload::{
    GENERIC_HEADER_LEN, GenericHeader, MAX_PAYLOADS, Message, Payload, PayloadType, UnknownPayload,
    chain_len, decode_chain, emit_chain, encode_chain, notifies, validate_chain,
};
pub use sa::{
    ATTR_KEY_LENGTH, Attribute, AttributeValue, Proposal, ProtocolId, SaPayload, Transform,
    TransformType,
};
pub use sk::SkPayload;
pub use ts::{AddrRange, TrafficSelector, TsPayload, TsType};
pub use vendor::VendorIdPayload;
