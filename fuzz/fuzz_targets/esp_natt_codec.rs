//! Fuzz ipsec-lite's tokio codec for ESP-in-UDP on the NAT-T port (RFC 3948,
//! `NattCodec`), fed datagrams directly (no socket): decode never panics, consumes
//! the whole datagram, and what it decodes encodes back to the same bytes; encoding
//! arbitrary ESP / IKE payloads either round-trips through decode to the same
//! datagram or is refused with `dst` left untouched.
#![no_main]

use arbitrary::Arbitrary;
use bytes::BytesMut;
use ipsec_lite::{NattCodec, NattDatagram};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

#[derive(Arbitrary, Debug)]
enum Op {
    Decode(Vec<u8>),
    EncodeEsp(Vec<u8>),
    EncodeIke(Vec<u8>),
    EncodeKeepalive,
}

fuzz_target!(|ops: Vec<Op>| {
    let mut codec = NattCodec::new();
    for op in ops.into_iter().take(64) {
        match op {
            Op::Decode(d) => {
                let mut buf = BytesMut::from(&d[..]);
                let r = codec.decode(&mut buf);
                assert!(buf.is_empty(), "datagram not consumed");
                match r {
                    Ok(None) => assert!(d.is_empty()),
                    Ok(Some(dg)) => {
                        let mut out = BytesMut::new();
                        codec
                            .encode(dg, &mut out)
                            .expect("decoded datagram re-encodes");
                        assert_eq!(&out[..], &d[..], "re-encoding differs");
                    }
                    Err(e) => {
                        let _ = e.to_string();
                    }
                }
            }
            Op::EncodeEsp(p) | Op::EncodeIke(p) if p.len() > 4096 => {
                let _ = p;
            }
            op => {
                let item = match &op {
                    Op::EncodeEsp(p) => NattDatagram::Esp(&p[..]),
                    Op::EncodeIke(p) => NattDatagram::Ike(&p[..]),
                    _ => NattDatagram::Keepalive,
                };
                let kind = item.kind();
                let mut out = BytesMut::from(&b"prefix"[..]);
                match codec.encode(item, &mut out) {
                    Ok(()) => {
                        let mut sent = out.split_off(6);
                        let back = codec
                            .decode(&mut sent)
                            .expect("what was encoded decodes")
                            .expect("non-empty");
                        assert_eq!(back.kind(), kind);
                        match (&op, back) {
                            (Op::EncodeEsp(p), NattDatagram::Esp(b))
                            | (Op::EncodeIke(p), NattDatagram::Ike(b)) => {
                                assert_eq!(&b[..], &p[..])
                            }
                            (_, NattDatagram::Keepalive) => {}
                            (o, b) => panic!("{o:?} came back as {b:?}"),
                        }
                    }
                    Err(_) => assert_eq!(&out[..], b"prefix", "refused encode wrote bytes"),
                }
            }
        }
    }
});
