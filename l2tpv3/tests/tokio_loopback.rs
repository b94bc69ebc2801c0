//! The `tokio` adapter over real UDP sockets on loopback: two endpoints behind
//! `UdpFramed<L2tpUdpCodec>` bring up a control connection and a session, carry
//! one Ethernet frame in each direction (encapsulated in place, sent from the
//! caller's buffer, received as a `Frame::Data` and checked without a copy), and
//! close.
#![cfg(feature = "tokio")]

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use l2tpv3::tokio_codec::{Frame, L2tpUdpCodec};
use l2tpv3::{Config, Endpoint, Event, MAX_DATA_HEADER_LEN, SessionRequest};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::net::UdpSocket;
use tokio_util::udp::UdpFramed;

type Ep = Endpoint<SocketAddr, StdRng>;
type Sock = UdpFramed<L2tpUdpCodec>;

async fn flush(ep: &mut Ep, sock: &mut Sock) {
    while let Some(t) = ep.poll_transmit() {
        sock.send((t.contents, t.destination)).await.unwrap();
    }
}

/// Receives one datagram on `sock` and hands it to `ep`; returns the payload of a
/// data packet it accepted.
async fn receive(ep: &mut Ep, sock: &mut Sock) -> Option<Vec<u8>> {
    let (frame, from) = tokio::time::timeout(Duration::from_secs(5), sock.next())
        .await
        .expect("a datagram within 5 s")
        .expect("stream open")
        .expect("no socket error");
    let now = std::time::Instant::now();
    match frame {
        Frame::Control(bytes) => {
            assert!(ep.handle_datagram(now, from, &bytes).is_none());
            None
        }
        // The codec told data from control already: the data-only entry point.
        Frame::Data(bytes) => ep
            .handle_data(&from, &bytes)
            .ok()
            .map(|d| d.payload.to_vec()),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn endpoints_over_udp_framed_on_loopback() {
    let mut sa = UdpFramed::new(UdpSocket::bind("127.0.0.1:0").await.unwrap(), L2tpUdpCodec);
    let mut sb = UdpFramed::new(UdpSocket::bind("127.0.0.1:0").await.unwrap(), L2tpUdpCodec);
    let (a_addr, b_addr) = (
        sa.get_ref().local_addr().unwrap(),
        sb.get_ref().local_addr().unwrap(),
    );
    let mut cfg = Config::new("a", 1);
    cfg.secret = Some(b"loopback".to_vec());
    let mut a = Endpoint::new(cfg.clone(), StdRng::seed_from_u64(1));
    cfg.host_name = b"b".to_vec();
    let mut b = Endpoint::new(cfg, StdRng::seed_from_u64(2));
    let now = std::time::Instant::now();
    let ccid = a.connect(now, b_addr).unwrap();
    let sid = a
        .open_session(now, ccid, SessionRequest::ethernet("pw"))
        .unwrap();
    flush(&mut a, &mut sa).await;
    // Lock step: SCCRQ, SCCRP, SCCCN + ICRQ, ICRP, ICCN, and the closing ZLB.
    let (mut a_up, mut b_up) = (None, false);
    for _ in 0..16 {
        if a_up.is_some() && b_up {
            break;
        }
        receive(&mut b, &mut sb).await;
        flush(&mut b, &mut sb).await;
        while let Some(e) = b.poll_event() {
            b_up |= matches!(e, Event::SessionUp { .. });
        }
        if b_up && a_up.is_some() {
            break;
        }
        receive(&mut a, &mut sa).await;
        flush(&mut a, &mut sa).await;
        while let Some(e) = a.poll_event() {
            if let Event::SessionUp {
                session_id,
                remote_session_id,
                ..
            } = e
                && session_id == sid
            {
                a_up = Some(remote_session_id);
            }
        }
    }
    let b_sid = a_up.expect("A's session up");
    // B may still be waiting for the ICCN: let it arrive.
    while !b_up {
        receive(&mut b, &mut sb).await;
        flush(&mut b, &mut sb).await;
        b_up = std::iter::from_fn(|| b.poll_event()).any(|e| matches!(e, Event::SessionUp { .. }));
    }

    // A to B: the frame is read behind headroom and sent from the same buffer.
    let mut buf = vec![0u8; MAX_DATA_HEADER_LEN + 60];
    buf[MAX_DATA_HEADER_LEN..].fill(0xa5);
    let t = a.encapsulate(sid, &mut buf, MAX_DATA_HEADER_LEN).unwrap();
    assert_eq!(*t.destination, b_addr);
    sa.send((t.contents, *t.destination)).await.unwrap();
    // Acknowledgements (ZLBs) may still be in flight; the frame comes after them.
    let mut got = None;
    for _ in 0..4 {
        if let Some(p) = receive(&mut b, &mut sb).await {
            got = Some(p);
            break;
        }
    }
    assert_eq!(got.as_deref(), Some(&[0xa5; 60][..]));

    // B to A.
    let mut buf = vec![0u8; MAX_DATA_HEADER_LEN + 42];
    buf[MAX_DATA_HEADER_LEN..].fill(0x5a);
    let t = b.encapsulate(b_sid, &mut buf, MAX_DATA_HEADER_LEN).unwrap();
    assert_eq!(*t.destination, a_addr);
    sb.send((t.contents, *t.destination)).await.unwrap();
    let mut got = None;
    for _ in 0..4 {
        if let Some(p) = receive(&mut a, &mut sa).await {
            got = Some(p);
            break;
        }
    }
    assert_eq!(got.as_deref(), Some(&[0x5a; 42][..]));
    assert_eq!(a.stats(), b.stats(), "no drops on either side");
}
