//! [`SignalListenerBuilder`]: what the first signal requests, what a second one does.

use std::fmt;
use std::panic::catch_unwind;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::error::SignalError;
use crate::escalation::Escalation;
use crate::forced::{default_force_exit, ForceExitHook, ForcedExit};
use crate::kind::SignalKind;
use crate::listener::SignalListener;
use crate::os::OsSignals;
use crate::target::Target;

/// Configures and installs a [`SignalListener`].
///
/// Every graceful-shutdown receiver added with [`on_shutdown`](Self::on_shutdown) or
/// [`token`](Self::token) is told, in the order they were added, when the first signal arrives.
/// None is required: without any, the first signal is still observable through
/// [`SignalListener::graceful_requested`].
///
/// This crate knows no shutdown coordinator: to start one, hand the builder a callback that
/// calls it, e.g. `.on_shutdown(move |_| coordinator.shutdown())` (phase 1 starts, the drain
/// follows; the coordinator cancels its main token only in phase 3).
///
/// ```
/// use std::time::Duration;
/// use rt_signals::SignalListener;
/// use tokio_util::sync::CancellationToken;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rt_signals::SignalError> {
/// let stop_accepting = CancellationToken::new();
/// let listener = SignalListener::builder()
///     .token(stop_accepting.clone())
///     .on_shutdown(|signal| eprintln!("draining because of {signal}"))
///     .debounce(Duration::from_millis(200))
///     .install()?;
/// assert!(listener.is_listening());
/// assert_eq!(listener.first_signal(), None);
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until `install` is called"]
pub struct SignalListenerBuilder {
    targets: Vec<Target>,
    hook: Option<ForceExitHook>,
    debounce: Duration,
}

impl SignalListenerBuilder {
    /// A builder with no receivers, the default force-exit hook
    /// ([`default_force_exit`]: exit with 130) and no debounce.
    pub fn new() -> Self {
        Self {
            targets: Vec::new(),
            hook: None,
            debounce: Duration::ZERO,
        }
    }

    /// Calls `callback` with the first signal, to request the graceful shutdown (for example
    /// `move |_| coordinator.shutdown()`).
    ///
    /// The callback runs on the listener's task, inside the runtime: it must not block (start
    /// the shutdown, do not wait for it). A panic in it is caught and logged; the listener keeps
    /// running, so a second signal can still force the exit.
    pub fn on_shutdown<F>(mut self, callback: F) -> Self
    where
        F: Fn(SignalKind) + Send + Sync + 'static,
    {
        self.targets.push(Target::Callback(Arc::new(callback)));
        self
    }

    /// Cancels `token` on the first signal.
    pub fn token(mut self, token: CancellationToken) -> Self {
        self.targets.push(Target::Token(token));
        self
    }

    /// Replaces what a second signal does (default: [`default_force_exit`], which ends the
    /// process with [`EXIT_CODE_FORCED`](crate::EXIT_CODE_FORCED)).
    ///
    /// The hook runs on the listener's task after the second signal has been logged, and again
    /// for every further counted signal. A hook that returns leaves the process running; one that
    /// panics is caught and logged. Once the first call has returned (or panicked),
    /// [`SignalListener::forced`] resolves: that is how a caller whose hook returns ends its own
    /// run.
    pub fn force_exit_hook<F>(mut self, hook: F) -> Self
    where
        F: Fn(ForcedExit) + Send + Sync + 'static,
    {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Ignores a signal identical to the last counted one when it arrives less than `window`
    /// after it (default `Duration::ZERO`: every signal counts).
    ///
    /// This is for setups where one stop request reaches the process twice (a terminal and a
    /// supervisor both forwarding the same `SIGINT`). The window is measured from the last
    /// *counted* signal on tokio's clock. A different signal always counts.
    pub fn debounce(mut self, window: Duration) -> Self {
        self.debounce = window;
        self
    }

    /// Installs the handlers on the tokio runtime of the calling thread and starts listening.
    ///
    /// # Errors
    ///
    /// [`SignalError::NoRuntime`] outside a tokio runtime, and every error of
    /// [`install_on`](Self::install_on). No error starts a shutdown.
    pub fn install(self) -> Result<SignalListener, SignalError> {
        let handle = Handle::try_current().map_err(|_| SignalError::NoRuntime)?;
        self.install_on(&handle)
    }

    /// Installs the handlers with `handle`'s runtime and spawns the listening task on it; callable
    /// from any thread, inside a runtime or not.
    ///
    /// On Unix, `SIGINT` and `SIGTERM` are listened for; on Windows, the Ctrl+C console event.
    /// The handlers are in place when this returns: a signal sent afterwards is seen.
    ///
    /// Installing replaces the operating system's default action for these signals (terminate)
    /// for the rest of the process's life, even after the listener is stopped: this is how
    /// tokio's signal handling works.
    ///
    /// # Errors
    ///
    /// - [`SignalError::IoDisabled`] if the runtime was built without its I/O driver. (tokio
    ///   reports this by panicking; the panic is caught and turned into this error, but the panic
    ///   message is still printed by the panic hook.)
    /// - [`SignalError::Install`] if the operating system refused a handler.
    /// - [`SignalError::Unsupported`] on platforms with neither.
    pub fn install_on(self, handle: &Handle) -> Result<SignalListener, SignalError> {
        let os = {
            let _entered = handle.enter();
            catch_unwind(OsSignals::register).map_err(|_| SignalError::IoDisabled)??
        };
        let hook = self
            .hook
            .unwrap_or_else(|| Arc::new(|forced| default_force_exit(forced)));
        let escalation = Escalation::new(self.debounce);
        Ok(SignalListener::spawn(
            handle,
            os,
            escalation,
            self.targets,
            hook,
        ))
    }
}

impl SignalListener {
    /// A builder; the same as [`SignalListenerBuilder::new`].
    pub fn builder() -> SignalListenerBuilder {
        SignalListenerBuilder::new()
    }
}

impl Default for SignalListenerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SignalListenerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalListenerBuilder")
            .field("targets", &self.targets)
            .field("custom_force_exit_hook", &self.hook.is_some())
            .field("debounce", &self.debounce)
            .finish()
    }
}
