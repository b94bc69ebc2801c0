//! Anti-replay window (RFC 4303 section 3.4.3) kept as a ring of 64-bit blocks
//! (RFC 6479), and extended-sequence-number inference (RFC 4303 appendix A).
//!
//! The receiver calls [`ReplayWindow::check`] before decrypting and
//! [`ReplayWindow::update`] only after the integrity check passed, so forged packets
//! can never move the window.

use thiserror::Error;

/// Blocks in the ring; one block more than the window so the window can slide by
/// whole blocks (RFC 6479 section 2).
const BLOCKS: usize = 17;
/// Usable window width in packets.
pub const WINDOW: u64 = ((BLOCKS - 1) * 64) as u64;

/// Why a sequence number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// Already received.
    #[error("duplicate")]
    Duplicate,
    /// Left of the window: too old to tell.
    #[error("left of the window")]
    TooOld,
    /// Sequence number zero is never sent (RFC 4303 section 3.3.3).
    #[error("sequence number zero")]
    Zero,
}

/// A sliding window of [`WINDOW`] sequence numbers.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// Highest authenticated sequence number (0: none yet).
    top: u64,
    ring: [u64; BLOCKS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// An empty window.
    pub fn new() -> Self {
        ReplayWindow {
            top: 0,
            ring: [0; BLOCKS],
        }
    }

    /// A window whose highest accepted number is `top` and in which every number at
    /// or below `top` counts as seen: for resuming an SA from persisted state.
    pub fn resume_at(top: u64) -> Self {
        ReplayWindow {
            top,
            ring: [u64::MAX; BLOCKS],
        }
    }

    /// Highest sequence number accepted so far.
    pub fn top(&self) -> u64 {
        self.top
    }

    fn slot(seq: u64) -> (usize, u64) {
        (((seq / 64) % BLOCKS as u64) as usize, 1u64 << (seq % 64))
    }

    /// Would `seq` be accepted? Does not change the window.
    pub fn check(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::Zero);
        }
        if seq > self.top {
            return Ok(());
        }
        if seq.saturating_add(WINDOW) <= self.top {
            return Err(ReplayError::TooOld);
        }
        let (block, bit) = Self::slot(seq);
        if self.ring[block] & bit != 0 {
            Err(ReplayError::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Record `seq` as received. Call only after the packet's ICV verified.
    pub fn update(&mut self, seq: u64) -> Result<(), ReplayError> {
        self.check(seq)?;
        if seq > self.top {
            let old_block = self.top / 64;
            let new_block = seq / 64;
            let advance = (new_block - old_block).min(BLOCKS as u64);
            for i in 1..=advance {
                self.ring[((old_block + i) % BLOCKS as u64) as usize] = 0;
            }
            self.top = seq;
        }
        let (block, bit) = Self::slot(seq);
        self.ring[block] |= bit;
        Ok(())
    }

    /// Infer the full 64-bit sequence number from the 32 bits on the wire
    /// (RFC 4303 appendix A.2.2). `None` when it would fall outside the 64-bit space.
    pub fn infer_esn(&self, seq_lo: u32) -> Option<u64> {
        let th = (self.top >> 32) as u32;
        let tl = self.top as u32;
        let w = WINDOW as u32;
        let bottom = tl.wrapping_sub(w - 1);
        let hi = if tl >= w - 1 {
            // Window lies within one 2^32 subspace.
            if seq_lo >= bottom {
                Some(th)
            } else {
                th.checked_add(1)
            }
        } else if seq_lo >= bottom {
            // Window spans two subspaces; this one is in the lower. In subspace 0
            // there is no lower one: the number is ahead of the window.
            Some(th.saturating_sub(1))
        } else {
            Some(th)
        };
        hi.map(|h| (u64::from(h) << 32) | u64::from(seq_lo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_accepts_new_rejects_dup_and_old() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.check(0), Err(ReplayError::Zero));
        w.update(1).unwrap();
        assert_eq!(w.check(1), Err(ReplayError::Duplicate));
        w.update(5000).unwrap();
        assert_eq!(w.check(5000 - WINDOW), Err(ReplayError::TooOld));
        assert!(w.check(5000 - WINDOW + 1).is_ok());
        w.update(5000 - WINDOW + 1).unwrap();
        assert_eq!(w.check(5000 - WINDOW + 1), Err(ReplayError::Duplicate));
        // Out of order inside the window.
        for s in (4000..5000).rev() {
            w.update(s).unwrap();
        }
        for s in 4000..=5000 {
            assert_eq!(w.check(s), Err(ReplayError::Duplicate), "{s}");
        }
        // A jump clears stale bits.
        w.update(5000 + 3 * WINDOW).unwrap();
        assert!(w.check(5000 + 3 * WINDOW - 1).is_ok());
    }

    #[test]
    fn window_is_at_least_1024() {
        let mut w = ReplayWindow::new();
        w.update(10_000).unwrap();
        assert!(w.check(10_000 - 1023).is_ok());
        const { assert!(WINDOW >= 1024) };
    }

    #[test]
    fn esn_inference_across_wrap() {
        let mut w = ReplayWindow::new();
        w.update(0xffff_fff0).unwrap();
        assert_eq!(w.infer_esn(0xffff_fff5), Some(0xffff_fff5));
        assert_eq!(w.infer_esn(3), Some(0x1_0000_0003));
        w.update(0x1_0000_0003).unwrap();
        // Late packet from before the wrap still maps to the lower subspace.
        assert_eq!(w.infer_esn(0xffff_fff8), Some(0xffff_fff8));
        assert_eq!(w.infer_esn(10), Some(0x1_0000_000a));
        // Before anything, every number is in subspace 0.
        assert_eq!(ReplayWindow::new().infer_esn(7), Some(7));
        assert_eq!(
            ReplayWindow::new().infer_esn(0xffff_fffd),
            Some(0xffff_fffd)
        );
    }
}
