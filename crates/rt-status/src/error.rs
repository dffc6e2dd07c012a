//! [`StatusError`]: the crate's one error type.

/// Everything that can stop the status server from starting. Every message says what to
/// change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// The listening socket could not be bound: the port is taken, the address is not one of
    /// this host's, or the port needs privileges.
    #[error(
        "the status server could not listen on {host}:{port}: {source}; set DYN_SYSTEM_PORT to \
         a free port (0 picks one), stop the process that holds this one, or set \
         DYN_SYSTEM_HOST to an address of this host"
    )]
    Bind {
        /// The configured host (`DYN_SYSTEM_HOST`).
        host: String,
        /// The configured port (`DYN_SYSTEM_PORT`).
        port: u16,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An option is unusable (a path that does not start with `/`, two probes on one path).
    #[error("status server option `{option}` = {value:?} is invalid: {reason}")]
    InvalidOption {
        /// The option's name (as in [`StatusOptions`](crate::StatusOptions)).
        option: &'static str,
        /// The value given.
        value: String,
        /// What is allowed instead.
        reason: &'static str,
    },
    /// The HTTP server could not be started: an option of
    /// [`StatusOptions::serve`](crate::StatusOptions::serve) is out of range.
    #[error("the status server's HTTP server could not start: {source}")]
    Serve {
        /// rt-http's reason, naming the option.
        #[source]
        source: rt_http::HttpError,
    },
    /// The metrics could not be encoded as OpenMetrics text.
    #[error(
        "the metrics could not be encoded as OpenMetrics text; check that the names given to \
         add_http_server, and the help texts and labels registered on the runtime's metrics, \
         are plain text"
    )]
    Metrics,
    /// The admin token file could not be read or holds no usable token.
    #[error(
        "the status server's admin token file {path} is unusable: {reason}; write a token of at \
         least 16 printable characters there, or unset DYN_SYSTEM_ADMIN_TOKEN_FILE"
    )]
    AdminToken {
        /// The file (`DYN_SYSTEM_ADMIN_TOKEN_FILE`).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The runtime's shutdown has reached phase 3: a server started now would never be
    /// stopped by it.
    #[error(
        "the status server cannot start: the runtime's shutdown is already in phase 3; start \
         it before calling shutdown()"
    )]
    TooLate,
}
