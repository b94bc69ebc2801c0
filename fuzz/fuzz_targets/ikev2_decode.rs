//! Decodes arbitrary bytes as an IKEv2 message, as a bare payload chain (the plaintext
//! of an SK payload) and as a protected message. Beyond "never panics": whatever parses
//! re-encodes and decodes to the same value, validation never panics, opening
//! arbitrary bytes with fixed keys (AES-GCM and AES-CBC + HMAC) never panics and only
//! succeeds for messages that decode, and any payload chain that decodes survives
//! sealing and opening with both suites.
#![no_main]

use std::sync::OnceLock;

use ikev2::crypto::{Encr, Group, IkeKeys, IkeSuite, Integ, Prf, SkCipher};
use ikev2::wire::{
    ExchangeType, Flags, IkeHeader, Message, PayloadType, decode_chain, encode_chain,
    validate_chain,
};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn suites() -> [IkeSuite; 2] {
    [
        IkeSuite::new(Encr::AesGcm16_128, Prf::HmacSha256, None, Group::Curve25519).unwrap(),
        IkeSuite::new(
            Encr::AesCbc128,
            Prf::HmacSha256,
            Some(Integ::HmacSha256_128),
            Group::Ecp256,
        )
        .unwrap(),
    ]
}

fn keys(s: &IkeSuite) -> IkeKeys {
    IkeKeys::derive(s, b"fuzz", &[1; 16], &[2; 16], 1, 2).unwrap()
}

fn ciphers() -> &'static [SkCipher; 2] {
    static C: OnceLock<[SkCipher; 2]> = OnceLock::new();
    C.get_or_init(|| {
        let [gcm, cbc] = suites();
        [
            SkCipher::new(&gcm, &keys(&gcm), false).unwrap(),
            SkCipher::new(&cbc, &keys(&cbc), true).unwrap(),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let _ = m.validate();
        let wire = m.encode().expect("a decoded message encodes");
        assert_eq!(wire.len(), data.len());
        let again = Message::decode(&wire).expect("re-encoded message decodes");
        assert_eq!(again, m);
    }
    if let Some((&first, rest)) = data.split_first()
        && let Ok(ps) = decode_chain(PayloadType(first), rest, 0)
    {
        let _ = validate_chain(&ps);
        let (t, wire) = encode_chain(&ps).expect("a decoded chain encodes");
        assert_eq!(
            decode_chain(t, &wire, 0).expect("re-encoded chain decodes"),
            ps
        );
        let header = IkeHeader::new(
            1,
            2,
            ExchangeType::INFORMATIONAL,
            Flags::new(true, false),
            7,
        );
        let mut rng = StdRng::seed_from_u64(0);
        for s in suites() {
            let k = keys(&s);
            let mut i = SkCipher::new(&s, &k, true).unwrap();
            let r = SkCipher::new(&s, &k, false).unwrap();
            if let Ok(sealed) = i.seal(header, &ps, &mut rng) {
                let opened = r.open(&sealed).expect("a sealed message opens");
                assert_eq!(opened.payloads, ps);
            }
        }
    }
    for c in ciphers() {
        if c.open(data).is_ok() {
            assert!(Message::decode(data).is_ok());
        }
    }
});
