//! Reloading the configuration (SIGHUP, `ha_node ctl reload`): what changed between
//! the running configuration and the file, decided on the TOML tables themselves.
//!
//! The new file is first checked completely ([`crate::check::load`]); an invalid file
//! changes nothing. Then [`plan`] compares the two documents key by key:
//!
//! * `[[peer]]` entries are matched by `name`: a peer whose table is unchanged is not
//!   touched (its tunnel, session, OSPFv3 adjacency and BFD session go on); a peer
//!   that is new is added, one that is gone is removed (StopCCN, its TAP device
//!   closed), one whose table changed is removed and added again;
//! * `[[anycast]]` changes are applied with
//!   [`anycast_failover::Policy::reconfigure`], which keeps the role and health of
//!   every prefix that stays (an added check on a serving prefix starts up and must
//!   fail to take it down; removing a prefix that is still advertised is refused:
//!   drain it first); the probers restart with the new check list;
//! * every other key (node name, Router ID, sockets, secrets, OSPFv3, BFD defaults,
//!   control socket, ...) is fixed for the daemon's life: a file that changes one is
//!   refused as a whole, naming the keys, and nothing changes.
//!
//! The comparison is on values as written, so a key added with its default value
//! counts as a change.

use std::collections::BTreeMap;

use toml::{Table, Value};

/// What a reload does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Peers to remove, by name (changed ones are listed here and in `add`).
    pub remove: Vec<String>,
    /// Peers to add, by name.
    pub add: Vec<String>,
    /// Peers left alone.
    pub unchanged: Vec<String>,
    /// Whether the `[[anycast]]` list changed.
    pub anycast: bool,
}

impl Plan {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty() && !self.anycast
    }

    /// A one-line summary for logs and `ctl reload`.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "no change".into();
        }
        let mut parts = Vec::new();
        let changed: Vec<&String> = self
            .add
            .iter()
            .filter(|a| self.remove.contains(a))
            .collect();
        let added: Vec<&String> = self
            .add
            .iter()
            .filter(|a| !self.remove.contains(a))
            .collect();
        let removed: Vec<&String> = self
            .remove
            .iter()
            .filter(|r| !self.add.contains(r))
            .collect();
        let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        if !added.is_empty() {
            parts.push(format!("peers added: {}", list(&added)));
        }
        if !removed.is_empty() {
            parts.push(format!("peers removed: {}", list(&removed)));
        }
        if !changed.is_empty() {
            parts.push(format!("peers replaced: {}", list(&changed)));
        }
        if self.anycast {
            parts.push("anycast settings applied".into());
        }
        parts.push(format!("{} peers unchanged", self.unchanged.len()));
        parts.join("; ")
    }
}

/// The keys a reload may change.
pub const RELOADABLE: [&str; 2] = ["peer", "anycast"];

fn peers(t: &Table) -> BTreeMap<String, &Value> {
    t.get("peer")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let name = p.get("name")?.as_str()?.to_string();
                    Some((name, p))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Compares the running document with the new one. `Err` names the keys that need a
/// restart (never their values: they may be secrets).
pub fn plan(old: &Table, new: &Table) -> Result<Plan, String> {
    let mut fixed: Vec<&str> = old
        .keys()
        .chain(new.keys())
        .map(String::as_str)
        .filter(|k| !RELOADABLE.contains(k))
        .filter(|k| old.get(*k) != new.get(*k))
        .collect();
    fixed.sort_unstable();
    fixed.dedup();
    if !fixed.is_empty() {
        return Err(format!(
            "{} changed: a restart is needed to apply {}; nothing was changed",
            fixed.join(", "),
            if fixed.len() == 1 { "it" } else { "them" }
        ));
    }
    let (a, b) = (peers(old), peers(new));
    let mut p = Plan {
        anycast: old.get("anycast") != new.get("anycast"),
        ..Plan::default()
    };
    for (name, v) in &a {
        match b.get(name) {
            Some(w) if w == v => p.unchanged.push(name.clone()),
            Some(_) => {
                p.remove.push(name.clone());
                p.add.push(name.clone());
            }
            None => p.remove.push(name.clone()),
        }
    }
    for name in b.keys() {
        if !a.contains_key(name) {
            p.add.push(name.clone());
        }
    }
    // The IKEv2 endpoint is built at start for its peers (identities, keys, SPIs
    // of live SAs): a peer keyed by IKEv2 is added, changed or removed by a restart.
    let ike: Vec<&String> = p
        .remove
        .iter()
        .chain(&p.add)
        .filter(|n| {
            [a.get(*n), b.get(*n)]
                .iter()
                .flatten()
                .any(|t| t.get("ipsec").is_some())
        })
        .collect();
    if let Some(n) = ike.first() {
        return Err(format!(
            "peer {n} is keyed by IKEv2 (ipsec): adding, changing or removing such a peer \
             needs a restart; nothing was changed"
        ));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
name = "east"
router_id = "1.1.1.1"
l2tp_secret = "one"

[[peer]]
name = "client"
address = "10.0.1.2:1701"
tap = "pw-client"

[[peer]]
name = "west"
address = "10.0.3.2:1701"
tap = "pw-west"

[[anycast]]
prefix = "2001:db8:aa::1/128"
"#;

    fn table(s: &str) -> Table {
        toml::from_str(s).unwrap()
    }

    /// The IKEv2 side is built at start: a peer keyed by it is added, changed or
    /// removed only by a restart; other peers reload as before.
    #[test]
    fn ipsec_peers_need_a_restart() {
        let with_ipsec = BASE.replace(
            "tap = \"pw-west\"",
            "tap = \"pw-west\"\nipsec = { psk_file = \"/k\" }",
        );
        for (old, new) in [(BASE, with_ipsec.as_str()), (with_ipsec.as_str(), BASE)] {
            let e = plan(&table(old), &table(new)).unwrap_err();
            assert!(e.contains("peer west is keyed by IKEv2"), "{e}");
        }
        let psk_changed = with_ipsec.replace("/k", "/other");
        assert!(plan(&table(&with_ipsec), &table(&psk_changed)).is_err());
        // Unchanged ipsec peer, another peer added: fine.
        let added = format!(
            "{with_ipsec}\n[[peer]]\nname = \"north\"\naddress = \"10.0.4.2:1701\"\ntap = \"pw-north\"\n"
        );
        let p = plan(&table(&with_ipsec), &table(&added)).unwrap();
        assert_eq!(p.add, ["north"]);
    }

    #[test]
    fn unchanged_peers_are_left_alone() {
        let p = plan(&table(BASE), &table(BASE)).unwrap();
        assert!(p.is_empty());
        assert_eq!(p.unchanged, ["client", "west"]);
        assert_eq!(p.summary(), "no change");
    }

    #[test]
    fn peers_added_removed_and_replaced() {
        let new = BASE
            .replace("address = \"10.0.3.2:1701\"", "address = \"10.0.3.9:1701\"")
            .replace(
                "[[anycast]]",
                "[[peer]]\nname = \"north\"\naddress = \"10.0.4.2:1701\"\ntap = \"pw-north\"\n\n[[anycast]]",
            );
        let p = plan(&table(BASE), &table(&new)).unwrap();
        assert_eq!(p.remove, ["west"]);
        assert_eq!(p.add, ["west", "north"]);
        assert_eq!(p.unchanged, ["client"]);
        assert!(!p.anycast);
        assert_eq!(
            p.summary(),
            "peers added: north; peers replaced: west; 1 peers unchanged"
        );
        let fewer = BASE.replace(
            "[[peer]]\nname = \"west\"\naddress = \"10.0.3.2:1701\"\ntap = \"pw-west\"\n",
            "",
        );
        let p = plan(&table(BASE), &table(&fewer)).unwrap();
        assert_eq!(
            (p.remove.as_slice(), p.add.len()),
            (&["west".to_string()][..], 0)
        );
    }

    #[test]
    fn anycast_changes_are_noticed() {
        let new = format!(
            "{BASE}\n[[anycast.check]]\nname = \"tcp\"\nkind = {{ tcp_connect = {{ addr = \"[::1]:80\" }} }}\n"
        );
        let p = plan(&table(BASE), &table(&new)).unwrap();
        assert!(p.anycast && p.add.is_empty() && p.remove.is_empty());
    }

    #[test]
    fn fixed_keys_refuse_the_reload_without_values() {
        let new = BASE
            .replace("l2tp_secret = \"one\"", "l2tp_secret = \"two\"")
            .replace("router_id = \"1.1.1.1\"", "router_id = \"1.1.1.2\"");
        let e = plan(&table(BASE), &table(&new)).unwrap_err();
        assert_eq!(
            e,
            "l2tp_secret, router_id changed: a restart is needed to apply them; nothing was changed"
        );
        assert!(!e.contains("two"));
        let added = format!("listen = \"0.0.0.0:1702\"\n{BASE}");
        assert!(
            plan(&table(BASE), &table(&added))
                .unwrap_err()
                .starts_with("listen changed")
        );
    }
}
