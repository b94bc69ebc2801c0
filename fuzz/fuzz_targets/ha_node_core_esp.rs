//! The ha_node core's underlay input with ESP on: datagrams from a peer with ESP
//! (sealed by a counterpart SA so that they open and reach L2TPv3, or raw), from a
//! peer without ESP, on either socket, from unknown addresses, interleaved with
//! timeouts, frames and a real handshake's messages. Never panics; the output queue
//! and the installed routes stay bounded; nothing goes out to an unknown address.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use ha_node::core::{BfdSettings, Core, CoreConfig, L2tpTimers, OspfTimers, Output, PeerSpec, Via};
use std::sync::Arc;

use ha_node::esp::{EspConfig, EspPeer};
use ha_node::security::{RouteFilter, Secret};
use libfuzzer_sys::fuzz_target;

// AES-CBC-128 + HMAC-SHA-256 (the only kind static keys may use): 16 + 32 bytes.
const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f";
const K2: &str = "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f";

#[derive(Arbitrary, Debug)]
enum Op {
    /// An L2TPv3 message sealed by the ESP peer's outbound SA.
    Sealed(Vec<u8>),
    /// Raw bytes from a peer (0: ESP peer, 1: clear peer, else unknown) on a socket.
    Raw { from: u8, esp_socket: bool, bytes: Vec<u8> },
    /// One of the genuine messages seen so far, from the ESP peer (resealed).
    Replay(u8),
    /// Time passes, then the timers run.
    Advance(u16),
    /// A frame from the host on an interface.
    Frame { ifindex: u8, bytes: Vec<u8> },
}

fn spec(addr: u8, esp: Option<Arc<EspPeer>>, initiate: bool) -> PeerSpec<u8> {
    PeerSpec {
        addr,
        name: format!("p{addr}"),
        initiate,
        esp,
        bfd: BfdSettings::default(),
        ospf_auth_frr_compat: false,
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let t0 = Instant::now();
    let suite = ipsec_lite::Suite::AesCbc128HmacSha256;
    let esp_cfg = EspConfig {
        spi_out: 0x100,
        spi_in: 0x200,
        suite,
        key_out: Secret::from(K1),
        key_in: Secret::from(K2),
    };
    let peer_side = EspConfig {
        spi_out: 0x200,
        spi_in: 0x100,
        suite,
        key_out: Secret::from(K2),
        key_in: Secret::from(K1),
    };
    let ours = [192, 0, 2, 1].into();
    let theirs = [192, 0, 2, 2].into();
    let Ok(esp) = EspPeer::with_static(t0, theirs, &esp_cfg) else {
        return;
    };
    let cfg = CoreConfig {
        name: "fuzz".into(),
        router_id: Ipv4Addr::new(1, 1, 1, 1),
        peers: vec![spec(0, Some(Arc::new(esp)), true), spec(1, None, false)],
        ospf: OspfTimers::default(),
        l2tp: L2tpTimers::default(),
        loopback: (1, vec![ospfv3::Ipv6Prefix::new(Ipv6Addr::LOCALHOST, 128)]),
        policy: None,
        l2tp_secret: Some(Secret::from("fuzz-secret")),
        ospf_auth: None,
        routes: RouteFilter::default(),
        seed: Some(1),
    };
    let Ok(mut core) = Core::new(t0, cfg) else {
        return;
    };
    let Ok(peer_tx) = EspPeer::with_static(t0, ours, &peer_side) else {
        return;
    };
    let mut now = t0;
    core.start(now);
    let mut seen: Vec<Vec<u8>> = Vec::new();
    for op in ops.into_iter().take(256) {
        match op {
            Op::Sealed(msg) => {
                if let Ok(mut d) = peer_tx.seal_message(now, &msg) {
                    seen.push(msg);
                    core.handle_underlay_via(now, 0, Via::Esp, &mut d);
                }
            }
            Op::Raw { from, esp_socket, mut bytes } => {
                let via = if esp_socket { Via::Esp } else { Via::Clear };
                core.handle_underlay_via(now, from, via, &mut bytes);
            }
            Op::Replay(i) => {
                if let Some(msg) = seen.get(usize::from(i) % seen.len().max(1)).cloned()
                    && let Ok(mut d) = peer_tx.seal_message(now, &msg)
                {
                    core.handle_underlay_via(now, 0, Via::Esp, &mut d);
                }
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                core.handle_timeout(now);
            }
            Op::Frame { ifindex, bytes } => {
                core.handle_frame(now, u32::from(ifindex), &bytes);
            }
        }
        let mut n = 0usize;
        while let Some(o) = core.poll_output() {
            n += 1;
            assert!(n < 100_000, "unbounded output");
            match o {
                Output::Underlay { peer, datagram } => {
                    assert!(peer <= 1, "sent to unknown address {peer}");
                    // What we send the ESP peer is ESP it can open; keep the L2TPv3
                    // message bytes the fuzzer may replay as a peer would answer.
                    if peer == 1 {
                        seen.push(datagram);
                    }
                }
                Output::PseudowireUp { session_id, .. } => {
                    core.attach(now, session_id, 10, "fe80::1".parse().unwrap());
                }
                _ => {}
            }
        }
        if let Some(t) = core.poll_timeout() {
            assert!(t >= t0);
        }
    }
    assert!(core.installed_routes() <= ha_node::security::DEFAULT_MAX_ROUTES);
});
