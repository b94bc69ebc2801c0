//! A realistic L2TPv3 exchange between two LCCEs setting up an Ethernet pseudowire,
//! encoded, decoded back, validated and printed (hex and fields).
//!
//! Run: `cargo run -p l2tpv3 --example demo`

use bytes::BytesMut;
use l2tpv3::avp::{
    Avp, AvpValue, CircuitStatus, DataSequencing, L2SublayerType, PwType, ResultCode,
};
use l2tpv3::data::{self, Cookie, DataHeader, DefaultSublayer, MAX_DATA_HEADER_LEN};
use l2tpv3::header::{ControlHeader, Encapsulation};
use l2tpv3::message::{ControlMessage, MessageType};
use l2tpv3::validate::validate;

const CCID_A: u32 = 0x5a17_0001;
const CCID_B: u32 = 0x7b2e_0002;
const SESSION_A: u32 = 0x0000_1001;
const SESSION_B: u32 = 0x0000_2002;
const COOKIE_A: [u8; 8] = [0x9c, 0x41, 0x0e, 0x77, 0x12, 0xd3, 0x5f, 0xa8];
const COOKIE_B: [u8; 4] = [0x3b, 0x8e, 0xc2, 0x6d];

fn hdr(ccid: u32, ns: u16, nr: u16) -> ControlHeader {
    ControlHeader { ccid, ns, nr }
}

fn a(v: AvpValue) -> Avp {
    Avp::new(v)
}

fn exchange() -> Vec<(&'static str, ControlMessage)> {
    use AvpValue as V;
    let pw_caps = V::PseudowireCapabilities(vec![PwType::ETHERNET, PwType::ETHERNET_VLAN]);
    vec![
        (
            "A -> B",
            ControlMessage::new(
                hdr(0, 0, 0),
                MessageType::Sccrq,
                vec![
                    a(V::HostName(b"lcce-a.tokyo.example.net".to_vec())),
                    a(V::VendorName(b"anycast-ha".to_vec())),
                    a(V::RouterId(0x0a00_0001)),
                    a(V::AssignedControlConnectionId(CCID_A)),
                    a(pw_caps.clone()),
                    a(V::ReceiveWindowSize(16)),
                    a(V::TieBreaker(0x1f2e_3d4c_5b6a_7988)),
                    a(V::PreferredLanguage(b"en".to_vec())),
                ],
            ),
        ),
        (
            "B -> A",
            ControlMessage::new(
                hdr(CCID_A, 0, 1),
                MessageType::Sccrp,
                vec![
                    a(V::HostName(b"lcce-b.osaka.example.net".to_vec())),
                    a(V::VendorName(b"anycast-ha".to_vec())),
                    a(V::RouterId(0x0a00_0002)),
                    a(V::AssignedControlConnectionId(CCID_B)),
                    a(pw_caps),
                    a(V::ReceiveWindowSize(16)),
                ],
            ),
        ),
        (
            "A -> B",
            ControlMessage::new(hdr(CCID_B, 1, 1), MessageType::Scccn, vec![]),
        ),
        (
            "A -> B",
            ControlMessage::new(
                hdr(CCID_B, 2, 1),
                MessageType::Icrq,
                vec![
                    a(V::LocalSessionId(SESSION_A)),
                    a(V::RemoteSessionId(0)),
                    a(V::SerialNumber(1)),
                    a(V::PseudowireType(PwType::ETHERNET)),
                    a(V::RemoteEndId(b"pw-anycast-1".to_vec())),
                    a(V::CircuitStatus(CircuitStatus {
                        active: true,
                        new: true,
                    })),
                    a(V::AssignedCookie(Cookie::Eight(COOKIE_A))),
                    a(V::L2SpecificSublayer(L2SublayerType::DEFAULT)),
                    a(V::DataSequencing(DataSequencing::NONE)),
                ],
            ),
        ),
        (
            "B -> A",
            ControlMessage::new(
                hdr(CCID_A, 1, 3),
                MessageType::Icrp,
                vec![
                    a(V::LocalSessionId(SESSION_B)),
                    a(V::RemoteSessionId(SESSION_A)),
                    a(V::CircuitStatus(CircuitStatus {
                        active: true,
                        new: true,
                    })),
                    a(V::AssignedCookie(Cookie::Four(COOKIE_B))),
                    a(V::L2SpecificSublayer(L2SublayerType::DEFAULT)),
                    a(V::DataSequencing(DataSequencing::NONE)),
                ],
            ),
        ),
        (
            "A -> B",
            ControlMessage::new(
                hdr(CCID_B, 3, 2),
                MessageType::Iccn,
                vec![
                    a(V::LocalSessionId(SESSION_A)),
                    a(V::RemoteSessionId(SESSION_B)),
                    a(V::TxConnectSpeed(10_000_000_000)),
                    a(V::RxConnectSpeed(10_000_000_000)),
                ],
            ),
        ),
        ("B -> A", ControlMessage::zlb(hdr(CCID_A, 2, 4))),
        (
            "A -> B",
            ControlMessage::new(hdr(CCID_B, 4, 2), MessageType::Hello, vec![]),
        ),
        ("B -> A", ControlMessage::zlb(hdr(CCID_A, 2, 5))),
        (
            "B -> A",
            ControlMessage::new(
                hdr(CCID_A, 2, 5),
                MessageType::Cdn,
                vec![
                    a(V::ResultCode(ResultCode::with_error(
                        3,
                        0,
                        "administratively shut down",
                    ))),
                    a(V::LocalSessionId(SESSION_B)),
                    a(V::RemoteSessionId(SESSION_A)),
                ],
            ),
        ),
        (
            "A -> B",
            ControlMessage::new(
                hdr(CCID_B, 5, 3),
                MessageType::StopCcn,
                vec![
                    a(V::ResultCode(ResultCode::new(1))),
                    a(V::AssignedControlConnectionId(CCID_A)),
                ],
            ),
        ),
    ]
}

/// `bytes` as hex digit pairs (`hex` crate) joined by `sep`.
fn hex_joined(bytes: &[u8], sep: &str) -> String {
    let hex = hex::encode(bytes);
    let pairs: Vec<&str> = (0..hex.len()).step_by(2).map(|j| &hex[j..j + 2]).collect();
    pairs.join(sep)
}

fn hexdump(bytes: &[u8]) {
    for (i, chunk) in bytes.chunks(16).enumerate() {
        println!("    {:04x}  {}", i * 16, hex_joined(chunk, " "));
    }
}

/// An ARP request from 192.0.2.1 for 192.0.2.2, padded to the 60-byte minimum.
fn ethernet_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend([0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]);
    f.extend([0x08, 0x06]); // ARP
    f.extend([0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
    f.extend([0x02, 0x00, 0x5e, 0x10, 0x00, 0x01, 192, 0, 2, 1]);
    f.extend([0, 0, 0, 0, 0, 0, 192, 0, 2, 2]);
    f.resize(60, 0);
    f
}

fn main() {
    let encap = Encapsulation::Udp;
    println!("L2TPv3 over UDP port 1701: control connection, Ethernet pseudowire, teardown\n");
    for (dir, msg) in exchange() {
        let bytes = msg.to_vec(encap).expect("encodes");
        let back = ControlMessage::decode(&bytes, encap).expect("decodes");
        assert_eq!(back, msg, "round trip");
        let check = match validate(&back) {
            Ok(()) => "valid".to_string(),
            Err(e) => format!("INVALID: {e}"),
        };
        println!("{dir}  {} bytes, {check}", bytes.len());
        hexdump(&bytes);
        print!("  {back}");
        println!();
    }

    // A -> B data: B chose session ID SESSION_B, a 4-byte cookie and the default
    // sublayer, so A sends with those.
    let frame = ethernet_frame();
    let header = DataHeader {
        session_id: SESSION_B,
        cookie: Cookie::Four(COOKIE_B),
        sublayer: Some(DefaultSublayer::unsequenced()),
    };
    let mut buf = BytesMut::with_capacity(MAX_DATA_HEADER_LEN + frame.len());
    buf.resize(MAX_DATA_HEADER_LEN, 0);
    buf.extend_from_slice(&frame);
    data::encapsulate(&mut buf, MAX_DATA_HEADER_LEN, &header, encap).expect("headroom");
    println!(
        "A -> B  data message, {} bytes ({}-byte header + {}-byte Ethernet frame)",
        buf.len(),
        header.len(encap),
        frame.len()
    );
    hexdump(&buf);
    let got = data::decapsulate(&mut buf, &header.config(encap)).expect("decodes");
    assert_eq!(got, header);
    assert_eq!(&buf[..], &frame[..]);
    println!(
        "  {got}\n  payload: Ethernet dst {} src {} type {:#06x}",
        mac(&buf[0..6]),
        mac(&buf[6..12]),
        u16::from_be_bytes([buf[12], buf[13]])
    );
}

fn mac(b: &[u8]) -> String {
    hex_joined(b, ":")
}
