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
use ipsec_lite::esp;
use ipsec_lite::sa::{Direction, Lifetimes, SaParams, SecurityAssociation};
use ipsec_lite::suite::{AeadAlgorithm, Backend, MacAlgorithm, Suite};

const LEN: usize = 1400;

fn params(suite: Suite, direction: Direction) -> SaParams {
    SaParams {
        spi: 0x4242,
        direction,
        suite,
        enc_key: (0..suite.enc_key_len() as u8).collect(),
        auth_key: (0..suite.auth_key_len() as u8).collect(),
        esn: true,
        lifetimes: Lifetimes::default(),
    }
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
            g.bench_function("esp_seal_open", |b| {
                b.iter(|| {
                    let pkt = tx.seal(now, &mut buf, head..head + LEN, 17).unwrap();
                    let got = rx.open(now, pkt).unwrap();
                    black_box(got.payload.len());
                })
            });

            // The bare primitive over the same lengths.
            let ct_len = LEN + esp::pad_len(suite, LEN) + esp::TRAILER_LEN;
            let mut data = vec![0x5au8; head + ct_len];
            if suite.is_aead() {
                let alg = if suite == Suite::ChaCha20Poly1305 {
                    AeadAlgorithm::ChaCha20Poly1305
                } else {
                    AeadAlgorithm::AesGcm
                };
                let key = params(suite, Direction::Outbound).enc_key;
                let aead = backend.aead(alg, &key[..key.len() - 4]).unwrap();
                let nonce = [7u8; 12];
                let aad = [1u8; 12];
                let mut tag = [0u8; 16];
                g.bench_function("primitive", |b| {
                    b.iter(|| {
                        aead.seal_in_place(&nonce, &aad, &mut data[head..], &mut tag)
                            .unwrap();
                        aead.open_in_place(&nonce, &aad, &mut data[head..], &tag)
                            .unwrap();
                    })
                });
            } else {
                let p = params(suite, Direction::Outbound);
                let cbc = backend.cbc(&p.enc_key).unwrap();
                let alg = if p.auth_key.len() == 20 {
                    MacAlgorithm::Sha1
                } else {
                    MacAlgorithm::Sha256
                };
                let mac = backend.mac(alg, &p.auth_key).unwrap();
                let iv = [3u8; 16];
                let mut icv = vec![0u8; suite.icv_len()];
                let hi = [0u8; 4];
                g.bench_function("primitive", |b| {
                    b.iter(|| {
                        cbc.encrypt(&iv, &mut data[head..]).unwrap();
                        mac.sign(&[&data, &hi], &mut icv).unwrap();
                        mac.verify(&[&data, &hi], &icv).unwrap();
                        cbc.decrypt(&iv, &mut data[head..]).unwrap();
                    })
                });
            }
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
