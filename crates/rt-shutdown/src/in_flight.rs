//! [`InFlight`]: count, refuse after close, wake at zero. The drain primitive.

use std::fmt;
use std::sync::Arc;

use crate::counter::Counter;

/// Counts work in flight, refuses new work once closed, and wakes [`drained`](Self::drained)
/// waiters when the last piece of work ends after the close.
///
/// This is the one drain primitive of the runtime: each endpoint owns one, a server takes an
/// [`InFlightGuard`] per request with [`try_enter`](Self::try_enter) and closes its listener
/// when [`drained`](Self::drained) resolves; the [`GracefulShutdownTracker`](crate::GracefulShutdownTracker)
/// is built on the same counter. Like tokio-util's `TaskTracker`, `drained` resolves only once
/// the counter is **both** closed and empty, so a service that is idle before its shutdown does
/// not look drained.
///
/// `Clone` is cheap (one `Arc`); all clones share one count.
///
/// # Cost
///
/// A [`try_enter`](Self::try_enter) is one atomic read-modify-write (a `fetch_add`) with no
/// recheck, and dropping the guard one `fetch_sub`; a wake-up is sent only when the count
/// reaches zero while a waiter for that is registered.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use rt_shutdown::InFlight;
///
/// let in_flight = InFlight::new();
/// let request = in_flight.try_enter().expect("open: admitted");
/// let server = tokio::spawn(async move {
///     let _request = request; // released when the request ends, however it ends
/// });
///
/// assert!(in_flight.close()); // shutdown: refuse new requests...
/// assert!(in_flight.try_enter().is_none());
/// in_flight.drained().await; // ...and wait for the admitted ones
/// assert_eq!(in_flight.count(), 0);
/// # server.await.unwrap();
/// # }
/// ```
#[derive(Clone, Default)]
pub struct InFlight {
    counter: Arc<Counter>,
}

impl InFlight {
    /// An open counter with nothing in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Admits one piece of work, or returns `None` once [`close`](Self::close) has been called
    /// or while the counter is [paused](Self::pause).
    ///
    /// The work stays counted while the returned guard lives. The fast path is one atomic
    /// `fetch_add` that also reads both refusal flags: a close or pause that races with this
    /// call either comes first in that atomic's order (then this call returns `None`) or later
    /// (then the guard is counted and [`drained`](Self::drained) or [`idle`](Self::idle) waits
    /// for it). Nothing is rechecked afterwards.
    #[inline]
    pub fn try_enter(&self) -> Option<InFlightGuard> {
        self.counter.try_add().then(|| InFlightGuard {
            counter: Arc::clone(&self.counter),
        })
    }

    /// The number of guards alive now.
    ///
    /// A snapshot. A [`try_enter`](Self::try_enter) refused after the close counts for the
    /// instant between its addition and its rollback, so a racing reader may see one more.
    pub fn count(&self) -> usize {
        self.counter.count()
    }

    /// Refuses new work from now on ([`try_enter`](Self::try_enter) returns `None`); guards
    /// already handed out stay valid. Returns `true` if this call closed the counter, `false`
    /// if it was already closed. There is no way to reopen.
    pub fn close(&self) -> bool {
        self.counter.close()
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.counter.is_closed()
    }

    /// Refuses new work until [`resume`](Self::resume), without closing: a drain that can be
    /// undone (a process taken out of rotation and put back). Work admitted before this call
    /// stays counted and [`idle`](Self::idle) waits for it. Returns `true` if this call paused
    /// the counter.
    pub fn pause(&self) -> bool {
        self.counter.pause()
    }

    /// Admits work again after a [`pause`](Self::pause) (a closed counter stays closed).
    /// Returns `true` if this call lifted the pause.
    pub fn resume(&self) -> bool {
        self.counter.resume()
    }

    /// Whether the counter is paused.
    pub fn is_paused(&self) -> bool {
        self.counter.is_paused()
    }

    /// Waits until no guard is left: returns once the count is zero, or has been zero at some
    /// moment since the call began, closed or not. With the counter [paused](Self::pause) or
    /// closed first, that moment is final for the work admitted before.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: it changes nothing but a sticky "someone waits" flag, so
    /// dropping the future loses nothing, and a new call waits afresh.
    pub async fn idle(&self) {
        self.counter.wait_zero().await;
    }

    /// Waits until the counter is closed and no guard is left.
    ///
    /// Returns at once if both already hold. Otherwise returns when the second of the two
    /// happens: the [`close`](Self::close) while nothing is in flight, or the drop of the last
    /// guard after the close. Neither is missed when it races with this call (a loom model
    /// checks it). Once this returns, the state is final: nothing can enter any more.
    ///
    /// Until the close, the count reaching zero does not wake this future, so a server may
    /// select on it for its whole life at no cost per request.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: it changes nothing but a sticky "someone waits" flag, so
    /// dropping the future loses nothing, and a new call waits afresh.
    pub async fn drained(&self) {
        self.counter.drained().await;
    }
}

impl fmt::Debug for InFlight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlight")
            .field("count", &self.count())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// One piece of work admitted by [`InFlight::try_enter`], counted until the guard is dropped.
///
/// The guard is `Send + Sync + 'static`: move it into the task that does the work. Dropping it
/// releases the work, and so does a panic that unwinds through its owner and an abort of the
/// tokio task that holds it (tokio drops an aborted task's future, and with it the guard). When
/// the release is the last one after the close, every [`InFlight::drained`] waiter wakes.
#[must_use = "dropping the guard releases the work at once"]
pub struct InFlightGuard {
    counter: Arc<Counter>,
}

impl Drop for InFlightGuard {
    #[inline]
    fn drop(&mut self) {
        self.counter.release();
    }
}

impl fmt::Debug for InFlightGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlightGuard")
            .field("in_flight", &self.counter.count())
            .finish()
    }
}
