//! Loom model of the drain counter's enter / release / close / wait protocol, through both of
//! its users: `InFlight` (`drained()`: closed and empty) and the tracker
//! (`wait_for_completion()`: empty).
//!
//! Under `--cfg loom` the counter and its notify are built on loom's primitives
//! (`src/sync.rs`), so loom explores every interleaving of these small scenarios. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p rt-shutdown --test loom --release` (`cargo xtask ci`
//! does).
#![cfg(loom)]

use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use rt_shutdown::{GracefulShutdownTracker, InFlight, ShutdownError};

/// The last release, racing with a waiter, always wakes it.
#[test]
fn release_racing_a_waiter_wakes_it() {
    loom::model(|| {
        let tracker = Arc::new(GracefulShutdownTracker::new());
        let guard = tracker.register_task("a").unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&released);
        let t = thread::spawn(move || {
            r.store(true, Ordering::SeqCst);
            drop(guard);
        });
        loom::future::block_on(tracker.wait_for_completion());
        assert!(released.load(Ordering::SeqCst));
        assert_eq!(tracker.get_count(), 0);
        t.join().unwrap();
    });
}

/// Two guards released on two threads: the waiter returns only after both, and does return.
#[test]
fn waiter_returns_after_the_last_of_two_releases() {
    loom::model(|| {
        let tracker = Arc::new(GracefulShutdownTracker::new());
        let class = tracker.task_class("a");
        let done = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let guard = class.register().unwrap();
                let done = Arc::clone(&done);
                thread::spawn(move || {
                    done[i].store(true, Ordering::SeqCst);
                    drop(guard);
                })
            })
            .collect();
        loom::future::block_on(tracker.wait_for_completion());
        assert!(done.iter().all(|d| d.load(Ordering::SeqCst)));
        for t in threads {
            t.join().unwrap();
        }
    });
}

/// After close, a registration either is refused or is waited for; a child registered after
/// close under a live guard is waited for as well.
#[test]
fn close_racing_register_and_child() {
    loom::model(|| {
        let tracker = Arc::new(GracefulShutdownTracker::new());
        let parent = tracker.register_task("parent").unwrap();
        let child_done = Arc::new(AtomicBool::new(false));
        let (tr, cd) = (Arc::clone(&tracker), Arc::clone(&child_done));
        let t = thread::spawn(move || {
            let late = tr.register_task("late");
            let child = parent.child("child");
            drop(parent);
            cd.store(true, Ordering::SeqCst);
            drop(child);
            match late {
                Ok(guard) => drop(guard),
                Err(e) => assert!(matches!(e, ShutdownError::Closed { .. })),
            }
        });
        tracker.close();
        assert!(tracker.register_endpoint().is_err());
        loom::future::block_on(tracker.wait_for_completion());
        // The child kept the count above zero until it was dropped.
        assert!(child_done.load(Ordering::SeqCst));
        t.join().unwrap();
        assert_eq!(tracker.get_count(), 0);
    });
}

/// Racing unregisters of one endpoint: exactly one succeeds, the count never wraps.
#[test]
fn racing_unregisters_never_wrap() {
    loom::model(|| {
        let tracker = Arc::new(GracefulShutdownTracker::new());
        tracker.register_endpoint().unwrap();
        let tr = Arc::clone(&tracker);
        let t = thread::spawn(move || tr.unregister_endpoint().is_ok());
        let here = tracker.unregister_endpoint().is_ok();
        let there = t.join().unwrap();
        assert!(here ^ there);
        assert_eq!(tracker.get_count(), 0);
        loom::future::block_on(tracker.wait_for_completion());
    });
}

/// `try_enter` racing `close`: the entry is refused, or it is admitted and `drained()` waits
/// for its guard.
#[test]
fn in_flight_try_enter_racing_close() {
    loom::model(|| {
        let in_flight = InFlight::new();
        let work_done = Arc::new(AtomicBool::new(false));
        let (f, w) = (in_flight.clone(), Arc::clone(&work_done));
        let t = thread::spawn(move || match f.try_enter() {
            Some(guard) => {
                w.store(true, Ordering::SeqCst);
                drop(guard);
                true
            }
            None => false,
        });
        assert!(in_flight.close());
        assert!(in_flight.try_enter().is_none());
        loom::future::block_on(in_flight.drained());
        let done_when_drained = work_done.load(Ordering::SeqCst);
        let admitted = t.join().unwrap();
        assert!(
            !admitted || done_when_drained,
            "drained() returned under a live guard"
        );
        assert_eq!(in_flight.count(), 0);
    });
}

/// The last guard dropped on another thread while `drained()` waits (closed already): the
/// waiter wakes, and only after the drop.
#[test]
fn in_flight_guard_drop_racing_drained() {
    loom::model(|| {
        let in_flight = InFlight::new();
        let guard = in_flight.try_enter().unwrap();
        in_flight.close();
        let released = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&released);
        let t = thread::spawn(move || {
            r.store(true, Ordering::SeqCst);
            drop(guard);
        });
        loom::future::block_on(in_flight.drained());
        assert!(released.load(Ordering::SeqCst));
        assert_eq!(in_flight.count(), 0);
        t.join().unwrap();
    });
}

/// `close` on one thread racing the last release on another, with `drained()` waiting on a
/// third: whichever comes second wakes the waiter, and it returns only once both happened.
#[test]
fn in_flight_close_racing_the_last_release() {
    loom::model(|| {
        let in_flight = InFlight::new();
        let guard = in_flight.try_enter().unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&released);
        let releaser = thread::spawn(move || {
            r.store(true, Ordering::SeqCst);
            drop(guard);
        });
        let f = in_flight.clone();
        let closer = thread::spawn(move || f.close());
        loom::future::block_on(in_flight.drained());
        assert!(in_flight.is_closed());
        assert!(released.load(Ordering::SeqCst));
        assert!(closer.join().unwrap());
        releaser.join().unwrap();
    });
}

/// The count touching zero before the close, while `drained()` waits: the waiter stays
/// asleep through it (or returns only if the close came first) and wakes on the close.
#[test]
fn in_flight_zero_before_close_then_close() {
    loom::model(|| {
        let in_flight = InFlight::new();
        let guard = in_flight.try_enter().unwrap();
        let closed = Arc::new(AtomicBool::new(false));
        let (f, c) = (in_flight.clone(), Arc::clone(&closed));
        let t = thread::spawn(move || {
            drop(guard);
            c.store(true, Ordering::SeqCst);
            assert!(f.close());
        });
        loom::future::block_on(in_flight.drained());
        assert!(closed.load(Ordering::SeqCst));
        t.join().unwrap();
    });
}

/// Two threads closing at once: exactly one call reports that it closed the counter.
#[test]
fn in_flight_racing_closes_report_one_closer() {
    loom::model(|| {
        let in_flight = InFlight::new();
        let f = in_flight.clone();
        let t = thread::spawn(move || f.close());
        let here = in_flight.close();
        let there = t.join().unwrap();
        assert!(here ^ there);
        loom::future::block_on(in_flight.drained());
    });
}

/// A pause racing an admission on another thread (a drain without exit): a request admitted
/// is one `idle()` waits for; after a resume work is admitted again.
#[test]
fn in_flight_try_enter_racing_pause_then_idle() {
    loom::model(|| {
        let in_flight = InFlight::new();
        let work_done = Arc::new(AtomicBool::new(false));
        let (f, w) = (in_flight.clone(), Arc::clone(&work_done));
        let t = thread::spawn(move || match f.try_enter() {
            Some(guard) => {
                w.store(true, Ordering::SeqCst);
                drop(guard);
                true
            }
            None => false,
        });
        assert!(in_flight.pause());
        assert!(in_flight.try_enter().is_none());
        loom::future::block_on(in_flight.idle());
        let done_when_idle = work_done.load(Ordering::SeqCst);
        let admitted = t.join().unwrap();
        assert!(
            !admitted || done_when_idle,
            "idle() returned under a live guard admitted before the pause"
        );
        assert!(in_flight.resume());
        assert!(in_flight.try_enter().is_some());
        assert_eq!(in_flight.count(), 0);
    });
}
