//! Runs the OSPFv3 engine on one real interface over a raw IPv6 socket (protocol 89),
//! for interoperability tests against FRRouting (see `scripts/frr_interop.sh`).
//!
//! ```text
//! raw_runner --ifname IF [--ifname IF2]... --router-id A.B.C.D [--loopback ADDR]...
//!            [--network p2p|broadcast] [--hello S] [--dead S] [--metric N]
//!            [--priority N] [--install-routes] [--auth KEY-ID:sha1|sha256|sha384|sha512:KEY]
//!            [--auth-frr-compat]
//! ```
//!
//! `--auth-frr-compat` derives the RFC 7166 key the way FRRouting's ospf6d 8.4 does
//! (Crypto Protocol ID appended little-endian); without it the engine follows the RFC
//! and FRR 8.4 drops its packets (and vice versa).
//!
//! One [`ospfv3::RawSocket`] per interface (the crate's `tokio` feature: bound to it
//! and to its link-local address, joined to ff02::5 and ff02::6, hop limit 1, each
//! packet's destination from IPV6_PKTINFO); a current-thread tokio runtime waits on all
//! of them and on the engine's timeout. Checksums are computed by the engine. Events are printed one
//! per line (`NEIGHBOR`, `INTERFACE`, `ROUTE ADD`, `ROUTE DEL`). Commands on stdin:
//! `withdraw`, `advertise [METRIC]`, `quit`.

use std::io::{BufRead, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::future::select_all;
use ospfv3::auth::HmacAlgorithm;
use ospfv3::{AuthConfig, Event, InterfaceConfig, Ipv6Prefix, Router, RouterConfig};
use ospfv3::{RawSocket, RawSocketConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

struct Args {
    ifnames: Vec<String>,
    router_id: Ipv4Addr,
    loopbacks: Vec<Ipv6Addr>,
    broadcast: bool,
    hello: u16,
    dead: u16,
    metric: u16,
    priority: u8,
    install: bool,
    auth: Option<AuthConfig>,
    auth_frr_compat: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        ifnames: Vec::new(),
        router_id: Ipv4Addr::new(2, 2, 2, 2),
        loopbacks: Vec::new(),
        broadcast: false,
        hello: 1,
        dead: 3,
        metric: 1,
        priority: 1,
        install: false,
        auth: None,
        auth_frr_compat: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().expect("missing value");
        match k.as_str() {
            "--ifname" => a.ifnames.push(v()),
            "--router-id" => a.router_id = v().parse().expect("router id"),
            "--loopback" => a.loopbacks.push(v().parse().expect("IPv6 address")),
            "--network" => a.broadcast = v() == "broadcast",
            "--hello" => a.hello = v().parse().expect("hello"),
            "--dead" => a.dead = v().parse().expect("dead"),
            "--metric" => a.metric = v().parse().expect("metric"),
            "--priority" => a.priority = v().parse().expect("priority"),
            "--install-routes" => a.install = true,
            "--auth-frr-compat" => a.auth_frr_compat = true,
            "--auth" => {
                let spec = v();
                let mut parts = spec.splitn(3, ':');
                let sa_id = parts.next().and_then(|x| x.parse().ok()).expect("key id");
                let algorithm = match parts.next() {
                    Some("sha1") => HmacAlgorithm::Sha1,
                    Some("sha256") => HmacAlgorithm::Sha256,
                    Some("sha384") => HmacAlgorithm::Sha384,
                    Some("sha512") => HmacAlgorithm::Sha512,
                    other => panic!("unknown algorithm {other:?}"),
                };
                let key = parts.next().expect("key").as_bytes().to_vec();
                // A real daemon reads `stored_seq_high` from stable storage; see
                // PERSIST-SEQ-HIGH.
                a.auth = Some(AuthConfig::new(sa_id, algorithm, key));
            }
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(!a.ifnames.is_empty(), "--ifname is required");
    if let Some(auth) = &mut a.auth {
        auth.frr_compat_key = a.auth_frr_compat;
    }
    a
}

/// The interface's index and link-local address, read with `ip`.
fn interface_info(ifname: &str) -> (u32, Ipv6Addr) {
    let idx: u32 = std::fs::read_to_string(format!("/sys/class/net/{ifname}/ifindex"))
        .expect("interface exists")
        .trim()
        .parse()
        .expect("ifindex");
    let out = Command::new("ip")
        .args(["-6", "-o", "addr", "show", "dev", ifname, "scope", "link"])
        .output()
        .expect("ip runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let ll = text
        .split_whitespace()
        .find_map(|w| {
            w.strip_suffix("/64")
                .and_then(|a| a.parse::<Ipv6Addr>().ok())
        })
        .expect("a link-local address on the interface");
    (idx, ll)
}

fn print(line: String) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

/// One interface: its index, name and raw socket.
struct Port {
    ifindex: u32,
    ifname: String,
    sock: RawSocket,
}

fn open_port(ifname: &str) -> (Port, Ipv6Addr) {
    let (ifindex, ll) = interface_info(ifname);
    let sock = RawSocket::open(&RawSocketConfig::new(ifname, ll)).expect("raw socket (root?)");
    (
        Port {
            ifindex,
            ifname: ifname.to_string(),
            sock,
        },
        ll,
    )
}

async fn send_all(router: &mut Router<StdRng>, ports: &[Port]) {
    while let Some(t) = router.poll_transmit() {
        let Some(p) = ports.iter().find(|p| p.ifindex == t.ifindex) else {
            continue;
        };
        if let Err(e) = p.sock.send(t.dst, &t.bytes).await {
            print(format!("SEND-ERROR {} {e}", p.ifname));
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = parse_args();
    let start = Instant::now();
    let mut router = Router::new(
        RouterConfig::new(args.router_id),
        StdRng::seed_from_u64(u64::from(std::process::id())),
    );
    let mut ports = Vec::new();
    for name in &args.ifnames {
        let (port, ll) = open_port(name);
        print(format!(
            "READY {name} ifindex={} link-local={ll} router-id={}",
            port.ifindex, args.router_id
        ));
        let mut ic = if args.broadcast {
            InterfaceConfig::broadcast(ll)
        } else {
            InterfaceConfig::point_to_point(ll)
        }
        .with_timers(args.hello, args.dead);
        ic.priority = args.priority;
        ic.auth = args.auth.clone();
        router.add_interface(start, port.ifindex, ic);
        ports.push(port);
    }
    let prefixes: Vec<Ipv6Prefix> = args
        .loopbacks
        .iter()
        .map(|a| Ipv6Prefix::new(*a, 128))
        .collect();
    for p in &prefixes {
        router.advertise_prefix(start, *p, args.metric);
    }

    let (cmd_tx, cmd_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if cmd_tx.send(line).is_err() {
                break;
            }
        }
    });

    let names: Vec<(u32, String)> = ports
        .iter()
        .map(|p| (p.ifindex, p.ifname.clone()))
        .collect();
    let mut bufs = vec![vec![0u8; 65536]; ports.len()];
    loop {
        send_all(&mut router, &ports).await;
        while let Some(e) = router.poll_event() {
            handle_event(&args, &names, &e);
        }
        let now = Instant::now();
        let wait = router
            .poll_timeout()
            .map_or(Duration::from_millis(200), |t| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_millis(1), Duration::from_millis(200));
        // One datagram from whichever socket is ready first (receiving is
        // cancel-safe), or the engine's timeout.
        let got = tokio::select! {
            (r, i, _) = select_all(
                ports.iter().zip(bufs.iter_mut()).map(|(p, b)| Box::pin(p.sock.recv(b))),
            ) => Some((i, r)),
            () = tokio::time::sleep(wait) => None,
        };
        match got {
            Some((i, Ok(r))) => {
                router.handle_packet(Instant::now(), r.ifindex, r.src, r.dst, &bufs[i][..r.len]);
            }
            Some((i, Err(e))) => print(format!("RECV-ERROR {} {e}", ports[i].ifname)),
            None => {}
        }
        let now = Instant::now();
        if router.poll_timeout().is_some_and(|t| t <= now) {
            router.handle_timeout(now);
        }
        while let Ok(cmd) = cmd_rx.try_recv() {
            let now = Instant::now();
            let mut words = cmd.split_whitespace();
            match words.next() {
                Some("withdraw") => {
                    for p in &prefixes {
                        router.withdraw_prefix(now, *p);
                    }
                    print("WITHDRAWN".into());
                }
                Some("advertise") => {
                    let m = words
                        .next()
                        .and_then(|m| m.parse().ok())
                        .unwrap_or(args.metric);
                    for p in &prefixes {
                        router.advertise_prefix(now, *p, m);
                    }
                    print(format!("ADVERTISED metric={m}"));
                }
                Some("quit") => {
                    for p in &prefixes {
                        router.withdraw_prefix(now, *p);
                    }
                    send_all(&mut router, &ports).await;
                    print("QUIT".into());
                    return;
                }
                _ => print(format!("UNKNOWN-COMMAND {cmd}")),
            }
        }
    }
}

fn handle_event(args: &Args, names: &[(u32, String)], e: &Event) {
    let name = |i: u32| {
        names
            .iter()
            .find(|(x, _)| *x == i)
            .map_or("?", |(_, n)| n.as_str())
    };
    match e {
        Event::NeighborState {
            ifindex,
            router_id,
            from,
            to,
        } => print(format!(
            "NEIGHBOR {router_id} {} {from:?} -> {to:?}",
            name(*ifindex)
        )),
        Event::InterfaceState { ifindex, from, to } => {
            print(format!("INTERFACE {} {from:?} -> {to:?}", name(*ifindex)))
        }
        Event::RouteAdd(r) => {
            let hops: Vec<String> = r
                .next_hops
                .iter()
                .map(|h| match h.addr {
                    Some(a) => format!("{a}%{}", name(h.ifindex)),
                    None => format!("direct%{}", name(h.ifindex)),
                })
                .collect();
            if let Some((a, dev)) = r
                .next_hops
                .iter()
                .find_map(|h| h.addr.map(|a| (a, name(h.ifindex))))
                && args.install
            {
                let _ = Command::new("ip")
                    .args([
                        "-6",
                        "route",
                        "replace",
                        &r.prefix.to_string(),
                        "via",
                        &a.to_string(),
                        "dev",
                        dev,
                        "proto",
                        "ospf",
                    ])
                    .status();
            }
            // Printed after the kernel route is in place: the interop script checks
            // the kernel table as soon as it reads this line.
            print(format!(
                "ROUTE ADD {} cost {} via {}",
                r.prefix,
                r.cost,
                hops.join(",")
            ));
        }
        Event::RouteRemove(p) => {
            print(format!("ROUTE DEL {p}"));
            if args.install {
                let _ = Command::new("ip")
                    .args(["-6", "route", "del", &p.to_string(), "proto", "ospf"])
                    .status();
            }
        }
        Event::PersistAuthSeqHigh { high, .. } => print(format!("PERSIST-SEQ-HIGH {high}")),
        _ => {}
    }
}
