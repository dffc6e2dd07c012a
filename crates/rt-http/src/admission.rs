//! The admission and drain glue: the one place that knows how requests are counted in flight
//! and how the drain is started and awaited.
//!
//! An endpoint-backed gate admits through [`EndpointContext::begin_request`] (refused from the
//! moment the shutdown was requested) and waits for the endpoint's own drain,
//! [`EndpointContext::drained`]: the runtime's drain, the registry and this server count each
//! request once, in the endpoint's counter. A token-backed gate
//! ([`serve_until`](crate::serve_until)) has its own [`InFlight`], closed when its token is
//! cancelled.

use rt_core::shutdown::InFlight;
use rt_core::{
    CancellationToken, EndpointContext, InFlightGuard, NotAcceptingReason, RuntimeError,
};

/// One admitted request; dropping it ends the request's count (also on panic).
pub(crate) type Admission = InFlightGuard;

/// Why a request was refused (both are answered 503, `Connection: close`, `Retry-After`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The server's drain started (shutdown, or the server stopped).
    ShuttingDown,
    /// The process is drained without exit (until a resume); the server goes on.
    Drained,
}

/// Where admission is decided.
#[derive(Debug)]
enum Source {
    Endpoint(EndpointContext),
    Token(InFlight),
}

/// Admits requests until the drain starts, and tells when the admitted ones are done.
#[derive(Debug)]
pub(crate) struct Gate {
    source: Source,
    /// Cancelled when the drain starts.
    token: CancellationToken,
}

impl Gate {
    /// A gate that admits through the endpoint; the drain starts with its token (phase 1 of
    /// the shutdown, or the endpoint stopped).
    pub(crate) fn endpoint(ctx: EndpointContext) -> Self {
        Self {
            token: ctx.token(),
            source: Source::Endpoint(ctx),
        }
    }

    /// A gate that admits until `token` is cancelled.
    pub(crate) fn token(token: CancellationToken) -> Self {
        Self {
            token,
            source: Source::Token(InFlight::new()),
        }
    }

    /// Counts one request in flight, or says why not: the drain has started, or the process
    /// is drained without exit (an endpoint's gate is paused).
    pub(crate) fn admit(&self) -> Result<Admission, Refusal> {
        match &self.source {
            Source::Endpoint(ctx) => ctx.begin_request().map_err(|error| match error {
                RuntimeError::NotAccepting {
                    reason: NotAcceptingReason::Drained,
                    ..
                } => Refusal::Drained,
                _ => Refusal::ShuttingDown,
            }),
            // A request admitted while the token is being cancelled is counted, and the
            // drain (closed after the cancel) waits for it.
            Source::Token(_) if self.token.is_cancelled() => Err(Refusal::ShuttingDown),
            Source::Token(in_flight) => in_flight.try_enter().ok_or(Refusal::ShuttingDown),
        }
    }

    /// Requests admitted and not finished.
    pub(crate) fn in_flight(&self) -> usize {
        match &self.source {
            Source::Endpoint(ctx) => ctx.in_flight(),
            Source::Token(in_flight) => in_flight.count(),
        }
    }

    /// Starts the drain of this server alone.
    pub(crate) fn stop(&self) {
        match &self.source {
            Source::Endpoint(ctx) => ctx.stop(),
            Source::Token(in_flight) => {
                in_flight.close();
                self.token.cancel();
            }
        }
    }

    /// Resolves when the drain starts.
    pub(crate) async fn draining(&self) {
        self.token.cancelled().await;
    }

    /// Resolves once the drain has started and no admitted request is in flight.
    pub(crate) async fn drained(&self) {
        match &self.source {
            Source::Endpoint(ctx) => ctx.drained().await,
            Source::Token(in_flight) => {
                self.token.cancelled().await;
                in_flight.close();
                in_flight.drained().await;
            }
        }
    }
}
