//! `ospfv3::RawSocket` (feature `tokio`) over real sockets: two network namespaces
//! joined by a veth pair, one socket in each, exchanging OSPFv3 Hellos encoded with the
//! crate's codec. Needs root and `ip netns`; without them the test prints why it is
//! skipped and passes.

use std::fs::File;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use ospfv3::checksum::verify_packet_checksum;
use ospfv3::hello::Hello;
use ospfv3::options::Options;
use ospfv3::{Packet, PacketBody, PacketHeader, RawSocket, RawSocketConfig, Received};

const LL_A: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xa);
const LL_B: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xb);
const ALL_SPF: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 5);
const ALL_DR: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 6);
const WAIT: Duration = Duration::from_secs(5);

/// Two namespaces with a veth pair between them; deleted on drop (which removes the
/// veth pair too).
struct Lab {
    ns: [String; 2],
    ifname: [String; 2],
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("`ip` not runnable: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`ip {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|u| u.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Builds the lab for test number `n` (namespace and interface names are unique per
/// process and test, so the tests can run in parallel), or says why it cannot: not
/// root, or no `ip netns`. Once namespaces can be made, any other failure is a bug and
/// panics.
fn lab(n: u32) -> Result<Lab, String> {
    if !is_root() {
        return Err("needs root (ip netns, CAP_NET_RAW)".into());
    }
    let id = std::process::id();
    let ns_a = format!("o3sock-a{n}-{id}");
    ip(&["netns", "add", &ns_a])?;
    let mut lab = Lab {
        ns: [ns_a, String::new()],
        ifname: [format!("o3a{n}-{id}"), format!("o3b{n}-{id}")],
    };
    let ns_b = format!("o3sock-b{n}-{id}");
    ip(&["netns", "add", &ns_b]).unwrap();
    lab.ns[1] = ns_b;
    let [a, b] = &lab.ifname;
    ip(&["link", "add", a, "type", "veth", "peer", "name", b]).unwrap();
    for (i, ll) in [(0, "fe80::a/64"), (1, "fe80::b/64")] {
        let (ns, ifname) = (&lab.ns[i], &lab.ifname[i]);
        ip(&["link", "set", ifname, "netns", ns]).unwrap();
        ip(&["-n", ns, "addr", "add", ll, "dev", ifname, "nodad"]).unwrap();
        ip(&["-n", ns, "link", "set", ifname, "up"]).unwrap();
    }
    Ok(lab)
}

/// The lab and a runtime, or `None` after printing why the test is skipped.
fn setup(n: u32, test: &str) -> Option<(Lab, tokio::runtime::Runtime)> {
    match lab(n) {
        Ok(lab) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            Some((lab, rt))
        }
        Err(why) => {
            println!("SKIP {test}: {why}");
            None
        }
    }
}

impl Lab {
    /// The interface index of side `i`, as `ip` reports it.
    fn ifindex(&self, i: usize) -> u32 {
        let out = ip(&["-n", &self.ns[i], "-o", "link", "show", &self.ifname[i]]).unwrap();
        out.split(':').next().unwrap().trim().parse().unwrap()
    }

    /// Opens a socket in side `i`'s namespace, from a thread that enters it, on `rt`.
    fn open(&self, rt: &tokio::runtime::Handle, i: usize, config: RawSocketConfig) -> RawSocket {
        let path = format!("/run/netns/{}", self.ns[i]);
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = File::open(&path).expect("namespace file");
                setns(ns, CloneFlags::CLONE_NEWNET).expect("setns");
                let _rt = rt.enter();
                RawSocket::open(&config).expect("raw socket")
            })
            .join()
            .expect("socket thread")
        })
    }
}

fn hello(router: u8, interface_id: u32, neighbors: usize) -> Packet {
    Packet {
        header: PacketHeader {
            router_id: Ipv4Addr::new(router, router, router, router),
            area_id: Ipv4Addr::UNSPECIFIED,
            checksum: 0,
            instance_id: 0,
        },
        body: PacketBody::Hello(Hello {
            interface_id,
            priority: 1,
            options: Options::V6 | Options::E | Options::R,
            hello_interval: 1,
            dead_interval: 3,
            designated_router: Ipv4Addr::UNSPECIFIED,
            backup_designated_router: Ipv4Addr::UNSPECIFIED,
            neighbors: (0..neighbors)
                .map(|n| Ipv4Addr::from(0x0a00_0000 + n as u32))
                .collect(),
        }),
    }
}

async fn recv(sock: &RawSocket, buf: &mut [u8]) -> Received {
    tokio::time::timeout(WAIT, sock.recv(buf))
        .await
        .expect("a datagram within 5 s")
        .expect("recv")
}

/// Checks what arrived: the packet the codec encoded, with a valid checksum.
fn check(r: &Received, buf: &[u8], sent: &Packet) {
    let bytes = &buf[..r.len];
    assert!(verify_packet_checksum(&r.src, &r.dst, bytes), "checksum");
    let got = Packet::decode(bytes).expect("decodes");
    assert_eq!(got.header.router_id, sent.header.router_id);
    assert_eq!(got.body, sent.body);
}

/// Sends `h` from `from` (bound to `src`) to `dst`, receives it on `to` and checks
/// source, destination and contents.
async fn exchange(
    (from, src): (&RawSocket, Ipv6Addr),
    dst: Ipv6Addr,
    to: &RawSocket,
    h: &Packet,
    buf: &mut [u8],
) -> Received {
    send(from, src, dst, h).await;
    let r = recv(to, buf).await;
    assert_eq!((r.src, r.dst), (src, dst));
    check(&r, buf, h);
    r
}

async fn send(from: &RawSocket, src: Ipv6Addr, dst: Ipv6Addr, h: &Packet) {
    let bytes = h.to_bytes_with_checksum(&src, &dst);
    assert_eq!(from.send(dst, &bytes).await.unwrap(), bytes.len());
}

#[test]
fn hello_both_ways_over_veth() {
    let Some((lab, rt)) = setup(1, "hello_both_ways_over_veth") else {
        return;
    };
    let (idx_a, idx_b) = (lab.ifindex(0), lab.ifindex(1));
    let a = lab.open(rt.handle(), 0, RawSocketConfig::new(&lab.ifname[0], LL_A));
    let b = lab.open(rt.handle(), 1, RawSocketConfig::new(&lab.ifname[1], LL_B));
    assert_eq!((a.ifindex(), b.ifindex()), (idx_a, idx_b));

    rt.block_on(async {
        let mut buf = vec![0u8; 65535];

        // A -> ff02::5 -> B, B -> A's link-local address (unicast) -> A, and
        // B -> ff02::6 -> A (joined by default).
        let h = hello(1, 7, 0);
        let r = exchange((&a, LL_A), ALL_SPF, &b, &h, &mut buf).await;
        assert_eq!((r.ifindex, r.hop_limit), (idx_b, 1));
        for (dst, h) in [(LL_A, hello(2, 9, 1)), (ALL_DR, hello(2, 9, 2))] {
            let r = exchange((&b, LL_B), dst, &a, &h, &mut buf).await;
            assert_eq!((r.ifindex, r.hop_limit), (idx_a, 1));
        }

        // Multicast loopback is off: A never received its own Hello.
        assert_eq!(a.stats().received, 2);
        assert_eq!(b.stats().received, 1);
    });
}

#[test]
fn hop_limit_requirement_and_truncation() {
    let Some((lab, rt)) = setup(2, "hop_limit_requirement_and_truncation") else {
        return;
    };
    let a1 = lab.open(rt.handle(), 0, RawSocketConfig::new(&lab.ifname[0], LL_A));
    let mut gtsm = RawSocketConfig::new(&lab.ifname[0], LL_A);
    gtsm.hop_limit = 255;
    let a255 = lab.open(rt.handle(), 0, gtsm);
    let mut strict = RawSocketConfig::new(&lab.ifname[1], LL_B);
    strict.required_hop_limit = Some(255);
    strict.all_d_routers = false;
    let b255 = lab.open(rt.handle(), 1, strict);
    let b = lab.open(rt.handle(), 1, RawSocketConfig::new(&lab.ifname[1], LL_B));

    rt.block_on(async {
        let mut buf = vec![0u8; 65535];
        let (small, big) = (hello(1, 7, 0), hello(1, 7, 40));
        // Hop limit 1, then 255: the strict socket drops the first, takes the second.
        send(&a1, LL_A, ALL_SPF, &big).await;
        let r = exchange((&a255, LL_A), ALL_SPF, &b255, &small, &mut buf).await;
        assert_eq!(r.hop_limit, 255);
        let s = b255.stats();
        assert_eq!((s.received, s.hop_limit_dropped), (1, 1));

        // The accepting socket got both; with a buffer too small for the big one, it
        // drops and counts it and returns the small one.
        let mut tiny = [0u8; 64];
        let r = recv(&b, &mut tiny).await;
        assert_eq!(r.hop_limit, 255);
        check(&r, &tiny, &small);
        let s = b.stats();
        assert_eq!((s.received, s.truncated, s.hop_limit_dropped), (1, 1, 0));

        // Not joined to ff02::6: the strict socket never sees this one, while a
        // Hello to ff02::5 right after it still arrives.
        send(&a255, LL_A, ALL_DR, &big).await;
        exchange((&a255, LL_A), ALL_SPF, &b255, &small, &mut buf).await;
        assert_eq!(b255.stats().received, 2);
    });
}
