//! Tier validation (feature `compute-validation`): every `compute_*!` macro times its work and
//! warns when it was put in the wrong tier, so that misplaced work shows up in logs and tests.
//!
//! Thresholds: [`SMALL_TIER_LIMIT`](crate::SMALL_TIER_LIMIT) (100 µs) and
//! [`MEDIUM_TIER_LIMIT`](crate::MEDIUM_TIER_LIMIT) (1 ms); see [`Tier::for_duration`].
//! Counters are process-wide and only ever grow (read differences in tests):
//!
//! ```
//! use rt_compute::{compute_small, validation};
//!
//! let before = validation::stats();
//! compute_small!(std::thread::sleep(std::time::Duration::from_millis(2)));
//! let after = validation::stats();
//! assert_eq!(after.checked - before.checked, 1);
//! assert!(after.small_too_slow > before.small_too_slow);
//! ```

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::tier::Tier;

static CHECKED: AtomicU64 = AtomicU64::new(0);
static SMALL_TOO_SLOW: AtomicU64 = AtomicU64::new(0);
static MEDIUM_TOO_FAST: AtomicU64 = AtomicU64::new(0);
static MEDIUM_TOO_SLOW: AtomicU64 = AtomicU64::new(0);
static LARGE_TOO_FAST: AtomicU64 = AtomicU64::new(0);
static INLINE_FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// Process-wide counts of the validation checks so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ValidationStats {
    /// Macro invocations whose work was timed.
    pub checked: u64,
    /// `compute_small!` work that took 100 µs or more.
    pub small_too_slow: u64,
    /// `compute_medium!` work that took under 100 µs.
    pub medium_too_fast: u64,
    /// `compute_medium!` work that took 1 ms or more.
    pub medium_too_slow: u64,
    /// `compute_large!` work that took under 1 ms.
    pub large_too_fast: u64,
    /// Medium/large work that ran inline because no pool was reachable.
    pub inline_fallbacks: u64,
}

impl ValidationStats {
    /// Total of the misplaced-work counters.
    pub fn misplaced(&self) -> u64 {
        self.small_too_slow + self.medium_too_fast + self.medium_too_slow + self.large_too_fast
    }
}

/// Reads the counters.
pub fn stats() -> ValidationStats {
    ValidationStats {
        checked: CHECKED.load(Relaxed),
        small_too_slow: SMALL_TOO_SLOW.load(Relaxed),
        medium_too_fast: MEDIUM_TOO_FAST.load(Relaxed),
        medium_too_slow: MEDIUM_TOO_SLOW.load(Relaxed),
        large_too_fast: LARGE_TOO_FAST.load(Relaxed),
        inline_fallbacks: INLINE_FALLBACKS.load(Relaxed),
    }
}

/// The counter a misplaced piece of work increments, if any.
fn counter(used: Tier, belongs: Tier) -> Option<&'static AtomicU64> {
    match (used, belongs) {
        (Tier::Small, Tier::Medium | Tier::Large) => Some(&SMALL_TOO_SLOW),
        (Tier::Medium, Tier::Small) => Some(&MEDIUM_TOO_FAST),
        (Tier::Medium, Tier::Large) => Some(&MEDIUM_TOO_SLOW),
        (Tier::Large, Tier::Small | Tier::Medium) => Some(&LARGE_TOO_FAST),
        _ => None,
    }
}

/// Checks one timed piece of work; returns the tier it belongs in when that is not `used`.
pub fn check(used: Tier, elapsed: Duration) -> Option<Tier> {
    CHECKED.fetch_add(1, Relaxed);
    let belongs = Tier::for_duration(elapsed);
    let c = counter(used, belongs)?;
    c.fetch_add(1, Relaxed);
    Some(belongs)
}

pub(crate) fn record(used: Tier, elapsed: Duration) {
    if let Some(belongs) = check(used, elapsed) {
        tracing::warn!(
            elapsed_us = elapsed.as_micros() as u64,
            "{} work took {:?}: it belongs in {}",
            used.macro_name(),
            elapsed,
            belongs.macro_name()
        );
    }
}

pub(crate) fn record_inline_fallback() {
    INLINE_FALLBACKS.fetch_add(1, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_classifies_by_thresholds() {
        let us = Duration::from_micros;
        assert_eq!(check(Tier::Small, us(99)), None);
        assert_eq!(check(Tier::Small, us(100)), Some(Tier::Medium));
        assert_eq!(check(Tier::Small, us(5000)), Some(Tier::Large));
        assert_eq!(check(Tier::Medium, us(99)), Some(Tier::Small));
        assert_eq!(check(Tier::Medium, us(100)), None);
        assert_eq!(check(Tier::Medium, us(999)), None);
        assert_eq!(check(Tier::Medium, us(1000)), Some(Tier::Large));
        assert_eq!(check(Tier::Large, us(999)), Some(Tier::Medium));
        assert_eq!(check(Tier::Large, us(1000)), None);
    }
}
