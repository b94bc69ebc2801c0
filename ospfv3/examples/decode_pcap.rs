//! Capture inspector: prints one JSON object per OSPFv3 packet of a pcap or pcapng
//! file (Ethernet, Linux cooked or Frame Relay; IPv6 extension headers, AH included,
//! are skipped).
//!
//! ```text
//! cargo run -p ospfv3 --example ospfv3_decode_pcap -- FILE
//! ```
//!
//! Each line holds the frame number, packet type, Router ID, Area ID, Instance ID,
//! whether the packet checksum verifies (`null` when an authentication trailer
//! replaces it, RFC 7166 4.2), and for every LSA or LSA header carried: LS type,
//! Link State ID, Advertising Router, sequence number, age and whether its checksum
//! verifies (`null` for a bare header, which has no body to check). A packet that does
//! not decode gives its frame number and the error.

#[path = "../tests/common/capture.rs"]
mod capture;

use std::path::PathBuf;
use std::process::ExitCode;

use ospfv3::checksum::verify_packet_checksum;
use ospfv3::{Datagram, DecodeOptions, LsaHeader, PacketBody, lsu};
use serde_json::{Value, json};

fn header_json(h: &LsaHeader, checksum_ok: Option<bool>) -> Value {
    json!({
        "ls_type": format!("0x{:04x}", h.ls_type.0),
        "link_state_id": h.link_state_id.to_string(),
        "advertising_router": h.advertising_router.to_string(),
        "seq": format!("0x{:08x}", h.seq_number),
        "age": h.age,
        "checksum_ok": checksum_ok,
    })
}

fn packet_json(f: &capture::OspfFrame) -> Value {
    let lenient = DecodeOptions {
        verify_lsa_checksums: false,
    };
    let d = match Datagram::decode_with(&f.payload, &lenient) {
        Ok(d) => d,
        Err(e) => return json!({ "frame": f.frame, "error": e.to_string() }),
    };
    let h = &d.packet.header;
    let checksum_ok = d
        .trailer
        .is_none()
        .then(|| verify_packet_checksum(&f.src, &f.dst, &f.payload));
    let mut obj = json!({
        "frame": f.frame,
        "type": d.packet.packet_type().name(),
        "router_id": h.router_id.to_string(),
        "area_id": h.area_id.to_string(),
        "instance_id": h.instance_id,
        "checksum_ok": checksum_ok,
        "auth_trailer": d.trailer.as_ref().map(|t| json!({"sa_id": t.sa_id, "sequence": t.sequence})),
    });
    let lsas: Vec<Value> = match &d.packet.body {
        PacketBody::LinkStateUpdate(_) => lsu::raw_lsas(&f.payload)
            .into_iter()
            .flatten()
            .flatten()
            .map(|r| header_json(&r.header, Some(r.checksum_ok())))
            .collect(),
        PacketBody::DatabaseDescription(dd) => dd
            .lsa_headers
            .iter()
            .map(|h| header_json(h, None))
            .collect(),
        PacketBody::LinkStateAck(ack) => ack
            .lsa_headers
            .iter()
            .map(|h| header_json(h, None))
            .collect(),
        PacketBody::LinkStateRequest(req) => {
            obj["requests"] = req
                .entries
                .iter()
                .map(|e| {
                    json!({
                        "ls_type": format!("0x{:04x}", e.ls_type.0),
                        "link_state_id": e.link_state_id.to_string(),
                        "advertising_router": e.advertising_router.to_string(),
                    })
                })
                .collect();
            Vec::new()
        }
        PacketBody::Hello(_) => Vec::new(),
    };
    obj["lsas"] = Value::Array(lsas);
    obj
}

/// Prints one JSON object per OSPFv3 packet of a pcap or pcapng file.
#[derive(clap::Parser)]
struct Args {
    /// The capture to decode.
    file: PathBuf,
}

fn main() -> ExitCode {
    let Args { file: path } = clap::Parser::parse();
    let frames = match capture::read_ospf_frames(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    for f in &frames {
        println!("{}", packet_json(f));
    }
    ExitCode::SUCCESS
}
