//! The listener observed from inside the process it runs in: the test sends signals to itself.
//!
//! Signals are process-wide and reach every live listener, so every test that installs a listener
//! or sends a signal holds `SERIAL` for its whole length.
//! The handlers are installed before a signal is sent (installation is synchronous), so no
//! signal can hit the default action and end the test binary.
#![cfg(unix)]
// Test helpers outside `#[test]` fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rt_shutdown::{ShutdownCoordinator, ShutdownOptions, ShutdownPhase};
use rt_signals::{ForcedExit, SignalError, SignalKind, SignalListener, EXIT_CODE_FORCED};
use tokio::sync::{mpsc, Mutex};
use tokio_util::sync::CancellationToken;

static SERIAL: Mutex<()> = Mutex::const_new(());

/// A bound on waits that must end: a failure guard, not a wait that hopes.
const GUARD: Duration = Duration::from_secs(30);

fn raise(signal: Signal) {
    kill(Pid::this(), signal).unwrap();
}

async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(GUARD, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test]
async fn custom_force_exit_hook_is_called_instead_of_exiting() {
    let _serial = SERIAL.lock().await;
    let token = CancellationToken::new();
    let (tx, mut forced) = mpsc::unbounded_channel();
    let listener = SignalListener::builder()
        .token(token.clone())
        .force_exit_hook(move |f| tx.send(f).unwrap())
        .install()
        .unwrap();

    raise(Signal::SIGTERM);
    within("the token", token.cancelled()).await;
    assert_eq!(listener.first_signal(), Some(SignalKind::Terminate));
    assert!(forced.try_recv().is_err(), "the first signal is not forced");

    raise(Signal::SIGINT);
    let got = within("the hook", forced.recv()).await.unwrap();
    assert_eq!(
        got,
        ForcedExit {
            first: SignalKind::Terminate,
            second: SignalKind::Interrupt,
            exit_code: EXIT_CODE_FORCED,
        }
    );
    // The hook returned, so the process lives on and the listener still counts signals.
    raise(Signal::SIGTERM);
    let again = within("the hook again", forced.recv()).await.unwrap();
    assert_eq!(again.second, SignalKind::Terminate);
    assert_eq!(again.first, SignalKind::Terminate);
    assert!(listener.is_listening());
}

#[tokio::test]
async fn callbacks_and_tokens_are_told_in_order_with_the_signal() {
    let _serial = SERIAL.lock().await;
    let (tx, mut calls) = mpsc::unbounded_channel();
    let token = CancellationToken::new();
    let t2 = token.clone();
    let tx2 = tx.clone();
    let listener = SignalListener::builder()
        .on_shutdown(move |s| {
            tx.send(format!("a {s} token={}", t2.is_cancelled()))
                .unwrap()
        })
        .token(token.clone())
        .on_shutdown(move |s| tx2.send(format!("b {s}")).unwrap())
        .force_exit_hook(|_| {})
        .install()
        .unwrap();

    raise(Signal::SIGINT);
    assert_eq!(
        within("graceful", listener.graceful_requested()).await,
        Some(SignalKind::Interrupt)
    );
    assert_eq!(calls.recv().await.unwrap(), "a SIGINT token=false");
    assert_eq!(calls.recv().await.unwrap(), "b SIGINT");
    assert!(token.is_cancelled());
}

#[tokio::test]
async fn a_panicking_callback_does_not_stop_the_listener() {
    let _serial = SERIAL.lock().await;
    let (tx, mut forced) = mpsc::unbounded_channel();
    let listener = SignalListener::builder()
        .on_shutdown(|_| panic!("callback bug"))
        .force_exit_hook(move |f| tx.send(f).unwrap())
        .install()
        .unwrap();

    raise(Signal::SIGTERM);
    assert_eq!(
        within("graceful", listener.graceful_requested()).await,
        Some(SignalKind::Terminate)
    );
    // A second signal still reaches the hook: Ctrl+C twice always works.
    raise(Signal::SIGINT);
    assert_eq!(
        within("the hook", forced.recv()).await.unwrap().second,
        SignalKind::Interrupt
    );
}

#[tokio::test]
async fn stop_ends_the_task_and_wakes_waiters_with_none() {
    let _serial = SERIAL.lock().await;
    let listener = Arc::new(SignalListener::builder().install().unwrap());
    assert!(listener.is_listening());
    let waiter = tokio::spawn({
        let listener = Arc::clone(&listener);
        async move { listener.graceful_requested().await }
    });
    listener.stop();
    listener.stop(); // idempotent
    assert_eq!(within("the waiter", waiter).await.unwrap(), None);
    assert!(!listener.is_listening());
    assert_eq!(listener.first_signal(), None);
}

#[test]
fn dropping_the_runtime_ends_the_listener() {
    let _serial = SERIAL.blocking_lock();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = SignalListener::builder().install_on(rt.handle()).unwrap();
    drop(rt);
    assert!(!listener.is_listening());
}

#[test]
fn install_outside_a_runtime_is_an_error_not_a_panic() {
    let err = SignalListener::builder().install().unwrap_err();
    assert!(matches!(err, SignalError::NoRuntime), "{err:?}");
    assert!(err.to_string().contains("install_on"), "{err}");
}

#[test]
fn install_on_a_runtime_without_io_is_an_error_not_a_panic() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let err = SignalListener::builder()
        .install_on(rt.handle())
        .unwrap_err();
    assert!(matches!(err, SignalError::IoDisabled), "{err:?}");
    assert!(err.to_string().contains("enable_io()"), "{err}");
}

#[test]
fn install_on_a_handle_from_a_plain_thread() {
    let _serial = SERIAL.blocking_lock();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let token = CancellationToken::new();
    let listener = SignalListener::builder()
        .token(token.clone())
        .force_exit_hook(|_| {})
        .install_on(rt.handle())
        .unwrap();
    raise(Signal::SIGTERM);
    let first = rt.block_on(async { within("graceful", listener.graceful_requested()).await });
    assert_eq!(first, Some(SignalKind::Terminate));
    assert!(token.is_cancelled());
}

#[tokio::test]
async fn the_coordinator_target_starts_phase_one_and_leaves_the_main_token() {
    let _serial = SERIAL.lock().await;
    let coordinator = ShutdownCoordinator::new(ShutdownOptions::default());
    // Something in flight, so that the drain (phase 2) has to wait for it.
    let request = coordinator.tracker().register_task("request").unwrap();
    let listener = SignalListener::builder()
        .coordinator(coordinator.clone())
        .force_exit_hook(|_| {})
        .install()
        .unwrap();
    assert!(!coordinator.is_shutdown_started());

    raise(Signal::SIGTERM);
    within("graceful", listener.graceful_requested()).await;
    assert!(coordinator.is_shutdown_started());
    assert_eq!(coordinator.phase(), ShutdownPhase::Draining);
    assert!(coordinator.endpoint_token().is_cancelled(), "phase 1 ran");
    assert!(
        !coordinator.primary_token().is_cancelled(),
        "the signal must not tear transports down while work drains"
    );

    // The drain ends when the work does, and only then is the main token cancelled.
    drop(request);
    within("the main token", coordinator.primary_token().cancelled()).await;
}

/// A receiver woken by the first signal (here: told through a callback, which may wake other
/// threads) already finds it in `first_signal()`: on a multi-thread runtime a task woken by the
/// token must not see the request without its signal.
#[tokio::test]
async fn receivers_see_the_first_signal_when_they_are_told() {
    let _serial = SERIAL.lock().await;
    let slot: Arc<OnceLock<SignalListener>> = Arc::new(OnceLock::new());
    let (tx, mut seen) = mpsc::unbounded_channel();
    let listener = SignalListener::builder()
        .on_shutdown({
            let slot = Arc::clone(&slot);
            move |_| tx.send(slot.get().unwrap().first_signal()).unwrap()
        })
        .force_exit_hook(|_| {})
        .install()
        .unwrap();
    slot.set(listener).unwrap();

    raise(Signal::SIGTERM);
    assert_eq!(
        within("the callback", seen.recv()).await.unwrap(),
        Some(SignalKind::Terminate)
    );
    slot.get().unwrap().stop();
}
