//! `ShutdownCoordinator::close_on_shutdown`: counters closed in phase 1, synchronously with the
//! request, before the endpoint token is cancelled and before `Draining` is published.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure is a test failure

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use rt_shutdown::{InFlight, ShutdownCoordinator, ShutdownOptions, ShutdownPhase};

/// Spins (bounded by `limit`) until `ready` holds; `false` if the bound ran out.
fn spin_until(limit: Duration, ready: impl Fn() -> bool) -> bool {
    let end = Instant::now() + limit;
    while !ready() {
        if Instant::now() >= end {
            return false;
        }
        std::hint::spin_loop();
    }
    true
}

#[test]
fn closed_before_shutdown_returns_and_refused_at_once() {
    let coordinator = ShutdownCoordinator::default();
    let requests = InFlight::new();
    coordinator.close_on_shutdown(requests.clone());
    let held = requests.try_enter().expect("open before the shutdown");
    coordinator.shutdown();
    assert!(requests.is_closed());
    assert!(
        requests.try_enter().is_none(),
        "refused once shutdown() returned"
    );
    assert_eq!(requests.count(), 1, "admitted work stays counted");
    drop(held);
    assert_eq!(requests.count(), 0);
}

#[test]
fn a_counter_given_after_the_shutdown_started_is_closed_at_once() {
    let coordinator = ShutdownCoordinator::default();
    coordinator.shutdown();
    let late = InFlight::new();
    coordinator.close_on_shutdown(late.clone());
    assert!(late.is_closed());
    assert!(late.try_enter().is_none());
}

/// Watchers on other threads see the counter closed whenever they see the endpoint token
/// cancelled or the phase `Draining`: the close is one of phase 1's effects, published with it.
#[test]
fn closed_before_the_endpoint_token_and_before_draining_is_published() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for round in 0..200 {
        let coordinator = ShutdownCoordinator::new(
            ShutdownOptions::default().with_handle(runtime.handle().clone()),
        );
        let requests = InFlight::new();
        coordinator.close_on_shutdown(requests.clone());
        let start = Arc::new(Barrier::new(3));
        let by_token = {
            let (token, requests, start) = (
                coordinator.endpoint_token(),
                requests.clone(),
                Arc::clone(&start),
            );
            thread::spawn(move || {
                start.wait();
                assert!(spin_until(Duration::from_secs(5), || token.is_cancelled()));
                requests.is_closed()
            })
        };
        let by_phase = {
            let (phases, requests, start) = (
                coordinator.subscribe(),
                requests.clone(),
                Arc::clone(&start),
            );
            thread::spawn(move || {
                start.wait();
                assert!(spin_until(Duration::from_secs(5), || {
                    *phases.borrow() != ShutdownPhase::Running
                }));
                requests.is_closed()
            })
        };
        start.wait();
        coordinator.shutdown();
        assert!(
            by_token.join().unwrap(),
            "round {round}: token before close"
        );
        assert!(
            by_phase.join().unwrap(),
            "round {round}: Draining before close"
        );
    }
}

#[test]
fn counters_closed_on_their_own_are_pruned() {
    let coordinator = ShutdownCoordinator::default();
    let kept = InFlight::new();
    coordinator.close_on_shutdown(kept.clone());
    for _ in 0..1000 {
        // An endpoint that starts and stops on its own, many times over.
        let short_lived = InFlight::new();
        coordinator.close_on_shutdown(short_lived.clone());
        short_lived.close();
    }
    let debug = format!("{coordinator:?}");
    assert!(debug.contains("close_on_shutdown: 2"), "{debug}");
    coordinator.shutdown();
    assert!(kept.is_closed());
    let debug = format!("{coordinator:?}");
    assert!(debug.contains("close_on_shutdown: 0"), "{debug}");
}
