//! [`Gate`]: an endpoint's admission: its drain counter, and the pause a drain sets on it.

use std::sync::atomic::{fence, AtomicBool, Ordering};

use rt_shutdown::{InFlight, InFlightGuard};

/// Why [`Gate::try_enter`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The counter is closed: the shutdown started or the endpoint stopped (for good).
    Closed,
    /// The process is drained or draining (until a resume).
    Paused,
}

/// An endpoint's admission: the one drain counter ([`InFlight`], closed for good by the
/// shutdown or a stop) and a pause flag (set by a drain, cleared by a resume).
///
/// The pause does not close the counter (a closed [`InFlight`] cannot reopen): it refuses at
/// the door, and the drain waits for the counter's count to reach zero. The admission and the
/// pause are ordered like Dekker's flags: a request enters the counter, then (after a
/// sequentially consistent fence) reads the flag; the drain sets the flag, then (after a fence)
/// reads the count. Of two racing sides at least one sees the other: a request that read "not
/// paused" is already counted when the drain reads the count, so the drain waits for it; a
/// request that the drain did not see reads "paused" and leaves without being served.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    in_flight: InFlight,
    paused: AtomicBool,
}

impl Gate {
    /// A gate over `in_flight`, paused or not.
    pub(crate) fn new(in_flight: InFlight, paused: bool) -> Self {
        Self {
            in_flight,
            paused: AtomicBool::new(paused),
        }
    }

    /// The drain counter.
    pub(crate) fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }

    /// Admits one request: one `fetch_add`, a fence and two loads of a flag that is written
    /// only by a drain or a resume (so its cache line stays shared).
    #[inline]
    pub(crate) fn try_enter(&self) -> Result<InFlightGuard, Refused> {
        if self.paused.load(Ordering::Relaxed) {
            return Err(Refused::Paused);
        }
        let guard = self.in_flight.try_enter().ok_or(Refused::Closed)?;
        fence(Ordering::SeqCst);
        if self.paused.load(Ordering::Relaxed) {
            // Counted for an instant, never served: the drain may have read the count before
            // this request entered.
            drop(guard);
            return Err(Refused::Paused);
        }
        Ok(guard)
    }

    /// Refuses new requests from now on (until [`unpause`](Self::unpause)); a request that
    /// entered before is counted when the count is read after this returns.
    pub(crate) fn pause(&self) {
        self.paused.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// Admits requests again (unless the counter is closed).
    pub(crate) fn unpause(&self) {
        self.paused.store(false, Ordering::Release);
    }

    /// Whether a drain has paused the gate.
    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Whether a request would be admitted now.
    pub(crate) fn is_open(&self) -> bool {
        !self.is_paused() && !self.in_flight.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_refuses_and_unpause_admits_again() {
        let gate = Gate::new(InFlight::new(), false);
        let held = gate.try_enter().ok();
        assert!(held.is_some());
        gate.pause();
        assert_eq!(gate.try_enter().err(), Some(Refused::Paused));
        assert_eq!(
            gate.in_flight().count(),
            1,
            "the request admitted before stays counted"
        );
        drop(held);
        assert_eq!(gate.in_flight().count(), 0);
        gate.unpause();
        assert!(gate.try_enter().is_ok());
        gate.in_flight().close();
        assert_eq!(gate.try_enter().err(), Some(Refused::Closed));
        assert!(!gate.is_open());
    }

    /// A request admitted while a pause races with it is always seen by the count read after
    /// the pause (many threads, many rounds).
    #[test]
    fn an_admitted_request_is_never_missed_by_the_drain() {
        use std::sync::{Arc, Barrier};
        const THREADS: usize = 4;
        for _round in 0..200 {
            let gate = Arc::new(Gate::new(InFlight::new(), false));
            let barrier = Arc::new(Barrier::new(THREADS + 1));
            let (tx, rx) = std::sync::mpsc::channel();
            let workers: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (gate, barrier, tx) = (Arc::clone(&gate), Arc::clone(&barrier), tx.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        if let Ok(guard) = gate.try_enter() {
                            // Holds the request until the drain has looked.
                            let _ = tx.send(guard);
                        }
                    })
                })
                .collect();
            drop(tx);
            barrier.wait();
            gate.pause();
            let seen = gate.in_flight().count();
            for worker in workers {
                worker.join().map_err(|_| "worker panicked").unwrap();
            }
            let admitted: Vec<InFlightGuard> = rx.iter().collect();
            assert!(
                seen >= admitted.len(),
                "the drain saw {seen} in flight but {} were admitted",
                admitted.len()
            );
        }
    }
}
