//! The crate's one error type.

use crate::unwind::{panic_message, Payload};

/// Everything that can go wrong when building or using a [`ComputePool`](crate::ComputePool).
///
/// Every message says what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ComputeError {
    /// The [`ComputeConfig`](crate::ComputeConfig) given to
    /// [`ComputePool::new`](crate::ComputePool::new) does not pass
    /// [`ComputeConfig::validate`](crate::ComputeConfig::validate); `source` names the field
    /// (`source.key()`), the value and what is allowed.
    #[error("invalid compute pool config: {source}")]
    InvalidConfig {
        /// rt-config's verdict, the same error every other entry point reports for this value.
        #[source]
        source: rt_config::ConfigError,
    },
    /// The operating system refused to start the pool's threads.
    #[error(
        "could not start the compute pool's threads: {message}; \
         lower `num_threads` or `stack_size`, or raise the process's thread limit"
    )]
    ThreadStart {
        /// What the OS (through Rayon) reported.
        message: String,
    },
    /// An argument of a pool method has a value it cannot work with.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// What is wrong and what to pass instead.
        reason: String,
    },
    /// The job panicked. The pool and all its threads keep working.
    #[error("compute job panicked: {message}")]
    Panicked {
        /// The panic message (`"<non-string panic payload>"` when it was not a string).
        message: String,
    },
    /// The job was discarded without producing a result (the pool's threads went away, or the
    /// tokio runtime that was to run it shut down).
    #[error("compute job was discarded before it produced a result; keep the pool (or the runtime) alive until its jobs finish")]
    Discarded,
}

impl ComputeError {
    /// The error of a job that panicked with `payload`.
    pub(crate) fn panicked(payload: &Payload) -> Self {
        ComputeError::Panicked {
            message: panic_message(payload.as_ref()),
        }
    }
}
