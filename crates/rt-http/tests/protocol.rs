//! What a client sees: half-close, limits, the drain's answer on a kept-alive connection, a
//! panicking handler.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

mod common;

use std::time::Duration;

use common::{get_request, read_answer, request, router, runtime, wait_until};
use rt_http::{ServeOptions, Server};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

async fn start(options: ServeOptions) -> (Server, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let stop = CancellationToken::new();
    let server = rt_http::serve_until(stop.clone(), listener, router(), options).expect("serve");
    (server, stop)
}

async fn finish(server: Server, stop: CancellationToken) {
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), server.stopped())
        .await
        .expect("the server stops");
}

#[test]
fn a_half_closed_request_is_answered() {
    runtime().primary().block_on(async {
        let (server, stop) = start(ServeOptions::default()).await;
        let mut stream = TcpStream::connect(server.local_addr())
            .await
            .expect("connect");
        stream
            .write_all(b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\nhello")
            .await
            .expect("write");
        stream.shutdown().await.expect("half-close");
        let answer = read_answer(&mut stream).await.expect("an answer");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, "hello");
        finish(server, stop).await;
    });
}

#[test]
fn too_large_bodies_get_413_and_headers_431() {
    runtime().primary().block_on(async {
        let options = ServeOptions::default()
            .with_max_body_bytes(1024)
            .with_max_header_bytes(2048);
        let (server, stop) = start(options).await;
        let addr = server.local_addr();
        // Declared too large: answered before the body is read.
        let answer = request(
            addr,
            "POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 10485760\r\n\r\n".to_owned(),
        )
        .await
        .expect("an answer");
        assert_eq!(answer.status, 413);
        // Chunked past the limit: the handler's body read fails with the length limit.
        let chunk = "x".repeat(1500);
        let raw = format!(
            "POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
            chunk.len()
        );
        let answer = request(addr, raw).await.expect("an answer");
        assert_eq!(answer.status, 413);
        // Headers over 2 KiB.
        let raw = format!(
            "GET /health HTTP/1.1\r\nhost: t\r\nx-big: {}\r\n\r\n",
            "y".repeat(4096)
        );
        let answer = request(addr, raw).await.expect("an answer");
        assert_eq!(answer.status, 431);
        // The server still serves.
        let answer = request(addr, get_request("/health")).await.expect("answer");
        assert_eq!(answer.status, 200);
        assert_eq!(server.metrics().responses.client_error, 3);
        finish(server, stop).await;
    });
}

#[test]
fn a_kept_alive_request_after_phase_one_gets_503_close_and_retry_after() {
    let runtime = runtime();
    let rt = runtime.clone();
    runtime.primary().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let server = rt_http::serve(&rt, "work", listener, router(), ServeOptions::default())
            .expect("serve");
        let addr = server.local_addr();
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let keep_alive = b"GET /health HTTP/1.1\r\nhost: t\r\n\r\n";
        stream.write_all(keep_alive).await.expect("write");
        let answer = read_answer(&mut stream).await.expect("answer");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("connection"), None);
        // Hold the drain open with an admitted request, then start phase 1.
        let slow = tokio::spawn(request(addr, get_request("/work/300")));
        wait_until("1 request in flight", || server.in_flight() == 1).await;
        rt.shutdown();
        wait_until("the drain", || server.is_draining()).await;
        stream.write_all(keep_alive).await.expect("write");
        let answer = read_answer(&mut stream).await.expect("answer");
        assert_eq!(answer.status, 503, "{answer:?}");
        assert_eq!(answer.header("connection").as_deref(), Some("close"));
        assert_eq!(answer.header("retry-after").as_deref(), Some("1"));
        let done = slow.await.expect("task").expect("answer");
        assert_eq!(done.status, 200);
        let report = rt.shutdown_and_wait(None).await;
        assert!(report.is_clean(), "{report}");
        assert_eq!(server.metrics().requests_refused, 1);
    });
}

#[test]
fn a_panicking_handler_is_answered_500_and_the_server_keeps_serving() {
    runtime().primary().block_on(async {
        let (server, stop) = start(ServeOptions::default()).await;
        let addr = server.local_addr();
        let answer = request(addr, get_request("/panic")).await.expect("answer");
        assert_eq!(answer.status, 500);
        let answer = request(addr, get_request("/health")).await.expect("answer");
        assert_eq!(answer.status, 200);
        assert_eq!(server.in_flight(), 0);
        finish(server, stop).await;
    });
}

#[test]
fn accepting_pauses_at_the_connection_limit() {
    runtime().primary().block_on(async {
        let (server, stop) = start(
            ServeOptions::default()
                .with_max_connections(2)
                .with_shutdown_grace(Duration::from_millis(300)),
        )
        .await;
        let addr = server.local_addr();
        let first = TcpStream::connect(addr).await.expect("connect");
        let _second = TcpStream::connect(addr).await.expect("connect");
        wait_until("two accepted", || {
            server.metrics().connections_accepted == 2
        })
        .await;
        // The third waits in the kernel's queue until one of the others closes.
        let third = tokio::spawn(request(addr, get_request("/health")));
        wait_until("accepting paused", || server.metrics().accept_paused == 1).await;
        assert_eq!(server.metrics().connections_accepted, 2);
        drop(first);
        let answer = third.await.expect("task").expect("answer");
        assert_eq!(answer.status, 200);
        finish(server, stop).await;
    });
}
