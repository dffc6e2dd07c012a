//! The drain: admitted requests finish, late requests get 503, and no accepted connection is
//! left unanswered while clients keep arriving as the drain ends.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{get_request, request, router, runtime, wait_until};
use rt_http::ServeOptions;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[test]
fn requests_in_flight_at_phase_one_are_served_to_the_end() {
    let runtime = runtime();
    let rt = runtime.clone();
    runtime.primary().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let server = rt_http::serve(&rt, "work", listener, router(), ServeOptions::default())
            .expect("serve");
        let addr = server.local_addr();
        let clients: Vec<_> = (0..8)
            .map(|_| tokio::spawn(request(addr, get_request("/work/300"))))
            .collect();
        wait_until("8 requests in flight", || server.in_flight() == 8).await;
        let report = rt.shutdown_and_wait(None).await;
        assert!(report.is_clean(), "{report}");
        for client in clients {
            let answer = client.await.expect("client task").expect("an answer");
            assert_eq!(answer.status, 200, "{answer:?}");
            assert_eq!(answer.body, "done");
        }
        assert!(server.is_stopped());
        let metrics = server.metrics();
        assert_eq!(metrics.requests_admitted, 8);
        assert_eq!(metrics.connections_open, 0);
    });
}

/// Clients connect in a closed loop while 20 admitted requests finish and the listener
/// closes; each waits `delay` between connect and send. Every connection the server accepted
/// must have received a 200 or a 503 (lost = accepted - 200s - 503s, by what the clients
/// received).
fn late_clients_round(delay: Duration) {
    let runtime = runtime();
    let rt = runtime.clone();
    runtime.primary().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let options = ServeOptions::default().with_shutdown_grace(Duration::from_secs(2));
        let server = rt_http::serve(&rt, "work", listener, router(), options).expect("serve");
        let addr = server.local_addr();
        let ok = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let other = Arc::new(AtomicU64::new(0));
        let count = |answer: Option<common::Answer>, ok: &AtomicU64, refused: &AtomicU64| {
            match answer.map(|a| a.status) {
                Some(200) => ok.fetch_add(1, Ordering::SeqCst),
                Some(503) => refused.fetch_add(1, Ordering::SeqCst),
                _ => 0,
            };
        };
        let admitted: Vec<_> = (0..20)
            .map(|_| tokio::spawn(request(addr, get_request("/work/150"))))
            .collect();
        wait_until("20 requests in flight", || server.in_flight() == 20).await;
        rt.shutdown();
        let mut late = Vec::new();
        for _ in 0..8 {
            let (ok, refused, other) = (ok.clone(), refused.clone(), other.clone());
            late.push(tokio::spawn(async move {
                // Bounded: the listener closes once the admitted requests are done.
                for _ in 0..5_000 {
                    let Ok(mut stream) = TcpStream::connect(addr).await else {
                        return;
                    };
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let raw = get_request("/work/0");
                    if stream.write_all(raw.as_bytes()).await.is_err() {
                        other.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    match common::read_answer(&mut stream).await.map(|a| a.status) {
                        Some(200) => ok.fetch_add(1, Ordering::SeqCst),
                        Some(503) => refused.fetch_add(1, Ordering::SeqCst),
                        // Reset or closed before any byte: never accepted (still in the
                        // kernel's queue when the listener closed), or lost.
                        _ => other.fetch_add(1, Ordering::SeqCst),
                    };
                }
            }));
        }
        for client in admitted {
            count(client.await.expect("client task"), &ok, &refused);
        }
        for client in late {
            client.await.expect("client task");
        }
        tokio::time::timeout(Duration::from_secs(10), server.stopped())
            .await
            .expect("the server stops");
        let metrics = server.metrics();
        let (ok, refused) = (ok.load(Ordering::SeqCst), refused.load(Ordering::SeqCst));
        let lost = metrics.connections_accepted as i64 - ok as i64 - refused as i64;
        assert_eq!(
            lost,
            0,
            "delay {delay:?}: accepted {} but clients got {ok} 200s and {refused} 503s \
             ({} other); {metrics:?}",
            metrics.connections_accepted,
            other.load(Ordering::SeqCst)
        );
        eprintln!(
            "  accepted {} ok {ok} refused {refused} other {}",
            metrics.connections_accepted,
            other.load(Ordering::SeqCst)
        );
        assert!(ok >= 20, "the admitted requests were answered 200");
        assert_eq!(metrics.connections_open, 0);
    });
}

#[test]
fn no_accepted_connection_is_lost_while_the_drain_ends() {
    for round in 0..3 {
        for delay_ms in [0, 1, 2, 10] {
            eprintln!("round {round}, delay {delay_ms} ms");
            late_clients_round(Duration::from_millis(delay_ms));
        }
    }
}

#[test]
fn serve_until_drains_on_its_token() {
    let runtime = runtime();
    runtime.primary().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let stop = tokio_util::sync::CancellationToken::new();
        let server =
            rt_http::serve_until(stop.clone(), listener, router(), ServeOptions::default())
                .expect("serve");
        let addr = server.local_addr();
        let slow = tokio::spawn(request(addr, get_request("/work/200")));
        wait_until("1 request in flight", || server.in_flight() == 1).await;
        stop.cancel();
        let answer = slow.await.expect("task").expect("answer");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("connection").as_deref(), Some("close"));
        tokio::time::timeout(Duration::from_secs(5), server.stopped())
            .await
            .expect("stops");
    });
}

/// With a drain linger, the listener stays open after the drain started although nothing is
/// in flight: a client that connects within it gets the drain's 503 (which a router retries
/// elsewhere), not a refused or reset connection. Without one, the listener closes at once.
#[test]
fn the_drain_linger_keeps_the_listener_answering_503() {
    let runtime = runtime();
    runtime.primary().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let stop = tokio_util::sync::CancellationToken::new();
        let options = ServeOptions::default().with_drain_linger(Duration::from_millis(400));
        let server =
            rt_http::serve_until(stop.clone(), listener, router(), options).expect("serve");
        let addr = server.local_addr();
        stop.cancel();
        wait_until("the drain to start", || server.is_draining()).await;
        // Nothing in flight, yet the listener is still open within the linger.
        let answer = request(addr, get_request("/work/0"))
            .await
            .expect("an answer within the linger");
        assert_eq!(answer.status, 503);
        assert_eq!(answer.header("connection").as_deref(), Some("close"));
        assert!(!server.is_stopped(), "stopped before the linger ended");
        tokio::time::timeout(Duration::from_secs(5), server.stopped())
            .await
            .expect("stops after the linger");
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the listener is closed after the linger"
        );
    });
}

/// Connections the kernel completed before the listener closed, which the accept loop never
/// took (the server task is not polled between the connects and the stop), are answered 503
/// rather than reset: a router cannot tell a reset from a crash, so it would report the
/// request as failed instead of sending it elsewhere.
#[test]
fn connections_left_in_the_accept_queue_get_the_503() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let stop = tokio_util::sync::CancellationToken::new();
        // No linger: the listener closes as soon as the drain starts.
        let server =
            rt_http::serve_until(stop.clone(), listener, router(), ServeOptions::default())
                .expect("serve");
        let addr = server.local_addr();
        // Blocking connects and writes: this task does not yield, so the server's task (on
        // this single-threaded runtime) has not run and the connections sit in the queue.
        let queued: Vec<std::net::TcpStream> = (0..3)
            .map(|_| {
                let mut stream = std::net::TcpStream::connect(addr).expect("connect");
                std::io::Write::write_all(&mut stream, get_request("/health").as_bytes())
                    .expect("send");
                stream
            })
            .collect();
        stop.cancel();
        for stream in queued {
            stream.set_nonblocking(true).expect("nonblocking");
            let mut stream = TcpStream::from_std(stream).expect("tokio stream");
            let answer = common::read_answer(&mut stream)
                .await
                .expect("an answer, not a reset");
            assert_eq!(answer.status, 503, "{answer:?}");
        }
        tokio::time::timeout(Duration::from_secs(15), server.stopped())
            .await
            .expect("the server stops");
        let metrics = server.metrics();
        assert_eq!(metrics.connections_accepted, 3);
        assert_eq!(metrics.requests_admitted, 0);
    });
}

/// A kept-alive connection waiting for its next request when the listener closes is closed
/// then, not at the end of the shutdown grace: a router's pooled connections must not hold a
/// drained worker for the grace.
#[test]
fn kept_alive_idle_connections_close_with_the_listener() {
    let runtime = runtime();
    let rt = runtime.clone();
    runtime.primary().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let options = ServeOptions::default().with_shutdown_grace(Duration::from_secs(30));
        let server = rt_http::serve(&rt, "work", listener, router(), options).expect("serve");
        let mut idle = TcpStream::connect(server.local_addr())
            .await
            .expect("connect");
        idle.write_all(b"GET /health HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .expect("send");
        let answer = common::read_answer(&mut idle).await.expect("an answer");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("connection"), None, "kept alive: {answer:?}");
        let started = std::time::Instant::now();
        let report = tokio::time::timeout(Duration::from_secs(10), rt.shutdown_and_wait(None))
            .await
            .expect("the shutdown ends well within the 30 s grace");
        assert!(report.is_clean(), "{report}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        let mut rest = Vec::new();
        let read = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_end(&mut idle, &mut rest),
        )
        .await
        .expect("the connection was closed");
        assert!(read.is_ok() && rest.is_empty(), "{read:?} {rest:?}");
        assert!(server.is_stopped());
        assert_eq!(server.metrics().connections_closed_unanswered, 0);
    });
}
