//! Seal + open of 1400-byte packets per suite and backend, beside the bare primitive
//! (AEAD seal + open, or CBC encrypt + HMAC sign + HMAC verify + CBC decrypt) over the
//! same byte counts in the same run. The ratio esp/primitive is the ESP overhead.
//!
//! cargo bench -p ipsec-lite --features rustcrypto --bench esp
//! python3 ipsec-lite/scripts/bench_ratio.py $CARGO_TARGET_DIR/criterion

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ipsec_lite::unstable::esp;
use ipsec_lite::unstable::suite::{self, AeadAlgorithm, MacAlgorithm};
use ipsec_lite::{Backend, Suite};
use ipsec_lite::{Direction, SaParams, SecurityAssociation};

const LEN: usize = 1400;

fn params(suite: Suite, direction: Direction) -> SaParams {
    let mut p = SaParams::new(
        0x4242,
        direction,
        suite,
        (0..suite.enc_key_len() as u8).collect(),
        (0..suite.auth_key_len() as u8).collect(),
    );
    p.esn = true;
    p
}

/// The ratio measured robustly on a shared machine: many short rounds, each timing a
/// batch of ESP operations and then a batch of primitive operations, so load changes
/// hit both alike; prints the median (and quartiles) of the per-round ratios.
fn interleaved(
    suite: Suite,
    backend: Backend,
    esp_op: &mut dyn FnMut(),
    prim_op: &mut dyn FnMut(),
) {
    const ROUNDS: usize = 301;
    const BATCH: usize = 64;
    let mut ratios = Vec::with_capacity(ROUNDS);
    let mut esp_t = Vec::with_capacity(ROUNDS);
    let mut prim_t = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..BATCH {
            esp_op();
        }
        let e = t.elapsed();
        let t = Instant::now();
        for _ in 0..BATCH {
            prim_op();
        }
        let p = t.elapsed();
        esp_t.push(e);
        prim_t.push(p);
        ratios.push(e.as_secs_f64() / p.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    esp_t.sort();
    prim_t.sort();
    // Throughput from the median round, which preemption by other processes spares.
    let gbps = |d: Duration| (BATCH * LEN) as f64 / d.as_secs_f64() / 1e9;
    println!(
        "interleaved {:>16}/{:<10} esp {:6.3} GB/s  primitive {:6.3} GB/s  ratio median {:.3} (p25 {:.3}, p75 {:.3})",
        suite.name(),
        backend.name(),
        gbps(esp_t[ROUNDS / 2]),
        gbps(prim_t[ROUNDS / 2]),
        ratios[ROUNDS / 2],
        ratios[ROUNDS / 4],
        ratios[3 * ROUNDS / 4],
    );
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    for &backend in Backend::available() {
        for suite in Suite::ALL {
            let mut g = c.benchmark_group(format!("{}/{}", suite.name(), backend.name()));
            g.throughput(Throughput::Bytes(LEN as u64));
            g.measurement_time(Duration::from_secs(2));
            g.warm_up_time(Duration::from_millis(500));
            g.sample_size(20);

            // ESP: seal then open through two SAs, in one reused buffer.
            let mut tx =
                SecurityAssociation::new(now, &params(suite, Direction::Outbound), backend)
                    .unwrap();
            let mut rx =
                SecurityAssociation::new(now, &params(suite, Direction::Inbound), backend).unwrap();
            let head = tx.headroom();
            let mut buf = vec![0x5au8; head + LEN + esp::max_tailroom(suite)];
            let mut esp_op = || {
                let pkt = tx.seal(now, &mut buf, head..head + LEN, 17).unwrap();
                let got = rx.open(now, pkt).unwrap();
                black_box(got.payload.len());
            };
            g.bench_function("esp_seal_open", |b| b.iter(&mut esp_op));

            // The bare primitive over the same lengths.
            let ct_len = LEN + esp::pad_len(suite, LEN) + esp::TRAILER_LEN;
            let mut data = vec![0x5au8; head + ct_len];
            if suite.is_aead() {
                let alg = if suite == Suite::ChaCha20Poly1305 {
                    AeadAlgorithm::ChaCha20Poly1305
                } else {
                    AeadAlgorithm::AesGcm
                };
                let key = params(suite, Direction::Outbound).enc_key.clone();
                let aead = suite::aead(backend, alg, &key[..key.len() - 4]).unwrap();
                let nonce = [7u8; 12];
                let aad = [1u8; 12];
                let mut tag = [0u8; 16];
                let mut prim_op = || {
                    aead.seal_in_place(&nonce, &aad, &mut data[head..], &mut tag)
                        .unwrap();
                    aead.open_in_place(&nonce, &aad, &mut data[head..], &tag)
                        .unwrap();
                };
                g.bench_function("primitive", |b| b.iter(&mut prim_op));
                interleaved(suite, backend, &mut esp_op, &mut prim_op);
            } else {
                let p = params(suite, Direction::Outbound);
                let cbc = suite::cbc(backend, &p.enc_key).unwrap();
                let alg = if p.auth_key.len() == 20 {
                    MacAlgorithm::Sha1
                } else {
                    MacAlgorithm::Sha256
                };
                let mac = suite::mac(backend, alg, &p.auth_key).unwrap();
                let iv = [3u8; 16];
                let mut icv = vec![0u8; suite.icv_len()];
                let hi = [0u8; 4];
                let mut prim_op = || {
                    cbc.encrypt(&iv, &mut data[head..]).unwrap();
                    mac.sign(&[&data, &hi], &mut icv).unwrap();
                    mac.verify(&[&data, &hi], &icv).unwrap();
                    cbc.decrypt(&iv, &mut data[head..]).unwrap();
                };
                g.bench_function("primitive", |b| b.iter(&mut prim_op));
                interleaved(suite, backend, &mut esp_op, &mut prim_op);
            }
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
