//! The link-state database: every LSA keyed by flooding scope, LS type, advertising
//! router and Link State ID (RFC 5340 4.4.3, 2328 12.2), with its age computed from
//! `now` instead of being ticked (RFC 2328 14), and the memory it holds per
//! advertising router and in all (the limits themselves are enforced by the router,
//! see [`super::Limits`]).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::ops::Bound;
use std::time::Instant;

use crate::constants::{DO_NOT_AGE, MAX_AGE};
use crate::lsa::{FloodingScope, Lsa, LsaBody, LsaHeader, LsaType};

/// Where an LSA lives: one interface's link, the area, or the whole AS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Scope {
    /// Link-local scope on the interface with this ifindex.
    Link(u32),
    /// Area scope (this instance runs one area).
    Area,
    /// AS scope.
    As,
}

impl Scope {
    /// The scope an LSA received on `ifindex` is stored in (RFC 5340 4.5.2: an
    /// unknown type without the U bit is treated as link-local). `None` for the
    /// reserved scope, which is discarded.
    pub fn of(ls_type: LsaType, ifindex: u32) -> Option<Scope> {
        if !ls_type.is_known() && !ls_type.u_bit() {
            return Some(Scope::Link(ifindex));
        }
        match ls_type.scope() {
            FloodingScope::LinkLocal => Some(Scope::Link(ifindex)),
            FloodingScope::Area => Some(Scope::Area),
            FloodingScope::As => Some(Scope::As),
            FloodingScope::Reserved => None,
        }
    }
}

/// The LSDB key. Ordered so that all LSAs of one type and router are adjacent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LsaKey {
    /// Flooding scope.
    pub scope: Scope,
    /// LS type.
    pub ls_type: LsaType,
    /// Advertising Router.
    pub adv_router: Ipv4Addr,
    /// Link State ID.
    pub ls_id: Ipv4Addr,
}

impl LsaKey {
    /// The key of a header stored in `scope`.
    pub fn new(scope: Scope, h: &LsaHeader) -> Self {
        LsaKey {
            scope,
            ls_type: h.ls_type,
            adv_router: h.advertising_router,
            ls_id: h.link_state_id,
        }
    }
}

/// One installed LSA.
#[derive(Debug, Clone)]
pub struct LsdbEntry {
    /// The decoded LSA; `header.age` is the age at installation.
    pub lsa: Lsa,
    /// The LSA's bytes exactly as received or originated (checksum valid).
    pub bytes: Vec<u8>,
    /// When it was installed (for aging and MinLSArrival).
    pub installed: Instant,
}

/// What one entry is charged besides its byte buffers: the entry and key themselves
/// and a B-tree slot (an estimate: the map's nodes hold up to 11 entries).
const ENTRY_OVERHEAD: usize =
    core::mem::size_of::<LsdbEntry>() + core::mem::size_of::<LsaKey>() + 16;

impl LsdbEntry {
    /// The memory this entry holds, in bytes, as the LSDB limits count it: the raw
    /// LSA, the heap part of its decoded copy (link, router and prefix lists, or the
    /// body of an unknown type) and a fixed per-entry overhead. A 64 KB
    /// Intra-Area-Prefix-LSA of /0 prefixes (4 bytes each on the wire) is charged
    /// its decoded size, several times its length on the wire.
    pub fn charge(&self) -> usize {
        fn heap<T>(v: &[T], cap: usize) -> usize {
            let _ = v;
            cap * core::mem::size_of::<T>()
        }
        let decoded = match &self.lsa.body {
            LsaBody::Router(r) => heap(&r.links, r.links.capacity()),
            LsaBody::Network(n) => heap(&n.attached_routers, n.attached_routers.capacity()),
            LsaBody::Link(l) => heap(&l.prefixes, l.prefixes.capacity()),
            LsaBody::IntraAreaPrefix(p) => heap(&p.prefixes, p.prefixes.capacity()),
            LsaBody::Unknown(b) => b.capacity(),
            _ => 0,
        };
        ENTRY_OVERHEAD + self.bytes.capacity() + decoded
    }

    /// Current LS age: age at installation plus seconds since, capped at MaxAge.
    /// The DoNotAge bit is not honoured: this engine negotiates no demand circuits
    /// (RFC 1793), so received LSAs have it cleared at installation (RFC 5340 4.5.1
    /// floods LSAs with DoNotAge only where every router supports them), and a copy
    /// that still carries it ages like any other.
    pub fn age(&self, now: Instant) -> u16 {
        let a = (self.lsa.header.age & !DO_NOT_AGE).min(MAX_AGE);
        let secs = now.saturating_duration_since(self.installed).as_secs();
        (u64::from(a) + secs).min(u64::from(MAX_AGE)) as u16
    }

    /// The header with the current age.
    pub fn header(&self, now: Instant) -> LsaHeader {
        let mut h = self.lsa.header;
        h.age = self.age(now);
        h
    }

    /// Whether the LSA has reached MaxAge.
    pub fn is_max_age(&self, now: Instant) -> bool {
        self.age(now) >= MAX_AGE
    }

    /// The bytes to transmit: age advanced by `delay` seconds (RFC 2328 13.3 step 5).
    pub fn bytes_for_tx(&self, now: Instant, delay: u16) -> Vec<u8> {
        let mut b = self.bytes.clone();
        let age = self.age(now);
        let age = if age >= MAX_AGE {
            MAX_AGE
        } else {
            age.saturating_add(delay).min(MAX_AGE)
        };
        b[0..2].copy_from_slice(&age.to_be_bytes());
        b
    }
}

/// What one advertising router's LSAs hold in the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterUsage {
    /// LSAs (all scopes) with this Advertising Router.
    pub lsas: usize,
    /// Their [`LsdbEntry::charge`] summed.
    pub bytes: usize,
}

/// The database, with its memory counted in all and per advertising router.
#[derive(Debug, Clone, Default)]
pub struct Lsdb {
    entries: BTreeMap<LsaKey, LsdbEntry>,
    bytes: usize,
    per_router: HashMap<Ipv4Addr, RouterUsage>,
}

impl Lsdb {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of LSAs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The memory the LSAs hold: [`LsdbEntry::charge`] summed over all entries.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// What the LSAs of one advertising router hold (zero when it has none).
    pub fn router_usage(&self, adv_router: Ipv4Addr) -> RouterUsage {
        self.per_router
            .get(&adv_router)
            .copied()
            .unwrap_or_default()
    }

    /// Looks an LSA up.
    pub fn get(&self, key: &LsaKey) -> Option<&LsdbEntry> {
        self.entries.get(key)
    }

    /// Installs (or replaces) an LSA; returns the previous entry. Limits are the
    /// caller's business (the router checks them before installing).
    pub fn insert(&mut self, key: LsaKey, entry: LsdbEntry) -> Option<LsdbEntry> {
        self.account(key.adv_router, 1, entry.charge(), true);
        let old = self.entries.insert(key, entry);
        if let Some(o) = &old {
            self.account(key.adv_router, 1, o.charge(), false);
        }
        old
    }

    /// Removes an LSA.
    pub fn remove(&mut self, key: &LsaKey) -> Option<LsdbEntry> {
        let old = self.entries.remove(key);
        if let Some(o) = &old {
            self.account(key.adv_router, 1, o.charge(), false);
        }
        old
    }

    fn account(&mut self, router: Ipv4Addr, lsas: usize, bytes: usize, add: bool) {
        let u = self.per_router.entry(router).or_default();
        if add {
            u.lsas += lsas;
            u.bytes += bytes;
            self.bytes += bytes;
        } else {
            u.lsas = u.lsas.saturating_sub(lsas);
            u.bytes = u.bytes.saturating_sub(bytes);
            self.bytes = self.bytes.saturating_sub(bytes);
            if u.lsas == 0 {
                self.per_router.remove(&router);
            }
        }
    }

    /// Every LSA in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&LsaKey, &LsdbEntry)> {
        self.entries.iter()
    }

    /// The LSAs of one scope and type, optionally of one advertising router.
    pub fn of_type(
        &self,
        scope: Scope,
        ls_type: LsaType,
        adv_router: Option<Ipv4Addr>,
    ) -> impl Iterator<Item = (&LsaKey, &LsdbEntry)> {
        let (lo_r, hi_r) = match adv_router {
            Some(r) => (r, r),
            None => (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST),
        };
        let lo = LsaKey {
            scope,
            ls_type,
            adv_router: lo_r,
            ls_id: Ipv4Addr::UNSPECIFIED,
        };
        let hi = LsaKey {
            scope,
            ls_type,
            adv_router: hi_r,
            ls_id: Ipv4Addr::BROADCAST,
        };
        self.entries
            .range((Bound::Included(lo), Bound::Included(hi)))
    }

    /// Removes every LSA of a link scope (the interface went away).
    pub fn remove_scope(&mut self, scope: Scope) -> Vec<LsaKey> {
        let keys: Vec<LsaKey> = self
            .entries
            .keys()
            .filter(|k| k.scope == scope)
            .copied()
            .collect();
        for k in &keys {
            self.remove(k);
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_follow_the_u_bit() {
        // Known types by their scope bits.
        assert_eq!(Scope::of(LsaType::LINK, 3), Some(Scope::Link(3)));
        assert_eq!(Scope::of(LsaType::ROUTER, 3), Some(Scope::Area));
        assert_eq!(Scope::of(LsaType::AS_EXTERNAL, 3), Some(Scope::As));
        // Unknown function code, U clear: treated as link-local whatever S2/S1 say.
        assert_eq!(Scope::of(LsaType(0x2020), 3), Some(Scope::Link(3)));
        assert_eq!(Scope::of(LsaType(0x4020), 3), Some(Scope::Link(3)));
        // U set: flooded by its scope bits; the reserved scope is discarded.
        assert_eq!(Scope::of(LsaType(0xA020), 3), Some(Scope::Area));
        assert_eq!(Scope::of(LsaType(0xC020), 3), Some(Scope::As));
        assert_eq!(Scope::of(LsaType(0xE020), 3), None);
    }
}
