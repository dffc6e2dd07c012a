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

/// A shutdown coordinator is reached through a callback (this crate knows none): the callback
/// runs once, with the first signal, before `graceful_requested` resolves.
#[tokio::test]
async fn a_callback_is_how_a_coordinator_is_started() {
    let _serial = SERIAL.lock().await;
    let phase1 = CancellationToken::new();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = SignalListener::builder()
        .on_shutdown({
            let (phase1, calls) = (phase1.clone(), Arc::clone(&calls));
            move |_| {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                phase1.cancel();
            }
        })
        .force_exit_hook(|_| {})
        .install()
        .unwrap();

    raise(Signal::SIGTERM);
    within("graceful", listener.graceful_requested()).await;
    assert!(phase1.is_cancelled());
    // A second signal forces; it does not request the graceful shutdown again.
    raise(Signal::SIGTERM);
    within("forced", listener.forced()).await.unwrap();
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// `forced()` resolves only once the hook has returned, so a caller that ends its run on it
/// never races a hook that is still flushing something.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_resolves_after_the_hook_returned() {
    let _serial = SERIAL.lock().await;
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (release_tx, release) = std::sync::mpsc::channel::<()>();
    let release = std::sync::Mutex::new(release);
    let listener = Arc::new(
        SignalListener::builder()
            .force_exit_hook(move |f| {
                started_tx.send(f).unwrap();
                // Blocks the listener's task (one worker) until the test lets it return.
                release.lock().unwrap().recv_timeout(GUARD).unwrap();
            })
            .install()
            .unwrap(),
    );
    let waiter = tokio::spawn({
        let listener = Arc::clone(&listener);
        async move { listener.forced().await }
    });

    raise(Signal::SIGTERM);
    within("graceful", listener.graceful_requested()).await;
    raise(Signal::SIGINT);
    let in_hook = within("the hook", started.recv()).await.unwrap();
    // The hook is running and cannot return until released: the waiter must still wait.
    tokio::task::yield_now().await;
    assert!(
        !waiter.is_finished(),
        "forced() resolved before the hook returned"
    );
    release_tx.send(()).unwrap();
    let got = within("forced()", waiter).await.unwrap();
    assert_eq!(got, Some(in_hook));
    assert_eq!(
        got,
        Some(ForcedExit {
            first: SignalKind::Terminate,
            second: SignalKind::Interrupt,
            exit_code: EXIT_CODE_FORCED,
        })
    );

    // A third signal calls the hook again; forced() keeps naming the first forced exit.
    raise(Signal::SIGTERM);
    assert_eq!(
        within("the hook again", started.recv())
            .await
            .unwrap()
            .second,
        SignalKind::Terminate
    );
    release_tx.send(()).unwrap();
    assert_eq!(within("forced() again", listener.forced()).await, got);
}

#[tokio::test]
async fn forced_counts_a_panicking_hook_as_returned() {
    let _serial = SERIAL.lock().await;
    let listener = SignalListener::builder()
        .force_exit_hook(|_| panic!("hook bug"))
        .install()
        .unwrap();
    raise(Signal::SIGINT);
    within("graceful", listener.graceful_requested()).await;
    raise(Signal::SIGINT);
    let forced = within("forced()", listener.forced()).await.unwrap();
    assert_eq!(forced.first, SignalKind::Interrupt);
    assert!(
        listener.is_listening(),
        "a panicking hook does not end the listener"
    );
}

#[tokio::test]
async fn forced_is_none_when_the_listener_ends_without_one() {
    let _serial = SERIAL.lock().await;
    let listener = SignalListener::builder()
        .force_exit_hook(|_| {})
        .install()
        .unwrap();
    raise(Signal::SIGTERM);
    within("graceful", listener.graceful_requested()).await;
    listener.stop();
    assert_eq!(within("forced()", listener.forced()).await, None);
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
