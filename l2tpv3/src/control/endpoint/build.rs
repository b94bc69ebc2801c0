//! Building, queueing and encoding outgoing control messages.

use std::hash::Hash;

use rand_core::Rng;

use super::{CommandError, Endpoint, mark};
use crate::avp::{
    Avp, AvpType, AvpValue, CircuitStatus, DataSequencing, L2SublayerType, MessageDigest, RawAvp,
};
use crate::control::auth::{self, DigestAlgorithm, Keys, Nonces};
use crate::control::config::Config;
use crate::control::connection::{Connection, Outgoing};
use crate::control::event::Event;
use crate::control::reliable::Transmit as ReliableTransmit;
use crate::control::session::{Msg, Session};
use crate::header::ControlHeader;
use crate::message::{ControlMessage, MessageType};

impl<A, R> Endpoint<A, R>
where
    A: Clone + Eq + Hash,
    R: Rng,
{
    /// Hands a message to the connection's reliable delivery.
    pub(super) fn queue(
        &mut self,
        ccid: u32,
        message_type: MessageType,
        avps: Vec<Avp>,
    ) -> Result<(), CommandError> {
        let Some(conn) = self.conns.get_mut(&ccid) else {
            return Err(CommandError::NoConnection(ccid));
        };
        match conn.reliable.send(Outgoing { message_type, avps }) {
            Ok(ns) => {
                mark(&mut self.dirty, conn);
                if self.config.report_messages {
                    let event = Event::MessageQueued {
                        ccid,
                        ns,
                        message_type,
                    };
                    self.events.push(&mut self.stats, event);
                }
                Ok(())
            }
            Err(_) => {
                self.stats.send_queue_full += 1;
                Err(CommandError::QueueFull(ccid))
            }
        }
    }
}

/// The AVPs of our SCCRQ (`request`) or SCCRP on `conn`.
pub(super) fn sccrx_avps<A>(config: &Config, conn: &Connection<A>, request: bool) -> Vec<Avp> {
    let mut avps = vec![
        Avp::new(AvpValue::HostName(config.host_name.clone())),
        Avp::new(AvpValue::RouterId(config.router_id)),
        Avp::new(AvpValue::AssignedControlConnectionId(conn.local_ccid)),
        Avp::new(AvpValue::PseudowireCapabilities(config.pw_types.clone())),
        Avp::new(AvpValue::ReceiveWindowSize(config.reliable.receive_window)),
    ];
    if request && let Some(t) = conn.tie_breaker {
        avps.push(Avp::new(AvpValue::TieBreaker(t)));
    }
    if config.secret.is_some() {
        avps.push(Avp::new(AvpValue::Nonce(conn.local_nonce.clone())));
    }
    avps
}

/// Local and Remote Session ID AVPs as we send them.
pub(super) fn session_ids(s: &Session) -> Vec<Avp> {
    vec![
        Avp::new(AvpValue::LocalSessionId(s.local_id)),
        Avp::new(AvpValue::RemoteSessionId(s.remote_id)),
    ]
}

/// The type and AVPs of our ICRQ, OCRQ or ICRP (OCRP) for session `s`.
pub(super) fn request_avps<R: Rng>(
    config: &Config,
    keys: Option<&Keys>,
    rng: &mut R,
    s: &Session,
    m: Msg,
) -> (MessageType, Vec<Avp>) {
    let mut avps = session_ids(s);
    let mt = match m {
        Msg::Icrq => MessageType::Icrq,
        Msg::Ocrq => MessageType::Ocrq,
        Msg::Icrp => MessageType::Icrp,
    };
    if matches!(m, Msg::Icrq | Msg::Ocrq) {
        avps.push(Avp::new(AvpValue::SerialNumber(s.serial)));
        avps.push(Avp::new(AvpValue::PseudowireType(s.pw_type)));
        let end_id = s.remote_end_id.clone();
        match (keys, config.hide_avps) {
            (Some(keys), true) => {
                let mut rv = [0u8; 16];
                rng.fill_bytes(&mut rv);
                let hidden = auth::hide(
                    &keys.hiding,
                    AvpType::RemoteEndId.number(),
                    &rv,
                    &end_id,
                    &[],
                );
                avps.push(Avp::new(AvpValue::RandomVector(rv.to_vec())));
                avps.push(Avp::with_mandatory(
                    AvpValue::Raw(RawAvp {
                        vendor_id: 0,
                        attr_type: AvpType::RemoteEndId.number(),
                        hidden: true,
                        value: hidden,
                    }),
                    true,
                ));
            }
            _ => avps.push(Avp::new(AvpValue::RemoteEndId(end_id))),
        }
    }
    avps.push(Avp::new(AvpValue::CircuitStatus(CircuitStatus {
        active: true,
        new: true,
    })));
    if !s.local_cookie.is_empty() {
        avps.push(Avp::new(AvpValue::AssignedCookie(s.local_cookie)));
    }
    if s.local_sublayer != L2SublayerType::NONE {
        avps.push(Avp::new(AvpValue::L2SpecificSublayer(s.local_sublayer)));
    }
    if s.local_sequencing != DataSequencing::NONE {
        avps.push(Avp::new(AvpValue::DataSequencing(s.local_sequencing)));
    }
    (mt, avps)
}

/// Encodes what reliable delivery released on `conn`, signed when authenticating.
pub(super) fn encode<A>(
    config: &Config,
    keys: Option<&Keys>,
    conn: &Connection<A>,
    tx: ReliableTransmit<Outgoing>,
) -> Option<Vec<u8>> {
    let header = ControlHeader {
        ccid: conn.remote_ccid,
        ns: tx.ns,
        nr: tx.nr,
    };
    let encap = config.encapsulation;
    let (mt, avps) = match tx.message {
        Some(o) => (o.message_type, o.avps),
        None if keys.is_none() => {
            // Section 4.2 with authentication off: a Zero-Length Body.
            return ControlMessage::zlb(header).to_vec(encap).ok();
        }
        None => (MessageType::Ack, Vec::new()),
    };
    let mut all = Vec::with_capacity(avps.len() + 1);
    if keys.is_some() {
        let placeholder = match config.digest {
            DigestAlgorithm::HmacMd5 => MessageDigest::HmacMd5([0; 16]),
            DigestAlgorithm::HmacSha1 => MessageDigest::HmacSha1([0; 20]),
        };
        all.push(Avp::new(AvpValue::MessageDigest(placeholder)));
    }
    all.extend(avps);
    let mut bytes = ControlMessage::new(header, mt, all).to_vec(encap).ok()?;
    if let Some(keys) = keys {
        let nonces = if mt == MessageType::Sccrq {
            Nonces::NONE
        } else {
            Nonces {
                sender: &conn.local_nonce,
                receiver: conn.remote_nonce.as_deref().unwrap_or(&[]),
            }
        };
        let prefix = encap.control_prefix_len();
        auth::sign(&mut bytes[prefix..], &keys.digest, nonces).ok()?;
    }
    Some(bytes)
}
