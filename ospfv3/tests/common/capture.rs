//! Capture plumbing shared by the capture test, the tshark oracle test and the
//! `ospfv3_decode_pcap` example: reads pcap and pcapng files with the `pcap-file`
//! crate, parses the link layer (Ethernet with VLAN tags, Linux cooked v1 and v2, raw
//! IPv6) and the IPv6 header chain (hop-by-hop, routing, fragment, destination options
//! and AH) with `etherparse` (only Frame Relay's Q.922 framing, which etherparse does
//! not know, is stripped here), and writes pcap files of Ethernet/IPv6/OSPFv3 frames.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::net::Ipv6Addr;
use std::path::Path;
use std::time::Duration;

use etherparse::{
    EtherType, Ethernet2Header, IpNumber, Ipv6ExtensionSlice, Ipv6Header, NetSlice, SlicedPacket,
};
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgReader};

/// IP protocol number of OSPF.
pub const NEXT_HEADER_OSPF: u8 = 89;
const NLPID_IPV6: u8 = 0x8E;
const NLPID_SNAP: u8 = 0x80;

/// One IPv6 packet from a capture whose upper layer is OSPF.
#[derive(Debug, Clone)]
pub struct OspfFrame {
    /// Frame number, counted from 1 as capture tools do.
    pub frame: usize,
    /// IPv6 source address.
    pub src: Ipv6Addr,
    /// IPv6 destination address.
    pub dst: Ipv6Addr,
    /// Extension headers crossed, by next-header value.
    pub ext_headers: Vec<u8>,
    /// The upper-layer payload (OSPF header onward), cut at the IPv6 payload length.
    pub payload: Vec<u8>,
}

/// A frame as stored: number, link type and bytes.
struct RawFrame {
    frame: usize,
    link: DataLink,
    data: Vec<u8>,
}

fn read_frames(path: &Path) -> Result<Vec<RawFrame>, String> {
    let mut file =
        BufReader::new(File::open(path).map_err(|e| format!("{}: {e}", path.display()))?);
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic).map_err(|e| e.to_string())?;
    let file = BufReader::new(File::open(path).map_err(|e| e.to_string())?);
    let mut frames = Vec::new();
    if magic == [0x0A, 0x0D, 0x0D, 0x0A] {
        let mut r = PcapNgReader::new(file).map_err(|e| e.to_string())?;
        let mut n = 0;
        let mut links = Vec::new();
        while let Some(block) = r.next_block() {
            let block = block.map_err(|e| e.to_string())?;
            match block {
                Block::InterfaceDescription(idb) => links.push(idb.linktype),
                Block::EnhancedPacket(epb) => {
                    n += 1;
                    let link = *links
                        .get(epb.interface_id as usize)
                        .ok_or_else(|| format!("frame {n}: unknown interface"))?;
                    frames.push(RawFrame {
                        frame: n,
                        link,
                        data: epb.data.to_vec(),
                    });
                }
                Block::SimplePacket(spb) => {
                    n += 1;
                    let link = *links.first().ok_or("no interface")?;
                    frames.push(RawFrame {
                        frame: n,
                        link,
                        data: spb.data.to_vec(),
                    });
                }
                _ => {}
            }
        }
    } else {
        let mut r = PcapReader::new(file).map_err(|e| e.to_string())?;
        let link = r.header().datalink;
        let mut n = 0;
        while let Some(p) = r.next_packet() {
            let p = p.map_err(|e| e.to_string())?;
            n += 1;
            frames.push(RawFrame {
                frame: n,
                link,
                data: p.data.to_vec(),
            });
        }
    }
    Ok(frames)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Slices a frame with `etherparse`: Ethernet (VLAN tags included), Linux cooked v1
/// and v2, raw IP, and Frame Relay, whose Q.922 framing etherparse does not know: it
/// is stripped by [`frame_relay`] and etherparse takes over at the network layer.
fn slice_frame(link: DataLink, d: &[u8]) -> Option<SlicedPacket<'_>> {
    match link {
        DataLink::ETHERNET => SlicedPacket::from_ethernet(d).ok(),
        DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(d).ok(),
        // SLL2 (not in etherparse): protocol type first, then a 20-byte header.
        DataLink::LINUX_SLL2 => {
            SlicedPacket::from_ether_type(EtherType(be16(d, 0)?), d.get(20..)?).ok()
        }
        DataLink::RAW | DataLink::IPV6 => SlicedPacket::from_ip(d).ok(),
        DataLink::FRELAY => {
            let (ether_type, rest) = frame_relay(d)?;
            SlicedPacket::from_ether_type(ether_type, rest).ok()
        }
        _ => None,
    }
}

/// The network-layer type and bytes of a Frame Relay frame: Q.922 address, then
/// RFC 2427 (UI control, optional pad, NLPID or SNAP) or Cisco (an Ethertype).
fn frame_relay(d: &[u8]) -> Option<(EtherType, &[u8])> {
    // Q.922 address: octets until one has the EA bit (0x01) set.
    let mut at = 0;
    while d.get(at)? & 0x01 == 0 {
        at += 1;
    }
    at += 1;
    if *d.get(at)? != 0x03 {
        return Some((EtherType(be16(d, at)?), d.get(at + 2..)?));
    }
    at += 1;
    if *d.get(at)? == 0x00 {
        at += 1;
    }
    match *d.get(at)? {
        NLPID_IPV6 => Some((EtherType::IPV6, d.get(at + 1..)?)),
        NLPID_SNAP => Some((EtherType(be16(d, at + 4)?), d.get(at + 6..)?)),
        _ => None,
    }
}

/// The OSPF packet in a sliced frame, with the IPv6 extension headers crossed.
fn ospf_in(frame: usize, packet: &SlicedPacket<'_>) -> Option<OspfFrame> {
    let Some(NetSlice::Ipv6(ip)) = &packet.net else {
        return None;
    };
    let payload = ip.payload();
    if payload.ip_number != IpNumber::OSPFIGP {
        return None;
    }
    let ext_headers = ip
        .extensions()
        .clone()
        .into_iter()
        .map(|e| match e {
            Ipv6ExtensionSlice::HopByHop(_) => 0,
            Ipv6ExtensionSlice::Routing(_) => 43,
            Ipv6ExtensionSlice::Fragment(_) => 44,
            Ipv6ExtensionSlice::DestinationOptions(_) => 60,
            Ipv6ExtensionSlice::Authentication(_) => 51,
        })
        .collect();
    Some(OspfFrame {
        frame,
        src: ip.header().source_addr(),
        dst: ip.header().destination_addr(),
        ext_headers,
        payload: payload.payload.to_vec(),
    })
}

/// Every OSPF-over-IPv6 packet of a pcap or pcapng file.
pub fn read_ospf_frames(path: &Path) -> Result<Vec<OspfFrame>, String> {
    Ok(read_frames(path)?
        .into_iter()
        .filter_map(|f| ospf_in(f.frame, &slice_frame(f.link, &f.data)?))
        .collect())
}

/// Wraps an OSPF payload in IPv6 (traffic class 0xe0, hop limit 1) and Ethernet, as a
/// router sends it; the headers are written by `etherparse`.
pub fn ethernet_frame(src: &Ipv6Addr, dst: &Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let d = dst.octets();
    let destination = if d[0] == 0xff {
        [0x33, 0x33, d[12], d[13], d[14], d[15]]
    } else {
        [0x02, 0, 0, 0, 0, 0x02]
    };
    let eth = Ethernet2Header {
        source: [0x02, 0, 0, 0, 0, 0x01],
        destination,
        ether_type: EtherType::IPV6,
    };
    let ip = Ipv6Header {
        traffic_class: 0xe0,
        flow_label: Default::default(),
        payload_length: payload.len() as u16,
        next_header: IpNumber::OSPFIGP,
        hop_limit: 1,
        source: src.octets(),
        destination: d,
    };
    let mut f = Vec::with_capacity(Ethernet2Header::LEN + Ipv6Header::LEN + payload.len());
    f.extend(eth.to_bytes());
    f.extend(ip.to_bytes());
    f.extend_from_slice(payload);
    f
}

/// Writes Ethernet frames into a pcap file.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) -> Result<(), String> {
    let file = File::create(path).map_err(|e| e.to_string())?;
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(file, header).map_err(|e| e.to_string())?;
    for (i, f) in frames.iter().enumerate() {
        let p = PcapPacket::new(Duration::from_millis(i as u64), f.len() as u32, f);
        w.write_packet(&p).map_err(|e| e.to_string())?;
    }
    w.into_writer().flush().map_err(|e| e.to_string())
}
