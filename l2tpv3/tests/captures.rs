//! Every L2TPv3 data packet in the Linux kernel captures in
//! `../shared/captures/l2tpv3/` (static `ip l2tp` tunnels, session ID 1, no cookie,
//! default L2-Specific Sublayer, Ethernet pseudowire) decodes with the right session
//! ID and sublayer, carries an Ethernet frame, and re-encodes to the same bytes.
//!
//! Skips with a message when the captures folder is absent.

#[path = "../examples/support/frames.rs"]
mod frames;

use std::path::PathBuf;

use l2tpv3::data::{CookieLen, SessionConfig, SublayerKind};
use l2tpv3::{Cookie, DefaultSublayer, Packet};

fn captures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures/l2tpv3")
}

#[test]
fn kernel_data_packets_decode() {
    let dir = captures_dir();
    if !dir.is_dir() {
        eprintln!("SKIP: {} not found; capture test not run", dir.display());
        return;
    }
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no captures in {}", dir.display());

    let mut total = 0;
    for path in &files {
        let mut in_file = 0;
        let mut encaps = std::collections::BTreeSet::new();
        let mut numbers = Vec::new();
        frames::for_each_frame(path, |frame| {
            let Some(l2tp) = frames::l2tp_in_frame(frame.link, &frame.data) else {
                return;
            };
            let config = SessionConfig {
                encapsulation: l2tp.encapsulation,
                cookie_len: CookieLen::Zero,
                sublayer: SublayerKind::Default,
            };
            let pkt = Packet::decode(l2tp.payload, &config)
                .unwrap_or_else(|e| panic!("{} frame {}: {e}", path.display(), frame.number));
            let Packet::Data(data) = pkt else {
                panic!(
                    "{} frame {}: control message in a data capture",
                    path.display(),
                    frame.number
                )
            };
            assert_eq!(data.header.session_id, 1, "frame {}", frame.number);
            assert_eq!(data.header.cookie, Cookie::None);
            // The kernel sends unsequenced frames (S=0, sequence 0) unless sequencing
            // is configured; tshark agrees (l2tp.l2_spec_s == 0).
            assert_eq!(
                data.header.sublayer,
                Some(DefaultSublayer::unsequenced()),
                "frame {}",
                frame.number
            );
            // An Ethernet frame follows: at least a 14-byte header, and a known EtherType.
            assert!(data.payload.len() >= 14, "frame {}", frame.number);
            let ethertype = u16::from_be_bytes([data.payload[12], data.payload[13]]);
            assert!(
                matches!(ethertype, 0x0800 | 0x0806 | 0x86dd),
                "frame {}: inner EtherType {ethertype:#06x}",
                frame.number
            );
            // Re-encoding the header gives back the captured header bytes.
            let hlen = data.header.len(l2tp.encapsulation);
            let mut out = Vec::new();
            data.header.encode(l2tp.encapsulation, &mut out).unwrap();
            assert_eq!(out, l2tp.payload[..hlen], "frame {}", frame.number);
            encaps.insert(format!("{:?}", l2tp.encapsulation));
            numbers.push(frame.number);
            in_file += 1;
        })
        .unwrap();
        eprintln!(
            "{}: {in_file} L2TPv3 data packets over {encaps:?}",
            path.display()
        );
        assert!(in_file > 0, "{}: no L2TPv3 packets found", path.display());
        // The frames tshark dissects as L2TPv3 in the two kernel ping captures.
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("kernel-l2tpv3-"))
        {
            assert_eq!(numbers, [3, 4, 5, 6, 8, 10], "{}", path.display());
        }
        total += in_file;
    }
    eprintln!("{total} L2TPv3 data packets decoded");
}
