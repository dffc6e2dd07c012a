//! [`SignalError`]: the one error type of this crate.

use crate::kind::SignalKind;

/// Why signal handling (or a service-manager notification) could not be set up.
///
/// None of these errors starts a shutdown, and the caller decides what to do (usually: report
/// the error and exit non-zero). A listener that could not be installed is not running; note
/// that on Unix a handler that was installed before another one failed (SIGINT before SIGTERM)
/// stays registered with tokio for the life of the process, so that signal is then ignored
/// rather than ending the process: do not keep running without a listener.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// `install` was called on a thread that is not inside a tokio runtime.
    #[error(
        "no tokio runtime is running on this thread: call `SignalListenerBuilder::install` from \
         inside a tokio runtime (e.g. in an async fn under `#[tokio::main]`), or pass a runtime \
         handle to `SignalListenerBuilder::install_on`"
    )]
    NoRuntime,
    /// The runtime was built without its I/O driver, which delivers signals to tokio.
    #[error(
        "the tokio runtime has its I/O driver disabled, and signals are delivered through it: \
         build the runtime with `enable_io()` or `enable_all()`"
    )]
    IoDisabled,
    /// The operating system refused to install the handler for one signal.
    #[error("could not install the {signal} handler: {source}")]
    Install {
        /// The signal whose handler could not be installed.
        signal: SignalKind,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// This platform has neither Unix signals nor a Ctrl+C console event that tokio can observe.
    #[error(
        "signal handling is not supported on this platform: only Unix signals and the Windows \
         Ctrl+C event are; request shutdowns through the coordinator or a token instead"
    )]
    Unsupported,
    /// A notification to the service manager (systemd) could not be sent.
    #[cfg(feature = "systemd")]
    #[error(
        "could not send `{state}` to the service manager through the socket named by \
         NOTIFY_SOCKET: {source}; check that NOTIFY_SOCKET names the socket systemd gave this \
         service, or unset it when not running under systemd"
    )]
    Notify {
        /// The state that was being sent, e.g. `READY=1`.
        state: &'static str,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
}
