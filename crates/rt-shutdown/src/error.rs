//! The crate's error type.

/// What can go wrong in the shutdown layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// A new endpoint or top-level task tried to register after shutdown began.
    #[error(
        "cannot register {what}: graceful shutdown has begun and the tracker accepts no new \
         top-level work; do not start it, or track sub-work of a request in flight with \
         `GracefulTaskGuard::child`"
    )]
    Closed {
        /// What was refused: `endpoint` or `task "<name>"`.
        what: String,
    },
    /// `unregister_endpoint` was called with no endpoint registered.
    #[error(
        "unregister_endpoint called while no endpoint is registered (the count stays at 0): \
         call it exactly once per successful register_endpoint, or use register_task, whose \
         guard cannot be released twice"
    )]
    NotRegistered,
    /// A teardown task was added after phase 3 had already taken the list of teardown tasks.
    #[error(
        "teardown task \"{name}\" was added after phase 3 of the shutdown started and will not \
         run; add teardown tasks while the service starts, before shutdown begins"
    )]
    TeardownTooLate {
        /// The name the teardown task was given.
        name: String,
    },
    /// A drain step was added after phase 1 of the shutdown had already started the drain
    /// steps.
    #[error(
        "drain step \"{name}\" was added after phase 1 of the shutdown started and will not \
         run; add drain steps while the service starts, before shutdown begins"
    )]
    DrainStepTooLate {
        /// The name the drain step was given.
        name: String,
    },
    /// No tokio runtime was available to drive the shutdown phases and a dedicated thread for
    /// them could not be started.
    #[error(
        "could not start a thread to drive the shutdown phases ({source}); call shutdown() from \
         inside a tokio runtime or give one with ShutdownOptions::with_handle"
    )]
    DriverThread {
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}
