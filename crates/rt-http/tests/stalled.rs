//! Stalled clients: they neither stop `/health` nor hold the shutdown past the grace.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

mod common;

use std::time::{Duration, Instant};

use common::{get_request, request, router, runtime};
use rt_http::ServeOptions;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const STALLED: usize = 300;

#[test]
fn stalled_connections_neither_block_health_nor_hold_the_shutdown() {
    let runtime = runtime();
    let rt = runtime.clone();
    runtime.primary().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let grace = Duration::from_secs(1);
        let options = ServeOptions::default().with_shutdown_grace(grace);
        let server = rt_http::serve(&rt, "work", listener, router(), options).expect("serve");
        let addr = server.local_addr();
        let mut stalled = Vec::new();
        for i in 0..STALLED {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            let half: &[u8] = if i % 2 == 0 {
                b"GET /hea"
            } else {
                b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\nhalf a body"
            };
            stream.write_all(half).await.expect("write");
            stalled.push(stream);
        }
        common::wait_until("every stalled connection accepted", || {
            server.metrics().connections_accepted == STALLED as u64
        })
        .await;
        for _ in 0..5 {
            let started = Instant::now();
            let answer = request(addr, get_request("/health")).await.expect("answer");
            assert_eq!(answer.status, 200);
            assert!(
                started.elapsed() < Duration::from_millis(500),
                "/health took {:?} with {STALLED} stalled connections",
                started.elapsed()
            );
        }
        let started = Instant::now();
        let report = rt.shutdown_and_wait(None).await;
        let took = started.elapsed();
        assert!(report.is_clean(), "{report}");
        assert!(
            took <= grace + Duration::from_secs(1),
            "the shutdown took {took:?}, more than grace {grace:?} + 1 s"
        );
        assert!(server.is_stopped());
        let metrics = server.metrics();
        assert_eq!(metrics.connections_open, 0, "{metrics:?}");
        // The half bodies were admitted: their answers are 503 at the grace.
        assert!(
            metrics.timeouts.shutdown_grace >= STALLED as u64,
            "{metrics:?}"
        );
        // Every stalled client got an answer: a 503 (half body, half head).
        let mut answered = 0;
        for mut stream in stalled {
            if let Some(answer) = common::read_answer(&mut stream).await {
                assert_eq!(answer.status, 503, "{answer:?}");
                answered += 1;
            }
        }
        assert_eq!(answered, STALLED);
        // The server's own counters say the same: every accepted connection got a 2xx or a
        // 503 of the drain (a half body cut at the grace is a refusal too).
        let metrics = server.metrics();
        assert_eq!(metrics.requests_refused, STALLED as u64, "{metrics:?}");
        assert_eq!(
            metrics.connections_accepted - metrics.responses.success - metrics.requests_refused,
            0,
            "{metrics:?}"
        );
    });
}

#[test]
fn a_partial_head_times_out_with_408() {
    let runtime = runtime();
    runtime.primary().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let options = ServeOptions::default().with_header_read_timeout(Duration::from_millis(200));
        let stop = tokio_util::sync::CancellationToken::new();
        let server =
            rt_http::serve_until(stop.clone(), listener, router(), options).expect("serve");
        let mut stream = TcpStream::connect(server.local_addr())
            .await
            .expect("connect");
        stream.write_all(b"GET /health HTT").await.expect("write");
        let answer = common::read_answer(&mut stream).await.expect("answer");
        assert_eq!(answer.status, 408);
        assert_eq!(server.metrics().timeouts.header, 1);
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), server.stopped())
            .await
            .expect("stops");
    });
}
