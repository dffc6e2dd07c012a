//! [`Worker`]: runs an application under the runtime, the signals and one shutdown deadline.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rt_config::RuntimeConfig;
use rt_shutdown::ShutdownPhase;
use rt_signals::{ForcedExit, SignalListener};
use tokio::runtime::Handle;
use tokio::time::Instant;

use crate::error::{BoxError, RuntimeError};
use crate::logging;
use crate::outcome::WorkerOutcome;
use crate::runtime::Runtime;
use crate::slot::ProcessSlot;
use crate::unwind::panic_message;

/// The least time the owned runtimes get to let their idle threads exit when
/// [`Worker::execute`] drops them, even when the budget is spent: enough for an idle thread to
/// notice the shutdown, so that only threads busy in blocking work count as abandoned.
const THREAD_EXIT_GRACE: Duration = Duration::from_millis(100);

type Hook = Arc<dyn Fn(ForcedExit) + Send + Sync + 'static>;

/// Runs one application under a [`Runtime`]: installs the signal handlers, runs the app on the
/// primary runtime, and shuts down under one deadline.
///
/// The application is an async closure `FnOnce(Runtime) -> impl Future<Output = Result<(), E>>`
/// where `E: Into<BoxError>`: any `std::error::Error + Send + Sync`, `String`, `&str`, or
/// `anyhow::Error` works.
///
/// # Logging
///
/// Every constructor sets up logging from the configuration first ([`logging::init`]: the
/// `log_filter` and `logging_*` keys), unless the application installed its own `tracing`
/// subscriber before, which it keeps.
///
/// # What a run does
///
/// 1. Installs the [signal listener](crate::signals::SignalListener) on the secondary runtime:
///    the **first** SIGINT/SIGTERM starts the runtime's shutdown (phase 1: endpoints stop
///    accepting; the main token is *not* cancelled), a **second** one calls the force-exit
///    hook (default: exit with 130 at once).
/// 2. Registers the application in the tracker as [`APP_TASK_NAME`](Self::APP_TASK_NAME) and spawns it on the
///    primary runtime with a clone of the runtime.
/// 3. When the shutdown starts (signal, or [`Runtime::shutdown`] from anywhere) or the
///    application returns on its own, the **one deadline** `worker_graceful_shutdown_timeout`
///    (`DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT`) starts: one instant, from which every remaining
///    wait is measured. Within it the application drains and returns, phase 2 waits for the
///    endpoints and the application, phase 3 tears down: each stage takes the smaller of its
///    own cap and what is left. A shutdown already started (by the signal) is waited for, not
///    requested again; one the application did not start (it returned on its own) is started.
/// 4. [`execute`](Self::execute) only: drops the owned runtime within what is left of the same
///    deadline (at least 100 ms, for idle threads to exit). Blocking work still running then
///    (a `spawn_blocking` task left behind) is abandoned, and a clean run becomes
///    [`WorkerOutcome::DeadlineExceeded`] naming it: the process is done within its budget, or
///    exits 70 saying why.
/// 5. Returns a [`WorkerOutcome`]. The library never exits the process itself, except through
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
    _slot: ProcessSlot,
}

impl Worker {
    /// The name under which the application is registered in the tracker while it runs, so
    /// that phase 2 waits for it and the report names it if it is still running at the
    /// deadline.
    pub const APP_TASK_NAME: &'static str = "worker app";

    /// A worker with an owned runtime from [`RuntimeConfig::from_settings`]: logging is set
    /// up from the configuration ([`logging::init`]), then the runtime is built
    /// ([`Runtime::from_config`]).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WorkerAlreadyActive`]; [`RuntimeError::Config`] when the settings do not
    /// load or the log filter does not parse; those of [`Runtime::from_config`].
    pub fn from_settings() -> Result<Self, RuntimeError> {
        Self::with_slot(|| {
            let config = RuntimeConfig::from_settings()?;
            logging::init(&config)?;
            Runtime::from_config(config)
        })
    }

    /// A worker with an owned runtime from [`Runtime::from_config`], logging set up first
    /// ([`logging::init`]).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WorkerAlreadyActive`]; those of [`logging::init`] and
    /// [`Runtime::from_config`].
    pub fn from_config(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        Self::with_slot(|| {
            logging::init(&config)?;
            Runtime::from_config(config)
        })
    }

    /// A worker on the calling thread's tokio runtime ([`Runtime::from_current`]), logging set
    /// up first ([`logging::init`]); run it with [`execute_async`](Self::execute_async).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WorkerAlreadyActive`]; those of [`logging::init`] and
    /// [`Runtime::from_current`].
    pub fn from_current() -> Result<Self, RuntimeError> {
        Self::with_slot(|| {
            let handle = Handle::try_current().map_err(|_| RuntimeError::NoCurrentRuntime)?;
            let config = RuntimeConfig::from_settings()?;
            logging::init(&config)?;
            Runtime::from_handle_with_config(handle, config)
        })
    }

    /// A worker on an existing [`Runtime`] (for example one wrapped with
    /// [`Runtime::from_handle_with_config`]); logging is set up from its configuration
    /// ([`logging::init`]) unless a subscriber is installed already.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WorkerAlreadyActive`]; those of [`logging::init`].
    pub fn from_runtime(runtime: Runtime) -> Result<Self, RuntimeError> {
        Self::with_slot(|| {
            logging::init(runtime.config())?;
            Ok(runtime)
        })
    }

    /// Claims the process's worker slot, then builds the runtime; on an error the slot is
    /// dropped (freed) with it.
    fn with_slot(
        build: impl FnOnce() -> Result<Runtime, RuntimeError>,
    ) -> Result<Self, RuntimeError> {
        let slot = ProcessSlot::claim()?;
        Ok(Worker {
            runtime: build()?,
            hook: None,
            _slot: slot,
        })
    }

    /// The worker's runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Replaces what a second signal does (default: end the process with 130 at once). A hook
    /// that returns (or panics) makes the run end with [`WorkerOutcome::Forced`] instead, once
    /// it has returned (through [`SignalListener::forced`]); use it to flush something first,
    /// or in tests.
    pub fn force_exit_hook<F>(mut self, hook: F) -> Self
    where
        F: Fn(ForcedExit) + Send + Sync + 'static,
    {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Runs `app` and the shutdown to the end, blocking the calling thread (the usual end of
    /// `main`), then drops the runtime within what is left of the deadline (see the
    /// [type docs](Self), step 4). Must not be called from async code: use
    /// [`execute_async`](Self::execute_async) there.
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
        // runtimes are shut down here, outside any async context, and we learn what they left.
        let runtime = self.runtime.clone();
        let ended = runtime.primary().block_on(self.run(app));
        let ended = match ended {
            Ok(ended) => ended,
            Err(error) => {
                drop(runtime);
                return Err(error);
            }
        };
        let bound = match ended.outcome {
            // The user asked to get out: do not wait for blocking work on the way out.
            WorkerOutcome::Forced { .. } => Duration::ZERO,
            _ => ended
                .deadline
                .saturating_duration_since(Instant::now())
                .max(THREAD_EXIT_GRACE),
        };
        let left = runtime.shut_down_within(bound);
        let outcome = match left {
            Some(threads) => ended.outcome.with_blocking_abandoned(threads),
            None => ended.outcome,
        };
        outcome.log();
        Ok(outcome)
    }

    /// Runs `app` and the shutdown to the end (see the [type docs](Self)); the runtime is not
    /// dropped here (it may be the caller's), so step 4 does not apply.
    ///
    /// # Cancel safety
    ///
    /// This method is **not** cancel safe: dropping the future leaves the application and the
    /// shutdown running without a deadline watcher and without the signal listener.
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
        let outcome = self.run(app).await?.outcome;
        outcome.log();
        Ok(outcome)
    }

    /// The run shared by [`execute`](Self::execute) and [`execute_async`](Self::execute_async):
    /// the outcome, unlogged, and the deadline it ran under.
    async fn run<F, Fut, E>(self, app: F) -> Result<Ended, RuntimeError>
    where
        F: FnOnce(Runtime) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let runtime = self.runtime.clone();
        let config = runtime.config().clone();
        let budget = config.worker_graceful_shutdown_timeout();

        // The first signal starts the coordinator's phase 1; a second one calls the hook
        // (default: exit 130), and if the hook returns, `listener.forced()` ends the run.
        let coordinator = runtime.shutdown_coordinator().clone();
        let mut signals = SignalListener::builder()
            .on_shutdown(move |_| coordinator.shutdown())
            .debounce(config.signal_debounce());
        if let Some(hook) = self.hook.clone() {
            signals = signals.force_exit_hook(move |forced| hook(forced));
        }
        let listener = signals.install_on(&runtime.secondary())?;

        let guard = runtime
            .graceful_shutdown_tracker()
            .register_task(Self::APP_TASK_NAME)
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

        let mut phases = runtime.shutdown_coordinator().subscribe();
        // Stage 1: serve until the app returns, the shutdown starts, or a forced exit.
        let early = tokio::select! {
            biased;
            Some(forced) = listener.forced() => {
                return Ok(finish_forced(&listener, &app_abort, forced, Instant::now()));
            }
            result = &mut app_task => Some(result),
            _ = phases.wait_for(|p| *p != ShutdownPhase::Running) => None,
        };
        // The one deadline: every wait below, the coordinator's phases 2 and 3 included, ends
        // by this instant.
        let deadline = Instant::now() + budget;
        if early.is_some() {
            tracing::info!("application returned: shutting the runtime down");
            // Nobody asked for the shutdown yet (or the app did, then it is a no-op).
            runtime.shutdown();
        } else {
            tracing::info!(deadline = ?budget, "shutdown started: draining the application");
        }

        // Stage 2: the app's drain and phases 2 and 3, all by the one deadline. The shutdown
        // is running by now (the signal, `Runtime::shutdown` or the line above started it):
        // the coordinator is handed the deadline and waited for, not asked again.
        let (app_result, report) = {
            let app = async {
                match early {
                    Some(result) => Some(result),
                    None => tokio::time::timeout_at(deadline, &mut app_task).await.ok(),
                }
            };
            let shut = runtime
                .shutdown_coordinator()
                .shutdown_and_wait_until(deadline);
            tokio::select! {
                biased;
                Some(forced) = listener.forced() => {
                    return Ok(finish_forced(&listener, &app_abort, forced, deadline));
                }
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
                    blocking_abandoned: 0,
                }
            }
            Some(Ok(Ok(()))) if report.deadline_hit => WorkerOutcome::DeadlineExceeded {
                report,
                app_still_running: false,
                blocking_abandoned: 0,
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
        Ok(Ended { outcome, deadline })
    }
}

/// How a run ended, before the runtime is dropped.
struct Ended {
    outcome: WorkerOutcome,
    /// The one deadline of the run (for a forced exit before the shutdown: when it came).
    deadline: Instant,
}

fn finish_forced(
    listener: &SignalListener,
    app_task: &tokio::task::AbortHandle,
    forced: ForcedExit,
    deadline: Instant,
) -> Ended {
    listener.stop();
    app_task.abort();
    Ended {
        outcome: WorkerOutcome::Forced { forced },
        deadline,
    }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("runtime", &self.runtime)
            .field("custom_force_exit_hook", &self.hook.is_some())
            .finish()
    }
}
