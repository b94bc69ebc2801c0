//! tshark as an oracle for the encoder: Control packets built by this crate (every
//! state, diagnostics, Poll and Final, every authentication type, and a real exchange
//! of two authenticated sessions) are written into a pcap as Ethernet / IPv4 and
//! Ethernet / IPv6 (link-local) / UDP to port 3784 with TTL 255; Wireshark's BFD
//! dissector must find nothing malformed, raise no expert warning, and show the field
//! values the packets were built with.
//!
//! Skips when tshark is not installed, unless `BFD_REQUIRE_TSHARK=1` (as
//! `.ci/checks/35-bfd-tshark.sh` sets it).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bfd::packet::{MAX_PASSWORD_LEN, sign};
use bfd::{AuthConfig, AuthSection, Config, ControlPacket, Diagnostic, Session, State};
use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use rand::SeedableRng;
use rand::rngs::StdRng;

const FIELDS: &[&str] = &[
    "bfd.version",
    "bfd.diag",
    "bfd.sta",
    "bfd.flags.p",
    "bfd.flags.f",
    "bfd.flags.c",
    "bfd.flags.a",
    "bfd.flags.d",
    "bfd.flags.m",
    "bfd.detect_time_multiplier",
    "bfd.message_length",
    "bfd.my_discriminator",
    "bfd.your_discriminator",
    "bfd.desired_min_tx_interval",
    "bfd.required_min_rx_interval",
    "bfd.required_min_echo_interval",
    "bfd.auth.type",
    "bfd.auth.len",
    "bfd.auth.key",
    "bfd.auth.seq_num",
    "bfd.auth.password",
    "udp.dstport",
    "ip.ttl",
    "ipv6.hlim",
];

fn base(state: State, diag: Diagnostic) -> ControlPacket {
    ControlPacket {
        diag,
        state,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        multipoint: false,
        detect_mult: 3,
        my_discriminator: 0x0102_0304,
        your_discriminator: if matches!(state, State::Init | State::Up) {
            0x0A0B_0C0D
        } else {
            0
        },
        desired_min_tx_us: 1_000_000,
        required_min_rx_us: 300_000,
        required_min_echo_rx_us: 0,
        auth: None,
    }
}

fn encode(p: &ControlPacket, key: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let n = p.encode(&mut buf).unwrap();
    sign(&mut buf[..n], key);
    buf[..n].to_vec()
}

/// The packets, encoded.
fn packets() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (state, diag) in [
        (State::AdminDown, Diagnostic::AdministrativelyDown),
        (State::Down, Diagnostic::None),
        (State::Down, Diagnostic::ControlDetectionTimeExpired),
        (State::Down, Diagnostic::NeighborSignaledSessionDown),
        (State::Init, Diagnostic::None),
        (State::Up, Diagnostic::None),
    ] {
        out.push(encode(&base(state, diag), b""));
    }
    let mut p = base(State::Up, Diagnostic::None);
    p.poll = true;
    p.desired_min_tx_us = 50_000;
    p.required_min_rx_us = 50_000;
    out.push(encode(&p, b""));
    p.poll = false;
    p.final_ = true;
    p.control_plane_independent = true;
    p.detect_mult = 5;
    p.required_min_echo_rx_us = 100_000;
    out.push(encode(&p, b""));

    let mut password = [0u8; MAX_PASSWORD_LEN];
    password[..6].copy_from_slice(b"hunter");
    let auths = [
        AuthSection::SimplePassword {
            key_id: 1,
            password,
            len: 6,
        },
        AuthSection::Md5 {
            meticulous: false,
            key_id: 2,
            sequence: 100,
            digest: [0; 16],
        },
        AuthSection::Md5 {
            meticulous: true,
            key_id: 3,
            sequence: 101,
            digest: [0; 16],
        },
        AuthSection::Sha1 {
            meticulous: false,
            key_id: 4,
            sequence: 102,
            digest: [0; 20],
        },
        AuthSection::Sha1 {
            meticulous: true,
            key_id: 5,
            sequence: 0xFFFF_FFFF,
            digest: [0; 20],
        },
    ];
    for a in auths {
        let mut p = base(State::Up, Diagnostic::None);
        p.auth = Some(a);
        out.push(encode(&p, b"secret"));
    }

    // A real exchange: two Meticulous Keyed SHA1 sessions coming Up.
    let t0 = Instant::now();
    let cfg = Config::default().with_auth(AuthConfig::meticulous_keyed_sha1(7, "key"));
    let mut a = Session::new(t0, cfg.clone(), StdRng::seed_from_u64(1)).unwrap();
    let mut b = Session::new(t0, cfg, StdRng::seed_from_u64(2)).unwrap();
    let mut now = t0;
    for _ in 0..6 {
        a.handle_timeout(now);
        b.handle_timeout(now);
        for _ in 0..3 {
            while let Some(t) = a.poll_transmit() {
                b.handle_packet(now, t.payload(), 255).unwrap();
                out.push(t.payload().to_vec());
            }
            while let Some(t) = b.poll_transmit() {
                a.handle_packet(now, t.payload(), 255).unwrap();
                out.push(t.payload().to_vec());
            }
        }
        now = a.poll_timeout().unwrap().min(b.poll_timeout().unwrap());
    }
    assert_eq!(a.state(), State::Up);
    out
}

/// The fields tshark must show for one packet, in `FIELDS` order (IP columns apart).
fn expected(bytes: &[u8]) -> Vec<String> {
    let p = ControlPacket::decode(bytes).unwrap();
    let b = |v: bool| if v { "1" } else { "0" }.to_string();
    let (ty, len, key, seq, pw) = match p.auth {
        None => Default::default(),
        Some(a) => (
            a.auth_type().to_wire().to_string(),
            a.wire_len().to_string(),
            a.key_id().to_string(),
            a.sequence()
                .map(|s| format!("0x{s:08x}"))
                .unwrap_or_default(),
            match a {
                AuthSection::SimplePassword { password, len, .. } => {
                    String::from_utf8(password[..usize::from(len)].to_vec()).unwrap()
                }
                _ => String::new(),
            },
        ),
    };
    vec![
        "1".into(),
        format!("0x{:02x}", p.diag.to_wire()),
        format!("0x{:02x}", p.state.to_wire()),
        b(p.poll),
        b(p.final_),
        b(p.control_plane_independent),
        b(p.auth.is_some()),
        b(p.demand),
        b(p.multipoint),
        p.detect_mult.to_string(),
        p.wire_len().to_string(),
        format!("0x{:08x}", p.my_discriminator),
        format!("0x{:08x}", p.your_discriminator),
        p.desired_min_tx_us.to_string(),
        p.required_min_rx_us.to_string(),
        p.required_min_echo_rx_us.to_string(),
        ty,
        len,
        key,
        seq,
        pw,
    ]
}

fn write_pcap(path: &Path, packets: &[Vec<u8>]) -> Vec<bool> {
    let file = std::fs::File::create(path).unwrap();
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(file, header).unwrap();
    let mut is_v6 = Vec::new();
    for (i, payload) in packets.iter().enumerate() {
        let v6 = i % 2 == 1;
        let sport = 49152 + i as u16;
        let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let mut frame = Vec::new();
        if v6 {
            let src: Ipv6Addr = "fe80::1".parse().unwrap();
            let dst: Ipv6Addr = "fe80::2".parse().unwrap();
            builder
                .ipv6(src.octets(), dst.octets(), bfd::encap::TTL)
                .udp(sport, bfd::encap::CONTROL_PORT)
                .write(&mut frame, payload)
                .unwrap();
        } else {
            builder
                .ipv4(
                    Ipv4Addr::new(192, 0, 2, 1).octets(),
                    Ipv4Addr::new(192, 0, 2, 2).octets(),
                    bfd::encap::TTL,
                )
                .udp(sport, bfd::encap::CONTROL_PORT)
                .write(&mut frame, payload)
                .unwrap();
        }
        is_v6.push(v6);
        let ts = Duration::from_millis(10 * i as u64);
        w.write_packet(&PcapPacket::new(ts, frame.len() as u32, &frame))
            .unwrap();
    }
    is_v6
}

/// What tshark flags as malformed or with an expert warning.
fn flagged(path: &Path) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-Y", "_ws.malformed || _ws.expert.severity >= warning"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tshark_agrees_with_the_encoder() {
    let have = Command::new("tshark").arg("--version").output().is_ok();
    if !have {
        assert!(
            std::env::var("BFD_REQUIRE_TSHARK").as_deref() != Ok("1"),
            "tshark required but missing"
        );
        eprintln!("SKIP: tshark not installed");
        return;
    }
    let packets = packets();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bfd-tshark.pcap");
    let is_v6 = write_pcap(&path, &packets);

    let bad = flagged(&path);
    assert!(
        bad.trim().is_empty(),
        "malformed or expert warnings:\n{bad}"
    );

    // Negative control: the same filter does flag a broken packet (a Keyed SHA1
    // section whose Auth Len says 24), so the check above can fail.
    let mut broken = packets[11].clone();
    assert_eq!(broken[24], 4, "packet 12 is Keyed SHA1");
    broken[25] = 24;
    let control = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bfd-tshark-broken.pcap");
    write_pcap(&control, &[broken]);
    assert!(
        !flagged(&control).trim().is_empty(),
        "tshark flags a bad auth length"
    );

    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(&path)
        .args(["-Y", "bfd", "-T", "fields", "-E", "separator=|"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), packets.len(), "tshark saw every packet as BFD");
    for (i, line) in lines.iter().enumerate() {
        let got: Vec<&str> = line.split('|').collect();
        let mut want = expected(&packets[i]);
        want.push("3784".into());
        if is_v6[i] {
            want.extend([String::new(), "255".into()]);
        } else {
            want.extend(["255".into(), String::new()]);
        }
        assert_eq!(got, want, "packet {} ({} bytes)", i + 1, packets[i].len());
    }
    eprintln!(
        "tshark: {} BFD packets ({} over IPv4, {} over IPv6), 0 malformed, 0 expert warnings",
        lines.len(),
        is_v6.iter().filter(|v| !**v).count(),
        is_v6.iter().filter(|v| **v).count()
    );
}
