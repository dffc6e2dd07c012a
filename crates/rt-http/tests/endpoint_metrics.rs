//! Per-endpoint metrics over real loopback HTTP: the requests counted by outcome, the
//! duration histogram's count, the errors by type and the body bytes equal what the clients
//! sent and received.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

mod common;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::routing::get;
use axum::Router;
use common::{get_request, request, router, runtime, wait_until};
use http_body::Frame;
use rt_http::ServeOptions;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A response body of `left` chunks of 64 KiB, one frame each.
struct Chunks {
    left: usize,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        this.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; 64 * 1024])))))
    }
}

/// The common router, plus `/fail` (a 500), `/big` (64 MiB in 1024 frames).
fn routes() -> Router {
    router()
        .route(
            "/fail",
            get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route("/big", get(|| async { Body::new(Chunks { left: 1024 }) }))
}

/// The value of the sample written exactly as `series` (name and labels) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.split(' ').next()?.parse().ok()
    })
}

fn requests(text: &str, outcome: &str) -> f64 {
    let series =
        format!(r#"dyn_runtime_endpoint_requests_total{{endpoint="api",outcome="{outcome}"}}"#);
    sample(text, &series).unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[test]
fn counters_and_histogram_equal_the_requests_sent_by_outcome() {
    const OK: usize = 12;
    const FAILED: usize = 3;
    const ECHOED: &[u8] = b"0123456789abcdef";
    let runtime = runtime();
    let rt = runtime.clone();
    runtime.primary().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let options = ServeOptions::default().with_write_timeout(Duration::from_secs(1));
        let server = rt_http::serve(&rt, "api", listener, routes(), options).unwrap();
        let addr = server.local_addr();

        for _ in 0..OK {
            let answer = request(addr, get_request("/health")).await.unwrap();
            assert_eq!((answer.status, answer.body.as_str()), (200, "ok"));
        }
        let post = format!(
            "POST /echo HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{}",
            ECHOED.len(),
            String::from_utf8_lossy(ECHOED)
        );
        let answer = request(addr, post).await.unwrap();
        assert_eq!(answer.body.as_bytes(), ECHOED);
        for _ in 0..FAILED {
            let answer = request(addr, get_request("/fail")).await.unwrap();
            assert_eq!(answer.status, 500);
        }
        let answer = request(addr, get_request("/panic")).await.unwrap();
        assert_eq!(answer.status, 500);

        // Cancelled: the client never reads a 64 MiB answer; the write timeout (1 s) ends
        // the connection before the body's end.
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled
            .write_all(get_request("/big").as_bytes())
            .await
            .unwrap();
        wait_until("the stalled answer cancelled", || {
            let text = rt.metrics().render().unwrap();
            sample(
                &text,
                r#"dyn_runtime_endpoint_requests_total{endpoint="api",outcome="cancelled"}"#,
            ) == Some(1.0)
        })
        .await;
        drop(stalled);

        // Refused: the endpoint stopped (the drain started) while a request is in flight
        // (which keeps the listener open); the server answers 503.
        let held = tokio::spawn(request(addr, get_request("/work/1500")));
        wait_until("a request in flight", || server.in_flight() == 1).await;
        server.stop();
        let mut refused = 0;
        for _ in 0..2 {
            match request(addr, get_request("/health")).await {
                Some(answer) if answer.status == 503 => refused += 1,
                other => panic!("expected a 503 during the drain, got {other:?}"),
            }
        }
        assert_eq!(held.await.unwrap().unwrap().status, 200);
        server.stopped().await;

        let text = rt.metrics().render().unwrap();
        let served = OK + 2; // the health checks, the echo and the held request
        assert_eq!(requests(&text, "ok"), served as f64, "{text}");
        assert_eq!(requests(&text, "error"), (FAILED + 1) as f64, "{text}");
        assert_eq!(requests(&text, "cancelled"), 1.0, "{text}");
        assert_eq!(requests(&text, "refused"), f64::from(refused), "{text}");
        let observed = served + FAILED + 1 + 1;
        assert_eq!(
            sample(
                &text,
                r#"dyn_runtime_endpoint_request_duration_seconds_count{endpoint="api"}"#
            ),
            Some(observed as f64),
            "{text}"
        );
        assert_eq!(
            sample(
                &text,
                r#"dyn_runtime_endpoint_request_duration_seconds_bucket{le="+Inf",endpoint="api"}"#
            )
            .or_else(|| sample(
                &text,
                r#"dyn_runtime_endpoint_request_duration_seconds_bucket{endpoint="api",le="+Inf"}"#
            )),
            Some(observed as f64),
            "{text}"
        );
        let errors = |kind: &str| {
            sample(
                &text,
                &format!(r#"dyn_runtime_endpoint_errors_total{{endpoint="api",type="{kind}"}}"#),
            )
        };
        assert_eq!(errors("status_5xx"), Some(FAILED as f64), "{text}");
        assert_eq!(errors("panic"), Some(1.0), "{text}");
        assert_eq!(
            sample(
                &text,
                r#"dyn_runtime_endpoint_request_bytes_total{endpoint="api"}"#
            ),
            Some(ECHOED.len() as f64),
            "{text}"
        );
        // "ok" x OK, the echo, "boom" x FAILED, the panic's text, and part of /big.
        let response_bytes = sample(
            &text,
            r#"dyn_runtime_endpoint_response_bytes_total{endpoint="api"}"#,
        )
        .unwrap();
        let small = (2 * OK + ECHOED.len() + 4 * FAILED) as f64;
        assert!(
            response_bytes > small,
            "{response_bytes} <= {small}\n{text}"
        );
        assert_eq!(
            sample(
                &text,
                r#"dyn_runtime_endpoint_in_flight_requests{endpoint="api"}"#
            ),
            Some(0.0),
            "{text}"
        );
        let report = rt.shutdown_and_wait(None).await;
        assert!(report.is_clean(), "{report}");
    });
}

#[test]
fn metrics_off_counts_only_refusals() {
    let runtime = runtime();
    let rt = runtime.clone();
    runtime.primary().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let options = ServeOptions::default().with_endpoint_metrics(false);
        let server = rt_http::serve(&rt, "api", listener, routes(), options).unwrap();
        let answer = request(server.local_addr(), get_request("/health"))
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        let text = rt.metrics().render().unwrap();
        assert_eq!(requests(&text, "ok"), 0.0, "{text}");
        let report = rt.shutdown_and_wait(None).await;
        assert!(report.is_clean(), "{report}");
    });
}
