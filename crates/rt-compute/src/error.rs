//! The crate's one error type.

/// Everything that can go wrong when building or using a [`ComputePool`](crate::ComputePool).
///
/// Every message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ComputeError {
    /// A field of [`ComputeConfig`](crate::ComputeConfig) has a value the pool cannot use.
    #[error("invalid compute config: `{field}` {reason}")]
    InvalidConfig {
        /// The offending field of `ComputeConfig`.
        field: &'static str,
        /// Why the value is refused and what to use instead.
        reason: String,
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
    /// The job was discarded without producing a result (the pool's threads went away).
    #[error("compute job was discarded before it produced a result; keep the pool alive until its jobs finish")]
    Discarded,
}

/// The message of a panic payload (a `&str` or `String` given to `panic!`), as
/// [`ComputeError::Panicked`] reports it; other payloads read `<non-string panic payload>`.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("bad row {}", 7)).unwrap_err();
/// assert_eq!(rt_compute::panic_message(payload.as_ref()), "bad row 7");
/// ```
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
