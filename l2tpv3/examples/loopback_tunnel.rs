//! Two L2TPv3 endpoints over real UDP sockets on loopback bring up a control
//! connection (with message authentication) and an Ethernet pseudowire session,
//! pass one Ethernet frame, and tear everything down, printing each step.
//!
//! Run: `cargo run -p l2tpv3 --features tokio --example loopback_tunnel -- [SECRET]`
//! (SECRET defaults to `loopback-secret`; `-` turns authentication off;
//! `L2TP_DIGEST=sha1` uses HMAC-SHA-1, `L2TP_HIDE=1` hides the Remote End ID). Endpoint
//! A listens on 127.0.0.1:1701 and B on 127.0.0.2:1701, so a capture on `lo` with
//! `udp port 1701` sees the whole exchange; `scripts/tshark_loopback.sh` does that
//! and checks the capture with tshark.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use l2tpv3::avp::{ResultCode, result};
use l2tpv3::control::auth::DigestAlgorithm;
use l2tpv3::tokio_codec::{Frame, L2tpUdpCodec};
use l2tpv3::{Config, Endpoint, Event, MAX_DATA_HEADER_LEN, SessionRequest};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::udp::UdpFramed;

type Ep = Endpoint<SocketAddr, StdRng>;
type Sock = UdpFramed<L2tpUdpCodec>;

/// Sends everything an endpoint has queued.
async fn flush(name: &str, ep: &mut Ep, sock: &mut Sock) -> std::io::Result<()> {
    while let Some(t) = ep.poll_transmit() {
        let (to, bytes) = (t.destination, t.contents);
        if let Ok(m) = l2tpv3::ControlMessage::decode(&bytes, l2tpv3::Encapsulation::Udp) {
            let t = m
                .message_type()
                .map_or_else(|| "ZLB".to_string(), |t| t.to_string());
            println!(
                "  {name} -> {to}: {t} (Ns {}, Nr {})",
                m.header.ns, m.header.nr
            );
        }
        sock.send((bytes, to)).await?;
    }
    Ok(())
}

fn events(name: &str, ep: &mut Ep, log: &mut Vec<Event<SocketAddr>>) {
    while let Some(e) = ep.poll_event() {
        println!("{name}: {e:?}");
        log.push(e);
    }
}

/// Two endpoints over real UDP sockets on 127.0.0.1 and 127.0.0.2, port 1701.
#[derive(clap::Parser)]
struct Args {
    /// Shared secret for message authentication; `-` for none.
    #[arg(default_value = "loopback-secret")]
    secret: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let Args { secret } = clap::Parser::parse();
    let secret = (secret != "-").then(|| secret.into_bytes());
    let a_addr: SocketAddr = "127.0.0.1:1701".parse().unwrap();
    let b_addr: SocketAddr = "127.0.0.2:1701".parse().unwrap();
    let mut sa = UdpFramed::new(UdpSocket::bind(a_addr).await?, L2tpUdpCodec);
    let mut sb = UdpFramed::new(UdpSocket::bind(b_addr).await?, L2tpUdpCodec);
    // L2TP_DIGEST=sha1 selects HMAC-SHA-1; L2TP_HIDE=1 hides the Remote End ID.
    let digest = match std::env::var("L2TP_DIGEST").as_deref() {
        Ok("sha1") => DigestAlgorithm::HmacSha1,
        _ => DigestAlgorithm::HmacMd5,
    };
    let hide_avps = std::env::var("L2TP_HIDE").is_ok_and(|v| v == "1");
    let config = |name: &str, id| {
        let mut c = Config::default();
        c.host_name = name.as_bytes().to_vec();
        c.router_id = id;
        c.secret = secret.clone();
        c.digest = digest;
        c.hide_avps = hide_avps;
        c
    };
    // Randomness from the OS-seeded ChaCha; the library itself never reads a clock
    // or the OS RNG.
    let seed = |n| StdRng::seed_from_u64(std::process::id() as u64 ^ n);
    let mut a: Ep = Endpoint::new(config("lcce-a", 0x7f00_0001), seed(1));
    let mut b: Ep = Endpoint::new(config("lcce-b", 0x7f00_0002), seed(2));
    let (mut la, mut lb) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let now = || Instant::now().into_std();

    println!("step 1: A opens a control connection to B (SCCRQ) and asks for an Ethernet session");
    let ccid = a.connect(now(), b_addr).expect("connect");
    let sid = a
        .open_session(now(), ccid, SessionRequest::ethernet("eth0@lcce-b"))
        .expect("session");
    flush("A", &mut a, &mut sa).await?;

    let mut step = 2;
    let mut frame_sent = false;
    let mut closed_session = false;
    let mut closed_connection = false;
    let deadline = start + Duration::from_secs(20);
    loop {
        let wake = [a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .map(Instant::from_std)
            .unwrap_or(deadline)
            .min(deadline);
        tokio::select! {
            Some(Ok((frame, from))) = sa.next() => match frame {
                Frame::Control(bytes) => { a.handle_datagram(now(), from, &bytes); }
                Frame::Data(bytes) => {
                    if let Ok(d) = a.handle_data(&from, &bytes) {
                        println!("A: data for session {:#x}: {} bytes", d.session_id, d.payload.len());
                    }
                }
                Frame::Invalid(e) => println!("A: invalid datagram: {e}"),
                _ => {}
            },
            Some(Ok((frame, from))) = sb.next() => match frame {
                Frame::Control(bytes) => { b.handle_datagram(now(), from, &bytes); }
                Frame::Data(bytes) => {
                    if let Ok(d) = b.handle_data(&from, &bytes) {
                        println!(
                            "B: Ethernet frame on session {:#x}: {} bytes, dst {:02x?}",
                            d.session_id, d.payload.len(), &d.payload[..6]
                        );
                        println!("step {step}: A closes the session (CDN)");
                        step += 1;
                        a.close_session(now(), sid).expect("close session");
                        closed_session = true;
                    }
                }
                Frame::Invalid(e) => println!("B: invalid datagram: {e}"),
                _ => {}
            },
            _ = tokio::time::sleep_until(wake) => {
                a.handle_timeout(now());
                b.handle_timeout(now());
            }
        }
        flush("A", &mut a, &mut sa).await?;
        flush("B", &mut b, &mut sb).await?;
        events("A", &mut a, &mut la);
        events("B", &mut b, &mut lb);

        let b_up = lb.iter().any(|e| matches!(e, Event::SessionUp { .. }));
        let a_up = la.iter().any(|e| matches!(e, Event::SessionUp { .. }));
        if a_up && b_up && !frame_sent {
            println!("step {step}: session up on both sides; A sends an Ethernet frame");
            step += 1;
            // A broadcast ARP request from 02:00:00:00:00:01 for 192.0.2.2.
            let mut eth = vec![0xff; 6];
            eth.extend([0x02, 0, 0, 0, 0, 1, 0x08, 0x06]);
            eth.extend([0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 0, 2, 1]);
            eth.extend([0, 0, 0, 0, 0, 0, 192, 0, 2, 2]);
            // Read behind headroom, encapsulated in place, sent from the same buffer.
            let mut buf = vec![0u8; MAX_DATA_HEADER_LEN];
            buf.extend_from_slice(&eth);
            let pkt = a
                .encapsulate(sid, &mut buf, MAX_DATA_HEADER_LEN)
                .expect("data");
            sa.send((pkt.contents, *pkt.destination)).await?;
            frame_sent = true;
        }
        let b_session_down = lb.iter().any(|e| matches!(e, Event::SessionDown { .. }));
        if closed_session && b_session_down && !closed_connection {
            println!("step {step}: A closes the control connection (StopCCN)");
            step += 1;
            a.close_connection(now(), ccid, ResultCode::new(result::STOPCCN_GENERAL_CLEAR))
                .expect("close");
            flush("A", &mut a, &mut sa).await?;
            closed_connection = true;
        }
        let b_down = lb.iter().any(|e| matches!(e, Event::ConnectionDown { .. }));
        if closed_connection && b_down && a.connection(ccid).is_none_or(|c| c.unacknowledged == 0) {
            println!(
                "step {step}: StopCCN acknowledged; done in {:?}",
                start.elapsed()
            );
            println!("A stats {:?}\nB stats {:?}", a.stats(), b.stats());
            return Ok(());
        }
        if Instant::now() >= deadline {
            eprintln!("timed out");
            std::process::exit(1);
        }
    }
}
