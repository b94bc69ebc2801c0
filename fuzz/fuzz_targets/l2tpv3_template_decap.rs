//! `HeaderTemplate::decapsulate` (the per-session receive check of the data path)
//! against the generic decoder: for any template (UDP or IP, any non-zero Session
//! ID, no, 4- or 8-byte cookie, with or without the Default sublayer) and any
//! bytes, it never panics, and it accepts a packet exactly when the generic
//! decoder (`DataPacket::parse`) decodes it with the template's Session ID and
//! cookie, with the same sublayer and payload. Packets the template itself wrote
//! (then mutated) reach the accepting side; raw bytes the refusing one.
#![no_main]

use arbitrary::Arbitrary;
use l2tpv3::Encapsulation;
use l2tpv3::data::{
    Cookie, DataPacket, DefaultSublayer, HeaderTemplate, MAX_DATA_HEADER_LEN, SublayerKind,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    ip: bool,
    session_id: u32,
    cookie: u8,
    cookie_bytes: [u8; 8],
    sublayer: bool,
    /// Sequence number written by the template (masked to 24 bits), or none.
    sequence: Option<u32>,
    payload_len: u16,
    edits: Vec<(u16, u8)>,
    cut: Option<u8>,
    raw: Vec<u8>,
}

fn check(template: &HeaderTemplate, bytes: &[u8]) {
    let got = template.decapsulate(bytes);
    let config = template.config();
    let generic = DataPacket::parse(bytes, &config).ok().filter(|p| {
        p.header.session_id == template.header(DefaultSublayer::unsequenced()).session_id
            && p.header.cookie == template.header(DefaultSublayer::unsequenced()).cookie
    });
    match (got, generic) {
        (Ok(d), Some(p)) => {
            assert_eq!(d.sublayer, p.header.sublayer);
            assert_eq!(d.payload.start, template.len());
            assert_eq!(d.payload.end, bytes.len());
            assert_eq!(&bytes[d.payload], p.payload);
        }
        (Err(_), None) => {}
        (got, generic) => panic!("template says {got:?}, generic decoder {generic:?}"),
    }
}

fuzz_target!(|input: Input| {
    let encapsulation = if input.ip {
        Encapsulation::Ip
    } else {
        Encapsulation::Udp
    };
    let cookie = match input.cookie % 3 {
        0 => Cookie::None,
        1 => Cookie::Four(input.cookie_bytes[..4].try_into().expect("4 bytes")),
        _ => Cookie::Eight(input.cookie_bytes),
    };
    let kind = if input.sublayer {
        SublayerKind::Default
    } else {
        SublayerKind::None
    };
    let Some(template) = HeaderTemplate::new(encapsulation, input.session_id, cookie, kind) else {
        assert_eq!(input.session_id, 0);
        return;
    };
    check(&template, &input.raw);
    // A packet the template wrote, then mutated and perhaps cut short.
    let sublayer = match input.sequence {
        Some(s) => DefaultSublayer::sequenced(s & DefaultSublayer::MAX_SEQUENCE),
        None => DefaultSublayer::unsequenced(),
    };
    let payload = usize::from(input.payload_len % 2048);
    let mut buf = vec![0xab; MAX_DATA_HEADER_LEN + payload];
    let start = template
        .encapsulate(&mut buf, MAX_DATA_HEADER_LEN, sublayer)
        .expect("headroom suffices");
    let mut packet = buf[start..].to_vec();
    // Unmutated, it passes.
    let clean = template.decapsulate(&packet).expect("own packet accepted");
    assert_eq!(clean.payload, template.len()..packet.len());
    if input.sublayer {
        assert_eq!(clean.sublayer, Some(sublayer));
    }
    for (at, v) in input.edits.iter().take(8) {
        if !packet.is_empty() {
            let i = usize::from(*at) % packet.len();
            packet[i] = *v;
        }
    }
    if let Some(cut) = input.cut {
        packet.truncate(usize::from(cut) % (packet.len() + 1));
    }
    check(&template, &packet);
});
