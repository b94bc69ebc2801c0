//! Health probes: the daemon runs what the failover crate's [`CheckKind`]s describe.
//!
//! One task per check starts a probe every `interval`, bounds it by `timeout`, and
//! reports the outcome with the instant it started; the policy does the counting
//! (rise, fall, staleness). A probe never blocks the event loop.

use std::time::{Duration, Instant};

use anycast_failover::{CheckId, CheckKind, CheckSpec, ProbeOutcome, ProbeResult};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Most bytes of an HTTP response read to find its status line.
const MAX_STATUS_LINE: usize = 1024;

/// Runs one probe of `kind` within `timeout`.
pub async fn probe(kind: &CheckKind, timeout: Duration) -> ProbeOutcome {
    match tokio::time::timeout(timeout, run(kind)).await {
        Ok(true) => ProbeOutcome::Pass,
        Ok(false) => ProbeOutcome::Fail,
        Err(_) => ProbeOutcome::Timeout,
    }
}

async fn run(kind: &CheckKind) -> bool {
    match kind {
        CheckKind::TcpConnect { addr } => TcpStream::connect(addr).await.is_ok(),
        CheckKind::HttpGet {
            addr,
            host,
            path,
            expect_status,
        } => http_get(*addr, host.as_deref(), path, *expect_status)
            .await
            .unwrap_or(false),
        CheckKind::Command { argv } => {
            let Some((prog, args)) = argv.split_first() else {
                return false;
            };
            tokio::process::Command::new(prog)
                .args(args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .status()
                .await
                .is_ok_and(|s| s.success())
        }
        // A check kind this daemon cannot run never passes, so it never advertises.
        _ => false,
    }
}

async fn http_get(
    addr: std::net::SocketAddr,
    host: Option<&str>,
    path: &str,
    expect: u16,
) -> std::io::Result<bool> {
    let mut s = TcpStream::connect(addr).await?;
    let host = host.map_or_else(|| addr.to_string(), str::to_string);
    let req = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: ha_node\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(MAX_STATUS_LINE);
    let mut chunk = [0u8; 256];
    while buf.len() < MAX_STATUS_LINE && !buf.contains(&b'\n') {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(parse_status(&buf) == Some(expect))
}

/// The status code of an HTTP/1.x status line (`HTTP/1.1 200 OK`).
pub fn parse_status(response: &[u8]) -> Option<u16> {
    let line = response.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    if !words.next()?.starts_with("HTTP/1.") {
        return None;
    }
    words.next()?.parse().ok()
}

/// Spawns one probing task per check; results go to `tx` until it closes.
pub fn spawn_probers(checks: Vec<(CheckId, CheckSpec)>, tx: mpsc::Sender<(CheckId, ProbeResult)>) {
    for (id, spec) in checks {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(spec.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let started = Instant::now();
                let outcome = probe(&spec.kind, spec.timeout).await;
                tracing::trace!("check {} ({id}): {outcome:?}", spec.name);
                if tx
                    .send((id, ProbeResult { outcome, started }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.0 200 OK\r\nServer: x\r\n"), Some(200));
        assert_eq!(
            parse_status(b"HTTP/1.1 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b""), None);
        assert_eq!(parse_status(b"HTTP/1.1 abc"), None);
    }

    #[tokio::test]
    async fn probes_against_local_listeners() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut b = [0u8; 512];
                let _ = s.read(&mut b).await;
                let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nhi").await;
            }
        });
        let t = Duration::from_secs(2);
        assert_eq!(
            probe(&CheckKind::TcpConnect { addr }, t).await,
            ProbeOutcome::Pass
        );
        let get = |expect_status| CheckKind::HttpGet {
            addr,
            host: None,
            path: "/".into(),
            expect_status,
        };
        assert_eq!(probe(&get(200), t).await, ProbeOutcome::Pass);
        assert_eq!(probe(&get(204), t).await, ProbeOutcome::Fail);
        let cmd = |p: &str| CheckKind::Command {
            argv: vec![p.into()],
        };
        assert_eq!(probe(&cmd("true"), t).await, ProbeOutcome::Pass);
        assert_eq!(probe(&cmd("false"), t).await, ProbeOutcome::Fail);
        let sleep = CheckKind::Command {
            argv: vec!["sleep".into(), "5".into()],
        };
        assert_eq!(
            probe(&sleep, Duration::from_millis(100)).await,
            ProbeOutcome::Timeout
        );
    }
}
