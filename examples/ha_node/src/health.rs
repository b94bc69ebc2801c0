//! Health probes: the daemon runs what the failover crate's [`CheckKind`]s describe.
//!
//! The probes run on a thread of their own with its own single-threaded tokio runtime,
//! so the event loop's work (OSPFv3, the data plane, netlink) never delays a probe and
//! a probe never delays the event loop. Per check one scheduler task ticks every
//! `interval` on a fixed grid (the interval counts from the start of each probe, not
//! from its end: no drift; a tick missed under load is skipped, not burst) and starts
//! each probe as a task of its own, so a slow probe never holds back the next one.
//! Every probe is bounded by `timeout` (a slow check is a [`ProbeOutcome::Timeout`],
//! never a stall), so at most `timeout / interval + 1` probes of one check are in
//! flight. Each outcome is reported with the instant its probe started; the policy
//! does the counting (rise, fall, staleness) and ignores a result older than one it
//! has already counted.
//!
//! Results go to the event loop with `try_send`: a full channel drops the result and
//! counts it in [`ProbeStats`] instead of stalling the prober (the policy's staleness
//! rule covers lost results).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anycast_failover::{CheckId, CheckKind, CheckSpec, ProbeOutcome, ProbeResult};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Most bytes of an HTTP response read to find its status line.
const MAX_STATUS_LINE: usize = 1024;

/// Runs one probe of `kind` within `timeout`. A command runs in its own process
/// group, killed as a whole (SIGKILL) when it times out, so that nothing it started
/// outlives the probe.
pub async fn probe(kind: &CheckKind, timeout: Duration) -> ProbeOutcome {
    if let CheckKind::Command { argv } = kind {
        return run_command(argv, timeout).await;
    }
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
        // A check kind this daemon cannot run never passes, so it never advertises.
        _ => false,
    }
}

/// Runs a check program (an absolute path: PATH is not searched, the configuration
/// refuses anything else) in a new process group; on timeout the whole group is
/// killed before the program is reaped (so its process group ID cannot have been
/// reused).
async fn run_command(argv: &[String], timeout: Duration) -> ProbeOutcome {
    let Some((prog, args)) = argv.split_first() else {
        return ProbeOutcome::Fail;
    };
    if !std::path::Path::new(prog).is_absolute() {
        return ProbeOutcome::Fail;
    }
    let child = tokio::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else {
        return ProbeOutcome::Fail;
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => match status.is_ok_and(|s| s.success()) {
            true => ProbeOutcome::Pass,
            false => ProbeOutcome::Fail,
        },
        Err(_) => {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.kill().await;
            ProbeOutcome::Timeout
        }
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

/// Counters of the probers, shared with the daemon.
#[derive(Debug, Default)]
pub struct ProbeStats {
    /// Probes started.
    pub started: AtomicU64,
    /// Results dropped because the event loop's channel was full.
    pub dropped: AtomicU64,
    /// Probes that ran into their timeout.
    pub timeouts: AtomicU64,
}

impl ProbeStats {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Starts the probers for `checks` on a thread of their own; results go to `tx` until
/// it closes (then the thread ends). With no checks nothing is started.
pub fn spawn_probers(
    checks: Vec<(CheckId, CheckSpec)>,
    tx: mpsc::Sender<(CheckId, ProbeResult)>,
) -> std::io::Result<Arc<ProbeStats>> {
    let stats = Arc::new(ProbeStats::default());
    if checks.is_empty() {
        return Ok(stats);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let st = stats.clone();
    std::thread::Builder::new()
        .name("ha_node-health".into())
        .spawn(move || {
            raise_priority();
            rt.block_on(async move {
                let mut set = tokio::task::JoinSet::new();
                for (id, spec) in checks {
                    set.spawn(prober(id, spec, tx.clone(), st.clone()));
                }
                drop(tx);
                while set.join_next().await.is_some() {}
            });
        })?;
    Ok(stats)
}

/// Nice value of the probe thread: ahead of busy processes, so that a loaded machine
/// (a CPU hog, a build) does not hold a probe back past the policy's staleness limit
/// (`interval x fall + timeout`, 140 ms at 50 ms x 2 with a 40 ms timeout).
pub const PROBE_THREAD_NICE: i32 = -10;

/// Gives the calling thread [`PROBE_THREAD_NICE`] with renice(1) (setpriority on a
/// thread ID; this crate has no `unsafe`). Best effort: without the privilege or the
/// tool the probes run at normal priority, which is logged.
fn raise_priority() {
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let Some(tid) = tid else {
        tracing::warn!("health checks: no thread id, probes at normal priority");
        return;
    };
    // An absolute path: the daemon runs as root and does not search PATH.
    let Some(renice) = ["/usr/bin/renice", "/bin/renice"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        tracing::warn!("health checks: no renice, probes at normal priority");
        return;
    };
    let ok = std::process::Command::new(renice)
        .args(["-n", &PROBE_THREAD_NICE.to_string(), "-p", &tid])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        tracing::debug!("health checks: probe thread {tid} at nice {PROBE_THREAD_NICE}");
    } else {
        tracing::warn!("health checks: renice failed, probes at normal priority");
    }
}

/// One check's scheduler: a probe task per tick until `tx` closes.
async fn prober(
    id: CheckId,
    spec: CheckSpec,
    tx: mpsc::Sender<(CheckId, ProbeResult)>,
    stats: Arc<ProbeStats>,
) {
    let spec = Arc::new(spec);
    let mut tick = tokio::time::interval(spec.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            _ = tick.tick() => {}
        }
        let started = Instant::now();
        ProbeStats::bump(&stats.started);
        let (spec, tx, stats) = (spec.clone(), tx.clone(), stats.clone());
        tokio::spawn(async move {
            let outcome = probe(&spec.kind, spec.timeout).await;
            tracing::trace!("check {} ({id}): {outcome:?}", spec.name);
            if outcome == ProbeOutcome::Timeout {
                ProbeStats::bump(&stats.timeouts);
            }
            match tx.try_send((id, ProbeResult { outcome, started })) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    ProbeStats::bump(&stats.dropped);
                    tracing::debug!("check {} ({id}): result dropped, channel full", spec.name);
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
        assert_eq!(probe(&cmd("/bin/true"), t).await, ProbeOutcome::Pass);
        assert_eq!(probe(&cmd("/bin/false"), t).await, ProbeOutcome::Fail);
        // Not searched in PATH.
        assert_eq!(probe(&cmd("true"), t).await, ProbeOutcome::Fail);
        let sleep = CheckKind::Command {
            argv: vec!["/bin/sleep".into(), "5".into()],
        };
        assert_eq!(
            probe(&sleep, Duration::from_millis(100)).await,
            ProbeOutcome::Timeout
        );
    }

    /// Whether process `pid` still runs (gone, or a zombie nobody reaped: not).
    fn running(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
            .unwrap_or(false)
    }

    /// A check that times out is killed with everything it started: the background
    /// `sleep` of `sh -c 'sleep 30 & sleep 30'` does not survive the probe.
    #[tokio::test]
    async fn a_timed_out_command_leaves_no_children() {
        let marker = std::env::temp_dir().join(format!("ha-node-check-{}", std::process::id()));
        let script = format!(
            "/bin/sleep 30 & echo $! > {}; /bin/sleep 30",
            marker.display()
        );
        let kind = CheckKind::Command {
            argv: vec!["/bin/sh".into(), "-c".into(), script],
        };
        let started = std::time::Instant::now();
        assert_eq!(
            probe(&kind, Duration::from_millis(300)).await,
            ProbeOutcome::Timeout
        );
        let mut pid = String::new();
        while pid.is_empty() && started.elapsed() < Duration::from_secs(10) {
            pid = std::fs::read_to_string(&marker)
                .unwrap_or_default()
                .trim()
                .to_string();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = std::fs::remove_file(&marker);
        assert!(
            !pid.is_empty(),
            "the check did not start its background sleep"
        );
        // SIGKILL is delivered at once, but the process may take a moment to go.
        let guard = std::time::Instant::now();
        while running(&pid) && guard.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !running(&pid),
            "background child {pid} of the timed-out check survived"
        );
    }

    /// An HTTP server on 127.0.0.1 whose answer waits for `hold`: it is called with
    /// the number of connections open at that moment and returns when to answer.
    async fn server<F>(hold: F) -> std::net::SocketAddr
    where
        F: Fn(Arc<AtomicU64>) -> futures::future::BoxFuture<'static, ()> + Send + Sync + 'static,
    {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let open = Arc::new(AtomicU64::new(0));
        let hold = Arc::new(hold);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let (open, hold) = (open.clone(), hold.clone());
                open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut b = [0u8; 512];
                    let _ = s.read(&mut b).await;
                    hold(open.clone()).await;
                    let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nok").await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        addr
    }

    fn http_check(addr: std::net::SocketAddr, interval_ms: u64, timeout_ms: u64) -> CheckSpec {
        let mut spec = CheckSpec::new(
            "http",
            CheckKind::HttpGet {
                addr,
                host: None,
                path: "/".into(),
                expect_status: 200,
            },
        );
        spec.interval = Duration::from_millis(interval_ms);
        spec.timeout = Duration::from_millis(timeout_ms);
        spec
    }

    const ID: CheckId = CheckId {
        prefix_index: 0,
        check_index: 0,
    };
    /// Bounds every wait of these tests so a broken prober fails them instead of hanging.
    const GUARD: Duration = Duration::from_secs(20);

    /// The server answers only once three probes are open at the same time: that
    /// happens only if a probe that has not finished does not hold back the next one.
    #[tokio::test]
    async fn a_slow_probe_does_not_hold_back_the_next() {
        let addr = server(|open| {
            Box::pin(async move {
                while open.load(Ordering::SeqCst) < 3 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .await;
        let (tx, mut rx) = mpsc::channel(64);
        let stats = spawn_probers(vec![(ID, http_check(addr, 20, 10_000))], tx).unwrap();
        let first = tokio::time::timeout(GUARD, rx.recv())
            .await
            .expect("no result: probes ran one after another")
            .unwrap();
        assert_eq!(first.0, ID);
        assert_eq!(first.1.outcome, ProbeOutcome::Pass);
        assert!(stats.started.load(Ordering::Relaxed) >= 3);
    }

    /// A probe slower than its timeout is a Timeout; probing goes on and passes again
    /// once the service answers in time.
    #[tokio::test]
    async fn a_probe_past_its_timeout_fails_and_probing_goes_on() {
        let slow = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let s2 = slow.clone();
        let addr = server(move |_| {
            let slow = s2.load(Ordering::SeqCst);
            Box::pin(async move {
                if slow {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            })
        })
        .await;
        let (tx, mut rx) = mpsc::channel(64);
        let stats = spawn_probers(vec![(ID, http_check(addr, 20, 50))], tx).unwrap();
        let mut timeouts = 0;
        let mut last_started = None;
        while timeouts < 3 {
            let (_, r) = tokio::time::timeout(GUARD, rx.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(r.outcome, ProbeOutcome::Timeout);
            assert!(last_started.is_none_or(|l| r.started > l));
            last_started = Some(r.started);
            timeouts += 1;
        }
        slow.store(false, Ordering::SeqCst);
        loop {
            let (_, r) = tokio::time::timeout(GUARD, rx.recv())
                .await
                .unwrap()
                .unwrap();
            if r.outcome == ProbeOutcome::Pass {
                break;
            }
            assert_eq!(r.outcome, ProbeOutcome::Timeout);
        }
        assert!(stats.timeouts.load(Ordering::Relaxed) >= 3);
    }

    /// A full result channel drops results (counted) instead of stalling the prober.
    #[tokio::test]
    async fn a_full_channel_drops_results_instead_of_stalling() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { while l.accept().await.is_ok() {} });
        let (tx, mut rx) = mpsc::channel(1);
        let mut spec = CheckSpec::new("tcp", CheckKind::TcpConnect { addr });
        spec.interval = Duration::from_millis(10);
        let stats = spawn_probers(vec![(ID, spec)], tx).unwrap();
        tokio::time::timeout(GUARD, async {
            while stats.dropped.load(Ordering::Relaxed) < 2 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the prober stalled on the full channel");
        let (_, queued) = rx.recv().await.unwrap();
        let (_, fresh) = tokio::time::timeout(GUARD, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(fresh.started > queued.started);
        assert_eq!(fresh.outcome, ProbeOutcome::Pass);
    }

    /// With the receiver gone the probers stop starting probes.
    #[tokio::test]
    async fn probers_stop_when_the_receiver_closes() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { while l.accept().await.is_ok() {} });
        let (tx, mut rx) = mpsc::channel(8);
        let mut spec = CheckSpec::new("tcp", CheckKind::TcpConnect { addr });
        spec.interval = Duration::from_millis(10);
        let stats = spawn_probers(vec![(ID, spec)], tx).unwrap();
        tokio::time::timeout(GUARD, rx.recv())
            .await
            .unwrap()
            .unwrap();
        drop(rx);
        // The schedulers see the closed channel, end, and the thread drops its runtime
        // (and with it every clone of the stats).
        tokio::time::timeout(GUARD, async {
            while Arc::strong_count(&stats) > 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the prober thread kept running after the receiver closed");
    }

    #[test]
    fn no_checks_no_thread() {
        let (tx, _rx) = mpsc::channel(1);
        let stats = spawn_probers(Vec::new(), tx).unwrap();
        assert_eq!(Arc::strong_count(&stats), 1);
    }
}
