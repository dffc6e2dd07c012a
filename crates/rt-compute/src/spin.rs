//! Bounded, adaptive spinning of the waiting side of the bridge.
//!
//! Parking a tokio worker and waking it again costs a futex round trip on each side, several
//! microseconds, which is far more than a short job. So the first poll of a job's future may
//! spin on the job's state for at most `bridge_spin_us` before it registers its waker and
//! returns `Pending`. Spinning is a gamble on the job being short, so it is only taken when it
//! is likely to pay:
//!
//! * **Per call site.** The pool keeps a running estimate of how long jobs of each closure type
//!   (one per call site, keyed by `TypeId`, in a small table of [`KINDS`] slots) take to run. A
//!   job whose estimate is at or above the budget does not spin: a 2 ms job never makes its
//!   caller burn CPU, while a 1 µs job at another call site still does.
//! * **Busy pool.** A job that cannot start at once (jobs queued, or every thread busy) never
//!   spins: its wait is a queue wait.
//! * **Back-off.** A credit counter goes up each time a spin ends with the result (up to
//!   [`MAX_CREDIT`]) and is halved each time the whole budget runs out (for example when the
//!   machine is oversubscribed and the pool thread cannot get a core); with no credit left only
//!   one job in [`PROBE_EVERY`] spins, to find out whether spinning pays again.
//!
//! The spin checks the state with a CPU spin hint and reads the clock every few checks. After
//! [`PURE_SPIN`] it also yields the CPU each round, so that a pool thread waiting for this core
//! can run the job. It never sleeps and never exceeds the budget by more than one round.

use std::any::TypeId;
use std::hash::{Hash, Hasher};
use std::hint::spin_loop;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Credit ceiling. A spin that ends with the result adds one, a spin that runs out of budget
/// halves the credit; at zero only probes spin, so from the ceiling five budget-exhausting spins
/// in a row stop spinning.
pub(crate) const MAX_CREDIT: u32 = 16;
/// With no credit, one job in this many still spins (a probe).
pub(crate) const PROBE_EVERY: u32 = 32;
/// Slots of the per-call-site duration table (call sites that share a slot share an estimate).
pub(crate) const KINDS: usize = 64;
/// How long the spin is pure before it starts yielding the CPU between checks.
pub(crate) const PURE_SPIN: Duration = Duration::from_micros(3);
/// State checks between two clock reads.
const CHECKS_PER_CLOCK_READ: u32 = 16;

/// Folds the bytes `TypeId` feeds it into one word (no need for a keyed hash here).
#[derive(Default)]
struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}

/// The table slot of closures of type `F`.
pub(crate) fn kind_of<F: 'static>() -> usize {
    let mut h = FoldHasher::default();
    TypeId::of::<F>().hash(&mut h);
    (h.finish() >> 32) as usize % KINDS
}

#[derive(Debug)]
pub(crate) struct SpinPolicy {
    budget: Duration,
    budget_ns: u32,
    credit: AtomicU32,
    probes: AtomicU32,
    /// Running estimate of each kind's run time in ns (0: not seen yet).
    estimates: [AtomicU32; KINDS],
}

impl SpinPolicy {
    pub(crate) fn new(budget_us: u32) -> Self {
        Self {
            budget: Duration::from_micros(u64::from(budget_us)),
            budget_ns: budget_us.saturating_mul(1000),
            credit: AtomicU32::new(MAX_CREDIT),
            probes: AtomicU32::new(0),
            estimates: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }

    /// Whether a job of `kind` submitted now may spin on its first poll.
    pub(crate) fn should_spin(&self, kind: usize, pool_busy: impl FnOnce() -> bool) -> bool {
        if self.budget_ns == 0 || self.estimates[kind % KINDS].load(Relaxed) >= self.budget_ns {
            return false;
        }
        if self.credit.load(Relaxed) == 0 && self.probes.fetch_add(1, Relaxed) % PROBE_EVERY != 0 {
            return false;
        }
        !pool_busy()
    }

    /// Records a run time of a job of `kind` (exponential moving average, weight 1/4).
    pub(crate) fn record(&self, kind: usize, elapsed: Duration) {
        if self.budget_ns == 0 {
            return;
        }
        let sample = u32::try_from(elapsed.as_nanos()).unwrap_or(u32::MAX);
        let slot = &self.estimates[kind % KINDS];
        let old = slot.load(Relaxed);
        let new = if old == 0 {
            sample.max(1)
        } else {
            ((u64::from(old) * 3 + u64::from(sample)) / 4).max(1) as u32
        };
        if new != old {
            slot.store(new, Relaxed);
        }
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
            let elapsed = start.elapsed();
            if elapsed >= self.budget {
                let ok = done();
                if ok {
                    self.on_success();
                } else {
                    self.on_timeout();
                }
                return ok;
            }
            if elapsed >= PURE_SPIN {
                std::thread::yield_now();
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
        assert!(!p.should_spin(0, || false));
    }

    #[test]
    fn busy_pool_never_spins() {
        let p = SpinPolicy::new(10);
        assert!(!p.should_spin(0, || true));
        assert!(p.should_spin(0, || false));
    }

    #[test]
    fn kinds_that_run_longer_than_the_budget_stop_spinning() {
        let p = SpinPolicy::new(50);
        let (slow, fast) = (1, 2);
        p.record(slow, Duration::from_millis(2));
        p.record(fast, Duration::from_micros(1));
        assert!(!p.should_spin(slow, || false));
        assert!(p.should_spin(fast, || false));
        // The estimate follows the kind when it gets fast.
        for _ in 0..20 {
            p.record(slow, Duration::from_micros(1));
        }
        assert!(p.should_spin(slow, || false));
    }

    #[test]
    fn kinds_differ_per_closure_type() {
        let a = kind_of::<fn() -> u8>();
        assert_eq!(a, kind_of::<fn() -> u8>());
        assert!(a < KINDS);
        let distinct: std::collections::HashSet<usize> = [
            kind_of::<u8>(),
            kind_of::<u16>(),
            kind_of::<u32>(),
            kind_of::<u64>(),
            kind_of::<String>(),
        ]
        .into();
        assert!(distinct.len() >= 3, "the table spreads types: {distinct:?}");
    }

    #[test]
    fn timeouts_drain_credit_then_only_probes_spin() {
        let p = SpinPolicy::new(1);
        for _ in 0..8 {
            assert!(!p.wait(Instant::now(), || false));
        }
        assert_eq!(p.credit(), 0);
        let spins = (0..PROBE_EVERY * 2)
            .filter(|_| p.should_spin(0, || false))
            .count();
        assert_eq!(spins, 2);
        assert!(p.wait(Instant::now(), || true));
        assert_eq!(p.credit(), 1);
        assert!(p.should_spin(0, || false));
    }
}
