//! `InFlight`: admission, refusal after close, the count, and `drained()` (closed and empty),
//! single-threaded and raced from several threads.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rt_shutdown::{InFlight, InFlightGuard};

fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn guards_are_send_sync_static_and_debug() {
    fn check<T: Send + Sync + 'static + std::fmt::Debug>() {}
    check::<InFlightGuard>();
    check::<InFlight>();
    // A server spawns the wait: its future must be `Send`.
    fn send<T: Send>(_: &T) {}
    let in_flight = InFlight::new();
    send(&in_flight.drained());
    let in_flight = InFlight::default();
    let guard = in_flight.try_enter().unwrap();
    assert_eq!(
        format!("{in_flight:?}"),
        "InFlight { count: 1, closed: false }"
    );
    assert_eq!(format!("{guard:?}"), "InFlightGuard { in_flight: 1 }");
}

#[test]
fn close_refuses_new_work_and_keeps_admitted_work() {
    let in_flight = InFlight::new();
    let clone = in_flight.clone();
    let a = in_flight.try_enter().unwrap();
    let b = clone.try_enter().unwrap();
    assert_eq!(in_flight.count(), 2);
    assert!(!in_flight.is_closed());

    assert!(clone.close(), "the first close closes");
    assert!(
        !in_flight.close(),
        "a second close reports that it was already closed"
    );
    assert!(in_flight.is_closed());
    assert!(in_flight.try_enter().is_none());
    assert_eq!(
        in_flight.count(),
        2,
        "a refused entry leaves the count as it was"
    );
    drop(a);
    assert_eq!(clone.count(), 1);
    drop(b);
    assert_eq!(in_flight.count(), 0);
    assert!(in_flight.try_enter().is_none(), "there is no way to reopen");
}

#[test]
fn drained_needs_both_the_close_and_zero() {
    let in_flight = InFlight::new();
    // Open and empty: not drained.
    let mut drained = pin!(in_flight.drained());
    assert!(poll_once(drained.as_mut()).is_pending());
    // The count touching zero before the close does not complete it.
    drop(in_flight.try_enter().unwrap());
    assert!(poll_once(drained.as_mut()).is_pending());

    let guard = in_flight.try_enter().unwrap();
    in_flight.close();
    // Closed with one in flight: still waiting.
    assert!(poll_once(drained.as_mut()).is_pending());
    drop(guard);
    assert!(poll_once(drained.as_mut()).is_ready());
    // Final: a new call returns at once.
    assert!(poll_once(pin!(in_flight.drained())).is_ready());
}

#[tokio::test]
async fn a_close_while_empty_wakes_a_waiter() {
    let in_flight = InFlight::new();
    let waiter = tokio::spawn({
        let in_flight = in_flight.clone();
        async move { in_flight.drained().await }
    });
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    in_flight.close();
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the close wakes the drained() waiter")
        .unwrap();
}

#[tokio::test]
async fn a_dropped_drained_future_loses_nothing() {
    let in_flight = InFlight::new();
    let guard = in_flight.try_enter().unwrap();
    {
        let mut first = pin!(in_flight.drained());
        assert!(poll_once(first.as_mut()).is_pending());
    } // cancelled
    in_flight.close();
    let waiter = tokio::spawn({
        let in_flight = in_flight.clone();
        async move { in_flight.drained().await }
    });
    tokio::task::yield_now().await;
    drop(guard);
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the last release wakes the new waiter")
        .unwrap();
}

#[tokio::test]
async fn guards_release_on_panic_and_abort() {
    let in_flight = InFlight::new();
    let guard = in_flight.try_enter().unwrap();
    let panicked = tokio::spawn(async move {
        let _guard = guard;
        panic!("request handler failed");
    });
    assert!(panicked.await.unwrap_err().is_panic());

    let guard = in_flight.try_enter().unwrap();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let stuck = tokio::spawn(async move {
        let _guard = guard;
        let _ = started_tx.send(());
        std::future::pending::<()>().await;
    });
    started_rx.await.unwrap();
    assert_eq!(in_flight.count(), 1);
    stuck.abort();
    assert!(stuck.await.unwrap_err().is_cancelled());
    in_flight.close();
    tokio::time::timeout(Duration::from_secs(10), in_flight.drained())
        .await
        .expect("both guards were released");
}

/// Threads enter and release in a loop while another closes: every entry either is refused or
/// is waited for, and `drained()` returns exactly when the last admitted guard goes. Repeated.
#[test]
fn entries_racing_the_close_are_refused_or_waited_for() {
    const ROUNDS: usize = 100;
    const THREADS: usize = 4;
    const ITERATIONS: usize = 500;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for round in 0..ROUNDS {
        let in_flight = InFlight::new();
        // Admitted guards not yet dropped (incremented before the drop, so the count in
        // `in_flight` is never below it when the waiter returns).
        let live = Arc::new(AtomicUsize::new(0));
        let barrier = Barrier::new(THREADS + 1);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                let (in_flight, live, barrier) = (&in_flight, Arc::clone(&live), &barrier);
                s.spawn(move || {
                    barrier.wait();
                    for _ in 0..ITERATIONS {
                        let Some(guard) = in_flight.try_enter() else {
                            break;
                        };
                        live.fetch_add(1, Ordering::SeqCst);
                        std::hint::spin_loop();
                        live.fetch_sub(1, Ordering::SeqCst);
                        drop(guard);
                    }
                });
            }
            barrier.wait();
            in_flight.close();
            rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(60), in_flight.drained())
                    .await
                    .expect("drained() missed the last release");
            });
            assert_eq!(live.load(Ordering::SeqCst), 0, "round {round}");
            assert!(in_flight.try_enter().is_none(), "round {round}");
        });
        assert_eq!(in_flight.count(), 0, "round {round}");
    }
}
