//! Loom model of the tracker's register / release / wait protocol.
//!
//! Under `--cfg loom` the tracker's counter and notify are built on loom's primitives
//! (`src/sync.rs`), so loom explores every interleaving of these small scenarios. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p rt-shutdown --test loom --release` (`cargo xtask ci`
//! does).
#![cfg(loom)]

use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use rt_shutdown::{GracefulShutdownTracker, ShutdownError};

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
