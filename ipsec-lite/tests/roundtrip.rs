//! proptest: seal then open round-trips for every suite and backend, over payload
//! sizes and sequence numbers including the 32-bit wrap with ESN; any single-byte
//! change is refused.

use std::time::Instant;

use ipsec_lite::{Backend, Suite};
use ipsec_lite::{Direction, SaParams, SecurityAssociation};
use proptest::prelude::*;

fn sa(
    suite: Suite,
    dir: Direction,
    esn: bool,
    key_seed: u8,
    backend: Backend,
) -> SecurityAssociation {
    let mut p = SaParams::new(
        0xabcd_0001,
        dir,
        suite,
        (0..suite.enc_key_len())
            .map(|i| key_seed.wrapping_add(i as u8))
            .collect(),
        (0..suite.auth_key_len())
            .map(|i| key_seed ^ i as u8)
            .collect(),
    );
    p.esn = esn;
    SecurityAssociation::new(Instant::now(), &p, backend).unwrap()
}

fn seq_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..1000,
        0xffff_ff00u64..0x1_0000_0100,
        1u64..u64::MAX - 1,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn seal_open_roundtrip(
        suite_i in 0usize..Suite::ALL.len(),
        backend_i in 0usize..2,
        esn in any::<bool>(),
        seq in seq_strategy(),
        payload in proptest::collection::vec(any::<u8>(), 0..1600),
        next_header in any::<u8>(),
        headroom_extra in 0usize..8,
        key_seed in any::<u8>(),
        flip in any::<(usize, u8)>(),
    ) {
        let suite = Suite::ALL[suite_i];
        let backend = Backend::available()[backend_i % Backend::available().len()];
        let seq = if esn { seq } else { seq & 0xffff_ffff | 1 };
        let seq = if !esn && seq == u64::from(u32::MAX) { 7 } else { seq };
        let now = Instant::now();
        let mut tx = sa(suite, Direction::Outbound, esn, key_seed, backend);
        let mut rx = sa(suite, Direction::Inbound, esn, key_seed, backend);
        tx.set_next_seq(seq);
        // The receiver's window sits just below `seq`, as after earlier traffic.
        rx.resume_inbound_at(seq - 1);
        let head = tx.headroom() + headroom_extra;
        let mut buf = vec![0u8; head + payload.len() + tx.tailroom(payload.len())];
        buf[head..head + payload.len()].copy_from_slice(&payload);
        let pkt = tx.seal(now, &mut buf, head..head + payload.len(), next_header).unwrap().to_vec();
        prop_assert_eq!(pkt.len() % 4, 0);

        let mut tampered = pkt.clone();
        let i = flip.0 % tampered.len();
        tampered[i] ^= flip.1.max(1);
        prop_assert!(rx.open(now, &mut tampered).is_err());

        let mut rcv = pkt.clone();
        let got = rx.open(now, &mut rcv).unwrap();
        prop_assert_eq!(&*got.payload, &payload[..]);
        prop_assert_eq!(got.next_header, next_header);
        prop_assert_eq!(got.seq, seq);
        let mut again = pkt.clone();
        prop_assert!(rx.open(now, &mut again).is_err());
    }
}
