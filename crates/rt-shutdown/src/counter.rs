//! The tracker's count: one atomic word plus a notify for waiters.
//!
//! Layout of the word: bit 0 is `CLOSED` (new top-level registrations are refused), bit 1 is
//! `WAITING` (some waiter has registered interest since creation; sticky), and the remaining
//! bits hold the count, so one registration adds [`ONE`].
//!
//! Every operation on the word is a read-modify-write, so all of them form a single
//! modification order. A waiter creates its `Notified` future *before* it sets `WAITING`
//! (`AcqRel`); a release that takes the count to zero (`AcqRel`) reads `WAITING` from that same
//! order. Either the waiter's `fetch_or` sees a count of zero and returns, or the release that
//! reaches zero comes later, sees `WAITING`, and its `notify_waiters` happens after the
//! `Notified` was created, so the waiter is woken. No wake-up is lost. While nobody has ever
//! waited, a release is one `fetch_sub` and nothing else.

use crate::sync::{AtomicUsize, Notify, Ordering};

const CLOSED: usize = 0b01;
const WAITING: usize = 0b10;
const ONE: usize = 0b100;
const SHIFT: u32 = 2;

/// The count of live registrations, the closed flag, and the waiters' notify.
#[derive(Debug)]
pub(crate) struct Counter {
    state: AtomicUsize,
    notify: Notify,
}

impl Counter {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicUsize::new(0),
            notify: Notify::new(),
        }
    }

    /// Adds one registration unless the counter is closed. Returns `false` (and leaves the
    /// count as it was) when closed.
    #[inline]
    pub(crate) fn try_add(&self) -> bool {
        let prev = self.state.fetch_add(ONE, Ordering::Relaxed);
        if prev & CLOSED == 0 {
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

    /// Removes one registration that the caller owns; wakes the waiters if that reached zero.
    #[inline]
    pub(crate) fn release(&self) {
        let prev = self.state.fetch_sub(ONE, Ordering::AcqRel);
        if prev >> SHIFT == 1 && prev & WAITING != 0 {
            self.notify.notify_waiters();
        }
    }

    /// The number of live registrations.
    #[inline]
    pub(crate) fn count(&self) -> usize {
        self.state.load(Ordering::Acquire) >> SHIFT
    }

    /// Refuses new top-level registrations from now on.
    pub(crate) fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Returns once the count is zero, or has been zero at some moment since the call began.
    pub(crate) async fn wait_zero(&self) {
        let notified = self.notify.notified();
        let prev = self.state.fetch_or(WAITING, Ordering::AcqRel);
        if prev >> SHIFT == 0 {
            return;
        }
        // Only a release that reaches zero calls `notify_waiters`, and nothing else notifies,
        // so completing here means the count reached zero after `notified` was created.
        notified.await;
    }
}
