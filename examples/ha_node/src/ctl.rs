//! `ha_node ctl`: the operator's client of the control socket ([`crate::control`]).
//!
//! ```text
//! ha_node ctl [--socket PATH] status [--json]
//! ha_node ctl drain PREFIX|all [--wait SECONDS]
//! ha_node ctl undrain [PREFIX|all]
//! ha_node ctl force-standby [PREFIX|all]
//! ha_node ctl clear-force [PREFIX|all]
//! ha_node ctl reload
//! ```
//!
//! Exit status: 0 when the daemon carried the request out, 1 when it refused it or
//! could not be reached (the reason on standard error), 3 when `drain --wait` ran
//! out of time before the node was safe to stop.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::control::{Answer, Request, request};
use crate::status::{Status, render};

/// What `ctl` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Show the status.
    Status {
        /// As JSON instead of tables.
        json: bool,
    },
    /// Drain a prefix (`None`: all); with `wait`, until safe to stop.
    Drain {
        /// The prefix.
        prefix: Option<String>,
        /// Wait at most this long for "safe to stop".
        wait: Option<Duration>,
    },
    /// Undrain.
    Undrain {
        /// The prefix.
        prefix: Option<String>,
    },
    /// Force standby.
    ForceStandby {
        /// The prefix.
        prefix: Option<String>,
    },
    /// Cancel force standby.
    ClearForce {
        /// The prefix.
        prefix: Option<String>,
    },
    /// Reload the configuration.
    Reload,
}

/// `all` (or nothing) means every prefix.
pub fn scope(arg: Option<String>) -> Option<String> {
    arg.filter(|a| a != "all")
}

fn fail(what: &str, e: impl std::fmt::Display) -> i32 {
    eprintln!("ha_node ctl: {what}: {e}");
    1
}

async fn ask(socket: &Path, req: &Request) -> Result<Answer, i32> {
    match request(socket, req).await {
        Ok(a) if a.ok => Ok(a),
        Ok(a) => Err(fail(
            "refused",
            a.error.unwrap_or_else(|| "no reason given".into()),
        )),
        Err(e) => Err(fail(&format!("control socket {}", socket.display()), e)),
    }
}

/// Runs one `ctl` action against the daemon at `socket`; the process exit status.
pub async fn run(socket: &Path, action: Action) -> i32 {
    let req = match &action {
        Action::Status { .. } => Request::Status {},
        Action::Drain { prefix, .. } => Request::Drain {
            prefix: prefix.clone(),
        },
        Action::Undrain { prefix } => Request::Undrain {
            prefix: prefix.clone(),
        },
        Action::ForceStandby { prefix } => Request::ForceStandby {
            prefix: prefix.clone(),
        },
        Action::ClearForce { prefix } => Request::ClearForce {
            prefix: prefix.clone(),
        },
        Action::Reload => Request::Reload {},
    };
    let answer = match ask(socket, &req).await {
        Ok(a) => a,
        Err(code) => return code,
    };
    match action {
        Action::Status { json } => {
            let Some(status) = answer.status else {
                return fail("status", "the answer holds no status");
            };
            if json {
                match serde_json::to_string_pretty(&status) {
                    Ok(s) => println!("{s}"),
                    Err(e) => return fail("status", e),
                }
            } else {
                print!("{}", render(&status));
            }
            0
        }
        Action::Drain {
            prefix,
            wait: Some(limit),
        } => {
            if let Some(m) = answer.message {
                println!("{m}");
            }
            wait_safe(socket, prefix.as_deref(), limit).await
        }
        _ => {
            if let Some(m) = answer.message {
                println!("{m}");
            }
            0
        }
    }
}

/// Whether every drained prefix that `prefix` names (all when `None`) is safe to stop.
pub fn safe_to_stop(status: &Status, prefix: Option<&str>) -> bool {
    status
        .anycast
        .iter()
        .filter(|p| prefix.is_none_or(|x| prefix_eq(x, &p.prefix)))
        .all(|p| p.safe_to_stop)
}

fn prefix_eq(given: &str, shown: &str) -> bool {
    match (
        given.parse::<anycast_failover::Ipv6Prefix>(),
        shown.parse::<anycast_failover::Ipv6Prefix>(),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => given == shown,
    }
}

async fn wait_safe(socket: &Path, prefix: Option<&str>, limit: Duration) -> i32 {
    let until = Instant::now() + limit;
    loop {
        let status = match ask(socket, &Request::Status {}).await {
            Ok(Answer {
                status: Some(s), ..
            }) => s,
            Ok(_) => return fail("status", "the answer holds no status"),
            Err(code) => return code,
        };
        if safe_to_stop(&status, prefix) {
            println!("safe to stop");
            return 0;
        }
        if Instant::now() >= until {
            eprintln!("ha_node ctl: not yet safe to stop after {limit:?}");
            return 3;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Prefix;

    #[test]
    fn safe_to_stop_looks_at_the_named_prefixes() {
        let mut s = Status::default();
        s.anycast.push(Prefix {
            prefix: "2001:db8:aa::1/128".into(),
            safe_to_stop: true,
            ..Default::default()
        });
        s.anycast.push(Prefix {
            prefix: "2001:db8:bb::1/128".into(),
            ..Default::default()
        });
        assert!(safe_to_stop(&s, Some("2001:db8:aa:0::1/128")));
        assert!(!safe_to_stop(&s, None));
        assert_eq!(scope(Some("all".into())), None);
        assert_eq!(scope(Some("x".into())).as_deref(), Some("x"));
    }
}
