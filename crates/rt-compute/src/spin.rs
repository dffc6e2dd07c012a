//! Bounded, adaptive spinning of the waiting side of the bridge.
//!
//! Parking a tokio worker and waking it again costs a futex round trip on each side, several
//! microseconds, which is far more than a short job. So the first poll of a job's future may
//! spin on the job's state for at most `bridge_spin_us` before it registers its waker and
//! returns `Pending`. Spinning is a gamble on the job being short, so it adapts:
//!
//! * a credit counter goes up each time a spin ends with the result (up to [`MAX_CREDIT`]) and
//!   is halved each time the whole budget runs out; with no credit left, only one job in
//!   [`PROBE_EVERY`] spins, to find out whether jobs got short again;
//! * a job that cannot start at once (the pool is busy) never spins: its wait is a queue wait.
//!
//! The spin itself checks the state with a CPU spin hint and reads the clock every few
//! iterations. It never sleeps and never exceeds the budget by more than one clock read.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Credit ceiling: this many budget-exhausting spins in a row stop spinning (credit halves).
pub(crate) const MAX_CREDIT: u32 = 16;
/// With no credit, one job in this many still spins (a probe).
pub(crate) const PROBE_EVERY: u32 = 32;
/// State checks between two clock reads.
const CHECKS_PER_CLOCK_READ: u32 = 16;

#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct SpinPolicy {
    budget: Duration,
    credit: AtomicU32,
    probes: AtomicU32,
}

impl SpinPolicy {
    pub(crate) fn new(budget_us: u32) -> Self {
        Self {
            budget: Duration::from_micros(u64::from(budget_us)),
            credit: AtomicU32::new(MAX_CREDIT),
            probes: AtomicU32::new(0),
        }
    }

    /// Whether a job submitted now may spin on its first poll.
    pub(crate) fn should_spin(&self, pool_busy: impl FnOnce() -> bool) -> bool {
        if self.budget.is_zero() {
            return false;
        }
        if self.credit.load(Relaxed) == 0
            && self.probes.fetch_add(1, Relaxed) % PROBE_EVERY != 0
        {
            return false;
        }
        !pool_busy()
    }

    /// Spins until `done()` or the budget (counted from `start`) runs out; returns `done()`.
    pub(crate) fn wait(&self, start: Instant, done: impl Fn() -> bool) -> bool {
        loop {
            for _ in 0..CHECKS_PER_CLOCK_READ {
                if done() {
                    self.on_success();
                    return true;
                }
                spin_loop();
            }
            if start.elapsed() >= self.budget {
                let ok = done();
                if ok {
                    self.on_success();
                } else {
                    self.on_timeout();
                }
                return ok;
            }
        }
    }

    fn on_success(&self) {
        let c = self.credit.load(Relaxed);
        if c < MAX_CREDIT {
            self.credit.store(c + 1, Relaxed);
        }
    }

    fn on_timeout(&self) {
        let c = self.credit.load(Relaxed);
        if c > 0 {
            self.credit.store(c / 2, Relaxed);
        }
    }

    #[cfg(test)]
    pub(crate) fn credit(&self) -> u32 {
        self.credit.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_budget_never_spins() {
        let p = SpinPolicy::new(0);
        assert!(!p.should_spin(|| false));
    }

    #[test]
    fn busy_pool_never_spins() {
        let p = SpinPolicy::new(10);
        assert!(!p.should_spin(|| true));
        assert!(p.should_spin(|| false));
    }

    #[test]
    fn timeouts_drain_credit_then_only_probes_spin() {
        let p = SpinPolicy::new(1);
        for _ in 0..8 {
            assert!(!p.wait(Instant::now(), || false));
        }
        assert_eq!(p.credit(), 0);
        let spins = (0..PROBE_EVERY * 2)
            .filter(|_| p.should_spin(|| false))
            .count();
        assert_eq!(spins, 2);
        assert!(p.wait(Instant::now(), || true));
        assert_eq!(p.credit(), 1);
        assert!(p.should_spin(|| false));
    }
}
