//! [`SignalListener`]: the installed handlers and the task that acts on them.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use tokio::runtime::Handle;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::escalation::{Decision, Escalation};
use crate::forced::{ForceExitHook, ForcedExit};
use crate::kind::SignalKind;
use crate::os::OsSignals;
use crate::target::Target;

/// Installed signal handlers and the task that turns signals into shutdown requests.
///
/// The first signal is logged (`info`) and requests a graceful shutdown from every receiver the
/// builder was given; a second signal is logged (`warn`) and calls the force-exit hook, whose
/// default ends the process with [`EXIT_CODE_FORCED`](crate::EXIT_CODE_FORCED) (130).
///
/// Dropping the listener (or calling [`stop`](Self::stop)) ends the listening task. The handlers
/// themselves stay registered with the operating system for the process's life (see
/// [`SignalListenerBuilder::install_on`](crate::SignalListenerBuilder::install_on)), so after
/// that the signals are ignored.
///
/// Both outcomes can be awaited: [`graceful_requested`](Self::graceful_requested) for the first
/// signal, [`forced`](Self::forced) for a forced exit whose hook returned.
///
/// ```
/// use rt_signals::SignalListener;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rt_signals::SignalError> {
/// let listener = SignalListener::builder().install()?;
/// // A service would now await `listener.graceful_requested()` next to its work.
/// listener.stop();
/// assert_eq!(listener.graceful_requested().await, None);
/// # Ok(())
/// # }
/// ```
pub struct SignalListener {
    shared: Arc<Shared>,
}

/// State shared between the listener handle and its task.
struct Shared {
    /// The signal that requested the graceful shutdown; set before any receiver is told.
    first: OnceLock<SignalKind>,
    /// Cancelled once every receiver has been told about the first signal.
    requested: CancellationToken,
    /// The first forced exit; set once the force-exit hook has returned (or panicked) for it.
    forced: OnceLock<ForcedExit>,
    /// Cancelled right after `forced` is set.
    forced_done: CancellationToken,
    /// Cancelled by `stop()` / drop.
    stop: CancellationToken,
    /// Cancelled when the task ends, for whatever reason (stop, runtime shutdown).
    finished: CancellationToken,
}

impl SignalListener {
    /// The signal that requested the graceful shutdown, if one has arrived. It is set before the
    /// receivers are told, so a receiver (or whoever a receiver wakes) already sees it.
    pub fn first_signal(&self) -> Option<SignalKind> {
        self.shared.first.get().copied()
    }

    /// Waits until the first signal has been handled (every receiver told) and returns it;
    /// returns `None` if the listener ended without one (stopped, or its runtime shut down).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: dropping the future loses nothing, and any number of callers
    /// may wait at the same time.
    pub async fn graceful_requested(&self) -> Option<SignalKind> {
        tokio::select! {
            biased;
            () = self.shared.requested.cancelled() => {}
            () = self.shared.finished.cancelled() => {}
        }
        self.first_signal()
    }

    /// Waits until a second signal has forced the exit **and the force-exit hook has returned**,
    /// and returns that first forced exit; returns `None` if the listener ended without one
    /// (stopped, or its runtime shut down).
    ///
    /// This is how a caller whose [hook](crate::SignalListenerBuilder::force_exit_hook) returns
    /// ends its own run (the `Worker` of `rt-core` does this). With the default hook
    /// ([`default_force_exit`](crate::default_force_exit)) the process has exited with 130
    /// inside the hook, so this never resolves with `Some`. A hook that panics counts as
    /// returned. Later forced exits (a third signal) call the hook again but do not change the
    /// value returned here.
    ///
    /// ```
    /// use rt_signals::SignalListener;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), rt_signals::SignalError> {
    /// let listener = SignalListener::builder()
    ///     .force_exit_hook(|forced| eprintln!("flushing before exit code {}", forced.exit_code))
    ///     .install()?;
    /// // A service selects on this next to its own shutdown; here the listener just stops.
    /// listener.stop();
    /// assert_eq!(listener.forced().await, None);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: dropping the future loses nothing, and any number of callers
    /// may wait at the same time.
    pub async fn forced(&self) -> Option<ForcedExit> {
        tokio::select! {
            biased;
            () = self.shared.forced_done.cancelled() => {}
            () = self.shared.finished.cancelled() => {}
        }
        // Set on the listener's task before it ends, so `finished` never hides it.
        self.shared.forced.get().copied()
    }

    /// Whether the listening task is still running.
    pub fn is_listening(&self) -> bool {
        !self.shared.finished.is_cancelled()
    }

    /// Ends the listening task; idempotent, never blocks.
    ///
    /// A signal that the task is already handling is handled to the end (the receivers or the
    /// hook may still run once, concurrently with this call); no later signal is acted on.
    pub fn stop(&self) {
        self.shared.stop.cancel();
    }
}

impl Drop for SignalListener {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for SignalListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalListener")
            .field("first_signal", &self.first_signal())
            .field("listening", &self.is_listening())
            .finish()
    }
}

impl SignalListener {
    /// Spawns the listening task on `handle`.
    pub(crate) fn spawn(
        handle: &Handle,
        os: OsSignals,
        escalation: Escalation,
        targets: Vec<Target>,
        hook: ForceExitHook,
    ) -> SignalListener {
        let shared = Arc::new(Shared {
            first: OnceLock::new(),
            requested: CancellationToken::new(),
            forced: OnceLock::new(),
            forced_done: CancellationToken::new(),
            stop: CancellationToken::new(),
            finished: CancellationToken::new(),
        });
        let task = Task {
            // Made here, not in the task's body, so that it also fires if the runtime drops the
            // task before ever polling it.
            _finished: shared.finished.clone().drop_guard(),
            shared: Arc::clone(&shared),
            escalation,
            targets,
            hook,
        };
        // The handle is not kept: `stop` ends the task through its token, and the runtime's own
        // shutdown drops it (which also marks it finished).
        drop(handle.spawn(task.run(os)));
        SignalListener { shared }
    }
}

/// The listening task's own state.
struct Task {
    /// Marks the listener finished when the task ends or is dropped.
    _finished: DropGuard,
    shared: Arc<Shared>,
    escalation: Escalation,
    targets: Vec<Target>,
    hook: ForceExitHook,
}

impl Task {
    async fn run(mut self, mut os: OsSignals) {
        loop {
            let kind = tokio::select! {
                biased;
                () = self.shared.stop.cancelled() => {
                    tracing::debug!("signal listener stopped");
                    return;
                }
                got = os.recv() => match got {
                    Some(kind) => kind,
                    None => {
                        tracing::debug!("the runtime's signal driver shut down; signal listener ends");
                        return;
                    }
                },
            };
            let decision = self.escalation.on_signal(kind, Instant::now());
            self.act(decision);
        }
    }

    fn act(&self, decision: Decision) {
        match decision {
            Decision::Graceful(kind) => {
                tracing::info!(
                    signal = %kind,
                    "received {kind}: starting graceful shutdown (a second signal forces the exit)"
                );
                #[cfg(feature = "systemd")]
                if let Err(error) = crate::systemd::notify_stopping() {
                    tracing::warn!(%error, "could not tell systemd that the service is stopping");
                }
                // Only a first signal gets here, once: `set` cannot fail.
                let _ = self.shared.first.set(kind);
                for target in &self.targets {
                    run_caught("shutdown callback", || target.request(kind));
                }
                self.shared.requested.cancel();
            }
            Decision::Forced(forced) => {
                tracing::warn!(
                    signal = %forced.second,
                    first = %forced.first,
                    exit_code = forced.exit_code,
                    "received {} during the graceful shutdown started by {}: forcing the exit with code {}",
                    forced.second,
                    forced.first,
                    forced.exit_code,
                );
                run_caught("force-exit hook", || (self.hook)(forced));
                // Only after the hook: a caller awaiting `forced()` ends its run once the hook
                // is done (the default hook never gets here, it has exited the process).
                if self.shared.forced.set(forced).is_ok() {
                    self.shared.forced_done.cancel();
                }
            }
            Decision::Debounced { kind, after } => {
                tracing::info!(
                    signal = %kind,
                    "ignoring repeated {kind} {after:?} after the last one (debounce window {:?})",
                    self.escalation.debounce(),
                );
            }
        }
    }
}

/// Runs `f`, logging instead of propagating a panic (user callbacks on the listener's task).
fn run_caught(what: &str, f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        tracing::error!("the {what} panicked; the signal listener keeps running");
    }
}
