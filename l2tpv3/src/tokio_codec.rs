//! `tokio_util::codec` framing for L2TPv3 over UDP (RFC 3931 section 4.1.2), for
//! use with `tokio_util::udp::UdpFramed`.
//!
//! A UDP datagram holds exactly one L2TPv3 packet, so the codec only classifies
//! and bounds it: control messages (T bit set) are checked for a valid header and
//! cut to their Length field; data messages are passed on whole, because parsing
//! their header needs the session's cookie length and sublayer, which only the
//! [`crate::control::Endpoint`] knows. Raw bytes are kept because the Message
//! Digest is computed over them. Undecodable datagrams are yielded as
//! [`Frame::Invalid`] instead of an error so that one bad datagram does not end
//! the stream.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use futures::{SinkExt, StreamExt};
//! use l2tpv3::tokio_codec::{Frame, L2tpUdpCodec};
//! use tokio_util::udp::UdpFramed;
//!
//! let socket = tokio::net::UdpSocket::bind("127.0.0.1:1701").await?;
//! let mut framed = UdpFramed::new(socket, L2tpUdpCodec::default());
//! while let Some(Ok((frame, from))) = framed.next().await {
//!     if let Frame::Control(bytes) = frame {
//!         // Hand `bytes` to Endpoint::handle_datagram, then send what it polls out:
//!         framed.send((bytes.freeze(), from)).await?;
//!     }
//! }
//! # Ok(()) }
//! ```

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::ControlError;
use crate::header::{CONTROL_HEADER_LEN, ControlHeader};

/// One received UDP payload, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// A control message with a valid header, cut to its Length.
    Control(BytesMut),
    /// A data message (T bit clear), whole.
    Data(BytesMut),
    /// A control message whose header does not decode.
    Invalid(ControlError),
}

/// The codec: stateless; decodes [`Frame`]s and encodes byte buffers.
#[derive(Debug, Clone, Copy, Default)]
pub struct L2tpUdpCodec;

impl Decoder for L2tpUdpCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        if src.is_empty() {
            return Ok(None);
        }
        let mut datagram = src.split();
        if datagram[0] & 0x80 == 0 {
            return Ok(Some(Frame::Data(datagram)));
        }
        match ControlHeader::decode(&datagram, 0) {
            Ok((_, length)) => {
                datagram.truncate(usize::from(length).max(CONTROL_HEADER_LEN));
                Ok(Some(Frame::Control(datagram)))
            }
            Err(e) => Ok(Some(Frame::Invalid(e))),
        }
    }
}

impl Encoder<Bytes> for L2tpUdpCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.extend_from_slice(&item);
        Ok(())
    }
}

/// Sends a data packet straight from the buffer [`crate::Endpoint::encapsulate`]
/// wrote it into.
impl Encoder<&[u8]> for L2tpUdpCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.extend_from_slice(item);
        Ok(())
    }
}

impl Encoder<Vec<u8>> for L2tpUdpCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: Vec<u8>, dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.extend_from_slice(&item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        let mut c = L2tpUdpCodec;
        let zlb = [0xc8, 0x03, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0xee, 0xee];
        let mut b = BytesMut::from(&zlb[..]);
        assert_eq!(
            c.decode(&mut b).unwrap(),
            Some(Frame::Control(BytesMut::from(&zlb[..12])))
        );
        assert!(b.is_empty());
        let data = [0x00, 0x03, 0, 0, 0, 0, 0, 1, 0xaa];
        let mut b = BytesMut::from(&data[..]);
        assert_eq!(
            c.decode(&mut b).unwrap(),
            Some(Frame::Data(BytesMut::from(&data[..])))
        );
        let mut b = BytesMut::from(&[0xc8, 0x02, 0, 12][..]);
        assert!(matches!(
            c.decode(&mut b).unwrap(),
            Some(Frame::Invalid(ControlError::Truncated { .. }))
        ));
        assert_eq!(c.decode(&mut BytesMut::new()).unwrap(), None);
        let mut out = BytesMut::new();
        c.encode(vec![1, 2, 3], &mut out).unwrap();
        assert_eq!(&out[..], &[1, 2, 3]);
    }
}
