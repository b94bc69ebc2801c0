//! Linux XFRM captures (`../shared/captures/esp/`, keys in that folder's README) must
//! open through the SA database configured in `ip xfrm state` syntax, and the
//! plaintext must be well-formed (checksums of the inner headers verify).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

use etherparse::{IpNumber, NetSlice, SlicedPacket};
use ipsec_lite::Backend;
use ipsec_lite::config;
use ipsec_lite::{Mode, OuterAddrs, Sad};

fn dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures/esp");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("SKIP: {} not present", d.display());
        None
    }
}

/// (src, dst, ESP bytes) of every IPv4 ESP packet in an Ethernet pcap; the link and
/// IP layers are parsed by `etherparse`.
fn esp_packets(path: &PathBuf) -> Vec<(IpAddr, IpAddr, Vec<u8>)> {
    let f = std::fs::File::open(path).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(f).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        let Ok(SlicedPacket {
            net: Some(NetSlice::Ipv4(ip)),
            ..
        }) = SlicedPacket::from_ethernet(&p.data)
        else {
            continue;
        };
        let payload = ip.payload();
        if payload.ip_number != IpNumber::ENCAPSULATING_SECURITY_PAYLOAD || payload.fragmented {
            continue;
        }
        let (src, dst) = (ip.header().source_addr(), ip.header().destination_addr());
        out.push((src.into(), dst.into(), payload.payload.to_vec()));
    }
    out
}

fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn sads(mode: &str, backend: Backend, now: Instant) -> (Sad, Sad) {
    let text = format!(
        "src 192.168.1.1 dst 192.168.1.2 proto esp spi 0x00000101 dir in mode {mode} \
           aead 'rfc4106(gcm(aes))' 0x9876543210987654321098765432109876543210 128\n\
         src 192.168.1.2 dst 192.168.1.1 proto esp spi 0x00000100 dir in mode {mode} \
           aead 'rfc4106(gcm(aes))' 0x0123456789012345678901234567890123456789 128\n"
    );
    let cfgs = config::parse(&text).unwrap();
    let mut at_2 = Sad::default();
    let mut at_1 = Sad::default();
    at_2.add(cfgs[0].build(now, backend).unwrap(), cfgs[0].policy)
        .unwrap();
    at_1.add(cfgs[1].build(now, backend).unwrap(), cfgs[1].policy)
        .unwrap();
    (at_1, at_2)
}

/// What one packet delivered: Next Header, sequence number, mode and payload.
type Opened = (u8, u64, Mode, Vec<u8>);

/// Opens every packet of a capture through the SAD of its destination, and checks
/// that replaying each one right after is refused.
fn open_all(pkts: &[(IpAddr, IpAddr, Vec<u8>)], mode: &str, backend: Backend) -> Vec<Opened> {
    let now = Instant::now();
    let (mut at_1, mut at_2) = sads(mode, backend, now);
    let mut out = Vec::new();
    for (src, dst, esp) in pkts {
        let sad = if dst.to_string() == "192.168.1.2" {
            &mut at_2
        } else {
            &mut at_1
        };
        let outer = OuterAddrs {
            src: *src,
            dst: *dst,
        };
        let mut buf = esp.clone();
        let got = sad
            .open(now, outer, &mut buf)
            .unwrap_or_else(|e| panic!("{}: {e}", backend.name()));
        out.push((got.next_header, got.seq, got.mode, got.payload.to_vec()));
        let mut again = esp.clone();
        assert!(sad.open(now, outer, &mut again).is_err(), "replay refused");
    }
    out
}

#[test]
fn kernel_transport_ping_decrypts() {
    let Some(d) = dir() else { return };
    let pkts = esp_packets(&d.join("kernel-esp-transport-ping.pcap"));
    assert_eq!(pkts.len(), 2);
    for &backend in Backend::available() {
        for (next_header, seq, mode, payload) in open_all(&pkts, "transport", backend) {
            assert_eq!(next_header, 1);
            assert_eq!(seq, 1);
            assert_eq!(mode, Mode::Transport);
            assert_eq!(payload.len(), 64);
            assert!(payload[0] == 8 || payload[0] == 0, "ICMP echo");
            assert_eq!(csum(&payload), 0, "ICMP checksum verifies");
        }
    }
}

#[test]
fn kernel_tunnel_ping_decrypts() {
    let Some(d) = dir() else { return };
    let pkts = esp_packets(&d.join("kernel-esp-tunnel-ping.pcap"));
    assert_eq!(pkts.len(), 2);
    for &backend in Backend::available() {
        for (next_header, _, mode, inner) in open_all(&pkts, "tunnel", backend) {
            assert_eq!(next_header, 4);
            assert!(matches!(mode, Mode::Tunnel { .. }));
            assert_eq!(inner.len(), 84);
            assert_eq!(inner[0], 0x45);
            assert_eq!(csum(&inner[..20]), 0, "inner IPv4 header checksum");
            assert_eq!(inner[9], 1);
            assert_eq!(csum(&inner[20..]), 0, "inner ICMP checksum");
        }
    }
}
