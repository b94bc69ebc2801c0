//! Round trips of the codec, and decoding arbitrary bytes never panics.

use bfd::packet::MAX_PASSWORD_LEN;
use bfd::{AuthSection, ControlPacket, Diagnostic, State};
use proptest::prelude::*;

fn auth() -> impl Strategy<Value = Option<AuthSection>> {
    prop_oneof![
        Just(None),
        (
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 1..=MAX_PASSWORD_LEN)
        )
            .prop_map(|(key_id, pw)| {
                let mut password = [0u8; MAX_PASSWORD_LEN];
                password[..pw.len()].copy_from_slice(&pw);
                Some(AuthSection::SimplePassword {
                    key_id,
                    password,
                    len: pw.len() as u8,
                })
            }),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 16]>()).prop_map(
            |(meticulous, key_id, sequence, digest)| Some(AuthSection::Md5 {
                meticulous,
                key_id,
                sequence,
                digest
            })
        ),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 20]>()).prop_map(
            |(meticulous, key_id, sequence, digest)| Some(AuthSection::Sha1 {
                meticulous,
                key_id,
                sequence,
                digest
            })
        ),
    ]
}

prop_compose! {
    fn packet()(
        diag in 0u8..32,
        state in 0u8..4,
        pf in 0u8..3,
        c in any::<bool>(),
        d in any::<bool>(),
        detect_mult in 1u8..,
        my in 1u32..,
        your in any::<u32>(),
        tx in any::<u32>(),
        rx in any::<u32>(),
        echo in any::<u32>(),
        auth in auth(),
    ) -> ControlPacket {
        let state = State::from_wire(state);
        let your = if matches!(state, State::Init | State::Up) { your.max(1) } else { your };
        ControlPacket {
            diag: Diagnostic::from_wire(diag),
            state,
            poll: pf == 1,
            final_: pf == 2,
            control_plane_independent: c,
            demand: d,
            multipoint: false,
            detect_mult,
            my_discriminator: my,
            your_discriminator: your,
            desired_min_tx_us: tx,
            required_min_rx_us: rx,
            required_min_echo_rx_us: echo,
            auth,
        }
    }
}

proptest! {
    #[test]
    fn encode_decode_round_trip(p in packet()) {
        let mut buf = [0u8; 64];
        let n = p.encode(&mut buf).unwrap();
        prop_assert_eq!(n, p.wire_len());
        prop_assert_eq!(usize::from(buf[3]), n);
        prop_assert_eq!(ControlPacket::decode(&buf[..n]).unwrap(), p);
        // A buffer one byte short is refused without writing past it.
        prop_assert!(p.encode(&mut buf[..n - 1]).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_reencode(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = ControlPacket::decode(&bytes);
        if let Ok(p) = ControlPacket::parse(&bytes) {
            let mut buf = [0u8; 64];
            let n = p.encode(&mut buf).unwrap();
            // Without authentication, bytes past 24 that Length covers are ignored
            // (RFC 5880 6.8.6 only sets a minimum); with it the section ends the packet.
            if p.auth.is_some() {
                prop_assert_eq!(n, usize::from(bytes[3]));
            }
            let mut expect = bytes[..n].to_vec();
            expect[3] = n as u8;
            // The reserved byte of a keyed section is sent as zero.
            if matches!(p.auth, Some(AuthSection::Md5 { .. } | AuthSection::Sha1 { .. })) {
                expect[27] = 0;
            }
            prop_assert_eq!(&buf[..n], &expect[..]);
        }
    }

    #[test]
    fn sign_then_verify(p in packet(), key in proptest::collection::vec(any::<u8>(), 1..30)) {
        let mut buf = [0u8; 64];
        let n = p.encode(&mut buf).unwrap();
        let keyed = matches!(p.auth, Some(AuthSection::Md5 { .. } | AuthSection::Sha1 { .. }));
        prop_assert_eq!(bfd::packet::sign(&mut buf[..n], &key), keyed);
        prop_assert_eq!(bfd::packet::verify(&buf[..n], &key), keyed);
        if keyed {
            buf[n - 1] ^= 1;
            prop_assert!(!bfd::packet::verify(&buf[..n], &key));
        }
    }
}
