//! The tokio adapter on real loopback sockets: two sessions come Up over IPv4 and over
//! IPv6, every datagram arrives with TTL / hop limit 255, and the senders use source
//! ports from the RFC 5881 range.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bfd::tokio_udp::BfdSocket;
use bfd::{Config, Session, State, encap};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::time::Instant;

/// A sender socket on a source port drawn from 49152-65535 (retrying on collisions).
fn sender(ip: IpAddr, rng: &mut StdRng) -> BfdSocket {
    for _ in 0..100 {
        let port = encap::random_source_port(rng);
        if let Ok(s) = BfdSocket::bind(SocketAddr::new(ip, port)) {
            return s;
        }
    }
    panic!("no free source port");
}

async fn come_up(ip: IpAddr) {
    let mut rng = StdRng::seed_from_u64(5);
    // Listeners stand in for port 3784 (tests must not need a fixed port).
    let rx = [
        BfdSocket::bind(SocketAddr::new(ip, 0)).unwrap(),
        BfdSocket::bind(SocketAddr::new(ip, 0)).unwrap(),
    ];
    let tx = [sender(ip, &mut rng), sender(ip, &mut rng)];
    let dst = [rx[1].local_addr().unwrap(), rx[0].local_addr().unwrap()];
    let cfg = Config::new(Duration::from_millis(50), Duration::from_millis(50), 3);
    let start = Instant::now().into_std();
    let mut s = [
        Session::new(start, cfg.clone(), StdRng::seed_from_u64(1)).unwrap(),
        Session::new(start, cfg, StdRng::seed_from_u64(2)).unwrap(),
    ];
    let mut ttls = Vec::new();
    let mut srcs = Vec::new();
    let (mut b0, mut b1) = ([0u8; 64], [0u8; 64]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for i in 0..2 {
            while let Some(t) = s[i].poll_transmit() {
                tx[i].send_to(t.payload(), dst[i]).await.unwrap();
            }
        }
        if s.iter()
            .all(|x| x.state() == State::Up && !x.poll_in_progress())
        {
            break;
        }
        assert!(Instant::now() < deadline, "not Up in 10 s: {s:?}");
        let wake = s
            .iter()
            .filter_map(|x| x.poll_timeout())
            .min()
            .map(Instant::from_std)
            .unwrap_or(deadline);
        tokio::select! {
            r = rx[0].recv(&mut b0) => {
                let r = r.unwrap();
                ttls.push(r.ttl);
                srcs.push(r.src);
                s[0].handle_packet(Instant::now().into_std(), &b0[..r.len], r.ttl).unwrap();
            }
            r = rx[1].recv(&mut b1) => {
                let r = r.unwrap();
                ttls.push(r.ttl);
                srcs.push(r.src);
                s[1].handle_packet(Instant::now().into_std(), &b1[..r.len], r.ttl).unwrap();
            }
            _ = tokio::time::sleep_until(wake) => {
                let now = Instant::now().into_std();
                for x in s.iter_mut() {
                    x.handle_timeout(now);
                }
            }
        }
    }
    assert!(ttls.len() >= 4, "{ttls:?}");
    assert!(ttls.iter().all(|&t| t == 255), "{ttls:?}");
    assert!(
        srcs.iter().all(|a| encap::source_port_ok(a.port())),
        "{srcs:?}"
    );
    for x in &s {
        assert_eq!(x.transmit_interval(), Some(Duration::from_millis(50)));
    }
}

#[tokio::test]
async fn sessions_come_up_over_ipv4_loopback() {
    come_up(IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
}

#[tokio::test]
async fn sessions_come_up_over_ipv6_loopback() {
    if BfdSocket::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0)).is_err() {
        eprintln!("SKIP: no IPv6 loopback");
        return;
    }
    come_up(IpAddr::V6(Ipv6Addr::LOCALHOST)).await;
}
