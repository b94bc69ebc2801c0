//! Proposal matching (RFC 7296 2.7, 3.3.6): the responder picks from what was offered,
//! the initiator accepts only a single choice of one of its own suites (no downgrade to
//! something it did not offer), unknown attributes reject a transform, and AEAD ciphers
//! go without integrity.

use ikev2::crypto::{Encr, EspSuite, Group, IkeSuite, Integ, Prf, ids};
use ikev2::wire::{
    Attribute, AttributeValue, DhGroup, Proposal, ProtocolId, SaPayload, Transform, TransformType,
};

fn gcm() -> IkeSuite {
    IkeSuite::aes128gcm16_prfsha256_x25519()
}

fn cbc() -> IkeSuite {
    IkeSuite::aes128_sha256_ecp256()
}

fn sa(proposals: Vec<Proposal>) -> SaPayload {
    SaPayload { proposals }
}

#[test]
fn suites_check_aead_and_integrity() {
    assert!(
        IkeSuite::new(
            Encr::AesGcm16_128,
            Prf::HmacSha256,
            Some(Integ::HmacSha256_128),
            Group::Curve25519
        )
        .is_none()
    );
    assert!(IkeSuite::new(Encr::AesCbc128, Prf::HmacSha256, None, Group::Curve25519).is_none());
    assert!(EspSuite::new(Encr::AesCbc256, None, false, None).is_none());
    assert!(EspSuite::new(Encr::ChaCha20Poly1305, None, true, None).is_some());
}

#[test]
fn responder_takes_the_first_offered_proposal_it_supports() {
    let offer = sa(vec![cbc().proposal(1, vec![]), gcm().proposal(2, vec![])]);
    // Without a KE preference: the initiator's order wins.
    let s = IkeSuite::select(&[gcm(), cbc()], &offer, None).unwrap();
    assert_eq!((s.number, s.suite), (1, cbc()));
    // The KE payload's group is preferred, avoiding INVALID_KE_PAYLOAD.
    let s = IkeSuite::select(&[gcm(), cbc()], &offer, Some(DhGroup::CURVE25519)).unwrap();
    assert_eq!((s.number, s.suite), (2, gcm()));
    // A KE group no acceptable proposal has: still a choice (the caller sends
    // INVALID_KE_PAYLOAD naming the chosen group).
    let s = IkeSuite::select(&[gcm()], &offer, Some(DhGroup::MODP_2048)).unwrap();
    assert_eq!(s.suite, gcm());
    // Nothing in common.
    assert!(IkeSuite::select(&[gcm()], &sa(vec![cbc().proposal(1, vec![])]), None).is_none());
}

#[test]
fn one_proposal_with_alternatives_per_type() {
    // One proposal offering two ciphers, two PRFs and two groups.
    let p = Proposal {
        number: 1,
        protocol: ProtocolId::IKE,
        spi: vec![],
        transforms: vec![
            Encr::AesGcm16_256.transform(),
            Encr::AesGcm16_128.transform(),
            Prf::HmacSha512.transform(),
            Prf::HmacSha256.transform(),
            Group::Ecp256.transform(),
            Group::Curve25519.transform(),
        ],
    };
    let s = IkeSuite::select(&[gcm()], &sa(vec![p.clone()]), None).unwrap();
    assert_eq!(s.suite, gcm());
    // An AEAD proposal carrying a real integrity transform does not match an AEAD suite.
    let mut q = p.clone();
    q.transforms.push(Integ::HmacSha256_128.transform());
    assert!(IkeSuite::select(&[gcm()], &sa(vec![q]), None).is_none());
    // ... but INTEG NONE is fine.
    let mut q = p;
    q.transforms
        .push(Transform::new(TransformType::INTEG, ids::AUTH_NONE));
    assert!(IkeSuite::select(&[gcm()], &sa(vec![q]), None).is_some());
}

#[test]
fn transforms_with_unknown_attributes_or_key_lengths_are_rejected() {
    let mut p = gcm().proposal(1, vec![]);
    p.transforms[0].attributes.push(Attribute {
        attr_type: 99,
        value: AttributeValue::Tv(1),
    });
    assert!(IkeSuite::select(&[gcm()], &sa(vec![p]), None).is_none());
    let mut p = gcm().proposal(1, vec![]);
    p.transforms[0] = Transform::with_key_length(TransformType::ENCR, ids::ENCR_AES_GCM_16, 192);
    assert!(IkeSuite::select(&[gcm()], &sa(vec![p]), None).is_none());
    let mut p = gcm().proposal(1, vec![]);
    p.transforms[0] = Transform::new(TransformType::ENCR, ids::ENCR_AES_GCM_16);
    assert!(
        IkeSuite::select(&[gcm()], &sa(vec![p]), None).is_none(),
        "AES needs a key length"
    );
}

#[test]
fn initiator_accepts_only_a_single_choice_it_offered() {
    let ours = [gcm(), cbc()];
    assert_eq!(
        IkeSuite::from_accepted(&ours, &sa(vec![cbc().proposal(2, vec![])]))
            .unwrap()
            .suite,
        cbc()
    );
    // Not offered: refused (no downgrade).
    let other = IkeSuite::new(
        Encr::AesCbc256,
        Prf::HmacSha512,
        Some(Integ::HmacSha512_256),
        Group::Ecp256,
    )
    .unwrap();
    assert!(IkeSuite::from_accepted(&ours, &sa(vec![other.proposal(1, vec![])])).is_none());
    // Two proposals, or two transforms of one type: refused.
    assert!(
        IkeSuite::from_accepted(
            &ours,
            &sa(vec![gcm().proposal(1, vec![]), cbc().proposal(2, vec![])])
        )
        .is_none()
    );
    let mut p = gcm().proposal(1, vec![]);
    p.transforms.push(Group::Ecp256.transform());
    assert!(IkeSuite::from_accepted(&ours, &sa(vec![p])).is_none());
    // Missing the D-H transform: refused.
    let mut p = gcm().proposal(1, vec![]);
    p.transforms
        .retain(|t| t.transform_type != TransformType::DH);
    assert!(IkeSuite::from_accepted(&ours, &sa(vec![p])).is_none());
    // ESP answer for an IKE SA: refused.
    let mut p = gcm().proposal(1, vec![]);
    p.protocol = ProtocolId::ESP;
    assert!(IkeSuite::from_accepted(&ours, &sa(vec![p])).is_none());
}

#[test]
fn esp_negotiation_with_and_without_pfs() {
    let ours = EspSuite::new(Encr::AesGcm16_128, None, false, Some(Group::Curve25519)).unwrap();
    // IKE_AUTH: no D-H transform is sent, and one in the offer is ignored.
    let p = ours.proposal(1, 0x1234_5678, false);
    assert!(
        p.transforms
            .iter()
            .all(|t| t.transform_type != TransformType::DH)
    );
    let s = EspSuite::select(&[ours], &sa(vec![p.clone()]), false).unwrap();
    assert_eq!(s.peer_spi, 0x1234_5678u32.to_be_bytes());
    assert_eq!(s.suite, ours);
    // CREATE_CHILD_SA with PFS: the group must be offered.
    assert!(EspSuite::select(&[ours], &sa(vec![p.clone()]), true).is_none());
    let pfs = ours.proposal(1, 1, true);
    assert!(EspSuite::select(&[ours], &sa(vec![pfs.clone()]), true).is_some());
    assert!(EspSuite::from_accepted(&[ours], &sa(vec![pfs]), true).is_some());
    // ESN must match.
    let esn = EspSuite::new(Encr::AesGcm16_128, None, true, Some(Group::Curve25519)).unwrap();
    assert!(EspSuite::select(&[esn], &sa(vec![p.clone()]), false).is_none());
    // An ESP proposal needs a 4-byte SPI.
    let mut bad = p.clone();
    bad.spi = vec![1, 2];
    assert!(EspSuite::select(&[ours], &sa(vec![bad.clone()]), false).is_none());
    assert!(EspSuite::from_accepted(&[ours], &sa(vec![bad]), false).is_none());
    // The responder's answer with two ENCR transforms: refused.
    let mut two = p;
    two.transforms.push(Encr::AesGcm16_256.transform());
    assert!(EspSuite::from_accepted(&[ours], &sa(vec![two]), false).is_none());
}
