//! Capture plumbing shared by the capture test, the tshark oracle test and the
//! `decode_pcap` example: reads pcap and pcapng files with the `pcap-file` crate,
//! strips the link layer (Ethernet with VLAN tags, Linux cooked v1 and v2, Frame
//! Relay with Cisco or RFC 2427 encapsulation, raw IPv6) and the IPv6 header chain
//! (hop-by-hop, routing, fragment, destination options and AH, whose length is in
//! 4-byte units, RFC 4302), and writes pcap files of Ethernet/IPv6/OSPFv3 frames.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::net::Ipv6Addr;
use std::path::Path;
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgReader};

/// IP protocol number of OSPF.
pub const NEXT_HEADER_OSPF: u8 = 89;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: [u16; 2] = [0x8100, 0x88A8];
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

/// Strips the link layer; returns the IPv6 packet, or `None` if the frame is not IPv6.
fn strip_link(link: DataLink, d: &[u8]) -> Option<&[u8]> {
    match link {
        DataLink::ETHERNET => {
            let mut at = 12;
            let mut ethertype = be16(d, at)?;
            while ETHERTYPE_VLAN.contains(&ethertype) {
                at += 4;
                ethertype = be16(d, at)?;
            }
            (ethertype == ETHERTYPE_IPV6)
                .then(|| d.get(at + 2..))
                .flatten()
        }
        DataLink::LINUX_SLL => (be16(d, 14)? == ETHERTYPE_IPV6)
            .then(|| d.get(16..))
            .flatten(),
        DataLink::LINUX_SLL2 => (be16(d, 0)? == ETHERTYPE_IPV6)
            .then(|| d.get(20..))
            .flatten(),
        DataLink::RAW | DataLink::IPV6 => (d.first()? >> 4 == 6).then_some(d),
        DataLink::FRELAY => {
            // Q.922 address: octets until one has the EA bit (0x01) set.
            let mut at = 0;
            while d.get(at)? & 0x01 == 0 {
                at += 1;
            }
            at += 1;
            if *d.get(at)? == 0x03 {
                // RFC 2427: UI control, optional pad, NLPID.
                at += 1;
                if *d.get(at)? == 0x00 {
                    at += 1;
                }
                match *d.get(at)? {
                    NLPID_IPV6 => d.get(at + 1..),
                    NLPID_SNAP if be16(d, at + 4)? == ETHERTYPE_IPV6 => d.get(at + 6..),
                    _ => None,
                }
            } else {
                // Cisco encapsulation: an Ethertype follows the address.
                (be16(d, at)? == ETHERTYPE_IPV6)
                    .then(|| d.get(at + 2..))
                    .flatten()
            }
        }
        _ => None,
    }
}

/// Walks the IPv6 header chain; returns the OSPF frame when the upper layer is 89.
fn strip_ipv6(frame: usize, ip: &[u8]) -> Option<OspfFrame> {
    if ip.len() < 40 || ip[0] >> 4 != 6 {
        return None;
    }
    let payload_len = usize::from(be16(ip, 4)?);
    let mut next = ip[6];
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?);
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).ok()?);
    let mut rest = ip.get(40..40 + payload_len)?;
    let mut ext_headers = Vec::new();
    loop {
        let len = match next {
            0 | 43 | 60 => (usize::from(*rest.get(1)?) + 1) * 8,
            44 => 8,
            51 => (usize::from(*rest.get(1)?) + 2) * 4,
            _ => break,
        };
        ext_headers.push(next);
        next = *rest.first()?;
        rest = rest.get(len..)?;
    }
    (next == NEXT_HEADER_OSPF).then(|| OspfFrame {
        frame,
        src,
        dst,
        ext_headers,
        payload: rest.to_vec(),
    })
}

/// Every OSPF-over-IPv6 packet of a pcap or pcapng file.
pub fn read_ospf_frames(path: &Path) -> Result<Vec<OspfFrame>, String> {
    Ok(read_frames(path)?
        .into_iter()
        .filter_map(|f| strip_ipv6(f.frame, strip_link(f.link, &f.data)?))
        .collect())
}

/// Wraps an OSPF payload in IPv6 (hop limit 1) and Ethernet, as a router sends it.
pub fn ethernet_frame(src: &Ipv6Addr, dst: &Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(54 + payload.len());
    let d = dst.octets();
    if d[0] == 0xff {
        f.extend_from_slice(&[0x33, 0x33, d[12], d[13], d[14], d[15]]);
    } else {
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    }
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    f.extend_from_slice(&[0x6e, 0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    f.push(NEXT_HEADER_OSPF);
    f.push(1);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&d);
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
