//! Known answers for control message authentication, computed independently by
//! `scripts/auth_kat.py` (Python's hmac and hashlib) and pinned here.

use l2tpv3::avp::{Avp, AvpValue, MessageDigest, PwType};
use l2tpv3::control::auth::{self, DigestAlgorithm, Keys, Nonces};
use l2tpv3::{Config, Endpoint};
use l2tpv3::{ControlHeader, ControlMessage, Encapsulation, MessageType};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Instant;

const SECRET: &[u8] = b"kat-shared-secret";
const DIGEST_KEY: &str = "f7409fee4e9d5b3670bb93c05dfd16fe";
const HIDING_KEY: &str = "0ee56aebd489121dbab7c35606076d91";
const SCCRQ_MD5_ZEROED: &str = "c80300730000000000000000800800000000000180170000003b0000000000000000000000000000000000800c000000076c6363652d61800a0000003c0a000001800a0000003d11223344800a0000003e0005000400080000000a0010801600000049101112131415161718191a1b1c1d1e1f";
const SCCRQ_MD5_DIGEST: &str = "9a7af98505d45fad71e1a4d7ab1dda25";
const SCCRP_MD5_ZEROED: &str = "c80300711122334400000001800800000000000280170000003b0000000000000000000000000000000000800c000000076c6363652d62800a0000003c0a000002800a0000003d5566778880080000003e000500080000000a0010801600000049a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
const SCCRP_MD5_DIGEST: &str = "b3f4a4baff85e08b8430f49926240991";
const SCCRQ_SHA1_ZEROED: &str = "c803007700000000000000008008000000000001801b0000003b010000000000000000000000000000000000000000800c000000076c6363652d61800a0000003c0a000001800a0000003d11223344800a0000003e0005000400080000000a0010801600000049101112131415161718191a1b1c1d1e1f";
const SCCRQ_SHA1_DIGEST: &str = "e884e3babc77891de8d38c6dfa7f84389de62d2a";
const SCCRP_SHA1_ZEROED: &str = "c803007511223344000000018008000000000002801b0000003b010000000000000000000000000000000000000000800c000000076c6363652d62800a0000003c0a000002800a0000003d5566778880080000003e000500080000000a0010801600000049a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
const SCCRP_SHA1_DIGEST: &str = "16b950e014817e3e1ecf6ea590169bedf03da0de";
const HIDDEN_REMOTE_END_ID: &str =
    "6e51280c8b8e6e51546e5fcab42239a0a329c1c59bc7fb88af4410073e59f9c936eaff";

fn nonce_a() -> Vec<u8> {
    (0x10..0x20).collect()
}
fn nonce_b() -> Vec<u8> {
    (0xa0..0xb0).collect()
}

fn placeholder(alg: DigestAlgorithm) -> Avp {
    Avp::with_mandatory(
        AvpValue::MessageDigest(match alg {
            DigestAlgorithm::HmacMd5 => MessageDigest::HmacMd5([0; 16]),
            DigestAlgorithm::HmacSha1 => MessageDigest::HmacSha1([0; 20]),
        }),
        true,
    )
}

/// The script's messages, built with this crate's codec.
fn build(alg: DigestAlgorithm, reply: bool) -> Vec<u8> {
    let m = |v| Avp::with_mandatory(v, true);
    let (header, mt, host, rid, ccid, caps, nonce) = if reply {
        (
            ControlHeader {
                ccid: 0x1122_3344,
                ns: 0,
                nr: 1,
            },
            MessageType::Sccrp,
            "lcce-b",
            0x0a00_0002,
            0x5566_7788,
            vec![PwType::ETHERNET],
            nonce_b(),
        )
    } else {
        (
            ControlHeader::default(),
            MessageType::Sccrq,
            "lcce-a",
            0x0a00_0001,
            0x1122_3344,
            vec![PwType::ETHERNET, PwType::ETHERNET_VLAN],
            nonce_a(),
        )
    };
    let avps = vec![
        placeholder(alg),
        m(AvpValue::HostName(host.as_bytes().to_vec())),
        m(AvpValue::RouterId(rid)),
        m(AvpValue::AssignedControlConnectionId(ccid)),
        m(AvpValue::PseudowireCapabilities(caps)),
        Avp::with_mandatory(AvpValue::ReceiveWindowSize(16), false),
        m(AvpValue::Nonce(nonce)),
    ];
    ControlMessage::new(header, mt, avps)
        .to_vec(Encapsulation::Udp)
        .unwrap()
}

#[test]
fn key_derivation() {
    let k = Keys::derive(SECRET);
    assert_eq!(hex::encode(k.digest), DIGEST_KEY);
    assert_eq!(hex::encode(k.hiding), HIDING_KEY);
}

#[test]
fn digests_match_python() {
    let key = Keys::derive(SECRET).digest;
    let cases = [
        (
            DigestAlgorithm::HmacMd5,
            false,
            SCCRQ_MD5_ZEROED,
            SCCRQ_MD5_DIGEST,
        ),
        (
            DigestAlgorithm::HmacMd5,
            true,
            SCCRP_MD5_ZEROED,
            SCCRP_MD5_DIGEST,
        ),
        (
            DigestAlgorithm::HmacSha1,
            false,
            SCCRQ_SHA1_ZEROED,
            SCCRQ_SHA1_DIGEST,
        ),
        (
            DigestAlgorithm::HmacSha1,
            true,
            SCCRP_SHA1_ZEROED,
            SCCRP_SHA1_DIGEST,
        ),
    ];
    let (a, b) = (nonce_a(), nonce_b());
    for (alg, reply, zeroed, digest) in cases {
        let mut bytes = build(alg, reply);
        // The codec lays the message out exactly as the script does.
        assert_eq!(hex::encode(&bytes), zeroed, "{alg:?} reply={reply}");
        // B sends the SCCRP: its nonce first. The SCCRQ uses none.
        let send = if reply {
            Nonces {
                sender: &b,
                receiver: &a,
            }
        } else {
            Nonces::NONE
        };
        auth::sign(&mut bytes, &key, send).unwrap();
        let at = auth::DIGEST_AVP_OFFSET + 7;
        assert_eq!(hex::encode(&bytes[at..at + alg.digest_len()]), digest);
        // The receiver checks with the same order (the sender's nonce first).
        auth::verify(&bytes, alg, &[&key], send).unwrap();
        // The codec finds the digest where auth puts it.
        let fields = l2tpv3::message::find_digest_fields(&bytes).unwrap();
        assert_eq!(fields[0].digest, at..at + alg.digest_len());
    }
}

#[test]
fn hiding_matches_python() {
    let k = Keys::derive(SECRET);
    let rv: Vec<u8> = (0x30..0x40).collect();
    let value = b"a-remote-end-id-longer-than-16";
    let hidden = auth::hide(&k.hiding, 66, &rv, value, &[0x99; 3]);
    assert_eq!(hex::encode(&hidden), HIDDEN_REMOTE_END_ID);
    assert_eq!(auth::unhide(&k.hiding, 66, &rv, &hidden).unwrap(), value);
}

#[test]
fn endpoint_accepts_the_python_signed_sccrq_and_rejects_a_wrong_secret() {
    let mut bytes = hex::decode(SCCRQ_MD5_ZEROED).unwrap();
    let at = auth::DIGEST_AVP_OFFSET + 7;
    bytes[at..at + 16].copy_from_slice(&hex::decode(SCCRQ_MD5_DIGEST).unwrap());
    let now = Instant::now();
    for (secret, accepted) in [(SECRET, true), (&b"another-secret"[..], false)] {
        let cfg = {
            let mut c = Config::default();
            c.secret = Some(secret.to_vec());
            c
        };
        let mut ep = Endpoint::new(cfg, StdRng::seed_from_u64(9));
        ep.handle_datagram(now, "peer", &bytes);
        assert_eq!(ep.connection_count(), usize::from(accepted));
        assert_eq!(ep.stats().auth_failed, u64::from(!accepted));
        if accepted {
            // The SCCRP answer verifies with the SCCRQ sender's view of the nonces.
            let reply = ep.poll_transmit().unwrap().contents;
            let m = ControlMessage::decode(&reply, Encapsulation::Udp).unwrap();
            assert_eq!(m.message_type(), Some(MessageType::Sccrp));
            let Some(AvpValue::Nonce(theirs)) = m.find(l2tpv3::AvpType::Nonce) else {
                panic!("no nonce")
            };
            let key = Keys::derive(SECRET).digest;
            let a = nonce_a();
            auth::verify(
                &reply,
                auth::DigestAlgorithm::HmacMd5,
                &[&key],
                Nonces {
                    sender: theirs,
                    receiver: &a,
                },
            )
            .unwrap();
        } else {
            assert!(ep.poll_transmit().is_none());
        }
    }
}
