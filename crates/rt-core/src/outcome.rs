//! [`WorkerOutcome`]: how a [`Worker`](crate::Worker) run ended, and the process exit codes.

use std::fmt;
use std::process::{ExitCode, Termination};

use rt_shutdown::ShutdownReport;
use rt_signals::{ForcedExit, EXIT_CODE_FORCED};

use crate::error::BoxError;

/// Exit code of a clean run: the application returned `Ok` and the shutdown finished within
/// its deadline.
pub const EXIT_CODE_CLEAN: i32 = 0;
/// Exit code when the application returned an error or panicked.
pub const EXIT_CODE_APP_ERROR: i32 = 1;
/// Exit code when the graceful deadline passed before the application, the shutdown and the
/// runtime's blocking work were done (`EX_SOFTWARE` from `sysexits.h`).
pub const EXIT_CODE_SHUTDOWN_TIMEOUT: i32 = 70;

/// How a [`Worker`](crate::Worker) run ended. Turn it into the process's exit code with
/// [`exit_code`](Self::exit_code), by returning it from `main` (it implements
/// [`Termination`]), or with [`exit`](Self::exit).
///
/// When several things went wrong, the outcome names the first in this order: a forced exit,
/// an application error, the deadline. The [`ShutdownReport`] is there whenever the shutdown
/// ran to its end (always, except after a forced exit).
///
/// The variants are `#[non_exhaustive]`: match them with `{ .. }`.
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkerOutcome {
    /// The application returned `Ok(())`, the shutdown finished within the deadline and no
    /// blocking work was left running when the runtime was dropped.
    #[non_exhaustive]
    Clean {
        /// What the shutdown did.
        report: ShutdownReport,
    },
    /// The application returned an error or panicked.
    #[non_exhaustive]
    AppError {
        /// The application's error (a panic becomes an error naming its message).
        error: BoxError,
        /// What the shutdown did.
        report: ShutdownReport,
    },
    /// The worker's graceful deadline passed before the application returned, the shutdown's
    /// drain was cut short (see the report's `still_active`), or blocking work was still
    /// running when the budget ran out and was abandoned.
    #[non_exhaustive]
    DeadlineExceeded {
        /// What the shutdown did; `still_active` names what was still running.
        report: ShutdownReport,
        /// Whether the application itself was still running at the deadline (it was then
        /// aborted).
        app_still_running: bool,
        /// How many of the runtime's threads were still busy (blocking work: `spawn_blocking`
        /// tasks, or a worker thread stuck in a blocking call) when the budget ran out and the
        /// owned runtime was dropped without them; 0 when none was abandoned. Only
        /// [`Worker::execute`](crate::Worker::execute) can see this: it drops the runtime.
        blocking_abandoned: usize,
    },
    /// A second signal arrived during the shutdown and the force-exit hook returned (the
    /// default hook ends the process with 130 before this is ever built).
    #[non_exhaustive]
    Forced {
        /// The two signals.
        forced: ForcedExit,
    },
}

impl WorkerOutcome {
    /// The process exit code: 0 ([`EXIT_CODE_CLEAN`]) clean, 1 ([`EXIT_CODE_APP_ERROR`])
    /// application error, 70 ([`EXIT_CODE_SHUTDOWN_TIMEOUT`]) deadline passed, 130
    /// ([`EXIT_CODE_FORCED`](crate::EXIT_CODE_FORCED)) forced.
    pub fn exit_code(&self) -> i32 {
        match self {
            WorkerOutcome::Clean { .. } => EXIT_CODE_CLEAN,
            WorkerOutcome::AppError { .. } => EXIT_CODE_APP_ERROR,
            WorkerOutcome::DeadlineExceeded { .. } => EXIT_CODE_SHUTDOWN_TIMEOUT,
            WorkerOutcome::Forced { .. } => EXIT_CODE_FORCED,
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

    /// A clean outcome becomes [`DeadlineExceeded`](Self::DeadlineExceeded) when `threads`
    /// threads of blocking work had to be abandoned at the end of the budget; a deadline
    /// outcome records them. An application error and a forced exit keep their precedence
    /// (the abandonment is logged).
    pub(crate) fn with_blocking_abandoned(self, threads: usize) -> Self {
        if threads == 0 {
            return self;
        }
        match self {
            WorkerOutcome::Clean { report } => WorkerOutcome::DeadlineExceeded {
                report,
                app_still_running: false,
                blocking_abandoned: threads,
            },
            WorkerOutcome::DeadlineExceeded {
                report,
                app_still_running,
                blocking_abandoned,
            } => WorkerOutcome::DeadlineExceeded {
                report,
                app_still_running,
                blocking_abandoned: blocking_abandoned.max(threads),
            },
            other => {
                tracing::warn!(
                    threads,
                    "blocking work was still running when the worker's budget ran out: abandoned"
                );
                other
            }
        }
    }

    pub(crate) fn log(&self) {
        match self {
            WorkerOutcome::Clean { report } => tracing::info!(%report, "worker finished cleanly"),
            WorkerOutcome::AppError { error, report } => {
                tracing::error!(%error, %report, "worker finished: the application failed")
            }
            WorkerOutcome::DeadlineExceeded {
                report,
                app_still_running,
                blocking_abandoned,
            } => {
                tracing::error!(%report, app_still_running, blocking_abandoned, "worker finished: the graceful deadline passed")
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
            WorkerOutcome::Clean { report } => {
                write!(f, "clean (exit {EXIT_CODE_CLEAN}): {report}")
            }
            WorkerOutcome::AppError { error, report } => {
                write!(
                    f,
                    "application error (exit {EXIT_CODE_APP_ERROR}): {error}; {report}"
                )
            }
            WorkerOutcome::DeadlineExceeded {
                report,
                app_still_running,
                blocking_abandoned,
            } => {
                write!(
                    f,
                    "graceful deadline passed (exit {EXIT_CODE_SHUTDOWN_TIMEOUT})"
                )?;
                if *app_still_running {
                    f.write_str(", application still running")?;
                }
                match blocking_abandoned {
                    0 => {}
                    1 => f.write_str(", blocking work abandoned (1 thread still running)")?,
                    n => write!(f, ", blocking work abandoned ({n} threads still running)")?,
                }
                write!(f, ": {report}")
            }
            WorkerOutcome::Forced { forced } => write!(
                f,
                "forced by {} during the shutdown started by {} (exit {EXIT_CODE_FORCED})",
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
