//! [`Tier`]: how much CPU a piece of work takes, and the thresholds between tiers.

use std::time::Duration;

/// Work expected to take less than this belongs in [`Tier::Small`] (run inline).
pub const SMALL_TIER_LIMIT: Duration = Duration::from_micros(100);
/// Work expected to take less than this (and at least [`SMALL_TIER_LIMIT`]) belongs in
/// [`Tier::Medium`]; anything longer in [`Tier::Large`].
pub const MEDIUM_TIER_LIMIT: Duration = Duration::from_millis(1);

/// How much CPU a piece of work takes, which decides where the `compute_*!` macros run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Under 100 µs: inline on the calling task (`compute_small!`); offloading would cost more
    /// than the work.
    Small,
    /// 100 µs to 1 ms: `block_in_place` on the current worker when a permit is free, else the
    /// pool (`compute_medium!`).
    Medium,
    /// Over 1 ms: the compute pool (`compute_large!`).
    Large,
}

impl Tier {
    /// The tier that work of this measured duration belongs in.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rt_compute::Tier;
    /// assert_eq!(Tier::for_duration(Duration::from_micros(20)), Tier::Small);
    /// assert_eq!(Tier::for_duration(Duration::from_micros(300)), Tier::Medium);
    /// assert_eq!(Tier::for_duration(Duration::from_millis(5)), Tier::Large);
    /// ```
    pub fn for_duration(elapsed: Duration) -> Tier {
        if elapsed < SMALL_TIER_LIMIT {
            Tier::Small
        } else if elapsed < MEDIUM_TIER_LIMIT {
            Tier::Medium
        } else {
            Tier::Large
        }
    }

    /// The macro of this tier, for messages.
    pub fn macro_name(self) -> &'static str {
        match self {
            Tier::Small => "compute_small!",
            Tier::Medium => "compute_medium!",
            Tier::Large => "compute_large!",
        }
    }
}
