//! Fuzzes standalone LSA decoding, verified and unverified. A decoded LSA must
//! re-encode (checksum kept, and recomputed) into bytes that decode to the same LSA.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ospfv3::lsa::ChecksumMode;
use ospfv3::{Lsa, LsaHeader, RawLsa};

fuzz_target!(|data: &[u8]| {
    let _ = LsaHeader::decode(data);
    if let Ok(l) = Lsa::decode(data) {
        let kept = l.to_bytes(ChecksumMode::Keep);
        assert_eq!(kept.len(), l.encoded_len());
        let computed = l.to_bytes(ChecksumMode::Compute);
        let again = Lsa::decode(&computed).expect("a recomputed checksum verifies");
        assert_eq!(again.body, l.body);
        assert!(ospfv3::checksum::verify_lsa_checksum(&computed));
    }
    if let Ok((raw, _rest)) = RawLsa::split(data)
        && let Ok(l) = raw.decode_unverified()
    {
        let bytes = l.to_bytes(ChecksumMode::Keep);
        let (raw2, rest2) = RawLsa::split(&bytes).expect("re-encoded LSA splits");
        assert!(rest2.is_empty());
        assert_eq!(raw2.decode_unverified().expect("re-decodes"), l);
    }
});
