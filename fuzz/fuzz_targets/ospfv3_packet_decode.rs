//! Fuzzes OSPFv3 payload decoding (packet, LLS block, authentication trailer), strict
//! and lenient, the raw LS Update walk and trailer verification. Whatever decodes must
//! re-encode to something that decodes to the same value. Decoded values are
//! canonical (reserved fields and prefix bits past the length are dropped), so a
//! re-encoded LSA can carry a checksum that no longer matches: re-decoding is lenient.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ospfv3::auth::{HmacAlgorithm, SecurityAssociation};
use ospfv3::{Datagram, DecodeOptions, Packet, lsu};

fuzz_target!(|data: &[u8]| {
    let lenient = DecodeOptions {
        verify_lsa_checksums: false,
    };
    let strict = Datagram::decode(data);
    if let Ok(d) = Datagram::decode_with(data, &lenient) {
        let bytes = d.to_bytes();
        let again = Datagram::decode_with(&bytes, &lenient).expect("re-encoded payload decodes");
        assert_eq!(again, d);
        assert_eq!(d.packet.to_bytes().len(), d.packet.encoded_len());
    } else {
        assert!(
            strict.is_err(),
            "strict decoding accepted what lenient refused"
        );
    }
    if let Ok(p) = Packet::decode(data) {
        let again = Packet::decode_with(&p.to_bytes(), &lenient).expect("re-decodes");
        assert_eq!(again, p);
    }
    if let Ok(walk) = lsu::raw_lsas(data) {
        for raw in walk {
            match raw {
                Ok(r) => {
                    let _ = r.checksum_ok();
                    let _ = r.decode_unverified();
                }
                Err(_) => break,
            }
        }
    }
    let sa = SecurityAssociation::new(1, HmacAlgorithm::Sha256, b"fuzz");
    let _ = sa.verify_payload(&std::net::Ipv6Addr::LOCALHOST, data);
});
