//! Write ESP packets produced by this crate, for every suite, into a pcap file plus
//! the matching Wireshark `esp_sa` table, so tshark can decrypt and check them.
//!
//! ```text
//! cargo run -p ipsec-lite --example esp_pcap -- OUTDIR
//! ```
//!
//! Writes `OUTDIR/esp.pcap`, `OUTDIR/esp_sa` and `OUTDIR/expected.txt` (one line per
//! packet: SPI, suite and whether it is UDP-encapsulated). Each packet carries an
//! L2TPv3 data message (UDP port 1701, session 1, default L2-specific sublayer) with
//! an Ethernet ARP request inside, in transport mode; for each suite a second packet
//! goes through RFC 3948 UDP encapsulation on port 4500.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use etherparse::{EtherType, Ethernet2Header, IpNumber, Ipv4Header, UdpHeader};
use ipsec_lite::natt;
use ipsec_lite::{Backend, Suite};
use ipsec_lite::{Direction, SaParams, SecurityAssociation};
use pcap_file::pcap::{PcapPacket, PcapWriter};

/// Wireshark 4.x `esp_sa` names of a suite; `None` where tshark has no decoder.
fn wireshark_names(suite: Suite) -> Option<(&'static str, &'static str)> {
    Some(match suite {
        Suite::AesGcm128 | Suite::AesGcm256 => ("AES-GCM with 16 octet ICV [RFC4106]", "NULL"),
        Suite::AesCbc128HmacSha1 | Suite::AesCbc256HmacSha1 => {
            ("AES-CBC [RFC3602]", "HMAC-SHA-1-96 [RFC2404]")
        }
        Suite::AesCbc128HmacSha256 | Suite::AesCbc256HmacSha256 => {
            ("AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]")
        }
        // ChaCha20-Poly1305 and any suite added later: no tshark decoder to name.
        _ => return None,
    })
}

/// Ethernet + IPv4 (identification 1, don't fragment, TTL 64) around `l4` (protocol
/// `proto`), written by `etherparse`.
fn frame(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let eth = Ethernet2Header {
        source: [0x02, 0, 0, 0, 0, 1],
        destination: [0x02, 0, 0, 0, 0, 2],
        ether_type: EtherType::IPV4,
    };
    let len = u16::try_from(l4.len()).expect("payload fits an IPv4 packet");
    let mut ip = Ipv4Header::new(len, 64, IpNumber(proto), src.octets(), dst.octets())
        .expect("payload fits an IPv4 packet");
    ip.identification = 1;
    let mut f = Vec::with_capacity(Ethernet2Header::LEN + ip.header_len() + l4.len());
    f.extend(eth.to_bytes());
    ip.write(&mut f).expect("writing to a Vec");
    f.extend(l4);
    f
}

/// UDP/1701 carrying an L2TPv3 data message with an ARP request inside, followed by
/// `extra` bytes of Ethernet trailer (so payload lengths, and so padding, vary).
fn l2tp_udp(n: u8, extra: usize) -> Vec<u8> {
    // Flags and version 3, reserved, session ID 1, L2-specific sublayer (RFC 3931 4.1.2.2).
    let mut l2tp = vec![0, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    // Inner Ethernet: broadcast ARP request.
    l2tp.extend([0xff; 6]);
    l2tp.extend([0x02, 0, 0, 0, 0x10, n]);
    l2tp.extend([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    l2tp.extend([0x02, 0, 0, 0, 0x10, n, 10, 0, 0, 1]);
    l2tp.extend([0; 6]);
    l2tp.extend([10, 0, 0, 2]);
    l2tp.extend(vec![0u8; extra]);
    let udp = UdpHeader {
        source_port: 1701,
        destination_port: 1701,
        length: (UdpHeader::LEN + l2tp.len()) as u16,
        checksum: 0,
    };
    let mut datagram = udp.to_bytes().to_vec();
    datagram.extend(l2tp);
    datagram
}

/// Write ESP test packets for every suite tshark can decrypt, with their SA table.
#[derive(clap::Parser)]
struct Args {
    /// Directory for esp.pcap, esp_sa and expected.txt (created if missing).
    #[arg(value_name = "OUTDIR")]
    out: String,
}

fn main() {
    let Args { out } = clap::Parser::parse();
    std::fs::create_dir_all(&out).unwrap();
    let now = Instant::now();
    let mut pcap =
        PcapWriter::new(std::fs::File::create(format!("{out}/esp.pcap")).unwrap()).unwrap();
    let mut sa_table = String::new();
    let mut expected = String::new();
    let mut t = 0u64;
    for (i, suite) in Suite::ALL.into_iter().enumerate() {
        let Some((enc_name, auth_name)) = wireshark_names(suite) else {
            continue;
        };
        let i = i as u8;
        let src = Ipv4Addr::new(192, 0, 2, 1);
        let dst = Ipv4Addr::new(192, 0, 2, 10 + i);
        let spi = 0x0001_0000 + u32::from(i);
        let enc_key: Vec<u8> = (0..suite.enc_key_len())
            .map(|k| (k as u8).wrapping_mul(7) ^ i)
            .collect();
        let auth_key: Vec<u8> = (0..suite.auth_key_len())
            .map(|k| (k as u8).wrapping_mul(13) ^ i)
            .collect();
        let params = SaParams::new(
            spi,
            Direction::Outbound,
            suite,
            enc_key.clone(),
            auth_key.clone(),
        );
        let mut sa = SecurityAssociation::new(now, &params, Backend::default()).unwrap();
        writeln!(
            sa_table,
            "\"IPv4\",\"{src}\",\"{dst}\",\"{spi:#010x}\",\"{enc_name}\",\"0x{}\",\"{auth_name}\",\"0x{}\"",
            hex::encode(&enc_key),
            hex::encode(&auth_key)
        )
        .unwrap();
        for natt_encap in [false, true] {
            let payload = l2tp_udp(i, usize::from(i) * 3 + usize::from(natt_encap) * 5);
            let head = natt::UDP_HEADER_LEN + sa.headroom();
            let mut buf = vec![0u8; head + payload.len() + sa.tailroom(payload.len())];
            buf[head..head + payload.len()].copy_from_slice(&payload);
            let esp = sa
                .seal(now, &mut buf, head..head + payload.len(), 17)
                .unwrap()
                .to_vec();
            let f = if natt_encap {
                let mut udp = vec![0u8; natt::UDP_HEADER_LEN];
                natt::emit_udp_header(&mut udp, natt::NATT_PORT, natt::NATT_PORT, esp.len())
                    .unwrap();
                udp.extend(&esp);
                frame(src, dst, 17, &udp)
            } else {
                frame(src, dst, 50, &esp)
            };
            t += 1;
            pcap.write_packet(&PcapPacket::new(
                Duration::from_millis(t),
                f.len() as u32,
                &f,
            ))
            .unwrap();
            writeln!(expected, "{spi:#010x} {suite} natt={natt_encap}").unwrap();
        }
    }
    // A NAT keepalive too: tshark must show it as such, not as malformed ESP.
    let mut udp = vec![0u8; natt::UDP_HEADER_LEN];
    natt::emit_udp_header(&mut udp, natt::NATT_PORT, natt::NATT_PORT, 1).unwrap();
    udp.extend(natt::KEEPALIVE);
    let f = frame(
        Ipv4Addr::new(192, 0, 2, 1),
        Ipv4Addr::new(192, 0, 2, 10),
        17,
        &udp,
    );
    pcap.write_packet(&PcapPacket::new(
        Duration::from_millis(t + 1),
        f.len() as u32,
        &f,
    ))
    .unwrap();
    std::fs::File::create(format!("{out}/esp_sa"))
        .unwrap()
        .write_all(sa_table.as_bytes())
        .unwrap();
    std::fs::write(format!("{out}/expected.txt"), expected).unwrap();
    println!("wrote {out}/esp.pcap, {out}/esp_sa, {out}/expected.txt");
}
