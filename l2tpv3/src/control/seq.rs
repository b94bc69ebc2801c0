//! Sequence number arithmetic for Ns and Nr (RFC 3931 section 4.2).
//!
//! Ns and Nr are free-running 16-bit counters. A number is "less than or equal to"
//! a reference when it lies in the reference and the 32767 values before it; the
//! comparison therefore splits the circle in two halves around the reference.

/// Half of the sequence space: numbers this far or further behind count as ahead.
pub const HALF: u16 = 0x8000;

/// `a` comes strictly before `b` in sequence space (modulo 2^16).
pub const fn lt(a: u16, b: u16) -> bool {
    let d = b.wrapping_sub(a);
    d != 0 && d < HALF
}

/// `a` comes before or is equal to `b` in sequence space.
pub const fn le(a: u16, b: u16) -> bool {
    a == b || lt(a, b)
}

/// Forward distance from `from` to `to` (how many increments reach `to`).
pub const fn distance(from: u16, to: u16) -> u16 {
    to.wrapping_sub(from)
}

/// RFC 3931 section 4.2: a received Ns is a duplicate when it lies in the last
/// received number (`expected - 1`) and the 32767 numbers before it.
pub const fn is_duplicate(ns: u16, expected: u16) -> bool {
    let behind = expected.wrapping_sub(ns);
    behind >= 1 && behind <= HALF
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_example_last_received_15() {
        // "if the last received sequence number was 15, then messages with sequence
        // numbers 0 through 15, as well as 32784 through 65535, would be considered
        // less than or equal."
        let expected = 16;
        for ns in 0..=15u16 {
            assert!(is_duplicate(ns, expected), "{ns}");
        }
        for ns in 32784..=65535u16 {
            assert!(is_duplicate(ns, expected), "{ns}");
        }
        for ns in 16..32784u16 {
            assert!(!is_duplicate(ns, expected), "{ns}");
        }
    }

    #[test]
    fn wraps() {
        assert!(lt(65535, 0));
        assert!(lt(65000, 10));
        assert!(!lt(10, 65000));
        assert!(le(7, 7));
        assert_eq!(distance(65534, 2), 4);
    }

    proptest! {
        #[test]
        fn lt_is_antisymmetric(a: u16, d in 1u16..HALF) {
            let b = a.wrapping_add(d);
            prop_assert!(lt(a, b));
            prop_assert!(!lt(b, a));
            prop_assert!(!is_duplicate(b, a.wrapping_add(1)));
            prop_assert!(is_duplicate(a, b));
        }
    }
}
