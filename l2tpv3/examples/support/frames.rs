//! Link, IP and UDP layers around L2TPv3, for the examples and tests only: reading
//! pcap/pcapng files (with the `pcap-file` crate), finding the L2TPv3 payload in a
//! frame (link, IP and UDP layers parsed by `etherparse`), and building
//! Ethernet/IPv4/UDP frames to write test captures.
//!
//! Shared by `examples/decode_pcap.rs`, `examples/tshark_pcap.rs` and
//! `tests/captures.rs` through `#[path]`, so not every item is used by each.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use etherparse::{
    EtherType, Ethernet2Header, IpNumber, Ipv4Header, NetSlice, SlicedPacket, TransportSlice,
    UdpHeader,
};
use l2tpv3::header::{Encapsulation, IP_PROTOCOL, UDP_PORT};
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgReader};

/// One captured frame.
pub struct Frame {
    /// 1-based frame number, as Wireshark counts.
    pub number: u64,
    /// Link-layer type of the interface it was captured on.
    pub link: DataLink,
    /// The captured bytes.
    pub data: Vec<u8>,
}

/// Calls `f` for every frame of a pcap or pcapng file.
pub fn for_each_frame(
    path: &Path,
    mut f: impl FnMut(Frame),
) -> Result<(), Box<dyn std::error::Error>> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    let mut number = 0;
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut reader = PcapNgReader::new(BufReader::new(file))?;
        while let Some(block) = reader.next_block() {
            let (iface, data) = match block? {
                Block::EnhancedPacket(epb) => (epb.interface_id as usize, epb.data.into_owned()),
                Block::SimplePacket(spb) => (0, spb.data.into_owned()),
                Block::Packet(pb) => (usize::from(pb.interface_id), pb.data.into_owned()),
                _ => continue,
            };
            number += 1;
            let link = reader
                .interfaces()
                .get(iface)
                .map_or(DataLink::ETHERNET, |i| i.linktype);
            f(Frame { number, link, data });
        }
    } else {
        let mut reader = PcapReader::new(BufReader::new(file))?;
        let link = reader.header().datalink;
        while let Some(pkt) = reader.next_packet() {
            number += 1;
            f(Frame {
                number,
                link,
                data: pkt?.data.into_owned(),
            });
        }
    }
    Ok(())
}

/// Where an L2TPv3 packet was found in a frame.
pub struct L2tpInFrame<'a> {
    /// Over UDP (port 1701) or directly over IP (protocol 115).
    pub encapsulation: Encapsulation,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The UDP payload or IP payload: the L2TPv3 packet.
    pub payload: &'a [u8],
}

/// Slices a frame of the given link type with `etherparse`: Ethernet (VLAN tags
/// included), Linux cooked v1 and v2, raw IP. `None` for other link types and for
/// frames etherparse rejects.
pub fn slice_frame(link: DataLink, frame: &[u8]) -> Option<SlicedPacket<'_>> {
    match link {
        DataLink::ETHERNET => SlicedPacket::from_ethernet(frame).ok(),
        DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(frame).ok(),
        // SLL2 (not in etherparse): protocol type first, then a 20-byte header.
        DataLink::LINUX_SLL2 => {
            let ether_type = EtherType(u16::from_be_bytes(frame.get(..2)?.try_into().ok()?));
            SlicedPacket::from_ether_type(ether_type, frame.get(20..)?).ok()
        }
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(frame).ok(),
        _ => None,
    }
}

/// Finds an L2TPv3 packet in a frame of the given link type (see [`slice_frame`]),
/// over IPv4 or IPv6; fragments are not reassembled.
pub fn l2tp_in_frame(link: DataLink, frame: &[u8]) -> Option<L2tpInFrame<'_>> {
    let packet = slice_frame(link, frame)?;
    let (src, dst, ip_payload) = match packet.net.as_ref()? {
        NetSlice::Ipv4(ip) => (
            IpAddr::from(ip.header().source_addr()),
            IpAddr::from(ip.header().destination_addr()),
            ip.payload(),
        ),
        NetSlice::Ipv6(ip) => (
            IpAddr::from(ip.header().source_addr()),
            IpAddr::from(ip.header().destination_addr()),
            ip.payload(),
        ),
        NetSlice::Arp(_) => return None,
    };
    if ip_payload.fragmented {
        return None;
    }
    match (&packet.transport, ip_payload.ip_number) {
        (Some(TransportSlice::Udp(udp)), _) => {
            if udp.source_port() != UDP_PORT && udp.destination_port() != UDP_PORT {
                return None;
            }
            Some(L2tpInFrame {
                encapsulation: Encapsulation::Udp,
                src,
                dst,
                payload: udp.payload(),
            })
        }
        (_, IpNumber(p)) if p == IP_PROTOCOL => Some(L2tpInFrame {
            encapsulation: Encapsulation::Ip,
            src,
            dst,
            payload: ip_payload.payload,
        }),
        _ => None,
    }
}

/// Builds an Ethernet + IPv4 frame (identification 1, don't fragment, TTL 64)
/// carrying `payload` as L2TPv3 over UDP (1701 to 1701, checksum 0) or directly over
/// IP protocol 115; the headers are written by `etherparse`.
pub fn build_frame(encap: Encapsulation, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let mut l4 = Vec::with_capacity(payload.len() + UdpHeader::LEN);
    let proto = match encap {
        Encapsulation::Udp => {
            let udp = UdpHeader {
                source_port: UDP_PORT,
                destination_port: UDP_PORT,
                length: (UdpHeader::LEN + payload.len()) as u16,
                checksum: 0,
            };
            l4.extend(udp.to_bytes());
            IpNumber::UDP
        }
        Encapsulation::Ip => IpNumber(IP_PROTOCOL),
    };
    l4.extend_from_slice(payload);
    let eth = Ethernet2Header {
        source: [0x02, 0, 0, 0, 0, 0x01],
        destination: [0x02, 0, 0, 0, 0, 0x02],
        ether_type: EtherType::IPV4,
    };
    let mut ip = Ipv4Header::new(l4.len() as u16, 64, proto, src.octets(), dst.octets())
        .expect("payload fits an IPv4 packet");
    ip.identification = 1;
    let mut frame = Vec::with_capacity(Ethernet2Header::LEN + ip.header_len() + l4.len());
    frame.extend(eth.to_bytes());
    ip.write(&mut frame).expect("writing to a Vec");
    frame.extend(l4);
    frame
}

/// Writes Ethernet frames to a pcap file, one millisecond apart.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) -> Result<(), Box<dyn std::error::Error>> {
    let file = File::create(path)?;
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(file, header)?;
    for (i, f) in frames.iter().enumerate() {
        let ts = Duration::from_millis(1_700_000_000_000 + i as u64);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))?;
    }
    Ok(())
}
