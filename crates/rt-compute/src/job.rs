//! The bridge's one-shot slot: a job on a pool thread hands its result to one waiting future.
//!
//! State machine (one `AtomicU8`):
//!
//! ```text
//! QUEUED --(pool thread picks the job)--> RUNNING --(result stored)--> DONE
//!    |                                       \
//!    +--(future dropped first)--> CANCELLED   +--(closure lost unrun)--> DISCARDED
//! ```
//!
//! The result and the waker live together behind one mutex, so that storing the result and
//! taking the waker is one critical section: a poll either finds the result or leaves a waker
//! that the completing thread is sure to see. The atomic state lets the waiting side check for
//! completion (and spin on it) without touching the lock.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::spin::SpinPolicy;
use crate::unwind::Payload;

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
const CANCELLED: u8 = 3;
const DISCARDED: u8 = 4;

/// What a job produced.
pub(crate) enum Outcome<R> {
    /// It returned a value.
    Value(R),
    /// It panicked with this payload.
    Panic(Payload),
    /// It never ran to the end and never will (its closure was dropped unrun).
    Discarded,
}

struct Inner<R> {
    result: Option<Outcome<R>>,
    waker: Option<Waker>,
}

pub(crate) struct Slot<R> {
    state: AtomicU8,
    inner: Mutex<Inner<R>>,
}

impl<R> Slot<R> {
    fn lock(&self) -> MutexGuard<'_, Inner<R>> {
        // Nothing panics while holding the lock; recover the data if it ever happens.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) >= DONE
    }

    /// Stores the outcome, publishes it and wakes the waiting future (outside the lock).
    fn complete(&self, outcome: Outcome<R>, state: u8) {
        let waker = {
            let mut inner = self.lock();
            inner.result = Some(outcome);
            self.state.store(state, Ordering::Release);
            inner.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Creates the two halves of a job's slot.
pub(crate) fn slot<R>() -> (Completer<R>, Arc<Slot<R>>) {
    let slot = Arc::new(Slot {
        state: AtomicU8::new(QUEUED),
        inner: Mutex::new(Inner {
            result: None,
            waker: None,
        }),
    });
    (
        Completer {
            slot: Arc::clone(&slot),
        },
        slot,
    )
}

/// The pool side of a slot. Dropped without running (which Rayon never does, but a pool that
/// lost its threads could), it tells the waiting future so instead of leaving it hanging.
pub(crate) struct Completer<R> {
    slot: Arc<Slot<R>>,
}

impl<R> Completer<R> {
    /// Claims the job for running. `false` means the future was dropped first: skip the job.
    pub(crate) fn start(&self) -> bool {
        self.slot
            .state
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn finish(self, outcome: Outcome<R>) {
        self.slot.complete(outcome, DONE);
        // Drop sees DONE and does nothing more.
    }
}

impl<R> Drop for Completer<R> {
    fn drop(&mut self) {
        let s = self.slot.state.load(Ordering::Acquire);
        if s == QUEUED || s == RUNNING {
            self.slot.complete(Outcome::Discarded, DISCARDED);
        }
    }
}

/// The waiting side: a future that resolves to the job's [`Outcome`].
///
/// Dropping it before the job started cancels the job (it is skipped); dropping it later lets
/// the job finish and drops the result on the pool thread. It borrows the pool's spin policy,
/// the one thing of the pool it needs, for the first poll's spin.
pub(crate) struct JobHandle<'a, R> {
    slot: Arc<Slot<R>>,
    spin: &'a SpinPolicy,
    /// Spin on the first poll only: later polls come from a wake.
    may_spin: bool,
}

impl<'a, R> JobHandle<'a, R> {
    pub(crate) fn new(slot: Arc<Slot<R>>, spin: &'a SpinPolicy, may_spin: bool) -> Self {
        Self {
            slot,
            spin,
            may_spin,
        }
    }

    fn take(&self) -> Outcome<R> {
        self.slot.lock().result.take().unwrap_or(Outcome::Discarded)
    }
}

impl<R> Future for JobHandle<'_, R> {
    type Output = Outcome<R>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<R>> {
        if self.slot.is_done() {
            return Poll::Ready(self.take());
        }
        if std::mem::take(&mut self.may_spin) {
            let slot = &self.slot;
            if self.spin.wait(Instant::now(), || slot.is_done()) {
                return Poll::Ready(self.take());
            }
        }
        {
            let mut inner = self.slot.lock();
            if let Some(outcome) = inner.result.take() {
                return Poll::Ready(outcome);
            }
            match &mut inner.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                w => *w = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }
}

impl<R> Drop for JobHandle<'_, R> {
    fn drop(&mut self) {
        // Cancel if the job has not started; a running job finishes and its result is dropped
        // with the slot.
        let _ = self.slot.state.compare_exchange(
            QUEUED,
            CANCELLED,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
}
