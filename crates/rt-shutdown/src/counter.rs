//! The drain protocol: one atomic word plus a notify for waiters. [`InFlight`](crate::InFlight)
//! and the [`GracefulShutdownTracker`](crate::GracefulShutdownTracker) are both built on it, and
//! the loom model in `tests/loom.rs` checks it.
//!
//! Layout of the word: bit 0 is `CLOSED` (new top-level registrations are refused, for good),
//! bit 1 is `WAIT_ZERO` (some [`wait_zero`](Counter::wait_zero) caller has registered interest;
//! sticky), bit 2 is `WAIT_DRAINED` (the same for [`drained`](Counter::drained)), bit 3 is
//! `PAUSED` (new top-level registrations are refused until [`resume`](Counter::resume)), and
//! the remaining bits hold the count, so one registration adds [`ONE`]. Admission reads both
//! refusal flags in the same `fetch_add` that counts it, so a registration is either counted
//! before a close or pause (and seen by a count or wait that follows it) or refused.
//!
//! Every operation on the word is a read-modify-write, so all of them form a single
//! modification order. A waiter creates its `Notified` future *before* it sets its flag
//! (`AcqRel`); the move that makes its condition true reads that flag from the same order.
//! Either the waiter's `fetch_or` already sees the condition and returns, or the move comes
//! later, sees the flag, and its `notify_waiters` happens after the `Notified` was created, so
//! the waiter is woken. No wake-up is lost.
//!
//! The moves that can make a condition true:
//!
//! * "count is zero" (`wait_zero`): a release that takes the count to zero.
//! * "closed and count is zero" (`drained`): a release that takes the count to zero while
//!   `CLOSED` is set, or the `close` that sets `CLOSED` while the count is zero.
//!
//! Each move notifies only when a waiter for its condition has registered, so a long-lived
//! `drained` waiter (a server that selects on it for its whole life) is not woken each time the
//! count touches zero before the close. While nobody has ever waited, a release is one
//! `fetch_sub` and nothing else.

use crate::sync::{AtomicUsize, Notify, Ordering};

const CLOSED: usize = 0b0001;
const WAIT_ZERO: usize = 0b0010;
const WAIT_DRAINED: usize = 0b0100;
const PAUSED: usize = 0b1000;
const ONE: usize = 0b1_0000;
const SHIFT: u32 = 4;

/// The count of live registrations, the closed flag, and the waiters' notify.
#[derive(Debug)]
pub(crate) struct Counter {
    state: AtomicUsize,
    notify: Notify,
}

impl Default for Counter {
    fn default() -> Self {
        Self::new()
    }
}

impl Counter {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicUsize::new(0),
            notify: Notify::new(),
        }
    }

    /// Adds one registration unless the counter is closed or paused. Returns `false` (and
    /// leaves the count as it was) when refused.
    ///
    /// One `fetch_add` when open. When closed, the addition is rolled back; until then a
    /// concurrent [`count`](Self::count) may see it.
    #[inline]
    pub(crate) fn try_add(&self) -> bool {
        let prev = self.state.fetch_add(ONE, Ordering::Relaxed);
        if prev & (CLOSED | PAUSED) == 0 {
            return true;
        }
        // Roll back. The rollback may be the move that takes the count to zero (a concurrent
        // release happened in between), so it goes through `release`.
        self.release();
        false
    }

    /// Adds one registration whether or not the counter is closed (work that belongs to a
    /// registration that is already live).
    #[inline]
    pub(crate) fn add(&self) {
        self.state.fetch_add(ONE, Ordering::Relaxed);
    }

    /// Removes one registration that the caller owns; wakes the waiters whose condition that
    /// makes true.
    #[inline]
    pub(crate) fn release(&self) {
        let prev = self.state.fetch_sub(ONE, Ordering::AcqRel);
        if prev >> SHIFT == 1 && wakes_on_zero(prev) {
            self.notify.notify_waiters();
        }
    }

    /// The number of live registrations.
    #[inline]
    pub(crate) fn count(&self) -> usize {
        self.state.load(Ordering::Acquire) >> SHIFT
    }

    /// Refuses new top-level registrations from now on. Returns whether this call set the
    /// flag (`false` when it was already closed).
    pub(crate) fn close(&self) -> bool {
        let prev = self.state.fetch_or(CLOSED, Ordering::AcqRel);
        if prev & CLOSED != 0 {
            return false;
        }
        if prev >> SHIFT == 0 && prev & WAIT_DRAINED != 0 {
            self.notify.notify_waiters();
        }
        true
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Refuses new top-level registrations until [`resume`](Self::resume). Returns whether
    /// this call set the flag. A registration counted before this call is seen by every count
    /// and [`wait_zero`](Self::wait_zero) that follows it.
    pub(crate) fn pause(&self) -> bool {
        self.state.fetch_or(PAUSED, Ordering::AcqRel) & PAUSED == 0
    }

    /// Admits registrations again (unless closed). Returns whether this call cleared the flag.
    pub(crate) fn resume(&self) -> bool {
        self.state.fetch_and(!PAUSED, Ordering::AcqRel) & PAUSED != 0
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.state.load(Ordering::Acquire) & PAUSED != 0
    }

    /// Returns once the count is zero, or has been zero at some moment since the call began.
    pub(crate) async fn wait_zero(&self) {
        let notified = self.notify.notified();
        let prev = self.state.fetch_or(WAIT_ZERO, Ordering::AcqRel);
        if prev >> SHIFT == 0 {
            return;
        }
        // Every notification comes from a move that makes some condition true; the one for
        // "zero" is a release that reached zero after `notified` was created. A notification
        // for "drained" also means the count reached zero. Either way the count has been zero
        // since the call began.
        notified.await;
    }

    /// Returns once the counter is closed and the count is zero. That state is final for
    /// top-level registrations (only [`add`](Self::add) can still raise the count).
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.notify.notified();
            let prev = self.state.fetch_or(WAIT_DRAINED, Ordering::AcqRel);
            if prev & CLOSED != 0 && prev >> SHIFT == 0 {
                return;
            }
            // Woken by any move (a "zero" waiter's release included): check again.
            notified.await;
        }
    }
}

/// Whether a release that takes the count from one to zero, with `prev` the word before it,
/// completes a registered waiter's condition.
#[inline]
fn wakes_on_zero(prev: usize) -> bool {
    prev & WAIT_ZERO != 0 || prev & (WAIT_DRAINED | CLOSED) == WAIT_DRAINED | CLOSED
}
