//! `NattCodec` (feature `tokio`) with `UdpFramed` over real UDP sockets on 127.0.0.1:
//! an ESP packet sealed and opened by a real SA pair, an IKE message behind the non-ESP
//! marker, a keepalive, the bytes on the wire, and malformed datagrams.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use ipsec_lite::{
    Backend, Direction, NattCodec, NattCodecError, NattDatagram, NattError, SaParams,
    SecurityAssociation, Suite,
};
use tokio::net::UdpSocket;
use tokio_util::udp::UdpFramed;

const WAIT: Duration = Duration::from_secs(5);

async fn framed() -> (UdpFramed<NattCodec>, SocketAddr) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    (UdpFramed::new(sock, NattCodec::new()), addr)
}

async fn next(f: &mut UdpFramed<NattCodec>) -> Result<(NattDatagram, SocketAddr), NattCodecError> {
    tokio::time::timeout(WAIT, f.next())
        .await
        .expect("a datagram within 5 s")
        .expect("the stream goes on")
}

fn sa_pair(now: Instant) -> (SecurityAssociation, SecurityAssociation) {
    let params = |direction| {
        let mut p = SaParams::new(0x1000, direction, Suite::AesGcm128, vec![7; 20], vec![]);
        p.esn = true;
        p
    };
    let tx = SecurityAssociation::new(now, &params(Direction::Outbound), Backend::default());
    let rx = SecurityAssociation::new(now, &params(Direction::Inbound), Backend::default());
    (tx.unwrap(), rx.unwrap())
}

/// An IKE_SA_INIT-like header: initiator SPI, zero responder SPI, next payload,
/// version 2.0, exchange 34, flags, message ID 0, length 28.
fn ike_message() -> Vec<u8> {
    let mut m = vec![
        1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 34, 0x08,
    ];
    m.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 28]);
    m
}

#[tokio::test]
async fn esp_ike_and_keepalive_between_two_framed_sockets() {
    let now = Instant::now();
    let (mut tx_sa, mut rx_sa) = sa_pair(now);
    let (mut a, a_addr) = framed().await;
    let (mut b, b_addr) = framed().await;

    // ESP: an L2TPv3-over-UDP payload sealed by the outbound SA.
    let payload = b"L2TPv3 data message over ESP-in-UDP";
    let head = tx_sa.headroom();
    let mut buf = vec![0u8; head + payload.len() + tx_sa.tailroom(payload.len())];
    buf[head..head + payload.len()].copy_from_slice(payload);
    let esp = tx_sa
        .seal(now, &mut buf, head..head + payload.len(), 17)
        .unwrap();
    a.send((NattDatagram::Esp(&esp[..]), b_addr)).await.unwrap();
    let (got, from) = next(&mut b).await.unwrap();
    assert_eq!(from, a_addr);
    let NattDatagram::Esp(mut esp_in) = got else {
        panic!("expected ESP, got {got:?}")
    };
    let opened = rx_sa.open(now, &mut esp_in).unwrap();
    assert_eq!((opened.spi, opened.next_header), (0x1000, 17));
    assert_eq!(&opened.payload[..], payload);

    // IKE: the marker is added by one codec and removed by the other.
    let ike = ike_message();
    b.send((NattDatagram::Ike(&ike[..]), a_addr)).await.unwrap();
    let (got, from) = next(&mut a).await.unwrap();
    assert_eq!(from, b_addr);
    assert_eq!(got, NattDatagram::Ike(ike[..].into()));

    // Keepalive.
    a.send((NattDatagram::<&[u8]>::Keepalive, b_addr))
        .await
        .unwrap();
    assert_eq!(next(&mut b).await.unwrap().0, NattDatagram::Keepalive);
}

#[tokio::test]
async fn bytes_on_the_wire() {
    let (mut a, _) = framed().await;
    let plain = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = plain.local_addr().unwrap();
    let mut buf = [0u8; 2048];
    let recv = async |buf: &mut [u8]| {
        let (n, _) = tokio::time::timeout(WAIT, plain.recv_from(buf))
            .await
            .unwrap()
            .unwrap();
        buf[..n].to_vec()
    };

    let esp = [0, 0, 0x10, 0, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
    a.send((NattDatagram::Esp(&esp[..]), to)).await.unwrap();
    assert_eq!(recv(&mut buf).await, esp, "ESP as is");

    let ike = ike_message();
    a.send((NattDatagram::Ike(&ike[..]), to)).await.unwrap();
    let wire = recv(&mut buf).await;
    assert_eq!(&wire[..4], &[0, 0, 0, 0], "non-ESP marker");
    assert_eq!(&wire[4..], &ike[..]);

    a.send((NattDatagram::<&[u8]>::Keepalive, to))
        .await
        .unwrap();
    assert_eq!(recv(&mut buf).await, [0xff]);

    // Refused before anything is sent: an "ESP" packet with a zero SPI would arrive
    // as IKE. The socket stays usable.
    let r = a.send((NattDatagram::Esp(&[0u8; 12][..]), to)).await;
    assert!(
        matches!(r, Err(NattCodecError::Unsendable { len: 12, .. })),
        "{r:?}"
    );
    a.send((NattDatagram::<&[u8]>::Keepalive, to))
        .await
        .unwrap();
    assert_eq!(recv(&mut buf).await, [0xff]);
}

#[tokio::test]
async fn malformed_datagrams_are_typed_errors_and_the_stream_goes_on() {
    let (mut b, b_addr) = framed().await;
    let plain = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let esp = [0, 0, 0x10, 0, 0, 0, 0, 2, 1, 2, 3, 4];
    let sent: [&[u8]; 8] = [
        &[],
        &[0x00],
        &[0xff, 0xff],
        &[1, 2, 3],
        &[0, 0, 0],
        &[0, 0, 0, 0, 1],
        &[0xff],
        &esp,
    ];
    for d in sent {
        plain.send_to(d, b_addr).await.unwrap();
    }
    // The empty datagram is skipped by UdpFramed itself.
    for len in [1, 2, 3, 3, 5] {
        let r = next(&mut b).await;
        assert!(
            matches!(r, Err(NattCodecError::Malformed(NattError::Short { len: l })) if l == len),
            "{len} bytes: {r:?}"
        );
    }
    assert_eq!(next(&mut b).await.unwrap().0, NattDatagram::Keepalive);
    assert_eq!(
        next(&mut b).await.unwrap().0,
        NattDatagram::Esp(esp[..].into())
    );
}
