//! [`DemoError`]: everything that can go wrong in the demo service, its client and its driver.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// The crate's error type.
///
/// The client's errors are classified so that a load driver can tell a **refusal** (the
/// service did not take the request: [`Connect`](Self::Connect) with
/// `ConnectionRefused`, or [`NoResponse`](Self::NoResponse)) from a failure after the service
/// had started answering ([`Io`](Self::Io), [`MalformedResponse`](Self::MalformedResponse)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The TCP connection could not be made (refused: nothing listens on the port).
    #[error("cannot connect to {addr}: {source}; is the service running and listening there?")]
    Connect {
        /// Where to.
        addr: SocketAddr,
        /// The OS error (`ConnectionRefused` once the listener is closed).
        source: io::Error,
    },
    /// The connection was closed or reset before a single byte of a response arrived. The
    /// request was never answered; with one request per connection this happens when the
    /// listener closed while the connection waited in the kernel's accept queue.
    #[error("{addr} closed the connection before answering{}", .source.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    NoResponse {
        /// The peer.
        addr: SocketAddr,
        /// The OS error, if it was a reset rather than a clean close.
        source: Option<io::Error>,
    },
    /// No complete answer within the client's timeout.
    #[error(
        "{addr} did not answer within {after:?}; raise the timeout or check the service's log"
    )]
    Timeout {
        /// The peer.
        addr: SocketAddr,
        /// The timeout that passed.
        after: Duration,
    },
    /// An I/O error after part of the response had arrived.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// The peer's answer is not the HTTP/1.1 or JSON this crate speaks.
    #[error("malformed response: {detail}")]
    MalformedResponse {
        /// What was wrong.
        detail: String,
    },
    /// The service's program could not be started.
    #[error(
        "cannot start {program}: {source}; build it first (`cargo build --release -p rt-demo`)"
    )]
    Spawn {
        /// The program's path.
        program: String,
        /// The OS error.
        source: io::Error,
    },
    /// The service exited before printing what was waited for.
    #[error("the service exited ({status}) before printing {waited_for}; its output:\n{output}")]
    ServiceExited {
        /// Its exit status, in words.
        status: String,
        /// The line that was waited for.
        waited_for: String,
        /// What it printed.
        output: String,
    },
    /// A bounded wait ran out.
    #[error("timed out after {after:?} waiting for {what}")]
    WaitTimeout {
        /// What was waited for.
        what: String,
        /// How long.
        after: Duration,
    },
    /// A signal could not be sent.
    #[error("cannot send {signal} to process {pid}: {source}")]
    Signal {
        /// The signal's name.
        signal: String,
        /// The target.
        pid: i32,
        /// The OS error.
        source: nix::Error,
    },
    /// The service's HTTP listener could not be bound.
    #[error("cannot listen on {addr}: {source}; pick another DYN_HTTP_HOST / DYN_HTTP_PORT (0 = any free port)")]
    Bind {
        /// The address from the configuration.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// The runtime refused something (an endpoint could not start, or it failed).
    #[error(transparent)]
    Runtime(#[from] rt_core::RuntimeError),
    /// The status server could not start.
    #[error(transparent)]
    Status(#[from] rt_status::StatusError),
    /// A command-line argument is wrong.
    #[error("{0}")]
    Usage(String),
}

impl DemoError {
    /// Whether this client error means the service **did not take** the request: the
    /// connection was refused, or it was closed before any byte of an answer.
    ///
    /// ```
    /// use std::io;
    /// use rt_demo::DemoError;
    ///
    /// let addr = "127.0.0.1:9".parse().unwrap();
    /// let refused = DemoError::Connect { addr, source: io::ErrorKind::ConnectionRefused.into() };
    /// assert!(refused.is_refusal());
    /// assert!(DemoError::NoResponse { addr, source: None }.is_refusal());
    /// assert!(!DemoError::Timeout { addr, after: std::time::Duration::from_secs(1) }.is_refusal());
    /// ```
    pub fn is_refusal(&self) -> bool {
        match self {
            DemoError::Connect { source, .. } => source.kind() == io::ErrorKind::ConnectionRefused,
            DemoError::NoResponse { .. } => true,
            _ => false,
        }
    }
}
