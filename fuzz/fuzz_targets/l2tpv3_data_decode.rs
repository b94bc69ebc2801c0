//! Data header decoding (RFC 3931 4.1.1.1, 4.1.2.1, 4.6) for every session
//! configuration: never panics; whatever decodes re-encodes to the same header bytes,
//! and in-place encapsulation of the decoded payload gives back the same packet.
#![no_main]

use bytes::BytesMut;
use l2tpv3::data::{self, CookieLen, MAX_DATA_HEADER_LEN, SublayerKind};
use l2tpv3::{DataPacket, Encapsulation, Packet, SessionConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&sel, data)) = input.split_first() else {
        return;
    };
    let config = SessionConfig {
        encapsulation: if sel & 1 == 0 {
            Encapsulation::Udp
        } else {
            Encapsulation::Ip
        },
        cookie_len: [CookieLen::Zero, CookieLen::Four, CookieLen::Eight][usize::from(sel >> 1) % 3],
        sublayer: if sel & 0x80 == 0 {
            SublayerKind::None
        } else {
            SublayerKind::Default
        },
    };
    let _ = Packet::decode(data, &config);
    let Ok(pkt) = DataPacket::parse(data, &config) else {
        return;
    };
    let hlen = pkt.header.len(config.encapsulation);
    assert_eq!(hlen + pkt.payload.len(), data.len());

    let mut buf = BytesMut::with_capacity(MAX_DATA_HEADER_LEN + pkt.payload.len());
    buf.resize(MAX_DATA_HEADER_LEN, 0);
    buf.extend_from_slice(pkt.payload);
    data::encapsulate(
        &mut buf,
        MAX_DATA_HEADER_LEN,
        &pkt.header,
        config.encapsulation,
    )
    .expect("headroom suffices");
    let again = DataPacket::parse(&buf, &config).expect("re-encoded packet decodes");
    assert_eq!(again, pkt);
    let h = data::decapsulate(&mut buf, &config).expect("decapsulates");
    assert_eq!(h, pkt.header);
    assert_eq!(&buf[..], pkt.payload);
});
