//! CPU cost of a full IKEv2 handshake (IKE_SA_INIT + IKE_AUTH with the first CHILD SA),
//! initiator and responder together, in memory: key generation, Diffie-Hellman, key
//! derivation, PSK AUTH, SK payload protection and both state machines. Also a CHILD SA
//! rekey with PFS on an established pair.
//!
//! `cargo bench -p ikev2 --bench handshake`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use ikev2::crypto::{Encr, EspSuite, Group, IkeSuite, Integ};
use ikev2::wire::IdPayload;
use ikev2::{Endpoint, EndpointConfig, Event, PeerConfig, PeerId};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn cfg(local: &str, remote: &str, ike: IkeSuite, esp: EspSuite) -> EndpointConfig {
    let mut pc = PeerConfig::new(
        local.parse().unwrap(),
        remote.parse().unwrap(),
        IdPayload::fqdn(local),
        IdPayload::fqdn(remote),
        b"benchmark pre-shared key",
    );
    pc.ike_proposals = vec![ike];
    pc.esp_proposals = vec![esp];
    EndpointConfig::new(vec![pc])
}

/// Moves datagrams between the two endpoints until both are quiet; returns the number
/// of CHILD SA keys events seen.
fn exchange(a: &mut Endpoint<StdRng>, b: &mut Endpoint<StdRng>, now: Instant) -> usize {
    let mut installed = 0;
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit() {
            b.handle_datagram(now, t.remote, t.local, &t.payload);
            moved = true;
        }
        while let Some(t) = b.poll_transmit() {
            a.handle_datagram(now, t.remote, t.local, &t.payload);
            moved = true;
        }
        for e in std::iter::from_fn(|| a.poll_event()).chain(std::iter::from_fn(|| b.poll_event()))
        {
            if matches!(
                e,
                Event::ChildSaInstalled { .. } | Event::ChildSaRekeyed { .. }
            ) {
                installed += 1;
            }
        }
        if !moved {
            return installed;
        }
    }
}

fn pair(ike: IkeSuite, esp: EspSuite, seed: u64) -> (Endpoint<StdRng>, Endpoint<StdRng>) {
    (
        Endpoint::new(
            cfg("192.0.2.1", "192.0.2.2", ike, esp),
            StdRng::seed_from_u64(seed),
        ),
        Endpoint::new(
            cfg("192.0.2.2", "192.0.2.1", ike, esp),
            StdRng::seed_from_u64(seed + 1),
        ),
    )
}

fn bench(c: &mut Criterion) {
    let suites = [
        (
            "aes128gcm16-prfsha256-x25519",
            IkeSuite::aes128gcm16_prfsha256_x25519(),
            EspSuite {
                encr: Encr::AesGcm16_128,
                integ: None,
                esn: false,
                pfs: Some(Group::Curve25519),
            },
        ),
        (
            "aes128-sha256-ecp256",
            IkeSuite::aes128_sha256_ecp256(),
            EspSuite {
                encr: Encr::AesCbc128,
                integ: Some(Integ::HmacSha256_128),
                esn: false,
                pfs: Some(Group::Ecp256),
            },
        ),
    ];
    for (name, ike, esp) in suites {
        let mut seed = 0u64;
        c.bench_function(&format!("handshake/{name}"), |bn| {
            bn.iter(|| {
                seed += 2;
                let (mut a, mut b) = pair(ike, esp, seed);
                let now = Instant::now();
                a.initiate(now, PeerId(0)).unwrap();
                let n = exchange(&mut a, &mut b, now);
                assert_eq!(n, 2, "both sides installed the CHILD SA");
                black_box((a, b))
            })
        });
        let (mut a, mut b) = pair(ike, esp, 99);
        let now = Instant::now();
        a.initiate(now, PeerId(0)).unwrap();
        exchange(&mut a, &mut b, now);
        c.bench_function(&format!("child_rekey_pfs/{name}"), |bn| {
            bn.iter(|| {
                let sa = a.established(PeerId(0))[0];
                let spi = a.child_sas(sa)[0];
                a.rekey_child(now, spi).unwrap();
                let n = exchange(&mut a, &mut b, now);
                assert_eq!(n, 2);
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
