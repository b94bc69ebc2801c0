//! Flap damping in the manner of RFC 2439 (BGP route flap damping), applied to a
//! prefix's health instead of a BGP route.
//!
//! Every time the prefix's combined health goes from up to down it earns `penalty`
//! points, capped at `max_penalty`. The figure decays exponentially with `half_life`:
//! `p(t) = p(t0) * 2^(-(t - t0) / half_life)`. When a flap lifts it to `suppress` or
//! more, the prefix is suppressed: the policy treats it as unhealthy even when its
//! checks pass, until the decayed figure falls to `reuse`. The instant of reuse is
//! computed in closed form, `t0 + half_life * log2(p(t0) / reuse)`, so the policy needs
//! no periodic tick and reads no clock: every value is a function of the `now` passed in.
//!
//! The cap bounds the longest suppression to `half_life * log2(max_penalty / reuse)`.

use std::time::{Duration, Instant};

/// The longest half-life accepted by validation (one day).
pub const MAX_HALF_LIFE: Duration = Duration::from_secs(24 * 3600);

/// Damping parameters. [`Default`] gives penalty 1000, half-life 60 s, suppress 2500,
/// reuse 750 and a cap of 6000 (at most 3 half-lives, 180 s, of suppression).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct DampingConfig {
    /// Points added per flap (health going down).
    pub penalty: u32,
    /// Time for the figure to halve.
    pub half_life: Duration,
    /// Suppress when a flap lifts the figure to this value or above.
    pub suppress: u32,
    /// Lift the suppression when the figure decays to this value.
    pub reuse: u32,
    /// The figure never exceeds this, which bounds the suppression time.
    pub max_penalty: u32,
}

impl Default for DampingConfig {
    fn default() -> Self {
        Self {
            penalty: 1000,
            half_life: Duration::from_secs(60),
            suppress: 2500,
            reuse: 750,
            max_penalty: 6000,
        }
    }
}

impl DampingConfig {
    /// Checks the relations the decay arithmetic relies on; returns the name of the
    /// offending field and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.half_life.is_zero() || self.half_life > MAX_HALF_LIFE {
            return Err((
                "damping.half_life",
                format!("must be above zero and at most {MAX_HALF_LIFE:?}"),
            ));
        }
        if self.reuse == 0 {
            return Err(("damping.reuse", "must be above zero".into()));
        }
        if self.reuse >= self.suppress {
            return Err((
                "damping.reuse",
                format!("{} must be below suppress {}", self.reuse, self.suppress),
            ));
        }
        if self.suppress > self.max_penalty {
            return Err((
                "damping.max_penalty",
                format!(
                    "{} must be at least suppress {}",
                    self.max_penalty, self.suppress
                ),
            ));
        }
        Ok(())
    }

    /// The longest a prefix can stay suppressed after its last flap.
    pub fn max_suppress_time(&self) -> Duration {
        let ratio = f64::from(self.max_penalty) / f64::from(self.reuse);
        scale(self.half_life, ratio.log2())
    }
}

/// `d × factor`, saturating at `Duration::MAX` and clamped at zero (no panic on huge
/// half-lives or odd factors).
fn scale(d: Duration, factor: f64) -> Duration {
    if factor.is_nan() || factor <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

/// The damping state of one prefix.
#[derive(Debug, Clone, Default)]
pub struct Damping {
    penalty: f64,
    updated: Option<Instant>,
    suppressed: bool,
}

impl Damping {
    /// The decayed figure at `now`.
    pub fn penalty_at(&self, cfg: &DampingConfig, now: Instant) -> f64 {
        match self.updated {
            None => 0.0,
            Some(t0) => {
                let dt = now.saturating_duration_since(t0).as_secs_f64();
                self.penalty * (-dt / cfg.half_life.as_secs_f64()).exp2()
            }
        }
    }

    /// Whether the prefix is suppressed.
    pub fn is_suppressed(&self) -> bool {
        self.suppressed
    }

    /// Records one flap at `now`. Returns true when this flap started a suppression.
    pub fn flap(&mut self, cfg: &DampingConfig, now: Instant) -> bool {
        let p =
            (self.penalty_at(cfg, now) + f64::from(cfg.penalty)).min(f64::from(cfg.max_penalty));
        self.penalty = p;
        self.updated = Some(now);
        if !self.suppressed && p >= f64::from(cfg.suppress) {
            self.suppressed = true;
            return true;
        }
        false
    }

    /// When a suppression ends, if one is in force.
    pub fn reuse_at(&self, cfg: &DampingConfig) -> Option<Instant> {
        if !self.suppressed {
            return None;
        }
        let t0 = self.updated?;
        let ratio = self.penalty / f64::from(cfg.reuse);
        let wait = scale(cfg.half_life, ratio.log2());
        // Beyond the representable future: suppressed until ClearDamping.
        t0.checked_add(wait)
    }

    /// Ends the suppression if its reuse instant has come. Returns true when it did.
    ///
    /// The comparison is made on instants, not on the floating figure, so that a
    /// timer set for [`reuse_at`](Self::reuse_at) always releases.
    pub fn release_if_due(&mut self, cfg: &DampingConfig, now: Instant) -> bool {
        match self.reuse_at(cfg) {
            Some(t) if now >= t => {
                self.suppressed = false;
                true
            }
            _ => false,
        }
    }

    /// Forgets all history (admin command).
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_bounded() {
        let c = DampingConfig::default();
        c.validate().unwrap();
        let m = c.max_suppress_time().as_secs_f64();
        assert!((m - 180.0).abs() < 1e-6, "{m}");
    }

    #[test]
    fn decays_by_half_life() {
        let c = DampingConfig::default();
        let t0 = Instant::now();
        let mut d = Damping::default();
        assert!(!d.flap(&c, t0));
        let p = d.penalty_at(&c, t0 + c.half_life);
        assert!((p - 500.0).abs() < 1e-6, "{p}");
    }

    #[test]
    fn suppresses_after_repeated_flaps_and_reuses_on_time() {
        let c = DampingConfig::default();
        let t0 = Instant::now();
        let mut d = Damping::default();
        assert!(!d.flap(&c, t0));
        assert!(!d.flap(&c, t0 + Duration::from_secs(1)));
        let t2 = t0 + Duration::from_secs(2);
        assert!(d.flap(&c, t2));
        assert!(d.is_suppressed());
        let reuse = d.reuse_at(&c).unwrap();
        // 1000 + 1000*2^(-1/60) + ... ≈ 2966 at t2, down to 750 in about 2 half-lives.
        let expect = c.half_life.as_secs_f64() * (d.penalty_at(&c, t2) / 750.0).log2();
        let got = reuse.duration_since(t2).as_secs_f64();
        assert!((got - expect).abs() < 1e-3, "{got} vs {expect}");
        assert!(!d.release_if_due(&c, reuse - Duration::from_millis(1)));
        assert!(d.release_if_due(&c, reuse));
        assert!(!d.is_suppressed());
        assert!(d.penalty_at(&c, reuse) <= 750.0 + 1e-6);
    }

    #[test]
    fn cap_bounds_suppression() {
        let c = DampingConfig::default();
        let t0 = Instant::now();
        let mut d = Damping::default();
        for _ in 0..100 {
            d.flap(&c, t0);
        }
        let wait = d.reuse_at(&c).unwrap().duration_since(t0);
        assert!(wait <= c.max_suppress_time() + Duration::from_millis(1));
    }

    #[test]
    fn huge_half_life_saturates_instead_of_panicking() {
        let c = DampingConfig {
            half_life: Duration::MAX,
            ..DampingConfig::default()
        };
        assert_eq!(c.max_suppress_time(), Duration::MAX);
        let t0 = Instant::now();
        let mut d = Damping::default();
        for _ in 0..3 {
            d.flap(&c, t0);
        }
        assert!(d.is_suppressed());
        // Beyond the representable future: no reuse instant, no panic, still suppressed.
        assert_eq!(d.reuse_at(&c), None);
        assert!(!d.release_if_due(&c, t0 + Duration::from_secs(1 << 40)));
        assert!(c.validate().is_err());
    }

    #[test]
    fn rejects_inconsistent_parameters() {
        let mut c = DampingConfig::default();
        c.reuse = 3000;
        assert_eq!(c.validate().unwrap_err().0, "damping.reuse");
        let mut c = DampingConfig::default();
        c.half_life = Duration::ZERO;
        assert_eq!(c.validate().unwrap_err().0, "damping.half_life");
        let mut c = DampingConfig::default();
        c.max_penalty = 100;
        assert_eq!(c.validate().unwrap_err().0, "damping.max_penalty");
    }
}
