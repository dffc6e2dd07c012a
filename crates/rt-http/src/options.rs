//! [`ServeOptions`]: the timeouts and limits of one server.
//!
//! Each option is a key of the runtime's configuration table (`DYN_HTTP_*`); the defaults are
//! that table's constants and [`ServeOptions::from_config`] reads the keys. The rules are the
//! keys' own: [`ServeOptions::validate`] applies [`check::range`] with the table's bounds.

use std::sync::LazyLock;
use std::time::Duration;

use rt_core::config::{self, check, Origin, RuntimeConfig};

use crate::HttpError;

/// Default [`ServeOptions::header_read_timeout`]:
/// [`DEFAULT_HTTP_HEADER_READ_TIMEOUT_SECS`](config::DEFAULT_HTTP_HEADER_READ_TIMEOUT_SECS).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration =
    Duration::from_secs(config::DEFAULT_HTTP_HEADER_READ_TIMEOUT_SECS);
/// Default [`ServeOptions::body_read_timeout`]:
/// [`DEFAULT_HTTP_BODY_READ_TIMEOUT_SECS`](config::DEFAULT_HTTP_BODY_READ_TIMEOUT_SECS).
pub const DEFAULT_BODY_READ_TIMEOUT: Duration =
    Duration::from_secs(config::DEFAULT_HTTP_BODY_READ_TIMEOUT_SECS);
/// Default [`ServeOptions::idle_timeout`]:
/// [`DEFAULT_HTTP_IDLE_TIMEOUT_SECS`](config::DEFAULT_HTTP_IDLE_TIMEOUT_SECS).
pub const DEFAULT_IDLE_TIMEOUT: Duration =
    Duration::from_secs(config::DEFAULT_HTTP_IDLE_TIMEOUT_SECS);
/// Default [`ServeOptions::write_timeout`]:
/// [`DEFAULT_HTTP_WRITE_TIMEOUT_SECS`](config::DEFAULT_HTTP_WRITE_TIMEOUT_SECS).
pub const DEFAULT_WRITE_TIMEOUT: Duration =
    Duration::from_secs(config::DEFAULT_HTTP_WRITE_TIMEOUT_SECS);
/// Default [`ServeOptions::shutdown_grace`]:
/// [`DEFAULT_HTTP_SHUTDOWN_GRACE_SECS`](config::DEFAULT_HTTP_SHUTDOWN_GRACE_SECS) (as Go's
/// `http.Server.Shutdown` gives new connections).
pub const DEFAULT_SHUTDOWN_GRACE: Duration =
    Duration::from_secs(config::DEFAULT_HTTP_SHUTDOWN_GRACE_SECS);
/// Default [`ServeOptions::max_connections`]:
/// [`DEFAULT_HTTP_MAX_CONNECTIONS`](config::DEFAULT_HTTP_MAX_CONNECTIONS).
pub const DEFAULT_MAX_CONNECTIONS: usize = config::DEFAULT_HTTP_MAX_CONNECTIONS;
/// Default [`ServeOptions::max_body_bytes`]:
/// [`DEFAULT_HTTP_MAX_BODY_BYTES`](config::DEFAULT_HTTP_MAX_BODY_BYTES) (axum's default body
/// limit).
pub const DEFAULT_MAX_BODY_BYTES: u64 = config::DEFAULT_HTTP_MAX_BODY_BYTES;
/// Default [`ServeOptions::max_header_bytes`]:
/// [`DEFAULT_HTTP_MAX_HEADER_BYTES`](config::DEFAULT_HTTP_MAX_HEADER_BYTES) (request line and
/// headers together).
pub const DEFAULT_MAX_HEADER_BYTES: usize = config::DEFAULT_HTTP_MAX_HEADER_BYTES;
/// Default [`ServeOptions::retry_after`]:
/// [`DEFAULT_HTTP_RETRY_AFTER_SECS`](config::DEFAULT_HTTP_RETRY_AFTER_SECS).
pub const DEFAULT_RETRY_AFTER: Duration =
    Duration::from_secs(config::DEFAULT_HTTP_RETRY_AFTER_SECS);
/// Default [`ServeOptions::drain_linger`]:
/// [`DEFAULT_HTTP_DRAIN_LINGER_MS`](config::DEFAULT_HTTP_DRAIN_LINGER_MS) (none).
pub const DEFAULT_DRAIN_LINGER: Duration =
    Duration::from_millis(config::DEFAULT_HTTP_DRAIN_LINGER_MS);

/// The largest accepted [`ServeOptions::max_header_bytes`] (hyper's read buffer must hold the
/// whole head): [`MAX_HTTP_HEADER_BYTES`](config::MAX_HTTP_HEADER_BYTES).
pub const MAX_HEADER_BYTES_LIMIT: usize = config::MAX_HTTP_HEADER_BYTES;

/// The origin [`ServeOptions::validate`] reports to the configuration checks.
const CODE: Origin = Origin::Code("ServeOptions");

/// What a duration option allows, in words.
static DURATION_ALLOWED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "a duration above zero and at most {} s",
        config::MAX_HTTP_TIMEOUT_SECS
    )
});

/// Timeouts and limits of one server. `Default` gives the values in the table, the defaults of
/// the `DYN_HTTP_*` configuration keys; [`from_config`](Self::from_config) reads the keys.
///
/// | field | variable | default | what |
/// |---|---|---|---|
/// | [`header_read_timeout`](Self::header_read_timeout) | `DYN_HTTP_HEADER_READ_TIMEOUT_SECS` | 10 s | from accept (or the first byte of a kept-alive connection's next request) to a complete request head; then the connection is closed (408 when part of a head had arrived) |
/// | [`body_read_timeout`](Self::body_read_timeout) | `DYN_HTTP_BODY_READ_TIMEOUT_SECS` | 30 s | from the head to the end of the request body; then the handler's body read fails and the answer is 408, `Connection: close` |
/// | [`idle_timeout`](Self::idle_timeout) | `DYN_HTTP_IDLE_TIMEOUT_SECS` | 60 s | a kept-alive connection waiting for its next request; then it is closed |
/// | [`write_timeout`](Self::write_timeout) | `DYN_HTTP_WRITE_TIMEOUT_SECS` | 30 s | a write making no progress (the client does not read); then the connection is closed |
/// | [`shutdown_grace`](Self::shutdown_grace) | `DYN_HTTP_SHUTDOWN_GRACE_SECS` | 5 s | once the drain has started, the most any client can add to it: a body still being read, a write stalled, a connection with no complete request when the listener closes |
/// | [`max_connections`](Self::max_connections) | `DYN_HTTP_MAX_CONNECTIONS` | 4096 | open connections; at the limit accepting pauses (logged once) |
/// | [`max_body_bytes`](Self::max_body_bytes) | `DYN_HTTP_MAX_BODY_BYTES` | 2 MiB | request body; more is 413 |
/// | [`max_header_bytes`](Self::max_header_bytes) | `DYN_HTTP_MAX_HEADER_BYTES` | 64 KiB | request line and headers; more is 431 |
/// | [`retry_after`](Self::retry_after) | `DYN_HTTP_RETRY_AFTER_SECS` | 1 s | the `Retry-After` of a 503 during the drain (whole seconds, at least 1) |
/// | [`drain_linger`](Self::drain_linger) | `DYN_HTTP_DRAIN_LINGER_MS` | 0 | the least time the listener stays open after the drain started (at most 60 s) |
/// | [`request_ids`](Self::request_ids) | (none) | on | a request id per request (`x-request-id` in and out) and a span carrying it |
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
    /// Once the drain has started, the least time the listener stays open (answering 503)
    /// even when nothing admitted is in flight: the time routers need to learn of the drain
    /// (through discovery) and stop connecting, so that no new connection is refused while
    /// one of them still sends here. Zero: close as soon as nothing admitted is in flight.
    pub drain_linger: Duration,
    /// Whether [`serve`](crate::serve) records each request's outcome, duration and bytes in
    /// its endpoint's metrics (`dyn_runtime_endpoint_*`; on by default). Refusals are counted
    /// either way. Off only to measure what they cost.
    pub endpoint_metrics: bool,
    /// Whether each request gets a request id: the client's `x-request-id` (or the trace id
    /// of its `traceparent`) when usable, else a new UUID v4; set on the request's and the
    /// answer's `x-request-id`, and carried by every log line of the request through a span
    /// (see [`REQUEST_ID_HEADER`](crate::REQUEST_ID_HEADER)). Off: none of it, for the last
    /// few hundred nanoseconds per request.
    pub request_ids: bool,
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
            drain_linger: DEFAULT_DRAIN_LINGER,
            endpoint_metrics: true,
            request_ids: true,
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

    /// Sets [`drain_linger`](Self::drain_linger).
    pub fn with_drain_linger(mut self, value: Duration) -> Self {
        self.drain_linger = value;
        self
    }

    /// Sets [`retry_after`](Self::retry_after).
    pub fn with_retry_after(mut self, value: Duration) -> Self {
        self.retry_after = value;
        self
    }

    /// Sets [`endpoint_metrics`](Self::endpoint_metrics).
    pub fn with_endpoint_metrics(mut self, on: bool) -> Self {
        self.endpoint_metrics = on;
        self
    }

    /// Sets [`request_ids`](Self::request_ids).
    pub fn with_request_ids(mut self, on: bool) -> Self {
        self.request_ids = on;
        self
    }

    /// The options the configuration's `http_*` keys (`DYN_HTTP_*` variables) give: each
    /// timeout from its whole seconds, each limit as it is.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rt_core::config::RuntimeConfig;
    /// use rt_http::ServeOptions;
    ///
    /// let config = RuntimeConfig::builder()
    ///     .http_shutdown_grace_secs(2)
    ///     .http_max_body_bytes(8 << 20)
    ///     .build()?;
    /// let options = ServeOptions::from_config(&config);
    /// assert_eq!(options.shutdown_grace, Duration::from_secs(2));
    /// assert_eq!(options.max_body_bytes, 8 << 20);
    /// assert_eq!(ServeOptions::from_config(&RuntimeConfig::default()), ServeOptions::default());
    /// # Ok::<(), rt_core::config::ConfigError>(())
    /// ```
    pub fn from_config(config: &RuntimeConfig) -> ServeOptions {
        ServeOptions {
            header_read_timeout: Duration::from_secs(config.http_header_read_timeout_secs),
            body_read_timeout: Duration::from_secs(config.http_body_read_timeout_secs),
            idle_timeout: Duration::from_secs(config.http_idle_timeout_secs),
            write_timeout: Duration::from_secs(config.http_write_timeout_secs),
            shutdown_grace: Duration::from_secs(config.http_shutdown_grace_secs),
            max_connections: config.http_max_connections,
            max_body_bytes: config.http_max_body_bytes,
            max_header_bytes: config.http_max_header_bytes,
            retry_after: Duration::from_secs(config.http_retry_after_secs),
            drain_linger: Duration::from_millis(config.http_drain_linger_ms),
            endpoint_metrics: true,
            request_ids: true,
        }
    }

    /// Checks every value; [`serve`](crate::serve) calls it. The rules are the `DYN_HTTP_*`
    /// keys' ([`check::range`] with the configuration's bounds); a duration, which code may
    /// set below a second, is checked rounded up to whole seconds, so it must be above zero and
    /// at most [`MAX_HTTP_TIMEOUT_SECS`](config::MAX_HTTP_TIMEOUT_SECS).
    ///
    /// # Errors
    ///
    /// [`HttpError::InvalidOption`] naming the first field out of range and what is allowed: a
    /// zero or too long duration, a connection or body limit of zero or above
    /// [`MAX_HTTP_CONNECTIONS`](config::MAX_HTTP_CONNECTIONS) /
    /// [`MAX_HTTP_BODY_BYTES`](config::MAX_HTTP_BODY_BYTES), a header limit outside
    /// [`MIN_HTTP_HEADER_BYTES`](config::MIN_HTTP_HEADER_BYTES) ..=
    /// [`MAX_HTTP_HEADER_BYTES`](config::MAX_HTTP_HEADER_BYTES).
    ///
    /// ```
    /// use std::time::Duration;
    /// use rt_http::{HttpError, ServeOptions};
    ///
    /// let fast = ServeOptions::default().with_header_read_timeout(Duration::from_millis(200));
    /// assert!(fast.validate().is_ok());
    /// let error = ServeOptions::default().with_max_connections(0).validate().unwrap_err();
    /// assert!(matches!(error, HttpError::InvalidOption { option: "max_connections", .. }));
    /// ```
    pub fn validate(&self) -> Result<(), HttpError> {
        let durations = [
            (
                "header_read_timeout",
                "http_header_read_timeout_secs",
                self.header_read_timeout,
            ),
            (
                "body_read_timeout",
                "http_body_read_timeout_secs",
                self.body_read_timeout,
            ),
            ("idle_timeout", "http_idle_timeout_secs", self.idle_timeout),
            (
                "write_timeout",
                "http_write_timeout_secs",
                self.write_timeout,
            ),
            (
                "shutdown_grace",
                "http_shutdown_grace_secs",
                self.shutdown_grace,
            ),
            ("retry_after", "http_retry_after_secs", self.retry_after),
        ];
        for (option, key, value) in durations {
            let max = config::MAX_HTTP_TIMEOUT_SECS;
            check::range(key, whole_secs_up(value), 1, max, &CODE).map_err(|_| {
                HttpError::InvalidOption {
                    option,
                    value: format!("{value:?}"),
                    allowed: DURATION_ALLOWED.as_str(),
                }
            })?;
        }
        let counts = [
            (
                "max_connections",
                "http_max_connections",
                self.max_connections as u64,
                (1, config::MAX_HTTP_CONNECTIONS as u64),
            ),
            (
                "max_body_bytes",
                "http_max_body_bytes",
                self.max_body_bytes,
                (1, config::MAX_HTTP_BODY_BYTES),
            ),
            (
                "max_header_bytes",
                "http_max_header_bytes",
                self.max_header_bytes as u64,
                (
                    config::MIN_HTTP_HEADER_BYTES as u64,
                    config::MAX_HTTP_HEADER_BYTES as u64,
                ),
            ),
            (
                "drain_linger",
                "http_drain_linger_ms",
                u64::try_from(self.drain_linger.as_millis()).unwrap_or(u64::MAX),
                (0, config::MAX_HTTP_DRAIN_LINGER_MS),
            ),
        ];
        for (option, key, value, (min, max)) in counts {
            check::range(key, value, min, max, &CODE).map_err(|_| HttpError::InvalidOption {
                option,
                value: value.to_string(),
                allowed: allowed_of(key),
            })?;
        }
        Ok(())
    }

    /// `Retry-After` in whole seconds, rounded up, at least 1.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        whole_secs_up(self.retry_after).max(1)
    }
}

/// `duration` in whole seconds, rounded up.
fn whole_secs_up(duration: Duration) -> u64 {
    let secs = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        secs.saturating_add(1)
    } else {
        secs
    }
}

/// The allowed values of configuration key `key`, in the words of its table row.
fn allowed_of(key: &str) -> &'static str {
    config::keys()
        .iter()
        .find(|spec| spec.name == key)
        .map_or("see docs/configuration.md", |spec| spec.allowed)
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

    /// A duration the configuration refuses is refused in code too: before, `Duration::MAX`
    /// passed and `Instant + timeout` would overflow (a panic) at the first request.
    #[test]
    fn durations_beyond_the_configuration_maximum_are_refused() {
        let too_long = Duration::from_secs(config::MAX_HTTP_TIMEOUT_SECS) + Duration::from_nanos(1);
        for options in [
            ServeOptions::default().with_body_read_timeout(Duration::MAX),
            ServeOptions::default().with_idle_timeout(too_long),
        ] {
            let error = options
                .validate()
                .map(|()| String::new())
                .unwrap_or_else(|e| e.to_string());
            assert!(error.contains("at most 3600 s"), "{error:?}");
        }
        let longest = Duration::from_secs(config::MAX_HTTP_TIMEOUT_SECS);
        assert!(ServeOptions::default()
            .with_write_timeout(longest)
            .validate()
            .is_ok());
    }

    #[test]
    fn limits_follow_the_configuration_rules() {
        let error = ServeOptions::default()
            .with_max_body_bytes(config::MAX_HTTP_BODY_BYTES + 1)
            .validate()
            .map(|()| String::new())
            .unwrap_or_else(|e| e.to_string());
        assert!(
            error.contains("`max_body_bytes` = 1073741825: 1 to 1073741824"),
            "{error}"
        );
        for key in [
            "http_max_connections",
            "http_max_body_bytes",
            "http_max_header_bytes",
        ] {
            assert_ne!(allowed_of(key), "see docs/configuration.md", "{key}");
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        let o = ServeOptions::default().with_retry_after(Duration::from_millis(1500));
        assert_eq!(o.retry_after_secs(), 2);
        let o = ServeOptions::default().with_retry_after(Duration::from_millis(1));
        assert_eq!(o.retry_after_secs(), 1);
    }
}
