//! [`ConnService`]: what hyper calls for each request of a connection: admission, the body
//! limit, the router, and the answers of the drain.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::time::Instant;
use tower_service::Service;
use tracing::Instrument;

use crate::admission::{Gate, Refusal};
use crate::body::{RequestBody, ResponseBody};
use crate::metrics::bump;
use crate::request_id;
use crate::state::{BodyCut, ConnState, Shared};

/// A refused request's body is read up to this size before the 503 is written, so that
/// closing the connection does not reset it under the client's feet (a TCP reset can
/// discard an answer the client has not read yet).
const REFUSED_BODY_DRAIN: u64 = 64 * 1024;
/// How long the 503 path waits for that body.
const REFUSED_BODY_WAIT: Duration = Duration::from_secs(1);

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

/// The per-connection service.
#[derive(Clone)]
pub(crate) struct ConnService {
    pub(crate) router: Router,
    pub(crate) shared: Arc<Shared>,
    pub(crate) conn: Arc<ConnState>,
    pub(crate) gate: Arc<Gate>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let head_at = Instant::now();
        self.conn.request_started();
        let shared = Arc::clone(&self.shared);
        let conn = Arc::clone(&self.conn);
        let id = shared
            .options
            .request_ids
            .then(|| request_id::take(request.headers_mut()));
        let mut admission = match self.gate.admit() {
            Ok(admission) => admission,
            Err(why) => {
                return Box::pin(async move {
                    bump(&shared.metrics.requests_refused);
                    drain_refused_body(request.into_body()).await;
                    let response = refusal(&shared, why);
                    Ok(finish(response, None, &shared, conn, id))
                });
            }
        };
        let too_large = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|len| len > shared.options.max_body_bytes);
        if too_large {
            let mut response = simple(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is larger than this server accepts",
            );
            close(&mut response);
            let response = finish(response, None, &shared, conn, id);
            admission.fail("body_too_large");
            admission.finish();
            return Box::pin(async move { Ok(response) });
        }
        bump(&shared.metrics.requests_admitted);
        let (parts, body) = request.into_parts();
        let metrics = admission.metrics().cloned();
        let body = RequestBody::new(
            body,
            head_at,
            Arc::clone(&shared),
            Arc::clone(&conn),
            metrics,
        );
        let body = Body::new(Limited::new(
            body,
            usize::try_from(shared.options.max_body_bytes).unwrap_or(usize::MAX),
        ));
        let mut router = self.router.clone();
        // Every line logged while serving the request, routing included, is in its span.
        let span = request_id::span(id.as_ref());
        let routed = span.in_scope(|| router.call(Request::from_parts(parts, body)));
        let served = async move {
            // Pinned inside this future's own (boxed) state: no second allocation.
            let routed = std::pin::pin!(routed);
            let response = match CatchUnwind(routed).await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(()) => {
                    admission.fail("panic");
                    tracing::error!("an HTTP handler panicked; answering 500");
                    simple(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the handler failed; see the server's log",
                    )
                }
            };
            let response = match conn.body_cut() {
                Some(cut) if response.status().is_client_error() => {
                    admission.fail(match cut {
                        BodyCut::Timeout => "body_timeout",
                        BodyCut::Shutdown => "shutdown_grace",
                    });
                    let mut response = match cut {
                        BodyCut::Timeout => simple(
                            StatusCode::REQUEST_TIMEOUT,
                            "the request body did not arrive in time",
                        ),
                        BodyCut::Shutdown => {
                            // A refusal like any other 503 of the drain: counted as one, so
                            // that `accepted - 2xx - refused` holds every answered client.
                            bump(&shared.metrics.requests_refused);
                            refusal(&shared, Refusal::ShuttingDown)
                        }
                    };
                    close(&mut response);
                    response
                }
                Some(_) => {
                    let mut response = response;
                    close(&mut response);
                    response
                }
                None => response,
            };
            Ok(finish(response, Some(admission), &shared, conn, id))
        };
        Box::pin(served.instrument(span))
    }
}

/// Counts the answer, adds `Connection: close` during the drain and the request id, and
/// wraps the body.
fn finish(
    response: Response<Body>,
    admission: Option<crate::admission::Admission>,
    shared: &Shared,
    conn: Arc<ConnState>,
    id: Option<HeaderValue>,
) -> Response<ResponseBody> {
    let mut response = response;
    let mut admission = admission;
    if shared.is_draining() {
        close(&mut response);
    }
    if response.status().is_server_error() {
        if let Some(admission) = admission.as_mut() {
            admission.fail("status_5xx");
        }
    }
    if let Some(id) = id {
        request_id::answer(response.headers_mut(), id);
    }
    shared.metrics.response(response.status().as_u16());
    response.map(|body| ResponseBody::new(body, admission, conn))
}

fn close(response: &mut Response<Body>) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// The drain's answer: 503, `Connection: close`, `Retry-After`; the body says why.
fn refusal(shared: &Shared, why: Refusal) -> Response<Body> {
    let mut response = Response::new(Body::from(match why {
        Refusal::ShuttingDown => {
            "{\"error\":\"shutting_down\",\"detail\":\"this instance is shutting down; \
             send the request to another instance\"}"
        }
        Refusal::Drained => {
            "{\"error\":\"drained\",\"detail\":\"this instance is drained (out of \
             rotation); send the request to another instance\"}"
        }
    }));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from(shared.options.retry_after_secs()),
    );
    response
}

fn simple(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}

/// Reads (and discards) a refused request's body, bounded in size and time.
async fn drain_refused_body(body: Incoming) {
    let mut body = Limited::new(
        body,
        usize::try_from(REFUSED_BODY_DRAIN).unwrap_or(usize::MAX),
    );
    let _ = tokio::time::timeout(REFUSED_BODY_WAIT, async {
        while let Some(Ok(_)) = body.frame().await {}
    })
    .await;
}

/// Turns a panic while polling the handler into `Err(())`.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.get_mut().0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *inner).poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}
