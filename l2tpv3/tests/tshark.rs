//! Wireshark's L2TP dissector as an independent oracle.
//!
//! Encodes every control message type with its AVPs (over UDP with HMAC-MD5 and
//! HMAC-SHA-1 Message Digests that tshark verifies with the shared secret, and over
//! IP without), and data messages with 0, 4 and 8-byte cookies over UDP and IP, with
//! and without the Default L2-Specific Sublayer. Writes them into pcap files, has
//! tshark decode them, and checks that no frame is malformed or raises an expert
//! warning and that the fields tshark decodes equal what was encoded.
//!
//! Skips with a message when tshark is missing, unless `L2TPV3_REQUIRE_TSHARK=1`
//! (set by `scripts/tshark_check.sh` in CI), which turns the skip into a failure.
//! `L2TPV3_TSHARK_DIR=DIR` keeps the pcap files in DIR.

#[path = "../examples/support/frames.rs"]
mod frames;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::BytesMut;
use hmac::{Hmac, Mac};
use l2tpv3::avp::{
    Avp, AvpValue, CircuitErrors, CircuitStatus, DataSequencing, L2SublayerType, MessageDigest,
    PwType, RawAvp, ResultCode,
};
use l2tpv3::data::{self, MAX_DATA_HEADER_LEN};
use l2tpv3::{
    ControlHeader, ControlMessage, Cookie, DataHeader, DefaultSublayer, Encapsulation, MessageType,
};

const SECRET: &[u8] = b"pw-anycast-secret";
const NONCE_A: [u8; 16] = *b"nonce-of-lcce-A!";
const NONCE_B: [u8; 16] = *b"nonce-of-lcce-B?";
const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const C: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const D: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

/// One control message to put on the wire.
struct Ctl {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    encap: Encapsulation,
    msg: ControlMessage,
}

fn hdr(ccid: u32, ns: u16, nr: u16) -> ControlHeader {
    ControlHeader { ccid, ns, nr }
}

fn m(v: AvpValue) -> Avp {
    Avp::new(v)
}

fn md5() -> Avp {
    m(AvpValue::MessageDigest(MessageDigest::HmacMd5([0; 16])))
}

fn sha1() -> Avp {
    m(AvpValue::MessageDigest(MessageDigest::HmacSha1([0; 20])))
}

fn status(active: bool, new: bool) -> AvpValue {
    AvpValue::CircuitStatus(CircuitStatus { active, new })
}

/// Every control message type, each with its required AVPs and between them every
/// AVP type this crate knows.
fn control_messages() -> Vec<Ctl> {
    use AvpValue as V;
    use Encapsulation::{Ip, Udp};
    use MessageType as T;
    let (ca, cb) = (0x5a17_0001, 0x7b2e_0002);
    let (sa, sb) = (0x0000_1001, 0x0000_2002);
    let caps = V::PseudowireCapabilities(vec![PwType::ETHERNET, PwType::ETHERNET_VLAN]);
    let udp = |src, dst, msg| Ctl {
        src,
        dst,
        encap: Udp,
        msg,
    };
    let ip = |src, dst, msg| Ctl {
        src,
        dst,
        encap: Ip,
        msg,
    };
    vec![
        // UDP, authenticated (RFC 3931 section 4.3): digests right after Message Type.
        udp(
            A,
            B,
            ControlMessage::new(
                hdr(0, 0, 0),
                T::Sccrq,
                vec![
                    md5(),
                    m(V::Nonce(NONCE_A.to_vec())),
                    m(V::RandomVector(vec![0x11; 16])),
                    m(V::HostName(b"lcce-a.example.net".to_vec())),
                    m(V::VendorName(b"anycast-ha".to_vec())),
                    m(V::RouterId(0xc000_0201)),
                    m(V::AssignedControlConnectionId(ca)),
                    m(caps.clone()),
                    m(V::ReceiveWindowSize(16)),
                    m(V::TieBreaker(0x0102_0304_0506_0708)),
                    m(V::PreferredLanguage(b"en-GB".to_vec())),
                ],
            ),
        ),
        udp(
            B,
            A,
            ControlMessage::new(
                hdr(ca, 0, 1),
                T::Sccrp,
                vec![
                    md5(),
                    m(V::Nonce(NONCE_B.to_vec())),
                    m(V::HostName(b"lcce-b.example.net".to_vec())),
                    m(V::RouterId(0xc000_0202)),
                    m(V::AssignedControlConnectionId(cb)),
                    m(caps.clone()),
                    m(V::ReceiveWindowSize(8)),
                ],
            ),
        ),
        udp(
            A,
            B,
            ControlMessage::new(hdr(cb, 1, 1), T::Scccn, vec![md5()]),
        ),
        udp(
            A,
            B,
            ControlMessage::new(
                hdr(cb, 2, 1),
                T::Icrq,
                vec![
                    md5(),
                    m(V::LocalSessionId(sa)),
                    m(V::RemoteSessionId(0)),
                    m(V::SerialNumber(0x0000_beef)),
                    m(V::PseudowireType(PwType::ETHERNET)),
                    m(V::RemoteEndId(b"pw-1".to_vec())),
                    m(status(true, true)),
                    m(V::AssignedCookie(Cookie::Eight(
                        *b"\x9c\x41\x0e\x77\x12\xd3\x5f\xa8",
                    ))),
                    m(V::TieBreaker(0x1122_3344_5566_7788)),
                    m(V::L2SpecificSublayer(L2SublayerType::DEFAULT)),
                    m(V::DataSequencing(DataSequencing::ALL)),
                    m(V::TxConnectSpeed(10_000_000_000)),
                    m(V::RxConnectSpeed(1_000_000_000)),
                    m(V::PhysicalChannelId(7)),
                ],
            ),
        ),
        udp(
            B,
            A,
            ControlMessage::new(
                hdr(ca, 1, 3),
                T::Icrp,
                vec![
                    md5(),
                    m(V::LocalSessionId(sb)),
                    m(V::RemoteSessionId(sa)),
                    m(status(true, true)),
                    m(V::AssignedCookie(Cookie::Four(*b"\x3b\x8e\xc2\x6d"))),
                    m(V::L2SpecificSublayer(L2SublayerType::DEFAULT)),
                    m(V::DataSequencing(DataSequencing::NONE)),
                    m(V::PhysicalChannelId(9)),
                ],
            ),
        ),
        udp(
            A,
            B,
            ControlMessage::new(
                hdr(cb, 3, 2),
                T::Iccn,
                vec![
                    md5(),
                    m(V::LocalSessionId(sa)),
                    m(V::RemoteSessionId(sb)),
                    m(V::L2SpecificSublayer(L2SublayerType::DEFAULT)),
                    m(V::DataSequencing(DataSequencing::NON_IP)),
                    m(V::TxConnectSpeed(100_000_000)),
                    m(V::RxConnectSpeed(100_000_000)),
                    m(status(true, false)),
                ],
            ),
        ),
        udp(
            B,
            A,
            ControlMessage::new(hdr(ca, 2, 4), T::Ack, vec![md5()]),
        ),
        udp(
            A,
            B,
            ControlMessage::new(hdr(cb, 4, 2), T::Hello, vec![sha1()]),
        ),
        udp(
            A,
            B,
            ControlMessage::new(
                hdr(cb, 5, 2),
                T::Sli,
                vec![
                    md5(),
                    m(V::LocalSessionId(sa)),
                    m(V::RemoteSessionId(sb)),
                    m(status(false, false)),
                ],
            ),
        ),
        udp(
            B,
            A,
            ControlMessage::new(
                hdr(ca, 2, 6),
                T::Wen,
                vec![
                    md5(),
                    m(V::LocalSessionId(sb)),
                    m(V::RemoteSessionId(sa)),
                    m(V::CircuitErrors(CircuitErrors {
                        hardware_overruns: 1,
                        buffer_overruns: 2,
                        timeout_errors: 3,
                        alignment_errors: 4,
                    })),
                ],
            ),
        ),
        udp(
            B,
            A,
            ControlMessage::new(
                hdr(ca, 3, 6),
                T::Cdn,
                vec![
                    md5(),
                    m(V::ResultCode(ResultCode::with_error(
                        3,
                        0,
                        "administrative",
                    ))),
                    m(V::LocalSessionId(sb)),
                    m(V::RemoteSessionId(sa)),
                ],
            ),
        ),
        udp(
            A,
            B,
            ControlMessage::new(
                hdr(cb, 6, 4),
                T::StopCcn,
                vec![
                    md5(),
                    m(V::ResultCode(ResultCode::with_error(2, 8, "attribute 99"))),
                    m(V::AssignedControlConnectionId(ca)),
                ],
            ),
        ),
        // IP, unauthenticated: the outgoing-call messages, a ZLB and a hidden AVP.
        // (An unknown AVP is left out: tshark flags any AVP it cannot decode with an
        // "Undecoded" expert warning, whoever encoded it.)
        ip(
            C,
            D,
            ControlMessage::new(
                hdr(0x0000_0c0d, 0, 0),
                T::Ocrq,
                vec![
                    m(V::LocalSessionId(0x0300_0001)),
                    m(V::RemoteSessionId(0)),
                    m(V::SerialNumber(1)),
                    m(V::PseudowireType(PwType::ETHERNET_VLAN)),
                    m(V::RemoteEndId(b"vlan-100".to_vec())),
                    m(status(true, true)),
                    m(V::AssignedCookie(Cookie::Four(*b"\x01\x02\x03\x04"))),
                    m(V::L2SpecificSublayer(L2SublayerType::NONE)),
                    m(V::DataSequencing(DataSequencing::NONE)),
                    m(V::TxConnectSpeed(0)),
                ],
            ),
        ),
        ip(
            D,
            C,
            ControlMessage::new(
                hdr(0x0000_0d0c, 0, 1),
                T::Ocrp,
                vec![
                    m(V::LocalSessionId(0x0400_0001)),
                    m(V::RemoteSessionId(0x0300_0001)),
                    m(status(true, true)),
                    m(V::AssignedCookie(Cookie::Eight(
                        *b"\x05\x06\x07\x08\x09\x0a\x0b\x0c",
                    ))),
                    m(V::PhysicalChannelId(3)),
                ],
            ),
        ),
        ip(
            D,
            C,
            ControlMessage::new(
                hdr(0x0000_0d0c, 1, 1),
                T::Occn,
                vec![
                    m(V::LocalSessionId(0x0400_0001)),
                    m(V::RemoteSessionId(0x0300_0001)),
                    m(V::RxConnectSpeed(2_500_000_000)),
                ],
            ),
        ),
        ip(C, D, ControlMessage::zlb(hdr(0x0000_0c0d, 1, 2))),
        ip(
            C,
            D,
            ControlMessage::new(
                hdr(0x0000_0c0d, 1, 2),
                T::Hello,
                vec![
                    m(V::RandomVector(vec![0x5a; 16])),
                    Avp::with_mandatory(
                        V::Raw(RawAvp {
                            vendor_id: 0,
                            attr_type: 8,
                            hidden: true,
                            value: vec![0xa1; 18],
                        }),
                        false,
                    ),
                ],
            ),
        ),
    ]
}

type HmacMd5 = Hmac<md5::Md5>;
type HmacSha1 = Hmac<sha1::Sha1>;

/// Encodes a message and fills in its Message Digest as RFC 3931 section 5.4.1 says:
/// key = HMAC-MD5(secret, 2); digest = HMAC(key, [local nonce, remote nonce,]
/// message with the digest zeroed).
fn encode_signed(c: &Ctl) -> Vec<u8> {
    let mut wire = Vec::new();
    let fields = c
        .msg
        .encode_with_zeroed_digests(c.encap, &mut wire)
        .unwrap();
    let p = c.encap.control_prefix_len();
    let mut k = HmacMd5::new_from_slice(SECRET).unwrap();
    k.update(&[2]);
    let key = k.finalize().into_bytes();
    let nonces: Vec<u8> = match (c.msg.message_type(), c.src) {
        (Some(MessageType::Sccrq), _) => vec![],
        (_, src) if src == A => [NONCE_A, NONCE_B].concat(),
        _ => [NONCE_B, NONCE_A].concat(),
    };
    for f in fields {
        let body = &wire[p..];
        let digest = match f.digest_type {
            MessageDigest::TYPE_HMAC_MD5 => {
                let mut h = HmacMd5::new_from_slice(&key).unwrap();
                h.update(&nonces);
                h.update(body);
                h.finalize().into_bytes().to_vec()
            }
            _ => {
                let mut h = HmacSha1::new_from_slice(&key).unwrap();
                h.update(&nonces);
                h.update(body);
                h.finalize().into_bytes().to_vec()
            }
        };
        wire[p + f.digest.start..p + f.digest.end].copy_from_slice(&digest);
    }
    // The signed bytes still decode to the same message apart from the digest.
    let back = ControlMessage::decode(&wire, c.encap).unwrap();
    assert_eq!(back.avps.len(), c.msg.avps.len());
    wire
}

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn out_dir() -> PathBuf {
    let dir = std::env::var_os("L2TPV3_TSHARK_DIR").map_or_else(
        || std::env::temp_dir().join(format!("l2tpv3-tshark-{}", std::process::id())),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tshark(pcap: &Path, prefs: &[String], extra: &[&str]) -> String {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(pcap);
    for p in prefs {
        cmd.arg("-o").arg(p);
    }
    cmd.args(extra);
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts that tshark finds nothing malformed and raises no warning or error.
fn assert_clean(pcap: &Path, prefs: &[String]) {
    let bad = tshark(
        pcap,
        prefs,
        &[
            "-Y",
            "_ws.malformed || _ws.expert.severity >= warning",
            "-V",
        ],
    );
    assert!(
        bad.trim().is_empty(),
        "{}: tshark flags frames:\n{bad}",
        pcap.display()
    );
}

/// Reads `-T fields` output: one map per frame from field name to its values.
fn fields(pcap: &Path, prefs: &[String], names: &[&str]) -> Vec<BTreeMap<String, Vec<String>>> {
    let mut args = vec!["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"];
    for n in names {
        args.push("-e");
        args.push(n);
    }
    tshark(pcap, prefs, &args)
        .lines()
        .map(|line| {
            names
                .iter()
                .zip(line.split('\t'))
                .map(|(n, v)| {
                    let vals = if v.is_empty() {
                        vec![]
                    } else {
                        v.split('|').map(normalize).collect()
                    };
                    (n.to_string(), vals)
                })
                .collect()
        })
        .collect()
}

/// Numbers to decimal (tshark shows some fields in hex), bytes to bare lowercase hex.
fn normalize(v: &str) -> String {
    if let Some(h) = v.strip_prefix("0x")
        && let Ok(n) = u64::from_str_radix(h, 16)
    {
        return n.to_string();
    }
    match v {
        "True" => "1".into(),
        "False" => "0".into(),
        _ => v.replace(':', ""),
    }
}

const CONTROL_FIELDS: &[&str] = &[
    "frame.number",
    "l2tp.ccid",
    "l2tp.Ns",
    "l2tp.Nr",
    "l2tp.length",
    "l2tp.avp.message_type",
    "l2tp.avp.type",
    "l2tp.avp.mandatory",
    "l2tp.avp.hidden",
    "l2tp.avp.length",
    "l2tp.avp.host_name",
    "l2tp.avp.vendor_name",
    "l2tp.avp.router_id",
    "l2tp.avp.assigned_control_conn_id",
    "l2tp.avp.pw_type",
    "l2tp.avp.receive_window_size",
    "l2tp.tie_breaker",
    "l2tp.avp.nonce",
    "l2tp.avp.random_vector",
    "l2tp.avp.message_digest",
    "l2tp.avp.preferred_language",
    "l2tp.avp.local_session_id",
    "l2tp.avp.remote_session_id",
    "l2tp.avp.call_serial_number",
    "l2tp.avp.pseudowire_type",
    "l2tp.avp.remote_end_id",
    "l2tp.avp.circuit_status",
    "l2tp.avp.circuit_type",
    "l2tp.avp.assigned_cookie",
    "l2tp.avp.layer2_specific_sublayer",
    "l2tp.avp.data_sequencing",
    "l2tp.avp.tx_connect_speed_v3",
    "l2tp.avp.rx_connect_speed_v3",
    "l2tp.avp.physical_channel",
    "l2tp.result_code",
    "l2tp.avp.error_code",
    "l2tp.avp.error_message",
];

/// What tshark should show for one control message, field by field.
fn expected_control(
    number: usize,
    msg: &ControlMessage,
    wire: &[u8],
    p: usize,
) -> BTreeMap<String, Vec<String>> {
    let mut e: BTreeMap<String, Vec<String>> = CONTROL_FIELDS
        .iter()
        .map(|f| (f.to_string(), vec![]))
        .collect();
    let mut put = |k: &str, v: String| e.get_mut(k).unwrap().push(v);
    put("frame.number", number.to_string());
    put("l2tp.ccid", msg.header.ccid.to_string());
    put("l2tp.Ns", msg.header.ns.to_string());
    put("l2tp.Nr", msg.header.nr.to_string());
    put("l2tp.length", msg.len().to_string());
    let decoded = ControlMessage::decode(
        wire,
        if p == 4 {
            Encapsulation::Ip
        } else {
            Encapsulation::Udp
        },
    )
    .unwrap();
    for a in &decoded.avps {
        use AvpValue as V;
        let (_, t) = a.value.wire_type();
        // tshark does not show the type of a hidden AVP.
        if !a.value.is_hidden() {
            put("l2tp.avp.type", t.to_string());
        }
        put("l2tp.avp.mandatory", u8::from(a.mandatory).to_string());
        put("l2tp.avp.hidden", u8::from(a.value.is_hidden()).to_string());
        put("l2tp.avp.length", a.encoded_len().to_string());
        let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        match &a.value {
            V::MessageType(t) => put("l2tp.avp.message_type", t.number().to_string()),
            V::HostName(b) => put("l2tp.avp.host_name", s(b)),
            V::VendorName(b) => put("l2tp.avp.vendor_name", s(b)),
            V::RouterId(v) => put("l2tp.avp.router_id", v.to_string()),
            V::AssignedControlConnectionId(v) => {
                put("l2tp.avp.assigned_control_conn_id", v.to_string())
            }
            V::PseudowireCapabilities(l) => {
                for t in l {
                    put("l2tp.avp.pw_type", t.0.to_string());
                }
            }
            V::ReceiveWindowSize(v) => put("l2tp.avp.receive_window_size", v.to_string()),
            V::TieBreaker(v) => put("l2tp.tie_breaker", v.to_string()),
            V::Nonce(b) => put("l2tp.avp.nonce", hex::encode(b)),
            V::RandomVector(b) => put("l2tp.avp.random_vector", hex::encode(b)),
            // tshark's field spans the Digest Type octet and the digest.
            V::MessageDigest(d) => put(
                "l2tp.avp.message_digest",
                format!("{:02x}{}", d.digest_type(), hex::encode(d.digest())),
            ),
            V::PreferredLanguage(b) => put("l2tp.avp.preferred_language", s(b)),
            V::LocalSessionId(v) => put("l2tp.avp.local_session_id", v.to_string()),
            V::RemoteSessionId(v) => put("l2tp.avp.remote_session_id", v.to_string()),
            V::SerialNumber(v) => put("l2tp.avp.call_serial_number", v.to_string()),
            V::PseudowireType(t) => put("l2tp.avp.pseudowire_type", t.0.to_string()),
            V::RemoteEndId(b) => put("l2tp.avp.remote_end_id", s(b)),
            V::CircuitStatus(c) => {
                put("l2tp.avp.circuit_status", u8::from(c.active).to_string());
                put("l2tp.avp.circuit_type", u8::from(c.new).to_string());
            }
            V::AssignedCookie(c) => put("l2tp.avp.assigned_cookie", hex::encode(c.as_bytes())),
            V::L2SpecificSublayer(t) => put("l2tp.avp.layer2_specific_sublayer", t.0.to_string()),
            V::DataSequencing(t) => put("l2tp.avp.data_sequencing", t.0.to_string()),
            V::TxConnectSpeed(v) => put("l2tp.avp.tx_connect_speed_v3", v.to_string()),
            V::RxConnectSpeed(v) => put("l2tp.avp.rx_connect_speed_v3", v.to_string()),
            V::PhysicalChannelId(v) => put("l2tp.avp.physical_channel", v.to_string()),
            V::ResultCode(rc) => {
                put("l2tp.result_code", rc.result.to_string());
                if let Some(err) = &rc.error {
                    put("l2tp.avp.error_code", err.code.to_string());
                    if !err.message.is_empty() {
                        put("l2tp.avp.error_message", s(&err.message));
                    }
                }
            }
            // Circuit Errors: tshark decodes RFC 2661's Call Errors layout, checked
            // separately; raw AVPs have no value field.
            _ => {}
        }
    }
    e
}

#[test]
fn tshark_decodes_what_we_encode() {
    if !tshark_available() {
        if std::env::var("L2TPV3_REQUIRE_TSHARK").is_ok_and(|v| v == "1") {
            panic!("tshark is required (L2TPV3_REQUIRE_TSHARK=1) but not installed");
        }
        eprintln!(
            "SKIP: tshark not found; install it (apt-get install tshark) to run the Wireshark oracle"
        );
        return;
    }
    let dir = out_dir();

    // Control messages.
    let ctl = control_messages();
    let mut frames_out = Vec::new();
    let mut wires = Vec::new();
    for c in &ctl {
        let wire = encode_signed(c);
        frames_out.push(frames::build_frame(c.encap, c.src, c.dst, &wire));
        wires.push(wire);
    }
    let pcap = dir.join("control.pcap");
    frames::write_pcap(&pcap, &frames_out).unwrap();
    let prefs = vec![format!(
        "l2tp.shared_secret:{}",
        std::str::from_utf8(SECRET).unwrap()
    )];
    assert_clean(&pcap, &prefs);
    let got = fields(&pcap, &prefs, CONTROL_FIELDS);
    assert_eq!(got.len(), ctl.len(), "tshark saw {} frames", got.len());
    for (i, (c, wire)) in ctl.iter().zip(&wires).enumerate() {
        let want = expected_control(i + 1, &c.msg, wire, c.encap.control_prefix_len());
        assert_eq!(got[i], want, "frame {} ({:?})", i + 1, c.msg.message_type());
    }
    // Every message type and the ZLB went through.
    let types: Vec<_> = ctl.iter().filter_map(|c| c.msg.message_type()).collect();
    for t in MessageType::ALL {
        assert!(types.contains(&t), "{t} not covered");
    }
    assert!(ctl.iter().any(|c| c.msg.is_zlb()));
    // The digest check itself: tshark flags l2tp.incorrect_digest on a mismatch, which
    // assert_clean would have caught; make sure a wrong secret is noticed, so the
    // check cannot pass vacuously.
    let wrong = vec!["l2tp.shared_secret:wrong".to_string()];
    let flagged = tshark(&pcap, &wrong, &["-Y", "l2tp.incorrect_digest"]);
    assert!(
        flagged.lines().count() >= 11,
        "a wrong secret should fail every digest:\n{flagged}"
    );
    // Circuit Errors: tshark uses RFC 2661's layout (CRC and framing errors first),
    // so our four counters show up as its first four.
    let ce = fields(
        &pcap,
        &prefs,
        &[
            "l2tp.avp.crc_errors",
            "l2tp.avp.framing_errors",
            "l2tp.avp.hardware_overruns",
            "l2tp.avp.buffer_overruns",
        ],
    );
    let wen = ctl
        .iter()
        .position(|c| c.msg.message_type() == Some(MessageType::Wen))
        .unwrap();
    let vals: Vec<String> = [
        "l2tp.avp.crc_errors",
        "l2tp.avp.framing_errors",
        "l2tp.avp.hardware_overruns",
        "l2tp.avp.buffer_overruns",
    ]
    .iter()
    .flat_map(|k| ce[wen][*k].clone())
    .collect();
    assert_eq!(
        vals,
        ["1", "2", "3", "4"],
        "Circuit Errors as tshark reads them"
    );

    // Data messages: for each cookie size and sublayer setting, UDP and IP.
    let frame: Vec<u8> = {
        let mut f = vec![0xff; 6];
        f.extend([0x02, 0, 0x5e, 0x10, 0, 1, 0x08, 0x06]);
        f.extend([0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0x5e, 0x10, 0, 1, 192, 0, 2, 1]);
        f.extend([0, 0, 0, 0, 0, 0, 192, 0, 2, 2]);
        f.resize(60, 0);
        f
    };
    let mut checked = 0;
    for cookie in [
        Cookie::None,
        Cookie::Four(*b"\x3b\x8e\xc2\x6d"),
        Cookie::Eight(*b"\x9c\x41\x0e\x77\x12\xd3\x5f\xa8"),
    ] {
        for sublayer in [true, false] {
            let mut headers = Vec::new();
            let mut frames_out = Vec::new();
            for (i, encap) in [Encapsulation::Udp, Encapsulation::Ip]
                .into_iter()
                .enumerate()
            {
                let h = DataHeader {
                    session_id: 0x0000_2002 + i as u32,
                    cookie,
                    sublayer: sublayer.then(|| {
                        if i == 0 {
                            DefaultSublayer::sequenced(0x00ab_cdef)
                        } else {
                            DefaultSublayer::unsequenced()
                        }
                    }),
                };
                let mut buf = BytesMut::with_capacity(MAX_DATA_HEADER_LEN + frame.len());
                buf.resize(MAX_DATA_HEADER_LEN, 0);
                buf.extend_from_slice(&frame);
                data::encapsulate(&mut buf, MAX_DATA_HEADER_LEN, &h, encap).unwrap();
                frames_out.push(frames::build_frame(encap, A, B, &buf));
                headers.push(h);
            }
            let name = format!(
                "data-cookie{}-{}.pcap",
                cookie.len(),
                if sublayer { "default" } else { "none" }
            );
            let pcap = dir.join(name);
            frames::write_pcap(&pcap, &frames_out).unwrap();
            let prefs = vec![
                // Enumerated preference: the names `tshark -G defaultprefs` lists.
                format!(
                    "l2tp.cookie_size:{}",
                    match cookie.len() {
                        0 => "None",
                        4 => "4 Byte Cookie",
                        _ => "8 Byte Cookie",
                    }
                ),
                format!(
                    "l2tp.l2_specific:{}",
                    if sublayer {
                        "Default L2-Specific"
                    } else {
                        "None"
                    }
                ),
            ];
            assert_clean(&pcap, &prefs);
            let names = [
                "l2tp.sid",
                "l2tp.cookie",
                "l2tp.l2_spec_s",
                "l2tp.l2_spec_sequence",
                "eth.type",
                "data.data",
            ];
            let got = fields(&pcap, &prefs, &names);
            assert_eq!(got.len(), headers.len());
            for (g, h) in got.iter().zip(&headers) {
                let mut want: BTreeMap<String, Vec<String>> =
                    names.iter().map(|n| (n.to_string(), vec![])).collect();
                want.get_mut("l2tp.sid")
                    .unwrap()
                    .push(h.session_id.to_string());
                if !h.cookie.is_empty() {
                    want.get_mut("l2tp.cookie")
                        .unwrap()
                        .push(hex::encode(h.cookie.as_bytes()));
                }
                if let Some(s) = h.sublayer {
                    want.get_mut("l2tp.l2_spec_s")
                        .unwrap()
                        .push(u8::from(s.sequenced).to_string());
                    want.get_mut("l2tp.l2_spec_sequence")
                        .unwrap()
                        .push(s.sequence.to_string());
                }
                // The outer Ethernet type, and the tunnelled frame as undissected data
                // (tshark learns the pseudowire type only from a session's ICRQ), which
                // shows that tshark found the payload where we put it.
                want.get_mut("eth.type").unwrap().push("2048".into());
                want.get_mut("data.data").unwrap().push(hex::encode(&frame));
                assert_eq!(g, &want, "{name:?}", name = pcap.display());
                checked += 1;
            }
        }
    }
    eprintln!(
        "tshark agreed on {} control messages and {checked} data messages ({})",
        ctl.len(),
        dir.display()
    );
    if std::env::var_os("L2TPV3_TSHARK_DIR").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
