//! Every OSPFv3 packet of the reference captures (FRRouting and BIRD, Cisco IOS,
//! Linux routers, PacketGen) must decode, every LSA checksum and every packet
//! checksum must verify, and re-encoding must give back the original bytes.

mod common;

use std::path::PathBuf;

use common::capture::read_ospf_frames;
use ospfv3::checksum::verify_packet_checksum;
use ospfv3::lsa::ChecksumMode;
use ospfv3::{Datagram, Lsa, PacketBody, lsu};

fn captures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures/ospfv3")
}

#[test]
fn every_capture_decodes_verifies_and_reencodes() {
    let dir = captures_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("SKIP: capture folder {} is missing", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no capture files in {}", dir.display());
    let (mut packets, mut lsas, mut headers) = (0usize, 0usize, 0usize);
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let frames = read_ospf_frames(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!frames.is_empty(), "{name}: no OSPFv3 packets found");
        for f in &frames {
            let ctx = format!("{name} frame {}", f.frame);
            let d = Datagram::decode(&f.payload).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            if d.trailer.is_none() {
                assert!(
                    verify_packet_checksum(&f.src, &f.dst, &f.payload),
                    "{ctx}: packet checksum does not verify"
                );
            }
            assert_eq!(d.to_bytes(), f.payload, "{ctx}: re-encoding differs");
            match &d.packet.body {
                PacketBody::LinkStateUpdate(u) => {
                    for l in &u.lsas {
                        let bytes = l.to_bytes(ChecksumMode::Keep);
                        assert!(ospfv3::checksum::verify_lsa_checksum(&bytes), "{ctx}");
                        // Computing the checksum afresh gives the one received.
                        assert_eq!(l.to_bytes(ChecksumMode::Compute), bytes, "{ctx}");
                        assert_eq!(&Lsa::decode(&bytes).unwrap(), l, "{ctx}");
                        lsas += 1;
                    }
                    // The raw path sees the same LSAs, byte for byte.
                    let raw: Vec<_> = lsu::raw_lsas(&f.payload)
                        .unwrap()
                        .collect::<Result<_, _>>()
                        .unwrap();
                    assert_eq!(raw.len(), u.lsas.len());
                    for (r, l) in raw.iter().zip(&u.lsas) {
                        assert!(r.checksum_ok());
                        assert_eq!(r.header, l.header);
                        assert_eq!(r.bytes, &l.to_bytes(ChecksumMode::Keep)[..]);
                    }
                }
                PacketBody::DatabaseDescription(dd) => headers += dd.lsa_headers.len(),
                PacketBody::LinkStateAck(ack) => headers += ack.lsa_headers.len(),
                _ => {}
            }
            packets += 1;
        }
    }
    eprintln!(
        "{} capture files: {packets} packets, {lsas} LSAs, {headers} LSA headers checked",
        files.len()
    );
}
