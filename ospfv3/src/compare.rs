//! Which of two instances of the same LSA is newer (RFC 2328 13.1, unchanged by
//! RFC 5340). A pure function: the LSDB, flooding and DD exchange all rely on it.

use core::cmp::Ordering;

use crate::constants::{DO_NOT_AGE, MAX_AGE, MAX_AGE_DIFF};
use crate::lsa::LsaHeader;

/// How one LSA instance relates to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Freshness {
    /// The first instance is more recent.
    Newer,
    /// The first instance is less recent.
    Older,
    /// Both are the same instance.
    Same,
}

/// LS age without the DoNotAge bit, capped at MaxAge.
fn effective_age(age: u16) -> u16 {
    (age & !DO_NOT_AGE).min(MAX_AGE)
}

impl From<Ordering> for Freshness {
    fn from(o: Ordering) -> Self {
        match o {
            Ordering::Greater => Self::Newer,
            Ordering::Less => Self::Older,
            Ordering::Equal => Self::Same,
        }
    }
}

/// Compares instance `a` against instance `b` of the same LSA (RFC 2328 13.1):
/// the larger signed sequence number is newer; then the larger checksum (as an
/// unsigned 16-bit number); then an instance at MaxAge is newer than one that is
/// not; then, if the ages differ by more than MaxAgeDiff, the younger is newer;
/// otherwise they are the same instance.
pub fn compare(a: &LsaHeader, b: &LsaHeader) -> Freshness {
    let seq = (a.seq_number as i32).cmp(&(b.seq_number as i32));
    if seq != Ordering::Equal {
        return seq.into();
    }
    if a.checksum != b.checksum {
        return a.checksum.cmp(&b.checksum).into();
    }
    let (age_a, age_b) = (effective_age(a.age), effective_age(b.age));
    match (age_a == MAX_AGE, age_b == MAX_AGE) {
        (true, false) => return Freshness::Newer,
        (false, true) => return Freshness::Older,
        _ => {}
    }
    if age_a.abs_diff(age_b) > MAX_AGE_DIFF {
        // Younger is newer.
        return age_b.cmp(&age_a).into();
    }
    Freshness::Same
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsa::LsaType;
    use std::net::Ipv4Addr;

    fn h(seq: u32, checksum: u16, age: u16) -> LsaHeader {
        LsaHeader {
            age,
            ls_type: LsaType::ROUTER,
            link_state_id: Ipv4Addr::UNSPECIFIED,
            advertising_router: Ipv4Addr::new(1, 1, 1, 1),
            seq_number: seq,
            checksum,
            length: 24,
        }
    }

    #[test]
    fn rules_in_order() {
        use Freshness::*;
        // Sequence numbers are signed: 0x80000001 is the smallest in use.
        assert_eq!(compare(&h(0x8000_0002, 1, 0), &h(0x8000_0001, 9, 0)), Newer);
        assert_eq!(compare(&h(0x8000_0001, 9, 0), &h(0x0000_0001, 1, 0)), Older);
        assert_eq!(compare(&h(0x7FFF_FFFF, 1, 0), &h(0x8000_0001, 1, 0)), Newer);
        // Checksum breaks a sequence tie, larger is newer.
        assert_eq!(compare(&h(5, 0xFF00, 0), &h(5, 0x00FF, 0)), Newer);
        // MaxAge wins next.
        assert_eq!(compare(&h(5, 1, MAX_AGE), &h(5, 1, 10)), Newer);
        assert_eq!(compare(&h(5, 1, 10), &h(5, 1, MAX_AGE)), Older);
        // Then a difference beyond MaxAgeDiff: the younger is newer.
        assert_eq!(compare(&h(5, 1, 10), &h(5, 1, 911)), Newer);
        assert_eq!(compare(&h(5, 1, 911), &h(5, 1, 10)), Older);
        assert_eq!(compare(&h(5, 1, 10), &h(5, 1, 910)), Same);
        assert_eq!(compare(&h(5, 1, MAX_AGE), &h(5, 1, MAX_AGE)), Same);
        // DoNotAge is ignored when comparing ages.
        assert_eq!(compare(&h(5, 1, DO_NOT_AGE | 10), &h(5, 1, 10)), Same);
    }
}
