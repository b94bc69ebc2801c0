//! Attribute-Value Pairs (RFC 3931 section 5).
//!
//! Every AVP that RFC 3931 defines or keeps from RFC 2661 decodes to a typed
//! [`AvpValue`]. Three kinds of AVP stay as bytes, so that nothing is lost and the
//! control plane can apply the RFC's rules:
//!
//! * vendor AVPs and IETF AVPs this crate does not know ([`AvpValue::Raw`], with the
//!   M bit in [`Avp::mandatory`] for section 5.2's rule on unknown mandatory AVPs);
//! * hidden AVPs (H bit set, section 5.3): [`AvpValue::Raw`] with `hidden: true`
//!   holding the hidden bytes; unhiding needs the shared secret and belongs to the
//!   authentication layer;
//! * known AVPs whose value has the wrong shape ([`AvpValue::Malformed`]), which
//!   section 7.1 says to treat like unrecognised AVPs.

use std::fmt;

use bytes::BufMut;
use nom::number::complete::{be_u16, be_u32, be_u64};

use crate::data::Cookie;
use crate::error::{AvpValueError, ControlError, EncodeError};
use crate::message::MessageType;

/// Length of the AVP header (flags/Length, Vendor ID, Attribute Type).
pub const AVP_HEADER_LEN: usize = 6;
/// Largest AVP Length the 10-bit field can carry.
pub const MAX_AVP_LEN: usize = 0x3ff;
/// The IETF Vendor ID used by every AVP in RFC 3931.
pub const IETF_VENDOR_ID: u16 = 0;

const AVP_M: u16 = 0x8000;
const AVP_H: u16 = 0x4000;
const AVP_LEN_MASK: u16 = 0x03ff;

/// The IETF attribute types this crate decodes to typed values (RFC 3931 section 5.4,
/// IANA registry in section 10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum AvpType {
    /// Message Type (0), section 5.4.1.
    MessageType = 0,
    /// Result Code (1), section 5.4.2.
    ResultCode = 1,
    /// Control Connection or Session Tie Breaker (5), sections 5.4.3, 5.4.4.
    TieBreaker = 5,
    /// Host Name (7), section 5.4.3.
    HostName = 7,
    /// Vendor Name (8), section 5.4.3.
    VendorName = 8,
    /// Receive Window Size (10), section 5.4.3.
    ReceiveWindowSize = 10,
    /// Serial Number (15), section 5.4.4.
    SerialNumber = 15,
    /// Physical Channel ID (25), section 5.4.4.
    PhysicalChannelId = 25,
    /// Circuit Errors (34), section 5.4.5.
    CircuitErrors = 34,
    /// Random Vector (36), section 5.4.1.
    RandomVector = 36,
    /// Extended Vendor ID (58), section 5.1.
    ExtendedVendorId = 58,
    /// Message Digest (59), section 5.4.1.
    MessageDigest = 59,
    /// Router ID (60), section 5.4.3.
    RouterId = 60,
    /// Assigned Control Connection ID (61), section 5.4.3.
    AssignedControlConnectionId = 61,
    /// Pseudowire Capabilities List (62), section 5.4.3.
    PseudowireCapabilities = 62,
    /// Local Session ID (63), section 5.4.4.
    LocalSessionId = 63,
    /// Remote Session ID (64), section 5.4.4.
    RemoteSessionId = 64,
    /// Assigned Cookie (65), section 5.4.4.
    AssignedCookie = 65,
    /// Remote End ID (66), section 5.4.4.
    RemoteEndId = 66,
    /// Pseudowire Type (68), section 5.4.4.
    PseudowireType = 68,
    /// L2-Specific Sublayer (69), section 5.4.4.
    L2SpecificSublayer = 69,
    /// Data Sequencing (70), section 5.4.4.
    DataSequencing = 70,
    /// Circuit Status (71), section 5.4.5.
    CircuitStatus = 71,
    /// Preferred Language (72), section 5.4.3.
    PreferredLanguage = 72,
    /// Control Message Authentication Nonce (73), section 5.4.1.
    Nonce = 73,
    /// Tx Connect Speed (74), section 5.4.4.
    TxConnectSpeed = 74,
    /// Rx Connect Speed (75), section 5.4.4.
    RxConnectSpeed = 75,
}

impl AvpType {
    /// Every attribute type this crate knows, in numeric order.
    pub const ALL: [AvpType; 27] = [
        AvpType::MessageType,
        AvpType::ResultCode,
        AvpType::TieBreaker,
        AvpType::HostName,
        AvpType::VendorName,
        AvpType::ReceiveWindowSize,
        AvpType::SerialNumber,
        AvpType::PhysicalChannelId,
        AvpType::CircuitErrors,
        AvpType::RandomVector,
        AvpType::ExtendedVendorId,
        AvpType::MessageDigest,
        AvpType::RouterId,
        AvpType::AssignedControlConnectionId,
        AvpType::PseudowireCapabilities,
        AvpType::LocalSessionId,
        AvpType::RemoteSessionId,
        AvpType::AssignedCookie,
        AvpType::RemoteEndId,
        AvpType::PseudowireType,
        AvpType::L2SpecificSublayer,
        AvpType::DataSequencing,
        AvpType::CircuitStatus,
        AvpType::PreferredLanguage,
        AvpType::Nonce,
        AvpType::TxConnectSpeed,
        AvpType::RxConnectSpeed,
    ];

    /// The attribute type number.
    pub const fn number(self) -> u16 {
        self as u16
    }

    /// The known attribute type with this number, if any.
    pub fn from_number(n: u16) -> Option<AvpType> {
        AvpType::ALL.iter().copied().find(|t| t.number() == n)
    }

    /// The AVP's name as RFC 3931 writes it.
    pub const fn name(self) -> &'static str {
        match self {
            AvpType::MessageType => "Message Type",
            AvpType::ResultCode => "Result Code",
            AvpType::TieBreaker => "Tie Breaker",
            AvpType::HostName => "Host Name",
            AvpType::VendorName => "Vendor Name",
            AvpType::ReceiveWindowSize => "Receive Window Size",
            AvpType::SerialNumber => "Serial Number",
            AvpType::PhysicalChannelId => "Physical Channel ID",
            AvpType::CircuitErrors => "Circuit Errors",
            AvpType::RandomVector => "Random Vector",
            AvpType::ExtendedVendorId => "Extended Vendor ID",
            AvpType::MessageDigest => "Message Digest",
            AvpType::RouterId => "Router ID",
            AvpType::AssignedControlConnectionId => "Assigned Control Connection ID",
            AvpType::PseudowireCapabilities => "Pseudowire Capabilities List",
            AvpType::LocalSessionId => "Local Session ID",
            AvpType::RemoteSessionId => "Remote Session ID",
            AvpType::AssignedCookie => "Assigned Cookie",
            AvpType::RemoteEndId => "Remote End ID",
            AvpType::PseudowireType => "Pseudowire Type",
            AvpType::L2SpecificSublayer => "L2-Specific Sublayer",
            AvpType::DataSequencing => "Data Sequencing",
            AvpType::CircuitStatus => "Circuit Status",
            AvpType::PreferredLanguage => "Preferred Language",
            AvpType::Nonce => "Control Message Authentication Nonce",
            AvpType::TxConnectSpeed => "Tx Connect Speed",
            AvpType::RxConnectSpeed => "Rx Connect Speed",
        }
    }

    /// The M bit RFC 3931 recommends for this AVP ("SHOULD be set to ...").
    pub const fn default_mandatory(self) -> bool {
        !matches!(
            self,
            AvpType::VendorName
                | AvpType::SerialNumber
                | AvpType::PhysicalChannelId
                | AvpType::CircuitErrors
                | AvpType::ExtendedVendorId
                | AvpType::PreferredLanguage
                | AvpType::TxConnectSpeed
                | AvpType::RxConnectSpeed
        )
    }

    /// Whether RFC 3931 allows this AVP to be hidden (H bit).
    pub const fn may_be_hidden(self) -> bool {
        !matches!(
            self,
            AvpType::MessageType
                | AvpType::ResultCode
                | AvpType::TieBreaker
                | AvpType::HostName
                | AvpType::ReceiveWindowSize
                | AvpType::RandomVector
                | AvpType::MessageDigest
                | AvpType::RouterId
                | AvpType::Nonce
        )
    }
}

impl fmt::Display for AvpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.number())
    }
}

/// Result Code AVP value (RFC 3931 section 5.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResultCode {
    /// The result code; its meaning depends on whether it is in a StopCCN or a CDN.
    pub result: u16,
    /// The optional error code and message.
    pub error: Option<ErrorCode>,
}

/// The optional part of a Result Code AVP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ErrorCode {
    /// General error code (section 5.4.2), meaningful when `result` is 2.
    pub code: u16,
    /// Optional human-readable message (UTF-8 on the wire, kept as bytes).
    pub message: Vec<u8>,
}

impl ResultCode {
    /// A result code without an error code.
    pub fn new(result: u16) -> Self {
        ResultCode {
            result,
            error: None,
        }
    }

    /// A result code with an error code and message.
    pub fn with_error(result: u16, code: u16, message: impl Into<Vec<u8>>) -> Self {
        ResultCode {
            result,
            error: Some(ErrorCode {
                code,
                message: message.into(),
            }),
        }
    }
}

/// Named values of the Result Code AVP and its general error codes (section 5.4.2).
pub mod result {
    /// StopCCN: general request to clear control connection.
    pub const STOPCCN_GENERAL_CLEAR: u16 = 1;
    /// StopCCN and CDN: general error, the error code says which.
    pub const GENERAL_ERROR: u16 = 2;
    /// StopCCN: control connection already exists.
    pub const STOPCCN_ALREADY_EXISTS: u16 = 3;
    /// StopCCN: requester is not authorised.
    pub const STOPCCN_NOT_AUTHORIZED: u16 = 4;
    /// StopCCN: protocol version not supported.
    pub const STOPCCN_BAD_VERSION: u16 = 5;
    /// StopCCN: requester is being shut down.
    pub const STOPCCN_SHUTTING_DOWN: u16 = 6;
    /// StopCCN: finite state machine error or timeout.
    pub const STOPCCN_FSM_ERROR: u16 = 7;
    /// CDN: loss of carrier or circuit disconnect.
    pub const CDN_LOST_CARRIER: u16 = 1;
    /// CDN: administrative reasons.
    pub const CDN_ADMIN: u16 = 3;
    /// CDN: temporary lack of facilities.
    pub const CDN_TEMPORARY_NO_FACILITIES: u16 = 4;
    /// CDN: permanent lack of facilities.
    pub const CDN_PERMANENT_NO_FACILITIES: u16 = 5;
    /// CDN: session lost the tie breaker.
    pub const CDN_LOST_TIE: u16 = 13;
    /// CDN: unsupported pseudowire type.
    pub const CDN_UNSUPPORTED_PW_TYPE: u16 = 14;
    /// CDN: sequencing required without a valid L2-Specific Sublayer.
    pub const CDN_SEQUENCING_WITHOUT_SUBLAYER: u16 = 15;
    /// CDN: finite state machine error or timeout.
    pub const CDN_FSM_ERROR: u16 = 16;

    /// General error: none.
    pub const ERROR_NONE: u16 = 0;
    /// General error: no control connection exists yet.
    pub const ERROR_NO_CONTROL_CONNECTION: u16 = 1;
    /// General error: length is wrong.
    pub const ERROR_BAD_LENGTH: u16 = 2;
    /// General error: a field value was out of range.
    pub const ERROR_OUT_OF_RANGE: u16 = 3;
    /// General error: insufficient resources.
    pub const ERROR_NO_RESOURCES: u16 = 4;
    /// General error: invalid Session ID.
    pub const ERROR_INVALID_SESSION_ID: u16 = 5;
    /// General error: generic vendor-specific error (details in the message).
    pub const ERROR_GENERIC: u16 = 6;
    /// General error: try another.
    pub const ERROR_TRY_ANOTHER: u16 = 7;
    /// General error: unknown AVP with the M bit set.
    pub const ERROR_UNKNOWN_MANDATORY_AVP: u16 = 8;
    /// General error: try another, directed.
    pub const ERROR_TRY_ANOTHER_DIRECTED: u16 = 9;
}

/// Circuit Errors AVP value (RFC 3931 section 5.4.5): 2 reserved bytes and four
/// 32-bit counters.
///
/// RFC 3931's figure gives an 18-byte value (AVP Length 24) while its text says
/// Length 32, a leftover of RFC 2661's Call Errors AVP. This crate follows the
/// figure; any other length decodes as [`AvpValue::Malformed`] and is kept as bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CircuitErrors {
    /// Receive buffer overruns since the call was established.
    pub hardware_overruns: u32,
    /// Buffer overruns since the call was established.
    pub buffer_overruns: u32,
    /// Timeouts since the call was established.
    pub timeout_errors: u32,
    /// Alignment errors since the call was established.
    pub alignment_errors: u32,
}

/// Message Digest AVP value (RFC 3931 section 5.4.1): a digest type and the digest.
///
/// The lengths are 1 + 16 for HMAC-MD5 (AVP Length 23) and 1 + 20 for HMAC-SHA-1
/// (AVP Length 27); RFC 3931's text pairs these lengths with the wrong type numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageDigest {
    /// Digest Type 0, HMAC-MD5.
    HmacMd5([u8; 16]),
    /// Digest Type 1, HMAC-SHA-1.
    HmacSha1([u8; 20]),
}

impl MessageDigest {
    /// Digest Type value for HMAC-MD5.
    pub const TYPE_HMAC_MD5: u8 = 0;
    /// Digest Type value for HMAC-SHA-1.
    pub const TYPE_HMAC_SHA1: u8 = 1;

    /// The Digest Type octet.
    pub const fn digest_type(&self) -> u8 {
        match self {
            MessageDigest::HmacMd5(_) => Self::TYPE_HMAC_MD5,
            MessageDigest::HmacSha1(_) => Self::TYPE_HMAC_SHA1,
        }
    }

    /// The digest bytes.
    pub fn digest(&self) -> &[u8] {
        match self {
            MessageDigest::HmacMd5(d) => d,
            MessageDigest::HmacSha1(d) => d,
        }
    }

    /// A digest of the same type with all-zero bytes, as used while computing it.
    pub const fn zeroed(&self) -> MessageDigest {
        match self {
            MessageDigest::HmacMd5(_) => MessageDigest::HmacMd5([0; 16]),
            MessageDigest::HmacSha1(_) => MessageDigest::HmacSha1([0; 20]),
        }
    }

    /// Length of the digest bytes for a Digest Type, if known.
    pub const fn digest_len(digest_type: u8) -> Option<usize> {
        match digest_type {
            Self::TYPE_HMAC_MD5 => Some(16),
            Self::TYPE_HMAC_SHA1 => Some(20),
            _ => None,
        }
    }
}

/// Pseudowire type (RFC 3931 section 5.4.3/5.4.4; IANA "L2TPv3 Pseudowire Types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PwType(pub u16);

impl PwType {
    /// Frame Relay DLCI.
    pub const FRAME_RELAY: PwType = PwType(0x0001);
    /// ATM AAL5 SDU VCC transport.
    pub const ATM_AAL5: PwType = PwType(0x0002);
    /// Ethernet VLAN (RFC 4719).
    pub const ETHERNET_VLAN: PwType = PwType(0x0004);
    /// Ethernet port (RFC 4719).
    pub const ETHERNET: PwType = PwType(0x0005);
    /// HDLC.
    pub const HDLC: PwType = PwType(0x0006);
    /// PPP.
    pub const PPP: PwType = PwType(0x0007);

    /// A short name for well-known types.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            PwType::FRAME_RELAY => "Frame Relay DLCI",
            PwType::ATM_AAL5 => "ATM AAL5",
            PwType::ETHERNET_VLAN => "Ethernet VLAN",
            PwType::ETHERNET => "Ethernet",
            PwType::HDLC => "HDLC",
            PwType::PPP => "PPP",
            _ => return None,
        })
    }
}

/// L2-Specific Sublayer Type (RFC 3931 section 5.4.4, 10.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct L2SublayerType(pub u16);

impl L2SublayerType {
    /// No L2-Specific Sublayer.
    pub const NONE: L2SublayerType = L2SublayerType(0);
    /// The Default L2-Specific Sublayer of section 4.6.
    pub const DEFAULT: L2SublayerType = L2SublayerType(1);
}

/// Data Sequencing level (RFC 3931 section 5.4.4, 10.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataSequencing(pub u16);

impl DataSequencing {
    /// No incoming data packets require sequencing.
    pub const NONE: DataSequencing = DataSequencing(0);
    /// Only non-IP data packets require sequencing.
    pub const NON_IP: DataSequencing = DataSequencing(1);
    /// All incoming data packets require sequencing.
    pub const ALL: DataSequencing = DataSequencing(2);
}

/// Circuit Status AVP value (RFC 3931 section 5.4.5). Reserved bits are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CircuitStatus {
    /// A bit: the circuit is up.
    pub active: bool,
    /// N bit: the status is for a new circuit.
    pub new: bool,
}

const CIRCUIT_A: u16 = 0x0001;
const CIRCUIT_N: u16 = 0x0002;

/// An AVP kept as bytes: vendor-specific, unknown, or hidden.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAvp {
    /// The 16-bit Vendor ID (0 for IETF).
    pub vendor_id: u16,
    /// The Attribute Type.
    pub attr_type: u16,
    /// H bit: `value` holds hidden bytes (section 5.3), not the plain value.
    pub hidden: bool,
    /// The Attribute Value as it appeared on the wire.
    pub value: Vec<u8>,
}

/// The decoded value of one AVP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AvpValue {
    /// Message Type (0).
    MessageType(MessageType),
    /// Result Code (1).
    ResultCode(ResultCode),
    /// Control Connection / Session Tie Breaker (5).
    TieBreaker(u64),
    /// Host Name (7), US-ASCII.
    HostName(Vec<u8>),
    /// Vendor Name (8), US-ASCII.
    VendorName(Vec<u8>),
    /// Receive Window Size (10).
    ReceiveWindowSize(u16),
    /// Serial Number (15).
    SerialNumber(u32),
    /// Physical Channel ID (25).
    PhysicalChannelId(u32),
    /// Circuit Errors (34).
    CircuitErrors(CircuitErrors),
    /// Random Vector (36).
    RandomVector(Vec<u8>),
    /// Extended Vendor ID AVP (58): a vendor AVP with a 32-bit Vendor ID.
    ExtendedVendor {
        /// The 32-bit Vendor ID.
        vendor_id: u32,
        /// The vendor's Attribute Type.
        attr_type: u16,
        /// The vendor's Attribute Value.
        value: Vec<u8>,
    },
    /// Message Digest (59).
    MessageDigest(MessageDigest),
    /// Router ID (60).
    RouterId(u32),
    /// Assigned Control Connection ID (61).
    AssignedControlConnectionId(u32),
    /// Pseudowire Capabilities List (62).
    PseudowireCapabilities(Vec<PwType>),
    /// Local Session ID (63).
    LocalSessionId(u32),
    /// Remote Session ID (64).
    RemoteSessionId(u32),
    /// Assigned Cookie (65), 4 or 8 bytes.
    AssignedCookie(Cookie),
    /// Remote End ID (66).
    RemoteEndId(Vec<u8>),
    /// Pseudowire Type (68).
    PseudowireType(PwType),
    /// L2-Specific Sublayer (69).
    L2SpecificSublayer(L2SublayerType),
    /// Data Sequencing (70).
    DataSequencing(DataSequencing),
    /// Circuit Status (71).
    CircuitStatus(CircuitStatus),
    /// Preferred Language (72).
    PreferredLanguage(Vec<u8>),
    /// Control Message Authentication Nonce (73).
    Nonce(Vec<u8>),
    /// Tx Connect Speed in bits per second (74).
    TxConnectSpeed(u64),
    /// Rx Connect Speed in bits per second (75).
    RxConnectSpeed(u64),
    /// A vendor, unknown or hidden AVP, kept as bytes.
    Raw(RawAvp),
    /// A known IETF AVP whose value could not be interpreted (section 7.1).
    Malformed {
        /// The known attribute type.
        attr_type: AvpType,
        /// The Attribute Value as it appeared on the wire.
        value: Vec<u8>,
        /// What was wrong with it.
        error: AvpValueError,
    },
}

impl AvpValue {
    /// The known IETF attribute type of this value, or `None` for [`AvpValue::Raw`].
    pub fn avp_type(&self) -> Option<AvpType> {
        Some(match self {
            AvpValue::MessageType(_) => AvpType::MessageType,
            AvpValue::ResultCode(_) => AvpType::ResultCode,
            AvpValue::TieBreaker(_) => AvpType::TieBreaker,
            AvpValue::HostName(_) => AvpType::HostName,
            AvpValue::VendorName(_) => AvpType::VendorName,
            AvpValue::ReceiveWindowSize(_) => AvpType::ReceiveWindowSize,
            AvpValue::SerialNumber(_) => AvpType::SerialNumber,
            AvpValue::PhysicalChannelId(_) => AvpType::PhysicalChannelId,
            AvpValue::CircuitErrors(_) => AvpType::CircuitErrors,
            AvpValue::RandomVector(_) => AvpType::RandomVector,
            AvpValue::ExtendedVendor { .. } => AvpType::ExtendedVendorId,
            AvpValue::MessageDigest(_) => AvpType::MessageDigest,
            AvpValue::RouterId(_) => AvpType::RouterId,
            AvpValue::AssignedControlConnectionId(_) => AvpType::AssignedControlConnectionId,
            AvpValue::PseudowireCapabilities(_) => AvpType::PseudowireCapabilities,
            AvpValue::LocalSessionId(_) => AvpType::LocalSessionId,
            AvpValue::RemoteSessionId(_) => AvpType::RemoteSessionId,
            AvpValue::AssignedCookie(_) => AvpType::AssignedCookie,
            AvpValue::RemoteEndId(_) => AvpType::RemoteEndId,
            AvpValue::PseudowireType(_) => AvpType::PseudowireType,
            AvpValue::L2SpecificSublayer(_) => AvpType::L2SpecificSublayer,
            AvpValue::DataSequencing(_) => AvpType::DataSequencing,
            AvpValue::CircuitStatus(_) => AvpType::CircuitStatus,
            AvpValue::PreferredLanguage(_) => AvpType::PreferredLanguage,
            AvpValue::Nonce(_) => AvpType::Nonce,
            AvpValue::TxConnectSpeed(_) => AvpType::TxConnectSpeed,
            AvpValue::RxConnectSpeed(_) => AvpType::RxConnectSpeed,
            AvpValue::Malformed { attr_type, .. } => *attr_type,
            AvpValue::Raw(_) => return None,
        })
    }

    /// The 16-bit Vendor ID and Attribute Type written in the AVP header.
    pub fn wire_type(&self) -> (u16, u16) {
        match self {
            AvpValue::Raw(r) => (r.vendor_id, r.attr_type),
            other => (IETF_VENDOR_ID, other.avp_type().map_or(0, AvpType::number)),
        }
    }

    /// Whether the H bit is set (only raw AVPs carry hidden bytes).
    pub fn is_hidden(&self) -> bool {
        matches!(self, AvpValue::Raw(RawAvp { hidden: true, .. }))
    }

    /// Length of the Attribute Value in bytes.
    pub fn value_len(&self) -> usize {
        match self {
            AvpValue::MessageType(_)
            | AvpValue::ReceiveWindowSize(_)
            | AvpValue::PseudowireType(_)
            | AvpValue::L2SpecificSublayer(_)
            | AvpValue::DataSequencing(_)
            | AvpValue::CircuitStatus(_) => 2,
            AvpValue::ResultCode(rc) => match &rc.error {
                None => 2,
                Some(e) => 4 + e.message.len(),
            },
            AvpValue::TieBreaker(_) | AvpValue::TxConnectSpeed(_) | AvpValue::RxConnectSpeed(_) => {
                8
            }
            AvpValue::SerialNumber(_)
            | AvpValue::PhysicalChannelId(_)
            | AvpValue::RouterId(_)
            | AvpValue::AssignedControlConnectionId(_)
            | AvpValue::LocalSessionId(_)
            | AvpValue::RemoteSessionId(_) => 4,
            AvpValue::CircuitErrors(_) => 18,
            AvpValue::HostName(v)
            | AvpValue::VendorName(v)
            | AvpValue::RandomVector(v)
            | AvpValue::RemoteEndId(v)
            | AvpValue::PreferredLanguage(v)
            | AvpValue::Nonce(v) => v.len(),
            AvpValue::ExtendedVendor { value, .. } => 6 + value.len(),
            AvpValue::MessageDigest(d) => 1 + d.digest().len(),
            AvpValue::PseudowireCapabilities(list) => 2 * list.len(),
            AvpValue::AssignedCookie(c) => c.len(),
            AvpValue::Raw(r) => r.value.len(),
            AvpValue::Malformed { value, .. } => value.len(),
        }
    }

    /// Writes the Attribute Value (without the AVP header).
    fn put_value(&self, out: &mut impl BufMut) {
        match self {
            AvpValue::MessageType(t) => out.put_u16(t.number()),
            AvpValue::ResultCode(rc) => {
                out.put_u16(rc.result);
                if let Some(e) = &rc.error {
                    out.put_u16(e.code);
                    out.put_slice(&e.message);
                }
            }
            AvpValue::TieBreaker(v) | AvpValue::TxConnectSpeed(v) | AvpValue::RxConnectSpeed(v) => {
                out.put_u64(*v)
            }
            AvpValue::ReceiveWindowSize(v) => out.put_u16(*v),
            AvpValue::SerialNumber(v)
            | AvpValue::PhysicalChannelId(v)
            | AvpValue::RouterId(v)
            | AvpValue::AssignedControlConnectionId(v)
            | AvpValue::LocalSessionId(v)
            | AvpValue::RemoteSessionId(v) => out.put_u32(*v),
            AvpValue::CircuitErrors(c) => {
                out.put_u16(0);
                out.put_u32(c.hardware_overruns);
                out.put_u32(c.buffer_overruns);
                out.put_u32(c.timeout_errors);
                out.put_u32(c.alignment_errors);
            }
            AvpValue::HostName(v)
            | AvpValue::VendorName(v)
            | AvpValue::RandomVector(v)
            | AvpValue::RemoteEndId(v)
            | AvpValue::PreferredLanguage(v)
            | AvpValue::Nonce(v) => out.put_slice(v),
            AvpValue::ExtendedVendor {
                vendor_id,
                attr_type,
                value,
            } => {
                out.put_u32(*vendor_id);
                out.put_u16(*attr_type);
                out.put_slice(value);
            }
            AvpValue::MessageDigest(d) => {
                out.put_u8(d.digest_type());
                out.put_slice(d.digest());
            }
            AvpValue::PseudowireCapabilities(list) => {
                for t in list {
                    out.put_u16(t.0);
                }
            }
            AvpValue::AssignedCookie(c) => out.put_slice(c.as_bytes()),
            AvpValue::PseudowireType(t) => out.put_u16(t.0),
            AvpValue::L2SpecificSublayer(t) => out.put_u16(t.0),
            AvpValue::DataSequencing(t) => out.put_u16(t.0),
            AvpValue::CircuitStatus(s) => {
                let mut v = 0;
                if s.active {
                    v |= CIRCUIT_A;
                }
                if s.new {
                    v |= CIRCUIT_N;
                }
                out.put_u16(v);
            }
            AvpValue::Raw(r) => out.put_slice(&r.value),
            AvpValue::Malformed { value, .. } => out.put_slice(value),
        }
    }

    /// Interprets the value of a non-hidden IETF AVP of a known type.
    fn decode_known(t: AvpType, v: &[u8]) -> AvpValue {
        match Self::try_decode_known(t, v) {
            Ok(value) => value,
            Err(error) => AvpValue::Malformed {
                attr_type: t,
                value: v.to_vec(),
                error,
            },
        }
    }

    fn try_decode_known(t: AvpType, v: &[u8]) -> Result<AvpValue, AvpValueError> {
        let bad = |expected: &'static str| AvpValueError::BadLength {
            expected,
            got: v.len(),
        };
        let u16_of = |v: &[u8]| -> Result<u16, AvpValueError> {
            match be_u16::<_, ()>(v) {
                Ok(([], x)) => Ok(x),
                _ => Err(bad("2")),
            }
        };
        let u32_of = |v: &[u8]| -> Result<u32, AvpValueError> {
            match be_u32::<_, ()>(v) {
                Ok(([], x)) => Ok(x),
                _ => Err(bad("4")),
            }
        };
        let u64_of = |v: &[u8]| -> Result<u64, AvpValueError> {
            match be_u64::<_, ()>(v) {
                Ok(([], x)) => Ok(x),
                _ => Err(bad("8")),
            }
        };
        Ok(match t {
            AvpType::MessageType => AvpValue::MessageType(MessageType::from_number(u16_of(v)?)),
            AvpType::ResultCode => {
                let (rest, result) = be_u16::<_, ()>(v).map_err(|_| bad("2, or 4 and more"))?;
                let error = if rest.is_empty() {
                    None
                } else {
                    let (message, code) =
                        be_u16::<_, ()>(rest).map_err(|_| bad("2, or 4 and more"))?;
                    Some(ErrorCode {
                        code,
                        message: message.to_vec(),
                    })
                };
                AvpValue::ResultCode(ResultCode { result, error })
            }
            AvpType::TieBreaker => AvpValue::TieBreaker(u64_of(v)?),
            AvpType::HostName => {
                if v.is_empty() {
                    return Err(bad("at least 1"));
                }
                AvpValue::HostName(v.to_vec())
            }
            AvpType::VendorName => AvpValue::VendorName(v.to_vec()),
            AvpType::ReceiveWindowSize => AvpValue::ReceiveWindowSize(u16_of(v)?),
            AvpType::SerialNumber => AvpValue::SerialNumber(u32_of(v)?),
            AvpType::PhysicalChannelId => AvpValue::PhysicalChannelId(u32_of(v)?),
            AvpType::CircuitErrors => {
                if v.len() != 18 {
                    return Err(bad("18"));
                }
                let (r, _reserved) = be_u16::<_, ()>(v).map_err(|_| bad("18"))?;
                let (r, hardware_overruns) = be_u32::<_, ()>(r).map_err(|_| bad("18"))?;
                let (r, buffer_overruns) = be_u32::<_, ()>(r).map_err(|_| bad("18"))?;
                let (r, timeout_errors) = be_u32::<_, ()>(r).map_err(|_| bad("18"))?;
                let (_, alignment_errors) = be_u32::<_, ()>(r).map_err(|_| bad("18"))?;
                AvpValue::CircuitErrors(CircuitErrors {
                    hardware_overruns,
                    buffer_overruns,
                    timeout_errors,
                    alignment_errors,
                })
            }
            AvpType::RandomVector => AvpValue::RandomVector(v.to_vec()),
            AvpType::ExtendedVendorId => {
                let (r, vendor_id) = be_u32::<_, ()>(v).map_err(|_| bad("at least 6"))?;
                let (value, attr_type) = be_u16::<_, ()>(r).map_err(|_| bad("at least 6"))?;
                AvpValue::ExtendedVendor {
                    vendor_id,
                    attr_type,
                    value: value.to_vec(),
                }
            }
            AvpType::MessageDigest => {
                let Some((&dt, digest)) = v.split_first() else {
                    return Err(bad("17 or 21"));
                };
                match dt {
                    MessageDigest::TYPE_HMAC_MD5 => {
                        AvpValue::MessageDigest(MessageDigest::HmacMd5(
                            digest.try_into().map_err(|_| bad("17 for HMAC-MD5"))?,
                        ))
                    }
                    MessageDigest::TYPE_HMAC_SHA1 => {
                        AvpValue::MessageDigest(MessageDigest::HmacSha1(
                            digest.try_into().map_err(|_| bad("21 for HMAC-SHA-1"))?,
                        ))
                    }
                    other => return Err(AvpValueError::UnknownDigestType(other)),
                }
            }
            AvpType::RouterId => AvpValue::RouterId(u32_of(v)?),
            AvpType::AssignedControlConnectionId => {
                AvpValue::AssignedControlConnectionId(u32_of(v)?)
            }
            AvpType::PseudowireCapabilities => {
                if v.is_empty() || !v.len().is_multiple_of(2) {
                    return Err(bad("a non-zero multiple of 2"));
                }
                AvpValue::PseudowireCapabilities(
                    v.chunks_exact(2)
                        .map(|c| PwType(u16::from_be_bytes([c[0], c[1]])))
                        .collect(),
                )
            }
            AvpType::LocalSessionId => AvpValue::LocalSessionId(u32_of(v)?),
            AvpType::RemoteSessionId => AvpValue::RemoteSessionId(u32_of(v)?),
            AvpType::AssignedCookie => match v.len() {
                4 | 8 => AvpValue::AssignedCookie(Cookie::from_slice(v).ok_or(bad("4 or 8"))?),
                _ => return Err(bad("4 or 8")),
            },
            AvpType::RemoteEndId => AvpValue::RemoteEndId(v.to_vec()),
            AvpType::PseudowireType => AvpValue::PseudowireType(PwType(u16_of(v)?)),
            AvpType::L2SpecificSublayer => AvpValue::L2SpecificSublayer(L2SublayerType(u16_of(v)?)),
            AvpType::DataSequencing => AvpValue::DataSequencing(DataSequencing(u16_of(v)?)),
            AvpType::CircuitStatus => {
                let bits = u16_of(v)?;
                AvpValue::CircuitStatus(CircuitStatus {
                    active: bits & CIRCUIT_A != 0,
                    new: bits & CIRCUIT_N != 0,
                })
            }
            AvpType::PreferredLanguage => AvpValue::PreferredLanguage(v.to_vec()),
            AvpType::Nonce => AvpValue::Nonce(v.to_vec()),
            AvpType::TxConnectSpeed => AvpValue::TxConnectSpeed(u64_of(v)?),
            AvpType::RxConnectSpeed => AvpValue::RxConnectSpeed(u64_of(v)?),
        })
    }
}

/// One AVP: its M bit and its value (RFC 3931 figure 5.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Avp {
    /// M bit. For unknown or malformed AVPs it decides, under section 5.2 and 7.1,
    /// whether the session or control connection must be torn down.
    pub mandatory: bool,
    /// The decoded value.
    pub value: AvpValue,
}

impl Avp {
    /// An AVP with the M bit RFC 3931 recommends for its type (M=1 for raw AVPs
    /// unless set otherwise).
    pub fn new(value: AvpValue) -> Avp {
        let mandatory = value.avp_type().is_none_or(AvpType::default_mandatory);
        Avp { mandatory, value }
    }

    /// An AVP with an explicit M bit.
    pub fn with_mandatory(value: AvpValue, mandatory: bool) -> Avp {
        Avp { mandatory, value }
    }

    /// Bytes this AVP takes on the wire, header included.
    pub fn encoded_len(&self) -> usize {
        AVP_HEADER_LEN + self.value.value_len()
    }

    /// Encodes the AVP.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<(), EncodeError> {
        let len = self.encoded_len();
        let (vendor_id, attr_type) = self.value.wire_type();
        if len > MAX_AVP_LEN {
            return Err(EncodeError::AvpTooLong {
                attr_type,
                len: len - AVP_HEADER_LEN,
            });
        }
        if out.remaining_mut() < len {
            return Err(EncodeError::BufferTooSmall {
                needed: len,
                available: out.remaining_mut(),
            });
        }
        let mut first = len as u16;
        if self.mandatory {
            first |= AVP_M;
        }
        if self.value.is_hidden() {
            first |= AVP_H;
        }
        out.put_u16(first);
        out.put_u16(vendor_id);
        out.put_u16(attr_type);
        self.value.put_value(out);
        Ok(())
    }

    /// Decodes one AVP at the start of `buf`, returning it and the bytes it took.
    ///
    /// `offset` is the position of `buf[0]` in the packet, used in errors.
    pub fn decode(buf: &[u8], offset: usize) -> Result<(Avp, usize), ControlError> {
        let header = raw_header(buf, offset)?;
        let value = &buf[AVP_HEADER_LEN..header.len];
        let v = if header.hidden || header.vendor_id != IETF_VENDOR_ID {
            AvpValue::Raw(RawAvp {
                vendor_id: header.vendor_id,
                attr_type: header.attr_type,
                hidden: header.hidden,
                value: value.to_vec(),
            })
        } else {
            match AvpType::from_number(header.attr_type) {
                Some(t) => AvpValue::decode_known(t, value),
                None => AvpValue::Raw(RawAvp {
                    vendor_id: header.vendor_id,
                    attr_type: header.attr_type,
                    hidden: false,
                    value: value.to_vec(),
                }),
            }
        };
        Ok((
            Avp {
                mandatory: header.mandatory,
                value: v,
            },
            header.len,
        ))
    }
}

/// The fields of an AVP header, checked against the bytes present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawHeader {
    pub mandatory: bool,
    pub hidden: bool,
    /// AVP Length, header included; at least 6 and within `buf`.
    pub len: usize,
    pub vendor_id: u16,
    pub attr_type: u16,
}

/// Reads and bounds-checks the AVP header at the start of `buf`.
pub(crate) fn raw_header(buf: &[u8], offset: usize) -> Result<RawHeader, ControlError> {
    let trailing = || ControlError::TrailingBytes {
        offset,
        remaining: buf.len(),
    };
    let (r, first) = be_u16::<_, ()>(buf).map_err(|_| trailing())?;
    let (r, vendor_id) = be_u16::<_, ()>(r).map_err(|_| trailing())?;
    let (_, attr_type) = be_u16::<_, ()>(r).map_err(|_| trailing())?;
    let length = first & AVP_LEN_MASK;
    let len = usize::from(length);
    if len < AVP_HEADER_LEN || len > buf.len() {
        return Err(ControlError::BadAvpLength {
            offset,
            length,
            remaining: buf.len(),
        });
    }
    Ok(RawHeader {
        mandatory: first & AVP_M != 0,
        hidden: first & AVP_H != 0,
        len,
        vendor_id,
        attr_type,
    })
}

/// Shows printable text as a quoted string and anything else as hex.
pub(crate) fn fmt_text(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => write!(f, "{s:?}"),
        _ => fmt_hex(f, bytes),
    }
}

/// Shows bytes as `0x` followed by lowercase hex.
pub(crate) fn fmt_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    f.write_str("0x")?;
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Display for AvpValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AvpValue::MessageType(t) => write!(f, "{t}"),
            AvpValue::ResultCode(rc) => {
                write!(f, "result {}", rc.result)?;
                if let Some(e) = &rc.error {
                    write!(f, ", error {}", e.code)?;
                    if !e.message.is_empty() {
                        f.write_str(", message ")?;
                        fmt_text(f, &e.message)?;
                    }
                }
                Ok(())
            }
            AvpValue::TieBreaker(v) => write!(f, "{v:#018x}"),
            AvpValue::HostName(v)
            | AvpValue::VendorName(v)
            | AvpValue::RemoteEndId(v)
            | AvpValue::PreferredLanguage(v) => fmt_text(f, v),
            AvpValue::RandomVector(v) | AvpValue::Nonce(v) => fmt_hex(f, v),
            AvpValue::ReceiveWindowSize(v) => write!(f, "{v}"),
            AvpValue::SerialNumber(v) | AvpValue::PhysicalChannelId(v) => write!(f, "{v}"),
            AvpValue::CircuitErrors(c) => write!(
                f,
                "hardware overruns {}, buffer overruns {}, timeouts {}, alignment errors {}",
                c.hardware_overruns, c.buffer_overruns, c.timeout_errors, c.alignment_errors
            ),
            AvpValue::ExtendedVendor {
                vendor_id,
                attr_type,
                value,
            } => {
                write!(f, "vendor {vendor_id} type {attr_type} value ")?;
                fmt_hex(f, value)
            }
            AvpValue::MessageDigest(d) => {
                let name = match d {
                    MessageDigest::HmacMd5(_) => "HMAC-MD5",
                    MessageDigest::HmacSha1(_) => "HMAC-SHA-1",
                };
                write!(f, "{name} ")?;
                fmt_hex(f, d.digest())
            }
            AvpValue::RouterId(v) => write!(f, "{}", std::net::Ipv4Addr::from(*v)),
            AvpValue::AssignedControlConnectionId(v)
            | AvpValue::LocalSessionId(v)
            | AvpValue::RemoteSessionId(v) => write!(f, "{v:#010x}"),
            AvpValue::PseudowireCapabilities(list) => {
                for (i, t) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                Ok(())
            }
            AvpValue::AssignedCookie(c) => fmt_hex(f, c.as_bytes()),
            AvpValue::PseudowireType(t) => write!(f, "{t}"),
            AvpValue::L2SpecificSublayer(t) => match *t {
                L2SublayerType::NONE => f.write_str("none (0)"),
                L2SublayerType::DEFAULT => f.write_str("default (1)"),
                L2SublayerType(n) => write!(f, "{n}"),
            },
            AvpValue::DataSequencing(s) => match *s {
                DataSequencing::NONE => f.write_str("none (0)"),
                DataSequencing::NON_IP => f.write_str("non-IP only (1)"),
                DataSequencing::ALL => f.write_str("all (2)"),
                DataSequencing(n) => write!(f, "{n}"),
            },
            AvpValue::CircuitStatus(s) => write!(
                f,
                "{}, {}",
                if s.active { "active" } else { "inactive" },
                if s.new { "new" } else { "existing" }
            ),
            AvpValue::TxConnectSpeed(v) | AvpValue::RxConnectSpeed(v) => write!(f, "{v} bit/s"),
            AvpValue::Raw(r) => {
                write!(
                    f,
                    "vendor {} type {}{} value ",
                    r.vendor_id,
                    r.attr_type,
                    if r.hidden { " hidden" } else { "" }
                )?;
                fmt_hex(f, &r.value)
            }
            AvpValue::Malformed { value, error, .. } => {
                write!(f, "malformed ({error}): ")?;
                fmt_hex(f, value)
            }
        }
    }
}

impl fmt::Display for PwType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} ({:#06x})", self.0),
            None => write!(f, "{:#06x}", self.0),
        }
    }
}

impl fmt::Display for Avp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value.avp_type() {
            Some(t) => f.write_str(t.name())?,
            None => f.write_str("AVP")?,
        }
        write!(
            f,
            " [M={} H={}]: {}",
            u8::from(self.mandatory),
            u8::from(self.value.is_hidden()),
            self.value
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(avp: &Avp, wire: &[u8]) {
        let mut out = Vec::new();
        avp.encode(&mut out).unwrap();
        assert_eq!(out, wire, "encoding {avp:?}");
        let (back, used) = Avp::decode(wire, 0).unwrap();
        assert_eq!(used, wire.len());
        assert_eq!(&back, avp);
    }

    #[test]
    fn message_type_avp_figure() {
        // Section 5.4.1: M=1, Length 8, Vendor 0, Type 0, value 1 (SCCRQ).
        roundtrip(
            &Avp::new(AvpValue::MessageType(MessageType::Sccrq)),
            &[0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01],
        );
    }

    #[test]
    fn result_code_lengths() {
        // Length 8: result only.
        roundtrip(
            &Avp::new(AvpValue::ResultCode(ResultCode::new(1))),
            &[0x80, 0x08, 0, 0, 0, 1, 0, 1],
        );
        // Length 10: result and error code.
        roundtrip(
            &Avp::new(AvpValue::ResultCode(ResultCode::with_error(2, 8, ""))),
            &[0x80, 0x0a, 0, 0, 0, 1, 0, 2, 0, 8],
        );
        // Length 10 + message.
        roundtrip(
            &Avp::new(AvpValue::ResultCode(ResultCode::with_error(2, 6, "no"))),
            &[0x80, 0x0c, 0, 0, 0, 1, 0, 2, 0, 6, b'n', b'o'],
        );
        // A 3-byte value is malformed, kept with its bytes.
        let (avp, _) = Avp::decode(&[0x80, 0x09, 0, 0, 0, 1, 0, 2, 0], 0).unwrap();
        assert!(matches!(
            avp.value,
            AvpValue::Malformed {
                attr_type: AvpType::ResultCode,
                ..
            }
        ));
    }

    #[test]
    fn message_digest_lengths_follow_6_1_16_and_6_1_20() {
        let md5 = Avp::new(AvpValue::MessageDigest(MessageDigest::HmacMd5([0xaa; 16])));
        assert_eq!(md5.encoded_len(), 23);
        let sha1 = Avp::new(AvpValue::MessageDigest(MessageDigest::HmacSha1([0xbb; 20])));
        assert_eq!(sha1.encoded_len(), 27);
        let mut wire = vec![0x80, 23, 0, 0, 0, 59, 0];
        wire.extend([0xaa; 16]);
        roundtrip(&md5, &wire);
        let mut wire = vec![0x80, 27, 0, 0, 0, 59, 1];
        wire.extend([0xbb; 20]);
        roundtrip(&sha1, &wire);
        // Type 0 with a 20-byte digest is malformed.
        let mut bad = vec![0x80, 27, 0, 0, 0, 59, 0];
        bad.extend([0; 20]);
        assert!(matches!(
            Avp::decode(&bad, 0).unwrap().0.value,
            AvpValue::Malformed { .. }
        ));
    }

    #[test]
    fn session_avps() {
        roundtrip(
            &Avp::new(AvpValue::LocalSessionId(0x1122_3344)),
            &[0x80, 10, 0, 0, 0, 63, 0x11, 0x22, 0x33, 0x44],
        );
        roundtrip(
            &Avp::new(AvpValue::PseudowireCapabilities(vec![
                PwType::ETHERNET,
                PwType::ETHERNET_VLAN,
            ])),
            &[0x80, 10, 0, 0, 0, 62, 0, 5, 0, 4],
        );
        roundtrip(
            &Avp::new(AvpValue::CircuitStatus(CircuitStatus {
                active: true,
                new: true,
            })),
            &[0x80, 8, 0, 0, 0, 71, 0, 3],
        );
        roundtrip(
            &Avp::new(AvpValue::AssignedCookie(Cookie::Four([1, 2, 3, 4]))),
            &[0x80, 10, 0, 0, 0, 65, 1, 2, 3, 4],
        );
        roundtrip(
            &Avp::new(AvpValue::TxConnectSpeed(1_000_000_000)),
            &[0x00, 14, 0, 0, 0, 74, 0, 0, 0, 0, 0x3b, 0x9a, 0xca, 0x00],
        );
        roundtrip(
            &Avp::new(AvpValue::CircuitErrors(CircuitErrors {
                hardware_overruns: 1,
                buffer_overruns: 2,
                timeout_errors: 3,
                alignment_errors: 4,
            })),
            &[
                0x00, 24, 0, 0, 0, 34, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
            ],
        );
    }

    #[test]
    fn extended_vendor_figure_5_2() {
        roundtrip(
            &Avp::new(AvpValue::ExtendedVendor {
                vendor_id: 0x0001_0203,
                attr_type: 7,
                value: vec![0xde, 0xad],
            }),
            &[0x00, 14, 0, 0, 0, 58, 0, 1, 2, 3, 0, 7, 0xde, 0xad],
        );
    }

    #[test]
    fn unknown_vendor_and_hidden_avps_stay_raw() {
        // Cisco (9) vendor AVP, M=1.
        let (avp, _) = Avp::decode(&[0x80, 8, 0, 9, 0, 1, 0xab, 0xcd], 0).unwrap();
        assert!(avp.mandatory);
        assert_eq!(
            avp.value,
            AvpValue::Raw(RawAvp {
                vendor_id: 9,
                attr_type: 1,
                hidden: false,
                value: vec![0xab, 0xcd]
            })
        );
        // Unknown IETF type 200, M=0.
        let (avp, _) = Avp::decode(&[0x00, 6, 0, 0, 0, 200], 0).unwrap();
        assert!(!avp.mandatory);
        assert!(matches!(
            avp.value,
            AvpValue::Raw(RawAvp { attr_type: 200, .. })
        ));
        // Hidden Local Session ID keeps its hidden bytes.
        let wire = [0xc0, 12, 0, 0, 0, 63, 9, 8, 7, 6, 5, 4];
        let (avp, _) = Avp::decode(&wire, 0).unwrap();
        assert!(avp.value.is_hidden());
        let mut out = Vec::new();
        avp.encode(&mut out).unwrap();
        assert_eq!(out, wire);
    }

    #[test]
    fn bad_lengths_are_errors_with_offsets() {
        assert_eq!(
            Avp::decode(&[0x80, 5, 0, 0, 0, 0, 0, 0], 20),
            Err(ControlError::BadAvpLength {
                offset: 20,
                length: 5,
                remaining: 8
            })
        );
        assert_eq!(
            Avp::decode(&[0x80, 9, 0, 0, 0, 0, 0, 0], 20),
            Err(ControlError::BadAvpLength {
                offset: 20,
                length: 9,
                remaining: 8
            })
        );
        assert_eq!(
            Avp::decode(&[0x80, 9, 0], 3),
            Err(ControlError::TrailingBytes {
                offset: 3,
                remaining: 3
            })
        );
    }

    #[test]
    fn too_long_value_is_an_encode_error() {
        let avp = Avp::new(AvpValue::HostName(vec![b'a'; 1018]));
        assert_eq!(
            avp.encode(&mut Vec::new()),
            Err(EncodeError::AvpTooLong {
                attr_type: 7,
                len: 1018
            })
        );
        let avp = Avp::new(AvpValue::HostName(vec![b'a'; 1017]));
        assert!(avp.encode(&mut Vec::new()).is_ok());
    }

    #[test]
    fn every_type_number_maps_back() {
        for t in AvpType::ALL {
            assert_eq!(AvpType::from_number(t.number()), Some(t));
        }
        assert_eq!(AvpType::from_number(2), None);
    }
}
