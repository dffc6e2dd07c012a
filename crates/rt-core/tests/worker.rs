//! The Worker: outcomes and exit codes, signals, one deadline, one worker per process.
//!
//! A worker is process-wide (signals, the worker slot), so these tests take turns.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{raise, Signal};
use rt_core::config::RuntimeConfig;
use rt_core::shutdown::ShutdownPhase;
use rt_core::signals::ForcedExit;
use rt_core::{
    Runtime, RuntimeError, Worker, WorkerOutcome, EXIT_CODE_FORCED, EXIT_CODE_SHUTDOWN_TIMEOUT,
};
use tokio::time::Instant;

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn turn() -> tokio::sync::MutexGuard<'static, ()> {
    TURN.blocking_lock()
}

async fn turn_async() -> tokio::sync::MutexGuard<'static, ()> {
    TURN.lock().await
}

fn owned_config() -> RuntimeConfig {
    RuntimeConfig::builder()
        .num_worker_threads(2)
        .compute_threads(1)
        .worker_graceful_shutdown_timeout_secs(10)
        .build()
        .unwrap()
}

/// A worker on the test's own (paused, current-thread) runtime.
fn paused_worker(worker_timeout_secs: u64) -> Worker {
    let config = RuntimeConfig::builder()
        .compute_threads(0)
        .worker_graceful_shutdown_timeout_secs(worker_timeout_secs)
        .graceful_shutdown_timeout_secs(900)
        .build()
        .unwrap();
    let runtime =
        Runtime::from_handle_with_config(tokio::runtime::Handle::current(), config).unwrap();
    Worker::from_runtime(runtime).unwrap()
}

#[test]
fn a_clean_run_exits_0_with_the_report() {
    let _t = turn();
    let outcome = Worker::from_config(owned_config())
        .unwrap()
        .execute(|rt: Runtime| async move {
            assert_eq!(rt.compute(|| 2 + 2).await?, 4);
            rt.shutdown();
            Ok::<(), RuntimeError>(())
        })
        .unwrap();
    assert!(outcome.is_clean(), "{outcome}");
    assert_eq!(outcome.exit_code(), 0);
    let report = outcome.shutdown_report().unwrap();
    assert!(report.is_clean(), "{report}");
}

#[test]
fn an_app_that_returns_on_its_own_still_gets_a_shutdown() {
    let _t = turn();
    let worker = Worker::from_config(owned_config()).unwrap();
    let rt = worker.runtime().clone();
    let outcome = worker
        .execute(|_| async { Ok::<(), RuntimeError>(()) })
        .unwrap();
    assert!(outcome.is_clean(), "{outcome}");
    assert_eq!(rt.shutdown_coordinator().phase(), ShutdownPhase::Stopped);
    assert!(rt.primary_token().is_cancelled());
}

#[test]
fn an_app_error_exits_1_and_keeps_the_error() {
    let _t = turn();
    let outcome = Worker::from_config(owned_config())
        .unwrap()
        .execute(|_| async { Err::<(), _>(std::io::Error::other("model file missing")) })
        .unwrap();
    assert!(
        matches!(outcome, WorkerOutcome::AppError { .. }),
        "{outcome}"
    );
    assert_eq!(outcome.exit_code(), 1);
    assert_eq!(
        outcome.app_error().unwrap().to_string(),
        "model file missing"
    );
    assert!(outcome.shutdown_report().is_some());
}

#[test]
fn an_app_panic_is_an_app_error() {
    let _t = turn();
    let outcome = Worker::from_config(owned_config())
        .unwrap()
        .execute(|_| async {
            panic!("unexpected state");
            #[allow(unreachable_code)]
            Ok::<(), RuntimeError>(())
        })
        .unwrap();
    assert_eq!(outcome.exit_code(), 1);
    assert!(
        outcome.to_string().contains("unexpected state"),
        "{outcome}"
    );
}

#[test]
fn only_one_worker_per_process() {
    let _t = turn();
    let first = Worker::from_config(owned_config()).unwrap();
    let err = Worker::from_config(owned_config()).unwrap_err();
    assert!(matches!(err, RuntimeError::WorkerAlreadyActive), "{err}");
    assert!(err.to_string().contains("one Worker"), "{err}");
    drop(first);
    // A failed construction does not hold the slot.
    let mut bad = owned_config();
    bad.max_blocking_threads = 0;
    assert!(matches!(
        Worker::from_config(bad),
        Err(RuntimeError::Config(_))
    ));
    let again = Worker::from_config(owned_config()).unwrap();
    drop(again);
}

#[test]
fn execute_inside_async_code_is_an_error_value() {
    let _t = turn();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let worker = Worker::from_config(owned_config()).unwrap();
    let err = rt.block_on(async move { worker.execute(|_| async { Ok::<(), RuntimeError>(()) }) });
    assert!(
        matches!(err, Err(RuntimeError::ExecuteInAsyncContext)),
        "{err:?}"
    );
}

#[test]
fn sigterm_starts_phase_1_not_the_main_token() {
    let _t = turn();
    let outcome = Worker::from_config(owned_config())
        .unwrap()
        .execute(|rt: Runtime| async move {
            let stop_accepting = rt.child_token();
            raise(Signal::SIGTERM).map_err(|e| e.to_string())?;
            stop_accepting.cancelled().await;
            // Phase 1's effects come before `Draining` is published: a task woken by the token
            // may still read `Running` for an instant, so wait for the phase (bounded).
            let mut phase = rt.shutdown_coordinator().subscribe();
            tokio::time::timeout(
                std::time::Duration::from_secs(10),
                phase.wait_for(|p| *p == ShutdownPhase::Draining),
            )
            .await
            .map_err(|_| "Draining was never published".to_owned())?
            .map_err(|e| e.to_string())?;
            // Draining: the main token (backends) is still live.
            assert!(!rt.primary_token().is_cancelled());
            Ok::<(), String>(())
        })
        .unwrap();
    assert!(outcome.is_clean(), "{outcome}");
}

#[test]
fn a_second_signal_forces_the_exit() {
    let _t = turn();
    let seen: Arc<Mutex<Option<ForcedExit>>> = Arc::default();
    let seen2 = Arc::clone(&seen);
    let outcome = Worker::from_config(owned_config())
        .unwrap()
        .force_exit_hook(move |fx| *seen2.lock().unwrap() = Some(fx))
        .execute(|rt: Runtime| async move {
            raise(Signal::SIGTERM).map_err(|e| e.to_string())?;
            let mut phases = rt.shutdown_coordinator().subscribe();
            let _ = phases.wait_for(|p| *p != ShutdownPhase::Running).await;
            raise(Signal::SIGINT).map_err(|e| e.to_string())?;
            // An app that ignores the shutdown: only the forced exit ends it.
            std::future::pending::<()>().await;
            Ok::<(), String>(())
        })
        .unwrap();
    assert!(matches!(outcome, WorkerOutcome::Forced { .. }), "{outcome}");
    assert_eq!(outcome.exit_code(), EXIT_CODE_FORCED);
    assert_eq!(EXIT_CODE_FORCED, 130);
    assert!(outcome.shutdown_report().is_none());
    // The run ended only after the hook had returned: it has seen the forced exit.
    assert_eq!(seen.lock().unwrap().map(|f| f.exit_code), Some(130));
}

/// A hook that panics still ends the run (the panic is caught and logged by the listener).
#[test]
fn a_panicking_force_exit_hook_still_ends_the_run_as_forced() {
    let _t = turn();
    let outcome = Worker::from_config(owned_config())
        .unwrap()
        .force_exit_hook(|_| panic!("hook bug"))
        .execute(|rt: Runtime| async move {
            raise(Signal::SIGTERM).map_err(|e| e.to_string())?;
            let mut phases = rt.shutdown_coordinator().subscribe();
            let _ = phases.wait_for(|p| *p != ShutdownPhase::Running).await;
            raise(Signal::SIGTERM).map_err(|e| e.to_string())?;
            std::future::pending::<()>().await;
            Ok::<(), String>(())
        })
        .unwrap();
    assert!(matches!(outcome, WorkerOutcome::Forced { .. }), "{outcome}");
}

/// Issue 12, defect 5: budget 1 s, the application leaves a 6 s blocking task behind and
/// returns. The run used to wait the 6 s in the final runtime drop and report "clean (exit 0)";
/// the process must be done within its budget, or exit 70 naming what was left.
#[test]
fn blocking_work_left_behind_is_abandoned_within_the_budget_with_exit_70() {
    let _t = turn();
    let config = RuntimeConfig::builder()
        .num_worker_threads(2)
        .compute_threads(1)
        .worker_graceful_shutdown_timeout_secs(1)
        .build()
        .unwrap();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = std::sync::mpsc::channel::<()>();
    let t0 = std::time::Instant::now();
    let outcome = Worker::from_config(config)
        .unwrap()
        .execute(move |_| async move {
            // 6 s of blocking work (released early once the test has its answer).
            drop(tokio::task::spawn_blocking(move || {
                started_tx.send(()).unwrap();
                let _ = released.recv_timeout(Duration::from_secs(6));
            }));
            Ok::<(), RuntimeError>(())
        })
        .unwrap();
    let elapsed = t0.elapsed();
    // The blocking task did run (so it was abandoned, not skipped); now let its thread end.
    started.recv_timeout(Duration::from_secs(6)).unwrap();
    let _ = release.send(());

    assert!(
        elapsed < Duration::from_millis(2500),
        "execute() took {elapsed:?} with a budget of 1 s"
    );
    assert_eq!(outcome.exit_code(), EXIT_CODE_SHUTDOWN_TIMEOUT, "{outcome}");
    match &outcome {
        WorkerOutcome::DeadlineExceeded {
            app_still_running,
            blocking_abandoned,
            report,
            ..
        } => {
            assert!(!*app_still_running);
            assert_eq!(*blocking_abandoned, 1, "one blocking thread: {outcome}");
            assert!(report.is_clean(), "the shutdown itself was clean: {report}");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(
        outcome.to_string().contains("blocking work abandoned"),
        "{outcome}"
    );
}

/// The other side of the same rule: blocking work that ends within the budget is waited for,
/// and idle runtime threads are not mistaken for abandoned work.
#[test]
fn blocking_work_that_ends_within_the_budget_is_waited_for() {
    let _t = turn();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d2 = Arc::clone(&done);
    let outcome = Worker::from_config(owned_config())
        .unwrap()
        .execute(move |_| async move {
            drop(tokio::task::spawn_blocking(move || {
                std::thread::sleep(Duration::from_millis(300));
                d2.store(true, std::sync::atomic::Ordering::SeqCst);
            }));
            Ok::<(), RuntimeError>(())
        })
        .unwrap();
    assert!(outcome.is_clean(), "{outcome}");
    assert!(
        done.load(std::sync::atomic::Ordering::SeqCst),
        "the runtime drop waited for the blocking task"
    );
}

#[tokio::test(start_paused = true)]
async fn an_app_that_ignores_the_shutdown_is_cut_at_the_deadline_with_exit_70() {
    let _t = turn_async().await;
    let worker = paused_worker(10);
    let rt = worker.runtime().clone();
    let t0 = Instant::now();
    let rt2 = rt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rt2.shutdown();
    });
    let outcome = worker
        .execute_async(|_| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<(), RuntimeError>(())
        })
        .await
        .unwrap();
    match &outcome {
        WorkerOutcome::DeadlineExceeded {
            report,
            app_still_running,
            blocking_abandoned,
            ..
        } => {
            assert!(*app_still_running);
            assert_eq!(
                *blocking_abandoned, 0,
                "execute_async never drops the runtime"
            );
            assert_eq!(report.still_active, vec![Worker::APP_TASK_NAME.to_owned()]);
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(outcome.exit_code(), EXIT_CODE_SHUTDOWN_TIMEOUT);
    assert_eq!(
        t0.elapsed(),
        Duration::from_secs(1 + 10),
        "one deadline of 10 s from the shutdown"
    );
}

#[tokio::test(start_paused = true)]
async fn one_deadline_covers_the_app_drain_and_the_runtime_phases() {
    let _t = turn_async().await;
    // The runtime's own phase-2 bound is 900 s; the worker's deadline of 10 s wins.
    let worker = paused_worker(10);
    let t0 = Instant::now();
    let outcome = worker
        .execute_async(|rt: Runtime| async move {
            let ep = rt.endpoint("generate").start(|ctx| async move {
                let guard = ctx.begin_request()?;
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    drop(guard);
                });
                ctx.cancelled().await;
                Ok::<(), RuntimeError>(())
            })?;
            while ep.in_flight() == 0 {
                tokio::task::yield_now().await;
            }
            rt.shutdown();
            // The app's own drain takes 4 s of the budget...
            tokio::time::sleep(Duration::from_secs(4)).await;
            drop(ep);
            Ok::<(), RuntimeError>(())
        })
        .await
        .unwrap();
    // ...and phase 2 gets only what is left: the whole run ends at 10 s.
    assert_eq!(t0.elapsed(), Duration::from_secs(10));
    match &outcome {
        WorkerOutcome::DeadlineExceeded {
            report,
            app_still_running,
            ..
        } => {
            assert!(!*app_still_running);
            assert_eq!(report.still_active, vec!["endpoint generate".to_owned()]);
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn from_current_runs_with_execute_async() {
    let _t = turn_async().await;
    let outcome = paused_worker(5)
        .execute_async(|rt: Runtime| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            rt.shutdown();
            Ok::<(), &'static str>(())
        })
        .await
        .unwrap();
    assert!(outcome.is_clean(), "{outcome}");
}

#[test]
fn outcome_as_the_return_value_of_main() {
    use std::process::{ExitCode, Termination};
    let _t = turn();
    let outcome = Worker::from_config(owned_config())
        .unwrap()
        .execute(|_| async { Err::<(), _>("bad") })
        .unwrap();
    assert_eq!(outcome.report(), ExitCode::from(1));
}
