//! [`RuntimeError`]: the crate's one error type, with [`NotAcceptingReason`] and [`BoxError`].

use std::fmt;

use crate::component::{ComponentKind, ComponentState};

/// A boxed error, the error type an application hands back to a [`Worker`](crate::Worker).
///
/// Anything that converts into it works as the application's error: every
/// `std::error::Error + Send + Sync + 'static`, `String`, `&'static str`, and `anyhow::Error`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in this crate. Every message says what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The configuration did not load or validate; the message names the key, the value and
    /// where it came from. Boxed, so that `Result<T, RuntimeError>` stays small.
    #[error(transparent)]
    Config(Box<rt_config::ConfigError>),
    /// The operating system refused to start a tokio runtime's threads.
    #[error(
        "could not build the {which} tokio runtime: {source}; lower num_worker_threads or \
         max_blocking_threads, or raise the process's thread limit (ulimit -u)"
    )]
    RuntimeBuild {
        /// `"primary"` or `"secondary"`.
        which: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A constructor that wraps the current tokio runtime was called outside one.
    #[error(
        "no tokio runtime is running on this thread: call Runtime::from_current / \
         Worker::from_current inside a tokio runtime, or build one with Runtime::from_settings"
    )]
    NoCurrentRuntime,
    /// A CPU job failed: it panicked (the pool keeps working) or was discarded. Boxed, so that
    /// `Result<T, RuntimeError>` stays small.
    #[error(transparent)]
    Compute(Box<rt_compute::ComputeError>),
    /// The shutdown layer refused something.
    #[error(transparent)]
    Shutdown(#[from] rt_shutdown::ShutdownError),
    /// The signal handlers could not be installed.
    #[error(transparent)]
    Signals(#[from] rt_signals::SignalError),
    /// Something that must start before the shutdown was attempted after it began.
    #[error(
        "{what} is refused: the runtime's shutdown has already started; start endpoints and \
         the application before calling shutdown()"
    )]
    ShuttingDown {
        /// What was refused.
        what: String,
    },
    /// A drain or a resume was asked for once the shutdown had started.
    #[error(
        "{action} is refused: the runtime's shutdown has already started and the process is \
         leaving for good; drain and resume apply only to a process that is not shutting down"
    )]
    DrainDuringShutdown {
        /// `"drain"` or `"resume"`.
        action: &'static str,
    },
    /// A request arrived at an endpoint that no longer accepts requests.
    #[error("endpoint `{endpoint}` does not accept new requests: {reason}")]
    NotAccepting {
        /// The endpoint's name.
        endpoint: String,
        /// Why.
        reason: NotAcceptingReason,
    },
    /// An endpoint's future returned an error or panicked.
    #[error("endpoint `{name}` failed: {error}")]
    EndpointFailed {
        /// The endpoint's name.
        name: String,
        /// Its error or panic message.
        error: String,
    },
    /// Not every worker thread could be given the compute context.
    #[error("installed the compute context on {reached} of {workers} worker threads: {reason}")]
    ThreadLocalInit {
        /// Worker threads reached.
        reached: usize,
        /// Worker threads of the runtime.
        workers: usize,
        /// What stopped the rest.
        reason: String,
    },
    /// A second [`Worker`](crate::Worker) was created while one exists.
    #[error(
        "a Worker already exists in this process: signal handling and the exit code are \
         process-wide, so create one Worker and share its Runtime (drop the first before \
         creating another)"
    )]
    WorkerAlreadyActive,
    /// [`Worker::execute`](crate::Worker::execute) was called from async code.
    #[error(
        "Worker::execute blocks the thread and cannot run inside a tokio runtime: use \
         `worker.execute_async(app).await` there"
    )]
    ExecuteInAsyncContext,
    /// A component or endpoint name is already held by a live entry of the registry.
    #[error(
        "a {kind} named `{name}` is already registered (state: {state}); use a unique name, \
         or stop the first one before registering the name again"
    )]
    DuplicateName {
        /// The name.
        name: String,
        /// What holds it.
        kind: ComponentKind,
        /// The state of the entry that holds it.
        state: ComponentState,
    },
    /// A registry entry was asked to move backwards or out of a final state.
    #[error(
        "component `{name}` cannot move from {from} to {to}: states only move forward \
         (registered, initialised, running, draining, then stopped or failed)"
    )]
    InvalidTransition {
        /// The entry's name.
        name: String,
        /// Its state.
        from: ComponentState,
        /// The refused target state.
        to: ComponentState,
    },
    /// A metric name is already registered on the runtime's
    /// [`MetricsRegistry`](crate::metrics::MetricsRegistry).
    #[error(
        "a metric named `{name}` is already registered on this runtime: register each metric \
         once and keep a clone of it to update it, or pick another name"
    )]
    MetricAlreadyRegistered {
        /// The family name (with its unit suffix).
        name: String,
    },
    /// A metric or label name the OpenMetrics format does not allow, or one the runtime keeps
    /// for itself.
    #[error("`{name}` cannot be used as a metric name: {reason}")]
    InvalidMetricName {
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The metrics could not be written as OpenMetrics text.
    #[error(
        "the metrics could not be encoded as OpenMetrics text: a help text or label value \
         that the format cannot carry (check the names given to register)"
    )]
    MetricsEncoding,
}

impl From<rt_config::ConfigError> for RuntimeError {
    fn from(error: rt_config::ConfigError) -> Self {
        RuntimeError::Config(Box::new(error))
    }
}

impl From<rt_compute::ComputeError> for RuntimeError {
    fn from(error: rt_compute::ComputeError) -> Self {
        RuntimeError::Compute(Box::new(error))
    }
}

/// Why [`EndpointContext::begin_request`](crate::EndpointContext::begin_request) refused a
/// request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotAcceptingReason {
    /// The runtime's shutdown has started (phase 1): no endpoint accepts new requests.
    ShutdownStarted,
    /// This endpoint was stopped ([`EndpointHandle::stop`](crate::EndpointHandle::stop)) or its
    /// future has returned.
    EndpointStopped,
    /// The process is drained or draining: taken out of rotation, alive, until a resume
    /// ([`DrainControl`](crate::drain::DrainControl)).
    Drained,
}

impl fmt::Display for NotAcceptingReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotAcceptingReason::ShutdownStarted => {
                "the process is shutting down (phase 1 started); send the request to another instance"
            }
            NotAcceptingReason::EndpointStopped => {
                "the endpoint has stopped; start it again or send the request elsewhere"
            }
            NotAcceptingReason::Drained => {
                "the process is drained (out of rotation until resumed); send the request to another instance"
            }
        })
    }
}
