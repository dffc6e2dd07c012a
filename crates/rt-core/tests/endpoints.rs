//! Endpoints and the shutdown: the reference's own scenarios, on tokio's paused clock.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rt_core::config::RuntimeConfig;
use rt_core::registry::{ComponentKind, ComponentState};
use rt_core::{EndpointHandle, NotAcceptingReason, Runtime, RuntimeError};
use tokio::sync::mpsc;
use tokio::time::Instant;

const GRACEFUL: Duration = Duration::from_secs(30);

/// A runtime on the test's (paused, current-thread) tokio runtime.
fn runtime() -> Runtime {
    let config = RuntimeConfig::builder()
        .graceful_shutdown_timeout_secs(GRACEFUL.as_secs())
        .teardown_timeout_secs(5)
        .compute_threads(0)
        .build()
        .unwrap();
    Runtime::from_handle_with_config(tokio::runtime::Handle::current(), config).unwrap()
}

/// A request: how long serving it takes.
type Request = Duration;

/// Starts an endpoint that serves each request in its own task, holding an in-flight guard
/// while it sleeps for the request's duration; `done` counts the served ones.
fn serve(
    rt: &Runtime,
    name: &str,
    graceful: bool,
    done: Arc<AtomicUsize>,
) -> (mpsc::UnboundedSender<Request>, EndpointHandle) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Request>();
    let handle = rt
        .endpoint(name)
        .graceful_shutdown(graceful)
        .start(|ctx| async move {
            loop {
                let work = tokio::select! {
                    biased;
                    _ = ctx.cancelled() => break,
                    next = rx.recv() => match next { Some(w) => w, None => break },
                };
                let guard = ctx.begin_request()?;
                let done = Arc::clone(&done);
                tokio::spawn(async move {
                    tokio::time::sleep(work).await;
                    done.fetch_add(1, Ordering::SeqCst);
                    drop(guard);
                });
            }
            Ok::<(), RuntimeError>(())
        })
        .unwrap();
    (tx, handle)
}

/// Lets every ready task run (the clock is paused, so no time passes).
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_endpoint_token_at_once_and_main_token_after_the_drain() {
    let rt = runtime();
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, ep) = serve(&rt, "generate", true, Arc::clone(&done));
    tx.send(Duration::from_secs(5)).unwrap();
    settle().await;
    assert_eq!(ep.in_flight(), 1);
    let main = rt.primary_token();
    let endpoint_token = ep.token();

    let t0 = Instant::now();
    rt.shutdown();
    assert!(
        endpoint_token.is_cancelled(),
        "phase 1 cancels the endpoint token at once"
    );
    assert!(!main.is_cancelled());
    settle().await;
    assert_eq!(ep.state(), ComponentState::Draining);

    // The main token waits for the request (5 s), not for the 30 s bound.
    main.cancelled().await;
    assert_eq!(t0.elapsed(), Duration::from_secs(5));
    assert_eq!(done.load(Ordering::SeqCst), 1);
    let report = rt.shutdown_and_wait(None).await;
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.drain, Duration::from_secs(5));
    assert_eq!(ep.state(), ComponentState::Stopped);
    assert_eq!(ep.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_request_longer_than_the_bound_is_cut_at_the_deadline_and_named() {
    let rt = runtime();
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, ep) = serve(&rt, "generate", true, Arc::clone(&done));
    tx.send(Duration::from_secs(3600)).unwrap();
    settle().await;
    let t0 = Instant::now();
    let main = rt.primary_token();
    let report = rt.shutdown_and_wait(None).await;
    assert!(main.is_cancelled());
    assert_eq!(
        t0.elapsed(),
        GRACEFUL,
        "phase 2 is bounded by the graceful timeout"
    );
    assert!(report.deadline_hit, "{report}");
    assert_eq!(report.still_active, vec!["endpoint generate".to_owned()]);
    assert_eq!(done.load(Ordering::SeqCst), 0);
    assert_eq!(ep.state(), ComponentState::Draining);
    assert_eq!(rt.registry().get("generate").unwrap().in_flight, 1);
}

#[tokio::test(start_paused = true)]
async fn a_caller_deadline_shorter_than_the_bound_wins() {
    let rt = runtime();
    let (tx, _ep) = serve(&rt, "generate", true, Arc::default());
    tx.send(Duration::from_secs(3600)).unwrap();
    settle().await;
    let t0 = Instant::now();
    let report = rt.shutdown_and_wait(Some(Duration::from_secs(2))).await;
    assert!(report.deadline_hit);
    assert!(t0.elapsed() <= Duration::from_secs(2), "{:?}", t0.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_panicking_endpoint_is_marked_failed_and_does_not_hang_shutdown() {
    let rt = runtime();
    let ep = rt
        .endpoint("crashy")
        .start(|ctx| async move {
            let _guard = ctx.begin_request()?;
            panic!("model exploded");
            #[allow(unreachable_code)]
            Ok::<(), RuntimeError>(())
        })
        .unwrap();
    settle().await;
    assert_eq!(ep.state(), ComponentState::Failed);
    let snap = rt.registry().get("crashy").unwrap();
    assert!(
        snap.error
            .as_deref()
            .unwrap_or("")
            .contains("model exploded"),
        "{snap:?}"
    );
    assert_eq!(snap.in_flight, 0, "the guard was released by the panic");
    assert_eq!(rt.graceful_shutdown_tracker().get_count(), 0);
    let t0 = Instant::now();
    let report = rt.shutdown_and_wait(None).await;
    assert!(report.is_clean(), "{report}");
    assert_eq!(t0.elapsed(), Duration::ZERO);
    let err = ep.stopped().await.unwrap_err();
    assert!(matches!(err, RuntimeError::EndpointFailed { .. }), "{err}");
    assert!(err.to_string().contains("crashy"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_returning_an_error_is_failed_with_it() {
    let rt = runtime();
    let ep = rt
        .endpoint("bad")
        .start(|_ctx| async move { Err::<(), _>("port already in use") })
        .unwrap();
    let err = ep.stopped().await.unwrap_err();
    assert!(err.to_string().contains("port already in use"), "{err}");
    let snap = rt.registry().get("bad").unwrap();
    assert_eq!(snap.state, ComponentState::Failed);
    assert_eq!(snap.error.as_deref(), Some("port already in use"));
}

#[tokio::test(start_paused = true)]
async fn a_request_after_phase_1_is_refused_with_a_clear_error() {
    let rt = runtime();
    let (ctx_tx, mut ctx_rx) = mpsc::unbounded_channel();
    let ep = rt
        .endpoint("generate")
        .start(|ctx| async move {
            ctx_tx.send(ctx.clone()).unwrap();
            // Holds one request in flight until a short while after phase 1.
            let guard = ctx.begin_request()?;
            ctx.cancelled().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            drop(guard);
            Ok::<(), RuntimeError>(())
        })
        .unwrap();
    let ctx = ctx_rx.recv().await.unwrap();
    assert!(ctx.is_accepting());
    rt.shutdown();
    assert!(!ctx.is_accepting());
    let err = ctx.begin_request().unwrap_err();
    match &err {
        RuntimeError::NotAccepting { endpoint, reason } => {
            assert_eq!(endpoint, "generate");
            assert_eq!(*reason, NotAcceptingReason::ShutdownStarted);
        }
        other => panic!("unexpected {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("`generate`") && msg.contains("shutting down"),
        "{msg}"
    );
    assert_eq!(ctx.in_flight(), 1, "the refused request was not counted");
    let report = rt.shutdown_and_wait(None).await;
    assert!(report.is_clean(), "{report}");
    assert_eq!(ep.state(), ComponentState::Stopped);
    // Starting an endpoint after phase 1 is refused too.
    let err = rt
        .endpoint("late")
        .start(|_| async { Ok::<(), RuntimeError>(()) })
        .unwrap_err();
    assert!(matches!(err, RuntimeError::ShuttingDown { .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_thousand_in_flight_requests_all_finish_during_the_drain() {
    let rt = runtime();
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, ep) = serve(&rt, "generate", true, Arc::clone(&done));
    let lengths: Vec<Duration> = (0..1000u64)
        // 1 ms .. 10 s, in a scrambled order.
        .map(|i| Duration::from_millis(1 + (i * 7919) % 10_000))
        .collect();
    let longest = lengths.iter().copied().max().unwrap();
    for length in lengths {
        tx.send(length).unwrap();
    }
    while ep.in_flight() < 1000 {
        tokio::task::yield_now().await;
    }
    assert_eq!(rt.registry().get("generate").unwrap().in_flight, 1000);
    let t0 = Instant::now();
    let report = rt.shutdown_and_wait(None).await;
    assert_eq!(done.load(Ordering::SeqCst), 1000, "no request lost");
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        t0.elapsed(),
        longest,
        "the drain ends with the longest request"
    );
    assert_eq!(ep.in_flight(), 0);
    assert_eq!(ep.state(), ComponentState::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_non_graceful_endpoint_does_not_hold_up_phase_2() {
    let rt = runtime();
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, ep) = serve(&rt, "stream", false, Arc::clone(&done));
    assert!(!ep.is_graceful());
    tx.send(Duration::from_secs(3600)).unwrap();
    settle().await;
    assert_eq!(ep.in_flight(), 1);
    assert_eq!(rt.graceful_shutdown_tracker().get_count(), 0);
    let t0 = Instant::now();
    let report = rt.shutdown_and_wait(None).await;
    assert!(report.is_clean(), "{report}");
    assert_eq!(t0.elapsed(), Duration::ZERO);
    // It did stop accepting.
    assert!(ep.token().is_cancelled());
    assert_eq!(ep.state(), ComponentState::Draining);
}

#[tokio::test(start_paused = true)]
async fn a_second_endpoint_with_the_same_name_is_an_error_value() {
    let rt = runtime();
    let (_tx, ep) = serve(&rt, "generate", true, Arc::default());
    let err = rt
        .endpoint("generate")
        .start(|_| async { Ok::<(), RuntimeError>(()) })
        .unwrap_err();
    assert!(matches!(err, RuntimeError::DuplicateName { .. }), "{err}");
    assert!(err.to_string().contains("`generate`"), "{err}");
    // The first one is untouched; once it stopped, the name is free again.
    assert_eq!(ep.state(), ComponentState::Running);
    ep.stop();
    ep.stopped().await.unwrap();
    let (_tx2, ep2) = serve(&rt, "generate", true, Arc::default());
    assert_eq!(ep2.state(), ComponentState::Running);
}

#[tokio::test(start_paused = true)]
async fn stopping_one_endpoint_drains_it_alone() {
    let rt = runtime();
    let done = Arc::new(AtomicUsize::new(0));
    let (tx_a, a) = serve(&rt, "a", true, Arc::clone(&done));
    let (_tx_b, b) = serve(&rt, "b", true, Arc::default());
    tx_a.send(Duration::from_secs(2)).unwrap();
    settle().await;
    assert_eq!(rt.graceful_shutdown_tracker().get_count(), 2);
    a.stop();
    settle().await;
    assert_eq!(a.state(), ComponentState::Draining);
    tokio::time::sleep(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(a.state(), ComponentState::Stopped);
    assert_eq!(done.load(Ordering::SeqCst), 1);
    assert_eq!(b.state(), ComponentState::Running);
    assert_eq!(rt.graceful_shutdown_tracker().get_count(), 1);
    assert!(!rt.shutdown_coordinator().is_shutdown_started());
}

#[tokio::test(start_paused = true)]
async fn the_registry_snapshot_shows_endpoints_and_components() {
    let rt = runtime();
    let cache = rt
        .registry()
        .register("kv-cache", ComponentKind::Component)
        .unwrap();
    cache.set_state(ComponentState::Running).unwrap();
    let (tx, _ep) = serve(&rt, "generate", true, Arc::default());
    tx.send(Duration::from_secs(1)).unwrap();
    tx.send(Duration::from_secs(1)).unwrap();
    settle().await;
    let snap = rt.registry().snapshot();
    assert_eq!(snap.len(), 2);
    assert_eq!(
        (snap[0].name.as_str(), snap[0].kind, snap[0].state),
        (
            "kv-cache",
            ComponentKind::Component,
            ComponentState::Running
        )
    );
    assert_eq!(
        (snap[1].name.as_str(), snap[1].kind, snap[1].in_flight),
        ("generate", ComponentKind::Endpoint, 2)
    );
    let report = rt.shutdown_and_wait(None).await;
    assert!(report.is_clean());
    assert_eq!(
        rt.registry().get("generate").unwrap().state,
        ComponentState::Stopped
    );
}

#[tokio::test(start_paused = true)]
async fn drained_resolves_once_stopped_and_empty_and_stop_refuses_at_once() {
    let rt = runtime();
    let (ctx_tx, mut ctx_rx) = mpsc::unbounded_channel();
    let ep = rt
        .endpoint("generate")
        .start(|ctx| async move {
            ctx_tx.send(ctx.clone()).unwrap();
            ctx.cancelled().await;
            Ok::<(), RuntimeError>(())
        })
        .unwrap();
    let ctx = ctx_rx.recv().await.unwrap();
    let drained = tokio::spawn({
        let ctx = ctx.clone();
        async move { ctx.drained().await }
    });
    settle().await;
    assert!(!drained.is_finished(), "idle but open is not drained");
    let guard = ctx.begin_request().unwrap();
    assert_eq!(rt.registry().get("generate").unwrap().in_flight, 1);

    ep.stop();
    // Refused from the moment stop() returned, before any task ran.
    let err = ctx.begin_request().unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::NotAccepting {
                reason: NotAcceptingReason::EndpointStopped,
                ..
            }
        ),
        "{err}"
    );
    assert!(!ctx.is_accepting());
    settle().await;
    assert!(!drained.is_finished(), "one request is still in flight");
    assert_eq!(ep.state(), ComponentState::Draining);
    drop(guard);
    drained.await.unwrap();
    ctx.drained().await; // again: returns at once
    ep.stopped().await.unwrap();
    assert_eq!(rt.registry().get("generate").unwrap().in_flight, 0);
    assert!(!rt.shutdown_coordinator().is_shutdown_started());
}

/// Requests racing `shutdown()` from several threads: none is admitted once `shutdown()` has
/// returned, and every admitted one is waited for by the drain (the registry's count, the
/// endpoint's and the drain's are one counter).
#[test]
fn requests_racing_the_shutdown_from_several_threads_are_admitted_or_refused_never_lost() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Barrier;

    for round in 0..50 {
        let config = RuntimeConfig::builder()
            .num_worker_threads(2)
            .compute_threads(0)
            .build()
            .unwrap();
        let rt = Runtime::from_config(config).unwrap();
        let (ctx_tx, ctx_rx) = std::sync::mpsc::channel();
        let ep = rt
            .endpoint("race")
            .start(move |ctx| {
                ctx_tx.send(ctx.clone()).unwrap();
                async move {
                    ctx.cancelled().await;
                    Ok::<(), RuntimeError>(())
                }
            })
            .unwrap();
        let ctx = ctx_rx.recv().unwrap();
        let returned = Arc::new(AtomicBool::new(false));
        let admitted = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(4));
        let clients: Vec<_> = (0..3)
            .map(|_| {
                let (ctx, returned, admitted, start) = (
                    ctx.clone(),
                    Arc::clone(&returned),
                    Arc::clone(&admitted),
                    Arc::clone(&start),
                );
                std::thread::spawn(move || {
                    start.wait();
                    let mut held = Vec::new();
                    for _ in 0..100_000 {
                        let after_shutdown = returned.load(Ordering::SeqCst);
                        match ctx.begin_request() {
                            Ok(guard) => {
                                assert!(!after_shutdown, "admitted after shutdown() returned");
                                admitted.fetch_add(1, Ordering::SeqCst);
                                held.push(guard);
                                if held.len() > 8 {
                                    drop(held.remove(0));
                                }
                            }
                            Err(RuntimeError::NotAccepting { reason, .. }) => {
                                assert_eq!(reason, NotAcceptingReason::ShutdownStarted);
                                return held;
                            }
                            Err(other) => panic!("unexpected {other}"),
                        }
                    }
                    held
                })
            })
            .collect();
        start.wait();
        rt.shutdown();
        returned.store(true, Ordering::SeqCst);
        let mut held: Vec<_> = clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        assert_eq!(ctx.in_flight(), held.len(), "round {round}");
        assert_eq!(
            rt.registry().get("race").unwrap().in_flight,
            held.len(),
            "round {round}: the registry reads the same counter"
        );
        held.clear();
        let report = rt.primary().block_on(async {
            tokio::time::timeout(Duration::from_secs(10), rt.shutdown_and_wait(None))
                .await
                .expect("the drain ends once the last guard is gone")
        });
        assert!(report.is_clean(), "round {round}: {report}");
        assert_eq!(ep.state(), ComponentState::Stopped, "round {round}");
    }
}
