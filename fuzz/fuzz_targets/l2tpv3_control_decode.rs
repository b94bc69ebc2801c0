//! Control message decoding (RFC 3931 3.2.1, 4.1.1.2, 5): never panics, and whatever
//! decodes validates without panicking, re-encodes, and decodes to the same message;
//! the digest locator agrees with the encoder.
#![no_main]

use l2tpv3::message::find_digest_fields;
use l2tpv3::{ControlMessage, Encapsulation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = find_digest_fields(data);
    for encap in [Encapsulation::Udp, Encapsulation::Ip] {
        let Ok(msg) = ControlMessage::decode(data, encap) else {
            continue;
        };
        let _ = l2tpv3::validate(&msg);
        let _ = msg.to_string();
        let wire = msg.to_vec(encap).expect("a decoded message re-encodes");
        let again = ControlMessage::decode(&wire, encap).expect("re-encoded bytes decode");
        assert_eq!(again, msg);
        let p = encap.control_prefix_len();
        assert_eq!(
            find_digest_fields(&wire[p..]).expect("re-encoded bytes scan"),
            msg.digest_fields()
        );
    }
});
