//! The `tokio` codec for L2TPv3 over UDP (`l2tpv3::tokio_codec::L2tpUdpCodec`):
//! any datagram is classified without panicking and consumed whole; a control
//! frame has a header Length of at least 12 bytes within the datagram and is cut
//! to it; a data frame (T bit clear) is the datagram unchanged; an invalid frame
//! has the T bit set. The encoders pass bytes through.
#![no_main]

use bytes::{Bytes, BytesMut};
use l2tpv3::tokio_codec::{Frame, L2tpUdpCodec};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

fuzz_target!(|data: &[u8]| {
    let mut codec = L2tpUdpCodec;
    let mut src = BytesMut::from(data);
    let frame = codec.decode(&mut src).expect("the codec never fails");
    assert!(src.is_empty(), "a datagram is consumed whole");
    match frame {
        None => assert!(data.is_empty()),
        Some(Frame::Data(d)) => {
            assert_eq!(&d[..], data);
            assert_eq!(data[0] & 0x80, 0, "T bit clear");
        }
        Some(Frame::Control(c)) => {
            // T bit set, a Length of at least the header and within the datagram.
            assert_ne!(data[0] & 0x80, 0);
            let length = usize::from(u16::from_be_bytes([data[2], data[3]]));
            assert!((12..=data.len()).contains(&length));
            assert_eq!(&c[..], &data[..length]);
        }
        Some(Frame::Invalid(_)) => assert_ne!(data[0] & 0x80, 0),
        Some(other) => panic!("unknown frame {other:?}"),
    }
    let mut out = BytesMut::new();
    codec
        .encode(Bytes::copy_from_slice(data), &mut out)
        .expect("encodes");
    codec.encode(data, &mut out).expect("encodes");
    codec.encode(data.to_vec(), &mut out).expect("encodes");
    assert_eq!(out.len(), 3 * data.len());
});
