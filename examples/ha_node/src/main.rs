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
    },
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
        Command::Run { config } => {
            tracing_subscriber::fmt()
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .init();
            let cfg = match ha_node::config::Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("ha_node: {e}");
                    return ExitCode::from(2);
                }
            };
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
            match rt.block_on(ha_node::daemon::run(cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
