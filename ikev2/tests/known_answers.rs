//! Known-answer tests. Sources of the expected values:
//! * RFC 4868 2.7.1 (PRF-HMAC-SHA2 test cases PRF-1 and PRF-2) and 2.7.2 (truncated
//!   AUTH-HMAC-SHA2);
//! * RFC 7748 6.1 (X25519) and RFC 5903 8.1 (ECP-256);
//! * MODP-2048 (RFC 3526) public values and shared secret from Python's big integers
//!   (`tests/vectors/modp2048.py`, which also rebuilds the prime from its definition);
//! * everything else (prf+, SKEYSEED and the SK_* keys, the rekey variant, KEYMAT,
//!   PSK AUTH, SK payloads built by another implementation) from
//!   `tests/vectors/gen_kat.py`, which uses Python's hmac/hashlib and the
//!   `cryptography` package and never this crate.

use ikev2::crypto::{
    ChildKeys, CryptoError, DhPrivate, Encr, EspSuite, Group, IkeKeys, IkeSuite, Integ, Prf,
    Secret, SkCipher, psk_auth, verify_psk_auth,
};
use ikev2::wire::{
    ExchangeType, Flags, IdPayload, IkeHeader, NoncePayload, NotifyPayload, NotifyType, Payload,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

#[test]
fn rfc4868_prf_test_cases() {
    let data = b"Hi There";
    assert_eq!(
        Prf::HmacSha256.prf(&[0x0b; 32], &[data]).expose(),
        h("198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7")
    );
    assert_eq!(
        Prf::HmacSha384.prf(&[0x0b; 48], &[data]).expose(),
        h(
            "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee9737a959796489bddbc\
           4c5df61d5b3297b4fb68dab9f1b582c2"
        )
    );
    assert_eq!(
        Prf::HmacSha512.prf(&[0x0b; 64], &[data]).expose(),
        h(
            "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8\
           ac2878ebd5803f6f0b61dbce5e251ff8789a4722c1be65aea45fd464e89f8f5b"
        )
    );
    // PRF-2: key "Jefe" repeated to 32 bytes; data split across parts must not matter.
    assert_eq!(
        Prf::HmacSha256
            .prf(
                b"JefeJefeJefeJefeJefeJefeJefeJefe",
                &[b"what do ya want ", b"for nothing?"]
            )
            .expose(),
        h("167f928588c5cc2eef8e3093caa0e87c9ff566a14794aa61648d81621a2a40c6")
    );
}

#[test]
fn prf_plus_matches_independent_implementation() {
    let out = Prf::HmacSha256
        .prf_plus(&[0x0b; 20], &[b"se", b"ed"], 100)
        .unwrap();
    assert_eq!(
        out.expose(),
        h(
            "c45cd79c94a5e74a1300fb5cb9c6475e396138e118dbc165c4ff81e4435db2fd\
           7f0d2c42fef6d8a62ad4abae8e913962585fbddaec5bca011011ffdd4a6bda3d\
           0e3b400f554911fe92499bad10b57292d4a2af60d2d73101249bc150431222a3\
           c474e1fa"
        )
    );
    // Prefix property: a shorter output is a prefix of a longer one.
    let short = Prf::HmacSha256
        .prf_plus(&[0x0b; 20], &[b"seed"], 33)
        .unwrap();
    assert_eq!(short.expose(), &out.expose()[..33]);
    // RFC 7296 2.13: at most 255 blocks.
    assert_eq!(
        Prf::HmacSha256.prf_plus(b"k", &[b"s"], 255 * 32 + 1),
        Err(CryptoError::PrfPlusTooLong(255 * 32 + 1))
    );
    assert_eq!(
        Prf::HmacSha256
            .prf_plus(b"k", &[b"s"], 255 * 32)
            .unwrap()
            .len(),
        255 * 32
    );
}

const NI: [u8; 32] = {
    let mut a = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        a[i] = i as u8;
        i += 1;
    }
    a
};
const NR: [u8; 32] = {
    let mut a = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        a[i] = 32 + i as u8;
        i += 1;
    }
    a
};
const SPII: u64 = 0x0102030405060708;
const SPIR: u64 = 0x1112131415161718;
const GIR: &str = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

fn gcm_suite() -> IkeSuite {
    IkeSuite::new(Encr::AesGcm16_128, Prf::HmacSha256, None, Group::Curve25519).unwrap()
}

fn cbc_suite() -> IkeSuite {
    IkeSuite::new(
        Encr::AesCbc256,
        Prf::HmacSha512,
        Some(Integ::HmacSha384_192),
        Group::Ecp256,
    )
    .unwrap()
}

fn gcm_keys() -> IkeKeys {
    IkeKeys::derive(&gcm_suite(), &h(GIR), &NI, &NR, SPII, SPIR).unwrap()
}

fn cbc_keys() -> IkeKeys {
    IkeKeys::derive(&cbc_suite(), &h(GIR), &NI, &NR, SPII, SPIR).unwrap()
}

#[test]
fn ike_sa_keys_aes_gcm_prf_sha256() {
    let k = gcm_keys();
    assert_eq!(
        k.sk_d.expose(),
        h("873cd5bd21d5d40481daa8b14d9ba50ba66f0fe9604764695d3714d94667b926")
    );
    assert!(k.sk_ai.is_empty() && k.sk_ar.is_empty());
    assert_eq!(
        k.sk_ei.expose(),
        h("9302c66b947c55e0cf4e394c8fb0604c85818e0a")
    );
    assert_eq!(
        k.sk_er.expose(),
        h("f336ec66259c2c3ead11d042b0b6adb1cde3859f")
    );
    assert_eq!(
        k.sk_pi.expose(),
        h("71fd5713b11c80630bc6653e6849aac8e0ce3a609f017841a7f0d605c02db96f")
    );
    assert_eq!(
        k.sk_pr.expose(),
        h("721d76bb7099af838ea90083fb88845179dfff839f5de7a793fca39600e596e0")
    );
}

#[test]
fn ike_sa_keys_aes_cbc_sha384_prf_sha512() {
    let k = cbc_keys();
    assert_eq!(
        k.sk_d.expose(),
        h(
            "e2e20b6c0115d1c73c3f7b214f20ef0100f4df02c6c54bbb2b685fb1d6be87a5\
           86986e4fd2cb6c96d9a4922d51e874a884bff6a8fe72c22777e99bbe9bb60945"
        )
    );
    assert_eq!(
        k.sk_ai.expose(),
        h(
            "ec7fa757284968f14642722850f09be83a438c9964619f1d8dbe957caa546a15\
           b197c2904c7b1278a7ee6c64c202b243"
        )
    );
    assert_eq!(
        k.sk_ar.expose(),
        h(
            "22c34a2933c665445243a9f88167fb888667f51772210da4c565c7684d1b9513\
           7d01a1dbd76e5353cb4fb0a2edecba22"
        )
    );
    assert_eq!(
        k.sk_ei.expose(),
        h("9384d788a078a3d8cfee6c5fd9ae8d004faab7d51aaffc09b7a6e1d644e0d0ad")
    );
    assert_eq!(
        k.sk_er.expose(),
        h("738fa74b904fd6c740ed441aa5ecce65a9f6748378d4a15499d23b403aa11a81")
    );
    assert_eq!(
        k.sk_pi.expose(),
        h(
            "ec638654d2f41c5cb4ed14f44b1118bcf0d8e1c9d54dce51a42878d8709e33c7\
           4c340a9008f9ed2676ec6221dc348df3acae6cffaae9a8b1ede5dabd2e6f596a"
        )
    );
    assert_eq!(
        k.sk_pr.expose(),
        h(
            "1d8bc28c1b0cd0d1a2954bb0cad3c6c561c4c64f6dcaa313b50c8eea56c2e636\
           2ca8553e54b789924af709669c7a99f43a58507f69917eee507fe1880abf4794"
        )
    );
}

#[test]
fn ike_sa_rekey_uses_old_prf_and_sk_d() {
    let old = gcm_keys();
    let new_suite = IkeSuite::new(
        Encr::AesCbc128,
        Prf::HmacSha384,
        Some(Integ::HmacSha256_128),
        Group::Curve25519,
    )
    .unwrap();
    let gir2: Vec<u8> = (100..132).collect();
    let k = IkeKeys::derive_rekey(
        Prf::HmacSha256,
        &old.sk_d,
        &new_suite,
        &gir2,
        &[0xA5; 32],
        &[0x5A; 48],
        0x2122232425262728,
        0x3132333435363738,
    )
    .unwrap();
    assert_eq!(
        k.sk_d.expose(),
        h(
            "7371dbecd6c95f3656b80e9bb8a719c95ea64c6cfef65f02693aea2308d2e16d\
           ad069b9052fd3bcb56ba6b55e06c8bfe"
        )
    );
    assert_eq!(
        k.sk_ai.expose(),
        h("4b40d5fa8f13ba0208f3903402a11f09a30eb66db5c3fbe2f4384701885c8b4d")
    );
    assert_eq!(
        k.sk_ar.expose(),
        h("38f067eb0bd067b320eb6120cd188ac3b79bef219cda918c8c6823f47276b73a")
    );
    assert_eq!(k.sk_ei.expose(), h("81383e54a2e892dcc756a086b29f3163"));
    assert_eq!(k.sk_er.expose(), h("705bb66b567047407c7d426d380983f4"));
    assert_eq!(
        k.sk_pi.expose(),
        h(
            "8b9636f74077a66ae36013ebcc60e130050aea3541efcbae5dba3e40b94b4e89\
           903e023c8e466c41276fde68386ff3e0"
        )
    );
    assert_eq!(
        k.sk_pr.expose(),
        h(
            "b3219358aa59b783a92560565bd754452993b16ba763a7f936af1b6937ec3048\
           cee97a54ed50d5dd071930d6f9218939"
        )
    );
}

#[test]
fn child_sa_keymat_without_and_with_pfs() {
    let sk_d = gcm_keys().sk_d;
    let gcm = EspSuite::new(Encr::AesGcm16_256, None, true, None).unwrap();
    let k = ChildKeys::derive(Prf::HmacSha256, &sk_d, &gcm, None, &NI, &NR).unwrap();
    assert_eq!(
        k.i_to_r.encr.expose(),
        h("809cd037f5cd591ba412eddf8c9c0138079ebee6bd157dc4f4d7775119a0b493a9cbc919")
    );
    assert_eq!(
        k.r_to_i.encr.expose(),
        h("29d5b87ac70bb38f513ba4d2294f001411a254796ed750e33d166de2a574bbbb6a8530d8")
    );
    assert!(k.i_to_r.integ.is_empty() && k.r_to_i.integ.is_empty());

    let cbc = EspSuite::new(
        Encr::AesCbc128,
        Some(Integ::HmacSha1_96),
        false,
        Some(Group::Curve25519),
    )
    .unwrap();
    let gir2: Vec<u8> = (100..132).collect();
    let k = ChildKeys::derive(
        Prf::HmacSha256,
        &sk_d,
        &cbc,
        Some(&gir2),
        &[0xA5; 32],
        &[0x5A; 48],
    )
    .unwrap();
    assert_eq!(
        k.i_to_r.encr.expose(),
        h("7b7f15dc3e15a64099675d1270d75d92")
    );
    assert_eq!(
        k.i_to_r.integ.expose(),
        h("9c6894ba99d0fb848762e95b16e69807029930e4")
    );
    assert_eq!(
        k.r_to_i.encr.expose(),
        h("10941497d9d1ddbdec0ce15bb29d2190")
    );
    assert_eq!(
        k.r_to_i.integ.expose(),
        h("a6e5bb3b126581ea8bc926096f83cd7806ecab72")
    );
}

#[test]
fn psk_auth_matches_and_verifies_in_constant_time_api() {
    let k = gcm_keys();
    let real: Vec<u8> = (0..200).map(|i| i as u8).collect();
    let id = IdPayload::fqdn("west.example").body_bytes();
    let psk = b"correct horse battery staple";
    let auth = psk_auth(Prf::HmacSha256, psk, &real, &NR, &k.sk_pi, &id);
    assert_eq!(
        auth,
        h("e4228437d5c5c2c207c49c38f082c2cfa6660dba96d672bcd06cdf5c53b2b164")
    );
    assert!(verify_psk_auth(
        Prf::HmacSha256,
        psk,
        &real,
        &NR,
        &k.sk_pi,
        &id,
        &auth
    ));
    // Wrong PSK, one flipped bit, truncated value, other ID, other key: all refused.
    assert!(!verify_psk_auth(
        Prf::HmacSha256,
        b"wrong",
        &real,
        &NR,
        &k.sk_pi,
        &id,
        &auth
    ));
    let mut bad = auth.clone();
    bad[31] ^= 1;
    assert!(!verify_psk_auth(
        Prf::HmacSha256,
        psk,
        &real,
        &NR,
        &k.sk_pi,
        &id,
        &bad
    ));
    assert!(!verify_psk_auth(
        Prf::HmacSha256,
        psk,
        &real,
        &NR,
        &k.sk_pi,
        &id,
        &auth[..16]
    ));
    assert!(!verify_psk_auth(
        Prf::HmacSha256,
        psk,
        &real,
        &NR,
        &k.sk_pi,
        &id,
        &[]
    ));
    let other_id = IdPayload::fqdn("east.example").body_bytes();
    assert!(!verify_psk_auth(
        Prf::HmacSha256,
        psk,
        &real,
        &NR,
        &k.sk_pi,
        &other_id,
        &auth
    ));
    assert!(!verify_psk_auth(
        Prf::HmacSha256,
        psk,
        &real,
        &NR,
        &k.sk_pr,
        &id,
        &auth
    ));
}

#[test]
fn rfc7748_x25519() {
    let alice = DhPrivate::from_bytes(
        Group::Curve25519,
        &h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
    )
    .unwrap();
    let bob = DhPrivate::from_bytes(
        Group::Curve25519,
        &h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
    )
    .unwrap();
    assert_eq!(
        alice.public_value(),
        h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    assert_eq!(
        bob.public_value(),
        h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    );
    let k = h(GIR);
    assert_eq!(alice.shared_secret(bob.public_value()).unwrap().expose(), k);
    assert_eq!(bob.shared_secret(alice.public_value()).unwrap().expose(), k);
}

#[test]
fn rfc5903_ecp256() {
    let i = DhPrivate::from_bytes(
        Group::Ecp256,
        &h("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433"),
    )
    .unwrap();
    let r = DhPrivate::from_bytes(
        Group::Ecp256,
        &h("C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53"),
    )
    .unwrap();
    // KE payload data: gix | giy (RFC 5903 7 and 8.1).
    assert_eq!(
        i.public_value(),
        h(
            "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180\
           5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3"
        )
    );
    assert_eq!(
        r.public_value(),
        h(
            "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63\
           56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB"
        )
    );
    // The shared secret is the x coordinate only (girx).
    let girx = h("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE");
    assert_eq!(i.shared_secret(r.public_value()).unwrap().expose(), girx);
    assert_eq!(r.shared_secret(i.public_value()).unwrap().expose(), girx);
}

#[test]
fn dh_rejects_bad_public_values() {
    let mut rng = StdRng::seed_from_u64(7);
    let x = DhPrivate::generate(Group::Curve25519, &mut rng).unwrap();
    // All-zero and other low-order points give an all-zero X25519 result (RFC 8031 2).
    assert_eq!(
        x.shared_secret(&[0u8; 32]),
        Err(CryptoError::InvalidPublicValue)
    );
    let mut one = [0u8; 32];
    one[0] = 1;
    assert_eq!(x.shared_secret(&one), Err(CryptoError::InvalidPublicValue));
    // Order-8 point from RFC 7748's list of low-order points (as in many X25519 suites).
    let low = h("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
    assert_eq!(x.shared_secret(&low), Err(CryptoError::InvalidPublicValue));
    assert_eq!(
        x.shared_secret(&[9u8; 31]),
        Err(CryptoError::InvalidPublicValue)
    );

    let p = DhPrivate::generate(Group::Ecp256, &mut rng).unwrap();
    assert_eq!(p.public_value().len(), 64);
    // Not on the curve: flip a bit of y.
    let mut off = p.public_value().to_vec();
    off[63] ^= 1;
    let q = DhPrivate::generate(Group::Ecp256, &mut rng).unwrap();
    assert_eq!(q.shared_secret(&off), Err(CryptoError::InvalidPublicValue));
    assert_eq!(
        q.shared_secret(&[0u8; 64]),
        Err(CryptoError::InvalidPublicValue)
    );
    assert_eq!(
        q.shared_secret(&off[..63]),
        Err(CryptoError::InvalidPublicValue)
    );
    // And a good one agrees.
    assert_eq!(
        q.shared_secret(p.public_value()).unwrap(),
        p.shared_secret(q.public_value()).unwrap()
    );
}

#[test]
fn dh_generation_is_deterministic_per_seed_and_differs_across_seeds() {
    for g in [Group::Curve25519, Group::Ecp256, Group::Modp2048] {
        let a = DhPrivate::generate(g, &mut StdRng::seed_from_u64(1)).unwrap();
        let b = DhPrivate::generate(g, &mut StdRng::seed_from_u64(1)).unwrap();
        let c = DhPrivate::generate(g, &mut StdRng::seed_from_u64(2)).unwrap();
        assert_eq!(a.public_value(), b.public_value());
        assert_ne!(a.public_value(), c.public_value());
        assert_eq!(a.public_value().len(), g.public_len());
    }
}

const MODP_P: &str = concat!(
    "ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74",
    "020bbea63b139b22514a08798e3404ddef9519b3cd3a431b302b0a6df25f1437",
    "4fe1356d6d51c245e485b576625e7ec6f44c42e9a637ed6b0bff5cb6f406b7ed",
    "ee386bfb5a899fa5ae9f24117c4b1fe649286651ece45b3dc2007cb8a163bf05",
    "98da48361c55d39a69163fa8fd24cf5f83655d23dca3ad961c62f356208552bb",
    "9ed529077096966d670c354e4abc9804f1746c08ca18217c32905e462e36ce3b",
    "e39e772c180e86039b2783a2ec07a28fb5c55df06f4c52c9de2bcbf695581718",
    "3995497cea956ae515d2261898fa051015728e5a8aacaa68ffffffffffffffff",
);
const MODP_GI: &str = concat!(
    "ca737546c70b3a25a43d745a3e31526b3fc9f28dca1b890fed9c1cc46a1d2302",
    "2c597a3f9dcc6de91383f788f139e35c290558305a7935d242e1ca4d830a0b94",
    "abdc8b3f1bc6b0c43c6e8330b29a5f61ae8ac3ebddebbd69206d41fe819e975e",
    "982b4d290a93c8ecb87ec2c2e363544fe5b9f44af371e15c9f5d3c83e7904001",
    "bb9cf1667538acd767c24f2bed29ae165c5e3ad7ca009d9c801eb75febd18c50",
    "477ac0ae9562c684efd4d0c696046f8a95603d228c6c407f8d15d6aba62f433c",
    "6b023e8f2d9722cd34bd355dc2496693ee66a3cdc55d1ee1d7766554428a0b12",
    "99b5882359f9de57ca7a3ba3c3ca2d552ac6584a7ce9fd4846140888a7b411f8",
);
const MODP_GR: &str = concat!(
    "8ef704263171e8ebf49b3b28a7f85610d876a1dd06bd8f6b8f133c8b4ac72c96",
    "9799e49de5eb96b1f1cfb945c40915f9604b62e8311e18e6043ade3968c61243",
    "e609ac442dc9a49f7894460b11d3c950ee2e4c2c51f9d9b53d911594a8884de9",
    "1cedafe9afd8f3c4f9df70aabe500d63785b8554401292dc7285958d911602c8",
    "1041d740869bf52f07dfdcac2a2e4a29d1dee91e42822e1871ce6057563cf524",
    "5e00102b59a71d89c0e41320ba9b88cdec9cfa82d002f26d0c691962323a8b50",
    "292379e7017c6727ab6cd4cb477d2e2bd5017d22c23df263f922d4c72d5d6fa7",
    "d4ed12c02842e0ec5af27522dd877db68316a209a0c4dd2502b48d1c959b3e69",
);
const MODP_GIR: &str = concat!(
    "cf9bec37bff58a320bf704504a1742b49a23d77157fc165fef0a7351a067a72a",
    "7ad959adbdfb859b2f7a89aaf2260e9b977cd66682ef6f9ea22d828c986555d4",
    "cb93485cddb99f54f95ea8d8a36d947fb72015416f2476c54d9619bed9460e3a",
    "f18c9129d2a802d2494b28b0862577fb771df42b327f6e1ab3ab6057c0e70499",
    "a28b7c8e5566828a6dd8f5939a84c9fcd67b28089bd786a5ed89009057d5ef2a",
    "87cea39240226075d9ac01b12d542a0e85ecbd2a6971b3ce706bfcc2c5c98d96",
    "1a249b427c266435b6f20a4ec9e0f884b5d6943f6e2f4388f809893c462d45ac",
    "49be005992c6a16bc723ab891d706f4b04a6490a7ebe4a8e27aa95a5f9b77884",
);

#[test]
fn modp2048_matches_python_big_integers() {
    let xi: Vec<u8> = (1..=64).collect();
    let xr: Vec<u8> = (101..=164).collect();
    let i = DhPrivate::from_bytes(Group::Modp2048, &xi).unwrap();
    let r = DhPrivate::from_bytes(Group::Modp2048, &xr).unwrap();
    assert_eq!(i.public_value(), h(MODP_GI));
    assert_eq!(r.public_value(), h(MODP_GR));
    assert_eq!(
        i.shared_secret(r.public_value()).unwrap().expose(),
        h(MODP_GIR)
    );
    assert_eq!(
        r.shared_secret(i.public_value()).unwrap().expose(),
        h(MODP_GIR)
    );
}

#[test]
fn modp2048_rejects_degenerate_public_values() {
    let x = DhPrivate::generate(Group::Modp2048, &mut StdRng::seed_from_u64(9)).unwrap();
    assert_eq!(x.public_value().len(), 256);
    let p = h(MODP_P);
    let mut p_minus_1 = p.clone();
    p_minus_1[255] -= 1;
    // p ends in 64 one bits: p + 1 = the same prefix + 1, then eight zero bytes.
    let mut p_plus_1 = p.clone();
    p_plus_1[247] += 1;
    p_plus_1[248..].fill(0);
    let mut one = vec![0u8; 256];
    one[255] = 1;
    let mut two = vec![0u8; 256];
    two[255] = 2;
    for bad in [
        vec![0u8; 256],
        one,
        p_minus_1,
        p.clone(),
        p_plus_1,
        vec![0xff; 256],
    ] {
        assert_eq!(x.shared_secret(&bad), Err(CryptoError::InvalidPublicValue));
    }
    assert_eq!(
        x.shared_secret(&p[..255]),
        Err(CryptoError::InvalidPublicValue)
    );
    // 2 is a fine public value (the generator itself).
    assert!(x.shared_secret(&two).is_ok());
    assert!(DhPrivate::from_bytes(Group::Modp2048, &[0u8; 64]).is_err());
    assert!(DhPrivate::from_bytes(Group::Modp2048, &[1u8; 32]).is_err());
}

fn inner_payloads() -> Vec<Payload> {
    vec![
        Payload::Nonce(NoncePayload {
            data: vec![0x42; 16],
        }),
        Payload::Notify(NotifyPayload::new(NotifyType::INITIAL_CONTACT, vec![])),
    ]
}

#[test]
fn sk_aes_gcm_opens_a_message_sealed_elsewhere() {
    let keys = gcm_keys();
    let wire = h(
        "010203040506070811121314151617182e2023080000000100000055280000390001020304050607\
         e5d708d30a3c20ab7b6db398d5f5344e7c73bd74b29879f69b6ed12270291fb847156871352bfd04\
         a25c8f3870",
    );
    // Sent by the initiator: the responder opens it.
    let responder = SkCipher::new(&gcm_suite(), &keys, false).unwrap();
    let opened = responder.open(&wire).unwrap();
    assert_eq!(opened.header.exchange_type, ExchangeType::IKE_AUTH);
    assert_eq!(opened.payloads, inner_payloads());
    // The initiator's own cipher would use the other direction's key: refused.
    let initiator = SkCipher::new(&gcm_suite(), &keys, true).unwrap();
    assert_eq!(initiator.open(&wire), Err(CryptoError::Integrity));
    // Any flipped bit, in the header (AAD), IV, ciphertext or tag: refused.
    for i in [0, 17, 19, 27, 30, 32, 40, 60, wire.len() - 1] {
        let mut w = wire.clone();
        w[i] ^= 0x01;
        assert!(responder.open(&w).is_err(), "bit flip at {i} accepted");
    }
}

#[test]
fn sk_aes_cbc_hmac_opens_a_message_sealed_elsewhere() {
    let keys = cbc_keys();
    let wire = h(
        "010203040506070811121314151617182e20232000000001000000682800004c000102030405060708\
         090a0b0c0d0e0ff74c0cac4cf95a3a6bbdf0b567b7650acfd93850bd7f0f8720f9175a415da58a35bd\
         7a4108e2dc4ac45c6242818c59041f1d42b472be95e8",
    );
    let initiator = SkCipher::new(&cbc_suite(), &keys, true).unwrap();
    let opened = initiator.open(&wire).unwrap();
    assert!(opened.header.flags.response());
    assert_eq!(opened.payloads, inner_payloads());
    for i in [0, 19, 30, 40, 60, wire.len() - 1] {
        let mut w = wire.clone();
        w[i] ^= 0x80;
        assert!(initiator.open(&w).is_err(), "bit flip at {i} accepted");
    }
}

#[test]
fn sk_seal_open_round_trip_every_suite() {
    let mut rng = StdRng::seed_from_u64(3);
    let suites = [
        (Encr::AesGcm16_128, None),
        (Encr::AesGcm16_256, None),
        (Encr::ChaCha20Poly1305, None),
        (Encr::AesCbc128, Some(Integ::HmacSha256_128)),
        (Encr::AesCbc256, Some(Integ::HmacSha384_192)),
        (Encr::AesCbc256, Some(Integ::HmacSha512_256)),
    ];
    for (encr, integ) in suites {
        for prf in [Prf::HmacSha256, Prf::HmacSha384, Prf::HmacSha512] {
            let suite = IkeSuite::new(encr, prf, integ, Group::Curve25519).unwrap();
            let keys = IkeKeys::derive(&suite, b"shared", &NI, &NR, SPII, SPIR).unwrap();
            let mut i = SkCipher::new(&suite, &keys, true).unwrap();
            let mut r = SkCipher::new(&suite, &keys, false).unwrap();
            for n in 0..20u8 {
                let payloads = vec![Payload::Nonce(NoncePayload {
                    data: vec![n; 16 + n as usize],
                })];
                let hdr = IkeHeader::new(
                    SPII,
                    SPIR,
                    ExchangeType::INFORMATIONAL,
                    Flags::new(true, false),
                    n as u32,
                );
                let wire = i.seal(hdr, &payloads, &mut rng).unwrap();
                let chain = 4 + 16 + n as usize;
                assert_eq!(wire.len(), i.sealed_len(chain), "{suite:?}");
                let opened = r.open(&wire).unwrap();
                assert_eq!(opened.payloads, payloads, "{suite:?}");
                assert_eq!(opened.header.message_id, n as u32);
                // And the other way.
                let back = r.seal(hdr, &payloads, &mut rng).unwrap();
                assert_eq!(i.open(&back).unwrap().payloads, payloads);
            }
        }
    }
}

#[test]
fn sk_aead_iv_never_repeats() {
    let mut rng = StdRng::seed_from_u64(4);
    let suite = gcm_suite();
    let keys = gcm_keys();
    let mut i = SkCipher::new(&suite, &keys, true).unwrap();
    let hdr = IkeHeader::new(
        SPII,
        SPIR,
        ExchangeType::INFORMATIONAL,
        Flags::new(true, false),
        0,
    );
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        let w = i.seal(hdr, &[], &mut rng).unwrap();
        // IV right after the 28-byte header and the 4-byte SK header.
        assert!(seen.insert(w[32..40].to_vec()), "IV repeated");
    }
}

#[test]
fn sk_rejects_bad_padding_and_short_bodies() {
    let keys = cbc_keys();
    let suite = cbc_suite();
    let r = SkCipher::new(&suite, &keys, false).unwrap();
    // A message with an SK payload too short for IV and ICV.
    let mut short = h("010203040506070811121314151617182e202308000000010000002428000008");
    short.extend_from_slice(&[0u8; 4]);
    assert!(matches!(r.open(&short), Err(CryptoError::SkLength(_))));
    // A message without an SK payload.
    let plain = ikev2::wire::Message {
        header: IkeHeader::new(
            SPII,
            SPIR,
            ExchangeType::IKE_AUTH,
            Flags::new(true, false),
            1,
        ),
        payloads: inner_payloads(),
    }
    .encode()
    .unwrap();
    assert_eq!(r.open(&plain), Err(CryptoError::NotEncrypted));
}

#[test]
fn secrets_never_print() {
    let k = gcm_keys();
    let dbg = format!("{k:?}");
    assert!(
        !dbg.contains("873cd5bd") && !dbg.contains("135, 60"),
        "{dbg}"
    );
    let s = Secret::from_slice(&[1, 2, 3]);
    assert!(!format!("{s:?}").contains("1, 2, 3"));
}
