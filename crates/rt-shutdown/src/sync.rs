//! The synchronisation primitives the drain counter (`counter.rs`, under both
//! [`InFlight`](crate::InFlight) and the tracker) is built on.
//!
//! In a normal build these are `std`'s atomics and tokio's [`Notify`]. Under `--cfg loom` they
//! are loom's atomics and a small loom-aware notify with the same `notify_waiters` contract, so
//! that the loom model in `tests/loom.rs` explores every interleaving of enter, release, close
//! and wait.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use tokio::sync::Notify;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom_notify::Notify;

#[cfg(loom)]
mod loom_notify {
    //! A loom-visible stand-in for `tokio::sync::Notify`, limited to what the counter uses:
    //! `notified()` and `notify_waiters()`. As with tokio, a `Notified` future receives every
    //! `notify_waiters` call made after it was created, even before its first poll.

    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    use loom::sync::Mutex;

    #[derive(Debug, Default)]
    struct State {
        generation: usize,
        wakers: Vec<Waker>,
    }

    /// Wakes every waiter registered before `notify_waiters`.
    #[derive(Debug, Default)]
    pub(crate) struct Notify {
        state: Mutex<State>,
    }

    impl Notify {
        pub(crate) fn new() -> Self {
            Self::default()
        }

        pub(crate) fn notified(&self) -> Notified<'_> {
            let generation = self.state.lock().map(|s| s.generation).unwrap_or(0);
            Notified {
                notify: self,
                generation,
            }
        }

        pub(crate) fn notify_waiters(&self) {
            let wakers = match self.state.lock() {
                Ok(mut s) => {
                    s.generation = s.generation.wrapping_add(1);
                    std::mem::take(&mut s.wakers)
                }
                Err(_) => return,
            };
            for w in wakers {
                w.wake();
            }
        }
    }

    /// Completes once `notify_waiters` has been called after this future's creation.
    #[derive(Debug)]
    pub(crate) struct Notified<'a> {
        notify: &'a Notify,
        generation: usize,
    }

    impl Future for Notified<'_> {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let Ok(mut s) = self.notify.state.lock() else {
                return Poll::Ready(());
            };
            if s.generation != self.generation {
                return Poll::Ready(());
            }
            s.wakers.push(cx.waker().clone());
            Poll::Pending
        }
    }
}
