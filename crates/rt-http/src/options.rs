//! [`ServeOptions`]: the timeouts and limits of one server.

use std::time::Duration;

use crate::HttpError;

/// Default [`ServeOptions::header_read_timeout`]: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ServeOptions::body_read_timeout`]: 30 s.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`ServeOptions::idle_timeout`]: 60 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`ServeOptions::write_timeout`]: 30 s.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`ServeOptions::shutdown_grace`]: 5 s (as Go's `http.Server.Shutdown` gives new
/// connections).
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Default [`ServeOptions::max_connections`]: 4096.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default [`ServeOptions::max_body_bytes`]: 2 MiB (axum's default body limit).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 2 * 1024 * 1024;
/// Default [`ServeOptions::max_header_bytes`]: 64 KiB (request line and headers together).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Default [`ServeOptions::retry_after`]: 1 s.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The largest accepted [`ServeOptions::max_header_bytes`] (hyper's read buffer must hold the
/// whole head).
pub const MAX_HEADER_BYTES_LIMIT: usize = 256 * 1024;

/// Timeouts and limits of one server. `Default` gives the values in the table; they are the
/// defaults the `DYN_HTTP_*` configuration rows use.
///
/// | field | default | what |
/// |---|---|---|
/// | [`header_read_timeout`](Self::header_read_timeout) | 10 s | from accept (or the first byte of a kept-alive connection's next request) to a complete request head; then the connection is closed (408 when part of a head had arrived) |
/// | [`body_read_timeout`](Self::body_read_timeout) | 30 s | from the head to the end of the request body; then the handler's body read fails and the answer is 408, `Connection: close` |
/// | [`idle_timeout`](Self::idle_timeout) | 60 s | a kept-alive connection waiting for its next request; then it is closed |
/// | [`write_timeout`](Self::write_timeout) | 30 s | a write making no progress (the client does not read); then the connection is closed |
/// | [`shutdown_grace`](Self::shutdown_grace) | 5 s | once the drain has started, the most any client can add to it: a body still being read, a write stalled, a connection with no complete request when the listener closes |
/// | [`max_connections`](Self::max_connections) | 4096 | open connections; at the limit accepting pauses (logged once) |
/// | [`max_body_bytes`](Self::max_body_bytes) | 2 MiB | request body; more is 413 |
/// | [`max_header_bytes`](Self::max_header_bytes) | 64 KiB | request line and headers; more is 431 |
/// | [`retry_after`](Self::retry_after) | 1 s | the `Retry-After` of a 503 during the drain (whole seconds, at least 1) |
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeOptions {
    /// Time to receive a complete request head.
    pub header_read_timeout: Duration,
    /// Time to receive a complete request body, counted from its head.
    pub body_read_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Time a write may make no progress.
    pub write_timeout: Duration,
    /// The bound, once the drain has started, on what a client can add to the shutdown.
    pub shutdown_grace: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Request body bytes at most.
    pub max_body_bytes: u64,
    /// Request line and header bytes at most.
    pub max_header_bytes: usize,
    /// `Retry-After` on the 503 answers of the drain.
    pub retry_after: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            retry_after: DEFAULT_RETRY_AFTER,
        }
    }
}

impl ServeOptions {
    /// Sets [`header_read_timeout`](Self::header_read_timeout).
    pub fn with_header_read_timeout(mut self, value: Duration) -> Self {
        self.header_read_timeout = value;
        self
    }

    /// Sets [`body_read_timeout`](Self::body_read_timeout).
    pub fn with_body_read_timeout(mut self, value: Duration) -> Self {
        self.body_read_timeout = value;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    pub fn with_idle_timeout(mut self, value: Duration) -> Self {
        self.idle_timeout = value;
        self
    }

    /// Sets [`write_timeout`](Self::write_timeout).
    pub fn with_write_timeout(mut self, value: Duration) -> Self {
        self.write_timeout = value;
        self
    }

    /// Sets [`shutdown_grace`](Self::shutdown_grace).
    pub fn with_shutdown_grace(mut self, value: Duration) -> Self {
        self.shutdown_grace = value;
        self
    }

    /// Sets [`max_connections`](Self::max_connections).
    pub fn with_max_connections(mut self, value: usize) -> Self {
        self.max_connections = value;
        self
    }

    /// Sets [`max_body_bytes`](Self::max_body_bytes).
    pub fn with_max_body_bytes(mut self, value: u64) -> Self {
        self.max_body_bytes = value;
        self
    }

    /// Sets [`max_header_bytes`](Self::max_header_bytes).
    pub fn with_max_header_bytes(mut self, value: usize) -> Self {
        self.max_header_bytes = value;
        self
    }

    /// Sets [`retry_after`](Self::retry_after).
    pub fn with_retry_after(mut self, value: Duration) -> Self {
        self.retry_after = value;
        self
    }

    /// Checks every value; [`serve`](crate::serve) calls it.
    ///
    /// # Errors
    ///
    /// [`HttpError::InvalidOption`] naming the first field out of range: a zero duration or
    /// connection limit, a body limit of zero, a header limit outside 1 KiB ..= 256 KiB.
    pub fn validate(&self) -> Result<(), HttpError> {
        let durations = [
            ("header_read_timeout", self.header_read_timeout),
            ("body_read_timeout", self.body_read_timeout),
            ("idle_timeout", self.idle_timeout),
            ("write_timeout", self.write_timeout),
            ("shutdown_grace", self.shutdown_grace),
            ("retry_after", self.retry_after),
        ];
        for (option, value) in durations {
            if value.is_zero() {
                return Err(HttpError::InvalidOption {
                    option,
                    value: format!("{value:?}"),
                    allowed: "a duration greater than zero",
                });
            }
        }
        if self.max_connections == 0 {
            return Err(HttpError::InvalidOption {
                option: "max_connections",
                value: "0".to_owned(),
                allowed: "at least 1",
            });
        }
        if self.max_body_bytes == 0 {
            return Err(HttpError::InvalidOption {
                option: "max_body_bytes",
                value: "0".to_owned(),
                allowed: "at least 1 byte",
            });
        }
        if !(1024..=MAX_HEADER_BYTES_LIMIT).contains(&self.max_header_bytes) {
            return Err(HttpError::InvalidOption {
                option: "max_header_bytes",
                value: self.max_header_bytes.to_string(),
                allowed: "1024 ..= 262144 bytes",
            });
        }
        Ok(())
    }

    /// `Retry-After` in whole seconds, rounded up, at least 1.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs();
        let rounded = if self.retry_after.subsec_nanos() > 0 {
            secs.saturating_add(1)
        } else {
            secs
        };
        rounded.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(ServeOptions::default().validate().ok(), Some(()));
    }

    #[test]
    fn zero_values_name_the_field() {
        let error = ServeOptions::default()
            .with_shutdown_grace(Duration::ZERO)
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("shutdown_grace"), "{error}");
        let error = ServeOptions::default()
            .with_max_header_bytes(10)
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("max_header_bytes") && error.contains("10"),
            "{error}"
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        let o = ServeOptions::default().with_retry_after(Duration::from_millis(1500));
        assert_eq!(o.retry_after_secs(), 2);
        let o = ServeOptions::default().with_retry_after(Duration::from_millis(1));
        assert_eq!(o.retry_after_secs(), 1);
    }
}
