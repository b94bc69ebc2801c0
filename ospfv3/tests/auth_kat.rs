//! Known-answer tests for the RFC 7166 authentication trailer. The digests were
//! computed by `tests/auth_vectors.py` (Python's hmac and hashlib, written from the
//! RFC, sharing no code with this crate); when python3 is installed the script is also
//! run and its output compared.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;

use ospfv3::auth::{AuthError, HmacAlgorithm, SecurityAssociation};
use ospfv3::hello::Hello;
use ospfv3::options::Options;
use ospfv3::{Datagram, Packet, PacketBody, PacketHeader};

const SA_ID: u16 = 7;
const SEQUENCE: u64 = 0x0000_0001_0000_0002;

const VECTORS: [(&str, &str, &str); 8] = [
    ("sha1", "short", "cf902fb07aafaf3c7a8d96cc062ed687f541a4ef"),
    ("sha1", "long", "7a660ce12a0f3982e0296c0b250882d81ae70b86"),
    (
        "sha256",
        "short",
        "b0fbcff62c7f4dbd4fb19e1535bcef5a9c3a85fb0d29911b68a03babd86c8901",
    ),
    (
        "sha256",
        "long",
        "134233de6a4e64f85cdf53e698819d998749194fab3f7ebb59775f2136d26126",
    ),
    (
        "sha384",
        "short",
        "a66b28c5d139955604368237ecbce316eb9f3e27502746635296ac7bcb8f18596afe81b3b9a09743a61ab56039a39e60",
    ),
    (
        "sha384",
        "long",
        "f327c4829202d0a4f9e524f1b83f2b0eff146d59a9b9e420cbdd148aeaec9463f4cb77be7d8a8f69b339c61a71a16185",
    ),
    (
        "sha512",
        "short",
        "13c4a0fd0b073d0f666731b2a7933f9e55c2abe625dcdf0a49c53d84bb0d0dff3bbea66dbd1e55cb5d5d6b80953ce0ac0c6f68961bdb225bc971664b25c07eb8",
    ),
    (
        "sha512",
        "long",
        "2dc1e136efdf0f22ac78e5c11e7e54487abb670eda428ae4c7e820590378b4f4533bb75805d78704cdcbc2f3f1c7d0653cb6554ec157577116b9690fa9c2fde3",
    ),
];

fn algorithm(name: &str) -> HmacAlgorithm {
    match name {
        "sha1" => HmacAlgorithm::Sha1,
        "sha256" => HmacAlgorithm::Sha256,
        "sha384" => HmacAlgorithm::Sha384,
        "sha512" => HmacAlgorithm::Sha512,
        _ => unreachable!(),
    }
}

fn key(name: &str) -> Vec<u8> {
    match name {
        "short" => b"ospfv3-test-key".to_vec(),
        _ => (0u8..70).collect(),
    }
}

fn source() -> Ipv6Addr {
    "fe80::1".parse().unwrap()
}

/// The Hello of the Python script, built with this crate's types.
fn hello() -> Vec<u8> {
    let p = Packet {
        header: PacketHeader {
            router_id: Ipv4Addr::new(1, 1, 1, 1),
            area_id: Ipv4Addr::UNSPECIFIED,
            checksum: 0,
            instance_id: 0,
        },
        body: PacketBody::Hello(Hello {
            interface_id: 5,
            priority: 1,
            options: Options::V6 | Options::E | Options::R | Options::AT,
            hello_interval: 10,
            dead_interval: 40,
            designated_router: Ipv4Addr::UNSPECIFIED,
            backup_designated_router: Ipv4Addr::UNSPECIFIED,
            neighbors: vec![Ipv4Addr::new(2, 2, 2, 2)],
        }),
    };
    let bytes = p.to_bytes();
    assert_eq!(
        hex::encode(&bytes),
        "030100280101010100000000000000000000000501000413000a0028000000000000000002020202",
        "the packet must be the one the Python script hashes"
    );
    bytes
}

#[test]
fn digests_match_the_independent_implementation() {
    for (alg, key_name, digest) in VECTORS {
        let sa = SecurityAssociation::new(SA_ID, algorithm(alg), &key(key_name));
        let mut payload = hello();
        sa.append_trailer(&source(), &mut payload, SEQUENCE);
        let d = Datagram::decode(&payload).unwrap();
        let t = d.trailer.as_ref().expect("trailer decoded");
        assert_eq!(hex::encode(&t.auth_data), digest, "{alg} {key_name}");
        assert_eq!(t.sa_id, SA_ID);
        assert_eq!(t.sequence, SEQUENCE);
        assert_eq!(d.to_bytes(), payload, "trailer re-encodes byte for byte");
        assert_eq!(sa.verify_payload(&source(), &payload), Ok(SEQUENCE));
    }
}

#[test]
fn verification_rejects_tampering() {
    let sa = SecurityAssociation::new(SA_ID, HmacAlgorithm::Sha256, b"ospfv3-test-key");
    let mut payload = hello();
    sa.append_trailer(&source(), &mut payload, SEQUENCE);
    // Another source address (RFC 7166 2.3 protects it through Apad).
    assert_eq!(
        sa.verify_payload(&"fe80::2".parse().unwrap(), &payload),
        Err(AuthError::DigestMismatch)
    );
    // Any flipped bit in packet or trailer.
    for i in 0..payload.len() {
        let mut bad = payload.clone();
        bad[i] ^= 0x01;
        assert!(sa.verify_payload(&source(), &bad).is_err(), "flip at {i}");
    }
    // Another key, another SA ID.
    let other = SecurityAssociation::new(SA_ID, HmacAlgorithm::Sha256, b"other");
    assert_eq!(
        other.verify_payload(&source(), &payload),
        Err(AuthError::DigestMismatch)
    );
    let other = SecurityAssociation::new(8, HmacAlgorithm::Sha256, b"ospfv3-test-key");
    assert!(matches!(
        other.verify_payload(&source(), &payload),
        Err(AuthError::UnknownSa { .. })
    ));
    // No trailer at all.
    assert_eq!(
        sa.verify_payload(&source(), &hello()),
        Err(AuthError::Missing)
    );
}

#[test]
fn python_script_agrees_when_available() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/auth_vectors.py");
    let Ok(out) = Command::new("python3").arg(script).output() else {
        eprintln!("SKIP: python3 not found; pinned vectors still checked");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), VECTORS.len());
    for (line, (alg, key_name, _)) in lines.iter().zip(VECTORS) {
        let sa = SecurityAssociation::new(SA_ID, algorithm(alg), &key(key_name));
        let t = sa.trailer(&source(), &hello(), SEQUENCE);
        assert_eq!(
            *line,
            format!("{alg} {key_name} {}", hex::encode(&t.auth_data))
        );
    }
}
