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
//! One socket per interface, bound to it (SO_BINDTODEVICE) and to its link-local
//! address, joined to ff02::5 and ff02::6, with IPV6_PKTINFO so the engine sees each
//! packet's destination; `poll` waits on all of them and on the engine's timeout.
//! Checksums are computed by the engine. Events are printed one
//! per line (`NEIGHBOR`, `INTERFACE`, `ROUTE ADD`, `ROUTE DEL`). Commands on stdin:
//! `withdraw`, `advertise [METRIC]`, `quit`.

use std::io::{BufRead, IoSliceMut, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg, setsockopt, sockopt};
use ospfv3::auth::HmacAlgorithm;
use ospfv3::engine::{AuthConfig, Event, InterfaceConfig, Ipv6Prefix, Router, RouterConfig};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

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
                a.auth = Some(AuthConfig {
                    sa_id,
                    key,
                    algorithm,
                    // A real daemon reads this from stable storage; see PERSIST-SEQ-HIGH.
                    stored_seq_high: None,
                    frr_compat_key: false,
                });
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
    sock: Socket,
}

fn open_port(ifname: &str) -> (Port, Ipv6Addr) {
    let (ifindex, ll) = interface_info(ifname);
    let sock =
        Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(89))).expect("raw socket (root?)");
    sock.bind_device(Some(ifname.as_bytes()))
        .expect("SO_BINDTODEVICE");
    sock.bind(&SockAddr::from(SocketAddrV6::new(ll, 0, 0, ifindex)))
        .expect("bind link-local");
    for g in ["ff02::5", "ff02::6"] {
        sock.join_multicast_v6(&g.parse().unwrap(), ifindex)
            .expect("join group");
    }
    sock.set_multicast_loop_v6(false).expect("loop off");
    sock.set_multicast_hops_v6(1).expect("hops");
    sock.set_unicast_hops_v6(1).expect("hops");
    sock.set_nonblocking(true).expect("non-blocking");
    setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true).expect("IPV6_RECVPKTINFO");
    (
        Port {
            ifindex,
            ifname: ifname.to_string(),
            sock,
        },
        ll,
    )
}

fn send_all(router: &mut Router, ports: &[Port]) {
    while let Some(t) = router.poll_transmit() {
        let Some(p) = ports.iter().find(|p| p.ifindex == t.ifindex) else {
            continue;
        };
        let dst = SockAddr::from(SocketAddrV6::new(t.dst, 0, 0, t.ifindex));
        if let Err(e) = p.sock.send_to(&t.bytes, &dst) {
            print(format!("SEND-ERROR {} {e}", p.ifname));
        }
    }
}

fn main() {
    let args = parse_args();
    let start = Instant::now();
    let mut router = Router::new(
        RouterConfig::new(args.router_id),
        u64::from(std::process::id()),
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
    let mut buf = vec![0u8; 65536];
    loop {
        send_all(&mut router, &ports);
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
        let ready: Vec<usize> = {
            let mut fds: Vec<PollFd> = ports
                .iter()
                .map(|p| PollFd::new(p.sock.as_fd(), PollFlags::POLLIN))
                .collect();
            let _ = poll(&mut fds, wait.as_millis() as u16);
            fds.iter()
                .enumerate()
                .filter(|(_, f)| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
                .map(|(i, _)| i)
                .collect()
        };
        for i in ready {
            let port = &ports[i];
            loop {
                let mut iov = [IoSliceMut::new(&mut buf)];
                let mut cmsg = nix::cmsg_space!(nix::libc::in6_pktinfo);
                let (len, src, dst) = match recvmsg::<SockaddrIn6>(
                    port.sock.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg),
                    MsgFlags::MSG_DONTWAIT,
                ) {
                    Ok(msg) => {
                        let mut dst = None;
                        if let Ok(cmsgs) = msg.cmsgs() {
                            for c in cmsgs {
                                if let ControlMessageOwned::Ipv6PacketInfo(pi) = c {
                                    dst = Some(Ipv6Addr::from(pi.ipi6_addr.s6_addr));
                                }
                            }
                        }
                        (msg.bytes, msg.address.map(|a| a.ip()), dst)
                    }
                    Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => break,
                    Err(e) => {
                        print(format!("RECV-ERROR {} {e}", port.ifname));
                        break;
                    }
                };
                if let (Some(src), Some(dst)) = (src, dst) {
                    router.handle_packet(Instant::now(), port.ifindex, src, dst, &buf[..len]);
                }
            }
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
                    send_all(&mut router, &ports);
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
            print(format!(
                "ROUTE ADD {} cost {} via {}",
                r.prefix,
                r.cost,
                hops.join(",")
            ));
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
    }
}
