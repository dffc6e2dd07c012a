//! The server's counters and their snapshot, [`HttpMetrics`].

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of one server's counters, from [`Server::metrics`](crate::Server::metrics).
///
/// With one request per connection, `connections_accepted - responses.success -
/// requests_refused` counts the connections that ended with neither a 2xx nor a 503 (other
/// statuses, timeouts, clients that went away): the `lost` figure of the shutdown tests is
/// computed this way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpMetrics {
    /// Connections accepted since the start.
    pub connections_accepted: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Connections closed by the server without any answer: no byte of a request arrived
    /// before the header, idle or shutdown timeout.
    pub connections_closed_unanswered: u64,
    /// Times accepting paused because [`max_connections`](crate::ServeOptions::max_connections)
    /// were open.
    pub accept_paused: u64,
    /// Requests admitted (counted in flight on the endpoint) and handed to the router.
    pub requests_admitted: u64,
    /// Requests answered 503 because the drain had started, including a partial request head
    /// answered 503 when the shutdown grace ended and an admitted request whose body the
    /// grace cut short (answered 503 instead of the handler's 4xx).
    pub requests_refused: u64,
    /// Responses by status class, including the 400/413/431 answers of the HTTP layer.
    pub responses: StatusClasses,
    /// Timeouts that fired.
    pub timeouts: Timeouts,
}

/// Responses counted by status class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusClasses {
    /// 1xx.
    pub informational: u64,
    /// 2xx.
    pub success: u64,
    /// 3xx.
    pub redirection: u64,
    /// 4xx.
    pub client_error: u64,
    /// 5xx.
    pub server_error: u64,
}

/// Timeouts that fired, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// A request head was not complete in time.
    pub header: u64,
    /// A request body was not complete in time.
    pub body: u64,
    /// A kept-alive connection sent no next request in time.
    pub idle: u64,
    /// A write made no progress in time.
    pub write: u64,
    /// The shutdown grace ended for a connection with no complete request (or a body or
    /// write still unfinished).
    pub shutdown_grace: u64,
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_closed_unanswered: AtomicU64,
    pub(crate) accept_paused: AtomicU64,
    pub(crate) requests_admitted: AtomicU64,
    pub(crate) requests_refused: AtomicU64,
    /// Indexed by the status's first digit minus one.
    classes: [AtomicU64; 5],
    pub(crate) timeout_header: AtomicU64,
    pub(crate) timeout_body: AtomicU64,
    pub(crate) timeout_idle: AtomicU64,
    pub(crate) timeout_write: AtomicU64,
    pub(crate) timeout_grace: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// Counts one response with this status code.
    pub(crate) fn response(&self, status: u16) {
        if let Some(slot) = usize::from(status / 100)
            .checked_sub(1)
            .and_then(|i| self.classes.get(i))
        {
            bump(slot);
        }
    }

    pub(crate) fn snapshot(&self) -> HttpMetrics {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        HttpMetrics {
            connections_accepted: get(&self.connections_accepted),
            connections_open: get(&self.connections_open),
            connections_closed_unanswered: get(&self.connections_closed_unanswered),
            accept_paused: get(&self.accept_paused),
            requests_admitted: get(&self.requests_admitted),
            requests_refused: get(&self.requests_refused),
            responses: StatusClasses {
                informational: get(&self.classes[0]),
                success: get(&self.classes[1]),
                redirection: get(&self.classes[2]),
                client_error: get(&self.classes[3]),
                server_error: get(&self.classes[4]),
            },
            timeouts: Timeouts {
                header: get(&self.timeout_header),
                body: get(&self.timeout_body),
                idle: get(&self.timeout_idle),
                write: get(&self.timeout_write),
                shutdown_grace: get(&self.timeout_grace),
            },
        }
    }
}
