//! The codec and the SK payload against a real peer: every IKE message of
//! `tests/data/charon-charon.pcapng` (strongSwan 5.9.8 charon to charon: IKE_SA_INIT,
//! IKE_AUTH, CREATE_CHILD_SA for CHILD_SA and IKE SA rekeys, INFORMATIONAL; AES-GCM-16
//! with Curve25519 over IPv4, AES-CBC + HMAC-SHA2-256 with ECP-256 over IPv6) must
//! decode, re-encode to the same bytes, pass validation, and open with the keys charon
//! logged (`tests/data/charon-charon.keys.uat`); the decrypted payloads must pass
//! validation and round-trip too.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use etherparse::{SlicedPacket, TransportSlice};
use ikev2::crypto::{Encr, Group, IkeKeys, IkeSuite, Integ, Prf, Secret, SkCipher};
use ikev2::wire::{
    ExchangeType, Message, NotifyType, Payload, decode_chain, encode_chain, validate_chain,
};
use pcap_file::pcapng::{Block, PcapNgReader};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// IKE datagrams (port 500, or 4500 behind the non-ESP marker) in capture order.
fn ike_datagrams() -> Vec<Vec<u8>> {
    let f = File::open(data("charon-charon.pcapng")).unwrap();
    let mut r = PcapNgReader::new(BufReader::new(f)).unwrap();
    let mut out = Vec::new();
    while let Some(block) = r.next_block() {
        let Block::EnhancedPacket(epb) = block.unwrap() else {
            continue;
        };
        let p = SlicedPacket::from_ethernet(&epb.data).unwrap();
        let Some(TransportSlice::Udp(udp)) = p.transport else {
            continue;
        };
        let payload = udp.payload();
        match udp.destination_port() {
            500 => out.push(payload.to_vec()),
            4500 if payload.len() >= 4 && payload[..4] == [0; 4] => out.push(payload[4..].to_vec()),
            _ => {}
        }
    }
    out
}

struct SaKeys {
    suite: IkeSuite,
    keys: IkeKeys,
}

/// `ikev2_decryption_table` lines: SPIi, SPIr, SK_ei, SK_er, encr, SK_ai, SK_ar, integ.
fn key_table() -> HashMap<(u64, u64), SaKeys> {
    let text = std::fs::read_to_string(data("charon-charon.keys.uat")).unwrap();
    let mut out = HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("ikev2_decryption_table:") else {
            continue;
        };
        let f: Vec<&str> = rest.split(',').collect();
        let spi = |s: &str| u64::from_str_radix(s, 16).unwrap();
        let key = |s: &str| Secret::new(hex::decode(s).unwrap());
        let (encr, integ) = if f[4].contains("GCM-128") {
            (Encr::AesGcm16_128, None)
        } else {
            assert!(f[4].contains("AES-CBC-128"), "{line}");
            assert!(f[7].contains("SHA2_256_128"), "{line}");
            (Encr::AesCbc128, Some(Integ::HmacSha256_128))
        };
        // The PRF and group do not take part in SK protection.
        let suite = IkeSuite::new(encr, Prf::HmacSha256, integ, Group::Curve25519).unwrap();
        let keys = IkeKeys {
            sk_d: Secret::new(vec![]),
            sk_ai: key(f[5]),
            sk_ar: key(f[6]),
            sk_ei: key(f[2]),
            sk_er: key(f[3]),
            sk_pi: Secret::new(vec![]),
            sk_pr: Secret::new(vec![]),
        };
        out.insert((spi(f[0]), spi(f[1])), SaKeys { suite, keys });
    }
    out
}

#[test]
fn every_charon_message_decodes_round_trips_and_opens() {
    let table = key_table();
    let datagrams = ike_datagrams();
    assert_eq!(datagrams.len(), 32, "IKE messages in the capture");
    let mut opened = 0;
    let mut seen = HashMap::new();
    for (n, d) in datagrams.iter().enumerate() {
        let msg = Message::decode(d).unwrap_or_else(|e| panic!("message {n}: {e}"));
        msg.validate()
            .unwrap_or_else(|e| panic!("message {n}: {e}"));
        assert_eq!(&msg.encode().unwrap(), d, "message {n} re-encodes");
        *seen.entry(msg.header.exchange_type).or_insert(0) += 1;
        if msg.header.exchange_type == ExchangeType::IKE_SA_INIT {
            assert!(msg.sk().is_none());
            continue;
        }
        let sa = table
            .get(&(msg.header.spi_i, msg.header.spi_r))
            .unwrap_or_else(|| panic!("message {n}: no keys"));
        // A message sent by the original initiator is opened by the responder's cipher.
        let receiver = SkCipher::new(&sa.suite, &sa.keys, !msg.header.flags.initiator()).unwrap();
        let o = receiver
            .open(d)
            .unwrap_or_else(|e| panic!("message {n}: {e}"));
        validate_chain(&o.payloads).unwrap_or_else(|e| panic!("message {n}: {e}"));
        // Inner payloads round-trip through their own encoding.
        let (first, bytes) = encode_chain(&o.payloads).unwrap();
        assert_eq!(msg.sk().unwrap().next_payload, first);
        assert_eq!(decode_chain(first, &bytes, 0).unwrap(), o.payloads);
        if msg.header.exchange_type == ExchangeType::IKE_AUTH && !msg.header.flags.response() {
            assert!(o.payloads.iter().any(|p| matches!(p, Payload::IdI(_))));
            assert!(o.payloads.iter().any(|p| matches!(p, Payload::Auth(_))));
            assert!(o.payloads.iter().any(|p| matches!(p, Payload::TsI(_))));
        }
        if msg.header.exchange_type == ExchangeType::CREATE_CHILD_SA {
            // Both rekeys carry KE (PFS for the CHILD_SA, always for the IKE SA).
            assert!(
                o.payloads.iter().any(|p| matches!(p, Payload::Ke(_))),
                "message {n}"
            );
        }
        // The wrong direction's keys never open it.
        let sender = SkCipher::new(&sa.suite, &sa.keys, msg.header.flags.initiator()).unwrap();
        assert!(sender.open(d).is_err(), "message {n}");
        opened += 1;
    }
    assert_eq!(opened, 28);
    assert_eq!(seen[&ExchangeType::IKE_SA_INIT], 4);
    assert_eq!(seen[&ExchangeType::IKE_AUTH], 4);
    assert_eq!(seen[&ExchangeType::CREATE_CHILD_SA], 8);
    assert_eq!(seen[&ExchangeType::INFORMATIONAL], 16);
}

#[test]
fn charon_ike_sa_init_has_what_we_need() {
    let d = &ike_datagrams()[0];
    let msg = Message::decode(d).unwrap();
    let Some(Payload::Sa(sa)) = msg.payloads.first() else {
        panic!("SA first");
    };
    let ours = [IkeSuite::aes128gcm16_prfsha256_x25519()];
    let sel = IkeSuite::select(&ours, sa, Some(ikev2::wire::DhGroup::CURVE25519)).unwrap();
    assert_eq!(sel.suite, ours[0]);
    assert!(msg.notify(NotifyType::NAT_DETECTION_SOURCE_IP).is_some());
    assert!(
        msg.notify(NotifyType::NAT_DETECTION_DESTINATION_IP)
            .is_some()
    );
    // The responder's answer is exactly one transform of each type.
    let r = Message::decode(&ike_datagrams()[1]).unwrap();
    let Some(Payload::Sa(rsa)) = r.payloads.first() else {
        panic!("SA first");
    };
    assert_eq!(IkeSuite::from_accepted(&ours, rsa).unwrap().suite, ours[0]);
    // IPv6 pair: AES-CBC-128 / HMAC-SHA2-256-128 / ECP-256.
    let r6 = Message::decode(&ike_datagrams()[19]).unwrap();
    let Some(Payload::Sa(rsa6)) = r6.payloads.first() else {
        panic!("SA first");
    };
    let ours6 = [IkeSuite::aes128_sha256_ecp256()];
    assert_eq!(
        IkeSuite::from_accepted(&ours6, rsa6).unwrap().suite,
        ours6[0]
    );
}
