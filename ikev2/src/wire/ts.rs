//! The Traffic Selector payloads TSi and TSr (RFC 7296 3.13).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::BufMut;

use super::error::{DecodeError, EncodeError, Part, ValidationError};
use super::reader::Reader;

/// Traffic selector type (RFC 7296 3.13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TsType(pub u8);

impl TsType {
    /// A range of IPv4 addresses.
    pub const IPV4_ADDR_RANGE: TsType = TsType(7);
    /// A range of IPv6 addresses.
    pub const IPV6_ADDR_RANGE: TsType = TsType(8);
}

/// The address range of a traffic selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddrRange {
    /// TS_IPV4_ADDR_RANGE: start and end, inclusive.
    V4(Ipv4Addr, Ipv4Addr),
    /// TS_IPV6_ADDR_RANGE: start and end, inclusive.
    V6(Ipv6Addr, Ipv6Addr),
    /// Another TS type, its bytes after the ports kept raw.
    Other {
        /// TS type.
        ts_type: TsType,
        /// The bytes after the port fields.
        data: Vec<u8>,
    },
}

/// One traffic selector (RFC 7296 3.13.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// IP protocol (0: any; 17: UDP).
    pub ip_protocol: u8,
    /// First port (0 with end 65535: any port).
    pub start_port: u16,
    /// Last port, inclusive.
    pub end_port: u16,
    /// The addresses.
    pub range: AddrRange,
}

impl TrafficSelector {
    /// A selector for one address, one protocol (0: any) and one port (or all ports with
    /// `None`).
    pub fn host(addr: IpAddr, ip_protocol: u8, port: Option<u16>) -> Self {
        let (start_port, end_port) = port.map_or((0, u16::MAX), |p| (p, p));
        TrafficSelector {
            ip_protocol,
            start_port,
            end_port,
            range: match addr {
                IpAddr::V4(a) => AddrRange::V4(a, a),
                IpAddr::V6(a) => AddrRange::V6(a, a),
            },
        }
    }

    /// A selector for an address range, any protocol and port.
    pub fn range(start: IpAddr, end: IpAddr) -> Option<Self> {
        let range = match (start, end) {
            (IpAddr::V4(a), IpAddr::V4(b)) => AddrRange::V4(a, b),
            (IpAddr::V6(a), IpAddr::V6(b)) => AddrRange::V6(a, b),
            _ => return None,
        };
        Some(TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            range,
        })
    }

    /// The TS type.
    pub fn ts_type(&self) -> TsType {
        match &self.range {
            AddrRange::V4(..) => TsType::IPV4_ADDR_RANGE,
            AddrRange::V6(..) => TsType::IPV6_ADDR_RANGE,
            AddrRange::Other { ts_type, .. } => *ts_type,
        }
    }

    fn len(&self) -> usize {
        8 + match &self.range {
            AddrRange::V4(..) => 8,
            AddrRange::V6(..) => 32,
            AddrRange::Other { data, .. } => data.len(),
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let ts_type = TsType(r.u8(Part::TrafficSelector)?);
        let ip_protocol = r.u8(Part::TrafficSelector)?;
        let length = r.u16(Part::TrafficSelector)? as usize;
        if length < 8 || length - 4 > r.remaining() {
            return Err(DecodeError::BadLength {
                part: Part::TrafficSelector,
                offset: start,
                length,
            });
        }
        let mut t = r.sub(length - 4, Part::TrafficSelector)?;
        let start_port = t.u16(Part::TrafficSelector)?;
        let end_port = t.u16(Part::TrafficSelector)?;
        let range = match ts_type {
            TsType::IPV4_ADDR_RANGE | TsType::IPV6_ADDR_RANGE => {
                let n = if ts_type == TsType::IPV4_ADDR_RANGE {
                    4
                } else {
                    16
                };
                if t.remaining() != 2 * n {
                    return Err(DecodeError::BadLength {
                        part: Part::TrafficSelector,
                        offset: start,
                        length,
                    });
                }
                if n == 4 {
                    AddrRange::V4(
                        Ipv4Addr::from(t.array::<4>(Part::TrafficSelector)?),
                        Ipv4Addr::from(t.array::<4>(Part::TrafficSelector)?),
                    )
                } else {
                    AddrRange::V6(
                        Ipv6Addr::from(t.array::<16>(Part::TrafficSelector)?),
                        Ipv6Addr::from(t.array::<16>(Part::TrafficSelector)?),
                    )
                }
            }
            other => AddrRange::Other {
                ts_type: other,
                data: t.rest().to_vec(),
            },
        };
        Ok(TrafficSelector {
            ip_protocol,
            start_port,
            end_port,
            range,
        })
    }

    fn emit<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.ts_type().0);
        buf.put_u8(self.ip_protocol);
        buf.put_u16(self.len() as u16);
        buf.put_u16(self.start_port);
        buf.put_u16(self.end_port);
        match &self.range {
            AddrRange::V4(a, b) => {
                buf.put_slice(&a.octets());
                buf.put_slice(&b.octets());
            }
            AddrRange::V6(a, b) => {
                buf.put_slice(&a.octets());
                buf.put_slice(&b.octets());
            }
            AddrRange::Other { data, .. } => buf.put_slice(data),
        }
    }
}

/// A Traffic Selector payload (RFC 7296 3.13), the same layout for TSi and TSr.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TsPayload {
    /// The selectors (at most 255).
    pub selectors: Vec<TrafficSelector>,
}

impl TsPayload {
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let count = r.u8(Part::Ts)? as usize;
        let _reserved = r.take(3, Part::Ts)?;
        let mut selectors = Vec::new();
        // Bounded by the bytes left (each selector takes at least 8).
        while !r.is_empty() {
            if selectors.len() == count {
                return Err(DecodeError::Invalid {
                    part: Part::Ts,
                    offset: start,
                    reason: "more selectors than Number of TSs",
                });
            }
            selectors.push(TrafficSelector::decode(r)?);
        }
        if selectors.len() != count {
            return Err(DecodeError::Invalid {
                part: Part::Ts,
                offset: start,
                reason: "fewer selectors than Number of TSs",
            });
        }
        Ok(TsPayload { selectors })
    }

    pub(crate) fn body_len(&self) -> Result<usize, EncodeError> {
        if self.selectors.len() > u8::MAX as usize {
            return Err(EncodeError::Invalid {
                part: Part::Ts,
                reason: "more than 255 traffic selectors",
            });
        }
        let mut n = 4;
        for s in &self.selectors {
            if s.len() > u16::MAX as usize {
                return Err(EncodeError::TooLong {
                    part: Part::TrafficSelector,
                    length: s.len(),
                });
            }
            if let AddrRange::Other { ts_type, .. } = &s.range
                && matches!(*ts_type, TsType::IPV4_ADDR_RANGE | TsType::IPV6_ADDR_RANGE)
            {
                return Err(EncodeError::Invalid {
                    part: Part::TrafficSelector,
                    reason: "raw selector with an address-range type",
                });
            }
            n += s.len();
        }
        Ok(n)
    }

    pub(crate) fn emit_body<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.selectors.len() as u8);
        buf.put_slice(&[0, 0, 0]);
        for s in &self.selectors {
            s.emit(buf);
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        let bad = |reason| {
            Err(ValidationError::InvalidSyntax {
                part: Part::Ts,
                reason,
            })
        };
        if self.selectors.is_empty() {
            return bad("TS payload without selectors");
        }
        for s in &self.selectors {
            let ordered = match &s.range {
                AddrRange::V4(a, b) => a <= b,
                AddrRange::V6(a, b) => a <= b,
                AddrRange::Other { .. } => true,
            };
            // RFC 7296 3.13.1: start port 65535 with end port 0 means OPAQUE.
            let ports_ok =
                s.start_port <= s.end_port || (s.start_port == u16::MAX && s.end_port == 0);
            if !ordered || !ports_ok {
                return bad("selector range with start after end");
            }
        }
        Ok(())
    }
}
