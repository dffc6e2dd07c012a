//! [`Gate`]: an endpoint's admission: its drain counter, and the pause a drain sets on it.

use rt_shutdown::{InFlight, InFlightGuard};

/// Why [`Gate::try_enter`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The counter is closed: the shutdown started or the endpoint stopped (for good).
    Closed,
    /// The process is drained or draining (until a resume).
    Paused,
}

/// An endpoint's admission: the one drain counter ([`InFlight`]), closed for good by the
/// shutdown or a stop, and paused by a drain until a resume.
///
/// A closed [`InFlight`] cannot reopen, so a drain *pauses* it instead
/// ([`InFlight::pause`]): admission reads the closed and paused flags in the same atomic
/// `fetch_add` that counts the request, so a request is either counted before the pause (and
/// the drain's [`InFlight::idle`] waits for it) or refused. No fence, no second read.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    in_flight: InFlight,
}

impl Gate {
    /// A gate over `in_flight`, paused or not.
    pub(crate) fn new(in_flight: InFlight, paused: bool) -> Self {
        if paused {
            in_flight.pause();
        }
        Self { in_flight }
    }

    /// The drain counter.
    pub(crate) fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }

    /// Admits one request: one `fetch_add` ([`InFlight::try_enter`]); the reason is read only
    /// on a refusal.
    #[inline]
    pub(crate) fn try_enter(&self) -> Result<InFlightGuard, Refused> {
        self.in_flight.try_enter().ok_or_else(|| {
            if self.in_flight.is_closed() {
                Refused::Closed
            } else {
                Refused::Paused
            }
        })
    }

    /// Refuses new requests from now on (until [`unpause`](Self::unpause)); a request admitted
    /// before stays counted.
    pub(crate) fn pause(&self) {
        self.in_flight.pause();
    }

    /// Admits requests again (unless the counter is closed).
    pub(crate) fn unpause(&self) {
        self.in_flight.resume();
    }

    /// Whether a drain has paused the gate.
    pub(crate) fn is_paused(&self) -> bool {
        self.in_flight.is_paused()
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
