//! `ha_node`: the reference HA node (`lab`: the in-process lab; `run`: the daemon).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ha_node",
    version,
    about = "Anycast HA node: L2TPv3 pseudowires, OSPFv3, failover policy, ESP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The lab's stories.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Story {
    /// Health check fails, recovery stays standby, graceful shutdown.
    Failover,
    /// A server crashes without a word.
    Crash,
    /// Both, one after the other.
    All,
}

/// How log lines are written.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One human-readable line per event, fields as `key=value`.
    Text,
    /// One JSON object per line: timestamp, level, target, message and the event's
    /// fields (peer, session, neighbor, prefix, ...) at the top level.
    Json,
}

/// Sets up tracing: `RUST_LOG` filter (default `info`), to standard output.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_env_filter(filter)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_env_filter(filter)
            .init(),
    }
}

/// A switch given as `on` or `off`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OnOff {
    On,
    Off,
}

#[derive(Subcommand)]
enum Command {
    /// Run the in-process lab (east, west, client) in virtual time and check the story.
    Lab {
        /// Seed of every random choice; the same seed gives the same run.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Do not protect the east-west link with ESP.
        #[arg(long)]
        no_esp: bool,
        /// Loss probability of every underlay link (0.0..=1.0).
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// One-way latency of every underlay link, milliseconds.
        #[arg(long, default_value_t = 5)]
        latency_ms: u64,
        /// Which story to play.
        #[arg(long, value_enum, default_value_t = Story::All)]
        scenario: Story,
        /// BFD for every OSPFv3 neighbor (50 ms x 5).
        #[arg(long, value_enum, default_value_t = OnOff::On)]
        bfd: OnOff,
    },
    /// Run the daemon (needs root: TAP devices, raw sockets, routes).
    Run {
        /// TOML configuration file.
        #[arg(long)]
        config: std::path::PathBuf,
        /// Log format.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Check a configuration file as `run` would, touching nothing: exit 0, or exit 2
    /// with `file:line: field: problem` for each problem.
    CheckConfig {
        /// TOML configuration file.
        file: std::path::PathBuf,
    },
    /// Talk to the running daemon through its control socket.
    Ctl {
        /// The control socket (the daemon's `control.socket`).
        #[arg(long, default_value = ha_node::control::DEFAULT_SOCKET)]
        socket: std::path::PathBuf,
        /// What to do.
        #[command(subcommand)]
        action: CtlAction,
    },
}

/// `ha_node ctl` subcommands.
#[derive(Subcommand)]
enum CtlAction {
    /// Tunnels, sessions, ESP, OSPFv3 neighbors and routes, anycast roles and checks,
    /// drop counters.
    Status {
        /// JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Maintenance: advertise the drain metric, then withdraw (the address stays).
    Drain {
        /// An anycast prefix, or `all`.
        prefix: String,
        /// Wait until it is safe to stop the node, at most this many seconds (exit 3
        /// when the time runs out).
        #[arg(long)]
        wait: Option<u64>,
    },
    /// End maintenance.
    Undrain {
        /// An anycast prefix, or `all` (the default).
        prefix: Option<String>,
    },
    /// Never claim the active role (step down if active) until `clear-force`.
    ForceStandby {
        /// An anycast prefix, or `all` (the default).
        prefix: Option<String>,
    },
    /// Cancel `force-standby`.
    ClearForce {
        /// An anycast prefix, or `all` (the default).
        prefix: Option<String>,
    },
    /// Re-read the configuration file and apply the difference (as SIGHUP does).
    Reload,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Lab {
            seed,
            no_esp,
            loss,
            latency_ms,
            scenario,
            bfd,
        } => {
            let stories: &[ha_node::lab::Scenario] = match scenario {
                Story::Failover => &[ha_node::lab::Scenario::HealthFailover],
                Story::Crash => &[ha_node::lab::Scenario::Crash],
                Story::All => &[
                    ha_node::lab::Scenario::HealthFailover,
                    ha_node::lab::Scenario::Crash,
                ],
            };
            let mut ok = true;
            for &story in stories {
                let opts = ha_node::lab::LabOptions {
                    seed,
                    esp: !no_esp,
                    loss: loss.clamp(0.0, 1.0),
                    latency: Duration::from_millis(latency_ms),
                    scenario: story,
                    bfd: bfd == OnOff::On,
                };
                let report = ha_node::lab::run(&opts);
                // A closed pipe (`| head`) ends the output, not the verdict.
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "######## story: {story:?}");
                let _ = report.write_to(&mut out);
                ok &= report.failures().is_empty();
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::CheckConfig { file } => match ha_node::check::load(&file) {
            Ok(cfg) => {
                println!(
                    "{}: OK ({} peers, {} anycast prefixes)",
                    file.display(),
                    cfg.peers.len(),
                    cfg.anycast.len()
                );
                ExitCode::SUCCESS
            }
            Err(problems) => {
                eprintln!("{problems}");
                ExitCode::from(2)
            }
        },
        Command::Ctl { socket, action } => {
            use ha_node::ctl::{Action, scope};
            let action = match action {
                CtlAction::Status { json } => Action::Status { json },
                CtlAction::Drain { prefix, wait } => Action::Drain {
                    prefix: scope(Some(prefix)),
                    wait: wait.map(Duration::from_secs),
                },
                CtlAction::Undrain { prefix } => Action::Undrain {
                    prefix: scope(prefix),
                },
                CtlAction::ForceStandby { prefix } => Action::ForceStandby {
                    prefix: scope(prefix),
                },
                CtlAction::ClearForce { prefix } => Action::ClearForce {
                    prefix: scope(prefix),
                },
                CtlAction::Reload => Action::Reload,
            };
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("ha_node: tokio runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let code = rt.block_on(ha_node::ctl::run(&socket, action));
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Command::Run { config, log_format } => {
            // Every configuration error exits 2 as `file:line: field: problem`, as
            // check-config prints it.
            let cfg = match ha_node::check::load(&config) {
                Ok(c) => c,
                Err(problems) => {
                    eprintln!("{problems}");
                    return ExitCode::from(2);
                }
            };
            init_logging(log_format);
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("ha_node: tokio runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(ha_node::daemon::run(cfg, &config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
