//! The bodies around a request: the request body with its read deadline, and the response
//! body that ends the request's admission and the connection's busy phase when it is done.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use rt_core::metrics::EndpointMetrics;
use tokio::time::{Instant, Sleep};

use crate::admission::Admission;
use crate::metrics::bump;
use crate::state::{BodyCut, ConnState, Shared};

/// Why a request body ended early, as the handler sees it.
#[derive(Debug)]
struct BodyTimeout(BodyCut);

impl fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            BodyCut::Timeout => {
                f.write_str("the request body did not arrive within the body read timeout")
            }
            BodyCut::Shutdown => {
                f.write_str("the request body did not arrive within the shutdown grace")
            }
        }
    }
}

impl std::error::Error for BodyTimeout {}

/// A request body read under [`ServeOptions::body_read_timeout`](crate::ServeOptions) and,
/// once the drain has started, the shutdown grace.
pub(crate) struct RequestBody {
    inner: Incoming,
    head_at: Instant,
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
    sleep: Option<Pin<Box<Sleep>>>,
    cut: bool,
    /// Where the body's bytes are counted (an endpoint with metrics on).
    metrics: Option<EndpointMetrics>,
}

impl RequestBody {
    pub(crate) fn new(
        inner: Incoming,
        head_at: Instant,
        shared: Arc<Shared>,
        conn: Arc<ConnState>,
        metrics: Option<EndpointMetrics>,
    ) -> Self {
        Self {
            inner,
            head_at,
            shared,
            conn,
            sleep: None,
            cut: false,
            metrics,
        }
    }

    fn deadline(&self) -> (Instant, BodyCut) {
        let timeout = self.head_at + self.shared.options.body_read_timeout;
        match self.shared.drain_bound(self.head_at) {
            Some(bound) if bound < timeout => (bound, BodyCut::Shutdown),
            _ => (timeout, BodyCut::Timeout),
        }
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.cut {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                if let (Some(metrics), Some(Ok(frame))) = (&this.metrics, &frame) {
                    if let Some(data) = frame.data_ref() {
                        metrics.add_request_bytes(data.len() as u64);
                    }
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let (deadline, cut) = this.deadline();
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.cut = true;
                this.sleep = None;
                this.conn.cut_body(cut);
                let metrics = &this.shared.metrics;
                bump(match cut {
                    BodyCut::Timeout => &metrics.timeout_body,
                    BodyCut::Shutdown => &metrics.timeout_grace,
                });
                tracing::debug!(?cut, "request body cut short");
                Poll::Ready(Some(Err(Box::new(BodyTimeout(cut)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.cut || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that holds the request's admission until hyper has taken its last frame
/// (or dropped it), then marks the connection idle. The request ends there: finished when the
/// body was handed over to its end, cancelled when it was dropped before.
pub(crate) struct ResponseBody {
    inner: Body,
    admission: Option<Admission>,
    conn: Arc<ConnState>,
    /// The body's last frame was taken.
    ended: bool,
}

impl ResponseBody {
    pub(crate) fn new(inner: Body, admission: Option<Admission>, conn: Arc<ConnState>) -> Self {
        Self {
            inner,
            admission,
            conn,
            ended: false,
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Some(admission) = self.admission.take() {
            if self.ended || http_body::Body::is_end_stream(&self.inner) {
                admission.finish();
            }
        }
        self.conn.response_done();
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(metrics)) = (
                    frame.data_ref(),
                    this.admission.as_ref().and_then(Admission::metrics),
                ) {
                    metrics.add_response_bytes(data.len() as u64);
                }
            }
            Poll::Ready(None) => this.ended = true,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
