//! A `tokio_util::codec` for ESP-in-UDP on the NAT-T port (RFC 3948), for use with
//! [`tokio_util::udp::UdpFramed`] (feature `tokio`).
//!
//! Thin on purpose: it only frames. Which of the three forms a datagram carries is
//! decided by [`natt::classify`](crate::natt::classify), the same function a caller
//! without tokio uses, and the SAs ([`crate::SecurityAssociation`], [`crate::Sad`]) do
//! the rest.
//!
//! | datagram | [`NattDatagram`] |
//! |---|---|
//! | SPI (non-zero) + ESP | [`Esp`](NattDatagram::Esp), the whole ESP packet |
//! | four zero bytes (non-ESP marker) + IKE | [`Ike`](NattDatagram::Ike), the IKE message without the marker |
//! | the single byte 0xFF | [`Keepalive`](NattDatagram::Keepalive) |
//!
//! Anything else decodes to [`NattCodecError::Malformed`]; the datagram is consumed, so
//! the `UdpFramed` stream yields the error and goes on with the next datagram. An empty
//! datagram is never seen by the codec: `UdpFramed` cannot tell it from "no data" and
//! skips it. Encoding checks that the bytes will be classified as what they were sent
//! as (an "ESP" packet starting with four zero bytes would reach the peer as IKE) and
//! refuses otherwise with [`NattCodecError::Unsendable`].
//!
//! `UdpFramed` copies each datagram once into its own buffers; a data path that must
//! not allocate per packet receives into a buffer of its own and calls
//! [`natt::classify`](crate::natt::classify) or [`Sad::open_udp`](crate::Sad::open_udp)
//! directly.

use std::io;

use bytes::BytesMut;
use thiserror::Error;
use tokio_util::codec::{Decoder, Encoder};

use crate::natt::{self, KEEPALIVE, NON_ESP_MARKER, NattError, NattPayload};

/// Which of the three forms a datagram on the NAT-T port takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NattKind {
    /// ESP (RFC 3948 section 2.1).
    Esp,
    /// IKE behind the non-ESP marker (section 2.2).
    Ike,
    /// NAT-keepalive (section 2.3).
    Keepalive,
}

/// One datagram on the NAT-T port: decoded as `NattDatagram<BytesMut>`, encoded from
/// any `NattDatagram<B>` whose bytes are `B: AsRef<[u8]>` (for example `&[u8]`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NattDatagram<B = BytesMut> {
    /// An ESP packet, from its SPI to the end of its ICV.
    Esp(B),
    /// An IKE message, without the non-ESP marker (the codec adds and removes it).
    Ike(B),
    /// A NAT-keepalive.
    Keepalive,
}

impl<B> NattDatagram<B> {
    /// The form of this datagram.
    pub fn kind(&self) -> NattKind {
        match self {
            NattDatagram::Esp(_) => NattKind::Esp,
            NattDatagram::Ike(_) => NattKind::Ike,
            NattDatagram::Keepalive => NattKind::Keepalive,
        }
    }
}

/// Why a datagram could not be decoded or encoded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NattCodecError {
    /// The socket failed (`UdpFramed` passes its I/O errors through the codec's type).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A received datagram is none of the three forms (see [`NattError`]).
    #[error("malformed datagram on the NAT-T port: {0}")]
    Malformed(#[from] NattError),
    /// These bytes would not be received as what they are sent as: ESP starting with a
    /// zero SPI or shorter than SPI + sequence number, or an IKE message that leaves the
    /// datagram shorter than 8 bytes.
    #[error("{kind:?} payload of {len} bytes would not be received as {kind:?} (RFC 3948)")]
    Unsendable {
        /// What the caller asked to send.
        kind: NattKind,
        /// Length of the datagram it would have made.
        len: usize,
    },
}

/// The ESP-in-UDP codec: `UdpFramed::new(socket, NattCodec)` yields
/// `(NattDatagram, SocketAddr)` and accepts `(NattDatagram<B>, SocketAddr)`.
///
/// ```no_run
/// use futures::{SinkExt, StreamExt};
/// use ipsec_lite::{NattCodec, NattDatagram, SecurityAssociation};
/// use tokio_util::udp::UdpFramed;
///
/// async fn serve(mut inbound: SecurityAssociation) -> std::io::Result<()> {
///     let sock = tokio::net::UdpSocket::bind("0.0.0.0:4500").await?;
///     let mut framed = UdpFramed::new(sock, NattCodec::new());
///     while let Some(got) = framed.next().await {
///         match got {
///             Ok((NattDatagram::Esp(mut esp), _peer)) => {
///                 if let Ok(opened) = inbound.open(std::time::Instant::now(), &mut esp) {
///                     println!("{} bytes of protocol {}", opened.payload.len(), opened.next_header);
///                 }
///             }
///             Ok((NattDatagram::Ike(msg), peer)) => println!("IKE from {peer}: {} bytes", msg.len()),
///             Ok((NattDatagram::Keepalive, _)) => {}
///             Ok(_) => {}
///             Err(e) => eprintln!("{e}"), // malformed datagram: the stream goes on
///         }
///     }
///     // Sending: the codec adds the non-ESP marker to IKE messages.
///     let peer = "192.0.2.1:4500".parse().unwrap();
///     framed.send((NattDatagram::<&[u8]>::Keepalive, peer)).await.map_err(std::io::Error::other)
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NattCodec;

impl NattCodec {
    /// The codec.
    pub fn new() -> Self {
        NattCodec
    }
}

impl Decoder for NattCodec {
    type Item = NattDatagram;
    type Error = NattCodecError;

    /// Decodes the whole of `src` (one datagram) and consumes it, also when it is
    /// malformed. Returns `Ok(None)` only for an empty buffer.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<NattDatagram>, NattCodecError> {
        if src.is_empty() {
            return Ok(None);
        }
        let mut datagram = src.split();
        let ike_len = match natt::classify(&mut datagram)? {
            NattPayload::Esp(_) => return Ok(Some(NattDatagram::Esp(datagram))),
            NattPayload::Keepalive => return Ok(Some(NattDatagram::Keepalive)),
            NattPayload::NonEsp(ike) => ike.len(),
        };
        let ike = datagram.split_off(datagram.len() - ike_len);
        Ok(Some(NattDatagram::Ike(ike)))
    }
}

impl<B: AsRef<[u8]>> Encoder<NattDatagram<B>> for NattCodec {
    type Error = NattCodecError;

    /// Appends the datagram to `dst`, or leaves `dst` as it was and fails when the
    /// receiver would classify the bytes as something else.
    fn encode(&mut self, item: NattDatagram<B>, dst: &mut BytesMut) -> Result<(), NattCodecError> {
        let start = dst.len();
        let kind = item.kind();
        match &item {
            NattDatagram::Esp(esp) => dst.extend_from_slice(esp.as_ref()),
            NattDatagram::Ike(ike) => {
                dst.extend_from_slice(&NON_ESP_MARKER);
                dst.extend_from_slice(ike.as_ref());
            }
            NattDatagram::Keepalive => dst.extend_from_slice(&KEEPALIVE),
        }
        let received_as = match natt::classify(&mut dst[start..]) {
            Ok(NattPayload::Esp(_)) => Some(NattKind::Esp),
            Ok(NattPayload::NonEsp(_)) => Some(NattKind::Ike),
            Ok(NattPayload::Keepalive) => Some(NattKind::Keepalive),
            Err(_) => None,
        };
        if received_as == Some(kind) {
            Ok(())
        } else {
            let len = dst.len() - start;
            dst.truncate(start);
            Err(NattCodecError::Unsendable { kind, len })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (Result<Option<NattDatagram>, NattCodecError>, usize) {
        let mut buf = BytesMut::from(bytes);
        let r = NattCodec.decode(&mut buf);
        (r, buf.len())
    }

    #[test]
    fn decodes_the_three_forms_and_consumes_the_datagram() {
        let (r, left) = decode(&[0, 0, 0x10, 0, 0, 0, 0, 1, 0xaa]);
        assert_eq!(
            r.unwrap(),
            Some(NattDatagram::Esp(BytesMut::from(
                &[0, 0, 0x10, 0, 0, 0, 0, 1, 0xaa][..]
            )))
        );
        assert_eq!(left, 0);
        let (r, left) = decode(&[0, 0, 0, 0, 1, 2, 3, 4, 5]);
        assert_eq!(
            r.unwrap(),
            Some(NattDatagram::Ike(BytesMut::from(&[1, 2, 3, 4, 5][..])))
        );
        assert_eq!(left, 0);
        let (r, left) = decode(&[0xff]);
        assert_eq!(r.unwrap(), Some(NattDatagram::Keepalive));
        assert_eq!(left, 0);
    }

    #[test]
    fn malformed_is_a_typed_error_and_consumed() {
        assert_eq!(decode(&[]).0.unwrap(), None);
        for len in 1..8 {
            let bytes = vec![1u8; len];
            let (r, left) = decode(&bytes);
            assert!(
                matches!(r, Err(NattCodecError::Malformed(NattError::Short { len: l })) if l == len),
                "{len} bytes"
            );
            assert_eq!(left, 0);
        }
    }

    #[test]
    fn encodes_marker_and_keepalive_and_refuses_ambiguous_bytes() {
        let mut out = BytesMut::new();
        NattCodec
            .encode(NattDatagram::Ike(&[9u8; 28][..]), &mut out)
            .unwrap();
        assert_eq!(&out[..4], &NON_ESP_MARKER);
        assert_eq!(&out[4..], &[9u8; 28]);
        out.clear();
        NattCodec
            .encode(NattDatagram::<&[u8]>::Keepalive, &mut out)
            .unwrap();
        assert_eq!(&out[..], &[0xff]);
        out.clear();
        for (item, len) in [
            (NattDatagram::Esp(&[0u8, 0, 0, 0, 0, 0, 0, 1][..]), 8), // zero SPI: IKE
            (NattDatagram::Esp(&[0, 0, 1][..]), 3),
            (NattDatagram::Ike(&[1, 2][..]), 6),
        ] {
            let kind = item.kind();
            out.extend_from_slice(b"kept");
            let r = NattCodec.encode(item, &mut out);
            assert!(
                matches!(r, Err(NattCodecError::Unsendable { kind: k, len: l }) if k == kind && l == len),
                "{r:?}"
            );
            assert_eq!(&out[..], b"kept");
            out.clear();
        }
    }
}
