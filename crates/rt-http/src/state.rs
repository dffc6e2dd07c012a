//! What the accept loop, the connections, their I/O and their requests share: the server's
//! drain instants and the per-connection phase that the timeouts are computed from.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::ServeOptions;

/// Server-wide state.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) options: ServeOptions,
    pub(crate) metrics: Metrics,
    /// Cancelled when the drain starts (new requests get 503).
    pub(crate) draining: CancellationToken,
    /// The raw 503 written to a partial request when the shutdown grace ends.
    pub(crate) canned_503: String,
    drain_at: OnceLock<Instant>,
    /// Cancelled when the listener has closed: kept-alive connections waiting for a next
    /// request are closed then.
    pub(crate) listener_closed: CancellationToken,
}

impl Shared {
    pub(crate) fn new(options: ServeOptions) -> Self {
        let canned_503 = format!(
            "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\nretry-after: {}\r\n\
             content-length: 0\r\n\r\n",
            options.retry_after_secs()
        );
        Self {
            canned_503,
            options,
            metrics: Metrics::default(),
            draining: CancellationToken::new(),
            drain_at: OnceLock::new(),
            listener_closed: CancellationToken::new(),
        }
    }

    /// Records the drain's start (the instant first, then the token).
    pub(crate) fn start_draining(&self) {
        let _ = self.drain_at.set(Instant::now());
        self.draining.cancel();
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.drain_at.get().is_some()
    }

    /// Once the drain has started, the latest instant a wait that began at `since` may end:
    /// `max(since, drain start) + grace`. It bounds request bodies, stalled writes and
    /// connections without a complete request (`since`: accepted, first byte of the head, or
    /// end of the last answer): each had the grace, and none outlives the drain by more.
    pub(crate) fn drain_bound(&self, since: Instant) -> Option<Instant> {
        self.drain_at
            .get()
            .map(|&d| d.max(since) + self.options.shutdown_grace)
    }
}

/// Where a connection is between requests, as its timeouts see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepted, no byte read yet.
    Fresh,
    /// Bytes of a request head arriving.
    Head,
    /// A request is with the service (body, handler, response).
    Busy,
    /// A response was finished; waiting for the next request.
    Idle,
}

impl Phase {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Phase::Fresh,
            1 => Phase::Head,
            2 => Phase::Busy,
            _ => Phase::Idle,
        }
    }
}

/// How a request body was cut short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyCut {
    /// [`ServeOptions::body_read_timeout`].
    Timeout,
    /// The shutdown grace.
    Shutdown,
}

/// Per-connection state, shared by its I/O, its service and its response bodies.
#[derive(Debug)]
pub(crate) struct ConnState {
    epoch: Instant,
    phase: AtomicU8,
    /// Milliseconds from `epoch` to the start of the current phase.
    since_ms: AtomicU64,
    busy: AtomicUsize,
    /// 0 none, 1 timeout, 2 shutdown: set by the request body, read by the service.
    body_cut: AtomicU8,
}

impl ConnState {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            phase: AtomicU8::new(0),
            since_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
            body_cut: AtomicU8::new(0),
        }
    }

    fn set(&self, phase: Phase) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.since_ms.store(ms, Ordering::Release);
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// The phase and when it started.
    pub(crate) fn phase(&self) -> (Phase, Instant) {
        let phase = Phase::from_u8(self.phase.load(Ordering::Acquire));
        let since = self.epoch + Duration::from_millis(self.since_ms.load(Ordering::Acquire));
        (phase, since)
    }

    /// Bytes arrived: a fresh or idle connection starts a request head.
    pub(crate) fn on_bytes(&self) {
        let current = Phase::from_u8(self.phase.load(Ordering::Acquire));
        if matches!(current, Phase::Fresh | Phase::Idle) {
            self.set(Phase::Head);
        }
    }

    /// A request head reached the service.
    pub(crate) fn request_started(&self) {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.body_cut.store(0, Ordering::Release);
        self.set(Phase::Busy);
    }

    /// A response body was finished (or dropped).
    pub(crate) fn response_done(&self) {
        if self.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.set(Phase::Idle);
        }
    }

    pub(crate) fn cut_body(&self, cut: BodyCut) {
        let value = match cut {
            BodyCut::Timeout => 1,
            BodyCut::Shutdown => 2,
        };
        self.body_cut.store(value, Ordering::Release);
    }

    pub(crate) fn body_cut(&self) -> Option<BodyCut> {
        match self.body_cut.load(Ordering::Acquire) {
            1 => Some(BodyCut::Timeout),
            2 => Some(BodyCut::Shutdown),
            _ => None,
        }
    }
}
