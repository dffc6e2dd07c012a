//! What a request-plane handler receives and answers: [`RpcRequest`], [`RpcReply`] (one JSON
//! value, or a stream of them sent as chunked JSON lines) and [`RpcError`].

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Response, StatusCode};
use http_body::Frame;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::wire::{ADMITTED_HEADER, ADMITTED_VALUE, JSON_LINES};

/// One request to an endpoint of the request plane.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RpcRequest {
    /// The request body as sent (JSON).
    pub body: Bytes,
    /// The caller's `x-request-id`, when it sent one.
    pub request_id: Option<String>,
}

impl RpcRequest {
    /// A request (tests, or calling a handler in-process).
    pub fn new(body: impl Into<Bytes>, request_id: Option<String>) -> Self {
        Self {
            body: body.into(),
            request_id,
        }
    }

    /// The body read as JSON into `T`.
    ///
    /// # Errors
    ///
    /// [`RpcError::bad_request`] naming the JSON error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, RpcError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| RpcError::bad_request(format!("the body is not the expected JSON: {e}")))
    }
}

/// A handler's answer: one JSON value (`200`, `application/json`), or a stream of values
/// (`200`, [`JSON_LINES`], one value per line, chunked, each line sent as soon as it is
/// produced). The request stays in flight (and holds the worker's drain) until the last line
/// is written.
pub struct RpcReply(Reply);

enum Reply {
    Json(Bytes),
    Stream(mpsc::Receiver<Value>),
}

impl RpcReply {
    /// One JSON value.
    ///
    /// # Errors
    ///
    /// [`RpcError::failed`] when `value` cannot be serialised (a map with non-string keys).
    pub fn json<T: Serialize>(value: &T) -> Result<Self, RpcError> {
        serde_json::to_vec(value)
            .map(|v| Self(Reply::Json(Bytes::from(v))))
            .map_err(|e| RpcError::failed(format!("the reply cannot be serialised: {e}")))
    }

    /// A JSON body already serialised.
    pub fn raw_json(body: impl Into<Bytes>) -> Self {
        Self(Reply::Json(body.into()))
    }

    /// A stream: every value sent on the channel's sender becomes a line; the reply ends
    /// when every sender is dropped.
    pub fn stream(values: mpsc::Receiver<Value>) -> Self {
        Self(Reply::Stream(values))
    }

    pub(crate) fn into_response(self) -> Response<Body> {
        let (body, content_type) = match self.0 {
            Reply::Json(bytes) => (Body::from(bytes), "application/json"),
            Reply::Stream(rx) => (Body::new(LinesBody { rx }), JSON_LINES),
        };
        let mut response = Response::new(body);
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        admitted(response)
    }
}

impl fmt::Debug for RpcReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Reply::Json(b) => f.debug_tuple("RpcReply::Json").field(&b.len()).finish(),
            Reply::Stream(_) => f.write_str("RpcReply::Stream"),
        }
    }
}

/// A handler's error: `400` (the request is wrong) or `500` (the handler failed), with the
/// JSON body `{"error": code, "detail": ...}`. Never `503`: that status is the HTTP edge's
/// "not admitted", which routers send elsewhere; an executed request must not look like one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct RpcError {
    status: u16,
    code: String,
    detail: String,
}

impl RpcError {
    /// `400 {"error":"bad_request","detail":detail}`.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(400, "bad_request", detail)
    }

    /// `500 {"error":"failed","detail":detail}`.
    pub fn failed(detail: impl Into<String>) -> Self {
        Self::new(500, "failed", detail)
    }

    /// An error with a status of its own: a 4xx stays as given; anything else (including
    /// 503, reserved for the edge's refusal) becomes 500.
    pub fn with_status(status: u16, code: impl Into<String>, detail: impl Into<String>) -> Self {
        let status = if (400..500).contains(&status) {
            status
        } else {
            500
        };
        Self::new(status, code, detail)
    }

    fn new(status: u16, code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            detail: detail.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The error code (`"error"` in the body).
    pub fn code(&self) -> &str {
        &self.code
    }

    pub(crate) fn into_response(self) -> Response<Body> {
        let body = serde_json::json!({ "error": self.code, "detail": self.detail });
        let mut response = Response::new(Body::from(body.to_string()));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        admitted(response)
    }
}

/// Marks an answer as written by the request plane after admission.
fn admitted(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(ADMITTED_HEADER, HeaderValue::from_static(ADMITTED_VALUE));
    response
}

/// The boxed future of a handler.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<RpcReply, RpcError>> + Send>>;

/// A type-erased handler.
pub(crate) type Handler = Arc<dyn Fn(RpcRequest) -> HandlerFuture + Send + Sync>;

/// Boxes `f` into a [`Handler`].
pub(crate) fn boxed<F, Fut>(f: F) -> Handler
where
    F: Fn(RpcRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<RpcReply, RpcError>> + Send + 'static,
{
    Arc::new(move |request| Box::pin(f(request)))
}

/// A streamed reply's body: each value a line.
struct LinesBody {
    rx: mpsc::Receiver<Value>,
}

impl http_body::Body for LinesBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(value)) => {
                let mut line = value.to_string().into_bytes();
                line.push(b'\n');
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(line)))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
