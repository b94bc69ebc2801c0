//! A single-hop BFD peer on a real interface, for interop scripts
//! (`bfd/scripts/frr_bfd_interop.sh` runs it against FRRouting's bfdd).
//!
//! One [`bfd::Session`] on [`bfd::tokio_udp::BfdSocket`]s: a listener on port 3784 and a
//! sender on a source port from 49152-65535. Thin on purpose: the protocol is in the
//! crate. It prints one line per thing a script may wait for:
//!
//! * `PARAMS ...` once: what it was started with;
//! * `STATE <to> from=<from> diag=<diag> t_ms=<unix ms>` per state change;
//! * `TIMERS tx_ms=.. detect_ms=..` whenever the transmit interval or detection time in
//!   use changes;
//! * `REMOTE state=.. diag=.. tx_ms=.. rx_ms=.. mult=..` whenever what the peer
//!   advertises changes;
//! * `POLL complete` when a Poll Sequence ends with the peer's Final;
//! * `DROP <reason>` per refused packet; `OK <command>` / `ERR <reason>` per command.
//!
//! Commands on stdin, one per line: `timers TX_MS RX_MS MULT` (intervals by a Poll
//! Sequence while Up, the multiplier with the next packet), `admindown`, `adminup`,
//! `stats`, `quit`.
//!
//! ```text
//! cargo run -p bfd --features tokio --example bfd_peer -- \
//!     --local fe80::2 --interface veth0 --peer fe80::1 --tx-ms 300 --rx-ms 300 --mult 3
//! ```

use std::error::Error;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bfd::tokio_udp::BfdSocket;
use bfd::{AuthConfig, AuthType, Config, ControlPacket, Event, Session, encap};
use clap::{Parser, ValueEnum};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AuthArg {
    None,
    SimplePassword,
    KeyedMd5,
    MeticulousKeyedMd5,
    KeyedSha1,
    MeticulousKeyedSha1,
}

/// A single-hop BFD peer driven from stdin (see the example's source for its output).
#[derive(Debug, Parser)]
struct Args {
    /// Local address to listen on (port 3784) and send from.
    #[arg(long)]
    local: IpAddr,
    /// The peer's address.
    #[arg(long)]
    peer: IpAddr,
    /// Interface: the scope of IPv6 link-local addresses.
    #[arg(long)]
    interface: Option<String>,
    /// Desired Min TX interval, milliseconds.
    #[arg(long, default_value_t = 300)]
    tx_ms: u64,
    /// Required Min RX interval, milliseconds.
    #[arg(long, default_value_t = 300)]
    rx_ms: u64,
    /// Detect Mult.
    #[arg(long, default_value_t = 3)]
    mult: u8,
    /// Authentication type.
    #[arg(long, value_enum, default_value = "none")]
    auth: AuthArg,
    /// Authentication key ID.
    #[arg(long, default_value_t = 1)]
    key_id: u8,
    /// Authentication key (or password).
    #[arg(long, default_value = "")]
    key: String,
    /// RNG seed (discriminator, jitter, source port); default: from the clock and pid.
    #[arg(long)]
    seed: Option<u64>,
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_string(), |d| d.as_millis().to_string())
}

fn sockaddr(ip: IpAddr, port: u16, scope: u32) -> SocketAddr {
    match ip {
        IpAddr::V6(v6) if v6.is_unicast_link_local() => {
            SocketAddrV6::new(v6, port, 0, scope).into()
        }
        _ => SocketAddr::new(ip, port),
    }
}

/// What was last printed, so each line says something new.
#[derive(Default, PartialEq)]
struct Shown {
    timers: Option<(String, String)>,
    remote: Option<String>,
}

fn report(session: &mut Session<StdRng>, shown: &mut Shown) {
    while let Some(ev) = session.poll_event() {
        match ev {
            Event::StateChanged { from, to, diag } => println!(
                "STATE {to:?} from={from:?} diag={diag:?} t_ms={}",
                unix_ms()
            ),
            Event::PollComplete => println!("POLL complete"),
            other => println!("EVENT {other:?}"),
        }
    }
    let timers = (
        ms(session.transmit_interval()),
        ms(session.detection_time()),
    );
    if shown.timers.as_ref() != Some(&timers) {
        println!("TIMERS tx_ms={} detect_ms={}", timers.0, timers.1);
        shown.timers = Some(timers);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let scope = match &args.interface {
        Some(name) => nix::net::if_::if_nametoindex(name.as_str())?,
        None => 0,
    };
    let seed = args.seed.unwrap_or_else(|| {
        u64::try_from(unix_ms() % u128::from(u64::MAX)).unwrap_or(0)
            ^ (u64::from(std::process::id()) << 32)
    });
    let mut rng = StdRng::seed_from_u64(seed);
    let mut config = Config::new(
        Duration::from_millis(args.tx_ms),
        Duration::from_millis(args.rx_ms),
        args.mult,
    );
    let auth_type = match args.auth {
        AuthArg::None => None,
        AuthArg::SimplePassword => Some(AuthType::SimplePassword),
        AuthArg::KeyedMd5 => Some(AuthType::KeyedMd5),
        AuthArg::MeticulousKeyedMd5 => Some(AuthType::MeticulousKeyedMd5),
        AuthArg::KeyedSha1 => Some(AuthType::KeyedSha1),
        AuthArg::MeticulousKeyedSha1 => Some(AuthType::MeticulousKeyedSha1),
    };
    if let Some(t) = auth_type {
        config = config.with_auth(AuthConfig::new(t, args.key_id, args.key.as_bytes()));
    }

    let listener = BfdSocket::bind(sockaddr(args.local, encap::CONTROL_PORT, scope))?;
    let mut sender = None;
    for _ in 0..100 {
        let port = encap::random_source_port(&mut rng);
        if let Ok(s) = BfdSocket::bind(sockaddr(args.local, port, scope)) {
            sender = Some(s);
            break;
        }
    }
    let sender = sender.ok_or("no free source port in 49152-65535")?;
    let dst = sockaddr(args.peer, encap::CONTROL_PORT, scope);
    let mut session = Session::new(Instant::now().into_std(), config, rng)?;
    println!(
        "PARAMS local={} src_port={} peer={dst} tx_ms={} rx_ms={} mult={} auth={:?} discr={:#x}",
        listener.local_addr()?,
        sender.local_addr()?.port(),
        args.tx_ms,
        args.rx_ms,
        args.mult,
        args.auth,
        session.local_discriminator()
    );

    let mut shown = Shown::default();
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut buf = [0u8; 64];
    loop {
        while let Some(t) = session.poll_transmit() {
            sender.send_to(t.payload(), dst).await?;
        }
        report(&mut session, &mut shown);
        // A session always has a timer armed; an hour stands in for "none".
        let wake = session.poll_timeout().map_or_else(
            || Instant::now() + Duration::from_secs(3600),
            Instant::from_std,
        );
        tokio::select! {
            r = listener.recv(&mut buf) => {
                let r = r?;
                if r.src.ip() != args.peer {
                    println!("DROP from {} (not the peer)", r.src);
                    continue;
                }
                let bytes = &buf[..r.len];
                if let Ok(p) = ControlPacket::parse(bytes) {
                    let remote = format!(
                        "state={:?} diag={:?} tx_ms={} rx_ms={} mult={}",
                        p.state,
                        p.diag,
                        p.desired_min_tx_us / 1000,
                        p.required_min_rx_us / 1000,
                        p.detect_mult
                    );
                    if shown.remote.as_ref() != Some(&remote) {
                        println!("REMOTE {remote}");
                        shown.remote = Some(remote);
                    }
                }
                if let Err(e) = session.handle_packet(Instant::now().into_std(), bytes, r.ttl) {
                    println!("DROP {e}");
                }
            }
            line = stdin.next_line(), if stdin_open => {
                let Some(line) = line? else {
                    stdin_open = false;
                    continue;
                };
                let now = Instant::now().into_std();
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["timers", tx, rx, mult] => {
                        match (tx.parse::<u64>(), rx.parse::<u64>(), mult.parse::<u8>()) {
                            (Ok(tx), Ok(rx), Ok(m)) => {
                                let r = session
                                    .set_detect_mult(m)
                                    .and_then(|()| session.set_timers(
                                        now,
                                        Duration::from_millis(tx),
                                        Duration::from_millis(rx),
                                    ));
                                match r {
                                    Ok(()) => println!("OK timers tx_ms={tx} rx_ms={rx} mult={m}"),
                                    Err(e) => println!("ERR {e}"),
                                }
                            }
                            _ => println!("ERR usage: timers TX_MS RX_MS MULT"),
                        }
                    }
                    ["admindown"] => {
                        session.admin_down(now);
                        println!("OK admindown");
                    }
                    ["adminup"] => {
                        session.admin_up(now);
                        println!("OK adminup");
                    }
                    ["stats"] => println!("STATS {:?}", session.stats()),
                    ["quit"] => break,
                    [] => {}
                    _ => println!("ERR unknown command: {line}"),
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                session.handle_timeout(Instant::now().into_std());
            }
        }
    }
    println!("BYE");
    Ok(())
}
