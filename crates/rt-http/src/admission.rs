//! The admission and drain glue: the one place that knows how requests are counted in flight
//! and how the drain is started and awaited.
//!
//! An endpoint-backed gate admits through [`EndpointContext::begin_request`] (refused from
//! phase 1 on), so the runtime's drain and report see every admitted request; a token-backed
//! gate ([`serve_until`](crate::serve_until)) admits until its token is cancelled. Both also
//! count here, so that the server can wait for zero. When rt-shutdown's public drain
//! primitive lands, the local count and its `Notify` are replaced by it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rt_core::{EndpointContext, InFlightGuard};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Where admission is decided.
#[derive(Debug)]
enum Source {
    Endpoint(EndpointContext),
    Token,
}

/// Admits requests until the drain starts, and tells when the admitted ones are done.
#[derive(Debug)]
pub(crate) struct Gate {
    source: Source,
    /// Cancelled when the drain starts.
    token: CancellationToken,
    admitted: AtomicUsize,
    zero: Notify,
}

impl Gate {
    /// A gate that admits through the endpoint; the drain starts with its token (phase 1 of
    /// the shutdown, or the endpoint stopped).
    pub(crate) fn endpoint(ctx: EndpointContext) -> Self {
        Self {
            token: ctx.token(),
            source: Source::Endpoint(ctx),
            admitted: AtomicUsize::new(0),
            zero: Notify::new(),
        }
    }

    /// A gate that admits until `token` is cancelled.
    pub(crate) fn token(token: CancellationToken) -> Self {
        Self {
            token,
            source: Source::Token,
            admitted: AtomicUsize::new(0),
            zero: Notify::new(),
        }
    }

    /// Counts one request in flight, or `None` once the drain has started.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Admission> {
        // Count first, then check: the drain's wait for zero either sees this request or this
        // request sees the drain.
        self.admitted.fetch_add(1, Ordering::SeqCst);
        let endpoint_guard = match &self.source {
            Source::Endpoint(ctx) => match ctx.begin_request() {
                Ok(guard) => Some(guard),
                Err(_) => {
                    self.release();
                    return None;
                }
            },
            Source::Token if self.token.is_cancelled() => {
                self.release();
                return None;
            }
            Source::Token => None,
        };
        Some(Admission {
            _endpoint_guard: endpoint_guard,
            gate: Arc::clone(self),
        })
    }

    fn release(&self) {
        if self.admitted.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.zero.notify_waiters();
        }
    }

    /// Requests admitted and not finished.
    pub(crate) fn in_flight(&self) -> usize {
        self.admitted.load(Ordering::SeqCst)
    }

    /// Starts the drain of this server alone.
    pub(crate) fn stop(&self) {
        self.token.cancel();
    }

    /// Resolves when the drain starts.
    pub(crate) async fn draining(&self) {
        self.token.cancelled().await;
    }

    /// Resolves once no admitted request is in flight. Meaningful after
    /// [`draining`](Self::draining), when the count can only fall.
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.zero.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One admitted request; dropping it ends the request's count (also on panic).
#[derive(Debug)]
pub(crate) struct Admission {
    _endpoint_guard: Option<InFlightGuard>,
    gate: Arc<Gate>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.gate.release();
    }
}
