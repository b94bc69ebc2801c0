//! The Identification payloads IDi and IDr (RFC 7296 3.5).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::BufMut;

use super::error::{DecodeError, Part, ValidationError};
use super::reader::Reader;

/// ID type (RFC 7296 3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdType(pub u8);

impl IdType {
    /// A single four-octet IPv4 address.
    pub const IPV4_ADDR: IdType = IdType(1);
    /// A fully-qualified domain name string (no terminator).
    pub const FQDN: IdType = IdType(2);
    /// An RFC 822 email address string.
    pub const RFC822_ADDR: IdType = IdType(3);
    /// A single sixteen-octet IPv6 address.
    pub const IPV6_ADDR: IdType = IdType(5);
    /// A DER ASN.1 X.500 Distinguished Name.
    pub const DER_ASN1_DN: IdType = IdType(9);
    /// A DER ASN.1 X.509 GeneralName.
    pub const DER_ASN1_GN: IdType = IdType(10);
    /// An opaque octet stream.
    pub const KEY_ID: IdType = IdType(11);
}

/// An Identification payload (RFC 7296 3.5), the same layout for IDi and IDr.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdPayload {
    /// ID type.
    pub id_type: IdType,
    /// Identification data.
    pub data: Vec<u8>,
}

impl IdPayload {
    /// ID_IPV4_ADDR or ID_IPV6_ADDR.
    pub fn ip(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => IdPayload {
                id_type: IdType::IPV4_ADDR,
                data: a.octets().to_vec(),
            },
            IpAddr::V6(a) => IdPayload {
                id_type: IdType::IPV6_ADDR,
                data: a.octets().to_vec(),
            },
        }
    }

    /// ID_FQDN.
    pub fn fqdn(name: &str) -> Self {
        IdPayload {
            id_type: IdType::FQDN,
            data: name.as_bytes().to_vec(),
        }
    }

    /// ID_KEY_ID.
    pub fn key_id(id: &[u8]) -> Self {
        IdPayload {
            id_type: IdType::KEY_ID,
            data: id.to_vec(),
        }
    }

    /// The address of an ID_IPV4_ADDR or ID_IPV6_ADDR identity.
    pub fn as_ip(&self) -> Option<IpAddr> {
        match self.id_type {
            IdType::IPV4_ADDR => <[u8; 4]>::try_from(self.data.as_slice())
                .ok()
                .map(|a| IpAddr::V4(Ipv4Addr::from(a))),
            IdType::IPV6_ADDR => <[u8; 16]>::try_from(self.data.as_slice())
                .ok()
                .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
            _ => None,
        }
    }

    /// The payload body after the generic header (ID type, three reserved bytes, data):
    /// `IDi'` / `IDr'` of the AUTH computation (RFC 7296 2.15).
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.body_len());
        self.emit_body(&mut v);
        v
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let id_type = IdType(r.u8(Part::Id)?);
        let _reserved = r.take(3, Part::Id)?;
        Ok(IdPayload {
            id_type,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn body_len(&self) -> usize {
        4 + self.data.len()
    }

    pub(crate) fn emit_body<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.id_type.0);
        buf.put_slice(&[0, 0, 0]);
        buf.put_slice(&self.data);
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        let ok = match self.id_type {
            IdType::IPV4_ADDR => self.data.len() == 4,
            IdType::IPV6_ADDR => self.data.len() == 16,
            _ => !self.data.is_empty(),
        };
        if ok {
            Ok(())
        } else {
            Err(ValidationError::InvalidSyntax {
                part: Part::Id,
                reason: "identification data does not fit the ID type",
            })
        }
    }
}
