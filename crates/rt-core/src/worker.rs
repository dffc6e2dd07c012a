//! [`Worker`]: runs an application under the runtime, the signals and one shutdown deadline,
//! and turns the outcome into a process exit code.

use std::fmt;
use std::future::Future;
use std::process::{ExitCode, Termination};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rt_config::RuntimeConfig;
use rt_shutdown::{ShutdownPhase, ShutdownReport};
use rt_signals::{ForcedExit, SignalListener, EXIT_CODE_FORCED};
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::{panic_message, BoxError, RuntimeError};
use crate::Runtime;

/// Exit code of a clean run: the application returned `Ok` and the shutdown finished within
/// its deadline.
pub const EXIT_CODE_CLEAN: i32 = 0;
/// Exit code when the application returned an error or panicked.
pub const EXIT_CODE_APP_ERROR: i32 = 1;
/// Exit code when the graceful deadline passed before the application and the shutdown were
/// done (`EX_SOFTWARE` from `sysexits.h`).
pub const EXIT_CODE_SHUTDOWN_TIMEOUT: i32 = 70;
/// Exit code when a second signal forced the exit: 130 (128 + `SIGINT`), whichever signal came
/// second. The same as [`signals::EXIT_CODE_FORCED`](crate::signals::EXIT_CODE_FORCED).
pub const EXIT_CODE_FORCED_EXIT: i32 = EXIT_CODE_FORCED;

/// The name under which the application is registered in the tracker while it runs, so that
/// phase 2 waits for it and the report names it if it is still running at the deadline.
pub const APP_TASK_NAME: &str = "worker app";

/// Set while a [`Worker`] exists: one per process.
static WORKER_ACTIVE: AtomicBool = AtomicBool::new(false);

/// How a [`Worker`] run ended. Turn it into the process's exit code with
/// [`exit_code`](Self::exit_code), by returning it from `main` (it implements
/// [`Termination`]), or with [`exit`](Self::exit).
///
/// When several things went wrong, the outcome names the first in this order: a forced exit,
/// an application error, the deadline. The [`ShutdownReport`] is there whenever the shutdown
/// ran to its end (always, except after a forced exit).
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkerOutcome {
    /// The application returned `Ok(())` and the shutdown finished within the deadline.
    Clean {
        /// What the shutdown did.
        report: ShutdownReport,
    },
    /// The application returned an error or panicked.
    AppError {
        /// The application's error (a panic becomes an error naming its message).
        error: BoxError,
        /// What the shutdown did.
        report: ShutdownReport,
    },
    /// The worker's graceful deadline passed before the application returned, or the
    /// shutdown's drain was cut short (see the report's `still_active`).
    DeadlineExceeded {
        /// What the shutdown did; `still_active` names what was still running.
        report: ShutdownReport,
        /// Whether the application itself was still running at the deadline (it was then
        /// aborted).
        app_still_running: bool,
    },
    /// A second signal arrived during the shutdown and the force-exit hook returned (the
    /// default hook ends the process with 130 before this is ever built).
    Forced {
        /// The two signals.
        forced: ForcedExit,
    },
}

impl WorkerOutcome {
    /// The process exit code: 0 clean, 1 application error, 70
    /// ([`EXIT_CODE_SHUTDOWN_TIMEOUT`]) deadline passed, 130 forced.
    pub fn exit_code(&self) -> i32 {
        match self {
            WorkerOutcome::Clean { .. } => EXIT_CODE_CLEAN,
            WorkerOutcome::AppError { .. } => EXIT_CODE_APP_ERROR,
            WorkerOutcome::DeadlineExceeded { .. } => EXIT_CODE_SHUTDOWN_TIMEOUT,
            WorkerOutcome::Forced { .. } => EXIT_CODE_FORCED_EXIT,
        }
    }

    /// Whether the run was clean.
    pub fn is_clean(&self) -> bool {
        matches!(self, WorkerOutcome::Clean { .. })
    }

    /// The shutdown's report, when the shutdown ran to its end.
    pub fn shutdown_report(&self) -> Option<&ShutdownReport> {
        match self {
            WorkerOutcome::Clean { report }
            | WorkerOutcome::AppError { report, .. }
            | WorkerOutcome::DeadlineExceeded { report, .. } => Some(report),
            WorkerOutcome::Forced { .. } => None,
        }
    }

    /// The application's error, for [`AppError`](Self::AppError).
    pub fn app_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            WorkerOutcome::AppError { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }

    /// Logs the outcome and ends the process with [`exit_code`](Self::exit_code). Meant for
    /// the end of `main`; like [`std::process::exit`] it runs no destructors of the caller's
    /// stack, so drop what must be dropped first. Returning the outcome from `main` (see
    /// [`Termination`]) is the alternative that does run them.
    pub fn exit(self) -> ! {
        self.log();
        std::process::exit(self.exit_code())
    }

    fn log(&self) {
        match self {
            WorkerOutcome::Clean { report } => tracing::info!(%report, "worker finished cleanly"),
            WorkerOutcome::AppError { error, report } => {
                tracing::error!(%error, %report, "worker finished: the application failed")
            }
            WorkerOutcome::DeadlineExceeded {
                report,
                app_still_running,
            } => {
                tracing::error!(%report, app_still_running, "worker finished: the graceful deadline passed")
            }
            WorkerOutcome::Forced { forced } => {
                tracing::warn!(first = %forced.first, second = %forced.second, "worker finished: exit forced by a second signal")
            }
        }
    }
}

impl fmt::Display for WorkerOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerOutcome::Clean { report } => write!(f, "clean (exit 0): {report}"),
            WorkerOutcome::AppError { error, report } => {
                write!(f, "application error (exit 1): {error}; {report}")
            }
            WorkerOutcome::DeadlineExceeded {
                report,
                app_still_running,
            } => write!(
                f,
                "graceful deadline passed (exit 70){}: {report}",
                if *app_still_running {
                    ", application still running"
                } else {
                    ""
                }
            ),
            WorkerOutcome::Forced { forced } => write!(
                f,
                "forced by {} during the shutdown started by {} (exit 130)",
                forced.second, forced.first
            ),
        }
    }
}

/// `fn main() -> WorkerOutcome` (or `-> Result<WorkerOutcome, RuntimeError>`) exits with
/// [`WorkerOutcome::exit_code`], after logging the outcome and running destructors.
impl Termination for WorkerOutcome {
    fn report(self) -> ExitCode {
        self.log();
        // Every code is in 0..=255.
        ExitCode::from(u8::try_from(self.exit_code()).unwrap_or(1))
    }
}

type Hook = Arc<dyn Fn(ForcedExit) + Send + Sync + 'static>;

/// Runs one application under a [`Runtime`]: installs the signal handlers, runs the app on the
/// primary runtime, and shuts down under one deadline.
///
/// The application is an async closure `FnOnce(Runtime) -> impl Future<Output = Result<(), E>>`
/// where `E: Into<BoxError>`: any `std::error::Error + Send + Sync`, `String`, `&str`, or
/// `anyhow::Error` works.
///
/// # What a run does
///
/// 1. Installs the [signal listener](crate::signals::SignalListener) on the secondary runtime:
///    the **first** SIGINT/SIGTERM starts the runtime's shutdown (phase 1: endpoints stop
///    accepting; the main token is *not* cancelled), a **second** one calls the force-exit
///    hook (default: exit with 130 at once).
/// 2. Registers the application in the tracker as [`APP_TASK_NAME`] and spawns it on the
///    primary runtime with a clone of the runtime.
/// 3. When the shutdown starts (signal, or [`Runtime::shutdown`] from anywhere) or the
///    application returns on its own, the **one deadline** `worker_graceful_shutdown_timeout`
///    (`DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT`) starts. Within it the application drains and
///    returns, phase 2 waits for the endpoints and the application, phase 3 tears down: each
///    stage takes the smaller of its own cap and what is left.
/// 4. Returns a [`WorkerOutcome`]. The library never exits the process itself, except through
///    the force-exit hook and [`WorkerOutcome::exit`].
///
/// # One per process
///
/// Only one `Worker` may exist at a time: signal handling and the exit code are process-wide.
/// Creating a second one while the first is alive is an error value
/// ([`RuntimeError::WorkerAlreadyActive`]); once the first is dropped (or has executed), a new
/// one may be created.
///
/// # Example
///
/// ```
/// use rt_core::{Runtime, Worker, WorkerOutcome};
/// use rt_core::config::RuntimeConfig;
///
/// let config = RuntimeConfig::builder()
///     .num_worker_threads(2)
///     .compute_threads(1)
///     .build()?;
/// let worker = Worker::from_config(config)?;
/// let outcome = worker.execute(|runtime: Runtime| async move {
///     let answer = runtime.compute(|| 6 * 7).await?;
///     assert_eq!(answer, 42);
///     // A real service serves until a signal; this one asks for the shutdown itself.
///     runtime.shutdown();
///     Ok::<(), rt_core::RuntimeError>(())
/// })?;
/// assert!(matches!(outcome, WorkerOutcome::Clean { .. }));
/// assert_eq!(outcome.exit_code(), 0);
/// println!("{}", outcome.shutdown_report().map(|r| r.to_string()).unwrap_or_default());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Worker {
    runtime: Runtime,
    hook: Option<Hook>,
    /// The process's worker slot, released when the worker is dropped.
    _slot: Slot,
}

impl Worker {
    /// A worker with an owned runtime from [`Runtime::from_settings`].
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WorkerAlreadyActive`], and those of [`Runtime::from_settings`].
    pub fn from_settings() -> Result<Self, RuntimeError> {
        Self::claim()?.with(Runtime::from_settings)
    }

    /// A worker with an owned runtime from [`Runtime::from_config`].
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WorkerAlreadyActive`], and those of [`Runtime::from_config`].
    pub fn from_config(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        Self::claim()?.with(|| Runtime::from_config(config))
    }

    /// A worker on the calling thread's tokio runtime ([`Runtime::from_current`]); run it with
    /// [`execute_async`](Self::execute_async).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WorkerAlreadyActive`], and those of [`Runtime::from_current`].
    pub fn from_current() -> Result<Self, RuntimeError> {
        Self::claim()?.with(Runtime::from_current)
    }

    /// A worker on an existing [`Runtime`] (for example one wrapped with
    /// [`Runtime::from_handle_with_config`]).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WorkerAlreadyActive`].
    pub fn from_runtime(runtime: Runtime) -> Result<Self, RuntimeError> {
        Self::claim()?.with(|| Ok(runtime))
    }

    fn claim() -> Result<Slot, RuntimeError> {
        WORKER_ACTIVE
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .map(|_| Slot)
            .map_err(|_| RuntimeError::WorkerAlreadyActive)
    }

    /// The worker's runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Replaces what a second signal does (default: end the process with 130 at once). A hook
    /// that returns makes the run end with [`WorkerOutcome::Forced`] instead; use it to flush
    /// something first, or in tests.
    pub fn force_exit_hook<F>(mut self, hook: F) -> Self
    where
        F: Fn(ForcedExit) + Send + Sync + 'static,
    {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Runs `app` and the shutdown to the end, blocking the calling thread (the usual end of
    /// `main`). Must not be called from async code: use [`execute_async`](Self::execute_async)
    /// there.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::ExecuteInAsyncContext`] from inside a tokio runtime; those of
    /// [`execute_async`](Self::execute_async). The application's own failure is not an
    /// error of this call but a [`WorkerOutcome`].
    pub fn execute<F, Fut, E>(self, app: F) -> Result<WorkerOutcome, RuntimeError>
    where
        F: FnOnce(Runtime) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        if Handle::try_current().is_ok() {
            return Err(RuntimeError::ExecuteInAsyncContext);
        }
        // Keep a clone out here: if it is the last one when the run is over, the owned tokio
        // runtimes are shut down cleanly here, outside any async context.
        let runtime = self.runtime.clone();
        let outcome = runtime.primary().block_on(self.execute_async(app));
        if let Ok(WorkerOutcome::DeadlineExceeded { .. } | WorkerOutcome::Forced { .. }) = &outcome
        {
            // The budget is spent: do not wait for stuck blocking tasks on the way out.
            runtime.set_drop_bound(Duration::ZERO);
        }
        drop(runtime);
        outcome
    }

    /// Runs `app` and the shutdown to the end (see the [type docs](Self)).
    ///
    /// Not cancel-safe: dropping the future leaves the application and the shutdown running
    /// without a deadline watcher and without the signal listener.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Signals`] when the signal handlers cannot be installed (nothing was
    /// started); [`RuntimeError::ShuttingDown`] when the runtime's shutdown had already
    /// started before the application could be registered.
    pub async fn execute_async<F, Fut, E>(self, app: F) -> Result<WorkerOutcome, RuntimeError>
    where
        F: FnOnce(Runtime) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let runtime = self.runtime.clone();
        let config = runtime.config().clone();
        let budget = config.worker_graceful_shutdown_timeout();

        // The forced exit: the hook (default: exit 130), then, if it returned, end the run.
        let forced: Arc<Forced> = Arc::default();
        let user_hook = self.hook.clone();
        let f2 = Arc::clone(&forced);
        let listener = SignalListener::builder()
            .coordinator(runtime.shutdown_coordinator().clone())
            .debounce(config.signal_debounce())
            .force_exit_hook(move |fx| {
                // Told after the hook returned (or panicked): the run ends only then.
                let _tell = TellOnDrop(&f2, fx);
                match &user_hook {
                    Some(hook) => hook(fx),
                    None => rt_signals::default_force_exit(fx),
                }
            })
            .install_on(&runtime.secondary())?;

        let guard = runtime
            .graceful_shutdown_tracker()
            .register_task(APP_TASK_NAME)
            .map_err(|_| RuntimeError::ShuttingDown {
                what: "running the worker's application".to_owned(),
            })?;
        let fut = app(runtime.clone());
        let mut app_task = runtime.primary().spawn(async move {
            let _guard = guard;
            fut.await.map_err(Into::into)
        });
        let app_abort = app_task.abort_handle();
        tracing::info!(runtime = %runtime.id(), deadline = ?budget, "worker running the application");

        let mut phases = runtime.subscribe_shutdown();
        // Stage 1: serve until the app returns, the shutdown starts, or a forced exit.
        let early = tokio::select! {
            biased;
            fx = forced.wait() => return Ok(finish_forced(&listener, &app_abort, fx)),
            result = &mut app_task => Some(result),
            _ = phases.wait_for(|p| *p != ShutdownPhase::Running) => None,
        };
        let deadline = Instant::now() + budget;
        if early.is_some() {
            tracing::info!("application returned: shutting the runtime down");
        } else {
            tracing::info!(deadline = ?budget, "shutdown started: draining the application");
        }
        runtime.shutdown();

        // Stage 2: the app's drain and phases 2 and 3, all under one deadline.
        let (app_result, report) = {
            let app = async {
                match early {
                    Some(result) => Some(result),
                    None => tokio::time::timeout_at(deadline, &mut app_task).await.ok(),
                }
            };
            let shut = runtime.shutdown_and_wait(Some(budget));
            tokio::select! {
                biased;
                fx = forced.wait() => return Ok(finish_forced(&listener, &app_abort, fx)),
                both = async { tokio::join!(app, shut) } => both,
            }
        };
        listener.stop();

        let outcome = match app_result {
            None => {
                app_task.abort();
                WorkerOutcome::DeadlineExceeded {
                    report,
                    app_still_running: true,
                }
            }
            Some(Ok(Ok(()))) if report.deadline_hit => WorkerOutcome::DeadlineExceeded {
                report,
                app_still_running: false,
            },
            Some(Ok(Ok(()))) => WorkerOutcome::Clean { report },
            Some(Ok(Err(error))) => WorkerOutcome::AppError { error, report },
            Some(Err(join)) => {
                let message = if join.is_panic() {
                    format!(
                        "the application panicked: {}",
                        panic_message(join.into_panic().as_ref())
                    )
                } else {
                    "the application's task was cancelled".to_owned()
                };
                WorkerOutcome::AppError {
                    error: message.into(),
                    report,
                }
            }
        };
        outcome.log();
        Ok(outcome)
    }
}

fn finish_forced(
    listener: &SignalListener,
    app_task: &tokio::task::AbortHandle,
    forced: ForcedExit,
) -> WorkerOutcome {
    listener.stop();
    app_task.abort();
    WorkerOutcome::Forced { forced }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("runtime", &self.runtime)
            .field("custom_force_exit_hook", &self.hook.is_some())
            .finish()
    }
}

/// The claimed worker slot: held by the [`Worker`], and freed when it is dropped (or when
/// building the runtime fails).
struct Slot;

impl Slot {
    fn with(
        self,
        build: impl FnOnce() -> Result<Runtime, RuntimeError>,
    ) -> Result<Worker, RuntimeError> {
        // On an error `self` drops here and frees the slot.
        let runtime = build()?;
        Ok(Worker {
            runtime,
            hook: None,
            _slot: self,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        WORKER_ACTIVE.store(false, Ordering::SeqCst);
    }
}

/// Sets the forced-exit notice when dropped.
struct TellOnDrop<'a>(&'a Forced, ForcedExit);

impl Drop for TellOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set(self.1);
    }
}

/// The forced-exit notice, from the hook (any thread) to the run.
#[derive(Default)]
struct Forced {
    value: Mutex<Option<ForcedExit>>,
    notify: Notify,
}

impl Forced {
    fn set(&self, fx: ForcedExit) {
        *self.value.lock().unwrap_or_else(PoisonError::into_inner) = Some(fx);
        self.notify.notify_waiters();
    }

    fn get(&self) -> Option<ForcedExit> {
        *self.value.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn wait(&self) -> ForcedExit {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(fx) = self.get() {
                return fx;
            }
            notified.await;
        }
    }
}
