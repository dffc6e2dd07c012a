//! The three phases under tokio's paused clock: ordering, bounds, deadline arithmetic, report.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rt_shutdown::{ShutdownCoordinator, ShutdownError, ShutdownOptions, ShutdownPhase};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn coordinator(graceful: u64, teardown: u64) -> ShutdownCoordinator {
    ShutdownCoordinator::new(
        ShutdownOptions::default()
            .with_graceful_timeout(secs(graceful))
            .with_teardown_timeout(secs(teardown)),
    )
}

/// Resolves to the (paused-clock) time since `start` at which `token` was cancelled.
fn cancelled_at(token: CancellationToken, start: Instant) -> oneshot::Receiver<Duration> {
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        token.cancelled().await;
        let _ = tx.send(start.elapsed());
    });
    rx
}

#[tokio::test(start_paused = true)]
async fn held_guard_keeps_primary_token_until_the_deadline_and_is_named() {
    let c = coordinator(30, 5);
    let start = Instant::now();
    let guard = c.tracker().register_task("held-request").unwrap();
    let endpoint_at = cancelled_at(c.endpoint_token(), start);
    let child_at = cancelled_at(c.child_token(), start);
    let main_at = cancelled_at(c.primary_token(), start);
    let mut phases = c.subscribe();
    assert_eq!(*phases.borrow_and_update(), ShutdownPhase::Running);

    c.shutdown();
    // Phase 1 is done when shutdown() returns; the main token is untouched.
    assert!(c.is_shutdown_started());
    assert!(c.endpoint_token().is_cancelled());
    assert!(!c.primary_token().is_cancelled());
    assert_eq!(*phases.borrow_and_update(), ShutdownPhase::Draining);
    assert!(c.tracker().register_task("new-request").is_err());

    let report = c.shutdown_and_wait(None).await;
    assert_eq!(endpoint_at.await.unwrap(), Duration::ZERO);
    assert_eq!(child_at.await.unwrap(), Duration::ZERO);
    // The main token stayed live for the whole graceful bound, then went.
    assert_eq!(main_at.await.unwrap(), secs(30));
    assert_eq!(c.phase(), ShutdownPhase::Stopped);

    assert!(report.deadline_hit);
    assert!(!report.is_clean());
    assert_eq!(report.drain, secs(30));
    assert_eq!(report.drain_bound, secs(30));
    assert_eq!(report.active_at_deadline, 1);
    assert_eq!(report.still_active, ["held-request"]);
    assert_eq!(
        report.still_active_counts,
        [("held-request".to_string(), 1)]
    );
    assert_eq!(report.total, secs(30));
    let line = report.to_string();
    assert!(line.contains("held-request x1"), "{line}");
    assert_eq!(c.report(), Some(report));
    drop(guard);
}

#[tokio::test(start_paused = true)]
async fn primary_token_is_cancelled_when_the_last_guard_goes() {
    let c = coordinator(30, 5);
    let start = Instant::now();
    let guard = c.tracker().register_task("request").unwrap();
    let endpoint = c.endpoint_token();
    tokio::spawn(async move {
        endpoint.cancelled().await;
        tokio::time::sleep(secs(10)).await;
        drop(guard);
    });
    let main_at = cancelled_at(c.primary_token(), start);
    let report = c.shutdown_and_wait(Some(secs(60))).await;
    assert_eq!(main_at.await.unwrap(), secs(10));
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.drain, secs(10));
    assert_eq!(report.drain_bound, secs(30));
    assert!(report.still_active.is_empty());
    assert_eq!(report.active_at_deadline, 0);
}

#[tokio::test(start_paused = true)]
async fn caller_deadline_bounds_both_phases_and_phase_3_still_runs() {
    // graceful 900 s, teardown 10 s, caller deadline 20 s, a request that never ends.
    let c = coordinator(900, 10);
    let _guard = c.tracker().register_task("stuck").unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    c.add_teardown("quick", move || async move {
        r.fetch_add(1, Ordering::SeqCst);
    });
    c.add_teardown("slow", std::future::pending::<()>);
    let start = Instant::now();
    let report = c.shutdown_and_wait(Some(secs(20))).await;
    assert_eq!(start.elapsed(), secs(20));
    assert!(report.deadline_hit);
    assert_eq!(report.drain_bound, secs(20));
    // Nothing was left for phase 3: it still ran, each task polled once.
    assert!(c.primary_token().is_cancelled());
    assert_eq!(report.teardown_bound, Duration::ZERO);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(report.teardown_completed, ["quick"]);
    assert_eq!(report.teardown_timed_out, ["slow"]);
    assert_eq!(report.total, secs(20));
}

#[tokio::test(start_paused = true)]
async fn teardown_takes_min_of_its_bound_and_what_is_left() {
    // Deadline 25 s; the request ends at 12 s, leaving 13 s: phase 3 gets min(10, 13) = 10 s.
    let c = coordinator(900, 10);
    let guard = c.tracker().register_task("request").unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(secs(12)).await;
        drop(guard);
    });
    c.add_teardown("flush", || tokio::time::sleep(secs(3)));
    c.add_teardown("hang", || tokio::time::sleep(secs(15)));
    let report = c.shutdown_and_wait(Some(secs(25))).await;
    assert!(!report.deadline_hit);
    assert_eq!(report.drain, secs(12));
    assert_eq!(report.drain_bound, secs(25));
    assert_eq!(report.teardown_bound, secs(10));
    assert_eq!(report.teardown, secs(10));
    assert_eq!(report.teardown_completed, ["flush"]);
    assert_eq!(report.teardown_timed_out, ["hang"]);
    assert_eq!(report.total, secs(22));

    // And with 4 s left, phase 3 gets 4 s.
    let c = coordinator(900, 10);
    let guard = c.tracker().register_task("request").unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(secs(21)).await;
        drop(guard);
    });
    c.add_teardown("hang", || tokio::time::sleep(secs(15)));
    let report = c.shutdown_and_wait(Some(secs(25))).await;
    assert_eq!(report.teardown_bound, secs(4));
    assert_eq!(report.total, secs(25));
}

#[tokio::test(start_paused = true)]
async fn a_later_caller_deadline_tightens_a_running_shutdown() {
    let c = coordinator(900, 10);
    let _guard = c.tracker().register_task("stuck").unwrap();
    c.shutdown();
    tokio::time::sleep(secs(7)).await; // phase 2 under the 900 s bound
    assert_eq!(c.phase(), ShutdownPhase::Draining);
    let report = c.shutdown_and_wait(Some(secs(5))).await;
    assert!(report.deadline_hit);
    assert_eq!(report.drain, secs(12));
    assert_eq!(report.drain_bound, secs(12));
    // A later, looser deadline does not loosen it.
    let c2 = coordinator(900, 10);
    let _g = c2.tracker().register_task("stuck").unwrap();
    let first = {
        let c2 = c2.clone();
        tokio::spawn(async move { c2.shutdown_and_wait(Some(secs(3))).await })
    };
    tokio::task::yield_now().await;
    let second = c2.shutdown_and_wait(Some(secs(50))).await;
    assert_eq!(second.drain, secs(3));
    assert_eq!(first.await.unwrap(), second);
}

#[tokio::test(start_paused = true)]
async fn one_absolute_deadline_bounds_phases_2_and_3() {
    // A worker computes its instant once (say when its signal arrived), does 6 s of its own
    // work, then hands the instant down: 20 s from the signal, not 20 s from this call.
    let c = coordinator(900, 10);
    let signal = Instant::now();
    let deadline = signal + secs(20);
    let guard = c.tracker().register_task("request").unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(secs(16)).await;
        drop(guard);
    });
    c.add_teardown("hang", std::future::pending::<()>);
    c.shutdown();
    tokio::time::sleep(secs(6)).await;
    let report = c.shutdown_and_wait_until(deadline).await;
    assert_eq!(Instant::now(), deadline);
    assert!(!report.deadline_hit, "{report}");
    assert_eq!(report.drain, secs(16));
    assert_eq!(report.drain_bound, secs(20));
    assert_eq!(report.teardown_bound, secs(4));
    assert_eq!(report.teardown_timed_out, ["hang"]);
    assert_eq!(report.total, secs(20));
}

#[tokio::test(start_paused = true)]
async fn the_earliest_of_instant_and_duration_deadlines_wins() {
    // An instant 8 s away, then a duration of 30 s: 8 s.
    let c = coordinator(900, 10);
    let _stuck = c.tracker().register_task("stuck").unwrap();
    let start = Instant::now();
    let by_instant = {
        let c = c.clone();
        tokio::spawn(async move { c.shutdown_and_wait_until(start + secs(8)).await })
    };
    tokio::task::yield_now().await;
    let by_duration = c.shutdown_and_wait(Some(secs(30))).await;
    assert_eq!(start.elapsed(), secs(8));
    assert_eq!(by_duration.drain, secs(8));
    assert_eq!(by_instant.await.unwrap(), by_duration);

    // A duration of 5 s, then an instant 40 s away: 5 s.
    let c = coordinator(900, 10);
    let _stuck = c.tracker().register_task("stuck").unwrap();
    let start = Instant::now();
    let by_duration = {
        let c = c.clone();
        tokio::spawn(async move { c.shutdown_and_wait(Some(secs(5))).await })
    };
    tokio::task::yield_now().await;
    let by_instant = c.shutdown_and_wait_until(start + secs(40)).await;
    assert_eq!(by_instant.drain, secs(5));
    assert_eq!(by_duration.await.unwrap(), by_instant);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_already_past_leaves_one_poll_of_each_teardown() {
    let c = coordinator(900, 10);
    let _stuck = c.tracker().register_task("stuck").unwrap();
    c.add_teardown("quick", || async {});
    c.add_teardown("hang", std::future::pending::<()>);
    let past = Instant::now();
    tokio::time::sleep(secs(1)).await;
    let report = c.shutdown_and_wait_until(past).await;
    assert!(report.deadline_hit);
    assert_eq!(report.drain_bound, Duration::ZERO);
    assert_eq!(report.teardown_bound, Duration::ZERO);
    assert_eq!(report.teardown_completed, ["quick"]);
    assert_eq!(report.teardown_timed_out, ["hang"]);
    assert!(c.primary_token().is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn panicking_request_and_teardown_do_not_stop_the_shutdown() {
    let c = coordinator(30, 5);
    let guard = c.tracker().register_task("doomed").unwrap();
    let endpoint = c.endpoint_token();
    let task = tokio::spawn(async move {
        let _guard = guard;
        endpoint.cancelled().await;
        tokio::time::sleep(secs(2)).await;
        panic!("request handler failed");
    });
    c.add_teardown("boom", || async { panic!("teardown failed") });
    c.add_teardown("boom-early", || -> std::future::Ready<()> {
        panic!("no future")
    });
    c.add_teardown("fine", || async {});
    let report = c.shutdown_and_wait(None).await;
    assert!(task.await.unwrap_err().is_panic());
    assert!(!report.deadline_hit);
    assert_eq!(report.drain, secs(2));
    assert_eq!(report.teardown_panicked, ["boom", "boom-early"]);
    assert_eq!(report.teardown_completed, ["fine"]);
    assert_eq!(c.phase(), ShutdownPhase::Stopped);
}

#[tokio::test(start_paused = true)]
async fn phases_are_observable_in_order() {
    let c = coordinator(30, 5);
    let guard = c.tracker().register_task("r").unwrap();
    let mut rx = c.subscribe();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    c.add_teardown("wait", move || async move {
        let _ = stop_rx.await;
    });
    let waiter = {
        let c = c.clone();
        tokio::spawn(async move { c.shutdown_and_wait(None).await })
    };
    rx.changed().await.unwrap();
    assert_eq!(*rx.borrow_and_update(), ShutdownPhase::Draining);
    assert!(!rx.borrow().accepts_work());
    drop(guard);
    rx.changed().await.unwrap();
    assert_eq!(*rx.borrow_and_update(), ShutdownPhase::Stopping);
    assert!(c.primary_token().is_cancelled());
    assert!(c.report().is_none());
    stop_tx.send(()).unwrap();
    rx.changed().await.unwrap();
    assert_eq!(*rx.borrow_and_update(), ShutdownPhase::Stopped);
    assert!(waiter.await.unwrap().is_clean());
}

#[tokio::test(start_paused = true)]
async fn teardown_added_after_phase_3_is_refused() {
    let c = coordinator(30, 5);
    c.add_teardown("in time", || async {});
    let report = c.shutdown_and_wait(None).await;
    assert_eq!(report.teardown_completed, ["in time"]);
    let err = c.try_add_teardown("late", || async {}).unwrap_err();
    assert!(matches!(err, ShutdownError::TeardownTooLate { ref name } if name == "late"));
    c.add_teardown("late too", || async {}); // logged, not run, no panic
                                             // Joining a finished shutdown returns the same report at once.
    assert_eq!(c.shutdown_and_wait(Some(secs(1))).await, report);
}

#[tokio::test(start_paused = true)]
async fn progress_is_logged_while_draining_without_moving_the_bound() {
    let c = ShutdownCoordinator::new(
        ShutdownOptions::default()
            .with_graceful_timeout(secs(12))
            .with_progress_interval(secs(5)),
    );
    let _guard = c.tracker().register_task("slow").unwrap();
    let report = c.shutdown_and_wait(None).await;
    assert_eq!(report.drain, secs(12));
    assert!(report.deadline_hit);
}

#[test]
fn shutdown_from_plain_sync_code_uses_its_own_thread() {
    let c = coordinator(30, 5);
    let (tx, rx) = std::sync::mpsc::channel();
    c.add_teardown("signal", move || async move {
        let _ = tx.send(std::thread::current().name().map(str::to_owned));
    });
    c.shutdown();
    assert!(c.endpoint_token().is_cancelled());
    // A hang guard only: the teardown runs as soon as the driver thread starts.
    let thread = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(thread.as_deref(), Some("rt-shutdown"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let report = rt.block_on(c.shutdown_and_wait(None));
    assert!(report.is_clean());
    assert_eq!(c.phase(), ShutdownPhase::Stopped);
}

#[test]
fn a_waiter_takes_over_when_the_driving_runtime_shuts_down_after_starting_it() {
    waiter_takes_over(true);
}

#[test]
fn a_waiter_takes_over_when_the_driving_runtime_shuts_down_before_starting_it() {
    waiter_takes_over(false);
}

#[allow(clippy::unwrap_used)] // a test helper
fn waiter_takes_over(driver_started: bool) {
    // The phases are driven on `driving`, which is shut down in phase 2; the waiter on
    // `waiting` finishes them.
    let driving = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let c = ShutdownCoordinator::new(
        ShutdownOptions::default()
            .with_graceful_timeout(secs(30))
            .with_handle(driving.handle().clone()),
    );
    let guard = c.tracker().register_task("request").unwrap();
    c.add_teardown("close", || async {});
    c.shutdown();
    if driver_started {
        // Let the driver start phase 2, then shut its runtime down under it.
        driving.block_on(tokio::task::yield_now());
    }
    drop(driving);
    assert_eq!(c.phase(), ShutdownPhase::Draining);

    let waiting = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let report = waiting.block_on(async {
        let release = tokio::spawn(async move {
            tokio::time::sleep(secs(4)).await;
            drop(guard);
        });
        let report = c.shutdown_and_wait(None).await;
        release.await.unwrap();
        report
    });
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.drain, secs(4));
    assert_eq!(report.teardown_completed, ["close"]);
    assert_eq!(c.phase(), ShutdownPhase::Stopped);
}
