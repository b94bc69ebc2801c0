//! Semantic checks on a decoded control message, separate from parsing because the
//! protocol answers them differently (RFC 3931 sections 5.2, 6 and 7.1).
//!
//! [`validate`] checks that the Message Type AVP comes first and is known, that no
//! unrecognised or malformed AVP carries the M bit, and that every AVP section 6
//! requires for the message type is present. The error says what was wrong and
//! [`ValidationError::reply`] maps it to the message and Result Code a receiver
//! should answer with.
//!
//! RFC 3931 has no general error code for "required AVP missing". This crate answers
//! it with Result Code 2 and Error Code 6 (generic error), naming the missing AVP in
//! the Error Message, which section 5.4.2 says should carry the details.

use thiserror::Error;

use crate::avp::{AvpType, AvpValue, RawAvp, ResultCode, result};
use crate::error::AvpValueError;
use crate::message::{ControlMessage, MessageType};

/// Why a control message is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The first AVP is not the Message Type AVP (section 5.4.1).
    #[error("first AVP (index 0) is not an IETF Message Type AVP")]
    MessageTypeNotFirst,
    /// The Message Type is one this crate does not define (or is vendor-specific).
    /// With the M bit set the control connection must be cleared; without it the
    /// message may be ignored (section 5.4.1).
    #[error("unknown message type {vendor_id}:{number} (M={})", u8::from(*mandatory))]
    UnknownMessageType {
        /// Vendor ID of the Message Type AVP (0 for IETF).
        vendor_id: u16,
        /// The message type number.
        number: u16,
        /// The Message Type AVP's M bit.
        mandatory: bool,
    },
    /// A required AVP is missing (section 6).
    #[error("{message} lacks required AVP {avp}")]
    MissingAvp {
        /// The message type.
        message: MessageType,
        /// The missing AVP.
        avp: AvpType,
    },
    /// An unrecognised AVP has the M bit set (section 5.2).
    #[error("unrecognised mandatory AVP vendor {vendor_id} type {attr_type} at index {index}")]
    UnknownMandatoryAvp {
        /// Index of the AVP in the message.
        index: usize,
        /// Its Vendor ID.
        vendor_id: u16,
        /// Its Attribute Type.
        attr_type: u16,
    },
    /// A recognised AVP is malformed and has the M bit set (section 7.1).
    #[error("malformed mandatory AVP {attr_type} at index {index}: {error}")]
    MalformedMandatoryAvp {
        /// Index of the AVP in the message.
        index: usize,
        /// Its type.
        attr_type: AvpType,
        /// What is wrong with it.
        error: AvpValueError,
    },
}

/// What a receiver should send in answer to an invalid message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// Tear down the control connection with a StopCCN carrying this Result Code.
    StopCcn(ResultCode),
    /// Tear down the session with a CDN carrying this Result Code.
    Cdn(ResultCode),
    /// Silently ignore the message (unknown message type without the M bit).
    Ignore,
}

impl ValidationError {
    /// The answer RFC 3931 sections 5.2, 5.4.1 and 7.1 call for. `message` is the
    /// type of the offending message, if known; session messages get a CDN and
    /// control-connection messages a StopCCN.
    ///
    /// When the invalid message is itself a StopCCN or CDN the control plane should
    /// just clean up instead of answering.
    pub fn reply(&self, message: Option<MessageType>) -> Reply {
        let rc = match self {
            ValidationError::UnknownMessageType {
                mandatory: false, ..
            } => return Reply::Ignore,
            ValidationError::UnknownMessageType { number, .. } => ResultCode::with_error(
                result::GENERAL_ERROR,
                result::ERROR_OUT_OF_RANGE,
                format!("unknown message type {number}"),
            ),
            ValidationError::MessageTypeNotFirst => ResultCode::with_error(
                result::GENERAL_ERROR,
                result::ERROR_GENERIC,
                "Message Type AVP is not first",
            ),
            ValidationError::MissingAvp { avp, .. } => ResultCode::with_error(
                result::GENERAL_ERROR,
                result::ERROR_GENERIC,
                format!("missing {} AVP ({})", avp.name(), avp.number()),
            ),
            ValidationError::UnknownMandatoryAvp {
                vendor_id,
                attr_type,
                ..
            } => ResultCode::with_error(
                result::GENERAL_ERROR,
                result::ERROR_UNKNOWN_MANDATORY_AVP,
                if *vendor_id == 0 {
                    format!("{attr_type}")
                } else {
                    format!("vendor {vendor_id} attribute {attr_type}")
                },
            ),
            ValidationError::MalformedMandatoryAvp {
                attr_type, error, ..
            } => ResultCode::with_error(
                result::GENERAL_ERROR,
                match error {
                    AvpValueError::BadLength { .. } => result::ERROR_BAD_LENGTH,
                    _ => result::ERROR_OUT_OF_RANGE,
                },
                format!(
                    "malformed {} AVP ({})",
                    attr_type.name(),
                    attr_type.number()
                ),
            ),
        };
        match message {
            Some(t) if t.is_session_message() => Reply::Cdn(rc),
            _ => Reply::StopCcn(rc),
        }
    }
}

/// The AVPs section 6 requires in each message type, besides the Message Type AVP.
pub fn required_avps(t: MessageType) -> &'static [AvpType] {
    use AvpType as A;
    match t {
        MessageType::Sccrq | MessageType::Sccrp => &[
            A::HostName,
            A::RouterId,
            A::AssignedControlConnectionId,
            A::PseudowireCapabilities,
        ],
        MessageType::StopCcn => &[A::ResultCode],
        MessageType::Icrq | MessageType::Ocrq => &[
            A::LocalSessionId,
            A::RemoteSessionId,
            A::SerialNumber,
            A::PseudowireType,
            A::RemoteEndId,
            A::CircuitStatus,
        ],
        MessageType::Icrp | MessageType::Ocrp => {
            &[A::LocalSessionId, A::RemoteSessionId, A::CircuitStatus]
        }
        MessageType::Iccn | MessageType::Occn | MessageType::Sli => {
            &[A::LocalSessionId, A::RemoteSessionId]
        }
        MessageType::Cdn => &[A::ResultCode, A::LocalSessionId, A::RemoteSessionId],
        MessageType::Wen => &[A::LocalSessionId, A::RemoteSessionId, A::CircuitErrors],
        MessageType::Scccn | MessageType::Hello | MessageType::Ack | MessageType::Unknown(_) => &[],
    }
}

/// Checks a decoded message against RFC 3931 sections 5.2, 5.4.1, 6 and 7.1.
///
/// A ZLB is valid. A hidden AVP counts as present for the required-AVP check (its
/// value is checked once the authentication layer has unhidden it). Unrecognised and
/// malformed AVPs without the M bit are accepted, as the RFC says to ignore them.
pub fn validate(msg: &ControlMessage) -> Result<(), ValidationError> {
    let Some(first) = msg.avps.first() else {
        return Ok(());
    };
    let message = match &first.value {
        AvpValue::MessageType(MessageType::Unknown(number)) => {
            return Err(ValidationError::UnknownMessageType {
                vendor_id: 0,
                number: *number,
                mandatory: first.mandatory,
            });
        }
        AvpValue::MessageType(t) => *t,
        AvpValue::Raw(RawAvp {
            vendor_id,
            attr_type: 0,
            hidden: false,
            value,
        }) if *vendor_id != 0 && value.len() == 2 => {
            return Err(ValidationError::UnknownMessageType {
                vendor_id: *vendor_id,
                number: u16::from_be_bytes([value[0], value[1]]),
                mandatory: first.mandatory,
            });
        }
        _ => return Err(ValidationError::MessageTypeNotFirst),
    };

    for (index, avp) in msg.avps.iter().enumerate() {
        if !avp.mandatory {
            continue;
        }
        match &avp.value {
            AvpValue::Raw(raw) => {
                let known = match raw.vendor_id {
                    0 => AvpType::from_number(raw.attr_type),
                    _ => None,
                };
                match known {
                    Some(t) if raw.hidden && !t.may_be_hidden() => {
                        return Err(ValidationError::MalformedMandatoryAvp {
                            index,
                            attr_type: t,
                            error: AvpValueError::MustNotBeHidden,
                        });
                    }
                    // A hidden AVP of a known type: checked once unhidden.
                    Some(_) if raw.hidden => {}
                    _ => {
                        return Err(ValidationError::UnknownMandatoryAvp {
                            index,
                            vendor_id: raw.vendor_id,
                            attr_type: raw.attr_type,
                        });
                    }
                }
            }
            AvpValue::Malformed {
                attr_type, error, ..
            } => {
                return Err(ValidationError::MalformedMandatoryAvp {
                    index,
                    attr_type: *attr_type,
                    error: error.clone(),
                });
            }
            _ => {}
        }
    }

    for &needed in required_avps(message) {
        let present = msg.avps.iter().any(|a| match &a.value {
            AvpValue::Malformed { .. } => false,
            AvpValue::Raw(r) => r.hidden && r.vendor_id == 0 && r.attr_type == needed.number(),
            v => v.avp_type() == Some(needed),
        });
        if !present {
            return Err(ValidationError::MissingAvp {
                message,
                avp: needed,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avp::{Avp, CircuitStatus, PwType};
    use crate::header::ControlHeader;

    fn icrp(avps: Vec<Avp>) -> ControlMessage {
        ControlMessage::new(ControlHeader::default(), MessageType::Icrp, avps)
    }

    #[test]
    fn complete_icrp_is_valid() {
        let m = icrp(vec![
            Avp::new(AvpValue::LocalSessionId(1)),
            Avp::new(AvpValue::RemoteSessionId(2)),
            Avp::new(AvpValue::CircuitStatus(CircuitStatus::default())),
        ]);
        assert_eq!(validate(&m), Ok(()));
        assert_eq!(
            validate(&ControlMessage::zlb(ControlHeader::default())),
            Ok(())
        );
    }

    #[test]
    fn missing_avp_is_named_and_answered_with_cdn() {
        let m = icrp(vec![
            Avp::new(AvpValue::LocalSessionId(1)),
            Avp::new(AvpValue::CircuitStatus(CircuitStatus::default())),
        ]);
        let e = validate(&m).unwrap_err();
        assert_eq!(
            e,
            ValidationError::MissingAvp {
                message: MessageType::Icrp,
                avp: AvpType::RemoteSessionId
            }
        );
        match e.reply(m.message_type()) {
            Reply::Cdn(rc) => {
                assert_eq!(rc.result, 2);
                assert_eq!(rc.error.unwrap().code, 6);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sccrq_missing_host_name_gets_stopccn() {
        let m = ControlMessage::new(
            ControlHeader::default(),
            MessageType::Sccrq,
            vec![
                Avp::new(AvpValue::RouterId(1)),
                Avp::new(AvpValue::AssignedControlConnectionId(5)),
                Avp::new(AvpValue::PseudowireCapabilities(vec![PwType::ETHERNET])),
            ],
        );
        let e = validate(&m).unwrap_err();
        assert_eq!(
            e,
            ValidationError::MissingAvp {
                message: MessageType::Sccrq,
                avp: AvpType::HostName
            }
        );
        assert!(matches!(e.reply(m.message_type()), Reply::StopCcn(_)));
    }

    #[test]
    fn unknown_mandatory_avp_gives_error_8() {
        let m = icrp(vec![
            Avp::new(AvpValue::LocalSessionId(1)),
            Avp::new(AvpValue::RemoteSessionId(2)),
            Avp::new(AvpValue::CircuitStatus(CircuitStatus::default())),
            Avp::with_mandatory(
                AvpValue::Raw(RawAvp {
                    vendor_id: 9,
                    attr_type: 100,
                    hidden: false,
                    value: vec![],
                }),
                true,
            ),
        ]);
        let e = validate(&m).unwrap_err();
        assert!(matches!(
            e,
            ValidationError::UnknownMandatoryAvp {
                index: 4,
                vendor_id: 9,
                attr_type: 100
            }
        ));
        let Reply::Cdn(rc) = e.reply(m.message_type()) else {
            panic!()
        };
        assert_eq!(rc.error.unwrap().code, result::ERROR_UNKNOWN_MANDATORY_AVP);

        // The same AVP without M is ignored.
        let mut m = m;
        m.avps[4].mandatory = false;
        assert_eq!(validate(&m), Ok(()));
    }

    #[test]
    fn malformed_avp_with_m_is_fatal_without_m_ignored() {
        let (bad, _) = Avp::decode(&[0x80, 9, 0, 0, 0, 63, 1, 2, 3], 0).unwrap();
        let mut m = icrp(vec![
            bad,
            Avp::new(AvpValue::LocalSessionId(1)),
            Avp::new(AvpValue::RemoteSessionId(2)),
            Avp::new(AvpValue::CircuitStatus(CircuitStatus::default())),
        ]);
        let e = validate(&m).unwrap_err();
        assert!(matches!(
            e,
            ValidationError::MalformedMandatoryAvp {
                index: 1,
                attr_type: AvpType::LocalSessionId,
                ..
            }
        ));
        let Reply::Cdn(rc) = e.reply(m.message_type()) else {
            panic!()
        };
        assert_eq!(rc.error.unwrap().code, result::ERROR_BAD_LENGTH);
        m.avps[1].mandatory = false;
        assert_eq!(validate(&m), Ok(()));
    }

    #[test]
    fn hidden_required_avp_counts_as_present() {
        let hidden = |t: AvpType| {
            Avp::new(AvpValue::Raw(RawAvp {
                vendor_id: 0,
                attr_type: t.number(),
                hidden: true,
                value: vec![1, 2, 3, 4, 5, 6],
            }))
        };
        let m = icrp(vec![
            hidden(AvpType::LocalSessionId),
            hidden(AvpType::RemoteSessionId),
            hidden(AvpType::CircuitStatus),
        ]);
        assert_eq!(validate(&m), Ok(()));
        // Host Name must not be hidden.
        let m = ControlMessage::new(
            ControlHeader::default(),
            MessageType::Hello,
            vec![hidden(AvpType::HostName)],
        );
        assert!(matches!(
            validate(&m),
            Err(ValidationError::MalformedMandatoryAvp {
                error: AvpValueError::MustNotBeHidden,
                ..
            })
        ));
    }

    #[test]
    fn message_type_rules() {
        let m = ControlMessage {
            header: ControlHeader::default(),
            avps: vec![Avp::new(AvpValue::HostName(b"x".to_vec()))],
        };
        assert_eq!(validate(&m), Err(ValidationError::MessageTypeNotFirst));
        let unknown = |mandatory| ControlMessage {
            header: ControlHeader::default(),
            avps: vec![Avp::with_mandatory(
                AvpValue::MessageType(MessageType::Unknown(99)),
                mandatory,
            )],
        };
        let e = validate(&unknown(false)).unwrap_err();
        assert_eq!(e.reply(None), Reply::Ignore);
        let e = validate(&unknown(true)).unwrap_err();
        assert!(matches!(e.reply(None), Reply::StopCcn(_)));
    }
}
