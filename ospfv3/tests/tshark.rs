//! tshark as an oracle for the encoder: packets built by this crate (every packet
//! type, every LSA type, a packet with an authentication trailer) are written into a
//! pcap inside Ethernet/IPv6 with a correct pseudo-header checksum; Wireshark's OSPF
//! dissector must find nothing malformed, raise no expert warning, call every packet
//! checksum correct, and show the field values the packets were built with.
//!
//! Skips when tshark is not installed, unless `OSPFV3_REQUIRE_TSHARK=1` (as
//! `.ci/checks/30-ospfv3-tshark.sh` sets it).

mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::Command;

use common::capture::{ethernet_frame, write_pcap};
use ospfv3::auth::{HmacAlgorithm, SecurityAssociation};
use ospfv3::dd::{DatabaseDescription, DdFlags};
use ospfv3::hello::Hello;
use ospfv3::lsa::*;
use ospfv3::lsack::LinkStateAck;
use ospfv3::lsr::{LinkStateRequest, LsRequestEntry};
use ospfv3::lsu::LinkStateUpdate;
use ospfv3::options::Options;
use ospfv3::prefix::{Prefix, PrefixOptions};
use ospfv3::{Packet, PacketBody, PacketHeader};

const FIELDS: &[&str] = &[
    "frame.number",
    "ospf.msg",
    "ospf.srcrouter",
    "ospf.area_id",
    "ospf.instance_id",
    "ospf.packet_length",
    "ospf.checksum",
    "ospf.v3.options",
    "ospf.hello.interface_id",
    "ospf.hello.router_priority",
    "ospf.hello.hello_interval",
    "ospf.hello.router_dead_interval",
    "ospf.hello.designated_router",
    "ospf.hello.backup_designated_router",
    "ospf.hello.active_neighbor",
    "ospf.db.interface_mtu",
    "ospf.db.dd_sequence",
    "ospf.dbd",
    "ospf.v3.lsa",
    "ospf.link_state_id",
    "ospf.advrouter",
    "ospf.lsa.seqnum",
    "ospf.lsa.chksum",
    "ospf.lsa.age",
    "ospf.lsa.length",
    "ospf.v3.router.lsa.flags",
    "ospf.v3.lsa.interface_id",
    "ospf.v3.lsa.neighbor_interface_id",
    "ospf.v3.lsa.neighbor_router_id",
    "ospf.v3.lsa.attached_router",
    "ospf.v3.lsa.destination_router_id",
    "ospf.metric",
    "ospf.prefix_length",
    "ospf.v3.prefix.options",
    "ospf.v3.address_prefix.ipv6",
    "ospf.v3.as.external.flags",
    "ospf.v3.lsa.forwarding_address.ipv6",
    "ospf.v3.lsa.external_route_tag",
    "ospf.v3.lsa.referenced_ls_type",
    "ospf.v3.lsa.referenced_link_state_id",
    "ospf.v3.lsa.referenced_advertising_router",
    "ospf.v3.lsa.router_priority",
    "ospf.v3.lsa.link_local_interface_address.ipv6",
    "ospf.v3.lsa.num_prefixes",
    "ospf.at.auth_type",
    "ospf.at.auth_data_len",
    "ospf.at.sa_id",
    "ospf.at.crypto_seq_nbr",
    "ospf.at.auth_data",
];

type Expect = BTreeMap<&'static str, String>;

fn src() -> Ipv6Addr {
    "fe80::1".parse().unwrap()
}

fn dst() -> Ipv6Addr {
    "ff02::5".parse().unwrap()
}

fn header() -> PacketHeader {
    PacketHeader {
        router_id: Ipv4Addr::new(1, 1, 1, 1),
        area_id: Ipv4Addr::new(0, 0, 0, 1),
        checksum: 0,
        instance_id: 0,
    }
}

fn hex16(v: u16) -> String {
    format!("0x{v:04x}")
}

fn join<T, F: Fn(&T) -> String>(items: &[T], f: F) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(",")
}

fn prefix(s: &str, len: u8, o: PrefixOptions) -> Prefix {
    Prefix::new(s.parse().unwrap(), len, o)
}

fn lsa(ls_type: LsaType, id: u32, body: LsaBody) -> Lsa {
    let mut l = Lsa {
        header: LsaHeader {
            age: 12,
            ls_type,
            link_state_id: Ipv4Addr::from(id),
            advertising_router: Ipv4Addr::new(1, 1, 1, 1),
            seq_number: 0x8000_0003,
            checksum: 0,
            length: 0,
        },
        body,
    };
    l.update_checksum();
    l
}

fn all_lsas() -> Vec<Lsa> {
    let opts = Options::V6 | Options::E | Options::R;
    vec![
        lsa(
            LsaType::ROUTER,
            0,
            LsaBody::Router(RouterLsa {
                flags: RouterFlags::B | RouterFlags::E,
                options: opts,
                links: vec![
                    RouterLink {
                        link_type: RouterLinkType::PointToPoint,
                        metric: 10,
                        interface_id: 5,
                        neighbor_interface_id: 6,
                        neighbor_router_id: Ipv4Addr::new(2, 2, 2, 2),
                    },
                    RouterLink {
                        link_type: RouterLinkType::Transit,
                        metric: 20,
                        interface_id: 7,
                        neighbor_interface_id: 8,
                        neighbor_router_id: Ipv4Addr::new(3, 3, 3, 3),
                    },
                    RouterLink {
                        link_type: RouterLinkType::VirtualLink,
                        metric: 30,
                        interface_id: 9,
                        neighbor_interface_id: 10,
                        neighbor_router_id: Ipv4Addr::new(4, 4, 4, 4),
                    },
                ],
            }),
        ),
        lsa(
            LsaType::NETWORK,
            7,
            LsaBody::Network(NetworkLsa {
                options: opts,
                attached_routers: vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(3, 3, 3, 3)],
            }),
        ),
        lsa(
            LsaType::INTER_AREA_PREFIX,
            1,
            LsaBody::InterAreaPrefix(InterAreaPrefixLsa {
                metric: 100,
                prefix: prefix("2001:db8:1::", 48, PrefixOptions::empty()),
            }),
        ),
        lsa(
            LsaType::INTER_AREA_ROUTER,
            2,
            LsaBody::InterAreaRouter(InterAreaRouterLsa {
                options: opts,
                metric: 200,
                destination_router_id: Ipv4Addr::new(5, 5, 5, 5),
            }),
        ),
        lsa(
            LsaType::AS_EXTERNAL,
            3,
            LsaBody::AsExternal(AsExternalLsa {
                metric_type: ExternalMetricType::Type2,
                metric: 20,
                prefix: prefix("2001:db8:ffff::1", 128, PrefixOptions::empty()),
                forwarding_address: Some("2001:db8::99".parse().unwrap()),
                route_tag: Some(42),
                referenced: Some(ReferencedLs {
                    ls_type: LsaType::ROUTER,
                    link_state_id: Ipv4Addr::new(0, 0, 0, 9),
                }),
            }),
        ),
        lsa(
            LsaType::NSSA,
            4,
            LsaBody::Nssa(AsExternalLsa {
                metric_type: ExternalMetricType::Type1,
                metric: 30,
                prefix: prefix("2001:db8:2::", 64, PrefixOptions::P),
                forwarding_address: Some("2001:db8::98".parse().unwrap()),
                route_tag: None,
                referenced: None,
            }),
        ),
        lsa(
            LsaType::LINK,
            5,
            LsaBody::Link(LinkLsa {
                priority: 1,
                options: opts,
                link_local_address: "fe80::1".parse().unwrap(),
                prefixes: vec![
                    prefix("2001:db8:3::", 64, PrefixOptions::empty()),
                    prefix("2001:db8:4::", 56, PrefixOptions::empty()),
                ],
            }),
        ),
        lsa(
            LsaType::INTRA_AREA_PREFIX,
            6,
            LsaBody::IntraAreaPrefix(IntraAreaPrefixLsa {
                referenced_ls_type: LsaType::ROUTER,
                referenced_link_state_id: Ipv4Addr::UNSPECIFIED,
                referenced_advertising_router: Ipv4Addr::new(1, 1, 1, 1),
                prefixes: vec![
                    IntraAreaPrefix {
                        prefix: prefix("2001:db8:3::", 64, PrefixOptions::empty()),
                        metric: 10,
                    },
                    IntraAreaPrefix {
                        prefix: prefix("2001:db8:ffff::1", 128, PrefixOptions::LA),
                        metric: 0,
                    },
                ],
            }),
        ),
    ]
}

/// Expected header-level fields of a list of LSA headers.
fn expect_headers(e: &mut Expect, headers: &[LsaHeader]) {
    e.insert("ospf.v3.lsa", join(headers, |h| hex16(h.ls_type.0)));
    e.insert(
        "ospf.link_state_id",
        join(headers, |h| h.link_state_id.to_string()),
    );
    e.insert(
        "ospf.advrouter",
        join(headers, |h| h.advertising_router.to_string()),
    );
    e.insert(
        "ospf.lsa.seqnum",
        join(headers, |h| format!("0x{:08x}", h.seq_number)),
    );
    e.insert("ospf.lsa.chksum", join(headers, |h| hex16(h.checksum)));
    e.insert("ospf.lsa.age", join(headers, |h| h.age.to_string()));
    e.insert("ospf.lsa.length", join(headers, |h| h.length.to_string()));
}

/// The packets to send and, for each, the fields tshark must show.
fn cases() -> Vec<(Vec<u8>, Expect)> {
    let mut out = Vec::new();
    let mut push = |p: &Packet, mut e: Expect, trailer: Option<&SecurityAssociation>| {
        let mut bytes = p.to_bytes();
        match trailer {
            Some(sa) => sa.append_trailer(&src(), &mut bytes, 0x0000_0002_0000_0001),
            None => ospfv3::checksum::set_packet_checksum(&src(), &dst(), &mut bytes),
        }
        e.insert("ospf.msg", (p.packet_type() as u8).to_string());
        e.insert("ospf.srcrouter", p.header.router_id.to_string());
        e.insert("ospf.area_id", p.header.area_id.to_string());
        e.insert("ospf.instance_id", p.header.instance_id.to_string());
        e.insert("ospf.packet_length", p.encoded_len().to_string());
        e.insert(
            "ospf.checksum",
            hex16(u16::from_be_bytes([bytes[12], bytes[13]])),
        );
        out.push((bytes, e));
    };

    // Hello.
    let hello = Hello {
        interface_id: 5,
        priority: 1,
        options: Options::V6 | Options::E | Options::R,
        hello_interval: 10,
        dead_interval: 40,
        designated_router: Ipv4Addr::new(1, 1, 1, 1),
        backup_designated_router: Ipv4Addr::new(2, 2, 2, 2),
        neighbors: vec![Ipv4Addr::new(2, 2, 2, 2), Ipv4Addr::new(3, 3, 3, 3)],
    };
    let hello_expect = |h: &Hello| -> Expect {
        Expect::from([
            ("ospf.v3.options", format!("0x{:06x}", h.options.bits())),
            ("ospf.hello.interface_id", h.interface_id.to_string()),
            ("ospf.hello.router_priority", h.priority.to_string()),
            ("ospf.hello.hello_interval", h.hello_interval.to_string()),
            (
                "ospf.hello.router_dead_interval",
                h.dead_interval.to_string(),
            ),
            (
                "ospf.hello.designated_router",
                h.designated_router.to_string(),
            ),
            (
                "ospf.hello.backup_designated_router",
                h.backup_designated_router.to_string(),
            ),
            (
                "ospf.hello.active_neighbor",
                join(&h.neighbors, |n| n.to_string()),
            ),
        ])
    };
    push(
        &Packet {
            header: header(),
            body: PacketBody::Hello(hello.clone()),
        },
        hello_expect(&hello),
        None,
    );

    let lsas = all_lsas();
    let headers: Vec<LsaHeader> = lsas.iter().map(|l| l.header).collect();

    // Database Description.
    let dd = DatabaseDescription {
        options: Options::V6 | Options::E | Options::R,
        interface_mtu: 1500,
        flags: DdFlags::I | DdFlags::M | DdFlags::MS,
        seq_number: 0x1234_5678,
        lsa_headers: headers[..3].to_vec(),
    };
    let mut e = Expect::from([
        ("ospf.db.interface_mtu", "1500".to_string()),
        ("ospf.db.dd_sequence", dd.seq_number.to_string()),
        ("ospf.dbd", format!("0x{:02x}", dd.flags.bits())),
    ]);
    expect_headers(&mut e, &dd.lsa_headers);
    e.insert("ospf.v3.options", format!("0x{:06x}", dd.options.bits()));
    push(
        &Packet {
            header: header(),
            body: PacketBody::DatabaseDescription(dd),
        },
        e,
        None,
    );

    // Link State Request.
    let entries: Vec<LsRequestEntry> = headers
        .iter()
        .take(4)
        .map(|h| LsRequestEntry {
            ls_type: h.ls_type,
            link_state_id: h.link_state_id,
            advertising_router: h.advertising_router,
        })
        .collect();
    let e = Expect::from([
        ("ospf.v3.lsa", join(&entries, |r| hex16(r.ls_type.0))),
        (
            "ospf.link_state_id",
            join(&entries, |r| r.link_state_id.to_string()),
        ),
        (
            "ospf.advrouter",
            join(&entries, |r| r.advertising_router.to_string()),
        ),
    ]);
    push(
        &Packet {
            header: header(),
            body: PacketBody::LinkStateRequest(LinkStateRequest { entries }),
        },
        e,
        None,
    );

    // Link State Update with every LSA type.
    let mut e = Expect::new();
    expect_headers(&mut e, &headers);
    e.insert("ospf.v3.router.lsa.flags", "0x03".into());
    e.insert("ospf.v3.lsa.interface_id", "5,7,9".into());
    e.insert("ospf.v3.lsa.neighbor_interface_id", "6,8,10".into());
    e.insert(
        "ospf.v3.lsa.neighbor_router_id",
        "2.2.2.2,3.3.3.3,4.4.4.4".into(),
    );
    e.insert("ospf.v3.lsa.attached_router", "1.1.1.1,3.3.3.3".into());
    e.insert("ospf.v3.lsa.destination_router_id", "5.5.5.5".into());
    // Options: Router, Network, Inter-Area-Router, Link.
    e.insert("ospf.v3.options", ["0x000013"; 4].join(","));
    // Router links, inter-area prefix and router, AS-external, NSSA, intra-area prefixes.
    e.insert("ospf.metric", "10,20,30,100,200,20,30,10,0".into());
    // Prefixes: inter-area, AS-external, NSSA, link (2), intra-area (2).
    e.insert("ospf.prefix_length", "48,128,64,64,56,64,128".into());
    e.insert(
        "ospf.v3.prefix.options",
        "0x00,0x00,0x08,0x00,0x00,0x00,0x02".into(),
    );
    e.insert(
        "ospf.v3.address_prefix.ipv6",
        "2001:db8:1::,2001:db8:ffff::1,2001:db8:2::,2001:db8:3::,2001:db8:4::,2001:db8:3::,2001:db8:ffff::1".into(),
    );
    e.insert("ospf.v3.as.external.flags", "0x07,0x02".into());
    e.insert(
        "ospf.v3.lsa.forwarding_address.ipv6",
        "2001:db8::99,2001:db8::98".into(),
    );
    e.insert("ospf.v3.lsa.external_route_tag", "42".into());
    // AS-external (referenced Router-LSA), NSSA (none), Intra-Area-Prefix.
    e.insert(
        "ospf.v3.lsa.referenced_ls_type",
        "0x2001,0x0000,0x2001".into(),
    );
    e.insert(
        "ospf.v3.lsa.referenced_link_state_id",
        "0.0.0.9,0.0.0.0".into(),
    );
    e.insert(
        "ospf.v3.lsa.referenced_advertising_router",
        "1.1.1.1".into(),
    );
    e.insert("ospf.v3.lsa.router_priority", "1".into());
    e.insert(
        "ospf.v3.lsa.link_local_interface_address.ipv6",
        "fe80::1".into(),
    );
    e.insert("ospf.v3.lsa.num_prefixes", "2,2".into());
    push(
        &Packet {
            header: header(),
            body: PacketBody::LinkStateUpdate(LinkStateUpdate { lsas }),
        },
        e,
        None,
    );

    // Link State Acknowledgment.
    let mut e = Expect::new();
    expect_headers(&mut e, &headers);
    push(
        &Packet {
            header: header(),
            body: PacketBody::LinkStateAck(LinkStateAck {
                lsa_headers: headers.clone(),
            }),
        },
        e,
        None,
    );

    // Hello with an authentication trailer (HMAC-SHA-256, SA ID 9).
    let sa = SecurityAssociation::new(9, HmacAlgorithm::Sha256, b"tshark-oracle");
    let mut hello_at = hello.clone();
    hello_at.options |= Options::AT;
    let mut e = hello_expect(&hello_at);
    let packet = Packet {
        header: header(),
        body: PacketBody::Hello(hello_at),
    };
    let digest = sa.trailer(&src(), &packet.to_bytes(), 0x0000_0002_0000_0001);
    e.insert("ospf.at.auth_type", "1".into());
    e.insert("ospf.at.auth_data_len", "48".into());
    e.insert("ospf.at.sa_id", "0x0009".into());
    e.insert(
        "ospf.at.crypto_seq_nbr",
        0x0000_0002_0000_0001u64.to_string(),
    );
    e.insert("ospf.at.auth_data", hex::encode(&digest.auth_data));
    push(&packet, e, Some(&sa));
    out
}

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ospfv3-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Frames tshark flags as malformed or with an expert item of warning or worse.
fn flagged(pcap: &str) -> String {
    tshark(&[
        "-r",
        pcap,
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning",
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "_ws.expert.message",
    ])
}

#[test]
fn tshark_accepts_and_agrees_with_encoded_packets() {
    if !tshark_available() {
        assert!(
            std::env::var_os("OSPFV3_REQUIRE_TSHARK").is_none(),
            "tshark required but not found"
        );
        eprintln!("SKIP: tshark not installed");
        return;
    }
    let cases = cases();
    let frames: Vec<Vec<u8>> = cases
        .iter()
        .map(|(b, _)| ethernet_frame(&src(), &dst(), b))
        .collect();
    let pcap = scratch("encoded.pcap");
    write_pcap(&pcap, &frames).unwrap();
    let pcap = pcap.to_str().unwrap();

    assert_eq!(flagged(pcap), "", "tshark flags some frames");

    // Every packet checksum is called correct (the trailer packet's is zero, which
    // tshark also accepts as the omitted checksum of RFC 7166 4.2, or skips).
    let verdicts = tshark(&["-r", pcap, "-T", "pdml"]);
    let correct = verdicts.matches("[correct]").count();
    assert!(
        verdicts.matches("[incorrect").count() == 0,
        "an incorrect checksum"
    );
    assert!(
        correct >= cases.len() - 1,
        "only {correct} checksums called correct"
    );

    let mut args = vec![
        "-r",
        pcap,
        "-T",
        "fields",
        "-E",
        "aggregator=,",
        "-E",
        "occurrence=a",
    ];
    for f in FIELDS {
        args.push("-e");
        args.push(f);
    }
    let text = tshark(&args);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), cases.len());
    let mut checked = 0;
    for (i, ((_, expect), row)) in cases.iter().zip(&rows).enumerate() {
        assert_eq!(row[0], (i + 1).to_string());
        for (field, want) in expect {
            let col = FIELDS.iter().position(|f| f == field).unwrap();
            assert_eq!(row[col], want, "frame {}: field {field}", i + 1);
            checked += 1;
        }
    }
    eprintln!(
        "tshark: {} frames, {checked} fields matched, nothing flagged",
        cases.len()
    );
}

#[test]
fn the_oracle_can_fail() {
    if !tshark_available() {
        eprintln!("SKIP: tshark not installed");
        return;
    }
    // A corrupted packet checksum and a truncated LSA must be noticed.
    let (mut bytes, _) = cases().remove(3);
    bytes[13] ^= 0xFF;
    let pcap = scratch("bad.pcap");
    write_pcap(&pcap, &[ethernet_frame(&src(), &dst(), &bytes)]).unwrap();
    let pdml = tshark(&["-r", pcap.to_str().unwrap(), "-T", "pdml"]);
    assert!(pdml.contains("[incorrect"), "bad checksum not noticed");

    let (bytes, _) = cases().remove(3);
    let mut cut = bytes[..bytes.len() - 8].to_vec();
    let len = (cut.len() as u16).to_be_bytes();
    cut[2..4].copy_from_slice(&len);
    ospfv3::checksum::set_packet_checksum(&src(), &dst(), &mut cut);
    write_pcap(&pcap, &[ethernet_frame(&src(), &dst(), &cut)]).unwrap();
    assert_ne!(
        flagged(pcap.to_str().unwrap()),
        "",
        "truncated LSA not flagged"
    );
}

/// LS type, Link State ID, Advertising Router and, when a header is present,
/// (sequence number, age).
type LsaKey = (LsaType, Ipv4Addr, Ipv4Addr, Option<(u32, u16)>);

/// A second oracle for the decoder: in every reference capture, tshark and this crate
/// agree frame by frame on packet type, Router ID, Area ID, Instance ID and, for each
/// LSA, header or request, on LS type, Link State ID, Advertising Router, sequence
/// number and age.
#[test]
fn captures_decode_as_tshark_dissects_them() {
    if !tshark_available() {
        eprintln!("SKIP: tshark not installed");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures/ospfv3");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("SKIP: capture folder {} is missing", dir.display());
        return;
    };
    const CAPTURE_FIELDS: &[&str] = &[
        "frame.number",
        "ospf.msg",
        "ospf.srcrouter",
        "ospf.area_id",
        "ospf.instance_id",
        "ospf.v3.lsa",
        "ospf.link_state_id",
        "ospf.advrouter",
        "ospf.lsa.seqnum",
        "ospf.lsa.age",
    ];
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let (mut frames_checked, mut lsas_checked) = (0, 0);
    for path in files {
        let p = path.to_str().unwrap();
        let mut args = vec!["-r", p, "-Y", "ospf", "-T", "fields", "-E", "aggregator=,"];
        for f in CAPTURE_FIELDS {
            args.push("-e");
            args.push(f);
        }
        let text = tshark(&args);
        let theirs: Vec<Vec<String>> = text
            .lines()
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect();
        let ours = common::capture::read_ospf_frames(&path).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{p}: frame count");
        for (f, row) in ours.iter().zip(&theirs) {
            let d = ospfv3::Datagram::decode(&f.payload).unwrap();
            let h = &d.packet.header;
            let keys: Vec<LsaKey> = match &d.packet.body {
                PacketBody::Hello(_) => vec![],
                PacketBody::DatabaseDescription(dd) => dd
                    .lsa_headers
                    .iter()
                    .map(|h| {
                        (
                            h.ls_type,
                            h.link_state_id,
                            h.advertising_router,
                            Some((h.seq_number, h.age)),
                        )
                    })
                    .collect(),
                PacketBody::LinkStateAck(a) => a
                    .lsa_headers
                    .iter()
                    .map(|h| {
                        (
                            h.ls_type,
                            h.link_state_id,
                            h.advertising_router,
                            Some((h.seq_number, h.age)),
                        )
                    })
                    .collect(),
                PacketBody::LinkStateUpdate(u) => u
                    .lsas
                    .iter()
                    .map(|l| {
                        let h = &l.header;
                        (
                            h.ls_type,
                            h.link_state_id,
                            h.advertising_router,
                            Some((h.seq_number, h.age)),
                        )
                    })
                    .collect(),
                PacketBody::LinkStateRequest(r) => r
                    .entries
                    .iter()
                    .map(|e| (e.ls_type, e.link_state_id, e.advertising_router, None))
                    .collect(),
            };
            let with_header: Vec<_> = keys.iter().filter_map(|k| k.3).collect();
            let want = [
                f.frame.to_string(),
                (d.packet.packet_type() as u8).to_string(),
                h.router_id.to_string(),
                h.area_id.to_string(),
                h.instance_id.to_string(),
                join(&keys, |k| hex16(k.0.0)),
                join(&keys, |k| k.1.to_string()),
                join(&keys, |k| k.2.to_string()),
                join(&with_header, |k| format!("0x{:08x}", k.0)),
                // tshark shows the age without the DoNotAge bit.
                join(&with_header, |k| (k.1 & 0x7FFF).to_string()),
            ];
            for (i, w) in want.iter().enumerate() {
                assert_eq!(
                    row.get(i).map(String::as_str),
                    Some(w.as_str()),
                    "{p} frame {}: {}",
                    f.frame,
                    CAPTURE_FIELDS[i]
                );
            }
            frames_checked += 1;
            lsas_checked += keys.len();
        }
    }
    eprintln!("tshark agrees on {frames_checked} capture frames and {lsas_checked} LSA keys");
}
