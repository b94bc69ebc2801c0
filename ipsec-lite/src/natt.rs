//! UDP encapsulation of ESP for NAT traversal (RFC 3948).
//!
//! On UDP port 4500 three things share the port: ESP packets (whose first four bytes,
//! the SPI, are never zero), IKE messages behind a four-byte zero "non-ESP marker"
//! (RFC 3948 section 2.2), and one-byte 0xFF NAT-keepalives (section 2.3).

use std::time::{Duration, Instant};

use thiserror::Error;

/// The UDP port for ESP-in-UDP and IKE with NAT traversal.
pub const NATT_PORT: u16 = 4500;
/// The non-ESP marker that precedes IKE messages.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// The NAT-keepalive payload.
pub const KEEPALIVE: [u8; 1] = [0xff];
/// UDP header length.
pub const UDP_HEADER_LEN: usize = 8;

/// Default interval between NAT-keepalives (RFC 3948 section 4: 20 seconds).
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// When to send NAT-keepalives: only after `interval` without any other packet sent
/// to the peer on the NAT-T port (RFC 3948 section 4). Sans-IO timer.
#[derive(Debug, Clone)]
pub struct KeepaliveTimer {
    interval: Duration,
    last_sent: Instant,
}

impl KeepaliveTimer {
    /// A timer started at `now` (as if something had just been sent).
    pub fn new(now: Instant, interval: Duration) -> Self {
        KeepaliveTimer {
            interval,
            last_sent: now,
        }
    }

    /// Something (ESP, IKE or a keepalive) was sent to the peer at `now`.
    pub fn on_sent(&mut self, now: Instant) {
        self.last_sent = self.last_sent.max(now);
    }

    /// The instant at which a keepalive falls due.
    pub fn poll_timeout(&self) -> Instant {
        self.last_sent + self.interval
    }

    /// A keepalive payload to send now, if one is due; sending it restarts the timer.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<[u8; 1]> {
        if now >= self.poll_timeout() {
            self.last_sent = now;
            Some(KEEPALIVE)
        } else {
            None
        }
    }
}

/// What a datagram received on port 4500 carries.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NattPayload<'a> {
    /// An ESP packet (starting with its SPI).
    Esp(&'a mut [u8]),
    /// An IKE message (after the non-ESP marker), for the key-exchange daemon.
    NonEsp(&'a mut [u8]),
    /// A NAT-keepalive: discard.
    Keepalive,
}

/// A UDP payload on port 4500 that fits none of the three forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NattError {
    /// Empty datagram.
    #[error("empty UDP payload")]
    Empty,
    /// Too short to hold an SPI and sequence number, and not a keepalive.
    #[error("UDP payload of {len} bytes is neither a keepalive nor ESP (offset 0)")]
    Short {
        /// Length.
        len: usize,
    },
}

/// Classify the payload of a UDP datagram received on the NAT-T port.
pub fn classify(udp_payload: &mut [u8]) -> Result<NattPayload<'_>, NattError> {
    match udp_payload.len() {
        0 => Err(NattError::Empty),
        1 if udp_payload[0] == 0xff => Ok(NattPayload::Keepalive),
        n if n < 8 => Err(NattError::Short { len: n }),
        _ if udp_payload[..4] == NON_ESP_MARKER => Ok(NattPayload::NonEsp(&mut udp_payload[4..])),
        _ => Ok(NattPayload::Esp(udp_payload)),
    }
}

/// Write a UDP header for an ESP packet of `esp_len` bytes into `hdr` (8 bytes).
///
/// The checksum is written as zero, which RFC 3948 section 2.1 asks for over IPv4.
/// Over IPv6 a checksum is mandatory: fill it with [`udp6_checksum`].
pub fn emit_udp_header(
    hdr: &mut [u8],
    src_port: u16,
    dst_port: u16,
    esp_len: usize,
) -> Result<(), NattError> {
    let len = esp_len + UDP_HEADER_LEN;
    if hdr.len() < UDP_HEADER_LEN || len > usize::from(u16::MAX) {
        return Err(NattError::Short { len: hdr.len() });
    }
    hdr[0..2].copy_from_slice(&src_port.to_be_bytes());
    hdr[2..4].copy_from_slice(&dst_port.to_be_bytes());
    hdr[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    hdr[6..8].copy_from_slice(&[0, 0]);
    Ok(())
}

/// The UDP checksum over IPv6 (RFC 8200 section 8.1) of `datagram` (UDP header with
/// a zero checksum field, then payload).
pub fn udp6_checksum(src: &[u8; 16], dst: &[u8; 16], datagram: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(*last) << 8;
        }
    };
    add(src);
    add(dst);
    add(&(datagram.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 17]);
    add(datagram);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    if c == 0 { 0xffff } else { c }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_forms() {
        assert_eq!(classify(&mut [0xff]), Ok(NattPayload::Keepalive));
        assert_eq!(classify(&mut []), Err(NattError::Empty));
        assert_eq!(classify(&mut [1, 2, 3]), Err(NattError::Short { len: 3 }));
        let mut ike = [0, 0, 0, 0, 9, 9, 9, 9, 9];
        assert_eq!(
            classify(&mut ike),
            Ok(NattPayload::NonEsp(&mut [9, 9, 9, 9, 9]))
        );
        let mut esp = [0, 0, 1, 0, 0, 0, 0, 1];
        assert!(matches!(classify(&mut esp), Ok(NattPayload::Esp(_))));
    }

    #[test]
    fn keepalive_only_when_idle() {
        let t0 = Instant::now();
        let mut k = KeepaliveTimer::new(t0, DEFAULT_KEEPALIVE_INTERVAL);
        assert_eq!(k.poll_transmit(t0 + Duration::from_secs(19)), None);
        k.on_sent(t0 + Duration::from_secs(15));
        assert_eq!(k.poll_timeout(), t0 + Duration::from_secs(35));
        assert_eq!(k.poll_transmit(t0 + Duration::from_secs(34)), None);
        assert_eq!(k.poll_transmit(t0 + Duration::from_secs(35)), Some([0xff]));
        assert_eq!(k.poll_timeout(), t0 + Duration::from_secs(55));
    }

    #[test]
    fn udp_header() {
        let mut h = [0u8; 8];
        emit_udp_header(&mut h, 4500, 4500, 100).unwrap();
        assert_eq!(h, [0x11, 0x94, 0x11, 0x94, 0, 108, 0, 0]);
    }
}
