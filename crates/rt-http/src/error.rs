//! [`HttpError`]: everything that can stop [`serve`](crate::serve) from starting.

use rt_core::RuntimeError;

/// Why a server could not be started. Once started, a server does not fail: connection and
/// accept errors are logged and the server keeps serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// A [`ServeOptions`](crate::ServeOptions) value is out of range.
    #[error("invalid HTTP server option `{option}` = {value}: {allowed}")]
    InvalidOption {
        /// The option's field name in `ServeOptions`.
        option: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
    /// The listener's local address could not be read (the socket is not usable).
    #[error("cannot read the listener's local address (is the socket still open?): {source}")]
    LocalAddr {
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The endpoint could not be started: its name is taken by a live endpoint or component, or
    /// the runtime's shutdown has already started.
    #[error("cannot start the HTTP endpoint `{endpoint}`: {source}")]
    Endpoint {
        /// The endpoint's name.
        endpoint: String,
        /// The runtime's reason (boxed: it is large).
        #[source]
        source: Box<RuntimeError>,
    },
    /// [`serve_until`](crate::serve_until) was called outside a tokio runtime.
    #[error(
        "serve_until needs a tokio runtime to spawn on: call it from async code or inside \
         `Handle::enter()`"
    )]
    NoRuntime,
}
