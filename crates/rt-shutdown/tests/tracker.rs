//! Tracker behaviour: counting, refusal, names, wake-ups, release on panic and abort.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rt_shutdown::{GracefulShutdownTracker, ShutdownError, UNNAMED_ENDPOINT};

fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn unregister_at_zero_is_refused_and_never_wraps() {
    let tracker = GracefulShutdownTracker::new();
    assert!(matches!(
        tracker.unregister_endpoint(),
        Err(ShutdownError::NotRegistered)
    ));
    assert_eq!(tracker.get_count(), 0);

    tracker.register_endpoint().unwrap();
    tracker.register_endpoint().unwrap();
    assert_eq!(tracker.get_count(), 2);
    tracker.unregister_endpoint().unwrap();
    tracker.unregister_endpoint().unwrap();
    assert!(tracker.unregister_endpoint().is_err());
    assert_eq!(tracker.get_count(), 0);

    // A live task guard is not an endpoint: unregister_endpoint must not release it.
    let guard = tracker.register_task("job").unwrap();
    assert!(tracker.unregister_endpoint().is_err());
    assert_eq!(tracker.get_count(), 1);
    drop(guard);
    assert_eq!(tracker.get_count(), 0);
}

#[test]
fn closed_tracker_refuses_top_level_but_allows_children() {
    let tracker = GracefulShutdownTracker::new();
    let class = tracker.task_class("request");
    let request = class.register().unwrap();
    assert!(!tracker.is_closed());
    tracker.close();
    assert!(tracker.is_closed());

    let err = tracker.register_task("request").unwrap_err();
    assert!(matches!(err, ShutdownError::Closed { .. }));
    assert!(err.to_string().contains("task \"request\""), "{err}");
    assert!(err.to_string().contains("child"), "{err}");
    assert!(matches!(
        class.register(),
        Err(ShutdownError::Closed { .. })
    ));
    assert!(matches!(
        tracker.register_endpoint(),
        Err(ShutdownError::Closed { .. })
    ));
    // Refusals leave the count as it was.
    assert_eq!(tracker.get_count(), 1);

    let sub = request.child("request/stream");
    let subsub = sub.child("request/stream/flush");
    assert_eq!(sub.name(), "request/stream");
    assert_eq!(tracker.get_count(), 3);
    drop(request); // the parent may go first
    assert_eq!(
        tracker.active_names(),
        ["request/stream", "request/stream/flush"]
    );
    drop((sub, subsub));
    assert_eq!(tracker.get_count(), 0);
    assert!(tracker.active_names().is_empty());
}

#[test]
fn names_and_counts_are_listed() {
    let tracker = GracefulShutdownTracker::new();
    let a1 = tracker.register_task("b-upload").unwrap();
    let a2 = tracker.register_task(String::from("b-upload")).unwrap();
    let b = tracker.task_class("a-generate").register().unwrap();
    tracker.register_endpoint().unwrap();
    assert_eq!(a1.name(), "b-upload");
    assert_eq!(
        tracker.active_counts(),
        [
            (UNNAMED_ENDPOINT.to_string(), 1),
            ("a-generate".to_string(), 1),
            ("b-upload".to_string(), 2),
        ]
    );
    drop(a1);
    assert_eq!(
        tracker.active_names(),
        [UNNAMED_ENDPOINT, "a-generate", "b-upload"]
    );
    drop((a2, b));
    tracker.unregister_endpoint().unwrap();
    assert!(tracker.active_names().is_empty());
}

#[test]
fn waiter_after_zero_returns_at_once() {
    let tracker = GracefulShutdownTracker::new();
    assert!(poll_once(pin!(tracker.wait_for_completion())).is_ready());
    drop(tracker.register_task("x").unwrap());
    assert!(poll_once(pin!(tracker.wait_for_completion())).is_ready());
}

#[test]
fn waiter_created_before_the_last_release_is_woken() {
    let tracker = GracefulShutdownTracker::new();
    let guard = tracker.register_task("x").unwrap();
    // Created (not yet polled) while the count is 1: the release must still reach it.
    let mut unpolled = pin!(tracker.wait_for_completion());
    let mut polled = pin!(tracker.wait_for_completion());
    assert!(poll_once(polled.as_mut()).is_pending());
    drop(guard);
    assert!(poll_once(polled.as_mut()).is_ready());
    assert!(poll_once(unpolled.as_mut()).is_ready());
}

#[test]
fn waiter_sees_a_momentary_zero() {
    let tracker = GracefulShutdownTracker::new();
    let guard = tracker.register_task("x").unwrap();
    let mut waiter = pin!(tracker.wait_for_completion());
    assert!(poll_once(waiter.as_mut()).is_pending());
    drop(guard);
    let again = tracker.register_task("x").unwrap(); // count back to 1 before the waiter runs
    assert!(poll_once(waiter.as_mut()).is_ready());
    drop(again);
}

#[test]
fn dropping_a_waiter_is_cancel_safe() {
    let tracker = GracefulShutdownTracker::new();
    let guard = tracker.register_task("x").unwrap();
    {
        let mut first = pin!(tracker.wait_for_completion());
        assert!(poll_once(first.as_mut()).is_pending());
    }
    let mut second = pin!(tracker.wait_for_completion());
    assert!(poll_once(second.as_mut()).is_pending());
    drop(guard);
    assert!(poll_once(second.as_mut()).is_ready());
}

#[tokio::test]
async fn panicking_task_releases_its_guard() {
    let tracker = GracefulShutdownTracker::new();
    let guard = tracker.register_task("doomed").unwrap();
    let task = tokio::spawn(async move {
        let _guard = guard;
        panic!("request handler failed");
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(tracker.get_count(), 0);
    tracker.wait_for_completion().await;
}

#[tokio::test]
async fn aborted_task_releases_its_guard() {
    let tracker = GracefulShutdownTracker::new();
    let guard = tracker.register_task("stuck").unwrap();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let _guard = guard;
        let _ = started_tx.send(());
        std::future::pending::<()>().await;
    });
    started_rx.await.unwrap();
    assert_eq!(tracker.active_names(), ["stuck"]);
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(tracker.get_count(), 0);
    tracker.wait_for_completion().await;
}

#[test]
fn guard_outlives_the_tracker() {
    let tracker = GracefulShutdownTracker::new();
    let class = tracker.task_class("late");
    let guard = tracker.register_task("late").unwrap();
    drop(tracker);
    let child = guard.child("late/child");
    assert_eq!(child.name(), "late/child");
    drop((guard, child));
    drop(class.register().unwrap());
}

/// A thread that registers the same name again reuses its class without the map; the reuse
/// must stay per tracker and per name, and a remembered class must not count as live.
#[test]
fn repeated_names_on_one_thread_stay_per_tracker_and_name() {
    let a = GracefulShutdownTracker::new();
    let b = GracefulShutdownTracker::new();
    let a_x1 = a.register_task("x").unwrap();
    let b_x = b.register_task("x").unwrap();
    let a_y = a.register_task("y").unwrap();
    let a_x2 = a.register_task("x").unwrap();
    assert_eq!(
        a.active_counts(),
        vec![("x".to_string(), 2), ("y".to_string(), 1)]
    );
    assert_eq!(b.active_counts(), vec![("x".to_string(), 1)]);
    drop((a_x1, a_x2));
    assert_eq!(a.active_names(), vec!["y".to_string()]);
    drop(b_x);
    assert!(b.active_names().is_empty());
    assert_eq!(b.get_count(), 0);
    drop(a_y);
    assert_eq!(a.get_count(), 0);
    assert!(a.active_names().is_empty());
}
