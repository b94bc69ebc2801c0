//! The control socket: `ha_node ctl` talks to the running daemon through it.
//!
//! A Unix stream socket (default [`DEFAULT_SOCKET`]) created with mode 0600 in a
//! directory the daemon creates with mode 0700 when it is missing; a client whose
//! peer credentials are neither root nor the socket's owner is refused. The protocol
//! is newline-delimited JSON: one [`Request`] per line, one [`Answer`] per line, in
//! order, any number per connection. A request line longer than
//! [`MAX_REQUEST_BYTES`] ends the connection with an error answer; at most
//! `max_clients` connections are served at once (others get an error answer and
//! are closed); a connection idle for [`IDLE_TIMEOUT`] is closed.
//!
//! The server runs as tasks on the daemon's runtime and never touches the daemon's
//! state: each request goes to the event loop as a [`Command`] through a bounded
//! channel, and the event loop answers with a snapshot ([`crate::status::Status`]) or
//! the outcome of the command, so a slow or stuck client never delays the protocols.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::status::Status;

/// Default path of the control socket.
pub const DEFAULT_SOCKET: &str = "/run/ha_node/ha_node.sock";
/// Default number of clients served at once.
pub const DEFAULT_MAX_CLIENTS: usize = 8;
/// Longest request line accepted, bytes.
pub const MAX_REQUEST_BYTES: usize = 4096;
/// Longest answer line a client accepts, bytes.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;
/// A connection without a request for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a request may wait for the event loop's answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Depth of the channel from the control tasks to the event loop.
pub const COMMAND_DEPTH: usize = 16;

/// `[control]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    /// Path of the control socket.
    #[serde(default = "d_socket")]
    pub socket: PathBuf,
    /// Clients served at once.
    #[serde(default = "d_clients")]
    pub max_clients: usize,
}

fn d_socket() -> PathBuf {
    PathBuf::from(DEFAULT_SOCKET)
}
fn d_clients() -> usize {
    DEFAULT_MAX_CLIENTS
}

impl Default for ControlSection {
    fn default() -> Self {
        ControlSection {
            socket: d_socket(),
            max_clients: d_clients(),
        }
    }
}

/// What a client asks, one JSON object per line, tagged by `cmd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// The whole state as a [`Status`] snapshot.
    Status {},
    /// Maintenance for one anycast prefix or (`prefix` absent) all: advertise the
    /// drain metric for the drain period, then withdraw; the address stays.
    Drain {
        /// The prefix; absent: every prefix.
        #[serde(default)]
        prefix: Option<String>,
    },
    /// End of maintenance: start again from withdrawn.
    Undrain {
        /// The prefix; absent: every prefix.
        #[serde(default)]
        prefix: Option<String>,
    },
    /// Never claim the active role (step down if active) until `clear-force`.
    ForceStandby {
        /// The prefix; absent: every prefix.
        #[serde(default)]
        prefix: Option<String>,
    },
    /// Cancel `force-standby`.
    ClearForce {
        /// The prefix; absent: every prefix.
        #[serde(default)]
        prefix: Option<String>,
    },
    /// Re-read the configuration file and apply the difference (as SIGHUP does).
    Reload {},
}

/// The daemon's answer to one request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Answer {
    /// Whether the request was carried out.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What was done, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The snapshot, for `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Box<Status>>,
}

impl Answer {
    /// A refusal.
    pub fn error(e: impl Into<String>) -> Self {
        Answer {
            ok: false,
            error: Some(e.into()),
            ..Default::default()
        }
    }

    /// A success with a message.
    pub fn done(m: impl Into<String>) -> Self {
        Answer {
            ok: true,
            message: Some(m.into()),
            ..Default::default()
        }
    }
}

/// A request on its way to the event loop, with where the answer goes.
#[derive(Debug)]
pub struct Command {
    /// The request.
    pub request: Request,
    /// The answer channel.
    pub reply: oneshot::Sender<Answer>,
}

/// Counters of the control server.
#[derive(Debug, Default)]
pub struct ControlStats {
    /// Connections refused because `max_clients` were being served.
    pub refused_busy: std::sync::atomic::AtomicU64,
    /// Connections refused by their peer credentials.
    pub refused_credentials: std::sync::atomic::AtomicU64,
    /// Requests that did not parse or were too long.
    pub bad_requests: std::sync::atomic::AtomicU64,
}

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Another process answers on the socket.
    #[error("control socket {0} is in use by another process")]
    InUse(PathBuf),
    /// A path exists that is not a socket.
    #[error("control socket {0} exists and is not a socket")]
    NotASocket(PathBuf),
    /// An I/O error.
    #[error("control socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The running server; dropping it does not stop it (it ends with the runtime), call
/// [`Server::close`] to remove the socket file.
#[derive(Debug)]
pub struct Server {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
    /// The server's counters.
    pub stats: Arc<ControlStats>,
}

impl Server {
    /// Stops accepting and removes the socket file.
    pub fn close(self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ControlError + '_ {
    move |source| ControlError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Binds the socket and serves it on the current runtime; requests go to `tx`.
pub async fn serve(
    section: &ControlSection,
    tx: mpsc::Sender<Command>,
) -> Result<Server, ControlError> {
    let path = section.socket.clone();
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err(&path))?;
    }
    match std::fs::symlink_metadata(&path) {
        Ok(m) => {
            use std::os::unix::fs::FileTypeExt;
            if !m.file_type().is_socket() {
                return Err(ControlError::NotASocket(path));
            }
            if UnixStream::connect(&path).await.is_ok() {
                return Err(ControlError::InUse(path));
            }
            // A stale socket of an earlier run.
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&path)(e)),
    }
    let listener = UnixListener::bind(&path).map_err(io_err(&path))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(io_err(&path))?;
    let owner = std::fs::metadata(&path).map_err(io_err(&path))?.uid();
    let stats = Arc::new(ControlStats::default());
    let limit = Arc::new(Semaphore::new(section.max_clients.max(1)));
    let st = stats.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let allowed = stream
                .peer_cred()
                .is_ok_and(|c| c.uid() == 0 || c.uid() == owner);
            if !allowed {
                bump(&st.refused_credentials);
                tokio::spawn(refuse(stream, "permission denied"));
                continue;
            }
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                bump(&st.refused_busy);
                tokio::spawn(refuse(stream, "too many control clients"));
                continue;
            };
            let (tx, st) = (tx.clone(), st.clone());
            tokio::spawn(async move {
                client(stream, tx, &st).await;
                drop(permit);
            });
        }
    });
    Ok(Server { path, task, stats })
}

fn bump(c: &std::sync::atomic::AtomicU64) {
    c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

async fn refuse(mut stream: UnixStream, why: &str) {
    let _ = write_answer(&mut stream, &Answer::error(why)).await;
}

async fn write_answer<W: AsyncWriteExt + Unpin>(w: &mut W, a: &Answer) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(a)
        .unwrap_or_else(|_| br#"{"ok":false,"error":"answer could not be encoded"}"#.to_vec());
    line.push(b'\n');
    tokio::time::timeout(ANSWER_TIMEOUT, w.write_all(&line))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// Reads one line of at most `max` bytes; `Ok(None)` at the end of the stream,
/// `Err(InvalidData)` when it is longer.
pub async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let mut limited = r.take(max as u64 + 1);
    let n = limited.read_until(b'\n', &mut line).await?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        if line.len() > max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("line longer than {max} bytes"),
            ));
        }
        // The last line without its newline.
        return Ok(Some(line));
    }
    line.pop();
    Ok(Some(line))
}

async fn client(stream: UnixStream, tx: mpsc::Sender<Command>, stats: &ControlStats) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    loop {
        let line = match tokio::time::timeout(IDLE_TIMEOUT, read_line(&mut rd, MAX_REQUEST_BYTES))
            .await
        {
            Ok(Ok(Some(l))) => l,
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(e)) => {
                bump(&stats.bad_requests);
                let _ = write_answer(&mut wr, &Answer::error(format!("bad request: {e}"))).await;
                return;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let answer = match serde_json::from_slice::<Request>(&line) {
            Err(e) => {
                bump(&stats.bad_requests);
                Answer::error(format!("bad request: {e}"))
            }
            Ok(request) => {
                let (reply, answer) = oneshot::channel();
                if tx.send(Command { request, reply }).await.is_err() {
                    Answer::error("the daemon is stopping")
                } else {
                    match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
                        Ok(Ok(a)) => a,
                        Ok(Err(_)) => Answer::error("the daemon is stopping"),
                        Err(_) => Answer::error("the daemon did not answer in time"),
                    }
                }
            }
        };
        if write_answer(&mut wr, &answer).await.is_err() {
            return;
        }
    }
}

/// Sends one request to the daemon at `socket` and returns its answer.
pub async fn request(socket: &Path, req: &Request) -> std::io::Result<Answer> {
    let stream = UnixStream::connect(socket).await?;
    let (rd, mut wr) = stream.into_split();
    let mut line = serde_json::to_vec(req).map_err(std::io::Error::other)?;
    line.push(b'\n');
    // A busy or refusing daemon answers and closes at once: its answer is read even
    // when the write failed.
    let sent = async {
        wr.write_all(&line).await?;
        wr.shutdown().await
    }
    .await;
    let mut rd = BufReader::new(rd);
    let got = tokio::time::timeout(
        ANSWER_TIMEOUT + Duration::from_secs(5),
        read_line(&mut rd, MAX_ANSWER_BYTES),
    )
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let Some(got) = got else {
        sent?;
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the daemon closed the connection without an answer",
        ));
    };
    serde_json::from_slice(&got)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Carries out an admin request (`drain`, `undrain`, `force-standby`, `clear-force`)
/// on the core's failover policy; any other request is refused here (the daemon
/// answers `status` and `reload` itself).
pub fn admin(
    now: std::time::Instant,
    core: &mut crate::core::Core<std::net::SocketAddr>,
    cfg: &crate::config::Config,
    req: &Request,
) -> Answer {
    use anycast_failover::{AdminCommand, Ipv6Prefix, Scope};
    let (cmd, prefix) = match req {
        Request::Drain { prefix } => (AdminCommand::Drain, prefix),
        Request::Undrain { prefix } => (AdminCommand::Undrain, prefix),
        Request::ForceStandby { prefix } => (AdminCommand::ForceStandby, prefix),
        Request::ClearForce { prefix } => (AdminCommand::ClearForce, prefix),
        other => return Answer::error(format!("{other:?} is not an admin command")),
    };
    let Some(policy) = core.policy() else {
        return Answer::error("this node serves no anycast prefix");
    };
    let scope = match prefix.as_deref().filter(|p| *p != "all") {
        None => Scope::All,
        Some(text) => match text.parse::<Ipv6Prefix>() {
            Ok(p) => Scope::Prefix(p),
            Err(e) => return Answer::error(format!("{text:?}: {e}")),
        },
    };
    let before: Vec<(Ipv6Prefix, anycast_failover::Role)> =
        policy.status().map(|s| (s.prefix, s.role)).collect();
    if let Err(e) = core.handle_command_scoped(now, scope, cmd) {
        return Answer::error(e.to_string());
    }
    let Some(policy) = core.policy() else {
        return Answer::error("this node serves no anycast prefix");
    };
    let mut lines = Vec::new();
    for st in policy.status() {
        if let Scope::Prefix(p) = scope
            && p != st.prefix
        {
            continue;
        }
        let was = before
            .iter()
            .find(|(p, _)| *p == st.prefix)
            .map(|(_, r)| *r);
        let a = cfg
            .anycast
            .iter()
            .find(|a| a.prefix.parse::<Ipv6Prefix>().ok() == Some(st.prefix));
        let mut line = match was {
            Some(w) if w != st.role => format!("{}: {w} -> {}", st.prefix, st.role),
            _ => format!("{}: {} (unchanged)", st.prefix, st.role),
        };
        if cmd == AdminCommand::Drain
            && st.role == anycast_failover::Role::Draining
            && let Some(a) = a
        {
            line.push_str(&format!(
                "; drain metric for {} s, then withdrawn; safe to stop {} s after the \
                 withdrawal (ctl status, or ctl drain --wait)",
                a.drain_period_s, a.shutdown_grace_s
            ));
        }
        if cmd == AdminCommand::Drain
            && !st
                .peers
                .iter()
                .any(|(_, m)| *m < anycast_failover::PrefixConfig::new(st.prefix).drain_metric)
        {
            line.push_str(
                "; WARNING: no other node advertises this prefix: the drain withdraws the \
                 service (ctl undrain to cancel)",
            );
        }
        if st.force_standby {
            line.push_str("; forced standby");
        }
        lines.push(line);
    }
    Answer::done(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_tagged_json() {
        let r: Request =
            serde_json::from_str(r#"{"cmd":"drain","prefix":"2001:db8::1/128"}"#).unwrap();
        assert_eq!(
            r,
            Request::Drain {
                prefix: Some("2001:db8::1/128".into())
            }
        );
        let r: Request = serde_json::from_str(r#"{"cmd":"force-standby"}"#).unwrap();
        assert_eq!(r, Request::ForceStandby { prefix: None });
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"status","x":1}"#).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"reboot"}"#).is_err());
    }

    #[tokio::test]
    async fn server_answers_bounds_and_permissions() {
        let dir = std::env::temp_dir().join(format!("ha_node-ctl-test-{}", std::process::id()));
        let section = ControlSection {
            socket: dir.join("sub").join("ctl.sock"),
            max_clients: 1,
        };
        let (tx, mut rx) = mpsc::channel::<Command>(4);
        let server = serve(&section, tx.clone()).await.unwrap();
        let mode = std::fs::metadata(&section.socket).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(dir.join("sub")).unwrap().mode() & 0o777;
        assert_eq!(dmode, 0o700);
        // A second server on the same path is refused while the first answers.
        assert!(matches!(
            serve(&section, tx).await,
            Err(ControlError::InUse(_))
        ));
        tokio::spawn(async move {
            while let Some(c) = rx.recv().await {
                let _ = c.reply.send(Answer::done(format!("{:?}", c.request)));
            }
        });
        // The probe connection of the second server holds the only slot until the
        // server sees it closed.
        let mut a = request(&section.socket, &Request::Reload {}).await.unwrap();
        for _ in 0..100 {
            if a.ok {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            a = request(&section.socket, &Request::Reload {}).await.unwrap();
        }
        assert!(a.ok, "{a:?}");
        assert_eq!(a.message.as_deref(), Some("Reload"));
        // A request line over the bound is refused and the connection closed.
        let mut s = UnixStream::connect(&section.socket).await.unwrap();
        s.write_all(&vec![b'x'; MAX_REQUEST_BYTES + 10])
            .await
            .unwrap();
        let mut rd = BufReader::new(s);
        let line = read_line(&mut rd, MAX_ANSWER_BYTES).await.unwrap().unwrap();
        let a: Answer = serde_json::from_slice(&line).unwrap();
        assert!(a.error.unwrap().contains("longer than"));
        assert_eq!(read_line(&mut rd, 100).await.unwrap(), None);
        // Garbage gets an error answer, the connection stays usable.
        let s = UnixStream::connect(&section.socket).await.unwrap();
        let (r, mut w) = s.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"not json\n{\"cmd\":\"status\"}\n")
            .await
            .unwrap();
        let a: Answer =
            serde_json::from_slice(&read_line(&mut r, MAX_ANSWER_BYTES).await.unwrap().unwrap())
                .unwrap();
        assert!(!a.ok);
        let a: Answer =
            serde_json::from_slice(&read_line(&mut r, MAX_ANSWER_BYTES).await.unwrap().unwrap())
                .unwrap();
        assert_eq!(a.message.as_deref(), Some("Status"));
        // max_clients = 1: a second client while this one is open is refused.
        let busy = request(&section.socket, &Request::Status {}).await.unwrap();
        assert_eq!(busy.error.as_deref(), Some("too many control clients"));
        drop((r, w));
        server.close();
        assert!(!section.socket.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
