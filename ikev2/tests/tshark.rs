//! tshark as an oracle for the encoder and the SK payload: complete exchanges built by
//! this crate (IKE_SA_INIT with several proposals, KE, nonces, NAT detection and other
//! notifies; COOKIE and INVALID_KE_PAYLOAD answers; IKE_AUTH with every ID type, PSK
//! AUTH, ESP proposals and traffic selectors; CREATE_CHILD_SA with PFS and REKEY_SA;
//! INFORMATIONAL with Delete payloads and error notifies), protected with AES-GCM-16
//! (128, 256) and AES-CBC (128, 256) + HMAC-SHA2 (256, 384, 512), with Curve25519,
//! ECP-256 and MODP-2048, are written into a
//! pcap as Ethernet / IPv4 or IPv6 / UDP 500 (IKE_SA_INIT) and 4500 (behind the non-ESP
//! marker). Wireshark's ISAKMP dissector, given the keys through its
//! `ikev2_decryption_table`, must find nothing malformed, raise no expert warning,
//! verify every integrity checksum, and show the payloads inside every SK payload
//! exactly as they were built.
//!
//! Skips when tshark is not installed, unless `IKEV2_REQUIRE_TSHARK=1` (as
//! `.ci/checks/44-ikev2-tshark.sh` sets it).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_lc_rs::digest;
use etherparse::PacketBuilder;
use ikev2::crypto::{
    ChildKeys, DhPrivate, Encr, EspSuite, Group, IkeKeys, IkeSuite, Integ, Prf, SkCipher, psk_auth,
};
use ikev2::wire::{
    AuthMethod, AuthPayload, DeletePayload, ExchangeType, Flags, IdPayload, IkeHeader, KePayload,
    Message, NoncePayload, NotifyPayload, NotifyType, Payload, SaPayload, TrafficSelector,
    TsPayload, VendorIdPayload,
};
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const PSK: &[u8] = b"tshark-oracle-pre-shared-key";

struct Frame {
    src: IpAddr,
    dst: IpAddr,
    natt: bool,
    ike: Vec<u8>,
    /// What tshark must show: notify types, AUTH data, nonces (each in order).
    notifies: Vec<u16>,
    auth: Vec<Vec<u8>>,
    nonces: Vec<Vec<u8>>,
}

fn expect(src: IpAddr, dst: IpAddr, natt: bool, ike: Vec<u8>, payloads: &[Payload]) -> Frame {
    let mut f = Frame {
        src,
        dst,
        natt,
        ike,
        notifies: vec![],
        auth: vec![],
        nonces: vec![],
    };
    for p in payloads {
        match p {
            Payload::Notify(n) => f.notifies.push(n.notify_type.0),
            Payload::Auth(a) => f.auth.push(a.data.clone()),
            Payload::Nonce(n) => f.nonces.push(n.data.clone()),
            _ => {}
        }
    }
    f
}

fn nat_hash(spi_i: u64, spi_r: u64, addr: IpAddr, port: u16) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&spi_i.to_be_bytes());
    ctx.update(&spi_r.to_be_bytes());
    match addr {
        IpAddr::V4(a) => ctx.update(&a.octets()),
        IpAddr::V6(a) => ctx.update(&a.octets()),
    }
    ctx.update(&port.to_be_bytes());
    ctx.finish().as_ref().to_vec()
}

fn hdr(spi_i: u64, spi_r: u64, x: ExchangeType, from_i: bool, resp: bool, mid: u32) -> IkeHeader {
    IkeHeader::new(spi_i, spi_r, x, Flags::new(from_i, resp), mid)
}

fn plain(h: IkeHeader, payloads: Vec<Payload>, src: IpAddr, dst: IpAddr) -> Frame {
    let m = Message {
        header: h,
        payloads,
    };
    let wire = m.encode().unwrap();
    expect(src, dst, false, wire, &m.payloads)
}

/// An IKE SA's identity in the decryption table.
struct TableEntry {
    spi_i: u64,
    spi_r: u64,
    suite: IkeSuite,
    keys: IkeKeys,
}

fn encr_name(e: Encr) -> &'static str {
    match e {
        Encr::AesGcm16_128 => "AES-GCM-128 with 16 octet ICV [RFC5282]",
        Encr::AesGcm16_256 => "AES-GCM-256 with 16 octet ICV [RFC5282]",
        Encr::AesCbc128 => "AES-CBC-128 [RFC3602]",
        Encr::AesCbc256 => "AES-CBC-256 [RFC3602]",
        _ => unreachable!(),
    }
}

fn integ_name(i: Option<Integ>) -> &'static str {
    match i {
        None => "NONE [RFC4306]",
        Some(Integ::HmacSha256_128) => "HMAC_SHA2_256_128 [RFC4868]",
        Some(Integ::HmacSha384_192) => "HMAC_SHA2_384_192 [RFC4868]",
        Some(Integ::HmacSha512_256) => "HMAC_SHA2_512_256 [RFC4868]",
        _ => unreachable!(),
    }
}

fn uat(e: &TableEntry) -> String {
    format!(
        "uat:ikev2_decryption_table:{:016x},{:016x},{},{},\"{}\",{},{},\"{}\"",
        e.spi_i,
        e.spi_r,
        hex::encode(e.keys.sk_ei.expose()),
        hex::encode(e.keys.sk_er.expose()),
        encr_name(e.suite.encr),
        hex::encode(e.keys.sk_ai.expose()),
        hex::encode(e.keys.sk_ar.expose()),
        integ_name(e.suite.integ),
    )
}

/// One complete IKE SA life between `i_addr` and `r_addr` with `suite`.
fn exchange(
    rng: &mut StdRng,
    suite: IkeSuite,
    esp: EspSuite,
    i_addr: IpAddr,
    r_addr: IpAddr,
    frames: &mut Vec<Frame>,
    table: &mut Vec<TableEntry>,
) {
    let offer: Vec<IkeSuite> = vec![
        IkeSuite::aes128gcm16_prfsha256_x25519(),
        IkeSuite::aes128_sha256_ecp256(),
        suite,
    ];
    let spi_i: u64 = rng.random();
    let spi_r: u64 = rng.random();
    let ni: Vec<u8> = (0..32).map(|_| rng.random()).collect();
    let nr: Vec<u8> = (0..48).map(|_| rng.random()).collect();
    let sa_offer = SaPayload {
        proposals: offer
            .iter()
            .enumerate()
            .map(|(n, s)| s.proposal(n as u8 + 1, vec![]))
            .collect(),
    };

    // A first request with the wrong group gets INVALID_KE_PAYLOAD, then a COOKIE.
    let wrong = match suite.group {
        Group::Curve25519 => Group::Modp2048,
        _ => Group::Curve25519,
    };
    let dh_wrong = DhPrivate::generate(wrong, rng).unwrap();
    let init_payloads = |ke: &DhPrivate, cookie: Option<Vec<u8>>| {
        let mut p = vec![];
        if let Some(c) = cookie {
            p.push(Payload::Notify(NotifyPayload::new(NotifyType::COOKIE, c)));
        }
        p.extend([
            Payload::Sa(sa_offer.clone()),
            Payload::Ke(KePayload {
                group: ke.group().dh_group(),
                data: ke.public_value().to_vec(),
            }),
            Payload::Nonce(NoncePayload { data: ni.clone() }),
            Payload::Notify(NotifyPayload::new(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                nat_hash(spi_i, 0, i_addr, 500),
            )),
            Payload::Notify(NotifyPayload::new(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                nat_hash(spi_i, 0, r_addr, 500),
            )),
            Payload::Notify(NotifyPayload::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                vec![],
            )),
            Payload::Notify(NotifyPayload::new(
                NotifyType::SIGNATURE_HASH_ALGORITHMS,
                vec![0, 2, 0, 3, 0, 4],
            )),
            Payload::VendorId(VendorIdPayload {
                data: b"anycast-ha ikev2 test".to_vec(),
            }),
        ]);
        p
    };
    let h0 = hdr(spi_i, 0, ExchangeType::IKE_SA_INIT, true, false, 0);
    frames.push(plain(h0, init_payloads(&dh_wrong, None), i_addr, r_addr));
    frames.push(plain(
        hdr(spi_i, 0, ExchangeType::IKE_SA_INIT, false, true, 0),
        vec![Payload::Notify(NotifyPayload::invalid_ke(
            suite.group.dh_group().0,
        ))],
        r_addr,
        i_addr,
    ));
    let dh_i = DhPrivate::generate(suite.group, rng).unwrap();
    frames.push(plain(h0, init_payloads(&dh_i, None), i_addr, r_addr));
    let cookie: Vec<u8> = (0..32).map(|_| rng.random()).collect();
    frames.push(plain(
        hdr(spi_i, 0, ExchangeType::IKE_SA_INIT, false, true, 0),
        vec![Payload::Notify(NotifyPayload::new(
            NotifyType::COOKIE,
            cookie.clone(),
        ))],
        r_addr,
        i_addr,
    ));
    let req = Message {
        header: h0,
        payloads: init_payloads(&dh_i, Some(cookie)),
    };
    let req_wire = req.encode().unwrap();
    frames.push(expect(
        i_addr,
        r_addr,
        false,
        req_wire.clone(),
        &req.payloads,
    ));

    // The responder chooses and answers.
    let sel = IkeSuite::select(&[suite], &sa_offer, Some(suite.group.dh_group())).unwrap();
    assert_eq!(sel.suite, suite);
    let dh_r = DhPrivate::generate(suite.group, rng).unwrap();
    let resp = Message {
        header: hdr(spi_i, spi_r, ExchangeType::IKE_SA_INIT, false, true, 0),
        payloads: vec![
            Payload::Sa(SaPayload {
                proposals: vec![suite.proposal(sel.number, vec![])],
            }),
            Payload::Ke(KePayload {
                group: suite.group.dh_group(),
                data: dh_r.public_value().to_vec(),
            }),
            Payload::Nonce(NoncePayload { data: nr.clone() }),
            Payload::Notify(NotifyPayload::new(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                nat_hash(spi_i, spi_r, r_addr, 500),
            )),
            Payload::Notify(NotifyPayload::new(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                nat_hash(spi_i, spi_r, i_addr, 500),
            )),
        ],
    };
    let resp_wire = resp.encode().unwrap();
    frames.push(expect(
        r_addr,
        i_addr,
        false,
        resp_wire.clone(),
        &resp.payloads,
    ));

    let g_i = dh_i.shared_secret(dh_r.public_value()).unwrap();
    let g_r = dh_r.shared_secret(dh_i.public_value()).unwrap();
    assert_eq!(g_i, g_r);
    let keys = IkeKeys::derive(&suite, g_i.expose(), &ni, &nr, spi_i, spi_r).unwrap();
    let mut ci = SkCipher::new(&suite, &keys, true).unwrap();
    let mut cr = SkCipher::new(&suite, &keys, false).unwrap();

    // IKE_AUTH.
    let id_i = match i_addr {
        IpAddr::V4(_) => IdPayload::fqdn("west.lab.example"),
        IpAddr::V6(_) => IdPayload::key_id(b"west-key-id"),
    };
    let id_r = IdPayload::ip(r_addr);
    let auth_i = psk_auth(
        suite.prf,
        PSK,
        &req_wire,
        &nr,
        &keys.sk_pi,
        &id_i.body_bytes(),
    );
    let auth_r = psk_auth(
        suite.prf,
        PSK,
        &resp_wire,
        &ni,
        &keys.sk_pr,
        &id_r.body_bytes(),
    );
    let spi_esp_i: u32 = rng.random();
    let spi_esp_r: u32 = rng.random();
    let ts_l2tp = |a: IpAddr| TsPayload {
        selectors: vec![TrafficSelector::host(a, 17, Some(1701))],
    };
    let ts_range = match i_addr {
        IpAddr::V4(_) => TrafficSelector::range(
            Ipv4Addr::new(10, 1, 0, 0).into(),
            Ipv4Addr::new(10, 1, 255, 255).into(),
        ),
        IpAddr::V6(_) => TrafficSelector::range(
            "2001:db8:100::".parse::<Ipv6Addr>().unwrap().into(),
            "2001:db8:100::ffff".parse::<Ipv6Addr>().unwrap().into(),
        ),
    }
    .unwrap();
    let mut tsi = ts_l2tp(i_addr);
    tsi.selectors.push(ts_range);
    let auth_req = vec![
        Payload::IdI(id_i.clone()),
        Payload::IdR(id_r.clone()),
        Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: auth_i,
        }),
        Payload::Notify(NotifyPayload::new(NotifyType::INITIAL_CONTACT, vec![])),
        Payload::Notify(NotifyPayload::new(NotifyType::USE_TRANSPORT_MODE, vec![])),
        Payload::Notify(NotifyPayload::new(
            NotifyType::ESP_TFC_PADDING_NOT_SUPPORTED,
            vec![],
        )),
        Payload::Notify(NotifyPayload::new(
            NotifyType::NON_FIRST_FRAGMENTS_ALSO,
            vec![],
        )),
        Payload::Sa(SaPayload {
            proposals: vec![esp.proposal(1, spi_esp_i, false)],
        }),
        Payload::TsI(tsi),
        Payload::TsR(ts_l2tp(r_addr)),
    ];
    let auth_resp = vec![
        Payload::IdR(id_r),
        Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: auth_r,
        }),
        Payload::Notify(NotifyPayload::new(NotifyType::USE_TRANSPORT_MODE, vec![])),
        Payload::Sa(SaPayload {
            proposals: vec![esp.proposal(1, spi_esp_r, false)],
        }),
        Payload::TsI(ts_l2tp(i_addr)),
        Payload::TsR(ts_l2tp(r_addr)),
    ];
    let mut mid = 1;
    let enc = |c: &mut SkCipher,
               from_i: bool,
               x: ExchangeType,
               resp: bool,
               mid: u32,
               p: Vec<Payload>,
               frames: &mut Vec<Frame>,
               rng: &mut StdRng| {
        let h = hdr(spi_i, spi_r, x, from_i, resp, mid);
        let wire = c.seal(h, &p, rng).unwrap();
        // Our own opener agrees before tshark looks.
        let (src, dst) = if from_i {
            (i_addr, r_addr)
        } else {
            (r_addr, i_addr)
        };
        frames.push(expect(src, dst, true, wire, &p));
    };
    enc(
        &mut ci,
        true,
        ExchangeType::IKE_AUTH,
        false,
        mid,
        auth_req,
        frames,
        rng,
    );
    enc(
        &mut cr,
        false,
        ExchangeType::IKE_AUTH,
        true,
        mid,
        auth_resp,
        frames,
        rng,
    );
    mid += 1;

    // CREATE_CHILD_SA: rekey the CHILD_SA with PFS.
    let pfs = esp.pfs.unwrap();
    let dh_ci = DhPrivate::generate(pfs, rng).unwrap();
    let dh_cr = DhPrivate::generate(pfs, rng).unwrap();
    let n2i: Vec<u8> = (0..32).map(|_| rng.random()).collect();
    let n2r: Vec<u8> = (0..32).map(|_| rng.random()).collect();
    let child_req = vec![
        Payload::Notify(NotifyPayload::rekey_sa(spi_esp_i)),
        Payload::Notify(NotifyPayload::new(NotifyType::USE_TRANSPORT_MODE, vec![])),
        Payload::Sa(SaPayload {
            proposals: vec![esp.proposal(1, spi_esp_i ^ 1, true)],
        }),
        Payload::Nonce(NoncePayload { data: n2i.clone() }),
        Payload::Ke(KePayload {
            group: pfs.dh_group(),
            data: dh_ci.public_value().to_vec(),
        }),
        Payload::TsI(ts_l2tp(i_addr)),
        Payload::TsR(ts_l2tp(r_addr)),
    ];
    let child_resp = vec![
        Payload::Notify(NotifyPayload::new(NotifyType::USE_TRANSPORT_MODE, vec![])),
        Payload::Sa(SaPayload {
            proposals: vec![esp.proposal(1, spi_esp_r ^ 1, true)],
        }),
        Payload::Nonce(NoncePayload { data: n2r.clone() }),
        Payload::Ke(KePayload {
            group: pfs.dh_group(),
            data: dh_cr.public_value().to_vec(),
        }),
        Payload::TsI(ts_l2tp(i_addr)),
        Payload::TsR(ts_l2tp(r_addr)),
    ];
    let g = dh_ci.shared_secret(dh_cr.public_value()).unwrap();
    ChildKeys::derive(suite.prf, &keys.sk_d, &esp, Some(g.expose()), &n2i, &n2r).unwrap();
    enc(
        &mut ci,
        true,
        ExchangeType::CREATE_CHILD_SA,
        false,
        mid,
        child_req,
        frames,
        rng,
    );
    enc(
        &mut cr,
        false,
        ExchangeType::CREATE_CHILD_SA,
        true,
        mid,
        child_resp,
        frames,
        rng,
    );
    mid += 1;
    // A collision answer and a CHILD_SA_NOT_FOUND, as responders send them.
    enc(
        &mut cr,
        false,
        ExchangeType::CREATE_CHILD_SA,
        true,
        mid,
        vec![Payload::Notify(NotifyPayload::new(
            NotifyType::TEMPORARY_FAILURE,
            vec![],
        ))],
        frames,
        rng,
    );
    mid += 1;
    enc(
        &mut cr,
        false,
        ExchangeType::CREATE_CHILD_SA,
        true,
        mid,
        vec![Payload::Notify(NotifyPayload::new(
            NotifyType::CHILD_SA_NOT_FOUND,
            vec![],
        ))],
        frames,
        rng,
    );
    mid += 1;

    // INFORMATIONAL: delete the old CHILD_SA, a liveness check, error notifies.
    enc(
        &mut ci,
        true,
        ExchangeType::INFORMATIONAL,
        false,
        mid,
        vec![Payload::Delete(DeletePayload::esp(&[spi_esp_i]))],
        frames,
        rng,
    );
    enc(
        &mut cr,
        false,
        ExchangeType::INFORMATIONAL,
        true,
        mid,
        vec![Payload::Delete(DeletePayload::esp(&[spi_esp_r]))],
        frames,
        rng,
    );
    mid += 1;
    enc(
        &mut ci,
        true,
        ExchangeType::INFORMATIONAL,
        false,
        mid,
        vec![],
        frames,
        rng,
    );
    enc(
        &mut cr,
        false,
        ExchangeType::INFORMATIONAL,
        true,
        mid,
        vec![],
        frames,
        rng,
    );
    for t in [
        NotifyType::TS_UNACCEPTABLE,
        NotifyType::NO_PROPOSAL_CHOSEN,
        NotifyType::INVALID_SYNTAX,
        NotifyType::AUTHENTICATION_FAILED,
    ] {
        mid += 1;
        enc(
            &mut cr,
            false,
            ExchangeType::INFORMATIONAL,
            true,
            mid,
            vec![Payload::Notify(NotifyPayload::new(t, vec![]))],
            frames,
            rng,
        );
    }
    // The responder's own request with message ID 0 (its counter), then IKE delete.
    enc(
        &mut cr,
        false,
        ExchangeType::INFORMATIONAL,
        false,
        0,
        vec![Payload::Notify(NotifyPayload::new(
            NotifyType::INVALID_MESSAGE_ID,
            mid.to_be_bytes().to_vec(),
        ))],
        frames,
        rng,
    );
    mid += 1;
    enc(
        &mut ci,
        true,
        ExchangeType::INFORMATIONAL,
        false,
        mid,
        vec![Payload::Delete(DeletePayload::ike())],
        frames,
        rng,
    );
    enc(
        &mut cr,
        false,
        ExchangeType::INFORMATIONAL,
        true,
        mid,
        vec![],
        frames,
        rng,
    );

    table.push(TableEntry {
        spi_i,
        spi_r,
        suite,
        keys,
    });
}

fn build() -> (Vec<Frame>, Vec<TableEntry>) {
    let mut rng = StdRng::seed_from_u64(0x1ce2);
    let mut frames = Vec::new();
    let mut table = Vec::new();
    let v4 = |d| IpAddr::V4(Ipv4Addr::new(192, 0, 2, d));
    let v6 = |d: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, d));
    let cases = [
        (
            IkeSuite::aes128gcm16_prfsha256_x25519(),
            EspSuite::new(Encr::AesGcm16_128, None, false, Some(Group::Curve25519)).unwrap(),
            v4(1),
            v4(2),
        ),
        (
            IkeSuite::aes128_sha256_ecp256(),
            EspSuite::new(
                Encr::AesCbc128,
                Some(Integ::HmacSha256_128),
                true,
                Some(Group::Ecp256),
            )
            .unwrap(),
            v6(1),
            v6(2),
        ),
        (
            IkeSuite::new(Encr::AesGcm16_256, Prf::HmacSha384, None, Group::Ecp256).unwrap(),
            EspSuite::new(Encr::AesGcm16_256, None, true, Some(Group::Ecp256)).unwrap(),
            v4(3),
            v4(4),
        ),
        (
            IkeSuite::new(
                Encr::AesCbc256,
                Prf::HmacSha512,
                Some(Integ::HmacSha512_256),
                Group::Curve25519,
            )
            .unwrap(),
            EspSuite::new(
                Encr::AesCbc256,
                Some(Integ::HmacSha1_96),
                false,
                Some(Group::Curve25519),
            )
            .unwrap(),
            v6(3),
            v6(4),
        ),
        (
            IkeSuite::new(
                Encr::AesCbc128,
                Prf::HmacSha256,
                Some(Integ::HmacSha384_192),
                Group::Ecp256,
            )
            .unwrap(),
            EspSuite::new(Encr::AesGcm16_128, None, false, Some(Group::Ecp256)).unwrap(),
            v4(5),
            v4(6),
        ),
        (
            IkeSuite::new(
                Encr::AesCbc128,
                Prf::HmacSha256,
                Some(Integ::HmacSha256_128),
                Group::Modp2048,
            )
            .unwrap(),
            EspSuite::new(
                Encr::AesCbc128,
                Some(Integ::HmacSha1_96),
                false,
                Some(Group::Modp2048),
            )
            .unwrap(),
            v6(5),
            v6(6),
        ),
    ];
    for (suite, esp, a, b) in cases {
        exchange(&mut rng, suite, esp, a, b, &mut frames, &mut table);
    }
    (frames, table)
}

fn write_pcap(path: &Path, frames: &[Frame]) {
    let file = std::fs::File::create(path).unwrap();
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(file, header).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let port = if f.natt { 4500 } else { 500 };
        let mut udp = Vec::new();
        if f.natt {
            udp.extend_from_slice(&[0; 4]);
        }
        udp.extend_from_slice(&f.ike);
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let mut frame = Vec::new();
        match (f.src, f.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => b
                .ipv4(s.octets(), d.octets(), 64)
                .udp(port, port)
                .write(&mut frame, &udp)
                .unwrap(),
            (IpAddr::V6(s), IpAddr::V6(d)) => b
                .ipv6(s.octets(), d.octets(), 64)
                .udp(port, port)
                .write(&mut frame, &udp)
                .unwrap(),
            _ => unreachable!(),
        }
        let ts = Duration::from_millis(10 * i as u64);
        w.write_packet(&PcapPacket::new(ts, frame.len() as u32, &frame))
            .unwrap();
    }
}

fn tshark(path: &Path, table: &[TableEntry], extra: &[&str]) -> String {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(path);
    for e in table {
        cmd.arg("-o").arg(uat(e));
    }
    cmd.args(extra);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn flagged(path: &Path, table: &[TableEntry]) -> String {
    tshark(
        path,
        table,
        &["-Y", "_ws.malformed || _ws.expert.severity >= warning"],
    )
}

#[test]
fn tshark_decodes_and_decrypts_our_messages() {
    if Command::new("tshark").arg("--version").output().is_err() {
        assert!(
            std::env::var("IKEV2_REQUIRE_TSHARK").as_deref() != Ok("1"),
            "tshark required but missing"
        );
        eprintln!("SKIP: tshark not installed");
        return;
    }
    let (frames, table) = build();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("ikev2-tshark.pcap");
    write_pcap(&path, &frames);

    let bad = flagged(&path, &table);
    assert!(
        bad.trim().is_empty(),
        "malformed or expert warnings:\n{bad}"
    );

    // Every frame is IKEv2, every SK payload was decrypted with a correct checksum, and
    // what tshark found inside is what we built.
    let out = tshark(
        &path,
        &table,
        &[
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "isakmp.version",
            "-e",
            "isakmp.notify.msgtype",
            "-e",
            "isakmp.auth.data",
            "-e",
            "isakmp.nonce",
            "-e",
            "isakmp.enc.decrypted",
            "-e",
            "isakmp.enc.icd",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), frames.len());
    let mut decrypted = 0;
    for (i, (line, f)) in lines.iter().zip(&frames).enumerate() {
        let got: Vec<&str> = line.split('|').collect();
        assert_eq!(got[0], "0x20", "frame {}: {line}", i + 1);
        let join = |v: Vec<String>| v.join(",");
        assert_eq!(
            got[1],
            join(f.notifies.iter().map(|n| n.to_string()).collect()),
            "frame {} notifies",
            i + 1
        );
        assert_eq!(
            got[2],
            join(f.auth.iter().map(hex::encode).collect()),
            "frame {} AUTH",
            i + 1
        );
        assert_eq!(
            got[3],
            join(f.nonces.iter().map(hex::encode).collect()),
            "frame {} nonce",
            i + 1
        );
        if f.natt {
            decrypted += 1;
        }
    }
    assert!(decrypted > 50, "{decrypted} encrypted frames");

    // Negative controls, so that the checks above can fail: with a wrong SK_a tshark
    // flags the CBC checksums, and a broken payload length is malformed.
    let mut wrong = build().1;
    for e in &mut wrong {
        if let Some(i) = e.suite.integ {
            e.keys.sk_ar = ikev2::crypto::Secret::new(vec![0x55; i.key_len()]);
        }
    }
    assert!(
        !flagged(&path, &wrong).trim().is_empty(),
        "tshark flags wrong integrity keys"
    );
    let mut broken = frames[0].ike.clone();
    broken[28 + 3] ^= 0x40; // the SA payload's length
    let control = dir.join("ikev2-tshark-broken.pcap");
    write_pcap(
        &control,
        &[Frame {
            ike: broken,
            ..expect(frames[0].src, frames[0].dst, false, vec![], &[])
        }],
    );
    assert!(
        !flagged(&control, &[]).trim().is_empty(),
        "tshark flags a bad payload length"
    );
}
