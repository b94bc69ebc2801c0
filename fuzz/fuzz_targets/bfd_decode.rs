//! Decodes arbitrary bytes as a BFD Control packet. Beyond "never panics": whatever
//! parses re-encodes to the same length and decodes to the same value, and digest
//! verification of arbitrary input never panics.
#![no_main]

use bfd::ControlPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bfd::packet::verify(data, b"key");
    let _ = ControlPacket::decode(data);
    if let Ok(p) = ControlPacket::parse(data) {
        let mut buf = [0u8; 64];
        let n = p.encode(&mut buf).expect("a parsed packet encodes");
        assert_eq!(n, p.wire_len());
        assert_eq!(ControlPacket::parse(&buf[..n]), Ok(p));
        assert_eq!(
            ControlPacket::decode(&buf[..n]).is_ok(),
            ControlPacket::decode(data).is_ok()
        );
        let mut signed = buf;
        if bfd::packet::sign(&mut signed[..n], b"key") {
            assert!(bfd::packet::verify(&signed[..n], b"key"));
        }
    }
});
